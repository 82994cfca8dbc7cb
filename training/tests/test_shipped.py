"""The shipped models in ``bundle/models``: the manifest's sha256 and sizes match
the files, its I/O entries match the ONNX graphs, the parity cases reproduce with
onnxruntime within the stated tolerance, and the evaluation is the real one."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import ROOT
from faurge_train import ship

MODELS = ROOT / "bundle" / "models"


@pytest.fixture(scope="module")
def manifest():
    return json.loads((MODELS / "manifest.json").read_text())


def test_manifest_sha256_and_sizes_match_the_files(manifest):
    assert set(manifest["models"]) == set(ship.ALL_MODEL_FILES)
    for name, e in manifest["models"].items():
        path = MODELS / e["file"]
        assert ship.sha256(path) == e["sha256"], name
        assert path.stat().st_size == e["bytes"], name
        assert e["parameters"] > 1000, name
    for key in ("tokenizer", "parity"):
        assert ship.sha256(MODELS / manifest[key]["file"]) == manifest[key]["sha256"], key


def test_manifest_io_matches_the_onnx_graphs(manifest):
    expected = {
        "encoder_text": (["tokens"], ["e_text"]),
        "encoder_audio": (["log_mel"], ["e_audio"]),
        "fabian": (["fused"], ["delta_ltas", "delta_lufs", "delta_dyn", "genesis_logit", "restore_logits"]),
        "ursula": (["metrics"], ["settings"]),
        "genesis": (["c_scene", "spectrum_db", "spectrum_mask"], ["ir_params"]),
        "tone_repair": (["ltas_db", "ltas_mask", "voice_f0"], ["damage_db"]),
    }
    for name, e in manifest["models"].items():
        g = onnx.load(str(MODELS / e["file"])).graph
        init = {i.name for i in g.initializer}
        for entries, values in ((e["inputs"], [v for v in g.input if v.name not in init]), (e["outputs"], list(g.output))):
            assert [x["name"] for x in entries] == [v.name for v in values], name
            for x, v in zip(entries, values):
                dims = v.type.tensor_type.shape.dim
                got = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]
                assert x["shape"] == got, (name, x["name"])
                assert x["dtype"] == ship.ONNX_DTYPES[v.type.tensor_type.elem_type], (name, x["name"])
        assert ([x["name"] for x in e["inputs"]], [x["name"] for x in e["outputs"]]) == expected[name]
        # Every input and output has a symbolic batch (no 0/1 specialization at export).
        assert all(x["shape"][0] == "batch" for x in e["inputs"] + e["outputs"]), name
    fixed = {x["name"]: x["shape"][1:] for e in manifest["models"].values() for x in e["inputs"] + e["outputs"]}
    assert fixed["tokens"] == [24] and fixed["log_mel"][1:] == [64] and fixed["fused"] == [1024]
    assert fixed["e_text"] == fixed["e_audio"] == [512] and fixed["metrics"] == [198] and fixed["settings"] == [37]
    assert fixed["ir_params"] == [36] and fixed["delta_ltas"] == [64]
    assert fixed["ltas_db"] == fixed["ltas_mask"] == fixed["damage_db"] == [64]


def test_parity_cases_reproduce_with_onnxruntime(manifest):
    parity = json.loads((MODELS / "parity.json").read_text())
    assert set(parity["models"]) == set(ship.ALL_MODEL_FILES)
    for name, case in parity["models"].items():
        sess = ort.InferenceSession(str(MODELS / manifest["models"][name]["file"]), providers=["CPUExecutionProvider"])
        feeds = {k: np.array(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for k, v in case["inputs"].items()}
        # Real rows, not zeros: every input varies.
        assert all(np.ptp(x) > 0 for x in feeds.values()), name
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        for k, v in case["outputs"].items():
            want = np.array(v["data"], dtype=np.float32).reshape(v["shape"])
            assert got[k].shape == want.shape, (name, k)
            err = np.abs(got[k] - want) / np.maximum(1.0, np.abs(want))
            assert err.max() <= parity["tolerance"]["absolute"], (name, k, float(err.max()))
    assert (MODELS / "parity.json").stat().st_size < 4_000_000


def test_tokenizer_and_provenance(manifest):
    tok = json.loads((MODELS / "tokenizer.json").read_text())
    assert tok["max_tokens"] == 24 and len(tok["words"]) + 2 <= 10_000 and len(tok["quantities"]) >= 15
    assert len(manifest["dataset"]["hash"]) == 64
    assert manifest["dataset"]["rows"]["train"] > 1000 and manifest["dataset"]["command"].startswith("faurge-dataset build")
    tr = manifest["training"]
    assert len(tr["commit"].split("-")[0]) == 40 and tr["epochs"] >= 5 and tr["seconds"] > 0 and tr["torch_version"]
    ev = manifest["evaluation"]["model_space"]
    assert ev["rows"] == manifest["dataset"]["rows"]["test"]
    assert ev["ltas_error_db"]["one_pass"] < ev["ltas_error_db"]["input"]
    # S_C separates fulfilling from not fulfilling better than chance, and the loop's
    # threshold is the calibrated one.
    assert ev["s_c"]["auc"] > 0.6
    assert -1 <= manifest["calibration"]["s_c_threshold"] <= 1
    assert "rendered" not in manifest["evaluation"] or isinstance(manifest["evaluation"]["rendered"], dict)


def test_tone_repair_provenance_and_held_out_figures(manifest):
    t = manifest["tone_repair"]
    assert len(t["pairs"]["sha256"]) == 64 and t["pairs"]["command"].startswith("faurge-dataset tone-pairs")
    assert len(t["training"]["commit"].split("-")[0]) == 40 and t["training"]["epochs"] >= 5
    cal = manifest["calibration"]
    assert 0 < cal["tone_repair_deadband_db"] < 6 and cal["tone_repair_deadband_rows"] > 100
    assert cal["tone_repair_deadband_db"] < cal["tone_repair_full_db"] < 8
    # On the test split's speakers (never trained on), the repair it implies brings
    # damaged spectra closer to their clean originals and leaves clean ones nearly alone.
    test = t["evaluation"]["test"]
    assert test["damaged_rows"] > 500 and test["clean_rows"] > 100
    assert test["damaged_distance_db"]["ratio"] < 0.8
    assert test["clean_change_db"]["mean"] < 0.5
