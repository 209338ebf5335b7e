//! Creating the listening socket safely, and giving its path back cleanly.
//!
//! - **Where.** The socket's directory must be a real directory (not reached through a symlink),
//!   owned by root or the daemon's user and writable by nobody else. Every directory above it
//!   is checked the way OpenSSH's StrictModes checks a home directory: owned by root or the
//!   daemon's user and not writable by group or others, except a root-owned sticky directory
//!   such as `/tmp`, where others cannot remove or rename what is not theirs. A symlink on the
//!   way (`/var/run` -> `/run`) is followed, and its target's ancestors are checked too.
//! - **How.** The directory is opened once (`O_DIRECTORY | O_NOFOLLOW`) and everything after
//!   that goes through its descriptor: the mode of a directory we create, the stale-socket
//!   check and removal, the socket's mode and owner.
//! - **Whose.** A lock file beside the socket (`authd.sock.lock`) is held while this process
//!   listens. A second daemon refuses to start while the first one listens; once the first one
//!   stops accepting (SIGTERM), it removes its socket (only if the path still holds the node it
//!   bound: same device and inode) and drops the lock, then drains its logins. A new daemon can
//!   take over from that moment, and the draining one never touches the path again.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode};
use nix::unistd::{Gid, Uid};

/// Why the socket could not be set up; each message names the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The socket path is relative or has no parent directory.
    #[error("socket path {0} must be an absolute path inside a directory")]
    NoDirectory(PathBuf),
    /// Group or others could replace our socket.
    #[error("{path} is writable by group or others (mode {mode:04o}); it must be writable only by root or the daemon's user")]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// Someone untrusted owns a directory on the way.
    #[error("{path} is owned by uid {owner}; the socket's directory and every directory above it must be owned by root or the daemon's user")]
    DirectoryOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// The socket directory is a symlink (whoever can change the link can move the socket).
    #[error("{0} is a symbolic link; point [authd] socket at the real directory")]
    SymlinkDirectory(PathBuf),
    /// Something that is not a directory sits where one must be.
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
    /// Something that is not a socket sits at the path.
    #[error("{0} exists and is not a socket; refusing to remove it")]
    NotASocket(PathBuf),
    /// Another daemon serves (or, without the lock, answers on) the socket.
    #[error("another duo-authd{} is serving {path}; stop it first", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    InUse {
        /// The socket.
        path: PathBuf,
        /// The pid written in the lock file, when readable.
        pid: Option<u32>,
    },
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

/// Shorthand for a nix error with context.
fn nix_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> ListenError + 'a {
    move |e| io_err(what, path)(io::Error::from(e))
}

/// Who may own the socket's directories: root, the daemon's user, and the uid we run as.
#[derive(Debug, Clone)]
pub struct Owners(Vec<u32>);

impl Owners {
    /// Root, plus `daemon_user`, plus the effective uid.
    pub fn new(daemon_user: Option<u32>) -> Owners {
        let mut v = vec![0, nix::unistd::geteuid().as_raw()];
        v.extend(daemon_user);
        v.sort_unstable();
        v.dedup();
        Owners(v)
    }

    /// Whether `uid` may own a directory on the way.
    fn trusts(&self, uid: u32) -> bool {
        self.0.contains(&uid)
    }
}

