"""Trains the encoder, Fabian, Ursula and Genesis on a ``faurge-dataset`` folder and
exports ONNX (opset 18, the exporter's native one; the issue asks ≥ 17). Usage::

    python -m faurge_train.train --data ../target/dataset --out runs/dev [--epochs 8] [--ship ../bundle/models]

Writes ``encoder_text.onnx``, ``encoder_audio.onnx``, ``fabian.onnx``,
``ursula.onnx``, ``genesis.onnx``, ``weights.pt`` and ``report.json`` (losses,
validation/test figures, the dataset hash, command, commit) into ``--out``. Nothing
is written to ``bundle/models`` unless ``--ship DIR`` is given (then
:func:`faurge_train.ship.ship` copies the run there with its manifest).
"""

import argparse
import json
import math
import os
import pathlib
import re
import shlex
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data, models
from . import ir
from .dsp import compressor_level_change_db, frame_levels_db
from .export import export_models, git_commit
from .models import Encoder, Fabian, Genesis, Ursula, info_nce, ursula_eq_response, ursula_input

LTAS_MIN_HZ, LTAS_MAX_HZ = 40.0, 20000.0
SAMPLE_RATE = 48000.0


def ltas_centers():
    e = LTAS_MIN_HZ * (LTAS_MAX_HZ / LTAS_MIN_HZ) ** (np.arange(65) / 64)
    return torch.tensor(np.sqrt(e[:-1] * e[1:]), dtype=torch.float32)


def t(x, dtype=torch.float32):
    if torch.is_tensor(x):
        return x.to(dtype)
    return torch.as_tensor(np.asarray(x), dtype=dtype)


def to_tensors(split):
    """Numeric columns → torch tensors once (float32; token ids and labels int64)."""
    if split is None:
        return None
    out = {}
    for k, v in split.items():
        if v.dtype == object:
            out[k] = v
        elif k.endswith("_tokens") or k == "mel_frames":
            out[k] = torch.from_numpy(np.array(v, dtype=np.int64))
        else:
            out[k] = torch.from_numpy(np.array(v, dtype=np.float32))
    return out


def make_tokenizer(vocab):
    """Python twin of ``faurge_dataset::vocabulary::Tokenizer::encode``: lower case,
    words = runs of letters, digits, ``'`` and ``-``; 0 pads, 1 is unknown."""
    words = {w: i + 2 for i, w in enumerate(vocab["words"])}

    def tokenize(text):
        ws = [w for w in re.split(r"(?:[^\w'\-]|_)+", text.lower()) if w]
        ids = [words.get(w, 1) for w in ws][:vocab["max_tokens"]]
        return torch.tensor(ids + [0] * (vocab["max_tokens"] - len(ids)), dtype=torch.long)
    return tokenize


def batches(n, size, rng):
    idx = rng.permutation(n)
    for s in range(0, n, size):
        yield idx[s:s + size]


def aux_targets(split, b, which):
    """Targets of the encoder's audio probe for rows ``b`` of the ``input`` or
    ``target`` audio: LUFS, crest factor, ZCR and purity, scaled to about unit range."""
    lufs = (t(split[f"{which}_lufs"][b]) + 25.0) / 10.0
    dyn = t(split[f"{which}_dyn"][b])
    purity = t(split[f"{which}_purity"][b])
    return torch.stack([lufs, (dyn[:, 0] - 15.0) / 5.0, dyn[:, 1] / 1000.0, purity], -1)


def ltas_shape(split, b, which):
    """The masked, level-normalized LTAS shape ``[len(b), 64]`` of the ``input`` or
    ``target`` audio of rows ``b``: the LTAS minus its mean over the unmasked bands,
    /10 dB, 0 in masked bands; and the mask. Target of the probe's LTAS head."""
    x, m = t(split[f"{which}_ltas"][b]), t(split["ltas_mask"][b])
    mean = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    return (x - mean) * m / 10.0, m


