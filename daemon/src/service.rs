//! Running the daemon: the start-up rules (which user to become, when to refuse), the socket,
//! the privilege drop, signals, and the bodies of the subcommands. `main.rs` only parses the
//! command line and calls one function here.
//!
//! Start-up order, everything that can fail on the config first (linkerd2-proxy's rule):
//! read and validate the config → decide the user → size the caps to the open-file limit →
//! start the config reader if the file will be unreadable after the drop → bind → drop root →
//! start the runtime → first contact with Duo → serve until SIGTERM/SIGINT (SIGHUP reloads).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Config, ConfigError};
use crate::duo::DuoClient;
use crate::health::{self, Probe};
use crate::listener::{self, Claim};
use crate::reader::Reader;
use crate::state::{ConfigSource, Daemon};
use crate::{audit, netinfo, privileges, server, users};

/// SMF_EXIT_ERR_CONFIG: SMF puts the service into maintenance with the reason in its log.
pub const EXIT_CONFIG: u8 = 96;
/// Where the config is unless `--config` says otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/duo/authd.toml";
/// The account the daemon becomes when started as root with no `[authd] user` (the packages create it).
pub const DEFAULT_USER: &str = "duoauthd";

/// Why `serve` did not start; the first kind puts an SMF service into maintenance.
#[derive(Debug, thiserror::Error)]
enum StartError {
    /// The config is invalid or names something that does not exist.
    #[error("Invalid configuration: {0}")]
    Config(String),
    /// Anything else (the socket, the privilege drop, the runtime).
    #[error("{0}")]
    Other(String),
}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e.to_string())
    }
}

/// Logging to stderr, control characters escaped; the `audit` target always at info.
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},audit=info")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::logwriter::stderr)
        .with_ansi(false)
        .init();
}

/// Which account to run as, by the start-up rules; `None`: stay who we are.
fn target_user(cfg: &Config) -> Result<Option<(u32, u32)>, StartError> {
    let euid = nix::unistd::geteuid().as_raw();
    if euid != 0 {
        return Ok(None);
    }
    let lookup = |name: &str| {
        users::uid_gid_by_name(name)
            .map_err(|e| StartError::Config(format!("looking up the user '{name}': {e}")))
    };
    let target = match &cfg.authd.user {
        Some(name) => match lookup(name)? {
            Some(ids) => Some(ids),
            None => {
                return Err(StartError::Config(format!(
                    "[authd] user '{name}' does not exist"
                )))
            }
        },
        // allow_root = true without a user: stay root, as asked.
        None if cfg.authd.allow_root => None,
        // A login_duo.conf cannot name a user: become the packages' account when it exists.
        None => lookup(DEFAULT_USER)?,
    };
    match target {
        Some((0, _)) | None if !cfg.authd.allow_root => Err(StartError::Config(format!(
            "refusing to run as root: create the '{DEFAULT_USER}' account (useradd -r -M -d /nonexistent -s /usr/sbin/nologin {DEFAULT_USER}), or set [authd] user (TOML config), or allow_root = true"
        ))),
        Some((0, _)) | None => Ok(None),
        Some(ids) => Ok(Some(ids)),
    }
}

