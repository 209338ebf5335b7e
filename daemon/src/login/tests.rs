//! The login conversation, driven in-process: a scripted Duo ([`FakeDuo`]), an in-memory client,
//! and paused time, so every deadline and back-off is exact and no test needs root or a network.
//! Each test that plays an attacker says so.

use std::time::Duration;

use duo_authd_proto::{ClientMsg, Reason, ServerMsg, StatusKind, Verdict};
use tokio::io::DuplexStream;

use super::*;
use crate::audit::Headline;
use crate::duo::api::{ApiError, AuthStarted, AuthStatus};
use crate::duo::preauth::{Preauth, ResponseError};
use crate::duo::DuoError;
use crate::fake::{self, auth_menu, connect_error, Client, FakeDuo, Step};

/// Root: may use -f; its account exists everywhere.
const ROOT: Peer = Peer { uid: 0, pid: None };

/// What the user at the other end does.
#[derive(Clone, Default)]
struct User {
    /// Answers to prompts, in order; when none are left the user stays silent.
    answers: Vec<&'static str>,
    /// Hang up after the first status line containing this.
    leave_on: Option<&'static str>,
    /// Hang up at the first prompt.
    leave_at_prompt: bool,
}

/// Everything the client saw, and how the login ended.
struct Seen {
    outcome: Outcome,
    msgs: Vec<ServerMsg>,
}

impl Seen {
    fn verdict(&self) -> Option<Verdict> {
        self.outcome.decision.as_ref().map(|d| d.verdict)
    }
    fn reason(&self) -> Reason {
        self.outcome.audit.reason
    }
    fn headline(&self) -> Headline {
        self.outcome.audit.headline
    }
    fn statuses(&self) -> Vec<(String, StatusKind)> {
        self.msgs
            .iter()
            .filter_map(|m| match m {
                ServerMsg::Status { text, kind } => Some((text.clone(), *kind)),
                _ => None,
            })
            .collect()
    }
    fn prompts(&self) -> usize {
        self.msgs
            .iter()
            .filter(|m| matches!(m, ServerMsg::Prompt { .. }))
            .count()
    }
    #[track_caller]
    fn allowed(&self, reason: Reason) {
        assert_eq!(self.verdict(), Some(Verdict::Allow), "{:?}", self.outcome);
        assert_eq!(self.reason(), reason, "{:?}", self.outcome);
    }
    #[track_caller]
    fn denied(&self, reason: Reason) {
        assert_eq!(self.verdict(), Some(Verdict::Deny), "{:?}", self.outcome);
        assert_eq!(self.reason(), reason, "{:?}", self.outcome);
    }
}

/// The user's side of the conversation.
async fn play(mut c: Client, user: User) -> Vec<ServerMsg> {
    let mut seen = Vec::new();
    let mut answers = user.answers.into_iter();
    while let Some(m) = c.next().await {
        let prompt = matches!(m, ServerMsg::Prompt { .. });
        let leave = match &m {
            ServerMsg::Status { text, .. } => user.leave_on.is_some_and(|n| text.contains(n)),
            _ => false,
        };
        seen.push(m);
        if leave || (prompt && user.leave_at_prompt) {
            return seen;
        }
        if prompt {
            if let Some(a) = answers.next() {
                c.answer(a).await;
            }
        }
    }
    seen
}

/// Run one login of `peer` with `req` against `ctx`, with `user` at the other end.
async fn login_with(ctx: &LoginCtx<FakeDuo>, peer: Peer, req: LoginRequest, user: User) -> Seen {
    let (a, b): (DuplexStream, DuplexStream) = tokio::io::duplex(64 * 1024);
    let mut conv = Conversation::new(a, ctx.cfg.authd.idle_timeout);
    let daemon = async {
        let outcome = run(ctx, &mut conv, peer, req).await;
        if let Some(d) = outcome.decision.clone() {
            let _ = conv.decide(d).await;
        }
        drop(conv);
        outcome
    };
    let (outcome, msgs) = tokio::join!(daemon, play(Client::new(b), user));
    Seen { outcome, msgs }
}

/// A headless login of root as Duo user `alice` (what `ssh host cmd` does).
async fn headless(ctx: &LoginCtx<FakeDuo>) -> Seen {
    let mut req = fake::request(false);
    req.duo_user = Some("alice".into());
    login_with(ctx, ROOT, req, User::default()).await
}

