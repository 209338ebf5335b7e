//! The client against a local TLS server (rcgen certificate, hand-written HTTP/1.1).

use super::*;
use std::io::Write as _;
use std::path::Path;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const IKEY: &str = "DIXYZV6YM8IFYVWBINCA";
const SKEY: &str = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";

/// One request as the server read it.
#[derive(Clone)]
struct Seen {
    head: String,
    body: String,
}

impl Seen {
    fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// What the server does with the `n`th request on a connection.
enum Reply {
    Send(String),
    Drop,
    Hang,
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;

fn respond(status: &str, extra: &str, body: &str) -> Reply {
    Reply::Send(format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    ))
}

fn ok(response: &str) -> Reply {
    respond(
        "200 OK",
        "",
        &format!(r#"{{"stat":"OK","response":{response}}}"#),
    )
}

struct Server {
    port: u16,
    cafile: tempfile::NamedTempFile,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn start(handler: Handler) -> Server {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cafile = tempfile::NamedTempFile::new().unwrap();
    cafile.write_all(ck.cert.pem().as_bytes()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, handler, seen) = (acceptor.clone(), handler.clone(), seen2.clone());
            tokio::spawn(async move {
                if let Ok(mut s) = acceptor.accept(tcp).await {
                    serve_conn(&mut s, &handler, &seen).await;
                }
            });
        }
    });
    Server { port, cafile, seen }
}

async fn serve_conn<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    handler: &Handler,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    for n in 0.. {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut req = Seen {
            head,
            body: String::new(),
        };
        let len: usize = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        req.body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
        buf.drain(..head_end + len);
        let reply = handler(&req, n);
        seen.lock().unwrap().push(req);
        match reply {
            Reply::Send(r) => {
                if s.write_all(r.as_bytes()).await.is_err() || s.flush().await.is_err() {
                    return;
                }
            }
            Reply::Drop => return,
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        }
    }
}

fn config(host: &str, cafile: Option<&Path>, extra: &str) -> Config {
    let mut t = format!("ikey = \"{IKEY}\"\nskey = \"{SKEY}\"\nhost = \"{host}\"\n");
    if let Some(p) = cafile {
        t.push_str(&format!("cafile = \"{}\"\n", p.display()));
    }
    t.push_str(extra);
    Config::from_toml_text(&t, Path::new("/test/authd.toml")).unwrap()
}

