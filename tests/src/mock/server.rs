//! The HTTPS server: accept loop, TLS, HTTP/1.1 keep-alive connections, and the Auth API v2 endpoints.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::scenarios::{self, Scenario};
use super::signature::{self, SigError, Verifier};
use super::{dates, lock, Shared, Transaction};

/// Largest request body the mock reads (Duo's requests are a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const PING: &str = "/auth/v2/ping";
const CHECK: &str = "/auth/v2/check";
const PREAUTH: &str = "/auth/v2/preauth";
const AUTH: &str = "/auth/v2/auth";
const AUTH_STATUS: &str = "/auth/v2/auth_status";

type Resp = Response<Full<Bytes>>;

/// Returned by a request handler to make hyper close the connection without answering (`drop-auth-user`).
#[derive(Debug, thiserror::Error)]
#[error("mock Duo hung up on purpose without answering")]
pub(crate) struct Hangup;

/// Accept connections until `shutdown` turns true.
pub(crate) async fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    lock(&shared.stats).tcp_connections += 1;
                    if *shared.down.borrow() {
                        drop(tcp);
                        continue;
                    }
                    tokio::spawn(serve_connection(tcp, acceptor.clone(), shared.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// TLS handshake, then HTTP/1.1 with keep-alive until the client leaves or the mock goes down.
async fn serve_connection(tcp: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let _ = tcp.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        _ => return,
    };
    lock(&shared.stats).tls_handshakes += 1;
    let _open = OpenGauge::new(&shared);
    let mut down = shared.down.subscribe();
    let sh = shared.clone();
    let service = service_fn(move |req| {
        let sh = sh.clone();
        async move {
            let started = Instant::now();
            let resp = handle(req, sh.clone()).await;
            lock(&sh.stats).busy += started.elapsed();
            resp
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            // Going down: an idle connection closes now, a busy one after its answer.
            _ = down.wait_for(|d| *d), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

/// Counts one open TLS connection in `Shared::open_connections` while it lives.
struct OpenGauge<'a>(&'a Shared);

impl<'a> OpenGauge<'a> {
    fn new(sh: &'a Shared) -> Self {
        let now = sh.open_connections.fetch_add(1, Ordering::Relaxed) + 1;
        sh.peak_connections.fetch_max(now, Ordering::Relaxed);
        OpenGauge(sh)
    }
}

impl Drop for OpenGauge<'_> {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

fn with_type(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_resp(status: u16, v: &Value) -> Resp {
    with_type(status, "application/json", v.to_string())
}

/// `{"stat":"OK","response":...}`.
fn ok(response: Value) -> Resp {
    json_resp(200, &json!({"stat": "OK", "response": response}))
}

/// `{"stat":"FAIL",...}` with this HTTP status.
fn fail(status: u16, code: u32, message: &str) -> Resp {
    json_resp(
        status,
        &json!({"stat": "FAIL", "code": code, "message": message}),
    )
}

fn fail_detail(status: u16, code: u32, message: &str, detail: &str) -> Resp {
    json_resp(
        status,
        &json!({"stat": "FAIL", "code": code, "message": message, "message_detail": detail}),
    )
}

fn time_response(sh: &Shared) -> Resp {
    ok(json!({"time": sh.now()}))
}

/// One request: count it, add latency, verify it, and answer as its scenario says.
async fn handle(req: Request<Incoming>, sh: Arc<Shared>) -> Result<Resp, Hangup> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    {
        let mut st = lock(&sh.stats);
        st.requests += 1;
        *st.by_path.entry(path.clone()).or_default() += 1;
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(fail(
                400,
                40003,
                "Request body unreadable or larger than 64 KiB",
            ))
        }
    };
    let latency = Duration::from_nanos(sh.latency_nanos.load(Ordering::Relaxed));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fail_all = sh.fail_all.load(Ordering::Relaxed);
    if fail_all != 0 {
        let status = u16::try_from(fail_all).unwrap_or(503);
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Failure");
        return Ok(fail(status, fail_all.saturating_mul(100), reason));
    }

    let raw: &[u8] = if parts.method == Method::POST {
        let form = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !form
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Ok(fail_detail(
                400,
                40002,
                "Invalid request parameters",
                "POST body must be application/x-www-form-urlencoded",
            ));
        }
        &body
    } else {
        parts.uri.query().unwrap_or("").as_bytes()
    };
    let params = match signature::parse_form(raw) {
        Ok(p) => p,
        Err(e) => {
            return Ok(fail_detail(
                400,
                40002,
                "Invalid request parameters",
                &e.to_string(),
            ))
        }
    };
    let map: BTreeMap<String, String> = params.iter().cloned().collect();
    lock(&sh.stats)
        .last_params
        .insert(path.clone(), map.clone());

    let known = [PING, CHECK, PREAUTH, AUTH, AUTH_STATUS];
    if !known.contains(&path.as_str()) {
        return Ok(fail(404, 40401, "Resource not found"));
    }
    let allowed = match path.as_str() {
        PING | AUTH_STATUS => parts.method == Method::GET,
        CHECK => parts.method == Method::GET || parts.method == Method::POST,
        _ => parts.method == Method::POST,
    };
    if !allowed {
        return Ok(fail(405, 40501, "Method not allowed"));
    }
    // Like Duo, /ping needs no signature (and ignores one).
    if path == PING {
        return Ok(time_response(&sh));
    }
    let verifier = Verifier {
        ikey: &sh.opts.ikey,
        skey: &sh.opts.skey,
        now: sh.now(),
        max_skew: i64::try_from(sh.opts.max_skew.as_secs()).unwrap_or(i64::MAX),
    };
    match verifier.verify(&parts.headers, parts.method.as_str(), &path, &params) {
        Ok(alg) => {
            if alg == signature::SigAlg::Sha1 {
                lock(&sh.stats).sha1_requests += 1;
            }
        }
        Err(e) => {
            if e != SigError::BadTimestamp {
                lock(&sh.stats).bad_signatures += 1;
            }
            return Ok(fail(401, e.code(), e.duo_message()));
        }
    }
    match path.as_str() {
        CHECK => Ok(time_response(&sh)),
        PREAUTH => Ok(preauth(&sh, &map).await),
        AUTH => auth(&sh, &map).await,
        _ => Ok(auth_status(&sh, &map).await),
    }
}

fn missing(name: &str) -> Resp {
    fail_detail(400, 40001, "Missing required request parameters", name)
}

async fn preauth(sh: &Shared, p: &BTreeMap<String, String>) -> Resp {
    let Some(user) = p.get("username") else {
        return missing("username");
    };
    let sc = scenarios::scenario(user);
    match sc {
        Scenario::Fail5xx => return fail(500, 50000, "Internal server error"),
        Scenario::BadJson => return with_type(200, "text/html", "<html>oops"),
        Scenario::StatFail => return fail(200, 40002, "Invalid request parameters"),
        Scenario::ForgeLog => {
            let message = format!("Denied\r\n{}\n", scenarios::FORGED_LINE);
            return fail(200, 40002, &message);
        }
        Scenario::Unauthorized => {
            return fail(401, 40101, "Invalid signature in request credentials")
        }
        Scenario::Slow => tokio::time::sleep(sh.opts.slow_delay).await,
        Scenario::RetryForever => {
            let mut r = fail(429, 42901, "Too Many Requests");
            r.headers_mut().insert(
                RETRY_AFTER,
                HeaderValue::from_static("18446744073709551615"),
            );
            return r;
        }
        Scenario::RateLimit | Scenario::RateLimitDate => {
            let seen = {
                let mut state = lock(&sh.state);
                let n = state.rate_limited.entry(user.clone()).or_default();
                *n += 1;
                *n
            };
            if seen <= 2 {
                let mut r = fail(429, 42901, "Too Many Requests");
                let after = if sc == Scenario::RateLimit {
                    "1".to_string()
                } else {
                    // The next whole second at least one second ahead, on the mock's clock.
                    dates::http_date(sh.now() + 2)
                };
                if let Ok(v) = HeaderValue::from_str(&after) {
                    r.headers_mut().insert(RETRY_AFTER, v);
                }
                return r;
            }
        }
        _ => {}
    }
    let text_prompt = matches!(p.get("text_prompt").map(String::as_str), Some("1" | "true"));
    let mut r = scenarios::preauth_response(sc, user, text_prompt);
    if matches!(sc, Scenario::Verified | Scenario::VerifiedPlain)
        && p.get("client_supports_verified_push").map(String::as_str) == Some("1")
    {
        scenarios::make_verified(sc, &mut r);
    }
    ok(r)
}

/// Count a push or call as pending for `push_delay`, and record the peak.
fn start_push(sh: &Shared, user: &str) {
    {
        let mut st = lock(&sh.state);
        let now_pending = {
            let n = st.pending.entry(user.to_string()).or_default();
            *n += 1;
            *n
        };
        drop(st);
        let mut stats = lock(&sh.stats);
        *stats.pushes_by_user.entry(user.to_string()).or_default() += 1;
        let max = stats
            .max_concurrent_pushes_by_user
            .entry(user.to_string())
            .or_default();
        *max = (*max).max(now_pending);
    }
}

fn end_push(sh: &Shared, user: &str) {
    let mut st = lock(&sh.state);
    if let Some(n) = st.pending.get_mut(user) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            st.pending.remove(user);
        }
    }
}

