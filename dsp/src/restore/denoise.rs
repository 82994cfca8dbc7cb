//! Broadband noise reduction: an STFT spectral gain with a tracked noise floor.
//!
//! **Analysis–synthesis** (low delay, with the asymmetric windows of
//! D. Mauler and R. Martin, "A low delay, variable resolution, perfect reconstruction
//! spectral analysis-synthesis system for speech enhancement", EUSIPCO 2007): hop `M` =
//! [`hop_len`] ([`HOP_MS`], 128 samples at 48 kHz), analysis window of `K = 8M`
//! samples ([`frame_len`], [`ANALYSIS_MS`]: 47 Hz bins, enough to resolve a voice's
//! harmonics), synthesis window of only the last `2M` samples. The analysis window rises
//! as the square root of a `2(K−M)`-long Hann and falls as the square root of a
//! `2M`-long one; the synthesis window is `hann_2M / w_a` over the last `2M` samples, so
//! `w_a·w_s` is a `2M` Hann whose copies at hop `M` sum to 1: unit gains reconstruct the
//! input exactly (up to rounding), and the latency is that of the short window,
//! `2M − 1` samples, not of the long one. Stereo is linked: one gain per bin, from the
//! mean power of the channels, is applied to both.
//!
//! **Two real channels, one complex FFT** (the standard packing: W. H. Press et al.,
//! *Numerical Recipes*, 3rd ed., §12.3, "FFT of real functions"): the frame
//! `z = l + i·r` (`r = 0` in mono) has the spectrum `Z = L + i·R`, and since `L` and `R`
//! are conjugate-symmetric, `|L(k)|² + |R(k)|² = ½(|Z(k)|² + |Z(N−k)|²)`: the mean
//! power needs no unpacking. A real gain with `G(N−k) = G(k)` keeps `G·L` and `G·R`
//! conjugate-symmetric, so the inverse FFT of `G·Z` is `l' + i·r'`: both channels back
//! from one transform. One complex FFT each way (`rustfft`, which uses AVX where the
//! CPU has it) costs about half of the four real ones it replaces (measured 7 µs
//! against 14 µs per 1024-point frame, stereo), and the same as two in mono.
//!
//! **Noise floor** (per bin `k`, frame `l`; minima-controlled recursive averaging,
//! I. Cohen and B. Berdugo, "Noise estimation by minima controlled recursive averaging
//! for robust speech enhancement", IEEE Signal Processing Letters 9(1), 2002; minimum
//! tracking in sub-windows after R. Martin, "Noise power spectral density estimation
//! based on optimal smoothing and minimum statistics", IEEE Trans. Speech Audio Process.
//! 9(5), 2001, §IV):
//! 1. `S_f(k) = ¼|Y(k−1)|² + ½|Y(k)|² + ¼|Y(k+1)|²` (frequency smoothing),
//!    `S(k,l) = α_s·S(k,l−1) + (1−α_s)·S_f(k)` with time constant [`SMOOTHING_MS`].
//! 2. `S_min(k,l)`: the minimum of `S` over the last [`MIN_WINDOW_MS`], kept as
//!    [`MIN_SUBWINDOWS`] sub-window minima.
//! 3. Speech presence: `I = 1` when `S > δ·S_min` ([`PRESENCE_RATIO`] `δ` = 2), smoothed
//!    to a probability `p(k,l) = α_p·p + (1−α_p)·I` ([`PRESENCE_MS`]).
//! 4. `λ_D(k,l) = α̃·λ_D(k,l−1) + (1−α̃)·|Y(k,l)|²`, `α̃ = α_d + (1−α_d)·p` ([`NOISE_MS`]):
//!    the noise power follows the periodogram where speech is absent and holds where it
//!    is present.
//!
//! 5. The estimate is held within `S_min ..= `[`NOISE_CAP`]`·S_min`: weak speech that
//!    passed the presence test cannot raise the floor without bound (measured: without
//!    it the floor read 5–12 dB high during speech at 20 dB SNR).
//!
//! 6. Start-up: for [`SETTLE_MS`] after a reset `S` settles and `λ_D` is a plain
//!    recursive average of the periodogram; the settled `S` then seeds every
//!    sub-window minimum.
//!
//! The tracker runs whether the stage is on or off (one FFT of the packed channels per
//! hop), so switching it on never starts from an unknown floor. A minimum tracker follows
//! stationary and slowly varying noise (hum, hiss, fans, traffic); bursty noise (a 9 dB
//! frame-to-frame spread, the shared recording `noise_freesound_573577`) is not reduced.
//!
//! **Gain** (Y. Ephraim and D. Malah, "Speech enhancement using a minimum mean-square
//! error log-spectral amplitude estimator", IEEE Trans. ASSP 33(2), 1985; decision-
//! directed a-priori SNR from their 1984 paper, IEEE Trans. ASSP 32(6), eq. (51)):
//! `λ = λ_D·10^{threshold/10}`, `γ = |Y|²/λ`,
//! `ξ = max(α_dd·G²(l−1)·γ(l−1) + (1−α_dd)·max(γ−1, 0), ξ_min)` ([`DD_MS`],
//! [`XI_MIN_DB`]; the ξ floor is O. Cappé's remedy for musical noise, IEEE Trans. SAP
//! 2(2), 1994), `v = ξγ/(1+ξ)`, log-spectral-amplitude gain
//! `G = ξ/(1+ξ)·exp(½·E₁(v))` with the exponential integral `E₁`, then
//! `G = max(G, G_min)`, `G_min = 10^{−reduction/20}`: the user's reduction is the deepest
//! cut, which also keeps the residual noise natural (no musical "birdies" below it).
//!
//! **Latency** `2M − 1` samples ([`latency_samples`]: frame-synchronous processing with
//! sample-exact output). Off, the stage outputs its input delayed by the same amount;
//! on/off cross-fades over [`FADE_MS`]; reduction and threshold glide at most 30 dB per
//! [`FADE_MS`].
//!
//! **Why this and not RNNoise** (`nnnoiseless` 0.5.2), measured by
//! `benches/denoise_compare.rs` (13 VCTK clips × 4 real and 3 coloured noises × 0/5/10/20
//! dB SNR, 48 kHz): see the table in that file. RNNoise removes more noise at low SNR
//! (it is a trained network with a voice-activity detector) and handles bursty noise
//! this tracker cannot, but it runs only at 48 kHz in 480-sample frames (about 20 ms of
//! latency through a FIFO for arbitrary host blocks, plus a resampler at every other
//! rate), it has no reduction or threshold control (only a dry/wet mix), and it costs
//! several times the CPU. This stage works at any rate with 5.3 ms of latency, takes the
//! user's reduction as its gain floor and distorts less at high SNR.
//!
//! Realtime: [`Denoiser::new`] allocates (FFT plans, buffers); `process`, `set_target`,
//! `reset` never allocate, lock or panic; non-finite input is treated as 0.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use super::{clamp_rate, Fade};
use crate::fade::blend_wet;
use crate::simd::Isa;
use crate::state::{
    DenoiseState, MAX_DENOISE_REDUCTION_DB, MAX_DENOISE_THRESHOLD_DB, MIN_DENOISE_REDUCTION_DB,
    MIN_DENOISE_THRESHOLD_DB,
};
use crate::MAX_CHANNELS;

