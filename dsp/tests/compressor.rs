//! Tests of the compressor: static curve (formula and measured), attack/release time
//! constants, stereo link, makeup, metering, glides, silence, extreme settings,
//! allocation-freedom, block-size independence and equivalence with a naive reference.

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

use assert_no_alloc::assert_no_alloc;
use faurge_dsp::compressor::{lookahead_samples, Compressor, GLIDE_MS, LOOKAHEAD_MS};
use faurge_dsp::state::{
    CompressorState, MAX_KNEE_DB, MAX_MAKEUP_DB, MAX_RATIO, MAX_RELEASE_MS, MIN_ATTACK_MS,
    MIN_KNEE_DB, MIN_RATIO, MIN_THRESHOLD_DB,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use faurge_io::examples::VCTK_SPEECH as SPEECH_48K;

/// `1 − 1/e`: the fraction of a step a one-pole filter covers in one time constant.
const ONE_TAU: f64 = 0.632_120_558_828_557_7;

/// Soft-knee static curve, Giannoulis, Massberg & Reiss (JAES 2012) eq. (4), written
/// directly from the paper: output level (dB) for input level `x` (dB).
fn eq4(x: f64, t: f64, r: f64, w: f64) -> f64 {
    if 2.0 * (x - t) < -w {
        x
    } else if w > 0.0 && 2.0 * (x - t).abs() <= w {
        // (The paper's knee branch; with W = 0 it is empty and eq. (4) is the hard knee.)
        x + (1.0 / r - 1.0) * (x - t + w / 2.0).powi(2) / (2.0 * w)
    } else {
        t + (x - t) / r
    }
}

fn state(
    threshold_db: f32,
    ratio: f32,
    knee_db: f32,
    attack_ms: f32,
    release_ms: f32,
) -> CompressorState {
    CompressorState {
        enabled: true,
        threshold_db,
        ratio,
        knee_db,
        attack_ms,
        release_ms,
        makeup_db: 0.0,
    }
}

fn compressor(sample_rate: f32, s: &CompressorState) -> Compressor {
    let mut c = Compressor::new(sample_rate);
    c.snap_to(s);
    c
}

fn db(x: f64) -> f64 {
    20.0 * x.abs().log10()
}

/// Naive per-sample reference of the whole compressor, in `f64`, from the paper:
/// x_G = 20·log10(max|x|) floored at −120 dB, y_G by eq. (4), x_L = x_G − y_G,
/// smooth branching peak detector (eq. (16)) with α = exp(−1/(τ·fs)) (eq. (7)),
/// gain 10^((makeup − y_L)/20) applied to every channel.
fn reference(channels: &[Vec<f32>], s: &CompressorState, fs: f64) -> Vec<Vec<f32>> {
    reference_with_lookahead(channels, s, fs, 0)
}

/// [`reference`] with the gain of sample `n` applied to input sample `n − lookahead`
/// (zeros before the start).
fn reference_with_lookahead(
    channels: &[Vec<f32>],
    s: &CompressorState,
    fs: f64,
    lookahead: usize,
) -> Vec<Vec<f32>> {
    let (t, r, w) = (s.threshold_db as f64, s.ratio as f64, s.knee_db as f64);
    let aa = (-1.0 / (s.attack_ms as f64 * 1e-3 * fs)).exp();
    let ar = (-1.0 / (s.release_ms as f64 * 1e-3 * fs)).exp();
    let mut y_l = 0.0f64;
    let mut out = channels.to_vec();
    for n in 0..channels[0].len() {
        let peak = channels
            .iter()
            .map(|c| c[n].abs() as f64)
            .fold(0.0, f64::max);
        let x_g = 20.0 * peak.max(1e-6).log10();
        let x_l = x_g - eq4(x_g, t, r, w);
        let a = if x_l > y_l { aa } else { ar };
        y_l = a * y_l + (1.0 - a) * x_l;
        let g = 10f64.powf((s.makeup_db as f64 - y_l) / 20.0);
        for (o, c) in out.iter_mut().zip(channels) {
            let x = n.checked_sub(lookahead).map_or(0.0, |k| c[k]);
            o[n] = (x as f64 * g) as f32;
        }
    }
    out
}

/// Every sample of `got` within 1e-5 relative (+1e-9) of the reference `want`;
/// `what` names the case in the message.
fn assert_matches_reference(got: &[Vec<f32>], want: &[Vec<f32>], what: &str) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        for n in 0..g.len() {
            let tol = 1e-5 * w[n].abs() as f64 + 1e-9;
            assert!(
                ((g[n] - w[n]) as f64).abs() <= tol,
                "{what} sample {n}: {} vs reference {}",
                g[n],
                w[n]
            );
        }
    }
}

