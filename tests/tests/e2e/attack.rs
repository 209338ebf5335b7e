//! The second adversarial review: each finding replayed against the real binaries (the mock Duo
//! API playing a broken or hostile Duo, or a local user playing the attacker), with
//! `failmode = "safe"` (the default) and the shim's `--failmode safe`, so that any path that
//! still fails open shows up as a shell.

use crate::common::*;
use crate::require_root;
use duo_authd_tests::mock::FORGED_LINE;

/// A headless root login for Duo user `user` with the shim's `--failmode safe`.
fn login_safe(d: &DaemonProc, user: &str) -> std::process::Output {
    d.run_headless(&["--failmode", "safe", "-f", user, "echo", "LOGGED-IN"])
}

#[test]
fn a_preauth_that_answered_auth_never_fails_open() {
    require_root!();
    // Finding A1: preauth answered `auth` (the user needs a second factor) with a menu the
    // daemon could not build (a factor map without `default`; a devices list with only a
    // token). That was sorted as "unreadable response at preauth", so `failmode = safe` let the
    // user in without any second factor. Duo did answer the one question failmode is about.
    let (mock, d) = setup(DaemonOptions::default());
    let o = login_safe(&d, "auth-nomenu-user");
    assert_denied(&o, &d);
    assert!(
        lines_with(&d, &["Failsafe Duo login"]).is_empty(),
        "{}",
        d.log_text()
    );
    assert_eq!(
        lines_with(&d, &["Error in Duo login for 'auth-nomenu-user'"]).len(),
        1
    );
    assert!(mock.stats().auth_by_user.is_empty());
}

#[test]
fn a_duo_message_cannot_forge_a_daemon_log_line() {
    require_root!();
    // Finding A2: Duo's `message` (stat: FAIL, HTTP 4xx) went into the daemon's own
    // "Duo request failed: ..." line unescaped, so a line break in it started a new log line
    // (journald and SMF logs split stderr on newlines) that read like an audit line.
    let (_mock, d) = setup(DaemonOptions::default());
    let o = login_safe(&d, "forge-log-user");
    assert_denied(&o, &d);
    let log = d.log_text();
    for line in log.lines() {
        assert!(
            !line.trim_start().starts_with("Successful Duo login"),
            "a forged line in the daemon log: {line:?}\n{log}"
        );
        assert_ne!(line.trim(), FORGED_LINE, "{log}");
        assert!(
            !line.contains('\r'),
            "a carriage return in the log: {line:?}"
        );
    }
    // The text is still there, escaped, inside the one line that reports it.
    assert!(
        log.lines()
            .any(|l| l.contains("Duo request failed") && l.contains("FORGED")),
        "{log}"
    );
}

#[test]
fn a_queue_for_our_own_duo_connections_is_not_duo_unreachable() {
    require_root!();
    // Finding A3: every request to Duo waits for one of `max_concurrent_requests` permits, and
    // that wait counted against the request's timeout. Logins long-polling /auth_status hold
    // permits, so once they held all of them (256 pending pushes by default, here 1) the next
    // user's preauth waited, timed out as "Duo did not answer" and `failmode = safe` let that
    // user in with no second factor, though Duo was up and had not been asked.
    let mock = MockDuo::start(MockOptions {
        push_delay: std::time::Duration::from_secs(12),
        ..MockOptions::default()
    })
    .expect("mock starts");
    let d = DaemonProc::start(
        &mock,
        DaemonOptions::default()
            .top("https_timeout = 2")
            .authd("max_concurrent_requests = 1"),
    );
    // Someone else's login, waiting on a push: its long poll holds the only permit.
    let mut holder = d.shim();
    holder.args(["-f", "push-user", "true"]);
    let mut holder = holder
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("shim");
    assert!(
        wait_for(T, || mock
            .stats()
            .by_path
            .contains_key("/auth/v2/auth_status")),
        "the first login never polled: {}",
        d.log_text()
    );
    // The victim: a password is all the attacker has; Duo would deny the push.
    let o = login_safe(&d, "push-deny-user");
    assert_denied(&o, &d);
    assert!(
        lines_with(&d, &["Failsafe Duo login"]).is_empty(),
        "{}",
        d.log_text()
    );
    let _ = holder.kill();
    let _ = holder.wait();
}
