//! getgrouplist(3) through the `libc` crate, which declares it for Linux and illumos alike
//! (nix 0.29 has no `unistd::getgrouplist` on illumos).
//!
//! The two libcs agree on the shape: the caller passes the capacity in `*ngroups`; on success the
//! call returns the number of groups and stores it in `*ngroups`; when the buffer is too small it
//! returns -1 and stores the number needed in `*ngroups` (glibc; illumos also sets errno ERANGE,
//! usr/src/man/man3c/getgrouplist.3c). illumos can also fail with ENOMEM or EINVAL, leaving
//! `*ngroups` alone. So: grow while the call asks for more room, otherwise report errno.

use std::ffi::CStr;
use std::io;

/// Groups to ask for first: enough for nearly every account.
const FIRST_TRY: usize = 64;
/// Give up past this many: Linux's NGROUPS_MAX is 65536, illumos' NGROUPS_UMAX 1024.
const MOST: usize = 65536;

/// The gids of `user`'s groups, starting with `base` (the primary gid), as the group database says.
pub(super) fn grouplist(user: &CStr, base: libc::gid_t) -> io::Result<Vec<libc::gid_t>> {
    grouplist_from(user, base, FIRST_TRY)
}

/// As [`grouplist`], with the first buffer holding `first` gids (small in tests, to make it grow).
fn grouplist_from(user: &CStr, base: libc::gid_t, first: usize) -> io::Result<Vec<libc::gid_t>> {
    let mut cap = first.clamp(1, MOST);
    loop {
        let mut gids: Vec<libc::gid_t> = vec![0; cap];
        let mut n = libc::c_int::try_from(cap).map_err(io::Error::other)?;
        // SAFETY: `user` is NUL-terminated and outlives the call; `gids` has room for exactly `n`
        // gids, which is what getgrouplist may write; `n` is a valid, writable int.
        let rc = unsafe { libc::getgrouplist(user.as_ptr(), base, gids.as_mut_ptr(), &mut n) };
        let reported = usize::try_from(n).unwrap_or(0);
        if rc >= 0 {
            gids.truncate(reported.min(cap));
            return Ok(gids);
        }
        let err = io::Error::last_os_error();
        if reported > cap {
            // Too small, and the call said how much room it needs.
            if reported > MOST {
                return Err(too_many());
            }
            cap = reported;
            continue;
        }
        match err.raw_os_error() {
            Some(e) if e != 0 && e != libc::ERANGE => return Err(err),
            _ if cap >= MOST => return Err(too_many()),
            // Too small, but no size given back: double.
            _ => cap = (cap * 2).min(MOST),
        }
    }
}

/// The error for an absurd group count.
fn too_many() -> io::Error {
    io::Error::other(format!("more than {MOST} groups in the group database"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line of /etc/group with at least one member, as (member, gid).
    fn some_member() -> Option<(String, libc::gid_t)> {
        let text = std::fs::read_to_string("/etc/group").ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let member = f.get(3)?.split(',').find(|m| !m.is_empty())?;
            Some((member.to_string(), f.get(2)?.parse().ok()?))
        })
    }

    #[test]
    fn the_base_group_comes_first() {
        let gids = grouplist(c"no-such-user-duo-authd-test", 4242).unwrap();
        assert_eq!(gids, vec![4242]);
    }

    #[test]
    fn a_small_buffer_grows() {
        let Some((member, gid)) = some_member() else {
            eprintln!("skipped: no group in /etc/group lists a member");
            return;
        };
        let name = std::ffi::CString::new(member.clone()).unwrap();
        let base = 4_000_000_001;
        let gids = grouplist_from(&name, base, 1).unwrap();
        assert!(gids.contains(&base), "{gids:?} lacks the base gid");
        assert!(gids.contains(&gid), "{member}: {gids:?} lacks {gid}");
        assert_eq!(gids, grouplist(&name, base).unwrap());
    }
}
