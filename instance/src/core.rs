//! The audio-thread work every plugin format shares: the `faurge-dsp` [`Chain`] of one
//! session, the snapshot ring writer, the Bake trigger's edge and auto-bake, the IR
//! kernel exchange with the other threads, and the click-free bypass with a dry path
//! delayed by the chain's latency. A format wraps a [`Core`]: it reads its own
//! controls (nice-plug parameters, LV2 control ports) and hands the core its audio.
//!
//! [`Core::new`] allocates everything (a format's activation); every other method is
//! realtime-safe: it never allocates, frees, locks, blocks or panics.
//!
//! [`Chain`]: faurge_dsp::chain::Chain

use std::sync::Arc;

use faurge_dsp::chain::{Chain, ChainConfig, ChainError, INPUT_LIMIT, MAX_STEP_FRAMES};
use faurge_dsp::convolver::Kernel;
use faurge_dsp::state::DspState;
use faurge_dsp::MAX_CHANNELS;

use crate::autobake::AutoBake;
use crate::session::{AudioSide, Session};
use crate::snapshot::SnapshotRing;

/// The longest step the core takes: the chain's own step. A format whose settings
/// only change between host blocks (LV2) steps this far, so the chain sees the same
/// steps as an offline render.
pub const MAX_STEP: usize = MAX_STEP_FRAMES;

/// The step of a format with smoothed parameters (CLAP/VST3/standalone): they are
/// re-read, and their smoothers advanced, every this many frames.
pub const SMOOTHED_STEP: usize = 32;

/// Bypass cross-fade time, ms.
pub const BYPASS_FADE_MS: f32 = 10.0;

/// The controls a format reads once per host block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockControls {
    /// The bypass switch: the output fades to the (latency-aligned) input.
    pub bypass: bool,
    /// The Bake trigger: its off → on edge requests a bake.
    pub bake: bool,
    /// Auto-bake: the core requests a bake when the input changes character.
    pub auto_bake: bool,
}

/// Receives every step's raw input and final output (an editor's meters and spectra).
/// Called on the audio thread: implementations must be realtime-safe.
pub trait StepTap {
    /// One step of `frames` frames: `input` before processing, `output` after the chain
    /// and the bypass, one slice per channel; the compressor's gain reduction, dB.
    fn step(&mut self, input: &[&[f32]], output: &[&[f32]], frames: usize, gain_reduction_db: f32);
}

/// The click-free bypass: a 10 ms cross-fade to the input delayed by the chain's
/// latency, so bypassed and processed audio stay aligned.
struct Bypass {
    /// 0 = processed, 1 = dry.
    mix: f32,
    step: f32,
    target: f32,
    /// `[channel][latency]` ring of past input; empty when the latency is 0.
    delay: Vec<Vec<f32>>,
    pos: usize,
    /// The current step's dry path, `[channel][MAX_STEP]`.
    dry: [[f32; MAX_STEP]; MAX_CHANNELS],
}

impl Bypass {
    fn new(sample_rate: f32, channels: usize, latency: usize) -> Self {
        Bypass {
            mix: 0.0,
            step: 1.0 / (BYPASS_FADE_MS * 1e-3 * sample_rate).max(1.0),
            target: 0.0,
            delay: vec![vec![0.0; latency]; channels],
            pos: 0,
            dry: [[0.0; MAX_STEP]; MAX_CHANNELS],
        }
    }

    fn latency(&self) -> usize {
        self.delay.first().map_or(0, Vec::len)
    }

    fn mixing(&self) -> bool {
        self.mix != self.target || self.mix > 0.0
    }

    /// Jumps to `bypassed` and clears the delay line.
    fn snap(&mut self, bypassed: bool) {
        self.target = if bypassed { 1.0 } else { 0.0 };
        self.mix = self.target;
        self.delay.iter_mut().for_each(|l| l.fill(0.0));
        self.pos = 0;
    }

    /// Keeps this step's input as the dry path: sanitized like the chain's input (so
    /// bypassed output is finite too) and delayed by the chain's latency.
    fn capture(&mut self, step: &[&mut [f32]], len: usize) {
        let latency = self.latency();
        if !self.mixing() && latency == 0 {
            return;
        }
        for (dry, ch) in self.dry.iter_mut().zip(step.iter()) {
            for (d, s) in dry[..len].iter_mut().zip(ch.iter()) {
                *d = if s.is_finite() {
                    s.clamp(-INPUT_LIMIT, INPUT_LIMIT)
                } else {
                    0.0
                };
            }
        }
        if latency == 0 {
            return;
        }
        for (line, dry) in self.delay.iter_mut().zip(self.dry.iter_mut()) {
            let mut pos = self.pos;
            for s in dry[..len].iter_mut() {
                std::mem::swap(s, &mut line[pos]);
                pos = if pos + 1 == latency { 0 } else { pos + 1 };
            }
        }
        self.pos = (self.pos + len) % latency;
    }

