//! Randomised damage families for training data closer to real microphones. One
//! implementation of each family is kept out of training, for the evaluation
//! (`eval/src/heldout.rs`).
//!
//! A **family** ([`Family`]) is one physical cause: the room, a short reflection
//! (comb), the microphone's tone, noise, clicks, clipping. A family has several
//! **kinds** ([`Kind`]: a boom, a band limit, hum, crackle…) and several
//! **implementations** ([`Damage`]): independent algorithms that each produce the
//! family's kinds (RBJ biquads and linear-phase FIRs for the tone; feed-forward
//! and feedback combs; …). Every implementation is seeded and deterministic: the
//! same audio, kind, strength and seed give bit-identical output on one machine
//! (FFTs go through realfft/rustfft, which pick a SIMD path at run time, so another
//! CPU may differ in the last bits).
//!
//! This crate's [`Registry::training`] holds only the **training** implementations.
//! For every family one more implementation, and for noise and rooms some
//! recordings ([`HELDOUT_NOISE_FILES`], [`HELDOUT_RIR_FILES`]), are kept out of
//! training: the held-out implementations live in `faurge-eval` (`heldout.rs`),
//! which the dataset generator cannot depend on, so the evaluation measures
//! generalisation to damage the models never saw rather than memory of our own
//! degraders. [`Recordings::load`] with [`Pool::Training`] never loads a held-out
//! recording, and [`apply_damage`] refuses to run a training implementation on
//! held-out recordings (and the reverse).
//!
//! | family | kinds | training implementations (this crate) |
//! |---|---|---|
//! | [`Family::Room`] | [`Kind::Room`] | [`room::RirConvolution`] (measured RIRs, wet/dry), [`room::SyntheticRoom`] (decaying noise with early reflections) |
//! | [`Family::Comb`] | [`Kind::Comb`], [`Kind::Reflections`] | [`comb::FeedForward`] (integer-delay taps), [`comb::Feedback`] (recursive comb) |
//! | [`Family::Tone`] | [`Kind::LowShelf`], [`Kind::HighShelf`], [`Kind::Peak`], [`Kind::Tilt`], [`Kind::Boom`], [`Kind::Muddy`], [`Kind::Thin`], [`Kind::Sibilant`], [`Kind::BandLimit`] | [`tone::RbjBiquad`] (cookbook biquads), [`tone::LinearPhaseFir`] (frequency-sampled FIR of a smooth dB curve) |
//! | [`Family::Noise`] | [`Kind::Noise`], [`Kind::RecordedNoise`], [`Kind::Hum`] | [`noise::FftShaped`] (FFT-coloured Gaussian noise, looped recordings, additive hum), [`noise::IirFiltered`] (filtered noise, re-pitched and tilted recordings, rectifier-pulse buzz) |
//! | [`Family::Clicks`] | [`Kind::PeriodicClicks`], [`Kind::RandomClicks`], [`Kind::Crackle`], [`Kind::Spikes`], [`Kind::DcBoops`] | [`clicks::Templates`] (analytic click shapes), [`clicks::StreamFaults`] (lost buffers, zeroed samples, corrupt words), [`clicks::DegradePops`] (`faurge_dsp::degrade` pops, once a second) |
//! | [`Family::Clipping`] | [`Kind::HardClip`], [`Kind::SoftClip`], [`Kind::AsymmetricClip`] | [`clipping::Memoryless`] (clamp, tanh, arctan, cubic), [`clipping::Converter`] (clamp, soft knee or DC-shifted clamp, dithered 16-bit quantization) |
//!
//! **Strength** (0 = mild, 1 = severe; clamped) drives each kind's severity
//! parameter linearly; every other parameter (frequencies, shapes, timing) is
//! drawn from the seed. Each module documents its ranges. **Combinations**
//! ([`Registry::draw_combination`]) apply a random subset of families in the
//! physical order of [`Family::ALL`]: room → reflection → microphone tone →
//! noise and hum → clicks → clipping (the converter clips last).
//!
//! What the dataset generator does per row (the held-out side is
//! `faurge_eval::heldout::apply_heldout` / `apply_eval`):
//!
//! ```no_run
//! use faurge_dataset::damage::{Pool, Recordings, Registry};
//! use rand::SeedableRng;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = Registry::training();
//! // Once per build: the training pool's noise recordings and RIRs at the row rate.
//! let recordings = Recordings::load("data".as_ref(), 48_000, Pool::Training)?;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7); // the row's RNG
//! let mut audio = vec![0.0f32; 3 * 48_000];
//! let applied = registry.apply_random(&mut [&mut audio[..]], 48_000.0, &recordings, &mut rng)?;
//! let description = serde_json::to_string(&applied)?; // family, kind, implementation, params
//! let labels: Vec<&str> = applied.iter().map(|a| a.kind.label()).collect();
//! # let _ = (description, labels);
//! # Ok(())
//! # }
//! ```
//!
//! Audio is planar (`audio[channel][sample]`, any channel count, full scale ±1)
//! at 8–192 kHz ([`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`]). One drawn set of
//! parameters applies to every channel (one microphone); synthetic noise is
//! independent per channel. Non-finite input samples are treated as 0.
//! Frequencies are clamped below 0.45 × the sample rate. Offline code: it
//! allocates; never call it on the audio thread.

