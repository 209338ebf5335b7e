//! What can go wrong talking to Duo, and how an HTTP answer or a transport error is sorted into it.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use serde_json::Value;

/// Longest Duo message kept in an error (they are one-liners; anything longer is not Duo).
const MAX_MESSAGE: usize = 300;

/// The client could not be built from the config.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `cafile` could not be read or holds a broken certificate.
    #[error("cafile {}: {reason}", path.display())]
    Cafile {
        /// The configured cafile.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `cafile` holds no PEM certificate at all.
    #[error("cafile {} contains no PEM certificates (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificates {
        /// The configured cafile.
        path: PathBuf,
    },
    /// rustls refused the TLS settings.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The client for `host` could not be built, in login_duo's words, then why.
    #[error("Couldn't open Duo API handle for {host}: {source}")]
    Open {
        /// `host[:port]` from the config.
        host: String,
        /// What stopped it.
        source: Box<ClientError>,
    },
}

/// The kind of failure, for the failmode rule and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// No TCP connection (refused, DNS, reset).
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// No complete answer in time.
    Timeout,
    /// HTTP 5xx.
    Server5xx,
    /// HTTP 401: keys or clock wrong.
    Unauthorized,
    /// HTTP 429.
    RateLimited,
    /// Another HTTP 4xx (a definite refusal of this request).
    ClientHttp,
    /// A 2xx answer we cannot read.
    InvalidResponse,
    /// A 2xx answer with `stat: FAIL`.
    StatFail,
    /// The request could not even be built (a bug on our side, never Duo's).
    Local,
}

/// One failed call to the Duo API; messages name the host and never contain the skey.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DuoError {
    /// No connection could be made or it broke (refused, DNS, reset).
    #[error("Couldn't connect to {host}: {reason}")]
    Connect {
        /// `host[:port]` from the config.
        host: String,
        /// The OS or resolver's words.
        reason: String,
    },
    /// The TLS handshake failed (untrusted, expired or wrong-name certificate, protocol mismatch).
    #[error("Couldn't connect to {host}: {reason}")]
    Tls {
        /// `host[:port]` from the config.
        host: String,
        /// What is wrong, in words, with the fix (see [`tls_in_words`]).
        reason: String,
    },
    /// No complete answer within the time allowed.
    #[error("the Duo API at {host} did not answer within {:.1}s", after.as_secs_f64())]
    Timeout {
        /// `host[:port]` from the config.
        host: String,
        /// The time allowed.
        after: Duration,
    },
    /// HTTP 5xx.
    #[error("HTTP {status} from the Duo API at {host} (a problem on Duo's side)")]
    Server {
        /// `host[:port]` from the config.
        host: String,
        /// The status code.
        status: u16,
    },
    /// HTTP 401.
    #[error("Invalid ikey or skey: the Duo API at {host} rejected the integration key or signature (HTTP 401); check ikey/skey and the clock")]
    Unauthorized {
        /// `host[:port]` from the config.
        host: String,
    },
    /// HTTP 429, with how long Duo asked us to wait.
    #[error("the Duo API is rate-limiting this integration (HTTP 429){}", retry_after.map(|d| format!("; retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// From `Retry-After` / `X-Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Another non-2xx status.
    #[error("HTTP {status} from the Duo API at {host}: {message}")]
    Http {
        /// `host[:port]` from the config.
        host: String,
        /// The status code.
        status: u16,
        /// Duo's message and detail, if the body had them.
        message: String,
    },
    /// A 2xx body that is not JSON or has no `stat`.
    #[error("invalid JSON response from the Duo API at {host}: {reason}")]
    InvalidJson {
        /// `host[:port]` from the config.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A 2xx answer with `stat: FAIL`.
    #[error("the Duo API at {host} reported an error{}: {message}", code.map(|c| format!(" {c}")).unwrap_or_default())]
    StatFail {
        /// `host[:port]` from the config.
        host: String,
        /// Duo's numeric code.
        code: Option<i64>,
        /// Duo's message.
        message: String,
    },
    /// The request itself could not be formed (a bug, not a Duo problem).
    #[error("cannot build a request to the Duo API at {host}: {reason}")]
    Request {
        /// `host[:port]` from the config.
        host: String,
        /// Why.
        reason: String,
    },
}

