//! Faurge's helper: the closed loop that turns a prompt and a few seconds of audio
//! into EQ/compressor settings and a corrective impulse response (`docs/DESIGN.md`,
//! "The loop"), the model runtime under it, and the IPC serve loop of the
//! `faurge-helper` process. The `faurge` CLI and the tests share these pieces.

pub mod features;
pub mod laion;
pub mod manager;
pub mod models;
pub mod orchestrator;
pub mod serve;
