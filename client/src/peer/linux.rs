//! Peer credentials on Linux: `getsockopt(SO_PEERCRED)`.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The peer's uid as recorded by the kernel when the connection was made.
pub fn peer_uid(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let size = mem::size_of::<libc::ucred>();
    let mut len = libc::socklen_t::try_from(size)
        .map_err(|_| io::Error::other("struct ucred does not fit in socklen_t"))?;
    // SAFETY: fd is an open socket borrowed for the call; cred is a valid, writable
    // ucred of exactly `len` bytes, and len is a valid socklen_t the kernel may update.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if usize::try_from(len).ok() != Some(size) {
        return Err(io::Error::other("SO_PEERCRED returned a short answer"));
    }
    Ok(cred.uid)
}
