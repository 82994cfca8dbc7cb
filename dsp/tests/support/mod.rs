//! Helpers shared by the restoration tests and the denoiser comparison bench: where the
//! real recordings are, mixing at a known SNR, latency alignment and quality figures.
//!
//! The recordings live in a `shared/data` folder beside the repository checkout (set
//! `FAURGE_SHARED_DATA` to use another place). Users of the repository may not have it:
//! tests that need it print why they are skipped and pass, except on CI (`CI=true` or
//! `CI=1`), where a missing folder is a failure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use faurge_dsp::analysis::loudness::active_speech_level;
use faurge_dsp::restore::repair::RepairStats;
use faurge_dsp::restore::Repair;
use faurge_dsp::state::{DeclickState, DeclipState};

/// True on CI, where missing data is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The shared data folder (`speech/`, `noise/`, …), or `None` after printing why the
/// caller is skipped. Panics on CI when it is missing.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("FAURGE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The workspace root is this crate's parent; `shared/` sits beside the checkout.
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
        });
    if dir.join("speech").is_dir() && dir.join("noise").is_dir() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "{test}: the shared recordings are missing at \"{}\" (set FAURGE_SHARED_DATA); CI must provide them",
        dir.display()
    );
    eprintln!(
        "SKIPPED {test}: no shared recordings at \"{}\" (set FAURGE_SHARED_DATA to run it)",
        dir.display()
    );
    None
}

/// Mono audio at `rate` from `path` (resampled when needed).
pub fn read_mono(path: &Path, rate: u32) -> Vec<f32> {
    let a = faurge_io::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let a = a.resampled(rate).expect("resample");
    a.to_mono()
}

/// The sorted files with extension `ext` in `dir`.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

/// The VCTK clips (48 kHz, full band).
pub fn vctk(data: &Path) -> Vec<Vec<f32>> {
    files(&data.join("speech/vctk"), "wav")
        .iter()
        .map(|p| read_mono(p, 48_000))
        .collect()
}

/// The real noise recordings at `rate`, each at unit RMS.
pub fn real_noises(data: &Path, rate: u32) -> Vec<(String, Vec<f32>)> {
    files(&data.join("noise"), "wav")
        .iter()
        .map(|p| {
            let x = read_mono(p, rate);
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            (name, unit_rms(&x))
        })
        .collect()
}

/// `x` scaled to RMS 1 (DC removed).
pub fn unit_rms(x: &[f32]) -> Vec<f32> {
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
    let rms = (x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / x.len().max(1) as f64)
        .sqrt()
        .max(1e-12);
    x.iter()
        .map(|&v| ((f64::from(v) - mean) / rms) as f32)
        .collect()
}

/// `len` samples of `noise` from `offset` (wrapping), scaled so that the P.56 active
/// level of `speech` is `snr_db` above the noise power (the convention of
/// `faurge_dsp::degrade`).
pub fn noise_at_snr(
    speech: &[f32],
    noise: &[f32],
    offset: usize,
    snr_db: f32,
    rate: f32,
) -> Vec<f32> {
    let level = active_speech_level(&[speech], rate)
        .expect("speech has an active level")
        .level_db;
    let seg: Vec<f32> = (0..speech.len())
        .map(|i| noise[(offset + i) % noise.len()])
        .collect();
    let seg = unit_rms(&seg);
    let g = 10f32.powf((level - snr_db) / 20.0);
    seg.iter().map(|v| v * g).collect()
}

/// Element-wise sum.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Runs a mono processor over `x` in blocks of `block`, then `extra` zeros, and returns
/// the output from `delay` on (the processor's latency removed), `x.len()` samples.
pub fn run_aligned(
    x: &[f32],
    block: usize,
    delay: usize,
    mut f: impl FnMut(&mut [f32]),
) -> Vec<f32> {
    let mut buf = x.to_vec();
    buf.extend(std::iter::repeat_n(0.0, delay));
    for b in buf.chunks_mut(block) {
        f(b);
    }
    buf[delay..delay + x.len()].to_vec()
}

/// Runs a mono repair stage ([`Repair`]) at `rate` over `x` in blocks of 64 with the
/// de-clipper and the de-clicker (at its default sensitivity) switched as given;
/// returns the output aligned with the input and what the stage found.
pub fn run_repair(x: &[f32], rate: f32, declip: bool, declick: bool) -> (Vec<f32>, RepairStats) {
    let mut stage = Repair::new(rate, 1);
    stage.set_target(
        &DeclipState { enabled: declip },
        &DeclickState {
            enabled: declick,
            ..DeclickState::default()
        },
    );
    let lat = stage.latency_samples();
    let out = run_aligned(x, 64, lat, |b| stage.process(&mut [b]));
    (out, stage.stats(0))
}

