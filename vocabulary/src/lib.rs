//! The acoustic vocabulary (`bundle/vocabulary/acoustic.toml`): styles and their
//! captions, defect captions, acoustic adjectives, slang → adjective map, vague
//! prompts and the anchor prompt; plus the word tokenizer of the text encoder.
//!
//! Shared by the dataset generator (captions, token ids; `faurge_dataset::vocabulary`
//! re-exports this crate) and the helper's prompt sanitizer ([`sanitizer`]: slang,
//! typos, vague prompts → anchor prompt; see `docs/SPEC.md`, "The loop", phase 1).

pub mod sanitizer;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The vocabulary shipped in the repository, embedded at build time so the
/// generator and tests work without the repository checkout beside them.
pub const EMBEDDED: &str = include_str!("../../bundle/vocabulary/acoustic.toml");

/// Style ids the dataset generator captions and balances: every one must be present.
pub const REQUIRED_STYLES: [&str; 10] = [
    "neutral",
    "warm",
    "bright",
    "broadcast",
    "podcast",
    "telephone",
    "intimate",
    "thin",
    "less_boomy",
    "roomy",
];

/// Fewest captions a style or defect must have (captions are drawn at random per row).
pub const MIN_CAPTIONS: usize = 3;

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
    /// The content breaks a rule of [`Vocabulary::validate`].
    #[error("The vocabulary is inconsistent: {0}")]
    Invalid(String),
}

/// One target style: a rendering recipe in `faurge_dataset::style` has the same id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Style {
    /// Stable id, snake_case (`warm`, `less_boomy`, …), stored as the row's style label.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Acoustic adjectives describing the style (each listed in [`Vocabulary::adjectives`]).
    pub adjectives: Vec<String>,
    /// Natural-language captions asking for this style (at least [`MIN_CAPTIONS`]).
    pub captions: Vec<String>,
}

/// Captions of one degradation kind (`id` = `DegradationKind::label`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defect {
    /// Degradation label: `comb`, `muddy`, `sibilance`, `noise`, `pops`, `clipping`.
    pub id: String,
    /// Adjectives describing the defect.
    pub adjectives: Vec<String>,
    /// Captions describing audio with this defect.
    pub captions: Vec<String>,
}

/// The whole vocabulary file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vocabulary {
    /// File format version (1).
    pub version: u32,
    /// The prompt that replaces vague prompts.
    pub anchor_prompt: String,
    /// Prompts too vague to steer anything (lower case).
    pub vague_prompts: Vec<String>,
    /// Every concrete acoustic adjective.
    pub adjectives: Vec<String>,
    /// Slang phrase (lower case) → adjectives it stands for.
    pub slang: BTreeMap<String, Vec<String>>,
    /// Target styles, in label order.
    #[serde(rename = "style")]
    pub styles: Vec<Style>,
    /// Defect captions, one entry per degradation kind.
    #[serde(rename = "defect", default)]
    pub defects: Vec<Defect>,
}

impl Vocabulary {
    /// Parses and validates TOML text.
    ///
    /// # Errors
    /// [`VocabularyError::Parse`] for bad TOML or unknown keys,
    /// [`VocabularyError::Invalid`] for content that breaks [`Vocabulary::validate`].
    pub fn from_toml(text: &str) -> Result<Self, VocabularyError> {
        let v: Vocabulary = toml::from_str(text)?;
        v.validate()?;
        Ok(v)
    }

