//! Genesis' DDSP synthesizer: renders an impulse response for the convolver
//! from a few parameters (a fine correction curve and a parametric room tail).
//!
//! The network (Genesis) predicts [`IrParams`]; this deterministic synthesizer
//! renders them, and `training/faurge_train/ir.py` mirrors it exactly in PyTorch
//! (parity-tested), so training can differentiate through it.
//!
//! The IR is the sum of two parts:
//!
//! 1. A **minimum-phase correction filter** whose magnitude follows
//!    `correction_db`, [`IR_CURVE_POINTS`] values at log-spaced frequencies
//!    ([`curve_freqs_hz`], 40 Hz – 20 kHz, the LTAS range), linearly interpolated
//!    in dB over log frequency, held flat below the first and above the last point.
//!    Method: real-cepstrum folding (A. V. Oppenheim & R. W. Schafer,
//!    *Discrete-Time Signal Processing*, 3rd ed., §5.6 and §13.5 "minimum-phase
//!    from the real cepstrum"): with `n = 8·L` FFT points, `c = IFFT(ln|H|)`,
//!    fold `ĉ[0] = c[0]`, `ĉ[k] = 2c[k]` for `0 < k < n/2`, `ĉ[n/2] = c[n/2]`,
//!    `ĉ[k] = 0` above; `h = IFFT(exp(FFT(ĉ)))`, keep the first `L` samples
//!    ([`correction_len`]) and fade the last `L/8` out with a half-cosine.
//! 2. A **parametric tail** (ambience) starting `predelay_ms` after the direct
//!    sound: noise `u[n]` from xorshift32 ([`Xorshift32`], Marsaglia 2003),
//!    split into a low band `lo = onepole(u)` (one-pole low-pass,
//!    `lo[n] = (1 − a)·u[n] + a·lo[n−1]`, `a = exp(−2π·4000/fs)`) and the high
//!    band `hi = u − lo`, each with an exponential envelope reaching −60 dB at
//!    `rt60_s` (low) and `rt60_s · (1 − 0.8·hf_damping)` (high). The tail is scaled
//!    so that its energy is `wet_db` relative to the correction filter's energy.
//!    Tail length: `min(1.5·rt60_s, MAX_IR_SECONDS − predelay)`. No tail when
//!    `wet_db ≤` [`WET_OFF_DB`].
//!
//! Everything is computed in `f64` and returned as `f32`. The total length never
//! exceeds [`MAX_IR_SECONDS`] at the given rate.

use std::f64::consts::PI;

use rand::Rng;
use realfft::RealFftPlanner;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;
use serde::{Deserialize, Serialize};

use crate::analysis::purity::Reflection;

/// Number of points of the correction curve.
pub const IR_CURVE_POINTS: usize = 32;
/// Lowest curve frequency, Hz.
pub const IR_CURVE_MIN_HZ: f64 = 40.0;
/// Highest curve frequency, Hz.
pub const IR_CURVE_MAX_HZ: f64 = 20_000.0;
/// Largest correction boost or cut, dB (values are clamped to ±this).
pub const MAX_CORRECTION_DB: f32 = 12.0;
/// Tail level at or below which there is no tail, dB.
pub const WET_OFF_DB: f32 = -60.0;
/// Loudest tail relative to the direct part, dB.
pub const MAX_WET_DB: f32 = 6.0;
/// RT60 range, s.
pub const MIN_RT60_S: f32 = 0.05;
/// Longest RT60, s.
pub const MAX_RT60_S: f32 = 2.0;
/// Longest pre-delay, ms.
pub const MAX_PREDELAY_MS: f32 = 100.0;
/// Longest IR this synthesizer returns, seconds (the convolver's default limit).
pub const MAX_IR_SECONDS: f32 = 2.0;
/// Crossover of the tail's low and high bands, Hz.
pub const TAIL_CROSSOVER_HZ: f64 = 4000.0;

