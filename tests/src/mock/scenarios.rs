//! What the mock answers, chosen by the Duo username. Every username not listed behaves like `push-user`.
//!
//! | username | preauth | auth / auth_status |
//! | --- | --- | --- |
//! | `allow-user` | `allow`, "Allowing unknown user" | — |
//! | `deny-user` | `deny`, "Login denied by policy" | — |
//! | `enroll-user` | `enroll`, "Enroll at https://enroll.example/abc" | — |
//! | `push-user` | `auth`: prompt (with `text_prompt=1`) and devices, default `push1` | push/phone approved after `push_delay` |
//! | `push-deny-user` | as `push-user` | push/phone denied: "Login request denied." |
//! | `phone-user` | as `push-user`, default factor `phone1` | phone call approved |
//! | `sms-user` | as `push-user` | `sms1` denies with "New SMS passcodes sent.", then passcode `123456` allows |
//! | `devices-user` | `auth` with a `devices` list only (no `prompt`) | as `push-user` |
//! | `fail5xx-user` | HTTP 500 | — |
//! | `slow-user` | answers (as `push-user`) only after `slow_delay` | — |
//! | `badjson-user` | 200 with body `<html>oops` | — |
//! | `statfail-user` | 200 `{"stat":"FAIL","code":40002,...}` | — |
//! | `weird-result-user` | `result: "bogus"` | — |
//! | `escape-user` | `auth`; prompt text and every status_msg carry ESC/OSC/BEL/C1 sequences and `ESC-TEST` | push approved |
//! | `ratelimit-user` | first 2 calls: 429 with `Retry-After: 1`, then as `push-user` | as `push-user` |
//! | `ratelimit-date-user` | same, `Retry-After` an HTTP-date 1 s ahead | as `push-user` |
//! | `drop-auth-user` | as `push-user` | `/auth` is read and counted, then the connection is closed unanswered |
//! | `auth5xx-user` | as `push-user` | `/auth` → HTTP 503 |
//! | `authbadjson-user` | as `push-user` | `/auth` → 200 with a body that is not JSON |
//! | `status5xx-user` | as `push-user` | `/auth` fine, `/auth_status` → HTTP 502 |
//! | `unauthorized-user` | HTTP 401 (code 40101) even with a good signature | — |
//! | `auth-slow-user` | as `push-user` | `/auth` answers only after `slow_delay` |
//! | `auth-statfail-user` | as `push-user` | `/auth` → 200 `{"stat":"FAIL","code":40002,...}` |
//! | `huge-deny-user` | `deny` with a 20 KiB `status_msg` (over the socket's frame cap) | — |
//! | `retry-forever-user` | HTTP 429 with `Retry-After: 18446744073709551615` | — |
//! | `auth-nomenu-user` | `auth`, but no menu can be built: the prompt's factor map has no `default`, the only device is a token (no push, phone or SMS) | — |
//! | `forge-log-user` | 200 `stat: FAIL` whose message holds a line break, a carriage return and a forged audit line ([`FORGED_LINE`]) | — |
//! | `verified-plain-user` | as `verified-user`, but the verified push is the factor named `push1` | `push1` needs preauth's `txid` |
//! | `verified-user` | as `push-user`; with `client_supports_verified_push=1`: factors `verified_push1` and `txid` [`VERIFIED_TXID`] | `verified_push1` needs that `txid` (a `txid` with any other factor is denied); waiting status_msg carries the code ("Enter 123 in your Duo Mobile app...") |
//!
//! For every user, `/auth` takes `factor=prompt` with `prompt=push1|phone1|sms1|<passcode>` (`verified_push1` is a
//! verified push) or `factor=push|phone|sms|auto` with `device=`, or `factor=passcode` with `passcode=`. Passcode
//! `123456` allows ("Success. Logging you in..."), any other denies ("Incorrect passcode. Please try again.").

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Terminal-hijacking sequences (clear screen, set title, BEL, C1 CSI) and a plain marker, for `escape-user`.
pub(crate) const ESCAPE_PAYLOAD: &str = "ESC-TEST\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m";

/// The only passcode the mock accepts.
pub(crate) const GOOD_PASSCODE: &str = "123456";

/// The transaction id preauth hands a Verified Push client (`verified-user`), expected back on `/auth`.
pub(crate) const VERIFIED_TXID: &str = "verified-push-txid";

/// The code a Verified Push asks the user to type into Duo Mobile.
pub(crate) const VERIFY_CODE: &str = "123";

