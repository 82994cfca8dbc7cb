//! Dataset generator tests: tokenizer, speaker split, masks, a tiny deterministic
//! build from the shipped `examples/` clips, and the descriptor table's clean-speech
//! references (with `../shared/data` beside the checkout).

use std::path::{Path, PathBuf};

use faurge_dataset::generate::{self, BuildConfig};
use faurge_dataset::sources::{parse_speaker, scan, split_of, Split};
use faurge_dsp::analysis::ltas::{ltas_band_edges_hz, ltas_bands_below, LTAS_BANDS};
use faurge_vocabulary::{Vocabulary, PAD_ID, UNK_ID};

fn examples() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).to_path_buf()
}

fn shared_data() -> Option<PathBuf> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).to_path_buf();
    p.join("speech").is_dir().then_some(p)
}

#[test]
fn tokenizer_is_deterministic_and_pads() {
    let v = Vocabulary::embedded().unwrap();
    let t = v.tokenizer();
    let ids = t.encode("warmer and brighter zzzz", 6);
    assert_eq!(ids.len(), 6);
    assert!(ids[0] > UNK_ID && ids[2] > UNK_ID);
    assert_eq!(ids[3], UNK_ID, "an unknown word");
    assert_eq!(&ids[4..], &[PAD_ID, PAD_ID]);
    assert_eq!(t, v.tokenizer());
}

#[test]
fn speaker_parsing_and_split() {
    assert_eq!(
        parse_speaker("103-1240-0000"),
        Some(("librispeech", "103".into(), "103-1240-0000".into()))
    );
    assert_eq!(
        parse_speaker("speech_vctk_p234_012"),
        Some(("vctk", "p234".into(), "p234_012".into()))
    );
    assert_eq!(parse_speaker("rir_clap"), None);
    assert_eq!(parse_speaker("piano"), None);
    // The split is a pure function of the speaker.
    assert_eq!(split_of("vctk", "p234"), split_of("vctk", "p234"));
    // Roughly 80/10/10 over many synthetic speakers.
    let mut n = [0usize; 3];
    for s in 0..2000 {
        let i = Split::ALL
            .iter()
            .position(|&x| x == split_of("librispeech", &s.to_string()));
        n[i.unwrap()] += 1;
    }
    assert!(
        (1500..1700).contains(&n[0]) && n[1] > 120 && n[2] > 120,
        "{n:?}"
    );
}

#[test]
fn shared_data_split_is_disjoint_by_speaker() {
    let Some(data) = shared_data() else {
        eprintln!("../shared/data not present; skipped");
        return;
    };
    let s = scan(&data);
    assert!(s.speech.len() > 250, "found {}", s.speech.len());
    assert!(!s.rirs.is_empty());
    let mut by_speaker = std::collections::BTreeMap::new();
    for c in &s.speech {
        let prev = by_speaker.insert((c.corpus.clone(), c.speaker.clone()), c.split());
        assert!(prev.is_none() || prev == Some(c.split()));
    }
    for split in Split::ALL {
        assert!(
            by_speaker.values().any(|&x| x == split),
            "{split:?} is empty"
        );
    }
}

fn config(data: PathBuf, out: PathBuf, seed: u64) -> BuildConfig {
    BuildConfig {
        data,
        out,
        seed,
        max_clips: None,
        rows_per_clip: 3,
        crop_s: 1.5,
        vocabulary: Vocabulary::embedded().unwrap(),
    }
}

