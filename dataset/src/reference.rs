//! Reference responses of faurge-dsp for random settings, written as JSON for
//! the PyTorch parity tests (`training/tests`): the differentiable EQ and
//! compressor models must match these within 0.1 dB.

use faurge_dsp::compressor::Compressor;
use faurge_dsp::eq::Eq;
use faurge_dsp::state::{
    CompressorState, EqBandState, EqState, MAX_GAIN_DB, MAX_KNEE_DB, MAX_Q, MAX_RATIO,
    MAX_THRESHOLD_DB, MIN_GAIN_DB, MIN_Q, MIN_THRESHOLD_DB, NUM_BANDS,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Number of log-spaced evaluation frequencies (20 Hz .. 0.49 × rate).
pub const N_FREQS: usize = 128;

/// One EQ case: settings, the frequency grid and faurge-dsp's response.
#[derive(Clone, Debug, Serialize)]
pub struct EqCase {
    /// Sample rate, Hz.
    pub sample_rate: f64,
    /// The settings (as `DspState.eq` serializes).
    pub eq: EqState,
    /// Evaluation frequencies, Hz.
    pub freqs_hz: Vec<f64>,
    /// `Eq::magnitude_db` at each frequency, dB.
    pub magnitude_db: Vec<f64>,
}

/// One compressor case: settings, input levels and the static curve.
#[derive(Clone, Debug, Serialize)]
pub struct CompressorCase {
    /// The settings.
    pub compressor: CompressorState,
    /// Input levels, dB.
    pub input_db: Vec<f32>,
    /// `Compressor::static_curve_db` at each level, dB (no makeup).
    pub output_db: Vec<f32>,
}

/// Everything the parity tests read.
#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    /// Seed used.
    pub seed: u64,
    /// EQ cases.
    pub eq: Vec<EqCase>,
    /// Compressor cases.
    pub compressor: Vec<CompressorCase>,
    /// IR synthesis cases.
    pub ir: Vec<crate::reference::IrCase>,
}

/// One IR synthesis case.
#[derive(Clone, Debug, Serialize)]
pub struct IrCase {
    /// Sample rate, Hz.
    pub sample_rate: f32,
    /// The parameters.
    pub params: faurge_dsp::ir::IrParams,
    /// `faurge_dsp::ir::synthesize_ir` output.
    pub ir: Vec<f32>,
}

/// Random settings spanning the whole parameter ranges (log-uniform frequency
/// and Q), each band enabled with probability 0.8.
pub fn random_eq(rng: &mut impl Rng, sample_rate: f64) -> EqState {
    let mut eq = EqState::default();
    for (i, b) in eq.bands.iter_mut().enumerate().take(NUM_BANDS) {
        let fmax = (0.45 * sample_rate).min(20_000.0);
        *b = EqBandState {
            enabled: rng.gen_bool(0.8),
            freq_hz: (20f64 * (fmax / 20.0).powf(rng.gen::<f64>())) as f32,
            gain_db: rng.gen_range(MIN_GAIN_DB..MAX_GAIN_DB),
            q: (f64::from(MIN_Q) * (f64::from(MAX_Q) / f64::from(MIN_Q)).powf(rng.gen::<f64>()))
                as f32,
        };
        // Keep the high-/low-pass usable (a 20 kHz high-pass mutes everything).
        if i == 0 {
            b.freq_hz = b.freq_hz.min(500.0);
        }
        if i == 7 {
            b.freq_hz = b.freq_hz.max(2000.0);
        }
    }
    eq
}

/// Generates the reference: `count` EQ and compressor cases and 4 IR cases.
pub fn generate(seed: u64, count: usize) -> Reference {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut eq = Vec::with_capacity(count);
    for k in 0..count {
        let sample_rate = [44_100.0, 48_000.0, 96_000.0][k % 3];
        let state = random_eq(&mut rng, sample_rate);
        let top = 0.49 * sample_rate;
        let freqs_hz: Vec<f64> = (0..N_FREQS)
            .map(|i| 20.0 * (top / 20.0).powf(i as f64 / (N_FREQS - 1) as f64))
            .collect();
        let magnitude_db = freqs_hz
            .iter()
            .map(|&f| Eq::magnitude_db(&state, f, sample_rate))
            .collect();
        eq.push(EqCase {
            sample_rate,
            eq: state,
            freqs_hz,
            magnitude_db,
        });
    }
    let mut compressor = Vec::with_capacity(count);
    for _ in 0..count {
        let c = CompressorState {
            enabled: true,
            threshold_db: rng.gen_range(MIN_THRESHOLD_DB..MAX_THRESHOLD_DB),
            ratio: rng.gen_range(1.0..MAX_RATIO),
            knee_db: if rng.gen_bool(0.2) {
                0.0
            } else {
                rng.gen_range(0.0..MAX_KNEE_DB)
            },
            attack_ms: 10.0,
            release_ms: 100.0,
            makeup_db: 0.0,
        };
        let input_db: Vec<f32> = (0..=100).map(|i| -90.0 + i as f32).collect();
        let output_db = input_db
            .iter()
            .map(|&x| Compressor::static_curve_db(&c, x))
            .collect();
        compressor.push(CompressorCase {
            compressor: c,
            input_db,
            output_db,
        });
    }
    let ir = (0..4)
        .map(|k| {
            let sample_rate = [48_000.0, 44_100.0, 48_000.0, 22_050.0][k];
            let params = faurge_dsp::ir::IrParams::random(&mut rng);
            let ir = faurge_dsp::ir::synthesize_ir(&params, sample_rate);
            IrCase {
                sample_rate,
                params,
                ir,
            }
        })
        .collect();
    Reference {
        seed,
        eq,
        compressor,
        ir,
    }
}
