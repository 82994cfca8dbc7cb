import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "training"))


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """faurge-dsp reference responses: ``$FAURGE_REFERENCE_JSON`` if set, else
    written by ``cargo run -p faurge-dataset -- reference``."""
    path = os.environ.get("FAURGE_REFERENCE_JSON")
    if not path:
        path = str(tmp_path_factory.mktemp("ref") / "reference.json")
        subprocess.run(
            ["cargo", "run", "--quiet", "-p", "faurge-dataset", "--", "reference", "--out", path],
            cwd=ROOT, check=True)
    with open(path) as f:
        return json.load(f)
