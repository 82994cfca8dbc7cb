//! Zero-latency, non-uniformly partitioned FFT convolver with a click-free
//! impulse-response cross-fade, built for the audio thread.
//!
//! # Signal model
//! `y[n] = Σ_τ h[τ] · x[n − τ]` per channel, computed in place, with **0 samples of
//! latency** for any host block size and any sequence of block sizes. A mono IR on
//! a stereo convolver is applied to both channels. The output is the wet
//! (convolved) signal only; the [`Chain`](crate::chain) mixes wet and dry.
//!
//! # Partitioning (Gardner 1995; Garcia 2002; Wefers 2015)
//! The IR is split into stages of uniformly partitioned overlap-save convolution
//! whose partition size grows with the tap offset (for a 2 s IR at 48 kHz):
//!
//! | stage | partition P | IR taps covered | FFT size | when it runs |
//! |---|---|---|---|---|
//! | head | 64 | 0 – 511 | 128 | every 64-sample base block, immediately |
//! | 1 | 256 | 512 – 2047 | 512 | spread over the 4 base blocks of slack |
//! | 2 | 1024 | 2048 – 8191 | 2048 | spread over 16 base blocks |
//! | 3 | 4096 | 8192 – end | 8192 | spread over 64 base blocks |
//!
//! The layout is chosen at [`Convolver::new`] from `max_ir_frames`: shorter
//! layouts stop earlier, and when the taps left for a new stage would fit in two
//! partitions of the previous stage, the previous stage is extended instead.
//! [`Kernel`]s of short IRs leave deep partitions empty, and those cost nothing
//! (only the FDLs keep being filled, so a later, longer kernel can be swapped in
//! without waiting for them).
//!
//! **Head (zero latency).** Base blocks of B0 = 64 samples. When a call delivers a
//! whole aligned base block, the block is transformed at once (the FFT of the
//! *current* block, as in `FFTConvolver`) and one inverse FFT yields its output for
//! taps 0–511. When a base block arrives in pieces (host blocks that are not
//! multiples of 64, or smaller), the taps 64–511 are computed from complete past
//! blocks at the start of the block, and taps 0–63 by a direct 64-tap FIR per
//! sample, so tiny host blocks cost 64 multiply-adds per sample instead of an FFT
//! pair per call.
//!
//! **Deep stages.** A stage of partition size P starts at tap `2P`, so an input
//! block of P samples is complete exactly P samples before the first output it
//! contributes to. Its work per period — forward FFT of 2P samples into the
//! frequency-domain delay line (FDL), complex multiply-accumulate over its K
//! partitions, inverse FFT, overlap-save — is cut into units and spread over the
//! P / 64 base blocks of that slack by a static schedule (see `layout.rs`), with
//! the stages staggered so the big FFTs of different stages never share a base
//! block. The largest partition is capped at 4096 (an 8192-point real FFT, ~8 µs
//! here) so the worst base block stays far below the per-block budget; no threads
//! are used.
//!
//! **Inner loops.** Spectra are stored as split re/im arrays so the complex
//! multiply-accumulate vectorizes; on x86-64 with AVX2+FMA a second copy of the
//! loops compiled for those features is selected at run time (see `simd.rs`).
//!
//! # Kernel swap and cross-fade
//! [`KernelBuilder::build`] partitions and transforms an IR off the audio thread.
//! [`Convolver::swap_kernel`] queues it; at the next boundary of the schedule's
//! cycle (≤ one largest partition later) the new kernel starts being computed next
//! to the old one in every stage ("warm-up"). The FDLs hold only FFT'd input, so
//! both kernels share them and only the multiply-accumulates and inverse FFTs are
//! doubled. After one largest partition every stage's output includes the new
//! kernel, and the output cross-fades from old to new over exactly
//! [`Convolver::crossfade_samples`] samples with an equal-gain raised-cosine ramp
//! `g[i] = ½ − ½·cos(π (i + 1) / (N + 1))`, `i = 0..N` (every one of the N samples
//! lies strictly between the two kernels' outputs). The old kernel is then parked
//! for [`Convolver::take_retired`] so it is freed off the audio thread.
//!
//! Worst-case delay from `swap_kernel` to the first fade sample:
//! [`Convolver::swap_delay_bound_samples`] = 2 × the largest partition: 8192
//! samples (171 ms at 48 kHz, 43 ms at 192 kHz) once the layout has the 4096
//! stage (`max_ir_frames` > 10 240), less for shorter layouts (128 samples for
//! head-only layouts of ≤ 640 frames).
//!
//! # Cost
//! `cargo bench -p faurge-dsp --bench convolver` prints CPU seconds per audio
//! second and p50/p99/max block times next to the `fft-convolver` crate. On the
//! 2-core reference machine, 48 kHz mono, 2 s IR, 64-sample blocks: about
//! 0.0015 CPU-s per audio second with p99 ≈ 12 µs per block (the 8192-point FFT
//! ticks); 0.1 s IR: about 0.0007.
//!
//! # Realtime rules
//! [`Convolver::new`] and [`KernelBuilder::build`] allocate. [`Convolver::process`],
//! [`Convolver::swap_kernel`], [`Convolver::take_retired`] and [`Convolver::reset`]
//! never allocate, free, lock, make syscalls or panic. Input samples are sanitized
//! (NaN/±∞ → 0, clamped to ±[`MAX_INPUT_MAGNITUDE`], magnitudes below
//! [`DENORMAL_FLUSH`] → 0) before they enter any state; output magnitudes below
//! [`DENORMAL_FLUSH`] are written as 0, so no subnormal reaches the output and
//! silence in gives exact silence out once the IR has rung out. If the output ever
//! becomes non-finite (only possible with absurdly large IR values), the
//! convolver is [`reset`](Convolver::reset) and that piece of output is zeroed.

