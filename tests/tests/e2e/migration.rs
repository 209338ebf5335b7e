//! A switch from login_duo that is safe and boring: an unchanged `login_duo.conf` under a daemon
//! started as root, reloads of that root-owned file after the drop, and the log lines an admin's
//! tools already search for.

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use crate::require_root;
use duo_authd_tests::mock::{CertKind, TEST_SKEY};

/// The uid a process runs as, from /proc.
fn uid_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Pids of processes whose command line contains all of `words`.
fn pids_with(words: &[&str]) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            words.iter().all(|w| cmd.contains(w))
        })
        .collect()
}

#[test]
fn an_unchanged_login_duo_conf_serves_logins_started_as_root() {
    require_root!();
    // SMF's start method runs the daemon as root on the admin's existing file: root-owned, 0600,
    // no [authd] section (the INI dialect cannot have one), a value on a continuation line.
    let account = default_account();
    let (duoauthd, _) = account.ids;
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let dir = tempfile::Builder::new()
        .prefix("duo-mig")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let conf = dir.path().join("login_duo.conf");
    let ini = |failmode: &str| {
        format!(
            "; login_duo.conf, as it was\n[duo]\nikey = DIXYZV6YM8IFYVWBINCA\nskey =\n    ; the key\n    {TEST_SKEY}\nhost = {}\ncafile = {}\nfailmode = {failmode}\n",
            mock.host(),
            mock.ca_file().display()
        )
    };
    harness::write_private(&conf, &ini("safe"));
    assert_eq!(std::fs::metadata(&conf).unwrap().uid(), 0);
    let socket = dir.path().join("run/authd.sock");
    let log = dir.path().join("daemon.log");
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["serve", "--config"])
        .arg(&conf)
        .arg("--socket")
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut child = c.spawn().expect("duo-authd");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let up = wait_for(T, || harness::answers_hello(&socket));
    if !up {
        let _ = child.kill();
        panic!(
            "the daemon did not start on an unchanged login_duo.conf:\n{}",
            log_text()
        );
    }
    // It became duoauthd, and the shim trusts it without being told.
    assert_eq!(uid_of(child.id()), Some(duoauthd), "{}", log_text());
    let mut shim = Command::new(harness::bin("duo-login"));
    shim.arg("-s")
        .arg(&socket)
        .args(["-f", "allow-user", "echo", "LOGGED-IN"]);
    let o = harness::run_with_timeout(shim, T);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), log_text());
    assert!(
        log_text().contains("Skipped Duo login for 'allow-user'"),
        "{}",
        log_text()
    );

    // The root-owned file is re-read on SIGHUP by the root-side reader.
    let readers = pids_with(&["duo-authd", "config-reader", conf.to_str().unwrap()]);
    assert_eq!(readers.len(), 1, "{readers:?}");
    assert_eq!(uid_of(readers[0]), Some(0));
    harness::write_private(&conf, &ini("secure"));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert!(
        wait_for(T, || log_text().contains("reloaded")),
        "{}",
        log_text()
    );
    let mut h = Command::new(harness::bin("duo-authd"));
    h.args(["health", "--json", "--socket"]).arg(&socket);
    let o = harness::run_with_timeout(h, T);
    assert!(
        stdout(&o).contains("\"config_generation\":2"),
        "{}",
        stdout(&o)
    );
    // SIGTERM: the daemon and its reader are gone.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().expect("wait").success(), "{}", log_text());
    assert!(
        wait_for(Duration::from_secs(5), || pids_with(&[
            "config-reader",
            conf.to_str().unwrap()
        ])
        .is_empty()),
        "the config reader outlived the daemon"
    );
}

