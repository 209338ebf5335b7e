//! Running duo-authd as a service: health exit codes, SIGHUP reloads, SIGTERM drain, dropping root,
//! refusing bad configs, `check` and `import-conf`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use duo_authd_tests::mock::TEST_SKEY;

use crate::common::*;
use crate::require_root;

/// The unprivileged account the daemon drops to in these tests.
const DAEMON_USER: &str = "duoauthd-test";

/// A wrong secret key, to provoke 401 from the mock.
const WRONG_SKEY: &str = "wrongwrongwrongwrongwrongwrongwrongwrong";

/// Run `duo-authd ARGS` to completion.
fn authd(args: &[&str]) -> Output {
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(args);
    harness::run_with_timeout(c, T)
}

/// `duo-authd serve --config CONFIG` expected to exit by itself (config refused).
fn serve_expecting_exit(config: &Path) -> Output {
    let mut c = Command::new(harness::bin("duo-authd"));
    c.arg("serve").arg("--config").arg(config);
    harness::run_with_timeout(c, T)
}

/// `duo-authd health` (plain text) against `socket`.
fn health_text(socket: &Path) -> (i32, String) {
    let mut c = Command::new(harness::bin("duo-authd"));
    c.arg("health").arg("--socket").arg(socket);
    let o = harness::run_with_timeout(c, T);
    (o.status.code().unwrap_or(-1), stdout(&o))
}

/// Poll `health --json` until `pred` holds or `within` passes; returns the last answer.
fn wait_health(
    d: &DaemonProc,
    within: Duration,
    pred: impl Fn(i32, &serde_json::Value) -> bool,
) -> (i32, serde_json::Value) {
    let end = Instant::now() + within;
    loop {
        let (code, v) = d.health();
        if pred(code, &v) || Instant::now() >= end {
            return (code, v);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Wait until `pred` holds, for at most `within`.
fn wait_until(within: Duration, pred: impl Fn() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if pred() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    pred()
}

/// The count for `reason` in a health report's `decisions` (pairs of name and count).
fn decision_count(v: &serde_json::Value, reason: &str) -> u64 {
    v["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p[0].as_str() == Some(reason))
        .filter_map(|p| p[1].as_u64())
        .sum()
}

/// A temporary directory anyone may traverse (the shim and test users must reach sockets inside).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("duo-authd-service")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod tempdir");
    dir
}

/// A daemon process started by hand, killed when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawn `duo-authd serve ARGS` with stderr to `log`, optionally as another user.
fn spawn_serve(args: &[&std::ffi::OsStr], log: &Path, as_user: Option<(u32, u32)>) -> KillOnDrop {
    let log_file = fs::File::create(log).expect("daemon log");
    let mut c = Command::new(harness::bin("duo-authd"));
    c.arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log_file));
    if let Some((uid, gid)) = as_user {
        c.uid(uid).gid(gid);
    }
    KillOnDrop(c.spawn().expect("spawning duo-authd"))
}

/// The Uid:, Gid: and Groups: lines of /proc/PID/status, as numbers.
fn proc_ids(pid: u32) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc status");
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    (field("Uid:"), field("Gid:"), field("Groups:"))
}

/// A headless root login for `user` through a daemon running as `DAEMON_USER`.
fn login_trusting(socket: &Path, user: &str, daemon_user: Option<&str>) -> Output {
    let mut c = Command::new(harness::bin("duo-login"));
    c.arg("-s").arg(socket);
    if let Some(u) = daemon_user {
        c.args(["--daemon-user", u]);
    }
    c.args(["-f", user, "echo", "LOGGED-IN"])
        .env_remove("SSH_ORIGINAL_COMMAND")
        .env_remove("SSH_CONNECTION")
        .env_remove("DUO_PASSCODE");
    harness::run_with_timeout(c, Duration::from_secs(60))
}

