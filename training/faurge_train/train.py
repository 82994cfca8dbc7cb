"""Trains the encoder, Fabian and Ursula on a ``faurge-dataset`` folder and
exports ONNX (opset 18, the exporter's native one; the issue asks ≥ 17). Usage::

    python -m faurge_train.train --data ../target/dataset --out runs/dev [--epochs 20] [--ship ../bundle/models]

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
        elif k.endswith("_tokens") or k in ("style_index", "mel_frames"):
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


def clip_batches(clips, size, rng):
    """Batches of whole source clips (every row of ``size // rows-per-clip`` clips):
    the rows of one clip differ only in style, crop and degradation, so each batch
    holds hard negatives (same speaker, other style) for the contrastive loss."""
    groups = {}
    for i, c in enumerate(clips):
        groups.setdefault(c, []).append(i)
    order = [groups[k] for k in sorted(groups)]
    per = max(1, round(size / max(1, np.mean([len(g) for g in order]))))
    perm = rng.permutation(len(order))
    for s in range(0, len(perm), per):
        yield np.concatenate([order[j] for j in perm[s:s + per]])


def defect_ids(split, vocab):
    """Index of each row's defect caption in the vocabulary's defect list."""
    lookup = {c: i for i, cs in enumerate(vocab["defect_captions"]) for c in cs}
    return np.array([lookup.get(c, len(lookup)) for c in split["defect_caption"]])


def aux_targets(split, b, which):
    """Targets of the encoder's auxiliary probe for rows ``b`` of the ``input`` or
    ``target`` audio: LUFS, crest factor, ZCR and purity (scaled to about unit
    range) and the degradation labels (0/1; none for the clean styled target)."""
    lufs = (t(split[f"{which}_lufs"][b]) + 25.0) / 10.0
    dyn = t(split[f"{which}_dyn"][b])
    purity = t(split[f"{which}_purity"][b])
    deg = t(split["degradation_mask"][b]) if which == "input" else torch.zeros(len(b), split["degradation_mask"].shape[1])
    reg = torch.stack([lufs, (dyn[:, 0] - 15.0) / 5.0, dyn[:, 1] / 1000.0, purity], -1)
    return reg, deg


def ltas_shape(split, b, which):
    """The masked, level-normalized LTAS shape ``[len(b), 64]`` of the ``input`` or
    ``target`` audio of rows ``b``: the LTAS minus its mean over the unmasked bands,
    /10 dB, 0 in masked bands; and the mask. Target of the probe's LTAS head."""
    x, m = t(split[f"{which}_ltas"][b]), t(split["ltas_mask"][b])
    mean = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    return (x - mean) * m / 10.0, m


def train_encoder(enc, tr, vocab, epochs, rng, log, aux_weight=0.0, va=None, tokenize=None, by_clip=False, aux_ltas=0.0):
    """InfoNCE on (styled audio, style caption) and (degraded audio, defect caption);
    all rows of one style (or one defect) are positives of each other.

    With ``aux_weight > 0`` a linear probe (not exported) on ``e_audio`` must also
    recover the audio's LUFS, crest, ZCR, purity and degradation labels, so the
    embedding Fabian reads carries level and purity (the contrastive loss alone
    makes it level-blind: styles are level-independent). With ``aux_ltas > 0`` the
    probe also recovers the audio's LTAS shape (:func:`ltas_shape`, masked MSE,
    weight ``aux_ltas``), so ``e_audio`` of the input carries the spectrum Fabian
    needs for ``ΔLTAS = T_target − M_input``. ``by_clip`` batches whole clips
    together (:func:`clip_batches`)."""
    defect_id = torch.from_numpy(defect_ids(tr, vocab) + 1000)
    n_deg = tr["degradation_mask"].shape[1]
    probe = torch.nn.Linear(512, 4 + n_deg + (64 if aux_ltas > 0 else 0))
    opt = torch.optim.AdamW(list(enc.parameters()) + list(probe.parameters()), lr=1e-3, weight_decay=1e-4)
    n = len(tr["style_index"])
    for ep in range(epochs):
        tot = tot_aux = 0.0
        clips = np.array([i.split("#")[0] for i in tr["id"]], dtype=object)
        for b in (clip_batches(clips, 64, rng) if by_clip else batches(n, 64, rng)):
            mel = torch.cat([t(tr["target_mel"][b]), t(tr["input_mel"][b])])
            tok = torch.cat([t(tr["caption_tokens"][b], torch.long), t(tr["defect_caption_tokens"][b], torch.long)])
            lab = torch.cat([t(tr["style_index"][b], torch.long), t(defect_id[b], torch.long)])
            e_a = enc.audio(mel)
            loss = info_nce(e_a, enc.text(tok), enc.log_scale, lab)
            if aux_weight > 0:
                rt, dt = aux_targets(tr, b, "target")
                ri, di = aux_targets(tr, b, "input")
                y = probe(e_a)
                aux = F.mse_loss(y[:, :4], torch.cat([rt, ri])) + F.binary_cross_entropy_with_logits(y[:, 4:4 + n_deg], torch.cat([dt, di]))
                if aux_ltas > 0:
                    (st, mt), (si, mi) = ltas_shape(tr, b, "target"), ltas_shape(tr, b, "input")
                    sh, m = torch.cat([st, si]), torch.cat([mt, mi])
                    aux = aux + aux_ltas * (((y[:, 4 + n_deg:] - sh) ** 2) * m).sum() / m.sum().clamp(min=1)
                tot_aux += float(aux.detach()) * len(b)
                loss = loss + aux_weight * aux
            opt.zero_grad(); loss.backward(); opt.step()
            tot += float(loss.detach()) * len(b)
        msg = f"encoder epoch {ep}: loss {tot / n:.4f} aux {tot_aux / n:.4f}"
        if va is not None and (ep % 5 == 4 or ep == epochs - 1):
            enc.eval()
            msg += f" validation {retrieval(enc, va, vocab, tokenize)}"
            enc.train()
        log(msg)


@torch.no_grad()
def retrieval(enc, split, vocab, tokenize):
    """Caption retrieval over the styles: for every styled clip, rank the styles
    by the mean cosine of the clip to that style's captions. Returns top-1, top-5
    and the mean cosine of matching and non-matching pairs (for S_C calibration)."""
    caps = vocab["style_captions"]
    tok = torch.stack([torch.stack([tokenize(c) for c in cs]) for cs in caps])  # [S, C, L]
    S, C, L = tok.shape
    e_t = enc.text(tok.reshape(S * C, L)).reshape(S, C, -1)
    e_a = enc.audio(t(split["target_mel"]))
    sims = torch.einsum("nd,scd->nsc", e_a, e_t).mean(-1)  # [N, S]
    y = t(split["style_index"], torch.long)
    rank = sims.argsort(1, descending=True)
    top1 = float((rank[:, 0] == y).float().mean())
    top5 = float((rank[:, :5] == y[:, None]).any(1).float().mean())
    match = sims.gather(1, y[:, None]).mean()
    other = (sims.sum(1) - sims.gather(1, y[:, None])[:, 0]).mean() / (S - 1)
    return {"top1": top1, "top5": top5, "cos_match": float(match), "cos_other": float(other)}


def fused(enc, split, idx):
    with torch.no_grad():
        return torch.cat([enc.text(t(split["caption_tokens"][idx], torch.long)), enc.audio(t(split["input_mel"][idx]))], -1)


def balanced_accuracy(pred, truth):
    """Mean of the true-positive and true-negative rates (0.5 = chance, whatever the
    class balance)."""
    pred, truth = pred.bool(), truth.bool()
    rates = [float((pred[truth == c] == c).float().mean()) for c in (True, False) if int((truth == c).sum()) > 0]
    return sum(rates) / len(rates)


def fabian_loss(fab, x, split, idx, pos_weight=None, kind="mse"):
    """Fabian's training loss and its figures on rows ``idx`` (fused inputs ``x``).
    ``kind`` is the loss of the ΔLTAS (masked) and ΔLUFS errors: ``mse``, or ``l1``
    (the figures are mean absolute errors, and L1 is less pulled by the rows whose
    target is unpredictable, e.g. the source's own loudness)."""
    d_ltas, d_lufs, d_dyn, logit = fab(x)
    m = t(split["ltas_mask"][idx])
    err = (lambda e: e.abs()) if kind == "l1" else (lambda e: e ** 2)
    l_ltas = (err(d_ltas - t(split["delta_ltas"][idx])) * m).sum() / m.sum().clamp(min=1)
    l_lufs = err(d_lufs[:, 0] - t(split["delta_lufs"][idx])).mean()
    dyn_scale = torch.tensor([1.0, 1 / 100.0])
    l_dyn = (((d_dyn - t(split["delta_dyn"][idx])) * dyn_scale) ** 2).mean()
    l_bce = F.binary_cross_entropy_with_logits(logit[:, 0], t(split["requires_genesis"][idx]), pos_weight=pos_weight)
    mae = float(((d_ltas.detach() - t(split["delta_ltas"][idx])).abs() * m).sum() / m.sum().clamp(min=1))
    acc = float(((logit[:, 0] > 0) == t(split["requires_genesis"][idx], torch.bool)).float().mean())
    bal = balanced_accuracy(logit[:, 0] > 0, t(split["requires_genesis"][idx]) > 0.5)
    lufs_err = (d_lufs[:, 0] - t(split["delta_lufs"][idx])).abs()
    return l_ltas + l_lufs + l_dyn + 10.0 * l_bce, {"dltas_mae_db": mae, "flag_acc": acc, "flag_balanced_acc": bal,
                                                     "dlufs_mae": float(lufs_err.mean()), "lufs_within_1lu": float((lufs_err <= 1).float().mean())}


def train_fabian(fab, f_tr, tr, f_va, va, epochs, rng, log, pos_weight=None, kind="mse", lr=1e-3, schedule="constant"):
    """Fabian on frozen fused embeddings ``f_tr`` (train) and ``f_va`` (validation,
    logged every epoch). ``schedule``: ``constant`` learning rate, or ``cosine``
    (annealed to 0 over the epochs, SGDR without restarts, Loshchilov & Hutter 2017)."""
    opt = torch.optim.AdamW(fab.parameters(), lr=lr, weight_decay=1e-4)
    n = len(tr["id"])
    steps = epochs * math.ceil(n / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps)) if schedule == "cosine" else None
    va_idx = np.arange(len(va["id"]))
    for ep in range(epochs):
        fab.train()
        for b in batches(n, 64, rng):
            loss, _ = fabian_loss(fab, f_tr[b], tr, b, pos_weight, kind)
            opt.zero_grad(); loss.backward(); opt.step()
            if sched is not None:
                sched.step()
        fab.eval()
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


