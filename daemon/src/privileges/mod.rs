//! Giving up root after binding the socket, and keeping secrets out of core dumps.

use nix::unistd::{Gid, Uid};

#[cfg(target_os = "illumos")]
#[allow(unsafe_code)]
mod illumos;

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
}

/// Permanently become `uid`/`gid` with no supplementary groups (called before any thread is started).
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
    #[cfg(target_os = "illumos")]
    illumos::reduce().map_err(|e| PrivilegeError::Drop {
        uid,
        gid,
        what: "setppriv",
        source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EPERM)),
    })?;
    Ok(())
}

/// No core files (they would hold the skey), and on Linux no ptrace/proc access by the same uid.
pub fn disable_core_dumps() {
    if let Err(e) = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0) {
        tracing::warn!("could not disable core dumps: {e}");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!("could not clear the dumpable flag: {e}");
    }
}

/// Raise the soft open-file limit to the hard limit (every waiting login holds a socket), and
/// return the soft limit in force, so the connection caps can be sized to it.
pub fn raise_fd_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => Some(hard),
            Err(e) => {
                tracing::warn!("could not raise the open-file limit from {soft} to {hard}: {e}");
                Some(soft)
            }
        },
        Ok((soft, _)) => Some(soft),
        Err(e) => {
            tracing::warn!("could not read the open-file limit: {e}");
            None
        }
    }
}
