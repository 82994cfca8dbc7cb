//! What the benches that print CPU figures (`chain`, `restore`) share: the test signal
//! and the measurement.

use std::time::Instant;

use faurge_dsp::degrade::{Degradation, NoiseColor, PopShape};

/// Session rate of the figures, Hz.
pub const SR: f32 = 48_000.0;
/// Host block, samples.
pub const BLOCK: usize = 64;
/// Passes over the input per case; the CPU figure is the least-disturbed pass (the
/// lowest CPU time: on a shared machine, interference only ever adds).
pub const PASSES: usize = 3;

/// `seconds` of the shipped VCTK example, looped, mono.
pub fn speech(seconds: f32) -> Vec<f32> {
    let x = faurge_io::read(faurge_io::examples::VCTK_SPEECH)
        .expect("shipped example")
        .to_mono();
    x.iter()
        .cycle()
        .take((seconds * SR) as usize)
        .copied()
        .collect()
}

/// [`speech`] with pink noise at 15 dB SNR, a 3 ms click every second and 6 dB of drive
/// into a hard clip: every restoration stage has work.
pub fn damaged_speech(seconds: f32) -> Vec<f32> {
    let mut x = [speech(seconds)];
    for (i, d) in [
        Degradation::Noise {
            color: NoiseColor::Pink,
            snr_db: 15.0,
        },
        Degradation::Pops {
            shape: PopShape::Click { decay_ms: 3.0 },
            peak_db_re_signal_peak: -12.0,
            first_pop_s: 0.3,
        },
        Degradation::Clipping { drive_db: 6.0 },
    ]
    .iter()
    .enumerate()
    {
        d.apply(&mut x, SR, i as u64).expect("degradation");
    }
    let [x] = x;
    x
}

/// CPU cost of a stereo processor on `input` (the same signal in both channels).
pub struct Figures {
    /// CPU seconds per audio second of the least-disturbed pass (× 100: % of one core).
    pub cpu_per_audio_s: f64,
    /// Wall time of one block over all passes: median, 99th percentile, maximum, µs.
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

/// Runs `process` over `input` in [`BLOCK`]-sample stereo blocks, [`PASSES`] times
/// (the processor's state carries on from pass to pass).
pub fn measure(input: &[f32], mut process: impl FnMut(&mut [&mut [f32]])) -> Figures {
    let (mut l, mut r) = (vec![0.0f32; BLOCK], vec![0.0f32; BLOCK]);
    let mut times = Vec::with_capacity(PASSES * input.len() / BLOCK);
    let mut best_cpu = f64::INFINITY;
    for _ in 0..PASSES {
        let cpu0 = cpu_time_s();
        for block in input.chunks_exact(BLOCK) {
            l.copy_from_slice(block);
            r.copy_from_slice(block);
            let t = Instant::now();
            process(&mut [&mut l, &mut r]);
            times.push(t.elapsed().as_secs_f64());
        }
        best_cpu = best_cpu.min(cpu_time_s() - cpu0);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize] * 1e6;
    Figures {
        cpu_per_audio_s: best_cpu / (input.len() as f64 / f64::from(SR)),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        max_us: times[times.len() - 1] * 1e6,
    }
}

/// Process CPU time (all threads), seconds.
fn cpu_time_s() -> f64 {
    cpu_time::ProcessTime::now().as_duration().as_secs_f64()
}