/// Check one directory above the socket's: a trusted owner, and not writable by others unless
/// it is a root-owned sticky directory.
fn check_ancestor(path: &Path, meta: &fs::Metadata, owners: &Owners) -> Result<(), ListenError> {
    if !meta.is_dir() {
        return Err(ListenError::NotADirectory(path.to_path_buf()));
    }
    if !owners.trusts(meta.uid()) {
        return Err(ListenError::DirectoryOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    let sticky_root = mode & 0o1000 != 0 && meta.uid() == 0;
    if mode & 0o022 != 0 && !sticky_root {
        return Err(ListenError::UnsafeDirectory {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Check every directory from `/` down to `dir`'s parent, as written and as resolved.
fn check_ancestors(dir: &Path, owners: &Owners) -> Result<(), ListenError> {
    let parent = dir
        .parent()
        .ok_or_else(|| ListenError::NoDirectory(dir.to_path_buf()))?;
    // As written: each prefix, following symlinks (whose own directory was checked one step before).
    let mut prefix = PathBuf::new();
    for c in parent.components() {
        prefix.push(c);
        if matches!(c, Component::ParentDir | Component::CurDir) {
            return Err(ListenError::NoDirectory(dir.to_path_buf()));
        }
        let meta = fs::metadata(&prefix).map_err(io_err("inspecting", &prefix))?;
        check_ancestor(&prefix, &meta, owners)?;
    }
    // As resolved: a symlink on the way leads somewhere whose ancestors must be trusted too.
    let real = fs::canonicalize(parent).map_err(io_err("resolving", parent))?;
    let mut prefix = PathBuf::new();
    for c in real.components() {
        prefix.push(c);
        let meta = fs::metadata(&prefix).map_err(io_err("inspecting", &prefix))?;
        check_ancestor(&prefix, &meta, owners)?;
    }
    Ok(())
}

/// The socket's own directory: a real directory, a trusted owner, writable by nobody else.
fn check_socket_dir(dir: &Path, meta: &fs::Metadata, owners: &Owners) -> Result<(), ListenError> {
    if !meta.is_dir() {
        return Err(ListenError::NotADirectory(dir.to_path_buf()));
    }
    if !owners.trusts(meta.uid()) {
        return Err(ListenError::DirectoryOwner {
            path: dir.to_path_buf(),
            owner: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(ListenError::UnsafeDirectory {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// The listening socket, and what gives its path back when this process stops listening.
#[derive(Debug)]
pub struct Bound {
    /// The listener (not yet non-blocking).
    pub listener: UnixListener,
    /// Ownership of the path.
    pub claim: Claim,
}

/// Our claim on the socket path: the lock, and the identity of the node we bound.
#[derive(Debug)]
pub struct Claim {
    /// The socket path.
    path: PathBuf,
    /// Device, inode and change time of the node we bound (an inode number alone can be reused
    /// at once by a node created after ours was removed).
    node: (u64, u64, i64, i64),
    /// The held lock file; dropping it lets a successor bind.
    lock: File,
}

impl Claim {
    /// Give the path back: remove the socket if the path still holds the node we bound, then
    /// release the lock. Called when this process stops accepting, before it drains.
    pub fn release(self) {
        match fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()) == self.node => {
                if let Err(e) = fs::remove_file(&self.path) {
                    // Started as root, the directory stays root's: the next start replaces the node.
                    tracing::debug!(
                        "leaving {} for the next start to replace: {e}",
                        self.path.display()
                    );
                }
            }
            Ok(_) => tracing::info!(
                "{} now belongs to another duo-authd; leaving it",
                self.path.display()
            ),
            Err(_) => {}
        }
        drop(self.lock);
    }
}

/// The lock file that belongs to `socket`.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    socket.with_file_name(name)
}

/// Bind `path` (mode 0666) after checking its directory, creating the directory (0755) if missing.
///
/// `owner` is the daemon's user when started as root: the socket node and the lock file are
/// given to it, while a directory we create stays root's, so the next start (as root, without
/// `file_dac_write` under SMF) can still replace the socket.
pub fn bind(path: &Path, owner: Option<(u32, u32)>) -> Result<Bound, ListenError> {
    let name = path
        .file_name()
        .ok_or_else(|| ListenError::NoDirectory(path.to_path_buf()))?;
    let dir = path
        .parent()
        .filter(|d| d.is_absolute())
        .ok_or_else(|| ListenError::NoDirectory(path.to_path_buf()))?;
    let owners = Owners::new(owner.map(|(u, _)| u));
    let created = match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(up) = dir.parent() {
                check_ancestors(up, &owners).or_else(|e| match e {
                    // Directories that do not exist yet are ours once created.
                    ListenError::Io { ref source, .. }
                        if source.kind() == io::ErrorKind::NotFound =>
                    {
                        Ok(())
                    }
                    e => Err(e),
                })?;
            }
            fs::DirBuilder::new()
                .mode(0o755)
                .recursive(true)
                .create(dir)
                .map_err(io_err("creating socket directory", dir))?;
            true
        }
        Err(e) => return Err(io_err("inspecting", dir)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(ListenError::SymlinkDirectory(dir.to_path_buf()))
        }
        Ok(_) => false,
    };
    check_ancestors(dir, &owners)?;
    let dirfd = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => ListenError::SymlinkDirectory(dir.to_path_buf()),
            _ => io_err("opening", dir)(e),
        })?;
    if created {
        // DirBuilder's mode is filtered by the umask; set it exactly, through the descriptor.
        dirfd
            .set_permissions(fs::Permissions::from_mode(0o755))
            .map_err(io_err("setting the mode of", dir))?;
    }
    let meta = dirfd.metadata().map_err(io_err("inspecting", dir))?;
    check_socket_dir(dir, &meta, &owners)?;

    let lock = claim_lock(path, owner)?;
    remove_stale(&dirfd, path)?;
    let listener = UnixListener::bind(path).map_err(io_err("binding", path))?;
    let fd = Some(dirfd.as_raw_fd());
    // The node is 0666 so any local user can connect; the directory, not the node, keeps others from replacing it.
    nix::sys::stat::fchmodat(
        fd,
        name,
        Mode::from_bits_truncate(0o666),
        FchmodatFlags::FollowSymlink,
    )
    .map_err(nix_err("setting the mode of", path))?;
    if let Some((uid, gid)) = owner {
        nix::unistd::fchownat(
            fd,
            name,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(nix_err("changing the owner of", path))?;
    }
    let node = nix::sys::stat::fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(nix_err("inspecting", path))?;
    Ok(Bound {
        listener,
        claim: Claim {
            path: path.to_path_buf(),
            node: (
                node.st_dev as u64,
                node.st_ino as u64,
                node.st_ctime as i64,
                node.st_ctime_nsec as i64,
            ),
            lock,
        },
    })
}

/// Take the lock beside the socket, or say which daemon holds it.
fn claim_lock(socket: &Path, owner: Option<(u32, u32)>) -> Result<File, ListenError> {
    let path = lock_path(socket);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(io_err("opening the lock file", &path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(ListenError::InUse {
                path: socket.to_path_buf(),
                pid: text.trim().parse().ok(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err("locking", &path)(e)),
    }
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(io_err("changing the owner of", &path))?;
    }
    // Who holds it, for the next one's message.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(file)
}

/// Remove a leftover socket (we hold the lock) only if it is a socket and nothing answers on it.
fn remove_stale(dirfd: &File, path: &Path) -> Result<(), ListenError> {
    let Some(name) = path.file_name() else {
        return Err(ListenError::NoDirectory(path.to_path_buf()));
    };
    let fd = Some(dirfd.as_raw_fd());
    let st = match nix::sys::stat::fstatat(fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(nix::Error::ENOENT) => return Ok(()),
        Err(e) => return Err(nix_err("inspecting", path)(e)),
    };
    let kind = nix::sys::stat::SFlag::from_bits_truncate(st.st_mode as _);
    if !kind.contains(nix::sys::stat::SFlag::S_IFSOCK) {
        return Err(ListenError::NotASocket(path.to_path_buf()));
    }
    if UnixStream::connect(path).is_ok() {
        // Someone listens without holding the lock (an older daemon): leave it alone.
        return Err(ListenError::InUse {
            path: path.to_path_buf(),
            pid: None,
        });
    }
    nix::unistd::unlinkat(fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
        .map_err(nix_err("removing the stale socket", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tempdir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn binds_and_replaces_only_dead_sockets() {
        let dir = tempdir();
        let sock = dir.path().join("authd.sock");
        let b = bind(&sock, None).unwrap();
        assert_eq!(fs::metadata(&sock).unwrap().mode() & 0o777, 0o666);
        assert!(
            matches!(bind(&sock, None), Err(ListenError::InUse { pid: Some(p), .. }) if p == std::process::id())
        );
        let Bound { listener, claim } = b;
        drop(listener);
        // Still locked: a second daemon waits for the first to stop listening.
        assert!(matches!(bind(&sock, None), Err(ListenError::InUse { .. })));
        claim.release();
        assert!(!sock.exists(), "the socket was not removed");
        bind(&sock, None).unwrap();
    }

    #[test]
    fn a_draining_daemon_never_removes_its_successors_socket() {
        let dir = tempdir();
        let sock = dir.path().join("authd.sock");
        let old = bind(&sock, None).unwrap();
        // The old daemon stops accepting, the node is replaced meanwhile (as a successor that
        // does not use the lock would), and only then does the old one give the path back.
        drop(old.listener);
        fs::remove_file(&sock).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let successor = UnixListener::bind(&sock).unwrap();
        old.claim.release();
        assert!(sock.exists(), "the successor's socket was removed");
        assert!(UnixStream::connect(&sock).is_ok());
        drop(successor);
    }

    #[test]
    fn refuses_files_and_open_directories() {
        let dir = tempdir();
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
    fn refuses_a_symlinked_directory_and_an_open_parent() {
        let dir = tempdir();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("link");
        symlink(&real, &link).unwrap();
        let err = bind(&link.join("authd.sock"), None).unwrap_err();
        assert!(matches!(err, ListenError::SymlinkDirectory(_)), "{err}");
        // A parent anyone may write (not sticky): someone could swap the directory below it.
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let inner = open.join("run");
        fs::create_dir(&inner).unwrap();
        fs::set_permissions(&inner, fs::Permissions::from_mode(0o755)).unwrap();
        let err = bind(&inner.join("authd.sock"), None).unwrap_err();
        assert!(matches!(err, ListenError::UnsafeDirectory { .. }), "{err}");
        // A sticky, world-writable parent is fine only when root owns it (like /tmp).
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        let r = bind(&inner.join("authd.sock"), None);
        if nix::unistd::geteuid().is_root() {
            r.unwrap();
        } else {
            assert!(
                matches!(r, Err(ListenError::UnsafeDirectory { .. })),
                "{r:?}"
            );
        }
    }

    #[test]
    fn creates_a_missing_directory_with_an_exact_mode() {
        let dir = tempdir();
        let sock = dir.path().join("run/duo-authd/authd.sock");
        bind(&sock, None).unwrap();
        assert!(sock.exists());
        let m = fs::metadata(dir.path().join("run/duo-authd")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o755);
        assert!(lock_path(&sock).ends_with("authd.sock.lock"));
    }
}
