//! Parity with duo_unix's `login_duo`: one test per option or behaviour listed in docs/PARITY.md,
//! each running the real `duo-authd` and `duo-login` against the mock Duo API.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use duo_authd_tests::mock::{CertKind, MockStats};

use crate::common::*;
use crate::require_root;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Serialises changes to /etc/passwd and /etc/group made by this module.
static SYSTEM: Mutex<()> = Mutex::new(());

/// Run a system command, retrying while another process holds the passwd/group locks.
fn sys(args: &[&str]) -> bool {
    for _ in 0..40 {
        let ok = Command::new(args[0])
            .args(&args[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

/// A local group, created if missing.
fn ensure_group(name: &str) {
    assert!(harness::ensure_group(name), "groupadd {name} failed");
}

/// A local user with shell /bin/sh, created if missing; returns (uid, gid).
fn ensure_local_user(name: &str) -> (u32, u32) {
    harness::ensure_user(name).unwrap_or_else(|| panic!("could not create the test user {name}"))
}

/// The test users and groups of the `groups` rows.
struct GroupUsers {
    /// `duopar-in`: supplementary member of `duopar-admins`.
    inn: (u32, u32),
    /// `duopar-out`: only in its own group.
    out: (u32, u32),
    /// `duopar-both`: in `duopar-admins` and `duopar-devs`.
    both: (u32, u32),
}

/// Create (once per test process) the users and groups the `groups` tests use.
fn group_users() -> &'static GroupUsers {
    static USERS: OnceLock<GroupUsers> = OnceLock::new();
    USERS.get_or_init(|| {
        let _g = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
        ensure_group("duopar-admins");
        ensure_group("duopar-devs");
        let inn = ensure_local_user("duopar-in");
        let out = ensure_local_user("duopar-out");
        let both = ensure_local_user("duopar-both");
        assert!(sys(&["usermod", "-G", "duopar-admins", "duopar-in"]));
        assert!(sys(&["usermod", "-G", "", "duopar-out"]));
        assert!(sys(&[
            "usermod",
            "-G",
            "duopar-admins,duopar-devs",
            "duopar-both"
        ]));
        GroupUsers { inn, out, both }
    })
}

/// A mock with `mock_opts` and a daemon with `opts`.
fn setup_with(mock_opts: MockOptions, opts: DaemonOptions) -> (MockDuo, DaemonProc) {
    let mock = MockDuo::start(mock_opts).expect("mock starts");
    let d = DaemonProc::start(&mock, opts);
    (mock, d)
}

/// Run the shim headless as the local account `ids`, with `args` and extra environment.
fn run_as(d: &DaemonProc, ids: (u32, u32), args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = d.shim();
    c.uid(ids.0).gid(ids.1).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    harness::run_with_timeout(c, T)
}

/// Run the shim headless as root with `args` and extra environment.
fn run_env(d: &DaemonProc, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = d.shim();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    harness::run_with_timeout(c, T)
}

/// Start the shim as root on a pty with `args` and extra environment.
fn pty(d: &DaemonProc, args: &[&str], env: &[(&str, &str)]) -> PtySession {
    let mut c = d.shim();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    PtySession::spawn(c).expect("pty spawn")
}

/// A parameter of the last request the mock saw on `path`.
fn param(s: &MockStats, path: &str, key: &str) -> Option<String> {
    s.last_params.get(path).and_then(|p| p.get(key)).cloned()
}

/// The one daemon log line containing `needle` (panics with the log if there is none).
#[track_caller]
fn log_line(d: &DaemonProc, needle: &str) -> String {
    let log = d.log_text();
    log.lines()
        .find(|l| l.contains(needle))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no log line with {needle:?}:\n{log}"))
}

/// Wait until the pty output shows `needle` at least `n` times.
fn wait_count(s: &PtySession, needle: &str, n: usize) {
    let end = Instant::now() + T;
    while s.output().matches(needle).count() < n && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        s.output().matches(needle).count() >= n,
        "expected {n} x {needle:?}:\n{}",
        s.output()
    );
}

/// A private config file (0600, root's) in `dir` with `text`.
fn config_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    harness::write_private(&p, text);
    p
}

/// The minimal valid TOML config, plus `extra` top-level lines.
fn toml_with(extra: &str) -> String {
    format!(
        "ikey = \"DIXYZV6YM8IFYVWBINCA\"\nskey = \"yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\"\nhost = \"localhost:4443\"\n{extra}\n"
    )
}

/// `duo-authd check --config FILE`.
fn check(path: &Path) -> Output {
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["check", "--config"]).arg(path);
    harness::run_with_timeout(c, T)
}

/// `duo-authd serve --config FILE` expected to refuse to start: its exit code and stderr.
fn serve_refuses(path: &Path, socket: &Path) -> (Option<i32>, String) {
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["serve", "--config"])
        .arg(path)
        .arg("--socket")
        .arg(socket);
    let o = harness::run_with_timeout(c, T);
    (o.status.code(), stderr(&o))
}

