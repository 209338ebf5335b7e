//! `cargo run -p duo-authd-tests --bin demo`: a real login, end to end, on the embedded mock Duo API.
//!
//! Starts the mock Duo Auth API (real TLS, verified signatures), writes a 0600 config, starts the
//! real `duo-authd`, then runs the real `duo-login` on your terminal: you see Duo's menu, pick
//! push (1), the mock approves it after a moment, and the shim execs a command.
//!
//! It leaves nothing behind: the daemon is stopped and its temporary directory removed on every
//! way out (the shim's exit, a timed-out login, an error), and on Linux the daemon also dies if
//! the demo itself is killed.

use std::io::IsTerminal;
use std::process::{Command, ExitCode};
use std::time::Duration;

use duo_authd_tests::harness::{self, DaemonOptions, DaemonProc};
use duo_authd_tests::mock::{MockDuo, MockOptions};

fn main() -> ExitCode {
    let mock = match MockDuo::start(MockOptions {
        push_delay: Duration::from_millis(1500),
        ..MockOptions::default()
    }) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("demo: cannot start the mock Duo API: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = harness::is_root();
    let mut opts = DaemonOptions::default().top("motd = false");
    if !root {
        // Not root: the daemon runs as you; allow_root is harmless then.
        opts.authd.retain(|l| !l.starts_with("allow_root"));
    }
    let daemon = DaemonProc::start(&mock, opts);
    let me =
        std::env::var("USER").unwrap_or_else(|_| if root { "root".into() } else { String::new() });

    println!("== duo-authd demo ==========================================================");
    println!(
        "mock Duo API : https://{} (TLS, CA {})",
        mock.host(),
        mock.ca_file().display()
    );
    println!(
        "daemon       : {} (pid {}) serving {}",
        harness::bin("duo-authd").display(),
        daemon.child.as_ref().map_or(0, |c| c.id()),
        daemon.socket.display()
    );
    println!(
        "config       : {} (mode 0600, holds the skey; duo-login never reads it)",
        daemon.config.display()
    );
    println!("Pick 1 (Duo Push): the mock approves it after 1.5 s. 2 = phone call, 3 = SMS then type 123456.");
    println!("============================================================================\n");

    let mut shim = Command::new(harness::bin("duo-login"));
    shim.arg("-s").arg(&daemon.socket);
    if !root && !me.is_empty() {
        // The shim only trusts root or the daemon's user at the other end of the socket.
        shim.args(["--daemon-user", &me]);
    }
    // Arguments are joined and run by the shell with -c, as login_duo does: quote for the shell.
    shim.args([
        "echo",
        "'*** Logged in: duo-login would now exec your shell. ***'",
    ]);
    shim.env_remove("SSH_ORIGINAL_COMMAND");
    if !std::io::stdin().is_terminal() {
        println!("(stdin is not a terminal: running headless, one automatic push)");
    }
    let status = shim.status();
    println!("\n-- daemon audit log ---------------------------------------------------------");
    for line in daemon.log_text().lines().filter(|l| l.contains("audit")) {
        println!("{line}");
    }
    let s = mock.stats();
    println!(
        "-- mock: {} requests, {} TLS handshake(s), all signatures verified ({} bad)",
        s.requests, s.tls_handshakes, s.bad_signatures
    );
    let code = match status {
        Ok(st) => u8::try_from(st.code().unwrap_or(1)).unwrap_or(1),
        Err(e) => {
            eprintln!("demo: cannot run duo-login: {e}");
            1
        }
    };
    // Returning (not process::exit) runs the drop guards: the daemon is killed and reaped, its
    // directory and the mock's are removed.
    drop(daemon);
    drop(mock);
    ExitCode::from(code)
}
