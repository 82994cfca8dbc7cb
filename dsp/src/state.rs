//! `DspState`: every setting of the chain as plain numbers with units in the names.
//!
//! This is what the helper returns from a bake, what the plugin's parameters map
//! onto, what presets are made of and what the CLI writes as JSON. It is plain
//! data (serde, `Copy`), so it can be handed to the audio thread without
//! allocating. Ranges are the `MIN_*`/`MAX_*` constants below; [`DspState::validate`]
//! explains a value outside them and [`DspState::clamped`] forces it inside.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Number of EQ bands. The band types are fixed by position, see [`BandKind::for_index`].
pub const NUM_BANDS: usize = 8;

/// Lowest band frequency, Hz.
pub const MIN_FREQ_HZ: f32 = 20.0;
/// Highest band frequency, Hz. At low session rates the effective ceiling is
/// [`MAX_FREQ_FRACTION_OF_RATE`] × sample rate; see [`effective_freq_hz`].
pub const MAX_FREQ_HZ: f32 = 20_000.0;
/// A band's frequency never exceeds this fraction of the sample rate (0.45 × fs,
/// i.e. 90 % of Nyquist), so a 20 kHz shelf at 22.05 kHz stays a valid, stable filter.
pub const MAX_FREQ_FRACTION_OF_RATE: f32 = 0.45;
/// Band gain range, dB.
pub const MIN_GAIN_DB: f32 = -24.0;
/// Band gain range, dB.
pub const MAX_GAIN_DB: f32 = 24.0;
/// Band Q range (dimensionless). For shelves Q is the cookbook's Q (0.707 = S of 1).
pub const MIN_Q: f32 = 0.1;
/// Band Q range (dimensionless).
pub const MAX_Q: f32 = 18.0;

/// Compressor threshold range, dBFS.
pub const MIN_THRESHOLD_DB: f32 = -60.0;
/// Compressor threshold range, dBFS.
pub const MAX_THRESHOLD_DB: f32 = 0.0;
/// Compressor ratio range (x:1). 1 means no compression.
pub const MIN_RATIO: f32 = 1.0;
/// Compressor ratio range (x:1).
pub const MAX_RATIO: f32 = 20.0;
/// Compressor knee width range, dB.
pub const MIN_KNEE_DB: f32 = 0.0;
/// Compressor knee width range, dB.
pub const MAX_KNEE_DB: f32 = 24.0;
/// Attack time range, ms.
pub const MIN_ATTACK_MS: f32 = 0.1;
/// Attack time range, ms.
pub const MAX_ATTACK_MS: f32 = 200.0;
/// Release time range, ms.
pub const MIN_RELEASE_MS: f32 = 5.0;
/// Release time range, ms.
pub const MAX_RELEASE_MS: f32 = 2000.0;
/// Makeup gain range, dB.
pub const MIN_MAKEUP_DB: f32 = -12.0;
/// Makeup gain range, dB.
pub const MAX_MAKEUP_DB: f32 = 24.0;
/// Output trim range, dB.
pub const MIN_TRIM_DB: f32 = -24.0;
/// Output trim range, dB.
pub const MAX_TRIM_DB: f32 = 24.0;

