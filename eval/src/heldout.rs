//! Held-out damage implementations: one per family, used only by the evaluation,
//! so its figures measure generalisation to damage the models never trained on.
//!
//! `faurge-dataset` builds its training data from
//! [`faurge_dataset::damage::Registry::training`]; these implementations live in
//! this crate, which the dataset generator does not depend on, so no training
//! row can ever come from them. They implement the same
//! [`faurge_dataset::damage::Damage`] trait, share the kinds' parameter ranges
//! (what a boom *is*: [`tone::draw_sections`], [`comb::draw_reflections`], the
//! SNR, drive and level mappings) and differ in the *algorithm* (filter shapes,
//! phase, generators, timing models), and for recorded noise and rooms in the
//! recordings: they only accept the held-out pool
//! ([`faurge_dataset::damage::HELDOUT_NOISE_FILES`],
//! [`faurge_dataset::damage::HELDOUT_RIR_FILES`]).
//!
//! | family | held-out implementation | why this one is held out |
//! |---|---|---|
//! | tone | [`MinimumPhaseTone`]: minimum-phase FIR (real cepstrum) of a curve with raised-cosine shelves and bells, Linkwitz–Riley band edges | neither training implementation has these shapes (cookbook and logistic/Gaussian) nor minimum phase: it stands for a measured microphone response |
//! | comb | [`AbsorbingReflections`]: fractional-delay reflections, each low-passed by an absorbing surface | real reflections lose treble and fall between samples; training only has flat, integer-delay reflections |
//! | noise | [`HeldOutNoise`]: Voss–McCartney octave-row noise, held-out recordings with a drifting level, saturated-transformer hum | other generators and another noise source than training's Gaussian/FFT and filtered noise |
//! | clipping | [`AnalogStage`]: 4× oversampled analog-style stage (clamp, algebraic sigmoid, exponential diode curve) with AC coupling | clipping before the converter's anti-alias filter rounds the flat tops and rings; training clips at the sample rate |
//! | clicks | [`FilteredImpulses`]: excitations through a random resonance and AC coupling, jittered timing, clustered clicks, Pareto crackle, bit errors | the click shape comes from an electrical path, not a template |
//! | room | [`DrrRoom`]: held-out RIRs with the direct-to-reverberant ratio set by scaling the windowed direct sound (N. J. Bryan, "Impulse response data augmentation and deep neural networks for blind room acoustic parameter estimation", ICASSP 2020) | other rooms/positions and another wet/dry method than training's mix |
//!
//! [`apply_heldout`] and [`apply_training`] apply exactly one kind at a given
//! strength by held-out and by training implementations, so the evaluation can
//! report seen vs unseen algorithms for every kind of [`EVAL_KINDS`];
//! [`apply_eval`] adds combinations.

use std::f64::consts::{FRAC_PI_2, PI};

use faurge_dataset::damage::util::{self, clamp_freq, log_uniform, r2, random_sign, uniform};
use faurge_dataset::damage::{
    clicks, clipping, comb, noise, room, tone, Applied, Damage, DamageError, Family, Kind,
    RecordingSet, Recordings, Registry, Rendered, Step,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The eight kinds of the table, in its order: clicks at regular intervals,
/// hard clipping, low-frequency boom, comb filtering, broadband noise, sibilant
/// resonance, thin, muddy. Reference matching runs on these.
pub const TABLE_KINDS: [Kind; 8] = [
    Kind::PeriodicClicks,
    Kind::HardClip,
    Kind::Boom,
    Kind::Comb,
    Kind::Noise,
    Kind::Sibilant,
    Kind::Thin,
    Kind::Muddy,
];

/// The kinds the evaluation reports: [`TABLE_KINDS`] followed by hum, soft clipping,
/// room, band limit and recorded noise.
pub const EVAL_KINDS: [Kind; 13] = {
    let more = [
        Kind::Hum,
        Kind::SoftClip,
        Kind::Room,
        Kind::BandLimit,
        Kind::RecordedNoise,
    ];
    let mut all = [Kind::Noise; 13];
    let mut i = 0;
    while i < all.len() {
        all[i] = if i < TABLE_KINDS.len() {
            TABLE_KINDS[i]
        } else {
            more[i - TABLE_KINDS.len()]
        };
        i += 1;
    }
    all
};

/// Fewest families in an evaluation combination.
pub const EVAL_COMBINATION_FAMILIES: usize = 2;

/// The held-out implementations, one per family in [`Family::ALL`] order.
pub fn implementations() -> Vec<Box<dyn Damage>> {
    vec![
        Box::new(DrrRoom),
        Box::new(AbsorbingReflections),
        Box::new(MinimumPhaseTone),
        Box::new(HeldOutNoise),
        Box::new(FilteredImpulses),
        Box::new(AnalogStage),
    ]
}

/// A registry of the held-out implementations.
pub fn registry() -> Registry {
    Registry::new(implementations())
}

/// Whether the damage comes from training or held-out implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seen {
    /// [`Registry::training`]: the algorithms the models were trained on.
    Training,
    /// [`registry`]: algorithms the models never saw.
    HeldOut,
}

