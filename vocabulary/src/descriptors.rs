//! The grounded descriptors (`bundle/vocabulary/descriptors.toml`): what every
//! acoustic word Faurge accepts means as a measurable change.
//!
//! Three parts:
//! - [`Quantity`]: a measurable property of a recording (a band balance in dB between
//!   named frequency ranges of the 64-band LTAS, integrated loudness, crest factor,
//!   the reverberant-to-direct ratio of the room Faurge adds, speech-to-noise ratio,
//!   click rate, clipped share), with the smallest change that counts ([`Quantity::margin`]);
//! - [`Descriptor`]: a word and its other forms, moving one quantity by
//!   [`Descriptor::per_unit`] per unit of intensity in the direction of
//!   [`Descriptor::sign`], or a combination of other descriptors ("radio" = more
//!   compressed, more present, a bit fuller), possibly with a loudness target and a
//!   request to repair the recording;
//! - [`Reading`]: the words that change how a descriptor is read (intensity, "more",
//!   "less", "no", "not too", clause breaks), used by [`crate::intent`].
//!
//! The same table is read by the dataset generator (captions and rendered targets), the
//! helper's loop (targets checked on the shadow bake), the evaluation (the margins) and
//! the documentation ([`Descriptors::markdown`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::VocabularyError;

/// The table shipped in the repository, embedded at build time.
pub const EMBEDDED: &str = include_str!("../../bundle/vocabulary/descriptors.toml");

/// Largest |intensity| a merged term may have: "much much more" is still 3 units.
pub const MAX_INTENSITY: f32 = 3.0;

/// What kind of measurement a [`Quantity`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityKind {
    /// Level of [`Quantity::band`] minus level of [`Quantity::against`], dB, from the
    /// 64-band LTAS: each side is the power mean of the bands whose centre lies in its
    /// ranges ([`Quantity::balance_db`]).
    Balance,
    /// Integrated loudness, LUFS (ITU-R BS.1770-4).
    Loudness,
    /// Crest factor, dB (peak over RMS).
    Crest,
    /// Reverberant-to-direct energy ratio of the impulse response Faurge applies, dB.
    Room,
    /// Speech-to-noise ratio, dB.
    Snr,
    /// Detected clicks per second.
    Clicks,
    /// Fraction of samples in clipped runs.
    Clipping,
}

impl QuantityKind {
    /// The unit a value of this kind is in.
    pub fn unit(self) -> &'static str {
        match self {
            QuantityKind::Balance
            | QuantityKind::Crest
            | QuantityKind::Room
            | QuantityKind::Snr => "dB",
            QuantityKind::Loudness => "LUFS",
            QuantityKind::Clicks => "/s",
            QuantityKind::Clipping => "",
        }
    }
}

/// A frequency range `[low, high]`, Hz.
pub type RangeHz = [f32; 2];

/// A measurable property of a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    /// Stable id (`warmth`, `loudness`, …).
    pub id: String,
    /// What is measured.
    pub kind: QuantityKind,
    /// Name shown to the user ("warmth").
    pub name: String,
    /// Balance only: the ranges whose level counts positively, Hz.
    #[serde(default)]
    pub band: Vec<RangeHz>,
    /// Balance only: the ranges whose level is subtracted, Hz.
    #[serde(default)]
    pub against: Vec<RangeHz>,
    /// The value of clean, unprocessed speech. Balances: dB (absolute terms aim at
    /// `reference + per_unit × intensity`). Clicks: the detector's rate on clean
    /// speech (its false alarms on plosives and lip noise), per second: a rate at or
    /// under it counts as no clicks.
    #[serde(default)]
    pub reference: Option<f32>,
    /// The smallest change that counts as "moved", in the quantity's unit (a fraction
    /// for clicks and clipping).
    pub margin: f32,
    /// One sentence for the documentation.
    pub about: String,
}

