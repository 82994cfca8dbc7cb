//! The clipping family: a preamp or converter driven past its limit.
//!
//! The signal is multiplied by the drive `g = 10^(drive_db/20)` and limited at a
//! ceiling `P`: the input's sample peak over all channels (so the output never
//! exceeds the input's peak and the share of clipped samples depends on the
//! drive, not on the input level — as `faurge_dsp::degrade`'s clipping).
//!
//! | kind | drive at strength `s` (0..=1) |
//! |---|---|
//! | [`Kind::HardClip`] | `1 + 23·s` dB ([`drive_db`]) |
//! | [`Kind::SoftClip`] | `3 + 21·s` dB |
//! | [`Kind::AsymmetricClip`] | `2 + 22·s` dB |

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::util::{self, r2, uniform};
use super::{Damage, DamageError, Family, Kind, Recordings, Rendered};

/// The kinds of the clipping family.
pub const CLIPPING_KINDS: [Kind; 3] = [Kind::HardClip, Kind::SoftClip, Kind::AsymmetricClip];

/// Drive of `kind` at strength `s`, dB (see the module table).
pub fn drive_db(kind: Kind, s: f64) -> f64 {
    match kind {
        Kind::SoftClip => 3.0 + 21.0 * s,
        Kind::AsymmetricClip => 2.0 + 22.0 * s,
        _ => 1.0 + 23.0 * s,
    }
}

/// A saturation curve `f(u)` with `f(0) = 0`, slope 1 at 0, `|f| ≤ 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// `clamp(u, −1, 1)`.
    Hard,
    /// `tanh(u)`.
    Tanh,
    /// `(2/π)·atan(π·u/2)`.
    Arctan,
    /// `u − 4u³/27` for `|u| ≤ 1.5` (reaches 1 with zero slope at 1.5), `±1` beyond.
    Cubic,
}

impl Curve {
    /// `f(u)`.
    pub fn eval(self, u: f64) -> f64 {
        match self {
            Curve::Hard => u.clamp(-1.0, 1.0),
            Curve::Tanh => u.tanh(),
            Curve::Arctan => std::f64::consts::FRAC_2_PI * (std::f64::consts::FRAC_PI_2 * u).atan(),
            Curve::Cubic => {
                let v = u.clamp(-1.5, 1.5);
                v - 4.0 * v * v * v / 27.0
            }
        }
    }

    /// `hard`, `tanh`, `arctan`, `cubic`.
    pub fn label(self) -> &'static str {
        match self {
            Curve::Hard => "hard",
            Curve::Tanh => "tanh",
            Curve::Arctan => "arctan",
            Curve::Cubic => "cubic",
        }
    }
}

/// Training implementation: memoryless curves at the sample rate.
///
/// - [`Kind::HardClip`]: `y = P·clamp(g·x/P, −1, 1)`.
/// - [`Kind::SoftClip`]: `y = P·f(g·x/P)` with `f` tanh, arctan or cubic ([`Curve`]), uniformly.
/// - [`Kind::AsymmetricClip`]: a different ceiling per polarity, one side at `P`,
///   the other at `a·P` (`a` 0.3–0.9, side random), curve hard or tanh:
///   `y = Pₛ·f(g·x/Pₛ)` with `Pₛ` the ceiling of `x`'s sign. The resulting DC
///   offset is kept (as a DC-coupled stage leaves it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Memoryless;

impl Damage for Memoryless {
    fn id(&self) -> &'static str {
        "clipping/memoryless"
    }
    fn family(&self) -> Family {
        Family::Clipping
    }
    fn kinds(&self) -> &'static [Kind] {
        &CLIPPING_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "memoryless clamp / tanh / arctan / cubic curves after a drive, ceiling at the input peak"
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        _sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let drive = drive_db(kind, strength);
        let g = 10f64.powf(drive / 20.0);
        let p = util::peak(audio);
        let (curve, pos, neg) = match kind {
            Kind::HardClip => (Curve::Hard, 1.0, 1.0),
            Kind::SoftClip => (
                [Curve::Tanh, Curve::Arctan, Curve::Cubic][rng.gen_range(0..3)],
                1.0,
                1.0,
            ),
            _ => {
                let curve = if rng.gen_bool(0.5) {
                    Curve::Hard
                } else {
                    Curve::Tanh
                };
                let a = uniform(rng, 0.3, 0.9);
                if rng.gen_bool(0.5) {
                    (curve, 1.0, a)
                } else {
                    (curve, a, 1.0)
                }
            }
        };
        if p > 0.0 {
            for c in audio.iter_mut() {
                for v in c.iter_mut() {
                    let x = f64::from(*v);
                    let ceil = p * if x >= 0.0 { pos } else { neg };
                    *v = (ceil * curve.eval(g * x / ceil)) as f32;
                }
            }
        }
        Ok(Rendered {
            params: json!({
                "drive_db": r2(drive), "curve": curve.label(),
                "positive_ceiling": r2(pos), "negative_ceiling": r2(neg),
            }),
            label: format!("{}: {} drive {drive:.1} dB", kind.label(), curve.label()),
        })
    }
}

