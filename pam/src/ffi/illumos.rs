//! illumos / Solaris PAM's numbers and const-ness (illumos-gate usr/src/lib/libpam/security/pam_appl.h):
//! different result codes from Linux-PAM, `PAM_SILENT` in the top bit, and no `const` on the
//! message text, the message array or the item and user out-parameters.

use std::ffi::{c_char, c_int, c_void};

use super::{PamMessage, PamResponse};

/// Success.
pub const PAM_SUCCESS: c_int = 0;
/// Error in the module (pam_duo's code for "Error in Duo login" and failsecure).
pub const PAM_SERVICE_ERR: c_int = 3;
/// Memory could not be allocated.
pub const PAM_BUF_ERR: c_int = 5;
/// The conversation failed.
pub const PAM_CONV_ERR: c_int = 6;
/// A retry limit was reached (the daemon's push-fatigue guard refused).
pub const PAM_MAXTRIES: c_int = 8;
/// The user (or policy) failed authentication.
pub const PAM_AUTH_ERR: c_int = 9;
/// The authentication service cannot be reached (daemon down under `failmode=secure`).
pub const PAM_AUTHINFO_UNAVAIL: c_int = 12;
/// No such user.
pub const PAM_USER_UNKNOWN: c_int = 13;

/// Item: the service name.
pub const PAM_SERVICE: c_int = 1;
/// Item: the terminal.
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

/// Flag: the application wants no informational messages (`0x80000000` as an `int`).
pub const PAM_SILENT: c_int = c_int::MIN;

/// `char *` in `struct pam_message`.
pub type MsgText = *mut c_char;
/// What the conversation's message argument points to: `struct pam_message *`.
pub type MsgPtr = *mut PamMessage;
/// `void *`, filled in by `pam_get_item`.
pub type ItemOut = *mut c_void;
/// `char *`, filled in by `pam_get_user`.
pub type UserOut = *mut c_char;
/// `int (*conv)(int, struct pam_message **, struct pam_response **, void *)`.
pub type ConvFn =
    unsafe extern "C" fn(c_int, *mut *mut PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int;
