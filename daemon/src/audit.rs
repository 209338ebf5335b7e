//! One audit line per login decision, starting with login_duo's own words so existing log
//! searches (fail2ban filters, SIEM rules) keep matching, with structured fields after.
//!
//! ```text
//! Successful Duo login for 'alice' from 192.0.2.7 [result=allow reason=authenticated uid=1000 pid=4242 factor="push1" txid="..." latency_ms=2150]
//! Failed Duo login for 'alice' from 192.0.2.7: Login request denied. [result=deny reason=denied ...]
//! ```
//!
//! Everything a user or Duo controls is escaped: the user inside login_duo's single quotes and
//! every field inside double quotes ([`duo_authd_proto::log_escape`]), the address as one word,
//! the detail unquoted as login_duo writes it but with its brackets escaped
//! ([`duo_authd_proto::log_text`]). No value can end its quotes, split the line or forge a field:
//! every value has its brackets escaped, so the one `[` in a line opens the fields.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use duo_authd_proto::{decision_line, log_escape, Reason, Verdict};
use duo_authd_syslog::{Facility, Priority};

/// login_duo's phrase for an outcome, which starts the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headline {
    /// The user passed the second factor.
    Successful,
    /// No second factor was needed (bypass, outside `groups`).
    Skipped,
    /// A factor was tried and failed, or Duo refused the request (`stat: FAIL`).
    Failed,
    /// The login was abandoned or refused before or without a factor (deny policy, enrollment,
    /// no answer, limits).
    Aborted,
    /// Duo could not be asked and `failmode = safe` let the user in.
    Failsafe,
    /// Duo could not be asked and `failmode = secure` kept the user out.
    Failsecure,
    /// The login could not be evaluated (a lookup failed, Duo broke after the factor started).
    Error,
}

impl Headline {
    /// login_duo's words.
    pub fn text(self) -> &'static str {
        match self {
            Headline::Successful => "Successful Duo login",
            Headline::Skipped => "Skipped Duo login",
            Headline::Failed => "Failed Duo login",
            Headline::Aborted => "Aborted Duo login",
            Headline::Failsafe => "Failsafe Duo login",
            Headline::Failsecure => "Failsecure Duo login",
            Headline::Error => "Error in Duo login",
        }
    }

    /// login_duo's syslog priority for it: info for success, err for errors, warning otherwise.
    pub fn priority(self) -> Priority {
        match self {
            Headline::Successful => Priority::Info,
            Headline::Error => Priority::Err,
            _ => Priority::Warning,
        }
    }
}

/// Everything an auditor needs to know about one decision; never holds a passcode or key.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// login_duo's phrase for the outcome.
    pub headline: Headline,
    /// The Duo username the login was decided for (for a refused `-f`, the one asked for).
    pub user: String,
    /// The local account behind the peer uid, when it differs from `user`.
    pub account: Option<String>,
    /// The peer uid that asked.
    pub uid: u32,
    /// The peer's pid, for correlating with sshd logs.
    pub pid: Option<i32>,
    /// The SSH client's address, when known.
    pub client: Option<String>,
    /// The PAM service that asked, when it was the PAM module.
    pub service: Option<String>,
    /// The factor used (push1, phone1, passcode, ...), when one was.
    pub factor: Option<String>,
    /// Duo's transaction id, when there was one.
    pub txid: Option<String>,
    /// Allow or deny.
    pub verdict: Verdict,
    /// Why, as health counts it.
    pub reason: Reason,
    /// Duo's message or what went wrong.
    pub detail: Option<String>,
    /// Time from the start frame to the decision.
    pub latency: Duration,
}

impl AuditRecord {
    /// A record for `uid` that is still to be filled in (until then it reads as an error).
    pub fn new(uid: u32, pid: Option<i32>) -> AuditRecord {
        AuditRecord {
            headline: Headline::Error,
            user: String::new(),
            account: None,
            uid,
            pid,
            client: None,
            service: None,
            factor: None,
            txid: None,
            verdict: Verdict::Deny,
            reason: Reason::Error,
            detail: None,
            latency: Duration::ZERO,
        }
    }
}

impl fmt::Display for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&decision_line(
            self.headline.text(),
            &self.user,
            self.client.as_deref(),
            self.detail.as_deref(),
        ))?;
        write!(
            f,
            " [result={} reason={} uid={}",
            match self.verdict {
                Verdict::Allow => "allow",
                Verdict::Deny => "deny",
            },
            self.reason.as_str(),
            self.uid
        )?;
        if let Some(pid) = self.pid {
            write!(f, " pid={pid}")?;
        }
        for (key, value) in [
            ("account", &self.account),
            ("service", &self.service),
            ("factor", &self.factor),
            ("txid", &self.txid),
        ] {
            if let Some(v) = value {
                write!(f, " {key}=\"{}\"", log_escape(v))?;
            }
        }
        write!(f, " latency_ms={}]", self.latency.as_millis())
    }
}

