//! The room family: the reverberation of the room the speaker records in.
//!
//! | implementation | severity at strength `s` (0..=1) |
//! |---|---|
//! | [`RirConvolution`] | wet share `0.2 + 0.8·s` of a measured RIR |
//! | [`SyntheticRoom`] | RT60 `(0.2 + 1.0·s)` s × 0.8–1.25, direct-to-reverberant ratio `10 − 20·s` dB |

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::util::{self, gaussian, log_uniform, r2, random_sign, uniform};
use super::{Damage, DamageError, Family, Kind, RecordingSet, Recordings, Rendered};

/// The kinds of the room family.
pub const ROOM_KINDS: [Kind; 1] = [Kind::Room];

/// For output channel `c`, the index into `rirs` of the RIR to use when `first`
/// was drawn: the channels of `first`'s file in turn (a binaural file gives its
/// left and right ear to a stereo input).
pub fn rir_for_channel(rirs: &[super::Recording], first: usize, c: usize) -> usize {
    let name = &rirs[first].name;
    let same: Vec<usize> = (0..rirs.len()).filter(|&i| &rirs[i].name == name).collect();
    let pos = same.iter().position(|&i| i == first).unwrap_or(0);
    same[(pos + c) % same.len()]
}

/// Training implementation: convolution with a measured RIR of the training pool
/// (drawn uniformly over every file channel; aligned to its direct sound and of
/// unit energy, see [`Recordings::load`]), mixed with the dry signal:
/// `y = (1 − m)·x + m·(h ∗ x)` with the wet share `m = 0.2 + 0.8·s`. FFT
/// convolution, output cut to the input's length.
#[derive(Clone, Copy, Debug, Default)]
pub struct RirConvolution;

impl Damage for RirConvolution {
    fn id(&self) -> &'static str {
        "room/rir_convolution"
    }
    fn family(&self) -> Family {
        Family::Room
    }
    fn kinds(&self) -> &'static [Kind] {
        &ROOM_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "convolution with a measured RIR, wet/dry mix"
    }
    fn recordings_needed(&self, _kind: Kind) -> Option<RecordingSet> {
        Some(RecordingSet::Rir)
    }
    fn render(
        &self,
        _kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        _sample_rate: f64,
        rng: &mut ChaCha8Rng,
        recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let rirs = recordings.rirs();
        let first = rng.gen_range(0..rirs.len());
        let m = 0.2 + 0.8 * strength;
        for (c, ch) in audio.iter_mut().enumerate() {
            let h: Vec<f64> = rirs[rir_for_channel(rirs, first, c)]
                .samples
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let x: Vec<f64> = ch.iter().map(|&v| f64::from(v)).collect();
            let wet = util::convolve(&x, &h, 0);
            for ((v, d), w) in ch.iter_mut().zip(&x).zip(wet) {
                *v = ((1.0 - m) * d + m * w) as f32;
            }
        }
        let rec = &rirs[first];
        Ok(Rendered {
            params: json!({ "rir": rec.name, "channel": rec.channel, "wet": r2(m) }),
            label: format!(
                "room: {} ch {} wet {:.0} %",
                rec.name,
                rec.channel,
                m * 100.0
            ),
        })
    }
}

/// Training implementation: a synthetic RIR (after the stochastic model of
/// Schroeder / Moorer: exponentially decaying Gaussian noise), convolved.
///
/// `h` = a unit direct impulse at 0, 3–8 early reflections at 3–40 ms
/// (log-uniform; gain ±0.2–0.7 × `e^(−6.91·t/RT60)`), and a tail from a pre-delay
/// of 5–20 ms: Gaussian noise split at a crossover of 1–4 kHz by a one-pole
/// low-pass into a low band decaying to −60 dB at RT60 and a high band at
/// RT60 × 0.3–0.8 (air and wall absorption), with a 5 ms onset ramp. Early
/// reflections and tail together are scaled so that the direct-to-reverberant
/// energy ratio is `10 − 20·s` dB, then `h` is normalized to unit energy.
/// RT60 = `(0.2 + 1.0·s)` s × 0.8–1.25, the tail cut at 1.2 × RT60.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyntheticRoom;

impl Damage for SyntheticRoom {
    fn id(&self) -> &'static str {
        "room/synthetic"
    }
    fn family(&self) -> Family {
        Family::Room
    }
    fn kinds(&self) -> &'static [Kind] {
        &ROOM_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "synthetic RIR: direct sound, early reflections, two-band exponentially decaying noise tail"
    }
    fn render(
        &self,
        _kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let sr = sample_rate;
        let rt60 = (0.2 + 1.0 * strength) * log_uniform(rng, 0.8, 1.25);
        let drr_db = 10.0 - 20.0 * strength;
        let crossover = log_uniform(rng, 1000.0, 4000.0);
        let hf_ratio = uniform(rng, 0.3, 0.8);
        let predelay_ms = uniform(rng, 5.0, 20.0);
        let n_early = rng.gen_range(3..=8);
        let early: Vec<(f64, f64)> = (0..n_early)
            .map(|_| {
                let t = log_uniform(rng, 3.0, 40.0) * 1e-3;
                let g = random_sign(rng) * uniform(rng, 0.2, 0.7) * (-6.91 * t / rt60).exp();
                (t, g)
            })
            .collect();
        let len = ((1.2 * rt60 + predelay_ms * 1e-3) * sr).ceil() as usize + 1;
        let mut reverb = vec![0.0; len];
        for &(t, g) in &early {
            let i = (t * sr).round() as usize;
            if i < len {
                reverb[i] += g;
            }
        }
        let pre = (predelay_ms * 1e-3 * sr).round() as usize;
        let noise = gaussian(rng, len.saturating_sub(pre));
        let a = util::one_pole_coef(crossover, sr);
        let mut lo = 0.0;
        let ramp = (0.005 * sr).max(1.0);
        for (i, &u) in noise.iter().enumerate() {
            lo = (1.0 - a) * u + a * lo;
            let hi = u - lo;
            let t = i as f64 / sr;
            let env_lo = (-6.91 * t / rt60).exp();
            let env_hi = (-6.91 * t / (rt60 * hf_ratio)).exp();
            let on = (i as f64 / ramp).min(1.0);
            reverb[pre + i] += on * (lo * env_lo + hi * env_hi);
        }
        let e_rev: f64 = reverb.iter().map(|v| v * v).sum();
        let g = if e_rev > 0.0 {
            (10f64.powf(-drr_db / 10.0) / e_rev).sqrt()
        } else {
            0.0
        };
        let mut h: Vec<f64> = reverb.iter().map(|v| v * g).collect();
        h[0] += 1.0;
        let e: f64 = h.iter().map(|v| v * v).sum();
        let norm = 1.0 / e.sqrt();
        h.iter_mut().for_each(|v| *v *= norm);
        util::convolve_channels(audio, &h, 0);
        Ok(Rendered {
            params: json!({
                "rt60_s": r2(rt60), "drr_db": r2(drr_db), "crossover_hz": r2(crossover),
                "hf_rt60_ratio": r2(hf_ratio), "predelay_ms": r2(predelay_ms), "early_reflections": n_early,
            }),
            label: format!("room: synthetic RT60 {rt60:.2} s, DRR {drr_db:.1} dB"),
        })
    }
}
