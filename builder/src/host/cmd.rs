//! Running the real host tools. Output is captured so progress bars stay
//! readable; on failure the error carries the command line and the tail of
//! its output, which is what one needs to fix the problem.

use std::process::{Command, Output};

use anyhow::{bail, Context, Result};

/// How many trailing lines of a failed command's output the error shows.
const TAIL_LINES: usize = 40;

/// The command line as a user would type it (for errors and logs).
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion and fails with its output's tail if it fails.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let line = display(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{line}` (is the tool installed?)"))?;
    if !out.status.success() {
        bail!(
            "`{line}` failed ({}):\n{}",
            out.status,
            tail(&out.stdout, &out.stderr)
        );
    }
    Ok(out)
}

/// Runs `cmd` and returns its standard output as text.
pub fn stdout(cmd: &mut Command) -> Result<String> {
    let out = run(cmd)?;
    String::from_utf8(out.stdout).context("command output is not UTF-8")
}

fn tail(stdout: &[u8], stderr: &[u8]) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reports_command_and_output() {
        let err = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`sh -c"), "{err}");
        assert!(err.contains("out\nerr"), "{err}");
    }

    #[test]
    fn missing_tool_is_named() {
        let err = run(&mut Command::new("no-such-tool-xyz")).unwrap_err();
        assert!(format!("{err:#}").contains("no-such-tool-xyz"));
    }
}
