//! Every mock scenario through the real shim and daemon.

use crate::common::*;
use crate::require_root;

#[test]
fn bypass_user_is_let_in_without_a_prompt() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = login_as(&d, "allow-user");
    assert_allowed(&o, &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/auth"), None);
    assert!(
        d.log_text().contains("Skipped Duo login for 'allow-user'"),
        "{}",
        d.log_text()
    );
}

#[test]
fn denied_user_sees_why_on_stderr() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let o = login_as(&d, "deny-user");
    assert_denied(&o, &d);
    assert!(
        stderr(&o).contains("Login denied by policy"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn enroll_user_gets_the_enrollment_text() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let o = login_as(&d, "enroll-user");
    assert_denied(&o, &d);
    assert!(
        stderr(&o).contains("https://enroll.example/abc"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn headless_login_pushes_automatically() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = login_as(&d, "push-user");
    assert_allowed(&o, &d);
    let s = mock.stats();
    assert_eq!(s.pushes_by_user.get("push-user"), Some(&1));
    let auth = &s.last_params["/auth/v2/auth"];
    assert_eq!(auth.get("factor").map(String::as_str), Some("prompt"));
    assert_eq!(auth.get("prompt").map(String::as_str), Some("push1"));
    assert!(d
        .log_text()
        .contains("Successful Duo login for 'push-user'"));
}

#[test]
fn headless_push_denied_is_denied() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let o = login_as(&d, "push-deny-user");
    assert_denied(&o, &d);
    assert!(
        stderr(&o).contains("Login request denied"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn interactive_push_shows_the_menu_and_lets_in() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "push-user");
    s.expect("Passcode or option (1-3):", T).unwrap();
    assert!(s.output().contains("1. Duo Push to"));
    s.send_line("1").unwrap();
    s.expect("Success. Logging you in...", T).unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert!(s.output().contains("LOGGED-IN"));
}

#[test]
fn interactive_phone_call() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "phone-user");
    s.expect("Passcode or option", T).unwrap();
    s.send_line("2").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert_eq!(
        mock.stats().last_params["/auth/v2/auth"]
            .get("prompt")
            .map(String::as_str),
        Some("phone1")
    );
}

#[test]
fn sms_then_passcode() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "sms-user");
    s.expect("Passcode or option", T).unwrap();
    s.send_line("3").unwrap();
    s.expect("New SMS passcodes sent", T).unwrap();
    // The menu comes back for the second attempt.
    let end = std::time::Instant::now() + T;
    while s.output().matches("Passcode or option").count() < 2 && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    s.send_line("123456").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert!(
        !s.output().contains("123456"),
        "the passcode was echoed: {}",
        s.output()
    );
}

#[test]
fn wrong_passcodes_exhaust_the_prompts() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "push-user");
    for i in 1..=3 {
        let end = std::time::Instant::now() + T;
        while s.output().matches("Passcode or option").count() < i
            && std::time::Instant::now() < end
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        s.send_line("000000").unwrap();
    }
    assert_eq!(s.wait(T).unwrap(), 1, "{}", s.output());
    assert_eq!(
        s.output().matches("Incorrect passcode").count(),
        3,
        "{}",
        s.output()
    );
    assert_eq!(mock.stats().by_path.get("/auth/v2/auth"), Some(&3));
}

#[test]
fn right_passcode_lets_in() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "push-user");
    s.expect("Passcode or option", T).unwrap();
    s.send_line("123456").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
}

#[test]
fn devices_list_builds_our_own_menu() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "devices-user");
    s.expect("Passcode or option (1-3):", T).unwrap();
    assert!(
        s.output().contains("1. Duo Push to XXX-XXX-0100"),
        "{}",
        s.output()
    );
    s.send_line("1").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    let auth = &mock.stats().last_params["/auth/v2/auth"];
    assert_eq!(auth.get("factor").map(String::as_str), Some("push"));
    assert_eq!(
        auth.get("device").map(String::as_str),
        Some("DPFZRS9FB0D46QFTM891")
    );
}

#[test]
fn devices_list_headless_uses_auto() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = login_as(&d, "devices-user");
    assert_allowed(&o, &d);
    assert_eq!(
        mock.stats().last_params["/auth/v2/auth"]
            .get("factor")
            .map(String::as_str),
        Some("auto")
    );
}

#[test]
fn warm_pool_means_no_new_tls_connections() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    assert_allowed(&login_as(&d, "allow-user"), &d);
    let before = mock.stats();
    for _ in 0..10 {
        assert_allowed(&login_as(&d, "allow-user"), &d);
    }
    assert_allowed(&login_as(&d, "push-user"), &d);
    let after = mock.stats();
    assert_eq!(
        after.tls_handshakes, before.tls_handshakes,
        "a login opened a new TLS connection"
    );
    assert_eq!(after.tcp_connections, before.tcp_connections);
    assert!(after.requests >= before.requests + 13);
}

#[test]
fn rate_limited_preauth_backs_off_and_succeeds() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "ratelimit-user");
    s.expect(
        "Rate-limiting response received from server. Waiting for 1 seconds",
        T,
    )
    .unwrap();
    s.expect("Passcode or option", T).unwrap();
    s.send_line("1").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), Some(&3));
}

#[test]
fn pushinfo_and_ipaddr_reach_duo() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("pushinfo = true"));
    let mut c = d.shim();
    c.env("SSH_CONNECTION", "192.0.2.10 50000 192.0.2.2 22")
        .args(["-f", "push-user", "echo", "hi;", "id"]);
    let o = harness::run_with_timeout(c, T);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = mock.stats();
    let pre = &s.last_params["/auth/v2/preauth"];
    assert_eq!(pre.get("ipaddr").map(String::as_str), Some("192.0.2.10"));
    let auth = &s.last_params["/auth/v2/auth"];
    assert_eq!(
        auth.get("pushinfo").map(String::as_str),
        Some("Server+IP=192.0.2.2&Command=echo%20hi%3B%20id")
    );
}
