//! Tests of the zero-latency partitioned convolver: equivalence with direct
//! convolution (random IRs, random host block sequences, real room IR), zero
//! latency, exact and smooth kernel cross-fades, realtime safety
//! (`assert_no_alloc` over block sizes × sample rates with a swap in flight),
//! non-finite input, silence and subnormals, and `KernelBuilder` errors.

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

use assert_no_alloc::assert_no_alloc;
use faurge_dsp::convolver::{
    Convolver, ConvolverConfig, ConvolverError, Kernel, CROSSFADE_SECONDS,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

/// Every rate a host or validator may set: the usual ones plus 8, 11.025 and 16 kHz
/// (telephony, old hardware) and 384 and 768 kHz (the VST3 validator, clap-validator).
const RATES: [f32; 10] = [
    8_000.0, 11_025.0, 16_000.0, 22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0, 384_000.0,
    768_000.0,
];

fn noise(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// Random IR: noise under an exponential decay plus a few sparse spikes.
fn random_ir(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let mut h: Vec<f32> = (0..n)
        .map(|i| rng.gen_range(-1.0f32..1.0) * (-3.0 * i as f32 / n as f32).exp())
        .collect();
    for _ in 0..4 {
        let i = rng.gen_range(0..n);
        h[i] += rng.gen_range(-2.0f32..2.0);
    }
    h
}

/// Direct time-domain convolution in f64: the first `n_out` output samples.
fn direct(x: &[f32], h: &[f32], n_out: usize) -> Vec<f64> {
    (0..n_out)
        .map(|n| {
            let kmax = n.min(h.len() - 1);
            (0..=kmax)
                .filter(|&k| n - k < x.len())
                .map(|k| f64::from(h[k]) * f64::from(x[n - k]))
                .sum()
        })
        .collect()
}

/// One-shot (unpartitioned) f64 FFT convolution: the first `n_out` output samples.
/// Checked against `direct` in `fft_reference_matches_direct_convolution`.
fn fft_reference(x: &[f32], h: &[f32], n_out: usize) -> Vec<f64> {
    let n = (x.len() + h.len()).next_power_of_two();
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let pad = |s: &[f32]| {
        let mut v = vec![Complex::new(0.0, 0.0); n];
        for (d, &s) in v.iter_mut().zip(s) {
            d.re = f64::from(s);
        }
        v
    };
    let (mut a, mut b) = (pad(x), pad(h));
    fwd.process(&mut a);
    fwd.process(&mut b);
    for (a, b) in a.iter_mut().zip(&b) {
        *a *= b;
    }
    inv.process(&mut a);
    (0..n_out)
        .map(|i| a.get(i).map_or(0.0, |z| z.re / n as f64))
        .collect()
}

fn reference(x: &[f32], h: &[f32], n_out: usize) -> Vec<f64> {
    if h.len() * n_out <= 20_000_000 {
        direct(x, h, n_out)
    } else {
        fft_reference(x, h, n_out)
    }
}

/// (error energy / reference energy, max |error| / max |reference|), both in dB.
fn error_db(got: &[f32], want: &[f64]) -> (f64, f64) {
    assert_eq!(got.len(), want.len());
    let (mut e, mut s, mut emax, mut peak) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&g, &w) in got.iter().zip(want) {
        let d = f64::from(g) - w;
        e += d * d;
        s += w * w;
        emax = emax.max(d.abs());
        peak = peak.max(w.abs());
    }
    (10.0 * (e / s).log10(), 20.0 * (emax / peak).log10())
}

fn assert_matches(got: &[f32], want: &[f64], what: &str) {
    let (energy, peak) = error_db(got, want);
    assert!(
        energy <= -100.0 && peak <= -100.0,
        "{what}: error energy {energy:.1} dB, peak error {peak:.1} dB (limit −100 dB)"
    );
}

/// Processes `signal` (one Vec per channel) in place with host blocks from `block`.
fn run(conv: &mut Convolver, signal: &mut [Vec<f32>], mut block: impl FnMut() -> usize) {
    let n = signal[0].len();
    let mut done = 0;
    while done < n {
        let b = block().clamp(1, n - done);
        let mut chans: Vec<&mut [f32]> =
            signal.iter_mut().map(|c| &mut c[done..done + b]).collect();
        conv.process(&mut chans);
        done += b;
    }
}

/// A random host block-size generator: uniform 1..=8192, small odd sizes, or typical host sizes.
fn block_sizes(seed: u64) -> impl FnMut() -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kind = seed % 3;
    move || match kind {
        0 => rng.gen_range(1..=8192),
        1 => rng.gen_range(1..=130),
        _ => [1, 7, 63, 64, 65, 128, 256, 511, 1000, 4096, 8192][rng.gen_range(0..11)],
    }
}

