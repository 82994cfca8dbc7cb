//! Tests of the shared measurements: analytic signals (sines, noise with known
//! spectra, EBU Tech 3341 tone sequences) and the shipped speech clips.

use std::f64::consts::PI;

use faurge_dsp::analysis::dynamics::dynamics;
use faurge_dsp::analysis::loudness::{
    active_speech_level, integrated_lufs, loudness, LoudnessMeter,
};
use faurge_dsp::analysis::ltas::{
    effective_bandwidth_hz, ltas, ltas_band_centers_hz, ltas_band_edges_hz, ltas_bands_below,
    ltas_with_bandwidth, spectrum_band_centers_hz, spectrum_band_edges_hz, spectrum_db,
    LTAS_FLOOR_DB, SPECTRUM_FLOOR_DB,
};
use faurge_dsp::analysis::mel::{
    log_mel, mel_band_centers_hz, mel_frame_count, mel_points_hz, MEL_BANDS, MEL_FLOOR,
};
use faurge_dsp::analysis::purity::{
    estimate_reflection, purity, reflection_gain_at, requires_genesis, Purity, Reflection,
};
use faurge_dsp::analysis::{measure, t_dyn, try_measure, AnalysisError, Metrics, LTAS_BANDS};
use faurge_dsp::degrade::{colored_noise, Degradation, NoiseColor, PopShape};
use faurge_dsp::ir::cancel_reflection;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use faurge_io::examples::LIBRISPEECH_SPEECH as LIBRI;
use faurge_io::examples::VCTK_SPEECH as VCTK;

fn vctk() -> (Vec<f32>, f32) {
    let a = faurge_io::read(VCTK).expect("shipped VCTK clip");
    (a.to_mono(), a.sample_rate as f32)
}

fn libri() -> (Vec<f32>, f32) {
    let a = faurge_io::read(LIBRI).expect("shipped LibriSpeech clip");
    (a.to_mono(), a.sample_rate as f32)
}

/// `amp · sin(2π f n / sr + phase)`, `seconds` long.
fn sine(freq: f64, amp: f64, sr: f64, seconds: f64, phase: f64) -> Vec<f32> {
    let n = (seconds * sr).round() as usize;
    (0..n)
        .map(|i| (amp * (2.0 * PI * freq * i as f64 / sr + phase).sin()) as f32)
        .collect()
}

fn dbfs(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

fn white(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-0.5f32..0.5)).collect()
}

// ---------------------------------------------------------------- loudness

/// A stereo 1 kHz tone sequence of `(level dBFS, seconds)` segments at 48 kHz.
fn tone_sequence(segments: &[(f64, f64)]) -> Vec<f32> {
    let sr = 48_000.0;
    let mut out = Vec::new();
    for &(db, s) in segments {
        let start = out.len();
        let n = (s * sr).round() as usize;
        out.extend(
            (0..n).map(|i| (dbfs(db) * (2.0 * PI * 1000.0 * (start + i) as f64 / sr).sin()) as f32),
        );
    }
    out
}

fn stereo_lufs(x: &[f32]) -> f32 {
    integrated_lufs(&[x, x], 48_000.0).expect("loudness above the gate")
}

#[test]
fn lufs_matches_ebu_tech_3341_cases_1_to_5() {
    // Case 1: stereo 1 kHz sine at −23 dBFS, 20 s → −23.0 ±0.1 LUFS.
    let c1 = tone_sequence(&[(-23.0, 20.0)]);
    assert!(
        (stereo_lufs(&c1) + 23.0).abs() <= 0.1,
        "{}",
        stereo_lufs(&c1)
    );
    // Case 2: −33 dBFS → −33.0.
    let c2 = tone_sequence(&[(-33.0, 20.0)]);
    assert!(
        (stereo_lufs(&c2) + 33.0).abs() <= 0.1,
        "{}",
        stereo_lufs(&c2)
    );
    // Case 3: −36 / −23 / −36 dBFS for 10 / 60 / 10 s: the relative gate drops the quiet parts.
    let c3 = tone_sequence(&[(-36.0, 10.0), (-23.0, 60.0), (-36.0, 10.0)]);
    assert!(
        (stereo_lufs(&c3) + 23.0).abs() <= 0.1,
        "{}",
        stereo_lufs(&c3)
    );
    // Case 4: −72 / −36 / −23 / −36 / −72 dBFS, 10/10/60/10/10 s: both gates.
    let c4 = tone_sequence(&[
        (-72.0, 10.0),
        (-36.0, 10.0),
        (-23.0, 60.0),
        (-36.0, 10.0),
        (-72.0, 10.0),
    ]);
    assert!(
        (stereo_lufs(&c4) + 23.0).abs() <= 0.1,
        "{}",
        stereo_lufs(&c4)
    );
    // Case 5: −26 / −20 / −26 dBFS for 20 / 20.1 / 20 s.
    let c5 = tone_sequence(&[(-26.0, 20.0), (-20.0, 20.1), (-26.0, 20.0)]);
    assert!(
        (stereo_lufs(&c5) + 23.0).abs() <= 0.1,
        "{}",
        stereo_lufs(&c5)
    );
}

