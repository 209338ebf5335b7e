//! Parity with login_duo: send_gecos, gecos_username_pos, gecos_delim.

use super::*;

/// `duopar-gecos`, whose GECOS field is `a,b,gecosname`.
fn gecos_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        let _g = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
        let ids = ensure_local_user("duopar-gecos");
        assert!(sys(&["usermod", "-c", "a,b,gecosname", "duopar-gecos"]));
        ids
    })
}

#[test]
fn send_gecos_with_a_position_uses_that_field() {
    require_root!();
    let ids = gecos_user();
    let (mock, d) = setup(
        DaemonOptions::default()
            .top("send_gecos = true")
            .top("gecos_username_pos = 3"),
    );
    assert_allowed(&run_as(&d, ids, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("gecosname")
    );
    log_line(&d, "Successful Duo login for 'gecosname'");
}

#[test]
fn send_gecos_without_a_position_sends_the_whole_field() {
    require_root!();
    let ids = gecos_user();
    let (mock, d) = setup(DaemonOptions::default().top("send_gecos = true"));
    assert_allowed(&run_as(&d, ids, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("a,b,gecosname")
    );
}

#[test]
fn gecos_delim_without_that_field_falls_back_to_the_login_name() {
    require_root!();
    let ids = gecos_user();
    let (mock, d) = setup(
        DaemonOptions::default()
            .top("send_gecos = true")
            .top("gecos_delim = \"/\"")
            .top("gecos_username_pos = 2"),
    );
    assert_allowed(&run_as(&d, ids, &["echo", "LOGGED-IN"], &[]), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("duopar-gecos")
    );
    log_line(&d, "GECOS field has no usable username");
}

#[test]
fn dash_f_wins_over_send_gecos() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default().top("send_gecos = true"));
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(
        param(&mock.stats(), "/auth/v2/preauth", "username").as_deref(),
        Some("push-user")
    );
}

#[test]
fn bad_gecos_settings_are_config_errors() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    for (i, (extra, key)) in [
        ("gecos_delim = \":\"", "gecos_delim"),
        ("gecos_delim = \",,\"", "gecos_delim"),
        ("gecos_delim = \" \"", "gecos_delim"),
        ("gecos_delim = \"a\"", "gecos_delim"),
        ("gecos_username_pos = 0", "gecos_username_pos"),
        ("gecos_username_pos = -2", "gecos_username_pos"),
    ]
    .into_iter()
    .enumerate()
    {
        let p = config_file(dir.path(), &format!("bad{i}.toml"), &toml_with(extra));
        let o = check(&p);
        assert_eq!(o.status.code(), Some(1), "{extra} accepted: {}", stdout(&o));
        assert!(stderr(&o).contains(key), "{extra}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&p.display().to_string()),
            "{}",
            stderr(&o)
        );
    }
    // The same in duo_unix's INI format.
    let p = config_file(
        dir.path(),
        "login_duo.conf",
        "[duo]\nikey = DIXYZV6YM8IFYVWBINCA\nskey = yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\nhost = localhost:4443\nsend_gecos = yes\ngecos_delim = :\n",
    );
    let o = check(&p);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("gecos_delim"), "{}", stderr(&o));
}