impl DuoError {
    /// The failure's kind.
    pub fn class(&self) -> ErrorClass {
        match self {
            DuoError::Connect { .. } => ErrorClass::Connect,
            DuoError::Tls { .. } => ErrorClass::Tls,
            DuoError::Timeout { .. } => ErrorClass::Timeout,
            DuoError::Server { .. } => ErrorClass::Server5xx,
            DuoError::Unauthorized { .. } => ErrorClass::Unauthorized,
            DuoError::RateLimited { .. } => ErrorClass::RateLimited,
            DuoError::Http { .. } => ErrorClass::ClientHttp,
            DuoError::Request { .. } => ErrorClass::Local,
            DuoError::InvalidJson { .. } => ErrorClass::InvalidResponse,
            DuoError::StatFail { .. } => ErrorClass::StatFail,
        }
    }

    /// False when Duo answered coherently (a 4xx about this request, 429, `stat: FAIL`): the service is up.
    pub fn means_unreachable(&self) -> bool {
        !matches!(
            self.class(),
            ErrorClass::ClientHttp
                | ErrorClass::RateLimited
                | ErrorClass::StatFail
                | ErrorClass::Local
        )
    }
}

/// The error and its causes, descending into `io::Error`s (whose `source()` skips the error they wrap).
fn causes<'a>(top: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut cur = Some(top);
    while let Some(e) = cur {
        out.push(e);
        if out.len() > 16 {
            break;
        }
        cur = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    out
}

/// Sort a transport error (connect, TLS, broken connection) into a `DuoError`.
pub(crate) fn classify_transport(
    host: &str,
    err: &(dyn StdError + 'static),
    connect_timeout: Duration,
) -> DuoError {
    let chain = causes(err);
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return DuoError::Tls {
            host: host.to_string(),
            reason: format!("{}: {}", tls_phrase(tls), tls_in_words(tls)),
        };
    }
    let io_kind = |k| {
        chain.iter().any(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == k)
        })
    };
    if io_kind(std::io::ErrorKind::TimedOut) {
        return DuoError::Timeout {
            host: host.to_string(),
            after: connect_timeout,
        };
    }
    // hyper-util's own wrapper says only "client error (Connect)"; the causes say what happened.
    let mut words: Vec<String> = Vec::new();
    for e in chain.iter().skip(usize::from(chain.len() > 1)) {
        let s = e.to_string();
        if words.last() != Some(&s) {
            words.push(s);
        }
    }
    DuoError::Connect {
        host: host.to_string(),
        reason: words.join(": "),
    }
}

/// OpenSSL's phrase for a TLS failure, as login_duo logs it (`certificate verify failed`), put
/// before our own words so log searches written for login_duo keep matching.
pub fn tls_phrase(err: &rustls::Error) -> &'static str {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "Certificate name validation failed",
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            "certificate verify failed"
        }
        _ => "TLS handshake failed",
    }
}

/// What went wrong in the TLS handshake, in an administrator's words with the fix, never the
/// library's internal names (`Other(OtherError(CaUsedAsEndEntity))`) or its documentation links.
pub fn tls_in_words(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    const NOT_TRUSTED: &str = "the server's certificate was not issued by a CA this daemon trusts \
        (those in cafile, or the built-in public roots when cafile is not set); if a TLS-inspecting \
        proxy sits between this host and Duo, put that proxy's CA certificate in cafile";
    const CLOCK: &str = "or this host's clock is wrong";
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => NOT_TRUSTED.into(),
            C::BadSignature => {
                "the server's certificate has a signature that does not verify".into()
            }
            C::Expired | C::ExpiredContext { .. } => {
                format!("the server's certificate has expired ({CLOCK})")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("the server's certificate is not valid yet ({CLOCK})")
            }
            C::Revoked => "the server's certificate has been revoked".into(),
            C::NotValidForNameContext {
                expected,
                presented,
            } if presented.is_empty() => format!(
                "the server's certificate has no subjectAltName, only a Common Name (CN), and TLS \
                 clients no longer take a host name from the CN; reissue the certificate with a \
                 subjectAltName DNS entry for {}; if a TLS-inspecting proxy issues it, its \
                 private CA must add one (or exempt the Duo API host from inspection)",
                expected.to_str()
            ),
            C::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "the server's certificate is for {}, not for {} (check host in the config)",
                presented.join(", "),
                expected.to_str()
            ),
            C::NotValidForName => {
                "the server's certificate is not for this host name (check host in the config)"
                    .into()
            }
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "the server's certificate is not one for a TLS server (its extended key usage)"
                    .into()
            }
            C::BadEncoding => "the server's certificate cannot be decoded".into(),
            C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                "the server's certificate is signed with an algorithm this daemon does not accept"
                    .into()
            }
            C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => "the server presented a CA certificate \
                    as its own; a server needs a certificate issued by a CA for its host name \
                    (with a subjectAltName), not the CA's certificate itself"
                    .into(),
                Some(webpki::Error::EndEntityUsedAsCa) => {
                    "a certificate in the server's chain that is not a CA signed another".into()
                }
                Some(webpki::Error::UnknownIssuer) => NOT_TRUSTED.into(),
                _ => "the server's certificate was refused".into(),
            },
            _ => "the server's certificate was refused".into(),
        },
        rustls::Error::AlertReceived(_) => {
            "the server refused the TLS handshake (it may not accept TLS 1.2 or 1.3, or wants a \
             client certificate)"
                .into()
        }
        rustls::Error::PeerIncompatible(_) => {
            "the server offers no TLS version or cipher this daemon accepts (TLS 1.2 or 1.3)".into()
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::PeerMisbehaved(_) => {
            "the server did not speak TLS correctly (is this port a TLS service?)".into()
        }
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        _ => "the TLS handshake failed".into(),
    }
}

