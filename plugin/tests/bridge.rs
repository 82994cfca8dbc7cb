//! The bridge thread with the real `faurge-helper` process over real IPC, driven by
//! the plugin's processor on a simulated audio thread that runs under `assert_no_alloc` the whole
//! time (including while a bake result is applied): a bake on the shipped speech
//! changes the processing without a click; a helper killed mid-bake, a stopped
//! (hung) helper and a missing helper are reported while audio keeps flowing, and
//! the next bake respawns the helper; no zombie is left.
//!
//! Needs the helper binary: `cargo build -p faurge-helper --bin faurge-helper`
//! (or `FAURGE_HELPER=…`); models from `FAURGE_MODELS` or `bundle/models`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faurge_instance::bridge::{BakePhase, BakeStatus, Bridge, BridgeConfig};
use faurge_params::{ParamTarget, PARAMS};
use faurge_plugin::bake::{self, apply_setting, apply_state, PluginSettings};
use faurge_plugin::param_writer::DirectParamWriter;
use faurge_plugin::params::{FaurgeParams, ParamHandle};
use faurge_plugin::processor::Processor;
use faurge_plugin::sides::PluginSession;
use faurge_protocol::ErrorKind;
use nice_assert_no_alloc::assert_no_alloc;

const RATE: f32 = 48_000.0;
const BLOCK: usize = 256;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn helper() -> PathBuf {
    if let Some(p) = std::env::var_os("FAURGE_HELPER") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let p = target.join("debug").join("faurge-helper");
    assert!(
        p.is_file(),
        "no helper at {}: run `cargo build -p faurge-helper --bin faurge-helper` or set FAURGE_HELPER",
        p.display()
    );
    p
}

fn models() -> Option<PathBuf> {
    std::env::var_os("FAURGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            Some(root().join("bundle/models")).filter(|p| p.join("manifest.json").is_file())
        })
}

fn config() -> BridgeConfig {
    let mut c = BridgeConfig::new(Some(helper()), models());
    c.bake_timeout = Duration::from_secs(60);
    c
}

/// The voiced part of the shipped VCTK clip at 48 kHz, mono.
fn speech() -> Vec<f32> {
    let mono = faurge_io::read(faurge_io::examples::VCTK_SPEECH)
        .unwrap()
        .resampled(RATE as u32)
        .unwrap()
        .to_mono();
    mono[(0.55 * RATE) as usize..(3.75 * RATE) as usize].to_vec()
}

/// One instance without a host: parameters, its sides, an active processor, and the
/// looping input position.
struct Rig {
    params: Arc<FaurgeParams>,
    session: Arc<PluginSession>,
    processor: Processor,
    input: Vec<f32>,
    pos: usize,
    /// Every output sample so far.
    out: Vec<f32>,
}

impl Rig {
    fn new() -> Rig {
        let session = Arc::new(PluginSession::default());
        let params = Arc::new(FaurgeParams::new());
        *params.prompt.write().unwrap() = "warm radio voice".into();
        let processor = Processor::new(RATE, 1, &params, &session).unwrap();
        Rig {
            params,
            session,
            processor,
            input: speech(),
            pos: 0,
            out: Vec::new(),
        }
    }

    /// One block on the "audio thread" (this thread), allocation-checked.
    fn block(&mut self) {
        let mut buf = [0.0f32; BLOCK];
        for b in buf.iter_mut() {
            *b = self.input[self.pos];
            self.pos = (self.pos + 1) % self.input.len();
        }
        let (processor, params, audio) = (&mut self.processor, &*self.params, &*self.session.audio);
        assert_no_alloc(|| {
            let mut chans: [&mut [f32]; 1] = [&mut buf];
            processor.process(&mut chans, params, audio);
        });
        assert!(buf.iter().all(|s| s.is_finite()), "non-finite output");
        self.out.extend_from_slice(&buf);
    }

    fn seconds(&mut self, s: f32) {
        for _ in 0..(s * RATE / BLOCK as f32) as usize {
            self.block();
        }
    }

