//! Test support: a scripted Duo API and a client for in-memory conversations, so the login, the
//! failmode rule and the server are tested in-process, without root and without a network.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use duo_authd_proto::{self as proto, ClientMsg, LoginRequest, ServerMsg};
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, DuplexStream};
use tokio_util::codec::FramedRead;

use crate::config::Config;
use crate::duo::api::{ApiError, AuthQuery, AuthStarted, AuthStatus, DuoApi, PreauthQuery};
use crate::duo::preauth::{self, Preauth};
use crate::duo::DuoError;
use crate::fatigue::FatigueGuard;
use crate::login::LoginCtx;
use crate::ratelimit::UidRate;

/// What the fake does for one call.
#[derive(Debug, Clone)]
pub enum Step<T> {
    /// Answer this.
    Reply(T),
    /// Fail with this.
    Fail(ApiError),
    /// Never answer: the call's timeout fires (as the real client's does), or it waits forever.
    Hang,
    /// Wait, then do the next step.
    After(Duration, Box<Step<T>>),
    /// Panic (a bug in the daemon's Duo layer).
    Panic,
}

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// preauth, auth or auth_status.
    pub endpoint: &'static str,
    /// The form parameters as the real client would send them.
    pub params: Vec<(String, String)>,
    /// The time the login allowed this call.
    pub timeout: Option<Duration>,
}

impl Call {
    /// One parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The script and the record.
#[derive(Debug, Default)]
struct Script {
    preauth: VecDeque<Step<Preauth>>,
    auth: VecDeque<Step<AuthStarted>>,
    status: VecDeque<Step<AuthStatus>>,
    calls: Vec<Call>,
}

/// A Duo API that answers from a script; an unscripted call fails as if Duo were unreachable.
#[derive(Debug, Clone, Default)]
pub struct FakeDuo(Arc<Mutex<Script>>);

impl FakeDuo {
    /// Lock the script.
    fn script(&self) -> MutexGuard<'_, Script> {
        crate::sync::lock(&self.0)
    }

    /// Script the next preauth.
    pub fn preauth(&self, step: Step<Preauth>) -> &Self {
        self.script().preauth.push_back(step);
        self
    }

    /// Script the next `/auth`.
    pub fn auth(&self, step: Step<AuthStarted>) -> &Self {
        self.script().auth.push_back(step);
        self
    }

    /// Script the next `/auth_status`.
    pub fn status(&self, step: Step<AuthStatus>) -> &Self {
        self.script().status.push_back(step);
        self
    }

    /// The calls received so far.
    pub fn calls(&self) -> Vec<Call> {
        self.script().calls.clone()
    }

    /// How many calls went to `endpoint`.
    pub fn count(&self, endpoint: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.endpoint == endpoint)
            .count()
    }

    /// Play one step.
    async fn play<T>(mut step: Step<T>, timeout: Option<Duration>) -> Result<T, ApiError> {
        let work = async move {
            loop {
                match step {
                    Step::Reply(v) => return Ok(v),
                    Step::Fail(e) => return Err(e),
                    Step::Hang => std::future::pending::<()>().await,
                    Step::After(d, next) => {
                        tokio::time::sleep(d).await;
                        step = *next;
                    }
                    Step::Panic => panic!("scripted panic in the Duo layer"),
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, work).await.unwrap_or_else(|_| {
                Err(ApiError::Duo(DuoError::Timeout {
                    host: "fake".into(),
                    after: t,
                }))
            }),
            None => work.await,
        }
    }

    /// Record a call and take its step.
    fn take<T>(
        &self,
        endpoint: &'static str,
        params: Vec<(String, String)>,
        timeout: Option<Duration>,
        pick: impl FnOnce(&mut Script) -> Option<Step<T>>,
    ) -> Step<T> {
        let mut s = self.script();
        s.calls.push(Call {
            endpoint,
            params,
            timeout,
        });
        pick(&mut s).unwrap_or_else(|| Step::Fail(connect_error()))
    }
}

impl DuoApi for FakeDuo {
    async fn preauth(
        &self,
        q: &PreauthQuery<'_>,
        timeout: Option<Duration>,
    ) -> Result<Preauth, ApiError> {
        let step = self.take(
            "preauth",
            crate::duo::api::preauth_params(q),
            timeout,
            |s| s.preauth.pop_front(),
        );
        Self::play(step, timeout).await
    }

