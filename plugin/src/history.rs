//! The logic behind the editor's undo/redo of bakes and its A/B switch, kept apart
//! from the widgets so it can be tested on its own.
//!
//! [`BakeHistory`] holds the last [`HISTORY_LEN`] bakes, each with the settings
//! before and after it, its prompt and its `S_C`. The bridge records a bake when it
//! applies one ([`BakeHistory::record`]). Undo returns the settings before the
//! newest applied bake, redo the settings after the next one; recording a bake after
//! an undo drops the bakes that were undone (as every editor's undo does).
//!
//! A/B compares the settings now (A, which may include the user's own tweaks since
//! the bake) with the settings before the newest applied bake (B). Switching to B
//! remembers A; switching back returns it. A new bake, undo or redo ends the
//! comparison (their result is the new A).
//!
//! The caller applies the [`Setting`]s these functions return; parameters the user
//! is holding are skipped there ([`crate::bake::apply_setting`]).

use std::collections::VecDeque;

use faurge_dsp::state::DspState;
use faurge_instance::ir::StoredIr;

use crate::params::FaurgeParams;

/// Bakes kept for undo/redo.
pub const HISTORY_LEN: usize = 20;

/// What a bake changes: every parameter and the impulse response.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// The chain's parameters.
    pub state: DspState,
    /// The impulse response (`None`: none loaded).
    pub ir: Option<StoredIr>,
}

impl Setting {
    /// What `params` hold now.
    pub fn of(params: &FaurgeParams) -> Setting {
        Setting {
            state: params.dsp_state(),
            ir: params.ir(),
        }
    }
}

/// One applied bake.
#[derive(Clone, Debug, PartialEq)]
pub struct BakeEntry {
    /// What the user typed.
    pub prompt: String,
    /// What the helper's sanitizer understood.
    pub understood: String,
    /// `S_C` of the best round (the one applied), 0–1.
    pub similarity: f32,
    /// Whether the loop reached its threshold.
    pub converged: bool,
    /// The settings before the bake.
    pub before: Setting,
    /// The settings the bake applied (held parameters keep their values).
    pub after: Setting,
}

/// A/B comparison state.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per instance, on the main thread
enum Ab {
    /// Showing the current settings.
    A,
    /// Showing B; `a` is what to return to.
    B { a: Setting },
}

/// The last [`HISTORY_LEN`] bakes with an undo cursor, and the A/B switch.
#[derive(Clone, Debug)]
pub struct BakeHistory {
    entries: VecDeque<BakeEntry>,
    /// `entries[..applied]` are in effect; the rest were undone.
    applied: usize,
    ab: Ab,
    /// Bumped by every change, so an editor can tell when to refresh.
    revision: u64,
}

impl Default for BakeHistory {
    fn default() -> Self {
        BakeHistory {
            entries: VecDeque::with_capacity(HISTORY_LEN + 1),
            applied: 0,
            ab: Ab::A,
            revision: 0,
        }
    }
}

impl BakeHistory {
    /// Records a bake that was just applied: it becomes the newest, bakes undone
    /// before it are dropped, the oldest is dropped past [`HISTORY_LEN`], and an A/B
    /// comparison ends.
    pub fn record(&mut self, entry: BakeEntry) {
        self.entries.truncate(self.applied);
        self.entries.push_back(entry);
        while self.entries.len() > HISTORY_LEN {
            self.entries.pop_front();
        }
        self.applied = self.entries.len();
        self.ab = Ab::A;
        self.revision += 1;
    }

