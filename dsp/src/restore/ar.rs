//! Autoregressive (AR, all-pole linear-prediction) modelling shared by the de-clicker and
//! the de-clipper: Levinson–Durbin model fitting and least-squares AR interpolation of
//! missing samples.
//!
//! Model (S. J. Godsill & P. J. W. Rayner, *Digital Audio Restoration*, Springer 1998,
//! ch. 3 and 5): `x[n] = Σ_{k=1..p} a_k·x[n−k] + e[n]` with `e` white. The *prediction
//! error filter* is `c = [1, −a_1, …, −a_p]`, so `e[n] = Σ_{k=0..p} c_k·x[n−k]`.
//!
//! - [`levinson`]: `a` from the autocorrelation `r[0..=p]` by the Levinson–Durbin
//!   recursion (Godsill & Rayner §3.3.3; J. Makhoul, "Linear prediction: a tutorial
//!   review", Proc. IEEE 63(4), 1975, eqs. (38)–(40)). A positive definite `r` gives a
//!   minimum-phase (stable) model.
//! - [`Lsar`]: least-squares AR interpolation (A. J. E. M. Janssen, R. N. J. Veldhuis and
//!   L. B. Vries, "Adaptive interpolation of discrete-time signals that can be modeled as
//!   autoregressive processes", IEEE Trans. ASSP 34(2), 1986; Godsill & Rayner §5.2.2):
//!   the unknown samples `u` minimise the prediction-error energy `Σ e[m]²` over every
//!   `m` whose prediction window touches them. With all unknowns at least `p` samples
//!   from the segment's ends, the normal equations are `R·u = −b` with the banded,
//!   symmetric, positive definite Toeplitz matrix `R[i][j] = ρ(|t_i − t_j|)`,
//!   `ρ(l) = Σ_{k=0..p−l} c_k·c_{k+l}` (0 for `l > p`), and
//!   `b_i = Σ_m c_{m−t_i}·e_known[m]`, where `e_known` is the prediction error with the
//!   unknowns set to 0. They are solved by a banded Cholesky factorisation, `O(g·p²)`
//!   for `g` unknowns.
//!
//! Everything here works in `f64` on preallocated buffers: [`Lsar::new`] allocates for
//! the largest gap and order, [`Lsar::solve`] never allocates.

// Index loops here follow the formulas (matrix rows and columns, filter taps).
#![allow(clippy::needless_range_loop)]

use crate::simd::dot64_with;

/// Fits an AR(p) model to the autocorrelation `r[0..=p]` by the Levinson–Durbin
/// recursion. Writes `a[1..=p]` into `a[1..]` (`a[0]` is set to 1) in the convention
/// `x̂[n] = Σ a_k·x[n−k]`, using `tmp` (length ≥ `p + 1`) as scratch. Returns the
/// prediction-error power `E_p` (same units as `r[0]`).
///
/// `p = r.len() − 1`; `a` and `tmp` must have length ≥ `r.len()`. If `r[0] ≤ 0` or a
/// reflection coefficient reaches `|k| ≥ 1` (a singular or non-positive-definite `r`,
/// e.g. from digital silence), the recursion stops there and the remaining coefficients
/// are 0, so the model is always stable. Never allocates or panics (short slices are
/// treated as a lower order).
pub fn levinson(r: &[f64], a: &mut [f64], tmp: &mut [f64]) -> f64 {
    let p = r.len().min(a.len()).min(tmp.len()).saturating_sub(1);
    for v in a.iter_mut() {
        *v = 0.0;
    }
    if a.is_empty() {
        return 0.0;
    }
    a[0] = 1.0;
    let Some(&r0) = r.first() else {
        return 0.0;
    };
    if !(r0 > 0.0 && r0.is_finite()) {
        return 0.0;
    }
    let mut err = r0;
    // The lags reversed, `tmp[m] = r[p − m]`, so the sum for `k_i` runs forward through
    // both `a` and the lags (and vectorizes).
    for (t, &v) in tmp[..=p].iter_mut().zip(r[..=p].iter().rev()) {
        *t = v;
    }
    for i in 1..=p {
        // k_i = (r[i] − Σ_{j=1}^{i−1} a_j r[i−j]) / E_{i−1}, with r[i−j] = tmp[p−i+j].
        let acc = r[i] - dot64_with::<false>(&a[1..i], &tmp[p + 1 - i..p]);
        let k = acc / err;
        if k.is_nan() || k.abs() >= 1.0 {
            break;
        }
        // a_j ← a_j − k·a_{i−j} for j = 1..i−1, in place: j and i−j read each other's
        // old values, so they are updated as a pair.
        for j in 1..=(i - 1) / 2 {
            let (x, y) = (a[j], a[i - j]);
            a[j] = x - k * y;
            a[i - j] = y - k * x;
        }
        if i % 2 == 0 {
            let m = i / 2;
            a[m] -= k * a[m];
        }
        a[i] = k;
        err *= 1.0 - k * k;
    }
    err
}

