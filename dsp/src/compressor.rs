//! Feed-forward, stereo-linked, log-domain soft-knee compressor with gain-reduction metering.
//!
//! Design after D. Giannoulis, M. Massberg and J. D. Reiss, "Digital Dynamic Range
//! Compressor Design — A Tutorial and Analysis", J. Audio Eng. Soc. 60(6), 2012
//! (below: "the paper"). Per sample `n`, with all levels in dB:
//!
//! 1. Detector input, stereo-linked: `x_G = 20·log10(max(max_ch |x_ch[n]|, 10^(−120/20)))`
//!    (the level is floored at [`LEVEL_FLOOR_DB`], so silence never yields −inf/NaN).
//! 2. Gain computer, soft knee (paper eq. (4)), threshold `T`, ratio `R`, knee width `W`:
//!    `y_G = x_G` if `2(x_G − T) < −W`;
//!    `y_G = x_G + (1/R − 1)(x_G − T + W/2)² / (2W)` if `2|x_G − T| ≤ W`;
//!    `y_G = T + (x_G − T)/R` if `2(x_G − T) > W`.
//! 3. Gain reduction before smoothing: `x_L = x_G − y_G` (≥ 0, since `R ≥ 1`).
//! 4. Level detector: the paper's *smooth branching* peak detector in the log domain,
//!    eq. (16): `y_L[n] = α_A·y_L[n−1] + (1 − α_A)·x_L[n]` if `x_L[n] > y_L[n−1]`, else
//!    `y_L[n] = α_R·y_L[n−1] + (1 − α_R)·x_L[n]`, with eq. (7) `α = exp(−1/(τ·fs))`,
//!    `τ_A = attack_ms / 1000`, `τ_R = release_ms / 1000`.
//! 5. Gain `g = 10^((makeup − y_L)/20)`, the same for every channel.
//!
//! **What attack and release mean.** Because each branch of eq. (16) is a plain one-pole
//! filter, a step in `x_L` (a step in input level) makes the gain reduction `y_L` move
//! exponentially: after a step up it covers `1 − 1/e ≈ 63 %` of its total change in
//! exactly `attack_ms` (up to one sample), and after a step down it covers 63 % of its
//! change in exactly `release_ms`. Time constants are in the dB (log) domain.
//!
//! **Why the branching, not the decoupled, detector.** The smooth decoupled detector
//! (paper eq. (17)) runs the release filter and then the attack filter in series, so its
//! release envelope is smeared by the attack filter: the 63 % release time becomes
//! roughly `attack + release` and depends on both settings. With the branching detector
//! each setting means exactly what its name says, which is what the helper's models
//! (Ursula's differentiable compressor model) and the user's expectations assume.
//! Like any peak detector it follows the waveform, not an RMS envelope: on a periodic
//! signal the reduction ripples within each period unless the release is much longer
//! than the period (with fast attack and slow release it holds the peaks).
//!
//! Settings: threshold, ratio, knee and makeup glide linearly to a new target over
//! [`GLIDE_MS`] (the ratio glides as the slope `1 − 1/R`, so the gain computer moves
//! linearly); attack and release take effect immediately. `enabled = false` glides
//! the whole gain (in dB) to 0 dB over the same time, after which the compressor is
//! bypassed (audio untouched, almost no cost). All settings are clamped to the
//! ranges in [`crate::state`]; NaN falls back to [`CompressorState::default`].
//!
//! **Lookahead.** [`Compressor::with_lookahead`] delays the audio by a fixed
//! [`LOOKAHEAD_MS`] while the detector reads it undelayed, so the gain has moved by the
//! time an onset arrives: `out[n] = g[n] · x[n − L]`. Without it a feed-forward
//! compressor lets the first milliseconds of every onset through while it holds the
//! body down, and the peak-to-RMS ratio it was asked to lower *rises* (measured on a
//! held-out voice with a podcast EQ: crest factor 12.9 dB without the compressor,
//! 13.5–15.1 dB with it at every threshold, ratio and release tried). The delay runs
//! whether the compressor is on or off, so the latency never changes. The `Chain`
//! uses it; [`Compressor::new`] has none.
//!
//! Realtime: [`Compressor::new`] and [`Compressor::with_lookahead`] are the only
//! functions that may allocate (the lookahead's delay line); `process`, `set_target`,
//! `snap_to` and `reset` never allocate, lock, make syscalls or panic.

