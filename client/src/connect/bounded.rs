//! `connect(2)` to a Unix socket with a time limit (std has none for Unix sockets).
//!
//! A listener whose backlog is full makes a blocking connect wait until it accepts, which for a
//! wedged daemon is forever; the PAM module must not hang sshd or sudo that way. The socket is made
//! non-blocking for the connect only: Linux answers `EAGAIN` at once while the backlog is full
//! (retried until the limit), illumos may answer `EINPROGRESS` (waited for with `poll`).

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Pause between attempts while the daemon's backlog is full.
const RETRY: Duration = Duration::from_millis(20);

/// Connect to `path`, giving up with `TimedOut` after `limit`.
pub fn connect(path: &Path, limit: Duration) -> io::Result<UnixStream> {
    let (addr, len) = sockaddr(path)?;
    let fd = socket()?;
    set_nonblocking(fd.as_raw_fd(), true)?;
    let deadline = Instant::now() + limit;
    loop {
        // SAFETY: fd is an open socket we own; addr is an initialised sockaddr_un of which the
        // first `len` bytes are meaningful, and it outlives the call.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast::<libc::sockaddr>(),
                len,
            )
        };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => {
                if Instant::now() + RETRY >= deadline {
                    return Err(timed_out(limit));
                }
                std::thread::sleep(RETRY);
            }
            Some(libc::EINPROGRESS) | Some(libc::EALREADY) => {
                wait_writable(fd.as_raw_fd(), deadline, limit)?;
                pending_error(fd.as_raw_fd())?;
                break;
            }
            _ => return Err(err),
        }
    }
    set_nonblocking(fd.as_raw_fd(), false)?;
    Ok(UnixStream::from(fd))
}

/// The error for a daemon that did not take the connection in time.
fn timed_out(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the daemon did not accept the connection within {} ms",
            limit.as_millis()
        ),
    )
}

/// A fresh close-on-exec stream socket.
fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a descriptor socket(2) just returned, owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: F_SETFD with FD_CLOEXEC on our own open descriptor.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Turn `O_NONBLOCK` on or off.
fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL on an open descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: F_SETFL with flags derived from F_GETFL on the same descriptor.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Wait until the connect in progress completes or the deadline passes.
fn wait_writable(fd: RawFd, deadline: Instant, limit: Duration) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out(limit));
        }
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: p is one valid pollfd that outlives the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n > 0 {
            return Ok(());
        }
    }
}

/// The outcome of a non-blocking connect (`SO_ERROR`).
fn pending_error(fd: RawFd) -> io::Result<()> {
    let mut err: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::other("c_int does not fit in socklen_t"))?;
    // SAFETY: err is a writable c_int of `len` bytes and len a valid socklen_t, both outliving the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    Ok(())
}

/// `path` as a `sockaddr_un` and its length; a path too long for one is an `InvalidInput` error.
fn sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: sockaddr_un is plain data; all-zero is a valid (empty) address, filled in below.
    let mut addr: libc::sockaddr_un = unsafe { mem::zeroed() };
    addr.sun_family = libc::sa_family_t::try_from(libc::AF_UNIX)
        .map_err(|_| io::Error::other("AF_UNIX does not fit in sa_family_t"))?;
    let bytes = path.as_os_str().as_bytes();
    // Room for the terminating NUL; a NUL inside would name another path.
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the socket path is too long for a Unix socket address",
        ));
    }
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let base = mem::size_of::<libc::sockaddr_un>() - addr.sun_path.len();
    let len = libc::socklen_t::try_from(base + bytes.len() + 1)
        .map_err(|_| io::Error::other("sockaddr_un length does not fit in socklen_t"))?;
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A listener with the smallest backlog the kernel allows, that never accepts.
    fn tiny_backlog(path: &Path) -> UnixListener {
        let l = UnixListener::bind(path).unwrap();
        // SAFETY: listen(2) on the listener's own open descriptor, with a plain integer backlog.
        assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 0) }, 0);
        l
    }

    #[test]
    fn a_full_backlog_times_out_instead_of_hanging() {
        let dir = std::env::temp_dir().join(format!("duo-client-backlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("busy.sock");
        let _ = std::fs::remove_file(&sock);
        let _l = tiny_backlog(&sock);
        let limit = Duration::from_millis(300);
        let mut held = Vec::new();
        let start = Instant::now();
        let err = loop {
            match connect(&sock, limit) {
                Ok(s) => held.push(s),
                Err(e) => break e,
            }
            assert!(held.len() < 64, "the backlog never filled");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn long_paths_are_refused() {
        let long = Path::new("/tmp").join("x".repeat(200));
        let e = connect(&long, Duration::from_secs(1)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
