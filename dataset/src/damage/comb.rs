//! The comb family: short reflections (a desk, a monitor, a wall beside the mic)
//! that add to the direct sound and notch the spectrum every `1/delay` Hz.
//!
//! | kind | drawn at strength `s` (0..=1) |
//! |---|---|
//! | [`Kind::Comb`] | one reflection, delay 0.5–12 ms (log-uniform), gain `±(0.2 + 0.7·s)` |
//! | [`Kind::Reflections`] | 3–6 reflections at 1–30 ms; the first (earliest) has gain `±(0.2 + 0.7·s)`, later ones that gain × `d₀/dᵢ` (spherical spreading) × 0.4–1, random signs |
//!
//! Delays are drawn by [`draw_reflections`], shared with the held-out
//! implementation; the implementations differ in how a reflection is rendered.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::util::{log_uniform, r2, random_sign, uniform};
use super::{Damage, DamageError, Family, Kind, Recordings, Rendered};

/// The kinds of the comb family.
pub const COMB_KINDS: [Kind; 2] = [Kind::Comb, Kind::Reflections];

/// One reflection: its delay after the direct sound and its gain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reflection {
    /// Delay after the direct sound, ms.
    pub delay_ms: f64,
    /// Amplitude relative to the direct sound (sign = polarity).
    pub gain: f64,
}

/// Draws the reflections of `kind` at strength `s` (see the module table),
/// sorted by delay. Non-comb kinds give none.
pub fn draw_reflections(kind: Kind, s: f64, rng: &mut ChaCha8Rng) -> Vec<Reflection> {
    let g0 = 0.2 + 0.7 * s;
    match kind {
        Kind::Comb => vec![Reflection {
            delay_ms: log_uniform(rng, 0.5, 12.0),
            gain: random_sign(rng) * g0,
        }],
        Kind::Reflections => {
            let n = rng.gen_range(3..=6);
            let mut d: Vec<f64> = (0..n).map(|_| log_uniform(rng, 1.0, 30.0)).collect();
            d.sort_by(f64::total_cmp);
            let d0 = d[0];
            d.iter()
                .enumerate()
                .map(|(i, &delay_ms)| {
                    let g = if i == 0 {
                        g0
                    } else {
                        g0 * d0 / delay_ms * uniform(rng, 0.4, 1.0)
                    };
                    Reflection {
                        delay_ms,
                        gain: random_sign(rng) * g,
                    }
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn describe(kind: Kind, r: &[Reflection]) -> String {
    match r {
        [one] => format!(
            "{}: reflection {:.1} ms, gain {:+.2}",
            kind.label(),
            one.delay_ms,
            one.gain
        ),
        _ => format!(
            "{}: {} reflections {:.1}–{:.1} ms, first gain {:+.2}",
            kind.label(),
            r.len(),
            r.first().map_or(0.0, |x| x.delay_ms),
            r.last().map_or(0.0, |x| x.delay_ms),
            r.first().map_or(0.0, |x| x.gain)
        ),
    }
}

/// Training implementation: a feed-forward FIR comb with integer delays,
/// `y[n] = (x[n] + Σᵢ gᵢ·x[n − Dᵢ]) / √(1 + Σᵢ gᵢ²)` with `Dᵢ = round(delayᵢ·fs)`
/// (at least 1 sample). The normalization keeps the power of white noise, so the
/// reflection changes the colour, not the level. Flat reflections: every
/// frequency is reflected with the same gain.
#[derive(Clone, Copy, Debug, Default)]
pub struct FeedForward;

impl Damage for FeedForward {
    fn id(&self) -> &'static str {
        "comb/feed_forward"
    }
    fn family(&self) -> Family {
        Family::Comb
    }
    fn kinds(&self) -> &'static [Kind] {
        &COMB_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "feed-forward comb: integer-sample delayed copies added to the direct sound"
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let refl = draw_reflections(kind, strength, rng);
        let taps: Vec<(usize, f64)> = refl
            .iter()
            .map(|r| {
                (
                    ((r.delay_ms * 1e-3 * sample_rate).round() as usize).max(1),
                    r.gain,
                )
            })
            .collect();
        let norm = 1.0 / (1.0 + taps.iter().map(|t| t.1 * t.1).sum::<f64>()).sqrt();
        for c in audio.iter_mut() {
            let x: Vec<f64> = c.iter().map(|&v| f64::from(v)).collect();
            for (n, v) in c.iter_mut().enumerate() {
                let mut y = x[n];
                for &(d, g) in &taps {
                    if n >= d {
                        y += g * x[n - d];
                    }
                }
                *v = (y * norm) as f32;
            }
        }
        Ok(Rendered {
            params: json!({
                "reflections": refl,
                "delays_samples": taps.iter().map(|t| t.0).collect::<Vec<_>>(),
            }),
            label: describe(kind, &refl),
        })
    }
}

/// Training implementation: recursive (feedback) combs, the echo train of sound
/// bouncing between two parallel surfaces. Each reflection `i` is a branch
/// `bᵢ[n] = aᵢ·x[n − Dᵢ] + fᵢ·bᵢ[n − Dᵢ]` (first echo of gain `aᵢ`, each
/// further round trip × `fᵢ`, `fᵢ = ±0.3–0.7` with the sign of `aᵢ`), and
/// `y = (x + Σᵢ bᵢ) / √(1 + Σᵢ aᵢ²/(1 − fᵢ²))` (white-noise power kept). Unlike
/// [`FeedForward`], the notches are flanked by sharper peaks and the reflection
/// repeats. For [`Kind::Comb`] the first-echo gain is scaled by 0.85 so a strong
/// reflection with feedback stays below a ringing resonance.
#[derive(Clone, Copy, Debug, Default)]
pub struct Feedback;

impl Damage for Feedback {
    fn id(&self) -> &'static str {
        "comb/feedback"
    }
    fn family(&self) -> Family {
        Family::Comb
    }
    fn kinds(&self) -> &'static [Kind] {
        &COMB_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "recursive combs: each reflection an echo train between two surfaces"
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let mut refl = draw_reflections(kind, strength, rng);
        if kind == Kind::Comb {
            refl.iter_mut().for_each(|r| r.gain *= 0.85);
        }
        // (delay samples, first gain, feedback)
        let branches: Vec<(usize, f64, f64)> = refl
            .iter()
            .map(|r| {
                let fb = r.gain.signum() * uniform(rng, 0.3, 0.7);
                (
                    ((r.delay_ms * 1e-3 * sample_rate).round() as usize).max(1),
                    r.gain,
                    fb,
                )
            })
            .collect();
        let power: f64 = branches
            .iter()
            .map(|&(_, a, f)| a * a / (1.0 - f * f))
            .sum();
        let norm = 1.0 / (1.0 + power).sqrt();
        for c in audio.iter_mut() {
            let x: Vec<f64> = c.iter().map(|&v| f64::from(v)).collect();
            let mut y = x.clone();
            for &(d, a, f) in &branches {
                let mut b = vec![0.0; x.len()];
                for n in d..x.len() {
                    b[n] = a * x[n - d] + f * b[n - d];
                }
                for (yv, bv) in y.iter_mut().zip(&b) {
                    *yv += bv;
                }
            }
            for (v, yv) in c.iter_mut().zip(y) {
                *v = (yv * norm) as f32;
            }
        }
        Ok(Rendered {
            params: json!({
                "reflections": refl,
                "feedback": branches.iter().map(|b| r2(b.2)).collect::<Vec<_>>(),
            }),
            label: describe(kind, &refl),
        })
    }
}
