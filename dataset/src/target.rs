//! Rendering an intent's target through the chain, so that every training target is
//! physically reachable and moves each quantity exactly as the descriptor table says.
//!
//! Given the audio to start from (the clean recording for a repair, the input itself
//! for a relative prompt; see `generate`), the intent's goals are measured on it
//! ([`faurge_vocabulary::intent::Intent::goals`]) and met in order:
//!
//! 1. **Dynamics**: a crest-factor goal below the input's sets the compressor (ratio
//!    drawn, threshold bisected on the rendered crest factor).
//! 2. **Spectrum**: the smallest smooth dB curve that moves every balance as asked
//!    ([`faurge_vocabulary::ground::balance_curve`]); the EQ is fitted to it (band
//!    limits first where the curve falls at the ends, then six bands at jittered
//!    frequencies: [`faurge_dsp::fit`]), rendered with the compressor, measured, and
//!    the curve corrected by what the render missed, up to [`SPECTRAL_PASSES`] times.
//! 3. **Room**: a room goal convolves with a measured room response whose tail is
//!    scaled to the asked reverberant-to-direct ratio.
//! 4. **Loudness**: the output trim brings the integrated loudness to the goal.

use faurge_dsp::analysis::dynamics::t_dyn;
use faurge_dsp::analysis::loudness::integrated_lufs;
use faurge_dsp::analysis::ltas::{
    ltas_band_centers_hz, ltas_bands_below, ltas_with_bandwidth, LTAS_BANDS,
};
use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_dsp::fit::{fit_band_limits, fit_gains, FitBand, GENERIC_BANDS};
use faurge_dsp::ir::{reverberant_to_direct_db, DIRECT_WINDOW_S};
use faurge_dsp::state::{
    db_to_gain, DspState, MAX_MAKEUP_DB, MAX_TRIM_DB, MIN_MAKEUP_DB, MIN_TRIM_DB,
};
use faurge_vocabulary::descriptors::{Descriptors, QuantityKind};
use faurge_vocabulary::ground::balance_curve;
use faurge_vocabulary::intent::{Goal, GoalKind, Intent, Measured};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Passes of fit → render → measure → correct for the spectrum.
pub const SPECTRAL_PASSES: usize = 3;
/// A balance goal counts as reached in the render when within this, dB.
pub const BALANCE_TOLERANCE_DB: f32 = 0.25;

/// What was rendered and how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// The chain settings (EQ, compressor, convolver on when a room is added, trim).
    pub state: DspState,
    /// The room response used (index into the RIR list) and the ratio reached, dB.
    pub room: Option<(usize, f32)>,
    /// The goals the render aimed at.
    pub goals: Vec<Goal>,
    /// How many of them the render meets (within each quantity's margin).
    pub met: usize,
}

/// The balances, crest factor and loudness of `audio` (mono, `sample_rate`, band
/// limited to `bandwidth_hz`), as the intent's goals need them.
pub fn measure(
    table: &Descriptors,
    audio: &[f32],
    sample_rate: f32,
    bandwidth_hz: f32,
) -> (Measured, [f32; LTAS_BANDS], [bool; LTAS_BANDS]) {
    let ltas = ltas_with_bandwidth(&[audio], sample_rate, bandwidth_hz);
    let valid = ltas_bands_below(bandwidth_hz);
    let mut m = Measured::from_ltas(table, &ltas, &ltas_band_centers_hz(), &valid);
    m.lufs = integrated_lufs(&[audio], sample_rate);
    m.crest_db = Some(t_dyn(&[audio], sample_rate)[0]);
    (m, ltas, valid)
}

fn render(audio: &[f32], state: &DspState, ir: Option<&[f32]>, sample_rate: f32) -> Vec<f32> {
    let mut out = audio.to_vec();
    let Ok(mut chain) = Chain::new(ChainConfig::new(sample_rate, 1)) else {
        return out;
    };
    chain.snap_to_state(state);
    if let Some(ir) = ir {
        if let Ok(k) = chain.kernel_builder().build(&[ir]) {
            let _ = chain.replace_ir(k);
        }
    }
    chain.warm_up(&[audio]);
    chain.process(&mut [&mut out[..]]);
    out
}

/// A room impulse response from a measured one: a unit direct sound, then the
/// measured response's tail (everything after [`DIRECT_WINDOW_S`] past its peak),
/// scaled so the reverberant-to-direct ratio is `rdr_db`.
pub fn room_ir(rir: &[f32], rdr_db: f32, sample_rate: f32) -> Vec<f32> {
    let peak = rir
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map_or(0, |(i, _)| i);
    let start =
        (peak + (DIRECT_WINDOW_S * f64::from(sample_rate)).round() as usize + 1).min(rir.len());
    let tail = &rir[start..];
    let e: f64 = tail.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let mut ir = vec![0.0f32; 1 + (start - peak) + tail.len()];
    ir[0] = 1.0;
    if e > 0.0 {
        let g = (10f64.powf(f64::from(rdr_db) / 10.0) / e).sqrt() as f32;
        for (o, &v) in ir[1 + (start - peak)..].iter_mut().zip(tail) {
            *o = g * v;
        }
    }
    ir
}