fn speech() -> Vec<f32> {
    let audio = faurge_io::read(SPEECH_48K).expect("shipped clip reads");
    assert_eq!(audio.sample_rate, 48_000);
    audio.to_mono()
}

/// Processes mono or stereo `chans` in place in blocks of `block` frames.
fn run_blocks(c: &mut Compressor, chans: &mut [Vec<f32>], block: usize) {
    match chans {
        [m] => {
            for x in m.chunks_mut(block) {
                c.process(&mut [x]);
            }
        }
        [l, r] => {
            for (a, b) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
                c.process(&mut [a, b]);
            }
        }
        _ => panic!("mono or stereo only"),
    }
}

#[test]
fn static_curve_db_is_the_eq4_soft_knee_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut configs = vec![
        (-20.0f32, 4.0f32, 6.0f32),
        (-30.0, 2.0, 0.0),
        (-10.0, 20.0, 24.0),
        (-40.0, 1.0, 6.0),
        (MIN_THRESHOLD_DB, MAX_RATIO, MAX_KNEE_DB),
    ];
    for _ in 0..50 {
        configs.push((
            rng.gen_range(MIN_THRESHOLD_DB..=0.0),
            rng.gen_range(MIN_RATIO..=MAX_RATIO),
            rng.gen_range(MIN_KNEE_DB..=MAX_KNEE_DB),
        ));
    }
    for (t, r, w) in configs {
        let s = state(t, r, w, 10.0, 100.0);
        for i in 0..=1400 {
            let x = -120.0 + 0.1 * i as f32;
            let got = Compressor::static_curve_db(&s, x) as f64;
            let want = eq4(x as f64, t as f64, r as f64, w as f64);
            assert!(
                (got - want).abs() < 1e-4,
                "T {t} R {r} W {w}: at {x} dB got {got}, eq. (4) gives {want}"
            );
        }
        // Makeup and enable do not enter the static curve.
        let mut s2 = s;
        s2.makeup_db = 9.0;
        s2.enabled = false;
        assert_eq!(
            Compressor::static_curve_db(&s2, -5.0),
            Compressor::static_curve_db(&s, -5.0)
        );
    }
}

/// Steady 1 kHz sines at 48 kHz (48 samples per period, so the peak is sampled exactly)
/// at −60…0 dB: the settled output peak level equals eq. (4) + makeup within 0.1 dB.
/// Fast attack / slow release so the peak detector holds the peak between cycles.
#[test]
fn processed_sines_settle_on_the_static_curve() {
    let fs = 48_000.0;
    let configs = [
        (-20.0f32, 4.0f32, 6.0f32, 0.0f32),
        (-30.0, 2.0, 0.0, 0.0),
        (-10.0, 20.0, 12.0, 0.0),
        (-40.0, 1.0, 6.0, 0.0),
        (-24.0, 8.0, 24.0, 6.0),
        (-50.0, 3.0, 0.0, -3.0),
    ];
    let n = 19_200; // 0.4 s
    for (t, r, w, m) in configs {
        let mut s = state(t, r, w, MIN_ATTACK_MS, MAX_RELEASE_MS);
        s.makeup_db = m;
        let mut worst = 0.0f64;
        for level in (-60..=0).step_by(2) {
            let a = 10f64.powf(level as f64 / 20.0);
            let mut x: Vec<f32> = (0..n)
                .map(|i| (a * (2.0 * std::f64::consts::PI * i as f64 / 48.0).sin()) as f32)
                .collect();
            let mut c = compressor(fs, &s);
            c.process(&mut [&mut x]);
            let peak = x[n - 480..].iter().fold(0.0f32, |p, v| p.max(v.abs())) as f64;
            let want = eq4(level as f64, t as f64, r as f64, w as f64) + m as f64;
            let err = db(peak) - want;
            worst = worst.max(err.abs());
            assert!(
                err.abs() <= 0.1,
                "T {t} R {r} W {w} makeup {m}: input {level} dB gives {:.3} dB, eq. (4) says {want:.3}",
                db(peak)
            );
        }
        println!("T {t} R {r} W {w} makeup {m}: worst static error {worst:.4} dB");
    }
}

