//! The repair stage: de-clipping and de-clicking, two restorers that share one lookahead
//! buffer and one autoregressive (AR) model of the signal.
//!
//! Both treat damage as *missing samples* and re-synthesise them from an AR model of the
//! surrounding audio (S. J. Godsill & P. J. W. Rayner, *Digital Audio Restoration*,
//! Springer 1998, ch. 5; the interpolator is [`super::ar::Lsar`]).
//!
//! **AR model.** Order `p` = [`ar_order`] (10 at 8–15 kHz, 32 at 48 kHz, 40 from 60 kHz).
//! The autocorrelation of the *repaired* output is tracked with an exponential window
//! ([`AR_WINDOW_MS`]): `r_k ← λ·r_k + y[o]·y[o−k]` (summed a hop at a time), which is
//! the autocorrelation of the windowed signal `λ^{(o−n)/2}·y[n]` up to the factor
//! `λ^{k/2}` (applied), so it is positive semi-definite; a white-noise correction of
//! `1e-4·r_0` plus −150 dBFS is added before every [`super::ar::levinson`] fit (every
//! [`AR_HOP_MS`]).
//!
//! **De-clicking** (Godsill & Rayner §5.3, with two-sided detection after S. V. Vaseghi
//! and P. J. W. Rayner, "Detection and suppression of impulsive noise in speech
//! communication systems", IEE Proc. I 137(1), 1990):
//! 1. Forward prediction error `e[n] = x[n] − Σ a_k x[n−k]` of every sample.
//! 2. A sample `d` is the start of a click when `|e[d]| > k·σ(d)`, where `σ(d)` is the RMS
//!    of `e` over `d ± C` (`C = g_max + p + 2` each side) leaving out
//!    `d−1 ..= d+p` (where the click's own error spreads), and `k` is set by the
//!    sensitivity ([`threshold_ratio`]: 80× at 0 %, 20× at 50 %, 5× at 100 %). The two
//!    ends of a short held pulse raise each other's `σ`: a candidate within
//!    [`MASKING_RATIO`] of the threshold is tested again without the largest other
//!    error in the window, where that is an edge of the opposite direction and about
//!    the same size (the signal's jump `x[i+2] − x[i−2]`); a voice's two same-signed
//!    pulses (vocal fry) are not.
//! 3. Shape. A pop through a coupling capacitor is a *decaying step*, `A·r^j`,
//!    `r = e^{−1/τ}`, for [`STEP_GRID`] values of τ in [`STEP_TAU_RANGE_MS`] (the
//!    dataset's clock pops, a DC thump, each end of a DC offset switched on and off).
//!    The whitening leaves little of a slow offset (the model predicts it), so `A` and
//!    `τ` are the least-squares fit to the *signal* over the step's tail, from
//!    `p + 1 +` [`STEP_HEAD_MS`] after `d` (an edge that came through the recording
//!    chain's filters rises and rings before that) to the end of the lookahead or to a
//!    second edge in it ([`SECOND_EDGE_SHARE`]: the other end of a held pulse, itself a
//!    step under the first one's tail). A step is taken where it explains more energy
//!    than the signal had over as many samples before the edge
//!    ([`STEP_ABOVE_BEFORE`]), leaves at most [`STEP_FIT_SHARE`] of the tail's energy
//!    or, where a voice goes on under it, not much more than the voice's, and is the
//!    edge's own level ([`STEP_EDGE_SHARE`] of the jump across it, the same way: over a
//!    few milliseconds an impulse's tail or a voice's slow wave fits an offset too). It is
//!    *subtracted* (over `12·τ`, carried on into samples that have not arrived yet), and
//!    refitted while its tail arrives until a new edge does, so its long tail goes too.
//! 4. Otherwise (and for what a subtracted step leaves above threshold) the damaged run
//!    is interpolated: it starts one sample before `d` and ends one sample after the
//!    later of two ends. The last sample in `d ..= d + g_max` whose *backward*
//!    prediction error `x[m] − Σ a_k x[m+k]` exceeds `max(k/2, 3)·σ` — a click is
//!    unpredictable from both sides, clean audio after it is predictable from its own
//!    future. And the end of its *ringing*: a click that came through a resonance rings
//!    on, and the resonance is not the voice's, so the forward error stays high while it
//!    lasts; the ringing has ended at the first `m` from which the RMS of `e` over
//!    `m .. m+p` is under [`CLICK_TAIL_RATIO`] times its RMS over the `C − 1` samples
//!    before `d`. Runs are at most `g_click` = [`max_click_samples`] long (5 ms, at most
//!    2048 samples). Where the voice is loud the ringing's tail falls under that bound
//!    sooner (the voice masks it, and the voice's model, with a formant near the
//!    resonance, predicts part of it), so the bridge is shorter there. A run is only
//!    interpolated where the error after it (up to `d + C`) is back at the background
//!    ([`LOCALISED_MAX_POWER`]): a natural transient goes on.
//!
//! **De-clipping** (Godsill & Rayner §5.2.4; constrained interpolation after
//! J. S. Abel and J. O. Smith, "Restoring a clipped signal", ICASSP 1991):
//! 1. A ceiling per polarity follows the sample peak (instant rise, falling
//!    [`CEILING_DECAY_DB_PER_S`]). A *clipped run* is ≥ 2 consecutive same-sign samples
//!    within [`CLIP_TOLERANCE`] (relative) of the ceiling and of each other, at least
//!    [`CLIP_MIN_LEVEL_DB`] dBFS: a hard clipper's plateau. A run confirms its level for
//!    one second; single samples at a confirmed level count as runs of one.
//!    Clipping *before* linear filters (an analog stage, then AC coupling and the
//!    converter's anti-alias filter) leaves no equal samples: its plateaus droop and
//!    ring. A second detector finds them as *straight* runs: same-sign samples at least
//!    [`PLATEAU_MIN_SHARE`] of the ceiling where the smoothed signal's second difference
//!    stays under [`PLATEAU_CURVATURE`] for [`PLATEAU_MIN_MS`] or longer, whose magnitude
//!    does not rise ([`PLATEAU_MAX_RISE`]: a coupling makes it droop), with a sharp
//!    corner on both sides (a fall of [`PLATEAU_EDGE`] within 3 samples, found within
//!    [`PLATEAU_CORNER_MS`], at a bend of [`PLATEAU_CORNER_CURVATURE`]); the run is the whole plateau up to its corners, the two
//!    samples at each end the smoothed difference cannot see included.
//! 2. A run of at most `g_max` = [`max_gap_samples`] samples (2 ms) is re-synthesised
//!    once the model has taken in the output up to `g_max + 4` samples before it, by
//!    least-squares AR
//!    interpolation constrained to lie at or beyond the observed samples in the run's
//!    direction (the clip level, or the drooping plateau; active set: samples that fall
//!    short are pinned to the observed value and the rest solved again, up to 4
//!    times), and at most [`MAX_OVERSHOOT`]× the level.
//!    Longer runs are left as they are (the model cannot bridge them credibly).
//!
//! De-clipping goes first: the clipper acts after everything else in a recording chain
//! (converter last), so its damage is undone first, and a clipped plateau's corners
//! would otherwise read as clicks (the de-clicker skips unrepaired clipped runs).
//!
//! **Latency** [`Repair::latency_samples`] = `g_click + p + 4` samples (5.75 ms at
//! 48 kHz: the lookahead `D = g_click + p + 2` a click's bridge needs), constant whatever
//! is enabled: switching a restorer on or off changes which
//! future damage is repaired, never the delay. Every repair joins the signal
//! continuously at both ends, so switching never clicks; a step subtraction in progress
//! runs to its end.
//!
//! Realtime: [`Repair::new`] allocates everything; `process`, `set_target`, `reset` never
//! allocate, lock or panic. While both restorers are off and nothing is pending, the
//! stage is a plain delay (the model restarts [`WARMUP_MS`] before detecting again).
//! Non-finite input must be sanitised before (the `Chain` does); it is treated as 0.

// Index loops here follow the formulas (matrix rows and columns, filter taps).
#![allow(clippy::needless_range_loop)]

use super::ar::{levinson, Lsar};
use super::clamp_rate;
use crate::simd::{dot64, madd, Isa};
use crate::state::{
    DeclickState, DeclipState, MAX_DECLICK_SENSITIVITY_PCT, MIN_DECLICK_SENSITIVITY_PCT,
};
use crate::MAX_CHANNELS;

