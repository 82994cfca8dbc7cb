//! Downward expander / gate for the noise floor between phrases: stereo-linked, with
//! hysteresis and hold so it never chatters.
//!
//! After D. Giannoulis, M. Massberg and J. D. Reiss, "Digital Dynamic Range Compressor
//! Design — A Tutorial and Analysis", JAES 60(6), 2012 (the gain computer mirrored below
//! the threshold, as in their §2 on expanders and gates), with the gate's hysteresis and
//! hold of classic noise gates. Per sample, levels in dB:
//!
//! 1. Level detector: linked mean square `m ← β·m + (1−β)·max_ch x²` with time constant
//!    [`DETECTOR_MS`] (short enough to open on a consonant, long enough not to follow the
//!    waveform of a 100 Hz voice), `L = 10·log10(m)`.
//! 2. State: the expander is *open* once `L ≥ T` (threshold) and stays open while
//!    `L ≥ T − H` ([`HYSTERESIS_DB`]) or for [`HOLD_MS`] after the level last stood at or
//!    above `T − H`; otherwise it is *closed*.
//! 3. Gain computer: open → no reduction; closed → `x_L = min(range, (R − 1)·(T − L))`
//!    (for `L < T` the output level is `T + R·(L − T)`, a ratio of `R`:1 downward).
//! 4. Smoothing (the paper's branching detector, eq. (16)): the reduction rises (the
//!    expander closes) with the *release* time and falls (it opens) with the *attack*
//!    time, `α = exp(−1/(τ·fs))`, so attack is how fast speech is let through.
//! 5. Gain `10^{−mix·y/20}`, the same on every channel; `mix` glides 0↔1 over
//!    [`GLIDE_MS`] on switching, and threshold, ratio and range glide over the same time.
//!
//! No lookahead (no latency). Realtime: [`Expander::new`] is the only function that may
//! allocate (it does not); `process`, `set_target`, `snap_to`, `reset` never allocate,
//! lock or panic. Non-finite input never enters the detector.

// Index loops here follow the formulas (matrix rows and columns, filter taps).
#![allow(clippy::needless_range_loop)]

use super::{clamp_rate, db_to_amplitude, power_db, Glide, PowerOfDb, CLEAR_MARGIN};
use crate::state::{
    clamp_or, ExpanderState, MAX_EXPANDER_ATTACK_MS, MAX_EXPANDER_RANGE_DB, MAX_EXPANDER_RATIO,
    MAX_EXPANDER_RELEASE_MS, MAX_EXPANDER_THRESHOLD_DB, MIN_EXPANDER_ATTACK_MS,
    MIN_EXPANDER_RANGE_DB, MIN_EXPANDER_RATIO, MIN_EXPANDER_RELEASE_MS, MIN_EXPANDER_THRESHOLD_DB,
};

/// Level detector time constant, ms.
pub const DETECTOR_MS: f64 = 10.0;
/// Hysteresis: once open, the expander closes only below threshold − this, dB.
pub const HYSTERESIS_DB: f64 = 4.0;
/// Hold time after the level last stood above the closing level, ms.
pub const HOLD_MS: f64 = 60.0;
/// Glide time of threshold, ratio, range and on/off, ms.
pub const GLIDE_MS: f64 = 20.0;

/// Mean-square floor of the detector (−200 dB): silence never gives −inf.
const MS_FLOOR: f64 = 1e-20;

/// Downward expander (see the module documentation).
#[derive(Clone, Debug)]
pub struct Expander {
    sample_rate: f64,
    target: ExpanderState,
    /// Threshold dB, ratio − 1, range dB, mix 0..1 (gliding).
    glide: Glide<4>,
    beta: f64,
    alpha_attack: f64,
    alpha_release: f64,
    hold_len: u32,
    hold_left: u32,
    open: bool,
    ms: f64,
    /// Smoothed reduction, dB ≥ 0.
    env_db: f64,
    last_gain_db: f64,
    last_gain: f32,
    /// The threshold as a mean square.
    threshold_power: PowerOfDb,
    /// Tests set this to compute every sample the long way.
    #[cfg(test)]
    no_shortcut: bool,
}

