//! Reading a config the daemon's own user cannot read, so a root-owned, mode 0600
//! `login_duo.conf` can still be reloaded on SIGHUP after the drop to `duoauthd`.
//!
//! Started as root, the daemon reads its config, and when the file belongs to root (not to the
//! user it drops to) it starts one helper before dropping privileges: `duo-authd config-reader`,
//! the same binary, still root, talking only over its stdin and stdout pipes. The helper knows
//! one path (given at start) and one request (one byte): read the file with the same checks as at
//! start (a regular file, mode not open to group or others, at most 1 MiB) and send back its owner
//! and text. It holds nothing else, opens nothing else, and exits when the daemon closes the pipe
//! (the daemon exiting for any reason does). Without it, such a file can only be reloaded by a
//! restart; giving the file to the daemon's user (`chown duoauthd`) avoids the helper entirely.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::config::{read_private, PrivateText, MAX_CONFIG_BYTES};

/// The one request: "read the file".
const READ: u8 = b'R';
/// Answer status: the file's text follows.
const OK: u8 = 0;
/// Answer status: an error message follows.
const ERR: u8 = 1;

/// Why the helper could not deliver the file.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// The helper is gone or the pipe broke.
    #[error("the config reader (duo-authd config-reader) is not answering: {0}")]
    Pipe(#[from] io::Error),
    /// The helper read the file and refused it (the message never holds the file's text).
    #[error("{0}")]
    Refused(String),
}

/// The daemon's end of the helper.
#[derive(Debug)]
pub struct Reader {
    /// The helper process (reaped on drop).
    child: Child,
    /// Requests and answers, one at a time; `None` once dropped, so the helper sees EOF.
    pipes: Mutex<Option<(ChildStdin, ChildStdout)>>,
}

impl Reader {
    /// Start `exe config-reader --config path` (call while still root, before dropping privileges).
    pub fn start(exe: &Path, path: &Path) -> io::Result<Reader> {
        let mut child = Command::new(exe)
            .arg("config-reader")
            .arg("--config")
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(io::Error::other("the config reader has no pipes"));
        };
        Ok(Reader {
            child,
            pipes: Mutex::new(Some((stdin, stdout))),
        })
    }

    /// Ask for the file (blocking: call from `spawn_blocking`).
    pub fn read(&self) -> Result<PrivateText, ReaderError> {
        let mut pipes = crate::sync::lock(&self.pipes);
        let Some((to, from)) = pipes.as_mut() else {
            return Err(ReaderError::Pipe(io::Error::other(
                "the config reader has been stopped",
            )));
        };
        to.write_all(&[READ])?;
        to.flush()?;
        let mut head = [0u8; 9];
        from.read_exact(&mut head)?;
        let owner = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
        if len as u64 > MAX_CONFIG_BYTES {
            return Err(ReaderError::Pipe(io::Error::other(
                "the config reader announced an oversize answer",
            )));
        }
        let mut body = Zeroizing::new(vec![0u8; len]);
        from.read_exact(&mut body)?;
        match head[0] {
            OK => {
                let text = String::from_utf8(body.to_vec()).map_err(|_| {
                    ReaderError::Refused("the config file is not valid UTF-8".into())
                })?;
                Ok(PrivateText {
                    text: Zeroizing::new(text),
                    owner,
                })
            }
            _ => Err(ReaderError::Refused(
                String::from_utf8_lossy(&body).into_owned(),
            )),
        }
    }
}

impl Drop for Reader {
    /// Close the pipes first: the helper (root) exits on EOF. A kill from the unprivileged daemon
    /// fails with EPERM, so waiting with the pipes still open would hang the shutdown.
    fn drop(&mut self) {
        drop(
            self.pipes
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The helper's side: answer read requests on stdin until it closes. Returns the exit status.
pub fn serve(path: PathBuf) -> u8 {
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let mut req = [0u8; 1];
    loop {
        match input.read(&mut req) {
            Ok(0) => return 0,
            Ok(_) if req[0] == READ => {}
            Ok(_) => return 2,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return 2,
        }
        let (status, owner, body) = match read_private(&path) {
            Ok(p) => (OK, p.owner, Zeroizing::new(p.text.as_bytes().to_vec())),
            Err(e) => (ERR, 0, Zeroizing::new(e.to_string().into_bytes())),
        };
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let mut head = [0u8; 9];
        head[0] = status;
        head[1..5].copy_from_slice(&owner.to_be_bytes());
        head[5..9].copy_from_slice(&len.to_be_bytes());
        if output
            .write_all(&head)
            .and_then(|()| output.write_all(&body))
            .and_then(|()| output.flush())
            .is_err()
        {
            return 2;
        }
    }
}
