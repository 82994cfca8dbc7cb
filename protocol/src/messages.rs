//! The messages: requests (plugin/CLI → helper), replies (helper → plugin/CLI),
//! and the handshake.
//!
//! Audio travels as [`IpcSharedMemory`] (one `memfd` on Linux, mapped by both
//! processes; nothing is copied through the socket): planar `f32` in native byte
//! order, channel 0's frames first, then channel 1's. Both processes run on the
//! same machine, so native order is the same on both sides.

use faurge_dsp::state::DspState;
use ipc_channel::ipc::{IpcReceiver, IpcSender, IpcSharedMemory};
use serde::{Deserialize, Serialize};

use crate::error::{BakeError, ProtocolError};
use crate::report::BakeReport;
use crate::stage::Stage;

/// Lowest accepted sample rate, Hz: a plugin session may run at any rate its host sets,
/// down to `faurge_dsp::MIN_SAMPLE_RATE` (1 kHz); the helper resamples what it analyses
/// to its own rate.
pub const MIN_SAMPLE_RATE_HZ: u32 = 1_000;
/// Highest accepted sample rate, Hz (`faurge_dsp::MAX_SAMPLE_RATE`, 768 kHz).
pub const MAX_SAMPLE_RATE_HZ: u32 = 768_000;
/// Most channels accepted (mono or stereo).
pub const MAX_CHANNELS: u16 = 2;
/// Longest accepted snapshot or reference, seconds.
pub const MAX_DURATION_S: u32 = 120;
/// Most reflection rounds a request may ask for.
pub const MAX_ROUNDS: u32 = 32;
/// Default similarity threshold: none, meaning "the threshold the shipped models
/// were calibrated with" (their manifest's `calibration.s_c_threshold`, where
/// fulfilling and not fulfilling a prompt separate best on held-out data). A
/// request may set a number in −1..=1 instead.
pub const DEFAULT_THRESHOLD: Option<f32> = None;
/// Default round limit (`docs/SPEC.md`).
pub const DEFAULT_MAX_ROUNDS: u32 = 4;

/// Bytes per sample on the wire (`f32`).
const SAMPLE_BYTES: u64 = 4;

/// What the plugin/CLI asks of the helper.
// A few messages per bake, never on the audio thread: boxing the big variant
// would buy nothing but clumsier matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Run the loop on a snapshot. Answered by zero or more [`Reply::Progress`]
    /// then exactly one [`Reply::Result`] or [`Reply::Error`] with the same id.
    Bake(BakeRequest),
    /// Stop bake `id` as soon as possible; it is answered with
    /// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled). Unknown or finished
    /// ids are ignored.
    Cancel {
        /// The bake to stop.
        id: u64,
    },
    /// Stop the running bake and exit (status 0).
    Shutdown,
}

/// One bake: the snapshot, the prompt and the current settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BakeRequest {
    /// Chosen by the client; every reply to this request carries it.
    pub id: u64,
    /// The user's sentence, as typed (the helper's sanitizer cleans it).
    pub prompt: String,
    /// Snapshot rate, Hz.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Frames per channel.
    pub frames: u64,
    /// `[channels][frames]` planar f32, native-endian: `frames × channels × 4` bytes.
    pub audio: IpcSharedMemory,
    /// The chain's settings now (the loop's starting point and the "current metrics" context).
    pub current: DspState,
    /// Loop options.
    pub options: BakeOptions,
}

/// Options of the loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BakeOptions {
    /// Stop when the similarity `S_C` reaches this (−1..=1) and every measurable
    /// goal of the prompt is met; `None` ([`DEFAULT_THRESHOLD`]): the models'
    /// calibrated threshold.
    pub threshold: Option<f32>,
    /// Round limit, `1..=MAX_ROUNDS`.
    pub max_rounds: u32,
    /// A reference recording whose audio embedding is the target (with or instead of text).
    pub reference: Option<ReferenceAudio>,
    /// Use only the reference as target, ignoring the prompt's embedding.
    pub reference_only: bool,
    /// How rounds 2 and later move the targets.
    pub reflection: Reflection,
}