/// What the evaluation applies to a clean clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalDamage {
    /// Exactly one kind.
    Kind(Kind),
    /// A combination of at least [`EVAL_COMBINATION_FAMILIES`] families.
    Combination,
}

/// Applies exactly one `kind` at `strength` by the held-out implementation of its
/// family. `recordings` must be of the held-out pool
/// ([`faurge_dataset::damage::Pool::HeldOut`]) for recorded noise and rooms.
///
/// # Errors
/// As [`Registry::apply_kind`].
pub fn apply_heldout(
    kind: Kind,
    strength: f32,
    audio: &mut [&mut [f32]],
    sample_rate: f32,
    seed: u64,
    recordings: &Recordings,
) -> Result<Applied, DamageError> {
    registry().apply_kind(kind, strength, audio, sample_rate, seed, recordings)
}

/// Applies exactly one `kind` at `strength` by a training implementation (drawn
/// from `seed` among those available). `recordings` must be of the training pool.
///
/// # Errors
/// As [`Registry::apply_kind`].
pub fn apply_training(
    kind: Kind,
    strength: f32,
    audio: &mut [&mut [f32]],
    sample_rate: f32,
    seed: u64,
    recordings: &Recordings,
) -> Result<Applied, DamageError> {
    Registry::training().apply_kind(kind, strength, audio, sample_rate, seed, recordings)
}

/// Applies `damage` at `strength` by the `seen` implementations: one kind
/// ([`apply_heldout`] / [`apply_training`]), or a combination of at least
/// [`EVAL_COMBINATION_FAMILIES`] families drawn from `seed`
/// ([`Registry::draw_combination`]) with every step at `strength`.
///
/// # Errors
/// As [`Registry::apply_kind`] and [`Registry::apply_steps`].
pub fn apply_eval(
    damage: EvalDamage,
    seen: Seen,
    strength: f32,
    audio: &mut [&mut [f32]],
    sample_rate: f32,
    seed: u64,
    recordings: &Recordings,
) -> Result<Vec<Applied>, DamageError> {
    let reg = match seen {
        Seen::Training => Registry::training(),
        Seen::HeldOut => registry(),
    };
    match damage {
        EvalDamage::Kind(kind) => Ok(vec![reg.apply_kind(
            kind,
            strength,
            audio,
            sample_rate,
            seed,
            recordings,
        )?]),
        EvalDamage::Combination => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let steps: Vec<Step> = reg
                .draw_combination(&mut rng, sample_rate, recordings, EVAL_COMBINATION_FAMILIES)
                .into_iter()
                .map(|s| Step { strength, ..s })
                .collect();
            reg.apply_steps(&steps, audio, sample_rate, recordings)
        }
    }
}

// ---------------------------------------------------------------------------
// Tone
// ---------------------------------------------------------------------------

/// `0` below `−½`, `1` above `½`, `½(1 + sin(π·x))` between: a raised-cosine step.
pub fn raised_step(x: f64) -> f64 {
    if x <= -0.5 {
        0.0
    } else if x >= 0.5 {
        1.0
    } else {
        0.5 * (1.0 + (PI * x).sin())
    }
}

/// The held-out tone curve, dB at `f`: shelves are raised-cosine steps in
/// log-frequency of full width `widths[i]` octaves (centred on the corner);
/// peaks raised-cosine bells `g·cos²(π/2·x/W)` for `|x| < W` octaves from the
/// centre, `W` the cookbook bandwidth of the Q (so the bell is at half its dB
/// gain ±W/2 from the centre); tilts straight in log-frequency; band edges
/// Linkwitz–Riley magnitudes `−20·log10(1 + (f/fc)^±order)` (−6 dB at the corner).
pub fn raised_cosine_curve_db(sections: &[tone::Section], widths: &[f64], f: f64) -> f64 {
    use tone::Section;
    let f = f.max(1e-3);
    let mut shelf = 0;
    let mut db = 0.0;
    for s in sections {
        match *s {
            Section::LowShelf { freq_hz, gain_db } | Section::HighShelf { freq_hz, gain_db } => {
                let w = widths.get(shelf).copied().unwrap_or(2.0);
                shelf += 1;
                let up = raised_step((f / freq_hz).log2() / w);
                db += gain_db
                    * if matches!(s, Section::LowShelf { .. }) {
                        1.0 - up
                    } else {
                        up
                    };
            }
            Section::Peak {
                freq_hz,
                gain_db,
                q,
            } => {
                let w = tone::bandwidth_octaves(q);
                let x = (f / freq_hz).log2();
                if x.abs() < w {
                    db += gain_db * (FRAC_PI_2 * x / w).cos().powi(2);
                }
            }
            Section::Tilt {
                db_per_octave,
                pivot_hz,
                lo_hz,
                hi_hz,
            } => {
                db += db_per_octave * (f.clamp(lo_hz, hi_hz.max(lo_hz)) / pivot_hz).log2();
            }
            Section::HighPass { freq_hz, order } => {
                db -= 20.0 * (1.0 + (freq_hz / f).powi(order as i32)).log10();
            }
            Section::LowPass { freq_hz, order } => {
                db -= 20.0 * (1.0 + (f / freq_hz).powi(order as i32)).log10();
            }
        }
    }
    db.max(-120.0)
}

