//! Tests of the degradation suite: each defect moves the measurement it targets
//! on the shipped speech clips, exact checks of levels, timing and filter
//! responses, and seeded determinism.

use std::f64::consts::PI;

use faurge_dsp::analysis::dynamics::dynamics;
use faurge_dsp::analysis::loudness::active_speech_level;
use faurge_dsp::analysis::ltas::{ltas, ltas_band_centers_hz, ltas_bands_below};
use faurge_dsp::analysis::purity::purity;
use faurge_dsp::biquad::Coefficients;
use faurge_dsp::degrade::{
    Degradation, DegradationChain, DegradationKind, DegradeError, NoiseColor, PopShape, Resonance,
    POP_INTERVAL_S,
};
use faurge_dsp::state::BandKind;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const VCTK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/speech_vctk_p234_012.wav"
);
const LIBRI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/speech_librispeech_19-198-0000.flac"
);

/// The two shipped clips: 48 kHz full-band VCTK and 16 kHz LibriSpeech.
fn clips() -> Vec<(Vec<f32>, f32)> {
    [VCTK, LIBRI]
        .iter()
        .map(|p| {
            let a = faurge_io::read(p).expect("shipped clip");
            (a.to_mono(), a.sample_rate as f32)
        })
        .collect()
}

fn degraded(x: &[f32], sr: f32, d: &Degradation, seed: u64) -> Vec<f32> {
    let mut y = vec![x.to_vec()];
    d.apply(&mut y, sr, seed).expect("apply");
    y.remove(0)
}

/// Mean LTAS (dB) over the valid bands whose centre lies in `lo..hi` Hz.
fn ltas_mean(l: &[f32; 64], sr: f32, lo: f32, hi: f32) -> f32 {
    let c = ltas_band_centers_hz();
    let valid = ltas_bands_below(sr / 2.0);
    let v: Vec<f32> = (0..64)
        .filter(|&i| valid[i] && c[i] >= lo && c[i] < hi)
        .map(|i| l[i])
        .collect();
    assert!(!v.is_empty(), "no band in {lo}..{hi} Hz at {sr} Hz");
    v.iter().sum::<f32>() / v.len() as f32
}

/// Each kind drawn at `strength` with three seeds, applied to both clips.
fn each_draw(
    kind: DegradationKind,
    strength: f32,
    mut check: impl FnMut(&[f32], &[f32], f32, &Degradation),
) {
    for seed in 0..3 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = Degradation::random(kind, &mut rng, strength);
        for (x, sr) in clips() {
            let y = degraded(&x, sr, &d, seed);
            assert!(y.iter().all(|v| v.is_finite()), "{d:?}");
            check(&x, &y, sr, &d);
        }
    }
}

#[test]
fn pops_raise_the_click_rate_and_the_crest_factor() {
    each_draw(DegradationKind::Pops, 0.7, |x, y, sr, d| {
        let (before, after) = (purity(&[x], sr), purity(&[y], sr));
        assert!(
            // At least one pop every two seconds is found.
            after.clicks_per_second > before.clicks_per_second + 0.45,
            "{d:?}: {before:?} → {after:?}"
        );
    });
    // Clicks above the speech peak raise the crest factor too. (At or below it
    // they add energy but no new peak; boops add tone energy as well.)
    for (x, sr) in clips() {
        for decay_ms in [1.0, 4.0] {
            let d = Degradation::Pops {
                shape: PopShape::Click { decay_ms },
                peak_db_re_signal_peak: 6.0,
                first_pop_s: 0.1,
            };
            let y = degraded(&x, sr, &d, 0);
            let (before, after) = (dynamics(&[&x], sr), dynamics(&[&y], sr));
            assert!(
                after.crest_factor_db > before.crest_factor_db + 1.0,
                "{d:?}: {before:?} → {after:?}"
            );
        }
    }
}

#[test]
fn noise_lowers_the_snr_and_lifts_the_high_bands() {
    each_draw(DegradationKind::Noise, 0.8, |x, y, sr, d| {
        let (before, after) = (purity(&[x], sr), purity(&[y], sr));
        assert!(
            after.snr_db < before.snr_db - 5.0,
            "{d:?}: {before:?} → {after:?}"
        );
        let (lb, la) = (ltas(&[x], sr), ltas(&[y], sr));
        let Degradation::Noise { color, .. } = d else {
            unreachable!()
        };
        let (lo, hi) = if *color == NoiseColor::Brown {
            // Brown noise lives at the bottom of the spectrum.
            (40.0, 100.0)
        } else {
            // The top octave of the valid bands.
            let top = (sr / 2.0).min(20_000.0);
            (top / 2.0, top)
        };
        let rise = ltas_mean(&la, sr, lo, hi) - ltas_mean(&lb, sr, lo, hi);
        assert!(rise > 2.0, "{d:?}: {lo}..{hi} Hz rose {rise} dB");
    });
}

