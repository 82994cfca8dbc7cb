//! The plugin side of the bake: the [`faurge_bridge::Bridge`] thread of one instance,
//! bound to its parameters, snapshot ring and IR hand-over ([`PluginTarget`]), and
//! how a finished bake's settings reach the parameters ([`ParamWriter`]).
//!
//! # How parameters are set, and what the host hears
//!
//! nice-plug 0.4.2 has exactly one way for a plugin to change its own parameters
//! *with* host notification: `GuiContext::raw_begin_set_parameter` /
//! `raw_set_parameter_normalized` / `raw_end_set_parameter` (or `ParamSetter` over
//! it). The CLAP wrapper turns them into `CLAP_EVENT_PARAM_GESTURE_BEGIN`, `…_VALUE`
//! and `…_GESTURE_END` output events (so automation lanes record and undo works), the
//! VST3 wrapper into `beginEdit` / `performEdit` / `endEdit`. But a `GuiContext` only
//! exists inside an open editor: the wrappers create it in `clap_plugin_gui.create` /
//! `IPlugView::attached` and pass it to `Editor::spawn`, only with nice-plug's
//! `editor` feature; `ProcessContext` has no parameter setter (its `set_parameter`
//! is commented out in nice-plug-core 0.4.2) and the wrapper's
//! `queue_parameter_event` is not reachable from plugin code. So:
//!
//! - With an editor open, the editor installs a [`ParamWriter`] built on its
//!   `GuiContext` ([`crate::shared::Shared::set_param_writer`]); the bridge then sends
//!   begin/set/end per parameter through it, and the host records the bake.
//! - Without one (the case today: there is no editor yet, and hosts run plugins with
//!   closed windows), [`DirectParamWriter`] sets the values the way the wrapper does
//!   for host automation (`_internal_set_normalized_value` plus the smoother's new
//!   target): the chain glides to them, the host reads them through its ordinary
//!   parameter queries (CLAP `params.get_value`, VST3 `getParamNormalized`) and
//!   saves them with the session, but it gets no gesture events, so automation
//!   does not record that bake and host undo does not see it. Nothing better is
//!   possible with nice-plug 0.4.2 without an editor.
//!
//! A parameter the user is holding is never overwritten: an editor gesture in
//! progress ([`crate::shared::ParamActivity::set_held`]) or a host change (automation,
//! a control surface, the host's generic editor) within the last
//! [`crate::shared::HOST_HOLD_S`] seconds leaves it alone.

use std::path::PathBuf;
use std::sync::Arc;

use faurge_bridge::faurge_protocol::BakeResult;
pub use faurge_bridge::{
    ApplySummary, BakePhase, BakeStatus, BakeTarget, Bridge, BridgeConfig, Canceller, LastError,
    SnapshotAudio, StatusCell,
};
use faurge_dsp::state::DspState;

use crate::history::{BakeEntry, Setting};
use crate::locate;
use crate::param_table::PARAMS;
use crate::params::FaurgeParams;
use crate::shared::{lock, Shared, HOST_HOLD_S};
use crate::state::StoredIr;

/// How the bridge changes one parameter (by table row). Called from the bridge
/// thread; an implementation on top of nice-plug's `GuiContext` should forward to
/// its GUI thread if the host requires it.
pub trait ParamWriter: Send + Sync {
    /// The start of a change of row `index` (a host gesture begin).
    fn begin(&self, index: usize);
    /// Sets row `index` to `normalized` (0–1, nice-plug's mapping).
    fn set_normalized(&self, index: usize, normalized: f32);
    /// The end of the change (a host gesture end).
    fn end(&self, index: usize);
}

/// The writer used without an editor: sets values and smoother targets directly
/// (atomics in nice-plug; safe against the audio thread reading them). The host is
/// not notified; see the module docs.
pub struct DirectParamWriter {
    params: Arc<FaurgeParams>,
    shared: Arc<Shared>,
}

impl DirectParamWriter {
    /// A writer for `params`, using the session rate in `shared` for the smoothers.
    pub fn new(params: Arc<FaurgeParams>, shared: Arc<Shared>) -> Self {
        DirectParamWriter { params, shared }
    }
}

impl ParamWriter for DirectParamWriter {
    fn begin(&self, _index: usize) {}

    fn set_normalized(&self, index: usize, normalized: f32) {
        let Some(handle) = self.params.handles().get(index) else {
            return;
        };
        let ptr = handle.param_ptr();
        let session = self.shared.session();
        let rate = session.as_ref().map_or(48_000.0, |s| s.sample_rate);
        // SAFETY: `ptr` points into `self.params`, which this writer keeps alive; the
        // setters only store atomics.
        unsafe {
            ptr._internal_set_normalized_value(normalized.clamp(0.0, 1.0));
            // Inactive: no glide (the next activation snaps anyway).
            ptr._internal_update_smoother(rate, session.is_none());
        }
    }

    fn end(&self, _index: usize) {}
}

/// The [`BakeTarget`] of one CLAP/VST3/standalone instance.
pub struct PluginTarget {
    params: Arc<FaurgeParams>,
    shared: Arc<Shared>,
    direct: DirectParamWriter,
}

impl PluginTarget {
    /// Binds the bridge to an instance's parameters and shared state.
    pub fn new(params: Arc<FaurgeParams>, shared: Arc<Shared>) -> Self {
        PluginTarget {
            direct: DirectParamWriter::new(params.clone(), shared.clone()),
            params,
            shared,
        }
    }

