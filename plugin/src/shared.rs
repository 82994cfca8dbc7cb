//! What the audio thread shares with the rest of the plugin (the bridge thread that
//! talks to the helper, the editor, the state loader): the snapshot ring, the IR
//! kernel mailboxes, the bake request counter and the meters.
//!
//! Everything the audio thread touches here is lock-free (atomics and [`Slot`]s). The
//! two mutexes guard values that only the main and bridge threads use: the current
//! session (rate, channels, kernel builder) and the current snapshot ring handle.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use faurge_dsp::convolver::{Kernel, KernelBuilder};

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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        *lock(&self.session) = session;
        *lock(&self.ring) = ring;
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
