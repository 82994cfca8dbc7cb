//! Long-term average spectrum (`T_LTAS`, 64 bands) and the high-resolution spectrum (Genesis' input).
//!
//! Method: Welch's averaged periodogram (P. D. Welch, "The use of fast Fourier
//! transform for the estimation of power spectra", IEEE Trans. Audio
//! Electroacoust. 15(2), 1967) with a periodic Hann window of fixed *duration*
//! ([`LTAS_WINDOW_S`], [`SPECTRUM_WINDOW_S`]) and 50 % overlap, so the frequency
//! resolution is the same at every sample rate. Channels are summed in power.
//! The per-bin power is scaled so that it sums to the mean square (Parseval).
//!
//! Each band's power is the integral of that spectrum over the band, each FFT bin
//! being taken as constant over its width (`fs / N`) and weighted by its overlap
//! with the band. Bands narrower than a bin therefore still get a smooth,
//! unbiased value instead of zero. Values are in dB relative to the sum over the
//! valid bands (so a gain change leaves them unchanged, and `Σ 10^(L/10) = 1`
//! over the valid bands). Power below the lowest or above the highest band edge
//! (DC offset, rumble, ultrasonics) does not enter.
//!
//! A band is *valid* when its upper edge lies at or below the bandwidth in use
//! (Nyquist by default; a caller can give a source's real bandwidth, see
//! [`ltas_with_bandwidth`]). Invalid bands, bands below the floor and all bands of
//! silent input read [`LTAS_FLOOR_DB`].

use realfft::RealFftPlanner;

use super::{power_db, Input};

/// Number of `T_LTAS` bands.
pub const LTAS_BANDS: usize = 64;
/// Lower edge of the lowest LTAS band, Hz.
pub const LTAS_MIN_HZ: f32 = 40.0;
/// Upper edge of the highest LTAS band, Hz.
pub const LTAS_MAX_HZ: f32 = 20_000.0;
/// Welch window duration for the LTAS, seconds (5 Hz bins at every rate).
pub const LTAS_WINDOW_S: f32 = 0.2;
/// Value of bands with no content (above the bandwidth, silent input, or more
/// than 100 dB below the total), dB.
pub const LTAS_FLOOR_DB: f32 = -100.0;

/// Dynamic range below the spectral maximum that [`effective_bandwidth_hz`]
/// still counts as content, dB.
pub const BANDWIDTH_RANGE_DB: f64 = 70.0;

/// Number of bands of [`spectrum_db`].
pub const SPECTRUM_BANDS: usize = 256;
/// Lower edge of the lowest [`spectrum_db`] band, Hz.
pub const SPECTRUM_MIN_HZ: f32 = 20.0;
/// Upper edge of the highest [`spectrum_db`] band, Hz.
pub const SPECTRUM_MAX_HZ: f32 = 20_000.0;
/// Welch window duration for [`spectrum_db`], seconds (2 Hz bins at every rate).
pub const SPECTRUM_WINDOW_S: f32 = 0.5;
/// Value of [`spectrum_db`] bands with no content, dB.
pub const SPECTRUM_FLOOR_DB: f32 = -100.0;

/// `n + 1` log-spaced edges from `lo` to `hi` (exact at both ends), Hz.
fn log_edges(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..=n)
        .map(|i| {
            if i == n {
                hi
            } else {
                lo * (hi / lo).powf(i as f64 / n as f64)
            }
        })
        .collect()
}

/// The 65 LTAS band edges, Hz: `40 · 500^(i/64)` for `i = 0..=64`
/// (about 7.1 bands per octave, 0.14 octave each). Band `i` spans `edges[i]..edges[i+1]`.
pub fn ltas_band_edges_hz() -> [f32; LTAS_BANDS + 1] {
    let e = log_edges(f64::from(LTAS_MIN_HZ), f64::from(LTAS_MAX_HZ), LTAS_BANDS);
    std::array::from_fn(|i| e[i] as f32)
}

