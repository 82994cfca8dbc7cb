//! Dynamics (`T_Dyn`): crest factor and zero-crossing rate.
//!
//! - Crest factor: `20·log10(peak / RMS)`, dB, with the peak the largest
//!   `|sample|` of any channel and the RMS taken over all samples of all channels
//!   (IEC 60050-103, "crest factor"). A sine reads 3.01 dB, a square wave 0 dB.
//!   Sample peak, not true peak, so the figure is exact for synthetic signals.
//! - Zero-crossing rate: sign changes per second, averaged over channels. A
//!   sample `≥ 0` counts as positive. A sine of `f` Hz reads `2·f`. Per second
//!   (not per sample), so it does not depend on the sample rate.

use super::{Input, SILENCE_POWER};

/// Crest factor under which a voice's peaks have been limited or saturated, dB: the
/// 1st percentile of the crest factor of 6 s crops of the corpus's clean speech
/// (`../shared/data/speech`, 266 clips, five crops each at 48 kHz, as the dataset
/// generator crops them: 13.14 dB; the median is 18.8 dB). `faurge-dataset`'s test
/// `limited_voice_crest_is_the_corpus_first_percentile` measures it again.
pub const LIMITED_VOICE_CREST_DB: f32 = 13.1;

/// Crest factor and zero-crossing rate of one recording.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dynamics {
    /// Peak-to-RMS ratio, dB (0 for silence: a constant has no crest).
    pub crest_factor_db: f32,
    /// Sign changes per second, Hz (0 for silence).
    pub zero_crossing_rate_hz: f32,
}

impl Dynamics {
    /// `T_Dyn` in its fixed order: `[crest_factor_db, zero_crossing_rate_hz]`.
    pub fn to_array(self) -> [f32; 2] {
        [self.crest_factor_db, self.zero_crossing_rate_hz]
    }
}

/// Crest factor (dB) and zero-crossing rate (per second) of `channels` at
/// `sample_rate` Hz; see the module docs. Silence and unusable input give zeros.
pub fn dynamics(channels: &[&[f32]], sample_rate: f32) -> Dynamics {
    let zero = Dynamics {
        crest_factor_db: 0.0,
        zero_crossing_rate_hz: 0.0,
    };
    let Some(input) = Input::new(channels, sample_rate) else {
        return zero;
    };
    let ms = input.mean_square();
    if ms < SILENCE_POWER {
        return zero;
    }
    let peak = input
        .channels
        .iter()
        .flat_map(|c| c.iter())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    let crest = 20.0 * (peak / ms.sqrt()).log10();
    let duration_s = input.len() as f64 / input.sample_rate;
    let crossings: usize = input
        .channels
        .iter()
        .map(|c| {
            c.windows(2)
                .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
                .count()
        })
        .sum();
    let zcr = crossings as f64 / input.channels.len() as f64 / duration_s;
    Dynamics {
        crest_factor_db: crest as f32,
        zero_crossing_rate_hz: zcr as f32,
    }
}

/// `T_Dyn`: `[crest_factor_db, zero_crossing_rate_hz]`, see [`dynamics`].
pub fn t_dyn(channels: &[&[f32]], sample_rate: f32) -> [f32; 2] {
    dynamics(channels, sample_rate).to_array()
}
