"""Differentiable mirrors of faurge-dsp's EQ magnitude response and compressor
static curve (PyTorch). Same formulas as ``dsp/src/biquad.rs`` (RBJ Audio EQ
Cookbook), ``dsp/src/eq.rs`` (band sanitizing, HP/LP ignore gain, disabled bands
contribute 0 dB) and ``dsp/src/compressor.rs`` (Giannoulis, Massberg & Reiss,
JAES 2012, eq. (4)). Parity with Rust is tested in ``tests/test_parity.py``.

Shapes: settings are tensors ``[..., 8]`` (one value per band) in the fixed band
order 0 high-pass, 1 low shelf, 2-5 peaking, 6 high shelf, 7 low-pass.
"""

import math

import torch

NUM_BANDS = 8
HIGH_PASS, LOW_SHELF, PEAK, HIGH_SHELF, LOW_PASS = range(5)
BAND_KINDS = [HIGH_PASS, LOW_SHELF, PEAK, PEAK, PEAK, PEAK, HIGH_SHELF, LOW_PASS]

MIN_FREQ_HZ, MAX_FREQ_HZ, MAX_FREQ_FRACTION_OF_RATE = 20.0, 20000.0, 0.45
MIN_GAIN_DB, MAX_GAIN_DB = -24.0, 24.0
MIN_Q, MAX_Q = 0.1, 18.0
MIN_THRESHOLD_DB, MAX_THRESHOLD_DB = -60.0, 0.0
MIN_RATIO, MAX_RATIO = 1.0, 20.0
MIN_KNEE_DB, MAX_KNEE_DB = 0.0, 24.0


def effective_freq_hz(freq_hz, sample_rate):
    """``state::effective_freq_hz``: clamp to 20 Hz .. min(20 kHz, 0.45 fs)."""
    ceiling = min(MAX_FREQ_HZ, MAX_FREQ_FRACTION_OF_RATE * sample_rate)
    return freq_hz.clamp(MIN_FREQ_HZ, ceiling)


def biquad_coefficients(kind, freq_hz, gain_db, q, sample_rate):
    """Cookbook coefficients ``(b0, b1, b2, a1, a2)`` normalized by a0, as
    ``Coefficients::design``. ``kind`` is a Python int, the rest tensors of one shape."""
    a = torch.pow(10.0, gain_db / 40.0)
    w0 = 2.0 * math.pi * freq_hz / sample_rate
    sin_w0, cos_w0 = torch.sin(w0), torch.cos(w0)
    alpha = sin_w0 / (2.0 * q)
    if kind == HIGH_PASS:
        b0 = (1 + cos_w0) / 2; b1 = -(1 + cos_w0); b2 = (1 + cos_w0) / 2
        a0 = 1 + alpha; a1 = -2 * cos_w0; a2 = 1 - alpha
    elif kind == LOW_PASS:
        b0 = (1 - cos_w0) / 2; b1 = 1 - cos_w0; b2 = (1 - cos_w0) / 2
        a0 = 1 + alpha; a1 = -2 * cos_w0; a2 = 1 - alpha
    elif kind == PEAK:
        b0 = 1 + alpha * a; b1 = -2 * cos_w0; b2 = 1 - alpha * a
        a0 = 1 + alpha / a; a1 = -2 * cos_w0; a2 = 1 - alpha / a
    elif kind == LOW_SHELF:
        s = 2 * torch.sqrt(a) * alpha
        b0 = a * ((a + 1) - (a - 1) * cos_w0 + s)
        b1 = 2 * a * ((a - 1) - (a + 1) * cos_w0)
        b2 = a * ((a + 1) - (a - 1) * cos_w0 - s)
        a0 = (a + 1) + (a - 1) * cos_w0 + s
        a1 = -2 * ((a - 1) + (a + 1) * cos_w0)
        a2 = (a + 1) + (a - 1) * cos_w0 - s
    elif kind == HIGH_SHELF:
        s = 2 * torch.sqrt(a) * alpha
        b0 = a * ((a + 1) + (a - 1) * cos_w0 + s)
        b1 = -2 * a * ((a - 1) + (a + 1) * cos_w0)
        b2 = a * ((a + 1) + (a - 1) * cos_w0 - s)
        a0 = (a + 1) - (a - 1) * cos_w0 + s
        a1 = 2 * ((a - 1) - (a + 1) * cos_w0)
        a2 = (a + 1) - (a - 1) * cos_w0 - s
    else:
        raise ValueError(f"unknown band kind {kind}")
    return b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0


def biquad_magnitude_db(coeffs, freqs_hz, sample_rate):
    """``20 log10 |H(e^jw)|`` of coefficients (each ``[...]``) at ``freqs_hz``
    (``[F]``): returns ``[..., F]``. Same evaluation as ``Coefficients::magnitude_db``."""
    b0, b1, b2, a1, a2 = (c.unsqueeze(-1) for c in coeffs)
    w = 2.0 * math.pi * freqs_hz / sample_rate
    c1, s1 = torch.cos(w), -torch.sin(w)
    c2, s2 = torch.cos(2 * w), -torch.sin(2 * w)
    num_re = b0 + b1 * c1 + b2 * c2
    num_im = b1 * s1 + b2 * s2
    den_re = 1 + a1 * c1 + a2 * c2
    den_im = a1 * s1 + a2 * s2
    num = num_re ** 2 + num_im ** 2
    den = den_re ** 2 + den_im ** 2
    return 10.0 * torch.log10(torch.clamp(num, min=1e-300) / den)


