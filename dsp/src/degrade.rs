//! The degradation suite: the six seeded, parameterized defects of `docs/SPEC.md` ("The training data") that turn pristine audio into training input.
//!
//! | kind | what it simulates | severity parameter |
//! |---|---|---|
//! | [`Degradation::Pops`] | USB buffer underruns, cable interference: a click or "boop" every 1 s exactly | `peak_db_re_signal_peak` |
//! | [`Degradation::Noise`] | preamp hiss, noise floor: white, pink or brown noise | `snr_db` |
//! | [`Degradation::Muddy`] | proximity effect, cheap dynamic mic: low-mid boost + high-shelf cut | `boost_db`, `shelf_db` |
//! | [`Degradation::Clipping`] | input gain overdrive: drive then hard clip | `drive_db` |
//! | [`Degradation::Comb`] | a short wall reflection: feed-forward comb | `gain` |
//! | [`Degradation::Sibilance`] | cheap condenser diaphragm: high-Q boosts at 5–8 kHz | `gain_db` of each resonance |
//!
//! [`Degradation::random`] draws one kind's parameters from a strength in 0..=1;
//! [`DegradationChain::random_subset`] draws a random non-empty subset and
//! applies it in the fixed order of [`DegradationKind::ALL`] (room, microphone,
//! preamp noise, interference, converter clipping). Everything is deterministic
//! for a given RNG state and seed: bit-identical on one machine; pink and brown
//! noise go through rustfft, which picks its SIMD path at run time, so another
//! CPU may differ in the last bits. Offline code: it allocates; never call it on
//! the audio thread. Parameters outside their documented ranges are clamped into
//! them when applied.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analysis::loudness::active_speech_level;
use crate::analysis::{MAX_ANALYSIS_SAMPLE_RATE, MIN_ANALYSIS_SAMPLE_RATE};
use crate::biquad::{BiquadState, Coefficients};
use crate::state::{effective_freq_hz, BandKind};

/// Pops repeat at exactly this interval, s (the spec's "1-second intervals").
pub const POP_INTERVAL_S: f32 = 1.0;
/// Lowest corner of the coloured-noise spectra (pink `1/√f`, brown `1/f` are
/// held flat below it so they stay finite), Hz.
pub const NOISE_CORNER_HZ: f64 = 20.0;
/// Reference level for noise when the signal itself is silent (no active
/// level): −30 dB re full scale (mean square).
pub const SILENT_REFERENCE_DB: f32 = -30.0;

/// Why a degradation could not be applied.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DegradeError {
    /// The sample rate is NaN, infinite or outside the supported range.
    #[error(
        "sample rate is {sample_rate} Hz, but degradations need a rate between {min} and {max} Hz"
    )]
    InvalidSampleRate {
        /// The rate given, Hz.
        sample_rate: f32,
        /// Lowest supported rate, Hz.
        min: f32,
        /// Highest supported rate, Hz.
        max: f32,
    },
}

/// The six kinds, in the fixed order a [`DegradationChain`] applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegradationKind {
    /// Feed-forward comb (room reflection).
    Comb,
    /// Low-mid boost and high roll-off.
    Muddy,
    /// High-Q boosts at 5–8 kHz.
    Sibilance,
    /// Broadband noise.
    Noise,
    /// Periodic clicks or boops.
    Pops,
    /// Drive into a hard clip.
    Clipping,
}

impl DegradationKind {
    /// All kinds in application order: comb (room) → muddy, sibilance
    /// (microphone) → noise (preamp) → pops (interference) → clipping (converter).
    pub const ALL: [DegradationKind; 6] = [
        DegradationKind::Comb,
        DegradationKind::Muddy,
        DegradationKind::Sibilance,
        DegradationKind::Noise,
        DegradationKind::Pops,
        DegradationKind::Clipping,
    ];

    /// Short label for the dataset: `comb`, `muddy`, `sibilance`, `noise`, `pops`, `clipping`.
    pub fn label(self) -> &'static str {
        match self {
            DegradationKind::Comb => "comb",
            DegradationKind::Muddy => "muddy",
            DegradationKind::Sibilance => "sibilance",
            DegradationKind::Noise => "noise",
            DegradationKind::Pops => "pops",
            DegradationKind::Clipping => "clipping",
        }
    }

    /// Position in [`DegradationKind::ALL`].
    pub fn order(self) -> usize {
        DegradationKind::ALL
            .iter()
            .position(|&k| k == self)
            .unwrap_or(0)
    }
}

