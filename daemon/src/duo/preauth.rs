//! Reading Duo's preauth answer into a menu, whether Duo wrote the prompt (`text_prompt=1`) or sent a `devices` list.

use duo_authd_proto::sanitize;
use serde_json::Value;

/// What preauth told us to do with this user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preauth {
    /// Let the user in without a second factor (bypass, or Duo's new-user policy).
    Allow {
        /// Duo's status_msg.
        message: String,
    },
    /// Refuse the user.
    Deny {
        /// Duo's status_msg, shown to the user.
        message: String,
    },
    /// The user must enroll first.
    Enroll {
        /// The enrollment text (prompt.text when present, else status_msg).
        message: String,
    },
    /// Duo answered `auth` (the user needs a second factor) but offered nothing a menu can be made
    /// of. Duo did answer the one question failmode is about, so this denies in both modes.
    AuthUnusable {
        /// What is missing (our words, never Duo's text).
        reason: String,
    },
    /// Ask for a second factor.
    Auth {
        /// What to offer the user.
        menu: Menu,
        /// Verified Duo Push transaction id, sent back with `/auth` whatever factor is chosen (as login_duo does).
        txid: Option<String>,
    },
}

/// The choices offered to the user and how each maps to `/auth` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    /// The text shown at the prompt.
    pub text: String,
    /// Answer ("1", "2", ...) to factor, in Duo's order; a few entries, kept as a tight `Vec` because
    /// every waiting login holds its menu (a `BTreeMap` node costs 700 bytes however few keys it has).
    pub options: Vec<(String, Choice)>,
    /// What headless and autopush logins use.
    pub default: Choice,
    /// Whether the menu came from a `devices` list (public API) rather than Duo's text prompt.
    pub from_devices: bool,
}

/// One way to authenticate, as `/auth` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `factor=prompt&prompt=NAME`: a factor from Duo's text-prompt map (push1, phone1, sms1...).
    Factor(String),
    /// `factor=prompt&prompt=CODE`: a passcode typed at Duo's text prompt (login_duo sends it so).
    PromptPasscode(String),
    /// `factor=F&device=D` for the public API (`F` in push, phone, sms, auto).
    Device {
        /// push, phone, sms or auto.
        factor: &'static str,
        /// Duo's device id, or "auto".
        device: String,
    },
    /// `factor=passcode&passcode=X` for the public API.
    Passcode(String),
}

/// What kind of second factor a choice triggers: the push-fatigue limits count every kind that
/// reaches the user's phone (push, call, SMS), and only a push can carry a Verified Push code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    /// A push lands on the user's device (also Duo's `auto`, which pushes when it can).
    Push,
    /// A phone call rings the user.
    Phone,
    /// SMS passcodes are sent (then the user types one).
    Sms,
    /// The user typed a passcode.
    Passcode,
}

impl FactorKind {
    /// Whether this reaches the user's phone unasked (what push bombing abuses).
    pub fn out_of_band(self) -> bool {
        self != FactorKind::Passcode
    }

    /// The kind of a factor named by Duo (`push1`, `Phone2`, `voice1`, `smsrefresh1`, `auto`),
    /// matched case-insensitively; an unknown name is counted as a push, never as free.
    fn of_name(name: &str) -> FactorKind {
        let n = name.to_ascii_lowercase();
        if n.contains("push") || n == "auto" {
            FactorKind::Push
        } else if n.starts_with("phone") || n.starts_with("voice") || n.starts_with("call") {
            FactorKind::Phone
        } else if n.starts_with("sms") {
            FactorKind::Sms
        } else {
            FactorKind::Push
        }
    }
}

impl Choice {
    /// The `/auth` parameters for this choice (without username, ipaddr, ...).
    pub fn params(&self) -> Vec<(String, String)> {
        match self {
            Choice::Factor(p) | Choice::PromptPasscode(p) => vec![
                ("factor".into(), "prompt".into()),
                ("prompt".into(), p.clone()),
            ],
            Choice::Device { factor, device } => {
                vec![
                    ("factor".into(), (*factor).into()),
                    ("device".into(), device.clone()),
                ]
            }
            Choice::Passcode(p) => vec![
                ("factor".into(), "passcode".into()),
                ("passcode".into(), p.clone()),
            ],
        }
    }

