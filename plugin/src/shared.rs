//! What the audio thread shares with the rest of the plugin (the bridge thread that
//! talks to the helper, the editor, the state loader): the snapshot ring, the IR
//! kernel mailboxes, the bake request counter and the meters.
//!
//! Everything the audio thread touches here is lock-free (atomics and [`Slot`]s). The
//! two mutexes guard values that only the main and bridge threads use: the current
//! session (rate, channels, kernel builder) and the current snapshot ring handle.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::param_table::PARAMS;

use faurge_dsp::convolver::{Kernel, KernelBuilder};

use crate::history::BakeHistory;
use crate::scope::ScopeReader;
use crate::slot::Slot;
use crate::snapshot::SnapshotRing;
use crate::state::{IrError, StoredIr};

/// The session the audio thread is running, as far as kernel building needs it.
#[derive(Clone, Debug)]
pub struct Session {
    /// Session sample rate, Hz.
    pub sample_rate: f32,
    /// Channels processed (1 or 2).
    pub channels: usize,
    /// Builds kernels for the running chain (allocates; never on the audio thread).
    pub builder: KernelBuilder,
}

/// Why an IR could not be turned into a kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The stored IR itself is unusable.
    #[error("Could not use the impulse response: {0}")]
    Ir(#[from] IrError),
    /// Resampling to the session rate failed.
    #[error("Could not resample the impulse response from {from} Hz to {to} Hz: {reason}")]
    Resample {
        /// IR rate, Hz.
        from: f32,
        /// Session rate, Hz.
        to: f32,
        /// What the resampler said.
        reason: String,
    },
    /// The convolver refused it.
    #[error("Could not prepare the impulse response: {0}")]
    Build(String),
}

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

/// State shared between the audio thread and everything else (see the module docs).
#[derive(Default)]
pub struct Shared {
    /// Next kernel for the audio thread to cross-fade to (main/bridge → audio).
    pub(crate) incoming_ir: Slot<Kernel>,
    /// Kernels the audio thread is done with, freed by the main/bridge thread.
    pub(crate) retired_ir: Slot<Kernel>,
    session: Mutex<Option<Session>>,
    ring: Mutex<Option<Arc<SnapshotRing>>>,
    bake_requests: AtomicU64,
    gain_reduction_db: AtomicU32,
    /// Host, editor and bridge parameter activity.
    pub activity: ParamActivity,
    /// How the bridge writes parameters (see [`crate::bridge::ParamWriter`]); `None`
    /// uses [`crate::bridge::DirectParamWriter`].
    param_writer: Mutex<Option<Arc<dyn crate::bridge::ParamWriter>>>,
    /// Whether an editor is open: the audio thread feeds the scope only then.
    editor_open: AtomicBool,
    /// The editor's end of the running session's scope (`None` while inactive).
    scope: Mutex<Option<ScopeReader>>,
    /// Bakes applied to this instance, for the editor's undo/redo and A/B (bridge and
    /// editor threads only).
    pub history: Mutex<BakeHistory>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    /// The snapshot ring of the running session (`None` while the plugin is inactive).
    /// Keep the `Arc` as long as needed; a new session makes a new ring.
    pub fn snapshot_ring(&self) -> Option<Arc<SnapshotRing>> {
        lock(&self.ring).clone()
    }

    /// How many times the Bake trigger went from off to on since the plugin was
    /// created; the bridge compares it with the last count it handled.
    pub fn bake_requests(&self) -> u64 {
        self.bake_requests.load(Ordering::Acquire)
    }

    /// The compressor's gain reduction at the end of the last block, dB ≥ 0.
    pub fn gain_reduction_db(&self) -> f32 {
        f32::from_bits(self.gain_reduction_db.load(Ordering::Relaxed))
    }

    /// The running session (`None` while inactive).
    pub fn session(&self) -> Option<Session> {
        lock(&self.session).clone()
    }

    /// Prepares `ir` (or a unit impulse, which passes the signal unchanged, for `None`)
    /// for the running session and queues it for the audio thread's cross-fade,
    /// replacing any kernel still waiting. Does nothing while inactive (the next
    /// activation builds the kernel from the stored IR). Main or bridge thread only:
    /// allocates, and frees kernels the audio thread retired.
    ///
    /// # Errors
    /// [`KernelError`] when the IR cannot be resampled or the convolver refuses it; the
    /// audio thread keeps its current kernel.
    pub fn queue_ir(&self, ir: Option<&StoredIr>) -> Result<(), KernelError> {
        self.collect_garbage();
        let Some(session) = self.session() else {
            return Ok(());
        };
        let kernel = build_kernel(&session, ir)?;
        drop(self.incoming_ir.replace(Some(kernel)));
        Ok(())
    }

