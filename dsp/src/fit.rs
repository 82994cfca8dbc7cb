//! Fitting the 8-band EQ to a wanted magnitude curve: what the dataset generator uses
//! to render a target through the chain, what the loop's reference matching and the
//! evaluation's generic auto-EQ baseline use.
//!
//! The curve is given at the 64 LTAS band centres (dB, up to a constant: LTAS are
//! level-normalized), with a weight per band (0 for bands above a recording's
//! bandwidth). The fit is least squares in dB over the weighted bands with a free
//! offset, by Gauss–Newton on the band gains (finite-difference Jacobian of
//! [`Eq::magnitude_db`], a small ridge, gains clamped to ±[`FIT_MAX_GAIN_DB`]);
//! frequencies and Q stay as given. High- and low-pass corners are found first, by
//! bisection on the corner frequency, when the curve asks for a band limit
//! ([`fit_band_limits`]).
//!
//! Offline code: it allocates; never call it on the audio thread.

// Index loops here follow the formulas (matrix rows and columns, filter taps).
#![allow(clippy::needless_range_loop)]

use crate::analysis::ltas::{ltas_band_centers_hz, LTAS_BANDS};
use crate::eq::Eq;
use crate::state::{DspState, EqState, MAX_FREQ_HZ, MIN_FREQ_HZ};

/// Largest gain a fitted band may set, dB (either sign).
pub const FIT_MAX_GAIN_DB: f32 = 15.0;

/// Gauss–Newton iterations of [`fit_gains`].
pub const FIT_ITERATIONS: usize = 8;

/// One band the fit may use: `(EQ band index, frequency Hz, Q)`; its gain is fitted.
pub type FitBand = (usize, f32, f32);

/// The bands of the generic fit: a low shelf, four peaks and a high shelf at fixed
/// frequencies (120 Hz, 300 Hz, 800 Hz, 2 kHz, 5 kHz, 9 kHz).
pub const GENERIC_BANDS: [FitBand; 6] = [
    (1, 120.0, 0.707),
    (2, 300.0, 1.0),
    (3, 800.0, 1.0),
    (4, 2000.0, 1.0),
    (5, 5000.0, 1.0),
    (6, 9000.0, 0.707),
];

/// The EQ's magnitude response at the LTAS band centres, dB.
pub fn response_db(eq: &EqState, sample_rate: f32) -> [f64; LTAS_BANDS] {
    let centers = ltas_band_centers_hz();
    std::array::from_fn(|b| Eq::magnitude_db(eq, f64::from(centers[b]), f64::from(sample_rate)))
}

/// Weighted least-squares misfit of `response` to `want` up to the best constant
/// offset: the RMS of the difference after removing its weighted mean, dB.
pub fn misfit_db(response: &[f64], want: &[f32], weight: &[f32]) -> f64 {
    let w: f64 = weight.iter().map(|&x| f64::from(x)).sum();
    if w <= 0.0 {
        return 0.0;
    }
    let d: Vec<f64> = (0..want.len())
        .map(|b| f64::from(want[b]) - response[b])
        .collect();
    let mean = d
        .iter()
        .zip(weight)
        .map(|(d, &x)| d * f64::from(x))
        .sum::<f64>()
        / w;
    (d.iter()
        .zip(weight)
        .map(|(d, &x)| (d - mean).powi(2) * f64::from(x))
        .sum::<f64>()
        / w)
        .sqrt()
}