/// Minimum-phase FIR of length `len` whose magnitude follows `curve` (dB), by
/// real-cepstrum folding (A. V. Oppenheim & R. W. Schafer, *Discrete-Time Signal
/// Processing*, 3rd ed., §13.5): on `n = 8·len` (next power of two) bins,
/// `c = IFFT(ln|H|)`, `ĉ[0] = c[0]`, `ĉ[k] = 2c[k]` for `0 < k < n/2`,
/// `ĉ[n/2] = c[n/2]`, 0 above; `h = IFFT(exp(FFT(ĉ)))`, first `len` samples, the
/// last eighth faded out with a half cosine.
pub fn minimum_phase_fir(curve: impl Fn(f64) -> f64, len: usize, sr: f64) -> Vec<f64> {
    let n = (8 * len).next_power_of_two();
    let log_mag: Vec<util::Complex64> = (0..=n / 2)
        .map(|k| {
            let f = k as f64 * sr / n as f64;
            util::Complex64::new(curve(f) * (10f64.ln() / 20.0), 0.0)
        })
        .collect();
    let mut c = util::irfft(&log_mag, n);
    for (k, v) in c.iter_mut().enumerate() {
        if k > 0 && k < n / 2 {
            *v *= 2.0;
        } else if k > n / 2 {
            *v = 0.0;
        }
    }
    let spec: Vec<_> = util::rfft(&c, n).into_iter().map(|z| z.exp()).collect();
    let h = util::irfft(&spec, n);
    let fade = (len / 8).max(1);
    (0..len)
        .map(|i| {
            let g = if i + fade >= len {
                let t = (i + fade - len) as f64 / fade as f64;
                0.5 * (1.0 + (PI * t).cos())
            } else {
                1.0
            };
            h[i] * g
        })
        .collect()
}

/// Held-out tone: the kind's sections ([`tone::draw_sections`]) realized as a
/// minimum-phase FIR ([`minimum_phase_fir`]) of [`raised_cosine_curve_db`] with
/// shelf transitions 1–3 octaves wide, length [`tone::fir_length`], applied by
/// FFT convolution (causal; a minimum-phase filter has no pre-ringing and
/// almost no delay, like a microphone).
#[derive(Clone, Copy, Debug, Default)]
pub struct MinimumPhaseTone;

impl Damage for MinimumPhaseTone {
    fn id(&self) -> &'static str {
        "tone/minimum_phase_fir"
    }
    fn family(&self) -> Family {
        Family::Tone
    }
    fn kinds(&self) -> &'static [Kind] {
        &tone::TONE_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "minimum-phase FIR (real cepstrum) of raised-cosine shelves and bells, Linkwitz-Riley band edges"
    }
    fn held_out(&self) -> bool {
        true
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
        let sections = tone::draw_sections(kind, strength, rng, sample_rate);
        let widths: Vec<f64> = sections
            .iter()
            .filter(|s| {
                matches!(
                    s,
                    tone::Section::LowShelf { .. } | tone::Section::HighShelf { .. }
                )
            })
            .map(|_| uniform(rng, 1.0, 3.0))
            .collect();
        let len = tone::fir_length(&sections, sample_rate);
        let h = minimum_phase_fir(
            |f| raised_cosine_curve_db(&sections, &widths, f),
            len,
            sample_rate,
        );
        util::convolve_channels(audio, &h, 0);
        Ok(Rendered {
            params: json!({
                "sections": sections,
                "shelf_width_octaves": widths.iter().map(|&v| r2(v)).collect::<Vec<_>>(),
                "fir_len": len,
            }),
            label: tone::describe(kind, &sections),
        })
    }
}

// ---------------------------------------------------------------------------
// Comb
// ---------------------------------------------------------------------------

/// Taps of a fractional delay of `d` samples: a Hann-windowed sinc of 32 taps
/// centred on `d`, as `(first index, taps)`.
fn fractional_delay(d: f64) -> (usize, Vec<f64>) {
    const HALF: i64 = 16;
    let centre = d.floor() as i64;
    let first = (centre - HALF + 1).max(0);
    let taps = (first..=centre + HALF)
        .map(|i| {
            let x = i as f64 - d;
            let sinc = if x.abs() < 1e-12 {
                1.0
            } else {
                (PI * x).sin() / (PI * x)
            };
            let w = 0.5 + 0.5 * (PI * x / HALF as f64).cos();
            if x.abs() < HALF as f64 {
                sinc * w
            } else {
                0.0
            }
        })
        .collect();
    (first as usize, taps)
}

/// Held-out comb: the kind's reflections ([`comb::draw_reflections`]), each at
/// its exact (fractional) delay by a 32-tap Hann-windowed sinc and low-passed by
/// the absorbing surface (one pole at 1.5–8 kHz, log-uniform, per reflection):
/// `y = (x + Σᵢ gᵢ·LPᵢ(x delayed by dᵢ)) / √(1 + Σᵢ gᵢ²)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct AbsorbingReflections;