    /// Keeps processing (paced at about 4× real time, leaving the CPU to the helper)
    /// until `done(status)` or `limit`; returns the status and the block count.
    fn run_until(
        &mut self,
        bridge: &Bridge,
        limit: Duration,
        done: impl Fn(&BakeStatus) -> bool,
    ) -> BakeStatus {
        let t0 = Instant::now();
        let status = bridge.status();
        loop {
            self.block();
            std::thread::sleep(Duration::from_micros(1300));
            let s = status.get();
            if done(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "no result within {limit:?}; status: {s:?}"
            );
        }
    }
}

fn finished(s: &BakeStatus) -> bool {
    matches!(s.phase, BakePhase::Applied(_) | BakePhase::Failed)
}

/// Largest absolute sample-to-sample step in `x`.
fn max_step(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Whether `pid` still exists (as a process or a zombie).
fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

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
fn a_real_bake_changes_the_processing_without_a_click() {
    let mut rig = Rig::new();
    let bridge = bake::start(rig.params.clone(), rig.session.clone(), config()).unwrap();
    rig.seconds(4.0);
    let state_before = rig.params.dsp_state();
    let ir_before = rig.params.ir();
    let before_start = rig.out.len() - rig.input.len();
    let before: Vec<f32> = rig.out[before_start..].to_vec();
    let phase_before = rig.pos;

    let t0 = Instant::now();
    rig.session.request_bake();
    let status = rig.run_until(&bridge, Duration::from_secs(60), finished);
    eprintln!(
        "request → applied: {:.2} s (helper start-up included)",
        t0.elapsed().as_secs_f32()
    );
    let BakePhase::Applied(summary) = &status.phase else {
        panic!("the bake failed: {status}");
    };
    let applied_at = rig.out.len();
    assert!(summary.params_set > 0, "{status}");
    assert!(rig.params.bake_report.read().unwrap().is_some());
    // Let the glide and the IR cross-fade finish, then render the same input again.
    rig.seconds(0.5);
    while rig.pos != phase_before {
        rig.block();
        if rig.pos < BLOCK && phase_before < BLOCK {
            break;
        }
    }
    let n = rig.input.len();
    let after_start = rig.out.len();
    for _ in 0..n.div_ceil(BLOCK) {
        rig.block();
    }
    let after = &rig.out[after_start..after_start + n.min(before.len())];
    let diff: Vec<f32> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let change = rms(&diff) / rms(&before);
    eprintln!(
        "bake: {status}; output changed by {:.1} % RMS ({} parameters, ir {})",
        100.0 * change,
        summary.params_set,
        summary.ir_queued
    );
    assert!(
        change > 0.01,
        "the bake did not change the output measurably ({change})"
    );

    // Click check: around the swap (from two blocks before the result was seen to
    // 50 ms after), the largest sample-to-sample step is at most 1.5× the largest
    // step the steady output before or after the bake has at the same input
    // positions (the input loops), plus 0.005 for the fade's own slope.
    let w0 = applied_at.saturating_sub(2 * BLOCK);
    let w1 = applied_at + (0.05 * RATE) as usize;
    let around = max_step(&rig.out[w0..w1]);
    let local_step = |steady: &[f32], start: usize| {
        (w0 + 1..w1)
            .map(|j| {
                let k = (j + n - start % n) % n;
                let k1 = (k + n - 1) % n;
                (steady[k] - steady[k1]).abs()
            })
            .fold(0.0f32, f32::max)
    };
    let steady = local_step(&before, before_start).max(local_step(after, after_start));
    eprintln!(
        "largest step around the swap {around:.4}; steady output at the same input positions {steady:.4}"
    );
    assert!(
        around <= 1.5 * steady + 0.005,
        "click: step {around} around the swap vs {steady} in steady output"
    );

    // The bake is in the editor's history: undo returns the settings and IR before
    // it, redo the bake's, through the same path the editor uses.
    let writer = DirectParamWriter::new(rig.params.clone(), rig.session.core.clone());
    let entry = rig.session.history.lock().unwrap().current().cloned();
    let entry = entry.expect("the applied bake was not recorded");
    assert_eq!(entry.prompt, "warm radio voice");
    assert!(entry.similarity.is_finite());
    assert!(same_settings(&entry.after.state, &rig.params.dsp_state()));
    assert_eq!(entry.after.ir, rig.params.ir());
    let undo = rig.session.history.lock().unwrap().undo().unwrap();
    apply_setting(&rig.params, &rig.session, &writer, &undo).unwrap();
    assert!(same_settings(&rig.params.dsp_state(), &state_before));
    assert_eq!(rig.params.ir(), ir_before);
    rig.seconds(0.1);
    let redo = rig.session.history.lock().unwrap().redo().unwrap();
    apply_setting(&rig.params, &rig.session, &writer, &redo).unwrap();
    assert!(same_settings(&rig.params.dsp_state(), &entry.after.state));
    assert_eq!(rig.params.ir(), entry.after.ir);
    drop(bridge);
}

/// Every parameter of `a` and `b` agrees to 1e-4 (relative).
fn same_settings(a: &faurge_dsp::state::DspState, b: &faurge_dsp::state::DspState) -> bool {
    PARAMS
        .iter()
        .all(|spec| match (spec.read(a), spec.read(b)) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-4 * x.abs().max(1.0),
            (x, y) => x == y,
        })
}

