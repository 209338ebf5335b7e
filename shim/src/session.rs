//! One login conversation with the daemon: trust check, handshake, prompts, decision.

use std::fmt;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use duo_authd_proto::{
    encode, read_frame, sanitize, write_frame, ClientMsg, FrameError, LoginRequest, ServerMsg,
    StatusKind, Verdict, PROTOCOL_VERSION,
};

use crate::terminal::{self, EchoOff, LineRead};
pub use duo_authd_client::ConnectError;
use duo_authd_client::{peer, Timeouts};

/// Socket read/write timeout: a last resort against a wedged daemon, longer than any Duo round trip.
pub const IO_TIMEOUT: Duration = Duration::from_secs(130);

/// How long a prompt waits for the user before the login is denied.
pub const INPUT_TIMEOUT: Duration = Duration::from_secs(130);

/// Longest answer line read from the terminal; more is cut (and the daemon refuses anything
/// longer than a passcode can be, so a cut answer is never mistaken for a shorter one).
pub const MAX_ANSWER: usize = duo_authd_proto::MAX_ANSWER + 1;

/// Where the user's output goes: generic so tests can capture it.
pub struct Console<O: Write, E: Write> {
    /// Standard output: statuses, prompts and messages of interactive logins.
    pub out: O,
    /// Standard error: errors, headless messages and `-d` lines.
    pub err: E,
    /// `-d` was given.
    pub debug: bool,
}

impl<O: Write, E: Write> Console<O, E> {
    /// Print one `-d` line on stderr (never with secrets in it).
    pub fn debug(&mut self, msg: fmt::Arguments<'_>) {
        if self.debug {
            let _ = writeln!(self.err, "duo-login: debug: {msg}");
        }
    }

    /// Print one `duo-login: ...` error line on stderr.
    pub fn error(&mut self, msg: fmt::Arguments<'_>) {
        let _ = writeln!(self.err, "duo-login: {msg}");
        let _ = self.err.flush();
    }

    /// Print text from the network, sanitised, on stdout (interactive) or stderr (headless).
    fn show(&mut self, interactive: bool, text: &str) {
        let mut text = sanitize(text);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let w: &mut dyn Write = if interactive {
            &mut self.out
        } else {
            &mut self.err
        };
        let _ = w.write_all(text.as_bytes());
        let _ = w.flush();
    }
}

/// How the conversation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The daemon allowed the login: exec the shell.
    Allow {
        /// Print /etc/motd first.
        show_motd: bool,
    },
    /// The daemon denied the login and has logged why; anything worth saying has been printed.
    Denied,
    /// The conversation broke after connecting (a refusal, a dropped connection, a bad frame, a
    /// request we could not send): denied, and the reason goes to syslog because the daemon may
    /// never have seen the login.
    Failed(String),
}

/// Connect to the daemon's socket and check, before sending anything, that root or a trusted user serves it.
pub fn connect<O: Write, E: Write>(
    path: &Path,
    trust: &peer::Trust,
    con: &mut Console<O, E>,
) -> Result<UnixStream, ConnectError> {
    let timeouts = Timeouts {
        connect: None,
        io: IO_TIMEOUT,
    };
    duo_authd_client::connect(path, trust, timeouts, &mut |line| con.debug(line))
}