/// De-click sensitivity range, percent: 0 % detects only clicks 80× above the local
/// prediction-error level, 100 % those 5× above (see [`crate::restore::repair::threshold_ratio`]).
pub const MIN_DECLICK_SENSITIVITY_PCT: f32 = 0.0;
/// De-click sensitivity range, percent.
pub const MAX_DECLICK_SENSITIVITY_PCT: f32 = 100.0;
/// Default de-click sensitivity, percent (20× the local prediction-error level).
pub const DEFAULT_DECLICK_SENSITIVITY_PCT: f32 = 50.0;
/// Noise reduction amount (deepest cut, the gain floor) range, dB.
pub const MIN_DENOISE_REDUCTION_DB: f32 = 0.0;
/// Noise reduction amount range, dB.
pub const MAX_DENOISE_REDUCTION_DB: f32 = 30.0;
/// Default noise reduction amount, dB.
pub const DEFAULT_DENOISE_REDUCTION_DB: f32 = 12.0;
/// Noise threshold (offset of the tracked noise floor; positive reduces more) range, dB.
pub const MIN_DENOISE_THRESHOLD_DB: f32 = -10.0;
/// Noise threshold range, dB.
pub const MAX_DENOISE_THRESHOLD_DB: f32 = 10.0;
/// Default noise threshold, dB.
pub const DEFAULT_DENOISE_THRESHOLD_DB: f32 = 0.0;
/// Hum removal mains frequency range, Hz (50 and 60 Hz grids, with room for a grid
/// or a generator off frequency).
pub const MIN_DEHUM_FREQ_HZ: f32 = 40.0;
/// Hum removal mains frequency range, Hz.
pub const MAX_DEHUM_FREQ_HZ: f32 = 70.0;
/// Default hum removal frequency, Hz.
pub const DEFAULT_DEHUM_FREQ_HZ: f32 = 50.0;
/// Hum removal harmonics range (notches at 1× … N× the mains frequency).
pub const MIN_DEHUM_HARMONICS: u32 = 1;
/// Hum removal harmonics range.
pub const MAX_DEHUM_HARMONICS: u32 = 16;
/// Default number of notched harmonics.
pub const DEFAULT_DEHUM_HARMONICS: u32 = 4;
/// Hum notch quality factor range (every harmonic's notch has the same Q).
pub const MIN_DEHUM_Q: f32 = 5.0;
/// Hum notch Q range.
pub const MAX_DEHUM_Q: f32 = 300.0;
/// Default hum notch Q: −3 dB width 0.83 Hz at 50 Hz, wide enough for a grid drifting
/// by 0.3 %, narrow enough to take 0.1 dB from a 1/3-octave band of the voice.
pub const DEFAULT_DEHUM_Q: f32 = 60.0;
/// Expander threshold range, dBFS (mean-square level of the linked channels).
pub const MIN_EXPANDER_THRESHOLD_DB: f32 = -90.0;
/// Expander threshold range, dBFS.
pub const MAX_EXPANDER_THRESHOLD_DB: f32 = 0.0;
/// Default expander threshold, dBFS.
pub const DEFAULT_EXPANDER_THRESHOLD_DB: f32 = -50.0;
/// Expander ratio range (x:1 downward; 1 = no expansion).
pub const MIN_EXPANDER_RATIO: f32 = 1.0;
/// Expander ratio range (x:1).
pub const MAX_EXPANDER_RATIO: f32 = 20.0;
/// Default expander ratio (x:1).
pub const DEFAULT_EXPANDER_RATIO: f32 = 4.0;
/// Expander range (deepest attenuation) range, dB.
pub const MIN_EXPANDER_RANGE_DB: f32 = 0.0;
/// Expander range range, dB.
pub const MAX_EXPANDER_RANGE_DB: f32 = 60.0;
/// Default expander range, dB.
pub const DEFAULT_EXPANDER_RANGE_DB: f32 = 12.0;
/// Expander attack (opening) time range, ms.
pub const MIN_EXPANDER_ATTACK_MS: f32 = 0.1;
/// Expander attack time range, ms.
pub const MAX_EXPANDER_ATTACK_MS: f32 = 100.0;
/// Default expander attack time, ms.
pub const DEFAULT_EXPANDER_ATTACK_MS: f32 = 2.0;
/// Expander release (closing) time range, ms.
pub const MIN_EXPANDER_RELEASE_MS: f32 = 5.0;
/// Expander release time range, ms.
pub const MAX_EXPANDER_RELEASE_MS: f32 = 2000.0;
/// Default expander release time, ms.
pub const DEFAULT_EXPANDER_RELEASE_MS: f32 = 150.0;
/// De-esser centre frequency range, Hz (clamped to 0.4 × the sample rate where used).
pub const MIN_DEESSER_FREQ_HZ: f32 = 2000.0;
/// De-esser centre frequency range, Hz.
pub const MAX_DEESSER_FREQ_HZ: f32 = 16_000.0;
/// Default de-esser centre frequency, Hz (band about 4–10.5 kHz).
pub const DEFAULT_DEESSER_FREQ_HZ: f32 = 6500.0;
/// De-esser threshold range, dBFS (mean-square level of the sibilant band).
pub const MIN_DEESSER_THRESHOLD_DB: f32 = -60.0;
/// De-esser threshold range, dBFS.
pub const MAX_DEESSER_THRESHOLD_DB: f32 = 0.0;
/// Default de-esser threshold, dBFS.
pub const DEFAULT_DEESSER_THRESHOLD_DB: f32 = -30.0;
/// De-esser range (deepest cut of the band) range, dB.
pub const MIN_DEESSER_RANGE_DB: f32 = 0.0;
/// De-esser range range, dB.
pub const MAX_DEESSER_RANGE_DB: f32 = 24.0;
/// Default de-esser range, dB.
pub const DEFAULT_DEESSER_RANGE_DB: f32 = 6.0;

