//! Mains hum removal: narrow notches at the mains frequency and its first harmonics.
//!
//! **What hum is.** A ground loop or a transformer near the cable adds the mains
//! frequency (50 or 60 Hz) and its harmonics — odd ones from a saturating core, even
//! ones from a rectifier — as steady tones. Speech has almost nothing at 50–60 Hz and
//! never a tone that holds one frequency for seconds, so a notch narrow enough to
//! follow the tone removes it and leaves the voice.
//!
//! **Filter.** For harmonic `k` (1 ≤ `k` ≤ the harmonics setting, and `k·f` below
//! [`MAX_FREQ_FRACTION_OF_RATE`]·fs) the signal passes
//! `y = x − m_k·bp_k(x)`, a cascade over `k`, where `bp_k` is the RBJ cookbook
//! band-pass ("constant 0 dB peak gain", R. Bristow-Johnson, *Audio EQ Cookbook*) at
//! `k·f` with quality `Q`. At `m_k = 1` this is exactly the cookbook notch
//! (`1 − BP = (1 − 2cos ω₀ z⁻¹ + z⁻²)/(1 + α − 2cos ω₀ z⁻¹ + (1 − α) z⁻²)`): zero gain
//! at `k·f`, −3 dB at `k·f·(1 ± 1/(2Q))`. The same `Q` for every harmonic gives each
//! the same *relative* width, as the tones' drift is relative too (a grid 0.1 % off
//! moves the 8th harmonic eight times as far as the fundamental). Each notch removes
//! `π/(2Q)` of a flat spectrum's power in the octave around it — at the default
//! [`crate::state::DEFAULT_DEHUM_Q`] (60) about 3 % of a 1/3-octave band, 0.1 dB.
//!
//! **Changes.** Each notch's depth `m_k` follows the fade shape of
//! [`crate::fade::blend_wet`] over [`GLIDE_MS`] when it is switched on or off (the
//! stage as a whole, or a harmonic by the harmonics setting); frequency and Q glide
//! (log) over the same time, the filters redesigned every [`REDESIGN_SAMPLES`]
//! samples while they do. A notch that is off and faded out is not computed and its
//! memory is cleared.
//!
//! **Ringing and silence.** A notch's band-pass rings for `τ = Q/(π·k·f)` after its
//! tone stops (0.38 s at 50 Hz and Q 60): with the input cut to digital silence (a
//! muted interface, the end of a region) the output would go on with the *removed*
//! hum, inverted, for seconds. Once the input has been exactly 0 on every channel for
//! [`SILENCE_MS`], the notches' contribution fades out over [`SILENCE_MS`] and their
//! memory is cleared, so silence in is exact silence out 20 ms later; it fades back in
//! over the same time when sound returns (from cleared memory, so without a step).
//!
//! No latency. Realtime: [`Dehum::new`] does not allocate, nor does anything else;
//! `process`, `set_target`, `snap_to` and `reset` never lock or panic. Non-finite
//! input never enters the filter state.

// Index loops here run over harmonics and channels in step.
#![allow(clippy::needless_range_loop)]

use super::deesser::band_pass;
use super::{clamp_rate, Glide};
use crate::biquad::{BiquadState, Coefficients};
use crate::fade::blend_wet;
use crate::simd::{madd64, Isa};
use crate::state::{
    clamp_or, DehumState, MAX_DEHUM_FREQ_HZ, MAX_DEHUM_HARMONICS, MAX_DEHUM_Q, MIN_DEHUM_FREQ_HZ,
    MIN_DEHUM_HARMONICS, MIN_DEHUM_Q,
};
use crate::MAX_CHANNELS;

/// Most notches the stage runs (the harmonics setting's maximum).
pub const MAX_NOTCHES: usize = MAX_DEHUM_HARMONICS as usize;
/// Glide time of on/off, frequency, Q and harmonics, ms.
pub const GLIDE_MS: f64 = 20.0;
/// While frequency or Q glide, the notches are redesigned this often, samples.
pub const REDESIGN_SAMPLES: u32 = 16;
/// A harmonic at or above this fraction of the sample rate is not notched.
pub const MAX_FREQ_FRACTION_OF_RATE: f64 = 0.45;
/// Digital silence this long, ms, fades the notches' ringing out (module docs).
pub const SILENCE_MS: f64 = 10.0;
/// Output below this magnitude is flushed to zero (−600 dBFS): a notch of high Q
/// rings for seconds after its tone stops, and in a long silence its decay would
/// reach denormal `f32` numbers (the filter memory itself is flushed by
/// [`BiquadState::tick`]).
pub const FLUSH_BELOW: f64 = 1e-30;

