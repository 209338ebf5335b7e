//! duo_unix's INI dialect (`login_duo.conf`, `pam_duo.conf`), read into the same TOML table the
//! daemon's own format produces, so one validation path serves both.
//!
//! The rules are duo_unix's own (its `lib/ini.c`, an old inih, and `lib/util.c`), so a file
//! login_duo reads means the same here:
//!
//! - `[section]` headers (the keys of every section are read, as login_duo does); text after the
//!   `]` is ignored.
//! - `name = value`; only `=` separates (no `name: value`). `;` and `#` start a comment line;
//!   `;` after whitespace starts an inline comment.
//! - A non-blank line that starts with whitespace, after a `name = value` line of the same
//!   section, is a continuation: its text (trimmed, no inline-comment stripping) is set for that
//!   name again, as if `name = text` were written. An indented `;` line is skipped, an indented
//!   `#` line is not (it becomes the value, as in login_duo; a warning says so). Blank lines do
//!   not end a continuation; a section header does.
//! - `yes`/`true`/`on`/`1` are true, anything else false.
//! - `groups` (or `group`) is split on single spaces, with `\ ` for a space inside a name
//!   (`users\ with\ spaces`); repeated lines add to the list.
//!
//! Unknown keys are an error naming the line, as in login_duo. No error ever repeats a line's
//! text or a value of a secret key: a typo on the `skey` line must not put the key in a log.

use std::fmt::Write as _;

use toml::{Table, Value};

/// Why an INI file could not be read; the message names the line, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    /// A line that is neither a section, a comment nor `name = value`; its text is not repeated.
    #[error("line {line}: {what} (the line is not shown: it may hold the secret key)")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong, in words that quote nothing from the file but a known option name.
        what: String,
    },
    /// A key login_duo does not know.
    #[error("line {line}: unknown login_duo option {shown}")]
    UnknownKey {
        /// 1-based line number.
        line: usize,
        /// The key quoted, or a note that it is not shown (it looked like it could be a value).
        shown: String,
    },
    /// A value of the wrong type (only ever for numeric options, never a secret one).
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

/// inih's `find_char_or_comment`: the byte offset of the first `c`, or of a `;` that follows
/// whitespace, or the end; and whether it stopped on `c`.
fn find_char_or_comment(s: &str, c: u8) -> (usize, bool) {
    let mut was_whitespace = false;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b == c {
            return (i, true);
        }
        if was_whitespace && b == b';' {
            return (i, false);
        }
        was_whitespace = b.is_ascii_whitespace();
    }
    (s.len(), false)
}