/// This host's name as `hostname(1)` prints it.
fn host_name() -> String {
    Command::new("hostname")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The basename of root's login shell, from the passwd database.
fn root_shell_name() -> String {
    let out = Command::new("getent")
        .args(["passwd", "root"])
        .output()
        .expect("getent passwd root");
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let shell = line.rsplit(':').next().unwrap_or("/bin/sh").to_string();
    let shell = if shell.is_empty() {
        "/bin/sh".to_string()
    } else {
        shell
    };
    shell.rsplit('/').next().unwrap_or("sh").to_string()
}

// ---------------------------------------------------------------------------------------------
// groups
// ---------------------------------------------------------------------------------------------

#[test]
fn groups_member_needs_duo_and_outsider_is_skipped_without_a_request() {
    require_root!();
    let u = group_users();
    let (mock, d) = setup(DaemonOptions::default().top("groups = [\"duopar-adm*\"]"));
    let o = run_as(&d, u.inn, &["echo", "LOGGED-IN"], &[]);
    assert_allowed(&o, &d);
    assert_eq!(mock.stats().pushes_by_user.get("duopar-in"), Some(&1));
    log_line(&d, "Successful Duo login for 'duopar-in'");

    mock.reset_stats();
    let o = run_as(&d, u.out, &["echo", "LOGGED-IN"], &[]);
    assert_allowed(&o, &d);
    let s = mock.stats();
    assert_eq!(s.by_path.get("/auth/v2/preauth"), None, "{s:?}");
    assert_eq!(s.by_path.get("/auth/v2/auth"), None, "{s:?}");
    let line = log_line(&d, "Skipped Duo login for 'duopar-out'");
    assert!(line.contains("reason=not_in_groups"), "{line}");
}

#[test]
fn groups_question_mark_and_negation_within_a_list() {
    require_root!();
    let u = group_users();
    let (mock, d) =
        setup(DaemonOptions::default().top("groups = [\"duopar-a?mins,!duopar-devs\"]"));
    // In duopar-admins only: matches `?`, must pass Duo.
    assert_allowed(&run_as(&d, u.inn, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().pushes_by_user.get("duopar-in"), Some(&1));
    // Also in duopar-devs: the negated pattern vetoes the list.
    mock.reset_stats();
    assert_allowed(&run_as(&d, u.both, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), None);
    log_line(&d, "Skipped Duo login for 'duopar-both'");
}

#[test]
fn groups_star_with_an_exception() {
    require_root!();
    let u = group_users();
    let (mock, d) = setup(DaemonOptions::default().top("groups = \"*,!duopar-admins\""));
    // Everyone (their own group matches `*`) but members of duopar-admins.
    assert_allowed(&run_as(&d, u.out, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().pushes_by_user.get("duopar-out"), Some(&1));
    mock.reset_stats();
    assert_allowed(&run_as(&d, u.inn, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), None);
    log_line(&d, "Skipped Duo login for 'duopar-in'");
}

#[test]
fn groups_all_negated_warns_at_start() {
    require_root!();
    let u = group_users();
    let (mock, d) =
        setup(DaemonOptions::default().top("groups = [\"!duopar-admins\", \"!duopar-devs\"]"));
    log_line(&d, "every pattern is negated");
    // As in login_duo, a list without a positive pattern matches nobody: everyone is skipped.
    assert_allowed(&run_as(&d, u.out, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), None);
    // `check` says it too.
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(
        dir.path(),
        "authd.toml",
        &toml_with("groups = \"!duopar-admins\""),
    );
    let o = check(&p);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("every pattern is negated"),
        "{}",
        stderr(&o)
    );
}

// ---------------------------------------------------------------------------------------------
// autopush, prompts
// ---------------------------------------------------------------------------------------------

#[test]
fn autopush_pushes_without_a_menu() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("autopush = true"));
    let mut s = pty(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &[]);
    s.expect("Autopushing login request to phone...", T)
        .unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert!(!s.output().contains("Passcode or option"), "{}", s.output());
    assert!(s.output().contains("LOGGED-IN"));
    assert_eq!(mock.stats().pushes_by_user.get("push-user"), Some(&1));
}

#[test]
fn autopush_denied_falls_back_to_the_menu() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("autopush = true"));
    let mut s = pty(&d, &["-f", "push-deny-user", "echo", "LOGGED-IN"], &[]);
    s.expect("Autopushing login request to phone...", T)
        .unwrap();
    s.expect("Login request denied.", T).unwrap();
    s.expect("Passcode or option (1-3):", T).unwrap();
    s.send_line("123456").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    let st = mock.stats();
    assert_eq!(st.pushes_by_user.get("push-deny-user"), Some(&1));
    assert_eq!(st.auth_by_user.get("push-deny-user"), Some(&2));
}

#[test]
fn prompts_one_gives_a_single_attempt() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("prompts = 1"));
    let mut s = pty(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &[]);
    s.expect("Passcode or option", T).unwrap();
    s.send_line("000000").unwrap();
    assert_eq!(s.wait(T).unwrap(), 1, "{}", s.output());
    assert_eq!(s.output().matches("Passcode or option").count(), 1);
    assert_eq!(mock.stats().by_path.get("/auth/v2/auth"), Some(&1));
}

#[test]
fn prompts_two_gives_two_attempts() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("prompts = 2"));
    let mut s = pty(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &[]);
    for i in 1..=2 {
        wait_count(&s, "Passcode or option", i);
        s.send_line("000000").unwrap();
    }
    assert_eq!(s.wait(T).unwrap(), 1, "{}", s.output());
    assert_eq!(s.output().matches("Incorrect passcode").count(), 2);
    assert_eq!(mock.stats().by_path.get("/auth/v2/auth"), Some(&2));
}