def changed(split):
    """Rows whose target differs audibly from the input (a spectral change of more than
    0.75 dB RMS, 1.5 LU, 1 dB of crest factor, or a room): the rows whose change has a
    direction for the contrastive loss. A repair of a clean input changes nothing."""
    m = t(split["ltas_mask"])
    spec = shape_rmse(t(split["target_ltas"]) - t(split["input_ltas"]), m)
    crest = (t(split["target_dyn"])[:, 0] - t(split["input_dyn"])[:, 0]).abs()
    return (spec > 0.75) | (t(split["delta_lufs"]).abs() > 1.5) | (crest > 1.0) | (t(split["target_room_db"]) > -60)


def intent_labels(split):
    """An integer per row, equal for rows whose intent reads the same (positives of
    each other in the contrastive loss)."""
    ids = {}
    return torch.tensor([ids.setdefault(s, len(ids)) for s in split["intent_summary"]], dtype=torch.long)


def direction(e_out, e_in):
    """The directional audio embedding: ``normalize(e_audio(out) − e_audio(in))``
    (the change a proposal makes; Gal et al. 2021, "StyleGAN-NADA", directional CLIP
    loss). S_C compares the prompt's ``e_text`` with it."""
    return F.normalize(e_out - e_in, dim=-1)


def train_encoder(enc, tr, captions, epochs, rng, log, aux_weight=1.0, aux_ltas=1.0, intent_weight=1.0, va=None):
    """The encoder's three losses, per batch of rows:

    - **direction**: symmetric InfoNCE between ``e_text`` of the caption and the
      directional embedding of the row's change (:func:`direction`), on rows that
      change (:func:`changed`); rows with the same intent are positives of each other;
    - **intent probe** (weight ``intent_weight``): a linear head on ``e_text`` must
      recover the caption's intent vector (``Intent::vector``), on the rows' captions
      and a batch of the text-only captions (``captions.json``), so the text embedding
      carries direction, intensity and mode of every descriptor;
    - **audio probe** (weight ``aux_weight``): a linear head on ``e_audio`` must
      recover LUFS, crest factor, ZCR, purity (input and target audio), the input's
      damage families and, with ``aux_ltas``, the LTAS shape, so the embedding Fabian
      reads carries level, damage and spectrum."""
    n_fam = tr["damage_mask"].shape[1]
    intent_len = tr["intent_vector"].shape[1]
    probe_a = torch.nn.Linear(512, 4 + n_fam + 64)
    probe_t = torch.nn.Linear(512, intent_len)
    params = list(enc.parameters()) + list(probe_a.parameters()) + list(probe_t.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    n = len(tr["id"])
    moving = changed(tr)
    labels = intent_labels(tr)
    cap_tok = torch.tensor(np.array([c["tokens"] for c in captions], dtype=np.int64))
    cap_vec = torch.tensor(np.array([c["intent_vector"] for c in captions], dtype=np.float32))
    steps = epochs * math.ceil(n / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    for ep in range(epochs):
        enc.train()
        tot = {"nce": 0.0, "intent": 0.0, "audio": 0.0}
        for b in batches(n, 64, rng):
            e_in, e_out = enc.audio(t(tr["input_mel"][b])), enc.audio(t(tr["target_mel"][b]))
            e_t = enc.text(t(tr["caption_tokens"][b], torch.long))
            keep = moving[b]
            l_nce = torch.zeros(())
            if int(keep.sum()) > 1:
                l_nce = info_nce(direction(e_out[keep], e_in[keep]), e_t[keep], enc.log_scale, labels[b][keep])
            c = rng.integers(0, len(cap_tok), 192)
            l_int = F.mse_loss(probe_t(torch.cat([e_t, enc.text(cap_tok[c])])), torch.cat([t(tr["intent_vector"][b]), cap_vec[c]]))
            y = probe_a(torch.cat([e_in, e_out]))
            reg = torch.cat([aux_targets(tr, b, "input"), aux_targets(tr, b, "target")])
            l_aud = F.mse_loss(y[:, :4], reg) + F.binary_cross_entropy_with_logits(y[:len(b), 4:4 + n_fam], t(tr["damage_mask"][b]))
            if aux_ltas > 0:
                (si, mi), (st, mt) = ltas_shape(tr, b, "input"), ltas_shape(tr, b, "target")
                sh, m = torch.cat([si, st]), torch.cat([mi, mt])
                l_aud = l_aud + aux_ltas * (((y[:, 4 + n_fam:] - sh) ** 2) * m).sum() / m.sum().clamp(min=1)
            loss = l_nce + intent_weight * l_int + aux_weight * l_aud
            opt.zero_grad(); loss.backward(); opt.step(); sched.step()
            tot["nce"] += float(l_nce.detach()) * len(b)
            tot["intent"] += float(l_int.detach()) * len(b)
            tot["audio"] += float(l_aud.detach()) * len(b)
        msg = f"encoder epoch {ep}: " + " ".join(f"{k} {v / n:.4f}" for k, v in tot.items())
        if va is not None and (ep % 5 == 4 or ep == epochs - 1):
            enc.eval()
            with torch.no_grad():
                msg += f" validation S_C AUC {s_c_figures(enc, va, np.random.default_rng(0))['auc']:.3f}"
        log(msg)
    enc.eval()
    return probe_t


def auc(pos, neg):
    """ROC AUC: the probability that a positive scores above a negative (ties half)."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    ranks[order] = np.arange(1, len(allv) + 1)
    # Average ranks of ties.
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@torch.no_grad()
def s_c_figures(enc, split, rng):
    """S_C on one split: for every changing row, ``S_C = cos(e_text, direction(target,
    input))`` of its own caption (fulfilled) against the same caption with another
    row's change whose intent reads differently (not fulfilled). Returns the ROC AUC,
    both medians and the threshold that maximises Youden's J (TPR − FPR)."""
    keep = changed(split).numpy()
    idx = np.flatnonzero(keep)
    if len(idx) < 4:
        return {"auc": float("nan"), "threshold": 0.5}
    e_t = enc.text(t(split["caption_tokens"][idx], torch.long))
    d = direction(enc.audio(t(split["target_mel"][idx])), enc.audio(t(split["input_mel"][idx])))
    pos = (e_t * d).sum(-1).numpy()
    summ = np.asarray(split["intent_summary"], dtype=object)[idx]
    other = rng.permutation(len(idx))
    ok = summ[other] != summ
    neg = (e_t[ok] * d[other[ok]]).sum(-1).numpy()
    grid = np.linspace(-1, 1, 401)
    j = [(pos >= g).mean() - (neg >= g).mean() for g in grid]
    best = float(grid[int(np.argmax(j))])
    return {"auc": auc(pos, neg), "fulfilled_median": float(np.median(pos)), "unfulfilled_median": float(np.median(neg)),
            "threshold": best, "tpr_at_threshold": float((pos >= best).mean()), "fpr_at_threshold": float((neg >= best).mean()),
            "pairs": [int(len(pos)), int(len(neg))]}


@torch.no_grad()
def intent_figures(enc, probe_t, split):
    """How well the text embedding carries the intent: for every descriptor term of
    the rows' intent vectors (|value| ≥ 0.25), the share whose probed sign agrees."""
    y = t(split["intent_vector"])
    p = probe_t(enc.text(t(split["caption_tokens"], torch.long)))
    sel = y.abs() >= 0.25
    sel[:, -4:] = False
    agree = (torch.sign(p) == torch.sign(y))[sel]
    return {"sign_accuracy": float(agree.float().mean()) if agree.numel() else float("nan"), "terms": int(sel.sum())}


def fused(enc, split, idx):
    with torch.no_grad():
        return torch.cat([enc.text(t(split["caption_tokens"][idx], torch.long)), enc.audio(t(split["input_mel"][idx]))], -1)


def balanced_accuracy(pred, truth):
    """Mean of the true-positive and true-negative rates (0.5 = chance, whatever the
    class balance)."""
    pred, truth = pred.bool(), truth.bool()
    rates = [float((pred[truth == c] == c).float().mean()) for c in (True, False) if int((truth == c).sum()) > 0]
    return sum(rates) / len(rates)


@torch.no_grad()
def repair_deadband(fab, f_split, split, quantile=0.9):
    """How much tone change Fabian predicts for a repair of a clean recording (whose
    right answer is none): the ``quantile`` of the shape RMS (masked, mean removed)
    of his ΔLTAS over the split's repair rows with an undamaged input. The loop
    changes a repair's tone only beyond it (``calibration.repair_deadband_db``)."""
    sel = (split["repair"] > 0.5) & (split["damage_mask"].sum(1) == 0)
    if int(sel.sum()) < 5:
        return {"repair_deadband_db": 1.5, "repair_deadband_rows": int(sel.sum())}
    d_ltas = fab(f_split[sel])[0]
    rms = shape_rmse(d_ltas, split["ltas_mask"][sel])
    return {"repair_deadband_db": float(torch.quantile(rms, quantile)), "repair_deadband_rows": int(sel.sum()),
            "repair_deadband_quantile": quantile}


def fabian_loss(fab, x, split, idx, pos_weight=None, kind="mse"):
    """Fabian's training loss and its figures on rows ``idx`` (fused inputs ``x``):
    masked ΔLTAS, ΔLUFS and ΔDyn errors (``mse`` or ``l1``), the ``requires_genesis``
    BCE and the restoration head's BCE against the families the target removes."""
    d_ltas, d_lufs, d_dyn, logit, restore = fab(x)
    m = t(split["ltas_mask"][idx])
    err = (lambda e: e.abs()) if kind == "l1" else (lambda e: e ** 2)
    l_ltas = (err(d_ltas - t(split["delta_ltas"][idx])) * m).sum() / m.sum().clamp(min=1)
    l_lufs = err(d_lufs[:, 0] - t(split["delta_lufs"][idx])).mean()
    dyn_scale = torch.tensor([1.0, 1 / 100.0])
    l_dyn = (((d_dyn - t(split["delta_dyn"][idx])) * dyn_scale) ** 2).mean()
    l_bce = F.binary_cross_entropy_with_logits(logit[:, 0], t(split["requires_genesis"][idx]), pos_weight=pos_weight)
    want_r = t(split["restore_mask"][idx])
    l_restore = F.binary_cross_entropy_with_logits(restore, want_r)
    mae = float(((d_ltas.detach() - t(split["delta_ltas"][idx])).abs() * m).sum() / m.sum().clamp(min=1))
    acc = float(((logit[:, 0] > 0) == t(split["requires_genesis"][idx], torch.bool)).float().mean())
    bal = balanced_accuracy(logit[:, 0] > 0, t(split["requires_genesis"][idx]) > 0.5)
    restore_bal = {name: balanced_accuracy(restore[:, k] > 0, want_r[:, k] > 0.5)
                   for k, name in enumerate(models.RESTORE_FAMILIES) if 0 < float(want_r[:, k].sum()) < len(idx)}
    lufs_err = (d_lufs[:, 0] - t(split["delta_lufs"][idx])).abs()
    return l_ltas + l_lufs + l_dyn + 10.0 * l_bce + 5.0 * l_restore, {
        "dltas_mae_db": mae, "flag_acc": acc, "flag_balanced_acc": bal, "restore_balanced_acc": restore_bal,
        "dlufs_mae": float(lufs_err.mean()), "lufs_within_1lu": float((lufs_err <= 1).float().mean())}


def train_fabian(fab, f_tr, tr, f_va, va, epochs, rng, log, pos_weight=None, kind="mse", lr=1e-3, schedule="constant"):
    """Fabian on frozen fused embeddings ``f_tr`` (train) and ``f_va`` (validation,
    logged every 10 epochs). ``schedule``: ``constant`` learning rate, or ``cosine``
    (annealed to 0 over the epochs, SGDR without restarts, Loshchilov & Hutter 2017)."""
    opt = torch.optim.AdamW(fab.parameters(), lr=lr, weight_decay=1e-4)
    n = len(tr["id"])
    steps = epochs * math.ceil(n / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps)) if schedule == "cosine" else None
    va_idx = np.arange(len(va["id"]))
    m = {}
    for ep in range(epochs):
        fab.train()
        for b in batches(n, 64, rng):
            loss, _ = fabian_loss(fab, f_tr[b], tr, b, pos_weight, kind)
            opt.zero_grad(); loss.backward(); opt.step()
            if sched is not None:
                sched.step()
        fab.eval()
        if ep % 10 == 9 or ep == epochs - 1:
            with torch.no_grad():
                _, m = fabian_loss(fab, f_va, va, va_idx)
            log(f"fabian epoch {ep}: validation {m}")
    return m


def ursula_loss(urs, split, idx, centers):
    """Ursula through the differentiable chain: the EQ's magnitude response must
    match the wanted LTAS change up to a constant (masked); the compressor's gain
    computer applied to the input's 10 ms frame levels must give the wanted crest
    factor reduction (``T_Dyn[0]``; a compressor cannot raise the crest factor, so
    increases count as 0); EQ gain + compressor level change + makeup + trim must
    give ``ΔLUFS``."""
    x = ursula_input(t(split["target_ltas"][idx]), t(split["input_ltas"][idx]), t(split["ltas_mask"][idx]),
                     t(split["target_lufs"][idx]), t(split["input_lufs"][idx]), t(split["target_dyn"][idx]), t(split["input_dyn"][idx]))
    s = urs(x)
    eq = ursula_eq_response(s, centers, SAMPLE_RATE)  # [B, 64]
    m = t(split["ltas_mask"][idx])
    want = t(split["delta_ltas"][idx])
    # LTAS is level-normalized: the EQ must match the wanted change up to a constant.
    r = (eq - want) * m
    mean = r.sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    shape = ((((eq - want) - mean) ** 2) * m).sum() / m.sum().clamp(min=1)
    # Dynamics: the gain computer on the input's frame levels.
    frames = frame_levels_db(t(split["input_mel"][idx]))
    rms_change, peak_change = compressor_level_change_db(s[:, 32], s[:, 33], s[:, 34], frames)
    crest_want = (t(split["target_dyn"][idx])[:, 0] - t(split["input_dyn"][idx])[:, 0]).clamp(max=0.0)
    crest_err = (peak_change - rms_change) - crest_want
    l_dyn = (crest_err ** 2).mean()
    # Loudness: power-weighted EQ gain + compressor + makeup + trim should give ΔLUFS.
    p = torch.pow(10.0, t(split["input_ltas"][idx]) / 10.0) * m
    p = p / p.sum(1, keepdim=True).clamp(min=1e-12)
    eq_gain = 10 * torch.log10((p * torch.pow(10.0, eq / 10.0)).sum(1).clamp(min=1e-12))
    loud = eq_gain + rms_change + s[:, 35] + s[:, 36]
    l_lufs = ((loud - t(split["delta_lufs"][idx])) ** 2).mean()
    # Keep unused gain small (regularizer).
    reg = 1e-3 * (s[:, 2:32:4] ** 2).mean()
    before = float((((want - (want * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)) ** 2) * m).sum() / m.sum())
    return shape + 0.1 * l_lufs + l_dyn + reg, {
        "ltas_shape_rmse_db": math.sqrt(float(shape.detach())), "ltas_shape_rmse_before_db": math.sqrt(before),
        "lufs_err": float((loud - t(split["delta_lufs"][idx])).abs().mean()),
        "crest_err_db": float(crest_err.abs().mean()), "crest_err_before_db": float(crest_want.abs().mean()),
        "compressing": float(((s[:, 33] > 1.1) & (peak_change < -0.5)).float().mean()),
    }


def spectrum_centers():
    e = 20.0 * 1000.0 ** (np.arange(257) / 256)
    return np.sqrt(e[:-1] * e[1:])


def genesis_loss(gen, enc, urs, split, idx, centers):
    """Genesis learns the residual the EQ cannot reach: the wanted change of the
    256-band spectrum minus the (frozen) Ursula EQ's response, up to a constant,
    masked, clipped to ±12 dB; and the room the target adds: its wet level is the
    target's reverberant-to-direct ratio (``target_room_db``; rows without a room: no
    tail), its RT60 0.6 s (the real rooms the dataset uses)."""
    with torch.no_grad():
        c_scene = enc.text(t(split["caption_tokens"][idx], torch.long))
        x = ursula_input(t(split["target_ltas"][idx]), t(split["input_ltas"][idx]), t(split["ltas_mask"][idx]),
                         t(split["target_lufs"][idx]), t(split["input_lufs"][idx]), t(split["target_dyn"][idx]), t(split["input_dyn"][idx]))
        eq = ursula_eq_response(urs(x), torch.as_tensor(centers, dtype=torch.float32), SAMPLE_RATE)
    m = t(split["spectrum_mask"][idx])
    want = (t(split["target_spectrum"][idx]) - t(split["input_spectrum"][idx]) - eq) * m
    want = want - want.sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    want = want.clamp(-12, 12)
    p = gen(c_scene, t(split["input_spectrum"][idx]), m)
    curve = ir.curve_db_at(p[:, :32], centers)
    r = (curve - want) * m
    r = r - r.sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    shape = ((r ** 2) * m).sum() / m.sum().clamp(min=1)
    room_db = t(split["target_room_db"][idx])
    roomy = (room_db > -60).float()
    wet_target = torch.where(roomy > 0, room_db.clamp(-60, 6), torch.full_like(room_db, -60.0))
    l_room = ((p[:, 32] - wet_target) / 10.0).pow(2).mean() + (roomy * ((p[:, 33] - 0.6) ** 2)).mean()
    before = float((((want - 0) ** 2) * m).sum() / m.sum())
    return shape + l_room, {"residual_rmse_db": math.sqrt(float(shape)), "residual_rmse_before_db": math.sqrt(before),
                            "wet_mae_db": float((p[:, 32] - wet_target).abs().mean())}


def shape_rmse(err, m):
    """Per-row RMSE (dB) of ``err`` over the mask after removing its masked mean
    (LTAS is level-normalized, so a constant offset is not an error)."""
    mean = (err * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    return torch.sqrt((((err - mean) ** 2) * m).sum(1) / m.sum(1).clamp(min=1))


@torch.no_grad()
def evaluate(enc, fab, urs, gen, split, train_split):
    """Model-space evaluation on one split (no audio is rendered here: the EQ and IR
    curve responses come from the differentiable mirrors, which match faurge-dsp
    within 0.1 dB / 0.5 dB; ``cargo xtask eval`` renders audio). One pass = Fabian →
    Ursula + Genesis on Fabian's targets. Figures: LTAS shape error (dB RMSE over the
    masked bands, offset removed) of the input, after one pass, and of a generic
    auto-EQ baseline (every input pulled to the mean clean-speech LTAS of the training
    split), for all rows and for the repair rows; loudness error of Fabian's target;
    Fabian's figures; S_C (:func:`s_c_figures`)."""
    m = split["ltas_mask"]
    e_t = enc.text(split["caption_tokens"])
    e_a = enc.audio(split["input_mel"])
    d_ltas, d_lufs, d_dyn, logit, restore = fab(torch.cat([e_t, e_a], -1))
    target_pred = split["input_ltas"] + d_ltas
    x = ursula_input(target_pred, split["input_ltas"], m, split["input_lufs"] + d_lufs[:, 0],
                     split["input_lufs"], split["input_dyn"] + d_dyn, split["input_dyn"])
    settings = urs(x)
    centers = ltas_centers()
    eq = ursula_eq_response(settings, centers, SAMPLE_RATE)
    p = gen(e_t, split["input_spectrum"], split["spectrum_mask"])
    curve = ir.curve_db_at(p[:, :32], centers.numpy().astype(np.float64))
    change = eq + curve
    want = split["target_ltas"] - split["input_ltas"]
    err_before = shape_rmse(want, m)
    err_after = shape_rmse(want - change, m)
    tm = train_split["ltas_mask"]
    clean = (train_split["damage_mask"].sum(1) == 0) & (tm[:, -8] > 0)
    avg = (train_split["input_ltas"][clean] * tm[clean]).sum(0) / tm[clean].sum(0).clamp(min=1)
    err_auto = shape_rmse(split["target_ltas"] - avg, m)
    lufs_err = (split["input_lufs"] + d_lufs[:, 0] - split["target_lufs"]).abs()
    rep = split["repair"] > 0.5

    def centred(v):
        return (v - (v * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)) * m
    moving = changed(split)
    pointing = ((centred(change) * centred(want)).sum(1) > 0).float()
    return {
        "rows": int(len(split["id"])),
        "ltas_error_db": {
            "input": float(err_before.mean()),
            "one_pass": float(err_after.mean()),
            "auto_eq_baseline": float(err_auto.mean()),
            "one_pass_over_input": float(err_after.mean() / err_before.mean()),
            "repair_input": float(err_before[rep].mean()) if int(rep.sum()) else float("nan"),
            "repair_one_pass": float(err_after[rep].mean()) if int(rep.sum()) else float("nan"),
        },
        "loudness_error_lu": {"mean": float(lufs_err.mean()), "within_1lu": float((lufs_err <= 1).float().mean())},
        "fabian": fabian_loss(fab, torch.cat([e_t, e_a], -1), split, np.arange(len(split["id"])))[1],
        "direction_of_change": float(pointing[moving].mean()) if int(moving.sum()) else float("nan"),
        "s_c": s_c_figures(enc, split, np.random.default_rng(0)),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--flag-balance", action=argparse.BooleanOptionalAction, default=True,
                    help="weight the requires_genesis BCE by negatives/positives of the train split")
    ap.add_argument("--aux-weight", type=float, default=1.0, help="weight of the encoder's audio probe loss (0: off)")
    ap.add_argument("--aux-ltas", type=float, default=1.0,
                    help="weight of the audio probe's LTAS-shape head (input and target audio, masked; 0: off)")
    ap.add_argument("--intent-weight", type=float, default=5.0, help="weight of the text encoder's intent probe loss")
    ap.add_argument("--fabian-epochs", type=int, default=80, help="Fabian's epochs (its own: it trains on frozen embeddings in seconds)")
    ap.add_argument("--fabian-hidden", type=int, default=512, help="Fabian's hidden width")
    ap.add_argument("--fabian-dropout", type=float, default=0.3, help="dropout after Fabian's hidden layers (training only)")
    ap.add_argument("--fabian-loss", choices=["mse", "l1"], default="mse", help="loss of Fabian's ΔLTAS and ΔLUFS errors")
    ap.add_argument("--fabian-lr", type=float, default=1e-3, help="Fabian's AdamW learning rate")
    ap.add_argument("--fabian-schedule", choices=["constant", "cosine"], default="cosine", help="Fabian's learning-rate schedule")
    ap.add_argument("--ship", metavar="DIR", help="after training, ship the run into DIR (../bundle/models) with faurge_train.ship")
    a = ap.parse_args(argv)
    args = sys.argv[1:] if argv is None else list(argv)
    command = os.environ.get("FAURGE_TRAIN_COMMAND") or "python -m faurge_train.train " + shlex.join(args)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    out = pathlib.Path(a.out); out.mkdir(parents=True, exist_ok=True)
    logf = open(out / "train.log", "w")
    def log(m):
        print(m, flush=True); logf.write(m + "\n")
    vocab = data.load_vocabulary(a.data)
    captions = data.load_captions(a.data)
    splits = {k: to_tensors(data.load_split(a.data, k)) for k in ("train", "validation", "test")}
    # A tiny smoke dataset may lack a split: fall back to what exists.
    first = lambda *xs: next((x for x in xs if x is not None), None)
    tr = first(splits["train"], splits["validation"], splits["test"])
    va = first(splits["validation"], tr)
    te = first(splits["test"], va)
    n_words = len(vocab["words"]) + 2
    t0 = time.time()
    enc = Encoder(n_words)
    probe_t = train_encoder(enc, tr, captions, a.epochs, rng, log, aux_weight=a.aux_weight, aux_ltas=a.aux_ltas,
                            intent_weight=a.intent_weight, va=va)
    report = {"dataset_hash": data.dataset_hash(a.data), "rows": {"train": len(tr["id"]), "validation": len(va["id"]), "test": len(te["id"])},
              "run": {"command": command, "commit": git_commit(pathlib.Path(__file__).resolve().parents[2]),
                      "epochs": a.epochs, "seed": a.seed, "torch_version": torch.__version__}}
    enc.eval()
    s_c_val = s_c_figures(enc, va, np.random.default_rng(1))
    report["encoder"] = {"validation": {"s_c": s_c_val, "intent": intent_figures(enc, probe_t, va)},
                         "test": {"s_c": s_c_figures(enc, te, np.random.default_rng(2)), "intent": intent_figures(enc, probe_t, te)}}
    # The loop's default S_C threshold: where fulfilment is likely on validation.
    report["calibration"] = {"s_c_threshold": s_c_val["threshold"], "from": "validation, Youden's J",
                             "tpr": s_c_val.get("tpr_at_threshold"), "fpr": s_c_val.get("fpr_at_threshold")}
    log(f"encoder: {report['encoder']}")

    fab = Fabian(hidden=a.fabian_hidden, dropout=a.fabian_dropout)
    n = len(tr["id"])
    # The encoder is frozen from here: embed every row once.
    f_tr = fused(enc, tr, np.arange(n))
    va_idx = np.arange(len(va["id"]))
    f_va = fused(enc, va, va_idx)
    pos_weight = None
    if a.flag_balance:
        pos = float(tr["requires_genesis"].mean())
        pos_weight = torch.tensor((1 - pos) / max(pos, 1e-3))
        log(f"requires_genesis: {pos:.2f} of train rows; pos_weight {float(pos_weight):.3f}")
    report["fabian_validation"] = train_fabian(fab, f_tr, tr, f_va, va, a.fabian_epochs, rng, log, pos_weight,
                                               a.fabian_loss, a.fabian_lr, a.fabian_schedule)
    fab.eval()
    with torch.no_grad():
        idx = np.arange(len(te["id"]))
        report["fabian_test"] = fabian_loss(fab, fused(enc, te, idx), te, idx)[1]
        report["calibration"].update(repair_deadband(fab, f_va, va))
    log(f"calibration: {report['calibration']}")

    centers = ltas_centers()
    urs = Ursula()
    opt = torch.optim.AdamW(urs.parameters(), lr=1e-3, weight_decay=1e-4)
    for ep in range(a.epochs):
        for b in batches(n, 64, rng):
            loss, _ = ursula_loss(urs, tr, b, centers)
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            _, m = ursula_loss(urs, va, np.arange(len(va["id"])), centers)
        log(f"ursula epoch {ep}: validation {m}")
    with torch.no_grad():
        report["ursula_test"] = ursula_loss(urs, te, np.arange(len(te["id"])), centers)[1]
    gen = Genesis()
    spec_centers = spectrum_centers()
    opt = torch.optim.AdamW(gen.parameters(), lr=1e-3, weight_decay=1e-4)
    for ep in range(a.epochs):
        for b in batches(n, 64, rng):
            loss, _ = genesis_loss(gen, enc, urs, tr, b, spec_centers)
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            _, m = genesis_loss(gen, enc, urs, va, np.arange(len(va["id"])), spec_centers)
        log(f"genesis epoch {ep}: validation {m}")
    with torch.no_grad():
        report["genesis_test"] = genesis_loss(gen, enc, urs, te, np.arange(len(te["id"])), spec_centers)[1]
    report["train_seconds"] = time.time() - t0
    enc.eval(); fab.eval(); urs.eval(); gen.eval()
    report["test_eval"] = evaluate(enc, fab, urs, gen, te, tr)
    log(json.dumps(report, indent=2))

    export_models(enc, fab, urs, gen, vocab["max_tokens"], out)
    torch.save({"encoder": enc.state_dict(), "fabian": fab.state_dict(), "fabian_hidden": a.fabian_hidden, "ursula": urs.state_dict(),
                "genesis": gen.state_dict(), "n_words": n_words, "text_probe": probe_t.state_dict()}, out / "weights.pt")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if a.ship:
        from . import ship
        ship.ship(out, a.data, a.ship)
        log(f"shipped {out} into {a.ship}")
    return report


if __name__ == "__main__":
    main()