#[test]
fn short_term_and_momentary_match_tech_3341_case_9_and_a_steady_tone() {
    // Case 9: −20 dBFS for 1.34 s then −30 dBFS for 1.66 s, five times: every
    // 3 s window holds one period, so the short-term loudness is −23.0 ±0.1 throughout.
    let period = [(-20.0, 1.34), (-30.0, 1.66)];
    let seq: Vec<(f64, f64)> = period.iter().copied().cycle().take(10).collect();
    let x = tone_sequence(&seq);
    let l = loudness(&[&x, &x], 48_000.0);
    let s = l.max_short_term_lufs.expect("short-term after 3 s");
    assert!((s + 23.0).abs() <= 0.1, "short-term {s}");
    // The momentary maximum sees a 400 ms window inside a −20 dBFS stretch.
    let m = l.max_momentary_lufs.expect("momentary after 400 ms");
    assert!((m + 20.0).abs() <= 0.1, "momentary {m}");

    // A streaming meter fed in odd-sized blocks agrees with the one-shot figure.
    let c1 = tone_sequence(&[(-23.0, 5.0)]);
    let mut meter = LoudnessMeter::new(2, 48_000.0).expect("meter");
    assert_eq!(meter.momentary_lufs(), None);
    for block in c1.chunks(1234) {
        meter.add(&[block, block]);
    }
    let mom = meter.momentary_lufs().expect("momentary");
    let st = meter.short_term_lufs().expect("short-term");
    assert!(
        (mom + 23.0).abs() <= 0.1 && (st + 23.0).abs() <= 0.1,
        "{mom} {st}"
    );
    let integ = meter.integrated_lufs().expect("integrated");
    assert!((integ - stereo_lufs(&c1)).abs() < 1e-4);
}

#[test]
fn mono_is_one_channel_and_loudness_is_rate_independent() {
    for sr in [16_000.0, 44_100.0, 48_000.0, 96_000.0] {
        let x = sine(1000.0, dbfs(-23.0), sr, 10.0, 0.0);
        let stereo = integrated_lufs(&[&x, &x], sr as f32).expect("stereo");
        let mono = integrated_lufs(&[&x], sr as f32).expect("mono");
        assert!((stereo + 23.0).abs() <= 0.1, "{sr}: {stereo}");
        // One channel carries half the power: −23 − 3.01 dB.
        assert!((mono + 26.01).abs() <= 0.1, "{sr}: {mono}");
    }
}

#[test]
fn silence_and_short_input_have_no_loudness_and_peaks_are_measured() {
    let silence = vec![0.0f32; 48_000];
    assert_eq!(integrated_lufs(&[&silence], 48_000.0), None);
    let l = loudness(&[&silence], 48_000.0);
    assert_eq!(l.integrated_lufs, None);
    assert_eq!(l.max_momentary_lufs, None);
    assert_eq!(l.sample_peak_dbfs, -200.0);
    // 300 ms: no complete 400 ms gating block.
    let short = sine(1000.0, 0.5, 48_000.0, 0.3, 0.0);
    assert_eq!(integrated_lufs(&[&short], 48_000.0), None);
    assert_eq!(loudness(&[&short], 48_000.0).max_momentary_lufs, None);

    // fs/4 sine at 45° phase: every sample is ±A/√2, the waveform peaks at A.
    let a = 0.5;
    let x = sine(12_000.0, a, 48_000.0, 1.0, PI / 4.0);
    let l = loudness(&[&x], 48_000.0);
    let a_db = 20.0 * a.log10();
    assert!(
        ((l.sample_peak_dbfs as f64) - (a_db - 3.0103)).abs() < 0.01,
        "{l:?}"
    );
    assert!(((l.true_peak_dbtp as f64) - a_db).abs() < 0.6, "{l:?}");
    assert!(l.true_peak_dbtp > l.sample_peak_dbfs + 2.0);
}

#[test]
fn p56_active_level_ignores_pauses() {
    // A 10 s tone burst between 10 s silences: the active level is the burst's
    // own power (the 200 ms hangover dilutes it by 0.1 dB), while the long-term
    // mean is 4.8 dB lower.
    let sr = 16_000.0;
    let mut x = vec![0.0f32; 10 * 16_000];
    x.extend(sine(500.0, 0.1, sr, 10.0, 0.0));
    x.extend(vec![0.0f32; 10 * 16_000]);
    let a = active_speech_level(&[&x], sr as f32).expect("active");
    let burst_db = 10.0 * (0.1f64 * 0.1 / 2.0).log10();
    assert!((f64::from(a.level_db) - burst_db).abs() < 0.2, "{a:?}");
    // Active: the burst plus the hangover and the envelope's tail, just over 1/3.
    assert!((0.333..0.36).contains(&a.activity), "{a:?}");
    assert_eq!(active_speech_level(&[&vec![0.0; 1000]], sr as f32), None);
}

