//! `duo-authd`: the command line, and nothing else; every subcommand's body is in
//! [`duo_authd::service`].
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use duo_authd::service::{self, DEFAULT_CONFIG};

/// Duo two-factor login daemon: holds the Duo secret key and serves duo-login over a Unix socket.
#[derive(Parser)]
#[command(name = "duo-authd", version, about, long_about = None)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands (see duo-authd(8)).
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
        /// Also measure the clock offset and call /auth/v2/check to prove the keys, host and CA work.
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
    /// (internal) The root-side helper that reads a root-owned config for a reload.
    #[command(hide = true)]
    ConfigReader {
        /// The config file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve {
            config,
            socket,
            log_level,
        } => {
            service::init_logging(&log_level);
            service::serve(config, socket)
        }
        Command::Check { config, online } => service::check(&config, online),
        Command::Health {
            socket,
            json,
            timeout,
        } => service::health(&socket, json, Duration::from_secs(timeout.max(1))),
        Command::ImportConf { file } => service::import_conf(&file),
        Command::ConfigReader { config } => service::config_reader(config),
    }
}
