//! One login conversation: who is asking, preauth, the factor prompt, `/auth` and its status, and
//! the decision, in typed answers ([`crate::duo::api`]) and never in HTTP.
//!
//! Every failure is sorted by [`failmode::rule`] with the stage it happened at. Failmode answers
//! one question only, "Duo could not be asked whether this user needs a second factor", so only a
//! preauth that could not get an answer can end in a failsafe allow; once preauth has answered
//! `auth`, a timeout, a 5xx, bad JSON, a dropped connection, the deadline or an idle timeout all
//! deny, whatever `failmode` says.
//!
//! The flow and every user-visible string follow duo_unix's `login_duo`; the differences are
//! deliberate and listed in docs/PARITY.md.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use duo_authd_proto::{
    self as proto, Decision, LoginRequest, Reason, StatusKind, Verdict, MAX_NAME,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::audit::{AuditRecord, Headline};
use crate::config::Config;
use crate::conversation::{ConvError, Conversation};
use crate::duo::api::{ApiError, AuthQuery, AuthStarted, AuthStatus, DuoApi, PreauthQuery};
use crate::duo::preauth::{Choice, FactorKind, Menu, Preauth};
use crate::duo::{DuoClient, DuoError, MAX_RETRY_AFTER};
use crate::failmode::{self, Failmode, Rule, Stage};
use crate::fatigue::{FatigueGuard, PushTicket, Refusal};
use crate::ratelimit::UidRate;
use crate::users::{self, Account};

/// Time kept back from the login deadline for the preauth, so a silent network still gets its
/// failmode answer before the deadline.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// A `waiting` auth_status that came back faster than this is followed by a pause, so a server that does not long-poll is not hammered.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest wait between retries after a 429 without Retry-After (login_duo's cap).
const MAX_BACKOFF: Duration = Duration::from_secs(32);

/// What every login shares: the config generation it started under, the Duo API, the limits.
pub struct LoginCtx<A = DuoClient> {
    /// The config in force when the login started (a reload does not change a login in flight).
    pub cfg: Arc<Config>,
    /// The Duo API for that config.
    pub duo: A,
    /// Push-fatigue limits, shared across reloads.
    pub fatigue: FatigueGuard,
    /// Logins that reach Duo, per uid, shared across reloads.
    pub rate: Arc<UidRate>,
    /// This host's fully qualified name, sent to Duo as `hostname`.
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
    /// Whether the peer caused this itself by over-using the daemon (its line is rate-limited).
    pub noisy: bool,
}

/// Why the flow stopped before reaching the end.
enum Stop {
    /// A decision was reached early (failmode, deny, bypass); the audit record says why.
    Decided(Decision),
    /// The client left or misbehaved; there is nobody to answer.
    Gone(ConvError),
}

impl From<ConvError> for Stop {
    fn from(e: ConvError) -> Self {
        Stop::Gone(e)
    }
}

/// How one factor attempt ended.
enum Attempt {
    /// Duo allowed it.
    Allowed,
    /// Duo refused it (a deny, a wrong passcode, `stat: FAIL`): the next attempt may follow.
    Denied(Option<String>),
}

/// What the user is told when the daemon cannot evaluate the login.
const FAILED: &str = "Duo two-factor authentication failed; login denied.";

/// Run one login to its decision.
pub async fn run<A: DuoApi, S: AsyncRead + AsyncWrite + Unpin>(
    ctx: &LoginCtx<A>,
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
        rec: AuditRecord::new(peer.uid, peer.pid),
        last_status: None,
        must_see: false,
        gone: None,
        noisy: false,
    };
    let result = login.flow(peer, req).await;
    let mut rec = login.rec;
    let noisy = login.noisy;
    rec.latency = started.elapsed();
    match result {
        Ok(d) | Err(Stop::Decided(d)) => Outcome {
            decision: Some(d),
            audit: rec,
            noisy,
        },
        Err(Stop::Gone(e)) => {
            rec.headline = Headline::Aborted;
            rec.verdict = Verdict::Deny;
            rec.reason = Reason::Aborted;
            let left = format!("client left: {e}");
            rec.detail = Some(match rec.detail.take() {
                Some(d) => format!("{left}; {d}"),
                None => left,
            });
            Outcome {
                decision: None,
                audit: rec,
                noisy,
            }
        }
    }
}

