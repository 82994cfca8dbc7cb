//! Split-band de-esser: a dynamic cut of the sibilant band only, stereo-linked.
//!
//! **Band.** The sibilant band is the output of an RBJ cookbook band-pass ("constant
//! 0 dB peak gain", R. Bristow-Johnson, *Audio EQ Cookbook*) at the de-esser frequency
//! `f` with `Q` = [`BAND_Q`] (1.0: −3 dB at about 0.62·f and 1.62·f, i.e. 4.0–10.5 kHz
//! at the default 6.5 kHz). The output is `y = x − (1 − g)·bp(x)`: at `f` the band-pass
//! is in phase with `x`, so there the signal is scaled by `g`; far from `f` the
//! band-pass vanishes and `x` is untouched; at `g = 1` the output is exactly `x`. This
//! is a peaking cut whose depth follows the sibilance (a dynamic EQ).
//!
//! **Detector.** Linked mean squares of the band `m_b` and of the full signal `m_x`
//! (one-pole, [`DETECTOR_MS`]); band level `L_b = 10·log10(m_b)` (dBFS) and band share
//! `s = L_b − 10·log10(m_x)` (dB). A sound is sibilant when the band carries most of its
//! power: the weight `w = clamp((s − S_0)/(S_1 − S_0), 0, 1)` with [`SHARE_START_DB`]
//! `S_0` = −12 dB and [`SHARE_FULL_DB`] `S_1` = −6 dB (vowels put −20 to −40 dB of their
//! power in 4–10 kHz, /s/ and /ʃ/ −1 to −6 dB), so loud vowels are never de-essed
//! however low the threshold. Reduction `x_L = w·clamp(L_b − T, 0, range)`: the band is
//! held at the threshold, at most `range` dB down.
//!
//! **Smoothing.** The reduction rises with [`ATTACK_MS`] and falls with [`RELEASE_MS`]
//! (branching one-pole, as the compressor); `g = 10^{−mix·x_L/20}` with `mix` gliding
//! 0↔1 over [`GLIDE_MS`] on switching; a frequency change glides (log) over the same
//! time, the filter redesigned every [`REDESIGN_SAMPLES`] samples while it does.
//!
//! No latency. Realtime: [`DeEsser::new`] does not allocate; nothing does. Non-finite
//! input never enters the detector or the filter state.

// Index loops here follow the formulas (matrix rows and columns, filter taps).
#![allow(clippy::needless_range_loop)]

use super::{clamp_rate, db_to_amplitude, power_db, Glide, PowerOfDb, CLEAR_MARGIN};
use crate::biquad::{BiquadState, Coefficients};
use crate::state::{
    clamp_or, DeEsserState, MAX_DEESSER_FREQ_HZ, MAX_DEESSER_RANGE_DB, MAX_DEESSER_THRESHOLD_DB,
    MIN_DEESSER_FREQ_HZ, MIN_DEESSER_RANGE_DB, MIN_DEESSER_THRESHOLD_DB,
};
use crate::MAX_CHANNELS;

/// Quality factor of the sibilant band.
pub const BAND_Q: f64 = 1.0;
/// Detector time constant, ms.
pub const DETECTOR_MS: f64 = 5.0;
/// Reduction attack time, ms.
pub const ATTACK_MS: f64 = 1.0;
/// Reduction release time, ms.
pub const RELEASE_MS: f64 = 60.0;
/// Band share (dB re the full signal) where de-essing starts.
pub const SHARE_START_DB: f64 = -12.0;
/// Band share (dB re the full signal) where de-essing is at full weight.
pub const SHARE_FULL_DB: f64 = -6.0;
/// Glide time of on/off, threshold, range and frequency, ms.
pub const GLIDE_MS: f64 = 20.0;
/// While the frequency glides, the band-pass is redesigned this often, samples.
pub const REDESIGN_SAMPLES: u32 = 16;
/// The band's centre never exceeds this fraction of the sample rate.
pub const MAX_FREQ_FRACTION_OF_RATE: f64 = 0.4;

const MS_FLOOR: f64 = 1e-20;
/// `10^(S_0/10)`: the band's share of the power at [`SHARE_START_DB`].
const SHARE_START_POWER: f64 = 0.063_095_734_448_019_33;

/// Cookbook band-pass, constant 0 dB peak gain, at `f` Hz with quality `q`.
pub fn band_pass(f: f64, q: f64, fs: f64) -> Coefficients {
    let w0 = 2.0 * std::f64::consts::PI * f / fs;
    let alpha = w0.sin() / (2.0 * q);
    let a0 = 1.0 + alpha;
    Coefficients {
        b0: alpha / a0,
        b1: 0.0,
        b2: -alpha / a0,
        a1: -2.0 * w0.cos() / a0,
        a2: (1.0 - alpha) / a0,
    }
}

