//! This host's name and address, as login_duo sends them to Duo.
//!
//! The FFI (getaddrinfo) lives in `netinfo/canon.rs`, one of the few modules allowed `unsafe`.

use std::net::{ToSocketAddrs, UdpSocket};

#[allow(unsafe_code)]
mod canon;

/// The host name for Duo's `hostname` parameter, so the Duo admin panel shows the same name as
/// under login_duo: gethostname(), then the resolver's canonical (fully qualified) name for it
/// (getaddrinfo with `AI_CANONNAME`), falling back to the short name when the resolver has none.
/// Blocking (it may ask DNS): called once at start-up.
pub fn hostname() -> String {
    let short = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "localhost".into());
    canon::canonical_name(&short).unwrap_or(short)
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

#[cfg(test)]
mod tests {
    #[test]
    fn hostname_is_the_resolvers_name_for_this_host() {
        let short = nix::unistd::gethostname().unwrap().into_string().unwrap();
        let name = super::hostname();
        assert!(!name.is_empty());
        // The canonical name of `short`, or `short` itself when the resolver does not know it.
        assert_eq!(name, super::canon::canonical_name(&short).unwrap_or(short));
    }
}
