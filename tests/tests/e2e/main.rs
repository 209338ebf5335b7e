//! End-to-end tests: the real `duo-authd` and `duo-login` binaries, over a real Unix socket,
//! against the mock Duo API (real TLS, verified signatures). One test binary, several modules.

mod abuse;
mod attack;
mod common;
mod faults;
mod integrity;
mod lifecycle;
mod migration;
mod pam;
mod parity;
mod reliability;
mod scenarios;
mod security;
mod service;
mod sshd;
