//! `mock-duo`: the mock Duo Auth API as a process, for manual runs and scripts.
//!
//! Prints one line `MOCK_READY host=localhost:PORT ca=/path/ca.pem ikey=... skey=...` once it listens, then
//! serves until killed or until its stdin closes (so run it with a pipe on stdin, not `/dev/null`).

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use duo_authd_tests::mock::{MockDuo, MockOptions};

const USAGE: &str = "usage: mock-duo [--port N] [--latency-ms N] [--push-delay-ms N]";

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
    let mut sink = [0u8; 1024];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
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
    }
}
