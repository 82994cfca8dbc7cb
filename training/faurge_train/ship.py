"""Ships a finished training run into ``bundle/models``. Usage::

    python -m faurge_train.ship --run runs/ship --data ../target/dataset --dest ../bundle/models

(``python -m faurge_train.train … --ship ../bundle/models`` and
``cargo xtask train --ship`` call the same code after training.)

Copies the five ONNX files of the run (the tone-repair estimator's entries, which
``faurge_train.tone`` makes, are kept), writes

- ``tokenizer.json``: the dataset's vocabulary (``words``, ``max_tokens``,
  ``quantities``); token id = index in ``words`` + 2, 0 pads, 1 is unknown (the rule of
  ``faurge_dataset::vocabulary::Tokenizer``);
- ``parity.json``: per model, a few real test-split inputs and PyTorch's outputs
  (flat row-major ``data`` with ``shape`` and ``dtype``), so the Rust side can check
  that ort/tract agrees within ``tolerance`` (``|got − want| ≤ 1e-4 · max(1, |want|)``);
- ``manifest.json``: sha256, size, ONNX I/O (names, dtypes, shapes; symbolic
  dimensions as strings) and parameter count of every model, the tokenizer and
  parity files, the dataset (hash, rows, command), the training run (commit,
  command, epochs, seconds, seed, torch version; ``shipped_by_commit``: the tree
  that ran this module, which also exported the ONNX files with ``--reexport``)
  and the model-space test
  evaluation (``evaluation.model_space``; ``evaluation.rendered`` belongs to
  ``cargo xtask eval``, which adds it for the models shipped here).
"""

import argparse
import hashlib
import json
import pathlib
import shutil

import numpy as np
import onnx
import torch

from . import data, models, tone
from .export import FABIAN_OUTPUTS, export_models, git_commit
from .models import ursula_input

MODEL_FILES = {
    "encoder_text": "encoder_text.onnx",
    "encoder_audio": "encoder_audio.onnx",
    "fabian": "fabian.onnx",
    "ursula": "ursula.onnx",
    "genesis": "genesis.onnx",
}
# Every model of the bundle: the five above and the tone-repair estimator, which
# ``faurge_train.tone`` trains and enters on its own (``cargo xtask tone --ship``).
ALL_MODEL_FILES = {**MODEL_FILES, "tone_repair": "tone_repair.onnx"}
PARITY_TOLERANCE = 1e-4
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.INT64: "int64",
               onnx.TensorProto.INT32: "int32", onnx.TensorProto.DOUBLE: "float64"}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnx_io(path):
    """``(inputs, outputs)`` of an ONNX graph: ``[{"name", "dtype", "shape"}]``, fixed
    dimensions as ints, symbolic ones (batch, frames) by name."""
    g = onnx.load(str(path), load_external_data=False).graph
    init = {i.name for i in g.initializer}

    def describe(v):
        tt = v.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
        return {"name": v.name, "dtype": ONNX_DTYPES.get(tt.elem_type, str(tt.elem_type)), "shape": shape}
    return [describe(v) for v in g.input if v.name not in init], [describe(v) for v in g.output]


def _f32_list(a):
    """Float32 values as the shortest decimal that reads back to the same float32."""
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def _tensor(a):
    a = a.detach().numpy() if torch.is_tensor(a) else np.asarray(a)
    if a.dtype.kind in "iu":
        return {"dtype": "int64", "shape": list(a.shape), "data": a.astype(np.int64).reshape(-1).tolist()}
    return {"dtype": "float32", "shape": list(a.shape), "data": _f32_list(a)}


def load_models(run):
    """The run's PyTorch models (eval mode) from ``weights.pt``."""
    w = torch.load(pathlib.Path(run) / "weights.pt")
    enc = models.Encoder(w["n_words"]); enc.load_state_dict(w["encoder"])
    fab = models.fabian_from_weights(w)
    urs = models.Ursula(); urs.load_state_dict(w["ursula"])
    gen = models.Genesis(); gen.load_state_dict(w["genesis"])
    for m in (enc, fab, urs, gen):
        m.eval()
    return enc, fab, urs, gen


