//! The accept loop, tested in-process as mini-redis tests its server: a real listener on a real
//! Unix socket in a temporary directory, clients speaking the real protocol, and a scripted Duo.
//! No root needed: every client is this process's own uid.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use duo_authd_proto::{
    self as proto, ClientMsg, ErrorKind, Reason, ServerMsg, Verdict, MAX_FRAME, PROTOCOL_VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;

use crate::duo::api::{AuthStarted, AuthStatus};
use crate::duo::preauth::Preauth;
use crate::fake::{self, auth_menu, FakeDuo, Step};
use crate::state::Daemon;

/// A server on a temporary socket, stopped when dropped.
struct Server {
    daemon: Arc<Daemon<FakeDuo>>,
    duo: FakeDuo,
    socket: PathBuf,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(extra: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("authd.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let duo = FakeDuo::default();
        let cfg = fake::config(extra);
        let daemon = Arc::new(Daemon::new(
            PathBuf::from("/test/authd.toml"),
            cfg,
            duo.clone(),
            "host.example.com".into(),
            None,
        ));
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(super::run(listener, daemon.clone(), rx, || {}));
        Server {
            daemon,
            duo,
            socket,
            stop,
            task,
            _dir: dir,
        }
    }

    async fn connect(&self) -> Conn {
        Conn(UnixStream::connect(&self.socket).await.unwrap())
    }

    /// A headless login of this process's own user, to its decision.
    async fn login(&self) -> ServerMsg {
        let mut c = self.connect().await;
        c.hello().await;
        c.send(&ClientMsg::Start(fake::request(false))).await;
        loop {
            match c.next().await {
                Some(ServerMsg::Status { .. }) => continue,
                Some(other) => return other,
                None => panic!("the daemon closed the connection without deciding"),
            }
        }
    }

    async fn wait_idle(&self) {
        for _ in 0..200 {
            let s = &self.daemon.stats;
            if s.connections_open.load(Ordering::Relaxed) == 0
                && s.logins_in_flight.load(Ordering::Relaxed) == 0
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("connections were left counted as open");
    }

    async fn stop(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// A raw client connection.
struct Conn(UnixStream);

impl Conn {
    async fn send(&mut self, msg: &ClientMsg) {
        let frame = proto::encode(msg).unwrap();
        self.0.write_all(&frame).await.unwrap();
    }

    async fn hello(&mut self) {
        self.send(&ClientMsg::Hello {
            version: PROTOCOL_VERSION,
        })
        .await;
        assert!(matches!(self.next().await, Some(ServerMsg::Hello { .. })));
    }

    /// The next message, or `None` at EOF.
    async fn next(&mut self) -> Option<ServerMsg> {
        let mut len = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(20), self.0.read_exact(&mut len))
            .await
            .ok()?
            .ok()?;
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        self.0.read_exact(&mut buf).await.ok()?;
        Some(proto::decode(&buf).unwrap())
    }
}

fn bypass() -> Step<Preauth> {
    Step::Reply(Preauth::Allow {
        message: "bypass".into(),
    })
}

#[tokio::test]
async fn a_login_over_the_socket() {
    let s = Server::start("").await;
    s.duo.preauth(bypass());
    match s.login().await {
        ServerMsg::Decision(d) => assert_eq!(d.verdict, Verdict::Allow),
        other => panic!("{other:?}"),
    }
    s.wait_idle().await;
    let report = crate::health::report(&s.daemon);
    assert_eq!(report.logins_served, 1);
    s.stop().await;
}

#[tokio::test]
async fn a_panic_in_a_login_still_denies_and_gives_its_slots_back() {
    let s = Server::start("[authd]\nmax_connections_per_uid = 1\n").await;
    s.duo.preauth(Step::Panic);
    match s.login().await {
        ServerMsg::Decision(d) => {
            assert_eq!(d.verdict, Verdict::Deny);
            assert_eq!(d.reason, Reason::Error);
        }
        other => panic!("{other:?}"),
    }
    s.wait_idle().await;
    // The one per-uid slot was given back: the next login works.
    s.duo.preauth(bypass());
    assert!(matches!(s.login().await, ServerMsg::Decision(d) if d.verdict == Verdict::Allow));
    s.stop().await;
}

#[tokio::test]
async fn over_the_caps_is_busy_at_once() {
    let s = Server::start("[authd]\nmax_connections_per_uid = 2\nfirst_frame_timeout = 30\n").await;
    let _held = (s.connect().await, s.connect().await);
    let mut third = s.connect().await;
    match third.next().await {
        Some(ServerMsg::Error { kind, .. }) => assert_eq!(kind, ErrorKind::Busy),
        other => panic!("{other:?}"),
    }
    assert!(
        third.next().await.is_none(),
        "the busy connection is closed"
    );
    drop(_held);
    s.wait_idle().await;
    s.stop().await;
    let s = Server::start("[authd]\nmax_connections = 1\nfirst_frame_timeout = 30\n").await;
    let _held = s.connect().await;
    let mut second = s.connect().await;
    assert!(matches!(
        second.next().await,
        Some(ServerMsg::Error {
            kind: ErrorKind::Busy,
            ..
        })
    ));
    drop(_held);
    s.stop().await;
}

#[tokio::test]
async fn a_deny_message_larger_than_a_frame_is_still_a_deny() {
    // Hostile Duo: a deny whose message alone is over the frame cap.
    let s = Server::start("").await;
    s.duo
        .preauth(Step::Reply(auth_menu(None)))
        .auth(Step::Reply(AuthStarted::Done(AuthStatus::Deny(Some(
            "x".repeat(MAX_FRAME * 2),
        )))));
    match s.login().await {
        ServerMsg::Decision(d) => {
            assert_eq!(d.verdict, Verdict::Deny);
            assert!(d.message.is_none_or(|m| m.len() <= proto::MAX_TEXT));
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let s = Server::start("").await;
    // A 4 GiB length prefix.
    let mut c = s.connect().await;
    c.0.write_all(&[0xff; 4]).await.unwrap();
    assert!(matches!(
        c.next().await,
        Some(ServerMsg::Error {
            kind: ErrorKind::Malformed,
            ..
        })
    ));
    // Bytes that decode to nothing.
    let mut c = s.connect().await;
    c.0.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert!(matches!(c.next().await, Some(ServerMsg::Error { .. })));
    // A Start without Hello.
    let mut c = s.connect().await;
    c.send(&ClientMsg::Start(fake::request(false))).await;
    assert!(matches!(c.next().await, Some(ServerMsg::Error { .. })));
    // A Hello of another version, pipelined with a Start: the Start is never acted on.
    let mut c = s.connect().await;
    let mut two = proto::encode(&ClientMsg::Hello { version: 999 }).unwrap();
    two.extend(proto::encode(&ClientMsg::Start(fake::request(false))).unwrap());
    c.0.write_all(&two).await.unwrap();
    assert!(matches!(
        c.next().await,
        Some(ServerMsg::Error {
            kind: ErrorKind::VersionMismatch,
            ..
        })
    ));
    assert!(c.next().await.is_none());
    assert!(s.duo.calls().is_empty(), "{:?}", s.duo.calls());
    // The server still serves.
    s.duo.preauth(bypass());
    assert!(matches!(s.login().await, ServerMsg::Decision(d) if d.verdict == Verdict::Allow));
    s.wait_idle().await;
    s.stop().await;
}

#[tokio::test]
async fn health_over_the_socket() {
    let s = Server::start("").await;
    let mut c = s.connect().await;
    c.hello().await;
    c.send(&ClientMsg::Health).await;
    match c.next().await {
        Some(ServerMsg::Health(r)) => {
            assert!(r.ready);
            assert_eq!(r.config_path, "/test/authd.toml");
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn shutdown_lets_a_login_in_flight_finish() {
    let s = Server::start("").await;
    s.duo
        .preauth(Step::After(Duration::from_millis(500), Box::new(bypass())));
    let mut c = s.connect().await;
    c.hello().await;
    c.send(&ClientMsg::Start(fake::request(false))).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.stop.send_replace(true);
    assert!(matches!(c.next().await, Some(ServerMsg::Decision(d)) if d.verdict == Verdict::Allow));
    tokio::time::timeout(Duration::from_secs(10), s.task)
        .await
        .unwrap()
        .unwrap();
}
