//! `[authd] syslog = true`: every audit line also goes to syslog, as login_duo logs its decisions
//! (facility `authpriv` on Linux, `auth` elsewhere; ident `duo-authd`; the pid in each line).
//!
//! The only unsafe code is the two libc calls below; the message always goes through a constant
//! `"%s"` format, so text from Duo or a username can never be read as a format string.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

/// Whether audit lines are also sent to syslog (set from the config at start and on each reload).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// `openlog` runs once, the first time syslog is enabled.
static OPEN: Once = Once::new();
/// The ident syslog shows; `openlog` keeps the pointer, so it must live as long as the process.
const IDENT: &CStr = c"duo-authd";
/// The only format ever passed to `syslog(3)`.
const FORMAT: &CStr = c"%s";

/// login_duo's facility: `LOG_AUTHPRIV` where it exists (Linux), else `LOG_AUTH`.
#[cfg(target_os = "linux")]
const FACILITY: libc::c_int = libc::LOG_AUTHPRIV;
/// login_duo's facility: `LOG_AUTHPRIV` where it exists (Linux), else `LOG_AUTH`.
#[cfg(not(target_os = "linux"))]
const FACILITY: libc::c_int = libc::LOG_AUTH;

/// How urgent a line is, with login_duo's choices (success info, refusals warning, errors err).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// `LOG_INFO`: a successful second factor.
    Info,
    /// `LOG_WARNING`: skipped, failed, aborted, failsafe, failsecure.
    Warning,
    /// `LOG_ERR`: the login could not be evaluated.
    Err,
}

impl Priority {
    /// The libc constant.
    fn raw(self) -> libc::c_int {
        match self {
            Priority::Info => libc::LOG_INFO,
            Priority::Warning => libc::LOG_WARNING,
            Priority::Err => libc::LOG_ERR,
        }
    }
}

/// Turn syslog output on or off; the connection to syslogd is opened on the first `true`.
pub fn configure(enabled: bool) {
    if enabled {
        OPEN.call_once(|| {
            // SAFETY: IDENT is a NUL-terminated 'static string, so the pointer openlog keeps stays
            // valid for the life of the process; the other arguments are plain integers.
            unsafe { libc::openlog(IDENT.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, FACILITY) };
        });
    }
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether [`send`] currently writes anything.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Send one line to syslog at `priority` when enabled (a NUL in the line becomes a space).
pub fn send(priority: Priority, line: &str) {
    if enabled() {
        write(priority, line);
    }
}

/// The libc call itself.
fn write(priority: Priority, line: &str) {
    let Ok(msg) = CString::new(line.replace('\0', " ")) else {
        return;
    };
    // SAFETY: FORMAT and msg are valid NUL-terminated C strings that outlive the call; the format
    // is the constant "%s" with exactly one matching char* argument, so nothing in the message is
    // interpreted. syslog(3) is thread-safe (it serialises internally).
    unsafe { libc::syslog(FACILITY | priority.raw(), FORMAT.as_ptr(), msg.as_ptr()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sending_does_not_crash_and_format_characters_are_inert() {
        // Disabled: nothing is written.
        send(Priority::Info, "duo-authd unit test: never sent");
        // (Other tests in this process may toggle the switch too, so its state is not asserted.)
        configure(true);
        for p in [Priority::Info, Priority::Warning, Priority::Err] {
            // The libc call itself, whatever the switch says right now.
            write(
                p,
                "duo-authd unit test: %s %n %x \"quoted\" and a NUL \0 here",
            );
        }
        configure(false);
        assert_eq!(Priority::Warning.raw(), libc::LOG_WARNING);
    }
}