/// The filter type of one EQ band. The positions are fixed:
/// 0 high-pass, 1 low shelf, 2–5 peaking, 6 high shelf, 7 low-pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandKind {
    /// 2nd-order high-pass (cookbook HPF); gain is ignored.
    HighPass,
    /// Low shelf (cookbook lowShelf).
    LowShelf,
    /// Peaking EQ (cookbook peakingEQ, constant-Q form).
    Peak,
    /// High shelf (cookbook highShelf).
    HighShelf,
    /// 2nd-order low-pass (cookbook LPF); gain is ignored.
    LowPass,
}

impl BandKind {
    /// The fixed type of band `index` (0-based).
    ///
    /// # Panics
    /// If `index >= NUM_BANDS`.
    pub const fn for_index(index: usize) -> BandKind {
        match index {
            0 => BandKind::HighPass,
            1 => BandKind::LowShelf,
            2..=5 => BandKind::Peak,
            6 => BandKind::HighShelf,
            7 => BandKind::LowPass,
            _ => panic!("EQ band index out of range"),
        }
    }
}

/// One EQ band's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EqBandState {
    /// A disabled band passes audio unchanged (it glides to unity, no click).
    pub enabled: bool,
    /// Centre (peak), corner (shelf) or cutoff (HP/LP) frequency, Hz.
    pub freq_hz: f32,
    /// Gain at `freq_hz` (peak) or plateau gain (shelf), dB. Ignored by HP/LP.
    pub gain_db: f32,
    /// Quality factor.
    pub q: f32,
}

/// The 8-band parametric EQ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EqState {
    /// Bands in the fixed order of [`BandKind::for_index`].
    pub bands: [EqBandState; NUM_BANDS],
}

/// Feed-forward soft-knee compressor (Giannoulis, Massberg & Reiss, JAES 2012).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressorState {
    /// A disabled compressor passes audio unchanged (gain glides to 0 dB).
    pub enabled: bool,
    /// Threshold, dBFS.
    pub threshold_db: f32,
    /// Ratio x:1.
    pub ratio: f32,
    /// Knee width, dB (0 = hard knee).
    pub knee_db: f32,
    /// Attack time constant, ms.
    pub attack_ms: f32,
    /// Release time constant, ms.
    pub release_ms: f32,
    /// Makeup gain, dB.
    pub makeup_db: f32,
}

/// The convolver's mix. The impulse response itself is not part of `DspState`
/// (it is large); it travels separately as a prepared kernel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvolverState {
    /// A disabled convolver passes the dry signal (mix glides to 0).
    pub enabled: bool,
    /// Wet proportion, 0 (dry) ..= 1 (wet only). Linear cross-fade: `out = (1 − mix)·dry + mix·wet`.
    pub mix: f32,
}

/// De-clipper ([`crate::restore::repair`]): re-synthesises short clipped runs (up to
/// 2 ms) at the auto-detected clip level.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclipState {
    /// Off passes audio unchanged (delayed by the section's constant latency).
    pub enabled: bool,
}

/// De-clicker ([`crate::restore::repair`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclickState {
    /// Off passes audio unchanged (delayed by the section's constant latency).
    pub enabled: bool,
    /// Detection sensitivity, percent (higher finds smaller clicks).
    pub sensitivity_pct: f32,
}

/// Broadband noise reduction ([`crate::restore::denoise`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DenoiseState {
    /// Off passes audio unchanged (delayed); on/off cross-fades.
    pub enabled: bool,
    /// Deepest attenuation of a time–frequency bin, dB (the gain floor).
    pub reduction_db: f32,
    /// Offset of the tracked noise floor, dB: positive treats more as noise.
    pub threshold_db: f32,
}

/// Mains hum removal ([`crate::restore::dehum`]): notches at the mains frequency and
/// its harmonics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DehumState {
    /// Off passes audio unchanged; on/off glides.
    pub enabled: bool,
    /// Mains (fundamental) frequency, Hz.
    pub freq_hz: f32,
    /// Notches at 1×, 2×, … this many times the mains frequency.
    pub harmonics: u32,
    /// Quality factor of every notch (higher is narrower).
    pub q: f32,
}

/// Downward expander / gate ([`crate::restore::expander`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExpanderState {
    /// Off passes audio unchanged; on/off glides.
    pub enabled: bool,
    /// Level below which the expander closes, dBFS.
    pub threshold_db: f32,
    /// Downward ratio x:1 below the threshold.
    pub ratio: f32,
    /// Deepest attenuation, dB.
    pub range_db: f32,
    /// Opening time constant, ms.
    pub attack_ms: f32,
    /// Closing time constant, ms.
    pub release_ms: f32,
}

