//! The spectral change that meets an intent's balance goals: the smallest, smoothest
//! dB curve over the LTAS bands that moves every balance goal's quantity by what it
//! asks.
//!
//! Given an LTAS `L` (dB per band) and goals asking balance `k` to change by `r_k`,
//! find `x` (dB per band) minimising `‖D x‖² + λ‖x‖²` (`D`: first differences across
//! neighbouring bands, so the curve is smooth in log frequency; `λ` keeps it small)
//! subject to `balance_k(L + x) − balance_k(L) = r_k`. The constraints are linearised
//! (`Quantity::balance_gradient`) and the solution refined by a few Newton steps on
//! the exact balances. The closed form of each step is the minimum-norm solution
//! `x = M⁻¹Gᵀ (G M⁻¹ Gᵀ)⁻¹ r` with `M = DᵀD + λI` (Lagrange multipliers).
//!
//! Used by the dataset generator (every target is an EQ fitted to this curve and
//! rendered through the chain), by the loop (the blueprint's spectrum is corrected
//! toward each unmet goal along this curve) and by the evaluation.

use crate::descriptors::{Descriptors, QuantityKind};
use crate::intent::Goal;

/// Weight of the curve's size against its smoothness (`λ`).
pub const SIZE_WEIGHT: f64 = 0.05;
/// Newton refinements of the linearised solution.
pub const NEWTON_STEPS: usize = 4;