#[test]
fn health_exit_codes() {
    require_root!();
    let (mock, mut d) = setup(
        DaemonOptions::default()
            .authd("health_interval = 1")
            .authd("unreachable_threshold = 2"),
    );
    let (code, v) = d.health();
    assert_eq!(code, 0, "health while serving: {v}\n{}", d.log_text());
    assert_eq!(v["ready"], serde_json::json!(true), "{v}");
    assert!(
        v["daemon_version"].as_str().is_some_and(|s| !s.is_empty()),
        "{v}"
    );
    assert_eq!(v["config_generation"].as_u64(), Some(1), "{v}");

    assert_allowed(&login_as(&d, "push-user"), &d);
    let (code, v) = d.health();
    assert_eq!(code, 0, "{v}");
    assert!(v["logins_served"].as_u64() >= Some(1), "{v}");
    assert_eq!(decision_count(&v, "authenticated"), 1, "{v}");

    // Duo goes away: the background check notices, health turns degraded and says why.
    mock.set_down(true);
    let (code, v) = wait_health(&d, Duration::from_secs(15), |c, _| c == 1);
    assert_eq!(
        code,
        1,
        "health never turned degraded: {v}\n{}",
        d.log_text()
    );
    assert_eq!(v["ready"], serde_json::json!(false), "{v}");
    let problems = v["problems"].to_string();
    assert!(problems.contains("Duo API"), "problems: {problems}");
    let (code, text) = health_text(&d.socket);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("status: degraded"), "{text}");
    assert!(text.contains("problem: Duo API"), "{text}");

    // Duo comes back: ready again.
    mock.set_down(false);
    let (code, v) = wait_health(&d, Duration::from_secs(15), |c, _| c == 0);
    assert_eq!(code, 0, "health did not recover: {v}\n{}", d.log_text());
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");

    // Stopped: nothing answers.
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(T), Some(0), "{}", d.log_text());
    let (code, v) = d.health();
    assert_eq!(code, 2, "{v}");
    assert_eq!(v["ready"], serde_json::json!(false), "{v}");
    let (code, text) = health_text(&d.socket);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("status: down"), "{text}");
}

#[test]
fn sighup_valid_config_changes_the_next_login() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("failmode = \"safe\""));
    assert_allowed(&login_as(&d, "fail5xx-user"), &d);
    assert!(
        d.log_text().contains("Failsafe Duo login"),
        "{}",
        d.log_text()
    );

    let secure = DaemonOptions::default().top("failmode = \"secure\"");
    d.rewrite_config(&harness::config_text(
        &mock.host(),
        mock.ca_file(),
        TEST_SKEY,
        &secure,
        &d.socket,
    ));
    d.signal(libc::SIGHUP);
    let (code, v) = wait_health(&d, T, |_, v| v["config_generation"].as_u64() == Some(2));
    assert_eq!(
        v["config_generation"].as_u64(),
        Some(2),
        "reload not applied: {v}\n{}",
        d.log_text()
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["last_reload_error"], serde_json::Value::Null, "{v}");

    let o = login_as(&d, "fail5xx-user");
    assert_denied(&o, &d);
    assert!(
        d.log_text().contains("Failsecure Duo login"),
        "{}",
        d.log_text()
    );
}

#[test]
fn sighup_broken_config_keeps_serving() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let config = d.config.display().to_string();

    // Garbage.
    d.rewrite_config("this is not a config file\n");
    d.signal(libc::SIGHUP);
    let (code, v) = wait_health(&d, T, |_, v| !v["last_reload_error"].is_null());
    assert_eq!(code, 1, "{v}\n{}", d.log_text());
    assert_eq!(v["config_generation"].as_u64(), Some(1), "{v}");
    let err = v["last_reload_error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&config),
        "reload error should name the file: {err}"
    );
    assert!(
        v["problems"].to_string().contains("config reload failed"),
        "{v}"
    );
    assert!(
        wait_until(T, || d.log_text().contains("reload refused")),
        "{}",
        d.log_text()
    );
    let log = d.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("reload refused") && l.contains(&config) && l.contains("line 1")),
        "the log should name the file and the reason:\n{log}"
    );
    assert_allowed(&login_as(&d, "push-user"), &d);

    // A valid config with unsafe permissions.
    let good = harness::config_text(
        &mock.host(),
        mock.ca_file(),
        TEST_SKEY,
        &DaemonOptions::default(),
        &d.socket,
    );
    d.rewrite_config(&good);
    fs::set_permissions(&d.config, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    d.signal(libc::SIGHUP);
    let (code, v) = wait_health(&d, T, |_, v| {
        v["last_reload_error"]
            .as_str()
            .is_some_and(|e| e.contains("chmod 600"))
    });
    let err = v["last_reload_error"].as_str().unwrap_or_default();
    assert!(err.contains("chmod 600"), "{v}\n{}", d.log_text());
    assert!(err.contains(&config), "{err}");
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["config_generation"].as_u64(), Some(1), "{v}");
    assert!(
        wait_until(T, || d
            .log_text()
            .lines()
            .any(|l| l.contains("reload refused") && l.contains("chmod 600"))),
        "{}",
        d.log_text()
    );
    let (code, text) = health_text(&d.socket);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("problem: config reload failed"), "{text}");
    assert_allowed(&login_as(&d, "push-user"), &d);

    // Fixed: the next SIGHUP applies it and clears the problem.
    fs::set_permissions(&d.config, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    d.signal(libc::SIGHUP);
    let (code, v) = wait_health(&d, T, |_, v| v["config_generation"].as_u64() == Some(2));
    assert_eq!(v["config_generation"].as_u64(), Some(2), "{v}");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["last_reload_error"], serde_json::Value::Null, "{v}");
}

