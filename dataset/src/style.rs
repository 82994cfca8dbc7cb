//! Style renderers: each target style of the vocabulary is a seeded, parameterized
//! setting of faurge-dsp's `Chain` (EQ, compressor, and for `roomy` the convolver
//! with a real measured room impulse response) applied to a clean recording.
//!
//! The target metrics of a dataset row are `faurge_dsp::analysis::measure` of the
//! styled audio, so the same degraded input with another prompt has another target.

use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_dsp::state::{DspState, EqBandState};
use rand::Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a style could not be drawn or rendered.
#[derive(Debug, Error, PartialEq)]
pub enum StyleError {
    /// No renderer for this style id.
    #[error("no renderer for style \"{0}\": add one in faurge-dataset's style.rs or remove the style from the vocabulary")]
    Unknown(String),
    /// `roomy` needs at least one room impulse response.
    #[error("style \"roomy\" needs at least one room impulse response (the data folder's rir/)")]
    NoRir,
    /// The chain could not be built at this rate.
    #[error("could not build the DSP chain: {0}")]
    Chain(String),
}

/// A drawn style: the chain settings and, for rooms, which RIR to convolve with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StyleRecipe {
    /// Style id (vocabulary `style.id`).
    pub style: String,
    /// Chain settings (EQ, compressor, convolver mix, output trim).
    pub state: DspState,
    /// Index into the RIR list passed to [`render`] when the convolver is on.
    pub rir_index: Option<usize>,
}

fn band(state: &mut DspState, i: usize, freq_hz: f32, gain_db: f32, q: f32) {
    state.eq.bands[i] = EqBandState {
        enabled: true,
        freq_hz,
        gain_db,
        q,
    };
}

fn compress(state: &mut DspState, threshold_db: f32, ratio: f32, makeup_db: f32) {
    let c = &mut state.compressor;
    c.enabled = true;
    c.threshold_db = threshold_db;
    c.ratio = ratio;
    c.knee_db = 6.0;
    c.attack_ms = 5.0;
    c.release_ms = 120.0;
    c.makeup_db = makeup_db;
}

/// Draws the parameters of style `id` from `rng`. `n_rirs` is how many room
/// impulse responses [`render`] will get (needed by `roomy`).
///
/// Recipes (EQ bands by index: 0 HP, 1 low shelf, 2–5 peaks, 6 high shelf, 7 LP;
/// gains in dB, uniform ranges):
/// - `neutral`: transparent.
/// - `warm`: low shelf +2..6 at 150–300 Hz, peak +1..3 at 200–400 Hz, high shelf −2..−6 at 6–10 kHz.
/// - `bright`: HP 60–120 Hz, peak +2..4 at 3–5 kHz, high shelf +3..8 at 6–10 kHz.
/// - `broadcast`: HP 60–90 Hz, low shelf +2..4 at 100–150 Hz, peak +2..4 at 2.5–4 kHz,
///   compressor −24..−16 dB, 3..6:1, makeup +3..6.
/// - `podcast`: HP 80–100 Hz, peak −2..−4 at 300–500 Hz, peak +1.5..3 at 2–4 kHz,
///   compressor −22..−16 dB, 2..3:1, makeup +2..4.
/// - `telephone`: HP 300–400 Hz, LP 3–3.4 kHz (Q 0.707–1), peak +2..4 at 1–2 kHz.
/// - `intimate`: low shelf +4..8 at 150–250 Hz, high shelf −1..−3 at 7–10 kHz,
///   compressor −26..−20 dB, 2..3:1.
/// - `thin`: HP 200–350 Hz, low shelf −6..−10 at 300–500 Hz.
/// - `less_boomy`: low shelf −3..−6 at 150–250 Hz, peak −3..−6 at 200–400 Hz (Q 1–2).
/// - `roomy`: convolver fully on with a random RIR, mix 0.3–0.7.
///
/// # Errors
/// [`StyleError::Unknown`] for an id without a recipe, [`StyleError::NoRir`] for
/// `roomy` with `n_rirs = 0`.
pub fn draw(id: &str, n_rirs: usize, rng: &mut impl Rng) -> Result<StyleRecipe, StyleError> {
    let mut s = DspState::default();
    let mut rir_index = None;
    match id {
        "neutral" => {}
        "warm" => {
            band(
                &mut s,
                1,
                rng.gen_range(150.0..300.0),
                rng.gen_range(2.0..6.0),
                0.707,
            );
            band(
                &mut s,
                2,
                rng.gen_range(200.0..400.0),
                rng.gen_range(1.0..3.0),
                1.0,
            );
            band(
                &mut s,
                6,
                rng.gen_range(6000.0..10000.0),
                rng.gen_range(-6.0..-2.0),
                0.707,
            );
        }
        "bright" => {
            band(&mut s, 0, rng.gen_range(60.0..120.0), 0.0, 0.707);
            band(
                &mut s,
                4,
                rng.gen_range(3000.0..5000.0),
                rng.gen_range(2.0..4.0),
                1.0,
            );
            band(
                &mut s,
                6,
                rng.gen_range(6000.0..10000.0),
                rng.gen_range(3.0..8.0),
                0.707,
            );
        }
        "broadcast" => {
            band(&mut s, 0, rng.gen_range(60.0..90.0), 0.0, 0.707);
            band(
                &mut s,
                1,
                rng.gen_range(100.0..150.0),
                rng.gen_range(2.0..4.0),
                0.707,
            );
            band(
                &mut s,
                4,
                rng.gen_range(2500.0..4000.0),
                rng.gen_range(2.0..4.0),
                1.0,
            );
            compress(
                &mut s,
                rng.gen_range(-24.0..-16.0),
                rng.gen_range(3.0..6.0),
                rng.gen_range(3.0..6.0),
            );
        }
        "podcast" => {
            band(&mut s, 0, rng.gen_range(80.0..100.0), 0.0, 0.707);
            band(
                &mut s,
                2,
                rng.gen_range(300.0..500.0),
                rng.gen_range(-4.0..-2.0),
                1.2,
            );
            band(
                &mut s,
                4,
                rng.gen_range(2000.0..4000.0),
                rng.gen_range(1.5..3.0),
                1.0,
            );
            compress(
                &mut s,
                rng.gen_range(-22.0..-16.0),
                rng.gen_range(2.0..3.0),
                rng.gen_range(2.0..4.0),
            );
        }
        "telephone" => {
            band(&mut s, 0, rng.gen_range(300.0..400.0), 0.0, 0.707);
            band(
                &mut s,
                3,
                rng.gen_range(1000.0..2000.0),
                rng.gen_range(2.0..4.0),
                1.0,
            );
            band(
                &mut s,
                7,
                rng.gen_range(3000.0..3400.0),
                0.0,
                rng.gen_range(0.707..1.0),
            );
        }
        "intimate" => {
            band(
                &mut s,
                1,
                rng.gen_range(150.0..250.0),
                rng.gen_range(4.0..8.0),
                0.707,
            );
            band(
                &mut s,
                6,
                rng.gen_range(7000.0..10000.0),
                rng.gen_range(-3.0..-1.0),
                0.707,
            );
            compress(
                &mut s,
                rng.gen_range(-26.0..-20.0),
                rng.gen_range(2.0..3.0),
                2.0,
            );
        }
        "thin" => {
            band(&mut s, 0, rng.gen_range(200.0..350.0), 0.0, 0.707);
            band(
                &mut s,
                1,
                rng.gen_range(300.0..500.0),
                rng.gen_range(-10.0..-6.0),
                0.707,
            );
        }
        "less_boomy" => {
            band(
                &mut s,
                1,
                rng.gen_range(150.0..250.0),
                rng.gen_range(-6.0..-3.0),
                0.707,
            );
            band(
                &mut s,
                2,
                rng.gen_range(200.0..400.0),
                rng.gen_range(-6.0..-3.0),
                rng.gen_range(1.0..2.0),
            );
        }
        "roomy" => {
            if n_rirs == 0 {
                return Err(StyleError::NoRir);
            }
            rir_index = Some(rng.gen_range(0..n_rirs));
            s.convolver.enabled = true;
            s.convolver.mix = rng.gen_range(0.3..0.7);
        }
        other => return Err(StyleError::Unknown(other.to_owned())),
    }
    Ok(StyleRecipe {
        style: id.to_owned(),
        state: s,
        rir_index,
    })
}