#[test]
fn headless_is_one_automatic_attempt_whatever_prompts_says() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("prompts = 3"));
    assert_denied(&login_as(&d, "push-deny-user"), &d);
    let s = mock.stats();
    assert_eq!(s.auth_by_user.get("push-deny-user"), Some(&1));
    assert_eq!(
        param(&s, "/auth/v2/auth", "prompt").as_deref(),
        Some("push1")
    );
}

#[test]
fn pushinfo_is_off_by_default() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(param(&mock.stats(), "/auth/v2/auth", "pushinfo"), None);
}

// ---------------------------------------------------------------------------------------------
// accept_env_factor
// ---------------------------------------------------------------------------------------------

#[test]
fn env_passcode_headless_and_hidden_from_the_command() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("accept_env_factor = true"));
    let o = run_env(
        &d,
        &["-f", "push-user", "sh", "-c", "'echo P=$DUO_PASSCODE'"],
        &[("DUO_PASSCODE", "123456")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).lines().any(|l| l == "P="),
        "the command saw DUO_PASSCODE: {}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("123456"));
    let s = mock.stats();
    assert_eq!(
        param(&s, "/auth/v2/auth", "prompt").as_deref(),
        Some("123456")
    );
    assert_eq!(s.pushes_by_user.get("push-user"), None);
    let line = log_line(&d, "Successful Duo login for 'push-user'");
    assert!(line.contains("factor=\"passcode\""), "{line}");
    assert!(!line.contains("123456"), "the passcode was logged: {line}");
}

#[test]
fn env_factor_name_selects_a_factor() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("accept_env_factor = true"));
    let o = run_env(
        &d,
        &["-f", "phone-user", "echo", "LOGGED-IN"],
        &[("DUO_PASSCODE", "push1")],
    );
    assert_allowed(&o, &d);
    let s = mock.stats();
    // phone-user's default is a call; the environment asked for a push.
    assert_eq!(
        param(&s, "/auth/v2/auth", "prompt").as_deref(),
        Some("push1")
    );
    assert_eq!(s.pushes_by_user.get("phone-user"), Some(&1));
}

#[test]
fn env_passcode_is_ignored_without_accept_env_factor() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = run_env(
        &d,
        &["-f", "push-user", "echo", "LOGGED-IN"],
        &[("DUO_PASSCODE", "000000")],
    );
    assert_allowed(&o, &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/auth", "prompt").as_deref(),
        Some("push1")
    );
}

#[test]
fn env_passcode_interactive_says_reading() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default().top("accept_env_factor = true"));
    let mut s = pty(
        &d,
        &["-f", "push-user", "echo", "LOGGED-IN"],
        &[("DUO_PASSCODE", "123456")],
    );
    s.expect("Reading $DUO_PASSCODE...", T).unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert!(!s.output().contains("Passcode or option"));
    assert!(!s.output().contains("123456"), "{}", s.output());
}

// ---------------------------------------------------------------------------------------------
// client address: SSH_CONNECTION, -h, fallback_local_ip
// ---------------------------------------------------------------------------------------------

#[test]
fn fallback_local_ip_sends_this_hosts_address() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("fallback_local_ip = true"));
    assert_allowed(&login_as(&d, "push-user"), &d);
    let s = mock.stats();
    let ip = param(&s, "/auth/v2/preauth", "ipaddr").expect("ipaddr sent");
    let parsed: IpAddr = ip.parse().expect("an IP address");
    // The mock listens on localhost, so the address used to reach it is a loopback one.
    assert!(parsed.is_loopback(), "{ip}");
    assert_eq!(param(&s, "/auth/v2/auth", "ipaddr"), Some(ip));
}

#[test]
fn no_client_address_without_fallback() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(param(&mock.stats(), "/auth/v2/preauth", "ipaddr"), None);
}

#[test]
fn fallback_local_ip_replaces_a_dash_h_that_is_not_an_address() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("fallback_local_ip = true"));
    let o = d.run_headless(&["-h", "BADHOST", "-f", "allow-user", "echo", "LOGGED-IN"]);
    assert_allowed(&o, &d);
    let ip = param(&mock.stats(), "/auth/v2/preauth", "ipaddr").expect("ipaddr");
    assert!(ip.parse::<IpAddr>().is_ok(), "{ip}");
}

#[test]
fn dash_h_from_root_is_the_client_address() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = d.run_headless(&[
        "-h",
        "198.51.100.7",
        "-f",
        "allow-user",
        "echo",
        "LOGGED-IN",
    ]);
    assert_allowed(&o, &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "ipaddr").as_deref(),
        Some("198.51.100.7")
    );
    log_line(&d, "Skipped Duo login for 'allow-user' from 198.51.100.7");
}

#[test]
fn dash_h_from_a_user_is_ignored() {
    require_root!();
    let u = group_users();
    let (mock, d) = setup(DaemonOptions::default());
    let o = run_as(&d, u.out, &["-h", "198.51.100.9", "echo", "LOGGED-IN"], &[]);
    assert_allowed(&o, &d);
    assert_eq!(param(&mock.stats(), "/auth/v2/preauth", "ipaddr"), None);
    let line = log_line(&d, "Duo login for 'duopar-out'");
    assert!(!line.contains("198.51.100.9"), "{line}");
}

