//! Replays the fuzz corpora of the `frame` and `messages` targets on every `cargo test`,
//! through the same per-input functions the fuzzer runs (`fuzz/src/proto_glue.rs`).
//! `write_seed_corpus` (ignored) regenerates the protocol seed files.
// An integration test crate: a failure should stop at the line that failed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../fuzz/src/proto_glue.rs"]
mod proto_glue;

use std::fs;
use std::path::{Path, PathBuf};

use duo_authd_proto::{
    encode, ClientMsg, Decision, ErrorKind, HealthReport, LoginRequest, Reason, ServerMsg,
    StatusKind, Verdict, MAX_FRAME, PROTOCOL_VERSION,
};

/// `fuzz/corpus/<target>` of this repository.
fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every regular file of a target's corpus, sorted, with its contents.
fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let data = fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
fn frame_corpus_replays_without_panic() {
    for (path, data) in corpus("frame") {
        eprintln!("frame: {}", path.display());
        proto_glue::fuzz_frame(&data);
    }
}

#[test]
fn messages_corpus_replays_without_panic() {
    for (path, data) in corpus("messages") {
        eprintln!("messages: {}", path.display());
        proto_glue::fuzz_messages(&data);
    }
}

#[test]
fn messages_input_format_reaches_every_outcome() {
    // The seeds must exercise both a normal round trip and the TooLarge refusal.
    let small = seed_start(
        Some("alice"),
        None,
        Some("192.0.2.1 5555 192.0.2.2 22"),
        Some("uptime"),
        true,
        None,
    );
    let proto_glue::Built::Client(ClientMsg::Start(req)) = proto_glue::build_message(&small) else {
        panic!("selector 0 is not Start");
    };
    assert_eq!(req.duo_user.as_deref(), Some("alice"));
    assert_eq!(
        req.ssh_connection.as_deref(),
        Some("192.0.2.1 5555 192.0.2.2 22")
    );
    assert!(req.interactive);
    assert_eq!(req.env_passcode, None);
    let big = seed_answer("x".repeat(300).as_str(), 0xf0);
    let proto_glue::Built::Client(msg) = proto_glue::build_message(&big) else {
        panic!("selector 1 is not Answer");
    };
    assert!(
        encode(&msg).is_err(),
        "a 300 x 961-byte answer must be over the {MAX_FRAME}-byte cap"
    );
}

// ---- seed generation: `cargo test -p duo-authd-proto --test corpus -- --ignored` ----

/// A string field in the `messages` input format (u16 LE length, repeat byte, bytes).
fn field_string(out: &mut Vec<u8>, s: &str, rep: u8) {
    let len = u16::try_from(s.len()).unwrap();
    out.extend_from_slice(&len.to_le_bytes());
    out.push(rep);
    out.extend_from_slice(s.as_bytes());
}

fn field_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            field_string(out, s, 0);
        }
        None => out.push(0),
    }
}

fn seed_start(
    user: Option<&str>,
    host: Option<&str>,
    ssh: Option<&str>,
    cmd: Option<&str>,
    interactive: bool,
    pass: Option<&str>,
) -> Vec<u8> {
    let mut out = vec![0];
    field_opt(&mut out, user);
    field_opt(&mut out, host);
    field_opt(&mut out, ssh);
    field_opt(&mut out, cmd);
    out.push(u8::from(interactive));
    field_opt(&mut out, pass);
    out
}

fn seed_answer(text: &str, rep: u8) -> Vec<u8> {
    let mut out = vec![1];
    field_string(&mut out, text, rep);
    out
}

fn frames<T: serde::Serialize>(msgs: &[T]) -> Vec<u8> {
    msgs.iter().flat_map(|m| encode(m).unwrap()).collect()
}

/// A menu as the daemon builds it from a `devices` list.
const MENU: &str = "Duo two-factor login for alice\n\n\
    Enter a passcode or select one of the following options:\n\n \
    1. Duo Push to XXX-XXX-0100\n 2. Phone call to XXX-XXX-0100\n\n\
    Passcode or option (1-2): ";

fn start_msg() -> ClientMsg {
    ClientMsg::Start(LoginRequest {
        duo_user: None,
        client_host: None,
        ssh_connection: Some("192.0.2.10 50022 192.0.2.1 22".into()),
        command: None,
        interactive: true,
        env_passcode: None,
        service: None,
    })
}

