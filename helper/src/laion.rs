//! Loading a LAION-CLAP ONNX export in place of Faurge's built-in text/audio
//! encoders (`docs/DESIGN.md`, "Models and training": the spec assumes a frozen LAION-CLAP;
//! Faurge ships its own compact encoder, and a user with an export can point the
//! helper at it with `--clap-dir DIR`).
//!
//! # The folder
//!
//! | file | what |
//! |---|---|
//! | `text_model.onnx` | text tower + projection |
//! | `audio_model.onnx` | audio tower (HTSAT, fusion off) + projection, mel front end inside |
//! | `tokenizer.json` (or `vocab.json` + `merges.txt`) | RoBERTa byte-level BPE |
//!
//! The file names follow the Hugging Face/transformers.js ONNX layout of
//! `laion/clap-htsat-unfused` (`onnx/text_model.onnx`, `onnx/audio_model.onnx`).
//!
//! # Signatures ([`check_text`], [`check_audio`])
//!
//! - Text: inputs `input_ids` int64 `[batch, seq]` and `attention_mask` int64
//!   `[batch, seq]` (`seq` dynamic, or fixed; laion_clap tokenizes to
//!   `max_length = 77`, which is what is fed when it is dynamic) → one float32
//!   output `[batch, 512]` (named `text_embeds` when the graph has several).
//! - Audio: input `waveform` float32 `[batch, samples]`: mono, 48 kHz, −1..1,
//!   `samples` dynamic or fixed (laion_clap's HTSAT reads 10 s = 480 000 samples
//!   with fusion off; that length is fed when it is dynamic) → one float32 output
//!   `[batch, 512]` (named `audio_embeds` when there are several). The mel front end
//!   must be inside the graph (laion_clap's `get_audio_embedding_from_data` exported
//!   with its spectrogram extractor). Shorter snapshots are repeated to length
//!   ("repeatpad", laion_clap's default `data_filling`), longer ones cut.
//!   Hugging Face's `ClapModel` exports take `input_features [batch, 1, 1001, 64]`
//!   (a log-mel the Python feature extractor computes) instead; they are refused
//!   with a [`LaionError::Signature`] that says so.
//! - Both outputs are L2-normalized by the helper (laion_clap normalizes after the
//!   projection), so an export may leave that out.
//!
//! Names, element types and ranks are checked when a tower is loaded; the width of
//! the output is checked there when the graph states it, and on the first forward
//! pass otherwise (the model manager runs one at start-up). A mismatch is a
//! [`LaionError::Signature`] naming the expected and the found signature.
//!
//! # The tokenizer
//!
//! RoBERTa's byte-level BPE (Sennrich et al. 2016; Radford et al. 2019, GPT-2's
//! byte-to-unicode map and pre-tokenization), implemented here in ~150 lines over
//! the vocabulary and merges of the export's `tokenizer.json` (Hugging Face
//! format: `model.vocab`, `model.merges`), or `vocab.json` + `merges.txt`. The
//! `tokenizers` crate would do the same but brings a regex engine, onig and
//! rayon into a helper that otherwise has no use for them. Output:
//! `<s> tokens… </s>` padded with `<pad>` to the sequence length, mask 1 on
//! tokens, 0 on padding (laion_clap: `padding="max_length", truncation=True,
//! max_length=77`).
//!
//! # The models after the encoders
//!
//! Fabian and Genesis read `e_text`/`e_audio` and were trained on the built-in
//! encoder's embedding space. With a LAION encoder the loop runs (S_C, Fabian's
//! input and Genesis' `c_scene` come from LAION), but Fabian, Ursula and Genesis
//! must be retrained on LAION's space for good results.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Sample rate of the audio tower's waveform, Hz.
pub const LAION_SAMPLE_RATE: u32 = 48_000;
/// Samples fed to an audio tower whose length is dynamic: 10 s at 48 kHz.
pub const LAION_SAMPLES: usize = 480_000;
/// Tokens fed to a text tower whose length is dynamic (laion_clap's `max_length`).
pub const LAION_SEQ_LEN: usize = 77;
/// Width of both embeddings.
pub const LAION_EMBED_DIM: i64 = 512;
/// The text tower's file in a `--clap-dir`.
pub const TEXT_MODEL_FILE: &str = "text_model.onnx";
/// The audio tower's file in a `--clap-dir`.
pub const AUDIO_MODEL_FILE: &str = "audio_model.onnx";
/// The tokenizer in Hugging Face's format.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The alternative tokenizer pair: vocabulary …
pub const VOCAB_FILE: &str = "vocab.json";
/// … and merges.
pub const MERGES_FILE: &str = "merges.txt";
/// The text tower's inputs, in order.
pub const TEXT_INPUTS: [&str; 2] = ["input_ids", "attention_mask"];
/// The audio tower's input.
pub const AUDIO_INPUT: &str = "waveform";
/// Name of the text embedding when a graph has several outputs.
pub const TEXT_OUTPUT: &str = "text_embeds";
/// Name of the audio embedding when a graph has several outputs.
pub const AUDIO_OUTPUT: &str = "audio_embeds";