fn build(conv: &Convolver, ir: &[&[f32]]) -> Box<Kernel> {
    conv.kernel_builder().build(ir).expect("valid IR")
}

/// Installs `ir` without a cross-fade: swap, then reset (which completes the swap at once).
fn install(conv: &mut Convolver, ir: &[&[f32]]) {
    let k = build(conv, ir);
    conv.swap_kernel(k)
        .expect("idle convolver accepts a kernel");
    conv.reset();
    drop(conv.take_retired());
}

#[test]
fn fft_reference_matches_direct_convolution() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = noise(&mut rng, 5000);
    let h = random_ir(&mut rng, 3001);
    let a = direct(&x, &h, 8000);
    let b = fft_reference(&x, &h, 8000);
    let err = a
        .iter()
        .zip(&b)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-9, "{err}");
}

#[test]
fn starts_as_unit_impulse_with_zero_latency() {
    let mut conv = Convolver::new(ConvolverConfig::new(48_000.0, 2, 2.0));
    assert_eq!(conv.latency_samples(), 0);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let dry = vec![noise(&mut rng, 20_000), noise(&mut rng, 20_000)];
    let mut wet = dry.clone();
    run(&mut conv, &mut wet, block_sizes(5));
    for (w, d) in wet.iter().zip(&dry) {
        let want: Vec<f64> = d.iter().map(|&x| f64::from(x)).collect();
        assert_matches(w, &want, "unit impulse");
    }
}

#[test]
fn impulse_response_appears_at_sample_zero_for_any_block_size() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let h = random_ir(&mut rng, 12_000);
    for block in [1usize, 37, 64, 100, 4096] {
        let mut conv = Convolver::new(ConvolverConfig::new(48_000.0, 1, 0.25));
        install(&mut conv, &[&h]);
        let mut sig = vec![vec![0.0f32; 14_000]];
        sig[0][0] = 1.0;
        run(&mut conv, &mut sig, || block);
        // Zero latency: the very first output sample is h[0], and the whole IR follows.
        assert!(
            (sig[0][0] - h[0]).abs() < 1e-5,
            "block {block}: y[0] = {} h[0] = {}",
            sig[0][0],
            h[0]
        );
        let want: Vec<f64> = (0..14_000)
            .map(|i| h.get(i).map_or(0.0, |&v| f64::from(v)))
            .collect();
        assert_matches(&sig[0], &want, &format!("impulse, block {block}"));
    }
}

#[test]
fn matches_direct_convolution_random_irs_and_block_sequences() {
    // (max IR frames, IR frames) pairs: inside the head, across every stage
    // boundary, lengths that are no multiple of any partition, and exactly max.
    let cases = [
        (1, 1),
        (40, 37),
        (64, 64),
        (600, 65),
        (600, 513),
        (700, 700),
        (2100, 2047),
        (4800, 4800),
        (9000, 3001),
        (9000, 8999),
        (20_000, 13_337),
        (30_000, 30_000),
    ];
    for (i, &(max_frames, frames)) in cases.iter().enumerate() {
        let seed = 100 + i as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let channels = 1 + (i % 2);
        let ir_channels = if channels == 2 && i % 4 == 1 {
            1
        } else {
            channels
        };
        let mut conv = Convolver::new(ConvolverConfig {
            sample_rate: 48_000.0,
            channels,
            max_ir_frames: max_frames,
        });
        let irs: Vec<Vec<f32>> = (0..ir_channels)
            .map(|c| random_ir(&mut rng, if c == 0 { frames } else { frames.div_ceil(2) }))
            .collect();
        let ir_refs: Vec<&[f32]> = irs.iter().map(Vec::as_slice).collect();
        install(&mut conv, &ir_refs);
        let n = frames + 3 * 8192 + rng.gen_range(0..5000);
        let dry: Vec<Vec<f32>> = (0..channels).map(|_| noise(&mut rng, n)).collect();
        let mut wet = dry.clone();
        run(&mut conv, &mut wet, block_sizes(seed));
        for c in 0..channels {
            let h = &irs[c.min(ir_channels - 1)];
            let want = reference(&dry[c], h, n);
            assert_matches(
                &wet[c],
                &want,
                &format!("case {i} ({max_frames}, {frames}) channel {c}"),
            );
        }
    }
}

