//! duo_unix's INI dialect (`login_duo.conf`, `pam_duo.conf`), read into the same TOML table the
//! daemon's own format produces, so one validation path serves both.
//!
//! The dialect: `[section]` headers (the keys of every section are read, as login_duo does),
//! `name = value` (or `name: value`), `;` and `#` comment lines, `;` inline comments after
//! whitespace, `yes`/`true`/`on`/`1` for true, space-separated `groups`. Unknown keys are an
//! error naming the line, as in login_duo.

use std::fmt::Write as _;

use toml::{Table, Value};

/// Why an INI file could not be read; the message names the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    /// A line that is neither a section, a comment nor `name = value`. Its text is never
    /// repeated: a mistyped `skey` line (`skey XXXX`, `= XXXX`, the value alone) is the secret.
    #[error("line {line}: cannot parse the line (expected name = value; its text is not shown, as it may hold a secret key)")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A key login_duo does not know.
    #[error("line {line}: unknown login_duo option '{key}'")]
    UnknownKey {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
    },
    /// A value of the wrong type.
    #[error("line {line}: invalid value '{value}' for '{key}' ({expected})")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// The result of reading an INI file: the equivalent TOML table and warnings for the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The keys, typed as the TOML format types them.
    pub table: Table,
    /// Deprecated or ignored options, one line each.
    pub warnings: Vec<String>,
}

/// How an option's value is typed.
enum Kind {
    /// Kept as a string.
    Str,
    /// yes/true/on/1 is true, anything else false (login_duo's rule).
    Bool,
    /// A decimal integer.
    Int,
    /// Space-separated list, accumulated over repeated lines.
    List,
}

/// login_duo's options and their types (INI name, TOML name, kind).
const OPTIONS: &[(&str, &str, Kind)] = &[
    ("ikey", "ikey", Kind::Str),
    ("skey", "skey", Kind::Str),
    ("host", "host", Kind::Str),
    ("cafile", "cafile", Kind::Str),
    ("http_proxy", "http_proxy", Kind::Str),
    ("groups", "groups", Kind::List),
    ("group", "groups", Kind::List),
    ("failmode", "failmode", Kind::Str),
    ("pushinfo", "pushinfo", Kind::Bool),
    ("noverify", "noverify", Kind::Bool),
    ("autopush", "autopush", Kind::Bool),
    ("motd", "motd", Kind::Bool),
    ("prompts", "prompts", Kind::Int),
    ("accept_env_factor", "accept_env_factor", Kind::Bool),
    ("fallback_local_ip", "fallback_local_ip", Kind::Bool),
    ("https_timeout", "https_timeout", Kind::Int),
    ("send_gecos", "send_gecos", Kind::Bool),
    ("gecos_username_pos", "gecos_username_pos", Kind::Int),
    ("gecos_delim", "gecos_delim", Kind::Str),
    ("verified_push", "verified_push", Kind::Bool),
];

/// login_duo's boolean rule.
fn truthy(v: &str) -> bool {
    matches!(v, "yes" | "true" | "on" | "1")
}

/// Strip an inline `;` comment (only after whitespace, so `;` inside a key stays).
fn strip_inline_comment(v: &str) -> &str {
    let bytes = v.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b';' && bytes[i - 1].is_ascii_whitespace() {
            return v[..i].trim_end();
        }
    }
    v
}

/// Parse INI text into the TOML table of the daemon's config.
pub fn convert(text: &str) -> Result<Converted, IniError> {
    let mut table = Table::new();
    let mut warnings = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') {
            if !t.ends_with(']') {
                return Err(IniError::Syntax { line });
            }
            continue;
        }
        let Some(pos) = t.find(['=', ':']) else {
            return Err(IniError::Syntax { line });
        };
        let key = t[..pos].trim();
        let value = strip_inline_comment(t[pos + 1..].trim());
        if key.is_empty() {
            return Err(IniError::Syntax { line });
        }
        match key {
            "gecos_parsed" => {
                warnings.push(format!(
                    "line {line}: gecos_parsed is deprecated and has no effect; use gecos_delim and gecos_username_pos"
                ));
                continue;
            }
            "dev_fips_mode" => {
                warnings.push(format!(
                    "line {line}: dev_fips_mode is not supported by duo-authd and is ignored"
                ));
                continue;
            }
            _ => {}
        }
        let Some((_, name, kind)) = OPTIONS.iter().find(|(k, _, _)| *k == key) else {
            return Err(IniError::UnknownKey {
                line,
                key: key.to_string(),
            });
        };
        let v = match kind {
            Kind::Str => Value::String(value.to_string()),
            Kind::Bool => Value::Boolean(truthy(value)),
            Kind::Int => Value::Integer(value.parse::<i64>().map_err(|_| IniError::Invalid {
                line,
                key: key.to_string(),
                value: value.to_string(),
                expected: "a whole number",
            })?),
            Kind::List => {
                let mut list = match table.remove(*name) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                list.extend(
                    value
                        .split_whitespace()
                        .map(|g| Value::String(g.to_string())),
                );
                Value::Array(list)
            }
        };
        table.insert((*name).to_string(), v);
    }
    Ok(Converted { table, warnings })
}

