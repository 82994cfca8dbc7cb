//! A voice's fundamental frequency (F0): where its pitch sits and how far it moves.
//!
//! The tone-repair estimator reads it beside the LTAS. A microphone's colouring is a
//! linear filter, which leaves the pitch where it is, while the pitch says much about
//! the voice's own low end: a voice speaking at 110 Hz has its first harmonic (and
//! its chest energy) an octave below one at 220 Hz, so a lift at 100–200 Hz is the
//! voice in one and a proximity boom in the other, and a voice high-passed at 400 Hz
//! still shows, by its pitch, how far down its spectrum went.
//!
//! Method: YIN (A. de Cheveigné and H. Kawahara, "YIN, a fundamental frequency
//! estimator for speech and music", J. Acoust. Soc. Am. 111(4), 2002), steps 2–5:
//! the difference function `d(τ) = Σ_j (x_j − x_{j+τ})²` over a window of
//! [`WINDOW_S`], its cumulative-mean normalisation `d'(τ) = d(τ) · τ / Σ_{k=1..τ}
//! d(k)` (`d'(0) = 1`), the first `τ` in the F0 range where `d'` dips under
//! [`THRESHOLD`] followed down to its local minimum, and a parabola through that
//! minimum and its neighbours for a fractional period. The signal is first
//! low-passed (two cookbook 2nd-order low-passes at [`LOWPASS_HZ`]) and decimated
//! to about [`ANALYSIS_RATE_HZ`]: pitch needs no more, and the difference function
//! costs the window times the longest period per frame. Frames quieter than
//! [`ACTIVE_RANGE_DB`] under the signal's RMS are pauses and are not read; a frame
//! with no dip under the threshold is unvoiced. The periodicity survives a high-pass
//! that removes the fundamental itself (the harmonics keep its period), which is why
//! a time-domain method is used here rather than the LTAS's lowest peak.

use super::Input;
use crate::biquad::{BiquadState, Coefficients};
use crate::state::BandKind;

/// Lowest F0 looked for, Hz.
pub const F0_MIN_HZ: f64 = 60.0;
/// Highest F0 looked for, Hz.
pub const F0_MAX_HZ: f64 = 420.0;
/// Difference-function window, seconds.
pub const WINDOW_S: f64 = 0.04;
/// Frame hop, seconds.
pub const HOP_S: f64 = 0.01;
/// YIN's absolute threshold on the normalised difference (the paper's 0.1–0.15).
pub const THRESHOLD: f64 = 0.15;
/// Frames more than this under the signal's RMS are not read, dB.
pub const ACTIVE_RANGE_DB: f64 = 20.0;
/// Rate the pitch is read at (the decimation factor is the whole ratio under it), Hz.
pub const ANALYSIS_RATE_HZ: f64 = 12_000.0;
/// Corner of the anti-alias low-pass before decimation, Hz.
pub const LOWPASS_HZ: f64 = 4_000.0;
/// Fewest voiced frames for a reading (0.2 s of voicing).
pub const MIN_VOICED_FRAMES: usize = 20;
/// The F0 the estimator's features are relative to, Hz (between typical male and
/// female speaking pitch).
pub const REFERENCE_F0_HZ: f32 = 150.0;

/// Where a voice's pitch sits: quantiles of F0 over its voiced frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoiceF0 {
    /// 10th percentile, Hz.
    pub p10_hz: f32,
    /// Median, Hz.
    pub median_hz: f32,
    /// 90th percentile, Hz.
    pub p90_hz: f32,
    /// Number of voiced frames read.
    pub voiced_frames: usize,
}

impl VoiceF0 {
    /// The tone-repair estimator's pitch input: `log2(F0 / 150 Hz)` of the 10th
    /// percentile, the median and the 90th percentile (octaves re
    /// [`REFERENCE_F0_HZ`]); `[0, 0, 0]` (no information) for `None`.
    pub fn features(f0: Option<&VoiceF0>) -> [f32; 3] {
        match f0 {
            Some(v) => [v.p10_hz, v.median_hz, v.p90_hz].map(|f| (f / REFERENCE_F0_HZ).log2()),
            None => [0.0; 3],
        }
    }
}