/// A level step −40 → −10 dBFS (threshold −30, ratio 4: 15 dB of reduction) and back,
/// on a square wave (constant |x|, so the detector sees a clean step). The reduction,
/// measured from the output, covers 63 % of its change in attack_ms (step up) and in
/// release_ms (step down), within 10 %.
#[test]
fn attack_and_release_time_constants_are_the_63_percent_times() {
    for fs in [44_100.0f32, 48_000.0, 96_000.0] {
        for attack in [1.0f32, 10.0, 50.0] {
            for release in [50.0f32, 200.0] {
                let s = state(-30.0, 4.0, 0.0, attack, release);
                let sr = fs as usize;
                let (up, down, end) = (sr / 5, sr / 5 + sr, sr / 5 + 3 * sr);
                let lo = 10f32.powf(-40.0 / 20.0);
                let hi = 10f32.powf(-10.0 / 20.0);
                let input: Vec<f32> = (0..end)
                    .map(|i| {
                        let a = if (up..down).contains(&i) { hi } else { lo };
                        if (i / 50) % 2 == 0 {
                            a
                        } else {
                            -a
                        }
                    })
                    .collect();
                let mut x = input.clone();
                compressor(fs, &s).process(&mut [&mut x]);
                let red: Vec<f64> = input
                    .iter()
                    .zip(&x)
                    .map(|(i, o)| db(*i as f64) - db(*o as f64))
                    .collect();
                let (start, top, last) = (red[up - 1], red[down - 1], red[end - 1]);
                assert!(start.abs() < 1e-6, "no reduction below threshold: {start}");
                assert!((top - 15.0).abs() < 0.01, "settled reduction {top} dB");
                let k = (up..down)
                    .find(|&k| red[k] - start >= ONE_TAU * (top - start))
                    .expect("attack reaches 63 %");
                let t_att = (k - up + 1) as f64 / fs as f64 * 1e3;
                let k = (down..end)
                    .find(|&k| top - red[k] >= ONE_TAU * (top - last))
                    .expect("release reaches 63 %");
                let t_rel = (k - down + 1) as f64 / fs as f64 * 1e3;
                println!(
                    "{fs} Hz: attack {attack} ms → {t_att:.3} ms, release {release} ms → {t_rel:.3} ms"
                );
                assert!(
                    (t_att / attack as f64 - 1.0).abs() <= 0.1,
                    "{fs} Hz: attack {attack} ms measured {t_att:.3} ms"
                );
                assert!(
                    (t_rel / release as f64 - 1.0).abs() <= 0.1,
                    "{fs} Hz: release {release} ms (attack {attack}) measured {t_rel:.3} ms"
                );
            }
        }
    }
}

/// A loud signal on L only: R (a quiet tone below threshold) gets exactly L's gain,
/// and L is processed exactly as a mono compressor would process it alone.
#[test]
fn stereo_link_applies_the_louder_channels_gain_to_both() {
    let fs = 48_000.0;
    let x = speech();
    let n = x.len();
    let quiet: Vec<f32> = (0..n)
        .map(|i| 0.003 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / fs).sin())
        .collect();
    let s = state(-30.0, 6.0, 6.0, 5.0, 100.0);

    let mut mono = x.clone();
    compressor(fs, &s).process(&mut [&mut mono]);

    for swap in [false, true] {
        let mut c = compressor(fs, &s);
        let (mut l, mut r) = (x.clone(), quiet.clone());
        if swap {
            std::mem::swap(&mut l, &mut r);
        }
        let mut max_red = 0.0f32;
        for i in 0..n {
            c.process(&mut [&mut l[i..i + 1], &mut r[i..i + 1]]);
            let red = c.gain_reduction_db();
            max_red = max_red.max(red);
            let g = 10f64.powf(-red as f64 / 20.0);
            let (loud_out, quiet_out) = if swap { (r[i], l[i]) } else { (l[i], r[i]) };
            assert!(
                (quiet_out as f64 - quiet[i] as f64 * g).abs()
                    <= 1e-6 * quiet[i].abs() as f64 + 1e-12,
                "sample {i}: quiet channel not reduced by the linked gain"
            );
            assert_eq!(
                loud_out, mono[i],
                "sample {i}: loud channel differs from mono"
            );
        }
        assert!(
            max_red > 10.0,
            "speech must be compressed (max {max_red} dB)"
        );
    }
}