// -------------------------------------------------------------------- LTAS

#[test]
fn ltas_band_layout_is_log_spaced_40_hz_to_20_khz() {
    let e = ltas_band_edges_hz();
    let c = ltas_band_centers_hz();
    assert_eq!(e.len(), LTAS_BANDS + 1);
    assert!((e[0] - 40.0).abs() < 1e-3 && (e[LTAS_BANDS] - 20_000.0).abs() < 1e-2);
    let ratio = e[1] / e[0];
    for i in 0..LTAS_BANDS {
        assert!(((e[i + 1] / e[i]) - ratio).abs() < 1e-4);
        assert!((c[i] - (e[i] * e[i + 1]).sqrt()).abs() < 1e-2 * c[i]);
    }
    let below = ltas_bands_below(8000.0);
    for i in 0..LTAS_BANDS {
        assert_eq!(below[i], e[i + 1] <= 8000.0 * (1.0 + 1e-6), "band {i}");
    }
    assert!(ltas_bands_below(20_000.0).iter().all(|&b| b));
    assert!(ltas_bands_below(f32::NAN).iter().all(|&b| !b));
}

#[test]
fn ltas_of_white_noise_rises_3_db_per_octave() {
    // White noise has equal power per Hz, so band power ∝ band width.
    let x = white(48_000 * 20, 1);
    let l = ltas(&[&x], 48_000.0);
    let e = ltas_band_edges_hz();
    let widths: Vec<f64> = (0..LTAS_BANDS)
        .map(|i| f64::from(e[i + 1] - e[i]))
        .collect();
    let total: f64 = widths.iter().sum();
    let c = ltas_band_centers_hz();
    let mut low_bias = 0.0;
    for i in 0..LTAS_BANDS {
        let expected = 10.0 * (widths[i] / total).log10();
        let dev = f64::from(l[i]) - expected;
        // Bands below 200 Hz span one or two 5 Hz bins: more estimator variance.
        let tol = if c[i] < 200.0 { 1.0 } else { 0.3 };
        assert!(dev.abs() < tol, "band {i}: {} vs {expected}", l[i]);
        if c[i] < 200.0 {
            low_bias += dev;
        }
    }
    // No systematic error in the narrow bands (the bin-overlap integration).
    assert!(low_bias.abs() / 17.0 < 0.2, "{low_bias}");
}

#[test]
fn ltas_of_pink_noise_is_flat_and_brown_falls() {
    let sr = 48_000.0;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let pink = colored_noise(NoiseColor::Pink, 48_000 * 40, sr, &mut rng);
    let l = ltas(&[&pink], sr);
    let mean = l.iter().sum::<f32>() / LTAS_BANDS as f32;
    let (min, max) = l
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(max - min < 1.0, "pink spread {min}..{max}");
    // Flat: every band holds 1/64 of the power.
    assert!((mean + 10.0 * 64f32.log10()).abs() < 0.1, "{mean}");

    let brown = colored_noise(NoiseColor::Brown, 48_000 * 40, sr, &mut rng);
    let l = ltas(&[&brown], sr);
    // −3 dB per octave relative to pink: 10·log10(500)/64 = 0.422 dB per band.
    let slope = (l[60] - l[4]) / 56.0;
    assert!((slope + 0.422).abs() < 0.03, "brown slope {slope} dB/band");
}

#[test]
fn ltas_is_level_independent_and_a_sine_fills_its_band() {
    let (x, sr) = vctk();
    let a = ltas(&[&x], sr);
    let quiet: Vec<f32> = x.iter().map(|v| v * 0.01).collect();
    let b = ltas(&[&quiet], sr);
    for i in 0..LTAS_BANDS {
        assert!((a[i] - b[i]).abs() < 1e-3, "band {i}: {} vs {}", a[i], b[i]);
    }
    // Valid bands sum to 0 dB.
    let sum: f64 = a.iter().map(|&v| 10f64.powf(f64::from(v) / 10.0)).sum();
    assert!((sum - 1.0).abs() < 1e-3, "{sum}");

    let s = sine(1000.0, 0.3, 48_000.0, 3.0, 0.0);
    let l = ltas(&[&s], 48_000.0);
    let e = ltas_band_edges_hz();
    let band = (0..LTAS_BANDS)
        .find(|&i| e[i] <= 1000.0 && 1000.0 < e[i + 1])
        .expect("1 kHz band");
    let loudest = (0..LTAS_BANDS)
        .max_by(|&i, &j| l[i].total_cmp(&l[j]))
        .expect("bands");
    assert_eq!(loudest, band);
    assert!(l[band] > -0.1, "{}", l[band]);
}