/// Length of the AR model's exponential analysis window (time constant), ms.
pub const AR_WINDOW_MS: f64 = 20.0;
/// The AR model is refitted this often, ms.
pub const AR_HOP_MS: f64 = 2.5;
/// Longest repaired clipped run, ms (also capped at [`MAX_GAP_SAMPLES`]); also the
/// reach of a click's backward-error extent and of the background window `C`.
pub const MAX_GAP_MS: f64 = 2.0;
/// Longest repaired clipped run, samples, at any rate.
pub const MAX_GAP_SAMPLES: usize = 512;
/// Longest repaired click, ms (also capped at [`MAX_CLICK_SAMPLES`]). A click that
/// came through a resonance (a cable, a capsule, a converter's coupling) rings for
/// milliseconds after its edge (a resonance at 800 Hz with Q 8 has a time constant of
/// 3.2 ms); bridging only its first 2 ms leaves the ringing. The bridge's length is the
/// lookahead, so it is the stage's latency: on the evaluation's held-out ringing clicks
/// 10 ms gained 0.02 more wide-band PESQ than 5 ms for 5 ms more delay.
pub const MAX_CLICK_MS: f64 = 5.0;
/// Longest repaired click, samples, at any rate.
pub const MAX_CLICK_SAMPLES: usize = 2048;
/// A click's ringing has ended where the RMS of the forward prediction error over the
/// next `p` samples falls under this many times its RMS before the click.
pub const CLICK_TAIL_RATIO: f64 = 3.0;
/// Highest AR order, at 60 kHz and above.
pub const MAX_AR_ORDER: usize = 40;
/// Shortest and longest decay time constant of the step templates, ms.
pub const STEP_TAU_RANGE_MS: (f64, f64) = (0.5, 20.0);
/// Number of step templates, log-spaced over [`STEP_TAU_RANGE_MS`] (9 % apart).
pub const STEP_GRID: usize = 48;
/// A step's level and decay are read from the signal from `p + 1` samples and this
/// long after its edge on: an edge that came through the recording chain's filters
/// rises and rings before that (on the evaluation's held-out clicks, a fit that
/// included the head read half the step's level), and the head is interpolated where
/// it stands out.
pub const STEP_HEAD_MS: f64 = 1.0;
/// A step's explained energy over its tail must exceed this many times the signal's
/// energy over as many samples before the edge: the offset stands out of the audio.
pub const STEP_ABOVE_BEFORE: f64 = 1.0;
/// A step's level is at least this share of the signal's jump across its edge
/// (`x[d+2] − x[d−2]`, the same direction).
pub const STEP_EDGE_SHARE: f64 = 0.5;
/// A step is subtracted over this many time constants.
pub const STEP_TAIL_TAUS: f64 = 12.0;
/// A step's fit is refined while its tail arrives, up to this many time constants
/// (at most [`STEP_REFINE_MAX_MS`]).
pub const STEP_REFINE_TAUS: f64 = 8.0;
/// Longest refinement, ms.
pub const STEP_REFINE_MAX_MS: f64 = 100.0;
/// The step's fit is redone this often while its tail arrives, ms.
pub const STEP_REFIT_MS: f64 = 0.5;
/// Within a step's window, a jump of the whitened error by more than this share of the
/// step's own first error (and more than the click threshold) is a second edge: the
/// other end of a held pulse (a DC offset switched on and off through a coupling
/// capacitor), fitted as a step of its own.
pub const SECOND_EDGE_SHARE: f64 = 0.5;
/// A step leaves at most this share of its tail's energy unexplained (or, where a voice
/// goes on under it, at most the energy the signal had before the edge and this share
/// of what the step explains).
pub const STEP_FIT_SHARE: f64 = 0.15;
/// A candidate within this factor under the click threshold is tested again against
/// the background without the largest other error in its window: two edges closer
/// than the window's half-width `C` (a held pulse of 2 ms) raise each other's
/// background, and neither would be found.
pub const MASKING_RATIO: f64 = 4.0;
/// A click's prediction error must be at least this fraction of the signal's peak
/// envelope (−40 dB): quieter events are inaudible next to the voice, and quiet
/// passages are full of small natural transients (breaths, lip noise).
pub const CLICK_MIN_LEVEL: f64 = 0.01;
/// The peak envelope for [`CLICK_MIN_LEVEL`] falls this fast, dB per second.
pub const PEAK_DECAY_DB_PER_S: f32 = 3.0;
/// An interpolated click must leave the prediction error at most this many times the
/// background power `σ²` after it.
pub const LOCALISED_MAX_POWER: f64 = 2.0;
/// ... checked over at least this many samples (shorter lookahead: not checked).
pub const LOCALISED_MIN_SAMPLES: u64 = 16;
/// Samples within this fraction of the ceiling (and of each other) are at the clip level.
pub const CLIP_TOLERANCE: f32 = 1e-4;
/// Plateaus below this level, dBFS, are never clipping.
pub const CLIP_MIN_LEVEL_DB: f32 = -40.0;
/// A *filtered* clipped plateau (clipping before an AC coupling and a converter's
/// anti-alias filter) is straight, not level: its samples may drift (the coupling's
/// droop) and ring near Nyquist. It is flat where the second difference of the
/// `[1, 2, 1]/4`-smoothed signal (which removes the ringing) is at most this fraction of
/// the polarity's ceiling, at every rate: what is left of the anti-alias filter's
/// ringing after the smoothing is a fixed number of samples long whatever the rate (the
/// filter sits just under Nyquist), while a voice's curvature per sample grows as the
/// rate falls. (Scaled by `(48 kHz/fs)²`, as a first version was, the bound let 61 of the
/// shared 16 kHz LibriSpeech recordings read as clipped.) At 5·10⁻⁴ a third of the
/// analog-clipped plateaus of the evaluation were missed: the ringing's residue curves
/// them by 1–2·10⁻³ near the corners.
pub const PLATEAU_CURVATURE: f32 = 1e-3;
/// A filtered plateau lasts at least this long, ms …
pub const PLATEAU_MIN_MS: f64 = 0.2;
/// … and at least this many samples …
pub const PLATEAU_MIN_SAMPLES: u64 = 6;
/// … at a level of at least this share of the polarity's ceiling (the coupling moves
/// the plateaus of a clipped passage between about 0.7 and 1 of the peak).
pub const PLATEAU_MIN_SHARE: f32 = 0.5;
/// A plateau has corners: over 3 consecutive samples outside each end (within
/// [`PLATEAU_CORNER_MS`] of it) the signal falls by at least this share of the ceiling
/// (at 48 kHz; ×48 kHz/fs at lower rates, as a waveform's slope per sample grows). A
/// flat stretch of a voice over a DC offset, or the top of a slow wave, has none.
pub const PLATEAU_EDGE: f32 = 0.05;
/// A plateau's corner may be rounded (the anti-alias filter's ringing bends the last
/// few samples before the fall): the fall of [`PLATEAU_EDGE`] is looked for within this
/// long outside each end of the flat part (at least 3 samples, at most
/// [`MAX_PLATEAU_CORNER`]), and the samples before it, still within the edge of the
/// plateau, belong to the run.
pub const PLATEAU_CORNER_MS: f64 = 0.17;
/// A corner bends: somewhere between the flat part and the fall, the smoothed second
/// difference (as for [`PLATEAU_CURVATURE`]) reaches this share of the ceiling, ten times
/// the flat part's bound. A clipped corner, rounded by the anti-alias filter, bends by
/// 0.02–0.25 (measured on the evaluation's analog clipping); the lobe of a tone low
/// enough to pass as flat curves at most by the flat bound on its flanks, so a pure
/// 128–240 Hz tone near full scale, whose flanks fall fast enough for
/// [`PLATEAU_EDGE`], is not read as clipped.
pub const PLATEAU_CORNER_CURVATURE: f32 = 1e-2;
/// Longest corner reach, samples.
pub const MAX_PLATEAU_CORNER: u64 = 16;
/// A filtered plateau's magnitude rises by at most this share of the ceiling over its
/// flat part (ripple): the coupling makes it droop, while a straight ramp into a voice's
/// peak rises (measured: six such ramps in one clean VCTK recording read as plateaus).
pub const PLATEAU_MAX_RISE: f32 = 0.02;
/// The clip-level ceiling falls this fast when nothing reaches it, dB per second.
pub const CEILING_DECAY_DB_PER_S: f32 = 1.0;
/// A reconstructed clipped sample is at most this many times the clip level (+6 dB;
/// measured on hard-clipped speech, a looser bound lets steep edges overshoot).
pub const MAX_OVERSHOOT: f64 = 2.0;
/// A reconstruction rises at most this many times as far above the clip level as a
/// parabola leaving it with the run's mean edge slope.
pub const CLIP_PARABOLA_MARGIN: f64 = 1.5;
/// An edge slope is the steepest of this many sample differences outside the run: a
/// filtered plateau's corner is rounded over a few samples, and the difference next to
/// it alone reads the edge too gentle (the bound then flattened the reconstruction: on
/// the evaluation's analog-clipped clips, wide-band PESQ 2.07 instead of 2.45 on one).
pub const CLIP_EDGE_SAMPLES: usize = 3;
/// After switching on, the model warms up this long before anything is detected, ms.
pub const WARMUP_MS: f64 = 30.0;

/// Click detection threshold `k` (multiples of the local prediction-error RMS) for a
/// sensitivity in percent: `k = 80 · 16^(−sensitivity/100)` (80× at 0 %, 20× at 50 %,
/// 5× at 100 %). The sensitivity is clamped to 0..=100; NaN reads as 50 %.
pub fn threshold_ratio(sensitivity_pct: f32) -> f64 {
    let s = if sensitivity_pct.is_nan() {
        50.0
    } else {
        sensitivity_pct.clamp(MIN_DECLICK_SENSITIVITY_PCT, MAX_DECLICK_SENSITIVITY_PCT)
    };
    80.0 * 16f64.powf(-f64::from(s) / 100.0)
}

/// AR model order at `sample_rate` Hz: `round(fs / 1500)` clamped to 10..=40.
pub fn ar_order(sample_rate: f32) -> usize {
    ((f64::from(clamp_rate(sample_rate)) / 1500.0).round() as usize).clamp(10, MAX_AR_ORDER)
}

/// Longest repaired clipped run at `sample_rate` Hz, samples: `round(2 ms · fs)`
/// clamped to 2..=512.
pub fn max_gap_samples(sample_rate: f32) -> usize {
    ((MAX_GAP_MS * 1e-3 * f64::from(clamp_rate(sample_rate))).round() as usize)
        .clamp(2, MAX_GAP_SAMPLES)
}

/// Longest repaired click at `sample_rate` Hz, samples: `round(5 ms · fs)`
/// ([`MAX_CLICK_MS`]) clamped to 2..=2048.
pub fn max_click_samples(sample_rate: f32) -> usize {
    ((MAX_CLICK_MS * 1e-3 * f64::from(clamp_rate(sample_rate))).round() as usize)
        .clamp(2, MAX_CLICK_SAMPLES)
}

/// Latency of the repair stage at `sample_rate` Hz, samples: `g_click + p + 4`.
pub fn latency_samples(sample_rate: f32) -> usize {
    max_click_samples(sample_rate) + ar_order(sample_rate) + 4
}

/// What the repair stage found and did since it was built (or [`Repair::reset_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RepairStats {
    /// Clicks detected (repaired when de-clicking is on).
    pub clicks: u64,
    /// Of those, clicks removed by subtracting a decaying step.
    pub steps: u64,
    /// Clipped runs detected (any length).
    pub clipped_runs: u64,
    /// Samples in those runs.
    pub clipped_samples: u64,
    /// Clipped runs re-synthesised.
    pub clipped_runs_repaired: u64,
    /// Highest clipped-run level seen, full scale (0 when none).
    pub clip_level: f32,
}

