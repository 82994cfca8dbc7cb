"""Perceptual scores and the matchering baseline for ``faurge-eval``.

Reads a JSON list of jobs on stdin and writes a JSON list of results (same order) on
stdout. Jobs:

- ``{"job": "pesq_stoi", "clean": WAV, "test": WAV}`` → ``{"pesq": wide-band PESQ
  (ITU-T P.862.2, the ``pesq`` package), "stoi": STOI (Taal et al. 2011, ``pystoi``)}``,
  both computed at 16 kHz (the files are resampled with a polyphase filter);
- ``{"job": "matchering", "target": WAV, "reference": WAV, "out": WAV}`` → writes
  ``out`` with matchering 2.0 (``matchering`` package: RMS and average-spectrum
  matching with its own limiter) and returns ``{"ok": true}``.

A job that fails returns ``{"error": "…"}``; a missing package fails every job of its
kind with that message, so the evaluation can say what was not measured and why.
"""

import json
import sys


def read(path):
    import soundfile as sf
    x, sr = sf.read(path, dtype="float64", always_2d=True)
    return x.mean(axis=1), sr


def at16k(x, sr):
    from math import gcd
    from scipy.signal import resample_poly
    if sr == 16000:
        return x
    g = gcd(int(sr), 16000)
    return resample_poly(x, 16000 // g, int(sr) // g)


def pesq_stoi(job):
    from pesq import pesq
    from pystoi import stoi
    c, sr_c = read(job["clean"])
    t, sr_t = read(job["test"])
    c, t = at16k(c, sr_c), at16k(t, sr_t)
    n = min(len(c), len(t))
    c, t = c[:n], t[:n]
    return {"pesq": float(pesq(16000, c, t, "wb")), "stoi": float(stoi(c, t, 16000, extended=False))}


def matchering(job):
    import matchering as mg
    mg.log(lambda *_: None)
    mg.process(target=job["target"], reference=job["reference"], results=[mg.pcm24(job["out"])])
    return {"ok": True}


def main():
    jobs = json.load(sys.stdin)
    out = []
    for job in jobs:
        try:
            out.append({"pesq_stoi": pesq_stoi, "matchering": matchering}[job["job"]](job))
        except Exception as e:  # noqa: BLE001 - every failure is reported per job
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