    /// Sets every parameter `state` describes that differs from its current value,
    /// with begin/set/end through the installed writer (else [`DirectParamWriter`]),
    /// skipping held ones. See [`apply_setting`].
    pub fn apply_state(&self, state: &DspState) -> (ApplySummary, DspState) {
        let installed = self.shared.param_writer();
        let writer: &dyn ParamWriter = match &installed {
            Some(w) => w.as_ref(),
            None => &self.direct,
        };
        apply_state(&self.params, &self.shared, writer, state)
    }
}

/// Sets every parameter of `state` that differs from its current value through
/// `writer` (begin/set/end per parameter), except those the user or host is holding
/// ([`crate::shared::ParamActivity::is_held`]). Returns what it did and the state the
/// parameters now describe (held ones keep their values). Not for the audio thread.
pub fn apply_state(
    params: &FaurgeParams,
    shared: &Shared,
    writer: &dyn ParamWriter,
    state: &DspState,
) -> (ApplySummary, DspState) {
    let rate = shared.session().map_or(48_000.0, |s| s.sample_rate);
    let window = (HOST_HOLD_S * rate) as u64;
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
        if shared.activity.is_held(k, window) {
            summary.params_held += 1;
            continue;
        }
        shared.activity.note_bridge_write(k, snapped);
        writer.begin(k);
        writer.set_normalized(k, normalized);
        writer.end(k);
        spec.write(&mut result, snapped);
        summary.params_set += 1;
    }
    (summary, result)
}

/// Applies a whole [`Setting`] (parameters as [`apply_state`], then the impulse
/// response, whose kernel is built here and queued for the cross-fade). Used for
/// undo/redo and A/B. Not for the audio thread.
///
/// # Errors
/// The impulse response could not be prepared; the parameters were applied anyway.
pub fn apply_setting(
    params: &FaurgeParams,
    shared: &Shared,
    writer: &dyn ParamWriter,
    setting: &Setting,
) -> Result<ApplySummary, String> {
    let (mut summary, _) = apply_state(params, shared, writer, &setting.state);
    if params.ir() != setting.ir {
        params
            .set_ir(setting.ir.clone())
            .map_err(|e| e.to_string())?;
        summary.ir_queued = shared.session().is_some();
    }
    Ok(summary)
}

impl BakeTarget for PluginTarget {
    fn bake_requests(&self) -> u64 {
        self.shared.bake_requests()
    }

    fn snapshot(&self) -> Result<SnapshotAudio, String> {
        let ring = self.shared.snapshot_ring().ok_or_else(|| {
            "the plugin is not processing audio; start playback through it, then bake".to_string()
        })?;
        let seconds = ring.capacity() as f32 / ring.sample_rate().max(1.0);
        let snap = ring.copy_latest(seconds);
        Ok(SnapshotAudio {
            sample_rate: snap.sample_rate,
            channels: snap.channels,
        })
    }

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

    fn apply(&self, result: &BakeResult) -> Result<ApplySummary, String> {
        let before = Setting::of(&self.params);
        // The IR first: its kernel is built here (KernelBuilder, off the audio thread)
        // and queued, so it cross-fades in while the parameters glide.
        let mut ir_queued = false;
        if let Some(ir) = &result.ir {
            let samples = ir.samples_f32().map_err(|e| e.to_string())?;
            let stored = StoredIr {
                sample_rate: ir.sample_rate as f32,
                channels: vec![samples],
            };
            self.params
                .set_ir(Some(stored))
                .map_err(|e| e.to_string())?;
            ir_queued = self.shared.session().is_some();
        }
        let (mut summary, state) = self.apply_state(&result.dsp_state);
        summary.ir_queued = ir_queued;
        if let Ok(mut report) = self.params.bake_report.write() {
            *report = serde_json::to_string(&result.report).ok();
        }
        let report = &result.report;
        let best = report.best().map_or(0.0, |r| r.similarity);
        lock(&self.shared.history).record(BakeEntry {
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

/// The helper binary for this plugin: `FAURGE_HELPER`, next to the plugin binary
/// (see [`locate`]), else `faurge-helper` on `PATH`.
pub fn find_helper() -> Option<PathBuf> {
    let dir = locate::plugin_dir();
    if let Some(found) = dir.as_deref().and_then(locate::find_helper) {
        return Some(found);
    }
    if let Some(p) = std::env::var_os(locate::HELPER_ENV).map(PathBuf::from) {
        return Some(p);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(locate::HELPER_NAME))
            .find(|p| p.is_file())
    })
}

/// The bridge configuration for this plugin: [`find_helper`], the models found by
/// [`locate::find_models`] (`FAURGE_MODELS` first), default timeouts.
pub fn default_config() -> BridgeConfig {
    let models = locate::plugin_dir()
        .as_deref()
        .and_then(locate::find_models)
        .or_else(|| std::env::var_os(locate::MODELS_ENV).map(PathBuf::from));
    let mut config = BridgeConfig::new(find_helper(), models);
    config.on_finish = Some(Arc::new(|s: &BakeStatus| {
        if matches!(s.phase, BakePhase::Failed) {
            nice_plug::nice_error!("Faurge: {s}");
        } else {
            nice_plug::nice_log!("Faurge: {s}");
        }
    }));
    config
}

/// Starts the bridge thread of one instance.
///
/// # Errors
/// The OS refused to start a thread.
pub fn start(
    params: Arc<FaurgeParams>,
    shared: Arc<Shared>,
    config: BridgeConfig,
) -> std::io::Result<Bridge> {
    Bridge::start(Arc::new(PluginTarget::new(params, shared)), config)
}
