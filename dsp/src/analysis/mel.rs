//! The log-mel front end the audio encoder reads, computed the same way for training and at runtime.
//!
//! - Frames: periodic Hann window of [`MEL_WINDOW_S`] (25 ms), hop [`MEL_HOP_S`]
//!   (10 ms), both rounded to whole samples; FFT size the next power of two at
//!   or above the window length (zero-padded). No centre padding: frame `t`
//!   covers samples `t·hop .. t·hop + win`. Input shorter than one window gives
//!   one zero-padded frame; empty input gives no frame.
//! - Channels are averaged to mono first.
//! - Filterbank: [`MEL_BANDS`] (64) triangular filters of peak 1, equally spaced on
//!   the HTK mel scale `mel(f) = 2595·log10(1 + f/700)` (S. Young et al., *The
//!   HTK Book*; O'Shaughnessy 1987) between [`MEL_FMIN_HZ`] (20 Hz) and
//!   [`MEL_FMAX_HZ`] (20 kHz). The band layout is the same at every sample rate,
//!   so a band always means the same frequencies; the effective top is
//!   `min(20 kHz, Nyquist)`: bands whose upper edge is above Nyquist carry no
//!   content and read the floor. Adjacent triangles sum to 1, so band powers
//!   add up to the frame power between the first and last centres.
//! - Power: one-sided, scaled so that the bins of a frame sum to its windowed
//!   mean square (Parseval), so levels do not depend on the sample rate or the
//!   FFT size; a full-scale sine puts 0.5 into the bands around its frequency.
//! - Output: `log10(max(power, MEL_FLOOR))`, row-major `[n_frames, 64]`
//!   (frame-major: `out[t * 64 + m]`).

use realfft::RealFftPlanner;

use super::ltas::hann;
use super::Input;

/// Number of mel bands.
pub const MEL_BANDS: usize = 64;
/// Analysis window duration, s.
pub const MEL_WINDOW_S: f32 = 0.025;
/// Hop duration, s.
pub const MEL_HOP_S: f32 = 0.010;
/// Lowest filter edge, Hz.
pub const MEL_FMIN_HZ: f32 = 20.0;
/// Highest filter edge, Hz (before the Nyquist limit).
pub const MEL_FMAX_HZ: f32 = 20_000.0;
/// Power floor before the logarithm (−100 dB re full scale): output values are `≥ −10`.
pub const MEL_FLOOR: f32 = 1e-10;

/// HTK mel of `f_hz`.
pub fn hz_to_mel(f_hz: f64) -> f64 {
    2595.0 * (1.0 + f_hz / 700.0).log10()
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

/// The 66 filter points, Hz: point `m` and `m + 2` are the feet of band `m`,
/// point `m + 1` its peak.
pub fn mel_points_hz() -> [f32; MEL_BANDS + 2] {
    let lo = hz_to_mel(f64::from(MEL_FMIN_HZ));
    let hi = hz_to_mel(f64::from(MEL_FMAX_HZ));
    std::array::from_fn(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (MEL_BANDS + 1) as f64) as f32)
}

/// Peak (centre) frequency of each band, Hz.
pub fn mel_band_centers_hz() -> [f32; MEL_BANDS] {
    let p = mel_points_hz();
    std::array::from_fn(|m| p[m + 1])
}

/// Window length, hop and FFT size in samples at `sample_rate`.
pub fn mel_frame_geometry(sample_rate: f32) -> (usize, usize, usize) {
    let win = ((f64::from(MEL_WINDOW_S) * f64::from(sample_rate)).round() as usize).max(2);
    let hop = ((f64::from(MEL_HOP_S) * f64::from(sample_rate)).round() as usize).max(1);
    (win, hop, win.next_power_of_two())
}