/// The parameters Genesis predicts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrParams {
    /// Correction curve, dB, at [`curve_freqs_hz`]; clamped to ±[`MAX_CORRECTION_DB`].
    pub correction_db: [f32; IR_CURVE_POINTS],
    /// Tail energy relative to the correction filter's energy, dB
    /// ([`WET_OFF_DB`]..=[`MAX_WET_DB`]; at or below `WET_OFF_DB`: no tail).
    pub wet_db: f32,
    /// Reverberation time of the low band (−60 dB), s ([`MIN_RT60_S`]..=[`MAX_RT60_S`]).
    pub rt60_s: f32,
    /// Delay of the tail after the direct sound, ms (0..=[`MAX_PREDELAY_MS`]).
    pub predelay_ms: f32,
    /// High-frequency damping, 0 (none) ..= 1 (high band decays 5× faster).
    pub hf_damping: f32,
    /// Seed of the tail noise (xorshift32; 0 is replaced by 1).
    pub seed: u32,
}

impl IrParams {
    /// A flat curve and no tail: the IR is a unit impulse (up to the fade).
    pub fn neutral() -> Self {
        IrParams {
            correction_db: [0.0; IR_CURVE_POINTS],
            wet_db: WET_OFF_DB,
            rt60_s: 0.5,
            predelay_ms: 0.0,
            hf_damping: 0.0,
            seed: 1,
        }
    }

    /// Random parameters for tests and reference data: a smooth curve (sum of
    /// three random bumps, within ±9 dB), a tail half of the time.
    pub fn random(rng: &mut impl Rng) -> Self {
        let mut c = [0.0f32; IR_CURVE_POINTS];
        for _ in 0..3 {
            let centre: f32 = rng.gen_range(0.0..IR_CURVE_POINTS as f32);
            let width: f32 = rng.gen_range(1.5..6.0);
            let gain: f32 = rng.gen_range(-3.0..3.0);
            for (i, v) in c.iter_mut().enumerate() {
                let d = (i as f32 - centre) / width;
                *v += gain * (-0.5 * d * d).exp();
            }
        }
        IrParams {
            correction_db: c,
            wet_db: if rng.gen_bool(0.5) {
                rng.gen_range(-30.0..0.0)
            } else {
                WET_OFF_DB
            },
            rt60_s: rng.gen_range(0.2..1.2),
            predelay_ms: rng.gen_range(0.0..40.0),
            hf_damping: rng.gen_range(0.0..1.0),
            seed: rng.gen(),
        }
    }

    /// A copy with every field in range (NaN → the neutral value).
    pub fn clamped(&self) -> Self {
        let n = IrParams::neutral();
        let cl = |v: f32, lo: f32, hi: f32, d: f32| if v.is_nan() { d } else { v.clamp(lo, hi) };
        let mut c = self.correction_db;
        for v in &mut c {
            *v = cl(*v, -MAX_CORRECTION_DB, MAX_CORRECTION_DB, 0.0);
        }
        IrParams {
            correction_db: c,
            wet_db: cl(self.wet_db, WET_OFF_DB, MAX_WET_DB, n.wet_db),
            rt60_s: cl(self.rt60_s, MIN_RT60_S, MAX_RT60_S, n.rt60_s),
            predelay_ms: cl(self.predelay_ms, 0.0, MAX_PREDELAY_MS, n.predelay_ms),
            hf_damping: cl(self.hf_damping, 0.0, 1.0, n.hf_damping),
            seed: if self.seed == 0 { 1 } else { self.seed },
        }
    }
}

/// The frequencies of the correction curve, Hz: `40 · 500^(i/31)`.
pub fn curve_freqs_hz() -> [f64; IR_CURVE_POINTS] {
    std::array::from_fn(|i| {
        IR_CURVE_MIN_HZ
            * (IR_CURVE_MAX_HZ / IR_CURVE_MIN_HZ).powf(i as f64 / (IR_CURVE_POINTS - 1) as f64)
    })
}

