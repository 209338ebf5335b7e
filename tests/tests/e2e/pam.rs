//! `pam_duo_authd.so` in real PAM stacks: pamtester under pam_wrapper (service files in a private
//! directory, /etc/pam.d untouched), a real sshd doing publickey,keyboard-interactive, and sudo.
//! Fake daemons that hang or send garbage show the module never takes its host down.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::require_root;

/// The module, built once per test run into the same target directory as the binaries.
fn module() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        let dir = harness::bin_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "pam_duo_authd"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().map(|s| s.success()).unwrap_or(false));
        dir.join("libpam_duo_authd.so")
    })
}

/// Whether pamtester and pam_wrapper are installed (.ci/run installs them).
fn have_pam_tools() -> bool {
    let ok = Path::new("/usr/bin/pamtester").exists() && wrapper_lib().is_some();
    if !ok {
        eprintln!("pam: SKIPPED: pamtester or libpam-wrapper is not installed");
    }
    ok
}

/// libpam_wrapper.so, wherever the distribution put it.
fn wrapper_lib() -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so",
        "/usr/lib64/libpam_wrapper.so",
        "/usr/lib/libpam_wrapper.so",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A private PAM configuration directory holding one service that uses the module.
struct Stack {
    /// Holds the service file (readable by the test's other users).
    dir: tempfile::TempDir,
    /// The service name.
    service: String,
}

impl Stack {
    /// `auth required pam_duo_authd.so ARGS` for `service`, then pam_permit for the account stack.
    fn new(service: &str, args: &str) -> Stack {
        let dir = tempfile::Builder::new()
            .prefix("duo-pam-stack")
            .tempdir()
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let text = format!(
            "auth required {} {args}\naccount required pam_permit.so\nsession required pam_permit.so\n",
            module().display()
        );
        let file = dir.path().join(service);
        fs::write(&file, text).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        Stack {
            dir,
            service: service.to_string(),
        }
    }

    /// The stack for daemon `d`'s socket.
    fn for_daemon(d: &DaemonProc, service: &str, extra: &str) -> Stack {
        Stack::new(
            service,
            &format!("socket={} debug {extra}", d.socket.display()),
        )
    }

    /// `pamtester SERVICE USER authenticate` with `input` on stdin, as `uid` (root when `None`).
    fn pamtester(&self, user: &str, input: &str, uid: Option<(u32, u32)>) -> Output {
        let mut c = Command::new("pamtester");
        c.args(["-v", &self.service, user, "authenticate"])
            .env("LD_PRELOAD", wrapper_lib().unwrap_or_default())
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", self.dir.path());
        if let Some((u, g)) = uid {
            c.uid(u).gid(g);
        }
        harness::run_with_input(c, Some(input), Duration::from_secs(60))
    }
}

/// Both streams, for messages.
fn all(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[track_caller]
fn assert_pam_ok(o: &Output, d: Option<&DaemonProc>) {
    assert!(
        o.status.success() && all(o).contains("successfully authenticated"),
        "expected success: {}\ndaemon log:\n{}",
        all(o),
        d.map(DaemonProc::log_text).unwrap_or_default()
    );
}

#[track_caller]
fn assert_pam_refused(o: &Output, why: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", all(o));
    assert!(all(o).contains(why), "expected {why:?} in: {}", all(o));
}

#[test]
fn bypass_user_is_allowed_and_audited_with_the_service() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let (mock, d) = setup(DaemonOptions::default());
    let s = Stack::for_daemon(&d, "duopam-allow", "");
    let o = s.pamtester("allow-user", "", None);
    assert_pam_ok(&o, Some(&d));
    assert_eq!(mock.stats().by_path.get("/auth/v2/auth"), None);
    let lines = lines_with(&d, &["Skipped Duo login for 'allow-user'"]);
    assert!(
        lines.iter().any(|l| l.contains("service=\"duopam-allow\"")),
        "{}",
        d.log_text()
    );
}

#[test]
fn denied_user_is_refused_with_the_reason_shown() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let (_mock, d) = setup(DaemonOptions::default());
    let s = Stack::for_daemon(&d, "duopam-deny", "");
    let o = s.pamtester("deny-user", "", None);
    assert_pam_refused(&o, "Authentication failure");
    assert!(all(&o).contains("Login denied by policy"), "{}", all(&o));
}