/// The 64 LTAS band centres, Hz: the geometric mean of each band's edges.
pub fn ltas_band_centers_hz() -> [f32; LTAS_BANDS] {
    let e = log_edges(f64::from(LTAS_MIN_HZ), f64::from(LTAS_MAX_HZ), LTAS_BANDS);
    std::array::from_fn(|i| (e[i] * e[i + 1]).sqrt() as f32)
}

/// Which LTAS bands lie entirely at or below `bandwidth_hz` (upper edge ≤ bandwidth).
///
/// The training pipeline masks the others: a 16 kHz LibriSpeech source has
/// `bandwidth_hz = 8000` and only its lower bands carry information. A NaN or
/// non-positive bandwidth gives no valid band.
pub fn ltas_bands_below(bandwidth_hz: f32) -> [bool; LTAS_BANDS] {
    let e = log_edges(f64::from(LTAS_MIN_HZ), f64::from(LTAS_MAX_HZ), LTAS_BANDS);
    valid_bands(&e, f64::from(bandwidth_hz))
        .try_into()
        .unwrap_or([false; LTAS_BANDS])
}

/// The 257 [`spectrum_db`] band edges, Hz: `20 · 1000^(i/256)` (25.6 bands per octave).
pub fn spectrum_band_edges_hz() -> Vec<f32> {
    log_edges(
        f64::from(SPECTRUM_MIN_HZ),
        f64::from(SPECTRUM_MAX_HZ),
        SPECTRUM_BANDS,
    )
    .into_iter()
    .map(|v| v as f32)
    .collect()
}

/// The 256 [`spectrum_db`] band centres (geometric means of the edges), Hz.
pub fn spectrum_band_centers_hz() -> [f32; SPECTRUM_BANDS] {
    let e = log_edges(
        f64::from(SPECTRUM_MIN_HZ),
        f64::from(SPECTRUM_MAX_HZ),
        SPECTRUM_BANDS,
    );
    std::array::from_fn(|i| (e[i] * e[i + 1]).sqrt() as f32)
}

fn valid_bands(edges: &[f64], bandwidth_hz: f64) -> Vec<bool> {
    edges
        .windows(2)
        .map(|w| bandwidth_hz.is_finite() && w[1] <= bandwidth_hz * (1.0 + 1e-9))
        .collect()
}

/// `T_LTAS`: the long-term average spectrum of `channels` in the 64 bands of
/// [`ltas_band_edges_hz`], dB relative to the total power in the valid bands.
///
/// Bands above Nyquist (`sample_rate / 2`) read [`LTAS_FLOOR_DB`]; silent input
/// reads [`LTAS_FLOOR_DB`] everywhere. Level independent: scaling the input by any
/// gain leaves the result unchanged. See the module docs for the method.
pub fn ltas(channels: &[&[f32]], sample_rate: f32) -> [f32; LTAS_BANDS] {
    ltas_with_bandwidth(channels, sample_rate, f32::INFINITY)
}

/// [`ltas`] for a source whose real content stops at `bandwidth_hz` (below
/// Nyquist): bands above `min(bandwidth_hz, sample_rate / 2)` read
/// [`LTAS_FLOOR_DB`] and are left out of the normalization, so the valid bands
/// of a band-limited source and of a full-band one are on the same footing.
pub fn ltas_with_bandwidth(
    channels: &[&[f32]],
    sample_rate: f32,
    bandwidth_hz: f32,
) -> [f32; LTAS_BANDS] {
    let edges = log_edges(f64::from(LTAS_MIN_HZ), f64::from(LTAS_MAX_HZ), LTAS_BANDS);
    let v = relative_band_db(
        channels,
        sample_rate,
        bandwidth_hz,
        &edges,
        LTAS_WINDOW_S,
        LTAS_FLOOR_DB,
    );
    v.try_into().unwrap_or([LTAS_FLOOR_DB; LTAS_BANDS])
}

