//! The evaluation's audio: held-out clean clips, renders of a bake's result, and the
//! measurements the figures are made of (1/3-octave spectra, SNR against the clean
//! reference, the descriptor table's quantities).

use std::path::Path;

use anyhow::{bail, Context, Result};
use faurge_dataset::generate::{crop, SAMPLE_RATE};
use faurge_dataset::sources::{scan, Split};
use faurge_dsp::analysis::dynamics::t_dyn;
use faurge_dsp::analysis::loudness::integrated_lufs;
use faurge_dsp::analysis::ltas::{
    effective_bandwidth_hz, ltas_bands_below, ltas_with_bandwidth, LTAS_BANDS,
};
use faurge_dsp::analysis::restoration::restoration_metrics;
use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_protocol::BakeResult;
use faurge_vocabulary::descriptors::Descriptors;
use faurge_vocabulary::intent::Measured;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use realfft::RealFftPlanner;

/// The evaluation's rate, Hz (the dataset's and the loop's).
pub const RATE: f32 = SAMPLE_RATE as f32;

/// One held-out clean recording, cropped.
#[derive(Clone, Debug)]
pub struct Clip {
    /// `corpus/name`.
    pub id: String,
    /// Mono at [`RATE`].
    pub audio: Vec<f32>,
    /// Real bandwidth of the source, Hz.
    pub bandwidth_hz: f32,
}

/// Up to `n` clean clips of the test split's speakers (never in training), full-band
/// recordings first, one per speaker, each cropped to `crop_s` seconds (the loudest
/// of a few random windows, seeded).
///
/// # Errors
/// No speech of the test split under `data`, or an unreadable file.
pub fn test_clips(data: &Path, n: usize, crop_s: f32, seed: u64) -> Result<Vec<Clip>> {
    let mut speech: Vec<_> = scan(data)
        .speech
        .into_iter()
        .filter(|c| c.split() == Split::Test)
        .collect();
    if speech.is_empty() {
        bail!(
            "Could not find test-split speech under \"{}\"",
            data.display()
        );
    }
    // Full-band (VCTK) first: their top octave can be judged.
    speech.sort_by_key(|c| (c.corpus != "vctk", c.name.clone()));
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for c in speech {
        if out.len() >= n {
            break;
        }
        if !seen.insert(c.speaker.clone()) {
            continue;
        }
        let a = faurge_io::read(&c.path)
            .with_context(|| format!("Could not read \"{}\"", c.path.display()))?;
        let mono = a.to_mono();
        let bw =
            effective_bandwidth_hz(&[&mono], a.sample_rate as f32).min(a.sample_rate as f32 / 2.0);
        let at48 = if a.sample_rate == SAMPLE_RATE {
            mono
        } else {
            faurge_io::resample(&[mono], a.sample_rate, SAMPLE_RATE)?
                .into_iter()
                .next()
                .unwrap_or_default()
        };
        let len = (crop_s * RATE) as usize;
        out.push(Clip {
            id: format!("{}/{}", c.corpus, c.name),
            audio: crop(&at48, len, &mut rng),
            bandwidth_hz: bw,
        });
    }
    Ok(out)
}

/// Renders `audio` (mono, [`RATE`]) with a bake's result as the plugin would play it
/// once settled: the state snapped, the IR installed, the chain warmed up on the
/// audio's head ([`faurge_dsp::chain::Chain::warm_up`]); the chain's latency removed so
/// the render lines up with the input sample for sample.
pub fn render(audio: &[f32], result: &BakeResult) -> Result<Vec<f32>> {
    let mut chain = Chain::new(ChainConfig::new(RATE, 1))?;
    chain.snap_to_state(&result.dsp_state);
    if let Some(ir) = &result.ir {
        let samples = ir.samples_f32()?;
        let at48 = if ir.sample_rate == SAMPLE_RATE {
            samples
        } else {
            faurge_io::resample(&[samples], ir.sample_rate, SAMPLE_RATE)?
                .into_iter()
                .next()
                .unwrap_or_default()
        };
        let kernel = chain.kernel_builder().build(&[&at48])?;
        let _ = chain.replace_ir(kernel);
    }
    chain.warm_up(&[audio]);
    let latency = chain.latency_samples();
    let mut out = audio.to_vec();
    out.extend(std::iter::repeat_n(0.0, latency));
    chain.process(&mut [&mut out[..]]);
    Ok(out[latency..].to_vec())
}

/// ISO 266 one-third-octave centre frequencies from 50 Hz to 16 kHz.
pub fn third_octave_centers() -> Vec<f32> {
    (-13..=12)
        .map(|k| 1000.0 * 2f32.powf(k as f32 / 3.0))
        .collect()
}

