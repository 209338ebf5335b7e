//! Parity with login_duo: Command line and exec.

use super::*;

#[test]
fn dash_v_prints_the_version() {
    let mut c = Command::new(harness::bin("duo-login"));
    c.arg("-v");
    let o = harness::run_with_timeout(c, T);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("duo-login "), "{}", stdout(&o));
}

#[test]
fn dash_c_is_accepted_and_ignored_and_dash_d_debugs() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let o = d.run_headless(&[
        "-d",
        "-c",
        "/etc/duo/login_duo.conf",
        "-f",
        "allow-user",
        "echo",
        "LOGGED-IN",
    ]);
    assert_allowed(&o, &d);
    assert!(stderr(&o).contains("ignoring -c"), "{}", stderr(&o));
    assert!(stderr(&o).contains("duo-login: debug:"), "{}", stderr(&o));
}

#[test]
fn program_arguments_are_joined_and_run_by_the_shell() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let o = d.run_headless(&["-f", "allow-user", "echo", "one", "two;", "echo", "$0"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let shell = root_shell_name();
    // `SHELL -c "echo one two; echo $0"`: argv[0] is the shell's name, without a dash.
    assert_eq!(stdout(&o), format!("one two\n{shell}\n"));
}

#[test]
fn ssh_original_command_runs_when_no_program_is_given() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let env = [("SSH_ORIGINAL_COMMAND", "echo FROM-SSH")];
    let o = run_env(&d, &["-f", "allow-user"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "FROM-SSH\n");
    // PROG ARGS win over it.
    let o = run_env(&d, &["-f", "allow-user", "echo", "FROM-ARGS"], &env);
    assert_eq!(stdout(&o), "FROM-ARGS\n");
}

#[test]
fn ssh_original_command_makes_a_tty_login_headless() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let mut s = pty(
        &d,
        &["-f", "push-user"],
        &[("SSH_ORIGINAL_COMMAND", "echo FROM-SSH")],
    );
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    assert!(s.output().contains("FROM-SSH"), "{}", s.output());
    assert!(!s.output().contains("Passcode or option"), "{}", s.output());
    assert_eq!(mock.stats().pushes_by_user.get("push-user"), Some(&1));
}

#[test]
fn no_command_execs_a_login_shell() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let mut s = pty(&d, &["-f", "allow-user"], &[]);
    // Give the shell a moment to start, then ask it for its argv[0].
    std::thread::sleep(Duration::from_millis(500));
    s.send_line("echo ARGV0=$0; exit").unwrap();
    let shell = root_shell_name();
    s.expect(&format!("ARGV0=-{shell}"), T).unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
}

#[test]
fn unreachable_daemon_follows_the_shims_failmode() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("missing.sock");
    let run = |extra: &[&str]| {
        let mut c = Command::new(harness::bin("duo-login"));
        c.arg("-s")
            .arg(&sock)
            .args(extra)
            .args(["-f", "push-user", "echo", "LOGGED-IN"])
            .env_remove("SSH_ORIGINAL_COMMAND")
            .env_remove("SSH_CONNECTION");
        harness::run_with_timeout(c, T)
    };
    // The user reads one plain sentence: no socket path, no OS error (those go to syslog).
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stdout(&o).contains("LOGGED-IN"));
    assert_eq!(
        stderr(&o),
        "duo-login: Duo two-factor authentication is unavailable. Login denied.\n"
    );
    let o = run(&["--failmode", "safe"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("LOGGED-IN"));
    assert_eq!(
        stderr(&o),
        "duo-login: Duo two-factor authentication is unavailable. Continuing without it.\n"
    );
    // A socket node nobody listens on (a stopped daemon) is "no daemon" too.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let o = run(&["--failmode", "safe"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // With -d the details are on stderr for the admin.
    let o = run(&["-d"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.sock"), "{}", stderr(&o));
}

#[test]
fn daemon_refuses_to_start_on_config_errors() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("run/authd.sock");
    // A bad value.
    let p = config_file(
        dir.path(),
        "bad.toml",
        &toml_with("prompts = 9\n[authd]\nallow_root = true"),
    );
    let (code, err) = serve_refuses(&p, &sock);
    assert_eq!(code, Some(96), "{err}");
    assert!(
        err.contains(&p.display().to_string()) && err.contains("prompts"),
        "{err}"
    );
    // A file others may read (login_duo: "must be readable only by user").
    let p = config_file(
        dir.path(),
        "open.toml",
        &toml_with("[authd]\nallow_root = true"),
    );
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = serve_refuses(&p, &sock);
    assert_eq!(code, Some(96), "{err}");
    assert!(
        err.contains("open.toml must be readable only by user '"),
        "{err}"
    );
    assert!(err.contains("run: chmod 600"), "{err}");
    // Missing file, in login_duo's words.
    let (code, err) = serve_refuses(&dir.path().join("nope.toml"), &sock);
    assert_eq!(code, Some(96), "{err}");
    assert!(
        err.contains("Couldn't open ") && err.contains("nope.toml: No such file"),
        "{err}"
    );
}