/// A clipped run waiting for its right-hand context.
#[derive(Clone, Copy, Debug, Default)]
struct ClipRun {
    start: u64,
    end: u64,
    level: f32,
    sign: f32,
}

/// A decaying step being subtracted sample by sample.
#[derive(Clone, Copy, Debug, Default)]
struct StepTail {
    /// Next absolute position to subtract from.
    next: u64,
    /// Last position (exclusive).
    end: u64,
    /// Template value at `next`.
    value: f64,
    /// Per-sample decay factor `e^{−1/τ}`.
    factor: f64,
}

const QUEUE: usize = 32;
const TAILS: usize = 4;

/// Per-channel state.
#[derive(Clone, Debug)]
struct Channel {
    /// Samples, double-written ring (`i` and `i + ring`), so windows are contiguous.
    x: Vec<f32>,
    /// The same samples before step subtraction (clipped runs repaired in both).
    pre: Vec<f32>,
    /// Forward prediction error per position.
    e: Vec<f32>,
    /// Autocorrelation `r[0..=p]` of the output (exponential window).
    r: Vec<f64>,
    /// Prediction coefficients `a[1..=p]` (index 0 unused).
    a: Vec<f64>,
    /// `a` reversed, `f32`: `a_rev[j] = a_{p−j}`, for the per-sample dot product.
    a_rev: Vec<f32>,
    /// Σ e² over the detection window `d−C ..= d+C`, and over `d−1 ..= d+p`.
    win_sum: f64,
    excl_sum: f64,
    /// Absolute index of the next input sample.
    n: u64,
    /// Samples until the next AR refit.
    hop_left: usize,
    /// Output samples not yet taken into `r` (taken in at each refit).
    pending_r: usize,
    /// Detection starts at this absolute position (warm-up, dead time after a repair).
    detect_from: u64,
    /// Peak envelope of |x| for the click level floor.
    peak_env: f32,
    /// Clip detector.
    ceiling: [f32; 2],
    run_len: u64,
    run_sign: f32,
    run_level: f32,
    confirmed_level: [f32; 2],
    confirmed_until: [u64; 2],
    /// Filtered-plateau detector: flat samples so far and their sign, and the end of
    /// the last run either detector reported (runs never overlap).
    flat_len: u64,
    flat_sign: f32,
    last_run_end: Option<u64>,
    /// Clipped runs waiting for their right context (ring of `QUEUE`).
    runs: [ClipRun; QUEUE],
    runs_head: usize,
    runs_len: usize,
    /// Unrepaired clipped spans `[start, end]` the click detector must skip.
    guards: [(u64, u64); QUEUE],
    guards_head: usize,
    guards_len: usize,
    tails: [StepTail; TAILS],
    fit: StepFit,
    /// True while the model and detectors run (a restorer is on or work is pending).
    active: bool,
    stats: RepairStats,
}

/// De-clipper and de-clicker with a shared lookahead (see the module documentation).
pub struct Repair {
    sample_rate: f32,
    channels: usize,
    order: usize,
    max_gap: usize,
    /// Longest click bridged, samples ([`max_click_samples`]).
    max_click: usize,
    /// Detection delay `D = g_click + p + 2`.
    detect_delay: usize,
    /// Half-width of a click test's background window, `C = g_max + p + 2`.
    context: usize,
    /// `1 / (2C + 1 − (p + 2))`: the reciprocal of the number of errors in the
    /// background window of a click test (its span less the excluded part).
    inv_background_len: f64,
    /// Instruction set of the prediction-error and autocorrelation loops.
    isa: Isa,
    latency: usize,
    ring: usize,
    mask: u64,
    lambda: f64,
    /// `λ^{k/2}`, `k = 0..=p`.
    lag_window: Vec<f64>,
    /// `λ^i`, `i = 0..=hop`: the weights of a hop's samples in the autocorrelation.
    lambda_pow: Vec<f64>,
    /// Scratch: a hop's output samples weighted by `lambda_pow` (`hop` long).
    weighted: Vec<f64>,
    /// Scratch: the refit's window of output samples in `f64` (`hop + p` long), so the
    /// `p + 1` dot products do not each convert the same samples again.
    window: Vec<f64>,
    hop: usize,
    warmup: u64,
    ceiling_decay: f32,
    /// [`CLIP_MIN_LEVEL_DB`] as a sample magnitude.
    clip_min_level: f32,
    /// The shortest filtered plateau at this rate, samples.
    flat_min: u64,
    /// [`PLATEAU_EDGE`] at this rate.
    flat_edge: f32,
    /// [`PLATEAU_CORNER_MS`] at this rate, samples (the plateau detector's delay less 2).
    flat_reach: u64,
    peak_decay: f32,
    one_second: u64,
    /// Per-sample decay `e^{−1/τ}` of the step templates.
    step_r: [f64; STEP_GRID],
    /// Refit interval and longest refinement, samples.
    refit: u64,
    /// [`STEP_HEAD_MS`] at this rate, samples.
    step_head: usize,
    max_refine: u64,
    declip: DeclipState,
    declick: DeclickState,
    k: f64,
    lsar: Lsar,
    seg: Vec<f64>,
    c: Vec<f64>,
    tmp: Vec<f64>,
    ch: [Channel; MAX_CHANNELS],
}

impl Repair {
    /// A repair stage for `channels` (1 or 2; clamped) at `sample_rate` Hz (clamped to
    /// [`super::MIN_STAGE_SAMPLE_RATE`]`..=`[`super::MAX_STAGE_SAMPLE_RATE`]; NaN means
    /// 48 kHz), both restorers off. Allocates all buffers.
    pub fn new(sample_rate: f32, channels: usize) -> Self {
        let sample_rate = clamp_rate(sample_rate);
        let fs = f64::from(sample_rate);
        let order = ar_order(sample_rate);
        let max_gap = max_gap_samples(sample_rate);
        let max_click = max_click_samples(sample_rate);
        let detect_delay = max_click + order + 2;
        let context = max_gap + order + 2;
        let latency = detect_delay + 2;
        let hop = ((AR_HOP_MS * 1e-3 * fs).round() as usize).max(1);
        // The ring holds the lookahead and, behind the output, a hop and an order of
        // output samples for the autocorrelation (update_model).
        let ring = (2 * (latency + detect_delay + order) + 8)
            .max(latency + hop + order + 2)
            .next_power_of_two();
        let lambda = (-1.0 / (AR_WINDOW_MS * 1e-3 * fs)).exp();
        let lag_window = (0..=order).map(|k| lambda.powf(k as f64 / 2.0)).collect();
        let (lo, hi) = STEP_TAU_RANGE_MS;
        let step_r: [f64; STEP_GRID] = std::array::from_fn(|i| {
            let ms = lo * (hi / lo).powf(i as f64 / (STEP_GRID - 1) as f64);
            (-1.0 / (ms * 1e-3 * fs).max(0.5)).exp()
        });
        let bridge = max_gap.max(max_click);
        let seg_len = bridge + 2 + 2 * order + 2;
        let channel = Channel {
            x: vec![0.0; 2 * ring],
            pre: vec![0.0; ring],
            e: vec![0.0; ring],
            r: vec![0.0; order + 1],
            a: vec![0.0; order + 1],
            a_rev: vec![0.0; order],
            win_sum: 0.0,
            excl_sum: 0.0,
            n: 0,
            hop_left: 0,
            pending_r: 0,
            detect_from: 0,
            peak_env: 0.0,
            ceiling: [0.0; 2],
            run_len: 0,
            run_sign: 0.0,
            run_level: 0.0,
            confirmed_level: [0.0; 2],
            confirmed_until: [0; 2],
            flat_len: 0,
            flat_sign: 0.0,
            last_run_end: None,
            runs: [ClipRun::default(); QUEUE],
            runs_head: 0,
            runs_len: 0,
            guards: [(0, 0); QUEUE],
            guards_head: 0,
            guards_len: 0,
            tails: [StepTail::default(); TAILS],
            fit: StepFit::IDLE,
            active: false,
            stats: RepairStats::default(),
        };
        Repair {
            sample_rate,
            channels: channels.clamp(1, MAX_CHANNELS),
            order,
            max_gap,
            max_click,
            detect_delay,
            context,
            inv_background_len: 1.0 / (2 * context + 1 - (order + 2)) as f64,
            isa: Isa::detect(),
            latency,
            ring,
            mask: ring as u64 - 1,
            lambda,
            lag_window,
            lambda_pow: (0..=hop).map(|i| lambda.powi(i as i32)).collect(),
            weighted: vec![0.0; hop],
            window: vec![0.0; hop + order],
            hop,
            warmup: ((WARMUP_MS * 1e-3 * fs).round() as u64).max(2 * detect_delay as u64 + 1),
            ceiling_decay: 10f32.powf(-CEILING_DECAY_DB_PER_S / 20.0 / sample_rate),
            clip_min_level: 10f32.powf(CLIP_MIN_LEVEL_DB / 20.0),
            flat_min: ((PLATEAU_MIN_MS * 1e-3 * fs).round() as u64).max(PLATEAU_MIN_SAMPLES),
            flat_edge: PLATEAU_EDGE * (48_000.0 / sample_rate).min(4.0),
            flat_reach: ((PLATEAU_CORNER_MS * 1e-3 * fs).round() as u64)
                .clamp(3, MAX_PLATEAU_CORNER),
            peak_decay: 10f32.powf(-PEAK_DECAY_DB_PER_S / 20.0 / sample_rate),
            one_second: fs.round() as u64,
            step_r,
            refit: ((STEP_REFIT_MS * 1e-3 * fs).round() as u64).max(1),
            step_head: (STEP_HEAD_MS * 1e-3 * fs).round() as usize,
            max_refine: (STEP_REFINE_MAX_MS * 1e-3 * fs).round() as u64,
            declip: DeclipState::default(),
            declick: DeclickState::default(),
            k: threshold_ratio(DeclickState::default().sensitivity_pct),
            lsar: Lsar::new(bridge + 2, order),
            seg: vec![0.0; seg_len],
            c: vec![0.0; order + 1],
            tmp: vec![0.0; order + 1],
            ch: [channel.clone(), channel],
        }
    }

    /// Session sample rate, Hz (as clamped by [`Repair::new`]).
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// The stage's constant latency, samples ([`latency_samples`]).
    pub fn latency_samples(&self) -> usize {
        self.latency
    }