mod kernel;
mod layout;
mod simd;

pub use kernel::{Kernel, KernelBuilder};

use std::fmt;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::simd::Isa;
use layout::{build_schedule, Layout, StageSpec, Unit, BASE};
use simd::FIR_TAPS;

const _: () = assert!(
    FIR_TAPS == BASE,
    "the head FIR covers exactly one base partition"
);

/// Length of the kernel cross-fade, seconds (rounded to whole samples:
/// [`Convolver::crossfade_samples`]).
pub const CROSSFADE_SECONDS: f64 = 0.010;

/// Longest IR a convolver accepts unless configured otherwise, seconds.
pub const DEFAULT_MAX_IR_SECONDS: f32 = 2.0;

/// Hard upper bound on `max_ir_frames` (about 21.8 s at 192 kHz, 5.4 s at 768 kHz); larger
/// requests are clamped.
pub const MAX_IR_FRAMES: usize = 1 << 22;

/// Magnitudes below this are flushed to exactly 0 (input, IR and output), so no
/// subnormal number reaches the output.
pub const DENORMAL_FLUSH: f32 = 1e-30;

/// Input samples are clamped to ±this before they enter the convolver's state
/// (the `Chain` already clamps to ±1000; this is the convolver's own guard).
pub const MAX_INPUT_MAGNITUDE: f32 = 1.0e6;

/// Output magnitudes above this count as a blown-up state (reset, output zeroed).
const MAX_OUTPUT_MAGNITUDE: f32 = 1.0e30;

/// How a [`Convolver`] is sized. Fixed for its lifetime; kernels are built for it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvolverConfig {
    /// Session sample rate, Hz. Clamped by [`Convolver::new`] to
    /// [`MIN_SAMPLE_RATE`](crate::MIN_SAMPLE_RATE)..=[`MAX_SAMPLE_RATE`](crate::MAX_SAMPLE_RATE)
    /// (non-finite → 48 kHz). Only the cross-fade length depends on it.
    pub sample_rate: f32,
    /// Input/output channels, 1 or 2 (clamped to that range by [`Convolver::new`]).
    pub channels: usize,
    /// Longest IR accepted, frames at the session rate (clamped to 1..=[`MAX_IR_FRAMES`]).
    pub max_ir_frames: usize,
}

impl ConvolverConfig {
    /// Config for IRs of up to `max_ir_seconds` at `sample_rate`:
    /// `max_ir_frames = ⌈max_ir_seconds · sample_rate⌉` (a non-finite or
    /// non-positive `max_ir_seconds` means [`DEFAULT_MAX_IR_SECONDS`]).
    pub fn new(sample_rate: f32, channels: usize, max_ir_seconds: f32) -> Self {
        let seconds = if max_ir_seconds.is_finite() && max_ir_seconds > 0.0 {
            max_ir_seconds
        } else {
            DEFAULT_MAX_IR_SECONDS
        };
        let rate = sanitize_rate(sample_rate);
        // Tolerate the f32 representation error of `seconds` (0.1 s · 48 kHz = 4800, not 4801).
        let frames = (f64::from(seconds) * f64::from(rate) - 1e-3).ceil();
        let max_ir_frames = if frames >= MAX_IR_FRAMES as f64 {
            MAX_IR_FRAMES
        } else {
            (frames as usize).max(1)
        };
        ConvolverConfig {
            sample_rate,
            channels,
            max_ir_frames,
        }
    }
}

/// Why [`KernelBuilder::build`] refused an impulse response.
#[derive(Debug, thiserror::Error)]
pub enum ConvolverError {
    /// The IR has 0 or more than 2 channels.
    #[error("the impulse response has {channels} channels; give 1 (mono, used on every input channel) or 2 (stereo)")]
    ChannelCount {
        /// Channels given.
        channels: usize,
    },
    /// An IR channel has no samples.
    #[error("impulse response channel {channel} is empty; give at least one sample (`[1.0]` passes the signal unchanged)")]
    EmptyIr {
        /// Index of the empty channel.
        channel: usize,
    },
    /// An IR channel is longer than the convolver was sized for.
    #[error("impulse response channel {channel} has {frames} frames but this convolver accepts at most {max_frames}; trim it or create the convolver with a longer max_ir_seconds")]
    IrTooLong {
        /// Index of the channel.
        channel: usize,
        /// Its length, frames.
        frames: usize,
        /// The convolver's `max_ir_frames`.
        max_frames: usize,
    },
    /// An IR sample is NaN or infinite.
    #[error("impulse response channel {channel} has a non-finite sample (NaN or infinity) at index {index}; sanitize the IR before building a kernel")]
    NonFinite {
        /// Index of the channel.
        channel: usize,
        /// Index of the first non-finite sample.
        index: usize,
    },
    /// The IR's channel layout does not fit the convolver (a stereo IR on a mono convolver).
    #[error("a {ir_channels}-channel impulse response cannot be used on a {convolver_channels}-channel convolver; mix it down to mono first")]
    LayoutMismatch {
        /// Channels of the IR.
        ir_channels: usize,
        /// Channels of the convolver.
        convolver_channels: usize,
    },
    /// The FFT library rejected a buffer (a bug in this module).
    #[error("internal FFT error while building the kernel ({message}); this is a bug in faurge-dsp, please report it")]
    Fft {
        /// The FFT library's message.
        message: String,
    },
}

