//! `pam_duo_authd.so`: Duo for sshd keyboard-interactive, sudo and su, asked of `duo-authd` over
//! its Unix socket. No skey, no config file, no TLS, no threads, no runtime: std and libc only,
//! because the module runs inside its host (sshd's PAM process, sudo, su).
//!
//! The flow: read the module arguments, the PAM user, service, remote host and conversation;
//! connect to the socket and check who serves it (the `duo-authd-client` crate, as the shim does);
//! send one login request; relay prompts and status lines through the conversation; map the
//! daemon's decision onto pam_duo's result codes. The daemon decides the Duo user from the
//! socket's peer credentials: root callers may name the PAM user, others only themselves.
//!
//! Nothing may take the host down: every entry point runs under `catch_unwind`, every socket
//! operation is bounded by one deadline, and writes cannot raise SIGPIPE.
#![allow(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod args;
mod ffi;
mod session;
mod sock;

use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{self, AssertUnwindSafe};

use duo_authd_client::{passwd, peer, ConnectError, Timeouts};
use duo_authd_proto::{self as proto, LoginRequest, Reason, Verdict};
use duo_authd_syslog::{self as syslog, Facility, Priority};

use args::{Failmode, MustSee};
use ffi::PamHandle;
use session::{ConvFailed, Converse, Display, Outcome};

/// Bound on `connect(2)`: a daemon that does not even accept within this is wedged.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the user reads when no daemon answers; the details go to syslog.
const UNAVAILABLE: &str = "Duo two-factor authentication is unavailable.";

/// PAM's authentication entry point: ask the daemon whether this user passes Duo.
///
/// # Safety
/// Called by libpam with its live handle and the module line's `argc`/`argv`.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    guarded(|| {
        // SAFETY: the arguments are libpam's, passed through unchanged.
        let words = unsafe { arg_words(argc, argv) };
        // SAFETY: pamh is the live handle of this call.
        unsafe { authenticate(pamh, flags, &words) }
    })
}

/// PAM's credential entry point: Duo sets no credentials, so success (as pam_duo).
///
/// # Safety
/// Called by libpam; nothing is dereferenced.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_setcred(
    _pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    ffi::PAM_SUCCESS
}

/// Run an entry point's body so that no panic ever unwinds into C (it would abort the host).
fn guarded<F: FnOnce() -> c_int>(body: F) -> c_int {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(rc) => rc,
        Err(_) => {
            log(Priority::Err, "internal error (a bug): denying the login");
            ffi::PAM_SERVICE_ERR
        }
    }
}