/// Level of every 1/3-octave band (50 Hz – 16 kHz) of `audio`, dB re the mean power
/// over the bands: Welch periodogram (Hann, 8192 points, half overlap) summed over
/// each band's bins. Bands whose upper edge is above `bandwidth_hz` are `None`.
pub fn third_octave_db(audio: &[f32], bandwidth_hz: f32) -> Vec<Option<f32>> {
    const N: usize = 8192;
    let centers = third_octave_centers();
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(N);
    let window: Vec<f32> = (0..N)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / N as f32).cos())
        .collect();
    let mut psd = vec![0.0f64; N / 2 + 1];
    let mut frames = 0;
    let mut buf = fft.make_input_vec();
    let mut spec = fft.make_output_vec();
    let mut start = 0;
    while start + N <= audio.len().max(N) {
        for i in 0..N {
            buf[i] = audio.get(start + i).copied().unwrap_or(0.0) * window[i];
        }
        if fft.process(&mut buf, &mut spec).is_ok() {
            for (p, c) in psd.iter_mut().zip(&spec) {
                *p += f64::from(c.norm_sqr());
            }
            frames += 1;
        }
        start += N / 2;
    }
    let bin_hz = RATE / N as f32;
    let bands: Vec<Option<f64>> = centers
        .iter()
        .map(|&fc| {
            let (lo, hi) = (fc / 2f32.powf(1.0 / 6.0), fc * 2f32.powf(1.0 / 6.0));
            if hi > bandwidth_hz || frames == 0 {
                return None;
            }
            let p: f64 = psd
                .iter()
                .enumerate()
                .filter(|(k, _)| {
                    let f = *k as f32 * bin_hz;
                    f >= lo && f < hi
                })
                .map(|(_, v)| v)
                .sum();
            Some(p.max(1e-30))
        })
        .collect();
    let valid: Vec<f64> = bands.iter().flatten().copied().collect();
    let mean = valid.iter().sum::<f64>() / valid.len().max(1) as f64;
    bands
        .into_iter()
        .map(|b| b.map(|p| (10.0 * (p / mean.max(1e-30)).log10()) as f32))
        .collect()
}

/// The level-normalised 1/3-octave distance of two spectra ([`third_octave_db`]): the
/// RMS of their difference over the bands both have, after removing its mean, dB.
pub fn spectral_distance_db(a: &[Option<f32>], b: &[Option<f32>]) -> f64 {
    let d: Vec<f64> = a
        .iter()
        .zip(b)
        .filter_map(|(x, y)| Some(f64::from((*x)?) - f64::from((*y)?)))
        .collect();
    if d.is_empty() {
        return 0.0;
    }
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    (d.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d.len() as f64).sqrt()
}

