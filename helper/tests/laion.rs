//! The LAION-CLAP loading path (`--clap-dir`, `faurge_helper::laion`) with a tiny
//! model pair of exactly LAION-CLAP's export signature that this test GENERATES
//! (ONNX protobuf built with tract-onnx's `pb` types, encoded with prost; random
//! weights from a fixed seed, small inside, 512-d L2-normalized outputs) plus a
//! RoBERTa-style byte-level BPE `tokenizer.json`. These are fixtures in a temp
//! folder, never shipped models.
//!
//! Checks: the loader accepts the pair; the loop bakes real speech (examples/)
//! with it in-process and its S_C is the cosine of the LAION towers' embeddings;
//! `faurge bake --clap-dir` does the same through the real helper process; towers
//! with a 256-d output, without `attention_mask`, or with a log-mel input are
//! refused with `LaionError::Signature`, at load and in the helper's handshake.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use faurge_dsp::state::DspState;
use faurge_helper::features::InputFeatures;
use faurge_helper::laion::{ClapDir, LaionError, Tower};
use faurge_helper::manager::ModelManager;
use faurge_helper::models::{Backend, ModelError, ModelKind, ModelSet, Runtime};
use faurge_helper::orchestrator::{cosine, Orchestrator};
use faurge_protocol::client::{ClientError, HelperClient, HelperCommand};
use faurge_protocol::{BakeOptions, BakeRequest};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tract_onnx::pb;

const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
const INT64: i32 = pb::tensor_proto::DataType::Int64 as i32;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn models_dir() -> PathBuf {
    repo().join("bundle/models")
}

fn speech_path() -> PathBuf {
    repo().join("examples/degraded_vctk_p236_023.wav")
}

