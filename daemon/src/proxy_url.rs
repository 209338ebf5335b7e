//! `http_proxy`: the proxy URL as duo_unix reads it, parsed once when the config is read.
//!
//! It lives beside the config (not in `duo/`) so that the config never depends on the HTTP client:
//! `duo/` uses the parsed [`ProxyUrl`] to open its CONNECT tunnel (`duo/proxy.rs`).

use std::fmt;
use std::net::Ipv6Addr;

use crate::secret::Secret;

/// Proxy port when the URL names none (duo_unix's `https_init` default).
const DEFAULT_PORT: u16 = 80;
/// The accepted form, for error messages.
const FORM: &str = "must look like http://[user:password@]host[:port][/] (the port defaults to 80)";

/// A parsed `http_proxy`; `Debug` and [`ProxyUrl::redacted`] never show the password.
#[derive(Clone)]
pub struct ProxyUrl {
    /// Host name or address to dial (an IPv6 address without brackets).
    pub(crate) host: String,
    /// TCP port of the proxy.
    pub(crate) port: u16,
    /// `user:password` exactly as written (not percent-decoded, like duo_unix), sent as Basic credentials.
    pub(crate) auth: Option<Secret>,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
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

    /// The same proxy with another password (the user name kept), so a test can prove the password never shows.
    pub fn with_password(&self, password: &str) -> ProxyUrl {
        let auth = self
            .auth
            .as_ref()
            .map(|a| match a.expose().split_once(':') {
                Some((user, _)) => Secret::new(format!("{user}:{password}")),
                None => Secret::new(password.to_string()),
            });
        ProxyUrl {
            auth,
            ..self.clone()
        }
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
        let p = ProxyUrl::parse("http://duo:hunter2@proxy:3128/").unwrap();
        let other = p.with_password("other");
        assert_eq!(other.auth.unwrap().expose(), "duo:other");
        assert_eq!(format!("{p:?}"), format!("{:?}", p.with_password("other")));
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