#[test]
fn matches_reference_with_a_two_second_ir_at_48k() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut conv = Convolver::new(ConvolverConfig::new(48_000.0, 1, 2.0));
    assert_eq!(conv.max_ir_frames(), 96_000);
    assert_eq!(conv.partition_sizes(), [64, 256, 1024, 4096]);
    let h = random_ir(&mut rng, 96_000);
    install(&mut conv, &[&h]);
    let n = 96_000 + 30_000;
    let dry = noise(&mut rng, n);
    let mut wet = vec![dry.clone()];
    run(&mut conv, &mut wet, block_sizes(9));
    assert_matches(&wet[0], &fft_reference(&dry, &h, n), "2 s IR");
}

#[test]
fn real_room_ir_on_real_speech() {
    let rir = faurge_io::read(faurge_io::examples::ROOM_IR).expect("shipped RIR");
    let rir = rir.resampled(48_000).expect("resample").to_mono();
    let speech = faurge_io::read(faurge_io::examples::VCTK_SPEECH).expect("shipped clip");
    assert_eq!(speech.sample_rate, 48_000);
    let dry = speech.to_mono();
    let mut conv = Convolver::new(ConvolverConfig::new(48_000.0, 2, 2.0));
    install(&mut conv, &[&rir]);
    // Stereo input: the speech and the speech reversed; the mono IR applies to both.
    let reversed: Vec<f32> = dry.iter().rev().copied().collect();
    let mut wet = vec![dry.clone(), reversed.clone()];
    run(&mut conv, &mut wet, block_sizes(11));
    let n = dry.len();
    assert_matches(&wet[0], &fft_reference(&dry, &rir, n), "rir_clap × speech");
    assert_matches(
        &wet[1],
        &fft_reference(&reversed, &rir, n),
        "rir_clap × reversed speech",
    );
}

#[test]
fn reset_clears_history_but_keeps_the_kernel() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let h = random_ir(&mut rng, 10_000);
    let mut conv = Convolver::new(ConvolverConfig::new(48_000.0, 1, 0.5));
    install(&mut conv, &[&h]);
    let mut junk = vec![noise(&mut rng, 7_777)];
    run(&mut conv, &mut junk, || 300);
    conv.reset();
    let dry = noise(&mut rng, 20_000);
    let mut wet = vec![dry.clone()];
    run(&mut conv, &mut wet, block_sizes(13));
    assert_matches(&wet[0], &reference(&dry, &h, 20_000), "after reset");
}

/// Swaps `[1.0]` → `[0.25]` on DC input with host blocks of 32 samples and returns
/// (output, index of the swap call, crossfade_samples, swap_delay_bound).
fn dc_swap(rate: f32, max_seconds: f32) -> (Vec<f32>, usize, usize, usize) {
    let mut conv = Convolver::new(ConvolverConfig::new(rate, 1, max_seconds));
    let new = build(&conv, &[&[0.25]]);
    let bound = conv.swap_delay_bound_samples();
    let fade = conv.crossfade_samples();
    let total = 3 * bound + 2 * fade + 5000;
    let mut out = vec![1.0f32; total];
    let swap_at = 32 * 49;
    let mut new = Some(new);
    let mut retired = None;
    for (b, chunk) in out.chunks_mut(32).enumerate() {
        if b * 32 == swap_at {
            conv.swap_kernel(new.take().unwrap()).unwrap();
            assert!(conv.is_swapping());
        }
        conv.process(&mut [chunk]);
        if let Some(k) = conv.take_retired() {
            assert!(retired.is_none(), "retired twice");
            retired = Some(k);
        }
    }
    assert!(!conv.is_swapping(), "swap finished");
    assert_eq!(retired.expect("old kernel retired").frames(), 1);
    (out, swap_at, fade, bound)
}

