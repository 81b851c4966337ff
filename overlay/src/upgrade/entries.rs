//! What the ESP says about each slot, and what a rollback does: pure
//! functions over the names in `loader/entries/` and whether a slot's kernel
//! and initramfs exist, so every decision is tested without an ESP.

use appliance_image::slots::{Counter, EntryName, Slot};
use serde::{Deserialize, Serialize};

/// One slot as the ESP shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub slot: Slot,
    /// The slot's entry (the first, should there be several).
    pub entry: Option<EntryName>,
    /// Its `/slot-x/vmlinuz` and `/slot-x/initrd.img` exist.
    pub files: bool,
}

impl SlotView {
    /// Reads the slot's entry from the entry directory's file names.
    pub fn of(slot: Slot, names: &[String], files: bool) -> SlotView {
        SlotView {
            slot,
            entry: names
                .iter()
                .filter_map(|n| EntryName::parse(n))
                .find(|e| e.slot == slot),
            files,
        }
    }

    /// Whether the running slot (this view) is on trial: its entry still has a
    /// boot counter, which systemd-bless-boot drops once the boot is good.
    /// (systemd-boot's `LoaderBootCountPath` variable is no witness: it stays
    /// set for the whole boot, after the blessing too.) A bad entry that runs
    /// because nothing else was left is not on trial.
    pub fn on_trial(&self) -> bool {
        self.entry
            .is_some_and(|e| e.counter.is_some() && !e.is_bad())
    }

    /// The slot's state, seen from a system running `running`.
    pub fn state(&self, running: Slot) -> SlotState {
        match self.entry {
            None => SlotState::Empty,
            Some(_) if !self.files => SlotState::Empty,
            Some(e) if e.is_bad() => SlotState::Bad,
            Some(EntryName { counter: None, .. }) => SlotState::Good,
            Some(EntryName {
                counter: Some(Counter { done: 0, .. }),
                ..
            }) if self.slot != running => SlotState::Staged,
            Some(EntryName {
                counter: Some(Counter { left, .. }),
                ..
            }) => SlotState::OnTrial { tries_left: left },
        }
    }
}

/// What a slot holds for systemd-boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum SlotState {
    /// No entry (or no kernel): nothing to boot.
    Empty,
    /// Blessed (or the factory slot): boots when it is the newest good one.
    Good,
    /// Tries left 0: boots only when nothing else is left.
    Bad,
    /// Booted on trial: blessed once `boot-complete.target` is reached.
    OnTrial { tries_left: u32 },
    /// Written by an upgrade and never booted: the next boot runs it.
    Staged,
}

impl std::fmt::Display for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotState::Empty => f.write_str("empty"),
            SlotState::Good => f.write_str("good"),
            SlotState::Bad => f.write_str("bad (failed its boot tries, or rolled back from)"),
            SlotState::OnTrial { tries_left } => {
                write!(f, "on trial, {tries_left} tries left")
            }
            SlotState::Staged => f.write_str("staged upgrade, not booted yet"),
        }
    }
}

/// The entries of `slot` among `names`: all of them go when it is invalidated.
pub fn entries_of(slot: Slot, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter(|n| EntryName::parse(n).is_some_and(|e| e.slot == slot))
        .cloned()
        .collect()
}

/// What `appliancectl rollback` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollback {
    /// The other slot holds an upgrade never booted: remove its entry.
    CancelStaged { entry: EntryName },
    /// Mark the running slot's entry bad (rename `from` to `to`), so the
    /// other slot boots next.
    MarkBad {
        from: EntryName,
        to: EntryName,
        other: Slot,
    },
}

