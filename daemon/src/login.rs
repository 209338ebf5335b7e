//! One login conversation: who is asking, preauth, the factor prompt, `/auth` and its status, and the decision.
//!
//! The flow and every user-visible string follow duo_unix's `login_duo`; the differences are
//! deliberate and listed in the README (no re-sent `/auth`, `-h` only for root, passcodes not
//! echoed, a per-login deadline, push-fatigue limits).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use duo_authd_proto::{Decision, LoginRequest, Reason, StatusKind, Verdict};
use http::Method;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::audit::AuditRecord;
use crate::config::{Config, Failmode};
use crate::conversation::{ConvError, Conversation};
use crate::duo::{CallOpts, DuoClient, DuoError};
use crate::failmode::Fault;
use crate::fatigue::FatigueGuard;
use crate::preauth::{self, Choice, FactorKind, Menu, Preauth, PreauthError};
use crate::users::{self, Account};

/// Time kept back from the login deadline for a Duo request, so a failmode answer still arrives in time.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// A `waiting` auth_status that came back faster than this is followed by a pause, so a server that does not long-poll is not hammered.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest wait between retries after a 429 without Retry-After (login_duo's cap).
const MAX_BACKOFF: Duration = Duration::from_secs(32);

/// What every login shares: the config generation it started under, the Duo client, the fatigue guard.
#[derive(Clone)]
pub struct LoginCtx {
    /// The config in force when the login started (a reload does not change a login in flight).
    pub cfg: Arc<Config>,
    /// The pooled client for that config.
    pub duo: DuoClient,
    /// Push-fatigue limits, shared across reloads.
    pub fatigue: FatigueGuard,
    /// This host's name, sent to Duo as `hostname`.
    pub hostname: String,
    /// This host's address, for pushinfo and `fallback_local_ip`.
    pub local_ip: Option<String>,
}

/// The socket peer as the kernel reported it.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// Effective uid of the client process: the only identity we trust.
    pub uid: u32,
    /// Its pid, for logs only.
    pub pid: Option<i32>,
}

/// The end of a login: the decision to send (none if the client left) and the audit record.
#[derive(Debug)]
pub struct Outcome {
    /// What to tell the client.
    pub decision: Option<Decision>,
    /// What to log.
    pub audit: AuditRecord,
}

/// Why the flow stopped before reaching the end.
enum Stop {
    /// A decision was reached early (failmode, deny, bypass).
    Decided(Decision),
    /// The client left or misbehaved; there is nobody to answer.
    Gone(ConvError),
}

impl From<ConvError> for Stop {
    fn from(e: ConvError) -> Self {
        Stop::Gone(e)
    }
}

/// A decision with no motd and an optional message.
fn decision(verdict: Verdict, reason: Reason, message: Option<String>) -> Decision {
    Decision {
        verdict,
        reason,
        message,
        show_motd: false,
    }
}

/// Run one login to its decision.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &LoginCtx,
    conv: &mut Conversation<S>,
    peer: Peer,
    req: LoginRequest,
) -> Outcome {
    let started = Instant::now();
    conv.interactive = req.interactive;
    let mut login = Login {
        ctx,
        conv,
        deadline: started + ctx.cfg.authd.login_timeout,
        rec: AuditRecord {
            user: String::new(),
            uid: peer.uid,
            pid: peer.pid,
            client: None,
            factor: None,
            txid: None,
            verdict: Verdict::Deny,
            reason: Reason::Error,
            detail: None,
            latency: Duration::ZERO,
        },
        last_status: None,
        show_headless: false,
    };
    let result = login.flow(peer, req).await;
    let mut rec = login.rec;
    rec.latency = started.elapsed();
    let decision = match result {
        Ok(d) | Err(Stop::Decided(d)) => d,
        Err(Stop::Gone(e)) => {
            rec.verdict = Verdict::Deny;
            rec.reason = Reason::Aborted;
            rec.detail = Some(format!("client left: {e}"));
            return Outcome {
                decision: None,
                audit: rec,
            };
        }
    };
    rec.verdict = decision.verdict;
    rec.reason = decision.reason;
    if rec.detail.is_none() {
        rec.detail = decision.message.clone();
    }
    Outcome {
        decision: Some(decision),
        audit: rec,
    }
}

