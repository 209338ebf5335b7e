//! The user's terminal: echo off for passcodes (restored even on Ctrl-C), and reading one answer line
//! while watching the daemon's socket.

use std::fs::File;
use std::io::{self, Read};
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The terminal settings from before the first echo-off, for the signal handler.
static SAVED: OnceLock<libc::termios> = OnceLock::new();
/// The descriptor whose echo is off, for the signal handler.
static SAVED_FD: AtomicI32 = AtomicI32::new(-1);
/// True while echo is off and the handler must restore it.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Signals that would otherwise leave the terminal without echo.
const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Echo turned off on a terminal until this guard is dropped (or a signal ends the process).
pub struct EchoOff {
    /// The terminal.
    fd: RawFd,
    /// Its settings before we changed them.
    saved: libc::termios,
    /// Signal dispositions to put back on drop; `None` where we left the signal alone.
    old_actions: [Option<libc::sigaction>; 3],
}

impl EchoOff {
    /// Clear `ECHO` (keeping `ICANON` and `ISIG`) on `fd`; fails when `fd` is not a terminal.
    pub fn new(fd: BorrowedFd<'_>) -> io::Result<EchoOff> {
        let fd = fd.as_raw_fd();
        // SAFETY: termios is plain data; all-zero is a valid value that tcgetattr overwrites.
        let mut saved: libc::termios = unsafe { mem::zeroed() };
        // SAFETY: fd is a borrowed open descriptor; saved is a valid, writable termios.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let _ = SAVED.set(saved);
        SAVED_FD.store(fd, Ordering::SeqCst);
        let mut old_actions = [None; 3];
        for (slot, &sig) in old_actions.iter_mut().zip(SIGNALS.iter()) {
            *slot = install(sig);
        }
        ACTIVE.store(true, Ordering::SeqCst);
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: fd is an open terminal (tcgetattr succeeded); quiet is a valid termios.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) } != 0 {
            let err = io::Error::last_os_error();
            let guard = EchoOff {
                fd,
                saved,
                old_actions,
            };
            drop(guard);
            return Err(err);
        }
        Ok(EchoOff {
            fd,
            saved,
            old_actions,
        })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: self.saved came from tcgetattr on self.fd, which the caller keeps open.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
        ACTIVE.store(false, Ordering::SeqCst);
        for (old, &sig) in self.old_actions.iter().zip(SIGNALS.iter()) {
            if let Some(old) = old {
                // SAFETY: old is the sigaction the kernel gave us for sig; restoring it is always valid.
                unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
            }
        }
    }
}

/// Install the restoring handler for `sig` unless the signal is ignored; returns the previous action.
fn install(sig: libc::c_int) -> Option<libc::sigaction> {
    // SAFETY: sigaction is plain data; all-zero is valid and filled in below / by the kernel.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: querying the current action with a null new action changes nothing.
    if unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } != 0 {
        return None;
    }
    if old.sa_sigaction == libc::SIG_IGN {
        return None;
    }
    // SAFETY: as above.
    let mut act: libc::sigaction = unsafe { mem::zeroed() };
    act.sa_sigaction = restore_and_reraise as extern "C" fn(libc::c_int) as libc::sighandler_t;
    act.sa_flags = 0;
    // SAFETY: act.sa_mask is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut act.sa_mask) };
    // SAFETY: act is fully initialised; its handler only calls async-signal-safe functions.
    if unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) } != 0 {
        return None;
    }
    Some(old)
}

/// Signal handler: put the terminal back, then die of the same signal.
extern "C" fn restore_and_reraise(sig: libc::c_int) {
    if ACTIVE.load(Ordering::SeqCst) {
        if let Some(saved) = SAVED.get() {
            // SAFETY: tcsetattr and write are async-signal-safe; saved is a valid termios
            // for the descriptor in SAVED_FD, and the newline buffer is a static literal.
            unsafe {
                libc::tcsetattr(SAVED_FD.load(Ordering::SeqCst), libc::TCSANOW, saved);
                libc::write(2, b"\n".as_ptr().cast(), 1);
            }
        }
    }
    // SAFETY: signal and raise are async-signal-safe. The raised signal stays blocked
    // until this handler returns, then the default action ends the process.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// How reading an answer ended.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A line, without its `\n` / `\r\n`.
    Line(String),
    /// End of input before anything was typed.
    Eof,
    /// The daemon's socket became readable (it decided or gave up): stop reading.
    PeerReady,
    /// Nobody typed anything before the deadline.
    TimedOut,
}