#[test]
fn cancel_stops_a_bake_and_changes_nothing() {
    let mut rig = Rig::new();
    let bridge = bake::start(rig.params.clone(), rig.session.clone(), config()).unwrap();
    rig.seconds(3.0);
    let state_before = rig.params.dsp_state();
    rig.session.request_bake();
    rig.run_until(&bridge, Duration::from_secs(30), |s| {
        matches!(s.phase, BakePhase::Baking(_)) || finished(s)
    });
    bridge.canceller().cancel();
    let s = rig.run_until(&bridge, Duration::from_secs(10), |s| {
        !matches!(s.phase, BakePhase::Starting | BakePhase::Baking(_))
    });
    assert_eq!(s.phase, BakePhase::Cancelled, "{s}");
    assert!(s.to_string().contains("cancelled"), "{s}");
    assert!(rig.params.bake_report.read().unwrap().is_none());
    assert!(same_settings(&rig.params.dsp_state(), &state_before));
    assert_eq!(rig.session.history.lock().unwrap().entries().len(), 0);
    // The next bake runs normally.
    rig.session.request_bake();
    let s = rig.run_until(&bridge, Duration::from_secs(60), finished);
    assert!(matches!(s.phase, BakePhase::Applied(_)), "{s}");
}

#[test]
fn a_killed_helper_is_reported_audio_continues_and_the_next_bake_respawns() {
    let mut rig = Rig::new();
    let bridge = bake::start(rig.params.clone(), rig.session.clone(), config()).unwrap();
    rig.seconds(3.0);
    let state_before = rig.params.dsp_state();

    rig.session.request_bake();
    let s = rig.run_until(&bridge, Duration::from_secs(30), |s| {
        finished(s) || (matches!(s.phase, BakePhase::Baking(_)) && s.helper_pid.is_some())
    });
    let pid = s.helper_pid.expect("helper pid");
    assert!(
        !finished(&s),
        "the bake finished before the kill could happen: {s}"
    );
    assert_eq!(libc_kill(pid as i32, libc::SIGKILL), 0);
    let s = rig.run_until(&bridge, Duration::from_secs(10), finished);
    assert_eq!(s.phase, BakePhase::Failed, "{s}");
    let err = s.last_error.clone().unwrap();
    assert_eq!(err.kind, ErrorKind::HelperDied, "{}", err.message);
    eprintln!("reported: {s}");
    assert_eq!(s.helper_pid, None);
    assert!(
        !pid_exists(pid) || !zombie(pid),
        "helper {pid} left as a zombie"
    );
    assert_eq!(
        rig.params.dsp_state(),
        state_before,
        "nothing may be applied"
    );
    // Audio kept flowing on the old state.
    let tail = rig.out.len() - BLOCK * 20;
    assert!(rms(&rig.out[tail..]) > 1e-3);

    rig.session.request_bake();
    let s = rig.run_until(&bridge, Duration::from_secs(60), |s| {
        s.started == 2 && finished(s)
    });
    assert!(matches!(s.phase, BakePhase::Applied(_)), "{s}");
    assert_eq!(s.helpers_spawned, 2);
    drop(bridge);
    assert!(
        !pid_exists(s.helper_pid.unwrap()),
        "helper not reaped after the bridge stopped"
    );
}

