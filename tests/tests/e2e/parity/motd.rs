//! Parity with login_duo: motd.

use super::*;

/// A line of /etc/motd to look for; writes a temporary /etc/motd (removed on drop) if there is none.
struct Motd {
    marker: String,
    created: bool,
}

impl Motd {
    fn get() -> Motd {
        let existing = fs::read_to_string("/etc/motd").unwrap_or_default();
        if let Some(line) = existing
            .lines()
            .map(str::trim)
            .find(|l| l.len() >= 8 && !l.chars().any(char::is_control))
        {
            return Motd {
                marker: line.to_string(),
                created: false,
            };
        }
        if Path::new("/etc/motd").exists() {
            // An empty or odd motd we must not replace: use it as is (the tests then only check "nothing broke").
            return Motd {
                marker: String::new(),
                created: false,
            };
        }
        let marker = "duo-authd parity test message of the day".to_string();
        fs::write("/etc/motd", format!("{marker}\n")).expect("write /etc/motd");
        Motd {
            marker,
            created: true,
        }
    }
}

impl Drop for Motd {
    fn drop(&mut self) {
        if self.created {
            let _ = fs::remove_file("/etc/motd");
        }
    }
}

/// One /etc/motd for the whole module, so concurrent tests do not race on it.
fn motd() -> &'static Mutex<Option<Motd>> {
    static MOTD: OnceLock<Mutex<Option<Motd>>> = OnceLock::new();
    MOTD.get_or_init(|| Mutex::new(None))
}

/// Run `f` with the marker of /etc/motd (creating and later removing one if needed).
fn with_motd(f: impl FnOnce(&str)) {
    let mut g = motd().lock().unwrap_or_else(|e| e.into_inner());
    if g.is_none() {
        *g = Some(Motd::get());
    }
    let marker = g.as_ref().map(|m| m.marker.clone()).unwrap_or_default();
    f(&marker);
    // Drop (and so remove a temporary motd) once this test is done with it.
    *g = None;
}

#[test]
fn motd_is_shown_after_an_interactive_login() {
    require_root!();
    with_motd(|marker| {
        let (_mock, d) = setup(DaemonOptions::default().top("motd = true"));
        let mut s = pty(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &[]);
        s.expect("Passcode or option", T).unwrap();
        s.send_line("1").unwrap();
        assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
        assert!(s.output().contains("LOGGED-IN"));
        assert!(s.output().contains(marker), "no motd:\n{}", s.output());
    });
}

#[test]
fn motd_is_not_shown_when_off_or_headless() {
    require_root!();
    with_motd(|marker| {
        if marker.is_empty() {
            return;
        }
        let (_mock, d) = setup(DaemonOptions::default());
        let mut s = pty(&d, &["-f", "push-user", "echo", "LOGGED-IN"], &[]);
        s.expect("Passcode or option", T).unwrap();
        s.send_line("1").unwrap();
        assert_eq!(s.wait(T).unwrap(), 0, "{}", s.output());
        assert!(!s.output().contains(marker), "{}", s.output());

        let (_mock, d) = setup(DaemonOptions::default().top("motd = true"));
        let o = login_as(&d, "push-user");
        assert_allowed(&o, &d);
        assert!(!stdout(&o).contains(marker), "{}", stdout(&o));
    });
}