/// A dimension: a number, or a named dynamic axis.
enum D {
    N(i64),
    P(&'static str),
}

fn value_info(name: &str, elem: i32, dims: &[D]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                D::N(n) => Value::DimValue(*n),
                D::P(p) => Value::DimParam((*p).to_owned()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn floats(name: &str, dims: &[i64], rng: &mut ChaCha8Rng, scale: f32) -> pb::TensorProto {
    let n: i64 = dims.iter().product();
    pb::TensorProto {
        name: name.to_owned(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        float_data: (0..n)
            .map(|_| scale * rng.gen_range(-1.0f32..1.0))
            .collect(),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: vec![values.len() as i64],
        data_type: INT64,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn scalar(name: &str, v: f32) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_owned(),
        dims: vec![],
        data_type: FLOAT,
        float_data: vec![v],
        ..Default::default()
    }
}

fn attr_int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_owned(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.to_owned(),
        name: output.to_owned(),
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        attribute,
        ..Default::default()
    }
}

/// `y / (‖y‖₂ + ε)` over the last axis of `[batch, dim]`: nodes writing `out`.
fn l2_normalize(y: &str, out: &str) -> Vec<pb::NodeProto> {
    vec![
        node("Mul", &[y, y], "yy", vec![]),
        node(
            "ReduceSum",
            &["yy", "axis1"],
            "ss",
            vec![attr_int("keepdims", 1)],
        ),
        node("Sqrt", &["ss"], "norm", vec![]),
        node("Add", &["norm", "eps"], "norm_eps", vec![]),
        node("Div", &[y, "norm_eps"], out, vec![]),
    ]
}

fn model(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "faurge-test".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The text tower: `input_ids`, `attention_mask` int64 `[batch, seq]` → masked sum
/// of a 16-d token embedding → linear to `out_dim` → L2 normalize → `text_embeds`.
/// Without `with_mask` the graph has no `attention_mask` input.
fn text_tower(vocab: usize, out_dim: i64, with_mask: bool, dynamic_out: bool) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut nodes = vec![node(
        "Gather",
        &["emb", "input_ids"],
        "x",
        vec![attr_int("axis", 0)],
    )];
    let mut inputs = vec![value_info(
        "input_ids",
        INT64,
        &[D::P("batch"), D::P("seq")],
    )];
    let pooled_from = if with_mask {
        inputs.push(value_info(
            "attention_mask",
            INT64,
            &[D::P("batch"), D::P("seq")],
        ));
        nodes.extend([
            node(
                "Cast",
                &["attention_mask"],
                "mf",
                vec![attr_int("to", FLOAT as i64)],
            ),
            node("Unsqueeze", &["mf", "axis2"], "m3", vec![]),
            node("Mul", &["x", "m3"], "xm", vec![]),
        ]);
        "xm"
    } else {
        "x"
    };
    nodes.extend([
        node(
            "ReduceSum",
            &[pooled_from, "axis1"],
            "pooled",
            vec![attr_int("keepdims", 0)],
        ),
        node("MatMul", &["pooled", "w"], "y", vec![]),
    ]);
    nodes.extend(l2_normalize("y", "text_embeds"));
    let out = if dynamic_out {
        D::P("dim")
    } else {
        D::N(out_dim)
    };
    model(pb::GraphProto {
        name: "tiny_laion_text".into(),
        node: nodes,
        initializer: vec![
            floats("emb", &[vocab as i64, 16], &mut rng, 1.0),
            floats("w", &[16, out_dim], &mut rng, 0.25),
            ints("axis1", &[1]),
            ints("axis2", &[2]),
            scalar("eps", 1e-12),
        ],
        input: inputs,
        output: vec![value_info("text_embeds", FLOAT, &[D::P("batch"), out])],
        ..Default::default()
    })
}

/// The audio tower: `waveform` f32 `[batch, 480000]` → 8 strided conv filters (64
/// taps, hop 32) → log energy per filter → linear to 512 → L2 normalize →
/// `audio_embeds`. `input_name`/`input_dims` let a test give it a wrong input.
fn audio_tower(input_name: &str, input_dims: &[D]) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut nodes = vec![
        node("Unsqueeze", &[input_name, "axis1"], "x3", vec![]),
        node(
            "Conv",
            &["x3", "kernel"],
            "c",
            vec![
                attr_ints("strides", &[32]),
                attr_ints("kernel_shape", &[64]),
            ],
        ),
        node("Mul", &["c", "c"], "c2", vec![]),
        node(
            "ReduceSum",
            &["c2", "axis2"],
            "energy",
            vec![attr_int("keepdims", 0)],
        ),
        node("Add", &["energy", "eps_e"], "energy_eps", vec![]),
        node("Log", &["energy_eps"], "log_energy", vec![]),
        node("MatMul", &["log_energy", "w"], "y", vec![]),
    ];
    nodes.extend(l2_normalize("y", "audio_embeds"));
    model(pb::GraphProto {
        name: "tiny_laion_audio".into(),
        node: nodes,
        initializer: vec![
            floats("kernel", &[8, 1, 64], &mut rng, 0.2),
            floats("w", &[8, 512], &mut rng, 1.0),
            ints("axis1", &[1]),
            ints("axis2", &[2]),
            scalar("eps", 1e-12),
            scalar("eps_e", 1e-6),
        ],
        input: vec![value_info(input_name, FLOAT, input_dims)],
        output: vec![value_info(
            "audio_embeds",
            FLOAT,
            &[D::P("batch"), D::N(512)],
        )],
        ..Default::default()
    })
}

/// A RoBERTa-style `tokenizer.json`: `<s> <pad> </s> <unk>`, the 256 byte
/// symbols of GPT-2's byte map, and merges spelling out a few prompt words (with
/// and without the leading-space `Ġ`). Returns the bytes and the vocabulary size.
fn tokenizer_json() -> (Vec<u8>, usize) {
    let mut vocab: BTreeMap<String, usize> = BTreeMap::new();
    let mut next = 0;
    let mut add = |t: String, vocab: &mut BTreeMap<String, usize>| {
        if let std::collections::btree_map::Entry::Vacant(e) = vocab.entry(t) {
            e.insert(next);
            next += 1;
        }
    };
    for s in ["<s>", "<pad>", "</s>", "<unk>"] {
        add(s.to_owned(), &mut vocab);
    }
    // GPT-2's byte map, written independently of the helper's.
    let visible = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut extra = 0;
    for b in 0..256u32 {
        let c = if visible(b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        add(char::from_u32(c).unwrap().to_string(), &mut vocab);
    }
    let mut merges = Vec::new();
    for word in [
        "warm", "radio", "voice", "clear", "bright", "Ġwarm", "Ġradio", "Ġvoice",
    ] {
        let chars: Vec<String> = word.chars().map(String::from).collect();
        let mut acc = chars[0].clone();
        for c in &chars[1..] {
            let m = format!("{acc} {c}");
            if !merges.contains(&m) {
                merges.push(m);
            }
            acc.push_str(c);
            add(acc.clone(), &mut vocab);
        }
    }
    let n = vocab.len();
    let json = serde_json::json!({
        "version": "1.0",
        "added_tokens": [],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    });
    (serde_json::to_vec(&json).unwrap(), n)
}

/// Writes a LAION-CLAP folder with the given towers into a fresh temp dir.
fn clap_dir(text: impl FnOnce(usize) -> Vec<u8>, audio: Vec<u8>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tok, vocab) = tokenizer_json();
    std::fs::write(dir.path().join("tokenizer.json"), tok).unwrap();
    std::fs::write(dir.path().join("text_model.onnx"), text(vocab)).unwrap();
    std::fs::write(dir.path().join("audio_model.onnx"), audio).unwrap();
    dir
}

fn good_audio() -> Vec<u8> {
    audio_tower("waveform", &[D::P("batch"), D::N(480_000)])
}

fn good_clap_dir() -> tempfile::TempDir {
    clap_dir(|v| text_tower(v, 512, true, false), good_audio())
}

/// The process' runtime (one `ort` environment per process).
fn runtime() -> Runtime {
    static RT: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| Runtime::start(Backend::Tract, 2).expect("tract starts"))
        .clone()
}

fn set_with(dir: &Path) -> ModelSet {
    ModelSet::open(&models_dir())
        .expect("shipped models")
        .with_clap(ClapDir::open(dir).expect("the LAION folder opens"))
}

fn speech_request() -> BakeRequest {
    let a = faurge_io::read(speech_path()).expect("shipped clip");
    let n = (4 * a.sample_rate as usize).min(a.frames());
    BakeRequest::new(
        1,
        "warm radio voice",
        a.sample_rate,
        &[&a.channels[0][..n]],
        DspState::default(),
        BakeOptions::default(),
    )
    .expect("valid request")
}

#[test]
fn the_loop_bakes_real_speech_with_a_laion_signature_encoder() {
    let dir = good_clap_dir();
    let rt = runtime();
    let set = set_with(dir.path());
    assert_eq!(
        set.model_path(ModelKind::EncoderText),
        dir.path().join("text_model.onnx")
    );
    let manager = ModelManager::new(rt.clone(), set.clone(), 4 << 30).expect("towers accepted");
    let mut orchestrator = Orchestrator::new(manager).expect("loop");
    let req = speech_request();
    let result = orchestrator
        .bake(&req, &mut |_| {}, &AtomicBool::new(false))
        .expect("the bake runs with the LAION towers");
    assert!(result.dsp_state.validate().is_ok());
    assert!(!result.report.rounds.is_empty());
    eprintln!(
        "LAION-signature bake: {} rounds, {:.0} ms, S_C {:?}",
        result.report.rounds.len(),
        result.report.total_ms,
        result
            .report
            .rounds
            .iter()
            .map(|r| r.similarity)
            .collect::<Vec<_>>()
    );
    for r in &result.report.rounds {
        assert!(r.similarity.is_finite() && (-1.0..=1.0001).contains(&r.similarity));
        assert!(r.target_ltas_db.iter().all(|v| v.is_finite()));
    }
    if let Some(ir) = &result.ir {
        assert!(ir.samples_f32().unwrap().iter().all(|v| v.is_finite()));
    }
    let out = result
        .report
        .output_metrics
        .as_ref()
        .expect("output metrics");
    assert!(out.ltas_db.iter().all(|v| v.is_finite()));

    // The loop's input similarity is the cosine of the LAION towers' embeddings of
    // the understood prompt and of the snapshot (not the built-in encoders').
    let mut text = rt.load(&set, ModelKind::EncoderText).expect("text tower");
    let mut audio = rt.load(&set, ModelKind::EncoderAudio).expect("audio tower");
    assert!(text.is_laion() && audio.is_laion());
    let e_text = text
        .encode_text(&set.tokenize(&result.report.prompt.understood))
        .unwrap();
    let channels = req.channels_f32().unwrap();
    let refs: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
    let input = InputFeatures::measure(&refs, req.sample_rate).unwrap();
    let e_audio = audio
        .encode_audio_input(&input.log_mel, &input.audio)
        .unwrap();
    for e in [&e_text, &e_audio] {
        let norm = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "L2-normalized: {norm}");
    }
    let expected = cosine(&e_text, &e_audio);
    assert!(
        (result.report.input_similarity - expected).abs() < 1e-4,
        "S_C(input) {} vs LAION cosine {expected}",
        result.report.input_similarity
    );
    // Not the built-in encoders' figure.
    let builtin = ModelSet::open(&models_dir()).unwrap();
    let mut bt = rt.load(&builtin, ModelKind::EncoderText).unwrap();
    let mut ba = rt.load(&builtin, ModelKind::EncoderAudio).unwrap();
    let b = cosine(
        &bt.encode_text(&builtin.tokenize(&result.report.prompt.understood))
            .unwrap(),
        &ba.encode_audio(&input.log_mel).unwrap(),
    );
    assert!(
        (b - expected).abs() > 1e-3,
        "built-in {b} vs LAION {expected}"
    );
}

