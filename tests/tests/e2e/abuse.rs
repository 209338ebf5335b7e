//! The attacker's view: push floods, connection floods, misbehaving and vanishing clients, fake daemons,
//! forged client addresses and broken TLS; the daemon must keep serving honest logins and leak nothing.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use duo_authd_proto::{self as proto, ClientMsg, ErrorKind, ServerMsg};
use duo_authd_tests::mock::CertKind;

use crate::common::*;
use crate::require_root;

/// The secret key every daemon in these tests signs with (public test data, but the daemon must treat it as secret).
const SKEY: &str = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";
/// The secret key of `DaemonOptions::wrong_skey` daemons.
const WRONG_SKEY: &str = "wrongwrongwrongwrongwrongwrongwrongwrong";

/// Create (or find) a local test user, retrying while another test holds the passwd lock.
fn test_user(name: &str) -> (u32, u32) {
    for _ in 0..20 {
        if let Some(ids) = harness::ensure_user(name) {
            return ids;
        }
        thread::sleep(Duration::from_millis(250));
    }
    panic!("could not create the test user {name}");
}

/// Poll `f` until it holds or `timeout` passes; true if it held.
fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Daemon log lines that contain every one of `needles`.
fn log_lines(d: &DaemonProc, needles: &[&str]) -> usize {
    d.log_text()
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .count()
}

/// Raise this process's open-file soft limit to at least `want` (capped by the hard limit).
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on our own process with a valid, initialised struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let target = (want as libc::rlim_t).min(lim.rlim_max);
        if lim.rlim_cur < target {
            lim.rlim_cur = target;
            assert_eq!(
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim),
                0,
                "setrlimit(RLIMIT_NOFILE, {target})"
            );
        }
    }
}

/// Read until EOF, waiting at most `t`; Err if the peer kept the connection open.
fn read_to_eof(s: &mut UnixStream, t: Duration) -> std::io::Result<Vec<u8>> {
    s.set_read_timeout(Some(t))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    Ok(buf)
}

/// The first frame in `bytes`, if they hold a whole server message.
fn first_server_msg(bytes: &[u8]) -> Option<ServerMsg> {
    proto::read_frame::<_, ServerMsg>(&mut &bytes[..]).ok()
}

/// A headless root login with `-d`, so the shim says as much as it can (for leak checks).
fn debug_login(d: &DaemonProc, user: &str, passcode: Option<&str>) -> Output {
    let mut c = d.shim();
    c.args(["-d", "-f", user, "echo", "LOGGED-IN"]);
    if let Some(p) = passcode {
        c.env("DUO_PASSCODE", p);
    }
    harness::run_with_timeout(c, T)
}

#[test]
fn burst_of_logins_sends_one_push() {
    require_root!();
    let mock = MockDuo::start(MockOptions {
        push_delay: Duration::from_secs(2),
        ..MockOptions::default()
    })
    .expect("mock starts");
    // A high window cap, so only the one-in-flight rule is exercised here.
    let d = DaemonProc::start(&mock, DaemonOptions::default().authd("push_limit = 100"));
    let n = 10;
    let gate = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let mut c = d.shim();
            c.args(["-f", "push-user", "echo", "LOGGED-IN"]);
            let gate = gate.clone();
            thread::spawn(move || {
                gate.wait();
                harness::run_with_timeout(c, Duration::from_secs(60))
            })
        })
        .collect();
    let outs: Vec<Output> = handles
        .into_iter()
        .map(|h| h.join().expect("login thread"))
        .collect();

    let s = mock.stats();
    assert_eq!(
        s.max_concurrent_pushes_by_user.get("push-user"),
        Some(&1),
        "more than one push was pending at once: {s:?}\n{}",
        d.log_text()
    );
    let allowed = outs.iter().filter(|o| o.status.code() == Some(0)).count();
    let denied: Vec<&Output> = outs.iter().filter(|o| o.status.code() == Some(1)).collect();
    assert_eq!(
        allowed + denied.len(),
        n,
        "every login ends in allow or deny"
    );
    assert!(allowed >= 1, "the first push should be approved");
    assert_eq!(
        s.pushes_by_user.get("push-user").copied().unwrap_or(0),
        allowed as u64,
        "one push per allowed login, none for the refused ones"
    );
    // On any sane machine the 10 logins all overlap the 2 s push; allow a straggler or two.
    assert!(
        denied.len() >= n - 3,
        "only {} of {n} concurrent logins were refused",
        denied.len()
    );
    for o in &denied {
        assert!(
            stderr(o).contains("already waiting"),
            "refused login does not name the fatigue guard: {}",
            stderr(o)
        );
        assert!(!stdout(o).contains("LOGGED-IN"));
    }
    assert_eq!(
        log_lines(
            &d,
            &["Aborted Duo login for 'push-user'", "reason=rate_limited"]
        ),
        denied.len(),
        "one rate_limited audit line per refused login:\n{}",
        d.log_text()
    );
}