pub mod clicks;
pub mod clipping;
pub mod comb;
pub mod measure;
pub mod noise;
pub mod recordings;
pub mod room;
pub mod tone;
pub mod util;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use recordings::{
    Pool, Recording, RecordingSet, Recordings, HELDOUT_NOISE_FILES, HELDOUT_RIR_FILES,
};

/// Lowest sample rate a damage accepts, Hz.
pub const MIN_SAMPLE_RATE: f32 = 8_000.0;
/// Highest sample rate a damage accepts, Hz.
pub const MAX_SAMPLE_RATE: f32 = 192_000.0;
/// Strengths drawn for combinations are uniform in this range.
pub const COMBINATION_STRENGTH: (f32, f32) = (0.1, 1.0);

/// Why a damage could not be applied.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DamageError {
    /// The sample rate is NaN, infinite or outside 8–192 kHz.
    #[error("sample rate is {sample_rate} Hz, but damages need a rate between {min} and {max} Hz")]
    InvalidSampleRate {
        /// The rate given, Hz.
        sample_rate: f32,
        /// [`MIN_SAMPLE_RATE`].
        min: f32,
        /// [`MAX_SAMPLE_RATE`].
        max: f32,
    },
    /// The implementation does not produce this kind.
    #[error("implementation \"{implementation}\" does not produce {kind:?}; use one listed by Registry::for_kind")]
    UnsupportedKind {
        /// Implementation id.
        implementation: String,
        /// The kind asked for.
        kind: Kind,
    },
    /// No implementation with this id in the registry.
    #[error("no damage implementation \"{0}\" in this registry")]
    UnknownImplementation(String),
    /// No implementation of the registry can produce the kind with the recordings given.
    #[error("no implementation here can produce {kind:?} with the recordings given (recorded noise and measured rooms need a data folder with noise/ and rir/)")]
    Unavailable {
        /// The kind asked for.
        kind: Kind,
    },
    /// The kind needs recordings of a set that is empty.
    #[error("{kind:?} by \"{implementation}\" needs {set:?} recordings of the {pool:?} pool, but none were loaded; pass a data folder with noise/ and rir/ to Recordings::load")]
    NoRecordings {
        /// Implementation id.
        implementation: String,
        /// The kind asked for.
        kind: Kind,
        /// Which recordings.
        set: RecordingSet,
        /// The pool that was loaded.
        pool: Pool,
    },
    /// A training implementation was given held-out recordings, or the reverse.
    #[error(
        "implementation \"{implementation}\" ({which}) may not use recordings of the {pool:?} pool"
    )]
    WrongPool {
        /// Implementation id.
        implementation: String,
        /// `training` or `held-out`.
        which: &'static str,
        /// The pool of the recordings given.
        pool: Pool,
    },
    /// The recordings were loaded at another rate than the audio's.
    #[error("recordings were resampled to {recordings} Hz but the audio is at {audio} Hz; load them at the audio's rate")]
    RecordingRate {
        /// The recordings' rate, Hz.
        recordings: u32,
        /// The audio's rate, Hz.
        audio: f32,
    },
    /// A recording could not be read or resampled.
    #[error("Could not read \"{path}\": {message}")]
    Recording {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// A physical cause of damage. [`Family::ALL`] is the order a combination applies them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Reverberation of the room the speaker is in.
    Room,
    /// One or a few short reflections (a desk, a wall next to the mic).
    Comb,
    /// The microphone's and preamp's frequency response.
    Tone,
    /// Additive noise: broadband hiss, real background noise, mains hum.
    Noise,
    /// Impulsive interference: clock pops, clicks, crackle, spikes, DC steps.
    Clicks,
    /// Overdrive of the preamp or converter.
    Clipping,
}

