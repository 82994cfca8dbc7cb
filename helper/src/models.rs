//! The shipped ONNX models: their manifest, the inference backend, and typed
//! wrappers around each network's forward pass.
//!
//! `bundle/models/manifest.json` (written by `cargo xtask train --ship`, see
//! `training/README.md`) lists every model file with its sha256, its input and
//! output names and shapes, the dataset hash and the training commit. Opening a
//! model folder ([`ModelSet::open`]) checks every file against the manifest, so a
//! truncated or replaced file is a clear [`ModelError`] at start-up, never a wrong
//! answer mid-bake.
//!
//! Backends ([`Backend`]): `ort` drives both. The default is the pure-Rust tract
//! backend (`ort-tract`): nothing to install. ONNX Runtime is a run-time option: the
//! helper loads `libonnxruntime` (≥ 1.24, e.g. from the PyPI `onnxruntime` or
//! `onnxruntime-gpu` wheel) with `dlopen` and hands its C API table to `ort`, and
//! registers the CUDA execution provider when asked. One process uses one backend.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use faurge_vocabulary::Tokenizer;

use crate::laion::{self, ClapDir, LaionError, Signature, TensorInfo};
use ort::session::Session;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Name of the manifest inside a model folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Manifest format this build reads.
pub const MANIFEST_FORMAT: u32 = 1;
/// Width of the shared text/audio embedding space (L2-normalized vectors).
pub const EMBED_DIM: usize = 512;
/// LTAS bands (see `faurge_dsp::analysis::ltas`).
pub const LTAS_BANDS: usize = faurge_dsp::analysis::ltas::LTAS_BANDS;
/// Bands of the high-resolution spectrum Genesis reads.
pub const SPECTRUM_BANDS: usize = faurge_dsp::analysis::ltas::SPECTRUM_BANDS;
/// Log-mel bands per frame of the audio encoder's input.
pub const MEL_BANDS: usize = faurge_dsp::analysis::mel::MEL_BANDS;
/// Width of Ursula's input: target LTAS, current LTAS, LTAS mask, target and
/// current LUFS, target and current `[crest dB, ZCR]`.
pub const URSULA_INPUTS: usize = 3 * LTAS_BANDS + 6;
/// Width of Ursula's output: 8 bands × (enabled, Hz, dB, Q), then threshold dB,
/// ratio, knee dB, makeup dB, output trim dB.
pub const URSULA_OUTPUTS: usize = 8 * 4 + 5;
/// Width of Genesis' output: 32 correction points (dB), wet dB, RT60 s,
/// pre-delay ms, HF damping.
pub const GENESIS_OUTPUTS: usize = faurge_dsp::ir::IR_CURVE_POINTS + 4;

/// Why models could not be opened, loaded or run.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The folder or a file in it could not be read.
    #[error("Could not read {path}: {source}. Point the helper at the folder with manifest.json (--models or FAURGE_MODELS).")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error("The model manifest {path} is not valid: {message}")]
    Manifest {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A model file does not match the manifest's sha256 (truncated, replaced, corrupt).
    #[error("The model file {path} is corrupt or was replaced: sha256 {actual}, the manifest says {expected}. Reinstall the models (cargo xtask bundle) or retrain (cargo xtask train --ship).")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// sha256 from the manifest.
        expected: String,
        /// sha256 of the file on disk.
        actual: String,
    },
    /// The inference backend could not be initialised.
    #[error("The {backend} inference backend could not start: {message}")]
    Backend {
        /// Which backend.
        backend: String,
        /// What failed.
        message: String,
    },
    /// `ort` rejected the model or a run failed.
    #[error("The {model} model failed: {message}")]
    Inference {
        /// Which model.
        model: &'static str,
        /// The backend's message.
        message: String,
    },
    /// A LAION-CLAP encoder (`--clap-dir`) cannot be used: missing file, bad
    /// tokenizer, or a tower whose signature is not the expected one.
    #[error(transparent)]
    Laion(#[from] LaionError),
    /// A model's output has an unexpected shape or non-finite values.
    #[error(
        "The {model} model returned {message}; the model does not match this version of Faurge"
    )]
    Output {
        /// Which model.
        model: &'static str,
        /// What was wrong.
        message: String,
    },
}