    /// How far ahead of its output the stage looks, samples.
    pub fn lookahead_samples(&self) -> usize {
        self.detect_delay
    }

    /// AR model order in use.
    pub fn order(&self) -> usize {
        self.order
    }

    /// Sets both restorers' settings; they apply to damage detected from now on.
    /// Realtime-safe.
    pub fn set_target(&mut self, declip: &DeclipState, declick: &DeclickState) {
        self.declip = *declip;
        self.declick = *declick;
        self.k = threshold_ratio(declick.sensitivity_pct);
    }

    /// What was found so far in channel `ch` (0 or 1; others read as channel 0).
    pub fn stats(&self, ch: usize) -> RepairStats {
        self.ch[ch.min(MAX_CHANNELS - 1)].stats
    }

    /// Sets every channel's counters to 0.
    pub fn reset_stats(&mut self) {
        for c in &mut self.ch {
            c.stats = RepairStats::default();
        }
    }

    /// Clears the delay line, the model and everything pending. Realtime-safe.
    pub fn reset(&mut self) {
        for c in &mut self.ch {
            for v in c.x.iter_mut() {
                *v = 0.0;
            }
            for v in c.e.iter_mut() {
                *v = 0.0;
            }
            c.n = 0;
            c.active = false;
            c.runs_len = 0;
            c.guards_len = 0;
            c.run_len = 0;
            c.tails = [StepTail::default(); TAILS];
            c.fit.active = false;
            for v in c.pre.iter_mut() {
                *v = 0.0;
            }
            c.ceiling = [0.0; 2];
            c.confirmed_until = [0; 2];
            c.flat_len = 0;
            c.last_run_end = None;
        }
    }

