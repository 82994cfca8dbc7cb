//! Faurge's dataset generator: renders real clean recordings in target styles
//! (targets) and through random degradations (inputs), measures both with
//! faurge-dsp, and writes training rows as Parquet with a content hash.
//!
//! See `DESIGN.md` ("Models and training") and `spec/dataset-pipeline.md`.
//! Entry points: [`generate::build`] (the `faurge-dataset build` command),
//! [`vocabulary::Vocabulary`] (shared with the helper's prompt sanitizer).

pub mod generate;
pub mod reference;
pub mod sources;
pub mod style;
pub mod vocabulary;