impl Quantity {
    /// The balance of a 64-band LTAS (`ltas_db`, dB, bands with centres `centers_hz`;
    /// `valid[b]` false for bands above the recording's bandwidth): the power mean of
    /// the valid bands whose centre lies in [`Quantity::band`] minus that of
    /// [`Quantity::against`], dB. `None` for other kinds, or when either side has fewer
    /// than half its bands valid (a band-limited recording cannot be judged there).
    pub fn balance_db(&self, ltas_db: &[f32], centers_hz: &[f32], valid: &[bool]) -> Option<f32> {
        if self.kind != QuantityKind::Balance {
            return None;
        }
        let a = side_level_db(&self.band, ltas_db, centers_hz, valid)?;
        let b = side_level_db(&self.against, ltas_db, centers_hz, valid)?;
        Some(a - b)
    }

    /// Per LTAS band, how much a 1 dB rise of that band alone raises
    /// [`Quantity::balance_db`] (the linearisation at `ltas_db`): the band's share of
    /// its side's power, positive on [`Quantity::band`], negative on
    /// [`Quantity::against`], 0 elsewhere. Empty when the balance is not measurable.
    pub fn balance_gradient(
        &self,
        ltas_db: &[f32],
        centers_hz: &[f32],
        valid: &[bool],
    ) -> Vec<f32> {
        let mut g = vec![0.0f32; ltas_db.len()];
        for (ranges, sign) in [(&self.band, 1.0f32), (&self.against, -1.0f32)] {
            let Some(members) = side_members(ranges, centers_hz, valid) else {
                return Vec::new();
            };
            let total: f64 = members.iter().map(|&b| power(ltas_db[b])).sum();
            if total <= 0.0 {
                return Vec::new();
            }
            for &b in &members {
                g[b] += sign * (power(ltas_db[b]) / total) as f32;
            }
        }
        g
    }
}

fn power(db: f32) -> f64 {
    10f64.powf(f64::from(db) / 10.0)
}

/// The valid bands whose centre lies in `ranges`, or `None` when fewer than half of
/// the bands there are valid (or none lie there).
fn side_members(ranges: &[RangeHz], centers_hz: &[f32], valid: &[bool]) -> Option<Vec<usize>> {
    let inside: Vec<usize> = (0..centers_hz.len())
        .filter(|&b| {
            ranges
                .iter()
                .any(|r| centers_hz[b] >= r[0] && centers_hz[b] <= r[1])
        })
        .collect();
    let ok: Vec<usize> = inside
        .iter()
        .copied()
        .filter(|&b| valid.get(b).copied().unwrap_or(false))
        .collect();
    (!inside.is_empty() && 2 * ok.len() >= inside.len()).then_some(ok)
}

fn side_level_db(
    ranges: &[RangeHz],
    ltas_db: &[f32],
    centers_hz: &[f32],
    valid: &[bool],
) -> Option<f32> {
    let members = side_members(ranges, centers_hz, valid)?;
    let p: f64 = members.iter().map(|&b| power(ltas_db[b])).sum::<f64>() / members.len() as f64;
    (p > 0.0).then(|| (10.0 * p.log10()) as f32)
}

