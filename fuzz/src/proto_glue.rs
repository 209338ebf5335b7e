//! Per-input fuzz logic for the wire protocol, shared by the cargo-fuzz targets and
//! `proto/tests/corpus.rs` (which includes this file with `#[path]`), so a corpus file
//! replayed under `cargo test` goes through exactly the code the fuzzer ran.
//!
//! Only `std` and `duo_authd_proto` are used here, so the file compiles in both crates.

use std::fmt::Debug;
use std::io::Cursor;

use duo_authd_proto::{
    decode, encode, read_frame, ClientMsg, FrameError, LoginRequest, ServerMsg, StatusKind,
    LEN_PREFIX, MAX_FRAME,
};
use serde::{de::DeserializeOwned, Serialize};

/// Target `frame`: arbitrary bytes as a stream of frames and as one raw payload, for both directions.
pub fn fuzz_frame(data: &[u8]) {
    let mut r = Cursor::new(data);
    // Every successful read consumes at least the 4-byte prefix, so this ends.
    while let Ok(msg) = read_frame::<_, ClientMsg>(&mut r) {
        reencode_is_stable(&msg);
    }
    let mut r = Cursor::new(data);
    while let Ok(msg) = read_frame::<_, ServerMsg>(&mut r) {
        reencode_is_stable(&msg);
    }
    if let Ok(msg) = decode::<ClientMsg>(data) {
        reencode_is_stable(&msg);
    }
    if let Ok(msg) = decode::<ServerMsg>(data) {
        reencode_is_stable(&msg);
    }
}

/// A message that decoded must encode again (it cannot have grown) and decode to itself.
fn reencode_is_stable<T: Serialize + DeserializeOwned + PartialEq + Debug>(msg: &T) {
    match encode(msg) {
        Ok(frame) => {
            let back: T = match decode(&frame[LEN_PREFIX..]) {
                Ok(m) => m,
                Err(e) => panic!("re-encoded {msg:?} does not decode: {e}"),
            };
            assert_eq!(&back, msg, "decode(encode(m)) != m");
        }
        // Raw payloads may exceed the cap (only the stream reader enforces it on input).
        Err(FrameError::TooLarge { len, max }) => assert!(len > max),
        Err(e) => panic!("a decoded message failed to encode: {e}"),
    }
}

/// Turns fuzz bytes into message fields; reading past the end yields zeros, so every input maps to a message.
///
/// Format (see `fuzz/README.md`): a selector byte, then per field: `bool` = 1 byte (low bit);
/// `Option<String>` = tag byte (odd = Some) + string; string = u16 LE length, a repeat byte
/// (`1 + (rep >> 4) * 64` copies, so frames above the 16 KiB cap are reachable), then that
/// many bytes read lossily as UTF-8; `u16` = 2 bytes LE.
pub struct FieldReader<'a> {
    data: &'a [u8],
}

impl<'a> FieldReader<'a> {
    /// Start reading fields from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        FieldReader { data }
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn string(&mut self) -> String {
        let len = usize::from(self.u16());
        let times = 1 + usize::from(self.byte() >> 4) * 64;
        let len = len.min(self.data.len());
        let (s, rest) = self.data.split_at(len);
        self.data = rest;
        String::from_utf8_lossy(s).repeat(times)
    }

    fn opt_string(&mut self) -> Option<String> {
        if self.bool() {
            Some(self.string())
        } else {
            None
        }
    }
}

/// One message built by [`fuzz_messages`], client or server side.
#[derive(Debug)]
pub enum Built {
    /// A message the shim sends.
    Client(ClientMsg),
    /// A message the daemon sends.
    Server(ServerMsg),
}

/// Build a message from fuzz bytes (selector byte modulo 5: Start, Answer, Hello, Prompt, Status).
pub fn build_message(data: &[u8]) -> Built {
    let mut f = FieldReader::new(data);
    match f.byte() % 5 {
        0 => Built::Client(ClientMsg::Start(LoginRequest {
            duo_user: f.opt_string(),
            client_host: f.opt_string(),
            ssh_connection: f.opt_string(),
            command: f.opt_string(),
            interactive: f.bool(),
            env_passcode: f.opt_string(),
            service: f.opt_string(),
        })),
        1 => Built::Client(ClientMsg::Answer { text: f.string() }),
        2 => Built::Client(ClientMsg::Hello { version: f.u16() }),
        3 => Built::Server(ServerMsg::Prompt {
            text: f.string(),
            echo: f.bool(),
        }),
        _ => Built::Server(ServerMsg::Status {
            text: f.string(),
            kind: if f.bool() {
                StatusKind::MustSee
            } else {
                StatusKind::Progress
            },
        }),
    }
}

/// Target `messages`: a structured message must survive encode → read_frame, or be refused as TooLarge only when oversize.
pub fn fuzz_messages(data: &[u8]) {
    match build_message(data) {
        Built::Client(m) => round_trips(&m),
        Built::Server(m) => round_trips(&m),
    }
}

/// `encode` then `read_frame` (and `decode`) gives the message back, or `encode` says TooLarge for a payload above the cap.
fn round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(msg: &T) {
    match encode(msg) {
        Ok(frame) => {
            let payload = frame.len() - LEN_PREFIX;
            assert!(
                payload <= MAX_FRAME,
                "encode let a {payload}-byte payload through"
            );
            let mut prefix = [0u8; LEN_PREFIX];
            prefix.copy_from_slice(&frame[..LEN_PREFIX]);
            assert_eq!(
                u32::from_be_bytes(prefix) as usize,
                payload,
                "wrong length prefix"
            );
            let mut r = Cursor::new(&frame);
            match read_frame::<_, T>(&mut r) {
                Ok(back) => assert_eq!(&back, msg, "read_frame(encode(m)) != m"),
                Err(e) => panic!("an encoded frame failed to read back: {e}"),
            }
            assert!(
                matches!(read_frame::<_, T>(&mut r), Err(FrameError::Closed)),
                "bytes left after the only frame"
            );
            match decode::<T>(&frame[LEN_PREFIX..]) {
                Ok(back) => assert_eq!(&back, msg, "decode(payload) != m"),
                Err(e) => panic!("an encoded payload failed to decode: {e}"),
            }
        }
        Err(FrameError::TooLarge { len, max }) => {
            assert_eq!(max, MAX_FRAME);
            assert!(len > MAX_FRAME, "TooLarge for a {len}-byte payload");
        }
        Err(e) => panic!("encode failed with something other than TooLarge: {e}"),
    }
}