impl Family {
    /// Every family in application order: room → reflection → microphone tone →
    /// noise and hum (preamp, mains) → clicks (interference, buffer glitches) →
    /// clipping (the converter clips what reaches it, so it comes last).
    pub const ALL: [Family; 6] = [
        Family::Room,
        Family::Comb,
        Family::Tone,
        Family::Noise,
        Family::Clicks,
        Family::Clipping,
    ];

    /// `room`, `comb`, `tone`, `noise`, `clicks`, `clipping`.
    pub fn label(self) -> &'static str {
        match self {
            Family::Room => "room",
            Family::Comb => "comb",
            Family::Tone => "tone",
            Family::Noise => "noise",
            Family::Clicks => "clicks",
            Family::Clipping => "clipping",
        }
    }

    /// The kinds of this family.
    pub fn kinds(self) -> Vec<Kind> {
        Kind::ALL
            .iter()
            .copied()
            .filter(|k| k.family() == self)
            .collect()
    }

    /// Probability that [`Registry::draw_combination`] includes this family.
    pub fn combination_probability(self) -> f64 {
        match self {
            Family::Room => 0.3,
            Family::Comb => 0.25,
            Family::Tone => 0.75,
            Family::Noise => 0.5,
            Family::Clicks => 0.3,
            Family::Clipping => 0.3,
        }
    }
}

/// One kind of damage. Each module documents what its implementations draw for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Measured or synthetic room reverberation with a random wet/dry balance.
    Room,
    /// One short reflection, 0.5–12 ms.
    Comb,
    /// Several early reflections, 1–30 ms.
    Reflections,
    /// A low shelf (boost or cut) at a random corner.
    LowShelf,
    /// A high shelf (boost or cut) at a random corner.
    HighShelf,
    /// A resonance or dip at a random frequency and Q.
    Peak,
    /// A spectral tilt, dB per octave around a pivot.
    Tilt,
    /// Proximity boom: a low-frequency boost at 60–250 Hz.
    Boom,
    /// A 200–500 Hz boost, often with a high-frequency loss.
    Muddy,
    /// Low-frequency loss.
    Thin,
    /// High-Q boosts at 4–10 kHz.
    Sibilant,
    /// A high-pass and/or low-pass (telephone, laptop, cheap mic).
    BandLimit,
    /// Synthetic broadband noise of a random colour.
    Noise,
    /// A real noise recording.
    RecordedNoise,
    /// Mains hum (50 or 60 Hz) with harmonics, drift and buzz.
    Hum,
    /// Pops at a regular interval (USB clock, buffer underruns).
    PeriodicClicks,
    /// Impulsive clicks at random times.
    RandomClicks,
    /// Many short, quiet pops (crackle).
    Crackle,
    /// Very short spikes (one to a few samples).
    Spikes,
    /// DC-offset steps that decay back ("boops", thumps).
    DcBoops,
    /// Drive into a hard clip.
    HardClip,
    /// Drive into a soft saturation curve.
    SoftClip,
    /// Drive into a clip with different positive and negative behaviour.
    AsymmetricClip,
}

