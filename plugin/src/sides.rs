//! What one plugin instance shares between its threads, split by the realtime
//! contract the way `faurge_instance::session` splits the core's:
//!
//! - [`PluginAudio`]: what the audio thread touches: the core's [`AudioSide`], the
//!   host's parameter activity and whether an editor is open. Atomics and slots only;
//!   every method is realtime-safe.
//! - [`PluginSession`]: what only the main, bridge and GUI threads touch: the core's
//!   [`SessionSide`], the installed [`ParamWriter`], the editor's scope reader and the
//!   bake history, each behind a mutex.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use faurge_instance::session::{AudioSide, SessionSide};
use faurge_params::PARAMS;

use crate::history::BakeHistory;
use crate::param_writer::ParamWriter;
use crate::scope::ScopeReader;

/// Number of parameters (rows of the table).
pub const NUM_PARAMS: usize = PARAMS.len();

/// How long after the host (automation, a control surface, a generic editor) last
/// changed a parameter the bridge treats it as held and does not overwrite it, seconds.
pub const HOST_HOLD_S: f32 = 0.5;

/// Who changed what, for the bridge's "do not overwrite a parameter the user holds"
/// rule. The audio thread stamps host changes; the bridge marks its own writes; an
/// editor marks its gestures.
pub struct ParamActivity {
    /// Per parameter: the input frame (see `frames`) at which the audio thread last saw
    /// a value the bridge did not write.
    touched_at: Box<[AtomicU64]>,
    /// Per parameter: bits of the last plain value the bridge wrote (NaN bits: none).
    bridge_wrote: Box<[AtomicU32]>,
    /// Per parameter: 1 while an editor gesture is in progress.
    held: Box<[AtomicU32]>,
    /// Input frames processed since creation.
    frames: AtomicU64,
}

impl Default for ParamActivity {
    fn default() -> Self {
        ParamActivity {
            touched_at: (0..NUM_PARAMS).map(|_| AtomicU64::new(0)).collect(),
            bridge_wrote: (0..NUM_PARAMS)
                .map(|_| AtomicU32::new(f32::NAN.to_bits()))
                .collect(),
            held: (0..NUM_PARAMS).map(|_| AtomicU32::new(0)).collect(),
            frames: AtomicU64::new(0),
        }
    }
}

impl ParamActivity {
    /// An editor calls this with `true` when the user grabs parameter `index` (table
    /// row) and `false` when they let go; the bridge leaves a held parameter alone.
    pub fn set_held(&self, index: usize, held: bool) {
        if let Some(h) = self.held.get(index) {
            h.store(u32::from(held), Ordering::Release);
        }
    }

    /// Whether parameter `index` is held by an editor gesture or was changed by the
    /// host within the last `window_frames` frames.
    pub fn is_held(&self, index: usize, window_frames: u64) -> bool {
        let gesture = self
            .held
            .get(index)
            .is_some_and(|h| h.load(Ordering::Acquire) != 0);
        let now = self.frames.load(Ordering::Acquire);
        let touched = self
            .touched_at
            .get(index)
            .map_or(0, |t| t.load(Ordering::Acquire));
        gesture || (touched > 0 && now.saturating_sub(touched) < window_frames)
    }

    /// The bridge records the plain value it is about to write to parameter `index`,
    /// so the audio thread does not mistake it for a host change.
    pub fn note_bridge_write(&self, index: usize, plain: f32) {
        if let Some(w) = self.bridge_wrote.get(index) {
            w.store(plain.to_bits(), Ordering::Release);
        }
    }

    /// Audio thread: parameter `index` now has plain value `plain` (different from the
    /// last value seen). Stamps it as a host change unless the bridge wrote it.
    /// Realtime-safe (atomics only).
    pub(crate) fn saw_change(&self, index: usize, plain: f32) {
        let by_bridge = self
            .bridge_wrote
            .get(index)
            .is_some_and(|w| w.load(Ordering::Acquire) == plain.to_bits());
        if !by_bridge {
            if let Some(t) = self.touched_at.get(index) {
                t.store(
                    self.frames.load(Ordering::Relaxed).max(1),
                    Ordering::Release,
                );
            }
        }
    }