/// The restoration section at the head of the chain ([`crate::restore`]), in signal order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestorationState {
    /// De-clipper.
    pub declip: DeclipState,
    /// De-clicker.
    pub declick: DeclickState,
    /// Hum removal. Absent in sessions older than it: off.
    pub dehum: DehumState,
    /// Noise reduction.
    pub denoise: DenoiseState,
    /// Expander / gate.
    pub expander: ExpanderState,
}

impl RestorationState {
    /// Whether any restoration stage is switched on.
    pub fn any_enabled(&self) -> bool {
        self.declip.enabled
            || self.declick.enabled
            || self.dehum.enabled
            || self.denoise.enabled
            || self.expander.enabled
    }
}

/// Split-band de-esser after the EQ ([`crate::restore::deesser`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeEsserState {
    /// Off passes audio unchanged; on/off glides.
    pub enabled: bool,
    /// Centre of the sibilant band, Hz.
    pub freq_hz: f32,
    /// Band level above which it is cut, dBFS.
    pub threshold_db: f32,
    /// Deepest cut of the band, dB.
    pub range_db: f32,
}

/// Every setting of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DspState {
    /// Restoration (de-clip, de-click, hum removal, noise reduction, expander), before
    /// the EQ.
    /// Absent in sessions and presets older than the restoration stages: all off.
    #[serde(default)]
    pub restoration: RestorationState,
    /// Parametric EQ.
    pub eq: EqState,
    /// De-esser, after the EQ. Absent in older sessions: off.
    #[serde(default)]
    pub deesser: DeEsserState,
    /// Compressor.
    pub compressor: CompressorState,
    /// Convolver mix.
    pub convolver: ConvolverState,
    /// Output trim, dB.
    pub output_trim_db: f32,
}

/// A value outside its documented range, or not a number.
#[derive(Debug, Error, PartialEq)]
pub enum StateError {
    /// `field` is `value`, outside `min..=max` (units in the field name).
    #[error("{field} is {value}, but must be between {min} and {max}")]
    OutOfRange {
        /// Dotted path of the field, e.g. `eq.bands[3].gain_db`.
        field: String,
        /// The offending value.
        value: f32,
        /// Lowest allowed value.
        min: f32,
        /// Highest allowed value.
        max: f32,
    },
}

/// The frequency a band actually uses at `sample_rate`: `freq_hz` clamped to
/// `MIN_FREQ_HZ ..= min(MAX_FREQ_HZ, 0.45 × sample_rate)`; NaN maps to `MIN_FREQ_HZ`.
pub fn effective_freq_hz(freq_hz: f32, sample_rate: f32) -> f32 {
    let ceiling = MAX_FREQ_HZ.min(MAX_FREQ_FRACTION_OF_RATE * sample_rate);
    clamp_or(freq_hz, MIN_FREQ_HZ, ceiling, MIN_FREQ_HZ)
}

/// `v` clamped to `min..=max`, or `fallback` when `v` is NaN. Shared by every stage
/// that clamps its settings.
pub(crate) fn clamp_or(v: f32, min: f32, max: f32, fallback: f32) -> f32 {
    if v.is_nan() {
        fallback
    } else {
        v.clamp(min, max)
    }
}

fn check(field: impl FnOnce() -> String, value: f32, min: f32, max: f32) -> Result<(), StateError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(StateError::OutOfRange {
            field: field(),
            value,
            min,
            max,
        })
    }
}

impl EqBandState {
    /// The default settings of band `index`: HP 80 Hz off, low shelf 120 Hz,
    /// peaks at 250 Hz / 1 kHz / 3 kHz / 6 kHz, high shelf 10 kHz, LP 18 kHz off;
    /// all at 0 dB, so the default EQ is transparent.
    ///
    /// # Panics
    /// If `index >= NUM_BANDS`.
    pub const fn default_for(index: usize) -> Self {
        let (enabled, freq_hz, q) = match index {
            0 => (false, 80.0, 0.707),
            1 => (true, 120.0, 0.707),
            2 => (true, 250.0, 1.0),
            3 => (true, 1000.0, 1.0),
            4 => (true, 3000.0, 1.0),
            5 => (true, 6000.0, 1.0),
            6 => (true, 10_000.0, 0.707),
            7 => (false, 18_000.0, 0.707),
            _ => panic!("EQ band index out of range"),
        };
        EqBandState {
            enabled,
            freq_hz,
            gain_db: 0.0,
            q,
        }
    }
}

impl Default for EqState {
    fn default() -> Self {
        let mut bands = [EqBandState::default_for(0); NUM_BANDS];
        let mut i = 0;
        while i < NUM_BANDS {
            bands[i] = EqBandState::default_for(i);
            i += 1;
        }
        EqState { bands }
    }
}

