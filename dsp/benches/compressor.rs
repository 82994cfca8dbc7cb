//! Criterion benchmark of the compressor: stereo speech in 64- and 512-frame blocks,
//! settled, gliding, and disabled (bypass). Reported per block; divide by the block
//! length for ns per frame.

// `criterion_main!` defines an undocumented `pub fn main`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faurge_dsp::compressor::Compressor;
use faurge_dsp::state::CompressorState;

use faurge_io::examples::VCTK_SPEECH as SPEECH_48K;

fn bench(c: &mut Criterion) {
    let speech = faurge_io::read(SPEECH_48K)
        .expect("shipped clip reads")
        .to_mono();
    let on = CompressorState {
        enabled: true,
        threshold_db: -30.0,
        ratio: 4.0,
        knee_db: 6.0,
        attack_ms: 5.0,
        release_ms: 120.0,
        makeup_db: 6.0,
    };
    let mut other = on;
    other.threshold_db = -20.0;
    other.makeup_db = 3.0;
    let off = CompressorState {
        enabled: false,
        ..on
    };
    let mut group = c.benchmark_group("compressor");
    for block in [64usize, 512] {
        group.throughput(Throughput::Elements(block as u64));
        for (name, mono) in [("stereo", false), ("mono", true)] {
            let mut comp = Compressor::new(48_000.0);
            comp.snap_to(&on);
            let (mut l, mut r) = (vec![0.0f32; block], vec![0.0f32; block]);
            let mut pos = 0;
            group.bench_function(BenchmarkId::new(format!("settled_{name}"), block), |b| {
                b.iter(|| {
                    if pos + block > speech.len() {
                        pos = 0;
                    }
                    l.copy_from_slice(&speech[pos..pos + block]);
                    r.copy_from_slice(&speech[pos..pos + block]);
                    pos += block;
                    if mono {
                        comp.process(&mut [black_box(&mut l[..])]);
                    } else {
                        comp.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])]);
                    }
                })
            });
        }
        let mut comp = Compressor::new(48_000.0);
        comp.snap_to(&on);
        let (mut l, mut r) = (vec![0.0f32; block], vec![0.0f32; block]);
        let mut pos = 0;
        let mut flip = false;
        group.bench_function(BenchmarkId::new("gliding_stereo", block), |b| {
            b.iter(|| {
                if pos + block > speech.len() {
                    pos = 0;
                }
                l.copy_from_slice(&speech[pos..pos + block]);
                r.copy_from_slice(&speech[pos..pos + block]);
                pos += block;
                flip = !flip;
                comp.set_target(if flip { &other } else { &on });
                comp.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])]);
            })
        });
        let mut comp = Compressor::new(48_000.0);
        comp.snap_to(&off);
        let (mut l, mut r) = (vec![0.1f32; block], vec![0.1f32; block]);
        group.bench_function(BenchmarkId::new("disabled_stereo", block), |b| {
            b.iter(|| comp.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])]))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
