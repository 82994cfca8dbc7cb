//! Full-chain cost: 8-band EQ + compressor + 2 s IR, stereo, 48 kHz, host block 64;
//! and the same with every restoration stage on (de-clip, de-click, hum removal with 8
//! harmonics, noise reduction, expander, de-esser) on damaged speech (noise at 15 dB SNR,
//! a pop every second, hard clipping), the goal being ≤ 2 % of one core (0.02 CPU-s per
//! audio-s).
//!
//! Prints % of one core (process CPU time over audio time, the least-disturbed of three
//! passes) and the p50/p99/max time of one block, measured over 20 s of real speech
//! with every processor active, then runs the same case under criterion for a mean
//! with confidence.
//!
//! `cargo bench -p faurge-dsp --bench chain`

// `criterion_main!` defines an undocumented `pub fn main`.
#![allow(missing_docs)]

mod support;

use criterion::{criterion_group, Criterion};
use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_dsp::presets;
use faurge_dsp::state::DspState;
use support::{damaged_speech, speech, BLOCK, SR};

fn busy_chain() -> Chain {
    busy_chain_with(false)
}

/// Every restoration stage on, at settings a bake would choose for damaged speech.
fn with_restoration(mut state: DspState) -> DspState {
    let r = &mut state.restoration;
    r.declip.enabled = true;
    r.declick.enabled = true;
    r.dehum.enabled = true;
    r.dehum.harmonics = 8;
    r.denoise.enabled = true;
    r.denoise.reduction_db = 15.0;
    r.expander.enabled = true;
    r.expander.threshold_db = -45.0;
    state.deesser.enabled = true;
    state.deesser.threshold_db = -35.0;
    state
}

fn busy_chain_with(restoration: bool) -> Chain {
    let mut chain = Chain::new(ChainConfig::new(SR, 2)).expect("chain");
    let mut state = (presets::find("podcast").expect("preset").state)();
    for b in state.eq.bands.iter_mut() {
        b.enabled = true;
        b.gain_db = if b.gain_db == 0.0 { 1.5 } else { b.gain_db };
    }
    state.eq.bands[7].freq_hz = 16_000.0;
    state.convolver.enabled = true;
    state.convolver.mix = 0.5;
    if restoration {
        state = with_restoration(state);
    }
    chain.snap_to_state(&state);
    // A 2 s decaying-noise IR, deterministic.
    let n = (2.0 * SR) as usize;
    let mut seed = 0x2545_f491_u32;
    let ir: Vec<f32> = (0..n)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let white = seed as f32 / u32::MAX as f32 - 0.5;
            white * (-6.9 * i as f32 / n as f32).exp()
        })
        .collect();
    let kernel = chain.kernel_builder().build(&[&ir, &ir]).expect("kernel");
    assert!(
        chain.replace_ir(kernel).is_ok(),
        "kernel from this chain's own builder"
    );
    chain
}

fn print_figures() {
    print_case(false);
    print_case(true);
}

fn print_case(restoration: bool) {
    let input = if restoration {
        damaged_speech(20.0)
    } else {
        speech(20.0)
    };
    let mut chain = busy_chain_with(restoration);
    let m = support::measure(&input, |c| chain.process(c));
    let audio_s = input.len() as f32 / SR;
    if restoration {
        println!("full chain + every restoration stage on (de-clip, de-click, hum removal, noise reduction, expander, de-esser), damaged speech, stereo, 48 kHz, B=64, {audio_s:.0} s:");
    } else {
        println!("full chain (8-band EQ + compressor + 2 s IR, stereo, 48 kHz, B=64), {audio_s:.0} s of speech:");
    }
    println!(
        "  {:.2} % of one core ({:.4} CPU-s per audio-s, least-disturbed of {} passes); block p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs (budget {:.0} µs)",
        100.0 * m.cpu_per_audio_s,
        m.cpu_per_audio_s,
        support::PASSES,
        m.p50_us,
        m.p99_us,
        m.max_us,
        BLOCK as f64 / f64::from(SR) * 1e6
    );
}

fn bench_chain(c: &mut Criterion) {
    let input = speech(1.0);
    let mut chain = busy_chain();
    let (mut l, mut r) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
    let mut pos = 0;
    c.bench_function("chain stereo 48k B=64 2s IR", |b| {
        b.iter(|| {
            let block = &input[pos..pos + BLOCK];
            l.copy_from_slice(block);
            r.copy_from_slice(block);
            chain.process(&mut [&mut l, &mut r]);
            pos = (pos + BLOCK) % (input.len() - BLOCK);
        })
    });
}

fn bench_chain_restoration(c: &mut Criterion) {
    let input = damaged_speech(1.0);
    let mut chain = busy_chain_with(true);
    let (mut l, mut r) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
    let mut pos = 0;
    c.bench_function("chain + restoration stereo 48k B=64 2s IR", |b| {
        b.iter(|| {
            let block = &input[pos..pos + BLOCK];
            l.copy_from_slice(block);
            r.copy_from_slice(block);
            chain.process(&mut [&mut l, &mut r]);
            pos = (pos + BLOCK) % (input.len() - BLOCK);
        })
    });
}

criterion_group!(benches, bench_chain, bench_chain_restoration);

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this as a quick smoke test.
    if std::env::args().any(|a| a == "--bench") {
        print_figures();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