@torch.no_grad()
def parity_cases(run, dataset, rows=4, audio_rows=2):
    """Fixed inputs from the first test-split rows (real rows: token ids of their
    captions, their log-mels, fused embeddings, metrics, spectra) and PyTorch's
    outputs. Inputs are rounded to float32 first, so the file holds exactly what
    PyTorch saw."""
    enc, fab, urs, gen = load_models(run)
    split = next(s for s in (data.load_split(dataset, k) for k in ("test", "validation", "train")) if s is not None)
    n = min(rows, len(split["id"]))
    f32 = lambda a: torch.from_numpy(np.array(np.asarray(a[:n], dtype=np.float32)))
    tokens = torch.from_numpy(np.asarray(split["caption_tokens"][:n], dtype=np.int64))
    mel = f32(split["input_mel"])[:audio_rows]
    e_text = enc.text(tokens)
    e_audio_all = enc.audio(f32(split["input_mel"]))
    fused = torch.cat([e_text, e_audio_all], -1)
    metrics = ursula_input(f32(split["target_ltas"]), f32(split["input_ltas"]), f32(split["ltas_mask"]),
                           f32(split["target_lufs"]), f32(split["input_lufs"]), f32(split["target_dyn"]),
                           f32(split["input_dyn"]))
    spec, smask = f32(split["input_spectrum"]), f32(split["spectrum_mask"])
    # Round the derived float inputs to what the JSON will hold.
    fused = torch.tensor(np.array(_f32_list(fused), dtype=np.float32).reshape(fused.shape))
    metrics = torch.tensor(np.array(_f32_list(metrics), dtype=np.float32).reshape(metrics.shape))
    c_scene = fused[:, :512]
    cases = {
        "encoder_text": ({"tokens": tokens}, dict(zip(["e_text"], [enc.text(tokens)]))),
        "encoder_audio": ({"log_mel": mel}, {"e_audio": enc.audio(mel)}),
        "fabian": ({"fused": fused}, dict(zip(FABIAN_OUTPUTS, fab(fused)))),
        "ursula": ({"metrics": metrics}, {"settings": urs(metrics)}),
        "genesis": ({"c_scene": c_scene, "spectrum_db": spec, "spectrum_mask": smask},
                    {"ir_params": gen(c_scene, spec, smask)}),
    }
    return {
        "format": 1,
        "tolerance": {"absolute": PARITY_TOLERANCE, "rule": "|got - want| <= 1e-4 * max(1, |want|)"},
        "rows": [str(i) for i in split["id"][:n]],
        "models": {name: {"inputs": {k: _tensor(v) for k, v in ins.items()},
                          "outputs": {k: _tensor(v) for k, v in outs.items()}}
                   for name, (ins, outs) in cases.items()},
    }


def dataset_command(dataset):
    """The ``faurge-dataset build`` command that reproduces ``dataset`` (from its manifest)."""
    m = json.loads((pathlib.Path(dataset) / "manifest.json").read_text())
    cmd = f"faurge-dataset build --data ../shared/data --out target/dataset --seed {m['seed']} --rows-per-clip {m['rows_per_clip']} --crop-s {m['crop_s']:g}"
    if m.get("max_clips") is not None:
        cmd += f" --max-clips {m['max_clips']}"
    return cmd


def reexport(run, dataset):
    """Rewrites the run's ONNX files from its ``weights.pt`` with the current
    exporter (``train.export_models``); the weights are unchanged."""
    enc, fab, urs, gen = load_models(run)
    export_models(enc, fab, urs, gen, data.load_vocabulary(dataset)["max_tokens"], run)


