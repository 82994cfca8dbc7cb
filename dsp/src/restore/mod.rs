//! Restoration: what a bad microphone or interface does that an EQ cannot undo —
//! clipping, clicks and pops, mains hum, broadband noise, a noise floor between
//! phrases, harsh sibilance.
//!
//! | stage | module | method | latency |
//! |---|---|---|---|
//! | de-clip | [`repair`] | clipped-run detection, constrained least-squares AR interpolation | shared lookahead |
//! | de-click | [`repair`] | two-sided AR prediction-error detection, step subtraction or least-squares AR interpolation | shared lookahead |
//! | hum removal | [`dehum`] | RBJ notches at the mains frequency and its harmonics | 0 |
//! | noise reduction | [`denoise`] | low-delay STFT (21 ms analysis, 5.3 ms synthesis), minima-controlled noise tracking, decision-directed log-spectral-amplitude gain | 2 hops − 1 (255 samples at 48 kHz) |
//! | expander | [`expander`] | downward expander with hysteresis and hold | 0 |
//! | de-esser | [`deesser`] | split-band dynamic cut of 4–10 kHz | 0 |
//!
//! [`Restoration`] runs the first five in this order, at the head of the chain:
//! `input → de-clip → de-click → hum removal → noise reduction → expander → EQ →
//! de-esser → …`.
//!
//! - **Restoration before EQ and dynamics**: an EQ boost or a compressor's gain spreads
//!   and raises clicks, clipping and noise, and the detectors rely on the damage looking
//!   like it left the microphone.
//! - **De-clip before de-click**: the clipper is the last thing in a recording chain (the
//!   converter), so its damage is undone first; and a clipped plateau's corners look
//!   like clicks to the click detector.
//! - **De-click before noise reduction**: a click spreads over a whole STFT frame once in
//!   the spectral domain and its energy disturbs the noise tracker, while the AR
//!   detector finds it as one unpredictable sample.
//! - **Hum removal after de-clip and de-click, before noise reduction**: the notches
//!   are linear filters, which would smear a clipped plateau or a click over their
//!   impulse response (seconds, for a Q of 60 at 50 Hz) before the repair could find
//!   it; and a steady tone is not what the noise tracker models (a broadband floor):
//!   left in, it raises the tracked floor in its bins and the reducer, set for the
//!   floor, leaves it anyway.
//! - **Noise reduction before the expander**: the expander then works on the lowered
//!   floor and needs less range, so it gates less audibly.
//! - **De-esser after the EQ** (in [`crate::chain`]): it must react to the tone the EQ
//!   made, so a high-shelf boost that brings out sibilance is tamed too.
//!
//! **Latency** is one constant for the whole section, [`latency_samples`]: the repair
//! lookahead plus the STFT frame, whatever is switched on; a stage that is off still
//! delays its path, so switching one on never changes what the host compensates.
//! At 44.1 / 48 / 96 kHz it is 493 / 531 / 1035 samples (11.2 / 11.1 / 10.8 ms).
//!
//! Every stage works at any rate from [`MIN_STAGE_SAMPLE_RATE`] to
//! [`MAX_STAGE_SAMPLE_RATE`] (the `Chain` itself accepts a narrower range) and follows
//! the crate's realtime rules: `new` allocates everything at its session-rate size;
//! `process`, `set_target`, `snap_to` and `reset` never allocate, lock, block or panic.

pub mod ar;
pub mod deesser;
pub mod dehum;
pub mod denoise;
pub mod expander;
pub mod repair;

use crate::state::RestorationState;

pub use deesser::DeEsser;
pub use dehum::Dehum;
pub use denoise::Denoiser;
pub use expander::Expander;
pub use repair::Repair;

/// Lowest sample rate the restoration stages run at, Hz.
pub const MIN_STAGE_SAMPLE_RATE: f32 = 1_000.0;
/// Highest sample rate the restoration stages run at, Hz.
pub const MAX_STAGE_SAMPLE_RATE: f32 = 768_000.0;

