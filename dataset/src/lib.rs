//! Faurge's dataset generator: renders real clean recordings in target styles
//! (targets) and through random degradations (inputs), measures both with
//! faurge-dsp, and writes training rows as Parquet with a content hash.
//!
//! See `docs/DESIGN.md` ("Models and training") and `docs/SPEC.md` ("The training data").
//! Entry points: [`generate::build`] (the `faurge-dataset build` command),
//! [`vocabulary::Vocabulary`] (shared with the helper's prompt sanitizer).

pub mod generate;
pub mod reference;
pub mod sources;
pub mod style;
/// The acoustic vocabulary lives in its own crate (`faurge-vocabulary`) so the helper's
/// prompt sanitizer can use it without the dataset generator's dependencies; it is
/// re-exported here so `faurge_dataset::vocabulary::…` paths keep working.
pub use faurge_vocabulary as vocabulary;