#[test]
fn muddy_eq_lifts_the_low_mids_and_dulls_the_top() {
    each_draw(DegradationKind::Muddy, 0.6, |x, y, sr, d| {
        let (lb, la) = (ltas(&[x], sr), ltas(&[y], sr));
        // Speech already has most of its power in the low mids, so their share
        // of the (normalized) LTAS rises less than the boost itself.
        let low_mid = ltas_mean(&la, sr, 200.0, 500.0) - ltas_mean(&lb, sr, 200.0, 500.0);
        let top = ltas_mean(&la, sr, 5000.0, 8000.0) - ltas_mean(&lb, sr, 5000.0, 8000.0);
        assert!(
            low_mid > 0.5 && top < -8.0,
            "{d:?}: low mids {low_mid} dB, top {top} dB"
        );
    });
}

#[test]
fn clipping_raises_the_clipped_fraction_and_lowers_the_crest_factor() {
    each_draw(DegradationKind::Clipping, 0.5, |x, y, sr, d| {
        let (pb, pa) = (purity(&[x], sr), purity(&[y], sr));
        assert!(
            pa.clipping_fraction > pb.clipping_fraction + 0.005,
            "{d:?}: {pa:?}"
        );
        let (db, da) = (dynamics(&[x], sr), dynamics(&[y], sr));
        assert!(
            da.crest_factor_db < db.crest_factor_db - 3.0,
            "{d:?}: {db:?} → {da:?}"
        );
    });
}

#[test]
fn comb_filtering_carves_notches_into_the_spectrum() {
    each_draw(DegradationKind::Comb, 0.6, |x, y, sr, d| {
        let (pb, pa) = (purity(&[x], sr), purity(&[y], sr));
        assert!(
            pa.spectral_ripple_db > pb.spectral_ripple_db + 0.5,
            "{d:?}: {pb:?} → {pa:?}"
        );
        let Degradation::Comb { gain, .. } = d else {
            unreachable!()
        };
        assert!(
            (pa.reflection_gain - gain.abs()).abs() < 0.15,
            "{d:?}: {pa:?}"
        );
    });
}

#[test]
fn sibilance_lifts_the_5_to_8_khz_bands() {
    each_draw(DegradationKind::Sibilance, 0.6, |x, y, sr, d| {
        let (lb, la) = (ltas(&[x], sr), ltas(&[y], sr));
        let c = ltas_band_centers_hz();
        let valid = ltas_bands_below(sr / 2.0);
        let rise = (0..64)
            .filter(|&i| valid[i] && c[i] >= 5000.0 && c[i] <= 8000.0)
            .map(|i| la[i] - lb[i])
            .fold(f32::MIN, f32::max);
        assert!(rise > 3.0, "{d:?}: {rise}");
        // Elsewhere the spectrum's shape barely moves (only the normalization).
        let mid_shift = ltas_mean(&la, sr, 300.0, 2000.0) - ltas_mean(&lb, sr, 300.0, 2000.0);
        assert!(mid_shift.abs() < 1.5, "{d:?}: {mid_shift}");
    });
}

#[test]
fn pops_land_exactly_one_second_apart() {
    let sr = 48_000.0;
    let first = 0.25;
    let d = Degradation::Pops {
        shape: PopShape::Click { decay_ms: 1.0 },
        peak_db_re_signal_peak: -6.0,
        first_pop_s: first,
    };
    let mut y = vec![vec![0.0f32; 48_000 * 7 / 2]];
    d.apply(&mut y, sr, 0).expect("pops");
    let amp = 10f32.powf(-6.0 / 20.0); // re full scale: the input is silent
    let onsets: Vec<usize> = (1..y[0].len())
        .filter(|&n| y[0][n - 1] < 1e-3 * amp && y[0][n] > 0.5 * amp)
        .collect();
    let expected: Vec<usize> = (0..4)
        .map(|k| ((first + k as f32 * POP_INTERVAL_S) * sr).round() as usize)
        .collect();
    assert_eq!(onsets, expected);
    for &n in &expected {
        assert!((y[0][n] - amp).abs() < 1e-6);
    }
    // A boop starts at its peak and ends at zero: one step per pop.
    let d = Degradation::Pops {
        shape: PopShape::Boop {
            freq_hz: 300.0,
            duration_ms: 20.0,
        },
        peak_db_re_signal_peak: 0.0,
        first_pop_s: 0.5,
    };
    let mut y = vec![vec![0.0f32; 48_000 * 2]];
    d.apply(&mut y, sr, 0).expect("boop");
    assert_eq!(y[0][23_999], 0.0);
    assert!((y[0][24_000] - 1.0).abs() < 1e-6);
    assert!(y[0][24_000 + 959].abs() < 1e-3 && y[0][24_000 + 960] == 0.0);
}

