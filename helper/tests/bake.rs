//! The helper as a real child process over real IPC, with the shipped models:
//! a bake on real speech, progress order, cancel, the round limit, and fault
//! injection (kill -9 mid-bake, a frozen helper, missing and corrupt models, a
//! 100 kB prompt). Every spawned helper is reaped; the last test checks for zombies.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use faurge_dsp::state::DspState;
use faurge_protocol::client::{ClientError, HelperClient, HelperCommand};
use faurge_protocol::{
    BakeOptions, BakeRequest, ErrorKind, Progress, ReferenceAudio, Reflection, Stage,
};

fn models_dir() -> PathBuf {
    std::env::var_os("FAURGE_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models"))
}

fn helper(models: &Path, extra: &[&str]) -> HelperCommand {
    let mut cmd = HelperCommand::new(env!("CARGO_BIN_EXE_faurge-helper"))
        .arg("--models")
        .arg(models);
    for a in extra {
        cmd = cmd.arg(*a);
    }
    cmd
}

fn spawn(extra: &[&str]) -> HelperClient {
    HelperClient::spawn(&helper(&models_dir(), extra), Duration::from_secs(60))
        .expect("the helper starts with the shipped models")
        .0
}

/// The shipped degraded clip, first `seconds` s.
fn speech(seconds: f32) -> (u32, Vec<f32>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/degraded_vctk_p236_023.wav");
    let a = faurge_io::read(&path).expect("shipped clip");
    let n = ((seconds * a.sample_rate as f32) as usize).min(a.frames());
    (a.sample_rate, a.channels[0][..n].to_vec())
}

fn request(id: u64, prompt: &str, options: BakeOptions) -> BakeRequest {
    let (sr, audio) = speech(4.0);
    BakeRequest::new(
        id,
        prompt.to_owned(),
        sr,
        &[&audio],
        DspState::default(),
        options,
    )
    .expect("valid request")
}

const TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn a_bake_on_real_speech_returns_a_valid_state_a_finite_ir_and_ordered_progress() {
    let mut client = spawn(&[]);
    let mut seen: Vec<Progress> = Vec::new();
    let opts = BakeOptions {
        max_rounds: 3,
        threshold: Some(1.0), // never reached: every round runs
        ..BakeOptions::default()
    };
    let result = client
        .bake(
            // A room is asked for, so the bake returns an impulse response.
            request(7, "warm radio voice with some reverb", opts),
            TIMEOUT,
            |p| seen.push(p.clone()),
            &AtomicBool::new(false),
        )
        .expect("bake");
    assert_eq!(result.id, 7);
    result.dsp_state.validate().expect("a valid state");
    assert_ne!(
        result.dsp_state,
        DspState::default(),
        "the bake changed something"
    );
    let ir = result.ir_samples().expect("ir");
    assert!(!ir.is_empty() && ir.iter().all(|v| v.is_finite()));
    assert!(ir.iter().map(|v| v.abs()).fold(0.0, f32::max) > 1e-3);

    // Progress: sanitize first, done last, rounds never go back, stages in order within a round.
    assert_eq!(seen.first().map(|p| p.stage), Some(Stage::Sanitize));
    assert_eq!(seen.last().map(|p| p.stage), Some(Stage::Done));
    for w in seen.windows(2) {
        assert!(w[1].round >= w[0].round, "{:?} then {:?}", w[0], w[1]);
        if w[1].round == w[0].round && w[1].stage != Stage::Done {
            assert!(
                w[1].stage > w[0].stage,
                "{:?} then {:?}",
                w[0].stage,
                w[1].stage
            );
        }
    }
    // The round limit holds and every round is reported with its S_C and timings.
    let r = &result.report;
    assert_eq!(r.rounds.len(), 3);
    assert!(!r.converged);
    assert!((1..=3).contains(&r.best_round));
    // The returned round is one that meets the most goals.
    let most = r.rounds.iter().map(|x| x.goals_met).max().unwrap_or(0);
    assert_eq!(r.rounds[r.best_round as usize - 1].goals_met, most);
    assert!(r
        .rounds
        .iter()
        .all(|x| x.blueprint_distance_db.is_finite() && x.fabian_gap_db > 0.0));
    assert_eq!(
        r.rounds[r.best_round as usize - 1].dsp_state,
        result.dsp_state
    );
    assert!(r
        .rounds
        .iter()
        .all(|x| x.similarity.is_finite() && !x.timings_ms.is_empty()));
    // The integrator moves the targets between rounds.
    assert_ne!(r.rounds[0].target_ltas_db, r.rounds[1].target_ltas_db);
    assert!(
        r.prompt.understood.contains("warm") && r.prompt.understood.contains("radio"),
        "{}",
        r.prompt.understood
    );
    assert!(r.peak_memory_bytes > 0 && r.peak_memory_bytes <= r.memory_budget_bytes);
    assert_eq!(r.backend, "tract");
    // Loudness is closed in the loop: the output is at the best round's target.
    let out = r
        .output_metrics
        .as_ref()
        .and_then(|m| m.lufs)
        .expect("output LUFS");
    let target = r.rounds[r.best_round as usize - 1].target_lufs;
    assert!(
        (out - target).abs() < 0.5 || result.dsp_state.output_trim_db.abs() >= 23.9,
        "{out} vs {target}"
    );
    client.shutdown();
}

