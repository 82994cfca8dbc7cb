//! The de-clipper on clipping that was filtered after the clipper — an analog stage
//! clipping before the AC coupling and the converter's anti-alias filter — where no
//! two samples are equal: its plateaus droop and ring, and only the straight-plateau
//! detector finds them. On the shipped speech clips.

mod support;

use faurge_dsp::restore::Repair;
use faurge_dsp::state::{DeclickState, DeclipState};

/// Linear-phase low-pass (Hann-windowed sinc, 33 taps) with its cutoff at 0.45·fs, the
/// way a converter's anti-alias filter rounds and rings on a clipped corner.
fn anti_alias(x: &[f32]) -> Vec<f32> {
    let half = 16i32;
    let fc = 0.45f64;
    let h: Vec<f64> = (-half..=half)
        .map(|i| {
            let t = f64::from(i);
            let sinc = if i == 0 {
                2.0 * fc
            } else {
                (std::f64::consts::TAU * fc * t).sin() / (std::f64::consts::PI * t)
            };
            sinc * (0.5 + 0.5 * (std::f64::consts::PI * t / f64::from(half + 1)).cos())
        })
        .collect();
    (0..x.len())
        .map(|n| {
            h.iter()
                .enumerate()
                .map(|(k, &c)| {
                    let j = n as i64 + k as i64 - i64::from(half);
                    if j < 0 || j >= x.len() as i64 {
                        0.0
                    } else {
                        c * f64::from(x[j as usize])
                    }
                })
                .sum::<f64>() as f32
        })
        .collect()
}

/// The same linear path with or without the clipper in front (ceiling `level`).
fn recording_chain(x: &[f32], level: Option<f32>, sr: f32) -> Vec<f32> {
    let mut clipped: Vec<f32> = match level {
        Some(l) => x.iter().map(|v| v.clamp(-l, l)).collect(),
        None => x.to_vec(),
    };
    support::dc_block(&mut clipped, 10.0, sr);
    anti_alias(&clipped)
}

/// Runs the repair stage (de-clipper only) over `x` in blocks of 64; returns the
/// output aligned with the input and the number of clipped runs found and repaired.
fn declip(x: &[f32], sr: f32) -> (Vec<f32>, u64, u64) {
    let mut stage = Repair::new(sr, 1);
    stage.set_target(
        &DeclipState { enabled: true },
        &DeclickState {
            enabled: false,
            ..DeclickState::default()
        },
    );
    let lat = stage.latency_samples();
    let out = support::run_aligned(x, 64, lat, |b| stage.process(&mut [b]));
    let s = stage.stats(0);
    (out, s.clipped_runs, s.clipped_runs_repaired)
}

#[test]
fn filtered_clipping_is_found_and_reconstructed_closer_to_the_original() {
    // At 16 kHz a plateau spans a third of the samples, the AR model is of order 11
    // rather than 32, and the same clipping is repaired far less well (measured: 9.5 →
    // 9.9 dB); the test asks that it is found and brought closer, not by how much.
    for (path, sr, min_gain_db) in [
        (faurge_io::examples::VCTK_SPEECH, 48_000.0, 2.0),
        (faurge_io::examples::LIBRISPEECH_SPEECH, 16_000.0, 0.2),
    ] {
        filtered_clipping_is_repaired(path, sr, min_gain_db);
    }
}

fn filtered_clipping_is_repaired(path: &str, sr: f32, min_gain_db: f64) {
    let speech = faurge_io::read(path).unwrap().to_mono();
    let peak = speech.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let x: Vec<f32> = speech.iter().map(|v| 0.9 * v / peak).collect();
    let original = recording_chain(&x, None, sr);
    let level = 0.3;
    let clipped = recording_chain(&x, Some(level), sr);
    // No two neighbours are equal: the exact plateau detector has nothing to find.
    let equal = clipped
        .windows(2)
        .filter(|w| w[0] == w[1] && w[0].abs() > 0.1)
        .count();
    assert_eq!(equal, 0);
    let was_clipped = x.iter().filter(|v| v.abs() > level).count();
    let (out, runs, repaired) = declip(&clipped, sr);
    let (before, after) = (
        support::snr_db(&original, &clipped),
        support::snr_db(&original, &out),
    );
    println!(
        "{path} at {sr} Hz: {was_clipped} samples clipped; {runs} runs found, {repaired} repaired; SNR against the unclipped recording {before:.2} → {after:.2} dB"
    );
    assert!(
        runs >= 20 && repaired * 10 >= runs * 9,
        "{path}: {runs} runs, {repaired} repaired"
    );
    assert!(
        after >= before + min_gain_db,
        "{path}: {before:.2} → {after:.2} dB"
    );
}

#[test]
fn clean_speech_through_the_same_filters_has_no_plateaus() {
    for (path, sr) in [
        (faurge_io::examples::VCTK_SPEECH, 48_000.0),
        (faurge_io::examples::LIBRISPEECH_SPEECH, 16_000.0),
    ] {
        let speech = faurge_io::read(path).unwrap().to_mono();
        let peak = speech.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let x: Vec<f32> = speech.iter().map(|v| 0.9 * v / peak).collect();
        for (label, signal) in [
            ("as recorded", x.clone()),
            ("filtered", recording_chain(&x, None, sr)),
        ] {
            let (out, runs, _) = declip(&signal, sr);
            // Fewer than the helper's threshold for switching the de-clipper on, and
            // (nothing repaired) the stage is a plain delay.
            assert!(runs < 3, "{path} {label}: {runs} runs");
            let changed = out.iter().zip(&signal).filter(|(a, b)| a != b).count();
            assert!(
                runs > 0 || changed == 0,
                "{path} {label}: {changed} samples changed"
            );
        }
    }
}
