//! The daemon's config file: login_duo's keys in TOML plus an `[authd]` table, checked and typed once at load.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use zeroize::Zeroizing;

pub use crate::failmode::Failmode;
use crate::proxy_url::ProxyUrl;
use crate::secret::Secret;
use duo_authd_syslog::Facility;

/// A config file larger than this is refused (a real one is well under 4 KiB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Why a config file was refused; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be opened or read (login_duo's words).
    #[error("Couldn't open {}: {source}", path.display())]
    Io {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may read or write the file that holds the skey (login_duo's words first).
    #[error("{p} must be readable only by user '{owner}': group or others may read or write it (mode {mode:04o}); run: chmod 600 {p}", p = path.display())]
    Permissions {
        /// The config file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Its owner's name (or uid).
        owner: String,
    },
    /// Someone other than root or the daemon's user owns the file (and so could change the keys).
    #[error("{} is owned by uid {owner}; it must be owned by root or by the daemon's user (uid {euid})", path.display())]
    Owner {
        /// The config file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The daemon's effective uid.
        euid: u32,
    },
    /// The file is not valid TOML or INI, has an unknown key, or a value of the wrong type
    /// (login_duo's `Parse error in FILE, line N` first).
    #[error("Parse error in {}{}{message}", path.display(), if message.starts_with("line ") { ", " } else { ": " })]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// `host`, `ikey` or `skey` is absent or empty (login_duo's words first).
    #[error("Missing host, ikey, or skey in {}: {key} is not set", path.display())]
    Missing {
        /// The config file.
        path: PathBuf,
        /// The first one missing.
        key: &'static str,
    },
    /// Two settings that exclude each other (login_duo's words).
    #[error("{what} in {}", path.display())]
    Conflict {
        /// The config file.
        path: PathBuf,
        /// Which, in login_duo's words.
        what: &'static str,
    },
    /// A key has a value outside what it allows.
    #[error("{}: {key}: {reason}", path.display())]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// The offending key (`authd.` prefixed for the `[authd]` table).
        key: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
}

/// The HMAC used to sign requests to Duo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureAlg {
    /// HMAC-SHA512, what Duo recommends.
    #[default]
    Sha512,
    /// HMAC-SHA1, for old integrations.
    Sha1,
}

/// The Duo API host from `host`, split so signing and connecting each get what they need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiHost {
    /// Lower-case host name or IP address, without port or brackets.
    pub host: String,
    /// TCP port, 443 unless `host` carried one.
    pub port: u16,
}

