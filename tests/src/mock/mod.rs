//! A mock of Duo's Auth API v2 over real HTTPS, for duo-authd's tests, demo and benchmark.
//!
//! It is an independent implementation of Duo's server side (it shares no code with the daemon), so a signing or
//! protocol bug in the daemon shows up here as a refusal: every request's HMAC signature is verified as Duo does.
//! Behaviour is chosen by the Duo username (the table is at the top of `mock/scenarios.rs`). The server runs on its own
//! tokio runtime in a background thread, so synchronous tests can use it; it stops when dropped.

#![forbid(unsafe_code)]

mod certs;
mod dates;
mod scenarios;
mod server;
mod signature;

#[cfg(test)]
mod live_tests;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use certs::{CertError, CertKind};
pub use scenarios::FORGED_LINE;

/// The integration key of the shared signing test vectors, the mock's default.
pub const TEST_IKEY: &str = "DIXYZV6YM8IFYVWBINCA";
/// The secret key of the shared signing test vectors (public test data, not a real secret).
pub const TEST_SKEY: &str = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";

/// How to run the mock.
#[derive(Clone)]
pub struct MockOptions {
    /// The integration key requests must carry.
    pub ikey: String,
    /// The secret key signatures are checked with.
    pub skey: String,
    /// Added to every response (simulates the network round trip to Duo).
    pub latency: Duration,
    /// How long a push or phone call waits before its answer.
    pub push_delay: Duration,
    /// How long `slow-user`'s preauth takes to answer.
    pub slow_delay: Duration,
    /// Seconds added to the mock's clock, as seen in `/ping` and used for the signature date check.
    pub time_offset: i64,
    /// Largest accepted distance between a request's `X-Duo-Date` and the mock's clock.
    pub max_skew: Duration,
    /// Which certificate the server presents.
    pub cert: CertKind,
    /// Where to listen (port 0: any free port).
    pub bind: SocketAddr,
    /// Keep the CA (`ca.pem`, `ca.key`) in this directory and reuse it at the next start, so a test can
    /// restart the mock while the daemon keeps verifying its certificate; `None`: a fresh CA in a temp dir.
    pub ca_dir: Option<PathBuf>,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            ikey: TEST_IKEY.into(),
            skey: TEST_SKEY.into(),
            latency: Duration::ZERO,
            push_delay: Duration::from_millis(300),
            slow_delay: Duration::from_secs(30),
            time_offset: 0,
            max_skew: Duration::from_secs(300),
            cert: CertKind::Good,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ca_dir: None,
        }
    }
}

impl std::fmt::Debug for MockOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockOptions")
            .field("ikey", &self.ikey)
            .field("skey", &"<redacted>")
            .field("latency", &self.latency)
            .field("push_delay", &self.push_delay)
            .field("slow_delay", &self.slow_delay)
            .field("time_offset", &self.time_offset)
            .field("max_skew", &self.max_skew)
            .field("cert", &self.cert)
            .field("bind", &self.bind)
            .field("ca_dir", &self.ca_dir)
            .finish()
    }
}

/// What the mock has seen, for tests to assert on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockStats {
    /// TCP connections accepted (including those closed at once while down).
    pub tcp_connections: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// HTTP requests received, whatever their fate.
    pub requests: u64,
    /// Requests per path (`/auth/v2/preauth`, ...).
    pub by_path: BTreeMap<String, u64>,
    /// Requests refused for their credentials (code 40101; clock-skew refusals are not counted).
    pub bad_signatures: u64,
    /// Requests with a valid HMAC-SHA1 signature.
    pub sha1_requests: u64,
    /// `/auth` requests with a valid signature, per username.
    pub auth_by_user: BTreeMap<String, u64>,
    /// Pushes and phone calls started, per username.
    pub pushes_by_user: BTreeMap<String, u64>,
    /// The decoded parameters of the last request to each path.
    pub last_params: BTreeMap<String, BTreeMap<String, String>>,
    /// The most pushes or calls pending at once, per username.
    pub max_concurrent_pushes_by_user: BTreeMap<String, u64>,
    /// Total time spent answering requests, from the parsed request to the built response
    /// (added latency included): the "mock's time" a benchmark subtracts from a login's wall time.
    pub busy: std::time::Duration,
}

/// An `/auth` started with `async=1`, waiting to be polled through `/auth_status`.
#[derive(Clone, Debug)]
pub(crate) struct Transaction {
    /// The behaviour of the user who started it.
    pub scenario: scenarios::Scenario,
    /// What was asked for.
    pub factor: scenarios::Factor,
    /// When the final answer is known.
    pub ready_at: Instant,
}

/// Scenario state that outlives a request.
#[derive(Default)]
pub(crate) struct ScenarioState {
    /// Pushes/calls pending now, per user.
    pub pending: BTreeMap<String, u64>,
    /// Preauth calls seen so far by the rate-limited users.
    pub rate_limited: HashMap<String, u32>,
    /// Async transactions by txid.
    pub txs: HashMap<String, Transaction>,
}

