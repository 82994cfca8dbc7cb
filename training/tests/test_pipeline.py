"""Smoke test of the whole pipeline, as CI runs it: a tiny dataset from the
shipped examples, one epoch of every model, ONNX export (opset 17), and
onnxruntime outputs equal to PyTorch's within 1e-4 (relative above 1)."""

import json
import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import ROOT
from faurge_train import data, models, ship, tone, train


def faurge_dataset(command, out, rows_per_clip):
    """Runs ``faurge-dataset COMMAND`` (``$FAURGE_DATASET_BIN`` or ``cargo run``) on the
    shipped examples, seed 3, 2 s crops, into ``out``."""
    binary = os.environ.get("FAURGE_DATASET_BIN")
    cmd = [binary] if binary else ["cargo", "run", "--quiet", "-p", "faurge-dataset", "--"]
    subprocess.run(cmd + [command, "--data", str(ROOT / "examples"), "--out", str(out), "--seed", "3",
                          "--rows-per-clip", str(rows_per_clip), "--crop-s", "2"], cwd=ROOT, check=True)
    return out


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return faurge_dataset("build", tmp_path_factory.mktemp("dataset"), 10)


def test_dataset_reads_with_masks(tiny_dataset):
    rows = 0
    for split in ("train", "validation", "test"):
        d = data.load_split(tiny_dataset, split)
        if d is None:
            continue
        rows += len(d["id"])
        assert d["input_mel"].shape[1:] == (198, 64)
        assert d["target_ltas"].shape[1] == 64
        libri = d["corpus"] == "librispeech"
        # 16 kHz LibriSpeech: bands above 8 kHz masked, deltas zero there.
        assert (d["ltas_mask"][libri][:, -1] == 0).all()
        assert (d["delta_ltas"][d["ltas_mask"] == 0] == 0).all()
        # Every row has an intent and a target rendered for it.
        assert d["intent_vector"].shape[1] == data.load_vocabulary(tiny_dataset)["intent_vector_len"]
        assert ((d["goals_met"] >= 0) & (d["goals_met"] <= 1)).all()
        assert (d["restore_mask"] <= d["damage_mask"]).all()
    assert rows == 20
    assert len(data.dataset_hash(tiny_dataset)) == 64


def test_python_tokenizer_matches_rust(tiny_dataset):
    vocab = data.load_vocabulary(tiny_dataset)
    tokenize = train.make_tokenizer(vocab)
    for split in ("train", "validation", "test"):
        d = data.load_split(tiny_dataset, split)
        if d is None:
            continue
        for text, ids in zip(d["understood"], d["caption_tokens"]):
            assert tokenize(text).tolist() == ids.tolist(), text
    for c in data.load_captions(tiny_dataset)[:500]:
        assert tokenize(c["understood"]).tolist() == c["tokens"], c["understood"]
        assert len(c["intent_vector"]) == vocab["intent_vector_len"]


def bundle_snapshot():
    folder = ROOT / "bundle" / "models"
    return {p.name: ship.sha256(p) for p in sorted(folder.glob("*"))} if folder.is_dir() else {}


def test_one_epoch_trains_and_exports_matching_onnx(tiny_dataset, tmp_path):
    before = bundle_snapshot()
    report = train.main(["--data", str(tiny_dataset), "--out", str(tmp_path), "--epochs", "1"])
    # The smoke run never touches the shipped models.
    assert bundle_snapshot() == before
    assert report["run"]["epochs"] == 1 and report["run"]["command"]
    assert report["dataset_hash"] == data.dataset_hash(tiny_dataset)
    w = torch.load(tmp_path / "weights.pt")
    enc = models.Encoder(w["n_words"]); enc.load_state_dict(w["encoder"]); enc.eval()
    fab = models.fabian_from_weights(w); fab.eval()
    urs = models.Ursula(); urs.load_state_dict(w["ursula"]); urs.eval()
    gen = models.Genesis(); gen.load_state_dict(w["genesis"]); gen.eval()
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, w["n_words"], (3, 24), generator=g)
    mel = -6 + 2 * torch.rand(3, 150, 64, generator=g)
    fused = torch.randn(3, 1024, generator=g)
    metrics = torch.randn(3, 198, generator=g)
    spec = -40 + 10 * torch.randn(3, 256, generator=g)
    mask = torch.ones(3, 256)
    cases = [
        ("encoder_text.onnx", enc.text, [tokens]),
        ("encoder_audio.onnx", enc.audio, [mel]),
        ("fabian.onnx", fab, [fused]),
        ("ursula.onnx", urs, [metrics]),
        ("genesis.onnx", gen, [torch.nn.functional.normalize(fused[:, :512], dim=-1), spec, mask]),
    ]
    for name, model, inputs in cases:
        m = onnx.load(str(tmp_path / name))
        assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
        sess = ort.InferenceSession(str(tmp_path / name), providers=["CPUExecutionProvider"])
        feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)}
        got = sess.run(None, feeds)
        with torch.no_grad():
            want = model(*inputs)
        want = want if isinstance(want, tuple) else (want,)
        for a, b in zip(got, want):
            # 1e-4 relative to the output's scale (Ursula outputs Hz up to 2e4).
            b = b.numpy()
            assert (np.abs(a - b) <= 1e-4 * np.maximum(1.0, np.abs(b))).all(), name


