//! RBJ Audio EQ Cookbook biquads: coefficient design, frequency response, and a
//! transposed direct form II filter.
//!
//! Source: R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter
//! coefficients" (W3C Audio EQ Cookbook). Coefficients are designed in `f64` and
//! normalised so that `a0 = 1`:
//!
//! `H(z) = (b0 + b1 z⁻¹ + b2 z⁻²) / (1 + a1 z⁻¹ + a2 z⁻²)`.

use std::f64::consts::PI;

use crate::state::BandKind;

/// Filter memory with a magnitude below this is flushed to exactly 0, so decaying
/// state never becomes denormal and silence in gives silence out in bounded time.
pub const DENORMAL_FLUSH: f64 = 1e-30;

/// Normalised biquad coefficients (`a0 = 1`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coefficients {
    /// Feed-forward coefficient of `x[n]`.
    pub b0: f64,
    /// Feed-forward coefficient of `x[n−1]`.
    pub b1: f64,
    /// Feed-forward coefficient of `x[n−2]`.
    pub b2: f64,
    /// Feedback coefficient of `y[n−1]` (sign as in the denominator above).
    pub a1: f64,
    /// Feedback coefficient of `y[n−2]`.
    pub a2: f64,
}

impl Coefficients {
    /// The pass-through filter `H(z) = 1`.
    pub const IDENTITY: Coefficients = Coefficients {
        b0: 1.0,
        b1: 0.0,
        b2: 0.0,
        a1: 0.0,
        a2: 0.0,
    };

