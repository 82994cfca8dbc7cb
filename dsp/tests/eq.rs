//! Tests of the 8-band parametric EQ (`faurge_dsp::eq`): cookbook responses,
//! stability over the full ranges, processing against the predicted response and
//! a direct-form reference on real speech, glide without clicks, exact silence,
//! realtime safety and block-size independence.

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

use std::f64::consts::PI;

use faurge_dsp::biquad::Coefficients;
use faurge_dsp::eq::{Eq, GLIDE_MS, UPDATE_INTERVAL};
use faurge_dsp::fade::BLEND_RANGE_DB;
use faurge_dsp::state::{
    effective_freq_hz, BandKind, EqBandState, EqState, MAX_FREQ_HZ, MAX_GAIN_DB, MAX_Q,
    MIN_FREQ_HZ, MIN_GAIN_DB, MIN_Q, NUM_BANDS,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The rates the analytic checks (responses, glides, clicks) run at.
const RATES: [f32; 5] = [22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0];

/// Every rate a host or validator may set, for the realtime checks (no allocation,
/// finite output, no subnormals): [`RATES`] plus 8, 11.025 and 16 kHz (telephony, old
/// hardware) and 384 and 768 kHz (the VST3 validator, clap-validator). Bands above
/// 0.45 × the rate clamp there.
const RT_RATES: [f32; 10] = [
    8_000.0, 11_025.0, 16_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0, 384_000.0,
    768_000.0,
];
use faurge_io::examples::VCTK_SPEECH as VCTK;
const LIBRISPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/speech_librispeech_19-198-0000.flac"
);

// ---------------------------------------------------------------- helpers

fn band(enabled: bool, freq_hz: f32, gain_db: f32, q: f32) -> EqBandState {
    EqBandState {
        enabled,
        freq_hz,
        gain_db,
        q,
    }
}

/// Every band disabled: the EQ is a wire.
fn all_off() -> EqState {
    let mut s = EqState::default();
    for b in &mut s.bands {
        b.enabled = false;
    }
    s
}

/// All eight bands enabled with audible, moderate settings (the LP is clamped to
/// 0.45·fs at 22.05 kHz).
fn busy() -> EqState {
    EqState {
        bands: [
            band(true, 40.0, 0.0, 0.707),
            band(true, 150.0, 4.0, 0.707),
            band(true, 300.0, -3.0, 1.5),
            band(true, 1200.0, 5.0, 2.0),
            band(true, 3500.0, -6.0, 0.8),
            band(true, 7000.0, 3.0, 3.0),
            band(true, 9000.0, -4.0, 0.707),
            band(true, 16_000.0, 0.0, 0.707),
        ],
    }
}

/// Another full setting, far from `busy()` (for target changes in flight).
fn other() -> EqState {
    EqState {
        bands: [
            band(false, 120.0, 0.0, 1.2),
            band(true, 300.0, -8.0, 0.5),
            band(true, 180.0, 9.0, 4.0),
            band(true, 2500.0, -10.0, 0.7),
            band(false, 5000.0, 6.0, 1.0),
            band(true, 9500.0, 12.0, 8.0),
            band(true, 4000.0, 6.0, 1.0),
            band(false, 8000.0, 0.0, 2.0),
        ],
    }
}

fn sine(freq_hz: f64, sample_rate: f64, n: usize, amp: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (2.0 * PI * freq_hz * i as f64 / sample_rate).sin()) as f32)
        .collect()
}

fn noise(seed: u64, n: usize, amp: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-amp..amp)).collect()
}

/// Runs a mono signal through `eq` in blocks of `block` samples.
fn run_mono(eq: &mut Eq, x: &[f32], block: usize) -> Vec<f32> {
    let mut y = x.to_vec();
    for chunk in y.chunks_mut(block) {
        eq.process(&mut [chunk]);
    }
    y
}

/// Amplitude of the `freq_hz` component of `y[start..start + len]`, by projection
/// on sine and cosine; exact for a pure sine when the window holds whole cycles.
fn amplitude(y: &[f32], sample_rate: f64, freq_hz: f64, start: usize, len: usize) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for (i, v) in y[start..start + len].iter().enumerate() {
        let ph = 2.0 * PI * freq_hz * (start + i) as f64 / sample_rate;
        s += f64::from(*v) * ph.sin();
        c += f64::from(*v) * ph.cos();
    }
    2.0 * (s * s + c * c).sqrt() / len as f64
}

