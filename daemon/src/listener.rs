//! Creating the listening socket safely: a directory only the daemon can write, stale sockets removed only when dead.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why the socket could not be set up; each message names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The socket path has no parent directory.
    #[error("socket path {0} has no directory")]
    NoDirectory(PathBuf),
    /// The directory is unsafe: others could replace our socket.
    #[error("socket directory {path} is writable by group or others (mode {mode:o}); it must be writable only by the daemon's user")]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// The directory belongs to someone else.
    #[error("socket directory {path} is owned by uid {owner}; it must be owned by root or the daemon's user (uid {us})")]
    DirectoryOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our uid.
        us: u32,
    },
    /// Something that is not a socket sits at the path.
    #[error("{0} exists and is not a socket; refusing to remove it")]
    NotASocket(PathBuf),
    /// Another daemon answers on the socket.
    #[error("another process is already serving on {0}")]
    InUse(PathBuf),
    /// A system call failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// Shorthand for an I/O error with context.
fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ListenError + 'a {
    move |source| ListenError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Bind `path` (mode 0666) after checking its directory, creating the directory (0755) if missing.
///
/// `owner` is the daemon's user when started as root: the socket node is given to it, while a
/// directory we create stays root's, so the next start (as root, without `file_dac_write` under
/// SMF) can still replace the socket. Only root or the daemon's user may own the directory.
pub fn bind(path: &Path, owner: Option<(u32, u32)>) -> Result<UnixListener, ListenError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| ListenError::NoDirectory(path.to_path_buf()))?;
    if !dir.exists() {
        fs::DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(dir)
            .map_err(io_err("creating socket directory", dir))?;
    }
    let meta = fs::metadata(dir).map_err(io_err("inspecting", dir))?;
    let us = nix::unistd::geteuid().as_raw();
    let allowed_owner = owner.map(|(u, _)| u).unwrap_or(us);
    if meta.uid() != 0 && meta.uid() != us && meta.uid() != allowed_owner {
        return Err(ListenError::DirectoryOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            us,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(ListenError::UnsafeDirectory {
            path: dir.to_path_buf(),
            mode,
        });
    }
    remove_stale(path)?;
    let listener = UnixListener::bind(path).map_err(io_err("binding", path))?;
    // The node is 0666 so any local user can connect; the directory, not the node, keeps others from replacing it.
    fs::set_permissions(path, fs::Permissions::from_mode(0o666))
        .map_err(io_err("setting the mode of", path))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(io_err("changing owner of", path))?;
    }
    Ok(listener)
}

/// Remove a leftover socket only if it is a socket and nothing answers on it.
fn remove_stale(path: &Path) -> Result<(), ListenError> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("inspecting", path)(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(ListenError::NotASocket(path.to_path_buf()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(ListenError::InUse(path.to_path_buf())),
        Err(_) => fs::remove_file(path).map_err(io_err("removing stale socket", path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_and_replaces_only_dead_sockets() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let sock = dir.path().join("authd.sock");
        let l = bind(&sock, None).unwrap();
        assert_eq!(fs::metadata(&sock).unwrap().mode() & 0o777, 0o666);
        assert!(matches!(bind(&sock, None), Err(ListenError::InUse(_))));
        drop(l);
        bind(&sock, None).unwrap();
    }

    #[test]
    fn refuses_files_and_open_directories() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let f = dir.path().join("not-a-socket");
        fs::write(&f, b"x").unwrap();
        assert!(matches!(bind(&f, None), Err(ListenError::NotASocket(_))));
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = bind(&dir.path().join("s"), None).unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
    }

    #[test]
    fn creates_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let sock = dir.path().join("run/duo-authd/authd.sock");
        bind(&sock, None).unwrap();
        assert!(sock.exists());
    }
}