/// `serve`: run in the foreground until SIGTERM or SIGINT.
pub fn serve(config_path: PathBuf, socket: Option<PathBuf>) -> ExitCode {
    match start(config_path, socket) {
        Ok(code) => code,
        Err(e @ StartError::Config(_)) => {
            tracing::error!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The synchronous part of `serve`: everything before the runtime starts (one thread only).
fn start(config_path: PathBuf, socket: Option<PathBuf>) -> Result<ExitCode, StartError> {
    privileges::disable_core_dumps();
    let nofile = privileges::raise_fd_limit();
    let mut cfg = Config::from_file(&config_path)?;
    for w in cfg.warnings() {
        tracing::warn!("{}: {w}", config_path.display());
    }
    let socket = socket.unwrap_or_else(|| cfg.authd.socket.clone());
    let target = target_user(&cfg)?;
    if let Some(n) = nofile {
        if let Some(w) = cfg.authd.fit_fd_limit(n) {
            tracing::warn!("{w}");
        }
    }
    // A config the daemon's user will not be able to read again gets a reader that stays root.
    let source = match (target, std::fs::metadata(&config_path)) {
        (Some((uid, _)), Ok(meta)) if std::os::unix::fs::MetadataExt::uid(&meta) != uid => {
            let exe = std::env::current_exe()
                .map_err(|e| StartError::Other(format!("cannot find our own binary: {e}")))?;
            let reader = Reader::start(&exe, &config_path)
                .map_err(|e| StartError::Other(format!("cannot start the config reader: {e}")))?;
            tracing::info!(
                "{} is not owned by the daemon's user: a root-side reader (duo-authd config-reader) will read it on SIGHUP",
                config_path.display()
            );
            ConfigSource::Reader(reader)
        }
        _ => ConfigSource::File,
    };
    let bound = listener::bind(&socket, target)
        .map_err(|e| StartError::Other(format!("cannot listen: {e}")))?;
    if let Some((uid, gid)) = target {
        privileges::drop_to(uid, gid).map_err(|e| StartError::Other(e.to_string()))?;
        tracing::info!(
            uid,
            gid,
            "dropped root privileges after binding {}",
            socket.display()
        );
        // Re-assert after the uid change: Linux resets the dumpable flag on setuid.
        privileges::disable_core_dumps();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Other(format!("cannot start the runtime: {e}")))?;
    let started = Started {
        config_path,
        cfg,
        source,
        nofile,
        bound,
        socket,
    };
    runtime.block_on(run(started))
}

/// What the synchronous start hands to the async part.
struct Started {
    config_path: PathBuf,
    cfg: Config,
    source: ConfigSource,
    nofile: Option<u64>,
    bound: listener::Bound,
    socket: PathBuf,
}

/// The async part of `serve`.
async fn run(s: Started) -> Result<ExitCode, StartError> {
    let duo = DuoClient::new(&s.cfg).map_err(|e| StartError::Config(e.to_string()))?;
    // Warm the pool and measure the clock offset; failure here is not fatal (failmode decides per login).
    match duo.ping().await {
        Ok(()) => tracing::info!("connected to Duo API at {}", s.cfg.host.authority()),
        Err(e) => tracing::warn!(
            "first contact with Duo failed (logins follow failmode until it answers): {e}"
        ),
    }
    audit::configure_syslog(s.cfg.authd.syslog, s.cfg.authd.syslog_facility);
    let hostname = netinfo::hostname();
    let local_ip = netinfo::local_ip(&s.cfg.host.host, s.cfg.host.port);
    let mut daemon = Daemon::new(s.config_path, s.cfg, duo, hostname, local_ip);
    daemon.source = s.source;
    daemon.nofile = s.nofile;
    let daemon = Arc::new(daemon);
    let listener::Bound { listener, claim } = s.bound;
    let listener = listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixListener::from_std(listener))
        .map_err(|e| {
            StartError::Other(format!("cannot use the socket {}: {e}", s.socket.display()))
        })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = Signals::install()?;
    tokio::spawn(signals.handle(daemon.clone(), stop_tx));
    tokio::spawn(health::background_check(daemon.clone()));
    tracing::info!(
        "duo-authd {} serving on {}",
        env!("CARGO_PKG_VERSION"),
        s.socket.display()
    );
    let release = move || release_socket(claim);
    server::run(listener, daemon, stop_rx, release).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Give the socket path back as soon as we stop accepting (see [`Claim::release`]).
fn release_socket(claim: Claim) {
    claim.release();
    tracing::info!("stopped accepting; a new duo-authd may start now");
}

/// SIGHUP, SIGTERM and SIGINT as streams.
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Install the handlers (inside the runtime).
    fn install() -> Result<Signals, StartError> {
        let make = |kind| {
            signal(kind)
                .map_err(|e| StartError::Other(format!("cannot install signal handlers: {e}")))
        };
        Ok(Signals {
            hup: make(SignalKind::hangup())?,
            term: make(SignalKind::terminate())?,
            int: make(SignalKind::interrupt())?,
        })
    }

    /// SIGHUP reloads; the first SIGTERM or SIGINT starts the drain.
    async fn handle(mut self, daemon: Arc<Daemon>, stop: tokio::sync::watch::Sender<bool>) {
        loop {
            tokio::select! {
                _ = self.hup.recv() => match daemon.reload().await {
                    Ok(n) => {
                        let a = &daemon.current().ctx.cfg.authd;
                        audit::configure_syslog(a.syslog, a.syslog_facility);
                        tracing::info!("SIGHUP: reloaded {} (generation {n})", daemon.config_path.display());
                    }
                    Err(e) => tracing::error!("SIGHUP: reload refused, keeping the previous config: {e}"),
                },
                _ = self.term.recv() => {
                    tracing::info!("SIGTERM: no longer accepting; draining logins in flight");
                    stop.send_replace(true);
                    return;
                }
                _ = self.int.recv() => {
                    tracing::info!("SIGINT: no longer accepting; draining logins in flight");
                    stop.send_replace(true);
                    return;
                }
            }
        }
    }
}

/// `check`: validate, optionally online (the clock offset measured first, as `serve` does).
pub fn check(config_path: &Path, online: bool) -> ExitCode {
    let cfg = match Config::from_file(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("duo-authd: {e}");
            return ExitCode::FAILURE;
        }
    };
    for w in cfg.warnings() {
        eprintln!("duo-authd: warning: {}: {w}", config_path.display());
    }
    if !online {
        println!("{}: OK", config_path.display());
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("duo-authd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let client = DuoClient::new(&cfg).map_err(|e| e.to_string())?;
        // /ping first, as `serve` does: a Duo whose clock is far off ours is fine, keys permitting.
        client.probe().await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => {
            println!(
                "{}: OK (Duo API at {} accepted the keys)",
                config_path.display(),
                cfg.host.authority()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "duo-authd: {}: config is valid but the Duo API check failed: {e}",
                config_path.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// `health`: 0 ready, 1 degraded, 2 nothing answering.
pub fn health(socket: &Path, json: bool, timeout: Duration) -> ExitCode {
    match health::probe(socket, timeout) {
        Probe::Answered(r) => {
            if json {
                match serde_json::to_string(&r) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("duo-authd: {e}"),
                }
            } else {
                print!("{}", health::render(&r));
            }
            ExitCode::from(if r.ready { 0 } else { 1 })
        }
        Probe::NoAnswer(why) => {
            let why = duo_authd_proto::sanitize(&why);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ready": false, "answering": false, "error": why})
                );
            } else {
                println!("status: down\nproblem: {why}");
            }
            ExitCode::from(2)
        }
    }
}

/// `import-conf`: INI to TOML on stdout.
pub fn import_conf(file: &Path) -> ExitCode {
    match crate::config::import_conf(file) {
        Ok(toml) => {
            print!("{toml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("duo-authd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `config-reader`: the root-side helper of [`crate::reader`].
pub fn config_reader(path: PathBuf) -> ExitCode {
    ExitCode::from(crate::reader::serve(path))
}
