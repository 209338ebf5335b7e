//! The CONNECT tunnel TLS to Duo runs through when `http_proxy` is set (the URL itself is parsed with the
//! config, in `proxy_url.rs`).

use std::io;
use std::time::Duration;

use base64::Engine as _;
use http::Uri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crate::proxy_url::ProxyUrl;

/// Largest CONNECT reply head accepted from the proxy.
const MAX_REPLY: usize = 8 * 1024;
/// Longest proxy status line kept in an error.
const MAX_STATUS: usize = 120;

/// Setting up the tunnel failed; every message names the proxy (password masked).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// The proxy could not be reached, or the connection to it broke.
    #[error("cannot reach the HTTP proxy {proxy}")]
    Unreachable {
        /// The redacted proxy URL.
        proxy: String,
        /// The OS or resolver's words.
        #[source]
        source: io::Error,
    },
    /// The proxy answered CONNECT with a non-2xx status.
    #[error("the HTTP proxy {proxy} refused to open a tunnel to {target}: {status}{}", if *code == 407 { " (check the user:password in http_proxy)" } else { "" })]
    Refused {
        /// The redacted proxy URL.
        proxy: String,
        /// The Duo `host:port` asked for.
        target: String,
        /// The status code.
        code: u16,
        /// The proxy's status line, shortened and stripped of control characters.
        status: String,
    },
    /// The proxy's answer was not an HTTP reply we can use.
    #[error("the HTTP proxy {proxy} sent an unusable reply to CONNECT: {reason}")]
    BadReply {
        /// The redacted proxy URL.
        proxy: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No tunnel within the connect timeout (the source has kind `TimedOut`, so it is sorted as a timeout).
    #[error("the HTTP proxy {proxy} did not open a tunnel in time")]
    Timeout {
        /// The redacted proxy URL.
        proxy: String,
        /// Always `ErrorKind::TimedOut`.
        #[source]
        source: io::Error,
    },
}

impl ProxyUrl {
    /// Open TCP to the proxy and a CONNECT tunnel to `target`'s host and port, all within `timeout`.
    pub(crate) async fn tunnel(
        &self,
        target: &Uri,
        timeout: Duration,
    ) -> Result<TcpStream, ProxyError> {
        let authority = format!(
            "{}:{}",
            target.host().unwrap_or_default(),
            target.port_u16().unwrap_or(443)
        );
        tokio::time::timeout(timeout, self.connect(&authority))
            .await
            .unwrap_or_else(|_| {
                Err(ProxyError::Timeout {
                    proxy: self.redacted(),
                    source: io::ErrorKind::TimedOut.into(),
                })
            })
    }

    /// The tunnel without the deadline: one write of the CONNECT head, then a capped read of the reply head.
    async fn connect(&self, target: &str) -> Result<TcpStream, ProxyError> {
        let unreachable = |source| ProxyError::Unreachable {
            proxy: self.redacted(),
            source,
        };
        let bad = |reason: &str| ProxyError::BadReply {
            proxy: self.redacted(),
            reason: reason.to_string(),
        };
        let mut tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(unreachable)?;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on the connection to the proxy: {e}");
        }
        let keepalive = nix::sys::socket::sockopt::KeepAlive;
        if let Err(e) = nix::sys::socket::setsockopt(&tcp, keepalive, &true) {
            tracing::debug!("cannot set SO_KEEPALIVE on the connection to the proxy: {e}");
        }
        let mut head = Zeroizing::new(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {}\r\n",
            super::UA
        ));
        if let Some(auth) = &self.auth {
            let b64 =
                Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(auth.expose()));
            head.push_str("Proxy-Authorization: Basic ");
            head.push_str(&b64);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        tcp.write_all(head.as_bytes()).await.map_err(unreachable)?;

        let mut reply = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        let end = loop {
            let n = tcp.read(&mut chunk).await.map_err(unreachable)?;
            if n == 0 {
                return Err(bad("it closed the connection before a complete answer"));
            }
            reply.extend_from_slice(&chunk[..n]);
            if let Some(p) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if reply.len() > MAX_REPLY {
                return Err(bad("the reply head is longer than 8 KiB"));
            }
        };
        // Duo speaks only after our ClientHello, so anything past the head is not Duo.
        if end != reply.len() {
            return Err(bad("it sent data after its reply head"));
        }
        let line: String =
            String::from_utf8_lossy(reply.split(|&b| b == b'\r').next().unwrap_or_default())
                .chars()
                .take(MAX_STATUS)
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    }
                })
                .collect();
        let mut words = line.split(' ');
        let code = match (words.next(), words.next().map(str::parse::<u16>)) {
            (Some(v), Some(Ok(code))) if v.starts_with("HTTP/1.") => code,
            _ => return Err(bad(&format!("not an HTTP status line: {line:?}"))),
        };
        if !(200..300).contains(&code) {
            return Err(ProxyError::Refused {
                proxy: self.redacted(),
                target: target.to_string(),
                code,
                status: line,
            });
        }
        Ok(tcp)
    }
}