    /// Designs one cookbook filter.
    ///
    /// - `freq_hz`: centre/corner/cutoff frequency, Hz; must lie in `(0, sample_rate / 2)`.
    /// - `gain_db`: peak or shelf gain, dB (ignored by high-pass and low-pass).
    /// - `q`: quality factor, > 0. For shelves this is the cookbook's Q
    ///   (`Q = 1/√2` gives the steepest shelf without overshoot, S = 1).
    /// - `sample_rate`: Hz.
    ///
    /// Formulas (cookbook): `A = 10^(gain/40)`, `w0 = 2π f0 / fs`,
    /// `alpha = sin(w0) / (2Q)`.
    pub fn design(kind: BandKind, freq_hz: f64, gain_db: f64, q: f64, sample_rate: f64) -> Self {
        let a = 10f64.powf(gain_db / 40.0);
        let w0 = 2.0 * PI * freq_hz / sample_rate;
        let (sin_w0, cos_w0) = w0.sin_cos();
        let alpha = sin_w0 / (2.0 * q);
        let (b0, b1, b2, a0, a1, a2) = match kind {
            BandKind::HighPass => (
                (1.0 + cos_w0) / 2.0,
                -(1.0 + cos_w0),
                (1.0 + cos_w0) / 2.0,
                1.0 + alpha,
                -2.0 * cos_w0,
                1.0 - alpha,
            ),
            BandKind::LowPass => (
                (1.0 - cos_w0) / 2.0,
                1.0 - cos_w0,
                (1.0 - cos_w0) / 2.0,
                1.0 + alpha,
                -2.0 * cos_w0,
                1.0 - alpha,
            ),
            BandKind::Peak => (
                1.0 + alpha * a,
                -2.0 * cos_w0,
                1.0 - alpha * a,
                1.0 + alpha / a,
                -2.0 * cos_w0,
                1.0 - alpha / a,
            ),
            BandKind::LowShelf => {
                let s = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) - (a - 1.0) * cos_w0 + s),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * cos_w0),
                    a * ((a + 1.0) - (a - 1.0) * cos_w0 - s),
                    (a + 1.0) + (a - 1.0) * cos_w0 + s,
                    -2.0 * ((a - 1.0) + (a + 1.0) * cos_w0),
                    (a + 1.0) + (a - 1.0) * cos_w0 - s,
                )
            }
            BandKind::HighShelf => {
                let s = 2.0 * a.sqrt() * alpha;
                (
                    a * ((a + 1.0) + (a - 1.0) * cos_w0 + s),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * cos_w0),
                    a * ((a + 1.0) + (a - 1.0) * cos_w0 - s),
                    (a + 1.0) - (a - 1.0) * cos_w0 + s,
                    2.0 * ((a - 1.0) - (a + 1.0) * cos_w0),
                    (a + 1.0) - (a - 1.0) * cos_w0 - s,
                )
            }
        };
        Coefficients {
            b0: b0 / a0,
            b1: b1 / a0,
            b2: b2 / a0,
            a1: a1 / a0,
            a2: a2 / a0,
        }
    }

    /// Complex response `H(e^{jω})` at `freq_hz`, as `(re, im)`.
    pub fn response(&self, freq_hz: f64, sample_rate: f64) -> (f64, f64) {
        let w = 2.0 * PI * freq_hz / sample_rate;
        // z⁻¹ = e^{−jω}, z⁻² = e^{−2jω}
        let (s1, c1) = (-w).sin_cos();
        let (s2, c2) = (-2.0 * w).sin_cos();
        let num = (
            self.b0 + self.b1 * c1 + self.b2 * c2,
            self.b1 * s1 + self.b2 * s2,
        );
        let den = (
            1.0 + self.a1 * c1 + self.a2 * c2,
            self.a1 * s1 + self.a2 * s2,
        );
        let d = den.0 * den.0 + den.1 * den.1;
        (
            (num.0 * den.0 + num.1 * den.1) / d,
            (num.1 * den.0 - num.0 * den.1) / d,
        )
    }

    /// Magnitude response `20·log10|H(e^{jω})|` at `freq_hz`, dB.
    pub fn magnitude_db(&self, freq_hz: f64, sample_rate: f64) -> f64 {
        let (re, im) = self.response(freq_hz, sample_rate);
        10.0 * (re * re + im * im).max(1e-300).log10()
    }

    /// Largest pole radius `|p|`; the filter is stable when it is below 1.
    pub fn max_pole_radius(&self) -> f64 {
        // Poles are the roots of z² + a1 z + a2.
        let disc = self.a1 * self.a1 - 4.0 * self.a2;
        if disc >= 0.0 {
            let r = disc.sqrt();
            ((-self.a1 + r) / 2.0)
                .abs()
                .max(((-self.a1 - r) / 2.0).abs())
        } else {
            // Complex-conjugate pair: |p|² = a2.
            self.a2.sqrt()
        }
    }
}

/// One channel of filter memory for the transposed direct form II.
///
/// TDF-II in `f64`: the form with the best numerical behaviour for
/// low-frequency shelves at high sample rates, and two state variables.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BiquadState {
    s1: f64,
    s2: f64,
}

impl BiquadState {
    /// Filters one sample. Never allocates or panics; once both state magnitudes
    /// are below [`DENORMAL_FLUSH`] they are flushed to 0.
    #[inline]
    pub fn tick(&mut self, c: &Coefficients, x: f64) -> f64 {
        let y = c.b0 * x + self.s1;
        self.s1 = c.b1 * x - c.a1 * y + self.s2;
        self.s2 = c.b2 * x - c.a2 * y;
        // Flush both together: zeroing one state variable while the other is
        // still alive perturbs the recursion and, for some filters, feeds a limit
        // cycle just above the threshold that never reaches 0.
        if self.s1.abs() < DENORMAL_FLUSH && self.s2.abs() < DENORMAL_FLUSH {
            self.s1 = 0.0;
            self.s2 = 0.0;
        }
        y
    }

