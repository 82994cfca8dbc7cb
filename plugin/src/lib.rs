//! Faurge as a CLAP, VST3 and standalone plugin on nice-plug.
//!
//! Signal path per instance (see `DESIGN.md`, "Signal path"): the host's input goes
//! into the snapshot ring (raw, for the helper) and through the `faurge-dsp` [`Chain`]
//! (EQ → compressor → convolver → output trim), with a click-free bypass around it.
//!
//! Threads: `activate()` (main thread) builds an [`engine::Engine`] for the host's rate
//! and channel layout and allocates everything; `process()` and `reset()` (audio
//! thread) never allocate, lock, block or panic — builds with the
//! `assert_process_allocs` feature and debug assertions abort on any allocation there.
//! The parameter list lives in [`param_table`]; persisted session data and preset
//! migration in [`state`]; what the audio thread shares with other threads in
//! [`shared`].
//!
//! [`Chain`]: faurge_dsp::chain::Chain

#![warn(missing_docs)]

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;

pub mod bridge;
pub mod editor;
pub mod engine;
pub mod history;
pub mod locate;
pub use faurge_params as param_table;
pub mod params;
pub mod scope;
pub mod shared;
pub mod slot;
pub mod snapshot;
pub mod state;

use engine::Engine;
use params::FaurgeParams;
use shared::Shared;

/// The plugin's CLAP id (stable: hosts store it in sessions).
pub const CLAP_ID: &str = "com.github.faurge.faurge";
/// The plugin's VST3 class id (stable: hosts store it in sessions).
pub const VST3_CLASS_ID: [u8; 16] = *b"FaurgeVocalChain";

/// One plugin instance.
pub struct Faurge {
    params: Arc<FaurgeParams>,
    shared: Arc<Shared>,
    /// Present between `activate()` and `deactivate()`.
    engine: Option<Engine>,
    /// The bridge thread (helper process, bakes); stopped and its helper reaped
    /// when the instance is dropped.
    bridge: Option<bridge::Bridge>,
}

impl Default for Faurge {
    fn default() -> Self {
        let shared = Arc::new(Shared::default());
        let params = Arc::new(FaurgeParams::new(shared.clone()));
        let bridge = match bridge::start(params.clone(), shared.clone(), bridge::default_config()) {
            Ok(b) => Some(b),
            Err(e) => {
                nice_error!("Could not start Faurge's bridge thread; Bake will do nothing: {e}");
                None
            }
        };
        Faurge {
            params,
            shared,
            engine: None,
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
    /// `None` if the bridge thread could not be started.
    pub fn bake_status(&self) -> Option<Arc<bridge::StatusCell>> {
        self.bridge.as_ref().map(bridge::Bridge::status)
    }

    /// What the audio thread shares with other threads: snapshot ring, bake
    /// requests, IR hand-over, meters.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
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
    type Editor = editor::FaurgeEditor;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.params.clone(),
            self.shared.clone(),
            self.bake_status(),
            self.bridge.as_ref().map(bridge::Bridge::canceller),
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
        // Drop the previous session's engine (and its kernels) here, not on the audio thread.
        self.engine = None;
        match Engine::new(
            buffer_config.sample_rate,
            channels,
            &self.params,
            &self.shared,
        ) {
            Ok(engine) => {
                context.set_latency_samples(
                    u32::try_from(engine.latency_samples()).unwrap_or(u32::MAX),
                );
                self.engine = Some(engine);
                true
            }
            Err(e) => {
                nice_error!("Could not activate Faurge: {e}");
                self.shared.set_session(None, None);
                false
            }
        }
    }

    fn reset(&mut self) {
        if let Some(engine) = self.engine.as_mut() {
            engine.reset(&self.params);
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let Some(engine) = self.engine.as_mut() else {
            return ProcessStatus::Normal;
        };
        engine.process(buffer.as_slice(), &self.params, &self.shared);
        match engine.tail_samples() {
            0 => ProcessStatus::Normal,
            n => ProcessStatus::Tail(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }

    fn deactivate(&mut self) {
        self.engine = None;
        self.shared.set_session(None, None);
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
