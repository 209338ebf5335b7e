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
    /// Ask for a second factor.
    Auth(Menu),
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
    /// Verified Duo Push transaction id from preauth, passed back on `/auth`.
    pub txid: Option<String>,
}

/// One way to authenticate, as `/auth` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `factor=prompt&prompt=X`: X is a factor name from Duo's map (push1, phone1, sms1) or a passcode.
    Prompt(String),
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

/// What kind of second factor a choice triggers, for push-fatigue limits and status lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    /// A push or phone call lands on the user's device: rate limited.
    OutOfBand,
    /// SMS passcodes are sent (then the user types one).
    Sms,
    /// The user typed a passcode.
    Passcode,
}

impl Choice {
    /// The `/auth` parameters for this choice (without username, ipaddr, ...).
    pub fn params(&self) -> Vec<(String, String)> {
        match self {
            Choice::Prompt(p) => vec![
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
        let name = match self {
            Choice::Prompt(p) => p.as_str(),
            Choice::Device { factor, .. } => factor,
            Choice::Passcode(_) => return FactorKind::Passcode,
        };
        if name.starts_with("push")
            || name.starts_with("verified_push")
            || name.starts_with("phone")
            || name == "auto"
        {
            FactorKind::OutOfBand
        } else if name.starts_with("sms") {
            FactorKind::Sms
        } else {
            FactorKind::Passcode
        }
    }

    /// A name for logs that never contains a passcode.
    pub fn label(&self) -> String {
        match (self, self.kind()) {
            (_, FactorKind::Passcode) => "passcode".into(),
            (Choice::Prompt(p), _) => sanitize(p),
            (Choice::Device { factor, .. }, _) => (*factor).into(),
            (Choice::Passcode(_), _) => "passcode".into(),
        }
    }

    /// The status line login_duo prints before an automatic attempt.
    pub fn auto_message(&self) -> &'static str {
        let name = match self {
            Choice::Prompt(p) => p.as_str(),
            Choice::Device { factor, .. } => factor,
            Choice::Passcode(_) => "",
        };
        if name.contains("push") || name == "auto" {
            "Autopushing login request to phone..."
        } else if name.contains("phone") {
            "Calling your phone..."
        } else {
            "Using default second-factor authentication."
        }
    }
}

impl Menu {
    /// The choice behind menu answer `key` ("1", "push1"...), if there is one.
    pub fn option(&self, key: &str) -> Option<&Choice> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, c)| c)
    }

    /// Map what the user typed to a choice: a menu number, else a passcode (as login_duo does).
    pub fn resolve(&self, answer: &str) -> Choice {
        match self.option(answer) {
            Some(c) => c.clone(),
            None if self.from_devices => Choice::Passcode(answer.to_string()),
            None => Choice::Prompt(answer.to_string()),
        }
    }
}

/// Why a preauth answer could not be understood (treated as an invalid response for failmode).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected preauth response: {0}")]
pub struct PreauthError(pub String);

/// Interpret the `response` member of a successful preauth.
pub fn parse(response: &Value, username: &str) -> Result<Preauth, PreauthError> {
    let result = response
        .get("result")
        .and_then(Value::as_str)
        .ok_or_else(|| PreauthError("no 'result'".into()))?;
    let status_msg = || {
        response
            .get("status_msg")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| PreauthError("no 'status_msg'".into()))
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
            let mut menu = match response.get("prompt") {
                Some(prompt) => menu_from_prompt(prompt)?,
                None => menu_from_devices(response, username)?,
            };
            menu.txid = txid;
            Ok(Preauth::Auth(menu))
        }
        other => Err(PreauthError(format!(
            "unknown result '{}'",
            sanitize(other)
        ))),
    }
}

/// Duo's own text prompt and factor map (`text_prompt=1`).
fn menu_from_prompt(prompt: &Value) -> Result<Menu, PreauthError> {
    let text = prompt
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| PreauthError("prompt without 'text'".into()))?;
    let factors = prompt
        .get("factors")
        .and_then(Value::as_object)
        .ok_or_else(|| PreauthError("prompt without 'factors'".into()))?;
    let mut options = Vec::new();
    let mut default = None;
    for (k, v) in factors {
        let Some(v) = v.as_str() else { continue };
        if k == "default" {
            default = Some(Choice::Prompt(v.to_string()));
        } else {
            options.push((k.clone(), Choice::Prompt(v.to_string())));
        }
    }
    let default = default.ok_or_else(|| PreauthError("factor map without 'default'".into()))?;
    options.shrink_to_fit();
    Ok(Menu {
        text: text.to_string(),
        options,
        default,
        from_devices: false,
        txid: None,
    })
}

/// Build the menu ourselves from the public Auth API's `devices` list.
fn menu_from_devices(response: &Value, username: &str) -> Result<Menu, PreauthError> {
    let devices = response
        .get("devices")
        .and_then(Value::as_array)
        .ok_or_else(|| PreauthError("neither 'prompt' nor 'devices'".into()))?;
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
        return Err(PreauthError("no device can push, call or text".into()));
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
        txid: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_prompt_menu() {
        let r = json!({"result":"auth","status_msg":"Account is active","prompt":{"text":"Pick: ","factors":{"1":"push1","2":"phone1","default":"push1"}}});
        let Preauth::Auth(m) = parse(&r, "alice").unwrap() else {
            panic!()
        };
        assert_eq!(m.text, "Pick: ");
        assert_eq!(m.resolve("2"), Choice::Prompt("phone1".into()));
        assert_eq!(m.resolve("123456"), Choice::Prompt("123456".into()));
        assert_eq!(m.resolve("123456").label(), "passcode");
        assert_eq!(m.default.kind(), FactorKind::OutOfBand);
        let verified = Choice::Prompt("verified_push1".into());
        assert_eq!(verified.kind(), FactorKind::OutOfBand);
        assert_eq!(verified.label(), "verified_push1");
    }

    #[test]
    fn devices_menu() {
        let r = json!({"result":"auth","status_msg":"ok","devices":[{"device":"D1","type":"phone","number":"XXX-0100","name":"","capabilities":["auto","push","sms","phone"]}]});
        let Preauth::Auth(m) = parse(&r, "alice").unwrap() else {
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
        assert!(parse(&json!({"result":"auth"}), "a").is_err());
        assert!(parse(&json!([1, 2]), "a").is_err());
    }
}
