//! The tone family: what a microphone, its placement and its preamp do to the spectrum.
//!
//! A tone damage is first drawn as implementation-independent [`Section`]s
//! ([`draw_sections`]: which shelves, peaks, tilts and band limits, at which
//! frequencies and gains), then *realized* by an implementation with its own
//! filter shapes and phase. The parameter ranges below define the kinds; the
//! shapes are the implementations' business (and the held-out realization in
//! `faurge-eval` uses shapes neither training implementation has).
//!
//! | kind | sections drawn at strength `s` (0..=1) |
//! |---|---|
//! | [`Kind::LowShelf`] | low shelf, corner 80–500 Hz (log-uniform), gain ±(3 + 9·s) dB |
//! | [`Kind::HighShelf`] | high shelf, corner 1.5–8 kHz, gain ±(3 + 9·s) dB |
//! | [`Kind::Peak`] | resonance or dip, 100 Hz–8 kHz, gain ±(3 + 12·s) dB, Q 0.5–8 (log-uniform) |
//! | [`Kind::Tilt`] | ±(1 + 3·s) dB/octave around a pivot at 500–2000 Hz, flat below 50 Hz and above 16 kHz |
//! | [`Kind::Boom`] | proximity effect: a low shelf at 120–300 Hz or a peak at 70–200 Hz (Q 0.5–1.2), +(4 + 10·s) dB |
//! | [`Kind::Muddy`] | peak at 200–500 Hz, Q 0.7–1.5, +(3 + 9·s) dB; with probability 0.6 also a high shelf at 2–6 kHz, −(2 + 10·s) dB |
//! | [`Kind::Thin`] | low shelf at 200–600 Hz, −(4 + 12·s) dB; with probability 0.5 also a 2nd-order high-pass at 60–150 Hz |
//! | [`Kind::Sibilant`] | one or two peaks at 4–10 kHz, Q 3–10, +(4 + 12·s) dB |
//! | [`Kind::BandLimit`] | high-pass only, low-pass only (each p = 0.25) or both: HP at (80 + 420·s) Hz, LP at (12 − 9·s) kHz, each × 0.8–1.25, order 2 or 4 |
//!
//! Every frequency is clamped to 10 Hz ..= 0.45 × the sample rate.

use std::f64::consts::{LN_2, PI};

use faurge_dsp::biquad::Coefficients;
use faurge_dsp::state::BandKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::util::{self, clamp_freq, lerp, log_uniform, r2, random_sign, uniform};
use super::{Damage, DamageError, Family, Kind, Recordings, Rendered};

/// The kinds of the tone family.
pub const TONE_KINDS: [Kind; 9] = [
    Kind::LowShelf,
    Kind::HighShelf,
    Kind::Peak,
    Kind::Tilt,
    Kind::Boom,
    Kind::Muddy,
    Kind::Thin,
    Kind::Sibilant,
    Kind::BandLimit,
];
/// A tilt is flat below this frequency, Hz.
pub const TILT_LO_HZ: f64 = 50.0;
/// A tilt is flat above this frequency (or 0.45 × the rate), Hz.
pub const TILT_HI_HZ: f64 = 16_000.0;

/// One element of a tone curve, in physical terms (the shapes are the realizing
/// implementation's). Serialized with a `type` tag.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Section {
    /// Gain `gain_db` below `freq_hz`, 0 dB above (half the gain at the corner).
    LowShelf {
        /// Corner, Hz.
        freq_hz: f64,
        /// Gain, dB.
        gain_db: f64,
    },
    /// Gain `gain_db` above `freq_hz`, 0 dB below.
    HighShelf {
        /// Corner, Hz.
        freq_hz: f64,
        /// Gain, dB.
        gain_db: f64,
    },
    /// A bell of `gain_db` at `freq_hz` with quality factor `q`.
    Peak {
        /// Centre, Hz.
        freq_hz: f64,
        /// Gain at the centre, dB.
        gain_db: f64,
        /// Quality factor (bandwidth in octaves `(2/ln 2)·asinh(1/(2Q))`, RBJ cookbook).
        q: f64,
    },
    /// `db_per_octave · log2(f / pivot_hz)` between `lo_hz` and `hi_hz`, flat outside.
    Tilt {
        /// Slope, dB per octave.
        db_per_octave: f64,
        /// Frequency of 0 dB, Hz.
        pivot_hz: f64,
        /// The tilt is flat below, Hz.
        lo_hz: f64,
        /// The tilt is flat above, Hz.
        hi_hz: f64,
    },
    /// A high-pass of `order` (slope `6·order` dB/octave) at `freq_hz` (−3 dB).
    HighPass {
        /// Corner, Hz.
        freq_hz: f64,
        /// Order, 1..=8.
        order: u32,
    },
    /// A low-pass of `order` at `freq_hz` (−3 dB).
    LowPass {
        /// Corner, Hz.
        freq_hz: f64,
        /// Order, 1..=8.
        order: u32,
    },
}