    /// What kind of factor this is.
    pub fn kind(&self) -> FactorKind {
        match self {
            Choice::Factor(name) => FactorKind::of_name(name),
            Choice::Device { factor, .. } => FactorKind::of_name(factor),
            Choice::PromptPasscode(_) | Choice::Passcode(_) => FactorKind::Passcode,
        }
    }

    /// A name for logs that never contains a passcode.
    pub fn label(&self) -> String {
        match self {
            Choice::Factor(p) => sanitize(p),
            Choice::Device { factor, .. } => (*factor).into(),
            Choice::PromptPasscode(_) | Choice::Passcode(_) => "passcode".into(),
        }
    }

    /// The status line login_duo prints before an automatic attempt.
    pub fn auto_message(&self) -> &'static str {
        match self.kind() {
            FactorKind::Push => "Autopushing login request to phone...",
            FactorKind::Phone => "Calling your phone...",
            FactorKind::Sms | FactorKind::Passcode => "Using default second-factor authentication.",
        }
    }
}

impl Menu {
    /// The choice behind menu answer `key` ("1", "2"...), if there is one.
    pub fn option(&self, key: &str) -> Option<&Choice> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, c)| c)
    }

    /// Map what the user typed to a choice: a menu number, a factor name the menu offers
    /// (`push1`), else a passcode (as login_duo does).
    pub fn resolve(&self, answer: &str) -> Choice {
        if let Some(c) = self.option(answer) {
            return c.clone();
        }
        if self.from_devices {
            return Choice::Passcode(answer.to_string());
        }
        let named = self
            .options
            .iter()
            .map(|(_, c)| c)
            .chain(std::iter::once(&self.default));
        for c in named {
            if let Choice::Factor(name) = c {
                if name.eq_ignore_ascii_case(answer) {
                    return c.clone();
                }
            }
        }
        Choice::PromptPasscode(answer.to_string())
    }
}

/// Why a Duo answer could not be understood (the JSON was valid but not what the API promises).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected {endpoint} response: {reason}")]
pub struct ResponseError {
    /// Which call (`preauth`, `auth`, `auth_status`, `ping`).
    pub endpoint: &'static str,
    /// What is missing or wrong.
    pub reason: String,
}

impl ResponseError {
    /// An error about a `preauth` answer.
    fn preauth(reason: impl Into<String>) -> ResponseError {
        ResponseError {
            endpoint: "preauth",
            reason: reason.into(),
        }
    }
}

/// Interpret the `response` member of a successful preauth.
pub fn parse(response: &Value, username: &str) -> Result<Preauth, ResponseError> {
    let result = response
        .get("result")
        .and_then(Value::as_str)
        .ok_or_else(|| ResponseError::preauth("JSON missing valid 'result'"))?;
    let status_msg = || {
        response
            .get("status_msg")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ResponseError::preauth("JSON missing valid 'status_msg'"))
    };
    let prompt_text = response.pointer("/prompt/text").and_then(Value::as_str);
    match result.to_ascii_lowercase().as_str() {
        "allow" => Ok(Preauth::Allow {
            message: status_msg()?,
        }),
        "deny" => Ok(Preauth::Deny {
            message: status_msg()?,
        }),
        "enroll" => Ok(Preauth::Enroll {
            message: match (
                prompt_text,
                response.get("enroll_portal_url").and_then(Value::as_str),
            ) {
                (Some(t), _) => t.to_string(),
                (None, Some(url)) => format!("Please enroll at {url}"),
                (None, None) => status_msg()?,
            },
        }),
        "auth" => {
            let txid = response
                .get("txid")
                .and_then(Value::as_str)
                .map(str::to_string);
            let menu = match response.get("prompt") {
                Some(prompt) => menu_from_prompt(prompt),
                None => menu_from_devices(response, username),
            };
            match menu {
                Ok(menu) => Ok(Preauth::Auth { menu, txid }),
                // Past this point the user is known to need a second factor: a menu that cannot
                // be read is a failure after preauth answered, never "Duo could not be asked".
                Err(e) => Ok(Preauth::AuthUnusable { reason: e.reason }),
            }
        }
        other => Err(ResponseError::preauth(format!(
            "unknown result '{}'",
            duo_authd_proto::one_line(other)
        ))),
    }
}