/// Which tower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tower {
    /// The text tower.
    Text,
    /// The audio tower.
    Audio,
}

impl fmt::Display for Tower {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tower::Text => "text",
            Tower::Audio => "audio",
        })
    }
}

/// Why a LAION-CLAP folder cannot be used.
#[derive(Debug, Error)]
pub enum LaionError {
    /// A file of the folder could not be read.
    #[error("Could not read {path}: {source}. A --clap-dir holds text_model.onnx, audio_model.onnx and tokenizer.json (or vocab.json + merges.txt).")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The tokenizer files are not a RoBERTa byte-level BPE.
    #[error("The LAION-CLAP tokenizer {path} cannot be used: {message}")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tower's inputs or outputs differ from the expected signature.
    #[error("The LAION-CLAP {tower} tower {file} has the wrong signature: expected {expected}, found {found}. See \"Using a LAION-CLAP encoder\" in the README.")]
    Signature {
        /// Which tower.
        tower: Tower,
        /// Its file.
        file: PathBuf,
        /// The signature Faurge needs.
        expected: String,
        /// What the graph has.
        found: String,
    },
}

/// One graph input or output as the backend reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name.
    pub name: String,
    /// Element type as `ort` prints it (`f32`, `i64`, …).
    pub dtype: String,
    /// Dimensions; −1 for a dynamic one.
    pub shape: Vec<i64>,
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|&d| if d < 0 { "?".into() } else { d.to_string() })
            .collect();
        write!(f, "{} {} [{}]", self.name, self.dtype, dims.join(", "))
    }
}

fn list(t: &[TensorInfo]) -> String {
    if t.is_empty() {
        return "nothing".into();
    }
    t.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a validated tower needs at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Which tower.
    pub tower: Tower,
    /// Tokens (text) or samples (audio) per input row: the graph's fixed length,
    /// or [`LAION_SEQ_LEN`] / [`LAION_SAMPLES`] when it is dynamic.
    pub length: usize,
    /// Index of the embedding among the graph's outputs.
    pub output: usize,
}

fn expected_text() -> String {
    format!(
        "inputs input_ids i64 [batch, seq], attention_mask i64 [batch, seq] → output f32 [batch, {LAION_EMBED_DIM}] ({TEXT_OUTPUT} if several)"
    )
}

fn expected_audio() -> String {
    format!(
        "input waveform f32 [batch, samples] (mono 48 kHz, 480000 samples = 10 s) → output f32 [batch, {LAION_EMBED_DIM}] ({AUDIO_OUTPUT} if several)"
    )
}

fn expected(tower: Tower) -> String {
    match tower {
        Tower::Text => expected_text(),
        Tower::Audio => expected_audio(),
    }
}

