//! Shared by the tests that build network namespaces of their own.
use std::process::{Command, Output};

/// Runs `ip ARGS…` and checks it worked.
pub fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
