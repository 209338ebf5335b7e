//! Linux-PAM's numbers and const-ness (<security/_pam_types.h>, <security/pam_modules.h>).

use std::ffi::{c_char, c_int, c_void};

use super::{PamMessage, PamResponse};

/// Success.
pub const PAM_SUCCESS: c_int = 0;
/// Error in the module (pam_duo's code for "Error in Duo login" and failsecure).
pub const PAM_SERVICE_ERR: c_int = 3;
/// Memory could not be allocated.
pub const PAM_BUF_ERR: c_int = 5;
/// The user (or policy) failed authentication.
pub const PAM_AUTH_ERR: c_int = 7;
/// The authentication service cannot be reached (daemon down under `failmode=secure`).
pub const PAM_AUTHINFO_UNAVAIL: c_int = 9;
/// No such user.
pub const PAM_USER_UNKNOWN: c_int = 10;
/// A retry limit was reached (the daemon's push-fatigue guard refused).
pub const PAM_MAXTRIES: c_int = 11;
/// The conversation failed (Ctrl-C at sudo's prompt, a client that went away).
pub const PAM_CONV_ERR: c_int = 19;

/// Item: the service name.
pub const PAM_SERVICE: c_int = 1;
/// Item: the terminal (sshd sets "ssh").
pub const PAM_TTY: c_int = 3;
/// Item: the remote host.
pub const PAM_RHOST: c_int = 4;
/// Item: the conversation.
pub const PAM_CONV: c_int = 5;

/// Prompt without echo.
pub const PAM_PROMPT_ECHO_OFF: c_int = 1;
/// Prompt with echo.
pub const PAM_PROMPT_ECHO_ON: c_int = 2;
/// An error line.
pub const PAM_ERROR_MSG: c_int = 3;
/// An information line.
pub const PAM_TEXT_INFO: c_int = 4;

/// Flag: the application wants no informational messages.
pub const PAM_SILENT: c_int = 0x8000;

/// `const char *` in `struct pam_message`.
pub type MsgText = *const c_char;
/// What the conversation's message argument points to: `const struct pam_message *`.
pub type MsgPtr = *const PamMessage;
/// `const void *`, filled in by `pam_get_item`.
pub type ItemOut = *const c_void;
/// `const char *`, filled in by `pam_get_user`.
pub type UserOut = *const c_char;
/// `int (*conv)(int, const struct pam_message **, struct pam_response **, void *)`.
pub type ConvFn = unsafe extern "C" fn(
    c_int,
    *mut *const PamMessage,
    *mut *mut PamResponse,
    *mut c_void,
) -> c_int;
