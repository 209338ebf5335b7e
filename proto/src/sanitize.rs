//! Terminal safety for text that came from the network.

/// Strip C0 controls except `\n` and `\t`, DEL and C1 controls, so no escape sequence from Duo reaches a terminal.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|&c| c == '\n' || c == '\t' || !(c.is_control()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sanitize;

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
