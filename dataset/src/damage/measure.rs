//! What each kind of damage measurably does, with faurge-dsp's analysis: one
//! figure per kind that the damage moves in a known direction, so tests (and the
//! evaluation) can check that training and held-out implementations of a kind
//! do the same thing.
//!
//! [`effect`] compares a damaged signal with its clean original and returns a
//! number that is **positive when the damage did what its kind says** (in the
//! figure's unit). Band figures use `T_LTAS` ([`faurge_dsp::analysis::ltas`]):
//! the power of the LTAS bands whose centres lie in a range, in dB.

use faurge_dsp::analysis::dynamics::dynamics;
use faurge_dsp::analysis::loudness::active_speech_level;
use faurge_dsp::analysis::ltas::{ltas, ltas_band_centers_hz, LTAS_BANDS, LTAS_FLOOR_DB};
use faurge_dsp::analysis::purity::purity;
use faurge_dsp::biquad::{BiquadState, Coefficients};
use faurge_dsp::state::BandKind;

use super::Kind;

/// The figure [`effect`] reports for a kind, and its unit. `ΔL` is the change
/// of the level-normalized `T_LTAS` per band (damaged − clean, dB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// Largest `ΔL` of the bands centred in 60–250 Hz minus the mean `ΔL` of 1–4 kHz, dB.
    LowOverMid,
    /// Mean `ΔL` of 1–4 kHz minus the mean `ΔL` of 60–250 Hz, dB.
    LowLoss,
    /// Largest `ΔL` in 200–500 Hz minus the mean `ΔL` of 2–8 kHz, dB.
    MudOverPresence,
    /// Largest `ΔL` in 4–10 kHz minus the mean `ΔL` of 0.5–2 kHz, dB.
    SibilanceOverMid,
    /// The larger of the falls of the mean `ΔL` in 60–200 Hz and in 6–16 kHz
    /// re the mean `ΔL` of 0.5–2 kHz, dB (a high-pass, a low-pass, or both).
    OutOfBandLoss,
    /// RMS change of the level-normalized LTAS over the bands below 0.45 × fs, dB.
    LtasChange,
    /// Rise of the purity's spectral ripple, dB ([`faurge_dsp::analysis::Purity::spectral_ripple_db`]).
    Ripple,
    /// Fall of the purity's SNR estimate, dB.
    SnrLoss,
    /// Fall of the spread of 20 ms frame levels above 300 Hz ([`level_spread_db`]),
    /// dB: reverberation fills the pauses.
    LevelSpreadLoss,
    /// Rise of the purity's clicks per second.
    Clicks,
    /// Fall of the crest factor, dB.
    CrestLoss,
}

impl Figure {
    /// The figure that shows `kind`.
    pub fn of(kind: Kind) -> Figure {
        match kind {
            Kind::Boom => Figure::LowOverMid,
            Kind::Thin => Figure::LowLoss,
            Kind::Muddy => Figure::MudOverPresence,
            Kind::Sibilant => Figure::SibilanceOverMid,
            Kind::BandLimit => Figure::OutOfBandLoss,
            Kind::LowShelf | Kind::HighShelf | Kind::Peak | Kind::Tilt => Figure::LtasChange,
            Kind::Comb | Kind::Reflections => Figure::Ripple,
            Kind::Room => Figure::LevelSpreadLoss,
            Kind::Noise | Kind::RecordedNoise | Kind::Hum => Figure::SnrLoss,
            Kind::PeriodicClicks
            | Kind::RandomClicks
            | Kind::Crackle
            | Kind::Spikes
            | Kind::DcBoops => Figure::Clicks,
            Kind::HardClip | Kind::SoftClip | Kind::AsymmetricClip => Figure::CrestLoss,
        }
    }
}

/// Power of the LTAS bands with centres in `lo..hi` Hz, dB (re the LTAS total);
/// `None` when no valid band is in range.
pub fn band_power_db(l: &[f32; LTAS_BANDS], lo: f32, hi: f32) -> Option<f64> {
    let c = ltas_band_centers_hz();
    let p: f64 = (0..LTAS_BANDS)
        .filter(|&i| c[i] >= lo && c[i] < hi && l[i] > LTAS_FLOOR_DB)
        .map(|i| 10f64.powf(f64::from(l[i]) / 10.0))
        .sum();
    (p > 0.0).then(|| 10.0 * p.log10())
}

/// `10·log10` of the mean square of `damaged − clean` over all channels, dB re
/// full scale (−300 for no difference): the level of what a damage added.
pub fn added_level_db(clean: &[&[f32]], damaged: &[&[f32]]) -> f64 {
    let (mut e, mut n) = (0.0, 0usize);
    for (c, d) in clean.iter().zip(damaged) {
        for (x, y) in c.iter().zip(d.iter()) {
            let v = f64::from(*y) - f64::from(*x);
            e += v * v;
            n += 1;
        }
    }
    10.0 * (e / n.max(1) as f64).max(1e-30).log10()
}

/// The SNR of an additive damage: the clean signal's P.56 active speech level
/// (first two channels) minus [`added_level_db`], dB.
pub fn additive_snr_db(clean: &[&[f32]], damaged: &[&[f32]], sample_rate: f32) -> f64 {
    let n = clean.len().min(faurge_dsp::MAX_CHANNELS);
    let level =
        active_speech_level(&clean[..n], sample_rate).map_or(-30.0, |a| f64::from(a.level_db));
    level - added_level_db(clean, damaged)
}

