//! The plugin's side of a bake: [`PluginSettings`], what the bridge thread
//! (`faurge_instance::bridge`) reads from and applies to a CLAP/VST3/standalone
//! instance, and [`apply_setting`] for undo/redo and A/B.
//!
//! Parameters are set through a [`ParamWriter`] (see `crate::param_writer` for what
//! the host hears). A parameter the user is holding is never overwritten: an editor
//! gesture in progress ([`crate::sides::ParamActivity::set_held`]) or a host change
//! (automation, a control surface, the host's generic editor) within the last
//! [`HOST_HOLD_S`] seconds leaves it alone.

use std::sync::Arc;

use faurge_dsp::state::DspState;
use faurge_instance::bridge::{
    ApplyError, ApplySummary, BakePhase, BakeSettings, BakeStatus, Bridge, BridgeConfig,
};
use faurge_instance::ir::{KernelError, StoredIr};
use faurge_params::PARAMS;
use faurge_protocol::locate;
use faurge_protocol::BakeResult;

use crate::history::{BakeEntry, Setting};
use crate::param_writer::{DirectParamWriter, ParamWriter};
use crate::params::FaurgeParams;
use crate::sides::{lock, PluginSession, HOST_HOLD_S};

/// The [`BakeSettings`] of one CLAP/VST3/standalone instance.
pub struct PluginSettings {
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    direct: DirectParamWriter,
}

impl PluginSettings {
    /// Binds the bridge to an instance's parameters and session side.
    pub fn new(params: Arc<FaurgeParams>, session: Arc<PluginSession>) -> Self {
        PluginSettings {
            direct: DirectParamWriter::new(params.clone(), session.core.clone()),
            params,
            session,
        }
    }
}

/// Sets every parameter of `state` that differs from its current value through
/// `writer` (begin/set/end per parameter), except those the user or host is holding
/// ([`crate::sides::ParamActivity::is_held`]). Returns what it did and the state the
/// parameters now describe (held ones keep their values). Not for the audio thread.
pub fn apply_state(
    params: &FaurgeParams,
    session: &PluginSession,
    writer: &dyn ParamWriter,
    state: &DspState,
) -> (ApplySummary, DspState) {
    let window = (HOST_HOLD_S * session.sample_rate()) as u64;
    let activity = &session.audio.activity;
    let mut summary = ApplySummary::default();
    let mut result = params.dsp_state();
    for (k, (spec, handle)) in PARAMS.iter().zip(params.handles()).enumerate() {
        let Some(plain) = spec.read(state) else {
            continue;
        };
        let ptr = handle.param_ptr();
        // SAFETY: `ptr` points into `params`, alive for this call.
        let (normalized, snapped) = unsafe {
            let n = ptr.preview_normalized(plain);
            (n, ptr.preview_plain(n))
        };
        let current = handle.value();
        if (snapped - current).abs() <= 1e-5 * current.abs().max(1.0) {
            continue;
        }
        if activity.is_held(k, window) {
            summary.params_held += 1;
            continue;
        }
        activity.note_bridge_write(k, snapped);
        writer.begin(k);
        writer.set_normalized(k, normalized);
        writer.end(k);
        spec.write(&mut result, snapped);
        summary.params_set += 1;
    }
    (summary, result)
}

/// Applies a whole [`Setting`] (parameters as [`apply_state`], then the impulse
/// response, stored in the parameters and its kernel prepared and queued for the
/// cross-fade). Used for undo/redo and A/B. Not for the audio thread.
///
/// # Errors
/// [`KernelError`]: the impulse response could not be prepared; the parameters
/// were applied anyway and the IR is unchanged.
pub fn apply_setting(
    params: &FaurgeParams,
    session: &PluginSession,
    writer: &dyn ParamWriter,
    setting: &Setting,
) -> Result<ApplySummary, KernelError> {
    let (mut summary, _) = apply_state(params, session, writer, &setting.state);
    if params.ir() != setting.ir {
        summary.ir_queued = session.core.queue_ir(setting.ir.as_ref())?;
        params.set_ir(setting.ir.clone())?;
    }
    Ok(summary)
}

impl BakeSettings for PluginSettings {
    fn current_state(&self) -> DspState {
        self.params.dsp_state()
    }

    fn prompt(&self) -> String {
        self.params
            .prompt
            .read()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    fn apply(
        &self,
        result: &BakeResult,
        ir: Option<&StoredIr>,
    ) -> Result<ApplySummary, ApplyError> {
        let before = Setting::of(&self.params);
        if let Some(ir) = ir {
            self.params
                .set_ir(Some(ir.clone()))
                .map_err(KernelError::from)?;
        }
        let installed = self.session.param_writer();
        let writer: &dyn ParamWriter = match &installed {
            Some(w) => w.as_ref(),
            None => &self.direct,
        };
        let (summary, state) = apply_state(&self.params, &self.session, writer, &result.dsp_state);
        if let Ok(mut report) = self.params.bake_report.write() {
            *report = serde_json::to_string(&result.report).ok();
        }
        let report = &result.report;
        let best = report.best().map_or(0.0, |r| r.similarity);
        lock(&self.session.history).record(BakeEntry {
            prompt: report.prompt.original.clone(),
            understood: report.prompt.understood.clone(),
            similarity: best,
            converged: report.converged,
            before,
            after: Setting {
                state,
                ir: self.params.ir(),
            },
        });
        Ok(summary)
    }
}

/// The bridge configuration for this plugin: the helper and models next to the
/// plugin binary ([`locate`]), default timeouts, finished bakes logged.
pub fn default_config() -> BridgeConfig {
    let mut config = BridgeConfig::located(locate::binary_dir().as_deref());
    config.on_finish = Some(Arc::new(|s: &BakeStatus| {
        if matches!(s.phase, BakePhase::Failed) {
            nice_plug::nice_error!("Faurge: {s}");
        } else {
            nice_plug::nice_log!("Faurge: {s}");
        }
    }));
    config
}

/// The bridge of one instance, with no thread yet (`Bridge::resume` starts it on
/// activation).
pub fn bridge(
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    config: BridgeConfig,
) -> Bridge {
    let core = session.core.clone();
    Bridge::new(core, Arc::new(PluginSettings::new(params, session)), config)
}

/// Starts the bridge thread of one instance now (tests; the plugin starts it on
/// activation, see [`bridge`]).
///
/// # Errors
/// The OS refused to start a thread.
pub fn start(
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    config: BridgeConfig,
) -> std::io::Result<Bridge> {
    let core = session.core.clone();
    Bridge::start(core, Arc::new(PluginSettings::new(params, session)), config)
}