/// Least-squares AR interpolator with buffers for gaps of up to `max_unknowns` samples
/// and models of order up to `max_order` (see the module docs for the method).
#[derive(Clone, Debug)]
pub struct Lsar {
    max_unknowns: usize,
    max_order: usize,
    /// Banded Cholesky factor, row `i` at `[i·(p+1) .. (i+1)·(p+1)]`, entry `j` of a row
    /// is `L[i][i−p+j]` (the diagonal at `j = p`).
    chol: Vec<f64>,
    /// Right-hand side, then the solution.
    rhs: Vec<f64>,
    /// Prediction error with the unknowns set to 0, over the segment.
    e_known: Vec<f64>,
    /// `ρ(l)`, `l = 0..=p`.
    rho: Vec<f64>,
    /// Segment positions of the unknowns.
    pos: Vec<usize>,
    /// 1 where a segment sample is unknown.
    unknown: Vec<bool>,
}

impl Lsar {
    /// Buffers for up to `max_unknowns` unknown samples in segments of up to
    /// `max_unknowns + 2·max_order` samples, models up to order `max_order`. Allocates.
    pub fn new(max_unknowns: usize, max_order: usize) -> Self {
        let seg = max_unknowns + 2 * max_order + 1;
        Lsar {
            max_unknowns,
            max_order,
            chol: vec![0.0; max_unknowns * (max_order + 1)],
            rhs: vec![0.0; max_unknowns],
            e_known: vec![0.0; seg],
            rho: vec![0.0; max_order + 1],
            pos: vec![0; max_unknowns],
            unknown: vec![false; seg],
        }
    }

    /// Largest number of unknowns [`Lsar::solve`] accepts.
    pub fn max_unknowns(&self) -> usize {
        self.max_unknowns
    }

