//! The `Chain`: input → restoration (de-clip → de-click → hum removal → noise
//! reduction → expander) → EQ → de-esser → compressor → convolver (wet/dry) → output
//! trim.
//!
//! **Order.** Restoration comes first because an EQ boost or a compressor would spread
//! and raise clicks, clipping and noise, and its detectors expect the damage as the
//! microphone delivered it; within it, de-clip precedes de-click (the converter clips
//! last in a recording chain, and a clipped plateau's corners look like clicks), the hum
//! notches follow the repairs (a linear filter would smear what they detect) and
//! precede noise reduction (a steady tone is not the floor it tracks), de-click
//! precedes noise reduction (a click smeared over an STFT frame disturbs the noise
//! tracker) and the expander works on the floor the noise reduction left. The de-esser
//! follows the EQ so it reacts to the tone the EQ made. Details in [`crate::restore`].
//!
//! **Latency.** [`Chain::latency_samples`] ([`latency_samples`]) is the restoration
//! section's constant latency ([`crate::restore::latency_samples`]: 531 samples at
//! 48 kHz, 11.1 ms) plus the compressor's lookahead ([`crate::compressor::LOOKAHEAD_MS`]:
//! 48 samples at 48 kHz) plus the convolver's (0): 579 samples, 12.1 ms. It does not
//! depend on which stages are on: a stage that is off still delays its path, and stages cross-fade or glide when switched, so a bake that turns
//! one on changes neither the latency the host compensates nor the timing of anything.
//!
//! One `Chain` is what the plugin runs on its audio thread and what the helper's
//! shadow bake and the `faurge` CLI run offline, so what the helper judges is what
//! the user hears. It is driven by a [`DspState`] that the owner may change at any
//! time ([`Chain::set_state`]); every change glides, so automation never clicks.
//! Impulse responses arrive as kernels prepared off the audio thread
//! ([`Chain::kernel_builder`]) and are swapped in with the convolver's 10 ms
//! cross-fade ([`Chain::swap_ir`]).
//!
//! Realtime contract: [`Chain::new`] allocates everything; `process`, `set_state`,
//! `swap_ir`, `take_retired_ir` and `reset` never allocate, lock, block or panic.

use thiserror::Error;

use crate::compressor::Compressor;
use crate::convolver::{Convolver, ConvolverConfig, Kernel, KernelBuilder, DEFAULT_MAX_IR_SECONDS};
use crate::eq::Eq;
use crate::restore::{DeEsser, Restoration};
use crate::state::{db_to_gain, DspState};
use crate::{MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

/// Largest number of frames the chain processes in one internal step; host
/// blocks of any size are cut into steps of at most this many frames.
pub const MAX_STEP_FRAMES: usize = 256;

/// Glide time of the wet/dry mix and the output trim, ms.
pub const MIX_GLIDE_MS: f32 = 20.0;

/// Longest lead-in [`Chain::warm_up`] plays, seconds: several times the slowest
/// envelope (the compressor's and the expander's release, the de-esser's) and long
/// enough for the noise tracker to seed its minimum search.
pub const WARM_UP_S: f32 = 0.5;

/// The lead-in [`Chain::warm_up`] plays before one channel's `head` at `sample_rate`
/// Hz: up to [`WARM_UP_S`] of it mirrored in time, `head[k]`, …, `head[1]`
/// (continuous with `head[0]`; empty for fewer than 2 frames). For anything that
/// warms up a processor of its own the same way.
pub fn lead_in(head: &[f32], sample_rate: f32) -> impl Iterator<Item = f32> + '_ {
    let lead = ((WARM_UP_S * sample_rate) as usize).min(head.len().saturating_sub(1));
    head.get(1..=lead).unwrap_or(&[]).iter().rev().copied()
}

/// The latency of a `Chain` at `sample_rate`, samples: the restoration section's
/// ([`crate::restore::latency_samples`]) plus the compressor's lookahead
/// ([`crate::compressor::LOOKAHEAD_MS`]); the convolver adds none.
pub fn latency_samples(sample_rate: f32) -> usize {
    crate::restore::latency_samples(sample_rate)
        + crate::compressor::lookahead_samples(sample_rate, crate::compressor::LOOKAHEAD_MS)
}

/// Input samples are clamped to ±this before any processing (+60 dBFS): no real
/// signal reaches it, and it keeps filter state far from overflow.
pub const INPUT_LIMIT: f32 = 1000.0;

