//! Push-fatigue guard: at most one push or call in flight per Duo user, and a cap per sliding window.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Passcode attempts allowed per window, as a multiple of the push limit (typing is cheap, guessing must not be).
const PASSCODE_FACTOR: usize = 2;

/// Shared across all logins; cheap to clone.
#[derive(Clone, Debug)]
pub struct FatigueGuard {
    /// Per-user history.
    inner: Arc<Mutex<HashMap<String, UserState>>>,
    /// Pushes/calls allowed per window.
    limit: usize,
    /// Length of the sliding window.
    window: Duration,
}

/// What we remember about one Duo user.
#[derive(Debug, Default)]
struct UserState {
    /// A push or call is waiting on the user's device.
    in_flight: bool,
    /// When recent pushes/calls were sent.
    pushes: VecDeque<Instant>,
    /// When recent passcodes were tried.
    passcodes: VecDeque<Instant>,
}

/// Why an attempt was refused, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Another login for this user is already waiting on a push.
    #[error("A login request for this account is already waiting for approval; answer it or wait for it to expire.")]
    InFlight,
    /// Too many pushes/calls or passcodes recently.
    #[error("Too many login attempts for this account recently; try again in {0} seconds.")]
    TooMany(u64),
}

/// Held while a push is outstanding; dropping it (even when the client disconnects) frees the slot.
#[derive(Debug)]
pub struct PushTicket {
    /// The guard to release into.
    guard: FatigueGuard,
    /// Whose push.
    user: String,
}

impl Drop for PushTicket {
    fn drop(&mut self) {
        if let Ok(mut map) = self.guard.inner.lock() {
            if let Some(st) = map.get_mut(&self.user) {
                st.in_flight = false;
            }
        }
    }
}

impl FatigueGuard {
    /// A guard allowing `limit` pushes per `window` for each user.
    pub fn new(limit: usize, window: Duration) -> Self {
        FatigueGuard {
            inner: Arc::new(Mutex::new(HashMap::new())),
            limit: limit.max(1),
            window,
        }
    }

    /// Reserve the right to send one push or call to `user`.
    pub fn begin_push(&self, user: &str) -> Result<PushTicket, Refusal> {
        let mut map = self.inner.lock().map_err(|_| Refusal::InFlight)?;
        let now = Instant::now();
        let st = map.entry(user.to_string()).or_default();
        prune(&mut st.pushes, now, self.window);
        if st.in_flight {
            return Err(Refusal::InFlight);
        }
        if st.pushes.len() >= self.limit {
            return Err(Refusal::TooMany(retry_in(&st.pushes, now, self.window)));
        }
        st.pushes.push_back(now);
        st.in_flight = true;
        Ok(PushTicket {
            guard: self.clone(),
            user: user.to_string(),
        })
    }

    /// Count one passcode attempt for `user`, refusing past the limit.
    pub fn passcode(&self, user: &str) -> Result<(), Refusal> {
        let mut map = self.inner.lock().map_err(|_| Refusal::InFlight)?;
        let now = Instant::now();
        let st = map.entry(user.to_string()).or_default();
        prune(&mut st.passcodes, now, self.window);
        if st.passcodes.len() >= self.limit * PASSCODE_FACTOR {
            return Err(Refusal::TooMany(retry_in(&st.passcodes, now, self.window)));
        }
        st.passcodes.push_back(now);
        Ok(())
    }

    /// Forget users with no recent activity, so the map cannot grow without bound.
    pub fn sweep(&self) {
        if let Ok(mut map) = self.inner.lock() {
            let now = Instant::now();
            map.retain(|_, st| {
                prune(&mut st.pushes, now, self.window);
                prune(&mut st.passcodes, now, self.window);
                st.in_flight || !st.pushes.is_empty() || !st.passcodes.is_empty()
            });
        }
    }
}

/// Drop entries older than the window.
fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

/// Seconds until the oldest entry leaves the window.
fn retry_in(q: &VecDeque<Instant>, now: Instant, window: Duration) -> u64 {
    q.front()
        .map(|t| {
            window
                .saturating_sub(now.duration_since(*t))
                .as_secs()
                .max(1)
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_in_flight_and_a_window_cap() {
        let g = FatigueGuard::new(2, Duration::from_secs(60));
        let t = g.begin_push("alice").unwrap();
        assert_eq!(g.begin_push("alice").unwrap_err(), Refusal::InFlight);
        assert!(g.begin_push("bob").is_ok());
        drop(t);
        let t2 = g.begin_push("alice").unwrap();
        drop(t2);
        assert!(matches!(g.begin_push("alice"), Err(Refusal::TooMany(_))));
    }

    #[test]
    fn passcodes_are_capped_too() {
        let g = FatigueGuard::new(1, Duration::from_secs(60));
        assert!(g.passcode("a").is_ok());
        assert!(g.passcode("a").is_ok());
        assert!(g.passcode("a").is_err());
    }

    #[test]
    fn window_expires() {
        let g = FatigueGuard::new(1, Duration::from_millis(20));
        drop(g.begin_push("a").unwrap());
        std::thread::sleep(Duration::from_millis(30));
        assert!(g.begin_push("a").is_ok());
        g.sweep();
    }
}
