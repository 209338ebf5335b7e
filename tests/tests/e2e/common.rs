//! Shared setup for the end-to-end tests.

use std::process::Output;
use std::time::Duration;

pub use duo_authd_tests::harness::{self, DaemonOptions, DaemonProc};
pub use duo_authd_tests::mock::{MockDuo, MockOptions};
pub use duo_authd_tests::pty::PtySession;

/// Generous bound for anything that should finish quickly.
pub const T: Duration = Duration::from_secs(30);

/// A mock and a daemon with `opts`.
pub fn setup(opts: DaemonOptions) -> (MockDuo, DaemonProc) {
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let daemon = DaemonProc::start(&mock, opts);
    (mock, daemon)
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Headless login as root for Duo user `user`, running `echo LOGGED-IN` on allow.
pub fn login_as(d: &DaemonProc, user: &str) -> Output {
    d.run_headless(&["-f", user, "echo", "LOGGED-IN"])
}

/// Assert an allowed login that ran its command.
#[track_caller]
pub fn assert_allowed(o: &Output, d: &DaemonProc) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "expected allow; stdout={} stderr={} daemon log:\n{}",
        stdout(o),
        stderr(o),
        d.log_text()
    );
    assert!(
        stdout(o).contains("LOGGED-IN"),
        "command did not run: {}",
        stdout(o)
    );
}

/// Assert a denied login that did not run its command.
#[track_caller]
pub fn assert_denied(o: &Output, d: &DaemonProc) {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected deny; stdout={} stderr={} daemon log:\n{}",
        stdout(o),
        stderr(o),
        d.log_text()
    );
    assert!(!stdout(o).contains("LOGGED-IN"));
}

/// Start an interactive login through a pty as root for `user`.
pub fn interactive(d: &DaemonProc, user: &str) -> PtySession {
    let mut c = d.shim();
    c.args(["-f", user, "echo", "LOGGED-IN"]);
    PtySession::spawn(c).expect("pty spawn")
}

/// Skip (pass vacuously, loudly) when not root: these tests need -f and useradd, as CI has.
/// The count of skipped tests is printed once, at the end of the run, so a green run as an
/// ordinary user never hides that most end-to-end tests did not run.
#[macro_export]
macro_rules! require_root {
    () => {
        if !duo_authd_tests::harness::is_root() {
            $crate::common::note_skipped();
            return;
        }
    };
}

/// How many root-only tests were skipped in this run.
static SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many of those were skipped because the machine has a `duoauthd` account.
static ACCOUNT_SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Count one skipped root-only test; the first one arranges the summary line at exit.
pub fn note_skipped() {
    if SKIPPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
        // SAFETY: atexit with a plain `extern "C" fn()` that only reads an atomic and writes stderr.
        unsafe {
            libc::atexit(print_skipped);
        }
    }
}

/// The one summary line (libtest captures per-test output; this runs after it has finished).
extern "C" fn print_skipped() {
    let held = ACCOUNT_SKIPPED.load(std::sync::atomic::Ordering::SeqCst);
    if held > 0 {
        eprintln!(
            "e2e: {held} test(s) SKIPPED: this machine has a 'duoauthd' account, which a root daemon without [authd] user becomes"
        );
    }
    let n = SKIPPED.load(std::sync::atomic::Ordering::SeqCst) - held;
    if n == 0 {
        return;
    }
    eprintln!(
        "e2e: {n} root-only end-to-end test(s) SKIPPED: not running as root (they create users and use -f; CI runs them as root)"
    );
}

/// A local unprivileged user for a test (created if missing; useradd may race with other
/// tests, hence the retries); returns (uid, gid).
pub fn local_user(name: &str) -> (u32, u32) {
    for _ in 0..20 {
        if let Some(ids) = harness::ensure_user(name) {
            return ids;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("could not create the test user {name}");
}

/// Poll `f` until it holds or `timeout` passes; true if it held.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The daemon's log lines that contain every one of `needles`.
pub fn lines_with(d: &DaemonProc, needles: &[&str]) -> Vec<String> {
    d.log_text()
        .lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_string)
        .collect()
}

/// The account a root daemon with no `[authd] user` becomes (daemon/src/service.rs).
const DEFAULT_USER: &str = "duoauthd";

/// Serialises the tests that depend on whether the packages' `duoauthd` account exists: a root
/// daemon with no `[authd] user` becomes it when it exists and refuses to start when it does not.
static DEFAULT_ACCOUNT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the `duoauthd` account in place for one test and removes it afterwards if the test made it.
pub struct DefaultAccount {
    /// (uid, gid) of `duoauthd`.
    pub ids: (u32, u32),
    made: bool,
    _held: std::sync::MutexGuard<'static, ()>,
}

impl Drop for DefaultAccount {
    fn drop(&mut self) {
        if self.made {
            let _ = std::process::Command::new("userdel")
                .arg(DEFAULT_USER)
                .status();
        }
    }
}

/// The `duoauthd` account, made for this test if the machine has none.
pub fn default_account() -> DefaultAccount {
    let held = DEFAULT_ACCOUNT.lock().unwrap_or_else(|e| e.into_inner());
    let name = DEFAULT_USER;
    let made = !account_exists(name);
    DefaultAccount {
        ids: local_user(name),
        made,
        _held: held,
    }
}

/// Hold the lock while the machine has no `duoauthd` account; `None` (test skipped) on a machine
/// where the packages made one, which this suite will not delete.
pub fn no_default_account() -> Option<std::sync::MutexGuard<'static, ()>> {
    let held = DEFAULT_ACCOUNT.lock().unwrap_or_else(|e| e.into_inner());
    if account_exists(DEFAULT_USER) {
        eprintln!("skipped: this machine has a 'duoauthd' account, so a root daemon becomes it");
        ACCOUNT_SKIPPED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        note_skipped();
        return None;
    }
    Some(held)
}

/// Whether `name` is a local account.
fn account_exists(name: &str) -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .arg(name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