/// How to build a [`Chain`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainConfig {
    /// Session sample rate, Hz, within [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`].
    pub sample_rate: f32,
    /// 1 (mono) or 2 (stereo).
    pub channels: usize,
    /// Longest IR the convolver accepts, seconds at the session rate.
    pub max_ir_seconds: f32,
}

impl ChainConfig {
    /// A config with the default IR length ([`DEFAULT_MAX_IR_SECONDS`]).
    pub fn new(sample_rate: f32, channels: usize) -> Self {
        ChainConfig {
            sample_rate,
            channels,
            max_ir_seconds: DEFAULT_MAX_IR_SECONDS,
        }
    }
}

/// Why a [`Chain`] could not be built.
#[derive(Debug, Error, PartialEq)]
pub enum ChainError {
    /// The sample rate is outside the supported range.
    #[error("sample rate {0} Hz is not supported: use {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz")]
    SampleRate(f32),
    /// The channel count is not 1 or 2.
    #[error("{0} channels are not supported: use 1 (mono) or 2 (stereo)")]
    Channels(usize),
    /// The IR length is not a positive, finite number of seconds.
    #[error("maximum IR length {0} s is not supported: use a value between 0 and 60 s")]
    IrLength(f32),
}

/// A per-sample ramp toward a target: linear for the wet/dry mix, geometric (linear in
/// dB) for the output trim, so a trim change moves evenly in loudness and never raises
/// what a stage being switched on removes (see [`crate::fade`]).
#[derive(Clone, Copy, Debug)]
struct Ramp {
    value: f32,
    target: f32,
    /// Added each sample (linear) or multiplied in (geometric).
    step: f32,
    steps_left: u32,
    glide_samples: u32,
    /// Geometric: the value and the target are gains > 0, and the value moves by a
    /// constant factor per sample.
    geometric: bool,
}

impl Ramp {
    fn new(value: f32, glide_samples: u32) -> Self {
        Ramp {
            value,
            target: value,
            step: 0.0,
            steps_left: 0,
            glide_samples: glide_samples.max(1),
            geometric: false,
        }
    }

    /// A ramp of gains (> 0) that moves linearly in dB.
    fn geometric(value: f32, glide_samples: u32) -> Self {
        Ramp {
            geometric: true,
            ..Ramp::new(value, glide_samples)
        }
    }

    fn set_target(&mut self, target: f32) {
        if target != self.target {
            self.target = target;
            self.steps_left = self.glide_samples;
            let n = self.glide_samples as f32;
            self.step = if self.geometric {
                // Gains come from `db_to_gain` of a clamped trim, so both are > 0;
                // the floor only keeps the ratio finite whatever happens.
                (target.max(f32::MIN_POSITIVE) / self.value.max(f32::MIN_POSITIVE)).powf(1.0 / n)
            } else {
                (target - self.value) / n
            };
        }
    }

    fn snap(&mut self, target: f32) {
        *self = Ramp {
            geometric: self.geometric,
            ..Ramp::new(target, self.glide_samples)
        };
    }

    #[inline]
    fn next(&mut self) -> f32 {
        if self.steps_left > 0 {
            self.steps_left -= 1;
            self.value = if self.steps_left == 0 {
                self.target
            } else if self.geometric {
                self.value * self.step
            } else {
                self.value + self.step
            };
        }
        self.value
    }

    fn is_settled(&self) -> bool {
        self.steps_left == 0
    }
}

/// The whole signal path of one plugin instance or one offline render.
pub struct Chain {
    sample_rate: f32,
    channels: usize,
    state: DspState,
    restoration: Restoration,
    eq: Eq,
    deesser: DeEsser,
    compressor: Compressor,
    convolver: Convolver,
    /// True while the convolver runs; it is reset when it starts again after a pause.
    convolver_running: bool,
    mix: Ramp,
    trim: Ramp,
    dry: [[f32; MAX_STEP_FRAMES]; MAX_CHANNELS],
}

