//! What the restoration stages would find in a recording: noise floor and SNR, clicks,
//! clipping, sibilance — the measurements the helper decides those stages from.
//!
//! Each figure is measured with the detector the stage itself uses, run offline over the
//! whole recording, so "the analysis found 9 clicks" means "the de-clicker will repair 9
//! clicks" (at its default sensitivity):
//!
//! - **Noise floor** ([`RestorationMetrics::noise_floor_dbfs`]): the noise power tracked by
//!   the noise reducer's minima-controlled recursive averaging
//!   ([`crate::restore::denoise`]), converted to a signal power by Parseval, read every
//!   frame once the tracker has seen [`NOISE_WARMUP_S`] and summarised by its median over
//!   time (robust to the tracker's lag after level changes), in dBFS (mean square re
//!   full scale, 10·log10; a full-scale sine reads −3 dBFS).
//! - **SNR** ([`RestorationMetrics::snr_db`]): the ITU-T P.56 active speech level
//!   ([`super::loudness::active_speech_level`]) minus the noise floor, as a power ratio
//!   of (active − noise) to noise, clamped to [`SNR_MIN_DB`]`..=`[`SNR_MAX_DB`]; the same
//!   reference as the noise degradation ([`crate::degrade`]). Unlike the percentile
//!   estimate of [`super::purity`] it needs no pauses: the tracker follows the noise
//!   between harmonics and syllables.
//! - **Clicks** ([`RestorationMetrics::clicks`]): clicks the de-clicker
//!   ([`crate::restore::repair`], default sensitivity) detects, in the busier channel,
//!   with de-clipping on so a clipped plateau's corners are not counted.
//! - **Clipping** ([`RestorationMetrics::clipped_runs`], `clipped_fraction`,
//!   `clip_level_dbfs`): the de-clipper's runs (≥ 2 equal samples at the running ceiling,
//!   or single samples at a level such a run confirmed, or a straight plateau with
//!   corners where filters followed the clipper), all channels; the level is the
//!   highest run level, dBFS (sample peak, 20·log10).
//! - **Sibilance**: frames of [`SIBILANCE_FRAME_S`] (Hann, half overlap) whose power in
//!   [`SIBILANT_BAND_HZ`] (top at most 0.45·fs) is at least [`SIBILANT_SHARE_DB`] of the
//!   frame's power and that are within 50 dB of the loudest frame and 10 dB above the
//!   noise floor are *sibilant*. [`RestorationMetrics::sibilant_band_dbfs`] is the mean
//!   band power of those frames (dBFS — the de-esser's threshold scale),
//!   [`RestorationMetrics::sibilance_db`] that minus the active speech level (how far
//!   sibilants stand out of the voice), [`RestorationMetrics::sibilant_fraction`] their
//!   share of the active frames.
//! - **Hum** ([`RestorationMetrics::hum_hz`], `hum_harmonics`, `hum_db`): the mains
//!   tone and its harmonics, read on a *steady* spectrum — per frequency bin, the
//!   [`HUM_QUANTILE`] quantile over frames of about a second ([`hum`] has the details)
//!   — so that only what sounds all the time remains: a held tone does, a voice's
//!   harmonics (which move with its pitch) and a room's tail (which dies in the pauses)
//!   mostly do not. A harmonic `k` of 50 or 60 Hz *stands out* by its prominence: the
//!   peak within ±[`HUM_TOLERANCE`] of `k·f` over the median of the bins 5–15 % either
//!   side. Hum is found when the fundamental stands out by [`HUM_FUNDAMENTAL_DB`] or the
//!   second harmonic by [`HUM_HARMONIC_DB`] (a rectifier's hum may have little
//!   fundamental); `hum_harmonics` is then the highest `k` ≤ [`HUM_MAX_HARMONIC`]
//!   standing out by [`HUM_HARMONIC_DB`] (at least the one that was found), `hum_db` the
//!   largest prominence among them, `hum_hz` the mains frequency measured on that
//!   harmonic's peak (parabolic interpolation of the log spectrum, divided by `k`).
//!   Thresholds from the evaluation's audio and the project's speech corpus (263
//!   recordings, dry and through the real room responses): a voice's fundamental
//!   range reaches 11 dB at 50/60 Hz only in a room and its second harmonic 14 dB;
//!   hum at 15–50 dB SNR stands 18–23 dB out, and a recorded fan's 120 Hz tone 24–27 dB.
//!
//! Offline code: allocates; never on the audio thread. Total like the other measurements
//! (silence or an unsupported rate give [`RestorationMetrics::SILENT`]).

