//! Test support for duo-authd: the mock Duo Auth API, a pty driver and the harness around the real binaries.

pub mod execwatch;
pub mod harness;
pub mod mock;
pub mod pty;
