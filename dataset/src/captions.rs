//! Training captions: prompts generated from a grammar over the descriptor table,
//! plus the hand-written paraphrases of `bundle/vocabulary/paraphrases.toml`.
//!
//! A caption is drawn as a plan (which descriptors, which direction, how strong,
//! relative or absolute, a combination, a loudness request, a repair request) and
//! written out with randomly chosen forms, intensity words, direction words,
//! connectors and wrappers ("make it …", "… please", "can you …"). The row's intent
//! is then what the prompt reader ([`faurge_vocabulary::intent::Reader`]) reads from
//! the sanitized caption: the reader is the definition, the grammar only proposes
//! text. A caption whose reading misses a planned descriptor, reads nothing, or
//! equals a prompt of the held-out evaluation set (`eval/prompts.toml`) is drawn
//! again.

use std::collections::BTreeSet;

use faurge_vocabulary::descriptors::{Descriptor, Descriptors, QuantityKind};
use faurge_vocabulary::intent::{Intent, Reader};
use faurge_vocabulary::sanitizer::Sanitizer;
use faurge_vocabulary::Vocabulary;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Deserialize;

/// The held-out evaluation prompts (never used in training).
pub const HELD_OUT: &str = include_str!("../../eval/prompts.toml");
/// The hand-written training paraphrases.
pub const PARAPHRASES: &str = include_str!("../../bundle/vocabulary/paraphrases.toml");

/// Most attempts at drawing one caption before giving up on the plan.
const MAX_ATTEMPTS: usize = 40;

#[derive(Deserialize)]
struct PromptFile {
    #[serde(default)]
    prompt: Vec<PromptEntry>,
    #[serde(default)]
    triple: Vec<Triple>,
}

#[derive(Deserialize)]
struct PromptEntry {
    text: String,
}

#[derive(Deserialize)]
struct Triple {
    low: String,
    mid: String,
    high: String,
}

/// A prompt normalized for comparison: lower-case words joined by single spaces.
pub fn normalized(text: &str) -> String {
    faurge_vocabulary::words(text).join(" ")
}

/// Every prompt of the held-out evaluation set (prompts and triples), normalized.
pub fn held_out() -> BTreeSet<String> {
    let f: PromptFile = toml::from_str(HELD_OUT).unwrap_or(PromptFile {
        prompt: Vec::new(),
        triple: Vec::new(),
    });
    let mut s: BTreeSet<String> = f.prompt.iter().map(|p| normalized(&p.text)).collect();
    for t in &f.triple {
        for p in [&t.low, &t.mid, &t.high] {
            s.insert(normalized(p));
        }
    }
    s
}

/// The hand-written paraphrases (training only).
pub fn paraphrases() -> Vec<String> {
    let f: PromptFile = toml::from_str(PARAPHRASES).unwrap_or(PromptFile {
        prompt: Vec::new(),
        triple: Vec::new(),
    });
    f.prompt.into_iter().map(|p| p.text).collect()
}

/// A caption with its reading.
#[derive(Clone, Debug)]
pub struct Caption {
    /// The prompt as a user would type it.
    pub text: String,
    /// What the sanitizer made of it (what the text encoder reads).
    pub understood: String,
    /// The reader's intent.
    pub intent: Intent,
    /// Whether it came from the hand-written paraphrases.
    pub paraphrase: bool,
}

/// What kind of caption to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// A vague prompt or a repair request alone.
    Repair,
    /// One to three descriptors (possibly a combination), no repair.
    Descriptors,
    /// A repair request with one or two descriptors.
    RepairAnd,
}

/// Draws captions from the grammar and the paraphrases.
pub struct Grammar {
    vocabulary: Vocabulary,
    reader: Reader,
    sanitizer: Sanitizer,
    held_out: BTreeSet<String>,
    paraphrases: Vec<Caption>,
    /// Descriptors a user may say and the chain can give (not internal).
    singles: Vec<Descriptor>,
    combinations: Vec<Descriptor>,
}

fn pick<'a, T>(rng: &mut impl Rng, v: &'a [T]) -> &'a T {
    v.choose(rng).expect("non-empty list")
}