/// Whether audit lines also go to syslog.
static SYSLOG: AtomicBool = AtomicBool::new(false);
/// The syslog facility for audit lines.
static FACILITY: Mutex<Facility> = Mutex::new(Facility::AuthPriv);

/// Send audit lines to syslog too (or stop), under `facility`; applied at start and on each reload.
pub fn configure_syslog(enabled: bool, facility: Facility) {
    if enabled {
        duo_authd_syslog::open(c"duo-authd");
    }
    *crate::sync::lock(&FACILITY) = facility;
    SYSLOG.store(enabled, Ordering::Relaxed);
}

/// Emit the record: on stderr at the level matching its syslog priority, and to syslog when on.
pub fn emit(rec: &AuditRecord) {
    let line = rec.to_string();
    let priority = rec.headline.priority();
    match priority {
        Priority::Err => tracing::error!(target: "audit", "{line}"),
        Priority::Warning => tracing::warn!(target: "audit", "{line}"),
        _ => tracing::info!(target: "audit", "{line}"),
    }
    if SYSLOG.load(Ordering::Relaxed) {
        let facility = *crate::sync::lock(&FACILITY);
        duo_authd_syslog::send(facility, priority, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> AuditRecord {
        AuditRecord {
            headline: Headline::Successful,
            user: "alice".into(),
            client: Some("192.0.2.1".into()),
            verdict: Verdict::Allow,
            reason: Reason::Authenticated,
            factor: Some("push1".into()),
            latency: Duration::from_millis(1500),
            ..AuditRecord::new(1000, Some(42))
        }
    }

    #[test]
    fn starts_exactly_like_login_duo() {
        let line = rec().to_string();
        assert!(
            line.starts_with("Successful Duo login for 'alice' from 192.0.2.1 ["),
            "{line}"
        );
        assert!(line.contains("factor=\"push1\""), "{line}");
        assert!(line.ends_with("latency_ms=1500]"), "{line}");
        let mut r = rec();
        r.headline = Headline::Failed;
        r.detail = Some("Login request denied.".into());
        r.client = None;
        assert!(r
            .to_string()
            .starts_with("Failed Duo login for 'alice': Login request denied. ["));
        // fail2ban's and a SIEM's shape of login_duo's lines.
        for (headline, re_start) in [
            (Headline::Failsafe, "Failsafe Duo login for '"),
            (Headline::Failsecure, "Failsecure Duo login for '"),
            (Headline::Aborted, "Aborted Duo login for '"),
            (Headline::Skipped, "Skipped Duo login for '"),
            (Headline::Error, "Error in Duo login for '"),
        ] {
            r.headline = headline;
            assert!(r.to_string().starts_with(re_start), "{r}");
        }
    }

    #[test]
    fn no_value_can_forge_a_line_or_a_field() {
        let mut r = rec();
        r.user = "bob' from 10.0.0.1 [result=allow".into();
        r.detail = Some("x\" [result=allow]\nSuccessful Duo login for 'root'\u{1b}[2J".into());
        r.factor = Some("sms1\nSuccessful Duo login for 'root' from 1.2.3.4".into());
        r.client = Some("1.2.3.4 [result=allow]".into());
        let line = r.to_string();
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
        assert!(
            line.starts_with("Successful Duo login for 'bob\\' from 10.0.0.1 \\u{5b}result=allow' from 1.2.3.4\\u{20}\\u{5b}result=allow\\u{5d}: x\" \\u{5b}"),
            "{line}"
        );
        // The one unescaped `[` opens the fields.
        assert_eq!(line.matches('[').count(), 1, "{line}");
        assert_eq!(line.matches(" [result=allow reason=").count(), 1, "{line}");
    }

    #[test]
    fn priorities_agree_with_login_duo() {
        assert_eq!(Headline::Successful.priority(), Priority::Info);
        assert_eq!(Headline::Error.priority(), Priority::Err);
        for h in [
            Headline::Skipped,
            Headline::Failed,
            Headline::Aborted,
            Headline::Failsafe,
            Headline::Failsecure,
        ] {
            assert_eq!(h.priority(), Priority::Warning);
        }
        configure_syslog(true, Facility::AuthPriv);
        emit(&rec());
        configure_syslog(false, Facility::AuthPriv);
    }
}
