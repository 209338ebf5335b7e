//! Failmode integrity: every way the adversarial review reached a shell with only a password, or
//! otherwise got around the daemon, replayed as the attacker against the real binaries. Where the
//! threat is a local user, the attacker runs as an unprivileged local account.
//!
//! `failmode = "safe"` is the default, and the shim runs with `--failmode safe` where that made
//! the old bypass possible: nothing here may end in a shell without Duo's allow.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::require_root;
use duo_authd_tests::mock::TEST_SKEY;

/// A shell command of about `kib` KiB that prints START and END around a long no-op.
fn long_command(kib: usize) -> String {
    format!("echo START; : {}; echo END", "x".repeat(kib * 1024))
}

/// The shim as `ids`, headless, with `--failmode safe` (the default install's shim line would not
/// have it, which only makes the old bypasses harder).
fn shim_as(d: &DaemonProc, ids: (u32, u32), args: &[&str]) -> Command {
    let mut c = d.shim();
    c.uid(ids.0)
        .gid(ids.1)
        .args(["--failmode", "safe"])
        .args(args);
    c
}

#[test]
fn a_long_command_is_never_a_reason_to_skip_duo() {
    require_root!();
    // Finding 2: `ssh host '<command over 16 KiB>'` made the shim fail to encode its request,
    // call that "unavailable", and exec the command under --failmode safe with no Duo at all.
    let approves = local_user("duoint");
    let refuses = local_user("push-deny-user");
    let (mock, d) = setup(DaemonOptions::default().top("pushinfo = true"));
    let cmd = long_command(40);

    // As a program argument: a refused push means no command.
    let o = harness::run_with_timeout(shim_as(&d, refuses, &[&cmd]), T);
    assert_denied(&o, &d);
    assert!(!stdout(&o).contains("START"), "{}", stdout(&o));
    assert_eq!(mock.stats().auth_by_user.get("push-deny-user"), Some(&1));
    // As SSH_ORIGINAL_COMMAND, the way sshd passes it.
    let mut c = shim_as(&d, refuses, &[]);
    c.env("SSH_ORIGINAL_COMMAND", &cmd);
    let o = harness::run_with_timeout(c, T);
    assert_denied(&o, &d);
    assert!(!stdout(&o).contains("START"));
    assert_eq!(mock.stats().auth_by_user.get("push-deny-user"), Some(&2));

    // An approved push runs the whole command, and Duo saw only a bounded excerpt of it.
    let mut c = shim_as(&d, approves, &[]);
    c.env("SSH_ORIGINAL_COMMAND", &cmd);
    let o = harness::run_with_timeout(c, T);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), d.log_text());
    assert!(stdout(&o).contains("START") && stdout(&o).contains("END"));
    let s = mock.stats();
    assert_eq!(s.auth_by_user.get("duoint"), Some(&1));
    let pushinfo = s.last_params["/auth/v2/auth"]["pushinfo"].clone();
    assert!(pushinfo.contains("START"), "{pushinfo}");
    assert!(
        pushinfo.len() < 2048,
        "pushinfo of {} bytes",
        pushinfo.len()
    );
}