fn client_for(srv: &Server) -> DuoClient {
    DuoClient::new(&config(
        &format!("localhost:{}", srv.port),
        Some(srv.cafile.path()),
        "",
    ))
    .unwrap()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const ONCE: CallOpts = CallOpts {
    idempotent: false,
    timeout: Some(Duration::from_secs(10)),
};

#[tokio::test]
async fn signed_requests_share_one_pooled_connection() {
    let srv = start(Arc::new(|req: &Seen, _| {
        if req.line().contains("/auth/v2/ping") {
            ok(&format!(r#"{{"time":{}}}"#, unix_now() + 100))
        } else {
            ok(r#"{"result":"auth"}"#)
        }
    }))
    .await;
    let client = client_for(&srv);
    client.ping().await.unwrap();
    let offset = client.stats().clock_offset_secs;
    assert!((99..=101).contains(&offset), "offset {offset}");

    let params = pairs(&[("username", "Jörg O'Neil"), ("ipaddr", "192.0.2.10")]);
    let v = client
        .call(Method::POST, "/auth/v2/preauth", &params, ONCE)
        .await
        .unwrap();
    assert_eq!(v["result"], "auth");
    let status = pairs(&[("txid", "abc-1")]);
    client
        .call(Method::GET, "/auth/v2/auth_status", &status, ONCE)
        .await
        .unwrap();
    client.check().await.unwrap();

    let s = client.stats();
    assert_eq!((s.requests, s.failures, s.connections_opened), (4, 0, 1));
    assert!(s.last_success.is_some() && s.last_failure.is_none());

    let seen = srv.seen.lock().unwrap().clone();
    let post = &seen[1];
    assert_eq!(post.line(), "POST /auth/v2/preauth HTTP/1.1");
    assert_eq!(
        post.header("host").unwrap(),
        format!("localhost:{}", srv.port)
    );
    assert_eq!(
        post.header("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    assert!(post.header("user-agent").unwrap().starts_with("duo-authd/"));
    assert_eq!(post.body, "ipaddr=192.0.2.10&username=J%C3%B6rg%20O%27Neil");
    let date = post.header("x-duo-date").unwrap();
    assert!(
        (99..=101).any(|d| signing::duo_date(unix_now() + d) == date
            || signing::duo_date(unix_now() + d - 1) == date),
        "{date}"
    );
    let canonical =
        signing::canonical_request(&date, "POST", "localhost", "/auth/v2/preauth", &params);
    let expected = signing::authorization(
        IKEY,
        &signing::sign(SignatureAlg::Sha512, &Secret::new(SKEY.into()), &canonical),
    );
    assert_eq!(post.header("authorization").unwrap(), expected);
    assert_eq!(
        seen[2].line(),
        "GET /auth/v2/auth_status?txid=abc-1 HTTP/1.1"
    );
    assert_eq!(seen[2].header("content-type"), None);
    assert_eq!(seen[3].line(), "GET /auth/v2/check HTTP/1.1");
}

#[tokio::test]
async fn dead_pooled_connection_is_retried_only_when_idempotent() {
    // Each connection answers its first request and drops the second one unanswered.
    let srv = start(Arc::new(
        |_: &Seen, n| if n == 0 { ok("{}") } else { Reply::Drop },
    ))
    .await;
    let client = client_for(&srv);
    client.check().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // let the connection return to the pool
    client.check().await.unwrap();
    assert_eq!(
        srv.seen.lock().unwrap().len(),
        3,
        "dead connection, then one retry on a new one"
    );
    assert_eq!(client.stats().connections_opened, 2);

    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = client
        .call(Method::POST, "/auth/v2/auth", &[], ONCE)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Connect, "{err}");
    assert_eq!(
        srv.seen.lock().unwrap().len(),
        4,
        "/auth must never be sent twice"
    );
    assert_eq!(client.stats().failures, 1);
}

#[tokio::test]
async fn untrusted_or_misnamed_certificate_is_a_tls_error() {
    let srv = start(Arc::new(|_: &Seen, _| ok("{}"))).await;
    let builtin_roots =
        DuoClient::new(&config(&format!("localhost:{}", srv.port), None, "")).unwrap();
    let err = builtin_roots.check().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Tls, "{err}");
    assert!(
        err.to_string().contains(&format!("localhost:{}", srv.port)),
        "{err}"
    );
    let wrong_name = DuoClient::new(&config(
        &format!("127.0.0.1:{}", srv.port),
        Some(srv.cafile.path()),
        "",
    ))
    .unwrap();
    let err = wrong_name.check().await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Tls, "{err}");
    assert!(srv.seen.lock().unwrap().is_empty());
    let s = wrong_name.stats();
    assert!(s.last_failure.is_some() && s.last_error.is_some());
}

#[tokio::test]
async fn refused_connection_and_silent_server() {
    let port = closed_port().await;
    let err = DuoClient::new(&config(&format!("127.0.0.1:{port}"), None, ""))
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Connect, "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    let srv = start(Arc::new(|_: &Seen, _| Reply::Hang)).await;
    let opts = CallOpts {
        idempotent: true,
        timeout: Some(Duration::from_millis(300)),
    };
    let err = client_for(&srv)
        .call(Method::GET, "/auth/v2/check", &[], opts)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DuoError::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{err}"
    );
}

#[tokio::test]
async fn http_answers_are_classified() {
    let srv = start(Arc::new(|req: &Seen, _| match req.line() {
        l if l.contains("/limited") => respond(
            "429 Too Many Requests",
            "Retry-After: 3\r\n",
            r#"{"stat":"FAIL","code":42901}"#,
        ),
        l if l.contains("/keys") => respond(
            "401 Unauthorized",
            "",
            r#"{"stat":"FAIL","code":40101,"message":"Invalid signature in request credentials"}"#,
        ),
        _ => respond("503 Service Unavailable", "", ""),
    }))
    .await;
    let client = client_for(&srv);
    let err = client
        .call(Method::GET, "/limited", &[], ONCE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DuoError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3)),
        "{err}"
    );
    assert!(
        client.stats().last_failure.is_none(),
        "a 429 means Duo is up"
    );
    let err = client
        .call(Method::GET, "/keys", &[], ONCE)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Unauthorized);
    let err = client
        .call(Method::GET, "/down", &[], ONCE)
        .await
        .unwrap_err();
    assert!(matches!(err, DuoError::Server { status: 503, .. }), "{err}");
    assert_eq!(client.stats().failures, 3);
}

