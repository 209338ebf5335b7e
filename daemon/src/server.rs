//! The accept loop and one task per client: handshake, then a login or a health query.
//!
//! Shape after mini-redis: a global permit is taken *before* `accept`, a per-uid count right
//! after (we only learn the uid from the accepted socket), and shutdown stops accepting and
//! waits for the tasks in flight, bounded by `drain_timeout`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duo_authd_proto::{ClientMsg, ErrorKind, ServerMsg, PROTOCOL_VERSION};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::conversation::{ConvError, Conversation};
use crate::login::{self, Peer};
use crate::state::Daemon;

/// Extra time past the login deadline before a login task is cut off as a last resort.
const HARD_STOP_SLACK: Duration = Duration::from_secs(5);

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
        let mut map = self.0.lock().ok()?;
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
        if let Ok(mut map) = self.counts.0.lock() {
            if let Some(n) = map.get_mut(&self.uid) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&self.uid);
                }
            }
        }
    }
}

/// Serve until `shutdown` flips to true, then drain for up to the configured bound.
pub async fn run(listener: UnixListener, daemon: Arc<Daemon>, mut shutdown: watch::Receiver<bool>) {
    let max = daemon.current().ctx.cfg.authd.max_connections;
    let permits = Arc::new(Semaphore::new(max));
    let per_uid = UidCounts::default();
    let tracker = TaskTracker::new();
    let mut accept_backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
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
        let max_uid = gen.ctx.cfg.authd.max_connections_per_uid;
        let Some(slot) = per_uid.acquire(peer.uid, max_uid) else {
            tracing::warn!(
                uid = peer.uid,
                "refusing a connection: uid already has {max_uid} open"
            );
            tracker.spawn(refuse(stream, "too many connections from your user"));
            continue;
        };
        let daemon = daemon.clone();
        tracker.spawn(async move {
            daemon
                .stats
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            handle(stream, peer, &daemon).await;
            daemon
                .stats
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
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
async fn handle(stream: UnixStream, peer: Peer, daemon: &Daemon) {
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
            tracing::warn!(uid = peer.uid, "{msg}");
            let _ = conv.send(&error(ErrorKind::VersionMismatch, msg)).await;
            return;
        }
        Ok(Some(_)) => {
            return reject(
                &mut conv,
                peer,
                ConvError::Protocol("first frame is not Hello".into()),
            )
            .await
        }
        Ok(None) => return,
        Err(e) => return reject(&mut conv, peer, e).await,
    }
    match conv.recv(Instant::now() + authd.first_frame_timeout).await {
        Ok(Some(ClientMsg::Start(req))) => {
            daemon
                .stats
                .logins_in_flight
                .fetch_add(1, Ordering::Relaxed);
            let hard_stop = authd.login_timeout + HARD_STOP_SLACK;
            let outcome =
                tokio::time::timeout(hard_stop, login::run(&gen.ctx, &mut conv, peer, req)).await;
            daemon
                .stats
                .logins_in_flight
                .fetch_sub(1, Ordering::Relaxed);
            match outcome {
                Ok(outcome) => {
                    daemon.stats.record(outcome.audit.reason);
                    crate::audit::emit(&outcome.audit);
                    if let Some(d) = outcome.decision {
                        let _ = conv.send(&ServerMsg::Decision(d)).await;
                    }
                }
                Err(_) => {
                    tracing::error!(
                        uid = peer.uid,
                        "login exceeded its hard stop of {hard_stop:?}; closed"
                    );
                    daemon.stats.record(duo_authd_proto::Reason::Aborted);
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
                ConvError::Protocol("expected Start or Health".into()),
            )
            .await
        }
        Ok(None) => {}
        Err(e) => reject(&mut conv, peer, e).await,
    }
}

/// An error frame for the client.
fn error(kind: ErrorKind, message: String) -> ServerMsg {
    ServerMsg::Error { kind, message }
}

/// Answer a misbehaving client with an error frame (best effort) and log it.
async fn reject(conv: &mut Conversation<UnixStream>, peer: Peer, e: ConvError) {
    tracing::info!(uid = peer.uid, pid = ?peer.pid, "closing client: {e}");
    let kind = match e {
        ConvError::Timeout => ErrorKind::Timeout,
        _ => ErrorKind::Malformed,
    };
    let _ = conv.send(&error(kind, e.to_string())).await;
}