def test_ship_writes_manifest_tokenizer_and_parity(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train.main(["--data", str(tiny_dataset), "--out", str(run), "--epochs", "1"])
    dest = tmp_path / "models"
    m = ship.ship(run, tiny_dataset, dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [*ship.MODEL_FILES.values(), "manifest.json", "tokenizer.json", "parity.json"])
    assert json.loads((dest / "manifest.json").read_text()) == m
    assert m["dataset"]["hash"] == data.dataset_hash(tiny_dataset)
    assert m["dataset"]["command"].endswith("--seed 3 --rows-per-clip 10 --crop-s 2")
    for name, e in m["models"].items():
        assert e["sha256"] == ship.sha256(dest / e["file"]) and e["bytes"] > 0
    assert m["models"]["fabian"]["inputs"] == [{"name": "fused", "dtype": "float32", "shape": ["batch", 1024]}]
    assert m["models"]["encoder_text"]["inputs"][0]["dtype"] == "int64"
    assert m["training"]["epochs"] == 1 and m["training"]["seed"] == 1
    assert "rendered" not in m["evaluation"] and m["evaluation"]["model_space"]["rows"] > 0
    tok = json.loads((dest / "tokenizer.json").read_text())
    assert tok["words"] == data.load_vocabulary(tiny_dataset)["words"]
    # Parity inputs are real test rows: token ids of their captions.
    parity = json.loads((dest / "parity.json").read_text())
    d = next(s for s in (data.load_split(tiny_dataset, k) for k in ("test", "validation", "train")) if s is not None)
    toks = parity["models"]["encoder_text"]["inputs"]["tokens"]
    assert toks["data"][:24] == d["caption_tokens"][0].tolist()
    sess = ort.InferenceSession(str(dest / "fabian.onnx"), providers=["CPUExecutionProvider"])
    f = parity["models"]["fabian"]
    x = np.array(f["inputs"]["fused"]["data"], dtype=np.float32).reshape(f["inputs"]["fused"]["shape"])
    got = sess.run(["delta_ltas"], {"fused": x})[0]
    assert [o.name for o in sess.get_outputs()] == ["delta_ltas", "delta_lufs", "delta_dyn", "genesis_logit", "restore_logits"]
    assert "s_c_threshold" in m["calibration"]
    want = np.array(f["outputs"]["delta_ltas"]["data"], dtype=np.float32).reshape(got.shape)
    assert np.abs(got - want).max() <= 1e-4
    # A run trained on another dataset is refused.
    (run / "report.json").write_text((run / "report.json").read_text().replace(m["dataset"]["hash"], "0" * 64))
    with pytest.raises(ValueError):
        ship.ship(run, tiny_dataset, tmp_path / "other")


@pytest.fixture(scope="module")
def tiny_pairs(tmp_path_factory):
    return faurge_dataset("tone-pairs", tmp_path_factory.mktemp("tone"), 16)


def test_tone_repair_is_level_free_masked_and_applied_by_a_ramp():
    m = tone.ToneRepair().eval()
    x = torch.randn(3, 64) * 10 - 30
    mask = torch.ones(3, 64)
    mask[1, 40:] = 0
    f0 = torch.tensor([[-0.6, -0.4, -0.1], [0.3, 0.5, 0.8], [0.0, 0.0, 0.0]])
    with torch.no_grad():
        d = m(x, mask, f0)
        # A level change of the input changes nothing; masked bands are 0 and ignored.
        assert torch.allclose(d, m(x + 7.0, mask, f0), atol=1e-4)
        x2 = x.clone()
        x2[1, 40:] = -100.0
        assert torch.allclose(d, m(x2, mask, f0), atol=1e-4)
        # The pitch is read: an octave higher voice gets another estimate.
        assert not torch.allclose(d, m(x, mask, f0 + 1.0), atol=1e-3)
    assert (d[1, 40:] == 0).all()
    assert torch.allclose((d * mask).sum(-1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(tone.smoothing_matrix().sum(-1), torch.ones(64))
    # The ramp: nothing below the deadband, all of it beyond the full level, a share
    # rising linearly between them; all or nothing when the two meet.
    v = torch.zeros(3, 64)
    for row, level in enumerate((1.0, 2.5, 4.0)):
        v[row, :32], v[row, 32:] = level, -level
    ones = torch.ones(3, 64)
    a = tone.applied(v, ones, 2.0, 3.0)
    assert torch.allclose(tone.rms(a, ones), torch.tensor([0.0, 1.25, 4.0]), atol=1e-5)
    assert torch.allclose(a[1], 0.5 * v[1]) and torch.equal(a[2], v[2])
    assert torch.allclose(tone.rms(tone.applied(v, ones, 2.0, 2.0), ones), torch.tensor([0.0, 2.5, 4.0]))


def test_tone_pairs_train_export_and_ship_keeps_other_models(tiny_dataset, tiny_pairs, tmp_path):
    # The shipped examples are one test and one validation speaker (in two
    # cross-fitting folds): train on both.
    pairs, speakers = tone.load(tiny_pairs)
    split = tuple(torch.cat(parts) for parts in zip(*pairs.values()))
    names = [s for part in speakers.values() for s in part]
    assert len({tone.fold_of(s) for s in names}) == 2
    inp, clean, mask, damaged, f0 = split
    # The pitch was read on every row of the two voices (a LibriSpeech and a VCTK
    # speaker: both between 70 and 300 Hz).
    assert ((f0 > -1.1) & (f0 < 1.0)).all() and (f0[:, 0] <= f0[:, 1]).all() and (f0[:, 1] <= f0[:, 2]).all()
    assert (f0[:, 1] != 0).all()
    # Clean rows are the clean crop; damaged rows differ from it.
    assert (~damaged).any() and damaged.any()
    assert torch.equal(inp[~damaged], clean[~damaged])
    assert ((inp[damaged] - clean[damaged]).abs() * mask[damaged]).amax(-1).min() > 0.5
    model, report = tone.train({"train": split, "validation": split, "test": split}, {"train": names},
                               epochs=1, log=lambda m: None)
    cal = report["calibration"]
    assert 0 < cal["tone_repair_deadband_db"] <= cal["tone_repair_full_db"]
    out = tmp_path / "run"
    out.mkdir()
    tone.export_onnx(model, out / tone.FILE)
    sess = ort.InferenceSession(str(out / tone.FILE), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"ltas_db": inp[:4].numpy(), "ltas_mask": mask[:4].numpy(), "voice_f0": f0[:4].numpy()})[0]
    with torch.no_grad():
        want = model(inp[:4], mask[:4], f0[:4]).numpy()
    assert np.abs(got - want).max() <= 1e-4
    # Entered into a bundle of the other five, and kept when they are shipped again.
    run = tmp_path / "main"
    train.main(["--data", str(tiny_dataset), "--out", str(run), "--epochs", "1"])
    dest = tmp_path / "models"
    ship.ship(run, tiny_dataset, dest)
    tone.ship(model, report, tiny_pairs, out, dest)
    m = json.loads((dest / "manifest.json").read_text())
    assert set(m["models"]) == set(ship.ALL_MODEL_FILES)
    assert m["models"]["tone_repair"]["sha256"] == ship.sha256(dest / tone.FILE)
    assert m["parity"]["sha256"] == ship.sha256(dest / "parity.json")
    for key in ("tone_repair_deadband_db", "tone_repair_full_db"):
        assert m["calibration"][key] == report["calibration"][key]
    assert m["tone_repair"]["pairs"]["command"].startswith("faurge-dataset tone-pairs --data ")
    case = json.loads((dest / "parity.json").read_text())["models"]["tone_repair"]
    again = ship.ship(run, tiny_dataset, dest)
    assert again["models"]["tone_repair"] == m["models"]["tone_repair"]
    assert again["tone_repair"] == m["tone_repair"]
    assert json.loads((dest / "parity.json").read_text())["models"]["tone_repair"] == case
    assert again["parity"]["sha256"] == ship.sha256(dest / "parity.json")
    # A bundle whose estimator file is not the one entered is refused.
    (dest / tone.FILE).write_bytes(b"not a model")
    with pytest.raises(ValueError):
        ship.ship(run, tiny_dataset, dest)