/// Sets `bands` in `eq` (enabled, frequency, Q) and fits their gains so that the
/// whole EQ's response (the other bands as they are) best matches `want_db` over the
/// bands with `weight > 0`, up to a constant. `want_db` and `weight` are per LTAS band
/// ([`LTAS_BANDS`]). Gains are clamped to ±[`FIT_MAX_GAIN_DB`].
pub fn fit_gains(
    eq: &mut EqState,
    bands: &[FitBand],
    want_db: &[f32],
    weight: &[f32],
    sample_rate: f32,
) {
    for &(i, f, q) in bands {
        let b = &mut eq.bands[i];
        b.enabled = true;
        b.freq_hz = f;
        b.q = q;
        b.gain_db = 0.0;
    }
    let n = bands.len() + 1; // gains and the free offset
    let mut offset = 0.0f64;
    for _ in 0..FIT_ITERATIONS {
        let r0 = response_db(eq, sample_rate);
        let mut jac = vec![vec![0.0f64; n]; LTAS_BANDS];
        for (k, &(i, _, _)) in bands.iter().enumerate() {
            let mut probe = *eq;
            probe.bands[i].gain_db += 0.5;
            let r1 = response_db(&probe, sample_rate);
            for b in 0..LTAS_BANDS {
                jac[b][k] = (r1[b] - r0[b]) / 0.5;
            }
        }
        for row in jac.iter_mut() {
            row[n - 1] = 1.0;
        }
        // Normal equations (JᵀWJ + λI) δ = JᵀW r, r = want + offset − response.
        let mut a = vec![vec![0.0f64; n + 1]; n];
        for b in 0..LTAS_BANDS {
            let m = f64::from(weight[b]);
            if m <= 0.0 {
                continue;
            }
            let r = f64::from(want_db[b]) + offset - r0[b];
            for i in 0..n {
                for j in 0..n {
                    a[i][j] += m * jac[b][i] * jac[b][j];
                }
                a[i][n] += m * jac[b][i] * r;
            }
        }
        for (i, row) in a.iter_mut().enumerate().take(n - 1) {
            row[i] += 1e-2;
        }
        let Some(delta) = solve(a) else { break };
        for (k, &(i, _, _)) in bands.iter().enumerate() {
            let g = &mut eq.bands[i].gain_db;
            *g = (*g + delta[k] as f32).clamp(-FIT_MAX_GAIN_DB, FIT_MAX_GAIN_DB);
        }
        offset -= delta[n - 1];
    }
}

/// The generic auto-EQ: [`GENERIC_BANDS`] fitted to `reference_db − input_db` (the
/// correction that pulls `input_db` toward `reference_db`), other bands, the
/// compressor, the convolver and the trim off.
pub fn auto_eq_state(
    input_db: &[f32],
    reference_db: &[f32],
    weight: &[f32],
    sample_rate: f32,
) -> DspState {
    let mut state = DspState::default();
    for b in state.eq.bands.iter_mut() {
        b.enabled = false;
    }
    let want: Vec<f32> = (0..LTAS_BANDS)
        .map(|b| reference_db[b] - input_db[b])
        .collect();
    fit_gains(&mut state.eq, &GENERIC_BANDS, &want, weight, sample_rate);
    state.compressor.enabled = false;
    state.convolver.enabled = false;
    state.output_trim_db = 0.0;
    state
}

/// Finds high-pass (band 0) and low-pass (band 7) corners that make the EQ's
/// response fall at the ends of `want_db` as it asks: the high-pass is switched on
/// when `want_db` is at least 3 dB lower in the bands below `low_edge_hz` than
/// between the two edges, and its corner is bisected (20 Hz–2 kHz, Q 0.707) so the
/// response's mean there falls as far; likewise the low-pass above `high_edge_hz`
/// (1–20 kHz). Levels are weighted means over bands with `weight > 0`.
pub fn fit_band_limits(
    eq: &mut EqState,
    want_db: &[f32],
    weight: &[f32],
    low_edge_hz: f32,
    high_edge_hz: f32,
    sample_rate: f32,
) {
    let centers = ltas_band_centers_hz();
    let mean = |v: &dyn Fn(usize) -> f64, sel: &dyn Fn(f32) -> bool| -> Option<f64> {
        let (mut s, mut w) = (0.0, 0.0);
        for b in 0..LTAS_BANDS {
            if weight[b] > 0.0 && sel(centers[b]) {
                s += v(b) * f64::from(weight[b]);
                w += f64::from(weight[b]);
            }
        }
        (w > 0.0).then(|| s / w)
    };
    let mid = |c: f32| c >= low_edge_hz && c <= high_edge_hz;
    let want = |b: usize| f64::from(want_db[b]);
    let Some(want_mid) = mean(&want, &mid) else {
        return;
    };
    for (index, sel, lo, hi) in [
        (
            0usize,
            &(|c: f32| c < low_edge_hz) as &dyn Fn(f32) -> bool,
            MIN_FREQ_HZ,
            2000.0f32,
        ),
        (
            7usize,
            &(|c: f32| c > high_edge_hz) as &dyn Fn(f32) -> bool,
            1000.0f32,
            MAX_FREQ_HZ,
        ),
    ] {
        let Some(want_end) = mean(&want, sel) else {
            continue;
        };
        let drop = want_end - want_mid;
        if drop > -3.0 {
            continue;
        }
        let achieved = |f: f32, eq: &EqState| -> f64 {
            let mut e = *eq;
            e.bands[index].enabled = true;
            e.bands[index].freq_hz = f;
            e.bands[index].q = 0.707;
            let r = response_db(&e, sample_rate);
            let rv = |b: usize| r[b];
            mean(&rv, sel).unwrap_or(0.0) - mean(&rv, &mid).unwrap_or(0.0)
        };
        // Geometric bisection: a higher high-pass corner (a lower low-pass corner)
        // drops the end further.
        let (mut a, mut b) = (lo.ln(), hi.ln());
        for _ in 0..30 {
            let m = 0.5 * (a + b);
            let deeper = achieved(m.exp(), eq) < drop;
            if (index == 0) == deeper {
                b = m;
            } else {
                a = m;
            }
        }
        let f = (0.5 * (a + b)).exp();
        let band = &mut eq.bands[index];
        band.enabled = true;
        band.freq_hz = f;
        band.q = 0.707;
    }
}