#[test]
fn passcode_at_the_prompt_allows() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let (mock, d) = setup(DaemonOptions::default());
    let s = Stack::for_daemon(&d, "duopam-passcode", "");
    let o = s.pamtester("push-user", "123456\n", None);
    assert_pam_ok(&o, Some(&d));
    assert!(all(&o).contains("Passcode or option"), "{}", all(&o));
    assert!(!all(&o).contains("123456"), "the passcode was echoed");
    assert_eq!(
        mock.stats().last_params["/auth/v2/auth"]
            .get("passcode")
            .or(mock.stats().last_params["/auth/v2/auth"].get("prompt"))
            .map(String::as_str),
        Some("123456")
    );
}

#[test]
fn push_shows_its_status_line_and_allows() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let (_mock, d) = setup(DaemonOptions::default().top("pushinfo = true"));
    let s = Stack::for_daemon(&d, "duopam-push", "");
    let o = s.pamtester("push-user", "1\n", None);
    assert_pam_ok(&o, Some(&d));
    assert!(stdout(&o).contains("Pushed a login request"), "{}", all(&o));
    assert!(d
        .log_text()
        .contains("Successful Duo login for 'push-user'"));
}

#[test]
fn verified_push_code_reaches_an_info_conversation_at_once() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let mock = MockDuo::start(MockOptions {
        push_delay: Duration::from_secs(2),
        ..MockOptions::default()
    })
    .unwrap();
    let d = DaemonProc::start(&mock, DaemonOptions::default().top("verified_push = true"));
    let s = Stack::for_daemon(&d, "duopam-verified", "");
    let o = s.pamtester("verified-user", "1\n", None);
    assert_pam_ok(&o, Some(&d));
    assert!(
        stdout(&o).contains("Enter 123 in your Duo Mobile app"),
        "{}",
        all(&o)
    );
}

#[test]
fn daemon_down_follows_the_failmode() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let secure = Stack::new("duopam-down", "socket=/nonexistent/authd.sock");
    let o = secure.pamtester("alice", "", None);
    assert_pam_refused(&o, "cannot retrieve authentication info");
    let safe = Stack::new(
        "duopam-down",
        "socket=/nonexistent/authd.sock failmode=safe",
    );
    assert_pam_ok(&safe.pamtester("alice", "", None), None);
    // A socket path with nothing listening is "down" too.
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.sock");
    drop(UnixListener::bind(&dead).unwrap());
    let safe = Stack::new(
        "duopam-down",
        &format!("socket={} failmode=safe", dead.display()),
    );
    assert_pam_ok(&safe.pamtester("alice", "", None), None);
}

#[test]
fn a_non_root_caller_cannot_name_another_user() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let (mock, d) = setup(DaemonOptions::default());
    let ids = local_user("duopam-other");
    let s = Stack::for_daemon(&d, "duopam-nonroot", "");
    let o = s.pamtester("allow-user", "", Some(ids));
    assert_pam_refused(&o, "Authentication failure");
    assert!(
        d.log_text()
            .contains("may not authenticate as another Duo user"),
        "{}",
        d.log_text()
    );
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), None);
}

/// A root-owned socket served by a thread that does `behave` with each connection.
fn fake_daemon(behave: fn(std::os::unix::net::UnixStream)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("fake.sock");
    let l = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || behave(s));
        }
    });
    (dir, path)
}

#[test]
fn a_hanging_daemon_costs_the_timeout_and_denies_in_both_failmodes() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let (_dir, path) = fake_daemon(|s| {
        std::thread::sleep(Duration::from_secs(60));
        drop(s);
    });
    for failmode in ["safe", "secure"] {
        let s = Stack::new(
            "duopam-hang",
            &format!("socket={} failmode={failmode} timeout=2", path.display()),
        );
        let start = Instant::now();
        let o = s.pamtester("alice", "", None);
        assert_pam_refused(&o, "Error in service module");
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
    }
}

#[test]
fn garbage_and_hang_ups_deny_without_hurting_the_host() {
    require_root!();
    if !have_pam_tools() {
        return;
    }
    let garbage: fn(std::os::unix::net::UnixStream) = |mut s| {
        let _ = s.write_all(&[0, 0, 0, 5, 0xff, 0xfe, 0xfd, 0xfc, 0xfb]);
        std::thread::sleep(Duration::from_millis(500));
    };
    let huge: fn(std::os::unix::net::UnixStream) = |mut s| {
        let _ = s.write_all(&[0xff, 0xff, 0xff, 0xff]);
        std::thread::sleep(Duration::from_millis(500));
    };
    let hang_up: fn(std::os::unix::net::UnixStream) = drop;
    for behave in [garbage, huge, hang_up] {
        let (_dir, path) = fake_daemon(behave);
        let s = Stack::new(
            "duopam-garbage",
            &format!("socket={} failmode=safe", path.display()),
        );
        let o = s.pamtester("alice", "", None);
        // A signal would leave no exit code: pamtester itself finished and reported the failure.
        assert_pam_refused(&o, "Error in service module");
    }
}

