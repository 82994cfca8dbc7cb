//! Dataset generator tests: vocabulary, speaker split, style renders, masks,
//! and a tiny deterministic build from the shipped `examples/` clips (plus
//! `../shared/data` when it is present beside the checkout).

use std::path::{Path, PathBuf};

use faurge_dataset::generate::{self, BuildConfig, SAMPLE_RATE};
use faurge_dataset::sources::{parse_speaker, scan, split_of, Split};
use faurge_dataset::style;
use faurge_dataset::vocabulary::{Vocabulary, PAD_ID, REQUIRED_STYLES, UNK_ID};
use faurge_dsp::analysis::ltas::{ltas_band_edges_hz, ltas_bands_below};
use faurge_dsp::eq::Eq;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn examples() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).to_path_buf()
}

fn shared_data() -> Option<PathBuf> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).to_path_buf();
    p.join("speech").is_dir().then_some(p)
}

#[test]
fn shipped_vocabulary_is_valid_and_complete() {
    let v = Vocabulary::embedded().expect("shipped vocabulary must validate");
    for id in REQUIRED_STYLES {
        let s = v.style(id).expect(id);
        assert!(s.captions.len() >= 3);
    }
    for k in faurge_dsp::degrade::DegradationKind::ALL {
        assert!(
            v.defect(k.label()).is_some(),
            "no captions for {}",
            k.label()
        );
    }
    assert!(v.is_vague("Make it better!"));
    assert!(v.is_vague("  fix my mic "));
    assert!(!v.is_vague("make it warmer"));
    assert_eq!(v.slang.get("phat").map(Vec::len), Some(2));
    // Every style has a renderer.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for s in &v.styles {
        style::draw(&s.id, 1, &mut rng).expect(&s.id);
    }
}

#[test]
fn vocabulary_rejects_broken_files() {
    let good = faurge_dataset::vocabulary::EMBEDDED;
    // Unknown adjective in a slang entry.
    let bad = good.replace("\"phat\" = [\"warm\", \"full\"]", "\"phat\" = [\"wobbly\"]");
    let e = Vocabulary::from_toml(&bad).unwrap_err().to_string();
    assert!(e.contains("wobbly"), "{e}");
    // A required style removed.
    let bad = good.replace("id = \"telephone\"", "id = \"phone\"");
    let e = Vocabulary::from_toml(&bad).unwrap_err().to_string();
    assert!(e.contains("telephone"), "{e}");
    // Unknown key.
    let bad = format!("colour = 1\n{good}");
    assert!(Vocabulary::from_toml(&bad).is_err());
}

#[test]
fn tokenizer_is_deterministic_and_pads() {
    let v = Vocabulary::embedded().unwrap();
    let t = v.tokenizer();
    let ids = t.encode("A warm, FULL voice xyzzy", 8);
    assert_eq!(ids.len(), 8);
    assert_eq!(ids[4], UNK_ID);
    assert!(ids[5..].iter().all(|&i| i == PAD_ID));
    assert_eq!(ids[1], t.encode("warm", 1)[0]);
    assert!(ids[..4].iter().all(|&i| i >= 2));
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

#[test]
fn style_render_matches_the_eq_response() {
    // A warm recipe on white noise moves the LTAS like the EQ's magnitude response.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let recipe = style::draw("warm", 0, &mut rng).unwrap();
    let sr = SAMPLE_RATE as f32;
    let mut noise: Vec<f32> = {
        use rand::Rng;
        (0..3 * SAMPLE_RATE as usize)
            .map(|_| rng.gen_range(-0.3..0.3))
            .collect()
    };
    let before = faurge_dsp::analysis::ltas::ltas(&[&noise], sr);
    style::render(&recipe, &mut noise, sr, &[]).unwrap();
    let after = faurge_dsp::analysis::ltas::ltas(&[&noise], sr);
    let centres = faurge_dsp::analysis::ltas::ltas_band_centers_hz();
    // LTAS is relative to total power, so compare shapes: differences between bands.
    let d = |i: usize| after[i] - before[i];
    let r =
        |i: usize| Eq::magnitude_db(&recipe.state.eq, f64::from(centres[i]), f64::from(sr)) as f32;
    let (lo, hi) = (8, 55); // ~100 Hz and ~10 kHz
    let got = d(lo) - d(hi);
    let want = r(lo) - r(hi);
    assert!((got - want).abs() < 1.5, "got {got} dB, want {want} dB");
    assert!(want > 3.0, "a warm recipe tilts toward the lows: {want}");
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
    let rows = generate::build_rows(&config(examples(), tmp.join("c"), 12)).unwrap();
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
        assert!(!r.degradations.is_empty());
        assert!(!r.caption.is_empty() && !r.defect_caption.is_empty());
        assert!((0.0..=1.0).contains(&r.input_purity));
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
    let rows = generate::build_rows(&cfg).unwrap();
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
        "style",
        "degradations",
        "partial_fraction",
    ] {
        assert!(batch.schema().field_with_name(col).is_ok(), "missing {col}");
    }
    assert_eq!(batch.num_rows(), rows.len());
}
