//! Who is at the other end of the socket, and whether we trust them to decide logins.
//!
//! The platform code (one file per OS, chosen by `cfg` like tokio's `peer_cred`)
//! only answers "which uid"; the trust decision itself is a pure function here.

use std::cell::OnceCell;
use std::fmt::Write as _;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use crate::passwd;

#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
mod linux;
#[cfg(any(target_os = "linux", target_os = "android"))]
use linux as imp;

#[cfg(any(target_os = "illumos", target_os = "solaris"))]
#[allow(unsafe_code)]
mod illumos;
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
use illumos as imp;

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "solaris"
)))]
mod other;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "illumos",
    target_os = "solaris"
)))]
use other as imp;

/// The account the packages create for the daemon; trusted whenever it exists.
pub const DEFAULT_DAEMON_USER: &str = "duoauthd";

/// The effective uid of the process at the other end of a connected Unix socket, as the kernel reports it.
pub fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    imp::peer_uid(stream.as_fd())
}

/// The uids allowed to serve the socket, resolved lazily: a root-owned daemon costs no name lookups,
/// which matters because an absent `duoauthd` walks every NSS module (systemd, LDAP...) on each login.
pub struct Trust {
    /// Account names to trust besides root, in lookup order, each with how it was named.
    names: Vec<(String, &'static str)>,
    /// What each name resolved to, filled in on first need.
    resolved: Vec<OnceCell<Result<u32, String>>>,
}

impl Trust {
    /// Trust root, then `--daemon-user` (if given), then the default `duoauthd`.
    pub fn new(daemon_user: Option<&str>) -> Trust {
        Trust::named_by(daemon_user, "--daemon-user")
    }

    /// As [`Trust::new`], with `source` naming where the extra account came from in `-d` notes
    /// (`daemon_user=` for the PAM module).
    pub fn named_by(daemon_user: Option<&str>, source: &'static str) -> Trust {
        let mut names: Vec<(String, &'static str)> = daemon_user
            .map(|n| (n.to_string(), source))
            .into_iter()
            .collect();
        if daemon_user != Some(DEFAULT_DAEMON_USER) {
            names.push((DEFAULT_DAEMON_USER.to_string(), "the default daemon user"));
        }
        let resolved = names.iter().map(|_| OnceCell::new()).collect();
        Trust { names, resolved }
    }

    /// Whether `uid` may serve the socket; looks names up only until one matches.
    pub fn allows(&self, uid: u32) -> bool {
        uid == 0 || (0..self.names.len()).any(|i| self.resolve(i) == Ok(uid))
    }

    /// Every trusted uid (resolving all names), for messages.
    pub fn uids(&self) -> Vec<u32> {
        let mut uids = vec![0];
        for i in 0..self.names.len() {
            if let Ok(u) = self.resolve(i) {
                if !uids.contains(&u) {
                    uids.push(u);
                }
            }
        }
        uids
    }

    /// One line per name saying what it resolved to, for `-d`.
    pub fn notes(&self) -> Vec<String> {
        (0..self.names.len())
            .map(|i| {
                let (name, what) = &self.names[i];
                match self.resolve(i) {
                    Ok(uid) => format!("{what} {name} is uid {uid}"),
                    Err(e) => format!("{what} {name}: {e}"),
                }
            })
            .collect()
    }

    /// A trust set of root and `uid`, with no name lookups: for tests, which know the uid they trust.
    pub fn fixed(uid: u32) -> Trust {
        let t = Trust::new(Some("svc"));
        let _ = t.resolved[0].set(Ok(uid));
        let _ = t.resolved[1].set(Err("does not exist".into()));
        t
    }

    /// The uid of name `i`, looked up once.
    fn resolve(&self, i: usize) -> Result<u32, String> {
        self.resolved[i]
            .get_or_init(|| match passwd::by_name(&self.names[i].0) {
                Ok(Some(pw)) => Ok(pw.uid),
                Ok(None) => Err("does not exist".into()),
                Err(e) => Err(format!("cannot be looked up: {e}")),
            })
            .clone()
    }
}

/// Decide whether a socket owned by `owner_uid`, served by `peer_uid`, may be believed.
pub fn trusted(peer_uid: u32, owner_uid: u32, trust: &Trust) -> Result<(), String> {
    if !trust.allows(owner_uid) {
        return Err(format!(
            "the socket is owned by uid {owner_uid}, which is not trusted (trusted uids: {})",
            list(&trust.uids())
        ));
    }
    if !trust.allows(peer_uid) {
        return Err(format!(
            "the process serving the socket runs as uid {peer_uid}, which is not trusted (trusted uids: {})",
            list(&trust.uids())
        ));
    }
    Ok(())
}

/// "0, 998" for messages.
fn list(uids: &[u32]) -> String {
    let mut s = String::new();
    for (i, u) in uids.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{u}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_decision() {
        let t = Trust::fixed(998);
        assert_eq!(trusted(0, 0, &t), Ok(()));
        assert_eq!(trusted(998, 0, &t), Ok(()));
        assert_eq!(trusted(998, 998, &t), Ok(()));
        let e = trusted(0, 1001, &t).unwrap_err();
        assert!(e.contains("owned by uid 1001"), "{e}");
        assert!(e.contains("trusted uids: 0, 998"), "{e}");
        let e = trusted(1001, 0, &t).unwrap_err();
        assert!(e.contains("runs as uid 1001"), "{e}");
    }

    #[test]
    fn root_needs_no_lookup() {
        let t = Trust::new(Some("no-such-user-duo-login-test"));
        assert!(t.allows(0));
        assert!(
            t.resolved.iter().all(|c| c.get().is_none()),
            "looked up names for root"
        );
    }

    #[test]
    fn lookups_stop_at_the_first_match() {
        let t = Trust::new(Some("root"));
        // uid 0 short-circuits; ask for root's uid through the name path instead.
        assert_eq!(t.resolve(0), Ok(0));
        let t = Trust::fixed(4242);
        assert!(t.allows(4242));
        let t = Trust::new(Some("root"));
        assert!(!t.allows(4_000_000_123));
        assert!(t.resolved.iter().all(|c| c.get().is_some()));
    }

    #[test]
    fn unknown_names_are_noted() {
        let t = Trust::new(Some("no-such-user-duo-login-test"));
        let notes = t.notes();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("no-such-user-duo-login-test: does not exist")),
            "{notes:?}"
        );
        assert_eq!(t.uids()[0], 0);
        let t = Trust::new(Some(DEFAULT_DAEMON_USER));
        assert_eq!(t.names.len(), 1, "the default is not looked up twice");
    }

    #[test]
    fn peer_of_a_socketpair_is_ourselves() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), passwd::real_uid());
    }
}
