//! The pooled HTTPS client for Duo's Auth API: signs every request, bounds concurrency, sorts failures.

pub mod api;
mod error;
pub mod preauth;
mod proxy;
mod transport;

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::connect::capture_connection;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::config::{ApiHost, Config, SignatureAlg};
use crate::secret::Secret;
use crate::signing;

pub use error::{
    classify_response, parse_retry_after, ClientError, DuoError, ErrorClass, MAX_RETRY_AFTER,
};
use transport::{ConnUses, CountingConnector};

/// Largest response body read from Duo (real ones are a few KiB).
const MAX_BODY: usize = 1 << 20;
/// TCP connect timeout when `https_timeout` is unset or longer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout for `ping`/`check` when `https_timeout` is unset.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Our `User-Agent`.
const UA: &str = concat!("duo-authd/", env!("CARGO_PKG_VERSION"));

/// Per-call options.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOpts {
    /// Safe to send twice: allows one retry when a pooled connection turns out to be dead (never for `/auth`).
    pub idempotent: bool,
    /// Bound on the whole exchange (queueing, connect, request, body); `None` = `https_timeout` if set.
    /// Queueing for a connection may take at most half of it: past that the request is not sent
    /// and the call fails as a local error ([`ErrorClass::Local`], which denies), never a timeout.
    pub timeout: Option<Duration>,
}

/// A point-in-time copy of the client's counters, for `health`.
#[derive(Debug, Clone, Default)]
pub struct DuoStatsSnapshot {
    /// Calls made.
    pub requests: u64,
    /// Calls that returned an error.
    pub failures: u64,
    /// Last time Duo answered (including a 4xx, 429 or `stat: FAIL` about one request: the service was up).
    pub last_success: Option<SystemTime>,
    /// Last time Duo could not be reached or answered unusably (connect, TLS, timeout, 5xx, 401, bad JSON).
    pub last_failure: Option<SystemTime>,
    /// The error of the last failed call.
    pub last_error: Option<String>,
    /// Duo's clock minus ours, in seconds, applied to `X-Duo-Date`.
    pub clock_offset_secs: i64,
    /// TLS connections opened (a low number against `requests` shows the pool working).
    pub connections_opened: u64,
}

/// Times and text of the last outcomes.
#[derive(Default)]
struct Outcomes {
    last_success: Option<SystemTime>,
    last_failure: Option<SystemTime>,
    last_error: Option<String>,
}

/// What the clones of a [`DuoClient`] share.
struct Inner {
    http: Client<CountingConnector, Full<Bytes>>,
    ikey: String,
    skey: Secret,
    host: ApiHost,
    /// `host[:port]`, for URIs, `Host` and messages.
    authority: String,
    signature: SignatureAlg,
    https_timeout: Option<Duration>,
    connect_timeout: Duration,
    permits: Semaphore,
    /// How many permits there are (`max_concurrent_requests`), for messages.
    permits_max: usize,
    clock_offset: AtomicI64,
    opened: Arc<AtomicU64>,
    /// Connections open now (the connector counts them).
    open: Arc<AtomicUsize>,
    /// Requests past the queue, being sent or read (each on a connection, or opening one).
    sending: AtomicUsize,
    /// Told when one of those ends, so a request waiting for `connect_rate` can take its connection.
    freed: tokio::sync::Notify,
    /// `[authd] connect_rate`, taken before a request that needs a new connection is sent.
    rate: Arc<transport::ConnectRate>,
    connect_rate: u32,
    requests: AtomicU64,
    failures: AtomicU64,
    outcomes: Mutex<Outcomes>,
}

/// The Duo API client; clones share one connection pool and one set of counters.
#[derive(Clone)]
pub struct DuoClient {
    inner: Arc<Inner>,
}

/// One request in `Inner::sending` while it lives; its end wakes one request waiting for a connection.
struct Sending<'a>(&'a AtomicUsize, &'a tokio::sync::Notify);

