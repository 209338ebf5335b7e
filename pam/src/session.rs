//! One login over the daemon's socket, with the PAM conversation standing in for the terminal.

use std::io::{Read, Write};

use duo_authd_proto::{
    encode, read_frame, sanitize, write_frame, ClientMsg, FrameError, LoginRequest, Reason,
    ServerMsg, StatusKind, Verdict, PROTOCOL_VERSION,
};

/// Added to a Verified Push code shown as a prompt (sshd), so the user knows what Enter does.
pub const PRESS_ENTER: &str = "Press Enter once you have approved the request.";

/// Why the application's conversation could not be used; the login ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvFailed(pub std::ffi::c_int);

/// The application's side of the exchange: PAM's conversation function, or a test double.
pub trait Converse {
    /// Ask the user; `echo` false for anything that may be a passcode.
    fn prompt(&mut self, text: &str, echo: bool) -> Result<String, ConvFailed>;
    /// Show a line: `PAM_TEXT_INFO`, or `PAM_ERROR_MSG` when `error`.
    fn show(&mut self, text: &str, error: bool) -> Result<(), ConvFailed>;
}

/// How this login shows what it shows (from the module arguments, flags and the service).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Display {
    /// Show a must-see line as a prompt (sshd) instead of an info line.
    pub mustsee_as_prompt: bool,
    /// `PAM_SILENT`: no progress lines, no allow messages.
    pub silent: bool,
}

/// How the conversation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The daemon decided.
    Decided(Verdict, Reason),
    /// The conversation function failed: the user went away or pressed Ctrl-C.
    ConvFailed(ConvFailed),
    /// Anything else after connecting: a refusal, a closed connection, a bad frame, a timeout.
    Failed(String),
}

/// Run one login on a connected, trusted socket. `conv` is `None` for a headless caller.
pub fn converse<S: Read + Write>(
    sock: &mut S,
    request: LoginRequest,
    mut conv: Option<&mut dyn Converse>,
    display: Display,
    debug: &mut dyn FnMut(&str),
) -> Outcome {
    let mut buf = match encode(&ClientMsg::Hello {
        version: PROTOCOL_VERSION,
    }) {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("cannot encode the handshake: {e}")),
    };
    match encode(&ClientMsg::Start(request)) {
        Ok(b) => buf.extend(b),
        Err(e) => return Outcome::Failed(format!("cannot encode the login request: {e}")),
    }
    if let Err(e) = sock.write_all(&buf) {
        if let Ok(ServerMsg::Error { kind, message }) = read_frame::<_, ServerMsg>(sock) {
            return Outcome::Failed(format!(
                "the daemon refused the login ({kind:?}): {}",
                sanitize(&message)
            ));
        }
        return Outcome::Failed(format!("cannot send the login request: {e}"));
    }
    match read_frame::<_, ServerMsg>(sock) {
        Ok(ServerMsg::Hello {
            version,
            daemon_version,
        }) if version == PROTOCOL_VERSION => debug(&format!(
            "daemon {} speaks protocol {version}",
            sanitize(&daemon_version)
        )),
        Ok(ServerMsg::Hello { version, .. }) => {
            return Outcome::Failed(format!(
                "the daemon speaks protocol {version}, this module {PROTOCOL_VERSION}; upgrade them together"
            ))
        }
        Ok(ServerMsg::Error { kind, message }) => {
            return Outcome::Failed(format!(
                "the daemon refused the handshake ({kind:?}): {}",
                sanitize(&message)
            ))
        }
        Ok(_) => return Outcome::Failed("unexpected reply to the handshake".into()),
        Err(e) => return Outcome::Failed(format!("handshake failed: {e}")),
    }
    // Whether this attempt has already stopped the user with a must-see prompt: one is enough to
    // carry the code; the attempt's later must-see lines ("Success. Logging you in...") go as info.
    let mut stopped = false;
    loop {
        let msg = match read_frame::<_, ServerMsg>(sock) {
            Ok(m) => m,
            Err(FrameError::Closed) => {
                return Outcome::Failed("the daemon closed the connection before deciding".into())
            }
            Err(e) => return Outcome::Failed(format!("lost the daemon: {e}")),
        };
        match msg {
            ServerMsg::Status { text, kind } => {
                debug(&format!("status ({kind:?})"));
                let Some(c) = conv.as_deref_mut() else {
                    // Headless: nobody to show it to; the daemon sent only what must be seen.
                    continue;
                };
                let text = sanitize(&text);
                let shown = match kind {
                    StatusKind::MustSee if display.mustsee_as_prompt && !stopped => {
                        stopped = true;
                        c.prompt(&format!("{text}\n{PRESS_ENTER}"), true)
                            .map(|_| ())
                    }
                    StatusKind::MustSee => c.show(&text, false),
                    // sshd holds info lines back until the next prompt: progress there would
                    // arrive stale, after the login, so (as pam_duo does for sshd) it is dropped.
                    StatusKind::Progress if display.silent || display.mustsee_as_prompt => Ok(()),
                    StatusKind::Progress => c.show(&text, false),
                };
                if let Err(e) = shown {
                    return Outcome::ConvFailed(e);
                }
            }
            ServerMsg::Prompt { text, echo } => {
                debug(&format!(
                    "prompt (echo {})",
                    if echo { "on" } else { "off" }
                ));
                stopped = false;
                let answer = match conv.as_deref_mut() {
                    Some(c) => match c.prompt(&sanitize(&text), echo) {
                        Ok(a) => a,
                        Err(e) => return Outcome::ConvFailed(e),
                    },
                    None => String::new(),
                };
                // One byte over the longest valid answer, so the daemon can tell a cut one apart.
                let answer = duo_authd_proto::truncate(
                    answer.trim_end_matches(['\r', '\n']),
                    duo_authd_proto::MAX_ANSWER + 1,
                )
                .to_string();
                if let Err(e) = write_frame(sock, &ClientMsg::Answer { text: answer }) {
                    return Outcome::Failed(format!("cannot send the answer: {e}"));
                }
            }
            ServerMsg::Decision(d) => {
                debug(&format!(
                    "decision {} ({})",
                    match d.verdict {
                        Verdict::Allow => "allow",
                        Verdict::Deny => "deny",
                    },
                    d.reason.as_str()
                ));
                if let (Some(c), Some(m)) = (conv.as_deref_mut(), &d.message) {
                    let deny = d.verdict == Verdict::Deny;
                    if deny || !display.silent {
                        // A failed conversation here changes nothing: the decision stands.
                        let _ = c.show(&sanitize(m), deny);
                    }
                }
                return Outcome::Decided(d.verdict, d.reason);
            }
            ServerMsg::Error { kind, message } => {
                return Outcome::Failed(format!(
                    "the daemon refused the login ({kind:?}): {}",
                    sanitize(&message)
                ));
            }
            ServerMsg::Hello { .. } | ServerMsg::Health(_) => {
                return Outcome::Failed("the daemon sent an unexpected message".into());
            }
        }
    }
}

#[cfg(test)]
mod tests;
