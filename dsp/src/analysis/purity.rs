//! Purity (`T_Purity`): how broken a recording is — SNR, clipping, clicks, comb ripple — and the `requires_genesis` flag.
//!
//! Each estimate works on a single recording (no clean reference):
//!
//! - **SNR** ([`Purity::snr_db`]): a frame-energy percentile method, after the
//!   NIST Speech Quality Assurance package's `stnr` (which histograms 20 ms
//!   frame energies): frame powers over 20 ms Hann frames (10 ms hop, DC
//!   removed); the noise floor is the mean power of the quietest
//!   [`NOISE_PERCENTILE`] (10 %) of frames; the signal is the ITU-T P.56 active
//!   level ([`super::loudness::active_speech_level`]) minus that floor. In dB,
//!   clamped to [`SNR_MIN_DB`]`..=`[`SNR_MAX_DB`]. This matches the reference the
//!   noise degradation uses ([`crate::degrade`]: noise power re the clean active
//!   level): on the shipped clips, white and pink noise added at 0, 10 and 20 dB
//!   read within ±3 dB. Brown noise reads high (by up to 9 dB at 0 dB SNR):
//!   its power sits below 100 Hz, so 20 ms frame powers fluctuate and the
//!   quietest frames underestimate the mean floor. Needs some pauses: speech
//!   active in more than 90 % of frames reads low.
//! - **Clipping** ([`Purity::clipping_fraction`]): the fraction of samples that
//!   sit in flat runs at the signal's extremes — runs of at least two
//!   consecutive same-sign samples within 0.01 % of the channel's sample peak
//!   (a hard clipper's plateau; a clean waveform touches its peak in one sample).
//! - **Clicks** ([`Purity::clicks_per_second`]): isolated steps per second.
//!   The mono mix goes through the fixed second-order linear predictor
//!   `x̂[n] = 2x[n−1] − x[n−2]`; its residual `e[n] = x[n] − 2x[n−1] + x[n−2]`
//!   (the second difference) is small wherever the waveform is smooth at the
//!   sample scale — voiced speech, even plosives and fricatives — and turns a
//!   step or a hard onset into a two-sample doublet. A sample is a click when
//!   `|e|` exceeds [`CLICK_RATIO`] (20) times the RMS of `e` over the
//!   surrounding ±[`CLICK_CONTEXT_S`] (2 ms; the sample and its two neighbours
//!   left out) and at least [`CLICK_MIN_STEP`] of the sample peak; each click
//!   mutes detection for [`CLICK_DEAD_TIME_S`]. This is the
//!   residual-thresholding detector of S. J. Godsill & P. J. W. Rayner,
//!   *Digital Audio Restoration* (Springer 1998), ch. 5, with a fixed AR(2)
//!   predictor in place of a fitted one. Clean speech reads 0–0.2 per second
//!   (real mouth clicks and recording glitches count: they are clicks); a
//!   train of pops every second at −9 dB re the speech peak reads close to 1
//!   per second, at −20 dB about 0.5–0.9.
//! - **Spectral ripple** ([`Purity::spectral_ripple_db`]): the RMS deviation of
//!   the 256-band [`super::ltas::spectrum_db`] from its own ±1/3-octave moving
//!   average between 150 Hz and min(5 kHz, 0.4·fs), dB. Notches raise it, but
//!   so does the fine structure of speech itself (2–4.5 dB on clean speech).
//! - **Reflection gain** ([`Purity::reflection_gain`]): the gain `g` of one
//!   short reflection (`x[n] + g·x[n−D]`, `D` 0.9–11 ms), read from the real
//!   cepstrum of the long-term spectrum: `ln|1 + g·e^{−jωD}| = g·cos(ωD) − …`,
//!   so the log-amplitude spectrum carries a cosine ripple of amplitude `|g|`
//!   with period `1/D` Hz (B. P. Bogert, M. J. R. Healy & J. W. Tukey, "The
//!   quefrency alanysis of time series for echoes", 1963). Welch spectrum with a
//!   [`SPECTRUM_WINDOW_S`] Hann window, natural-log amplitude over
//!   [`REFLECTION_BAND_HZ`] (top at most 0.45·fs), mean and tilt removed, Hann
//!   taper, then the largest cosine amplitude over delays in
//!   [`REFLECTION_DELAY_S`]. Clean speech reads 0.1–0.25; a comb with `|g| = 0.5`
//!   reads about 0.5.
//!
//! [`Purity::input_purity`] maps them to one number in 0..=1 (1 = clean), see
//! [`input_purity`]; [`requires_genesis`] flags purity below
//! [`GENESIS_PURITY_THRESHOLD`].