impl Kind {
    /// Every kind, grouped by family in [`Family::ALL`] order.
    pub const ALL: [Kind; 23] = [
        Kind::Room,
        Kind::Comb,
        Kind::Reflections,
        Kind::LowShelf,
        Kind::HighShelf,
        Kind::Peak,
        Kind::Tilt,
        Kind::Boom,
        Kind::Muddy,
        Kind::Thin,
        Kind::Sibilant,
        Kind::BandLimit,
        Kind::Noise,
        Kind::RecordedNoise,
        Kind::Hum,
        Kind::PeriodicClicks,
        Kind::RandomClicks,
        Kind::Crackle,
        Kind::Spikes,
        Kind::DcBoops,
        Kind::HardClip,
        Kind::SoftClip,
        Kind::AsymmetricClip,
    ];

    /// The family this kind belongs to.
    pub fn family(self) -> Family {
        match self {
            Kind::Room => Family::Room,
            Kind::Comb | Kind::Reflections => Family::Comb,
            Kind::LowShelf
            | Kind::HighShelf
            | Kind::Peak
            | Kind::Tilt
            | Kind::Boom
            | Kind::Muddy
            | Kind::Thin
            | Kind::Sibilant
            | Kind::BandLimit => Family::Tone,
            Kind::Noise | Kind::RecordedNoise | Kind::Hum => Family::Noise,
            Kind::PeriodicClicks
            | Kind::RandomClicks
            | Kind::Crackle
            | Kind::Spikes
            | Kind::DcBoops => Family::Clicks,
            Kind::HardClip | Kind::SoftClip | Kind::AsymmetricClip => Family::Clipping,
        }
    }

    /// Snake-case label, as serialized (`band_limit`, `periodic_clicks`, …).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Room => "room",
            Kind::Comb => "comb",
            Kind::Reflections => "reflections",
            Kind::LowShelf => "low_shelf",
            Kind::HighShelf => "high_shelf",
            Kind::Peak => "peak",
            Kind::Tilt => "tilt",
            Kind::Boom => "boom",
            Kind::Muddy => "muddy",
            Kind::Thin => "thin",
            Kind::Sibilant => "sibilant",
            Kind::BandLimit => "band_limit",
            Kind::Noise => "noise",
            Kind::RecordedNoise => "recorded_noise",
            Kind::Hum => "hum",
            Kind::PeriodicClicks => "periodic_clicks",
            Kind::RandomClicks => "random_clicks",
            Kind::Crackle => "crackle",
            Kind::Spikes => "spikes",
            Kind::DcBoops => "dc_boops",
            Kind::HardClip => "hard_clip",
            Kind::SoftClip => "soft_clip",
            Kind::AsymmetricClip => "asymmetric_clip",
        }
    }
}

/// What an implementation reports about one application: its drawn parameters
/// (implementation-specific JSON, units in the key names) and a short label.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Every drawn parameter, e.g. `{"freq_hz": 140.0, "gain_db": 9.5, "q": 0.9}`.
    pub params: serde_json::Value,
    /// Short human label, e.g. `boom +9.5 dB at 140 Hz`.
    pub label: String,
}

/// Serializable description of one applied damage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// The family.
    pub family: Family,
    /// The kind.
    pub kind: Kind,
    /// Implementation id ([`Damage::id`]), e.g. `tone/rbj_biquad`.
    pub implementation: String,
    /// Whether the implementation is held out of training.
    pub held_out: bool,
    /// Strength used, 0..=1.
    pub strength: f32,
    /// Seed of every random draw of this application.
    pub seed: u64,
    /// The drawn parameters (see [`Rendered::params`]).
    pub params: serde_json::Value,
    /// Short human label, e.g. `boom +9.5 dB at 140 Hz (tone/rbj_biquad)`.
    pub label: String,
}

