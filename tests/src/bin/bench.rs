//! `cargo run --release -p duo-authd-tests --bin bench [-- --quick] [--only 1,4,5,6]`: measures a login end to end.
//!
//! Starts the mock Duo API and the real (release) daemon, drives the real `duo-login`, and prints
//! one table with the six figures of the README. Needs root (it uses `duo-login -f`).
//!
//! For experiments: `BENCH_EXTRA="max_concurrent_requests = 64"` adds one `[authd]` line to every
//! daemon's config, and `DUO_AUTHD_WRAPPER="valgrind --tool=massif"` runs the daemons under a profiler.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use duo_authd_proto::{self as proto, ClientMsg, ServerMsg, Verdict, PROTOCOL_VERSION};
use duo_authd_tests::execwatch;
use duo_authd_tests::harness::{self, DaemonOptions, DaemonProc};
use duo_authd_tests::mock::{MockDuo, MockOptions};

/// One row of the final table.
struct Row {
    /// Which figure.
    name: String,
    /// The measurement.
    value: String,
    /// The target from the issue.
    target: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--only 4,6`: just those figures (1, 2 and 3 share one daemon and always run together).
    let only: Vec<String> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let wanted =
        |figs: &[&str]| only.is_empty() || figs.iter().any(|f| only.iter().any(|o| o == f));
    if !harness::is_root() {
        eprintln!("bench: needs root (duo-login -f, and the fd limit for 10,000 logins)");
        std::process::exit(2);
    }
    raise_fd_limit();
    #[cfg(not(target_os = "linux"))]
    eprintln!(
        "bench: CPU and memory figures are read from Linux's /proc text files; on {} they read 0",
        std::env::consts::OS
    );
    let mut rows = Vec::new();
    let n_seq = if quick { 50 } else { 300 };
    let n_waiting = if quick { 1000 } else { 10_000 };

    // 1 + 2: sequential bypass logins through the real shim.
    if wanted(&["1", "2", "3"]) {
        let mock = MockDuo::start(MockOptions::default()).expect("mock");
        let d = DaemonProc::start(&mock, bench_opts(n_waiting));
        for _ in 0..20 {
            shim_login(&d, "allow-user");
        }
        let base = mock.stats();
        let shell = login_shell();
        let watch = execwatch::ExecWatch::open()
            .map_err(|e| {
                eprintln!("bench: no exec timestamps ({e}); timing row 1 to the exit instead")
            })
            .ok();
        let (mut to_true, mut to_shell, mut to_exit) = (Vec::new(), Vec::new(), Vec::new());
        let (mut to_shim, mut in_shim) = (Vec::new(), Vec::new());
        let (mut bare_true, mut bare_exit) = (Vec::new(), Vec::new());
        let mut raw = Vec::with_capacity(n_seq);
        for _ in 0..n_seq {
            let mut c = d.shim();
            c.args(["-f", "allow-user", "/bin/true"]);
            let t = timed_run(c, watch.as_ref());
            to_exit.push(t.exit);
            if let (Some(me), Some(sh), Some(tr)) =
                (t.execs.first(), t.execs.get(1), t.execs.get(2))
            {
                to_shim.push(*me);
                in_shim.push(sh.saturating_sub(*me));
                to_shell.push(*sh);
                to_true.push(*tr);
            }
            let mut c = Command::new(&shell);
            c.args(["-c", "/bin/true"]);
            let t = timed_run(c, watch.as_ref());
            bare_exit.push(t.exit);
            if let Some(tr) = t.execs.get(1) {
                bare_true.push(*tr);
            }
            let t = Instant::now();
            assert!(
                raw_login(&d.socket, "allow-user"),
                "raw bypass login failed"
            );
            raw.push(t.elapsed());
        }
        let after = mock.stats();
        let (r50, r90, r99) = percentiles(&mut raw);
        let (e50, e90, e99) = percentiles(&mut to_exit);
        let (b50, _, b99) = percentiles(&mut bare_exit);
        if to_true.len() == n_seq && bare_true.len() == n_seq {
            let (p50, p90, p99) = percentiles(&mut to_true);
            let (s50, s90, s99) = percentiles(&mut to_shell);
            let (bt50, _, _) = percentiles(&mut bare_true);
            let (m50, _, _) = percentiles(&mut to_shim);
            let (i50, i90, i99) = percentiles(&mut in_shim);
            rows.push(Row {
                name: format!("1. bypass login, `duo-login -f allow-user true`: spawn to the exec of `true` ({n_seq} sequential)"),
                value: format!(
                    "p50 {} / p90 {} / p99 {}. Split: spawn to the exec of `{shell}` p50 {} / p90 {} / p99 {} (= spawn to duo-login running p50 {} + duo-login's own work to its exec of the shell p50 {} / p90 {} / p99 {}); `{shell} -c true` alone, spawn to the exec of `true`: p50 {}",
                    ms(p50), ms(p90), ms(p99), ms(s50), ms(s90), ms(s99), ms(m50), ms(i50), ms(i90), ms(i99), ms(bt50)
                ),
                target: "p50 <= 2 ms, p99 <= 5 ms".into(),
            });
        }
        rows.push(Row {
            name: "1a. the same logins, spawn to exit (what a caller waits for)".into(),
            value: format!(
                "p50 {} / p90 {} / p99 {}; `{shell} -c true` alone: p50 {} / p99 {}",
                ms(e50),
                ms(e90),
                ms(e99),
                ms(b50),
                ms(b99)
            ),
            target: "(context for 1)".into(),
        });
        rows.push(Row {
            name: "1b. bypass login at the socket (Hello to Decision: daemon + one Duo round trip)"
                .into(),
            value: format!("p50 {} / p90 {} / p99 {}", ms(r50), ms(r90), ms(r99)),
            target: "(the daemon's share of 1)".into(),
        });
        rows.push(Row {
            name: "2. new TLS handshakes / TCP connections per login (warm)".into(),
            value: format!(
                "{:.3} / {:.3} ({} requests for {} logins)",
                (after.tls_handshakes - base.tls_handshakes) as f64 / n_seq as f64,
                (after.tcp_connections - base.tcp_connections) as f64 / n_seq as f64,
                after.requests - base.requests,
                n_seq
            ),
            target: "0".into(),
        });

        // 3: throughput, protocol clients in threads (the shim's fork+exec would measure the kernel, not us).
        for conc in [32usize, 256] {
            let total = if quick { 2000 } else { 20_000 };
            let cpu0 = proc_cpu(d.child.as_ref().map(|c| c.id()).unwrap_or(0));
            let t = Instant::now();
            let ok = run_clients(&d, conc, total, "allow-user");
            let secs = t.elapsed().as_secs_f64();
            let cpu = proc_cpu(d.child.as_ref().map(|c| c.id()).unwrap_or(0)) - cpu0;
            rows.push(Row {
                name: format!("3. throughput, bypass logins at concurrency {conc}"),
                value: format!(
                    "{:.0} logins/s ({ok}/{total} allowed), daemon CPU {:.0} us/login",
                    total as f64 / secs,
                    cpu * 1e6 / total as f64
                ),
                target: ">= 2000 logins/s at 32".into(),
            });
        }
    }

    // 4: many logins waiting on a push at once.
    if wanted(&["4"]) {
        let mock = MockDuo::start(MockOptions {
            push_delay: Duration::from_secs(5),
            ..MockOptions::default()
        })
        .expect("mock");
        let d = DaemonProc::start(&mock, bench_opts(n_waiting));
        let pid = d.child.as_ref().map(|c| c.id()).unwrap_or(0);
        let rss0 = rss_kib(pid);
        let peak = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicUsize::new(0));
        let (p2, s2) = (peak.clone(), stop.clone());
        let sampler = std::thread::spawn(move || {
            while s2.load(Ordering::Relaxed) == 0 {
                p2.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let t = Instant::now();
        let ok = waiting_logins(&d, n_waiting);
        let took = t.elapsed();
        if ok < n_waiting {
            eprintln!(
                "row 4: {} logins not allowed; the daemon's reasons:",
                n_waiting - ok
            );
            let log = d.log_text();
            let mut reasons = std::collections::BTreeMap::<String, usize>::new();
            for l in log.lines().filter(|l| l.contains("[result=deny")) {
                let r = l.split(" reason=").nth(1).and_then(|r| r.split(' ').next());
                *reasons.entry(r.unwrap_or("?").to_string()).or_default() += 1;
            }
            eprintln!("  {reasons:?}");
            for l in log.lines().filter(|l| !l.contains(" audit: ")).take(8) {
                eprintln!("  {l}");
            }
            if let Some(l) = log.lines().find(|l| l.contains("[result=deny")) {
                eprintln!("  first: {l}");
            }
        }
        stop.store(1, Ordering::Relaxed);
        let _ = sampler.join();
        let peak = peak.load(Ordering::Relaxed);
        rows.push(Row {
            name: format!("4. {n_waiting} logins waiting on a 5 s push at once"),
            value: format!(
                "{ok}/{n_waiting} allowed in {:.1} s; daemon RSS idle {:.1} MB, peak {:.1} MB, {:.1} KB per waiting login",
                took.as_secs_f64(),
                rss0 as f64 / 1024.0,
                peak as f64 / 1024.0,
                (peak.saturating_sub(rss0)) as f64 / n_waiting as f64
            ),
            target: "<= 100 MB for 10,000".into(),
        });
    }

    // 5: overhead over the Duo round trips, with 50 ms added to every mock response.
    if wanted(&["5"]) {
        let latency = Duration::from_millis(50);
        let mock = MockDuo::start(MockOptions {
            latency,
            push_delay: Duration::ZERO,
            ..MockOptions::default()
        })
        .expect("mock");
        let d = DaemonProc::start(&mock, bench_opts(100));
        shim_login(&d, "push-user");
        let (mut over, mut nominal, mut over_shim) = (Vec::new(), Vec::new(), Vec::new());
        let mut trips = 0;
        for i in 0..if quick { 5 } else { 20 } {
            let before = mock.stats();
            let t = Instant::now();
            assert!(
                raw_login(&d.socket, &format!("push-{i}")),
                "push login failed"
            );
            let wall = t.elapsed();
            let after = mock.stats();
            trips = after.requests - before.requests;
            over.push(wall.saturating_sub(after.busy - before.busy));
            nominal.push(wall.saturating_sub(latency * trips as u32));
            let before = mock.stats();
            let wall = shim_login(&d, &format!("push-shim-{i}"));
            let after = mock.stats();
            over_shim.push(wall.saturating_sub(after.busy - before.busy));
        }
        let (p50, _, p99) = percentiles(&mut over);
        let (n50, _, _) = percentiles(&mut nominal);
        let (s50, _, _) = percentiles(&mut over_shim);
        rows.push(Row {
            name: format!("5. push login wall time minus the mock's time ({trips} round trips, 50 ms added to each)"),
            value: format!(
                "at the socket: p50 {} / max {} (minus the nominal 50 ms x {trips} instead: p50 {}, the rest being the mock's timer); through duo-login incl. process start and shell exec: p50 {}",
                ms(p50),
                ms(p99),
                ms(n50),
                ms(s50)
            ),
            target: "<= 2 ms".into(),
        });
    }

    // 6: the shim itself.
    if wanted(&["6"]) {
        let size = std::fs::metadata(harness::bin("duo-login"))
            .map(|m| m.len())
            .unwrap_or(0);
        let mock = MockDuo::start(MockOptions {
            push_delay: Duration::from_millis(300),
            ..MockOptions::default()
        })
        .expect("mock");
        let d = DaemonProc::start(&mock, bench_opts(100));
        // A denied push: the shim runs the whole conversation and exits without exec'ing anything,
        // so its own high-water mark is what we sample (wait4's ru_maxrss would include ours).
        // Five runs; the worst of each figure.
        let mut m = ShimMemory::default();
        for _ in 0..5 {
            let mut c = d.shim();
            c.args(["-f", "push-deny-user", "/bin/true"]);
            let r = shim_memory(c);
            m.peak = m.peak.max(r.peak);
            m.anon = m.anon.max(r.anon);
            m.file = m.file.max(r.file);
        }
        rows.push(Row {
            name: "6. duo-login binary size (stripped) / peak RSS (worst of 5 denied push logins)".into(),
            value: format!(
                "{:.0} KB / {:.2} MB, of which private (anonymous) {} KB and file-backed pages of duo-login, libc and ld.so (shared) {} KB",
                size as f64 / 1024.0,
                m.peak as f64 / 1024.0,
                m.anon,
                m.file
            ),
            target: "<= 1 MB / <= 2 MB".into(),
        });
    }

    // 7: the PAM module: pamtester (under pam_wrapper) vs the shim, and the module's own cost.
    if wanted(&["7"]) {
        match pam_bench(n_seq) {
            Ok(r) => rows.push(r),
            Err(e) => eprintln!("bench: row 7 skipped: {e}"),
        }
    }

    println!("\nmachine: {}", machine());
    println!("| figure | measured | target |\n| --- | --- | --- |");
    for r in rows {
        println!("| {} | {} | {} |", r.name, r.value, r.target);
    }
}

/// A daemon config for benchmarking: limits raised for `n` concurrent logins, quiet logs.
fn bench_opts(n: usize) -> DaemonOptions {
    let opts = DaemonOptions {
        log_level: "warn".into(),
        ..DaemonOptions::default()
    }
    .authd(&format!("max_connections = {}", n + 1000))
    .authd(&format!("max_connections_per_uid = {}", n + 1000))
    .authd("login_timeout = 110")
    .authd("push_limit = 1000");
    match std::env::var("BENCH_EXTRA") {
        Ok(extra) => opts.authd(&extra),
        Err(_) => opts,
    }
}

/// When a spawned command's execs and exit happened, measured from just before its spawn.
struct Timed {
    /// Each exec (the first is the command itself), when the kernel reports them.
    execs: Vec<Duration>,
    /// Spawn to exit (as reaped).
    exit: Duration,
}

/// Run `c` to completion (output discarded; it must succeed), timing its execs when `watch` is available.
fn timed_run(mut c: Command, watch: Option<&execwatch::ExecWatch>) -> Timed {
    c.stdin(Stdio::null()).stdout(Stdio::null());
    let t0 = execwatch::monotonic_ns();
    let start = Instant::now();
    let mut child = c.spawn().expect("spawn");
    let pid = child.id();
    let st = child.wait().expect("wait");
    let exit = start.elapsed();
    assert!(st.success(), "{c:?} failed: {st}");
    let execs = watch
        .and_then(|w| w.timeline(pid).ok())
        .map(|t| {
            t.execs
                .iter()
                .map(|&ns| Duration::from_nanos(ns.saturating_sub(t0)))
                .collect()
        })
        .unwrap_or_default();
    Timed { execs, exit }
}

/// A headless login for `user` through the shim, timed.
fn shim_login(d: &DaemonProc, user: &str) -> Duration {
    let mut c = d.shim();
    c.args(["-f", user, "/bin/true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let t = Instant::now();
    let st = c.status();
    let e = t.elapsed();
    assert!(
        st.map(|s| s.success()).unwrap_or(false),
        "login failed:\n{}",
        d.log_text()
    );
    e
}

/// One protocol-level login for `user`; true when allowed.
fn raw_login(socket: &std::path::Path, user: &str) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
    if proto::write_frame(
        &mut s,
        &ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        },
    )
    .is_err()
    {
        return false;
    }
    let start = ClientMsg::Start(harness::headless_request(user));
    let mut frames = Vec::new();
    frames.extend(proto::encode(&start).unwrap_or_default());
    loop {
        match proto::read_frame::<_, ServerMsg>(&mut s) {
            Ok(ServerMsg::Hello { .. }) => {
                if s.write_all(&frames).is_err() {
                    return false;
                }
            }
            Ok(ServerMsg::Decision(d)) => return d.verdict == Verdict::Allow,
            Ok(ServerMsg::Status { .. }) => {}
            _ => return false,
        }
    }
}

/// `total` logins for `user` spread over `conc` threads; returns how many were allowed.
fn run_clients(d: &DaemonProc, conc: usize, total: usize, user: &str) -> usize {
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..conc)
        .map(|_| {
            let (next, ok) = (next.clone(), ok.clone());
            let socket = d.socket.clone();
            let user = user.to_string();
            std::thread::spawn(move || {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    if raw_login(&socket, &user) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    ok.load(Ordering::Relaxed)
}

/// `n` logins for distinct users all waiting on a push at once (tokio clients: one thread, n sockets).
fn waiting_logins(d: &DaemonProc, n: usize) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let socket = d.socket.clone();
    rt.block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let socket = socket.clone();
            set.spawn(async move { async_login(&socket, &format!("wait-user-{i}")).await });
        }
        let mut ok = 0;
        while let Some(r) = set.join_next().await {
            if matches!(r, Ok(true)) {
                ok += 1;
            }
        }
        ok
    })
}

/// The protocol over a tokio socket, for many concurrent clients on one thread.
async fn async_login(socket: &std::path::Path, user: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A non-blocking connect fails with EAGAIN while the listen backlog is full (10,000 clients
    // at once); the shim's blocking connect waits instead, so this one retries.
    let mut s = loop {
        match tokio::net::UnixStream::connect(socket).await {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(_) => return false,
        }
    };
    let mut out = proto::encode(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
    })
    .unwrap_or_default();
    out.extend(
        proto::encode(&ClientMsg::Start(harness::headless_request(user))).unwrap_or_default(),
    );
    if s.write_all(&out).await.is_err() {
        return false;
    }
    loop {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).await.is_err() {
            return false;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > proto::MAX_FRAME {
            return false;
        }
        let mut buf = vec![0u8; n];
        if s.read_exact(&mut buf).await.is_err() {
            return false;
        }
        match proto::decode::<ServerMsg>(&buf) {
            Ok(ServerMsg::Decision(d)) => return d.verdict == Verdict::Allow,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// (p50, p90, p99) of a sample.
fn percentiles(v: &mut [Duration]) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.9), at(0.99))
}

/// Milliseconds with two decimals.
fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// User+system CPU seconds of a process so far.
fn proc_cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks / hz.max(1.0)
}

/// Resident set size of a process in KiB.
fn rss_kib(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| status_kib(&s, "VmRSS:"))
        .unwrap_or(0)
}

/// One `Name:   1234 kB` field of a /proc/PID/status text, in KiB (0 when absent).
fn status_kib(status: &str, name: &str) -> usize {
    status
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Memory of a child process in KiB, sampled from /proc until it exits.
#[derive(Default, Clone, Copy)]
struct ShimMemory {
    /// VmHWM: the kernel's high-water mark of its resident set.
    peak: usize,
    /// The most private (anonymous) memory seen: heap, stack, relocated data.
    anon: usize,
    /// The most file-backed resident memory seen: mapped pages of the binary, libc and ld.so,
    /// shared with every other process using them.
    file: usize,
}

/// Run `c` and sample its memory (the most of each figure) until it exits.
fn shim_memory(mut c: Command) -> ShimMemory {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Ok(mut child) = c.spawn() else {
        return ShimMemory::default();
    };
    let path = format!("/proc/{}/status", child.id());
    let mut m = ShimMemory::default();
    while let Ok(None) = child.try_wait() {
        if let Ok(s) = std::fs::read_to_string(&path) {
            m.peak = m.peak.max(status_kib(&s, "VmHWM:"));
            m.anon = m.anon.max(status_kib(&s, "RssAnon:"));
            m.file = m.file.max(status_kib(&s, "RssFile:"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    m
}

/// Our login shell (what duo-login execs the command through).
fn login_shell() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; read immediately.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_shell.is_null() {
            return "/bin/sh".into();
        }
        std::ffi::CStr::from_ptr((*pw).pw_shell)
            .to_string_lossy()
            .into_owned()
    }
}

/// Raise the soft fd limit to the hard limit (10,000 sockets need it).
fn raise_fd_limit() {
    // SAFETY: plain getrlimit/setrlimit on a stack struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// CPU model, cores and kernel, for the table's header.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut kernel = String::new();
    if let Ok(mut f) = std::fs::File::open("/proc/sys/kernel/osrelease") {
        let _ = f.read_to_string(&mut kernel);
    }
    if cfg!(target_os = "linux") {
        format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
    } else {
        format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
    }
}

/// Row 7: a bypass login through `pam_duo_authd.so` in pamtester vs through `duo-login`, the
/// module's own share (pamtester with the module minus pamtester with `pam_permit.so` alone), and
/// the stripped size of the release module.
fn pam_bench(n: usize) -> Result<Row, String> {
    let wrapper = [
        "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so",
        "/usr/lib64/libpam_wrapper.so",
        "/usr/lib/libpam_wrapper.so",
    ]
    .iter()
    .find(|p| std::path::Path::new(p).exists())
    .ok_or("libpam-wrapper is not installed")?;
    if !std::path::Path::new("/usr/bin/pamtester").exists() {
        return Err("pamtester is not installed".into());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--release", "-p", "pam_duo_authd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !built {
        return Err("cargo build --release -p pam_duo_authd failed".into());
    }
    let so = harness::bin_dir().join("libpam_duo_authd.so");
    let size = std::fs::metadata(&so)
        .map_err(|e| format!("{}: {e}", so.display()))?
        .len();
    let mock = MockDuo::start(MockOptions::default()).map_err(|e| e.to_string())?;
    let d = DaemonProc::start(&mock, bench_opts(64));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let write = |name: &str, auth: &str| {
        std::fs::write(
            dir.path().join(name),
            format!("auth required {auth}\naccount required pam_permit.so\n"),
        )
    };
    write(
        "bench-duo",
        &format!("{} socket={}", so.display(), d.socket.display()),
    )
    .map_err(|e| e.to_string())?;
    write("bench-permit", "pam_permit.so").map_err(|e| e.to_string())?;
    let pamtester = |service: &str| {
        let mut c = Command::new("pamtester");
        c.args([service, "allow-user", "authenticate"])
            .env("LD_PRELOAD", wrapper)
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let t = Instant::now();
        let ok = c.status().map(|s| s.success()).unwrap_or(false);
        (ok, t.elapsed())
    };
    for _ in 0..10 {
        pamtester("bench-duo");
        shim_login(&d, "allow-user");
    }
    let (mut with, mut without, mut shim) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let (ok, t) = pamtester("bench-duo");
        if !ok {
            return Err(format!(
                "pamtester denied a bypass login:\n{}",
                d.log_text()
            ));
        }
        with.push(t);
        without.push(pamtester("bench-permit").1);
        shim.push(shim_login(&d, "allow-user"));
    }
    let (w50, w90, w99) = percentiles(&mut with);
    let (p50, _, _) = percentiles(&mut without);
    let (s50, s90, s99) = percentiles(&mut shim);
    Ok(Row {
        name: format!("7. bypass login through pam_duo_authd.so: `pamtester` (pam_wrapper) spawn to exit vs `duo-login -f allow-user /bin/true`; module size ({n} sequential)"),
        value: format!(
            "pamtester p50 {} / p90 {} / p99 {}; the same pamtester with pam_permit.so alone p50 {}, so the module's per-call cost (dlopen, connect, Hello to Decision) is ~{} at p50; duo-login p50 {} / p90 {} / p99 {}; module {:.0} KB stripped",
            ms(w50), ms(w90), ms(w99), ms(p50), ms(w50.saturating_sub(p50)), ms(s50), ms(s90), ms(s99),
            size as f64 / 1024.0
        ),
        target: "(new: no target; the module must cost no more than the shim)".into(),
    })
}