use crate::state::{
    clamp_or, CompressorState, MAX_ATTACK_MS, MAX_KNEE_DB, MAX_MAKEUP_DB, MAX_RATIO,
    MAX_RELEASE_MS, MAX_THRESHOLD_DB, MIN_ATTACK_MS, MIN_KNEE_DB, MIN_MAKEUP_DB, MIN_RATIO,
    MIN_RELEASE_MS, MIN_THRESHOLD_DB,
};
use crate::{MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

/// Duration of the linear glide of threshold, ratio, knee, makeup and enable, ms.
pub const GLIDE_MS: f32 = 20.0;

/// The `Chain`'s compressor lookahead, ms: ten time constants of the shortest attack
/// ([`MIN_ATTACK_MS`]), so even that attack has completed (to 99.995 %) when an onset
/// reaches the gain.
pub const LOOKAHEAD_MS: f32 = 1.0;

/// `sample_rate` as the compressor runs at it: clamped to
/// `MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE`, NaN as 48 kHz.
fn session_rate(sample_rate: f32) -> f64 {
    if sample_rate.is_nan() {
        FALLBACK_SAMPLE_RATE
    } else {
        f64::from(sample_rate.clamp(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE))
    }
}

/// The lookahead of `lookahead_ms` at `sample_rate`, whole samples (rounded; the rate
/// clamped as [`Compressor::new`] clamps it, NaN as 48 kHz).
pub fn lookahead_samples(sample_rate: f32, lookahead_ms: f32) -> usize {
    let sr = session_rate(sample_rate);
    let ms = if lookahead_ms.is_finite() {
        f64::from(lookahead_ms.clamp(0.0, 100.0))
    } else {
        0.0
    };
    (ms * 1e-3 * sr).round() as usize
}

/// The detector's level floor, dBFS: `|x|` below `10^(LEVEL_FLOOR_DB/20)` counts as this
/// level, so silence never produces −inf or NaN. It lies below [`MIN_THRESHOLD_DB`] minus
/// half the widest knee, so it never changes the gain computer's output.
pub const LEVEL_FLOOR_DB: f32 = -120.0;

/// The detector's level ceiling, dBFS: larger `|x|` (including +inf) count as this level,
/// so the gain computer never sees an infinite level.
pub const LEVEL_CEILING_DB: f32 = 120.0;

/// Gain reductions (before and after smoothing) below this many dB are flushed to exactly
/// 0 dB, so a decaying envelope reaches exactly 0 (unity gain) in bounded time and never
/// becomes denormal. A 1e-6 dB gain change is below `f32` resolution of a unity gain.
pub const ENVELOPE_FLUSH_DB: f64 = 1e-6;

/// Sample rate used when `new` receives NaN, Hz.
const FALLBACK_SAMPLE_RATE: f64 = 48_000.0;

/// `20 / ln(10)`: dB per neper, so `20·log10(a) = DB_PER_NEPER · ln(a)`.
const DB_PER_NEPER: f64 = 8.685_889_638_065_035;
/// `ln(10) / 20`: `10^(d/20) = exp(d · NEPER_PER_DB)`.
const NEPER_PER_DB: f64 = 0.115_129_254_649_702_28;

/// The settings that glide, in the form the per-sample code uses.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Glided {
    /// Threshold `T`, dBFS.
    threshold_db: f64,
    /// `1 − 1/R`: 0 for no compression, → 1 for limiting.
    slope: f64,
    /// Knee width `W`, dB.
    knee_db: f64,
    /// Makeup gain, dB.
    makeup_db: f64,
    /// 1 when enabled, 0 when bypassed; scales the whole gain in dB.
    mix: f64,
}

