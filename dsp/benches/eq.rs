//! Criterion benchmark of the 8-band EQ: stereo, 48 kHz, 64-sample blocks, with
//! every band enabled (settled and while gliding) and with the default
//! (transparent, all bypassed) setting. Reports time per 64-sample block.
//!
//! Run: `cargo bench -p faurge-dsp --bench eq`.

// `criterion_main!` defines an undocumented `pub fn main`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use faurge_dsp::eq::Eq;
use faurge_dsp::state::{EqBandState, EqState};

const SAMPLE_RATE: f32 = 48_000.0;
const BLOCK: usize = 64;

fn band(freq_hz: f32, gain_db: f32, q: f32) -> EqBandState {
    EqBandState {
        enabled: true,
        freq_hz,
        gain_db,
        q,
    }
}

/// All eight bands enabled.
fn setting_a() -> EqState {
    EqState {
        bands: [
            band(60.0, 0.0, 0.707),
            band(150.0, 4.0, 0.707),
            band(300.0, -3.0, 1.5),
            band(1200.0, 5.0, 2.0),
            band(3500.0, -6.0, 0.8),
            band(7000.0, 3.0, 3.0),
            band(9000.0, -4.0, 0.707),
            band(16_000.0, 0.0, 0.707),
        ],
    }
}

/// All eight bands enabled, every parameter different from `setting_a`.
fn setting_b() -> EqState {
    EqState {
        bands: [
            band(90.0, 0.0, 1.0),
            band(250.0, -5.0, 0.5),
            band(500.0, 6.0, 3.0),
            band(2000.0, -4.0, 1.0),
            band(5000.0, 4.0, 0.6),
            band(10_000.0, -3.0, 5.0),
            band(12_000.0, 5.0, 1.0),
            band(14_000.0, 0.0, 1.2),
        ],
    }
}

/// A deterministic stereo test block (two detuned sine mixes).
fn input() -> [[f32; BLOCK]; 2] {
    let mut x = [[0.0f32; BLOCK]; 2];
    for (ch, buf) in x.iter_mut().enumerate() {
        for (i, v) in buf.iter_mut().enumerate() {
            let t = i as f32 / SAMPLE_RATE;
            let f = 220.0 * (ch + 1) as f32;
            *v = 0.3 * (std::f32::consts::TAU * f * t).sin()
                + 0.1 * (std::f32::consts::TAU * 13.7 * f * t).sin();
        }
    }
    x
}

fn bench_eq(c: &mut Criterion) {
    let src = input();
    let mut group = c.benchmark_group("eq_stereo_48k_b64");
    group.throughput(Throughput::Elements(BLOCK as u64));

    // Fresh input every block (a 2×64 copy, included in the time) so repeated
    // boosts never run the signal off to infinity.
    let mut settled = Eq::new(SAMPLE_RATE);
    settled.snap_to(&setting_a());
    let mut buf = src;
    group.bench_function("8_bands_settled", |b| {
        b.iter(|| {
            buf = src;
            let [l, r] = &mut buf;
            settled.process(black_box(&mut [&mut l[..], &mut r[..]]));
        })
    });

    // A new target every block restarts the glide, so all eight bands are
    // always gliding: designs every 16 samples plus per-sample interpolation.
    let mut gliding = Eq::new(SAMPLE_RATE);
    gliding.snap_to(&setting_a());
    let (a, bs) = (setting_a(), setting_b());
    let mut flip = false;
    group.bench_function("8_bands_gliding", |b| {
        b.iter(|| {
            flip = !flip;
            gliding.set_target(if flip { &bs } else { &a });
            buf = src;
            let [l, r] = &mut buf;
            gliding.process(black_box(&mut [&mut l[..], &mut r[..]]));
        })
    });

    let mut transparent = Eq::new(SAMPLE_RATE);
    group.bench_function("default_all_bypassed", |b| {
        b.iter(|| {
            buf = src;
            let [l, r] = &mut buf;
            transparent.process(black_box(&mut [&mut l[..], &mut r[..]]));
        })
    });
    group.finish();
}

criterion_group!(benches, bench_eq);
criterion_main!(benches);
