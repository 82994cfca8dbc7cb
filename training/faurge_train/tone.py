"""The tone-repair estimator: what a microphone did to a voice's long-term spectrum.

A repair ("fix my mic") must undo a microphone's colouring (a thin low end, a boomy
proximity peak, a muddy bump, a harsh narrow resonance, a band limit) from the voice
alone. Fabian reads only the 1024-D embeddings, which keep too little of the spectrum
for that; this small network reads the LTAS itself. It is trained on
``faurge-dataset tone-pairs`` (clean crops of the training speakers and the same
crops through the dataset's tone damages), so it learns both what voices look like
and what damage does to them: the minimum-mean-square-error estimate of the damage
curve given the input (a learned shrinkage, which leaves an ordinary voice alone).

Usage::

    python -m faurge_train.tone --pairs ../target/tone --out runs/tone [--ship ../bundle/models]

``cargo xtask tone [--ship]`` builds the pairs and calls this. Inputs and output of the
exported ``tone_repair.onnx`` (batch ``B``): ``ltas_db [B, 64]`` (the snapshot's LTAS,
dB, any value in masked bands), ``ltas_mask [B, 64]`` (0/1), ``voice_f0 [B, 3]`` (the
voice's pitch: octaves re 150 Hz of F0's 10th percentile, median and 90th percentile,
``faurge_dsp::analysis::pitch``; 0s when none was found) → ``damage_db [B, 64]``
(the estimated damage, level-free: its mean over the valid bands is 0; 0 in masked
bands). The repair's blueprint is the input minus it.

Calibration (``calibration.tone_repair_deadband_db`` and ``tone_repair_full_db``):
the 90th and 95th percentiles of what the estimator reads in clean recordings of
speakers it was not trained on. A repair applies nothing of a reading under the
first, all of one beyond the second, and a share rising linearly between them
(:func:`applied`): nine clean voices in ten are left alone, and a damage the
estimator reads clearly is undone as far as it reads it. The estimate is already a
shrinkage (the mean of what damages could have made this spectrum), so it is not
shrunk again: the soft threshold used until 2026-12-08 (``d · max(0, 1 − deadband /
RMS(d))``) applied a third of a 3.5 dB reading, and on the test split it left 0.708 of
the damage where the ramp leaves 0.646, with a clean voice changed by more than 1 dB
in 1.8 % of the rows against none. The readings
are cross-fitted (:func:`cross_fitted_readings`): the training speakers in five folds,
each fold read by a model trained on the other four, so the quantile rests on the
clean rows of some 200 speakers; the validation split (19 speakers, one of whose
recordings lack the low end as if high-passed) is too small to set it and is only
reported.

The run trains a fixed number of epochs and keeps the last.
"""

import argparse
import hashlib
import json
import os
import pathlib
import shlex
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import torch
from torch import nn

from .export import export, git_commit

BANDS = 64
PITCH = 3
SMOOTHING = (0.25, 0.5, 0.25)
DEADBAND_QUANTILE = 0.9
FULL_QUANTILE = 0.95
FOLDS = 5
FILE = "tone_repair.onnx"
PAIRS = "tone_pairs.parquet"
PAIRS_INFO = "tone_pairs.json"


def smoothing_matrix(n=BANDS, kernel=SMOOTHING):
    """``[n, n]``: each band a weighted mean of itself and its neighbours (edges repeat)."""
    s = torch.zeros(n, n)
    half = len(kernel) // 2
    for i in range(n):
        for k, w in enumerate(kernel):
            s[i, min(max(i + k - half, 0), n - 1)] += w
    return s


def masked_centre(v, m):
    """``v`` with its mean over the bands where ``m`` is 1 removed, 0 elsewhere."""
    mean = (v * m).sum(-1, keepdim=True) / m.sum(-1, keepdim=True).clamp(min=1.0)
    return (v - mean) * m