/// Rate used when a constructor receives NaN, Hz.
const FALLBACK_SAMPLE_RATE: f32 = 48_000.0;

/// `sample_rate` clamped to the stages' range (NaN → 48 kHz).
pub(crate) fn clamp_rate(sample_rate: f32) -> f32 {
    if sample_rate.is_nan() {
        FALLBACK_SAMPLE_RATE
    } else {
        sample_rate.clamp(MIN_STAGE_SAMPLE_RATE, MAX_STAGE_SAMPLE_RATE)
    }
}

/// `10·log10(ms)`, dB, of a mean square in `1e-30 ..= 1e30`, for the per-sample level
/// detectors: single precision's `log2` (error below 3e-5 dB over that range) costs a
/// fraction of a double-precision `log10` on every sample.
#[inline]
pub(crate) fn power_db(ms: f64) -> f64 {
    /// `10·log10(2)`: dB per doubling of power.
    const DB_PER_OCTAVE_OF_POWER: f64 = 3.010_299_956_639_812;
    DB_PER_OCTAVE_OF_POWER * f64::from((ms as f32).log2())
}

/// `10^(db/20)`, the amplitude of a gain in dB, for the per-sample gain computers:
/// single precision's `exp2` (relative error below 3e-6 for |db| ≤ 200, mostly the
/// rounding of the exponent to single precision).
#[inline]
pub(crate) fn db_to_amplitude(db: f64) -> f64 {
    f64::from(((db * (std::f64::consts::LOG2_10 / 20.0)) as f32).exp2())
}

/// A mean square this factor (−0.004 dB) away from a level is on the same side of it
/// whatever the rounding of [`power_db`] (< 3e-5 dB): the level detectors compare mean
/// squares against [`PowerOfDb`] with this margin and take the logarithm only near the
/// level, with the same result as comparing the logarithms.
pub(crate) const CLEAR_MARGIN: f64 = 0.999;

/// `10^(db/10)` of a level that changes only while a setting glides, recomputed only
/// when it changes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PowerOfDb {
    db: f64,
    power: f64,
}

impl PowerOfDb {
    pub(crate) const fn new() -> Self {
        PowerOfDb {
            db: f64::NAN,
            power: 0.0,
        }
    }

    /// `10^(db/10)`.
    #[inline]
    pub(crate) fn of(&mut self, db: f64) -> f64 {
        if db != self.db {
            self.db = db;
            self.power = 10f64.powf(db / 10.0);
        }
        self.power
    }
}

/// Latency of the restoration section at `sample_rate` Hz, samples: the repair stage's
/// ([`repair::latency_samples`]) plus the denoiser's ([`denoise::latency_samples`]).
/// The same whatever stages are on.
pub fn latency_samples(sample_rate: f32) -> usize {
    repair::latency_samples(sample_rate) + denoise::latency_samples(sample_rate)
}

/// `N` settings that move in a straight line to a new goal over a fixed number of
/// samples, one step per [`Glide::advance`], and land exactly on it: the parameter
/// glides of the de-esser, the expander and the hum remover (in whatever units each
/// glides in: dB, log2 Hz, a 0..1 mix). A new goal mid-glide restarts the full length
/// from where the settings are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Glide<const N: usize> {
    cur: [f64; N],
    goal: [f64; N],
    step: [f64; N],
    len: u32,
    left: u32,
}

impl<const N: usize> Glide<N> {
    /// Settled at `value`; glides take `len` samples (at least 1).
    pub(crate) fn new(value: [f64; N], len: u32) -> Self {
        Glide {
            cur: value,
            goal: value,
            step: [0.0; N],
            len: len.max(1),
            left: 0,
        }
    }

