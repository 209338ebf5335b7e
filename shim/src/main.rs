//! `duo-login`: the setuid-free login shim. sshd runs it as the logging-in user; it asks
//! `duo-authd` over a Unix socket whether the login may proceed, then execs the user's shell.
//!
//! It holds no secret and reads no config: the daemon owns both.
#![deny(unsafe_code)]

mod args;
mod exec;
mod session;
#[allow(unsafe_code)]
mod terminal;

use std::env;
use std::ffi::OsStr;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;

use duo_authd_client::{passwd, peer};
use duo_authd_proto::{self as proto, sanitize, LoginRequest};
use duo_authd_syslog::{self as syslog, Priority};

use args::{ArgsError, Failmode, Parsed};
use session::{ConnectError, Console, Outcome};

/// Printed by `-v`.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn main() {
    std::process::exit(run());
}

/// The whole program; returns the exit status unless it execs.
fn run() -> i32 {
    let a = match args::parse(env::args_os().skip(1)) {
        Ok(Parsed::Version) => {
            println!("duo-login {VERSION}");
            return 0;
        }
        Ok(Parsed::Run(a)) => a,
        Err(ArgsError::Help) => {
            eprintln!("{}", args::USAGE);
            return 1;
        }
        Err(e) => {
            eprintln!("duo-login: {e}");
            eprintln!("{}", args::USAGE);
            return 1;
        }
    };
    let mut con = Console {
        out: io::stdout(),
        err: io::stderr(),
        debug: a.debug,
    };
    let uid = passwd::real_uid();
    if let Some(c) = &a.config {
        con.debug(format_args!(
            "ignoring -c {}: the daemon owns the configuration",
            c.to_string_lossy()
        ));
    }
    if a.duo_user.is_some() && uid != 0 {
        con.error(format_args!("only root may use -f"));
        return 1;
    }
    if let Some(e) = too_long(&a) {
        con.error(format_args!("{e}"));
        return 1;
    }
    let ssh_original = env::var_os("SSH_ORIGINAL_COMMAND");
    let stdin = io::stdin();
    let interactive = stdin.is_terminal() && ssh_original.is_none();
    let command = exec::command_line(&a.program, ssh_original.as_deref());
    con.debug(format_args!(
        "duo-login {VERSION}: uid {uid}, interactive: {}, command: {}",
        if interactive { "yes" } else { "no" },
        if command.is_some() { "yes" } else { "no" },
    ));
    let ssh_connection = env_string("SSH_CONNECTION");
    let request = LoginRequest {
        duo_user: a.duo_user.clone(),
        client_host: a.host.clone(),
        ssh_connection: ssh_connection
            .as_deref()
            .map(|s| proto::truncate(s, proto::MAX_NAME).to_string()),
        // Duo's pushinfo needs only the start of the command; sshd allows commands far larger
        // than a frame, and the command itself never travels to the daemon.
        command: command
            .as_ref()
            .map(|c| proto::excerpt(&c.to_string_lossy(), proto::MAX_COMMAND_EXCERPT)),
        interactive,
        // One byte over the longest valid answer, so the daemon can tell a cut one apart.
        env_passcode: env_string("DUO_PASSCODE")
            .map(|p| proto::truncate(&p, proto::MAX_ANSWER + 1).to_string()),
        service: None,
    };
    let who = Who {
        user: a.duo_user.clone().unwrap_or_else(|| login_name(uid)),
        from: client_address(ssh_connection.as_deref(), a.host.as_deref()),
    };

    let trust = peer::Trust::new(a.daemon_user.as_deref());
    if con.debug {
        for n in trust.notes() {
            con.debug(format_args!("{n}"));
        }
    }
    let outcome = match session::connect(&a.socket, &trust, &mut con) {
        Ok(mut stream) => session::converse(&mut stream, request, stdin.as_fd(), &mut con),
        Err(ConnectError::NoDaemon(detail)) => {
            con.debug(format_args!("{detail}"));
            return match a.failmode {
                Failmode::Secure => {
                    who.log(
                        Priority::Warning,
                        "Failsecure Duo login",
                        &format!(
                            "the duo-authd daemon is not running ({detail}); --failmode secure"
                        ),
                    );
                    con.error(format_args!("{UNAVAILABLE} Login denied."));
                    1
                }
                Failmode::Safe => {
                    who.log(
                        Priority::Warning,
                        "Failsafe Duo login",
                        &format!("the duo-authd daemon is not running ({detail}); --failmode safe"),
                    );
                    con.error(format_args!("{UNAVAILABLE} Continuing without it."));
                    exec_user_shell(uid, command.as_deref(), &mut con)
                }
            };
        }
        Err(ConnectError::Refused(detail)) => {
            con.debug(format_args!("{detail}"));
            who.log(
                Priority::Err,
                "Error in Duo login",
                &format!("refusing the duo-authd socket: {detail}"),
            );
            con.error(format_args!("{UNAVAILABLE} Login denied."));
            return 1;
        }
    };
    match outcome {
        Outcome::Allow { show_motd } => {
            if show_motd && interactive {
                exec::show_motd(&mut con.out);
            }
            exec_user_shell(uid, command.as_deref(), &mut con)
        }
        Outcome::Denied => {
            con.debug(format_args!("login denied"));
            1
        }
        Outcome::Failed(detail) => {
            con.debug(format_args!("{detail}"));
            who.log(Priority::Err, "Error in Duo login", &sanitize(&detail));
            con.error(format_args!(
                "Duo two-factor authentication failed. Login denied."
            ));
            1
        }
    }
}