impl Default for CompressorState {
    /// Off, with gentle vocal settings ready: −18 dB, 3:1, 6 dB knee, 10 ms / 120 ms.
    fn default() -> Self {
        CompressorState {
            enabled: false,
            threshold_db: -18.0,
            ratio: 3.0,
            knee_db: 6.0,
            attack_ms: 10.0,
            release_ms: 120.0,
            makeup_db: 0.0,
        }
    }
}

impl Default for ConvolverState {
    /// Off, fully wet when switched on (a corrective IR replaces the dry path).
    fn default() -> Self {
        ConvolverState {
            enabled: false,
            mix: 1.0,
        }
    }
}

impl Default for DeclipState {
    /// Off.
    fn default() -> Self {
        DeclipState { enabled: false }
    }
}

impl Default for DeclickState {
    /// Off, at [`DEFAULT_DECLICK_SENSITIVITY_PCT`].
    fn default() -> Self {
        DeclickState {
            enabled: false,
            sensitivity_pct: DEFAULT_DECLICK_SENSITIVITY_PCT,
        }
    }
}

impl Default for DenoiseState {
    /// Off, 12 dB reduction, threshold 0 dB.
    fn default() -> Self {
        DenoiseState {
            enabled: false,
            reduction_db: DEFAULT_DENOISE_REDUCTION_DB,
            threshold_db: DEFAULT_DENOISE_THRESHOLD_DB,
        }
    }
}

impl Default for DehumState {
    /// Off, 50 Hz, 4 harmonics, Q 60.
    fn default() -> Self {
        DehumState {
            enabled: false,
            freq_hz: DEFAULT_DEHUM_FREQ_HZ,
            harmonics: DEFAULT_DEHUM_HARMONICS,
            q: DEFAULT_DEHUM_Q,
        }
    }
}

impl Default for ExpanderState {
    /// Off, ready for a speech floor: −50 dBFS, 4:1, 12 dB range, 2 ms / 150 ms.
    fn default() -> Self {
        ExpanderState {
            enabled: false,
            threshold_db: DEFAULT_EXPANDER_THRESHOLD_DB,
            ratio: DEFAULT_EXPANDER_RATIO,
            range_db: DEFAULT_EXPANDER_RANGE_DB,
            attack_ms: DEFAULT_EXPANDER_ATTACK_MS,
            release_ms: DEFAULT_EXPANDER_RELEASE_MS,
        }
    }
}

impl Default for DeEsserState {
    /// Off, 6.5 kHz, −30 dBFS, 6 dB range.
    fn default() -> Self {
        DeEsserState {
            enabled: false,
            freq_hz: DEFAULT_DEESSER_FREQ_HZ,
            threshold_db: DEFAULT_DEESSER_THRESHOLD_DB,
            range_db: DEFAULT_DEESSER_RANGE_DB,
        }
    }
}

impl Default for DspState {
    /// Transparent: every processor at unity.
    fn default() -> Self {
        DspState {
            restoration: RestorationState::default(),
            eq: EqState::default(),
            deesser: DeEsserState::default(),
            compressor: CompressorState::default(),
            convolver: ConvolverState::default(),
            output_trim_db: 0.0,
        }
    }
}

