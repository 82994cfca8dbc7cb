//! A bake from inside a real CLAP host (clack-host), through the bundled plugin's
//! bridge thread and the real `faurge-helper` process the bundle ships next to it:
//! the Bake trigger's rising edge starts it, the result changes the processing
//! measurably, the change is a click-free cross-fade, the host reads the new values
//! through `params.get_value` and saves them; a helper killed with SIGKILL mid-bake
//! leaves audio running and no zombie, and the next Bake respawns it.
//!
//! Without an open editor nice-plug 0.4.2 cannot send parameter gesture events
//! (see `faurge_plugin::param_writer`), so this test asserts the values the host reads, not
//! output events. The bundle is built with `assert_process_allocs`: any allocation in
//! `process()` while a result is applied aborts this test.
//!
//! Models: `FAURGE_MODELS` if set, else the bundle's `faurge/models`.

use std::path::Path;
use std::time::{Duration, Instant};

use faurge_clap_host_tests::{bundles, parse_state, state_blob, voiced_speech, Library, Looper};

const ID: &str = "com.github.faurge.faurge";
const RATE: u32 = 48_000;
/// One loop of the input: the 3.2 s voiced part of the VCTK clip.
const PERIOD: usize = (3.2 * RATE as f64) as usize;
/// Host block size.
const BLOCK: usize = 256;
/// Processing chunk between main-thread checks, frames (0.1 s).
const CHUNK: usize = 4800;

fn session() -> Vec<u8> {
    state_blob(
        "0.1.0",
        &[],
        &[
            ("format", "1".to_string()),
            ("prompt", "\"warm radio voice\"".to_string()),
        ],
    )
}

/// The host side of one running instance: loops the speech period through it and
/// keeps every output sample.
struct Session {
    l: Looper,
    out: Vec<Vec<f32>>,
}

impl Session {
    fn new() -> Session {
        faurge_clap_host_tests::use_workspace_helper();
        let mut p = Library::load(&bundles().clap).instantiate(ID);
        assert!(p.load_state(&session()));
        let active = p.activate(RATE as f64, 4096).expect("activate");
        let left = voiced_speech(RATE, 3.2);
        assert_eq!(left.len(), PERIOD);
        let right: Vec<f32> = left.iter().map(|v| 0.8 * v).collect();
        let input: Vec<Vec<f32>> = [left, right].into_iter().take(active.channels).collect();
        let channels = input.len();
        Session {
            l: Looper::new(p, active, input),
            out: vec![Vec::new(); channels],
        }
    }

    /// Processes `frames` more frames of the looped input; flips the Bake trigger at
    /// the first frame when `toggle_bake`.
    fn run(&mut self, frames: usize, toggle_bake: bool) {
        let out = self.l.run(frames, BLOCK, toggle_bake);
        for (o, c) in self.out.iter_mut().zip(out.audio) {
            o.extend(c);
        }
    }

    /// Runs up to the start of the next period.
    fn align(&mut self) {
        if self.l.pos() != 0 {
            self.run(PERIOD - self.l.pos(), false);
        }
    }

    fn report(&mut self) -> Option<String> {
        self.l.report()
    }

    /// Every parameter's plain value as the host reads it.
    fn values(&mut self) -> Vec<f64> {
        let names: Vec<String> = self.l.p.params().iter().map(|d| d.name.clone()).collect();
        names.iter().map(|n| self.l.p.value(n)).collect()
    }

    /// Starts a bake (Bake off→on, or on→off→on) and processes until the saved report
    /// differs from `old` or `limit` passes; returns the frame at which it was seen.
    fn bake(&mut self, old: &Option<String>, limit: Duration) -> Option<usize> {
        if self.l.bake_on() {
            self.run(BLOCK, true);
        }
        self.run(CHUNK, true);
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            self.run(CHUNK, false);
            if self.report() != *old {
                return Some(self.out[0].len());
            }
        }
        None
    }
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