/// A planned application: everything needed to reproduce it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Implementation id.
    pub implementation: String,
    /// The kind.
    pub kind: Kind,
    /// Strength, 0..=1.
    pub strength: f32,
    /// Seed.
    pub seed: u64,
}

/// One implementation of a damage family.
///
/// Implementors draw their parameters from `rng` only, so an application is a
/// pure function of (audio, kind, strength, sample rate, seed, recordings). Call
/// them through [`apply_damage`] or a [`Registry`], which validate the input
/// first; `render` itself may assume a supported kind, a rate in
/// 8–192 kHz, finite samples, a strength in 0..=1 and recordings of the right
/// pool and rate.
pub trait Damage: Send + Sync {
    /// Stable id, `family/name` (e.g. `tone/rbj_biquad`). Never renamed: datasets store it.
    fn id(&self) -> &'static str;
    /// The family.
    fn family(&self) -> Family;
    /// The kinds this implementation produces (all of its family's kinds for a
    /// held-out implementation).
    fn kinds(&self) -> &'static [Kind];
    /// One line on the algorithm.
    fn algorithm(&self) -> &'static str;
    /// True for the implementations kept out of training (only `faurge-eval`'s).
    fn held_out(&self) -> bool {
        false
    }
    /// Which recordings the kind needs, if any.
    fn recordings_needed(&self, _kind: Kind) -> Option<RecordingSet> {
        None
    }
    /// Applies `kind` at `strength` to `audio` in place and describes what it drew.
    ///
    /// # Errors
    /// Only what the validation in [`apply_damage`] cannot foresee.
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        recordings: &Recordings,
    ) -> Result<Rendered, DamageError>;
}

fn check_rate(sample_rate: f32) -> Result<(), DamageError> {
    if sample_rate.is_finite() && (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        Ok(())
    } else {
        Err(DamageError::InvalidSampleRate {
            sample_rate,
            min: MIN_SAMPLE_RATE,
            max: MAX_SAMPLE_RATE,
        })
    }
}

/// Whether `imp` can produce `kind` with `recordings` at `sample_rate` (the
/// kind is supported, and any recordings it needs are loaded, of its pool and at
/// that rate).
pub fn can_apply(imp: &dyn Damage, kind: Kind, sample_rate: f32, recordings: &Recordings) -> bool {
    check_recordings(imp, kind, sample_rate, recordings).is_ok() && imp.kinds().contains(&kind)
}

fn check_recordings(
    imp: &dyn Damage,
    kind: Kind,
    sample_rate: f32,
    recordings: &Recordings,
) -> Result<(), DamageError> {
    let Some(set) = imp.recordings_needed(kind) else {
        return Ok(());
    };
    let wanted = if imp.held_out() {
        Pool::HeldOut
    } else {
        Pool::Training
    };
    if recordings.pool() != wanted {
        return Err(DamageError::WrongPool {
            implementation: imp.id().to_owned(),
            which: if imp.held_out() {
                "held-out"
            } else {
                "training"
            },
            pool: recordings.pool(),
        });
    }
    if recordings.set(set).is_empty() {
        return Err(DamageError::NoRecordings {
            implementation: imp.id().to_owned(),
            kind,
            set,
            pool: recordings.pool(),
        });
    }
    if (recordings.sample_rate() as f32 - sample_rate).abs() > 0.5 {
        return Err(DamageError::RecordingRate {
            recordings: recordings.sample_rate(),
            audio: sample_rate,
        });
    }
    Ok(())
}

