//! Parity with login_duo: Audit lines.

use super::*;

#[test]
fn audit_phrases_match_login_duo() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let env = [("SSH_CONNECTION", "192.0.2.10 50000 192.0.2.2 22")];
    assert_allowed(
        &run_env(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &env),
        &d,
    );
    let ok = log_line(&d, "Successful Duo login for 'push-user' from 192.0.2.10");
    assert!(
        ok.contains("result=allow reason=authenticated uid=0"),
        "{ok}"
    );
    assert!(ok.contains("factor=\"push1\""), "{ok}");
    let txid = ok
        .split("txid=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    assert_eq!(txid.len(), 36, "no txid on the line: {ok}");
    assert!(ok.contains("latency_ms="), "{ok}");

    // The shapes existing log searches use for login_duo's lines (a fail2ban filter's
    // `<F-USER>` and `<HOST>`, a SIEM rule's captures) still match, and capture the right fields.
    let re = regex::Regex::new(
        r"(Successful|Skipped|Failed|Aborted|Failsafe|Failsecure) Duo login for '(?P<user>[^']*)'(?: from (?P<host>[^\s:]+))?(?:: (?P<detail>.*))?",
    )
    .unwrap();
    let caps = re.captures(&ok).expect("login_duo's shape");
    assert_eq!(&caps["user"], "push-user");
    assert_eq!(&caps["host"], "192.0.2.10");

    assert_allowed(&login_as(&d, "allow-user"), &d);
    log_line(&d, "Skipped Duo login for 'allow-user'");
    assert_denied(&login_as(&d, "enroll-user"), &d);
    log_line(&d, "Aborted Duo login for 'enroll-user'");
    // A preauth deny is "Aborted" in login_duo's log too.
    assert_denied(&login_as(&d, "deny-user"), &d);
    let l = log_line(&d, "Aborted Duo login for 'deny-user'");
    assert!(l.contains("reason=denied"), "{l}");
    assert_denied(&login_as(&d, "push-deny-user"), &d);
    let l = log_line(&d, "Failed Duo login for 'push-deny-user'");
    assert!(l.contains("factor=\"push1\""), "{l}");
    let caps = re.captures(&l).expect("login_duo's shape");
    assert_eq!(&caps["user"], "push-deny-user");
    assert!(
        caps["detail"].starts_with("Login request denied. [result=deny"),
        "{l}"
    );
    assert_allowed(&login_as(&d, "fail5xx-user"), &d);
    log_line(&d, "Failsafe Duo login for 'fail5xx-user'");

    let (_mock, d) = setup(DaemonOptions::default().top("failmode = \"secure\""));
    assert_denied(&login_as(&d, "fail5xx-user"), &d);
    log_line(&d, "Failsecure Duo login for 'fail5xx-user'");
}

#[test]
fn syslog_on_does_not_disturb_logins() {
    require_root!();
    // What reaches syslogd is not observable in CI; the line still goes to stderr as well.
    let (_mock, d) = setup(DaemonOptions::default().authd("syslog = true"));
    assert_allowed(&login_as(&d, "push-user"), &d);
    log_line(&d, "Successful Duo login for 'push-user'");
}
