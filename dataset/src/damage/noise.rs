//! The noise family: broadband hiss, real background noise, mains hum — added at
//! a signal-to-noise ratio against the clean signal's ITU-T P.56 active speech
//! level ([`faurge_dsp::analysis::loudness::active_speech_level`]).
//!
//! SNR = active speech level of the input − mean power of the added noise over the
//! whole clip and every channel, both dB re full scale (mean square). A silent
//! input uses −30 dB as its level.
//!
//! | kind | severity at strength `s` (0..=1) |
//! |---|---|
//! | [`Kind::Noise`] | SNR `30 − 30·s` dB ([`noise_snr_db`]) |
//! | [`Kind::RecordedNoise`] | SNR `30 − 30·s` dB |
//! | [`Kind::Hum`] | SNR `50 − 35·s` dB ([`hum_snr_db`]): hum is audible far below speech |

use std::f64::consts::PI;

use faurge_dsp::degrade::{colored_noise, NoiseColor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::util::{self, active_level_db, gaussian, log_uniform, r2, uniform};
use super::{Damage, DamageError, Family, Kind, RecordingSet, Recordings, Rendered};

/// The kinds of the noise family.
pub const NOISE_KINDS: [Kind; 3] = [Kind::Noise, Kind::RecordedNoise, Kind::Hum];
/// Cross-fade where a looped recording wraps around, s.
pub const LOOP_CROSSFADE_S: f64 = 0.05;
/// Highest hum harmonic frequency, Hz (or 0.45 × the rate).
pub const MAX_HUM_HZ: f64 = 4000.0;

/// SNR of broadband (synthetic or recorded) noise at strength `s`: `30 − 30·s` dB.
pub fn noise_snr_db(s: f64) -> f64 {
    30.0 - 30.0 * s
}

/// SNR of hum at strength `s`: `50 − 35·s` dB.
pub fn hum_snr_db(s: f64) -> f64 {
    50.0 - 35.0 * s
}

/// `n` samples of `rec` played from `start` and looped: the last
/// [`LOOP_CROSSFADE_S`] of the recording is cross-faded (equal power) into its
/// beginning, so the loop has no seam. DC (the recording's mean) removed.
pub fn looped(rec: &[f32], start: usize, n: usize, sample_rate: f64) -> Vec<f64> {
    if rec.is_empty() {
        return vec![0.0; n];
    }
    let xf = ((LOOP_CROSSFADE_S * sample_rate) as usize).min(rec.len() / 4);
    let len = rec.len() - xf;
    let buf: Vec<f64> = (0..len)
        .map(|i| {
            let v = f64::from(rec[i]);
            if i < xf {
                let t = (i as f64 + 0.5) / xf as f64 * PI / 2.0;
                v * t.sin() + f64::from(rec[len + i]) * t.cos()
            } else {
                v
            }
        })
        .collect();
    let mean = buf.iter().sum::<f64>() / len as f64;
    (0..n).map(|i| buf[(start + i) % len] - mean).collect()
}

/// A slowly drifting frequency: `f0·(1 + depth·sin(2π·t/period + phase))`,
/// integrated to a phase (radians) per sample.
fn drifting_phase(n: usize, f0: f64, depth: f64, period_s: f64, phase: f64, sr: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|i| {
            let t = i as f64 / sr;
            let f = f0 * (1.0 + depth * (2.0 * PI * t / period_s + phase).sin());
            let p = acc;
            acc += 2.0 * PI * f / sr;
            p
        })
        .collect()
}

fn recording_params(rec: &super::Recording, start: usize, sr: f64) -> serde_json::Value {
    json!({ "recording": rec.name, "channel": rec.channel, "start_s": r2(start as f64 / sr) })
}