/// Applies one `kind` by `imp` at `strength` (clamped to 0..=1; NaN is 0) to
/// planar `audio` in place, all random draws from `seed`.
///
/// # Errors
/// [`DamageError::InvalidSampleRate`], [`DamageError::UnsupportedKind`], or for
/// kinds that need recordings [`DamageError::WrongPool`],
/// [`DamageError::NoRecordings`] or [`DamageError::RecordingRate`]. The audio is
/// untouched when an error is returned.
pub fn apply_damage(
    imp: &dyn Damage,
    kind: Kind,
    strength: f32,
    audio: &mut [&mut [f32]],
    sample_rate: f32,
    seed: u64,
    recordings: &Recordings,
) -> Result<Applied, DamageError> {
    check_rate(sample_rate)?;
    if !imp.kinds().contains(&kind) {
        return Err(DamageError::UnsupportedKind {
            implementation: imp.id().to_owned(),
            kind,
        });
    }
    check_recordings(imp, kind, sample_rate, recordings)?;
    let strength = if strength.is_nan() {
        0.0
    } else {
        strength.clamp(0.0, 1.0)
    };
    util::sanitize(audio);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let r = imp.render(
        kind,
        f64::from(strength),
        audio,
        f64::from(sample_rate),
        &mut rng,
        recordings,
    )?;
    Ok(Applied {
        family: imp.family(),
        kind,
        implementation: imp.id().to_owned(),
        held_out: imp.held_out(),
        strength,
        seed,
        params: r.params,
        label: format!("{} ({})", r.label, imp.id()),
    })
}

/// A set of implementations to draw from: [`Registry::training`] here, the
/// held-out set in `faurge-eval`.
pub struct Registry {
    impls: Vec<Box<dyn Damage>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.impls.iter().map(|i| i.id()))
            .finish()
    }
}

impl Registry {
    /// A registry of `impls` (ids should be unique; the first of a duplicate wins in [`Registry::get`]).
    pub fn new(impls: Vec<Box<dyn Damage>>) -> Registry {
        Registry { impls }
    }

    /// Every training implementation of this crate (none is held out).
    pub fn training() -> Registry {
        Registry::new(vec![
            Box::new(room::RirConvolution),
            Box::new(room::SyntheticRoom),
            Box::new(comb::FeedForward),
            Box::new(comb::Feedback),
            Box::new(tone::RbjBiquad),
            Box::new(tone::LinearPhaseFir),
            Box::new(noise::FftShaped),
            Box::new(noise::IirFiltered),
            Box::new(clicks::Templates),
            Box::new(clicks::StreamFaults),
            Box::new(clicks::DegradePops),
            Box::new(clipping::Memoryless),
            Box::new(clipping::Converter),
        ])
    }

    /// The implementations, in registry order.
    pub fn implementations(&self) -> impl Iterator<Item = &dyn Damage> {
        self.impls.iter().map(|b| b.as_ref())
    }

    /// The implementation with this id.
    pub fn get(&self, id: &str) -> Option<&dyn Damage> {
        self.implementations().find(|i| i.id() == id)
    }

    /// The implementations that produce `kind`.
    pub fn for_kind(&self, kind: Kind) -> Vec<&dyn Damage> {
        self.implementations()
            .filter(|i| i.kinds().contains(&kind))
            .collect()
    }

    /// The implementations that can produce `kind` with `recordings` at `sample_rate`.
    pub fn available(
        &self,
        kind: Kind,
        sample_rate: f32,
        recordings: &Recordings,
    ) -> Vec<&dyn Damage> {
        self.implementations()
            .filter(|i| can_apply(*i, kind, sample_rate, recordings))
            .collect()
    }

