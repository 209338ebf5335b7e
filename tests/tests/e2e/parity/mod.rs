//! Parity with duo_unix's `login_duo`: one test per option or behaviour listed in docs/PARITY.md,
//! each running the real `duo-authd` and `duo-login` against the mock Duo API. One
//! module per option family; the helpers they share are here.

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

mod audit_lines;
mod client_address;
mod command_line;
mod env_factor;
mod gecos;
mod groups;
mod ini_file;
mod motd;
mod preauth;
mod prompts;
mod tls_and_proxy;
mod verified_push;

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
