//! `faurge-protocol`: the messages that cross the process boundary between the
//! plugin (or the `faurge` CLI) and the helper process, and the client that
//! spawns and talks to the helper.
//!
//! - [`messages`]: [`Request`] (bake, cancel, shutdown), [`Reply`] (progress,
//!   result, error), the handshake ([`Hello`], [`Bootstrap`]); audio and impulse
//!   responses travel as `IpcSharedMemory` (planar native-endian `f32`).
//! - [`report`]: [`BakeReport`], every round's figures (also the CLI's `--report` JSON).
//! - [`error`]: [`ProtocolError`] (decoding/validation), [`BakeError`] and
//!   [`ErrorKind`] (what went wrong, for the user).
//! - [`client`]: [`HelperClient`], used from the plugin's bridge thread and the CLI.
//!
//! Transport: `ipc-channel` (serde + postcard over Unix sockets; shared memory as
//! `memfd`). Decoding garbage or a message of another version is a typed error,
//! never a panic: the helper answers it with [`ErrorKind::Protocol`] and keeps
//! serving; the client turns a wrong version into [`ClientError::Version`].
//!
//! Design decision: the chain's settings are `faurge_dsp::state::DspState`
//! itself, not a mirror of it here. `DspState` is plain serde data and the one
//! definition the plugin, the helper's shadow bake and the presets share; a
//! mirror would have to be kept in sync by hand. The cost is that this crate
//! depends on `faurge-dsp` (which itself has no threads, I/O or host types).

pub mod client;
pub mod error;
pub mod locate;
pub mod messages;
pub mod report;
pub mod stage;

pub use client::{ClientError, HelperClient, HelperCommand, DEFAULT_HANDSHAKE_TIMEOUT};
pub use error::{BakeError, ErrorKind, ProtocolError};
pub use faurge_dsp::state::DspState;
pub use ipc_channel;
pub use messages::{
    BakeOptions, BakeRequest, BakeResult, Bootstrap, Hello, IrAudio, ModelsInfo, Progress,
    ReferenceAudio, Reflection, Reply, Request,
};
pub use report::{
    BakeReport, EditKind, GoalReport, MetricsSummary, PromptEdit, PromptReport, RestorationNote,
    RoundReport,
};
pub use stage::Stage;

/// The protocol version. Bump it whenever a message's layout changes; the client
/// refuses a helper with another version ([`ClientError::Version`]).
pub const PROTOCOL_VERSION: u32 = 2;