impl ApiHost {
    /// Parse `host` / `host:port` / `[v6]:port`, lower-casing the name.
    pub fn parse(raw: &str) -> Result<ApiHost, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if raw.contains("://") {
            return Err("must be a host name such as api-XXXXXXXX.duosecurity.com, without a scheme like https://".into());
        }
        if raw.chars().any(char::is_whitespace) {
            return Err("must not contain spaces".into());
        }
        if raw.contains(['/', '?', '#', '@']) {
            return Err("must be a host name (optionally with :port), without a path".into());
        }
        let (host, port, v6) = match raw.strip_prefix('[') {
            Some(rest) => {
                let (h, after) = rest.split_once(']').ok_or("has '[' without ']'")?;
                let port = match after {
                    "" => None,
                    a => Some(
                        a.strip_prefix(':')
                            .ok_or("has text after ']' that is not :port")?,
                    ),
                };
                (h, port, true)
            }
            None => match raw.split_once(':') {
                Some((h, p)) => (h, Some(p), false),
                None => (raw, None, false),
            },
        };
        let allowed = |c: char| {
            if v6 {
                c.is_ascii_hexdigit() || c == ':' || c == '.'
            } else {
                c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_'
            }
        };
        if host.is_empty() || !host.chars().all(allowed) {
            return Err(format!(
                "'{raw}' is not a valid host name (IPv6 addresses go in brackets: [::1]:443)"
            ));
        }
        let port = match port {
            None => 443,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(format!("port '{p}' must be a number from 1 to 65535")),
            },
        };
        Ok(ApiHost {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// `host` or `host:port` (port only when not 443), for the URI and the `Host` header.
    pub fn authority(&self) -> String {
        let host = uri_host(&self.host);
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// The host as it goes into the signed canonical request: lower-case, without port.
    pub fn canonical_host(&self) -> &str {
        &self.host
    }
}

/// A host name or address as it is written in a URI: IPv6 addresses in brackets.
pub fn uri_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Daemon-only settings from the `[authd]` table.
#[derive(Debug, Clone)]
pub struct AuthdConfig {
    /// The Unix socket the shim connects to.
    pub socket: PathBuf,
    /// The account the daemon runs as after binding (and the one the shim expects); `None` = the starting uid.
    pub user: Option<String>,
    /// HMAC for request signing.
    pub signature: SignatureAlg,
    /// Upper bound on one login, below sshd's LoginGraceTime.
    pub login_timeout: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Most client connections open at once from one uid.
    pub max_connections_per_uid: usize,
    /// Most HTTPS requests to Duo in flight at once.
    pub max_concurrent_requests: usize,
    /// How long an idle pooled connection to Duo is kept.
    pub pool_idle_timeout: Duration,
    /// New connections to Duo per second once a burst of as many has opened, so a Duo back from a
    /// stall is not met by hundreds of handshakes at once.
    pub connect_rate: u32,
    /// How long a new client may take to send its first frame.
    pub first_frame_timeout: Duration,
    /// How long a client being prompted may stay silent.
    pub idle_timeout: Duration,
    /// Period of the background `/auth/v2/check`; zero = off.
    pub health_interval: Duration,
    /// How long Duo may be unreachable before `health` reports degraded.
    pub unreachable_threshold: Duration,
    /// Keep running as root (otherwise the daemon refuses).
    pub allow_root: bool,
    /// Most pushes/calls per Duo user per `push_window`.
    pub push_limit: u32,
    /// The push-fatigue window.
    pub push_window: Duration,
    /// How long logins in flight may finish after SIGTERM.
    pub drain_timeout: Duration,
    /// Also log audit lines to syslog (login_duo's only log).
    pub syslog: bool,
    /// The syslog facility of audit lines.
    pub syslog_facility: Facility,
    /// Logins per minute per non-root uid that may reach Duo (0: no limit).
    pub preauth_rate: u32,
}

/// Open files the daemon keeps for itself besides clients and Duo connections: stdio, the
/// listener, the runtime's epoll and wake-up descriptors, syslog, NSS lookups, DNS.
pub const FD_RESERVE: u64 = 64;

impl AuthdConfig {
    /// Open files the configured limits need: the reserve, one per Duo connection, one per client.
    pub fn fds_needed(&self) -> u64 {
        FD_RESERVE + self.max_concurrent_requests as u64 + self.max_connections as u64
    }

    /// Shrink the connection caps to what `nofile` open files allow, keeping the reserve free so
    /// the daemon's own lookups and its connections to Duo never starve (an over-cap client gets
    /// `Busy` instead). Returns what was changed, for a warning.
    pub fn fit_fd_limit(&mut self, nofile: u64) -> Option<String> {
        let wanted = self.fds_needed();
        if nofile >= wanted {
            return None;
        }
        let usable = nofile.saturating_sub(FD_RESERVE);
        let duo = (self.max_concurrent_requests as u64).min((usable / 4).max(4));
        let clients = usable.saturating_sub(duo).max(1);
        let (asked_clients, asked_duo) = (self.max_connections, self.max_concurrent_requests);
        self.max_concurrent_requests = usize::try_from(duo).unwrap_or(usize::MAX).max(1);
        self.max_connections = usize::try_from(clients)
            .unwrap_or(usize::MAX)
            .min(self.max_connections);
        self.max_connections_per_uid = self.max_connections_per_uid.min(self.max_connections);
        Some(format!(
            "the open-file limit is {nofile}: serving at most {} clients and {} Duo connections at once \
             (the config asks for {asked_clients} and {asked_duo}); raise the limit to {wanted} \
             (systemd: LimitNOFILE=, SMF: the process.max-file-descriptor resource control) for the configured values",
            self.max_connections, self.max_concurrent_requests
        ))
    }
}

/// The validated config the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Integration key (not secret; sent with every request).
    pub ikey: String,
    /// Secret key: signs requests; never logged.
    pub skey: Secret,
    /// The Duo API host.
    pub host: ApiHost,
    /// What to do when Duo fails.
    pub failmode: Failmode,
    /// Group pattern entries; empty = everyone needs Duo.
    pub groups: Vec<String>,
    /// Interactive attempts per login, 1 to 3.
    pub prompts: u32,
    /// Push to the default device without a menu.
    pub autopush: bool,
    /// Send the command and host in the push.
    pub pushinfo: bool,
    /// Take the factor from `DUO_PASSCODE`.
    pub accept_env_factor: bool,
    /// Use this host's address when the client address is unknown.
    pub fallback_local_ip: bool,
    /// Per-request timeout; `None` = no limit of its own.
    pub https_timeout: Option<Duration>,
    /// PEM bundle of trusted CAs instead of the built-in roots.
    pub cafile: Option<PathBuf>,
    /// The proxy to tunnel through, parsed once here (its password never shows in `Debug`).
    pub http_proxy: Option<ProxyUrl>,
    /// Skip TLS certificate verification (insecure).
    pub noverify: bool,
    /// Take the Duo username from the GECOS field.
    pub send_gecos: bool,
    /// Which GECOS field (1-based); `None` = the whole field.
    pub gecos_username_pos: Option<u32>,
    /// GECOS field separator.
    pub gecos_delim: char,
    /// Show the message of the day after an interactive allow.
    pub motd: bool,
    /// Verified Duo Push (the user types a code shown at login).
    pub verified_push: bool,
    /// The `[authd]` table.
    pub authd: AuthdConfig,
}

/// `groups`: an array of entries, or one string of space-separated entries as in login_duo.conf.
#[derive(Default)]
struct Groups(Vec<String>);

impl<'de> Deserialize<'de> for Groups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Groups;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of group patterns or one space-separated string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Groups, E> {
                Ok(Groups(s.split_whitespace().map(String::from).collect()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Groups, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(Groups(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// The file as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    ikey: String,
    skey: Secret,
    host: String,
    #[serde(default)]
    failmode: Failmode,
    #[serde(default)]
    groups: Groups,
    #[serde(default = "default_prompts")]
    prompts: i64,
    #[serde(default)]
    autopush: bool,
    #[serde(default)]
    pushinfo: bool,
    #[serde(default)]
    accept_env_factor: bool,
    #[serde(default)]
    fallback_local_ip: bool,
    #[serde(default)]
    https_timeout: i64,
    cafile: Option<PathBuf>,
    http_proxy: Option<Secret>,
    #[serde(default)]
    noverify: bool,
    #[serde(default)]
    send_gecos: bool,
    gecos_username_pos: Option<i64>,
    gecos_delim: Option<String>,
    #[serde(default)]
    motd: bool,
    #[serde(default)]
    verified_push: bool,
    #[serde(default)]
    authd: RawAuthd,
}

fn default_prompts() -> i64 {
    3
}

/// The `[authd]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAuthd {
    socket: PathBuf,
    user: Option<String>,
    signature: SignatureAlg,
    login_timeout: i64,
    max_connections: i64,
    max_connections_per_uid: i64,
    max_concurrent_requests: i64,
    pool_idle_timeout: i64,
    connect_rate: i64,
    first_frame_timeout: i64,
    idle_timeout: i64,
    health_interval: i64,
    unreachable_threshold: i64,
    allow_root: bool,
    push_limit: i64,
    push_window: i64,
    drain_timeout: i64,
    syslog: bool,
    syslog_facility: String,
    preauth_rate: i64,
}

impl Default for RawAuthd {
    fn default() -> Self {
        RawAuthd {
            socket: PathBuf::from("/var/run/duo-authd/authd.sock"),
            user: None,
            signature: SignatureAlg::Sha512,
            login_timeout: 90,
            max_connections: 4096,
            max_connections_per_uid: 64,
            max_concurrent_requests: 256,
            pool_idle_timeout: 50,
            connect_rate: 32,
            first_frame_timeout: 5,
            idle_timeout: 60,
            health_interval: 60,
            unreachable_threshold: 120,
            allow_root: false,
            push_limit: 5,
            push_window: 600,
            drain_timeout: 60,
            syslog: true,
            syslog_facility: "authpriv".into(),
            preauth_rate: 60,
        }
    }
}

/// Builds `Invalid` errors for one file.
struct Check<'a>(&'a Path);

impl Check<'_> {
    fn missing(&self, key: &'static str) -> ConfigError {
        ConfigError::Missing {
            path: self.0.to_path_buf(),
            key,
        }
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.0.to_path_buf(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn range(&self, key: &str, v: i64, lo: i64, hi: i64) -> Result<u64, ConfigError> {
        if (lo..=hi).contains(&v) {
            Ok(v.unsigned_abs())
        } else {
            Err(self.invalid(key, format!("must be between {lo} and {hi} (got {v})")))
        }
    }

    fn secs(&self, key: &str, v: i64, lo: i64, hi: i64) -> Result<Duration, ConfigError> {
        self.range(key, v, lo, hi).map(Duration::from_secs)
    }

    fn count(&self, key: &str, v: i64, hi: i64) -> Result<usize, ConfigError> {
        self.range(key, v, 1, hi).map(|n| n as usize)
    }
}

/// `host`, `ikey` or `skey` when the parser's message says it is absent.
fn missing_key(message: &str) -> Option<&'static str> {
    ["host", "ikey", "skey"]
        .into_iter()
        .find(|k| message == format!("missing field `{k}`"))
}

/// fstat-based access rule: only root or the daemon's own user may own the file, and only they may read it.
fn check_access(path: &Path, mode: u32, owner: u32, euid: u32) -> Result<(), ConfigError> {
    if mode & 0o077 != 0 {
        return Err(ConfigError::Permissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
            owner: match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(owner)) {
                Ok(Some(u)) => u.name,
                _ => owner.to_string(),
            },
        });
    }
    if owner != 0 && owner != euid {
        return Err(ConfigError::Owner {
            path: path.to_path_buf(),
            owner,
            euid,
        });
    }
    Ok(())
}

/// A config file's text, read only after its mode was checked on the open descriptor.
pub struct PrivateText {
    /// The file's contents (zeroed when dropped: it holds the skey).
    pub text: Zeroizing<String>,
    /// The file's owner, for the owner rule (applied once the `[authd] user` is known).
    pub owner: u32,
}

/// Open the config, refuse it if group or others may read or write it (checked with fstat on the
/// descriptor read from, so the file checked is the file read), and read it (at most 1 MiB).
pub fn read_private(path: &Path) -> Result<PrivateText, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    // The owner is decided later, with the parsed [authd] user; the mode now.
    check_access(path, meta.mode(), 0, 0)?;
    let mut text = Zeroizing::new(String::with_capacity(
        meta.len().min(MAX_CONFIG_BYTES) as usize + 1,
    ));
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(io(std::io::Error::other("file is larger than 1 MiB")));
    }
    Ok(PrivateText {
        text,
        owner: meta.uid(),
    })
}