/// Largest sample-to-sample step `max |y[n] − y[n−1]|`.
fn max_step(y: &[f32]) -> f64 {
    y.windows(2)
        .map(|w| (f64::from(w[1]) - f64::from(w[0])).abs())
        .fold(0.0, f64::max)
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Direct form I in `f64`: the textbook difference equation, as a reference.
fn direct_form_cascade(coeffs: &[Coefficients], x: &[f32]) -> Vec<f32> {
    let mut y: Vec<f64> = x.iter().map(|v| f64::from(*v)).collect();
    for c in coeffs {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        for v in y.iter_mut() {
            let out = c.b0 * *v + c.b1 * x1 + c.b2 * x2 - c.a1 * y1 - c.a2 * y2;
            (x2, x1, y2, y1) = (x1, *v, y1, out);
            *v = out;
        }
    }
    y.iter().map(|v| *v as f32).collect()
}

fn is_subnormal(v: f32) -> bool {
    v != 0.0 && !v.is_normal() && v.is_finite()
}

// ------------------------------------------------------ cookbook responses

/// One band of `state` set to `b`, the others off.
fn single(index: usize, b: EqBandState) -> EqState {
    let mut s = all_off();
    s.bands[index] = b;
    s
}

#[test]
fn peak_gain_at_f0_is_the_requested_gain_at_every_rate() {
    let mut checked = 0;
    for sr in RATES {
        let sr64 = f64::from(sr);
        for f0 in [20.0, 97.0, 1000.0, 5000.0, 9000.0, 15_000.0, 20_000.0] {
            for gain in [-24.0, -12.0, -3.0, 0.5, 6.0, 12.0, 24.0] {
                for q in [0.1, 0.5, 0.707, 1.0, 4.0, 18.0] {
                    for index in 2..=5 {
                        let s = single(index, band(true, f0, gain, q));
                        let f = f64::from(effective_freq_hz(f0, sr));
                        let c = Eq::band_coefficients(&s, index, sr64);
                        let got = c.magnitude_db(f, sr64);
                        assert!(
                            (got - f64::from(gain)).abs() < 0.05,
                            "peak {f0} Hz {gain} dB Q {q} at {sr} Hz: {got} dB at f0"
                        );
                        // The total response is this band alone.
                        let total = Eq::magnitude_db(&s, f, sr64);
                        assert!((total - got).abs() < 1e-9);
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 5 * 7 * 7 * 6 * 4);
}

#[test]
fn shelf_plateaus_and_midpoints_match_the_gain_at_every_rate() {
    for sr in RATES {
        let sr64 = f64::from(sr);
        for gain in [-24.0f32, -12.0, -6.0, 3.0, 12.0, 24.0] {
            for q in [0.5f32, 0.707, 1.0, 2.0] {
                // Low shelf: plateau at 10 Hz, corners well above it.
                for f0 in [500.0f32, 1000.0, 2000.0] {
                    let s = single(1, band(true, f0, gain, q));
                    let c = Eq::band_coefficients(&s, 1, sr64);
                    let plateau = c.magnitude_db(10.0, sr64);
                    assert!(
                        (plateau - f64::from(gain)).abs() < 0.05,
                        "low shelf {f0} Hz {gain} dB Q {q} at {sr} Hz: plateau {plateau} dB"
                    );
                    // Cookbook shelves pass through half the gain (in dB) at f0.
                    let mid = c.magnitude_db(f64::from(f0), sr64);
                    assert!((mid - f64::from(gain) / 2.0).abs() < 0.05);
                }
                // High shelf: plateau at 0.49·fs, corners at most fs/20.
                for f0 in [sr / 100.0, sr / 50.0, sr / 20.0] {
                    let s = single(6, band(true, f0, gain, q));
                    let c = Eq::band_coefficients(&s, 6, sr64);
                    let plateau = c.magnitude_db(0.49 * sr64, sr64);
                    assert!(
                        (plateau - f64::from(gain)).abs() < 0.05,
                        "high shelf {f0} Hz {gain} dB Q {q} at {sr} Hz: plateau {plateau} dB"
                    );
                    let mid = c.magnitude_db(f64::from(f0), sr64);
                    assert!((mid - f64::from(gain) / 2.0).abs() < 0.05);
                }
            }
        }
    }
}

#[test]
fn high_and_low_pass_are_minus_3_db_at_cutoff_and_ignore_gain() {
    let butterworth_q = std::f32::consts::FRAC_1_SQRT_2;
    let minus_3 = db(f64::from(butterworth_q)); // |H(f0)| = Q for cookbook HP/LP: −3.01 dB
    for sr in RATES {
        let sr64 = f64::from(sr);
        for f0 in [20.0f32, 80.0, 500.0, 2000.0, 8000.0, 12_000.0, 20_000.0] {
            let f = f64::from(effective_freq_hz(f0, sr));
            for index in [0, 7] {
                let s = single(index, band(true, f0, 0.0, butterworth_q));
                let c = Eq::band_coefficients(&s, index, sr64);
                let got = c.magnitude_db(f, sr64);
                assert!(
                    (got - minus_3).abs() < 0.05,
                    "band {index} at {f0} Hz, {sr} Hz: {got} dB at cutoff"
                );
                // Gain is ignored.
                let boosted = single(index, band(true, f0, 18.0, butterworth_q));
                assert_eq!(Eq::band_coefficients(&boosted, index, sr64), c);
                // Pass band: HP passes 0.45·fs, LP passes DC, at 0 dB.
                let pass = if index == 0 { 0.45 * sr64 } else { 0.0 };
                if (index == 0 && f < 0.05 * sr64) || (index == 7 && f > 1000.0) {
                    assert!(c.magnitude_db(pass, sr64).abs() < 0.05);
                }
            }
        }
    }
}

#[test]
fn total_response_is_the_sum_of_enabled_bands_and_disabled_bands_are_identity() {
    let s = busy();
    for sr in RATES {
        let sr64 = f64::from(sr);
        for f in [25.0, 100.0, 440.0, 1000.0, 4000.0, 9000.0] {
            let sum: f64 = (0..NUM_BANDS)
                .map(|i| Eq::band_coefficients(&s, i, sr64).magnitude_db(f, sr64))
                .sum();
            assert!((Eq::magnitude_db(&s, f, sr64) - sum).abs() < 1e-9);
        }
        let off = all_off();
        for i in 0..NUM_BANDS {
            assert_eq!(Eq::band_coefficients(&off, i, sr64), Coefficients::IDENTITY);
        }
        assert_eq!(Eq::magnitude_db(&off, 1000.0, sr64), 0.0);
        // Out-of-range band index is the identity, not a panic.
        assert_eq!(
            Eq::band_coefficients(&s, NUM_BANDS, sr64),
            Coefficients::IDENTITY
        );
        // The default EQ is transparent.
        let d = EqState::default();
        for f in [30.0, 1000.0, 8000.0] {
            assert!(Eq::magnitude_db(&d, f, sr64).abs() < 1e-9);
        }
    }
}

#[test]
fn poles_stay_inside_the_unit_circle_over_the_full_ranges() {
    // Frequencies from MIN to MAX (log grid) plus values the clamp must catch.
    let mut freqs: Vec<f32> = (0..=40)
        .map(|i| MIN_FREQ_HZ * (MAX_FREQ_HZ / MIN_FREQ_HZ).powf(i as f32 / 40.0))
        .collect();
    freqs.extend([
        0.0,
        -5.0,
        10.0,
        21_000.0,
        50_000.0,
        96_000.0,
        1e9,
        f32::INFINITY,
        f32::NAN,
    ]);
    let gains = [
        MIN_GAIN_DB,
        -12.0,
        -1.0,
        0.0,
        1.0,
        12.0,
        MAX_GAIN_DB,
        60.0,
        f32::NAN,
    ];
    let qs: Vec<f32> = (0..=12)
        .map(|i| MIN_Q * (MAX_Q / MIN_Q).powf(i as f32 / 12.0))
        .chain([0.0, 1000.0, f32::NAN])
        .collect();
    let mut worst: f64 = 0.0;
    for sr in RATES {
        let sr64 = f64::from(sr);
        for &f in &freqs {
            for &g in &gains {
                for &q in &qs {
                    for index in [0, 1, 2, 6, 7] {
                        let s = single(index, band(true, f, g, q));
                        let c = Eq::band_coefficients(&s, index, sr64);
                        let r = c.max_pole_radius();
                        assert!(
                            r < 1.0 && [c.b0, c.b1, c.b2, c.a1, c.a2].iter().all(|v| v.is_finite()),
                            "{:?} {f} Hz {g} dB Q {q} at {sr} Hz: pole radius {r}",
                            BandKind::for_index(index)
                        );
                        worst = worst.max(r);
                    }
                }
            }
        }
    }
    // The grid reaches the extremes: 20 Hz at 192 kHz has poles very close to 1.
    assert!(worst > 0.999, "worst radius {worst}");
}

// ------------------------------------------------- processing vs response

#[test]
fn settled_sine_gain_matches_the_predicted_response() {
    let s = busy();
    for sr in RATES {
        let sr64 = f64::from(sr);
        let skip = (0.3 * sr64) as usize;
        let window = (sr64 / 10.0) as usize; // 0.1 s: whole cycles of multiples of 10 Hz
        for f in [30.0, 100.0, 250.0, 1000.0, 1200.0, 3500.0, 7000.0, 9000.0] {
            let mut eq = Eq::new(sr);
            eq.snap_to(&s);
            let x = sine(f, sr64, skip + window, 0.25);
            let y = run_mono(&mut eq, &x, 512);
            let measured =
                db(amplitude(&y, sr64, f, skip, window) / amplitude(&x, sr64, f, skip, window));
            let predicted = Eq::magnitude_db(&s, f, sr64);
            assert!(
                (measured - predicted).abs() < 0.05,
                "{f} Hz at {sr} Hz: measured {measured} dB, predicted {predicted} dB"
            );
            // And what the running EQ reports matches too.
            assert!((eq.current_magnitude_db(f) - predicted).abs() < 1e-9);
        }
    }
}

#[test]
fn settled_stereo_eq_matches_a_direct_form_reference_on_real_speech() {
    let vctk = faurge_io::read(VCTK).unwrap();
    assert_eq!(vctk.sample_rate, 48_000);
    let left = vctk.to_mono();
    let right = faurge_io::read(LIBRISPEECH)
        .unwrap()
        .resampled(48_000)
        .unwrap()
        .to_mono();
    let n = left.len().min(right.len());
    let (left, right) = (&left[..n], &right[..n]);
    assert!(n > 48_000, "clips too short: {n} samples");

    let s = busy();
    let coeffs: Vec<Coefficients> = (0..NUM_BANDS)
        .map(|i| Eq::band_coefficients(&s, i, 48_000.0))
        .collect();
    let (ref_l, ref_r) = (
        direct_form_cascade(&coeffs, left),
        direct_form_cascade(&coeffs, right),
    );

    let mut eq = Eq::new(48_000.0);
    eq.snap_to(&s);
    let (mut l, mut r) = (left.to_vec(), right.to_vec());
    for (a, b) in l.chunks_mut(480).zip(r.chunks_mut(480)) {
        eq.process(&mut [a, b]);
    }
    let err = |y: &[f32], r: &[f32]| {
        y.iter()
            .zip(r)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(err(&l, &ref_l) <= 1e-6, "left error {}", err(&l, &ref_l));
    assert!(err(&r, &ref_r) <= 1e-6, "right error {}", err(&r, &ref_r));
    // The EQ really changed the signal (not a wire), by a lot.
    assert!(err(&l, left) > 0.01);
    // Channels have separate memory: mono processing of the left gives the same.
    let mut mono_eq = Eq::new(48_000.0);
    mono_eq.snap_to(&s);
    assert_eq!(run_mono(&mut mono_eq, left, 480), l);
}

// ------------------------------------------------------------------ glide

fn peak_at(freq_hz: f32, gain_db: f32) -> EqState {
    single(3, band(true, freq_hz, gain_db, 1.0))
}

/// Output of a sine through `from`, changed to `to` at `at` samples by
/// `set_target` (or by `snap_to` when `snap`), and the largest gain (dB) at
/// the sine's frequency the EQ ran with along the way.
fn change_on_sine(
    sr: f32,
    f: f64,
    from: &EqState,
    to: &EqState,
    at: usize,
    total: usize,
    snap: bool,
) -> (Vec<f32>, Vec<f32>, f64) {
    let x = sine(f, f64::from(sr), total, 0.5);
    let mut eq = Eq::new(sr);
    eq.snap_to(from);
    let mut y = x.clone();
    let (a, b) = y.split_at_mut(at);
    eq.process(&mut [a]);
    let mut max_gain = eq.current_magnitude_db(f);
    if snap {
        eq.snap_to(to);
    } else {
        eq.set_target(to);
    }
    // Chunks of UPDATE_INTERVAL end once in every update interval, so this sees
    // every filter the glide designs.
    for chunk in b.chunks_mut(UPDATE_INTERVAL) {
        eq.process(&mut [chunk]);
        max_gain = max_gain.max(eq.current_magnitude_db(f));
    }
    (x, y, max_gain)
}

#[test]
fn abrupt_target_change_glides_without_a_click() {
    let (from, to) = (peak_at(1000.0, 12.0), peak_at(4000.0, -12.0));
    for sr in RATES {
        let sr64 = f64::from(sr);
        let at = (0.3 * sr64) as usize + 3; // not on an interval boundary
        let window = (sr64 / 10.0) as usize;
        let total = at + (0.4 * sr64) as usize;
        for f in [100.0, 300.0, 1000.0, 2000.0, 4000.0] {
            let (x, y, max_gain) = change_on_sine(sr, f, &from, &to, at, total, false);
            // No step larger than the input's steepest step times the largest
            // gain the EQ had at this frequency, with 5 % slack.
            let bound = max_step(&x) * 10f64.powf(max_gain / 20.0);
            let step = max_step(&y[at - 8..]);
            assert!(
                step <= 1.05 * bound,
                "{f} Hz at {sr} Hz: step {step} vs bound {bound} ({:.3}×)",
                step / bound
            );
            // The new steady state is reached after the glide.
            let measured = db(amplitude(&y, sr64, f, total - window, window) / 0.5);
            let predicted = Eq::magnitude_db(&to, f, sr64);
            assert!(
                (measured - predicted).abs() < 0.05,
                "{f} Hz at {sr} Hz after the glide: {measured} dB vs {predicted} dB"
            );
            // Negative control: the same change as a jump (snap_to) does click
            // where the sine is far from both bands, so this metric sees clicks.
            if f <= 300.0 {
                let (x, y, max_gain) = change_on_sine(sr, f, &from, &to, at, total, true);
                let bound = max_step(&x) * 10f64.powf(max_gain / 20.0);
                assert!(
                    max_step(&y[at - 8..]) > 1.5 * bound,
                    "control: a jump at {f} Hz, {sr} Hz should click"
                );
            }
        }
    }
}

#[test]
fn parameters_glide_through_intermediate_values() {
    // +12 dB at 1 kHz → −12 dB at 4 kHz: halfway (log f, dB) it is 0 dB at 2 kHz,
    // so 1 kHz passes at about unity gain in the middle of the glide.
    let (from, to) = (peak_at(1000.0, 12.0), peak_at(4000.0, -12.0));
    for sr in RATES {
        let sr64 = f64::from(sr);
        let old_db = Eq::magnitude_db(&from, 1000.0, sr64);
        let new_db = Eq::magnitude_db(&to, 1000.0, sr64);
        let at = (0.1 * sr64) as usize;
        let half = (f64::from(GLIDE_MS) * 1e-3 * sr64 / 2.0) as usize;
        let x = sine(1000.0, sr64, at + 2 * half, 0.25);
        let mut eq = Eq::new(sr);
        eq.snap_to(&from);
        let mut y = x.clone();
        eq.process(&mut [&mut y[..at]]);
        eq.set_target(&to);
        eq.process(&mut [&mut y[at..at + half]]);
        let mid_db = eq.current_magnitude_db(1000.0);
        assert!(!eq.is_settled());
        assert!(
            mid_db < old_db - 3.0 && mid_db > new_db + 0.5 && mid_db.abs() < 1.5,
            "mid-glide {mid_db} dB, old {old_db} dB, new {new_db} dB at {sr} Hz"
        );
        // In the output: peak level over the 2 ms around mid-glide lies between.
        let w = (0.001 * sr64) as usize;
        let peak = y[at + half - w..at + half + w]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        let mid_out = db(f64::from(peak) / 0.25);
        assert!(
            mid_out < old_db - 3.0 && mid_out > new_db + 0.5,
            "output mid-glide {mid_out} dB at {sr} Hz"
        );
    }
}

#[test]
fn glide_takes_about_glide_ms_at_every_rate() {
    for sr in RATES {
        let sr64 = f64::from(sr);
        let mut eq = Eq::new(sr);
        eq.snap_to(&busy());
        assert!(eq.is_settled());
        let x = noise(7, 4 * UPDATE_INTERVAL + 5, 0.1);
        run_mono(&mut eq, &x, 64);
        eq.set_target(&other());
        let mut n = 0usize;
        let mut buf = [0.1f32];
        while !eq.is_settled() && n < sr as usize {
            eq.process(&mut [&mut buf[..]]);
            n += 1;
        }
        let ms = n as f64 / sr64 * 1e3;
        let slack_ms = 2.0 * UPDATE_INTERVAL as f64 / sr64 * 1e3;
        assert!(
            (ms - f64::from(GLIDE_MS)).abs() <= slack_ms + 0.5,
            "glide took {ms} ms at {sr} Hz"
        );
        // Once settled, the running filters are exactly the target's.
        for f in [50.0, 700.0, 5000.0] {
            let want = Eq::magnitude_db(&other(), f, sr64);
            assert!((eq.current_magnitude_db(f) - want).abs() < 1e-9);
        }
    }
}

#[test]
fn disabled_bands_glide_to_an_exact_bypass_on_real_speech() {
    let speech = faurge_io::read(VCTK).unwrap().to_mono();
    let mut on = all_off();
    on.bands[0] = band(true, 200.0, 0.0, 0.707);
    on.bands[3] = band(true, 1000.0, 12.0, 1.0);
    on.bands[6] = band(true, 6000.0, -6.0, 0.707);
    let mut eq = Eq::new(48_000.0);
    assert_eq!(eq.active_bands(), 0, "the default EQ runs no filter");
    eq.snap_to(&on);
    assert_eq!(eq.active_bands(), 3);
    let at = 24_000;
    let mut y = speech.clone();
    eq.process(&mut [&mut y[..at]]);
    assert_ne!(&y[..at], &speech[..at]);
    eq.set_target(&all_off());
    for chunk in y[at..].chunks_mut(256) {
        eq.process(&mut [chunk]);
    }
    // A second after the change every band is bypassed: output is input, bit for bit.
    let tail = at + 48_000;
    assert!(eq.is_settled());
    assert_eq!(&y[tail..], &speech[tail..]);
    for f in [50.0, 200.0, 1000.0, 6000.0] {
        assert_eq!(eq.current_magnitude_db(f), 0.0);
    }
    assert_eq!(
        eq.active_bands(),
        0,
        "settled disabled bands must cost nothing"
    );
    // Enabled bands at 0 dB are identities too: nothing to run, nothing to glide.
    eq.set_target(&EqState::default());
    assert!(eq.is_settled());
    assert_eq!(eq.active_bands(), 0);
    // And the busy setting runs all eight.
    eq.set_target(&busy());
    run_mono(&mut eq, &speech[..4800], 64);
    assert_eq!(eq.active_bands(), NUM_BANDS);
}

#[test]
fn high_pass_and_peak_fade_out_and_back_in_without_a_click() {
    // HP at 150 Hz and a +9 dB peak; a 150 Hz sine sits at the HP's corner, where
    // the dry/wet cross-fade differs most in phase.
    let mut on = all_off();
    on.bands[0] = band(true, 150.0, 0.0, 0.707);
    on.bands[2] = band(true, 400.0, 9.0, 2.0);
    let f = 150.0;
    for sr in RATES {
        let sr64 = f64::from(sr);
        // Changes fall on chunk boundaries below (0.2 s rounded to whole chunks).
        let seg = (0.2 * sr64) as usize / UPDATE_INTERVAL * UPDATE_INTERVAL;
        let window = (sr64 / 10.0) as usize;
        let x = sine(f, sr64, 3 * seg, 0.5);
        let mut eq = Eq::new(sr);
        eq.snap_to(&on);
        let mut y = x.clone();
        let mut max_gain = eq.current_magnitude_db(f);
        let mut changes = 0;
        for (i, chunk) in y.chunks_mut(UPDATE_INTERVAL).enumerate() {
            let n = i * UPDATE_INTERVAL;
            if n == seg {
                eq.set_target(&all_off());
                changes += 1;
            } else if n == 2 * seg - 2 * UPDATE_INTERVAL {
                eq.set_target(&on);
                changes += 1;
            }
            eq.process(&mut [chunk]);
            max_gain = max_gain.max(eq.current_magnitude_db(f));
        }
        assert_eq!(changes, 2);
        // From just before the first change (the sine's own onset is not a glide).
        // The bound is the steepest step the loudest response passes, plus the
        // fade's own slope: the wet share moves by at most R·ln10/20 per glide
        // (fastest at its start, see faurge_dsp::fade) times |wet − dry|, which is
        // at most 2 × the amplitude reaching the band.
        let gain = 10f64.powf(max_gain / 20.0);
        let glide_samples = f64::from(GLIDE_MS) * 1e-3 * sr64;
        let fade_slope = BLEND_RANGE_DB * std::f64::consts::LN_10 / 20.0 / glide_samples;
        let bound = max_step(&x) * gain + fade_slope * 2.0 * 0.5 * gain;
        let step = max_step(&y[seg - 8..]);
        assert!(
            step <= 1.05 * bound,
            "{sr} Hz: step {step} vs bound {bound}"
        );
        // Steady states: on, off (unity), on again.
        let on_db = Eq::magnitude_db(&on, f, sr64);
        for (end, want) in [
            (seg, on_db),
            (2 * seg - 2 * UPDATE_INTERVAL, 0.0),
            (3 * seg, on_db),
        ] {
            let got = db(amplitude(&y, sr64, f, end - window, window) / 0.5);
            assert!(
                (got - want).abs() < 0.05,
                "{sr} Hz up to {end}: {got} dB vs {want} dB"
            );
        }
    }
}

// ------------------------------------------------- denormals and silence

#[test]
fn impulse_then_silence_decays_to_exact_zero_without_subnormals() {
    for sr in RT_RATES {
        let n = (1.5 * sr) as usize;
        let mut x = vec![0.0f32; n];
        x[0] = 1.0;
        let mut eq = Eq::new(sr);
        eq.snap_to(&busy());
        let mut y = x.clone();
        for (i, chunk) in y.chunks_mut(64).enumerate() {
            if i == 20 {
                eq.set_target(&other()); // a glide during the decay
            }
            eq.process(&mut [chunk]);
        }
        assert!(
            y.iter().all(|v| !is_subnormal(*v)),
            "subnormal output at {sr} Hz"
        );
        let last_nonzero = y.iter().rposition(|v| *v != 0.0).unwrap_or(0);
        assert!(
            last_nonzero < sr as usize,
            "output still nonzero at sample {last_nonzero} ({sr} Hz)"
        );
        assert!(last_nonzero > 0, "the impulse must come through");
    }
}

#[test]
fn tiny_inputs_never_produce_subnormal_outputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for sr in RT_RATES {
        // Normal f32 values from 1e-38 to 1e-30, and some subnormal ones.
        let x: Vec<f32> = (0..20_000)
            .map(|i| {
                let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                if i % 7 == 0 {
                    sign * 1e-40
                } else {
                    sign * 10f32.powf(rng.gen_range(-38.0..-30.0))
                }
            })
            .collect();
        let mut eq = Eq::new(sr);
        eq.snap_to(&busy());
        let mut y = x.clone();
        for (i, chunk) in y.chunks_mut(100).enumerate() {
            if i == 50 {
                eq.set_target(&other());
            }
            eq.process(&mut [chunk]);
        }
        assert!(
            y.iter().all(|v| !is_subnormal(*v)),
            "subnormal output at {sr} Hz"
        );
    }
}

// ------------------------------------------------------------- realtime

#[test]
fn process_set_target_snap_and_reset_never_allocate() {
    let states = [busy(), other(), all_off(), EqState::default()];
    for sr in RT_RATES {
        for block in [1usize, 7, 64, 511, 4096, 8192] {
            let total = (3 * block).max(4096);
            let mut l = noise(block as u64, total, 0.5);
            let mut r = noise(block as u64 + 100, total, 0.5);
            let mut eq = Eq::new(sr);
            assert_no_alloc::assert_no_alloc(|| {
                for (i, (a, b)) in l.chunks_mut(block).zip(r.chunks_mut(block)).enumerate() {
                    // A new target every few blocks, so glides are always in flight.
                    if i % 3 == 0 {
                        eq.set_target(&states[(i / 3) % states.len()]);
                    }
                    if i == 5 {
                        eq.snap_to(&states[1]);
                        eq.set_target(&states[0]);
                    }
                    if i == 9 {
                        eq.reset();
                        eq.set_target(&states[2]);
                    }
                    eq.process(&mut [a, b]);
                }
            });
            assert!(l.iter().chain(r.iter()).all(|v| v.is_finite()));
        }
    }
}

#[test]
fn output_does_not_depend_on_block_size() {
    // Target changes at odd sample positions: a retarget mid-glide, bands
    // enabling from bypass and fading out (HP and LP cross-fades).
    let changes: [(usize, EqState); 3] = [(12_345, other()), (13_000, busy()), (30_001, all_off())];
    for sr in [44_100.0f32, 48_000.0] {
        let n = 48_000;
        let l = noise(1, n, 0.5);
        let r: Vec<f32> = sine(440.0, f64::from(sr), n, 0.3);
        let render = |block: usize| {
            let (mut a, mut b) = (l.clone(), r.clone());
            let mut eq = Eq::new(sr);
            eq.snap_to(&EqState::default());
            let mut start = 0;
            for k in 0..=changes.len() {
                let end = changes.get(k).map_or(n, |c| c.0);
                for (ca, cb) in a[start..end]
                    .chunks_mut(block)
                    .zip(b[start..end].chunks_mut(block))
                {
                    eq.process(&mut [ca, cb]);
                }
                if let Some((_, s)) = changes.get(k) {
                    eq.set_target(s);
                }
                start = end;
            }
            (a, b)
        };
        let reference = render(1);
        assert_ne!(reference.0, l, "the EQ must change the signal");
        for block in [7, 64, 4096, 8192] {
            let got = render(block);
            // Bit-exact: glide steps, interpolation and fades depend only on the
            // sample position, never on block boundaries.
            assert!(got == reference, "block size {block} differs at {sr} Hz");
        }
    }
}

// ------------------------------------------------------------ bad input

#[test]
fn non_finite_input_does_not_poison_the_filter() {
    let sr = 48_000.0;
    let x = sine(440.0, 48_000.0, 4800, 0.5);
    let mut eq = Eq::new(sr);
    eq.snap_to(&busy());
    let mut first = x[..64].to_vec();
    first[10] = f32::NAN;
    first[20] = f32::INFINITY;
    eq.process(&mut [&mut first]);
    assert!(first.iter().all(|v| v.is_finite()));
    let rest = run_mono(&mut eq, &x[64..], 64);
    assert!(rest.iter().all(|v| v.is_finite()));
    // The poisoned state was reset: the rest is what a fresh EQ produces.
    let mut fresh = Eq::new(sr);
    fresh.snap_to(&busy());
    assert_eq!(rest, run_mono(&mut fresh, &x[64..], 64));
}

#[test]
fn nan_and_out_of_range_settings_are_sanitized() {
    let sr = 22_050.0;
    let mut bad = busy();
    bad.bands[1].freq_hz = f32::NAN;
    bad.bands[2].gain_db = f32::INFINITY;
    bad.bands[3].q = f32::NEG_INFINITY;
    bad.bands[4].freq_hz = 30_000.0;
    bad.bands[5].gain_db = f32::NAN;
    bad.bands[6].q = f32::NAN;
    let mut eq = Eq::new(sr);
    eq.set_target(&bad);
    let t = *eq.target();
    assert_eq!(t.bands[1].freq_hz, EqBandState::default_for(1).freq_hz);
    assert_eq!(t.bands[2].gain_db, MAX_GAIN_DB);
    assert_eq!(t.bands[3].q, MIN_Q);
    assert_eq!(t.bands[4].freq_hz, 0.45 * sr);
    assert_eq!(t.bands[5].gain_db, 0.0);
    assert_eq!(t.bands[6].q, EqBandState::default_for(6).q);
    assert!(t
        .bands
        .iter()
        .all(|b| b.freq_hz.is_finite() && b.gain_db.is_finite() && b.q.is_finite()));
    // The static functions sanitize the same way.
    for i in 0..NUM_BANDS {
        assert_eq!(
            Eq::band_coefficients(&bad, i, 22_050.0),
            Eq::band_coefficients(&t, i, 22_050.0)
        );
    }
    let y = run_mono(&mut eq, &noise(3, 22_050, 0.5), 128);
    assert!(y.iter().all(|v| v.is_finite()));
    assert!(eq.is_settled());
    assert!(Eq::magnitude_db(&bad, 1000.0, 22_050.0).is_finite());
    // A bad sample rate is clamped, not a panic.
    assert_eq!(Eq::new(f32::NAN).sample_rate(), 48_000.0);
    assert_eq!(Eq::new(1.0).sample_rate(), faurge_dsp::MIN_SAMPLE_RATE);
    assert_eq!(Eq::new(1e9).sample_rate(), faurge_dsp::MAX_SAMPLE_RATE);
}

#[test]
fn reset_and_snap_to_settle_at_the_target() {
    let sr = 96_000.0;
    let x = noise(5, 9600, 0.5);
    let mut eq = Eq::new(sr);
    eq.set_target(&busy());
    run_mono(&mut eq, &x[..1000], 100);
    assert!(!eq.is_settled());
    // reset: as if freshly created at the target.
    eq.reset();
    assert!(eq.is_settled());
    let mut fresh = Eq::new(sr);
    fresh.snap_to(&busy());
    assert_eq!(run_mono(&mut eq, &x, 100), run_mono(&mut fresh, &x, 100));
    // snap_to mid-glide: settled at once on exactly the new response.
    eq.set_target(&other());
    run_mono(&mut eq, &x[..500], 100);
    eq.snap_to(&all_off());
    assert!(eq.is_settled());
    assert_eq!(eq.target(), &all_off());
    assert_eq!(
        run_mono(&mut eq, &x, 100),
        x,
        "all bands off after snap: a wire"
    );
}

#[test]
fn extra_channels_and_mismatched_lengths_are_handled_safely() {
    let mut eq = Eq::new(48_000.0);
    eq.snap_to(&busy());
    let x = noise(9, 100, 0.5);
    let (mut a, mut b, mut c) = (x.clone(), x[..50].to_vec(), x.clone());
    eq.process(&mut [&mut a, &mut b, &mut c]);
    assert_eq!(c, x, "a third channel is left alone");
    assert_eq!(&a[50..], &x[50..], "only the common length is processed");
    assert_eq!(&a[..50], &b[..], "both channels got the same filter");
    assert_ne!(&a[..50], &x[..50]);
    eq.process(&mut []);
    eq.process(&mut [&mut []]);
    eq.process(&mut [&mut [], &mut []]);
}

#[test]
fn random_automation_over_the_full_ranges_stays_finite_and_lands_on_target() {
    // Seeded fuzzing: every parameter jumps anywhere in (and beyond) its range
    // every few blocks, so glides run between extreme designs (20 Hz ↔ 0.45·fs,
    // ±24 dB, Q 0.1 ↔ 18) and are interrupted mid-way.
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    for sr in [22_050.0f32, 192_000.0] {
        let mut eq = Eq::new(sr);
        let mut state = EqState::default();
        let x = noise(13, (0.5 * sr) as usize, 0.5);
        let mut y = x.clone();
        for (i, chunk) in y.chunks_mut(37).enumerate() {
            if i % 5 == 0 {
                for b in &mut state.bands {
                    b.enabled = rng.gen_bool(0.7);
                    b.freq_hz = 10f32.powf(rng.gen_range(1.0..4.5));
                    b.gain_db = rng.gen_range(-30.0..30.0);
                    b.q = 10f32.powf(rng.gen_range(-1.2..1.4));
                }
                eq.set_target(&state);
            }
            eq.process(&mut [chunk]);
            assert!(
                chunk.iter().all(|v| v.is_finite()),
                "non-finite output at {sr} Hz"
            );
        }
        // Let the last glide finish; the EQ then runs exactly the target's filters.
        run_mono(&mut eq, &x[..(0.05 * sr) as usize], 64);
        assert!(eq.is_settled());
        for f in [30.0, 300.0, 3000.0, 9000.0] {
            let want = Eq::magnitude_db(&state, f, f64::from(sr));
            assert!((eq.current_magnitude_db(f) - want).abs() < 1e-9);
        }
    }
}