/// Everything the server tasks share.
pub(crate) struct Shared {
    /// The options the mock was started with (latency is read from `latency_nanos` instead).
    pub opts: MockOptions,
    /// Current added latency, changed by `set_latency`.
    pub latency_nanos: AtomicU64,
    /// Seconds added to the mock's clock now, changed by `set_time_offset` (starts at `opts.time_offset`).
    pub time_offset: AtomicI64,
    /// TLS connections open now (a gauge: `reset_stats` leaves it alone).
    pub open_connections: AtomicU64,
    /// The most TLS connections open at once since start or `reset_peak_connections`.
    pub peak_connections: AtomicU64,
    /// HTTP status every endpoint answers with, 0 for none.
    pub fail_all: AtomicU32,
    /// True while the mock simulates an unreachable Duo.
    pub down: watch::Sender<bool>,
    /// Counters.
    pub stats: Mutex<MockStats>,
    /// Pending pushes, rate limits, transactions.
    pub state: Mutex<ScenarioState>,
}

impl Shared {
    /// The mock's clock, seconds since the epoch, with the current time offset applied.
    pub(crate) fn now(&self) -> i64 {
        dates::unix_now().saturating_add(self.time_offset.load(Ordering::Relaxed))
    }
}

/// Lock a mutex, recovering the data if a holder panicked (the mock must keep serving).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running mock Duo API; stops when dropped.
pub struct MockDuo {
    addr: SocketAddr,
    ca_file: PathBuf,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    /// Holds `ca_file` when there is no `ca_dir`; removed on drop.
    _dir: Option<tempfile::TempDir>,
}

impl MockDuo {
    /// Make the certificates, bind, and start serving in a background thread.
    pub fn start(opts: MockOptions) -> io::Result<MockDuo> {
        let identity =
            certs::make_identity(opts.cert, opts.ca_dir.as_deref()).map_err(io::Error::other)?;
        let (dir, ca_file) = match &opts.ca_dir {
            // make_identity wrote (or kept) ca.pem there.
            Some(d) => (None, d.join("ca.pem")),
            None => {
                let dir = tempfile::Builder::new().prefix("mock-duo").tempdir()?;
                let ca_file = dir.path().join("ca.pem");
                fs::write(&ca_file, &identity.ca_pem).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("mock Duo: writing {}: {e}", ca_file.display()),
                    )
                })?;
                fs::set_permissions(&ca_file, fs::Permissions::from_mode(0o644))?;
                (Some(dir), ca_file)
            }
        };
        if let Some(parent) = ca_file.parent() {
            // The daemon may run as another user: the CA certificate is public, let it read it.
            fs::set_permissions(parent, fs::Permissions::from_mode(0o755))?;
        }

        let std_listener = TcpListener::bind(opts.bind).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("mock Duo: cannot listen on {}: {e}", opts.bind),
            )
        })?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mock-duo-worker")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = rt.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let (down, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            latency_nanos: AtomicU64::new(duration_nanos(opts.latency)),
            time_offset: AtomicI64::new(opts.time_offset),
            open_connections: AtomicU64::new(0),
            peak_connections: AtomicU64::new(0),
            opts,
            fail_all: AtomicU32::new(0),
            down,
            stats: Mutex::new(MockStats::default()),
            state: Mutex::new(ScenarioState::default()),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let acceptor = tokio_rustls::TlsAcceptor::from(identity.config);
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("mock-duo".into())
            .spawn(move || {
                rt.block_on(server::run(listener, acceptor, sh, shutdown_rx));
                rt.shutdown_timeout(Duration::from_millis(500));
            })?;
        Ok(MockDuo {
            addr,
            ca_file,
            shared,
            shutdown,
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `localhost:PORT`, for the daemon's `host` key (the certificate is for `localhost`).
    pub fn host(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    /// PEM file of the CA that signed the server certificate, for the daemon's `cafile`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        lock(&self.shared.stats).clone()
    }

    /// Zero every counter.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = MockStats::default();
    }

    /// Simulate Duo being unreachable: new connections are closed at once, idle kept-alive ones are closed.
    pub fn set_down(&self, down: bool) {
        self.shared.down.send_replace(down);
    }

    /// Make every endpoint answer this HTTP status with a FAIL body (`None` to stop).
    pub fn set_fail_all(&self, status: Option<u16>) {
        self.shared
            .fail_all
            .store(status.map_or(0, u32::from), Ordering::Relaxed);
    }

    /// Change the latency added to every response.
    pub fn set_latency(&self, d: Duration) {
        self.shared
            .latency_nanos
            .store(duration_nanos(d), Ordering::Relaxed);
    }

    /// Move the mock's clock to `secs` off the real one, now (a VM resumed, NTP stepped at Duo or here).
    pub fn set_time_offset(&self, secs: i64) {
        self.shared.time_offset.store(secs, Ordering::Relaxed);
    }

    /// TLS connections open to the mock now.
    pub fn open_connections(&self) -> u64 {
        self.shared.open_connections.load(Ordering::Relaxed)
    }

    /// The most TLS connections open at once since start or the last reset.
    pub fn peak_connections(&self) -> u64 {
        self.shared.peak_connections.load(Ordering::Relaxed)
    }

    /// Start counting the peak again from the connections open now.
    pub fn reset_peak_connections(&self) {
        let now = self.open_connections();
        self.shared.peak_connections.store(now, Ordering::Relaxed);
    }

    /// Stop serving now (the same as dropping it).
    pub fn shutdown(self) {}
}

impl Drop for MockDuo {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