#[test]
fn push_window_limit() {
    require_root!();
    let (mock, d) = setup(
        DaemonOptions::default()
            .authd("push_limit = 2")
            .authd("push_window = 600"),
    );
    // Approved pushes do not count: a user who approves their own scp runs is never locked out.
    for _ in 0..4 {
        assert_allowed(&login_as(&d, "push-user"), &d);
    }
    // Pushes that are refused do: the third one in the window is not sent.
    assert_denied(&login_as(&d, "push-deny-user"), &d);
    assert_denied(&login_as(&d, "push-deny-user"), &d);
    let o = login_as(&d, "push-deny-user");
    assert_denied(&o, &d);
    assert!(
        stderr(&o).contains("Too many login attempts"),
        "{}",
        stderr(&o)
    );
    let s = mock.stats();
    assert_eq!(s.pushes_by_user.get("push-user"), Some(&4), "{s:?}");
    assert_eq!(s.pushes_by_user.get("push-deny-user"), Some(&2), "{s:?}");
    assert_eq!(
        log_lines(&d, &["'push-deny-user'", "reason=rate_limited"]),
        1,
        "{}",
        d.log_text()
    );
    // SIGHUP applies a new limit (the counts survive the reload).
    let text = std::fs::read_to_string(&d.config)
        .unwrap()
        .replace("push_limit = 2", "push_limit = 3");
    d.rewrite_config(&text);
    d.signal(libc::SIGHUP);
    assert!(
        wait_until(T, || d.health().1["config_generation"] == 2),
        "{}",
        d.log_text()
    );
    assert_denied(&login_as(&d, "push-deny-user"), &d);
    assert_eq!(mock.stats().pushes_by_user.get("push-deny-user"), Some(&3));
    let o = login_as(&d, "push-deny-user");
    assert!(
        stderr(&o).contains("Too many login attempts"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn socket_limits_hold_under_misbehaving_clients() {
    require_root!();
    raise_nofile(8192);
    let (_mock, d) = setup(
        DaemonOptions::default()
            .authd("max_connections = 3000")
            .authd("max_connections_per_uid = 3000")
            .authd("first_frame_timeout = 2"),
    );

    // (a) 2,000 clients that connect and never send a byte.
    let opened = Instant::now();
    let mut idle: Vec<UnixStream> = (0..2000)
        .map(|i| {
            UnixStream::connect(&d.socket)
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}\n{}", d.log_text()))
        })
        .collect();
    // (b) a 4 GiB length prefix.
    let mut big = UnixStream::connect(&d.socket).expect("connect");
    big.write_all(&[0xff, 0xff, 0xff, 0xff]).expect("write");
    // (c) a frame of bytes that decode to nothing.
    let mut junk = UnixStream::connect(&d.socket).expect("connect");
    junk.write_all(&[0, 0, 0, 6, 0xde, 0xad, 0xbe, 0xef, 0x99, 0x42])
        .expect("write");
    // (d) a client that trickles one byte every 300 ms and would never finish its 1000-byte frame.
    let sock = d.socket.clone();
    let trickler = thread::spawn(move || {
        let mut s = UnixStream::connect(&sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let start = Instant::now();
        let mut bytes = 1000u32.to_be_bytes().to_vec();
        bytes.resize(1004, 0);
        for b in bytes {
            if s.write_all(&[b]).is_err() {
                return (start.elapsed(), true);
            }
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => return (start.elapsed(), true),
                // The daemon's Timeout error frame; EOF follows.
                Ok(_) => {}
                Err(_) => {}
            }
            if start.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        (start.elapsed(), false)
    });

    // Meanwhile a real login still goes through promptly.
    let t0 = Instant::now();
    let o = login_as(&d, "push-user");
    let took = t0.elapsed();
    assert_allowed(&o, &d);
    assert!(
        took < Duration::from_secs(15),
        "login took {took:?} under the flood"
    );

    // The idle clients are closed after first_frame_timeout (with at most a Timeout error frame first).
    let mut first_eof = None;
    for (i, s) in idle.iter_mut().enumerate() {
        let got = read_to_eof(s, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("idle connection {i} was not closed: {e}"));
        first_eof.get_or_insert_with(|| opened.elapsed());
        if !got.is_empty() {
            assert!(
                matches!(
                    first_server_msg(&got),
                    Some(ServerMsg::Error {
                        kind: ErrorKind::Timeout,
                        ..
                    })
                ),
                "idle connection {i} got {got:?}"
            );
        }
    }
    let first_eof = first_eof.unwrap_or_default();
    assert!(
        first_eof >= Duration::from_millis(1500),
        "idle clients were cut after {first_eof:?}, before first_frame_timeout"
    );
    assert!(
        opened.elapsed() < Duration::from_secs(40),
        "closing 2000 idle clients took {:?}",
        opened.elapsed()
    );
    drop(idle);

    for (what, s) in [("4 GiB prefix", &mut big), ("garbage", &mut junk)] {
        let got = read_to_eof(s, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{what} client was not closed: {e}"));
        if !got.is_empty() {
            assert!(
                matches!(
                    first_server_msg(&got),
                    Some(ServerMsg::Error {
                        kind: ErrorKind::Malformed,
                        ..
                    })
                ),
                "{what} client got {got:?}"
            );
        }
    }

    let (cut_after, cut) = trickler.join().expect("trickler");
    assert!(cut, "the trickling client was never cut off");
    assert!(
        cut_after >= Duration::from_millis(1500) && cut_after < Duration::from_secs(15),
        "the trickling client was cut after {cut_after:?} (first_frame_timeout is 2 s)"
    );

    // Everything is back to normal afterwards.
    assert_allowed(&login_as(&d, "allow-user"), &d);
    assert!(
        wait_until(Duration::from_secs(10), || d.health().1["connections_open"]
            == 1),
        "connections left open: {}",
        d.health().1
    );
}

#[test]
fn per_uid_connection_cap() {
    require_root!();
    let (uid, gid) = test_user("duoabuse3");
    let (mock, d) = setup(
        DaemonOptions::default()
            .authd("max_connections_per_uid = 5")
            .authd("first_frame_timeout = 60"),
    );
    // Root holds its 5 slots with silent connections.
    let held: Vec<UnixStream> = (0..5)
        .map(|_| UnixStream::connect(&d.socket).expect("connect"))
        .collect();
    // The 6th from the same uid is told Busy and closed.
    let mut sixth = UnixStream::connect(&d.socket).expect("connect");
    let got = read_to_eof(&mut sixth, Duration::from_secs(20)).expect("6th connection closed");
    assert!(
        matches!(
            first_server_msg(&got),
            Some(ServerMsg::Error {
                kind: ErrorKind::Busy,
                ..
            })
        ),
        "6th connection got {got:?}"
    );
    // A root login is refused: Busy denies, even with --failmode safe (finding 3: holding the
    // per-uid slots used to turn the next login into a failsafe shell).
    let o = login_as(&d, "push-user");
    assert_denied(&o, &d);
    assert!(
        stderr(&o).contains("too many connections"),
        "{}",
        stderr(&o)
    );
    let o = d.run_headless(&["--failmode", "safe", "-f", "push-user", "echo", "LOGGED-IN"]);
    assert_denied(&o, &d);
    assert_eq!(mock.stats().auth_by_user.get("push-user"), None);
    // Another uid is unaffected.
    let mut c = d.shim();
    c.uid(uid).gid(gid).args(["echo", "LOGGED-IN"]);
    let o = harness::run_with_timeout(c, T);
    assert_allowed(&o, &d);
    assert!(
        d.log_text().contains("uid already has 5 open"),
        "{}",
        d.log_text()
    );
    // Releasing the slots lets root in again.
    drop(held);
    assert!(
        wait_until(T, || login_as(&d, "allow-user").status.code() == Some(0)),
        "root stayed locked out after closing its connections:\n{}",
        d.log_text()
    );
}

#[test]
fn hanging_up_mid_push_keeps_the_slot_until_duo_resolves_it() {
    require_root!();
    // Attacker: start a push to the victim, hang up, start another one... Each must wait until
    // Duo has resolved the first. A long push, so "the slot was kept" is not "the push finished".
    let mock = MockDuo::start(MockOptions {
        push_delay: Duration::from_secs(4),
        ..MockOptions::default()
    })
    .expect("mock starts");
    let d = DaemonProc::start(&mock, DaemonOptions::default());

    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    proto::write_frame(
        &mut s,
        &ClientMsg::Hello {
            version: proto::PROTOCOL_VERSION,
        },
    )
    .expect("hello");
    let hello: ServerMsg = proto::read_frame(&mut s).expect("hello reply");
    assert!(matches!(hello, ServerMsg::Hello { .. }), "{hello:?}");
    proto::write_frame(
        &mut s,
        &ClientMsg::Start(harness::headless_request("push-user")),
    )
    .expect("start");
    assert!(
        wait_until(T, || mock.stats().pushes_by_user.get("push-user")
            == Some(&1)),
        "the push never started:\n{}",
        d.log_text()
    );
    drop(s);
    let dropped = Instant::now();

    // While Duo still waits on the first push, a new login is refused without a second push.
    let o = login_as(&d, "push-user");
    assert_denied(&o, &d);
    assert!(stderr(&o).contains("already waiting"), "{}", stderr(&o));
    assert_eq!(mock.stats().pushes_by_user.get("push-user"), Some(&1));

    // Once Duo resolved it, nothing is left behind and the audit says what happened.
    assert!(
        wait_until(Duration::from_secs(15), || {
            let (code, h) = d.health();
            // The health query's own connection is the only one left.
            code == 0 && h["logins_in_flight"] == 0 && h["connections_open"] == 1
        }),
        "the abandoned login never ended: {}\n{}",
        d.health().1,
        d.log_text()
    );
    assert!(
        dropped.elapsed() >= Duration::from_secs(2),
        "the slot was freed before Duo resolved the push"
    );
    assert_eq!(
        log_lines(&d, &["'push-user'", "reason=aborted", "client left"]),
        1,
        "{}",
        d.log_text()
    );
    let o = login_as(&d, "push-user");
    assert_allowed(&o, &d);
    assert_eq!(mock.stats().pushes_by_user.get("push-user"), Some(&2));
}

#[test]
fn secrets_never_reach_logs_or_health() {
    require_root!();
    if std::env::var_os("RUST_LOG").is_some() {
        eprintln!("note: RUST_LOG is set and overrides the daemon's trace level");
    }
    let mut opts = DaemonOptions::default().top("accept_env_factor = true");
    opts.log_level = "trace".into();
    let (mock, d) = setup(opts.clone());

    let mut shim_text = String::new();
    let mut keep = |o: &Output| {
        shim_text.push_str(&stdout(o));
        shim_text.push_str(&stderr(o));
    };
    let o = debug_login(&d, "allow-user", None);
    assert_allowed(&o, &d);
    keep(&o);
    let o = debug_login(&d, "push-user", None);
    assert_allowed(&o, &d);
    keep(&o);
    let o = debug_login(&d, "fail5xx-user", None);
    assert_allowed(&o, &d); // failmode safe
    keep(&o);
    let o = debug_login(&d, "sms-user", Some("123456"));
    assert_allowed(&o, &d);
    keep(&o);
    assert!(
        mock.stats().last_params["/auth/v2/auth"]
            .values()
            .any(|v| v == "123456"),
        "the passcode did not reach Duo"
    );
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["health", "--json", "--socket"]).arg(&d.socket);
    let h = harness::run_with_timeout(c, T);
    keep(&h);

    // A daemon whose key Duo rejects must not print the key it tried either.
    let mut wrong = opts;
    wrong.wrong_skey = true;
    let dw = DaemonProc::start(&mock, wrong);
    let o = debug_login(&dw, "push-user", None);
    assert_allowed(&o, &dw); // failmode safe
    keep(&o);
    assert!(dw.log_text().contains("401"), "{}", dw.log_text());

    let log = d.log_text();
    let wlog = dw.log_text();
    if std::env::var_os("RUST_LOG").is_none() {
        assert!(log.contains("TRACE"), "trace logging is not on:\n{log}");
    }
    for secret in [SKEY, WRONG_SKEY, "123456"] {
        assert!(!log.contains(secret), "{secret} in the daemon log:\n{log}");
        assert!(
            !wlog.contains(secret),
            "{secret} in the daemon log:\n{wlog}"
        );
        assert!(
            !shim_text.contains(secret),
            "{secret} in the shim/health output:\n{shim_text}"
        );
    }

    // No core files: they would hold the key.
    for proc in [&d, &dw] {
        let pid = proc.child.as_ref().map(|c| c.id()).expect("daemon pid");
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .expect("core limit line");
        let fields: Vec<&str> = core
            .trim_start_matches("Max core file size")
            .split_whitespace()
            .collect();
        assert_eq!(&fields[..2], ["0", "0"], "core dumps allowed: {core}");
    }
}

/// Make `l` report `uid` as its owner to connecting clients: re-`listen(2)` it in a child that runs as `uid`
/// (Linux records the credentials of the last `listen` caller), so it behaves like a daemon started by that user.
fn listen_as(l: &UnixListener, uid: u32, gid: u32) {
    let fd = l.as_raw_fd();
    let mut c = Command::new("/bin/true");
    c.uid(uid).gid(gid);
    // SAFETY: the closure runs in the forked child after the uid change and only calls listen(2), which is
    // async-signal-safe, on a descriptor the child inherited.
    unsafe {
        c.pre_exec(move || {
            if libc::listen(fd, 16) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let st = c.status().expect("spawn the listen helper");
    assert!(st.success(), "listen as uid {uid} failed: {st}");
}

/// The shim checks the socket's owner and its peer only once connected (session.rs `connect`), and sends
/// nothing before both pass: the fake saw at most one connection, and not a byte on it.
fn assert_silent_connect(fake: &UnixListener) {
    match fake.accept() {
        Ok((mut conn, _)) => {
            conn.set_nonblocking(false).expect("blocking");
            let got = read_to_eof(&mut conn, Duration::from_secs(10)).expect("the shim hung up");
            assert!(
                got.is_empty(),
                "the fake daemon received {} bytes (Hello/Start)",
                got.len()
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => panic!("accept on the fake socket: {e}"),
    }
    match fake.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the shim connected more than once: {other:?}"),
    }
}

#[test]
fn shim_refuses_a_fake_daemon() {
    require_root!();
    let (uid, gid) = test_user("duofake");
    let (mock, d) = setup(DaemonOptions::default());
    let dir = tempfile::Builder::new()
        .prefix("duo-fake")
        .tempdir()
        .expect("tempdir");
    let run_shim = |sock: &std::path::Path| {
        let mut c = Command::new(harness::bin("duo-login"));
        // --failmode safe: an untrusted socket is a sign of attack and denies in both modes;
        // -d shows the reason on stderr (otherwise it goes only to syslog).
        c.arg("-s")
            .arg(sock)
            .args([
                "-d",
                "--failmode",
                "safe",
                "-f",
                "push-user",
                "echo",
                "LOGGED-IN",
            ])
            .env_remove("SSH_ORIGINAL_COMMAND")
            .env_remove("SSH_CONNECTION")
            .env_remove("DUO_PASSCODE");
        harness::run_with_timeout(c, T)
    };

    // 1. A daemon run by duofake: its socket is duofake's and so is the listening process.
    let fake_path = dir.path().join("fake.sock");
    let fake = UnixListener::bind(&fake_path).expect("bind");
    std::os::unix::fs::chown(&fake_path, Some(uid), Some(gid)).expect("chown");
    listen_as(&fake, uid, gid);
    fake.set_nonblocking(true).expect("nonblocking");
    let o = run_shim(&fake_path);
    assert_denied(&o, &d);
    assert!(stderr(&o).contains("unavailable"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("owned by uid {uid}")),
        "{}",
        stderr(&o)
    );
    // The owner is checked before connecting: the fake never even sees a connection.
    assert!(
        matches!(fake.accept(), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the shim connected to a socket it should have refused by its owner"
    );

    // 2. A root-owned socket node but a listener running as duofake: the peer-credential check catches it,
    //    after connecting but before sending a single byte.
    let fake2_path = dir.path().join("fake2.sock");
    let fake2 = UnixListener::bind(&fake2_path).expect("bind");
    listen_as(&fake2, uid, gid);
    let o = run_shim(&fake2_path);
    assert_denied(&o, &d);
    assert!(stderr(&o).contains("unavailable"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("runs as uid {uid}")),
        "{}",
        stderr(&o)
    );
    fake2.set_nonblocking(true).expect("nonblocking");
    assert_silent_connect(&fake2);

    // 3. A symlink to the real socket, and a regular file, are refused.
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&d.socket, &link).expect("symlink");
    let o = run_shim(&link);
    assert_denied(&o, &d);
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    let file = dir.path().join("plain");
    std::fs::write(&file, b"").expect("write");
    let o = run_shim(&file);
    assert_denied(&o, &d);
    assert!(stderr(&o).contains("not a socket"), "{}", stderr(&o));
    assert_eq!(
        mock.stats().by_path.get("/auth/v2/preauth"),
        None,
        "a refused socket still led to a Duo request"
    );
}

#[test]
fn tls_failures_are_connection_failures() {
    require_root!();
    for cert in [CertKind::Expired, CertKind::WrongName, CertKind::SelfSigned] {
        for (mode, allow, phrase) in [
            ("secure", false, "Failsecure Duo login"),
            ("safe", true, "Failsafe Duo login"),
        ] {
            let mock = MockDuo::start(MockOptions {
                cert,
                ..MockOptions::default()
            })
            .expect("mock starts");
            let d = DaemonProc::start(
                &mock,
                DaemonOptions::default().top(&format!("failmode = \"{mode}\"")),
            );
            let o = login_as(&d, "push-user");
            if allow {
                assert_allowed(&o, &d);
            } else {
                assert_denied(&o, &d);
            }
            let log = d.log_text();
            assert!(log.contains(phrase), "{cert:?}/{mode}: no {phrase}:\n{log}");
            let lower = log.to_lowercase();
            assert!(
                // login_duo's words lead ("Couldn't connect to HOST: certificate verify failed"
                // or "Certificate name validation failed"), ours follow.
                lower.contains("couldn't connect") && lower.contains("certificate"),
                "{cert:?}/{mode}: the log does not name the certificate problem:\n{log}"
            );
            assert_eq!(mock.stats().requests, 0, "{cert:?}: a request went through");
        }
    }
}

#[test]
fn unauthenticated_client_cannot_pick_user_with_h() {
    require_root!();
    let (uid, gid) = test_user("duoabuse8");
    let (mock, d) = setup(DaemonOptions::default());
    let forged = "203.0.113.9";

    let mut c = d.shim();
    c.uid(uid)
        .gid(gid)
        .args(["-h", forged, "echo", "LOGGED-IN"]);
    let o = harness::run_with_timeout(c, T);
    assert_allowed(&o, &d);
    let ip = |mock: &MockDuo| {
        mock.stats().last_params["/auth/v2/preauth"]
            .get("ipaddr")
            .cloned()
    };
    let p = mock.stats().last_params["/auth/v2/preauth"].clone();
    assert_eq!(
        p.get("username").map(String::as_str),
        Some("duoabuse8"),
        "{p:?}"
    );
    assert_ne!(
        ip(&mock).as_deref(),
        Some(forged),
        "a non-root -h reached Duo"
    );
    assert!(
        log_lines(&d, &["duoabuse8", forged]) == 0,
        "the forged address was audited:\n{}",
        d.log_text()
    );

    // As root, -h is honoured.
    let o = d.run_headless(&["-f", "push-user", "-h", forged, "echo", "LOGGED-IN"]);
    assert_allowed(&o, &d);
    assert_eq!(ip(&mock).as_deref(), Some(forged));
}
