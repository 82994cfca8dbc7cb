//! Loudness (`T_LUFS`), peaks and active speech level.
//!
//! Loudness follows ITU-R BS.1770-4 / EBU R128 through the `ebur128` crate:
//! K-weighting, 400 ms gating blocks with 75 % overlap, absolute gate −70 LUFS,
//! relative gate −10 LU. Mono is measured as one channel (weight 1, no dual-mono
//! +3 dB); stereo as left + right. True peak is ebur128's 4× (below 96 kHz)
//! oversampled estimate (ITU-R BS.1770-4 Annex 2).
//!
//! The active speech level is ITU-T P.56 Method B (as in the ITU-T G.191 `sv56`
//! tool): the rectified signal is smoothed twice with a 30 ms time constant,
//! samples count as active while that envelope is above a threshold (with a
//! 200 ms hangover), and the threshold is the one at which the active level
//! lies 15.9 dB above it.

use ebur128::{EbuR128, Mode};

use super::{power_db, AnalysisError, Input, MAX_ANALYSIS_SAMPLE_RATE, MIN_ANALYSIS_SAMPLE_RATE};
use crate::state::gain_to_db;

/// The BS.1770 absolute gate, LUFS: no integrated loudness is ever below it, so
/// [`super::Metrics::t_lufs`] uses it for "no loudness" (silence).
pub const ABSOLUTE_GATE_LUFS: f32 = -70.0;

/// Loudness and peaks of one recording.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loudness {
    /// Integrated (programme) loudness, LUFS; `None` when no gating block is
    /// above the absolute gate (silence, or input shorter than 400 ms).
    pub integrated_lufs: Option<f32>,
    /// Highest momentary loudness (400 ms window, evaluated every 100 ms), LUFS;
    /// `None` for silence or input shorter than 400 ms.
    pub max_momentary_lufs: Option<f32>,
    /// Highest short-term loudness (3 s window, evaluated every 100 ms), LUFS;
    /// `None` for silence or input shorter than 3 s.
    pub max_short_term_lufs: Option<f32>,
    /// Largest `|sample|` over all channels, dBFS (floored at −200 dB for silence).
    pub sample_peak_dbfs: f32,
    /// True peak (inter-sample) over all channels, dBTP (floored at −200 dB).
    pub true_peak_dbtp: f32,
}

impl Loudness {
    /// What [`loudness`] returns for silence or unusable input.
    pub const SILENT: Loudness = Loudness {
        integrated_lufs: None,
        max_momentary_lufs: None,
        max_short_term_lufs: None,
        sample_peak_dbfs: -200.0,
        true_peak_dbtp: -200.0,
    };
}

/// A streaming BS.1770 meter (integrated, momentary, short-term, true peak).
///
/// For the GUI meters and for [`loudness`]. Not realtime-safe (the ebur128
/// crate does not promise allocation-free updates): feed it off the audio thread.
pub struct LoudnessMeter {
    inner: EbuR128,
    channels: usize,
    /// Frames added so far.
    frames: u64,
    rate: u32,
}

fn meter_error(e: ebur128::Error) -> AnalysisError {
    AnalysisError::Loudness(e.to_string())
}

impl LoudnessMeter {
    /// A meter for `channels` (1 or 2) at `sample_rate` Hz (rounded to an integer).
    ///
    /// # Errors
    /// [`AnalysisError::InvalidSampleRate`], [`AnalysisError::NoChannels`] or
    /// [`AnalysisError::TooManyChannels`].
    pub fn new(channels: usize, sample_rate: f32) -> Result<Self, AnalysisError> {
        Self::with_mode(
            channels,
            sample_rate,
            Mode::I | Mode::S | Mode::M | Mode::TRUE_PEAK,
        )
    }

    fn with_mode(channels: usize, sample_rate: f32, mode: Mode) -> Result<Self, AnalysisError> {
        if !(sample_rate.is_finite()
            && (MIN_ANALYSIS_SAMPLE_RATE..=MAX_ANALYSIS_SAMPLE_RATE).contains(&sample_rate))
        {
            return Err(AnalysisError::InvalidSampleRate {
                sample_rate,
                min: MIN_ANALYSIS_SAMPLE_RATE,
                max: MAX_ANALYSIS_SAMPLE_RATE,
            });
        }
        if channels == 0 {
            return Err(AnalysisError::NoChannels);
        }
        if channels > crate::MAX_CHANNELS {
            return Err(AnalysisError::TooManyChannels {
                count: channels,
                max: crate::MAX_CHANNELS,
            });
        }
        let rate = sample_rate.round() as u32;
        let inner = EbuR128::new(channels as u32, rate, mode).map_err(meter_error)?;
        Ok(LoudnessMeter {
            inner,
            channels,
            frames: 0,
            rate,
        })
    }

