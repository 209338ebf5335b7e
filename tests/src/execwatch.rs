//! Exec and exit times of a child, as the kernel saw them, for the benchmark.
//!
//! The benchmark times "spawn of `duo-login` to the exec of `true`": only the kernel sees the exec
//! happen. On Linux the process-events connector reports it with a CLOCK_MONOTONIC timestamp,
//! without tracing the child or slowing it down (`execwatch/linux.rs`, root only). Other kernels
//! (illumos included) have no such feed here: [`ExecWatch::open`] says so, and the benchmark falls
//! back to timing each run to its exit.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(not(target_os = "linux"))]
mod other;
#[cfg(not(target_os = "linux"))]
use other as imp;

pub use imp::ExecWatch;

/// What happened to the watched process, in CLOCK_MONOTONIC nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    /// Each completed exec, in order (the first is the spawned program itself).
    pub execs: Vec<u64>,
    /// When it exited, if seen.
    pub exit: Option<u64>,
}

/// CLOCK_MONOTONIC now, in nanoseconds: the connector's clock (and a steady clock everywhere).
pub fn monotonic_ns() -> u64 {
    // SAFETY: timespec is plain data; all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: ts is valid for writes; clock_gettime cannot fail for CLOCK_MONOTONIC.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward() {
        let a = monotonic_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_ns() >= a + 1_000_000);
    }
}
