//! Building blocks the damage implementations share: random draws, levels,
//! FFT convolution, filters over planar channels, and frequency clamping.
//!
//! These are primitives, not damages: the held-out implementations of
//! `faurge-eval` build on them too. Everything allocates; offline code only.

use std::f64::consts::PI;

use faurge_dsp::analysis::loudness::active_speech_level;
use faurge_dsp::biquad::{BiquadState, Coefficients};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use realfft::RealFftPlanner;

/// The complex type of [`rfft`] and [`irfft`] (re-exported from realfft).
pub use realfft::num_complex::Complex64;

/// Highest frequency a damage places a feature at, as a fraction of the sample
/// rate (0.45 × fs, 90 % of Nyquist, as `faurge_dsp::state::effective_freq_hz`).
pub const MAX_FREQ_FRACTION: f64 = 0.45;
/// Lowest frequency a damage places a feature at, Hz.
pub const MIN_FREQ_HZ: f64 = 10.0;
/// Reference level when the signal has no active speech level (silence):
/// −30 dB re full scale (mean square), as `faurge_dsp::degrade::SILENT_REFERENCE_DB`.
pub const SILENT_REFERENCE_DB: f64 = -30.0;

/// `freq_hz` clamped to `MIN_FREQ_HZ ..= 0.45 · sample_rate`.
pub fn clamp_freq(freq_hz: f64, sample_rate: f64) -> f64 {
    let hi = MAX_FREQ_FRACTION * sample_rate;
    if freq_hz.is_nan() {
        return MIN_FREQ_HZ.min(hi);
    }
    freq_hz.clamp(MIN_FREQ_HZ.min(hi), hi)
}

/// Uniform draw in `lo..hi` (returns `lo` when the range is empty).
pub fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        rng.gen_range(lo..hi)
    } else {
        lo
    }
}

/// Log-uniform draw in `lo..hi` (both > 0): uniform in octaves.
pub fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo && lo > 0.0 {
        (rng.gen_range(lo.ln()..hi.ln())).exp()
    } else {
        lo
    }
}

/// `+1` or `−1` with equal probability.
pub fn random_sign(rng: &mut ChaCha8Rng) -> f64 {
    if rng.gen_bool(0.5) {
        1.0
    } else {
        -1.0
    }
}

/// `lo + (hi − lo) · t`.
pub fn lerp(lo: f64, hi: f64, t: f64) -> f64 {
    lo + (hi - lo) * t
}

/// `n` standard normal samples (Box–Muller transform).
pub fn gaussian(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
        let u2: f64 = rng.gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * PI * u2).sin_cos();
        out.push(r * c);
        out.push(r * s);
    }
    out.truncate(n);
    out
}

/// Largest `|sample|` over all channels (0 for silence).
pub fn peak(audio: &[&mut [f32]]) -> f64 {
    audio
        .iter()
        .flat_map(|c| c.iter())
        .fold(0.0f64, |m, &v| m.max(f64::from(v).abs()))
}

/// Mean square over all channels and samples.
pub fn mean_square(audio: &[&mut [f32]]) -> f64 {
    let n: usize = audio.iter().map(|c| c.len()).sum();
    if n == 0 {
        return 0.0;
    }
    audio
        .iter()
        .flat_map(|c| c.iter())
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        / n as f64
}

/// ITU-T P.56 active speech level of the first two channels
/// ([`faurge_dsp::analysis::loudness::active_speech_level`]), dB re full scale
/// (mean square), or [`SILENT_REFERENCE_DB`] for silence.
pub fn active_level_db(audio: &[&mut [f32]], sample_rate: f64) -> f64 {
    let views: Vec<&[f32]> = audio
        .iter()
        .take(faurge_dsp::MAX_CHANNELS)
        .map(|c| &**c)
        .collect();
    let len = views.iter().map(|c| c.len()).min().unwrap_or(0);
    let cut: Vec<&[f32]> = views.iter().map(|c| &c[..len]).collect();
    active_speech_level(&cut, sample_rate as f32)
        .map_or(SILENT_REFERENCE_DB, |a| f64::from(a.level_db))
}

/// Adds `noise[c]` to channel `c`, scaled so that the mean power of the added
/// noise over all channels is `level_db − snr_db` dB re full scale. Noise channels
/// shorter than their audio channel add nothing past their end; a silent noise
/// adds nothing. Returns the gain applied.
pub fn add_at_snr(audio: &mut [&mut [f32]], noise: &[Vec<f64>], level_db: f64, snr_db: f64) -> f64 {
    let (mut e, mut n) = (0.0, 0usize);
    for (c, x) in audio.iter().zip(noise) {
        let len = c.len().min(x.len());
        e += x[..len].iter().map(|v| v * v).sum::<f64>();
        n += c.len();
    }
    if e <= 0.0 || n == 0 {
        return 0.0;
    }
    let target = 10f64.powf((level_db - snr_db) / 10.0);
    let g = (target / (e / n as f64)).sqrt();
    for (c, x) in audio.iter_mut().zip(noise) {
        for (v, w) in c.iter_mut().zip(x) {
            *v = (f64::from(*v) + g * w) as f32;
        }
    }
    g
}

