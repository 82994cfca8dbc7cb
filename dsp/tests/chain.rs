//! The whole `Chain` under the realtime rules: no allocation while processing with
//! parameter changes and IR swaps in flight, non-finite input never poisons state,
//! no denormals, silence in gives silence out, and real speech comes out changed
//! the way the settings say.

use assert_no_alloc::{assert_no_alloc, AllocDisabler};
use faurge_dsp::analysis::ltas::{ltas, ltas_band_centers_hz};
use faurge_dsp::chain::{Chain, ChainConfig, ChainError};
use faurge_dsp::eq::Eq;
use faurge_dsp::presets;
use faurge_dsp::state::DspState;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

/// Every rate a host or validator may set: the usual ones plus 8, 11.025 and 16 kHz
/// (telephony, old hardware) and 384 and 768 kHz (the VST3 validator, clap-validator).
const RATES: [f32; 10] = [
    8_000.0, 11_025.0, 16_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0, 384_000.0,
    768_000.0,
];
const BLOCKS: [usize; 6] = [1, 7, 64, 511, 4096, 8192];

fn speech_48k() -> Vec<f32> {
    let path = faurge_io::examples::VCTK_SPEECH;
    faurge_io::read(path).expect("shipped example").to_mono()
}

/// A decaying-noise IR of `len` frames, like a small room.
fn room_ir(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|i| {
            let env = (-6.9 * i as f32 / len as f32).exp();
            if i == 0 {
                1.0
            } else {
                env * rng.gen_range(-0.3..0.3)
            }
        })
        .collect()
}

/// A state that moves every processor away from unity.
fn busy_state(seed: u64) -> DspState {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut s = (presets::find("warm-radio").unwrap().state)();
    for b in s.eq.bands.iter_mut() {
        b.enabled = true;
        b.gain_db = rng.gen_range(-12.0..12.0);
        b.q = rng.gen_range(0.3..4.0);
    }
    s.eq.bands[0].freq_hz = 60.0;
    s.eq.bands[7].freq_hz = 16_000.0;
    s.compressor.threshold_db = rng.gen_range(-40.0..-10.0);
    s.convolver.enabled = true;
    s.convolver.mix = rng.gen_range(0.3..1.0);
    s.output_trim_db = rng.gen_range(-6.0..6.0);
    s
}

#[test]
fn process_never_allocates_with_changes_and_ir_swaps_in_flight() {
    for &sr in &RATES {
        for &bs in &BLOCKS {
            let mut chain = Chain::new(ChainConfig::new(sr, 2)).unwrap();
            let builder = chain.kernel_builder();
            let ir_a = room_ir((0.05 * sr) as usize, 1);
            let ir_b = room_ir((0.2 * sr) as usize, 2);
            let kernel_a = builder.build(&[&ir_a]).unwrap();
            let kernel_b = builder.build(&[&ir_b, &ir_a]).unwrap();
            let states = [busy_state(1), busy_state(2), DspState::default()];
            // A swap starts within 2 × the largest partition (8192 samples, 1 s at
            // 8 kHz) of the request: both swaps must fit, whatever the rate.
            let frames = ((0.6 * sr) as usize).max(4 * bs).max(40_000);
            let mut left: Vec<f32> = (0..frames)
                .map(|i| (i as f32 * 0.013).sin() * 0.5)
                .collect();
            let mut right = left.clone();
            let n_blocks = frames / bs;
            let mut kernels = [Some(kernel_a), Some(kernel_b)];
            let mut retired = Vec::with_capacity(4);
            assert_no_alloc(|| {
                for k in 0..n_blocks {
                    if k == 1 {
                        chain.set_state(&states[0]);
                    }
                    if k == n_blocks / 3 {
                        chain.set_state(&states[1]);
                    }
                    if k == 2 || k == n_blocks / 2 {
                        for slot in kernels.iter_mut() {
                            if let Some(kn) = slot.take() {
                                if let Err(back) = chain.swap_ir(kn) {
                                    *slot = Some(back);
                                }
                                break;
                            }
                        }
                    }
                    let range = k * bs..(k + 1) * bs;
                    chain.process(&mut [&mut left[range.clone()], &mut right[range]]);
                    if let Some(old) = chain.take_retired_ir() {
                        // Hand it out of the closure; it is dropped after, off the "audio thread".
                        if retired.len() < retired.capacity() {
                            retired.push(old);
                        } else {
                            std::mem::forget(old);
                        }
                    }
                }
            });
            assert!(
                !retired.is_empty(),
                "no IR swap completed at {sr} Hz, block {bs}"
            );
            assert!(
                left.iter().chain(&right).all(|s| s.is_finite()),
                "non-finite output at {sr} Hz, block {bs}"
            );
        }
    }
}