/// Number of frames [`log_mel`] returns for `n_samples` at `sample_rate`:
/// 0 for no samples, 1 for fewer than a window, else `1 + (n − win) / hop`.
pub fn mel_frame_count(n_samples: usize, sample_rate: f32) -> usize {
    let (win, hop, _) = mel_frame_geometry(sample_rate);
    match n_samples {
        0 => 0,
        n if n < win => 1,
        n => 1 + (n - win) / hop,
    }
}

/// The encoder input: log10 mel power of `channels` at `sample_rate` Hz,
/// row-major `[n_frames, MEL_BANDS]` with `n_frames =`
/// [`mel_frame_count`]`(len, sample_rate)`. See the module docs.
///
/// Unusable input (rate outside the analysis range, no channels) gives an empty `Vec`.
pub fn log_mel(channels: &[&[f32]], sample_rate: f32) -> Vec<f32> {
    let Some(input) = Input::new(channels, sample_rate) else {
        return Vec::new();
    };
    let n_ch = input.channels.len() as f64;
    let mono: Vec<f64> = (0..input.len())
        .map(|i| input.channels.iter().map(|c| c[i]).sum::<f64>() / n_ch)
        .collect();
    let (win, hop, n_fft) = mel_frame_geometry(sample_rate);
    let n_frames = mel_frame_count(mono.len(), sample_rate);
    let w = hann(win);
    let w_energy: f64 = w.iter().map(|v| v * v).sum();
    let fb = filterbank(f64::from(sample_rate), n_fft);
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n_fft);
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let bins = n_fft / 2 + 1;
    let mut power = vec![0.0; bins];
    let log_floor = f64::from(MEL_FLOOR).log10() as f32;
    let mut out = vec![log_floor; n_frames * MEL_BANDS];
    let norm = 1.0 / (n_fft as f64 * w_energy);
    for t in 0..n_frames {
        let start = t * hop;
        buf.iter_mut().for_each(|b| *b = 0.0);
        for i in 0..win {
            buf[i] = mono.get(start + i).copied().unwrap_or(0.0) * w[i];
        }
        if fft
            .process_with_scratch(&mut buf, &mut spec, &mut scratch)
            .is_err()
        {
            continue;
        }
        for (k, c) in spec.iter().enumerate() {
            let scale = if k == 0 || k == bins - 1 { 1.0 } else { 2.0 };
            power[k] = scale * c.norm_sqr() * norm;
        }
        let row = &mut out[t * MEL_BANDS..(t + 1) * MEL_BANDS];
        for (m, band) in fb.iter().enumerate() {
            let Some(band) = band else { continue };
            let p: f64 = band
                .weights
                .iter()
                .enumerate()
                .map(|(j, wt)| wt * power[band.first_bin + j])
                .sum();
            row[m] = p.max(f64::from(MEL_FLOOR)).log10() as f32;
        }
    }
    out
}

/// One triangular filter as weights over consecutive FFT bins.
struct Band {
    first_bin: usize,
    weights: Vec<f64>,
}

/// The filterbank at `sample_rate` for an `n_fft`-point FFT; `None` for bands
/// whose upper foot lies above Nyquist.
fn filterbank(sample_rate: f64, n_fft: usize) -> Vec<Option<Band>> {
    let pts = mel_points_hz().map(f64::from);
    let nyquist = sample_rate / 2.0;
    let bin_hz = sample_rate / n_fft as f64;
    let bins = n_fft / 2 + 1;
    (0..MEL_BANDS)
        .map(|m| {
            let (lo, mid, hi) = (pts[m], pts[m + 1], pts[m + 2]);
            if hi > nyquist {
                return None;
            }
            let first = (lo / bin_hz).ceil() as usize;
            let last = ((hi / bin_hz).floor() as usize).min(bins - 1);
            let weights = (first..=last)
                .map(|k| {
                    let f = k as f64 * bin_hz;
                    if f <= mid {
                        (f - lo) / (mid - lo)
                    } else {
                        (hi - f) / (hi - mid)
                    }
                    .max(0.0)
                })
                .collect();
            Some(Band {
                first_bin: first,
                weights,
            })
        })
        .collect()
}
