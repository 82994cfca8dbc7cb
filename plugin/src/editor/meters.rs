//! Input/output meters fed from the scope (see [`crate::scope`]): BS.1770 short-term
//! loudness through [`LoudnessMeter`] and a sample peak with a 1.5 s hold and a
//! 20 dB/s fall, computed on the editor thread.

use faurge_dsp::analysis::loudness::LoudnessMeter;
use faurge_dsp::state::gain_to_db;

use crate::scope::{ScopeBlock, BLOCK_SECONDS};

/// Peak hold time, s.
pub const PEAK_HOLD_S: f32 = 1.5;
/// Peak fall after the hold, dB/s.
pub const PEAK_FALL_DB_PER_S: f32 = 20.0;

/// One side's meter (input or output).
pub struct Meter {
    loudness: LoudnessMeter,
    peak_db: f32,
    held_for_s: f32,
}

impl Meter {
    fn new(channels: usize, sample_rate: f32) -> Option<Self> {
        Some(Meter {
            loudness: LoudnessMeter::new(channels, sample_rate).ok()?,
            peak_db: -200.0,
            held_for_s: 0.0,
        })
    }

    fn add<'a>(&mut self, channels: impl Iterator<Item = &'a [f32]>) {
        let chans: Vec<&[f32]> = channels.collect();
        self.loudness.add(&chans);
        let peak = chans
            .iter()
            .flat_map(|c| c.iter())
            .filter(|v| v.is_finite())
            .fold(0.0f32, |m, v| m.max(v.abs()));
        let db = gain_to_db(peak);
        if db >= self.peak_db {
            self.peak_db = db;
            self.held_for_s = 0.0;
        } else {
            self.held_for_s += BLOCK_SECONDS;
            if self.held_for_s > PEAK_HOLD_S {
                self.peak_db = (self.peak_db - PEAK_FALL_DB_PER_S * BLOCK_SECONDS).max(db);
            }
        }
    }

    /// Short-term loudness (last 3 s), LUFS; `None` in the first 3 s or for silence.
    pub fn short_term_lufs(&self) -> Option<f32> {
        self.loudness.short_term_lufs()
    }

    /// Held sample peak, dBFS.
    pub fn peak_dbfs(&self) -> f32 {
        self.peak_db
    }
}

/// Input and output meters for one session.
pub struct Meters {
    /// The raw input.
    pub input: Meter,
    /// After the chain.
    pub output: Meter,
    /// Compressor gain reduction of the newest block, dB ≥ 0.
    pub gain_reduction_db: f32,
    rate: f32,
    channels: usize,
}

impl Meters {
    /// Feeds one scope block; starts over when the session's rate or channel count
    /// changed, or `gap` blocks were missed (so short-term loudness never joins audio
    /// across a gap longer than a block). `meters` is `None` before the first block.
    pub fn feed(meters: &mut Option<Meters>, block: &ScopeBlock, gap: u64) {
        let fresh = meters
            .as_ref()
            .is_none_or(|m| m.rate != block.sample_rate || m.channels != block.channels || gap > 1);
        if fresh {
            *meters = Meter::new(block.channels, block.sample_rate).and_then(|input| {
                Some(Meters {
                    input,
                    output: Meter::new(block.channels, block.sample_rate)?,
                    gain_reduction_db: 0.0,
                    rate: block.sample_rate,
                    channels: block.channels,
                })
            });
        }
        if let Some(m) = meters.as_mut() {
            m.input.add(block.input());
            m.output.add(block.output());
            m.gain_reduction_db = block.gain_reduction_db;
        }
    }
}