/// The module arguments as text (arguments that are not UTF-8 are kept lossily, and so warned about).
///
/// # Safety
/// `argv` must be null or hold `argc` NUL-terminated strings.
unsafe fn arg_words(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    let n = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    (0..n)
        .filter_map(|i| {
            // SAFETY: i < argc, so argv[i] is within the array libpam passed.
            let p = unsafe { *argv.add(i) };
            // SAFETY: a non-null argv entry is a NUL-terminated string owned by libpam.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        })
        .collect()
}

/// One syslog line from the module, under the host's own ident (never `openlog` inside a host).
fn log(priority: Priority, line: &str) {
    syslog::send(
        Facility::AuthPriv,
        priority,
        &format!("pam_duo_authd: {line}"),
    );
}

/// The conversation of the running handle.
struct PamConversation {
    /// libpam's `pam_conv`, checked non-null with a function.
    conv: *const ffi::PamConv,
}

impl PamConversation {
    /// Send one message; `text` never holds a NUL (it was sanitised), but one is refused anyway.
    fn send(&mut self, style: c_int, text: &str) -> Result<Option<Vec<u8>>, ConvFailed> {
        let text = CString::new(text).map_err(|_| ConvFailed(ffi::PAM_BUF_ERR))?;
        // SAFETY: self.conv is the live pam_conv of the running handle (checked at construction).
        unsafe { ffi::converse(self.conv, style, &text) }.map_err(ConvFailed)
    }
}

impl Converse for PamConversation {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<String, ConvFailed> {
        let style = if echo {
            ffi::PAM_PROMPT_ECHO_ON
        } else {
            ffi::PAM_PROMPT_ECHO_OFF
        };
        let answer = self.send(style, text)?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }

    fn show(&mut self, text: &str, error: bool) -> Result<(), ConvFailed> {
        let style = if error {
            ffi::PAM_ERROR_MSG
        } else {
            ffi::PAM_TEXT_INFO
        };
        self.send(style, text).map(|_| ())
    }
}

/// The PAM result for a decision, as pam_duo returns them.
fn result_code(verdict: Verdict, reason: Reason) -> c_int {
    match (verdict, reason) {
        (Verdict::Allow, _) => ffi::PAM_SUCCESS,
        // The push-fatigue guard: a retry limit, as pam_duo's MAXTRIES after its prompts.
        (Verdict::Deny, Reason::RateLimited) => ffi::PAM_MAXTRIES,
        // Duo unreachable under the daemon's failmode=secure, or the daemon could not evaluate:
        // pam_duo's "Failsecure" and "Error in Duo login" are PAM_SERVICE_ERR.
        (Verdict::Deny, Reason::FailSecure | Reason::Error) => ffi::PAM_SERVICE_ERR,
        (Verdict::Deny, _) => ffi::PAM_AUTH_ERR,
    }
}

/// The whole authentication.
///
/// # Safety
/// `pamh` must be the live handle of the running entry point.
unsafe fn authenticate(pamh: *mut PamHandle, flags: c_int, words: &[String]) -> c_int {
    let (a, warnings) = args::parse(words.iter().map(String::as_str));
    for w in &warnings {
        log(Priority::Warning, &w.to_string());
    }
    let debug_on = a.debug;
    let mut debug = |line: &str| {
        if debug_on {
            log(Priority::Debug, line);
        }
    };
    // SAFETY: pamh is live (the caller's promise), for this and the item reads below.
    let user = match unsafe { ffi::user(pamh) } {
        Ok(u) => u,
        Err(rc) => {
            debug("no PAM user");
            return rc;
        }
    };
    let Ok(user) = String::from_utf8(user) else {
        log(Priority::Err, "the PAM user name is not UTF-8: denying");
        return ffi::PAM_USER_UNKNOWN;
    };
    if user.is_empty() || user.len() > proto::MAX_NAME {
        log(
            Priority::Err,
            "the PAM user name is empty or too long: denying",
        );
        return ffi::PAM_USER_UNKNOWN;
    }
    // SAFETY: as above.
    let service = unsafe { ffi::string_item(pamh, ffi::PAM_SERVICE) };
    // SAFETY: as above.
    let rhost = unsafe { ffi::string_item(pamh, ffi::PAM_RHOST) };
    // SAFETY: as above.
    let tty = unsafe { ffi::string_item(pamh, ffi::PAM_TTY) };
    // SAFETY: as above.
    let conv_ptr = unsafe { ffi::conv_item(pamh) };
    // SAFETY: conv_ptr is null or libpam's live pam_conv.
    let has_conv = unsafe { conv_ptr.as_ref() }.is_some_and(|c| c.conv.is_some());
    let mut conv = PamConversation { conv: conv_ptr };
    let service_name = service.as_deref().unwrap_or("");
    let duo_user = duo_user_for(service_name, &user);
    let sshd = service_name == "sshd" || tty.as_deref() == Some("ssh");
    let display = Display {
        mustsee_as_prompt: match a.mustsee {
            MustSee::Prompt => true,
            MustSee::Info => false,
            MustSee::Auto => sshd,
        },
        silent: flags & ffi::PAM_SILENT != 0,
    };
    let client_host = rhost.filter(|h| h.len() <= proto::MAX_NAME);
    let command = if service_name == "sudo" {
        std::env::var("SUDO_COMMAND")
            .ok()
            .map(|c| proto::excerpt(&c, proto::MAX_COMMAND_EXCERPT))
    } else {
        None
    };
    debug(&format!(
        "user {user:?} (Duo user {duo_user:?}), service {service_name:?}, rhost {client_host:?}, conversation: {}, must-see lines as {}",
        if has_conv { "yes" } else { "no (headless)" },
        if display.mustsee_as_prompt { "prompts" } else { "info" },
    ));
    let request = LoginRequest {
        duo_user: Some(duo_user.clone()),
        client_host: client_host.clone(),
        ssh_connection: None,
        command,
        interactive: has_conv,
        env_passcode: None,
        service: service.map(|s| proto::truncate(&s, proto::MAX_NAME).to_string()),
    };
    let who = Who {
        user: duo_user,
        from: client_host,
    };
    let trust = peer::Trust::named_by(a.daemon_user.as_deref(), "daemon_user=");
    let timeouts = Timeouts {
        connect: Some(CONNECT_TIMEOUT.min(a.timeout)),
        io: a.timeout,
    };
    let mut debug_args = |line: std::fmt::Arguments<'_>| debug(&line.to_string());
    let stream = match duo_authd_client::connect(&a.socket, &trust, timeouts, &mut debug_args) {
        Ok(s) => s,
        Err(ConnectError::NoDaemon(detail)) => {
            if has_conv && !display.silent {
                let _ = conv.show(UNAVAILABLE, true);
            }
            return match a.failmode {
                Failmode::Secure => {
                    who.log(
                        Priority::Warning,
                        "Failsecure Duo login",
                        &format!("the duo-authd daemon is not running ({detail}); failmode=secure"),
                    );
                    ffi::PAM_AUTHINFO_UNAVAIL
                }
                Failmode::Safe => {
                    who.log(
                        Priority::Warning,
                        "Failsafe Duo login",
                        &format!("the duo-authd daemon is not running ({detail}); failmode=safe"),
                    );
                    ffi::PAM_SUCCESS
                }
            };
        }
        Err(ConnectError::Refused(detail)) => {
            who.log(
                Priority::Err,
                "Error in Duo login",
                &format!("refusing the duo-authd socket: {detail}"),
            );
            if has_conv {
                let _ = conv.show(UNAVAILABLE, true);
            }
            return ffi::PAM_SERVICE_ERR;
        }
    };
    let mut sock = sock::Sock::new(stream, a.timeout);
    let conv_ref: Option<&mut dyn Converse> = if has_conv { Some(&mut conv) } else { None };
    match session::converse(&mut sock, request, conv_ref, display, &mut debug) {
        Outcome::Decided(verdict, reason) => result_code(verdict, reason),
        Outcome::ConvFailed(ConvFailed(rc)) => {
            debug(&format!("the conversation failed ({rc}): the login ends"));
            ffi::PAM_CONV_ERR
        }
        Outcome::Failed(detail) => {
            who.log(Priority::Err, "Error in Duo login", &detail);
            ffi::PAM_SERVICE_ERR
        }
    }
}

/// The Duo user: the PAM user, except that su to root asks Duo about the caller, as pam_duo does.
fn duo_user_for(service: &str, pam_user: &str) -> String {
    if matches!(service, "su" | "su-l") {
        let to_root = matches!(passwd::by_name(pam_user), Ok(Some(pw)) if pw.uid == 0);
        if to_root {
            if let Ok(Some(me)) = passwd::by_uid(passwd::real_uid()) {
                return me.name;
            }
        }
    }
    pam_user.to_string()
}

/// The login a module decision is about, for its syslog line.
struct Who {
    /// The Duo user.
    user: String,
    /// `PAM_RHOST`, when set.
    from: Option<String>,
}

impl Who {
    /// Log one decision of the module's own in login_duo's words (the daemon logs all the others).
    fn log(&self, priority: Priority, headline: &str, detail: &str) {
        let line = proto::decision_line(headline, &self.user, self.from.as_deref(), Some(detail));
        log(priority, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_follow_pam_duo() {
        assert_eq!(
            result_code(Verdict::Allow, Reason::Bypass),
            ffi::PAM_SUCCESS
        );
        assert_eq!(
            result_code(Verdict::Allow, Reason::FailSafe),
            ffi::PAM_SUCCESS
        );
        assert_eq!(
            result_code(Verdict::Deny, Reason::Denied),
            ffi::PAM_AUTH_ERR
        );
        assert_eq!(
            result_code(Verdict::Deny, Reason::NotPermitted),
            ffi::PAM_AUTH_ERR
        );
        assert_eq!(
            result_code(Verdict::Deny, Reason::RateLimited),
            ffi::PAM_MAXTRIES
        );
        assert_eq!(
            result_code(Verdict::Deny, Reason::FailSecure),
            ffi::PAM_SERVICE_ERR
        );
    }

    #[test]
    fn a_panic_becomes_a_service_error() {
        let rc = guarded(|| -> c_int { panic!("boom") });
        assert_eq!(rc, ffi::PAM_SERVICE_ERR);
    }

    #[test]
    fn su_to_root_asks_about_the_caller() {
        let me = passwd::by_uid(passwd::real_uid()).unwrap().unwrap().name;
        let root = passwd::by_uid(0).unwrap().unwrap().name;
        assert_eq!(duo_user_for("su", &root), me);
        assert_eq!(duo_user_for("sudo", &root), root);
        assert_eq!(duo_user_for("su", "alice"), "alice");
    }

    #[test]
    fn arguments_are_read_from_argv() {
        let a = CString::new("debug").unwrap();
        let b = CString::new("socket=/x.sock").unwrap();
        let argv = [a.as_ptr(), b.as_ptr()];
        // SAFETY: argv holds two valid C strings that outlive the call.
        let words = unsafe { arg_words(2, argv.as_ptr()) };
        assert_eq!(words, ["debug", "socket=/x.sock"]);
        // SAFETY: a null argv is handled without reading.
        assert!(unsafe { arg_words(3, std::ptr::null()) }.is_empty());
    }
}