fn mismatch(
    tower: Tower,
    file: &Path,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
    why: &str,
) -> LaionError {
    LaionError::Signature {
        tower,
        file: file.to_owned(),
        expected: expected(tower),
        found: format!(
            "inputs {} → outputs {} ({why})",
            list(inputs),
            list(outputs)
        ),
    }
}

/// Picks the embedding output and checks it is f32 `[batch, 512]` (a dynamic
/// width passes here and is checked by [`check_embedding_shape`] on the first run).
fn check_output(
    tower: Tower,
    file: &Path,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
    name: &str,
) -> Result<usize, LaionError> {
    let bad = |why: &str| mismatch(tower, file, inputs, outputs, why);
    let index = match outputs.iter().position(|o| o.name == name) {
        Some(i) => i,
        None if outputs.len() == 1 => 0,
        None if outputs.is_empty() => return Err(bad("no output")),
        None => return Err(bad(&format!("several outputs and none named {name}"))),
    };
    let o = &outputs[index];
    if o.dtype != "f32" {
        return Err(bad(&format!("output {} is {}, not f32", o.name, o.dtype)));
    }
    if o.shape.len() != 2 {
        return Err(bad(&format!(
            "output {} has {} dimensions, not 2",
            o.name,
            o.shape.len()
        )));
    }
    if o.shape[1] >= 0 && o.shape[1] != LAION_EMBED_DIM {
        return Err(bad(&format!(
            "output {} is {}-d, not {LAION_EMBED_DIM}-d",
            o.name, o.shape[1]
        )));
    }
    Ok(index)
}

/// Checks a text tower's inputs and outputs (see the module docs).
///
/// # Errors
/// [`LaionError::Signature`] naming the expected and the found signature.
pub fn check_text(
    file: &Path,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
) -> Result<Signature, LaionError> {
    let tower = Tower::Text;
    let bad = |why: &str| mismatch(tower, file, inputs, outputs, why);
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    if names != TEXT_INPUTS {
        let missing: Vec<&str> = TEXT_INPUTS
            .iter()
            .copied()
            .filter(|n| !names.contains(n))
            .collect();
        return Err(bad(&if missing.is_empty() {
            "inputs in another order or extra inputs".to_owned()
        } else {
            format!("missing {}", missing.join(", "))
        }));
    }
    for i in inputs {
        if i.dtype != "i64" || i.shape.len() != 2 {
            return Err(bad(&format!("{} is not i64 [batch, seq]", i.name)));
        }
    }
    let (a, b) = (inputs[0].shape[1], inputs[1].shape[1]);
    if a >= 0 && b >= 0 && a != b {
        return Err(bad("input_ids and attention_mask differ in length"));
    }
    let fixed = a.max(b);
    let length = if fixed > 2 {
        fixed as usize
    } else if fixed < 0 {
        LAION_SEQ_LEN
    } else {
        return Err(bad("a sequence shorter than <s> </s>"));
    };
    let output = check_output(tower, file, inputs, outputs, TEXT_OUTPUT)?;
    Ok(Signature {
        tower,
        length,
        output,
    })
}

/// Checks an audio tower's inputs and outputs (see the module docs).
///
/// # Errors
/// [`LaionError::Signature`] naming the expected and the found signature.
pub fn check_audio(
    file: &Path,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
) -> Result<Signature, LaionError> {
    let tower = Tower::Audio;
    let bad = |why: &str| mismatch(tower, file, inputs, outputs, why);
    let input = match inputs {
        [one] if one.name == AUDIO_INPUT => one,
        [one] if one.name == "input_features" => {
            return Err(bad(
                "a log-mel input_features export (Hugging Face ClapModel); export laion_clap's audio branch with its spectrogram extractor so the graph takes the waveform",
            ))
        }
        [one] => return Err(bad(&format!("input {} instead of {AUDIO_INPUT}", one.name))),
        _ => return Err(bad(&format!("{} inputs, expected 1", inputs.len()))),
    };
    if input.dtype != "f32" || input.shape.len() != 2 {
        return Err(bad("waveform is not f32 [batch, samples]"));
    }
    let length = match input.shape[1] {
        d if d < 0 => LAION_SAMPLES,
        0 => return Err(bad("a waveform of 0 samples")),
        d => d as usize,
    };
    let output = check_output(tower, file, inputs, outputs, AUDIO_OUTPUT)?;
    Ok(Signature {
        tower,
        length,
        output,
    })
}