#[test]
fn a_hung_helper_times_out_and_a_missing_one_is_reported() {
    let mut rig = Rig::new();
    let mut cfg = config();
    cfg.bake_timeout = Duration::from_secs(2);
    let bridge = bake::start(rig.params.clone(), rig.session.clone(), cfg).unwrap();
    rig.seconds(2.0);
    // Stop the helper (SIGSTOP: the process exists but never answers, like a hang)
    // as soon as it is up; if the bake was already over, stop it and bake again.
    rig.session.request_bake();
    let s = rig.run_until(&bridge, Duration::from_secs(30), |s| {
        finished(s) || s.helper_pid.is_some()
    });
    let pid = s.helper_pid.expect("helper pid");
    assert_eq!(libc_kill(pid as i32, libc::SIGSTOP), 0);
    let bakes = if finished(&s) {
        rig.session.request_bake();
        2
    } else {
        1
    };
    let s = rig.run_until(&bridge, Duration::from_secs(10), |s| {
        s.started == bakes && finished(s)
    });
    assert_eq!(
        s.last_error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Timeout),
        "{s}"
    );
    assert_eq!(s.helper_pid, None);
    assert!(
        !pid_exists(pid),
        "the hung helper {pid} was not killed and reaped"
    );
    drop(bridge);

    let mut cfg = config();
    cfg.helper = Some(PathBuf::from("/nonexistent/faurge-helper"));
    let bridge = bake::start(rig.params.clone(), rig.session.clone(), cfg).unwrap();
    rig.session.request_bake();
    let s = rig.run_until(&bridge, Duration::from_secs(10), finished);
    assert_eq!(
        s.last_error.as_ref().map(|e| e.kind),
        Some(ErrorKind::HelperMissing),
        "{s}"
    );
    assert!(s.to_string().contains("FAURGE_HELPER"), "{s}");
}

/// A parameter the host changed a moment ago is not overwritten by a bake; the others are.
#[test]
fn a_held_parameter_is_left_alone() {
    let mut rig = Rig::new();
    rig.seconds(0.2);
    let writer = DirectParamWriter::new(rig.params.clone(), rig.session.core.clone());
    let trim = PARAMS
        .iter()
        .position(|p| p.target == ParamTarget::OutputTrim)
        .unwrap();
    // The host moves the output trim (like automation or a control surface).
    host_set(&rig.params, trim, 0.3);
    rig.seconds(0.05);
    let mut state = rig.params.dsp_state();
    state.output_trim_db = 6.0;
    state.compressor.threshold_db = -30.0;
    let (summary, applied) = apply_state(&rig.params, &rig.session, &writer, &state);
    assert_eq!(summary.params_held, 1, "{summary:?}");
    assert_eq!(summary.params_set, 1, "{summary:?}");
    assert!((rig.params.dsp_state().compressor.threshold_db + 30.0).abs() < 0.1);
    // What the bake applied (for the editor's history) keeps the held value.
    assert!((applied.compressor.threshold_db + 30.0).abs() < 0.1);
    assert_eq!(
        applied.output_trim_db,
        rig.params.dsp_state().output_trim_db
    );
    assert!((rig.params.dsp_state().output_trim_db - 6.0).abs() > 1.0);
    // Half a second later the host is no longer holding it.
    rig.seconds(0.6);
    let (summary, _) = apply_state(&rig.params, &rig.session, &writer, &state);
    assert_eq!(summary.params_set, 1, "{summary:?}");
    assert!((rig.params.dsp_state().output_trim_db - 6.0).abs() < 0.1);
    // The bridge's own write is not taken for a host change.
    rig.seconds(0.05);
    let (summary, _) = apply_state(&rig.params, &rig.session, &writer, &state);
    assert_eq!((summary.params_set, summary.params_held), (0, 0));
    // An editor gesture holds it too.
    rig.session.audio.activity.set_held(trim, true);
    state.output_trim_db = -3.0;
    assert_eq!(
        apply_state(&rig.params, &rig.session, &writer, &state)
            .0
            .params_held,
        1
    );
}