/// The audit line `forge-log-user`'s `stat: FAIL` message tries to slip into the daemon's log.
pub const FORGED_LINE: &str = "Successful Duo login for 'root' from 203.0.113.66 [result=allow reason=authenticated uid=0 FORGED]";

/// The one device every user has.
pub(crate) const DEVICE_ID: &str = "DPFZRS9FB0D46QFTM891";

/// The behaviour a username selects (see the table at the top of this module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// `allow-user`.
    Allow,
    /// `deny-user`.
    Deny,
    /// `enroll-user`.
    Enroll,
    /// `push-user` and every unknown name.
    Push,
    /// `push-deny-user`.
    PushDeny,
    /// `phone-user`.
    Phone,
    /// `devices-user`.
    Devices,
    /// `fail5xx-user`.
    Fail5xx,
    /// `slow-user`.
    Slow,
    /// `badjson-user`.
    BadJson,
    /// `statfail-user`.
    StatFail,
    /// `weird-result-user`.
    WeirdResult,
    /// `escape-user`.
    Escape,
    /// `ratelimit-user`.
    RateLimit,
    /// `ratelimit-date-user`.
    RateLimitDate,
    /// `drop-auth-user`.
    DropAuth,
    /// `auth5xx-user`.
    Auth5xx,
    /// `authbadjson-user`.
    AuthBadJson,
    /// `status5xx-user`.
    Status5xx,
    /// `unauthorized-user`.
    Unauthorized,
    /// `verified-user`.
    Verified,
    /// `verified-plain-user`.
    VerifiedPlain,
    /// `auth-slow-user`.
    AuthSlow,
    /// `auth-statfail-user`.
    AuthStatFail,
    /// `huge-deny-user`.
    HugeDeny,
    /// `retry-forever-user`.
    RetryForever,
    /// `auth-nomenu-user`.
    AuthNoMenu,
    /// `forge-log-user`.
    ForgeLog,
}

/// The scenario of a Duo username.
pub(crate) fn scenario(user: &str) -> Scenario {
    match user {
        "allow-user" => Scenario::Allow,
        "deny-user" => Scenario::Deny,
        "enroll-user" => Scenario::Enroll,
        "push-deny-user" => Scenario::PushDeny,
        "phone-user" => Scenario::Phone,
        "devices-user" => Scenario::Devices,
        "fail5xx-user" => Scenario::Fail5xx,
        "slow-user" => Scenario::Slow,
        "badjson-user" => Scenario::BadJson,
        "statfail-user" => Scenario::StatFail,
        "weird-result-user" => Scenario::WeirdResult,
        "escape-user" => Scenario::Escape,
        "ratelimit-user" => Scenario::RateLimit,
        "ratelimit-date-user" => Scenario::RateLimitDate,
        "drop-auth-user" => Scenario::DropAuth,
        "auth5xx-user" => Scenario::Auth5xx,
        "authbadjson-user" => Scenario::AuthBadJson,
        "status5xx-user" => Scenario::Status5xx,
        "unauthorized-user" => Scenario::Unauthorized,
        "verified-user" => Scenario::Verified,
        "verified-plain-user" => Scenario::VerifiedPlain,
        "auth-slow-user" => Scenario::AuthSlow,
        "auth-statfail-user" => Scenario::AuthStatFail,
        "huge-deny-user" => Scenario::HugeDeny,
        "retry-forever-user" => Scenario::RetryForever,
        "auth-nomenu-user" => Scenario::AuthNoMenu,
        "forge-log-user" => Scenario::ForgeLog,
        // sms-user needs nothing special: SMS and passcodes work the same for everyone.
        _ => Scenario::Push,
    }
}

/// A status message as this scenario words it (escape-user gets the payload in every one).
pub(crate) fn msg(sc: Scenario, text: &str) -> String {
    if sc == Scenario::Escape {
        format!("{ESCAPE_PAYLOAD} {text}")
    } else {
        text.to_string()
    }
}

fn devices(number: &str) -> Value {
    json!([{
        "device": DEVICE_ID,
        "type": "phone",
        "number": number,
        "name": "",
        "capabilities": ["auto", "push", "sms", "phone", "mobile_otp"],
    }])
}

