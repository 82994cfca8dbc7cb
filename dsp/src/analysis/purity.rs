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

/// The log-amplitude spectrum the reflection estimates read its ripple from:
/// natural-log amplitude over [`REFLECTION_BAND_HZ`] (top at most 0.45·fs),
/// floored 80 dB under its peak, mean and linear trend removed, times a Hann taper.
struct Ripple {
    /// Frequency of the first bin, Hz.
    f0: f64,
    /// Bin spacing, Hz.
    bin_hz: f64,
    /// Tapered, detrended log amplitude per bin (`w·l`).
    wl: Vec<f64>,
    /// The taper `w` per bin.
    w: Vec<f64>,
    /// Sum of the taper.
    wsum: f64,
}

impl Ripple {
    fn new(psd: &Psd, sample_rate: f64) -> Option<Ripple> {
        let lo = REFLECTION_BAND_HZ.0;
        let hi = REFLECTION_BAND_HZ.1.min(0.45 * sample_rate);
        let k0 = (lo / psd.bin_hz).ceil() as usize;
        let k1 = ((hi / psd.bin_hz).floor() as usize).min(psd.power.len().saturating_sub(1));
        if k1 <= k0 + 16 {
            return None;
        }
        let peak = psd.power[k0..=k1].iter().cloned().fold(0.0, f64::max);
        if peak <= 0.0 {
            return None;
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
        let wl = w.iter().zip(&l).map(|(wi, y)| wi * y).collect();
        Some(Ripple {
            f0: f[0],
            bin_hz: psd.bin_hz,
            wl,
            w,
            wsum,
        })
    }

    /// The ripple of `channels` (planar, 1 or 2) at `sample_rate` Hz, from their
    /// 0.5 s Welch spectrum; `None` for silent or unusable input.
    fn of(channels: &[&[f32]], sample_rate: f32) -> Option<Ripple> {
        let input = Input::new(channels, sample_rate)?;
        if input.is_silent() {
            return None;
        }
        let psd = welch_psd(&input, f64::from(SPECTRUM_WINDOW_S));
        Ripple::new(&psd, input.sample_rate)
    }

    /// `(cos, sin)` of `2πf·q` at each bin's frequency `f`, by a phasor advanced
    /// one bin at a time.
    fn phasors(&self, q: f64) -> impl Iterator<Item = (f64, f64)> {
        let (s0, c0) = (2.0 * std::f64::consts::PI * self.f0 * q).sin_cos();
        let (ds, dc) = (2.0 * std::f64::consts::PI * self.bin_hz * q).sin_cos();
        std::iter::successors(Some((c0, s0)), move |&(pc, ps)| {
            Some((pc * dc - ps * ds, pc * ds + ps * dc))
        })
        .take(self.wl.len())
    }

    /// `Σ w·l·e^{j2πfq}` over the bins for delay `q` s, as `(re, im)`.
    fn component(&self, q: f64) -> (f64, f64) {
        self.wl
            .iter()
            .zip(self.phasors(q))
            .fold((0.0, 0.0), |(re, im), (y, (pc, ps))| {
                (re + y * pc, im + y * ps)
            })
    }

    /// Amplitude of the cosine ripple of period `1/q` Hz (the reflection gain
    /// `|g|` for a reflection at `q` s).
    fn amplitude(&self, q: f64) -> f64 {
        let (re, im) = self.component(q);
        2.0 * (re * re + im * im).sqrt() / self.wsum
    }

    /// The weighted least-squares fit `l ≈ c·m` of the log spectrum to a term
    /// `m(f) = term(Re a, Im a)` of the log of a reflection at `delay` s low-passed
    /// at `corner_hz` (one pole), `a(f) = e^{−j2πf·delay} / (1 + jf/corner_hz)`
    /// (the gain left out), weighted by the taper: `(c, c·Σw·l·m)`, the
    /// coefficient and the share of the log spectrum's energy the term explains.
    fn least_squares(
        &self,
        delay: f64,
        corner_hz: f64,
        term: impl Fn(f64, f64) -> f64,
    ) -> (f64, f64) {
        let (mut lm, mut mm) = (0.0, 0.0);
        for (i, ((wl, w), (pc, ps))) in self
            .wl
            .iter()
            .zip(&self.w)
            .zip(self.phasors(delay))
            .enumerate()
        {
            let x = (self.f0 + i as f64 * self.bin_hz) / corner_hz;
            // a = (cos − j·sin)(1 − jx) / (1 + x²)
            let m = term(
                (pc - x * ps) / (1.0 + x * x),
                (-ps - x * pc) / (1.0 + x * x),
            );
            lm += wl * m;
            mm += w * m * m;
        }
        if mm <= 0.0 {
            return (0.0, 0.0);
        }
        let c = lm / mm;
        (c, c * lm)
    }

    /// The fit of the first term of `ln|1 + g·a|`, `Re a`: the gain `g` and the
    /// share of the log spectrum's energy it explains (larger is better).
    fn fit(&self, delay: f64, corner_hz: f64) -> (f64, f64) {
        self.least_squares(delay, corner_hz, |re, _| re)
    }

    /// The coefficient of the second term of `ln|1 + g·a|`, `Re(a²)`: `−g²/2` for
    /// a real reflection of gain `g`.
    fn second_order(&self, delay: f64, corner_hz: f64) -> f64 {
        self.least_squares(delay, corner_hz, |re, im| re * re - im * im)
            .0
    }

    /// `(q, amplitude(q))` for `steps + 1` delays `q` evenly spread over `range` s.
    fn grid(&self, range: (f64, f64), steps: usize) -> impl Iterator<Item = (f64, f64)> + '_ {
        let (q_lo, q_hi) = range;
        (0..=steps).map(move |s| {
            let q = q_lo + (q_hi - q_lo) * s as f64 / steps as f64;
            (q, self.amplitude(q))
        })
    }

