//! The prompt sanitizer: phase 1 of the loop (`docs/SPEC.md`, "CPU pre-flight and the
//! intent fallback"). It turns what a user typed into what the text encoder receives,
//! and reports every change so the GUI and CLI can show what was understood.
//!
//! Pure text logic over the [`Vocabulary`] (plus [`SanitizerExtras`], the data in
//! `bundle/vocabulary/sanitizer.toml`), no model. The steps, in order:
//!
//! 1. **Limits** ([`MAX_CHARS`], [`MAX_WORDS`], [`MAX_SCAN_CHARS`]): control characters
//!    and anything but letters, digits and common punctuation are dropped
//!    ([`EditKind::Removed`]); whitespace is collapsed; the prompt is cut at a word
//!    boundary ([`EditKind::Truncated`]). One pass over at most [`MAX_SCAN_CHARS`]
//!    characters, so a 100 kB prompt costs no more than a short one.
//! 2. **Words**, each whole word on its own (lower-cased for every comparison):
//!    words of a non-Latin script are dropped ([`EditKind::Removed`]); numbers and units
//!    pass unchanged; slang phrases become acoustic adjectives, longest phrase first
//!    ([`EditKind::Slang`]); filler ("pls") is dropped; unknown words are corrected to
//!    the closest known word ([`EditKind::Typo`]).
//! 3. **Intent fallback**: a prompt with no acoustic word left (empty, emoji only,
//!    a vague prompt such as "fix my mic", only vague and function words, only foreign
//!    words) is replaced by the vocabulary's anchor prompt ([`EditKind::Vague`]).
//!
//! **Only English is understood.** The text encoder was trained on English captions.
//!
//! The result is a fixed point: sanitizing [`Sanitized::understood`] again makes no edit.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{Vocabulary, VocabularyError};

/// The sanitizer's extra data shipped in the repository (`bundle/vocabulary/sanitizer.toml`),
/// embedded at build time.
pub const EMBEDDED_EXTRAS: &str = include_str!("../../bundle/vocabulary/sanitizer.toml");

/// Most characters of [`Sanitized::understood`] (unless it is the anchor prompt).
/// About two sentences: prompts are short, and the encoder reads at most a few dozen
/// tokens.
pub const MAX_CHARS: usize = 200;
/// Most words of [`Sanitized::understood`] (unless it is the anchor prompt); the
/// encoder's captions have at most about 20 words.
pub const MAX_WORDS: usize = 24;
/// Most characters of the raw prompt looked at. Bounds the work on a prompt of
/// garbage (emoji, control characters) that never fills [`MAX_CHARS`].
pub const MAX_SCAN_CHARS: usize = 4 * MAX_CHARS;
/// Longest `from` text of an [`Edit`] in characters; longer ones end in `…`, so a
/// 100 kB prompt does not come back in full inside its `truncated` edit.
pub const MAX_EDIT_CHARS: usize = 40;

/// Punctuation kept in the prompt; the text encoder's tokenizer treats it as a word
/// break. Apostrophes and hyphens belong to words (`it's`, `lo-fi`, `-16`).
const PUNCTUATION: &[char] = &[
    '.', ',', ';', ':', '!', '?', '"', '(', ')', '/', '+', '%', '&',
];

/// What kind of change the sanitizer made. The names are the protocol's
/// (`faurge-protocol` carries them to the GUI), serialized in `snake_case`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    /// The prompt said nothing concrete; it was replaced by the anchor prompt.
    Vague,
    /// A misspelled word was corrected (or a hyphenated word split).
    Typo,
    /// Slang was replaced by acoustic adjectives.
    Slang,
    /// The prompt was cut at the length limit.
    Truncated,
    /// Characters or words were dropped (control characters, emoji, invalid UTF-8,
    /// words of a non-Latin script, filler).
    Removed,
}

/// One change: `from` (as typed, at most [`MAX_EDIT_CHARS`] characters plus `…`)
/// became `to` (empty for [`EditKind::Removed`] and [`EditKind::Truncated`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    /// What kind of change.
    pub kind: EditKind,
    /// The text that was replaced or dropped.
    pub from: String,
    /// What replaced it.
    pub to: String,
}