/// Speech-to-noise ratio of `out` as a noise reducer is rated (after the segmentation of
/// ITU-T G.160, "Voice enhancement devices", §6.6: speech level from speech-active
/// frames, noise level from speech pauses), dB. The frames (20 ms) are classified on
/// the clean `reference` (same length, aligned): *active* where its energy is at or
/// above its median frame energy, *pauses* where it is among its quietest 15 %. With
/// `P_a`, `P_p` the mean powers of `out` over those frames, the figure is
/// `10·log10((P_a − P_p) / P_p)`. Unlike [`snr_vs_reference_db`] it does not count an
/// intended change of tone (EQ, the IR, a de-esser) as noise; it does count the
/// noise a reducer leaves, and, through `P_a`, speech it removes. NaN for audio too
/// short to segment.
pub fn segmented_snr_db(reference: &[f32], out: &[f32]) -> f64 {
    let frame = (0.02 * f64::from(RATE)) as usize;
    let n = reference.len().min(out.len()) / frame;
    if n < 10 {
        return f64::NAN;
    }
    let power = |x: &[f32], i: usize| {
        x[i * frame..(i + 1) * frame]
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / frame as f64
    };
    let energy: Vec<f64> = (0..n).map(|i| power(reference, i)).collect();
    let mut sorted = energy.clone();
    sorted.sort_by(f64::total_cmp);
    let (quiet, median) = (sorted[n * 15 / 100], sorted[n / 2]);
    let mean_over = |pick: &dyn Fn(f64) -> bool| {
        let v: Vec<f64> = (0..n)
            .filter(|&i| pick(energy[i]))
            .map(|i| power(out, i))
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let (active, pause) = (mean_over(&|e| e >= median), mean_over(&|e| e <= quiet));
    10.0 * ((active - pause).max(1e-20) / pause.max(1e-20)).log10()
}

/// SNR of `out` against the clean `reference` (same length, aligned), dB: the
/// reference scaled by the least-squares gain is the signal, the rest is noise and
/// distortion.
pub fn snr_vs_reference_db(reference: &[f32], out: &[f32]) -> f64 {
    let n = reference.len().min(out.len());
    let (mut rr, mut ro) = (0.0f64, 0.0f64);
    for i in 0..n {
        rr += f64::from(reference[i]) * f64::from(reference[i]);
        ro += f64::from(reference[i]) * f64::from(out[i]);
    }
    if rr <= 0.0 {
        return f64::NAN;
    }
    let g = ro / rr;
    let (mut s, mut e) = (0.0f64, 0.0f64);
    for i in 0..n {
        let sig = g * f64::from(reference[i]);
        s += sig * sig;
        e += (f64::from(out[i]) - sig).powi(2);
    }
    10.0 * (s / e.max(1e-20)).log10()
}

/// The descriptor table's quantities of `audio` (mono, [`RATE`], real bandwidth
/// `bandwidth_hz`): balances, loudness, crest factor and the restoration figures.
pub fn quantities(table: &Descriptors, audio: &[f32], bandwidth_hz: f32) -> Measured {
    let ltas = ltas_with_bandwidth(&[audio], RATE, bandwidth_hz);
    let mask: [f32; LTAS_BANDS] = ltas_bands_below(bandwidth_hz).map(|b| if b { 1.0 } else { 0.0 });
    let lufs = integrated_lufs(&[audio], RATE).unwrap_or(-70.0);
    let crest = t_dyn(&[audio], RATE)[0];
    let r = restoration_metrics(&[audio], RATE);
    faurge_helper::orchestrator::quantities(table, &ltas, &mask, lufs, crest, Some(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectral_distance_ignores_level_and_missing_bands() {
        let a = vec![Some(0.0), Some(3.0), None];
        let b = vec![Some(-5.0), Some(-2.0), Some(9.0)];
        assert!(spectral_distance_db(&a, &b).abs() < 1e-9);
        let c = vec![Some(1.0), Some(-1.0), Some(0.0)];
        assert!((spectral_distance_db(&c, &[Some(0.0), Some(0.0), None]) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn segmented_snr_reads_the_noise_in_the_pauses_and_ignores_gain() {
        // A "voice" that talks for 0.3 s and pauses for 0.2 s, with steady noise 20 dB
        // below its level.
        let reference: Vec<f32> = (0..96_000)
            .map(|i| {
                let on = (i % 24_000) < 14_400;
                if on {
                    0.5 * (i as f32 * 0.05).sin()
                } else {
                    0.0
                }
            })
            .collect();
        let noise = |i: usize| 0.0354 * 3f32.sqrt() * ((i * 7919 % 1000) as f32 / 500.0 - 1.0);
        let noisy: Vec<f32> = reference
            .iter()
            .enumerate()
            .map(|(i, r)| r + noise(i))
            .collect();
        let seg = segmented_snr_db(&reference, &noisy);
        assert!((seg - 20.0).abs() < 1.0, "{seg}");
        let louder: Vec<f32> = noisy.iter().map(|v| 2.0 * v).collect();
        assert!((segmented_snr_db(&reference, &louder) - seg).abs() < 1e-6);
        let reduced: Vec<f32> = reference
            .iter()
            .enumerate()
            .map(|(i, r)| r + 0.1 * noise(i))
            .collect();
        let better = segmented_snr_db(&reference, &reduced);
        assert!((better - seg - 20.0).abs() < 1.0, "{better} vs {seg}");
        assert!(segmented_snr_db(&reference[..100], &noisy[..100]).is_nan());
    }

    #[test]
    fn snr_against_the_reference_reads_added_noise() {
        let reference: Vec<f32> = (0..48_000).map(|i| (i as f32 * 0.05).sin()).collect();
        let noisy: Vec<f32> = reference
            .iter()
            .enumerate()
            .map(|(i, &v)| 0.5 * v + 0.05 * ((i * 7919 % 1000) as f32 / 500.0 - 1.0))
            .collect();
        let snr = snr_vs_reference_db(&reference, &noisy);
        assert!((10.0..25.0).contains(&snr), "{snr}");
        assert!(snr_vs_reference_db(&reference, &reference) > 100.0);
    }

    #[test]
    fn third_octaves_of_a_tone_peak_at_its_band() {
        let tone: Vec<f32> = (0..48_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / RATE).sin())
            .collect();
        let t = third_octave_db(&tone, 20_000.0);
        let k = third_octave_centers()
            .iter()
            .position(|&c| (c - 1000.0).abs() < 1.0)
            .unwrap();
        let top = t
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.unwrap_or(-999.0).total_cmp(&b.1.unwrap_or(-999.0)))
            .unwrap()
            .0;
        assert_eq!(top, k);
        assert!(third_octave_db(&tone, 8000.0).last().unwrap().is_none());
    }
}
