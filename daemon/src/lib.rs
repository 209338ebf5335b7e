//! duo-authd: the daemon that alone holds the Duo secret key and serves logins over a Unix socket.
//!
//! # Layout, in the order a login flows through it
//!
//! - [`service`]: start-up (config, which user to become, the socket, the privilege drop with
//!   [`privileges`], the runtime), signals (SIGHUP reloads through [`state`], SIGTERM drains), and
//!   the other subcommands. `main.rs` only parses the command line.
//! - [`config`] reads and validates the file (TOML, or duo_unix's INI through [`ini`]), refusing
//!   one others may read; [`reader`] re-reads a root-owned one after the drop.
//! - [`listener`] binds the socket in a directory only root or the daemon may write, and gives
//!   the path back cleanly when the daemon stops accepting.
//! - [`server`] accepts clients, learns each one's uid from the kernel, enforces the connection
//!   caps, and runs one task per client over a [`conversation`] (framing, deadlines, prompts).
//! - [`login`] is one login: who asks ([`users`], [`gecos`], [`groups`]), then Duo through the
//!   typed verbs of [`duo::api`] (preauth, auth, auth_status over the pooled HTTPS client in
//!   [`duo`], signed by [`signing`]), with the push-fatigue guard ([`fatigue`]) and the per-uid
//!   limits ([`ratelimit`]). Every failure is sorted by [`failmode`] by the stage it happened at.
//! - [`audit`] writes one line per decision in login_duo's words; [`health`] answers `health`.
//! - [`secret`] keeps the skey out of logs; [`netinfo`] is this host's name and address.
// Unsafe is denied everywhere (Cargo.toml's [workspace.lints]) but in the small, commented FFI
// modules that opt in: `privileges/rlimit.rs`, `privileges/illumos.rs` and `netinfo/canon.rs`
// (getaddrinfo with AI_CANONNAME, for the fully qualified host name login_duo sends).

pub mod audit;
pub mod config;
pub mod conversation;
pub mod duo;
pub mod failmode;
#[cfg(test)]
pub(crate) mod fake;
pub mod fatigue;
pub mod gecos;
pub mod groups;
pub mod health;
pub mod ini;
pub mod listener;
pub mod login;
pub mod logwriter;
pub mod netinfo;
pub mod privileges;
pub mod proxy_url;
pub mod ratelimit;
pub mod reader;
pub mod secret;
pub mod server;
pub mod service;
pub mod signing;
pub mod state;
pub mod sync;
pub mod users;
