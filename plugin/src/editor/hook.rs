//! What opening and closing the editor's window changes ([`WindowHook`]), shared by
//! the app (which calls it when the window opens) and the editor handle (whose drop
//! calls it when the window closes).

use std::sync::{Arc, Mutex};

use nice_plug::context::gui::GuiContext;

use super::writer::QueuedWriter;
use crate::param_writer::ParamWriter;
use crate::params::FaurgeParams;
use crate::sides::{lock, PluginSession, NUM_PARAMS};

/// What must be undone when the window closes, shared by the app (which fills it
/// when the window opens) and the editor handle (whose drop empties it).
/// nice-plug-egui 0.6.0 never calls `NiceEguiApp::editor_closed`, so closing is
/// detected here, when the wrapper drops the handle (CLAP `gui.destroy`, VST3
/// `IPlugView::removed`, the standalone's window closing).
pub struct WindowHook {
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    open: Mutex<Option<(GuiContext, Arc<QueuedWriter>)>>,
}

impl WindowHook {
    /// The hook of one instance's editor, with no window open.
    pub fn new(params: Arc<FaurgeParams>, session: Arc<PluginSession>) -> Self {
        WindowHook {
            params,
            session,
            open: Mutex::new(None),
        }
    }

    /// The window opened: installs `writer` for the bridge and turns the scope on.
    pub fn opened(&self, gui: GuiContext, writer: Arc<QueuedWriter>) {
        self.session
            .set_param_writer(Some(writer.clone() as Arc<dyn ParamWriter>));
        self.session.audio.set_editor_open(true);
        *lock(&self.open) = Some((gui, writer));
    }

    /// nice-plug's context and the installed writer while the window is open.
    pub fn current(&self) -> Option<(GuiContext, Arc<QueuedWriter>)> {
        lock(&self.open).clone()
    }

    /// The window closed: the bridge goes back to direct writes, what is still queued
    /// is sent, the scope stops, and every parameter the editor was holding is let go.
    pub fn closed(&self) {
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