/// The sanitizer's answer for one prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sanitized {
    /// The prompt as received (after lossy UTF-8 decoding for [`Sanitizer::sanitize_bytes`]).
    pub original: String,
    /// What the text encoder receives.
    pub understood: String,
    /// Whether `understood` is the anchor prompt (intent fallback).
    pub anchor: bool,
    /// Every change, in the order of the text; a [`EditKind::Vague`] edit comes last.
    pub edits: Vec<Edit>,
}

impl Sanitized {
    /// The kinds of [`Sanitized::edits`], in order.
    pub fn kinds(&self) -> Vec<EditKind> {
        self.edits.iter().map(|e| e.kind).collect()
    }
}

/// The contents of `bundle/vocabulary/sanitizer.toml`: word lists the sanitizer needs
/// beyond the [`Vocabulary`], kept out of `acoustic.toml` because that file defines the
/// text encoder's tokenizer (a change there means retraining).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanitizerExtras {
    /// File format version (1).
    pub version: u32,
    /// English words without acoustic meaning: known (never "corrected"), never acoustic.
    #[serde(default)]
    pub function_words: Vec<String>,
    /// Unit words (`db`, `lufs`, `hz`, …): passed through, count as acoustic.
    #[serde(default)]
    pub units: Vec<String>,
    /// Filler words dropped from the prompt (`pls`, `af`, …).
    #[serde(default)]
    pub fillers: Vec<String>,
    /// Misspelling → correct word, for cases edit distance gets wrong.
    #[serde(default)]
    pub corrections: std::collections::BTreeMap<String, String>,
    /// More slang: phrase → adjectives of the vocabulary.
    #[serde(default)]
    pub slang: std::collections::BTreeMap<String, Vec<String>>,
}

impl SanitizerExtras {
    /// Parses and checks TOML text: version 1; every word and phrase non-empty and lower
    /// case; function words, units, fillers and corrections single words; no word in
    /// two of the lists function words, units, fillers.
    ///
    /// # Errors
    /// [`VocabularyError::Parse`] for bad TOML or unknown keys,
    /// [`VocabularyError::Invalid`] naming the first broken rule.
    pub fn from_toml(text: &str) -> Result<Self, VocabularyError> {
        let e: SanitizerExtras = toml::from_str(text)?;
        let bad = |m: String| Err(VocabularyError::Invalid(format!("sanitizer.toml: {m}")));
        if e.version != 1 {
            return bad(format!("version is {}, only 1 is supported", e.version));
        }
        let single =
            |w: &str| !w.is_empty() && w.to_lowercase() == w && !w.contains(char::is_whitespace);
        let mut seen = HashSet::new();
        for (list, name) in [
            (&e.function_words, "function_words"),
            (&e.units, "units"),
            (&e.fillers, "fillers"),
        ] {
            for w in list {
                if !single(w) {
                    return bad(format!("{name}: \"{w}\" must be one lower-case word"));
                }
                if !seen.insert(w.as_str()) {
                    return bad(format!("\"{w}\" is listed twice (in {name})"));
                }
            }
        }
        for (k, v) in &e.corrections {
            if !single(k) || !single(v) {
                return bad(format!(
                    "correction \"{k}\" = \"{v}\" must map one lower-case word to another"
                ));
            }
        }
        for (k, v) in &e.slang {
            if k.trim().is_empty() || k.to_lowercase() != *k || v.is_empty() {
                return bad(format!(
                    "slang \"{k}\" must be lower case, non-empty and map to at least one adjective"
                ));
            }
        }
        Ok(e)
    }

    /// The extras shipped in `bundle/vocabulary/sanitizer.toml` ([`EMBEDDED_EXTRAS`]).
    ///
    /// # Errors
    /// Only if the shipped file is broken (a test guards against that).
    pub fn embedded() -> Result<Self, VocabularyError> {
        Self::from_toml(EMBEDDED_EXTRAS)
    }
}

/// A word or phrase the fuzzy matcher may correct to, with its length in characters.
#[derive(Clone, Debug)]
struct Candidate {
    word: String,
    chars: usize,
}