    /// Replaces the samples of `seg` where `is_unknown(i)` holds by their least-squares
    /// AR interpolation under the prediction-error filter `c = [1, −a_1, …, −a_p]`.
    ///
    /// Every unknown must lie in `p ..seg.len() − p` (at least `p` known samples on each
    /// side), and `seg` may be at most `max_unknowns + 2·max_order + 1` samples long.
    /// Returns `false` and leaves `seg` unchanged when that does not hold, when
    /// there are no or more than [`Lsar::max_unknowns`] unknowns, when `p` exceeds the
    /// order given to [`Lsar::new`], or when the system is numerically singular.
    /// Never allocates or panics.
    pub fn solve(
        &mut self,
        c: &[f64],
        seg: &mut [f64],
        is_unknown: impl Fn(usize) -> bool,
    ) -> bool {
        let p = c.len().saturating_sub(1);
        let len = seg.len();
        if p > self.max_order || len > self.e_known.len() || len < 2 * p + 1 || c.is_empty() {
            return false;
        }
        // Collect the unknowns.
        let mut g = 0;
        for i in 0..len {
            let u = is_unknown(i);
            self.unknown[i] = u;
            if u {
                if i < p || i + p >= len || g >= self.max_unknowns {
                    return false;
                }
                self.pos[g] = i;
                g += 1;
            }
        }
        if g == 0 {
            return false;
        }
        // ρ(l) = Σ_k c_k c_{k+l}.
        for l in 0..=p {
            self.rho[l] = (0..=p - l).map(|k| c[k] * c[k + l]).sum();
        }
        // e_known[m] for m in p..len (windows inside the segment).
        for m in p..len {
            let mut acc = 0.0;
            for (k, ck) in c.iter().enumerate() {
                let t = m - k;
                if !self.unknown[t] {
                    acc += ck * seg[t];
                }
            }
            self.e_known[m] = acc;
        }
        // rhs_i = −Σ_{k=0..p} c_k e_known[t_i + k].
        for i in 0..g {
            let t = self.pos[i];
            self.rhs[i] = -(0..=p).map(|k| c[k] * self.e_known[t + k]).sum::<f64>();
        }
        // Banded Cholesky of R[i][j] = ρ(|t_i − t_j|), half-bandwidth p in index space
        // (positions are increasing, so |t_i − t_j| ≥ |i − j|).
        let w = p + 1;
        let load = 1e-10 * self.rho[0];
        for i in 0..g {
            let j0 = i.saturating_sub(p);
            for j in j0..=i {
                let dist = self.pos[i] - self.pos[j];
                let mut s = if dist <= p { self.rho[dist] } else { 0.0 };
                if i == j {
                    s += load;
                }
                // s −= Σ_{k=max(i,j)−p .. j−1} L[i][k]·L[j][k]
                let k0 = i.saturating_sub(p);
                for k in k0..j {
                    s -= self.chol[i * w + (k + p - i)] * self.chol[j * w + (k + p - j)];
                }
                if i == j {
                    if !(s > 0.0 && s.is_finite()) {
                        return false;
                    }
                    self.chol[i * w + p] = s.sqrt();
                } else {
                    self.chol[i * w + (j + p - i)] = s / self.chol[j * w + p];
                }
            }
        }
        // Forward substitution L·y = rhs.
        for i in 0..g {
            let mut s = self.rhs[i];
            for k in i.saturating_sub(p)..i {
                s -= self.chol[i * w + (k + p - i)] * self.rhs[k];
            }
            self.rhs[i] = s / self.chol[i * w + p];
        }
        // Back substitution Lᵀ·u = y.
        for i in (0..g).rev() {
            let mut s = self.rhs[i];
            for k in i + 1..(i + p + 1).min(g) {
                s -= self.chol[k * w + (i + p - k)] * self.rhs[k];
            }
            self.rhs[i] = s / self.chol[i * w + p];
        }
        if self.rhs[..g].iter().any(|v| !v.is_finite()) {
            return false;
        }
        for i in 0..g {
            seg[self.pos[i]] = self.rhs[i];
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Autocorrelation (biased) of `x` up to lag `p`.
    fn autocorr(x: &[f64], p: usize) -> Vec<f64> {
        (0..=p)
            .map(|k| x[k..].iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    }

    #[test]
    fn levinson_recovers_an_ar2_process() {
        // x[n] = 1.6 x[n−1] − 0.8 x[n−2] + e[n], e white (a fixed LCG).
        let mut seed = 12345u64;
        let mut x = vec![0.0f64; 200_000];
        for n in 2..x.len() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let e = ((seed >> 11) as f64 / (1u64 << 53) as f64) - 0.5;
            x[n] = 1.6 * x[n - 1] - 0.8 * x[n - 2] + e;
        }
        let r = autocorr(&x, 2);
        let (mut a, mut tmp) = ([0.0; 3], [0.0; 3]);
        let err = levinson(&r, &mut a, &mut tmp);
        assert!(
            (a[1] - 1.6).abs() < 0.01 && (a[2] + 0.8).abs() < 0.01,
            "{a:?}"
        );
        // Error power ≈ var(e) = 1/12 per sample, r is a sum over the samples.
        let per_sample = err / x.len() as f64;
        assert!((per_sample - 1.0 / 12.0).abs() < 0.005, "{per_sample}");
    }

    #[test]
    fn levinson_survives_silence_and_nan() {
        let (mut a, mut tmp) = ([9.0; 5], [0.0; 5]);
        assert_eq!(levinson(&[0.0; 5], &mut a, &mut tmp), 0.0);
        assert_eq!(a, [1.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(levinson(&[f64::NAN; 5], &mut a, &mut tmp), 0.0);
        // A pure sinusoid's autocorrelation is singular at order ≥ 3: the recursion stops.
        let x: Vec<f64> = (0..4096).map(|n| (0.1 * n as f64).sin()).collect();
        let r = autocorr(&x, 4);
        levinson(&r, &mut a, &mut tmp);
        assert!(a.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn lsar_interpolates_a_sinusoid_exactly() {
        // A sinusoid obeys x[n] = 2cos(ω)x[n−1] − x[n−2] exactly, so LSAR with that
        // model reconstructs a gap of any length exactly.
        let w = 0.07f64;
        let x: Vec<f64> = (0..200).map(|n| (w * n as f64 + 0.3).sin()).collect();
        let c = [1.0, -2.0 * w.cos(), 1.0];
        let mut seg = x.clone();
        for v in &mut seg[50..90] {
            *v = 5.0;
        }
        let mut lsar = Lsar::new(64, 4);
        // The segment: the gap and 2 known samples (p) on each side.
        assert!(lsar.solve(&c, &mut seg[48..92], |i| (2..42).contains(&i)));
        let err = seg
            .iter()
            .zip(&x)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        // Up to the 1e-10 diagonal loading on a model with zeros on the unit circle.
        assert!(err < 1e-4, "{err}");
    }

    #[test]
    fn lsar_matches_a_dense_least_squares_solution_with_scattered_unknowns() {
        // Random AR(3) filter, scattered unknowns: compare with brute-force normal
        // equations built from the definition Σ_m e[m]².
        let c = [1.0, -0.9, 0.4, -0.1];
        let p = 3;
        let mut seg: Vec<f64> = (0..30)
            .map(|n| ((n * 7919) % 13) as f64 / 13.0 - 0.5)
            .collect();
        let unknown = |i: usize| [5usize, 6, 9, 14, 15, 16, 22].contains(&i);
        let idx: Vec<usize> = (0..seg.len()).filter(|&i| unknown(i)).collect();
        // Dense: e = B u + e0 over m = p..len; minimise |e|².
        let len = seg.len();
        let g = idx.len();
        let mut ata = vec![vec![0.0; g]; g];
        let mut atb = vec![0.0; g];
        for m in p..len {
            let mut row = vec![0.0; g];
            let mut e0 = 0.0;
            for (k, ck) in c.iter().enumerate() {
                let t = m - k;
                match idx.iter().position(|&q| q == t) {
                    Some(j) => row[j] += ck,
                    None => e0 += ck * seg[t],
                }
            }
            for i in 0..g {
                atb[i] -= row[i] * e0;
                for j in 0..g {
                    ata[i][j] += row[i] * row[j];
                }
            }
        }
        // Gaussian elimination.
        for col in 0..g {
            for r in col + 1..g {
                let f = ata[r][col] / ata[col][col];
                for k in col..g {
                    ata[r][k] -= f * ata[col][k];
                }
                atb[r] -= f * atb[col];
            }
        }
        let mut u = vec![0.0; g];
        for i in (0..g).rev() {
            let s: f64 = (i + 1..g).map(|k| ata[i][k] * u[k]).sum();
            u[i] = (atb[i] - s) / ata[i][i];
        }
        let mut lsar = Lsar::new(32, 4);
        assert!(lsar.solve(&c, &mut seg, unknown));
        for (j, &t) in idx.iter().enumerate() {
            assert!((seg[t] - u[j]).abs() < 1e-8, "{t}: {} vs {}", seg[t], u[j]);
        }
    }

    #[test]
    fn lsar_refuses_unknowns_without_context() {
        let mut lsar = Lsar::new(8, 4);
        let mut seg = [0.0; 20];
        assert!(!lsar.solve(&[1.0, -0.5], &mut seg, |i| i == 0));
        assert!(!lsar.solve(&[1.0, -0.5], &mut seg, |_| false));
        assert!(!lsar.solve(&[1.0, -0.5], &mut seg, |i| (2..15).contains(&i)));
    }
}