    /// Applies `kind` at `strength` by one implementation drawn uniformly (from
    /// `seed`) among those available, then with `seed` as in [`apply_damage`].
    ///
    /// # Errors
    /// [`DamageError::Unavailable`] when none can produce `kind` here, else as
    /// [`apply_damage`].
    pub fn apply_kind(
        &self,
        kind: Kind,
        strength: f32,
        audio: &mut [&mut [f32]],
        sample_rate: f32,
        seed: u64,
        recordings: &Recordings,
    ) -> Result<Applied, DamageError> {
        check_rate(sample_rate)?;
        let avail = self.available(kind, sample_rate, recordings);
        let mut pick = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_0FDA_4A6E);
        let imp = avail
            .choose(&mut pick)
            .ok_or(DamageError::Unavailable { kind })?;
        apply_damage(*imp, kind, strength, audio, sample_rate, seed, recordings)
    }

    /// Applies one planned step.
    ///
    /// # Errors
    /// [`DamageError::UnknownImplementation`], else as [`apply_damage`].
    pub fn apply_step(
        &self,
        step: &Step,
        audio: &mut [&mut [f32]],
        sample_rate: f32,
        recordings: &Recordings,
    ) -> Result<Applied, DamageError> {
        let imp = self
            .get(&step.implementation)
            .ok_or_else(|| DamageError::UnknownImplementation(step.implementation.clone()))?;
        apply_damage(
            imp,
            step.kind,
            step.strength,
            audio,
            sample_rate,
            step.seed,
            recordings,
        )
    }

    /// Applies `steps` in order (stops at the first error; earlier steps stay applied).
    ///
    /// # Errors
    /// As [`Registry::apply_step`].
    pub fn apply_steps(
        &self,
        steps: &[Step],
        audio: &mut [&mut [f32]],
        sample_rate: f32,
        recordings: &Recordings,
    ) -> Result<Vec<Applied>, DamageError> {
        steps
            .iter()
            .map(|s| self.apply_step(s, audio, sample_rate, recordings))
            .collect()
    }

    /// Draws a random combination: each family with its
    /// [`Family::combination_probability`] (families with no kind available here
    /// are skipped), then more families drawn uniformly until there are at least
    /// `min_families` (as far as available). One kind per family, except the tone:
    /// one kind, or two different ones with probability 0.4. Each step gets a
    /// strength uniform in [`COMBINATION_STRENGTH`], an implementation drawn
    /// uniformly among the available ones and its own seed. Steps come in
    /// [`Family::ALL`] order. Empty only when nothing at all is available.
    pub fn draw_combination(
        &self,
        rng: &mut ChaCha8Rng,
        sample_rate: f32,
        recordings: &Recordings,
        min_families: usize,
    ) -> Vec<Step> {
        let kinds_of = |f: Family| -> Vec<Kind> {
            f.kinds()
                .into_iter()
                .filter(|&k| !self.available(k, sample_rate, recordings).is_empty())
                .collect()
        };
        let usable: Vec<Family> = Family::ALL
            .iter()
            .copied()
            .filter(|&f| !kinds_of(f).is_empty())
            .collect();
        let mut chosen: Vec<Family> = usable
            .iter()
            .copied()
            .filter(|f| rng.gen_bool(f.combination_probability()))
            .collect();
        while chosen.len() < min_families.max(1) {
            let rest: Vec<Family> = usable
                .iter()
                .copied()
                .filter(|f| !chosen.contains(f))
                .collect();
            let Some(&f) = rest.choose(rng) else {
                break;
            };
            chosen.push(f);
        }
        chosen.sort();
        let mut steps = Vec::new();
        for f in chosen {
            let mut kinds = kinds_of(f);
            kinds.shuffle(rng);
            let n = if f == Family::Tone && kinds.len() > 1 && rng.gen_bool(0.4) {
                2
            } else {
                1
            };
            for &kind in kinds.iter().take(n) {
                let avail = self.available(kind, sample_rate, recordings);
                let Some(imp) = avail.choose(rng) else {
                    continue;
                };
                steps.push(Step {
                    implementation: imp.id().to_owned(),
                    kind,
                    strength: rng.gen_range(COMBINATION_STRENGTH.0..COMBINATION_STRENGTH.1),
                    seed: rng.gen(),
                });
            }
        }
        steps
    }

    /// Draws a combination ([`Registry::draw_combination`] with at least one
    /// family) and applies it: what the dataset generator calls per row.
    ///
    /// # Errors
    /// As [`Registry::apply_steps`].
    pub fn apply_random(
        &self,
        audio: &mut [&mut [f32]],
        sample_rate: f32,
        recordings: &Recordings,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<Applied>, DamageError> {
        check_rate(sample_rate)?;
        let steps = self.draw_combination(rng, sample_rate, recordings, 1);
        self.apply_steps(&steps, audio, sample_rate, recordings)
    }
}
