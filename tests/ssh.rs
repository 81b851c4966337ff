//! Commands run on the guest as root over SSH, from the management network's namespace, as
//! an admin would: OpenSSH's own client with the root password of the vApp properties,
//! handed over by an askpass program (`SSH_ASKPASS_REQUIRE=force`), since ssh reads a
//! password from nothing else without a terminal. The guest's host key is new on every
//! deployment, so it is not checked.
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use anyhow::{ensure, Context, Result};

use crate::netlab::Netns;

/// Root's shell on the guest at `host`, reached from `ns`.
pub struct Ssh<'a> {
    pub ns: &'a Netns,
    pub host: Ipv4Addr,
    askpass: PathBuf,
}

impl<'a> Ssh<'a> {
    /// Writes the askpass program for `password` into `workdir` (0700, root's only).
    pub fn new(ns: &'a Netns, host: Ipv4Addr, password: &str, workdir: &Path) -> Result<Self> {
        ensure!(
            !password.contains('\''),
            "the askpass program quotes the password in single quotes"
        );
        let askpass = workdir.join("ssh-askpass");
        std::fs::write(
            &askpass,
            format!("#!/bin/sh\nprintf '%s\\n' '{password}'\n"),
        )?;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700))?;
        Ok(Ssh { ns, host, askpass })
    }

    /// Runs `command` (a shell line) on the guest; its exit status is the caller's to judge.
    pub fn run(&self, command: &str) -> Result<Output> {
        self.exec(command, Stdio::null())
    }

    /// Runs `command` with the file at `input` as its standard input, as
    /// `ssh root@appliance command < file` does; an error unless it exits 0.
    pub fn ok_with_input(&self, command: &str, input: &Path) -> Result<Output> {
        let file =
            std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
        let out = self.exec(command, Stdio::from(file))?;
        ensure!(
            out.status.success(),
            "{command:?} < {} on the guest: {}\n{}",
            input.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(out)
    }

    fn exec(&self, command: &str, stdin: Stdio) -> Result<Output> {
        let out = self
            .ns
            .command("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=30",
            ])
            .arg(format!("root@{}", self.host))
            .arg(command)
            .env("SSH_ASKPASS", &self.askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .stdin(stdin)
            .output()
            .context("running ssh")?;
        // 255: ssh itself failed (connection, authentication), not the command.
        ensure!(
            out.status.code() != Some(255),
            "ssh root@{} {command:?}: {}",
            self.host,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(out)
    }

    /// Runs `command` and returns its standard output; an error unless it exits 0.
    pub fn ok(&self, command: &str) -> Result<Vec<u8>> {
        let out = self.run(command)?;
        ensure!(
            out.status.success(),
            "{command:?} on the guest: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(out.stdout)
    }
}