    /// Adds planar audio (`channels[c][n]`, the channel count given to
    /// [`LoudnessMeter::new`]; extra channels are ignored, lengths cut to the
    /// shortest). Non-finite samples are counted as 0.
    pub fn add(&mut self, channels: &[&[f32]]) {
        if channels.len() < self.channels {
            return;
        }
        let used = &channels[..self.channels];
        let len = used.iter().map(|c| c.len()).min().unwrap_or(0);
        if len == 0 {
            return;
        }
        let clean: Vec<Vec<f32>>;
        let planar: Vec<&[f32]> = if used.iter().all(|c| c[..len].iter().all(|v| v.is_finite())) {
            used.iter().map(|c| &c[..len]).collect()
        } else {
            clean = used
                .iter()
                .map(|c| {
                    c[..len]
                        .iter()
                        .map(|&v| if v.is_finite() { v } else { 0.0 })
                        .collect()
                })
                .collect();
            clean.iter().map(Vec::as_slice).collect()
        };
        if self.inner.add_frames_planar_f32(&planar).is_ok() {
            self.frames += len as u64;
        }
    }

    /// Integrated loudness so far, LUFS; `None` when no block passed the gates.
    pub fn integrated_lufs(&self) -> Option<f32> {
        finite_lufs(self.inner.loudness_global())
    }

    /// Momentary loudness (last 400 ms), LUFS; `None` before 400 ms were added
    /// or when that window is silent.
    pub fn momentary_lufs(&self) -> Option<f32> {
        if self.frames * 10 < u64::from(self.rate) * 4 {
            return None;
        }
        finite_lufs(self.inner.loudness_momentary())
    }

    /// Short-term loudness (last 3 s), LUFS; `None` before 3 s were added or
    /// when that window is silent.
    pub fn short_term_lufs(&self) -> Option<f32> {
        if self.frames < u64::from(self.rate) * 3 {
            return None;
        }
        finite_lufs(self.inner.loudness_shortterm())
    }

    /// Largest `|sample|` so far over all channels, dBFS (−200 for silence).
    pub fn sample_peak_dbfs(&self) -> f32 {
        let p = (0..self.channels as u32)
            .filter_map(|c| self.inner.sample_peak(c).ok())
            .fold(0.0, f64::max);
        gain_to_db(p as f32)
    }

    /// True peak so far over all channels, dBTP (−200 for silence).
    pub fn true_peak_dbtp(&self) -> f32 {
        let p = (0..self.channels as u32)
            .filter_map(|c| self.inner.true_peak(c).ok())
            .fold(0.0, f64::max);
        gain_to_db(p as f32)
    }
}

fn finite_lufs(r: Result<f64, ebur128::Error>) -> Option<f32> {
    match r {
        Ok(v) if v.is_finite() => Some(v as f32),
        _ => None,
    }
}

/// Integrated loudness, peaks, and the highest momentary and short-term
/// loudness of `channels` (1 or 2, planar) at `sample_rate` Hz.
///
/// Silence and unusable input give [`Loudness::SILENT`] (`None` loudness, −200 dB peaks).
pub fn loudness(channels: &[&[f32]], sample_rate: f32) -> Loudness {
    let Some(input) = Input::new(channels, sample_rate) else {
        return Loudness::SILENT;
    };
    let data = input.to_f32();
    let Ok(mut meter) = LoudnessMeter::new(data.len(), sample_rate) else {
        return Loudness::SILENT;
    };
    let step = (meter.rate / 10).max(1) as usize;
    let len = input.len();
    let mut max_m: Option<f32> = None;
    let mut max_s: Option<f32> = None;
    let mut start = 0;
    while start < len {
        let end = (start + step).min(len);
        let chunk: Vec<&[f32]> = data.iter().map(|c| &c[start..end]).collect();
        meter.add(&chunk);
        max_m = max_opt(max_m, meter.momentary_lufs());
        max_s = max_opt(max_s, meter.short_term_lufs());
        start = end;
    }
    Loudness {
        integrated_lufs: meter.integrated_lufs(),
        max_momentary_lufs: max_m,
        max_short_term_lufs: max_s,
        sample_peak_dbfs: meter.sample_peak_dbfs(),
        true_peak_dbtp: meter.true_peak_dbtp(),
    }
}

fn max_opt(a: Option<f32>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// `T_LUFS`: integrated loudness of `channels` at `sample_rate` Hz, LUFS
/// (ITU-R BS.1770-4); `None` for silence, input shorter than 400 ms, or
/// unusable input. Cheaper than [`loudness`].
pub fn integrated_lufs(channels: &[&[f32]], sample_rate: f32) -> Option<f32> {
    let input = Input::new(channels, sample_rate)?;
    let data = input.to_f32();
    let mut meter = LoudnessMeter::with_mode(data.len(), sample_rate, Mode::I).ok()?;
    let planar: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
    meter.add(&planar);
    meter.integrated_lufs()
}

/// ITU-T P.56 active speech level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActiveLevel {
    /// Mean power over the active samples, dB re full scale (`10·log10` of the
    /// mean square; a full-scale sine is −3.01 dB).
    pub level_db: f32,
    /// Fraction of samples counted active, 0..=1.
    pub activity: f32,
}

