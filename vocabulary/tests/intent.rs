//! The prompt reader on the kinds of prompt users type: single words, comparatives,
//! negations, intensities, combinations, fault words, loudness numbers.

use faurge_vocabulary::descriptors::Descriptors;
use faurge_vocabulary::intent::{GoalKind, Intent, LoudnessGoal, Measured, Mode, Reader};

fn reader() -> Reader {
    Reader::embedded().expect("the shipped descriptor table")
}

/// `(descriptor, intensity, mode)` of the expanded terms, sorted by descriptor.
fn terms(i: &Intent) -> Vec<(String, f32, Mode)> {
    let mut v: Vec<_> = i
        .terms
        .iter()
        .map(|t| (t.descriptor.clone(), t.intensity, t.mode))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn has(i: &Intent, d: &str, intensity: f32, mode: Mode) -> bool {
    i.terms
        .iter()
        .any(|t| t.descriptor == d && (t.intensity - intensity).abs() < 1e-4 && t.mode == mode)
}

#[test]
fn comparatives_are_relative_and_plain_words_absolute() {
    let r = reader();
    let i = r.read("warmer", false);
    assert!(has(&i, "warm", 1.0, Mode::Relative), "{:?}", terms(&i));
    assert_eq!(i.loudness, LoudnessGoal::Keep);
    assert!(!i.repair);
    let i = r.read("a warm voice", false);
    assert!(has(&i, "warm", 1.0, Mode::Absolute), "{:?}", terms(&i));
    assert!(matches!(i.loudness, LoudnessGoal::Target { .. }));
}

#[test]
fn intensity_words_scale_and_order_holds() {
    let r = reader();
    let a = r.read("a touch brighter", false);
    let b = r.read("brighter", false);
    let c = r.read("much brighter", false);
    let x = |i: &Intent| i.terms[0].intensity;
    assert!(
        x(&a) < x(&b) && x(&b) < x(&c),
        "{} {} {}",
        x(&a),
        x(&b),
        x(&c)
    );
    assert!(has(&a, "bright", 0.5, Mode::Relative));
    assert!(has(
        &r.read("much more air", false),
        "airy",
        2.0,
        Mode::Relative
    ));
    assert!(has(
        &r.read("slightly less boomy", false),
        "boomy",
        -0.5,
        Mode::Relative
    ));
    assert!(has(
        &r.read("3 dB warmer", false),
        "warm",
        1.0,
        Mode::Relative
    ));
}

#[test]
fn negations_ask_for_less() {
    let r = reader();
    for (p, d, v) in [
        ("reduce the sibilance", "sibilant", -1.0),
        ("less bright", "bright", -1.0),
        ("remove the boom", "boomy", -1.0),
        ("no hiss", "noisy", -1.5),
        ("not too bright", "bright", -0.5),
        ("it's too boomy", "boomy", -1.0),
        ("tame the harshness", "harsh", -1.0),
    ] {
        let i = r.read(p, false);
        assert!(has(&i, d, v, Mode::Relative), "{p}: {:?}", terms(&i));
    }
}

#[test]
fn the_issue_prompts_read_as_asked() {
    let r = reader();
    // "harsh sibilance": both are faults, "reduce" reaches both.
    let i = r.read("reduce harsh sibilance", false);
    assert!(
        has(&i, "harsh", -1.0, Mode::Relative) && has(&i, "sibilant", -1.0, Mode::Relative),
        "{:?}",
        terms(&i)
    );
    // A modifier stops at a clause break; a later comparative keeps its direction.
    let i = r.read("warmer but less boomy", false);
    assert!(
        has(&i, "warm", 1.0, Mode::Relative) && has(&i, "boomy", -1.0, Mode::Relative),
        "{:?}",
        terms(&i)
    );
    let i = r.read("less boomy and warmer", false);
    assert!(
        has(&i, "warm", 1.0, Mode::Relative) && has(&i, "boomy", -1.0, Mode::Relative),
        "{:?}",
        terms(&i)
    );
    let i = r.read("a touch brighter but less boomy", false);
    assert!(
        has(&i, "bright", 0.5, Mode::Relative) && has(&i, "boomy", -1.0, Mode::Relative),
        "{:?}",
        terms(&i)
    );
    // Loud and punchy: a loudness target and compression.
    let i = r.read("a loud, punchy voice", false);
    assert!(
        matches!(i.loudness, LoudnessGoal::Target { lufs, .. } if (lufs + 14.0).abs() < 1e-4),
        "{:?}",
        i.loudness
    );
    assert!(
        has(&i, "compressed", 1.0, Mode::Absolute),
        "{:?}",
        terms(&i)
    );
}

#[test]
fn fault_words_alone_are_complaints_unless_requested() {
    let r = reader();
    assert!(has(&r.read("boomy", false), "boomy", -1.0, Mode::Relative));
    assert!(has(
        &r.read("muddy and harsh", false),
        "harsh",
        -1.0,
        Mode::Relative
    ));
    assert!(has(
        &r.read("make it boomy", false),
        "boomy",
        1.0,
        Mode::Absolute
    ));
    assert!(has(
        &r.read("fix the boominess", false),
        "boomy",
        -1.0,
        Mode::Relative
    ));
}

#[test]
fn combinations_expand_with_their_loudness_and_repair() {
    let r = reader();
    let t = r.table();
    let i = r.read("warm radio voice", false);
    assert!(i.repair);
    assert!(has(&i, "warm", 1.0, Mode::Absolute));
    assert!(
        has(&i, "compressed", 1.0, Mode::Absolute) && has(&i, "present", 1.0, Mode::Absolute),
        "{:?}",
        terms(&i)
    );
    assert!(matches!(&i.loudness, LoudnessGoal::Target { source, .. } if source == "default"));
    let i = r.read("make it sound like a podcast", false);
    assert!(matches!(i.loudness, LoudnessGoal::Target { lufs, .. } if lufs == -16.0));
    let i = r.read("telephone", false);
    assert!(!i.repair);
    assert!(i.terms.iter().any(|x| x.descriptor == "band-limited-high"));
    let s = i.summary(t);
    assert!(s.contains("telephone +1"), "{s}");
}

#[test]
fn loudness_numbers_win_and_relative_prompts_keep_the_level() {
    let r = reader();
    let i = r.read("warmer at -16 LUFS", false);
    assert_eq!(
        i.loudness,
        LoudnessGoal::Target {
            lufs: -16.0,
            source: "asked".into()
        }
    );
    assert_eq!(r.read("less harsh", false).loudness, LoudnessGoal::Keep);
    assert_eq!(
        r.read("louder", false).loudness,
        LoudnessGoal::Relative { lu: 3.0 }
    );
    assert!(
        matches!(r.read("very quiet", false).loudness, LoudnessGoal::Target { lufs, .. } if lufs < -23.0)
    );
}

#[test]
fn vague_prompts_and_repair_words_ask_for_a_repair() {
    let r = reader();
    let i = r.read("", true);
    assert!(i.repair && i.terms.is_empty());
    assert!(matches!(i.loudness, LoudnessGoal::Target { .. }));
    let i = r.read("fix my mic and make it warmer", false);
    assert!(
        i.repair && has(&i, "warm", 1.0, Mode::Relative),
        "{:?}",
        terms(&i)
    );
}

#[test]
fn what_cannot_be_done_is_said() {
    let r = reader();
    let i = r.read("make it noisy", false);
    assert!(i.terms.is_empty());
    assert_eq!(i.unsupported.len(), 1, "{:?}", i.unsupported);
}

#[test]
fn summary_reads_like_the_issue() {
    let r = reader();
    let t: &Descriptors = r.table();
    let s = r
        .read("warmer, less sibilant at -16 lufs", false)
        .summary(t);
    assert_eq!(
        s,
        "warmer +1, less sibilant \u{2212}1, target \u{2212}16 LUFS"
    );
}

#[test]
fn goals_follow_relative_and_absolute_terms() {
    let r = reader();
    let t = r.table();
    let input = Measured {
        balances: vec![("warmth".into(), 10.0), ("sibilance".into(), -5.0)],
        lufs: Some(-30.0),
        crest_db: Some(18.0),
        ..Measured::default()
    };
    let g = r.read("warmer, less sibilant", false).goals(t, &input);
    let warmth = g.iter().find(|g| g.quantity == "warmth").unwrap();
    assert_eq!(
        (warmth.kind, warmth.value, warmth.change),
        (GoalKind::Exactly, 13.0, 3.0)
    );
    let sib = g.iter().find(|g| g.quantity == "sibilance").unwrap();
    assert_eq!(sib.value, -8.0);
    let loud = g.iter().find(|g| g.quantity == "loudness").unwrap();
    assert_eq!(
        loud.value, -30.0,
        "relative prompts keep the input's loudness"
    );
    // Absolute: at least reference + 1 unit; an input already past it needs nothing.
    let reference = t.quantity("warmth").unwrap().reference.unwrap();
    let g = r.read("a warm voice", false).goals(t, &input);
    let warmth = g.iter().find(|g| g.quantity == "warmth").unwrap();
    assert_eq!(warmth.kind, GoalKind::AtLeast);
    assert_eq!(warmth.value, reference + 3.0);
    let hot = Measured {
        balances: vec![("warmth".into(), reference + 10.0)],
        ..input.clone()
    };
    let g = r.read("a warm voice", false).goals(t, &hot);
    assert_eq!(
        g.iter().find(|g| g.quantity == "warmth").unwrap().change,
        0.0
    );
    // Compression lowers the crest factor by 2 dB per unit.
    let g = r.read("punchy", false).goals(t, &input);
    assert_eq!(
        g.iter().find(|g| g.quantity == "dynamics").unwrap().value,
        16.0
    );
    // A balance the input cannot be measured in gives no goal.
    assert!(r
        .read("more air", false)
        .goals(t, &input)
        .iter()
        .all(|g| g.quantity != "air"));
}

#[test]
fn goals_judge_direction_with_a_margin() {
    let r = reader();
    let t = r.table();
    let input = Measured {
        balances: vec![("warmth".into(), 10.0)],
        lufs: Some(-20.0),
        ..Measured::default()
    };
    let g = r.read("warmer", false).goals(t, &input);
    let w = g.iter().find(|g| g.quantity == "warmth").unwrap();
    assert!(w.moved(11.5, 1.0));
    assert!(!w.moved(10.5, 1.0));
    assert!(!w.moved(8.0, 1.0));
}

#[test]
fn the_committed_descriptor_documentation_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/DESCRIPTORS.md");
    let committed = std::fs::read_to_string(path).expect("docs/DESCRIPTORS.md");
    let now = Descriptors::embedded().unwrap().markdown();
    assert!(
        committed == now,
        "docs/DESCRIPTORS.md is stale: run `cargo run -p faurge-vocabulary --example descriptors_md > docs/DESCRIPTORS.md`"
    );
}