/// Training implementation: frequency-domain synthesis.
///
/// - [`Kind::Noise`]: Gaussian noise per channel, white, pink or brown
///   (`faurge_dsp::degrade::colored_noise`: `1/√f`, `1/f` amplitude shaping of one
///   FFT) or a random power slope of −9..+3 dB/octave (the same FFT shaping with
///   amplitude `(f/1 kHz)^(slope/6.02)` above 20 Hz), one of the four uniformly.
/// - [`Kind::RecordedNoise`]: a training-pool recording drawn uniformly, played
///   from a random start per channel and looped ([`looped`]).
/// - [`Kind::Hum`]: additive synthesis of 50 or 60 Hz mains and its harmonics up to
///   [`MAX_HUM_HZ`]: harmonic `k` has amplitude `r^(k−1)` × 0.3–1 (`r` 0.3–0.7;
///   even harmonics × 0.1–1 more), random phases; with probability 0.4 a "buzz"
///   (`r` 0.8–0.95: many strong harmonics). The mains frequency drifts by
///   0.05–0.5 % with a 2–10 s period. The same hum on every channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct FftShaped;

fn slope_noise(n: usize, slope_db_per_oct: f64, sr: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    let m = n.next_power_of_two().max(2);
    let x = gaussian(rng, m);
    let mut spec = util::rfft(&x, m);
    let p = slope_db_per_oct / (20.0 * 2f64.log10());
    for (k, c) in spec.iter_mut().enumerate() {
        if k == 0 {
            *c = Default::default();
            continue;
        }
        let f = (k as f64 * sr / m as f64).max(20.0);
        *c *= (f / 1000.0).powf(p);
    }
    let mut y = util::irfft(&spec, m);
    y.truncate(n);
    y
}

impl Damage for FftShaped {
    fn id(&self) -> &'static str {
        "noise/fft_shaped"
    }
    fn family(&self) -> Family {
        Family::Noise
    }
    fn kinds(&self) -> &'static [Kind] {
        &NOISE_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "FFT-coloured Gaussian noise, looped recordings, additive harmonic hum"
    }
    fn recordings_needed(&self, kind: Kind) -> Option<RecordingSet> {
        (kind == Kind::RecordedNoise).then_some(RecordingSet::Noise)
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let level = active_level_db(audio, sample_rate);
        let lens: Vec<usize> = audio.iter().map(|c| c.len()).collect();
        let sr = sample_rate;
        let (noise, params, label): (Vec<Vec<f64>>, serde_json::Value, String) = match kind {
            Kind::Noise => {
                let snr = noise_snr_db(strength);
                let choice = rng.gen_range(0..4);
                let slope = uniform(rng, -9.0, 3.0);
                let (name, noise) = match choice {
                    0..=2 => {
                        let color =
                            [NoiseColor::White, NoiseColor::Pink, NoiseColor::Brown][choice];
                        let v = lens
                            .iter()
                            .map(|&n| {
                                colored_noise(color, n, sr as f32, rng)
                                    .into_iter()
                                    .map(f64::from)
                                    .collect()
                            })
                            .collect();
                        (["white", "pink", "brown"][choice].to_owned(), v)
                    }
                    _ => (
                        format!("{slope:+.1} dB/oct"),
                        lens.iter()
                            .map(|&n| slope_noise(n, slope, sr, rng))
                            .collect(),
                    ),
                };
                (
                    noise,
                    json!({ "snr_db": snr, "colour": name }),
                    format!("noise: {name} at SNR {snr:.1} dB"),
                )
            }
            Kind::RecordedNoise => {
                let snr = noise_snr_db(strength);
                let set = recordings.noise();
                let rec = &set[rng.gen_range(0..set.len())];
                let mut starts = Vec::new();
                let noise = lens
                    .iter()
                    .map(|&n| {
                        let start = rng.gen_range(0..rec.samples.len().max(1));
                        starts.push(start);
                        looped(&rec.samples, start, n, sr)
                    })
                    .collect();
                let mut p = recording_params(rec, starts.first().copied().unwrap_or(0), sr);
                p["snr_db"] = json!(snr);
                (
                    noise,
                    p,
                    format!("recorded noise: {} at SNR {snr:.1} dB", rec.name),
                )
            }
            _ => {
                let snr = hum_snr_db(strength);
                let mains = if rng.gen_bool(0.5) { 50.0 } else { 60.0 };
                let buzz = rng.gen_bool(0.4);
                let r = if buzz {
                    uniform(rng, 0.8, 0.95)
                } else {
                    uniform(rng, 0.3, 0.7)
                };
                let depth = log_uniform(rng, 0.0005, 0.005);
                let period = uniform(rng, 2.0, 10.0);
                let drift_phase = uniform(rng, 0.0, 2.0 * PI);
                let top = MAX_HUM_HZ.min(0.45 * sr);
                let k_max = ((top / (mains * (1.0 + depth))).floor() as usize).max(1);
                let harmonics: Vec<(f64, f64)> = (1..=k_max)
                    .map(|k| {
                        let mut a = r.powi(k as i32 - 1) * uniform(rng, 0.3, 1.0);
                        if k % 2 == 0 {
                            a *= uniform(rng, 0.1, 1.0);
                        }
                        (a, uniform(rng, 0.0, 2.0 * PI))
                    })
                    .collect();
                let n = lens.iter().copied().max().unwrap_or(0);
                let phase = drifting_phase(n, mains, depth, period, drift_phase, sr);
                let hum: Vec<f64> = phase
                    .iter()
                    .map(|&p| {
                        harmonics
                            .iter()
                            .enumerate()
                            .map(|(i, &(a, ph))| a * ((i + 1) as f64 * p + ph).sin())
                            .sum()
                    })
                    .collect();
                (
                    lens.iter().map(|&n| hum[..n].to_vec()).collect(),
                    json!({
                        "snr_db": snr, "mains_hz": mains, "buzz": buzz, "harmonic_ratio": r2(r),
                        "harmonics": k_max, "drift_percent": r2(depth * 100.0), "drift_period_s": r2(period),
                    }),
                    format!(
                        "hum: {mains:.0} Hz{} at SNR {snr:.1} dB",
                        if buzz { " with buzz" } else { "" }
                    ),
                )
            }
        };
        util::add_at_snr(
            audio,
            &noise,
            level,
            params["snr_db"].as_f64().unwrap_or(30.0),
        );
        Ok(Rendered { params, label })
    }
}

