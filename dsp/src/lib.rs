//! Faurge's realtime DSP engine and the measurements every other part shares.
//!
//! Signal path:
//! `input → restoration (de-clip → de-click → hum removal → noise reduction →
//! expander) → EQ → de-esser → compressor → convolver (wet/dry) → output trim → output`,
//! assembled by [`chain::Chain`] and driven by a serde [`state::DspState`]; the
//! order's reasons are in [`restore`].
//!
//! Rules for everything under `process`: no allocation, no lock, no syscall, no
//! panic. Constructors (`new`) and kernel preparation allocate; they run on the
//! owner thread, never the audio thread. This crate has no threads, no I/O and no
//! host types.

pub mod analysis;
pub mod biquad;
pub mod chain;
pub mod compressor;
pub mod convolver;
pub mod degrade;
pub mod eq;
pub mod fade;
pub mod fit;
pub mod ir;
pub mod presets;
pub mod restore;
mod simd;
pub mod state;

/// Largest channel count any processor in this crate handles (mono or stereo).
pub const MAX_CHANNELS: usize = 2;

/// Lowest session sample rate the engine supports, in Hz: the lowest rate a plugin
/// validator tries (clap-validator sweeps 1 kHz to 768 kHz, fractional rates included).
/// EQ bands above 0.45 × the rate clamp there ([`state::effective_freq_hz`]).
pub const MIN_SAMPLE_RATE: f32 = 1_000.0;
/// Highest session sample rate the engine supports, in Hz (the highest rate hosts and
/// validators set; the VST3 validator tries 384 kHz, clap-validator 768 kHz).
pub const MAX_SAMPLE_RATE: f32 = 768_000.0;
