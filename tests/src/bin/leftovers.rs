//! `leftovers`: exit 1, naming them, if a `duo-authd` process or a test account or group is still
//! on this machine; CI runs it after the test suite (a run must leave nothing behind).

#![forbid(unsafe_code)]

use std::process::{Command, ExitCode, Stdio};

use duo_authd_tests::harness::{TEST_GROUPS, TEST_USERS};

/// Whether `getent DB NAME` finds an entry.
fn exists(db: &str, name: &str) -> bool {
    Command::new("getent")
        .args([db, name])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() -> ExitCode {
    let mut left = Vec::new();
    match Command::new("pgrep")
        .args(["-a", "-x", "duo-authd"])
        .output()
    {
        Ok(o) => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                left.push(format!("process: {line}"));
            }
        }
        Err(e) => left.push(format!("cannot run pgrep: {e}")),
    }
    for u in TEST_USERS.iter().filter(|u| exists("passwd", u)) {
        left.push(format!("test user: {u}"));
    }
    for g in TEST_GROUPS.iter().filter(|g| exists("group", g)) {
        left.push(format!("test group: {g}"));
    }
    if left.is_empty() {
        println!("leftovers: no duo-authd process, test user or test group is left");
        return ExitCode::SUCCESS;
    }
    for l in &left {
        eprintln!("leftovers: {l}");
    }
    ExitCode::FAILURE
}
