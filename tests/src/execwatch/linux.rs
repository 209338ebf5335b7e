//! Linux: exec and exit events from the kernel's process-events connector (netlink, root only).

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::Timeline;

/// `NETLINK_CONNECTOR` from `<linux/netlink.h>`.
const NETLINK_CONNECTOR: i32 = 11;
/// `CN_IDX_PROC` / `CN_VAL_PROC` from `<linux/connector.h>`.
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN` from `<linux/cn_proc.h>`.
const PROC_CN_MCAST_LISTEN: u32 = 1;
/// `proc_event.what` values.
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `NLMSG_DONE`: the connector sends every event as a "done" message.
const NLMSG_DONE: u16 = 3;
/// Size of `struct nlmsghdr` and `struct cn_msg`.
const NLMSG_HDR: usize = 16;
const CN_MSG_HDR: usize = 20;

/// A subscription to process events.
pub struct ExecWatch {
    /// The netlink socket subscribed to the connector's multicast group.
    fd: OwnedFd,
}

impl ExecWatch {
    /// Subscribe; fails without root or without `CONFIG_PROC_EVENTS`.
    pub fn open() -> io::Result<ExecWatch> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                NETLINK_CONNECTOR,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_nl is plain data; all-zero is valid.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        addr.nl_groups = CN_IDX_PROC;
        // SAFETY: addr is a valid sockaddr_nl of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let big: libc::c_int = 4 << 20;
        // SAFETY: setsockopt with a c_int value of the size passed; failure only means a smaller buffer.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&big as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as u32,
            );
        }
        let mut msg = Vec::with_capacity(NLMSG_HDR + CN_MSG_HDR + 4);
        let total = (NLMSG_HDR + CN_MSG_HDR + 4) as u32;
        msg.extend(total.to_ne_bytes());
        msg.extend(NLMSG_DONE.to_ne_bytes());
        msg.extend(0u16.to_ne_bytes()); // flags
        msg.extend(0u32.to_ne_bytes()); // seq
        msg.extend(std::process::id().to_ne_bytes());
        msg.extend(CN_IDX_PROC.to_ne_bytes());
        msg.extend(CN_VAL_PROC.to_ne_bytes());
        msg.extend(0u32.to_ne_bytes()); // seq
        msg.extend(0u32.to_ne_bytes()); // ack
        msg.extend(4u16.to_ne_bytes()); // len of the op
        msg.extend(0u16.to_ne_bytes()); // flags
        msg.extend(PROC_CN_MCAST_LISTEN.to_ne_bytes());
        // SAFETY: msg is a valid buffer of the length passed.
        let sent = unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let watch = ExecWatch { fd };
        watch.set_timeout(Duration::from_millis(200))?;
        Ok(watch)
    }

    /// Bound each receive, so a lost event cannot hang the benchmark.
    fn set_timeout(&self, d: Duration) -> io::Result<()> {
        let tv = libc::timeval {
            tv_sec: d.as_secs() as libc::time_t,
            tv_usec: d.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: setsockopt with a timeval of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Collect the execs of `pid` until its exit event (call after the child was reaped).
    pub fn timeline(&self, pid: u32) -> io::Result<Timeline> {
        let mut t = Timeline::default();
        let mut buf = [0u8; 1024];
        loop {
            // SAFETY: buf is valid for writes of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let Some((what, ts, event_pid)) = parse(&buf[..n as usize]) else {
                continue;
            };
            if event_pid != pid {
                continue;
            }
            match what {
                PROC_EVENT_EXEC => t.execs.push(ts),
                PROC_EVENT_EXIT => {
                    t.exit = Some(ts);
                    return Ok(t);
                }
                _ => {}
            }
        }
    }
}

/// `(what, timestamp_ns, pid)` of one connector message; for exec and exit the pid is the first field.
fn parse(m: &[u8]) -> Option<(u32, u64, u32)> {
    let ev = m.get(NLMSG_HDR + CN_MSG_HDR..)?;
    let what = u32::from_ne_bytes(ev.get(0..4)?.try_into().ok()?);
    let ts = u64::from_ne_bytes(ev.get(8..16)?.try_into().ok()?);
    let pid = u32::from_ne_bytes(ev.get(16..20)?.try_into().ok()?);
    Some((what, ts, pid))
}

#[cfg(test)]
mod tests {
    use super::super::monotonic_ns;
    use super::*;

    #[test]
    fn sees_the_exec_of_a_child() {
        if !crate::harness::is_root() {
            eprintln!("skipped: the process-events connector needs root");
            return;
        }
        let w = match ExecWatch::open() {
            Ok(w) => w,
            Err(e) => {
                eprintln!("skipped: no process-events connector here: {e}");
                return;
            }
        };
        let t0 = monotonic_ns();
        let mut c = std::process::Command::new("/bin/sh");
        c.args(["-c", "exec /bin/true"]);
        let mut child = c.spawn().unwrap();
        let pid = child.id();
        assert!(child.wait().unwrap().success());
        let t = w.timeline(pid).unwrap();
        assert_eq!(t.execs.len(), 2, "{t:?}");
        assert!(t.execs[0] >= t0 && t.execs[1] >= t.execs[0], "{t:?}");
        assert!(t.exit.unwrap() >= t.execs[1]);
    }
}