#[test]
fn ssh_connection_wins_over_dash_h() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = run_env(
        &d,
        &[
            "-h",
            "198.51.100.7",
            "-f",
            "allow-user",
            "echo",
            "LOGGED-IN",
        ],
        &[("SSH_CONNECTION", "192.0.2.44 50000 192.0.2.2 22")],
    );
    assert_allowed(&o, &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "ipaddr").as_deref(),
        Some("192.0.2.44")
    );
}

// ---------------------------------------------------------------------------------------------
// send_gecos, gecos_username_pos, gecos_delim
// ---------------------------------------------------------------------------------------------

/// `duopar-gecos`, whose GECOS field is `a,b,gecosname`.
fn gecos_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        let _g = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
        let ids = ensure_local_user("duopar-gecos");
        assert!(sys(&["usermod", "-c", "a,b,gecosname", "duopar-gecos"]));
        ids
    })
}

#[test]
fn send_gecos_with_a_position_uses_that_field() {
    require_root!();
    let ids = gecos_user();
    let (mock, d) = setup(
        DaemonOptions::default()
            .top("send_gecos = true")
            .top("gecos_username_pos = 3"),
    );
    assert_allowed(&run_as(&d, ids, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("gecosname")
    );
    log_line(&d, "Successful Duo login for 'gecosname'");
}

#[test]
fn send_gecos_without_a_position_sends_the_whole_field() {
    require_root!();
    let ids = gecos_user();
    let (mock, d) = setup(DaemonOptions::default().top("send_gecos = true"));
    assert_allowed(&run_as(&d, ids, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("a,b,gecosname")
    );
}

#[test]
fn gecos_delim_without_that_field_falls_back_to_the_login_name() {
    require_root!();
    let ids = gecos_user();
    let (mock, d) = setup(
        DaemonOptions::default()
            .top("send_gecos = true")
            .top("gecos_delim = \"/\"")
            .top("gecos_username_pos = 2"),
    );
    assert_allowed(&run_as(&d, ids, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("duopar-gecos")
    );
    log_line(&d, "GECOS field has no usable username");
}

#[test]
fn dash_f_wins_over_send_gecos() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("send_gecos = true"));
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("push-user")
    );
}

#[test]
fn bad_gecos_settings_are_config_errors() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    for (i, (extra, key)) in [
        ("gecos_delim = \":\"", "gecos_delim"),
        ("gecos_delim = \",,\"", "gecos_delim"),
        ("gecos_delim = \" \"", "gecos_delim"),
        ("gecos_delim = \"a\"", "gecos_delim"),
        ("gecos_username_pos = 0", "gecos_username_pos"),
        ("gecos_username_pos = -2", "gecos_username_pos"),
    ]
    .into_iter()
    .enumerate()
    {
        let p = config_file(dir.path(), &format!("bad{i}.toml"), &toml_with(extra));
        let o = check(&p);
        assert_eq!(o.status.code(), Some(1), "{extra} accepted: {}", stdout(&o));
        assert!(stderr(&o).contains(key), "{extra}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&p.display().to_string()),
            "{}",
            stderr(&o)
        );
    }
    // The same in duo_unix's INI format.
    let p = config_file(
        dir.path(),
        "login_duo.conf",
        "[duo]\nikey = DIXYZV6YM8IFYVWBINCA\nskey = yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\nhost = localhost:4443\nsend_gecos = yes\ngecos_delim = :\n",
    );
    let o = check(&p);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("gecos_delim"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// motd
// ---------------------------------------------------------------------------------------------

/// A line of /etc/motd to look for; writes a temporary /etc/motd (removed on drop) if there is none.
struct Motd {
    marker: String,
    created: bool,
}

impl Motd {
    fn get() -> Motd {
        let existing = fs::read_to_string("/etc/motd").unwrap_or_default();
        if let Some(line) = existing
            .lines()
            .map(str::trim)
            .find(|l| l.len() >= 8 && !l.chars().any(char::is_control))
        {
            return Motd {
                marker: line.to_string(),
                created: false,
            };
        }
        if Path::new("/etc/motd").exists() {
            // An empty or odd motd we must not replace: use it as is (the tests then only check "nothing broke").
            return Motd {
                marker: String::new(),
                created: false,
            };
        }
        let marker = "duo-authd parity test message of the day".to_string();
        fs::write("/etc/motd", format!("{marker}\n")).expect("write /etc/motd");
        Motd {
            marker,
            created: true,
        }
    }
}

impl Drop for Motd {
    fn drop(&mut self) {
        if self.created {
            let _ = fs::remove_file("/etc/motd");
        }
    }
}

/// One /etc/motd for the whole module, so concurrent tests do not race on it.
fn motd() -> &'static Mutex<Option<Motd>> {
    static MOTD: OnceLock<Mutex<Option<Motd>>> = OnceLock::new();
    MOTD.get_or_init(|| Mutex::new(None))
}

/// Run `f` with the marker of /etc/motd (creating and later removing one if needed).
fn with_motd(f: impl FnOnce(&str)) {
    let mut g = motd().lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Motd::get());
    }
    let marker = g.as_ref().map(|m| m.marker.clone()).unwrap_or_default();
    f(&marker);
    // Drop (and so remove a temporary motd) once this test is done with it.
    *g = None;
}