/// The F0 of the voice in `channels` (summed to mono) at `sample_rate`: `None`
/// for silence, an unsupported rate, or fewer than [`MIN_VOICED_FRAMES`] voiced
/// frames (noise, whispering, a few syllables). Allocates; not for the audio thread.
pub fn voice_f0(channels: &[&[f32]], sample_rate: f32) -> Option<VoiceF0> {
    let input = Input::new(channels, sample_rate)?;
    if input.is_silent() {
        return None;
    }
    let sr = input.sample_rate;
    let mut mono: Vec<f32> = (0..input.len())
        .map(|i| input.channels.iter().map(|c| c[i]).sum::<f64>() as f32)
        .collect();
    let factor = ((sr / ANALYSIS_RATE_HZ).floor() as usize).max(1);
    if factor > 1 {
        let lp = Coefficients::design(
            BandKind::LowPass,
            LOWPASS_HZ.min(0.45 * sr / factor as f64),
            0.0,
            std::f64::consts::FRAC_1_SQRT_2,
            sr,
        );
        for _ in 0..2 {
            BiquadState::default().process(&lp, &mut mono);
        }
    }
    let x: Vec<f64> = mono.iter().step_by(factor).map(|&v| f64::from(v)).collect();
    let rate = sr / factor as f64;
    let window = (WINDOW_S * rate).round() as usize;
    let hop = ((HOP_S * rate).round() as usize).max(1);
    let tau_min = (rate / F0_MAX_HZ).floor() as usize;
    let tau_max = (rate / F0_MIN_HZ).ceil() as usize;
    if x.len() < window + tau_max + 1 || tau_min < 2 {
        return None;
    }
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
    let floor = rms * 10f64.powf(-ACTIVE_RANGE_DB / 20.0);
    let mut d = vec![0.0; tau_max + 2];
    let mut f0 = Vec::new();
    let mut start = 0;
    while start + window + tau_max < x.len() {
        let frame = &x[start..start + window];
        let frame_rms = (frame.iter().map(|v| v * v).sum::<f64>() / window as f64).sqrt();
        if frame_rms >= floor {
            if let Some(period) = yin_period(&x[start..], window, tau_min, tau_max, &mut d) {
                f0.push((rate / period) as f32);
            }
        }
        start += hop;
    }
    if f0.len() < MIN_VOICED_FRAMES {
        return None;
    }
    f0.sort_by(f32::total_cmp);
    let q = |p: f64| f0[((p * (f0.len() - 1) as f64).round() as usize).min(f0.len() - 1)];
    Some(VoiceF0 {
        p10_hz: q(0.1),
        median_hz: q(0.5),
        p90_hz: q(0.9),
        voiced_frames: f0.len(),
    })
}

