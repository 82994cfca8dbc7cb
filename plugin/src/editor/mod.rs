//! The editor (nice-plug-egui): prompt, progress, what changed, A/B and undo.
//!
//! Layout, top to bottom: the prompt field with example chips, Bake (also Enter),
//! Cancel and Auto-bake; what the sanitizer understood (the same sanitizer the helper
//! runs, so the preview is exact); the bake's progress (stage, round n/N, the live
//! `S_C` against the threshold) or its result or error in words; the plots (the
//! snapshot's LTAS before and after with the EQ curve over it, the compressor's
//! static curve with the gain-reduction meter, the IR's magnitude and envelope); the
//! input/output meters (short-term LUFS and peak); A/B, undo/redo and the history of
//! bakes; and every parameter as a slider.
//!
//! Threads: everything here runs on the GUI thread. The audio thread feeds the meters
//! through the scope's triple buffer ([`crate::scope`]) only while the editor is open.
//! While open, the editor installs a [`QueuedWriter`] so the bridge's bakes reach the
//! host as begin/set/end gestures (automation and host undo record them); undo/redo
//! and A/B go the same way. A parameter the user holds (a slider being dragged here,
//! or a host change within [`crate::sides::HOST_HOLD_S`]) is never overwritten.

pub mod meters;
pub mod plots;
pub mod theme;
pub mod writer;

use std::sync::Arc;
use std::time::Duration;

use egui::{self, Align, Color32, Key, Layout, RichText, Stroke, Ui, Vec2};
use faurge_instance::bridge::{BakePhase, BakeStatus, Canceller, StatusCell};
use faurge_params::{Kind, ParamTarget, PARAMS};
use faurge_protocol::{BakeReport, EditKind, Stage};
use faurge_dsp::analysis::ltas::ltas_band_centers_hz;
use faurge_dsp::compressor::Compressor;
use faurge_dsp::eq::Eq;
use faurge_vocabulary::sanitizer::{Sanitized, Sanitizer};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::NativeSize;
use nice_plug::editor::{
    Editor, EditorHandle, HostMethods, Modifiers, ParentWindowHandle, ResizeHint, SpawnedEditor,
    VirtualKeyCode,
};
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorHandle, EguiEditorState, EguiNiceSettings,
    NiceEguiApp,
};

use crate::bake::apply_setting;
use crate::history::Setting;
use crate::param_writer::ParamWriter;
use crate::params::{FaurgeParams, ParamHandle};
use crate::sides::{lock, PluginSession, NUM_PARAMS};
use meters::Meters;
use plots::{Axis, IrView, Plot, Scale, FREQ_AXIS};
use writer::QueuedWriter;

/// Default editor size, logical points.
pub const DEFAULT_SIZE: (u32, u32) = (900, 640);
/// Smallest editor size, logical points.
pub const MIN_SIZE: (f32, f32) = (720.0, 520.0);

/// Example prompts offered as chips under the field.
pub const EXAMPLE_PROMPTS: [&str; 5] = [
    "fix my mic",
    "warm radio voice",
    "less boomy",
    "telephone",
    "podcast, -16 LUFS",
];

/// What must be undone when the window closes, shared by the app (which fills it
/// when the window opens) and the editor handle (whose drop empties it).
/// nice-plug-egui 0.6.0 never calls `NiceEguiApp::editor_closed`, so closing is
/// detected here, when the wrapper drops the handle (CLAP `gui.destroy`, VST3
/// `IPlugView::removed`, the standalone's window closing).
struct Link {
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    open: std::sync::Mutex<Option<(GuiContext, Arc<QueuedWriter>)>>,
}

impl Link {
    /// The window opened: installs `writer` for the bridge and turns the scope on.
    fn opened(&self, gui: GuiContext, writer: Arc<QueuedWriter>) {
        self.session
            .set_param_writer(Some(writer.clone() as Arc<dyn ParamWriter>));
        self.session.audio.set_editor_open(true);
        *lock(&self.open) = Some((gui, writer));
    }

