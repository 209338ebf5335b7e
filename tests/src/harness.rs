//! Running the real `duo-authd` and `duo-login` binaries against the mock Duo API.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::mock::MockDuo;

#[cfg(target_os = "linux")]
mod linux;

/// Make `cmd`'s process die with the thread that spawns it (Linux: `PR_SET_PDEATHSIG`), so a
/// test or demo killed outright leaves no daemon behind; elsewhere only the drop guard applies.
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    linux::die_with_parent(cmd);
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Where the workspace's binaries are, built once per test process so they are never stale.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        // target/<profile>/deps/test-binary or target/<profile>/binary
        let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let profile_release = dir.ends_with("release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "duo-authd",
            "-p",
            "duo-login",
            "-p",
            "duo-authd-tests",
            "--bins",
        ]);
        if profile_release {
            cmd.arg("--release");
        }
        let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "building the duo-authd and duo-login binaries failed");
        dir
    })
}

/// Path of one of the workspace's binaries.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Extra lines for the daemon's config, and how to run it.
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    /// Top-level TOML lines (failmode, prompts, ...).
    pub top: Vec<String>,
    /// Lines for the `[authd]` table.
    pub authd: Vec<String>,
    /// Use a wrong skey (to provoke 401).
    pub wrong_skey: bool,
    /// Log level for `serve`.
    pub log_level: String,
    /// Don't point `cafile` at the mock's CA (to test untrusted certificates).
    pub no_cafile: bool,
    /// Use this `host` instead of the mock's (to test unreachable hosts).
    pub host: Option<String>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            top: Vec::new(),
            authd: vec!["allow_root = true".into(), "login_timeout = 20".into()],
            wrong_skey: false,
            log_level: "info".into(),
            no_cafile: false,
            host: None,
        }
    }
}

impl DaemonOptions {
    /// Add a top-level config line, replacing an earlier one for the same key.
    pub fn top(mut self, line: &str) -> Self {
        set_line(&mut self.top, line);
        self
    }
    /// Add an `[authd]` config line, replacing an earlier one for the same key.
    pub fn authd(mut self, line: &str) -> Self {
        set_line(&mut self.authd, line);
        self
    }
}

/// Put `key = value` into `lines`, dropping an earlier line for the same key.
fn set_line(lines: &mut Vec<String>, line: &str) {
    let key = |l: &str| l.split('=').next().unwrap_or("").trim().to_string();
    let k = key(line);
    lines.retain(|l| key(l) != k);
    lines.push(line.to_string());
}

/// A running `duo-authd serve` in its own temporary directory.
pub struct DaemonProc {
    /// The process.
    pub child: Option<Child>,
    /// Holds the socket, config and log.
    pub dir: tempfile::TempDir,
    /// The socket path.
    pub socket: PathBuf,
    /// The config path.
    pub config: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
}

/// Render a config for `mock` with `opts`.
pub fn config_text(
    mock_host: &str,
    ca: &Path,
    skey: &str,
    opts: &DaemonOptions,
    socket: &Path,
) -> String {
    let mut s =
        format!("ikey = \"DIXYZV6YM8IFYVWBINCA\"\nskey = \"{skey}\"\nhost = \"{mock_host}\"\n");
    if !opts.no_cafile {
        s.push_str(&format!("cafile = \"{}\"\n", ca.display()));
    }
    for l in &opts.top {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&format!("\n[authd]\nsocket = \"{}\"\n", socket.display()));
    for l in &opts.authd {
        s.push_str(l);
        s.push('\n');
    }
    s
}

impl DaemonProc {
    /// Start a daemon for `mock`, waiting until its socket answers.
    pub fn start(mock: &MockDuo, opts: DaemonOptions) -> DaemonProc {
        let dir = tempfile::Builder::new()
            .prefix("duo-authd-test")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        // Other (test) users must be able to reach the socket inside.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).ok();
        let socket = dir.path().join("run").join("authd.sock");
        let config = dir.path().join("authd.toml");
        let skey = if opts.wrong_skey {
            "wrongwrongwrongwrongwrongwrongwrongwrong"
        } else {
            "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo"
        };
        let host = opts.host.clone().unwrap_or_else(|| mock.host());
        write_private(
            &config,
            &config_text(&host, mock.ca_file(), skey, &opts, &socket),
        );
        let mut d = DaemonProc {
            child: None,
            dir,
            socket,
            config,
            log: PathBuf::new(),
        };
        d.log = d.dir.path().join("daemon.log");
        d.spawn(&opts.log_level);
        d
    }