#[test]
fn client_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = DuoClient::new(&config("api-x.duosecurity.com", Some(&missing), ""))
        .err()
        .unwrap();
    assert!(
        matches!(&err, ClientError::Open { source, .. } if matches!(**source, ClientError::Cafile { .. }))
            && err.to_string().contains("missing.pem")
            && err
                .to_string()
                .starts_with("Couldn't open Duo API handle for api-x.duosecurity.com: cafile "),
        "{err}"
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = DuoClient::new(&config("api-x.duosecurity.com", Some(&empty), ""))
        .err()
        .unwrap();
    assert!(
        matches!(&err, ClientError::Open { source, .. } if matches!(**source, ClientError::NoCertificates { .. })),
        "{err}"
    );
}

/// A CONNECT proxy: answers 407 unless the credentials are `duo:pa:ss`, else splices to the target.
struct Proxy {
    port: u16,
    /// Heads of the CONNECT requests received.
    connects: Arc<Mutex<Vec<Seen>>>,
}

async fn start_proxy() -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connects = Arc::new(Mutex::new(Vec::new()));
    let seen = connects.clone();
    tokio::spawn(async move {
        while let Ok((mut down, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut b = [0u8; 1];
                    if down.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let req = Seen {
                    head: String::from_utf8_lossy(&head).into(),
                    body: String::new(),
                };
                seen.lock().unwrap().push(req.clone());
                let auth = req.header("proxy-authorization");
                if auth.as_deref() != Some("Basic ZHVvOnBhOnNz") {
                    let _ = down
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let target = req.line().split(' ').nth(1).unwrap_or("").to_string();
                let mut up = tokio::net::TcpStream::connect(target).await.unwrap();
                down.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
            });
        }
    });
    Proxy { port, connects }
}

#[tokio::test]
async fn calls_go_through_one_connect_tunnel() {
    let srv = start(Arc::new(|_: &Seen, _| ok("{}"))).await;
    let proxy = start_proxy().await;
    let extra = format!(
        "http_proxy = \"http://duo:pa:ss@127.0.0.1:{}/\"\n",
        proxy.port
    );
    let client = DuoClient::new(&config(
        &format!("localhost:{}", srv.port),
        Some(srv.cafile.path()),
        &extra,
    ))
    .unwrap();
    client.check().await.unwrap();
    client.check().await.unwrap();
    assert_eq!(srv.seen.lock().unwrap().len(), 2);
    assert_eq!(client.stats().connections_opened, 1);
    let connects = proxy.connects.lock().unwrap().clone();
    assert_eq!(connects.len(), 1, "the second call reuses the tunnel");
    let target = format!("localhost:{}", srv.port);
    assert_eq!(connects[0].line(), format!("CONNECT {target} HTTP/1.1"));
    assert_eq!(connects[0].header("host"), Some(target));
}

