"""PyTorch mirror of ``dsp/src/ir.rs`` (Genesis' DDSP IR synthesizer): a
minimum-phase correction filter from a 32-point log-spaced dB curve (real-cepstrum
folding, Oppenheim & Schafer) plus a parametric two-band noise tail. Read the Rust
module docs for the definition; ``tests/test_parity.py`` checks that both agree.

Differentiable in ``correction_db``, ``wet_db``, ``rt60_s`` and ``hf_damping``;
the pre-delay is rounded to whole samples and the noise is a constant of the seed.
"""

import functools
import math

import numpy as np
import torch

IR_CURVE_POINTS = 32
IR_CURVE_MIN_HZ, IR_CURVE_MAX_HZ = 40.0, 20000.0
MAX_CORRECTION_DB = 12.0
WET_OFF_DB, MAX_WET_DB = -60.0, 6.0
MIN_RT60_S, MAX_RT60_S = 0.05, 2.0
MAX_PREDELAY_MS = 100.0
MAX_IR_SECONDS = 2.0
TAIL_CROSSOVER_HZ = 4000.0


def curve_freqs_hz():
    i = np.arange(IR_CURVE_POINTS, dtype=np.float64)
    return IR_CURVE_MIN_HZ * (IR_CURVE_MAX_HZ / IR_CURVE_MIN_HZ) ** (i / (IR_CURVE_POINTS - 1))


def correction_len(sample_rate):
    if sample_rate <= 50000.0:
        return 1024
    if sample_rate <= 100000.0:
        return 2048
    return 4096


def curve_db_at(correction_db, freqs_hz):
    """``[..., 32]`` curve → ``[..., F]`` dB at ``freqs_hz`` (numpy ``[F]``)."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    pos = np.log(np.maximum(f, 1e-9) / IR_CURVE_MIN_HZ) / math.log(IR_CURVE_MAX_HZ / IR_CURVE_MIN_HZ) * (IR_CURVE_POINTS - 1)
    pos = np.clip(pos, 0.0, IR_CURVE_POINTS - 1)
    i = np.minimum(np.floor(pos).astype(np.int64), IR_CURVE_POINTS - 2)
    t = torch.as_tensor(pos - i, dtype=correction_db.dtype)
    lo = correction_db[..., torch.as_tensor(i)]
    hi = correction_db[..., torch.as_tensor(i + 1)]
    return lo * (1 - t) + hi * t


def correction_filter(correction_db, sample_rate):
    """Minimum-phase filter ``[..., L]`` for a curve ``[..., 32]`` (dB, clamped ±12)."""
    c = correction_db.clamp(-MAX_CORRECTION_DB, MAX_CORRECTION_DB)
    l = correction_len(sample_rate)
    n = 8 * l
    k = np.arange(n)
    kk = np.where(k <= n // 2, k, n - k)
    log_mag = curve_db_at(c, kk * sample_rate / n) * (math.log(10.0) / 20.0)
    cdt = torch.complex128 if c.dtype == torch.float64 else torch.complex64
    cep = torch.fft.ifft(log_mag.to(cdt)).real
    w = np.zeros(n)
    w[0] = 1.0
    w[1:n // 2] = 2.0
    w[n // 2] = 1.0
    folded = cep * torch.as_tensor(w, dtype=cep.dtype)
    spec = torch.exp(torch.fft.fft(folded.to(cdt)))
    h = torch.fft.ifft(spec).real[..., :l]
    fade = l // 8
    g = np.ones(l)
    t = np.arange(fade) / fade
    g[l - fade:] = 0.5 * (1 + np.cos(np.pi * t))
    return h * torch.as_tensor(g, dtype=h.dtype)


@functools.lru_cache(maxsize=64)
def tail_noise(seed, length, sample_rate):
    """The tail's ``(lo, hi)`` noise bands (numpy float64 ``[length]``), as Rust:
    xorshift32 in ``[-1, 1)``, one-pole low-pass at 4 kHz, ``hi = u - lo``."""
    x = np.uint32(seed if seed != 0 else 1)
    u = np.empty(length)
    a = math.exp(-2 * math.pi * TAIL_CROSSOVER_HZ / sample_rate)
    lo = np.empty(length)
    acc = 0.0
    xi = int(x)
    for i in range(length):
        xi ^= (xi << 13) & 0xFFFFFFFF
        xi ^= xi >> 17
        xi ^= (xi << 5) & 0xFFFFFFFF
        v = xi / 2147483648.0 - 1.0
        u[i] = v
        acc = (1 - a) * v + a * acc
        lo[i] = acc
    return lo, u - lo


def synthesize_ir(params, sample_rate):
    """Mirror of ``faurge_dsp::ir::synthesize_ir`` for one parameter set.

    ``params``: dict with ``correction_db`` (tensor ``[32]``), ``wet_db``, ``rt60_s``,
    ``predelay_ms``, ``hf_damping`` (tensors or floats) and ``seed`` (int).
    Returns a 1-D tensor, length ≤ 2 s."""
    dt = params["correction_db"].dtype if torch.is_tensor(params["correction_db"]) else torch.float64
    tt = lambda v: v if torch.is_tensor(v) else torch.tensor(float(v), dtype=dt)
    h = correction_filter(tt(params["correction_db"]), sample_rate)
    wet_db = tt(params["wet_db"]).clamp(WET_OFF_DB, MAX_WET_DB)
    max_len = int(math.floor(MAX_IR_SECONDS * sample_rate))
    if float(wet_db) <= WET_OFF_DB:
        return h[:max(max_len, 1)]
    rt60 = tt(params["rt60_s"]).clamp(MIN_RT60_S, MAX_RT60_S)
    damp = tt(params["hf_damping"]).clamp(0.0, 1.0)
    pre_ms = min(max(float(params["predelay_ms"]), 0.0), MAX_PREDELAY_MS)
    pre = int(np.round(pre_ms * 1e-3 * sample_rate))
    tail_len = min(int(np.round(1.5 * float(rt60) * sample_rate)), max(max_len - pre, 0))
    lo, hi = tail_noise(int(params["seed"]), tail_len, float(sample_rate))
    t = torch.arange(tail_len, dtype=h.dtype) / sample_rate
    k60 = math.log(1000.0)
    rt_hi = rt60 * (1 - 0.8 * damp)
    tail = torch.as_tensor(lo, dtype=h.dtype) * torch.exp(-k60 * t / rt60) + torch.as_tensor(hi, dtype=h.dtype) * torch.exp(-k60 * t / rt_hi)
    e_h = (h * h).sum()
    e_t = (tail * tail).sum()
    g = torch.sqrt(torch.pow(10.0, wet_db / 10.0) * e_h / e_t)
    total = max(h.shape[-1], pre + tail_len)
    out = torch.zeros(total, dtype=h.dtype)
    out = out.index_add(0, torch.arange(h.shape[-1]), h)
    out = out.index_add(0, torch.arange(pre, pre + tail_len), g * tail)
    return out[:max(max_len, 1)]
