//! Who is at the other end of the socket, and whether we trust them to decide logins.
//!
//! The platform code (one file per OS, chosen by `cfg` like tokio's `peer_cred`)
//! only answers "which uid"; the trust decision itself is a pure function here.

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

/// The uids allowed to run the daemon: root, `--daemon-user` and `duoauthd` when they exist, plus notes for `-d`.
pub fn trusted_uids(daemon_user: Option<&str>) -> (Vec<u32>, Vec<String>) {
    let mut uids = vec![0];
    let mut notes = Vec::new();
    let names = daemon_user
        .map(|n| (n, "--daemon-user"))
        .into_iter()
        .chain(std::iter::once((
            DEFAULT_DAEMON_USER,
            "the default daemon user",
        )));
    for (name, what) in names {
        match passwd::by_name(name) {
            Ok(Some(pw)) => {
                notes.push(format!("{what} {name} is uid {}", pw.uid));
                if !uids.contains(&pw.uid) {
                    uids.push(pw.uid);
                }
            }
            Ok(None) => notes.push(format!("{what} {name} does not exist")),
            Err(e) => notes.push(format!("cannot look up {what} {name}: {e}")),
        }
    }
    (uids, notes)
}

/// Decide whether a socket owned by `owner_uid`, served by `peer_uid`, may be believed.
pub fn trusted(peer_uid: u32, owner_uid: u32, trusted_set: &[u32]) -> Result<(), String> {
    if !trusted_set.contains(&owner_uid) {
        return Err(format!(
            "the socket is owned by uid {owner_uid}, which is not trusted (trusted uids: {})",
            list(trusted_set)
        ));
    }
    if !trusted_set.contains(&peer_uid) {
        return Err(format!(
            "the process serving the socket runs as uid {peer_uid}, which is not trusted (trusted uids: {})",
            list(trusted_set)
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
        assert_eq!(trusted(0, 0, &[0]), Ok(()));
        assert_eq!(trusted(998, 0, &[0, 998]), Ok(()));
        assert_eq!(trusted(998, 998, &[0, 998]), Ok(()));
        let e = trusted(0, 1001, &[0, 998]).unwrap_err();
        assert!(e.contains("owned by uid 1001"), "{e}");
        assert!(e.contains("trusted uids: 0, 998"), "{e}");
        let e = trusted(1001, 0, &[0]).unwrap_err();
        assert!(e.contains("runs as uid 1001"), "{e}");
    }

    #[test]
    fn root_is_always_trusted() {
        let (uids, notes) = trusted_uids(Some("no-such-user-duo-login-test"));
        assert_eq!(uids[0], 0);
        assert!(
            notes.iter().any(|n| n.contains("does not exist")),
            "{notes:?}"
        );
        let (uids, _) = trusted_uids(Some("root"));
        assert_eq!(uids.iter().filter(|&&u| u == 0).count(), 1);
    }

    #[test]
    fn peer_of_a_socketpair_is_ourselves() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(peer_uid(&a).unwrap(), passwd::real_uid());
    }
}