fn host_set(params: &FaurgeParams, index: usize, normalized: f32) {
    let ptr = match &params.handles()[index] {
        ParamHandle::Float(p) => nice_plug::prelude::Param::as_ptr(p),
        ParamHandle::Bool(p) => nice_plug::prelude::Param::as_ptr(p),
    };
    // SAFETY: `params` outlives the pointer.
    unsafe {
        ptr._internal_set_normalized_value(normalized);
        ptr._internal_update_smoother(RATE, false);
    }
}

fn libc_kill(pid: i32, sig: i32) -> i32 {
    // SAFETY: kill(2) only sends a signal.
    unsafe { libc::kill(pid, sig) }
}

/// A bake result (IR and new settings) applied the way the bridge thread applies it
/// (`faurge_instance::bridge::apply_result` over `PluginSettings`) on another
/// thread, ten times over, while the audio thread runs under `assert_no_alloc`: the
/// audio path neither allocates nor frees while a result lands, the output stays
/// finite, and the new IR and settings take effect. No helper needed.
#[test]
fn applying_a_result_never_allocates_on_the_audio_thread() {
    use faurge_instance::bridge::apply_result;
    use faurge_protocol::{BakeReport, BakeResult, IrAudio, PromptReport};

    let mut rig = Rig::new();
    rig.seconds(0.5);
    let settings = Arc::new(PluginSettings::new(rig.params.clone(), rig.session.clone()));
    let mut state = rig.params.dsp_state();
    state.compressor.enabled = true;
    state.compressor.threshold_db = -30.0;
    state.output_trim_db = -4.0;
    state.convolver.enabled = true;
    let ir: Vec<f32> = (0..4800)
        .map(|i| {
            if i == 0 {
                1.0
            } else {
                0.2 * (-(i as f32) / 500.0).exp() * ((i * 7919 % 13) as f32 / 6.5 - 1.0)
            }
        })
        .collect();
    let result = BakeResult {
        id: 1,
        dsp_state: state,
        ir: Some(IrAudio::new(RATE as u32, &ir)),
        report: BakeReport {
            prompt: PromptReport {
                original: "warm".into(),
                understood: "warm".into(),
                anchor: false,
                edits: Vec::new(),
                intent: "warmer +1".into(),
                unsupported: Vec::new(),
            },
            rounds: Vec::new(),
            best_round: 1,
            threshold: 0.85,
            converged: true,
            peak_memory_bytes: 0,
            memory_budget_bytes: 0,
            backend: "test".into(),
            total_ms: 0.0,
            input_metrics: None,
            output_metrics: None,
            input_similarity: 0.0,
            goals: Vec::new(),
            restoration: Vec::new(),
            applied: true,
            verdict: String::new(),
        },
    };
    let applier = {
        let (settings, core) = (settings.clone(), rig.session.core.clone());
        std::thread::spawn(move || {
            for _ in 0..10 {
                apply_result(&core, settings.as_ref(), &result).unwrap();
                std::thread::sleep(Duration::from_millis(30));
            }
        })
    };
    while !applier.is_finished() {
        rig.block();
    }
    applier.join().unwrap();
    rig.seconds(0.2);
    rig.session.core.collect_garbage();
    let now = rig.params.dsp_state();
    assert!(now.compressor.enabled);
    assert!((now.compressor.threshold_db + 30.0).abs() < 0.1);
    assert!((now.output_trim_db + 4.0).abs() < 0.1);
    assert_eq!(rig.params.ir().unwrap().channels[0].len(), ir.len());
    assert!(rig.params.bake_report.read().unwrap().is_some());
}