#[test]
fn motd_is_shown_after_an_interactive_login() {
    require_root!();
    with_motd(|marker| {
        let (_mock, d) = setup(DaemonOptions::default().top("motd = true"));
        let mut s = pty(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &[]);
        s.expect("Passcode or option", T).unwrap();
        s.send_line("1").unwrap();
        assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
        assert!(s.output().contains("LOGGED-IN"));
        assert!(s.output().contains(marker), "no motd:\n{}", s.output());
    });
}

#[test]
fn motd_is_not_shown_when_off_or_headless() {
    require_root!();
    with_motd(|marker| {
        if marker.is_empty() {
            return;
        }
        let (_mock, d) = setup(DaemonOptions::default());
        let mut s = pty(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &[]);
        s.expect("Passcode or option", T).unwrap();
        s.send_line("1").unwrap();
        assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
        assert!(!s.output().contains(marker), "{}", s.output());

        let (_mock, d) = setup(DaemonOptions::default().top("motd = true"));
        let o = login_as(&d, "push-user");
        assert_allowed(&o, &d);
        assert!(!stdout(&o).contains(marker), "{}", stdout(&o));
    });
}

// ---------------------------------------------------------------------------------------------
// noverify, http_proxy
// ---------------------------------------------------------------------------------------------

#[test]
fn noverify_accepts_a_self_signed_certificate_with_a_warning() {
    require_root!();
    for cert in [CertKind::SelfSigned, CertKind::WrongName] {
        let mut opts = DaemonOptions::default()
            .top("noverify = true")
            .top("failmode = \"secure\"");
        opts.no_cafile = true;
        let (_mock, d) = setup_with(
            MockOptions {
                cert,
                ..MockOptions::default()
            },
            opts,
        );
        assert_allowed(&login_as(&d, "push-user"), &d);
        log_line(&d, "noverify");
        log_line(&d, "Successful Duo login for 'push-user'");
    }
}

#[test]
fn self_signed_certificate_without_noverify_is_a_failmode_fault() {
    require_root!();
    let mut opts = DaemonOptions::default().top("failmode = \"secure\"");
    opts.no_cafile = true;
    let (_mock, d) = setup_with(
        MockOptions {
            cert: CertKind::SelfSigned,
            ..MockOptions::default()
        },
        opts,
    );
    assert_denied(&login_as(&d, "push-user"), &d);
    log_line(&d, "Failsecure Duo login for 'push-user'");
}

/// A minimal HTTP CONNECT proxy on 127.0.0.1 that records the targets asked for.
struct ConnectProxy {
    port: u16,
    targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = l.local_addr().expect("addr").port();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || Self::serve(conn, &seen));
            }
        });
        ConnectProxy { port, targets }
    }

    fn serve(mut client: TcpStream, seen: &Mutex<Vec<String>>) {
        // Read the request head byte by byte, so nothing after it is consumed.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            match client.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut words = head.split_whitespace();
        let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
            let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
            return;
        };
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(target.to_string());
        let Ok(upstream) = TcpStream::connect(target) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
            return;
        };
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return;
        }
        let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
            return;
        };
        let mut upstream = upstream;
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut upstream);
            let _ = upstream.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut u2, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Write);
        let _ = up.join();
    }
}

#[test]
fn http_proxy_tunnels_to_duo() {
    require_root!();
    let proxy = ConnectProxy::start();
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let d = DaemonProc::start(
        &mock,
        DaemonOptions::default()
            .top(&format!("http_proxy = \"http://127.0.0.1:{}\"", proxy.port))
            .top("failmode = \"secure\""),
    );
    assert_allowed(&login_as(&d, "push-user"), &d);
    let targets = proxy.targets.lock().unwrap().clone();
    assert!(
        targets.contains(&format!("localhost:{}", mock.addr().port())),
        "{targets:?}"
    );
    log_line(&d, "through the HTTP proxy");
}

#[test]
fn http_proxy_unreachable_follows_failmode() {
    require_root!();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_mock, d) = setup(
        DaemonOptions::default()
            .top(&format!("http_proxy = \"http://127.0.0.1:{port}\""))
            .top("failmode = \"secure\""),
    );
    assert_denied(&login_as(&d, "push-user"), &d);
    log_line(&d, "Failsecure Duo login for 'push-user'");
}

// ---------------------------------------------------------------------------------------------
// verified_push
// ---------------------------------------------------------------------------------------------

/// A mock whose pushes take long enough for the first status poll to show the code.
fn slow_push() -> MockOptions {
    MockOptions {
        push_delay: Duration::from_secs(2),
        ..MockOptions::default()
    }
}

#[test]
fn verified_push_with_autopush_is_a_config_error() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(
        dir.path(),
        "authd.toml",
        &toml_with("verified_push = true\nautopush = true\n[authd]\nallow_root = true"),
    );
    let o = check(&p);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("verified_push and autopush cannot both be enabled"),
        "{}",
        stderr(&o)
    );
    let (code, err) = serve_refuses(&p, &dir.path().join("run/authd.sock"));
    assert_eq!(code, Some(96), "{err}");
    assert!(err.contains("verified_push"), "{err}");
}

