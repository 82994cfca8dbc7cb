//! Reading a prompt as an intent: a set of (descriptor, signed intensity), each
//! relative to the input or absolute, plus a loudness target and whether the
//! recording should also be repaired.
//!
//! The reader works on the sanitizer's output ([`crate::sanitizer`]: typos corrected,
//! slang replaced by descriptor words) with the words of [`Descriptors::reading`]:
//!
//! - **Intensity** words scale the next descriptor: "a touch warmer" is +0.5, "very
//!   warm" +1.5, "much more air" +2. A number of dB before a descriptor gives the
//!   intensity directly ("3 dB warmer" is +1 when one unit is 3 dB).
//! - **Direction**: "more"/"add"/"boost" and comparatives ("warmer") ask for more,
//!   relative to the input; "less"/"reduce"/"remove"/"tame" for less; "no"/"without"
//!   for none ([`Reading::absent_intensity`] units less); "not too" keeps it in check
//!   ([`Reading::limit_intensity`] less); "too …" is a complaint (less). A direction
//!   word reaches the following descriptors of its clause ("less boomy and harsh"),
//!   but a comparative later in the clause keeps its own direction ("less boomy and
//!   warmer"). Clause breaks ("but", commas) end it.
//! - **Plain words** are absolute: "a warm voice" asks for at least reference + 1
//!   unit of warmth, whatever the input. A fault word said on its own ("boomy",
//!   "harsh sibilance") is a complaint and asks for less; "make it boomy" asks for more.
//! - **Combinations** ("radio", "podcast", "telephone") stand for several descriptors,
//!   and may set a loudness target and ask for a repair.
//! - **Repair** words ("fix", "clean up") ask for a repair of the recording (what "fix
//!   my mic" asks); before a fault word they ask for less of it ("fix the boominess").
//! - **Loudness**: a number the user types ("-16 LUFS") wins; then loudness words
//!   ("loud" = −14 LUFS, "louder" = +3 LU); then a combination's target; then, for
//!   absolute or repair prompts, [`LoudnessTable::default_lufs`]; a purely relative
//!   prompt keeps the input's loudness.
//!
//! [`Intent::goals`] turns an intent into measurable goals for one input (the values of
//! each quantity it must reach), which the loop checks on its shadow bake and the
//! evaluation checks on the result.

use serde::{Deserialize, Serialize};

use crate::descriptors::{
    Descriptor, Descriptors, LoudnessTable, QuantityKind, Reading, MAX_INTENSITY,
};

/// Whether a term acts relative to the input or sets a target whatever the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Moves the quantity from the input's value ("warmer").
    Relative,
    /// Sets a target ("a warm voice", "a telephone voice").
    Absolute,
}

/// One understood request: a descriptor with a signed intensity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// The descriptor's word (`warm`, `radio`).
    pub descriptor: String,
    /// Units of intensity, signed: +1 asks for one unit more of what the word names,
    /// −1 for one unit less.
    pub intensity: f32,
    /// Relative or absolute.
    pub mode: Mode,
}

/// The loudness the result should have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoudnessGoal {
    /// Keep the input's loudness (purely relative prompts).
    Keep,
    /// Move it by this many LU ("louder").
    Relative {
        /// LU, signed.
        lu: f32,
    },
    /// This integrated loudness, LUFS.
    Target {
        /// LUFS.
        lufs: f32,
        /// Where it came from ("asked", "loud", "podcast", "default").
        source: String,
    },
}

impl LoudnessGoal {
    /// The target for an input of `input_lufs`, LUFS.
    pub fn target_lufs(&self, input_lufs: f32) -> f32 {
        match self {
            LoudnessGoal::Keep => input_lufs,
            LoudnessGoal::Relative { lu } => input_lufs + lu,
            LoudnessGoal::Target { lufs, .. } => *lufs,
        }
    }
}

/// What a prompt asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The terms as said, combinations included ("radio +1"), merged per descriptor
    /// and mode: what the user is shown.
    pub said: Vec<Term>,
    /// The same with combinations expanded into single descriptors: what the goals
    /// are made of.
    pub terms: Vec<Term>,
    /// The loudness goal.
    pub loudness: LoudnessGoal,
    /// The recording should also be repaired (noise, clicks, clipping, tone).
    pub repair: bool,
    /// Requests Faurge cannot carry out, in words.
    pub unsupported: Vec<String>,
}

