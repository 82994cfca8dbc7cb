//! Faurge's dataset generator: real clean recordings, damaged by random combinations
//! of damage families (inputs), paired with prompts from a grammar over the
//! descriptor table and their intents rendered through the DSP chain (targets),
//! measured with faurge-dsp and written as Parquet with a content hash.
//!
//! Entry points: [`generate::build`] (the `faurge-dataset build` command),
//! [`generate::RowSource`] (rows regenerated with their audio, for the evaluation),
//! [`captions::Grammar`] (training captions), [`target::render_intent`] (a target
//! rendered through the chain), [`damage::Registry`] (the training damages).
//! `docs/ARCHITECTURE.md` describes where the dataset sits in the training pipeline.

pub mod captions;
pub mod damage;
pub mod generate;
pub mod reference;
pub mod sources;
pub mod target;
pub mod tone_pairs;
