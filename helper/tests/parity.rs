//! ONNX parity (checked before shipping): the shipped models run by `ort` on the tract backend
//! give PyTorch's outputs, recorded at export in `bundle/models/parity.json` on
//! real test-split rows, within |got − want| ≤ 1e-4 · max(1, |want|).

use std::path::{Path, PathBuf};

use faurge_helper::models::{Backend, Input, ModelKind, ModelSet, Runtime};
use serde_json::Value;

fn models_dir() -> PathBuf {
    std::env::var_os("FAURGE_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models"))
}

fn numbers(v: &Value) -> Vec<f64> {
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn shape(v: &Value) -> Vec<i64> {
    v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|x| x.as_i64().expect("dim"))
        .collect()
}

#[test]
fn tract_matches_pytorch_on_every_shipped_model() {
    let dir = models_dir();
    let set = ModelSet::open(&dir).expect("the shipped models verify");
    let parity: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("parity.json")).expect("parity.json"),
    )
    .expect("json");
    let runtime = Runtime::start(Backend::Tract, 2).expect("tract");
    for kind in ModelKind::ALL {
        let case = &parity["models"][kind.key()];
        assert!(case.is_object(), "parity.json has {}", kind.key());
        let mut model = runtime.load(&set, kind).expect("load");
        // Inputs in graph order, by name.
        let names = model.input_names();
        let f32s: Vec<Vec<f32>> = names
            .iter()
            .map(|n| {
                numbers(&case["inputs"][n])
                    .into_iter()
                    .map(|x| x as f32)
                    .collect()
            })
            .collect();
        let i64s: Vec<Vec<i64>> = names
            .iter()
            .map(|n| {
                numbers(&case["inputs"][n])
                    .into_iter()
                    .map(|x| x as i64)
                    .collect()
            })
            .collect();
        let inputs: Vec<Input> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let spec = &case["inputs"][n];
                if spec["dtype"] == "int64" {
                    Input::I64(shape(spec), &i64s[i])
                } else {
                    Input::F32(shape(spec), &f32s[i])
                }
            })
            .collect();
        let outputs = model.run_raw(&inputs).expect("run");
        let mut worst = 0.0f64;
        for (name, (got_shape, got)) in model.output_names().iter().zip(&outputs) {
            let want = &case["outputs"][name];
            assert_eq!(got_shape, &shape(want), "{} {name}", kind.key());
            for (g, w) in got.iter().zip(numbers(want)) {
                let err = (f64::from(*g) - w).abs() / w.abs().max(1.0);
                worst = worst.max(err);
            }
        }
        assert!(
            worst <= 1e-4,
            "{}: worst relative error {worst:e}",
            kind.key()
        );
        println!("{}: worst error {worst:.2e}", kind.key());
    }
}

#[test]
fn the_text_tokenizer_matches_the_one_the_models_were_trained_with() {
    let set = ModelSet::open(&models_dir()).expect("models");
    let parity: Value = serde_json::from_str(
        &std::fs::read_to_string(models_dir().join("tokenizer.json")).expect("tokenizer"),
    )
    .expect("json");
    let words = parity["words"].as_array().expect("words");
    // Word i has id i + 2 (0 pads, 1 is unknown).
    let w = words[5].as_str().expect("word");
    let ids = set.tokenize(&format!("{w} zzzunknownzzz"));
    assert_eq!(&ids[..3], &[7, 1, 0]);
}