/// The TOML text `duo-authd import-conf` prints: the same settings, with a header and the warnings as comments.
pub fn to_toml_text(source: &str, converted: &Converted) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Converted from {source} by duo-authd import-conf.");
    let _ = writeln!(
        out,
        "# Keep this file mode 0600, owned by the daemon's user: it holds the secret key."
    );
    for w in &converted.warnings {
        let _ = writeln!(out, "# warning: {w}");
    }
    out.push_str(&toml::to_string(&converted.table).unwrap_or_default());
    out.push_str(
        "\n[authd]\n# socket = \"/var/run/duo-authd/authd.sock\"\n# user = \"duoauthd\"\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN_DUO_CONF: &str = "\
; Duo integration for login_duo
[duo]
; Duo integration key
ikey = DIXYZV6YM8IFYVWBINCA
; Duo secret key
skey = yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo
; Duo API host
host = api-abcd1234.duosecurity.com
# Send command for Duo Push authentication
pushinfo = yes
failmode = secure
groups = users,!wheel,!*admin guests
group = extra
autopush=true
prompts = 1   ; one attempt only
https_timeout: 30
motd = no
gecos_parsed = yes
";

    #[test]
    fn reads_a_realistic_login_duo_conf() {
        let c = convert(LOGIN_DUO_CONF).unwrap();
        let t = &c.table;
        assert_eq!(t["ikey"].as_str(), Some("DIXYZV6YM8IFYVWBINCA"));
        assert_eq!(t["host"].as_str(), Some("api-abcd1234.duosecurity.com"));
        assert_eq!(t["pushinfo"].as_bool(), Some(true));
        assert_eq!(t["autopush"].as_bool(), Some(true));
        assert_eq!(t["motd"].as_bool(), Some(false));
        assert_eq!(t["prompts"].as_integer(), Some(1));
        assert_eq!(t["https_timeout"].as_integer(), Some(30));
        let groups: Vec<&str> = t["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(groups, ["users,!wheel,!*admin", "guests", "extra"]);
        assert_eq!(c.warnings.len(), 1);
        let text = to_toml_text("login_duo.conf", &c);
        let back: Table = toml::from_str(&text).unwrap();
        assert_eq!(back["failmode"].as_str(), Some("secure"));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            convert("[duo]\nikey = x\nbogus = 1\n").unwrap_err(),
            IniError::UnknownKey {
                line: 3,
                key: "bogus".into()
            }
        );
        assert!(matches!(
            convert("[duo\n"),
            Err(IniError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            convert("just words\n"),
            Err(IniError::Syntax { line: 1, .. })
        ));
        assert!(matches!(
            convert("prompts = many\n"),
            Err(IniError::Invalid { line: 1, .. })
        ));
    }

    #[test]
    fn a_mistyped_skey_line_is_never_repeated() {
        // Attacker: a local user reads the reload error (`duo-authd health` is open to every
        // user) or the log after the admin mistypes the skey line of a login_duo.conf.
        let secret = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";
        for line in [
            format!("skey {secret}"),
            format!("= {secret}"),
            secret.to_string(),
            format!("[{secret}"),
        ] {
            let e = convert(&format!("[duo]\n{line}\n"))
                .unwrap_err()
                .to_string();
            assert!(!e.contains(&secret[..8]), "{line}: {e}");
            assert!(e.starts_with("line 2:"), "{e}");
        }
    }

    #[test]
    fn booleans_follow_login_duo() {
        for (v, want) in [
            ("yes", true),
            ("true", true),
            ("on", true),
            ("1", true),
            ("no", false),
            ("Yes", false),
        ] {
            let c = convert(&format!("autopush = {v}\n")).unwrap();
            assert_eq!(c.table["autopush"].as_bool(), Some(want), "{v}");
        }
    }
}