    /// The delays of the `n` largest local maxima of the ripple amplitude on
    /// [`Ripple::grid`], largest first.
    fn peaks(&self, range: (f64, f64), steps: usize, n: usize) -> Vec<f64> {
        let amp: Vec<(f64, f64)> = self.grid(range, steps).collect();
        let mut peaks: Vec<(f64, f64)> = (0..amp.len())
            .filter(|&i| {
                let left = i == 0 || amp[i - 1].1 < amp[i].1;
                let right = i + 1 == amp.len() || amp[i + 1].1 <= amp[i].1;
                left && right
            })
            .map(|i| amp[i])
            .collect();
        peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
        peaks.into_iter().take(n).map(|(q, _)| q).collect()
    }

    /// The delay of the largest ripple on [`Ripple::grid`], and its amplitude.
    fn scan(&self, range: (f64, f64), steps: usize) -> (f64, f64) {
        self.grid(range, steps)
            .fold((range.0, 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }
}

/// Estimated gain of a single short reflection (comb filter), from the real
/// cepstrum of the long-term spectrum (see the module docs): the largest ripple
/// amplitude over 401 delays in [`REFLECTION_DELAY_S`].
fn reflection_gain(psd: &Psd, input: &Input) -> f32 {
    Ripple::new(psd, input.sample_rate)
        .map_or(0.0, |r| r.scan(REFLECTION_DELAY_S, 400).1.min(1.0) as f32)
}

/// One short reflection, `x[n] + gain·x[n − delay]`: what [`estimate_reflection`]
/// reads and what [`crate::ir::cancel_reflection`] undoes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reflection {
    /// Delay after the direct sound, s (> 0; need not be a whole number of samples).
    pub delay_s: f64,
    /// Amplitude relative to the direct sound at low frequencies, −1 < gain < 1
    /// (sign = polarity).
    pub gain: f64,
    /// Corner of the one-pole low-pass an absorbing surface puts on the
    /// reflection, Hz (`None`: flat, as from a hard surface).
    pub corner_hz: Option<f64>,
}

/// Delays [`estimate_reflection`] searches, s: a desk or a monitor beside the
/// mic (0.5 ms ≈ 17 cm of extra path) to a wall 2 m away (13 ms).
pub const ESTIMATE_DELAY_S: (f64, f64) = (0.0005, 0.013);

/// Step of [`estimate_reflection`]'s first scan, s: a quarter of a cycle of the
/// ripple's phase at 2.5 kHz; the best delay is then refined to 0.1 µs.
const ESTIMATE_STEP_S: f64 = 25e-6;

/// What [`estimate_reflection`] reads: the reflection that best explains the
/// ripple of the log spectrum, and the evidence that it is one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReflectionEstimate {
    /// The fitted reflection.
    pub reflection: Reflection,
    /// Least-squares coefficient of the second term of the log spectrum's
    /// expansion (below): `−g²/2` for a real reflection, positive for the
    /// harmonics of a steady voice or a resonance (a feedback comb).
    pub second_order: f64,
}

