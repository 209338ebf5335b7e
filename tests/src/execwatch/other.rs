//! Kernels without Linux's process-events connector: no exec timestamps, said plainly.

use std::io;

use super::Timeline;

/// Never constructed here: [`ExecWatch::open`] always fails on this platform.
pub struct ExecWatch {
    /// Keeps the type uninhabited, so `timeline` can never run.
    never: std::convert::Infallible,
}

impl ExecWatch {
    /// Always `Unsupported`: kernel exec timing uses Linux's process-events connector.
    pub fn open() -> io::Result<ExecWatch> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "kernel exec timing uses Linux's process-events connector, which {} does not have",
                std::env::consts::OS
            ),
        ))
    }

    /// Unreachable: no `ExecWatch` exists on this platform.
    pub fn timeline(&self, _pid: u32) -> io::Result<Timeline> {
        match self.never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_says_it_is_linux_only() {
        let e = ExecWatch::open()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("Linux's process-events connector"), "{e}");
    }
}
