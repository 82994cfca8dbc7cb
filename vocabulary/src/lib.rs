//! Faurge's prompt vocabulary: the grounded descriptors ([`descriptors`],
//! `bundle/vocabulary/descriptors.toml`: what every acoustic word means as a
//! measurable change), the prompt reader ([`intent`]: a prompt as descriptors with
//! signed intensities), the prompt sanitizer ([`sanitizer`]: limits, typos, slang,
//! vague prompts → the anchor prompt), the anchor/vague/slang lists
//! (`bundle/vocabulary/acoustic.toml`) and the text encoder's word tokenizer.
//!
//! Shared by the dataset generator (training captions), the helper's loop (sanitizer,
//! reader, goals) and the evaluation.

pub mod descriptors;
pub mod ground;
pub mod intent;
pub mod sanitizer;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::descriptors::Descriptors;

/// `bundle/vocabulary/acoustic.toml`, embedded at build time so the generator and
/// tests work without the repository checkout beside them.
pub const EMBEDDED: &str = include_str!("../../bundle/vocabulary/acoustic.toml");

/// Token id of padding in [`Tokenizer::encode`].
pub const PAD_ID: u32 = 0;
/// Token id of a word the vocabulary does not know.
pub const UNK_ID: u32 = 1;

/// Why a vocabulary file could not be used.
#[derive(Debug, Error)]
pub enum VocabularyError {
    /// The file could not be read.
    #[error("Could not read the vocabulary file \"{path}\": {source}")]
    Io {
        /// The path that was read.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown or missing keys.
    #[error("The vocabulary is not valid TOML of the expected shape: {0}")]
    Parse(#[from] toml::de::Error),
    /// The content breaks a rule of [`Vocabulary::validate`] or
    /// [`Descriptors::validate`].
    #[error("The vocabulary is inconsistent: {0}")]
    Invalid(String),
}

/// The contents of `acoustic.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcousticFile {
    version: u32,
    anchor_prompt: String,
    vague_prompts: Vec<String>,
    slang: BTreeMap<String, Vec<String>>,
}

/// The whole vocabulary: `acoustic.toml` and the descriptor table.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocabulary {
    /// File format version of `acoustic.toml` (2).
    pub version: u32,
    /// The prompt that replaces vague prompts.
    pub anchor_prompt: String,
    /// Prompts too vague to steer anything (lower case).
    pub vague_prompts: Vec<String>,
    /// Slang phrase (lower case) → descriptor words it stands for.
    pub slang: BTreeMap<String, Vec<String>>,
    /// The grounded descriptors.
    pub descriptors: Descriptors,
}

impl Vocabulary {
    /// Parses `acoustic.toml` text with the given descriptor table, and validates.
    ///
    /// # Errors
    /// [`VocabularyError::Parse`] for bad TOML or unknown keys,
    /// [`VocabularyError::Invalid`] for content that breaks [`Vocabulary::validate`].
    pub fn from_toml(text: &str, descriptors: Descriptors) -> Result<Self, VocabularyError> {
        let f: AcousticFile = toml::from_str(text)?;
        let v = Vocabulary {
            version: f.version,
            anchor_prompt: f.anchor_prompt,
            vague_prompts: f.vague_prompts,
            slang: f.slang,
            descriptors,
        };
        v.validate()?;
        Ok(v)
    }

