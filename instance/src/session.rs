//! What one instance's audio thread shares with its other threads, split by the
//! realtime contract so that the types say who may touch what:
//!
//! - [`AudioSide`]: atomics and [`Slot`]s only. The audio thread gets `&AudioSide` and
//!   nothing else; every method on it is lock-free and never allocates or frees.
//! - [`SessionSide`]: the running [`Session`] behind a mutex, kernel preparation and
//!   garbage collection. For the main thread (activation), the bridge thread and an
//!   editor; the audio thread never sees it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use faurge_dsp::convolver::{Kernel, KernelBuilder};

use crate::ir::{KernelError, StoredIr};
use crate::slot::Slot;
use crate::snapshot::{Snapshot, SnapshotRing};

/// The session the audio thread is running: made by [`crate::core::Core::new`] when
/// a format activates, published with [`SessionSide::start`].
#[derive(Clone)]
pub struct Session {
    /// Session sample rate, Hz.
    pub sample_rate: f32,
    /// Channels processed (1 or 2).
    pub channels: usize,
    /// Builds kernels for the running chain (allocates; never on the audio thread).
    pub builder: KernelBuilder,
    /// The raw input the audio thread records, for the helper.
    pub ring: Arc<SnapshotRing>,
}

impl Session {
    /// The one function that turns an impulse response into a kernel for this session,
    /// for every format and every caller (a bake, undo, a session load, activation):
    /// resamples `ir` to the session rate, matches it to the session's channel count (a
    /// stereo IR on a mono session becomes the mean of its channels), trims it to the
    /// convolver's maximum length and builds its kernel. `None` builds a unit impulse,
    /// which passes the signal unchanged. Allocates: never on the audio thread.
    ///
    /// # Errors
    /// [`KernelError`] naming the step that failed.
    pub fn prepare_kernel(&self, ir: Option<&StoredIr>) -> Result<Box<Kernel>, KernelError> {
        let mut channels = match ir {
            None => vec![vec![1.0f32]],
            Some(ir) => {
                ir.validate()?;
                let (from, to) = (ir.sample_rate, self.sample_rate);
                if (from - to).abs() < 0.5 {
                    ir.channels.clone()
                } else {
                    faurge_io::resample(&ir.channels, from.round() as u32, to.round() as u32)
                        .map_err(|source| KernelError::Resample { from, to, source })?
                }
            }
        };
        if channels.len() > self.channels {
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
        let max = self.builder.max_ir_frames().max(1);
        for c in &mut channels {
            c.truncate(max);
            if c.is_empty() {
                c.push(0.0);
            }
        }
        let refs: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
        Ok(self.builder.build(&refs)?)
    }
}

/// A bake was asked for while no session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the plugin is not processing audio; start playback through it, then bake")]
pub struct NotProcessing;

/// What the audio thread shares with every other thread: the IR kernel mailboxes, the
/// bake request counter and the gain-reduction meter. Atomics and slots only; every
/// method is realtime-safe.
#[derive(Default)]
pub struct AudioSide {
    /// Next kernel to cross-fade to (main/bridge → audio).
    incoming_ir: Slot<Kernel>,
    /// Kernels the audio thread is done with (audio → main/bridge, freed there).
    retired_ir: Slot<Kernel>,
    bake_requests: AtomicU64,
    gain_reduction_db: AtomicU32,
}

impl AudioSide {
    /// Asks the bridge for a bake: a Bake button, the Bake trigger's rising edge, an
    /// auto-bake decision. Lock-free.
    pub fn request_bake(&self) {
        self.bake_requests.fetch_add(1, Ordering::AcqRel);
    }

    /// How many bakes were requested since the instance was created; the bridge
    /// compares it with the last count it handled.
    pub fn bake_requests(&self) -> u64 {
        self.bake_requests.load(Ordering::Acquire)
    }

    /// The compressor's gain reduction at the end of the last block, dB ≥ 0.
    pub fn gain_reduction_db(&self) -> f32 {
        f32::from_bits(self.gain_reduction_db.load(Ordering::Relaxed))
    }

    pub(crate) fn set_gain_reduction_db(&self, db: f32) {
        self.gain_reduction_db
            .store(db.to_bits(), Ordering::Relaxed);
    }

    /// The kernel waiting for the audio thread, if any. Realtime-safe.
    pub(crate) fn take_incoming(&self) -> Option<Box<Kernel>> {
        self.incoming_ir.take()
    }

    /// Hands a kernel back for freeing elsewhere; gives it back when the previous one
    /// was not collected yet. Realtime-safe.
    pub(crate) fn retire(&self, kernel: Box<Kernel>) -> Result<(), Box<Kernel>> {
        self.retired_ir.put(kernel)
    }
}

/// The side of an instance that the audio thread never touches: the running session
/// (rate, channels, kernel builder, snapshot ring) behind a mutex, and the work that
/// allocates or frees (preparing kernels, dropping retired ones).
#[derive(Default)]
pub struct SessionSide {
    audio: Arc<AudioSide>,
    session: Mutex<Option<Session>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SessionSide {
    /// The audio thread's handle.
    pub fn audio(&self) -> &Arc<AudioSide> {
        &self.audio
    }

    /// Publishes the session a format just activated, and drops kernels meant for the
    /// previous one. Main thread.
    pub fn start(&self, session: Session) {
        *lock(&self.session) = Some(session);
        self.drop_pending();
    }

    /// Withdraws the session (the format deactivated) and drops kernels meant for it.
    pub fn stop(&self) {
        *lock(&self.session) = None;
        self.drop_pending();
    }

    fn drop_pending(&self) {
        drop(self.audio.incoming_ir.take());
        self.collect_garbage();
    }

    /// The running session (`None` while inactive).
    pub fn session(&self) -> Option<Session> {
        lock(&self.session).clone()
    }

    /// The snapshot ring of the running session (`None` while inactive). Keep the
    /// `Arc` as long as needed; a new session makes a new ring.
    pub fn snapshot_ring(&self) -> Option<Arc<SnapshotRing>> {
        lock(&self.session).as_ref().map(|s| s.ring.clone())
    }

    /// A copy of everything the snapshot ring holds (allocates; bridge thread).
    ///
    /// # Errors
    /// [`NotProcessing`] while inactive.
    pub fn snapshot(&self) -> Result<Snapshot, NotProcessing> {
        let ring = self.snapshot_ring().ok_or(NotProcessing)?;
        Ok(ring.copy_latest(ring.capacity() as f32 / ring.sample_rate().max(1.0)))
    }

    /// Prepares `ir` ([`Session::prepare_kernel`]; `None`: a unit impulse) for the running
    /// session and queues it for the audio thread's 10 ms cross-fade, replacing any
    /// kernel still waiting. Returns whether a kernel was queued: nothing happens while
    /// inactive (the next activation builds the kernel itself). Allocates, and frees
    /// kernels the audio thread retired: never on the audio thread.
    ///
    /// # Errors
    /// [`KernelError`] when the IR is unusable or cannot be prepared; the audio thread
    /// keeps its current kernel.
    pub fn queue_ir(&self, ir: Option<&StoredIr>) -> Result<bool, KernelError> {
        self.collect_garbage();
        let Some(session) = self.session() else {
            return Ok(false);
        };
        let kernel = session.prepare_kernel(ir)?;
        drop(self.audio.incoming_ir.replace(Some(kernel)));
        Ok(true)
    }

    /// Frees kernels the audio thread has retired. Never on the audio thread.
    pub fn collect_garbage(&self) {
        drop(self.audio.retired_ir.take());
    }
}