/// Prompt by example: the rounds correct the convolver's curve by the measured miss,
/// come closer to the reference than the first round, and the IR returned is the
/// chosen round's (rendered with its state, it gives that round's distance).
#[test]
fn a_bake_by_example_comes_closer_round_by_round_and_returns_the_chosen_rounds_ir() {
    let mut client = spawn(&[]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/speech_vctk_p234_012.wav");
    let r = faurge_io::read(&path).expect("shipped clip");
    let opts = BakeOptions {
        max_rounds: 4,
        reference: Some(ReferenceAudio::new(r.sample_rate, &[&r.channels[0]]).unwrap()),
        reference_only: true,
        ..BakeOptions::default()
    };
    let result = client
        .bake(
            request(9, "", opts),
            TIMEOUT,
            |_| {},
            &AtomicBool::new(false),
        )
        .expect("bake");
    let rounds = &result.report.rounds;
    assert!(rounds.len() >= 2, "only {} round(s)", rounds.len());
    let distance = |k: usize| rounds[k].blueprint_distance_db;
    let best = result.report.best_round as usize - 1;
    println!(
        "distances by round {:?}, chosen {}",
        rounds
            .iter()
            .map(|r| r.blueprint_distance_db)
            .collect::<Vec<_>>(),
        best + 1
    );
    assert!(
        distance(best) < distance(0) - 0.1,
        "no closer than round 1: {:?}",
        rounds
            .iter()
            .map(|r| r.blueprint_distance_db)
            .collect::<Vec<_>>()
    );
    assert!((0..rounds.len()).all(|k| distance(best) <= distance(k)));
    assert_eq!(result.dsp_state, rounds[best].dsp_state);
    // The returned IR is the one the chosen round rendered with: its correction curve.
    // (No room is asked for, so the IR has no tail and the seed does not matter.)
    let p = &rounds[best].ir_params;
    let n = faurge_dsp::ir::IR_CURVE_POINTS;
    assert_eq!(p.len(), n + 4);
    assert!(p[n] <= faurge_dsp::ir::WET_OFF_DB, "no tail: {}", p[n]);
    let params = faurge_dsp::ir::IrParams {
        correction_db: std::array::from_fn(|i| p[i]),
        wet_db: p[n],
        rt60_s: p[n + 1],
        predelay_ms: p[n + 2],
        hf_damping: p[n + 3],
        ..faurge_dsp::ir::IrParams::neutral()
    };
    let rate = result.ir.as_ref().expect("an IR").sample_rate;
    let want = faurge_dsp::ir::synthesize_ir(&params, rate as f32);
    assert_eq!(result.ir_samples().unwrap(), want);
}

#[test]
fn cancel_stops_a_bake_and_the_helper_serves_the_next_one() {
    let mut client = spawn(&[]);
    let cancel = AtomicBool::new(false);
    let opts = BakeOptions {
        max_rounds: 16,
        threshold: Some(1.0),
        ..BakeOptions::default()
    };
    let err = client
        .bake(
            request(1, "bright", opts),
            TIMEOUT,
            |p| {
                if p.stage == Stage::Ursula {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        )
        .expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let ok = client.bake(
        request(
            2,
            "bright",
            BakeOptions {
                max_rounds: 1,
                ..BakeOptions::default()
            },
        ),
        TIMEOUT,
        |_| {},
        &AtomicBool::new(false),
    );
    assert_eq!(ok.expect("next bake").report.rounds.len(), 1);
    client.shutdown();
}

#[test]
fn a_100_kb_prompt_is_cut_and_reported_not_fatal() {
    let mut client = spawn(&[]);
    let prompt = "warm ".repeat(20_000) + "\u{0}\u{7}🔥";
    let r = client
        .bake(
            request(
                3,
                &prompt,
                BakeOptions {
                    max_rounds: 1,
                    ..BakeOptions::default()
                },
            ),
            TIMEOUT,
            |_| {},
            &AtomicBool::new(false),
        )
        .expect("bake");
    assert!(r.report.prompt.understood.len() <= 200);
    assert!(r
        .report
        .prompt
        .edits
        .iter()
        .any(|e| e.kind == faurge_protocol::EditKind::Truncated));
    client.shutdown();
}

fn is_zombie_or_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.split_whitespace().nth(2) == Some("Z"),
    }
}

#[test]
fn kill_9_mid_bake_is_reported_and_a_new_helper_bakes() {
    let mut client = spawn(&[]);
    let pid = client.pid().expect("pid");
    let opts = BakeOptions {
        max_rounds: 16,
        threshold: Some(1.0),
        ..BakeOptions::default()
    };
    let mut killed = false;
    let err = client
        .bake(
            request(4, "podcast", opts),
            TIMEOUT,
            |p| {
                if !killed && p.stage == Stage::Genesis {
                    // SAFETY: plain kill(2) on our own child.
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    killed = true;
                }
            },
            &AtomicBool::new(false),
        )
        .expect_err("the helper died");
    assert!(matches!(err, ClientError::HelperDied { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::HelperDied);
    drop(client);
    assert!(
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err(),
        "reaped"
    );
    let mut again = spawn(&[]);
    again
        .bake(
            request(
                5,
                "podcast",
                BakeOptions {
                    max_rounds: 1,
                    ..BakeOptions::default()
                },
            ),
            TIMEOUT,
            |_| {},
            &AtomicBool::new(false),
        )
        .expect("the next bake succeeds");
    again.shutdown();
}

#[test]
fn a_frozen_helper_times_out_and_is_reaped() {
    let mut client = spawn(&[]);
    let pid = client.pid().expect("pid");
    let mut stopped = false;
    let err = client
        .bake(
            request(
                6,
                "thin",
                BakeOptions {
                    max_rounds: 16,
                    threshold: Some(1.0),
                    ..BakeOptions::default()
                },
            ),
            Duration::from_secs(3),
            |p| {
                if !stopped && p.stage == Stage::Fabian {
                    // SAFETY: plain kill(2) on our own child: freeze it.
                    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
                    stopped = true;
                }
            },
            &AtomicBool::new(false),
        )
        .expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    drop(client);
    assert!(
        is_zombie_or_gone(pid) && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err()
    );
}

#[test]
fn missing_and_corrupt_models_are_clear_errors_at_start() {
    let tmp = tempfile::tempdir().expect("tmp");
    let Err(err) = HelperClient::spawn(
        &helper(&tmp.path().join("nope"), &[]),
        Duration::from_secs(30),
    ) else {
        panic!("no models")
    };
    assert_eq!(err.kind(), ErrorKind::ModelLoad, "{err}");
    assert!(err.to_string().contains("manifest.json"), "{err}");

    // A copy with a truncated Fabian.
    let copy = tmp.path().join("models");
    std::fs::create_dir_all(&copy).expect("dir");
    for e in std::fs::read_dir(models_dir()).expect("models") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), copy.join(e.file_name())).expect("copy");
    }
    let fabian = copy.join("fabian.onnx");
    let bytes = std::fs::read(&fabian).expect("read");
    std::fs::write(&fabian, &bytes[..bytes.len() / 2]).expect("truncate");
    let Err(err) = HelperClient::spawn(&helper(&copy, &[]), Duration::from_secs(30)) else {
        panic!("corrupt model")
    };
    assert_eq!(err.kind(), ErrorKind::ModelLoad, "{err}");
    assert!(err.to_string().contains("corrupt"), "{err}");

    // A budget below the largest model: refused at start-up with the size needed.
    let Err(err) = HelperClient::spawn(
        &helper(&models_dir(), &["--memory-budget", "64KiB"]),
        Duration::from_secs(30),
    ) else {
        panic!("budget too small")
    };
    assert!(err.to_string().contains("--memory-budget"), "{err}");
}