impl Glided {
    fn from_state(s: &CompressorState) -> Self {
        Glided {
            threshold_db: f64::from(s.threshold_db),
            slope: 1.0 - 1.0 / f64::from(s.ratio),
            knee_db: f64::from(s.knee_db),
            makeup_db: f64::from(s.makeup_db),
            mix: if s.enabled { 1.0 } else { 0.0 },
        }
    }

    /// Per-sample increment that takes `self` to `goal` in `steps` samples.
    fn step_to(&self, goal: &Glided, steps: u32) -> Glided {
        let n = f64::from(steps.max(1));
        Glided {
            threshold_db: (goal.threshold_db - self.threshold_db) / n,
            slope: (goal.slope - self.slope) / n,
            knee_db: (goal.knee_db - self.knee_db) / n,
            makeup_db: (goal.makeup_db - self.makeup_db) / n,
            mix: (goal.mix - self.mix) / n,
        }
    }

    fn add(&mut self, d: &Glided) {
        self.threshold_db += d.threshold_db;
        self.slope += d.slope;
        self.knee_db += d.knee_db;
        self.makeup_db += d.makeup_db;
        self.mix += d.mix;
    }
}

/// `state` with every field inside the ranges of [`crate::state`]; NaN becomes the
/// default value, ±inf the nearest bound.
fn clamp_state(state: &CompressorState) -> CompressorState {
    let d = CompressorState::default();
    CompressorState {
        enabled: state.enabled,
        threshold_db: clamp_or(
            state.threshold_db,
            MIN_THRESHOLD_DB,
            MAX_THRESHOLD_DB,
            d.threshold_db,
        ),
        ratio: clamp_or(state.ratio, MIN_RATIO, MAX_RATIO, d.ratio),
        knee_db: clamp_or(state.knee_db, MIN_KNEE_DB, MAX_KNEE_DB, d.knee_db),
        attack_ms: clamp_or(state.attack_ms, MIN_ATTACK_MS, MAX_ATTACK_MS, d.attack_ms),
        release_ms: clamp_or(
            state.release_ms,
            MIN_RELEASE_MS,
            MAX_RELEASE_MS,
            d.release_ms,
        ),
        makeup_db: clamp_or(state.makeup_db, MIN_MAKEUP_DB, MAX_MAKEUP_DB, d.makeup_db),
    }
}

/// Gain reduction before smoothing, `x_L = x_G − y_G` in dB, of the soft-knee gain
/// computer (paper eq. (4)) with threshold `t` dB, slope `1 − 1/R` and knee width `w` dB.
/// `w = 0` is a hard knee.
#[inline(always)]
fn static_reduction_db(x_g: f64, t: f64, slope: f64, w: f64) -> f64 {
    let over = x_g - t;
    if 2.0 * over > w {
        slope * over
    } else if 2.0 * over < -w || w <= 0.0 {
        0.0
    } else {
        let d = over + 0.5 * w;
        slope * d * d / (2.0 * w)
    }
}

/// `exp(−1/(τ·fs))` for `τ = ms / 1000` (paper eq. (7)).
fn one_pole_coefficient(ms: f32, sample_rate: f64) -> f64 {
    (-1000.0 / (f64::from(ms) * sample_rate)).exp()
}