/// Checks the shape of an embedding a tower returned for one input row.
///
/// # Errors
/// [`LaionError::Signature`] when it is not `[1, 512]`.
pub fn check_embedding_shape(tower: Tower, file: &Path, shape: &[i64]) -> Result<(), LaionError> {
    if shape == [1, LAION_EMBED_DIM] {
        return Ok(());
    }
    Err(LaionError::Signature {
        tower,
        file: file.to_owned(),
        expected: expected(tower),
        found: format!("an output of shape {shape:?} for one input row"),
    })
}

/// The waveform row for the audio tower: `audio` (mono, [`LAION_SAMPLE_RATE`])
/// repeated until it fills `samples` and cut there (laion_clap's "repeatpad";
/// zeros for empty audio).
pub fn waveform_input(audio: &[f32], samples: usize) -> Vec<f32> {
    if audio.is_empty() {
        return vec![0.0; samples];
    }
    audio.iter().copied().cycle().take(samples).collect()
}

/// GPT-2's byte-to-unicode table (`bytes_to_unicode` in OpenAI's `encoder.py`):
/// printable Latin-1 bytes map to themselves, the others to U+0100 onwards, so
/// every byte string is a string of visible characters.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let visible = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut n = 0u32;
    for b in 0..256u32 {
        let c = if visible(b) {
            b
        } else {
            n += 1;
            255 + n
        };
        table[b as usize] = char::from_u32(c).unwrap_or('?');
    }
    table
}