/// Colour of the broadband noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseColor {
    /// Flat power spectral density.
    White,
    /// −3 dB per octave (equal power per octave).
    Pink,
    /// −6 dB per octave (Brownian / red).
    Brown,
}

/// Shape of one pop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PopShape {
    /// A hard DC-offset step that decays exponentially back to zero.
    Click {
        /// Decay time constant, ms (0.2..=20).
        decay_ms: f32,
    },
    /// A short tone burst starting at its peak (a hard onset) and decaying.
    Boop {
        /// Tone frequency, Hz (50..=2000, and below 0.45 × the sample rate).
        freq_hz: f32,
        /// Burst length, ms (2..=100); the envelope decays smoothly to zero over it.
        duration_ms: f32,
    },
}

/// One resonance of [`Degradation::Sibilance`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resonance {
    /// Centre frequency, Hz (clamped below 0.45 × the sample rate).
    pub freq_hz: f32,
    /// Peak gain, dB (0..=24).
    pub gain_db: f32,
    /// Quality factor (0.5..=18).
    pub q: f32,
}

/// One parameterized degradation. Serialized with a `kind` tag, e.g.
/// `{"kind":"noise","color":"pink","snr_db":12.0}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Degradation {
    /// Periodic clocking pops: one pop every [`POP_INTERVAL_S`] (exactly 1 s),
    /// the first at `first_pop_s`, identical on every channel.
    Pops {
        /// Pop shape and its parameters.
        shape: PopShape,
        /// Pop peak amplitude re the signal's sample peak, dB (−40..=6; full
        /// scale is the reference for a silent signal).
        peak_db_re_signal_peak: f32,
        /// Time of the first pop, s (0..1).
        first_pop_s: f32,
    },
    /// Broadband Gaussian noise, independent per channel, added at `snr_db`
    /// below the signal's ITU-T P.56 active speech level
    /// ([`crate::analysis::loudness::active_speech_level`]).
    Noise {
        /// Spectrum of the noise.
        color: NoiseColor,
        /// Active level over noise power, dB (−10..=80).
        snr_db: f32,
    },
    /// Muddy EQ: a cookbook peaking boost in the low mids and a cookbook
    /// high-shelf cut (Audio EQ Cookbook, [`crate::biquad`]).
    Muddy {
        /// Boost centre, Hz (100..=800; the spec's range is 200–500).
        boost_hz: f32,
        /// Boost gain, dB (0..=24).
        boost_db: f32,
        /// Boost quality factor (0.3..=4).
        boost_q: f32,
        /// High-shelf corner, Hz (1000..=10000).
        shelf_hz: f32,
        /// High-shelf gain, dB (−24..=0, a cut).
        shelf_db: f32,
    },
    /// Digital clipping: `clamp(x · 10^(drive_db/20), −P, P)` with `P` the
    /// input's sample peak, so the output never exceeds the input's peak and
    /// the clipped share depends on the drive, not on the input level.
    Clipping {
        /// Gain before the clip, dB (0..=40).
        drive_db: f32,
    },
    /// Comb filtering: `y[n] = (x[n] + g·x[n − D]) / (1 + |g|)` with `D` the
    /// delay rounded to whole samples (notches every `1/delay` Hz; the
    /// normalization keeps the peak gain at 1).
    Comb {
        /// Reflection delay, ms (1..=10).
        delay_ms: f32,
        /// Reflection gain `g` (−0.99..=0.99).
        gain: f32,
    },
    /// Harsh sibilance: cookbook peaking boosts, in series.
    Sibilance {
        /// The resonances (5–8 kHz when drawn by [`Degradation::random`]).
        resonances: Vec<Resonance>,
    },
}

fn clampf(v: f32, lo: f32, hi: f32) -> f32 {
    if v.is_nan() {
        lo
    } else {
        v.clamp(lo, hi)
    }
}

