//! Local account lookups (NSS): who the peer uid is, and which groups it belongs to.

use std::ffi::CString;

use nix::unistd::{Gid, Group, Uid, User};

// getgrouplist(3) through libc: nix has none on illumos.
#[allow(unsafe_code)]
mod grouplist;

/// What the daemon needs to know about the local account behind a socket peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Numeric uid.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// The GECOS field, for `send_gecos`.
    pub gecos: String,
}

/// Why a lookup failed; a failed lookup denies the login.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No passwd entry for the uid.
    #[error("no passwd entry for uid {0}")]
    NoSuchUid(u32),
    /// NSS failed.
    #[error("looking up uid {uid}: {source}")]
    Nss {
        /// The uid looked up.
        uid: u32,
        /// The error from the name service.
        #[source]
        source: nix::Error,
    },
    /// The group list of a user could not be read.
    #[error("reading the groups of '{user}': {source}")]
    Groups {
        /// The user.
        user: String,
        /// The error from the name service.
        #[source]
        source: std::io::Error,
    },
}

/// Look up a uid in the passwd database (blocking: call from `spawn_blocking`).
pub fn account_by_uid(uid: u32) -> Result<Account, LookupError> {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => Ok(Account {
            name: u.name,
            uid,
            gid: u.gid.as_raw(),
            gecos: u.gecos.to_string_lossy().into_owned(),
        }),
        Ok(None) => Err(LookupError::NoSuchUid(uid)),
        Err(source) => Err(LookupError::Nss { uid, source }),
    }
}

/// Look up a user by name (blocking), for the daemon's own `[authd] user`.
pub fn uid_gid_by_name(name: &str) -> Result<Option<(u32, u32)>, nix::Error> {
    Ok(User::from_name(name)?.map(|u| (u.uid.as_raw(), u.gid.as_raw())))
}

/// Names of the primary and supplementary groups of an account (blocking).
pub fn group_names(acct: &Account) -> Result<Vec<String>, LookupError> {
    let err = |source| LookupError::Groups {
        user: acct.name.clone(),
        source,
    };
    let cname = CString::new(acct.name.as_bytes())
        .map_err(|_| err(std::io::Error::other("the name contains a NUL byte")))?;
    let gids = grouplist::grouplist(&cname, acct.gid).map_err(err)?;
    let mut names = Vec::with_capacity(gids.len());
    for gid in gids {
        if let Some(g) = Group::from_gid(Gid::from_raw(gid)).map_err(|e| err(e.into()))? {
            if !names.contains(&g.name) {
                names.push(g.name);
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_groups_include_its_primary_group() {
        let root = account_by_uid(0).unwrap();
        let names = group_names(&root).unwrap();
        let primary = Group::from_gid(Gid::from_raw(root.gid)).unwrap().unwrap();
        assert!(names.contains(&primary.name), "{names:?}");
    }

    #[test]
    fn a_name_with_a_nul_is_refused_with_its_reason() {
        let acct = Account {
            name: "a\0b".into(),
            uid: 4242,
            gid: 4242,
            gecos: String::new(),
        };
        let e = group_names(&acct).unwrap_err().to_string();
        assert!(e.contains("NUL byte"), "{e}");
    }
}
