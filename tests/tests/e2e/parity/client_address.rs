//! Parity with login_duo: client address: SSH_CONNECTION, -h, fallback_local_ip.

use super::*;

#[test]
fn fallback_local_ip_sends_this_hosts_address() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("fallback_local_ip = true"));
    assert_allowed(&login_as(&d, "push-user"), &d);
    let s = mock.stats();
    let ip = param(&s, "/auth/v2/preauth", "ipaddr").expect("ipaddr sent");
    let parsed: IpAddr = ip.parse().expect("an IP address");
    // The mock listens on localhost, so the address used to reach it is a loopback one.
    assert!(parsed.is_loopback(), "{ip}");
    assert_eq!(param(&s, "/auth/v2/auth", "ipaddr"), Some(ip));
}

#[test]
fn no_client_address_without_fallback() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(param(&mock.stats(), "/auth/v2/preauth", "ipaddr"), None);
}

#[test]
fn fallback_local_ip_replaces_a_dash_h_that_is_not_an_address() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("fallback_local_ip = true"));
    let o = d.run_headless(&["-h", "BADHOST", "-f", "allow-user", "echo", "LOGGED-IN"]);
    assert_allowed(&o, &d);
    let ip = param(&mock.stats(), "/auth/v2/preauth", "ipaddr").expect("ipaddr");
    assert!(ip.parse::<IpAddr>().is_ok(), "{ip}");
}

#[test]
fn dash_h_from_root_is_the_client_address() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = d.run_headless(&[
        "-h",
        "198.51.100.7",
        "-f",
        "allow-user",
        "echo",
        "LOGGED-IN",
    ]);
    assert_allowed(&o, &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "ipaddr").as_deref(),
        Some("198.51.100.7")
    );
    log_line(&d, "Skipped Duo login for 'allow-user' from 198.51.100.7");
}

#[test]
fn dash_h_from_a_user_is_ignored() {
    require_root!();
    let u = group_users();
    let (mock, d) = setup(DaemonOptions::default());
    let o = run_as(&d, u.out, &["-h", "198.51.100.9", "echo", "LOGGED-IN"], &[]);
    assert_allowed(&o, &d);
    assert_eq!(param(&mock.stats(), "/auth/v2/preauth", "ipaddr"), None);
    let line = log_line(&d, "Duo login for 'duopar-out'");
    assert!(!line.contains("198.51.100.9"), "{line}");
}

#[test]
fn ssh_connection_wins_over_dash_h() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let o = run_env(
        &d,
        &[
            "-h",
            "198.51.100.7",
            "-f",
            "allow-user",
            "echo",
            "LOGGED-IN",
        ],
        &[("SSH_CONNECTION", "192.0.2.44 50000 192.0.2.2 22")],
    );
    assert_allowed(&o, &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "ipaddr").as_deref(),
        Some("192.0.2.44")
    );
}