    /// Processes `channels` in place (1 or 2, the first [`Repair`] `channels` of them;
    /// unequal lengths: the common length). The output is the repaired input delayed by
    /// [`Repair::latency_samples`]. Never allocates, locks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let n_ch = channels.len().min(self.channels);
        let Some(len) = channels[..n_ch].iter().map(|c| c.len()).min() else {
            return;
        };
        for (ci, buf) in channels[..n_ch].iter_mut().enumerate() {
            for s in buf[..len].iter_mut() {
                *s = self.tick(ci, *s);
            }
        }
    }

    #[inline]
    fn want_active(&self) -> bool {
        self.declip.enabled || self.declick.enabled
    }

    /// One sample of channel `ci`: returns the output sample.
    #[inline]
    fn tick(&mut self, ci: usize, input: f32) -> f32 {
        let x = if input.is_finite() { input } else { 0.0 };
        let mask = self.mask;
        let ring = self.ring as u64;
        let want = self.want_active();
        let c = &mut self.ch[ci];
        let n = c.n;
        c.n += 1;
        let pending = c.runs_len > 0 || c.tails.iter().any(|t| t.next < t.end) || c.fit.active;
        if !c.active && !want && !pending {
            // Plain delay.
            let i = (n & mask) as usize;
            c.x[i] = x;
            c.x[i + ring as usize] = x;
            c.pre[i] = x;
            let o = n.wrapping_sub(self.latency as u64);
            return if n >= self.latency as u64 {
                c.x[(o & mask) as usize]
            } else {
                0.0
            };
        }
        if !c.active {
            self.start(ci, n);
        }
        self.active_tick(ci, n, x)
    }

    /// Switches channel `ci` on at absolute position `n`: clears the model, warms up.
    fn start(&mut self, ci: usize, n: u64) {
        let warmup = self.warmup;
        let c = &mut self.ch[ci];
        c.active = true;
        for v in c.r.iter_mut() {
            *v = 0.0;
        }
        for v in c.a.iter_mut() {
            *v = 0.0;
        }
        for v in c.a_rev.iter_mut() {
            *v = 0.0;
        }
        for v in c.e.iter_mut() {
            *v = 0.0;
        }
        c.win_sum = 0.0;
        c.excl_sum = 0.0;
        c.hop_left = 0;
        c.pending_r = 0;
        c.detect_from = n + warmup;
        c.run_len = 0;
        c.flat_len = 0;
    }

    fn active_tick(&mut self, ci: usize, n: u64, x: f32) -> f32 {
        let mask = self.mask;
        let isa = self.isa;
        let ring = self.ring;
        let p = self.order;
        let d_delay = self.detect_delay as u64;
        let ctx = self.context as u64;

        // 1. Step tails in progress are subtracted from the arriving sample.
        let mut v = f64::from(x);
        {
            let c = &mut self.ch[ci];
            for t in c.tails.iter_mut() {
                if t.next == n && t.next < t.end {
                    v -= t.value;
                    t.value *= t.factor;
                    t.next += 1;
                }
            }
            let i = (n & mask) as usize;
            c.x[i] = v as f32;
            c.x[i + ring] = v as f32;
            c.pre[i] = x;
        }

        {
            let c = &mut self.ch[ci];
            c.peak_env = (c.peak_env * self.peak_decay).max(x.abs().min(1e3));
            if c.peak_env < 1e-30 {
                c.peak_env = 0.0;
            }
        }

        // 2. Clip detection on the raw sample.
        self.detect_clip(ci, n, x);

        // 3. Clipped runs whose right context has arrived.
        self.repair_due_runs(ci, n);

        // 4. Forward prediction error at the head, window sums.
        {
            let c = &mut self.ch[ci];
            let e = residual(isa, &c.x, &c.a_rev, n, p, mask);
            c.e[(n & mask) as usize] = e;
            // Detection window of d = n − D is d−C ..= d+C (C ≤ D): it gains d+C and
            // loses d−C−1; the excluded part d−1 ..= d+p gains d+p and loses d−2.
            let d = n.wrapping_sub(d_delay);
            let at = |i: u64| f64::from(c.e[(i & mask) as usize]);
            let gain_e = if n + ctx >= d_delay {
                at(d.wrapping_add(ctx))
            } else {
                0.0
            };
            let lose_e = if n > d_delay + ctx {
                at(d - ctx - 1)
            } else {
                0.0
            };
            c.win_sum = (c.win_sum + gain_e * gain_e - lose_e * lose_e).max(0.0);
            let gain_x = d.wrapping_add(p as u64);
            let lose_x = d.wrapping_sub(2);
            if n >= d_delay + 2 {
                let g = f64::from(c.e[(gain_x & mask) as usize]);
                let l = f64::from(c.e[(lose_x & mask) as usize]);
                c.excl_sum = (c.excl_sum + g * g - l * l).max(0.0);
            }
        }

        // 4b. A step being fitted takes in the new sample.
        self.advance_fit(ci, n);

        // 5. Click detection at d.
        if n >= d_delay {
            let d = n - d_delay;
            self.detect_click(ci, d, n);
        }

        // 6. Output, model update.
        let latency = self.latency as u64;
        let out = if n >= latency {
            let o = n - latency;
            self.update_model(ci, o);
            self.ch[ci].x[(o & mask) as usize]
        } else {
            0.0
        };
        // Go idle once switched off with nothing pending.
        if !self.want_active() {
            let c = &mut self.ch[ci];
            let pending = c.runs_len > 0 || c.tails.iter().any(|t| t.next < t.end) || c.fit.active;
            if !pending {
                c.active = false;
            }
        }
        out
    }

    /// Takes the output sample at `o` into the model: every hop, the hop's samples go
    /// into the autocorrelation at once and the model is refitted.
    ///
    /// `r_k ← λ·r_k + y[o]·y[o−k]` per sample is, over the `h` samples `o_0 ..= o_0+h−1`
    /// since the last refit, `r_k ← λ^h·r_k + Σ_j λ^{h−1−j}·y[o_0+j]·y[o_0+j−k]`: the same
    /// sums (output samples never change again), as `p + 1` contiguous dot products.
    fn update_model(&mut self, ci: usize, o: u64) {
        let p = self.order;
        let mask = self.mask;
        let isa = self.isa;
        let lambda = self.lambda;
        let c = &mut self.ch[ci];
        c.pending_r += 1;
        if c.hop_left > 0 {
            c.hop_left -= 1;
            return;
        }
        c.hop_left = self.hop - 1;
        let h = c.pending_r;
        c.pending_r = 0;
        // Contiguous window `y[o_0 − p ..= o]` of the double-written ring.
        let base = (o.wrapping_sub((h - 1 + p) as u64) & mask) as usize;
        let y = &mut self.window[..h + p];
        for (w, &v) in y.iter_mut().zip(&c.x[base..base + h + p]) {
            *w = f64::from(v);
        }
        let weighted = &mut self.weighted[..h];
        for (j, (wv, &yv)) in weighted.iter_mut().zip(&y[p..]).enumerate() {
            *wv = self.lambda_pow[h - 1 - j] * yv;
        }
        let decay = self.lambda_pow[h];
        for (k, r) in c.r.iter_mut().enumerate() {
            *r = decay * *r + dot64(isa, weighted, &y[p - k..p - k + h]);
        }
        if c.r[0] < 1e-30 {
            for r in c.r.iter_mut() {
                *r = 0.0;
            }
        }
        // Windowed, regularised autocorrelation into `seg` (scratch), then Levinson.
        let floor = 1e-15 / (1.0 - lambda);
        for k in 0..=p {
            self.seg[k] = c.r[k] * self.lag_window[k];
        }
        self.seg[0] = self.seg[0] * (1.0 + 1e-4) + floor;
        levinson(&self.seg[..=p], &mut c.a, &mut self.tmp);
        for j in 0..p {
            c.a_rev[j] = c.a[p - j] as f32;
        }
        // Re-sum the detection windows exactly (bounded drift).
        let n = c.n - 1;
        self.resum_windows(ci, n);
    }

    /// Sums channel `ci`'s click-test windows for `d = n − D` afresh: `e²` over
    /// `d−C ..= d+C` and over the excluded `d−1 ..= d+p`.
    fn resum_windows(&mut self, ci: usize, n: u64) {
        let (d_delay, ctx) = (self.detect_delay as u64, self.context as u64);
        if n > d_delay + ctx {
            let d = n - d_delay;
            let c = &mut self.ch[ci];
            c.win_sum = sum_sq(&c.e, d - ctx, d + ctx, self.mask);
            c.excl_sum = sum_sq(&c.e, d - 1, d + self.order as u64, self.mask);
        }
    }

    fn detect_clip(&mut self, ci: usize, n: u64, x: f32) {
        let tol = CLIP_TOLERANCE;
        let min_level = self.clip_min_level;
        let decay = self.ceiling_decay;
        let one_second = self.one_second;
        let c = &mut self.ch[ci];
        let ax = x.abs();
        let sign = if x >= 0.0 { 1.0 } else { -1.0 };
        let pol = usize::from(x < 0.0);
        for (cl, s) in c.ceiling.iter_mut().zip([1.0f32, -1.0]) {
            *cl *= decay;
            if s == sign && ax > *cl {
                *cl = ax;
            }
        }
        let at_ceiling = ax >= min_level && ax >= c.ceiling[pol] * (1.0 - tol);
        let continues = at_ceiling
            && c.run_len > 0
            && sign == c.run_sign
            && (ax - c.run_level).abs() <= tol * c.run_level;
        if continues {
            c.run_len += 1;
            return;
        }
        // The run before n (if any) ended at n − 1.
        if c.run_len > 0 {
            let len = c.run_len;
            let rpol = usize::from(c.run_sign < 0.0);
            let level = c.run_level;
            let confirmed = n <= c.confirmed_until[rpol]
                && (level - c.confirmed_level[rpol]).abs() <= tol * level;
            if len >= 2 {
                c.confirmed_level[rpol] = level;
                c.confirmed_until[rpol] = n + one_second;
            }
            if len >= 2 || confirmed {
                let run = ClipRun {
                    start: n - len,
                    end: n - 1,
                    level,
                    sign: c.run_sign,
                };
                self.clip_run_found(ci, run);
            }
        }
        let c = &mut self.ch[ci];
        if at_ceiling {
            c.run_len = 1;
            c.run_sign = sign;
            c.run_level = ax;
        } else {
            c.run_len = 0;
        }
        self.detect_plateau(ci, n);
    }

    /// The filtered-plateau detector (module docs, de-clipping step 1) at
    /// `m = n − reach − 2` (`reach`: [`PLATEAU_CORNER_MS`] in samples): with `s = [1, 2, 1]/4 * x`,
    /// `s[m+1] − 2s[m] + s[m−1] = (x[m−2] − 2x[m] + x[m+2]) / 4`, so a plateau's flat
    /// part starts two samples after its first sample and ends two before its last; the
    /// delay leaves `reach` samples after the last one for the corner test.
    fn detect_plateau(&mut self, ci: usize, n: u64) {
        let reach = self.flat_reach;
        if n < reach + 4 {
            return;
        }
        let mask = self.mask;
        let min_level = self.clip_min_level;
        let min_len = self.flat_min;
        let c = &mut self.ch[ci];
        let m = n - reach - 2;
        let at = |k: u64| c.pre[(k & mask) as usize];
        let xm = at(m);
        let sign = if xm >= 0.0 { 1.0 } else { -1.0 };
        let ceiling = c.ceiling[usize::from(xm < 0.0)];
        // The smoothed signal's second difference at k (its curvature).
        let d2 = |k: u64| (0.25 * (at(k - 2) - 2.0 * at(k) + at(k + 2))).abs();
        let flat = xm.abs() >= min_level
            && xm.abs() >= PLATEAU_MIN_SHARE * ceiling
            && d2(m) <= PLATEAU_CURVATURE * ceiling;
        if flat && (c.flat_len == 0 || sign == c.flat_sign) {
            c.flat_len += 1;
            c.flat_sign = sign;
            return;
        }
        // The plateau: flat over m − len ..= m − 1, so its samples are at least
        // m − len − 2 ..= m + 1 (first and last within reach of the lag-2 difference);
        // each end then reaches to its corner: the first 3 samples within `reach` outside
        // it over which the signal falls by the edge (a sharp fall, not the flank of a
        // rounded peak).
        let edge = self.flat_edge * ceiling;
        let bend = PLATEAU_CORNER_CURVATURE * ceiling;
        let falls = |a: f32, b: f32| c.flat_sign * (a - b) >= edge;
        // … at a bend: the curvature the flat part lacks (a low tone's lobe is as flat,
        // but its flanks curve no more than its top).
        let bent = |lo: u64, hi: u64| (lo..=hi).any(|k| d2(k) >= bend);
        let corners = m
            .checked_sub(c.flat_len + 2)
            .filter(|&f| c.flat_len >= min_len && f > reach)
            // A clipped plateau droops towards zero through the coupling, never rises
            // (a straight ramp into a voice's peak does).
            .filter(|_| {
                c.flat_sign * (at(m - 1) - at(m - c.flat_len)) <= PLATEAU_MAX_RISE * ceiling
            })
            .and_then(|f| {
                let left = (3..=reach)
                    .find(|&j| falls(at(f + 3 - j), at(f - j)) && bent(f + 2 - j, f + 1))?;
                let right = (3..=reach)
                    .find(|&j| falls(at(m + j - 2), at(m + 1 + j)) && bent(m, m + j - 1))?;
                Some((f + 3 - left, m + right - 2))
            });
        if let Some((first, last)) = corners {
            let level = (first..=last)
                .take(self.max_gap + 2)
                .map(|k| at(k).abs())
                .fold(0.0f32, f32::max);
            let run = ClipRun {
                start: first,
                end: last,
                level,
                sign: c.flat_sign,
            };
            self.clip_run_found(ci, run);
        }
        let c = &mut self.ch[ci];
        c.flat_len = u64::from(flat);
        c.flat_sign = sign;
    }

    fn clip_run_found(&mut self, ci: usize, run: ClipRun) {
        let len = run.end - run.start + 1;
        let repair = self.declip.enabled && len as usize <= self.max_gap;
        let p = self.order as u64;
        let c = &mut self.ch[ci];
        // The two detectors may see the same plateau (a hard clip is also straight):
        // the first report stands.
        if c.last_run_end.is_some_and(|e| run.start <= e) {
            return;
        }
        c.last_run_end = Some(run.end);
        c.stats.clipped_runs += 1;
        c.stats.clipped_samples += len;
        c.stats.clip_level = c.stats.clip_level.max(run.level);
        if repair && c.runs_len < QUEUE {
            let i = (c.runs_head + c.runs_len) % QUEUE;
            c.runs[i] = run;
            c.runs_len += 1;
        } else {
            push_guard(c, run.start.saturating_sub(1), run.end + p);
        }
    }

    /// Reconstructs the clipped runs whose turn has come: at
    /// `n = end + p + g_click − g_max`, when the model has taken in the output up to
    /// `g_max + 4` samples before the run's end (as close to the run as a run of
    /// `g_max` allows: the output must not have reached it) and the click detector, `D`
    /// behind the head, has not reached it either.
    fn repair_due_runs(&mut self, ci: usize, n: u64) {
        let p = self.order as u64;
        let wait = p + self.max_click.saturating_sub(self.max_gap) as u64;
        while self.ch[ci].runs_len > 0 {
            let run = self.ch[ci].runs[self.ch[ci].runs_head];
            if run.end + wait > n {
                break;
            }
            let c = &mut self.ch[ci];
            c.runs_head = (c.runs_head + 1) % QUEUE;
            c.runs_len -= 1;
            if self.reconstruct_run(ci, run) {
                self.ch[ci].stats.clipped_runs_repaired += 1;
                self.refresh_residuals(ci, run.start, n);
            } else {
                push_guard(&mut self.ch[ci], run.start.saturating_sub(1), run.end + p);
            }
        }
    }

    /// Constrained LSAR over the clipped run (see the module docs).
    fn reconstruct_run(&mut self, ci: usize, run: ClipRun) -> bool {
        let p = self.order;
        let mask = self.mask;
        let g = (run.end - run.start + 1) as usize;
        if run.start < p as u64 {
            return false;
        }
        let seg_start = run.start - p as u64;
        let seg_len = g + 2 * p;
        if seg_len > self.seg.len() || g > self.lsar.max_unknowns() {
            return false;
        }
        self.fill_c(ci);
        let c = &self.ch[ci];
        let level = f64::from(run.level);
        let sign = f64::from(run.sign);
        // The bound of sample j, in the run's direction: what was observed there (the
        // clip level, or the drooping plateau of a filtered clip).
        let bound = |j: usize| sign * f64::from(c.x[((run.start + j as u64) & mask) as usize]);
        let mut pinned = [0u64; MAX_GAP_SAMPLES.div_ceil(64)];
        let mut ok = false;
        for _ in 0..4 {
            for (j, s) in self.seg[..seg_len].iter_mut().enumerate() {
                *s = f64::from(c.x[((seg_start + j as u64) & mask) as usize]);
            }
            let pinned_ref = &pinned;
            let solved = self.lsar.solve(&self.c, &mut self.seg[..seg_len], |i| {
                i >= p && i < p + g && (pinned_ref[(i - p) / 64] >> ((i - p) % 64)) & 1 == 0
            });
            if !solved {
                // Everything pinned (all at the level) is a valid end; otherwise give up.
                ok = (0..g).all(|j| pinned[j / 64] >> (j % 64) & 1 == 1);
                break;
            }
            ok = true;
            let mut violated = false;
            for j in 0..g {
                if sign * self.seg[p + j] < bound(j) && pinned[j / 64] >> (j % 64) & 1 == 0 {
                    pinned[j / 64] |= 1 << (j % 64);
                    violated = true;
                }
            }
            if !violated {
                break;
            }
        }
        if !ok {
            return false;
        }
        // Bound the excess over the clip level by a parabola through the entry and exit
        // slopes (the smoothest peak the edges allow): an AR model extrapolating a steep
        // edge would otherwise overshoot. The excess is scaled, not clipped, so the shape
        // stays smooth.
        let at = |j: i64| f64::from(self.ch[ci].x[((run.start as i64 + j) as u64 & mask) as usize]);
        // The edge slopes: the steepest of the CLIP_EDGE_SAMPLES differences outside
        // each end (a filtered plateau's corner is rounded over a few samples).
        let w = CLIP_EDGE_SAMPLES as i64;
        let s_in = (1..=w)
            .map(|k| sign * (at(-k) - at(-k - 1)))
            .fold(0.0f64, f64::max);
        let s_out = (0..w)
            .map(|k| sign * (at(g as i64 + k) - at(g as i64 + k + 1)))
            .fold(0.0f64, f64::max);
        let span = (g + 1) as f64;
        // A parabola leaving the level with the mean edge slope peaks `slope·span/4` above it.
        let parabola = 0.5 * (s_in + s_out) * span / 4.0;
        let allowed = (CLIP_PARABOLA_MARGIN * parabola).min((MAX_OVERSHOOT - 1.0) * level);
        let excess = (0..g)
            .map(|j| sign * self.seg[p + j] - bound(j))
            .fold(0.0f64, f64::max);
        let scale = if excess > allowed && excess > 0.0 {
            allowed / excess
        } else {
            1.0
        };
        let c = &mut self.ch[ci];
        for j in 0..g {
            let i = ((run.start + j as u64) & mask) as usize;
            let b = sign * f64::from(c.x[i]);
            let ex = (sign * self.seg[p + j] - b).max(0.0) * scale;
            let v = sign * (b + ex);
            c.x[i] = v as f32;
            c.x[i + self.ring] = v as f32;
            c.pre[i] = v as f32;
        }
        true
    }

    /// `c = [1, −a_1, …, −a_p]` of channel `ci` into `self.c`.
    fn fill_c(&mut self, ci: usize) {
        let a = &self.ch[ci].a;
        self.c[0] = 1.0;
        for k in 1..=self.order {
            self.c[k] = -a[k];
        }
    }

    /// Recomputes the prediction error over `from ..= n` after samples changed, and
    /// the detection-window sums.
    fn refresh_residuals(&mut self, ci: usize, from: u64, n: u64) {
        let p = self.order;
        let mask = self.mask;
        let isa = self.isa;
        let back = (self.detect_delay + self.context + 1) as u64;
        let c = &mut self.ch[ci];
        let lo = from.max(n.saturating_sub(back));
        for m in lo..=n {
            c.e[(m & mask) as usize] = residual(isa, &c.x, &c.a_rev, m, p, mask);
        }
        self.resum_windows(ci, n);
    }

    fn in_guard(&mut self, ci: usize, d: u64) -> bool {
        let c = &mut self.ch[ci];
        while c.guards_len > 0 && c.guards[c.guards_head].1 < d {
            c.guards_head = (c.guards_head + 1) % QUEUE;
            c.guards_len -= 1;
        }
        (0..c.guards_len).any(|k| {
            let (a, b) = c.guards[(c.guards_head + k) % QUEUE];
            a <= d && d <= b
        })
    }

    fn detect_click(&mut self, ci: usize, d: u64, n: u64) {
        if !self.declick.enabled || d < self.ch[ci].detect_from || self.in_guard(ci, d) {
            return;
        }
        // A clipped run still in progress that reaches back to d (a long one).
        let c = &self.ch[ci];
        if c.run_len >= 2 && d + 1 >= n + 1 - c.run_len {
            return;
        }
        // … or a filtered plateau in progress (flat up to n − 3 − reach, its run
        // reaching up to `reach` further on each side).
        if c.flat_len >= self.flat_min && d + c.flat_len + 2 * self.flat_reach + 5 >= n {
            return;
        }
        let mask = self.mask;
        let k = self.k;
        // The error at d and the background power σ² (compared squared: no square
        // root per sample).
        let inv_len = self.inv_background_len;
        let stat = |c: &Channel| -> (f64, f64) {
            let e = f64::from(c.e[(d & mask) as usize]);
            let sigma2 = ((c.win_sum - c.excl_sum).max(0.0) * inv_len).max(1e-14);
            (e, sigma2)
        };
        let (e, mut sigma2) = stat(&self.ch[ci]);
        let mut masked = false;
        if e.abs() < CLICK_MIN_LEVEL * f64::from(self.ch[ci].peak_env)
            || e * e <= k * k * sigma2 / (MASKING_RATIO * MASKING_RATIO)
        {
            return;
        }
        if e * e <= k * k * sigma2 {
            // Within reach of the threshold: the other end of a short held pulse may be
            // what raises the background — an edge of the opposite sign and about the
            // same size (two same-signed pulses are a voice's: vocal fry).
            let (at, without) = self.background_without_largest(ci, d);
            let (j0, j1) = (self.jump(ci, d), self.jump(ci, at));
            let pulse = j0 * j1 < 0.0 && (0.5..=2.0).contains(&(j1.abs() / j0.abs()));
            if !pulse || e * e <= k * k * without {
                return;
            }
            sigma2 = without;
            masked = true;
        }
        let sigma = sigma2.sqrt();
        // Two-sided: a click is unpredictable from its future as well. An excitation
        // pulse of the voice (a glottal closure) is not — its backward error is spread
        // over the vocal tract's all-pass response.
        let back = self
            .backward_residual(ci, d - 1)
            .abs()
            .max(self.backward_residual(ci, d).abs());
        if back <= k * sigma {
            return;
        }
        self.ch[ci].stats.clicks += 1;
        // Shape: decaying step or impulse?
        let stepped = self.try_step(ci, d, n, sigma);
        if stepped {
            self.ch[ci].stats.steps += 1;
            self.refresh_residuals(ci, d.saturating_sub(1), n);
            // What the step left of the edge's head (its first p samples, where an edge
            // through the chain's filters does not follow the template) is interpolated
            // where it stands out. (A masked click keeps the background it was found
            // against.)
            let c = &self.ch[ci];
            let background = if masked { sigma2 } else { stat(c).1 };
            let head = (d..=d + self.order as u64)
                .map(|i| f64::from(c.e[(i & mask) as usize]).powi(2))
                .fold(0.0, f64::max);
            if head <= k * k * background {
                self.ch[ci].detect_from = d + 1;
                return;
            }
        }
        // Interpolate the damaged run, if it is one: the error after it (and after its
        // spread over the next p samples) must be back at the background level, where a
        // natural transient (a plosive, a fricative's onset) goes on.
        let end = self.click_end(ci, d, sigma);
        let after = end + 1 + self.order as u64;
        // Up to the other end of a held pulse, where the step's fit found one.
        let next_edge = if stepped {
            self.ch[ci].fit.next_edge
        } else {
            u64::MAX
        };
        let until = n
            .min(d + self.context as u64)
            .min(next_edge.saturating_sub(1));
        if until >= after + LOCALISED_MIN_SAMPLES {
            let c = &self.ch[ci];
            let mean = sum_sq(&c.e, after, until, mask) / (until - after + 1) as f64;
            if mean > LOCALISED_MAX_POWER * sigma * sigma {
                if !stepped {
                    self.ch[ci].stats.clicks -= 1;
                }
                self.ch[ci].detect_from = d + 1;
                return;
            }
        }
        let start = d - 1;
        if self.interpolate(ci, start, end) {
            self.refresh_residuals(ci, start, n);
        }
        self.ch[ci].detect_from = end + 2;
    }

    /// The jump of the signal across `i`, `x[i+2] − x[i−2]` (an edge's direction and
    /// size, whichever of its first samples the prediction error peaks at).
    fn jump(&self, ci: usize, i: u64) -> f64 {
        let x = |m: u64| f64::from(self.ch[ci].x[(m & self.mask) as usize]);
        x(i + 2) - x(i - 2)
    }

    /// Where the largest error in the window of the click test at `d` is (outside the
    /// click's own part), and the background power `σ²` without it and the `p + 1`
    /// samples after it (that error's spread): the background of a click with another
    /// one within `C` of it.
    fn background_without_largest(&self, ci: usize, d: u64) -> (u64, f64) {
        let c = &self.ch[ci];
        let mask = self.mask;
        let (p, ctx) = (self.order as u64, self.context as u64);
        let own = |i: u64| i + 1 >= d && i <= d + p;
        let sq = |i: u64| f64::from(c.e[(i & mask) as usize]).powi(2);
        let (lo, hi) = (d - ctx, d + ctx);
        let (mut top, mut at) = (0.0, d);
        for i in (lo..=hi).filter(|&i| !own(i)) {
            if sq(i) > top {
                (top, at) = (sq(i), i);
            }
        }
        let span = (at.saturating_sub(1).max(lo)..=(at + p).min(hi)).filter(|&i| !own(i));
        let (energy, count) = span.fold((0.0, 0u64), |(s, n), i| (s + sq(i), n + 1));
        let len = (2 * ctx + 1 - (p + 2)).saturating_sub(count).max(1);
        let without = ((c.win_sum - c.excl_sum - energy).max(0.0) / len as f64).max(1e-14);
        (at, without)
    }

    /// Backward prediction error `x[m] − Σ a_k x[m+k]` of channel `ci` (needs `m + p`
    /// buffered).
    fn backward_residual(&self, ci: usize, m: u64) -> f64 {
        let p = self.order;
        let c = &self.ch[ci];
        let base = (m & self.mask) as usize;
        let w = &c.x[base..base + p + 1];
        let mut pred = 0.0f64;
        for kk in 1..=p {
            pred += c.a[kk] * f64::from(w[kk]);
        }
        f64::from(w[0]) - pred
    }

    /// One past the last damaged sample of a click starting at `d`: the later of the
    /// last sample within `g_max` whose backward prediction error exceeds
    /// `max(k/2, 3)·σ`, and the end of its ringing — the first `m` from which the
    /// forward prediction error's RMS over `m .. m+p` is under [`CLICK_TAIL_RATIO`]
    /// times its RMS over the `C − 1` samples before the click, at most
    /// `d + g_click − 2`.
    fn click_end(&self, ci: usize, d: u64, sigma: f64) -> u64 {
        let thr = (0.5 * self.k).max(3.0) * sigma;
        let mut end = d;
        // m + p ≤ n and the run ≤ g_max: m ≤ d + g_max − 2 (start is d − 1, end + 1 pad).
        let last = d + self.max_gap as u64 - 2;
        for m in d..=last {
            if self.backward_residual(ci, m).abs() > thr {
                end = m;
            }
        }
        // The ringing: a resonance the click excited is not the voice's, so the forward
        // error stays high while it lasts (the window m .. m+p ends at most at
        // d + g_click + p − 3 ≤ n).
        let c = &self.ch[ci];
        let mask = self.mask;
        let p = self.order as u64;
        let ctx = self.context as u64;
        let before = sum_sq(&c.e, d - ctx, d - 2, mask) / (ctx - 1) as f64;
        let limit = (CLICK_TAIL_RATIO * CLICK_TAIL_RATIO * before).max(1e-14) * p as f64;
        let sq = |i: u64| {
            let v = f64::from(c.e[(i & mask) as usize]);
            v * v
        };
        let last = d + self.max_click as u64 - 2;
        let mut m = d;
        let mut window = sum_sq(&c.e, d, d + p - 1, mask);
        while m < last && window > limit {
            window = (window + sq(m + p) - sq(m)).max(0.0);
            m += 1;
        }
        end.max(m) + 1
    }

    /// LSAR over `start ..= end`; false when it could not be solved.
    fn interpolate(&mut self, ci: usize, start: u64, end: u64) -> bool {
        let p = self.order;
        let mask = self.mask;
        let g = (end - start + 1) as usize;
        let seg_len = g + 2 * p;
        if g > self.lsar.max_unknowns() || seg_len > self.seg.len() || start < p as u64 {
            return false;
        }
        self.fill_c(ci);
        let seg_start = start - p as u64;
        let c = &self.ch[ci];
        for (j, s) in self.seg[..seg_len].iter_mut().enumerate() {
            *s = f64::from(c.x[((seg_start + j as u64) & mask) as usize]);
        }
        if !self
            .lsar
            .solve(&self.c, &mut self.seg[..seg_len], |i| i >= p && i < p + g)
        {
            return false;
        }
        let c = &mut self.ch[ci];
        for j in 0..g {
            let v = self.seg[p + j].clamp(-1e3, 1e3) as f32;
            let i = ((start + j as u64) & mask) as usize;
            c.x[i] = v;
            c.x[i + self.ring] = v;
        }
        true
    }

    /// Fits the step templates at `d` in the whitened domain; subtracts the best one if
    /// it beats the impulse, and keeps refining it as the tail arrives. Returns whether it
    /// subtracted.
    fn try_step(&mut self, ci: usize, d: u64, n: u64, sigma: f64) -> bool {
        let p = self.order;
        let mask = self.mask;
        let k = self.k;
        let buffered = (n - d + 1) as usize;
        if self.ch[ci].fit.active || !self.ch[ci].tails.iter().any(|t| t.next >= t.end) {
            // One step is being fitted already, or no slot to carry a tail: stopping a
            // subtraction half-way would leave a step.
            return false;
        }
        let jump = self.jump(ci, d);
        let c = &mut self.ch[ci];
        // Prediction error, under the model frozen now, of the signal with every other
        // step already subtracted (a held pulse's second edge is a step of its own
        // under the first one's tail).
        let mut a = [0.0f64; MAX_AR_ORDER + 1];
        a[..=p].copy_from_slice(&c.a[..=p]);
        let mut coef = [0.0f64; MAX_AR_ORDER + 1];
        coef[0] = 1.0;
        for k in 1..=p {
            coef[k] = -a[k];
        }
        // e_raw[j] for j < buffered into `seg` (scratch; buffered ≤ its length).
        let e_raw = &mut self.seg[..buffered];
        for (j, ej) in e_raw.iter_mut().enumerate() {
            let m = d + j as u64;
            let mut acc = 0.0;
            for (kk, ck) in coef[..=p].iter().enumerate() {
                acc += ck * f64::from(c.x[((m - kk as u64) & mask) as usize]);
            }
            *ej = acc;
        }
        // A second edge in the lookahead (the other end of a held pulse) ends the
        // window the step is fitted over; the step's refinement never starts then.
        let edge_bar = (k * sigma).max(SECOND_EDGE_SHARE * self.seg[0].abs());
        let m_len = (p + 1..buffered)
            .find(|&j| is_new_edge(self.seg[j - 1], self.seg[j], edge_bar))
            .unwrap_or(buffered);
        // The step's level is read from its tail, after the edge's own ringing through
        // the chain's filters (the head, interpolated below where it stands out).
        let h0 = p + 1 + self.step_head;
        if m_len < h0 + p + 1 {
            return false;
        }
        let truncated = m_len < buffered;
        let fit = &mut c.fit;
        // The step's level and decay, fitted to the signal itself over the tail
        // `d + h0 ..` (the whitening removes a slow offset: the AR model predicts it):
        // per template `r^j`, the running correlation `Σ r^j y[d+j]` and `r^{j_next}`.
        for (i, &r) in self.step_r.iter().enumerate() {
            let mut sum = 0.0;
            let mut pw = r.powi(h0 as i32);
            for j in h0..m_len {
                sum += pw * f64::from(c.x[((d + j as u64) & mask) as usize]);
                pw *= r;
            }
            fit.sum[i] = sum;
            fit.pw[i] = pw;
        }
        fit.a = a;
        fit.d = d;
        fit.h0 = h0 as u64;
        fit.j_next = m_len as u64;
        fit.edge_bar = edge_bar;
        fit.last_e = self.seg[m_len - 1];
        fit.next_edge = if truncated {
            d + m_len as u64
        } else {
            u64::MAX
        };
        let (best, expl, amp) = fit.best(&self.step_r);
        let r = self.step_r[best];
        let tau = -1.0 / r.ln();
        // The tail's energy, and that of as many samples before the click.
        let len = (m_len - h0) as u64;
        let x = &c.x[..self.ring];
        let total = sum_sq(x, d + h0 as u64, d + m_len as u64 - 1, mask);
        let before = sum_sq(x, d.saturating_sub(len), d - 1, mask);
        let left = (total - expl).max(0.0);
        // The step must stand above what was there before the edge, and leave at most
        // a small share of the tail's energy or, where a voice goes on under it, not
        // much more than the audio before the edge had: a natural transient — a
        // plosive, a voice's onset — is not a decaying offset.
        // And it is the edge's own level: the jump across the edge goes its way and is
        // not much larger (an impulse's tail, or a voice's slow wave over the few
        // milliseconds of the window, fits an offset too, a small one).
        #[allow(clippy::nonminimal_bool)] // NaN fails every test and rejects the step
        if !(left <= (STEP_FIT_SHARE * total).max(before + STEP_FIT_SHARE * expl)
            && expl > STEP_ABOVE_BEFORE * before
            && amp * jump > 0.0
            && amp.abs() >= STEP_EDGE_SHARE * jump.abs())
            || !amp.is_finite()
        {
            return false;
        }
        let end = d + ((STEP_TAIL_TAUS * tau).ceil() as u64).max(1);
        // Subtract over what is buffered (d ..= n), then carry on at the head.
        let ring = self.ring;
        let mut value = amp;
        let mut m = d;
        while m <= n && m < end {
            let i = (m & mask) as usize;
            let v = (f64::from(c.x[i]) - value) as f32;
            c.x[i] = v;
            c.x[i + ring] = v;
            value *= r;
            m += 1;
        }
        if m < end {
            if let Some(slot) = c.tails.iter().position(|t| t.next >= t.end) {
                c.tails[slot] = StepTail {
                    next: m,
                    end,
                    value,
                    factor: r,
                };
                c.fit.active = !truncated;
                c.fit.slot = slot;
                c.fit.amp = amp;
                c.fit.r = r;
                c.fit.since = 0;
                c.fit.until = d + ((STEP_REFINE_TAUS * tau) as u64).min(self.max_refine);
            }
        }
        true
    }

    /// Adds the head sample `n` to the step being fitted; every [`STEP_REFIT_MS`] the
    /// fit is redone on everything since the onset, and the not yet output part of the
    /// tail is corrected to the new estimate.
    fn advance_fit(&mut self, ci: usize, n: u64) {
        let p = self.order;
        let mask = self.mask;
        let ring = self.ring;
        let latency = self.latency as u64;
        let refit = self.refit;
        let c = &mut self.ch[ci];
        let fit = &mut c.fit;
        if !fit.active || n != fit.d + fit.j_next {
            return;
        }
        // The prediction error at n of the signal without this step (every other step
        // stays subtracted): the output ring plus this step's current estimate, which
        // the tail subtracted on arrival and the last refit wrote back from n − L on.
        // (n − p > d: the fit's window is longer than p.)
        let tail = c.tails[fit.slot];
        let mut own = fit.amp * fit.r.powi((n - p as u64 - fit.d) as i32);
        let mut e = 0.0;
        let mut y = 0.0;
        for k in (0..=p).rev() {
            let m = n - k as u64;
            y = f64::from(c.x[(m & mask) as usize]) + if m < tail.end { own } else { 0.0 };
            own *= fit.r;
            e += if k == 0 { y } else { -fit.a[k] * y };
        }
        // A new edge (a held pulse's other end, another click) is not this step's tail:
        // the refinement stops before it, the tail goes on as estimated.
        if is_new_edge(fit.last_e, e, fit.edge_bar) {
            fit.active = false;
            return;
        }
        fit.last_e = e;
        for (i, &r) in self.step_r.iter().enumerate() {
            fit.sum[i] += fit.pw[i] * y;
            fit.pw[i] *= r;
        }
        fit.j_next += 1;
        fit.since += 1;
        if tail.next >= tail.end || n >= fit.until {
            fit.active = false;
        }
        if fit.since < refit && fit.active {
            return;
        }
        fit.since = 0;
        let (best, _, amp) = fit.best(&self.step_r);
        if !amp.is_finite() {
            fit.active = false;
            return;
        }
        let r = self.step_r[best];
        let tau = -1.0 / r.ln();
        // Correct what has not been output yet: [n − L, n].
        let d = fit.d;
        let from = n.saturating_sub(latency).max(d);
        let (old_amp, old_r) = (fit.amp, fit.r);
        let mut old_v = old_amp * old_r.powf((from - d) as f64);
        let mut new_v = amp * r.powf((from - d) as f64);
        let old_end = tail.end;
        for m in from..=n {
            let i = (m & mask) as usize;
            let old = if m < old_end { old_v } else { 0.0 };
            let v = (f64::from(c.x[i]) + old - new_v) as f32;
            c.x[i] = v;
            c.x[i + ring] = v;
            old_v *= old_r;
            new_v *= r;
        }
        let end = d + ((STEP_TAIL_TAUS * tau).ceil() as u64).max(1);
        c.tails[fit.slot] = StepTail {
            next: n + 1,
            end,
            value: new_v,
            factor: r,
        };
        fit.amp = amp;
        fit.r = r;
        self.refresh_residuals(ci, from, n);
    }
}

