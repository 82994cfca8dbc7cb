"""The four networks (small, CPU-friendly, ONNX-exportable at opset 18).

- ``TextEncoder`` / ``AudioEncoder``: Faurge's compact "CLAP" (docs/DESIGN.md: frozen
  LAION-CLAP cannot be downloaded here): token ids ``[B, 24]`` → ``[B, 512]`` and
  log-mel ``[B, T, 64]`` → ``[B, 512]``, both L2-normalized; trained with a
  symmetric InfoNCE loss (van den Oord et al. 2018; Radford et al. 2021).
- ``Fabian``: ``[e_text, e_audio]`` ``[B, 1024]`` → ΔLTAS ``[B, 64]``, ΔLUFS ``[B, 1]``,
  ΔDyn ``[B, 2]``, ``requires_genesis`` logit ``[B, 1]``.
- ``Ursula``: (target metrics, current metrics, mask) → EQ/compressor settings.
- ``Genesis``: (e_text, 256-band input spectrum) → IR parameters (see ir.py).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import dsp

EMBED_DIM = 512
LTAS_BANDS = 64
MEL_BANDS = 64
# log10 mel power is about -10 (floor) .. 0; this centres it.
MEL_OFFSET, MEL_SCALE = 5.0, 2.5


class TextEncoder(nn.Module):
    """Token ids ``[B, L]`` (0 = padding) → ``[B, 512]`` L2-normalized: word
    embeddings, masked mean and max pooling, 2-layer MLP."""

    def __init__(self, vocab_size, dim=128):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.mlp = nn.Sequential(nn.Linear(2 * dim, 512), nn.GELU(), nn.Linear(512, EMBED_DIM))

    def forward(self, tokens):
        mask = (tokens > 0).float().unsqueeze(-1)  # [B, L, 1]
        e = self.embed(tokens)  # [B, L, D]
        mean = (e * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        mx = (e * mask - 1e4 * (1 - mask)).max(1).values
        return F.normalize(self.mlp(torch.cat([mean, mx], -1)), dim=-1)


class AudioEncoder(nn.Module):
    """Log-mel ``[B, T, 64]`` (log10 power from faurge-dsp) → ``[B, 512]``
    L2-normalized: 1-D convolutions over time, mean+std pooling, MLP."""

    def __init__(self, ch=128):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(MEL_BANDS, ch, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(ch, ch, 5, stride=2, padding=2), nn.GELU(),
            nn.Conv1d(ch, ch, 3, stride=1, padding=1), nn.GELU(),
        )
        self.mlp = nn.Sequential(nn.Linear(2 * ch + MEL_BANDS + 1, 512), nn.GELU(), nn.Linear(512, EMBED_DIM))

    def forward(self, mel):
        x = (mel + MEL_OFFSET) / MEL_SCALE  # [B, T, 64]
        level = x.mean((1, 2), keepdim=True)  # [B, 1, 1] overall level
        x = x - level  # level-independent: styles are spectral shapes and dynamics
        spec_mean = x.mean(1)  # [B, 64] the long-term shape, directly
        h = self.conv(x.transpose(1, 2))  # [B, C, T']
        pooled = torch.cat([h.mean(-1), h.std(-1), spec_mean, level[:, 0]], -1)
        return F.normalize(self.mlp(pooled), dim=-1)


class Encoder(nn.Module):
    """Both towers and the learnable InfoNCE temperature."""

    def __init__(self, vocab_size):
        super().__init__()
        self.text = TextEncoder(vocab_size)
        self.audio = AudioEncoder()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


def fabian_from_weights(w):
    """Fabian with the hidden width a ``weights.pt`` dictionary ``w`` records
    (``fabian_hidden``; 512 for runs that predate the option), weights loaded."""
    fab = Fabian(hidden=int(w.get("fabian_hidden", 512)))
    fab.load_state_dict(w["fabian"])
    return fab


def info_nce(e_audio, e_text, log_scale, labels):
    """Symmetric InfoNCE over a batch where rows with the same ``labels`` are all
    positives of each other (style/defect ids; avoids false negatives)."""
    logits = log_scale.exp().clamp(max=100) * e_audio @ e_text.t()  # [B, B]
    pos = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
    target = pos / pos.sum(1, keepdim=True)
    la = -(target * F.log_softmax(logits, 1)).sum(1).mean()
    lt = -(target * F.log_softmax(logits.t(), 1)).sum(1).mean()
    return 0.5 * (la + lt)


class Fabian(nn.Module):
    """``[B, 1024]`` → ``(delta_ltas [B,64], delta_lufs [B,1], delta_dyn [B,2], genesis_logit [B,1])``.
    Outputs are in dataset units (dB, LU, [dB, Hz]) via fixed output scales."""

    def __init__(self, hidden=512, dyn_scale=(3.0, 300.0), dropout=0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2 * EMBED_DIM, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, LTAS_BANDS + 1 + 2 + 1),
        )
        self.register_buffer("out_scale", torch.tensor([6.0] * LTAS_BANDS + [6.0, *dyn_scale, 1.0]))
        # Dropout after each hidden activation, training only (functional, so the
        # state-dict keys do not depend on it; the ONNX export is in eval mode).
        self.dropout = dropout

    def forward(self, fused):
        h = fused
        for layer in self.net:
            h = layer(h)
            if isinstance(layer, nn.GELU) and self.dropout > 0:
                h = F.dropout(h, self.dropout, self.training)
        y = h * self.out_scale
        return y[:, :LTAS_BANDS], y[:, LTAS_BANDS:LTAS_BANDS + 1], y[:, LTAS_BANDS + 1:LTAS_BANDS + 3], y[:, -1:]


# Per-band frequency ranges Ursula may use, Hz (log-mapped from a sigmoid).
URSULA_FREQ_RANGES = [(20, 500), (40, 600), (80, 1000), (300, 3000), (1000, 8000), (3000, 14000), (2000, 16000), (2000, 20000)]
URSULA_Q_RANGE = (0.3, 8.0)


class Ursula(nn.Module):
    """Metrics → DspState settings in one forward pass.

    Input ``[B, 64·3 + 6]``: target LTAS, current LTAS, LTAS mask (0/1), target and
    current LUFS, target and current ``[crest dB, ZCR kHz]``.
    Output ``[B, 8·4 + 5]``: per band ``(enabled 0..1, freq Hz, gain dB, Q)`` band
    after band, then compressor ``(threshold dB, ratio, knee dB, makeup dB)`` and
    output trim dB. HP/LP enables are soft during training (the dB response is
    weighted) and thresholded at 0.5 when applied."""

    def __init__(self, hidden=384):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(3 * LTAS_BANDS + 6, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, 8 * 4 + 5),
        )
        # The compressor starts nearly off (threshold about −3 dB, ratio about 1.2:1):
        # the dynamics loss then turns it on where the target asks for it.
        with torch.no_grad():
            self.net[-1].bias[32] = -3.0
            self.net[-1].bias[33] = -3.5
        lo = torch.tensor([math.log(a) for a, _ in URSULA_FREQ_RANGES])
        hi = torch.tensor([math.log(b) for _, b in URSULA_FREQ_RANGES])
        self.register_buffer("f_lo", lo)
        self.register_buffer("f_hi", hi)

    def forward(self, x):
        y = self.net(x)
        b = y[:, :32].reshape(-1, 8, 4)
        enabled = torch.sigmoid(b[..., 0])
        freq = torch.exp(self.f_lo + (self.f_hi - self.f_lo) * torch.sigmoid(b[..., 1]))
        gain = 18.0 * torch.tanh(b[..., 2] / 3.0)
        qlo, qhi = math.log(URSULA_Q_RANGE[0]), math.log(URSULA_Q_RANGE[1])
        q = torch.exp(qlo + (qhi - qlo) * torch.sigmoid(b[..., 3]))
        c = y[:, 32:]
        threshold = -60.0 * torch.sigmoid(c[:, 0])
        ratio = 1.0 + 9.0 * torch.sigmoid(c[:, 1])
        knee = 12.0 * torch.sigmoid(c[:, 2])
        makeup = 12.0 * torch.tanh(c[:, 3] / 3.0)
        trim = 24.0 * torch.tanh(c[:, 4] / 6.0)
        bands = torch.stack([enabled, freq, gain, q], -1).reshape(-1, 32)
        return torch.cat([bands, torch.stack([threshold, ratio, knee, makeup, trim], -1)], -1)


def ursula_input(target_ltas, input_ltas, mask, target_lufs, input_lufs, target_dyn, input_dyn):
    """Builds Ursula's input ``[B, 198]`` (scaled to about unit range)."""
    t = torch.where(mask > 0, target_ltas, torch.zeros_like(target_ltas)) / 20.0
    c = torch.where(mask > 0, input_ltas, torch.zeros_like(input_ltas)) / 20.0
    dyn = lambda d: torch.stack([d[:, 0] / 10.0, d[:, 1] / 1000.0], -1)
    return torch.cat([t, c, mask, target_lufs[:, None] / 30.0, input_lufs[:, None] / 30.0, dyn(target_dyn), dyn(input_dyn)], -1)


