//! The [`ParamWriter`] an open editor installs: the bridge thread queues begin/set/end
//! per parameter and the editor's GUI thread sends them to the host through nice-plug's
//! `GuiContext` on its next frame, so hosts record a bake as automation and in their
//! undo history. (`GuiContext` calls belong on the GUI thread: nice-plug's debug
//! gesture checker is not thread-safe, and VST3 hosts expect edits from the UI thread.)

use std::sync::Mutex;

use egui;
use nice_plug::context::gui::GuiContext;

use crate::bridge::ParamWriter;
use crate::params::FaurgeParams;
use crate::shared::lock;

/// One queued call.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Begin(usize),
    Set(usize, f32),
    End(usize),
}

/// Queues parameter changes for the GUI thread (see the module docs).
pub struct QueuedWriter {
    ops: Mutex<Vec<Op>>,
    /// Wakes the editor so the queue is sent within a frame.
    egui: Mutex<Option<egui::Context>>,
}

impl QueuedWriter {
    /// An empty queue that wakes `ctx` when something is queued.
    pub fn new(ctx: Option<egui::Context>) -> Self {
        QueuedWriter {
            ops: Mutex::new(Vec::with_capacity(256)),
            egui: Mutex::new(ctx),
        }
    }

    fn push(&self, op: Op) {
        lock(&self.ops).push(op);
        if let Some(ctx) = lock(&self.egui).as_ref() {
            ctx.request_repaint();
        }
    }

    /// Sends everything queued to the host through `context`, in order. GUI thread.
    /// Returns how many calls were sent.
    pub fn flush(&self, context: &GuiContext, params: &FaurgeParams) -> usize {
        let ops = std::mem::take(&mut *lock(&self.ops));
        let handles = params.handles();
        for op in &ops {
            let index = match *op {
                Op::Begin(k) | Op::Set(k, _) | Op::End(k) => k,
            };
            let Some(ptr) = handles.get(index).map(|h| h.param_ptr()) else {
                continue;
            };
            // SAFETY: `ptr` points into `params`, which outlives this call; these are
            // nice-plug's documented GUI-thread entry points.
            unsafe {
                match *op {
                    Op::Begin(_) => context.raw_begin_set_parameter(ptr),
                    Op::Set(_, n) => context.raw_set_parameter_normalized(ptr, n),
                    Op::End(_) => context.raw_end_set_parameter(ptr),
                }
            }
        }
        ops.len()
    }
}

impl ParamWriter for QueuedWriter {
    fn begin(&self, index: usize) {
        self.push(Op::Begin(index));
    }

    fn set_normalized(&self, index: usize, normalized: f32) {
        self.push(Op::Set(index, normalized.clamp(0.0, 1.0)));
    }

    fn end(&self, index: usize) {
        self.push(Op::End(index));
    }
}
