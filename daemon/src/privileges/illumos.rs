//! illumos: after the uid switch, shrink the privilege sets to `basic` minus what the daemon never needs.
//!
//! A process that is not privilege-aware keeps the privileges it inherited across `setuid`
//! (privileges(7)); without this the daemon would still hold `proc_setid` from its SMF method.

use std::ffi::{c_char, c_int, c_void, CString};

extern "C" {
    fn priv_str_to_set(
        buf: *const c_char,
        sep: *const c_char,
        endptr: *mut *const c_char,
    ) -> *mut c_void;
    fn setppriv(op: c_int, which: *const c_char, set: *const c_void) -> c_int;
    fn priv_freeset(set: *mut c_void);
}

/// `PRIV_SET` from <sys/priv.h>.
const PRIV_SET: c_int = 2;

/// The set the daemon keeps: enough to accept, read its config and talk HTTPS.
const KEEP: &str = "basic,!proc_info,!proc_session,!file_link_any,!proc_exec,!proc_fork";

/// Reduce the permitted, inheritable and limit sets (effective follows permitted).
pub fn reduce() -> std::io::Result<()> {
    let spec = CString::new(KEEP).map_err(std::io::Error::other)?;
    let sep = CString::new(",").map_err(std::io::Error::other)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; a null endptr is allowed.
    let set = unsafe { priv_str_to_set(spec.as_ptr(), sep.as_ptr(), std::ptr::null_mut()) };
    if set.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    let mut result = Ok(());
    for which in ["Inheritable", "Permitted", "Limit"] {
        let which = CString::new(which).map_err(std::io::Error::other)?;
        // SAFETY: `set` is a valid priv_set_t from priv_str_to_set; `which` is NUL-terminated.
        if unsafe { setppriv(PRIV_SET, which.as_ptr(), set) } != 0 {
            result = Err(std::io::Error::last_os_error());
            break;
        }
    }
    // SAFETY: `set` came from priv_str_to_set and is freed exactly once.
    unsafe { priv_freeset(set) };
    result
}