/// The state of one login in progress.
struct Login<'a, S> {
    /// Shared context.
    ctx: &'a LoginCtx,
    /// The client.
    conv: &'a mut Conversation<S>,
    /// When this login must be decided by.
    deadline: Instant,
    /// The audit record being filled in.
    rec: AuditRecord,
    /// The last status line shown, so repeats from long-polling are not printed twice.
    last_status: Option<String>,
    /// Send status lines to a headless client too (a Verified Duo Push attempt: its code must be seen).
    show_headless: bool,
}

/// Whether `choice` is a Verified Duo Push that preauth gave a transaction id for.
fn is_verified_push(menu: &Menu, choice: &Choice) -> bool {
    menu.txid.is_some() && matches!(choice, Choice::Prompt(p) if p.starts_with("verified_push"))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Login<'_, S> {
    /// The config of this login.
    fn cfg(&self) -> &Config {
        &self.ctx.cfg
    }

    /// The whole flow; every early exit is a [`Stop`].
    async fn flow(&mut self, peer: Peer, req: LoginRequest) -> Result<Decision, Stop> {
        let acct = self.account(peer.uid).await?;
        self.rec.user = acct.name.clone();
        if req.duo_user.is_some() && peer.uid != 0 {
            self.rec.detail =
                Some("a non-root client asked to authenticate as another Duo user (-f)".into());
            return Ok(decision(
                Verdict::Deny,
                Reason::NotPermitted,
                Some("Only root may authenticate as another Duo user (-f).".into()),
            ));
        }
        let client_ip = self.client_ip(&peer, &req);
        self.rec.client = client_ip.clone();
        let username = match &req.duo_user {
            Some(u) => u.clone(),
            None => self.duo_username(&acct)?,
        };
        self.rec.user = username.clone();

        if !self.cfg().groups.is_empty() {
            let a = acct.clone();
            let names = tokio::task::spawn_blocking(move || users::group_names(&a))
                .await
                .map_err(|e| self.local_error(format!("group lookup task failed: {e}")))?
                .map_err(|e| self.local_error(format!("Couldn't get groups: {e}")))?;
            if !crate::groups::requires_duo(&names, &self.cfg().groups) {
                self.rec.detail = Some("user is not in the configured groups".into());
                return Ok(self.allow(Reason::NotInGroups));
            }
        }

        let menu = match self.preauth(&username, client_ip.as_deref()).await? {
            Preauth::Allow { message } => {
                self.rec.detail = Some(message);
                return Ok(self.allow(Reason::Bypass));
            }
            Preauth::Deny { message } => {
                return Ok(decision(Verdict::Deny, Reason::Denied, Some(message)))
            }
            Preauth::Enroll { message } => {
                return Ok(decision(Verdict::Deny, Reason::Enroll, Some(message)))
            }
            Preauth::Auth(menu) => menu,
        };
        self.attempts(&username, client_ip.as_deref(), &req, &menu)
            .await
    }

    /// An allow decision, with the motd for interactive logins when configured (login_duo prints
    /// it after a Duo answer, not for users outside `groups`).
    fn allow(&self, reason: Reason) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            reason,
            message: None,
            show_motd: self.cfg().motd && self.conv.interactive && reason != Reason::NotInGroups,
        }
    }

    /// A local failure (NSS, internal): deny, whatever the failmode (login_duo does the same for group lookups).
    fn local_error(&mut self, detail: String) -> Stop {
        tracing::error!("{detail}");
        self.rec.detail = Some(detail);
        Stop::Decided(decision(
            Verdict::Deny,
            Reason::Error,
            Some("Duo login failed: the account could not be checked.".into()),
        ))
    }

    /// The local account behind the peer uid.
    async fn account(&mut self, uid: u32) -> Result<Account, Stop> {
        match tokio::task::spawn_blocking(move || users::account_by_uid(uid)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(self.local_error(format!("Who are you? {e}"))),
            Err(e) => Err(self.local_error(format!("account lookup task failed: {e}"))),
        }
    }

    /// The client address: `SSH_CONNECTION`, else `-h` (root only), else this host when
    /// `fallback_local_ip` (which, as in login_duo, also replaces a `-h` that is not an IP address).
    fn client_ip(&self, peer: &Peer, req: &LoginRequest) -> Option<String> {
        let from_ssh = req
            .ssh_connection
            .as_deref()
            .and_then(|s| s.split_whitespace().next())
            .filter(|s| s.parse::<IpAddr>().is_ok());
        if let Some(ip) = from_ssh {
            return Some(ip.to_string());
        }
        let fallback = self.cfg().fallback_local_ip;
        if let Some(h) = &req.client_host {
            if peer.uid == 0 {
                if fallback && h.parse::<IpAddr>().is_err() {
                    return self.ctx.local_ip.clone().or_else(|| Some(h.clone()));
                }
                return Some(h.clone());
            }
            tracing::warn!(uid = peer.uid, "ignoring -h from a non-root client");
        }
        if fallback {
            return self.ctx.local_ip.clone();
        }
        None
    }

    /// The Duo username: the login name, or a GECOS field when `send_gecos` is set.
    fn duo_username(&mut self, acct: &Account) -> Result<String, Stop> {
        if !self.cfg().send_gecos {
            return Ok(acct.name.clone());
        }
        match crate::gecos::username(
            &acct.gecos,
            self.cfg().gecos_username_pos,
            self.cfg().gecos_delim,
        ) {
            Some(u) => Ok(u),
            None => {
                tracing::warn!(user = %acct.name, "GECOS field has no usable username; using the login name");
                Ok(acct.name.clone())
            }
        }
    }

    /// Send a status line unless it repeats the previous one. A headless client (one automatic
    /// attempt, like login_duo's quiet non-interactive mode) gets only a Verified Push's lines,
    /// which its shim prints on stderr so the code reaches the user.
    async fn status(&mut self, text: &str) -> Result<(), Stop> {
        if !self.conv.interactive && !self.show_headless {
            return Ok(());
        }
        if self.last_status.as_deref() != Some(text) {
            self.last_status = Some(text.to_string());
            let kind = if self.show_headless {
                StatusKind::MustSee
            } else {
                StatusKind::Progress
            };
            self.conv.status(text, kind).await?;
        }
        Ok(())
    }

    /// Turn a Duo fault into the failmode decision, recording why.
    fn fault(&mut self, f: Fault) -> Stop {
        tracing::warn!(user = %self.rec.user, "Duo request failed: {f}");
        self.rec.detail = Some(f.to_string());
        Stop::Decided(f.decide(self.cfg().failmode))
    }

    /// A deny because the login ran out of time.
    fn timed_out(&mut self) -> Stop {
        self.rec.detail = Some("login deadline reached".into());
        Stop::Decided(decision(
            Verdict::Deny,
            Reason::Aborted,
            Some("Authentication timed out.".into()),
        ))
    }

    /// Call Duo with the login's deadline, 429 back-off with status lines, and client-departure detection.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        params: &[(String, String)],
        idempotent: bool,
        waits_for_user: bool,
    ) -> Result<Value, Stop> {
        let mut backoff = Duration::from_secs(1);
        loop {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            // A request that waits on the user (auth_status) may use all the time left; others keep a margin
            // so that a silent network still gets the failmode answer before the deadline.
            let budget = if waits_for_user {
                remaining
            } else {
                let b = remaining.saturating_sub(DEADLINE_MARGIN);
                match self.cfg().https_timeout {
                    Some(t) => b.min(t),
                    None => b,
                }
            };
            if budget.is_zero() {
                return Err(self.timed_out());
            }
            let opts = CallOpts {
                idempotent,
                timeout: Some(budget),
            };
            let result = self
                .conv
                .guard(self.ctx.duo.call(method.clone(), path, params, opts))
                .await?;
            match result {
                Ok(v) => return Ok(v),
                Err(DuoError::Timeout { .. })
                    if waits_for_user && Instant::now() + DEADLINE_MARGIN >= self.deadline =>
                {
                    return Err(self.timed_out())
                }
                Err(DuoError::RateLimited { retry_after }) => {
                    let jitter = Duration::from_millis(rand::random::<u64>() % 1000);
                    let wait = retry_after.unwrap_or(backoff + jitter);
                    if Instant::now() + wait + DEADLINE_MARGIN >= self.deadline {
                        return Err(self.fault(Fault::Duo(DuoError::RateLimited { retry_after })));
                    }
                    self.status(&format!(
                        "Rate-limiting response received from server. Waiting for {} seconds before retrying.",
                        wait.as_secs().max(1)
                    ))
                    .await?;
                    self.conv.guard(tokio::time::sleep(wait)).await?;
                    if retry_after.is_none() {
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                Err(e) => return Err(self.fault(Fault::Duo(e))),
            }
        }
    }

    /// `/auth/v2/preauth` with `text_prompt=1`, parsed.
    async fn preauth(&mut self, username: &str, ip: Option<&str>) -> Result<Preauth, Stop> {
        let mut params = vec![
            ("username".to_string(), username.to_string()),
            ("text_prompt".to_string(), "1".to_string()),
            ("hostname".to_string(), self.ctx.hostname.clone()),
            (
                "failmode".to_string(),
                match self.cfg().failmode {
                    Failmode::Safe => "open",
                    Failmode::Secure => "closed",
                }
                .to_string(),
            ),
        ];
        if let Some(ip) = ip {
            params.push(("ipaddr".into(), ip.into()));
        }
        if self.cfg().verified_push {
            params.push(("client_supports_verified_push".into(), "1".into()));
        }
        let v = self
            .call(Method::POST, "/auth/v2/preauth", &params, true, false)
            .await?;
        preauth::parse(&v, username).map_err(|e| self.fault(Fault::Response(e)))
    }

    /// Up to `prompts` attempts (one when headless), the first automatic for headless and autopush logins.
    async fn attempts(
        &mut self,
        username: &str,
        ip: Option<&str>,
        req: &LoginRequest,
        menu: &Menu,
    ) -> Result<Decision, Stop> {
        let interactive = self.conv.interactive;
        let tries = if interactive {
            self.cfg().prompts.max(1)
        } else {
            1
        };
        let mut env_passcode = if self.cfg().accept_env_factor {
            req.env_passcode.clone().filter(|p| !p.is_empty())
        } else {
            None
        };
        let mut last_msg = None;
        for attempt in 0..tries {
            // Each attempt shows its own outcome, even if it repeats the last one's words.
            self.last_status = None;
            self.show_headless = false;
            let choice = if let Some(p) = env_passcode.take() {
                self.status("Reading $DUO_PASSCODE...").await?;
                menu.resolve(p.trim())
            } else if !interactive || (attempt == 0 && self.cfg().autopush) {
                self.show_headless = is_verified_push(menu, &menu.default);
                self.status(menu.default.auto_message()).await?;
                menu.default.clone()
            } else {
                let answer = self
                    .conv
                    .prompt(&menu.text, false, self.deadline)
                    .await
                    .map_err(|e| match e {
                        ConvError::Timeout => self.timed_out(),
                        other => Stop::Gone(other),
                    })?;
                let answer = answer.trim();
                if answer.is_empty() {
                    self.status("No option or passcode entered.").await?;
                    continue;
                }
                menu.resolve(answer)
            };
            self.show_headless = is_verified_push(menu, &choice);
            self.rec.factor = Some(choice.label());
            // Held until this attempt ends: dropping it frees the user's push slot even if the client leaves.
            let _ticket = match choice.kind() {
                FactorKind::OutOfBand => match self.ctx.fatigue.begin_push(username) {
                    Ok(t) => Some(t),
                    Err(refusal) => return Ok(self.refused(refusal)),
                },
                FactorKind::Passcode => match self.ctx.fatigue.passcode(username) {
                    Ok(()) => None,
                    Err(refusal) => return Ok(self.refused(refusal)),
                },
                FactorKind::Sms => None,
            };
            match self.authenticate(username, ip, req, menu, &choice).await? {
                (true, _) => return Ok(self.allow(Reason::Authenticated)),
                (false, msg) => {
                    tracing::warn!(target: "audit", user = %username, factor = %choice.label(), "Failed Duo login attempt {}/{}: {}", attempt + 1, tries, msg.as_deref().unwrap_or(""));
                    last_msg = msg;
                }
            }
        }
        Ok(decision(
            Verdict::Deny,
            Reason::Denied,
            if interactive { None } else { last_msg },
        ))
    }

    /// A deny from the push-fatigue guard, audited with its reason.
    fn refused(&mut self, refusal: crate::fatigue::Refusal) -> Decision {
        self.rec.detail = Some(refusal.to_string());
        decision(
            Verdict::Deny,
            Reason::RateLimited,
            Some(refusal.to_string()),
        )
    }

    /// `/auth` (never re-sent) then `/auth_status` until Duo answers; true when allowed.
    async fn authenticate(
        &mut self,
        username: &str,
        ip: Option<&str>,
        req: &LoginRequest,
        menu: &Menu,
        choice: &Choice,
    ) -> Result<(bool, Option<String>), Stop> {
        let mut params = vec![
            ("username".to_string(), username.to_string()),
            ("async".to_string(), "1".to_string()),
            ("hostname".to_string(), self.ctx.hostname.clone()),
        ];
        params.extend(choice.params());
        if let Some(ip) = ip {
            params.push(("ipaddr".into(), ip.into()));
        }
        if self.cfg().pushinfo {
            params.push(("pushinfo".into(), self.pushinfo(req)));
        }
        // Preauth's Verified Push transaction goes back only with the verified push itself.
        if let (Some(txid), true) = (&menu.txid, is_verified_push(menu, choice)) {
            params.push(("txid".into(), txid.clone()));
        }
        let v = self
            .call(Method::POST, "/auth/v2/auth", &params, false, false)
            .await?;
        drop(params);
        let txid = match v.get("txid").and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None => return self.result_of(&v).await,
        };
        // Polling can last a minute and thousands of logins may be doing it at once: keep only the txid.
        drop(v);
        self.rec.txid = Some(txid.clone());
        // login_duo prints an empty line between the prompt and the status lines.
        if self.conv.interactive {
            self.conv.status("", StatusKind::Progress).await?;
        }
        let q = [("txid".to_string(), txid)];
        loop {
            let polled = Instant::now();
            let v = self
                .call(Method::GET, "/auth/v2/auth_status", &q, true, true)
                .await?;
            if v.get("result").and_then(Value::as_str) == Some("waiting") {
                let msg = v
                    .get("status_msg")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                drop(v);
                if let Some(msg) = msg {
                    self.status(&msg).await?;
                }
                let since = polled.elapsed();
                if since < MIN_POLL_INTERVAL {
                    self.conv
                        .guard(tokio::time::sleep(MIN_POLL_INTERVAL - since))
                        .await?;
                }
                continue;
            }
            return self.result_of(&v).await;
        }
    }

    /// Read a final `allow`/`deny` answer, showing its status line.
    async fn result_of(&mut self, v: &Value) -> Result<(bool, Option<String>), Stop> {
        let msg = v
            .get("status_msg")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(m) = &msg {
            self.status(m).await?;
        }
        match v.get("result").and_then(Value::as_str) {
            Some("allow") => Ok((true, msg)),
            Some("deny") => Ok((false, msg)),
            other => {
                let what = other
                    .map(duo_authd_proto::sanitize)
                    .unwrap_or_else(|| "none".into());
                Err(self.fault(Fault::Response(PreauthError(format!(
                    "unexpected auth result '{what}'"
                )))))
            }
        }
    }

    /// Duo's pushinfo: `Server+IP=...&Command=...`, itself form-encoded (so it is encoded twice on the wire).
    fn pushinfo(&self, req: &LoginRequest) -> String {
        let server_ip = req
            .ssh_connection
            .as_deref()
            .and_then(|s| s.split_whitespace().nth(2))
            .filter(|s| s.parse::<IpAddr>().is_ok())
            .map(str::to_string)
            .or_else(|| self.ctx.local_ip.clone())
            .unwrap_or_default();
        let command = req.command.as_deref().unwrap_or("");
        format!(
            "Server+IP={}&Command={}",
            crate::signing::encode(&server_ip),
            crate::signing::encode(command)
        )
    }
}