/// Forms that read as nouns ("warmth", "air", "the boom"): what follows "add some",
/// "reduce the".
fn noun_like(form: &str) -> bool {
    const NOUNS: &[&str] = &[
        "air",
        "body",
        "bass",
        "boom",
        "mud",
        "presence",
        "reverb",
        "room",
        "noise",
        "hiss",
        "hum",
        "clicks",
        "sibilance",
        "compression",
        "punch",
        "edge",
        "bite",
        "space",
        "echo",
        "rumble",
        "sparkle",
        "brilliance",
        "clarity",
        "definition",
        "buzz",
        "static",
        "crackle",
        "pops",
        "distortion",
        "clipping",
        "ambience",
        "proximity",
        "plosives",
        "esses",
        "honk",
        "verb",
        "volume",
        "treble",
        "low end",
        "top end",
        "highs",
        "lows",
        "low mids",
        "upper mids",
        "sub",
        "bottom end",
        "high end",
    ];
    NOUNS.contains(&form)
        || ["ness", "th", "ance", "ence", "ity", "ion", "iness"]
            .iter()
            .any(|s| form.ends_with(s) && form.len() > 4)
}

impl Grammar {
    /// A grammar over `vocabulary` (its descriptor table and slang), with the shipped
    /// paraphrases.
    pub fn new(vocabulary: &Vocabulary) -> Grammar {
        let table: Descriptors = vocabulary.descriptors.clone();
        let reader = Reader::new(table.clone());
        let sanitizer = Sanitizer::new(vocabulary);
        let held_out = held_out();
        let singles: Vec<Descriptor> = table
            .descriptors
            .iter()
            .filter(|d| !d.internal && !d.is_combination() && d.supported_positive)
            .cloned()
            .collect();
        let combinations = table
            .descriptors
            .iter()
            .filter(|d| !d.internal && d.is_combination())
            .cloned()
            .collect();
        let mut g = Grammar {
            vocabulary: vocabulary.clone(),
            reader,
            sanitizer,
            held_out,
            paraphrases: Vec::new(),
            singles,
            combinations,
        };
        g.paraphrases = paraphrases()
            .into_iter()
            .filter(|p| !g.held_out.contains(&normalized(p)))
            .filter_map(|p| g.read(&p, true))
            .collect();
        g
    }

    /// The prompt reader the captions are read with.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The paraphrases that read to something (held-out prompts removed).
    pub fn paraphrase_captions(&self) -> &[Caption] {
        &self.paraphrases
    }

    /// Sanitizes and reads `text`; `None` when it reads to nothing at all.
    pub fn read(&self, text: &str, paraphrase: bool) -> Option<Caption> {
        let s = self.sanitizer.sanitize(text);
        let intent = self.reader.read(&s.understood, s.anchor);
        if intent.terms.is_empty()
            && !intent.repair
            && matches!(
                intent.loudness,
                faurge_vocabulary::intent::LoudnessGoal::Keep
            )
        {
            return None;
        }
        Some(Caption {
            text: text.to_owned(),
            understood: s.understood,
            intent,
            paraphrase,
        })
    }