use serde::{Deserialize, Serialize};

use super::loudness::active_speech_level;
use super::ltas::{
    hann, relative_band_db_of, spectrum_band_centers_hz, spectrum_edges, welch_psd, Psd,
    SPECTRUM_FLOOR_DB, SPECTRUM_WINDOW_S,
};
use super::{power_db, Input};

/// Lowest reported SNR, dB.
pub const SNR_MIN_DB: f32 = -10.0;
/// Highest reported SNR, dB (a recording with no measurable noise floor).
pub const SNR_MAX_DB: f32 = 80.0;
/// Fraction of quietest frames whose mean power is the noise floor.
pub const NOISE_PERCENTILE: f64 = 0.10;
/// SNR frame length, s.
pub const SNR_FRAME_S: f64 = 0.020;
/// SNR frame hop, s.
pub const SNR_HOP_S: f64 = 0.010;
/// A click's residual `|e|` must exceed this multiple of the RMS of `e` around it.
pub const CLICK_RATIO: f64 = 20.0;
/// A click's residual must be at least this fraction of the signal's sample peak (−46 dB).
pub const CLICK_MIN_STEP: f64 = 0.005;
/// Context on each side of a candidate click for the RMS of `e`, s.
pub const CLICK_CONTEXT_S: f64 = 0.002;
/// After a click, no other is counted for this long, s.
pub const CLICK_DEAD_TIME_S: f64 = 0.005;
/// Frequency range searched for reflection ripple, Hz (the top is at most 0.45 × fs).
pub const REFLECTION_BAND_HZ: (f64, f64) = (100.0, 8000.0);
/// Reflection delays searched, s (the spec's 1–10 ms, with a margin).
pub const REFLECTION_DELAY_S: (f64, f64) = (0.0009, 0.011);
/// [`requires_genesis`] is true when [`Purity::input_purity`] is below this.
pub const GENESIS_PURITY_THRESHOLD: f32 = 0.5;

/// The purity estimates of one recording. See the module docs for each method.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purity {
    /// Estimated signal-to-noise ratio, dB ([`SNR_MIN_DB`]..=[`SNR_MAX_DB`]).
    pub snr_db: f32,
    /// Fraction of samples in flat runs at the peak (hard clipping), 0..=1.
    pub clipping_fraction: f32,
    /// Impulsive clicks per second, ≥ 0.
    pub clicks_per_second: f32,
    /// RMS deviation of the fine spectrum from its 1/3-octave smoothing, dB, ≥ 0.
    pub spectral_ripple_db: f32,
    /// Estimated gain of one short (1–10 ms) reflection, 0..1 (0 = none).
    pub reflection_gain: f32,
    /// All of the above mapped to 0..=1, 1 = clean; see [`input_purity`].
    pub input_purity: f32,
}

impl Purity {
    /// What [`purity`] returns for silence or unusable input: no evidence of
    /// damage, purity 1 (there is nothing for Genesis to repair).
    pub const SILENT: Purity = Purity {
        snr_db: SNR_MAX_DB,
        clipping_fraction: 0.0,
        clicks_per_second: 0.0,
        spectral_ripple_db: 0.0,
        reflection_gain: 0.0,
        input_purity: 1.0,
    };
}