#[test]
fn sigterm_lets_a_waiting_push_finish() {
    require_root!();
    let mock = MockDuo::start(MockOptions {
        push_delay: Duration::from_secs(3),
        ..MockOptions::default()
    })
    .expect("mock starts");
    let mut d = DaemonProc::start(&mock, DaemonOptions::default());
    let (login, refused) = std::thread::scope(|s| {
        let login = s.spawn(|| login_as(&d, "push-user"));
        assert!(
            wait_until(T, || mock
                .stats()
                .pushes_by_user
                .get("push-user")
                .is_some_and(|n| *n >= 1)),
            "the push never started:\n{}",
            d.log_text()
        );
        d.signal(libc::SIGTERM);
        assert!(
            wait_until(T, || d.log_text().contains("SIGTERM: no longer accepting")),
            "{}",
            d.log_text()
        );
        // Let the accept loop see the stop before trying a new client.
        std::thread::sleep(Duration::from_millis(500));
        let mut c = Command::new(harness::bin("raw-client"));
        c.arg(&d.socket).args(["--duo-user", "allow-user"]);
        let refused = harness::run_with_timeout(c, T);
        (login.join().expect("login thread"), refused)
    });
    let r = stdout(&refused);
    assert!(
        !r.contains("decision") && !r.contains("hello"),
        "a new client was served during the drain: {r}"
    );
    assert_allowed(&login, &d);
    assert_eq!(d.wait_exit(T), Some(0), "{}", d.log_text());
    assert_eq!(
        mock.stats().by_path.get("/auth/v2/preauth"),
        Some(&1),
        "the client refused during the drain reached Duo"
    );
}

#[test]
fn daemon_started_as_root_drops_privileges() {
    require_root!();
    let Some((uid, gid)) = harness::ensure_user(DAEMON_USER) else {
        panic!("could not create the test user {DAEMON_USER}");
    };
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let opts = DaemonOptions {
        authd: vec![
            format!("user = \"{DAEMON_USER}\""),
            "login_timeout = 20".into(),
        ],
        ..DaemonOptions::default()
    };
    let d = DaemonProc::start(&mock, opts);
    let cfg_meta = fs::metadata(&d.config).expect("config metadata");
    assert_eq!(
        (cfg_meta.uid(), cfg_meta.mode() & 0o777),
        (0, 0o600),
        "the config should be root's, 0600"
    );

    let pid = d.child.as_ref().map(Child::id).expect("daemon pid");
    let (uids, gids, groups) = proc_ids(pid);
    assert_eq!(uids, vec![uid; 4], "Uid: line");
    assert_eq!(gids, vec![gid; 4], "Gid: line");
    assert!(!groups.contains(&0), "still in group 0: {groups:?}");
    assert!(
        d.log_text().contains("dropped root privileges"),
        "{}",
        d.log_text()
    );

    let sock = fs::symlink_metadata(&d.socket).expect("socket metadata");
    assert_eq!(sock.uid(), uid, "socket owner");
    assert_eq!(sock.mode() & 0o777, 0o666, "socket mode");
    let dir = fs::metadata(d.socket.parent().expect("socket dir")).expect("dir metadata");
    assert_eq!(dir.uid(), 0, "the socket directory should stay root's");
    assert_eq!(
        dir.mode() & 0o022,
        0,
        "the socket directory must not be open"
    );

    let o = login_trusting(&d.socket, "push-user", Some(DAEMON_USER));
    assert_allowed(&o, &d);

    // Without --daemon-user the shim does not trust a daemon running as that user.
    let o = login_trusting(&d.socket, "push-user", None);
    assert_denied(&o, &d);
    assert!(stderr(&o).contains("unavailable"), "{}", stderr(&o));
    assert_eq!(
        mock.stats().by_path.get("/auth/v2/preauth"),
        Some(&1),
        "the untrusted attempt should never reach the daemon's login flow"
    );
}