#[test]
fn ltas_floors_bands_above_nyquist_and_silence() {
    let (x, sr) = libri();
    assert_eq!(sr, 16_000.0);
    let l = ltas(&[&x], sr);
    let below = ltas_bands_below(8000.0);
    for i in 0..LTAS_BANDS {
        if below[i] {
            assert!(l[i] > LTAS_FLOOR_DB, "band {i} has content");
        } else {
            assert_eq!(l[i], LTAS_FLOOR_DB, "band {i} is above Nyquist");
        }
    }
    let silence = vec![0.0f32; 10_000];
    assert!(ltas(&[&silence], 48_000.0)
        .iter()
        .all(|&v| v == LTAS_FLOOR_DB));
    assert!(spectrum_db(&[&silence], 48_000.0)
        .iter()
        .all(|&v| v == SPECTRUM_FLOOR_DB));
    // Empty, NaN-only and bad-rate input: floor, never NaN.
    assert!(ltas(&[&[]], 48_000.0).iter().all(|&v| v == LTAS_FLOOR_DB));
    let nan = vec![f32::NAN; 4800];
    assert!(ltas(&[&nan], 48_000.0).iter().all(|&v| v == LTAS_FLOOR_DB));
    assert!(ltas(&[&x], f32::NAN).iter().all(|&v| v == LTAS_FLOOR_DB));
    assert!(ltas(&[], 48_000.0).iter().all(|&v| v == LTAS_FLOOR_DB));
}

#[test]
fn ltas_is_comparable_across_sample_rates() {
    let (x, sr) = vctk();
    let full = ltas(&[&x], sr);
    let a = faurge_io::Audio::new(sr as u32, vec![x.clone()]).expect("audio");
    let at_44k = a.resampled(44_100).expect("resample").to_mono();
    let l44 = ltas(&[&at_44k], 44_100.0);
    for i in 0..60 {
        assert!(
            (full[i] - l44[i]).abs() < 0.5,
            "band {i}: {} vs {}",
            full[i],
            l44[i]
        );
    }
    // Band-limited to 16 kHz: with the same bandwidth, the shared bands agree.
    let at_16k = a.resampled(16_000).expect("resample").to_mono();
    let bw = 7000.0;
    let l48 = ltas_with_bandwidth(&[&x], sr, bw);
    let l16 = ltas_with_bandwidth(&[&at_16k], 16_000.0, bw);
    let valid = ltas_bands_below(bw);
    for i in 0..LTAS_BANDS {
        if valid[i] {
            assert!(
                (l48[i] - l16[i]).abs() < 0.5,
                "band {i}: {} vs {}",
                l48[i],
                l16[i]
            );
        } else {
            assert_eq!((l48[i], l16[i]), (LTAS_FLOOR_DB, LTAS_FLOOR_DB));
        }
    }
}

#[test]
fn effective_bandwidth_finds_where_content_ends() {
    let (x, sr) = vctk();
    assert!(effective_bandwidth_hz(&[&x], sr) >= 15_000.0);
    // Brick-wall low-pass at 5 kHz by zeroing the spectrum.
    let n = x.len().next_power_of_two();
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut buf: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    buf.resize(n, 0.0);
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut buf, &mut spec).expect("fft");
    let cut = (5000.0 / (f64::from(sr) / n as f64)) as usize;
    for c in spec.iter_mut().skip(cut) {
        *c = Default::default();
    }
    inv.process(&mut spec, &mut buf).expect("ifft");
    let lp: Vec<f32> = buf[..x.len()]
        .iter()
        .map(|&v| (v / n as f64) as f32)
        .collect();
    let bw = effective_bandwidth_hz(&[&lp], sr);
    assert!((4500.0..=5500.0).contains(&bw), "{bw}");
    assert_eq!(effective_bandwidth_hz(&[&vec![0.0; 4800]], sr), 0.0);
}

#[test]
fn spectrum_db_resolves_a_sine_and_has_256_bands() {
    let edges = spectrum_band_edges_hz();
    assert_eq!(edges.len(), 257);
    let centers = spectrum_band_centers_hz();
    let s = sine(440.0, 0.3, 44_100.0, 3.0, 0.0);
    let spec = spectrum_db(&[&s], 44_100.0);
    let band = (0..256)
        .find(|&i| edges[i] <= 440.0 && 440.0 < edges[i + 1])
        .expect("band");
    let loudest = (0..256)
        .max_by(|&i, &j| spec[i].total_cmp(&spec[j]))
        .expect("bands");
    assert!(loudest.abs_diff(band) <= 1, "{loudest} vs {band}");
    assert!(centers[band] > 400.0 && centers[band] < 480.0);
    // Level independent like the LTAS; above Nyquist floored at 16 kHz.
    let half: Vec<f32> = s.iter().map(|v| v * 0.5).collect();
    let spec2 = spectrum_db(&[&half], 44_100.0);
    assert!(spec.iter().zip(&spec2).all(|(a, b)| (a - b).abs() < 1e-3));
    let (x, sr) = libri();
    let spec = spectrum_db(&[&x], sr);
    for i in 0..256 {
        if edges[i + 1] > 8000.0 {
            assert_eq!(spec[i], SPECTRUM_FLOOR_DB);
        }
    }
}