impl Section {
    /// The lowest frequency that shapes this section, Hz: what an FIR must resolve.
    /// Shelves and band edges: half the corner; peaks: their bandwidth in Hz; tilts: `lo_hz`.
    pub fn resolution_hz(&self) -> f64 {
        match *self {
            Section::LowShelf { freq_hz, .. }
            | Section::HighShelf { freq_hz, .. }
            | Section::HighPass { freq_hz, .. }
            | Section::LowPass { freq_hz, .. } => 0.5 * freq_hz,
            Section::Peak { freq_hz, q, .. } => {
                let bw = bandwidth_octaves(q);
                freq_hz * (2f64.powf(bw / 2.0) - 2f64.powf(-bw / 2.0))
            }
            Section::Tilt { lo_hz, .. } => lo_hz,
        }
    }
}

/// Bandwidth in octaves of a peak of quality factor `q` (RBJ cookbook:
/// `1/Q = 2·sinh(ln 2 / 2 · BW)`).
pub fn bandwidth_octaves(q: f64) -> f64 {
    (2.0 / LN_2) * (1.0 / (2.0 * q.max(1e-3))).asinh()
}

/// Draws the sections of tone `kind` at strength `s` (see the module table),
/// frequencies clamped for `sample_rate`. Non-tone kinds give no section.
pub fn draw_sections(kind: Kind, s: f64, rng: &mut ChaCha8Rng, sample_rate: f64) -> Vec<Section> {
    let f = |hz: f64| clamp_freq(hz, sample_rate);
    match kind {
        Kind::LowShelf => vec![Section::LowShelf {
            freq_hz: f(log_uniform(rng, 80.0, 500.0)),
            gain_db: random_sign(rng) * (3.0 + 9.0 * s),
        }],
        Kind::HighShelf => vec![Section::HighShelf {
            freq_hz: f(log_uniform(rng, 1500.0, 8000.0)),
            gain_db: random_sign(rng) * (3.0 + 9.0 * s),
        }],
        Kind::Peak => vec![Section::Peak {
            freq_hz: f(log_uniform(rng, 100.0, 8000.0)),
            gain_db: random_sign(rng) * (3.0 + 12.0 * s),
            q: log_uniform(rng, 0.5, 8.0),
        }],
        Kind::Tilt => vec![Section::Tilt {
            db_per_octave: random_sign(rng) * (1.0 + 3.0 * s),
            pivot_hz: f(log_uniform(rng, 500.0, 2000.0)),
            lo_hz: f(TILT_LO_HZ),
            hi_hz: f(TILT_HI_HZ),
        }],
        Kind::Boom => {
            let gain_db = 4.0 + 10.0 * s;
            if rng.gen_bool(0.5) {
                vec![Section::LowShelf {
                    freq_hz: f(log_uniform(rng, 120.0, 300.0)),
                    gain_db,
                }]
            } else {
                vec![Section::Peak {
                    freq_hz: f(log_uniform(rng, 70.0, 200.0)),
                    gain_db,
                    q: uniform(rng, 0.5, 1.2),
                }]
            }
        }
        Kind::Muddy => {
            let mut v = vec![Section::Peak {
                freq_hz: f(log_uniform(rng, 200.0, 500.0)),
                gain_db: 3.0 + 9.0 * s,
                q: uniform(rng, 0.7, 1.5),
            }];
            if rng.gen_bool(0.6) {
                v.push(Section::HighShelf {
                    freq_hz: f(log_uniform(rng, 2000.0, 6000.0)),
                    gain_db: -(2.0 + 10.0 * s),
                });
            }
            v
        }
        Kind::Thin => {
            let mut v = vec![Section::LowShelf {
                freq_hz: f(log_uniform(rng, 200.0, 600.0)),
                gain_db: -(4.0 + 12.0 * s),
            }];
            if rng.gen_bool(0.5) {
                v.push(Section::HighPass {
                    freq_hz: f(log_uniform(rng, 60.0, 150.0)),
                    order: 2,
                });
            }
            v
        }
        Kind::Sibilant => {
            let n = rng.gen_range(1..=2);
            (0..n)
                .map(|_| Section::Peak {
                    freq_hz: f(log_uniform(rng, 4000.0, 10_000.0)),
                    gain_db: 4.0 + 12.0 * s,
                    q: log_uniform(rng, 3.0, 10.0),
                })
                .collect()
        }
        Kind::BandLimit => {
            let mode = rng.gen_range(0..4); // 0: HP, 1: LP, 2–3: both
            let mut v = Vec::new();
            let hp = f(lerp(80.0, 500.0, s) * log_uniform(rng, 0.8, 1.25));
            let lp = f(lerp(12_000.0, 3_000.0, s) * log_uniform(rng, 0.8, 1.25));
            let hp_order = if rng.gen_bool(0.5) { 2 } else { 4 };
            let lp_order = if rng.gen_bool(0.5) { 2 } else { 4 };
            if mode != 1 {
                v.push(Section::HighPass {
                    freq_hz: hp,
                    order: hp_order,
                });
            }
            if mode != 0 {
                v.push(Section::LowPass {
                    freq_hz: lp,
                    order: lp_order,
                });
            }
            v
        }
        _ => Vec::new(),
    }
}