/// Gaussian elimination with partial pivoting on an augmented `n × (n+1)` matrix.
fn solve(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
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

/// `M⁻¹ v` for `M = DᵀD + λI` over the valid bands (a tridiagonal system solved
/// by the Thomas algorithm); invalid bands stay 0 and break the chain of
/// neighbours.
fn m_inverse(v: &[f64], valid: &[bool]) -> Vec<f64> {
    let n = v.len();
    let mut out = vec![0.0; n];
    let mut start = 0;
    while start < n {
        if !valid[start] {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < n && valid[end] {
            end += 1;
        }
        // Segment [start, end): tridiagonal with diagonal (deg + λ), off-diagonal −1.
        let m = end - start;
        let mut c = vec![0.0; m];
        let mut d = vec![0.0; m];
        for i in 0..m {
            let deg = (i > 0) as u8 as f64 + (i + 1 < m) as u8 as f64;
            let diag = deg + SIZE_WEIGHT;
            let (a, b) = (if i > 0 { -1.0 } else { 0.0 }, diag);
            let denom = b - a * if i > 0 { c[i - 1] } else { 0.0 };
            c[i] = if i + 1 < m { -1.0 / denom } else { 0.0 };
            d[i] = (v[start + i] - a * if i > 0 { d[i - 1] } else { 0.0 }) / denom;
        }
        for i in (0..m).rev() {
            out[start + i] = d[i]
                - if i + 1 < m {
                    c[i] * out[start + i + 1]
                } else {
                    0.0
                };
        }
        start = end;
    }
    out
}

/// The dB curve (one value per LTAS band, 0 in invalid bands) that changes each
/// balance goal's quantity of `ltas_db` by the goal's `change`, as small and smooth as
/// possible. Goals of other kinds, goals with no change and balances not measurable
/// on `ltas_db` are ignored. `centers_hz` are the LTAS band centres, `valid[b]` false
/// above the recording's bandwidth.
pub fn balance_curve(
    table: &Descriptors,
    goals: &[Goal],
    ltas_db: &[f32],
    centers_hz: &[f32],
    valid: &[bool],
) -> Vec<f32> {
    let n = ltas_db.len();
    let wanted: Vec<(&crate::descriptors::Quantity, f64)> = goals
        .iter()
        .filter(|g| g.change.abs() > 1e-3)
        .filter_map(|g| {
            let q = table.quantity(&g.quantity)?;
            (q.kind == QuantityKind::Balance && q.balance_db(ltas_db, centers_hz, valid).is_some())
                .then_some((q, f64::from(g.change)))
        })
        .collect();
    let mut x = vec![0.0f64; n];
    if wanted.is_empty() {
        return vec![0.0; n];
    }
    let base: Vec<f64> = wanted
        .iter()
        .map(|(q, _)| f64::from(q.balance_db(ltas_db, centers_hz, valid).unwrap_or(0.0)))
        .collect();
    for _ in 0..NEWTON_STEPS {
        let now: Vec<f32> = (0..n).map(|b| ltas_db[b] + x[b] as f32).collect();
        // Residual of each constraint at the current curve.
        let r: Vec<f64> = wanted
            .iter()
            .zip(&base)
            .map(|((q, change), b0)| {
                let b = f64::from(q.balance_db(&now, centers_hz, valid).unwrap_or(0.0));
                change - (b - b0)
            })
            .collect();
        if r.iter().all(|v| v.abs() < 1e-3) {
            break;
        }
        let g: Vec<Vec<f64>> = wanted
            .iter()
            .map(|(q, _)| {
                q.balance_gradient(&now, centers_hz, valid)
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect()
            })
            .collect();
        if g.iter().any(|row| row.len() != n) {
            break;
        }
        let minv_gt: Vec<Vec<f64>> = g.iter().map(|row| m_inverse(row, valid)).collect();
        let k = g.len();
        // (G M⁻¹ Gᵀ) y = r, with a tiny ridge for goals that fight each other.
        let mut a = vec![vec![0.0f64; k + 1]; k];
        for i in 0..k {
            for j in 0..k {
                a[i][j] = g[i]
                    .iter()
                    .zip(&minv_gt[j])
                    .map(|(p, q)| p * q)
                    .sum::<f64>();
            }
            a[i][i] += 1e-6;
            a[i][k] = r[i];
        }
        let Some(y) = solve(a) else { break };
        for b in 0..n {
            x[b] += (0..k).map(|j| minv_gt[j][b] * y[j]).sum::<f64>();
        }
    }
    x.iter()
        .zip(valid)
        .map(|(&v, &ok)| if ok { v as f32 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::{Measured, Reader};

    fn centers() -> Vec<f32> {
        // The LTAS band centres of faurge-dsp: 40·500^((i+0.5)/64) Hz.
        (0..64)
            .map(|i| 40.0 * 500f32.powf((i as f32 + 0.5) / 64.0))
            .collect()
    }

    fn speech_like() -> Vec<f32> {
        // A falling spectrum, −3 dB/octave above 500 Hz.
        centers()
            .iter()
            .map(|&c| {
                if c < 500.0 {
                    -10.0
                } else {
                    -10.0 - 3.0 * (c / 500.0).log2()
                }
            })
            .collect()
    }

    #[test]
    fn the_curve_moves_every_balance_as_asked_and_nothing_else_much() {
        let r = Reader::embedded().unwrap();
        let t = r.table();
        let ltas = speech_like();
        let c = centers();
        let valid = vec![true; 64];
        let measured = Measured {
            balances: t
                .quantities
                .iter()
                .filter_map(|q| Some((q.id.clone(), q.balance_db(&ltas, &c, &valid)?)))
                .collect(),
            ..Measured::default()
        };
        let intent = r.read("warmer but less boomy, a touch less sibilant", false);
        let goals = intent.goals(t, &measured);
        let x = balance_curve(t, &goals, &ltas, &c, &valid);
        let after: Vec<f32> = ltas.iter().zip(&x).map(|(a, b)| a + b).collect();
        for g in goals
            .iter()
            .filter(|g| t.quantity(&g.quantity).unwrap().kind == QuantityKind::Balance)
        {
            let q = t.quantity(&g.quantity).unwrap();
            let moved = q.balance_db(&after, &c, &valid).unwrap()
                - q.balance_db(&ltas, &c, &valid).unwrap();
            assert!(
                (moved - g.change).abs() < 0.05,
                "{}: moved {moved}, asked {}",
                g.quantity,
                g.change
            );
        }
        // Smooth: no neighbouring bands more than 1.5 dB apart.
        assert!(x.windows(2).all(|w| (w[0] - w[1]).abs() < 1.5), "{x:?}");
        // No goals, no curve.
        assert!(balance_curve(t, &[], &ltas, &c, &valid)
            .iter()
            .all(|&v| v == 0.0));
    }

    #[test]
    fn invalid_bands_stay_untouched() {
        let r = Reader::embedded().unwrap();
        let t = r.table();
        let ltas = speech_like();
        let c = centers();
        let valid: Vec<bool> = c.iter().map(|&f| f < 8000.0).collect();
        let measured = Measured {
            balances: vec![(
                "warmth".into(),
                t.quantity("warmth")
                    .unwrap()
                    .balance_db(&ltas, &c, &valid)
                    .unwrap(),
            )],
            ..Measured::default()
        };
        let goals = r.read("much warmer", false).goals(t, &measured);
        let x = balance_curve(t, &goals, &ltas, &c, &valid);
        assert!(x.iter().zip(&valid).all(|(v, ok)| *ok || *v == 0.0));
        assert!(x.iter().any(|v| v.abs() > 0.5));
    }
}
