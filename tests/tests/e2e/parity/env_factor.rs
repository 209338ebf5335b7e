//! Parity with login_duo: accept_env_factor.

use super::*;

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
