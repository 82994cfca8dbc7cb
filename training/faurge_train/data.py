"""Reads the Parquet dataset that ``faurge-dataset build`` writes into numpy
arrays. Python never recomputes a measurement: everything comes from Rust."""

import json
import pathlib

import numpy as np
import pyarrow.parquet as pq

VECTOR_COLUMNS = [
    "ltas_mask", "spectrum_mask", "caption_tokens", "intent_vector", "damage_mask", "restore_mask",
    "target_ltas", "target_dyn", "input_ltas", "input_dyn",
    "delta_ltas", "delta_dyn", "input_spectrum", "target_spectrum", "input_mel", "target_mel",
]
SCALAR_COLUMNS = [
    "target_lufs", "target_purity", "input_lufs", "input_purity", "input_snr_db", "requires_genesis",
    "delta_lufs", "bandwidth_hz", "mel_frames", "repair", "relative", "paraphrase", "goals_met", "target_room_db",
]
TEXT_COLUMNS = ["id", "split", "corpus", "speaker", "source", "caption", "understood", "intent_summary", "damage_labels"]


def load_split(folder, split, columns=None):
    """``{column: np.ndarray}`` of one split (``train``/``validation``/``test``);
    vector columns are ``[rows, width]``, mels ``[rows, frames, 64]``. Returns
    ``None`` when the split has no file (no speaker of the data fell into it)."""
    path = pathlib.Path(folder) / f"{split}.parquet"
    if not path.exists():
        return None
    table = pq.read_table(path, columns=columns)
    n = table.num_rows
    out = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name in VECTOR_COLUMNS:
            arr = np.asarray(col.flatten()).reshape(n, -1)
            if name.endswith("_mel"):
                arr = arr.reshape(n, -1, 64)
            out[name] = arr
        elif name in TEXT_COLUMNS or name.endswith("_json"):
            out[name] = np.array(col.to_pylist(), dtype=object)
        else:
            out[name] = np.asarray(col.to_numpy(zero_copy_only=False))
    return out


def load_captions(folder):
    """The text-only training captions (``captions.json``): dicts with ``caption``,
    ``understood``, ``tokens`` and ``intent_vector``."""
    with open(pathlib.Path(folder) / "captions.json") as f:
        return json.load(f)


def load_vocabulary(folder):
    """The tokenizer words and the descriptor table's quantities (``vocabulary.json``)."""
    with open(pathlib.Path(folder) / "vocabulary.json") as f:
        return json.load(f)


def dataset_hash(folder):
    """The content hash (``dataset.sha256``)."""
    return (pathlib.Path(folder) / "dataset.sha256").read_text().strip()