#[test]
fn crossfade_length_is_exact_at_every_rate() {
    for rate in RATES {
        for max_seconds in [0.005f32, 0.5] {
            let (out, swap_at, fade, bound) = dc_swap(rate, max_seconds);
            assert_eq!(fade, (CROSSFADE_SECONDS * f64::from(rate)).round() as usize);
            let between: Vec<usize> = (0..out.len())
                .filter(|&i| out[i] != 1.0 && out[i] != 0.25)
                .collect();
            assert_eq!(
                between.len(),
                fade,
                "rate {rate}, {max_seconds} s layout: samples strictly between old and new"
            );
            let (first, last) = (between[0], *between.last().unwrap());
            assert_eq!(last - first + 1, fade, "fade is contiguous");
            assert!(
                first >= swap_at && first - swap_at <= bound,
                "fade starts {} samples after the swap (bound {bound})",
                first - swap_at
            );
            assert!(out[..first].iter().all(|&y| y == 1.0));
            assert!(out[last + 1..].iter().all(|&y| y == 0.25));
            assert!(
                between.windows(2).all(|w| out[w[1]] < out[w[0]]),
                "monotonic ramp"
            );
            assert!(out[between[0]] < 1.0 && out[last] > 0.25);
        }
    }
}

#[test]
fn crossfade_between_real_irs_is_smooth_and_lands_on_the_new_ir() {
    let rate = 48_000.0;
    let rir = faurge_io::read(faurge_io::examples::ROOM_IR).expect("shipped RIR");
    let ir_old = rir.resampled(48_000).expect("resample").to_mono();
    // A different real IR: the same room heard 3 ms later, inverted and quieter, truncated.
    let mut ir_new = vec![0.0f32; 144];
    ir_new.extend(ir_old.iter().take(30_000).map(|&v| -0.6 * v));
    let n = 48_000 * 2;
    let x: Vec<f32> = (0..n)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate).sin())
        .collect();
    let mut conv = Convolver::new(ConvolverConfig::new(rate, 1, 1.2));
    install(&mut conv, &[&ir_old]);
    let new = build(&conv, &[&ir_new]);
    let swap_at = 48_000 - 64 * 3;
    let mut out = x.clone();
    let mut new = Some(new);
    let mut fade_end = None;
    for (b, chunk) in out.chunks_mut(64).enumerate() {
        if b * 64 == swap_at {
            conv.swap_kernel(new.take().unwrap()).unwrap();
        }
        let was = conv.is_swapping();
        conv.process(&mut [chunk]);
        if was && !conv.is_swapping() {
            fade_end = Some(b * 64 + 64);
        }
    }
    let fade_end = fade_end.expect("swap finished");
    assert!(fade_end - swap_at <= conv.swap_delay_bound_samples() + conv.crossfade_samples() + 64);
    let y_old = fft_reference(&x, &ir_old, n);
    let y_new = fft_reference(&x, &ir_new, n);
    // Before the swap: the old IR; after the fade: the new IR.
    assert_matches(&out[..swap_at], &y_old[..swap_at], "before swap");
    assert_matches(&out[fade_end..], &y_new[fade_end..], "after fade");
    // No sample-to-sample step larger than the old or new output itself makes.
    let step = |y: &[f64], i: usize| (y[i] - y[i - 1]).abs();
    let region = swap_at + 1..fade_end;
    let natural = region
        .clone()
        .map(|i| step(&y_old, i).max(step(&y_new, i)))
        .fold(0.0, f64::max);
    let worst = region
        .map(|i| (f64::from(out[i]) - f64::from(out[i - 1])).abs())
        .fold(0.0, f64::max);
    assert!(
        worst <= 1.05 * natural,
        "largest step during swap {worst} vs signal's own {natural}"
    );
    // A hard switch would have stepped by about the difference of the two outputs.
    let hard = (swap_at..fade_end)
        .map(|i| (y_old[i] - y_new[i]).abs())
        .fold(0.0, f64::max);
    assert!(
        hard > 2.0 * natural,
        "test is sensitive: hard switch step {hard}"
    );
}