/// Estimates the strongest short reflection in `channels` (planar, 1 or 2) at
/// `sample_rate` Hz, from the ripple a reflection puts on the long-term log
/// spectrum (the method of [`Purity::reflection_gain`]; B. P. Bogert,
/// M. J. R. Healy & J. W. Tukey 1963):
///
/// 1. the delays `q` of the [`ESTIMATE_CANDIDATES`] largest ripple peaks over
///    [`ESTIMATE_DELAY_S`] (25 µs grid, then golden-section search to 0.1 µs);
///    steps 2 and 3 run for each, and the best fit of step 2 whose second-order
///    coefficient is negative (a reflection's sign) is returned, else the best fit;
/// 2. a reflection from an absorbing surface, `a(f) = g·e^{−j2πfD}/(1 + jf/f_c)`,
///    puts `ln|1 + a| = Re(a) − Re(a²)/2 + …` on the log amplitude; for each
///    corner `f_c` of [`ESTIMATE_CORNERS_HZ`] with two ripple periods under it
///    and half an octave under the band's top (and for none, a flat reflection) the delay `D` (up to 1.5 low-pass lags
///    before `q`) and `g` are fitted to the first term by weighted least
///    squares, and the fit that explains most of the log spectrum is kept;
/// 3. the coefficient of the second term, `Re(a²)`-shaped, is fitted at that
///    `D`, `f_c` ([`ReflectionEstimate::second_order`]).
///
/// A voice reads `|g|` up to about 0.3 by itself (formants, and the harmonics of
/// a steady pitch, which read like a resonance: second order positive);
/// [`ReflectionEstimate::is_reflection`] tells them apart. Delays under about 1.2 ms read less
/// exactly (the gain by up to ±0.3, the delay by a few tens of µs): their ripple
/// is as wide as the spacing of the voice's formants (about 1 kHz), which the
/// long-term spectrum keeps. `None` for silent or unusable input.
pub fn estimate_reflection(channels: &[&[f32]], sample_rate: f32) -> Option<ReflectionEstimate> {
    let ripple = Ripple::of(channels, sample_rate)?;
    let (lo, hi) = ESTIMATE_DELAY_S;
    let steps = ((hi - lo) / ESTIMATE_STEP_S).round() as usize;
    // The strongest ripple peaks; a voice's own (its pitch) can outdo a reflection
    // dulled by its surface, so each is fitted, and the best fit with a
    // reflection's second-order sign wins (else the best fit).
    let fits: Vec<(ReflectionEstimate, f64)> = ripple
        .peaks(ESTIMATE_DELAY_S, steps, ESTIMATE_CANDIDATES)
        .into_iter()
        .filter_map(|q| fit_reflection(&ripple, q))
        .collect();
    let best = |reflection_like: bool| {
        fits.iter()
            .filter(|(e, _)| !reflection_like || e.second_order < 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(e, _)| *e)
    };
    best(true).or_else(|| best(false))
}

/// Least `|g|` [`ReflectionEstimate::is_reflection`] takes for a reflection:
/// above what a voice reads by itself. On the twelve test-split clips of the
/// project's evaluation, clean, the fit read |g| 0.14–0.45, and every reading
/// over 0.3 had the wrong second-order sign (below).
pub const REFLECTION_MIN_GAIN: f64 = 0.35;
/// Least share of a reflection's second term, `−g²/2`, that
/// [`ReflectionEstimate::is_reflection`] asks of
/// [`ReflectionEstimate::second_order`]: a steady voice's harmonics read like a
/// resonance (a feedback comb), whose second term is `+g²/2`.
pub const REFLECTION_SECOND_ORDER_SHARE: f64 = 0.5;

impl ReflectionEstimate {
    /// Whether this reads as a real reflection rather than the voice's own
    /// spectrum: `|g| ≥` [`REFLECTION_MIN_GAIN`] and the second term of a
    /// reflection's expansion present ([`REFLECTION_SECOND_ORDER_SHARE`]).
    pub fn is_reflection(&self) -> bool {
        let g = self.reflection.gain;
        g.abs() >= REFLECTION_MIN_GAIN
            && self.second_order <= -REFLECTION_SECOND_ORDER_SHARE * g * g / 2.0
    }
}

