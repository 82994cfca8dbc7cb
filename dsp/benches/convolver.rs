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
//! Two extra Faurge-only rows follow the sweep: "faurge swapping" (a new kernel
//! is queued again as soon as the previous swap retires, so both kernels are
//! computed most of the time) and 192 kHz stereo with a 2 s IR.
//!
//! `FAURGE_BENCH_ONLY=<engine>` and `FAURGE_BENCH_IR=<seconds>` restrict the table
//! (for profiling).
//!
//! `cargo bench -p faurge-dsp --bench convolver`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use faurge_dsp::convolver::{Convolver, ConvolverConfig, Kernel};
use fft_convolver::{compute_tail_block_size, FFTConvolver, TwoStageFFTConvolver};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const RATE: f32 = 48_000.0;
const IR_SECONDS: [f32; 3] = [0.1, 0.5, 2.0];
const BLOCKS: [usize; 2] = [64, 256];

/// Something that convolves one block: the mono input goes to every channel the
/// engine has; channel 0 of the result lands in `output`.
trait Convolution {
    fn block(&mut self, input: &[f32], output: &mut [f32]);
}

struct Faurge {
    conv: Convolver,
    /// Second channel's buffer (stereo cases), preallocated.
    right: Vec<f32>,
    /// Swap continuously between two kernels (worst case: both computed most of the time).
    swapping: bool,
    spare: Option<Box<Kernel>>,
}

impl Convolution for Faurge {
    fn block(&mut self, input: &[f32], output: &mut [f32]) {
        output.copy_from_slice(input);
        if self.conv.channels() == 2 {
            let right = &mut self.right[..input.len()];
            right.copy_from_slice(input);
            self.conv.process(&mut [output, right]);
        } else {
            self.conv.process(&mut [output]);
        }
        if self.swapping {
            if let Some(k) = self.conv.take_retired() {
                self.spare = Some(k);
            }
            if let Some(k) = self.spare.take() {
                if let Err(k) = self.conv.swap_kernel(k) {
                    self.spare = Some(k);
                }
            }
        }
    }
}

struct Uniform(FFTConvolver<f32>);
impl Convolution for Uniform {
    fn block(&mut self, input: &[f32], output: &mut [f32]) {
        let _ = self.0.process(input, output);
    }
}

struct TwoStage(TwoStageFFTConvolver<f32>);
impl Convolution for TwoStage {
    fn block(&mut self, input: &[f32], output: &mut [f32]) {
        let _ = self.0.process(input, output);
    }
}

const ENGINES: [&str; 3] = ["faurge", "FFTConvolver", "TwoStageFFTConvolver"];

/// One benchmark case.
#[derive(Clone, Copy)]
struct Case {
    engine: &'static str,
    rate: f32,
    channels: usize,
    ir_seconds: f32,
    block: usize,
}

/// Decaying noise (−60 dB at the end), seeded.
fn ir(seconds: f32, rate: f32, seed: u64) -> Vec<f32> {
    let n = (seconds * rate).round() as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| rng.gen_range(-1.0f32..1.0) * (-6.9 * i as f32 / n as f32).exp())
        .collect()
}

