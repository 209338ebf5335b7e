//! Size limits on what travels in a frame, and the helpers that keep text within them.
//!
//! Every field has a bound well under [`crate::MAX_FRAME`], so a message built from bounded fields
//! always encodes: a long command, a long Duo message or a long answer is cut, never a reason for
//! a frame to fail (which would end a login with an error instead of a decision).

/// Most bytes of the command sent for Duo's pushinfo (the push shows a line, not a script).
pub const MAX_COMMAND_EXCERPT: usize = 512;

/// Most bytes of any text the daemon sends (status line, prompt, decision message).
pub const MAX_TEXT: usize = 4096;

/// Most bytes of a user name, host name, address or service name in a request.
pub const MAX_NAME: usize = 256;

/// Longest answer accepted at a prompt: a menu number, a factor name or a passcode.
pub const MAX_ANSWER: usize = 64;

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` cut to at most `max` bytes, with `...` marking a cut (the marker counts toward `max`).
pub fn excerpt(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut out = truncate(s, max.saturating_sub(3)).to_string();
    out.push_str("...");
    out
}

/// Whether a typed answer can be a menu choice, factor name or passcode: 1 to [`MAX_ANSWER`]
/// visible ASCII characters (no spaces, no control characters), after trimming the line.
pub fn valid_answer(answer: &str) -> bool {
    !answer.is_empty() && answer.len() <= MAX_ANSWER && answer.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc");
        // "é" is two bytes: a cut inside it moves back.
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(excerpt("short", 10), "short");
        let long = "x".repeat(100);
        let e = excerpt(&long, 10);
        assert_eq!(e, "xxxxxxx...");
        assert!(e.len() <= 10);
    }

    #[test]
    fn answers() {
        for good in ["1", "push1", "123456", "verified_push1"] {
            assert!(valid_answer(good), "{good}");
        }
        let too_long = "9".repeat(MAX_ANSWER + 1);
        for bad in [
            "",
            "sms1\nSuccessful",
            "a b",
            "\u{1b}[2J",
            "é",
            too_long.as_str(),
        ] {
            assert!(!valid_answer(bad), "{bad:?}");
        }
    }
}
