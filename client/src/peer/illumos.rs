//! Peer credentials on illumos and Solaris: `getpeerucred(3C)`.
//!
//! All three calls are the `libc` crate's declarations (src/unix/solarish/mod.rs), checked against
//! illumos-gate usr/src/head/ucred.h:
//! - `int getpeerucred(int, ucred_t **);` allocates the ucred_t when `*ucp` is NULL and frees it
//!   again on failure (usr/src/lib/libc/port/sys/getpeerucred.c);
//! - `uid_t ucred_geteuid(const ucred_t *);` returns `(uid_t)-1` with errno EINVAL when the
//!   credentials carry no uid (usr/src/lib/libc/port/gen/ucred.c); `uid_t` is `unsigned int`
//!   (usr/src/uts/common/sys/types.h), so that is `u32::MAX`;
//! - `void ucred_free(ucred_t *);` is free(3C) of what getpeerucred allocated.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

/// The peer's effective uid, from the ucred the kernel attached to the connection.
pub fn peer_uid(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut cred: *mut libc::ucred_t = ptr::null_mut();
    // SAFETY: fd is an open socket borrowed for the call; with a null `cred`,
    // getpeerucred allocates a ucred_t and stores its address in `cred`.
    let rc = unsafe { libc::getpeerucred(fd.as_raw_fd(), &mut cred) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if cred.is_null() {
        return Err(io::Error::other("getpeerucred returned no credentials"));
    }
    // SAFETY: cred is the valid ucred_t allocated above; it is read once and then
    // freed exactly once, and not used afterwards.
    let uid = unsafe {
        let uid = libc::ucred_geteuid(cred);
        libc::ucred_free(cred);
        uid
    };
    if uid == libc::uid_t::MAX {
        return Err(io::Error::other(
            "the peer credentials carry no effective uid",
        ));
    }
    Ok(uid)
}