    /// Start the process (again) on the current config.
    pub fn spawn(&mut self, log_level: &str) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("log: {e}"));
        // DUO_AUTHD_WRAPPER="valgrind --tool=massif" (say) runs the daemon under a profiler.
        let wrapper = std::env::var("DUO_AUTHD_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut cmd = match words.next() {
            Some(prog) => {
                let mut c = Command::new(prog);
                c.args(words).arg(bin("duo-authd"));
                c
            }
            None => Command::new(bin("duo-authd")),
        };
        die_with_parent(&mut cmd);
        let child = cmd
            .args(["serve", "--config"])
            .arg(&self.config)
            .args(["--log-level", log_level])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning duo-authd: {e}"));
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            // Ready means the accept loop answers (signal handlers are installed by then), not merely
            // that the socket is bound.
            if answers_hello(&self.socket) {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "duo-authd exited with {st} during start:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("duo-authd did not start listening:\n{}", self.log_text());
    }

    /// The daemon's stderr so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Replace the config file (kept 0600) — for SIGHUP tests.
    pub fn rewrite_config(&self, text: &str) {
        write_private(&self.config, text);
    }

    /// Send a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// Wait for the daemon to exit and return its code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        while Instant::now() < end {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A `duo-login` command aimed at this daemon.
    pub fn shim(&self) -> Command {
        let mut c = Command::new(bin("duo-login"));
        c.arg("-s").arg(&self.socket);
        c.env_remove("SSH_ORIGINAL_COMMAND")
            .env_remove("SSH_CONNECTION")
            .env_remove("DUO_PASSCODE");
        c
    }

    /// Run the shim headless (stdin not a TTY) for `args`, with a time limit.
    pub fn run_headless(&self, args: &[&str]) -> Output {
        let mut c = self.shim();
        c.args(args);
        run_with_timeout(c, Duration::from_secs(60))
    }

    /// `duo-authd health --json` against this daemon.
    pub fn health(&self) -> (i32, serde_json::Value) {
        let mut c = Command::new(bin("duo-authd"));
        c.args(["health", "--json", "--socket"]).arg(&self.socket);
        let out = run_with_timeout(c, Duration::from_secs(20));
        let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out.status.code().unwrap_or(-1), v)
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        if std::env::var_os("DUO_AUTHD_WRAPPER").is_some() {
            // Under a profiler: stop gracefully so it can write its report.
            self.signal(libc::SIGTERM);
            let _ = self.wait_exit(Duration::from_secs(120));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `-f user` login request as a headless shim sends it (no command, no SSH variables).
pub fn headless_request(duo_user: &str) -> duo_authd_proto::LoginRequest {
    duo_authd_proto::LoginRequest {
        duo_user: Some(duo_user.to_string()),
        client_host: None,
        ssh_connection: None,
        command: None,
        interactive: false,
        env_passcode: None,
        service: None,
    }
}

/// Whether a daemon at `socket` completes the protocol handshake.
pub fn answers_hello(socket: &Path) -> bool {
    use duo_authd_proto::{read_frame, write_frame, ClientMsg, ServerMsg, PROTOCOL_VERSION};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    write_frame(
        &mut s,
        &ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        },
    )
    .is_ok()
        && matches!(
            read_frame::<_, ServerMsg>(&mut s),
            Ok(ServerMsg::Hello { .. })
        )
}

/// Write a file with mode 0600 (created so, never briefly readable by others).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Run a command with stdin from /dev/null, killing it after `timeout`.
pub fn run_with_timeout(cmd: Command, timeout: Duration) -> Output {
    run_with_input(cmd, None, timeout)
}