/// `state` with every value in its range (NaN → the default).
pub fn clamp_state(s: &DehumState) -> DehumState {
    let d = DehumState::default();
    DehumState {
        enabled: s.enabled,
        freq_hz: clamp_or(s.freq_hz, MIN_DEHUM_FREQ_HZ, MAX_DEHUM_FREQ_HZ, d.freq_hz),
        harmonics: s.harmonics.clamp(MIN_DEHUM_HARMONICS, MAX_DEHUM_HARMONICS),
        q: clamp_or(s.q, MIN_DEHUM_Q, MAX_DEHUM_Q, d.q),
    }
}

/// Mains hum remover (see the module documentation).
#[derive(Clone, Debug)]
pub struct Dehum {
    sample_rate: f64,
    target: DehumState,
    /// Log2 frequency and log2 Q (gliding).
    glide: Glide<2>,
    redesign_in: u32,
    /// Per-sample step of the notches' fades (a whole fade takes [`GLIDE_MS`]).
    fade_step: f64,
    /// Fade position of each notch, 0 (off) ..= 1 (on).
    pos: [f64; MAX_NOTCHES],
    pos_goal: [f64; MAX_NOTCHES],
    /// `blend_wet(pos)` of each notch, updated only while it fades.
    mix: [f64; MAX_NOTCHES],
    coeffs: [Coefficients; MAX_NOTCHES],
    state: [[BiquadState; MAX_CHANNELS]; MAX_NOTCHES],
    /// Samples of digital silence in a row, and how many fade the ringing out.
    silent_run: u32,
    silence_len: u32,
    /// Gain of the notches' contribution (1, or fading to 0 in digital silence).
    tail_gain: f64,
    /// Instruction set of the filter loops.
    isa: Isa,
    /// Tests set this to run every block through the general loop.
    #[cfg(test)]
    general_only: bool,
}

impl Dehum {
    /// A hum remover at `sample_rate` Hz (clamped to
    /// [`super::MIN_STAGE_SAMPLE_RATE`]`..=`[`super::MAX_STAGE_SAMPLE_RATE`]; NaN means
    /// 48 kHz), off.
    pub fn new(sample_rate: f32) -> Self {
        let fs = f64::from(clamp_rate(sample_rate));
        let s = DehumState::default();
        let glide_len = ((GLIDE_MS * 1e-3 * fs).round() as u32).max(1);
        let mut d = Dehum {
            sample_rate: fs,
            target: s,
            glide: Glide::new([0.0; 2], glide_len),
            redesign_in: 0,
            fade_step: 1.0 / f64::from(glide_len),
            pos: [0.0; MAX_NOTCHES],
            pos_goal: [0.0; MAX_NOTCHES],
            mix: [0.0; MAX_NOTCHES],
            coeffs: [Coefficients::IDENTITY; MAX_NOTCHES],
            state: [[BiquadState::default(); MAX_CHANNELS]; MAX_NOTCHES],
            silent_run: 0,
            silence_len: ((SILENCE_MS * 1e-3 * fs).round() as u32).max(1),
            tail_gain: 1.0,
            isa: Isa::detect(),
            #[cfg(test)]
            general_only: false,
        };
        d.snap_to(&s);
        d
    }

    fn shape(s: &DehumState) -> [f64; 2] {
        [f64::from(s.freq_hz).log2(), f64::from(s.q).log2()]
    }

    /// Whether notch `k` (0-based: harmonic `k + 1`) is wanted by `s` at this rate.
    fn wanted(&self, s: &DehumState, k: usize) -> bool {
        let f = f64::from(s.freq_hz) * (k + 1) as f64;
        s.enabled && (k as u32) < s.harmonics && f < MAX_FREQ_FRACTION_OF_RATE * self.sample_rate
    }

