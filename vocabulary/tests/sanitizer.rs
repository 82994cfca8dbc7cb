//! Table tests of the prompt sanitizer, one row per kind of input a user types: vague, typo,
//! slang, mixed, numbers and units, non-English, empty, whitespace, emoji, control
//! characters, invalid UTF-8 and a 100 kB prompt; each row asserts the exact text the
//! encoder receives and the kinds of the edits. Plus: sanitizing what was understood
//! again is a fixed point, and the shipped data files agree with each other.

use std::time::{Duration, Instant};

use faurge_vocabulary::sanitizer::{
    EditKind, Sanitized, Sanitizer, SanitizerExtras, MAX_CHARS, MAX_EDIT_CHARS, MAX_WORDS,
};
use faurge_vocabulary::{Vocabulary, VocabularyError};

use EditKind::{Removed, Slang, Truncated, Typo, Vague};

/// Stands for the anchor prompt in the table.
const ANCHOR: &str = "<anchor>";

fn sanitizer() -> Sanitizer {
    Sanitizer::embedded().expect("the shipped vocabulary and sanitizer extras are valid")
}

/// (prompt, understood, edit kinds)
const ROWS: &[(&str, &str, &[EditKind])] = &[
    // Vague prompts → anchor prompt, one `vague` edit.
    ("fix my mic", ANCHOR, &[Vague]),
    ("Make it better!", ANCHOR, &[Vague]),
    ("  make   it sound GOOD...  ", ANCHOR, &[Vague]),
    ("just fix it", ANCHOR, &[Vague]),
    // Mostly vague words, not a listed prompt.
    ("can you make my voice sound better", ANCHOR, &[Vague]),
    ("better, good, fix", ANCHOR, &[Vague]),
    // Concrete prompts pass unchanged.
    ("warm and present", "warm and present", &[]),
    ("less boomy", "less boomy", &[]),
    ("make it clean and bright", "make it clean and bright", &[]),
    // Slang, whole words, multi-word phrases first.
    ("make it phat", "make it warm and full", &[Slang]),
    ("in your face", "present, close and punchy", &[Slang]),
    ("radio voice", "radio voice", &[]),
    ("boomy af", "boomy", &[Slang]),
    ("wooly af", "muddy and boomy", &[Slang, Removed]),
    ("a bit muffled", "a bit muffled", &[]),
    // An adjective that is also a slang key stays: it is already concrete.
    ("make it tinny", "make it tinny", &[]),
    // "fat" is slang only as a whole word.
    ("fatten the lows", "fatten the lows", &[]),
    // Typos.
    ("warmr", "warmer", &[Typo]),
    ("mudy and boomey", "muddy and boomy", &[Typo, Typo]),
    ("too sibilent", "too sibilant", &[Typo]),
    (
        "teh voice is britghter",
        "the voice is brighter",
        &[Typo, Typo],
    ),
    ("brite", "bright", &[Typo]),
    // Hyphen and suffix forms (users type "breathy-ness" for "breathiness").
    ("less breathy-ness", "less airy and soft", &[Typo, Slang]),
    ("less-boomy", "less boomy", &[Typo]),
    // Short words are never corrected ("far" is not "fat").
    ("far away", "distant", &[Slang]),
    // Mixed.
    (
        "make it warmer and less boomy pls",
        "make it warmer and less boomy",
        &[Removed],
    ),
    (
        "Pls make it wamer and thicc, no hiss!",
        "make it warmer and full and warm, no hiss!",
        &[Removed, Typo, Slang],
    ),
    // Numbers and units pass unchanged.
    ("podcast, -16 LUFS", "podcast, -16 LUFS", &[]),
    ("cut 3 dB at 200 Hz", "cut 3 dB at 200 Hz", &[]),
    ("warm, 48kHz", "warm, 48kHz", &[]),
    // Non-English: only English is understood.
    ("сделай теплее", ANCHOR, &[Removed, Vague]),
    ("make it warmer 请", "make it warmer", &[Removed]),
    ("暖かい声", ANCHOR, &[Removed, Vague]),
    // Empty, whitespace, emoji.
    ("", ANCHOR, &[Vague]),
    (" \t\n  ", ANCHOR, &[Vague]),
    ("🔥🔥🔥", ANCHOR, &[Removed, Vague]),
    ("warm🔥bright", "warm bright", &[Removed]),
    ("warm 🔥, bright ✨", "warm, bright", &[Removed, Removed]),
    // Control characters: whitespace ones are breaks, others dropped; invisible ones
    // inside a word do not split it.
    ("warm\r\nbright\t", "warm bright", &[]),
    (
        "make it\u{0} warm\u{7}er\u{1b}",
        "make it warmer",
        &[Removed, Removed],
    ),
    ("war\u{200B}m", "warm", &[Removed]),
    // Quotes and dashes the tokenizer would glue to a word.
    ("'warm' - bright", "warm bright", &[]),
    ("don’t make it harsh", "don't make it harsh", &[]),
];

