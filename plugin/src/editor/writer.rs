//! The [`ParamWriter`] an open editor installs: the bridge thread queues begin/set/end
//! per parameter and the editor's GUI thread sends them to the host through nice-plug's
//! `GuiContext` on its next frame, so hosts record a bake as automation and in their
//! undo history. (`GuiContext` calls belong on the GUI thread: nice-plug's debug
//! gesture checker is not thread-safe, and VST3 hosts expect edits from the UI thread.)

use std::sync::Mutex;

use nice_plug::context::gui::GuiContext;

use crate::param_writer::ParamWriter;
use crate::params::FaurgeParams;
use crate::sides::lock;

/// One queued call.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Begin(usize),
    Set(usize, f32),
    End(usize),
}

/// Queues parameter changes for the GUI thread (see the module docs). The editor
/// redraws at least every 100 ms and sends the queue first thing in every frame, so a
/// bake reaches the host within about 100 ms of being applied.
pub struct QueuedWriter {
    ops: Mutex<Vec<Op>>,
}

impl Default for QueuedWriter {
    fn default() -> Self {
        QueuedWriter {
            ops: Mutex::new(Vec::with_capacity(256)),
        }
    }
}

impl QueuedWriter {
    fn push(&self, op: Op) {
        lock(&self.ops).push(op);
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