/// Training implementation: a converter's input stage.
///
/// - [`Kind::HardClip`]: drive, clamp at the ceiling, then TPDF-dithered
///   quantization to 16 bits re the ceiling (a fixed-point converter at full
///   scale: flat runs at exactly ±full scale, the saturated code is not
///   dithered, a quantization floor under the rest).
///   This reuses [`faurge_dsp::degrade::Degradation::Clipping`] for the clamp.
/// - [`Kind::SoftClip`]: a soft knee into the clamp: linear up to `1 − k`, then
///   the quadratic `u − (u − 1 + k)²/(4k)` that meets the ceiling with zero slope
///   at `1 + k` (knee half-width `k` 0.1–0.5 of the ceiling); then quantized as above.
/// - [`Kind::AsymmetricClip`]: an input DC offset of ±5–30 % of the ceiling
///   shifts the signal before a symmetric clamp and is removed after it (the
///   result scaled by `1/(1 + |offset|)` to stay within the ceiling), so one
///   polarity clips first and the other later; then quantized.
#[derive(Clone, Copy, Debug, Default)]
pub struct Converter;

fn knee(u: f64, k: f64) -> f64 {
    let a = u.abs();
    let y = if a <= 1.0 - k {
        a
    } else if a >= 1.0 + k {
        1.0
    } else {
        a - (a - 1.0 + k).powi(2) / (4.0 * k)
    };
    y.copysign(u)
}

impl Damage for Converter {
    fn id(&self) -> &'static str {
        "clipping/converter"
    }
    fn family(&self) -> Family {
        Family::Clipping
    }
    fn kinds(&self) -> &'static [Kind] {
        &CLIPPING_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "converter input: clamp, quadratic soft knee or DC-shifted clamp, then dithered 16-bit quantization"
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
        let drive = drive_db(kind, strength);
        let g = 10f64.powf(drive / 20.0);
        let p = util::peak(audio);
        let mut params = json!({ "drive_db": r2(drive), "bits": 16 });
        if p > 0.0 {
            match kind {
                Kind::HardClip => {
                    let d = faurge_dsp::degrade::Degradation::Clipping {
                        drive_db: drive as f32,
                    };
                    // Only fails for a bad rate, which apply_damage has checked.
                    let _ = d.apply(audio, sample_rate as f32, 0);
                }
                Kind::SoftClip => {
                    let k = uniform(rng, 0.1, 0.5);
                    params["knee"] = json!(r2(k));
                    for c in audio.iter_mut() {
                        for v in c.iter_mut() {
                            *v = (p * knee(g * f64::from(*v) / p, k)) as f32;
                        }
                    }
                }
                _ => {
                    let off = util::random_sign(rng) * uniform(rng, 0.05, 0.3);
                    params["dc_offset"] = json!(r2(off));
                    for c in audio.iter_mut() {
                        for v in c.iter_mut() {
                            let u = g * f64::from(*v) / p + off;
                            *v = (p * (u.clamp(-1.0, 1.0) - off) / (1.0 + off.abs())) as f32;
                        }
                    }
                }
            }
            // TPDF dither (two uniform draws) and rounding to 16-bit steps of the
            // ceiling; samples at the ceiling keep the saturated code exactly.
            let step = p / 32768.0;
            for c in audio.iter_mut() {
                for v in c.iter_mut() {
                    let x = f64::from(*v);
                    let d = rng.gen::<f64>() - rng.gen::<f64>();
                    let q = if x.abs() >= p * (1.0 - 1e-7) {
                        p.copysign(x)
                    } else {
                        ((x / step + d).round() * step).clamp(-p, p)
                    };
                    *v = q as f32;
                }
            }
        }
        Ok(Rendered {
            params,
            label: format!("{}: converter drive {drive:.1} dB", kind.label()),
        })
    }
}