    /// Cross-fades the processed `step` with the dry path, moving the mix toward its
    /// target by one increment per frame.
    fn mix_into(&mut self, step: &mut [&mut [f32]], len: usize) {
        if !self.mixing() {
            return;
        }
        for i in 0..len {
            let m = self.mix;
            for (ch, dry) in step.iter_mut().zip(self.dry.iter()) {
                ch[i] = (1.0 - m) * ch[i] + m * dry[i];
            }
            if self.mix < self.target {
                self.mix = (self.mix + self.step).min(self.target);
            } else if self.mix > self.target {
                self.mix = (self.mix - self.step).max(self.target);
            }
        }
    }
}

/// Read-only views of a step's channels, `[]` for a channel the session lacks.
fn channel_views<'a>(step: &'a [&mut [f32]]) -> [&'a [f32]; MAX_CHANNELS] {
    [
        step.first().map_or(&[], |c| &**c),
        step.get(1).map_or(&[], |c| &**c),
    ]
}

/// Everything the audio thread owns for one session of one instance, in any format.
pub struct Core {
    chain: Chain,
    channels: usize,
    ring: Arc<SnapshotRing>,
    /// Frames per step (1..=[`MAX_STEP`]).
    step_frames: usize,
    /// The state last given to the chain.
    applied: DspState,
    bypass: Bypass,
    /// A kernel waiting to be handed to [`AudioSide`] for freeing.
    to_retire: Option<Box<Kernel>>,
    /// Frames of the running IR.
    ir_frames: usize,
    /// The Bake trigger's value at the last block.
    last_bake: bool,
    auto_bake: AutoBake,
    auto_baking: bool,
    /// The current step's raw input, kept for a [`StepTap`] (the chain works in place).
    tap_input: [[f32; MAX_STEP]; MAX_CHANNELS],
}

impl Core {
    /// Builds the chain for `sample_rate` and `channels` (1 or 2) at the default
    /// settings, its built-in unit impulse loaded, and a snapshot ring of
    /// `snapshot_seconds`; the core processes in steps of `step_frames` (clamped to
    /// 1..=[`MAX_STEP`]; [`SMOOTHED_STEP`] or [`MAX_STEP`]). Returns the core and the
    /// [`Session`] to publish. Allocates: a format's activation only.
    ///
    /// # Errors
    /// [`ChainError`] for a sample rate or channel count the chain does not support.
    pub fn new(
        sample_rate: f32,
        channels: usize,
        snapshot_seconds: f32,
        step_frames: usize,
    ) -> Result<(Core, Session), ChainError> {
        let chain = Chain::new(ChainConfig::new(sample_rate, channels))?;
        let ring = Arc::new(SnapshotRing::new(sample_rate, channels, snapshot_seconds));
        let session = Session {
            sample_rate,
            channels,
            builder: chain.kernel_builder(),
            ring: ring.clone(),
        };
        let latency = chain.latency_samples();
        let core = Core {
            applied: *chain.state(),
            chain,
            channels,
            ring,
            step_frames: step_frames.clamp(1, MAX_STEP),
            bypass: Bypass::new(sample_rate, channels, latency),
            to_retire: None,
            ir_frames: 0,
            last_bake: false,
            auto_bake: AutoBake::new(sample_rate),
            auto_baking: false,
            tap_input: [[0.0; MAX_STEP]; MAX_CHANNELS],
        };
        Ok((core, session))
    }

    /// Loads `kernel` at once, with no cross-fade: for activation, before any audio
    /// has run. Frees the previous kernel: not on the audio thread.
    pub fn load_kernel(&mut self, kernel: Box<Kernel>) {
        let frames = kernel.frames();
        if let Ok(old) = self.chain.replace_ir(kernel) {
            drop(old);
            self.ir_frames = frames;
        }
    }

    /// Tells the core the Bake trigger's value when the session starts: only a later
    /// off → on edge requests a bake. A format that leaves it `false` bakes when the
    /// trigger is already on in its first block.
    pub fn set_bake_seen(&mut self, pressed: bool) {
        self.last_bake = pressed;
    }

    /// Jumps to `state` and to `bypassed` with no glide and clears all processing
    /// memory (activation, a host's reset). Realtime-safe.
    pub fn snap(&mut self, state: &DspState, bypassed: bool) {
        self.applied = *state;
        self.chain.snap_to_state(state);
        self.chain.reset();
        self.bypass.snap(bypassed);
    }

