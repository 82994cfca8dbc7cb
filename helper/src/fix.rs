//! `faurge fix` and `faurge bake`: the main job from the command line. Both start
//! the same `faurge-helper` process the plugin starts, over the same IPC
//! (`faurge_protocol::client`), so what the CLI hears is what the plugin bakes.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use faurge_dsp::state::DspState;
use faurge_io::Audio;
use faurge_protocol::client::{HelperClient, HelperCommand, DEFAULT_HANDSHAKE_TIMEOUT};
use faurge_protocol::{BakeOptions, BakeRequest, BakeResult, Progress, ReferenceAudio, Stage};
use indicatif::{ProgressBar, ProgressStyle};

/// Longest stretch of a file sent to the helper, seconds (it analyses at most
/// the loudest 10 s of it; the protocol accepts up to 120 s).
const MAX_SNAPSHOT_SECONDS: usize = 60;

/// How the CLI reaches the helper.
pub struct HelperOptions {
    /// The helper binary (`--helper`), else found next to `faurge`, via
    /// `FAURGE_HELPER`, or on `PATH`.
    pub helper: Option<PathBuf>,
    /// The models folder (`--models`), else `FAURGE_MODELS`, next to the binary, or
    /// the checkout's `bundle/models`.
    pub models: Option<PathBuf>,
    /// `--memory-budget`, passed through (e.g. `4GiB`).
    pub memory_budget: Option<String>,
    /// `--clap-dir DIR`: a LAION-CLAP export replacing the built-in encoders.
    pub clap_dir: Option<PathBuf>,
    /// `--backend tract|onnxruntime`.
    pub backend: Option<String>,
    /// `--onnxruntime-lib PATH`.
    pub onnxruntime_lib: Option<PathBuf>,
    /// Overall time limit of one bake.
    pub timeout: Duration,
}

/// What to bake toward.
pub struct Goal {
    /// The prompt, as typed.
    pub prompt: String,
    /// `--threshold` (S_C to stop at).
    pub threshold: Option<f32>,
    /// `--max-rounds`.
    pub max_rounds: Option<u32>,
    /// `--reference REF.wav`.
    pub reference: Option<PathBuf>,
    /// `--reference-only`: the reference replaces the prompt as the target.
    pub reference_only: bool,
}

/// Spawns the helper with the options.
fn spawn(opts: &HelperOptions) -> Result<HelperClient> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let helper = crate::config::helper(opts.helper.as_deref(), &exe_dir)?;
    let models = crate::config::models(opts.models.as_deref(), &exe_dir)?;
    let mut cmd = HelperCommand::new(helper).arg("--models").arg(models);
    if let Some(b) = &opts.memory_budget {
        cmd = cmd.arg("--memory-budget").arg(b);
    }
    if let Some(d) = &opts.clap_dir {
        cmd = cmd.arg("--clap-dir").arg(d);
    }
    if let Some(b) = &opts.backend {
        cmd = cmd.arg("--backend").arg(b);
    }
    if let Some(l) = &opts.onnxruntime_lib {
        cmd = cmd.arg("--onnxruntime-lib").arg(l);
    }
    let (client, _hello) = HelperClient::spawn(&cmd, DEFAULT_HANDSHAKE_TIMEOUT)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("The helper did not start")?;
    Ok(client)
}

/// The first `MAX_SNAPSHOT_SECONDS` of `audio` as planar slices.
fn snapshot(audio: &Audio) -> Vec<&[f32]> {
    let n = audio
        .frames()
        .min(MAX_SNAPSHOT_SECONDS * audio.sample_rate as usize);
    audio.channels.iter().map(|c| &c[..n]).collect()
}

/// Runs one bake of `audio` (already at a rate the chain supports) through a
/// freshly spawned helper, with a progress bar on stderr.
pub fn bake(audio: &Audio, goal: &Goal, opts: &HelperOptions) -> Result<BakeResult> {
    let mut client = spawn(opts)?;
    let mut options = BakeOptions::default();
    if let Some(t) = goal.threshold {
        options.threshold = Some(t);
    }
    if let Some(r) = goal.max_rounds {
        options.max_rounds = r;
    }
    if let Some(path) = &goal.reference {
        let r = crate::render::read_head(path, MAX_SNAPSHOT_SECONDS)?;
        let refs: Vec<&[f32]> = snapshot(&r);
        options.reference = Some(
            ReferenceAudio::new(r.sample_rate, &refs)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("The reference \"{}\" cannot be used", path.display()))?,
        );
        options.reference_only = goal.reference_only;
    }
    let req = BakeRequest::new(
        1,
        goal.prompt.clone(),
        audio.sample_rate,
        &snapshot(audio),
        DspState::default(),
        options,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("The audio cannot be sent to the helper")?;

    let bar = ProgressBar::new(100);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let on_progress = |p: &Progress| {
        let per_round = 100 / u64::from(p.max_rounds.max(1));
        let stage_index = Stage::ALL.iter().position(|s| *s == p.stage).unwrap_or(0) as u64;
        let pos = if p.stage == Stage::Done {
            100
        } else {
            u64::from(p.round.saturating_sub(1)) * per_round + per_round * stage_index / 8
        };
        bar.set_position(pos.min(100));
        let sim = p
            .similarity
            .map(|s| format!(", S_C {s:.3} / {:.2}", p.threshold))
            .unwrap_or_default();
        bar.set_message(format!(
            "round {}/{}: {}{sim}",
            p.round.max(1),
            p.max_rounds,
            p.stage
        ));
    };
    let cancel = AtomicBool::new(false);
    let result = client.bake(req, opts.timeout, on_progress, &cancel);
    bar.finish_and_clear();
    let _ = client.shutdown();
    result
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("The bake failed")
}