impl StyleRecipe {
    /// The recipe applied at a fraction `alpha` (0..=1) of its strength: EQ gains,
    /// compressor ratio above 1:1, makeup, convolver mix and trim scaled by `alpha`;
    /// high-/low-pass bands kept only when `alpha ≥ 0.5`. Used for the spec's
    /// "failed reflection pass" rows (inputs partly corrected toward the target).
    pub fn scaled(&self, alpha: f32) -> StyleRecipe {
        let a = alpha.clamp(0.0, 1.0);
        let mut s = self.state;
        for (i, b) in s.eq.bands.iter_mut().enumerate() {
            b.gain_db *= a;
            if (i == 0 || i == 7) && a < 0.5 {
                b.enabled = false;
            }
        }
        s.compressor.ratio = 1.0 + a * (s.compressor.ratio - 1.0);
        s.compressor.makeup_db *= a;
        s.convolver.mix *= a;
        s.output_trim_db *= a;
        StyleRecipe {
            style: self.style.clone(),
            state: s,
            rir_index: self.rir_index,
        }
    }
}

/// Renders `recipe` onto mono `audio` in place at `sample_rate` (22.05–192 kHz)
/// through a fresh `Chain` (snapped to the state, no glide). `rirs` are mono room
/// impulse responses at `sample_rate`, at most 2 s long.
///
/// # Errors
/// [`StyleError::Chain`] when the chain cannot be built or the RIR does not fit.
pub fn render(
    recipe: &StyleRecipe,
    audio: &mut [f32],
    sample_rate: f32,
    rirs: &[Vec<f32>],
) -> Result<(), StyleError> {
    let mut chain = Chain::new(ChainConfig::new(sample_rate, 1))
        .map_err(|e| StyleError::Chain(e.to_string()))?;
    if let Some(i) = recipe.rir_index {
        let ir = rirs.get(i).ok_or(StyleError::NoRir)?;
        let kernel = chain
            .kernel_builder()
            .build(&[ir.as_slice()])
            .map_err(|e| StyleError::Chain(e.to_string()))?;
        chain
            .replace_ir(kernel)
            .map_err(|_| StyleError::Chain("the IR kernel does not fit the chain".into()))?;
    }
    chain.snap_to_state(&recipe.state);
    chain.process(&mut [audio]);
    Ok(())
}