/// Run a command with `input` on stdin (or /dev/null), killing it after `timeout`.
pub fn run_with_input(mut cmd: Command, input: Option<&str>, timeout: Duration) -> Output {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let (Some(mut stdin), Some(text)) = (child.stdin.take(), input) {
        let _ = stdin.write_all(text.as_bytes());
    }
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut v);
        }
        v
    });
    let end = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                panic!("{cmd:?} did not finish within {timeout:?}");
            }
        }
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Every local account the tests may create; `leftovers` checks none is left after a run.
pub const TEST_USERS: &[&str] = &[
    "allow-user",
    "deny-user",
    "duoabuse3",
    "duoabuse8",
    "duoauthd",
    "duoauthd-test",
    "duofake",
    "duoint",
    "duoint-dirowner",
    "duoint-flood",
    "duoint-forge",
    "duoint-hammer",
    "duoint-health",
    "duoint-hold",
    "duoint-svc",
    "duolife-flood",
    "duolife-other",
    "duomig-f",
    "duopam-other",
    "duopar-both",
    "duopar-gecos",
    "duopar-in",
    "duopar-out",
    "duopar-svc",
    "duotest1",
    "push-deny-user",
    "verified-user",
];
/// Every local group the tests may create (besides each user's own).
pub const TEST_GROUPS: &[&str] = &["duopar-admins", "duopar-devs"];

/// Accounts (`true`) and groups (`false`) this process created, removed when it exits.
static CREATED: std::sync::Mutex<Vec<(bool, String)>> = std::sync::Mutex::new(Vec::new());

/// Note an account or group this process created; the first one arranges their removal at exit.
fn remember(user: bool, name: &str) {
    let mut created = CREATED.lock().unwrap_or_else(|e| e.into_inner());
    if created.is_empty() {
        // SAFETY: atexit with a plain `extern "C" fn()`; it runs after every test thread is done.
        unsafe {
            libc::atexit(remove_created);
        }
    }
    created.push((user, name.to_string()));
}

/// At exit: remove what this process created (an account that existed before is left alone).
extern "C" fn remove_created() {
    let created = std::mem::take(&mut *CREATED.lock().unwrap_or_else(|e| e.into_inner()));
    // Accounts first (userdel also removes each one's own group), then the shared groups.
    for (user, name) in created
        .iter()
        .filter(|(u, _)| *u)
        .chain(created.iter().filter(|(u, _)| !*u))
    {
        let (tool, what) = if *user {
            ("userdel", "user")
        } else {
            ("groupdel", "group")
        };
        let ok = Command::new(tool)
            .arg(name)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("harness: could not remove the test {what} {name} ({tool} failed)");
        }
    }
}

/// Ensure a local group exists (created by this process: removed when it exits).
pub fn ensure_group(name: &str) -> bool {
    assert!(
        TEST_GROUPS.contains(&name),
        "{name} is not in harness::TEST_GROUPS"
    );
    let exists = || {
        Command::new("getent")
            .args(["group", name])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if exists() {
        return true;
    }
    if Command::new("groupadd")
        .arg(name)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        remember(false, name);
    }
    exists()
}

/// Ensure a local unprivileged user exists (tests run as root in CI) and return its (uid, gid).
/// One this process creates is removed when the process exits; one that existed is reused.
pub fn ensure_user(name: &str) -> Option<(u32, u32)> {
    assert!(
        TEST_USERS.contains(&name),
        "{name} is not in harness::TEST_USERS"
    );
    if !is_root() {
        return None;
    }
    let lookup = || {
        let out = Command::new("id").arg("-u").arg(name).output().ok()?;
        let uid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        let out = Command::new("id").arg("-g").arg(name).output().ok()?;
        let gid = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        Some((uid, gid))
    };
    if let Some(ids) = lookup() {
        return Some(ids);
    }
    let created = Command::new("useradd")
        .args(["-M", "-d", "/nonexistent", "-s", "/bin/sh", name])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if created {
        remember(true, name);
    }
    lookup()
}

/// Whether the tests run as root (CI does; some tests need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}