async fn auth(sh: &Arc<Shared>, p: &BTreeMap<String, String>) -> Result<Resp, Hangup> {
    let Some(user) = p.get("username") else {
        return Ok(missing("username"));
    };
    let sc = scenarios::scenario(user);
    *lock(&sh.stats)
        .auth_by_user
        .entry(user.clone())
        .or_default() += 1;
    match sc {
        Scenario::DropAuth => return Err(Hangup),
        Scenario::Auth5xx => return Ok(fail(503, 50301, "Service Unavailable")),
        Scenario::AuthBadJson => {
            return Ok(with_type(
                200,
                "application/json",
                "{\"stat\": \"OK\", \"resp<<garbage",
            ))
        }
        Scenario::AuthStatFail => return Ok(fail(200, 40002, "Invalid request parameters")),
        Scenario::AuthSlow => tokio::time::sleep(sh.opts.slow_delay).await,
        _ => {}
    }
    let factor = match scenarios::factor_of(sc, p) {
        Ok(f) => f,
        Err(why) => return Ok(fail_detail(400, 40002, "Invalid request parameters", why)),
    };
    if let Some(why) = scenarios::txid_problem(sc, p) {
        return Ok(ok(
            json!({"result": "deny", "status": "deny", "status_msg": why}),
        ));
    }
    let delay = if factor.waits() {
        sh.opts.push_delay
    } else {
        Duration::ZERO
    };
    if factor.waits() {
        start_push(sh, user);
        let (sh2, user2) = (sh.clone(), user.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            end_push(&sh2, &user2);
        });
    }
    if matches!(p.get("async").map(String::as_str), Some("1" | "true")) {
        let txid = new_txid();
        let tx = Transaction {
            scenario: sc,
            factor,
            ready_at: Instant::now() + delay,
        };
        lock(&sh.state).txs.insert(txid.clone(), tx);
        return Ok(ok(json!({"txid": txid})));
    }
    tokio::time::sleep(delay).await;
    Ok(ok(scenarios::final_answer(sc, &factor).json()))
}