#[test]
fn non_finite_input_is_treated_as_silence_and_never_poisons_state() {
    let sr = 48_000.0;
    let speech = speech_48k();
    let mut with_nan = speech.clone();
    let mut zeroed = speech.clone();
    for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]
        .iter()
        .enumerate()
    {
        let at = 20_000 + i * 37;
        with_nan[at] = *v;
        zeroed[at] = 0.0;
    }
    let render = |mut x: Vec<f32>| {
        let mut chain = Chain::new(ChainConfig::new(sr, 1)).unwrap();
        let ir = room_ir(4800, 3);
        chain.snap_to_state(&busy_state(3));
        let k = chain.kernel_builder().build(&[&ir]).unwrap();
        assert!(
            chain.replace_ir(k).is_ok(),
            "kernel from this chain's own builder"
        );
        for block in x.chunks_mut(256) {
            chain.process(&mut [block]);
        }
        x
    };
    let a = render(with_nan);
    let b = render(zeroed);
    assert!(a.iter().all(|s| s.is_finite()));
    // Bit-exact: the non-finite samples were silence to every processor, and the
    // output after the bad block is exactly the normal output.
    assert_eq!(a, b);
}

#[test]
fn silence_gives_exact_silence_and_no_denormals() {
    for &sr in &[
        8_000.0, 11_025.0, 16_000.0, 44_100.0, 192_000.0, 384_000.0, 768_000.0,
    ] {
        let mut chain = Chain::new(ChainConfig::new(sr, 2)).unwrap();
        chain.snap_to_state(&busy_state(4));
        let ir = room_ir((0.1 * sr) as usize, 5);
        let k = chain.kernel_builder().build(&[&ir]).unwrap();
        assert!(
            chain.replace_ir(k).is_ok(),
            "kernel from this chain's own builder"
        );
        let mut l = vec![0.0f32; (3.0 * sr) as usize];
        l[0] = 1.0;
        l[100] = -0.7;
        let mut r = l.clone();
        chain.process(&mut [&mut l, &mut r]);
        for &s in l.iter().chain(&r) {
            assert!(
                s == 0.0 || s.abs() >= f32::MIN_POSITIVE,
                "denormal {s:e} at {sr} Hz"
            );
        }
        let last_second = &l[l.len() - sr as usize..];
        assert!(
            last_second.iter().all(|&s| s == 0.0),
            "tail not exactly silent at {sr} Hz"
        );
    }
}

#[test]
fn default_chain_is_a_pure_delay_of_its_reported_latency() {
    let speech = speech_48k();
    let mut chain = Chain::new(ChainConfig::new(48_000.0, 1)).unwrap();
    let mut x = speech.clone();
    chain.process(&mut [&mut x]);
    // The restoration section's constant lookahead and the compressor's, whatever is
    // switched on.
    let latency = chain.latency_samples();
    assert_eq!(latency, faurge_dsp::chain::latency_samples(48_000.0));
    assert!((500..700).contains(&latency), "{latency} samples at 48 kHz");
    assert!(
        x[..latency].iter().all(|&v| v == 0.0),
        "output before the latency"
    );
    let max_err = x[latency..]
        .iter()
        .zip(&speech)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        max_err < 1e-6,
        "default chain changed the signal by {max_err}"
    );
}