def genesis_loss(gen, enc, urs, split, idx, centers, vocab):
    """Genesis learns the residual the EQ cannot reach: the wanted change of the
    256-band spectrum minus the (frozen) Ursula EQ's response, up to a constant,
    masked, clipped to ±12 dB; and a room (wet level, RT60) only for the roomy
    style (wet target from the style's convolver mix, RT60 0.6 s of the real RIRs;
    others: no tail)."""
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
    roomy_index = vocab["styles"].index("roomy") if "roomy" in vocab["styles"] else -1
    roomy = t(split["style_index"][idx] == roomy_index)
    mix = torch.tensor([json.loads(j)["state"]["convolver"]["mix"] for j in split["style_json"][idx]])
    wet_target = torch.where(roomy > 0, 20 * torch.log10(mix / (1 - mix)), torch.full_like(mix, -60.0))
    l_room = ((p[:, 32] - wet_target) / 10.0).pow(2).mean() + (roomy * ((p[:, 33] - 0.6) ** 2)).mean()
    before = float((((want - 0) ** 2) * m).sum() / m.sum())
    return shape + l_room, {"residual_rmse_db": math.sqrt(float(shape)), "residual_rmse_before_db": math.sqrt(before), "wet_mae_db": float((p[:, 32] - wet_target).abs().mean())}