fn check(s: &Sanitizer, prompt: &str, got: &Sanitized, understood: &str, kinds: &[EditKind]) {
    let want = if understood == ANCHOR {
        s.anchor_prompt()
    } else {
        understood
    };
    assert_eq!(got.understood, want, "understood of {prompt:?}: {got:#?}");
    assert_eq!(got.kinds(), kinds, "edit kinds of {prompt:?}: {got:#?}");
    assert_eq!(
        got.anchor,
        understood == ANCHOR,
        "anchor flag of {prompt:?}"
    );
    assert_eq!(got.original, prompt);
}

#[test]
fn table() {
    let s = sanitizer();
    assert!(ROWS.len() >= 30);
    for (prompt, understood, kinds) in ROWS {
        check(&s, prompt, &s.sanitize(prompt), understood, kinds);
    }
}

#[test]
fn edits_say_what_changed() {
    let s = sanitizer();
    let r = s.sanitize("fix my mic");
    assert_eq!(r.edits[0].from, "fix my mic");
    assert_eq!(r.edits[0].to, s.anchor_prompt());

    let r = s.sanitize("less breathy-ness please");
    let pairs: Vec<(EditKind, &str, &str)> = r
        .edits
        .iter()
        .map(|e| (e.kind, e.from.as_str(), e.to.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            (Typo, "breathy-ness", "breathiness"),
            (Slang, "breathiness", "airy and soft"),
            (Removed, "please", ""),
        ]
    );

    // Adjacent dropped text is one edit.
    let r = s.sanitize("сделай теплее 🔥 warm");
    assert_eq!(r.understood, "warm");
    assert_eq!(r.edits.len(), 1);
    assert_eq!(r.edits[0].from, "сделай теплее 🔥");

    // The protocol's names.
    let json = serde_json::to_string(&r.edits[0]).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"removed","from":"сделай теплее 🔥","to":""}"#
    );
    for (kind, name) in [
        (Vague, "vague"),
        (Typo, "typo"),
        (Slang, "slang"),
        (Truncated, "truncated"),
        (Removed, "removed"),
    ] {
        assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
    }
}

#[test]
fn invalid_utf8_bytes_are_removed() {
    let s = sanitizer();
    let r = s.sanitize_bytes(b"make it \xff\xfewarm\xc3");
    assert_eq!(r.understood, "make it warm");
    assert_eq!(r.kinds(), [Removed, Removed]);
    assert_eq!(r.edits[0].from, "\u{FFFD}\u{FFFD}");
    assert_eq!(r.original, "make it \u{FFFD}\u{FFFD}warm\u{FFFD}");

    let r = s.sanitize_bytes(&[0xff; 64]);
    assert!(r.anchor);
    assert_eq!(r.kinds(), [Removed, Vague]);
}