use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

use super::loudness::active_speech_level;
use super::{power_db, Input};
use crate::restore::{Denoiser, Repair};
use crate::state::{DeclickState, DeclipState};

/// Lowest reported SNR, dB.
pub const SNR_MIN_DB: f32 = -10.0;
/// Highest reported SNR, dB.
pub const SNR_MAX_DB: f32 = 80.0;
/// Noise floor readings start after this much audio, s (the tracker's minimum window).
pub const NOISE_WARMUP_S: f64 = 1.2;
/// Band in which sibilance is measured, Hz (top at most 0.45 × fs).
pub const SIBILANT_BAND_HZ: (f64, f64) = (4000.0, 10_000.0);
/// A frame is sibilant when the band holds at least this much of its power, dB (−4 dB:
/// 40 %).
pub const SIBILANT_SHARE_DB: f64 = -4.0;
/// Sibilance frame length, s.
pub const SIBILANCE_FRAME_S: f64 = 0.020;
/// Floor of every dB figure (no signal at all), dBFS.
pub const FLOOR_DBFS: f32 = -160.0;
/// Mains frequencies hum is looked for at, Hz.
pub const HUM_MAINS_HZ: [f64; 2] = [50.0, 60.0];
/// Highest harmonic the hum measurement reads.
pub const HUM_MAX_HARMONIC: u32 = 8;
/// Quantile over frames that makes the steady spectrum (0.2: what sounds at least
/// 80 % of the time).
pub const HUM_QUANTILE: f64 = 0.2;
/// A hum's fundamental stands out of its neighbourhood by at least this, dB.
pub const HUM_FUNDAMENTAL_DB: f64 = 15.0;
/// A hum's harmonic (k ≥ 2) stands out by at least this, dB.
pub const HUM_HARMONIC_DB: f64 = 18.0;
/// Relative tolerance of a harmonic's frequency (a grid off by 0.6 %).
pub const HUM_TOLERANCE: f64 = 0.006;

/// What the restoration stages would find (see the module docs for each figure).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestorationMetrics {
    /// Tracked broadband noise floor, dBFS (mean square).
    pub noise_floor_dbfs: f32,
    /// Active speech level over the noise floor, dB.
    pub snr_db: f32,
    /// Clicks the de-clicker detects (busier channel).
    pub clicks: u32,
    /// `clicks` per second of audio.
    pub clicks_per_second: f32,
    /// Clipped runs (all channels).
    pub clipped_runs: u32,
    /// Fraction of samples in clipped runs, 0..=1.
    pub clipped_fraction: f32,
    /// Highest clipped-run level, dBFS (sample peak); [`FLOOR_DBFS`] when none.
    pub clip_level_dbfs: f32,
    /// Mean 4–10 kHz power of the sibilant frames, dBFS; [`FLOOR_DBFS`] when none.
    pub sibilant_band_dbfs: f32,
    /// `sibilant_band_dbfs` minus the active speech level, dB; [`FLOOR_DBFS`] when none.
    pub sibilance_db: f32,
    /// Sibilant frames over active frames, 0..=1.
    pub sibilant_fraction: f32,
    /// Measured mains frequency of the hum found, Hz; 0 when none.
    #[serde(default)]
    pub hum_hz: f32,
    /// Highest harmonic of the hum that stands out (1 = the fundamental); 0 when none.
    #[serde(default)]
    pub hum_harmonics: u32,
    /// How far the hum's strongest harmonic stands out of its neighbourhood, dB; 0
    /// when none.
    #[serde(default)]
    pub hum_db: f32,
}

impl RestorationMetrics {
    /// The result for silence or unusable input: nothing to repair.
    pub const SILENT: RestorationMetrics = RestorationMetrics {
        noise_floor_dbfs: FLOOR_DBFS,
        snr_db: SNR_MAX_DB,
        clicks: 0,
        clicks_per_second: 0.0,
        clipped_runs: 0,
        clipped_fraction: 0.0,
        clip_level_dbfs: FLOOR_DBFS,
        sibilant_band_dbfs: FLOOR_DBFS,
        sibilance_db: FLOOR_DBFS,
        sibilant_fraction: 0.0,
        hum_hz: 0.0,
        hum_harmonics: 0,
        hum_db: 0.0,
    };
}