/// How a goal is met.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalKind {
    /// Reach `value` (within the quantity's margin).
    Exactly,
    /// Reach at least `value` (nothing to do where the input already does).
    AtLeast,
    /// Stay at or below `value`.
    AtMost,
}

/// A measurable goal for one input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// The quantity id.
    pub quantity: String,
    /// How it is met.
    pub kind: GoalKind,
    /// The value to reach, in the quantity's unit.
    pub value: f32,
    /// The input's value (`None` for the room, which the input does not have as
    /// Faurge measures it: the room Faurge adds).
    pub input: Option<f32>,
    /// The change asked for relative to the input (value − input for `Exactly`; the
    /// shortfall for `AtLeast`/`AtMost`, 0 where the input already meets it).
    pub change: f32,
    /// Labels of the terms behind it ("warmer +1").
    pub because: Vec<String>,
}

impl Goal {
    /// Whether `output` meets the goal: `Exactly` within `margin` and, when it asks
    /// for a change of at least `margin`, moved the asked way by at least `margin`
    /// (so "a touch warmer" is not met by a change too small to hear);
    /// `AtLeast`/`AtMost` up to `margin`.
    pub fn met_by(&self, output: f32, margin: f32) -> bool {
        match self.kind {
            GoalKind::Exactly => {
                (output - self.value).abs() <= margin
                    && self.input.is_none_or(|i| {
                        self.change.abs() < margin || (output - i) * self.change.signum() >= margin
                    })
            }
            GoalKind::AtLeast => output >= self.value - margin,
            GoalKind::AtMost => output <= self.value + margin,
        }
    }

    /// Whether `output` moved the asked way from the input by at least `margin` (a
    /// fraction for ratio quantities handled by the caller). Goals whose asked change
    /// is smaller than the margin count as moved when the output meets them.
    pub fn moved(&self, output: f32, margin: f32) -> bool {
        let Some(input) = self.input else {
            return self.met_by(output, margin);
        };
        if self.change.abs() < margin {
            return self.met_by(output, margin);
        }
        (output - input) * self.change.signum() >= margin
    }
}

/// The values of the input an intent's goals are computed from. `None` where not
/// measurable (a balance above the recording's bandwidth).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Balance per quantity id, dB (from [`crate::descriptors::Quantity::balance_db`]).
    pub balances: Vec<(String, f32)>,
    /// Integrated loudness, LUFS.
    pub lufs: Option<f32>,
    /// Crest factor, dB.
    pub crest_db: Option<f32>,
    /// Speech-to-noise ratio, dB.
    pub snr_db: Option<f32>,
    /// Clicks per second.
    pub clicks_per_s: Option<f32>,
    /// Share of clipped samples.
    pub clipped_fraction: Option<f32>,
    /// Reverberant-to-direct ratio of the room Faurge adds, dB (`None`: no room).
    pub room_db: Option<f32>,
}

impl Measured {
    /// The balances of every balance quantity of `table` measurable on `ltas_db`
    /// (64-band LTAS, band centres `centers_hz`, `valid[b]` false above the
    /// recording's bandwidth); the other fields empty for the caller to fill.
    pub fn from_ltas(
        table: &Descriptors,
        ltas_db: &[f32],
        centers_hz: &[f32],
        valid: &[bool],
    ) -> Measured {
        Measured {
            balances: table
                .quantities
                .iter()
                .filter_map(|q| Some((q.id.clone(), q.balance_db(ltas_db, centers_hz, valid)?)))
                .collect(),
            ..Measured::default()
        }
    }

    /// The input's value of quantity `q` (of kind `kind`).
    pub fn value(&self, q: &str, kind: QuantityKind) -> Option<f32> {
        match kind {
            QuantityKind::Balance => self
                .balances
                .iter()
                .find(|(id, _)| id == q)
                .map(|(_, v)| *v),
            QuantityKind::Loudness => self.lufs,
            QuantityKind::Crest => self.crest_db,
            QuantityKind::Snr => self.snr_db,
            QuantityKind::Clicks => self.clicks_per_s,
            QuantityKind::Clipping => self.clipped_fraction,
            QuantityKind::Room => self.room_db,
        }
    }
}

