//! A small safe wrapper over the re-entrant passwd lookups, for the user's shell, the PAM user and the daemon's uid.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::ptr;

/// The few passwd fields the clients need, copied out of libc's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    /// Login name (lossily decoded; only used for messages).
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Home directory.
    pub dir: PathBuf,
    /// Login shell; empty when the entry has none.
    pub shell: PathBuf,
}

/// Biggest buffer we grow to on `ERANGE` before giving up (1 MiB is far beyond any real entry).
const MAX_BUF: usize = 1 << 20;

/// The real uid of this process: the logging-in user for the shim (never setuid); for su, the caller.
pub fn real_uid() -> u32 {
    // SAFETY: getuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::getuid() }
}

/// Look up a user by uid; `Ok(None)` when there is no such entry.
pub fn by_uid(uid: u32) -> io::Result<Option<Passwd>> {
    lookup(|pw, buf, len, result| {
        // SAFETY: pw, buf (of len bytes) and result are valid for writes for the whole call.
        unsafe { libc::getpwuid_r(uid, pw, buf, len, result) }
    })
}

/// Look up a user by name; `Ok(None)` when there is no such entry.
pub fn by_name(name: &str) -> io::Result<Option<Passwd>> {
    let Ok(cname) = CString::new(name) else {
        return Ok(None);
    };
    lookup(|pw, buf, len, result| {
        // SAFETY: cname is NUL-terminated and outlives the call; pw, buf (of len bytes)
        // and result are valid for writes for the whole call.
        unsafe { libc::getpwnam_r(cname.as_ptr(), pw, buf, len, result) }
    })
}

/// Run one `getpw*_r` call with a growing buffer and copy the answer out.
fn lookup<F>(mut call: F) -> io::Result<Option<Passwd>>
where
    F: FnMut(*mut libc::passwd, *mut c_char, usize, *mut *mut libc::passwd) -> libc::c_int,
{
    let mut size = 1024;
    loop {
        let mut buf: Vec<c_char> = vec![0; size];
        // SAFETY: libc::passwd is plain data (integers and pointers); all-zero is a valid value.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = ptr::null_mut();
        let rc = call(&mut pw, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE && size < MAX_BUF {
            size *= 2;
            continue;
        }
        if rc == libc::ENOENT || rc == libc::ESRCH {
            return Ok(None);
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: on success the string fields of pw are NUL-terminated C strings
        // (or null) pointing into buf, which is still alive here.
        let copy = unsafe {
            Passwd {
                name: String::from_utf8_lossy(cstr_bytes(pw.pw_name)).into_owned(),
                uid: pw.pw_uid,
                dir: PathBuf::from(OsStr::from_bytes(cstr_bytes(pw.pw_dir))),
                shell: PathBuf::from(OsStr::from_bytes(cstr_bytes(pw.pw_shell))),
            }
        };
        return Ok(Some(copy));
    }
}

/// The bytes of a C string, or nothing for a null pointer.
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string that outlives the returned slice.
unsafe fn cstr_bytes<'a>(p: *const c_char) -> &'a [u8] {
    if p.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { CStr::from_ptr(p) }.to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero() {
        let by_id = by_uid(0).unwrap().expect("uid 0 exists");
        assert_eq!(by_id.uid, 0);
        let by_nm = by_name(&by_id.name).unwrap().expect("root by name");
        assert_eq!(by_nm.uid, 0);
    }

    #[test]
    fn unknown_users_are_none() {
        assert_eq!(by_name("no-such-user-duo-login-test").unwrap(), None);
        assert_eq!(by_name("nul\0inside").unwrap(), None);
        assert_eq!(by_uid(4_000_000_123).unwrap(), None);
    }
}
