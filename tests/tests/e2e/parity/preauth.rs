//! Parity with login_duo: preauth parameters, rate limits, clock.

use super::*;

#[test]
fn preauth_sends_hostname_and_failmode() {
    require_root!();
    for (mode, wire) in [("safe", "open"), ("secure", "closed")] {
        let (mock, d) = setup(DaemonOptions::default().top(&format!("failmode = \"{mode}\"")));
        assert_allowed(&login_as(&d, "push-user"), &d);
        let s = mock.stats();
        assert_eq!(
            param(&s, "/auth/v2/preauth", "failmode").as_deref(),
            Some(wire)
        );
        assert_eq!(param(&s, "/auth/v2/preauth", "hostname"), Some(host_name()));
        assert_eq!(param(&s, "/auth/v2/auth", "hostname"), Some(host_name()));
        assert_eq!(
            param(&s, "/auth/v2/preauth", "text_prompt").as_deref(),
            Some("1")
        );
    }
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    require_root!();
    let (mock, d) = setup(DaemonOptions::default());
    let started = Instant::now();
    assert_allowed(&login_as(&d, "ratelimit-date-user"), &d);
    assert_eq!(mock.stats().by_path.get("/auth/v2/preauth"), Some(&3));
    assert!(
        started.elapsed() < Duration::from_secs(19),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn clock_offset_from_ping_dates_requests_by_duos_clock() {
    require_root!();
    let (mock, d) = setup_with(
        MockOptions {
            time_offset: 3600,
            ..MockOptions::default()
        },
        DaemonOptions::default().top("failmode = \"secure\""),
    );
    assert_allowed(&login_as(&d, "push-user"), &d);
    assert_eq!(mock.stats().bad_signatures, 0);
    let (code, h) = d.health();
    assert_eq!(code, 0, "{h}");
    let off = h["clock_offset_secs"].as_i64().unwrap_or(0);
    assert!((3590..=3610).contains(&off), "clock_offset_secs = {off}");
    log_line(&d, "clock is");
}