def ursula_eq_response(settings, freqs_hz, sample_rate):
    """EQ magnitude ``[B, F]`` dB of Ursula's output (differentiable)."""
    b = settings[:, :32].reshape(-1, 8, 4)
    enabled = torch.ones_like(b[..., 0])
    enabled = torch.cat([b[:, :1, 0], enabled[:, 1:7], b[:, 7:, 0]], 1)
    return dsp.eq_magnitude_db(enabled, b[..., 1], b[..., 2], b[..., 3], freqs_hz, sample_rate)


SPECTRUM_BANDS = 256
IR_CURVE_POINTS = 32


class Genesis(nn.Module):
    """``(c_scene [B, 512], spectrum [B, 256] dB, spectrum mask [B, 256])`` →
    IR parameters ``[B, 36]``: 32 correction points (dB, ±12), ``wet_db``
    (−60..0), ``rt60_s`` (0.2..2), ``predelay_ms`` (0..50), ``hf_damping`` (0..1),
    in the order of ``faurge_dsp::ir::IrParams`` (the seed is fixed at 1)."""

    def __init__(self, hidden=384):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(EMBED_DIM + 2 * SPECTRUM_BANDS, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, IR_CURVE_POINTS + 4),
        )

    def forward(self, c_scene, spectrum, mask):
        s = torch.where(mask > 0, spectrum, torch.zeros_like(spectrum)) / 20.0
        y = self.net(torch.cat([c_scene, s, mask], -1))
        curve = 12.0 * torch.tanh(y[:, :IR_CURVE_POINTS] / 4.0)
        wet = -60.0 * torch.sigmoid(-y[:, IR_CURVE_POINTS])
        rt60 = 0.2 + 1.8 * torch.sigmoid(y[:, IR_CURVE_POINTS + 1])
        pre = 50.0 * torch.sigmoid(y[:, IR_CURVE_POINTS + 2])
        damp = torch.sigmoid(y[:, IR_CURVE_POINTS + 3])
        return torch.cat([curve, torch.stack([wet, rt60, pre, damp], -1)], -1)
