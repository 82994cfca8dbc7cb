//! The held-out prompt set (`eval/prompts.toml`) and how a result is judged against
//! a prompt's expectations: moved the asked way by a clear margin (the quantity's
//! `margin` in the descriptor table), loudness on its target, a room added or not.

use serde::{Deserialize, Serialize};

use faurge_vocabulary::descriptors::{Descriptors, QuantityKind};
use faurge_vocabulary::intent::{Goal, GoalKind, Measured, NO_ROOM_DB};

/// The held-out prompt set, embedded.
pub const PROMPTS: &str = include_str!("../prompts.toml");

/// A room counts as added when the applied impulse response's
/// reverberant-to-direct ratio is above this, dB.
pub const ROOM_ADDED_DB: f32 = -25.0;
/// A loudness target is met within this, LU.
pub const LOUDNESS_TOLERANCE_LU: f32 = 1.0;

/// One measurable expectation of a prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expect {
    /// The quantity rises (`"warmth+"`).
    Up(String),
    /// The quantity falls (`"boom-"`).
    Down(String),
    /// Loudness within 1 LU of this, LUFS (`"loudness=-16"`).
    Loudness(f32),
    /// Loudness within 1 LU of the input's (`"loudness=in"`).
    LoudnessKept,
    /// The prompt asks for a repair (`"repair"`): judged on damaged input, closer to
    /// the clean original.
    Repair,
}

impl Expect {
    fn parse(s: &str) -> Option<Expect> {
        if s == "repair" {
            return Some(Expect::Repair);
        }
        if let Some(v) = s.strip_prefix("loudness=") {
            return if v == "in" {
                Some(Expect::LoudnessKept)
            } else {
                v.parse().ok().map(Expect::Loudness)
            };
        }
        if let Some(q) = s.strip_suffix('+') {
            return Some(Expect::Up(q.to_owned()));
        }
        s.strip_suffix('-').map(|q| Expect::Down(q.to_owned()))
    }

    /// The quantity judged (`loudness` for the loudness forms, `repair` for a repair).
    pub fn quantity(&self) -> &str {
        match self {
            Expect::Up(q) | Expect::Down(q) => q,
            Expect::Loudness(_) | Expect::LoudnessKept => "loudness",
            Expect::Repair => "repair",
        }
    }
}

/// One prompt of the set.
#[derive(Clone, Debug)]
pub struct Case {
    /// As a user types it.
    pub text: String,
    /// single, comparative, negation, intensity, combination, slang, typo, vague, absolute.
    pub kind: String,
    /// What it asks for.
    pub expect: Vec<Expect>,
}

/// An intensity triple: the measured change must grow from `low` to `high`.
#[derive(Clone, Debug, Deserialize)]
pub struct Triple {
    /// "a touch …".
    pub low: String,
    /// The plain prompt.
    pub mid: String,
    /// "much more …".
    pub high: String,
    /// The quantity.
    pub quantity: String,
    /// `+` or `-`.
    pub direction: String,
}

#[derive(Deserialize)]
struct File {
    prompt: Vec<RawCase>,
    #[serde(default)]
    triple: Vec<Triple>,
}

#[derive(Deserialize)]
struct RawCase {
    text: String,
    kind: String,
    expect: Vec<String>,
}