fn max_step(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

/// Pids of this process's children named `faurge-helper`.
fn helper_children() -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{me}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "faurge-helper" {
                out.push(pid);
            }
        }
    }
    out
}

/// The two tests run one after the other: both look at this process's helper children.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn a_bake_in_the_host_changes_the_processing_with_a_click_free_cross_fade() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut s = Session::new();
    s.run(PERIOD, false);
    let before_at = s.out[0].len();
    s.run(PERIOD, false);
    let before: Vec<f32> = s.out[0][before_at..].to_vec();
    let values_before = s.values();

    let seen = s
        .bake(&None, Duration::from_secs(60))
        .expect("no bake report within 60 s: the bake failed (is the helper's real loop built?)");
    let report = s.report().unwrap();
    assert!(report.contains("rounds"), "{report}");
    s.align();
    let after_at = s.out[0].len();
    s.run(PERIOD, false);
    let after: Vec<f32> = s.out[0][after_at..].to_vec();

    let diff: Vec<f32> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let change = rms(&diff) / rms(&before);
    let values_after = s.values();
    let changed = values_before
        .iter()
        .zip(&values_after)
        .filter(|(a, b)| (*a - *b).abs() > 1e-6)
        .count();
    eprintln!(
        "output changed by {:.1} % RMS; {changed} parameters changed",
        100.0 * change
    );
    assert!(
        change > 0.01,
        "the bake did not change the output ({change})"
    );
    assert!(changed > 0, "the host reads no changed parameter value");

    // The swap happens within the chunk where the report appeared (or the one
    // before). From 2 chunks before to 50 ms after, the largest sample-to-sample step
    // is at most 1.5× the largest step the steady output before or after the bake
    // has at the same input positions (output frame j plays input frame j mod
    // PERIOD), plus 0.005 for the fades' own slope.
    let w0 = seen.saturating_sub(2 * CHUNK).max(1);
    let w1 = (seen + RATE as usize / 20).min(s.out[0].len());
    let around = max_step(&s.out[0][w0..w1]);
    let local = |steady: &[f32]| {
        (w0 + 1..w1)
            .map(|j| {
                let k = j % PERIOD;
                (steady[k] - steady[(k + PERIOD - 1) % PERIOD]).abs()
            })
            .fold(0.0f32, f32::max)
    };
    let steady = local(&before).max(local(&after));
    eprintln!("largest step around the swap {around:.4}; steady output at the same input positions {steady:.4}");
    assert!(
        around <= 1.5 * steady + 0.005,
        "click: {around} vs {steady}"
    );

    // The saved session carries the new values and the IR.
    let state = parse_state(&s.l.p.save_state());
    assert!(state["fields"]["bake_report"].is_string());
}

#[test]
fn a_helper_killed_mid_bake_leaves_audio_running_and_the_next_bake_succeeds() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut s = Session::new();
    s.run(PERIOD, false);
    let before = helper_children();
    // Start a bake and kill the helper as soon as it exists.
    s.run(CHUNK, true);
    let t0 = Instant::now();
    let pid = loop {
        if let Some(&pid) = helper_children().iter().find(|p| !before.contains(p)) {
            break pid;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no helper process started"
        );
        s.run(BLOCK, false);
    };
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc_kill(pid as i32, 9) }, 0);
    let from = s.out[0].len();
    s.run(RATE as usize, false);
    assert!(
        rms(&s.out[0][from..]) > 1e-3,
        "audio stopped after the helper died"
    );
    assert_eq!(
        s.report(),
        None,
        "nothing may be applied from a killed bake"
    );
    let t0 = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            !zombie(pid) || t0.elapsed() < Duration::from_secs(3),
            "helper {pid} left as a zombie"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "helper {pid} not reaped"
        );
        s.run(CHUNK, false);
    }

    let seen = s.bake(&None, Duration::from_secs(60));
    assert!(seen.is_some(), "the bake after the kill did not succeed");
    assert!(helper_children().iter().all(|p| *p != pid));
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