/// Length of the correction filter at `sample_rate`, samples: 1024 up to 50 kHz,
/// 2048 up to 100 kHz, else 4096 (about 21 ms in each case).
pub fn correction_len(sample_rate: f32) -> usize {
    if sample_rate <= 50_000.0 {
        1024
    } else if sample_rate <= 100_000.0 {
        2048
    } else {
        4096
    }
}

/// The correction curve interpolated at `freq_hz`, dB: linear in dB over
/// log-frequency between [`curve_freqs_hz`], held flat outside.
pub fn curve_db_at(correction_db: &[f32; IR_CURVE_POINTS], freq_hz: f64) -> f64 {
    let f = curve_freqs_hz();
    if freq_hz <= f[0] {
        return f64::from(correction_db[0]);
    }
    if freq_hz >= f[IR_CURVE_POINTS - 1] {
        return f64::from(correction_db[IR_CURVE_POINTS - 1]);
    }
    let pos = (freq_hz / IR_CURVE_MIN_HZ).ln() / (IR_CURVE_MAX_HZ / IR_CURVE_MIN_HZ).ln()
        * (IR_CURVE_POINTS - 1) as f64;
    let i = (pos.floor() as usize).min(IR_CURVE_POINTS - 2);
    let t = pos - i as f64;
    f64::from(correction_db[i]) * (1.0 - t) + f64::from(correction_db[i + 1]) * t
}

/// Marsaglia's xorshift32 (J. Stat. Softw. 8(14), 2003; shifts 13, 17, 5).
/// `next_f64` maps the state to `[−1, 1)`: `state / 2³¹ − 1`.
#[derive(Clone, Copy, Debug)]
pub struct Xorshift32(pub u32);

impl Xorshift32 {
    /// Advances and returns the new state.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Next value in `[−1, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        f64::from(self.next_u32()) / 2_147_483_648.0 - 1.0
    }
}

/// The minimum-phase correction filter alone (see the module docs), length
/// [`correction_len`]`(sample_rate)`.
pub fn correction_filter(correction_db: &[f32; IR_CURVE_POINTS], sample_rate: f32) -> Vec<f64> {
    let l = correction_len(sample_rate);
    let n = 8 * l;
    let sr = f64::from(sample_rate);
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    // ln|H| on the full circle (even).
    let mut buf: Vec<Complex64> = (0..n)
        .map(|k| {
            let kk = if k <= n / 2 { k } else { n - k };
            let f = kk as f64 * sr / n as f64;
            Complex64::new(curve_db_at(correction_db, f) * (10f64.ln() / 20.0), 0.0)
        })
        .collect();
    inv.process(&mut buf);
    // Real cepstrum (1/n for the inverse), folded to a causal one.
    let scale = 1.0 / n as f64;
    for (k, v) in buf.iter_mut().enumerate() {
        let w = if k == 0 || k == n / 2 {
            1.0
        } else if k < n / 2 {
            2.0
        } else {
            0.0
        };
        *v = Complex64::new(v.re * scale * w, 0.0);
    }
    fwd.process(&mut buf);
    for v in buf.iter_mut() {
        *v = v.exp();
    }
    inv.process(&mut buf);
    let fade = l / 8;
    (0..l)
        .map(|i| {
            let g = if i >= l - fade {
                let t = (i - (l - fade)) as f64 / fade as f64;
                0.5 * (1.0 + (PI * t).cos())
            } else {
                1.0
            };
            buf[i].re * scale * g
        })
        .collect()
}

