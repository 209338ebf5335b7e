//! syslog(3) for the daemon, the shim and the PAM module.
//!
//! Every line goes through a constant `"%s"` format, so text from Duo or a user name can never be
//! read as a format string. The facility travels with each line rather than through `openlog`,
//! so a PAM module can log from inside sshd or sudo without changing the host's own ident.
//! A NUL in a line becomes a space (it would otherwise cut the line short).

use std::ffi::{CStr, CString};
use std::fmt;
use std::str::FromStr;
use std::sync::Once;

/// Where a line is filed (syslog.conf's facility); login_duo used `user`, its users asked for `authpriv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Facility {
    /// `LOG_AUTH`.
    Auth,
    /// `LOG_AUTHPRIV` (Linux and the BSDs; illumos has no such facility and files it as `auth`).
    AuthPriv,
    /// `LOG_DAEMON`.
    Daemon,
    /// `LOG_USER`, login_duo's own choice.
    User,
    /// `LOG_LOCAL0` to `LOG_LOCAL7`.
    Local(u8),
}

/// A facility name that syslog does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFacility(pub String);

impl fmt::Display for UnknownFacility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown syslog facility {:?} (use auth, authpriv, daemon, user or local0 to local7)",
            self.0
        )
    }
}

impl std::error::Error for UnknownFacility {}

impl FromStr for Facility {
    type Err = UnknownFacility;

    fn from_str(s: &str) -> Result<Facility, UnknownFacility> {
        match s.to_ascii_lowercase().as_str() {
            "auth" => Ok(Facility::Auth),
            "authpriv" => Ok(Facility::AuthPriv),
            "daemon" => Ok(Facility::Daemon),
            "user" => Ok(Facility::User),
            other => match other
                .strip_prefix("local")
                .and_then(|n| n.parse::<u8>().ok())
            {
                Some(n) if n <= 7 && other.len() == 6 => Ok(Facility::Local(n)),
                _ => Err(UnknownFacility(s.to_string())),
            },
        }
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Facility::Auth => f.write_str("auth"),
            Facility::AuthPriv => f.write_str("authpriv"),
            Facility::Daemon => f.write_str("daemon"),
            Facility::User => f.write_str("user"),
            Facility::Local(n) => write!(f, "local{n}"),
        }
    }
}

impl Facility {
    /// The libc constant (`authpriv` falls back to `auth` where the platform has no `LOG_AUTHPRIV`).
    pub fn raw(self) -> libc::c_int {
        match self {
            Facility::Auth => libc::LOG_AUTH,
            Facility::AuthPriv => authpriv(),
            Facility::Daemon => libc::LOG_DAEMON,
            Facility::User => libc::LOG_USER,
            Facility::Local(n) => match n {
                0 => libc::LOG_LOCAL0,
                1 => libc::LOG_LOCAL1,
                2 => libc::LOG_LOCAL2,
                3 => libc::LOG_LOCAL3,
                4 => libc::LOG_LOCAL4,
                5 => libc::LOG_LOCAL5,
                6 => libc::LOG_LOCAL6,
                _ => libc::LOG_LOCAL7,
            },
        }
    }
}

/// `LOG_AUTHPRIV` where it exists.
#[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
fn authpriv() -> libc::c_int {
    libc::LOG_AUTHPRIV
}

/// illumos and Solaris have no `LOG_AUTHPRIV` (<sys/syslog.h>); `LOG_AUTH` is their private auth log.
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
fn authpriv() -> libc::c_int {
    libc::LOG_AUTH
}

/// How urgent a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// `LOG_ERR`: something is broken or under attack.
    Err,
    /// `LOG_WARNING`: a refusal or an unusual decision.
    Warning,
    /// `LOG_NOTICE`: worth noticing, not a problem.
    Notice,
    /// `LOG_INFO`: a normal event, such as a successful login.
    Info,
    /// `LOG_DEBUG`.
    Debug,
}

impl Priority {
    /// The libc constant.
    pub fn raw(self) -> libc::c_int {
        match self {
            Priority::Err => libc::LOG_ERR,
            Priority::Warning => libc::LOG_WARNING,
            Priority::Notice => libc::LOG_NOTICE,
            Priority::Info => libc::LOG_INFO,
            Priority::Debug => libc::LOG_DEBUG,
        }
    }
}

/// `openlog` runs at most once per process.
static OPEN: Once = Once::new();

/// Name this program in its syslog lines, with its pid (a program of our own, never a PAM host).
pub fn open(ident: &'static CStr) {
    OPEN.call_once(|| {
        // SAFETY: `ident` is a NUL-terminated 'static string, so the pointer openlog keeps stays
        // valid for the life of the process; the other arguments are plain integers.
        #[allow(unsafe_code)]
        unsafe {
            libc::openlog(
                ident.as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY,
                libc::LOG_AUTH,
            )
        };
    });
}

/// The only format ever passed to `syslog(3)`.
const FORMAT: &CStr = c"%s";

/// Send one line.
pub fn send(facility: Facility, priority: Priority, line: &str) {
    let Ok(msg) = CString::new(line.replace('\0', " ")) else {
        return;
    };
    // SAFETY: FORMAT and msg are valid NUL-terminated C strings that outlive the call; the format
    // is the constant "%s" with exactly one matching char* argument, so nothing in the message is
    // interpreted. syslog(3) is thread-safe (it serialises internally).
    #[allow(unsafe_code)]
    unsafe {
        libc::syslog(
            facility.raw() | priority.raw(),
            FORMAT.as_ptr(),
            msg.as_ptr(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_names() {
        assert_eq!("authpriv".parse(), Ok(Facility::AuthPriv));
        assert_eq!("AUTH".parse(), Ok(Facility::Auth));
        assert_eq!("local7".parse(), Ok(Facility::Local(7)));
        for bad in ["local8", "local", "local07", "kern", ""] {
            assert!(bad.parse::<Facility>().is_err(), "{bad}");
        }
        assert_eq!(Facility::Local(3).to_string(), "local3");
        assert_ne!(Facility::Local(3).raw(), Facility::Local(4).raw());
    }

    #[test]
    fn format_characters_are_inert() {
        // What reaches syslogd is not observable here; the call itself must not misbehave.
        send(
            Facility::User,
            Priority::Debug,
            "duo-authd-syslog unit test: %s %n %x and a NUL \0 here",
        );
    }
}