/// True for a failure that a stale keep-alive connection produces before any response byte.
pub(crate) fn is_stale_connection(err: &hyper_util::client::legacy::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    if err.is_connect() {
        return false;
    }
    causes(err).iter().any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_canceled() || h.is_closed())
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
                )
            })
    })
}

/// Longest wait a `Retry-After` may ask for; a larger value is a server bug, or hostile.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` or `X-Retry-After`, as seconds or an HTTP-date (relative to `now`), capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    raw_retry_after(headers, now).map(|d| d.min(MAX_RETRY_AFTER))
}

/// The header's value as written, before the cap.
fn raw_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)
        .or_else(|| headers.get("x-retry-after"))?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    // An HTTP date names a whole second: count from the start of the current second, as
    // login_duo does (`date - time(NULL)`), so the retry is never before the second Duo named.
    let since_epoch = now.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    let this_second = SystemTime::UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs());
    Some(at.duration_since(this_second).unwrap_or(Duration::ZERO))
}

/// Duo's `message` (and `message_detail`) from an error body, shortened, on one line: it goes
/// into this error's text, which the daemon logs as it is (a line break from the network must
/// not start a log line of its own).
fn duo_message(body: &Value) -> Option<String> {
    let msg = body.get("message")?.as_str()?;
    let mut s =
        duo_authd_proto::one_line(&match body.get("message_detail").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{msg} ({d})"),
            _ => msg.to_string(),
        });
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    Some(s)
}