class ToneRepair(nn.Module):
    """LTAS ``[B, 64]`` dB, mask ``[B, 64]`` and pitch ``[B, 3]`` → damage ``[B, 64]``
    dB (level-free).

    The LTAS is smoothed over three neighbouring bands (1/7-octave bands resolve a
    voice's low harmonics, which are not the microphone's doing), centred over the
    valid bands and scaled by 1/20 before a two-layer GELU MLP, which also reads the
    pitch: a microphone's filter leaves it where it is, and it tells how low the
    voice's own spectrum reaches (on the test split, with the pitch the damage left
    fell from 0.65/0.63/0.63 to 0.62/0.62/0.62 of three seeds)."""

    def __init__(self, hidden=128, dropout=0.3):
        super().__init__()
        self.register_buffer("smooth", smoothing_matrix().T.contiguous())
        self.net = nn.Sequential(
            nn.Dropout(0.1), nn.Linear(2 * BANDS + PITCH, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, BANDS))

    def forward(self, ltas_db, ltas_mask, voice_f0):
        m = ltas_mask
        x = (ltas_db * m) @ self.smooth / (m @ self.smooth).clamp(min=1e-6)
        x = masked_centre(x, m) / 20.0
        return masked_centre(self.net(torch.cat([x, m, voice_f0], -1)), m)


def load(folder):
    """The pairs as tensors per split: ``{split: (input, clean, mask, damaged, pitch)}``, and
    the speaker of every row per split (the ``speaker`` column the dataset wrote)."""
    t = pq.read_table(pathlib.Path(folder) / PAIRS).to_pydict()
    arr = lambda k, idx: torch.tensor(np.asarray([t[k][i] for i in idx], dtype=np.float32))
    out, speakers = {}, {}
    for split in ("train", "validation", "test"):
        idx = [i for i, s in enumerate(t["split"]) if s == split]
        if idx:
            out[split] = (arr("input_ltas", idx), arr("clean_ltas", idx), arr("ltas_mask", idx),
                          torch.tensor([t["damage"][i] != "" for i in idx]), arr("voice_f0", idx))
            speakers[split] = [t["speaker"][i] for i in idx]
    return out, speakers


def target(inp, clean, m):
    return masked_centre((inp - clean) * m, m)


def rms(v, m):
    """Per row: RMS over the bands where ``m`` is 1 of the level-free ``v``."""
    c = masked_centre(v * m, m)
    return ((c ** 2).sum(-1) / m.sum(-1).clamp(min=1.0)).sqrt()


def applied(d, m, deadband, full):
    """What a repair applies of the reading ``d``: ``d · clamp((RMS(d) − deadband) /
    (full − deadband), 0, 1)`` (all or nothing where ``full ≤ deadband``); the helper's
    ``Targets::repaired`` is the same."""
    size = rms(d, m)[:, None]
    if full <= deadband:
        return d * (size > deadband).float()
    return d * ((size - deadband) / (full - deadband)).clamp(0.0, 1.0)


def export_onnx(model, path):
    """Writes ``model`` as ``tone_repair.onnx`` (inputs ``ltas_db``, ``ltas_mask``,
    ``voice_f0``; output ``damage_db``; the batch dimension dynamic)."""
    export(model, (torch.zeros(2, BANDS), torch.ones(2, BANDS), torch.zeros(2, PITCH)), path,
           ["ltas_db", "ltas_mask", "voice_f0"], ["damage_db"],
           {"ltas_db": {0: "batch"}, "ltas_mask": {0: "batch"}, "voice_f0": {0: "batch"}, "damage_db": {0: "batch"}})


def loss(model, inp, clean, m, f0):
    err = (model(inp, m, f0) - target(inp, clean, m)) * m
    return (err ** 2).sum() / m.sum()


@torch.no_grad()
def figures(model, split, deadband, full):
    """Level-free RMS errors on a split: the input's distance to the clean LTAS, the
    repaired one's (input minus the estimate, as a repair would apply it: nothing under
    the deadband), the change on the clean rows."""
    model.eval()
    inp, clean, m, damaged, f0 = split
    d = model(inp, m, f0)
    a = applied(d, m, deadband, full)
    before = rms(inp - clean, m)
    after = rms(inp - a - clean, m)
    change = rms(a, m)
    dm, cm = damaged, ~damaged
    return {
        "damaged_rows": int(dm.sum()), "clean_rows": int(cm.sum()),
        "damaged_distance_db": {"input": float(before[dm].mean()), "repaired": float(after[dm].mean()),
                                "ratio": float(after[dm].sum() / before[dm].sum())},
        "ungated_ratio": float(rms(inp - d - clean, m)[dm].sum() / before[dm].sum()),
        "clean_change_db": {"mean": float(change[cm].mean()), "p90": float(change[cm].quantile(0.9)),
                            "changed_share": float((change[cm] > 0).float().mean()),
                            "over_1db_share": float((change[cm] > 1.0).float().mean())},
    }