/// Makeup multiplies the output by exactly 10^(makeup/20), with and without reduction.
#[test]
fn makeup_adds_exactly_makeup_db() {
    let fs = 48_000.0;
    let x = speech();
    let base_state = state(-25.0, 4.0, 6.0, 5.0, 120.0);
    let mut base = x.clone();
    compressor(fs, &base_state).process(&mut [&mut base]);
    for m in [-12.0f32, -3.5, 0.0, 6.0, 24.0] {
        let mut s = base_state;
        s.makeup_db = m;
        let mut y = x.clone();
        compressor(fs, &s).process(&mut [&mut y]);
        let g = 10f64.powf(m as f64 / 20.0);
        for (i, (&b, &o)) in base.iter().zip(&y).enumerate() {
            assert!(
                (o as f64 - b as f64 * g).abs() <= 1e-6 * (b.abs() as f64 * g) + 1e-12,
                "makeup {m} dB, sample {i}: {o} vs {b}·{g}"
            );
        }
        // Below threshold (no reduction) the gain is the makeup alone.
        let mut q: Vec<f32> = x.iter().map(|v| v * 0.01).collect();
        let mut s_q = s;
        s_q.threshold_db = 0.0;
        compressor(fs, &s_q).process(&mut [&mut q]);
        for (i, (&v, &o)) in x.iter().zip(&q).enumerate() {
            let want = v as f64 * 0.01 * g;
            assert!(
                (o as f64 - want).abs() <= 1e-6 * want.abs() + 1e-12,
                "sample {i}"
            );
        }
    }
}

/// The meter equals the reduction actually applied to each sample: with makeup M,
/// `meter = M − 20·log10(out/in)`; during a disable glide (makeup 0),
/// `meter = −20·log10(out/in)` and ends at exactly 0.
#[test]
fn gain_reduction_meter_reports_the_applied_reduction() {
    let fs = 48_000.0;
    let x = speech();
    let mut s = state(-30.0, 5.0, 6.0, 3.0, 150.0);
    s.makeup_db = 4.0;
    let mut c = compressor(fs, &s);
    let mut checked = 0;
    let mut max_red = 0.0f32;
    let half = x.len() / 2;
    for (i, &v) in x.iter().enumerate() {
        if i == half {
            let mut off = s;
            off.enabled = false;
            off.makeup_db = 0.0;
            // Makeup 0 first (snap), so the disable glide only scales the reduction.
            let mut snap = s;
            snap.makeup_db = 0.0;
            c.snap_to(&snap);
            c.set_target(&off);
        }
        let mut y = [v];
        c.process(&mut [&mut y]);
        let meter = c.gain_reduction_db();
        assert!(meter >= 0.0);
        max_red = max_red.max(meter);
        if v.abs() > 1e-3 {
            let makeup = if i < half { 4.0 } else { 0.0 };
            let applied = makeup - db(y[0] as f64 / v as f64);
            assert!(
                (applied - meter as f64).abs() < 1e-3,
                "sample {i}: meter {meter} dB, applied {applied} dB"
            );
            checked += 1;
        }
    }
    assert!(checked > 10_000 && max_red > 10.0, "{checked} {max_red}");
    assert_eq!(c.gain_reduction_db(), 0.0, "disabled compressor meters 0");
}

/// Gain trajectory (dB) of a DC input of 0.5 (−6 dBFS), per sample.
fn gain_track(c: &mut Compressor, n: usize) -> Vec<f64> {
    let mut x = vec![0.5f32; n];
    c.process(&mut [&mut x]);
    x.iter().map(|&o| db(o as f64 / 0.5)).collect()
}

fn max_step(g: &[f64]) -> f64 {
    g.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f64::max)
}