/// The prompt sanitizer: built once from a [`Vocabulary`], then [`Sanitizer::sanitize`]
/// per prompt (no state between calls; `Send + Sync`, share it behind an `Arc`).
#[derive(Clone, Debug)]
pub struct Sanitizer {
    /// Single words of the descriptor table's forms: always acoustic, even when a
    /// vague prompt also uses them ("clean" vs "clean it up").
    adjectives: HashSet<String>,
    anchor_prompt: String,
    /// Words of the text encoder's tokenizer ([`Vocabulary::tokenizer`]).
    encoder_words: HashSet<String>,
    function_words: HashSet<String>,
    /// Every word of every vague prompt.
    vague_words: HashSet<String>,
    /// Vague prompts, words joined by single spaces.
    vague_prompts: HashSet<String>,
    units: HashSet<String>,
    fillers: HashSet<String>,
    corrections: HashMap<String, String>,
    /// Multi-word slang: phrase words → replacement, longest phrase first.
    phrases: Vec<(Vec<String>, String)>,
    /// One-word slang → replacement.
    slang_words: HashMap<String, String>,
    /// Everything the sanitizer recognizes, sorted ([`Sanitizer::known_words`]).
    known: BTreeSet<String>,
    /// Fuzzy-match targets: the known words.
    candidates: Vec<Candidate>,
}

/// A token of the cleaned prompt.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// A word as typed (letters, digits, inner `'` and `-`; a leading `-` only before a digit).
    Word(String),
    /// One kept punctuation character.
    Punct(char),
    /// Whitespace (collapsed).
    Space,
    /// A run of dropped characters (acts as a word break).
    Gone(String),
}

/// What became of one word.
enum Piece {
    Word(String),
    Removed(String),
}

/// How the next output word or punctuation is separated from the last one.
#[derive(Clone, Copy, PartialEq)]
enum Gap {
    None,
    /// Something was dropped here: a space before a word, nothing before punctuation.
    Soft,
    /// The user typed whitespace here.
    Hard,
}

/// The sanitized text being built, with the pending separator and removal merging.
struct Out {
    text: String,
    gap: Gap,
    /// Index in the edit list of the `Removed` edit that a directly following removal
    /// extends (only dropped text and whitespace since).
    open_removed: Option<usize>,
    /// Whitespace was seen since the open removal.
    space_since_removed: bool,
}

impl Out {
    fn word(&mut self, w: &str) {
        if !self.text.is_empty() && self.gap != Gap::None {
            self.text.push(' ');
        }
        self.text.push_str(w);
        self.gap = Gap::None;
        self.open_removed = None;
    }

    fn punct(&mut self, c: char) {
        if !self.text.is_empty() && self.gap == Gap::Hard {
            self.text.push(' ');
        }
        self.text.push(c);
        self.gap = Gap::None;
        self.open_removed = None;
    }

    fn space(&mut self) {
        self.gap = Gap::Hard;
        self.space_since_removed = true;
    }

    /// Drops `what`: extends the open `Removed` edit or starts one.
    fn removed(&mut self, what: &str, edits: &mut Vec<Edit>) {
        if self.gap == Gap::None {
            self.gap = Gap::Soft;
        } else if self.gap == Gap::Hard {
            // The whitespace before dropped text is not the user's separator any more:
            // "warmer pls!" becomes "warmer!", "warm pls bright" still "warm bright".
            self.gap = Gap::Soft;
        }
        match self.open_removed {
            Some(i) => {
                if self.space_since_removed {
                    edits[i].from.push(' ');
                }
                edits[i].from.push_str(what);
            }
            None => {
                edits.push(edit(EditKind::Removed, what, ""));
                self.open_removed = Some(edits.len() - 1);
            }
        }
        self.space_since_removed = false;
    }
}

fn edit(kind: EditKind, from: &str, to: &str) -> Edit {
    Edit {
        kind,
        from: from.to_owned(),
        to: to.to_owned(),
    }
}