/// Feed-forward, stereo-linked, soft-knee compressor (see the module documentation for
/// the signal flow, the formulas and their source).
///
/// Owns no heap memory but the lookahead's delay line. All methods except the
/// constructors are realtime-safe.
#[derive(Clone, Debug)]
pub struct Compressor {
    /// Session sample rate, Hz (clamped to `MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE`).
    sample_rate: f64,
    /// The clamped target state (what [`Compressor::target`] returns).
    target: CompressorState,
    /// Glide length, samples (`GLIDE_MS` at the session rate, at least 1).
    glide_len: u32,
    /// Samples left in the current glide; 0 when settled.
    glide_left: u32,
    /// Current (possibly gliding) settings.
    cur: Glided,
    /// Where the glide ends.
    goal: Glided,
    /// Per-sample increment during the glide.
    step: Glided,
    /// Attack coefficient `α_A`.
    alpha_attack: f64,
    /// Release coefficient `α_R`.
    alpha_release: f64,
    /// Smoothed gain reduction `y_L`, dB, ≥ 0.
    env_db: f64,
    /// `|x|` at or below which `x_L` is exactly 0 (start of the knee, linear), so the
    /// logarithm can be skipped; 0 while gliding (always compute), +inf for ratio 1.
    quiet_below: f32,
    /// Gain (dB) of the last computed sample and its linear value, to skip the `exp`
    /// while the gain does not change.
    last_gain_db: f64,
    /// Linear value of `last_gain_db`.
    last_gain: f32,
    /// Lookahead, samples (0: none).
    lookahead: usize,
    /// The delay line: `lookahead` samples per channel, channel after channel.
    delay: Vec<f32>,
    /// Next slot of the delay line to read and write.
    delay_pos: usize,
}

impl Compressor {
    /// A compressor at `sample_rate` Hz with [`CompressorState::default`] settings (which
    /// are disabled, so it starts bypassed).
    ///
    /// `sample_rate` is clamped to `MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE`; NaN means 48 kHz.
    pub fn new(sample_rate: f32) -> Self {
        Self::with_lookahead(sample_rate, 0.0)
    }

    /// [`Compressor::new`] with the audio delayed by `lookahead_ms` (rounded to whole
    /// samples, see [`lookahead_samples`]) against the detector. Allocates the delay
    /// line (at most 100 ms for up to [`crate::MAX_CHANNELS`] channels).
    pub fn with_lookahead(sample_rate: f32, lookahead_ms: f32) -> Self {
        let lookahead = lookahead_samples(sample_rate, lookahead_ms);
        let sample_rate = session_rate(sample_rate);
        let glide_len = (f64::from(GLIDE_MS) * 1e-3 * sample_rate).round().max(1.0) as u32;
        let state = CompressorState::default();
        let g = Glided::from_state(&state);
        let mut c = Compressor {
            sample_rate,
            target: state,
            glide_len,
            glide_left: 0,
            cur: g,
            goal: g,
            step: g.step_to(&g, 1),
            alpha_attack: 0.0,
            alpha_release: 0.0,
            env_db: 0.0,
            quiet_below: 0.0,
            last_gain_db: 0.0,
            last_gain: 1.0,
            lookahead,
            delay: vec![0.0; lookahead * crate::MAX_CHANNELS],
            delay_pos: 0,
        };
        c.snap_to(&state);
        c
    }

    /// The lookahead, samples: how much later than its input the output is.
    pub fn lookahead_samples(&self) -> usize {
        self.lookahead
    }

    /// Sets new settings. Threshold, ratio, knee, makeup and `enabled` glide linearly
    /// from their current values to the new ones over [`GLIDE_MS`] (a new call during a
    /// glide restarts it from where it is); attack and release apply at once. Calling it
    /// again with the same settings changes nothing, so it may be called every block.
    ///
    /// Out-of-range values are clamped to the ranges in [`crate::state`]; NaN falls back
    /// to the default value. Realtime-safe.
    pub fn set_target(&mut self, state: &CompressorState) {
        let s = clamp_state(state);
        self.set_time_constants(&s);
        self.target = s;
        let goal = Glided::from_state(&s);
        if goal == self.goal {
            return;
        }
        self.goal = goal;
        self.step = self.cur.step_to(&goal, self.glide_len);
        self.glide_left = self.glide_len;
        // While the threshold and knee move, always take the exact (logarithm) path.
        self.quiet_below = 0.0;
    }

