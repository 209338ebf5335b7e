//! Per-uid limits: how often one local account may make the daemon ask Duo, and how many log
//! lines about its connections it can cause.
//!
//! Both are keyed by the peer uid the kernel reported, so one user hammering the socket can
//! neither hammer Duo through us (Duo would rate-limit the whole integration, everyone's logins)
//! nor drown the audit lines in noise (journald and syslog drop lines under a flood).
//! uid 0 is never limited: sshd's `command="duo-login -f alice"` logins in root's
//! `authorized_keys` all arrive as root, and root can read the secret key anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sync::lock;
use std::time::{Duration, Instant};

/// A token bucket per uid for logins that reach Duo.
#[derive(Debug)]
pub struct UidRate {
    /// Tokens per uid.
    buckets: Mutex<HashMap<u32, Bucket>>,
    /// Logins per minute (0: no limit), changed on reload.
    per_minute: Mutex<u32>,
}

/// One uid's tokens.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens left (a login costs one).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

/// The burst a rate allows: a sixth of a minute's worth, at least one (60/min: 10 at once).
fn burst(per_minute: u32) -> f64 {
    f64::from((per_minute / 6).max(1))
}

impl UidRate {
    /// `per_minute` logins per uid (0: unlimited).
    pub fn new(per_minute: u32) -> UidRate {
        UidRate {
            buckets: Mutex::new(HashMap::new()),
            per_minute: Mutex::new(per_minute),
        }
    }

    /// Apply a new rate (SIGHUP); buckets keep what they hold.
    pub fn set_rate(&self, per_minute: u32) {
        *lock(&self.per_minute) = per_minute;
    }

    /// Take one login for `uid`, or say in how many seconds one will be available.
    pub fn take(&self, uid: u32) -> Result<(), u64> {
        let per_minute = *lock(&self.per_minute);
        if uid == 0 || per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(per_minute) / 60.0;
        let cap = burst(per_minute);
        let now = Instant::now();
        let mut map = lock(&self.buckets);
        let b = map.entry(uid).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    /// Forget full buckets, so the map holds only uids that were busy recently.
    pub fn sweep(&self) {
        let per_minute = *lock(&self.per_minute);
        let cap = burst(per_minute);
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let now = Instant::now();
        lock(&self.buckets)
            .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < cap);
    }
}

/// Per-uid budget of connection-level log lines, with a count of what was held back.
#[derive(Debug)]
pub struct LogThrottle {
    /// Lines allowed per uid per window.
    per_window: u32,
    /// Length of a window.
    window: Duration,
    /// Current window per uid.
    windows: Mutex<HashMap<u32, LogWindow>>,
}

/// One uid's current window.
#[derive(Debug, Clone, Copy)]
struct LogWindow {
    /// When it started.
    start: Instant,
    /// Lines logged in it.
    logged: u32,
    /// Lines held back in it.
    suppressed: u64,
}

impl LogThrottle {
    /// Allow `per_window` lines per uid per `window`.
    pub fn new(per_window: u32, window: Duration) -> LogThrottle {
        LogThrottle {
            per_window,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a line caused by `uid` may be logged now (root's lines always may).
    pub fn allow(&self, uid: u32) -> bool {
        if uid == 0 {
            return true;
        }
        let now = Instant::now();
        let mut map = lock(&self.windows);
        let w = map.entry(uid).or_insert(LogWindow {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        if now.duration_since(w.start) >= self.window {
            if w.suppressed > 0 {
                // The summary of the window that ended is owed; `flush` reports this line in it.
                w.suppressed += 1;
                return false;
            }
            *w = LogWindow {
                start: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged < self.per_window {
            w.logged += 1;
            true
        } else {
            w.suppressed += 1;
            false
        }
    }

    /// The uids whose window ended with lines held back, and how many; their windows restart.
    pub fn flush(&self) -> Vec<(u32, u64)> {
        let now = Instant::now();
        let mut out = Vec::new();
        lock(&self.windows).retain(|&uid, w| {
            if now.duration_since(w.start) < self.window {
                return true;
            }
            if w.suppressed > 0 {
                out.push((uid, w.suppressed));
            }
            false
        });
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let r = UidRate::new(60);
        for _ in 0..10 {
            assert!(r.take(1000).is_ok());
        }
        let wait = r.take(1000).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        // Other uids and root are unaffected.
        assert!(r.take(1001).is_ok());
        for _ in 0..100 {
            assert!(r.take(0).is_ok());
        }
        r.set_rate(0);
        assert!(r.take(1000).is_ok());
    }

    #[test]
    fn log_lines_are_budgeted_per_uid_and_summarised() {
        let t = LogThrottle::new(3, Duration::from_millis(50));
        let allowed = (0..100).filter(|_| t.allow(1000)).count();
        assert_eq!(allowed, 3);
        assert!(t.allow(0) && t.allow(1001));
        assert!(t.flush().is_empty(), "window not over yet");
        std::thread::sleep(Duration::from_millis(60));
        // The owed summary holds back new lines until it is flushed.
        assert!(!t.allow(1000));
        assert_eq!(t.flush(), vec![(1000, 98)]);
        assert!(t.allow(1000));
    }
}
