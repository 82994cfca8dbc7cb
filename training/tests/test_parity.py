"""PyTorch DSP mirrors against faurge-dsp: EQ magnitude and compressor static
curve within 0.1 dB, IR synthesis sample for sample."""

import numpy as np
import torch

from faurge_train import dsp, ir


def test_eq_magnitude_matches_rust_within_0_1_db(reference):
    worst = 0.0
    for case in reference["eq"]:
        bands = case["eq"]["bands"]
        t = lambda key: torch.tensor([float(b[key]) for b in bands], dtype=torch.float64)
        enabled = torch.tensor([1.0 if b["enabled"] else 0.0 for b in bands], dtype=torch.float64)
        freqs = torch.tensor(case["freqs_hz"], dtype=torch.float64)
        got = dsp.eq_magnitude_db(enabled, t("freq_hz"), t("gain_db"), t("q"), freqs, case["sample_rate"])
        want = np.array(case["magnitude_db"])
        # Compare where the response is not in a deep stop band (float error there is huge in dB).
        ok = want > -60
        worst = max(worst, float(np.abs(got.numpy() - want)[ok].max()))
    assert worst < 0.1, worst
    assert len(reference["eq"]) >= 32


def test_eq_magnitude_float32_training_precision(reference):
    # Training runs in float32: the error must still be small in the audible range.
    worst = 0.0
    for case in reference["eq"][:16]:
        bands = case["eq"]["bands"]
        t = lambda key: torch.tensor([float(b[key]) for b in bands], dtype=torch.float32)
        enabled = torch.tensor([1.0 if b["enabled"] else 0.0 for b in bands])
        freqs = torch.tensor(case["freqs_hz"], dtype=torch.float32)
        got = dsp.eq_magnitude_db(enabled, t("freq_hz"), t("gain_db"), t("q"), freqs, case["sample_rate"])
        want = np.array(case["magnitude_db"])
        ok = (want > -40) & (np.array(case["freqs_hz"]) > 40)
        worst = max(worst, float(np.abs(got.numpy() - want)[ok].max()))
    assert worst < 0.1, worst


def test_compressor_static_curve_matches_rust(reference):
    worst = 0.0
    for case in reference["compressor"]:
        c = case["compressor"]
        x = torch.tensor(case["input_db"], dtype=torch.float64)
        got = dsp.compressor_static_curve_db(
            torch.tensor(c["threshold_db"], dtype=torch.float64),
            torch.tensor(c["ratio"], dtype=torch.float64),
            torch.tensor(c["knee_db"], dtype=torch.float64), x)
        worst = max(worst, float(np.abs(got.numpy() - np.array(case["output_db"])).max()))
    assert worst < 0.01, worst


def test_compressor_curve_has_gradients():
    t = torch.tensor(-20.0, requires_grad=True)
    y = dsp.compressor_static_curve_db(t, torch.tensor(4.0), torch.tensor(6.0), torch.tensor(-5.0))
    y.backward()
    assert t.grad is not None and abs(float(t.grad) - 0.75) < 1e-6


def test_ir_synthesis_matches_rust(reference):
    for case in reference["ir"]:
        p = dict(case["params"])
        p["correction_db"] = torch.tensor(p["correction_db"], dtype=torch.float64)
        got = ir.synthesize_ir(p, case["sample_rate"]).numpy()
        want = np.array(case["ir"])
        assert got.shape == want.shape
        assert np.abs(got - want).max() < 1e-5 * max(1.0, np.abs(want).max())


def test_ir_correction_is_differentiable():
    c = torch.zeros(32, dtype=torch.float64, requires_grad=True)
    h = ir.correction_filter(c, 48000.0)
    spec = torch.fft.rfft(h, n=8192).abs()
    spec[100].backward()
    assert c.grad is not None and torch.isfinite(c.grad).all() and c.grad.abs().sum() > 0


def test_compressor_level_change_on_frame_levels():
    """Two frame levels, −10 and −40 dB: a hard-knee 4:1 compressor at −30 dB turns
    the loud frame down by 3/4 of its detector level's excess and leaves the quiet
    one alone; the power-weighted mean follows; at 1:1 nothing changes."""
    frames = torch.tensor([[-10.0, -40.0, -40.0]])
    thr, ratio, knee = torch.tensor([-30.0]), torch.tensor([4.0]), torch.tensor([0.0])
    rms, peak = dsp.compressor_level_change_db(thr, ratio, knee, frames)
    loud = -0.75 * (-10.0 + dsp.DETECTOR_OFFSET_DB + 30.0)
    assert abs(float(peak) - loud) < 1e-4
    p = np.array([1.0, 1e-3, 1e-3])
    want = 10 * np.log10((p[0] * 10 ** (loud / 10) + p[1] + p[2]) / p.sum())
    assert abs(float(rms) - want) < 1e-4
    rms1, peak1 = dsp.compressor_level_change_db(thr, torch.tensor([1.0]), knee, frames)
    assert abs(float(rms1)) < 1e-6 and abs(float(peak1)) < 1e-6
    # Crest reduction is differentiable in the settings.
    r = torch.tensor([4.0], requires_grad=True)
    rms, peak = dsp.compressor_level_change_db(thr, r, knee, frames)
    (peak - rms).backward()
    assert r.grad is not None and float(r.grad) < 0


def test_frame_levels_read_the_mean_square_of_a_log_mel():
    """A frame whose 64 bands each hold 1/64 of a mean square of 0.01 reads −20 dB."""
    mel = torch.full((1, 2, 64), float(np.log10(0.01 / 64)))
    assert torch.allclose(dsp.frame_levels_db(mel), torch.tensor([[-20.0, -20.0]]), atol=1e-4)