#[test]
fn long_prompts_are_cut_fast() {
    let s = sanitizer();
    // 100 kB of words, of emoji, of one word, of control characters, as bytes.
    let words = "warm bright ".repeat(100_000 / 12);
    let emoji = "🔥".repeat(25_000);
    let one_word = "a".repeat(100_000);
    let control = "\u{1}".repeat(100_000);
    let start = Instant::now();
    let r_words = s.sanitize(&words);
    let r_emoji = s.sanitize(&emoji);
    let r_one = s.sanitize(&one_word);
    let r_control = s.sanitize(&control);
    let r_bytes = s.sanitize_bytes(words.as_bytes());
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "five 100 kB prompts took {elapsed:?}"
    );

    assert_eq!(
        r_words.understood,
        "warm bright ".repeat(MAX_WORDS / 2).trim_end()
    );
    assert_eq!(r_words.kinds(), [Truncated]);
    assert!(r_words.edits[0].from.starts_with("warm bright"));
    assert_eq!(
        r_words.edits[0].from.chars().count(),
        MAX_EDIT_CHARS + 1,
        "a truncated edit shows only the start of what was cut"
    );
    assert!(r_words.edits[0].from.ends_with('…'));
    assert_eq!(r_bytes.understood, r_words.understood);

    assert!(r_emoji.anchor);
    assert_eq!(r_emoji.kinds(), [Removed, Truncated, Vague]);
    assert!(r_one.anchor, "a word longer than the limit is cut whole");
    assert_eq!(r_one.kinds(), [Truncated, Vague]);
    assert!(r_control.anchor);
    assert_eq!(r_control.kinds(), [Removed, Truncated, Vague]);

    // Character limit: 30 ten-letter words are cut before MAX_CHARS.
    let long = "reverberant ".repeat(30);
    let r = s.sanitize(&long);
    assert!(r.understood.chars().count() <= MAX_CHARS);
    assert_eq!(r.understood, "reverberant ".repeat(16).trim_end());
    assert_eq!(r.kinds(), [Truncated]);

    // Slang that lengthens the prompt past the word limit is cut too.
    let r = s.sanitize(&"in your face ".repeat(8));
    assert_eq!(r.understood.split(' ').count(), MAX_WORDS);
    assert_eq!(*r.kinds().last().unwrap(), Truncated);
}

/// Every `understood` sanitizes to itself without edits.
fn assert_fixed_point(s: &Sanitizer, prompt: &str) {
    let first = s.sanitize(prompt);
    let again = s.sanitize(&first.understood);
    assert_eq!(
        again.understood, first.understood,
        "{prompt:?} is not a fixed point"
    );
    assert!(
        again.edits.is_empty(),
        "{prompt:?} → {:?} gets edits again: {:?}",
        first.understood,
        again.edits
    );
}

#[test]
fn understood_is_a_fixed_point() {
    let s = sanitizer();
    let v = Vocabulary::embedded().unwrap();
    let mut prompts: Vec<String> = ROWS.iter().map(|r| r.0.to_owned()).collect();
    prompts.push(s.anchor_prompt().to_owned());
    prompts.extend(v.slang.keys().cloned());
    prompts.extend(v.vague_prompts.iter().cloned());
    prompts.extend(v.adjectives().into_iter().map(str::to_owned));
    let extras = SanitizerExtras::embedded().unwrap();
    prompts.extend(extras.slang.keys().cloned());
    prompts.extend(extras.corrections.keys().cloned());

    // Random mixes of known words, slang and misspellings (fixed-seed LCG).
    let mut pool: Vec<String> = s.known_words().map(str::to_owned).collect();
    pool.extend(extras.corrections.keys().cloned());
    pool.extend(
        [
            "warmr",
            "mudy",
            "breathy-ness",
            "less-boomy",
            "🔥",
            "请",
            "-16",
            "dB",
            ",",
        ]
        .map(String::from),
    );
    let mut state: u64 = 0x5EED;
    for _ in 0..2000 {
        let mut p = String::new();
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let n = 1 + (state >> 33) as usize % 8;
        for _ in 0..n {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            p.push_str(&pool[(state >> 33) as usize % pool.len()]);
            p.push(' ');
        }
        prompts.push(p);
    }
    for p in &prompts {
        assert_fixed_point(&s, p);
    }
}