/// Measures `channels` (1 or 2, planar, full scale ±1) at `sample_rate` Hz.
pub fn restoration_metrics(channels: &[&[f32]], sample_rate: f32) -> RestorationMetrics {
    let Some(input) = Input::new(channels, sample_rate) else {
        return RestorationMetrics::SILENT;
    };
    if input.is_silent() {
        return RestorationMetrics::SILENT;
    }
    let planar = input.to_f32();
    let views: Vec<&[f32]> = planar.iter().map(Vec::as_slice).collect();
    let len = input.len();
    let seconds = len as f64 / input.sample_rate;

    let noise = noise_floor_power(&views, sample_rate);
    let noise_floor_dbfs = (power_db(noise) as f32).max(FLOOR_DBFS);
    let active = active_speech_level(&views, sample_rate);
    let snr_db = match active {
        Some(a) => {
            let total = 10f64.powf(f64::from(a.level_db) / 10.0);
            let signal = (total - noise).max(0.0);
            ((power_db(signal) - power_db(noise.max(1e-30))) as f32).clamp(SNR_MIN_DB, SNR_MAX_DB)
        }
        None => SNR_MIN_DB,
    };

    let repair = run_detectors(&views, sample_rate);
    let n_ch = views.len();
    let stats: Vec<_> = (0..n_ch).map(|c| repair.stats(c)).collect();
    let clicks = stats.iter().map(|s| s.clicks).max().unwrap_or(0) as u32;
    let clipped_runs = stats.iter().map(|s| s.clipped_runs).sum::<u64>() as u32;
    let clipped_samples: u64 = stats.iter().map(|s| s.clipped_samples).sum();
    let clip_level = stats.iter().map(|s| s.clip_level).fold(0.0f32, f32::max);

    let (sib_band, sib_fraction) = sibilance(&input, noise);
    let hum_found = hum_of(&input);
    let sibilant_band_dbfs = sib_band.map_or(FLOOR_DBFS, |p| power_db(p) as f32);
    let sibilance_db = match (sib_band, active) {
        (Some(p), Some(a)) => power_db(p) as f32 - a.level_db,
        _ => FLOOR_DBFS,
    };
    RestorationMetrics {
        noise_floor_dbfs,
        snr_db,
        clicks,
        clicks_per_second: (f64::from(clicks) / seconds.max(1e-9)) as f32,
        clipped_runs,
        clipped_fraction: (clipped_samples as f64 / (len * n_ch).max(1) as f64) as f32,
        clip_level_dbfs: if clip_level > 0.0 {
            20.0 * clip_level.log10()
        } else {
            FLOOR_DBFS
        },
        sibilant_band_dbfs,
        sibilance_db,
        sibilant_fraction: sib_fraction,
        hum_hz: hum_found.map_or(0.0, |h| h.hz as f32),
        hum_harmonics: hum_found.map_or(0, |h| h.harmonics),
        hum_db: hum_found.map_or(0.0, |h| h.db as f32),
    }
}

/// Hum found by [`hum`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hum {
    /// Measured mains frequency, Hz.
    pub hz: f64,
    /// Highest harmonic standing out.
    pub harmonics: u32,
    /// Largest prominence, dB.
    pub db: f64,
}

/// Looks for mains hum in `channels` (1 or 2, planar) at `sample_rate` Hz (module
/// docs: **Hum**). Frames of `N` = the power of two at or above the sample rate
/// (0.68–1 Hz bins), Hann window, hop `N/4`, channels' periodograms summed; `None` for
/// audio shorter than one frame, silence, or no hum.
pub fn hum(channels: &[&[f32]], sample_rate: f32) -> Option<Hum> {
    let input = Input::new(channels, sample_rate)?;
    if input.is_silent() {
        return None;
    }
    hum_of(&input)
}