/// `s` cut to [`MAX_EDIT_CHARS`] characters, with `…` when cut.
fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_EDIT_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Whether `c` is a letter of the Latin script (Basic Latin, Latin-1 Supplement,
/// Latin Extended-A/B, IPA, Latin Extended Additional/C/D/E, ligatures). Unicode
/// block ranges, not the Script property: close enough to tell English-like words from
/// Cyrillic, Greek, CJK, Arabic, … without a Unicode table dependency.
fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
        || matches!(c,
            '\u{00AA}' | '\u{00BA}'
            | '\u{00C0}'..='\u{00D6}'
            | '\u{00D8}'..='\u{00F6}'
            | '\u{00F8}'..='\u{02AF}'
            | '\u{1E00}'..='\u{1EFF}'
            | '\u{2C60}'..='\u{2C7F}'
            | '\u{A720}'..='\u{A7FF}'
            | '\u{AB30}'..='\u{AB6F}'
            | '\u{FB00}'..='\u{FB06}')
}

/// Whether `word` has a letter outside the Latin script or a digit other than 0–9.
fn is_foreign(word: &str) -> bool {
    word.chars().any(|c| {
        (c.is_alphabetic() && !is_latin_letter(c)) || (c.is_numeric() && !c.is_ascii_digit())
    })
}

/// Whether `c` is invisible: a control character (Unicode Cc) or a common format
/// character (Cf: soft hyphen, zero-width space/joiners, bidi marks, word joiner, BOM).
/// Dropped inside a word without breaking it, since the user saw one word.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}')
}

/// Strips the `'` and `-` the tokenizer would glue to a word ("'warm'", "boomy-"),
/// keeping a leading `-` before a digit ("-16").
fn trim_word(w: &str) -> &str {
    let mut w = w.trim_end_matches(['\'', '-']);
    loop {
        let mut chars = w.chars();
        match (chars.next(), chars.next()) {
            (Some('-'), Some(d)) if d.is_ascii_digit() => break,
            (Some('\'' | '-'), _) => w = &w[1..],
            _ => break,
        }
    }
    w
}

/// Step 1: one pass over at most [`MAX_SCAN_CHARS`] characters of `raw`. Returns the
/// tokens and, when the prompt was cut, the byte offset of the cut.
///
/// Word characters are those of the encoder's tokenizer (`crate::words`):
/// alphanumerics, `'` (also `’`, `‘`, straightened) and `-`. Whitespace (including
/// tabs and newlines) is a break; [`PUNCTUATION`] is kept; everything else — control
/// characters, emoji, symbols, U+FFFD from invalid UTF-8 — is dropped and reported,
/// because the encoder never saw it and it could hide text from the user.
fn scan(raw: &str) -> (Vec<Tok>, Option<usize>) {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut word_start = 0;
    let mut word_chars = 0;
    let mut gone = String::new();
    let mut kept = 0; // characters of the cleaned text so far
    let mut words = 0;
    let mut cut = None;

    fn flush_word(
        toks: &mut Vec<Tok>,
        word: &mut String,
        word_chars: &mut usize,
        kept: &mut usize,
        words: &mut usize,
    ) {
        if !word.is_empty() {
            let t = trim_word(word);
            if !t.is_empty() {
                *kept += t.chars().count() + 1;
                *words += 1;
                toks.push(Tok::Word(t.to_owned()));
            }
            word.clear();
            *word_chars = 0;
        }
    }

    for (n, (i, c)) in raw.char_indices().enumerate() {
        if n >= MAX_SCAN_CHARS {
            cut = Some(if word.is_empty() { i } else { word_start });
            word.clear();
            break;
        }
        let c = if matches!(c, '\u{2018}' | '\u{2019}') {
            '\''
        } else {
            c
        };
        if c.is_alphanumeric() || c == '\'' || c == '-' {
            if !gone.is_empty() {
                toks.push(Tok::Gone(std::mem::take(&mut gone)));
            }
            if word.is_empty() {
                if words == MAX_WORDS {
                    cut = Some(i);
                    break;
                }
                word_start = i;
            }
            word.push(c);
            word_chars += 1;
            if kept + word_chars > MAX_CHARS {
                cut = Some(word_start);
                word.clear();
                break;
            }
            continue;
        }
        if is_invisible(c) && !c.is_whitespace() && !word.is_empty() {
            // Invisible inside a word ("warm\u{200B}er"): the user saw one word.
            gone.push(c);
            continue;
        }
        flush_word(&mut toks, &mut word, &mut word_chars, &mut kept, &mut words);
        if c.is_whitespace() || PUNCTUATION.contains(&c) {
            if !gone.is_empty() {
                toks.push(Tok::Gone(std::mem::take(&mut gone)));
            }
            if c.is_whitespace() {
                if toks.last() != Some(&Tok::Space) {
                    toks.push(Tok::Space);
                }
            } else {
                if kept + 1 > MAX_CHARS {
                    cut = Some(i);
                    break;
                }
                kept += 1;
                toks.push(Tok::Punct(c));
            }
        } else {
            gone.push(c);
        }
    }
    flush_word(&mut toks, &mut word, &mut word_chars, &mut kept, &mut words);
    if !gone.is_empty() {
        toks.push(Tok::Gone(gone));
    }
    (toks, cut)
}