#[test]
fn a_preset_changes_the_ltas_of_real_speech_by_its_eq_curve() {
    // The LTAS is relative to total power, so with the compressor off (its
    // level-dependent gain reshapes the long-term spectrum of speech) after − before
    // must follow the EQ's magnitude response up to a constant.
    for name in ["telephone", "warm-radio", "podcast"] {
        let speech = speech_48k();
        let mut state = (presets::find(name).unwrap().state)();
        state.compressor.enabled = false;
        let mut chain = Chain::new(ChainConfig::new(48_000.0, 1)).unwrap();
        chain.snap_to_state(&state);
        let mut y = speech.clone();
        chain.process(&mut [&mut y]);
        // The same samples in and out: the output is the input delayed by the latency.
        let lat = chain.latency_samples();
        let before = ltas(&[&speech[..speech.len() - lat]], 48_000.0);
        let after = ltas(&[&y[lat..]], 48_000.0);
        let centers = ltas_band_centers_hz();
        // Bands with real speech content in this clip.
        let residual: Vec<f32> = (0..centers.len())
            .filter(|&i| centers[i] >= 150.0 && centers[i] <= 10_000.0 && before[i] > -45.0)
            .map(|i| {
                after[i]
                    - before[i]
                    - Eq::magnitude_db(&state.eq, f64::from(centers[i]), 48_000.0) as f32
            })
            .collect();
        assert!(residual.len() > 30, "{name}: too few bands with content");
        let mean = residual.iter().sum::<f32>() / residual.len() as f32;
        let worst = residual
            .iter()
            .map(|r| (r - mean).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1.0,
            "{name}: LTAS change departs from the EQ curve by {worst:.2} dB"
        );
    }
    // And the check can fail: the telephone curve does not explain a flat render.
    let state = (presets::find("telephone").unwrap().state)();
    let speech = speech_48k();
    let before = ltas(&[&speech], 48_000.0);
    let centers = ltas_band_centers_hz();
    let residual: Vec<f32> = (0..centers.len())
        .filter(|&i| centers[i] >= 150.0 && centers[i] <= 10_000.0 && before[i] > -45.0)
        .map(|i| -(Eq::magnitude_db(&state.eq, f64::from(centers[i]), 48_000.0) as f32))
        .collect();
    let mean = residual.iter().sum::<f32>() / residual.len() as f32;
    assert!(
        residual
            .iter()
            .map(|r| (r - mean).abs())
            .fold(0.0, f32::max)
            > 10.0
    );
}

#[test]
fn bad_configs_are_clear_errors() {
    for rate in [999.0, 768_001.0, f32::NAN, f32::INFINITY, 0.0] {
        assert!(
            matches!(
                Chain::new(ChainConfig::new(rate, 1)).err(),
                Some(ChainError::SampleRate(_))
            ),
            "{rate}"
        );
    }
    assert_eq!(
        Chain::new(ChainConfig::new(48_000.0, 3)).err(),
        Some(ChainError::Channels(3))
    );
    let msg = ChainError::SampleRate(500.0).to_string();
    assert!(msg.contains("1000") && msg.contains("768000"), "{msg}");
}

/// clap-validator's sweep: 1 kHz to 768 kHz including fractional rates, with every
/// processor on (bands above Nyquist clamp), a 2 s IR and random input: finite output,
/// no subnormal sample, no allocation.
#[test]
fn every_rate_a_host_may_set_processes_finite_audio() {
    for &sr in &[
        1_000.0,
        1_234.567_8,
        12_345.678,
        45_678.9,
        123_456.79,
        768_000.0,
    ] {
        let mut chain = Chain::new(ChainConfig::new(sr, 2)).unwrap();
        chain.snap_to_state(&busy_state(11));
        let ir = room_ir((2.0 * sr) as usize, 12);
        let k = chain.kernel_builder().build(&[&ir]).unwrap();
        assert!(chain.replace_ir(k).is_ok());
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let frames = ((0.25 * sr) as usize).max(1024);
        let mut l: Vec<f32> = (0..frames).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut r = l.clone();
        assert_no_alloc(|| {
            for (lb, rb) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
                chain.process(&mut [lb, rb]);
            }
        });
        assert!(
            l.iter()
                .chain(&r)
                .all(|s| s.is_finite() && !s.is_subnormal()),
            "non-finite or subnormal output at {sr} Hz"
        );
    }
}

#[test]
fn extreme_automation_every_block_stays_finite() {
    let sr = 96_000.0;
    let mut chain = Chain::new(ChainConfig::new(sr, 2)).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let speech = speech_48k();
    let mut l: Vec<f32> = speech.iter().map(|s| s * 4.0).collect();
    let mut r = l.clone();
    for (lb, rb) in l.chunks_mut(1).zip(r.chunks_mut(1)).take(40_000) {
        let mut s = busy_state(rng.gen());
        s.eq.bands[rng.gen_range(0..8)].freq_hz = if rng.gen() { 20.0 } else { 1e9 };
        s.compressor.ratio = if rng.gen() { 1.0 } else { 20.0 };
        s.compressor.attack_ms = if rng.gen() { 0.0 } else { f32::NAN };
        chain.set_state(&s);
        chain.process(&mut [lb, rb]);
    }
    assert!(l.iter().chain(&r).all(|s| s.is_finite()));
}