/// Read one line of at most `max` bytes from `input` (longer lines are cut), unless `peer` becomes readable first.
pub fn read_line(
    input: BorrowedFd<'_>,
    peer: BorrowedFd<'_>,
    max: usize,
    timeout: Duration,
) -> io::Result<LineRead> {
    // An unbuffered handle on a duplicate of the descriptor, so no byte is read ahead.
    let mut file = File::from(input.try_clone_to_owned()?);
    let deadline = Instant::now() + timeout;
    let mut line: Vec<u8> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(LineRead::TimedOut);
        }
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut fds = [
            libc::pollfd {
                fd: input.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: peer.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfd that outlives the call; nfds matches it.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            return Ok(LineRead::PeerReady);
        }
        if fds[0].revents == 0 {
            continue;
        }
        // One byte at a time: the rest of the input stays for whoever reads next.
        let mut byte = [0u8; 1];
        match file.read(&mut byte) {
            Ok(0) if line.is_empty() => return Ok(LineRead::Eof),
            Ok(0) => return Ok(LineRead::Line(finish(line))),
            Ok(_) if byte[0] == b'\n' => return Ok(LineRead::Line(finish(line))),
            Ok(_) => {
                if line.len() < max {
                    line.push(byte[0]);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Drop a trailing `\r` and decode.
fn finish(mut line: Vec<u8>) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8_lossy(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn reads_one_line_and_leaves_the_rest() {
        let (inp, mut typist) = UnixStream::pair().unwrap();
        let (peer, _daemon) = UnixStream::pair().unwrap();
        typist.write_all(b"123456\r\nnext\n").unwrap();
        let got = read_line(inp.as_fd(), peer.as_fd(), 256, T).unwrap();
        assert_eq!(got, LineRead::Line("123456".into()));
        let got = read_line(inp.as_fd(), peer.as_fd(), 256, T).unwrap();
        assert_eq!(got, LineRead::Line("next".into()));
    }

    #[test]
    fn long_lines_are_cut() {
        let (inp, mut typist) = UnixStream::pair().unwrap();
        let (peer, _daemon) = UnixStream::pair().unwrap();
        typist.write_all(&[b'x'; 300]).unwrap();
        typist.write_all(b"\n").unwrap();
        let got = read_line(inp.as_fd(), peer.as_fd(), 256, T).unwrap();
        assert_eq!(got, LineRead::Line("x".repeat(256)));
    }

    #[test]
    fn eof_peer_and_timeout() {
        let (inp, typist) = UnixStream::pair().unwrap();
        let (peer, mut daemon) = UnixStream::pair().unwrap();
        drop(typist);
        assert_eq!(
            read_line(inp.as_fd(), peer.as_fd(), 256, T).unwrap(),
            LineRead::Eof
        );

        let (inp, _typist) = UnixStream::pair().unwrap();
        daemon.write_all(b"x").unwrap();
        assert_eq!(
            read_line(inp.as_fd(), peer.as_fd(), 256, T).unwrap(),
            LineRead::PeerReady
        );

        let (peer, _daemon) = UnixStream::pair().unwrap();
        assert_eq!(
            read_line(inp.as_fd(), peer.as_fd(), 256, Duration::from_millis(50)).unwrap(),
            LineRead::TimedOut
        );
    }

    #[test]
    fn echo_off_needs_a_terminal() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(EchoOff::new(a.as_fd()).is_err());
        assert!(!ACTIVE.load(Ordering::SeqCst));
    }
}