    fn design(&mut self) {
        let [f, q] = self.glide.value().map(f64::exp2);
        for k in 0..MAX_NOTCHES {
            let fk = f * (k + 1) as f64;
            self.coeffs[k] = if fk < MAX_FREQ_FRACTION_OF_RATE * self.sample_rate {
                band_pass(fk, q, self.sample_rate)
            } else {
                Coefficients::IDENTITY
            };
        }
    }

    /// Sets new settings; everything glides over [`GLIDE_MS`]. Clamped; NaN → default.
    /// Realtime-safe.
    pub fn set_target(&mut self, state: &DehumState) {
        let s = clamp_state(state);
        self.target = s;
        for k in 0..MAX_NOTCHES {
            self.pos_goal[k] = if self.wanted(&s, k) { 1.0 } else { 0.0 };
        }
        if self.glide.set_goal(Self::shape(&s)) {
            self.redesign_in = 0;
        }
    }

    /// Sets new settings with no glide. Realtime-safe.
    pub fn snap_to(&mut self, state: &DehumState) {
        let s = clamp_state(state);
        self.target = s;
        self.glide.snap(Self::shape(&s));
        for k in 0..MAX_NOTCHES {
            self.pos_goal[k] = if self.wanted(&s, k) { 1.0 } else { 0.0 };
            self.pos[k] = self.pos_goal[k];
            self.mix[k] = self.pos[k];
        }
        self.design();
    }

    /// Clears filter memory and completes any glide. Realtime-safe.
    pub fn reset(&mut self) {
        self.state = [[BiquadState::default(); MAX_CHANNELS]; MAX_NOTCHES];
        self.silent_run = 0;
        self.tail_gain = 1.0;
        let t = self.target;
        self.snap_to(&t);
    }

    /// Notches now removing hum (switched on and not faded out).
    pub fn active_notches(&self) -> usize {
        self.pos.iter().filter(|&&p| p > 0.0).count()
    }

