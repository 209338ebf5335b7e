//! One user cannot act as another; nothing from the network reaches the terminal raw.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::common::*;
use crate::require_root;

#[test]
fn no_escape_byte_from_duo_reaches_the_terminal() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let mut s = interactive(&d, "escape-user");
    s.expect("Passcode or option", T).unwrap();
    s.send_line("1").unwrap();
    assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
    let raw = s.output_bytes();
    assert!(s.output().contains("ESC-TEST"), "{}", s.output());
    assert!(
        !raw.contains(&0x1b),
        "an ESC byte reached the terminal: {:?}",
        s.output()
    );
    assert!(
        !s.output().contains('\u{9b}'),
        "a C1 CSI reached the terminal"
    );
    assert!(!raw.contains(&0x07), "a BEL reached the terminal");
}

#[test]
fn unprivileged_user_cannot_use_f_and_authenticates_as_itself() {
    require_root!();
    let Some((uid, gid)) = harness::ensure_user("duotest1") else {
        panic!("could not create the test user duotest1");
    };
    let (mock, d) = setup(DaemonOptions::default());

    // The shim refuses -f early for a non-root user.
    let mut c = d.shim();
    c.uid(uid)
        .gid(gid)
        .args(["-f", "push-user", "echo", "LOGGED-IN"]);
    let o = harness::run_with_timeout(c, T);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("only root may use -f"),
        "{}",
        stderr(&o)
    );

    // A hand-made start frame asking for another Duo user is refused by the daemon (peer credentials).
    let mut c = std::process::Command::new(harness::bin("raw-client"));
    c.uid(uid)
        .gid(gid)
        .arg(&d.socket)
        .args(["--duo-user", "push-user"]);
    let o = harness::run_with_timeout(c, T);
    assert!(
        stdout(&o).contains("decision deny not_permitted"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        mock.stats().by_path.get("/auth/v2/preauth"),
        None,
        "the daemon asked Duo anyway"
    );

    // Without -f the same user authenticates as itself.
    let mut c = d.shim();
    c.uid(uid).gid(gid).args(["echo", "LOGGED-IN"]);
    let o = harness::run_with_timeout(c, T);
    assert_allowed(&o, &d);
    assert_eq!(
        mock.stats().last_params["/auth/v2/preauth"]
            .get("username")
            .map(String::as_str),
        Some("duotest1")
    );
    assert!(d.log_text().contains(&format!("uid={uid}")));
}

#[test]
fn shim_failmode_when_the_daemon_is_down() {
    require_root!();
    let (_mock, mut d) = setup(DaemonOptions::default());
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0));
    let o = d.run_headless(&["-f", "push-user", "echo", "LOGGED-IN"]);
    assert_denied(&o, &d);
    assert!(stderr(&o).contains("unavailable"), "{}", stderr(&o));
    let o = d.run_headless(&["--failmode", "safe", "-f", "push-user", "echo", "LOGGED-IN"]);
    assert_allowed(&o, &d);
}

#[test]
fn version_mismatch_gets_an_explicit_error() {
    require_root!();
    let (_mock, d) = setup(DaemonOptions::default());
    let mut c = std::process::Command::new(harness::bin("raw-client"));
    c.arg(&d.socket).args(["--version", "999"]);
    let o = harness::run_with_timeout(c, T);
    assert!(
        stdout(&o).contains("error VersionMismatch"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_pipelined_start_after_a_mismatched_hello_is_never_acted_on() {
    require_root!();
    use duo_authd_proto::{self as proto, ClientMsg, ErrorKind, ServerMsg};
    use std::io::Write;
    let (mock, d) = setup(DaemonOptions::default());
    let before = mock.stats();
    // What the shim does (Hello and Start in one write), but with a version the daemon does not speak.
    let mut buf = proto::encode(&ClientMsg::Hello { version: 999 }).unwrap();
    buf.extend(proto::encode(&ClientMsg::Start(harness::headless_request("push-user"))).unwrap());
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&buf).unwrap();
    match proto::read_frame::<_, ServerMsg>(&mut s).unwrap() {
        ServerMsg::Error { kind, .. } => assert_eq!(kind, ErrorKind::VersionMismatch),
        other => panic!("expected a version error, got {other:?}"),
    }
    assert!(
        matches!(
            proto::read_frame::<_, ServerMsg>(&mut s),
            Err(proto::FrameError::Closed)
        ),
        "the daemon kept talking after refusing the version"
    );
    let after = mock.stats();
    assert_eq!(
        after.by_path.get("/auth/v2/preauth"),
        before.by_path.get("/auth/v2/preauth"),
        "the pipelined Start reached Duo"
    );
}

#[test]
fn oversize_and_garbage_frames_close_only_that_client() {
    require_root!();
    use std::io::{Read, Write};
    let (_mock, d) = setup(DaemonOptions::default());
    let mut big = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    big.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let mut junk = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    junk.write_all(&[0, 0, 0, 3, 0xde, 0xad, 0xbe]).unwrap();
    for s in [&mut big, &mut junk] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
    assert_allowed(&login_as(&d, "allow-user"), &d);
}
