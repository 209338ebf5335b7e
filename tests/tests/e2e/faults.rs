//! Every fault class, under both failmodes. Failmode answers one question only, "Duo could not be
//! asked whether this user needs a second factor": at preauth `safe` lets the login through and
//! logs it, `secure` denies. Once preauth has answered `auth`, every failure denies in both modes.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::require_root;

/// Run `user` under both failmodes against a daemon built by `make`, checking the answers and the deadline.
fn both_failmodes(
    user: &str,
    mock_opts: MockOptions,
    make: impl Fn(DaemonOptions) -> DaemonOptions,
) {
    for (mode, expect_allow, phrase) in [
        ("safe", true, "Failsafe Duo login"),
        ("secure", false, "Failsecure Duo login"),
    ] {
        let mock = MockDuo::start(mock_opts.clone()).expect("mock starts");
        let opts = make(DaemonOptions::default().top(&format!("failmode = \"{mode}\"")));
        let d = DaemonProc::start(&mock, opts);
        let started = Instant::now();
        let o = login_as(&d, user);
        let took = started.elapsed();
        if expect_allow {
            assert_allowed(&o, &d);
        } else {
            assert_denied(&o, &d);
            assert!(
                stderr(&o).contains("unavailable"),
                "secure deny should say why: {}",
                stderr(&o)
            );
        }
        assert!(
            d.log_text().contains(phrase),
            "{mode}: no '{phrase}' audit line:\n{}",
            d.log_text()
        );
        assert!(
            took < Duration::from_secs(20),
            "{mode}: took {took:?}, past the login deadline"
        );
    }
}

#[test]
fn http_5xx_on_preauth() {
    require_root!();
    both_failmodes("fail5xx-user", MockOptions::default(), |o| o);
}

#[test]
fn invalid_json_on_preauth() {
    require_root!();
    both_failmodes("badjson-user", MockOptions::default(), |o| o);
}

/// Run `user` under both failmodes: the login must be denied in both, with `phrase` audited.
fn denied_in_both_modes(user: &str, mock_opts: MockOptions, extra: &[&str], phrase: &str) {
    for mode in ["safe", "secure"] {
        let mock = MockDuo::start(mock_opts.clone()).expect("mock starts");
        let mut opts = DaemonOptions::default().top(&format!("failmode = \"{mode}\""));
        for l in extra {
            opts = opts.top(l);
        }
        let d = DaemonProc::start(&mock, opts);
        let started = Instant::now();
        let o = login_as(&d, user);
        assert_denied(&o, &d);
        assert!(
            d.log_text().contains(&format!("{phrase} for '{user}'")),
            "{mode}: no '{phrase}' audit line:\n{}",
            d.log_text()
        );
        assert!(
            !d.log_text().contains("Failsafe"),
            "{mode}: {}",
            d.log_text()
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{mode}: took {:?}, past the login deadline",
            started.elapsed()
        );
    }
}

#[test]
fn stat_fail_on_preauth_is_duos_answer_and_denies() {
    require_root!();
    denied_in_both_modes(
        "statfail-user",
        MockOptions::default(),
        &[],
        "Failed Duo login",
    );
}

#[test]
fn unexpected_result_on_preauth() {
    require_root!();
    both_failmodes("weird-result-user", MockOptions::default(), |o| o);
}

#[test]
fn http_401_on_preauth() {
    require_root!();
    both_failmodes("unauthorized-user", MockOptions::default(), |o| o);
}

#[test]
fn wrong_secret_key_is_401() {
    require_root!();
    both_failmodes("push-user", MockOptions::default(), |mut o| {
        o.wrong_skey = true;
        o
    });
}

#[test]
fn http_5xx_on_auth_denies_in_both_modes() {
    require_root!();
    denied_in_both_modes(
        "auth5xx-user",
        MockOptions::default(),
        &[],
        "Error in Duo login",
    );
}

#[test]
fn invalid_json_on_auth_denies_in_both_modes() {
    require_root!();
    denied_in_both_modes(
        "authbadjson-user",
        MockOptions::default(),
        &[],
        "Error in Duo login",
    );
}

#[test]
fn http_5xx_on_auth_status_denies_in_both_modes() {
    require_root!();
    denied_in_both_modes(
        "status5xx-user",
        MockOptions::default(),
        &[],
        "Error in Duo login",
    );
}

#[test]
fn stat_fail_on_auth_denies_in_both_modes() {
    require_root!();
    denied_in_both_modes(
        "auth-statfail-user",
        MockOptions::default(),
        &[],
        "Failed Duo login",
    );
}

#[test]
fn auth_hanging_past_https_timeout_denies_even_under_safe() {
    require_root!();
    // Finding 1 of the failmode-integrity review, made deterministic: /auth answers later than
    // https_timeout. Under the old rule this timed out into a failsafe allow.
    let mock = MockOptions {
        slow_delay: Duration::from_secs(30),
        ..MockOptions::default()
    };
    denied_in_both_modes(
        "auth-slow-user",
        mock,
        &["https_timeout = 2"],
        "Error in Duo login",
    );
}

#[test]
fn timeout_with_https_timeout() {
    require_root!();
    both_failmodes("slow-user", MockOptions::default(), |o| {
        o.top("https_timeout = 2")
    });
}

#[test]
fn silent_network_is_bounded_by_the_login_deadline() {
    require_root!();
    // No https_timeout at all: only the per-login deadline (5 s here) bounds the wait.
    both_failmodes("slow-user", MockOptions::default(), |o| {
        o.authd("login_timeout = 5")
    });
}

#[test]
fn untrusted_certificate_authority() {
    require_root!();
    both_failmodes("push-user", MockOptions::default(), |mut o| {
        o.no_cafile = true;
        o
    });
}

#[test]
fn connection_refused() {
    require_root!();
    // Bind and drop a listener to find a port nobody answers on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    both_failmodes("push-user", MockOptions::default(), move |mut o| {
        o.host = Some(format!("127.0.0.1:{port}"));
        o
    });
}

#[test]
fn connection_dropped_after_auth_is_never_resent_and_denies_under_safe() {
    require_root!();
    for mode in ["safe", "secure"] {
        let mock = MockDuo::start(MockOptions::default()).unwrap();
        let d = DaemonProc::start(
            &mock,
            DaemonOptions::default().top(&format!("failmode = \"{mode}\"")),
        );
        let o = login_as(&d, "drop-auth-user");
        assert_denied(&o, &d);
        assert_eq!(
            mock.stats().auth_by_user.get("drop-auth-user"),
            Some(&1),
            "/auth was re-sent"
        );
    }
}
