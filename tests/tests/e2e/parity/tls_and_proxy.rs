//! Parity with login_duo: noverify, http_proxy.

use super::*;

#[test]
fn noverify_accepts_a_self_signed_certificate_with_a_warning() {
    require_root!();
    for cert in [CertKind::SelfSigned, CertKind::WrongName] {
        let mut opts = DaemonOptions::default()
            .top("noverify = true")
            .top("failmode = \"secure\"");
        opts.no_cafile = true;
        let (_mock, d) = setup_with(
            MockOptions {
                cert,
                ..MockOptions::default()
            },
            opts,
        );
        assert_allowed(&login_as(&d, "push-user"), &d);
        log_line(&d, "noverify");
        log_line(&d, "Successful Duo login for 'push-user'");
    }
}

#[test]
fn self_signed_certificate_without_noverify_is_a_failmode_fault() {
    require_root!();
    let mut opts = DaemonOptions::default().top("failmode = \"secure\"");
    opts.no_cafile = true;
    let (_mock, d) = setup_with(
        MockOptions {
            cert: CertKind::SelfSigned,
            ..MockOptions::default()
        },
        opts,
    );
    assert_denied(&login_as(&d, "push-user"), &d);
    log_line(&d, "Failsecure Duo login for 'push-user'");
}

/// A minimal HTTP CONNECT proxy on 127.0.0.1 that records the targets asked for.
struct ConnectProxy {
    port: u16,
    targets: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = l.local_addr().expect("addr").port();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || Self::serve(conn, &seen));
            }
        });
        ConnectProxy { port, targets }
    }

    fn serve(mut client: TcpStream, seen: &Mutex<Vec<String>>) {
        // Read the request head byte by byte, so nothing after it is consumed.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            match client.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut words = head.split_whitespace();
        let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
            let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
            return;
        };
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(target.to_string());
        let Ok(upstream) = TcpStream::connect(target) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
            return;
        };
        if client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return;
        }
        let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
            return;
        };
        let mut upstream = upstream;
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut upstream);
            let _ = upstream.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut u2, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Write);
        let _ = up.join();
    }
}

#[test]
fn http_proxy_tunnels_to_duo() {
    require_root!();
    let proxy = ConnectProxy::start();
    let mock = MockDuo::start(MockOptions::default()).expect("mock starts");
    let d = DaemonProc::start(
        &mock,
        DaemonOptions::default()
            .top(&format!("http_proxy = \"http://127.0.0.1:{}\"", proxy.port))
            .top("failmode = \"secure\""),
    );
    assert_allowed(&login_as(&d, "push-user"), &d);
    let targets = proxy.targets.lock().unwrap().clone();
    assert!(
        targets.contains(&format!("localhost:{}", mock.addr().port())),
        "{targets:?}"
    );
    log_line(&d, "through the HTTP proxy");
}

#[test]
fn http_proxy_unreachable_follows_failmode() {
    require_root!();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_mock, d) = setup(
        DaemonOptions::default()
            .top(&format!("http_proxy = \"http://127.0.0.1:{port}\""))
            .top("failmode = \"secure\""),
    );
    assert_denied(&login_as(&d, "push-user"), &d);
    log_line(&d, "Failsecure Duo login for 'push-user'");
}