    /// nice-plug's context and the installed writer while the window is open.
    fn current(&self) -> Option<(GuiContext, Arc<QueuedWriter>)> {
        lock(&self.open).clone()
    }

    /// The window closed: the bridge goes back to direct writes, what is still queued
    /// is sent, the scope stops, and every parameter the editor was holding is let go.
    fn closed(&self) {
        self.session.set_param_writer(None);
        if let Some((gui, writer)) = lock(&self.open).take() {
            writer.flush(&gui, &self.params);
        }
        self.session.audio.set_editor_open(false);
        for k in 0..NUM_PARAMS {
            self.session.audio.activity.set_held(k, false);
        }
    }
}

/// The editor the plugin exports: nice-plug-egui's, plus the close hook ([`Link`]).
pub struct FaurgeEditor {
    inner: EguiEditor<FaurgeApp>,
    link: Arc<Link>,
}

/// An open editor; dropping it runs the close hook.
pub struct FaurgeEditorHandle {
    inner: EguiEditorHandle,
    link: Arc<Link>,
}

impl Drop for FaurgeEditorHandle {
    fn drop(&mut self) {
        self.link.closed();
    }
}

impl Editor for FaurgeEditor {
    type Handle = FaurgeEditorHandle;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn std::error::Error>> {
        let SpawnedEditor { handle, window } = self.inner.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor,
            gui_context,
            host,
        )?;
        Ok(SpawnedEditor {
            handle: FaurgeEditorHandle {
                inner: handle,
                link: self.link.clone(),
            },
            window,
        })
    }

    fn size(&self) -> NativeSize<u32> {
        self.inner.size()
    }

    fn resize_hint(&self) -> ResizeHint {
        self.inner.resize_hint()
    }

    fn track_info_updated(&self, info: nice_plug::plugin::TrackInfo) {
        self.inner.track_info_updated(info);
    }

    unsafe fn assume_standalone_in_process(&self) {
        // SAFETY: forwarded with the caller's guarantee.
        unsafe { self.inner.assume_standalone_in_process() }
    }
}

type Window = <EguiEditorHandle as EditorHandle>::Window;
type HandleError = <EguiEditorHandle as EditorHandle>::Error;

impl EditorHandle for FaurgeEditorHandle {
    type Window = Window;
    type Error = HandleError;

    fn run_until_closed(window: Window) -> Result<(), HandleError> {
        EguiEditorHandle::run_until_closed(window)
    }

    fn set_parent(&self, parent: ParentWindowHandle, window: &Window) -> Result<(), HandleError> {
        self.inner.set_parent(parent, window)
    }

    fn show(&self, window: &Window) -> Result<(), HandleError> {
        self.inner.show(window)
    }

    fn hide(&self, window: &Window) -> Result<(), HandleError> {
        self.inner.hide(window)
    }

    fn set_size(&self, new_size: NativeSize<u32>, window: &Window) -> Result<(), HandleError> {
        self.inner.set_size(new_size, window)
    }

    fn host_main_thread_callback(&self, window: &Window) {
        self.inner.host_main_thread_callback(window);
    }

    fn adjust_size(&self, new_size: NativeSize<u32>, window: &Window) -> Option<NativeSize<u32>> {
        self.inner.adjust_size(new_size, window)
    }

    fn set_fallback_scale_factor(
        &self,
        scale_factor: f64,
        window: &Window,
    ) -> Result<(), HandleError> {
        self.inner.set_fallback_scale_factor(scale_factor, window)
    }

    fn on_virtual_key_from_host(
        &self,
        key_code: VirtualKeyCode,
        is_down: bool,
        modifiers: Modifiers,
    ) -> bool {
        self.inner
            .on_virtual_key_from_host(key_code, is_down, modifiers)
    }

    fn state_changed(&self) {
        self.inner.state_changed();
    }

    fn param_value_changed(&self, id: &str, normalized_value: f32) {
        self.inner.param_value_changed(id, normalized_value);
    }

    fn param_modulation_changed(&self, id: &str, modulation_offset: f32) {
        self.inner.param_modulation_changed(id, modulation_offset);
    }
}

static DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns the editor off for this process (the standalone without a display runs
/// headless). Call before the plugin is created.
pub fn disable() {
    DISABLED.store(true, std::sync::atomic::Ordering::Release);
}

/// Builds the editor of one instance (`None` after [`disable`]). `status`/`canceller` are `None` when the
/// bridge thread could not start (Bake then only shows that).
pub fn create(
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    status: Option<Arc<StatusCell>>,
    canceller: Option<Canceller>,
) -> Option<FaurgeEditor> {
    if DISABLED.load(std::sync::atomic::Ordering::Acquire) {
        return None;
    }
    let state = EguiEditorState::from_size(
        nice_plug::editor::dpi::LogicalSize::new(DEFAULT_SIZE.0 as f32, DEFAULT_SIZE.1 as f32),
        1.0,
    );
    let settings = EguiNiceSettings::new()
        .with_tile("Faurge")
        .with_resize_hint(nice_plug::editor::ResizeHint {
            can_resize: true,
            can_resize_horizontally: true,
            can_resize_vertically: true,
            preserve_aspect_ratio: false,
            aspect_ratio_width: DEFAULT_SIZE.0,
            aspect_ratio_height: DEFAULT_SIZE.1,
            size_constraints: nice_plug::editor::SizeConstraints::Logical {
                min_size: Some(nice_plug::editor::dpi::LogicalSize::new(
                    MIN_SIZE.0, MIN_SIZE.1,
                )),
                max_size: None,
            },
        });
    let prompt = params.prompt.read().map(|p| p.clone()).unwrap_or_default();
    let link = Arc::new(Link {
        params: params.clone(),
        session: session.clone(),
        open: std::sync::Mutex::new(None),
    });
    let inner = create_egui_editor(
        state,
        nice_plug_egui::RepaintNotifier::new(),
        settings,
        FaurgeApp {
            params,
            session,
            status,
            canceller,
            sanitizer: Sanitizer::embedded().ok(),
            prompt,
            understood: None,
            meters: None,
            ir: None,
            report: None,
            last_status: BakeStatus::default(),
            focus_prompt: true,
            dragging: [false; NUM_PARAMS],
            apply_error: None,
            link: link.clone(),
        },
    )?;
    Some(FaurgeEditor { inner, link })
}

/// The editor's state between frames (GUI thread only).
pub struct FaurgeApp {
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    status: Option<Arc<StatusCell>>,
    canceller: Option<Canceller>,
    sanitizer: Option<Sanitizer>,
    /// The prompt being edited.
    prompt: String,
    /// The sanitizer's reading of `prompt` (recomputed when `prompt` differs from
    /// its `original`).
    understood: Option<Sanitized>,
    meters: Option<Meters>,
    /// The analysed IR and the `ir_revision` it belongs to.
    ir: Option<(u64, Option<(f32, IrView)>)>,
    /// The parsed bake report and the text it came from.
    report: Option<(String, Option<BakeReport>)>,
    last_status: BakeStatus,
    focus_prompt: bool,
    /// Which sliders the user is dragging (held parameters).
    dragging: [bool; NUM_PARAMS],
    /// The last undo/redo/A-B that could not be applied.
    apply_error: Option<String>,
    link: Arc<Link>,
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
        self.link.opened(nice_gui_ctx, writer);
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

fn edit_line(kind: EditKind, from: &str, to: &str) -> String {
    match kind {
        EditKind::Vague => format!("“{from}” is vague: using the anchor prompt"),
        EditKind::Typo => format!("“{from}” read as “{to}”"),
        EditKind::Slang => format!("“{from}” (slang) read as “{to}”"),
        EditKind::Truncated => "cut at the length limit".to_string(),
        EditKind::Removed => format!("“{from}” removed"),
    }
}

impl FaurgeApp {
    /// Everything inside the window's margin.
    fn contents(&mut self, ui: &mut Ui, baking: bool) {
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

    fn flush_writer(&self) {
        if let Some((gui, writer)) = self.link.current() {
            writer.flush(&gui, &self.params);
        }
    }

    fn read_scope(&mut self) {
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
    fn refresh_report(&mut self) {
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

    fn bake(&mut self) {
        if let Ok(mut p) = self.params.prompt.write() {
            p.clone_from(&self.prompt);
        }
        self.session.request_bake();
        // Show "starting" at once, before the bridge's next poll.
        self.last_status.phase = BakePhase::Starting;
    }

    /// Sets parameter row `k` to `plain` with a host gesture, through the same
    /// writer the bridge uses (GUI thread).
    fn set_param(&self, k: usize, plain: f32) {
        let (Some((_, writer)), Some(handle)) = (self.link.current(), self.params.handles().get(k))
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

    fn prompt_row(&mut self, ui: &mut Ui, baking: bool) {
        ui.horizontal(|ui| {
            ui.heading(RichText::new("Faurge").strong());
            let field = egui::TextEdit::singleline(&mut self.prompt)
                .hint_text("Describe the sound you want, e.g. warm radio voice")
                .desired_width(ui.available_width() - 250.0);
            let response = ui.add(field);
            if self.focus_prompt {
                response.request_focus();
                self.focus_prompt = false;
            }
            let enter = ui.input(|i| i.key_pressed(Key::Enter));
            let nothing_focused = ui.ctx().memory(|m| m.focused().is_none());
            let enter_bake = enter && (response.lost_focus() || nothing_focused);
            let bake = ui
                .add_enabled(!baking, egui::Button::new(RichText::new("Bake").strong()))
                .on_hover_text("Listen to the last seconds of input and find settings that match the prompt (Enter)");
            if (bake.clicked() || enter_bake) && !baking {
                self.bake();
                // Keep typing after Enter.
                response.request_focus();
            }
            if ui
                .add_enabled(baking && self.canceller.is_some(), egui::Button::new("Cancel"))
                .clicked()
            {
                if let Some(c) = &self.canceller {
                    c.cancel();
                }
            }
            let auto_k = PARAMS.iter().position(|p| p.target == ParamTarget::AutoBake);
            let mut auto = self.params.auto_bake();
            if ui
                .checkbox(&mut auto, "Auto-bake")
                .on_hover_text("Bake again by itself when the input changes character")
                .changed()
            {
                if let Some(k) = auto_k {
                    self.set_param(k, if auto { 1.0 } else { 0.0 });
                }
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Try:").weak());
            for example in EXAMPLE_PROMPTS {
                let chip = egui::Button::new(example)
                    .corner_radius(10.0)
                    .selected(self.prompt == example);
                if ui.add(chip).clicked() {
                    self.prompt = example.to_string();
                    self.focus_prompt = true;
                }
            }
        });
    }

    fn understood_row(&mut self, ui: &mut Ui) {
        let Some(sanitizer) = &self.sanitizer else {
            return;
        };
        let text = if self.prompt.trim().is_empty() {
            faurge_instance::bridge::DEFAULT_PROMPT
        } else {
            &self.prompt
        };
        if self.understood.as_ref().is_none_or(|s| s.original != text) {
            self.understood = Some(sanitizer.sanitize(text));
        }
        let Some(s) = &self.understood else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Understood:").weak());
            ui.label(RichText::new(&s.understood).italics());
        });
        if !s.edits.is_empty() {
            ui.horizontal_wrapped(|ui| {
                for e in &s.edits {
                    ui.label(RichText::new(edit_line(e.kind, &e.from, &e.to)).color(theme::LABEL));
                }
            });
        }
    }

    fn status_row(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if self.status.is_none() {
                ui.colored_label(
                    theme::ERROR,
                    "Baking is unavailable: the plugin could not start its bake thread. Restart the host; the audio is unaffected.",
                );
                return;
            }
            match &self.last_status.phase {
                BakePhase::Idle => {
                    ui.label("Play a few seconds through the plugin, type what you want, and press Bake.");
                }
                BakePhase::Starting => {
                    ui.spinner();
                    ui.label("Starting the bake: copying the last seconds of input, starting the helper…");
                }
                BakePhase::Baking(p) => {
                    ui.spinner();
                    ui.label(format!("Round {}/{}: {}", p.round, p.max_rounds, p.stage));
                    similarity_bar(ui, p.similarity, p.threshold);
                    let done = Stage::ALL.iter().position(|s| *s == p.stage).unwrap_or(0);
                    ui.label(
                        RichText::new(format!("stage {}/{}", done + 1, Stage::ALL.len())).weak(),
                    );
                }
                BakePhase::Applied(_) | BakePhase::Cancelled => {
                    ui.label(self.last_status.to_string());
                    if let Some(Some(r)) = self.report.as_ref().map(|(_, r)| r) {
                        let best = r.best();
                        if let Some(b) = best {
                            ui.label(format!(
                                "· best round {} of {}, S_C {:.2} / {:.2}{}",
                                b.round,
                                r.rounds.len(),
                                b.similarity,
                                r.threshold,
                                if r.converged { "" } else { " (threshold not reached; best round used)" }
                            ));
                        }
                    }
                }
                BakePhase::Failed => {
                    let message = self
                        .last_status
                        .last_error
                        .as_ref()
                        .map_or_else(|| "Bake failed.".to_string(), |e| format!("Bake failed: {}", e.message));
                    ui.colored_label(theme::ERROR, message)
                        .on_hover_text("The audio keeps running on the last good settings.");
                }
            }
        });
        if let Some(e) = &self.apply_error {
            ui.colored_label(theme::ERROR, e);
        }
    }

    fn plots(&mut self, ui: &mut Ui) {
        let state = self.params.dsp_state();
        let rate = self.session.sample_rate();
        let width = ui.available_width();
        let row_h = 190.0;
        ui.horizontal(|ui| {
            self.spectrum_plot(ui, Vec2::new(width * 0.6 - 8.0, row_h), &state, rate);
            self.compressor_plot(ui, Vec2::new(width * 0.4 - 4.0, row_h), &state);
        });
        ui.horizontal(|ui| {
            self.ir_plots(
                ui,
                Vec2::new(width * 0.6 - 8.0, 150.0),
                state.convolver.enabled,
            );
            self.meters_panel(ui, Vec2::new(width * 0.4 - 4.0, 150.0));
        });
    }

    fn spectrum_plot(
        &self,
        ui: &mut Ui,
        size: Vec2,
        state: &faurge_dsp::state::DspState,
        rate: f32,
    ) {
        let y = Axis {
            min: -60.0,
            max: 6.0,
            scale: Scale::Linear,
        };
        let plot = Plot::new(
            ui,
            size,
            "Snapshot spectrum (LTAS, dB re peak) and EQ (dB), over Hz",
            (
                FREQ_AXIS,
                &[50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0],
                true,
            ),
            (y, &[-60.0, -48.0, -36.0, -24.0, -12.0, 0.0]),
        );
        // The EQ curve: 0 dB at −27 on the LTAS axis, 1 dB per dB.
        const EQ_ZERO: f32 = -27.0;
        for db in [-24.0f32, -12.0, 12.0, 24.0] {
            let p = plot.px(plots::MAX_HZ, EQ_ZERO + db);
            plot.painter().text(
                egui::pos2(p.x - 2.0, p.y),
                egui::Align2::RIGHT_CENTER,
                format!("EQ {db:+}"),
                egui::FontId::proportional(10.0),
                theme::EQ_CURVE,
            );
        }
        plot.function(
            200,
            |hz| EQ_ZERO + Eq::magnitude_db(&state.eq, f64::from(hz), f64::from(rate)) as f32,
            theme::EQ_CURVE,
            2.0,
        );
        let report = self.report.as_ref().and_then(|(_, r)| r.as_ref());
        let before = report.and_then(|r| r.input_metrics.as_ref());
        let after = report.and_then(|r| r.output_metrics.as_ref());
        match (before, after) {
            (Some(b), Some(a)) if b.ltas_db.len() == a.ltas_db.len() => {
                let top = b
                    .ltas_db
                    .iter()
                    .chain(&a.ltas_db)
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                let centres = ltas_band_centers_hz();
                let curve = |v: &[f32]| -> Vec<(f32, f32)> {
                    centres
                        .iter()
                        .zip(v)
                        .map(|(&f, &db)| (f, db - top))
                        .collect()
                };
                plot.curve(curve(&b.ltas_db), theme::BEFORE_LTAS, 1.5);
                plot.curve(curve(&a.ltas_db), theme::color(theme::AFTER_LTAS), 2.0);
                plot.legend(&[
                    ("before", theme::BEFORE_LTAS),
                    ("after", theme::color(theme::AFTER_LTAS)),
                    ("EQ", theme::EQ_CURVE),
                ]);
            }
            _ => {
                plot.legend(&[("EQ", theme::EQ_CURVE)]);
                plot.note("Bake to see the snapshot's spectrum before and after");
            }
        }
    }

    fn compressor_plot(&self, ui: &mut Ui, size: Vec2, state: &faurge_dsp::state::DspState) {
        let axis = Axis {
            min: -60.0,
            max: 0.0,
            scale: Scale::Linear,
        };
        let grid = [-60.0, -48.0, -36.0, -24.0, -12.0, 0.0];
        // Leave room for the gain-reduction meter on the right.
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                let plot = Plot::new(
                    ui,
                    Vec2::new(size.x - 46.0, size.y),
                    "Compressor: output over input level, dB",
                    (axis, &grid, false),
                    (axis, &grid),
                );
                let c = &state.compressor;
                plot.function(2, |x| x, theme::GRID, 1.0);
                let color = if c.enabled {
                    theme::COMP_CURVE
                } else {
                    theme::LABEL
                };
                plot.function(120, |x| Compressor::static_curve_db(c, x), color, 2.0);
                if !c.enabled {
                    plot.note("off");
                }
                let gr = self.meters.as_ref().map_or(0.0, |m| m.gain_reduction_db);
                vertical_meter(
                    ui,
                    Vec2::new(38.0, size.y),
                    "GR",
                    gr / 24.0,
                    &format!("{gr:.1}"),
                    theme::COMP_CURVE,
                );
            });
        });
    }

    fn ir_plots(&mut self, ui: &mut Ui, size: Vec2, on: bool) {
        let revision = self.params.ir_revision();
        if self.ir.as_ref().is_none_or(|(r, _)| *r != revision) {
            let view = self.params.ir().and_then(|ir| {
                let first = ir.channels.first()?;
                Some((ir.sample_rate, IrView::analyse(first, ir.sample_rate)))
            });
            self.ir = Some((revision, view));
        }
        let view = self.ir.as_ref().and_then(|(_, v)| v.as_ref());
        ui.horizontal(|ui| {
            let mag = Plot::new(
                ui,
                Vec2::new(size.x * 0.55 - 4.0, size.y),
                if on {
                    "Impulse response: magnitude, dB"
                } else {
                    "Impulse response (off): magnitude, dB"
                },
                (FREQ_AXIS, &[100.0, 1000.0, 10_000.0], true),
                (
                    Axis {
                        min: -24.0,
                        max: 24.0,
                        scale: Scale::Linear,
                    },
                    &[-24.0, -12.0, 0.0, 12.0, 24.0],
                ),
            );
            let env_len = view.map_or(100.0, |(_, v)| v.active_ms.max(1.0));
            let env = Plot::new(
                ui,
                Vec2::new(size.x * 0.45 - 4.0, size.y),
                "Envelope: dB re peak over ms",
                (
                    Axis {
                        min: 0.0,
                        max: env_len,
                        scale: Scale::Linear,
                    },
                    &[0.0, (env_len / 2.0).round(), env_len.round()],
                    false,
                ),
                (
                    Axis {
                        min: -80.0,
                        max: 0.0,
                        scale: Scale::Linear,
                    },
                    &[-80.0, -40.0, 0.0],
                ),
            );
            match view {
                Some((_, v)) => {
                    mag.curve(
                        v.magnitude.iter().copied(),
                        theme::color(theme::IR_CURVE),
                        2.0,
                    );
                    env.curve(v.envelope.iter().copied(), theme::IR_ENVELOPE, 1.5);
                }
                None => {
                    mag.note("No impulse response yet");
                    env.note("Bake to get one");
                }
            }
        });
    }

    fn meters_panel(&self, ui: &mut Ui, size: Vec2) {
        let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
        let mut child = ui.new_child(
            egui::UiBuilder::new()
                .max_rect(rect)
                .layout(Layout::left_to_right(Align::Min)),
        );
        child.painter().rect_filled(rect, 4.0, theme::PLOT_BG);
        let bar = Vec2::new((size.x - 24.0) / 4.0, size.y - 8.0);
        child.add_space(4.0);
        let show = |ui: &mut Ui, label: &str, m: Option<&meters::Meter>| {
            let lufs = m.and_then(|m| m.short_term_lufs());
            let peak = m.map_or(-200.0, |m| m.peak_dbfs());
            // Scales: LUFS −60…0, peak −60…0 dBFS.
            vertical_meter(
                ui,
                bar,
                &format!("{label} LUFS-S"),
                lufs.map_or(0.0, |l| (l + 60.0) / 60.0),
                &lufs.map_or("—".to_string(), |l| format!("{l:.1}")),
                theme::METER_OK,
            );
            vertical_meter(
                ui,
                bar,
                &format!("{label} peak"),
                (peak + 60.0) / 60.0,
                &if peak > -100.0 {
                    format!("{peak:.1}")
                } else {
                    "—".to_string()
                },
                if peak > -1.0 {
                    theme::METER_HOT
                } else {
                    theme::METER_OK
                },
            );
        };
        show(&mut child, "In", self.meters.as_ref().map(|m| &m.input));
        show(&mut child, "Out", self.meters.as_ref().map(|m| &m.output));
    }

    /// Applies `setting` (undo/redo/A-B) through the editor's writer.
    fn apply(&mut self, setting: Option<Setting>) {
        let (Some(setting), Some((_, writer))) = (setting, self.link.current()) else {
            return;
        };
        self.apply_error = apply_setting(&self.params, &self.session, writer.as_ref(), &setting)
            .err()
            .map(|e| format!("Could not restore the impulse response: {e}"));
        self.flush_writer();
    }

    fn history_row(&mut self, ui: &mut Ui) {
        /// Bakes listed beside the buttons, newest first.
        const SHOWN: usize = 4;
        let (can_undo, can_redo, can_ab, showing_b, count, shown) = {
            let h = lock(&self.session.history);
            let count = h.entries().len();
            let shown: Vec<(String, f32, bool)> = h
                .entries()
                .enumerate()
                .rev()
                .take(SHOWN)
                .map(|(i, e)| (e.prompt.clone(), e.similarity, i < h.applied()))
                .collect();
            (
                h.can_undo(),
                h.can_redo(),
                h.can_compare(),
                h.showing_b(),
                count,
                shown,
            )
        };
        ui.horizontal(|ui| {
            let ab_text = if showing_b {
                "B: before the bake"
            } else {
                "A/B"
            };
            let ab_button = egui::Button::new(
                RichText::new(ab_text).strong().color(Color32::WHITE),
            )
            .fill(if can_ab {
                theme::color(theme::AB_ACCENT)
            } else {
                theme::GRID
            });
            if ui
                .add_enabled(can_ab, ab_button)
                .on_hover_text(
                    "Compare the current settings (A) with the settings before the last bake (B)",
                )
                .clicked()
            {
                let now = Setting::of(&self.params);
                let next = lock(&self.session.history).toggle_ab(now);
                self.apply(next);
            }
            if ui
                .add_enabled(can_undo, egui::Button::new("Undo bake"))
                .clicked()
            {
                let s = lock(&self.session.history).undo();
                self.apply(s);
            }
            if ui
                .add_enabled(can_redo, egui::Button::new("Redo bake"))
                .clicked()
            {
                let s = lock(&self.session.history).redo();
                self.apply(s);
            }
            ui.label(
                RichText::new(format!(
                    "History ({}/{}):",
                    count,
                    crate::history::HISTORY_LEN
                ))
                .weak(),
            );
            for (prompt, sc, applied) in &shown {
                let text = RichText::new(format!("“{prompt}” S_C {sc:.2}"));
                ui.label(if *applied {
                    text
                } else {
                    text.weak().strikethrough()
                });
            }
        });
    }

    fn settings(&mut self, ui: &mut Ui) {
        let Some((gui, _)) = self.link.current() else {
            return;
        };
        let setter = gui.param_setter();
        egui::CollapsingHeader::new(
            "All settings (every baked value is a parameter you can change)",
        )
        .default_open(false)
        .show(ui, |ui| {
            let mut group = "";
            egui::Grid::new("params")
                .num_columns(4)
                .striped(true)
                .show(ui, |ui| {
                    let mut col = 0;
                    for (k, (spec, handle)) in PARAMS.iter().zip(self.params.handles()).enumerate()
                    {
                        if matches!(spec.kind, Kind::Trigger) {
                            continue;
                        }
                        if spec.group != group {
                            group = spec.group;
                            if col != 0 {
                                ui.end_row();
                                col = 0;
                            }
                        }
                        ui.label(spec.name);
                        let response = match handle {
                            ParamHandle::Float(p) => {
                                ui.add(ParamSlider::for_param(p, &setter).with_width(120.0))
                            }
                            ParamHandle::Bool(p) => {
                                ui.add(ParamSlider::for_param(p, &setter).with_width(120.0))
                            }
                        };
                        let held = response.dragged() || response.has_focus();
                        if held != self.dragging[k] {
                            self.dragging[k] = held;
                            self.session.audio.activity.set_held(k, held);
                            if held {
                                lock(&self.session.history).end_compare();
                            }
                        }
                        col += 1;
                        if col == 2 {
                            ui.end_row();
                            col = 0;
                        }
                    }
                });
        });
    }
}

