//! Platforms without a peer-credential implementation: refuse. A daemon that cannot be verified
//! is never trusted, so the login is denied whatever `--failmode` says.

use std::io;
use std::os::fd::BorrowedFd;

/// Always an error: without peer credentials the daemon cannot be trusted.
pub fn peer_uid(_fd: BorrowedFd<'_>) -> io::Result<u32> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "peer credentials are not supported on this platform",
    ))
}