/// Synthesizes the IR for `params` (clamped first) at `sample_rate` Hz
/// (22.05–192 kHz expected; any positive finite rate works). Mono, `f32`,
/// length ≤ [`MAX_IR_SECONDS`]` · sample_rate`, finite. Allocates; call it off
/// the audio thread, then build a convolver kernel from the result.
pub fn synthesize_ir(params: &IrParams, sample_rate: f32) -> Vec<f32> {
    let p = params.clamped();
    let sr = f64::from(sample_rate);
    let h = correction_filter(&p.correction_db, sample_rate);
    let max_len = (f64::from(MAX_IR_SECONDS) * sr).floor() as usize;
    let mut out = h.clone();
    if p.wet_db > WET_OFF_DB {
        let pre = (f64::from(p.predelay_ms) * 1e-3 * sr).round() as usize;
        let tail_len =
            ((1.5 * f64::from(p.rt60_s) * sr).round() as usize).min(max_len.saturating_sub(pre));
        let a = (-2.0 * PI * TAIL_CROSSOVER_HZ / sr).exp();
        let rt_lo = f64::from(p.rt60_s);
        let rt_hi = rt_lo * (1.0 - 0.8 * f64::from(p.hf_damping));
        let k60 = 1000f64.ln();
        let mut rng = Xorshift32(p.seed);
        let mut lo = 0.0;
        let mut tail = Vec::with_capacity(tail_len);
        for i in 0..tail_len {
            let u = rng.next_f64();
            lo = (1.0 - a) * u + a * lo;
            let hi = u - lo;
            let t = i as f64 / sr;
            tail.push(lo * (-k60 * t / rt_lo).exp() + hi * (-k60 * t / rt_hi).exp());
        }
        let e_h: f64 = h.iter().map(|v| v * v).sum();
        let e_t: f64 = tail.iter().map(|v| v * v).sum();
        if e_t > 0.0 {
            let g = (10f64.powf(f64::from(p.wet_db) / 10.0) * e_h / e_t).sqrt();
            if out.len() < pre + tail_len {
                out.resize(pre + tail_len, 0.0);
            }
            for (i, v) in tail.iter().enumerate() {
                out[pre + i] += g * v;
            }
        }
    }
    out.truncate(max_len.max(1));
    out.into_iter()
        .map(|v| if v.is_finite() { v as f32 } else { 0.0 })
        .collect()
}

/// Strongest reflection [`cancel_reflection`] undoes, |gain|: its inverse rings
/// for `ln 10⁻⁴ / ln 0.9` ≈ 87 echoes; a stronger reflection's notches are too
/// deep to fill without lifting the noise in them.
pub const MAX_CANCEL_GAIN: f64 = 0.9;

/// Where the cancelled reflection's gain starts its half-cosine taper to 0 at
/// Nyquist, fraction of the sample rate.
const CANCEL_TAPER_START: f64 = 0.4;

