//! Reliability after start: a clock that jumps, a Duo that stalls or restarts, and nothing left
//! behind (processes, temp directories) when a run ends.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::require_root;

/// `duo-authd ARGS`, bounded.
fn authd(args: &[&str]) -> std::process::Output {
    let mut c = Command::new(harness::bin("duo-authd"));
    c.args(args);
    harness::run_with_timeout(c, T)
}

/// The daemon's current clock offset, from `health --json`.
fn offset(d: &DaemonProc) -> i64 {
    d.health().1["clock_offset_secs"]
        .as_i64()
        .unwrap_or(i64::MIN)
}

/// Requests the mock has seen on `path`.
fn seen(mock: &MockDuo, path: &str) -> u64 {
    mock.stats().by_path.get(path).copied().unwrap_or(0)
}

#[test]
fn a_skew_after_start_is_recovered_by_the_next_login_without_sighup() {
    require_root!();
    // No health check: only the re-measure after a 401 can recover. Failmode secure: a 401 that
    // is not recovered denies.
    let (mock, d) = setup(
        DaemonOptions::default()
            .top("failmode = \"secure\"")
            .authd("health_interval = 0"),
    );
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert!(offset(&d).abs() <= 2, "{}", offset(&d));
    // Duo's clock (as this host sees it) jumps 10 minutes: past the mock's 300 s tolerance.
    mock.set_time_offset(600);
    mock.reset_stats();
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(seen(&mock, "/auth/v2/preauth"), 2, "{:?}", mock.stats());
    assert_eq!(seen(&mock, "/auth/v2/ping"), 1, "{:?}", mock.stats());
    assert_eq!(mock.stats().bad_signatures, 0);
    let off = offset(&d);
    assert!((595..=605).contains(&off), "clock_offset_secs = {off}");
    assert!(
        !lines_with(&d, &["401", "re-measured"]).is_empty(),
        "{}",
        d.log_text()
    );
    // The next login needs no retry.
    mock.reset_stats();
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(seen(&mock, "/auth/v2/preauth"), 1, "{:?}", mock.stats());
}

#[test]
fn a_skew_after_start_is_followed_by_the_health_check() {
    require_root!();
    let (mock, d) = setup(
        DaemonOptions::default()
            .top("failmode = \"secure\"")
            .authd("health_interval = 1"),
    );
    mock.set_time_offset(-600);
    assert!(
        wait_for(Duration::from_secs(15), || (-605..=-595)
            .contains(&offset(&d))),
        "offset never followed: {}\n{}",
        offset(&d),
        d.log_text()
    );
    let (code, h) = d.health();
    assert_eq!(code, 0, "{h}");
    mock.reset_stats();
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(seen(&mock, "/auth/v2/preauth"), 1, "{:?}", mock.stats());
}