fn sanitize_rate(sample_rate: f32) -> f32 {
    if sample_rate.is_finite() {
        sample_rate.clamp(crate::MIN_SAMPLE_RATE, crate::MAX_SAMPLE_RATE)
    } else {
        48_000.0
    }
}

/// NaN/±∞ → 0, clamp to ±MAX_INPUT_MAGNITUDE, flush tiny values to 0.
#[inline(always)]
fn sanitize_input(x: f32) -> f32 {
    if !x.is_finite() || x.abs() < DENORMAL_FLUSH {
        0.0
    } else {
        x.clamp(-MAX_INPUT_MAGNITUDE, MAX_INPUT_MAGNITUDE)
    }
}

/// Shared FFT work buffers, sized for the largest stage.
struct Work {
    /// Time-domain buffer, `2 · P_max` samples.
    time: Vec<f32>,
    /// Spectrum buffer, `P_max + 1` bins.
    spec: Vec<Complex<f32>>,
    /// FFT scratch, the largest scratch length of all plans.
    scratch: Vec<Complex<f32>>,
}

/// Runtime state of one uniformly partitioned stage.
struct Stage {
    spec: StageSpec,
    channels: usize,
    /// Period in base ticks (`P / BASE`).
    period_ticks: u64,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// Frequency-domain delay line, real parts: `[channel][partition slot][bins]`.
    fdl_re: Vec<f32>,
    /// FDL imaginary parts, same shape.
    fdl_im: Vec<f32>,
    /// FDL slot of the newest spectrum (age 0); age `a` lives in slot `newest − a (mod K)`.
    newest: usize,
    /// Spectrum accumulators, real parts: `[kernel slot (2)][channel][bins]`.
    acc_re: Vec<f32>,
    /// Accumulator imaginary parts, same shape.
    acc_im: Vec<f32>,
}

impl Stage {
    fn new(spec: StageSpec, channels: usize, planner: &mut RealFftPlanner<f32>) -> Self {
        let bins = spec.bins();
        Stage {
            spec,
            channels,
            period_ticks: (spec.size / BASE) as u64,
            forward: planner.plan_fft_forward(2 * spec.size),
            inverse: planner.plan_fft_inverse(2 * spec.size),
            fdl_re: vec![0.0; channels * spec.partitions * bins],
            fdl_im: vec![0.0; channels * spec.partitions * bins],
            newest: 0,
            acc_re: vec![0.0; 2 * channels * bins],
            acc_im: vec![0.0; 2 * channels * bins],
        }
    }

    fn scratch_len(&self) -> usize {
        self.forward
            .get_scratch_len()
            .max(self.inverse.get_scratch_len())
    }

    fn clear(&mut self) {
        self.fdl_re.fill(0.0);
        self.fdl_im.fill(0.0);
        self.acc_re.fill(0.0);
        self.acc_im.fill(0.0);
        self.newest = 0;
    }

    fn clear_slot(&mut self, slot: usize) {
        let n = self.channels * self.spec.bins();
        if let Some(a) = self.acc_re.get_mut(slot * n..(slot + 1) * n) {
            a.fill(0.0);
        }
        if let Some(a) = self.acc_im.get_mut(slot * n..(slot + 1) * n) {
            a.fill(0.0);
        }
    }

    /// Makes room for a new spectrum (the oldest is overwritten). Call once per
    /// FFT event, before `push_spectrum` for each channel.
    fn advance(&mut self) {
        self.newest = (self.newest + 1) % self.spec.partitions.max(1);
    }

    /// Forward-transforms `work.time[..2P]` (destroyed) into channel `c`'s newest FDL slot.
    fn push_spectrum(&mut self, c: usize, work: &mut Work) {
        let p = self.spec.size;
        let bins = self.spec.bins();
        let (Some(time), Some(spec)) = (work.time.get_mut(..2 * p), work.spec.get_mut(..bins))
        else {
            return;
        };
        // Lengths are exact by construction, so this cannot fail; on failure the
        // slot keeps its old (finite) contents.
        if self
            .forward
            .process_with_scratch(time, spec, &mut work.scratch)
            .is_err()
        {
            return;
        }
        let at = (c * self.spec.partitions + self.newest) * bins;
        let (Some(re), Some(im)) = (
            self.fdl_re.get_mut(at..at + bins),
            self.fdl_im.get_mut(at..at + bins),
        ) else {
            return;
        };
        for ((r, i), z) in re.iter_mut().zip(im.iter_mut()).zip(spec.iter()) {
            *r = z.re;
            *i = z.im;
        }
    }