/// Whether a real sshd, ssh and sudo are installed (.ci/run installs them).
fn have_sshd_and_sudo() -> bool {
    let ok = [
        "/usr/sbin/sshd",
        "/usr/bin/ssh",
        "/usr/bin/ssh-keygen",
        "/usr/bin/sudo",
    ]
    .iter()
    .all(|p| Path::new(p).exists());
    if !ok {
        eprintln!("pam: SKIPPED: sshd, ssh or sudo is not installed");
    }
    ok
}

/// A daemon with Verified Push on, and a mock whose pushes wait long enough to read the code.
fn verified_setup() -> (MockDuo, DaemonProc) {
    let mock = MockDuo::start(MockOptions {
        push_delay: Duration::from_secs(2),
        ..MockOptions::default()
    })
    .unwrap();
    let d = DaemonProc::start(&mock, DaemonOptions::default().top("verified_push = true"));
    (mock, d)
}

/// A running sshd, killed on drop.
struct Sshd {
    /// The process.
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    port: u16,
    /// Holds keys, config and log.
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sshd {
    /// sshd on a free port, publickey then keyboard-interactive through the PAM stack `stack`
    /// (pam_wrapper's service directory, so the system's /etc/pam.d/sshd is not used).
    fn start(stack: &Stack) -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("duo-pam-sshd")
            .tempdir()
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all("/run/sshd").unwrap();
        for key in ["hostkey", "clientkey"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.path().join(key))
                .status()
                .unwrap()
                .success();
            assert!(ok, "ssh-keygen failed");
        }
        fs::copy(
            dir.path().join("clientkey.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        fs::set_permissions(
            dir.path().join("authorized_keys"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM yes\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication yes\n\
             AuthenticationMethods publickey,keyboard-interactive\nPermitRootLogin no\nLogLevel DEBUG1\n"
        );
        fs::write(dir.path().join("sshd_config"), config).unwrap();
        let log = fs::File::create(dir.path().join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.path().join("sshd_config"))
            .env("LD_PRELOAD", wrapper_lib().unwrap_or_default())
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", stack.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let s = Sshd { child, port, dir };
        let up = wait_for(T, || {
            std::net::TcpStream::connect(("127.0.0.1", s.port)).is_ok()
        });
        assert!(up, "sshd did not start:\n{}", s.log());
        s
    }

    /// sshd's stderr so far.
    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `ssh USER@127.0.0.1 echo LOGGED-IN` with the client key, on a pty.
    fn ssh(&self, user: &str) -> PtySession {
        self.ssh_tries(user, 3)
    }

    /// As [`Sshd::ssh`], giving up after `tries` keyboard-interactive rounds.
    fn ssh_tries(&self, user: &str, tries: u32) -> PtySession {
        let mut c = Command::new("ssh");
        c.args(["-p", &self.port.to_string(), "-i"])
            .arg(self.dir.path().join("clientkey"))
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "PreferredAuthentications=publickey,keyboard-interactive",
                "-o",
                "LogLevel=ERROR",
                "-o",
                &format!("NumberOfPasswordPrompts={tries}"),
                &format!("{user}@127.0.0.1"),
                "echo",
                "LOGGED-IN",
            ]);
        PtySession::spawn(c).expect("pty spawn")
    }
}

#[test]
fn sshd_keyboard_interactive_shows_the_verified_push_code_as_a_prompt() {
    require_root!();
    if !have_pam_tools() || !have_sshd_and_sudo() {
        return;
    }
    let (_mock, d) = verified_setup();
    // The mock picks its scenario by user name, so the local account is named after it.
    local_user("verified-user");
    let stack = Stack::for_daemon(&d, "sshd", "");
    let sshd = Sshd::start(&stack);
    let mut s = sshd.ssh("verified-user");
    let diag = |s: &PtySession| {
        format!(
            "client:\n{}\nsshd:\n{}\ndaemon:\n{}",
            s.output(),
            sshd.log(),
            d.log_text()
        )
    };
    if let Err(e) = s.expect("Passcode or option", T) {
        panic!("{e}\n{}", diag(&s));
    }
    s.send_line("1").unwrap();
    // Without the prompt, sshd would hold this line back until after the login: the user could
    // never type the code into Duo Mobile.
    if let Err(e) = s.expect("Enter 123 in your Duo Mobile app", T) {
        panic!("{e}\n{}", diag(&s));
    }
    s.expect("Press Enter", T).unwrap();
    s.send_line("").unwrap();
    if let Err(e) = s.expect("LOGGED-IN", T) {
        panic!("{e}\n{}", diag(&s));
    }
    assert_eq!(s.wait(T).unwrap(), 0, "{}", diag(&s));
    let lines = lines_with(&d, &["Successful Duo login for 'verified-user'"]);
    assert!(
        lines.iter().any(|l| l.contains("service=\"sshd\"")),
        "{}",
        d.log_text()
    );
}