    /// Sets new settings without a glide (for initialisation and preset loads while the
    /// audio is stopped; under audio it can click). Keeps the envelope. Same clamping as
    /// [`Compressor::set_target`]. Realtime-safe.
    pub fn snap_to(&mut self, state: &CompressorState) {
        let s = clamp_state(state);
        self.set_time_constants(&s);
        self.target = s;
        self.goal = Glided::from_state(&s);
        self.cur = self.goal;
        self.glide_left = 0;
        self.update_quiet_below();
    }

    /// Clears the envelope (no gain reduction) and completes any glide (the settings jump
    /// to the target), as after a host reset. Realtime-safe.
    pub fn reset(&mut self) {
        self.env_db = 0.0;
        self.delay.iter_mut().for_each(|v| *v = 0.0);
        self.delay_pos = 0;
        let target = self.target;
        self.snap_to(&target);
    }

    /// The current gain reduction, dB (≥ 0; 0 = none), as applied to the last processed
    /// sample and excluding makeup: `mix · y_L`, where `mix` is 1 when enabled and
    /// glides to 0 when disabled. For meters.
    pub fn gain_reduction_db(&self) -> f32 {
        (self.cur.mix * self.env_db) as f32
    }

    /// The settings the compressor is at or gliding to, as clamped by
    /// [`Compressor::set_target`] / [`Compressor::snap_to`].
    pub fn target(&self) -> &CompressorState {
        &self.target
    }

    /// Static curve of the gain computer: output level (dB) for a steady input level
    /// `input_db` (dB), without makeup and regardless of `enabled`. Soft knee per
    /// Giannoulis, Massberg & Reiss, "Digital Dynamic Range Compressor Design — A
    /// Tutorial and Analysis", JAES 60(6), 2012, eq. (4) (written out in the module
    /// documentation); `knee_db = 0` is a hard knee.
    ///
    /// `state` is clamped like [`Compressor::set_target`]. ±inf input gives ±inf; NaN
    /// gives NaN.
    pub fn static_curve_db(state: &CompressorState, input_db: f32) -> f32 {
        let s = clamp_state(state);
        let g = Glided::from_state(&s);
        let x = f64::from(input_db);
        if x.is_infinite() {
            return input_db;
        }
        (x - static_reduction_db(x, g.threshold_db, g.slope, g.knee_db)) as f32
    }