impl Chain {
    /// Builds a transparent chain ([`DspState::default`]); allocates the convolver
    /// for `config.max_ir_seconds`.
    ///
    /// # Errors
    /// [`ChainError`] for an unsupported rate, channel count or IR length.
    pub fn new(config: ChainConfig) -> Result<Self, ChainError> {
        let ChainConfig {
            sample_rate,
            channels,
            max_ir_seconds,
        } = config;
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(ChainError::SampleRate(sample_rate));
        }
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(ChainError::Channels(channels));
        }
        if !(max_ir_seconds > 0.0 && max_ir_seconds <= 60.0) {
            return Err(ChainError::IrLength(max_ir_seconds));
        }
        let state = DspState::default();
        let glide = (MIX_GLIDE_MS * 1e-3 * sample_rate).round() as u32;
        let mut chain = Chain {
            sample_rate,
            channels,
            state,
            restoration: Restoration::new(sample_rate, channels),
            eq: Eq::new(sample_rate),
            deesser: DeEsser::new(sample_rate),
            compressor: Compressor::with_lookahead(sample_rate, crate::compressor::LOOKAHEAD_MS),
            convolver: Convolver::new(ConvolverConfig::new(sample_rate, channels, max_ir_seconds)),
            convolver_running: false,
            mix: Ramp::new(0.0, glide),
            trim: Ramp::geometric(1.0, glide),
            dry: [[0.0; MAX_STEP_FRAMES]; MAX_CHANNELS],
        };
        chain.snap_to_state(&state);
        Ok(chain)
    }

    /// Session sample rate, Hz.
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Channel count (1 or 2).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The state the chain is gliding toward (clamped to valid ranges).
    pub fn state(&self) -> &DspState {
        &self.state
    }

    /// Sets a new state; every parameter glides to it. Out-of-range values are
    /// clamped ([`DspState::clamped`]). Realtime-safe.
    pub fn set_state(&mut self, state: &DspState) {
        self.state = state.clamped(self.sample_rate);
        self.restoration.set_target(&self.state.restoration);
        self.eq.set_target(&self.state.eq);
        self.deesser.set_target(&self.state.deesser);
        self.compressor.set_target(&self.state.compressor);
        self.mix.set_target(self.effective_mix());
        self.trim.set_target(db_to_gain(self.state.output_trim_db));
    }

    /// Jumps to `state` with no glide: for the start of an offline render, or
    /// right after construction. Realtime-safe, but clicks if audio is running.
    pub fn snap_to_state(&mut self, state: &DspState) {
        self.state = state.clamped(self.sample_rate);
        self.restoration.snap_to(&self.state.restoration);
        self.eq.snap_to(&self.state.eq);
        self.deesser.snap_to(&self.state.deesser);
        self.compressor.snap_to(&self.state.compressor);
        self.mix.snap(self.effective_mix());
        self.trim.snap(db_to_gain(self.state.output_trim_db));
    }

    fn effective_mix(&self) -> f32 {
        if self.state.convolver.enabled {
            self.state.convolver.mix
        } else {
            0.0
        }
    }

    /// A builder for IR kernels matching this chain's convolver; clone it to
    /// another thread and build kernels there (building allocates).
    pub fn kernel_builder(&self) -> KernelBuilder {
        self.convolver.kernel_builder()
    }

    /// Queues a new IR kernel for the 10 ms cross-fade. Realtime-safe.
    ///
    /// # Errors
    /// Gives the kernel back if a swap is already in progress or it was built
    /// for another chain.
    pub fn swap_ir(&mut self, kernel: Box<Kernel>) -> Result<(), Box<Kernel>> {
        self.convolver.swap_kernel(kernel)
    }

    /// Replaces the IR at once, with no cross-fade, and clears the convolution
    /// history: for the start of an offline render, before any audio has run.
    /// Returns the old kernel, if any (drop it off the audio thread).
    /// Realtime-safe, but clicks if audio is running; use [`Chain::swap_ir`] there.
    ///
    /// # Errors
    /// Gives the kernel back if it was built for another chain.
    pub fn replace_ir(&mut self, kernel: Box<Kernel>) -> Result<Option<Box<Kernel>>, Box<Kernel>> {
        self.convolver_running = false;
        self.convolver.replace_kernel(kernel)
    }

    /// The kernel replaced by the last finished swap, to be dropped off the
    /// audio thread. Realtime-safe.
    pub fn take_retired_ir(&mut self) -> Option<Box<Kernel>> {
        self.convolver.take_retired()
    }

    /// True while an IR swap is pending or fading.
    pub fn is_swapping_ir(&self) -> bool {
        self.convolver.is_swapping()
    }

    /// Processing latency, samples (what the host must compensate): the restoration
    /// section's constant latency, the compressor's lookahead and the convolver's
    /// latency ([`latency_samples`]). Fixed for the session rate; never changes with
    /// the state.
    pub fn latency_samples(&self) -> usize {
        self.restoration.latency_samples()
            + self.compressor.lookahead_samples()
            + self.convolver.latency_samples()
    }

    /// The restoration section (its repair counters and noise floor, for reports).
    pub fn restoration(&self) -> &Restoration {
        &self.restoration
    }

    /// Current compressor gain reduction, dB ≥ 0, for meters.
    pub fn gain_reduction_db(&self) -> f32 {
        self.compressor.gain_reduction_db()
    }

    /// Brings a fresh chain into the state a running plugin would be in when `head`
    /// (the first frames of an offline render's input, `[channel][frame]`) arrives:
    /// plays up to [`WARM_UP_S`] of `head` mirrored in time (`head[k]`, …, `head[1]`;
    /// continuous with `head[0]`, which comes next) and discards the output. Without
    /// it a render of a recording that starts mid-phrase begins with every envelope at
    /// rest: the compressor passed the first milliseconds with the full trim (a
    /// full-scale spike that read as +9 dB of crest factor), the noise tracker began
    /// from nothing. The chain's first [`Chain::latency_samples`] output frames after
    /// it are the lead-in's last frames, which a latency-aligned render drops.
    ///
    /// For offline renders only: allocates (one buffer per channel).
    pub fn warm_up(&mut self, head: &[&[f32]]) {
        let n_ch = head.len().min(self.channels);
        let Some(len) = head[..n_ch].iter().map(|c| c.len()).min() else {
            return;
        };
        let mut mirrored: Vec<Vec<f32>> = head[..n_ch]
            .iter()
            .map(|c| lead_in(&c[..len], self.sample_rate).collect())
            .collect();
        if mirrored[0].is_empty() {
            return;
        }
        let mut refs: Vec<&mut [f32]> = mirrored.iter_mut().map(|c| &mut c[..]).collect();
        self.process(&mut refs);
    }

    /// Clears all processing memory (filters, envelope, convolution history) and
    /// settles every glide at its target. Realtime-safe.
    pub fn reset(&mut self) {
        self.restoration.reset();
        self.eq.reset();
        self.deesser.reset();
        self.compressor.reset();
        self.convolver.reset();
        self.convolver_running = false;
        let (mix, trim) = (self.mix.target, self.trim.target);
        self.mix.snap(mix);
        self.trim.snap(trim);
    }

    /// Processes `channels` in place. Any number of frames; the first
    /// `self.channels()` channels are processed and any extra ones are left
    /// untouched. Non-finite input samples are replaced by 0 and the rest clamped
    /// to ±[`INPUT_LIMIT`], so nothing can poison the processing state.
    /// Never allocates, locks, blocks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let n_ch = channels.len().min(self.channels);
        let Some(frames) = channels[..n_ch].iter().map(|c| c.len()).min() else {
            return;
        };
        let mut start = 0;
        while start < frames {
            let len = (frames - start).min(MAX_STEP_FRAMES);
            let mut step: [&mut [f32]; MAX_CHANNELS] = [&mut [], &mut []];
            for (dst, src) in step.iter_mut().zip(channels[..n_ch].iter_mut()) {
                *dst = &mut src[start..start + len];
            }
            self.process_step(&mut step[..n_ch]);
            start += len;
        }
    }

    /// One step of at most [`MAX_STEP_FRAMES`] frames.
    fn process_step(&mut self, step: &mut [&mut [f32]]) {
        let len = step.first().map_or(0, |c| c.len());
        for ch in step.iter_mut() {
            for s in ch.iter_mut() {
                *s = if s.is_finite() {
                    s.clamp(-INPUT_LIMIT, INPUT_LIMIT)
                } else {
                    0.0
                };
            }
        }
        self.restoration.process(step);
        self.eq.process(step);
        self.deesser.process(step);
        self.compressor.process(step);

        let wet_needed =
            self.mix.value > 0.0 || self.mix.target > 0.0 || self.convolver.is_swapping();
        if wet_needed {
            if !self.convolver_running {
                // History from before a pause would be stale: start clean.
                self.convolver.reset();
                self.convolver_running = true;
            }
            for (dry, ch) in self.dry.iter_mut().zip(step.iter()) {
                dry[..len].copy_from_slice(ch);
            }
            self.convolver.process(step);
            for i in 0..len {
                let m = self.mix.next();
                let g = self.trim.next();
                for (ch, dry) in step.iter_mut().zip(self.dry.iter()) {
                    ch[i] = g * ((1.0 - m) * dry[i] + m * ch[i]);
                }
            }
        } else {
            self.convolver_running = false;
            if self.trim.is_settled() && self.trim.value == 1.0 {
                return;
            }
            for i in 0..len {
                let g = self.trim.next();
                for ch in step.iter_mut() {
                    ch[i] *= g;
                }
            }
        }
    }
}
