//! `http_proxy`: the proxy URL as duo_unix reads it, and the CONNECT tunnel TLS to Duo runs through.

use std::fmt;
use std::io;
use std::net::Ipv6Addr;
use std::time::Duration;

use base64::Engine as _;
use http::Uri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Proxy port when the URL names none (duo_unix's `https_init` default).
const DEFAULT_PORT: u16 = 80;
/// Largest CONNECT reply head accepted from the proxy.
const MAX_REPLY: usize = 8 * 1024;
/// Longest proxy status line kept in an error.
const MAX_STATUS: usize = 120;
/// The accepted form, for error messages.
const FORM: &str = "must look like http://[user:password@]host[:port][/] (the port defaults to 80)";

/// A parsed `http_proxy`; `Debug` and [`ProxyUrl::redacted`] never show the password.
#[derive(Clone)]
pub struct ProxyUrl {
    /// Host name or address to dial (an IPv6 address without brackets).
    host: String,
    /// TCP port of the proxy.
    port: u16,
    /// `user:password` exactly as written (not percent-decoded, like duo_unix), sent as Basic credentials.
    auth: Option<Secret>,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

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
    /// Parse an `http_proxy` value like duo_unix (scheme optional, only `http`); errors never echo the value.
    pub fn parse(url: &str) -> Result<ProxyUrl, String> {
        if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{FORM}; it is empty or contains spaces or control characters"
            ));
        }
        let rest = match url.find("://") {
            Some(i) if url[..i].eq_ignore_ascii_case("http") => &url[i + 3..],
            Some(_) => {
                return Err(format!(
                    "only http:// proxies are supported (the tunnel is an HTTP CONNECT); {FORM}"
                ))
            }
            None => url,
        };
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some(("", _)) => return Err(format!("the user:password before '@' is empty; {FORM}")),
            Some((a, h)) => (Some(Secret::new(a.to_string())), h),
            None => (None, rest),
        };
        let hostport = match hostport.split_once('/') {
            None | Some((_, "")) => hostport.trim_end_matches('/'),
            Some(_) => return Err(format!("a path after the port is not allowed; {FORM}")),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6
                    .split_once(']')
                    .filter(|(h, _)| h.parse::<Ipv6Addr>().is_ok())
                    .ok_or_else(|| format!("a bracketed host must be an IPv6 address; {FORM}"))?;
                match after {
                    "" => (h, None),
                    p => (
                        h,
                        Some(p.strip_prefix(':').ok_or_else(|| FORM.to_string())?),
                    ),
                }
            }
            None => match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            },
        };
        let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':');
        if host.is_empty() || !host.chars().all(name_ok) {
            return Err(format!(
                "the proxy host must be a name or address (letters, digits, '-', '.', '_'); {FORM}"
            ));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("the port must be a number from 1 to 65535; {FORM}"))?,
        };
        Ok(ProxyUrl {
            host: host.to_string(),
            port,
            auth,
        })
    }

    /// The URL for logs and errors: `http://user:***@host:port`.
    pub fn redacted(&self) -> String {
        let host = crate::config::uri_host(&self.host);
        let user = match self.auth.as_ref().map(|a| a.expose().split_once(':')) {
            None => String::new(),
            Some(Some((user, _))) => format!("{user}:***@"),
            Some(None) => "***@".to_string(),
        };
        format!("http://{user}{host}:{}", self.port)
    }

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

#[cfg(test)]
mod tests {
    use super::ProxyUrl;

    fn parsed(url: &str) -> (String, u16, Option<String>) {
        let p = ProxyUrl::parse(url).unwrap();
        (p.host, p.port, p.auth.map(|a| a.expose().to_string()))
    }

    #[test]
    fn forms_duo_unix_accepts() {
        assert_eq!(
            parsed("http://proxy.example.com:3128"),
            ("proxy.example.com".into(), 3128, None)
        );
        assert_eq!(parsed("HTTP://proxy:3128/"), ("proxy".into(), 3128, None));
        assert_eq!(
            parsed("proxy.example.com"),
            ("proxy.example.com".into(), 80, None)
        );
        assert_eq!(
            parsed("http://duo:p@ss:w/rd@10.0.0.1:8080"),
            ("10.0.0.1".into(), 8080, Some("duo:p@ss:w/rd".into()))
        );
        assert_eq!(
            parsed("http://[2001:db8::1]:3128"),
            ("2001:db8::1".into(), 3128, None)
        );
        assert_eq!(parsed("http://[::1]"), ("::1".into(), 80, None));
    }

    #[test]
    fn redacted_hides_the_password() {
        let p = ProxyUrl::parse("http://duo:hunter2@proxy:3128/").unwrap();
        assert_eq!(p.redacted(), "http://duo:***@proxy:3128");
        assert_eq!(format!("{p:?}"), "http://duo:***@proxy:3128");
        let p = ProxyUrl::parse("http://hunter2@[::1]").unwrap();
        assert_eq!(p.redacted(), "http://***@[::1]:80");
    }

    #[test]
    fn bad_forms_are_refused_without_echoing_them() {
        for bad in [
            "",
            "https://proxy:3128",
            "socks5://proxy:1080",
            "http://proxy:0",
            "http://proxy:65536",
            "http://duo:hunter2",
            "http://@proxy",
            "http://proxy:3128/path",
            "http://[proxy]:3128",
            "http://[::1]3128",
            "http://pro xy",
            "http://prox!y",
            "http://duo:hunter2@",
        ] {
            let err = ProxyUrl::parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(
                !err.contains("hunter2") && err.contains("http://[user:password@]host"),
                "{err}"
            );
        }
    }
}