/// Abrupt threshold/ratio/makeup changes glide: the sample-to-sample gain step stays
/// below 0.1 dB, where snapping the same change jumps by more than 5 dB; the glide
/// lasts GLIDE_MS and is linear (makeup alone: half-way at half the glide).
#[test]
fn setting_changes_glide_without_clicks() {
    for fs in [44_100.0f32, 96_000.0] {
        let glide = (GLIDE_MS as f64 * 1e-3 * fs as f64).round() as usize;
        let a = state(-20.0, 4.0, 0.0, MIN_ATTACK_MS, 50.0);
        let mut b = state(-40.0, 10.0, 0.0, MIN_ATTACK_MS, 50.0);
        b.makeup_db = 12.0;
        // Start gain −0.75·(x_G + 20) ≈ −10.5 dB; final 12 − 0.9·(x_G + 40) ≈ −18.6 dB.
        let x_g = db(0.5);
        let (start, end) = (-0.75 * (x_g + 20.0), 12.0 - 0.9 * (x_g + 40.0));
        for snap in [false, true] {
            let mut c = compressor(fs, &a);
            let settle = gain_track(&mut c, fs as usize / 2);
            assert!((settle.last().unwrap() - start).abs() < 1e-3);
            if snap {
                c.snap_to(&b);
            } else {
                c.set_target(&b);
            }
            let g = gain_track(&mut c, fs as usize / 2);
            let step = max_step(&[&settle[settle.len() - 1..], &g[..]].concat());
            assert!(
                (g.last().unwrap() - end).abs() < 1e-3,
                "final {}",
                g.last().unwrap()
            );
            if snap {
                assert!(step > 5.0, "snap must jump (test sanity), got {step}");
            } else {
                assert!(step < 0.1, "{fs} Hz: click of {step} dB during the glide");
                // Most of the change happens during the glide, not before it ends.
                assert!(
                    (g[glide / 2] - 0.5 * (start + end)).abs() < 2.0,
                    "half-way {}",
                    g[glide / 2]
                );
            }
        }
        // Makeup alone, below threshold: exactly linear in dB over the glide.
        let quiet = state(0.0, 4.0, 0.0, 1.0, 50.0);
        let mut c = compressor(fs, &quiet);
        let mut loud = quiet;
        loud.makeup_db = 12.0;
        c.set_target(&loud);
        let g = gain_track(&mut c, 2 * glide);
        for (k, v) in g.iter().enumerate() {
            let want = 12.0 * ((k + 1) as f64 / glide as f64).min(1.0);
            assert!((v - want).abs() < 1e-4, "{fs} Hz sample {k}: {v} vs {want}");
        }
        // Setting the same target again (as a host does every block) changes nothing.
        let mut c2 = compressor(fs, &quiet);
        c2.set_target(&loud);
        let mut g2 = Vec::new();
        for _ in 0..(2 * glide).div_ceil(64) {
            c2.set_target(&loud);
            g2.extend(gain_track(&mut c2, 64));
        }
        assert!(
            (g2[glide - 1] - 12.0).abs() < 1e-4,
            "re-sent target stalls the glide"
        );
    }
}

/// Disabling glides the gain to unity without a click, then the audio passes bit-exact
/// and the meter reads 0; enabling glides back in.
#[test]
fn disable_glides_to_unity_then_bypasses_exactly() {
    let fs = 48_000.0;
    let glide = (GLIDE_MS * 1e-3 * fs).round() as usize;
    let mut s = state(-40.0, 8.0, 0.0, 1.0, 80.0);
    s.makeup_db = 6.0;
    let mut c = compressor(fs, &s);
    let on = gain_track(&mut c, 24_000);
    let mut off = s;
    off.enabled = false;
    c.set_target(&off);
    let g = gain_track(&mut c, 3 * glide);
    assert!(max_step(&[&on[on.len() - 1..], &g[..]].concat()) < 0.05);
    assert!(
        g[glide / 2] < -1.0,
        "still compressing half-way: {}",
        g[glide / 2]
    );
    assert!(
        g[glide - 1..].iter().all(|&v| v == 0.0),
        "unity after the glide"
    );
    let x = speech();
    let mut y = x.clone();
    c.process(&mut [&mut y]);
    assert_eq!(x, y, "bypass is bit-exact");
    assert_eq!(c.gain_reduction_db(), 0.0);
    c.set_target(&s);
    let back = gain_track(&mut c, 24_000);
    assert!(max_step(&back) < 0.2, "re-enable click {}", max_step(&back));
    assert!((back.last().unwrap() - on.last().unwrap()).abs() < 1e-6);
}