/// Run the conversation on a trusted stream; `input` is where interactive answers are read from.
///
/// Once connected, nothing can turn into an allow but the daemon's own `Decision`: every error,
/// refusal or surprise ends in [`Outcome::Failed`].
pub fn converse<O: Write, E: Write>(
    stream: &mut UnixStream,
    request: LoginRequest,
    input: BorrowedFd<'_>,
    con: &mut Console<O, E>,
) -> Outcome {
    let interactive = request.interactive;
    con.debug(format_args!(
        "sending login request (duo user: {}, host: {}, ssh connection: {}, command: {}, interactive: {}, passcode from environment: {})",
        request.duo_user.as_deref().unwrap_or("-"),
        request.client_host.as_deref().unwrap_or("-"),
        request.ssh_connection.as_deref().unwrap_or("-"),
        if request.command.is_some() { "yes" } else { "no" },
        if interactive { "yes" } else { "no" },
        if request.env_passcode.is_some() { "yes" } else { "no" },
    ));
    // Hello and Start go out in one write: the peer is already trusted (checked at connect), and a
    // daemon that speaks another version answers the Hello with an error before reading on, so the
    // pipelining saves a round trip and costs nothing.
    if let Err(e) = send_hello_and_start(stream, request) {
        // A daemon that refused us at once (Busy) may have said why before closing.
        if let Ok(ServerMsg::Error { kind, message }) = read_frame::<_, ServerMsg>(stream) {
            con.error(format_args!("{}", sanitize(&message)));
            return Outcome::Failed(format!(
                "the daemon refused the login ({kind:?}): {}",
                sanitize(&message)
            ));
        }
        return Outcome::Failed(e);
    }
    if let Err(e) = handshake(stream, con) {
        return Outcome::Failed(e);
    }
    loop {
        let msg: ServerMsg = match read_frame(stream) {
            Ok(m) => m,
            Err(FrameError::Closed) => {
                return Outcome::Failed("the daemon closed the connection before deciding".into())
            }
            Err(e) => return Outcome::Failed(format!("lost the daemon: {e}")),
        };
        match msg {
            ServerMsg::Status { text, kind } => {
                con.debug(format_args!("frame: Status ({kind:?})"));
                if interactive {
                    let _ = writeln!(con.out, "{}", sanitize(&text));
                    let _ = con.out.flush();
                } else if kind == StatusKind::MustSee {
                    // A headless login shows only what must be seen (a Verified Push code), on
                    // stderr, so stdout stays clean for scp/rsync.
                    con.show(false, &text);
                }
            }
            ServerMsg::Prompt { text, echo } => {
                con.debug(format_args!(
                    "frame: Prompt (echo {})",
                    if echo { "on" } else { "off" }
                ));
                let answer = if interactive {
                    match ask(stream.as_fd(), input, &text, echo, con) {
                        Ok(Some(a)) => a,
                        Ok(None) => continue,
                        Err(outcome) => return outcome,
                    }
                } else {
                    con.debug(format_args!(
                        "headless login: answering the prompt with nothing"
                    ));
                    String::new()
                };
                if let Err(e) = write_frame(stream, &ClientMsg::Answer { text: answer }) {
                    return Outcome::Failed(format!("cannot send the answer: {e}"));
                }
            }
            ServerMsg::Decision(d) => {
                con.debug(format_args!(
                    "frame: Decision {} ({})",
                    match d.verdict {
                        Verdict::Allow => "allow",
                        Verdict::Deny => "deny",
                    },
                    d.reason.as_str()
                ));
                if let Some(m) = &d.message {
                    con.show(interactive, m);
                }
                return match d.verdict {
                    Verdict::Allow => Outcome::Allow {
                        show_motd: d.show_motd,
                    },
                    Verdict::Deny => Outcome::Denied,
                };
            }
            ServerMsg::Error { kind, message } => {
                con.debug(format_args!("frame: Error {kind:?}"));
                let message = sanitize(&message);
                con.error(format_args!("{message}"));
                return Outcome::Failed(format!(
                    "the daemon refused the login ({kind:?}): {message}"
                ));
            }
            ServerMsg::Hello { .. } | ServerMsg::Health(_) => {
                return Outcome::Failed("the daemon sent an unexpected message".into());
            }
        }
    }
}

/// Write the `Hello` and the login request as one buffer (one syscall, one wake-up of the daemon).
fn send_hello_and_start(stream: &mut UnixStream, request: LoginRequest) -> Result<(), String> {
    let mut buf = encode(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
    })
    .map_err(|e| format!("cannot encode the handshake: {e}"))?;
    buf.extend(
        encode(&ClientMsg::Start(request))
            .map_err(|e| format!("cannot encode the login request: {e}"))?,
    );
    stream
        .write_all(&buf)
        .map_err(|e| format!("cannot send the login request: {e}"))
}

/// Read the daemon's `Hello`; any failure ends the login.
fn handshake<O: Write, E: Write>(
    stream: &mut UnixStream,
    con: &mut Console<O, E>,
) -> Result<(), String> {
    match read_frame(stream).map_err(|e| format!("handshake failed: {e}"))? {
        ServerMsg::Hello {
            version,
            daemon_version,
        } if version == PROTOCOL_VERSION => {
            con.debug(format_args!(
                "handshake: daemon {} speaks protocol {version}",
                sanitize(&daemon_version)
            ));
            Ok(())
        }
        ServerMsg::Hello { version, .. } => Err(format!(
            "the daemon speaks protocol {version}, this shim speaks {PROTOCOL_VERSION}; upgrade duo-login and duo-authd together"
        )),
        ServerMsg::Error { kind, message } => {
            con.error(format_args!("{}", sanitize(&message)));
            Err(format!(
                "the daemon refused the handshake ({kind:?}): {}",
                sanitize(&message)
            ))
        }
        _ => Err("the daemon sent an unexpected reply to the handshake".into()),
    }
}