#[test]
fn verified_push_headless_shows_the_code_on_stderr() {
    require_root!();
    let (mock, d) = setup_with(
        slow_push(),
        DaemonOptions::default().top("verified_push = true"),
    );
    let o = login_as(&d, "verified-user");
    assert_allowed(&o, &d);
    assert!(
        stderr(&o).contains("Enter 123 in your Duo Mobile app"),
        "stderr: {}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("Enter 123"), "code on stdout");
    let s = mock.stats();
    assert_eq!(
        param(&s, "/auth/v2/preauth", "client_supports_verified_push").as_deref(),
        Some("1")
    );
    assert_eq!(
        param(&s, "/auth/v2/auth", "txid").as_deref(),
        Some("verified-push-txid")
    );
    assert_eq!(
        param(&s, "/auth/v2/auth", "prompt").as_deref(),
        Some("verified_push1")
    );
    let line = log_line(&d, "Successful Duo login for 'verified-user'");
    assert!(line.contains("factor=\"verified_push1\""), "{line}");
}

#[test]
fn verified_push_interactive_shows_the_code() {
    require_root!();
    let (_mock, d) = setup_with(
        slow_push(),
        DaemonOptions::default().top("verified_push = true"),
    );
    let mut s = pty(&d, &["-f", "verified-user", "echo", "LOGGED-IN"], &[]);
    s.expect("Passcode or option", T).unwrap();
    s.send_line("1").unwrap();
    s.expect("Enter 123 in your Duo Mobile app", T).unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
}

#[test]
fn verified_push_txid_goes_with_whatever_factor_is_chosen() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("verified_push = true"));
    // A passcode: login_duo sends preauth's txid with every /auth, so do we.
    let mut s = pty(&d, &["-f", "verified-user", "echo", "LOGGED-IN"], &[]);
    s.expect("Passcode or option", T).unwrap();
    s.send_line("123456").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert_eq!(
        param(&mock.stats(), "/auth/v2/auth", "txid").as_deref(),
        Some("verified-push-txid")
    );
    // A Duo account whose verified push is the factor plainly named push1.
    let o = login_as(&d, "verified-plain-user");
    assert_allowed(&o, &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/auth", "prompt").as_deref(),
        Some("push1")
    );
    assert_eq!(
        param(&mock.stats(), "/auth/v2/auth", "txid").as_deref(),
        Some("verified-push-txid")
    );
    assert!(
        stderr(&o).contains("Enter 123"),
        "the code was not shown: {}",
        stderr(&o)
    );
}

#[test]
fn quiet_headless_login_prints_no_progress() {
    require_root!();
    // Without verified push a headless login stays quiet, as login_duo's one-shot mode is.
    let (_mock, d) = setup(DaemonOptions::default());
    let o = login_as(&d, "push-user");
    assert_allowed(&o, &d);
    assert!(
        !stderr(&o).contains("Pushed") && !stderr(&o).contains("Autopushing"),
        "{}",
        stderr(&o)
    );
    // And verified-user without verified_push is an ordinary push: no txid asked for.
    let (mock, d) = setup(DaemonOptions::default());
    assert_allowed(&login_as(&d, "verified-user"), &d);
    let s = mock.stats();
    assert_eq!(
        param(&s, "/auth/v2/preauth", "client_supports_verified_push"),
        None
    );
    assert_eq!(param(&s, "/auth/v2/auth", "txid"), None);
}

// ---------------------------------------------------------------------------------------------
// preauth parameters, rate limits, clock
// ---------------------------------------------------------------------------------------------