fn assert_signature_error(err: ModelError, tower: Tower, needle: &str) {
    match &err {
        ModelError::Laion(LaionError::Signature {
            tower: t,
            expected,
            found,
            ..
        }) => {
            assert_eq!(*t, tower, "{err}");
            assert!(expected.contains("512"), "{expected}");
            assert!(found.contains(needle), "found {found:?} lacks {needle:?}");
        }
        other => panic!("expected a LAION signature error, got {other:?}"),
    }
}

#[test]
fn towers_with_a_wrong_signature_are_refused_with_a_typed_error() {
    let rt = runtime();
    // 256-d text embedding, stated in the graph: refused at load.
    let d = clap_dir(|v| text_tower(v, 256, true, false), good_audio());
    let err = rt
        .load(&set_with(d.path()), ModelKind::EncoderText)
        .err()
        .expect("256-d refused");
    assert_signature_error(err, Tower::Text, "256");

    // 256-d behind a dynamic output width: refused on the first forward pass,
    // which the model manager runs at start-up.
    let d = clap_dir(|v| text_tower(v, 256, true, true), good_audio());
    let err = ModelManager::new(rt.clone(), set_with(d.path()), 4 << 30)
        .err()
        .expect("256-d refused at start-up");
    match err {
        faurge_helper::manager::ManagerError::Model(e) => {
            assert_signature_error(e, Tower::Text, "256")
        }
        other => panic!("{other}"),
    }

    // No attention_mask input.
    let d = clap_dir(|v| text_tower(v, 512, false, false), good_audio());
    let err = rt
        .load(&set_with(d.path()), ModelKind::EncoderText)
        .err()
        .expect("no mask refused");
    assert_signature_error(err, Tower::Text, "missing attention_mask");

    // An audio tower reading a log-mel instead of the waveform.
    let d = clap_dir(
        |v| text_tower(v, 512, true, false),
        audio_tower("log_mel", &[D::P("batch"), D::N(64)]),
    );
    let err = rt
        .load(&set_with(d.path()), ModelKind::EncoderAudio)
        .err()
        .expect("log-mel input refused");
    assert_signature_error(err, Tower::Audio, "log_mel");
}

