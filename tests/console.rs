//! Reading the serial console: ANSI colours stripped, and the report of the
//! image's `lb-bootcheck.service` (mounts, binary versions, final state,
//! failed units and the boot's errors, then an end marker) picked out of it.

/// Removes ANSI escape sequences (systemd colours its status lines).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// What the boot check reported.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BootCheck {
    /// `findmnt` lines: target, fstype, options.
    pub mounts: Vec<(String, String, String)>,
    /// Other lines before the state (the target's unit line, the binaries'
    /// `--version`).
    pub lines: Vec<String>,
    /// `running` or `degraded` (or another systemd state); `None` while booting.
    pub state: Option<String>,
    /// Everything after the state (failed units, errors of the boot).
    pub after: Vec<String>,
    /// The report's end marker was seen: `after` is the whole report.
    pub complete: bool,
}

impl BootCheck {
    /// The options of the mount at `target`.
    pub fn mount_options(&self, target: &str) -> Option<(&str, Vec<&str>)> {
        self.mounts
            .iter()
            .find(|(t, _, _)| t == target)
            .map(|(_, fs, o)| (fs.as_str(), o.split(',').collect()))
    }
}

impl BootCheck {
    /// The boots the journal holds (`journalctl --list-boots`): offset (0 is
    /// this boot, -1 the one before) and boot ID.
    pub fn journal_boots(&self) -> Vec<(i64, String)> {
        self.lines
            .iter()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let offset = words.next()?.parse().ok()?;
                let id = words.next()?;
                let is_id = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
                is_id.then(|| (offset, id.to_string()))
            })
            .collect()
    }
}

/// The last line of the report (`lb-bootcheck.service`'s last `ExecStopPost`).
const END: &str = "end of boot check";

const STATES: &[&str] = &["running", "degraded", "maintenance", "stopping", "starting"];

/// Parses the `lb-bootcheck[pid]: …` lines of a (colour-stripped) console log.
pub fn boot_check(console: &str) -> BootCheck {
    let mut check = BootCheck::default();
    for line in console.lines() {
        let Some(msg) = line
            .find("lb-bootcheck[")
            .and_then(|i| line[i..].split_once("]: "))
            .map(|(_, m)| m.trim_end())
        else {
            continue;
        };
        if check.state.is_some() {
            if msg == END {
                check.complete = true;
                break;
            }
            check.after.push(msg.to_string());
            continue;
        }
        let words: Vec<&str> = msg.split_whitespace().collect();
        match words.as_slice() {
            [state] if STATES.contains(state) => check.state = Some(state.to_string()),
            [target, fs, opts] if target.starts_with('/') => {
                check
                    .mounts
                    .push((target.to_string(), fs.to_string(), opts.to_string()))
            }
            _ => check.lines.push(msg.to_string()),
        }
    }
    check
}

/// Lines of systemd's `[FAILED]` status messages.
pub fn failed_lines(console: &str) -> Vec<String> {
    console
        .lines()
        .filter(|l| l.contains("[FAILED]"))
        .map(|l| l.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mmulti-user.target\x1b[0m\r\n\
        [   21.4] lb-bootcheck[345]: multi-user.target loaded active active Multi-User System\n\
        [   21.5] lb-bootcheck[346]: /      erofs  ro,relatime,user_xattr\n\
        lb1 login: [   21.9] lb-bootcheck[348]: /var/lib/lb-appliance ext4   rw,nosuid,nodev,noatime\n\
        [   22.6] lb-bootcheck[351]: lb 0.1.0\n\
        [   22.7] lb-bootcheck[352]: appliancectl 0.1.0\n\
        [   22.8] lb-bootcheck[353]: IDX BOOT ID                          FIRST ENTRY                 LAST ENTRY\n\
        [   22.8] lb-bootcheck[353]:  -1 5b2c0e3f6a4d4e0c9b1a2f3e4d5c6b7a Wed 2026-12-02 07:00:01 UTC Wed 2026-12-02 07:01:09 UTC\n\
        [   22.8] lb-bootcheck[353]:   0 0123456789abcdef0123456789abcdef Wed 2026-12-02 07:02:00 UTC Wed 2026-12-02 07:02:22 UTC\n\
        [   23.1] lb-bootcheck[353]: degraded\n\
        [   23.2] lb-bootcheck[355]: ssh.service loaded failed failed OpenBSD Secure Shell server\n\
        [\x1b[0;1;31mFAILED\x1b[0m] Failed to start \x1b[0;1;39mssh.service\x1b[0m.\n\
        [   23.3] lb-bootcheck[356]: end of boot check\n";

    /// The marker is the last thing the image's boot check prints.
    #[test]
    fn the_boot_check_unit_ends_with_the_marker() {
        let unit = include_str!("../overlay/files/usr/lib/systemd/system/lb-bootcheck.service");
        let last = unit
            .lines()
            .rfind(|l| l.starts_with("ExecStopPost="))
            .expect("lb-bootcheck.service has ExecStopPost lines");
        assert!(last.ends_with(&format!("echo \"{END}\"'")), "{last}");
    }

    #[test]
    fn ansi_colours_are_removed() {
        let s = strip_ansi(LOG);
        assert!(s.starts_with("  OK  ] Reached target multi-user.target\n"));
        assert!(!s.contains('\x1b'));
    }

    #[test]
    fn boot_check_lines_are_read() {
        let s = strip_ansi(LOG);
        let c = boot_check(&s);
        assert_eq!(c.mount_options("/").unwrap().0, "erofs");
        assert!(c.mount_options("/").unwrap().1.contains(&"ro"));
        assert!(c
            .mount_options("/var/lib/lb-appliance")
            .unwrap()
            .1
            .contains(&"rw"));
        assert_eq!(
            c.lines[..3],
            [
                "multi-user.target loaded active active Multi-User System",
                "lb 0.1.0",
                "appliancectl 0.1.0"
            ]
        );
        assert_eq!(
            c.journal_boots(),
            [
                (-1, "5b2c0e3f6a4d4e0c9b1a2f3e4d5c6b7a".to_string()),
                (0, "0123456789abcdef0123456789abcdef".to_string())
            ]
        );
        assert_eq!(c.state.as_deref(), Some("degraded"));
        assert_eq!(c.after.len(), 1);
        assert!(c.complete);
        let cut = s.find("[   23.3]").unwrap();
        assert!(
            !boot_check(&s[..cut]).complete,
            "complete before the marker"
        );
        assert_eq!(failed_lines(&s), ["[FAILED] Failed to start ssh.service."]);
    }
}