/// Gaussian elimination with partial pivoting on an augmented `n × (n+1)` matrix;
/// `None` for a singular or non-finite system.
pub fn solve(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let n = a.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        let pivot = a[c].clone();
        for row in a.iter_mut().skip(c + 1) {
            let f = row[c] / pivot[c];
            for (v, p) in row.iter_mut().zip(&pivot).skip(c) {
                *v -= f * p;
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (a[r][n] - s) / a[r][r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f32 = 48_000.0;

    #[test]
    fn the_fit_recovers_a_known_eq_curve() {
        let mut truth = DspState::default().eq;
        for (k, &(i, f, q)) in GENERIC_BANDS.iter().enumerate() {
            let b = &mut truth.bands[i];
            b.enabled = true;
            b.freq_hz = f;
            b.q = q;
            b.gain_db = [4.0, -3.0, 2.0, -5.0, 3.0, -2.0][k];
        }
        let want: Vec<f32> = response_db(&truth, FS)
            .iter()
            .map(|&v| v as f32 + 7.0)
            .collect();
        let weight = [1.0f32; LTAS_BANDS];
        let mut eq = DspState::default().eq;
        for b in eq.bands.iter_mut() {
            b.enabled = false;
        }
        fit_gains(&mut eq, &GENERIC_BANDS, &want, &weight, FS);
        for &(i, _, _) in &GENERIC_BANDS {
            assert!(
                (eq.bands[i].gain_db - truth.bands[i].gain_db).abs() < 0.2,
                "band {i}: {} vs {}",
                eq.bands[i].gain_db,
                truth.bands[i].gain_db
            );
        }
        assert!(misfit_db(&response_db(&eq, FS), &want, &weight) < 0.1);
    }

    #[test]
    fn band_limits_are_found_where_the_curve_falls() {
        let centers = ltas_band_centers_hz();
        // A telephone-like wish: −15 dB below 300 Hz and above 3.4 kHz.
        let want: Vec<f32> = centers
            .iter()
            .map(|&c| {
                if (300.0..=3400.0).contains(&c) {
                    0.0
                } else {
                    -15.0
                }
            })
            .collect();
        let weight = [1.0f32; LTAS_BANDS];
        let mut eq = DspState::default().eq;
        for b in eq.bands.iter_mut() {
            b.enabled = false;
        }
        fit_band_limits(&mut eq, &want, &weight, 300.0, 3400.0, FS);
        assert!(eq.bands[0].enabled && eq.bands[7].enabled);
        assert!(
            (150.0..600.0).contains(&eq.bands[0].freq_hz),
            "HP {}",
            eq.bands[0].freq_hz
        );
        assert!(
            (1700.0..6800.0).contains(&eq.bands[7].freq_hz),
            "LP {}",
            eq.bands[7].freq_hz
        );
        // A flat wish asks for neither.
        let mut flat = DspState::default().eq;
        flat.bands[0].enabled = false;
        flat.bands[7].enabled = false;
        fit_band_limits(&mut flat, &[0.0; LTAS_BANDS], &weight, 300.0, 3400.0, FS);
        assert!(!flat.bands[0].enabled && !flat.bands[7].enabled);
    }
}