/// `ir` followed by the inverse of one reflection `x[n] + g·x[n − D]`
/// ([`Reflection`], found by [`crate::analysis::purity::estimate_reflection`]):
/// `H(ω) = 1 / (1 + g·t(ω)·LP(ω)·e^{−jωD})`, `LP = 1/(1 + jf/f_c)` the
/// surface's one-pole low-pass (1 for a flat reflection), stable and causal for
/// `|g| < 1` (its poles lie inside the unit circle), so the product stays minimum
/// phase. For a flat reflection its impulse response is the echo train
/// `Σₖ (−g)ᵏ·δ[n − kD]` at the exact (fractional) delay; `t` tapers the gain to 0 over the top fifth of the band (a reflection
/// from a real surface carries little there, and a fractional delay has no
/// defined phase at Nyquist). `g` is clamped to ±[`MAX_CANCEL_GAIN`].
///
/// Computed by one real FFT of `N ≥ 2·(len(ir) + T)` points, `T` the time the
/// echo train takes to fall 80 dB (`D·ln 10⁻⁴/ln|g|`), so the circular wrap
/// is under −80 dB. The result has `len(ir) + T` samples, at most
/// [`MAX_IR_SECONDS`] at `sample_rate`, finite. A gain of 0, or a delay that is
/// not positive and finite, returns `ir` unchanged. Allocates.
pub fn cancel_reflection(ir: &[f32], r: &Reflection, sample_rate: f32) -> Vec<f32> {
    let sr = f64::from(sample_rate);
    let g = if r.gain.is_finite() {
        r.gain.clamp(-MAX_CANCEL_GAIN, MAX_CANCEL_GAIN)
    } else {
        0.0
    };
    let d = r.delay_s * sr;
    if g == 0.0 || !(d.is_finite() && d > 0.0) || ir.is_empty() || !sr.is_finite() {
        return ir.to_vec();
    }
    let echoes = (1e-4f64.ln() / g.abs().ln()).ceil();
    let tail = (echoes * d).ceil() as usize + 64;
    let max_len = ((f64::from(MAX_IR_SECONDS) * sr).floor() as usize).max(1);
    let len = (ir.len() + tail).min(max_len);
    let n = (2 * (ir.len() + tail)).next_power_of_two();
    let mut planner = RealFftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let mut time: Vec<f64> = ir.iter().map(|&v| f64::from(v)).collect();
    time.resize(n, 0.0);
    let mut spec = fwd.make_output_vec();
    if fwd.process(&mut time, &mut spec).is_err() {
        return ir.to_vec();
    }
    let half = (n / 2) as f64;
    for (k, v) in spec.iter_mut().enumerate() {
        // Fraction of Nyquist, and the taper over its top fifth.
        let x = k as f64 / half;
        let t = if x <= 2.0 * CANCEL_TAPER_START {
            1.0
        } else {
            let u = (x - 2.0 * CANCEL_TAPER_START) / (1.0 - 2.0 * CANCEL_TAPER_START);
            0.5 + 0.5 * (PI * u).cos()
        };
        let (s, c) = (-PI * x * d).sin_cos();
        // The absorbing surface's one-pole low-pass, 1 / (1 + jf/fc).
        let lp = r.corner_hz.map_or(Complex64::new(1.0, 0.0), |fc| {
            Complex64::new(1.0, 0.5 * x * sr / fc).inv()
        });
        let den = Complex64::new(1.0, 0.0) + Complex64::new(g * t * c, g * t * s) * lp;
        *v /= den * n as f64;
    }
    // The inverse of a real signal's spectrum: DC and Nyquist must be real.
    spec[0].im = 0.0;
    if let Some(last) = spec.last_mut() {
        last.im = 0.0;
    }
    if inv.process(&mut spec, &mut time).is_err() {
        return ir.to_vec();
    }
    time.truncate(len);
    time.into_iter()
        .map(|v| if v.is_finite() { v as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// |H(f)| in dB of `h` by direct DTFT.
    fn mag_db(h: &[f64], f: f64, sr: f64) -> f64 {
        let w = 2.0 * PI * f / sr;
        let (mut re, mut im) = (0.0, 0.0);
        for (n, v) in h.iter().enumerate() {
            re += v * (w * n as f64).cos();
            im -= v * (w * n as f64).sin();
        }
        10.0 * (re * re + im * im).log10()
    }

    #[test]
    fn a_cancelled_reflection_is_its_echo_train_and_undoes_the_reflection() {
        let sr = 48_000.0;
        for (d, g) in [(96usize, 0.6), (37, -0.8), (480, 0.9)] {
            let r = Reflection {
                delay_s: d as f64 / f64::from(sr),
                gain: g,
                corner_hz: None,
            };
            let h = cancel_reflection(&[1.0], &r, sr);
            // Σ (−g)^k δ[n − kD], down to −80 dB, plus the 64-sample margin.
            let echoes = (1e-4f64.ln() / g.abs().ln()).ceil() as usize;
            assert!(h.len() >= echoes * d && h.len() <= echoes * d + 64 + 1);
            // The taper over the top fifth of the band spreads each echo over a few
            // samples, the later ones (tapered k times) more: the direct sound and
            // the first echo within 0.1 of their values; the response below.
            for (k, v) in h.iter().step_by(d).take(2).enumerate() {
                let want = (-g).powi(k as i32);
                let v = f64::from(*v);
                assert!(
                    (v - want).abs() < 0.1,
                    "{d} {g}: echo {k} = {v}, not {want}"
                );
            }
            // The reflection followed by its cancellation is an impulse.
            let mut y = vec![0.0f64; h.len()];
            for (n, &v) in h.iter().enumerate() {
                y[n] += f64::from(v);
                if n + d < y.len() {
                    y[n + d] += g * f64::from(v);
                }
            }
            // Flat within 0.05 dB below the taper (0.4·fs), at 100 Hz steps.
            for f in (1..192).map(|i| f64::from(i) * 100.0) {
                let db = mag_db(&y, f, f64::from(sr));
                assert!(db.abs() < 0.05, "{d} {g}: {db} dB at {f} Hz");
            }
        }
        // Nothing to cancel, or nothing sensible: the IR comes back as it was.
        let ir = [0.5f32, 0.25, 0.0];
        for r in [
            Reflection {
                delay_s: 0.003,
                gain: 0.0,
                corner_hz: None,
            },
            Reflection {
                delay_s: f64::NAN,
                gain: 0.5,
                corner_hz: None,
            },
            Reflection {
                delay_s: -1.0,
                gain: 0.5,
                corner_hz: None,
            },
            Reflection {
                delay_s: 0.003,
                gain: f64::NAN,
                corner_hz: None,
            },
        ] {
            assert_eq!(cancel_reflection(&ir, &r, sr), ir.to_vec(), "{r:?}");
        }
        // A gain past the clamp is clamped; the result stays within the IR limit
        // and finite, with a corner too.
        let r = Reflection {
            delay_s: 0.013,
            gain: -5.0,
            corner_hz: Some(2000.0),
        };
        let h = cancel_reflection(&synthesize_ir(&IrParams::neutral(), sr), &r, sr);
        assert!(h.len() <= (MAX_IR_SECONDS * sr) as usize);
        assert!(h.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn correction_magnitude_matches_curve_within_half_db() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for sr in [44_100.0f32, 48_000.0, 96_000.0] {
            for _ in 0..4 {
                let p = IrParams::random(&mut rng);
                let h = correction_filter(&p.correction_db, sr);
                let mut worst: f64 = 0.0;
                for (i, &f) in curve_freqs_hz().iter().enumerate() {
                    if f > 0.45 * f64::from(sr) || f < 80.0 {
                        continue;
                    }
                    let err = (mag_db(&h, f, f64::from(sr)) - f64::from(p.correction_db[i])).abs();
                    worst = worst.max(err);
                }
                assert!(worst < 0.5, "sr {sr}: worst error {worst} dB");
            }
        }
    }

    #[test]
    fn correction_is_minimum_phase_energy_front_loaded() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let p = IrParams::random(&mut rng);
        let sr = 48_000.0;
        let h = correction_filter(&p.correction_db, sr);
        // A linear-phase filter with the same magnitude centred at L/2 has its
        // energy around the middle; the minimum-phase one at the start.
        let total: f64 = h.iter().map(|v| v * v).sum();
        let first: f64 = h[..h.len() / 16].iter().map(|v| v * v).sum();
        assert!(
            first / total > 0.95,
            "only {} of the energy in the first 1/16",
            first / total
        );
        // The largest tap is among the first few.
        let peak = h
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
            .unwrap_or(usize::MAX);
        assert!(peak < 8, "peak tap at {peak}");
    }

    #[test]
    fn neutral_is_a_unit_impulse() {
        let ir = synthesize_ir(&IrParams::neutral(), 48_000.0);
        assert_eq!(ir.len(), correction_len(48_000.0));
        assert!((ir[0] - 1.0).abs() < 1e-6);
        assert!(ir[1..].iter().all(|v| v.abs() < 1e-6));
    }

    #[test]
    fn tail_has_requested_level_length_and_decay() {
        let mut p = IrParams::neutral();
        p.wet_db = -6.0;
        p.rt60_s = 0.8;
        p.predelay_ms = 20.0;
        p.hf_damping = 0.5;
        p.seed = 1234;
        let sr = 48_000.0f32;
        let ir = synthesize_ir(&p, sr);
        let pre = (0.020 * sr).round() as usize;
        assert_eq!(ir.len(), pre + (1.5 * 0.8 * sr).round() as usize);
        assert!(ir.iter().all(|v| v.is_finite()));
        let e_direct: f64 = ir[..pre].iter().map(|&v| f64::from(v).powi(2)).sum();
        let e_tail: f64 = ir[pre..].iter().map(|&v| f64::from(v).powi(2)).sum();
        let wet = 10.0 * (e_tail / e_direct).log10();
        assert!((wet + 6.0).abs() < 0.2, "wet {wet} dB");
        // Energy in 100 ms windows falls by about 60 dB per RT60 (low band dominates).
        let win = (0.1 * sr) as usize;
        let e = |s: usize| -> f64 { ir[s..s + win].iter().map(|&v| f64::from(v).powi(2)).sum() };
        let drop = 10.0 * (e(pre + win) / e(pre + 5 * win)).log10();
        let expected = 60.0 * 0.4 / 0.8;
        assert!(
            (drop - expected).abs() < 4.0,
            "drop {drop} dB, expected {expected}"
        );
        // Deterministic.
        assert_eq!(ir, synthesize_ir(&p, sr));
    }

    #[test]
    fn length_bounded_and_finite_for_extreme_params() {
        let mut p = IrParams::neutral();
        p.correction_db = [f32::NAN; IR_CURVE_POINTS];
        p.correction_db[3] = 1e9;
        p.wet_db = 100.0;
        p.rt60_s = 100.0;
        p.predelay_ms = f32::INFINITY;
        p.hf_damping = -3.0;
        p.seed = 0;
        for sr in [22_050.0f32, 48_000.0, 192_000.0] {
            let ir = synthesize_ir(&p, sr);
            assert!(ir.len() <= (2.0 * sr) as usize);
            assert!(!ir.is_empty());
            assert!(ir.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn xorshift_known_values() {
        // Marsaglia's xorshift32 from state 1.
        let mut r = Xorshift32(1);
        assert_eq!(r.next_u32(), 270_369);
        assert_eq!(r.next_u32(), 67_634_689);
    }
}

/// Length of the direct part of an impulse response after its peak, seconds: the
/// window commonly used for the direct sound when computing a direct-to-reverberant
/// ratio (2.5 ms; e.g. Zahorik, "Direct-to-reverberant energy ratio sensitivity",
/// JASA 112(5), 2002).
pub const DIRECT_WINDOW_S: f64 = 0.0025;

/// Reverberant-to-direct energy ratio of an impulse response, dB: the energy after
/// [`DIRECT_WINDOW_S`] past the absolute peak over the energy up to then. `None` for
/// an empty or all-zero response; a response with no energy after the direct window
/// gives a very low value (−200 dB), never −∞.
pub fn reverberant_to_direct_db(ir: &[f32], sample_rate: f32) -> Option<f32> {
    let peak = ir
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(i, _)| i)?;
    let split =
        (peak + (DIRECT_WINDOW_S * f64::from(sample_rate)).round() as usize + 1).min(ir.len());
    let energy = |s: &[f32]| s.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
    let direct = energy(&ir[..split]);
    if direct <= 0.0 {
        return None;
    }
    let late = energy(&ir[split..]);
    Some((10.0 * (late.max(1e-20 * direct) / direct).log10()) as f32)
}

#[cfg(test)]
mod rdr_tests {
    use super::*;

    #[test]
    fn the_reverberant_to_direct_ratio_of_a_synthesized_room_follows_its_wet_level() {
        let fs = 48_000.0;
        let mut p = IrParams::neutral();
        assert!(reverberant_to_direct_db(&synthesize_ir(&p, fs), fs).unwrap() < -60.0);
        p.predelay_ms = 10.0;
        p.rt60_s = 0.5;
        for wet in [-20.0f32, -10.0, 0.0] {
            p.wet_db = wet;
            let r = reverberant_to_direct_db(&synthesize_ir(&p, fs), fs).unwrap();
            assert!((r - wet).abs() < 1.5, "wet {wet} dB → RDR {r} dB");
        }
        assert_eq!(reverberant_to_direct_db(&[], fs), None);
        assert_eq!(reverberant_to_direct_db(&[0.0; 8], fs), None);
    }
}