/// Ripple peaks [`estimate_reflection`] fits.
pub const ESTIMATE_CANDIDATES: usize = 3;

/// The argument of the maximum of `f` on `[a, b]` (unimodal there) by
/// golden-section search, to within 0.1 µs.
fn golden_max(mut a: f64, mut b: f64, f: impl Fn(f64) -> f64) -> f64 {
    let phi = 0.5 * (5f64.sqrt() - 1.0);
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    while b - a > 1e-7 {
        if fc > fd {
            (b, d, fd) = (d, c, fc);
            c = b - phi * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + phi * (b - a);
            fd = f(d);
        }
    }
    0.5 * (a + b)
}

/// Steps 1–3 of [`estimate_reflection`] from the coarse peak `q0` s: the
/// estimate and the share of the log spectrum it explains.
fn fit_reflection(ripple: &Ripple, q0: f64) -> Option<(ReflectionEstimate, f64)> {
    let (lo, hi) = ESTIMATE_DELAY_S;
    let q = golden_max(
        (q0 - ESTIMATE_STEP_S).max(lo),
        (q0 + ESTIMATE_STEP_S).min(hi),
        |q| ripple.amplitude(q),
    );
    // An absorbing surface low-passes its reflection, and the low-pass's phase lag
    // reads as extra delay: fit the one-pole corner and the true delay (at most
    // 1.5 lags before `q`).
    let mut best = (q, ripple.fit(q, f64::INFINITY), f64::INFINITY);
    // A corner must leave two periods of the ripple under it, or the "ripple" is
    // one broad bump of the voice's own spectrum (a formant); and lie half an
    // octave under the band's top, or it cannot be told from a flat reflection a
    // little earlier.
    let top = ripple.f0 + (ripple.wl.len() - 1) as f64 * ripple.bin_hz;
    let plausible = |c: f64| c * q >= 2.0 && c <= top * std::f64::consts::FRAC_1_SQRT_2;
    for corner_hz in ESTIMATE_CORNERS_HZ.into_iter().filter(|&c| plausible(c)) {
        let lag = 1.0 / (2.0 * std::f64::consts::PI * corner_hz);
        let delay = golden_max((q - 1.5 * lag).max(lo), q + ESTIMATE_STEP_S, |d| {
            ripple.fit(d, corner_hz).1
        });
        let fit = ripple.fit(delay, corner_hz);
        if fit.1 > best.1 .1 {
            best = (delay, fit, corner_hz);
        }
    }
    let (delay_s, (gain, score), corner_hz) = best;
    let gain = gain.clamp(-0.99, 0.99);
    let second_order = ripple.second_order(delay_s, corner_hz);
    let estimate = ReflectionEstimate {
        reflection: Reflection {
            delay_s,
            gain,
            corner_hz: corner_hz.is_finite().then_some(corner_hz),
        },
        second_order,
    };
    (gain.is_finite() && second_order.is_finite()).then_some((estimate, score))
}

/// The gain of `r`'s ripple in `channels` (planar, 1 or 2) at `sample_rate` Hz:
/// the least-squares fit of [`estimate_reflection`]'s step 2 at `r`'s delay and
/// corner, without searching. What a reflection cancelled by
/// [`crate::ir::cancel_reflection`] leaves. `None` for silent or unusable input.
pub fn reflection_gain_at(channels: &[&[f32]], sample_rate: f32, r: &Reflection) -> Option<f64> {
    let ripple = Ripple::of(channels, sample_rate)?;
    let (g, _) = ripple.fit(r.delay_s, r.corner_hz.unwrap_or(f64::INFINITY));
    g.is_finite().then_some(g)
}

/// One-pole corners [`estimate_reflection`] tries for an absorbing surface, Hz
/// (half-octave steps; no corner, a flat reflection, is tried as well).
pub const ESTIMATE_CORNERS_HZ: [f64; 9] = [
    1000.0, 1414.0, 2000.0, 2828.0, 4000.0, 5657.0, 8000.0, 11314.0, 16000.0,
];

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