/// An interactive login of root as Duo user `alice`.
async fn interactive(ctx: &LoginCtx<FakeDuo>, user: User) -> Seen {
    let mut req = fake::request(true);
    req.duo_user = Some("alice".into());
    login_with(ctx, ROOT, req, user).await
}

fn answers(a: &[&'static str]) -> User {
    User {
        answers: a.to_vec(),
        ..User::default()
    }
}

fn duo(e: DuoError) -> ApiError {
    ApiError::Duo(e)
}

fn server_error() -> ApiError {
    duo(DuoError::Server {
        host: "fake".into(),
        status: 503,
    })
}

fn stat_fail() -> ApiError {
    duo(DuoError::StatFail {
        host: "fake".into(),
        code: Some(40002),
        message: "Invalid request parameters".into(),
    })
}

fn pending(txid: &str) -> Step<AuthStarted> {
    Step::Reply(AuthStarted::Pending { txid: txid.into() })
}

fn allow(msg: &str) -> Step<AuthStatus> {
    Step::Reply(AuthStatus::Allow(Some(msg.into())))
}

fn deny(msg: &str) -> Step<AuthStatus> {
    Step::Reply(AuthStatus::Deny(Some(msg.into())))
}

/// Every way a Duo call can fail, with its name.
fn every_failure() -> Vec<(&'static str, Step<Preauth>)> {
    vec![
        ("connection refused", Step::Fail(connect_error())),
        (
            "TLS failure",
            Step::Fail(duo(DuoError::Tls {
                host: "fake".into(),
                reason: "unknown issuer".into(),
            })),
        ),
        ("hangs past https_timeout", Step::Hang),
        ("HTTP 5xx", Step::Fail(server_error())),
        (
            "HTTP 401",
            Step::Fail(duo(DuoError::Unauthorized {
                host: "fake".into(),
            })),
        ),
        (
            "body not JSON",
            Step::Fail(duo(DuoError::InvalidJson {
                host: "fake".into(),
                reason: "not JSON".into(),
            })),
        ),
        (
            "unexpected result",
            Step::Fail(ApiError::Response(ResponseError {
                endpoint: "preauth",
                reason: "unknown result 'bogus'".into(),
            })),
        ),
        ("stat FAIL", Step::Fail(stat_fail())),
        (
            "HTTP 400",
            Step::Fail(duo(DuoError::Http {
                host: "fake".into(),
                status: 400,
                message: "Invalid request parameters".into(),
            })),
        ),
    ]
}

/// Retype a scripted failure for another endpoint.
fn as_step<T, U>(s: &Step<U>) -> Step<T> {
    match s {
        Step::Fail(e) => Step::Fail(e.clone()),
        Step::Hang => Step::Hang,
        _ => unreachable!("only failures are retyped"),
    }
}

// ---- Preauth: the only stage failmode answers ----

#[tokio::test(start_paused = true)]
async fn failmode_table_at_preauth_row_by_row() {
    for mode in ["safe", "secure"] {
        for (what, step) in every_failure() {
            let duo = FakeDuo::default();
            duo.preauth(step);
            let ctx = fake::ctx(
                duo.clone(),
                fake::config(&format!("failmode = \"{mode}\"\nhttps_timeout = 5\n")),
            );
            let s = headless(&ctx).await;
            let duo_answered = matches!(what, "stat FAIL" | "HTTP 400");
            match (duo_answered, mode) {
                (true, _) => {
                    s.denied(Reason::Denied);
                    let expect = if what == "stat FAIL" {
                        Headline::Failed
                    } else {
                        Headline::Aborted
                    };
                    assert_eq!(s.headline(), expect, "{mode}: {what}");
                }
                (false, "safe") => {
                    s.allowed(Reason::FailSafe);
                    assert_eq!(s.headline(), Headline::Failsafe, "{what}");
                }
                (false, _) => {
                    s.denied(Reason::FailSecure);
                    assert_eq!(s.headline(), Headline::Failsecure, "{what}");
                }
            }
            assert_eq!(
                duo.count("auth"),
                0,
                "{mode}: {what}: /auth after a failed preauth"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_preauth_gets_its_failmode_answer_before_the_deadline() {
    // No https_timeout: only the login deadline bounds the preauth, less a margin.
    let duo = FakeDuo::default();
    duo.preauth(Step::Hang);
    let ctx = fake::ctx(duo.clone(), fake::config("[authd]\nlogin_timeout = 10\n"));
    let started = tokio::time::Instant::now();
    let s = headless(&ctx).await;
    s.allowed(Reason::FailSafe);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        duo.calls()[0].timeout,
        Some(Duration::from_secs(10) - DEADLINE_MARGIN)
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limited_preauth_backs_off_then_fails_open_only_at_the_deadline() {
    let retry =
        |after: Option<Duration>| Step::Fail(duo(DuoError::RateLimited { retry_after: after }));
    // Two 429s with Retry-After, then an answer: the user sees the wait, the login goes on.
    let duo = FakeDuo::default();
    duo.preauth(retry(Some(Duration::from_secs(2))))
        .preauth(retry(Some(Duration::from_secs(2))))
        .preauth(Step::Reply(Preauth::Allow {
            message: "bypass".into(),
        }));
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    let s = interactive(&ctx, User::default()).await;
    s.allowed(Reason::Bypass);
    assert!(s
        .statuses()
        .iter()
        .any(|(t, _)| t.contains("Waiting for 2 seconds")));
    // A Retry-After that would pass the deadline (even an absurd one: this used to panic).
    for after in [Duration::from_secs(3600), Duration::from_secs(u64::MAX)] {
        let duo = FakeDuo::default();
        duo.preauth(retry(Some(after)));
        let ctx = fake::ctx(duo.clone(), fake::config("failmode = \"secure\"\n"));
        let s = headless(&ctx).await;
        s.denied(Reason::FailSecure);
    }
}

#[tokio::test(start_paused = true)]
async fn preauth_answers() {
    for (answer, verdict, reason, headline) in [
        (
            Preauth::Allow {
                message: "bypass".into(),
            },
            Verdict::Allow,
            Reason::Bypass,
            Headline::Skipped,
        ),
        (
            Preauth::Deny {
                message: "Login denied by policy".into(),
            },
            Verdict::Deny,
            Reason::Denied,
            Headline::Aborted,
        ),
        (
            Preauth::Enroll {
                message: "Enroll at https://x".into(),
            },
            Verdict::Deny,
            Reason::Enroll,
            Headline::Aborted,
        ),
        // Attacker-reachable (a user whose only device cannot push, call or text): `auth` with
        // no usable menu once fell to failmode and, under `safe` (the default), allowed.
        (
            Preauth::AuthUnusable {
                reason: "factor map without 'default'".into(),
            },
            Verdict::Deny,
            Reason::Error,
            Headline::Error,
        ),
    ] {
        let duo = FakeDuo::default();
        duo.preauth(Step::Reply(answer));
        let ctx = fake::ctx(duo.clone(), fake::config("failmode = \"safe\"\n"));
        let s = headless(&ctx).await;
        assert_eq!(s.verdict(), Some(verdict));
        assert_eq!(s.reason(), reason);
        assert_eq!(s.headline(), headline);
        assert_eq!(duo.count("auth"), 0);
    }
}

// ---- After preauth said `auth`: every failure denies, in both modes ----

#[tokio::test(start_paused = true)]
async fn nothing_after_preauth_can_fail_open() {
    for mode in ["safe", "secure"] {
        for (what, failure) in every_failure() {
            // The failure at /auth.
            let duo = FakeDuo::default();
            duo.preauth(Step::Reply(auth_menu(None)))
                .auth(as_step(&failure));
            let cfg = fake::config(&format!("failmode = \"{mode}\"\nhttps_timeout = 5\n"));
            let ctx = fake::ctx(duo.clone(), cfg.clone());
            let s = headless(&ctx).await;
            assert_eq!(
                s.verdict(),
                Some(Verdict::Deny),
                "{mode}: /auth {what}: {:?}",
                s.outcome
            );
            assert_eq!(duo.count("auth"), 1, "{mode}: /auth {what} was re-sent");
            // The failure at /auth_status.
            let duo = FakeDuo::default();
            duo.preauth(Step::Reply(auth_menu(None)))
                .auth(pending("tx"))
                .status(Step::Reply(AuthStatus::Waiting(Some("Pushed".into()))))
                .status(as_step(&failure));
            let ctx = fake::ctx(duo.clone(), cfg);
            let s = headless(&ctx).await;
            assert_eq!(
                s.verdict(),
                Some(Verdict::Deny),
                "{mode}: /auth_status {what}: {:?}",
                s.outcome
            );
            assert_ne!(s.reason(), Reason::FailSafe);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn answering_just_before_the_deadline_cannot_skip_duo() {
    // Attacker: a user with only a password answers the prompt 0.5 s before the login deadline,
    // hoping /auth times out and failmode lets them in. /auth here hangs longer than https_timeout.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None))).auth(Step::Hang);
    let cfg = fake::config("https_timeout = 3\n[authd]\nlogin_timeout = 10\nidle_timeout = 60\n");
    let ctx = fake::ctx(duo.clone(), cfg);
    let (a, b) = tokio::io::duplex(64 * 1024);
    let mut conv = Conversation::new(a, ctx.cfg.authd.idle_timeout);
    let user = async move {
        let mut c = Client::new(b);
        let mut seen = Vec::new();
        while let Some(m) = c.next().await {
            if matches!(m, ServerMsg::Prompt { .. }) {
                tokio::time::sleep(Duration::from_millis(9_500)).await;
                c.answer("1").await;
            }
            seen.push(m);
        }
        seen
    };
    let mut req = fake::request(true);
    req.duo_user = Some("alice".into());
    let daemon = async {
        let o = run(&ctx, &mut conv, ROOT, req).await;
        if let Some(d) = o.decision.clone() {
            let _ = conv.decide(d).await;
        }
        drop(conv);
        o
    };
    let (outcome, _) = tokio::join!(daemon, user);
    assert_eq!(
        outcome.decision.map(|d| d.verdict),
        Some(Verdict::Deny),
        "{:?}",
        outcome.audit
    );
    assert_ne!(outcome.audit.reason, Reason::FailSafe);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_and_the_idle_timeout_deny_once_the_user_was_asked() {
    // Nobody answers: the idle timeout (shorter) fires.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)));
    let ctx = fake::ctx(
        duo.clone(),
        fake::config("[authd]\nlogin_timeout = 90\nidle_timeout = 30\n"),
    );
    let s = interactive(&ctx, User::default()).await;
    s.denied(Reason::Aborted);
    let detail = s.outcome.audit.detail.clone().unwrap_or_default();
    assert!(detail.contains("idle timeout"), "{detail}");
    // The deadline comes first.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)));
    let ctx = fake::ctx(
        duo.clone(),
        fake::config("[authd]\nlogin_timeout = 20\nidle_timeout = 60\n"),
    );
    let s = interactive(&ctx, User::default()).await;
    s.denied(Reason::Aborted);
    let detail = s.outcome.audit.detail.clone().unwrap_or_default();
    assert!(detail.contains("login deadline"), "{detail}");
    // A push the user never answers, polled until the deadline.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("tx"))
        .status(Step::Hang);
    let ctx = fake::ctx(duo.clone(), fake::config("[authd]\nlogin_timeout = 20\n"));
    let s = headless(&ctx).await;
    s.denied(Reason::Aborted);
}

#[tokio::test(start_paused = true)]
async fn stat_fail_after_auth_is_a_failed_attempt_not_a_pass() {
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(Step::Fail(stat_fail()))
        .auth(pending("tx"))
        .status(allow("Success. Logging you in..."));
    let ctx = fake::ctx(duo.clone(), fake::config("prompts = 2\n"));
    let s = interactive(&ctx, answers(&["123456", "1"])).await;
    // The second attempt is a real push the user approved.
    s.allowed(Reason::Authenticated);
    assert_eq!(s.prompts(), 2);
    // With one prompt, the stat FAIL ends the login: denied in both modes.
    for mode in ["safe", "secure"] {
        let duo = FakeDuo::default();
        duo.preauth(Step::Reply(auth_menu(None)))
            .auth(Step::Fail(stat_fail()));
        let ctx = fake::ctx(
            duo.clone(),
            fake::config(&format!("failmode = \"{mode}\"\n")),
        );
        let s = headless(&ctx).await;
        s.denied(Reason::Denied);
        assert_eq!(s.headline(), Headline::Failed);
    }
}

// ---- The factor stage ----

#[tokio::test(start_paused = true)]
async fn interactive_push_shows_progress_and_lets_in() {
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("tx-1"))
        .status(Step::Reply(AuthStatus::Waiting(Some(
            "Pushed a login request to your device...".into(),
        ))))
        .status(Step::After(
            Duration::from_secs(2),
            Box::new(allow("Success. Logging you in...")),
        ));
    let ctx = fake::ctx(duo.clone(), fake::config("pushinfo = true\n"));
    let mut req = fake::request(true);
    req.duo_user = Some("alice".into());
    req.command = Some("uptime".into());
    let s = login_with(&ctx, ROOT, req, answers(&["1"])).await;
    s.allowed(Reason::Authenticated);
    assert_eq!(s.headline(), Headline::Successful);
    let st: Vec<String> = s.statuses().into_iter().map(|(t, _)| t).collect();
    assert!(
        st.contains(&"Pushed a login request to your device...".into()),
        "{st:?}"
    );
    assert!(st.contains(&"Success. Logging you in...".into()), "{st:?}");
    let auth = &duo.calls()[1];
    assert_eq!(auth.param("prompt"), Some("push1"));
    assert_eq!(auth.param("factor"), Some("prompt"));
    assert_eq!(
        auth.param("pushinfo"),
        Some("Server+IP=192.0.2.2&Command=uptime")
    );
    assert_eq!(s.outcome.audit.txid.as_deref(), Some("tx-1"));
    assert_eq!(s.outcome.audit.factor.as_deref(), Some("push1"));
}

#[tokio::test(start_paused = true)]
async fn verified_push_txid_goes_with_any_factor_and_its_code_must_be_seen() {
    // A Duo account whose verified push is named plain `push1`: preauth's txid goes back anyway.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(Some("vp-tx"))))
        .auth(pending("tx-2"))
        .status(Step::Reply(AuthStatus::Waiting(Some(
            "Enter 123 in Duo Mobile".into(),
        ))))
        .status(allow("Success."));
    let ctx = fake::ctx(duo.clone(), fake::config("verified_push = true\n"));
    let s = headless(&ctx).await;
    s.allowed(Reason::Authenticated);
    assert_eq!(
        duo.calls()[0].param("client_supports_verified_push"),
        Some("1")
    );
    assert_eq!(duo.calls()[1].param("txid"), Some("vp-tx"));
    // Headless, the code still reaches the user, marked as something to see.
    assert!(s
        .statuses()
        .iter()
        .any(|(t, k)| t.contains("Enter 123") && *k == StatusKind::MustSee));
    // A passcode carries the txid too (login_duo sends it with every /auth).
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(Some("vp-tx"))))
        .auth(Step::Reply(AuthStarted::Done(AuthStatus::Allow(None))));
    let ctx = fake::ctx(duo.clone(), fake::config("verified_push = true\n"));
    let s = interactive(&ctx, answers(&["123456"])).await;
    s.allowed(Reason::Authenticated);
    assert_eq!(duo.calls()[1].param("txid"), Some("vp-tx"));
}

#[tokio::test(start_paused = true)]
async fn headless_logins_see_only_what_they_must() {
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("tx"))
        .status(Step::Reply(AuthStatus::Waiting(Some("Pushed".into()))))
        .status(allow("Success."));
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    let s = headless(&ctx).await;
    s.allowed(Reason::Authenticated);
    assert!(s.statuses().is_empty(), "{:?}", s.statuses());
}

#[tokio::test(start_paused = true)]
async fn forged_answers_are_refused_and_count() {
    // Attacker: an answer with a newline and a fake audit line, a control sequence, a huge one.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)));
    let ctx = fake::ctx(duo.clone(), fake::config("prompts = 3\n"));
    let long = Box::leak("9".repeat(5000).into_boxed_str());
    let s = interactive(
        &ctx,
        answers(&[
            "sms1\nSuccessful Duo login for 'root' from 1.2.3.4",
            "\u{1b}[2J1",
            long,
        ]),
    )
    .await;
    s.denied(Reason::Denied);
    assert_eq!(duo.count("auth"), 0, "a forged answer reached Duo");
    let refusals = s
        .statuses()
        .iter()
        .filter(|(t, _)| t.starts_with("Invalid answer"))
        .count();
    assert_eq!(refusals, 3);
    let line = s.outcome.audit.to_string();
    assert!(!line.contains('\n'), "{line}");
}

#[tokio::test(start_paused = true)]
async fn a_typed_passcode_is_never_a_log_label() {
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(Step::Reply(AuthStarted::Done(AuthStatus::Deny(Some(
            "Incorrect passcode.".into(),
        )))));
    let ctx = fake::ctx(duo.clone(), fake::config("prompts = 1\n"));
    let s = interactive(&ctx, answers(&["7654321"])).await;
    s.denied(Reason::Denied);
    assert_eq!(s.outcome.audit.factor.as_deref(), Some("passcode"));
    assert!(!s.outcome.audit.to_string().contains("7654321"));
    assert_eq!(duo.calls()[1].param("prompt"), Some("7654321"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_then_the_menu_again() {
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("tx-a"))
        .status(deny("Login request denied."))
        .auth(pending("tx-b"))
        .status(allow("Success."));
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    let s = interactive(&ctx, answers(&["1", "2"])).await;
    s.allowed(Reason::Authenticated);
    assert_eq!(s.prompts(), 2);
    assert_eq!(duo.calls()[3].param("prompt"), Some("phone1"));
    assert_eq!(s.outcome.audit.txid.as_deref(), Some("tx-b"));
}

#[tokio::test(start_paused = true)]
async fn env_passcode_and_autopush() {
    // DUO_PASSCODE is read first, and a factor name in it picks that factor.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(Step::Reply(AuthStarted::Done(AuthStatus::Allow(None))));
    let ctx = fake::ctx(duo.clone(), fake::config("accept_env_factor = true\n"));
    let mut req = fake::request(true);
    req.duo_user = Some("alice".into());
    req.env_passcode = Some("PHONE1".into());
    let s = login_with(&ctx, ROOT, req, User::default()).await;
    s.allowed(Reason::Authenticated);
    assert_eq!(duo.calls()[1].param("prompt"), Some("phone1"));
    assert!(s
        .statuses()
        .iter()
        .any(|(t, _)| t == "Reading $DUO_PASSCODE..."));
    // An invalid DUO_PASSCODE is refused like a typed one.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)));
    let ctx = fake::ctx(
        duo.clone(),
        fake::config("accept_env_factor = true\nprompts = 1\n"),
    );
    let mut req = fake::request(true);
    req.env_passcode = Some("1\n2".into());
    let s = login_with(&ctx, ROOT, req, User::default()).await;
    s.denied(Reason::Denied);
    assert_eq!(duo.count("auth"), 0);
    // Autopush: no menu for the first attempt.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("t"))
        .status(allow("ok"));
    let ctx = fake::ctx(duo.clone(), fake::config("autopush = true\n"));
    let s = interactive(&ctx, User::default()).await;
    s.allowed(Reason::Authenticated);
    assert_eq!(s.prompts(), 0);
    assert!(s
        .statuses()
        .iter()
        .any(|(t, _)| t == "Autopushing login request to phone..."));
}

// ---- Push fatigue ----

#[tokio::test(start_paused = true)]
async fn sms_and_calls_count_and_approved_pushes_do_not() {
    let cfg = "prompts = 1\n[authd]\npush_limit = 2\npush_window = 600\n";
    let duo = FakeDuo::default();
    let ctx = fake::ctx(duo.clone(), fake::config(cfg));
    // Ten approved pushes in a row: nobody is locked out for approving their own logins.
    for _ in 0..10 {
        duo.preauth(Step::Reply(auth_menu(None)))
            .auth(pending("t"))
            .status(allow("ok"));
        headless(&ctx).await.allowed(Reason::Authenticated);
    }
    // Two refused attempts, one an SMS (in upper case, to be sure the kind is matched case-insensitively).
    let mut menu = auth_menu(None);
    if let Preauth::Auth { menu: m, .. } = &mut menu {
        m.options[2].1 = Choice::Factor("SMS1".into());
    }
    duo.preauth(Step::Reply(menu))
        .auth(Step::Reply(AuthStarted::Done(AuthStatus::Deny(Some(
            "New SMS passcodes sent.".into(),
        )))));
    interactive(&ctx, answers(&["3"]))
        .await
        .denied(Reason::Denied);
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("t"))
        .status(deny("Call declined."));
    interactive(&ctx, answers(&["2"]))
        .await
        .denied(Reason::Denied);
    // The third ringing attempt in the window is refused before Duo is asked to push.
    duo.preauth(Step::Reply(auth_menu(None)));
    let before = duo.count("auth");
    let s = interactive(&ctx, answers(&["1"])).await;
    s.denied(Reason::RateLimited);
    assert_eq!(duo.count("auth"), before);
}

#[tokio::test(start_paused = true)]
async fn hanging_up_does_not_free_the_push_slot_until_duo_resolves() {
    // Attacker: start a push to the victim, hang up, start another, and so on.
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("t1"))
        .status(Step::Reply(AuthStatus::Waiting(Some("Pushed".into()))))
        .status(Step::After(
            Duration::from_secs(30),
            Box::new(deny("Timed out.")),
        ));
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    let first = interactive(
        &ctx,
        User {
            answers: vec!["1"],
            leave_on: Some("Pushed"),
            ..User::default()
        },
    );
    let second = async {
        // While the first push is still pending at Duo, a new login for the same user.
        tokio::time::sleep(Duration::from_secs(5)).await;
        duo.preauth(Step::Reply(auth_menu(None)));
        interactive(&ctx, answers(&["1"])).await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(first.outcome.decision.is_none(), "the client left");
    let detail = first.outcome.audit.detail.clone().unwrap_or_default();
    assert!(detail.contains("client left"), "{detail}");
    assert!(detail.contains("Duo answered deny"), "{detail}");
    second.denied(Reason::RateLimited);
    // Duo polled the first transaction to its end after the client left.
    assert_eq!(duo.count("auth_status"), 2);
    // Once Duo has resolved it, the user may try again.
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("t3"))
        .status(allow("ok"));
    interactive(&ctx, answers(&["1"]))
        .await
        .allowed(Reason::Authenticated);
}

// ---- Who may ask for whom ----

#[tokio::test(start_paused = true)]
async fn only_root_names_another_duo_user() {
    let Ok(Some((uid, _))) = crate::users::uid_gid_by_name("nobody") else {
        eprintln!("SKIPPED only_root_names_another_duo_user: no 'nobody' account here");
        return;
    };
    let duo = FakeDuo::default();
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    let nobody = Peer {
        uid,
        pid: Some(4242),
    };
    // Attacker: a local user asks to authenticate as root's Duo identity.
    let mut req = fake::request(false);
    req.duo_user = Some("root".into());
    let s = login_with(&ctx, nobody, req, User::default()).await;
    s.denied(Reason::NotPermitted);
    assert_eq!(
        s.outcome.audit.user, "root",
        "the audit names who was asked for"
    );
    assert_eq!(s.outcome.audit.account.as_deref(), Some("nobody"));
    assert_eq!(duo.count("preauth"), 0);
    // Naming itself is fine (the PAM module always names the PAM user).
    duo.preauth(Step::Reply(Preauth::Allow {
        message: "bypass".into(),
    }));
    let mut req = fake::request(false);
    req.duo_user = Some("nobody".into());
    login_with(&ctx, nobody, req, User::default())
        .await
        .allowed(Reason::Bypass);
    // -h from a non-root client is ignored; SSH_CONNECTION is taken.
    duo.preauth(Step::Reply(Preauth::Allow {
        message: "bypass".into(),
    }));
    let mut req = fake::request(false);
    req.client_host = Some("10.9.9.9".into());
    req.ssh_connection = None;
    let s = login_with(&ctx, nobody, req, User::default()).await;
    s.allowed(Reason::Bypass);
    assert_eq!(
        duo.calls()
            .last()
            .and_then(|c| c.param("ipaddr").map(String::from)),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn one_user_cannot_hammer_duo_through_the_daemon() {
    let Ok(Some((uid, _))) = crate::users::uid_gid_by_name("nobody") else {
        eprintln!("SKIPPED one_user_cannot_hammer_duo_through_the_daemon: no 'nobody' account");
        return;
    };
    let duo = FakeDuo::default();
    let ctx = fake::ctx(duo.clone(), fake::config("[authd]\npreauth_rate = 60\n"));
    let nobody = Peer { uid, pid: None };
    let mut refused = 0;
    for _ in 0..50 {
        duo.preauth(Step::Reply(Preauth::Allow {
            message: "bypass".into(),
        }));
        let s = login_with(&ctx, nobody, fake::request(false), User::default()).await;
        if s.reason() == Reason::RateLimited {
            assert!(s.outcome.noisy);
            refused += 1;
        }
    }
    assert_eq!(duo.count("preauth"), 10, "a burst of 10, then the rate");
    assert_eq!(refused, 40);
    // Root is never limited.
    for _ in 0..50 {
        duo.preauth(Step::Reply(Preauth::Allow {
            message: "bypass".into(),
        }));
        headless(&ctx).await.allowed(Reason::Bypass);
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_requests_are_refused_before_anything_else() {
    let duo = FakeDuo::default();
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    for bad in ["", "a\nb", &"x".repeat(300)] {
        let mut req = fake::request(false);
        req.duo_user = Some(bad.to_string());
        let s = login_with(&ctx, ROOT, req, User::default()).await;
        assert_eq!(s.verdict(), Some(Verdict::Deny), "{bad:?}");
    }
    assert!(duo.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_at_the_prompt_gets_nothing() {
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)));
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    let s = interactive(
        &ctx,
        User {
            leave_at_prompt: true,
            ..User::default()
        },
    )
    .await;
    assert!(s.outcome.decision.is_none());
    assert_eq!(s.headline(), Headline::Aborted);
    assert_eq!(duo.count("auth"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_client_that_speaks_out_of_turn_is_dropped_not_allowed() {
    let duo = FakeDuo::default();
    duo.preauth(Step::Reply(auth_menu(None)))
        .auth(pending("t"))
        .status(Step::After(Duration::from_secs(5), Box::new(allow("ok"))));
    let ctx = fake::ctx(duo.clone(), fake::config(""));
    let (a, b) = tokio::io::duplex(64 * 1024);
    let mut conv = Conversation::new(a, ctx.cfg.authd.idle_timeout);
    let user = async move {
        let mut c = Client::new(b);
        while let Some(m) = c.next().await {
            if matches!(m, ServerMsg::Prompt { .. }) {
                c.answer("1").await;
                // And then, while the push is pending, an unexpected frame.
                c.send(&ClientMsg::Health).await;
            }
        }
    };
    let mut req = fake::request(true);
    req.duo_user = Some("alice".into());
    let daemon = async {
        let o = run(&ctx, &mut conv, ROOT, req).await;
        drop(conv);
        o
    };
    let (outcome, ()) = tokio::join!(daemon, user);
    assert!(outcome.decision.is_none(), "{:?}", outcome.decision);
}

#[test]
fn client_address_follows_login_duo_and_says_when_fallback_replaces_one() {
    let local = Some("192.0.2.10");
    // An IP address is used as given, whatever the fallback.
    assert_eq!(
        client_address(Some("::1 50310 ::1 22"), None, true, local),
        (Some("::1".into()), None)
    );
    assert_eq!(
        client_address(
            Some("203.0.113.5 1 server 22"),
            Some("1.2.3.4"),
            true,
            local
        ),
        (Some("203.0.113.5".into()), None)
    );
    // A host name from SSH_CONNECTION is replaced by this host's address, and reported.
    assert_eq!(
        client_address(
            Some("badhost.example.com 50310 server 22"),
            None,
            true,
            local
        ),
        (
            Some("192.0.2.10".into()),
            Some("badhost.example.com".into())
        )
    );
    // So is a host name from -h.
    assert_eq!(
        client_address(None, Some("BADHOST"), true, local),
        (Some("192.0.2.10".into()), Some("BADHOST".into()))
    );
    // A local session gets this host's address, with nothing replaced.
    assert_eq!(
        client_address(None, None, true, local),
        (Some("192.0.2.10".into()), None)
    );
    // Without the fallback: -h as given, nothing for a local session.
    assert_eq!(
        client_address(None, Some("nowhere"), false, local),
        (Some("nowhere".into()), None)
    );
    assert_eq!(client_address(None, None, false, local), (None, None));
    // Without a known local address nothing is replaced.
    assert_eq!(
        client_address(None, Some("BADHOST"), true, None),
        (Some("BADHOST".into()), None)
    );
}
