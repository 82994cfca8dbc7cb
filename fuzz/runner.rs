//! Runs a fuzz target on stable Rust for a bounded time: every file of its corpus
//! folder as it is, then mutations of them (bit flips, byte and integer
//! replacements with edge values, truncation, duplication, splicing), from a fixed
//! seed so a run can be repeated. A panic stops the run, also (for the targets
//! that ask) one the code under test caught itself; the input that caused it is
//! written to `target/fuzz-findings/` (add it to the corpus once fixed).
//!
//! `FAURGE_FUZZ_SECONDS` sets the time per target (default 3 s, what CI runs);
//! `FAURGE_FUZZ_SEED` the seed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: a small, repeatable source of mutations (quality is not the point).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Integers that break parsers: zero, one, signs, powers of two, all ones.
const EDGE: [u64; 10] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    u64::MAX,
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                // An edge value written over 1, 2, 4 or 8 bytes, either endianness.
                let width = 1 << rng.below(4);
                let v = EDGE[rng.below(EDGE.len())];
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let at = rng.below(len);
                for (k, b) in bytes.iter().take(width).enumerate() {
                    if let Some(x) = input.get_mut(at + k) {
                        *x = *b;
                    }
                }
            }
            3 if len > 0 => input.truncate(rng.below(len)),
            4 if len > 0 => {
                let a = rng.below(len);
                let n = rng.below((len - a).min(256)) + 1;
                let chunk: Vec<u8> = input[a..a + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            5 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let fresh: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(at..at, fresh);
            }
            6 if !seeds.is_empty() => {
                // Splice: the head of this input, the tail of another seed.
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            _ => {
                let at = rng.below(len + 1);
                input.insert(at, rng.next() as u8);
            }
        }
    }
    // Inputs stay small: the targets' cost is in their parsing, not in the size.
    input.truncate(64 * 1024);
}

/// The seeds of `name`: every file in `fuzz/corpus/<name>/`.
fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("a corpus file"))
        .collect()
}

thread_local! {
    /// Panics on this thread since the last input, caught or not.
    static PANICS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Installs (once) a panic hook that counts panics per thread, then reports them
/// as the default hook does.
fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            default(info);
        }));
    });
}

/// What one run did.
pub struct Stats {
    /// Inputs tried (the corpus included).
    pub runs: u64,
    /// Corpus files.
    pub seeds: usize,
}

/// Runs `target` on the corpus of `name`, then on mutations, for the time budget.
/// Panics (naming the saved input) when `target` panics, and, with
/// `caught_count`, also when a panic was caught inside it.
pub fn fuzz(
    name: &str,
    caught_count: bool,
    target: impl Fn(&[u8]) + std::panic::RefUnwindSafe,
) -> Stats {
    let seconds: f64 = std::env::var("FAURGE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let seed: u64 = std::env::var("FAURGE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d);
    let seeds = corpus(name);
    assert!(!seeds.is_empty(), "the corpus of {name} is empty");
    let budget = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    let mut runs = 0u64;
    count_panics();
    let mut try_one = |input: &[u8]| {
        runs += 1;
        PANICS.with(|p| p.set(0));
        let unwound = std::panic::catch_unwind(|| target(input)).is_err();
        // A panic the code under test caught itself (a decoder guarded with
        // `catch_unwind`) is a finding too: the guard is a last resort.
        if unwound || (caught_count && PANICS.with(|p| p.get()) > 0) {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-findings");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{name}-{runs}"));
            let _ = std::fs::write(&file, input);
            panic!(
                "fuzz target {name} panicked on input {runs} ({} bytes), saved to {}",
                input.len(),
                file.display()
            );
        }
    };
    for s in &seeds {
        try_one(s);
    }
    while started.elapsed() < budget {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &seeds, &mut input);
        try_one(&input);
    }
    Stats {
        runs,
        seeds: seeds.len(),
    }
}