    /// Removes hum from `channels` in place (1 or 2; unequal lengths: the common
    /// length). Never allocates, locks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        match self.isa {
            Isa::Generic => self.process_with::<false>(channels),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2Fma` comes only from `Isa::detect`, which checked that
            // this CPU has AVX2 and FMA.
            Isa::Avx2Fma => unsafe { self.process_avx2(channels) },
        }
    }

    /// [`Dehum::process_with`] compiled for AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn process_avx2(&mut self, channels: &mut [&mut [f32]]) {
        self.process_with::<true>(channels);
    }

    /// [`Dehum::process`], with fused multiply-adds in the notches when `FMA`.
    #[inline(always)]
    fn process_with<const FMA: bool>(&mut self, channels: &mut [&mut [f32]]) {
        let n_ch = channels.len().min(MAX_CHANNELS);
        let Some(len) = channels[..n_ch].iter().map(|c| c.len()).min() else {
            return;
        };
        let fade_step = self.fade_step;
        let tail_step = 1.0 / f64::from(self.silence_len);
        for k in 0..MAX_NOTCHES {
            if self.pos[k] == 0.0 && self.pos_goal[k] == 0.0 {
                self.state[k] = [BiquadState::default(); MAX_CHANNELS];
            }
        }
        // Notches past the last one that is on or fading are not computed.
        let Some(last) = (0..MAX_NOTCHES)
            .rev()
            .find(|&k| self.pos[k] != 0.0 || self.pos_goal[k] != 0.0)
        else {
            return;
        };
        let used = last + 1;
        if self.steady() && no_silent_sample(&channels[..n_ch], len) {
            // Nothing glides, fades or falls silent in this block: the same arithmetic
            // as below without the per-sample bookkeeping.
            match n_ch {
                1 => self.run_steady::<1, FMA>(channels, len, used),
                _ => self.run_steady::<2, FMA>(channels, len, used),
            }
            self.silent_run = 0;
            return;
        }
        for i in 0..len {
            self.advance_glide();
            for k in 0..used {
                let (p, goal) = (self.pos[k], self.pos_goal[k]);
                if p != goal {
                    self.pos[k] = if p < goal {
                        (p + fade_step).min(goal)
                    } else {
                        (p - fade_step).max(goal)
                    };
                    self.mix[k] = blend_wet(self.pos[k]);
                }
            }
            let mut y = [0.0f64; MAX_CHANNELS];
            for c in 0..n_ch {
                let x = f64::from(channels[c][i]);
                y[c] = if x.is_finite() { x } else { 0.0 };
            }
            if y[..n_ch].iter().all(|&v| v == 0.0) {
                self.silent_run = self.silent_run.saturating_add(1);
            } else {
                self.silent_run = 0;
            }
            if self.silent_run >= self.silence_len {
                if self.tail_gain > 0.0 {
                    self.tail_gain = (self.tail_gain - tail_step).max(0.0);
                    if self.tail_gain == 0.0 {
                        // Faded out in silence: clear the ringing, once.
                        self.state = [[BiquadState::default(); MAX_CHANNELS]; MAX_NOTCHES];
                    }
                }
                if self.tail_gain == 0.0 {
                    // The output is the input's exact zeros (a non-finite sample
                    // counted as silence becomes 0 too).
                    for c in 0..n_ch {
                        channels[c][i] = 0.0;
                    }
                    continue;
                }
            } else if self.tail_gain < 1.0 {
                self.tail_gain = (self.tail_gain + tail_step).min(1.0);
            }
            for k in 0..used {
                if self.pos[k] == 0.0 && self.pos_goal[k] == 0.0 {
                    continue;
                }
                let m = self.mix[k] * self.tail_gain;
                let keep = 1.0 - m * self.coeffs[k].b0;
                for c in 0..n_ch {
                    y[c] = notch::<FMA>(&mut self.state[k][c], &self.coeffs[k], keep, m, y[c]);
                }
            }
            for c in 0..n_ch {
                channels[c][i] = if y[c].abs() < FLUSH_BELOW {
                    0.0
                } else {
                    y[c] as f32
                };
            }
        }
    }

    /// True when no frequency or Q glides, no notch fades and no silence fade runs:
    /// every sample of a block then meets the same filters.
    fn steady(&self) -> bool {
        #[cfg(test)]
        if self.general_only {
            return false;
        }
        !self.glide.gliding() && self.pos == self.pos_goal && self.tail_gain == 1.0
    }

    /// The per-sample loop of [`Dehum::process`] for a [`Dehum::steady`] block in which
    /// every sample has a finite non-zero value on some channel (so no silence is
    /// counted): the notches `0..used` that are on, in series, on `N` channels, with
    /// their memory in locals. Bit-identical to the general loop.
    #[inline(always)]
    fn run_steady<const N: usize, const FMA: bool>(
        &mut self,
        channels: &mut [&mut [f32]],
        len: usize,
        used: usize,
    ) {
        let mut on = [0usize; MAX_NOTCHES];
        let mut n_on = 0;
        for k in 0..used {
            if self.pos[k] != 0.0 {
                on[n_on] = k;
                n_on += 1;
            }
        }
        let mut coeffs = [Coefficients::IDENTITY; MAX_NOTCHES];
        let mut mix = [(0.0f64, 0.0f64); MAX_NOTCHES];
        let mut state = [[BiquadState::default(); N]; MAX_NOTCHES];
        for (j, &k) in on[..n_on].iter().enumerate() {
            coeffs[j] = self.coeffs[k];
            // `tail_gain` is 1 in a steady block.
            let m = self.mix[k];
            mix[j] = (1.0 - m * self.coeffs[k].b0, m);
            state[j].copy_from_slice(&self.state[k][..N]);
        }
        let (coeffs, mix, state_on) = (&coeffs[..n_on], &mix[..n_on], &mut state[..n_on]);
        for i in 0..len {
            let mut y = [0.0f64; N];
            for c in 0..N {
                let x = f64::from(channels[c][i]);
                y[c] = if x.is_finite() { x } else { 0.0 };
            }
            for ((c, &(keep, m)), st) in coeffs.iter().zip(mix).zip(state_on.iter_mut()) {
                for ch in 0..N {
                    y[ch] = notch::<FMA>(&mut st[ch], c, keep, m, y[ch]);
                }
            }
            for c in 0..N {
                channels[c][i] = if y[c].abs() < FLUSH_BELOW {
                    0.0
                } else {
                    y[c] as f32
                };
            }
        }
        for (j, &k) in on[..n_on].iter().enumerate() {
            self.state[k][..N].copy_from_slice(&state[j]);
        }
    }

    /// One sample of the glide; the notches follow every [`REDESIGN_SAMPLES`] and
    /// where it lands.
    #[inline]
    fn advance_glide(&mut self) {
        if !self.glide.advance() {
            return;
        }
        if self.redesign_in == 0 || !self.glide.gliding() {
            self.design();
            self.redesign_in = REDESIGN_SAMPLES;
        }
        self.redesign_in -= 1;
    }
}

/// One notch at depth `m` on one sample: `y − m·bp(y)` with the band-pass `bp` of
/// `state` and `c`, written `keep·y − m·s1` (`keep = 1 − m·b0`, `s1` the band-pass
/// memory before this sample), the same sum as `y − m·(b0·y + s1)`, so that in a
/// cascade of notches each adds one multiply and one subtract to the path from the
/// input to the output, not two of each (one fused operation when `FMA`). Advances
/// `state`.
#[inline(always)]
fn notch<const FMA: bool>(
    state: &mut BiquadState,
    c: &Coefficients,
    keep: f64,
    m: f64,
    y: f64,
) -> f64 {
    let out = madd64::<FMA>(keep, y, -(m * state.s1()));
    state.tick_isa::<FMA>(c, y);
    out
}

/// True when every one of the first `len` samples has a finite, non-zero value on some
/// channel: [`Dehum::process`] would count no sample of them as silence.
fn no_silent_sample(channels: &[&mut [f32]], len: usize) -> bool {
    match channels {
        [a] => a[..len].iter().all(|v| v.is_finite() && *v != 0.0),
        [a, b, ..] => a[..len]
            .iter()
            .zip(&b[..len])
            .all(|(x, y)| (x.is_finite() && *x != 0.0) || (y.is_finite() && *y != 0.0)),
        [] => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Xorshift32;
    use std::f64::consts::PI;

    fn tone(f: f64, n: usize, fs: f64) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (2.0 * PI * f * i as f64 / fs).sin()) as f32)
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn on(freq_hz: f32, harmonics: u32) -> DehumState {
        DehumState {
            enabled: true,
            freq_hz,
            harmonics,
            ..DehumState::default()
        }
    }

    #[test]
    fn the_notches_remove_the_mains_and_its_harmonics_and_pass_the_voice_band() {
        let fs = 48_000.0;
        let mut d = Dehum::new(fs as f32);
        d.snap_to(&on(60.0, 3));
        // A notch of Q 60 at 60 Hz rings for τ = Q/(π·f) = 0.32 s: judged after 2 s.
        for (f, most_db) in [(60.0, -40.0), (120.0, -40.0), (180.0, -40.0)] {
            d.reset();
            let mut x = tone(f, 144_000, fs);
            d.process(&mut [&mut x[..]]);
            let db = 20.0 * (rms(&x[96_000..]) / (0.5 / 2f64.sqrt())).log10();
            assert!(db < most_db, "{f} Hz: {db:.1} dB");
        }
        // Between the harmonics, and above the last one, the voice passes.
        for f in [90.0, 150.0, 240.0, 1000.0] {
            d.reset();
            let mut x = tone(f, 144_000, fs);
            d.process(&mut [&mut x[..]]);
            let db = 20.0 * (rms(&x[96_000..]) / (0.5 / 2f64.sqrt())).log10();
            assert!(db.abs() < 0.1, "{f} Hz: {db:.2} dB");
        }
    }

    #[test]
    fn off_is_exactly_transparent_and_switching_on_glides() {
        let fs = 48_000.0;
        let mut d = Dehum::new(fs as f32);
        let x = tone(50.0, 4800, fs);
        let mut y = x.clone();
        d.process(&mut [&mut y[..]]);
        assert_eq!(x, y);
        // Switched on, the 50 Hz tone fades out over the glide, with no step.
        d.set_target(&on(50.0, 1));
        let mut y = tone(50.0, 144_000, fs);
        d.process(&mut [&mut y[..]]);
        let steps = y
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        let most = (2.0 * PI * 50.0 / fs * 0.5) as f32;
        assert!(
            steps <= most * 1.05,
            "largest step {steps} vs the tone's {most}"
        );
        assert!(rms(&y[120_000..]) < 0.01 * rms(&y[..2000]));
        assert_eq!(d.active_notches(), 1);
    }

    #[test]
    fn digital_silence_fades_the_ringing_out_and_is_exact_silence_20_ms_later() {
        let fs = 48_000.0;
        let mut d = Dehum::new(fs as f32);
        d.snap_to(&DehumState {
            q: 300.0,
            ..on(50.0, 4)
        });
        let mut x = tone(50.0, 48_000, fs);
        x.extend(std::iter::repeat_n(0.0, 4800));
        d.process(&mut [&mut x[..]]);
        let tail = &x[48_000..];
        // Still ringing 5 ms into the silence, exactly 0 from 20 ms on, no step.
        assert!(tail[240].abs() > 1e-4, "{}", tail[240]);
        assert!(tail[960..].iter().all(|&v| v == 0.0));
        let steps = tail
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        assert!(steps < 0.01, "{steps}");
        // Sound again: the notch works again (at Q 60, which settles in 2 s).
        d.snap_to(&on(50.0, 4));
        let mut y = tone(50.0, 96_000, fs);
        d.process(&mut [&mut y[..]]);
        assert!(rms(&y[90_000..]) < 0.05 * rms(&y[..2000]));
    }

    #[test]
    fn non_finite_input_never_enters_the_state() {
        let mut d = Dehum::new(44_100.0);
        d.snap_to(&on(50.0, 8));
        let mut x = vec![f32::NAN; 256];
        x[10] = f32::INFINITY;
        d.process(&mut [&mut x[..]]);
        assert!(x.iter().all(|v| v.is_finite()));
        let mut y = tone(1000.0, 4410, 44_100.0);
        d.process(&mut [&mut y[..]]);
        assert!(y.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn harmonics_above_the_rate_limit_are_not_notched() {
        // At 1 kHz only harmonics below 450 Hz may be designed: 7 of 16 at 60 Hz.
        let mut d = Dehum::new(1_000.0);
        d.snap_to(&on(60.0, 16));
        assert_eq!(d.active_notches(), 7);
        let mut x = tone(100.0, 2000, 1000.0);
        d.process(&mut [&mut x[..]]);
        assert!(x.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn the_steady_block_path_matches_the_general_loop_bit_for_bit() {
        // Stereo hum and noise with gaps of digital silence and a NaN, through a change
        // of frequency, Q and harmonics half-way: blocks of every kind (steady, gliding,
        // fading, silent) in blocks of 64, against the general loop alone, on the
        // baseline instruction set and on the one this CPU has.
        let fs = 48_000.0;
        let n = 48_000;
        let mut rng = Xorshift32(0x9e37_79b9_u32);
        let mut left: Vec<f32> = (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                (0.3 * (2.0 * PI * 50.0 * t).sin()
                    + 0.05 * (f64::from(rng.next_u32()) / f64::from(u32::MAX) - 0.5))
                    as f32
            })
            .collect();
        left[20_000..21_000].iter_mut().for_each(|v| *v = 0.0);
        left[30_000] = f32::NAN;
        let mut right: Vec<f32> = left.iter().map(|v| -0.5 * v).collect();
        right[25_000..25_100].iter_mut().for_each(|v| *v = 0.0);
        let run = |general_only: bool, stereo: bool, isa: Isa| {
            let mut d = Dehum::new(fs as f32);
            d.general_only = general_only;
            d.isa = isa;
            d.snap_to(&on(60.0, 8));
            let (mut l, mut r) = (left.clone(), right.clone());
            for (i, (bl, br)) in l.chunks_mut(64).zip(r.chunks_mut(64)).enumerate() {
                if i == 200 {
                    d.set_target(&DehumState {
                        q: 30.0,
                        ..on(50.0, 3)
                    });
                }
                if stereo {
                    d.process(&mut [bl, br]);
                } else {
                    d.process(&mut [bl]);
                }
            }
            (l, r)
        };
        for (stereo, isa) in [
            (false, Isa::Generic),
            (true, Isa::Generic),
            (false, Isa::detect()),
            (true, Isa::detect()),
        ] {
            let (fast, general) = (run(false, stereo, isa), run(true, stereo, isa));
            assert!(crate::restore::bit_identical(&fast.0, &general.0));
            assert!(crate::restore::bit_identical(&fast.1, &general.1));
            // The hum was removed (the comparison is not between two no-ops).
            assert!(rms(&fast.0[44_000..]) < 0.2 * rms(&left[44_000..]));
        }
    }
}