/// login_duo's `groups` rule: split on single spaces, `\ ` is a space inside a name, anything
/// else (a lone backslash, a tab) is kept as written.
fn split_groups(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&' ') {
            chars.next();
            word.push(' ');
        } else if c == ' ' {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// A key quoted for an error, unless it could be a value (spaces, or long): then only that it is hidden.
fn shown_key(key: &str) -> String {
    if key.is_empty() {
        "'' (nothing before the '=')".into()
    } else if key.len() <= 24 && key.bytes().all(|b| b.is_ascii_graphic()) {
        format!("'{key}'")
    } else {
        "(its name is not shown: it looks like it may hold a value, is an '=' missing?)".into()
    }
}

/// What is wrong with a line that has no `=`: a known option name it starts with is safe to quote.
fn missing_equals(t: &str) -> String {
    let first = t
        .split(|c: char| c.is_ascii_whitespace())
        .next()
        .unwrap_or("");
    match OPTIONS.iter().find(|(k, _, _)| *k == first) {
        Some((k, _, _)) => format!("'{k}' has no '=' before its value"),
        None => "expected 'name = value'".into(),
    }
}

/// Set `key` to `value` in `table` as login_duo's handler would, line `line`.
fn set(
    table: &mut Table,
    warnings: &mut Vec<String>,
    line: usize,
    key: &str,
    value: &str,
) -> Result<(), IniError> {
    match key {
        "gecos_parsed" => {
            warnings.push(format!(
                "line {line}: gecos_parsed is deprecated and has no effect; use gecos_delim and gecos_username_pos"
            ));
            return Ok(());
        }
        "dev_fips_mode" => {
            warnings.push(format!(
                "line {line}: dev_fips_mode is not supported by duo-authd and is ignored"
            ));
            return Ok(());
        }
        _ => {}
    }
    let Some((_, name, kind)) = OPTIONS.iter().find(|(k, _, _)| *k == key) else {
        return Err(IniError::UnknownKey {
            line,
            shown: shown_key(key),
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
            list.extend(split_groups(value).into_iter().map(Value::String));
            Value::Array(list)
        }
    };
    table.insert((*name).to_string(), v);
    Ok(())
}

/// Parse INI text into the TOML table of the daemon's config, by duo_unix's rules (see the module doc).
pub fn convert(text: &str) -> Result<Converted, IniError> {
    let mut table = Table::new();
    let mut warnings = Vec::new();
    // The name of the last `name = value` line of this section: what an indented line continues.
    let mut prev_name: Option<String> = None;
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let r = raw.trim_end_matches(|c: char| c.is_ascii_whitespace());
        let t = r.trim_start_matches(|c: char| c.is_ascii_whitespace());
        let indented = t.len() < r.len();
        if let (Some(name), false, true) = (prev_name.as_deref(), t.is_empty(), indented) {
            if t.starts_with(';') {
                continue;
            }
            if t.starts_with('#') {
                warnings.push(format!(
                    "line {line}: an indented '#' line continues '{name}' and becomes its value (only an indented ';' line is a comment there, as in login_duo)"
                ));
            }
            set(&mut table, &mut warnings, line, name, t)?;
            continue;
        }
        if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
            continue;
        }
        if let Some(rest) = t.strip_prefix('[') {
            if !find_char_or_comment(rest, b']').1 {
                return Err(IniError::Syntax {
                    line,
                    what: "a section header without its closing ']'".into(),
                });
            }
            prev_name = None;
            continue;
        }
        let (pos, found) = find_char_or_comment(t, b'=');
        if !found {
            return Err(IniError::Syntax {
                line,
                what: missing_equals(t),
            });
        }
        let key = t[..pos].trim_end_matches(|c: char| c.is_ascii_whitespace());
        let value = t[pos + 1..].trim_start_matches(|c: char| c.is_ascii_whitespace());
        let value = &value[..find_char_or_comment(value, 0).0];
        let value = value.trim_end_matches(|c: char| c.is_ascii_whitespace());
        if key.is_empty() {
            return Err(IniError::Syntax {
                line,
                what: "nothing before the '=' (expected 'name = value')".into(),
            });
        }
        prev_name = Some(key.to_string());
        set(&mut table, &mut warnings, line, key, value)?;
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
https_timeout = 30
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
                shown: "'bogus'".into()
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

    /// duo_unix's own tests/confs/mockduo_extra_space.conf, verbatim.
    #[test]
    fn continuation_lines_as_in_duo_unix_extra_space_conf() {
        let text = "[duo]\nikey = DIXYZV6YM8IFYVWBINCA\nskey =\n yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\nhost = localhost:4443\ncafile = certs/mockduo-ca.pem\n ; This comment shouldn't break Duo\n";
        let c = convert(text).unwrap();
        assert_eq!(
            c.table["skey"].as_str(),
            Some("yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo")
        );
        assert_eq!(c.table["cafile"].as_str(), Some("certs/mockduo-ca.pem"));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn continuation_rules_follow_inih() {
        // An indented comment between `skey =` and its value, a blank line, tabs.
        let c = convert("skey =\n    ; the key\n\n\tSECRET ; not a comment here\n").unwrap();
        assert_eq!(
            c.table["skey"].as_str(),
            Some("SECRET ; not a comment here")
        );
        // Continued groups add to the list.
        let c = convert("groups = a b\n  c\\ d\n").unwrap();
        let g: Vec<&str> = c.table["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(g, ["a", "b", "c d"]);
        // An indented '#' line is a value, not a comment (with a warning).
        let c = convert("host =\n  # not a comment\n").unwrap();
        assert_eq!(c.table["host"].as_str(), Some("# not a comment"));
        assert_eq!(c.warnings.len(), 1);
        // A section header ends the continuation: an indented line after it is a line of its own.
        let c = convert("[duo]\nikey = I\n[more]\n  host = h\n").unwrap();
        assert_eq!(c.table["ikey"].as_str(), Some("I"));
        assert_eq!(c.table["host"].as_str(), Some("h"));
        // Before any name, an indented line is an ordinary line too.
        let c = convert("  ikey = I\n").unwrap();
        assert_eq!(c.table["ikey"].as_str(), Some("I"));
        // Text after a section's ']' is ignored; ';' starts a comment only after whitespace.
        let c = convert("[duo] trailing\nskey = a;b ; comment\n").unwrap();
        assert_eq!(c.table["skey"].as_str(), Some("a;b"));
    }

    #[test]
    fn groups_with_escaped_spaces_as_duo_unix_splits_them() {
        // duo_unix's tests/confs/mockduo_space_users.conf.
        let c = convert("groups = users\\ with\\ spaces, no_spaces\\here more\\ spaces\n").unwrap();
        let g: Vec<&str> = c.table["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(g, ["users with spaces,", "no_spaces\\here", "more spaces"]);
        // Only a single space separates: a tab stays inside the name.
        assert_eq!(split_groups("  a  \\ b\tc "), ["a", " b\tc"]);
    }

    #[test]
    fn only_equals_separates() {
        // login_duo's inih knows no `name: value`; `skey: = x` names an option `skey:`.
        assert!(matches!(
            convert("https_timeout: 30\n"),
            Err(IniError::Syntax { line: 1, .. })
        ));
        assert_eq!(
            convert("skey: = x\n").unwrap_err().to_string(),
            "line 1: unknown login_duo option 'skey:'"
        );
    }

    #[test]
    fn no_error_repeats_a_secret() {
        let skey = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";
        for bad in [
            format!("skey {skey}\n"),
            format!("= {skey}\n"),
            format!("{skey}\n"),
            format!("skey {skey} = x\n"),
            format!("[{skey}\n"),
            format!("{skey}=\n"),
            format!("skey = x ;c\nhttp_proxy {skey}\n"),
        ] {
            let e = convert(&bad).unwrap_err().to_string();
            for w in skey.as_bytes().windows(8) {
                let piece = std::str::from_utf8(w).unwrap();
                assert!(!e.contains(piece), "{bad:?} -> {e}");
            }
            assert!(e.starts_with("line "), "{e}");
        }
        assert_eq!(
            convert(&format!("skey {skey}\n")).unwrap_err().to_string(),
            "line 1: 'skey' has no '=' before its value (the line is not shown: it may hold the secret key)"
        );
    }
}