/// Silence in gives exact zeros out, no subnormal anywhere; after a loud passage the
/// envelope decays to exactly 0 dB in bounded time, so the gain is exactly 1 again.
#[test]
fn silence_gives_exact_silence_and_the_envelope_flushes_to_unity() {
    for fs in [8_000.0f32, 22_050.0, 192_000.0, 768_000.0] {
        let s = state(-60.0, MAX_RATIO, 0.0, 1.0, MAX_RELEASE_MS);
        let mut c = compressor(fs, &s);
        let mut z = vec![0.0f32; 4096];
        c.process(&mut [&mut z]);
        assert!(z.iter().all(|&v| v == 0.0 && v.is_sign_positive()));
        assert_eq!(c.gain_reduction_db(), 0.0);

        let mut loud = vec![1.0f32; fs as usize / 4];
        c.process(&mut [&mut loud]);
        assert!(c.gain_reduction_db() > 50.0);
        // Release 2 s from ~57 dB to the 1e-6 dB flush: ln(5.7e7) ≈ 18 τ ≈ 36 s.
        let mut flushed_at = None;
        for blk in 0..(40.0 * fs / 4096.0) as usize {
            let mut z = vec![0.0f32; 4096];
            c.process(&mut [&mut z]);
            assert!(z.iter().all(|&v| v == 0.0), "silence out");
            let m = c.gain_reduction_db();
            assert!(!m.is_subnormal() && m >= 0.0, "meter {m}");
            if m == 0.0 && flushed_at.is_none() {
                flushed_at = Some(blk);
            }
            if flushed_at.is_some() {
                assert_eq!(m, 0.0, "stays flushed");
            }
        }
        assert!(flushed_at.is_some(), "{fs} Hz: envelope never flushed to 0");
        // Unity gain, exactly, for a signal below threshold.
        let x: Vec<f32> = (0..1000).map(|i| 1e-4 * ((i % 17) as f32 - 8.0)).collect();
        let mut y = x.clone();
        c.process(&mut [&mut y]);
        assert_eq!(x, y, "{fs} Hz: unity gain after the flush");
    }
}

fn wild(rng: &mut ChaCha8Rng) -> f32 {
    match rng.gen_range(0..8) {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => 1e30,
        4 => -1e30,
        5 => 0.0,
        6 => -0.0,
        _ => rng.gen_range(-1e4..1e4),
    }
}

/// Random NaN/inf/huge settings (seeded) are clamped; output stays finite for finite
/// input up to ±1000, and non-finite input never poisons the state.
#[test]
fn extreme_and_non_finite_settings_never_produce_nan() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut c = Compressor::new(44_100.0);
    let mut l = vec![0.0f32; 777];
    let mut r = vec![0.0f32; 777];
    for round in 0..300 {
        let s = CompressorState {
            enabled: rng.gen(),
            threshold_db: wild(&mut rng),
            ratio: wild(&mut rng),
            knee_db: wild(&mut rng),
            attack_ms: wild(&mut rng),
            release_ms: wild(&mut rng),
            makeup_db: wild(&mut rng),
        };
        match round % 3 {
            0 => c.set_target(&s),
            1 => c.snap_to(&s),
            _ => {
                c.set_target(&s);
                c.reset();
            }
        }
        let t = c.target();
        assert!(t.threshold_db.is_finite() && t.ratio >= 1.0 && t.ratio <= MAX_RATIO);
        assert!(t.knee_db.is_finite() && t.attack_ms >= MIN_ATTACK_MS);
        assert!(t.release_ms <= MAX_RELEASE_MS && t.makeup_db <= MAX_MAKEUP_DB);
        assert!(Compressor::static_curve_db(&s, -20.0).is_finite());
        for (a, b) in l.iter_mut().zip(r.iter_mut()) {
            *a = match rng.gen_range(0..6) {
                0 => 1000.0,
                1 => -1000.0,
                2 => 1e-38,
                3 => 0.0,
                _ => rng.gen_range(-1.0..1.0),
            };
            *b = rng.gen_range(-2.0..2.0);
        }
        c.process(&mut [&mut l, &mut r]);
        assert!(l.iter().chain(&r).all(|v| v.is_finite()), "round {round}");
        assert!(c.gain_reduction_db().is_finite());
    }
    // Non-finite input: passed through, but the state stays finite.
    c.snap_to(&state(-30.0, 4.0, 6.0, 1.0, 50.0));
    let mut bad = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5, f32::NAN];
    c.process(&mut [&mut bad]);
    assert!(c.gain_reduction_db().is_finite());
    let mut ok = vec![0.25f32; 4800];
    c.process(&mut [&mut ok]);
    assert!(ok.iter().all(|v| v.is_finite() && *v > 0.0));
    // A NaN setting falls back to the default; ±inf to the nearest bound.
    let mut s = state(f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0, 50.0);
    s.makeup_db = f32::NAN;
    c.snap_to(&s);
    let d = CompressorState::default();
    assert_eq!(c.target().threshold_db, d.threshold_db);
    assert_eq!(c.target().ratio, MAX_RATIO);
    assert_eq!(c.target().knee_db, MIN_KNEE_DB);
    assert_eq!(c.target().makeup_db, d.makeup_db);
}