/// Read a duo_unix INI file and render it as TOML (`duo-authd import-conf`), validating it on the way.
pub fn import_conf(path: &Path) -> Result<String, ConfigError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?,
    );
    let converted = crate::ini::convert(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // Validate the result so a conversion never prints a config the daemon would refuse.
    Config::from_table(converted.table.clone(), path)?;
    Ok(crate::ini::to_toml_text(
        &path.display().to_string(),
        &converted,
    ))
}

impl Config {
    /// Load the daemon's config: refuse a file others could read or change, then parse and validate it.
    ///
    /// A name ending in `.conf` is read as duo_unix's INI (`login_duo.conf`, `pam_duo.conf`).
    /// The file may be owned by root, by the user the daemon runs as, or by its `[authd] user`
    /// (the daemon starts as root under SMF and reads the config its user will re-read on SIGHUP).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let private = read_private(path)?;
        Self::from_private(&private, path)
    }

    /// Parse and validate what [`read_private`] read (here or in the config reader), then apply
    /// the owner rule: root, the user the daemon runs as, or its `[authd] user`.
    pub fn from_private(private: &PrivateText, path: &Path) -> Result<Config, ConfigError> {
        let cfg = Self::from_text(&private.text, path)?;
        let euid = nix::unistd::geteuid().as_raw();
        if private.owner != 0 && private.owner != euid {
            // A file owned by the configured daemon user is fine too.
            let owner_is_daemon_user = cfg
                .authd
                .user
                .as_deref()
                .and_then(|u| crate::users::uid_gid_by_name(u).ok().flatten())
                .is_some_and(|(uid, _)| uid == private.owner);
            if !owner_is_daemon_user {
                return Err(ConfigError::Owner {
                    path: path.to_path_buf(),
                    owner: private.owner,
                    euid,
                });
            }
        }
        Ok(cfg)
    }

    /// Parse and validate config text: duo_unix INI when the name ends in `.conf`, else TOML.
    pub fn from_text(text: &str, path: &Path) -> Result<Config, ConfigError> {
        if path.extension().is_some_and(|e| e == "conf") {
            let converted = crate::ini::convert(text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            for w in &converted.warnings {
                tracing::warn!("{}: {w}", path.display());
            }
            Self::from_table(converted.table, path)
        } else {
            Self::from_toml_text(text, path)
        }
    }

    /// Validate an already-parsed table (the INI reader produces one).
    pub fn from_table(table: toml::Table, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = table.try_into().map_err(|e: toml::de::Error| {
            let message = e.message().trim_end();
            match missing_key(message) {
                Some(key) => ConfigError::Missing {
                    path: path.to_path_buf(),
                    key,
                },
                None => ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: message.to_string(),
                },
            }
        })?;
        Self::validate(raw, &Check(path))
    }

    /// Parse and validate TOML text; the file's owner and mode are not checked (`path` only names it in messages).
    pub fn from_toml_text(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            if let Some(key) = missing_key(e.message().trim_end()) {
                return ConfigError::Missing {
                    path: path.to_path_buf(),
                    key,
                };
            }
            // Only the message and position: the parser's snippet of the line could show the skey.
            let (at, line_text) = e
                .span()
                .map(|s| {
                    let before = text_before(text, s.start);
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    let line_text = text.lines().nth(line - 1).unwrap_or("");
                    (format!("line {line}, column {column}: "), line_text)
                })
                .unwrap_or_default();
            let message = match secret_key_of(line_text) {
                // The parser's words may quote the value (`invalid type: integer `1234``).
                Some(key) => {
                    format!("the value of {key} is not a valid TOML string (it is not shown here)")
                }
                None => redact_secrets(text, e.message().trim_end()),
            };
            ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("{at}{message}"),
            }
        })?;
        Self::validate(raw, &Check(path))
    }

    /// Turn the raw file into the typed config, or name the first bad key.
    fn validate(raw: RawConfig, c: &Check<'_>) -> Result<Config, ConfigError> {
        if raw.host.is_empty() {
            return Err(c.missing("host"));
        }
        if raw.ikey.is_empty() {
            return Err(c.missing("ikey"));
        }
        if !raw
            .ikey
            .chars()
            .all(|ch| ch.is_ascii_graphic() && ch != ':')
        {
            return Err(c.invalid(
                "ikey",
                "must be the integration key (letters and digits) from the Duo Admin Panel",
            ));
        }
        if raw.skey.is_empty() {
            return Err(c.missing("skey"));
        }
        // A mistyped line (`skey: = KEY`, a stray quote) must stop the daemon rather than run it
        // with a key Duo refuses: a 401 at every preauth is failmode, and `safe` lets everyone in.
        if !raw
            .skey
            .expose()
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric())
        {
            return Err(c.invalid(
                "skey",
                "must be the secret key (letters and digits) from the Duo Admin Panel; the value is not shown",
            ));
        }
        let host = ApiHost::parse(&raw.host).map_err(|r| c.invalid("host", r))?;
        if raw.verified_push && raw.autopush {
            return Err(ConfigError::Conflict {
                path: c.0.to_path_buf(),
                what: "autopush and verified_push cannot both be enabled",
            });
        }
        let gecos_delim = match raw.gecos_delim.as_deref() {
            None => ',',
            Some(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(ch), None) if ch.is_ascii_punctuation() && ch != ':' => ch,
                    _ => {
                        return Err(c.invalid(
                            "gecos_delim",
                            format!("must be one punctuation character other than ':' (got {s:?})"),
                        ))
                    }
                }
            }
        };
        let gecos_username_pos = match raw.gecos_username_pos {
            None => None,
            Some(v) => Some(c.range("gecos_username_pos", v, 1, 1024)? as u32),
        };
        let https_timeout =
            Some(c.secs("https_timeout", raw.https_timeout, 0, 3600)?).filter(|d| !d.is_zero());
        if raw
            .cafile
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(c.invalid("cafile", "must be a path to a PEM file"));
        }
        let http_proxy = match &raw.http_proxy {
            // The reason never repeats the URL: it may carry the proxy password.
            Some(proxy) => {
                Some(ProxyUrl::parse(proxy.expose()).map_err(|r| c.invalid("http_proxy", r))?)
            }
            None => None,
        };
        let a = raw.authd;
        if !a.socket.is_absolute() {
            return Err(c.invalid("authd.socket", "must be an absolute path"));
        }
        if a.user
            .as_deref()
            .is_some_and(|u| u.is_empty() || u.contains(char::is_whitespace))
        {
            return Err(c.invalid("authd.user", "must be a user name"));
        }
        let authd = AuthdConfig {
            login_timeout: c.secs("authd.login_timeout", a.login_timeout, 5, 110)?,
            max_connections: c.count("authd.max_connections", a.max_connections, 1_000_000)?,
            max_connections_per_uid: c.count(
                "authd.max_connections_per_uid",
                a.max_connections_per_uid,
                1_000_000,
            )?,
            max_concurrent_requests: c.count(
                "authd.max_concurrent_requests",
                a.max_concurrent_requests,
                65_536,
            )?,
            pool_idle_timeout: c.secs("authd.pool_idle_timeout", a.pool_idle_timeout, 1, 3600)?,
            connect_rate: c.range("authd.connect_rate", a.connect_rate, 1, 10_000)? as u32,
            first_frame_timeout: c.secs(
                "authd.first_frame_timeout",
                a.first_frame_timeout,
                1,
                600,
            )?,
            idle_timeout: c.secs("authd.idle_timeout", a.idle_timeout, 1, 3600)?,
            health_interval: c.secs("authd.health_interval", a.health_interval, 0, 86_400)?,
            unreachable_threshold: c.secs(
                "authd.unreachable_threshold",
                a.unreachable_threshold,
                0,
                86_400,
            )?,
            push_limit: c.range("authd.push_limit", a.push_limit, 1, 1000)? as u32,
            push_window: c.secs("authd.push_window", a.push_window, 1, 86_400)?,
            drain_timeout: c.secs("authd.drain_timeout", a.drain_timeout, 0, 3600)?,
            syslog_facility: a.syslog_facility.parse().map_err(
                |e: duo_authd_syslog::UnknownFacility| {
                    c.invalid("authd.syslog_facility", e.to_string())
                },
            )?,
            preauth_rate: c.range("authd.preauth_rate", a.preauth_rate, 0, 100_000)? as u32,
            socket: a.socket,
            user: a.user,
            signature: a.signature,
            allow_root: a.allow_root,
            syslog: a.syslog,
        };
        Ok(Config {
            ikey: raw.ikey,
            skey: raw.skey,
            host,
            failmode: raw.failmode,
            groups: raw.groups.0,
            prompts: c.range("prompts", raw.prompts, 1, 3)? as u32,
            autopush: raw.autopush,
            pushinfo: raw.pushinfo,
            accept_env_factor: raw.accept_env_factor,
            fallback_local_ip: raw.fallback_local_ip,
            https_timeout,
            cafile: raw.cafile,
            http_proxy,
            noverify: raw.noverify,
            send_gecos: raw.send_gecos,
            gecos_username_pos,
            gecos_delim,
            motd: raw.motd,
            verified_push: raw.verified_push,
            authd,
        })
    }

    /// Settings that are valid but deserve a line in the log.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.noverify {
            w.push("noverify = true: the Duo API's TLS certificate is NOT verified; anyone on the network path can impersonate Duo".into());
        }
        if self.authd.allow_root {
            w.push("[authd] allow_root = true: the daemon may keep running as root".into());
        }
        if crate::groups::all_negated(&self.groups) {
            w.push("All configured groups are negated; no user can match, so Duo 2FA is disabled for every user (use \"*,!group\" to require 2FA for everyone except a group)".into());
        }
        w
    }
}