#[tokio::test]
async fn proxy_refusal_is_a_connect_error_naming_the_proxy() {
    let srv = start(Arc::new(|_: &Seen, _| ok("{}"))).await;
    let proxy = start_proxy().await;
    let host = format!("localhost:{}", srv.port);
    let cafile = Some(srv.cafile.path());
    let wrong = format!(
        "http_proxy = \"http://duo:hunter2@127.0.0.1:{}\"\n",
        proxy.port
    );
    let err = DuoClient::new(&config(&host, cafile, &wrong))
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Connect, "{err}");
    let msg = err.to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(
        msg.contains(&format!("http://duo:***@127.0.0.1:{}", proxy.port))
            && msg.contains("HTTP/1.1 407 Proxy Authentication Required")
            && msg.contains("check the user:password"),
        "{msg}"
    );
    assert!(proxy.connects.lock().unwrap()[0]
        .header("proxy-authorization")
        .is_some());

    let port = closed_port().await;
    let gone = format!("http_proxy = \"127.0.0.1:{port}\"\n");
    let err = DuoClient::new(&config(&host, cafile, &gone))
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Connect, "{err}");
    assert!(
        err.to_string().contains(&format!(
            "cannot reach the HTTP proxy http://127.0.0.1:{port}"
        )),
        "{err}"
    );

    // A proxy that accepts and never answers: bounded by the connect timeout (here https_timeout = 1).
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let held = silent.accept().await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(held);
    });
    let mute = format!("https_timeout = 1\nhttp_proxy = \"127.0.0.1:{port}\"\n");
    let err = DuoClient::new(&config(&host, cafile, &mute))
        .unwrap()
        .call(Method::GET, "/auth/v2/check", &[], CallOpts::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DuoError::Timeout { after, .. } if after == Duration::from_secs(1)),
        "{err}"
    );
    assert!(srv.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn noverify_accepts_an_untrusted_certificate() {
    let srv = start(Arc::new(|_: &Seen, _| ok("{}"))).await;
    // Untrusted issuer and, via the IP address, the wrong name as well.
    for host in [
        format!("localhost:{}", srv.port),
        format!("127.0.0.1:{}", srv.port),
    ] {
        let client = DuoClient::new(&config(&host, None, "noverify = true\n")).unwrap();
        client.check().await.unwrap();
        let err = DuoClient::new(&config(&host, None, ""))
            .unwrap()
            .check()
            .await
            .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Tls, "{err}");
    }
    assert_eq!(srv.seen.lock().unwrap().len(), 2);
}

/// A loopback port that nothing listens on (bound, then released).
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_wait_for_connect_rate_is_never_a_duo_timeout() {
    // Every request hangs, so each one in flight needs its own connection, and connect_rate = 1
    // lets one open per second. Requests held back by the rate must fail as local errors (deny,
    // never failmode): every Duo timeout must be a request Duo really received.
    let srv = start(Arc::new(|_: &Seen, _| Reply::Hang)).await;
    let client = DuoClient::new(&config(
        &format!("localhost:{}", srv.port),
        Some(srv.cafile.path()),
        "[authd]\nconnect_rate = 1\n",
    ))
    .unwrap();
    let opts = CallOpts {
        idempotent: true,
        timeout: Some(Duration::from_millis(1200)),
    };
    let calls = (0..4).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.call(Method::GET, "/auth/v2/check", &[], opts).await })
    });
    let mut timeouts = 0;
    let mut local = 0;
    for call in calls.collect::<Vec<_>>() {
        match call.await.unwrap() {
            Err(e @ DuoError::Timeout { .. }) => {
                assert_eq!(e.class(), ErrorClass::Timeout);
                timeouts += 1;
            }
            Err(e) => {
                assert_eq!(e.class(), ErrorClass::Local, "{e}");
                assert!(e.to_string().contains("connect_rate"), "{e}");
                local += 1;
            }
            Ok(v) => panic!("a hanging server answered: {v}"),
        }
    }
    let sent = srv.seen.lock().unwrap().len();
    assert_eq!(timeouts, sent, "a timeout for a request Duo never saw");
    assert!(local >= 2, "{local} held back, {sent} sent");
}
