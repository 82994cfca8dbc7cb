//! How the plugin changes its own parameters (a bake, undo/redo, A/B), and what the
//! host hears of it.
//!
//! nice-plug 0.4.2 has exactly one way for a plugin to change its own parameters
//! *with* host notification: `GuiContext::raw_begin_set_parameter` /
//! `raw_set_parameter_normalized` / `raw_end_set_parameter` (or `ParamSetter` over
//! it). The CLAP wrapper turns them into `CLAP_EVENT_PARAM_GESTURE_BEGIN`, `…_VALUE`
//! and `…_GESTURE_END` output events (so automation lanes record and undo works), the
//! VST3 wrapper into `beginEdit` / `performEdit` / `endEdit`. But a `GuiContext` only
//! exists inside an open editor: the wrappers create it in `clap_plugin_gui.create` /
//! `IPlugView::attached` and pass it to `Editor::spawn`; `ProcessContext` has no
//! parameter setter (its `set_parameter` is commented out in nice-plug-core 0.4.2)
//! and the wrapper's `queue_parameter_event` is not reachable from plugin code. So:
//!
//! - While the editor is open it installs a [`ParamWriter`] built on its `GuiContext`
//!   (`crate::editor::writer::QueuedWriter`, through
//!   [`crate::sides::PluginSession::set_param_writer`]); the bridge sends
//!   begin/set/end per parameter through it, and the host records the bake.
//! - While it is closed (hosts run plugins with closed windows most of the time),
//!   [`DirectParamWriter`] sets the values the way the wrapper does for host
//!   automation (`_internal_set_normalized_value` plus the smoother's new target): the
//!   chain glides to them, the host reads them through its ordinary parameter queries
//!   (CLAP `params.get_value`, VST3 `getParamNormalized`) and saves them with the
//!   session, but it gets no gesture events, so automation does not record that bake
//!   and host undo does not see it. Nothing better is possible with nice-plug 0.4.2
//!   without an open editor.

use std::sync::Arc;

use faurge_instance::session::SessionSide;

use crate::params::FaurgeParams;

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
    session: Arc<SessionSide>,
}

impl DirectParamWriter {
    /// A writer for `params`, using the running session's rate for the smoothers.
    pub fn new(params: Arc<FaurgeParams>, session: Arc<SessionSide>) -> Self {
        DirectParamWriter { params, session }
    }
}

impl ParamWriter for DirectParamWriter {
    fn begin(&self, _index: usize) {}

    fn set_normalized(&self, index: usize, normalized: f32) {
        let Some(handle) = self.params.handles().get(index) else {
            return;
        };
        let ptr = handle.param_ptr();
        let session = self.session.session();
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