def shape_rmse(err, m):
    """Per-row RMSE (dB) of ``err`` over the mask after removing its masked mean
    (LTAS is level-normalized, so a constant offset is not an error)."""
    mean = (err * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    return torch.sqrt((((err - mean) ** 2) * m).sum(1) / m.sum(1).clamp(min=1))


@torch.no_grad()
def evaluate(enc, fab, urs, gen, split, vocab, tokenize, train_split):
    """Model-space evaluation on one split (no audio is rendered here: the EQ and
    IR curve responses come from the differentiable mirrors, which match faurge-dsp
    within 0.1 dB / 0.5 dB). One pass = Fabian → Ursula + Genesis on Fabian's targets.
    Figures: LTAS shape error (dB RMSE over the masked bands, offset removed) of the
    degraded input, after one pass, and of the generic auto-EQ baseline (every input
    pulled to the mean clean-speech LTAS of the training split's neutral style);
    loudness error of Fabian's target; prompt-direction accuracy per style (the
    applied change points the same way as the wanted change: positive dot product);
    S_C calibration (cosine of matching and non-matching style captions)."""
    idx = np.arange(len(split["id"]))
    m = split["ltas_mask"]
    e_t = enc.text(split["caption_tokens"])
    e_a = enc.audio(split["input_mel"])
    d_ltas, d_lufs, d_dyn, logit = fab(torch.cat([e_t, e_a], -1))
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
    neutral = vocab["styles"].index("neutral") if "neutral" in vocab["styles"] else 0
    tm = train_split["ltas_mask"]
    sel = (train_split["style_index"] == neutral) & (tm[:, -1] > 0)
    if int(sel.sum()) == 0:
        sel = train_split["style_index"] == neutral
    avg = (train_split["target_ltas"][sel] * tm[sel]).sum(0) / tm[sel].sum(0).clamp(min=1)
    err_auto = shape_rmse(split["target_ltas"] - avg, m)
    lufs_err = (split["input_lufs"] + d_lufs[:, 0] - split["target_lufs"]).abs()

    def centred(v):
        return (v - (v * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)) * m
    direction = ((centred(change) * centred(want)).sum(1) > 0).float()
    per_style = {}
    for i, name in enumerate(vocab["styles"]):
        sel = split["style_index"] == i
        if int(sel.sum()) > 0:
            per_style[name] = float(direction[sel].mean())
    r = retrieval(enc, split, vocab, tokenize)
    caps = torch.stack([tokenize(cs[0]) for cs in vocab["style_captions"]])
    sims = enc.audio(split["target_mel"]) @ enc.text(caps).t()
    y = split["style_index"]
    match = sims.gather(1, y[:, None])[:, 0]
    other = sims[torch.arange(len(y)), (y + 1) % sims.shape[1]]
    return {
        "rows": len(idx),
        "ltas_error_db": {
            "degraded": float(err_before.mean()),
            "one_pass": float(err_after.mean()),
            "auto_eq_baseline": float(err_auto.mean()),
            "one_pass_over_degraded": float(err_after.mean() / err_before.mean()),
        },
        "loudness_error_lu": {"mean": float(lufs_err.mean()), "within_1lu": float((lufs_err <= 1).float().mean())},
        "fabian": {"dltas_mae_db": float(((d_ltas - split["delta_ltas"]).abs() * m).sum() / m.sum()),
                   "flag_accuracy": float(((logit[:, 0] > 0) == (split["requires_genesis"] > 0.5)).float().mean()),
                   "flag_balanced_accuracy": balanced_accuracy(logit[:, 0] > 0, split["requires_genesis"] > 0.5),
                   "flag_majority_rate": float(max(split["requires_genesis"].mean(), 1 - split["requires_genesis"].mean()))},
        "prompt_direction_accuracy": {"all": float(direction.mean()), "per_style": per_style},
        "retrieval": r,
        "s_c": {"match_p10": float(match.quantile(0.1)), "match_median": float(match.median()),
                "other_median": float(other.median()), "other_p90": float(other.quantile(0.9)),
                "match_at_0_85": float((match >= 0.85).float().mean()),
                "other_at_0_85": float((other >= 0.85).float().mean())},
    }


def export(model, args, path, input_names, output_names, dynamic):
    """One ONNX file. The example batch is 2: with 1 the exporter specializes the
    batch dimension to 1 (0/1 specialization) for some graphs (Ursula), which then
    declare static shapes that tract trusts. Raises ``RuntimeError`` if an input or
    output still has a fixed first dimension."""
    torch.onnx.export(model, args, str(path), input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic, opset_version=18, external_data=False)
    import onnx
    g = onnx.load(str(path)).graph
    for v in list(g.input) + list(g.output):
        d = v.type.tensor_type.shape.dim
        if v.name in input_names + output_names and (not d or d[0].HasField("dim_value")):
            raise RuntimeError(f"{path.name}: {v.name} has a fixed batch dimension after export")


def export_models(enc, fab, urs, gen, max_tokens, out):
    """The five ONNX files of the shipped I/O (see training/README.md) into ``out``."""
    out = pathlib.Path(out)
    B = 2
    batch = {0: "batch"}
    export(gen, (torch.zeros(B, 512), torch.zeros(B, 256), torch.ones(B, 256)), out / "genesis.onnx",
           ["c_scene", "spectrum_db", "spectrum_mask"], ["ir_params"],
           {"c_scene": batch, "spectrum_db": batch, "spectrum_mask": batch, "ir_params": batch})
    export(enc.text, (torch.ones(B, max_tokens, dtype=torch.long),), out / "encoder_text.onnx", ["tokens"], ["e_text"],
           {"tokens": batch, "e_text": batch})
    export(enc.audio, (torch.zeros(B, 298, 64),), out / "encoder_audio.onnx", ["log_mel"], ["e_audio"],
           {"log_mel": {0: "batch", 1: "frames"}, "e_audio": batch})
    export(fab, (torch.zeros(B, 1024),), out / "fabian.onnx", ["fused"], ["delta_ltas", "delta_lufs", "delta_dyn", "genesis_logit"],
           {"fused": batch, "delta_ltas": batch, "delta_lufs": batch, "delta_dyn": batch, "genesis_logit": batch})
    export(urs, (torch.zeros(B, 3 * 64 + 6),), out / "ursula.onnx", ["metrics"], ["settings"], {"metrics": batch, "settings": batch})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--flag-balance", action=argparse.BooleanOptionalAction, default=True,
                    help="weight the requires_genesis BCE by negatives/positives of the train split")
    ap.add_argument("--encoder-batches", choices=["random", "clip"], default="random",
                    help="encoder batches: random rows, or whole clips (same speaker in several styles: hard negatives)")
    ap.add_argument("--aux-weight", type=float, default=1.0, help="weight of the encoder's level/purity probe loss (0: off)")
    ap.add_argument("--aux-ltas", type=float, default=1.0,
                    help="weight of the probe's LTAS-shape head (input and target audio, masked; 0: off)")
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
    splits = {k: to_tensors(data.load_split(a.data, k)) for k in ("train", "validation", "test")}
    # A tiny smoke dataset may lack a split: fall back to what exists.
    first = lambda *xs: next((x for x in xs if x is not None), None)
    tr = first(splits["train"], splits["validation"], splits["test"])
    va = first(splits["validation"], tr)
    te = first(splits["test"], va)
    n_words = len(vocab["words"]) + 2
    tokenize = make_tokenizer(vocab)
    t0 = time.time()
    enc = Encoder(n_words)
    train_encoder(enc, tr, vocab, a.epochs, rng, log, aux_weight=a.aux_weight, va=va, tokenize=tokenize,
                  by_clip=a.encoder_batches == "clip", aux_ltas=a.aux_ltas)
    from .ship import git_commit
    report = {"dataset_hash": data.dataset_hash(a.data), "rows": {"train": len(tr["id"]), "validation": len(va["id"]), "test": len(te["id"])},
              "run": {"command": command, "commit": git_commit(pathlib.Path(__file__).resolve().parents[2]),
                      "epochs": a.epochs, "seed": a.seed, "torch_version": torch.__version__}}
    enc.eval()
    report["encoder"] = {"validation": retrieval(enc, va, vocab, tokenize), "test": retrieval(enc, te, vocab, tokenize)}
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
            loss, _ = genesis_loss(gen, enc, urs, tr, b, spec_centers, vocab)
            opt.zero_grad(); loss.backward(); opt.step()
        with torch.no_grad():
            _, m = genesis_loss(gen, enc, urs, va, np.arange(len(va["id"])), spec_centers, vocab)
        log(f"genesis epoch {ep}: validation {m}")
    with torch.no_grad():
        report["genesis_test"] = genesis_loss(gen, enc, urs, te, np.arange(len(te["id"])), spec_centers, vocab)[1]
    report["train_seconds"] = time.time() - t0
    enc.eval(); fab.eval(); urs.eval(); gen.eval()
    report["test_eval"] = evaluate(enc, fab, urs, gen, te, vocab, tokenize, tr)
    log(json.dumps(report, indent=2))

    enc.eval(); fab.eval(); urs.eval(); gen.eval()
    export_models(enc, fab, urs, gen, vocab["max_tokens"], out)
    torch.save({"encoder": enc.state_dict(), "fabian": fab.state_dict(), "fabian_hidden": a.fabian_hidden, "ursula": urs.state_dict(), "genesis": gen.state_dict(), "n_words": n_words}, out / "weights.pt")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    if a.ship:
        from . import ship
        ship.ship(out, a.data, a.ship)
        log(f"shipped {out} into {a.ship}")
    return report


if __name__ == "__main__":
    main()