/// The reverberant-to-direct ratio a room term asks for: `absolute + per_unit ·
/// log2(intensity)` dB for a positive intensity; `None` (no room) otherwise.
pub fn room_target_db(d: &Descriptor, intensity: f32) -> Option<f32> {
    if intensity <= 0.0 {
        return None;
    }
    let base = d.absolute.unwrap_or(-12.0);
    Some(base + d.per_unit.unwrap_or(6.0) * intensity.log2())
}

/// The ratio a reduction term (clicks, clipping) must reach: at most `1 − margin` of
/// the input.
fn reduce_target(input: f32, margin: f32) -> f32 {
    input * (1.0 - margin)
}

/// A token of the prompt.
#[derive(Clone, Debug, PartialEq)]
enum Item {
    Intensity(f32),
    More,
    Less,
    Absent,
    Limit,
    Complaint,
    Break,
    And,
    Repair,
    Request,
    Descriptor { word: String, comparative: bool },
    Phrase(usize),
    Number(f32),
    Other(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Polarity {
    More,
    Less,
    Absent,
    Limit,
    Complaint,
}

/// The prompt reader: built once from a [`Descriptors`] table.
#[derive(Clone, Debug)]
pub struct Reader {
    table: Descriptors,
    /// Word sequences → item, longest first.
    patterns: Vec<(Vec<String>, Item)>,
}

fn split(text: &str) -> Vec<String> {
    crate::words(text)
}

impl Reader {
    /// A reader for `table`.
    pub fn new(table: Descriptors) -> Reader {
        let mut patterns: Vec<(Vec<String>, Item)> = Vec::new();
        let r: &Reading = &table.reading;
        let mut add = |text: &str, item: Item| {
            let w = split(text);
            if !w.is_empty() && !patterns.iter().any(|(p, _)| *p == w) {
                patterns.push((w, item));
            }
        };
        // Phrases and multi-word reading words first among equals: a longer pattern
        // always wins, and for equal words the first added wins.
        for (i, p) in table.phrases.iter().enumerate() {
            for w in &p.words {
                add(w, Item::Phrase(i));
            }
        }
        for w in &r.limit {
            add(w, Item::Limit);
        }
        for w in &r.absent {
            add(w, Item::Absent);
        }
        for w in &r.complaint {
            add(w, Item::Complaint);
        }
        for w in &r.repair {
            add(w, Item::Repair);
        }
        for w in &r.more {
            add(w, Item::More);
        }
        for w in &r.less {
            add(w, Item::Less);
        }
        for w in &r.request {
            add(w, Item::Request);
        }
        for (w, i) in &r.intensity {
            add(w, Item::Intensity(*i));
        }
        for w in &r.clause_breaks {
            add(w, Item::Break);
        }
        for d in table.descriptors.iter().filter(|d| !d.internal) {
            for f in d.all_forms() {
                add(
                    f,
                    Item::Descriptor {
                        word: d.word.clone(),
                        comparative: d.comparative.iter().any(|c| c == f),
                    },
                );
            }
        }
        add("and", Item::And);
        add("or", Item::And);
        add("&", Item::And);
        patterns.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Reader { table, patterns }
    }

    /// The reader of the shipped table.
    ///
    /// # Errors
    /// Only if the shipped table is broken (a test guards against that).
    pub fn embedded() -> Result<Reader, crate::VocabularyError> {
        Ok(Reader::new(Descriptors::embedded()?))
    }

    /// The table.
    pub fn table(&self) -> &Descriptors {
        &self.table
    }

    /// Splits `text` into items: punctuation that ends a clause becomes a break,
    /// numbers are parsed, the longest known pattern wins.
    fn items(&self, text: &str) -> Vec<Item> {
        // Words with clause-ending punctuation kept as their own tokens.
        let mut toks: Vec<String> = Vec::new();
        for chunk in text.to_lowercase().split(|c: char| c.is_whitespace()) {
            let mut cur = String::new();
            for c in chunk.chars() {
                if matches!(c, ',' | ';' | '.' | '!' | '?' | ':')
                    && !(c == '.' && cur.chars().last().is_some_and(|p| p.is_ascii_digit()))
                {
                    if !cur.is_empty() {
                        toks.extend(split(&cur));
                        cur.clear();
                    }
                    toks.push(",".into());
                } else {
                    cur.push(c);
                }
            }
            if !cur.is_empty() {
                // Keep numbers with a sign or decimal point whole ("-16", "+3.5").
                let t = cur.trim_matches(|c: char| {
                    !(c.is_alphanumeric() || c == '-' || c == '+' || c == '.')
                });
                if t.parse::<f32>().is_ok() {
                    toks.push(t.to_owned());
                } else {
                    toks.extend(split(&cur));
                }
            }
        }
        let mut items = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if toks[i] == "," {
                items.push(Item::Break);
                i += 1;
                continue;
            }
            if let Ok(n) = toks[i].parse::<f32>() {
                if n.is_finite() {
                    items.push(Item::Number(n));
                    i += 1;
                    continue;
                }
            }
            let hit = self.patterns.iter().find(|(p, _)| {
                p.len() <= toks.len() - i && p.iter().zip(&toks[i..]).all(|(a, b)| a == b)
            });
            match hit {
                Some((p, item)) => {
                    items.push(item.clone());
                    i += p.len();
                }
                None => {
                    items.push(Item::Other(toks[i].clone()));
                    i += 1;
                }
            }
        }
        items
    }

    /// Reads `text` (the sanitizer's output). `vague` is the sanitizer's verdict that
    /// the prompt said nothing concrete: the intent is then a repair with the default
    /// loudness.
    pub fn read(&self, text: &str, vague: bool) -> Intent {
        let t = &self.table;
        let r = &t.reading;
        let mut said: Vec<Term> = Vec::new();
        let mut repair = vague;
        let mut lufs_asked: Option<f32> = None;
        let mut combo_lufs: Option<(f32, String)> = None;
        let mut unsupported: Vec<String> = Vec::new();

        #[derive(Default)]
        struct State {
            intensity: Option<f32>,
            polarity: Option<(Polarity, bool)>,
            request: bool,
            repair_pending: bool,
            db: Option<f32>,
        }
        let mut s = State::default();
        let items = if vague { Vec::new() } else { self.items(text) };
        let mut k = 0;
        while k < items.len() {
            match &items[k] {
                Item::Break => {
                    repair |= s.repair_pending;
                    s = State::default();
                }
                Item::And => {
                    if let Some((p, _)) = s.polarity {
                        s.polarity = Some((p, false));
                    }
                }
                Item::Other(_) => {}
                Item::Intensity(x) => s.intensity = Some(s.intensity.map_or(*x, |y| y.max(*x))),
                Item::More => s.polarity = Some((Polarity::More, true)),
                Item::Less => s.polarity = Some((Polarity::Less, true)),
                Item::Absent => s.polarity = Some((Polarity::Absent, true)),
                Item::Limit => s.polarity = Some((Polarity::Limit, true)),
                Item::Complaint => s.polarity = Some((Polarity::Complaint, true)),
                Item::Request => s.request = true,
                Item::Repair => s.repair_pending = true,
                Item::Number(n) => {
                    let unit = match items.get(k + 1) {
                        Some(Item::Other(u)) => u.as_str(),
                        _ => "",
                    };
                    match unit {
                        "lufs" | "lkfs" => {
                            lufs_asked = Some(*n);
                            k += 1;
                        }
                        "db" | "lu" => {
                            s.db = Some(n.abs());
                            if *n < 0.0 {
                                s.polarity = Some((Polarity::Less, true));
                            }
                            k += 1;
                        }
                        _ => {}
                    }
                }
                Item::Phrase(i) => {
                    let scale = s.intensity.unwrap_or(1.0);
                    for (w, x) in &t.phrases[*i].terms {
                        said.push(Term {
                            descriptor: w.clone(),
                            intensity: x * scale,
                            mode: Mode::Relative,
                        });
                    }
                    s.intensity = None;
                    s.db = None;
                    s.repair_pending = false;
                }
                Item::Descriptor { word, comparative } => {
                    let Some(d) = t.descriptor(word) else {
                        k += 1;
                        continue;
                    };
                    // A band name moves nothing without a direction word of its own.
                    if d.object && !matches!(s.polarity, Some((_, true))) {
                        k += 1;
                        continue;
                    }
                    let mut intensity = s.intensity.unwrap_or(1.0);
                    if let (Some(db), Some(pu)) = (s.db, d.per_unit) {
                        if d.quantity
                            .as_deref()
                            .and_then(|q| t.quantity(q))
                            .is_some_and(|q| q.kind != QuantityKind::Room)
                        {
                            intensity = db / pu;
                        }
                    }
                    let (sign, mode) = match s.polarity {
                        Some((Polarity::More, _)) => (1.0, Mode::Relative),
                        Some((Polarity::Less, immediate)) => {
                            if *comparative && !immediate {
                                (1.0, Mode::Relative)
                            } else {
                                (-1.0, Mode::Relative)
                            }
                        }
                        Some((Polarity::Absent, _)) => {
                            intensity = r.absent_intensity;
                            (-1.0, Mode::Relative)
                        }
                        Some((Polarity::Limit, _)) => {
                            intensity = r.limit_intensity;
                            (-1.0, Mode::Relative)
                        }
                        Some((Polarity::Complaint, _)) => (-1.0, Mode::Relative),
                        None if s.repair_pending && d.defect => (-1.0, Mode::Relative),
                        None if *comparative => (1.0, Mode::Relative),
                        None if d.defect && !s.request => (-1.0, Mode::Relative),
                        None => (1.0, Mode::Absolute),
                    };
                    if s.repair_pending && d.defect {
                        s.repair_pending = false;
                    }
                    said.push(Term {
                        descriptor: d.word.clone(),
                        intensity: sign * intensity,
                        mode,
                    });
                    s.intensity = None;
                    s.db = None;
                    if let Some((p, _)) = s.polarity {
                        s.polarity = Some((p, false));
                    }
                }
            }
            k += 1;
        }
        repair |= s.repair_pending;

        let said = merge(said);
        // Expand combinations; collect their repair and loudness.
        let mut terms = Vec::new();
        for term in &said {
            let Some(d) = t.descriptor(&term.descriptor) else {
                continue;
            };
            if d.is_combination() {
                if term.intensity > 0.0 {
                    repair |= d.repair;
                    if let Some(l) = d.lufs {
                        combo_lufs = Some((l, d.word.clone()));
                    }
                }
                for (w, x) in &d.terms {
                    terms.push(Term {
                        descriptor: w.clone(),
                        intensity: x * term.intensity,
                        mode: term.mode,
                    });
                }
            } else {
                terms.push(term.clone());
            }
        }
        let mut terms = merge(terms);
        terms.retain(|term| {
            let Some(d) = t.descriptor(&term.descriptor) else {
                return false;
            };
            if term.intensity > 0.0 && !d.supported_positive {
                let q = d
                    .quantity
                    .as_deref()
                    .and_then(|q| t.quantity(q))
                    .map_or(d.word.as_str(), |q| q.name.as_str());
                unsupported.push(format!(
                    "\"{}\": Faurge can take {q} away but cannot add it, so this was ignored",
                    d.word
                ));
                return false;
            }
            term.intensity != 0.0
        });
        let any_absolute = terms.iter().any(|x| x.mode == Mode::Absolute);
        let loudness = resolve_loudness(t, &terms, lufs_asked, combo_lufs, any_absolute || repair);
        Intent {
            said: said.into_iter().filter(|x| x.intensity != 0.0).collect(),
            terms,
            loudness,
            repair,
            unsupported,
        }
    }
}

/// Sums terms of the same descriptor and mode, keeping first-seen order; clamps to
/// ±[`MAX_INTENSITY`].
fn merge(terms: Vec<Term>) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    for t in terms {
        match out
            .iter_mut()
            .find(|o| o.descriptor == t.descriptor && o.mode == t.mode)
        {
            Some(o) => o.intensity += t.intensity,
            None => out.push(t),
        }
    }
    for o in &mut out {
        o.intensity = o.intensity.clamp(-MAX_INTENSITY, MAX_INTENSITY);
    }
    out
}