/// A high-resolution long-term spectrum: 256 log-spaced bands from 20 Hz to
/// 20 kHz ([`spectrum_band_edges_hz`]), dB relative to the total power in the valid
/// bands, Welch with a 0.5 s Hann window. Same conventions as [`ltas`]
/// (bands above Nyquist and silence read [`SPECTRUM_FLOOR_DB`]). Genesis reads it.
pub fn spectrum_db(channels: &[&[f32]], sample_rate: f32) -> [f32; SPECTRUM_BANDS] {
    let edges = spectrum_edges();
    let v = relative_band_db(
        channels,
        sample_rate,
        f32::INFINITY,
        &edges,
        SPECTRUM_WINDOW_S,
        SPECTRUM_FLOOR_DB,
    );
    v.try_into().unwrap_or([SPECTRUM_FLOOR_DB; SPECTRUM_BANDS])
}

/// An estimate of where a recording's content ends, Hz: the highest frequency
/// at which the long-term spectrum (Welch, [`LTAS_WINDOW_S`] Hann, in
/// 1/24-octave bands, median over ±1/12 octave) is within [`BANDWIDTH_RANGE_DB`] of its maximum between 100 Hz and Nyquist.
///
/// Meant for finding the real bandwidth of a source before calling
/// [`ltas_with_bandwidth`] (an MP3-derived 16 kHz file may stop near 7 kHz).
/// Returns Nyquist for a full-band recording and 0 for silence.
pub fn effective_bandwidth_hz(channels: &[&[f32]], sample_rate: f32) -> f32 {
    let Some(input) = Input::new(channels, sample_rate) else {
        return 0.0;
    };
    if input.is_silent() {
        return 0.0;
    }
    let psd = welch_psd(&input, f64::from(LTAS_WINDOW_S));
    let nyquist = input.sample_rate / 2.0;
    // 1/24-octave bands centred on 100 Hz · 2^(i/24), up to Nyquist.
    let lo = 100.0f64;
    let half = 2f64.powf(1.0 / 48.0);
    let n_bands = ((nyquist / half / lo).log2() * 24.0).floor().max(0.0) as usize + 1;
    let centers: Vec<f64> = (0..n_bands)
        .map(|i| lo * 2f64.powf(i as f64 / 24.0))
        .collect();
    let edges: Vec<f64> = (0..=n_bands)
        .map(|i| (lo * 2f64.powf((i as f64 - 0.5) / 24.0)).min(nyquist))
        .collect();
    let density: Vec<f64> = psd
        .band_powers(&edges)
        .iter()
        .zip(edges.windows(2))
        .map(|(p, w)| p / (w[1] - w[0]).max(1e-9))
        .collect();
    // Median over ±1/12 octave: robust to single bands, and it keeps a cliff in place.
    let smooth: Vec<f64> = (0..density.len())
        .map(|i| {
            let a = i.saturating_sub(2);
            let b = (i + 3).min(density.len());
            let mut w = density[a..b].to_vec();
            w.sort_by(f64::total_cmp);
            w[w.len() / 2]
        })
        .collect();
    let max = smooth.iter().cloned().fold(0.0, f64::max);
    if max <= 0.0 {
        return 0.0;
    }
    let limit = max * 10f64.powf(-BANDWIDTH_RANGE_DB / 10.0);
    match smooth.iter().rposition(|&d| d >= limit) {
        Some(last) if last + 1 < smooth.len() => (centers[last] * half).min(nyquist) as f32,
        Some(_) => nyquist as f32,
        None => 0.0,
    }
}

/// Band powers relative to their valid-band sum, dB, floored at `floor_db`.
fn relative_band_db(
    channels: &[&[f32]],
    sample_rate: f32,
    bandwidth_hz: f32,
    edges: &[f64],
    window_s: f32,
    floor_db: f32,
) -> Vec<f32> {
    let Some(input) = Input::new(channels, sample_rate) else {
        return vec![floor_db; edges.len() - 1];
    };
    if input.is_silent() {
        return vec![floor_db; edges.len() - 1];
    }
    let psd = welch_psd(&input, f64::from(window_s));
    relative_band_db_of(&psd, &input, bandwidth_hz, edges, floor_db)
}

