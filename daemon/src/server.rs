//! The accept loop and one task per client: handshake, then a login or a health query.
//!
//! Shape after mini-redis, with one change: the loop keeps accepting when every slot is taken and
//! answers the extra client `Busy` at once, rather than leaving it in the kernel's backlog where
//! its `connect` would hang. A client is counted against a global cap (sized from the open-file
//! limit, see [`crate::config::AuthdConfig::fit_fd_limit`]) and a per-uid cap (the uid comes from
//! the accepted socket). Every count is a guard released on drop, so a task that ends in any way,
//! a panic included, gives its slots back; a panic inside a login still ends in a deny to the
//! client. Shutdown stops accepting and waits for the tasks in flight, bounded by `drain_timeout`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duo_authd_proto::{
    ClientMsg, Decision, ErrorKind, Reason, ServerMsg, Verdict, PROTOCOL_VERSION,
};
use futures_util::FutureExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::sync::lock;
use tokio_util::task::TaskTracker;

use crate::audit::{AuditRecord, Headline};
use crate::conversation::{ConvError, Conversation};
use crate::duo::api::DuoApi;
use crate::login::{self, Peer};
use crate::state::Daemon;

/// Extra time past the login deadline before a login task is cut off as a last resort.
const HARD_STOP_SLACK: Duration = Duration::from_secs(5);
/// How often per-uid log summaries are written.
const LOG_FLUSH_INTERVAL: Duration = Duration::from_secs(10);

/// Connections per uid, so one local user cannot take every slot.
#[derive(Clone, Default)]
struct UidCounts(Arc<Mutex<HashMap<u32, usize>>>);

/// Releases a per-uid slot on drop.
struct UidSlot {
    /// The shared counts.
    counts: UidCounts,
    /// Whose slot.
    uid: u32,
}

impl UidCounts {
    /// Take a slot for `uid` unless it already holds `max`.
    fn acquire(&self, uid: u32, max: usize) -> Option<UidSlot> {
        let mut map = lock(&self.0);
        let n = map.entry(uid).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(UidSlot {
            counts: self.clone(),
            uid,
        })
    }
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.counts.0);
        if let Some(n) = map.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.uid);
            }
        }
    }
}

/// One unit of a gauge, given back on drop.
struct Held<'a>(&'a AtomicU64);