fn clamp_state(s: &ExpanderState) -> ExpanderState {
    let d = ExpanderState::default();
    ExpanderState {
        enabled: s.enabled,
        threshold_db: clamp_or(
            s.threshold_db,
            MIN_EXPANDER_THRESHOLD_DB,
            MAX_EXPANDER_THRESHOLD_DB,
            d.threshold_db,
        ),
        ratio: clamp_or(s.ratio, MIN_EXPANDER_RATIO, MAX_EXPANDER_RATIO, d.ratio),
        range_db: clamp_or(
            s.range_db,
            MIN_EXPANDER_RANGE_DB,
            MAX_EXPANDER_RANGE_DB,
            d.range_db,
        ),
        attack_ms: clamp_or(
            s.attack_ms,
            MIN_EXPANDER_ATTACK_MS,
            MAX_EXPANDER_ATTACK_MS,
            d.attack_ms,
        ),
        release_ms: clamp_or(
            s.release_ms,
            MIN_EXPANDER_RELEASE_MS,
            MAX_EXPANDER_RELEASE_MS,
            d.release_ms,
        ),
    }
}

fn glided(s: &ExpanderState) -> [f64; 4] {
    [
        f64::from(s.threshold_db),
        f64::from(s.ratio) - 1.0,
        f64::from(s.range_db),
        if s.enabled { 1.0 } else { 0.0 },
    ]
}

impl Expander {
    /// An expander at `sample_rate` Hz (clamped to
    /// [`super::MIN_STAGE_SAMPLE_RATE`]`..=`[`super::MAX_STAGE_SAMPLE_RATE`]; NaN means
    /// 48 kHz) with [`ExpanderState::default`] settings (off).
    pub fn new(sample_rate: f32) -> Self {
        let fs = f64::from(clamp_rate(sample_rate));
        let s = ExpanderState::default();
        let mut e = Expander {
            sample_rate: fs,
            target: s,
            glide: Glide::new(glided(&s), (GLIDE_MS * 1e-3 * fs).round() as u32),
            beta: (-1.0 / (DETECTOR_MS * 1e-3 * fs)).exp(),
            alpha_attack: 0.0,
            alpha_release: 0.0,
            hold_len: (HOLD_MS * 1e-3 * fs).round() as u32,
            hold_left: 0,
            open: false,
            ms: MS_FLOOR,
            env_db: 0.0,
            last_gain_db: 0.0,
            last_gain: 1.0,
            threshold_power: PowerOfDb::new(),
            #[cfg(test)]
            no_shortcut: false,
        };
        e.snap_to(&s);
        e
    }

    /// Sets new settings; threshold, ratio, range and on/off glide over [`GLIDE_MS`],
    /// attack and release apply at once. Clamped to the ranges in [`crate::state`]; NaN
    /// falls back to the default. Realtime-safe.
    pub fn set_target(&mut self, state: &ExpanderState) {
        let s = clamp_state(state);
        self.set_times(&s);
        self.target = s;
        self.glide.set_goal(glided(&s));
    }

    /// Sets new settings with no glide. Realtime-safe.
    pub fn snap_to(&mut self, state: &ExpanderState) {
        let s = clamp_state(state);
        self.set_times(&s);
        self.target = s;
        self.glide.snap(glided(&s));
    }

    /// Clears the detector and the envelope and completes any glide. Realtime-safe.
    pub fn reset(&mut self) {
        self.ms = MS_FLOOR;
        self.env_db = 0.0;
        self.open = false;
        self.hold_left = 0;
        let t = self.target;
        self.snap_to(&t);
    }

    /// Current gain reduction, dB ≥ 0 (for meters).
    pub fn gain_reduction_db(&self) -> f32 {
        (self.glide.value()[3] * self.env_db) as f32
    }

    /// The settings the expander is at or gliding to (clamped).
    pub fn target(&self) -> &ExpanderState {
        &self.target
    }

    fn set_times(&mut self, s: &ExpanderState) {
        let fs = self.sample_rate;
        self.alpha_attack = (-1000.0 / (f64::from(s.attack_ms) * fs)).exp();
        self.alpha_release = (-1000.0 / (f64::from(s.release_ms) * fs)).exp();
    }

