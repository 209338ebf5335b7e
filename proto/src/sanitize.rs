//! Terminal and log safety for text that came from the network or from a user.

/// Strip C0 controls except `\n` and `\t`, DEL and C1 controls, so no escape sequence from Duo reaches a terminal.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|&c| c == '\n' || c == '\t' || !(c.is_control()))
        .collect()
}

/// Text from the network that ends up inside a sentence of ours (an error message, which goes to
/// the daemon's log as it is): every control character, line breaks and tabs included, and the
/// Unicode line and paragraph separators become a space, so the text cannot start a new log line
/// or move the cursor back over the one it is in.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Text from a user or from Duo, made safe to put inside quotes in one log line: printable ASCII
/// stays as it is, while quotes, backslashes, line breaks, controls and all non-ASCII characters
/// become escapes (`\'`, `\n`, `\u{1b}`), so no value can end its quotes, split the line or
/// forge a field.
pub fn log_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            // The one unescaped `[` in an audit line opens its structured fields.
            '[' | ']' => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            _ => out.extend(c.escape_default()),
        }
    }
    out
}

/// Text from Duo written after login_duo's `Headline for 'user': ` without quotes, so login_duo's
/// log regexes still match (`Couldn't connect ...`): printable ASCII stays, except that backslashes,
/// and the brackets that open the structured fields, are escaped with line breaks, controls and
/// all non-ASCII characters (`\n`, `\u{5b}`), so it can neither split the line nor forge a field.
pub fn log_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '[' | ']' => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            ' '..='~' if c != '\\' => out.push(c),
            _ => out.extend(c.escape_default()),
        }
    }
    out
}

/// login_duo's words for one decision, `Headline for 'user' from IP: detail`, shared by the
/// daemon's audit lines and the shim's and PAM module's own, with every value escaped.
pub fn decision_line(
    headline: &str,
    user: &str,
    from: Option<&str>,
    detail: Option<&str>,
) -> String {
    let mut line = format!("{headline} for '{}'", log_escape(user));
    if let Some(ip) = from {
        line.push_str(" from ");
        line.push_str(&log_word(ip));
    }
    if let Some(d) = detail {
        line.push_str(": ");
        line.push_str(&log_text(d));
    }
    line
}

/// Like [`log_text`], for a value written as one word (the address after `from`): spaces are
/// escaped too (`\u{20}`), so the value is one word whatever it holds. Quotes stay as given, as
/// login_duo logs them: outside quotes they cannot end anything.
pub fn log_word(text: &str) -> String {
    log_text(text).replace(' ', "\\u{20}")
}

#[cfg(test)]
mod tests {
    use super::{log_escape, log_text, log_word, sanitize};

    #[test]
    fn log_text_keeps_login_duos_words_and_nothing_else() {
        assert_eq!(
            log_text("Couldn't connect to \"duo\": Failed"),
            "Couldn't connect to \"duo\": Failed"
        );
        assert_eq!(
            log_text("x\nSuccessful Duo login for 'root' [result=allow]\\"),
            "x\\nSuccessful Duo login for 'root' \\u{5b}result=allow\\u{5d}\\\\"
        );
        assert_eq!(log_text("\u{1b}[2J\u{202e}"), "\\u{1b}\\u{5b}2J\\u{202e}");
    }

    #[test]
    fn log_values_cannot_forge_lines() {
        assert_eq!(log_escape("alice"), "alice");
        assert_eq!(log_escape("bob smith"), "bob smith");
        assert_eq!(
            log_escape("sms1\nSuccessful Duo login for 'root'"),
            "sms1\\nSuccessful Duo login for \\'root\\'"
        );
        assert_eq!(
            log_escape("a\u{1b}[2J\u{202e}b\\"),
            "a\\u{1b}\\u{5b}2J\\u{202e}b\\\\"
        );
        assert_eq!(log_word("192.0.2.1"), "192.0.2.1");
        assert_eq!(log_word("a b"), "a\\u{20}b");
        // An -h value as login_duo logs it (duo_unix's test_host_names), but still one word.
        assert_eq!(
            log_word("\"!@#$%^&*()_+<>{}|;'\""),
            "\"!@#$%^&*()_+<>{}|;'\""
        );
        assert_eq!(log_word("\"%s\" [x]\n"), "\"%s\"\\u{20}\\u{5b}x\\u{5d}\\n");
        for s in ["x\ny", "x\ry", "'", "\"", "é"] {
            let e = log_escape(s);
            assert!(e.bytes().all(|b| (0x20..0x7f).contains(&b)), "{e:?}");
        }
    }

    #[test]
    fn one_line_cannot_break_a_line() {
        let s = "Denied\r\nSuccessful Duo login for 'root'\n\t\u{1b}[2J\u{85}\u{2028}x";
        let o = super::one_line(s);
        assert_eq!(o, "Denied  Successful Duo login for 'root'   [2J  x");
        assert!(!o.chars().any(char::is_control));
    }

    #[test]
    fn removes_escape_sequences_and_c1() {
        let s = "a\u{1b}[2J\u{1b}]0;pwned\u{7}b\u{9b}31mc\u{7f}d\r\n\te";
        assert_eq!(sanitize(s), "a[2J]0;pwnedb31mcd\n\te");
    }

    #[test]
    fn keeps_unicode_text() {
        assert_eq!(sanitize("Jörg → ✓"), "Jörg → ✓");
    }
}