/// Decides the rollback of a system running `running`; an error says why
/// there is nothing to roll back to.
pub fn rollback(running: &SlotView, other: &SlotView) -> Result<Rollback, String> {
    if let (Some(entry), SlotState::Staged) = (other.entry, other.state(running.slot)) {
        return Ok(Rollback::CancelStaged { entry });
    }
    match other.state(running.slot) {
        SlotState::Good | SlotState::OnTrial { .. } => {}
        state => {
            return Err(format!(
                "nothing to roll back to: slot {} is {state}",
                other.slot
            ))
        }
    }
    let from = running.entry.ok_or_else(|| {
        format!(
            "the running slot {} has no boot entry to mark bad: nothing to roll back",
            running.slot
        )
    })?;
    let done = from.counter.map_or(0, |c| c.done);
    Ok(Rollback::MarkBad {
        from,
        to: EntryName {
            slot: running.slot,
            counter: Some(Counter { left: 0, done }),
        },
        other: other.slot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(slot: Slot, name: Option<&str>, files: bool) -> SlotView {
        let names: Vec<String> = name.into_iter().map(String::from).collect();
        SlotView::of(slot, &names, files)
    }

    #[test]
    fn a_boot_is_on_trial_until_blessed() {
        let b = Slot::B;
        assert!(view(b, Some("lb-appliance-b+2-1.conf"), true).on_trial());
        // Blessed: systemd-bless-boot dropped the counter.
        assert!(!view(b, Some("lb-appliance-b.conf"), true).on_trial());
        // Bad, booted because nothing else was left.
        assert!(!view(b, Some("lb-appliance-b+0-3.conf"), true).on_trial());
    }

    #[test]
    fn states_from_names() {
        let a = Slot::A;
        assert_eq!(view(Slot::B, None, false).state(a), SlotState::Empty);
        assert_eq!(
            view(Slot::B, Some("lb-appliance-b.conf"), false).state(a),
            SlotState::Empty
        );
        assert_eq!(
            view(Slot::B, Some("lb-appliance-b.conf"), true).state(a),
            SlotState::Good
        );
        assert_eq!(
            view(Slot::B, Some("lb-appliance-b+3.conf"), true).state(a),
            SlotState::Staged
        );
        assert_eq!(
            view(Slot::B, Some("lb-appliance-b+2-1.conf"), true).state(a),
            SlotState::OnTrial { tries_left: 2 }
        );
        assert_eq!(
            view(Slot::B, Some("lb-appliance-b+2-1.conf"), true).state(Slot::B),
            SlotState::OnTrial { tries_left: 2 }
        );
        assert_eq!(
            view(Slot::B, Some("lb-appliance-b+0-3.conf"), true).state(a),
            SlotState::Bad
        );
        assert_eq!(
            view(Slot::B, Some("lb-appliance-a.conf"), true).state(a),
            SlotState::Empty
        );
    }

    #[test]
    fn invalidation_takes_every_name_of_the_slot() {
        let names: Vec<String> = [
            "lb-appliance-a.conf",
            "lb-appliance-b+3.conf",
            "lb-appliance-b.conf",
            "other.conf",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            entries_of(Slot::B, &names),
            ["lb-appliance-b+3.conf", "lb-appliance-b.conf"]
        );
    }

    #[test]
    fn rollback_decisions() {
        let running = view(Slot::A, Some("lb-appliance-a.conf"), true);
        // A staged upgrade is cancelled.
        let staged = view(Slot::B, Some("lb-appliance-b+3.conf"), true);
        assert_eq!(
            rollback(&running, &staged),
            Ok(Rollback::CancelStaged {
                entry: EntryName::parse("lb-appliance-b+3.conf").unwrap()
            })
        );
        // After an upgrade: running B on trial, A good → B marked bad.
        let b = view(Slot::B, Some("lb-appliance-b+2-1.conf"), true);
        let a = view(Slot::A, Some("lb-appliance-a.conf"), true);
        assert_eq!(
            rollback(&b, &a),
            Ok(Rollback::MarkBad {
                from: EntryName::parse("lb-appliance-b+2-1.conf").unwrap(),
                to: EntryName::parse("lb-appliance-b+0-1.conf").unwrap(),
                other: Slot::A
            })
        );
        let blessed = view(Slot::B, Some("lb-appliance-b.conf"), true);
        match rollback(&blessed, &a).unwrap() {
            Rollback::MarkBad { to, .. } => assert_eq!(to.file_name(), "lb-appliance-b+0.conf"),
            other => panic!("{other:?}"),
        }
        // Nothing to go back to.
        for other in [
            view(Slot::B, None, false),
            view(Slot::B, Some("lb-appliance-b+0-3.conf"), true),
            view(Slot::B, Some("lb-appliance-b.conf"), false),
        ] {
            let err = rollback(&running, &other).unwrap_err();
            assert!(err.starts_with("nothing to roll back to"), "{err}");
        }
    }
}
