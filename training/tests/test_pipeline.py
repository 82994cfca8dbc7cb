"""Smoke test of the whole pipeline, as CI runs it: a tiny dataset from the
shipped examples, one epoch of every model, ONNX export (opset 17), and
onnxruntime outputs equal to PyTorch's within 1e-4 (relative above 1)."""

import os
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import ROOT
from faurge_train import data, models, train


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    binary = os.environ.get("FAURGE_DATASET_BIN")
    cmd = [binary] if binary else ["cargo", "run", "--quiet", "-p", "faurge-dataset", "--"]
    subprocess.run(cmd + ["build", "--data", str(ROOT / "examples"), "--out", str(out),
                          "--seed", "3", "--rows-per-clip", "10", "--crop-s", "2"], cwd=ROOT, check=True)
    return out


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
    assert rows == 20
    assert len(data.dataset_hash(tiny_dataset)) == 64


def test_python_tokenizer_matches_rust(tiny_dataset):
    vocab = data.load_vocabulary(tiny_dataset)
    tokenize = train.make_tokenizer(vocab)
    for split in ("train", "validation", "test"):
        d = data.load_split(tiny_dataset, split)
        if d is None:
            continue
        for text, ids in zip(d["caption"], d["caption_tokens"]):
            assert tokenize(text).tolist() == ids.tolist(), text
        for text, ids in zip(d["defect_caption"], d["defect_caption_tokens"]):
            assert tokenize(text).tolist() == ids.tolist(), text


def test_one_epoch_trains_and_exports_matching_onnx(tiny_dataset, tmp_path):
    report = train.main(["--data", str(tiny_dataset), "--out", str(tmp_path), "--epochs", "1"])
    assert report["dataset_hash"] == data.dataset_hash(tiny_dataset)
    w = torch.load(tmp_path / "weights.pt")
    enc = models.Encoder(w["n_words"]); enc.load_state_dict(w["encoder"]); enc.eval()
    fab = models.Fabian(); fab.load_state_dict(w["fabian"]); fab.eval()
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
