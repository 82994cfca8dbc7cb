"""ONNX export of the five models and the provenance of a run (its git commit).

Shared by :mod:`faurge_train.train` (export after training) and
:mod:`faurge_train.ship` (re-export of a finished run), so neither imports the other.
"""

import pathlib
import subprocess

import onnx
import torch


def git_commit(root):
    """``git rev-parse HEAD`` of ``root``, with ``-dirty`` when tracked files differ."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, check=True,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def export(model, args, path, input_names, output_names, dynamic):
    """One ONNX file. The example batch is 2: with 1 the exporter specializes the
    batch dimension to 1 (0/1 specialization) for some graphs (Ursula), which then
    declare static shapes that tract trusts. Raises ``RuntimeError`` if an input or
    output still has a fixed first dimension."""
    torch.onnx.export(model, args, str(path), input_names=input_names, output_names=output_names,
                      dynamic_axes=dynamic, opset_version=18, external_data=False)
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
    export(fab, (torch.zeros(B, 1024),), out / "fabian.onnx", ["fused"], FABIAN_OUTPUTS,
           {"fused": batch, **{k: batch for k in FABIAN_OUTPUTS}})
    export(urs, (torch.zeros(B, 3 * 64 + 6),), out / "ursula.onnx", ["metrics"], ["settings"], {"metrics": batch, "settings": batch})


# Fabian's ONNX outputs, in the order of ``Fabian.forward``.
FABIAN_OUTPUTS = ["delta_ltas", "delta_lufs", "delta_dyn", "genesis_logit", "restore_logits"]
