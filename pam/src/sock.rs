//! The daemon's socket under one wall-clock deadline, written without SIGPIPE.
//!
//! Inside sshd or sudo, SIGPIPE is not ours to ignore: a write to a daemon that has closed its end
//! would kill the host. Writes go through `send(2)` with `MSG_NOSIGNAL` instead. Every read and
//! write first sets the socket timeout to what is left of the deadline, so a daemon that hangs,
//! or trickles one byte at a time, costs at most the deadline in total.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A connected stream whose every operation ends by `deadline`.
pub struct Sock {
    /// The connection to the daemon.
    stream: UnixStream,
    /// When the whole exchange must be over.
    deadline: Instant,
}

impl Sock {
    /// Wrap `stream`; everything must be done within `budget` from now.
    pub fn new(stream: UnixStream, budget: Duration) -> Sock {
        Sock {
            stream,
            deadline: Instant::now() + budget,
        }
    }

    /// Time left, or a `TimedOut` error once the deadline has passed.
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the daemon did not finish in time",
            ));
        }
        Ok(left)
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(Some(left))?;
        loop {
            // SAFETY: the descriptor is our open stream; buf is valid for buf.len() bytes for the call.
            let n = unsafe {
                libc::send(
                    self.stream.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                return usize::try_from(n).map_err(|_| io::Error::other("send returned junk"));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writing_to_a_closed_peer_is_an_error_not_a_signal() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let mut s = Sock::new(a, Duration::from_secs(5));
        let e = s.write_all(b"hello").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_silent_peer_costs_at_most_the_budget() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut s = Sock::new(a, Duration::from_millis(200));
        let start = Instant::now();
        let mut buf = [0u8; 4];
        assert!(s.read(&mut buf).is_err());
        assert!(s.read(&mut buf).is_err());
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
