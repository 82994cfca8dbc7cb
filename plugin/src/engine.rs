//! The audio-thread half of the plugin: the `faurge-dsp` `Chain` for one session, the
//! snapshot ring writer, the click-free bypass and the IR kernel hand-over.
//!
//! [`Engine::new`] runs in `activate()` and allocates everything; [`Engine::process`]
//! and [`Engine::reset`] never allocate, lock, block or panic.

use std::sync::Arc;

use faurge_dsp::chain::{Chain, ChainConfig, ChainError, INPUT_LIMIT};
use faurge_dsp::convolver::Kernel;
use faurge_dsp::state::DspState;
use faurge_dsp::MAX_CHANNELS;

use crate::params::FaurgeParams;
use crate::scope::{scope, ScopeWriter};
use crate::shared::{build_kernel, Session, Shared};
use crate::snapshot::SnapshotRing;
use faurge_bridge::autobake::AutoBake;

/// Frames per internal step: parameters are re-read (and smoothers advanced) this often.
pub const STEP_FRAMES: usize = 32;

/// Bypass cross-fade time, ms.
pub const BYPASS_FADE_MS: f32 = 10.0;

/// A dry-path delay that matches the chain's latency, so bypass stays aligned.
struct DryDelay {
    /// `[channel][latency]` ring of past input; empty when the latency is 0.
    lines: Vec<Vec<f32>>,
    pos: usize,
}

impl DryDelay {
    fn new(channels: usize, latency: usize) -> Self {
        DryDelay {
            lines: vec![vec![0.0; latency]; channels],
            pos: 0,
        }
    }

    /// Delays `step` (≤ `STEP_FRAMES` frames per channel) in place.
    fn process(&mut self, step: &mut [[f32; STEP_FRAMES]; MAX_CHANNELS], len: usize) {
        let Some(latency) = self.lines.first().map(Vec::len) else {
            return;
        };
        if latency == 0 {
            return;
        }
        for (line, ch) in self.lines.iter_mut().zip(step.iter_mut()) {
            let mut pos = self.pos;
            for s in ch[..len].iter_mut() {
                std::mem::swap(s, &mut line[pos]);
                pos = if pos + 1 == latency { 0 } else { pos + 1 };
            }
        }
        self.pos = (self.pos + len) % latency;
    }

    fn is_active(&self) -> bool {
        self.lines.first().is_some_and(|l| !l.is_empty())
    }

    fn reset(&mut self) {
        self.lines.iter_mut().for_each(|l| l.fill(0.0));
        self.pos = 0;
    }
}

/// Read-only views of a step's channels, `[]` for a channel the session lacks.
fn channel_views<'a>(step: &'a [&mut [f32]]) -> [&'a [f32]; MAX_CHANNELS] {
    [
        step.first().map_or(&[], |c| &**c),
        step.get(1).map_or(&[], |c| &**c),
    ]
}

/// Everything the audio thread owns for one activation.
pub struct Engine {
    chain: Chain,
    channels: usize,
    ring: Arc<SnapshotRing>,
    /// The state last given to the chain.
    applied: DspState,
    /// Bypass mix: 0 = processed, 1 = dry.
    bypass_mix: f32,
    bypass_step: f32,
    dry_delay: DryDelay,
    dry: [[f32; STEP_FRAMES]; MAX_CHANNELS],
    /// A kernel waiting to be handed to `Shared::retired_ir`.
    to_retire: Option<Box<Kernel>>,
    last_bake: bool,
    ir_frames: usize,
    /// The plain value of every parameter at the last block, `[NUM_PARAMS]`.
    last_values: Box<[f32]>,
    auto_bake: AutoBake,
    /// Feeds the editor's meters and spectra while it is open.
    scope: ScopeWriter,
    /// The input of the current step, kept for the scope (the chain works in place).
    scope_input: [[f32; STEP_FRAMES]; MAX_CHANNELS],
    /// Whether the scope was fed in the previous block.
    scoping: bool,
}