fn hum_of(input: &Input) -> Option<Hum> {
    let sr = input.sample_rate;
    let n = (sr.ceil() as usize).next_power_of_two();
    let len = input.len();
    if len < n || sr < 4.0 * HUM_MAINS_HZ[1] {
        return None;
    }
    let bin_hz = sr / n as f64;
    let top_hz = (f64::from(HUM_MAX_HARMONIC) * HUM_MAINS_HZ[1] * 1.2).min(0.45 * sr);
    let bins = (top_hz / bin_hz).ceil() as usize + 2;
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let w = super::ltas::hann(n);
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut frames: Vec<Vec<f64>> = Vec::new();
    let mut start = 0;
    while start + n <= len {
        let mut p = vec![0.0f64; bins];
        for c in &input.channels {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = c[start + i] * w[i];
            }
            fft.process(&mut buf, &mut spec).ok()?;
            for (pk, y) in p.iter_mut().zip(&spec) {
                *pk += y.norm_sqr();
            }
        }
        frames.push(p);
        start += n / 4;
    }
    let steady: Vec<f64> = (0..bins)
        .map(|k| {
            let mut v: Vec<f64> = frames.iter().map(|f| f[k]).collect();
            v.sort_by(f64::total_cmp);
            let pos = HUM_QUANTILE * (v.len() - 1) as f64;
            let (i, t) = (pos.floor() as usize, pos.fract());
            let hi = v[(i + 1).min(v.len() - 1)];
            (v[i] + t * (hi - v[i])).max(1e-300)
        })
        .collect();
    let bin = |f: f64| ((f / bin_hz).round() as usize).min(bins - 1);
    // (prominence dB, peak bin) of harmonic frequency `fk`.
    let prominence = |fk: f64| -> (f64, usize) {
        let (lo, hi) = (
            bin(fk * (1.0 - HUM_TOLERANCE) - bin_hz),
            bin(fk * (1.0 + HUM_TOLERANCE) + bin_hz),
        );
        let peak = (lo..=hi)
            .max_by(|&a, &b| steady[a].total_cmp(&steady[b]))
            .unwrap_or(lo);
        let mut around: Vec<f64> = (bin(0.85 * fk)..bin(0.95 * fk))
            .chain(bin(1.05 * fk) + 1..=bin(1.15 * fk))
            .map(|k| steady[k])
            .collect();
        if around.is_empty() {
            return (0.0, peak);
        }
        around.sort_by(f64::total_cmp);
        let floor = around[around.len() / 2];
        (10.0 * (steady[peak] / floor).log10(), peak)
    };
    let mut best: Option<Hum> = None;
    for &mains in &HUM_MAINS_HZ {
        let top = (1..=HUM_MAX_HARMONIC)
            .take_while(|&k| f64::from(k) * mains * 1.15 < top_hz)
            .last()
            .unwrap_or(0);
        if top < 2 {
            continue;
        }
        let reads: Vec<(f64, usize)> = (1..=top)
            .map(|k| prominence(f64::from(k) * mains))
            .collect();
        if reads[0].0 < HUM_FUNDAMENTAL_DB && reads[1].0 < HUM_HARMONIC_DB {
            continue;
        }
        let stands = |k: usize| {
            reads[k].0
                >= if k == 0 {
                    HUM_FUNDAMENTAL_DB
                } else {
                    HUM_HARMONIC_DB
                }
        };
        let harmonics = (0..reads.len()).filter(|&k| stands(k)).max().unwrap_or(0) + 1;
        let (k_best, &(db, peak)) = reads
            .iter()
            .enumerate()
            .filter(|&(k, _)| stands(k))
            .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))?;
        // Parabolic interpolation of the log spectrum around the peak bin.
        let delta = if peak > 0 && peak + 1 < bins {
            let (a, b, c) = (
                steady[peak - 1].ln(),
                steady[peak].ln(),
                steady[peak + 1].ln(),
            );
            let den = a - 2.0 * b + c;
            if den < 0.0 {
                (0.5 * (a - c) / den).clamp(-0.5, 0.5)
            } else {
                0.0
            }
        } else {
            0.0
        };
        let hz = ((peak as f64 + delta) * bin_hz / (k_best + 1) as f64).clamp(
            mains * (1.0 - 2.0 * HUM_TOLERANCE),
            mains * (1.0 + 2.0 * HUM_TOLERANCE),
        );
        if best.is_none_or(|b| db > b.db) {
            best = Some(Hum {
                hz,
                harmonics: harmonics as u32,
                db,
            });
        }
    }
    best
}