impl DspState {
    /// Checks every field against its range. Returns the first problem found.
    ///
    /// Band frequencies are checked against `MIN_FREQ_HZ..=MAX_FREQ_HZ` only: at a
    /// low session rate a frequency above `0.45 × fs` is not an error but is
    /// clamped where it is used ([`effective_freq_hz`]), as users expect of an EQ
    /// whose 18 kHz band is loaded into a 22.05 kHz session.
    ///
    /// # Errors
    /// [`StateError::OutOfRange`] for a NaN or out-of-range value, naming the field.
    pub fn validate(&self) -> Result<(), StateError> {
        for (i, b) in self.eq.bands.iter().enumerate() {
            check(
                || format!("eq.bands[{i}].freq_hz"),
                b.freq_hz,
                MIN_FREQ_HZ,
                MAX_FREQ_HZ,
            )?;
            check(
                || format!("eq.bands[{i}].gain_db"),
                b.gain_db,
                MIN_GAIN_DB,
                MAX_GAIN_DB,
            )?;
            check(|| format!("eq.bands[{i}].q"), b.q, MIN_Q, MAX_Q)?;
        }
        let c = &self.compressor;
        check(
            || "compressor.threshold_db".into(),
            c.threshold_db,
            MIN_THRESHOLD_DB,
            MAX_THRESHOLD_DB,
        )?;
        check(|| "compressor.ratio".into(), c.ratio, MIN_RATIO, MAX_RATIO)?;
        check(
            || "compressor.knee_db".into(),
            c.knee_db,
            MIN_KNEE_DB,
            MAX_KNEE_DB,
        )?;
        check(
            || "compressor.attack_ms".into(),
            c.attack_ms,
            MIN_ATTACK_MS,
            MAX_ATTACK_MS,
        )?;
        check(
            || "compressor.release_ms".into(),
            c.release_ms,
            MIN_RELEASE_MS,
            MAX_RELEASE_MS,
        )?;
        check(
            || "compressor.makeup_db".into(),
            c.makeup_db,
            MIN_MAKEUP_DB,
            MAX_MAKEUP_DB,
        )?;
        check(|| "convolver.mix".into(), self.convolver.mix, 0.0, 1.0)?;
        let r = &self.restoration;
        check(
            || "restoration.declick.sensitivity_pct".into(),
            r.declick.sensitivity_pct,
            MIN_DECLICK_SENSITIVITY_PCT,
            MAX_DECLICK_SENSITIVITY_PCT,
        )?;
        check(
            || "restoration.denoise.reduction_db".into(),
            r.denoise.reduction_db,
            MIN_DENOISE_REDUCTION_DB,
            MAX_DENOISE_REDUCTION_DB,
        )?;
        check(
            || "restoration.denoise.threshold_db".into(),
            r.denoise.threshold_db,
            MIN_DENOISE_THRESHOLD_DB,
            MAX_DENOISE_THRESHOLD_DB,
        )?;
        check(
            || "restoration.dehum.freq_hz".into(),
            r.dehum.freq_hz,
            MIN_DEHUM_FREQ_HZ,
            MAX_DEHUM_FREQ_HZ,
        )?;
        check(
            || "restoration.dehum.harmonics".into(),
            r.dehum.harmonics as f32,
            MIN_DEHUM_HARMONICS as f32,
            MAX_DEHUM_HARMONICS as f32,
        )?;
        check(
            || "restoration.dehum.q".into(),
            r.dehum.q,
            MIN_DEHUM_Q,
            MAX_DEHUM_Q,
        )?;
        let x = &r.expander;
        check(
            || "restoration.expander.threshold_db".into(),
            x.threshold_db,
            MIN_EXPANDER_THRESHOLD_DB,
            MAX_EXPANDER_THRESHOLD_DB,
        )?;
        check(
            || "restoration.expander.ratio".into(),
            x.ratio,
            MIN_EXPANDER_RATIO,
            MAX_EXPANDER_RATIO,
        )?;
        check(
            || "restoration.expander.range_db".into(),
            x.range_db,
            MIN_EXPANDER_RANGE_DB,
            MAX_EXPANDER_RANGE_DB,
        )?;
        check(
            || "restoration.expander.attack_ms".into(),
            x.attack_ms,
            MIN_EXPANDER_ATTACK_MS,
            MAX_EXPANDER_ATTACK_MS,
        )?;
        check(
            || "restoration.expander.release_ms".into(),
            x.release_ms,
            MIN_EXPANDER_RELEASE_MS,
            MAX_EXPANDER_RELEASE_MS,
        )?;
        let e = &self.deesser;
        check(
            || "deesser.freq_hz".into(),
            e.freq_hz,
            MIN_DEESSER_FREQ_HZ,
            MAX_DEESSER_FREQ_HZ,
        )?;
        check(
            || "deesser.threshold_db".into(),
            e.threshold_db,
            MIN_DEESSER_THRESHOLD_DB,
            MAX_DEESSER_THRESHOLD_DB,
        )?;
        check(
            || "deesser.range_db".into(),
            e.range_db,
            MIN_DEESSER_RANGE_DB,
            MAX_DEESSER_RANGE_DB,
        )?;
        check(
            || "output_trim_db".into(),
            self.output_trim_db,
            MIN_TRIM_DB,
            MAX_TRIM_DB,
        )?;
        Ok(())
    }