    /// The bakes, oldest first.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &BakeEntry> + DoubleEndedIterator {
        self.entries.iter()
    }

    /// How many of [`Self::entries`] are in effect (the rest were undone).
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// The newest bake in effect.
    pub fn current(&self) -> Option<&BakeEntry> {
        self.applied
            .checked_sub(1)
            .and_then(|i| self.entries.get(i))
    }

    /// Changes whenever the history or the A/B state changes.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether [`Self::undo`] has something to undo.
    pub fn can_undo(&self) -> bool {
        self.applied > 0
    }

    /// Whether [`Self::redo`] has something to redo.
    pub fn can_redo(&self) -> bool {
        self.applied < self.entries.len()
    }

    /// Undoes the newest bake in effect: returns the settings before it.
    pub fn undo(&mut self) -> Option<Setting> {
        let i = self.applied.checked_sub(1)?;
        self.applied = i;
        self.ab = Ab::A;
        self.revision += 1;
        Some(self.entries[i].before.clone())
    }

    /// Redoes the next undone bake: returns the settings it applied.
    pub fn redo(&mut self) -> Option<Setting> {
        let entry = self.entries.get(self.applied)?.after.clone();
        self.applied += 1;
        self.ab = Ab::A;
        self.revision += 1;
        Some(entry)
    }

    /// Whether A/B can switch (a bake is in effect, or B is showing).
    pub fn can_compare(&self) -> bool {
        matches!(self.ab, Ab::B { .. }) || self.current().is_some()
    }

    /// Whether B (the settings before the newest bake) is showing.
    pub fn showing_b(&self) -> bool {
        matches!(self.ab, Ab::B { .. })
    }

    /// Flips A/B. `now` is what the chain runs at this moment. Returns the settings to
    /// apply: B (before the newest bake) when switching to B, else the A remembered
    /// when B was switched on. `None` when there is nothing to compare.
    pub fn toggle_ab(&mut self, now: Setting) -> Option<Setting> {
        let next = match std::mem::replace(&mut self.ab, Ab::A) {
            Ab::B { a } => Some(a),
            Ab::A => {
                let b = self.current()?.before.clone();
                self.ab = Ab::B { a: now };
                Some(b)
            }
        };
        self.revision += 1;
        next
    }

    /// Ends an A/B comparison without switching back (the user changed a parameter
    /// while B was showing, so B with their change is the new A).
    pub fn end_compare(&mut self) {
        if self.showing_b() {
            self.ab = Ab::A;
            self.revision += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(gain_db: f32) -> Setting {
        let state = DspState {
            output_trim_db: gain_db,
            ..DspState::default()
        };
        Setting { state, ir: None }
    }

    fn bake(history: &mut BakeHistory, before: f32, after: f32) {
        history.record(BakeEntry {
            prompt: format!("bake to {after}"),
            understood: String::new(),
            similarity: 0.5,
            converged: false,
            before: setting(before),
            after: setting(after),
        });
    }

    #[test]
    fn undo_and_redo_walk_the_bakes() {
        let mut h = BakeHistory::default();
        assert!(!h.can_undo() && !h.can_redo());
        assert_eq!(h.undo(), None);
        bake(&mut h, 0.0, 1.0);
        bake(&mut h, 1.0, 2.0);
        assert_eq!(h.undo(), Some(setting(1.0)));
        assert_eq!(h.undo(), Some(setting(0.0)));
        assert_eq!(h.undo(), None, "nothing before the first bake");
        assert!(h.can_redo());
        assert_eq!(h.redo(), Some(setting(1.0)));
        assert_eq!(h.redo(), Some(setting(2.0)));
        assert_eq!(h.redo(), None);
        assert_eq!(h.current().unwrap().prompt, "bake to 2");
    }

    #[test]
    fn a_bake_after_undo_drops_the_undone_bakes() {
        let mut h = BakeHistory::default();
        bake(&mut h, 0.0, 1.0);
        bake(&mut h, 1.0, 2.0);
        h.undo();
        bake(&mut h, 1.0, 3.0);
        let after: Vec<f32> = h.entries().map(|e| e.after.state.output_trim_db).collect();
        assert_eq!(after, [1.0, 3.0]);
        assert!(!h.can_redo());
    }

    #[test]
    fn keeps_the_last_twenty_bakes() {
        let mut h = BakeHistory::default();
        for k in 0..25 {
            bake(&mut h, k as f32, k as f32 + 1.0);
        }
        assert_eq!(h.entries().len(), HISTORY_LEN);
        assert_eq!(h.applied(), HISTORY_LEN);
        assert_eq!(h.entries().next().unwrap().before, setting(5.0));
        for _ in 0..HISTORY_LEN {
            assert!(h.undo().is_some());
        }
        assert_eq!(h.undo(), None);
    }

    #[test]
    fn ab_switches_between_now_and_before_the_last_bake() {
        let mut h = BakeHistory::default();
        assert!(!h.can_compare());
        assert_eq!(
            h.toggle_ab(setting(9.0)),
            None,
            "no bake: nothing to compare"
        );
        assert!(!h.showing_b());
        bake(&mut h, 0.0, 1.0);
        // The user tweaked the baked settings to 1.5 dB: A is that, not the bake.
        assert_eq!(h.toggle_ab(setting(1.5)), Some(setting(0.0)));
        assert!(h.showing_b());
        assert_eq!(h.toggle_ab(setting(0.0)), Some(setting(1.5)));
        assert!(!h.showing_b());
    }

    #[test]
    fn a_new_bake_or_undo_ends_the_comparison() {
        let mut h = BakeHistory::default();
        bake(&mut h, 0.0, 1.0);
        h.toggle_ab(setting(1.0));
        bake(&mut h, 0.0, 2.0);
        assert!(!h.showing_b());
        h.toggle_ab(setting(2.0));
        h.undo();
        assert!(!h.showing_b());
        bake(&mut h, 0.0, 3.0);
        h.toggle_ab(setting(3.0));
        h.end_compare();
        assert!(!h.showing_b());
        let r = h.revision();
        h.end_compare();
        assert_eq!(h.revision(), r, "ending twice changes nothing");
    }
}