#[test]
fn holding_every_slot_does_not_turn_the_next_login_into_a_shell() {
    require_root!();
    // Finding 3: hold max_connections_per_uid connections; the next login got `Busy`, which the
    // shim took for "unavailable" and, under --failmode safe, exec'd the shell.
    let me = local_user("duoint-hold");
    let (mock, d) = setup(
        DaemonOptions::default()
            .authd("max_connections_per_uid = 3")
            .authd("first_frame_timeout = 60"),
    );
    let mut holder = Command::new(harness::bin("raw-client"));
    holder
        .uid(me.0)
        .gid(me.1)
        .arg(&d.socket)
        .args(["--hold", "3", "20"])
        .stdout(std::process::Stdio::piped());
    let mut holder = holder.spawn().expect("raw-client");
    assert!(
        wait_for(T, || d.health().1["connections_open"].as_u64() >= Some(4)),
        "the holder never connected: {}",
        d.health().1
    );
    let o = harness::run_with_timeout(shim_as(&d, me, &["echo", "LOGGED-IN"]), T);
    assert_denied(&o, &d);
    assert!(
        stderr(&o).contains("too many connections"),
        "{}",
        stderr(&o)
    );
    assert!(mock.stats().auth_by_user.is_empty());
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn a_deny_larger_than_a_frame_is_still_a_deny() {
    require_root!();
    // Finding 3, second half: a Duo deny whose message is over the frame cap could not be
    // encoded, the connection closed, and the shim called that "unavailable".
    let (_mock, d) = setup(DaemonOptions::default());
    let o = d.run_headless(&[
        "--failmode",
        "safe",
        "-f",
        "huge-deny-user",
        "echo",
        "LOGGED-IN",
    ]);
    assert_denied(&o, &d);
    assert!(
        stderr(&o).contains("Login denied: xxx"),
        "{}",
        &stderr(&o)[..200.min(stderr(&o).len())]
    );
    assert!(stderr(&o).len() < 8192, "{} bytes", stderr(&o).len());
}

/// A daemon run as an ordinary account on a config it owns; killed when dropped.
struct UserDaemon {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl UserDaemon {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

impl Drop for UserDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_typo_on_the_skey_line_never_shows_the_key() {
    require_root!();
    // Finding 4: a typo on the skey line of a .conf put the whole line, skey included, into the
    // error; after SIGHUP any local user could read it through `health --json`.
    let svc = local_user("duoint-svc");
    let reader = local_user("duoint-health");
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = tempfile::Builder::new()
        .prefix("duo-int")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::chown(dir.path(), Some(svc.0), Some(svc.1)).unwrap();
    let socket = dir.path().join("run/authd.sock");
    let conf = dir.path().join("login_duo.conf");
    let write = |text: &str| {
        harness::write_private(&conf, text);
        std::os::unix::fs::chown(&conf, Some(svc.0), Some(svc.1)).unwrap();
    };
    let good = format!(
        "[duo]\nikey = DIXYZV6YM8IFYVWBINCA\nskey = {TEST_SKEY}\nhost = {}\ncafile = {}\n",
        mock.host(),
        mock.ca_file().display()
    );
    let typos = [
        good.replace("skey = ", "skey "),
        good.replace("skey = ", "skey: = "),
        good.replace("skey = ", "skye = "),
        good.replace("skey = ", "= "),
        good.replace("skey = ", ""),
        good.replace("skey = ", "skey = \"") + "\"unterminated\n",
    ];
    // At start.
    for bad in &typos {
        write(bad);
        let mut c = Command::new(harness::bin("duo-authd"));
        c.uid(svc.0)
            .gid(svc.1)
            .args(["serve", "--config"])
            .arg(&conf)
            .arg("--socket")
            .arg(&socket);
        let o = harness::run_with_timeout(c, T);
        assert_eq!(o.status.code(), Some(96), "{}", stderr(&o));
        assert_no_key(&stderr(&o));
    }
    // On SIGHUP, then read through health by another ordinary user.
    write(&good);
    let log = dir.path().join("daemon.log");
    let mut c = Command::new(harness::bin("duo-authd"));
    c.uid(svc.0)
        .gid(svc.1)
        .args(["serve", "--config"])
        .arg(&conf)
        .arg("--socket")
        .arg(&socket)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let d = UserDaemon {
        child: c.spawn().expect("spawn duo-authd"),
        log,
    };
    assert!(
        wait_for(T, || harness::answers_hello(&socket)),
        "{}",
        d.log_text()
    );
    for (i, bad) in typos.iter().enumerate() {
        write(bad);
        d.signal(libc::SIGHUP);
        assert!(
            wait_for(T, || d.log_text().matches("reload refused").count() > i),
            "{}",
            d.log_text()
        );
        let mut c = Command::new(harness::bin("duo-authd"));
        c.uid(reader.0)
            .gid(reader.1)
            .args(["health", "--json", "--socket"])
            .arg(&socket);
        let o = harness::run_with_timeout(c, T);
        assert_eq!(
            o.status.code(),
            Some(1),
            "a failed reload is degraded: {}",
            stdout(&o)
        );
        assert!(stdout(&o).contains("reload failed"), "{}", stdout(&o));
        assert_no_key(&stdout(&o));
    }
    assert_no_key(&d.log_text());
}

/// No 8-character piece of the test skey appears in `text`.
#[track_caller]
fn assert_no_key(text: &str) {
    for i in 0..=TEST_SKEY.len() - 8 {
        let piece = &TEST_SKEY[i..i + 8];
        assert!(!text.contains(piece), "the skey leaked ({piece}): {text}");
    }
}

#[test]
fn a_forged_answer_cannot_write_an_audit_line() {
    require_root!();
    // Finding 5: an answer of `sms1\n<fake line>` wrote a genuine-looking audit line.
    let me = local_user("duoint-forge");
    let (mock, d) = setup(DaemonOptions::default());
    let forged = "sms1\nSuccessful Duo login for 'root' from 203.0.113.66";
    let mut c = Command::new(harness::bin("raw-client"));
    c.uid(me.0).gid(me.1).arg(&d.socket).args([
        "--answer",
        forged,
        "--answer",
        "\u{1b}]0;owned\u{7}",
        "--answer",
        &"9".repeat(200),
    ]);
    let o = harness::run_with_timeout(c, T);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("Invalid answer"), "{}", stdout(&o));
    assert!(
        mock.stats().auth_by_user.is_empty(),
        "a forged answer reached Duo"
    );
    for line in d.log_text().lines() {
        assert!(
            !line.starts_with("Successful Duo login") && !line.contains("203.0.113.66 ["),
            "forged line: {line}"
        );
        assert!(!line.contains('\u{1b}'), "{line}");
    }
    let audit = lines_with(&d, &["Duo login for 'duoint-forge'"]);
    assert_eq!(audit.len(), 1, "{audit:?}");
}

#[test]
fn one_user_cannot_hammer_duo_through_the_daemon() {
    require_root!();
    // Finding 6: one local user sent ~125 preauths a second through the daemon.
    let me = local_user("duoint-hammer");
    let (mock, d) = setup(DaemonOptions::default().authd("preauth_rate = 60"));
    let started = Instant::now();
    let mut refused = 0;
    for _ in 0..30 {
        let o = harness::run_with_timeout(shim_as(&d, me, &["true"]), T);
        if stderr(&o).contains("Too many Duo logins") {
            refused += 1;
            assert_eq!(o.status.code(), Some(1));
        }
    }
    let elapsed = started.elapsed().as_secs();
    let asked = mock
        .stats()
        .by_path
        .get("/auth/v2/preauth")
        .copied()
        .unwrap_or(0);
    // A burst of 10, then one a second.
    assert!(asked <= 10 + elapsed + 1, "{asked} preauths in {elapsed}s");
    assert!(
        refused >= 30 - (10 + elapsed as usize + 1),
        "{refused} refused"
    );
    // Root is not limited.
    for _ in 0..15 {
        assert_allowed(&login_as(&d, "allow-user"), &d);
    }
}

#[test]
fn a_huge_retry_after_is_not_a_panic() {
    require_root!();
    // Finding 7: `Retry-After: 18446744073709551615` overflowed an Instant and panicked the task.
    let (_mock, d) = setup(DaemonOptions::default().authd("login_timeout = 10"));
    let o = login_as(&d, "retry-forever-user");
    // Preauth could not get an answer before the deadline: a preauth-stage failmode case.
    assert_allowed(&o, &d);
    assert!(d
        .log_text()
        .contains("Failsafe Duo login for 'retry-forever-user'"));
    assert!(!d.log_text().contains("panicked"), "{}", d.log_text());
    assert_allowed(&login_as(&d, "allow-user"), &d);
}

#[test]
fn a_connection_flood_cannot_drown_the_audit_log() {
    require_root!();
    // Finding 8: one process wrote ~6,700 log lines in 3 s through refused connections.
    let me = local_user("duoint-flood");
    let (_mock, d) = setup(DaemonOptions::default());
    let mut c = Command::new(harness::bin("raw-client"));
    c.uid(me.0).gid(me.1).arg(&d.socket).args(["--flood", "3"]);
    let o = harness::run_with_timeout(c, T);
    let sent: u64 = stdout(&o)
        .trim()
        .strip_prefix("flooded ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        sent > 200,
        "the flood was too small to prove anything: {sent}"
    );
    let noise = lines_with(&d, &[&format!("uid={}", me.0)]).len()
        + lines_with(&d, &[&format!("uid {}", me.0)]).len();
    assert!(
        noise <= 60,
        "{noise} log lines for {sent} refused connections"
    );
    // The audit lines of others still get through, and the flood is summarised.
    assert_allowed(&login_as(&d, "allow-user"), &d);
    assert!(
        wait_for(Duration::from_secs(25), || d
            .log_text()
            .contains("were suppressed")),
        "{}",
        d.log_text()
    );
}

#[test]
fn the_socket_directory_must_be_trusted() {
    require_root!();
    // Finding 9: the directory check followed symlinks and ignored the parents.
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = tempfile::Builder::new()
        .prefix("duo-int-dir")
        .tempdir()
        .unwrap();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).unwrap()
    };
    mode(dir.path(), 0o755);
    let config = dir.path().join("authd.toml");
    let serve = |socket: &std::path::Path| {
        harness::write_private(
            &config,
            &harness::config_text(
                &mock.host(),
                mock.ca_file(),
                TEST_SKEY,
                &DaemonOptions::default(),
                socket,
            ),
        );
        let mut c = Command::new(harness::bin("duo-authd"));
        c.args(["serve", "--config"]).arg(&config);
        harness::run_with_timeout(c, T)
    };
    // A socket directory reached through a symlink someone could repoint.
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    mode(&real, 0o755);
    std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
    let o = serve(&dir.path().join("link/authd.sock"));
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    // A parent anyone may write.
    let open = dir.path().join("open");
    std::fs::create_dir_all(open.join("run")).unwrap();
    mode(&open, 0o777);
    mode(&open.join("run"), 0o755);
    let o = serve(&open.join("run/authd.sock"));
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("writable by group or others"),
        "{}",
        stderr(&o)
    );
    // A parent owned by an ordinary user.
    let someone = local_user("duoint-dirowner");
    let theirs = dir.path().join("theirs");
    std::fs::create_dir_all(theirs.join("run")).unwrap();
    std::os::unix::fs::chown(&theirs, Some(someone.0), Some(someone.1)).unwrap();
    let o = serve(&theirs.join("run/authd.sock"));
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains(&format!("owned by uid {}", someone.0)),
        "{}",
        stderr(&o)
    );
}