/// Runs every channel through `coeffs` in series (fresh state per channel, `f64` TDF-II).
pub fn biquads(audio: &mut [&mut [f32]], coeffs: &[Coefficients]) {
    for c in audio.iter_mut() {
        for co in coeffs {
            let mut st = BiquadState::default();
            st.process(co, c);
        }
    }
}

/// Linear convolution of `x` with `h`, `out[n] = Σ_k h[k]·x[n + delay − k]` for
/// `n` in `0..x.len()`: the full convolution advanced by `delay` samples and cut
/// to the input's length. One zero-padded real FFT (realfft) of the next power of
/// two ≥ `x.len() + h.len()`.
pub fn convolve(x: &[f64], h: &[f64], delay: usize) -> Vec<f64> {
    if x.is_empty() || h.is_empty() {
        return vec![0.0; x.len()];
    }
    let n = (x.len() + h.len()).next_power_of_two().max(2);
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut a = vec![0.0; n];
    a[..x.len()].copy_from_slice(x);
    let mut b = vec![0.0; n];
    b[..h.len()].copy_from_slice(h);
    let mut sa = fwd.make_output_vec();
    let mut sb = fwd.make_output_vec();
    if fwd.process(&mut a, &mut sa).is_err() || fwd.process(&mut b, &mut sb).is_err() {
        return vec![0.0; x.len()];
    }
    for (p, q) in sa.iter_mut().zip(&sb) {
        *p *= *q;
    }
    // A real signal's DC and Nyquist bins are real.
    sa[0].im = 0.0;
    if let Some(last) = sa.last_mut() {
        last.im = 0.0;
    }
    if inv.process(&mut sa, &mut a).is_err() {
        return vec![0.0; x.len()];
    }
    let scale = 1.0 / n as f64;
    (0..x.len())
        .map(|i| a.get(i + delay).copied().unwrap_or(0.0) * scale)
        .collect()
}

/// Convolves every channel with `h` in place (see [`convolve`]).
pub fn convolve_channels(audio: &mut [&mut [f32]], h: &[f64], delay: usize) {
    for c in audio.iter_mut() {
        let x: Vec<f64> = c.iter().map(|&v| f64::from(v)).collect();
        let y = convolve(&x, h, delay);
        for (v, w) in c.iter_mut().zip(y) {
            *v = w as f32;
        }
    }
}

/// Forward real FFT of `x` zero-padded to `n` (a power of two ≥ 2): `n/2 + 1` bins.
pub fn rfft(x: &[f64], n: usize) -> Vec<Complex64> {
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let mut a = vec![0.0; n];
    let m = x.len().min(n);
    a[..m].copy_from_slice(&x[..m]);
    let mut s = fwd.make_output_vec();
    if fwd.process(&mut a, &mut s).is_err() {
        return vec![Complex64::default(); n / 2 + 1];
    }
    s
}

/// Inverse real FFT of `n/2 + 1` bins to `n` samples, scaled by `1/n` (so
/// `irfft(rfft(x, n), n) = x`). The imaginary parts of the DC and Nyquist bins
/// are ignored.
pub fn irfft(spec: &[Complex64], n: usize) -> Vec<f64> {
    let mut planner = RealFftPlanner::<f64>::new();
    let inv = planner.plan_fft_inverse(n);
    let mut s = inv.make_input_vec();
    for (d, v) in s.iter_mut().zip(spec) {
        *d = *v;
    }
    s[0].im = 0.0;
    if let Some(last) = s.last_mut() {
        last.im = 0.0;
    }
    let mut out = vec![0.0; n];
    if inv.process(&mut s, &mut out).is_err() {
        return vec![0.0; n];
    }
    let scale = 1.0 / n as f64;
    out.iter_mut().for_each(|v| *v *= scale);
    out
}

/// Symmetric Hann window of length `n`: `0.5 − 0.5·cos(2πi/(n−1))`.
pub fn hann(n: usize) -> Vec<f64> {
    if n < 2 {
        return vec![1.0; n];
    }
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / (n - 1) as f64).cos())
        .collect()
}

/// One-pole low-pass coefficient for a −3 dB corner near `freq_hz`:
/// `a = exp(−2π f / fs)`, `y[n] = (1 − a)·x[n] + a·y[n−1]`.
pub fn one_pole_coef(freq_hz: f64, sample_rate: f64) -> f64 {
    (-2.0 * PI * clamp_freq(freq_hz, sample_rate) / sample_rate).exp()
}

/// First-order DC blocker / AC coupling, `y[n] = x[n] − x[n−1] + R·y[n−1]` with
/// `R = exp(−2π f / fs)` (a −3 dB corner near `freq_hz`), in place.
pub fn dc_block(x: &mut [f64], freq_hz: f64, sample_rate: f64) {
    let r = one_pole_coef(freq_hz, sample_rate);
    let (mut x1, mut y1) = (0.0, 0.0);
    for v in x.iter_mut() {
        let y = *v - x1 + r * y1;
        x1 = *v;
        y1 = y;
        *v = y;
    }
}

/// Replaces NaN and infinite samples with 0.
pub fn sanitize(audio: &mut [&mut [f32]]) {
    for c in audio.iter_mut() {
        for v in c.iter_mut() {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
    }
}

/// Rounds to 2 decimals for labels and descriptions (keeps JSON short).
pub fn r2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