#[test]
fn refuses_to_run_as_root_without_a_user() {
    require_root!();
    let Some(_no_account) = no_default_account() else {
        return;
    };
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = open_tempdir();
    let socket = dir.path().join("run/authd.sock");
    let config = dir.path().join("authd.toml");
    let opts = DaemonOptions {
        authd: vec!["login_timeout = 20".into()],
        ..DaemonOptions::default()
    };
    harness::write_private(
        &config,
        &harness::config_text(&mock.host(), mock.ca_file(), TEST_SKEY, &opts, &socket),
    );
    let o = serve_expecting_exit(&config);
    assert_eq!(o.status.code(), Some(96), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refusing to run as root"),
        "{}",
        stderr(&o)
    );
    assert!(!socket.exists(), "it bound the socket before refusing");
}

#[test]
fn config_errors_exit_96() {
    require_root!();
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = open_tempdir();
    let socket = dir.path().join("run/authd.sock");
    let text = |opts: &DaemonOptions| {
        harness::config_text(&mock.host(), mock.ca_file(), TEST_SKEY, opts, &socket)
    };

    let open = dir.path().join("open.toml");
    harness::write_private(&open, &text(&DaemonOptions::default()));
    fs::set_permissions(&open, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let o = serve_expecting_exit(&open);
    assert_eq!(o.status.code(), Some(96), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&open.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains(TEST_SKEY), "the skey reached the log: {err}");

    let unknown = dir.path().join("unknown.toml");
    harness::write_private(
        &unknown,
        &text(&DaemonOptions::default().top("pushinfoo = true")),
    );
    let o = serve_expecting_exit(&unknown);
    assert_eq!(o.status.code(), Some(96), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&unknown.display().to_string()), "{err}");
    assert!(err.contains("pushinfoo"), "{err}");
    assert!(!socket.exists(), "it bound the socket before refusing");
}

