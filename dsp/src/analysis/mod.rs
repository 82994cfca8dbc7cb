//! Offline measurements shared by the dataset generator, the helper, the CLI and the tests.
//!
//! One definition of every figure Faurge's networks read or chase (`docs/DESIGN.md`,
//! "Measurements"); Python training never recomputes them, it reads what these
//! functions wrote.
//!
//! | figure | function | units |
//! |---|---|---|
//! | `T_LTAS` | [`ltas::ltas`] | 64 log bands 40 Hz–20 kHz, dB re total in-band power |
//! | `T_LUFS` | [`loudness::loudness`] | integrated loudness, LUFS (ITU-R BS.1770-4) |
//! | `T_Dyn` | [`dynamics::t_dyn`] | `[crest factor dB, zero crossings per second]` |
//! | `T_Purity` | [`purity::purity`] | SNR dB, clipping fraction, clicks per second, reflection gain, spectral ripple dB → `input_purity` 0..1, `requires_genesis` |
//! | restoration | [`restoration::restoration_metrics`] | noise floor dBFS, SNR dB, clicks, clipped runs / fraction / level dBFS, sibilance dB (what the restoration stages would find) |
//! | encoder input | [`mel::log_mel`] | `[n_frames, 64]` log10 mel power |
//! | Genesis input | [`ltas::spectrum_db`] | 256 log bands 20 Hz–20 kHz, dB re total in-band power |
//! | voice pitch | [`pitch::voice_f0`] | F0 10th percentile, median, 90th percentile over voiced frames, Hz (YIN) |
//! | source bandwidth | [`ltas::effective_bandwidth_hz`] | Hz, where a recording's content ends (for masking LTAS bands) |
//!
//! Input convention everywhere: planar `channels[c][n]`, full scale ±1, 1 or 2
//! channels ([`crate::MAX_CHANNELS`]), and a sample rate in Hz. These functions
//! allocate and are **not** for the audio thread. They are total: they never
//! panic and never return NaN. Non-finite samples count as 0, channels beyond
//! [`crate::MAX_CHANNELS`] are ignored, channels of unequal length are cut to the
//! shortest, and a sample rate outside
//! [`MIN_ANALYSIS_SAMPLE_RATE`]`..=`[`MAX_ANALYSIS_SAMPLE_RATE`] gives the same
//! result as silence. [`try_measure`] reports those cases as an [`AnalysisError`]
//! instead.

pub mod dynamics;
pub mod loudness;
pub mod ltas;
pub mod mel;
pub mod pitch;
pub mod purity;
pub mod restoration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use dynamics::{t_dyn, Dynamics};
pub use loudness::Loudness;
pub use ltas::{LTAS_BANDS, SPECTRUM_BANDS};
pub use mel::MEL_BANDS;
pub use purity::{requires_genesis, Purity};

/// Lowest sample rate the measurements accept, Hz (8 kHz telephone audio).
/// The 16 kHz LibriSpeech material is inside the range.
pub const MIN_ANALYSIS_SAMPLE_RATE: f32 = 8_000.0;
/// Highest sample rate the measurements accept, Hz.
pub const MAX_ANALYSIS_SAMPLE_RATE: f32 = 384_000.0;

/// Mean-square power (re full scale) below which a signal counts as silent:
/// 1e-14, i.e. −140 dBFS, below the noise floor of 24-bit audio.
pub const SILENCE_POWER: f64 = 1e-14;

