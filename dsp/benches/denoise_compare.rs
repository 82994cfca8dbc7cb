//! Which noise reducer: `nnnoiseless` (RNNoise) against Faurge's own STFT method, measured.
//!
//! Real speech (the VCTK clips of the shared recordings, 48 kHz) mixed with real noise
//! (the four recordings of `noise/`, resampled to 48 kHz, random offsets) and coloured
//! Gaussian noise (white, pink, brown from `faurge_dsp::degrade::colored_noise`) at 0, 5,
//! 10 and 20 dB SNR (P.56 active speech level over noise power, as the dataset's noise
//! degradation). Every output is aligned to the clean reference by cross-correlation.
//!
//! Figures, mean over clips and noises per input SNR:
//! - ΔSNR: SNR against the clean reference after minus before, dB;
//! - ΔsegSNR: segmental SNR (20 ms, clamped −10..35 dB, speech-active frames), dB;
//! - LSD: log-spectral distance to the clean speech on speech-active frames, dB (speech
//!   distortion plus residual noise; the noisy input's LSD is shown for reference);
//! - CPU: single-thread CPU time per second of audio (mono, 48 kHz), in % of one core.
//!
//! `cargo bench -p faurge-dsp --bench denoise_compare` (needs the shared recordings;
//! prints why it skips without them).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use faurge_dsp::degrade::{colored_noise, NoiseColor};
use faurge_dsp::restore::denoise::{Denoiser, GainRule, Layout};
use faurge_dsp::state::DenoiseState;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::*;

const SR: f32 = 48_000.0;
const SNRS: [f32; 4] = [0.0, 5.0, 10.0, 20.0];

/// One method: a name and a function from noisy mono audio to (output, CPU seconds).
type Method = (String, Box<dyn Fn(&[f32]) -> (Vec<f32>, f64)>);

fn own(layout: Layout, rule: GainRule, reduction_db: f32) -> Method {
    let name = format!(
        "own STFT {}, {}, floor -{reduction_db} dB",
        match layout {
            Layout::LowDelay => "low-delay 21 ms / 5.3 ms latency".to_string(),
            Layout::Symmetric { frame_ms } => format!("symmetric {frame_ms} ms"),
        },
        match rule {
            GainRule::LogSpectral => "LSA",
            GainRule::Wiener => "Wiener",
        }
    );
    let f = move |x: &[f32]| {
        let mut d = Denoiser::with_layout(SR, 1, layout);
        d.set_gain_rule(rule);
        d.snap_to(&DenoiseState {
            enabled: true,
            reduction_db,
            threshold_db: 0.0,
        });
        let lat = d.latency_samples();
        let t = Instant::now();
        let y = run_aligned(x, 64, lat, |b| d.process(&mut [b]));
        (y, t.elapsed().as_secs_f64())
    };
    (name, Box::new(f))
}