#[test]
fn noise_is_added_at_the_requested_snr_re_the_active_level() {
    let (x, sr) = clips().remove(0);
    let active = active_speech_level(&[&x], sr).expect("speech").level_db;
    for color in [NoiseColor::White, NoiseColor::Pink, NoiseColor::Brown] {
        for snr_db in [0.0f32, 15.0, 30.0] {
            let y = degraded(&x, sr, &Degradation::Noise { color, snr_db }, 5);
            let p: f64 = y
                .iter()
                .zip(&x)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / x.len() as f64;
            let measured = f64::from(active) - 10.0 * p.log10();
            assert!(
                (measured - f64::from(snr_db)).abs() < 0.05,
                "{color:?} {snr_db}: {measured}"
            );
        }
    }
}

#[test]
fn comb_impulse_response_is_direct_plus_delayed() {
    let sr = 48_000.0;
    for gain in [0.5f32, -0.7] {
        let mut y = vec![vec![0.0f32; 1000]];
        y[0][0] = 1.0;
        Degradation::Comb {
            delay_ms: 3.0,
            gain,
        }
        .apply(&mut y, sr, 0)
        .expect("comb");
        let d = 144; // 3 ms at 48 kHz
        let norm = 1.0 / (1.0 + gain.abs());
        for (n, &v) in y[0].iter().enumerate() {
            let expected = match n {
                0 => norm,
                n if n == d => gain * norm,
                _ => 0.0,
            };
            assert!((v - expected).abs() < 1e-7, "{gain} n={n}: {v}");
        }
    }
}