#[test]
fn swap_refusals_give_the_kernel_back() {
    let mut conv = Convolver::new(ConvolverConfig::new(48_000.0, 2, 0.5));
    let other = Convolver::new(ConvolverConfig::new(48_000.0, 2, 1.0));
    let foreign = other.kernel_builder().build(&[&[0.5]]).unwrap();
    let foreign = conv
        .swap_kernel(foreign)
        .expect_err("kernel of another layout");
    assert_eq!(foreign.frames(), 1);
    let a = build(&conv, &[&[0.5], &[0.25]]);
    let b = build(&conv, &[&[0.75]]);
    conv.swap_kernel(a).unwrap();
    let b = conv.swap_kernel(b).expect_err("swap already pending");
    assert!(
        conv.take_retired().is_none(),
        "nothing retired while swapping"
    );
    let mut sig = vec![vec![0.0f32; 20_000]; 2];
    run(&mut conv, &mut sig, || 512);
    assert!(!conv.is_swapping());
    let b = conv
        .swap_kernel(b)
        .expect_err("retired kernel not collected yet");
    let retired = conv.take_retired().expect("unit kernel retired");
    assert_eq!((retired.frames(), retired.ir_channels()), (1, 1));
    assert!(conv.take_retired().is_none());
    conv.swap_kernel(b)
        .expect("accepted once the retired kernel is collected");
}

#[test]
fn non_finite_input_never_poisons_the_state() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let h = random_ir(&mut rng, 5000);
    let mut conv = Convolver::new(ConvolverConfig::new(48_000.0, 2, 0.2));
    install(&mut conv, &[&h]);
    let n = 30_000;
    let mut dry = vec![noise(&mut rng, n), noise(&mut rng, n)];
    for i in [10, 11, 500, 4321, 9000] {
        dry[0][i] = f32::NAN;
        dry[1][i + 3] = f32::INFINITY;
    }
    dry[0][12_000] = f32::NEG_INFINITY;
    let mut wet = dry.clone();
    run(&mut conv, &mut wet, block_sizes(22));
    for c in 0..2 {
        assert!(
            wet[c].iter().all(|y| y.is_finite()),
            "channel {c} has a non-finite output"
        );
        // Non-finite samples act as zeros, so the output is the convolution of the sanitized input.
        let clean: Vec<f32> = dry[c]
            .iter()
            .map(|&x| if x.is_finite() { x } else { 0.0 })
            .collect();
        assert_matches(&wet[c], &reference(&clean, &h, n), &format!("channel {c}"));
    }
}

#[test]
fn silence_gives_exact_zeros_and_no_subnormal_ever_leaves() {
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let ir_len = 20_000;
    // IR decaying to 1e-25 (still above the flush threshold): with the 1e-18 input
    // below, the late output is ~1e-43, which is subnormal unless flushed.
    let h: Vec<f32> = (0..ir_len)
        .map(|i| rng.gen_range(0.5f32..1.0) * 10f32.powf(-25.0 * i as f32 / ir_len as f32))
        .collect();
    let mut conv = Convolver::new(ConvolverConfig::new(44_100.0, 1, 0.5));
    install(&mut conv, &[&h]);
    let mut sig = vec![noise(&mut rng, 10_000)];
    sig[0].extend(std::iter::repeat_n(0.0, ir_len));
    sig[0].extend(noise(&mut rng, 3_000).iter().map(|x| x * 1e-18));
    // Subnormal input values are flushed too.
    sig[0].extend((0..2_000).map(|i| f32::from_bits(1 + i as u32)));
    let loud = sig[0].len();
    sig[0].extend(std::iter::repeat_n(0.0, ir_len + 20_000));
    run(&mut conv, &mut sig, block_sizes(32));
    assert!(
        sig[0].iter().all(|y| !y.is_subnormal()),
        "a subnormal sample left the convolver"
    );
    assert!(
        sig[0][loud + ir_len..].iter().all(|&y| y == 0.0),
        "silence in, not exact silence out"
    );
    assert!(sig[0][..loud].iter().any(|&y| y != 0.0));
}

