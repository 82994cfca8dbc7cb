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

/// Every setting of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DspState {
    /// Parametric EQ.
    pub eq: EqState,
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

/// `v` clamped to `min..=max`, or `fallback` when `v` is NaN.
fn clamp_or(v: f32, min: f32, max: f32, fallback: f32) -> f32 {
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

impl Default for DspState {
    /// Transparent: every processor at unity.
    fn default() -> Self {
        DspState {
            eq: EqState::default(),
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
    }
}