/// A word Faurge understands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptor {
    /// The word (`warm`).
    pub word: String,
    /// Its other forms and synonyms (`warmer`, `warmth`).
    #[serde(default)]
    pub forms: Vec<String>,
    /// Forms that make a term relative on their own (`warmer`).
    #[serde(default)]
    pub comparative: Vec<String>,
    /// The quantity it moves (single descriptors).
    #[serde(default)]
    pub quantity: Option<String>,
    /// +1: asks for more of the quantity; −1: for less.
    #[serde(default)]
    pub sign: Option<i8>,
    /// Change per unit of intensity, in the quantity's unit (for rooms: dB per
    /// doubling of intensity).
    #[serde(default)]
    pub per_unit: Option<f32>,
    /// The value a plain use of the word names (loud: −14 LUFS; clean: 40 dB SNR;
    /// roomy: a −12 dB reverberant-to-direct ratio).
    #[serde(default)]
    pub absolute: Option<f32>,
    /// Combination: `(descriptor word, intensity)` pairs.
    #[serde(default)]
    pub terms: Vec<(String, f32)>,
    /// Combination only: loudness target, LUFS.
    #[serde(default)]
    pub lufs: Option<f32>,
    /// The word also asks to repair the recording (as "fix my mic" does).
    #[serde(default)]
    pub repair: bool,
    /// The word names a fault: said on its own it is a complaint (asks for less).
    #[serde(default)]
    pub defect: bool,
    /// False when the chain cannot give more of it (no noise generator, no distortion).
    #[serde(default = "yes")]
    pub supported_positive: bool,
    /// Used only inside combinations; not a word a user types.
    #[serde(default)]
    pub internal: bool,
    /// Always acts relative to the input, even said plainly: an operation rather than
    /// a quality (a band limit cuts what is there, whatever that is).
    #[serde(default)]
    pub relative_only: bool,
    /// A part of the spectrum ("low end", "highs"), not a quality: it moves its
    /// quantity only with a direction word ("more low end"); otherwise it is the
    /// object of a quality word ("a tighter low end") and does nothing by itself.
    #[serde(default)]
    pub object: bool,
}

fn yes() -> bool {
    true
}

impl Descriptor {
    /// Whether this is a combination of other descriptors.
    pub fn is_combination(&self) -> bool {
        self.quantity.is_none()
    }

    /// The word and every form.
    pub fn all_forms(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.word.as_str()).chain(self.forms.iter().map(String::as_str))
    }
}

/// A phrase that is a whole term by itself ("de-ess", "high pass").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phrase {
    /// Its spellings (one or more words each).
    pub words: Vec<String>,
    /// `(descriptor word, signed intensity)` pairs it stands for (relative).
    pub terms: Vec<(String, f32)>,
}

/// Loudness defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoudnessTable {
    /// Target of absolute and vague prompts that name none, LUFS.
    pub default_lufs: f32,
    /// "louder"/"quieter": LU per unit of intensity.
    pub relative_lu_per_unit: f32,
    /// Lowest target the reader sets, LUFS.
    pub min_lufs: f32,
    /// Highest target the reader sets, LUFS.
    pub max_lufs: f32,
}

/// The words that change how a descriptor is read ([`crate::intent`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// `(phrase, intensity)`: "a touch" 0.5, "very" 1.5, "much" 2.
    pub intensity: Vec<(String, f32)>,
    /// Ask for more of what follows.
    pub more: Vec<String>,
    /// Ask for less of what follows.
    pub less: Vec<String>,
    /// "no …", "without …".
    pub absent: Vec<String>,
    /// Intensity of an `absent` term (units, negative sign implied).
    pub absent_intensity: f32,
    /// "not too …".
    pub limit: Vec<String>,
    /// Intensity of a `limit` term.
    pub limit_intensity: f32,
    /// "too …" as a complaint.
    pub complaint: Vec<String>,
    /// Words that end a modifier's reach.
    pub clause_breaks: Vec<String>,
    /// Words that ask for a repair.
    pub repair: Vec<String>,
    /// Words that make a fault word a request.
    pub request: Vec<String>,
}

/// The whole table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Descriptors {
    /// File format version (1).
    pub version: u32,
    /// The measurable quantities.
    #[serde(rename = "quantity")]
    pub quantities: Vec<Quantity>,
    /// Loudness defaults.
    pub loudness: LoudnessTable,
    /// The words.
    #[serde(rename = "descriptor")]
    pub descriptors: Vec<Descriptor>,
    /// How prompts are read.
    pub reading: Reading,
    /// Whole-term phrases.
    #[serde(rename = "phrase", default)]
    pub phrases: Vec<Phrase>,
}

impl Descriptors {
    /// Parses and validates TOML text.
    ///
    /// # Errors
    /// [`VocabularyError::Parse`] for bad TOML or unknown keys,
    /// [`VocabularyError::Invalid`] for content that breaks [`Descriptors::validate`].
    pub fn from_toml(text: &str) -> Result<Self, VocabularyError> {
        let d: Descriptors = toml::from_str(text)?;
        d.validate()?;
        Ok(d)
    }