impl Damage for AbsorbingReflections {
    fn id(&self) -> &'static str {
        "comb/absorbing_fractional"
    }
    fn family(&self) -> Family {
        Family::Comb
    }
    fn kinds(&self) -> &'static [Kind] {
        &comb::COMB_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "fractional-delay (windowed sinc) reflections, each low-passed by an absorbing surface"
    }
    fn held_out(&self) -> bool {
        true
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
        let refl = comb::draw_reflections(kind, strength, rng);
        let corners: Vec<f64> = refl
            .iter()
            .map(|_| clamp_freq(log_uniform(rng, 1500.0, 8000.0), sample_rate))
            .collect();
        let norm = 1.0 / (1.0 + refl.iter().map(|r| r.gain * r.gain).sum::<f64>()).sqrt();
        // One impulse response: δ + Σ g·LP(fractional delay), the LP's tail cut at 60 dB.
        let mut h = vec![1.0];
        for (r, &fc) in refl.iter().zip(&corners) {
            let (first, taps) = fractional_delay(r.delay_ms * 1e-3 * sample_rate);
            let a = util::one_pole_coef(fc, sample_rate);
            let tail = ((6.91 / -a.ln().min(-1e-9)).ceil() as usize).min(sample_rate as usize);
            let mut lp = vec![0.0; taps.len() + tail];
            let mut y = 0.0;
            for (i, v) in lp.iter_mut().enumerate() {
                let x = taps.get(i).copied().unwrap_or(0.0);
                y = (1.0 - a) * x + a * y;
                *v = y;
            }
            if h.len() < first + lp.len() {
                h.resize(first + lp.len(), 0.0);
            }
            for (i, v) in lp.iter().enumerate() {
                h[first + i] += r.gain * v;
            }
        }
        h.iter_mut().for_each(|v| *v *= norm);
        util::convolve_channels(audio, &h, 0);
        Ok(Rendered {
            params: json!({
                "reflections": refl,
                "absorption_corner_hz": corners.iter().map(|&v| r2(v)).collect::<Vec<_>>(),
            }),
            label: format!(
                "{}: {} absorbing reflection(s) from {:.1} ms, first gain {:+.2}",
                kind.label(),
                refl.len(),
                refl.first().map_or(0.0, |r| r.delay_ms),
                refl.first().map_or(0.0, |r| r.gain)
            ),
        })
    }
}

// ---------------------------------------------------------------------------
// Noise
// ---------------------------------------------------------------------------

/// Voss–McCartney noise: `rows` uniform random values in −1..1, row `k`
/// refreshed every `2^k` samples (staggered so one row changes per sample), summed
/// with weights `2^(k·γ)`, plus a white row; DC-blocked at 10 Hz. `γ = 0` is the
/// classic pink approximation (M. Gardner, "White and brown music, fractal
/// curves and one-over-f fluctuations", Scientific American, 1978; J. McCartney's
/// staggered update).
pub fn voss_noise(n: usize, rows: usize, gamma: f64, sr: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut vals: Vec<f64> = (0..rows).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let w: Vec<f64> = (0..rows).map(|k| 2f64.powf(k as f64 * gamma)).collect();
    let mut out: Vec<f64> = (0..n)
        .map(|i| {
            // The row to refresh: the number of trailing zeros of the counter.
            let k = ((i + 1).trailing_zeros() as usize).min(rows - 1);
            vals[k] = rng.gen_range(-1.0..1.0);
            let s: f64 = vals.iter().zip(&w).map(|(v, wk)| v * wk).sum();
            s + rng.gen_range(-1.0..1.0)
        })
        .collect();
    util::dc_block(&mut out, 10.0, sr);
    out
}

/// Held-out noise.
///
/// - [`Kind::Noise`]: [`voss_noise`] with 10–16 rows and `γ` in −0.3..0.3
///   (uniformly distributed sources, octave-spaced sample-and-hold rows),
///   independent per channel.
/// - [`Kind::RecordedNoise`]: a held-out recording, random start, looped
///   ([`noise::looped`]), with a level drifting by ±0–3 dB over a 1–4 s period
///   (a source moving, a tap turned).
/// - [`Kind::Hum`]: a saturated transformer: the mains phase (50/60 Hz with a
///   random-walk drift of at most ±0.3 %) through `tanh(d·sin φ)/tanh(d)`
///   (`d` 1–6: odd harmonics) plus a half-wave rectified share of 0–0.5 (even
///   harmonics), AC-coupled at 20 Hz.
///
/// SNRs follow [`noise::noise_snr_db`] and [`noise::hum_snr_db`].
#[derive(Clone, Copy, Debug, Default)]
pub struct HeldOutNoise;