/// The frequency the de-esser uses at `sample_rate`: `freq_hz` clamped to
/// `MIN_DEESSER_FREQ_HZ ..= min(MAX_DEESSER_FREQ_HZ, 0.4·fs)` (NaN → default).
pub fn effective_freq_hz(freq_hz: f32, sample_rate: f32) -> f64 {
    let f = if freq_hz.is_nan() {
        DeEsserState::default().freq_hz
    } else {
        freq_hz
    };
    let hi = f64::from(MAX_DEESSER_FREQ_HZ).min(MAX_FREQ_FRACTION_OF_RATE * f64::from(sample_rate));
    f64::from(f).clamp(f64::from(MIN_DEESSER_FREQ_HZ).min(hi), hi)
}

/// Split-band de-esser (see the module documentation).
#[derive(Clone, Debug)]
pub struct DeEsser {
    sample_rate: f64,
    target: DeEsserState,
    /// Log2 frequency, threshold dB, range dB, mix (gliding).
    glide: Glide<4>,
    redesign_in: u32,
    coeffs: Coefficients,
    band: [BiquadState; MAX_CHANNELS],
    beta: f64,
    alpha_attack: f64,
    alpha_release: f64,
    ms_band: f64,
    ms_full: f64,
    env_db: f64,
    /// The threshold as a mean square.
    threshold_power: PowerOfDb,
    /// Tests set this to compute every sample the long way.
    #[cfg(test)]
    no_shortcut: bool,
}

impl DeEsser {
    /// A de-esser at `sample_rate` Hz (clamped to
    /// [`super::MIN_STAGE_SAMPLE_RATE`]`..=`[`super::MAX_STAGE_SAMPLE_RATE`]; NaN means
    /// 48 kHz), off.
    pub fn new(sample_rate: f32) -> Self {
        let fs = f64::from(clamp_rate(sample_rate));
        let s = DeEsserState::default();
        let mut d = DeEsser {
            sample_rate: fs,
            target: s,
            glide: Glide::new([0.0; 4], (GLIDE_MS * 1e-3 * fs).round() as u32),
            redesign_in: 0,
            coeffs: Coefficients::IDENTITY,
            band: [BiquadState::default(); MAX_CHANNELS],
            beta: (-1.0 / (DETECTOR_MS * 1e-3 * fs)).exp(),
            alpha_attack: (-1.0 / (ATTACK_MS * 1e-3 * fs)).exp(),
            alpha_release: (-1.0 / (RELEASE_MS * 1e-3 * fs)).exp(),
            ms_band: MS_FLOOR,
            ms_full: MS_FLOOR,
            env_db: 0.0,
            threshold_power: PowerOfDb::new(),
            #[cfg(test)]
            no_shortcut: false,
        };
        d.snap_to(&s);
        d
    }

    fn glided(&self, s: &DeEsserState) -> [f64; 4] {
        [
            effective_freq_hz(s.freq_hz, self.sample_rate as f32).log2(),
            f64::from(s.threshold_db),
            f64::from(s.range_db),
            if s.enabled { 1.0 } else { 0.0 },
        ]
    }

    fn clamp_state(s: &DeEsserState) -> DeEsserState {
        let d = DeEsserState::default();
        DeEsserState {
            enabled: s.enabled,
            freq_hz: clamp_or(
                s.freq_hz,
                MIN_DEESSER_FREQ_HZ,
                MAX_DEESSER_FREQ_HZ,
                d.freq_hz,
            ),
            threshold_db: clamp_or(
                s.threshold_db,
                MIN_DEESSER_THRESHOLD_DB,
                MAX_DEESSER_THRESHOLD_DB,
                d.threshold_db,
            ),
            range_db: clamp_or(
                s.range_db,
                MIN_DEESSER_RANGE_DB,
                MAX_DEESSER_RANGE_DB,
                d.range_db,
            ),
        }
    }

    /// Sets new settings; everything glides over [`GLIDE_MS`]. Clamped; NaN → default.
    /// Realtime-safe.
    pub fn set_target(&mut self, state: &DeEsserState) {
        let s = Self::clamp_state(state);
        self.target = s;
        let goal = self.glided(&s);
        self.glide.set_goal(goal);
    }

    /// Sets new settings with no glide. Realtime-safe.
    pub fn snap_to(&mut self, state: &DeEsserState) {
        let s = Self::clamp_state(state);
        self.target = s;
        self.glide.snap(self.glided(&s));
        self.coeffs = band_pass(self.glide.value()[0].exp2(), BAND_Q, self.sample_rate);
    }

    /// Clears filter and detector memory and completes any glide. Realtime-safe.
    pub fn reset(&mut self) {
        self.band = [BiquadState::default(); MAX_CHANNELS];
        self.ms_band = MS_FLOOR;
        self.ms_full = MS_FLOOR;
        self.env_db = 0.0;
        let t = self.target;
        self.snap_to(&t);
    }

    /// Current reduction of the sibilant band, dB ≥ 0 (for meters).
    pub fn gain_reduction_db(&self) -> f32 {
        (self.glide.value()[3] * self.env_db) as f32
    }