/// Median (over frames after the warm-up) of the tracked noise power; falls back to the
/// last reading for recordings shorter than the warm-up.
fn noise_floor_power(views: &[&[f32]], sample_rate: f32) -> f64 {
    let mut d = Denoiser::new(sample_rate, views.len());
    let hop = d.frame_len() / 4;
    let len = views[0].len();
    let warm = (NOISE_WARMUP_S * f64::from(sample_rate)) as usize;
    let mut readings = Vec::with_capacity(len / hop + 1);
    let mut bufs: Vec<Vec<f32>> = views.iter().map(|c| c.to_vec()).collect();
    let mut start = 0;
    let mut last = 0.0f64;
    while start < len {
        let end = (start + hop).min(len);
        let mut slices: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[start..end]).collect();
        d.process(&mut slices);
        last = f64::from(d.noise_power());
        if end >= warm {
            readings.push(last);
        }
        start = end;
    }
    if readings.is_empty() {
        return last;
    }
    readings.sort_by(f64::total_cmp);
    readings[readings.len() / 2]
}

/// Runs the repair stage's detectors (de-clip and de-click on) over the recording.
fn run_detectors(views: &[&[f32]], sample_rate: f32) -> Repair {
    let mut r = Repair::new(sample_rate, views.len());
    r.set_target(
        &DeclipState { enabled: true },
        &DeclickState {
            enabled: true,
            ..DeclickState::default()
        },
    );
    let mut bufs: Vec<Vec<f32>> = views.iter().map(|c| c.to_vec()).collect();
    // Flush the lookahead with silence so damage at the very end is seen.
    let tail = r.latency_samples() + 1;
    for b in bufs.iter_mut() {
        b.extend(std::iter::repeat_n(0.0, tail));
    }
    let mut slices: Vec<&mut [f32]> = bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
    r.process(&mut slices);
    r
}

/// Mean band power of the sibilant frames (None when there are none) and their share of
/// the active frames.
fn sibilance(input: &Input, noise: f64) -> (Option<f64>, f32) {
    let sr = input.sample_rate;
    let n = ((SIBILANCE_FRAME_S * sr).round() as usize).max(16);
    let hop = n / 2;
    let len = input.len();
    if len < n {
        return (None, 0.0);
    }
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let w = super::ltas::hann(n);
    let w_energy: f64 = w.iter().map(|v| v * v).sum();
    let bin_hz = sr / n as f64;
    let k0 = (SIBILANT_BAND_HZ.0 / bin_hz).ceil() as usize;
    let k1 = ((SIBILANT_BAND_HZ.1.min(0.45 * sr)) / bin_hz).floor() as usize;
    if k1 <= k0 {
        return (None, 0.0);
    }
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut frames = Vec::new();
    let mut start = 0;
    while start + n <= len {
        let (mut band, mut total) = (0.0, 0.0);
        for c in &input.channels {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = c[start + i] * w[i];
            }
            if fft.process(&mut buf, &mut spec).is_err() {
                return (None, 0.0);
            }
            for (k, y) in spec.iter().enumerate() {
                let p = y.norm_sqr() * if k == 0 || k == n / 2 { 1.0 } else { 2.0 };
                total += p;
                if (k0..=k1).contains(&k) {
                    band += p;
                }
            }
        }
        // Periodogram to mean-square power: Parseval, window energy, channels.
        let scale = 1.0 / (n as f64 * w_energy * input.channels.len() as f64);
        frames.push((band * scale, total * scale));
        start += hop;
    }
    let loudest = frames.iter().map(|f| f.1).fold(0.0f64, f64::max);
    let gate = (loudest * 1e-5).max(noise * 10.0);
    let active: Vec<&(f64, f64)> = frames.iter().filter(|f| f.1 > gate).collect();
    let share = 10f64.powf(SIBILANT_SHARE_DB / 10.0);
    let sib: Vec<f64> = active
        .iter()
        .filter(|f| f.0 >= share * f.1)
        .map(|f| f.0)
        .collect();
    if sib.is_empty() {
        return (None, 0.0);
    }
    let mean = sib.iter().sum::<f64>() / sib.len() as f64;
    (Some(mean), sib.len() as f32 / active.len().max(1) as f32)
}