// ---------------------------------------------------------------- dynamics

#[test]
fn crest_factor_and_zero_crossing_rate_of_sines() {
    for sr in [22_050.0, 48_000.0, 96_000.0] {
        for f in [100.0, 440.0, 1000.0] {
            let x = sine(f, 0.5, sr, 2.0, 0.3);
            let d = dynamics(&[&x, &x], sr as f32);
            assert!((d.crest_factor_db - 3.0103).abs() < 0.01, "{sr} {f}: {d:?}");
            let zcr = f64::from(d.zero_crossing_rate_hz);
            assert!((zcr - 2.0 * f).abs() <= 1.0, "{sr} {f}: {zcr}");
            assert_eq!(t_dyn(&[&x], sr as f32), d.to_array());
        }
    }
    // A square wave has no crest.
    let sq: Vec<f32> = (0..48_000)
        .map(|i| if (i / 24) % 2 == 0 { 0.5 } else { -0.5 })
        .collect();
    let d = dynamics(&[&sq], 48_000.0);
    assert!(d.crest_factor_db.abs() < 1e-4);
    assert!((d.zero_crossing_rate_hz - 1999.0).abs() <= 1.0, "{d:?}");
    let d = dynamics(&[&vec![0.0; 100]], 48_000.0);
    assert_eq!(d.to_array(), [0.0, 0.0]);
}

// --------------------------------------------------------------------- mel

#[test]
fn mel_shape_and_a_sine_peaks_in_its_band() {
    let centers = mel_band_centers_hz();
    let pts = mel_points_hz();
    assert_eq!(pts.len(), MEL_BANDS + 2);
    assert!((pts[0] - 20.0).abs() < 1e-3 && (pts[MEL_BANDS + 1] - 20_000.0).abs() < 0.1);
    for (sr, m) in [(48_000.0f32, 40usize), (16_000.0, 30), (44_100.0, 20)] {
        let f = f64::from(centers[m]);
        let x = sine(f, 1.0, f64::from(sr), 1.0, 0.0);
        let mel = log_mel(&[&x], sr);
        let frames = mel_frame_count(x.len(), sr);
        // 1 s, 25 ms window, 10 ms hop: 98 frames at every rate.
        assert_eq!(frames, 98);
        assert_eq!(mel.len(), frames * MEL_BANDS);
        for t in 0..frames {
            let row = &mel[t * MEL_BANDS..(t + 1) * MEL_BANDS];
            let loudest = (0..MEL_BANDS)
                .max_by(|&i, &j| row[i].total_cmp(&row[j]))
                .expect("bands");
            assert_eq!(loudest, m, "{sr} frame {t}");
            // Triangles sum to one: a full-scale sine's power 0.5 is all there.
            let total: f32 = row.iter().map(|v| 10f32.powf(*v)).sum();
            assert!((total - 0.5).abs() < 0.01, "{sr} frame {t}: {total}");
        }
    }
}

#[test]
fn mel_floors_bands_above_nyquist_and_handles_short_input() {
    let (x, sr) = libri();
    let mel = log_mel(&[&x], sr);
    let pts = mel_points_hz();
    let floor = MEL_FLOOR.log10();
    let n = mel_frame_count(x.len(), sr);
    assert_eq!(mel.len(), n * MEL_BANDS);
    for t in 0..n {
        for m in 0..MEL_BANDS {
            let v = mel[t * MEL_BANDS + m];
            assert!(v.is_finite() && v >= floor);
            if pts[m + 2] > 8000.0 {
                assert_eq!(v, floor, "band {m} is above Nyquist");
            }
        }
    }
    assert!(log_mel(&[&[]], 48_000.0).is_empty());
    assert_eq!(log_mel(&[&[0.1; 100]], 48_000.0).len(), MEL_BANDS);
    assert!(log_mel(&[&[0.1; 100]], 1.0).is_empty());
}

#[test]
fn mel_levels_do_not_depend_on_the_sample_rate() {
    let centers = mel_band_centers_hz();
    let f = f64::from(centers[32]);
    let row_at = |sr: f64| {
        let x = sine(f, 0.25, sr, 0.5, 0.0);
        log_mel(&[&x], sr as f32)[10 * MEL_BANDS..11 * MEL_BANDS].to_vec()
    };
    let a = row_at(16_000.0);
    let b = row_at(48_000.0);
    for m in 28..=36 {
        assert!((a[m] - b[m]).abs() < 0.05, "band {m}: {} vs {}", a[m], b[m]);
    }
}