#[test]
fn the_shim_logs_its_own_decisions_to_syslog() {
    require_root!();
    // When no daemon answers, only the shim knows a login was let through or kept out.
    let dev_log = std::path::Path::new("/dev/log");
    if dev_log.exists() {
        eprintln!(
            "SKIPPED the_shim_logs_its_own_decisions_to_syslog: a syslog daemon owns /dev/log here"
        );
        return;
    }
    let Ok(sink) = UnixDatagram::bind(dev_log) else {
        eprintln!("SKIPPED the_shim_logs_its_own_decisions_to_syslog: cannot bind /dev/log");
        return;
    };
    let _cleanup = RemoveOnDrop(dev_log.to_path_buf());
    sink.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    for (mode, headline) in [
        ("secure", "Failsecure Duo login"),
        ("safe", "Failsafe Duo login"),
    ] {
        let mut c = Command::new(harness::bin("duo-login"));
        c.arg("-s")
            .arg(&missing)
            .args(["--failmode", mode, "-f", "someone", "true"])
            .env("SSH_CONNECTION", "198.51.100.4 50000 192.0.2.2 22");
        let o = harness::run_with_timeout(c, T);
        assert_eq!(o.status.code(), Some(if mode == "safe" { 0 } else { 1 }));
        // Other tests' daemons may log here too: look for the shim's own line.
        let mut found = None;
        let end = std::time::Instant::now() + T;
        while found.is_none() && std::time::Instant::now() < end {
            let mut buf = [0u8; 4096];
            if let Ok(n) = sink.recv(&mut buf) {
                let line = String::from_utf8_lossy(&buf[..n]).into_owned();
                if line.contains("duo-login") && line.contains(headline) {
                    found = Some(line);
                }
            }
        }
        let line = found.unwrap_or_else(|| panic!("no '{headline}' line reached syslog"));
        assert!(line.contains("for 'someone' from 198.51.100.4"), "{line}");
        assert!(
            line.contains("missing.sock"),
            "the details are for the admin: {line}"
        );
        // <facility*8 + severity>: authpriv (10) * 8 + warning (4) = 84.
        assert!(line.starts_with("<84>"), "{line}");
    }
}

/// Remove a path when the test ends.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn an_idle_timeout_is_audited_as_such() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default().authd("idle_timeout = 2"));
    let mut s = interactive(&d, "push-user");
    s.expect("Passcode or option", T).unwrap();
    assert_eq!(s.wait(T).unwrap(), 1, "{}", s.output());
    let lines = lines_with(&d, &["Aborted Duo login for 'push-user'"]);
    assert_eq!(lines.len(), 1, "{}", d.log_text());
    assert!(lines[0].contains("idle timeout"), "{}", lines[0]);
    assert!(!lines[0].contains("deadline"), "{}", lines[0]);
}

#[test]
fn a_refused_dash_f_names_the_duo_user_asked_for() {
    require_root!();
    let me = local_user("duomig-f");
    let (mock, d) = setup(DaemonOptions::default());
    let mut c = Command::new(harness::bin("raw-client"));
    std::os::unix::process::CommandExt::uid(&mut c, me.0);
    std::os::unix::process::CommandExt::gid(&mut c, me.1);
    c.arg(&d.socket).args(["--duo-user", "root"]);
    let o = harness::run_with_timeout(c, T);
    assert!(
        stdout(&o).contains("decision deny not_permitted"),
        "{}",
        stdout(&o)
    );
    let lines = lines_with(&d, &["Aborted Duo login for 'root'"]);
    assert_eq!(lines.len(), 1, "{}", d.log_text());
    assert!(lines[0].contains("account=\"duomig-f\""), "{}", lines[0]);
    assert!(lines[0].contains(&format!("uid={}", me.0)), "{}", lines[0]);
    assert!(mock.stats().requests <= 1, "the refused login reached Duo");
}

#[test]
fn certificates_refused_for_their_shape_say_why_in_words() {
    require_root!();
    // A certificate with only a CN (old internal CAs, TLS-inspecting proxies) and a CA's own
    // certificate presented as the server's (duo_unix's test mock) are both refused; the log says
    // what is wrong and the fix, not the TLS library's internal names.
    for (cert, words) in [
        (CertKind::CnOnly, "no subjectAltName"),
        (CertKind::CaAsLeaf, "presented a CA certificate"),
    ] {
        let mock = MockDuo::start(MockOptions {
            cert,
            ..MockOptions::default()
        })
        .expect("mock starts");
        let d = DaemonProc::start(&mock, DaemonOptions::default().top("failmode = \"secure\""));
        assert_denied(&login_as(&d, "push-user"), &d);
        let log = d.log_text();
        assert!(log.contains(words), "{cert:?}: {log}");
        if cert == CertKind::CnOnly {
            assert!(
                log.contains("reissue") && log.contains("TLS-inspecting proxy"),
                "{log}"
            );
        }
        for internal in ["OtherError", "Context", "https://", "docs.rs"] {
            assert!(
                !log.contains(internal),
                "{cert:?}: {internal} in the log: {log}"
            );
        }
        assert_eq!(mock.stats().requests, 0, "{cert:?}: a request went through");
    }
}