/// Measures the purity of `channels` (1 or 2, planar) at `sample_rate` Hz.
pub fn purity(channels: &[&[f32]], sample_rate: f32) -> Purity {
    let Some(input) = Input::new(channels, sample_rate) else {
        return Purity::SILENT;
    };
    if input.is_silent() {
        return Purity::SILENT;
    }
    let snr_db = snr_db(&input, channels, sample_rate);
    let clipping_fraction = clipping_fraction(&input);
    let clicks_per_second = clicks_per_second(&input);
    // One 0.5 s Welch spectrum serves the ripple and the reflection estimates.
    let psd = welch_psd(&input, f64::from(SPECTRUM_WINDOW_S));
    let spectral_ripple_db = spectral_ripple_db(&psd, &input);
    let reflection_gain = reflection_gain(&psd, &input);
    let mut p = Purity {
        snr_db,
        clipping_fraction,
        clicks_per_second,
        spectral_ripple_db,
        reflection_gain,
        input_purity: 1.0,
    };
    p.input_purity = input_purity(&p);
    p
}

/// `true` when the recording is damaged enough that Genesis (the corrective
/// impulse response) must run: `input_purity < GENESIS_PURITY_THRESHOLD` (0.5).
pub fn requires_genesis(purity: &Purity) -> bool {
    purity.input_purity < GENESIS_PURITY_THRESHOLD
}

/// `x` mapped linearly from `bad..good` to `0..1`, clamped.
fn score(x: f32, bad: f32, good: f32) -> f32 {
    if x.is_nan() {
        return 0.0;
    }
    ((x - bad) / (good - bad)).clamp(0.0, 1.0)
}

/// The scalar purity: the product of four scores, each 1 when clean and 0 when
/// ruined, linear in between (the spectral ripple is reported, not scored: on
/// speech it is dominated by the speech itself):
///
/// | figure | score 1 at | score 0 at | clean speech reads |
/// |---|---|---|---|
/// | `snr_db` | ≥ 30 dB | ≤ 0 dB | 15–70 dB (VCTK 25–60) |
/// | `clipping_fraction` | ≤ 0.001 | ≥ 0.05 | < 0.001 |
/// | `clicks_per_second` | ≤ 0.2 | ≥ 1 (one pop a second) | 0–0.2 |
/// | `reflection_gain` | ≤ 0.25 | ≥ 0.7 | 0.1–0.25 |
///
/// A product below 0.5 ([`requires_genesis`]) means one figure is past the
/// middle of its range (e.g. SNR under 15 dB, a reflection of gain 0.48) or
/// several are degraded at once.
pub fn input_purity(p: &Purity) -> f32 {
    let s = score(p.snr_db, 0.0, 30.0)
        * score(p.clipping_fraction, 0.05, 0.001)
        * score(p.clicks_per_second, 1.0, 0.2)
        * score(p.reflection_gain, 0.7, 0.25);
    // `+ 0.0` turns a −0.0 product into +0.0.
    s.clamp(0.0, 1.0) + 0.0
}

/// Frame powers (mean over channels of the Hann-windowed mean square, DC removed).
pub(crate) fn frame_powers(input: &Input, frame_s: f64, hop_s: f64) -> Vec<f64> {
    let win = ((frame_s * input.sample_rate).round() as usize).max(2);
    let hop = ((hop_s * input.sample_rate).round() as usize).max(1);
    let len = input.len();
    let w = super::ltas::hann(win);
    let w_energy: f64 = w.iter().map(|v| v * v).sum();
    let n_frames = if len <= win { 1 } else { 1 + (len - win) / hop };
    let means: Vec<f64> = input
        .channels
        .iter()
        .map(|c| c.iter().sum::<f64>() / len.max(1) as f64)
        .collect();
    (0..n_frames)
        .map(|t| {
            let start = t * hop;
            let mut acc = 0.0;
            for (c, m) in input.channels.iter().zip(&means) {
                for (i, wi) in w.iter().enumerate() {
                    let v = (c.get(start + i).copied().unwrap_or(*m) - m) * wi;
                    acc += v * v;
                }
            }
            acc / (w_energy * input.channels.len() as f64)
        })
        .collect()
}