impl Damage for HeldOutNoise {
    fn id(&self) -> &'static str {
        "noise/voss_recorded_transformer"
    }
    fn family(&self) -> Family {
        Family::Noise
    }
    fn kinds(&self) -> &'static [Kind] {
        &noise::NOISE_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "Voss-McCartney noise, held-out recordings with drifting level, saturated-transformer hum"
    }
    fn held_out(&self) -> bool {
        true
    }
    fn recordings_needed(&self, kind: Kind) -> Option<RecordingSet> {
        (kind == Kind::RecordedNoise).then_some(RecordingSet::Noise)
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let sr = sample_rate;
        let level = util::active_level_db(audio, sr);
        let lens: Vec<usize> = audio.iter().map(|c| c.len()).collect();
        let (noise, snr, params, label): (Vec<Vec<f64>>, f64, serde_json::Value, String) =
            match kind {
                Kind::Noise => {
                    let snr = noise::noise_snr_db(strength);
                    let rows = rng.gen_range(10..=16);
                    let gamma = uniform(rng, -0.3, 0.3);
                    let v = lens
                        .iter()
                        .map(|&n| voss_noise(n, rows, gamma, sr, rng))
                        .collect();
                    (
                        v,
                        snr,
                        json!({"snr_db": snr, "rows": rows, "gamma": r2(gamma)}),
                        format!("noise: Voss {rows} rows at SNR {snr:.1} dB"),
                    )
                }
                Kind::RecordedNoise => {
                    let snr = noise::noise_snr_db(strength);
                    let set = recordings.noise();
                    let rec = &set[rng.gen_range(0..set.len())];
                    let depth_db = uniform(rng, 0.0, 3.0);
                    let period = uniform(rng, 1.0, 4.0);
                    let phase = uniform(rng, 0.0, 2.0 * PI);
                    let mut first = 0;
                    let v = lens
                        .iter()
                        .enumerate()
                        .map(|(c, &n)| {
                            let start = rng.gen_range(0..rec.samples.len().max(1));
                            if c == 0 {
                                first = start;
                            }
                            let mut x = noise::looped(&rec.samples, start, n, sr);
                            for (i, v) in x.iter_mut().enumerate() {
                                let t = i as f64 / sr;
                                let db = depth_db * (2.0 * PI * t / period + phase).sin();
                                *v *= 10f64.powf(db / 20.0);
                            }
                            x
                        })
                        .collect();
                    (
                        v,
                        snr,
                        json!({
                            "snr_db": snr, "recording": rec.name, "channel": rec.channel,
                            "start_s": r2(first as f64 / sr), "level_drift_db": r2(depth_db),
                            "level_period_s": r2(period),
                        }),
                        format!("recorded noise: {} at SNR {snr:.1} dB", rec.name),
                    )
                }
                _ => {
                    let snr = noise::hum_snr_db(strength);
                    let mains = if rng.gen_bool(0.5) { 50.0 } else { 60.0 };
                    let d = uniform(rng, 1.0, 6.0);
                    let rect = uniform(rng, 0.0, 0.5);
                    let n = lens.iter().copied().max().unwrap_or(0);
                    let mut dev = 0.0f64;
                    let step = 0.003 / (sr * 2.0).sqrt();
                    let mut phase = uniform(rng, 0.0, 2.0 * PI);
                    let norm = d.tanh();
                    let mut hum: Vec<f64> = (0..n)
                        .map(|_| {
                            dev = (dev + step * random_sign(rng)).clamp(-0.003, 0.003);
                            phase += 2.0 * PI * mains * (1.0 + dev) / sr;
                            let s = phase.sin();
                            (d * s).tanh() / norm + rect * s.max(0.0)
                        })
                        .collect();
                    util::dc_block(&mut hum, 20.0, sr);
                    (
                        lens.iter().map(|&n| hum[..n].to_vec()).collect(),
                        snr,
                        json!({"snr_db": snr, "mains_hz": mains, "saturation": r2(d), "rectified": r2(rect)}),
                        format!("hum: {mains:.0} Hz saturated transformer at SNR {snr:.1} dB"),
                    )
                }
            };
        util::add_at_snr(audio, &noise, level, snr);
        Ok(Rendered { params, label })
    }
}

// ---------------------------------------------------------------------------
// Clipping
// ---------------------------------------------------------------------------

/// Oversampling factor of [`AnalogStage`].
pub const OVERSAMPLING: usize = 4;

/// Half-band-ish low-pass for ×`OVERSAMPLING` resampling: a Hann-windowed sinc of
/// `2·16·OVERSAMPLING + 1` taps with its cutoff at 0.45 of the original rate
/// (0.9 × the original Nyquist), DC gain `gain`.
pub fn resampling_lowpass(gain: f64) -> Vec<f64> {
    let half = 16 * OVERSAMPLING as i64;
    let fc = 0.45 / OVERSAMPLING as f64; // cycles per oversampled sample
    (-half..=half)
        .map(|i| {
            let x = i as f64;
            let sinc = if i == 0 {
                2.0 * fc
            } else {
                (2.0 * PI * fc * x).sin() / (PI * x)
            };
            let w = 0.5 + 0.5 * (PI * x / (half as f64 + 1.0)).cos();
            gain * sinc * w
        })
        .collect()
}