/// One-pole DC blocker (a coupling capacitor) at `hz`, in place:
/// `y[n] = x[n] − x[n−1] + R·y[n−1]`, `R = e^(−2π·hz/rate)`.
pub fn dc_block(x: &mut [f32], hz: f32, rate: f32) {
    let r = (-std::f32::consts::TAU * hz / rate).exp();
    let (mut prev_x, mut prev_y) = (0.0f32, 0.0f32);
    for v in x.iter_mut() {
        prev_y = *v - prev_x + r * prev_y;
        prev_x = *v;
        *v = prev_y;
    }
}

/// Σ x², f64.
pub fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

/// SNR of `y` against the clean reference `s`, dB: `10·log10(Σs² / Σ(y − s)²)`.
pub fn snr_db(s: &[f32], y: &[f32]) -> f64 {
    let err: f64 = s
        .iter()
        .zip(y)
        .map(|(&a, &b)| (f64::from(b) - f64::from(a)).powi(2))
        .sum();
    10.0 * (energy(s) / err.max(1e-30)).log10()
}

/// Frames of 20 ms (hop 10 ms) where the clean reference is within 40 dB of its loudest
/// frame: speech-active frames. Returns frame start indices.
pub fn active_frames(s: &[f32], rate: f32) -> Vec<usize> {
    let n = (0.02 * rate) as usize;
    let hop = n / 2;
    let starts: Vec<usize> = (0..s.len().saturating_sub(n)).step_by(hop).collect();
    let e: Vec<f64> = starts.iter().map(|&i| energy(&s[i..i + n])).collect();
    let max = e.iter().cloned().fold(0.0, f64::max);
    starts
        .into_iter()
        .zip(e)
        .filter(|(_, e)| *e > max * 1e-4)
        .map(|(i, _)| i)
        .collect()
}

/// Segmental SNR of `y` against `s` over speech-active frames, frame SNRs clamped to
/// −10..35 dB (S. R. Quackenbush, T. P. Barnwell, M. A. Clements, *Objective Measures of
/// Speech Quality*, 1988).
pub fn seg_snr_db(s: &[f32], y: &[f32], rate: f32) -> f64 {
    let n = (0.02 * rate) as usize;
    let frames = active_frames(s, rate);
    let sum: f64 = frames
        .iter()
        .map(|&i| snr_db(&s[i..i + n], &y[i..i + n]).clamp(-10.0, 35.0))
        .sum();
    sum / frames.len().max(1) as f64
}

/// Mean log-spectral distance between `s` and `y` over speech-active frames, dB:
/// per frame `sqrt(mean_k (10·log10(P_y(k)/P_s(k)))²)` over bins 100 Hz–8 kHz of a
/// 20 ms Hann frame, powers floored 60 dB below the frame's clean peak bin (so empty
/// bins of the reference do not dominate).
pub fn lsd_db(s: &[f32], y: &[f32], rate: f32) -> f64 {
    use realfft::RealFftPlanner;
    let n = (0.02 * rate) as usize;
    let mut planner = RealFftPlanner::<f64>::new();
    let fft = planner.plan_fft_forward(n);
    let w: Vec<f64> = (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect();
    let bin_hz = f64::from(rate) / n as f64;
    let (k0, k1) = (
        (100.0 / bin_hz) as usize,
        ((8000.0f64.min(0.45 * f64::from(rate))) / bin_hz) as usize,
    );
    let spec = |x: &[f32]| -> Vec<f64> {
        let mut buf: Vec<f64> = x.iter().zip(&w).map(|(&v, w)| f64::from(v) * w).collect();
        let mut out = fft.make_output_vec();
        fft.process(&mut buf, &mut out).expect("fft");
        out.iter().map(|c| c.norm_sqr()).collect()
    };
    let frames = active_frames(s, rate);
    let mut total = 0.0;
    for &i in &frames {
        let ps = spec(&s[i..i + n]);
        let py = spec(&y[i..i + n]);
        let peak = ps[k0..=k1].iter().cloned().fold(0.0, f64::max);
        let floor = peak * 1e-6 + 1e-20;
        let d: f64 = (k0..=k1)
            .map(|k| (10.0 * ((py[k] + floor) / (ps[k] + floor)).log10()).powi(2))
            .sum::<f64>()
            / (k1 - k0 + 1) as f64;
        total += d.sqrt();
    }
    total / frames.len().max(1) as f64
}

/// The lag (0..max_lag) that best aligns `y` with `s` (maximum cross-correlation).
pub fn best_lag(s: &[f32], y: &[f32], max_lag: usize) -> usize {
    let n = s.len().min(y.len()).saturating_sub(max_lag);
    (0..max_lag)
        .max_by(|&a, &b| {
            let ca: f64 = (0..n).map(|i| f64::from(s[i]) * f64::from(y[i + a])).sum();
            let cb: f64 = (0..n).map(|i| f64::from(s[i]) * f64::from(y[i + b])).sum();
            ca.total_cmp(&cb)
        })
        .unwrap_or(0)
}