async fn auth_status(sh: &Shared, p: &BTreeMap<String, String>) -> Resp {
    let Some(txid) = p.get("txid") else {
        return missing("txid");
    };
    let Some(tx) = lock(&sh.state).txs.get(txid).cloned() else {
        return fail_detail(400, 40002, "Invalid request parameters", "txid");
    };
    if tx.scenario == Scenario::Status5xx {
        return fail(502, 50201, "Bad Gateway");
    }
    // Long-poll a little, as Duo does, but never past the moment the answer is known.
    let now = Instant::now();
    if now < tx.ready_at {
        let hold = (sh.opts.push_delay / 2).min(tx.ready_at - now);
        tokio::time::sleep(hold).await;
    }
    let answer = if Instant::now() >= tx.ready_at {
        scenarios::final_answer(tx.scenario, &tx.factor)
    } else {
        scenarios::waiting_answer(tx.scenario, &tx.factor)
    };
    ok(answer.json())
}

/// A random v4-UUID-shaped transaction id.
fn new_txid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::scenarios::Factor;

    #[test]
    fn txids_look_like_uuids() {
        let t = new_txid();
        assert_eq!(t.len(), 36);
        assert_eq!(t.matches('-').count(), 4);
        assert_ne!(t, new_txid());
    }

    #[test]
    fn factor_kinds_are_reexported_for_transactions() {
        // Transactions keep the factor; a passcode is never "pending".
        assert!(!Factor::Passcode("1".into()).waits());
        assert!(Factor::Phone.waits());
    }
}
