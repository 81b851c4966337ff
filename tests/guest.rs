//! A QEMU guest for the tests: started from the builder's [`Vm`] with its
//! serial console in a file, watched with a deadline, and killed (by its own
//! PID) when the test is done or fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use builder::vm::qemu::{Serial, Vm};

use crate::console;

/// A running guest.
pub struct Guest {
    child: Child,
    serial: PathBuf,
    started: Instant,
}

impl Guest {
    /// Starts `vm`, whose serial console must go to a file.
    pub fn start(vm: &Vm, workdir: &Path) -> Result<Guest> {
        let Serial::File(serial) = &vm.serial else {
            bail!("test guests log their serial console to a file");
        };
        if serial.exists() {
            std::fs::remove_file(serial)?;
        }
        let stderr = std::fs::File::create(workdir.join("qemu.stderr"))?;
        let child = Command::new("qemu-system-x86_64")
            .args(vm.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("starting qemu-system-x86_64")?;
        Ok(Guest {
            child,
            serial: serial.clone(),
            started: Instant::now(),
        })
    }

    /// The console so far, colours stripped.
    pub fn console(&self) -> String {
        let bytes = std::fs::read(&self.serial).unwrap_or_default();
        console::strip_ansi(&String::from_utf8_lossy(&bytes))
    }

    /// Time since QEMU started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Polls the console until `done` returns a value, QEMU exits or
    /// `timeout` passes; errors carry the console's tail.
    pub fn wait_for<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&str) -> Option<T>,
    ) -> Result<T> {
        loop {
            let text = self.console();
            if let Some(v) = done(&text) {
                return Ok(v);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("QEMU exited ({status}) before {what}:\n{}", tail(&text, 60));
            }
            if self.started.elapsed() > timeout {
                bail!("no {what} within {timeout:?}:\n{}", tail(&text, 60));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
