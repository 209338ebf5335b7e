//! Parity with login_duo: duo_unix's INI file, read directly (daemon running as an unprivileged user).

use super::*;

/// A `duo-authd serve` started as another user; killed on drop.
struct UserDaemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl UserDaemon {
    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for UserDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn login_duo_conf_is_read_directly() {
    require_root!();
    let svc = {
        let _g = SYSTEM.lock().unwrap_or_else(|e| e.into_inner());
        ensure_local_user("duopar-svc")
    };
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = tempfile::Builder::new()
        .prefix("duo-parity-ini")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(svc.0), Some(svc.1)).unwrap();
    let conf = dir.path().join("login_duo.conf");
    let ini = format!(
        "; an existing login_duo.conf, unchanged\n[duo]\nikey = DIXYZV6YM8IFYVWBINCA\nskey = yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\nhost = {}\ncafile = {}\nfailmode = secure\npushinfo = yes\nprompts = 1 ; inline comment\n",
        mock.host(),
        mock.ca_file().display()
    );
    harness::write_private(&conf, &ini);
    std::os::unix::fs::chown(&conf, Some(svc.0), Some(svc.1)).unwrap();
    let socket = dir.path().join("run").join("authd.sock");
    let log = dir.path().join("daemon.log");
    let logf = fs::File::create(&log).unwrap();
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["serve", "--config"])
        .arg(&conf)
        .arg("--socket")
        .arg(&socket)
        .uid(svc.0)
        .gid(svc.1)
        // login_duo ignores the proxy environment; so does the daemon.
        .env("http_proxy", "http://127.0.0.1:1")
        .env("https_proxy", "http://127.0.0.1:1")
        .env("HTTPS_PROXY", "http://127.0.0.1:1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(logf));
    let child = c.spawn().expect("spawn duo-authd as duopar-svc");
    let d = UserDaemon {
        child,
        socket: socket.clone(),
        log,
        _dir: dir,
    };
    let end = Instant::now() + T;
    while std::os::unix::net::UnixStream::connect(&d.socket).is_err() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut c = Command::new(harness::bin("duo-login"));
    c.arg("-s")
        .arg(&d.socket)
        .args([
            "--daemon-user",
            "duopar-svc",
            "-f",
            "push-user",
            "echo",
            "LOGGED-IN",
        ])
        .env_remove("SSH_CONNECTION")
        .env_remove("SSH_ORIGINAL_COMMAND");
    let o = harness::run_with_timeout(c, T);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr={} log:\n{}",
        stderr(&o),
        d.log_text()
    );
    assert!(stdout(&o).contains("LOGGED-IN"));
    let s = mock.stats();
    assert_eq!(
        param(&s, "/auth/v2/preauth", "failmode").as_deref(),
        Some("closed")
    );
    assert!(
        param(&s, "/auth/v2/auth", "pushinfo").is_some(),
        "pushinfo = yes not applied"
    );
    assert!(
        d.log_text()
            .contains("Successful Duo login for 'push-user'"),
        "{}",
        d.log_text()
    );
}