/// The `response` of a normal preauth for `user` (the statuses and faults are handled by the server).
pub(crate) fn preauth_response(sc: Scenario, user: &str, text_prompt: bool) -> Value {
    match sc {
        Scenario::Allow => json!({"result": "allow", "status_msg": "Allowing unknown user"}),
        Scenario::Deny => json!({"result": "deny", "status_msg": "Login denied by policy"}),
        Scenario::HugeDeny => {
            json!({"result": "deny", "status_msg": format!("Login denied: {}", "x".repeat(20 * 1024))})
        }
        Scenario::Enroll => {
            let mut r = json!({
                "result": "enroll",
                "status_msg": "Enroll at https://enroll.example/abc",
                "enroll_portal_url": "https://enroll.example/abc",
            });
            if text_prompt {
                r["prompt"] = json!({"text": "Please enroll at https://enroll.example/abc"});
            }
            r
        }
        Scenario::WeirdResult => json!({"result": "bogus", "status_msg": "Bogus result"}),
        Scenario::AuthNoMenu => {
            // Duo says the user needs a second factor, but offers nothing we can make a menu of.
            let mut r = json!({
                "result": "auth",
                "status_msg": "Account is active",
                "devices": [{"device": "DTOKEN0000000000001", "type": "token", "capabilities": []}],
            });
            if text_prompt {
                r["prompt"] = json!({"text": "Passcode: ", "factors": {}});
            }
            r
        }
        Scenario::Devices => json!({
            "result": "auth",
            "status_msg": "Account is active",
            "devices": devices("XXX-XXX-0100"),
        }),
        _ => {
            let mut r = json!({
                "result": "auth",
                "status_msg": msg(sc, "Account is active"),
                "devices": devices("XXX-XXX-1234"),
            });
            if text_prompt {
                let marker = if sc == Scenario::Escape {
                    format!(" {ESCAPE_PAYLOAD}")
                } else {
                    String::new()
                };
                let default = if sc == Scenario::Phone {
                    "phone1"
                } else {
                    "push1"
                };
                let text = format!(
                    "Duo two-factor login for {user}{marker}\n\n\
                     Enter a passcode or select one of the following options:\n\n \
                     1. Duo Push to XXX-XXX-1234\n \
                     2. Phone call to XXX-XXX-1234\n \
                     3. SMS passcodes to XXX-XXX-1234\n\n\
                     Passcode or option (1-3): "
                );
                r["prompt"] = json!({"text": text, "factors": {"1": "push1", "2": "phone1", "3": "sms1", "default": default}});
            }
            r
        }
    }
}

/// Turn a `verified-user` preauth into a Verified Push one (the client said it supports it);
/// `verified-plain-user` keeps the factor name `push1`.
pub(crate) fn make_verified(sc: Scenario, r: &mut Value) {
    if let (Some(f), Scenario::Verified) = (r.pointer_mut("/prompt/factors"), sc) {
        f["1"] = json!("verified_push1");
        f["default"] = json!("verified_push1");
    }
    if r.get("result").and_then(Value::as_str) == Some("auth") {
        r["txid"] = json!(VERIFIED_TXID);
    }
}

/// Why a Verified Push user's `/auth` is refused, if it is: the verified push needs preauth's
/// `txid`, and any `txid` sent must be that one (login_duo sends it with every factor).
pub(crate) fn txid_problem(sc: Scenario, p: &BTreeMap<String, String>) -> Option<&'static str> {
    if !matches!(sc, Scenario::Verified | Scenario::VerifiedPlain) {
        return None;
    }
    let verified = match p.get("prompt").map(String::as_str) {
        Some(v) if sc == Scenario::VerifiedPlain => v == "push1",
        Some(v) => v.starts_with("verified_push"),
        None => false,
    };
    match (verified, p.get("txid").map(String::as_str)) {
        (_, Some(VERIFIED_TXID)) | (false, None) => None,
        (_, Some(_)) => Some("wrong txid passed to /auth"),
        (true, None) => Some("txid should be passed to /auth"),
    }
}

/// What an `/auth` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Factor {
    /// A Duo Push (approved or denied after `push_delay`).
    Push,
    /// A Verified Duo Push: a push whose waiting status carries the code to type.
    VerifiedPush,
    /// A phone call (answered after `push_delay`).
    Phone,
    /// New SMS passcodes (an immediate deny, as Duo does).
    Sms,
    /// A passcode to check.
    Passcode(String),
}

impl Factor {
    /// Whether the answer waits for the user's phone (counted as a push).
    pub(crate) fn waits(&self) -> bool {
        matches!(self, Factor::Push | Factor::VerifiedPush | Factor::Phone)
    }
}