#[test]
fn public_types_can_cross_threads() {
    fn send<T: Send>() {}
    fn shared<T: Send + Sync + Clone>() {}
    send::<Convolver>();
    send::<Box<Kernel>>();
    shared::<faurge_dsp::convolver::KernelBuilder>();
    let conv = Convolver::new(ConvolverConfig::new(48_000.0, 2, 0.1));
    let builder = conv.kernel_builder();
    let kernel = std::thread::spawn(move || builder.build(&[&[0.5, 0.25]]).unwrap())
        .join()
        .unwrap();
    assert_eq!((kernel.frames(), kernel.ir_channels()), (2, 1));
}

#[test]
fn extra_channels_are_ignored_and_missing_ones_are_silent() {
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    let h = random_ir(&mut rng, 3000);
    let mut mono = Convolver::new(ConvolverConfig::new(48_000.0, 1, 0.1));
    install(&mut mono, &[&h]);
    let dry = noise(&mut rng, 9000);
    let untouched = noise(&mut rng, 9000);
    let mut sig = vec![dry.clone(), untouched.clone()];
    run(&mut mono, &mut sig, block_sizes(42));
    assert_eq!(sig[1], untouched);
    assert_matches(&sig[0], &reference(&dry, &h, 9000), "mono of two");

    let mut stereo = Convolver::new(ConvolverConfig::new(48_000.0, 2, 0.1));
    install(&mut stereo, &[&h]);
    let mut one = vec![dry.clone()];
    run(&mut stereo, &mut one, block_sizes(43));
    assert_matches(
        &one[0],
        &reference(&dry, &h, 9000),
        "one channel on a stereo convolver",
    );
    stereo.process(&mut []);
    let mut uneven_a = vec![1.0f32; 10];
    let mut uneven_b = vec![1.0f32; 4];
    stereo.process(&mut [&mut uneven_a, &mut uneven_b]);
    assert!(
        uneven_a[4..].iter().all(|&y| y == 1.0),
        "only the shortest length is processed"
    );
}

#[test]
fn never_allocates_in_process_with_a_swap_in_flight() {
    let mut rng = ChaCha8Rng::seed_from_u64(51);
    let blocks = [1usize, 7, 64, 511, 4096, 8192];
    for rate in RATES {
        let ir_frames = (0.25 * rate) as usize;
        let mut conv = Convolver::new(ConvolverConfig::new(rate, 2, 0.5));
        let builder = conv.kernel_builder();
        let left = random_ir(&mut rng, ir_frames);
        let right = random_ir(&mut rng, ir_frames / 2);
        let mut kernels = vec![
            builder.build(&[&left, &right]).unwrap(),
            builder.build(&[&right]).unwrap(),
        ];
        let span = conv.swap_delay_bound_samples() + conv.crossfade_samples() + 4 * 8192;
        let mut l = noise(&mut rng, 8192);
        let mut r = noise(&mut rng, 8192);
        let mut retired = Vec::new();
        for &block in &blocks {
            let kernel = kernels.pop().unwrap_or_else(|| retired.pop().unwrap());
            let mut kernel = Some(kernel);
            let mut done = 0;
            while done < span {
                let (lb, rb) = (&mut l[..block], &mut r[..block]);
                let got = assert_no_alloc(|| {
                    if let Some(k) = kernel.take() {
                        assert!(conv.swap_kernel(k).is_ok());
                    }
                    conv.process(&mut [lb, rb]);
                    conv.take_retired()
                });
                retired.extend(got);
                // Keep the signal bounded: refill what the convolver overwrote.
                for (a, b) in l[..block].iter_mut().zip(r[..block].iter_mut()) {
                    *a = (*a * 0.5).clamp(-1.0, 1.0);
                    *b = (*b * 0.5).clamp(-1.0, 1.0);
                }
                done += block;
            }
            assert!(
                !conv.is_swapping(),
                "rate {rate}, block {block}: swap did not finish"
            );
            assert_no_alloc(|| conv.reset());
        }
        assert!(l.iter().chain(&r).all(|y| y.is_finite()));
    }
}