impl Engine {
    /// Builds the chain for `sample_rate` and `channels` (1 or 2), snapped to the current
    /// parameters, with the stored IR loaded; allocates the snapshot ring; publishes the
    /// session in `shared`. Allocates: `activate()` only.
    ///
    /// # Errors
    /// [`ChainError`] for a sample rate or channel count the engine does not support.
    pub fn new(
        sample_rate: f32,
        channels: usize,
        params: &FaurgeParams,
        shared: &Shared,
    ) -> Result<Self, ChainError> {
        let mut chain = Chain::new(ChainConfig::new(sample_rate, channels))?;
        params.settle_smoothers();
        let state = params.dsp_state();
        chain.snap_to_state(&state);
        let session = Session {
            sample_rate,
            channels,
            builder: chain.kernel_builder(),
        };
        let mut ir_frames = 0;
        if let Some(ir) = params.ir() {
            match build_kernel(&session, Some(&ir)) {
                Ok(kernel) => {
                    ir_frames = kernel.frames();
                    drop(chain.replace_ir(kernel));
                }
                Err(e) => nice_plug::nice_error!("{e}"),
            }
        }
        let ring = Arc::new(SnapshotRing::new(
            sample_rate,
            channels,
            params.snapshot_seconds(),
        ));
        shared.set_session(Some(session), Some(ring.clone()));
        let (scope_writer, scope_reader) = scope(sample_rate, channels);
        shared.set_scope(Some(scope_reader));
        let latency = chain.latency_samples();
        let bypassed = params.bypassed();
        Ok(Engine {
            chain,
            channels,
            ring,
            applied: state,
            bypass_mix: if bypassed { 1.0 } else { 0.0 },
            bypass_step: 1.0 / (BYPASS_FADE_MS * 1e-3 * sample_rate).max(1.0),
            dry_delay: DryDelay::new(channels, latency),
            dry: [[0.0; STEP_FRAMES]; MAX_CHANNELS],
            to_retire: None,
            last_bake: params.bake(),
            ir_frames,
            last_values: params.handles().iter().map(|h| h.value()).collect(),
            auto_bake: AutoBake::new(sample_rate),
            scope: scope_writer,
            scope_input: [[0.0; STEP_FRAMES]; MAX_CHANNELS],
            scoping: false,
        })
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

    /// Clears all processing memory and jumps to the current parameter values with no
    /// glide. Realtime-safe.
    pub fn reset(&mut self, params: &FaurgeParams) {
        params.settle_smoothers();
        self.applied = params.dsp_state();
        self.chain.snap_to_state(&self.applied);
        self.chain.reset();
        self.dry_delay.reset();
        self.bypass_mix = if params.bypassed() { 1.0 } else { 0.0 };
    }

    /// Hands kernels between the chain and `shared`: retires the chain's old kernel,
    /// starts a cross-fade to a queued one. Never frees or allocates.
    fn exchange_kernels(&mut self, shared: &Shared) {
        if let Some(k) = self.to_retire.take() {
            self.to_retire = shared.retired_ir.put(k).err();
        }
        if self.to_retire.is_none() {
            self.to_retire = self.chain.take_retired_ir();
        }
        if self.to_retire.is_none() && !self.chain.is_swapping_ir() {
            if let Some(kernel) = shared.incoming_ir.take() {
                let frames = kernel.frames();
                match self.chain.swap_ir(kernel) {
                    Ok(()) => self.ir_frames = frames,
                    Err(refused) => self.to_retire = Some(refused),
                }
            }
        }
    }

    /// Processes one host block in place: records the raw input, follows the
    /// parameters (smoothed, re-read every [`STEP_FRAMES`]), runs the chain and the
    /// bypass cross-fade. Channels beyond the session's are left untouched. Never
    /// allocates, locks, blocks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]], params: &FaurgeParams, shared: &Shared) {
        self.exchange_kernels(shared);
        let bake = params.bake();
        if bake && !self.last_bake {
            shared.count_bake_request();
        }
        self.last_bake = bake;
        for ((last, handle), k) in self.last_values.iter_mut().zip(params.handles()).zip(0..) {
            let v = handle.value();
            if v.to_bits() != last.to_bits() {
                *last = v;
                shared.activity.saw_change(k, v);
            }
        }

        let n_ch = channels.len().min(self.channels);
        let frames = channels[..n_ch].iter().map(|c| c.len()).min().unwrap_or(0);
        shared.activity.advance(frames as u64);
        if params.auto_bake() {
            if let Some(first) = channels.first() {
                if self.auto_bake.feed(&first[..frames]) {
                    shared.count_bake_request();
                }
            }
        }
        let target_bypass = if params.bypassed() { 1.0 } else { 0.0 };
        let scoping = shared.editor_open();
        if scoping && !self.scoping {
            self.scope.restart();
        }
        self.scoping = scoping;
        let mut start = 0;
        while start < frames {
            let len = (frames - start).min(STEP_FRAMES);
            let state = params.next_smoothed_dsp_state(len as u32);
            if state != self.applied {
                self.chain.set_state(&state);
                self.applied = state;
            }
            let mut step: [&mut [f32]; MAX_CHANNELS] = [&mut [], &mut []];
            for (dst, src) in step.iter_mut().zip(channels[..n_ch].iter_mut()) {
                *dst = &mut src[start..start + len];
            }
            let step = &mut step[..n_ch];
            {
                let raw = channel_views(step);
                self.ring.write(&raw[..n_ch]);
                if scoping {
                    for (dst, src) in self.scope_input.iter_mut().zip(&raw[..n_ch]) {
                        dst[..len].copy_from_slice(src);
                    }
                }
            }
            let mixing = self.bypass_mix != target_bypass || self.bypass_mix > 0.0;
            if mixing || self.dry_delay.is_active() {
                // The dry path gets the chain's input sanitizing, so bypass output is
                // finite too, and the chain's latency, so it stays aligned.
                for (dry, ch) in self.dry.iter_mut().zip(step.iter()) {
                    for (d, s) in dry[..len].iter_mut().zip(ch.iter()) {
                        *d = if s.is_finite() {
                            s.clamp(-INPUT_LIMIT, INPUT_LIMIT)
                        } else {
                            0.0
                        };
                    }
                }
                self.dry_delay.process(&mut self.dry, len);
            }
            self.chain.process(step);
            if mixing {
                for i in 0..len {
                    let m = self.bypass_mix;
                    for (ch, dry) in step.iter_mut().zip(self.dry.iter()) {
                        ch[i] = (1.0 - m) * ch[i] + m * dry[i];
                    }
                    if self.bypass_mix < target_bypass {
                        self.bypass_mix = (self.bypass_mix + self.bypass_step).min(target_bypass);
                    } else if self.bypass_mix > target_bypass {
                        self.bypass_mix = (self.bypass_mix - self.bypass_step).max(target_bypass);
                    }
                }
            }
            if scoping {
                let input: [&[f32]; MAX_CHANNELS] = [&self.scope_input[0], &self.scope_input[1]];
                let output = channel_views(step);
                self.scope.write(
                    &input[..n_ch],
                    &output[..n_ch],
                    len,
                    self.chain.gain_reduction_db(),
                );
            }
            start += len;
        }
        shared.set_gain_reduction_db(self.chain.gain_reduction_db());
    }
}
