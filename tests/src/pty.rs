//! A pseudo-terminal for driving `duo-login` as a person would: it sees a TTY on stdin/stdout.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process on the slave side of a pty, with everything it prints collected.
pub struct PtySession {
    /// The running child.
    pub child: Child,
    /// Write end (the keyboard).
    master: File,
    /// Everything the child wrote to its terminal so far (raw bytes).
    output: Arc<Mutex<Vec<u8>>>,
}

impl PtySession {
    /// Start `cmd` with stdin, stdout and stderr on a new pty as its controlling terminal.
    pub fn spawn(mut cmd: Command) -> std::io::Result<PtySession> {
        let (mut master_fd, mut slave_fd) = (0, 0);
        // SAFETY: openpty writes two fds into the provided ints; null name/termios/winsize are allowed.
        // (null_mut for all three: libc declares termios/winsize `*const` on Linux and illumos but
        // `*mut` on Solaris, and a `*mut` null fits both.)
        let rc = unsafe {
            libc::openpty(
                &mut master_fd,
                &mut slave_fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both fds were just returned by openpty and are owned by nobody else.
        let (master, slave) = unsafe {
            (
                OwnedFd::from_raw_fd(master_fd),
                OwnedFd::from_raw_fd(slave_fd),
            )
        };
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe and only touch the child.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let master = File::from(master);
        let mut reader = master.try_clone()?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut o) = sink.lock() {
                            o.extend_from_slice(&buf[..n]);
                        }
                    }
                }
            }
        });
        let _ = master.as_raw_fd();
        Ok(PtySession {
            child,
            master,
            output,
        })
    }

    /// Everything printed so far, as raw bytes.
    pub fn output_bytes(&self) -> Vec<u8> {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Everything printed so far, lossily as text.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output_bytes()).into_owned()
    }

    /// Wait until the output contains `needle`, or fail after `timeout` with what was seen.
    pub fn expect(&self, needle: &str, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.output().contains(needle) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "timed out waiting for {needle:?}; output so far:\n{}",
            self.output()
        ))
    }

    /// Type a line, as a person would.
    pub fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        self.master.write_all(line.as_bytes())?;
        self.master.write_all(b"\n")?;
        self.master.flush()
    }

    /// Wait for the child to exit (killing it after `timeout`) and return its exit code (-1 if killed by a signal).
    pub fn wait(&mut self, timeout: Duration) -> Result<i32, String> {
        let end = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => {
                    // Give the reader thread a moment to collect the last bytes.
                    std::thread::sleep(Duration::from_millis(50));
                    return Ok(st.code().unwrap_or(-1));
                }
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    let _ = self.child.kill();
                    return Err(format!(
                        "child did not exit within {timeout:?}; output:\n{}",
                        self.output()
                    ));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}