/// Joins adjectives as English: "warm", "warm and full", "present, close and punchy".
fn join_adjectives(adjectives: &[String]) -> String {
    match adjectives {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

impl Sanitizer {
    /// Whether `text` is one of the vocabulary's vague prompts ("fix my mic", "make
    /// it sound good"): a request Faurge understands as a repair, unlike a prompt it
    /// could not read at all.
    pub fn is_vague_prompt(&self, text: &str) -> bool {
        self.vague_prompts.contains(&crate::words(text).join(" "))
    }

    /// A sanitizer over `vocabulary` with the shipped extras ([`EMBEDDED_EXTRAS`]).
    ///
    /// # Panics
    /// Only if the embedded `sanitizer.toml` does not parse, which the crate's tests
    /// rule out for every build.
    pub fn new(vocabulary: &Vocabulary) -> Sanitizer {
        let extras = SanitizerExtras::embedded()
            .expect("the embedded bundle/vocabulary/sanitizer.toml parses (tested)");
        Sanitizer::with_extras(vocabulary, &extras)
    }

    /// The shipped vocabulary and extras.
    ///
    /// # Errors
    /// Only if a shipped file is broken (tests guard against that).
    pub fn embedded() -> Result<Sanitizer, VocabularyError> {
        Ok(Sanitizer::with_extras(
            &Vocabulary::embedded()?,
            &SanitizerExtras::embedded()?,
        ))
    }

    /// A sanitizer over `vocabulary` and `extras`. Where the two disagree the
    /// vocabulary wins: an extras slang phrase the vocabulary also defines, or one naming
    /// an adjective the vocabulary lacks, is skipped; a function word, unit or filler
    /// that is one of the vocabulary's adjectives is treated as the adjective.
    pub fn with_extras(vocabulary: &Vocabulary, extras: &SanitizerExtras) -> Sanitizer {
        let lower_set =
            |v: &[String]| -> HashSet<String> { v.iter().map(|w| w.to_lowercase()).collect() };
        let adjectives: HashSet<String> = vocabulary
            .adjectives()
            .into_iter()
            .flat_map(crate::words)
            .collect();
        let not_adjective = |v: &[String]| -> HashSet<String> {
            lower_set(v)
                .into_iter()
                .filter(|w| !adjectives.contains(w))
                .collect()
        };
        let encoder_words: HashSet<String> = vocabulary.tokenizer().words.into_iter().collect();
        let function_words = not_adjective(&extras.function_words);
        let units = not_adjective(&extras.units);
        let fillers = not_adjective(&extras.fillers);
        let vague_prompts: HashSet<String> = vocabulary
            .vague_prompts
            .iter()
            .map(|p| crate::words(p).join(" "))
            .collect();
        let vague_words: HashSet<String> = vague_prompts
            .iter()
            .flat_map(|p| p.split(' ').map(str::to_owned))
            .collect();

        // Slang: the vocabulary's, then the extras' where they add something valid.
        // A phrase that is itself an adjective is not replaced ("tinny", "crackly"):
        // it is already concrete, and replacing it would lose what the user said.
        let mut slang: Vec<(String, &Vec<String>)> = Vec::new();
        let mut seen = HashSet::new();
        for (k, v) in vocabulary.slang.iter().chain(extras.slang.iter()) {
            let key = crate::words(k).join(" ");
            let valid = v.iter().all(|a| adjectives.contains(a));
            if key.is_empty() || adjectives.contains(&key) || !valid || !seen.insert(key.clone()) {
                continue;
            }
            slang.push((key, v));
        }
        let mut phrases = Vec::new();
        let mut slang_words = HashMap::new();
        for (key, v) in slang {
            let words: Vec<String> = key.split(' ').map(str::to_owned).collect();
            if words.len() == 1 {
                slang_words.insert(key, join_adjectives(v));
            } else {
                phrases.push((words, join_adjectives(v)));
            }
        }
        phrases.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));

        let corrections: HashMap<String, String> = extras
            .corrections
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.to_lowercase()))
            .collect();

        let mut known: BTreeSet<String> = encoder_words.iter().cloned().collect();
        known.extend(function_words.iter().cloned());
        known.extend(units.iter().cloned());
        known.extend(fillers.iter().cloned());
        known.extend(slang_words.keys().cloned());
        // A correction's target is known even if neither file lists it, so the
        // corrected prompt is left alone when sanitized again.
        known.extend(corrections.values().cloned());
        let candidates = known
            .iter()
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .map(|w| Candidate {
                word: w.clone(),
                chars: w.chars().count(),
            })
            .collect();

        Sanitizer {
            adjectives,
            anchor_prompt: vocabulary.anchor_prompt.clone(),
            encoder_words,
            function_words,
            vague_words,
            vague_prompts,
            units,
            fillers,
            corrections,
            phrases,
            slang_words,
            known,
            candidates,
        }
    }

    /// The anchor prompt vague prompts are replaced with.
    pub fn anchor_prompt(&self) -> &str {
        &self.anchor_prompt
    }

    /// Every word the sanitizer recognizes (the encoder's words, function words, units,
    /// filler, one-word slang, correction targets), sorted and lower case: what a GUI
    /// can offer for completion.
    pub fn known_words(&self) -> impl Iterator<Item = &str> {
        self.known.iter().map(String::as_str)
    }

    /// Sanitizes a prompt received as bytes. Invalid UTF-8 is decoded with
    /// [`String::from_utf8_lossy`]: each invalid sequence becomes U+FFFD in
    /// [`Sanitized::original`] and is dropped and reported as [`EditKind::Removed`]
    /// `"�"` like any other character the encoder cannot read.
    pub fn sanitize_bytes(&self, raw: &[u8]) -> Sanitized {
        self.sanitize(&String::from_utf8_lossy(raw))
    }

    /// Sanitizes a prompt (see the module documentation for the steps). Linear in the
    /// prompt's length up to [`MAX_SCAN_CHARS`], constant beyond (plus copying `raw`
    /// into [`Sanitized::original`]).
    pub fn sanitize(&self, raw: &str) -> Sanitized {
        let (toks, cut) = scan(raw);
        let mut edits = Vec::new();
        let mut out = Out {
            text: String::new(),
            gap: Gap::None,
            open_removed: None,
            space_since_removed: false,
        };

        let mut i = 0;
        while i < toks.len() {
            match &toks[i] {
                Tok::Space => out.space(),
                Tok::Punct(c) => out.punct(*c),
                Tok::Gone(g) => out.removed(g, &mut edits),
                Tok::Word(w) => {
                    if let Some((n_toks, phrase, to)) = self.match_phrase(&toks[i..]) {
                        // Multi-word slang first, whole words only, so "boomy af" is
                        // one phrase before "af" is dropped as filler.
                        edits.push(edit(EditKind::Slang, &phrase, to));
                        out.word(to);
                        i += n_toks;
                        continue;
                    }
                    for (k, piece) in self.resolve(w, &mut edits, true).into_iter().enumerate() {
                        if k > 0 {
                            // The parts of a split word ("less-boomy") are words.
                            out.space();
                        }
                        match piece {
                            Piece::Word(w) => out.word(&w),
                            Piece::Removed(w) => out.removed(&w, &mut edits),
                        }
                    }
                }
            }
            i += 1;
        }

        // The raw prompt was cut while scanning; slang may also have lengthened the
        // text past the limits. Both end up in one `truncated` edit.
        let mut understood = out.text;
        let mut dropped = String::new();
        if let Some(end) = self.limit(&understood) {
            dropped = understood[end..].trim_start().to_owned();
            understood.truncate(end);
        }
        if let Some(at) = cut {
            let rest = raw[at..].trim_start();
            if !dropped.is_empty() && !rest.is_empty() {
                dropped.push(' ');
            }
            dropped.push_str(rest);
        }
        if !dropped.is_empty() || cut.is_some() {
            edits.push(edit(EditKind::Truncated, &dropped, ""));
        }

        // The words as the encoder's tokenizer will split them.
        let words = crate::words(&understood);
        let anchor = !self.has_acoustic(&words) || self.vague_prompts.contains(&words.join(" "));
        if anchor {
            edits.push(edit(EditKind::Vague, &understood, &self.anchor_prompt));
            understood = self.anchor_prompt.clone();
        }
        for e in &mut edits {
            e.from = shorten(&e.from);
        }
        Sanitized {
            original: raw.to_owned(),
            understood,
            anchor,
            edits,
        }
    }

    /// Byte offset at which `text` must be cut to fit [`MAX_WORDS`] and [`MAX_CHARS`]
    /// (at a space, so no word is split), or `None` when it fits.
    fn limit(&self, text: &str) -> Option<usize> {
        let mut words = 0;
        let mut end = 0;
        let ends = text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')));
        for (chars, (i, c)) in ends.enumerate() {
            if c == ' ' {
                words += 1;
                // `chars` counts the characters before byte `i`.
                if words > MAX_WORDS || chars > MAX_CHARS {
                    return Some(end);
                }
                end = i;
            }
        }
        None
    }

    /// Whether any word could steer the encoder. Function words and the words of vague
    /// prompts ("make", "better", "fix", "mic") cannot; words the encoder never saw
    /// cannot; bare numbers cannot. Adjectives, other encoder words, units and numbers
    /// with a unit ("3db") can. A prompt with none of these falls back to the anchor.
    fn has_acoustic(&self, words: &[String]) -> bool {
        words.iter().any(|w| {
            self.adjectives.contains(w)
                || !self.function_words.contains(w)
                    && !self.vague_words.contains(w)
                    && (self.encoder_words.contains(w)
                        || self.units.contains(w)
                        || (w.chars().any(|c| c.is_ascii_digit())
                            && w.chars().any(|c| c.is_alphabetic())))
        })
    }

    /// The longest multi-word slang phrase starting at `toks[0]` (words separated by
    /// single whitespace tokens only): (tokens covered, phrase as typed, replacement).
    fn match_phrase<'s>(&'s self, toks: &[Tok]) -> Option<(usize, String, &'s str)> {
        'phrases: for (words, to) in &self.phrases {
            let n_toks = 2 * words.len() - 1;
            if toks.len() < n_toks {
                continue;
            }
            let mut typed = String::new();
            for (k, word) in words.iter().enumerate() {
                match (&toks[2 * k], k) {
                    (Tok::Word(w), _) if w.to_lowercase() == *word => {
                        if k > 0 {
                            typed.push(' ');
                        }
                        typed.push_str(w);
                    }
                    _ => continue 'phrases,
                }
                if k + 1 < words.len() && toks[2 * k + 1] != Tok::Space {
                    continue 'phrases;
                }
            }
            return Some((n_toks, typed, to));
        }
        None
    }

    /// Step 2 for one word (as typed); pushes its `typo` and `slang` edits.
    /// `split`: whether a hyphenated word may be split into its parts.
    fn resolve(&self, w: &str, edits: &mut Vec<Edit>, split: bool) -> Vec<Piece> {
        // Only English is understood: a word with Cyrillic, Greek, CJK, … letters
        // would reach the encoder as "unknown" and could only mislead it.
        if is_foreign(w) {
            return vec![Piece::Removed(w.to_owned())];
        }
        let lw = w.to_lowercase();
        // Numbers and units ("-16", "LUFS", "3dB", "48kHz") pass unchanged: the user
        // meant them exactly, and edit distance would "correct" them into words.
        if lw.chars().any(|c| c.is_ascii_digit()) || self.units.contains(&lw) {
            return vec![Piece::Word(w.to_owned())];
        }
        if let Some(p) = self.resolve_known(w, &lw, edits) {
            return p;
        }
        // Listed corrections first: they cover what edit distance gets wrong.
        if let Some(t) = self.corrections.get(&lw) {
            edits.push(edit(EditKind::Typo, w, t));
            return self
                .resolve_known(t, t, edits)
                .unwrap_or_else(|| vec![Piece::Word(t.clone())]);
        }
        // "less-boomy" → "less boomy": the tokenizer would read the hyphenated form as
        // one unknown word, while each part is known.
        if split && lw.contains('-') {
            let parts: Vec<&str> = lw.split('-').collect();
            if parts.iter().all(|p| !p.is_empty() && self.recognized(p)) {
                let to = parts.join(" ");
                edits.push(edit(EditKind::Typo, w, &to));
                return parts
                    .iter()
                    .flat_map(|p| self.resolve(p, edits, false))
                    .collect();
            }
        }
        if let Some(t) = self.closest(&lw) {
            edits.push(edit(EditKind::Typo, w, t));
            return self
                .resolve_known(t, t, edits)
                .unwrap_or_else(|| vec![Piece::Word(t.to_owned())]);
        }
        vec![Piece::Word(w.to_owned())]
    }

    /// Filler → removed; one-word slang → adjectives (a `slang` edit); any other
    /// known word → unchanged; unknown → `None`.
    fn resolve_known(&self, w: &str, lw: &str, edits: &mut Vec<Edit>) -> Option<Vec<Piece>> {
        // Filler ("pls", "lol") carries no intent and would reach the encoder as
        // unknown tokens.
        if self.fillers.contains(lw) {
            return Some(vec![Piece::Removed(w.to_owned())]);
        }
        // Slang → concrete adjectives: the encoder was trained on the adjectives.
        if let Some(to) = self.slang_words.get(lw) {
            edits.push(edit(EditKind::Slang, w, to));
            return Some(vec![Piece::Word(to.clone())]);
        }
        self.known
            .contains(lw)
            .then(|| vec![Piece::Word(w.to_owned())])
    }

    /// Whether a hyphen-free lower-case word is known, a number or a unit.
    fn recognized(&self, lw: &str) -> bool {
        self.known.contains(lw) || self.units.contains(lw) || lw.chars().any(|c| c.is_ascii_digit())
    }

    /// Typo correction: the known word closest to `lw` by Damerau–Levenshtein distance
    /// (`strsim::damerau_levenshtein`: insertions, deletions, substitutions and
    /// transpositions of adjacent letters, the four common typing errors; Damerau 1964).
    ///
    /// Threshold by the typed word's length in characters: ≤ 3 letters are never
    /// corrected (too many real words lie one edit apart: "far" vs "fat", "ear");
    /// 4–5 letters at distance ≤ 1; 6 and more at ≤ 2. Among candidates at the same
    /// smallest distance the one with the highest Jaro–Winkler similarity wins (it
    /// favours a shared beginning: "warmr" → "warmer" over "warm"); if that ties too,
    /// the word is left unchanged.
    fn closest(&self, lw: &str) -> Option<&str> {
        let n = lw.chars().count();
        let max = match n {
            0..=3 => return None,
            4 | 5 => 1,
            _ => 2,
        };
        let mut best: Option<(&str, usize, f64)> = None;
        let mut tie = false;
        for c in &self.candidates {
            if c.chars.abs_diff(n) > max {
                continue;
            }
            let d = strsim::damerau_levenshtein(lw, &c.word);
            if d > max {
                continue;
            }
            let jw = strsim::jaro_winkler(lw, &c.word);
            match best {
                Some((_, bd, bj)) if d > bd || (d == bd && jw < bj) => {}
                Some((_, bd, bj)) if d == bd && jw == bj => tie = true,
                _ => {
                    best = Some((&c.word, d, jw));
                    tie = false;
                }
            }
        }
        if tie {
            return None;
        }
        best.map(|(w, _, _)| w)
    }
}
