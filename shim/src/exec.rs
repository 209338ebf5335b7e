//! What happens after an allow, as `login_duo` does it: the motd, then the user's shell.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Shell used when the passwd entry has none.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// Message of the day, printed after an allow when the daemon's config asks for it.
pub const MOTD: &str = "/etc/motd";

/// The command to run: `PROG ARGS` joined by single spaces, else `$SSH_ORIGINAL_COMMAND`, else none.
pub fn command_line(program: &[OsString], ssh_original: Option<&OsStr>) -> Option<OsString> {
    if program.is_empty() {
        return ssh_original.map(OsStr::to_owned);
    }
    let mut cmd = OsString::new();
    for (i, part) in program.iter().enumerate() {
        if i > 0 {
            cmd.push(" ");
        }
        cmd.push(part);
    }
    Some(cmd)
}

/// The user's shell, or `/bin/sh` when the passwd entry leaves it empty.
pub fn shell_or_default(shell: &Path) -> PathBuf {
    if shell.as_os_str().is_empty() {
        PathBuf::from(DEFAULT_SHELL)
    } else {
        shell.to_path_buf()
    }
}

/// `argv[0]` for the shell: its basename, with a leading `-` for a login shell.
pub fn argv0(shell: &Path, login: bool) -> OsString {
    let bytes = shell.as_os_str().as_bytes();
    let base = bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes);
    let mut v = Vec::with_capacity(base.len() + 1);
    if login {
        v.push(b'-');
    }
    v.extend_from_slice(base);
    OsString::from_vec(v)
}

/// Print /etc/motd if it can be read; silently nothing otherwise.
pub fn show_motd<W: Write>(out: &mut W) {
    if let Ok(text) = fs::read(MOTD) {
        let _ = out.write_all(&text);
        let _ = out.flush();
    }
}

/// The process that replaces us: `SHELL -c CMD`, or a login shell, without `DUO_PASSCODE`.
pub fn shell_command(shell: &Path, command: Option<&OsStr>) -> Command {
    let mut c = Command::new(shell);
    match command {
        Some(cmd) => {
            c.arg0(argv0(shell, false)).arg("-c").arg(cmd);
        }
        None => {
            c.arg0(argv0(shell, true));
        }
    }
    c.env_remove("DUO_PASSCODE");
    c
}

/// Replace this process with the shell; only returns on failure.
pub fn exec_shell(shell: &Path, command: Option<&OsStr>) -> io::Error {
    shell_command(shell, command).exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_program_and_args() {
        let p: Vec<OsString> = ["ls", "-l", "/tmp dir"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            command_line(&p, Some(OsStr::new("ignored"))),
            Some(OsString::from("ls -l /tmp dir"))
        );
        assert_eq!(
            command_line(&[], Some(OsStr::new("uptime"))),
            Some(OsString::from("uptime"))
        );
        assert_eq!(command_line(&[], None), None);
    }

    #[test]
    fn argv0_is_the_basename() {
        assert_eq!(argv0(Path::new("/bin/bash"), true), OsString::from("-bash"));
        assert_eq!(
            argv0(Path::new("/usr/bin/zsh"), false),
            OsString::from("zsh")
        );
        assert_eq!(argv0(Path::new("sh"), true), OsString::from("-sh"));
        assert_eq!(shell_or_default(Path::new("")), PathBuf::from("/bin/sh"));
        assert_eq!(
            shell_or_default(Path::new("/bin/ksh")),
            PathBuf::from("/bin/ksh")
        );
    }

    #[test]
    fn command_drops_the_passcode() {
        let c = shell_command(Path::new("/bin/sh"), Some(OsStr::new("echo hi")));
        let args: Vec<&OsStr> = c.get_args().collect();
        assert_eq!(args, [OsStr::new("-c"), OsStr::new("echo hi")]);
        assert!(c
            .get_envs()
            .any(|(k, v)| k == OsStr::new("DUO_PASSCODE") && v.is_none()));
        let out = shell_command(
            Path::new("/bin/sh"),
            Some(OsStr::new("echo \"$0:${DUO_PASSCODE-unset}\"")),
        )
        .output()
        .unwrap();
        assert_eq!(out.stdout, b"sh:unset\n");
    }
}