impl<'a> Sending<'a> {
    fn new(count: &'a AtomicUsize, freed: &'a tokio::sync::Notify) -> Sending<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Sending(count, freed)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        self.1.notify_one();
    }
}

/// Seconds since the epoch by the local clock.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl DuoClient {
    /// Build the pool for `cfg` (no network traffic yet).
    pub fn new(cfg: &Config) -> Result<DuoClient, ClientError> {
        let authority = cfg.host.authority();
        let proxy = cfg.http_proxy.clone();
        if let Some(p) = &proxy {
            tracing::info!(
                "reaching the Duo API at {authority} through the HTTP proxy {}",
                p.redacted()
            );
        }
        if cfg.noverify {
            tracing::warn!("noverify is set: the Duo API's certificate is NOT checked; anyone on the network path can impersonate Duo ({authority})");
        }
        let connect_timeout = cfg
            .https_timeout
            .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT));
        let connector = transport::connector(
            cfg.cafile.as_deref(),
            cfg.noverify,
            proxy,
            connect_timeout,
            cfg.authd.connect_rate,
        )
        .map_err(|e| ClientError::Open {
            host: authority.clone(),
            source: Box::new(e),
        })?;
        let opened = connector.opened.clone();
        let open = connector.open.clone();
        let rate = connector.rate.clone();
        let max = cfg.authd.max_concurrent_requests;
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(cfg.authd.pool_idle_timeout)
            // Never more in flight than `max`, so never more idle than that either.
            .pool_max_idle_per_host(max)
            .retry_canceled_requests(false)
            .build(connector);
        Ok(DuoClient {
            inner: Arc::new(Inner {
                http,
                ikey: cfg.ikey.clone(),
                skey: cfg.skey.clone(),
                authority,
                host: cfg.host.clone(),
                signature: cfg.authd.signature,
                https_timeout: cfg.https_timeout,
                connect_timeout,
                permits: Semaphore::new(max),
                permits_max: max,
                clock_offset: AtomicI64::new(0),
                opened,
                open,
                sending: AtomicUsize::new(0),
                freed: tokio::sync::Notify::new(),
                rate,
                connect_rate: cfg.authd.connect_rate,
                requests: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                outcomes: Mutex::new(Outcomes::default()),
            }),
        })
    }

    /// Call a Duo endpoint; on success returns the `response` member (its absence is an error).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(String, String)],
        opts: CallOpts,
    ) -> Result<Value, DuoError> {
        // Waiting for a permit costs a login almost nothing; the exchange's state (hyper's request
        // future, about 1 KiB) is boxed so that it exists only for the requests actually in flight.
        let i = &self.inner;
        let limit = opts.timeout.or(i.https_timeout);
        let queued = tokio::time::Instant::now();
        // A request is sent only with at least half its time left, so a timeout after it was sent
        // means Duo really had time to answer.
        let permit = match limit {
            Some(after) => tokio::time::timeout(after / 2, i.permits.acquire()).await,
            None => Ok(i.permits.acquire().await),
        };
        // Time spent waiting for one of our own connections is not Duo failing to answer: the
        // request was never sent, so it is a local failure (which denies, never failmode). Else
        // logins long-polling for their pushes could hold every permit and turn the next user's
        // preauth into a "Duo did not answer" failsafe allow.
        let _permit = match permit {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => {
                return Err(DuoError::Request {
                    host: i.authority.clone(),
                    reason: "the client is shutting down".into(),
                })
            }
            Err(_) => {
                tracing::warn!(
                    "all {} connections to the Duo API (max_concurrent_requests) stayed busy for {:.1}s; a request was not sent",
                    i.permits_max,
                    queued.elapsed().as_secs_f64()
                );
                return Err(DuoError::Request {
                    host: i.authority.clone(),
                    reason: format!(
                        "all {} connections to the Duo API (max_concurrent_requests) are busy; the request was not sent",
                        i.permits_max
                    ),
                });
            }
        };
        // As many requests being sent as connections open: this one needs a new connection, and
        // `connect_rate` bounds how fast those open. The wait is part of the queue, before
        // anything is sent, under the same half-budget rule; so it can end in a local error
        // (deny), never in a Duo timeout (failmode). Hyper may still finish a connect in the
        // background for a request that got a freed connection; it was paid for here.
        let queue_end = limit.map(|after| queued + after / 2);
        loop {
            if i.sending.load(Ordering::Relaxed) < i.open.load(Ordering::Relaxed) {
                break;
            }
            let Err(wait) = i.rate.try_take() else {
                break;
            };
            if queue_end.is_some_and(|end| tokio::time::Instant::now() + wait > end) {
                tracing::warn!(
                    "connect_rate ({} per second) left no new connection to the Duo API in time; a request was not sent",
                    i.connect_rate
                );
                return Err(DuoError::Request {
                    host: i.authority.clone(),
                    reason: format!(
                        "no new connection to the Duo API could be opened in time (connect_rate = {} per second); the request was not sent",
                        i.connect_rate
                    ),
                });
            }
            tracing::debug!("connect_rate reached: a new connection to Duo waits {wait:?}");
            // A request that ends frees its connection for one waiter, which then needs no token.
            tokio::select! {
                () = i.freed.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        let _sending = Sending::new(&i.sending, &i.freed);
        let exchange = Box::pin(self.exchange(&method, path, params, opts.idempotent));
        let result = match limit {
            Some(after) => {
                let left = after.saturating_sub(queued.elapsed());
                tokio::time::timeout(left, exchange)
                    .await
                    .unwrap_or_else(|_| {
                        Err(DuoError::Timeout {
                            host: i.authority.clone(),
                            after,
                        })
                    })
            }
            None => exchange.await,
        };
        self.record(&result);
        result
    }

    /// Take Duo's clock (`server`, seconds since the epoch) as the date for requests from now on.
    pub(crate) fn set_clock(&self, server: i64) -> i64 {
        let offset = server.saturating_sub(unix_now());
        let was = self.inner.clock_offset.swap(offset, Ordering::Relaxed);
        let host = &self.inner.authority;
        if offset.abs() > 60 && (offset - was).abs() > 5 {
            tracing::warn!(
                "this host's clock is {offset}s off Duo's ({host}); requests are dated by Duo's clock, but fix NTP"
            );
        } else if (offset - was).abs() > 5 {
            tracing::info!("clock offset to Duo ({host}) re-measured: {was}s -> {offset}s");
        }
        offset
    }

    /// The counters, for `health`.
    pub fn stats(&self) -> DuoStatsSnapshot {
        let i = &self.inner;
        let (last_success, last_failure, last_error) = {
            let o = crate::sync::lock(&i.outcomes);
            (o.last_success, o.last_failure, o.last_error.clone())
        };
        DuoStatsSnapshot {
            requests: i.requests.load(Ordering::Relaxed),
            failures: i.failures.load(Ordering::Relaxed),
            last_success,
            last_failure,
            last_error,
            clock_offset_secs: i.clock_offset.load(Ordering::Relaxed),
            connections_opened: i.opened.load(Ordering::Relaxed),
        }
    }

    /// Options for `ping`/`check`: idempotent, bounded even without `https_timeout`.
    pub(crate) fn probe_opts(&self) -> CallOpts {
        CallOpts {
            idempotent: true,
            timeout: Some(self.inner.https_timeout.unwrap_or(PROBE_TIMEOUT)),
        }
    }

    /// Count one call's outcome.
    fn record(&self, result: &Result<Value, DuoError>) {
        let i = &self.inner;
        i.requests.fetch_add(1, Ordering::Relaxed);
        if result.is_err() {
            i.failures.fetch_add(1, Ordering::Relaxed);
        }
        let now = SystemTime::now();
        let mut o = crate::sync::lock(&i.outcomes);
        match result {
            Ok(_) => o.last_success = Some(now),
            Err(e) => {
                o.last_error = Some(e.to_string());
                if e.means_unreachable() {
                    o.last_failure = Some(now);
                } else {
                    o.last_success = Some(now);
                }
            }
        }
    }

    /// Send (retrying once on a dead pooled connection if allowed), read and sort the answer; the caller holds a permit.
    async fn exchange(
        &self,
        method: &Method,
        path: &str,
        params: &[(String, String)],
        idempotent: bool,
    ) -> Result<Value, DuoError> {
        let i = &self.inner;
        let mut retried = false;
        loop {
            let mut req = self.request(method, path, params)?;
            let captured = capture_connection(&mut req);
            match i.http.request(req).await {
                Ok(resp) => return self.read(resp).await,
                Err(e) => {
                    let reused = captured.connection_metadata().as_ref().is_some_and(|c| {
                        let mut ext = http::Extensions::new();
                        c.get_extras(&mut ext);
                        ext.get::<ConnUses>().is_some_and(ConnUses::reused)
                    });
                    if idempotent && reused && !retried && error::is_stale_connection(&e) {
                        tracing::debug!(
                            "pooled connection to {} was dead ({e:?}); retrying once",
                            i.authority
                        );
                        retried = true;
                        continue;
                    }
                    return Err(error::classify_transport(
                        &i.authority,
                        &e,
                        i.connect_timeout,
                    ));
                }
            }
        }
    }

    /// Read a capped body and sort the answer.
    async fn read(&self, resp: Response<hyper::body::Incoming>) -> Result<Value, DuoError> {
        let i = &self.inner;
        if let Some(uses) = resp.extensions().get::<ConnUses>() {
            uses.add();
        }
        let (parts, body) = resp.into_parts();
        let bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return Err(DuoError::InvalidJson {
                    host: i.authority.clone(),
                    reason: format!("response body larger than {MAX_BODY} bytes"),
                })
            }
            Err(e) => {
                return Err(error::classify_transport(
                    &i.authority,
                    &*e,
                    i.connect_timeout,
                ))
            }
        };
        classify_response(
            &i.authority,
            parts.status,
            &parts.headers,
            &bytes,
            SystemTime::now(),
        )
    }

    /// A signed request dated by Duo's clock: GET params in the query, others as a form body.
    fn request(
        &self,
        method: &Method,
        path: &str,
        params: &[(String, String)],
    ) -> Result<Request<Full<Bytes>>, DuoError> {
        let i = &self.inner;
        let date =
            signing::duo_date(unix_now().saturating_add(i.clock_offset.load(Ordering::Relaxed)));
        let canonical = signing::canonical_request(
            &date,
            method.as_str(),
            i.host.canonical_host(),
            path,
            params,
        );
        let sig = signing::sign(i.signature, &i.skey, &canonical);
        let bad = |reason: String| DuoError::Request {
            host: i.authority.clone(),
            reason,
        };
        let mut auth = HeaderValue::from_str(&signing::authorization(&i.ikey, &sig))
            .map_err(|e| bad(e.to_string()))?;
        auth.set_sensitive(true);
        let query = signing::canonical_params(params);
        let in_query = matches!(*method, Method::GET | Method::DELETE | Method::HEAD);
        let uri = if in_query && !query.is_empty() {
            format!("https://{}{path}?{query}", i.authority)
        } else {
            format!("https://{}{path}", i.authority)
        };
        let mut b = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header(HOST, &i.authority)
            .header("X-Duo-Date", date)
            .header(AUTHORIZATION, auth)
            .header(USER_AGENT, UA);
        let body = if in_query {
            Bytes::new()
        } else {
            b = b.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            Bytes::from(query)
        };
        b.body(Full::new(body)).map_err(|e| bad(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