    /// Compresses `channels` in place.
    ///
    /// `channels`: 1 or 2 channels (mono or stereo) of equal length, any length including
    /// 0. Stereo is linked: one gain, computed from the louder channel, is applied to
    /// both. Channels beyond [`crate::MAX_CHANNELS`] are left untouched; with unequal
    /// lengths only the common length is processed. No allocation, lock, syscall or
    /// panic. Non-finite input samples never enter the compressor's state (the detector
    /// clamps the level to `LEVEL_FLOOR_DB..=LEVEL_CEILING_DB`), but they are passed
    /// through scaled (the `Chain` sanitizes its input first).
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        match channels {
            [] => {}
            [mono] => self.process_channels(mono, None),
            [left, right, ..] => self.process_channels(left, Some(right)),
        }
    }

    /// Processes the common length of `left` and `right`, splitting it into a gliding
    /// part and a settled part, and stopping as soon as the compressor is bypassed.
    fn process_channels(&mut self, left: &mut [f32], mut right: Option<&mut [f32]>) {
        let len = match right.as_deref() {
            Some(r) => left.len().min(r.len()),
            None => left.len(),
        };
        let mut start = 0;
        while start < len {
            if self.glide_left == 0 && self.cur.mix == 0.0 {
                // Disabled and faded out: bypass (only the lookahead's delay). The
                // envelope restarts from 0 when enabled.
                self.env_db = 0.0;
                if self.lookahead > 0 {
                    let l = left.get_mut(start..len).unwrap_or_default();
                    let r = right.as_deref_mut().and_then(|r| r.get_mut(start..len));
                    self.delay_only(l, r);
                }
                return;
            }
            let gliding = self.glide_left > 0;
            let end = if gliding {
                len.min(start.saturating_add(self.glide_left as usize))
            } else {
                len
            };
            let l = left.get_mut(start..end).unwrap_or_default();
            let r = right.as_deref_mut().and_then(|r| r.get_mut(start..end));
            match (gliding, r) {
                (true, None) => self.run_mono::<true>(l),
                (false, None) => self.run_mono::<false>(l),
                (true, Some(r)) => self.run_stereo::<true>(l, r),
                (false, Some(r)) => self.run_stereo::<false>(l, r),
            }
            start = end;
        }
    }

    fn run_mono<const GLIDING: bool>(&mut self, x: &mut [f32]) {
        for s in x.iter_mut() {
            let g = self.tick::<GLIDING>(s.abs());
            let d = self.delayed(0, *s);
            self.advance_delay();
            *s = d * g;
        }
    }

    fn run_stereo<const GLIDING: bool>(&mut self, l: &mut [f32], r: &mut [f32]) {
        for (a, b) in l.iter_mut().zip(r.iter_mut()) {
            // `f32::max` ignores NaN, so the peak is never NaN.
            let g = self.tick::<GLIDING>(a.abs().max(b.abs()));
            let (da, db) = (self.delayed(0, *a), self.delayed(1, *b));
            self.advance_delay();
            *a = da * g;
            *b = db * g;
        }
    }

    /// Pushes `x` into channel `ch`'s delay line and returns the sample `lookahead`
    /// samples older (`x` itself without lookahead).
    #[inline(always)]
    fn delayed(&mut self, ch: usize, x: f32) -> f32 {
        if self.lookahead == 0 {
            return x;
        }
        match self.delay.get_mut(ch * self.lookahead + self.delay_pos) {
            Some(slot) => std::mem::replace(slot, x),
            None => x,
        }
    }

    #[inline(always)]
    fn advance_delay(&mut self) {
        if self.lookahead > 0 {
            self.delay_pos += 1;
            if self.delay_pos >= self.lookahead {
                self.delay_pos = 0;
            }
        }
    }

    /// The bypass with lookahead: the delay line alone.
    fn delay_only(&mut self, l: &mut [f32], r: Option<&mut [f32]>) {
        match r {
            None => {
                for s in l.iter_mut() {
                    *s = self.delayed(0, *s);
                    self.advance_delay();
                }
            }
            Some(r) => {
                for (a, b) in l.iter_mut().zip(r.iter_mut()) {
                    *a = self.delayed(0, *a);
                    *b = self.delayed(1, *b);
                    self.advance_delay();
                }
            }
        }
    }

    /// One sample of the side chain: advances the glide (when `GLIDING`), runs the gain
    /// computer and the branching detector on the linked peak `|x|`, and returns the
    /// linear gain to apply.
    #[inline(always)]
    fn tick<const GLIDING: bool>(&mut self, peak: f32) -> f32 {
        if GLIDING {
            self.advance_glide();
        }
        // Gain reduction before smoothing, x_L (dB). `peak <= quiet_below` is false for
        // NaN, which then takes the exact path and is clamped there.
        let x_l = if peak <= self.quiet_below {
            0.0
        } else {
            let lin = peak.clamp(
                db_to_lin_const(LEVEL_FLOOR_DB),
                db_to_lin_const(LEVEL_CEILING_DB),
            );
            let lin = if lin.is_nan() {
                db_to_lin_const(LEVEL_FLOOR_DB)
            } else {
                lin
            };
            let x_g = DB_PER_NEPER * f64::from(lin.ln());
            let c = &self.cur;
            let x_l = static_reduction_db(x_g, c.threshold_db, c.slope, c.knee_db);
            if x_l >= ENVELOPE_FLUSH_DB {
                x_l
            } else {
                0.0
            }
        };
        // Smooth branching peak detector (paper eq. (16)).
        let prev = self.env_db;
        let alpha = if x_l > prev {
            self.alpha_attack
        } else {
            self.alpha_release
        };
        let mut y = x_l + alpha * (prev - x_l);
        if (x_l == 0.0 && y < ENVELOPE_FLUSH_DB) || !y.is_finite() {
            y = 0.0;
        }
        self.env_db = y;
        let gain_db = self.cur.mix * (self.cur.makeup_db - y);
        if gain_db != self.last_gain_db {
            self.last_gain_db = gain_db;
            self.last_gain = ((gain_db * NEPER_PER_DB) as f32).exp();
        }
        self.last_gain
    }

    /// Moves the glided settings one sample towards the goal; lands exactly on it.
    #[inline(always)]
    fn advance_glide(&mut self) {
        if self.glide_left <= 1 {
            self.glide_left = 0;
            self.cur = self.goal;
            self.update_quiet_below();
        } else {
            self.glide_left -= 1;
            let step = self.step;
            self.cur.add(&step);
        }
    }

    fn set_time_constants(&mut self, s: &CompressorState) {
        self.alpha_attack = one_pole_coefficient(s.attack_ms, self.sample_rate);
        self.alpha_release = one_pole_coefficient(s.release_ms, self.sample_rate);
    }

    /// Recomputes the linear level below which `x_L = 0` (start of the knee,
    /// `T − W/2`), from the current, settled settings.
    fn update_quiet_below(&mut self) {
        let c = &self.cur;
        self.quiet_below = if c.slope <= 0.0 {
            f32::INFINITY
        } else {
            // 1e-3 dB below the knee start, so rounding never lets the shortcut skip a
            // sample the gain computer would reduce. Between this level and the knee
            // start the exact path also gives x_L = 0, so both paths agree exactly.
            let knee_start_db = c.threshold_db - 0.5 * c.knee_db - 1e-3;
            ((knee_start_db * NEPER_PER_DB).exp() as f32).max(0.0)
        };
    }
}

