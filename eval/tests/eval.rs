//! Smoke test of `cargo xtask eval` on the shipped `examples/` clips: the whole
//! evaluation (rows regenerated with their audio, encoders, Fabian, the real loop,
//! the auto-EQ baseline, rendering) on a few rows, with every figure checked for
//! presence, finiteness and range, and the no-processing error checked against the
//! row metrics `faurge-dataset` computes on its own.

use std::path::{Path, PathBuf};

use faurge_dataset::generate::{build_rows, BuildConfig};
use faurge_dataset::sources::Split;
use faurge_dataset::vocabulary::Vocabulary;
use faurge_eval::{evaluate, record, write, EvalConfig};
use faurge_protocol::BakeOptions;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Masked, offset-removed RMS written out here rather than calling
/// `faurge_eval::ltas_error_db`, so a broken error function fails the test too.
fn independent_error(a: &[f32], b: &[f32], m: &[f32]) -> f64 {
    let idx: Vec<usize> = (0..a.len()).filter(|&i| m[i] > 0.5).collect();
    let d: Vec<f64> = idx
        .iter()
        .map(|&i| f64::from(b[i]) - f64::from(a[i]))
        .collect();
    let mu = d.iter().sum::<f64>() / d.len() as f64;
    (d.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / d.len() as f64).sqrt()
}