/// process, set_target, snap_to and reset never allocate, at every block size and rate,
/// mono and stereo, with glides in flight and zero-length blocks.
#[test]
fn realtime_calls_never_allocate() {
    let a = state(-30.0, 4.0, 6.0, 5.0, 100.0);
    let mut b = state(-10.0, 12.0, 0.0, 0.5, 900.0);
    b.makeup_db = 8.0;
    let mut off = a;
    off.enabled = false;
    let states = [a, b, off, a];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut l: Vec<f32> = (0..8192).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut r = l.clone();
    for fs in [
        8_000.0f32, 11_025.0, 16_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0,
        384_000.0, 768_000.0,
    ] {
        for block in [1usize, 7, 64, 511, 4096, 8192] {
            let mut c = if block % 2 == 0 {
                Compressor::new(fs)
            } else {
                Compressor::with_lookahead(fs, LOOKAHEAD_MS)
            };
            assert_no_alloc(|| {
                c.snap_to(&a);
                for (k, s) in states.iter().cycle().take(12).enumerate() {
                    c.set_target(s);
                    let (l, r) = (&mut l[..block], &mut r[..block]);
                    if k % 2 == 0 {
                        c.process(&mut [l, r]);
                    } else {
                        c.process(&mut [l]);
                    }
                    c.process(&mut [&mut [][..]]);
                    c.process(&mut []);
                    if k == 5 {
                        c.snap_to(&b);
                    }
                    if k == 9 {
                        c.reset();
                    }
                }
            });
            assert!(l.iter().all(|v| v.is_finite()));
        }
    }
}

/// The same input and the same setting changes at the same sample positions give the
/// same output for blocks of 1, 7, 64 and 4096 frames (stereo speech).
#[test]
fn output_does_not_depend_on_block_size() {
    let fs = 48_000.0;
    let x = speech();
    let right: Vec<f32> = (0..x.len()).map(|i| 0.5 * x[(i + 311) % x.len()]).collect();
    let a = state(-35.0, 5.0, 6.0, 2.0, 120.0);
    let mut b = state(-20.0, 12.0, 0.0, 0.3, 400.0);
    b.makeup_db = 6.0;
    let mut off = b;
    off.enabled = false;
    // (sample position, what happens there)
    let events: [(usize, u8); 7] = [
        (30_000, 1),
        (30_500, 2),
        (60_000, 3),
        (90_000, 2),
        (91_000, 4),
        (120_000, 1),
        (150_000, 5),
    ];
    let render = |block: usize| {
        let mut c = compressor(fs, &a);
        let mut chans = vec![x.clone(), right.clone()];
        let mut pos = 0;
        for &(at, what) in events.iter().chain(std::iter::once(&(x.len(), 0))) {
            let mut seg: Vec<Vec<f32>> = chans.iter().map(|ch| ch[pos..at].to_vec()).collect();
            run_blocks(&mut c, &mut seg, block);
            for (ch, s) in chans.iter_mut().zip(&seg) {
                ch[pos..at].copy_from_slice(s);
            }
            pos = at;
            match what {
                1 => c.set_target(&b),
                2 => c.set_target(&a),
                3 => c.set_target(&off),
                4 => c.snap_to(&b),
                5 => c.reset(),
                _ => {}
            }
        }
        chans
    };
    let want = render(4096);
    assert!(want[0] != x, "the compressor changed the signal");
    for block in [1, 7, 64] {
        let got = render(block);
        for (g, w) in got.iter().zip(&want) {
            let worst = g
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1e-6, "block {block}: differs by {worst}");
        }
    }
}