#[test]
fn tiny_build_is_deterministic_and_masked() {
    let tmp = std::env::temp_dir().join(format!("faurge-dataset-test-{}", std::process::id()));
    let a = generate::build(&config(examples(), tmp.join("a"), 11)).unwrap();
    let b = generate::build(&config(examples(), tmp.join("b"), 11)).unwrap();
    assert_eq!(a.content_hash, b.content_hash, "same seed, same hash");
    let (rows, tokenizer) = generate::build_rows(&config(examples(), tmp.join("c"), 12)).unwrap();
    assert_eq!(rows.len(), 6, "two speech clips × 3 rows");
    let c = generate::build(&config(examples(), tmp.join("c"), 12)).unwrap();
    assert_ne!(
        a.content_hash, c.content_hash,
        "another seed, another dataset"
    );
    let hash_file = std::fs::read_to_string(tmp.join("a/dataset.sha256")).unwrap();
    assert_eq!(hash_file.trim(), a.content_hash);

    let edges = ltas_band_edges_hz();
    for r in &rows {
        assert_eq!(r.input_mel.len(), a.mel_frames * 64);
        assert_eq!(r.target_mel.len(), r.input_mel.len());
        assert!(r.input_mel.iter().all(|v| v.is_finite()));
        let expected = ltas_bands_below(r.bandwidth_hz);
        for i in 0..64 {
            assert_eq!(r.ltas_mask[i] == 1.0, expected[i]);
            if r.ltas_mask[i] == 0.0 {
                assert_eq!(r.delta_ltas[i], 0.0);
                assert!(edges[i + 1] > r.bandwidth_hz);
            } else {
                let d = r.target_ltas[i] - r.input_ltas[i];
                assert!((r.delta_ltas[i] - d).abs() < 1e-4);
            }
        }
        assert!((r.delta_lufs - (r.target_lufs - r.input_lufs)).abs() < 1e-4);
        if r.corpus == "librispeech" {
            // 16 kHz source: nothing above 8 kHz is valid.
            assert!(r.bandwidth_hz <= 8000.0);
            assert_eq!(r.ltas_mask[63], 0.0);
            assert!(r.ltas_mask[..20].iter().all(|&m| m == 1.0));
        } else {
            assert!(
                r.bandwidth_hz > 15_000.0,
                "VCTK is full band: {}",
                r.bandwidth_hz
            );
        }
        assert!(!r.caption.is_empty() && !r.intent_summary.is_empty());
        assert!(
            r.caption_tokens.iter().any(|&t| t > 1),
            "{:?} has known tokens",
            r.understood
        );
        assert_eq!(
            r.caption_tokens,
            tokenizer
                .encode(&r.understood, generate::MAX_TOKENS)
                .iter()
                .map(|&v| v as i32)
                .collect::<Vec<_>>()
        );
        assert!((0.0..=1.0).contains(&r.input_purity));
        assert!((0.0..=1.0).contains(&r.goals_met));
        // A damaged input lists its damage; a clean one has none.
        assert_eq!(
            r.damage_mask.iter().any(|&m| m > 0.0),
            r.damage_json != "[]",
            "{}",
            r.damage_json
        );
        // Restoration targets only what is present.
        for (d, m) in r.damage_mask.iter().zip(&r.restore_mask) {
            assert!(m <= d);
        }
    }
    // Both speakers of the examples keep their split in every row.
    for r in &rows {
        assert_eq!(r.split, split_of(&r.corpus, &r.speaker));
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn parquet_schema_has_the_spec_columns() {
    let tmp = std::env::temp_dir().join(format!("faurge-dataset-schema-{}", std::process::id()));
    let mut cfg = config(examples(), tmp.clone(), 5);
    cfg.rows_per_clip = 1;
    cfg.crop_s = 1.0;
    let (rows, _) = generate::build_rows(&cfg).unwrap();
    let refs: Vec<_> = rows.iter().collect();
    let frames = rows[0].input_mel.len() / 64;
    let batch = generate::to_batch(&refs, frames).unwrap();
    for col in [
        "target_ltas",
        "target_lufs",
        "target_dyn",
        "input_purity",
        "requires_genesis",
        "delta_ltas",
        "delta_lufs",
        "delta_dyn",
        "input_mel",
        "caption_tokens",
        "ltas_mask",
        "intent_vector",
        "intent_summary",
        "damage_mask",
        "restore_mask",
        "target_room_db",
    ] {
        assert!(batch.schema().field_with_name(col).is_ok(), "missing {col}");
    }
    assert_eq!(batch.num_rows(), rows.len());
}

/// The descriptor table's clean-speech references are what the data measures
/// (`faurge-dataset balances`), within 0.5 dB.
#[test]
fn the_descriptor_references_match_clean_speech() {
    let Some(data) = shared_data() else {
        assert!(std::env::var("CI").is_err(), "CI must have ../shared/data");
        eprintln!("skipped: no ../shared/data beside the checkout");
        return;
    };
    let v = faurge_vocabulary::Vocabulary::embedded().unwrap();
    for (id, median, n) in faurge_dataset::generate::reference_balances(&data, &v).unwrap() {
        let table = v
            .descriptors
            .quantity(&id)
            .and_then(|q| q.reference)
            .unwrap();
        assert!(n > 0, "{id}: no clip measurable");
        assert!(
            (median - table).abs() <= 0.5,
            "{id}: clean speech measures {median:+.1} dB, the table says {table:+.1}"
        );
    }
}

#[test]
fn tone_pairs_are_clean_crops_and_the_same_crops_through_a_tone_damage() {
    use faurge_dataset::tone_pairs;
    let pairs = tone_pairs::pairs(&examples(), 5, 12, 2.0).unwrap();
    assert_eq!(pairs.len() % 12, 0);
    assert!(pairs.len() >= 24, "two speech clips in examples/");
    let clean: Vec<_> = pairs.iter().filter(|p| p.damage.is_empty()).collect();
    let damaged: Vec<_> = pairs.iter().filter(|p| !p.damage.is_empty()).collect();
    assert!(!clean.is_empty() && !damaged.is_empty());
    for p in &pairs {
        assert_eq!(p.split, split_of_clip(&p.clip).label());
        assert_eq!(p.speaker, parse_speaker(&p.clip).unwrap().1);
        // The mask is the crop's bandwidth: the LibriSpeech clip's is at most 8 kHz.
        let valid = p.ltas_mask.iter().filter(|&&m| m > 0.0).count();
        assert!(valid > 40, "{}: {valid} bands", p.clip);
        if p.clip.starts_with("19-") {
            assert!(valid < LTAS_BANDS, "{}", p.clip);
        }
    }
    for p in &clean {
        assert_eq!(p.input_ltas, p.clean_ltas, "{}", p.clip);
    }
    for p in &damaged {
        // A tone damage moves some valid band by more than a dB, and says what it was.
        let moved = (0..LTAS_BANDS)
            .filter(|&b| p.ltas_mask[b] > 0.0)
            .map(|b| (p.input_ltas[b] - p.clean_ltas[b]).abs())
            .fold(0.0f32, f32::max);
        assert!(moved > 1.0, "{}: {}", p.clip, p.damage);
        assert!(!p.damage.contains("tilt"), "{}", p.damage);
    }
    // Deterministic, and written as Parquet.
    let again = tone_pairs::pairs(&examples(), 5, 12, 2.0).unwrap();
    assert!(pairs
        .iter()
        .zip(&again)
        .all(|(a, b)| a.input_ltas == b.input_ltas && a.damage == b.damage));
    let dir = std::env::temp_dir().join(format!("faurge-tone-pairs-{}", std::process::id()));
    let path = tone_pairs::write(&pairs, &dir, "faurge-dataset tone-pairs …").unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(tone_pairs::INFO_FILE)).unwrap())
            .unwrap();
    assert_eq!(info["rows"], pairs.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn split_of_clip(clip: &str) -> Split {
    let (corpus, speaker, _) = parse_speaker(clip).unwrap();
    split_of(corpus, &speaker)
}

#[test]
fn limited_voice_crest_is_the_corpus_first_percentile() {
    // The crest factor under which a repair leaves a voice's tone alone
    // (`LIMITED_VOICE_CREST_DB`) is the 1st percentile of the corpus's clean
    // speech, cropped as the dataset crops it: measured again here.
    use faurge_dsp::analysis::dynamics::{t_dyn, LIMITED_VOICE_CREST_DB};
    use rand::SeedableRng;
    let Some(data) = shared_data() else {
        eprintln!("../shared/data not present; skipped");
        return;
    };
    let clips = scan(&data).speech;
    assert!(clips.len() > 200, "{}", clips.len());
    let sr = generate::SAMPLE_RATE;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut crest = Vec::new();
    for clip in &clips {
        let a = faurge_io::read(&clip.path).unwrap();
        let mono = if a.sample_rate == sr {
            a.to_mono()
        } else {
            faurge_io::resample(&[a.to_mono()], a.sample_rate, sr)
                .unwrap()
                .remove(0)
        };
        for _ in 0..5 {
            let c = generate::crop(&mono, 6 * sr as usize, &mut rng);
            crest.push(t_dyn(&[&c], sr as f32)[0]);
        }
    }
    crest.sort_by(f32::total_cmp);
    let q = |p: f64| crest[(p * (crest.len() - 1) as f64).round() as usize];
    let (p1, median) = (q(0.01), q(0.5));
    eprintln!(
        "crest factor of {} crops: 1st percentile {p1:.2} dB, median {median:.2} dB",
        crest.len()
    );
    assert!(
        (p1 - LIMITED_VOICE_CREST_DB).abs() < 0.1,
        "1st percentile {p1:.2} dB"
    );
    assert!(
        median > LIMITED_VOICE_CREST_DB + 3.0,
        "median {median:.2} dB"
    );
}