/// Analysis window length, ms (the frequency resolution: 47 Hz bins at 48 kHz).
pub const ANALYSIS_MS: f64 = 21.3;
/// Hop, ms (half the synthesis window, so the latency is about two hops).
pub const HOP_MS: f64 = 2.67;
/// Time constant of the smoothed periodogram `S`, ms.
pub const SMOOTHING_MS: f64 = 20.0;
/// Span of the minimum search, ms.
pub const MIN_WINDOW_MS: f64 = 1200.0;
/// Number of sub-windows of the minimum search.
pub const MIN_SUBWINDOWS: usize = 8;
/// `δ`: `S` above this multiple of its minimum means speech is present (Cohen and
/// Berdugo use 5 with longer frames; measured here, 2 lets less weak speech into the
/// noise average).
pub const PRESENCE_RATIO: f32 = 2.0;
/// Time constant of the speech-presence probability, ms.
pub const PRESENCE_MS: f64 = 20.0;
/// Time constant of the noise average where speech is absent, ms.
pub const NOISE_MS: f64 = 160.0;
/// The noise estimate is held between the smoothed minimum `S_min` and this multiple of
/// it (the minimum under-reads the mean by about 2 for this smoothing; the cap stops
/// weak speech that passed the presence test from raising the floor).
pub const NOISE_CAP: f32 = 3.0;
/// Start-up, ms: for this long after a reset the smoothed periodogram `S` settles
/// (three of its time constants) while the noise estimate is a plain recursive average
/// of the periodogram; only then does `S` seed the minimum search. Seeding it from the
/// first, unsmoothed frame put that frame's deepest dips into every sub-window minimum,
/// and the capped estimate read 6.5 dB low for the first [`MIN_WINDOW_MS`] (measured on
/// pink noise at −37.5 dBFS under speech: −44 dBFS), so the start of every offline
/// render was barely denoised.
pub const SETTLE_MS: f64 = 3.0 * SMOOTHING_MS;
/// Memory of the decision-directed a-priori SNR, ms (α_dd = 0.95 at the 2.67 ms hop).
pub const DD_MS: f64 = 50.0;
/// Floor of the a-priori SNR ξ, dB.
pub const XI_MIN_DB: f32 = -25.0;
/// Cross-fade time of on/off, and glide time of reduction and threshold, ms.
pub const FADE_MS: f32 = 20.0;

/// Hop at `sample_rate` Hz, samples: `8·round(fs · HOP_MS / 8)`, at least 8.
pub fn hop_len(sample_rate: f32) -> usize {
    let fs = f64::from(clamp_rate(sample_rate));
    (8 * ((fs * HOP_MS * 1e-3 / 8.0).round() as usize)).max(8)
}

/// Analysis window length at `sample_rate` Hz: 8 hops (1024 samples at 48 kHz).
pub fn frame_len(sample_rate: f32) -> usize {
    8 * hop_len(sample_rate)
}

/// Latency of the denoiser at `sample_rate` Hz, samples: the synthesis window (two
/// hops) minus one, `2·hop − 1` (255 at 48 kHz).
pub fn latency_samples(sample_rate: f32) -> usize {
    2 * hop_len(sample_rate) - 1
}

/// Window layout of the STFT. [`Layout::LowDelay`] is what the stage uses; the other
/// exists for the measured comparison in `benches/denoise_compare.rs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Layout {
    /// Asymmetric analysis window of 8 hops, synthesis window of 2 hops (Mauler & Martin
    /// 2007), hop [`HOP_MS`]: latency `2·hop − 1`.
    LowDelay,
    /// Symmetric square-root Hann windows of `frame_ms` at hop `frame/4`: latency
    /// `frame − 1`.
    Symmetric {
        /// Frame length, ms.
        frame_ms: f64,
    },
}

/// The spectral gain rule. [`GainRule::LogSpectral`] is what the stage uses; the others
/// exist for the measured comparison in `benches/denoise_compare.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GainRule {
    /// Ephraim–Malah 1985 log-spectral amplitude estimator (the default).
    LogSpectral,
    /// Wiener gain `ξ/(1+ξ)` with the same decision-directed `ξ`.
    Wiener,
}