    /// The table shipped in `bundle/vocabulary/descriptors.toml` ([`EMBEDDED`]).
    ///
    /// # Errors
    /// Only if the shipped file is broken (a test guards against that).
    pub fn embedded() -> Result<Self, VocabularyError> {
        Self::from_toml(EMBEDDED)
    }

    /// Checks the rules: version 1; unique quantity ids; balances have both sides and
    /// a reference, ranges ascending and positive; positive margins; every word and
    /// form lower case and used by one descriptor only; single descriptors name a
    /// known quantity, a sign of ±1 and a positive `per_unit`; combinations name known
    /// descriptors and do not nest; phrases name known descriptors; loudness limits
    /// ordered.
    ///
    /// # Errors
    /// [`VocabularyError::Invalid`] naming the first problem.
    pub fn validate(&self) -> Result<(), VocabularyError> {
        let bad = |m: String| Err(VocabularyError::Invalid(m));
        if self.version != 1 {
            return bad(format!(
                "descriptors version is {}, only 1 is supported",
                self.version
            ));
        }
        let mut qids = BTreeSet::new();
        for q in &self.quantities {
            if !qids.insert(q.id.as_str()) {
                return bad(format!("quantity \"{}\" is defined twice", q.id));
            }
            if q.margin.is_nan() || q.margin <= 0.0 {
                return bad(format!("quantity \"{}\" needs a positive margin", q.id));
            }
            if q.kind == QuantityKind::Balance {
                if q.band.is_empty() || q.against.is_empty() || q.reference.is_none() {
                    return bad(format!(
                        "balance \"{}\" needs `band`, `against` and `reference`",
                        q.id
                    ));
                }
                if let Some(r) = q
                    .band
                    .iter()
                    .chain(&q.against)
                    .find(|r| !(r[0] > 0.0 && r[1] > r[0]))
                {
                    return bad(format!("balance \"{}\" has the bad range {:?}", q.id, r));
                }
            }
        }
        let l = &self.loudness;
        if !(l.min_lufs < l.default_lufs
            && l.default_lufs < l.max_lufs
            && l.relative_lu_per_unit > 0.0)
        {
            return bad("loudness: need min_lufs < default_lufs < max_lufs and a positive relative_lu_per_unit".into());
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for d in &self.descriptors {
            for f in d.all_forms() {
                if f.trim().is_empty() || f.to_lowercase() != f {
                    return bad(format!(
                        "descriptor \"{}\": form \"{f}\" must be lower case and non-empty",
                        d.word
                    ));
                }
                if let Some(other) = seen.insert(f, d.word.as_str()) {
                    return bad(format!(
                        "the form \"{f}\" belongs to both \"{other}\" and \"{}\"",
                        d.word
                    ));
                }
            }
            if let Some(c) = d.comparative.iter().find(|c| !d.forms.contains(c)) {
                return bad(format!(
                    "descriptor \"{}\": comparative \"{c}\" is not one of its forms",
                    d.word
                ));
            }
        }
        for d in &self.descriptors {
            match &d.quantity {
                Some(q) => {
                    if !qids.contains(q.as_str()) {
                        return bad(format!(
                            "descriptor \"{}\" names the unknown quantity \"{q}\"",
                            d.word
                        ));
                    }
                    if !matches!(d.sign, Some(1 | -1)) || !d.per_unit.is_some_and(|p| p > 0.0) {
                        return bad(format!(
                            "descriptor \"{}\" needs sign ±1 and a positive per_unit",
                            d.word
                        ));
                    }
                    if !d.terms.is_empty() || d.lufs.is_some() {
                        return bad(format!(
                            "descriptor \"{}\" has a quantity, so it cannot have terms or lufs",
                            d.word
                        ));
                    }
                }
                None => {
                    for (w, _) in &d.terms {
                        match self.descriptor(w) {
                            Some(t) if !t.is_combination() => {}
                            Some(_) => {
                                return bad(format!(
                                    "combination \"{}\" nests the combination \"{w}\"",
                                    d.word
                                ))
                            }
                            None => {
                                return bad(format!(
                                    "combination \"{}\" names the unknown descriptor \"{w}\"",
                                    d.word
                                ))
                            }
                        }
                    }
                }
            }
        }
        for p in &self.phrases {
            for (w, _) in &p.terms {
                if self.descriptor(w).is_none() {
                    return bad(format!(
                        "phrase {:?} names the unknown descriptor \"{w}\"",
                        p.words
                    ));
                }
            }
        }
        Ok(())
    }

    /// The descriptor whose word (not form) is `word`.
    pub fn descriptor(&self, word: &str) -> Option<&Descriptor> {
        self.descriptors.iter().find(|d| d.word == word)
    }

    /// The quantity with `id`.
    pub fn quantity(&self, id: &str) -> Option<&Quantity> {
        self.quantities.iter().find(|q| q.id == id)
    }

    /// The descriptor that has `form` as its word or one of its forms.
    pub fn by_form(&self, form: &str) -> Option<&Descriptor> {
        self.descriptors
            .iter()
            .find(|d| d.all_forms().any(|f| f == form))
    }

    /// The descriptor with sign +1 for `quantity` (the word "more of it" is said
    /// with: `warm` for warmth, `sibilant` for sibilance), else any.
    pub fn positive_word(&self, quantity: &str) -> Option<&Descriptor> {
        let mut of_q = self
            .descriptors
            .iter()
            .filter(|d| !d.internal && d.quantity.as_deref() == Some(quantity));
        let all: Vec<&Descriptor> = of_q.by_ref().collect();
        all.iter()
            .find(|d| d.sign == Some(1))
            .or_else(|| all.first())
            .copied()
    }

    /// Every word and form a user may type (descriptors that are not internal), the
    /// reading words split into single words, and the phrases' words: what the
    /// sanitizer must know and never "correct".
    pub fn known_words(&self) -> BTreeSet<String> {
        let mut w = BTreeSet::new();
        let mut add = |s: &str| {
            for x in crate::words(s) {
                w.insert(x);
            }
        };
        for d in self.descriptors.iter().filter(|d| !d.internal) {
            d.all_forms().for_each(&mut add);
        }
        let r = &self.reading;
        for s in r
            .intensity
            .iter()
            .map(|(s, _)| s)
            .chain(&r.more)
            .chain(&r.less)
            .chain(&r.absent)
            .chain(&r.limit)
            .chain(&r.complaint)
            .chain(&r.clause_breaks)
            .chain(&r.repair)
            .chain(&r.request)
        {
            add(s);
        }
        for p in &self.phrases {
            p.words.iter().for_each(|s| add(s));
        }
        w
    }

    /// The table as Markdown (`docs/DESCRIPTORS.md`): quantities with their
    /// definitions and margins, loudness defaults, descriptors, combinations and the
    /// reading words.
    pub fn markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "# Faurge's descriptors\n");
        let _ = writeln!(
            s,
            "Generated from `bundle/vocabulary/descriptors.toml` by `cargo run -p faurge-vocabulary --example descriptors_md > docs/DESCRIPTORS.md`; edit the table, not this file.\n"
        );
        let _ = writeln!(s, "## Quantities\n\n| id | what is measured | margin | reference (clean speech) | about |\n|---|---|---|---|---|");
        for q in &self.quantities {
            let what = match q.kind {
                QuantityKind::Balance => format!(
                    "level of {} minus level of {}, dB (LTAS)",
                    ranges(&q.band),
                    ranges(&q.against)
                ),
                QuantityKind::Loudness => "integrated loudness, LUFS (ITU-R BS.1770-4)".into(),
                QuantityKind::Crest => "crest factor, dB".into(),
                QuantityKind::Room => "reverberant-to-direct ratio of the added room, dB".into(),
                QuantityKind::Snr => "speech-to-noise ratio, dB".into(),
                QuantityKind::Clicks => "clicks per second".into(),
                QuantityKind::Clipping => "share of clipped samples".into(),
            };
            let margin = match q.kind {
                QuantityKind::Clicks | QuantityKind::Clipping => {
                    format!("falls by ≥ {:.0} %", q.margin * 100.0)
                }
                QuantityKind::Loudness => format!("{} LU", q.margin),
                k => format!("{} {}", q.margin, k.unit()),
            };
            let reference = match (q.reference, q.kind) {
                (None, _) => "—".into(),
                (Some(r), QuantityKind::Clicks) => format!("{r} per second"),
                (Some(r), _) => format!("{r:+.1} dB"),
            };
            let _ = writeln!(
                s,
                "| `{}` | {what} | {margin} | {reference} | {} |",
                q.id, q.about
            );
        }
        let l = &self.loudness;
        let _ = writeln!(
            s,
            "\n## Loudness\n\nAbsolute and vague prompts that name no level aim at **{} LUFS**; purely relative prompts keep the input's loudness; \"louder\"/\"quieter\" move it by {} LU per unit; a number the user types (\"-16 LUFS\") wins. Targets are kept within {} to {} LUFS.\n",
            l.default_lufs, l.relative_lu_per_unit, l.min_lufs, l.max_lufs
        );
        let _ = writeln!(s, "## Words\n\nOne unit of intensity is what a plain word asks for.\n\n| word | other forms | moves | per unit | plain use | notes |\n|---|---|---|---|---|---|");
        for d in self
            .descriptors
            .iter()
            .filter(|d| !d.internal && !d.is_combination())
        {
            let q = d.quantity.as_deref().and_then(|q| self.quantity(q));
            let unit = q.map_or("", |q| q.kind.unit());
            let dir = if d.sign == Some(1) { "up" } else { "down" };
            let plain = match (d.absolute, q.map(|q| q.kind)) {
                (Some(a), Some(QuantityKind::Room)) => format!("adds a room at {a:+} dB"),
                (Some(a), Some(k)) => format!("target {a} {}", k.unit()),
                (None, Some(QuantityKind::Balance)) if d.sign == Some(1) => {
                    "at least reference + 1 unit".into()
                }
                (None, Some(QuantityKind::Balance)) => "at most reference − 1 unit".into(),
                _ => "relative".into(),
            };
            let mut notes = Vec::new();
            if d.defect {
                notes.push("a fault: alone it asks for less");
            }
            if !d.supported_positive {
                notes.push("only less of it is possible");
            }
            let _ = writeln!(
                s,
                "| {} | {} | `{}` {dir} | {} {unit} | {plain} | {} |",
                d.word,
                d.forms.join(", "),
                d.quantity.as_deref().unwrap_or(""),
                d.per_unit.unwrap_or(0.0),
                notes.join("; ")
            );
        }
        let _ = writeln!(s, "\n## Combinations\n\n| word | other forms | stands for | loudness | repairs |\n|---|---|---|---|---|");
        for d in self
            .descriptors
            .iter()
            .filter(|d| !d.internal && d.is_combination())
        {
            let terms: Vec<String> = d.terms.iter().map(|(w, i)| format!("{w} {i:+}")).collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                d.word,
                d.forms.join(", "),
                if terms.is_empty() {
                    "nothing but a repair".into()
                } else {
                    terms.join(", ")
                },
                d.lufs.map_or("—".into(), |l| format!("{l} LUFS")),
                if d.repair { "yes" } else { "no" }
            );
        }
        let r = &self.reading;
        let list = |v: &[String]| {
            v.iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "\n## Reading a prompt\n");
        let _ = writeln!(
            s,
            "- Intensity: {}.",
            r.intensity
                .iter()
                .map(|(w, i)| format!("\"{w}\" {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(s, "- More (relative, +): {}.", list(&r.more));
        let _ = writeln!(s, "- Less (relative, −): {}.", list(&r.less));
        let _ = writeln!(
            s,
            "- Absent (−{}): {}.",
            r.absent_intensity,
            list(&r.absent)
        );
        let _ = writeln!(s, "- Limit (−{}): {}.", r.limit_intensity, list(&r.limit));
        let _ = writeln!(s, "- Complaint (−1): {}.", list(&r.complaint));
        let _ = writeln!(s, "- Clause breaks: {}.", list(&r.clause_breaks));
        let _ = writeln!(s, "- Repair: {}.", list(&r.repair));
        let _ = writeln!(
            s,
            "- Request (a fault word becomes a request): {}.",
            list(&r.request)
        );
        let _ = writeln!(s, "\n## Phrases\n\n| phrase | stands for |\n|---|---|");
        for p in &self.phrases {
            let terms: Vec<String> = p.terms.iter().map(|(w, i)| format!("{w} {i:+}")).collect();
            let _ = writeln!(s, "| {} | {} |", list(&p.words), terms.join(", "));
        }
        s
    }
}

fn ranges(r: &[RangeHz]) -> String {
    r.iter()
        .map(|[a, b]| format!("{}–{}", hz(*a), hz(*b)))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn hz(f: f32) -> String {
    if f >= 1000.0 {
        format!("{} kHz", f / 1000.0)
    } else {
        format!("{f} Hz")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_is_valid() {
        let d = Descriptors::embedded().expect("descriptors.toml");
        assert!(d.quantities.len() >= 15);
        assert!(d.descriptor("warm").is_some());
        assert_eq!(d.by_form("warmer").map(|d| d.word.as_str()), Some("warm"));
    }

    #[test]
    fn balance_is_the_difference_of_power_means_and_skips_invalid_sides() {
        let q = Quantity {
            id: "t".into(),
            kind: QuantityKind::Balance,
            name: "t".into(),
            band: vec![[90.0, 210.0]],
            against: vec![[900.0, 1100.0]],
            reference: Some(0.0),
            margin: 1.0,
            about: String::new(),
        };
        let centers = [100.0, 200.0, 1000.0, 5000.0];
        // Band side: powers 1 and 3 → mean 2 → 3.01 dB; against: 0 dB.
        let ltas = [0.0, 10.0 * 3f32.log10(), 0.0, -50.0];
        let b = q.balance_db(&ltas, &centers, &[true; 4]).unwrap();
        assert!((b - 10.0 * 2f32.log10()).abs() < 1e-4);
        // Half the band side valid is enough; none of the against side is not.
        assert!(q
            .balance_db(&ltas, &centers, &[true, false, true, true])
            .is_some());
        assert!(q
            .balance_db(&ltas, &centers, &[true, true, false, true])
            .is_none());
        // The gradient: shares of each side's power, signed.
        let g = q.balance_gradient(&ltas, &centers, &[true; 4]);
        assert!((g[0] - 0.25).abs() < 1e-5 && (g[1] - 0.75).abs() < 1e-5);
        assert!((g[2] + 1.0).abs() < 1e-5 && g[3] == 0.0);
    }

    #[test]
    fn validation_names_the_problem() {
        let broken = EMBEDDED.replace(
            "quantity = \"warmth\"\nsign = 1",
            "quantity = \"warmthh\"\nsign = 1",
        );
        let e = Descriptors::from_toml(&broken).unwrap_err().to_string();
        assert!(e.contains("warmthh"), "{e}");
        let twice = EMBEDDED.replace("forms = [\"warmth\", ", "forms = [\"warmth\", \"thin\", ");
        let e = Descriptors::from_toml(&twice).unwrap_err().to_string();
        assert!(e.contains("\"thin\""), "{e}");
    }

    #[test]
    fn the_markdown_lists_every_user_word() {
        let d = Descriptors::embedded().unwrap();
        let md = d.markdown();
        for w in d.descriptors.iter().filter(|d| !d.internal) {
            assert!(
                md.contains(&format!("| {} |", w.word)),
                "{} missing",
                w.word
            );
        }
    }
}