fn snr_db(input: &Input, channels: &[&[f32]], sample_rate: f32) -> f32 {
    let mut frames = frame_powers(input, SNR_FRAME_S, SNR_HOP_S);
    frames.sort_by(f64::total_cmp);
    let k = ((frames.len() as f64 * NOISE_PERCENTILE).ceil() as usize).clamp(1, frames.len());
    let noise = frames[..k].iter().sum::<f64>() / k as f64;
    let Some(active) = active_speech_level(channels, sample_rate) else {
        return SNR_MAX_DB;
    };
    let total = 10f64.powf(f64::from(active.level_db) / 10.0);
    let signal = (total - noise).max(0.0);
    let snr = power_db(signal) - power_db(noise.max(1e-30));
    (snr as f32).clamp(SNR_MIN_DB, SNR_MAX_DB)
}

fn clipping_fraction(input: &Input) -> f32 {
    let mut clipped = 0usize;
    for c in &input.channels {
        let peak = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if peak <= 0.0 {
            continue;
        }
        let level = peak * (1.0 - 1e-4);
        let mut run = 0usize;
        let mut run_sign = 0.0f64;
        for &v in c.iter().chain(std::iter::once(&0.0)) {
            let at_peak = v.abs() >= level;
            if at_peak && run > 0 && v.signum() == run_sign {
                run += 1;
                continue;
            }
            if run >= 2 {
                clipped += run;
            }
            if at_peak {
                run = 1;
                run_sign = v.signum();
            } else {
                run = 0;
            }
        }
    }
    (clipped as f64 / (input.len() * input.channels.len()).max(1) as f64) as f32
}

fn clicks_per_second(input: &Input) -> f32 {
    let sr = input.sample_rate;
    let n_ch = input.channels.len() as f64;
    let len = input.len();
    if len < 3 {
        return 0.0;
    }
    let mono: Vec<f64> = (0..len)
        .map(|i| input.channels.iter().map(|c| c[i]).sum::<f64>() / n_ch)
        .collect();
    let peak = mono.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // Residual of the fixed linear predictor x̂[n] = 2x[n−1] − x[n−2].
    let d: Vec<f64> = mono.windows(3).map(|w| w[2] - 2.0 * w[1] + w[0]).collect();
    let n = d.len();
    // Prefix sums of e² for the context RMS.
    let mut cum = vec![0.0; n + 1];
    for (i, v) in d.iter().enumerate() {
        cum[i + 1] = cum[i] + v * v;
    }
    let context = ((CLICK_CONTEXT_S * sr).round() as usize).max(4);
    let dead = ((CLICK_DEAD_TIME_S * sr).round() as usize).max(1);
    let min_step = peak * CLICK_MIN_STEP;
    let mut clicks = 0usize;
    let mut i = 0;
    while i < n {
        let v = d[i].abs();
        if v > min_step {
            // RMS of the residual over ±context, leaving out the sample and its
            // neighbours (a step gives a doublet of two adjacent samples).
            let (a, b) = (i.saturating_sub(context), (i + context + 1).min(n));
            let (ea, eb) = (i.saturating_sub(1), (i + 2).min(n));
            let energy = (cum[ea] - cum[a]) + (cum[b] - cum[eb]);
            let count = (ea - a) + (b - eb);
            let rms = (energy / count.max(1) as f64).sqrt().max(min_step * 0.1);
            if v > CLICK_RATIO * rms {
                clicks += 1;
                i += dead;
                continue;
            }
        }
        i += 1;
    }
    (clicks as f64 * sr / len as f64) as f32
}

