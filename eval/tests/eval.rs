//! `cargo xtask eval` end to end on a small scale: held-out clips (the project's data
//! folder where it is beside the checkout, as in CI, else the shipped `examples/`),
//! the first prompts of `eval/prompts.toml`, every damage kind, reference matching;
//! the real loop with the shipped models. Checks that every figure is present and in
//! range, that the counts add up, that the report and the recorded manifest agree,
//! and, on real data, that "fix my mic" brings noisy speech closer to its clean
//! original than leaving it alone.

use std::path::{Path, PathBuf};

use faurge_eval::{evaluate, record, write, EvalConfig};
use faurge_protocol::BakeOptions;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

const PROMPTS: usize = 10;

#[test]
fn a_small_evaluation_reports_every_figure_in_range() {
    let shared = root().join("../shared/data");
    let real = shared.join("speech").is_dir();
    let data = if real {
        shared
    } else {
        root().join("examples")
    };
    let out = std::env::temp_dir().join(format!("faurge-eval-smoke-{}", std::process::id()));
    let config = EvalConfig {
        data,
        models: root().join("bundle/models"),
        out: out.clone(),
        clips: 1,
        crop_s: 6.0,
        max_prompts: Some(PROMPTS),
        seed: 1,
        options: BakeOptions {
            max_rounds: 2,
            ..BakeOptions::default()
        },
        parts: vec!["prompts".into(), "repair".into(), "reference".into()],
        python: None,
        progress: false,
    };
    let report = evaluate(&config).expect("the evaluation runs");
    let (json_path, md_path) = write(&report, &out).expect("report written");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    let num = |p: &str| -> f64 {
        json.pointer(p)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| panic!("{p} missing or not a number in {json:#}"))
    };
    let count = |p: &str| -> (u64, u64) {
        let passed = json
            .pointer(&format!("{p}/passed"))
            .and_then(serde_json::Value::as_u64)
            .unwrap();
        let total = json
            .pointer(&format!("{p}/total"))
            .and_then(serde_json::Value::as_u64)
            .unwrap();
        assert!(passed <= total, "{p}: {passed} of {total}");
        (passed, total)
    };

    // Prompts: one bake per prompt and clip; every judged expectation counted once.
    let clips = json["provenance"]["clips"].as_array().expect("clips").len() as u64;
    assert_eq!(clips, 1);
    assert_eq!(num("/prompts/bakes") as u64, PROMPTS as u64 * clips);
    let (_, judged) = count("/prompts/direction");
    let per_quantity: u64 = json["prompts"]["per_quantity"]
        .as_object()
        .expect("per-quantity counts")
        .keys()
        .map(|q| count(&format!("/prompts/per_quantity/{q}")).1)
        .sum();
    assert_eq!(
        per_quantity, judged,
        "each judged expectation belongs to one quantity"
    );
    let (_, untouched) = count("/prompts/untouched");
    assert_eq!(
        untouched, judged,
        "the untouched baseline is judged on the same expectations"
    );
    count("/prompts/auto_eq");
    count("/prompts/monotone");
    let (_, loud) = count("/prompts/loudness_within_1lu");
    assert_eq!(
        loud,
        num("/prompts/bakes") as u64,
        "every bake's loudness is judged"
    );
    let lu = num("/prompts/loudness_mean_error_lu");
    assert!(lu.is_finite() && (0.0..10.0).contains(&lu), "{lu}");
    let [mean_ms, max_ms] = [num("/prompts/bake_ms/0"), num("/prompts/bake_ms/1")];
    assert!(mean_ms > 0.0 && mean_ms <= max_ms, "{mean_ms} {max_ms}");
    let rounds = num("/prompts/mean_rounds");
    assert!((1.0..=2.0).contains(&rounds), "{rounds}");

    // Repair: every damage kind, distances as ratios to the untouched input.
    let ratios = json["repair"]["ratio"].as_object().expect("repair ratios");
    assert!(ratios.len() >= 10, "{ratios:?}");
    for (kind, r) in ratios {
        let r = r.as_f64().unwrap();
        assert!(r.is_finite() && r > 0.0 && r < 5.0, "{kind}: {r}");
    }
    let all = num("/repair/ratio_all");
    assert!(all.is_finite() && all > 0.0, "{all}");
    if real {
        // Noise reduction must bring noisy speech closer to its clean original.
        let noise = num("/repair/ratio/noise");
        assert!(
            noise < 1.0,
            "fix my mic left noisy speech as far from clean as it was ({noise})"
        );
        let [before, after] = [num("/repair/noise_snr_db/0"), num("/repair/noise_snr_db/1")];
        assert!(
            after > before,
            "SNR against the clean original {before} → {after} dB"
        );
        let [before, after] = [
            num("/repair/noise_segmented_snr_db/0"),
            num("/repair/noise_segmented_snr_db/1"),
        ];
        assert!(
            after > before + 3.0,
            "speech against pauses {before} → {after} dB"
        );
    }
    // Reference matching: Faurge's figure is a ratio; matchering needs Python (off here).
    let faurge = num("/reference/faurge");
    assert!(
        faurge.is_finite() && faurge > 0.0 && faurge < 5.0,
        "{faurge}"
    );

    // The bars: all there, each in the Markdown.
    let bars = json["bars"].as_array().expect("bars");
    assert!(bars.len() >= 8, "{bars:?}");
    for b in bars {
        assert!(b["met"].is_boolean(), "{b}");
        assert!(md.contains(b["name"].as_str().unwrap()), "{md}");
    }

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
    assert_eq!(after["evaluation"]["rendered"]["bars"], json["bars"]);
    assert_eq!(after["models"], before["models"]);
    assert_eq!(after["dataset"], before["dataset"]);
    std::fs::remove_dir_all(&out).ok();
}