/// How the loop's reflection rounds (2 and later) move the targets `T_n`.
///
/// Round 1 is the same for both: Fabian reads the input and sets the blueprint
/// `T_1 = M_input + ΔT_1`. Measured on the test split with the shipped models
/// (`cargo xtask eval --max-rounds 6 --reflection …`, both settings compared), Fabian's
/// reading of a proposal disagrees with its real error (it reads later, worse
/// rounds as closer), so `Fabian` drifts away from the target round by round;
/// `Measured` never moves away from the blueprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reflection {
    /// The integrator accumulates the measured residual of the last shadow bake
    /// against the blueprint: `T_n = T_(n−1) + (T_1 − M_(n−1))` in the unmasked
    /// LTAS bands, mean removed (a level offset is the trim's job); LUFS and
    /// dynamics targets stay the blueprint's. Corrects what Ursula's one-shot
    /// settings miss of `T_1`.
    #[default]
    Measured,
    /// The specification's loop as written (`docs/SPEC.md`, phase 3): Fabian
    /// reads the proposal and outputs `ΔT_n`; `T_n = T_(n−1) + ΔT_n`.
    Fabian,
}

impl Default for BakeOptions {
    /// The calibrated threshold, 4 rounds, no reference, measured reflection.
    fn default() -> Self {
        BakeOptions {
            threshold: DEFAULT_THRESHOLD,
            max_rounds: DEFAULT_MAX_ROUNDS,
            reference: None,
            reference_only: false,
            reflection: Reflection::Measured,
        }
    }
}

/// A reference recording, same layout as the snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceAudio {
    /// Hz.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Frames per channel.
    pub frames: u64,
    /// `[channels][frames]` planar f32, native-endian.
    pub audio: IpcSharedMemory,
}

/// Copies `channels` (`[channels][frames]`) into shared memory, planar native-endian f32.
fn planar_to_shared(
    what: &'static str,
    channels: &[&[f32]],
) -> Result<(u16, u64, IpcSharedMemory), ProtocolError> {
    let count = channels.len();
    if count == 0 || count > MAX_CHANNELS as usize {
        return Err(ProtocolError::Channels {
            what,
            channels: count.min(u16::MAX as usize) as u16,
        });
    }
    let first = channels[0].len();
    if let Some((i, c)) = channels.iter().enumerate().find(|(_, c)| c.len() != first) {
        return Err(ProtocolError::RaggedChannels {
            what,
            channel: i,
            len: c.len(),
            first,
        });
    }
    let mut shared = IpcSharedMemory::from_byte(0, first * count * SAMPLE_BYTES as usize);
    // SAFETY: `shared` was created just above and has not been cloned or sent, so
    // this is its only reader or writer (ipc-channel's condition for `deref_mut`).
    // Writing in place saves an intermediate `Vec` and one copy of the audio.
    let bytes = unsafe { shared.deref_mut() };
    for (dst, s) in bytes
        .chunks_exact_mut(SAMPLE_BYTES as usize)
        .zip(channels.iter().flat_map(|c| c.iter()))
    {
        dst.copy_from_slice(&s.to_ne_bytes());
    }
    Ok((count as u16, first as u64, shared))
}

/// Checks a planar buffer's header against its bytes and the documented limits.
fn check_audio(
    what: &'static str,
    sample_rate: u32,
    channels: u16,
    frames: u64,
    bytes: usize,
) -> Result<(), ProtocolError> {
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(ProtocolError::Channels { what, channels });
    }
    if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sample_rate) {
        return Err(ProtocolError::SampleRate { what, sample_rate });
    }
    let expected_bytes = frames
        .saturating_mul(channels as u64)
        .saturating_mul(SAMPLE_BYTES);
    if expected_bytes != bytes as u64 {
        return Err(ProtocolError::AudioSize {
            what,
            bytes,
            frames,
            channels,
            expected_bytes,
        });
    }
    if frames == 0 {
        return Err(ProtocolError::Empty { what });
    }
    if frames > MAX_DURATION_S as u64 * sample_rate as u64 {
        return Err(ProtocolError::TooLong {
            what,
            seconds: frames as f64 / sample_rate as f64,
        });
    }
    Ok(())
}

