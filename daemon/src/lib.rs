//! duo-authd: the daemon that alone holds the Duo secret key and serves logins over a Unix socket.
// Unsafe is denied everywhere but the small, commented illumos privilege and syslog modules.
#![deny(unsafe_code)]

pub mod audit;
pub mod config;
pub mod conversation;
pub mod duo;
pub mod failmode;
pub mod fatigue;
pub mod gecos;
pub mod groups;
pub mod health;
pub mod ini;
pub mod listener;
pub mod login;
pub mod netinfo;
pub mod preauth;
pub mod privileges;
pub mod secret;
pub mod server;
pub mod signing;
pub mod state;
// The only other unsafe code: two libc calls (openlog, syslog), each commented.
#[allow(unsafe_code)]
pub mod syslog;
pub mod users;