#[test]
fn eval_on_example_rows_reports_every_figure_in_range() {
    let out = std::env::temp_dir().join(format!("faurge-eval-smoke-{}", std::process::id()));
    let rows_per_clip = 3;
    let config = EvalConfig {
        data: root().join("examples"),
        models: root().join("bundle/models"),
        out: out.clone(),
        seed: 1,
        rows_per_clip,
        crop_s: 3.0,
        max_rows: None,
        // examples/: LibriSpeech speaker 19 is a test speaker, VCTK p234 a
        // validation one (there is no training speaker), so p234 is the reference.
        split: Some(Split::Test),
        reference_split: Some(Split::Validation),
        options: BakeOptions {
            max_rounds: 2,
            ..BakeOptions::default()
        },
        progress: false,
        per_row: true,
    };
    let report = evaluate(&config).expect("eval runs on the examples");
    let (json_path, md_path) = write(&report, &out).expect("report written");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();

    // The rows, rebuilt independently by the dataset generator.
    let rows = build_rows(&BuildConfig {
        data: config.data.clone(),
        out: out.clone(),
        seed: 1,
        max_clips: None,
        rows_per_clip,
        crop_s: 3.0,
        vocabulary: Vocabulary::embedded().unwrap(),
    })
    .unwrap();
    let test: Vec<_> = rows.iter().filter(|r| r.split == Split::Test).collect();
    assert!(!test.is_empty());
    assert_eq!(json["rows"], test.len());
    assert_eq!(json["rows_available"], test.len());

    let num = |p: &str| -> f64 {
        json.pointer(p)
            .and_then(|v| v.as_f64())
            .unwrap_or_else(|| panic!("{p} missing or not a number in {json:#}"))
    };
    let in_unit = |p: &str| {
        let v = num(p);
        assert!((0.0..=1.0).contains(&v), "{p} = {v}");
        v
    };
    let top1 = in_unit("/retrieval/top1");
    assert!(in_unit("/retrieval/top5") >= top1);
    for p in ["/retrieval/cos_match", "/retrieval/cos_other"] {
        assert!((-1.0..=1.0).contains(&num(p)), "{p}");
    }
    in_unit("/fabian/flag_accuracy");
    in_unit("/fabian/flag_balanced_accuracy");
    assert!(in_unit("/fabian/flag_majority_rate") >= 0.5);
    let mae = num("/fabian/dltas_mae_db");
    assert!(mae.is_finite() && mae > 0.0 && mae < 40.0, "{mae}");
    for k in ["degraded", "one_pass", "loop", "auto_eq"] {
        let v = num(&format!("/ltas_error_db/{k}"));
        assert!(v.is_finite() && v > 0.0 && v < 40.0, "{k} = {v}");
        if k != "degraded" {
            let r = num(&format!("/ltas_error_db/{k}_over_degraded"));
            assert!(r.is_finite() && r > 0.0 && r < 10.0, "{k}: {r}");
        }
    }
    for k in ["mean_abs", "one_pass_mean_abs"] {
        let lu = num(&format!("/loudness_error_lu/{k}"));
        assert!(lu.is_finite() && (0.0..60.0).contains(&lu), "{k} = {lu}");
    }
    in_unit("/loudness_error_lu/within_1lu");
    in_unit("/loudness_error_lu/one_pass_within_1lu");
    in_unit("/prompt_direction_accuracy/all");
    in_unit("/loop_stats/converged");
    let rounds = num("/loop_stats/mean_rounds");
    assert!((1.0..=2.0).contains(&rounds), "{rounds}");
    let bars = json["bars"].as_array().expect("bars");
    assert_eq!(bars.len(), 5);
    for b in bars {
        assert!(b["value"].as_f64().is_some_and(f64::is_finite), "{b}");
        assert!(b["met"].is_boolean(), "{b}");
        assert!(md.contains(b["name"].as_str().unwrap()), "{md}");
    }
    let reference = json["auto_eq"]["reference_ltas_db"].as_array().unwrap();
    assert_eq!(reference.len(), 64);

    // Per row: the no-processing error measured on the regenerated audio equals the
    // error of the dataset's own input/target metrics; the per-style direction
    // agrees with the per-row errors.
    let per_row = json["per_row"].as_array().expect("per-row figures");
    assert_eq!(per_row.len(), test.len());
    let mut degraded_sum = 0.0;
    for r in per_row {
        let row = test
            .iter()
            .find(|t| t.id == r["id"].as_str().unwrap())
            .expect("a row of the test split");
        let expected = independent_error(&row.input_ltas, &row.target_ltas, &row.ltas_mask);
        let got = r["degraded_db"].as_f64().unwrap();
        assert!(
            (got - expected).abs() < 1e-4,
            "{}: eval {got} dB, dataset {expected} dB",
            row.id
        );
        degraded_sum += got;
        assert_eq!(r["style"], row.style.as_str());
        assert_eq!(r["flag_truth"], row.requires_genesis);
        // Every round was rendered; the first is the one pass and the loop's
        // output is one of them.
        let rounds: Vec<f64> = r["round_db"]
            .as_array()
            .expect("round_db")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(rounds.len() as u64, r["rounds"].as_u64().unwrap(), "{r}");
        assert_eq!(rounds[0], r["one_pass_db"].as_f64().unwrap(), "{r}");
        let looped = r["loop_db"].as_f64().unwrap();
        assert!(rounds.iter().any(|&e| (e - looped).abs() < 1e-6), "{r}");
        let improved = looped < got;
        let style_share = num(&format!("/prompt_direction_accuracy/{}", row.style));
        if style_share == 1.0 || style_share == 0.0 {
            assert_eq!(improved, style_share == 1.0, "{r}");
        }
    }
    let mean = degraded_sum / per_row.len() as f64;
    assert!((num("/ltas_error_db/degraded") - mean).abs() < 1e-9);
    let by_round = json["by_round"].as_array().expect("by_round");
    assert!(!by_round.is_empty() && by_round.len() <= 2, "{by_round:?}");
    assert!(
        (by_round[0]["ltas_error_db"].as_f64().unwrap() - num("/ltas_error_db/one_pass")).abs()
            < 1e-9
    );
    assert!(md.contains("## By round"), "{md}");
    for k in ["degraded_crest_error_db", "loop_crest_error_db"] {
        let v = num(&format!("/dynamics/{k}"));
        assert!(v.is_finite() && (0.0..40.0).contains(&v), "{k} = {v}");
    }
    in_unit("/dynamics/compressor_on");

    // --record: the figures go into a copy of the manifest, the rest stays.
    let models = out.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let shipped = root().join("bundle/models/manifest.json");
    std::fs::copy(&shipped, models.join("manifest.json")).unwrap();
    record(&report, &models).expect("figures recorded");
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shipped).unwrap()).unwrap();
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(models.join("manifest.json")).unwrap())
            .unwrap();
    let rendered = &after["evaluation"]["rendered"];
    assert_eq!(rendered["bars"], json["bars"]);
    assert_eq!(rendered["ltas_error_db"], json["ltas_error_db"]);
    assert_eq!(rendered["rows"], json["rows"]);
    assert_eq!(after["models"], before["models"]);
    assert_eq!(after["dataset"], before["dataset"]);
    assert_eq!(
        after["evaluation"]["model_space"],
        before["evaluation"]["model_space"]
    );
    std::fs::remove_dir_all(&out).ok();
}