/// A decaying step being fitted while its tail arrives (see [`Repair::advance_fit`]).
#[derive(Clone, Copy, Debug)]
struct StepFit {
    active: bool,
    /// Onset, absolute position.
    d: u64,
    /// Next `j` (position `d + j`) to add.
    j_next: u64,
    /// Samples since the last refit.
    since: u64,
    /// Stop refining at this position.
    until: u64,
    /// The tail slot carrying the subtraction.
    slot: usize,
    /// Current estimate: amplitude and per-sample decay `r = e^{−1/τ}`.
    amp: f64,
    r: f64,
    /// Model frozen at the onset.
    a: [f64; MAX_AR_ORDER + 1],
    /// A jump of the whitened error by more than this is a new edge
    /// ([`is_new_edge`]), and the whitened error at the last sample taken in.
    edge_bar: f64,
    last_e: f64,
    /// Where the fit's window ended at a second edge (`u64::MAX`: it did not).
    next_edge: u64,
    /// The fit reads the signal from `d + h0` on (after the edge's head).
    h0: u64,
    /// Per template of the grid: the running correlation `Σ_{j ≥ h0} r^j y[d+j]` of
    /// the signal without this step, and `r^{j_next}`.
    sum: [f64; STEP_GRID],
    pw: [f64; STEP_GRID],
}

