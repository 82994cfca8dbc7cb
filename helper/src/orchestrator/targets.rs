//! The loop's targets (`T`: LTAS, LUFS, dynamics), the conversions between the
//! networks' layouts and the chain's settings, and the small measures the loop
//! compares spectra with.

use faurge_dsp::ir::{IrParams, IR_CURVE_POINTS};
use faurge_dsp::state::{DspState, NUM_BANDS};

use crate::features::{InputFeatures, ANALYSIS_RATE};
use crate::models::{
    FabianOutput, EMBED_DIM, GENESIS_OUTPUTS, LTAS_BANDS, URSULA_INPUTS, URSULA_OUTPUTS,
};

/// Attack of the compressor the loop sets, ms (Ursula predicts the static curve;
/// these time constants suit speech and are the presets' values).
pub const LOOP_ATTACK_MS: f32 = 10.0;
/// Release of the compressor the loop sets, ms.
pub const LOOP_RELEASE_MS: f32 = 120.0;
/// Ursula's ratio below which the loop leaves the compressor off (1.1:1 turns a
/// 10 dB excess down by under 1 dB).
pub const LOOP_MIN_RATIO: f32 = 1.1;

/// The absolute targets of one round (`T` in the loop's specification).
#[derive(Clone, Debug, PartialEq)]
pub struct Targets {
    /// `T_LTAS`, dB per band (masked bands keep the input's −100 dB).
    pub ltas_db: [f32; LTAS_BANDS],
    /// `T_LUFS`.
    pub lufs: f32,
    /// `T_Dyn`: crest factor dB, zero-crossing rate Hz.
    pub dynamics: [f32; 2],
}

impl Targets {
    /// The input's own measurements as targets (a round that changes nothing).
    pub fn of_input(input: &InputFeatures) -> Targets {
        Targets {
            ltas_db: input.ltas_db,
            lufs: input.lufs,
            dynamics: input.dynamics,
        }
    }

    /// The measured integrator: `T_n = T_(n−1) + (T_1 − M)` in the bands of `mask`,
    /// where `M` is the last shadow bake's LTAS (dB) and the residual's mean over
    /// those bands is removed (LTAS are level-normalized and the trim sets the
    /// level). LUFS and dynamics targets are kept.
    pub fn integrate_residual(
        &self,
        blueprint: &Targets,
        measured_db: &[f32; LTAS_BANDS],
        mask: &[f32; LTAS_BANDS],
    ) -> Targets {
        let mean = masked_mean_diff(&blueprint.ltas_db, measured_db, mask)
            .map_or(0.0, |(mean, _)| mean as f32);
        let mut next = self.clone();
        for b in 0..LTAS_BANDS {
            if mask[b] > 0.0 {
                next.ltas_db[b] += blueprint.ltas_db[b] - measured_db[b] - mean;
            }
        }
        next
    }

    /// The spec's integrator: `T_n = T_(n−1) + ΔT_n` (Fabian's reading), in the
    /// bands of `mask` only.
    pub fn integrate(&self, delta: &FabianOutput, mask: &[f32; LTAS_BANDS]) -> Targets {
        let mut ltas_db = self.ltas_db;
        for ((t, d), m) in ltas_db.iter_mut().zip(&delta.delta_ltas).zip(mask) {
            if *m > 0.0 {
                *t += d;
            }
        }
        Targets {
            ltas_db,
            lufs: self.lufs + delta.delta_lufs,
            dynamics: [
                self.dynamics[0] + delta.delta_dyn[0],
                self.dynamics[1] + delta.delta_dyn[1],
            ],
        }
    }