/// `10^(db/20)` for the detector's fixed limits (not on a per-sample path; folded by the
/// optimiser).
#[inline(always)]
fn db_to_lin_const(db: f32) -> f32 {
    (f64::from(db) * NEPER_PER_DB).exp() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_state_fixes_nan_and_infinities() {
        let s = CompressorState {
            enabled: true,
            threshold_db: f32::NAN,
            ratio: f32::INFINITY,
            knee_db: f32::NEG_INFINITY,
            attack_ms: 0.0,
            release_ms: 1e9,
            makeup_db: f32::NAN,
        };
        let c = clamp_state(&s);
        let d = CompressorState::default();
        assert_eq!(c.threshold_db, d.threshold_db);
        assert_eq!(c.ratio, MAX_RATIO);
        assert_eq!(c.knee_db, MIN_KNEE_DB);
        assert_eq!(c.attack_ms, MIN_ATTACK_MS);
        assert_eq!(c.release_ms, MAX_RELEASE_MS);
        assert_eq!(c.makeup_db, d.makeup_db);
    }

    #[test]
    fn reduction_is_continuous_at_the_knee_edges() {
        for &(t, r, w) in &[(-20.0, 4.0, 6.0), (-30.0, 20.0, 24.0), (-10.0, 1.5, 0.5)] {
            let slope = 1.0 - 1.0 / r;
            for edge in [t - w / 2.0, t + w / 2.0] {
                let below = static_reduction_db(edge - 1e-9, t, slope, w);
                let above = static_reduction_db(edge + 1e-9, t, slope, w);
                assert!((below - above).abs() < 1e-6, "{t} {r} {w} at {edge}");
            }
        }
    }
}