#[test]
fn preauth_sends_hostname_and_failmode() {
    require_root!();
    for (mode, wire) in [("safe", "open"), ("secure", "closed")] {
        let (mock, d) = setup(DaemonOptions::default().top(&format!("failmode = \"{mode}\"")));
        assert_allowed(&login_as(&d, "push-user"), &d);
        let s = mock.stats();
        assert_eq!(
            param(&s, "/auth/v2/preauth", "failmode").as_deref(),
            Some(wire)
        );
        assert_eq!(param(&s, "/auth/v2/preauth", "hostname"), Some(host_name()));
        assert_eq!(param(&s, "/auth/v2/auth", "hostname"), Some(host_name()));
        assert_eq!(
            param(&s, "/auth/v2/preauth", "text_prompt").as_deref(),
            Some("1")
        );
    }
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let started = Instant::now();
    assert_allowed(&login_as(&d, "ratelimit-date-user"), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), Some(&3));
    assert!(
        started.elapsed() < Duration::from_secs(19),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn clock_offset_from_ping_dates_requests_by_duos_clock() {
    require_root!();
    let (mock, d) = setup_with(
        MockOptions {
            time_offset: 3600,
            ..MockOptions::default()
        },
        DaemonOptions::default().top("failmode = \"secure\""),
    );
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(mock.stats().bad_signatures, 0);
    let (code, h) = d.health();
    assert_eq!(code, 0, "{h}");
    let off = h["clock_offset_secs"].as_i64().unwrap_or(0);
    assert!((3590..=3610).contains(&off), "clock_offset_secs = {off}");
    log_line(&d, "clock is");
}

// ---------------------------------------------------------------------------------------------
// duo_unix's INI file, read directly (daemon running as an unprivileged user)
// ---------------------------------------------------------------------------------------------

/// A `duo-authd serve` started as another user; killed on drop.
struct UserDaemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl UserDaemon {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for UserDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn login_duo_conf_is_read_directly() {
    require_root!();
    let svc = {
        let _g = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
        ensure_local_user("duopar-svc")
    };
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = tempfile::Builder::new()
        .prefix("duo-parity-ini")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(svc.0), Some(svc.1)).unwrap();
    let conf = dir.path().join("login_duo.conf");
    let ini = format!(
        "; an existing login_duo.conf, unchanged\n[duo]\nikey = DIXYZV6YM8IFYVWBINCA\nskey = yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\nhost = {}\ncafile = {}\nfailmode = secure\npushinfo = yes\nprompts = 1 ; inline comment\n",
        mock.host(),
        mock.ca_file().display()
    );
    harness::write_private(&conf, &ini);
    std::os::unix::fs::chown(&conf, Some(svc.0), Some(svc.1)).unwrap();
    let socket = dir.path().join("run").join("authd.sock");
    let log = dir.path().join("daemon.log");
    let logf = fs::File::create(&log).unwrap();
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["serve", "--config"])
        .arg(&conf)
        .arg("--socket")
        .arg(&socket)
        .uid(svc.0)
        .gid(svc.1)
        // login_duo ignores the proxy environment; so does the daemon.
        .env("http_proxy", "http://127.0.0.1:1")
        .env("https_proxy", "http://127.0.0.1:1")
        .env("HTTPS_PROXY", "http://127.0.0.1:1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(logf));
    let child = c.spawn().expect("spawn duo-authd as duopar-svc");
    let d = UserDaemon {
        child,
        socket: socket.clone(),
        log,
        _dir: dir,
    };
    let end = Instant::now() + T;
    while std::os::unix::net::UnixStream::connect(&d.socket).is_err() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Command::new(harness::bin("duo-login"));
    c.arg("-s")
        .arg(&d.socket)
        .args([
            "--daemon-user",
            "duopar-svc",
            "-f",
            "push-user",
            "echo",
            "LOGGED-IN",
        ])
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_ORIGINAL_COMMAND");
    let o = harness::run_with_timeout(c, T);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr={} log:\n{}",
        stderr(&o),
        d.log_text()
    );
    assert!(stdout(&o).contains("LOGGED-IN"));
    let s = mock.stats();
    assert_eq!(
        param(&s, "/auth/v2/preauth", "failmode").as_deref(),
        Some("closed")
    );
    assert!(
        param(&s, "/auth/v2/auth", "pushinfo").is_some(),
        "pushinfo = yes not applied"
    );
    assert!(
        d.log_text()
            .contains("Successful Duo login for 'push-user'"),
        "{}",
        d.log_text()
    );
}

// ---------------------------------------------------------------------------------------------
// Audit lines
// ---------------------------------------------------------------------------------------------

#[test]
fn audit_phrases_match_login_duo() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let env = [("SSH_CONNECTION", "192.0.2.10 50000 192.0.2.2 22")];
    assert_allowed(
        &run_env(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &env),
        &d,
    );
    let ok = log_line(&d, "Successful Duo login for 'push-user' from 192.0.2.10");
    assert!(
        ok.contains("result=allow reason=authenticated uid=0"),
        "{ok}"
    );
    assert!(ok.contains("factor=\"push1\""), "{ok}");
    let txid = ok
        .split("txid=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    assert_eq!(txid.len(), 36, "no txid on the line: {ok}");
    assert!(ok.contains("latency_ms="), "{ok}");

    // The shapes existing log searches use for login_duo's lines (a fail2ban filter's
    // `<F-USER>` and `<HOST>`, a SIEM rule's captures) still match, and capture the right fields.
    let re = regex::Regex::new(
        r"(Successful|Skipped|Failed|Aborted|Failsafe|Failsecure) Duo login for '(?P<user>[^']*)'(?: from (?P<host>[^\s:]+))?(?:: (?P<detail>.*))?",
    )
    .unwrap();
    let caps = re.captures(&ok).expect("login_duo's shape");
    assert_eq!(&caps["user"], "push-user");
    assert_eq!(&caps["host"], "192.0.2.10");

    assert_allowed(&login_as(&d, "allow-user"), &d);
    log_line(&d, "Skipped Duo login for 'allow-user'");
    assert_denied(&login_as(&d, "enroll-user"), &d);
    log_line(&d, "Aborted Duo login for 'enroll-user'");
    // A preauth deny is "Aborted" in login_duo's log too.
    assert_denied(&login_as(&d, "deny-user"), &d);
    let l = log_line(&d, "Aborted Duo login for 'deny-user'");
    assert!(l.contains("reason=denied"), "{l}");
    assert_denied(&login_as(&d, "push-deny-user"), &d);
    let l = log_line(&d, "Failed Duo login for 'push-deny-user'");
    assert!(l.contains("factor=\"push1\""), "{l}");
    let caps = re.captures(&l).expect("login_duo's shape");
    assert_eq!(&caps["user"], "push-deny-user");
    assert!(
        caps["detail"].starts_with("\"Login request denied.\""),
        "{l}"
    );
    assert_allowed(&login_as(&d, "fail5xx-user"), &d);
    log_line(&d, "Failsafe Duo login for 'fail5xx-user'");

    let (_mock, d) = setup(DaemonOptions::default().top("failmode = \"secure\""));
    assert_denied(&login_as(&d, "fail5xx-user"), &d);
    log_line(&d, "Failsecure Duo login for 'fail5xx-user'");
}