    /// A copy with every field forced into its range (NaN becomes the default).
    /// Band frequencies are clamped with [`effective_freq_hz`]. Never allocates,
    /// so the audio thread may call it on values it received.
    pub fn clamped(&self, sample_rate: f32) -> DspState {
        let d = DspState::default();
        let mut s = *self;
        for (i, b) in s.eq.bands.iter_mut().enumerate() {
            let db = EqBandState::default_for(i);
            let freq_hz = if b.freq_hz.is_nan() {
                db.freq_hz
            } else {
                b.freq_hz
            };
            b.freq_hz = effective_freq_hz(freq_hz, sample_rate);
            b.gain_db = clamp_or(b.gain_db, MIN_GAIN_DB, MAX_GAIN_DB, db.gain_db);
            b.q = clamp_or(b.q, MIN_Q, MAX_Q, db.q);
        }
        let c = &mut s.compressor;
        let dc = d.compressor;
        c.threshold_db = clamp_or(
            c.threshold_db,
            MIN_THRESHOLD_DB,
            MAX_THRESHOLD_DB,
            dc.threshold_db,
        );
        c.ratio = clamp_or(c.ratio, MIN_RATIO, MAX_RATIO, dc.ratio);
        c.knee_db = clamp_or(c.knee_db, MIN_KNEE_DB, MAX_KNEE_DB, dc.knee_db);
        c.attack_ms = clamp_or(c.attack_ms, MIN_ATTACK_MS, MAX_ATTACK_MS, dc.attack_ms);
        c.release_ms = clamp_or(c.release_ms, MIN_RELEASE_MS, MAX_RELEASE_MS, dc.release_ms);
        c.makeup_db = clamp_or(c.makeup_db, MIN_MAKEUP_DB, MAX_MAKEUP_DB, dc.makeup_db);
        s.convolver.mix = clamp_or(s.convolver.mix, 0.0, 1.0, d.convolver.mix);
        let (r, dr) = (&mut s.restoration, d.restoration);
        r.declick.sensitivity_pct = clamp_or(
            r.declick.sensitivity_pct,
            MIN_DECLICK_SENSITIVITY_PCT,
            MAX_DECLICK_SENSITIVITY_PCT,
            dr.declick.sensitivity_pct,
        );
        r.denoise.reduction_db = clamp_or(
            r.denoise.reduction_db,
            MIN_DENOISE_REDUCTION_DB,
            MAX_DENOISE_REDUCTION_DB,
            dr.denoise.reduction_db,
        );
        r.denoise.threshold_db = clamp_or(
            r.denoise.threshold_db,
            MIN_DENOISE_THRESHOLD_DB,
            MAX_DENOISE_THRESHOLD_DB,
            dr.denoise.threshold_db,
        );
        r.dehum = crate::restore::dehum::clamp_state(&r.dehum);
        let (x, dx) = (&mut r.expander, dr.expander);
        x.threshold_db = clamp_or(
            x.threshold_db,
            MIN_EXPANDER_THRESHOLD_DB,
            MAX_EXPANDER_THRESHOLD_DB,
            dx.threshold_db,
        );
        x.ratio = clamp_or(x.ratio, MIN_EXPANDER_RATIO, MAX_EXPANDER_RATIO, dx.ratio);
        x.range_db = clamp_or(
            x.range_db,
            MIN_EXPANDER_RANGE_DB,
            MAX_EXPANDER_RANGE_DB,
            dx.range_db,
        );
        x.attack_ms = clamp_or(
            x.attack_ms,
            MIN_EXPANDER_ATTACK_MS,
            MAX_EXPANDER_ATTACK_MS,
            dx.attack_ms,
        );
        x.release_ms = clamp_or(
            x.release_ms,
            MIN_EXPANDER_RELEASE_MS,
            MAX_EXPANDER_RELEASE_MS,
            dx.release_ms,
        );
        let (e, de) = (&mut s.deesser, d.deesser);
        e.freq_hz = clamp_or(
            e.freq_hz,
            MIN_DEESSER_FREQ_HZ,
            MAX_DEESSER_FREQ_HZ,
            de.freq_hz,
        );
        e.threshold_db = clamp_or(
            e.threshold_db,
            MIN_DEESSER_THRESHOLD_DB,
            MAX_DEESSER_THRESHOLD_DB,
            de.threshold_db,
        );
        e.range_db = clamp_or(
            e.range_db,
            MIN_DEESSER_RANGE_DB,
            MAX_DEESSER_RANGE_DB,
            de.range_db,
        );
        s.output_trim_db = clamp_or(s.output_trim_db, MIN_TRIM_DB, MAX_TRIM_DB, d.output_trim_db);
        s
    }
}