/// Keys whose values must never appear in a message: the skey, and a proxy URL that may hold a password.
const SECRET_KEYS: [&str; 2] = ["skey", "http_proxy"];

/// The secret key a config line sets, if it sets one (`skey = ...`, `  http_proxy=...`).
fn secret_key_of(line: &str) -> Option<&'static str> {
    let t = line.trim_start().trim_start_matches(['"', '\'']);
    SECRET_KEYS.into_iter().find(|k| {
        t.strip_prefix(k).is_some_and(|rest| {
            rest.trim_start().starts_with(['=', '"', '\'']) || rest.trim().is_empty()
        })
    })
}

/// `message` with anything that looks like a secret value of `text` cut out: a parser message
/// about another line can still quote a value it took for part of its own.
fn redact_secrets(text: &str, message: &str) -> String {
    let mut out = message.to_string();
    for line in text.lines().filter(|l| secret_key_of(l).is_some()) {
        let value = line.split_once('=').map_or(line, |(_, v)| v);
        let value = value.trim().trim_matches(['"', '\'']);
        let chars: Vec<char> = value.chars().collect();
        if chars.len() < 8 {
            continue;
        }
        for w in chars.windows(8) {
            let piece: String = w.iter().collect();
            if out.contains(&piece) {
                out = "the file is not valid TOML near a secret value (not shown here)".into();
                return out;
            }
        }
    }
    out
}

