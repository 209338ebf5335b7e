//! getaddrinfo(3) with `AI_CANONNAME`: the resolver's canonical name for this host, the way
//! login_duo finds the fully qualified name it sends to Duo. The same call on Linux and illumos.

use std::ffi::{CStr, CString};

/// The canonical name the resolver gives `name` (`/etc/hosts`, DNS, per nsswitch), if any.
pub(super) fn canonical_name(name: &str) -> Option<String> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: an all-zero addrinfo is a valid value (null pointers, zero numbers), used as hints.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = libc::AF_UNSPEC;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = libc::AI_CANONNAME;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c_name` is NUL-terminated and outlives the call, the service may be NULL, `hints`
    // is a valid addrinfo and `res` a valid place for the result pointer.
    let rc = unsafe { libc::getaddrinfo(c_name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        return None;
    }
    // SAFETY: on success `res` points to the list getaddrinfo allocated; the first entry's
    // `ai_canonname` is NULL or a NUL-terminated string owned by that list, copied out here
    // before the list is freed below.
    let canon = unsafe {
        let first = &*res;
        (!first.ai_canonname.is_null()).then(|| {
            CStr::from_ptr(first.ai_canonname)
                .to_string_lossy()
                .into_owned()
        })
    };
    // SAFETY: `res` came from a successful getaddrinfo and is freed exactly once, after its last use.
    unsafe { libc::freeaddrinfo(res) };
    canon.filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_has_a_canonical_name_and_nul_is_refused() {
        assert!(canonical_name("localhost").is_some_and(|c| !c.is_empty()));
        assert_eq!(canonical_name("bad\0name"), None);
        assert_eq!(canonical_name("no-such-host.invalid"), None);
    }
}