#[test]
fn descriptor_words_and_anchor_are_understood_unchanged() {
    // The encoder was trained on these: the sanitizer must not rewrite them.
    let s = sanitizer();
    let v = Vocabulary::embedded().unwrap();
    let anchor = s.sanitize(&v.anchor_prompt);
    assert_eq!(anchor.understood, v.anchor_prompt);
    assert!(anchor.edits.is_empty() && !anchor.anchor);
    for w in v.adjectives() {
        let r = s.sanitize(w);
        assert!(
            r.edits.is_empty(),
            "descriptor form {w:?} was changed: {:?}",
            r.edits
        );
        assert!(
            !r.anchor,
            "descriptor form {w:?} fell back to the anchor prompt"
        );
    }
}

#[test]
fn shipped_extras_agree_with_the_vocabulary() {
    let v = Vocabulary::embedded().unwrap();
    let e = SanitizerExtras::embedded().unwrap();
    let s = Sanitizer::new(&v);
    let known: Vec<&str> = s.known_words().collect();
    for (phrase, adjectives) in &e.slang {
        for a in adjectives {
            assert!(
                v.adjectives().contains(a.as_str()),
                "sanitizer.toml slang \"{phrase}\" names \"{a}\", not an adjective"
            );
        }
        assert!(
            !v.slang.contains_key(phrase),
            "slang \"{phrase}\" is in both files"
        );
    }
    let tokenizer = v.tokenizer();
    for (from, to) in &e.corrections {
        assert!(
            tokenizer.words.binary_search(to).is_ok()
                || e.function_words.contains(to)
                || e.slang.contains_key(to),
            "correction \"{from}\" → \"{to}\": the target is not a known word"
        );
        assert!(
            !known.contains(&from.as_str()),
            "correction \"{from}\" is itself a known word, so it never applies"
        );
    }
    for f in e.function_words.iter().chain(&e.fillers).chain(&e.units) {
        assert!(
            !v.adjectives().contains(f.as_str()),
            "\"{f}\" is an adjective, it cannot be a function word, filler or unit"
        );
    }
    // Known words are sorted, lower case and include the adjectives.
    assert!(known.windows(2).all(|w| w[0] < w[1]));
    assert!(v
        .adjectives()
        .iter()
        .flat_map(|a| faurge_vocabulary::words(a))
        .all(|a| known.contains(&a.as_str())));
}

#[test]
fn broken_extras_are_rejected() {
    let good = faurge_vocabulary::sanitizer::EMBEDDED_EXTRAS;
    for (broken, why) in [
        (good.replace("version = 1", "version = 2"), "version"),
        (good.replace("\"pls\",", "\"Pls\","), "lower-case"),
        (good.replace("\"pls\",", "\"pls\", \"pls\","), "twice"),
        (
            good.replace("\"brite\" = \"bright\"", "\"brite\" = \"very bright\""),
            "one lower-case word",
        ),
        (format!("{good}\nunknown_key = 1\n"), ""),
    ] {
        match SanitizerExtras::from_toml(&broken) {
            Err(VocabularyError::Invalid(m)) => assert!(m.contains(why), "{m}"),
            Err(VocabularyError::Parse(_)) => assert!(why.is_empty()),
            other => panic!("{why}: accepted: {other:?}"),
        }
    }
}

#[test]
fn sanitizer_can_be_shared_between_threads() {
    fn shared<T: Send + Sync + Clone>(_: &T) {}
    let s = sanitizer();
    shared(&s);
    let handle = {
        let s = s.clone();
        std::thread::spawn(move || s.sanitize("make it phat").understood)
    };
    assert_eq!(handle.join().unwrap(), "make it warm and full");
}
