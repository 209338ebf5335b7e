//! Linux: children die with their parent (`prctl(PR_SET_PDEATHSIG)` set between fork and exec).

use std::os::unix::process::CommandExt;
use std::process::Command;

/// SIGKILL `cmd`'s process when the thread that spawned it exits. The kernel clears this when the
/// child changes its user id, so a daemon that drops privileges relies on the drop guard alone.
pub(super) fn die_with_parent(cmd: &mut Command) {
    // SAFETY: getpid before the fork; in the child, only async-signal-safe calls (prctl, getppid, _exit).
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died between fork and prctl: nobody is left to reap us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
