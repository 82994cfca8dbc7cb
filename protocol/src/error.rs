//! Errors that cross the process boundary ([`BakeError`], [`ErrorKind`]) and the
//! local decoding/validation error of the messages ([`ProtocolError`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A message that is malformed or a request that breaks a documented limit.
///
/// Decoding garbage, an audio buffer whose size does not match its header, or a
/// sample rate outside the supported range all end here; none of them panics.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProtocolError {
    /// Bytes on a channel that do not decode as the expected message type.
    #[error("could not decode a {expected} from the bytes received ({detail}); the other side speaks a different protocol or sent garbage")]
    Decode {
        /// The message type that was expected, e.g. `"Request"`.
        expected: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// `what` has `bytes` bytes of audio, but its header promises
    /// `frames × channels × 4` = `expected_bytes`.
    #[error("{what}: the shared audio holds {bytes} bytes, but {frames} frames × {channels} channels × 4 bytes = {expected_bytes}")]
    AudioSize {
        /// Which buffer (`"snapshot"`, `"reference"`, `"impulse response"`).
        what: &'static str,
        /// Bytes actually present.
        bytes: usize,
        /// Frames in the header.
        frames: u64,
        /// Channels in the header.
        channels: u16,
        /// `frames × channels × 4`, saturating.
        expected_bytes: u64,
    },
    /// Channel count outside `1..=MAX_CHANNELS`.
    #[error("{what}: {channels} channels; Faurge takes mono or stereo (1 or 2)")]
    Channels {
        /// Which buffer.
        what: &'static str,
        /// The offending count.
        channels: u16,
    },
    /// The channels given to a constructor differ in length.
    #[error("{what}: channel {channel} has {len} frames but channel 0 has {first}; all channels must have the same length")]
    RaggedChannels {
        /// Which buffer.
        what: &'static str,
        /// The first channel whose length differs.
        channel: usize,
        /// Its length, frames.
        len: usize,
        /// Channel 0's length, frames.
        first: usize,
    },
    /// Sample rate outside `MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ`.
    #[error("{what}: sample rate {sample_rate} Hz is outside the supported 8000..=384000 Hz")]
    SampleRate {
        /// Which buffer.
        what: &'static str,
        /// The offending rate, Hz.
        sample_rate: u32,
    },
    /// No audio at all.
    #[error("{what}: the audio is empty; record or play a few seconds first")]
    Empty {
        /// Which buffer.
        what: &'static str,
    },
    /// Longer than `MAX_DURATION_S`.
    #[error("{what}: {seconds:.1} s of audio; at most 120 s is accepted")]
    TooLong {
        /// Which buffer.
        what: &'static str,
        /// Its duration, s.
        seconds: f64,
    },
    /// A bake option outside its range (threshold, round limit) or a `DspState`
    /// field outside its range.
    #[error("{0}")]
    Option(String),
}

/// What went wrong, in categories the plugin and the CLI can react to
/// (retry, respawn, tell the user to reinstall, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// A message could not be decoded (garbage, or a different protocol).
    Protocol,
    /// The request broke a documented limit (sizes, rates, options).
    BadRequest,
    /// The prompt could not be used (empty after sanitizing, too long, …).
    Prompt,
    /// A model is missing, corrupt or does not match the manifest.
    ModelLoad,
    /// The memory budget cannot hold a model the bake needs.
    MemoryBudget,
    /// A model failed while running.
    Inference,
    /// The bake was cancelled.
    Cancelled,
    /// A bug in the helper.
    Internal,
    /// The helper program was not found or could not be started.
    HelperMissing,
    /// The helper process exited or was killed.
    HelperDied,
    /// The helper did not answer in time and was stopped.
    Timeout,
    /// The helper speaks a different protocol version.
    Version,
}

impl ErrorKind {
    /// One sentence a user can act on.
    pub fn advice(self) -> &'static str {
        match self {
            ErrorKind::Protocol => "The plugin and the helper could not understand each other; reinstall Faurge so both come from the same release.",
            ErrorKind::BadRequest => "The bake request was refused; check the snapshot's length (up to 120 s), channels (mono or stereo) and sample rate (1–768 kHz).",
            ErrorKind::Prompt => "The prompt could not be used; describe the sound you want in a few plain words.",
            ErrorKind::ModelLoad => "A model could not be loaded; reinstall Faurge or point --models at a directory with a valid manifest.json.",
            ErrorKind::MemoryBudget => "The memory budget is too small for the models; raise --memory-budget.",
            ErrorKind::Inference => "A model failed while running; try again, and report it if it repeats.",
            ErrorKind::Cancelled => "The bake was cancelled; press Bake again when ready.",
            ErrorKind::Internal => "The helper hit an internal error; please report it with the helper's log.",
            ErrorKind::HelperMissing => "The faurge-helper program was not found; install it next to the plugin, put it on PATH, or set FAURGE_HELPER.",
            ErrorKind::HelperDied => "The helper process stopped unexpectedly; the next Bake starts it again.",
            ErrorKind::Timeout => "The helper did not finish in time and was stopped; the next Bake starts it again.",
            ErrorKind::Version => "The helper belongs to a different Faurge release; install the plugin and the helper from the same release.",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.advice())
    }
}

/// A failed bake, as the helper reports it and as the client hands it to the
/// plugin/CLI (see `ClientError`'s conversion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Error)]
pub struct BakeError {
    /// The request this answers; `None` when the request could not even be decoded.
    pub id: Option<u64>,
    /// The category.
    pub kind: ErrorKind,
    /// The details (what failed, paths, numbers).
    pub message: String,
}

impl BakeError {
    /// A new error.
    pub fn new(id: Option<u64>, kind: ErrorKind, message: impl Into<String>) -> Self {
        BakeError {
            id,
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for BakeError {
    /// `"<details>. <advice>"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = self.message.trim_end_matches('.');
        if msg.is_empty() {
            write!(f, "{}", self.kind.advice())
        } else {
            write!(f, "{msg}. {}", self.kind.advice())
        }
    }
}