    async fn auth(
        &self,
        q: &AuthQuery<'_>,
        timeout: Option<Duration>,
    ) -> Result<AuthStarted, ApiError> {
        let step = self.take("auth", crate::duo::api::auth_params(q), timeout, |s| {
            s.auth.pop_front()
        });
        Self::play(step, timeout).await
    }

    async fn auth_status(
        &self,
        txid: &str,
        timeout: Option<Duration>,
    ) -> Result<AuthStatus, ApiError> {
        let params = vec![("txid".to_string(), txid.to_string())];
        let step = self.take("auth_status", params, timeout, |s| s.status.pop_front());
        Self::play(step, timeout).await
    }
}

/// Duo cannot be reached.
pub fn connect_error() -> ApiError {
    ApiError::Duo(DuoError::Connect {
        host: "fake".into(),
        reason: "Connection refused".into(),
    })
}

/// A text-prompt menu like Duo's (push1, phone1, sms1), with an optional Verified Push txid.
pub fn auth_menu(txid: Option<&str>) -> Preauth {
    let mut v = serde_json::json!({
        "result": "auth",
        "status_msg": "Account is active",
        "prompt": {
            "text": "Duo two-factor login for alice\n\n 1. Duo Push\n 2. Phone call\n 3. SMS\n\nPasscode or option (1-3): ",
            "factors": {"1": "push1", "2": "phone1", "3": "sms1", "default": "push1"}
        }
    });
    if let Some(t) = txid {
        v["txid"] = t.into();
    }
    match preauth::parse(&v, "alice") {
        Ok(p) => p,
        Err(e) => panic!("test menu does not parse: {e}"),
    }
}

/// A config for tests: login_duo's defaults plus `extra` TOML lines.
pub fn config(extra: &str) -> Config {
    let text = format!(
        "ikey = \"DIXYZV6YM8IFYVWBINCA\"\nskey = \"yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\"\nhost = \"api-test.duosecurity.com\"\n{extra}"
    );
    match Config::from_toml_text(&text, Path::new("/test/authd.toml")) {
        Ok(c) => c,
        Err(e) => panic!("test config: {e}"),
    }
}

/// A login context around `duo` and `cfg`.
pub fn ctx(duo: FakeDuo, cfg: Config) -> LoginCtx<FakeDuo> {
    LoginCtx {
        fatigue: FatigueGuard::new(cfg.authd.push_limit as usize, cfg.authd.push_window),
        rate: Arc::new(UidRate::new(cfg.authd.preauth_rate)),
        cfg: Arc::new(cfg),
        duo,
        hostname: "host.example.com".into(),
        local_ip: Some("192.0.2.2".into()),
    }
}

/// A request as the shim sends it.
pub fn request(interactive: bool) -> LoginRequest {
    LoginRequest {
        duo_user: None,
        client_host: None,
        ssh_connection: Some("192.0.2.1 50000 192.0.2.2 22".into()),
        command: None,
        interactive,
        env_passcode: None,
        service: None,
    }
}

/// The client end of an in-memory conversation.
pub struct Client {
    /// Frames from the daemon.
    read: FramedRead<tokio::io::ReadHalf<DuplexStream>, tokio_util::codec::LengthDelimitedCodec>,
    /// Frames to the daemon.
    write: tokio::io::WriteHalf<DuplexStream>,
}

impl Client {
    /// Wrap one end of a duplex pipe.
    pub fn new(stream: DuplexStream) -> Client {
        let (r, w) = tokio::io::split(stream);
        Client {
            read: FramedRead::new(r, crate::conversation::codec()),
            write: w,
        }
    }

    /// The next message, or `None` when the daemon closed the connection.
    pub async fn next(&mut self) -> Option<ServerMsg> {
        match self.read.next().await {
            Some(Ok(bytes)) => match proto::decode(&bytes) {
                Ok(m) => Some(m),
                Err(e) => panic!("undecodable frame from the daemon: {e}"),
            },
            _ => None,
        }
    }

    /// Send a message.
    pub async fn send(&mut self, msg: &ClientMsg) {
        let frame = match proto::encode(msg) {
            Ok(f) => f,
            Err(e) => panic!("cannot encode {msg:?}: {e}"),
        };
        if let Err(e) = self.write.write_all(&frame).await {
            panic!("cannot write to the daemon: {e}");
        }
    }

    /// Answer a prompt.
    pub async fn answer(&mut self, text: &str) {
        self.send(&ClientMsg::Answer { text: text.into() }).await;
    }
}