    /// `acc[slot][c] += X(age) · H[irc][k]` for `k in first..end`, where the FDL
    /// entry used for partition `k` has age `k − age_shift`.
    #[allow(clippy::too_many_arguments)]
    fn mac(
        &mut self,
        isa: Isa,
        slot: usize,
        c: usize,
        kernel: &kernel::KernelStage,
        irc: usize,
        first: usize,
        end: usize,
        age_shift: usize,
    ) {
        let bins = self.spec.bins();
        let kk = self.spec.partitions;
        let end = end.min(kernel.active);
        let a = (slot * self.channels + c) * bins;
        let (Some(acc_re), Some(acc_im)) = (
            self.acc_re.get_mut(a..a + bins),
            self.acc_im.get_mut(a..a + bins),
        ) else {
            return;
        };
        for k in first..end {
            let Some(age) = k.checked_sub(age_shift) else {
                continue;
            };
            if age >= kk {
                continue;
            }
            let x = (c * kk + (self.newest + kk - age) % kk) * bins;
            let h = (irc * kernel.active + k) * bins;
            let (Some(x_re), Some(x_im), Some(h_re), Some(h_im)) = (
                self.fdl_re.get(x..x + bins),
                self.fdl_im.get(x..x + bins),
                kernel.re.get(h..h + bins),
                kernel.im.get(h..h + bins),
            ) else {
                continue;
            };
            simd::mac(isa, acc_re, acc_im, x_re, x_im, h_re, h_im);
        }
    }

    /// Inverse-transforms `acc[slot][c]` into `work.time[..2P]` and clears the
    /// accumulator. The valid overlap-save output is `work.time[P..2P]`.
    /// Returns false (and leaves `work.time` unspecified) if the FFT failed.
    fn inverse(&mut self, slot: usize, c: usize, work: &mut Work) -> bool {
        let p = self.spec.size;
        let bins = self.spec.bins();
        let a = (slot * self.channels + c) * bins;
        let (Some(acc_re), Some(acc_im)) = (
            self.acc_re.get_mut(a..a + bins),
            self.acc_im.get_mut(a..a + bins),
        ) else {
            return false;
        };
        let (Some(time), Some(spec)) = (work.time.get_mut(..2 * p), work.spec.get_mut(..bins))
        else {
            return false;
        };
        for ((z, r), i) in spec
            .iter_mut()
            .zip(acc_re.iter_mut())
            .zip(acc_im.iter_mut())
        {
            *z = Complex::new(*r, *i);
            *r = 0.0;
            *i = 0.0;
        }
        // DC and Nyquist are real for real signals; make that exact for the C2R transform.
        if let Some(z) = spec.first_mut() {
            z.im = 0.0;
        }
        if let Some(z) = spec.last_mut() {
            z.im = 0.0;
        }
        self.inverse
            .process_with_scratch(spec, time, &mut work.scratch)
            .is_ok()
    }
}

/// Swap state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Swap {
    /// One kernel (the active slot) is computed.
    Idle,
    /// A kernel waits in the other slot for the next schedule-cycle boundary.
    Pending,
    /// Both kernels are computed; the output fades to the other slot from
    /// `fade_start` (absolute sample time) for `crossfade_samples` samples.
    Running { fade_start: u64 },
}

/// The zero-latency partitioned convolver. See the [module documentation](self)
/// for the algorithm, the swap timing and the realtime rules.
pub struct Convolver {
    sample_rate: f32,
    channels: usize,
    layout: Arc<Layout>,
    builder: KernelBuilder,
    isa: Isa,
    /// `stages[0]` is the head, the rest are the deep stages.
    stages: Vec<Stage>,
    /// Deep-stage work per tick, indexed by `tick % hyper_ticks`.
    schedule: Vec<Vec<Unit>>,
    hyper_ticks: u64,
    /// Samples from a swap's start until every stage includes the new kernel.
    warmup: u64,
    /// Input history for the deep stages' FFTs: `[channel][input_len]`, indexed by
    /// absolute time modulo `input_len` (a power of two, 4 × the largest deep partition).
    input_ring: Vec<f32>,
    input_len: usize,
    /// Overlap-save output accumulators per kernel slot: `[channel][output_len]`,
    /// indexed by absolute time modulo `output_len`; read and zeroed as output is produced.
    output_ring: [Vec<f32>; 2],
    output_len: usize,
    /// The previous and current base block of each channel: `[channel][2 · BASE]`.
    head_history: Vec<f32>,
    /// Head output of the current base block per kernel slot: `[channel][BASE]`.
    head_out: [Vec<f32>; 2],
    work: Work,
    slots: [Option<Box<Kernel>>; 2],
    active: usize,
    swap: Swap,
    /// Gain of the incoming kernel for each cross-fade sample (raised cosine).
    fade: Vec<f32>,
    /// Absolute sample time after `reset` (a multiple of the schedule cycle, ≥ the input history).
    start_time: u64,
    /// Absolute time of the next input sample.
    time: u64,
}