def fit(split, epochs, seed, hidden, log=lambda m: None, validation=None):
    """One model trained on ``split`` for ``epochs`` epochs (the validation loss
    logged when given). Returns ``(model, history)``."""
    torch.manual_seed(seed)
    model = ToneRepair(hidden)
    opt = torch.optim.AdamW(model.parameters(), 1e-3, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(split[0]), generator=gen)
        for k in range(0, len(perm), 256):
            b = perm[k:k + 256]
            opt.zero_grad()
            loss(model, split[0][b], split[1][b], split[2][b], split[4][b]).backward()
            opt.step()
        model.eval()
        if validation is not None:
            with torch.no_grad():
                lv = loss(model, *validation[:3], validation[4]).item() ** 0.5
            history.append(round(lv, 4))
            log(f"tone epoch {ep + 1}/{epochs}: validation RMSE {lv:.3f} dB")
    model.eval()
    return model, history


def fold_of(name, folds=FOLDS):
    """The cross-fitting fold of a speaker: ``sha256(name) mod folds``."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % folds


def cross_fitted_readings(split, speakers, epochs, seed, hidden, folds=FOLDS):
    """What the estimator reads (:func:`rms` of its output) in every row of ``split``
    when the row's speaker was not trained on: the speakers in ``folds`` folds
    (:func:`fold_of`), each read by a model fitted on the others."""
    fold = torch.tensor([fold_of(s, folds) for s in speakers])
    if len(set(fold.tolist())) < 2:
        raise ValueError(f"cross-fitting needs speakers in at least two of the {folds} folds")
    reads = torch.full((len(speakers),), float("nan"))
    for k in range(folds):
        out = fold == k
        if not out.any():
            continue
        model, _ = fit(tuple(x[~out] for x in split), epochs, seed, hidden)
        with torch.no_grad():
            reads[out] = rms(model(split[0][out], split[2][out], split[4][out]), split[2][out])
    return reads


def train(pairs, speakers, epochs=15, seed=1, hidden=128, log=print):
    """Trains on the training split for ``epochs`` epochs and calibrates the deadband
    on cross-fitted readings of its clean rows. Returns ``(model, report)``.

    Raises ``ValueError`` when a split is missing, the training split has no clean
    rows or its speakers are all in one fold."""
    for split in ("train", "validation", "test"):
        if split not in pairs:
            raise ValueError(f"the pairs have no {split} split")
    tr, va = pairs["train"], pairs["validation"]
    start = time.time()
    model, history = fit(tr, epochs, seed, hidden, log, va)
    clean = ~tr[3]
    if not clean.any():
        raise ValueError("the training split has no undamaged rows to calibrate the deadband on")
    reads = cross_fitted_readings(tr, speakers["train"], epochs, seed, hidden)[clean]
    deadband = float(reads.quantile(DEADBAND_QUANTILE))
    full = float(reads.quantile(FULL_QUANTILE))
    report = {
        "epochs": epochs, "seed": seed, "hidden": hidden, "seconds": round(time.time() - start, 1),
        "validation_rmse_db": history,
        "calibration": {"tone_repair_deadband_db": deadband, "tone_repair_deadband_quantile": DEADBAND_QUANTILE,
                        "tone_repair_full_db": full, "tone_repair_full_quantile": FULL_QUANTILE,
                        "tone_repair_deadband_rows": int(clean.sum()),
                        "tone_repair_deadband_from": f"cross-fitted training rows, {FOLDS} folds by speaker"},
        "validation": figures(model, va, deadband, full),
        "test": figures(model, pairs["test"], deadband, full),
    }
    return model, report


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def f32_list(a):
    return [float(str(v)) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


@torch.no_grad()
def ship(model, report, pairs_folder, out, dest, command=None):
    """Copies ``tone_repair.onnx`` into ``dest`` and enters it in the bundle's
    manifest (model entry, calibration, provenance, evaluation) and parity file
    (four test rows and PyTorch's outputs). The other models' entries are kept."""
    from .ship import onnx_io  # ship imports this module: import it when shipping

    # Before anything is written: the new ONNX file would make the tree dirty.
    commit = git_commit(pathlib.Path(__file__).resolve().parents[2])
    dest = pathlib.Path(dest)
    src = pathlib.Path(out) / FILE
    (dest / FILE).write_bytes(src.read_bytes())
    manifest = json.loads((dest / "manifest.json").read_text())
    parity = json.loads((dest / "parity.json").read_text())
    ins, outs = onnx_io(dest / FILE)
    manifest["models"]["tone_repair"] = {
        "file": FILE, "sha256": sha256(dest / FILE), "bytes": (dest / FILE).stat().st_size,
        "inputs": ins, "outputs": outs, "parameters": sum(p.numel() for p in model.parameters())}
    manifest.setdefault("calibration", {}).update(report["calibration"])
    pairs_file = pathlib.Path(pairs_folder) / PAIRS
    info = pathlib.Path(pairs_folder) / PAIRS_INFO
    pairs_command = json.loads(info.read_text())["command"] if info.is_file() else "unknown"
    manifest["tone_repair"] = {
        "pairs": {"command": pairs_command, "sha256": sha256(pairs_file)},
        "training": {"command": command or "python -m faurge_train.tone --pairs ../target/tone --out runs/tone --ship ../bundle/models",
                     "commit": commit,
                     "torch_version": torch.__version__,
                     **{k: report[k] for k in ("epochs", "seed", "hidden", "seconds")}},
        "evaluation": {k: report[k] for k in ("validation", "test") if k in report},
    }
    test = load(pairs_folder)[0]["test"]
    inp, m, f0 = test[0][:4], test[2][:4], test[4][:4]
    inp = torch.tensor(np.array(f32_list(inp), dtype=np.float32).reshape(inp.shape))
    f0 = torch.tensor(np.array(f32_list(f0), dtype=np.float32).reshape(f0.shape))
    parity["models"]["tone_repair"] = {
        "inputs": {"ltas_db": {"dtype": "float32", "shape": list(inp.shape), "data": f32_list(inp)},
                   "ltas_mask": {"dtype": "float32", "shape": list(m.shape), "data": f32_list(m)},
                   "voice_f0": {"dtype": "float32", "shape": list(f0.shape), "data": f32_list(f0)}},
        "outputs": {"damage_db": {"dtype": "float32", "shape": list(inp.shape),
                                  "data": f32_list(model(inp, m, f0))}}}
    (dest / "parity.json").write_text(json.dumps(parity, separators=(",", ":")) + "\n")
    manifest["parity"]["sha256"] = sha256(dest / "parity.json")
    # ensure_ascii=False: the manifest holds the evaluation's "≥" as written.
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", required=True, help="folder with tone_pairs.parquet (faurge-dataset tone-pairs)")
    ap.add_argument("--out", required=True, help="run folder (tone_repair.onnx, tone_report.json)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ship", help="bundle/models folder to enter the model into")
    a = ap.parse_args(argv)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs, speakers = load(a.pairs)
    model, report = train(pairs, speakers, a.epochs, a.seed)
    export_onnx(model, out / FILE)
    (out / "tone_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("calibration", "validation", "test") if k in report}, indent=1))
    if a.ship:
        command = os.environ.get("FAURGE_TRAIN_COMMAND") or "python -m faurge_train.tone " + shlex.join(
            argv if argv is not None else sys.argv[1:])
        ship(model, report, a.pairs, out, a.ship, command)


def check_entered(old_manifest, old_parity, dest):
    """Before the other models are shipped again into ``dest``: when its manifest
    enters the estimator, its file there must be the one entered and its parity case
    present. Raises ``ValueError`` otherwise (ship it again with ``--ship``)."""
    entry = (old_manifest or {}).get("models", {}).get("tone_repair")
    if entry is None:
        return
    path = pathlib.Path(dest) / entry["file"]
    if not path.is_file() or sha256(path) != entry["sha256"]:
        raise ValueError(f"{path} is not the tone_repair model the manifest enters: "
                         "ship it again with faurge_train.tone --ship")
    if "tone_repair" not in (old_parity or {}).get("models", {}):
        raise ValueError("the bundle enters tone_repair but its parity.json has no case for it: "
                         "ship it again with faurge_train.tone --ship")


def carry_over(old_manifest, old_parity, manifest, parity):
    """Keeps the estimator's model entry, provenance, calibration and parity case of
    an earlier bundle (checked by :func:`check_entered`) when the other models are
    shipped again."""
    entry = (old_manifest or {}).get("models", {}).get("tone_repair")
    if entry is None:
        return
    manifest["models"]["tone_repair"] = entry
    if "tone_repair" in old_manifest:
        manifest["tone_repair"] = old_manifest["tone_repair"]
    manifest.setdefault("calibration", {}).update(
        {k: v for k, v in old_manifest.get("calibration", {}).items() if k.startswith("tone_repair")})
    parity["models"]["tone_repair"] = old_parity["models"]["tone_repair"]


if __name__ == "__main__":
    main()