    /// [`BiquadState::tick`] with fused multiply-adds when `FMA` (the same recursion;
    /// from the state to the next state it runs two fused operations where `tick`
    /// runs two multiplies and two adds, so a filter bound by its own recursion runs
    /// faster). Only call with `FMA` inside code compiled for a CPU with FMA
    /// ([`crate::simd`]); `FMA = false` is exactly `tick`.
    #[inline(always)]
    pub(crate) fn tick_isa<const FMA: bool>(&mut self, c: &Coefficients, x: f64) -> f64 {
        if !FMA {
            return self.tick(c, x);
        }
        let y = c.b0.mul_add(x, self.s1);
        self.s1 = (-c.a1).mul_add(y, c.b1.mul_add(x, self.s2));
        self.s2 = (-c.a2).mul_add(y, c.b2 * x);
        if self.s1.abs() < DENORMAL_FLUSH && self.s2.abs() < DENORMAL_FLUSH {
            self.s1 = 0.0;
            self.s2 = 0.0;
        }
        y
    }

    /// The first state variable: what the next output will be on top of `b0·x`.
    #[inline]
    pub(crate) fn s1(&self) -> f64 {
        self.s1
    }

    /// Filters `buf` in place with fixed coefficients.
    pub fn process(&mut self, c: &Coefficients, buf: &mut [f32]) {
        for s in buf {
            *s = self.tick(c, f64::from(*s)) as f32;
        }
    }

    /// Clears the filter memory.
    pub fn reset(&mut self) {
        *self = BiquadState::default();
    }

    /// True when both state variables are finite (used to recover from overflow).
    pub fn is_finite(&self) -> bool {
        self.s1.is_finite() && self.s2.is_finite()
    }

    /// Largest magnitude of the two state variables (0 for a cleared filter).
    ///
    /// With coefficients of an identity filter (`b = a`) the state evolves on its
    /// own and the output is `x + s1`, so this bounds what dropping the state
    /// would change; the EQ uses it to decide when a band may be bypassed.
    pub fn max_abs(&self) -> f64 {
        self.s1.abs().max(self.s2.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_gain_at_f0_is_the_requested_gain() {
        let c = Coefficients::design(BandKind::Peak, 1000.0, 6.0, 1.0, 48_000.0);
        assert!((c.magnitude_db(1000.0, 48_000.0) - 6.0).abs() < 1e-9);
    }

    #[test]
    fn tdf2_impulse_response_matches_the_difference_equation() {
        let c = Coefficients::design(BandKind::LowShelf, 200.0, -4.0, 0.707, 44_100.0);
        let mut st = BiquadState::default();
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        for n in 0..64 {
            let x = if n == 0 { 1.0 } else { 0.0 };
            let y_ref = c.b0 * x + c.b1 * x1 + c.b2 * x2 - c.a1 * y1 - c.a2 * y2;
            let y = st.tick(&c, x);
            assert!((y - y_ref).abs() < 1e-12);
            (x2, x1, y2, y1) = (x1, x, y1, y_ref);
        }
    }

    #[test]
    fn the_fused_tick_follows_the_plain_one() {
        // A low shelf at a high rate (the numerically hardest band) and a narrow
        // band-pass, over a second of a chirp: the fused recursion stays within
        // rounding of the plain one.
        for c in [
            Coefficients::design(BandKind::LowShelf, 40.0, -9.0, 0.707, 192_000.0),
            Coefficients::design(BandKind::Peak, 3000.0, 12.0, 8.0, 48_000.0),
        ] {
            let (mut plain, mut fused) = (BiquadState::default(), BiquadState::default());
            let mut worst = 0.0f64;
            for n in 0..48_000 {
                let t = n as f64 / 48_000.0;
                let x = (2.0 * std::f64::consts::PI * (50.0 + 4000.0 * t) * t).sin();
                let (a, b) = (plain.tick(&c, x), fused.tick_isa::<true>(&c, x));
                worst = worst.max((a - b).abs());
            }
            assert!(worst < 1e-9, "{worst}");
            let mut same = plain;
            assert_eq!(same.tick_isa::<false>(&c, 0.25), plain.tick(&c, 0.25));
        }
    }
}
