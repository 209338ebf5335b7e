//! The module arguments of a `pam.conf` / `pam.d` line: `socket=`, `failmode=`, `debug`, `conf=`...

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// What to do when no daemon can be reached at all (the shim's `--failmode`, with its strict meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failmode {
    /// Let the login through without Duo.
    Safe,
    /// Deny it (the default): `PAM_AUTHINFO_UNAVAIL`.
    Secure,
}

/// How a status line the user must read (a Verified Duo Push code) reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MustSee {
    /// `PAM_TEXT_INFO`, like every other status line: right for sudo, su, login, whose
    /// conversation prints it at once.
    Info,
    /// A `PAM_PROMPT_ECHO_ON` whose answer is ignored: the only message sshd's
    /// keyboard-interactive sends to the client at once (it holds info lines until the next prompt).
    Prompt,
    /// `Prompt` for sshd (service `sshd` or `PAM_TTY` `ssh`), `Info` for everything else.
    Auto,
}

/// Longest socket budget accepted by `timeout=` (seconds).
pub const MAX_TIMEOUT_SECS: u64 = 600;

/// The default socket budget: the daemon's longest `login_timeout` (110 s) plus a margin.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(130);

/// Everything the module line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `socket=PATH`: the daemon's socket.
    pub socket: PathBuf,
    /// `failmode=safe|secure`.
    pub failmode: Failmode,
    /// `debug`: debug lines to syslog.
    pub debug: bool,
    /// `daemon_user=NAME`: one more account the daemon may run as (besides root and `duoauthd`).
    pub daemon_user: Option<String>,
    /// `mustsee=auto|info|prompt`.
    pub mustsee: MustSee,
    /// `timeout=SECONDS`: wall-clock bound on the whole exchange with the daemon.
    pub timeout: Duration,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            socket: PathBuf::from(duo_authd_proto::DEFAULT_SOCKET),
            failmode: Failmode::Secure,
            debug: false,
            daemon_user: None,
            mustsee: MustSee::Auto,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// An argument the module did not take, for the syslog warning; the rest of the line still applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgWarning {
    /// Not an argument this module knows.
    Unknown(String),
    /// A known argument with a value it cannot take; the default stays.
    BadValue(String),
}

impl fmt::Display for ArgWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgWarning::Unknown(a) => write!(f, "ignoring unknown argument {a:?}"),
            ArgWarning::BadValue(a) => write!(f, "ignoring argument {a:?}: bad value"),
        }
    }
}

/// Parse the module arguments; bad ones are reported and skipped (a typo in a PAM line must not
/// lock everyone out, and every default is the safe one: `failmode=secure`).
pub fn parse<'a, I: IntoIterator<Item = &'a str>>(argv: I) -> (Args, Vec<ArgWarning>) {
    let mut a = Args::default();
    let mut warnings = Vec::new();
    for arg in argv {
        let (key, value) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (arg, None),
        };
        let ok = match (key, value) {
            ("debug", None) => {
                a.debug = true;
                true
            }
            // pam_duo's config file: the daemon owns the config, so a pam_duo line keeps working.
            ("conf", Some(_)) => true,
            ("socket", Some(v)) => {
                let ok = v.starts_with('/');
                if ok {
                    a.socket = PathBuf::from(v);
                }
                ok
            }
            ("failmode", Some(v)) => match v {
                "safe" => {
                    a.failmode = Failmode::Safe;
                    true
                }
                "secure" => {
                    a.failmode = Failmode::Secure;
                    true
                }
                _ => false,
            },
            ("daemon_user", Some(v)) => {
                let ok = !v.is_empty();
                if ok {
                    a.daemon_user = Some(v.to_string());
                }
                ok
            }
            ("mustsee", Some(v)) => match v {
                "auto" => {
                    a.mustsee = MustSee::Auto;
                    true
                }
                "info" => {
                    a.mustsee = MustSee::Info;
                    true
                }
                "prompt" => {
                    a.mustsee = MustSee::Prompt;
                    true
                }
                _ => false,
            },
            ("timeout", Some(v)) => match v.parse::<u64>() {
                Ok(n) if (1..=MAX_TIMEOUT_SECS).contains(&n) => {
                    a.timeout = Duration::from_secs(n);
                    true
                }
                _ => false,
            },
            _ => {
                warnings.push(ArgWarning::Unknown(arg.to_string()));
                continue;
            }
        };
        if !ok {
            warnings.push(ArgWarning::BadValue(arg.to_string()));
        }
    }
    (a, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_secure() {
        let (a, w) = parse([]);
        assert_eq!(a, Args::default());
        assert_eq!(a.failmode, Failmode::Secure);
        assert_eq!(a.socket, PathBuf::from("/var/run/duo-authd/authd.sock"));
        assert!(w.is_empty());
    }

    #[test]
    fn every_argument() {
        let (a, w) = parse([
            "socket=/tmp/s.sock",
            "failmode=safe",
            "debug",
            "conf=/etc/duo/pam_duo.conf",
            "daemon_user=_duo",
            "mustsee=prompt",
            "timeout=20",
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(a.socket, PathBuf::from("/tmp/s.sock"));
        assert_eq!(a.failmode, Failmode::Safe);
        assert!(a.debug);
        assert_eq!(a.daemon_user.as_deref(), Some("_duo"));
        assert_eq!(a.mustsee, MustSee::Prompt);
        assert_eq!(a.timeout, Duration::from_secs(20));
    }

    #[test]
    fn bad_arguments_warn_and_keep_the_safe_default() {
        let (a, w) = parse([
            "failmode=open",
            "socket=relative.sock",
            "timeout=0",
            "timeout=9999",
            "mustsee=loud",
            "nodebug",
            "debug=1",
        ]);
        assert_eq!(a, Args::default());
        assert_eq!(w.len(), 7, "{w:?}");
        assert_eq!(w[0], ArgWarning::BadValue("failmode=open".into()));
        assert_eq!(w[5], ArgWarning::Unknown("nodebug".into()));
        assert!(w[0].to_string().contains("failmode=open"));
    }
}
