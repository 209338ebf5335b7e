//! duo-authd: the daemon that alone holds the Duo secret key and serves logins over a Unix socket.
// Unsafe is denied everywhere but the small, commented illumos privilege and syslog modules.
#![deny(unsafe_code)]

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
pub mod netinfo;
pub mod privileges;
pub mod ratelimit;
pub mod reader;
pub mod secret;
pub mod server;
pub mod service;
pub mod signing;
pub mod state;
pub mod users;