/// One-pole low-pass in place, coefficient from [`util::one_pole_coef`].
fn one_pole_lp(x: &mut [f64], freq_hz: f64, sr: f64) {
    let a = util::one_pole_coef(freq_hz, sr);
    let mut y = 0.0;
    for v in x.iter_mut() {
        y = (1.0 - a) * *v + a * y;
        *v = y;
    }
}

/// Training implementation: time-domain filters.
///
/// - [`Kind::Noise`]: white Gaussian noise through a random cascade of 1–3
///   first-order sections, each a one-pole low-pass (−6 dB/octave above its corner)
///   or its complement high-pass, corners 100 Hz–8 kHz (log-uniform); with
///   probability 0.3 plus a whine: a two-pole resonator (`r = exp(−π·B/fs)`,
///   bandwidth `B = f/Q`, Q 5–30) at 100–3000 Hz mixed at 0.5–2× the noise RMS.
///   Spectra with corners and resonances rather than power laws.
/// - [`Kind::RecordedNoise`]: a training-pool recording re-pitched by a playback
///   rate of 0.8–1.25 (linear interpolation: another fan speed, another tap),
///   looped, then tilted: a one-pole low-pass or high-pass at 300 Hz–5 kHz mixed
///   in at 30–100 %.
/// - [`Kind::Hum`]: the charging pulses of a rectifier supply: Gaussian pulses
///   (0.3–1.5 ms wide) at twice the mains frequency (50/60 Hz, drifting as in
///   [`FftShaped`]) plus the fundamental at −20..0 dB relative, AC-coupled
///   ([`util::dc_block`] at 20 Hz) and low-passed (one pole at 1–5 kHz).
#[derive(Clone, Copy, Debug, Default)]
pub struct IirFiltered;