/// `exp(½·E₁(v))` for `v > 0`, the LSA gain's correction factor. `E₁` from
/// M. Abramowitz and I. A. Stegun, *Handbook of Mathematical Functions* (1964), 5.1.53
/// (`0 < v ≤ 1`, error < 2e-7) and 5.1.56 (`v ≥ 1`, relative error < 5e-5).
#[inline]
pub fn lsa_factor(v: f32) -> f32 {
    let v = f64::from(v.max(1e-8));
    let e1 = if v <= 1.0 {
        -v.ln() - 0.577_215_66
            + v * (0.999_991_93
                + v * (-0.249_910_55 + v * (0.055_199_68 + v * (-0.009_760_04 + v * 0.001_078_57))))
    } else if v < 30.0 {
        let num = v * v + 2.334_733 * v + 0.250_621;
        let den = v * v + 3.330_657 * v + 1.681_534;
        num / den * (-v).exp() / v
    } else {
        0.0
    };
    (0.5 * e1).exp() as f32
}

/// `log2 v` range of the LSA table and its resolution (entries per octave).
const LSA_LOG2_MIN: f32 = -20.0;
const LSA_LOG2_MAX: f32 = 5.0;
const LSA_PER_OCTAVE: f32 = 16.0;

/// [`lsa_factor`] on a grid of `log2 v` (allocates; in `new`).
fn lsa_table() -> Vec<f32> {
    let n = ((LSA_LOG2_MAX - LSA_LOG2_MIN) * LSA_PER_OCTAVE) as usize + 2;
    (0..n)
        .map(|i| lsa_factor((LSA_LOG2_MIN + i as f32 / LSA_PER_OCTAVE).exp2()))
        .collect()
}

/// [`lsa_factor`] by linear interpolation in `log2 v` (relative error < 1e-3) is
/// `lsa_interpolate(table, lsa_position(v))`; 1 from `v = 32`, where the factor is
/// within 1e-7 of 1.
///
/// Position of `v` in the LSA table, `(log2 v − LSA_LOG2_MIN)·LSA_PER_OCTAVE`, clamped to
/// `0 ..= len − 2` (where `v = 32` and the factor is 1). Branch-free, so a loop of it
/// vectorizes.
#[inline(always)]
fn lsa_position(v: f32) -> f32 {
    let top = (LSA_LOG2_MAX - LSA_LOG2_MIN) * LSA_PER_OCTAVE;
    ((fast_log2(v.max(1e-30)) - LSA_LOG2_MIN) * LSA_PER_OCTAVE).clamp(0.0, top)
}

/// The table at position `x` (from [`lsa_position`]), linearly interpolated (the
/// entries from `v = 32` on are exactly 1: `E₁` is taken as 0 from `v = 30`).
#[inline(always)]
fn lsa_interpolate(table: &[f32], x: f32) -> f32 {
    let i = (x as usize).min(table.len() - 2);
    let f = x - i as f32;
    table[i] + f * (table[i + 1] - table[i])
}

/// `log2 v` for a positive normal `v`, error < 2e-6·max(1, |log2 v|): the exponent from the
/// bits, and `log2 m` of the mantissa `m ∈ [1, 2)` by the series
/// `ln m = 2·Σ s^{2j+1}/(2j+1)`, `s = (m−1)/(m+1) ≤ 1/3`, to `s⁹` (Abramowitz & Stegun
/// 4.1.27). `f32::log2` is a library call that keeps the per-bin loops scalar.
#[inline(always)]
fn fast_log2(v: f32) -> f32 {
    let bits = v.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 / 9.0))));
    exponent as f32 + series * (2.0 * std::f32::consts::LOG2_E)
}

/// Per-channel STFT buffers.
struct Channel {
    /// The last `N` input samples (frame in progress at the end).
    input: Vec<f32>,
    /// Overlap-add accumulator, `N` samples.
    acc: Vec<f32>,
    /// Finished output (`hop` samples) and the matching delayed dry input.
    out: Vec<f32>,
    dry: Vec<f32>,
}

/// STFT noise reducer (see the module documentation).
pub struct Denoiser {
    sample_rate: f32,
    channels: usize,
    n: usize,
    hop: usize,
    /// Synthesis window length (the output of a frame covers its last `syn` samples).
    syn: usize,
    bins: usize,
    fft: Arc<dyn Fft<f32>>,
    ifft: Arc<dyn Fft<f32>>,
    /// In-place scratch of both transforms.
    scratch: Vec<Complex32>,
    /// The packed frame `l + i·r`, then its spectrum, then the filtered frame (`N`).
    packed: Vec<Complex32>,
    win_a: Vec<f32>,
    /// Synthesis window over the frame's last `syn` samples, with the inverse FFT's
    /// scaling folded in.
    win_s: Vec<f32>,
    /// `w_a·w_s` over the last `syn` samples (what unit gains amount to).
    win_unit: Vec<f32>,
    /// `exp(½E₁(v))` on a log grid (see [`lsa_factor`]).
    lsa_table: Vec<f32>,
    /// Samples in `input` (the next one goes to `input[fill]`).
    fill: usize,
    /// Next output index into `out`/`dry`.
    emit: usize,
    ch: [Channel; MAX_CHANNELS],
    // Tracker, per bin.
    power: Vec<f32>,
    smooth: Vec<f32>,
    s_min: Vec<f32>,
    s_tmp: Vec<f32>,
    sub_mins: Vec<f32>,
    presence: Vec<f32>,
    noise: Vec<f32>,
    prev_gain2_gamma: Vec<f32>,
    gain: Vec<f32>,
    /// Scratch per bin: the frequency-smoothed periodogram (track), the a-posteriori
    /// SNR `γ` and the LSA table position (compute_gains).
    scratch_a: Vec<f32>,
    scratch_b: Vec<f32>,
    sub_len: usize,
    /// Frames of [`SETTLE_MS`].
    settle_frames: u64,
    sub_count: usize,
    sub_index: usize,
    frames_seen: u64,
    alpha_s: f32,
    alpha_p: f32,
    alpha_d: f32,
    alpha_dd: f32,
    xi_min: f32,
    rule: GainRule,