    /// A repair's tone target: `ltas_db` (the input's, or what the restoration
    /// stages leave of it) minus the tone-repair estimator's `damage_db` read there,
    /// of which a share is applied by the reading's level-free RMS: none up to
    /// `deadband_db`, all of it from `full_db`, rising linearly between them
    /// (`d · clamp((RMS(d) − deadband) / (full − deadband), 0, 1)`; all or nothing
    /// where `full_db ≤ deadband_db`), as the estimator was calibrated in
    /// `training/faurge_train/tone.py`: what it reads in nine clean recordings in ten
    /// changes nothing. Bands outside `mask` (0/1: the bands the estimator read) keep
    /// `ltas_db`; LUFS and dynamics are the input's. Returns the targets and the RMS
    /// applied, dB.
    pub fn repaired(
        input: &InputFeatures,
        ltas_db: &[f32; LTAS_BANDS],
        mask: &[f32; LTAS_BANDS],
        damage_db: &[f32; LTAS_BANDS],
        deadband_db: f32,
        full_db: f32,
    ) -> (Targets, f32) {
        let size = shape_rms_db(damage_db, &[0.0; LTAS_BANDS], mask) as f32;
        let deadband_db = deadband_db.max(0.0);
        let share = if !(size > deadband_db && size.is_finite()) {
            0.0
        } else if full_db > deadband_db {
            ((size - deadband_db) / (full_db - deadband_db)).min(1.0)
        } else {
            1.0
        };
        let mut t = Targets::of_input(input);
        t.ltas_db = *ltas_db;
        if share <= 0.0 {
            return (t, 0.0);
        }
        for ((v, d), m) in t.ltas_db.iter_mut().zip(damage_db).zip(mask) {
            if *m > 0.0 {
                *v -= share * d;
            }
        }
        (t, share * size)
    }

    /// `T_LTAS` plus `curve` (dB per band) in the bands of `mask`.
    pub fn shifted(&self, curve: &[f32], mask: &[f32; LTAS_BANDS]) -> Targets {
        let mut next = self.clone();
        for (b, (t, m)) in next.ltas_db.iter_mut().zip(mask).enumerate() {
            if *m > 0.0 {
                *t += curve.get(b).copied().unwrap_or(0.0);
            }
        }
        next
    }
}

/// Ursula's input (`faurge_train.models.ursula_input`): target and current LTAS
/// (zero in masked bands) / 20, the mask, LUFS / 30, `[crest / 10, ZCR / 1000]`.
/// The current LTAS is `current_ltas` (what reaches the EQ: the input's, or what a
/// repair's restoration stages leave of it); the rest is the input's.
pub fn ursula_input(
    t: &Targets,
    current_ltas: &[f32; LTAS_BANDS],
    input: &InputFeatures,
) -> [f32; URSULA_INPUTS] {
    let mut x = [0.0f32; URSULA_INPUTS];
    let m = &input.ltas_mask;
    for b in 0..LTAS_BANDS {
        if m[b] > 0.0 {
            x[b] = t.ltas_db[b] / 20.0;
            x[LTAS_BANDS + b] = current_ltas[b] / 20.0;
        }
        x[2 * LTAS_BANDS + b] = m[b];
    }
    let o = 3 * LTAS_BANDS;
    x[o] = t.lufs / 30.0;
    x[o + 1] = input.lufs / 30.0;
    x[o + 2] = t.dynamics[0] / 10.0;
    x[o + 3] = t.dynamics[1] / 1000.0;
    x[o + 4] = input.dynamics[0] / 10.0;
    x[o + 5] = input.dynamics[1] / 1000.0;
    x
}

/// Ursula's settings → a `DspState` (the layout of `faurge_train.models.Ursula`):
/// per band `(enabled 0..1, Hz, dB, Q)`; high-pass and low-pass are enabled above
/// 0.5, the shelves and peaks always; then threshold dB, ratio, knee dB, makeup dB,
/// output trim dB. The convolver follows `ir`. Clamped to the parameter ranges.
/// The restoration stages and the de-esser stay off (the loop sets them).
pub fn dsp_state_from_ursula(s: &[f32; URSULA_OUTPUTS], ir: bool) -> DspState {
    let mut st = DspState::default();
    for (b, band) in st.eq.bands.iter_mut().enumerate().take(NUM_BANDS) {
        let v = &s[4 * b..4 * b + 4];
        band.enabled = if b == 0 || b == NUM_BANDS - 1 {
            v[0] > 0.5
        } else {
            true
        };
        band.freq_hz = v[1];
        band.gain_db = v[2];
        band.q = v[3];
    }
    let c = &s[4 * NUM_BANDS..];
    // Ursula's compressor is trained through the gain computer against the crest
    // factor target; a ratio below `LOOP_MIN_RATIO` changes nothing audible.
    st.compressor.enabled = c[1] >= LOOP_MIN_RATIO;
    st.compressor.threshold_db = c[0];
    st.compressor.ratio = c[1];
    st.compressor.knee_db = c[2];
    st.compressor.makeup_db = c[3];
    st.compressor.attack_ms = LOOP_ATTACK_MS;
    st.compressor.release_ms = LOOP_RELEASE_MS;
    st.output_trim_db = c[4];
    st.convolver.enabled = ir;
    st.convolver.mix = 1.0;
    st.clamped(ANALYSIS_RATE as f32)
}