/// The state of one login in progress.
struct Login<'a, A, S> {
    /// Shared context.
    ctx: &'a LoginCtx<A>,
    /// The client.
    conv: &'a mut Conversation<S>,
    /// When this login must be decided by.
    deadline: Instant,
    /// The audit record being filled in.
    rec: AuditRecord,
    /// The last status line shown, so repeats from long-polling are not printed twice.
    last_status: Option<String>,
    /// Status lines of this attempt must be seen (a Verified Duo Push code), even headless.
    must_see: bool,
    /// Set when the client left while a push it started was still pending with Duo.
    gone: Option<ConvError>,
    /// The peer caused this outcome by over-using the daemon.
    noisy: bool,
}

/// Why a login request is refused before anything is looked up.
fn check_request(req: &LoginRequest) -> Result<(), &'static str> {
    let name_ok =
        |s: &str| !s.is_empty() && s.len() <= MAX_NAME && !s.chars().any(char::is_control);
    if req.duo_user.as_deref().is_some_and(|u| !name_ok(u)) {
        return Err("the Duo user name (-f) is empty, too long or holds control characters");
    }
    for (what, v) in [
        ("the client address (-h)", &req.client_host),
        ("SSH_CONNECTION", &req.ssh_connection),
        ("the PAM service", &req.service),
    ] {
        if v.as_deref().is_some_and(|s| s.len() > MAX_NAME) {
            return Err(what);
        }
    }
    Ok(())
}

