//! The failmode rule: failmode answers one question only, "Duo could not be asked whether this
//! user needs a second factor". Every other failure denies.
//!
//! This is login_duo's rule (its failmode covers the ping and preauth only): once preauth has
//! answered `auth`, nothing that goes wrong can let the user in, whatever `failmode` says. The
//! table in the README ("Failmode") is [`rule`]; `tests::the_readme_table` checks it row by row.

use serde::Deserialize;

use crate::duo::ErrorClass;

/// What `failmode = "safe" | "secure"` says to do when Duo cannot be asked at all (login_duo's `failmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Failmode {
    /// Let the user in without a second factor (login_duo's default).
    #[default]
    Safe,
    /// Deny the login.
    Secure,
}

impl Failmode {
    /// The spelling Duo's preauth takes as its `failmode` parameter.
    pub fn duo_param(self) -> &'static str {
        match self {
            Failmode::Safe => "open",
            Failmode::Secure => "closed",
        }
    }
}

/// Where in a login a failure happened: the rule depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Asking Duo whether the user needs a second factor (`/preauth`); the user has typed nothing.
    Preauth,
    /// After preauth answered `auth`: `/auth`, `/auth/status`, the prompt and its deadline.
    Auth,
}

/// What a failure leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Duo could not be asked: `safe` allows, `secure` denies (audited "Failsafe"/"Failsecure").
    Failmode,
    /// Duo answered and refused this request (`stat: FAIL`, an HTTP 4xx other than 401 and 429):
    /// deny. During the factor stage it counts as one failed attempt, as login_duo counts it.
    Refused,
    /// Anything else: deny, audited as an error ("Error in Duo login").
    Deny,
}

/// The rule for a failure of `class` at `stage`; the README's failmode table is this function.
pub fn rule(stage: Stage, class: ErrorClass) -> Rule {
    use ErrorClass::*;
    match (stage, class) {
        (_, StatFail | ClientHttp) => Rule::Refused,
        (_, Local) => Rule::Deny,
        (Stage::Preauth, Connect | Tls | Timeout | Server5xx | Unauthorized | RateLimited) => {
            Rule::Failmode
        }
        (Stage::Preauth, InvalidResponse) => Rule::Failmode,
        (Stage::Auth, _) => Rule::Deny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorClass::*;

    /// One row per line of the README's failmode table: (what went wrong, class, preauth, auth).
    const TABLE: &[(&str, ErrorClass, Rule, Rule)] = &[
        (
            "connection refused, DNS failure, reset",
            Connect,
            Rule::Failmode,
            Rule::Deny,
        ),
        ("TLS failure", Tls, Rule::Failmode, Rule::Deny),
        (
            "timeout (https_timeout, or the login deadline before any prompt)",
            Timeout,
            Rule::Failmode,
            Rule::Deny,
        ),
        ("HTTP 5xx", Server5xx, Rule::Failmode, Rule::Deny),
        ("HTTP 401", Unauthorized, Rule::Failmode, Rule::Deny),
        (
            "HTTP 429 still limited at the deadline",
            RateLimited,
            Rule::Failmode,
            Rule::Deny,
        ),
        (
            "body not JSON, no stat, unexpected result or missing field",
            InvalidResponse,
            Rule::Failmode,
            Rule::Deny,
        ),
        ("stat: FAIL", StatFail, Rule::Refused, Rule::Refused),
        ("another HTTP 4xx", ClientHttp, Rule::Refused, Rule::Refused),
        (
            "a request the daemon cannot build",
            Local,
            Rule::Deny,
            Rule::Deny,
        ),
    ];

    #[test]
    fn the_readme_table() {
        for &(what, class, preauth, auth) in TABLE {
            assert_eq!(rule(Stage::Preauth, class), preauth, "preauth: {what}");
            assert_eq!(rule(Stage::Auth, class), auth, "auth: {what}");
        }
    }

    #[test]
    fn nothing_after_preauth_follows_failmode() {
        for class in [
            Connect,
            Tls,
            Timeout,
            Server5xx,
            Unauthorized,
            RateLimited,
            ClientHttp,
            InvalidResponse,
            StatFail,
            Local,
        ] {
            assert_ne!(rule(Stage::Auth, class), Rule::Failmode, "{class:?}");
        }
    }

    #[test]
    fn wire_spelling() {
        assert_eq!(Failmode::Safe.duo_param(), "open");
        assert_eq!(Failmode::Secure.duo_param(), "closed");
        assert_eq!(Failmode::default(), Failmode::Safe);
    }
}