/// Genesis' output → `IrParams` (seed fixed at 1, as in training).
pub fn ir_params_from_genesis(p: &[f32; GENESIS_OUTPUTS]) -> IrParams {
    let mut correction_db = [0.0f32; IR_CURVE_POINTS];
    correction_db.copy_from_slice(&p[..IR_CURVE_POINTS]);
    IrParams {
        correction_db,
        wet_db: p[IR_CURVE_POINTS],
        rt60_s: p[IR_CURVE_POINTS + 1],
        predelay_ms: p[IR_CURVE_POINTS + 2],
        hf_damping: p[IR_CURVE_POINTS + 3],
        seed: 1,
    }
    .clamped()
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += f64::from(x) * f64::from(y);
        aa += f64::from(x) * f64::from(x);
        bb += f64::from(y) * f64::from(y);
    }
    if aa <= 0.0 || bb <= 0.0 {
        0.0
    } else {
        (ab / (aa.sqrt() * bb.sqrt())) as f32
    }
}

/// `S_C` of a change: the cosine of `e_text` with the direction the audio embedding
/// moved from `e_before` to `e_after` (the directional similarity of Gal et al.,
/// "StyleGAN-NADA", 2021). A prompt is mostly a request for a change, so what
/// fulfils it is judged by the change; the text encoder is trained for exactly this
/// (`training/faurge_train/train.py`, `direction`). 0 when nothing changed.
pub fn directional_similarity(e_text: &[f32], e_after: &[f32], e_before: &[f32]) -> f32 {
    let d: Vec<f32> = e_after.iter().zip(e_before).map(|(a, b)| a - b).collect();
    cosine(e_text, &d)
}

/// Mean of `a − b` over the bands where `mask` is 1 (weighted by `mask`), and the
/// mask's weight; `None` for an empty mask. Accumulated in f64.
fn masked_mean_diff(a: &[f32], b: &[f32], mask: &[f32]) -> Option<(f64, f64)> {
    let w: f64 = mask.iter().map(|&m| f64::from(m)).sum();
    if w <= 0.0 {
        return None;
    }
    let sum: f64 = a
        .iter()
        .zip(b)
        .zip(mask)
        .map(|((&x, &y), &m)| (f64::from(x) - f64::from(y)) * f64::from(m))
        .sum();
    Some((sum / w, w))
}

/// RMS of `a − b` (dB per band) over the bands where `mask` is 1, after removing
/// its mean there, dB (0 for an empty mask): the difference of two spectra up to a
/// level offset. It is the loop's blueprint distance and `faurge-eval`'s LTAS error
/// (`shape_rmse` of `training/faurge_train/train.py`).
pub fn shape_rms_db(a: &[f32], b: &[f32], mask: &[f32]) -> f64 {
    let Some((mean, w)) = masked_mean_diff(a, b, mask) else {
        return 0.0;
    };
    let ss: f64 = a
        .iter()
        .zip(b)
        .zip(mask)
        .map(|((&x, &y), &m)| (f64::from(x) - f64::from(y) - mean).powi(2) * f64::from(m))
        .sum();
    (ss / w).sqrt()
}