    // Settings.
    target: DenoiseState,
    reduction_db: f32,
    threshold_db: f32,
    glide_db_per_frame: f32,
    fade: Fade,
    /// Window energy `Σ w_a²`, for converting bin powers to signal power.
    win_energy: f32,
    /// Instruction set of the per-frame passes.
    isa: Isa,
}

impl Denoiser {
    /// A denoiser for `channels` (1 or 2; clamped) at `sample_rate` Hz (clamped to
    /// [`super::MIN_STAGE_SAMPLE_RATE`]`..=`[`super::MAX_STAGE_SAMPLE_RATE`]; NaN means
    /// 48 kHz), off. Plans the FFTs and allocates every buffer.
    pub fn new(sample_rate: f32, channels: usize) -> Self {
        Self::with_layout(sample_rate, channels, Layout::LowDelay)
    }

    /// [`Denoiser::new`] with another window layout (for the comparisons in
    /// `benches/denoise_compare.rs`; the chain always uses [`Layout::LowDelay`], and
    /// [`latency_samples`] holds only for it — [`Denoiser::latency_samples`] always).
    pub fn with_layout(sample_rate: f32, channels: usize, layout: Layout) -> Self {
        let sample_rate = clamp_rate(sample_rate);
        let fs = f64::from(sample_rate);
        let (n, hop, syn) = match layout {
            Layout::LowDelay => {
                let m = hop_len(sample_rate);
                (8 * m, m, 2 * m)
            }
            Layout::Symmetric { frame_ms } => {
                let ms = if frame_ms.is_finite() {
                    frame_ms.clamp(1.0, 100.0)
                } else {
                    8.0
                };
                let n = (4 * ((fs * ms * 1e-3 / 4.0).round() as usize)).max(8);
                (n, n / 4, n)
            }
        };
        let bins = n / 2 + 1;
        let mut planner = FftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(n);
        let ifft = planner.plan_fft_inverse(n);
        let scratch_len = fft
            .get_inplace_scratch_len()
            .max(ifft.get_inplace_scratch_len());
        let hann = |i: usize, len: usize| {
            0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / len as f64).cos()
        };
        // `win_a` over the frame; `win_s` and `win_unit = w_a·w_s` over its last `syn`
        // samples. The inverse FFT's factor N is folded into `win_s`.
        let (win_a, unit): (Vec<f64>, Vec<f64>) = match layout {
            Layout::LowDelay => {
                // Mauler & Martin: a long rising half-Hann up to K − M, the falling half
                // of a 2M-long Hann after; synthesis = hann_2M / w_a over the last 2M.
                let m = hop;
                let a = (0..n)
                    .map(|i| {
                        if i < n - m {
                            hann(i, 2 * (n - m)).sqrt()
                        } else {
                            hann(i - (n - 2 * m), 2 * m).sqrt()
                        }
                    })
                    .collect();
                let u = (0..syn).map(|j| hann(j, 2 * m)).collect();
                (a, u)
            }
            Layout::Symmetric { .. } => {
                // √Hann both ways; Σ hann = 2 at 75 % overlap.
                let a = (0..n).map(|i| hann(i, n).sqrt()).collect();
                let u = (0..n).map(|i| 0.5 * hann(i, n)).collect();
                (a, u)
            }
        };
        let win_s: Vec<f32> = unit
            .iter()
            .enumerate()
            .map(|(j, u)| {
                let wa = win_a[n - syn + j];
                if wa > 1e-9 {
                    (u / wa / n as f64) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let win_unit: Vec<f32> = unit.iter().map(|&u| u as f32).collect();
        let win_energy = win_a.iter().map(|w| w * w).sum::<f64>() as f32;
        let win_a: Vec<f32> = win_a.iter().map(|&w| w as f32).collect();
        let hop_s = hop as f64 / fs;
        let alpha = |ms: f64| (-hop_s / (ms * 1e-3)).exp() as f32;
        let sub_len =
            ((MIN_WINDOW_MS * 1e-3 / hop_s / MIN_SUBWINDOWS as f64).round() as usize).max(1);
        let channel = || Channel {
            input: vec![0.0; n],
            acc: vec![0.0; syn],
            out: vec![0.0; hop],
            dry: vec![0.0; hop],
        };
        let d = DenoiseState::default();
        let glide_frames = (f64::from(FADE_MS) * 1e-3 / hop_s).max(1.0) as f32;
        let mut s = Denoiser {
            sample_rate,
            channels: channels.clamp(1, MAX_CHANNELS),
            n,
            hop,
            syn,
            bins,
            fft,
            ifft,
            scratch: vec![Complex32::new(0.0, 0.0); scratch_len],
            packed: vec![Complex32::new(0.0, 0.0); n],
            win_a,
            win_s,
            win_unit,
            lsa_table: lsa_table(),
            fill: n - hop,
            emit: 0,
            ch: [channel(), channel()],
            power: vec![0.0; bins],
            smooth: vec![0.0; bins],
            s_min: vec![0.0; bins],
            s_tmp: vec![0.0; bins],
            sub_mins: vec![0.0; bins * MIN_SUBWINDOWS],
            presence: vec![0.0; bins],
            noise: vec![0.0; bins],
            prev_gain2_gamma: vec![0.0; bins],
            gain: vec![1.0; bins],
            scratch_a: vec![0.0; bins],
            scratch_b: vec![0.0; bins],
            sub_len,
            settle_frames: (SETTLE_MS * 1e-3 / hop_s).ceil().max(1.0) as u64,
            sub_count: 0,
            sub_index: 0,
            frames_seen: 0,
            alpha_s: alpha(SMOOTHING_MS),
            alpha_p: alpha(PRESENCE_MS),
            alpha_d: alpha(NOISE_MS),
            alpha_dd: alpha(DD_MS),
            xi_min: 10f32.powf(XI_MIN_DB / 10.0),
            rule: GainRule::LogSpectral,

            target: d,
            reduction_db: d.reduction_db,
            threshold_db: d.threshold_db,
            glide_db_per_frame: 30.0 / glide_frames,
            fade: Fade::new(0.0, (f64::from(FADE_MS) * 1e-3 * fs).round() as u32),
            win_energy,
            isa: Isa::detect(),
        };
        s.reset();
        s
    }

    /// Session sample rate, Hz (as clamped by [`Denoiser::new`]).
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Latency, samples: the synthesis window minus one, whatever the settings.
    pub fn latency_samples(&self) -> usize {
        self.syn - 1
    }

    /// STFT analysis frame length, samples.
    pub fn frame_len(&self) -> usize {
        self.n
    }

    /// STFT hop, samples.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Chooses the gain rule (for comparisons; the stage uses [`GainRule::LogSpectral`]).
    pub fn set_gain_rule(&mut self, rule: GainRule) {
        self.rule = rule;
    }

    /// Sets new settings: on/off cross-fades, reduction and threshold glide.
    /// Out-of-range values are clamped; NaN falls back to the default. Realtime-safe.
    pub fn set_target(&mut self, state: &DenoiseState) {
        self.target = clamp_state(state);
        self.fade
            .set_target(if self.target.enabled { 1.0 } else { 0.0 });
    }

    /// Sets new settings with no cross-fade or glide. Realtime-safe.
    pub fn snap_to(&mut self, state: &DenoiseState) {
        self.target = clamp_state(state);
        self.reduction_db = self.target.reduction_db;
        self.threshold_db = self.target.threshold_db;
        self.fade.snap(if self.target.enabled { 1.0 } else { 0.0 });
    }

    /// Clears the audio buffers and the noise tracker and completes any fade.
    /// Realtime-safe.
    pub fn reset(&mut self) {
        for c in &mut self.ch {
            c.input.iter_mut().for_each(|v| *v = 0.0);
            c.acc.iter_mut().for_each(|v| *v = 0.0);
            c.out.iter_mut().for_each(|v| *v = 0.0);
            c.dry.iter_mut().for_each(|v| *v = 0.0);
        }
        self.fill = self.n - self.hop;
        self.emit = 0;
        self.frames_seen = 0;
        self.sub_count = 0;
        self.sub_index = 0;
        self.presence.iter_mut().for_each(|v| *v = 0.0);
        self.prev_gain2_gamma.iter_mut().for_each(|v| *v = 0.0);
        self.gain.iter_mut().for_each(|v| *v = 1.0);
        self.reduction_db = self.target.reduction_db;
        self.threshold_db = self.target.threshold_db;
        let t = self.fade.target();
        self.fade.snap(t);
    }

    /// The tracked noise power per bin, `λ_D(k)`, in periodogram units of the analysis
    /// window (`N/2 + 1` bins, bin `k` at `k·fs/N` Hz).
    pub fn noise_psd(&self) -> &[f32] {
        &self.noise
    }

    /// The tracked noise floor as a signal power (mean square re full scale, so
    /// `10·log10` of it is dBFS in the convention of [`crate::analysis`]), by Parseval:
    /// `(λ_D(0) + 2·Σ λ_D(1..N/2−1) + λ_D(N/2)) / (N · Σ w_a²)` (per channel).
    pub fn noise_power(&self) -> f32 {
        let last = self.bins - 1;
        let mut sum = self.noise[0] + self.noise[last];
        sum += 2.0 * self.noise[1..last].iter().sum::<f32>();
        sum / (self.n as f32 * self.win_energy)
    }

    /// The gains of the last frame, per bin (1 = unchanged).
    pub fn gains(&self) -> &[f32] {
        &self.gain
    }

    /// Processes `channels` in place (1 or 2; unequal lengths: the common length). The
    /// output is the denoised input delayed by [`Denoiser::latency_samples`]. Never
    /// allocates, locks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let n_ch = channels.len().min(self.channels);
        let Some(len) = channels[..n_ch].iter().map(|c| c.len()).min() else {
            return;
        };
        for i in 0..len {
            for (c, buf) in self.ch.iter_mut().zip(channels.iter()).take(n_ch) {
                let x = buf[i];
                c.input[self.fill] = if x.is_finite() { x } else { 0.0 };
            }
            self.fill += 1;
            if self.fill == self.n {
                self.run_frame(n_ch);
                self.fill = self.n - self.hop;
                self.emit = 0;
            }
            // The dry share fades in dB (crate::fade): the noise being removed never
            // swells while a bake raises the trim beside it.
            let w = blend_wet(f64::from(self.fade.next())) as f32;
            let e = self.emit;
            for (c, buf) in self.ch.iter().zip(channels.iter_mut()).take(n_ch) {
                let dry = c.dry[e];
                buf[i] = if w == 0.0 {
                    dry
                } else {
                    dry + w * (c.out[e] - dry)
                };
            }
            self.emit += 1;
        }
    }

    /// One STFT frame: analysis, tracking, gains, synthesis, then shift the buffers.
    /// The passes over bins and samples run on 256-bit vectors where the CPU has AVX2
    /// (the same operations in the same order, so the same result).
    fn run_frame(&mut self, n_ch: usize) {
        match self.isa {
            Isa::Generic => self.frame_passes(n_ch),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2Fma` comes only from `Isa::detect`, which checked that
            // this CPU has AVX2 and FMA.
            Isa::Avx2Fma => unsafe { self.frame_passes_avx2(n_ch) },
        }
    }

    /// [`Denoiser::frame_passes`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn frame_passes_avx2(&mut self, n_ch: usize) {
        self.frame_passes(n_ch);
    }

    #[inline(always)]
    fn frame_passes(&mut self, n_ch: usize) {
        let wet = self.fade.value() > 0.0 || self.fade.target() > 0.0;
        let (n, hop, syn) = (self.n, self.hop, self.syn);
        // Analysis: both channels packed into one complex frame (module docs).
        let [c0, c1] = &self.ch;
        let frame = self.packed.iter_mut().zip(&self.win_a);
        if n_ch >= 2 {
            for ((z, w), (l, r)) in frame.zip(c0.input.iter().zip(&c1.input)) {
                *z = Complex32::new(l * w, r * w);
            }
        } else {
            for ((z, w), l) in frame.zip(&c0.input) {
                *z = Complex32::new(l * w, 0.0);
            }
        }
        self.fft
            .process_with_scratch(&mut self.packed, &mut self.scratch);
        // Mean power of the channels: (|Z(k)|² + |Z(N−k)|²) / (2·channels), with a
        // −200 dB floor (nothing in the tracker decays into denormals).
        let scale = 0.5 / n_ch as f32;
        let z = &self.packed;
        self.power[0] = 2.0 * z[0].norm_sqr() * scale + 1e-20;
        for ((p, a), b) in self.power[1..]
            .iter_mut()
            .zip(&z[1..=n / 2])
            .zip(z[n / 2..].iter().rev())
        {
            *p = (a.norm_sqr() + b.norm_sqr()) * scale + 1e-20;
        }
        self.track();
        // Glide the settings once per frame.
        let step = self.glide_db_per_frame;
        self.reduction_db += (self.target.reduction_db - self.reduction_db).clamp(-step, step);
        self.threshold_db += (self.target.threshold_db - self.threshold_db).clamp(-step, step);
        if wet {
            self.compute_gains();
        }
        if wet {
            // G(k) on bin k and on its mirror N − k, then both channels back at once.
            let (z, g) = (&mut self.packed, &self.gain);
            for (k, y) in z[..=n / 2].iter_mut().enumerate() {
                *y *= g[k];
            }
            for (k, y) in z[n / 2 + 1..].iter_mut().enumerate() {
                *y *= g[n / 2 - 1 - k];
            }
            self.ifft.process_with_scratch(z, &mut self.scratch);
        }
        for (ci, c) in self.ch.iter_mut().enumerate().take(n_ch) {
            // Delayed dry: the oldest `hop` samples of the synthesis span.
            c.dry.copy_from_slice(&c.input[n - syn..n - syn + hop]);
            if wet {
                let filtered = &self.packed[n - syn..];
                for ((a, z), w) in c.acc.iter_mut().zip(filtered).zip(&self.win_s) {
                    *a += (if ci == 0 { z.re } else { z.im }) * w;
                }
            } else {
                // Off: keep the accumulator as unit gains would leave it, so a fade-in
                // starts from a complete overlap-add.
                for ((a, x), u) in c
                    .acc
                    .iter_mut()
                    .zip(&c.input[n - syn..])
                    .zip(&self.win_unit)
                {
                    *a += x * u;
                }
            }
            c.out.copy_from_slice(&c.acc[..hop]);
            c.acc.copy_within(hop.., 0);
            c.acc[syn - hop..].iter_mut().for_each(|v| *v = 0.0);
            c.input.copy_within(hop.., 0);
        }
        // A mono chain leaves channel 1 idle.
    }

    /// Minima-controlled recursive averaging (see the module docs), after a start-up
    /// of [`SETTLE_MS`]. Whole-spectrum passes without branches per bin, so they
    /// vectorize.
    #[inline(always)]
    fn track(&mut self) {
        let first = self.frames_seen == 0;
        self.frames_seen += 1;
        let settling = self.frames_seen <= self.settle_frames;
        let seed = self.frames_seen == self.settle_frames + 1;
        let bins = self.bins;
        let (a_s, a_p, a_d) = (self.alpha_s, self.alpha_p, self.alpha_d);
        // Periodogram smoothed over 3 bins (edges repeat their own bin).
        let sf = &mut self.scratch_a;
        let p = &self.power;
        if bins >= 2 {
            sf[0] = 0.25 * p[0] + 0.5 * p[0] + 0.25 * p[1];
            sf[bins - 1] = 0.25 * p[bins - 2] + 0.5 * p[bins - 1] + 0.25 * p[bins - 1];
        } else {
            sf[0] = p[0];
        }
        for (f, w) in sf[1..bins.saturating_sub(1).max(1)]
            .iter_mut()
            .zip(p.windows(3))
        {
            *f = 0.25 * w[0] + 0.5 * w[1] + 0.25 * w[2];
        }
        if first {
            self.smooth.copy_from_slice(sf);
            self.noise.copy_from_slice(p);
            return;
        }
        for (s, f) in self.smooth.iter_mut().zip(sf.iter()) {
            *s = a_s * *s + (1.0 - a_s) * f;
        }
        if settling {
            // S is still settling: average the periodogram with the noise memory.
            for (n, p) in self.noise.iter_mut().zip(p) {
                *n = a_d * *n + (1.0 - a_d) * p;
            }
            return;
        }
        if seed {
            self.s_min.copy_from_slice(&self.smooth);
            self.s_tmp.copy_from_slice(&self.smooth);
            for u in 0..MIN_SUBWINDOWS {
                self.sub_mins[u * bins..(u + 1) * bins].copy_from_slice(&self.smooth);
            }
        }
        for ((((s, t), m), pr), (n, p)) in self
            .smooth
            .iter()
            .zip(self.s_tmp.iter_mut())
            .zip(self.s_min.iter_mut())
            .zip(self.presence.iter_mut())
            .zip(self.noise.iter_mut().zip(p))
        {
            *t = t.min(*s);
            *m = m.min(*s);
            let present = if *s > PRESENCE_RATIO * *m { 1.0 } else { 0.0 };
            *pr = a_p * *pr + (1.0 - a_p) * present;
            let a = a_d + (1.0 - a_d) * *pr;
            let nk = a * *n + (1.0 - a) * p;
            // Between the smoothed minimum and a multiple of it: speech leaking into the
            // average (weak partials below the presence threshold) cannot raise the
            // floor without bound.
            *n = nk.max(*m).min(NOISE_CAP * *m);
        }
        if seed {
            return;
        }
        self.sub_count += 1;
        if self.sub_count >= self.sub_len {
            // Close the sub-window: store its minimum, the window minimum is the
            // minimum of the stored sub-windows and the one starting now.
            self.sub_count = 0;
            let u = self.sub_index;
            self.sub_index = (u + 1) % MIN_SUBWINDOWS;
            self.sub_mins[u * bins..(u + 1) * bins].copy_from_slice(&self.s_tmp);
            self.s_min.copy_from_slice(&self.s_tmp);
            for v in 0..MIN_SUBWINDOWS {
                for (m, sub) in self
                    .s_min
                    .iter_mut()
                    .zip(&self.sub_mins[v * bins..(v + 1) * bins])
                {
                    *m = m.min(*sub);
                }
            }
            self.s_tmp.copy_from_slice(&self.smooth);
        }
    }

    /// Decision-directed ξ and the gain rule, floored at the reduction: one pass for
    /// `γ`, `ξ`, the Wiener gain and the LSA table position (vectorizes), one for the
    /// table and the floor.
    #[inline(always)]
    fn compute_gains(&mut self) {
        let thr = 10f32.powf(self.threshold_db / 10.0);
        let g_min = 10f32.powf(-self.reduction_db / 20.0);
        let (a_dd, xi_min) = (self.alpha_dd, self.xi_min);
        let (gammas, positions) = (&mut self.scratch_a, &mut self.scratch_b);
        for ((((g, gm), pos), prev), (noise, power)) in self
            .gain
            .iter_mut()
            .zip(gammas.iter_mut())
            .zip(positions.iter_mut())
            .zip(&self.prev_gain2_gamma)
            .zip(self.noise.iter().zip(&self.power))
        {
            let gamma = (power / (noise * thr)).min(1e6);
            let xi = (a_dd * prev + (1.0 - a_dd) * (gamma - 1.0).max(0.0)).max(xi_min);
            let wiener = xi / (1.0 + xi);
            *g = wiener;
            *gm = gamma;
            *pos = lsa_position(wiener * gamma);
        }
        let log_spectral = self.rule == GainRule::LogSpectral;
        for (((g, prev), gamma), pos) in self
            .gain
            .iter_mut()
            .zip(self.prev_gain2_gamma.iter_mut())
            .zip(gammas.iter())
            .zip(positions.iter())
        {
            let factor = if log_spectral {
                lsa_interpolate(&self.lsa_table, *pos)
            } else {
                1.0
            };
            let v = (*g * factor).max(g_min).min(1.0);
            *g = v;
            *prev = v * v * gamma;
        }
    }
}

fn clamp_state(state: &DenoiseState) -> DenoiseState {
    let d = DenoiseState::default();
    let c = |v: f32, lo: f32, hi: f32, dv: f32| if v.is_nan() { dv } else { v.clamp(lo, hi) };
    DenoiseState {
        enabled: state.enabled,
        reduction_db: c(
            state.reduction_db,
            MIN_DENOISE_REDUCTION_DB,
            MAX_DENOISE_REDUCTION_DB,
            d.reduction_db,
        ),
        threshold_db: c(
            state.threshold_db,
            MIN_DENOISE_THRESHOLD_DB,
            MAX_DENOISE_THRESHOLD_DB,
            d.threshold_db,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Xorshift32;

    #[test]
    fn lsa_factor_matches_a_numerical_exponential_integral() {
        // E1(v) = ∫_v^∞ e^{−t}/t dt by the trapezoid rule on a log grid.
        for &v in &[1e-3f64, 0.05, 0.3, 0.9, 1.0, 1.5, 4.0, 12.0] {
            let (mut e1, steps) = (0.0, 200_000);
            let (lo, hi) = (v.ln(), (v + 60.0).ln());
            let h = (hi - lo) / steps as f64;
            for i in 0..=steps {
                let t = (lo + i as f64 * h).exp();
                let f = (-t).exp(); // e^{−t}/t · dt/du with t = e^u
                e1 += if i == 0 || i == steps { 0.5 * f } else { f };
            }
            e1 *= h;
            let want = (0.5 * e1).exp();
            let got = f64::from(lsa_factor(v as f32));
            assert!((got / want - 1.0).abs() < 1e-4, "v {v}: {got} vs {want}");
        }
    }

    #[test]
    fn frame_lengths() {
        assert_eq!((hop_len(48_000.0), frame_len(48_000.0)), (128, 1024));
        assert_eq!((hop_len(44_100.0), frame_len(44_100.0)), (120, 960));
        assert_eq!((hop_len(96_000.0), frame_len(96_000.0)), (256, 2048));
        assert_eq!(hop_len(1_000.0), 8);
        assert_eq!(latency_samples(48_000.0), 255);
    }

    #[test]
    fn lsa_lookup_follows_the_formula() {
        let t = lsa_table();
        for i in 0..2000 {
            let v = 1e-6f32 * 1.01f32.powi(i);
            let want = lsa_factor(v);
            let got = lsa_interpolate(&t, lsa_position(v));
            assert!((got / want - 1.0).abs() < 1e-3, "v {v}: {got} vs {want}");
        }
    }

    #[test]
    fn fast_log2_is_within_2e_6_of_the_library_log2() {
        // Relative to the result's own rounding: f32 spacing is 7.6e-6 near log2 = ±100.
        let mut worst = 0.0f32;
        for i in 0..100_000 {
            let v = 1e-30f32 * 1.0008f32.powi(i);
            let want = v.log2();
            worst = worst.max((fast_log2(v) - want).abs() / want.abs().max(1.0));
        }
        assert!(worst < 2e-6, "worst error {worst}");
        assert_eq!(fast_log2(1.0), 0.0);
        assert_eq!(fast_log2(0.25), -2.0);
    }

    #[test]
    fn every_instruction_set_gives_the_same_output_bit_for_bit() {
        // Speech-like tones in noise, stereo, switched on part-way (settling, tracking,
        // gains, fade): the AVX2 copy of the frame passes changes nothing.
        let mut rng = Xorshift32(0x1234_5678_u32);
        let input: Vec<f32> = (0..48_000)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin() * (3.0 * t).sin().max(0.0)
                    + 0.02 * (rng.next_u32() as f32 / u32::MAX as f32 - 0.5)
            })
            .collect();
        let run = |isa: Isa| {
            let mut d = Denoiser::new(48_000.0, 2);
            d.isa = isa;
            let (mut l, mut r) = (
                input.clone(),
                input.iter().map(|v| 0.5 * v).collect::<Vec<_>>(),
            );
            for (i, (bl, br)) in l.chunks_mut(64).zip(r.chunks_mut(64)).enumerate() {
                if i == 100 {
                    d.set_target(&DenoiseState {
                        enabled: true,
                        reduction_db: 18.0,
                        ..DenoiseState::default()
                    });
                }
                d.process(&mut [bl, br]);
            }
            (l, r)
        };
        let (a, b) = (run(Isa::Generic), run(Isa::detect()));
        assert!(crate::restore::bit_identical(&a.0, &b.0));
        assert!(crate::restore::bit_identical(&a.1, &b.1));
        // The noise was reduced (the comparison is not between two bypasses).
        let tail = |x: &[f32]| x[40_000..].iter().map(|v| v * v).sum::<f32>();
        assert!(tail(&a.0) < 0.9 * tail(&input));
    }

    #[test]
    fn stereo_channels_come_back_from_the_packed_transform_unmixed() {
        // (x, −x) has the mean power of x alone, so the linked gains are the mono ones:
        // each channel must come back as the mono output (the right one negated), with
        // nothing of one channel in the other.
        let mut rng = Xorshift32(0x0bad_5eed_u32);
        let x: Vec<f32> = (0..24_000)
            .map(|i| {
                let t = i as f32 / 48_000.0;
                0.1 * (2.0 * std::f32::consts::PI * 300.0 * t).sin()
                    + 0.2 * (rng.next_u32() as f32 / u32::MAX as f32 - 0.5)
            })
            .collect();
        let on = DenoiseState {
            enabled: true,
            reduction_db: 20.0,
            ..DenoiseState::default()
        };
        let mut mono = Denoiser::new(48_000.0, 1);
        mono.snap_to(&on);
        let mut m = x.clone();
        for b in m.chunks_mut(64) {
            mono.process(&mut [b]);
        }
        let mut stereo = Denoiser::new(48_000.0, 2);
        stereo.snap_to(&on);
        let (mut l, mut r) = (x.clone(), x.iter().map(|v| -v).collect::<Vec<_>>());
        for (bl, br) in l.chunks_mut(64).zip(r.chunks_mut(64)) {
            stereo.process(&mut [bl, br]);
        }
        let worst = m
            .iter()
            .zip(l.iter().zip(&r))
            .map(|(y, (a, b))| (y - a).abs().max((y + b).abs()))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{worst}");
        // The stage reduced the noise (not two unity gains).
        let energy = |v: &[f32]| v[12_000..].iter().map(|s| s * s).sum::<f32>();
        assert!(
            energy(&m) < 0.9 * energy(&x),
            "{} vs {}",
            energy(&m),
            energy(&x)
        );
    }

    #[test]
    fn low_delay_windows_reconstruct_perfectly() {
        // Unit gains: the output is the input delayed by the latency.
        let mut d = Denoiser::new(48_000.0, 1);
        d.snap_to(&DenoiseState {
            enabled: true,
            reduction_db: 0.0,
            threshold_db: 0.0,
        });
        let x: Vec<f32> = (0..20_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let mut y = x.clone();
        d.process(&mut [&mut y]);
        let lat = d.latency_samples();
        let err = x[..x.len() - lat]
            .iter()
            .zip(&y[lat..])
            .skip(2048)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "{err}");
    }
}