#[test]
fn sshd_keyboard_interactive_denies_a_denied_push() {
    require_root!();
    if !have_pam_tools() || !have_sshd_and_sudo() {
        return;
    }
    let (_mock, d) = setup(DaemonOptions::default().top("prompts = 1"));
    local_user("push-deny-user");
    let stack = Stack::for_daemon(&d, "sshd", "");
    let sshd = Sshd::start(&stack);
    let mut s = sshd.ssh_tries("push-deny-user", 1);
    s.expect("Passcode or option", T).unwrap();
    s.send_line("1").unwrap();
    let failed = wait_for(T, || {
        d.log_text()
            .contains("Failed Duo login for 'push-deny-user'")
    });
    assert!(failed, "{}", d.log_text());
    // sshd starts keyboard-interactive over again after the failure: a fresh menu, no shell.
    s.expect("Passcode or option (1-3): \r\n", T)
        .or_else(|_| s.expect("Duo two-factor login for push-deny-user\r\n\r\nEnter", T))
        .unwrap();
    assert!(!s.output().contains("LOGGED-IN"), "{}", s.output());
}

/// A PAM service and sudoers drop-in under /etc for sudo (setuid, so pam_wrapper cannot be
/// preloaded into it), removed on drop.
struct SudoSetup {
    /// /etc/pam.d/<service>.
    pam_file: PathBuf,
    /// /etc/sudoers.d/<name>.
    sudoers_file: PathBuf,
}

impl Drop for SudoSetup {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.pam_file);
        let _ = fs::remove_file(&self.sudoers_file);
    }
}

impl SudoSetup {
    /// Let `user` run anything through sudo, authenticated by the module alone.
    fn new(d: &DaemonProc, user: &str) -> SudoSetup {
        let service = "duo-authd-e2e-sudo";
        let pam_file = PathBuf::from("/etc/pam.d").join(service);
        fs::write(
            &pam_file,
            format!(
                "auth required {} socket={} debug\naccount required pam_permit.so\nsession required pam_permit.so\n",
                module().display(),
                d.socket.display()
            ),
        )
        .unwrap();
        let sudoers_file = PathBuf::from("/etc/sudoers.d/duo-authd-e2e");
        fs::write(
            &sudoers_file,
            format!(
                "Defaults:{user} pam_service={service}, !lecture, timestamp_timeout=0\n{user} ALL=(ALL) ALL\n"
            ),
        )
        .unwrap();
        fs::set_permissions(&sudoers_file, fs::Permissions::from_mode(0o440)).unwrap();
        let setup = SudoSetup {
            pam_file,
            sudoers_file,
        };
        let ok = Command::new("visudo")
            .arg("-cf")
            .arg(&setup.sudoers_file)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "the test's sudoers drop-in does not parse");
        setup
    }
}

#[test]
fn sudo_goes_through_the_module_and_shows_the_code_at_once() {
    require_root!();
    if !have_sshd_and_sudo() {
        return;
    }
    let (_mock, d) = verified_setup();
    let ids = local_user("verified-user");
    let _setup = SudoSetup::new(&d, "verified-user");
    let mut c = Command::new("sudo");
    c.args(["-k", "/bin/echo", "SUDO-OK"])
        .uid(ids.0)
        .gid(ids.1)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    let mut s = PtySession::spawn(c).expect("pty spawn");
    let diag = |s: &PtySession| format!("sudo:\n{}\ndaemon:\n{}", s.output(), d.log_text());
    if let Err(e) = s.expect("Passcode or option", T) {
        panic!("{e}\n{}", diag(&s));
    }
    s.send_line("1").unwrap();
    if let Err(e) = s.expect("Enter 123 in your Duo Mobile app", T) {
        panic!("{e}\n{}", diag(&s));
    }
    if let Err(e) = s.expect("SUDO-OK", T) {
        panic!("{e}\n{}", diag(&s));
    }
    assert_eq!(s.wait(T).unwrap(), 0, "{}", diag(&s));
    assert!(!s.output().contains("Press Enter"), "{}", s.output());
    let lines = lines_with(&d, &["Successful Duo login for 'verified-user'"]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("service=\"duo-authd-e2e-sudo\"")),
        "{}",
        d.log_text()
    );
}