/// Why [`try_measure`] refused its input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AnalysisError {
    /// The sample rate is NaN, infinite or outside the supported range.
    #[error(
        "sample rate is {sample_rate} Hz, but measurements need a rate between {min} and {max} Hz"
    )]
    InvalidSampleRate {
        /// The rate given, Hz.
        sample_rate: f32,
        /// [`MIN_ANALYSIS_SAMPLE_RATE`].
        min: f32,
        /// [`MAX_ANALYSIS_SAMPLE_RATE`].
        max: f32,
    },
    /// `channels` was empty.
    #[error("no channels given; pass one (mono) or two (stereo) channels")]
    NoChannels,
    /// More channels than [`crate::MAX_CHANNELS`].
    #[error("{count} channels given, but measurements handle at most {max} (mono or stereo); downmix first")]
    TooManyChannels {
        /// Channels given.
        count: usize,
        /// [`crate::MAX_CHANNELS`].
        max: usize,
    },
    /// Channels of different lengths.
    #[error("channels have different lengths ({lengths:?} samples); every channel must have the same length")]
    RaggedChannels {
        /// Length of each channel, samples.
        lengths: Vec<usize>,
    },
    /// The `ebur128` meter refused to start (it checks rate and channels, which
    /// are checked before; this reports anything else it says).
    #[error("the loudness meter could not start: {0}")]
    Loudness(String),
    /// A sample is NaN or infinite.
    #[error("channel {channel} sample {index} is not finite ({value}); sanitize the audio first")]
    NonFinite {
        /// Channel index.
        channel: usize,
        /// Sample index.
        index: usize,
        /// The value.
        value: f32,
    },
}

/// Every measurement of one recording, as the dataset stores it and the helper
/// compares it. Serializes to JSON with `ltas` as a 64-element array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// `T_LTAS`, see [`ltas::ltas`]: 64 bands, dB re total in-band power.
    #[serde(with = "serde_array")]
    pub ltas: [f32; LTAS_BANDS],
    /// `T_LUFS`: integrated loudness, LUFS; `None` when no 400 ms block is
    /// above the −70 LUFS absolute gate (silence, or shorter than 400 ms).
    /// [`Metrics::t_lufs`] gives a plain number for networks.
    pub lufs: Option<f32>,
    /// `T_Dyn`: `[crest factor dB, zero crossings per second]`, see [`dynamics::t_dyn`].
    #[serde(rename = "dyn")]
    pub dynamics: [f32; 2],
    /// `T_Purity`, see [`purity::purity`].
    pub purity: Purity,
}

impl Metrics {
    /// `T_LUFS` as a plain number: the integrated loudness, or the BS.1770
    /// absolute gate [`loudness::ABSOLUTE_GATE_LUFS`] (−70 LUFS) when there is none.
    pub fn t_lufs(&self) -> f32 {
        self.lufs.unwrap_or(loudness::ABSOLUTE_GATE_LUFS)
    }

    /// The `requires_genesis` flag of this recording, see [`purity::requires_genesis`].
    pub fn requires_genesis(&self) -> bool {
        requires_genesis(&self.purity)
    }
}

/// Measures everything: `T_LTAS`, `T_LUFS`, `T_Dyn` and `T_Purity`.
///
/// `channels`: 1 or 2 planar channels, full scale ±1. `sample_rate`: Hz.
/// Total (see the module docs for how bad input is treated); use [`try_measure`]
/// to have bad input reported instead. Cost: about 10 ms per second of 48 kHz
/// mono audio on a 2-core machine (most of it in [`purity::purity`]).
pub fn measure(channels: &[&[f32]], sample_rate: f32) -> Metrics {
    Metrics {
        ltas: ltas::ltas(channels, sample_rate),
        lufs: loudness::integrated_lufs(channels, sample_rate),
        dynamics: t_dyn(channels, sample_rate),
        purity: purity::purity(channels, sample_rate),
    }
}

/// [`measure`], after checking the input.
///
/// # Errors
/// [`AnalysisError`] when the rate is outside the supported range, there are no
/// or too many channels, the channels differ in length, or a sample is not finite.
pub fn try_measure(channels: &[&[f32]], sample_rate: f32) -> Result<Metrics, AnalysisError> {
    validate(channels, sample_rate)?;
    Ok(measure(channels, sample_rate))
}