fn resolve_loudness(
    t: &Descriptors,
    terms: &[Term],
    asked: Option<f32>,
    combo: Option<(f32, String)>,
    absolute: bool,
) -> LoudnessGoal {
    let l: &LoudnessTable = &t.loudness;
    let clamp = |v: f32| v.clamp(l.min_lufs, l.max_lufs);
    if let Some(v) = asked {
        return LoudnessGoal::Target {
            lufs: clamp(v),
            source: "asked".into(),
        };
    }
    let mut relative = 0.0f32;
    let mut target: Option<(f32, String)> = None;
    for term in terms {
        let Some(d) = t.descriptor(&term.descriptor) else {
            continue;
        };
        if d.quantity
            .as_deref()
            .and_then(|q| t.quantity(q))
            .map(|q| q.kind)
            != Some(QuantityKind::Loudness)
        {
            continue;
        }
        let sign = f32::from(d.sign.unwrap_or(1));
        let per_unit = d.per_unit.unwrap_or(l.relative_lu_per_unit);
        match (term.mode, d.absolute) {
            (Mode::Absolute, Some(a)) if term.intensity > 0.0 => {
                target = Some((a + sign * per_unit * (term.intensity - 1.0), d.word.clone()));
            }
            _ => relative += sign * per_unit * term.intensity,
        }
    }
    if let Some((v, w)) = target {
        return LoudnessGoal::Target {
            lufs: clamp(v + relative),
            source: w,
        };
    }
    if relative != 0.0 {
        return LoudnessGoal::Relative { lu: relative };
    }
    if let Some((v, w)) = combo {
        return LoudnessGoal::Target {
            lufs: clamp(v),
            source: w,
        };
    }
    if absolute {
        return LoudnessGoal::Target {
            lufs: l.default_lufs,
            source: "default".into(),
        };
    }
    LoudnessGoal::Keep
}