/// RMS of `x` in consecutive windows of `w` frames.
fn windowed_rms(x: &[f32], w: usize) -> Vec<f32> {
    x.chunks_exact(w)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / w as f32).sqrt())
        .collect()
}

/// A bake that switches a high- or low-pass on while it raises the output trim by
/// 20 dB must not let what the filter removes swell on the way: the level of a tone
/// in the new stopband never exceeds its level before the change by more than 1 dB.
/// With the dry share and the trim both gliding linearly in amplitude it rose by 8.9 dB.
#[test]
fn switching_a_filter_on_while_the_trim_rises_never_swells_the_stopband() {
    const RATE: f32 = 48_000.0;
    for (band, cutoff, tone) in [(7usize, 1_000.0f32, 16_000.0f32), (0, 400.0, 40.0)] {
        let mut chain = Chain::new(ChainConfig::new(RATE, 1)).unwrap();
        let mut x: Vec<f32> = (0..(0.4 * RATE) as usize)
            .map(|i| 0.05 * (std::f32::consts::TAU * tone * i as f32 / RATE).sin())
            .collect();
        let half = x.len() / 2;
        let (first, second) = x.split_at_mut(half);
        chain.process(&mut [first]);
        let mut baked = DspState::default();
        baked.eq.bands[band].enabled = true;
        baked.eq.bands[band].freq_hz = cutoff;
        baked.output_trim_db = 20.0;
        chain.set_state(&baked);
        chain.process(&mut [second]);
        // 1 ms windows, from after the latency until the glide has long ended.
        let w = (RATE / 1000.0) as usize;
        let levels = windowed_rms(&x[chain.latency_samples()..], w);
        let before = levels[(half / w) - 20];
        let loudest = levels[half / w - 2..].iter().fold(0.0f32, |m, &v| m.max(v));
        let after = *levels.last().unwrap();
        assert!(
            after < 0.5 * before,
            "band {band}: the filter did not remove the tone ({after} vs {before})"
        );
        let rise_db = 20.0 * (loudest / before).log10();
        assert!(
            rise_db < 1.0,
            "band {band}: the {tone} Hz tone swelled by {rise_db:.2} dB during the change"
        );
    }
}

/// An offline render of a recording that starts mid-phrase, through a compressor and
/// +12 dB of trim: warmed up, its first 5 ms are within 1 dB of what a chain that had
/// been running all along (the whole recording rendered) plays there; cold, the
/// compressor's envelope starts at rest and the first milliseconds pass with the
/// whole trim (the spike that read as a crest factor 9 dB too high).
#[test]
fn a_warmed_up_render_starts_as_a_running_chain_plays() {
    const RATE: f32 = 48_000.0;
    let speech = speech_48k();
    // Start just before the loudest sample, as a crop in the middle of a word does.
    let loudest = speech
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .map(|(i, _)| i)
        .unwrap();
    let from = loudest.saturating_sub(24);
    let mut state = DspState::default();
    state.compressor.enabled = true;
    state.compressor.threshold_db = -30.0;
    state.compressor.ratio = 4.0;
    state.output_trim_db = 12.0;
    let render = |input: &[f32], warm: bool| {
        let mut chain = Chain::new(ChainConfig::new(RATE, 1)).unwrap();
        chain.snap_to_state(&state);
        if warm {
            chain.warm_up(&[input]);
        }
        let latency = chain.latency_samples();
        let mut out = input.to_vec();
        out.extend(std::iter::repeat_n(0.0, latency));
        chain.process(&mut [&mut out[..]]);
        out[latency..].to_vec()
    };
    let head = (0.005 * RATE) as usize;
    let peak = |x: &[f32]| x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let running = peak(&render(&speech, true)[from..from + head]);
    let warm = peak(&render(&speech[from..], true)[..head]);
    let db = 20.0 * (warm / running).log10();
    assert!(
        db.abs() < 1.0,
        "warmed up: {db:.2} dB from the running chain"
    );
    let cold = peak(&render(&speech[from..], false)[..head]);
    assert!(
        cold > 1.5 * running,
        "the cold render should show the spike this guards against ({cold} vs {running})"
    );
}