/// Splits validated planar bytes into `[channels][frames]`.
fn shared_to_planar(bytes: &[u8], channels: u16, frames: u64) -> Vec<Vec<f32>> {
    let frame_bytes = frames as usize * SAMPLE_BYTES as usize;
    (0..channels as usize)
        .map(|c| {
            bytes[c * frame_bytes..(c + 1) * frame_bytes]
                .chunks_exact(SAMPLE_BYTES as usize)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect()
}

impl ReferenceAudio {
    /// Puts `channels` (`[channels][frames]`, 1 or 2 channels of equal length) into shared memory.
    ///
    /// # Errors
    /// [`ProtocolError`] for 0 or more than 2 channels, ragged channels, or a
    /// rate/length outside the limits.
    pub fn new(sample_rate: u32, channels: &[&[f32]]) -> Result<Self, ProtocolError> {
        let (count, frames, audio) = planar_to_shared("reference", channels)?;
        let r = ReferenceAudio {
            sample_rate,
            channels: count,
            frames,
            audio,
        };
        r.validate()?;
        Ok(r)
    }

    /// Checks the header against the bytes and the limits.
    ///
    /// # Errors
    /// See [`ProtocolError`].
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check_audio(
            "reference",
            self.sample_rate,
            self.channels,
            self.frames,
            self.audio.len(),
        )
    }

    /// The audio as `[channels][frames]`.
    ///
    /// # Errors
    /// [`ProtocolError`] when the sizes do not match or break a limit.
    pub fn channels_f32(&self) -> Result<Vec<Vec<f32>>, ProtocolError> {
        self.validate()?;
        Ok(shared_to_planar(&self.audio, self.channels, self.frames))
    }
}

impl BakeOptions {
    /// Checks the threshold (`None` for the calibrated one, else −1..=1), the round
    /// limit (`1..=MAX_ROUNDS`) and the reference, if any.
    ///
    /// # Errors
    /// [`ProtocolError::Option`] or the reference's audio error.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if let Some(t) = self
            .threshold
            .filter(|t| !(t.is_finite() && (-1.0..=1.0).contains(t)))
        {
            return Err(ProtocolError::Option(format!(
                "threshold is {t}, but a cosine similarity threshold must be between -1 and 1 (or left out for the models' calibrated one)"
            )));
        }
        if !(1..=MAX_ROUNDS).contains(&self.max_rounds) {
            return Err(ProtocolError::Option(format!(
                "max_rounds is {}, but must be between 1 and {MAX_ROUNDS} (default 4)",
                self.max_rounds
            )));
        }
        match &self.reference {
            Some(r) => r.validate(),
            None if self.reference_only => Err(ProtocolError::Option(
                "reference_only is set but no reference recording was given".into(),
            )),
            None => Ok(()),
        }
    }
}

impl BakeRequest {
    /// A request with `channels` (`[channels][frames]`, 1 or 2 equal-length
    /// channels at `sample_rate` Hz) copied into shared memory.
    ///
    /// # Errors
    /// [`ProtocolError`] when the audio, the options or `current` break a limit
    /// (the same checks as [`BakeRequest::validate`]).
    pub fn new(
        id: u64,
        prompt: impl Into<String>,
        sample_rate: u32,
        channels: &[&[f32]],
        current: DspState,
        options: BakeOptions,
    ) -> Result<Self, ProtocolError> {
        let (count, frames, audio) = planar_to_shared("snapshot", channels)?;
        let req = BakeRequest {
            id,
            prompt: prompt.into(),
            sample_rate,
            channels: count,
            frames,
            audio,
            current,
            options,
        };
        req.validate()?;
        Ok(req)
    }

    /// Checks everything a helper relies on: `frames × channels × 4 == bytes`,
    /// 1..=2 channels, 1–768 kHz, 1 frame..=120 s, the options, and that
    /// `current` is inside `DspState`'s ranges.
    ///
    /// # Errors
    /// The first [`ProtocolError`] found.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        check_audio(
            "snapshot",
            self.sample_rate,
            self.channels,
            self.frames,
            self.audio.len(),
        )?;
        self.options.validate()?;
        self.current
            .validate()
            .map_err(|e| ProtocolError::Option(format!("current dsp_state: {e}")))
    }

    /// The snapshot as `[channels][frames]`.
    ///
    /// # Errors
    /// [`ProtocolError`] when the sizes do not match or break a limit; never panics.
    pub fn channels_f32(&self) -> Result<Vec<Vec<f32>>, ProtocolError> {
        check_audio(
            "snapshot",
            self.sample_rate,
            self.channels,
            self.frames,
            self.audio.len(),
        )?;
        Ok(shared_to_planar(&self.audio, self.channels, self.frames))
    }

    /// Snapshot duration, seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / self.sample_rate.max(1) as f64
    }
}