// ------------------------------------------------------------------ purity

fn with_noise(x: &[f32], sr: f32, color: NoiseColor, snr_db: f32) -> Vec<f32> {
    let mut y = vec![x.to_vec()];
    Degradation::Noise { color, snr_db }
        .apply(&mut y, sr, 11)
        .expect("noise");
    y.remove(0)
}

#[test]
fn snr_estimate_tracks_added_noise() {
    for (x, sr) in [vctk(), libri()] {
        let clean = purity(&[&x], sr);
        let noisy = purity(&[&with_noise(&x, sr, NoiseColor::Pink, 10.0)], sr);
        assert!(clean.snr_db > noisy.snr_db + 10.0, "{clean:?} {noisy:?}");
        for color in [NoiseColor::White, NoiseColor::Pink] {
            for snr in [0.0, 10.0, 20.0] {
                let est = purity(&[&with_noise(&x, sr, color, snr)], sr).snr_db;
                assert!(
                    (est - snr).abs() < 3.0,
                    "{color:?} {snr} dB: estimated {est}"
                );
            }
        }
    }
}

#[test]
fn clipping_fraction_rises_with_clipping() {
    let (x, sr) = vctk();
    let mut last = purity(&[&x], sr).clipping_fraction;
    assert!(last < 1e-3);
    for drive_db in [3.0, 6.0, 12.0, 24.0] {
        let mut y = vec![x.clone()];
        Degradation::Clipping { drive_db }
            .apply(&mut y, sr, 0)
            .expect("clip");
        let f = purity(&[&y[0]], sr).clipping_fraction;
        assert!(f > last, "{drive_db} dB: {f} after {last}");
        last = f;
    }
    // A sine clipped at half its amplitude: the flat tops are 2/3 of the time.
    let s = sine(100.0, 1.0, 48_000.0, 1.0, 0.0);
    let c: Vec<f32> = s.iter().map(|v| v.clamp(-0.5, 0.5)).collect();
    let f = purity(&[&c], 48_000.0).clipping_fraction;
    assert!((f - 2.0 / 3.0).abs() < 0.01, "{f}");
}

#[test]
fn clicks_and_reflections_register() {
    let (x, sr) = vctk();
    let clean = purity(&[&x], sr);
    assert!(clean.clicks_per_second < 0.3, "{clean:?}");
    assert!(clean.reflection_gain < 0.3, "{clean:?}");
    let mut y = vec![x.clone()];
    Degradation::Pops {
        shape: PopShape::Click { decay_ms: 2.0 },
        peak_db_re_signal_peak: -6.0,
        first_pop_s: 0.25,
    }
    .apply(&mut y, sr, 0)
    .expect("pops");
    let popped = purity(&[&y[0]], sr);
    // Four pops in four seconds.
    assert!(popped.clicks_per_second >= 0.74, "{popped:?}");
    for gain in [0.5f32, -0.8] {
        let mut y = vec![x.clone()];
        Degradation::Comb {
            delay_ms: 3.0,
            gain,
        }
        .apply(&mut y, sr, 0)
        .expect("comb");
        let p = purity(&[&y[0]], sr);
        assert!(
            (p.reflection_gain - gain.abs()).abs() < 0.12,
            "{gain}: {p:?}"
        );
        assert!(p.spectral_ripple_db > clean.spectral_ripple_db);
    }
}

/// `x + g·LP(x delayed by d samples)`, the low-pass one pole at `corner_hz`
/// (none: flat), the delay a whole number of samples.
fn reflected(x: &[f32], sr: f32, d: usize, g: f32, corner_hz: Option<f32>) -> Vec<f32> {
    let a = corner_hz.map_or(0.0, |c| (-2.0 * std::f32::consts::PI * c / sr).exp());
    let mut lp = 0.0f32;
    (0..x.len())
        .map(|n| {
            let delayed = if n >= d { x[n - d] } else { 0.0 };
            lp = (1.0 - a) * delayed + a * lp;
            x[n] + g * lp
        })
        .collect()
}

/// `x` through `h` (direct form; `h` short or sparse enough for a test).
fn filtered(x: &[f32], h: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    for (j, &hv) in h.iter().enumerate().filter(|(_, v)| v.abs() > 1e-7) {
        for (yv, &xv) in y[j..].iter_mut().zip(x) {
            *yv += hv * xv;
        }
    }
    y
}

