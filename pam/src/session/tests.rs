//! The conversation against a scripted daemon thread and a recording conversation function.

use super::*;
use duo_authd_proto::{Decision, ErrorKind};
use std::os::unix::net::UnixStream;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::sock::Sock;

/// What the application was asked to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Said {
    Prompt(String, bool),
    Info(String),
    Error(String),
}

/// A conversation that answers prompts from a list and records everything.
struct Script {
    answers: Vec<&'static str>,
    said: Vec<Said>,
    fail: bool,
}

impl Converse for Script {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<String, ConvFailed> {
        self.said.push(Said::Prompt(text.into(), echo));
        if self.fail {
            return Err(ConvFailed(19));
        }
        Ok(if self.answers.is_empty() {
            String::new()
        } else {
            self.answers.remove(0).to_string()
        })
    }
    fn show(&mut self, text: &str, error: bool) -> Result<(), ConvFailed> {
        self.said.push(if error {
            Said::Error(text.into())
        } else {
            Said::Info(text.into())
        });
        Ok(())
    }
}

fn script(answers: &[&'static str]) -> Script {
    Script {
        answers: answers.to_vec(),
        said: Vec::new(),
        fail: false,
    }
}

fn req() -> LoginRequest {
    LoginRequest {
        duo_user: Some("alice".into()),
        client_host: Some("192.0.2.7".into()),
        ssh_connection: None,
        command: None,
        interactive: true,
        env_passcode: None,
        service: Some("sudo".into()),
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
        show_motd: false,
    })
}

fn status(text: &str, kind: StatusKind) -> ServerMsg {
    ServerMsg::Status {
        text: text.into(),
        kind,
    }
}

/// A daemon thread that reads Hello and Start, answers Hello, then runs `body`.
fn daemon<F>(body: F) -> (UnixStream, JoinHandle<Vec<ClientMsg>>)
where
    F: FnOnce(&mut UnixStream, &mut Vec<ClientMsg>) + Send + 'static,
{
    let (module, mut d) = UnixStream::pair().unwrap();
    let h = thread::spawn(move || {
        let mut seen = vec![
            read_frame::<_, ClientMsg>(&mut d).unwrap(),
            read_frame::<_, ClientMsg>(&mut d).unwrap(),
        ];
        write_frame(&mut d, &hello()).unwrap();
        body(&mut d, &mut seen);
        seen
    });
    (module, h)
}

const SUDO: Display = Display {
    mustsee_as_prompt: false,
    silent: false,
};
const SSHD: Display = Display {
    mustsee_as_prompt: true,
    silent: false,
};

fn run(stream: UnixStream, conv: Option<&mut dyn Converse>, display: Display) -> Outcome {
    let mut sock = Sock::new(stream, Duration::from_secs(10));
    converse(&mut sock, req(), conv, display, &mut |_| {})
}

#[test]
fn passcode_prompt_is_echo_off_and_the_answer_goes_back() {
    let (m, h) = daemon(|d, seen| {
        write_frame(
            d,
            &ServerMsg::Prompt {
                text: "Passcode or option (1-3): ".into(),
                echo: false,
            },
        )
        .unwrap();
        seen.push(read_frame(d).unwrap());
        write_frame(d, &decision(Verdict::Allow, Reason::Authenticated, None)).unwrap();
    });
    let mut c = script(&["123456\n"]);
    let out = run(m, Some(&mut c), SUDO);
    assert_eq!(out, Outcome::Decided(Verdict::Allow, Reason::Authenticated));
    assert_eq!(
        c.said,
        [Said::Prompt("Passcode or option (1-3): ".into(), false)]
    );
    let seen = h.join().unwrap();
    assert_eq!(
        seen[0],
        ClientMsg::Hello {
            version: PROTOCOL_VERSION
        }
    );
    let ClientMsg::Start(r) = &seen[1] else {
        panic!("{seen:?}")
    };
    assert_eq!(r.service.as_deref(), Some("sudo"));
    assert_eq!(
        seen[2],
        ClientMsg::Answer {
            text: "123456".into()
        }
    );
}

#[test]
fn sudo_sees_status_lines_as_info_and_the_code_at_once() {
    let (m, h) = daemon(|d, _| {
        write_frame(d, &status("Pushed a login request", StatusKind::Progress)).unwrap();
        write_frame(
            d,
            &status("Enter 123 in \u{1b}[2JDuo Mobile", StatusKind::MustSee),
        )
        .unwrap();
        write_frame(d, &decision(Verdict::Allow, Reason::Authenticated, None)).unwrap();
    });
    let mut c = script(&[]);
    let out = run(m, Some(&mut c), SUDO);
    assert_eq!(out, Outcome::Decided(Verdict::Allow, Reason::Authenticated));
    assert_eq!(
        c.said,
        [
            Said::Info("Pushed a login request".into()),
            Said::Info("Enter 123 in [2JDuo Mobile".into()),
        ]
    );
    h.join().unwrap();
}

