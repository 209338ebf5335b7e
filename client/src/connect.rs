//! Connecting to the daemon's socket, and deciding before a byte is sent whether what answers may be believed.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::peer;

#[allow(unsafe_code)]
mod bounded;

/// How long connecting and each socket read or write may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Bound on `connect(2)` itself; `None` blocks as `UnixStream::connect` does (a daemon whose
    /// listen backlog is full then holds the caller until it accepts).
    pub connect: Option<Duration>,
    /// Read and write timeout set on the connected socket: the last resort against a wedged daemon.
    pub io: Duration,
}

/// Why no trusted daemon could be talked to.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// No daemon at all: the socket path does not exist or nothing listens on it. This, and only
    /// this, is what `failmode safe` lets through.
    NoDaemon(String),
    /// Something answers but must not be believed (wrong type, owner or peer), or connecting failed
    /// some other way: a sign of attack or breakage, so the login is denied whatever the failmode.
    Refused(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NoDaemon(why) | ConnectError::Refused(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Whether an OS error means "no daemon here" (rather than "something is wrong here").
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// Connect to the daemon's socket and check, before sending anything, that root or a trusted user
/// serves it; `debug` receives the `-d` lines.
pub fn connect(
    path: &Path,
    trust: &peer::Trust,
    timeouts: Timeouts,
    debug: &mut dyn FnMut(fmt::Arguments<'_>),
) -> Result<UnixStream, ConnectError> {
    let shown = path.display();
    debug(format_args!("connecting to {shown}"));
    let meta = fs::symlink_metadata(path).map_err(|e| {
        let why = format!("{shown}: {e}");
        if is_absent(&e) {
            ConnectError::NoDaemon(why)
        } else {
            ConnectError::Refused(why)
        }
    })?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err(ConnectError::Refused(format!(
            "{shown} is a symbolic link, not a socket"
        )));
    }
    if !ft.is_socket() {
        return Err(ConnectError::Refused(format!("{shown} is not a socket")));
    }
    // Check the owner before connecting, so an untrusted listener never learns who is logging in.
    if !trust.allows(meta.uid()) {
        return Err(ConnectError::Refused(format!(
            "{shown}: the socket is owned by uid {}, which is not trusted",
            meta.uid()
        )));
    }
    let connected = match timeouts.connect {
        Some(limit) => bounded::connect(path, limit),
        None => UnixStream::connect(path),
    };
    let stream = connected.map_err(|e| {
        let why = format!("cannot connect to {shown}: {e}");
        if is_absent(&e) {
            ConnectError::NoDaemon(why)
        } else {
            ConnectError::Refused(why)
        }
    })?;
    stream
        .set_read_timeout(Some(timeouts.io))
        .and_then(|()| stream.set_write_timeout(Some(timeouts.io)))
        .map_err(|e| ConnectError::Refused(format!("cannot set timeouts on {shown}: {e}")))?;
    let peer_uid = peer::peer_uid(&stream).map_err(|e| {
        ConnectError::Refused(format!("cannot get the peer credentials of {shown}: {e}"))
    })?;
    peer::trusted(peer_uid, meta.uid(), trust)
        .map_err(|e| ConnectError::Refused(format!("{shown}: {e}")))?;
    debug(format_args!(
        "trust: socket owner uid {}, daemon uid {peer_uid}: trusted",
        meta.uid()
    ));
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn quiet() -> impl FnMut(fmt::Arguments<'_>) {
        |_| {}
    }

    #[test]
    fn bounded_connect_reports_absence_like_the_blocking_one() {
        let dir = std::env::temp_dir().join(format!("duo-client-abs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let dead = dir.join("dead.sock");
        let _ = fs::remove_file(&dead);
        drop(UnixListener::bind(&dead).unwrap());
        let trust = peer::Trust::fixed(crate::passwd::real_uid());
        let t = Timeouts {
            connect: Some(Duration::from_secs(1)),
            io: Duration::from_secs(1),
        };
        assert!(matches!(
            connect(&dead, &trust, t, &mut quiet()),
            Err(ConnectError::NoDaemon(_))
        ));
        let live = dir.join("live.sock");
        let _ = fs::remove_file(&live);
        let _l = UnixListener::bind(&live).unwrap();
        assert!(connect(&live, &trust, t, &mut quiet()).is_ok());
        let _ = fs::remove_dir_all(&dir);
    }
}