fn first_order_cascade(x: &mut [f64], corners: &[(bool, f64)], sr: f64) {
    for &(low, f) in corners {
        if low {
            one_pole_lp(x, f, sr);
        } else {
            let mut lp = x.to_vec();
            one_pole_lp(&mut lp, f, sr);
            for (v, l) in x.iter_mut().zip(lp) {
                *v -= l;
            }
        }
    }
}

fn resonator(x: &[f64], f: f64, q: f64, sr: f64) -> Vec<f64> {
    let f = util::clamp_freq(f, sr);
    let r = (-PI * f / q / sr).exp();
    let (a1, a2) = (2.0 * r * (2.0 * PI * f / sr).cos(), -r * r);
    let (mut y1, mut y2) = (0.0, 0.0);
    x.iter()
        .map(|&v| {
            let y = (1.0 - r) * v + a1 * y1 + a2 * y2;
            y2 = y1;
            y1 = y;
            y
        })
        .collect()
}

fn rms(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

impl Damage for IirFiltered {
    fn id(&self) -> &'static str {
        "noise/iir_filtered"
    }
    fn family(&self) -> Family {
        Family::Noise
    }
    fn kinds(&self) -> &'static [Kind] {
        &NOISE_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "first-order filtered noise with whine, re-pitched and tilted recordings, rectifier-pulse hum"
    }
    fn recordings_needed(&self, kind: Kind) -> Option<RecordingSet> {
        (kind == Kind::RecordedNoise).then_some(RecordingSet::Noise)
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let level = active_level_db(audio, sample_rate);
        let lens: Vec<usize> = audio.iter().map(|c| c.len()).collect();
        let sr = sample_rate;
        let (noise, params, label): (Vec<Vec<f64>>, serde_json::Value, String) = match kind {
            Kind::Noise => {
                let snr = noise_snr_db(strength);
                let n_sections = rng.gen_range(1..=3);
                let corners: Vec<(bool, f64)> = (0..n_sections)
                    .map(|_| (rng.gen_bool(0.6), log_uniform(rng, 100.0, 8000.0)))
                    .collect();
                let whine = rng.gen_bool(0.3).then(|| {
                    (
                        log_uniform(rng, 100.0, 3000.0),
                        log_uniform(rng, 5.0, 30.0),
                        uniform(rng, 0.5, 2.0),
                    )
                });
                let noise = lens
                    .iter()
                    .map(|&n| {
                        let mut x = gaussian(rng, n);
                        first_order_cascade(&mut x, &corners, sr);
                        if let Some((f, q, mix)) = whine {
                            let w = resonator(&gaussian(rng, n), f, q, sr);
                            let g = mix * rms(&x) / rms(&w).max(1e-30);
                            x.iter_mut().zip(&w).for_each(|(v, wv)| *v += g * wv);
                        }
                        x
                    })
                    .collect();
                (
                    noise,
                    json!({
                        "snr_db": snr,
                        "first_order": corners.iter().map(|&(low, f)| json!({"low_pass": low, "corner_hz": r2(f)})).collect::<Vec<_>>(),
                        "whine": whine.map(|(f, q, m)| json!({"freq_hz": r2(f), "q": r2(q), "mix": r2(m)})),
                    }),
                    format!(
                        "noise: filtered{} at SNR {snr:.1} dB",
                        if whine.is_some() { " with whine" } else { "" }
                    ),
                )
            }
            Kind::RecordedNoise => {
                let snr = noise_snr_db(strength);
                let set = recordings.noise();
                let rec = &set[rng.gen_range(0..set.len())];
                let rate = log_uniform(rng, 0.8, 1.25);
                let low = rng.gen_bool(0.5);
                let corner = log_uniform(rng, 300.0, 5000.0);
                let mix = uniform(rng, 0.3, 1.0);
                // Re-pitch the whole recording once (linear interpolation).
                let m = ((rec.samples.len() as f64 - 1.0) / rate).floor().max(1.0) as usize;
                let pitched: Vec<f32> = (0..m)
                    .map(|i| {
                        let t = i as f64 * rate;
                        let j = t.floor() as usize;
                        let fr = t - j as f64;
                        let a = f64::from(rec.samples[j.min(rec.samples.len() - 1)]);
                        let b = f64::from(rec.samples[(j + 1).min(rec.samples.len() - 1)]);
                        (a + (b - a) * fr) as f32
                    })
                    .collect();
                let mut first = 0;
                let noise = lens
                    .iter()
                    .enumerate()
                    .map(|(c, &n)| {
                        let start = rng.gen_range(0..pitched.len().max(1));
                        if c == 0 {
                            first = start;
                        }
                        let mut x = looped(&pitched, start, n, sr);
                        let dry = x.clone();
                        first_order_cascade(&mut x, &[(low, corner)], sr);
                        for (v, d) in x.iter_mut().zip(&dry) {
                            *v = mix * *v + (1.0 - mix) * d;
                        }
                        x
                    })
                    .collect();
                let mut p = recording_params(rec, first, sr);
                p["snr_db"] = json!(snr);
                p["playback_rate"] = json!(r2(rate));
                p["tilt"] = json!({"low_pass": low, "corner_hz": r2(corner), "mix": r2(mix)});
                (
                    noise,
                    p,
                    format!(
                        "recorded noise: {} re-pitched ×{rate:.2} at SNR {snr:.1} dB",
                        rec.name
                    ),
                )
            }
            _ => {
                let snr = hum_snr_db(strength);
                let mains = if rng.gen_bool(0.5) { 50.0 } else { 60.0 };
                let width_ms = uniform(rng, 0.3, 1.5);
                let fund_db = uniform(rng, -20.0, 0.0);
                let lp_hz = log_uniform(rng, 1000.0, 5000.0);
                let depth = log_uniform(rng, 0.0005, 0.005);
                let period = uniform(rng, 2.0, 10.0);
                let drift_phase = uniform(rng, 0.0, 2.0 * PI);
                let n = lens.iter().copied().max().unwrap_or(0);
                let phase = drifting_phase(n, mains, depth, period, drift_phase, sr);
                // A pulse at every crest of |sin|: phase ≡ π/2 (mod π).
                let sigma = width_ms * 1e-3 * 2.0 * PI * mains / 2.0; // in radians of the mains phase
                let mut pulses: Vec<f64> = phase
                    .iter()
                    .map(|&p| {
                        let d = (p - PI / 2.0).rem_euclid(PI);
                        let d = d.min(PI - d);
                        (-0.5 * (d / sigma).powi(2)).exp()
                    })
                    .collect();
                let pr = rms(&pulses).max(1e-30);
                let fa = 10f64.powf(fund_db / 20.0) * pr * 2f64.sqrt();
                for (v, &p) in pulses.iter_mut().zip(&phase) {
                    *v += fa * p.sin();
                }
                util::dc_block(&mut pulses, 20.0, sr);
                one_pole_lp(&mut pulses, lp_hz, sr);
                (
                    lens.iter().map(|&n| pulses[..n].to_vec()).collect(),
                    json!({
                        "snr_db": snr, "mains_hz": mains, "pulse_width_ms": r2(width_ms),
                        "fundamental_db": r2(fund_db), "low_pass_hz": r2(lp_hz),
                        "drift_percent": r2(depth * 100.0), "drift_period_s": r2(period),
                    }),
                    format!("hum: {mains:.0} Hz rectifier buzz at SNR {snr:.1} dB"),
                )
            }
        };
        util::add_at_snr(
            audio,
            &noise,
            level,
            params["snr_db"].as_f64().unwrap_or(30.0),
        );
        Ok(Rendered { params, label })
    }
}