    /// Draws one caption of kind `plan`; with probability `p_paraphrase` a
    /// hand-written paraphrase instead. `allow` filters the single descriptors the
    /// grammar may use (the caller may leave out what its targets cannot render).
    pub fn draw(
        &self,
        rng: &mut impl Rng,
        plan: Plan,
        p_paraphrase: f64,
        allow: &dyn Fn(&Descriptor) -> bool,
    ) -> Caption {
        if !self.paraphrases.is_empty() && rng.gen_bool(p_paraphrase) {
            let fitting: Vec<&Caption> = self
                .paraphrases
                .iter()
                .filter(|c| {
                    (plan == Plan::Repair) == (c.intent.repair && c.intent.terms.is_empty())
                })
                .filter(|c| {
                    c.intent.terms.iter().all(|t| {
                        self.reader
                            .table()
                            .descriptor(&t.descriptor)
                            .is_some_and(allow)
                    })
                })
                .collect();
            if let Some(c) = fitting.choose(rng) {
                return (*c).clone();
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let (text, planned) = self.compose(rng, plan, allow);
            if self.held_out.contains(&normalized(&text)) {
                continue;
            }
            let Some(c) = self.read(&text, false) else {
                continue;
            };
            let read: BTreeSet<&str> = c
                .intent
                .said
                .iter()
                .map(|t| t.descriptor.as_str())
                .collect();
            if planned.iter().all(|p| read.contains(p.as_str()))
                && c.intent.unsupported.is_empty()
                && c.intent.terms.iter().all(|t| {
                    self.reader
                        .table()
                        .descriptor(&t.descriptor)
                        .is_some_and(allow)
                })
            {
                return c;
            }
        }
        // The anchor always reads (a vague prompt).
        self.read(&self.vocabulary.vague_prompts[0], false)
            .expect("a vague prompt reads as a repair")
    }

    /// Writes a plan as text; returns the text and the descriptor words it plans.
    fn compose(
        &self,
        rng: &mut impl Rng,
        plan: Plan,
        allow: &dyn Fn(&Descriptor) -> bool,
    ) -> (String, Vec<String>) {
        let singles: Vec<&Descriptor> = self.singles.iter().filter(|d| allow(d)).collect();
        let mut planned = Vec::new();
        let repair_text = || -> Vec<&str> {
            vec![
                "fix my mic",
                "fix it",
                "clean it up",
                "fix the audio",
                "repair this",
                "clean this up",
                "make it sound better",
                "improve it",
                "sort out my mic",
                "restore it",
            ]
        };
        if plan == Plan::Repair {
            let r = rng.gen_range(0..3);
            let text = match r {
                0 => pick(rng, &self.vocabulary.vague_prompts).clone(),
                1 => pick(rng, &repair_text()).to_string(),
                _ => format!(
                    "{} {}",
                    pick(rng, &["please", "can you", "just", "hey,"]),
                    pick(rng, &repair_text())
                ),
            };
            return (text, planned);
        }
        let n_terms = match rng.gen_range(0..10) {
            0..=4 => 1,
            5..=8 => 2,
            _ => 3,
        };
        let mut pieces: Vec<String> = Vec::new();
        let mut used: BTreeSet<String> = BTreeSet::new();
        for k in 0..n_terms {
            // A combination now and then, at most one per caption.
            if k == 0 && !self.combinations.is_empty() && rng.gen_bool(0.2) {
                let d = pick(rng, &self.combinations);
                if d.terms
                    .iter()
                    .all(|(w, _)| self.reader.table().descriptor(w).is_some_and(allow))
                {
                    let form = pick(rng, &d.all_forms().collect::<Vec<_>>()).to_string();
                    let text = match rng.gen_range(0..6) {
                        0 => format!("a {form} voice"),
                        1 => format!("make it sound like a {form}"),
                        2 => format!("{form} style"),
                        3 => format!("{form} sound"),
                        4 => format!("like a {form}"),
                        _ => form.clone(),
                    };
                    planned.push(d.word.clone());
                    used.insert(d.word.clone());
                    pieces.push(text);
                    continue;
                }
            }
            let Some(d) = singles.choose(rng) else { break };
            if !used.insert(d.word.clone()) {
                continue;
            }
            planned.push(d.word.clone());
            pieces.push(self.term_text(rng, d));
        }
        // Loudness now and then.
        if rng.gen_bool(0.15) {
            let lufs = [-23, -20, -19, -18, -16, -14, -12][rng.gen_range(0..7)];
            pieces.push(match rng.gen_range(0..3) {
                0 => format!("at {lufs} LUFS"),
                1 => format!("{lufs} lufs"),
                _ => format!("normalized to {lufs} LUFS"),
            });
        }
        let mut text = String::new();
        for (i, p) in pieces.iter().enumerate() {
            if i > 0 {
                let sep: &&str = pick(rng, &[", ", " and ", " but ", ", and ", " and also "]);
                text.push_str(sep);
            }
            text.push_str(p);
        }
        if plan == Plan::RepairAnd {
            text = match rng.gen_range(0..3) {
                0 => format!("{} and {text}", pick(rng, &repair_text())),
                1 => format!("{}, {text}", pick(rng, &repair_text())),
                _ => format!("{text}, and {}", pick(rng, &repair_text())),
            };
        } else {
            text = match rng.gen_range(0..10) {
                0 => format!("{text} please"),
                1 => format!("can you make it {text}"),
                2 => format!("I want it {text}"),
                3 => format!("make my voice {text}"),
                4 => format!("{text}, thanks"),
                _ => text,
            };
        }
        (text, planned)
    }

    /// One descriptor as a phrase: direction, intensity and form drawn at random.
    fn term_text(&self, rng: &mut impl Rng, d: &Descriptor) -> String {
        let r = &self.reader.table().reading;
        let soft: Vec<&str> = r
            .intensity
            .iter()
            .filter(|(_, x)| *x < 1.0)
            .map(|(w, _)| w.as_str())
            .collect();
        let strong: Vec<&str> = r
            .intensity
            .iter()
            .filter(|(_, x)| *x > 1.0)
            .map(|(w, _)| w.as_str())
            .collect();
        let intensity = |rng: &mut dyn rand::RngCore| -> String {
            match rng.gen_range(0..4) {
                0 => format!("{} ", soft.choose(rng).copied().unwrap_or("")),
                1 => format!("{} ", strong.choose(rng).copied().unwrap_or("")),
                _ => String::new(),
            }
        };
        let plain: Vec<&str> = d
            .all_forms()
            .filter(|f| !d.comparative.iter().any(|c| c == f))
            .collect();
        let nouns: Vec<&str> = plain.iter().copied().filter(|f| noun_like(f)).collect();
        let form = pick(rng, &plain).to_string();
        let noun = nouns.choose(rng).map_or(form.clone(), |s| s.to_string());
        let balance = self
            .reader
            .table()
            .quantity(d.quantity.as_deref().unwrap_or(""))
            .is_some_and(|q| q.kind == QuantityKind::Balance);
        // Object words (band names) need a direction word.
        let choice = if d.object {
            rng.gen_range(0..2)
        } else {
            rng.gen_range(0..8)
        };
        match choice {
            0 => format!("{}more {noun}", intensity(rng)),
            1 => format!("{}less {noun}", intensity(rng)),
            2 if !d.comparative.is_empty() => {
                format!("{}{}", intensity(rng), pick(rng, &d.comparative))
            }
            3 => format!(
                "{} the {noun}",
                pick(
                    rng,
                    &["reduce", "tame", "cut", "remove", "tone down", "take out"]
                )
            ),
            4 => format!(
                "{} {noun}",
                pick(
                    rng,
                    &[
                        "add some",
                        "add a bit of",
                        "boost the",
                        "a touch more",
                        "bring out the",
                        "give it more"
                    ]
                )
            ),
            5 if d.defect => format!(
                "{}{form}",
                pick(rng, &["too ", "it's too ", "way too ", "it sounds ", ""])
            ),
            5 => format!("not too {form}"),
            6 if balance || !d.defect => format!(
                "{}{form}",
                pick(rng, &["", "very ", "slightly ", "really ", "a bit "])
            ),
            _ => format!(
                "{} {noun}",
                pick(rng, &["no", "without the", "less of the", "a little less"])
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn captions_are_many_distinct_and_never_held_out() {
        let g = Grammar::new(&Vocabulary::embedded().unwrap());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let held = held_out();
        let mut distinct = BTreeSet::new();
        for i in 0..3000 {
            let plan = [
                Plan::Repair,
                Plan::Descriptors,
                Plan::Descriptors,
                Plan::RepairAnd,
            ][i % 4];
            let c = g.draw(&mut rng, plan, 0.1, &|_| true);
            assert!(
                !held.contains(&normalized(&c.text)),
                "{:?} is a held-out prompt",
                c.text
            );
            assert!(
                c.intent.repair
                    || !c.intent.terms.is_empty()
                    || !matches!(
                        c.intent.loudness,
                        faurge_vocabulary::intent::LoudnessGoal::Keep
                    ),
                "{:?}",
                c.text
            );
            distinct.insert(c.text);
        }
        assert!(
            distinct.len() > 1500,
            "only {} distinct captions",
            distinct.len()
        );
    }

    #[test]
    fn no_paraphrase_is_a_held_out_prompt_and_all_read() {
        let held = held_out();
        assert!(held.len() >= 150);
        let all = paraphrases();
        assert!(all.len() >= 80);
        for p in &all {
            assert!(
                !held.contains(&normalized(p)),
                "paraphrase {p:?} is in eval/prompts.toml"
            );
        }
        let g = Grammar::new(&Vocabulary::embedded().unwrap());
        assert_eq!(
            g.paraphrase_captions().len(),
            all.len(),
            "every paraphrase reads to something"
        );
    }
}