/// Show a prompt and read the answer; `Ok(None)` when the daemon spoke first, `Err` to end the login.
fn ask<O: Write, E: Write>(
    sock: BorrowedFd<'_>,
    input: BorrowedFd<'_>,
    text: &str,
    echo: bool,
    con: &mut Console<O, E>,
) -> Result<Option<String>, Outcome> {
    let _ = write!(con.out, "{}", sanitize(text));
    let _ = con.out.flush();
    let guard = if echo {
        None
    } else {
        match EchoOff::new(input) {
            Ok(g) => Some(g),
            Err(e) => {
                con.debug(format_args!("cannot turn echo off: {e}"));
                None
            }
        }
    };
    let read = terminal::read_line(input, sock, MAX_ANSWER, INPUT_TIMEOUT);
    let echo_was_off = guard.is_some();
    drop(guard);
    let read = match read {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(con.out);
            con.error(format_args!("cannot read the answer: {e}"));
            return Err(Outcome::Denied);
        }
    };
    match read {
        LineRead::Line(answer) => {
            if echo_was_off {
                let _ = writeln!(con.out);
            }
            let _ = con.out.flush();
            Ok(Some(answer))
        }
        LineRead::PeerReady => {
            con.debug(format_args!("the daemon spoke before the answer came"));
            let _ = writeln!(con.out);
            let _ = con.out.flush();
            Ok(None)
        }
        LineRead::Eof => {
            con.debug(format_args!("end of input: giving up"));
            let _ = writeln!(con.out);
            Err(Outcome::Denied)
        }
        LineRead::TimedOut => {
            let _ = writeln!(con.out);
            con.error(format_args!("no answer typed in time; login denied"));
            Err(Outcome::Denied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duo_authd_proto::{Decision, ErrorKind, Reason};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;
    use std::thread::{self, JoinHandle};

    fn req(interactive: bool) -> LoginRequest {
        LoginRequest {
            duo_user: None,
            client_host: None,
            ssh_connection: Some("192.0.2.1 5555 192.0.2.2 22".into()),
            command: None,
            interactive,
            env_passcode: Some("999999".into()),
            service: None,
        }
    }

    fn hello() -> ServerMsg {
        ServerMsg::Hello {
            version: PROTOCOL_VERSION,
            daemon_version: "0.1.0".into(),
        }
    }

    fn decision(verdict: Verdict, reason: Reason, message: Option<&str>) -> ServerMsg {
        ServerMsg::Decision(Decision {
            verdict,
            reason,
            message: message.map(str::to_owned),
            show_motd: true,
        })
    }

    /// A daemon thread that checks the opening frames, then runs `script`.
    fn daemon<F>(script: F) -> (UnixStream, JoinHandle<Vec<ClientMsg>>)
    where
        F: FnOnce(&mut UnixStream, &mut Vec<ClientMsg>) + Send + 'static,
    {
        let (shim, mut d) = UnixStream::pair().unwrap();
        let h = thread::spawn(move || {
            let mut seen = Vec::new();
            seen.push(read_frame::<_, ClientMsg>(&mut d).unwrap());
            write_frame(&mut d, &hello()).unwrap();
            seen.push(read_frame::<_, ClientMsg>(&mut d).unwrap());
            script(&mut d, &mut seen);
            seen
        });
        (shim, h)
    }

    fn run(
        mut shim: UnixStream,
        request: LoginRequest,
        input: BorrowedFd<'_>,
    ) -> (Outcome, String, String) {
        let mut con = Console {
            out: Vec::new(),
            err: Vec::new(),
            debug: true,
        };
        let outcome = converse(&mut shim, request, input, &mut con);
        (
            outcome,
            String::from_utf8(con.out).unwrap(),
            String::from_utf8(con.err).unwrap(),
        )
    }

    #[test]
    fn status_is_sanitised_and_deny_is_printed() {
        let (shim, h) = daemon(|d, _| {
            let st = ServerMsg::Status {
                text: "Pushed \u{1b}[2Ja request".into(),
                kind: StatusKind::Progress,
            };
            write_frame(d, &st).unwrap();
            let deny = decision(
                Verdict::Deny,
                Reason::Denied,
                Some("Login \u{1b}]0;x\u{7}denied"),
            );
            write_frame(d, &deny).unwrap();
        });
        let (stdin, _typist) = UnixStream::pair().unwrap();
        let (outcome, out, err) = run(shim, req(true), stdin.as_fd());
        assert_eq!(outcome, Outcome::Denied);
        assert!(!out.contains('\u{1b}') && !err.contains('\u{1b}'));
        assert_eq!(out, "Pushed [2Ja request\nLogin ]0;xdenied\n");
        assert!(err.contains("frame: Decision deny (denied)"), "{err}");
        assert!(!err.contains("999999"), "the passcode leaked: {err}");
        let seen = h.join().unwrap();
        assert_eq!(
            seen[0],
            ClientMsg::Hello {
                version: PROTOCOL_VERSION
            }
        );
        assert_eq!(seen[1], ClientMsg::Start(req(true)));
    }

    #[test]
    fn headless_messages_go_to_stderr_and_prompts_get_empty_answers() {
        let (shim, h) = daemon(|d, seen| {
            let st = ServerMsg::Status {
                text: "hi".into(),
                kind: StatusKind::MustSee,
            };
            write_frame(d, &st).unwrap();
            let p = ServerMsg::Prompt {
                text: "Passcode: ".into(),
                echo: false,
            };
            write_frame(d, &p).unwrap();
            seen.push(read_frame::<_, ClientMsg>(d).unwrap());
            let m = decision(
                Verdict::Deny,
                Reason::Enroll,
                Some("Please enroll at https://x"),
            );
            write_frame(d, &m).unwrap();
        });
        let (stdin, _typist) = UnixStream::pair().unwrap();
        let (outcome, out, err) = run(shim, req(false), stdin.as_fd());
        assert_eq!(outcome, Outcome::Denied);
        assert_eq!(out, "");
        assert!(err.contains("hi\n"), "{err}");
        assert!(err.contains("Please enroll at https://x\n"), "{err}");
        let seen = h.join().unwrap();
        assert_eq!(
            seen[2],
            ClientMsg::Answer {
                text: String::new()
            }
        );
    }

    #[test]
    fn interactive_prompt_is_answered_then_allowed() {
        let (shim, h) = daemon(|d, seen| {
            let p = ServerMsg::Prompt {
                text: "Passcode or option (1-2): ".into(),
                echo: false,
            };
            write_frame(d, &p).unwrap();
            seen.push(read_frame::<_, ClientMsg>(d).unwrap());
            write_frame(d, &decision(Verdict::Allow, Reason::Authenticated, None)).unwrap();
        });
        let (stdin, mut typist) = UnixStream::pair().unwrap();
        typist.write_all(b"123456\r\n").unwrap();
        let (outcome, out, _) = run(shim, req(true), stdin.as_fd());
        assert_eq!(outcome, Outcome::Allow { show_motd: true });
        assert_eq!(out, "Passcode or option (1-2): ");
        let seen = h.join().unwrap();
        assert_eq!(
            seen[2],
            ClientMsg::Answer {
                text: "123456".into()
            }
        );
    }

    #[test]
    fn daemon_speaking_first_interrupts_the_prompt() {
        let (shim, h) = daemon(|d, _| {
            let p = ServerMsg::Prompt {
                text: "Option: ".into(),
                echo: true,
            };
            write_frame(d, &p).unwrap();
            let m = decision(Verdict::Deny, Reason::Aborted, Some("timed out"));
            write_frame(d, &m).unwrap();
        });
        let (stdin, _typist) = UnixStream::pair().unwrap();
        let (outcome, out, _) = run(shim, req(true), stdin.as_fd());
        assert_eq!(outcome, Outcome::Denied);
        assert_eq!(out, "Option: \ntimed out\n");
        h.join().unwrap();
    }

    #[test]
    fn eof_on_stdin_denies_without_answering() {
        let (shim, h) = daemon(|d, seen| {
            let p = ServerMsg::Prompt {
                text: "Option: ".into(),
                echo: true,
            };
            write_frame(d, &p).unwrap();
            if let Ok(m) = read_frame::<_, ClientMsg>(d) {
                seen.push(m);
            }
        });
        let (stdin, typist) = UnixStream::pair().unwrap();
        drop(typist);
        let (outcome, _, _) = run(shim, req(true), stdin.as_fd());
        assert_eq!(outcome, Outcome::Denied);
        assert_eq!(h.join().unwrap().len(), 2);
    }

    #[test]
    fn every_error_after_connecting_fails_closed() {
        // Busy, a version refusal, an internal error, a refusal: none of them is "no daemon".
        for kind in [
            ErrorKind::Busy,
            ErrorKind::Internal,
            ErrorKind::NotPermitted,
            ErrorKind::Timeout,
            ErrorKind::VersionMismatch,
            ErrorKind::Malformed,
        ] {
            let (shim, h) = daemon(move |d, _| {
                let e = ServerMsg::Error {
                    kind,
                    message: "nope\u{1b}[1m".into(),
                };
                write_frame(d, &e).unwrap();
            });
            let (stdin, _typist) = UnixStream::pair().unwrap();
            let (outcome, _, err) = run(shim, req(true), stdin.as_fd());
            assert!(
                matches!(outcome, Outcome::Failed(_)),
                "{kind:?}: {outcome:?}"
            );
            assert!(err.contains("duo-login: nope[1m\n"), "{err}");
            h.join().unwrap();
        }
        // A daemon that closes the connection before deciding.
        let (shim, h) = daemon(|_, _| {});
        let (stdin, _typist) = UnixStream::pair().unwrap();
        let (outcome, _, _) = run(shim, req(true), stdin.as_fd());
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
        h.join().unwrap();
        // Garbage instead of a frame.
        let (shim, h) = daemon(|d, _| {
            d.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
        });
        let (stdin, _typist) = UnixStream::pair().unwrap();
        let (outcome, _, _) = run(shim, req(true), stdin.as_fd());
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
        h.join().unwrap();
    }

    #[test]
    fn headless_shows_only_what_must_be_seen() {
        let (shim, h) = daemon(|d, _| {
            let progress = ServerMsg::Status {
                text: "Pushed a login request".into(),
                kind: StatusKind::Progress,
            };
            write_frame(d, &progress).unwrap();
            let code = ServerMsg::Status {
                text: "Enter 123 in Duo Mobile".into(),
                kind: StatusKind::MustSee,
            };
            write_frame(d, &code).unwrap();
            write_frame(d, &decision(Verdict::Allow, Reason::Authenticated, None)).unwrap();
        });
        let (stdin, _typist) = UnixStream::pair().unwrap();
        let (outcome, out, err) = run(shim, req(false), stdin.as_fd());
        assert_eq!(outcome, Outcome::Allow { show_motd: true });
        assert_eq!(out, "");
        assert!(err.contains("Enter 123 in Duo Mobile\n"), "{err}");
        assert!(!err.contains("Pushed a login request"), "{err}");
        h.join().unwrap();
    }

    fn refused(r: Result<UnixStream, ConnectError>) -> String {
        match r {
            Err(ConnectError::Refused(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn connect_checks_the_path_and_the_peer() {
        let dir = std::env::temp_dir().join(format!("duo-login-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _ = fs::remove_file(&sock);
        let _l = UnixListener::bind(&sock).unwrap();
        let mut con = Console {
            out: Vec::new(),
            err: Vec::new(),
            debug: true,
        };
        let me = duo_authd_client::passwd::real_uid();
        let trusts_me = peer::Trust::fixed(me);
        assert!(connect(&sock, &trusts_me, &mut con).is_ok());
        if me == 0 {
            // Root is always trusted, so hand the socket to someone else instead.
            std::os::unix::fs::lchown(&sock, Some(4242), None).unwrap();
            let e = refused(connect(&sock, &trusts_me, &mut con));
            assert!(e.contains("owned by uid 4242, which is not trusted"), "{e}");
            std::os::unix::fs::lchown(&sock, Some(0), None).unwrap();
        } else {
            let e = refused(connect(
                &sock,
                &peer::Trust::fixed(me.wrapping_add(1)),
                &mut con,
            ));
            assert!(e.contains("not trusted"), "{e}");
        }

        let link = dir.join("link.sock");
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        let e = refused(connect(&link, &trusts_me, &mut con));
        assert!(e.contains("symbolic link"), "{e}");

        let file = dir.join("plain");
        fs::write(&file, b"").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        let e = refused(connect(&file, &trusts_me, &mut con));
        assert!(e.contains("not a socket"), "{e}");
        // Only a missing path or a refused connection means "no daemon".
        assert!(matches!(
            connect(&dir.join("missing"), &trusts_me, &mut con),
            Err(ConnectError::NoDaemon(_))
        ));
        let dead = dir.join("dead.sock");
        let _ = fs::remove_file(&dead);
        drop(UnixListener::bind(&dead).unwrap());
        assert!(matches!(
            connect(&dead, &trusts_me, &mut con),
            Err(ConnectError::NoDaemon(_))
        ));
        // A path through a regular file is broken, not absent.
        assert!(matches!(
            connect(&file.join("x.sock"), &trusts_me, &mut con),
            Err(ConnectError::Refused(_))
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}
