//! Parity with login_duo: groups.

use super::*;

#[test]
fn groups_member_needs_duo_and_outsider_is_skipped_without_a_request() {
    require_root!();
    let u = group_users();
    let (mock, d) = setup(DaemonOptions::default().top("groups = [\"duopar-adm*\"]"));
    let o = run_as(&d, u.inn, &["echo", "LOGGED-IN"], &[]);
    assert_allowed(&o, &d);
    assert_eq!(mock.stats().pushes_by_user.get("duopar-in"), Some(&1));
    log_line(&d, "Successful Duo login for 'duopar-in'");

    mock.reset_stats();
    let o = run_as(&d, u.out, &["echo", "LOGGED-IN"], &[]);
    assert_allowed(&o, &d);
    let s = mock.stats();
    assert_eq!(s.by_path.get("/auth/v2/preauth"), None, "{s:?}");
    assert_eq!(s.by_path.get("/auth/v2/auth"), None, "{s:?}");
    let line = log_line(&d, "Skipped Duo login for 'duopar-out'");
    assert!(line.contains("reason=not_in_groups"), "{line}");
    // login_duo's words for it, so its log searches keep matching.
    assert!(
        line.contains("User duopar-out bypassed Duo 2FA due to user's UNIX group"),
        "{line}"
    );
}

#[test]
fn groups_question_mark_and_negation_within_a_list() {
    require_root!();
    let u = group_users();
    let (mock, d) =
        setup(DaemonOptions::default().top("groups = [\"duopar-a?mins,!duopar-devs\"]"));
    // In duopar-admins only: matches `?`, must pass Duo.
    assert_allowed(&run_as(&d, u.inn, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().pushes_by_user.get("duopar-in"), Some(&1));
    // Also in duopar-devs: the negated pattern vetoes the list.
    mock.reset_stats();
    assert_allowed(&run_as(&d, u.both, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), None);
    log_line(&d, "Skipped Duo login for 'duopar-both'");
}

#[test]
fn groups_star_with_an_exception() {
    require_root!();
    let u = group_users();
    let (mock, d) = setup(DaemonOptions::default().top("groups = \"*,!duopar-admins\""));
    // Everyone (their own group matches `*`) but members of duopar-admins.
    assert_allowed(&run_as(&d, u.out, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().pushes_by_user.get("duopar-out"), Some(&1));
    mock.reset_stats();
    assert_allowed(&run_as(&d, u.inn, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), None);
    log_line(&d, "Skipped Duo login for 'duopar-in'");
}

#[test]
fn groups_all_negated_warns_at_start() {
    require_root!();
    let u = group_users();
    let (mock, d) =
        setup(DaemonOptions::default().top("groups = [\"!duopar-admins\", \"!duopar-devs\"]"));
    log_line(&d, "All configured groups are negated; no user can match");
    // As in login_duo, a list without a positive pattern matches nobody: everyone is skipped.
    assert_allowed(&run_as(&d, u.out, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), None);
    // `check` says it too.
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(
        dir.path(),
        "authd.toml",
        &toml_with("groups = \"!duopar-admins\""),
    );
    let o = check(&p);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("All configured groups are negated"),
        "{}",
        stderr(&o)
    );
}
