//! Push-fatigue guard: at most one push, call or SMS in flight per Duo user, and a cap per sliding
//! window on those that did not end in approval.
//!
//! What push bombing abuses is the user's phone ringing unasked, so every out-of-band factor counts
//! (push, phone call, SMS) and an approved one does not: a user who approves their own scp runs
//! is never locked out, while someone who keeps pushing to a victim who keeps refusing is. The
//! slot "one in flight" is held by a [`PushTicket`] until Duo has resolved the attempt (the login
//! keeps polling when its client leaves), so hanging up does not let the next push through.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Passcode attempts allowed per window, as a multiple of the push limit (typing is cheap, guessing must not be).
const PASSCODE_FACTOR: usize = 2;

/// Shared across all logins and reloads; cheap to clone.
#[derive(Clone, Debug)]
pub struct FatigueGuard {
    /// The limits and the per-user history.
    inner: Arc<Mutex<State>>,
}

/// The limits in force and what we remember per Duo user.
#[derive(Debug)]
struct State {
    /// Unapproved out-of-band attempts allowed per window.
    limit: usize,
    /// Length of the sliding window.
    window: Duration,
    /// Per-user history.
    users: HashMap<String, UserState>,
    /// Numbers attempts, so an approval removes exactly its own entry.
    next_id: u64,
}

/// What we remember about one Duo user.
#[derive(Debug, Default)]
struct UserState {
    /// A push, call or SMS is waiting on the user's device.
    in_flight: bool,
    /// Recent out-of-band attempts not (yet) approved: when, and which.
    attempts: VecDeque<(Instant, u64)>,
    /// When recent passcodes were tried.
    passcodes: VecDeque<Instant>,
}

/// Why an attempt was refused, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Another login for this user is already waiting on a push or call.
    #[error("A login request for this account is already waiting for approval; answer it or wait for it to expire.")]
    InFlight,
    /// Too many unapproved pushes/calls/SMS, or passcodes, recently.
    #[error("Too many login attempts for this account recently; try again in {0} seconds.")]
    TooMany(u64),
}

/// Held while a push, call or SMS is outstanding; dropping it frees the user's slot, and the
/// attempt keeps counting against the window unless [`PushTicket::approved`] was called.
#[derive(Debug)]
pub struct PushTicket {
    /// The guard to release into.
    guard: FatigueGuard,
    /// Whose attempt.
    user: String,
    /// Which attempt.
    id: u64,
}

impl PushTicket {
    /// The user approved it: it no longer counts against the window.
    pub fn approved(self) {
        let mut st = self.guard.lock();
        if let Some(u) = st.users.get_mut(&self.user) {
            u.attempts.retain(|&(_, id)| id != self.id);
        }
        // Drop releases the in-flight slot.
    }
}

impl Drop for PushTicket {
    fn drop(&mut self) {
        let mut st = self.guard.lock();
        if let Some(u) = st.users.get_mut(&self.user) {
            u.in_flight = false;
        }
    }
}

impl FatigueGuard {
    /// A guard allowing `limit` unapproved pushes per `window` for each user.
    pub fn new(limit: usize, window: Duration) -> Self {
        FatigueGuard {
            inner: Arc::new(Mutex::new(State {
                limit: limit.max(1),
                window,
                users: HashMap::new(),
                next_id: 0,
            })),
        }
    }

    /// Apply new limits (SIGHUP); the history is kept, so a reload cannot reset anyone's count.
    pub fn set_limits(&self, limit: usize, window: Duration) {
        let mut st = self.lock();
        st.limit = limit.max(1);
        st.window = window;
    }

    /// The state, even if a holder panicked: the counts stay meaningful ([`crate::sync`]'s rule).
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.inner)
    }

    /// Reserve the right to send one push, call or SMS to `user`.
    pub fn begin_push(&self, user: &str) -> Result<PushTicket, Refusal> {
        let mut st = self.lock();
        let now = Instant::now();
        let (limit, window) = (st.limit, st.window);
        st.next_id += 1;
        let id = st.next_id;
        let u = st.users.entry(user.to_string()).or_default();
        prune_pairs(&mut u.attempts, now, window);
        if u.in_flight {
            return Err(Refusal::InFlight);
        }
        if u.attempts.len() >= limit {
            let oldest = u.attempts.front().map(|&(t, _)| t);
            return Err(Refusal::TooMany(retry_in(oldest, now, window)));
        }
        u.attempts.push_back((now, id));
        u.in_flight = true;
        Ok(PushTicket {
            guard: self.clone(),
            user: user.to_string(),
            id,
        })
    }

    /// Count one passcode attempt for `user`, refusing past the limit.
    pub fn passcode(&self, user: &str) -> Result<(), Refusal> {
        let mut st = self.lock();
        let now = Instant::now();
        let (limit, window) = (st.limit, st.window);
        let u = st.users.entry(user.to_string()).or_default();
        prune(&mut u.passcodes, now, window);
        if u.passcodes.len() >= limit * PASSCODE_FACTOR {
            return Err(Refusal::TooMany(retry_in(
                u.passcodes.front().copied(),
                now,
                window,
            )));
        }
        u.passcodes.push_back(now);
        Ok(())
    }

    /// Forget users with no recent activity, so the map cannot grow without bound.
    pub fn sweep(&self) {
        let mut st = self.lock();
        let now = Instant::now();
        let window = st.window;
        st.users.retain(|_, u| {
            prune_pairs(&mut u.attempts, now, window);
            prune(&mut u.passcodes, now, window);
            u.in_flight || !u.attempts.is_empty() || !u.passcodes.is_empty()
        });
    }
}

/// Drop entries older than the window.
fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

/// Drop attempts older than the window.
fn prune_pairs(q: &mut VecDeque<(Instant, u64)>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|(t, _)| now.duration_since(*t) >= window)
    {
        q.pop_front();
    }
}

/// Seconds until the oldest entry leaves the window.
fn retry_in(oldest: Option<Instant>, now: Instant, window: Duration) -> u64 {
    oldest
        .map(|t| {
            window
                .saturating_sub(now.duration_since(t))
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
    fn approved_pushes_do_not_count() {
        // The 6th scp in ten minutes must not lock out a user who approves each one.
        let g = FatigueGuard::new(5, Duration::from_secs(600));
        for _ in 0..20 {
            g.begin_push("alice").unwrap().approved();
        }
        // Refused ones do, up to the limit.
        for _ in 0..5 {
            drop(g.begin_push("mallory-victim").unwrap());
        }
        assert!(matches!(
            g.begin_push("mallory-victim"),
            Err(Refusal::TooMany(_))
        ));
        // An approval in between frees exactly its own entry.
        let g = FatigueGuard::new(2, Duration::from_secs(600));
        drop(g.begin_push("a").unwrap());
        g.begin_push("a").unwrap().approved();
        drop(g.begin_push("a").unwrap());
        assert!(g.begin_push("a").is_err());
    }

    #[test]
    fn reload_applies_new_limits_and_keeps_history() {
        let g = FatigueGuard::new(5, Duration::from_secs(600));
        for _ in 0..3 {
            drop(g.begin_push("a").unwrap());
        }
        g.set_limits(3, Duration::from_secs(600));
        assert!(matches!(g.begin_push("a"), Err(Refusal::TooMany(_))));
        g.set_limits(4, Duration::from_secs(600));
        assert!(g.begin_push("a").is_ok());
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