#[test]
fn builder_rejects_bad_irs_with_actionable_errors() {
    let conv = Convolver::new(ConvolverConfig::new(48_000.0, 1, 0.01));
    let stereo = Convolver::new(ConvolverConfig::new(48_000.0, 2, 0.01));
    let b = conv.kernel_builder();
    assert_eq!(b.max_ir_frames(), 480);
    let ok = [0.5f32; 480];
    let long = [0.5f32; 481];
    let err = |r: Result<Box<Kernel>, ConvolverError>| r.expect_err("must be rejected");
    assert!(matches!(
        err(b.build(&[])),
        ConvolverError::ChannelCount { channels: 0 }
    ));
    assert!(matches!(
        err(stereo.kernel_builder().build(&[&ok, &ok, &ok])),
        ConvolverError::ChannelCount { channels: 3 }
    ));
    assert!(matches!(
        err(b.build(&[&[]])),
        ConvolverError::EmptyIr { channel: 0 }
    ));
    assert!(matches!(
        err(stereo.kernel_builder().build(&[&ok, &[]])),
        ConvolverError::EmptyIr { channel: 1 }
    ));
    let e = err(b.build(&[&long]));
    assert!(matches!(
        e,
        ConvolverError::IrTooLong {
            channel: 0,
            frames: 481,
            max_frames: 480
        }
    ));
    assert!(e.to_string().contains("max_ir_seconds"), "{e}");
    let mut nan = ok;
    nan[77] = f32::NAN;
    assert!(matches!(
        err(b.build(&[&nan])),
        ConvolverError::NonFinite {
            channel: 0,
            index: 77
        }
    ));
    let mut inf = ok;
    inf[3] = f32::NEG_INFINITY;
    assert!(matches!(
        err(stereo.kernel_builder().build(&[&ok, &inf])),
        ConvolverError::NonFinite {
            channel: 1,
            index: 3
        }
    ));
    let e = err(b.build(&[&ok, &ok]));
    assert!(matches!(
        e,
        ConvolverError::LayoutMismatch {
            ir_channels: 2,
            convolver_channels: 1
        }
    ));
    assert!(e.to_string().contains("mono"), "{e}");
    assert!(b.build(&[&ok]).is_ok() && stereo.kernel_builder().build(&[&ok, &long[..10]]).is_ok());
}

#[test]
fn config_and_swap_timing_figures() {
    for rate in RATES {
        let conv = Convolver::new(ConvolverConfig::new(rate, 2, 2.0));
        assert_eq!(conv.max_ir_frames(), (2.0 * rate) as usize);
        assert_eq!(
            conv.crossfade_samples(),
            (0.010 * f64::from(rate)).round() as usize
        );
        assert_eq!(conv.swap_delay_bound_samples(), 8192);
        assert_eq!(conv.latency_samples(), 0);
    }
    assert_eq!(ConvolverConfig::new(48_000.0, 1, 0.1).max_ir_frames, 4800);
    // The documented swap-delay bounds of shorter layouts.
    for (frames, bound) in [(640, 128), (641, 512), (10_240, 2048), (10_241, 8192)] {
        let conv = Convolver::new(ConvolverConfig {
            sample_rate: 48_000.0,
            channels: 1,
            max_ir_frames: frames,
        });
        assert_eq!(conv.swap_delay_bound_samples(), bound, "{frames} frames");
    }
    let odd = Convolver::new(ConvolverConfig {
        sample_rate: f32::NAN,
        channels: 9,
        max_ir_frames: 0,
    });
    assert_eq!(
        (odd.sample_rate(), odd.channels(), odd.max_ir_frames()),
        (48_000.0, 2, 1)
    );
}
