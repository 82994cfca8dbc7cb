//! The bake report: what the sanitizer understood and every round's figures.
//! It travels inside [`BakeResult`](crate::BakeResult) and is what the CLI's
//! `--report` writes as JSON. The helper's loop fills it; this crate only defines
//! and transports it.

use faurge_dsp::state::DspState;
use serde::{Deserialize, Serialize};

use crate::stage::Stage;

/// Everything about one bake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BakeReport {
    /// The prompt as typed and as understood.
    pub prompt: PromptReport,
    /// One entry per round run, in order.
    pub rounds: Vec<RoundReport>,
    /// The round whose result was returned (1-based).
    pub best_round: u32,
    /// The stopping threshold used.
    pub threshold: f32,
    /// Whether `S_C ≥ threshold` was reached.
    pub converged: bool,
    /// Highest model memory in use at once, bytes.
    pub peak_memory_bytes: u64,
    /// The budget it had to stay under, bytes.
    pub memory_budget_bytes: u64,
    /// The inference backend.
    pub backend: String,
    /// Snapshot received → result sent, ms.
    pub total_ms: f64,
    /// Measurements of the snapshot.
    pub input_metrics: Option<MetricsSummary>,
    /// Measurements of the best round's shadow bake.
    pub output_metrics: Option<MetricsSummary>,
    /// Cosine of the prompt's (or reference's) embedding and the unprocessed
    /// snapshot's: how much it already sounds like the target. The rounds' S_C is
    /// directional (it scores the change a render makes), so it is 0 for the input.
    #[serde(default)]
    pub input_similarity: f32,
    /// The measurable goals the prompt set for this input, and how the result did.
    #[serde(default)]
    pub goals: Vec<GoalReport>,
    /// What the restoration stages found in the snapshot and what was done.
    #[serde(default)]
    pub restoration: Vec<RestorationNote>,
    /// Whether anything was applied (false: the snapshot could not be judged, or
    /// nothing did better than leaving the sound alone; `verdict` says why).
    #[serde(default = "yes")]
    pub applied: bool,
    /// The outcome in words: whether the prompt was met, what was found and done.
    #[serde(default)]
    pub verdict: String,
}

fn yes() -> bool {
    true
}

/// One measurable goal of the prompt (a quantity of the descriptor table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalReport {
    /// Quantity id (`warmth`, `loudness`, …).
    pub quantity: String,
    /// How it is met: `exactly`, `at_least`, `at_most`.
    pub kind: String,
    /// The value asked for, in `unit`.
    pub target: f32,
    /// The input's value (absent for the room Faurge adds).
    pub input: Option<f32>,
    /// The returned result's value.
    pub output: Option<f32>,
    /// Unit of the values (`dB`, `LUFS`, …).
    pub unit: String,
    /// Whether the result meets it within the quantity's margin.
    pub met: bool,
    /// The terms of the prompt behind it ("warmer +1").
    pub because: Vec<String>,
}

/// One restoration stage: what the snapshot showed and what was done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestorationNote {
    /// Stage name (`noise reduction`, `de-clicker`, …).
    pub stage: String,
    /// What was measured ("noise floor −52 dBFS, SNR 18 dB").
    pub found: String,
    /// What was done ("reduced by 12 dB"; "left off").
    pub done: String,
    /// Whether the stage is on in the result.
    pub enabled: bool,
}

impl BakeReport {
    /// The round that was applied (`best_round`), if the report lists it.
    pub fn best(&self) -> Option<&RoundReport> {
        self.rounds.iter().find(|r| r.round == self.best_round)
    }
}

/// The sanitizer's work (Phase 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptReport {
    /// As typed.
    pub original: String,
    /// What the encoders saw.
    pub understood: String,
    /// Whether the anchor prompt replaced a vague one.
    pub anchor: bool,
    /// The edits, in order.
    pub edits: Vec<PromptEdit>,
    /// What the prompt was read as, in one line ("warmer +1, less sibilant −1,
    /// target −16 LUFS").
    #[serde(default)]
    pub intent: String,
    /// Requests that cannot be carried out, in words.
    #[serde(default)]
    pub unsupported: Vec<String>,
}

/// One sanitizer edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptEdit {
    /// Why.
    pub kind: EditKind,
    /// The text replaced (or removed).
    pub from: String,
    /// The replacement (empty when removed).
    pub to: String,
}

/// The kind of a sanitizer edit: one definition, the sanitizer's
/// (`faurge_vocabulary::sanitizer::EditKind`, serialized in `snake_case`).
pub use faurge_vocabulary::sanitizer::EditKind;

/// One round of the loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundReport {
    /// 1-based.
    pub round: u32,
    /// Accumulated target LTAS, `[64]` dB re total power (faurge-dsp's `T_LTAS`).
    pub target_ltas_db: Vec<f32>,
    /// Target integrated loudness, LUFS (ITU-R BS.1770).
    pub target_lufs: f32,
    /// Target dynamics `[crest factor dB, zero-crossing rate Hz]`.
    pub target_dyn: [f32; 2],
    /// `S_C = cos(e_text, e_audio)` of this round's shadow bake.
    pub similarity: f32,
    /// Fabian's reading of this round's shadow bake: the RMS over the unmasked
    /// bands of the `ΔT_LTAS` it outputs on it, after removing the mean (a level
    /// offset is not a gap), dB. What is left to correct, as Fabian sees it.
    #[serde(default)]
    pub fabian_gap_db: f32,
    /// How far this round's shadow bake is from the round-1 targets (the
    /// blueprint `T_1`): RMS over the unmasked bands of `T_1,LTAS − M_LTAS` after
    /// removing the mean, dB. The loop returns the round where it is smallest.
    #[serde(default)]
    pub blueprint_distance_db: f32,
    /// Fabian's flag: the correction needs an IR.
    pub requires_genesis: bool,
    /// How many of the prompt's goals this round's shadow bake meets.
    #[serde(default)]
    pub goals_met: u32,
    /// Ursula's settings this round.
    pub dsp_state: DspState,
    /// Genesis's IR parameters (empty when Genesis did not run).
    pub ir_params: Vec<f32>,
    /// Time per stage, ms, in the order run.
    pub timings_ms: Vec<(Stage, f64)>,
}

/// A few measurements of a signal (faurge-dsp's definitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// `[64]` dB re total power.
    pub ltas_db: Vec<f32>,
    /// Integrated loudness, LUFS; `None` when too short or silent.
    pub lufs: Option<f32>,
    /// Crest factor, dB.
    pub crest_db: f32,
    /// Zero-crossing rate, Hz.
    pub zcr_hz: f32,
}