#[test]
fn sshd_gets_the_code_as_a_prompt_and_no_stale_progress() {
    let (m, h) = daemon(|d, _| {
        write_frame(d, &status("Pushed a login request", StatusKind::Progress)).unwrap();
        write_frame(d, &status("Enter 123 in Duo Mobile", StatusKind::MustSee)).unwrap();
        write_frame(
            d,
            &status("Success. Logging you in...", StatusKind::MustSee),
        )
        .unwrap();
        write_frame(d, &decision(Verdict::Allow, Reason::Authenticated, None)).unwrap();
    });
    let mut c = script(&[""]);
    let out = run(m, Some(&mut c), SSHD);
    assert_eq!(out, Outcome::Decided(Verdict::Allow, Reason::Authenticated));
    assert_eq!(
        c.said,
        [
            Said::Prompt(format!("Enter 123 in Duo Mobile\n{PRESS_ENTER}"), true),
            Said::Info("Success. Logging you in...".into()),
        ]
    );
    h.join().unwrap();
}

#[test]
fn deny_message_is_an_error_line() {
    let (m, h) = daemon(|d, _| {
        write_frame(
            d,
            &decision(Verdict::Deny, Reason::Denied, Some("Login request denied.")),
        )
        .unwrap();
    });
    let mut c = script(&[]);
    let out = run(m, Some(&mut c), SUDO);
    assert_eq!(out, Outcome::Decided(Verdict::Deny, Reason::Denied));
    assert_eq!(c.said, [Said::Error("Login request denied.".into())]);
    h.join().unwrap();
}

#[test]
fn headless_answers_prompts_with_nothing() {
    let (m, h) = daemon(|d, seen| {
        write_frame(d, &status("Enter 123", StatusKind::MustSee)).unwrap();
        write_frame(
            d,
            &ServerMsg::Prompt {
                text: "Passcode: ".into(),
                echo: false,
            },
        )
        .unwrap();
        seen.push(read_frame(d).unwrap());
        write_frame(d, &decision(Verdict::Deny, Reason::Denied, Some("no"))).unwrap();
    });
    let out = run(m, None, SUDO);
    assert_eq!(out, Outcome::Decided(Verdict::Deny, Reason::Denied));
    let seen = h.join().unwrap();
    assert_eq!(seen[2], ClientMsg::Answer { text: "".into() });
}

#[test]
fn a_failed_conversation_ends_the_login() {
    let (m, h) = daemon(|d, _| {
        write_frame(
            d,
            &ServerMsg::Prompt {
                text: "Passcode: ".into(),
                echo: false,
            },
        )
        .unwrap();
        // The module hangs up instead of answering.
        assert!(read_frame::<_, ClientMsg>(d).is_err());
    });
    let mut c = script(&[]);
    c.fail = true;
    let out = run(m, Some(&mut c), SUDO);
    assert_eq!(out, Outcome::ConvFailed(ConvFailed(19)));
    h.join().unwrap();
}

#[test]
fn everything_but_a_decision_denies() {
    // Busy before the handshake.
    let (m, mut d) = UnixStream::pair().unwrap();
    let h = thread::spawn(move || {
        let _ = read_frame::<_, ClientMsg>(&mut d);
        write_frame(
            &mut d,
            &ServerMsg::Error {
                kind: ErrorKind::Busy,
                message: "busy".into(),
            },
        )
        .unwrap();
    });
    assert!(matches!(run(m, None, SUDO), Outcome::Failed(e) if e.contains("Busy")));
    h.join().unwrap();
    // Another protocol version.
    let (m, mut d) = UnixStream::pair().unwrap();
    let h = thread::spawn(move || {
        let _ = read_frame::<_, ClientMsg>(&mut d);
        write_frame(
            &mut d,
            &ServerMsg::Hello {
                version: PROTOCOL_VERSION + 1,
                daemon_version: "9".into(),
            },
        )
        .unwrap();
    });
    assert!(matches!(run(m, None, SUDO), Outcome::Failed(e) if e.contains("protocol")));
    h.join().unwrap();
    // Closed before deciding.
    let (m, h) = daemon(|_, _| {});
    assert!(matches!(run(m, None, SUDO), Outcome::Failed(e) if e.contains("before deciding")));
    h.join().unwrap();
    // Garbage, and an oversized length prefix.
    for junk in [
        &[0u8, 0, 0, 3, 0xff, 0xff, 0xff][..],
        &[0xff, 0xff, 0xff, 0xff][..],
    ] {
        let (m, h) = daemon(move |d, _| {
            use std::io::Write as _;
            d.write_all(junk).unwrap();
        });
        assert!(matches!(run(m, None, SUDO), Outcome::Failed(_)));
        h.join().unwrap();
    }
}

#[test]
fn a_hanging_daemon_is_bounded_by_the_deadline() {
    let (m, d) = UnixStream::pair().unwrap();
    let start = std::time::Instant::now();
    let mut sock = Sock::new(m, Duration::from_millis(300));
    let out = converse(&mut sock, req(), None, SUDO, &mut |_| {});
    assert!(matches!(out, Outcome::Failed(_)), "{out:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(d);
}