#[test]
fn check_online_measures_the_clock_offset_first() {
    // No root needed: check runs as whoever calls it.
    let mock = MockDuo::start(MockOptions {
        time_offset: 600,
        ..MockOptions::default()
    })
    .expect("mock starts");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("authd.toml");
    let text = harness::config_text(
        &mock.host(),
        mock.ca_file(),
        duo_authd_tests::mock::TEST_SKEY,
        &DaemonOptions::default(),
        &dir.path().join("authd.sock"),
    );
    harness::write_private(&config, &text);
    let o = authd(&[
        "check",
        "--online",
        "--config",
        &config.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(mock.stats().by_path.get("/auth/v2/check"), Some(&1));
}

#[test]
fn a_duo_restarted_on_the_same_ca_is_still_verified() {
    require_root!();
    let ca = tempfile::tempdir().unwrap();
    let opts = MockOptions {
        ca_dir: Some(ca.path().to_path_buf()),
        ..MockOptions::default()
    };
    let first = MockDuo::start(opts.clone()).expect("mock starts");
    let addr = first.addr();
    // Certificate verification stays on (cafile = the CA directory's ca.pem, no noverify).
    let d = DaemonProc::start(
        &first,
        DaemonOptions::default().top("failmode = \"secure\""),
    );
    assert!(!d.log_text().contains("noverify"));
    assert_allowed(&login_as(&d, "push-user"), &d);
    let pem = std::fs::read(first.ca_file()).unwrap();
    drop(first);
    assert_denied(&login_as(&d, "push-user"), &d);
    let second = MockDuo::start(MockOptions { bind: addr, ..opts }).expect("mock restarts");
    assert_eq!(
        std::fs::read(second.ca_file()).unwrap(),
        pem,
        "ca.pem rewritten"
    );
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(second.stats().bad_signatures, 0);
}

/// Run `n` headless logins for `user` at once; returns how many were allowed.
fn wave(d: &Arc<DaemonProc>, user: &'static str, n: usize) -> usize {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let d = d.clone();
            std::thread::spawn(move || login_as(&d, user).status.code() == Some(0))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or(false))
        .filter(|ok| *ok)
        .count()
}

/// The daemon's resident set, in KiB (Linux; 0 elsewhere).
fn rss_kib(d: &DaemonProc) -> u64 {
    let Some(pid) = d.child.as_ref().map(|c| c.id()) else {
        return 0;
    };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Connections the mock has seen handshake.
fn handshakes(mock: &MockDuo) -> u64 {
    mock.stats().tls_handshakes
}

/// Run `n` logins for `user` at once while checking, every 50 ms, that the connections opened
/// since `base` stay within `rate` per second after a burst of `rate`; returns the allowed count.
fn wave_within_rate(
    d: &Arc<DaemonProc>,
    mock: &MockDuo,
    user: &'static str,
    n: usize,
    rate: f64,
) -> usize {
    let base = handshakes(mock);
    let start = Instant::now();
    let logins = {
        let d = d.clone();
        std::thread::spawn(move || wave(&d, user, n))
    };
    while !logins.is_finished() {
        let opened = (handshakes(mock) - base) as f64;
        let t = start.elapsed().as_secs_f64();
        // +2: a handshake counted by the mock a moment before this sample's clock reading.
        let bound = rate + rate * t + 2.0;
        assert!(
            opened <= bound,
            "{opened} connections opened {t:.2}s into the wave (bound {bound:.0})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    logins.join().unwrap()
}

#[test]
fn the_pool_shrinks_back_after_a_stall_and_reconnects_at_a_bounded_rate() {
    require_root!();
    const LOGINS: usize = 80;
    const RATE: u32 = 10;
    let (mock, d) = setup(
        DaemonOptions::default()
            .top("failmode = \"secure\"")
            .top("https_timeout = 1")
            .authd("pool_idle_timeout = 2")
            .authd(&format!("connect_rate = {RATE}"))
            .authd("health_interval = 0")
            // Every login here is root's: lift the per-uid limits, which would otherwise answer first.
            .authd("preauth_rate = 0")
            .authd("max_connections_per_uid = 1000"),
    );
    let d = Arc::new(d);
    // Let the start-up ping's token drain away, so the wave starts with the full burst.
    std::thread::sleep(Duration::from_millis(200));
    // A stall (3 s answers): every preauth times out at 1 s and its connection is given up, so
    // every login wants a new one; they open at the bounded rate.
    mock.set_latency(Duration::from_secs(3));
    let before = handshakes(&mock);
    let stalled = Instant::now();
    let allowed = wave_within_rate(&d, &mock, "allow-user", LOGINS, f64::from(RATE));
    assert_eq!(
        allowed, 0,
        "a stalled Duo allowed logins under failmode secure"
    );
    eprintln!(
        "stall: {LOGINS} logins (all failsecure) in {:?}: {} connections opened, peak {} open, rss {} KiB",
        stalled.elapsed(),
        handshakes(&mock) - before,
        mock.peak_connections(),
        rss_kib(&d)
    );
    // Duo is back: the next wave is served (failmode secure: an allow is Duo's), still within the rate.
    mock.set_latency(Duration::ZERO);
    mock.reset_peak_connections();
    let before = handshakes(&mock);
    let back = Instant::now();
    let allowed = wave_within_rate(&d, &mock, "allow-user", LOGINS, f64::from(RATE));
    eprintln!(
        "back: {allowed}/{LOGINS} logins allowed in {:?}: {} connections opened, peak {} open, rss {} KiB",
        back.elapsed(),
        handshakes(&mock) - before,
        mock.peak_connections(),
        rss_kib(&d)
    );
    assert_eq!(allowed, LOGINS, "{}", d.log_text());
    // Idle connections are reaped after pool_idle_timeout (2 s): the pool returns to its floor
    // (none: the health check, which keeps one warm, is off here).
    let idle = Instant::now();
    assert!(
        wait_for(Duration::from_secs(15), || mock.open_connections() == 0),
        "{} connections still open after {:?}",
        mock.open_connections(),
        idle.elapsed()
    );
    eprintln!(
        "after: {} open {:?} after the last login, rss {} KiB",
        mock.open_connections(),
        idle.elapsed(),
        rss_kib(&d)
    );
}

/// Start the demo headless; returns it and, from its banner, the daemon's pid and directory.
fn start_demo() -> (
    std::process::Child,
    u32,
    std::path::PathBuf,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead;
    let mut demo = Command::new(harness::bin("demo"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo starts");
    let mut lines = std::io::BufReader::new(demo.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // daemon       : /path/duo-authd (pid N) serving /tmp/duo-authd-testXXXX/run/authd.sock
        if let Some(rest) = line.strip_prefix("daemon       : ") {
            let pid: u32 = rest
                .split("(pid ")
                .nth(1)
                .unwrap()
                .split(')')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let socket = std::path::PathBuf::from(rest.rsplit(" serving ").next().unwrap());
            let dir = socket.parent().unwrap().parent().unwrap().to_path_buf();
            assert!(dir.exists() && pid > 0, "{line}");
            return (demo, pid, dir, lines);
        }
    }
    let _ = demo.kill();
    let _ = demo.wait();
    panic!("the demo printed no daemon line");
}

/// Whether `pid` is a live `duo-authd` (not a zombie, not a reused pid).
fn is_daemon(pid: u32) -> bool {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = state
        .rsplit(") ")
        .next()
        .is_some_and(|s| s.starts_with('Z'));
    comm.trim() == "duo-authd" && !zombie
}

#[test]
fn the_demo_leaves_no_daemon_and_no_directory() {
    require_root!();
    let (mut demo, pid, dir, lines) = start_demo();
    assert!(is_daemon(pid), "the daemon {pid} is not running");
    let out: Vec<String> = lines.map_while(Result::ok).collect();
    let status = demo.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", out.join("\n"));
    assert!(
        out.iter().any(|l| l.contains("Logged in")),
        "{}",
        out.join("\n")
    );
    assert!(!is_daemon(pid), "the demo left its daemon {pid} running");
    assert!(!dir.exists(), "the demo left {}", dir.display());
}

#[test]
fn a_demo_killed_mid_login_takes_its_daemon_with_it() {
    require_root!();
    let (mut demo, pid, dir, _lines) = start_demo();
    assert!(is_daemon(pid));
    // SIGKILL: no destructor runs; only the parent-death signal can stop the daemon.
    demo.kill().unwrap();
    demo.wait().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || !is_daemon(pid)),
        "the daemon {pid} outlived the killed demo"
    );
    // A killed process cannot remove its directory; this test does.
    let _ = std::fs::remove_dir_all(dir);
}