    /// Reads, parses and validates a vocabulary file.
    ///
    /// # Errors
    /// As [`Vocabulary::from_toml`], plus [`VocabularyError::Io`].
    pub fn load(path: &Path) -> Result<Self, VocabularyError> {
        let text = std::fs::read_to_string(path).map_err(|source| VocabularyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// The vocabulary shipped in `bundle/vocabulary/acoustic.toml` ([`EMBEDDED`]).
    ///
    /// # Errors
    /// Only if the shipped file is broken (a test guards against that).
    pub fn embedded() -> Result<Self, VocabularyError> {
        Self::from_toml(EMBEDDED)
    }

    /// Checks the rules: version 1; non-empty anchor prompt; unique style and
    /// defect ids; every [`REQUIRED_STYLES`] id present; at least [`MIN_CAPTIONS`]
    /// non-empty captions per style and defect; unique adjectives; every
    /// adjective named by a style, defect or slang entry is in `adjectives`;
    /// slang keys and vague prompts lower case and non-empty.
    ///
    /// # Errors
    /// [`VocabularyError::Invalid`] naming the first problem.
    pub fn validate(&self) -> Result<(), VocabularyError> {
        let bad = |m: String| Err(VocabularyError::Invalid(m));
        if self.version != 1 {
            return bad(format!("version is {}, only 1 is supported", self.version));
        }
        if self.anchor_prompt.trim().is_empty() {
            return bad("anchor_prompt is empty".into());
        }
        let mut adjectives = BTreeSet::new();
        for a in &self.adjectives {
            if a.trim().is_empty() || !adjectives.insert(a.as_str()) {
                return bad(format!("adjective \"{a}\" is empty or listed twice"));
            }
        }
        let known = |who: &str, list: &[String]| -> Result<(), VocabularyError> {
            match list.iter().find(|a| !adjectives.contains(a.as_str())) {
                Some(a) => Err(VocabularyError::Invalid(format!(
                    "{who} names the adjective \"{a}\", which is not in `adjectives`"
                ))),
                None => Ok(()),
            }
        };
        let captions_ok = |who: &str, c: &[String]| -> Result<(), VocabularyError> {
            if c.len() < MIN_CAPTIONS || c.iter().any(|s| s.trim().is_empty()) {
                Err(VocabularyError::Invalid(format!(
                    "{who} needs at least {MIN_CAPTIONS} non-empty captions, has {}",
                    c.len()
                )))
            } else {
                Ok(())
            }
        };
        let mut ids = BTreeSet::new();
        for s in &self.styles {
            if !ids.insert(s.id.as_str()) {
                return bad(format!("style \"{}\" is defined twice", s.id));
            }
            known(&format!("style \"{}\"", s.id), &s.adjectives)?;
            captions_ok(&format!("style \"{}\"", s.id), &s.captions)?;
        }
        if let Some(m) = REQUIRED_STYLES.iter().find(|r| !ids.contains(*r)) {
            return bad(format!("the required style \"{m}\" is missing"));
        }
        let mut defect_ids = BTreeSet::new();
        for d in &self.defects {
            if !defect_ids.insert(d.id.as_str()) {
                return bad(format!("defect \"{}\" is defined twice", d.id));
            }
            known(&format!("defect \"{}\"", d.id), &d.adjectives)?;
            captions_ok(&format!("defect \"{}\"", d.id), &d.captions)?;
        }
        for (k, v) in &self.slang {
            if k.trim().is_empty() || k.to_lowercase() != *k || v.is_empty() {
                return bad(format!(
                    "slang \"{k}\" must be lower case, non-empty and map to at least one adjective"
                ));
            }
            known(&format!("slang \"{k}\""), v)?;
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

    /// The style with `id`, if any.
    pub fn style(&self, id: &str) -> Option<&Style> {
        self.styles.iter().find(|s| s.id == id)
    }

    /// The defect entry with `id` (a degradation label), if any.
    pub fn defect(&self, id: &str) -> Option<&Defect> {
        self.defects.iter().find(|d| d.id == id)
    }

    /// Whether `prompt` is one of the vague prompts (compared after lower-casing
    /// and dropping everything but letters, digits and single spaces).
    pub fn is_vague(&self, prompt: &str) -> bool {
        let p = normalize(prompt);
        p.is_empty() || self.vague_prompts.iter().any(|v| normalize(v) == p)
    }

    /// The word tokenizer built from every caption, adjective, slang key and the anchor prompt.
    pub fn tokenizer(&self) -> Tokenizer {
        let mut texts: Vec<&str> = vec![self.anchor_prompt.as_str()];
        texts.extend(self.adjectives.iter().map(String::as_str));
        texts.extend(self.slang.keys().map(String::as_str));
        texts.extend(self.vague_prompts.iter().map(String::as_str));
        for s in &self.styles {
            texts.extend(s.captions.iter().map(String::as_str));
        }
        for d in &self.defects {
            texts.extend(d.captions.iter().map(String::as_str));
        }
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