/// Decibels to linear amplitude: `10^(db/20)`.
#[inline]
pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// Linear amplitude to decibels: `20·log10(|g|)`, floored at −200 dB for silence.
#[inline]
pub fn gain_to_db(gain: f32) -> f32 {
    20.0 * gain.abs().max(1e-10).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_state_is_valid_at_every_supported_rate() {
        for sr in [22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0] {
            let d = DspState::default();
            d.validate().unwrap();
            let clamped = d.clamped(sr);
            clamped.validate().unwrap();
            for b in clamped.eq.bands {
                assert!(b.freq_hz <= MAX_FREQ_FRACTION_OF_RATE * sr);
            }
        }
    }

    #[test]
    fn validate_names_the_field_and_clamped_fixes_it() {
        let mut s = DspState::default();
        s.eq.bands[3].gain_db = 40.0;
        let err = s.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "eq.bands[3].gain_db is 40, but must be between -24 and 24"
        );
        assert_eq!(s.clamped(48_000.0).eq.bands[3].gain_db, MAX_GAIN_DB);

        let mut s = DspState::default();
        s.eq.bands[6].freq_hz = 12_000.0;
        assert!(
            s.validate().is_ok(),
            "above 0.45 fs is clamped, not an error"
        );
        assert_eq!(s.clamped(22_050.0).eq.bands[6].freq_hz, 0.45 * 22_050.0);

        let mut s = DspState::default();
        s.eq.bands[7].freq_hz = f32::NAN;
        assert!(
            s.clamped(22_050.0).eq.bands[7].freq_hz <= 0.45 * 22_050.0,
            "a NaN LP frequency must clamp below the 22.05 kHz ceiling"
        );

        let mut s = DspState::default();
        s.compressor.ratio = f32::NAN;
        assert!(s.validate().is_err());
        assert_eq!(
            s.clamped(48_000.0).compressor.ratio,
            CompressorState::default().ratio
        );
    }

    #[test]
    fn json_round_trip_and_unknown_fields_rejected() {
        let s = DspState::default();
        let json = serde_json::to_string(&s).unwrap();
        let back: DspState = serde_json::from_str(&json).unwrap();
        assert_eq!(s, back);
        let bad = json.replacen("\"output_trim_db\"", "\"output_trim\"", 1);
        assert!(serde_json::from_str::<DspState>(&bad).is_err());
        let bad = json.replacen("\"sensitivity_pct\"", "\"sensitivity\"", 1);
        assert!(serde_json::from_str::<DspState>(&bad).is_err());
    }

    /// A session or preset written before the restoration stages existed.
    #[test]
    fn json_without_restoration_or_deesser_loads_with_them_off() {
        let mut v: serde_json::Value = serde_json::to_value(DspState::default()).unwrap();
        let obj = v.as_object_mut().unwrap();
        assert!(obj.remove("restoration").is_some());
        assert!(obj.remove("deesser").is_some());
        obj.insert("output_trim_db".into(), serde_json::json!(-3.0));
        let old = serde_json::to_string(&v).unwrap();
        let s: DspState = serde_json::from_str(&old).unwrap();
        assert_eq!(s.restoration, RestorationState::default());
        assert_eq!(s.deesser, DeEsserState::default());
        assert!(!s.restoration.declip.enabled && !s.restoration.declick.enabled);
        assert!(!s.restoration.denoise.enabled && !s.restoration.expander.enabled);
        assert!(!s.deesser.enabled);
        assert_eq!(s.output_trim_db, -3.0);
        // A partial section fills the rest with defaults.
        let partial = old.replacen('{', "{\"restoration\":{\"denoise\":{\"enabled\":true}},", 1);
        let s: DspState = serde_json::from_str(&partial).unwrap();
        assert!(s.restoration.denoise.enabled);
        assert_eq!(
            s.restoration.denoise.reduction_db,
            DEFAULT_DENOISE_REDUCTION_DB
        );
        assert_eq!(s.restoration.expander, ExpanderState::default());
    }

    #[test]
    fn restoration_fields_are_validated_and_clamped() {
        let mut s = DspState::default();
        s.restoration.denoise.reduction_db = 45.0;
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "restoration.denoise.reduction_db is 45, but must be between 0 and 30"
        );
        assert_eq!(s.clamped(48_000.0).restoration.denoise.reduction_db, 30.0);
        let mut s = DspState::default();
        s.deesser.freq_hz = f32::NAN;
        s.restoration.expander.ratio = 0.5;
        s.restoration.declick.sensitivity_pct = f32::INFINITY;
        assert!(s.validate().is_err());
        let c = s.clamped(48_000.0);
        c.validate().unwrap();
        assert_eq!(c.deesser.freq_hz, DEFAULT_DEESSER_FREQ_HZ);
        assert_eq!(c.restoration.expander.ratio, MIN_EXPANDER_RATIO);
        assert_eq!(
            c.restoration.declick.sensitivity_pct,
            MAX_DECLICK_SENSITIVITY_PCT
        );
    }
}