/// Short label of a tone damage, e.g. `boom +9.5 dB at 140 Hz`.
pub fn describe(kind: Kind, sections: &[Section]) -> String {
    let one = |s: &Section| match *s {
        Section::LowShelf { freq_hz, gain_db } => {
            format!("low shelf {gain_db:+.1} dB at {freq_hz:.0} Hz")
        }
        Section::HighShelf { freq_hz, gain_db } => {
            format!("high shelf {gain_db:+.1} dB at {freq_hz:.0} Hz")
        }
        Section::Peak {
            freq_hz,
            gain_db,
            q,
        } => format!("{gain_db:+.1} dB at {freq_hz:.0} Hz (Q {q:.1})"),
        Section::Tilt {
            db_per_octave,
            pivot_hz,
            ..
        } => format!("{db_per_octave:+.1} dB/oct around {pivot_hz:.0} Hz"),
        Section::HighPass { freq_hz, order } => {
            format!("high-pass {freq_hz:.0} Hz ({order}th order)")
        }
        Section::LowPass { freq_hz, order } => {
            format!("low-pass {freq_hz:.0} Hz ({order}th order)")
        }
    };
    let parts: Vec<String> = sections.iter().map(one).collect();
    format!("{}: {}", kind.label(), parts.join(", "))
}

/// Butterworth section quality factors of an even `order`:
/// `Q_k = 1 / (2·cos((2k − 1)·π / (2·order)))`, `k = 1..=order/2`.
pub fn butterworth_qs(order: u32) -> Vec<f64> {
    let n = f64::from(order.max(2));
    (1..=order.max(2) / 2)
        .map(|k| 1.0 / (2.0 * ((2.0 * f64::from(k) - 1.0) * PI / (2.0 * n)).cos()))
        .collect()
}

/// Training implementation: RBJ Audio EQ Cookbook biquads (`faurge_dsp::biquad`),
/// `f64` transposed direct form II, in series.
///
/// - Shelves: cookbook low/high shelves at the section's corner, shelf Q drawn in
///   0.5–1.0 (S ≤ 1: no overshoot).
/// - Peaks: cookbook peaking filters.
/// - Tilts: a staircase of cookbook shelves (Q 0.5) one octave apart, high shelves
///   of `+slope` dB at `pivot·2^(i+½)` up to `hi_hz`, low shelves of `−slope` dB
///   at `pivot·2^−(i+½)` down to `lo_hz`: their sum follows `slope·log2(f/pivot)`
///   within about ±0.5 dB.
/// - Band limits: Butterworth cascades of cookbook 2nd-order high-/low-passes with
///   the Q values of [`butterworth_qs`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RbjBiquad;