/// Level-free RMS distance between two LTAS in the bands both fill, dB.
fn ltas_distance_db(a: &[f32], b: &[f32], sr: f32) -> f32 {
    let (la, lb) = (ltas(&[a], sr), ltas(&[b], sr));
    let d: Vec<f32> = la
        .iter()
        .zip(&lb)
        .filter(|(x, y)| **x > LTAS_FLOOR_DB + 1.0 && **y > LTAS_FLOOR_DB + 1.0)
        .map(|(x, y)| x - y)
        .collect();
    let m = d.iter().sum::<f32>() / d.len() as f32;
    (d.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / d.len() as f32).sqrt()
}

#[test]
fn a_reflection_is_estimated_with_its_sign_delay_and_surface_and_cancelled() {
    for (x, sr) in [vctk(), libri()] {
        // A voice alone is not read as a reflection.
        let clean = estimate_reflection(&[&x], sr).expect("speech");
        assert!(!clean.is_reflection(), "{clean:?}");
        // (Delays under about 1.2 ms collide with the formant spacing and read
        // less exactly; see `estimate_reflection`.)
        for (delay_ms, gain, corner_hz) in [
            (1.5, 0.6, None),
            (3.0, -0.5, None),
            (9.5, 0.7, None),
            (2.0, -0.6, Some(3000.0)),
            (6.0, 0.6, Some(2000.0)),
        ] {
            let d = (delay_ms * 1e-3 * sr).round() as usize;
            let y = reflected(&x, sr, d, gain, corner_hz);
            let e = estimate_reflection(&[&y], sr).expect("speech");
            let r = e.reflection;
            let what = format!("{delay_ms} ms, {gain}, {corner_hz:?} at {sr} Hz: {e:?}");
            let h = cancel_reflection(&[1.0], &r, sr);
            let z = filtered(&y, &h);
            let (before, after) = (ltas_distance_db(&y, &x, sr), ltas_distance_db(&z, &x, sr));
            // Whatever is read as a reflection, cancelled, brings the long-term
            // spectrum closer to the clean one's.
            if e.is_reflection() {
                assert!(after < 0.5 * before, "{what}: {before} → {after} dB");
            }
            // The full-band recording (48 kHz, VCTK) is read exactly; the 16 kHz
            // one (LibriSpeech, from MP3) less so, where a steady pitch competes
            // (above: only its safety is asserted).
            if sr < 44_100.0 {
                continue;
            }
            assert!(e.is_reflection(), "{what}");
            // The delay to a sample (a low-pass's lag is fitted apart from it), the
            // gain and its sign.
            assert!((r.delay_s * f64::from(sr) - d as f64).abs() < 1.0, "{what}");
            assert!((r.gain - f64::from(gain)).abs() < 0.1, "{what}");
            // Flat reflections read flat, absorbed ones with a corner within half
            // an octave.
            match (corner_hz, r.corner_hz) {
                (Some(c), Some(fc)) => {
                    assert!((fc / f64::from(c)).log2().abs() <= 0.5, "{what}")
                }
                (None, None) => {}
                _ => panic!("{what}"),
            }
            // Cancelled: the long-term spectrum comes back to the clean one's, and
            // the ripple at the reflection falls to a fifth.
            assert!(after < 0.15 * before, "{what}: {before} → {after} dB");
            let left = reflection_gain_at(&[&z], sr, &r).expect("speech");
            assert!(left.abs() < 0.2 * r.gain.abs(), "{what}: left {left}");
        }
    }
    // Silence has no estimate.
    assert!(estimate_reflection(&[&vec![0.0; 48_000]], 48_000.0).is_none());
    let r = Reflection {
        delay_s: 0.003,
        gain: 0.5,
        corner_hz: None,
    };
    assert!(reflection_gain_at(&[&vec![0.0; 48_000]], 48_000.0, &r).is_none());
}

#[test]
fn input_purity_is_high_for_clean_speech_and_flags_damage() {
    let (x, sr) = vctk();
    let clean = purity(&[&x], sr);
    assert!(clean.input_purity > 0.9, "{clean:?}");
    assert!(!requires_genesis(&clean));
    let noisy = purity(&[&with_noise(&x, sr, NoiseColor::White, 3.0)], sr);
    assert!(
        noisy.input_purity < 0.5 && requires_genesis(&noisy),
        "{noisy:?}"
    );
    let silent = purity(&[&vec![0.0; 48_000]], sr);
    assert_eq!(silent, Purity::SILENT);
    assert!(!requires_genesis(&silent));
    let mut with_nan = x.clone();
    with_nan[100] = f32::NAN;
    with_nan[200] = f32::INFINITY;
    let p = purity(&[&with_nan], sr);
    assert!(p.input_purity.is_finite() && p.snr_db.is_finite());
}

// ------------------------------------------------------------------ bundle

