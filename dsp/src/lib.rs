//! Faurge's realtime DSP engine and the measurements every other part shares.
//!
//! Signal path:
//! `input → restoration (de-clip → de-click → noise reduction → expander) → EQ →
//! de-esser → compressor → convolver (wet/dry) → output trim → output`,
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
pub mod fit;
pub mod ir;
pub mod presets;
pub mod restore;
pub mod state;

/// Largest channel count any processor in this crate handles (mono or stereo).
pub const MAX_CHANNELS: usize = 2;

/// Lowest session sample rate the engine supports, in Hz.
pub const MIN_SAMPLE_RATE: f32 = 22_050.0;
/// Highest session sample rate the engine supports, in Hz.
pub const MAX_SAMPLE_RATE: f32 = 192_000.0;
