//! Parity with login_duo: verified_push.

use super::*;

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
        stderr(&o).contains("autopush and verified_push cannot both be enabled in "),
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