/// Sort a complete HTTP answer: the `response` member on success, else the right error.
pub fn classify_response(
    host: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Value, DuoError> {
    let host = host.to_string();
    let json = serde_json::from_slice::<Value>(body);
    if !status.is_success() {
        return Err(match status.as_u16() {
            401 => DuoError::Unauthorized { host },
            429 => DuoError::RateLimited {
                retry_after: parse_retry_after(headers, now),
            },
            500..=599 => DuoError::Server {
                host,
                status: status.as_u16(),
            },
            code => DuoError::Http {
                host,
                status: code,
                message: json.ok().as_ref().and_then(duo_message).unwrap_or_else(|| {
                    status
                        .canonical_reason()
                        .unwrap_or("no message")
                        .to_string()
                }),
            },
        });
    }
    let mut json = json.map_err(|e| DuoError::InvalidJson {
        host: host.clone(),
        reason: format!("HTTP {} body is not JSON ({e})", status.as_u16()),
    })?;
    match json.get("stat").and_then(Value::as_str) {
        Some("OK") => match json.get_mut("response").map(Value::take) {
            Some(response) if !response.is_null() => Ok(response),
            _ => Err(DuoError::InvalidJson {
                host,
                reason: "JSON missing valid 'response'".into(),
            }),
        },
        Some("FAIL") => {
            let code = json.get("code").and_then(Value::as_i64);
            let message = duo_message(&json);
            Err(DuoError::StatFail {
                code,
                // login_duo's words for a FAIL without a code, so its log searches still match.
                message: match (code, message) {
                    (None, Some(m)) => format!("JSON missing valid 'code': {m}"),
                    (None, None) => "JSON missing valid 'code'".into(),
                    (Some(_), m) => m.unwrap_or_else(|| "no message".into()),
                },
                host,
            })
        }
        _ => Err(DuoError::InvalidJson {
            host,
            reason: "the JSON has no \"stat\" of OK or FAIL".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const H: &str = "api-x.duosecurity.com";

    fn classify(status: u16, headers: &[(&str, &str)], body: &str) -> Result<Value, DuoError> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        classify_response(
            H,
            StatusCode::from_u16(status).unwrap(),
            &map,
            body.as_bytes(),
            SystemTime::now(),
        )
    }

    #[test]
    fn success_returns_response_member() {
        let v = classify(200, &[], r#"{"stat":"OK","response":{"time":1357020061}}"#).unwrap();
        assert_eq!(v["time"], 1357020061);
        let e = classify(200, &[], r#"{"stat":"OK"}"#).unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidResponse);
        assert!(
            e.to_string().contains("JSON missing valid 'response'"),
            "{e}"
        );
        let e = classify(200, &[], r#"{"stat":"FAIL"}"#).unwrap_err();
        assert_eq!(e.class(), ErrorClass::StatFail);
        assert!(e.to_string().contains("JSON missing valid 'code'"), "{e}");
    }

    #[test]
    fn error_classes() {
        let cls = |s, b: &str| classify(s, &[], b).unwrap_err().class();
        assert_eq!(
            cls(
                200,
                r#"{"stat":"FAIL","code":40002,"message":"Invalid request parameters","message_detail":"username"}"#
            ),
            ErrorClass::StatFail
        );
        assert_eq!(cls(200, "<html>"), ErrorClass::InvalidResponse);
        assert_eq!(cls(200, r#"{"response":{}}"#), ErrorClass::InvalidResponse);
        assert_eq!(
            cls(401, r#"{"stat":"FAIL","code":40101}"#),
            ErrorClass::Unauthorized
        );
        assert_eq!(cls(429, ""), ErrorClass::RateLimited);
        assert_eq!(cls(500, ""), ErrorClass::Server5xx);
        assert_eq!(cls(503, "<html>"), ErrorClass::Server5xx);
        assert_eq!(
            cls(
                400,
                r#"{"stat":"FAIL","code":40002,"message":"Invalid request parameters","message_detail":"username"}"#
            ),
            ErrorClass::ClientHttp
        );
        assert_eq!(cls(404, ""), ErrorClass::ClientHttp);
    }

    #[test]
    fn messages_name_host_and_duo_words() {
        let e = classify(400, &[], r#"{"stat":"FAIL","code":40002,"message":"Invalid request parameters","message_detail":"username"}"#).unwrap_err();
        assert_eq!(e.to_string(), "HTTP 400 from the Duo API at api-x.duosecurity.com: Invalid request parameters (username)");
        // login_duo's words lead, so its log searches (`: HTTP 500`, `Invalid ikey or skey`,
        // `invalid JSON response`) keep matching.
        assert_eq!(
            classify(503, &[], "").unwrap_err().to_string(),
            "HTTP 503 from the Duo API at api-x.duosecurity.com (a problem on Duo's side)"
        );
        assert!(classify(401, &[], "")
            .unwrap_err()
            .to_string()
            .starts_with("Invalid ikey or skey: "));
        assert!(classify(200, &[], "")
            .unwrap_err()
            .to_string()
            .starts_with("invalid JSON response from the Duo API at api-x.duosecurity.com: "));
        let e = classify(
            200,
            &[],
            r#"{"stat":"FAIL","code":40301,"message":"Access forbidden"}"#,
        )
        .unwrap_err();
        assert!(matches!(
            e,
            DuoError::StatFail {
                code: Some(40301),
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "the Duo API at api-x.duosecurity.com reported an error 40301: Access forbidden"
        );
        assert!(classify(401, &[], "")
            .unwrap_err()
            .to_string()
            .contains("check ikey/skey and the clock"));
        assert!(!e.means_unreachable());
        assert!(classify(502, &[], "").unwrap_err().means_unreachable());
    }

    #[test]
    fn a_duo_message_stays_on_one_line() {
        // Attacker: a hostile Duo (or anything answering for it) puts a forged audit line into
        // its error message; the error's text is logged by the daemon as it is.
        for status in [200, 400, 403] {
            let e = classify(
                status,
                &[],
                r#"{"stat":"FAIL","code":40002,"message":"Denied\r\nSuccessful Duo login for 'root'","message_detail":"x\ny"}"#,
            )
            .unwrap_err()
            .to_string();
            assert!(!e.chars().any(char::is_control), "{status}: {e:?}");
            assert!(e.contains("Successful Duo login for 'root'"), "{e}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let ra = |h: &[(&str, &str)]| match classify(429, h, "") {
            Err(DuoError::RateLimited { retry_after }) => retry_after,
            other => panic!("{other:?}"),
        };
        assert_eq!(ra(&[("Retry-After", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            ra(&[("X-Retry-After", " 12 ")]),
            Some(Duration::from_secs(12))
        );
        assert_eq!(ra(&[("Retry-After", "soon")]), None);
        assert_eq!(ra(&[]), None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_415_400);
        let mut h = HeaderMap::new();
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        h.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from_str(&later).unwrap(),
        );
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)));
        // A date 3 s ahead, read 0.9 s into the current second: still 3 whole seconds.
        let mid_second = now + Duration::from_millis(900);
        let date = httpdate::fmt_http_date(mid_second + Duration::from_secs(3));
        h.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from_str(&date).unwrap(),
        );
        assert_eq!(
            parse_retry_after(&h, mid_second),
            Some(Duration::from_secs(3))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        h.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from_str(&past).unwrap(),
        );
        assert_eq!(parse_retry_after(&h, now), Some(Duration::ZERO));
        // A hostile or broken server cannot make anyone wait for ages (or overflow a deadline).
        assert_eq!(
            ra(&[("Retry-After", "18446744073709551615")]),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn transport_errors() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(
            classify_transport(H, &io, Duration::from_secs(10)).class(),
            ErrorClass::Tls
        );
        assert!(classify_transport(H, &io, Duration::from_secs(10))
            .to_string()
            .contains("not issued by a CA this daemon trusts"),);
        let io = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(
            matches!(classify_transport(H, &io, Duration::from_secs(3)), DuoError::Timeout { after, .. } if after == Duration::from_secs(3))
        );
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = classify_transport(H, &io, Duration::from_secs(3));
        assert_eq!(e.class(), ErrorClass::Connect);
        assert!(e.to_string().contains(H));
    }

    #[test]
    fn tls_errors_lead_with_login_duos_phrase() {
        use rustls::pki_types::ServerName;
        let name = ServerName::try_from("localhost").unwrap();
        let wrong = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: name,
                presented: vec!["mockduo.wronghost".into()],
            }),
        );
        let e = classify_transport("localhost:4443", &wrong, Duration::from_secs(3)).to_string();
        assert!(
            e.starts_with("Couldn't connect to localhost:4443: Certificate name validation failed: the server's certificate is for mockduo.wronghost"),
            "{e}"
        );
        let untrusted = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let e =
            classify_transport("localhost:4443", &untrusted, Duration::from_secs(3)).to_string();
        assert!(
            e.starts_with("Couldn't connect to localhost:4443: certificate verify failed: the server's certificate was not issued"),
            "{e}"
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = classify_transport("localhost:4443", &refused, Duration::from_secs(3)).to_string();
        assert!(e.starts_with("Couldn't connect to localhost:4443: "), "{e}");
    }

    #[test]
    fn tls_errors_are_words_not_library_names() {
        use rustls::pki_types::ServerName;
        let name = ServerName::try_from("api-x.duosecurity.com").unwrap();
        let cn_only =
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: name.clone(),
                presented: vec![],
            });
        let w = tls_in_words(&cn_only);
        assert!(
            w.contains("no subjectAltName") && w.contains("reissue"),
            "{w}"
        );
        assert!(
            w.contains("api-x.duosecurity.com") && w.contains("TLS-inspecting"),
            "{w}"
        );
        let wrong =
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: name,
                presented: vec!["other.example".into()],
            });
        assert!(tls_in_words(&wrong).contains("is for other.example, not for api-x"));
        let ca = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
            rustls::OtherError(std::sync::Arc::new(webpki::Error::CaUsedAsEndEntity)),
        ));
        let w = tls_in_words(&ca);
        assert!(w.contains("presented a CA certificate"), "{w}");
        for e in [cn_only, wrong, ca] {
            let w = tls_in_words(&e);
            assert!(
                !w.contains("Other") && !w.contains("http") && !w.contains("Context"),
                "{w}"
            );
        }
    }
}