/// What the user reads when no daemon answers: one plain sentence; the details go to syslog.
const UNAVAILABLE: &str = "Duo two-factor authentication is unavailable.";

/// The login a shim decision is about, for its syslog line.
struct Who {
    /// The Duo user (`-f`) or the login name.
    user: String,
    /// The client address, when known.
    from: Option<String>,
}

impl Who {
    /// Log one decision of the shim's own in login_duo's words (the daemon logs all the others).
    fn log(&self, priority: Priority, headline: &str, detail: &str) {
        let line = proto::decision_line(headline, &self.user, self.from.as_deref(), Some(detail));
        syslog::open(c"duo-login");
        syslog::send(syslog::Facility::AuthPriv, priority, &line);
    }
}

/// The client address as login_duo takes it: `SSH_CONNECTION`'s first word, else `-h`.
fn client_address(ssh_connection: Option<&str>, host: Option<&str>) -> Option<String> {
    ssh_connection
        .and_then(|s| s.split_whitespace().next())
        .or(host)
        .map(|s| proto::truncate(s, proto::MAX_NAME).to_string())
}

/// The login name of `uid`, or the number when it has none.
fn login_name(uid: u32) -> String {
    match passwd::by_uid(uid) {
        Ok(Some(pw)) => pw.name,
        _ => uid.to_string(),
    }
}

/// A flag value too long to send: refused before connecting, never cut (a cut user name is another user).
fn too_long(a: &args::Args) -> Option<String> {
    for (flag, value) in [("-f", &a.duo_user), ("-h", &a.host)] {
        if value.as_ref().is_some_and(|v| v.len() > proto::MAX_NAME) {
            return Some(format!(
                "the value of {flag} is longer than {} bytes",
                proto::MAX_NAME
            ));
        }
    }
    None
}

/// Exec the shell of `uid`; on failure print one line and return exit status 1.
fn exec_user_shell<O: Write, E: Write>(
    uid: u32,
    command: Option<&OsStr>,
    con: &mut Console<O, E>,
) -> i32 {
    let pw = match passwd::by_uid(uid) {
        Ok(Some(pw)) => pw,
        Ok(None) => {
            con.error(format_args!("no passwd entry for uid {uid}"));
            return 1;
        }
        Err(e) => {
            con.error(format_args!("cannot look up uid {uid} in passwd: {e}"));
            return 1;
        }
    };
    let shell = exec::shell_or_default(&pw.shell);
    con.debug(format_args!(
        "allowed: exec {} as {} for {} (home {})",
        shell.display(),
        exec::argv0(&shell, command.is_none()).to_string_lossy(),
        pw.name,
        pw.dir.display()
    ));
    let _ = con.out.flush();
    let e = exec::exec_shell(&shell, command);
    con.error(format_args!("{}: {e}", shell.display()));
    1
}

/// An environment variable as text (lossily), for the request.
fn env_string(name: &str) -> Option<String> {
    env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}