/// The six networks of the loop: the five of the loop's specification in the order
/// it first needs them, then the tone-repair estimator (which a repair's plan runs
/// after Fabian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Token ids `[B, 24]` int64 → `e_text [B, 512]`.
    EncoderText,
    /// Log-mel `[B, T, 64]` → `e_audio [B, 512]`.
    EncoderAudio,
    /// `[e_text, e_audio]` `[B, 1024]` → ΔLTAS, ΔLUFS, ΔDyn, `requires_genesis` logit.
    Fabian,
    /// Metrics `[B, 198]` → settings `[B, 37]`.
    Ursula,
    /// `(c_scene, spectrum dB, spectrum mask)` → IR parameters `[B, 36]`.
    Genesis,
    /// `(LTAS dB, LTAS mask)` `[B, 64]` each → the tone damage `[B, 64]` dB a repair
    /// undoes (`training/faurge_train/tone.py`).
    ToneRepair,
}

impl ModelKind {
    /// Every model.
    pub const ALL: [ModelKind; 6] = [
        ModelKind::EncoderText,
        ModelKind::EncoderAudio,
        ModelKind::Fabian,
        ModelKind::Ursula,
        ModelKind::Genesis,
        ModelKind::ToneRepair,
    ];

    /// The key in the manifest's `models` table (also the file stem).
    pub fn key(self) -> &'static str {
        match self {
            ModelKind::EncoderText => "encoder_text",
            ModelKind::EncoderAudio => "encoder_audio",
            ModelKind::Fabian => "fabian",
            ModelKind::Ursula => "ursula",
            ModelKind::Genesis => "genesis",
            ModelKind::ToneRepair => "tone_repair",
        }
    }
}

/// One tensor in the manifest: name, element type, shape (a dimension is a
/// number or the name of a dynamic axis such as `"batch"`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Graph input/output name.
    pub name: String,
    /// Element type (`float32`, `int64`).
    pub dtype: String,
    /// Dimensions: integers, or strings for dynamic axes.
    pub shape: Vec<serde_json::Value>,
}

/// A file with its checksum.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name, relative to the manifest.
    pub file: String,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
}

/// One model's manifest entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelEntry {
    /// File name, relative to the manifest.
    pub file: String,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// File size, bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Graph inputs.
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
    /// Graph outputs.
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
    /// Trainable parameters.
    #[serde(default)]
    pub parameters: u64,
}

/// `manifest.json`: what the models are and where they came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version ([`MANIFEST_FORMAT`]).
    pub format: u32,
    /// Model entries by [`ModelKind::key`].
    pub models: BTreeMap<String, ModelEntry>,
    /// The text encoder's tokenizer (`tokenizer.json`).
    pub tokenizer: FileEntry,
    /// Dataset provenance (hash, rows, command).
    #[serde(default)]
    pub dataset: serde_json::Value,
    /// Training provenance (commit, command, epochs, time).
    #[serde(default)]
    pub training: serde_json::Value,
    /// Evaluation figures.
    #[serde(default)]
    pub evaluation: serde_json::Value,
    /// Anything else (parity fixtures, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `tokenizer.json`: the text encoder's word list.
#[derive(Clone, Debug, Deserialize)]
struct TokenizerFile {
    words: Vec<String>,
    max_tokens: usize,
}

/// A verified model folder: the manifest, its sha256, and the tokenizer.
#[derive(Clone, Debug)]
pub struct ModelSet {
    dir: PathBuf,
    manifest: Manifest,
    manifest_sha256: String,
    tokenizer: Tokenizer,
    max_tokens: usize,
    clap: Option<ClapDir>,
}

fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    let err = |source| ModelError::Io {
        path: path.to_owned(),
        source,
    };
    // A device or a pipe (a link to /dev/zero, say) would be read forever.
    if !std::fs::metadata(path).map_err(err)?.is_file() {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    std::fs::read(path).map_err(err)
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ModelSet {
    /// Opens `dir`: parses `manifest.json`, checks that every model of
    /// [`ModelKind::ALL`] and the tokenizer are listed, exist and match their
    /// sha256, and loads the tokenizer. Reads every model file once (a few MB).
    ///
    /// # Errors
    /// [`ModelError::Io`] for a missing folder or file, [`ModelError::Manifest`]
    /// for a bad manifest or tokenizer, [`ModelError::Corrupt`] for a checksum mismatch.
    pub fn open(dir: &Path) -> Result<ModelSet, ModelError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let bytes = read(&manifest_path)?;
        let bad = |message: String| ModelError::Manifest {
            path: manifest_path.clone(),
            message,
        };
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(bad(format!(
                "format {} (this build reads {MANIFEST_FORMAT})",
                manifest.format
            )));
        }
        // Every file is named inside the folder: a manifest that points at
        // `/dev/zero` or `../../somewhere` is not a models folder.
        let inside = |file: &str| {
            let mut parts = Path::new(file).components();
            matches!(
                (parts.next(), parts.next()),
                (Some(std::path::Component::Normal(_)), None)
            )
        };
        for kind in ModelKind::ALL {
            let entry = manifest
                .models
                .get(kind.key())
                .ok_or_else(|| bad(format!("no entry for the {} model", kind.key())))?;
            if !inside(&entry.file) {
                return Err(bad(format!(
                    "the {} model's file \"{}\" is not a file name in the models folder",
                    kind.key(),
                    entry.file
                )));
            }
            verify(&dir.join(&entry.file), &entry.sha256)?;
        }
        if !inside(&manifest.tokenizer.file) {
            return Err(bad(format!(
                "the tokenizer's file \"{}\" is not a file name in the models folder",
                manifest.tokenizer.file
            )));
        }
        let tok_path = dir.join(&manifest.tokenizer.file);
        let tok_bytes = verify(&tok_path, &manifest.tokenizer.sha256)?;
        let tok: TokenizerFile =
            serde_json::from_slice(&tok_bytes).map_err(|e| ModelError::Manifest {
                path: tok_path.clone(),
                message: e.to_string(),
            })?;
        if tok.max_tokens == 0 || !tok.words.windows(2).all(|w| w[0] < w[1]) {
            return Err(ModelError::Manifest {
                path: tok_path,
                message: "the word list must be sorted and unique, max_tokens > 0".into(),
            });
        }
        Ok(ModelSet {
            dir: dir.to_owned(),
            manifest_sha256: sha256_hex(&bytes),
            manifest,
            tokenizer: Tokenizer { words: tok.words },
            max_tokens: tok.max_tokens,
            clap: None,
        })
    }

    /// Replaces the built-in text and audio encoders by a LAION-CLAP export
    /// (`--clap-dir`, see [`crate::laion`]): [`ModelSet::model_path`] then points
    /// the encoder kinds at its towers, [`ModelSet::tokenize`] uses its RoBERTa
    /// tokenizer, and [`Runtime::load`] checks the towers' signatures. Fabian, Ursula
    /// and Genesis stay the shipped ones (trained on the built-in space).
    pub fn with_clap(mut self, clap: ClapDir) -> ModelSet {
        self.clap = Some(clap);
        self
    }

    /// The LAION-CLAP export in use, if any.
    pub fn clap(&self) -> Option<&ClapDir> {
        self.clap.as_ref()
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// sha256 of `manifest.json` (identifies the model set in the handshake).
    pub fn manifest_sha256(&self) -> &str {
        &self.manifest_sha256
    }

    /// Token ids of `text` for the text encoder: padded to the trained length
    /// for the built-in encoder; for a LAION-CLAP export, `<s> BPE ids </s>`
    /// unpadded ([`Model::encode_text`] pads to the tower's length and builds
    /// the attention mask).
    pub fn tokenize(&self, text: &str) -> Vec<i64> {
        if let Some(clap) = &self.clap {
            return clap.tokenizer().encode_with_specials(text);
        }
        self.tokenizer
            .encode(text, self.max_tokens)
            .into_iter()
            .map(i64::from)
            .collect()
    }

    /// Path of one model's ONNX file (a LAION-CLAP tower for the encoders when
    /// [`ModelSet::with_clap`] was used).
    pub fn model_path(&self, kind: ModelKind) -> PathBuf {
        match (&self.clap, kind) {
            (Some(c), ModelKind::EncoderText) => return c.text_model(),
            (Some(c), ModelKind::EncoderAudio) => return c.audio_model(),
            _ => {}
        }
        let file = self
            .manifest
            .models
            .get(kind.key())
            .map(|e| e.file.clone())
            .unwrap_or_else(|| format!("{}.onnx", kind.key()));
        self.dir.join(file)
    }

    /// Size of one model's file, bytes.
    pub fn model_bytes(&self, kind: ModelKind) -> u64 {
        std::fs::metadata(self.model_path(kind))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

/// Reads `path` and checks its sha256; returns the bytes.
fn verify(path: &Path, expected: &str) -> Result<Vec<u8>, ModelError> {
    let bytes = read(path)?;
    let actual = sha256_hex(&bytes);
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(ModelError::Corrupt {
            path: path.to_owned(),
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(bytes)
}

/// Which inference engine runs the models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// tract, pure Rust, in-process: the default; nothing to install.
    Tract,
    /// ONNX Runtime loaded at run time from `library` (`libonnxruntime.so.1.x`).
    OnnxRuntime {
        /// Path of the shared library.
        library: PathBuf,
        /// Register the CUDA execution provider (falls back to CPU when CUDA is
        /// not usable).
        cuda: bool,
    },
}

impl Backend {
    /// Short name for reports: `tract`, `onnxruntime`, `onnxruntime (CUDA if available)`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Tract => "tract",
            Backend::OnnxRuntime { cuda: false, .. } => "onnxruntime",
            Backend::OnnxRuntime { cuda: true, .. } => "onnxruntime (CUDA if available)",
        }
    }
}

/// The process-wide inference runtime: an `ort` environment on one backend.
/// Cheap to clone (the environment is shared); a process has one.
#[derive(Clone)]
pub struct Runtime {
    env: ort::environment::Environment,
    backend: Backend,
    threads: usize,
}

static BACKEND: Mutex<Option<Backend>> = Mutex::new(None);

impl Runtime {
    /// Starts `backend` for this process (the first call decides; a later call
    /// with a different backend is an error) with `threads` intra-op threads.
    /// Backends allow one environment per process: start once and clone.
    ///
    /// # Errors
    /// [`ModelError::Backend`] when ONNX Runtime cannot be loaded (missing file, no
    /// `OrtGetApiBase`, a version older than `ort` needs) or `ort` fails to start.
    pub fn start(backend: Backend, threads: usize) -> Result<Runtime, ModelError> {
        let err = |message: String| ModelError::Backend {
            backend: backend.name().to_owned(),
            message,
        };
        {
            // One API table per process: `ort::set_api` takes the first one only.
            let mut chosen = BACKEND.lock().unwrap_or_else(|p| p.into_inner());
            match &*chosen {
                Some(b) if *b == backend => {}
                Some(b) => {
                    return Err(err(format!(
                        "this process already runs the {} backend; one process uses one backend",
                        b.name()
                    )))
                }
                None => {
                    let api = match &backend {
                        Backend::Tract => ort_tract::api(),
                        Backend::OnnxRuntime { library, .. } => {
                            load_onnxruntime(library).map_err(err)?
                        }
                    };
                    ort::set_api(api);
                    *chosen = Some(backend.clone());
                }
            }
        }
        let mut builder = ort::init().with_name("faurge-helper");
        if let Backend::OnnxRuntime { cuda: true, .. } = backend {
            builder = builder.with_execution_providers([ort::ep::CUDA::default().build()]);
        }
        let env = builder.build().map_err(|e| err(e.to_string()))?;
        Ok(Runtime {
            env,
            backend,
            threads: threads.max(1),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Loads one model of `set` into a session.
    ///
    /// # Errors
    /// [`ModelError::Inference`] when the backend rejects the graph.
    pub fn load(&self, set: &ModelSet, kind: ModelKind) -> Result<Model, ModelError> {
        let t0 = Instant::now();
        let fail = |e: ort::Error| ModelError::Inference {
            model: kind.key(),
            message: e.to_string(),
        };
        let path = set.model_path(kind);
        let bytes = read(&path)?;
        let session = Session::builder(&self.env)
            .map_err(fail)?
            .with_intra_threads(self.threads)
            .map_err(|e| fail(e.into()))?
            .commit_from_memory(&bytes)
            .map_err(fail)?;
        let laion = match (set.clap(), kind) {
            (Some(clap), ModelKind::EncoderText | ModelKind::EncoderAudio) => {
                let infos = |outlets: &[ort::value::Outlet]| -> Vec<TensorInfo> {
                    outlets
                        .iter()
                        .map(|o| TensorInfo {
                            name: o.name().to_owned(),
                            dtype: o
                                .dtype()
                                .tensor_type()
                                .map_or_else(|| "not a tensor".to_owned(), |t| t.to_string()),
                            shape: o
                                .dtype()
                                .tensor_shape()
                                .map(|s| s.to_vec())
                                .unwrap_or_default(),
                        })
                        .collect()
                };
                let (inputs, outputs) = (infos(session.inputs()), infos(session.outputs()));
                let sig = if kind == ModelKind::EncoderText {
                    laion::check_text(&path, &inputs, &outputs)?
                } else {
                    laion::check_audio(&path, &inputs, &outputs)?
                };
                Some(LaionTower {
                    signature: sig,
                    file: path.clone(),
                    pad_id: i64::from(clap.tokenizer().pad_id()),
                })
            }
            _ => None,
        };
        Ok(Model {
            kind,
            session,
            load_ms: t0.elapsed().as_secs_f64() * 1e3,
            laion,
        })
    }
}

/// Loads `libonnxruntime` and returns its C API table for `ort::set_api`. The
/// library stays loaded for the life of the process (the table points into it).
fn load_onnxruntime(library: &Path) -> Result<ort::sys::OrtApi, String> {
    // SAFETY: loading a shared library runs its initialisers; ONNX Runtime's are
    // the documented way to use it. The handle is leaked below so every function
    // pointer in the API table stays valid for the process' lifetime.
    let lib = unsafe { libloading::Library::new(library) }
        .map_err(|e| format!("cannot load {}: {e}", library.display()))?;
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase") }.map_err(|_| {
            format!(
                "{} is not ONNX Runtime (no OrtGetApiBase)",
                library.display()
            )
        })?;
    // SAFETY: the function takes no arguments and returns a static table or null.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned null".into());
    }
    // SAFETY: `base` is a valid static table; GetVersionString returns a static C string.
    let version = unsafe { std::ffi::CStr::from_ptr(((*base).GetVersionString)()) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: GetApi returns null for an API version the library does not have.
    let api = unsafe { ((*base).GetApi)(ort::sys::ORT_API_VERSION) };
    if api.is_null() {
        return Err(format!(
            "{} is ONNX Runtime {version}; Faurge needs 1.{} or newer",
            library.display(),
            ort::sys::ORT_API_VERSION
        ));
    }
    // SAFETY: non-null, points to the library's static OrtApi table of this version;
    // the table is plain function pointers, so a bitwise copy is a valid OrtApi.
    Ok(unsafe { std::ptr::read(api) })
}

/// A loaded model: an `ort` session and its load time.
pub struct Model {
    kind: ModelKind,
    session: Session,
    load_ms: f64,
    laion: Option<LaionTower>,
}

/// What a loaded LAION-CLAP tower needs at run time.
struct LaionTower {
    signature: Signature,
    file: PathBuf,
    pad_id: i64,
}

/// Fabian's outputs for one input.
#[derive(Clone, Debug, PartialEq)]
pub struct FabianOutput {
    /// ΔT_LTAS, dB per band.
    pub delta_ltas: [f32; LTAS_BANDS],
    /// ΔT_LUFS, LU.
    pub delta_lufs: f32,
    /// ΔT_Dyn: crest factor dB, zero-crossing rate Hz.
    pub delta_dyn: [f32; 2],
    /// `requires_genesis` logit (> 0: Genesis needed).
    pub genesis_logit: f32,
    /// Restoration logits per damage family of [`RESTORE_FAMILIES`] (> 0: the
    /// prompt wants that damage undone in this input).
    pub restore_logits: [f32; RESTORE_FAMILIES.len()],
}

/// The damage families of Fabian's restoration head, in output order (the
/// dataset's `DAMAGE_FAMILIES`).
pub const RESTORE_FAMILIES: [&str; 6] = ["room", "comb", "tone", "noise", "clicks", "clipping"];

impl Model {
    /// Which model this is.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// Milliseconds the backend took to load and optimise the graph.
    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    fn fail(&self, e: ort::Error) -> ModelError {
        ModelError::Inference {
            model: self.kind.key(),
            message: e.to_string(),
        }
    }

    /// Runs the graph on f32/i64 inputs (in graph order) and returns every output
    /// as `(shape, values)`, checking that all values are finite.
    fn run(&mut self, inputs: &[Input<'_>]) -> Result<Vec<Output>, ModelError> {
        let kind = self.kind;
        let mut values = Vec::with_capacity(inputs.len());
        for input in inputs {
            let v: ort::session::SessionInputValue<'_> = match input {
                Input::F32(shape, data) => TensorRef::from_array_view((shape.clone(), *data))
                    .map_err(|e| self.fail(e))?
                    .into(),
                Input::I64(shape, data) => TensorRef::from_array_view((shape.clone(), *data))
                    .map_err(|e| self.fail(e))?
                    .into(),
            };
            values.push(v);
        }
        let outputs = self
            .session
            .run(&values[..])
            .map_err(|e| ModelError::Inference {
                model: kind.key(),
                message: e.to_string(),
            })?;
        let mut out = Vec::with_capacity(outputs.len());
        for (_, value) in outputs.iter() {
            let (shape, data) =
                value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| ModelError::Inference {
                        model: kind.key(),
                        message: e.to_string(),
                    })?;
            if data.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::Output {
                    model: kind.key(),
                    message: "non-finite values".into(),
                });
            }
            out.push((shape.to_vec(), data.to_vec()));
        }
        Ok(out)
    }

    fn single<const N: usize>(&self, out: &[Output], index: usize) -> Result<[f32; N], ModelError> {
        let (shape, data) = out.get(index).ok_or_else(|| ModelError::Output {
            model: self.kind.key(),
            message: format!("{} outputs, expected more than {index}", out.len()),
        })?;
        <[f32; N]>::try_from(data.as_slice()).map_err(|_| ModelError::Output {
            model: self.kind.key(),
            message: format!("output {index} of shape {shape:?}, expected [1, {N}]"),
        })
    }

    /// Text encoder: token ids (from [`ModelSet::tokenize`]) → `e_text`. A
    /// LAION-CLAP tower gets the ids padded (or cut, keeping `</s>`) to its
    /// length with `<pad>`, and the attention mask; its output is L2-normalized.
    ///
    /// # Errors
    /// [`ModelError`] if this is not the text encoder or the run fails;
    /// [`ModelError::Laion`] when a LAION tower's output is not `[1, 512]`.
    pub fn encode_text(&mut self, tokens: &[i64]) -> Result<[f32; EMBED_DIM], ModelError> {
        self.expect(ModelKind::EncoderText)?;
        let Some(tower) = &self.laion else {
            let out = self.run(&[Input::I64(vec![1, tokens.len() as i64], tokens)])?;
            return self.single(&out, 0);
        };
        let (len, pad, index) = (tower.signature.length, tower.pad_id, tower.signature.output);
        let mut ids: Vec<i64> = tokens.iter().copied().take(len).collect();
        if tokens.len() > len {
            if let (Some(last), Some(&eos)) = (ids.last_mut(), tokens.last()) {
                *last = eos;
            }
        }
        let mut mask = vec![1i64; ids.len()];
        ids.resize(len, pad);
        mask.resize(len, 0);
        let shape = vec![1, len as i64];
        let out = self.run(&[Input::I64(shape.clone(), &ids), Input::I64(shape, &mask)])?;
        self.laion_embedding(&out, index)
    }

    /// A LAION tower's embedding: output `index`, checked to be `[1, 512]`, L2-normalized.
    fn laion_embedding(
        &self,
        out: &[Output],
        index: usize,
    ) -> Result<[f32; EMBED_DIM], ModelError> {
        let tower = self.laion.as_ref().ok_or_else(|| ModelError::Output {
            model: self.kind.key(),
            message: "a LAION-CLAP call on a built-in encoder".into(),
        })?;
        let (shape, _) = out.get(index).ok_or_else(|| ModelError::Output {
            model: self.kind.key(),
            message: format!("{} outputs, expected more than {index}", out.len()),
        })?;
        laion::check_embedding_shape(tower.signature.tower, &tower.file, shape)?;
        let e = self.single::<EMBED_DIM>(out, index)?;
        let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm <= 0.0 {
            return Err(ModelError::Output {
                model: self.kind.key(),
                message: "an all-zero embedding".into(),
            });
        }
        Ok(e.map(|x| x / norm))
    }

    /// Whether this is a LAION-CLAP tower (loaded from a `--clap-dir`).
    pub fn is_laion(&self) -> bool {
        self.laion.is_some()
    }

    /// Audio encoder on whichever input it reads: the built-in encoder takes
    /// `log_mel` (`[frames, 64]`, as [`Model::encode_audio`]); a LAION-CLAP tower
    /// takes `audio_48k` (mono at 48 kHz, repeated or cut to its length, see
    /// [`laion::waveform_input`]) and its output is L2-normalized.
    ///
    /// # Errors
    /// As [`Model::encode_audio`]; [`ModelError::Laion`] when a LAION tower's output
    /// is not `[1, 512]`.
    pub fn encode_audio_input(
        &mut self,
        log_mel: &[f32],
        audio_48k: &[f32],
    ) -> Result<[f32; EMBED_DIM], ModelError> {
        self.expect(ModelKind::EncoderAudio)?;
        let Some(tower) = &self.laion else {
            return self.encode_audio(log_mel);
        };
        let (len, index) = (tower.signature.length, tower.signature.output);
        let wave = laion::waveform_input(audio_48k, len);
        let out = self.run(&[Input::F32(vec![1, len as i64], &wave)])?;
        self.laion_embedding(&out, index)
    }

    /// Audio encoder: log-mel `[frames, 64]` row-major (faurge-dsp's
    /// `analysis::mel::log_mel`) → `e_audio`.
    ///
    /// # Errors
    /// [`ModelError`] if this is not the audio encoder, the mel is empty or ragged,
    /// or the run fails.
    pub fn encode_audio(&mut self, log_mel: &[f32]) -> Result<[f32; EMBED_DIM], ModelError> {
        self.expect(ModelKind::EncoderAudio)?;
        if self.laion.is_some() {
            return Err(ModelError::Output {
                model: self.kind.key(),
                message: "a log-mel for a LAION-CLAP tower (it reads the waveform: use encode_audio_input)".into(),
            });
        }
        if log_mel.is_empty() || !log_mel.len().is_multiple_of(MEL_BANDS) {
            return Err(ModelError::Output {
                model: self.kind.key(),
                message: format!(
                    "a log-mel of {} values (not whole 64-band frames)",
                    log_mel.len()
                ),
            });
        }
        let frames = (log_mel.len() / MEL_BANDS) as i64;
        let out = self.run(&[Input::F32(vec![1, frames, MEL_BANDS as i64], log_mel)])?;
        self.single(&out, 0)
    }

    /// Fabian: `[e_text, e_audio]` → targets' deltas, the Genesis flag and the
    /// restoration logits.
    ///
    /// # Errors
    /// [`ModelError`] if this is not Fabian or the run fails.
    pub fn fabian(
        &mut self,
        e_text: &[f32; EMBED_DIM],
        e_audio: &[f32; EMBED_DIM],
    ) -> Result<FabianOutput, ModelError> {
        self.expect(ModelKind::Fabian)?;
        let mut fused = Vec::with_capacity(2 * EMBED_DIM);
        fused.extend_from_slice(e_text);
        fused.extend_from_slice(e_audio);
        let out = self.run(&[Input::F32(vec![1, 2 * EMBED_DIM as i64], &fused)])?;
        let [delta_lufs] = self.single::<1>(&out, 1)?;
        let [genesis_logit] = self.single::<1>(&out, 3)?;
        Ok(FabianOutput {
            delta_ltas: self.single(&out, 0)?,
            delta_lufs,
            delta_dyn: self.single(&out, 2)?,
            genesis_logit,
            restore_logits: self.single(&out, 4)?,
        })
    }

    /// Ursula: metrics `[198]` (see [`URSULA_INPUTS`]) → settings `[37]`.
    ///
    /// # Errors
    /// [`ModelError`] if this is not Ursula or the run fails.
    pub fn ursula(
        &mut self,
        metrics: &[f32; URSULA_INPUTS],
    ) -> Result<[f32; URSULA_OUTPUTS], ModelError> {
        self.expect(ModelKind::Ursula)?;
        let out = self.run(&[Input::F32(vec![1, URSULA_INPUTS as i64], metrics)])?;
        self.single(&out, 0)
    }

    /// Genesis: `c_scene` (512), spectrum (256 dB), spectrum mask (256, 0/1) → IR
    /// parameters `[36]`.
    ///
    /// # Errors
    /// [`ModelError`] if this is not Genesis or the run fails.
    pub fn genesis(
        &mut self,
        c_scene: &[f32; EMBED_DIM],
        spectrum_db: &[f32; SPECTRUM_BANDS],
        spectrum_mask: &[f32; SPECTRUM_BANDS],
    ) -> Result<[f32; GENESIS_OUTPUTS], ModelError> {
        self.expect(ModelKind::Genesis)?;
        let out = self.run(&[
            Input::F32(vec![1, EMBED_DIM as i64], c_scene),
            Input::F32(vec![1, SPECTRUM_BANDS as i64], spectrum_db),
            Input::F32(vec![1, SPECTRUM_BANDS as i64], spectrum_mask),
        ])?;
        self.single(&out, 0)
    }

    /// The tone-repair estimator: the snapshot's LTAS (dB; masked bands may hold
    /// anything), its mask (0/1) and the voice's pitch
    /// ([`faurge_dsp::analysis::pitch::VoiceF0::features`]: octaves re 150 Hz of
    /// F0's 10th percentile, median and 90th percentile; 0s when unknown) → the
    /// estimated damage, dB per band: level-free (mean 0 over the valid bands), 0 in
    /// masked bands. A repair's blueprint is the LTAS minus it.
    ///
    /// # Errors
    /// [`ModelError`] if this is not the estimator or the run fails.
    pub fn tone_repair(
        &mut self,
        ltas_db: &[f32; LTAS_BANDS],
        ltas_mask: &[f32; LTAS_BANDS],
        voice_f0: &[f32; 3],
    ) -> Result<[f32; LTAS_BANDS], ModelError> {
        self.expect(ModelKind::ToneRepair)?;
        let out = self.run(&[
            Input::F32(vec![1, LTAS_BANDS as i64], ltas_db),
            Input::F32(vec![1, LTAS_BANDS as i64], ltas_mask),
            Input::F32(vec![1, 3], voice_f0),
        ])?;
        self.single(&out, 0)
    }

    /// Graph input names, in order.
    pub fn input_names(&self) -> Vec<String> {
        self.session
            .inputs()
            .iter()
            .map(|o| o.name().to_owned())
            .collect()
    }

    /// Graph output names, in order (the order of [`Model::run_raw`]'s results).
    pub fn output_names(&self) -> Vec<String> {
        self.session
            .outputs()
            .iter()
            .map(|o| o.name().to_owned())
            .collect()
    }

    /// Runs the graph on raw inputs (in [`Model::input_names`] order) and returns
    /// every output as `(shape, values)` in [`Model::output_names`] order: for
    /// parity tests against PyTorch's recorded outputs.
    ///
    /// # Errors
    /// [`ModelError`] if the run fails or an output is not finite.
    pub fn run_raw(&mut self, inputs: &[Input<'_>]) -> Result<Vec<Output>, ModelError> {
        self.run(inputs)
    }

    fn expect(&self, kind: ModelKind) -> Result<(), ModelError> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(ModelError::Output {
                model: self.kind.key(),
                message: format!("a call meant for the {} model", kind.key()),
            })
        }
    }
}

/// One graph output: shape and row-major values.
pub type Output = (Vec<i64>, Vec<f32>);

/// One graph input: shape and row-major values.
#[derive(Clone, Debug)]
pub enum Input<'a> {
    /// A float32 tensor.
    F32(Vec<i64>, &'a [f32]),
    /// An int64 tensor (token ids).
    I64(Vec<i64>, &'a [i64]),
}