/// The factor an `/auth`'s parameters ask for, or the reason they are invalid.
pub(crate) fn factor_of(
    sc: Scenario,
    p: &BTreeMap<String, String>,
) -> Result<Factor, &'static str> {
    let get = |k: &str| p.get(k).map(String::as_str);
    match get("factor") {
        Some("prompt") => match get("prompt") {
            Some("push1") if sc == Scenario::VerifiedPlain => Ok(Factor::VerifiedPush),
            Some("push1") => Ok(Factor::Push),
            Some("verified_push1") => Ok(Factor::VerifiedPush),
            Some("phone1") => Ok(Factor::Phone),
            Some("sms1") => Ok(Factor::Sms),
            Some(code) => Ok(Factor::Passcode(code.to_string())),
            None => Err("missing prompt"),
        },
        Some("push") => Ok(Factor::Push),
        Some("phone") => Ok(Factor::Phone),
        Some("sms") => Ok(Factor::Sms),
        Some("auto") if sc == Scenario::Phone => Ok(Factor::Phone),
        Some("auto") => Ok(Factor::Push),
        Some("passcode") => get("passcode")
            .map(|c| Factor::Passcode(c.to_string()))
            .ok_or("missing passcode"),
        Some(_) => Err("invalid factor"),
        None => Err("missing factor"),
    }
}

/// One answer of `/auth` or `/auth_status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// `allow`, `deny` or `waiting`.
    pub result: &'static str,
    /// Duo's finer status (`allow`, `deny`, `sent`, `pushed`, `calling`).
    pub status: &'static str,
    /// The text shown to the user.
    pub status_msg: String,
}

impl Answer {
    /// The `response` object.
    pub(crate) fn json(&self) -> Value {
        json!({"result": self.result, "status": self.status, "status_msg": self.status_msg})
    }
}

/// The outcome of `factor` for this scenario.
pub(crate) fn final_answer(sc: Scenario, factor: &Factor) -> Answer {
    let (result, status, text) = match factor {
        Factor::Push | Factor::VerifiedPush | Factor::Phone if sc == Scenario::PushDeny => {
            ("deny", "deny", "Login request denied.")
        }
        Factor::Push | Factor::VerifiedPush | Factor::Phone => {
            ("allow", "allow", "Success. Logging you in...")
        }
        Factor::Sms => ("deny", "sent", "New SMS passcodes sent."),
        Factor::Passcode(c) if c == GOOD_PASSCODE => {
            ("allow", "allow", "Success. Logging you in...")
        }
        Factor::Passcode(_) => ("deny", "deny", "Incorrect passcode. Please try again."),
    };
    Answer {
        result,
        status,
        status_msg: msg(sc, text),
    }
}