    /// Glides to `state` (nothing happens when it is the state already applied).
    /// Realtime-safe.
    pub fn set_state(&mut self, state: &DspState) {
        if *state != self.applied {
            self.chain.set_state(state);
            self.applied = *state;
        }
    }

    /// The start of a host block: retires the chain's old kernel and starts a
    /// cross-fade to a queued one, counts the Bake trigger's rising edge, and takes the
    /// bypass and auto-bake switches for this block. Realtime-safe.
    pub fn begin_block(&mut self, audio: &AudioSide, controls: BlockControls) {
        self.exchange_kernels(audio);
        if controls.bake && !self.last_bake {
            audio.request_bake();
        }
        self.last_bake = controls.bake;
        self.auto_baking = controls.auto_bake;
        self.bypass.target = if controls.bypass { 1.0 } else { 0.0 };
    }

    /// Hands kernels between the chain and `audio`: retires the chain's old kernel,
    /// starts a cross-fade to a queued one. Never frees or allocates.
    fn exchange_kernels(&mut self, audio: &AudioSide) {
        if let Some(k) = self.to_retire.take() {
            self.to_retire = audio.retire(k).err();
        }
        if self.to_retire.is_none() {
            self.to_retire = self.chain.take_retired_ir();
        }
        if self.to_retire.is_none() && !self.chain.is_swapping_ir() {
            if let Some(kernel) = audio.take_incoming() {
                let frames = kernel.frames();
                match self.chain.swap_ir(kernel) {
                    Ok(()) => self.ir_frames = frames,
                    Err(refused) => self.to_retire = Some(refused),
                }
            }
        }
    }

    /// Processes audio in place, in steps of the core's step: records the raw input in
    /// the snapshot ring and feeds auto-bake with it, runs the chain and the bypass
    /// cross-fade. Before each step `next_state(frames)` may give new settings (a
    /// format with smoothed parameters advances them there). `tap` sees every step.
    /// Channels beyond the session's are left untouched. A format may call this more
    /// than once per block (LV2 copies the host's buffers through a step buffer).
    /// Never allocates, locks, blocks or panics.
    pub fn process(
        &mut self,
        channels: &mut [&mut [f32]],
        audio: &AudioSide,
        mut next_state: impl FnMut(u32) -> Option<DspState>,
        mut tap: Option<&mut dyn StepTap>,
    ) {
        let n_ch = channels.len().min(self.channels);
        let frames = channels[..n_ch].iter().map(|c| c.len()).min().unwrap_or(0);
        let mut start = 0;
        while start < frames {
            let len = (frames - start).min(self.step_frames);
            if let Some(state) = next_state(len as u32) {
                self.set_state(&state);
            }
            let mut step: [&mut [f32]; MAX_CHANNELS] = [&mut [], &mut []];
            for (dst, src) in step.iter_mut().zip(channels[..n_ch].iter_mut()) {
                *dst = &mut src[start..start + len];
            }
            let step = &mut step[..n_ch];
            {
                let raw = channel_views(step);
                self.ring.write(&raw[..n_ch]);
                if self.auto_baking && self.auto_bake.feed(raw[0]) {
                    audio.request_bake();
                }
                if tap.is_some() {
                    for (dst, src) in self.tap_input.iter_mut().zip(&raw[..n_ch]) {
                        dst[..len].copy_from_slice(src);
                    }
                }
            }
            self.bypass.capture(step, len);
            self.chain.process(step);
            self.bypass.mix_into(step, len);
            if let Some(tap) = tap.as_deref_mut() {
                let input: [&[f32]; MAX_CHANNELS] = [&self.tap_input[0], &self.tap_input[1]];
                let output = channel_views(step);
                tap.step(
                    &input[..n_ch],
                    &output[..n_ch],
                    len,
                    self.chain.gain_reduction_db(),
                );
            }
            start += len;
        }
        audio.set_gain_reduction_db(self.chain.gain_reduction_db());
    }

    /// Processing latency, samples (what the host must compensate).
    pub fn latency_samples(&self) -> usize {
        self.chain.latency_samples()
    }

    /// How long the output may ring after the input stops, samples: the IR length
    /// plus latency while the convolver is on, else the latency.
    pub fn tail_samples(&self) -> usize {
        let ir = if self.applied.convolver.enabled {
            self.ir_frames
        } else {
            0
        };
        ir + self.latency_samples()
    }

    /// The settings the chain is gliding toward.
    pub fn state(&self) -> &DspState {
        self.chain.state()
    }

    /// The compressor's gain reduction now, dB ≥ 0.
    pub fn gain_reduction_db(&self) -> f32 {
        self.chain.gain_reduction_db()
    }
}
