//! This host's name and address, as login_duo sends them to Duo.

use std::net::{ToSocketAddrs, UdpSocket};

/// The host name for Duo's `hostname` parameter.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// The local address used to reach the Duo API (a connected UDP socket sends nothing), for pushinfo and `fallback_local_ip`.
pub fn local_ip(host: &str, port: u16) -> Option<String> {
    let target = (host, port).to_socket_addrs().ok()?.next()?;
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind).ok()?;
    sock.connect(target).ok()?;
    Some(sock.local_addr().ok()?.ip().to_string())
}