/// Held-out clipping: an analog stage before the converter, at 4× the rate.
/// Zero-stuffed ×4 and interpolated ([`resampling_lowpass`]), driven by
/// `g = 10^(drive/20)` ([`clipping::drive_db`]) into a curve with the input peak
/// `P` as ceiling, AC-coupled (DC blocker at 5–20 Hz, a coupling capacitor), then
/// low-passed and decimated ×4. The decimation filter rounds and rings on the
/// clipped tops, as a converter's anti-alias filter does after analog clipping.
///
/// - [`Kind::HardClip`]: `clamp(u, −1, 1)`.
/// - [`Kind::SoftClip`]: the algebraic sigmoid `u / (1 + |u|^p)^(1/p)`, `p` 1.5–4.
/// - [`Kind::AsymmetricClip`]: a diode-like exponential, `1 − e^(−u)` for `u ≥ 0`
///   and `−a·(1 − e^(u/a))` below (`a` 0.3–0.8, side random).
#[derive(Clone, Copy, Debug, Default)]
pub struct AnalogStage;

impl Damage for AnalogStage {
    fn id(&self) -> &'static str {
        "clipping/oversampled_analog"
    }
    fn family(&self) -> Family {
        Family::Clipping
    }
    fn kinds(&self) -> &'static [Kind] {
        &clipping::CLIPPING_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "4x oversampled analog stage: clamp, algebraic sigmoid or diode exponential, AC coupling, anti-alias decimation"
    }
    fn held_out(&self) -> bool {
        true
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
        let drive = clipping::drive_db(kind, strength);
        let g = 10f64.powf(drive / 20.0);
        let p = util::peak(audio);
        let coupling_hz = log_uniform(rng, 5.0, 20.0);
        let pw = uniform(rng, 1.5, 4.0);
        let a = uniform(rng, 0.3, 0.8);
        let flip = random_sign(rng);
        let curve = |u: f64| -> f64 {
            match kind {
                Kind::HardClip => u.clamp(-1.0, 1.0),
                Kind::SoftClip => u / (1.0 + u.abs().powf(pw)).powf(1.0 / pw),
                _ => {
                    let u = u * flip;
                    let y = if u >= 0.0 {
                        1.0 - (-u).exp()
                    } else {
                        -a * (1.0 - (u / a).exp())
                    };
                    y * flip
                }
            }
        };
        let up = resampling_lowpass(OVERSAMPLING as f64);
        let down = resampling_lowpass(1.0);
        let delay = (up.len() - 1) / 2;
        let osr = sample_rate * OVERSAMPLING as f64;
        if p > 0.0 {
            for c in audio.iter_mut() {
                let mut x = vec![0.0; c.len() * OVERSAMPLING];
                for (i, &v) in c.iter().enumerate() {
                    x[i * OVERSAMPLING] = f64::from(v);
                }
                let mut y: Vec<f64> = util::convolve(&x, &up, delay)
                    .into_iter()
                    .map(|u| p * curve(g * u / p))
                    .collect();
                util::dc_block(&mut y, coupling_hz, osr);
                let z = util::convolve(&y, &down, delay);
                for (i, v) in c.iter_mut().enumerate() {
                    *v = z[i * OVERSAMPLING] as f32;
                }
            }
        }
        let mut params = json!({"drive_db": r2(drive), "oversampling": OVERSAMPLING, "coupling_hz": r2(coupling_hz)});
        match kind {
            Kind::SoftClip => params["sigmoid_power"] = json!(r2(pw)),
            Kind::AsymmetricClip => {
                params["diode_ratio"] = json!(r2(a));
                params["positive_side_soft"] = json!(flip > 0.0);
            }
            _ => {}
        }
        Ok(Rendered {
            params,
            label: format!("{}: analog stage drive {drive:.1} dB", kind.label()),
        })
    }
}

// ---------------------------------------------------------------------------
// Clicks
// ---------------------------------------------------------------------------

/// One click from an electrical path: an excitation — an impulse, or (with
/// probability 0.5) a step held for 2–10 ms — plus `c` (0.3–1.5) times its
/// ringing through a two-pole resonator (300–5000 Hz, Q 0.7–8, input gain
/// `1 − r`), through a first-order AC coupling (20–200 Hz), scaled to peak
/// `amp`, cut where it has decayed by 60 dB (at most 50 ms). (Excitations
/// shorter than 2 ms, or ringing much louder than the edge, hide from the purity
/// click detector, whose context is ±2 ms.)
pub fn filtered_click(amp: f64, sr: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let len = (0.05 * sr) as usize;
    let mut x = vec![0.0; len];
    if rng.gen_bool(0.5) {
        x[0] = 1.0;
    } else {
        let n = ((log_uniform(rng, 2.0, 10.0) * 1e-3 * sr) as usize).clamp(1, len);
        x[..n].iter_mut().for_each(|v| *v = 1.0);
    }
    let f = clamp_freq(log_uniform(rng, 300.0, 5000.0), sr);
    let q = log_uniform(rng, 0.7, 8.0);
    let r = (-PI * f / q / sr).exp();
    let (a1, a2) = (2.0 * r * (2.0 * PI * f / sr).cos(), -r * r);
    let c = uniform(rng, 0.3, 1.5);
    let (mut y1, mut y2) = (0.0, 0.0);
    // Direct path plus resonance: the excitation's edge survives (a click, not a tone).
    let mut y: Vec<f64> = x
        .iter()
        .map(|&v| {
            let ring = (1.0 - r) * v + a1 * y1 + a2 * y2;
            y2 = y1;
            y1 = ring;
            v + c * ring
        })
        .collect();
    util::dc_block(&mut y, log_uniform(rng, 20.0, 200.0), sr);
    let peak = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if peak <= 0.0 {
        return Vec::new();
    }
    let end = y
        .iter()
        .rposition(|v| v.abs() > peak * 1e-3)
        .map_or(1, |i| i + 1);
    y.truncate(end);
    y.iter_mut().for_each(|v| *v *= amp / peak);
    y
}

