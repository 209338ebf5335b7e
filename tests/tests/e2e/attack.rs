//! The second adversarial review: each finding replayed against the real binaries (the mock Duo
//! API playing a broken or hostile Duo, or a local user playing the attacker), with
//! `failmode = "safe"` (the default) and the shim's `--failmode safe`, so that any path that
//! still fails open shows up as a shell.

use crate::common::*;
use crate::require_root;

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