#[test]
fn measure_bundles_everything_and_round_trips_through_json() {
    let (x, sr) = vctk();
    let m = measure(&[&x, &x], sr);
    assert_eq!(m.ltas, ltas(&[&x, &x], sr));
    assert_eq!(m.lufs, integrated_lufs(&[&x, &x], sr));
    assert_eq!(m.dynamics, t_dyn(&[&x, &x], sr));
    assert_eq!(m.purity, purity(&[&x, &x], sr));
    assert!(!m.requires_genesis());
    let json = serde_json::to_string(&m).expect("json");
    assert!(json.contains("\"dyn\":["));
    let back: Metrics = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, m);
    let short = json.replacen("\"ltas\":[", "\"ltas\":[0.0,", 1);
    let err = serde_json::from_str::<Metrics>(&short).expect_err("65 bands");
    assert!(err.to_string().contains("expected 64 numbers"), "{err}");

    let silent = measure(&[&vec![0.0; 48_000]], 48_000.0);
    assert_eq!(silent.lufs, None);
    assert_eq!(silent.t_lufs(), -70.0);
    let json = serde_json::to_string(&silent).expect("json");
    assert_eq!(
        serde_json::from_str::<Metrics>(&json).expect("parse"),
        silent
    );
}

#[test]
fn try_measure_explains_bad_input() {
    let x = vec![0.1f32; 4800];
    let y = vec![0.1f32; 4000];
    assert!(matches!(
        try_measure(&[&x], 4000.0),
        Err(AnalysisError::InvalidSampleRate { .. })
    ));
    assert_eq!(try_measure(&[], 48_000.0), Err(AnalysisError::NoChannels));
    assert!(matches!(
        try_measure(&[&x, &x, &x], 48_000.0),
        Err(AnalysisError::TooManyChannels { count: 3, max: 2 })
    ));
    let err = try_measure(&[&x, &y], 48_000.0).expect_err("ragged");
    assert_eq!(
        err.to_string(),
        "channels have different lengths ([4800, 4000] samples); every channel must have the same length"
    );
    let mut z = x.clone();
    z[7] = f32::NAN;
    assert!(matches!(
        try_measure(&[&z], 48_000.0),
        Err(AnalysisError::NonFinite {
            channel: 0,
            index: 7,
            ..
        })
    ));
    assert!(try_measure(&[&x], 48_000.0).is_ok());
    // The total version measures the same input without complaint.
    let m = measure(&[&x, &y], 48_000.0);
    assert!(m.ltas.iter().all(|v| v.is_finite()));
}

/// Mains hum on real speech (the shipped VCTK and LibriSpeech clips): found at its
/// frequency (to 0.1 Hz) and with its harmonics, from the fundamental or, for a
/// rectifier's hum, from the second harmonic alone; never found in the clean clips,
/// nor in a sung-like steady tone away from the mains harmonics.
#[test]
fn hum_is_found_at_its_frequency_in_real_speech_and_nowhere_else() {
    use faurge_dsp::analysis::restoration::hum;
    for (x, sr) in [vctk(), libri()] {
        assert_eq!(hum(&[&x], sr), None, "clean speech at {sr} Hz");
        let level = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        // (fundamental Hz, [(harmonic, amplitude re the speech RMS)], harmonics found)
        type Case = (f64, &'static [(u32, f32)], u32);
        let cases: [Case; 3] = [
            (49.8, &[(1, 0.3), (3, 0.15)], 3),
            (60.2, &[(1, 0.2)], 1),
            (50.0, &[(2, 0.3)], 2),
        ];
        for (f0, parts, want) in cases {
            let mut y = x.clone();
            for &(k, a) in parts {
                let tone = sine(
                    f0 * f64::from(k),
                    f64::from(a * level),
                    f64::from(sr),
                    y.len() as f64 / f64::from(sr),
                    0.3,
                );
                y.iter_mut().zip(tone).for_each(|(v, t)| *v += t);
            }
            let h =
                hum(&[&y], sr).unwrap_or_else(|| panic!("{f0} Hz {parts:?} at {sr} Hz: not found"));
            assert!((h.hz - f0).abs() < 0.1, "{f0} Hz read as {:.2}", h.hz);
            assert_eq!(h.harmonics, want, "{f0} Hz {parts:?}");
            assert!(h.db > 15.0, "{h:?}");
        }
        // A steady tone between the mains harmonics is not hum.
        let mut y = x.clone();
        let tone = sine(
            85.0,
            f64::from(0.3 * level),
            f64::from(sr),
            y.len() as f64 / f64::from(sr),
            0.0,
        );
        y.iter_mut().zip(tone).for_each(|(v, t)| *v += t);
        assert_eq!(hum(&[&y], sr), None);
    }
    // Too short to read (under one frame of about a second) and silence: nothing.
    assert_eq!(hum(&[&vec![0.0; 96_000]], 48_000.0), None);
    assert_eq!(hum(&[&vctk().0[..20_000]], 48_000.0), None);
}