impl<A: DuoApi, S: AsyncRead + AsyncWrite + Unpin> Login<'_, A, S> {
    /// The config of this login.
    fn cfg(&self) -> &Config {
        &self.ctx.cfg
    }

    /// Record the outcome in the audit record and build the decision.
    fn decide(
        &mut self,
        headline: Headline,
        verdict: Verdict,
        reason: Reason,
        message: Option<String>,
    ) -> Decision {
        self.rec.headline = headline;
        self.rec.verdict = verdict;
        self.rec.reason = reason;
        if self.rec.detail.is_none() {
            self.rec.detail.clone_from(&message);
        }
        // login_duo prints the motd after every allow of an interactive login but a failsafe one.
        let show_motd = verdict == Verdict::Allow
            && reason != Reason::FailSafe
            && self.cfg().motd
            && self.conv.interactive;
        Decision {
            verdict,
            reason,
            message,
            show_motd,
        }
    }

    /// A deny, with what to tell the user.
    fn deny(&mut self, headline: Headline, reason: Reason, message: &str) -> Decision {
        self.decide(headline, Verdict::Deny, reason, Some(message.to_string()))
    }

    /// The whole flow; every early exit is a [`Stop`].
    async fn flow(&mut self, peer: Peer, req: LoginRequest) -> Result<Decision, Stop> {
        self.rec.service = req.service.clone();
        if let Err(what) = check_request(&req) {
            self.rec.user = req
                .duo_user
                .as_deref()
                .map(|u| proto::truncate(u, MAX_NAME).to_string())
                .unwrap_or_default();
            self.rec.detail = Some(format!("malformed login request: {what}"));
            return Ok(self.deny(Headline::Aborted, Reason::Error, FAILED));
        }
        let acct = self.account(peer.uid).await?;
        self.rec.user.clone_from(&acct.name);
        let username = match &req.duo_user {
            // Root (sshd's `command="duo-login -f alice"`, su, sudo's PAM stack) may name anyone.
            Some(u) if peer.uid == 0 => u.clone(),
            // Anyone may name themselves (the PAM module always names the PAM user).
            Some(u) if *u == acct.name => u.clone(),
            Some(u) => {
                self.rec.user = u.clone();
                self.rec.account = Some(acct.name.clone());
                self.rec.detail = Some(format!(
                    "uid {} may not authenticate as another Duo user (-f); only root may",
                    peer.uid
                ));
                return Ok(self.deny(
                    Headline::Aborted,
                    Reason::NotPermitted,
                    "Only root may authenticate as another Duo user (-f).",
                ));
            }
            None => self.duo_username(&acct),
        };
        if username != acct.name {
            self.rec.account = Some(acct.name.clone());
        }
        self.rec.user.clone_from(&username);
        let client_ip = self.client_ip(&peer, &req);
        self.rec.client.clone_from(&client_ip);

        if !self.cfg().groups.is_empty() {
            let a = acct.clone();
            let names = match tokio::task::spawn_blocking(move || users::group_names(&a)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(self.local_error(format!("Couldn't get groups: {e}"))),
                Err(e) => return Err(self.local_error(format!("group lookup failed: {e}"))),
            };
            if !crate::groups::requires_duo(&names, &self.cfg().groups) {
                // login_duo's words, so its log searches keep matching.
                self.rec.detail = Some(format!(
                    "User {username} bypassed Duo 2FA due to user's UNIX group (not in groups)"
                ));
                return Ok(self.decide(
                    Headline::Skipped,
                    Verdict::Allow,
                    Reason::NotInGroups,
                    None,
                ));
            }
        }

        if let Err(secs) = self.ctx.rate.take(peer.uid) {
            self.noisy = true;
            self.rec.detail = Some(format!(
                "uid {} is over [authd] preauth_rate; refused without asking Duo",
                peer.uid
            ));
            return Ok(self.deny(
                Headline::Aborted,
                Reason::RateLimited,
                &format!("Too many Duo logins from this account; try again in {secs} seconds."),
            ));
        }

        match self.preauth(&username, client_ip.as_deref()).await? {
            Preauth::Allow { message } => {
                self.rec.detail = Some(message);
                Ok(self.decide(Headline::Skipped, Verdict::Allow, Reason::Bypass, None))
            }
            Preauth::Deny { message } => Ok(self.decide(
                Headline::Aborted,
                Verdict::Deny,
                Reason::Denied,
                Some(message),
            )),
            Preauth::Enroll { message } => {
                self.rec.detail = Some("User enrollment required".into());
                Ok(self.decide(
                    Headline::Aborted,
                    Verdict::Deny,
                    Reason::Enroll,
                    Some(message),
                ))
            }
            Preauth::AuthUnusable { reason } => {
                // Duo said a second factor is needed: whatever goes wrong now denies.
                self.rec.detail = Some(format!(
                    "Duo requires a second factor but its preauth answer has no usable menu: {reason}"
                ));
                Ok(self.deny(Headline::Error, Reason::Error, FAILED))
            }
            Preauth::Auth { menu, txid } => {
                self.attempts(
                    &username,
                    client_ip.as_deref(),
                    &req,
                    &menu,
                    txid.as_deref(),
                )
                .await
            }
        }
    }

    /// A local failure (NSS, internal): deny, whatever the failmode (login_duo does the same for group lookups).
    fn local_error(&mut self, detail: String) -> Stop {
        tracing::error!("login of uid {}: {detail}", self.rec.uid);
        self.rec.detail = Some(detail);
        Stop::Decided(self.deny(
            Headline::Error,
            Reason::Error,
            "Duo login failed: the account could not be checked.",
        ))
    }

    /// The local account behind the peer uid.
    async fn account(&mut self, uid: u32) -> Result<Account, Stop> {
        match tokio::task::spawn_blocking(move || users::account_by_uid(uid)).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => Err(self.local_error(format!("Who are you? {e}"))),
            Err(e) => Err(self.local_error(format!("account lookup failed: {e}"))),
        }
    }

    /// The client address: `SSH_CONNECTION`, else `-h` (root only), else this host when
    /// `fallback_local_ip` (which, as in login_duo, also replaces a remote address that is not
    /// an IP address, with login_duo's warning).
    fn client_ip(&self, peer: &Peer, req: &LoginRequest) -> Option<String> {
        let host = req.client_host.as_deref().filter(|_| {
            if peer.uid != 0 && req.client_host.is_some() {
                tracing::debug!(uid = peer.uid, "ignoring -h from a non-root client");
            }
            peer.uid == 0
        });
        let (ip, replaced) = client_address(
            req.ssh_connection.as_deref(),
            host,
            self.cfg().fallback_local_ip,
            self.ctx.local_ip.as_deref(),
        );
        if let Some(remote) = replaced {
            tracing::warn!(
                user = ?self.rec.user,
                "fallback_local_ip is replacing the remote client address with this server's IP; the address reported to Duo is not the client's (from {})",
                proto::log_word(&remote)
            );
        }
        ip
    }

    /// The Duo username: the login name, or a GECOS field when `send_gecos` is set.
    fn duo_username(&self, acct: &Account) -> String {
        if !self.cfg().send_gecos {
            return acct.name.clone();
        }
        match crate::gecos::username(
            &acct.gecos,
            self.cfg().gecos_username_pos,
            self.cfg().gecos_delim,
        ) {
            Some(u) => u,
            None => {
                tracing::warn!(
                    user = ?acct.name,
                    "GECOS field has no usable username; using the login name"
                );
                acct.name.clone()
            }
        }
    }

    /// Send a status line unless it repeats the previous one or nobody may see it. A headless
    /// client (one automatic attempt, like login_duo's quiet mode) gets only what it must see.
    async fn status(&mut self, text: &str) -> Result<(), Stop> {
        if self.gone.is_some() || (!self.conv.interactive && !self.must_see) {
            return Ok(());
        }
        if self.last_status.as_deref() != Some(text) {
            self.last_status = Some(text.to_string());
            let kind = if self.must_see {
                StatusKind::MustSee
            } else {
                StatusKind::Progress
            };
            self.conv.status(text, kind).await?;
        }
        Ok(())
    }

    /// Sort a failed call by the failmode rule and decide (for [`Rule::Refused`] during the factor
    /// stage the caller counts a failed attempt instead).
    fn fault(&mut self, stage: Stage, err: &ApiError) -> Stop {
        tracing::warn!(user = ?self.rec.user, "Duo request failed: {err}");
        self.rec.detail = Some(err.to_string());
        let d = match (failmode::rule(stage, err.class()), self.cfg().failmode) {
            (Rule::Failmode, Failmode::Safe) => {
                self.decide(Headline::Failsafe, Verdict::Allow, Reason::FailSafe, None)
            }
            (Rule::Failmode, Failmode::Secure) => self.deny(
                Headline::Failsecure,
                Reason::FailSecure,
                "Duo two-factor authentication is unavailable; login denied.",
            ),
            (Rule::Refused, _) => {
                // login_duo: a `stat: FAIL` is a failed login, another HTTP 4xx an aborted one.
                let headline = if err.class() == crate::duo::ErrorClass::StatFail {
                    Headline::Failed
                } else {
                    Headline::Aborted
                };
                self.deny(headline, Reason::Denied, FAILED)
            }
            (Rule::Deny, _) => self.deny(Headline::Error, Reason::Error, FAILED),
        };
        Stop::Decided(d)
    }

    /// Whether `e` is a call cut off by the login deadline itself (rather than by `https_timeout`).
    fn at_deadline(&self, e: &ApiError) -> bool {
        e.class() == crate::duo::ErrorClass::Timeout && Instant::now() >= self.deadline
    }

    /// A deny because the login ran out of time after the user was asked.
    fn timed_out(&mut self) -> Stop {
        self.rec.detail = Some(format!(
            "login deadline reached ([authd] login_timeout = {}s)",
            self.cfg().authd.login_timeout.as_secs()
        ));
        Stop::Decided(self.deny(
            Headline::Aborted,
            Reason::Aborted,
            "Authentication timed out.",
        ))
    }

    /// After a 429: tell the user, wait as Duo asked (or back off), or give up at the deadline.
    /// `keep` is true while a push may be pending, so a departing client does not cut the wait.
    async fn back_off(
        &mut self,
        retry_after: Option<Duration>,
        backoff: &mut Duration,
        stage: Stage,
        err: &ApiError,
        keep: bool,
    ) -> Result<(), Stop> {
        let jitter = Duration::from_millis(rand::random::<u64>() % 1000);
        // Jittered either way, as login_duo does, so logins refused together do not retry together.
        let wait = retry_after
            .map(|d| d.min(MAX_RETRY_AFTER))
            .unwrap_or(*backoff)
            + jitter;
        let past_deadline = Instant::now()
            .checked_add(wait + DEADLINE_MARGIN)
            .is_none_or(|t| t >= self.deadline);
        if past_deadline {
            return Err(self.fault(stage, err));
        }
        self.status(&format!(
            "Rate-limiting response received from server. Waiting for {} seconds before retrying.",
            wait.as_secs().max(1)
        ))
        .await?;
        self.pause(wait, keep).await?;
        if retry_after.is_none() {
            *backoff = (*backoff * 2).min(MAX_BACKOFF);
        }
        Ok(())
    }

    /// Sleep; a client leaving ends the login unless `keep` (a push of its may be pending).
    async fn pause(&mut self, wait: Duration, keep: bool) -> Result<(), Stop> {
        if self.gone.is_some() {
            tokio::time::sleep(wait).await;
        } else if keep {
            let ((), gone) = self.conv.watch(tokio::time::sleep(wait)).await;
            self.gone = gone;
        } else {
            self.conv.guard(tokio::time::sleep(wait)).await?;
        }
        Ok(())
    }

    /// `/auth/v2/preauth`, retried after 429s; what cannot get an answer is sorted by the failmode rule.
    async fn preauth(&mut self, username: &str, ip: Option<&str>) -> Result<Preauth, Stop> {
        let hostname = self.ctx.hostname.clone();
        let query = PreauthQuery {
            username,
            ipaddr: ip,
            hostname: &hostname,
            failmode: self.cfg().failmode,
            verified_push: self.cfg().verified_push,
        };
        let mut backoff = Duration::from_secs(1);
        loop {
            // Nobody has been prompted yet: a preauth that cannot answer before the deadline is
            // a Duo-unreachable case, decided with time to spare.
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let mut budget = remaining.saturating_sub(DEADLINE_MARGIN);
            if let Some(t) = self.cfg().https_timeout {
                budget = budget.min(t);
            }
            if budget.is_zero() {
                let err = ApiError::Duo(DuoError::Timeout {
                    host: self.cfg().host.authority(),
                    after: self.cfg().authd.login_timeout,
                });
                return Err(self.fault(Stage::Preauth, &err));
            }
            let result = self
                .conv
                .guard(self.ctx.duo.preauth(&query, Some(budget)))
                .await?;
            match result {
                Ok(p) => return Ok(p),
                Err(e) => match e.rate_limited() {
                    Some(retry_after) => {
                        self.back_off(retry_after, &mut backoff, Stage::Preauth, &e, false)
                            .await?
                    }
                    None => return Err(self.fault(Stage::Preauth, &e)),
                },
            }
        }
    }

    /// Up to `prompts` attempts (one when headless), the first automatic for headless and autopush logins.
    async fn attempts(
        &mut self,
        username: &str,
        ip: Option<&str>,
        req: &LoginRequest,
        menu: &Menu,
        txid: Option<&str>,
    ) -> Result<Decision, Stop> {
        let interactive = self.conv.interactive;
        let tries = if interactive {
            self.cfg().prompts.max(1)
        } else {
            1
        };
        let mut env_passcode = if self.cfg().accept_env_factor {
            req.env_passcode.clone().filter(|p| !p.trim().is_empty())
        } else {
            None
        };
        let mut last_msg = None;
        for attempt in 1..=tries {
            // Each attempt shows its own outcome, even if it repeats the last one's words.
            self.last_status = None;
            self.must_see = false;
            let choice = if let Some(p) = env_passcode.take() {
                self.status("Reading $DUO_PASSCODE...").await?;
                match self.checked_answer(&p).await? {
                    Some(a) => menu.resolve(&a),
                    None => continue,
                }
            } else if !interactive || (attempt == 1 && self.cfg().autopush) {
                self.status(menu.default.auto_message()).await?;
                menu.default.clone()
            } else {
                let answer = match self.conv.prompt(&menu.text, false, self.deadline).await {
                    Ok(a) => a,
                    Err(ConvError::Deadline) => return Err(self.timed_out()),
                    Err(e @ ConvError::Idle(_)) => {
                        self.rec.detail = Some(e.to_string());
                        return Err(Stop::Decided(self.deny(
                            Headline::Aborted,
                            Reason::Aborted,
                            "No answer typed in time.",
                        )));
                    }
                    Err(other) => return Err(Stop::Gone(other)),
                };
                match self.checked_answer(&answer).await? {
                    Some(a) => menu.resolve(&a),
                    None => continue,
                }
            };
            let kind = choice.kind();
            self.rec.factor = Some(choice.label());
            // Held until Duo resolves the attempt: dropping it frees the user's slot.
            let ticket = match self.fatigue_check(username, kind) {
                Ok(t) => t,
                Err(refusal) => return Ok(self.refused(&refusal)),
            };
            self.must_see = self.cfg().verified_push && txid.is_some() && kind == FactorKind::Push;
            let outcome = self.authenticate(username, ip, req, &choice, txid).await;
            if let Some(e) = self.gone.take() {
                // The client left while its push was pending; Duo has now resolved it.
                self.rec.detail = Some(match &outcome {
                    Ok(Attempt::Allowed) => "Duo answered allow after the client left".into(),
                    Ok(Attempt::Denied(_)) => "Duo answered deny after the client left".into(),
                    Err(_) => "Duo gave no answer after the client left".into(),
                });
                if let (Ok(Attempt::Allowed), Some(t)) = (&outcome, ticket) {
                    t.approved();
                }
                return Err(Stop::Gone(e));
            }
            match outcome? {
                Attempt::Allowed => {
                    if let Some(t) = ticket {
                        t.approved();
                    }
                    return Ok(self.decide(
                        Headline::Successful,
                        Verdict::Allow,
                        Reason::Authenticated,
                        None,
                    ));
                }
                Attempt::Denied(msg) => {
                    if attempt < tries {
                        // One line per failed attempt, as login_duo logs them; the last one is the decision's.
                        let mut line = self.rec.clone();
                        line.headline = Headline::Failed;
                        line.reason = Reason::Denied;
                        line.detail = Some(format!(
                            "attempt {attempt} of {tries}: {}",
                            msg.as_deref().unwrap_or("denied")
                        ));
                        crate::audit::emit(&line);
                        self.rec.txid = None;
                    }
                    last_msg = msg;
                }
            }
        }
        self.rec.detail = last_msg.clone();
        Ok(self.decide(
            Headline::Failed,
            Verdict::Deny,
            Reason::Denied,
            if interactive { None } else { last_msg },
        ))
    }

    /// A typed answer, trimmed, if it can be a menu choice, factor name or passcode; otherwise the
    /// user is told why and the attempt counts (`None`).
    async fn checked_answer(&mut self, raw: &str) -> Result<Option<String>, Stop> {
        let answer = raw.trim();
        if answer.is_empty() {
            self.status("No option or passcode entered.").await?;
            return Ok(None);
        }
        if !proto::valid_answer(answer) {
            tracing::debug!(user = ?self.rec.user, "refused an answer that is not a menu choice or passcode");
            self.status("Invalid answer: enter a number from the menu or a passcode.")
                .await?;
            return Ok(None);
        }
        Ok(Some(answer.to_string()))
    }

    /// The push-fatigue guard's say on an attempt of `kind`.
    fn fatigue_check(
        &self,
        username: &str,
        kind: FactorKind,
    ) -> Result<Option<PushTicket>, Refusal> {
        if kind.out_of_band() {
            self.ctx.fatigue.begin_push(username).map(Some)
        } else {
            self.ctx.fatigue.passcode(username).map(|()| None)
        }
    }

    /// A deny from the push-fatigue guard, audited with its reason.
    fn refused(&mut self, refusal: &Refusal) -> Decision {
        self.rec.detail = Some(format!("push-fatigue limit: {refusal}"));
        self.deny(Headline::Aborted, Reason::RateLimited, &refusal.to_string())
    }

    /// `/auth` (never re-sent), then `/auth_status` until Duo answers. Neither is abandoned when
    /// the client leaves: the push may already be on the user's phone, and its slot stays taken
    /// until Duo resolves it.
    async fn authenticate(
        &mut self,
        username: &str,
        ip: Option<&str>,
        req: &LoginRequest,
        choice: &Choice,
        txid: Option<&str>,
    ) -> Result<Attempt, Stop> {
        let pushinfo = self.cfg().pushinfo.then(|| self.pushinfo(req));
        let hostname = self.ctx.hostname.clone();
        let query = AuthQuery {
            username,
            choice,
            ipaddr: ip,
            hostname: &hostname,
            pushinfo: pushinfo.as_deref(),
            txid,
        };
        let mut backoff = Duration::from_secs(1);
        let started = loop {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.timed_out());
            }
            let budget = match self.cfg().https_timeout {
                Some(t) => remaining.min(t),
                None => remaining,
            };
            let call = self.ctx.duo.auth(&query, Some(budget));
            let result = if self.gone.is_some() {
                call.await
            } else {
                let (r, gone) = self.conv.watch(call).await;
                self.gone = gone;
                r
            };
            match result {
                Ok(s) => break s,
                Err(e) if self.at_deadline(&e) => return Err(self.timed_out()),
                Err(e) => match (e.rate_limited(), failmode::rule(Stage::Auth, e.class())) {
                    // Duo refused this request before starting anything: retry as login_duo does.
                    (Some(retry_after), _) => {
                        if self.gone.is_some() {
                            return Err(self.fault(Stage::Auth, &e));
                        }
                        self.back_off(retry_after, &mut backoff, Stage::Auth, &e, false)
                            .await?
                    }
                    (None, Rule::Refused) => return Ok(Attempt::Denied(refusal_message(&e))),
                    (None, _) => return Err(self.fault(Stage::Auth, &e)),
                },
            }
        };
        drop(pushinfo);
        let txid = match started {
            AuthStarted::Done(status) => return self.final_status(status).await,
            AuthStarted::Pending { txid } => txid,
        };
        self.rec.txid = Some(txid.clone());
        // login_duo prints an empty line between the prompt and the status lines.
        if self.conv.interactive && self.gone.is_none() {
            self.conv.status("", StatusKind::Progress).await?;
        }
        let mut backoff = Duration::from_secs(1);
        loop {
            let polled = Instant::now();
            let remaining = self.deadline.saturating_duration_since(polled);
            if remaining.is_zero() {
                return Err(self.timed_out());
            }
            // auth_status long-polls while the user decides: it may use all the time left
            // (login_duo gives it no timeout at all).
            let call = self.ctx.duo.auth_status(&txid, Some(remaining));
            let result = if self.gone.is_some() {
                call.await
            } else {
                let (r, gone) = self.conv.watch(call).await;
                self.gone = gone;
                r
            };
            match result {
                Ok(AuthStatus::Waiting(msg)) => {
                    if let Some(msg) = msg {
                        self.status(&msg).await?;
                    }
                    let since = polled.elapsed();
                    if since < MIN_POLL_INTERVAL {
                        self.pause(MIN_POLL_INTERVAL - since, true).await?;
                    }
                }
                Ok(done) => return self.final_status(done).await,
                Err(e) if self.at_deadline(&e) => return Err(self.timed_out()),
                Err(e) => match (e.rate_limited(), failmode::rule(Stage::Auth, e.class())) {
                    (Some(retry_after), _) => {
                        self.back_off(retry_after, &mut backoff, Stage::Auth, &e, true)
                            .await?
                    }
                    (None, Rule::Refused) => return Ok(Attempt::Denied(refusal_message(&e))),
                    (None, _) => return Err(self.fault(Stage::Auth, &e)),
                },
            }
        }
    }

    /// A final `allow`/`deny`, with its status line shown.
    async fn final_status(&mut self, status: AuthStatus) -> Result<Attempt, Stop> {
        match status {
            AuthStatus::Allow(msg) => {
                if let Some(m) = &msg {
                    self.status(m).await?;
                }
                Ok(Attempt::Allowed)
            }
            AuthStatus::Deny(msg) | AuthStatus::Waiting(msg) => {
                if let Some(m) = &msg {
                    self.status(m).await?;
                }
                Ok(Attempt::Denied(msg))
            }
        }
    }

    /// Duo's pushinfo: `Server+IP=...&Command=...` (and the PAM service), itself form-encoded
    /// (so it is encoded twice on the wire). The command is an excerpt of at most
    /// [`proto::MAX_COMMAND_EXCERPT`] bytes: the push shows a line, not a script.
    fn pushinfo(&self, req: &LoginRequest) -> String {
        let server_ip = req
            .ssh_connection
            .as_deref()
            .and_then(|s| s.split_whitespace().nth(2))
            .filter(|s| s.parse::<IpAddr>().is_ok())
            .map(str::to_string)
            .or_else(|| self.ctx.local_ip.clone())
            .unwrap_or_default();
        let command = proto::excerpt(
            req.command.as_deref().unwrap_or(""),
            proto::MAX_COMMAND_EXCERPT,
        );
        let mut info = format!(
            "Server+IP={}&Command={}",
            crate::signing::encode(&server_ip),
            crate::signing::encode(&command)
        );
        if let Some(service) = &req.service {
            info.push_str("&Service=");
            info.push_str(&crate::signing::encode(service));
        }
        info
    }
}

