//! The mock over real TLS sockets, with hand-signed HTTP/1.1 requests written byte by byte.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::signature::canonical_params;
use super::{dates, CertKind, MockDuo, MockOptions, TEST_IKEY, TEST_SKEY};

/// How a test request is signed.
#[derive(Clone, Copy)]
enum Sign {
    Sha512,
    Sha1,
    WrongKey,
    Unsigned,
    /// SHA-512 but dated this many seconds from now.
    Skewed(i64),
}

struct Client {
    tls: TlsStream<TcpStream>,
    port: u16,
    buf: Vec<u8>,
}

async fn connect(mock: &MockDuo) -> io::Result<Client> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(mock.ca_file()).map_err(io::Error::other)?;
    roots.add(ca).map_err(io::Error::other)?;
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(mock.addr()).await?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let tls = TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await?;
    Ok(Client {
        tls,
        port: mock.addr().port(),
        buf: Vec::new(),
    })
}

fn sign(canon: &str, how: Sign) -> Option<String> {
    let (key, hexsig) = match how {
        Sign::Unsigned => return None,
        Sign::Sha1 => {
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(TEST_SKEY.as_bytes()).ok()?;
            m.update(canon.as_bytes());
            (TEST_SKEY, hex::encode(m.finalize().into_bytes()))
        }
        Sign::WrongKey => ("wrong", String::new()),
        Sign::Sha512 | Sign::Skewed(_) => (TEST_SKEY, String::new()),
    };
    let hexsig = if hexsig.is_empty() {
        let mut m = Hmac::<sha2::Sha512>::new_from_slice(key.as_bytes()).ok()?;
        m.update(canon.as_bytes());
        hex::encode(m.finalize().into_bytes())
    } else {
        hexsig
    };
    Some(base64::engine::general_purpose::STANDARD.encode(format!("{TEST_IKEY}:{hexsig}")))
}

