//! One audit line per login decision, worded like login_duo's syslog lines so existing log searches keep working.

use std::fmt;
use std::time::Duration;

use duo_authd_proto::{Reason, Verdict};

/// Everything an auditor needs to know about one decision; never holds a passcode or key.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// The Duo username the login was decided for.
    pub user: String,
    /// The local account (peer uid) that asked.
    pub uid: u32,
    /// The peer's pid, for correlating with sshd logs.
    pub pid: Option<i32>,
    /// The SSH client's address, when known.
    pub client: Option<String>,
    /// The factor used (push1, phone1, passcode, ...), when one was.
    pub factor: Option<String>,
    /// Duo's transaction id, when there was one.
    pub txid: Option<String>,
    /// Allow or deny.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// The detail: Duo's message or the error.
    pub detail: Option<String>,
    /// Time from the start frame to the decision.
    pub latency: Duration,
}

impl AuditRecord {
    /// login_duo's syslog priority for this outcome (info for success, err for errors, else warning).
    pub fn priority(&self) -> crate::syslog::Priority {
        use crate::syslog::Priority;
        match self.reason {
            Reason::Authenticated => Priority::Info,
            Reason::Error => Priority::Err,
            _ => Priority::Warning,
        }
    }

    /// login_duo's phrase for this outcome ("Successful Duo login", "Failsafe Duo login", ...).
    pub fn headline(&self) -> &'static str {
        match self.reason {
            Reason::Authenticated => "Successful Duo login",
            Reason::Bypass | Reason::NotInGroups => "Skipped Duo login",
            Reason::FailSafe => "Failsafe Duo login",
            Reason::FailSecure => "Failsecure Duo login",
            // login_duo logs a preauth deny (no factor was ever tried) as "Aborted".
            Reason::Denied if self.factor.is_none() => "Aborted Duo login",
            Reason::Denied => "Failed Duo login",
            Reason::Enroll | Reason::Aborted | Reason::NotPermitted | Reason::RateLimited => {
                "Aborted Duo login"
            }
            Reason::Error => "Error in Duo login",
        }
    }
}

/// Quote a value for a key=value log line so spaces and quotes in it cannot forge fields.
fn quoted(v: &str) -> String {
    let clean: String = duo_authd_proto::sanitize(v)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    format!("{:?}", clean)
}

impl fmt::Display for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for {}", self.headline(), quoted(&self.user))?;
        if let Some(c) = &self.client {
            write!(f, " from {}", quoted(c))?;
        }
        write!(
            f,
            ": result={} reason={} uid={}",
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
        if let Some(x) = &self.factor {
            write!(f, " factor={}", quoted(x))?;
        }
        if let Some(x) = &self.txid {
            write!(f, " txid={}", quoted(x))?;
        }
        write!(f, " latency_ms={}", self.latency.as_millis())?;
        if let Some(x) = &self.detail {
            write!(f, " detail={}", quoted(x))?;
        }
        Ok(())
    }
}

/// Emit the record on the audit target (stderr, and syslog when configured).
pub fn emit(rec: &AuditRecord) {
    let line = rec.to_string();
    match rec.reason {
        Reason::Authenticated | Reason::Bypass | Reason::NotInGroups => {
            tracing::info!(target: "audit", "{line}")
        }
        Reason::FailSafe | Reason::FailSecure | Reason::Error => {
            tracing::error!(target: "audit", "{line}")
        }
        _ => tracing::warn!(target: "audit", "{line}"),
    }
    crate::syslog::send(rec.priority(), &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_reads_like_login_duo_and_cannot_be_forged() {
        let rec = AuditRecord {
            user: "bob\" result=allow".into(),
            uid: 1000,
            pid: Some(42),
            client: Some("192.0.2.1".into()),
            factor: Some("push1".into()),
            txid: None,
            verdict: Verdict::Deny,
            reason: Reason::Denied,
            detail: Some("Login request denied.\n\u{1b}[2J".into()),
            latency: Duration::from_millis(1500),
        };
        let line = rec.to_string();
        assert!(line.starts_with(
            "Failed Duo login for \"bob\\\" result=allow\" from \"192.0.2.1\": result=deny"
        ));
        assert!(line.contains("latency_ms=1500"));
        assert!(!line.contains('\u{1b}'));
        assert!(!line.contains('\n'));
        assert_eq!(rec.priority(), crate::syslog::Priority::Warning);
    }

    #[test]
    fn preauth_deny_reads_aborted_like_login_duo() {
        let mut rec = AuditRecord {
            user: "bob".into(),
            uid: 0,
            pid: None,
            client: None,
            factor: None,
            txid: None,
            verdict: Verdict::Deny,
            reason: Reason::Denied,
            detail: Some("Login denied by policy".into()),
            latency: Duration::ZERO,
        };
        assert!(rec
            .to_string()
            .starts_with("Aborted Duo login for \"bob\": "));
        rec.factor = Some("push1".into());
        assert!(rec
            .to_string()
            .starts_with("Failed Duo login for \"bob\": "));
        rec.reason = Reason::Authenticated;
        assert_eq!(rec.priority(), crate::syslog::Priority::Info);
        // Emitting with syslog on must not fail (what reaches syslogd is not observable here).
        crate::syslog::configure(true);
        emit(&rec);
    }
}