#[test]
fn check_command() {
    require_root!();
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = open_tempdir();
    let socket = dir.path().join("run/authd.sock");
    let write = |name: &str, skey: &str, opts: &DaemonOptions| -> PathBuf {
        let p = dir.path().join(name);
        harness::write_private(
            &p,
            &harness::config_text(&mock.host(), mock.ca_file(), skey, opts, &socket),
        );
        p
    };
    let good = write("good.toml", TEST_SKEY, &DaemonOptions::default());
    let bad = write(
        "bad.toml",
        TEST_SKEY,
        &DaemonOptions::default().top("prompts = 7"),
    );
    let wrong = write("wrong.toml", WRONG_SKEY, &DaemonOptions::default());
    let path = |p: &Path| p.display().to_string();

    let o = authd(&["check", "--config", &path(&good)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        mock.stats().requests,
        0,
        "an offline check must not call Duo"
    );

    let o = authd(&["check", "--config", &path(&bad)]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&path(&bad)), "{err}");
    assert!(err.contains("prompts"), "{err}");
    assert!(err.contains("between 1 and 3"), "{err}");

    let o = authd(&["check", "--config", &path(&good), "--online"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(mock.stats().by_path.get("/auth/v2/check"), Some(&1));

    // The wrong skey is a valid config offline, and refused by Duo online.
    let o = authd(&["check", "--config", &path(&wrong)]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = authd(&["check", "--config", &path(&wrong), "--online"]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("the Duo API check failed"), "{err}");
    assert!(
        !err.contains(WRONG_SKEY),
        "the skey reached the output: {err}"
    );
    assert!(mock.stats().bad_signatures >= 1, "{:?}", mock.stats());
}

/// A realistic login_duo.conf for `mock`.
fn login_duo_conf(mock: &MockDuo) -> String {
    format!(
        "\
; Duo login_duo configuration (converted to duo-authd by import-conf)
[duo]
; Duo integration key
ikey = DIXYZV6YM8IFYVWBINCA
; Duo secret key
skey = {TEST_SKEY}
; Duo API host
host = {host}
cafile = {ca}
# Require Duo only for these groups (root is in root)
groups = root wheel !guests
; Send command for Duo Push authentication
pushinfo = yes
autopush = yes
prompts = 1
motd = no
failmode = secure
",
        host = mock.host(),
        ca = mock.ca_file().display(),
    )
}

#[test]
fn import_conf_prints_toml() {
    require_root!();
    let Some((uid, gid)) = harness::ensure_user(DAEMON_USER) else {
        panic!("could not create the test user {DAEMON_USER}");
    };
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = open_tempdir();
    let conf = dir.path().join("login_duo.conf");
    harness::write_private(&conf, &login_duo_conf(&mock));

    // import-conf prints TOML carrying the same settings.
    let o = authd(&["import-conf", &conf.display().to_string()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let toml = stdout(&o);
    for want in [
        "ikey = \"DIXYZV6YM8IFYVWBINCA\"",
        "failmode = \"secure\"",
        "pushinfo = true",
        "autopush = true",
        "motd = false",
        "prompts = 1",
        "\"root\"",
        "\"!guests\"",
        "[authd]",
    ] {
        assert!(toml.contains(want), "missing {want}:\n{toml}");
    }

    // A daemon runs on it once told where its socket is.
    let sub = dir.path().join("imported");
    fs::create_dir(&sub).expect("mkdir");
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).expect("chmod");
    let socket = sub.join("run/authd.sock");
    let config = sub.join("authd.toml");
    // The printed text ends inside its [authd] table.
    harness::write_private(
        &config,
        &format!(
            "{toml}socket = \"{}\"\nallow_root = true\nlogin_timeout = 20\n",
            socket.display()
        ),
    );
    let log = sub.join("daemon.log");
    let _daemon = spawn_serve(
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--log-level".as_ref(),
            "info".as_ref(),
        ],
        &log,
        None,
    );
    let log_text = || fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_until(T, || std::os::unix::net::UnixStream::connect(&socket)
            .is_ok()),
        "daemon on the imported config did not start:\n{}",
        log_text()
    );
    let o = login_trusting(&socket, "push-user", None);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), log_text());
    assert!(stdout(&o).contains("LOGGED-IN"), "{}", stdout(&o));
    assert!(
        mock.stats()
            .pushes_by_user
            .get("push-user")
            .is_some_and(|n| *n >= 1),
        "root is in the groups: Duo should have been asked"
    );
    drop(_daemon);

    // Pointed directly at the .conf as root: no [authd] to allow root or name a user, and no
    // 'duoauthd' account to become (migration.rs covers the account being there).
    let socket = dir.path().join("direct/authd.sock");
    let no_account = no_default_account();
    if no_account.is_some() {
        let o = {
            let mut c = Command::new(harness::bin("duo-authd"));
            c.arg("serve")
                .arg("--config")
                .arg(&conf)
                .arg("--socket")
                .arg(&socket);
            harness::run_with_timeout(c, T)
        };
        assert_eq!(o.status.code(), Some(96), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("refusing to run as root"),
            "{}",
            stderr(&o)
        );
    }
    drop(no_account);

    // As the unprivileged user, with the .conf and the socket directory its own, it serves.
    let own = dir.path().join("own");
    fs::create_dir(&own).expect("mkdir");
    fs::set_permissions(&own, fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::chown(&own, Some(uid), Some(gid)).expect("chown dir");
    let own_conf = own.join("login_duo.conf");
    harness::write_private(&own_conf, &login_duo_conf(&mock));
    std::os::unix::fs::chown(&own_conf, Some(uid), Some(gid)).expect("chown conf");
    let socket = own.join("run/authd.sock");
    let log = dir.path().join("direct.log");
    let _daemon = spawn_serve(
        &[
            "--config".as_ref(),
            own_conf.as_os_str(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ],
        &log,
        Some((uid, gid)),
    );
    assert!(
        wait_until(T, || std::os::unix::net::UnixStream::connect(&socket)
            .is_ok()),
        "daemon on the .conf did not start as {DAEMON_USER}:\n{}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(
        fs::symlink_metadata(&socket).map(|m| m.uid()).ok(),
        Some(uid)
    );
    let before = mock
        .stats()
        .pushes_by_user
        .get("push-user")
        .copied()
        .unwrap_or(0);
    let o = login_trusting(&socket, "push-user", Some(DAEMON_USER));
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(o.status.code(), Some(0), "{}\n{log_text}", stderr(&o));
    assert!(stdout(&o).contains("LOGGED-IN"), "{}", stdout(&o));
    assert_eq!(
        mock.stats().pushes_by_user.get("push-user").copied(),
        Some(before + 1),
        "the .conf daemon should have pushed"
    );
}