    /// Expands `channels` in place (1 or 2, linked; unequal lengths: the common length).
    /// No latency. Never allocates, locks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let n_ch = channels.len().min(crate::MAX_CHANNELS);
        let Some(len) = channels[..n_ch].iter().map(|c| c.len()).min() else {
            return;
        };
        if !self.glide.gliding() && self.glide.value()[3] == 0.0 {
            // Off and faded out: bypass; the detector restarts when switched on.
            self.env_db = 0.0;
            self.ms = MS_FLOOR;
            self.open = false;
            return;
        }
        for i in 0..len {
            let mut peak2 = 0.0f64;
            for c in channels[..n_ch].iter() {
                let v = f64::from(c[i]);
                let v2 = v * v;
                // NaN and inf never enter the detector.
                if v2.is_finite() && v2 > peak2 {
                    peak2 = v2;
                }
            }
            let g = self.tick(peak2);
            for c in channels[..n_ch].iter_mut() {
                c[i] *= g;
            }
        }
    }

    /// True when the detector's mean square is above `threshold` (dB) by more than the
    /// rounding of [`power_db`].
    #[inline]
    fn clearly_above(&mut self, threshold: f64) -> bool {
        #[cfg(test)]
        if self.no_shortcut {
            return false;
        }
        CLEAR_MARGIN * self.ms > self.threshold_power.of(threshold)
    }

    #[inline]
    fn tick(&mut self, x2: f64) -> f32 {
        self.glide.advance();
        let [threshold, slope, range, mix] = self.glide.value();
        self.ms = (self.beta * self.ms + (1.0 - self.beta) * x2.min(1e12)).max(MS_FLOOR);
        let x_l = if self.clearly_above(threshold) {
            // What the branches below give for a level at or above the threshold, known
            // without the logarithm (most samples of speech).
            self.open = true;
            self.hold_left = self.hold_len;
            0.0
        } else {
            let level = power_db(self.ms);
            if level >= threshold {
                self.open = true;
            }
            if level >= threshold - HYSTERESIS_DB {
                self.hold_left = self.hold_len;
            } else if self.hold_left > 0 {
                self.hold_left -= 1;
            } else {
                self.open = false;
            }
            if self.open {
                0.0
            } else {
                (slope * (threshold - level)).clamp(0.0, range)
            }
        };
        let alpha = if x_l > self.env_db {
            self.alpha_release
        } else {
            self.alpha_attack
        };
        let mut y = x_l + alpha * (self.env_db - x_l);
        if y < 1e-6 && x_l == 0.0 {
            y = 0.0;
        }
        self.env_db = y;
        let gain_db = -mix * y;
        if gain_db != self.last_gain_db {
            self.last_gain_db = gain_db;
            self.last_gain = db_to_amplitude(gain_db) as f32;
        }
        self.last_gain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcut_for_loud_samples_changes_nothing() {
        // Real speech over a quiet hiss, through a threshold glide: the gain with the
        // shortcut is bit-for-bit the gain computed the long way on every sample.
        let x = crate::restore::speech_with_hiss(0.002);
        let on = |threshold_db: f32| ExpanderState {
            enabled: true,
            threshold_db,
            ..ExpanderState::default()
        };
        let run = |no_shortcut: bool| {
            let mut e = Expander::new(48_000.0);
            e.no_shortcut = no_shortcut;
            e.snap_to(&on(-40.0));
            let mut y = x.clone();
            for (i, b) in y.chunks_mut(64).enumerate() {
                if i == 300 {
                    e.set_target(&on(-30.0));
                }
                e.process(&mut [b]);
            }
            y
        };
        let (fast, slow) = (run(false), run(true));
        assert!(crate::restore::bit_identical(&fast, &slow));
        // It gated something and passed something.
        assert!(fast.iter().zip(&x).any(|(a, b)| (a - b).abs() > 1e-4));
        assert!(fast.iter().zip(&x).any(|(a, b)| a == b && a.abs() > 0.01));
    }
}