fn rbj_realize(
    sections: &[Section],
    sr: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<Coefficients>, Vec<f64>) {
    let mut c = Vec::new();
    let mut shelf_qs = Vec::new();
    let design =
        |kind, f: f64, g: f64, q: f64| Coefficients::design(kind, clamp_freq(f, sr), g, q, sr);
    for s in sections {
        match *s {
            Section::LowShelf { freq_hz, gain_db } => {
                let q = uniform(rng, 0.5, 1.0);
                shelf_qs.push(r2(q));
                c.push(design(BandKind::LowShelf, freq_hz, gain_db, q));
            }
            Section::HighShelf { freq_hz, gain_db } => {
                let q = uniform(rng, 0.5, 1.0);
                shelf_qs.push(r2(q));
                c.push(design(BandKind::HighShelf, freq_hz, gain_db, q));
            }
            Section::Peak {
                freq_hz,
                gain_db,
                q,
            } => c.push(design(BandKind::Peak, freq_hz, gain_db, q)),
            Section::Tilt {
                db_per_octave,
                pivot_hz,
                lo_hz,
                hi_hz,
            } => {
                let mut i = 0;
                loop {
                    let f = pivot_hz * 2f64.powf(f64::from(i) + 0.5);
                    if f >= hi_hz || f >= 0.45 * sr {
                        break;
                    }
                    c.push(design(BandKind::HighShelf, f, db_per_octave, 0.5));
                    i += 1;
                }
                let mut i = 0;
                loop {
                    let f = pivot_hz * 2f64.powf(-(f64::from(i) + 0.5));
                    if f <= lo_hz {
                        break;
                    }
                    c.push(design(BandKind::LowShelf, f, -db_per_octave, 0.5));
                    i += 1;
                }
            }
            Section::HighPass { freq_hz, order } => {
                for q in butterworth_qs(order) {
                    c.push(design(BandKind::HighPass, freq_hz, 0.0, q));
                }
            }
            Section::LowPass { freq_hz, order } => {
                for q in butterworth_qs(order) {
                    c.push(design(BandKind::LowPass, freq_hz, 0.0, q));
                }
            }
        }
    }
    (c, shelf_qs)
}

impl Damage for RbjBiquad {
    fn id(&self) -> &'static str {
        "tone/rbj_biquad"
    }
    fn family(&self) -> Family {
        Family::Tone
    }
    fn kinds(&self) -> &'static [Kind] {
        &TONE_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "RBJ cookbook biquads in series (shelves, peaks, shelf staircases for tilts, Butterworth cascades)"
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let sections = draw_sections(kind, strength, rng, sample_rate);
        let (coeffs, shelf_qs) = rbj_realize(&sections, sample_rate, rng);
        util::biquads(audio, &coeffs);
        Ok(Rendered {
            params: json!({ "sections": sections, "shelf_q": shelf_qs, "biquads": coeffs.len() }),
            label: describe(kind, &sections),
        })
    }
}