#[test]
fn a_tight_memory_budget_swaps_models_and_stays_within_it() {
    use faurge_helper::manager::{ModelManager, DEFAULT_BUDGET_BYTES};
    use faurge_helper::models::{Backend, ModelSet, Runtime};
    use faurge_helper::orchestrator::Orchestrator;

    let set = ModelSet::open(&models_dir()).expect("models");
    let runtime = Runtime::start(Backend::Tract, 2).expect("tract");
    let mut manager = ModelManager::new(runtime, set, DEFAULT_BUDGET_BYTES).expect("manager");
    let costs = manager.costs().clone();
    let largest = *costs.values().max().expect("costs");
    let total: u64 = costs.values().sum();
    assert!(largest < total);
    let err = manager
        .set_budget(largest - 1)
        .expect_err("below the largest model");
    assert!(err.to_string().contains("--memory-budget"), "{err}");
    // Room for less than all the models a bake uses (this one, no repair, uses all
    // but the tone-repair estimator): something must be evicted.
    let budget = (total - 1).max(largest);
    manager
        .set_budget(budget)
        .expect("a budget at the largest model is allowed");
    let mut orch = Orchestrator::new(manager).expect("orchestrator");
    let r = orch
        .bake(
            &request(
                9,
                "less boomy",
                BakeOptions {
                    max_rounds: 2,
                    threshold: Some(1.0),
                    ..BakeOptions::default()
                },
            ),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .expect("bake within the budget");
    assert_eq!(r.report.rounds.len(), 2);
    assert!(
        r.report.peak_memory_bytes <= budget,
        "{} > {budget}",
        r.report.peak_memory_bytes
    );
    let stats = orch.models().stats();
    assert!(stats.evictions >= 1, "{stats:?}");
    assert!(orch.models().loaded_bytes() <= budget);
}

#[test]
fn both_reflections_share_round_one_and_differ_in_how_they_move_the_targets() {
    let mut client = spawn(&[]);
    let mut bake = |reflection| {
        let opts = BakeOptions {
            max_rounds: 2,
            threshold: Some(1.0),
            reflection,
            ..BakeOptions::default()
        };
        client
            .bake(
                request(11, "less boomy, more presence", opts),
                TIMEOUT,
                |_| {},
                &AtomicBool::new(false),
            )
            .expect("bake")
            .report
    };
    let measured = bake(Reflection::Measured);
    let fabian = bake(Reflection::Fabian);
    assert_eq!(measured.rounds.len(), 2);
    assert_eq!(fabian.rounds.len(), 2);
    // Round 1 is Fabian's blueprint in both.
    assert_eq!(
        measured.rounds[0].target_ltas_db,
        fabian.rounds[0].target_ltas_db
    );
    assert_eq!(measured.rounds[0].dsp_state, fabian.rounds[0].dsp_state);
    // Measured: the loudness and dynamics targets stay the blueprint's, the LTAS
    // target moves by the render's residual. Fabian: his reading moves the LTAS
    // target; loudness is measured, not predicted, in both.
    assert_eq!(
        measured.rounds[1].target_lufs,
        measured.rounds[0].target_lufs
    );
    assert_eq!(measured.rounds[1].target_dyn, measured.rounds[0].target_dyn);
    assert_ne!(
        measured.rounds[1].target_ltas_db,
        measured.rounds[0].target_ltas_db
    );
    assert_eq!(fabian.rounds[1].target_lufs, fabian.rounds[0].target_lufs);
    assert_ne!(
        fabian.rounds[1].target_ltas_db,
        measured.rounds[1].target_ltas_db
    );
    client.shutdown();
}