fn engine(case: Case) -> Box<dyn Convolution> {
    let h = ir(case.ir_seconds, case.rate, 7);
    match case.engine {
        "FFTConvolver" => {
            let mut c = FFTConvolver::default();
            c.init(case.block, &h).expect("init");
            Box::new(Uniform(c))
        }
        "TwoStageFFTConvolver" => {
            let mut c = TwoStageFFTConvolver::default();
            c.init(case.block, compute_tail_block_size(case.block, h.len()), &h)
                .expect("init");
            Box::new(TwoStage(c))
        }
        _ => {
            let config = ConvolverConfig::new(case.rate, case.channels, case.ir_seconds);
            let mut conv = Convolver::new(config);
            let kernel = conv.kernel_builder().build(&[&h]).expect("IR fits");
            conv.swap_kernel(kernel).expect("idle");
            conv.reset(); // completes the swap at once
            drop(conv.take_retired());
            let swapping = case.engine == "faurge swapping";
            let spare = swapping.then(|| {
                let other = ir(case.ir_seconds, case.rate, 8);
                conv.kernel_builder().build(&[&other]).expect("IR fits")
            });
            Box::new(Faurge {
                conv,
                right: vec![0.0; case.block],
                swapping,
                spare,
            })
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

fn measure(case: Case, seconds: f64) -> Stats {
    let block = case.block;
    let mut e = engine(case);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let input: Vec<f32> = (0..case.rate as usize)
        .map(|_| rng.gen_range(-1.0f32..1.0))
        .collect();
    let mut out = vec![0.0f32; block];
    let blocks = (seconds * f64::from(case.rate) / block as f64) as usize;
    let mut times = Vec::with_capacity(blocks);
    let mut pos = 0;
    let mut next = |e: &mut Box<dyn Convolution>, out: &mut [f32]| {
        if pos + block > input.len() {
            pos = 0;
        }
        e.block(&input[pos..pos + block], out);
        pos += block;
    };
    // Warm-up: half a second of audio, untimed.
    for _ in 0..(case.rate as usize / 2 / block) {
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
    let audio_s = (blocks * block) as f64 / f64::from(case.rate);
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

/// The sweep the speed bar is defined on, then two extra Faurge-only figures:
/// continuous kernel swapping (both kernels computed most of the time) and the
/// plugin's heaviest setting (192 kHz stereo, 2 s IR).
fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for ir_seconds in IR_SECONDS {
        for block in BLOCKS {
            for engine in ENGINES {
                v.push(Case {
                    engine,
                    rate: RATE,
                    channels: 1,
                    ir_seconds,
                    block,
                });
            }
        }
    }
    for block in BLOCKS {
        v.push(Case {
            engine: "faurge swapping",
            rate: RATE,
            channels: 1,
            ir_seconds: 2.0,
            block,
        });
    }
    for block in BLOCKS {
        v.push(Case {
            engine: "faurge",
            rate: 192_000.0,
            channels: 2,
            ir_seconds: 2.0,
            block,
        });
    }
    v
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
    println!("\nconvolver timing: {seconds} s of audio per case, best of 3 runs; CPU-s/audio-s from {cpu}");
    println!(
        "{:<22} {:>7} {:>3} {:>5} {:>6} {:>14} {:>15} {:>9} {:>9} {:>9}",
        "engine",
        "rate",
        "ch",
        "IR s",
        "block",
        "CPU-s/audio-s",
        "wall-s/audio-s",
        "p50 µs",
        "p99 µs",
        "max µs"
    );
    for case in cases().into_iter().filter(|c| {
        only.as_deref().is_none_or(|o| o == c.engine) && only_ir.is_none_or(|o| o == c.ir_seconds)
    }) {
        let best = (0..3)
            .map(|_| measure(case, seconds))
            .min_by(|a, b| a.cpu_per_audio_s.total_cmp(&b.cpu_per_audio_s))
            .expect("three runs");
        println!(
            "{:<22} {:>7} {:>3} {:>5} {:>6} {:>14.5} {:>15.5} {:>9.2} {:>9.2} {:>9.2}",
            case.engine,
            case.rate,
            case.channels,
            case.ir_seconds,
            case.block,
            best.cpu_per_audio_s,
            best.wall_per_audio_s,
            best.p50_us,
            best.p99_us,
            best.max_us
        );
    }
    println!();
}

fn criterion_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("convolver_block");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for case in cases() {
        let mut e = engine(case);
        let input = vec![0.25f32; case.block];
        let mut out = vec![0.0f32; case.block];
        let id = format!(
            "{}k_{}ch_ir{}s_b{}",
            case.rate / 1000.0,
            case.channels,
            case.ir_seconds,
            case.block
        );
        group.bench_function(BenchmarkId::new(case.engine, id), |b| {
            b.iter(|| {
                e.block(black_box(&input), &mut out);
                black_box(&out);
            })
        });
    }
    group.finish();
}

fn main() {
    timing_table();
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