/// On real speech with fixed settings, the output equals the naive f64 reference
/// (eq. (4) + branching detector eq. (16)) within 1e-5 relative, mono and stereo.
#[test]
fn speech_matches_the_naive_reference() {
    let fs = 48_000.0;
    let x = speech();
    let right: Vec<f32> = (0..x.len()).map(|i| 0.7 * x[(i + 997) % x.len()]).collect();
    let mut configs = vec![CompressorState {
        enabled: true,
        ..CompressorState::default()
    }];
    let mut s = state(-40.0, 10.0, 12.0, 0.5, 60.0);
    s.makeup_db = 9.0;
    configs.push(s);
    configs.push(state(-25.0, 2.5, 0.0, 30.0, 400.0));
    for s in configs {
        for chans in [vec![x.clone()], vec![x.clone(), right.clone()]] {
            let want = reference(&chans, &s, fs as f64);
            let mut got = chans.clone();
            run_blocks(&mut compressor(fs, &s), &mut got, 512);
            assert_matches_reference(&got, &want, &format!("{s:?}"));
            let mut max_red = 0.0f64;
            for (w, i) in want.iter().zip(&chans) {
                for n in 0..i.len() {
                    if i[n].abs() > 1e-2 {
                        max_red =
                            max_red.max(db(i[n] as f64) - db(w[n] as f64) + s.makeup_db as f64);
                    }
                }
            }
            assert!(
                max_red > 3.0,
                "{s:?}: speech must be compressed ({max_red} dB)"
            );
        }
    }
}

/// With a lookahead the output is the reference's gain of sample `n` applied to input
/// sample `n − L`: the detector reads the audio `L` samples before the gain meets it.
/// Mono and stereo, blocks of 1 to 4096 frames, and a disabled compressor is a pure
/// delay of `L`.
#[test]
fn lookahead_applies_each_gain_to_the_sample_lookahead_earlier() {
    let fs = 48_000.0f32;
    let l = lookahead_samples(fs, LOOKAHEAD_MS);
    assert_eq!(l, 48);
    let x = speech();
    let right: Vec<f32> = (0..x.len()).map(|i| 0.7 * x[(i + 997) % x.len()]).collect();
    let s = state(-40.0, 6.0, 6.0, MIN_ATTACK_MS, 120.0);
    for chans in [vec![x.clone()], vec![x.clone(), right.clone()]] {
        let want = reference_with_lookahead(&chans, &s, f64::from(fs), l);
        for block in [1usize, 64, 4096] {
            let mut c = Compressor::with_lookahead(fs, LOOKAHEAD_MS);
            c.snap_to(&s);
            assert_eq!(c.lookahead_samples(), l);
            let mut got = chans.clone();
            run_blocks(&mut c, &mut got, block);
            assert_matches_reference(&got, &want, &format!("block {block}"));
        }
        let mut off = s;
        off.enabled = false;
        let mut c = Compressor::with_lookahead(fs, LOOKAHEAD_MS);
        c.snap_to(&off);
        let mut got = chans.clone();
        run_blocks(&mut c, &mut got, 100);
        for (g, i) in got.iter().zip(&chans) {
            assert!(g[..l].iter().all(|&v| v == 0.0));
            assert_eq!(&g[l..], &i[..i.len() - l], "a bypass is a pure delay");
        }
    }
}

/// What the lookahead is for: a sharp onset (silence, then a loud 1 kHz tone) is held
/// to the compressed level from its first sample, where without lookahead its first
/// cycles pass almost untouched, above the level the compressor holds it at after.
#[test]
fn lookahead_compresses_an_onset_from_its_first_sample() {
    let fs = 48_000.0f32;
    let s = state(-30.0, 10.0, 0.0, MIN_ATTACK_MS, 120.0);
    let n = 4800;
    let onset = 2400;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            if i < onset {
                0.0
            } else {
                0.9 * (std::f32::consts::TAU * 1000.0 * (i - onset) as f32 / fs).sin()
            }
        })
        .collect();
    // Largest output over the first 1 ms of the onset, and over the last 10 ms (held).
    let peaks = |mut c: Compressor| {
        let l = c.lookahead_samples();
        c.snap_to(&s);
        let mut y = x.clone();
        c.process(&mut [&mut y[..]]);
        let first = y[onset + l..onset + l + 48]
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        let held = y[n - 480..].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        (first, held)
    };
    let (first, held) = peaks(Compressor::new(fs));
    assert!(
        db(first as f64) > db(held as f64) + 6.0,
        "without lookahead the onset passes: {first} vs {held}"
    );
    let (first, held) = peaks(Compressor::with_lookahead(fs, LOOKAHEAD_MS));
    assert!(
        db(first as f64) < db(held as f64) + 0.5,
        "with lookahead the onset is held: {first} vs {held}"
    );
}
