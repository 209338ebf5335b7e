//! The Duo Auth API v2 verbs a login uses, as typed requests and typed answers.
//!
//! This module is the only place that knows Duo's paths and JSON field names for a login: the
//! login conversation (`login.rs`) speaks in [`Preauth`], [`AuthStarted`] and [`AuthStatus`],
//! and never sees HTTP. [`DuoApi`] is the seam the login is tested through: the daemon uses the
//! pooled HTTPS [`DuoClient`]; the tests use a scripted fake.

use std::future::Future;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use super::preauth::{self, Choice, Preauth, ResponseError};
use super::{CallOpts, DuoClient, DuoError, DuoStatsSnapshot, ErrorClass};
use crate::failmode::Failmode;

/// What a login asks `/auth/v2/preauth`.
#[derive(Debug, Clone, Copy)]
pub struct PreauthQuery<'a> {
    /// The Duo username.
    pub username: &'a str,
    /// The SSH client's address, when known.
    pub ipaddr: Option<&'a str>,
    /// This host's fully qualified name.
    pub hostname: &'a str,
    /// The configured failmode (Duo shows it in the Admin Panel).
    pub failmode: Failmode,
    /// Ask for Verified Duo Push (`client_supports_verified_push`).
    pub verified_push: bool,
}

/// What a login asks `/auth/v2/auth`.
#[derive(Debug, Clone, Copy)]
pub struct AuthQuery<'a> {
    /// The Duo username.
    pub username: &'a str,
    /// The factor chosen.
    pub choice: &'a Choice,
    /// The SSH client's address, when known.
    pub ipaddr: Option<&'a str>,
    /// This host's fully qualified name.
    pub hostname: &'a str,
    /// `Server+IP=...&Command=...`, when `pushinfo` is on.
    pub pushinfo: Option<&'a str>,
    /// Preauth's Verified Push transaction id, sent back whatever the factor (as login_duo does).
    pub txid: Option<&'a str>,
}

/// Duo's answer to `/auth` (always sent with `async=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStarted {
    /// A transaction to poll with `/auth_status`.
    Pending {
        /// Duo's transaction id.
        txid: String,
    },
    /// Duo answered at once (a passcode, or a server that ignores `async`).
    Done(AuthStatus),
}

/// Where an authentication stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStatus {
    /// Still waiting on the user; the status line to show, if any.
    Waiting(Option<String>),
    /// The user passed; Duo's status line.
    Allow(Option<String>),
    /// The user failed; Duo's status line.
    Deny(Option<String>),
}

/// A call to Duo that did not produce a usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The exchange failed, or Duo answered with an error.
    #[error(transparent)]
    Duo(#[from] DuoError),
    /// Duo answered `stat: OK` with something the API does not promise.
    #[error(transparent)]
    Response(#[from] ResponseError),
}

impl ApiError {
    /// The failure's class, for the failmode rule.
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Duo(e) => e.class(),
            ApiError::Response(_) => ErrorClass::InvalidResponse,
        }
    }

    /// For an HTTP 429: how long Duo asked us to wait (`Some(None)`: it did not say).
    pub fn rate_limited(&self) -> Option<Option<Duration>> {
        match self {
            ApiError::Duo(DuoError::RateLimited { retry_after }) => Some(*retry_after),
            _ => None,
        }
    }
}