def eq_magnitude_db(enabled, freq_hz, gain_db, q, freqs_hz, sample_rate):
    """Total EQ response ``[..., F]`` dB, as ``Eq::magnitude_db``.

    ``enabled`` ``[..., 8]`` (0/1 or a soft weight in 0..1 for training: the band's
    dB response is multiplied by it), ``freq_hz``, ``gain_db``, ``q`` ``[..., 8]``;
    ``freqs_hz`` ``[F]``. Values are clamped to the engine's ranges first.

    Computed in float64 whatever the input dtype (float32 cookbook math loses up
    to 0.6 dB for low, narrow bands where cos(w0) is close to 1) and returned in
    the input's dtype; gradients flow through the casts."""
    out_dtype = gain_db.dtype
    enabled, freq_hz, gain_db, q = (v.to(torch.float64) for v in (enabled, freq_hz, gain_db, q))
    freqs_hz = freqs_hz.to(torch.float64)
    freq = effective_freq_hz(freq_hz, sample_rate)
    gain = gain_db.clamp(MIN_GAIN_DB, MAX_GAIN_DB)
    qq = q.clamp(MIN_Q, MAX_Q)
    total = 0.0
    for i, kind in enumerate(BAND_KINDS):
        g = torch.zeros_like(gain[..., i]) if kind in (HIGH_PASS, LOW_PASS) else gain[..., i]
        c = biquad_coefficients(kind, freq[..., i], g, qq[..., i], sample_rate)
        total = total + enabled[..., i].unsqueeze(-1) * biquad_magnitude_db(c, freqs_hz, sample_rate)
    return total.to(out_dtype)


def compressor_static_curve_db(threshold_db, ratio, knee_db, input_db):
    """Output level dB for a steady input level, no makeup: ``x − reduction(x)``,
    soft knee per Giannoulis et al. eq. (4), as ``Compressor::static_curve_db``.
    Settings ``[...]`` broadcast against ``input_db``."""
    t = threshold_db.clamp(MIN_THRESHOLD_DB, MAX_THRESHOLD_DB)
    r = ratio.clamp(MIN_RATIO, MAX_RATIO)
    w = knee_db.clamp(MIN_KNEE_DB, MAX_KNEE_DB)
    slope = 1.0 - 1.0 / r
    over = input_db - t
    above = slope * over
    d = over + 0.5 * w
    knee = slope * d * d / (2.0 * torch.clamp(w, min=1e-12))
    red = torch.where(2 * over > w, above, torch.where((2 * over < -w) | (w <= 0), torch.zeros_like(above), knee))
    return input_db - red


#: Detector level of a frame above its mean-square level, dB: what a peak detector
#: reads on a sine of the same RMS (crest factor 3.01 dB). An approximation: the
#: compressor's branching peak detector with 10 ms attack follows speech's 10 ms
#: frames at about this offset.
DETECTOR_OFFSET_DB = 3.01


def frame_levels_db(log_mel):
    """Mean-square level of each 10 ms frame, dB re full scale, ``[B, T]``, from
    faurge-dsp's log-mel ``[B, T, 64]`` (``log10`` of band power normalized so that
    the bands of a frame sum to its windowed mean square)."""
    return 10.0 * torch.log10(torch.pow(10.0, log_mel).sum(-1).clamp(min=1e-10))


def compressor_level_change_db(threshold_db, ratio, knee_db, frame_db):
    """The compressor's effect (static curve, no makeup) on a signal given by its
    frame levels ``frame_db`` ``[B, T]`` (:func:`frame_levels_db`): each frame is
    turned down by the gain computer's reduction at its detector level (frame level
    + :data:`DETECTOR_OFFSET_DB`). Returns ``(rms_change_db [B], peak_change_db
    [B])``: the change of the power-weighted mean level (→ LUFS) and the change at
    the loudest frame (→ the sample peak); the crest factor changes by their
    difference. Settings ``[B]``. A steady-state model: attack and release are
    ignored."""
    level = frame_db + DETECTOR_OFFSET_DB
    gain = compressor_static_curve_db(threshold_db[:, None], ratio[:, None], knee_db[:, None], level) - level
    p = torch.pow(10.0, (frame_db - frame_db.amax(-1, keepdim=True)) / 10.0)
    rms = 10.0 * torch.log10((p * torch.pow(10.0, gain / 10.0)).sum(-1).clamp(min=1e-12) / p.sum(-1).clamp(min=1e-12))
    peak = gain.gather(-1, frame_db.argmax(-1, keepdim=True))[:, 0]
    return rms, peak