    /// Starts a glide to `goal`; false, and nothing changes, when it is already the goal.
    pub(crate) fn set_goal(&mut self, goal: [f64; N]) -> bool {
        if goal == self.goal {
            return false;
        }
        self.goal = goal;
        let n = f64::from(self.len);
        for ((s, g), c) in self.step.iter_mut().zip(&goal).zip(&self.cur) {
            *s = (g - c) / n;
        }
        self.left = self.len;
        true
    }

    /// Jumps to `value` and settles there.
    pub(crate) fn snap(&mut self, value: [f64; N]) {
        *self = Glide::new(value, self.len);
    }

    /// Moves one sample on; false when settled (nothing moved).
    #[inline]
    pub(crate) fn advance(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        if self.left == 0 {
            self.cur = self.goal;
        } else {
            for (c, s) in self.cur.iter_mut().zip(&self.step) {
                *c += s;
            }
        }
        true
    }

    /// The settings now.
    #[inline]
    pub(crate) fn value(&self) -> [f64; N] {
        self.cur
    }

    /// True while a glide is under way.
    #[inline]
    pub(crate) fn gliding(&self) -> bool {
        self.left > 0
    }

    /// True when setting `i` moves in the glide under way (or the last one).
    pub(crate) fn moves(&self, i: usize) -> bool {
        self.step.get(i).is_some_and(|&s| s != 0.0)
    }
}

/// A per-sample linear glide toward a target (cross-fades of on/off).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fade {
    value: f32,
    target: f32,
    step: f32,
    left: u32,
    len: u32,
}

impl Fade {
    pub(crate) fn new(value: f32, len: u32) -> Self {
        Fade {
            value,
            target: value,
            step: 0.0,
            left: 0,
            len: len.max(1),
        }
    }

    pub(crate) fn set_target(&mut self, target: f32) {
        if target != self.target {
            self.target = target;
            self.left = self.len;
            self.step = (target - self.value) / self.len as f32;
        }
    }

    pub(crate) fn snap(&mut self, target: f32) {
        *self = Fade::new(target, self.len);
    }

    #[inline]
    pub(crate) fn next(&mut self) -> f32 {
        if self.left > 0 {
            self.left -= 1;
            self.value = if self.left == 0 {
                self.target
            } else {
                self.value + self.step
            };
        }
        self.value
    }

    pub(crate) fn value(&self) -> f32 {
        self.value
    }

    pub(crate) fn target(&self) -> f32 {
        self.target
    }
}

/// The restoration section of the chain: de-clip and de-click ([`Repair`]), hum
/// removal ([`Dehum`]), noise reduction ([`Denoiser`]), expander ([`Expander`]), in
/// that order (see the module documentation for why), with the constant latency
/// [`latency_samples`].
pub struct Restoration {
    repair: Repair,
    dehum: Dehum,
    denoise: Denoiser,
    expander: Expander,
    latency: usize,
}

impl Restoration {
    /// The section for `channels` (1 or 2) at `sample_rate` Hz, every stage off.
    /// Allocates all buffers.
    pub fn new(sample_rate: f32, channels: usize) -> Self {
        let repair = Repair::new(sample_rate, channels);
        let denoise = Denoiser::new(sample_rate, channels);
        let latency = repair.latency_samples() + denoise.latency_samples();
        Restoration {
            repair,
            dehum: Dehum::new(sample_rate),
            denoise,
            expander: Expander::new(sample_rate),
            latency,
        }
    }

    /// The section's latency, samples ([`latency_samples`] at the session rate).
    pub fn latency_samples(&self) -> usize {
        self.latency
    }

    /// Sets new settings (each stage glides or cross-fades). Realtime-safe.
    pub fn set_target(&mut self, s: &RestorationState) {
        self.repair.set_target(&s.declip, &s.declick);
        self.dehum.set_target(&s.dehum);
        self.denoise.set_target(&s.denoise);
        self.expander.set_target(&s.expander);
    }

