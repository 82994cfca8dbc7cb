//! The plugin's audio thread: the instance core (`faurge_instance::core::Core`)
//! driven by the nice-plug parameters, plus what only this format has: host
//! parameter activity for the bridge's hold rule, and the editor's scope.
//!
//! [`Processor::new`] runs in `activate()` and allocates everything;
//! [`Processor::process`] and [`Processor::reset`] never allocate, lock, block or panic.

use faurge_dsp::chain::ChainError;
use faurge_instance::core::{BlockControls, Core, StepTap, SMOOTHED_STEP};

use crate::params::FaurgeParams;
use crate::scope::{scope, ScopeWriter};
use crate::sides::{PluginAudio, PluginSession};

/// Everything the audio thread owns for one activation.
pub struct Processor {
    core: Core,
    /// The plain value of every parameter at the last block, `[NUM_PARAMS]`.
    last_values: Box<[f32]>,
    /// Feeds the editor's meters and spectra while it is open.
    scope: ScopeWriter,
    /// Whether the scope was fed in the previous block.
    scoping: bool,
}

impl StepTap for ScopeWriter {
    fn step(&mut self, input: &[&[f32]], output: &[&[f32]], frames: usize, gain_reduction_db: f32) {
        self.write(input, output, frames, gain_reduction_db);
    }
}

impl Processor {
    /// Builds the core for `sample_rate` and `channels` (1 or 2), snapped to the
    /// current parameters, with the stored IR's kernel loaded; publishes the session
    /// and the editor's scope in `session`. Allocates: `activate()` only.
    ///
    /// # Errors
    /// [`ChainError`] for a sample rate or channel count the core does not support.
    pub fn new(
        sample_rate: f32,
        channels: usize,
        params: &FaurgeParams,
        session: &PluginSession,
    ) -> Result<Self, ChainError> {
        let (mut core, core_session) = Core::new(
            sample_rate,
            channels,
            params.snapshot_seconds(),
            SMOOTHED_STEP,
        )?;
        params.settle_smoothers();
        core.snap(&params.dsp_state(), params.bypassed());
        core.set_bake_seen(params.bake());
        if let Some(ir) = params.ir() {
            match core_session.prepare_kernel(Some(&ir)) {
                Ok(kernel) => core.load_kernel(kernel),
                Err(e) => nice_plug::nice_error!("{e}"),
            }
        }
        session.core.start(core_session);
        let (scope_writer, scope_reader) = scope(sample_rate, channels);
        session.set_scope(Some(scope_reader));
        Ok(Processor {
            core,
            last_values: params.handles().iter().map(|h| h.value()).collect(),
            scope: scope_writer,
            scoping: false,
        })
    }

    /// Processing latency, samples (what the host must compensate).
    pub fn latency_samples(&self) -> usize {
        self.core.latency_samples()
    }

    /// How long the output may ring after the input stops, samples.
    pub fn tail_samples(&self) -> usize {
        self.core.tail_samples()
    }

    /// Clears all processing memory and jumps to the current parameter values with no
    /// glide. Realtime-safe.
    pub fn reset(&mut self, params: &FaurgeParams) {
        params.settle_smoothers();
        self.core.snap(&params.dsp_state(), params.bypassed());
    }

    /// Processes one host block in place: the core follows the parameters (smoothed,
    /// re-read every `faurge_instance::core::SMOOTHED_STEP` frames); host changes are stamped
    /// for the bridge; the scope is fed while an editor is open. Channels beyond the
    /// session's are left untouched. Never allocates, locks, blocks or panics.
    pub fn process(
        &mut self,
        channels: &mut [&mut [f32]],
        params: &FaurgeParams,
        audio: &PluginAudio,
    ) {
        self.core.begin_block(
            &audio.core,
            BlockControls {
                bypass: params.bypassed(),
                bake: params.bake(),
                auto_bake: params.auto_bake(),
            },
        );
        for ((last, handle), k) in self.last_values.iter_mut().zip(params.handles()).zip(0..) {
            let v = handle.value();
            if v.to_bits() != last.to_bits() {
                *last = v;
                audio.activity.saw_change(k, v);
            }
        }
        let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        audio.activity.advance(frames as u64);
        let scoping = audio.editor_open();
        if scoping && !self.scoping {
            self.scope.restart();
        }
        self.scoping = scoping;
        let tap: Option<&mut dyn StepTap> = if scoping { Some(&mut self.scope) } else { None };
        self.core.process(
            channels,
            &audio.core,
            |frames| Some(params.next_smoothed_dsp_state(frames)),
            tap,
        );
    }
}
