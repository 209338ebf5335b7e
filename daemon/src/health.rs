//! Health: the report the daemon answers from memory, the background check that keeps it fresh, and the client side of `duo-authd health`.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use duo_authd_proto::{self as proto, ClientMsg, HealthReport, ServerMsg, PROTOCOL_VERSION};

use crate::duo::api::DuoApi;
use crate::state::Daemon;

/// Seconds from `t` to now (0 if `t` is in the future).
fn secs_since(t: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Build the report from the daemon's state; never calls Duo.
pub fn report<A: DuoApi>(daemon: &Daemon<A>) -> HealthReport {
    let gen = daemon.current();
    let cfg = &gen.ctx.cfg;
    let duo = gen.ctx.duo.stats();
    let uptime = daemon.started.elapsed();
    let mut problems = Vec::new();
    let threshold = cfg.authd.unreachable_threshold;
    if let Some(failed) = duo.last_failure {
        let ok_since_failure = duo.last_success.is_some_and(|ok| ok >= failed);
        if !ok_since_failure {
            let down_for = match duo.last_success {
                Some(ok) => Duration::from_secs(secs_since(ok)),
                None => uptime,
            };
            if down_for >= threshold {
                problems.push(format!(
                    "Duo API at {} has not answered for {}s: {}",
                    cfg.host.authority(),
                    down_for.as_secs(),
                    duo_authd_proto::sanitize(duo.last_error.as_deref().unwrap_or_default())
                ));
            }
        }
    }
    let last_reload_error = crate::sync::lock(&daemon.stats.last_reload_error).clone();
    if let Some(e) = &last_reload_error {
        problems.push(format!(
            "config reload failed, still serving the previous config: {e}"
        ));
    }
    let decisions = crate::sync::lock(&daemon.stats.decisions)
        .iter()
        .map(|(r, n)| (r.as_str().to_string(), *n))
        .collect();
    HealthReport {
        daemon_version: env!("CARGO_PKG_VERSION").to_string(),
        ready: problems.is_empty(),
        problems,
        uptime_secs: uptime.as_secs(),
        config_path: daemon.config_path.display().to_string(),
        config_generation: gen.number,
        last_reload_error,
        duo_host: cfg.host.authority(),
        duo_last_ok_secs_ago: duo.last_success.map(secs_since),
        duo_last_failure_secs_ago: duo.last_failure.map(secs_since),
        // Text from the network, read by any local user: no control characters.
        duo_last_error: duo.last_error.as_deref().map(duo_authd_proto::sanitize),
        duo_requests: duo.requests,
        duo_failures: duo.failures,
        duo_connections_opened: duo.connections_opened,
        clock_offset_secs: duo.clock_offset_secs,
        connections_open: daemon.stats.connections_open.load(Ordering::Relaxed),
        logins_in_flight: daemon.stats.logins_in_flight.load(Ordering::Relaxed),
        logins_served: daemon.stats.logins_served.load(Ordering::Relaxed),
        decisions,
    }
}

/// Every `health_interval`, measure the clock offset again (`/ping`) and call `/auth/v2/check`, so
/// the pool stays warm, reachability is current and a clock that jumped (a VM resumed, NTP
/// stepping) is followed without a SIGHUP.
pub async fn background_check(daemon: Arc<Daemon>) {
    loop {
        let gen = daemon.current();
        let interval = gen.ctx.cfg.authd.health_interval;
        if interval.is_zero() {
            tokio::time::sleep(Duration::from_secs(60)).await;
            continue;
        }
        tokio::time::sleep(interval).await;
        let gen = daemon.current();
        match gen.ctx.duo.probe().await {
            Ok(()) => tracing::debug!("background /auth/v2/ping and /check ok"),
            Err(e) => tracing::warn!("background health check of the Duo API failed: {e}"),
        }
        daemon.fatigue.sweep();
    }
}

/// What `duo-authd health` found.
#[derive(Debug)]
pub enum Probe {
    /// The daemon answered.
    Answered(Box<HealthReport>),
    /// Nothing usable answered.
    NoAnswer(String),
}

/// Ask the daemon at `socket` for its report (blocking; used by the CLI).
pub fn probe(socket: &Path, timeout: Duration) -> Probe {
    let attempt = || -> Result<HealthReport, String> {
        let mut s = UnixStream::connect(socket)
            .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        proto::write_frame(
            &mut s,
            &ClientMsg::Hello {
                version: PROTOCOL_VERSION,
            },
        )
        .map_err(|e| e.to_string())?;
        match proto::read_frame::<_, ServerMsg>(&mut s).map_err(|e| e.to_string())? {
            ServerMsg::Hello { .. } => {}
            ServerMsg::Error { message, .. } => return Err(message),
            other => return Err(format!("unexpected reply {other:?}")),
        }
        proto::write_frame(&mut s, &ClientMsg::Health).map_err(|e| e.to_string())?;
        match proto::read_frame::<_, ServerMsg>(&mut s).map_err(|e| e.to_string())? {
            ServerMsg::Health(r) => Ok(*r),
            ServerMsg::Error { message, .. } => Err(message),
            other => Err(format!("unexpected reply {other:?}")),
        }
    };
    match attempt() {
        Ok(r) => Probe::Answered(Box::new(r)),
        Err(e) => Probe::NoAnswer(e),
    }
}

/// Human-readable lines for the report. Every text field is made one printable line: the report
/// comes from whatever serves the socket, and goes to a terminal or a monitoring log.
pub fn render(r: &HealthReport) -> String {
    let line = |t: &str| proto::one_line(t);
    let opt = |v: Option<u64>| {
        v.map(|s| format!("{s}s ago"))
            .unwrap_or_else(|| "never".into())
    };
    let mut out = format!(
        "status: {}\nversion: {}\nuptime: {}s\nconfig: {} (generation {})\nduo host: {}\nduo last ok: {}\nduo last failure: {}\nduo requests: {} ({} failed), connections opened: {}, clock offset: {}s\nclients open: {}, logins in flight: {}, served: {}\n",
        if r.ready { "ready" } else { "degraded" },
        line(&r.daemon_version),
        r.uptime_secs,
        line(&r.config_path),
        r.config_generation,
        line(&r.duo_host),
        opt(r.duo_last_ok_secs_ago),
        opt(r.duo_last_failure_secs_ago),
        r.duo_requests,
        r.duo_failures,
        r.duo_connections_opened,
        r.clock_offset_secs,
        r.connections_open,
        r.logins_in_flight,
        r.logins_served,
    );
    if !r.decisions.is_empty() {
        let d: Vec<String> = r
            .decisions
            .iter()
            .map(|(k, v)| format!("{}={v}", line(k)))
            .collect();
        out.push_str(&format!("decisions: {}\n", d.join(" ")));
    }
    for p in &r.problems {
        out.push_str(&format!("problem: {}\n", line(p)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_report_renders_as_plain_lines() {
        let r = HealthReport {
            duo_host: "api\n\u{1b}[2Jstatus: ready".into(),
            problems: vec!["x\rproblem: none\u{2028}".into()],
            ..HealthReport::default()
        };
        let out = render(&r);
        assert!(!out.contains('\u{1b}') && !out.contains('\r') && !out.contains('\u{2028}'));
        assert_eq!(
            out.lines().filter(|l| l.starts_with("status: ")).count(),
            1,
            "{out}"
        );
        assert_eq!(
            out.lines().filter(|l| l.starts_with("problem: ")).count(),
            1
        );
    }
}