/// Renders `intent` on `base` (mono, `sample_rate`, real bandwidth `bandwidth_hz`).
/// Loudness goals are taken relative to `input_lufs` (the loudness of what the user
/// recorded, which for a repair is not the clean `base`'s). `rirs` are measured room
/// responses at `sample_rate`; band frequencies, Q, the compressor ratio and the
/// room are drawn from `rng`.
#[allow(clippy::too_many_arguments)]
pub fn render_intent(
    table: &Descriptors,
    intent: &Intent,
    base: &[f32],
    sample_rate: f32,
    bandwidth_hz: f32,
    input_lufs: Option<f32>,
    rirs: &[Vec<f32>],
    rng: &mut impl Rng,
) -> (Vec<f32>, Recipe) {
    let centers = ltas_band_centers_hz();
    let (mut measured, base_ltas, valid) = measure(table, base, sample_rate, bandwidth_hz);
    if input_lufs.is_some() {
        measured.lufs = input_lufs;
    }
    let goals = intent.goals(table, &measured);
    let weight: Vec<f32> = valid.iter().map(|&v| if v { 1.0 } else { 0.0 }).collect();
    let mut state = DspState::default();
    for b in state.eq.bands.iter_mut() {
        b.enabled = false;
        b.gain_db = 0.0;
    }
    state.compressor.enabled = false;
    state.convolver.enabled = false;

    // 1. Dynamics first (compression also tilts the long-term spectrum, which the
    //    spectral passes then correct): compression toward a lower crest factor.
    if let Some(g) = goals
        .iter()
        .find(|g| g.quantity == "dynamics" && g.change < -0.3)
    {
        let after_eq = render(base, &state, None, sample_rate);
        let crest0 = t_dyn(&[&after_eq], sample_rate)[0];
        let level = integrated_lufs(&[&after_eq], sample_rate).unwrap_or(-30.0);
        let want = crest0 + g.change;
        let c = &mut state.compressor;
        c.enabled = true;
        c.ratio = rng.gen_range(2.5..8.0);
        c.knee_db = 6.0;
        // Fast attack: the crest factor is the peak over the RMS, and a slow attack
        // lets the peaks through while the RMS falls (the crest factor would rise).
        c.attack_ms = rng.gen_range(0.3..1.5);
        c.release_ms = rng.gen_range(60.0..200.0);
        c.makeup_db = 0.0;
        let (mut lo, mut hi) = (level - 30.0, level + 6.0);
        for _ in 0..14 {
            let mid = 0.5 * (lo + hi);
            state.compressor.threshold_db = mid.clamp(-60.0, 0.0);
            let out = render(base, &state, None, sample_rate);
            let crest = t_dyn(&[&out], sample_rate)[0];
            if crest > want {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        state.compressor.threshold_db = (0.5 * (lo + hi)).clamp(-60.0, 0.0);
    }

    // 2. Spectrum, rendered with the compressor in place.
    let balance_goals: Vec<&Goal> = goals
        .iter()
        .filter(|g| {
            table
                .quantity(&g.quantity)
                .is_some_and(|q| q.kind == QuantityKind::Balance)
        })
        .collect();
    let bands: Vec<FitBand> = GENERIC_BANDS
        .iter()
        .map(|&(i, f, q)| {
            (
                i,
                f * 2f32.powf(rng.gen_range(-0.4..0.4)),
                q * rng.gen_range(0.8..1.25),
            )
        })
        .collect();
    if balance_goals.iter().any(|g| g.change.abs() > 1e-3) {
        let owned: Vec<Goal> = balance_goals.iter().map(|g| (*g).clone()).collect();
        let mut want = balance_curve(table, &owned, &base_ltas, &centers, &valid);
        for pass in 0..SPECTRAL_PASSES {
            let mut eq = state.eq;
            for b in eq.bands.iter_mut() {
                b.enabled = false;
            }
            if owned
                .iter()
                .any(|g| (g.quantity == "low_cut" || g.quantity == "high_cut") && g.change < -1.0)
            {
                fit_band_limits(&mut eq, &want, &weight, 250.0, 4000.0, sample_rate);
            }
            fit_gains(&mut eq, &bands, &want, &weight, sample_rate);
            state.eq = eq;
            if pass + 1 == SPECTRAL_PASSES {
                break;
            }
            let out = render(base, &state, None, sample_rate);
            let (now, now_ltas, _) = measure(table, &out, sample_rate, bandwidth_hz);
            // What the render missed, as new goals measured from the render.
            let residual: Vec<Goal> = owned
                .iter()
                .filter_map(|g| {
                    let q = table.quantity(&g.quantity)?;
                    let got = now.value(&q.id, q.kind)? - measured.value(&q.id, q.kind)?;
                    let miss = g.change - got;
                    (miss.abs() > BALANCE_TOLERANCE_DB).then(|| Goal {
                        change: miss,
                        ..g.clone()
                    })
                })
                .collect();
            if residual.is_empty() {
                break;
            }
            let more = balance_curve(table, &residual, &now_ltas, &centers, &valid);
            for (w, m) in want.iter_mut().zip(&more) {
                *w += m;
            }
        }
    }

    // 3. Room.
    let mut room = None;
    let mut ir: Option<Vec<f32>> = None;
    if let Some(g) = goals
        .iter()
        .find(|g| g.quantity == "room" && g.kind == GoalKind::Exactly)
    {
        if !rirs.is_empty() {
            let k = rng.gen_range(0..rirs.len());
            let h = room_ir(&rirs[k], g.value, sample_rate);
            let rdr = reverberant_to_direct_db(&h, sample_rate).unwrap_or(g.value);
            state.convolver.enabled = true;
            state.convolver.mix = 1.0;
            room = Some((k, rdr));
            ir = Some(h);
        }
    }

    // 4. Loudness.
    let mut out = render(base, &state, ir.as_deref(), sample_rate);
    if let (Some(g), Some(now)) = (
        goals.iter().find(|g| g.quantity == "loudness"),
        integrated_lufs(&[&out], sample_rate),
    ) {
        let need = g.value - now;
        let trim = need.clamp(MIN_TRIM_DB, MAX_TRIM_DB);
        // What the trim cannot reach, a compressor's makeup gain carries.
        let makeup = if state.compressor.enabled {
            (need - trim).clamp(MIN_MAKEUP_DB, MAX_MAKEUP_DB)
        } else {
            0.0
        };
        let gain = db_to_gain(trim + makeup);
        out.iter_mut().for_each(|v| *v *= gain);
        state.output_trim_db = trim;
        state.compressor.makeup_db += makeup;
    }

    // How many goals the render meets.
    let (after, _, _) = measure(table, &out, sample_rate, bandwidth_hz);
    let met = goals
        .iter()
        .filter(|g| {
            let Some(q) = table.quantity(&g.quantity) else {
                return false;
            };
            match q.kind {
                QuantityKind::Room => room.is_some() == (g.kind == GoalKind::Exactly),
                _ => after
                    .value(&q.id, q.kind)
                    .is_some_and(|v| g.met_by(v, q.margin)),
            }
        })
        .count();
    (
        out,
        Recipe {
            state,
            room,
            goals,
            met,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use faurge_vocabulary::intent::Reader;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn speech() -> (Vec<f32>, f32) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/clean_vctk_p236_023.wav"
        );
        let a = faurge_io::read(std::path::Path::new(path)).expect("the shipped clean example");
        let mono = a.to_mono();
        (
            mono[..(3 * a.sample_rate) as usize].to_vec(),
            a.sample_rate as f32,
        )
    }

    #[test]
    fn rendered_targets_meet_their_goals_on_real_speech() {
        let r = Reader::embedded().unwrap();
        let t = r.table();
        let (audio, fs) = speech();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for prompt in [
            "a touch warmer",
            "much less boomy",
            "brighter but less sibilant",
            "punchy podcast",
            "telephone",
            "more reverb",
            "quieter",
        ] {
            let intent = r.read(prompt, false);
            let lufs = integrated_lufs(&[&audio], fs);
            let (out, recipe) = render_intent(
                t,
                &intent,
                &audio,
                fs,
                20_000.0,
                lufs,
                &[room_test_rir(fs)],
                &mut rng,
            );
            assert!(out.iter().all(|v| v.is_finite()));
            assert_eq!(
                recipe.met,
                recipe.goals.len(),
                "{prompt}: {:#?}",
                recipe.goals
            );
        }
    }

    fn room_test_rir(fs: f32) -> Vec<f32> {
        // An exponentially decaying noise tail after a direct impulse (RT60 0.5 s).
        let mut v = vec![0.0f32; (0.6 * fs) as usize];
        v[0] = 1.0;
        let mut x: u32 = 12345;
        for (i, s) in v.iter_mut().enumerate().skip(1) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let u = (x as f32 / u32::MAX as f32) * 2.0 - 1.0;
            *s += 0.3 * u * (-6.9 * i as f32 / (0.5 * fs)).exp();
        }
        v
    }

    #[test]
    fn a_room_response_reaches_the_asked_ratio() {
        let fs = 48_000.0;
        let h = room_ir(&room_test_rir(fs), -12.0, fs);
        let r = reverberant_to_direct_db(&h, fs).unwrap();
        assert!((r + 12.0).abs() < 0.2, "{r}");
    }
}