/// What the helper sends back.
#[allow(clippy::large_enum_variant)] // as for `Request`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    /// A stage started (in order; the last one before the result is [`Stage::Done`]).
    Progress(Progress),
    /// The bake finished.
    Result(BakeResult),
    /// The bake, or a message, failed.
    Error(BakeError),
}

/// A progress report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The bake this belongs to.
    pub id: u64,
    /// The stage that is starting.
    pub stage: Stage,
    /// 1-based round.
    pub round: u32,
    /// The round limit.
    pub max_rounds: u32,
    /// The best `S_C` so far, once a reflection has run.
    pub similarity: Option<f32>,
    /// The stopping threshold.
    pub threshold: f32,
}

/// A finished bake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BakeResult {
    /// The request this answers.
    pub id: u64,
    /// The best round's settings.
    pub dsp_state: DspState,
    /// The best round's impulse response, if Genesis made one.
    pub ir: Option<IrAudio>,
    /// Every round's figures.
    pub report: BakeReport,
}

/// An impulse response: mono f32, native-endian, in shared memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IrAudio {
    /// Hz.
    pub sample_rate: u32,
    /// `[len]` mono f32 native-endian: `len × 4` bytes.
    pub samples: IpcSharedMemory,
}

impl IrAudio {
    /// Puts `samples` (mono, at `sample_rate` Hz) into shared memory.
    pub fn new(sample_rate: u32, samples: &[f32]) -> Self {
        let mut shared = IpcSharedMemory::from_byte(0, samples.len() * SAMPLE_BYTES as usize);
        // SAFETY: freshly created, not cloned or sent: the only reader or writer.
        let bytes = unsafe { shared.deref_mut() };
        for (dst, s) in bytes.chunks_exact_mut(SAMPLE_BYTES as usize).zip(samples) {
            dst.copy_from_slice(&s.to_ne_bytes());
        }
        IrAudio {
            sample_rate,
            samples: shared,
        }
    }

    /// The samples.
    ///
    /// # Errors
    /// [`ProtocolError`] when the byte count is not a multiple of 4, the IR is
    /// empty or longer than 120 s, or the rate is outside 1–768 kHz.
    pub fn samples_f32(&self) -> Result<Vec<f32>, ProtocolError> {
        let bytes = self.samples.len();
        let frames = (bytes / SAMPLE_BYTES as usize) as u64;
        check_audio("impulse response", self.sample_rate, 1, frames, bytes)?;
        Ok(shared_to_planar(&self.samples, 1, frames)
            .pop()
            .unwrap_or_default())
    }
}

impl BakeResult {
    /// The IR's samples (empty when there is no IR).
    ///
    /// # Errors
    /// See [`IrAudio::samples_f32`].
    pub fn ir_samples(&self) -> Result<Vec<f32>, ProtocolError> {
        match &self.ir {
            Some(ir) => ir.samples_f32(),
            None => Ok(Vec::new()),
        }
    }
}

/// The helper's first message: who it is and whether its models loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION). First field, so it
    /// stays readable if later versions change what follows.
    pub protocol_version: u32,
    /// The helper's crate version.
    pub helper_version: String,
    /// The inference backend (`"tract"`, `"onnxruntime (CUDA)"`, …).
    pub backend: String,
    /// The models the helper found.
    pub models: ModelsInfo,
}

/// Where the helper's models are and whether they are usable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelsInfo {
    /// The models directory, as the helper resolved it.
    pub dir: String,
    /// sha256 (hex) of `manifest.json`, when it was read.
    pub manifest_sha256: Option<String>,
    /// Why the models cannot be used (missing, corrupt, sha mismatch); `None` when fine.
    pub error: Option<String>,
}

/// The one message the helper sends through the one-shot server: its [`Hello`]
/// and the two channels of the session.
#[derive(Debug, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Version and models.
    pub hello: Hello,
    /// Where the client sends requests.
    pub requests: IpcSender<Request>,
    /// Where the client reads replies.
    pub replies: IpcReceiver<Reply>,
}
