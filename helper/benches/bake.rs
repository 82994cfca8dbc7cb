//! Bake speed (the bar a bake must meet: up to 4 rounds ≤ 0.5 s on 2 CPU
//! cores with tract; transfer ≤ 10 ms — see `cargo bench -p faurge-protocol
//! --bench transfer` for the transfer alone).
//!
//! `cargo bench -p faurge-helper --bench bake [-- --models DIR]` prints, for a
//! 10 s 48 kHz snapshot of real speech: per-stage and end-to-end times of 1 and
//! 4 rounds in process, and snapshot → result through the real helper process
//! over IPC (median and max of several runs). Uses `bundle/models` by default.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use faurge_dsp::state::DspState;
use faurge_helper::manager::{human_bytes, ModelManager, DEFAULT_BUDGET_BYTES};
use faurge_helper::models::{Backend, ModelKind, ModelSet, Runtime};
use faurge_helper::orchestrator::Orchestrator;
use faurge_protocol::client::{HelperClient, HelperCommand};
use faurge_protocol::{BakeOptions, BakeRequest, Stage};

fn snapshot() -> (u32, Vec<f32>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/degraded_vctk_p236_023.wav");
    let a = faurge_io::read(&path).expect("shipped clip");
    let n = (10 * a.sample_rate as usize).min(a.frames());
    (a.sample_rate, a.channels[0][..n].to_vec())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let models = args
        .iter()
        .position(|a| a == "--models")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models"));
    let (sr, audio) = snapshot();
    println!(
        "snapshot: {:.1} s at {sr} Hz, models {}",
        audio.len() as f64 / f64::from(sr),
        models.display()
    );

    let t = Instant::now();
    let set = ModelSet::open(&models).expect("models");
    let runtime = Runtime::start(Backend::Tract, 2).expect("tract");
    let manager = ModelManager::new(runtime, set, DEFAULT_BUDGET_BYTES).expect("manager");
    println!(
        "start-up (verify, load and measure {} models): {:.0} ms",
        ModelKind::ALL.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    for (k, c) in manager.costs() {
        println!("  {:<14} {}", k.key(), human_bytes(*c));
    }
    let mut orch = Orchestrator::new(manager).expect("orchestrator");
    let runs = 5;
    for rounds in [1u32, 4] {
        let mut totals = Vec::new();
        let mut stages: std::collections::BTreeMap<Stage, Vec<f64>> = Default::default();
        for i in 0..runs + 1 {
            let req = request(i as u64, sr, &audio, rounds);
            let t = Instant::now();
            let r = orch
                .bake(&req, &mut |_| {}, &AtomicBool::new(false))
                .expect("bake");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if i == 0 {
                continue; // warm-up
            }
            totals.push(ms);
            let mut per: std::collections::BTreeMap<Stage, f64> = Default::default();
            for round in &r.report.rounds {
                for (s, v) in &round.timings_ms {
                    *per.entry(*s).or_default() += v;
                }
            }
            for (s, v) in per {
                stages.entry(s).or_default().push(v);
            }
        }
        println!(
            "in process, {rounds} round(s): median {:.0} ms, max {:.0} ms",
            median(totals.clone()),
            totals.iter().cloned().fold(0.0, f64::max)
        );
        for (s, v) in stages {
            println!(
                "  {:<40} median {:>7.1} ms (sum over rounds)",
                s.to_string(),
                median(v)
            );
        }
    }

    // Through the real helper process (IPC transfer of the snapshot included).
    let cmd = HelperCommand::new(env!("CARGO_BIN_EXE_faurge-helper"))
        .arg("--models")
        .arg(&models);
    let (mut client, _) = HelperClient::spawn(&cmd, Duration::from_secs(60)).expect("spawn");
    for rounds in [1u32, 4] {
        let mut totals = Vec::new();
        for i in 0..runs + 1 {
            let req = request(100 + i as u64, sr, &audio, rounds);
            let t = Instant::now();
            client
                .bake(
                    req,
                    Duration::from_secs(60),
                    |_| {},
                    &AtomicBool::new(false),
                )
                .expect("bake");
            if i > 0 {
                totals.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        println!(
            "over IPC (helper process), {rounds} round(s): median {:.0} ms, max {:.0} ms",
            median(totals.clone()),
            totals.iter().cloned().fold(0.0, f64::max)
        );
    }
    client.shutdown();
}

/// The benchmark's bake: "warm radio voice" on `audio` at `sr` Hz from the default
/// settings, exactly `rounds` rounds (a threshold of 1 is never reached).
fn request(id: u64, sr: u32, audio: &[f32], rounds: u32) -> BakeRequest {
    BakeRequest::new(
        id,
        "warm radio voice".to_owned(),
        sr,
        &[audio],
        DspState::default(),
        BakeOptions {
            max_rounds: rounds,
            threshold: Some(1.0),
            ..BakeOptions::default()
        },
    )
    .expect("request")
}
