//! A hand-made protocol client: says exactly what it is told, so tests can act as an attacker the shim would never be.
//!
//! Usage: raw-client SOCKET [--duo-user U] [--version N] [--answer TEXT]...
//!        raw-client SOCKET --hold N SECS    (open N connections, say nothing, keep them SECS seconds)
//!        raw-client SOCKET --flood SECS     (connect and send garbage, again and again, for SECS seconds)
//! Prints one line per frame received (`status ...`, `prompt ...`, `decision allow|deny REASON ...`, `error KIND ...`).

use std::os::unix::net::UnixStream;
use std::time::Duration;

use duo_authd_proto::{
    self as proto, ClientMsg, LoginRequest, ServerMsg, Verdict, PROTOCOL_VERSION,
};

/// Open `n` connections, print `held N`, keep them `secs` seconds.
fn hold(socket: &str, n: usize, secs: u64) {
    let conns: Vec<UnixStream> = (0..n)
        .filter_map(|_| UnixStream::connect(socket).ok())
        .collect();
    println!("held {}", conns.len());
    std::thread::sleep(Duration::from_secs(secs));
    drop(conns);
}

/// Connect and send a frame of garbage, over and over, for `secs` seconds; print how many times.
fn flood(socket: &str, secs: u64) {
    use std::io::Write;
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    let mut n = 0u64;
    while std::time::Instant::now() < end {
        if let Ok(mut s) = UnixStream::connect(socket) {
            let _ = s.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]);
            n += 1;
        }
    }
    println!("flooded {n}");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(socket) = args.next() else {
        eprintln!("usage: raw-client SOCKET [--duo-user U] [--version N] [--answer TEXT]...");
        std::process::exit(2);
    };
    let (mut duo_user, mut version, mut answers) = (None, PROTOCOL_VERSION, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--hold" => {
                let n = args.next().and_then(|v| v.parse().ok()).unwrap_or(1);
                let secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(10);
                hold(&socket, n, secs);
                return;
            }
            "--flood" => {
                let secs = args.next().and_then(|v| v.parse().ok()).unwrap_or(3);
                flood(&socket, secs);
                return;
            }
            "--duo-user" => duo_user = args.next(),
            "--version" => version = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            "--answer" => answers.extend(args.next()),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let mut s = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e) => {
            println!("connect-failed {e}");
            std::process::exit(3);
        }
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let send = |s: &mut UnixStream, m: &ClientMsg| {
        if let Err(e) = proto::write_frame(s, m) {
            println!("write-failed {e}");
            std::process::exit(3);
        }
    };
    send(&mut s, &ClientMsg::Hello { version });
    let start = ClientMsg::Start(LoginRequest {
        duo_user,
        client_host: None,
        ssh_connection: None,
        command: None,
        interactive: !answers.is_empty(),
        env_passcode: None,
        service: None,
    });
    let mut answers = answers.into_iter();
    let mut started = false;
    loop {
        match proto::read_frame::<_, ServerMsg>(&mut s) {
            Ok(ServerMsg::Hello { .. }) if !started => {
                started = true;
                println!("hello");
                send(&mut s, &start);
            }
            Ok(ServerMsg::Status { text, .. }) => println!("status {}", text.escape_debug()),
            Ok(ServerMsg::Prompt { text, .. }) => {
                println!("prompt {}", text.escape_debug());
                let a = answers.next().unwrap_or_default();
                send(&mut s, &ClientMsg::Answer { text: a });
            }
            Ok(ServerMsg::Decision(d)) => {
                let v = if d.verdict == Verdict::Allow {
                    "allow"
                } else {
                    "deny"
                };
                println!(
                    "decision {v} {} {}",
                    d.reason.as_str(),
                    d.message.unwrap_or_default().escape_debug()
                );
                std::process::exit(if d.verdict == Verdict::Allow { 0 } else { 1 });
            }
            Ok(ServerMsg::Error { kind, message }) => {
                println!("error {kind:?} {}", message.escape_debug());
                std::process::exit(4);
            }
            Ok(other) => println!("other {other:?}"),
            Err(e) => {
                println!("closed {e}");
                std::process::exit(5);
            }
        }
    }
}
