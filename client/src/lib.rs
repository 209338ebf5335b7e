//! The client side of the duo-authd socket, shared by `duo-login` and `pam_duo_authd.so`:
//! finding and trusting the daemon (socket type, owner and peer uid), and the passwd lookups
//! that trust needs. std and libc only: both clients must stay small, and the PAM module runs
//! inside sshd and sudo, where no runtime or thread of ours may live.
#![deny(unsafe_code)]

mod connect;
#[allow(unsafe_code)]
pub mod passwd;
pub mod peer;

pub use connect::{connect, ConnectError, Timeouts};
