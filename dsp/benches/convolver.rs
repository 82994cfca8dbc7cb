//! Convolver speed: Faurge's zero-latency partitioned convolver against the
//! `fft-convolver` crate's `FFTConvolver` (uniform) and `TwoStageFFTConvolver`,
//! 48 kHz mono, IR length {0.1, 0.5, 2} s × host block {64, 256}.
//!
//! Prints a table first (custom timing loop: `FAURGE_BENCH_SECONDS` of audio per
//! case, default 10; best of 3 runs): CPU seconds per audio second, measured as
//! the thread's own CPU time (Linux `/proc/thread-self/schedstat`, so time the
//! thread spent preempted by other processes does not count; wall time elsewhere),
//! and p50/p99/max wall time of one block (`Instant` around every block). Then runs
//! the same cases under criterion (mean time per block).
//!
//! `FAURGE_BENCH_ONLY=<engine>` and `FAURGE_BENCH_IR=<seconds>` restrict the table
//! (for profiling).
//!
//! `cargo bench -p faurge-dsp --bench convolver`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use faurge_dsp::convolver::{Convolver, ConvolverConfig};
use fft_convolver::{compute_tail_block_size, FFTConvolver, TwoStageFFTConvolver};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RATE: f32 = 48_000.0;
const IR_SECONDS: [f32; 3] = [0.1, 0.5, 2.0];
const BLOCKS: [usize; 2] = [64, 256];

/// Something that convolves one mono block (input → output).
trait Engine {
    fn block(&mut self, input: &[f32], output: &mut [f32]);
}

struct Faurge(Convolver);
impl Engine for Faurge {
    fn block(&mut self, input: &[f32], output: &mut [f32]) {
        output.copy_from_slice(input);
        self.0.process(&mut [output]);
    }
}

struct Uniform(FFTConvolver<f32>);
impl Engine for Uniform {
    fn block(&mut self, input: &[f32], output: &mut [f32]) {
        let _ = self.0.process(input, output);
    }
}

struct TwoStage(TwoStageFFTConvolver<f32>);
impl Engine for TwoStage {
    fn block(&mut self, input: &[f32], output: &mut [f32]) {
        let _ = self.0.process(input, output);
    }
}

const ENGINES: [&str; 3] = ["faurge", "FFTConvolver", "TwoStageFFTConvolver"];

fn ir(seconds: f32) -> Vec<f32> {
    let n = (seconds * RATE).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    (0..n)
        .map(|i| rng.gen_range(-1.0f32..1.0) * (-6.9 * i as f32 / n as f32).exp())
        .collect()
}

fn engine(name: &str, ir: &[f32], block: usize) -> Box<dyn Engine> {
    match name {
        "faurge" => {
            let seconds = ir.len() as f32 / RATE;
            let mut conv = Convolver::new(ConvolverConfig::new(RATE, 1, seconds));
            let kernel = conv.kernel_builder().build(&[ir]).expect("IR fits");
            conv.swap_kernel(kernel).expect("idle");
            conv.reset(); // completes the swap at once
            drop(conv.take_retired());
            Box::new(Faurge(conv))
        }
        "FFTConvolver" => {
            let mut c = FFTConvolver::default();
            c.init(block, ir).expect("init");
            Box::new(Uniform(c))
        }
        _ => {
            let mut c = TwoStageFFTConvolver::default();
            c.init(block, compute_tail_block_size(block, ir.len()), ir)
                .expect("init");
            Box::new(TwoStage(c))
        }
    }
}

struct Stats {
    cpu_per_audio_s: f64,
    wall_per_audio_s: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

fn measure(name: &str, ir: &[f32], block: usize, seconds: f64) -> Stats {
    let mut e = engine(name, ir, block);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let input: Vec<f32> = (0..RATE as usize)
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect();
    let mut out = vec![0.0f32; block];
    let blocks = (seconds * f64::from(RATE) / block as f64) as usize;
    let mut times = Vec::with_capacity(blocks);
    let mut pos = 0;
    let mut next = |e: &mut Box<dyn Engine>, out: &mut [f32]| {
        if pos + block > input.len() {
            pos = 0;
        }
        e.block(&input[pos..pos + block], out);
        pos += block;
    };
    // Warm-up: half a second of audio, untimed.
    for _ in 0..(RATE as usize / 2 / block) {
        next(&mut e, &mut out);
    }
    let start = Instant::now();
    let cpu_start = thread_cpu_ns();
    for _ in 0..blocks {
        let t = Instant::now();
        next(&mut e, &mut out);
        times.push(t.elapsed());
        black_box(&out);
    }
    let wall = start.elapsed().as_secs_f64();
    let total = match (cpu_start, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 * 1e-9,
        _ => wall,
    };
    let audio_s = (blocks * block) as f64 / f64::from(RATE);
    times.sort_unstable();
    let q = |f: f64| times[((times.len() - 1) as f64 * f).round() as usize].as_secs_f64() * 1e6;
    Stats {
        cpu_per_audio_s: total / audio_s,
        wall_per_audio_s: wall / audio_s,
        p50_us: q(0.50),
        p99_us: q(0.99),
        max_us: q(1.0),
    }
}

/// CPU time this thread has run, ns (Linux schedstat), or None elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn timing_table() {
    let only = std::env::var("FAURGE_BENCH_ONLY").ok();
    let only_ir: Option<f32> = std::env::var("FAURGE_BENCH_IR")
        .ok()
        .and_then(|s| s.parse().ok());
    let seconds: f64 = std::env::var("FAURGE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let cpu = if thread_cpu_ns().is_some() {
        "thread CPU time"
    } else {
        "wall time"
    };
    println!("\nconvolver timing, 48 kHz mono, {seconds} s of audio per case, best of 3 runs; CPU-s/audio-s from {cpu}");
    println!(
        "{:<22} {:>5} {:>6} {:>14} {:>15} {:>9} {:>9} {:>9}",
        "engine", "IR s", "block", "CPU-s/audio-s", "wall-s/audio-s", "p50 µs", "p99 µs", "max µs"
    );
    for &ir_s in IR_SECONDS
        .iter()
        .filter(|&&s| only_ir.is_none_or(|o| o == s))
    {
        let h = ir(ir_s);
        for &block in &BLOCKS {
            for name in ENGINES
                .iter()
                .filter(|&&n| only.as_deref().is_none_or(|o| o == n))
            {
                let best = (0..3)
                    .map(|_| measure(name, &h, block, seconds))
                    .min_by(|a, b| a.cpu_per_audio_s.total_cmp(&b.cpu_per_audio_s))
                    .expect("three runs");
                println!(
                    "{:<22} {:>5} {:>6} {:>14.5} {:>15.5} {:>9.2} {:>9.2} {:>9.2}",
                    name,
                    ir_s,
                    block,
                    best.cpu_per_audio_s,
                    best.wall_per_audio_s,
                    best.p50_us,
                    best.p99_us,
                    best.max_us
                );
            }
        }
    }
    println!();
}

fn criterion_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("convolver_block_48k_mono");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for &ir_s in &IR_SECONDS {
        let h = ir(ir_s);
        for &block in &BLOCKS {
            for name in ENGINES {
                let mut e = engine(name, &h, block);
                let input = vec![0.25f32; block];
                let mut out = vec![0.0f32; block];
                group.bench_function(BenchmarkId::new(name, format!("ir{ir_s}s_b{block}")), |b| {
                    b.iter(|| {
                        e.block(black_box(&input), &mut out);
                        black_box(&out);
                    })
                });
            }
        }
    }
    group.finish();
}

fn main() {
    timing_table();
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