    /// Audio thread: `n` more input frames were processed. Realtime-safe.
    pub(crate) fn advance(&self, n: u64) {
        self.frames.fetch_add(n, Ordering::AcqRel);
    }
}

/// What the plugin's audio thread shares with its other threads (see the module
/// docs). Every method is realtime-safe.
#[derive(Default)]
pub struct PluginAudio {
    /// The instance core's atomics and slots: kernels, bake requests, meter.
    pub core: Arc<AudioSide>,
    /// Host, editor and bridge parameter activity.
    pub activity: ParamActivity,
    /// Whether an editor is open: the audio thread feeds the scope only then.
    editor_open: AtomicBool,
}

impl PluginAudio {
    /// The editor tells the audio thread whether to feed the scope (meters, spectra).
    pub fn set_editor_open(&self, open: bool) {
        self.editor_open.store(open, Ordering::Release);
    }

    /// Whether an editor is open.
    pub fn editor_open(&self) -> bool {
        self.editor_open.load(Ordering::Acquire)
    }
}

/// What the plugin's main, bridge and GUI threads share (see the module docs). The
/// audio thread never touches it: it locks.
pub struct PluginSession {
    /// The instance core's session: the running session, kernel preparation.
    pub core: Arc<SessionSide>,
    /// The audio thread's side of the same instance.
    pub audio: Arc<PluginAudio>,
    /// How the bridge writes parameters; `None` writes them directly.
    param_writer: Mutex<Option<Arc<dyn ParamWriter>>>,
    /// The editor's end of the running session's scope (`None` while inactive).
    scope: Mutex<Option<ScopeReader>>,
    /// Bakes applied to this instance, for the editor's undo/redo and A/B.
    pub history: Mutex<BakeHistory>,
}

impl Default for PluginSession {
    fn default() -> Self {
        let core = Arc::new(SessionSide::default());
        let audio = Arc::new(PluginAudio {
            core: core.audio().clone(),
            ..PluginAudio::default()
        });
        PluginSession {
            core,
            audio,
            param_writer: Mutex::new(None),
            scope: Mutex::new(None),
            history: Mutex::new(BakeHistory::default()),
        }
    }
}

/// Locks `m`, taking over a poisoned lock (a panic elsewhere must not stop bakes).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PluginSession {
    /// The running session's sample rate, 48 kHz while inactive.
    pub fn sample_rate(&self) -> f32 {
        self.core.session().map_or(48_000.0, |s| s.sample_rate)
    }

    /// Asks the bridge for a bake (what a Bake button does). Lock-free.
    pub fn request_bake(&self) {
        self.audio.core.request_bake();
    }

    /// Installs how the bridge writes parameters: an editor with nice-plug's
    /// `GuiContext` installs one that sends begin/set/end gestures to the host while it
    /// is open, and removes it (`None`) when it closes.
    pub fn set_param_writer(&self, writer: Option<Arc<dyn ParamWriter>>) {
        *lock(&self.param_writer) = writer;
    }

    /// The installed parameter writer, if any.
    pub fn param_writer(&self) -> Option<Arc<dyn ParamWriter>> {
        lock(&self.param_writer).clone()
    }

    /// Runs `f` on the running session's scope reader (`None` while inactive). Editor
    /// thread.
    pub fn with_scope<R>(&self, f: impl FnOnce(Option<&mut ScopeReader>) -> R) -> R {
        f(lock(&self.scope).as_mut())
    }

    /// Activation (main thread): the new session's scope reader, `None` on
    /// deactivation.
    pub(crate) fn set_scope(&self, reader: Option<ScopeReader>) {
        *lock(&self.scope) = reader;
    }
}