/// Prints what the sanitizer understood, every round and the settings.
pub fn print_summary(result: &BakeResult) {
    let r = &result.report;
    eprintln!("Prompt:     \"{}\"", r.prompt.original);
    eprintln!("Understood: \"{}\"", r.prompt.understood);
    for e in &r.prompt.edits {
        eprintln!("  {:?}: \"{}\" → \"{}\"", e.kind, e.from, e.to);
    }
    if !r.prompt.intent.is_empty() {
        eprintln!("Asked for:  {}", r.prompt.intent);
    }
    for u in &r.prompt.unsupported {
        eprintln!("  {u}");
    }
    eprintln!("S_C threshold {:.2}", r.threshold);
    for round in &r.rounds {
        let ms: f64 = round.timings_ms.iter().map(|t| t.1).sum();
        eprintln!(
            "  round {}: S_C {:.3}, {:.2} dB from the round-1 targets, target {:.1} LUFS, {:.0} ms{}",
            round.round,
            round.similarity,
            round.blueprint_distance_db,
            round.target_lufs,
            ms,
            if round.round == r.best_round {
                "  ← best"
            } else {
                ""
            }
        );
    }
    if !r.goals.is_empty() {
        eprintln!("Goals (input → result):");
        for g in &r.goals {
            let v = |x: Option<f32>| x.map_or("—".to_owned(), |x| format!("{x:.1}"));
            eprintln!(
                "  {} {:<10} {} → {} {} (asked {} {:.1}) {}",
                if g.met { "met " } else { "MISS" },
                g.quantity,
                v(g.input),
                v(g.output),
                g.unit,
                g.kind.replace('_', " "),
                g.target,
                g.because.join(", ")
            );
        }
    }
    for n in &r.restoration {
        eprintln!("  {:<16} {}: {}", n.stage, n.found, n.done);
    }
    let s = &result.dsp_state;
    eprintln!("Settings:");
    const BAND_NAMES: [&str; 8] = ["HP ", "LS ", "P1 ", "P2 ", "P3 ", "P4 ", "HS ", "LP "];
    for (name, b) in BAND_NAMES.iter().zip(&s.eq.bands) {
        if b.enabled {
            eprintln!(
                "  EQ {name} {:>5.0} Hz {:+5.1} dB Q {:.2}",
                b.freq_hz, b.gain_db, b.q
            );
        }
    }
    let c = &s.compressor;
    eprintln!(
        "  compressor {}: threshold {:.1} dB, ratio {:.1}:1, knee {:.1} dB, makeup {:+.1} dB",
        if c.enabled { "on" } else { "off" },
        c.threshold_db,
        c.ratio,
        c.knee_db,
        c.makeup_db
    );
    eprintln!(
        "  impulse response: {}; output trim {:+.1} dB",
        if s.convolver.enabled { "on" } else { "off" },
        s.output_trim_db
    );
    eprintln!(
        "Backend {}, {:.0} ms, peak model memory {} of {}",
        r.backend,
        r.total_ms,
        faurge_helper::manager::human_bytes(r.peak_memory_bytes),
        faurge_helper::manager::human_bytes(r.memory_budget_bytes)
    );
    eprintln!("{}", r.verdict);
}

/// Checks `--threshold` and `--max-rounds` before spawning anything.
pub fn check_goal(t: &Goal) -> Result<()> {
    if let Some(th) = t.threshold {
        if !(-1.0..=1.0).contains(&th) {
            bail!("--threshold is a cosine similarity: between -1 and 1 (got {th})");
        }
    }
    if let Some(r) = t.max_rounds {
        if !(1..=16).contains(&r) {
            bail!("--max-rounds must be 1..=16 (got {r})");
        }
    }
    if t.reference_only && t.reference.is_none() {
        bail!("--reference-only needs --reference FILE");
    }
    Ok(())
}