#[test]
fn the_helper_process_reports_a_wrong_signature_in_its_handshake() {
    let d = clap_dir(|v| text_tower(v, 256, true, false), good_audio());
    let cmd = HelperCommand::new(env!("CARGO_BIN_EXE_faurge-helper"))
        .arg("--models")
        .arg(models_dir())
        .arg("--clap-dir")
        .arg(d.path());
    match HelperClient::spawn(&cmd, Duration::from_secs(60)) {
        Err(ClientError::ModelLoad { message, .. }) => assert!(
            message.contains("wrong signature") && message.contains("256"),
            "{message}"
        ),
        Err(other) => panic!("expected a model-load error, got {other}"),
        Ok(_) => panic!("a helper with a 256-d LAION text tower reported usable models"),
    }
}

#[test]
fn faurge_bake_with_clap_dir_runs_end_to_end_through_the_helper_process() {
    let dir = good_clap_dir();
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_faurge"))
        .arg("bake")
        .arg(speech_path())
        .arg("--out")
        .arg(out.path())
        .args(["--prompt", "warm radio voice", "--max-rounds", "2"])
        .arg("--helper")
        .arg(env!("CARGO_BIN_EXE_faurge-helper"))
        .arg("--models")
        .arg(models_dir())
        .arg("--clap-dir")
        .arg(dir.path())
        .output()
        .expect("faurge runs");
    assert!(
        status.status.success(),
        "faurge bake failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let rounds = report["report"]["rounds"].as_array().expect("rounds");
    assert!(!rounds.is_empty() && rounds.len() <= 2);
    for r in rounds {
        let s = r["similarity"].as_f64().expect("finite similarity");
        assert!(s.is_finite() && (-1.0..=1.0001).contains(&s));
    }
    let state: DspState =
        serde_json::from_slice(&std::fs::read(out.path().join("dsp_state.json")).unwrap()).unwrap();
    assert!(state.validate().is_ok());
}