    /// Sets new settings with no glide. Realtime-safe.
    pub fn snap_to(&mut self, s: &RestorationState) {
        self.repair.set_target(&s.declip, &s.declick);
        self.dehum.snap_to(&s.dehum);
        self.denoise.snap_to(&s.denoise);
        self.expander.snap_to(&s.expander);
    }

    /// Clears all memory (delay lines, models, noise floor, envelopes). Realtime-safe.
    pub fn reset(&mut self) {
        self.repair.reset();
        self.dehum.reset();
        self.denoise.reset();
        self.expander.reset();
    }

    /// The repair stage (for its counters).
    pub fn repair(&self) -> &Repair {
        &self.repair
    }

    /// The noise reducer (for its noise floor).
    pub fn denoiser(&self) -> &Denoiser {
        &self.denoise
    }

    /// The expander's current gain reduction, dB ≥ 0.
    pub fn expander_reduction_db(&self) -> f32 {
        self.expander.gain_reduction_db()
    }

    /// Processes `channels` in place; the output is delayed by
    /// [`Restoration::latency_samples`]. Never allocates, locks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        self.repair.process(channels);
        self.dehum.process(channels);
        self.denoise.process(channels);
        self.expander.process(channels);
    }
}

/// Whether `a` and `b` hold the same samples bit for bit (and as many): what the
/// restoration stages' fast and vectorized paths are tested to give.
#[cfg(test)]
pub(crate) fn bit_identical(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The shipped VCTK example (mono, 48 kHz) plus uniform hiss `hiss · (u − ½)`, `u` from
/// xorshift32 with a fixed seed: real speech for the restoration stages' unit tests.
#[cfg(test)]
pub(crate) fn speech_with_hiss(hiss: f32) -> Vec<f32> {
    let mut rng = crate::ir::Xorshift32(0x2545_f491);
    faurge_io::read(faurge_io::examples::VCTK_SPEECH)
        .expect("shipped example")
        .to_mono()
        .iter()
        .map(|v| v + hiss * (rng.next_u32() as f32 / u32::MAX as f32 - 0.5))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glide_moves_in_a_straight_line_and_lands_exactly() {
        let mut g = Glide::new([0.0, 10.0], 4);
        assert!(!g.advance(), "settled: nothing moves");
        assert!(!g.set_goal([0.0, 10.0]), "the same goal is not a new glide");
        assert!(g.set_goal([1.0, 0.3]));
        let mut seen = Vec::new();
        while g.advance() {
            seen.push(g.value());
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[1], [0.5, 10.0 - 2.0 * (9.7 / 4.0)]);
        assert_eq!(seen[3], [1.0, 0.3], "lands exactly on the goal");
        assert!(!g.gliding() && g.moves(0) && g.moves(1) && !g.moves(2));
        // A new goal mid-glide restarts the full length from where it is.
        assert!(g.set_goal([3.0, 0.3]));
        g.advance();
        assert!(g.set_goal([1.0, 0.3]));
        let mut n = 0;
        while g.advance() {
            n += 1;
        }
        assert_eq!((n, g.value()), (4, [1.0, 0.3]));
        assert!(!g.moves(1));
        g.snap([7.0, 7.0]);
        assert!(!g.gliding() && !g.advance());
        assert_eq!(g.value(), [7.0, 7.0]);
    }

    #[test]
    fn level_helpers_match_the_double_precision_formulas() {
        let mut ms = 1e-30f64;
        while ms <= 1e30 {
            let want = 10.0 * ms.log10();
            assert!(
                (power_db(ms) - want).abs() < 3e-5,
                "{ms}: {} vs {want}",
                power_db(ms)
            );
            ms *= 1.37;
        }
        let mut db = -200.0f64;
        while db <= 200.0 {
            let want = 10f64.powf(db / 20.0);
            assert!((db_to_amplitude(db) / want - 1.0).abs() < 3e-6, "{db} dB");
            db += 0.173;
        }
    }
}