    /// Frees kernels the audio thread has retired. Main or bridge thread only.
    pub fn collect_garbage(&self) {
        drop(self.retired_ir.take());
    }

    /// Installs how the bridge writes parameters: an editor with nice-plug's
    /// `GuiContext` installs one that sends begin/set/end gestures to the host while it
    /// is open, and removes it (`None`) when it closes.
    pub fn set_param_writer(&self, writer: Option<Arc<dyn crate::bridge::ParamWriter>>) {
        *lock(&self.param_writer) = writer;
    }

    /// The installed parameter writer, if any.
    pub fn param_writer(&self) -> Option<Arc<dyn crate::bridge::ParamWriter>> {
        lock(&self.param_writer).clone()
    }

    /// The editor tells the audio thread whether to feed the scope (meters, spectra).
    pub fn set_editor_open(&self, open: bool) {
        self.editor_open.store(open, Ordering::Release);
    }

    /// Whether an editor is open. Realtime-safe.
    pub fn editor_open(&self) -> bool {
        self.editor_open.load(Ordering::Acquire)
    }

    /// Runs `f` on the running session's scope reader (`None` while inactive). Editor
    /// thread only (locks a mutex the audio thread never touches).
    pub fn with_scope<R>(&self, f: impl FnOnce(Option<&mut ScopeReader>) -> R) -> R {
        f(lock(&self.scope).as_mut())
    }

    /// Called by `Engine::new` (main thread): the new session's scope reader.
    pub(crate) fn set_scope(&self, reader: Option<ScopeReader>) {
        *lock(&self.scope) = reader;
    }

    /// Asks the bridge for a bake (what a Bake button does). Lock-free.
    pub fn request_bake(&self) {
        self.count_bake_request();
    }

    pub(crate) fn count_bake_request(&self) {
        self.bake_requests.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn set_gain_reduction_db(&self, db: f32) {
        self.gain_reduction_db
            .store(db.to_bits(), Ordering::Relaxed);
    }

    /// Called by `activate`/`deactivate` (main thread): publishes or withdraws the
    /// session and ring, and drops kernels meant for the previous session.
    pub(crate) fn set_session(&self, session: Option<Session>, ring: Option<Arc<SnapshotRing>>) {
        let session_gone = session.is_none();
        *lock(&self.session) = session;
        *lock(&self.ring) = ring;
        if session_gone {
            self.set_scope(None);
        }
        drop(self.incoming_ir.take());
        self.collect_garbage();
    }
}

/// Resamples `ir` to the session rate, matches it to the channel count, trims it to
/// the convolver's maximum length and builds its kernel. `None` builds a unit impulse.
/// Allocates: main or bridge thread only.
///
/// # Errors
/// [`KernelError`] naming the step that failed.
pub fn build_kernel(session: &Session, ir: Option<&StoredIr>) -> Result<Box<Kernel>, KernelError> {
    let mut channels = match ir {
        None => vec![vec![1.0f32]],
        Some(ir) => {
            ir.validate()?;
            let (from, to) = (ir.sample_rate, session.sample_rate);
            if (from - to).abs() < 0.5 {
                ir.channels.clone()
            } else {
                faurge_io::resample(&ir.channels, from.round() as u32, to.round() as u32).map_err(
                    |e| KernelError::Resample {
                        from,
                        to,
                        reason: e.to_string(),
                    },
                )?
            }
        }
    };
    if channels.len() > session.channels {
        // A stereo IR on a mono session: use the mid (average) of its channels.
        let n = channels.len() as f32;
        let len = channels.iter().map(Vec::len).max().unwrap_or(0);
        let mid: Vec<f32> = (0..len)
            .map(|i| {
                channels
                    .iter()
                    .map(|c| c.get(i).copied().unwrap_or(0.0))
                    .sum::<f32>()
                    / n
            })
            .collect();
        channels = vec![mid];
    }
    let max = session.builder.max_ir_frames().max(1);
    for c in &mut channels {
        c.truncate(max);
        if c.is_empty() {
            c.push(0.0);
        }
    }
    let refs: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
    session
        .builder
        .build(&refs)
        .map_err(|e| KernelError::Build(e.to_string()))
}
