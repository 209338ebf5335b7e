//! getrlimit/setrlimit through the `libc` crate, which declares them for Linux and illumos alike
//! (nix 0.29 has no `sys::resource` on illumos).

use std::io;

/// The integer type of a resource number: glibc declares `__rlimit_resource_t` (unsigned int),
/// musl and illumos a plain `int` (illumos: `getrlimit(int, struct rlimit *)` in <sys/resource.h>).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
/// The integer type of a resource number (see above).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

/// The limits the daemon touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    /// RLIMIT_CORE: the largest core file; 0 keeps the skey out of core files.
    Core,
    /// RLIMIT_NOFILE: open descriptors; every waiting login holds a socket.
    OpenFiles,
}

impl Limit {
    /// The libc constant for this limit.
    fn raw(self) -> Resource {
        match self {
            Limit::Core => libc::RLIMIT_CORE,
            Limit::OpenFiles => libc::RLIMIT_NOFILE,
        }
    }
}

/// A limit value as a u64, with RLIM_INFINITY (u64::MAX on Linux, 2^64-3 on illumos) as u64::MAX.
pub(super) fn to_u64(v: libc::rlim_t) -> u64 {
    if v == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        // rlim_t is u64 on every 64-bit target we build for; `from` keeps 32-bit ones compiling.
        #[allow(clippy::useless_conversion)]
        u64::from(v)
    }
}

/// The (soft, hard) pair of `which`, in the platform's own units.
pub(super) fn get(which: Limit) -> io::Result<(libc::rlim_t, libc::rlim_t)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable struct rlimit that outlives the call; the resource
    // number is one of libc's RLIMIT_* constants for this platform.
    if unsafe { libc::getrlimit(which.raw(), &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// Set the (soft, hard) pair of `which`; lowering needs no privilege, raising the hard limit does.
pub(super) fn set(which: Limit, soft: libc::rlim_t, hard: libc::rlim_t) -> io::Result<()> {
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `r` is a valid struct rlimit that outlives the call; setrlimit only reads it.
    if unsafe { libc::setrlimit(which.raw(), &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_never_exceeds_hard() {
        for which in [Limit::Core, Limit::OpenFiles] {
            let (soft, hard) = get(which).unwrap();
            assert!(to_u64(soft) <= to_u64(hard), "{which:?}: {soft} > {hard}");
        }
    }

    #[test]
    fn infinity_reads_as_u64_max() {
        assert_eq!(to_u64(libc::RLIM_INFINITY), u64::MAX);
        assert_eq!(to_u64(0), 0);
    }
}