#[test]
fn syslog_on_does_not_disturb_logins() {
    require_root!();
    // What reaches syslogd is not observable in CI; the line still goes to stderr as well.
    let (_mock, d) = setup(DaemonOptions::default().authd("syslog = true"));
    assert_allowed(&login_as(&d, "push-user"), &d);
    log_line(&d, "Successful Duo login for 'push-user'");
}

// ---------------------------------------------------------------------------------------------
// Command line and exec
// ---------------------------------------------------------------------------------------------

#[test]
fn dash_v_prints_the_version() {
    let mut c = Command::new(harness::bin("duo-login"));
    c.arg("-v");
    let o = harness::run_with_timeout(c, T);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("duo-login "), "{}", stdout(&o));
}

#[test]
fn dash_c_is_accepted_and_ignored_and_dash_d_debugs() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let o = d.run_headless(&[
        "-d",
        "-c",
        "/etc/duo/login_duo.conf",
        "-f",
        "allow-user",
        "echo",
        "LOGGED-IN",
    ]);
    assert_allowed(&o, &d);
    assert!(stderr(&o).contains("ignoring -c"), "{}", stderr(&o));
    assert!(stderr(&o).contains("duo-login: debug:"), "{}", stderr(&o));
}

#[test]
fn program_arguments_are_joined_and_run_by_the_shell() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let o = d.run_headless(&["-f", "allow-user", "echo", "one", "two;", "echo", "$0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let shell = root_shell_name();
    // `SHELL -c "echo one two; echo $0"`: argv[0] is the shell's name, without a dash.
    assert_eq!(stdout(&o), format!("one two\n{shell}\n"));
}

#[test]
fn ssh_original_command_runs_when_no_program_is_given() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let env = [("SSH_ORIGINAL_COMMAND", "echo FROM-SSH")];
    let o = run_env(&d, &["-f", "allow-user"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "FROM-SSH\n");
    // PROG ARGS win over it.
    let o = run_env(&d, &["-f", "allow-user", "echo", "FROM-ARGS"], &env);
    assert_eq!(stdout(&o), "FROM-ARGS\n");
}

#[test]
fn ssh_original_command_makes_a_tty_login_headless() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let mut s = pty(
        &d,
        &["-f", "push-user"],
        &[("SSH_ORIGINAL_COMMAND", "echo FROM-SSH")],
    );
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert!(s.output().contains("FROM-SSH"), "{}", s.output());
    assert!(!s.output().contains("Passcode or option"), "{}", s.output());
    assert_eq!(mock.stats().pushes_by_user.get("push-user"), Some(&1));
}

#[test]
fn no_command_execs_a_login_shell() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let mut s = pty(&d, &["-f", "allow-user"], &[]);
    // Give the shell a moment to start, then ask it for its argv[0].
    std::thread::sleep(Duration::from_millis(500));
    s.send_line("echo ARGV0=$0; exit").unwrap();
    let shell = root_shell_name();
    s.expect(&format!("ARGV0=-{shell}"), T).unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
}

#[test]
fn unreachable_daemon_follows_the_shims_failmode() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("missing.sock");
    let run = |extra: &[&str]| {
        let mut c = Command::new(harness::bin("duo-login"));
        c.arg("-s")
            .arg(&sock)
            .args(extra)
            .args(["-f", "push-user", "echo", "LOGGED-IN"])
            .env_remove("SSH_ORIGINAL_COMMAND")
            .env_remove("SSH_CONNECTION");
        harness::run_with_timeout(c, T)
    };
    // The user reads one plain sentence: no socket path, no OS error (those go to syslog).
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stdout(&o).contains("LOGGED-IN"));
    assert_eq!(
        stderr(&o),
        "duo-login: Duo two-factor authentication is unavailable. Login denied.\n"
    );
    let o = run(&["--failmode", "safe"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("LOGGED-IN"));
    assert_eq!(
        stderr(&o),
        "duo-login: Duo two-factor authentication is unavailable. Continuing without it.\n"
    );
    // A socket node nobody listens on (a stopped daemon) is "no daemon" too.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let o = run(&["--failmode", "safe"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // With -d the details are on stderr for the admin.
    let o = run(&["-d"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.sock"), "{}", stderr(&o));
}

#[test]
fn daemon_refuses_to_start_on_config_errors() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("run/authd.sock");
    // A bad value.
    let p = config_file(
        dir.path(),
        "bad.toml",
        &toml_with("prompts = 9\n[authd]\nallow_root = true"),
    );
    let (code, err) = serve_refuses(&p, &sock);
    assert_eq!(code, Some(96), "{err}");
    assert!(
        err.contains(&p.display().to_string()) && err.contains("prompts"),
        "{err}"
    );
    // A file others may read (login_duo: "must be readable only by user").
    let p = config_file(
        dir.path(),
        "open.toml",
        &toml_with("[authd]\nallow_root = true"),
    );
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = serve_refuses(&p, &sock);
    assert_eq!(code, Some(96), "{err}");
    assert!(err.contains("must not be readable"), "{err}");
    // Missing file.
    let (code, err) = serve_refuses(&dir.path().join("nope.toml"), &sock);
    assert_eq!(code, Some(96), "{err}");
    assert!(err.contains("nope.toml"), "{err}");
}