fn rnnoise() -> Method {
    let f = |x: &[f32]| {
        let frame = nnnoiseless::DenoiseState::FRAME_SIZE;
        let mut st = nnnoiseless::DenoiseState::new();
        let mut padded: Vec<f32> = x.iter().map(|v| v * 32768.0).collect();
        padded.extend(std::iter::repeat_n(0.0, 2 * frame));
        let mut out = vec![0.0f32; padded.len()];
        let t = Instant::now();
        for (o, i) in out.chunks_exact_mut(frame).zip(padded.chunks_exact(frame)) {
            st.process_frame(o, i);
        }
        let cpu = t.elapsed().as_secs_f64();
        // RNNoise's output is one frame late; the first frame is its fade-in.
        let y: Vec<f32> = out[frame..frame + x.len()]
            .iter()
            .map(|v| v / 32768.0)
            .collect();
        (y, cpu)
    };
    ("nnnoiseless 0.5.2 (RNNoise)".to_string(), Box::new(f))
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let Some(data) = shared_data("denoise_compare") else {
        return;
    };
    let speech = vctk(&data);
    let mut noises: Vec<(String, Vec<f32>)> = real_noises(&data, SR as u32);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (name, color) in [
        ("white", NoiseColor::White),
        ("pink", NoiseColor::Pink),
        ("brown", NoiseColor::Brown),
    ] {
        noises.push((
            name.to_string(),
            colored_noise(color, 10 * SR as usize, SR, &mut rng),
        ));
    }
    let methods: Vec<Method> = vec![
        rnnoise(),
        own(Layout::LowDelay, GainRule::LogSpectral, 12.0),
        own(Layout::LowDelay, GainRule::LogSpectral, 20.0),
        own(Layout::LowDelay, GainRule::Wiener, 20.0),
        own(
            Layout::Symmetric { frame_ms: 8.0 },
            GainRule::LogSpectral,
            20.0,
        ),
        own(
            Layout::Symmetric { frame_ms: 21.3 },
            GainRule::LogSpectral,
            20.0,
        ),
    ];
    println!(
        "{} VCTK clips × {} noises ({}) × SNR {:?} dB, 48 kHz mono",
        speech.len(),
        noises.len(),
        noises
            .iter()
            .map(|n| n.0.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        SNRS
    );
    // Inputs, shared by every method.
    struct Case {
        snr: usize,
        noise: usize,
        clean: Vec<f32>,
        noisy: Vec<f32>,
    }
    let mut cases = Vec::new();
    for clean in &speech {
        for (ni, (_, noise)) in noises.iter().enumerate() {
            for (si, &snr) in SNRS.iter().enumerate() {
                let off = rng.gen_range(0..noise.len());
                let n = noise_at_snr(clean, noise, off, snr, SR);
                cases.push(Case {
                    snr: si,
                    noise: ni,
                    clean: clean.clone(),
                    noisy: add(clean, &n),
                });
            }
        }
    }
    let audio_s: f64 = cases.iter().map(|c| c.clean.len() as f64).sum::<f64>() / f64::from(SR);
    // Reference row: the noisy input itself.
    let mut lsd_in = [0.0f64; 4];
    let mut seg_in = [0.0f64; 4];
    let mut counts = [0usize; 4];
    for c in &cases {
        lsd_in[c.snr] += lsd_db(&c.clean, &c.noisy, SR);
        seg_in[c.snr] += seg_snr_db(&c.clean, &c.noisy, SR);
        counts[c.snr] += 1;
    }
    println!();
    println!(
        "| method | ΔSNR dB @0/5/10/20 | ΔsegSNR dB @0/5/10/20 | LSD dB @0/5/10/20 | CPU % of a core |"
    );
    println!("|---|---|---|---|---|");
    let fmt = |v: [f64; 4], counts: [usize; 4]| -> String {
        v.iter()
            .zip(counts)
            .map(|(x, n)| format!("{:.1}", x / n.max(1) as f64))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!("| noisy input | 0 | 0 | {} | – |", fmt(lsd_in, counts));
    let mut per_noise = Vec::new();
    for (name, f) in &methods {
        let (mut dsnr, mut dseg, mut lsd) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
        let mut by_noise = vec![0.0f64; noises.len()];
        let mut by_noise_n = vec![0usize; noises.len()];
        let mut cpu = 0.0;
        for c in &cases {
            let (y, t) = f(&c.noisy);
            cpu += t;
            // Residual misalignment (RNNoise's internal delay): search a few samples.
            let lag = best_lag(&c.clean, &y, 8);
            let y: Vec<f32> = y[lag..]
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0.0, lag))
                .collect();
            let d = snr_db(&c.clean, &y) - snr_db(&c.clean, &c.noisy);
            dsnr[c.snr] += d;
            dseg[c.snr] += seg_snr_db(&c.clean, &y, SR) - seg_snr_db(&c.clean, &c.noisy, SR);
            lsd[c.snr] += lsd_db(&c.clean, &y, SR);
            if c.snr == 1 {
                by_noise[c.noise] += d;
                by_noise_n[c.noise] += 1;
            }
        }
        println!(
            "| {name} | {} | {} | {} | {:.2} |",
            fmt(dsnr, counts),
            fmt(dseg, counts),
            fmt(lsd, counts),
            100.0 * cpu / audio_s
        );
        per_noise.push((
            name.clone(),
            by_noise
                .iter()
                .zip(&by_noise_n)
                .map(|(s, n)| s / (*n).max(1) as f64)
                .collect::<Vec<_>>(),
        ));
    }
    let _ = seg_in;
    println!();
    println!("ΔSNR dB at 5 dB input SNR, per noise:");
    println!(
        "| method | {} |",
        noises
            .iter()
            .map(|n| n.0.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(noises.len()));
    for (name, v) in per_noise {
        println!(
            "| {name} | {} |",
            v.iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
}