/// A signed number with a true minus sign: "+1", "−0.5".
pub fn signed(x: f32) -> String {
    let v = (x * 100.0).round() / 100.0;
    let body = format!("{}", v.abs());
    if v < 0.0 {
        format!("\u{2212}{body}")
    } else {
        format!("+{body}")
    }
}

impl Intent {
    /// The label of one term as the user reads it: "warmer +1", "less boomy −1",
    /// "radio +1", "not bright −1".
    pub fn label(table: &Descriptors, term: &Term) -> String {
        let d = table.descriptor(&term.descriptor);
        let word = term.descriptor.as_str();
        let name = match (term.mode, term.intensity > 0.0) {
            // "warmer" where the comparative is the word's own; else "more compressed".
            (Mode::Relative, true) => d
                .and_then(|d| {
                    let stem: String = word.chars().take(4).collect();
                    d.comparative.iter().find(|c| c.starts_with(&stem)).cloned()
                })
                .unwrap_or_else(|| format!("more {word}")),
            (Mode::Relative, false) => format!("less {word}"),
            (Mode::Absolute, true) => word.to_owned(),
            (Mode::Absolute, false) => format!("not {word}"),
        };
        format!("{name} {}", signed(term.intensity))
    }

    /// What was understood, in one line: "warmer +1, less sibilant −1, target −16 LUFS".
    pub fn summary(&self, table: &Descriptors) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.repair {
            parts.push("repair the recording".into());
        }
        parts.extend(
            self.said
                .iter()
                .filter(|t| !is_loudness(table, t))
                .map(|t| Intent::label(table, t)),
        );
        parts.push(match &self.loudness {
            LoudnessGoal::Keep => "loudness kept".into(),
            LoudnessGoal::Relative { lu } => format!("loudness {} LU", signed(*lu)),
            LoudnessGoal::Target { lufs, source } if source == "default" => {
                format!("target {} LUFS (default)", signed(*lufs).replace('+', ""))
            }
            LoudnessGoal::Target { lufs, .. } => {
                format!("target {} LUFS", signed(*lufs).replace('+', ""))
            }
        });
        parts.join(", ")
    }

    /// Width of [`Intent::vector`] for `table`: two values per quantity, four for
    /// loudness and repair.
    pub fn vector_len(table: &Descriptors) -> usize {
        2 * table.quantities.len() + 4
    }

    /// The intent as a fixed-size vector (what the text encoder's probe learns to
    /// recover): per quantity of `table`, in order, the summed signed intensity of its
    /// relative terms and of its absolute terms (in units, the quantity's own
    /// direction: "less warm" is −1 on warmth); then loudness kept (0/1), the target
    /// as `(LUFS − default) / 10` (0 without one), the relative change in LU / 6, and
    /// the repair flag (0/1).
    pub fn vector(&self, table: &Descriptors) -> Vec<f32> {
        let q = table.quantities.len();
        let mut v = vec![0.0f32; 2 * q + 4];
        for t in &self.terms {
            let Some(d) = table.descriptor(&t.descriptor) else {
                continue;
            };
            let Some(i) = d
                .quantity
                .as_deref()
                .and_then(|id| table.quantities.iter().position(|x| x.id == id))
            else {
                continue;
            };
            let slot = if t.mode == Mode::Relative {
                2 * i
            } else {
                2 * i + 1
            };
            v[slot] += f32::from(d.sign.unwrap_or(1)) * t.intensity;
        }
        match &self.loudness {
            LoudnessGoal::Keep => v[2 * q] = 1.0,
            LoudnessGoal::Target { lufs, .. } => {
                v[2 * q + 1] = (lufs - table.loudness.default_lufs) / 10.0
            }
            LoudnessGoal::Relative { lu } => v[2 * q + 2] = lu / 6.0,
        }
        v[2 * q + 3] = if self.repair { 1.0 } else { 0.0 };
        v
    }

    /// Whether every term is relative and no repair or loudness target is asked.
    pub fn is_relative(&self) -> bool {
        !self.repair && self.terms.iter().all(|t| t.mode == Mode::Relative)
    }

    /// The measurable goals of this intent for an input measured as `input`: one per
    /// quantity the terms move (summed per quantity), plus loudness whenever the input
    /// loudness is known. Balances the input cannot be measured in are skipped.
    pub fn goals(&self, table: &Descriptors, input: &Measured) -> Vec<Goal> {
        use std::collections::BTreeMap;
        // quantity → (relative change, absolute units, labels)
        let mut by_q: BTreeMap<String, (f32, f32, Option<f32>, Vec<String>)> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for term in &self.terms {
            let Some(d) = table.descriptor(&term.descriptor) else {
                continue;
            };
            let Some(qid) = d.quantity.clone() else {
                continue;
            };
            let Some(q) = table.quantity(&qid) else {
                continue;
            };
            if q.kind == QuantityKind::Loudness {
                continue;
            }
            let sign = f32::from(d.sign.unwrap_or(1));
            let pu = d.per_unit.unwrap_or(0.0);
            if !order.contains(&qid) {
                order.push(qid.clone());
            }
            let e = by_q.entry(qid).or_insert((0.0, 0.0, None, Vec::new()));
            e.3.push(Intent::label(table, term));
            if q.kind == QuantityKind::Room {
                // Rooms: the strongest positive request sets the ratio; a negative one asks for none.
                let want = room_target_db(d, sign * term.intensity);
                e.2 = match (e.2, want) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                if sign * term.intensity <= 0.0 {
                    e.1 -= 1.0;
                } else {
                    e.1 += 1.0;
                }
                continue;
            }
            match term.mode {
                Mode::Absolute if !d.relative_only => e.1 += sign * term.intensity,
                _ => e.0 += sign * pu * term.intensity,
            }
        }
        let mut goals = Vec::new();
        for qid in order {
            let (rel, abs, room, because) = by_q.remove(&qid).unwrap_or_default();
            let Some(q) = table.quantity(&qid) else {
                continue;
            };
            let value_in = input.value(&qid, q.kind);
            let goal = match q.kind {
                QuantityKind::Balance => {
                    let Some(v) = value_in else { continue };
                    let pu = table
                        .positive_word(&qid)
                        .and_then(|d| d.per_unit)
                        .unwrap_or(3.0);
                    if rel != 0.0 || abs == 0.0 {
                        let value = v + rel + pu * abs;
                        Some((GoalKind::Exactly, value, value - v))
                    } else {
                        let reference = q.reference.unwrap_or(0.0);
                        let value = reference + pu * abs;
                        if abs > 0.0 {
                            Some((GoalKind::AtLeast, value, (value - v).max(0.0)))
                        } else {
                            Some((GoalKind::AtMost, value, (value - v).min(0.0)))
                        }
                    }
                }
                QuantityKind::Crest => {
                    let Some(v) = value_in else { continue };
                    let change = rel + abs_crest(table, &self.terms);
                    Some((GoalKind::Exactly, v + change, change))
                }
                QuantityKind::Snr => {
                    let Some(v) = value_in else { continue };
                    if rel > 0.0 {
                        Some((GoalKind::AtLeast, v + rel, rel))
                    } else if abs > 0.0 {
                        let target = table
                            .positive_word(&qid)
                            .and_then(|d| d.absolute)
                            .unwrap_or(40.0);
                        Some((GoalKind::AtLeast, target, (target - v).max(0.0)))
                    } else {
                        None
                    }
                }
                QuantityKind::Clicks | QuantityKind::Clipping => {
                    let Some(v) = value_in else { continue };
                    if rel < 0.0 || abs < 0.0 {
                        let target = reduce_target(v, q.margin);
                        Some((GoalKind::AtMost, target, target - v))
                    } else {
                        None
                    }
                }
                QuantityKind::Room => match room {
                    Some(db) if abs > 0.0 => Some((GoalKind::Exactly, db, 0.0)),
                    _ => Some((GoalKind::AtMost, NO_ROOM_DB, 0.0)),
                },
                QuantityKind::Loudness => None,
            };
            if let Some((kind, value, change)) = goal {
                goals.push(Goal {
                    quantity: qid.clone(),
                    kind,
                    value,
                    input: if q.kind == QuantityKind::Room {
                        None
                    } else {
                        value_in
                    },
                    change,
                    because,
                });
            }
        }
        if let (Some(l), Some(q)) = (
            input.lufs,
            table
                .quantities
                .iter()
                .find(|q| q.kind == QuantityKind::Loudness),
        ) {
            let target = self.loudness.target_lufs(l);
            goals.push(Goal {
                quantity: q.id.clone(),
                kind: GoalKind::Exactly,
                value: target,
                input: Some(l),
                change: target - l,
                because: vec![match &self.loudness {
                    LoudnessGoal::Keep => "loudness kept".into(),
                    LoudnessGoal::Relative { lu } => format!("loudness {} LU", signed(*lu)),
                    LoudnessGoal::Target { source, .. } => format!("loudness target ({source})"),
                }],
            });
        }
        goals
    }
}

/// The reverberant-to-direct ratio the loop treats as "no room added", dB.
pub const NO_ROOM_DB: f32 = -40.0;

/// The crest-factor change of absolute dynamics terms (treated as relative: a plain
/// "punchy" asks for one unit of compression from the input).
fn abs_crest(table: &Descriptors, terms: &[Term]) -> f32 {
    terms
        .iter()
        .filter(|t| t.mode == Mode::Absolute)
        .filter_map(|t| {
            let d = table.descriptor(&t.descriptor)?;
            let q = table.quantity(d.quantity.as_deref()?)?;
            (q.kind == QuantityKind::Crest)
                .then(|| f32::from(d.sign.unwrap_or(1)) * d.per_unit.unwrap_or(0.0) * t.intensity)
        })
        .sum()
}

fn is_loudness(table: &Descriptors, t: &Term) -> bool {
    table
        .descriptor(&t.descriptor)
        .and_then(|d| d.quantity.as_deref())
        .and_then(|q| table.quantity(q))
        .is_some_and(|q| q.kind == QuantityKind::Loudness)
}
