//! `mock-duo`: the mock Duo Auth API as a process, for manual runs and scripts.
//!
//! Prints one line `MOCK_READY host=localhost:PORT ca=/path/ca.pem ikey=... skey=...` once it listens, then
//! serves until killed or until its stdin closes (so run it with a pipe on stdin, not `/dev/null`).
//!
//! Lines on stdin change it while it runs: `time-offset SECS` moves its clock, `down` / `up` make it
//! unreachable and back. `--ca-dir DIR` keeps its CA in DIR, so a restarted mock is still trusted.

#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use duo_authd_tests::mock::{MockDuo, MockOptions};

const USAGE: &str = "usage: mock-duo [--port N] [--latency-ms N] [--push-delay-ms N] [--time-offset SECS] [--ca-dir DIR]";

/// Parse the flags into options, or say which one is wrong.
fn parse_args(args: impl Iterator<Item = String>) -> Result<MockOptions, String> {
    let mut opts = MockOptions::default();
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("mock-duo: {flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--ca-dir" => {
                opts.ca_dir = Some(value.into());
                continue;
            }
            "--time-offset" => {
                opts.time_offset = value.parse().map_err(|_| {
                    format!("mock-duo: --time-offset: {value:?} is not a number of seconds")
                })?;
                continue;
            }
            _ => {}
        }
        let num: u64 = value
            .parse()
            .map_err(|_| format!("mock-duo: {flag}: {value:?} is not a number\n{USAGE}"))?;
        match flag.as_str() {
            "--port" => {
                let port = u16::try_from(num)
                    .map_err(|_| format!("mock-duo: --port {num}: not a port number"))?;
                opts.bind = SocketAddr::from(([127, 0, 0, 1], port));
            }
            "--latency-ms" => opts.latency = Duration::from_millis(num),
            "--push-delay-ms" => opts.push_delay = Duration::from_millis(num),
            _ => return Err(format!("mock-duo: unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(opts)
}

/// Apply one control line read on stdin.
fn control(mock: &MockDuo, line: &str) -> Result<(), String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (None, _) => Ok(()),
        (Some("time-offset"), Some(n)) => {
            let secs = n
                .parse()
                .map_err(|_| format!("time-offset: {n:?} is not a number of seconds"))?;
            mock.set_time_offset(secs);
            Ok(())
        }
        (Some("down"), None) => {
            mock.set_down(true);
            Ok(())
        }
        (Some("up"), None) => {
            mock.set_down(false);
            Ok(())
        }
        _ => Err(format!(
            "unknown control line {line:?} (time-offset SECS, down, up)"
        )),
    }
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let (ikey, skey) = (opts.ikey.clone(), opts.skey.clone());
    let mock = match MockDuo::start(opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mock-duo: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // The skey printed here is the public key of the shared signing test vectors, a test fixture, not a secret.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "MOCK_READY host={} ca={} ikey={ikey} skey={skey}",
        mock.host(),
        mock.ca_file().display()
    );
    let _ = out.flush();
    drop(out);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match control(&mock, &line) {
            Ok(()) => eprintln!("mock-duo: {}", line.trim()),
            Err(e) => eprintln!("mock-duo: {e}"),
        }
    }
    drop(mock);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<MockOptions, String> {
        parse_args(a.iter().map(|s| s.to_string()))
    }

    #[test]
    fn flags() {
        let o = parse(&[
            "--port",
            "4443",
            "--latency-ms",
            "50",
            "--push-delay-ms",
            "0",
        ])
        .unwrap();
        assert_eq!(o.bind.port(), 4443);
        assert_eq!(o.latency, Duration::from_millis(50));
        assert_eq!(o.push_delay, Duration::ZERO);
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--bogus", "1"]).is_err());
        let o = parse(&["--time-offset", "-600", "--ca-dir", "/tmp/ca"]).unwrap();
        assert_eq!(o.time_offset, -600);
        assert_eq!(o.ca_dir.as_deref(), Some(std::path::Path::new("/tmp/ca")));
        assert!(parse(&["--time-offset", "ten"]).is_err());
    }
}