/// `v` scaled to unit length (unchanged when all zeros).
pub fn normalized(v: [f32; EMBED_DIM]) -> [f32; EMBED_DIM] {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.map(|x| x / n)
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::RESTORE_FAMILIES;

    fn fabian(d: f32) -> FabianOutput {
        FabianOutput {
            delta_ltas: [d; LTAS_BANDS],
            delta_lufs: d,
            delta_dyn: [d, 10.0 * d],
            genesis_logit: -1.0,
            restore_logits: [0.0; RESTORE_FAMILIES.len()],
        }
    }

    #[test]
    fn a_repair_applies_a_share_of_the_damage_rising_from_the_deadband_to_the_full_level() {
        let tone: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
        let mut input = InputFeatures::measure(&[&tone], ANALYSIS_RATE).unwrap();
        input.ltas_db = std::array::from_fn(|b| -30.0 - b as f32 * 0.25);
        input.ltas_mask = [1.0; LTAS_BANDS];
        input.ltas_mask[LTAS_BANDS - 1] = 0.0;
        // A level-free damage over the valid bands: ±4 dB alternating, mean removed.
        let mut damage: [f32; LTAS_BANDS] =
            std::array::from_fn(|b| if b % 2 == 0 { 4.0 } else { -4.0 });
        let mean = damage[..LTAS_BANDS - 1].iter().sum::<f32>() / (LTAS_BANDS - 1) as f32;
        damage.iter_mut().for_each(|d| *d -= mean);
        damage[LTAS_BANDS - 1] = 50.0; // masked: never applied
        let size = shape_rms_db(&damage, &[0.0; LTAS_BANDS], &input.ltas_mask) as f32;
        let repaired = |ltas: &[f32; LTAS_BANDS], damage: &[f32; LTAS_BANDS], lo, hi| {
            Targets::repaired(&input, ltas, &input.ltas_mask, damage, lo, hi)
        };
        // Under the deadband: the input, untouched.
        let (t, applied) = repaired(&input.ltas_db, &damage, size + 0.1, size + 1.0);
        assert_eq!((t.ltas_db, applied), (input.ltas_db, 0.0));
        // A quarter of the way from the deadband to the full level: a quarter of it,
        // in the damage's shape, subtracted.
        let (t, applied) = repaired(&input.ltas_db, &damage, size - 1.0, size + 3.0);
        assert!((applied - 0.25 * size).abs() < 1e-4, "{applied}");
        for ((got, was), d) in t
            .ltas_db
            .iter()
            .zip(&input.ltas_db)
            .zip(&damage)
            .take(LTAS_BANDS - 1)
        {
            assert!((got - (was - 0.25 * d)).abs() < 1e-4);
        }
        assert_eq!(t.ltas_db[LTAS_BANDS - 1], input.ltas_db[LTAS_BANDS - 1]);
        assert_eq!((t.lufs, t.dynamics), (input.lufs, input.dynamics));
        // Beyond the full level, and where the two levels meet: all of it.
        for (lo, hi) in [(size - 2.0, size - 1.0), (size - 1.0, size - 1.0)] {
            let (t, applied) = repaired(&input.ltas_db, &damage, lo, hi);
            assert!((applied - size).abs() < 1e-4, "{applied}");
            assert!((t.ltas_db[0] - (input.ltas_db[0] - damage[0])).abs() < 1e-4);
        }
        // From another starting spectrum (what the restoration stages leave).
        let restored = input.ltas_db.map(|v| v - 2.0);
        let (t, _) = repaired(&restored, &damage, size - 1.0, size + 3.0);
        assert!((t.ltas_db[0] - (restored[0] - 0.25 * damage[0])).abs() < 1e-4);
        // A damage that is not a number changes nothing.
        let (t, applied) = repaired(&input.ltas_db, &[f32::NAN; LTAS_BANDS], 1.0, 2.0);
        assert_eq!((t.ltas_db, applied), (input.ltas_db, 0.0));
    }

    #[test]
    fn the_integrator_accumulates_deltas_in_unmasked_bands_only() {
        let mut mask = [1.0; LTAS_BANDS];
        mask[LTAS_BANDS - 1] = 0.0;
        let t0 = Targets {
            ltas_db: [-30.0; LTAS_BANDS],
            lufs: -23.0,
            dynamics: [15.0, 2000.0],
        };
        let t1 = t0.integrate(&fabian(2.0), &mask);
        let t2 = t1.integrate(&fabian(-0.5), &mask);
        assert_eq!(t2.ltas_db[0], -28.5);
        assert_eq!(t2.ltas_db[LTAS_BANDS - 1], -30.0);
        assert_eq!(t2.lufs, -21.5);
        assert_eq!(t2.dynamics, [16.5, 2015.0]);
    }

    #[test]
    fn the_measured_integrator_adds_the_residual_shape_in_unmasked_bands_only() {
        let mut mask = [1.0; LTAS_BANDS];
        mask[LTAS_BANDS - 1] = 0.0;
        let mut blueprint = Targets {
            ltas_db: [-30.0; LTAS_BANDS],
            lufs: -18.0,
            dynamics: [15.0, 2000.0],
        };
        blueprint.ltas_db[0] = -20.0;
        // The render missed band 0 by 4 dB and is 6 dB quieter everywhere else
        // (a level offset, not a shape error); the masked band reads garbage.
        let mut measured = [-36.0f32; LTAS_BANDS];
        measured[0] = -30.0;
        measured[LTAS_BANDS - 1] = 50.0;
        let prev = blueprint.clone();
        let next = prev.integrate_residual(&blueprint, &measured, &mask);
        let n = (LTAS_BANDS - 1) as f32;
        let mean = (10.0 + 6.0 * (n - 1.0)) / n;
        assert!((next.ltas_db[0] - (-20.0 + 10.0 - mean)).abs() < 1e-4);
        assert!((next.ltas_db[1] - (-30.0 + 6.0 - mean)).abs() < 1e-4);
        assert_eq!(next.ltas_db[LTAS_BANDS - 1], -30.0);
        assert_eq!(
            (next.lufs, next.dynamics),
            (blueprint.lufs, blueprint.dynamics)
        );
        // A render that hits the blueprint's shape leaves the targets alone.
        let on_target = blueprint.ltas_db.map(|v| v - 3.0);
        let same = next.integrate_residual(&blueprint, &on_target, &mask);
        for b in 0..LTAS_BANDS - 1 {
            assert!((same.ltas_db[b] - next.ltas_db[b]).abs() < 1e-4);
        }
    }

    #[test]
    fn shape_rms_ignores_offsets_and_masked_bands() {
        let mask = [1.0, 1.0, 0.0];
        let zero = [0.0; 3];
        assert!(shape_rms_db(&[5.0, 5.0, 100.0], &zero, &mask).abs() < 1e-6);
        assert!((shape_rms_db(&[1.0, -1.0, 100.0], &zero, &mask) - 1.0).abs() < 1e-6);
        assert!(shape_rms_db(&[3.0, 1.0, 0.0], &[2.0, 2.0, 9.0], &mask) - 1.0 < 1e-6);
        assert_eq!(shape_rms_db(&[1.0, 2.0, 3.0], &zero, &[0.0; 3]), 0.0);
    }

    #[test]
    fn ursula_settings_map_to_a_valid_state_in_the_trained_layout() {
        let mut s = [0.0f32; URSULA_OUTPUTS];
        for b in 0..NUM_BANDS {
            s[4 * b] = if b == 0 { 0.9 } else { 0.1 };
            s[4 * b + 1] = 100.0 * (b + 1) as f32;
            s[4 * b + 2] = b as f32 - 3.0;
            s[4 * b + 3] = 0.7;
        }
        s[32..37].copy_from_slice(&[-20.0, 3.0, 6.0, 2.0, 40.0]);
        let st = dsp_state_from_ursula(&s, true);
        assert!(st.validate().is_ok());
        assert!(st.eq.bands[0].enabled && !st.eq.bands[7].enabled);
        assert!(st.eq.bands[1].enabled && st.eq.bands[6].enabled);
        assert_eq!(st.eq.bands[3].freq_hz, 400.0);
        assert_eq!(st.eq.bands[3].gain_db, 0.0);
        assert_eq!(st.compressor.threshold_db, -20.0);
        assert_eq!(st.compressor.ratio, 3.0);
        assert_eq!(st.output_trim_db, faurge_dsp::state::MAX_TRIM_DB, "clamped");
        assert!(st.convolver.enabled);
        assert!(st.compressor.enabled, "ratio 3:1 turns the compressor on");
        s[33] = 1.05;
        assert!(!dsp_state_from_ursula(&s, true).compressor.enabled);
    }

    #[test]
    fn similarity_is_scale_free_safe_on_zeros_and_directional() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        // The change from before to after points along the text: 1; no change: 0.
        assert!((directional_similarity(&[1.0, 0.0], &[0.5, 0.5], &[0.0, 0.5]) - 1.0).abs() < 1e-6);
        assert_eq!(
            directional_similarity(&[1.0, 0.0], &[0.3, 0.4], &[0.3, 0.4]),
            0.0
        );
    }
}