impl<'a> Held<'a> {
    /// Add one to `gauge` until the guard is dropped.
    fn new(gauge: &'a AtomicU64) -> Held<'a> {
        gauge.fetch_add(1, Ordering::Relaxed);
        Held(gauge)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The global slot of a client connection, given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// Take one of `max` slots, if one is free.
    fn acquire(open: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| Slot(open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serve until `shutdown` flips to true, then drain for up to the configured bound.
///
/// `stopped_accepting` runs as soon as the listener is closed, before the drain: the socket path
/// is released then, so a successor can bind while this process finishes its logins.
pub async fn run<A: DuoApi + 'static>(
    listener: UnixListener,
    daemon: Arc<Daemon<A>>,
    mut shutdown: watch::Receiver<bool>,
    stopped_accepting: impl FnOnce(),
) {
    let open = Arc::new(AtomicUsize::new(0));
    let per_uid = UidCounts::default();
    let tracker = TaskTracker::new();
    let mut accept_backoff = Duration::from_millis(10);
    let mut flush = tokio::time::interval(LOG_FLUSH_INTERVAL);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => { accept_backoff = Duration::from_millis(10); s }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}; retrying in {accept_backoff:?}");
                    tokio::time::sleep(accept_backoff).await;
                    accept_backoff = (accept_backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = flush.tick() => {
                for (uid, n) in daemon.log_throttle.flush() {
                    tracing::warn!(uid, "{n} more log line(s) caused by uid {uid} in the last {}s were suppressed", LOG_FLUSH_INTERVAL.as_secs());
                }
                continue;
            }
            _ = shutdown.changed() => break,
        };
        let peer = match stream.peer_cred() {
            Ok(c) => Peer {
                uid: c.uid(),
                pid: c.pid(),
            },
            Err(e) => {
                tracing::warn!("dropping a client whose credentials cannot be read: {e}");
                continue;
            }
        };
        let gen = daemon.current();
        let authd = &gen.ctx.cfg.authd;
        let Some(slot) = Slot::acquire(&open, authd.max_connections) else {
            if daemon.log_throttle.allow(peer.uid) {
                tracing::warn!(
                    uid = peer.uid,
                    "refusing a connection: all {} client slots are taken",
                    authd.max_connections
                );
            }
            tracker.spawn(refuse(stream, "the Duo login service is busy"));
            continue;
        };
        let max_uid = authd.max_connections_per_uid;
        let Some(uid_slot) = per_uid.acquire(peer.uid, max_uid) else {
            if daemon.log_throttle.allow(peer.uid) {
                tracing::warn!(
                    uid = peer.uid,
                    "refusing a connection: uid already has {max_uid} open"
                );
            }
            tracker.spawn(refuse(stream, "too many connections from your user"));
            continue;
        };
        let daemon = daemon.clone();
        tracker.spawn(async move {
            let _slots = (slot, uid_slot);
            let _open = Held::new(&daemon.stats.connections_open);
            handle(stream, peer, &daemon).await;
        });
    }
    drop(listener);
    stopped_accepting();
    tracker.close();
    let drain = daemon.current().ctx.cfg.authd.drain_timeout;
    let in_flight = tracker.len();
    if in_flight > 0 {
        tracing::info!("shutting down: waiting up to {drain:?} for {in_flight} connection(s)");
    }
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!(
            "drain timeout reached with {} connection(s) still open; exiting anyway",
            tracker.len()
        );
    }
}

/// Tell an over-limit client why, without reading from it.
async fn refuse(stream: UnixStream, why: &str) {
    let mut conv = Conversation::new(stream, Duration::from_secs(1));
    let _ = conv
        .send(&ServerMsg::Error {
            kind: ErrorKind::Busy,
            message: why.to_string(),
        })
        .await;
}

/// One client from handshake to close.
async fn handle<A: DuoApi>(stream: UnixStream, peer: Peer, daemon: &Daemon<A>) {
    let gen = daemon.current();
    let authd = &gen.ctx.cfg.authd;
    let mut conv = Conversation::new(stream, authd.idle_timeout);
    let first = Instant::now() + authd.first_frame_timeout;
    match conv.recv(first).await {
        Ok(Some(ClientMsg::Hello { version })) if version == PROTOCOL_VERSION => {
            let hello = ServerMsg::Hello {
                version: PROTOCOL_VERSION,
                daemon_version: env!("CARGO_PKG_VERSION").to_string(),
            };
            if conv.send(&hello).await.is_err() {
                return;
            }
        }
        Ok(Some(ClientMsg::Hello { version })) => {
            let msg = format!("protocol version {version} is not supported (the daemon speaks {PROTOCOL_VERSION}); upgrade duo-login and duo-authd together");
            if daemon.log_throttle.allow(peer.uid) {
                tracing::warn!(uid = peer.uid, "{msg}");
            }
            let _ = conv.send(&error(ErrorKind::VersionMismatch, msg)).await;
            return;
        }
        Ok(Some(_)) => {
            return reject(
                &mut conv,
                peer,
                daemon,
                ConvError::Protocol("first frame is not Hello".into()),
            )
            .await
        }
        Ok(None) => return,
        Err(e) => return reject(&mut conv, peer, daemon, e).await,
    }
    match conv.recv(Instant::now() + authd.first_frame_timeout).await {
        Ok(Some(ClientMsg::Start(req))) => {
            let _in_flight = Held::new(&daemon.stats.logins_in_flight);
            let hard_stop = authd.login_timeout + HARD_STOP_SLACK;
            let login = AssertUnwindSafe(login::run(&gen.ctx, &mut conv, peer, req)).catch_unwind();
            let outcome = tokio::time::timeout(hard_stop, login).await;
            match outcome {
                Ok(Ok(outcome)) => {
                    daemon.stats.record(outcome.audit.reason);
                    if !outcome.noisy || daemon.log_throttle.allow(peer.uid) {
                        crate::audit::emit(&outcome.audit);
                    }
                    if let Some(d) = outcome.decision {
                        let _ = conv.decide(d).await;
                    }
                }
                Ok(Err(panic)) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".into());
                    tracing::error!(uid = peer.uid, "login task panicked: {what:?}; denying");
                    let mut rec = AuditRecord::new(peer.uid, peer.pid);
                    rec.detail = Some("internal error (a bug in duo-authd); denied".into());
                    crate::audit::emit(&rec);
                    daemon.stats.record(Reason::Error);
                    let _ = conv
                        .decide(Decision {
                            verdict: Verdict::Deny,
                            reason: Reason::Error,
                            message: Some(
                                "Duo two-factor authentication failed; login denied.".into(),
                            ),
                            show_motd: false,
                        })
                        .await;
                }
                Err(_) => {
                    tracing::error!(
                        uid = peer.uid,
                        "login exceeded its hard stop of {hard_stop:?}; closed"
                    );
                    let mut rec = AuditRecord::new(peer.uid, peer.pid);
                    rec.headline = Headline::Aborted;
                    rec.reason = Reason::Aborted;
                    rec.detail = Some(format!("the login exceeded its hard stop of {hard_stop:?}"));
                    crate::audit::emit(&rec);
                    daemon.stats.record(Reason::Aborted);
                }
            }
        }
        Ok(Some(ClientMsg::Health)) => {
            let report = crate::health::report(daemon);
            let _ = conv.send(&ServerMsg::Health(Box::new(report))).await;
        }
        Ok(Some(_)) => {
            reject(
                &mut conv,
                peer,
                daemon,
                ConvError::Protocol("expected Start or Health".into()),
            )
            .await
        }
        Ok(None) => {}
        Err(e) => reject(&mut conv, peer, daemon, e).await,
    }
}

/// An error frame for the client.
fn error(kind: ErrorKind, message: String) -> ServerMsg {
    ServerMsg::Error { kind, message }
}

/// Answer a misbehaving client with an error frame (best effort) and log it, within the uid's log budget.
async fn reject<A>(
    conv: &mut Conversation<UnixStream>,
    peer: Peer,
    daemon: &Daemon<A>,
    e: ConvError,
) {
    if daemon.log_throttle.allow(peer.uid) {
        tracing::info!(uid = peer.uid, pid = ?peer.pid, "closing client: {e}");
    }
    let kind = match e {
        ConvError::Timeout => ErrorKind::Timeout,
        _ => ErrorKind::Malformed,
    };
    let _ = conv.send(&error(kind, e.to_string())).await;
}

#[cfg(test)]
mod tests;
