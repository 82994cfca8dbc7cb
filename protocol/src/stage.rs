//! The loop's stages, shared by the progress messages and the bake report.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The loop's stages, in order (`docs/SPEC.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// Phase 1: the prompt sanitizer (CPU, no model).
    Sanitize,
    /// Text and audio encoders.
    Encode,
    /// Fabian: embeddings → target metrics (or deltas).
    Fabian,
    /// Ursula: targets → `dsp_state`.
    Ursula,
    /// Genesis: scene + spectrum → IR parameters → IR.
    Genesis,
    /// The snapshot rendered through the `Chain`.
    ShadowBake,
    /// Phase 3: encode the proposed audio, compute `S_C`.
    Reflect,
    /// Finished; the result follows.
    Done,
}

impl Stage {
    /// Every stage in loop order.
    pub const ALL: [Stage; 8] = [
        Stage::Sanitize,
        Stage::Encode,
        Stage::Fabian,
        Stage::Ursula,
        Stage::Genesis,
        Stage::ShadowBake,
        Stage::Reflect,
        Stage::Done,
    ];
}

impl fmt::Display for Stage {
    /// What a progress bar shows, e.g. "encoding audio".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Sanitize => "reading the prompt",
            Stage::Encode => "encoding audio",
            Stage::Fabian => "choosing targets (Fabian)",
            Stage::Ursula => "choosing EQ and compressor (Ursula)",
            Stage::Genesis => "shaping the impulse response (Genesis)",
            Stage::ShadowBake => "rendering the proposal",
            Stage::Reflect => "listening to the result",
            Stage::Done => "done",
        })
    }
}
