//! The failmode rule: which failures let a login through under `failmode = safe`, and which always deny.

use duo_authd_proto::{Decision, Reason, Verdict};

use crate::config::Failmode;
use crate::duo::{DuoError, ErrorClass};
use crate::preauth::PreauthError;

/// Something went wrong between us and Duo (as opposed to the user failing the second factor).
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// The HTTPS exchange failed or Duo answered with an error.
    #[error(transparent)]
    Duo(#[from] DuoError),
    /// Duo answered 200 with something we cannot interpret.
    #[error(transparent)]
    Response(#[from] PreauthError),
}

/// How a fault is decided: by the configured failmode, or always denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Duo is unreachable or broken: `safe` allows, `secure` denies.
    Failmode,
    /// Duo answered with a definite client error (HTTP 4xx other than 401/429): deny, as login_duo's "Aborted".
    Deny,
}

impl Fault {
    /// The rule for this fault; the README's failmode table is this function.
    pub fn rule(&self) -> Rule {
        match self {
            Fault::Response(_) => Rule::Failmode,
            Fault::Duo(e) => match e.class() {
                ErrorClass::Connect
                | ErrorClass::Tls
                | ErrorClass::Timeout
                | ErrorClass::Server5xx
                | ErrorClass::Unauthorized
                | ErrorClass::RateLimited
                | ErrorClass::InvalidResponse
                | ErrorClass::StatFail => Rule::Failmode,
                ErrorClass::ClientHttp => Rule::Deny,
            },
        }
    }

    /// The decision this fault leads to under `failmode`.
    pub fn decide(&self, failmode: Failmode) -> Decision {
        match (self.rule(), failmode) {
            (Rule::Failmode, Failmode::Safe) => Decision {
                verdict: Verdict::Allow,
                reason: Reason::FailSafe,
                message: None,
                show_motd: false,
            },
            (Rule::Failmode, Failmode::Secure) => Decision {
                verdict: Verdict::Deny,
                reason: Reason::FailSecure,
                message: Some("Duo two-factor authentication is unavailable; login denied.".into()),
                show_motd: false,
            },
            (Rule::Deny, _) => Decision {
                verdict: Verdict::Deny,
                reason: Reason::Aborted,
                message: Some("Duo two-factor authentication failed; login denied.".into()),
                show_motd: false,
            },
        }
    }
}