/// Steady-state gain (dB) of `d` for a sine at `freq` Hz.
fn sine_gain_db(d: &Degradation, freq: f64, sr: f32) -> f64 {
    let n = sr as usize;
    let x: Vec<f32> = (0..n)
        .map(|i| (0.1 * (2.0 * PI * freq * i as f64 / f64::from(sr)).sin()) as f32)
        .collect();
    let y = degraded(&x, sr, d, 0);
    let rms =
        |v: &[f32]| (v.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    20.0 * (rms(&y[n / 2..]) / rms(&x[n / 2..])).log10()
}

#[test]
fn muddy_and_sibilance_follow_the_cookbook_responses() {
    let sr = 48_000.0;
    let muddy = Degradation::Muddy {
        boost_hz: 300.0,
        boost_db: 9.0,
        boost_q: 1.0,
        shelf_hz: 3000.0,
        shelf_db: -12.0,
    };
    let peak = Coefficients::design(BandKind::Peak, 300.0, 9.0, 1.0, 48_000.0);
    let shelf = Coefficients::design(BandKind::HighShelf, 3000.0, -12.0, 0.5f64.sqrt(), 48_000.0);
    for f in [100.0, 300.0, 1000.0, 6000.0, 12_000.0] {
        let expected = peak.magnitude_db(f, 48_000.0) + shelf.magnitude_db(f, 48_000.0);
        let got = sine_gain_db(&muddy, f, sr);
        assert!((got - expected).abs() < 0.05, "{f} Hz: {got} vs {expected}");
    }
    // At 16 kHz a 7.9 kHz resonance is moved to 0.45 × 16 kHz = 7.2 kHz.
    let sib = Degradation::Sibilance {
        resonances: vec![Resonance {
            freq_hz: 7900.0,
            gain_db: 12.0,
            q: 6.0,
        }],
    };
    let got = sine_gain_db(&sib, 7200.0, 16_000.0);
    assert!((got - 12.0).abs() < 0.1, "{got}");
    let mut y = vec![vec![0.5f32; 8000]];
    sib.apply(&mut y, 8000.0, 0).expect("8 kHz");
    assert!(y[0].iter().all(|v| v.is_finite()));
}

#[test]
fn clipping_keeps_the_peak_and_flattens_the_tops() {
    let (x, sr) = clips().remove(0);
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let y = degraded(&x, sr, &Degradation::Clipping { drive_db: 12.0 }, 0);
    let peak_y = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert_eq!(peak_y, peak);
    let g = 10f32.powf(12.0 / 20.0);
    for (a, b) in x.iter().zip(&y) {
        assert_eq!(*b, (a * g).clamp(-peak, peak));
    }
}

#[test]
fn same_seed_same_output_different_seed_different_output() {
    let (x, sr) = clips().remove(1);
    let noise = Degradation::Noise {
        color: NoiseColor::Pink,
        snr_db: 10.0,
    };
    assert_eq!(degraded(&x, sr, &noise, 1), degraded(&x, sr, &noise, 1));
    assert_ne!(degraded(&x, sr, &noise, 1), degraded(&x, sr, &noise, 2));

    for kind in DegradationKind::ALL {
        let a = Degradation::random(kind, &mut ChaCha8Rng::seed_from_u64(3), 0.5);
        let b = Degradation::random(kind, &mut ChaCha8Rng::seed_from_u64(3), 0.5);
        let c = Degradation::random(kind, &mut ChaCha8Rng::seed_from_u64(4), 0.5);
        assert_eq!(a, b);
        if kind != DegradationKind::Clipping {
            // Clipping has no random parameter beyond its strength.
            assert_ne!(a, c, "{kind:?}");
        }
        assert_eq!(a.kind(), kind);
    }

    let chain_a = DegradationChain::random_subset(&mut ChaCha8Rng::seed_from_u64(9));
    let chain_b = DegradationChain::random_subset(&mut ChaCha8Rng::seed_from_u64(9));
    assert_eq!(chain_a, chain_b);
    let run = |c: &DegradationChain, seed| {
        let mut y = vec![x.clone()];
        c.apply(&mut y, sr, seed).expect("chain");
        y.remove(0)
    };
    assert_eq!(run(&chain_a, 17), run(&chain_b, 17));
    let mut with_noise = chain_a.clone();
    with_noise.steps.push(noise);
    assert_ne!(run(&with_noise, 17), run(&with_noise, 18));
}

#[test]
fn random_subsets_are_non_empty_ordered_and_cover_every_kind() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut seen = std::collections::HashSet::new();
    let mut sizes = [0usize; 7];
    for _ in 0..300 {
        let chain = DegradationChain::random_subset(&mut rng);
        assert!(!chain.steps.is_empty());
        let order: Vec<usize> = chain.steps.iter().map(|d| d.kind().order()).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        let labels = chain.labels();
        assert_eq!(labels.len(), chain.steps.len());
        for (l, d) in labels.iter().zip(&chain.steps) {
            assert_eq!(*l, d.kind().label());
            seen.insert(d.kind());
        }
        sizes[chain.steps.len()] += 1;
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(sizes[0], 0);
    assert!(sizes[1] > 0 && sizes[5] + sizes[6] > 0, "{sizes:?}");
}

#[test]
fn degradations_serialize_with_a_kind_tag() {
    let d = Degradation::Noise {
        color: NoiseColor::Pink,
        snr_db: 12.0,
    };
    assert_eq!(
        serde_json::to_string(&d).expect("json"),
        r#"{"kind":"noise","color":"pink","snr_db":12.0}"#
    );
    let chain = DegradationChain::random_subset(&mut ChaCha8Rng::seed_from_u64(2));
    let json = serde_json::to_string(&chain).expect("json");
    assert_eq!(
        serde_json::from_str::<DegradationChain>(&json).expect("parse"),
        chain
    );
    let pops = r#"{"kind":"pops","shape":{"type":"click","decay_ms":2.0},"peak_db_re_signal_peak":-6.0,"first_pop_s":0.5}"#;
    let p: Degradation = serde_json::from_str(pops).expect("parse pops");
    assert_eq!(p.label(), "pops");
    assert!(serde_json::from_str::<Degradation>(r#"{"kind":"clipping","drive":3}"#).is_err());
}

#[test]
fn bad_rates_are_refused_and_bad_samples_are_zeroed() {
    let mut y = vec![vec![0.1f32; 100]];
    for sr in [0.0, -48_000.0, f32::NAN, f32::INFINITY, 1000.0] {
        let err = Degradation::Clipping { drive_db: 3.0 }
            .apply(&mut y, sr, 0)
            .expect_err("bad rate");
        assert!(matches!(err, DegradeError::InvalidSampleRate { .. }));
    }
    assert!(
        DegradationChain::random_subset(&mut ChaCha8Rng::seed_from_u64(0))
            .apply(&mut y, 0.0, 0)
            .is_err()
    );
    // Non-finite samples become 0; slices of a stereo buffer work in place.
    let mut left = vec![0.1f32; 4800];
    let mut right = vec![0.1f32; 4800];
    left[10] = f32::NAN;
    right[20] = f32::NEG_INFINITY;
    {
        let mut chans: Vec<&mut [f32]> = vec![&mut left, &mut right];
        for kind in DegradationKind::ALL {
            let d = Degradation::random(kind, &mut ChaCha8Rng::seed_from_u64(1), 1.0);
            d.apply(&mut chans, 48_000.0, 0).expect("apply");
        }
    }
    assert!(left.iter().chain(&right).all(|v| v.is_finite()));
    // Empty channels are fine.
    let mut empty: Vec<Vec<f32>> = vec![Vec::new(), Vec::new()];
    DegradationChain {
        steps: DegradationKind::ALL
            .iter()
            .map(|&k| Degradation::random(k, &mut ChaCha8Rng::seed_from_u64(1), 0.5))
            .collect(),
    }
    .apply(&mut empty, 48_000.0, 0)
    .expect("empty");
}