/// The prompt set.
pub fn load() -> anyhow::Result<(Vec<Case>, Vec<Triple>)> {
    let f: File = toml::from_str(PROMPTS)?;
    let mut cases = Vec::new();
    for r in f.prompt {
        let expect = r
            .expect
            .iter()
            .map(|e| {
                Expect::parse(e).ok_or_else(|| {
                    anyhow::anyhow!(
                        "prompts.toml: \"{e}\" of \"{}\" is not an expectation",
                        r.text
                    )
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        cases.push(Case {
            text: r.text,
            kind: r.kind,
            expect,
        });
    }
    Ok((cases, f.triple))
}

/// The value of quantity `q` in `m` (the room: `room_db`).
pub fn value(table: &Descriptors, q: &str, m: &Measured, room_db: Option<f32>) -> Option<f32> {
    let quantity = table.quantity(q)?;
    match quantity.kind {
        QuantityKind::Room => Some(room_db.unwrap_or(NO_ROOM_DB - 60.0)),
        k => m.value(q, k),
    }
}

/// Whether a result fulfils one expectation: `input`/`output` are the measured
/// quantities, `room_db` the added room of the result, `goals` the goals the prompt
/// reader set (an absolute goal the input already meets needs no change: it counts
/// as fulfilled when the output still meets it). `None` when the quantity cannot be
/// measured on this recording (a balance above its bandwidth) or the expectation is
/// judged elsewhere ([`Expect::Repair`]).
///
/// Margins: the descriptor table's `margin` of the quantity (1 dB for balances and
/// crest factor, 3 dB for the room and SNR, 1 LU loudness); for clicks and clipping a
/// fall by at least half, unless the input had none to speak of (clicks: at or under
/// the table's `reference`, the detector's rate on clean speech; clipping: 10⁻⁴).
pub fn fulfils(
    table: &Descriptors,
    e: &Expect,
    goals: &[Goal],
    input: &Measured,
    output: &Measured,
    room_db: Option<f32>,
) -> Option<bool> {
    match e {
        Expect::Repair => None,
        Expect::Loudness(t) => Some((output.lufs? - t).abs() <= LOUDNESS_TOLERANCE_LU),
        Expect::LoudnessKept => Some((output.lufs? - input.lufs?).abs() <= LOUDNESS_TOLERANCE_LU),
        Expect::Up(q) | Expect::Down(q) => {
            let up = matches!(e, Expect::Up(_));
            let quantity = table.quantity(q)?;
            let margin = quantity.margin;
            match quantity.kind {
                QuantityKind::Room => {
                    let added = room_db.is_some_and(|r| r > ROOM_ADDED_DB);
                    Some(added == up)
                }
                QuantityKind::Clicks | QuantityKind::Clipping => {
                    let (i, o) = (
                        value(table, q, input, None)?,
                        value(table, q, output, None)?,
                    );
                    // Clicks: the detector's rate on clean speech is no clicks.
                    let negligible = if quantity.kind == QuantityKind::Clicks {
                        quantity.reference.unwrap_or(0.0)
                    } else {
                        1e-4
                    };
                    Some(if up {
                        o > i
                    } else if i <= negligible {
                        o <= negligible.max(i)
                    } else {
                        o <= i * (1.0 - margin)
                    })
                }
                _ => {
                    let (i, o) = (
                        value(table, q, input, None)?,
                        value(table, q, output, None)?,
                    );
                    // An absolute goal the input already meets asks for no change.
                    if let Some(g) = goals.iter().find(|g| g.quantity == *q) {
                        let satisfied = match g.kind {
                            GoalKind::AtLeast => up && i >= g.value,
                            GoalKind::AtMost => !up && i <= g.value,
                            GoalKind::Exactly => false,
                        };
                        if satisfied {
                            return Some(g.met_by(o, margin));
                        }
                    }
                    // Speech that is already clean cannot get much cleaner.
                    if quantity.kind == QuantityKind::Snr && up && i >= 40.0 {
                        return Some(o >= i - margin);
                    }
                    let moved = o - i;
                    Some(if up {
                        moved >= margin
                    } else {
                        moved <= -margin
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faurge_vocabulary::intent::Reader;

    #[test]
    fn the_set_is_large_and_parses() {
        let (cases, triples) = load().unwrap();
        assert!(cases.len() >= 150, "{}", cases.len());
        assert!(triples.len() >= 10);
        for kind in [
            "single",
            "comparative",
            "negation",
            "intensity",
            "combination",
            "slang",
            "typo",
            "vague",
        ] {
            assert!(cases.iter().any(|c| c.kind == kind), "no {kind} prompts");
        }
    }

    #[test]
    fn clicks_at_the_clean_speech_rate_count_as_none() {
        let r = Reader::embedded().unwrap();
        let t = r.table();
        let clean_rate = t.quantity("clicks").unwrap().reference.unwrap();
        let rate = |c: f32| Measured {
            clicks_per_s: Some(c),
            ..Measured::default()
        };
        let down = Expect::Down("clicks".into());
        let judge = |i: f32, o: f32| fulfils(t, &down, &[], &rate(i), &rate(o), None);
        // A plosive the detector reads on clean speech, left as it was: no clicks.
        assert_eq!(judge(0.5 * clean_rate, 0.5 * clean_rate), Some(true));
        // Clean input made clicky: missed.
        assert_eq!(judge(0.5 * clean_rate, 2.0 * clean_rate), Some(false));
        // Real clicks must fall by half.
        assert_eq!(judge(4.0, 2.1), Some(false));
        assert_eq!(judge(4.0, 1.9), Some(true));
    }

    #[test]
    fn expectations_are_judged_with_margins() {
        let r = Reader::embedded().unwrap();
        let t = r.table();
        let input = Measured {
            balances: vec![("warmth".into(), 10.0)],
            lufs: Some(-20.0),
            ..Measured::default()
        };
        let goals = r.read("warmer", false).goals(t, &input);
        let out = |w: f32, l: f32| Measured {
            balances: vec![("warmth".into(), w)],
            lufs: Some(l),
            ..Measured::default()
        };
        let up = Expect::Up("warmth".into());
        assert_eq!(
            fulfils(t, &up, &goals, &input, &out(11.2, -20.0), None),
            Some(true)
        );
        assert_eq!(
            fulfils(t, &up, &goals, &input, &out(10.5, -20.0), None),
            Some(false)
        );
        assert_eq!(
            fulfils(
                t,
                &Expect::LoudnessKept,
                &goals,
                &input,
                &out(10.0, -20.8),
                None
            ),
            Some(true)
        );
        assert_eq!(
            fulfils(
                t,
                &Expect::Loudness(-16.0),
                &goals,
                &input,
                &out(10.0, -20.0),
                None
            ),
            Some(false)
        );
        assert_eq!(
            fulfils(
                t,
                &Expect::Up("air".into()),
                &goals,
                &input,
                &out(10.0, -20.0),
                None
            ),
            None
        );
        // An absolute goal the input already meets.
        let warm = Measured {
            balances: vec![("warmth".into(), 30.0)],
            lufs: Some(-20.0),
            ..Measured::default()
        };
        let g = r.read("a warm voice", false).goals(t, &warm);
        assert_eq!(
            fulfils(
                t,
                &up,
                &g,
                &warm,
                &Measured {
                    balances: vec![("warmth".into(), 30.2)],
                    ..warm.clone()
                },
                None
            ),
            Some(true)
        );
        assert_eq!(
            fulfils(
                t,
                &Expect::Up("room".into()),
                &[],
                &input,
                &input,
                Some(-12.0)
            ),
            Some(true)
        );
        assert_eq!(
            fulfils(t, &Expect::Down("room".into()), &[], &input, &input, None),
            Some(true)
        );
    }
}