/// The live `S_C` against the threshold: a bar filled to `similarity` with a mark at
/// `threshold`.
fn similarity_bar(ui: &mut Ui, similarity: Option<f32>, threshold: f32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(160.0, 14.0), egui::Sense::hover());
    let p = ui.painter();
    p.rect_filled(rect, 3.0, theme::PLOT_BG);
    if let Some(s) = similarity {
        let mut fill = rect;
        fill.set_width(rect.width() * s.clamp(0.0, 1.0));
        p.rect_filled(
            fill,
            3.0,
            if s >= threshold {
                theme::METER_OK
            } else {
                theme::EQ_CURVE
            },
        );
    }
    let x = rect.left() + rect.width() * threshold.clamp(0.0, 1.0);
    p.line_segment(
        [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
        Stroke::new(2.0, Color32::WHITE),
    );
    ui.label(match similarity {
        Some(s) => format!("S_C {s:.2} / {threshold:.2}"),
        None => format!("S_C — / {threshold:.2}"),
    });
}

/// A vertical bar meter filled to `fraction` (0–1) with a caption and a value.
fn vertical_meter(
    ui: &mut Ui,
    size: Vec2,
    caption: &str,
    fraction: f32,
    value: &str,
    color: Color32,
) {
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let p = ui.painter();
    let bar = egui::Rect::from_min_max(
        egui::pos2(rect.center().x - 7.0, rect.top() + 18.0),
        egui::pos2(rect.center().x + 7.0, rect.bottom() - 16.0),
    );
    p.rect_filled(bar, 2.0, theme::GRID);
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut fill = bar;
    fill.set_top(bar.bottom() - bar.height() * f);
    p.rect_filled(fill, 2.0, color);
    p.text(
        egui::pos2(rect.center().x, rect.top() + 2.0),
        egui::Align2::CENTER_TOP,
        value,
        egui::FontId::monospace(11.0),
        Color32::WHITE,
    );
    p.text(
        egui::pos2(rect.center().x, rect.bottom() - 2.0),
        egui::Align2::CENTER_BOTTOM,
        caption,
        egui::FontId::proportional(10.0),
        theme::LABEL,
    );
}