/// Logistic function `1 / (1 + e^−x)`.
fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The magnitude in dB at `f` Hz of `sections` with smooth analytic shapes (the
/// [`LinearPhaseFir`] curve): shelves are logistic steps in log-frequency with
/// `slope` (per octave) steepness, peaks Gaussian bells in log-frequency whose
/// width follows the Q (standard deviation = cookbook bandwidth / 2.355, i.e.
/// bandwidth = full width at half the dB gain), tilts straight lines in log
/// frequency, band limits Butterworth magnitudes `−10·log10(1 + (f/fc)^±2n)`.
pub fn smooth_curve_db(sections: &[Section], shelf_slopes: &[f64], f: f64) -> f64 {
    let f = f.max(1e-3);
    let mut shelf = 0;
    let mut db = 0.0;
    for s in sections {
        match *s {
            Section::LowShelf { freq_hz, gain_db } => {
                let k = shelf_slopes.get(shelf).copied().unwrap_or(3.0);
                shelf += 1;
                db += gain_db * (1.0 - logistic(k * (f / freq_hz).log2()));
            }
            Section::HighShelf { freq_hz, gain_db } => {
                let k = shelf_slopes.get(shelf).copied().unwrap_or(3.0);
                shelf += 1;
                db += gain_db * logistic(k * (f / freq_hz).log2());
            }
            Section::Peak {
                freq_hz,
                gain_db,
                q,
            } => {
                let sigma = bandwidth_octaves(q) / 2.3548;
                let x = (f / freq_hz).log2() / sigma;
                db += gain_db * (-0.5 * x * x).exp();
            }
            Section::Tilt {
                db_per_octave,
                pivot_hz,
                lo_hz,
                hi_hz,
            } => {
                let x = f.clamp(lo_hz, hi_hz.max(lo_hz));
                db += db_per_octave * (x / pivot_hz).log2();
            }
            Section::HighPass { freq_hz, order } => {
                db -= 10.0 * (1.0 + (freq_hz / f).powi(2 * order as i32)).log10();
            }
            Section::LowPass { freq_hz, order } => {
                db -= 10.0 * (1.0 + (f / freq_hz).powi(2 * order as i32)).log10();
            }
        }
    }
    db.max(-120.0)
}

/// FIR length (odd) that resolves `sections` at `sr`: `4·fs / resolution`,
/// between 255 samples and 0.5 s.
pub fn fir_length(sections: &[Section], sr: f64) -> usize {
    let res = sections
        .iter()
        .map(Section::resolution_hz)
        .fold(f64::INFINITY, f64::min)
        .max(5.0);
    let l = if res.is_finite() {
        (4.0 * sr / res).ceil() as usize
    } else {
        255
    };
    let l = l.clamp(255, (0.5 * sr) as usize);
    l | 1
}

/// Zero-phase design by frequency sampling: the magnitude `10^(curve(f)/20)` on
/// a grid of `4·len` (next power of two) bins, inverse FFT, centred, cut to `len`
/// (odd) samples with a Hann window. Linear phase, delay `(len − 1)/2`.
pub fn linear_phase_fir(curve: impl Fn(f64) -> f64, len: usize, sr: f64) -> Vec<f64> {
    let n = (4 * len).next_power_of_two();
    let spec: Vec<realfft::num_complex::Complex64> = (0..=n / 2)
        .map(|k| {
            let f = k as f64 * sr / n as f64;
            realfft::num_complex::Complex64::new(10f64.powf(curve(f) / 20.0), 0.0)
        })
        .collect();
    let h0 = util::irfft(&spec, n);
    let half = (len - 1) / 2;
    let w = util::hann(len + 2); // drop the zero end points
    (0..len)
        .map(|i| h0[(i + n - half) % n] * w[i + 1])
        .collect()
}

/// Training implementation: a linear-phase FIR by frequency sampling of a smooth
/// dB curve ([`smooth_curve_db`]: logistic shelves with a steepness drawn in
/// 1.5–5 per octave, Gaussian bells, straight tilts, Butterworth band edges),
/// length from [`fir_length`], Hann-windowed ([`linear_phase_fir`]), applied by
/// FFT convolution with its `(len − 1)/2` delay removed (so the damage is
/// time-aligned, with the symmetric pre-ringing of linear-phase EQs).
#[derive(Clone, Copy, Debug, Default)]
pub struct LinearPhaseFir;

impl Damage for LinearPhaseFir {
    fn id(&self) -> &'static str {
        "tone/linear_phase_fir"
    }
    fn family(&self) -> Family {
        Family::Tone
    }
    fn kinds(&self) -> &'static [Kind] {
        &TONE_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "linear-phase FIR, frequency-sampled from a smooth dB curve (logistic shelves, Gaussian bells), FFT convolution"
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let sections = draw_sections(kind, strength, rng, sample_rate);
        let slopes: Vec<f64> = sections
            .iter()
            .filter(|s| matches!(s, Section::LowShelf { .. } | Section::HighShelf { .. }))
            .map(|_| uniform(rng, 1.5, 5.0))
            .collect();
        let len = fir_length(&sections, sample_rate);
        let h = linear_phase_fir(|f| smooth_curve_db(&sections, &slopes, f), len, sample_rate);
        util::convolve_channels(audio, &h, (len - 1) / 2);
        Ok(Rendered {
            params: json!({
                "sections": sections,
                "shelf_slope_per_octave": slopes.iter().map(|&v| r2(v)).collect::<Vec<_>>(),
                "fir_len": len,
            }),
            label: describe(kind, &sections),
        })
    }
}