/// The text before byte `offset` (clamped, and moved back to a character boundary), for
/// turning a parser's byte span into a line and column without ever slicing mid-character.
fn text_before(text: &str, offset: usize) -> &str {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    const BASE: &str = "ikey = \"DIXYZV6YM8IFYVWBINCA\"\nskey = \"yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\"\nhost = \"API-abcd1234.duosecurity.com\"\n";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::from_toml_text(&format!("{BASE}{extra}"), Path::new("/etc/duo/authd.toml"))
    }

    fn invalid_key(extra: &str) -> String {
        match parse(extra) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected Invalid for {extra:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.host.host, "api-abcd1234.duosecurity.com");
        assert_eq!(c.host.port, 443);
        assert_eq!(c.host.authority(), "api-abcd1234.duosecurity.com");
        assert_eq!(c.failmode, Failmode::Safe);
        assert!(c.groups.is_empty());
        assert_eq!(c.prompts, 3);
        assert!(!c.autopush && !c.pushinfo && !c.accept_env_factor && !c.fallback_local_ip);
        assert!(!c.noverify && !c.send_gecos && !c.motd && !c.verified_push);
        assert_eq!(c.https_timeout, None);
        assert_eq!(c.gecos_delim, ',');
        assert_eq!(c.gecos_username_pos, None);
        let a = &c.authd;
        assert_eq!(a.socket, Path::new("/var/run/duo-authd/authd.sock"));
        assert_eq!(a.signature, SignatureAlg::Sha512);
        assert_eq!(a.login_timeout, Duration::from_secs(90));
        assert_eq!(
            (
                a.max_connections,
                a.max_connections_per_uid,
                a.max_concurrent_requests
            ),
            (4096, 64, 256)
        );
        assert_eq!(a.pool_idle_timeout, Duration::from_secs(50));
        assert_eq!(a.connect_rate, 32);
        assert_eq!(a.first_frame_timeout, Duration::from_secs(5));
        assert_eq!(a.idle_timeout, Duration::from_secs(60));
        assert_eq!(a.health_interval, Duration::from_secs(60));
        assert_eq!(a.unreachable_threshold, Duration::from_secs(120));
        assert_eq!((a.push_limit, a.push_window), (5, Duration::from_secs(600)));
        assert_eq!(a.drain_timeout, Duration::from_secs(60));
        assert!(!a.allow_root && a.syslog && a.user.is_none());
        assert_eq!(a.syslog_facility, Facility::AuthPriv);
        assert_eq!(a.preauth_rate, 60);
        assert!(c.warnings().is_empty());
        assert!(
            !format!("{c:?}").contains("yWHSM"),
            "skey leaked into Debug"
        );
    }

    #[test]
    fn full_file() {
        let c = parse(
            "failmode = \"secure\"\ngroups = [\"admins\", \"!guests\"]\nprompts = 1\nhttps_timeout = 15\n\
             gecos_delim = \"/\"\ngecos_username_pos = 2\nnoverify = true\n\
             [authd]\nsignature = \"sha1\"\nuser = \"_duoauthd\"\nlogin_timeout = 110\nhealth_interval = 0\n",
        )
        .unwrap();
        assert_eq!(c.failmode, Failmode::Secure);
        assert_eq!(c.groups, vec!["admins", "!guests"]);
        assert_eq!(c.https_timeout, Some(Duration::from_secs(15)));
        assert_eq!((c.gecos_delim, c.gecos_username_pos), ('/', Some(2)));
        assert_eq!(c.authd.signature, SignatureAlg::Sha1);
        assert_eq!(c.authd.user.as_deref(), Some("_duoauthd"));
        assert!(c.authd.health_interval.is_zero());
        assert_eq!(c.warnings().len(), 1);
    }

    #[test]
    fn groups_as_string() {
        assert_eq!(
            parse("groups = \"users  !wheel,!*admin dev*\"")
                .unwrap()
                .groups,
            vec!["users", "!wheel,!*admin", "dev*"]
        );
        assert!(matches!(
            parse("groups = 3"),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn host_forms() {
        let h = ApiHost::parse("LocalHost:4443").unwrap();
        assert_eq!(
            (h.host.as_str(), h.port, h.authority()),
            ("localhost", 4443, "localhost:4443".into())
        );
        assert_eq!(h.canonical_host(), "localhost");
        let h = ApiHost::parse("[::1]:8443").unwrap();
        assert_eq!(
            (h.host.as_str(), h.authority()),
            ("::1", "[::1]:8443".into())
        );
        for bad in [
            "",
            "https://api-x.duosecurity.com",
            "api-x.duosecurity.com/auth",
            "api x.com",
            "h:0",
            "h:99999",
            "h:",
            "::1",
            "a@b",
        ] {
            assert!(ApiHost::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn validation_errors() {
        let cases = [
            ("prompts = 0", "prompts"),
            ("prompts = 4", "prompts"),
            ("https_timeout = -1", "https_timeout"),
            ("gecos_delim = \":\"", "gecos_delim"),
            ("gecos_delim = \",,\"", "gecos_delim"),
            ("gecos_delim = \"a\"", "gecos_delim"),
            ("gecos_username_pos = 0", "gecos_username_pos"),
            ("cafile = \"\"", "cafile"),
            ("http_proxy = \"\"", "http_proxy"),
            ("http_proxy = \"https://proxy:3128\"", "http_proxy"),
            ("http_proxy = \"http://duo:pw@proxy:port\"", "http_proxy"),
            ("[authd]\nlogin_timeout = 4", "authd.login_timeout"),
            ("[authd]\nlogin_timeout = 120", "authd.login_timeout"),
            ("[authd]\nsocket = \"relative.sock\"", "authd.socket"),
            ("[authd]\nuser = \"\"", "authd.user"),
            ("[authd]\nmax_connections = 0", "authd.max_connections"),
            (
                "[authd]\nmax_connections_per_uid = 0",
                "authd.max_connections_per_uid",
            ),
            (
                "[authd]\nmax_concurrent_requests = 0",
                "authd.max_concurrent_requests",
            ),
            ("[authd]\npool_idle_timeout = 0", "authd.pool_idle_timeout"),
            ("[authd]\nconnect_rate = 0", "authd.connect_rate"),
            (
                "[authd]\nfirst_frame_timeout = 0",
                "authd.first_frame_timeout",
            ),
            ("[authd]\nidle_timeout = 0", "authd.idle_timeout"),
            ("[authd]\nhealth_interval = -5", "authd.health_interval"),
            (
                "[authd]\nunreachable_threshold = -1",
                "authd.unreachable_threshold",
            ),
            ("[authd]\npush_limit = 0", "authd.push_limit"),
            ("[authd]\npush_window = 0", "authd.push_window"),
            ("[authd]\ndrain_timeout = -1", "authd.drain_timeout"),
            (
                "[authd]\nsyslog_facility = \"kern\"",
                "authd.syslog_facility",
            ),
            ("[authd]\npreauth_rate = -1", "authd.preauth_rate"),
        ];
        for (extra, key) in cases {
            assert_eq!(invalid_key(extra), key, "for {extra:?}");
        }
        let e = parse("autopush = true\nverified_push = true")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "autopush and verified_push cannot both be enabled in /etc/duo/authd.toml"
        );
        let p = Path::new("/x.toml");
        let bad_host =
            Config::from_toml_text("ikey = \"I\"\nskey = \"S\"\nhost = \"https://x\"", p);
        assert!(matches!(bad_host, Err(ConfigError::Invalid { ref key, .. }) if key == "host"));
        let empty_skey = Config::from_toml_text("ikey = \"I\"\nskey = \"\"\nhost = \"x\"", p);
        assert!(matches!(
            empty_skey,
            Err(ConfigError::Missing { key: "skey", .. })
        ));
        // Attacker-relevant: a mistyped skey line that still parses must not start a daemon whose
        // every preauth gets a 401 (failmode), and the refusal never shows the value.
        for bad in [
            "= yWHSMhWucAcp7",
            "\\\"yWHSMhWucAcp7\\\"x",
            "yWHSMhWu cAcp7",
        ] {
            let e =
                Config::from_toml_text(&format!("ikey = \"I\"\nskey = \"{bad}\"\nhost = \"x\""), p);
            assert!(
                matches!(e, Err(ConfigError::Invalid { ref key, .. }) if key == "skey"),
                "{bad}: {e:?}"
            );
            assert!(!format!("{e:?}").contains("yWHSMhWu"), "{e:?}");
        }
        let empty_ikey = Config::from_toml_text("ikey = \"\"\nskey = \"S\"\nhost = \"x\"", p);
        assert!(matches!(
            empty_ikey,
            Err(ConfigError::Missing { key: "ikey", .. })
        ));
        // login_duo's words lead, so its log searches keep matching.
        let no_skey = Config::from_toml_text("ikey = \"I\"\nhost = \"x\"", p)
            .unwrap_err()
            .to_string();
        assert_eq!(
            no_skey,
            "Missing host, ikey, or skey in /x.toml: skey is not set"
        );
        let no_host = Config::from_text("[duo]\nikey = I\nskey = S\n", Path::new("/l.conf"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            no_host,
            "Missing host, ikey, or skey in /l.conf: host is not set"
        );
        let bad_line = Config::from_text("[duo]\nikey = I\nskey S\n", Path::new("/l.conf"))
            .unwrap_err()
            .to_string();
        assert!(
            bad_line.starts_with("Parse error in /l.conf, line 3: "),
            "{bad_line}"
        );
    }

    #[test]
    fn parse_errors_name_key_and_position() {
        let e = parse("colour = \"blue\"").unwrap_err().to_string();
        assert!(e.contains("colour") && e.contains("line 4"), "{e}");
        let e = parse("[authd]\nsokcet = \"/x\"").unwrap_err().to_string();
        assert!(e.contains("sokcet") && e.contains("line 5"), "{e}");
        let e = parse("failmode = \"open\"").unwrap_err().to_string();
        assert!(e.contains("open") && e.contains("line 4, column"), "{e}");
        let e = Config::from_toml_text("ikey = \"I\"\nhost = \"x\"", Path::new("/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Missing host, ikey, or skey in /x.toml: ") && e.contains("skey"),
            "{e}"
        );
        let e = Config::from_toml_text("skey = \"sekrit\" x", Path::new("/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("sekrit"),
            "parse error shows the skey line: {e}"
        );
    }

    fn write_config(mode: u32, name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let mut f = File::create(&path).unwrap();
        f.write_all(BASE.as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn file_permissions() {
        let (_d, path) = write_config(0o600, "authd.toml");
        assert!(Config::from_file(&path).is_ok());
        let (_d, path) = write_config(0o644, "authd.toml");
        let e = Config::from_file(&path).unwrap_err();
        assert!(matches!(e, ConfigError::Permissions { mode: 0o644, .. }));
        let msg = e.to_string();
        let p = path.display();
        let owner = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .map_or_else(|| nix::unistd::geteuid().to_string(), |u| u.name);
        assert_eq!(msg, format!("{p} must be readable only by user '{owner}': group or others may read or write it (mode 0644); run: chmod 600 {p}"));
        let (_d, path) = write_config(0o620, "authd.toml");
        assert!(matches!(
            Config::from_file(&path),
            Err(ConfigError::Permissions { .. })
        ));
        let missing = Config::from_file(Path::new("/nonexistent/authd.toml"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("/nonexistent/authd.toml"), "{missing}");
        // TOML text in a .conf file is read as INI, and its [authd] keys are unknown there.
        let (_d, path) = write_config(0o600, "login_duo.conf");
        let e = Config::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("login_duo.conf"), "{e}");
    }

    #[test]
    fn reads_duo_unix_ini_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("login_duo.conf");
        let ini = "[duo]\n; keys\nikey = DIXYZV6YM8IFYVWBINCA\nskey = yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo\nhost = api-abcd1234.duosecurity.com\nfailmode = secure\ngroups = users !wheel\nautopush = yes\nprompts = 1\n";
        std::fs::write(&path, ini).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c.failmode, Failmode::Secure);
        assert_eq!(c.groups, vec!["users".to_string(), "!wheel".to_string()]);
        assert!(c.autopush);
        assert_eq!(c.prompts, 1);
        let toml = import_conf(&path).unwrap();
        let back = Config::from_toml_text(&toml, Path::new("converted.toml")).unwrap();
        assert_eq!(back.failmode, Failmode::Secure);
        assert_eq!(back.skey.expose(), c.skey.expose());
        std::fs::write(&path, ini.replace("prompts = 1", "prompts = 9")).unwrap();
        let e = Config::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("prompts"), "{e}");
    }

    #[test]
    fn owner_rule() {
        let p = Path::new("/etc/duo/authd.toml");
        assert!(check_access(p, 0o100600, 0, 1000).is_ok());
        assert!(check_access(p, 0o100400, 1000, 1000).is_ok());
        let e = check_access(p, 0o100600, 1001, 1000)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "/etc/duo/authd.toml is owned by uid 1001; it must be owned by root or by the daemon's user (uid 1000)");
    }

    #[test]
    fn no_error_ever_shows_the_skey_or_a_proxy_password() {
        let skey = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";
        let good = format!("ikey = \"DIXYZV6YM8IFYVWBINCA\"\nskey = \"{skey}\"\nhost = \"api-x.duosecurity.com\"\nhttp_proxy = \"http://duo:Sup3rSecretPw@proxy:3128\"\n");
        let mut variants = vec![
            good.replace("skey = \"", "skey = "),
            good.replace("skey = \"", "skey "),
            good.replace("skey = \"", "skey = '"),
            good.replace("skey = \"", "skey = \"\"\""),
            good.replace(&format!("\"{skey}\""), skey),
            good.replace(&format!("\"{skey}\""), "1234567890123456789"),
            good.replace(&format!("\"{skey}\""), &format!("[\"{skey}\"]")),
            good.replace(&format!("\"{skey}\""), &format!("{{ k = \"{skey}\" }}")),
            good.replace("skey = ", "skey == "),
            good.replace("skey = ", "skey.x = "),
            good.replace("skey = ", "\"skey\" = ") + "skey = \"again\"\n",
            good.replace("skey", "sky"),
            good.replace("http_proxy = \"", "http_proxy = "),
            good.replace(
                "http_proxy = \"http://duo:Sup3rSecretPw@proxy:3128\"",
                "http_proxy = 42",
            ),
            good.replace("ikey = \"DIXYZV6YM8IFYVWBINCA\"\n", "") + &format!("x = {skey}\n"),
        ];
        for cut in 1..good.len() {
            if good.is_char_boundary(cut) {
                variants.push(good[..cut].to_string());
            }
        }
        // A numeric skey is quoted back by the parser ("invalid type: integer `...`") unless hidden.
        let e = Config::from_toml_text(
            &good.replace(&format!("\"{skey}\""), "98765432109876"),
            Path::new("/x.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("98765432"), "{e}");
        assert!(e.contains("line 2") && e.contains("skey"), "{e}");
        for text in &variants {
            let Err(e) = Config::from_toml_text(text, Path::new("/etc/duo/authd.toml")) else {
                continue;
            };
            let msg = e.to_string();
            for secret in [skey, "Sup3rSecretPw"] {
                let chars: Vec<char> = secret.chars().collect();
                for w in chars.windows(8) {
                    let piece: String = w.iter().collect();
                    assert!(!msg.contains(&piece), "{msg}\nfrom:\n{text}");
                }
            }
        }
    }

    #[test]
    fn connection_caps_fit_the_open_file_limit() {
        let mut a = parse("").unwrap().authd;
        assert_eq!(a.fds_needed(), FD_RESERVE + 256 + 4096);
        assert_eq!(a.fit_fd_limit(1 << 20), None);
        let warning = a.fit_fd_limit(256).unwrap();
        assert!(warning.contains("open-file limit is 256"), "{warning}");
        assert!(a.fds_needed() <= 256, "{}", a.fds_needed());
        assert_eq!((a.max_connections, a.max_concurrent_requests), (144, 48));
        assert_eq!(a.max_connections_per_uid, 64);
        let mut a = parse("").unwrap().authd;
        a.fit_fd_limit(100);
        assert!(a.max_connections_per_uid <= a.max_connections);
        assert!(a.max_concurrent_requests >= 1 && a.max_connections >= 1);
    }

    #[test]
    fn a_span_inside_a_character_never_panics() {
        let text = "a = \"é\"\nb";
        // Byte 6 is inside the two-byte é.
        assert_eq!(text_before(text, 6), "a = \"");
        assert_eq!(text_before(text, 1000), text);
        assert_eq!(text_before(text, 0), "");
    }
}
