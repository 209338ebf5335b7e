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
#[macro_export]
macro_rules! require_root {
    () => {
        if !duo_authd_tests::harness::is_root() {
            eprintln!("SKIPPED: needs root (CI runs as root)");
            return;
        }
    };
}
