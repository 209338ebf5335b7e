//! Parity with login_duo: autopush, prompts.

use super::*;

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