#[test]
#[ignore = "writes fuzz/corpus/{frame,messages}; run by hand when the protocol changes"]
fn write_seed_corpus() {
    let hello = ClientMsg::Hello {
        version: PROTOCOL_VERSION,
    };
    let start = encode(&start_msg()).unwrap();
    let mut trailing = encode(&ClientMsg::Health).unwrap();
    trailing[3] += 1;
    trailing.push(0);
    let mut over_cap = u32::try_from(MAX_FRAME + 1).unwrap().to_be_bytes().to_vec();
    over_cap.extend_from_slice(&[0; 16]);
    let server_conversation = frames(&[
        ServerMsg::Hello {
            version: PROTOCOL_VERSION,
            daemon_version: "0.1.0".into(),
        },
        ServerMsg::Prompt {
            text: MENU.into(),
            echo: false,
        },
        ServerMsg::Status {
            text: "Pushed a login request to your device...".into(),
            kind: StatusKind::Progress,
        },
        ServerMsg::Decision(Decision {
            verdict: Verdict::Allow,
            reason: Reason::Authenticated,
            message: Some("Success. Logging you in...".into()),
            show_motd: true,
        }),
    ]);
    let health = HealthReport {
        daemon_version: "0.1.0".into(),
        ready: false,
        problems: vec!["Duo unreachable for 120 s".into()],
        uptime_secs: 3600,
        config_path: "/etc/duo/authd.toml".into(),
        config_generation: 2,
        last_reload_error: Some("/etc/duo/authd.toml: prompts: must be 1 to 3".into()),
        duo_host: "api-abcd1234.duosecurity.com".into(),
        duo_last_ok_secs_ago: Some(130),
        duo_last_failure_secs_ago: Some(2),
        duo_last_error: Some("connect timed out".into()),
        duo_requests: 42,
        duo_failures: 3,
        duo_connections_opened: 2,
        clock_offset_secs: -3,
        connections_open: 1,
        logins_in_flight: 0,
        logins_served: 39,
        decisions: vec![("authenticated".into(), 30), ("denied".into(), 9)],
    };
    let frame_seeds: Vec<(&str, Vec<u8>)> = vec![
        ("client_hello.bin", encode(&hello).unwrap()),
        (
            "client_login.bin",
            frames(&[
                hello.clone(),
                start_msg(),
                ClientMsg::Answer { text: "1".into() },
            ]),
        ),
        (
            "client_health.bin",
            frames(&[hello.clone(), ClientMsg::Health]),
        ),
        (
            "client_headless_passcode.bin",
            frames(&[
                hello.clone(),
                ClientMsg::Start(LoginRequest {
                    duo_user: Some("bob@example.com".into()),
                    client_host: Some("2001:db8::7".into()),
                    ssh_connection: None,
                    command: Some("rsync --server -vlogDtpre.iLsfxC . /srv/backup".into()),
                    interactive: false,
                    env_passcode: Some("123456".into()),
                    service: None,
                }),
            ]),
        ),
        ("server_conversation.bin", server_conversation),
        (
            "server_health.bin",
            frames(&[ServerMsg::Health(Box::new(health))]),
        ),
        (
            "server_error.bin",
            frames(&[ServerMsg::Error {
                kind: ErrorKind::VersionMismatch,
                message: "duo-login speaks protocol 2, duo-authd 1".into(),
            }]),
        ),
        (
            "server_deny.bin",
            frames(&[ServerMsg::Decision(Decision {
                verdict: Verdict::Deny,
                reason: Reason::Enroll,
                message: Some(
                    "Please enroll at https://api-abcd1234.duosecurity.com/portal?code=x".into(),
                ),
                show_motd: false,
            })]),
        ),
        ("prefix_4gib.bin", vec![0xff, 0xff, 0xff, 0xff, 0x00]),
        ("prefix_over_cap.bin", over_cap),
        ("truncated_start.bin", start[..start.len() / 2].to_vec()),
        ("truncated_prefix.bin", vec![0x00, 0x00]),
        ("trailing_byte_in_payload.bin", trailing),
        ("unknown_variant.bin", vec![0, 0, 0, 1, 0x09]),
        (
            "overlong_varint.bin",
            vec![0, 0, 0, 7, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
        (
            "answer_invalid_utf8.bin",
            vec![0, 0, 0, 4, 0x02, 0x02, 0xff, 0xfe],
        ),
        (
            "string_len_huge.bin",
            vec![0, 0, 0, 6, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f],
        ),
        ("empty.bin", Vec::new()),
    ];
    let message_seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "start_interactive.bin",
            seed_start(
                None,
                None,
                Some("192.0.2.10 50022 192.0.2.1 22"),
                None,
                true,
                None,
            ),
        ),
        (
            "start_root_flags.bin",
            seed_start(
                Some("alice"),
                Some("198.51.100.7"),
                None,
                Some("uptime"),
                false,
                Some("123456"),
            ),
        ),
        (
            "start_unicode.bin",
            seed_start(
                Some("jörg\u{1b}[2J"),
                None,
                None,
                Some("printf '\u{2713}\\n'"),
                true,
                None,
            ),
        ),
        ("start_oversize_command.bin", {
            let mut s = seed_start(None, None, None, None, false, None);
            s.truncate(4); // selector + three None tags
            s.push(1);
            field_string(&mut s, &"ls -la /var/tmp; ".repeat(20), 0xf0);
            s
        }),
        ("answer.bin", seed_answer("1", 0)),
        ("answer_oversize.bin", seed_answer(&"x".repeat(300), 0xf0)),
        ("hello.bin", vec![2, 1, 0]),
        ("server_prompt.bin", {
            let mut s = vec![3];
            field_string(&mut s, "Passcode or option (1-3): ", 0);
            s.push(0);
            s
        }),
        ("server_status.bin", {
            let mut s = vec![4];
            field_string(&mut s, "Pushed a login request to your device...", 0);
            s
        }),
        ("empty.bin", Vec::new()),
    ];
    for (target, seeds) in [("frame", frame_seeds), ("messages", message_seeds)] {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds {
            fs::write(dir.join(name), data).unwrap();
        }
    }
}