/// GPT-2's pre-tokenization, the regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// written out by hand (no regex engine in the helper).
pub fn pre_tokenize(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
    let class = |c: char| {
        if c.is_alphabetic() {
            1
        } else if c.is_numeric() {
            2
        } else if c.is_whitespace() {
            0
        } else {
            3
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if c == '\'' {
            let rest = &text[chars[i].0 + 1..];
            if let Some(s) = ["s", "t", "re", "ve", "m", "ll", "d"]
                .iter()
                .find(|s| rest.starts_with(**s))
            {
                let j = i + 1 + s.len();
                out.push(&text[chars[i].0..end_of(j)]);
                i = j;
                continue;
            }
        }
        let mut j = i;
        if c == ' ' && chars.get(i + 1).is_some_and(|n| !n.1.is_whitespace()) {
            j += 1;
        }
        let k = class(chars[j].1);
        if k != 0 {
            while j < chars.len() && class(chars[j].1) == k {
                j += 1;
            }
        } else {
            while j < chars.len() && chars[j].1.is_whitespace() {
                j += 1;
            }
            if j < chars.len() && j - i > 1 {
                j -= 1;
            }
        }
        out.push(&text[chars[i].0..end_of(j)]);
        i = j;
    }
    out
}

/// RoBERTa's byte-level BPE tokenizer (see the module docs).
#[derive(Clone, Debug)]
pub struct RobertaTokenizer {
    vocab: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    byte_map: [char; 256],
    bos: u32,
    eos: u32,
    pad: u32,
    unk: Option<u32>,
}

impl RobertaTokenizer {
    /// Builds the tokenizer from a vocabulary (token → id) and merges in priority
    /// order. `path` names the source in errors.
    ///
    /// # Errors
    /// [`LaionError::Tokenizer`] when `<s>`, `</s>` or `<pad>` is not in the vocabulary.
    pub fn new(
        vocab: HashMap<String, u32>,
        merges: Vec<(String, String)>,
        path: &Path,
    ) -> Result<RobertaTokenizer, LaionError> {
        let special = |t: &str| {
            vocab.get(t).copied().ok_or_else(|| LaionError::Tokenizer {
                path: path.to_owned(),
                message: format!("the vocabulary has no {t}; it is not RoBERTa's"),
            })
        };
        let (bos, eos, pad) = (special("<s>")?, special("</s>")?, special("<pad>")?);
        let unk = vocab.get("<unk>").copied();
        let ranks = merges
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, i))
            .collect();
        Ok(RobertaTokenizer {
            vocab,
            ranks,
            byte_map: bytes_to_unicode(),
            bos,
            eos,
            pad,
            unk,
        })
    }

    /// Reads a Hugging Face `tokenizer.json` (`model.type` BPE; merges as
    /// `"a b"` strings or `["a", "b"]` pairs).
    ///
    /// # Errors
    /// [`LaionError::Tokenizer`] for anything else.
    pub fn from_tokenizer_json(bytes: &[u8], path: &Path) -> Result<RobertaTokenizer, LaionError> {
        let bad = |message: String| LaionError::Tokenizer {
            path: path.to_owned(),
            message,
        };
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let model = &v["model"];
        if model["type"] != "BPE" {
            return Err(bad(format!("model.type is {}, not \"BPE\"", model["type"])));
        }
        let vocab: HashMap<String, u32> = serde_json::from_value(model["vocab"].clone())
            .map_err(|e| bad(format!("model.vocab: {e}")))?;
        let merges = model["merges"]
            .as_array()
            .ok_or_else(|| bad("no model.merges list".into()))?
            .iter()
            .map(|m| match m {
                serde_json::Value::String(s) => split_merge(s),
                serde_json::Value::Array(a) => match a.as_slice() {
                    [serde_json::Value::String(x), serde_json::Value::String(y)] => {
                        Some((x.clone(), y.clone()))
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("a merge is neither \"a b\" nor [\"a\", \"b\"]".into()))?;
        RobertaTokenizer::new(vocab, merges, path)
    }

    /// Reads GPT-2/RoBERTa's `vocab.json` and `merges.txt` (first line a
    /// `#version` comment or a merge).
    ///
    /// # Errors
    /// [`LaionError::Tokenizer`] when either does not parse.
    pub fn from_vocab_merges(
        vocab_json: &[u8],
        merges_txt: &str,
        path: &Path,
    ) -> Result<RobertaTokenizer, LaionError> {
        let bad = |message: String| LaionError::Tokenizer {
            path: path.to_owned(),
            message,
        };
        let vocab: HashMap<String, u32> =
            serde_json::from_slice(vocab_json).map_err(|e| bad(format!("vocab.json: {e}")))?;
        let merges = merges_txt
            .lines()
            .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
            .map(split_merge)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("merges.txt: a line is not \"a b\"".into()))?;
        RobertaTokenizer::new(vocab, merges, path)
    }

    /// Id of `<pad>`.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// BPE ids of `text` without `<s>`/`</s>`. Symbols missing from the
    /// vocabulary become `<unk>` (dropped when the vocabulary has none).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        for word in pre_tokenize(text) {
            let mut parts: Vec<String> = word
                .bytes()
                .map(|b| self.byte_map[b as usize].to_string())
                .collect();
            // Merge the best-ranked adjacent pair, all its occurrences, until none is known.
            loop {
                let best = parts
                    .windows(2)
                    .filter_map(|w| self.ranks.get(&(w[0].clone(), w[1].clone())))
                    .min()
                    .copied();
                let Some(rank) = best else { break };
                let mut merged = Vec::with_capacity(parts.len());
                let mut i = 0;
                while i < parts.len() {
                    if i + 1 < parts.len()
                        && self.ranks.get(&(parts[i].clone(), parts[i + 1].clone())) == Some(&rank)
                    {
                        merged.push(format!("{}{}", parts[i], parts[i + 1]));
                        i += 2;
                    } else {
                        merged.push(parts[i].clone());
                        i += 1;
                    }
                }
                parts = merged;
            }
            ids.extend(
                parts
                    .iter()
                    .filter_map(|p| self.vocab.get(p).copied().or(self.unk)),
            );
        }
        ids
    }

    /// `<s> ids… </s>`, unpadded.
    pub fn encode_with_specials(&self, text: &str) -> Vec<i64> {
        let mut ids = vec![i64::from(self.bos)];
        ids.extend(self.encode(text).into_iter().map(i64::from));
        ids.push(i64::from(self.eos));
        ids
    }

    /// `<s> ids… </s>` cut to `seq_len` (keeping `</s>`) and padded with `<pad>`,
    /// with the attention mask (1 on tokens, 0 on padding): both `[seq_len]`.
    /// `seq_len` must be at least 2.
    pub fn encode_padded(&self, text: &str, seq_len: usize) -> (Vec<i64>, Vec<i64>) {
        let body = self.encode(text);
        let keep = body.len().min(seq_len.saturating_sub(2));
        let mut ids = Vec::with_capacity(seq_len);
        ids.push(i64::from(self.bos));
        ids.extend(body[..keep].iter().map(|&i| i64::from(i)));
        ids.push(i64::from(self.eos));
        let mut mask = vec![1i64; ids.len()];
        ids.resize(seq_len.max(2), i64::from(self.pad));
        mask.resize(ids.len(), 0);
        (ids, mask)
    }
}