impl StepFit {
    const IDLE: StepFit = StepFit {
        active: false,
        d: 0,
        j_next: 0,
        since: 0,
        until: 0,
        slot: 0,
        amp: 0.0,
        r: 0.0,
        a: [0.0; MAX_AR_ORDER + 1],
        edge_bar: 0.0,
        last_e: 0.0,
        next_edge: u64::MAX,
        h0: 0,
        sum: [0.0; STEP_GRID],
        pw: [0.0; STEP_GRID],
    };

    /// The grid template explaining the most energy so far: (index, explained energy,
    /// least-squares amplitude). The template's energy in closed form:
    /// `Σ_{j=h0}^{J−1} r^{2j} = (r^{2·h0} − r^{2J})/(1 − r²)`.
    fn best(&self, step_r: &[f64; STEP_GRID]) -> (usize, f64, f64) {
        let mut best = (0usize, -1.0f64, 0.0f64);
        let (h, j) = (self.h0 as i32, self.j_next as i32);
        for (i, &r) in step_r.iter().enumerate() {
            let r2 = r * r;
            let en = if j > h {
                (r2.powi(h) - r2.powi(j)) / (1.0 - r2)
            } else {
                0.0
            }
            .max(1e-30);
            let dot = self.sum[i];
            let expl = dot * dot / en;
            if expl > best.1 {
                best = (i, expl, dot / en);
            }
        }
        best
    }
}