impl fmt::Debug for Convolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Convolver")
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("max_ir_frames", &self.layout.max_ir_frames)
            .field("stages", &self.layout.stages)
            .field("isa", &self.isa)
            .field("swap", &self.swap)
            .finish()
    }
}

impl Convolver {
    /// Creates a convolver and allocates everything it will ever need. It starts
    /// with a unit-impulse kernel (wet == dry). Out-of-range config values are
    /// clamped (see [`ConvolverConfig`]).
    pub fn new(config: ConvolverConfig) -> Self {
        let sample_rate = sanitize_rate(config.sample_rate);
        let channels = config.channels.clamp(1, crate::MAX_CHANNELS);
        let max_ir_frames = config.max_ir_frames.clamp(1, MAX_IR_FRAMES);
        let layout = Arc::new(Layout::new(max_ir_frames, channels));
        let mut planner = RealFftPlanner::<f32>::new();
        let builder = KernelBuilder::new(Arc::clone(&layout), &mut planner);
        let stages: Vec<Stage> = layout
            .stages
            .iter()
            .map(|&s| Stage::new(s, channels, &mut planner))
            .collect();
        let largest_deep = layout.largest_deep_size();
        let largest = largest_deep.max(BASE);
        let input_len = if largest_deep > 0 {
            4 * largest_deep
        } else {
            0
        };
        let output_len = 2 * largest;
        let hyper_ticks = layout.hyper_ticks() as u64;
        let start_time = (input_len.max(2 * BASE)) as u64;
        let scratch_len = stages.iter().map(Stage::scratch_len).max().unwrap_or(0);
        let n_fade = crossfade_len(sample_rate);
        let fade = (0..n_fade)
            .map(|i| {
                let x = std::f64::consts::PI * (i + 1) as f64 / (n_fade + 1) as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        let unit = builder.build(&[&[1.0]]).ok();
        Convolver {
            sample_rate,
            channels,
            schedule: build_schedule(&layout),
            layout,
            builder,
            isa: Isa::detect(),
            stages,
            hyper_ticks,
            warmup: largest_deep as u64,
            input_ring: vec![0.0; channels * input_len],
            input_len,
            output_ring: [
                vec![0.0; channels * output_len],
                vec![0.0; channels * output_len],
            ],
            output_len,
            head_history: vec![0.0; channels * 2 * BASE],
            head_out: [vec![0.0; channels * BASE], vec![0.0; channels * BASE]],
            work: Work {
                time: vec![0.0; 2 * largest],
                spec: vec![Complex::default(); largest + 1],
                scratch: vec![Complex::default(); scratch_len],
            },
            slots: [unit, None],
            active: 0,
            swap: Swap::Idle,
            fade,
            start_time,
            time: start_time,
        }
    }

    /// A builder for kernels that fit this convolver; cheap to clone and `Send +
    /// Sync`, so it can be handed to the thread that prepares IRs.
    pub fn kernel_builder(&self) -> KernelBuilder {
        self.builder.clone()
    }

    /// Processing latency in samples: always 0 (the output sample `n` includes
    /// input sample `n` times the IR's first tap).
    pub fn latency_samples(&self) -> usize {
        0
    }

    /// Cross-fade length of a kernel swap: `round(CROSSFADE_SECONDS · sample_rate)` samples.
    pub fn crossfade_samples(&self) -> usize {
        self.fade.len()
    }

    /// Upper bound, in samples processed after [`swap_kernel`](Self::swap_kernel)
    /// returned `Ok`, before the cross-fade's first sample: 2 × the largest
    /// partition (up to one schedule cycle to start, plus one largest partition of
    /// warm-up). 8192 for layouts longer than 8192 frames; `2 · BASE` for head-only ones.
    pub fn swap_delay_bound_samples(&self) -> usize {
        (self.hyper_ticks as usize * BASE + self.warmup as usize).max(2 * BASE)
    }

    /// Session sample rate after clamping, Hz.
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Number of channels processed (1 or 2).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Longest IR accepted, frames.
    pub fn max_ir_frames(&self) -> usize {
        self.layout.max_ir_frames
    }

    /// Partition sizes of the layout's stages (head first), samples. Allocates
    /// (for diagnostics and tests, not for the audio thread).
    pub fn partition_sizes(&self) -> Vec<usize> {
        self.layout.stages.iter().map(|s| s.size).collect()
    }

    /// RT-safe. Queues `kernel` to replace the current one with a cross-fade (see
    /// the module docs for timing).
    ///
    /// # Errors
    /// Gives the kernel back, untouched, when a swap is already pending or fading,
    /// when the kernel retired by the previous swap has not been collected with
    /// [`take_retired`](Self::take_retired) yet, or when the kernel was built for
    /// another layout (another convolver's `max_ir_frames` or channel count).
    pub fn swap_kernel(&mut self, kernel: Box<Kernel>) -> Result<(), Box<Kernel>> {
        let other = 1 - self.active;
        if self.swap != Swap::Idle || self.slots[other].is_some() || *kernel.layout != *self.layout
        {
            return Err(kernel);
        }
        self.slots[other] = Some(kernel);
        self.swap = Swap::Pending;
        Ok(())
    }

    /// RT-safe, but not click-free: replaces the kernel at once, with no
    /// cross-fade, and clears the input history (as [`reset`](Self::reset) does).
    /// For offline renders and other starts before any audio has run. A pending or
    /// running swap completes first, so its kernel is the one replaced.
    ///
    /// Returns the replaced kernel (`Ok(None)` only if there was none), to be
    /// dropped off the audio thread.
    ///
    /// # Errors
    /// Gives the kernel back, untouched, when it was built for another layout.
    pub fn replace_kernel(
        &mut self,
        kernel: Box<Kernel>,
    ) -> Result<Option<Box<Kernel>>, Box<Kernel>> {
        if *kernel.layout != *self.layout {
            return Err(kernel);
        }
        self.reset();
        Ok(self.slots[self.active].replace(kernel))
    }

    /// RT-safe. The kernel retired by the last finished swap (once), to be dropped
    /// off the audio thread. `None` while a swap is pending or fading.
    pub fn take_retired(&mut self) -> Option<Box<Kernel>> {
        if self.swap == Swap::Idle {
            self.slots[1 - self.active].take()
        } else {
            None
        }
    }

    /// True while a swap is pending (waiting for its start) or running (warm-up or fade).
    pub fn is_swapping(&self) -> bool {
        self.swap != Swap::Idle
    }

    /// RT-safe. Clears the input history and every overlap (the output continues
    /// as if the input had been silent forever). Keeps the kernel; a pending or
    /// running swap completes at once (there is nothing to cross-fade from).
    pub fn reset(&mut self) {
        self.clear_state();
        if self.swap != Swap::Idle {
            self.active = 1 - self.active;
            self.swap = Swap::Idle;
        }
    }

    fn clear_state(&mut self) {
        for s in &mut self.stages {
            s.clear();
        }
        self.input_ring.fill(0.0);
        for r in &mut self.output_ring {
            r.fill(0.0);
        }
        self.head_history.fill(0.0);
        for h in &mut self.head_out {
            h.fill(0.0);
        }
        self.time = self.start_time;
    }

    /// RT-safe. Convolves `channels` in place; the output is the wet signal only.
    ///
    /// `channels`: 1..=`self.channels()` slices of equal length, any length
    /// (0 to very large); work is done in base blocks of 64 samples internally and
    /// the result has no latency. Channels beyond the configured count are left
    /// untouched; configured channels that are missing are treated as silent. If
    /// the slices differ in length, only the shortest length is processed.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let used = channels.len().min(self.channels);
        let Some(n) = channels.iter().take(used).map(|c| c.len()).min() else {
            return;
        };
        let mut done = 0;
        while done < n {
            let pos = (self.time % BASE as u64) as usize;
            if pos == 0 {
                self.tick();
            }
            let len = (n - done).min(BASE - pos);
            self.take_input(channels, used, done, pos, len);
            if len == BASE {
                self.head_full_block();
            } else {
                if pos == 0 {
                    self.head_split_start();
                }
                self.head_fir(pos, len);
            }
            let ok = self.mix(channels, used, done, pos, len);
            self.time += len as u64;
            if len < BASE && self.time.is_multiple_of(BASE as u64) {
                self.head_push_block();
            }
            if !ok {
                // Completes a running swap too: its timing is relative to the old clock.
                self.reset();
                for ch in channels.iter_mut().take(used) {
                    if let Some(out) = ch.get_mut(done..done + len) {
                        out.fill(0.0);
                    }
                }
            }
            if let Swap::Running { fade_start } = self.swap {
                if self.time >= fade_start + self.fade.len() as u64 {
                    self.active = 1 - self.active;
                    self.swap = Swap::Idle;
                }
            }
            done += len;
        }
    }

    /// Kernel slots computed right now and how many (1, or 2 during a swap).
    fn computing(&self) -> ([usize; 2], usize) {
        match self.swap {
            Swap::Running { .. } => ([self.active, 1 - self.active], 2),
            Swap::Idle | Swap::Pending => ([self.active, 1 - self.active], 1),
        }
    }

    /// Start of a base block: start a pending swap at a cycle boundary, then run
    /// this tick's deep-stage work.
    fn tick(&mut self) {
        let tick = self.time / BASE as u64;
        if self.swap == Swap::Pending && tick.is_multiple_of(self.hyper_ticks) {
            let other = 1 - self.active;
            if let Some(r) = self.output_ring.get_mut(other) {
                r.fill(0.0);
            }
            for s in &mut self.stages {
                s.clear_slot(other);
            }
            self.swap = Swap::Running {
                fade_start: self.time + self.warmup,
            };
        }
        let (slots, count) = self.computing();
        let Some(units) = self.schedule.get((tick % self.hyper_ticks) as usize) else {
            return;
        };
        for &unit in units {
            match unit {
                Unit::Fft { stage } => {
                    let Some(st) = self.stages.get_mut(stage) else {
                        continue;
                    };
                    let p = st.spec.size;
                    // This period's input block is [(q−2)P, qP): blocks q−2 and q−1.
                    let q = tick / st.period_ticks;
                    let start = q.saturating_sub(2) * p as u64;
                    let mask = self.input_len.wrapping_sub(1);
                    st.advance();
                    for c in 0..self.channels {
                        let ring = self
                            .input_ring
                            .get(c * self.input_len..(c + 1) * self.input_len);
                        let a = (start as usize) & mask;
                        let b = ((start + p as u64) as usize) & mask;
                        let (Some(ring), Some(time)) = (ring, self.work.time.get_mut(..2 * p))
                        else {
                            continue;
                        };
                        let (lo, hi) = time.split_at_mut(p);
                        if let (Some(x), Some(y)) = (ring.get(a..a + p), ring.get(b..b + p)) {
                            lo.copy_from_slice(x);
                            hi.copy_from_slice(y);
                        }
                        st.push_spectrum(c, &mut self.work);
                    }
                }
                Unit::Mac { stage, first, end } => {
                    let Some(st) = self.stages.get_mut(stage) else {
                        continue;
                    };
                    for &slot in slots.iter().take(count) {
                        let Some(kernel) = self.slots[slot].as_deref() else {
                            continue;
                        };
                        let Some(ks) = kernel.stages.get(stage) else {
                            continue;
                        };
                        for c in 0..self.channels {
                            let irc = c.min(kernel.ir_channels - 1);
                            st.mac(self.isa, slot, c, ks, irc, first, end, 0);
                        }
                    }
                }
                Unit::Ifft { stage } => {
                    let Some(st) = self.stages.get_mut(stage) else {
                        continue;
                    };
                    let p = st.spec.size;
                    // Output block q+1 of this stage: samples [(q+1)P, (q+2)P).
                    let q = tick / st.period_ticks;
                    let at = (((q + 1) * p as u64) as usize) & (self.output_len - 1);
                    for &slot in slots.iter().take(count) {
                        let Some(kernel) = self.slots[slot].as_deref() else {
                            continue;
                        };
                        if kernel.stages.get(stage).is_none_or(|ks| ks.active == 0) {
                            continue;
                        }
                        for c in 0..self.channels {
                            if !st.inverse(slot, c, &mut self.work) {
                                continue;
                            }
                            let ring = self.output_ring[slot]
                                .get_mut(c * self.output_len + at..c * self.output_len + at + p);
                            if let (Some(ring), Some(y)) = (ring, self.work.time.get(p..2 * p)) {
                                for (r, y) in ring.iter_mut().zip(y) {
                                    *r += y;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Copies sanitized input for `[pos, pos + len)` of the current base block into
    /// the head history and the input ring (missing channels are silence).
    fn take_input(
        &mut self,
        channels: &[&mut [f32]],
        used: usize,
        done: usize,
        pos: usize,
        len: usize,
    ) {
        let mask = self.input_len.wrapping_sub(1);
        let at = (self.time as usize) & mask;
        for c in 0..self.channels {
            let h = c * 2 * BASE + BASE + pos;
            let Some(hist) = self.head_history.get_mut(h..h + len) else {
                continue;
            };
            match channels
                .get(c)
                .filter(|_| c < used)
                .and_then(|ch| ch.get(done..done + len))
            {
                Some(src) => {
                    for (h, &x) in hist.iter_mut().zip(src) {
                        *h = sanitize_input(x);
                    }
                }
                None => hist.fill(0.0),
            }
            if self.input_len > 0 {
                let r = c * self.input_len + at;
                if let Some(ring) = self.input_ring.get_mut(r..r + len) {
                    ring.copy_from_slice(hist);
                }
            }
        }
    }

    /// FFTs each channel's `[previous, current]` base block into the head FDL and
    /// shifts the history by one block.
    fn push_head_spectra(&mut self) {
        let Some(head) = self.stages.first_mut() else {
            return;
        };
        head.advance();
        for c in 0..self.channels {
            let h = c * 2 * BASE;
            let (Some(hist), Some(time)) = (
                self.head_history.get_mut(h..h + 2 * BASE),
                self.work.time.get_mut(..2 * BASE),
            ) else {
                continue;
            };
            time.copy_from_slice(hist);
            hist.copy_within(BASE.., 0);
            head.push_spectrum(c, &mut self.work);
        }
    }

    /// A whole aligned base block is available: FFT it, multiply-accumulate all
    /// head partitions and inverse-FFT straight into `head_out`.
    fn head_full_block(&mut self) {
        self.push_head_spectra();
        let (slots, count) = self.computing();
        let Some(head) = self.stages.first_mut() else {
            return;
        };
        for &slot in slots.iter().take(count) {
            let Some(kernel) = self.slots[slot].as_deref() else {
                continue;
            };
            let Some(ks) = kernel.stages.first() else {
                continue;
            };
            for c in 0..self.channels {
                let Some(out) = self.head_out[slot].get_mut(c * BASE..(c + 1) * BASE) else {
                    continue;
                };
                let irc = c.min(kernel.ir_channels - 1);
                head.mac(self.isa, slot, c, ks, irc, 0, ks.active, 0);
                if ks.active > 0 && head.inverse(slot, c, &mut self.work) {
                    if let Some(y) = self.work.time.get(BASE..2 * BASE) {
                        out.copy_from_slice(y);
                    }
                } else {
                    out.fill(0.0);
                }
            }
        }
    }

    /// First piece of a base block that arrives in pieces: taps `[64, 512)` from
    /// the complete past blocks, added into the output ring for this block.
    fn head_split_start(&mut self) {
        let (slots, count) = self.computing();
        let at = (self.time as usize) & (self.output_len - 1);
        let Some(head) = self.stages.first_mut() else {
            return;
        };
        for &slot in slots.iter().take(count) {
            let Some(kernel) = self.slots[slot].as_deref() else {
                continue;
            };
            let Some(ks) = kernel.stages.first() else {
                continue;
            };
            if ks.active < 2 {
                continue;
            }
            for c in 0..self.channels {
                let irc = c.min(kernel.ir_channels - 1);
                // The newest FDL entry is the previous block, so partition k uses age k − 1.
                head.mac(self.isa, slot, c, ks, irc, 1, ks.active, 1);
                if !head.inverse(slot, c, &mut self.work) {
                    continue;
                }
                let r = c * self.output_len + at;
                if let (Some(ring), Some(y)) = (
                    self.output_ring[slot].get_mut(r..r + BASE),
                    self.work.time.get(BASE..2 * BASE),
                ) {
                    for (r, y) in ring.iter_mut().zip(y) {
                        *r += y;
                    }
                }
            }
        }
    }

    /// Taps `[0, 64)` for `[pos, pos + len)` of the current block by direct FIR.
    fn head_fir(&mut self, pos: usize, len: usize) {
        let (slots, count) = self.computing();
        for &slot in slots.iter().take(count) {
            let Some(kernel) = self.slots[slot].as_deref() else {
                continue;
            };
            for c in 0..self.channels {
                let h = c * 2 * BASE;
                let (Some(taps), Some(history), Some(out)) = (
                    kernel.head_taps(c),
                    self.head_history.get(h + pos + 1..h + BASE + pos + len),
                    self.head_out[slot].get_mut(c * BASE + pos..c * BASE + pos + len),
                ) else {
                    continue;
                };
                simd::fir(self.isa, taps, history, out);
            }
        }
    }

    /// End of a base block that arrived in pieces: its spectrum enters the head FDL.
    fn head_push_block(&mut self) {
        self.push_head_spectra();
    }

    /// Sums head output and output ring for `[pos, pos + len)` (cross-fading
    /// during a swap), clears the ring, flushes tiny values and writes the
    /// result. Returns false if any output sample is non-finite or huge.
    fn mix(
        &mut self,
        channels: &mut [&mut [f32]],
        used: usize,
        done: usize,
        pos: usize,
        len: usize,
    ) -> bool {
        let (slots, count) = self.computing();
        let [a, b] = slots;
        let at = (self.time as usize) & (self.output_len - 1);
        let fade_start = match self.swap {
            Swap::Running { fade_start } => Some(fade_start),
            Swap::Idle | Swap::Pending => None,
        };
        let mut ok = true;
        let [ring0, ring1] = &mut self.output_ring;
        let (ring_a, ring_b) = if a == 0 {
            (ring0, ring1)
        } else {
            (ring1, ring0)
        };
        for c in 0..self.channels {
            let r = c * self.output_len + at;
            let h = c * BASE + pos;
            let (Some(ra), Some(ha)) =
                (ring_a.get_mut(r..r + len), self.head_out[a].get(h..h + len))
            else {
                continue;
            };
            let mut out = channels
                .get_mut(c)
                .filter(|_| c < used)
                .and_then(|ch| ch.get_mut(done..done + len));
            if count == 1 {
                match out.as_deref_mut() {
                    Some(out) => {
                        for ((o, r), &h) in out.iter_mut().zip(ra.iter_mut()).zip(ha) {
                            let y = h + *r;
                            *r = 0.0;
                            ok &= y.abs() <= MAX_OUTPUT_MAGNITUDE;
                            *o = if y.abs() < DENORMAL_FLUSH { 0.0 } else { y };
                        }
                    }
                    None => ra.fill(0.0),
                }
                continue;
            }
            let (Some(rb), Some(hb)) =
                (ring_b.get_mut(r..r + len), self.head_out[b].get(h..h + len))
            else {
                continue;
            };
            let fade_start = fade_start.unwrap_or(0);
            for i in 0..len {
                let t = self.time + i as u64;
                let g = if t < fade_start {
                    0.0
                } else {
                    self.fade
                        .get((t - fade_start) as usize)
                        .copied()
                        .unwrap_or(1.0)
                };
                let y = (1.0 - g) * (ha[i] + ra[i]) + g * (hb[i] + rb[i]);
                ra[i] = 0.0;
                rb[i] = 0.0;
                ok &= y.abs() <= MAX_OUTPUT_MAGNITUDE;
                if let Some(o) = out.as_deref_mut().and_then(|o| o.get_mut(i)) {
                    *o = if y.abs() < DENORMAL_FLUSH { 0.0 } else { y };
                }
            }
        }
        ok
    }
}

/// `round(CROSSFADE_SECONDS · sample_rate)`, at least 1.
fn crossfade_len(sample_rate: f32) -> usize {
    ((CROSSFADE_SECONDS * f64::from(sample_rate)).round() as usize).max(1)
}
