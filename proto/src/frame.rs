//! Length-prefixed framing over blocking std I/O, with the size cap enforced before allocation.

use std::io::{self, Read, Write};

use serde::{de::DeserializeOwned, Serialize};

/// Largest payload either side accepts: big enough for any prompt or health report, small enough to bound memory per client.
pub const MAX_FRAME: usize = 16 * 1024;

/// Size of the big-endian length prefix, shared with the daemon's codec configuration.
pub const LEN_PREFIX: usize = 4;

/// Why a frame could not be read or written; each maps to "close this connection".
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame above the cap; nothing was allocated for it.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Announced payload length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The peer closed the connection cleanly between frames.
    #[error("connection closed")]
    Closed,
    /// The connection ended inside a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// The payload is not a valid message of the expected type.
    #[error("malformed message: {0}")]
    Malformed(#[from] postcard::Error),
    /// The socket failed (timeout, reset, ...).
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// Serialise `msg` into one complete frame (prefix + payload), ready for a single write.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut buf = postcard::to_extend(msg, vec![0u8; LEN_PREFIX])?;
    let len = buf.len() - LEN_PREFIX;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    // len <= MAX_FRAME, which fits in u32.
    let prefix = u32::try_from(len).map_err(|_| FrameError::TooLarge {
        len,
        max: MAX_FRAME,
    })?;
    buf[..LEN_PREFIX].copy_from_slice(&prefix.to_be_bytes());
    Ok(buf)
}

/// Decode one payload (without its prefix); trailing bytes are an error, not ignored.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    let (msg, rest) = postcard::take_from_bytes(payload)?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ));
    }
    Ok(msg)
}

/// Write one message as a single frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    let buf = encode(msg)?;
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Read one frame and decode it, refusing oversize frames before allocating.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut prefix = [0u8; LEN_PREFIX];
    read_exact_or(r, &mut prefix, FrameError::Closed)?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    let mut payload = vec![0u8; len];
    read_exact_or(r, &mut payload, FrameError::Truncated)?;
    decode(&payload)
}

/// `read_exact`, but an EOF before the first byte is `at_start` and one later is `Truncated`.
fn read_exact_or<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    at_start: FrameError,
) -> Result<(), FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Err(at_start),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMsg, LoginRequest, ServerMsg, PROTOCOL_VERSION};
    use proptest::prelude::*;
    use std::io::Cursor;

    fn start() -> ClientMsg {
        ClientMsg::Start(LoginRequest {
            duo_user: Some("alice".into()),
            client_host: None,
            ssh_connection: Some("192.0.2.1 5555 192.0.2.2 22".into()),
            command: Some("uptime".into()),
            interactive: true,
            env_passcode: None,
            service: None,
        })
    }

    #[test]
    fn round_trip_through_a_stream() {
        let mut buf = Vec::new();
        write_frame(
            &mut buf,
            &ClientMsg::Hello {
                version: PROTOCOL_VERSION,
            },
        )
        .unwrap();
        write_frame(&mut buf, &start()).unwrap();
        let mut r = Cursor::new(buf);
        let a: ClientMsg = read_frame(&mut r).unwrap();
        let b: ClientMsg = read_frame(&mut r).unwrap();
        assert_eq!(
            a,
            ClientMsg::Hello {
                version: PROTOCOL_VERSION
            }
        );
        assert_eq!(b, start());
        assert!(matches!(
            read_frame::<_, ClientMsg>(&mut r),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn truncated_frames_are_reported() {
        let frame = encode(&start()).unwrap();
        for cut in 1..frame.len() {
            let mut r = Cursor::new(&frame[..cut]);
            assert!(
                matches!(
                    read_frame::<_, ClientMsg>(&mut r),
                    Err(FrameError::Truncated)
                ),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn oversize_prefix_is_refused_without_allocating() {
        // A 4 GiB announcement must fail on the prefix alone.
        let mut r = Cursor::new(vec![0xff, 0xff, 0xff, 0xff]);
        match read_frame::<_, ClientMsg>(&mut r) {
            Err(FrameError::TooLarge { len, max }) => {
                assert_eq!(len, u32::MAX as usize);
                assert_eq!(max, MAX_FRAME);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn oversize_message_is_refused_on_encode() {
        let msg = ServerMsg::Status {
            text: "x".repeat(MAX_FRAME + 1),
            kind: crate::StatusKind::Progress,
        };
        assert!(matches!(encode(&msg), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut frame = encode(&ClientMsg::Health).unwrap();
        frame.push(0);
        assert!(matches!(
            decode::<ClientMsg>(&frame[LEN_PREFIX..]),
            Err(FrameError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<ClientMsg>(&bytes);
            let _ = decode::<ServerMsg>(&bytes);
            let _ = read_frame::<_, ClientMsg>(&mut Cursor::new(&bytes));
        }

        #[test]
        fn any_start_round_trips(user in proptest::option::of(".{0,64}"), cmd in proptest::option::of(".{0,256}"),
                                 interactive: bool, pass in proptest::option::of("[0-9]{0,12}")) {
            let msg = ClientMsg::Start(LoginRequest {
                duo_user: user, client_host: None, ssh_connection: None,
                command: cmd, interactive, env_passcode: pass,
                service: None,
            });
            let frame = encode(&msg).unwrap();
            let back: ClientMsg = read_frame(&mut Cursor::new(frame)).unwrap();
            prop_assert_eq!(back, msg);
        }
    }
}
