//! The daemon's stderr, made safe for a terminal and for line-based log readers: every control
//! character in a log line (a Duo message can carry `ESC ]0;...`, or a newline that would start
//! a forged line) is written as an escape, whatever part of the daemon logged it.

use std::io::{self, Write};

/// A writer that escapes control characters (all but the line's final newline) before passing
/// the line on.
#[derive(Debug)]
pub struct SafeLines<W: Write>(pub W);

/// `\n` ends the line; any other control (C0, DEL, C1) becomes `\u{..}`.
fn escape_line(line: &str) -> String {
    let (body, newline) = match line.strip_suffix('\n') {
        Some(b) => (b, "\n"),
        None => (line, ""),
    };
    let mut out = String::with_capacity(line.len());
    for c in body.chars() {
        if c.is_control() && c != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push_str(newline);
    out
}

impl<W: Write> Write for SafeLines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tracing writes each event as one buffer; bytes that are not UTF-8 are shown lossily.
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(escape_line(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Standard error behind [`SafeLines`], for `tracing_subscriber`'s `with_writer`.
pub fn stderr() -> SafeLines<io::Stderr> {
    SafeLines(io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_one_line_stays_one_line() {
        let mut w = SafeLines(Vec::new());
        w.write_all(
            "WARN Duo request failed: error 40001: \u{1b}]0;PWNED\u{7}x\nSuccessful Duo login for 'root'\u{9b}\n"
                .as_bytes(),
        )
        .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(
            out,
            "WARN Duo request failed: error 40001: \\u{1b}]0;PWNED\\u{7}x\\u{a}Successful Duo login for 'root'\\u{9b}\n"
        );
        assert_eq!(out.matches('\n').count(), 1);
    }
}