    /// Reads `acoustic.toml` from `path`; the descriptor table is `descriptors.toml`
    /// beside it when there is one, else the embedded one.
    ///
    /// # Errors
    /// As [`Vocabulary::from_toml`], plus [`VocabularyError::Io`].
    pub fn load(path: &Path) -> Result<Self, VocabularyError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| VocabularyError::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let text = read(path)?;
        let beside = path.with_file_name("descriptors.toml");
        let descriptors = if beside.is_file() {
            Descriptors::from_toml(&read(&beside)?)?
        } else {
            Descriptors::embedded()?
        };
        Self::from_toml(&text, descriptors)
    }

    /// The vocabulary shipped in `bundle/vocabulary/` ([`EMBEDDED`] and
    /// [`descriptors::EMBEDDED`]).
    ///
    /// # Errors
    /// Only if a shipped file is broken (a test guards against that).
    pub fn embedded() -> Result<Self, VocabularyError> {
        Self::from_toml(EMBEDDED, Descriptors::embedded()?)
    }

    /// Checks the rules: version 2; non-empty anchor prompt; slang keys and vague
    /// prompts lower case and non-empty; every slang entry maps to descriptor words or
    /// forms; no slang key is itself a descriptor form (the descriptor would be lost).
    ///
    /// # Errors
    /// [`VocabularyError::Invalid`] naming the first problem.
    pub fn validate(&self) -> Result<(), VocabularyError> {
        let bad = |m: String| Err(VocabularyError::Invalid(m));
        if self.version != 2 {
            return bad(format!(
                "acoustic.toml version is {}, only 2 is supported",
                self.version
            ));
        }
        if self.anchor_prompt.trim().is_empty() {
            return bad("anchor_prompt is empty".into());
        }
        let forms = self.adjectives();
        for (k, v) in &self.slang {
            if k.trim().is_empty() || k.to_lowercase() != *k || v.is_empty() {
                return bad(format!(
                    "slang \"{k}\" must be lower case, non-empty and map to at least one word"
                ));
            }
            if let Some(w) = v.iter().find(|w| !forms.contains(w.as_str())) {
                return bad(format!(
                    "slang \"{k}\" maps to \"{w}\", which is no descriptor word"
                ));
            }
        }
        if let Some(p) = self
            .vague_prompts
            .iter()
            .find(|p| p.trim().is_empty() || p.to_lowercase() != **p)
        {
            return bad(format!(
                "vague prompt \"{p}\" must be lower case and non-empty"
            ));
        }
        Ok(())
    }

    /// Every descriptor word and form a user may type (not the table's internal ones).
    pub fn adjectives(&self) -> BTreeSet<&str> {
        self.descriptors
            .descriptors
            .iter()
            .filter(|d| !d.internal)
            .flat_map(|d| d.all_forms())
            .collect()
    }

    /// Whether `prompt` is one of the vague prompts (compared after lower-casing
    /// and dropping everything but letters, digits and single spaces).
    pub fn is_vague(&self, prompt: &str) -> bool {
        let p = normalize(prompt);
        p.is_empty() || self.vague_prompts.iter().any(|v| normalize(v) == p)
    }

    /// The word tokenizer of the vocabulary alone: the anchor prompt, every word the
    /// descriptor table knows, slang keys and vague prompts. The dataset's tokenizer
    /// adds the words of its training captions to these.
    pub fn tokenizer(&self) -> Tokenizer {
        let known: Vec<String> = self.descriptors.known_words().into_iter().collect();
        let mut texts: Vec<&str> = vec![self.anchor_prompt.as_str()];
        texts.extend(known.iter().map(String::as_str));
        texts.extend(self.slang.keys().map(String::as_str));
        texts.extend(self.vague_prompts.iter().map(String::as_str));
        Tokenizer::from_texts(&texts)
    }
}

/// Lower case, letters/digits/apostrophes/hyphens kept, everything else a word break,
/// words joined by single spaces.
fn normalize(text: &str) -> String {
    words(text).join(" ")
}

/// The words of `text` as [`Tokenizer`] splits them: lower-cased runs of
/// alphanumerics, `'` and `-`.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A word-level tokenizer: id 0 is padding, 1 unknown, then the sorted words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tokenizer {
    /// Words in id order, starting at id 2.
    pub words: Vec<String>,
}

impl Tokenizer {
    /// Builds the tokenizer from texts: every distinct word, sorted (deterministic).
    pub fn from_texts(texts: &[&str]) -> Self {
        let set: BTreeSet<String> = texts.iter().flat_map(|t| words(t)).collect();
        Tokenizer {
            words: set.into_iter().collect(),
        }
    }

    /// Vocabulary size including the padding and unknown ids.
    pub fn len(&self) -> usize {
        self.words.len() + 2
    }

    /// Never true: padding and unknown always exist.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Token ids of `text`, truncated or padded with [`PAD_ID`] to `max_len`;
    /// unknown words give [`UNK_ID`].
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = words(text)
            .iter()
            .map(|w| match self.words.binary_search(w) {
                Ok(i) => i as u32 + 2,
                Err(_) => UNK_ID,
            })
            .take(max_len)
            .collect();
        ids.resize(max_len, PAD_ID);
        ids
    }
}
