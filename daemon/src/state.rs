//! The daemon's shared state: the config generation in force, counters for health, and reload.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use duo_authd_proto::Reason;

use crate::config::Config;
use crate::duo::DuoClient;
use crate::fatigue::FatigueGuard;
use crate::login::LoginCtx;
use crate::ratelimit::{LogThrottle, UidRate};
use crate::reader::Reader;
use crate::sync::{lock, read, write};

/// Connection-level log lines each uid may cause per [`LOG_WINDOW`] before they are summarised.
const LOG_LINES_PER_WINDOW: u32 = 20;
/// The window of [`LOG_LINES_PER_WINDOW`].
const LOG_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// One loaded config and the client built from it; logins keep the generation they started with.
pub struct Generation<A = DuoClient> {
    /// 1 at start, +1 per successful reload.
    pub number: u64,
    /// What a login needs.
    pub ctx: LoginCtx<A>,
}

/// Counters read by `health`.
#[derive(Default)]
pub struct Stats {
    /// Client connections open now.
    pub connections_open: AtomicU64,
    /// Logins being decided now.
    pub logins_in_flight: AtomicU64,
    /// Logins decided since start.
    pub logins_served: AtomicU64,
    /// Decisions by reason.
    pub decisions: Mutex<BTreeMap<Reason, u64>>,
    /// Why the last reload failed (cleared by a good one).
    pub last_reload_error: Mutex<Option<String>>,
}

impl Stats {
    /// Count one decision.
    pub fn record(&self, reason: Reason) {
        self.logins_served.fetch_add(1, Ordering::Relaxed);
        *lock(&self.decisions).entry(reason).or_default() += 1;
    }
}

/// Everything the server tasks share (generic over the Duo API so the server can be tested in-process).
pub struct Daemon<A = DuoClient> {
    /// When the daemon started, for uptime.
    pub started: Instant,
    /// The config file, re-read on SIGHUP.
    pub config_path: PathBuf,
    /// The generation new logins use.
    current: RwLock<Arc<Generation<A>>>,
    /// Push-fatigue state, kept across reloads so a reload cannot reset the counts.
    pub fatigue: FatigueGuard,
    /// Logins per uid that reach Duo, kept across reloads.
    pub rate: Arc<UidRate>,
    /// Connection-level log lines per uid, so one user cannot drown the audit lines.
    pub log_throttle: LogThrottle,
    /// Health counters.
    pub stats: Stats,
    /// This host's name for Duo.
    pub hostname: String,
    /// This host's address for pushinfo.
    pub local_ip: Option<String>,
    /// Where reloads read the config from.
    pub source: ConfigSource,
    /// The open-file limit the connection caps are sized to (re-applied on reload).
    pub nofile: Option<u64>,
}

/// Where a reload reads the config from.
#[derive(Debug, Default)]
pub enum ConfigSource {
    /// The file itself (the daemon's user may read it).
    #[default]
    File,
    /// The root-side helper, for a root-owned file the daemon's user cannot read.
    Reader(Reader),
}

/// Why a reload was refused; the old config stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new file is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A client could not be built from it (cafile, proxy).
    #[error(transparent)]
    Client(#[from] crate::duo::ClientError),
    /// The root-side reader could not deliver the file.
    #[error(transparent)]
    Reader(#[from] crate::reader::ReaderError),
}

impl<A> Daemon<A> {
    /// Assemble the state around a first, already validated config.
    pub fn new(
        config_path: PathBuf,
        cfg: Config,
        duo: A,
        hostname: String,
        local_ip: Option<String>,
    ) -> Self {
        let fatigue = FatigueGuard::new(cfg.authd.push_limit as usize, cfg.authd.push_window);
        let rate = Arc::new(UidRate::new(cfg.authd.preauth_rate));
        let ctx = LoginCtx {
            cfg: Arc::new(cfg),
            duo,
            fatigue: fatigue.clone(),
            rate: rate.clone(),
            hostname: hostname.clone(),
            local_ip: local_ip.clone(),
        };
        Daemon {
            started: Instant::now(),
            config_path,
            current: RwLock::new(Arc::new(Generation { number: 1, ctx })),
            fatigue,
            rate,
            log_throttle: LogThrottle::new(LOG_LINES_PER_WINDOW, LOG_WINDOW),
            stats: Stats::default(),
            hostname,
            local_ip,
            source: ConfigSource::File,
            nofile: None,
        }
    }

    /// The generation new connections should use.
    pub fn current(&self) -> Arc<Generation<A>> {
        read(&self.current).clone()
    }
}

impl Daemon<DuoClient> {
    /// Re-read the config; on success swap it in for new logins, on failure keep the old one.
    pub async fn reload(self: &Arc<Self>) -> Result<u64, ReloadError> {
        let result = self.try_reload().await;
        *lock(&self.stats.last_reload_error) = result.as_ref().err().map(|e| e.to_string());
        result
    }

    /// The fallible part of [`Daemon::reload`].
    async fn try_reload(self: &Arc<Self>) -> Result<u64, ReloadError> {
        let this = self.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<Config, ReloadError> {
            let path = &this.config_path;
            let private = match &this.source {
                ConfigSource::File => crate::config::read_private(path)?,
                ConfigSource::Reader(r) => r.read()?,
            };
            Ok(Config::from_private(&private, path)?)
        });
        let mut cfg = read.await.map_err(|e| crate::config::ConfigError::Io {
            path: self.config_path.clone(),
            source: std::io::Error::other(e),
        })??;
        if let Some(n) = self.nofile {
            if let Some(w) = cfg.authd.fit_fd_limit(n) {
                tracing::warn!("{w}");
            }
        }
        let old = self.current();
        let (was, now) = (&old.ctx.cfg.authd, &cfg.authd);
        if was.socket != now.socket || was.user != now.user {
            tracing::warn!(
                "[authd] socket and user take effect at the next restart, not on reload"
            );
        }
        let duo = DuoClient::new(&cfg)?;
        if let Err(e) = duo.ping().await {
            tracing::warn!("reloaded config: first contact with Duo failed: {e}");
        }
        let number = old.number + 1;
        // The limits are the daemon's, not the generation's: apply the new values to the shared state.
        self.fatigue
            .set_limits(cfg.authd.push_limit as usize, cfg.authd.push_window);
        self.rate.set_rate(cfg.authd.preauth_rate);
        let ctx = LoginCtx {
            cfg: Arc::new(cfg),
            duo,
            fatigue: self.fatigue.clone(),
            rate: self.rate.clone(),
            hostname: self.hostname.clone(),
            local_ip: self.local_ip.clone(),
        };
        let next = Arc::new(Generation { number, ctx });
        *write(&self.current) = next;
        Ok(number)
    }
}