    /// De-esses `channels` in place (1 or 2, linked; unequal lengths: the common length).
    /// Never allocates, locks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let n_ch = channels.len().min(MAX_CHANNELS);
        let Some(len) = channels[..n_ch].iter().map(|c| c.len()).min() else {
            return;
        };
        if !self.glide.gliding() && self.glide.value()[3] == 0.0 {
            // Off and faded out: bypass; memory restarts when switched on.
            if self.env_db != 0.0 || self.ms_band != MS_FLOOR {
                self.band = [BiquadState::default(); MAX_CHANNELS];
                self.ms_band = MS_FLOOR;
                self.ms_full = MS_FLOOR;
                self.env_db = 0.0;
            }
            return;
        }
        let mut bp = [0.0f64; MAX_CHANNELS];
        for i in 0..len {
            self.advance_glide();
            let (mut pb, mut px) = (0.0f64, 0.0f64);
            for (c, (buf, st)) in channels[..n_ch]
                .iter()
                .zip(self.band.iter_mut())
                .enumerate()
            {
                let x = f64::from(buf[i]);
                let x = if x.is_finite() { x } else { 0.0 };
                let b = st.tick(&self.coeffs, x);
                bp[c] = b;
                pb = pb.max(b * b);
                px = px.max(x * x);
            }
            let beta = self.beta;
            self.ms_band = (beta * self.ms_band + (1.0 - beta) * pb.min(1e12)).max(MS_FLOOR);
            self.ms_full = (beta * self.ms_full + (1.0 - beta) * px.min(1e12)).max(MS_FLOOR);
            let [_, threshold, range, mix] = self.glide.value();
            // x_L is exactly 0 when the band is below the threshold or its share below
            // S_0; where that is clear by more than the logarithms' error, it is known
            // without them (most samples of speech).
            let x_l = if self.clearly_quiet(threshold) {
                0.0
            } else {
                let band_db = power_db(self.ms_band);
                let share_db = band_db - power_db(self.ms_full);
                let w = ((share_db - SHARE_START_DB) / (SHARE_FULL_DB - SHARE_START_DB))
                    .clamp(0.0, 1.0);
                w * (band_db - threshold).clamp(0.0, range)
            };
            let alpha = if x_l > self.env_db {
                self.alpha_attack
            } else {
                self.alpha_release
            };
            let mut y = x_l + alpha * (self.env_db - x_l);
            if y < 1e-6 && x_l == 0.0 {
                y = 0.0;
            }
            self.env_db = y;
            if y == 0.0 {
                continue;
            }
            let cut = 1.0 - db_to_amplitude(-mix * y);
            for (buf, b) in channels[..n_ch].iter_mut().zip(bp.iter()) {
                buf[i] = (f64::from(buf[i]) - cut * b) as f32;
            }
        }
    }

    /// True when the band's mean square is under `threshold` (dB) or under `S_0` of the
    /// full band by more than the rounding of [`power_db`]: x_L is then exactly 0.
    #[inline]
    fn clearly_quiet(&mut self, threshold: f64) -> bool {
        #[cfg(test)]
        if self.no_shortcut {
            return false;
        }
        self.ms_band < CLEAR_MARGIN * self.threshold_power.of(threshold)
            || self.ms_band < CLEAR_MARGIN * SHARE_START_POWER * self.ms_full
    }

    /// One sample of the glide; the band-pass follows a moving frequency every
    /// [`REDESIGN_SAMPLES`] and where it lands.
    #[inline]
    fn advance_glide(&mut self) {
        if !self.glide.advance() {
            return;
        }
        if self.glide.moves(0) {
            if self.redesign_in == 0 || !self.glide.gliding() {
                let f = self.glide.value()[0].exp2();
                self.coeffs = band_pass(f, BAND_Q, self.sample_rate);
                self.redesign_in = REDESIGN_SAMPLES;
            }
            self.redesign_in -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_pass_has_unit_zero_phase_peak() {
        let c = band_pass(6500.0, BAND_Q, 48_000.0);
        let (re, im) = c.response(6500.0, 48_000.0);
        assert!((re - 1.0).abs() < 1e-9 && im.abs() < 1e-9, "{re} {im}");
        assert!(c.magnitude_db(500.0, 48_000.0) < -20.0);
    }

    #[test]
    fn the_shortcut_for_quiet_samples_changes_nothing() {
        // Real speech with added hiss, through a threshold glide: the output with the
        // shortcut is bit-for-bit the output computed the long way on every sample.
        let x = crate::restore::speech_with_hiss(0.003);
        let run = |no_shortcut: bool| {
            let mut d = DeEsser::new(48_000.0);
            d.no_shortcut = no_shortcut;
            d.snap_to(&DeEsserState {
                enabled: true,
                threshold_db: -40.0,
                ..DeEsserState::default()
            });
            let mut y = x.clone();
            for (i, b) in y.chunks_mut(64).enumerate() {
                if i == 200 {
                    d.set_target(&DeEsserState {
                        enabled: true,
                        threshold_db: -30.0,
                        ..DeEsserState::default()
                    });
                }
                d.process(&mut [b]);
            }
            y
        };
        let (fast, slow) = (run(false), run(true));
        assert!(crate::restore::bit_identical(&fast, &slow));
        // It de-essed something (the comparison is not between two bypasses).
        assert!(fast.iter().zip(&x).any(|(a, b)| (a - b).abs() > 1e-3));
    }
}
