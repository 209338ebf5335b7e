//! The messages of one connection: a version handshake, then either one login conversation or one health query.

use serde::{Deserialize, Serialize};

/// What the shim (or the health checker) sends to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientMsg {
    /// First frame of every connection, so version skew is caught before anything else.
    Hello {
        /// The sender's [`crate::PROTOCOL_VERSION`].
        version: u16,
    },
    /// Begin a login for the peer; the daemon decides who the peer is from the socket, not from this.
    Start(LoginRequest),
    /// The user's answer to the last [`ServerMsg::Prompt`].
    Answer {
        /// What the user typed, without the line ending.
        text: String,
    },
    /// Ask the daemon for its [`HealthReport`] (monitoring).
    Health,
}

/// Everything the shim knows about the login that the daemon cannot see itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// `-f DUOUSER`: authenticate as another Duo user; honoured only for peer uid 0.
    pub duo_user: Option<String>,
    /// `-h HOST`: the client address when `SSH_CONNECTION` is absent; honoured only for peer uid 0.
    pub client_host: Option<String>,
    /// `$SSH_CONNECTION` as sshd set it ("client_ip client_port server_ip server_port").
    pub ssh_connection: Option<String>,
    /// The start of the command that will run after an allow, for Duo's pushinfo: at most
    /// [`crate::MAX_COMMAND_EXCERPT`] bytes (see [`crate::excerpt`]), never the whole command, which
    /// sshd allows to be far larger than a frame.
    pub command: Option<String>,
    /// Whether a person can answer prompts (stdin is a TTY and there is no `SSH_ORIGINAL_COMMAND`).
    pub interactive: bool,
    /// `$DUO_PASSCODE`, used only when the daemon's config sets `accept_env_factor`.
    pub env_passcode: Option<String>,
    /// The PAM service asking (`sshd`, `sudo`, `su`), for pushinfo and the audit line; `None` from duo-login.
    pub service: Option<String>,
}

/// What the daemon sends to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerMsg {
    /// Reply to [`ClientMsg::Hello`] when the versions match.
    Hello {
        /// The daemon's [`crate::PROTOCOL_VERSION`].
        version: u16,
        /// The daemon's package version, for `-d` output and bug reports.
        daemon_version: String,
    },
    /// Ask the user for a factor choice or passcode; the client answers with [`ClientMsg::Answer`].
    Prompt {
        /// Text to show, as written by Duo (the client sanitises it again before printing).
        text: String,
        /// Whether to echo what the user types; off when a passcode may be typed.
        echo: bool,
    },
    /// A line for the user ("Pushed a login request to your device...").
    Status {
        /// One line of text, as written by Duo.
        text: String,
        /// Whether the user must read it now for the login to succeed.
        kind: StatusKind,
    },
    /// The end of a login conversation.
    Decision(Decision),
    /// Reply to [`ClientMsg::Health`].
    Health(Box<HealthReport>),
    /// The request could not be served; the connection is closed after this.
    Error {
        /// Machine-readable class of the error.
        kind: ErrorKind,
        /// A message fit to show the user.
        message: String,
    },
}

/// How much a status line matters, so a client that cannot show everything shows what it must.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusKind {
    /// Progress ("Pushed a login request..."): shown to a person at a terminal, dropped when headless.
    Progress,
    /// The user must act on this text to log in (a Verified Duo Push code): shown in every mode,
    /// on stderr when headless, and by a PAM client in a way the application cannot hold back.
    MustSee,
}

/// Let the login through, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Exec the user's shell or command.
    Allow,
    /// Exit 1.
    Deny,
}

/// Why the daemon decided as it did; shared by the audit log, health counters and the shim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reason {
    /// The user passed the second factor.
    Authenticated,
    /// Duo's preauth said `allow` (bypass / unknown-user policy).
    Bypass,
    /// The user is outside the configured `groups`, so Duo is not required.
    NotInGroups,
    /// Duo could not be reached or answered nonsense and `failmode = safe`.
    FailSafe,
    /// Duo could not be reached or answered nonsense and `failmode = secure`.
    FailSecure,
    /// Duo (or the user) refused: push denied, wrong passcode, preauth deny.
    Denied,
    /// The user must enroll before logging in.
    Enroll,
    /// The login was abandoned: no answer, too many attempts, the deadline passed.
    Aborted,
    /// Too many pushes or calls for this user recently (push-fatigue guard).
    RateLimited,
    /// The client asked for something its uid may not do (e.g. `-f` as non-root).
    NotPermitted,
    /// The daemon could not evaluate the login (configuration or local lookup failure).
    Error,
}

impl Reason {
    /// Stable lower-case name used in logs, health output and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Authenticated => "authenticated",
            Reason::Bypass => "bypass",
            Reason::NotInGroups => "not_in_groups",
            Reason::FailSafe => "failsafe",
            Reason::FailSecure => "failsecure",
            Reason::Denied => "denied",
            Reason::Enroll => "enroll",
            Reason::Aborted => "aborted",
            Reason::RateLimited => "rate_limited",
            Reason::NotPermitted => "not_permitted",
            Reason::Error => "error",
        }
    }
}

/// The final answer of a login conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// Text for the user (deny reason, enrollment URL); printed on stderr when headless.
    pub message: Option<String>,
    /// Print /etc/motd before exec (config `motd`, interactive logins only).
    pub show_motd: bool,
}

/// Classes of protocol-level errors, so the shim can word its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The peers speak different protocol versions.
    VersionMismatch,
    /// A frame did not decode or came out of order.
    Malformed,
    /// The peer's uid may not do what it asked.
    NotPermitted,
    /// The daemon is at its connection limit or shutting down.
    Busy,
    /// The client was silent past its deadline.
    Timeout,
    /// Anything else inside the daemon.
    Internal,
}

/// The daemon's own view of its health, answered from memory without calling Duo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HealthReport {
    /// Package version of the daemon.
    pub daemon_version: String,
    /// True when the daemon can serve logins normally (health exit 0).
    pub ready: bool,
    /// Why it is not ready, one line each.
    pub problems: Vec<String>,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// Path of the config in force.
    pub config_path: String,
    /// Incremented on every successful reload (starts at 1).
    pub config_generation: u64,
    /// Why the last SIGHUP reload was refused, if it was.
    pub last_reload_error: Option<String>,
    /// The Duo API host in use.
    pub duo_host: String,
    /// Seconds since Duo last answered a request successfully.
    pub duo_last_ok_secs_ago: Option<u64>,
    /// Seconds since a request to Duo last failed.
    pub duo_last_failure_secs_ago: Option<u64>,
    /// The last failure, in words.
    pub duo_last_error: Option<String>,
    /// Requests made to Duo since start.
    pub duo_requests: u64,
    /// Of which failed.
    pub duo_failures: u64,
    /// TCP+TLS connections opened to Duo since start (the pool keeps this low).
    pub duo_connections_opened: u64,
    /// Server clock minus ours, as measured by /auth/v2/ping.
    pub clock_offset_secs: i64,
    /// Client connections currently open.
    pub connections_open: u64,
    /// Logins currently being decided.
    pub logins_in_flight: u64,
    /// Logins decided since start.
    pub logins_served: u64,
    /// Decisions since start, by [`Reason::as_str`].
    pub decisions: Vec<(String, u64)>,
}