/// P.56 margin between the active level and the activity threshold, dB.
const P56_MARGIN_DB: f64 = 15.9;
/// P.56 envelope time constant, s.
const P56_TIME_CONSTANT_S: f64 = 0.03;
/// P.56 hangover, s.
const P56_HANGOVER_S: f64 = 0.2;

/// The active speech level of `channels` after ITU-T P.56 Method B (see the
/// module docs). Channels are combined per sample as the root mean square
/// across channels. `None` for silence or unusable input.
///
/// Thresholds are tried every 1 dB from 0 down to −120 dBFS and the crossing of
/// the 15.9 dB margin is interpolated linearly in dB, as `sv56` does with its
/// coarser grid. O(n): the hangover makes "active at threshold c" the same as
/// "the envelope's maximum over the last 200 ms is at least c".
pub fn active_speech_level(channels: &[&[f32]], sample_rate: f32) -> Option<ActiveLevel> {
    let input = Input::new(channels, sample_rate)?;
    if input.is_silent() {
        return None;
    }
    let n_ch = input.channels.len() as f64;
    let len = input.len();
    let sq: Vec<f64> = (0..len)
        .map(|i| input.channels.iter().map(|c| c[i] * c[i]).sum::<f64>() / n_ch)
        .collect();
    let total: f64 = sq.iter().sum();
    let g = (-1.0 / (input.sample_rate * P56_TIME_CONSTANT_S)).exp();
    let mut p = 0.0;
    let mut q = 0.0;
    let env: Vec<f64> = sq
        .iter()
        .map(|&s| {
            p = g * p + (1.0 - g) * s.sqrt();
            q = g * q + (1.0 - g) * p;
            q
        })
        .collect();
    let hangover = (P56_HANGOVER_S * input.sample_rate).round() as usize;
    // With the hangover, sample n is active for threshold c exactly when the
    // envelope reached c somewhere in [n − hangover, n]: a running maximum.
    let held = running_max(&env, hangover + 1);
    // count[j]: samples active at threshold −j dB, j = 0..=120.
    let mut count = [0usize; 121];
    for &m in &held {
        if m > 0.0 {
            let j = (-20.0 * m.log10()).ceil().max(0.0);
            if j <= 120.0 {
                count[j as usize] += 1;
            }
        }
    }
    for j in 1..count.len() {
        count[j] += count[j - 1];
    }
    // (threshold dB, active level dB, activity count), thresholds rising from
    // −120 dB; the first threshold whose margin is at most 15.9 dB wins (sv56).
    let mut prev: Option<(f64, f64, usize)> = None;
    for step in (0..=120usize).rev() {
        let c_db = -(step as f64);
        let count = count[step];
        if count == 0 {
            break;
        }
        let a_db = power_db(total / count as f64);
        let diff = a_db - c_db;
        if diff <= P56_MARGIN_DB {
            let (level, cnt) = match prev {
                Some((pc, pa, pcount)) => {
                    // Linear interpolation to the threshold where the margin is 15.9 dB.
                    let pdiff = pa - pc;
                    let t = ((pdiff - P56_MARGIN_DB) / (pdiff - diff)).clamp(0.0, 1.0);
                    (
                        pa + t * (a_db - pa),
                        pcount as f64 + t * (count as f64 - pcount as f64),
                    )
                }
                None => (a_db, count as f64),
            };
            return Some(ActiveLevel {
                level_db: level as f32,
                activity: (cnt / len as f64) as f32,
            });
        }
        prev = Some((c_db, a_db, count));
    }
    // Margin never reached: everything counts as active.
    Some(ActiveLevel {
        level_db: power_db(total / len as f64) as f32,
        activity: 1.0,
    })
}

/// `out[n] = max(x[n + 1 − width ..= n])` (the window shrinks at the start),
/// by the monotonic-deque method in O(n).
fn running_max(x: &[f64], width: usize) -> Vec<f64> {
    let width = width.max(1);
    let mut out = Vec::with_capacity(x.len());
    let mut deque = std::collections::VecDeque::<usize>::new();
    for (i, &v) in x.iter().enumerate() {
        while deque.back().is_some_and(|&j| x[j] <= v) {
            deque.pop_back();
        }
        deque.push_back(i);
        while deque.front().is_some_and(|&j| j + width <= i) {
            deque.pop_front();
        }
        out.push(deque.front().map_or(v, |&j| x[j]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::running_max;

    #[test]
    fn running_max_matches_the_naive_window() {
        let x: Vec<f64> = (0..200).map(|i| ((i * 37 % 101) as f64).sin()).collect();
        for width in [1, 2, 7, 50, 300] {
            let fast = running_max(&x, width);
            for n in 0..x.len() {
                let lo = (n + 1).saturating_sub(width);
                let naive = x[lo..=n].iter().cloned().fold(f64::MIN, f64::max);
                assert_eq!(fast[n], naive, "width {width} n {n}");
            }
        }
    }
}