/// The verbs a login needs from Duo. `timeout` bounds one call (`None`: `https_timeout`, if any).
pub trait DuoApi: Send + Sync {
    /// `/auth/v2/preauth` with `text_prompt=1`: does this user need a second factor, and which?
    fn preauth(
        &self,
        query: &PreauthQuery<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<Preauth, ApiError>> + Send;

    /// `/auth/v2/auth` with `async=1`: start the factor. Never re-sent: a second `/auth` is a second push.
    fn auth(
        &self,
        query: &AuthQuery<'_>,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<AuthStarted, ApiError>> + Send;

    /// `/auth/v2/auth_status`: Duo long-polls until the answer changes.
    fn auth_status(
        &self,
        txid: &str,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<AuthStatus, ApiError>> + Send;

    /// Counters for `health` (a fake has none).
    fn stats(&self) -> DuoStatsSnapshot {
        DuoStatsSnapshot::default()
    }
}

/// `(name, value)` as `DuoClient::call` takes them.
fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// The form parameters of a preauth.
pub fn preauth_params(q: &PreauthQuery<'_>) -> Vec<(String, String)> {
    let mut params = vec![
        pair("username", q.username),
        pair("text_prompt", "1"),
        pair("hostname", q.hostname),
        pair("failmode", q.failmode.duo_param()),
    ];
    if let Some(ip) = q.ipaddr {
        params.push(pair("ipaddr", ip));
    }
    if q.verified_push {
        params.push(pair("client_supports_verified_push", "1"));
    }
    params
}

/// The form parameters of an `/auth`.
pub fn auth_params(q: &AuthQuery<'_>) -> Vec<(String, String)> {
    let mut params = vec![
        pair("username", q.username),
        pair("async", "1"),
        pair("hostname", q.hostname),
    ];
    params.extend(q.choice.params());
    if let Some(ip) = q.ipaddr {
        params.push(pair("ipaddr", ip));
    }
    if let Some(p) = q.pushinfo {
        params.push(pair("pushinfo", p));
    }
    if let Some(t) = q.txid {
        params.push(pair("txid", t));
    }
    params
}

/// Read a final or waiting answer (`result` plus optional `status_msg`) of `/auth` or `/auth_status`.
pub fn parse_status(v: &Value, endpoint: &'static str) -> Result<AuthStatus, ResponseError> {
    let msg = v
        .get("status_msg")
        .and_then(Value::as_str)
        .map(str::to_string);
    match v.get("result").and_then(Value::as_str) {
        Some(r) if r.eq_ignore_ascii_case("allow") => Ok(AuthStatus::Allow(msg)),
        Some(r) if r.eq_ignore_ascii_case("deny") => Ok(AuthStatus::Deny(msg)),
        Some(r) if r.eq_ignore_ascii_case("waiting") => Ok(AuthStatus::Waiting(msg)),
        other => Err(ResponseError {
            endpoint,
            reason: format!(
                "unexpected result '{}'",
                other
                    .map(duo_authd_proto::one_line)
                    .unwrap_or_else(|| "none".into())
            ),
        }),
    }
}

/// Read `/auth`'s answer: a transaction to poll, or (without one) the final result.
pub fn parse_auth(v: &Value) -> Result<AuthStarted, ResponseError> {
    if let Some(txid) = v.get("txid").and_then(Value::as_str) {
        return Ok(AuthStarted::Pending {
            txid: txid.to_string(),
        });
    }
    match parse_status(v, "auth")? {
        AuthStatus::Waiting(_) => Err(ResponseError {
            endpoint: "auth",
            reason: "'waiting' without a txid to poll".into(),
        }),
        done => Ok(AuthStarted::Done(done)),
    }
}

/// Read `/ping`'s answer: Duo's clock, in seconds since the epoch.
pub fn parse_ping(v: &Value) -> Result<i64, ResponseError> {
    v.get("time").and_then(Value::as_i64).ok_or(ResponseError {
        endpoint: "ping",
        reason: "no numeric \"time\"".into(),
    })
}

impl DuoClient {
    /// `GET /auth/v2/ping` (unsigned): proves reachability and sets the clock offset used in `X-Duo-Date`.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.ping_with(self.probe_opts()).await
    }

    /// [`DuoClient::ping`] with these options.
    async fn ping_with(&self, opts: CallOpts) -> Result<(), ApiError> {
        let v = self.call(Method::GET, "/auth/v2/ping", &[], opts).await?;
        self.set_clock(parse_ping(&v)?);
        Ok(())
    }

    /// `GET /auth/v2/check`: proves the ikey, skey and clock are accepted.
    pub async fn check(&self) -> Result<(), ApiError> {
        self.call(Method::GET, "/auth/v2/check", &[], self.probe_opts())
            .await?;
        Ok(())
    }

    /// The clock offset is measured again, then `/check`: what `check --online` and the health
    /// check run. A 401 from `/check` after a good ping means the keys, not the clock.
    pub async fn probe(&self) -> Result<(), ApiError> {
        self.ping().await?;
        self.check().await
    }

    /// After a 401, measure the clock offset again: a skew that appeared since the last ping (a VM
    /// resumed, NTP stepped) is a 401 too. True if the offset changed, so the call is worth one retry.
    /// The ping is bounded by `timeout` (the failed call's own), else as `ping` is.
    async fn resync_after_401(&self, error: &ApiError, timeout: Option<Duration>) -> bool {
        if !matches!(error, ApiError::Duo(DuoError::Unauthorized { .. })) {
            return false;
        }
        let was = self.stats().clock_offset_secs;
        let mut opts = self.probe_opts();
        opts.timeout = timeout.or(opts.timeout);
        match self.ping_with(opts).await {
            Ok(()) => {
                let now = self.stats().clock_offset_secs;
                tracing::info!("Duo answered 401: clock offset re-measured ({was}s -> {now}s)");
                now != was
            }
            Err(e) => {
                tracing::warn!("Duo answered 401 and /ping failed after it: {e}");
                false
            }
        }
    }

    /// One preauth exchange.
    async fn preauth_once(
        &self,
        query: &PreauthQuery<'_>,
        timeout: Option<Duration>,
    ) -> Result<Preauth, ApiError> {
        let opts = CallOpts {
            idempotent: true,
            timeout,
        };
        let v = self
            .call(
                Method::POST,
                "/auth/v2/preauth",
                &preauth_params(query),
                opts,
            )
            .await?;
        Ok(preauth::parse(&v, query.username)?)
    }
}

impl DuoApi for DuoClient {
    /// On a 401 the clock offset is measured again and, if it moved, preauth is sent once more:
    /// preauth changes nothing at Duo, so sending it twice is safe (`/auth` never is).
    async fn preauth(
        &self,
        query: &PreauthQuery<'_>,
        timeout: Option<Duration>,
    ) -> Result<Preauth, ApiError> {
        match self.preauth_once(query, timeout).await {
            Err(e) if self.resync_after_401(&e, timeout).await => {
                self.preauth_once(query, timeout).await
            }
            done => done,
        }
    }

    async fn auth(
        &self,
        query: &AuthQuery<'_>,
        timeout: Option<Duration>,
    ) -> Result<AuthStarted, ApiError> {
        let opts = CallOpts {
            idempotent: false,
            timeout,
        };
        let v = self
            .call(Method::POST, "/auth/v2/auth", &auth_params(query), opts)
            .await;
        match v {
            Ok(v) => Ok(parse_auth(&v)?),
            Err(e) => {
                // Never re-sent (a second push); the next login gets the corrected offset.
                let e = ApiError::from(e);
                self.resync_after_401(&e, timeout).await;
                Err(e)
            }
        }
    }

    async fn auth_status(
        &self,
        txid: &str,
        timeout: Option<Duration>,
    ) -> Result<AuthStatus, ApiError> {
        let opts = CallOpts {
            idempotent: true,
            timeout,
        };
        let v = self
            .call(
                Method::GET,
                "/auth/v2/auth_status",
                &[pair("txid", txid)],
                opts,
            )
            .await;
        match v {
            Ok(v) => Ok(parse_status(&v, "auth_status")?),
            Err(e) => {
                // After preauth a failure denies: no retry here, only a fresh offset for later logins.
                let e = ApiError::from(e);
                self.resync_after_401(&e, timeout).await;
                Err(e)
            }
        }
    }

    fn stats(&self) -> DuoStatsSnapshot {
        DuoClient::stats(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth_answers() {
        assert_eq!(
            parse_auth(&json!({"txid": "t1"})).unwrap(),
            AuthStarted::Pending { txid: "t1".into() }
        );
        assert_eq!(
            parse_auth(&json!({"result": "allow", "status_msg": "ok"})).unwrap(),
            AuthStarted::Done(AuthStatus::Allow(Some("ok".into())))
        );
        assert!(parse_auth(&json!({"result": "waiting"})).is_err());
        assert!(parse_auth(&json!({})).is_err());
        assert_eq!(
            parse_status(&json!({"result": "WAITING"}), "auth_status").unwrap(),
            AuthStatus::Waiting(None)
        );
        let e = parse_status(
            &json!({"result": "bogus\u{1b}[2J\nSuccessful"}),
            "auth_status",
        )
        .unwrap_err();
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
    }

    #[test]
    fn ping_answers() {
        assert_eq!(
            parse_ping(&json!({"time": 1_700_000_000})).unwrap(),
            1_700_000_000
        );
        assert!(parse_ping(&json!({"time": "soon"})).is_err());
        assert!(parse_ping(&json!({})).is_err());
    }

    #[test]
    fn parameters_carry_the_txid_whatever_the_factor() {
        let choice = Choice::Factor("push1".into());
        let q = AuthQuery {
            username: "alice",
            choice: &choice,
            ipaddr: Some("192.0.2.1"),
            hostname: "host.example.com",
            pushinfo: None,
            txid: Some("tx-1"),
        };
        let p = auth_params(&q);
        assert!(p.contains(&pair("txid", "tx-1")));
        assert!(p.contains(&pair("prompt", "push1")));
        assert!(p.contains(&pair("async", "1")));
        let pq = PreauthQuery {
            username: "alice",
            ipaddr: None,
            hostname: "h",
            failmode: Failmode::Secure,
            verified_push: true,
        };
        let p = preauth_params(&pq);
        assert!(p.contains(&pair("failmode", "closed")));
        assert!(p.contains(&pair("client_supports_verified_push", "1")));
        assert!(!p.iter().any(|(k, _)| k == "ipaddr"));
    }
}
