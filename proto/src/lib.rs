//! The wire protocol between `duo-login` (the shim) and `duo-authd` (the daemon).
//!
//! Every frame is a big-endian `u32` length followed by that many bytes of a
//! postcard-encoded message. Frames larger than [`MAX_FRAME`] are refused
//! *before* any buffer is allocated for them. The first frame each side sends
//! is a [`ClientMsg::Hello`] / [`ServerMsg::Hello`] carrying
//! [`PROTOCOL_VERSION`]; a mismatch gets an explicit [`ServerMsg::Error`] and
//! the connection is closed. A client may send its next frame (the shim sends
//! `Start`) without waiting for the server's `Hello`: the server reads frames in
//! order and answers a mismatched `Hello` before reading any further.
//!
//! This crate is std-only (no tokio) so the shim can use it from blocking code;
//! the daemon frames with tokio-util's `LengthDelimitedCodec` configured by
//! [`MAX_FRAME`] and decodes payloads with [`decode`].
#![forbid(unsafe_code)]

mod frame;
mod limits;
mod messages;
mod sanitize;

pub use frame::{decode, encode, read_frame, write_frame, FrameError, LEN_PREFIX, MAX_FRAME};
pub use limits::{
    excerpt, truncate, valid_answer, MAX_ANSWER, MAX_COMMAND_EXCERPT, MAX_NAME, MAX_TEXT,
};
pub use messages::*;
pub use sanitize::{decision_line, log_escape, log_text, log_word, one_line, sanitize};

/// Bumped on any incompatible change, so an old shim and a new daemon refuse each other clearly.
/// 2: `LoginRequest::service`, `ServerMsg::Status::kind`, the command sent as a bounded excerpt.
pub const PROTOCOL_VERSION: u16 = 2;

/// Where the shim looks for the daemon unless `-s` says otherwise (never from the environment).
pub const DEFAULT_SOCKET: &str = "/var/run/duo-authd/authd.sock";