/// Checks input for the measurements without measuring.
///
/// # Errors
/// See [`try_measure`].
pub fn validate(channels: &[&[f32]], sample_rate: f32) -> Result<(), AnalysisError> {
    if !sample_rate_ok(sample_rate) {
        return Err(AnalysisError::InvalidSampleRate {
            sample_rate,
            min: MIN_ANALYSIS_SAMPLE_RATE,
            max: MAX_ANALYSIS_SAMPLE_RATE,
        });
    }
    if channels.is_empty() {
        return Err(AnalysisError::NoChannels);
    }
    if channels.len() > crate::MAX_CHANNELS {
        return Err(AnalysisError::TooManyChannels {
            count: channels.len(),
            max: crate::MAX_CHANNELS,
        });
    }
    if channels.iter().any(|c| c.len() != channels[0].len()) {
        return Err(AnalysisError::RaggedChannels {
            lengths: channels.iter().map(|c| c.len()).collect(),
        });
    }
    for (ch, c) in channels.iter().enumerate() {
        if let Some((index, &value)) = c.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(AnalysisError::NonFinite {
                channel: ch,
                index,
                value,
            });
        }
    }
    Ok(())
}

fn sample_rate_ok(sample_rate: f32) -> bool {
    sample_rate.is_finite()
        && (MIN_ANALYSIS_SAMPLE_RATE..=MAX_ANALYSIS_SAMPLE_RATE).contains(&sample_rate)
}

/// Sanitized input: at most `MAX_CHANNELS` channels of equal length, finite
/// samples, a supported rate. `None` when there is nothing to measure.
pub(crate) struct Input {
    /// `[n_channels][n_samples]`, samples as `f64`.
    pub channels: Vec<Vec<f64>>,
    /// Hz.
    pub sample_rate: f64,
}

impl Input {
    /// Sanitizes `channels`; `None` for an unsupported rate, no channels or no samples.
    pub fn new(channels: &[&[f32]], sample_rate: f32) -> Option<Input> {
        if !sample_rate_ok(sample_rate) {
            return None;
        }
        let used = &channels[..channels.len().min(crate::MAX_CHANNELS)];
        let len = used.iter().map(|c| c.len()).min()?;
        if len == 0 {
            return None;
        }
        let channels = used
            .iter()
            .map(|c| {
                c[..len]
                    .iter()
                    .map(|&v| if v.is_finite() { f64::from(v) } else { 0.0 })
                    .collect()
            })
            .collect();
        Some(Input {
            channels,
            sample_rate: f64::from(sample_rate),
        })
    }

    /// Samples per channel.
    pub fn len(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Mean square over all channels and samples.
    pub fn mean_square(&self) -> f64 {
        let n = (self.len() * self.channels.len()).max(1) as f64;
        self.channels
            .iter()
            .flat_map(|c| c.iter())
            .map(|v| v * v)
            .sum::<f64>()
            / n
    }

    /// True when the mean square is below [`SILENCE_POWER`].
    pub fn is_silent(&self) -> bool {
        self.mean_square() < SILENCE_POWER
    }

    /// `channels` as `f32` slices for crates that want them (ebur128).
    pub fn to_f32(&self) -> Vec<Vec<f32>> {
        self.channels
            .iter()
            .map(|c| c.iter().map(|&v| v as f32).collect())
            .collect()
    }
}

/// `10·log10(p)` with `p` floored at `1e-30`.
pub(crate) fn power_db(p: f64) -> f64 {
    10.0 * p.max(1e-30).log10()
}

/// Serde for fixed arrays longer than 32 (serde derives only up to 32): written
/// as a sequence, read back with a length check.
pub mod serde_array {
    use serde::de::{Deserialize, Deserializer, Error};
    use serde::ser::{Serialize, Serializer};

    /// Writes the array as a sequence.
    pub fn serialize<S: Serializer, const N: usize>(a: &[f32; N], s: S) -> Result<S::Ok, S::Error> {
        a.as_slice().serialize(s)
    }

    /// Reads a sequence of exactly `N` numbers.
    ///
    /// # Errors
    /// When the sequence does not have exactly `N` elements.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[f32; N], D::Error> {
        let v = Vec::<f32>::deserialize(d)?;
        let len = v.len();
        v.try_into()
            .map_err(|_| D::Error::custom(format!("expected {N} numbers, found {len}")))
    }
}
