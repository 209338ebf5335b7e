//! The daemon's life around its socket: restarts that overlap a drain, and running out of file
//! descriptors while one user floods it.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use crate::require_root;

/// A second `duo-authd serve` on `d`'s config, logging to `log`.
fn second_daemon(d: &DaemonProc, log: &std::path::Path) -> std::process::Child {
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["serve", "--config"])
        .arg(&d.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"));
    c.spawn().expect("second duo-authd")
}

#[test]
fn a_restart_while_the_old_daemon_drains_keeps_the_socket() {
    require_root!();
    let mock = MockDuo::start(MockOptions {
        push_delay: Duration::from_secs(4),
        ..MockOptions::default()
    })
    .expect("mock starts");
    let mut old = DaemonProc::start(&mock, DaemonOptions::default().authd("drain_timeout = 30"));
    let log = old.dir.path().join("second.log");

    // While the first one listens, a second one refuses to start, naming the first.
    let mut early = second_daemon(&old, &log);
    let status = early.wait().expect("wait");
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("another duo-authd"), "{text}");
    assert!(
        harness::answers_hello(&old.socket),
        "the refused start broke the socket"
    );

    // A push in flight on the old daemon, then SIGTERM: it stops accepting and drains.
    let (login, new) = std::thread::scope(|s| {
        let login = s.spawn(|| login_as(&old, "push-user"));
        assert!(
            wait_for(T, || mock.stats().pushes_by_user.get("push-user")
                == Some(&1)),
            "{}",
            old.log_text()
        );
        old.signal(libc::SIGTERM);
        assert!(
            wait_for(T, || old.log_text().contains("stopped accepting")),
            "{}",
            old.log_text()
        );
        // The successor starts during the drain and takes the socket over.
        let new = second_daemon(&old, &log);
        assert!(
            wait_for(T, || harness::answers_hello(&old.socket)),
            "the successor did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        (login.join().expect("login thread"), new)
    });
    let mut new = KillOnDrop(new);
    assert_allowed(&login, &old);
    assert_eq!(old.wait_exit(T), Some(0), "{}", old.log_text());
    // The old daemon is gone; the successor still has its socket and serves.
    assert!(
        old.socket.exists(),
        "the draining daemon removed its successor's socket"
    );
    assert_allowed(&login_as(&old, "allow-user"), &old);
    let (code, h) = old.health();
    assert_eq!(code, 0, "{h}");
    assert_eq!(
        h["logins_served"], 1,
        "health did not come from the successor: {h}"
    );
    let _ = new.0.kill();
    let _ = new.0.wait();
}

/// Kill a child process when the test ends, whatever happens.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_low_open_file_limit_with_a_flooding_user_still_serves_root_and_others() {
    require_root!();
    // The review: under `ulimit -n 256`, with one user holding connections, only 73 of 130 root
    // logins were allowed (EMFILE while looking up uid 0, and no new connection to Duo).
    let flooder = local_user("duolife-flood");
    let other = local_user("duolife-other");
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let mut d = DaemonProc::start(
        &mock,
        DaemonOptions::default().authd("first_frame_timeout = 120"),
    );
    // Restart the same daemon under a 256-file limit.
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(T), Some(0));
    let log = d.dir.path().join("low.log");
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(["serve", "--config"])
        .arg(&d.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _daemon = KillOnDrop(c.spawn().expect("duo-authd"));
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(T, || harness::answers_hello(&d.socket)),
        "{}",
        log_text()
    );
    assert!(
        log_text().contains("the open-file limit is 256"),
        "{}",
        log_text()
    );

    // One user takes every connection it may, and keeps them.
    let mut hold = Command::new(harness::bin("raw-client"));
    hold.uid(flooder.0)
        .gid(flooder.1)
        .arg(&d.socket)
        .args(["--hold", "200", "60"])
        .stdout(Stdio::null());
    let _holder = KillOnDrop(hold.spawn().expect("raw-client"));
    assert!(
        wait_for(T, || d.health().1["connections_open"].as_u64() >= Some(64)),
        "{}",
        d.health().1
    );
    // 130 root logins, 16 at a time, and another user's: every one is served.
    let outcomes: Vec<std::process::Output> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..16)
            .map(|w| {
                let d = &d;
                s.spawn(move || {
                    (0..130)
                        .filter(|i| i % 16 == w)
                        .map(|_| login_as(d, "allow-user"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    let allowed = outcomes
        .iter()
        .filter(|o| o.status.code() == Some(0))
        .count();
    assert_eq!(
        allowed,
        130,
        "only {allowed} of 130 root logins were served:\n{}",
        outcomes
            .iter()
            .filter(|o| o.status.code() != Some(0))
            .map(stderr)
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let mut c = d.shim();
    c.uid(other.0).gid(other.1).args(["echo", "LOGGED-IN"]);
    let o = harness::run_with_timeout(c, T);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), log_text());
    assert!(
        !log_text().contains("Too many open files"),
        "{}",
        log_text()
    );
}