/// The address to report for a login, as login_duo picks it: `SSH_CONNECTION`'s first word, else
/// `host` (`-h`); either replaced by `local_ip` when it is not an IP address and `fallback` is
/// set (the second value is then what was replaced, for the warning); with neither, `local_ip`
/// when `fallback`. A non-IP `SSH_CONNECTION` without `fallback` is skipped for `host`.
fn client_address(
    ssh_connection: Option<&str>,
    host: Option<&str>,
    fallback: bool,
    local_ip: Option<&str>,
) -> (Option<String>, Option<String>) {
    let is_ip = |s: &str| s.parse::<IpAddr>().is_ok();
    let ssh = ssh_connection.and_then(|s| s.split_whitespace().next());
    let remote = match (ssh, host) {
        (Some(s), _) if is_ip(s) || fallback => Some(s),
        (_, Some(h)) => Some(h),
        _ => None,
    };
    match (remote, local_ip) {
        (Some(r), _) if is_ip(r) => (Some(r.to_string()), None),
        (Some(r), Some(ip)) if fallback => (Some(ip.to_string()), Some(r.to_string())),
        (Some(r), _) => (Some(r.to_string()), None),
        (None, ip) if fallback => (ip.map(str::to_string), None),
        (None, _) => (None, None),
    }
}

/// What Duo said when it refused a request (its message is in the error), for the user.
fn refusal_message(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Duo(DuoError::StatFail { message, .. } | DuoError::Http { message, .. }) => {
            Some(message.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