/// Held-out clicks: click waveforms from an electrical path ([`filtered_click`])
/// and timing models unlike training's.
///
/// - [`Kind::PeriodicClicks`]: one click shape every 0.1–1.5 s (log-uniform) with
///   a timing jitter of 0.5–3 % of the period (a buffer clock drifting).
/// - [`Kind::RandomClicks`]: clustered: clusters at 0.3–2 per second (Poisson), 1–4
///   clicks each within 5–50 ms, each 0–10 dB below the level.
/// - [`Kind::Crackle`]: Poisson 20–300 per second, amplitudes Pareto-distributed
///   between 20 dB below the level and the level (`α` 1.5–3: most pops near the
///   bottom, a few loud).
/// - [`Kind::Spikes`]: bit errors: the sample as a 16-bit code re the input peak
///   gets one bit flipped, the bit within 3 below the one of the level's
///   magnitude; Poisson 1–10 per second.
/// - [`Kind::DcBoops`]: a DC step through a second-order AC coupling (two first-order
///   high-passes at `1/(2πτ)`, τ 20–300 ms): the step decays and undershoots.
///
/// Levels follow [`clicks::level_db`]; the same events on every channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct FilteredImpulses;

impl Damage for FilteredImpulses {
    fn id(&self) -> &'static str {
        "clicks/filtered_impulses"
    }
    fn family(&self) -> Family {
        Family::Clicks
    }
    fn kinds(&self) -> &'static [Kind] {
        &clicks::CLICK_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "excitations through a resonance and AC coupling; jittered, clustered and Pareto timing; bit errors"
    }
    fn held_out(&self) -> bool {
        true
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
        let sr = sample_rate;
        let n = audio.iter().map(|c| c.len()).max().unwrap_or(0);
        let level = clicks::level_db(kind, strength);
        let peak = clicks::reference_peak(audio);
        let amp = peak * 10f64.powf(level / 20.0);
        let mut events: Vec<(usize, Vec<f64>)> = Vec::new();
        let mut params = match kind {
            Kind::PeriodicClicks => {
                let period = log_uniform(rng, 0.1, 1.5);
                let jitter = uniform(rng, 0.005, 0.03);
                let w = filtered_click(amp * random_sign(rng), sr, rng);
                let mut t = uniform(rng, 0.0, period);
                while ((t * sr) as usize) < n {
                    events.push(((t * sr) as usize, w.clone()));
                    t += period * (1.0 + jitter * rng.gen_range(-1.0..1.0));
                }
                json!({"period_s": r2(period), "jitter": r2(jitter)})
            }
            Kind::RandomClicks => {
                let rate = log_uniform(rng, 0.3, 2.0);
                for t0 in clicks::poisson_times(rng, rate, n, sr) {
                    let k = rng.gen_range(1..=4);
                    let mut t = t0;
                    for _ in 0..k {
                        let a =
                            amp * 10f64.powf(-uniform(rng, 0.0, 10.0) / 20.0) * random_sign(rng);
                        events.push((t, filtered_click(a, sr, rng)));
                        t += (log_uniform(rng, 5.0, 50.0) * 1e-3 * sr) as usize;
                    }
                }
                json!({"cluster_rate_per_s": r2(rate)})
            }
            Kind::Crackle => {
                let rate = log_uniform(rng, 20.0, 300.0);
                let alpha = uniform(rng, 1.5, 3.0);
                for t in clicks::poisson_times(rng, rate, n, sr) {
                    let u: f64 = 1.0 - rng.gen::<f64>();
                    // Pareto with minimum 1, capped at 10 and scaled so the cap is
                    // `amp`: pops 0–20 dB below the level, most near the bottom.
                    let a = (u.powf(-1.0 / alpha)).min(10.0) / 10.0 * amp * random_sign(rng);
                    events.push((t, filtered_click(a, sr, rng)));
                }
                json!({"rate_per_s": r2(rate), "pareto_alpha": r2(alpha)})
            }
            Kind::Spikes => {
                let rate = log_uniform(rng, 1.0, 10.0);
                let top = ((amp / peak * 32768.0).log2().round() as i32).clamp(0, 14);
                let times = clicks::poisson_times(rng, rate, n, sr);
                let bits: Vec<i32> = times
                    .iter()
                    .map(|_| (top - rng.gen_range(0..=3)).max(0))
                    .collect();
                for c in audio.iter_mut() {
                    for (&t, &b) in times.iter().zip(&bits) {
                        if let Some(v) = c.get_mut(t) {
                            let code = (f64::from(*v) / peak * 32767.0)
                                .round()
                                .clamp(-32768.0, 32767.0)
                                as i16;
                            let flipped = code ^ (1i16 << b);
                            *v = (f64::from(flipped) / 32767.0 * peak) as f32;
                        }
                    }
                }
                json!({"rate_per_s": r2(rate), "top_bit": top, "bit_errors": times.len()})
            }
            _ => {
                let rate = log_uniform(rng, 0.2, 2.0);
                let tau_ms = log_uniform(rng, 20.0, 300.0);
                let len = (tau_ms * 1e-3 * sr * 10.0) as usize + 1;
                let fc = 1.0 / (2.0 * PI * tau_ms * 1e-3);
                for t in clicks::poisson_times(rng, rate, n, sr) {
                    let mut w = vec![amp * random_sign(rng); len];
                    util::dc_block(&mut w, fc, sr);
                    util::dc_block(&mut w, fc, sr);
                    events.push((t, w));
                }
                json!({"rate_per_s": r2(rate), "decay_ms": r2(tau_ms)})
            }
        };
        let count = events.len();
        clicks::add_events(audio, &events);
        params["level_db"] = json!(r2(level));
        params["events"] = json!(count);
        Ok(Rendered {
            params,
            label: format!("{}: filtered, {level:.1} dB re peak", kind.label()),
        })
    }
}