/// Estimated gain of a single short reflection (comb filter), from the real
/// cepstrum of the long-term spectrum (see the module docs).
fn reflection_gain(psd: &Psd, input: &Input) -> f32 {
    let lo = REFLECTION_BAND_HZ.0;
    let hi = REFLECTION_BAND_HZ.1.min(0.45 * input.sample_rate);
    let k0 = (lo / psd.bin_hz).ceil() as usize;
    let k1 = ((hi / psd.bin_hz).floor() as usize).min(psd.power.len().saturating_sub(1));
    if k1 <= k0 + 16 {
        return 0.0;
    }
    let peak = psd.power[k0..=k1].iter().cloned().fold(0.0, f64::max);
    if peak <= 0.0 {
        return 0.0;
    }
    // Natural log of the amplitude spectrum, floored 80 dB below its peak.
    let floor = peak * 1e-8;
    let f: Vec<f64> = (k0..=k1).map(|k| k as f64 * psd.bin_hz).collect();
    let mut l: Vec<f64> = (k0..=k1)
        .map(|k| 0.5 * psd.power[k].max(floor).ln())
        .collect();
    // Remove the mean and the linear trend (the spectral tilt).
    let m = l.len() as f64;
    let fm = f.iter().sum::<f64>() / m;
    let lm = l.iter().sum::<f64>() / m;
    let sxx: f64 = f.iter().map(|x| (x - fm) * (x - fm)).sum();
    let sxy: f64 = f.iter().zip(&l).map(|(x, y)| (x - fm) * (y - lm)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    for (y, x) in l.iter_mut().zip(&f) {
        *y -= lm + slope * (x - fm);
    }
    let w = hann(l.len());
    let wsum: f64 = w.iter().sum();
    // Amplitude of the cosine component at each quefrency (delay) in range.
    let (q_lo, q_hi) = REFLECTION_DELAY_S;
    let steps = 400usize;
    let mut best = 0.0f64;
    for s in 0..=steps {
        let q = q_lo + (q_hi - q_lo) * s as f64 / steps as f64;
        // Σ w·l·e^{j2πfq} over the bins, the phasor advanced by one bin at a time.
        let (mut re, mut im) = (0.0, 0.0);
        let (s0, c0) = (2.0 * std::f64::consts::PI * f[0] * q).sin_cos();
        let (ds, dc) = (2.0 * std::f64::consts::PI * psd.bin_hz * q).sin_cos();
        let (mut pc, mut ps) = (c0, s0);
        for (y, wi) in l.iter().zip(&w) {
            re += wi * y * pc;
            im += wi * y * ps;
            (pc, ps) = (pc * dc - ps * ds, pc * ds + ps * dc);
        }
        let amp = 2.0 * (re * re + im * im).sqrt() / wsum;
        best = best.max(amp);
    }
    best.min(1.0) as f32
}

fn spectral_ripple_db(psd: &Psd, input: &Input) -> f32 {
    let spec = relative_band_db_of(
        psd,
        input,
        f32::INFINITY,
        &spectrum_edges(),
        SPECTRUM_FLOOR_DB,
    );
    let centers = spectrum_band_centers_hz();
    let hi = 5000.0f32.min(0.4 * input.sample_rate as f32);
    // ±1/3 octave = ±8.5 bands at 25.6 bands per octave.
    let half = 9usize;
    let mut sum = 0.0f64;
    let mut count = 0usize;
    for i in 0..centers.len() {
        if centers[i] < 150.0 || centers[i] > hi {
            continue;
        }
        let a = i.saturating_sub(half);
        let b = (i + half + 1).min(centers.len());
        let mean = spec[a..b].iter().map(|&v| f64::from(v)).sum::<f64>() / (b - a) as f64;
        let d = f64::from(spec[i]) - mean;
        sum += d * d;
        count += 1;
    }
    if count == 0 {
        return 0.0;
    }
    ((sum / count as f64).sqrt()) as f32
}