/// What `/auth_status` says while `factor` is still pending.
pub(crate) fn waiting_answer(sc: Scenario, factor: &Factor) -> Answer {
    let (status, text) = match factor {
        Factor::Phone => ("calling", "Calling your phone...".to_string()),
        Factor::VerifiedPush => (
            "pushed",
            format!("Enter {VERIFY_CODE} in your Duo Mobile app to approve this login..."),
        ),
        _ => (
            "pushed",
            "Pushed a login request to your device...".to_string(),
        ),
    };
    Answer {
        result: "waiting",
        status,
        status_msg: msg(sc, &text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn factors_from_prompt_and_device_style() {
        let f = |kv: &[(&str, &str)]| factor_of(Scenario::Push, &params(kv));
        assert_eq!(
            f(&[("factor", "prompt"), ("prompt", "push1")]),
            Ok(Factor::Push)
        );
        assert_eq!(
            f(&[("factor", "prompt"), ("prompt", "phone1")]),
            Ok(Factor::Phone)
        );
        assert_eq!(
            f(&[("factor", "prompt"), ("prompt", "sms1")]),
            Ok(Factor::Sms)
        );
        assert_eq!(
            f(&[("factor", "prompt"), ("prompt", "1")]),
            Ok(Factor::Passcode("1".into()))
        );
        assert_eq!(
            f(&[("factor", "push"), ("device", DEVICE_ID)]),
            Ok(Factor::Push)
        );
        assert_eq!(
            f(&[("factor", "passcode"), ("passcode", "123456")]),
            Ok(Factor::Passcode("123456".into()))
        );
        assert!(f(&[("factor", "passcode")]).is_err());
        assert!(f(&[("factor", "telepathy")]).is_err());
        assert!(f(&[]).is_err());
        assert_eq!(
            factor_of(Scenario::Phone, &params(&[("factor", "auto")])),
            Ok(Factor::Phone)
        );
    }

    #[test]
    fn outcomes() {
        assert_eq!(final_answer(Scenario::Push, &Factor::Push).result, "allow");
        assert_eq!(
            final_answer(Scenario::PushDeny, &Factor::Push).status_msg,
            "Login request denied."
        );
        assert_eq!(
            final_answer(Scenario::Push, &Factor::Sms).status_msg,
            "New SMS passcodes sent."
        );
        assert_eq!(
            final_answer(Scenario::Push, &Factor::Passcode("123456".into())).result,
            "allow"
        );
        assert_eq!(
            final_answer(Scenario::Push, &Factor::Passcode("000000".into())).result,
            "deny"
        );
        assert!(final_answer(Scenario::Escape, &Factor::Push)
            .status_msg
            .contains('\u{1b}'));
        assert!(waiting_answer(Scenario::Escape, &Factor::Push)
            .status_msg
            .contains('\u{9b}'));
        assert!(waiting_answer(Scenario::Verified, &Factor::VerifiedPush)
            .status_msg
            .contains("Enter 123 in your Duo Mobile app"));
        assert_eq!(
            final_answer(Scenario::Verified, &Factor::VerifiedPush).result,
            "allow"
        );
    }

    #[test]
    fn verified_push_txid_rule() {
        let mut r = preauth_response(scenario("verified-user"), "verified-user", true);
        make_verified(Scenario::Verified, &mut r);
        assert_eq!(r["txid"], VERIFIED_TXID);
        assert_eq!(r["prompt"]["factors"]["default"], "verified_push1");
        let sc = Scenario::Verified;
        let ok = params(&[("prompt", "verified_push1"), ("txid", VERIFIED_TXID)]);
        assert_eq!(txid_problem(sc, &ok), None);
        assert_eq!(
            factor_of(
                sc,
                &params(&[("factor", "prompt"), ("prompt", "verified_push1")])
            ),
            Ok(Factor::VerifiedPush)
        );
        assert!(txid_problem(sc, &params(&[("prompt", "verified_push1")])).is_some());
        // login_duo sends preauth's txid with every factor: accepted when it is the right one.
        assert_eq!(
            txid_problem(
                sc,
                &params(&[("prompt", "123456"), ("txid", VERIFIED_TXID)])
            ),
            None
        );
        assert!(txid_problem(sc, &params(&[("prompt", "123456"), ("txid", "other")])).is_some());
        assert_eq!(txid_problem(sc, &params(&[("prompt", "123456")])), None);
        // A verified push named plain push1.
        let plain = Scenario::VerifiedPlain;
        let mut r = preauth_response(plain, "verified-plain-user", true);
        make_verified(plain, &mut r);
        assert_eq!(r["prompt"]["factors"]["1"], "push1");
        assert_eq!(r["txid"], VERIFIED_TXID);
        assert!(txid_problem(plain, &params(&[("prompt", "push1")])).is_some());
        assert_eq!(
            txid_problem(
                plain,
                &params(&[("prompt", "push1"), ("txid", VERIFIED_TXID)])
            ),
            None
        );
        assert_eq!(
            factor_of(plain, &params(&[("factor", "prompt"), ("prompt", "push1")])),
            Ok(Factor::VerifiedPush)
        );
        assert_eq!(
            txid_problem(
                Scenario::Push,
                &params(&[("prompt", "push1"), ("txid", "x")])
            ),
            None
        );
    }

    #[test]
    fn preauth_shapes() {
        let u = preauth_response(Scenario::Push, "USER", true);
        assert_eq!(
            u["prompt"]["text"],
            "Duo two-factor login for USER\n\nEnter a passcode or select one of the following options:\n\n \
             1. Duo Push to XXX-XXX-1234\n 2. Phone call to XXX-XXX-1234\n 3. SMS passcodes to XXX-XXX-1234\n\n\
             Passcode or option (1-3): "
        );
        let r = preauth_response(scenario("someone"), "someone", true);
        assert_eq!(r["prompt"]["factors"]["default"], "push1");
        assert!(r["prompt"]["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("Duo two-factor login for someone\n"));
        assert!(r["devices"].is_array());
        assert_eq!(
            preauth_response(Scenario::Phone, "p", true)["prompt"]["factors"]["default"],
            "phone1"
        );
        let d = preauth_response(scenario("devices-user"), "devices-user", true);
        assert!(d.get("prompt").is_none());
        assert_eq!(d["devices"][0]["number"], "XXX-XXX-0100");
        assert!(preauth_response(Scenario::Push, "x", false)
            .get("prompt")
            .is_none());
        let e = preauth_response(scenario("escape-user"), "escape-user", true);
        assert!(e["prompt"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("\u{1b}]0;pwned\u{7}"));
        assert!(e["status_msg"].as_str().unwrap_or("").contains("ESC-TEST"));
        assert_eq!(
            preauth_response(Scenario::WeirdResult, "w", true)["result"],
            "bogus"
        );
    }
}
