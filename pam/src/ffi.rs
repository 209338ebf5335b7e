//! The few PAM calls and types the module needs, declared by hand (no bindgen, no C compiler).
//!
//! Linux-PAM and the Solaris-derived PAM of illumos agree on the shape of every structure and on
//! the item and message-style numbers, but not on the result codes, on `PAM_SILENT`, or on
//! const-ness: Solaris passes `struct pam_message **` and `void **` where Linux-PAM passes
//! `const struct pam_message **` and `const void **`. Each platform's sibling file holds its
//! numbers and its pointer types; the code here is written once against those aliases.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

#[cfg(not(any(target_os = "illumos", target_os = "solaris")))]
#[path = "ffi/linux.rs"]
mod imp;
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
#[path = "ffi/illumos.rs"]
mod imp;

pub use imp::*;

/// The opaque `pam_handle_t`.
#[repr(C)]
pub struct PamHandle {
    /// Never constructed or read on our side.
    _opaque: [u8; 0],
}

/// `struct pam_message`: one prompt or line for the application to show.
#[repr(C)]
pub struct PamMessage {
    /// `PAM_PROMPT_ECHO_OFF`, `PAM_PROMPT_ECHO_ON`, `PAM_ERROR_MSG` or `PAM_TEXT_INFO`.
    pub msg_style: c_int,
    /// The text, NUL-terminated (const on Linux-PAM, not on Solaris).
    pub msg: MsgText,
}

/// `struct pam_response`: the application's answer, allocated with malloc, freed by the module.
#[repr(C)]
pub struct PamResponse {
    /// The typed answer (malloc'd), or null.
    pub resp: *mut c_char,
    /// Unused by every implementation; zero.
    pub resp_retcode: c_int,
}

/// `struct pam_conv`: the application's conversation function and its data.
#[repr(C)]
pub struct PamConv {
    /// The function; null when the application gave none (a headless caller).
    pub conv: Option<ConvFn>,
    /// Passed back to `conv` unchanged.
    pub appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
extern "C" {
    fn pam_get_item(pamh: *const PamHandle, item_type: c_int, item: *mut ItemOut) -> c_int;
    fn pam_get_user(pamh: *mut PamHandle, user: *mut UserOut, prompt: *const c_char) -> c_int;
}

/// A string item (`PAM_SERVICE`, `PAM_RHOST`, `PAM_TTY`), copied out; `None` when unset or empty.
///
/// # Safety
/// `pamh` must be the live handle PAM passed to the entry point that is running.
pub unsafe fn string_item(pamh: *mut PamHandle, item: c_int) -> Option<String> {
    let mut out: ItemOut = ptr::null_mut();
    // SAFETY: pamh is live (the caller's promise); out is a valid place for PAM to store a pointer.
    let rc = unsafe { pam_get_item(pamh, item, &mut out) };
    if rc != PAM_SUCCESS || out.is_null() {
        return None;
    }
    // SAFETY: for string items PAM stores a NUL-terminated string it owns for the handle's life.
    let s = unsafe { CStr::from_ptr(out as *const c_char) };
    let s = s.to_string_lossy().into_owned();
    (!s.is_empty()).then_some(s)
}

/// The application's conversation, or null when it gave none.
///
/// # Safety
/// `pamh` must be the live handle PAM passed to the entry point that is running.
pub unsafe fn conv_item(pamh: *mut PamHandle) -> *const PamConv {
    let mut out: ItemOut = ptr::null_mut();
    // SAFETY: as in string_item.
    let rc = unsafe { pam_get_item(pamh, PAM_CONV, &mut out) };
    if rc != PAM_SUCCESS {
        return ptr::null();
    }
    out as *const PamConv
}

/// The user being authenticated (`pam_get_user`, which may prompt for it), as bytes.
///
/// # Safety
/// `pamh` must be the live handle PAM passed to the entry point that is running.
pub unsafe fn user(pamh: *mut PamHandle) -> Result<Vec<u8>, c_int> {
    let mut out: UserOut = ptr::null_mut();
    // SAFETY: pamh is live; out is a valid place for the pointer; a null prompt means PAM's default.
    let rc = unsafe { pam_get_user(pamh, &mut out, ptr::null()) };
    if rc != PAM_SUCCESS {
        return Err(rc);
    }
    if out.is_null() {
        return Err(PAM_USER_UNKNOWN);
    }
    // SAFETY: on success PAM stores a NUL-terminated string it owns for the handle's life.
    Ok(unsafe { CStr::from_ptr(out as *const c_char) }
        .to_bytes()
        .to_vec())
}

/// Send one message through the conversation and take its answer (for prompts), wiping and
/// freeing what the application allocated. One message per call: Linux-PAM reads the message
/// argument as an array of pointers, Solaris as a pointer to an array; with one message both agree.
///
/// # Safety
/// `conv` must be null or point to the live `pam_conv` of the running handle.
pub unsafe fn converse(
    conv: *const PamConv,
    style: c_int,
    text: &CStr,
) -> Result<Option<Vec<u8>>, c_int> {
    // SAFETY: conv is null or the live pam_conv (the caller's promise).
    let Some(conv) = (unsafe { conv.as_ref() }) else {
        return Err(PAM_CONV_ERR);
    };
    let Some(f) = conv.conv else {
        return Err(PAM_CONV_ERR);
    };
    let mut msg = PamMessage {
        msg_style: style,
        msg: text.as_ptr() as MsgText,
    };
    let mut msgs: MsgPtr = &mut msg;
    let mut resp: *mut PamResponse = ptr::null_mut();
    // SAFETY: msgs points to one valid message whose text outlives the call; resp is a valid place
    // for the application to store its malloc'd answer array; appdata_ptr is the application's own.
    let rc = unsafe { f(1, &mut msgs, &mut resp, conv.appdata_ptr) };
    // SAFETY: resp is null or the malloc'd array of one response the application just returned.
    let answer = unsafe { take_response(resp) };
    if rc != PAM_SUCCESS {
        return Err(rc);
    }
    Ok(answer)
}

/// Copy the answer out of a response array of one, then wipe and free it.
///
/// # Safety
/// `resp` must be null or a malloc'd `pam_response` whose `resp` is null or a malloc'd C string.
unsafe fn take_response(resp: *mut PamResponse) -> Option<Vec<u8>> {
    if resp.is_null() {
        return None;
    }
    // SAFETY: resp is a valid, exclusively ours response (the caller's promise).
    let r = unsafe { &mut *resp };
    let answer = if r.resp.is_null() {
        None
    } else {
        // SAFETY: r.resp is a NUL-terminated malloc'd string.
        let bytes = unsafe { CStr::from_ptr(r.resp) }.to_bytes();
        let copy = bytes.to_vec();
        let len = bytes.len();
        for i in 0..len {
            // SAFETY: i < len, inside the string's allocation; volatile so the wipe of a passcode
            // is not optimised away before free.
            unsafe { ptr::write_volatile(r.resp.add(i), 0) };
        }
        // SAFETY: r.resp was allocated with malloc by the application and is freed once here.
        unsafe { libc::free(r.resp.cast()) };
        r.resp = ptr::null_mut();
        Some(copy)
    };
    // SAFETY: the array itself was malloc'd by the application and is freed once here.
    unsafe { libc::free(resp.cast()) };
    answer
}
