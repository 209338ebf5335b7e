//! `duo-authd`: thin command-line front over the library (parse, set up logging, run).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use duo_authd::config::Config;
use duo_authd::duo::DuoClient;
use duo_authd::health::{self, Probe};
use duo_authd::state::Daemon;
use duo_authd::{listener, netinfo, privileges, server, users};
use tokio::signal::unix::{signal, SignalKind};

/// SMF_EXIT_ERR_CONFIG: SMF puts the service into maintenance with the reason in its log.
const EXIT_CONFIG: u8 = 96;
/// Default config path.
const DEFAULT_CONFIG: &str = "/etc/duo/authd.toml";

/// Duo two-factor login daemon: holds the Duo secret key and serves duo-login over a Unix socket.
#[derive(Parser)]
#[command(name = "duo-authd", version, about, long_about = None)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of INTERFACE.md.
#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (SMF/systemd keep it running and collect stderr).
    Serve {
        /// Config file (TOML; a name ending in .conf is read as duo_unix's INI).
        #[arg(long, short = 'c', default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Socket path (overrides [authd] socket).
        #[arg(long, short = 's')]
        socket: Option<PathBuf>,
        /// Log verbosity: error, warn, info, debug, trace (RUST_LOG overrides).
        #[arg(long, default_value = "info")]
        log_level: String,
    },
    /// Validate the config and exit 0 (valid) or 1 (invalid, with the reason).
    Check {
        /// Config file.
        #[arg(long, short = 'c', default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Also call /auth/v2/check to prove the keys, host and CA work.
        #[arg(long)]
        online: bool,
    },
    /// Ask the running daemon for its health: exit 0 ready, 1 degraded, 2 no answer.
    Health {
        /// Socket path.
        #[arg(long, short = 's', default_value = duo_authd_proto::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for an answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Print a duo_unix login_duo.conf / pam_duo.conf as the equivalent TOML.
    ImportConf {
        /// The INI file to convert.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            socket,
            log_level,
        } => serve(config, socket, &log_level),
        Command::Check { config, online } => check(config, online),
        Command::Health {
            socket,
            json,
            timeout,
        } => health_cmd(socket, json, timeout),
        Command::ImportConf { file } => import_conf(file),
    }
}

/// Logging to stderr; the `audit` target always at info.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},audit=info")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// `serve`: everything that can fail on config is checked before binding; root is dropped before threads start.
fn serve(config_path: PathBuf, socket: Option<PathBuf>, log_level: &str) -> ExitCode {
    init_logging(log_level);
    privileges::disable_core_dumps();
    privileges::raise_fd_limit();
    let cfg = match Config::from_file(&config_path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("Invalid configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    for w in cfg.warnings() {
        tracing::warn!("{}: {w}", config_path.display());
    }
    let socket = socket.unwrap_or_else(|| cfg.authd.socket.clone());
    let euid = nix::unistd::geteuid().as_raw();
    let target = match (&cfg.authd.user, euid) {
        (Some(name), 0) => match users::uid_gid_by_name(name) {
            Ok(Some((uid, gid))) => Some((uid, gid)),
            Ok(None) => {
                tracing::error!("Invalid configuration: [authd] user '{name}' does not exist");
                return ExitCode::from(EXIT_CONFIG);
            }
            Err(e) => {
                tracing::error!("looking up [authd] user '{name}': {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        _ => None,
    };
    if euid == 0 && target.is_none_or(|(uid, _)| uid == 0) && !cfg.authd.allow_root {
        tracing::error!(
            "Invalid configuration: refusing to run as root; set [authd] user to an unprivileged account (or allow_root = true)"
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let std_listener = match listener::bind(&socket, target.filter(|(u, _)| *u != 0)) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some((uid, gid)) = target.filter(|(u, _)| *u != 0) {
        if let Err(e) = privileges::drop_to(uid, gid) {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
        tracing::info!(
            uid,
            gid,
            "dropped root privileges after binding {}",
            socket.display()
        );
        // Re-assert after the uid change: Linux resets the dumpable flag on setuid.
        privileges::disable_core_dumps();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config_path, cfg, std_listener, socket))
}

/// The async part of `serve`.
async fn run(
    config_path: PathBuf,
    cfg: Config,
    std_listener: std::os::unix::net::UnixListener,
    socket: PathBuf,
) -> ExitCode {
    let duo = match DuoClient::new(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("Invalid configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Warm the pool and measure the clock offset; failure here is not fatal (failmode decides per login).
    match duo.ping().await {
        Ok(()) => tracing::info!("connected to Duo API at {}", cfg.host.authority()),
        Err(e) => tracing::warn!(
            "first contact with Duo failed (logins will follow failmode until it answers): {e}"
        ),
    }
    // Audit lines also go to syslog when asked (login_duo's only log); re-applied on each reload.
    duo_authd::audit::configure_syslog(cfg.authd.syslog, cfg.authd.syslog_facility);
    let hostname = netinfo::hostname();
    let local_ip = netinfo::local_ip(&cfg.host.host, cfg.host.port);
    let daemon = Arc::new(Daemon::new(config_path, cfg, duo, hostname, local_ip));
    let listener = match std_listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixListener::from_std(std_listener))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot use the socket {}: {e}", socket.display());
            return ExitCode::FAILURE;
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (mut hup, mut term, mut int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            tracing::error!("cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let sig_daemon = daemon.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => match sig_daemon.reload().await {
                    Ok(n) => {
                        let a = &sig_daemon.current().ctx.cfg.authd;
                        duo_authd::audit::configure_syslog(a.syslog, a.syslog_facility);
                        tracing::info!("SIGHUP: reloaded {} (generation {n})", sig_daemon.config_path.display())
                    }
                    Err(e) => tracing::error!("SIGHUP: reload refused, keeping the previous config: {e}"),
                },
                _ = term.recv() => { tracing::info!("SIGTERM: draining"); let _ = stop_tx.send(true); break; }
                _ = int.recv() => { tracing::info!("SIGINT: draining"); let _ = stop_tx.send(true); break; }
            }
        }
    });
    tokio::spawn(health::background_check(daemon.clone()));
    tracing::info!(
        "duo-authd {} serving on {}",
        env!("CARGO_PKG_VERSION"),
        socket.display()
    );
    server::run(listener, daemon, stop_rx, || {}).await;
    let _ = std::fs::remove_file(&socket);
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// `check`: validate, optionally online.
fn check(config_path: PathBuf, online: bool) -> ExitCode {
    let cfg = match Config::from_file(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("duo-authd: {e}");
            return ExitCode::FAILURE;
        }
    };
    for w in cfg.warnings() {
        eprintln!("duo-authd: warning: {}: {w}", config_path.display());
    }
    if online {
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
            client.check().await.map_err(|e| e.to_string())
        });
        if let Err(e) = result {
            eprintln!(
                "duo-authd: {}: config is valid but /auth/v2/check failed: {e}",
                config_path.display()
            );
            return ExitCode::FAILURE;
        }
        println!(
            "{}: OK (Duo API at {} accepted the keys)",
            config_path.display(),
            cfg.host.authority()
        );
    } else {
        println!("{}: OK", config_path.display());
    }
    ExitCode::SUCCESS
}

/// `health`: 0 ready, 1 degraded, 2 nothing answering.
fn health_cmd(socket: PathBuf, json: bool, timeout: u64) -> ExitCode {
    match health::probe(&socket, Duration::from_secs(timeout.max(1))) {
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
fn import_conf(file: PathBuf) -> ExitCode {
    match duo_authd::config::import_conf(&file) {
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
