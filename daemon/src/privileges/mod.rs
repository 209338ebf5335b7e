//! Giving up root after binding the socket, keeping secrets out of core dumps, and the open-file limit.
//!
//! Platform code lives in sibling files: `rlimit.rs` (getrlimit/setrlimit through `libc`, the same on
//! Linux and illumos) and `illumos.rs` (shrinking the privilege sets after the uid switch).

use nix::unistd::{Gid, Uid};

// Solaris has the same privilege interface (it began there), so it takes the same path.
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
#[allow(unsafe_code)]
mod illumos;
#[allow(unsafe_code)]
mod rlimit;

#[cfg(any(target_os = "illumos", target_os = "solaris"))]
pub use illumos::ReduceError;

use rlimit::Limit;

/// Why privileges could not be dropped; the daemon exits rather than run as root by accident.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// A set*id call failed.
    #[error("dropping privileges to uid {uid} gid {gid}: {what} failed: {source}")]
    Drop {
        /// Target uid.
        uid: u32,
        /// Target gid.
        gid: u32,
        /// Which call.
        what: &'static str,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// We could get root back, so the drop did not take.
    #[error("privileges were not dropped: root can still be regained")]
    NotPermanent,
    /// illumos: the uid changed but the privilege sets SMF granted could not be reduced.
    #[cfg(any(target_os = "illumos", target_os = "solaris"))]
    #[error("dropping privileges to uid {uid}: reducing the privilege sets failed: {source}")]
    Reduce {
        /// Target uid.
        uid: u32,
        /// Why.
        #[source]
        source: ReduceError,
    },
}

/// Permanently become `uid`/`gid` with no supplementary groups (called before any thread is started).
///
/// On illumos (and Solaris) this also takes every privilege the daemon does not use out of its permitted,
/// inheritable and limit sets: a privilege-aware process (as SMF starts it) keeps them across setuid.
pub fn drop_to(uid: u32, gid: u32) -> Result<(), PrivilegeError> {
    let fail = |what| {
        move |source| PrivilegeError::Drop {
            uid,
            gid,
            what,
            source,
        }
    };
    let g = Gid::from_raw(gid);
    #[cfg(not(target_vendor = "apple"))]
    nix::unistd::setgroups(&[g]).map_err(fail("setgroups"))?;
    nix::unistd::setgid(g).map_err(fail("setgid"))?;
    nix::unistd::setuid(Uid::from_raw(uid)).map_err(fail("setuid"))?;
    if uid != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::NotPermanent);
    }
    #[cfg(any(target_os = "illumos", target_os = "solaris"))]
    illumos::reduce().map_err(|source| PrivilegeError::Reduce { uid, source })?;
    Ok(())
}

/// No core files (they would hold the skey), and on Linux no ptrace/proc access by the same uid.
pub fn disable_core_dumps() {
    if let Err(e) = rlimit::set(Limit::Core, 0, 0) {
        tracing::warn!("could not disable core dumps: {e}");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("could not clear the dumpable flag: {e}");
    }
}

/// Raise the soft open-file limit to the hard limit (every waiting login holds a socket), and
/// return the soft limit in force afterwards, for sizing connection caps; `None` if it cannot be
/// read. An unlimited soft limit is returned as `u64::MAX`.
pub fn raise_fd_limit() -> Option<u64> {
    match rlimit::get(Limit::OpenFiles) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = rlimit::set(Limit::OpenFiles, hard, hard) {
                tracing::warn!(
                    "could not raise the open-file limit from {} to {}: {e}",
                    shown(soft),
                    shown(hard)
                );
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not read the open-file limit: {e}"),
    }
    match rlimit::get(Limit::OpenFiles) {
        Ok((soft, _)) => Some(rlimit::to_u64(soft)),
        Err(e) => {
            tracing::warn!("could not read the open-file limit: {e}");
            None
        }
    }
}

/// A limit for a log line: "unlimited" rather than RLIM_INFINITY's number.
fn shown(v: libc::rlim_t) -> String {
    match rlimit::to_u64(v) {
        u64::MAX => "unlimited".to_string(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = rlimit::get(Limit::OpenFiles).unwrap();
        let now = raise_fd_limit().expect("RLIMIT_NOFILE is readable");
        assert_eq!(now, rlimit::to_u64(hard));
        // Idempotent: a second call finds nothing to raise.
        assert_eq!(raise_fd_limit(), Some(now));
    }

    #[test]
    fn core_dumps_are_disabled() {
        disable_core_dumps();
        assert_eq!(rlimit::get(Limit::Core).unwrap(), (0, 0));
    }

    #[test]
    fn unlimited_is_shown_as_a_word() {
        assert_eq!(shown(libc::RLIM_INFINITY), "unlimited");
        assert_eq!(shown(1024), "1024");
    }
}
