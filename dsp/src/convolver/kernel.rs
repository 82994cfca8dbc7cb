//! IR kernels: an impulse response partitioned for one convolver layout and
//! transformed to the frequency domain, built off the audio thread.

use std::fmt;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::layout::{Layout, BASE};
use super::simd::FIR_TAPS;
use super::{ConvolverError, DENORMAL_FLUSH};

/// The spectra of one stage of a kernel.
pub(crate) struct KernelStage {
    /// Partitions of this stage that hold a non-zero tap in some channel; the
    /// convolver skips the others (a short IR leaves deep stages empty, at no cost).
    pub active: usize,
    /// Real parts, `[ir_channel][active][bins]` flattened, already scaled by the
    /// inverse FFT's `1 / (2P)`.
    pub re: Vec<f32>,
    /// Imaginary parts, same shape as `re`.
    pub im: Vec<f32>,
}

/// An impulse response partitioned and transformed for one convolver layout.
///
/// Built by [`KernelBuilder::build`] (off the audio thread), handed to
/// [`Convolver::swap_kernel`](super::Convolver::swap_kernel), and given back by
/// [`Convolver::take_retired`](super::Convolver::take_retired) once replaced, so it
/// can be dropped off the audio thread. Moving it is cheap (it is boxed); dropping
/// it frees memory, so never drop one on the audio thread.
pub struct Kernel {
    pub(crate) layout: Arc<Layout>,
    pub(crate) ir_channels: usize,
    pub(crate) frames: usize,
    /// First `FIR_TAPS` taps of each IR channel, time-reversed (for the head FIR):
    /// `[ir_channel][FIR_TAPS]`.
    pub(crate) head_taps_rev: Vec<[f32; FIR_TAPS]>,
    /// One entry per layout stage.
    pub(crate) stages: Vec<KernelStage>,
}

impl Kernel {
    /// Number of IR channels (1 = the same IR on every input channel, 2 = one per channel).
    pub fn ir_channels(&self) -> usize {
        self.ir_channels
    }

    /// Length of the IR in frames (the longest channel).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The head FIR taps (time-reversed) for input channel `channel`.
    pub(crate) fn head_taps(&self, channel: usize) -> Option<&[f32; FIR_TAPS]> {
        self.head_taps_rev
            .get(channel.min(self.ir_channels.saturating_sub(1)))
    }
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel")
            .field("ir_channels", &self.ir_channels)
            .field("frames", &self.frames)
            .field(
                "active_partitions",
                &self.stages.iter().map(|s| s.active).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Partitions and transforms impulse responses for one convolver layout.
///
/// Obtained from [`Convolver::kernel_builder`](super::Convolver::kernel_builder);
/// holds the layout and the forward FFT plans it needs. `Clone` is cheap (shared
/// plans) and the builder is `Send + Sync`, so it can live on a worker thread.
#[derive(Clone)]
pub struct KernelBuilder {
    pub(crate) layout: Arc<Layout>,
    /// Forward real FFT of size 2P, one per layout stage.
    forward: Arc<[Arc<dyn RealToComplex<f32>>]>,
}

impl fmt::Debug for KernelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KernelBuilder")
            .field("channels", &self.layout.channels)
            .field("max_ir_frames", &self.layout.max_ir_frames)
            .finish()
    }
}

impl KernelBuilder {
    /// Creates a builder for `layout`, planning its forward FFTs with `planner`.
    pub(crate) fn new(layout: Arc<Layout>, planner: &mut RealFftPlanner<f32>) -> Self {
        let forward: Vec<_> = layout
            .stages
            .iter()
            .map(|s| planner.plan_fft_forward(2 * s.size))
            .collect();
        KernelBuilder {
            layout,
            forward: forward.into(),
        }
    }

    /// Longest IR this builder accepts, frames.
    pub fn max_ir_frames(&self) -> usize {
        self.layout.max_ir_frames
    }

    /// Number of input channels of the convolver this builder belongs to.
    pub fn channels(&self) -> usize {
        self.layout.channels
    }