/// Whether the whitened error jumps from `prev` to `cur` by more than `bar`: a new
/// edge. A decaying step's whitened tail is geometric (`K·A·r^j`), so it never jumps;
/// the other end of a held pulse does, by about the first edge's size.
#[inline]
fn is_new_edge(prev: f64, cur: f64, bar: f64) -> bool {
    (cur - prev).abs() > bar
}

/// Forward prediction error at absolute position `m` of the double-written ring `x`
/// (with the instruction set `isa`, see [`crate::simd`]).
#[inline(always)]
fn residual(isa: Isa, x: &[f32], a_rev: &[f32], m: u64, p: usize, mask: u64) -> f32 {
    match isa {
        Isa::Generic => residual_with::<false>(x, a_rev, m, p, mask),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2Fma` comes only from `Isa::detect`, which checked that this
        // CPU has AVX2 and FMA.
        Isa::Avx2Fma => unsafe { residual_avx2(x, a_rev, m, p, mask) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn residual_avx2(x: &[f32], a_rev: &[f32], m: u64, p: usize, mask: u64) -> f32 {
    residual_with::<true>(x, a_rev, m, p, mask)
}

#[inline(always)]
fn residual_with<const FMA: bool>(x: &[f32], a_rev: &[f32], m: u64, p: usize, mask: u64) -> f32 {
    let base = (m.wrapping_sub(p as u64) & mask) as usize;
    let w = &x[base..base + p + 1];
    let mut acc = [0.0f32; 8];
    let rest = p - p % 8;
    for (wc, ac) in w[..p].chunks_exact(8).zip(a_rev.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] = madd::<FMA>(wc[l], ac[l], acc[l]);
        }
    }
    let mut pred: f32 = acc.iter().sum();
    for j in rest..p {
        pred += w[j] * a_rev[j];
    }
    w[p] - pred
}

/// Σ e² over absolute positions `a ..= b` (`b − a` < the ring's length) of the ring `e`:
/// at most two contiguous runs, each summed with four partial sums (so it vectorizes).
fn sum_sq(e: &[f32], a: u64, b: u64, mask: u64) -> f64 {
    let sum = |run: &[f32]| -> f64 {
        let mut acc = [0.0f64; 4];
        let chunks = run.chunks_exact(4);
        let rest = chunks.remainder();
        for c in chunks {
            for l in 0..4 {
                acc[l] += f64::from(c[l]) * f64::from(c[l]);
            }
        }
        let tail: f64 = rest.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
    };
    if b < a {
        return 0.0;
    }
    let (i, j) = ((a & mask) as usize, (b & mask) as usize);
    if i <= j {
        sum(&e[i..=j])
    } else {
        sum(&e[i..]) + sum(&e[..=j])
    }
}

fn push_guard(c: &mut Channel, start: u64, end: u64) {
    if c.guards_len > 0 {
        let last = (c.guards_head + c.guards_len - 1) % QUEUE;
        if start <= c.guards[last].1 + 1 {
            c.guards[last].1 = c.guards[last].1.max(end);
            return;
        }
    }
    if c.guards_len == QUEUE {
        // Full: widen the newest span to cover this one.
        let last = (c.guards_head + c.guards_len - 1) % QUEUE;
        c.guards[last].1 = c.guards[last].1.max(end);
        return;
    }
    let i = (c.guards_head + c.guards_len) % QUEUE;
    c.guards[i] = (start, end);
    c.guards_len += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Xorshift32;

    #[test]
    fn the_prediction_error_is_the_same_on_every_instruction_set() {
        let p = 32;
        let x: Vec<f32> = (0..256).map(|i| (i as f32 * 0.173).sin() * 0.5).collect();
        let a_rev: Vec<f32> = (0..p).map(|j| 0.9f32.powi(j as i32) * 0.03).collect();
        for m in [p as u64, 100, 200] {
            let want: f32 = x[m as usize]
                - (0..p)
                    .map(|j| x[m as usize - p + j] * a_rev[j])
                    .sum::<f32>();
            for isa in [Isa::Generic, Isa::detect()] {
                let e = residual(isa, &x, &a_rev, m, p, 255);
                assert!((e - want).abs() < 1e-5, "{isa:?} at {m}: {e} vs {want}");
            }
        }
    }

    #[test]
    fn ring_sum_of_squares_matches_the_sample_by_sample_sum_across_the_wrap() {
        let e: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let mask = 63u64;
        for a in [0u64, 5, 60, 63, 64, 130] {
            for len in [1u64, 3, 4, 5, 17, 63, 64] {
                let b = a + len - 1;
                let want: f64 = (a..=b)
                    .map(|m| f64::from(e[(m & mask) as usize]).powi(2))
                    .sum();
                let got = sum_sq(&e, a, b, mask);
                assert!((got - want).abs() <= 1e-12 * want.max(1.0), "{a}..={b}");
            }
        }
        assert_eq!(sum_sq(&e, 10, 9, mask), 0.0);
    }

    /// The model's autocorrelation, summed a hop at a time, equals the per-sample
    /// recurrence `r_k ← λ·r_k + y[o]·y[o−k]` over the stage's own output, at the
    /// instants it is refitted, at rates whose hops and rings differ.
    #[test]
    fn hop_summed_autocorrelation_equals_the_per_sample_recurrence() {
        for sr in [8_000.0, 44_100.0, 48_000.0, 192_000.0] {
            let mut stage = Repair::new(sr, 1);
            stage.set_target(&DeclipState { enabled: true }, &DeclickState::default());
            let (p, hop, latency, lambda) = (stage.order, stage.hop, stage.latency, stage.lambda);
            // A rising chirp (200 Hz upward) with a little deterministic noise: no digital
            // silence, so the model never resets.
            let mut rng = Xorshift32(0x1234_5678_u32);
            let len = latency + 7 * hop + hop / 3;
            let mut out: Vec<f32> = (0..len)
                .map(|i| {
                    let t = i as f32 / sr;
                    0.3 * (2.0 * std::f32::consts::PI * (200.0 + 2000.0 * t) * t).sin()
                        + 0.01 * (rng.next_u32() as f32 / u32::MAX as f32 - 0.5)
                })
                .collect();
            stage.process(&mut [&mut out]);
            // Output sample o is `out[latency + o]`; the last refit took in o_r.
            let y = |o: i64| {
                if o < 0 {
                    0.0
                } else {
                    f64::from(out[latency + o as usize])
                }
            };
            let last_o = (len - 1 - latency) as i64;
            let o_r = last_o / hop as i64 * hop as i64;
            let mut r = vec![0.0f64; p + 1];
            for o in 0..=o_r {
                for (k, rk) in r.iter_mut().enumerate() {
                    *rk = lambda * *rk + y(o) * y(o - k as i64);
                }
            }
            let got = &stage.ch[0].r;
            for k in 0..=p {
                assert!(
                    (got[k] - r[k]).abs() <= 1e-9 * r[0],
                    "{sr} Hz, lag {k}: {} vs {}",
                    got[k],
                    r[k]
                );
            }
        }
    }
}
