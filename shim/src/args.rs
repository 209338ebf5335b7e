//! The command line, parsed getopt-style so `login_duo` lines in `sshd_config` keep working.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// One-line usage text printed on `-?` or a bad option.
pub const USAGE: &str =
    "Usage: duo-login [-v] [-d] [-c config] [-f duouser] [-h host] [-s socket] \
                         [--failmode safe|secure] [--daemon-user name] [prog [args...]]";

/// What to do when the daemon itself cannot be reached (not Duo: the daemon has its own failmode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failmode {
    /// Let the login through without Duo.
    Safe,
    /// Deny the login (the default).
    Secure,
}

/// Everything the command line says, before any environment is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// `-d`: debug lines on stderr.
    pub debug: bool,
    /// `-f DUOUSER`: authenticate as another Duo user (root only).
    pub duo_user: Option<String>,
    /// `-h HOST`: the client address when `SSH_CONNECTION` is unset.
    pub host: Option<String>,
    /// `-s SOCKET`: the daemon's socket; never taken from the environment.
    pub socket: PathBuf,
    /// `--failmode`: behaviour when the daemon is unreachable.
    pub failmode: Failmode,
    /// `--daemon-user NAME`: one more account the daemon may run as.
    pub daemon_user: Option<String>,
    /// `-c FILE`: accepted for `login_duo` compatibility and ignored.
    pub config: Option<OsString>,
    /// `PROG [ARGS...]`: what to run after an allow.
    pub program: Vec<OsString>,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            debug: false,
            duo_user: None,
            host: None,
            socket: PathBuf::from(duo_authd_proto::DEFAULT_SOCKET),
            failmode: Failmode::Secure,
            daemon_user: None,
            config: None,
            program: Vec::new(),
        }
    }
}

/// The result of a successful parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// `-v` was given: print the version and stop.
    Version,
    /// Run a login with these arguments.
    Run(Args),
}

/// Why the command line was refused; the caller prints it with the usage and exits 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgsError {
    /// `-?`: the user asked for the usage.
    Help,
    /// An option that needs a value came last.
    MissingValue(String),
    /// An option this program does not know.
    Unknown(String),
    /// `--failmode` with something other than `safe` or `secure`.
    BadFailmode(String),
    /// A user or host name that is not valid UTF-8.
    NotUtf8(String),
}

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgsError::Help => f.write_str("usage requested"),
            ArgsError::MissingValue(opt) => write!(f, "option {opt} requires a value"),
            ArgsError::Unknown(opt) => write!(f, "unknown option {opt}"),
            ArgsError::BadFailmode(v) => {
                write!(f, "--failmode must be 'safe' or 'secure', not '{v}'")
            }
            ArgsError::NotUtf8(opt) => write!(f, "the value of {opt} is not valid UTF-8"),
        }
    }
}

impl std::error::Error for ArgsError {}

/// Parse the arguments after the program name; options end at the first non-option or `--`.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Parsed, ArgsError> {
    let mut it = args.into_iter();
    let mut a = Args::default();
    while let Some(arg) = it.next() {
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            a.program.extend(it.by_ref());
            break;
        }
        if let Some(long) = bytes.strip_prefix(b"--") {
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (
                    &long[..eq],
                    Some(OsStr::from_bytes(&long[eq + 1..]).to_owned()),
                ),
                None => (long, None),
            };
            let opt = format!("--{}", String::from_utf8_lossy(name));
            let known = matches!(name, b"failmode" | b"daemon-user");
            if !known {
                return Err(ArgsError::Unknown(opt));
            }
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .ok_or_else(|| ArgsError::MissingValue(opt.clone()))?,
            };
            let value = utf8(value, &opt)?;
            if name == b"failmode" {
                a.failmode = match value.as_str() {
                    "safe" => Failmode::Safe,
                    "secure" => Failmode::Secure,
                    _ => return Err(ArgsError::BadFailmode(value)),
                };
            } else {
                a.daemon_user = Some(value);
            }
            continue;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            a.program.push(arg);
            a.program.extend(it.by_ref());
            break;
        }
        let mut i = 1;
        while i < bytes.len() {
            let c = bytes[i];
            i += 1;
            match c {
                b'v' => return Ok(Parsed::Version),
                b'd' => a.debug = true,
                b'?' => return Err(ArgsError::Help),
                b'f' | b'h' | b's' | b'c' => {
                    let opt = format!("-{}", char::from(c));
                    let value = if i < bytes.len() {
                        OsStr::from_bytes(&bytes[i..]).to_owned()
                    } else {
                        it.next()
                            .ok_or_else(|| ArgsError::MissingValue(opt.clone()))?
                    };
                    i = bytes.len();
                    match c {
                        b'f' => a.duo_user = Some(utf8(value, &opt)?),
                        b'h' => a.host = Some(utf8(value, &opt)?),
                        b's' => a.socket = PathBuf::from(value),
                        _ => a.config = Some(value),
                    }
                }
                _ => {
                    let rest = String::from_utf8_lossy(&bytes[i - 1..]);
                    let first = rest.chars().next().unwrap_or('?');
                    return Err(ArgsError::Unknown(format!("-{first}")));
                }
            }
        }
    }
    Ok(Parsed::Run(a))
}