    /// Partitions and transforms an impulse response. Off the audio thread (allocates).
    ///
    /// `ir[c]` is IR channel `c` at the session rate; 1 channel (used on every
    /// input channel) or as many channels as the convolver has. Each channel holds
    /// 1..=`max_ir_frames` samples; channels may differ in length (the shorter ones
    /// are zero-padded). Samples with a magnitude below `1e-30` are flushed to 0.
    ///
    /// # Errors
    /// - [`ConvolverError::ChannelCount`]: `ir` has 0 or more than 2 channels.
    /// - [`ConvolverError::LayoutMismatch`]: a stereo IR for a mono convolver.
    /// - [`ConvolverError::EmptyIr`]: a channel has no samples.
    /// - [`ConvolverError::IrTooLong`]: a channel is longer than `max_ir_frames`.
    /// - [`ConvolverError::NonFinite`]: a sample is NaN or infinite.
    pub fn build(&self, ir: &[&[f32]]) -> Result<Box<Kernel>, ConvolverError> {
        let layout = &self.layout;
        if ir.is_empty() || ir.len() > crate::MAX_CHANNELS {
            return Err(ConvolverError::ChannelCount { channels: ir.len() });
        }
        if ir.len() > layout.channels {
            return Err(ConvolverError::LayoutMismatch {
                ir_channels: ir.len(),
                convolver_channels: layout.channels,
            });
        }
        for (channel, samples) in ir.iter().enumerate() {
            if samples.is_empty() {
                return Err(ConvolverError::EmptyIr { channel });
            }
            if samples.len() > layout.max_ir_frames {
                return Err(ConvolverError::IrTooLong {
                    channel,
                    frames: samples.len(),
                    max_frames: layout.max_ir_frames,
                });
            }
            if let Some(index) = samples.iter().position(|x| !x.is_finite()) {
                return Err(ConvolverError::NonFinite { channel, index });
            }
        }
        let flushed: Vec<Vec<f32>> = ir
            .iter()
            .map(|ch| {
                ch.iter()
                    .map(|&x| if x.abs() < DENORMAL_FLUSH { 0.0 } else { x })
                    .collect()
            })
            .collect();
        let ir_channels = flushed.len();
        let frames = flushed.iter().map(Vec::len).max().unwrap_or(0);
        let tap = |c: usize, i: usize| flushed[c].get(i).copied().unwrap_or(0.0);

        let largest = layout.stages.iter().map(|s| s.size).max().unwrap_or(BASE);
        let mut time = vec![0.0f32; 2 * largest];
        let mut spec = vec![Complex::<f32>::default(); largest + 1];
        let scratch_len = self
            .forward
            .iter()
            .map(|f| f.get_scratch_len())
            .max()
            .unwrap_or(0);
        let mut scratch = vec![Complex::<f32>::default(); scratch_len];

        let mut stages = Vec::with_capacity(layout.stages.len());
        for (spec_s, fft) in layout.stages.iter().zip(self.forward.iter()) {
            let p = spec_s.size;
            let bins = spec_s.bins();
            let nonzero = |k: usize| {
                let start = spec_s.offset + k * p;
                (0..ir_channels).any(|c| (start..start + p).any(|i| tap(c, i) != 0.0))
            };
            let active = (0..spec_s.partitions)
                .rev()
                .find(|&k| nonzero(k))
                .map_or(0, |k| k + 1);
            let mut re = vec![0.0f32; ir_channels * active * bins];
            let mut im = vec![0.0f32; ir_channels * active * bins];
            let scale = 1.0 / (2 * p) as f32;
            for c in 0..ir_channels {
                for k in 0..active {
                    let start = spec_s.offset + k * p;
                    let time = &mut time[..2 * p];
                    for (i, x) in time.iter_mut().enumerate() {
                        *x = if i < p { tap(c, start + i) } else { 0.0 };
                    }
                    let spec = &mut spec[..bins];
                    fft.process_with_scratch(time, spec, &mut scratch)
                        .map_err(|e| ConvolverError::Fft {
                            message: e.to_string(),
                        })?;
                    let at = (c * active + k) * bins;
                    for (b, z) in spec.iter().enumerate() {
                        re[at + b] = z.re * scale;
                        im[at + b] = z.im * scale;
                    }
                }
            }
            stages.push(KernelStage { active, re, im });
        }

        let head_taps_rev = (0..ir_channels)
            .map(|c| {
                let mut taps = [0.0f32; FIR_TAPS];
                for (k, t) in taps.iter_mut().enumerate() {
                    *t = tap(c, FIR_TAPS - 1 - k);
                }
                taps
            })
            .collect();

        Ok(Box::new(Kernel {
            layout: Arc::clone(layout),
            ir_channels,
            frames,
            head_taps_rev,
            stages,
        }))
    }
}