impl Degradation {
    /// The kind of this degradation.
    pub fn kind(&self) -> DegradationKind {
        match self {
            Degradation::Pops { .. } => DegradationKind::Pops,
            Degradation::Noise { .. } => DegradationKind::Noise,
            Degradation::Muddy { .. } => DegradationKind::Muddy,
            Degradation::Clipping { .. } => DegradationKind::Clipping,
            Degradation::Comb { .. } => DegradationKind::Comb,
            Degradation::Sibilance { .. } => DegradationKind::Sibilance,
        }
    }

    /// Short label, see [`DegradationKind::label`].
    pub fn label(&self) -> &'static str {
        self.kind().label()
    }

    /// Draws parameters for `kind` at `strength` (0 = mild, 1 = severe; clamped).
    /// The severity parameter follows the strength linearly; the others
    /// (frequencies, colour, shape, timing) are drawn uniformly from `rng`:
    ///
    /// - pops: peak −30 + 30·s dB re signal peak; click (decay 1–5 ms) or
    ///   boop (150–600 Hz, 10–40 ms); first pop at 0–1 s.
    /// - noise: SNR 40 − 40·s dB; white, pink or brown.
    /// - muddy: +3 + 12·s dB at 200–500 Hz (Q 0.7–1.5); −3 − 15·s dB shelf at 2–5 kHz.
    /// - clipping: drive 1 + 23·s dB.
    /// - comb: gain 0.2 + 0.7·s (sign random), delay 1–10 ms.
    /// - sibilance: one or two boosts of +4 + 14·s dB at 5–8 kHz, Q 4–10.
    pub fn random(kind: DegradationKind, rng: &mut impl Rng, strength: f32) -> Degradation {
        let s = clampf(strength, 0.0, 1.0);
        match kind {
            DegradationKind::Pops => {
                let shape = if rng.gen_bool(0.5) {
                    PopShape::Click {
                        decay_ms: rng.gen_range(1.0..5.0),
                    }
                } else {
                    PopShape::Boop {
                        freq_hz: rng.gen_range(150.0..600.0),
                        duration_ms: rng.gen_range(10.0..40.0),
                    }
                };
                Degradation::Pops {
                    shape,
                    peak_db_re_signal_peak: -30.0 + 30.0 * s,
                    first_pop_s: rng.gen_range(0.0..1.0),
                }
            }
            DegradationKind::Noise => {
                let color = match rng.gen_range(0..3) {
                    0 => NoiseColor::White,
                    1 => NoiseColor::Pink,
                    _ => NoiseColor::Brown,
                };
                Degradation::Noise {
                    color,
                    snr_db: 40.0 - 40.0 * s,
                }
            }
            DegradationKind::Muddy => Degradation::Muddy {
                boost_hz: rng.gen_range(200.0..500.0),
                boost_db: 3.0 + 12.0 * s,
                boost_q: rng.gen_range(0.7..1.5),
                shelf_hz: rng.gen_range(2000.0..5000.0),
                shelf_db: -3.0 - 15.0 * s,
            },
            DegradationKind::Clipping => Degradation::Clipping {
                drive_db: 1.0 + 23.0 * s,
            },
            DegradationKind::Comb => {
                let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
                Degradation::Comb {
                    delay_ms: rng.gen_range(1.0..10.0),
                    gain: sign * (0.2 + 0.7 * s),
                }
            }
            DegradationKind::Sibilance => {
                let n = rng.gen_range(1..=2);
                let resonances = (0..n)
                    .map(|_| Resonance {
                        freq_hz: rng.gen_range(5000.0..8000.0),
                        gain_db: 4.0 + 14.0 * s,
                        q: rng.gen_range(4.0..10.0),
                    })
                    .collect();
                Degradation::Sibilance { resonances }
            }
        }
    }

    /// Applies the degradation in place to planar `channels` (any count; each
    /// channel processed over its own length) at `sample_rate` Hz. `seed`
    /// drives the only per-application randomness (the noise samples); the
    /// same parameters, audio and seed always give the same output.
    /// Non-finite input samples are treated as 0.
    ///
    /// # Errors
    /// [`DegradeError::InvalidSampleRate`] for a rate outside 8–384 kHz or not finite.
    pub fn apply<C: AsMut<[f32]>>(
        &self,
        channels: &mut [C],
        sample_rate: f32,
        seed: u64,
    ) -> Result<(), DegradeError> {
        if !(sample_rate.is_finite()
            && (MIN_ANALYSIS_SAMPLE_RATE..=MAX_ANALYSIS_SAMPLE_RATE).contains(&sample_rate))
        {
            return Err(DegradeError::InvalidSampleRate {
                sample_rate,
                min: MIN_ANALYSIS_SAMPLE_RATE,
                max: MAX_ANALYSIS_SAMPLE_RATE,
            });
        }
        for c in channels.iter_mut() {
            for v in c.as_mut() {
                if !v.is_finite() {
                    *v = 0.0;
                }
            }
        }
        let sr = f64::from(sample_rate);
        match self {
            Degradation::Pops {
                shape,
                peak_db_re_signal_peak,
                first_pop_s,
            } => apply_pops(channels, sr, *shape, *peak_db_re_signal_peak, *first_pop_s),
            Degradation::Noise { color, snr_db } => {
                apply_noise(channels, sample_rate, *color, *snr_db, seed)
            }
            Degradation::Muddy { .. } | Degradation::Sibilance { .. } => {
                filter_all(channels, &self.eq_filters(sample_rate, 1.0));
            }
            Degradation::Clipping { drive_db } => {
                let g = 10f32.powf(clampf(*drive_db, 0.0, 40.0) / 20.0);
                let peak = channels
                    .iter_mut()
                    .map(|c| c.as_mut().iter().fold(0.0f32, |m, v| m.max(v.abs())))
                    .fold(0.0f32, f32::max);
                for c in channels.iter_mut() {
                    for v in c.as_mut() {
                        *v = (*v * g).clamp(-peak, peak);
                    }
                }
            }
            Degradation::Comb { delay_ms, gain } => {
                let d = (f64::from(clampf(*delay_ms, 1.0, 10.0)) * sr / 1000.0).round() as usize;
                let g = clampf(*gain, -0.99, 0.99);
                let norm = 1.0 / (1.0 + g.abs());
                for c in channels.iter_mut() {
                    let c = c.as_mut();
                    for n in (0..c.len()).rev() {
                        let delayed = if n >= d { c[n - d] } else { 0.0 };
                        c[n] = (c[n] + g * delayed) * norm;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Degradation {
    /// The cookbook filters an equalizing degradation applies (muddy: the low-mid
    /// peak and the high shelf; sibilance: one peak per resonance), with every
    /// gain in dB multiplied by `gain_scale`: 1 gives the degradation itself, −α a
    /// fraction α of the EQ that corrects it. Parameters are clamped exactly as
    /// [`Degradation::apply`] clamps them. Empty for the other kinds.
    pub fn eq_filters(&self, sample_rate: f32, gain_scale: f64) -> Vec<Coefficients> {
        let sr = f64::from(sample_rate);
        let design = |kind, freq_hz: f32, gain_db: f32, q: f64| {
            Coefficients::design(
                kind,
                f64::from(effective_freq_hz(freq_hz, sample_rate)),
                gain_scale * f64::from(gain_db),
                q,
                sr,
            )
        };
        match self {
            Degradation::Muddy {
                boost_hz,
                boost_db,
                boost_q,
                shelf_hz,
                shelf_db,
            } => vec![
                design(
                    BandKind::Peak,
                    clampf(*boost_hz, 100.0, 800.0),
                    clampf(*boost_db, 0.0, 24.0),
                    f64::from(clampf(*boost_q, 0.3, 4.0)),
                ),
                design(
                    BandKind::HighShelf,
                    clampf(*shelf_hz, 1000.0, 10_000.0),
                    clampf(*shelf_db, -24.0, 0.0),
                    std::f64::consts::FRAC_1_SQRT_2,
                ),
            ],
            Degradation::Sibilance { resonances } => resonances
                .iter()
                .map(|r| {
                    design(
                        BandKind::Peak,
                        clampf(r.freq_hz, 20.0, 20_000.0),
                        clampf(r.gain_db, 0.0, 24.0),
                        f64::from(clampf(r.q, 0.5, 18.0)),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Runs every channel through `coeffs` in series (fresh state per channel).
fn filter_all<C: AsMut<[f32]>>(channels: &mut [C], coeffs: &[Coefficients]) {
    for c in channels.iter_mut() {
        let c = c.as_mut();
        for co in coeffs {
            let mut st = BiquadState::default();
            st.process(co, c);
        }
    }
}

fn apply_pops<C: AsMut<[f32]>>(
    channels: &mut [C],
    sr: f64,
    shape: PopShape,
    peak_db: f32,
    first_pop_s: f32,
) {
    let peak = channels
        .iter_mut()
        .map(|c| c.as_mut().iter().fold(0.0f32, |m, v| m.max(v.abs())))
        .fold(0.0f32, f32::max);
    let reference = if peak > 0.0 { f64::from(peak) } else { 1.0 };
    let amp = reference * 10f64.powf(f64::from(clampf(peak_db, -40.0, 6.0)) / 20.0);
    // One pop's waveform, starting at its peak.
    let pop: Vec<f64> = match shape {
        PopShape::Click { decay_ms } => {
            let tau = f64::from(clampf(decay_ms, 0.2, 20.0)) * 1e-3 * sr;
            let len = (tau * 10.0).ceil() as usize;
            (0..len).map(|n| amp * (-(n as f64) / tau).exp()).collect()
        }
        PopShape::Boop {
            freq_hz,
            duration_ms,
        } => {
            let f = f64::from(clampf(freq_hz, 50.0, 2000.0)).min(0.45 * sr);
            let len =
                ((f64::from(clampf(duration_ms, 2.0, 100.0)) * 1e-3 * sr).round() as usize).max(1);
            // Envelope exp(−3 n / len) · (1 − n / len): decays and ends at zero,
            // so only the onset is a step.
            (0..len)
                .map(|n| {
                    let t = n as f64 / sr;
                    let x = n as f64 / len as f64;
                    amp * (2.0 * std::f64::consts::PI * f * t).cos() * (-3.0 * x).exp() * (1.0 - x)
                })
                .collect()
        }
    };
    let first = f64::from(clampf(first_pop_s, 0.0, 1.0)).min(0.999_999);
    let interval = f64::from(POP_INTERVAL_S);
    for c in channels.iter_mut() {
        let c = c.as_mut();
        let len = c.len();
        let mut k = 0u64;
        loop {
            let start = ((first + k as f64 * interval) * sr).round() as usize;
            if start >= len {
                break;
            }
            for (v, p) in c[start..].iter_mut().zip(&pop) {
                *v += *p as f32;
            }
            k += 1;
        }
    }
}

/// Standard normal samples by the Box–Muller transform.
fn gaussian(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
        let u2: f64 = rng.gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
        out.push(r * c);
        out.push(r * s);
    }
    out.truncate(n);
    out
}

/// `n` samples of unit-RMS Gaussian noise of `color` at `sample_rate`, from `rng`.
///
/// White noise is used as is; pink and brown are shaped in the frequency domain
/// (one FFT over the whole, zero-padded length) by `1/√f` and `1/f` above
/// [`NOISE_CORNER_HZ`] (flat below, DC removed), which gives exact −3 and
/// −6 dB/octave slopes.
pub fn colored_noise(
    color: NoiseColor,
    n: usize,
    sample_rate: f32,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    if n == 0 {
        return Vec::new();
    }
    let mut x = match color {
        NoiseColor::White => gaussian(rng, n),
        NoiseColor::Pink | NoiseColor::Brown => {
            let m = n.next_power_of_two().max(2);
            let mut planner = RealFftPlanner::<f64>::new();
            let fwd = planner.plan_fft_forward(m);
            let inv = planner.plan_fft_inverse(m);
            let mut buf = gaussian(rng, m);
            let mut spec = fwd.make_output_vec();
            if fwd.process(&mut buf, &mut spec).is_err() {
                return vec![0.0; n];
            }
            let bin_hz = f64::from(sample_rate) / m as f64;
            let exponent = if color == NoiseColor::Pink { 0.5 } else { 1.0 };
            for (k, c) in spec.iter_mut().enumerate() {
                if k == 0 {
                    *c = Default::default();
                    continue;
                }
                let f = (k as f64 * bin_hz).max(NOISE_CORNER_HZ);
                *c *= (NOISE_CORNER_HZ / f).powf(exponent);
            }
            // The Nyquist bin of a real signal must be real.
            if let Some(last) = spec.last_mut() {
                last.im = 0.0;
            }
            if inv.process(&mut spec, &mut buf).is_err() {
                return vec![0.0; n];
            }
            buf.truncate(n);
            buf
        }
    };
    let mean = x.iter().sum::<f64>() / n as f64;
    for v in &mut x {
        *v -= mean;
    }
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
    let scale = if rms > 0.0 { 1.0 / rms } else { 0.0 };
    x.iter().map(|v| (v * scale) as f32).collect()
}

fn apply_noise<C: AsMut<[f32]>>(
    channels: &mut [C],
    sample_rate: f32,
    color: NoiseColor,
    snr_db: f32,
    seed: u64,
) {
    let level_db = {
        let views: Vec<&[f32]> = channels.iter_mut().map(|c| &*c.as_mut()).collect();
        let len = views.iter().map(|c| c.len()).min().unwrap_or(0);
        let cut: Vec<&[f32]> = views.iter().map(|c| &c[..len]).collect();
        if cut.len() <= crate::MAX_CHANNELS {
            active_speech_level(&cut, sample_rate).map(|a| a.level_db)
        } else {
            // Active level over the first two channels for wider layouts.
            active_speech_level(&cut[..crate::MAX_CHANNELS], sample_rate).map(|a| a.level_db)
        }
    }
    .unwrap_or(SILENT_REFERENCE_DB);
    let noise_rms =
        10f64.powf((f64::from(level_db) - f64::from(clampf(snr_db, -10.0, 80.0))) / 20.0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for c in channels.iter_mut() {
        let c = c.as_mut();
        let noise = colored_noise(color, c.len(), sample_rate, &mut rng);
        for (v, n) in c.iter_mut().zip(noise) {
            *v = (f64::from(*v) + noise_rms * f64::from(n)) as f32;
        }
    }
}

/// A sequence of degradations applied in order, with the labels the dataset stores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationChain {
    /// The steps, applied first to last.
    pub steps: Vec<Degradation>,
}

impl DegradationChain {
    /// A random non-empty subset of the six kinds (each present with
    /// probability 1/2; if none was drawn, one drawn uniformly), each with a
    /// strength uniform in 0.1..1 and parameters from [`Degradation::random`],
    /// ordered as [`DegradationKind::ALL`].
    pub fn random_subset(rng: &mut impl Rng) -> DegradationChain {
        let mut kinds: Vec<DegradationKind> = DegradationKind::ALL
            .iter()
            .copied()
            .filter(|_| rng.gen_bool(0.5))
            .collect();
        if kinds.is_empty() {
            kinds.push(DegradationKind::ALL[rng.gen_range(0..DegradationKind::ALL.len())]);
        }
        let steps = kinds
            .into_iter()
            .map(|k| {
                let strength = rng.gen_range(0.1..1.0);
                Degradation::random(k, rng, strength)
            })
            .collect();
        DegradationChain { steps }
    }

    /// Applies every step in order. Step `i` gets the seed
    /// `seed + i · 0x9E37_79B9_7F4A_7C15` (wrapping), so two noise steps differ.
    ///
    /// # Errors
    /// [`DegradeError`] from the first step that fails (then later steps are not applied).
    pub fn apply<C: AsMut<[f32]>>(
        &self,
        channels: &mut [C],
        sample_rate: f32,
        seed: u64,
    ) -> Result<(), DegradeError> {
        for (i, step) in self.steps.iter().enumerate() {
            let s = seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            step.apply(channels, sample_rate, s)?;
        }
        Ok(())
    }

    /// The step labels in order, e.g. `["muddy", "noise"]`.
    pub fn labels(&self) -> Vec<&'static str> {
        self.steps.iter().map(Degradation::label).collect()
    }
}
