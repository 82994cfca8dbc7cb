//! The editor's state between frames ([`FaurgeApp`], GUI thread only) and what its
//! panels share: the frame's order, the writer, the scope, the report, Bake, setting
//! a parameter and applying a setting.

use std::sync::Arc;
use std::time::Duration;

use egui::{self, Ui, Vec2};
use faurge_instance::bridge::{BakePhase, BakeStatus, Canceller, StatusCell};
use faurge_protocol::BakeReport;
use faurge_vocabulary::intent::Reader;
use faurge_vocabulary::sanitizer::{Sanitized, Sanitizer};
use nice_plug::context::gui::GuiContext;
use nice_plug_egui::NiceEguiApp;

use super::hook::WindowHook;
use super::meters::Meters;
use super::plots::IrView;
use super::writer::QueuedWriter;
use crate::bake::apply_setting;
use crate::history::Setting;
use crate::param_writer::ParamWriter;
use crate::params::FaurgeParams;
use crate::sides::{PluginSession, NUM_PARAMS};

/// The editor's state between frames (GUI thread only).
pub struct FaurgeApp {
    pub(super) params: Arc<FaurgeParams>,
    pub(super) session: Arc<PluginSession>,
    pub(super) status: Option<Arc<StatusCell>>,
    pub(super) canceller: Option<Canceller>,
    pub(super) sanitizer: Option<Sanitizer>,
    /// The prompt being edited.
    pub(super) prompt: String,
    /// The sanitizer's reading of `prompt` (recomputed when `prompt` differs from
    /// its `original`).
    pub(super) understood: Option<Sanitized>,
    /// The prompt reader (descriptors with intensities, loudness, repair).
    pub(super) reader: Option<Reader>,
    /// What `understood` asks for, in one line ("warmer +1, less boomy −1, …").
    pub(super) asked: Option<String>,
    pub(super) meters: Option<Meters>,
    /// The analysed IR and the `ir_revision` it belongs to.
    pub(super) ir: Option<(u64, Option<(f32, IrView)>)>,
    /// The parsed bake report and the text it came from.
    pub(super) report: Option<(String, Option<BakeReport>)>,
    pub(super) last_status: BakeStatus,
    pub(super) focus_prompt: bool,
    /// Which sliders the user is dragging (held parameters).
    pub(super) dragging: [bool; NUM_PARAMS],
    /// The last undo/redo/A-B that could not be applied.
    pub(super) apply_error: Option<String>,
    pub(super) window: Arc<WindowHook>,
}

impl NiceEguiApp for FaurgeApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        egui_ctx.set_visuals(egui::Visuals::dark());
        let writer = Arc::new(QueuedWriter::default());
        self.window.opened(nice_gui_ctx, writer);
        self.focus_prompt = true;
        self.dragging = [false; NUM_PARAMS];
        self.meters = None;
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut nice_plug_egui::Frame) {
        self.flush_writer();
        self.read_scope();
        if let Some(s) = self.status.as_ref().and_then(|s| s.try_get()) {
            self.last_status = s;
        }
        let baking = matches!(
            self.last_status.phase,
            BakePhase::Starting | BakePhase::Baking(_)
        );
        ui.ctx()
            .request_repaint_after(Duration::from_millis(if baking { 30 } else { 100 }));
        self.refresh_report();
        egui::Frame::new().inner_margin(8.0).show(ui, |ui| {
            self.contents(ui, baking);
        });
    }
}

impl FaurgeApp {
    /// Everything inside the window's margin.
    pub(in crate::editor) fn contents(&mut self, ui: &mut Ui, baking: bool) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.spacing_mut().item_spacing = Vec2::new(8.0, 6.0);
                self.prompt_row(ui, baking);
                self.understood_row(ui);
                self.status_row(ui);
                ui.separator();
                self.plots(ui);
                ui.separator();
                self.history_row(ui);
                self.settings(ui);
            });
    }

    pub(in crate::editor) fn flush_writer(&self) {
        if let Some((gui, writer)) = self.window.current() {
            writer.flush(&gui, &self.params);
        }
    }

    pub(in crate::editor) fn read_scope(&mut self) {
        let meters = &mut self.meters;
        self.session.with_scope(|scope| {
            if let Some(scope) = scope {
                // Drain: a frame may come after several blocks.
                while let Some((block, skipped)) = scope.newest() {
                    Meters::feed(meters, block, skipped);
                }
            }
        });
    }

    /// Parses the stored report when its text changed (compared in place, so an
    /// unchanged report is not copied every frame).
    pub(in crate::editor) fn refresh_report(&mut self) {
        let Ok(stored) = self.params.bake_report.read() else {
            return;
        };
        if stored.as_deref() == self.report.as_ref().map(|(t, _)| t.as_str()) {
            return;
        }
        self.report = stored
            .clone()
            .map(|text| (text.clone(), serde_json::from_str::<BakeReport>(&text).ok()));
    }

    pub(in crate::editor) fn bake(&mut self) {
        if let Ok(mut p) = self.params.prompt.write() {
            p.clone_from(&self.prompt);
        }
        self.session.request_bake();
        // Show "starting" at once, before the bridge's next poll.
        self.last_status.phase = BakePhase::Starting;
    }

    /// Sets parameter row `k` to `plain` with a host gesture, through the same
    /// writer the bridge uses (GUI thread).
    pub(in crate::editor) fn set_param(&self, k: usize, plain: f32) {
        let (Some((_, writer)), Some(handle)) =
            (self.window.current(), self.params.handles().get(k))
        else {
            return;
        };
        // SAFETY: the pointer points into `self.params`, alive for this call.
        let normalized = unsafe { handle.param_ptr().preview_normalized(plain) };
        writer.begin(k);
        writer.set_normalized(k, normalized);
        writer.end(k);
        self.flush_writer();
    }

    /// Applies `setting` (undo/redo/A-B) through the editor's writer.
    pub(in crate::editor) fn apply(&mut self, setting: Option<Setting>) {
        let (Some(setting), Some((_, writer))) = (setting, self.window.current()) else {
            return;
        };
        self.apply_error = apply_setting(&self.params, &self.session, writer.as_ref(), &setting)
            .err()
            .map(|e| format!("Could not restore the impulse response: {e}"));
        self.flush_writer();
    }
}