/// Option values that travel in the protocol must be text.
fn utf8(value: OsString, opt: &str) -> Result<String, ArgsError> {
    value
        .into_string()
        .map_err(|_| ArgsError::NotUtf8(opt.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, ArgsError> {
        match parse(args.iter().map(OsString::from))? {
            Parsed::Run(a) => Ok(a),
            Parsed::Version => panic!("unexpected -v"),
        }
    }

    #[test]
    fn defaults() {
        let a = run(&[]).unwrap();
        assert_eq!(a, Args::default());
        assert_eq!(a.socket, PathBuf::from("/var/run/duo-authd/authd.sock"));
        assert_eq!(a.failmode, Failmode::Secure);
    }

    #[test]
    fn all_flags() {
        let a = run(&[
            "-d",
            "-f",
            "bob",
            "-h",
            "192.0.2.7",
            "-s",
            "/tmp/x.sock",
            "-c",
            "/etc/duo/login_duo.conf",
            "--failmode",
            "safe",
            "--daemon-user=_duo",
            "ls",
            "-l",
        ])
        .unwrap();
        assert!(a.debug);
        assert_eq!(a.duo_user.as_deref(), Some("bob"));
        assert_eq!(a.host.as_deref(), Some("192.0.2.7"));
        assert_eq!(a.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(a.config, Some(OsString::from("/etc/duo/login_duo.conf")));
        assert_eq!(a.failmode, Failmode::Safe);
        assert_eq!(a.daemon_user.as_deref(), Some("_duo"));
        assert_eq!(a.program, vec![OsString::from("ls"), OsString::from("-l")]);
    }

    #[test]
    fn clustered_values_and_flags() {
        let a = run(&["-dfbob", "-hhost1", "-s/s.sock"]).unwrap();
        assert!(a.debug);
        assert_eq!(a.duo_user.as_deref(), Some("bob"));
        assert_eq!(a.host.as_deref(), Some("host1"));
        assert_eq!(a.socket, PathBuf::from("/s.sock"));
        let a = run(&["-df", "carol"]).unwrap();
        assert_eq!(a.duo_user.as_deref(), Some("carol"));
    }

    #[test]
    fn options_end_at_double_dash_or_first_operand() {
        let a = run(&["--", "-d", "x"]).unwrap();
        assert!(!a.debug);
        assert_eq!(a.program, vec![OsString::from("-d"), OsString::from("x")]);
        let a = run(&["prog", "-d"]).unwrap();
        assert!(!a.debug);
        assert_eq!(
            a.program,
            vec![OsString::from("prog"), OsString::from("-d")]
        );
        let a = run(&["-", "-d"]).unwrap();
        assert_eq!(a.program, vec![OsString::from("-"), OsString::from("-d")]);
    }

    #[test]
    fn version_stops_parsing() {
        assert_eq!(parse(["-v", "-x"].map(OsString::from)), Ok(Parsed::Version));
        assert_eq!(parse(["-dv"].map(OsString::from)), Ok(Parsed::Version));
    }

    #[test]
    fn errors() {
        assert_eq!(run(&["-f"]), Err(ArgsError::MissingValue("-f".into())));
        assert_eq!(
            run(&["-d", "-s"]),
            Err(ArgsError::MissingValue("-s".into()))
        );
        assert_eq!(
            run(&["--failmode"]),
            Err(ArgsError::MissingValue("--failmode".into()))
        );
        assert_eq!(run(&["-x"]), Err(ArgsError::Unknown("-x".into())));
        assert_eq!(run(&["-dé"]), Err(ArgsError::Unknown("-é".into())));
        assert_eq!(run(&["--debug"]), Err(ArgsError::Unknown("--debug".into())));
        assert_eq!(run(&["-?"]), Err(ArgsError::Help));
        assert_eq!(
            run(&["--failmode", "open"]),
            Err(ArgsError::BadFailmode("open".into()))
        );
        let bad = OsStr::from_bytes(b"\xff").to_owned();
        assert_eq!(
            parse([OsString::from("-f"), bad]),
            Err(ArgsError::NotUtf8("-f".into()))
        );
        assert!(ArgsError::BadFailmode("open".into())
            .to_string()
            .contains("'safe' or 'secure'"));
    }
}