fn split_merge(s: &str) -> Option<(String, String)> {
    let (a, b) = s.split_once(' ')?;
    Some((a.to_owned(), b.to_owned()))
}

/// A LAION-CLAP folder: the two towers' paths and the tokenizer.
#[derive(Clone, Debug)]
pub struct ClapDir {
    dir: PathBuf,
    tokenizer: RobertaTokenizer,
}

fn read(path: &Path) -> Result<Vec<u8>, LaionError> {
    std::fs::read(path).map_err(|source| LaionError::Io {
        path: path.to_owned(),
        source,
    })
}

impl ClapDir {
    /// Opens `dir`: checks that both towers exist and loads the tokenizer
    /// (`tokenizer.json`, else `vocab.json` + `merges.txt`). The towers'
    /// signatures are checked when they are loaded ([`check_text`], [`check_audio`]).
    ///
    /// # Errors
    /// [`LaionError::Io`] for a missing file, [`LaionError::Tokenizer`] for a bad tokenizer.
    pub fn open(dir: &Path) -> Result<ClapDir, LaionError> {
        for f in [TEXT_MODEL_FILE, AUDIO_MODEL_FILE] {
            let p = dir.join(f);
            std::fs::metadata(&p).map_err(|source| LaionError::Io { path: p, source })?;
        }
        let json = dir.join(TOKENIZER_FILE);
        let tokenizer = if json.is_file() {
            RobertaTokenizer::from_tokenizer_json(&read(&json)?, &json)?
        } else {
            let (v, m) = (dir.join(VOCAB_FILE), dir.join(MERGES_FILE));
            if !v.is_file() {
                // Name the file users are most likely to have.
                return Err(LaionError::Io {
                    path: json,
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no tokenizer.json, nor vocab.json + merges.txt",
                    ),
                });
            }
            let merges = String::from_utf8_lossy(&read(&m)?).into_owned();
            RobertaTokenizer::from_vocab_merges(&read(&v)?, &merges, &v)?
        };
        Ok(ClapDir {
            dir: dir.to_owned(),
            tokenizer,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the text tower.
    pub fn text_model(&self) -> PathBuf {
        self.dir.join(TEXT_MODEL_FILE)
    }

    /// Path of the audio tower.
    pub fn audio_model(&self) -> PathBuf {
        self.dir.join(AUDIO_MODEL_FILE)
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &RobertaTokenizer {
        &self.tokenizer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, dtype: &str, shape: &[i64]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            dtype: dtype.into(),
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn gpt2_pre_tokenization_splits_like_the_regex() {
        assert_eq!(
            pre_tokenize("warm radio voice"),
            ["warm", " radio", " voice"]
        );
        assert_eq!(
            pre_tokenize("it's 10dB  less!!  "),
            ["it", "'s", " 10", "dB", " ", " less", "!!", "  "]
        );
        assert_eq!(pre_tokenize("a\nb"), ["a", "\n", "b"]);
    }

    #[test]
    fn the_byte_map_is_a_bijection_onto_visible_characters() {
        let t = bytes_to_unicode();
        let set: std::collections::HashSet<char> = t.iter().copied().collect();
        assert_eq!(set.len(), 256);
        assert_eq!(t[b' ' as usize], 'Ġ');
        assert_eq!(t[b'a' as usize], 'a');
        assert!(t.iter().all(|c| !c.is_whitespace() && !c.is_control()));
    }

    #[test]
    fn bpe_applies_merges_by_rank_and_pads_with_a_mask() {
        let mut vocab = HashMap::new();
        for (i, t) in [
            "<s>", "<pad>", "</s>", "<unk>", "w", "a", "r", "m", "wa", "rm", "warm", "Ġ", "Ġwarm",
        ]
        .iter()
        .enumerate()
        {
            vocab.insert((*t).to_owned(), i as u32);
        }
        let merges = [("w", "a"), ("r", "m"), ("wa", "rm"), ("Ġ", "warm")]
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        let tok = RobertaTokenizer::new(vocab, merges, Path::new("t")).expect("valid");
        assert_eq!(tok.encode("warm warm"), [10, 12]);
        // "x" is not in the vocabulary: <unk>.
        assert_eq!(tok.encode("x"), [3]);
        let (ids, mask) = tok.encode_padded("warm", 5);
        assert_eq!(ids, [0, 10, 2, 1, 1]);
        assert_eq!(mask, [1, 1, 1, 0, 0]);
        let (ids, mask) = tok.encode_padded("warm warm warm", 3);
        assert_eq!(ids, [0, 10, 2]);
        assert_eq!(mask, [1, 1, 1]);
    }

    #[test]
    fn signatures_are_checked_by_name_type_rank_and_width() {
        let f = Path::new("t.onnx");
        let ids = info("input_ids", "i64", &[-1, -1]);
        let mask = info("attention_mask", "i64", &[-1, -1]);
        let out = info("text_embeds", "f32", &[-1, 512]);
        let sig =
            check_text(f, &[ids.clone(), mask.clone()], std::slice::from_ref(&out)).expect("valid");
        assert_eq!(sig.length, LAION_SEQ_LEN);
        let e = check_text(f, std::slice::from_ref(&ids), std::slice::from_ref(&out))
            .expect_err("no mask");
        assert!(e.to_string().contains("missing attention_mask"), "{e}");
        let narrow = info("text_embeds", "f32", &[-1, 256]);
        let e = check_text(f, &[ids, mask], &[narrow]).expect_err("256-d");
        assert!(e.to_string().contains("256-d"), "{e}");

        let wav = info("waveform", "f32", &[-1, 480_000]);
        let a = check_audio(f, &[wav], &[info("audio_embeds", "f32", &[-1, 512])]).expect("ok");
        assert_eq!(a.length, 480_000);
        let mel = info("input_features", "f32", &[-1, 1, 1001, 64]);
        let e = check_audio(f, &[mel], &[info("audio_embeds", "f32", &[-1, 512])]).unwrap_err();
        assert!(matches!(
            e,
            LaionError::Signature {
                tower: Tower::Audio,
                ..
            }
        ));
        assert!(e.to_string().contains("input_features"), "{e}");
    }

    #[test]
    fn short_audio_is_repeated_and_long_audio_cut() {
        assert_eq!(waveform_input(&[1.0, 2.0], 5), [1.0, 2.0, 1.0, 2.0, 1.0]);
        assert_eq!(waveform_input(&[1.0, 2.0, 3.0], 2), [1.0, 2.0]);
        assert_eq!(waveform_input(&[], 2), [0.0, 0.0]);
    }
}
