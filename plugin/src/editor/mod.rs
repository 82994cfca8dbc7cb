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
//! Files: [`window`] (the editor nice-plug spawns and its handle, whose drop runs the
//! close hook), [`hook`] (what opening and closing the window changes), [`app`] (the state between frames and what the panels share),
//! [`panels`] (one file per panel), [`widgets`], [`plots`] (the plotting toolkit),
//! [`meters`] (loudness and peak from the scope), [`writer`] (the [`QueuedWriter`]),
//! [`theme`].
//!
//! Threads: everything here runs on the GUI thread. The audio thread feeds the meters
//! through the scope's triple buffer ([`crate::scope`]) only while the editor is open.
//! While open, the editor installs a [`QueuedWriter`] so the bridge's bakes reach the
//! host as begin/set/end gestures (automation and host undo record them); undo/redo
//! and A/B go the same way. A parameter the user holds (a slider being dragged here,
//! or a host change within [`crate::sides::HOST_HOLD_S`]) is never overwritten.

pub mod app;
pub mod hook;
pub mod meters;
pub mod panels;
pub mod plots;
pub mod theme;
pub mod widgets;
pub mod window;
pub mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use faurge_instance::bridge::{BakeStatus, Canceller, StatusCell};
use faurge_vocabulary::sanitizer::Sanitizer;
use nice_plug_egui::{create_egui_editor, EguiEditorState, EguiNiceSettings};

use crate::params::FaurgeParams;
use crate::sides::{PluginSession, NUM_PARAMS};
use app::FaurgeApp;
use hook::WindowHook;
use window::FaurgeEditor;
#[cfg(doc)]
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

static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns the editor off for this process (the standalone without a display runs
/// headless). Call before the plugin is created.
pub fn disable() {
    DISABLED.store(true, Ordering::Release);
}

/// Builds the editor of one instance (`None` after [`disable`]). `status`/`canceller` are `None` when the
/// bridge thread could not start (Bake then only shows that).
pub fn create(
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    status: Option<Arc<StatusCell>>,
    canceller: Option<Canceller>,
) -> Option<FaurgeEditor> {
    if DISABLED.load(Ordering::Acquire) {
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
    let window = Arc::new(WindowHook::new(params.clone(), session.clone()));
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
            reader: faurge_vocabulary::intent::Reader::embedded().ok(),
            asked: None,
            meters: None,
            ir: None,
            report: None,
            last_status: BakeStatus::default(),
            focus_prompt: true,
            dragging: [false; NUM_PARAMS],
            apply_error: None,
            window: window.clone(),
        },
    )?;
    Some(FaurgeEditor::new(inner, window))
}