/// Spread of 20 ms frame levels (mean over channels, 10 ms hop) of the signal
/// high-passed at 300 Hz (cookbook 2nd order, Q 0.707): the 95th minus the
/// 10th percentile, dB. The high-pass keeps a recording's low-frequency rumble
/// floor (and a RIR's lack of bass) out of the figure.
pub fn level_spread_db(x: &[&[f32]], sample_rate: f32) -> f64 {
    let hp = Coefficients::design(
        BandKind::HighPass,
        300.0,
        0.0,
        std::f64::consts::FRAC_1_SQRT_2,
        f64::from(sample_rate),
    );
    let filtered: Vec<Vec<f32>> = x
        .iter()
        .map(|c| {
            let mut v = c.to_vec();
            BiquadState::default().process(&hp, &mut v);
            v
        })
        .collect();
    let x: Vec<&[f32]> = filtered.iter().map(Vec::as_slice).collect();
    let x = &x[..];
    let win = ((0.02 * sample_rate) as usize).max(2);
    let hop = (win / 2).max(1);
    let len = x.iter().map(|c| c.len()).min().unwrap_or(0);
    if len < win || x.is_empty() {
        return 0.0;
    }
    let mut levels: Vec<f64> = (0..=(len - win) / hop)
        .map(|t| {
            let e: f64 = x
                .iter()
                .map(|c| {
                    c[t * hop..t * hop + win]
                        .iter()
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum::<f64>()
                })
                .sum();
            10.0 * (e / (win * x.len()) as f64).max(1e-20).log10()
        })
        .collect();
    levels.sort_by(f64::total_cmp);
    let q = |p: f64| levels[((levels.len() - 1) as f64 * p).round() as usize];
    q(0.95) - q(0.10)
}

/// `ΔL` per LTAS band (damaged − clean), `None` for bands invalid in either or
/// centred above 0.45 × the rate.
fn delta_ltas(clean: &[&[f32]], damaged: &[&[f32]], sr: f32) -> Vec<Option<f64>> {
    let (a, b) = (ltas(clean, sr), ltas(damaged, sr));
    let c = ltas_band_centers_hz();
    (0..LTAS_BANDS)
        .map(|i| {
            (c[i] < 0.45 * sr && a[i] > LTAS_FLOOR_DB && b[i] > LTAS_FLOOR_DB)
                .then(|| f64::from(b[i]) - f64::from(a[i]))
        })
        .collect()
}

/// The `ΔL` values of the bands centred in `lo..hi` Hz.
fn in_range(d: &[Option<f64>], lo: f32, hi: f32) -> Vec<f64> {
    let c = ltas_band_centers_hz();
    (0..LTAS_BANDS)
        .filter(|&i| c[i] >= lo && c[i] < hi)
        .filter_map(|i| d[i])
        .collect()
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn max(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

fn figure_of(fig: Figure, x: &[&[f32]], sr: f32) -> f64 {
    match fig {
        Figure::LowOverMid
        | Figure::LowLoss
        | Figure::MudOverPresence
        | Figure::SibilanceOverMid
        | Figure::OutOfBandLoss
        | Figure::LtasChange => 0.0,
        Figure::LevelSpreadLoss => level_spread_db(x, sr),
        Figure::Ripple => f64::from(purity(x, sr).spectral_ripple_db),
        Figure::SnrLoss => f64::from(purity(x, sr).snr_db),
        Figure::Clicks => f64::from(purity(x, sr).clicks_per_second),
        Figure::CrestLoss => f64::from(dynamics(x, sr).crest_factor_db),
    }
}

/// How far `damaged` moved from `clean` in the direction of `kind`'s [`Figure`]:
/// positive when the damage shows (e.g. a boom raised 60–250 Hz re 1–4 kHz by
/// that many dB; clicks added that many per second). `clean` and `damaged`: the
/// same planar layout (1 or 2 channels measured) at `sample_rate` Hz.
pub fn effect(kind: Kind, clean: &[&[f32]], damaged: &[&[f32]], sample_rate: f32) -> f64 {
    let fig = Figure::of(kind);
    let sr = sample_rate;
    let band = |peak: (f32, f32), reference: (f32, f32), largest: bool| -> f64 {
        let d = delta_ltas(clean, damaged, sr);
        let a = in_range(&d, peak.0, peak.1);
        let b = mean(&in_range(&d, reference.0, reference.1));
        let a = if largest { max(&a) } else { mean(&a) };
        match (a, b) {
            (Some(a), Some(b)) => a - b,
            _ => 0.0,
        }
    };
    match fig {
        Figure::LowOverMid => band((60.0, 250.0), (1000.0, 4000.0), true),
        Figure::LowLoss => -band((60.0, 250.0), (1000.0, 4000.0), false),
        Figure::MudOverPresence => band((200.0, 500.0), (2000.0, 8000.0), true),
        Figure::SibilanceOverMid => band((4000.0, 10_000.0), (500.0, 2000.0), true),
        Figure::OutOfBandLoss => {
            let low = -band((60.0, 200.0), (500.0, 2000.0), false);
            let high = -band((6000.0, 16_000.0), (500.0, 2000.0), false);
            low.max(high)
        }
        Figure::LtasChange => {
            let d: Vec<f64> = delta_ltas(clean, damaged, sr)
                .into_iter()
                .flatten()
                .collect();
            let Some(mu) = mean(&d) else {
                return 0.0;
            };
            (d.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / d.len() as f64).sqrt()
        }
        _ => {
            let before = figure_of(fig, clean, sr);
            let after = figure_of(fig, damaged, sr);
            match fig {
                Figure::SnrLoss | Figure::CrestLoss | Figure::LevelSpreadLoss => before - after,
                _ => after - before,
            }
        }
    }
}