impl Client {
    /// Send one signed request and read the answer: (status, headers text, body).
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        how: Sign,
    ) -> io::Result<(u16, String, String)> {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let line5 = canonical_params(&owned);
        let skew = if let Sign::Skewed(s) = how { s } else { 0 };
        let date = dates::rfc2822(dates::unix_now() + skew);
        let canon = format!("{date}\n{method}\nlocalhost\n{path}\n{line5}");
        let mut req = if method == "GET" && !line5.is_empty() {
            format!("{method} {path}?{line5} HTTP/1.1\r\n")
        } else {
            format!("{method} {path} HTTP/1.1\r\n")
        };
        req.push_str(&format!(
            "Host: localhost:{}\r\nX-Duo-Date: {date}\r\n",
            self.port
        ));
        if let Some(basic) = sign(&canon, how) {
            req.push_str(&format!("Authorization: Basic {basic}\r\n"));
        }
        if method == "POST" {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            req.push_str(&format!("Content-Length: {}\r\n\r\n{line5}", line5.len()));
        } else {
            req.push_str("\r\n");
        }
        self.send_raw(req.as_bytes()).await
    }

    async fn send_raw(&mut self, req: &[u8]) -> io::Result<(u16, String, String)> {
        self.tls.write_all(req).await?;
        self.tls.flush().await?;
        self.read_response().await
    }

    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), self.tls.read(&mut chunk)).await??;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    async fn read_response(&mut self) -> io::Result<(u16, String, String)> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        while self.buf.len() < end + 4 + len {
            self.fill().await?;
        }
        let body = String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).to_string();
        self.buf.drain(..end + 4 + len);
        Ok((status, head, body))
    }

    /// Whether the server closes this connection within a few seconds.
    async fn closed_soon(&mut self) -> bool {
        let mut b = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.tls.read(&mut b)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn mock(push_ms: u64) -> MockDuo {
    MockDuo::start(MockOptions {
        push_delay: Duration::from_millis(push_ms),
        ..MockOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn signatures_keep_alive_and_connection_counts() {
    let m = mock(100);
    assert_eq!(m.host(), format!("localhost:{}", m.addr().port()));
    let mut c = connect(&m).await.unwrap();
    let (st, head, body) = c
        .call("GET", "/auth/v2/check", &[], Sign::Sha512)
        .await
        .unwrap();
    assert_eq!(st, 200, "{body}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    assert!(json(&body)["response"]["time"].as_i64().unwrap_or(0) > 1_700_000_000);
    let pre = [
        ("username", "allow-user"),
        ("text_prompt", "1"),
        ("ipaddr", "192.0.2.10"),
    ];
    let (st, _, body) = c
        .call("POST", "/auth/v2/preauth", &pre, Sign::Sha512)
        .await
        .unwrap();
    assert_eq!(
        (st, json(&body)["response"]["result"].as_str()),
        (200, Some("allow")),
        "{body}"
    );
    let s = m.stats();
    assert_eq!((s.tcp_connections, s.tls_handshakes, s.requests), (1, 1, 2));
    assert_eq!(s.last_params["/auth/v2/preauth"]["ipaddr"], "192.0.2.10");

    // A second connection, a wrong key: 401 40101, counted as a bad signature.
    let mut c2 = connect(&m).await.unwrap();
    let (st, _, body) = c2
        .call("POST", "/auth/v2/preauth", &pre, Sign::WrongKey)
        .await
        .unwrap();
    assert_eq!(
        (st, json(&body)["code"].as_u64()),
        (401, Some(40101)),
        "{body}"
    );
    assert_eq!(
        json(&body)["message"],
        "Invalid signature in request credentials"
    );
    // Unsigned: refused too, except /ping.
    let (st, _, _) = c2
        .call("GET", "/auth/v2/check", &[], Sign::Unsigned)
        .await
        .unwrap();
    assert_eq!(st, 401);
    let (st, _, body) = c2
        .call("GET", "/auth/v2/ping", &[], Sign::Unsigned)
        .await
        .unwrap();
    assert_eq!(st, 200, "{body}");
    // SHA-1 is accepted and counted; a date 20 minutes off is 40105 and not a bad signature.
    let (st, _, _) = c2
        .call("POST", "/auth/v2/preauth", &pre, Sign::Sha1)
        .await
        .unwrap();
    assert_eq!(st, 200);
    let (st, _, body) = c2
        .call("GET", "/auth/v2/check", &[], Sign::Skewed(-1200))
        .await
        .unwrap();
    assert_eq!(
        (st, json(&body)["code"].as_u64()),
        (401, Some(40105)),
        "{body}"
    );
    let s = m.stats();
    assert_eq!(
        (
            s.tcp_connections,
            s.tls_handshakes,
            s.bad_signatures,
            s.sha1_requests
        ),
        (2, 2, 2, 1)
    );
    assert_eq!(s.by_path["/auth/v2/preauth"], 3);
    m.reset_stats();
    assert_eq!(m.stats(), super::MockStats::default());
}

#[tokio::test]
async fn pushes_passcodes_and_async_status() {
    let m = mock(200);
    let mut c = connect(&m).await.unwrap();
    let pre = [("username", "phone-user"), ("text_prompt", "1")];
    let (_, _, body) = c
        .call("POST", "/auth/v2/preauth", &pre, Sign::Sha512)
        .await
        .unwrap();
    assert_eq!(
        json(&body)["response"]["prompt"]["factors"]["default"],
        "phone1"
    );

    let push = [
        ("username", "push-user"),
        ("factor", "prompt"),
        ("prompt", "push1"),
        ("async", "1"),
    ];
    let mut txids = Vec::new();
    for _ in 0..2 {
        let (st, _, body) = c
            .call("POST", "/auth/v2/auth", &push, Sign::Sha512)
            .await
            .unwrap();
        assert_eq!(st, 200, "{body}");
        txids.push(
            json(&body)["response"]["txid"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    let (_, _, body) = c
        .call(
            "GET",
            "/auth/v2/auth_status",
            &[("txid", &txids[0])],
            Sign::Sha512,
        )
        .await
        .unwrap();
    assert_eq!(json(&body)["response"]["result"], "waiting", "{body}");
    let mut result = String::new();
    for _ in 0..10 {
        let (_, _, body) = c
            .call(
                "GET",
                "/auth/v2/auth_status",
                &[("txid", &txids[0])],
                Sign::Sha512,
            )
            .await
            .unwrap();
        result = json(&body)["response"]["result"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if result != "waiting" {
            assert_eq!(
                json(&body)["response"]["status_msg"],
                "Success. Logging you in..."
            );
            break;
        }
    }
    assert_eq!(result, "allow");
    let (st, _, _) = c
        .call(
            "GET",
            "/auth/v2/auth_status",
            &[("txid", "nope")],
            Sign::Sha512,
        )
        .await
        .unwrap();
    assert_eq!(st, 400);

    let sync = |user: &'static str, kv: [(&'static str, &'static str); 2]| {
        vec![("username", user), kv[0], kv[1]]
    };
    for (params, result, msg) in [
        (
            sync("push-deny-user", [("factor", "push"), ("device", "auto")]),
            "deny",
            "Login request denied.",
        ),
        (
            sync("sms-user", [("factor", "prompt"), ("prompt", "sms1")]),
            "deny",
            "New SMS passcodes sent.",
        ),
        (
            sync("sms-user", [("factor", "prompt"), ("prompt", "123456")]),
            "allow",
            "Success. Logging you in...",
        ),
        (
            sync(
                "push-user",
                [("factor", "passcode"), ("passcode", "000000")],
            ),
            "deny",
            "Incorrect passcode. Please try again.",
        ),
    ] {
        let (_, _, body) = c
            .call("POST", "/auth/v2/auth", &params, Sign::Sha512)
            .await
            .unwrap();
        assert_eq!(
            json(&body)["response"]["result"],
            result,
            "{params:?}: {body}"
        );
        assert_eq!(json(&body)["response"]["status_msg"], msg, "{params:?}");
    }
    let s = m.stats();
    assert_eq!(s.pushes_by_user["push-user"], 2);
    assert_eq!(s.max_concurrent_pushes_by_user["push-user"], 2);
    assert_eq!(s.pushes_by_user["push-deny-user"], 1);
    assert_eq!(s.auth_by_user["sms-user"], 2);
    assert_eq!(s.last_params["/auth/v2/auth"]["passcode"], "000000");
}

#[tokio::test]
async fn faults_and_malformed_requests() {
    let m = mock(50);
    let mut c = connect(&m).await.unwrap();
    for _ in 0..2 {
        let (st, head, _) = c
            .call(
                "POST",
                "/auth/v2/preauth",
                &[("username", "ratelimit-user")],
                Sign::Sha512,
            )
            .await
            .unwrap();
        assert_eq!(st, 429);
        assert!(
            head.to_ascii_lowercase().contains("retry-after: 1\r\n"),
            "{head}"
        );
    }
    let (st, _, _) = c
        .call(
            "POST",
            "/auth/v2/preauth",
            &[("username", "ratelimit-user")],
            Sign::Sha512,
        )
        .await
        .unwrap();
    assert_eq!(st, 200);
    let (st, head, _) = c
        .call(
            "POST",
            "/auth/v2/preauth",
            &[("username", "ratelimit-date-user")],
            Sign::Sha512,
        )
        .await
        .unwrap();
    assert!(st == 429 && head.contains(" GMT"), "{head}");
    for (user, status) in [
        ("fail5xx-user", 500),
        ("unauthorized-user", 401),
        ("statfail-user", 200),
        ("badjson-user", 200),
    ] {
        let (st, _, body) = c
            .call(
                "POST",
                "/auth/v2/preauth",
                &[("username", user)],
                Sign::Sha512,
            )
            .await
            .unwrap();
        assert_eq!(st, status, "{user}");
        assert_ne!(json(&body)["stat"], "OK", "{user}: {body}");
    }
    let auth = |u| [("username", u), ("factor", "auto"), ("device", "auto")];
    let (st, _, _) = c
        .call("POST", "/auth/v2/auth", &auth("auth5xx-user"), Sign::Sha512)
        .await
        .unwrap();
    assert_eq!(st, 503);
    m.set_fail_all(Some(503));
    let (st, _, body) = c
        .call("GET", "/auth/v2/check", &[], Sign::Sha512)
        .await
        .unwrap();
    assert_eq!((st, json(&body)["stat"].as_str()), (503, Some("FAIL")));
    m.set_fail_all(None);

    // Malformed: not UTF-8, wrong content type, unknown path, wrong method, missing username, bad HTTP.
    let port = c.port;
    let body = "username=%ff";
    let bad_utf8 = format!("POST /auth/v2/preauth HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    assert_eq!(c.send_raw(bad_utf8.as_bytes()).await.unwrap().0, 400);
    let json_body = format!("POST /auth/v2/preauth HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}");
    assert_eq!(c.send_raw(json_body.as_bytes()).await.unwrap().0, 400);
    assert_eq!(
        c.call("GET", "/auth/v2/nothing", &[], Sign::Sha512)
            .await
            .unwrap()
            .0,
        404
    );
    assert_eq!(
        c.call("GET", "/auth/v2/preauth", &[], Sign::Sha512)
            .await
            .unwrap()
            .0,
        405
    );
    assert_eq!(
        c.call("POST", "/auth/v2/preauth", &[], Sign::Sha512)
            .await
            .unwrap()
            .0,
        400
    );
    let mut c3 = connect(&m).await.unwrap();
    assert_eq!(
        c3.send_raw(b"\x01\x02 nonsense\r\n\r\n")
            .await
            .map(|r| r.0)
            .unwrap_or(400),
        400
    );

    // drop-auth-user: the request is read and counted, then the connection closes unanswered.
    let r = c
        .call(
            "POST",
            "/auth/v2/auth",
            &auth("drop-auth-user"),
            Sign::Sha512,
        )
        .await;
    assert!(r.is_err(), "got an answer: {r:?}");
    assert_eq!(m.stats().auth_by_user["drop-auth-user"], 1);
}

#[tokio::test]
async fn down_closes_idle_connections_and_refuses_new_ones() {
    let m = mock(50);
    let mut c = connect(&m).await.unwrap();
    assert_eq!(
        c.call("GET", "/auth/v2/ping", &[], Sign::Unsigned)
            .await
            .unwrap()
            .0,
        200
    );
    m.set_down(true);
    assert!(
        c.closed_soon().await,
        "idle kept-alive connection stayed open"
    );
    assert!(
        connect(&m).await.is_err(),
        "a new connection got through while down"
    );
    m.set_down(false);
    let mut c = connect(&m).await.unwrap();
    assert_eq!(
        c.call("GET", "/auth/v2/ping", &[], Sign::Unsigned)
            .await
            .unwrap()
            .0,
        200
    );
    assert_eq!(m.stats().tls_handshakes, 2);
    m.set_latency(Duration::from_millis(300));
    let t = std::time::Instant::now();
    assert_eq!(
        c.call("GET", "/auth/v2/ping", &[], Sign::Unsigned)
            .await
            .unwrap()
            .0,
        200
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    m.shutdown();
}

#[tokio::test]
async fn broken_certificates_fail_verification() {
    for kind in [CertKind::WrongName, CertKind::Expired, CertKind::SelfSigned] {
        let m = MockDuo::start(MockOptions {
            cert: kind,
            ..MockOptions::default()
        })
        .unwrap();
        let r = connect(&m).await;
        assert!(r.is_err(), "{kind:?}: handshake succeeded");
    }
}