def ship(run, dataset, dest):
    """Copies the run's models into ``dest`` and writes tokenizer.json, parity.json and
    manifest.json there. Returns the manifest (a dict).

    Raises ``FileNotFoundError`` when the run lacks a model, ``weights.pt`` or
    ``report.json`` (ship only a finished run)."""
    run, dataset, dest = pathlib.Path(run), pathlib.Path(dataset), pathlib.Path(dest)
    report = json.loads((run / "report.json").read_text())
    if report["dataset_hash"] != data.dataset_hash(dataset):
        raise ValueError(f"run {run} was trained on dataset {report['dataset_hash']}, not {dataset} "
                         f"({data.dataset_hash(dataset)}): ship it with the dataset it was trained on")
    for f in MODEL_FILES.values():
        if not (run / f).is_file():
            raise FileNotFoundError(f"{run / f} is missing: train the run to the end before shipping")
    # Before anything is written: the bundle's own new files would make the tree dirty.
    shipped_by = git_commit(pathlib.Path(__file__).resolve().parents[2])
    # The tone-repair estimator is trained on its own (faurge_train.tone): keep it.
    read = lambda p: json.loads(p.read_text()) if p.is_file() else None
    old_manifest, old_parity = read(dest / "manifest.json"), read(dest / "parity.json")
    tone.check_entered(old_manifest, old_parity, dest)
    dest.mkdir(parents=True, exist_ok=True)
    enc, fab, urs, gen = load_models(run)
    count = lambda m: sum(p.numel() for p in m.parameters())
    params = {"encoder_text": count(enc.text), "encoder_audio": count(enc.audio), "fabian": count(fab),
              "ursula": count(urs), "genesis": count(gen)}
    entries = {}
    for name, f in MODEL_FILES.items():
        shutil.copyfile(run / f, dest / f)
        ins, outs = onnx_io(dest / f)
        entries[name] = {"file": f, "sha256": sha256(dest / f), "bytes": (dest / f).stat().st_size,
                         "inputs": ins, "outputs": outs, "parameters": params[name]}
    vocab = data.load_vocabulary(dataset)
    tok = {"words": vocab["words"], "max_tokens": vocab["max_tokens"], "quantities": vocab["quantities"],
           "pad_id": 0, "unknown_id": 1, "first_word_id": 2}
    (dest / "tokenizer.json").write_text(json.dumps(tok, indent=1) + "\n")
    parity = parity_cases(run, dataset)
    root = pathlib.Path(__file__).resolve().parents[2]
    info = report.get("run", {})
    manifest = {
        "format": 1,
        "models": entries,
        "tokenizer": {"file": "tokenizer.json", "sha256": sha256(dest / "tokenizer.json")},
        "parity": {"file": "parity.json", "sha256": None, "tolerance": PARITY_TOLERANCE},
        "dataset": {"hash": report["dataset_hash"], "rows": report["rows"], "command": dataset_command(dataset)},
        "training": {"commit": info.get("commit") or git_commit(root), "command": info.get("command", ""),
                     "epochs": info.get("epochs"), "seconds": round(report["train_seconds"], 1),
                     "seed": info.get("seed"), "torch_version": torch.__version__,
                     "shipped_by_commit": shipped_by},
        "calibration": report.get("calibration", {}),
        "evaluation": {"model_space": report["test_eval"]},
    }
    tone.carry_over(old_manifest, old_parity, manifest, parity)
    (dest / "parity.json").write_text(json.dumps(parity, separators=(",", ":")) + "\n")
    manifest["parity"]["sha256"] = sha256(dest / "parity.json")
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="finished training run (weights.pt, report.json, *.onnx)")
    ap.add_argument("--data", required=True, help="the dataset the run was trained on")
    ap.add_argument("--dest", required=True, help="usually ../bundle/models")
    ap.add_argument("--reexport", action="store_true",
                    help="first rewrite the run's ONNX files from weights.pt with the current exporter")
    a = ap.parse_args(argv)
    if a.reexport:
        reexport(a.run, a.data)
    m = ship(a.run, a.data, a.dest)
    for name, e in m["models"].items():
        print(f"{name}: {e['file']} {e['bytes']} bytes, {e['parameters']} parameters, sha256 {e['sha256'][:12]}")


if __name__ == "__main__":
    main()