/// [`relative_band_db`] from an already computed spectrum of `input`.
pub(crate) fn relative_band_db_of(
    psd: &Psd,
    input: &Input,
    bandwidth_hz: f32,
    edges: &[f64],
    floor_db: f32,
) -> Vec<f32> {
    let floor = vec![floor_db; edges.len() - 1];
    let bw = if bandwidth_hz.is_nan() {
        0.0
    } else {
        f64::from(bandwidth_hz).min(input.sample_rate / 2.0)
    };
    let valid = valid_bands(edges, bw);
    let powers = psd.band_powers(edges);
    let total: f64 = powers
        .iter()
        .zip(&valid)
        .filter(|(_, &v)| v)
        .map(|(p, _)| p)
        .sum();
    if total <= input.mean_square() * 1e-20 || total <= 0.0 {
        return floor;
    }
    powers
        .iter()
        .zip(&valid)
        .map(|(&p, &v)| {
            if v {
                (power_db(p / total) as f32).max(floor_db)
            } else {
                floor_db
            }
        })
        .collect()
}

/// The [`spectrum_db`] band edges as `f64`, Hz.
pub(crate) fn spectrum_edges() -> Vec<f64> {
    log_edges(
        f64::from(SPECTRUM_MIN_HZ),
        f64::from(SPECTRUM_MAX_HZ),
        SPECTRUM_BANDS,
    )
}

/// A one-sided power spectrum: `power[k]` is the mean power in bin `k`
/// (centre `k · bin_hz`), summed over channels; `Σ power ≈ mean square · channels`.
pub(crate) struct Psd {
    /// Power per bin.
    pub power: Vec<f64>,
    /// Bin spacing, Hz.
    pub bin_hz: f64,
}

impl Psd {
    /// Power integrated over each band `edges[i]..edges[i+1]` (Hz), each bin
    /// spreading its power uniformly over `(k ± 0.5) · bin_hz`.
    pub fn band_powers(&self, edges: &[f64]) -> Vec<f64> {
        let d = self.bin_hz;
        let n = self.power.len();
        edges
            .windows(2)
            .map(|w| {
                let (lo, hi) = (w[0], w[1]);
                if hi <= lo {
                    return 0.0;
                }
                let k0 = ((lo / d) - 0.5).floor().max(0.0) as usize;
                let k1 = (((hi / d) + 0.5).ceil() as usize).min(n);
                (k0..k1)
                    .map(|k| {
                        let b_lo = (k as f64 - 0.5) * d;
                        let b_hi = (k as f64 + 0.5) * d;
                        let overlap = (hi.min(b_hi) - lo.max(b_lo)).max(0.0);
                        self.power[k] * overlap / d
                    })
                    .sum()
            })
            .collect()
    }
}

/// Periodic Hann window of length `n`.
pub(crate) fn hann(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect()
}

/// Welch PSD with a Hann window of `window_s` seconds and 50 % overlap. Input
/// shorter than one window is zero-padded to one segment.
pub(crate) fn welch_psd(input: &Input, window_s: f64) -> Psd {
    let n = ((window_s * input.sample_rate).round() as usize).max(16);
    let n = n + n % 2; // even length: the Nyquist bin exists.
    let hop = n / 2;
    let w = hann(n);
    let w_energy: f64 = w.iter().map(|v| v * v).sum();
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let bins = n / 2 + 1;
    let mut power = vec![0.0; bins];
    let len = input.len();
    let n_seg = if len <= n { 1 } else { 1 + (len - n) / hop };
    for ch in &input.channels {
        for s in 0..n_seg {
            let start = s * hop;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = ch.get(start + i).copied().unwrap_or(0.0) * w[i];
            }
            if fft
                .process_with_scratch(&mut buf, &mut spec, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (k, c) in spec.iter().enumerate() {
                let edge = k == 0 || k == bins - 1;
                let scale = if edge { 1.0 } else { 2.0 };
                power[k] += scale * c.norm_sqr();
            }
        }
    }
    let norm = 1.0 / (n as f64 * w_energy * n_seg as f64);
    for p in &mut power {
        *p *= norm;
    }
    Psd {
        power,
        bin_hz: input.sample_rate / n as f64,
    }
}
