//! Faurge as a CLAP, VST3 and standalone plugin on nice-plug: a wrapper around the
//! host-agnostic instance core (`faurge-instance`), which the LV2 build wraps too.
//!
//! Signal path per instance (`docs/DESIGN.md`, "Signal path"): the host's input goes
//! into the snapshot ring (raw, for the helper) and through the `faurge-dsp` [`Chain`]
//! (EQ → compressor → convolver → output trim), with a click-free bypass around it.
//!
//! Threads (`docs/ARCHITECTURE.md` has the whole map): `activate()` (main thread)
//! builds a [`processor::Processor`] for the host's rate and channel layout and
//! allocates everything; `process()` and `reset()` (audio thread) never allocate,
//! lock, block or panic — builds with the `assert_process_allocs` feature and debug
//! assertions abort on any allocation there. The audio thread shares
//! [`sides::PluginAudio`] (atomics and slots) with the others; the main, bridge and
//! GUI threads share [`sides::PluginSession`] (locks). The parameters and persisted
//! state live in [`params`] (built from `faurge_params::PARAMS`), preset migration in
//! [`state`], the plugin's side of a bake in [`bake`].
//!
//! [`Chain`]: faurge_dsp::chain::Chain

use std::num::NonZeroU32;
use std::sync::Arc;

use faurge_instance::bridge::{Bridge, StatusCell};
use nice_plug::prelude::*;

pub mod bake;
pub mod editor;
pub mod history;
pub mod param_writer;
pub mod params;
pub mod processor;
pub mod scope;
pub mod sides;
pub mod state;

use params::FaurgeParams;
use processor::Processor;
use sides::{PluginAudio, PluginSession};

/// The plugin's CLAP id (stable: hosts store it in sessions).
pub const CLAP_ID: &str = "com.github.faurge.faurge";
/// The plugin's VST3 class id (stable: hosts store it in sessions).
pub const VST3_CLASS_ID: [u8; 16] = *b"FaurgeVocalChain";

/// One plugin instance.
pub struct Faurge {
    params: Arc<FaurgeParams>,
    /// The audio thread's side (atomics and slots).
    audio: Arc<PluginAudio>,
    /// The other threads' side (locks).
    session: Arc<PluginSession>,
    /// Present between `activate()` and `deactivate()`.
    processor: Option<Processor>,
    /// The bridge to the helper: its thread runs while the instance is active
    /// (started in `activate()`, stopped and its helper reaped in `deactivate()` and
    /// on drop), so a host's scan or a validator starts no thread.
    bridge: Bridge,
}

impl Default for Faurge {
    fn default() -> Self {
        let session = Arc::new(PluginSession::default());
        // A host's session load restores the IR through the parameters; its kernel
        // is queued here, for the running session.
        let core = session.core.clone();
        let params = Arc::new(
            FaurgeParams::new().with_ir_restored(Box::new(move |ir| core.queue_ir(ir).map(drop))),
        );
        let bridge = bake::bridge(params.clone(), session.clone(), bake::default_config());
        Faurge {
            params,
            audio: session.audio.clone(),
            session,
            processor: None,
            bridge,
        }
    }
}

impl Faurge {
    /// The parameters and persisted state (shared with the wrappers and the editor).
    pub fn faurge_params(&self) -> Arc<FaurgeParams> {
        self.params.clone()
    }

    /// Where bakes stand (stage, round, `S_C`, errors in words), for the editor:
    /// read it with `StatusCell::try_get` from a thread that must not wait.
    /// Always `Some`: the same cell for the instance's whole life.
    pub fn bake_status(&self) -> Option<Arc<StatusCell>> {
        Some(self.bridge.status())
    }

    /// What the main, bridge and GUI threads share: the running session, the snapshot
    /// ring, kernel queueing, bake history (and, in its `audio` field, what they share
    /// with the audio thread).
    pub fn session(&self) -> Arc<PluginSession> {
        self.session.clone()
    }

    /// Tears the running session down (deactivation or a failed activation): stops
    /// the bridge thread and the helper, drops the processor here, not on the audio
    /// thread, and withdraws the session.
    fn end_session(&mut self) {
        self.bridge.pause();
        self.processor = None;
        self.session.core.stop();
        self.session.set_scope(None);
    }
}

impl Plugin for Faurge {
    const NAME: &'static str = "Faurge";
    const VENDOR: &'static str = "Faurge";
    const URL: &'static str = env!("CARGO_PKG_REPOSITORY");
    const EMAIL: &'static str = "faurge@users.noreply.github.com";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = editor::window::FaurgeEditor;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.session.clone(),
            self.bake_status(),
            Some(self.bridge.canceller()),
        )
    }

    fn filter_state(state: &mut PluginState) {
        state::migrate(state);
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let channels = layout.main_output_channels.map_or(0, NonZeroU32::get) as usize;
        // Drop the previous session's processor (and its kernels) here, not on the
        // audio thread.
        self.processor = None;
        match Processor::new(
            buffer_config.sample_rate,
            channels,
            &self.params,
            &self.session,
        ) {
            Ok(processor) => {
                context.set_latency_samples(
                    u32::try_from(processor.latency_samples()).unwrap_or(u32::MAX),
                );
                self.processor = Some(processor);
                if let Err(e) = self.bridge.resume() {
                    nice_error!(
                        "Could not start Faurge's bridge thread; Bake will do nothing: {e}"
                    );
                }
            }
            Err(e) => {
                // Only a rate outside 1–768 kHz gets here (no host runs one). Refusing
                // would silence the track: the audio passes through unprocessed instead.
                nice_warn!("Faurge passes audio through unprocessed: {e}");
                // Pass-through adds no delay: the previous session's latency (the
                // chain's, at another rate) must not stay reported.
                context.set_latency_samples(0);
                self.end_session();
            }
        }
        true
    }

    fn reset(&mut self) {
        if let Some(processor) = self.processor.as_mut() {
            processor.reset(&self.params);
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let Some(processor) = self.processor.as_mut() else {
            return ProcessStatus::Normal;
        };
        processor.process(buffer.as_slice(), &self.params, &self.audio);
        match processor.tail_samples() {
            0 => ProcessStatus::Normal,
            n => ProcessStatus::Tail(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }

    fn deactivate(&mut self) {
        self.end_session();
    }
}

impl ClapPlugin for Faurge {
    const CLAP_ID: &'static str = CLAP_ID;
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Vocal chain (EQ, compressor, corrective IR) that bakes its settings from a sentence");
    const CLAP_MANUAL_URL: Option<&'static str> = Some(env!("CARGO_PKG_REPOSITORY"));
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Equalizer,
        ClapFeature::Compressor,
        ClapFeature::Mono,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for Faurge {
    const VST3_CLASS_ID: [u8; 16] = VST3_CLASS_ID;
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[
        Vst3SubCategory::Fx,
        Vst3SubCategory::Eq,
        Vst3SubCategory::Dynamics,
    ];
}

nice_export_clap!(Faurge);
nice_export_vst3!(Faurge);