// ---------------------------------------------------------------------------
// Room
// ---------------------------------------------------------------------------

/// Half-width of the direct-sound window of [`DrrRoom`], ms (Bryan 2020 uses ±2.5 ms).
pub const DIRECT_WINDOW_MS: f64 = 2.5;

/// Held-out room: a held-out RIR (every channel of a held-out file in turn for
/// multi-channel input) whose direct-to-reverberant ratio is set to
/// `8 − 18·s` dB by scaling its direct part: with `w` a Hann window of
/// ±[`DIRECT_WINDOW_MS`] around the direct peak, `h' = α·w·h + (1 − w)·h`, `α`
/// chosen so that `Σ(α·w·h)² / Σ((1 − w)·h)²` is the target (Bryan 2020); `h'`
/// normalized to unit energy and convolved fully wet (no dry path).
#[derive(Clone, Copy, Debug, Default)]
pub struct DrrRoom;

impl Damage for DrrRoom {
    fn id(&self) -> &'static str {
        "room/drr_rir"
    }
    fn family(&self) -> Family {
        Family::Room
    }
    fn kinds(&self) -> &'static [Kind] {
        &room::ROOM_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "held-out measured RIRs with the direct-to-reverberant ratio set by scaling the windowed direct sound"
    }
    fn held_out(&self) -> bool {
        true
    }
    fn recordings_needed(&self, _kind: Kind) -> Option<RecordingSet> {
        Some(RecordingSet::Rir)
    }
    fn render(
        &self,
        _kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let rirs = recordings.rirs();
        let first = rng.gen_range(0..rirs.len());
        let drr_db = 8.0 - 18.0 * strength;
        let half = (DIRECT_WINDOW_MS * 1e-3 * sample_rate).round() as i64;
        let mut alphas = Vec::new();
        for (c, ch) in audio.iter_mut().enumerate() {
            let h: Vec<f64> = rirs[room::rir_for_channel(rirs, first, c)]
                .samples
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let peak_at = h
                .iter()
                .enumerate()
                .fold(
                    (0, 0.0f64),
                    |(i, m), (j, v)| {
                        if v.abs() > m {
                            (j, v.abs())
                        } else {
                            (i, m)
                        }
                    },
                )
                .0 as i64;
            let w: Vec<f64> = (0..h.len() as i64)
                .map(|i| {
                    let d = (i - peak_at) as f64 / (half as f64 + 1.0);
                    if d.abs() < 1.0 {
                        0.5 + 0.5 * (PI * d).cos()
                    } else {
                        0.0
                    }
                })
                .collect();
            let e_direct: f64 = h.iter().zip(&w).map(|(v, wi)| (v * wi).powi(2)).sum();
            let e_late: f64 = h
                .iter()
                .zip(&w)
                .map(|(v, wi)| (v * (1.0 - wi)).powi(2))
                .sum();
            let alpha = if e_direct > 0.0 {
                (10f64.powf(drr_db / 10.0) * e_late / e_direct).sqrt()
            } else {
                1.0
            };
            alphas.push(r2(alpha));
            let mut h2: Vec<f64> = h
                .iter()
                .zip(&w)
                .map(|(v, wi)| alpha * wi * v + (1.0 - wi) * v)
                .collect();
            let e: f64 = h2.iter().map(|v| v * v).sum();
            if e > 0.0 {
                let g = 1.0 / e.sqrt();
                h2.iter_mut().for_each(|v| *v *= g);
            }
            let x: Vec<f64> = ch.iter().map(|&v| f64::from(v)).collect();
            for (v, y) in ch.iter_mut().zip(util::convolve(&x, &h2, 0)) {
                *v = y as f32;
            }
        }
        let rec = &rirs[first];
        Ok(Rendered {
            params: json!({"rir": rec.name, "channel": rec.channel, "drr_db": r2(drr_db), "direct_gain": alphas}),
            label: format!("room: {} ch {} DRR {drr_db:.1} dB", rec.name, rec.channel),
        })
    }
}
