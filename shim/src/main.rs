//! `duo-login`: the setuid-free login shim. sshd runs it as the logging-in user; it asks
//! `duo-authd` over a Unix socket whether the login may proceed, then execs the user's shell.
//!
//! It holds no secret and reads no config: the daemon owns both.
#![deny(unsafe_code)]

mod args;
mod exec;
#[allow(unsafe_code)]
mod passwd;
mod peer;
mod session;
#[allow(unsafe_code)]
mod terminal;

use std::env;
use std::ffi::OsStr;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;

use duo_authd_proto::LoginRequest;

use args::{ArgsError, Failmode, Parsed};
use session::{Console, Outcome};

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
    let ssh_original = env::var_os("SSH_ORIGINAL_COMMAND");
    let stdin = io::stdin();
    let interactive = stdin.is_terminal() && ssh_original.is_none();
    let command = exec::command_line(&a.program, ssh_original.as_deref());
    con.debug(format_args!(
        "duo-login {VERSION}: uid {uid}, interactive: {}, command: {}",
        if interactive { "yes" } else { "no" },
        if command.is_some() { "yes" } else { "no" },
    ));
    let request = LoginRequest {
        duo_user: a.duo_user.clone(),
        client_host: a.host.clone(),
        ssh_connection: env_string("SSH_CONNECTION"),
        command: command.as_ref().map(|c| c.to_string_lossy().into_owned()),
        interactive,
        env_passcode: env_string("DUO_PASSCODE"),
    };

    let trust = peer::Trust::new(a.daemon_user.as_deref());
    if con.debug {
        for n in trust.notes() {
            con.debug(format_args!("{n}"));
        }
    }
    let outcome = match session::connect(&a.socket, &trust, &mut con) {
        Ok(mut stream) => session::converse(&mut stream, request, stdin.as_fd(), &mut con),
        Err(reason) => Outcome::Unavailable(reason),
    };
    match outcome {
        Outcome::Allow { show_motd } => {
            if show_motd && interactive {
                exec::show_motd(&mut con.out);
            }
            exec_user_shell(uid, command.as_deref(), &mut con)
        }
        Outcome::Deny => {
            con.debug(format_args!("login denied"));
            1
        }
        Outcome::Unavailable(reason) => {
            let reason = duo_authd_proto::sanitize(&reason);
            match a.failmode {
                Failmode::Secure => {
                    con.error(format_args!(
                        "the Duo login service is unavailable ({reason}); login denied"
                    ));
                    1
                }
                Failmode::Safe => {
                    con.error(format_args!(
                        "the Duo login service is unavailable ({reason}); failmode is safe, continuing without Duo"
                    ));
                    exec_user_shell(uid, command.as_deref(), &mut con)
                }
            }
        }
    }
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