/// YIN's period of the frame at the start of `x` (window `w`), samples, or `None`
/// when no dip of the normalised difference in `tau_min..=tau_max` is under
/// [`THRESHOLD`]. `d` is scratch of at least `tau_max + 2` values.
fn yin_period(x: &[f64], w: usize, tau_min: usize, tau_max: usize, d: &mut [f64]) -> Option<f64> {
    let upto = tau_max + 1;
    d[0] = 1.0;
    let mut cumulative = 0.0;
    for tau in 1..=upto {
        let diff: f64 = (0..w).map(|j| (x[j] - x[j + tau]).powi(2)).sum();
        cumulative += diff;
        d[tau] = if cumulative > 0.0 {
            diff * tau as f64 / cumulative
        } else {
            1.0
        };
    }
    let mut tau = (tau_min..=tau_max).find(|&t| d[t] < THRESHOLD)?;
    while tau < tau_max && d[tau + 1] < d[tau] {
        tau += 1;
    }
    let (a, b, c) = (d[tau - 1], d[tau], d[tau + 1]);
    let curvature = a - 2.0 * b + c;
    let shift = if curvature > 0.0 {
        (0.5 * (a - c) / curvature).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    Some(tau as f64 + shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::ltas;

    /// A buzz at `f0` Hz (harmonics falling 6 dB per octave) in syllables of 0.2 s
    /// with 0.1 s pauses, the pitch gliding ±5 % over each syllable.
    fn voice(f0: f64, sr: f64, seconds: f64) -> Vec<f32> {
        let n = (sr * seconds) as usize;
        let mut phase = 0.0;
        (0..n)
            .map(|i| {
                let t = i as f64 / sr;
                let in_syllable = t % 0.3;
                let f = f0 * (1.0 + 0.05 * (in_syllable / 0.2 * 2.0 - 1.0));
                phase += 2.0 * std::f64::consts::PI * f / sr;
                if in_syllable >= 0.2 {
                    return 0.0;
                }
                let v: f64 = (1..40)
                    .filter(|k| f * *k as f64 <= 0.45 * sr)
                    .map(|k| (k as f64 * phase).sin() / k as f64)
                    .sum();
                (0.2 * v) as f32
            })
            .collect()
    }

    #[test]
    fn reads_the_pitch_of_low_and_high_voices_at_common_rates() {
        for sr in [16_000.0, 44_100.0, 48_000.0] {
            for f0 in [95.0, 210.0] {
                let v = voice_f0(&[&voice(f0, sr, 3.0)], sr as f32).expect("voiced");
                let err = (f64::from(v.median_hz) / f0).log2().abs();
                assert!(err < 0.02, "{sr} Hz, F0 {f0}: median {v:?}");
                assert!(v.p10_hz < v.median_hz && v.median_hz < v.p90_hz, "{v:?}");
                assert!(f64::from(v.p90_hz) < f0 * 1.08 && f64::from(v.p10_hz) > f0 * 0.92);
            }
        }
    }

    #[test]
    fn a_high_pass_that_removes_the_fundamental_leaves_the_pitch() {
        let sr = 48_000.0;
        let mut x = voice(110.0, sr, 3.0);
        let hp = Coefficients::design(BandKind::HighPass, 450.0, 0.0, 0.707, sr);
        for _ in 0..2 {
            BiquadState::default().process(&hp, &mut x);
        }
        let lt = ltas::ltas(&[&x], sr as f32);
        assert!(lt[8] < lt[30] - 20.0, "the fundamental's band is gone");
        let v = voice_f0(&[&x], sr as f32).expect("voiced");
        assert!(
            (f64::from(v.median_hz) / 110.0).log2().abs() < 0.02,
            "{v:?}"
        );
    }

    #[test]
    fn noise_silence_and_nonsense_have_no_pitch() {
        let sr = 48_000.0f32;
        let mut s = 1u32;
        let noise: Vec<f32> = (0..96_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 0.2
            })
            .collect();
        assert_eq!(voice_f0(&[&noise], sr), None);
        assert_eq!(voice_f0(&[&vec![0.0; 96_000]], sr), None);
        assert_eq!(voice_f0(&[&[]], sr), None);
        assert_eq!(
            voice_f0(&[&voice(120.0, 48_000.0, 0.1)], sr),
            None,
            "too short"
        );
        let mut nan = voice(120.0, 48_000.0, 2.0);
        nan[1000] = f32::NAN;
        assert!(voice_f0(&[&nan], sr).is_some(), "a NaN sample counts as 0");
        assert_eq!(voice_f0(&[&voice(120.0, 48_000.0, 2.0)], f32::NAN), None);
        assert_eq!(VoiceF0::features(None), [0.0; 3]);
        let v = VoiceF0 {
            p10_hz: 75.0,
            median_hz: 150.0,
            p90_hz: 300.0,
            voiced_frames: 50,
        };
        assert_eq!(VoiceF0::features(Some(&v)), [-1.0, 0.0, 1.0]);
    }
}
