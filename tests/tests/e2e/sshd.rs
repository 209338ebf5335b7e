//! A real OpenSSH sshd in front of `duo-login`, configured with the README's own `sshd_config`
//! block (so the documentation is what is tested): key authentication, a bypass user who logs in
//! and runs a command, a denied user who is refused, and root's `command="duo-login -f ..."` key
//! working beside the `Match` block's `ForceCommand`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::common::*;
use crate::require_root;

/// The sshd the README names, and the client.
const SSHD: &str = "/usr/sbin/sshd";

/// The fenced ```sshd_config block of the README, as written.
fn readme_sshd_config() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = fs::read_to_string(&readme).unwrap();
    let start = text
        .find("```sshd_config\n")
        .expect("README.md has an ```sshd_config block")
        + "```sshd_config\n".len();
    let len = text[start..].find("```").unwrap();
    text[start..start + len].to_string()
}

/// sshd in the foreground, killed when dropped.
struct Sshd {
    /// The process.
    child: Child,
    /// Its stderr (`-e`).
    log: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ssh -p port user@127.0.0.1 command` with the test key, non-interactive.
fn ssh(dir: &Path, port: u16, user: &str, command: &str) -> Output {
    let mut c = Command::new("ssh");
    c.arg("-i")
        .arg(dir.join("id"))
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-p",
            &port.to_string(),
            &format!("{user}@127.0.0.1"),
            command,
        ])
        .stdin(Stdio::null());
    harness::run_with_timeout(c, T)
}

/// Run `cmd`, panicking with its output if it fails.
fn run_ok(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_real_sshd_with_the_readme_config_forces_duo_login() {
    require_root!();
    if !Path::new(SSHD).exists() || Command::new("ssh").arg("-V").output().is_err() {
        eprintln!(
            "!! SKIPPED sshd::a_real_sshd_with_the_readme_config_forces_duo_login: no {SSHD} or ssh \
             (install openssh-server and openssh-client; .ci/run does)"
        );
        note_skipped();
        return;
    }
    let allow = local_user("allow-user");
    local_user("deny-user");
    // sshd refuses a locked account ("!" in shadow) without PAM; "*" is no password, not locked.
    for u in ["allow-user", "deny-user"] {
        run_ok(Command::new("usermod").args(["-p", "*", u]));
    }
    let (mock, d) = setup(DaemonOptions::default());
    let dir = tempfile::Builder::new()
        .prefix("duo-sshd")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let p = dir.path();
    for key in ["hostkey", "id"] {
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(p.join(key)),
        );
    }
    let public = fs::read_to_string(p.join("id.pub")).unwrap();
    let shim = format!(
        "{} -s {}",
        harness::bin("duo-login").display(),
        d.socket.display()
    );
    fs::create_dir(p.join("keys")).unwrap();
    for u in ["allow-user", "deny-user"] {
        fs::write(p.join("keys").join(u), &public).unwrap();
    }
    // Root's key names its Duo user, as an administrator's would.
    fs::write(
        p.join("keys/root"),
        format!("command=\"{shim} -f allow-user\" {public}"),
    )
    .unwrap();

    // The test's own lines (port, keys, no PAM), then the README's block unchanged but for the
    // shim's path (and its test socket).
    let readme = readme_sshd_config();
    assert!(readme.contains("Match User *,!root"), "{readme}");
    let config = format!(
        "ListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}/keys/%u\nStrictModes no\n\
         UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nLogLevel VERBOSE\n{}",
        p.join("hostkey").display(),
        p.display(),
        readme.replace("/usr/local/sbin/duo-login", &shim)
    );
    let cfg = p.join("sshd_config.duo");
    fs::write(&cfg, config).unwrap();
    fs::create_dir_all("/run/sshd").unwrap(); // privilege separation directory
    run_ok(Command::new(SSHD).arg("-t").arg("-f").arg(&cfg));

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = p.join("sshd.log");
    // The README's command, in the foreground (-D) with its log on stderr (-e) for the test.
    let sshd = Sshd {
        child: Command::new(SSHD)
            .args(["-D", "-e", "-p", &port.to_string(), "-f"])
            .arg(&cfg)
            .arg("-o")
            .arg(format!("PidFile={}", p.join("sshd.pid").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log,
    };
    let sshd_log = || fs::read_to_string(&sshd.log).unwrap_or_default();
    assert!(
        wait_for(T, || std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok()),
        "sshd did not listen: {}",
        sshd_log()
    );

    // A bypass user logs in by key and runs a command, through duo-login.
    let o = ssh(p, port, "allow-user", "echo LOGGED-IN-$((6*7)); id -u");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}\n{}",
        stderr(&o),
        sshd_log(),
        d.log_text()
    );
    assert_eq!(stdout(&o), format!("LOGGED-IN-42\n{}\n", allow.0));
    assert!(
        d.log_text().contains("Skipped Duo login for 'allow-user'"),
        "{}",
        d.log_text()
    );

    // A user Duo denies gets no command run.
    let o = ssh(p, port, "deny-user", "echo SHOULD-NOT-RUN");
    assert_ne!(o.status.code(), Some(0), "{}", d.log_text());
    assert!(!stdout(&o).contains("SHOULD-NOT-RUN"), "{}", stdout(&o));
    assert!(
        lines_with(&d, &["for 'deny-user'", "result=deny"]).len() == 1,
        "{}",
        d.log_text()
    );

    // Root's key command (-f allow-user) is not overridden: the Match block leaves root out.
    let o = ssh(p, port, "root", "echo ROOT-AS-ALLOW-USER");
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stderr(&o), sshd_log());
    assert_eq!(stdout(&o), "ROOT-AS-ALLOW-USER\n");
    assert_eq!(
        lines_with(&d, &["Skipped Duo login for 'allow-user'", "uid=0"]).len(),
        1,
        "{}",
        d.log_text()
    );
    assert!(mock.stats().requests > 0);
}