/// Duo's own text prompt and factor map (`text_prompt=1`).
fn menu_from_prompt(prompt: &Value) -> Result<Menu, ResponseError> {
    let text = prompt
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| ResponseError::preauth("prompt without 'text'"))?;
    let factors = prompt
        .get("factors")
        .and_then(Value::as_object)
        .ok_or_else(|| ResponseError::preauth("prompt without 'factors'"))?;
    let mut options = Vec::new();
    let mut default = None;
    for (k, v) in factors {
        let Some(v) = v.as_str() else { continue };
        if k == "default" {
            default = Some(Choice::Factor(v.to_string()));
        } else {
            options.push((k.clone(), Choice::Factor(v.to_string())));
        }
    }
    let default = default.ok_or_else(|| ResponseError::preauth("factor map without 'default'"))?;
    options.shrink_to_fit();
    Ok(Menu {
        text: text.to_string(),
        options,
        default,
        from_devices: false,
    })
}

/// Build the menu ourselves from the public Auth API's `devices` list.
fn menu_from_devices(response: &Value, username: &str) -> Result<Menu, ResponseError> {
    let devices = response
        .get("devices")
        .and_then(Value::as_array)
        .ok_or_else(|| ResponseError::preauth("neither 'prompt' nor 'devices'"))?;
    let mut options = Vec::new();
    let mut lines = Vec::new();
    for dev in devices {
        let Some(id) = dev.get("device").and_then(Value::as_str) else {
            continue;
        };
        let name = ["display_name", "name", "number"]
            .iter()
            .filter_map(|k| dev.get(*k).and_then(Value::as_str))
            .find(|s| !s.is_empty())
            .unwrap_or(id);
        let caps: Vec<&str> = dev
            .get("capabilities")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (cap, factor, verb) in [
            ("push", "push", "Duo Push to"),
            ("phone", "phone", "Phone call to"),
            ("sms", "sms", "SMS passcodes to"),
        ] {
            if caps.contains(&cap) {
                let n = (options.len() + 1).to_string();
                lines.push(format!(" {n}. {verb} {}", sanitize(name)));
                options.push((
                    n,
                    Choice::Device {
                        factor,
                        device: id.to_string(),
                    },
                ));
            }
        }
    }
    if options.is_empty() {
        return Err(ResponseError::preauth("no device can push, call or text"));
    }
    let text = format!(
        "Duo two-factor login for {}\n\nEnter a passcode or select one of the following options:\n\n{}\n\nPasscode or option (1-{}): ",
        sanitize(username),
        lines.join("\n"),
        options.len()
    );
    options.shrink_to_fit();
    Ok(Menu {
        text,
        options,
        default: Choice::Device {
            factor: "auto",
            device: "auto".into(),
        },
        from_devices: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_prompt_menu() {
        let r = json!({"result":"auth","status_msg":"Account is active","prompt":{"text":"Pick: ","factors":{"1":"push1","2":"phone1","default":"push1"}}});
        let Preauth::Auth { menu: m, txid } = parse(&r, "alice").unwrap() else {
            panic!()
        };
        assert_eq!(txid, None);
        assert_eq!(m.text, "Pick: ");
        assert_eq!(m.resolve("2"), Choice::Factor("phone1".into()));
        assert_eq!(m.resolve("PUSH1"), Choice::Factor("push1".into()));
        assert_eq!(m.resolve("123456"), Choice::PromptPasscode("123456".into()));
        assert_eq!(m.resolve("123456").label(), "passcode");
        assert_eq!(m.default.kind(), FactorKind::Push);
        let verified = Choice::Factor("verified_push1".into());
        assert_eq!(verified.kind(), FactorKind::Push);
        assert_eq!(verified.label(), "verified_push1");
    }

    #[test]
    fn devices_menu() {
        let r = json!({"result":"auth","status_msg":"ok","devices":[{"device":"D1","type":"phone","number":"XXX-0100","name":"","capabilities":["auto","push","sms","phone"]}]});
        let Preauth::Auth { menu: m, .. } = parse(&r, "alice").unwrap() else {
            panic!()
        };
        assert!(m.text.contains(" 1. Duo Push to XXX-0100"));
        assert!(m.text.contains(" 3. SMS passcodes to XXX-0100"));
        assert_eq!(
            m.resolve("2").params(),
            vec![
                ("factor".to_string(), "phone".to_string()),
                ("device".to_string(), "D1".to_string())
            ]
        );
        assert_eq!(m.resolve("999999"), Choice::Passcode("999999".into()));
        assert_eq!(m.default.params()[0].1, "auto");
    }

    #[test]
    fn factor_kinds_ignore_case_and_count_everything_that_rings() {
        for (name, kind) in [
            ("push1", FactorKind::Push),
            ("Push2", FactorKind::Push),
            ("VERIFIED_PUSH1", FactorKind::Push),
            ("auto", FactorKind::Push),
            ("phone1", FactorKind::Phone),
            ("PHONE2", FactorKind::Phone),
            ("voice1", FactorKind::Phone),
            ("sms1", FactorKind::Sms),
            ("SMSrefresh1", FactorKind::Sms),
            ("token1", FactorKind::Push),
        ] {
            assert_eq!(Choice::Factor(name.into()).kind(), kind, "{name}");
            assert!(kind.out_of_band(), "{name}");
        }
        assert_eq!(
            Choice::Device {
                factor: "sms",
                device: "D".into()
            }
            .kind(),
            FactorKind::Sms
        );
        assert!(!Choice::Passcode("1".into()).kind().out_of_band());
    }

    #[test]
    fn verified_push_txid_comes_with_the_menu() {
        let r = json!({"result":"auth","status_msg":"ok","txid":"tx-1","prompt":{"text":"P","factors":{"1":"push1","default":"push1"}}});
        let Preauth::Auth { txid, .. } = parse(&r, "a").unwrap() else {
            panic!()
        };
        assert_eq!(txid.as_deref(), Some("tx-1"));
    }

    #[test]
    fn other_results() {
        assert_eq!(
            parse(&json!({"result":"allow","status_msg":"bypass"}), "a").unwrap(),
            Preauth::Allow {
                message: "bypass".into()
            }
        );
        assert_eq!(
            parse(
                &json!({"result":"enroll","status_msg":"x","prompt":{"text":"enroll here"}}),
                "a"
            )
            .unwrap(),
            Preauth::Enroll {
                message: "enroll here".into()
            }
        );
        assert!(parse(&json!({"result":"bogus"}), "a").is_err());
        assert!(parse(&json!({"status_msg":"x"}), "a").is_err());
        // `auth` answered the failmode question: an unusable menu is its own answer, never an
        // unreadable response (which failmode would decide).
        for r in [
            json!({"result":"auth"}),
            json!({"result":"auth","prompt":{"text":"Passcode: ","factors":{}}}),
            json!({"result":"auth","prompt":{"factors":{"default":"push1"}}}),
            json!({"result":"auth","devices":[{"device":"T","type":"token","capabilities":[]}]}),
        ] {
            assert!(
                matches!(parse(&r, "a"), Ok(Preauth::AuthUnusable { .. })),
                "{r}"
            );
        }
        // login_duo's words for a missing member, so its log searches keep matching.
        assert_eq!(
            parse(&json!({"result":"allow"}), "a")
                .unwrap_err()
                .to_string(),
            "unexpected preauth response: JSON missing valid 'status_msg'"
        );
        assert!(parse(&json!([1, 2]), "a").is_err());
    }
}
