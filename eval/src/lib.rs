//! `faurge-eval` (run by `cargo xtask eval`): the shipped models measured on rendered audio of the dataset's
//! test split (`docs/DESIGN.md`, "Models and training"). A crate of its own so that
//! `xtask` (which the host tests build) does not depend on the helper and dataset.
//!
//! The test rows are rebuilt in memory with `faurge-dataset`'s own code
//! ([`RowSource`], the seed / rows per clip / crop of `manifest.json`'s dataset
//! command), including the degraded input audio the Parquet files do not keep. For
//! every row, in one run:
//!
//! - **Caption retrieval** (as `training/faurge_train/train.py::retrieval`): the audio
//!   encoder's embedding of the styled (target) audio ranks the styles by the mean
//!   cosine to each style's captions; top-1 / top-5 over the styles.
//! - **Fabian** on `[e_text(caption), e_audio(input)]`: ΔLTAS MAE (dB, pooled over the
//!   masked bands of every row, as `fabian_loss`) and `requires_genesis` accuracy.
//! - **LTAS error** between an output and the row's target, see [`ltas_error_db`],
//!   for: the degraded input (no processing); one Ursula + Genesis pass (round 1 of the
//!   loop); the full closed loop (the helper's [`Orchestrator`], default rounds and
//!   threshold); the generic auto-EQ baseline ([`auto_eq_state`]). Every output is
//!   audio rendered through `faurge-dsp`'s `Chain` ([`shadow_bake`]) and measured
//!   again, never a model-space estimate.
//! - **Loudness error** of the loop's render vs the target's `T_LUFS`.
//! - **Prompt direction**: the loop's render is closer to the target than the input
//!   was (its LTAS error decreased), with the row's own caption as the prompt.
//! - The issue's **bars**, each marked met or missed.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use faurge_dataset::generate::{BuildConfig, RenderedRow, RowSource, DEFAULT_CROP_S, SAMPLE_RATE};
use faurge_dataset::sources::Split;
use faurge_dsp::analysis::dynamics::t_dyn;
use faurge_dsp::analysis::loudness::integrated_lufs;
use faurge_dsp::analysis::ltas::{ltas_band_centers_hz, ltas_with_bandwidth, LTAS_BANDS};
use faurge_dsp::eq::Eq as ParametricEq;
use faurge_dsp::state::{DspState, EqState};
use faurge_helper::features::InputFeatures;
use faurge_helper::manager::{ModelManager, DEFAULT_BUDGET_BYTES};
use faurge_helper::models::{Backend, ModelKind, ModelSet, Runtime, EMBED_DIM};
use faurge_helper::orchestrator::{cosine, shadow_bake, shape_rms_db, Orchestrator};
use faurge_protocol::{BakeOptions, BakeRequest, Reflection};
use faurge_vocabulary::Vocabulary;
use serde::Serialize;

/// Bar: caption retrieval top-1 over the styles.
pub const BAR_RETRIEVAL_TOP1: f64 = 0.70;
/// Bar: loop LTAS error as a share of the degraded input's.
pub const BAR_LOOP_OVER_DEGRADED: f64 = 0.50;
/// Bar: prompt-direction accuracy.
pub const BAR_DIRECTION: f64 = 0.90;
/// Bar: mean |loudness error| of the loop's output, LU.
pub const BAR_LOUDNESS_LU: f64 = 1.0;

/// The auto-EQ baseline's bands: `(EQ band index, frequency Hz, Q)`. High-pass and
/// low-pass stay off; the low shelf, four peaks and the high shelf get fitted gains.
pub const AUTO_EQ_BANDS: [(usize, f32, f32); 6] = [
    (1, 120.0, 0.707),
    (2, 300.0, 1.0),
    (3, 800.0, 1.0),
    (4, 2000.0, 1.0),
    (5, 5000.0, 1.0),
    (6, 9000.0, 0.707),
];
/// Largest gain the auto-EQ fit may set, dB (either sign).
pub const AUTO_EQ_MAX_GAIN_DB: f32 = 12.0;

const USAGE: &str = "Usage: cargo xtask eval [--data ../shared/data] [--models bundle/models] [--out target/eval] [--rows N] [--seed S] [--rows-per-clip K] [--crop-s SECONDS] [--max-rounds N] [--reflection measured|fabian] [--record]
  Seed, rows per clip and crop default to the models' dataset command in manifest.json;
  the loop's rounds and reflection to the helper's defaults (4, measured).
  --record writes the figures into the models' manifest.json (evaluation.rendered).";

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    /// Data folder the dataset was built from.
    pub data: PathBuf,
    /// Model folder with `manifest.json`.
    pub models: PathBuf,
    /// Where `eval.json` and `eval.md` go (created).
    pub out: PathBuf,
    /// Dataset seed.
    pub seed: u64,
    /// Rows per clip of the dataset build.
    pub rows_per_clip: usize,
    /// Crop length of the dataset build, seconds.
    pub crop_s: f32,
    /// Evaluate at most this many rows, spread evenly over the styles: rows are taken
    /// in build order while their style has fewer than `ceil(max / styles)`, then the
    /// remaining rows in order fill up to `max`.
    pub max_rows: Option<usize>,
    /// The split evaluated (`Some(Test)` for the real figures; `None`: every clip).
    pub split: Option<Split>,
    /// The split whose clean clips make the auto-EQ's reference LTAS (`Some(Train)`).
    pub reference_split: Option<Split>,
    /// Loop options (default: threshold and rounds as shipped).
    pub options: BakeOptions,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Keep every row's figures in the report's `rows`.
    pub per_row: bool,
}

/// One row's figures.
#[derive(Clone, Debug, Serialize)]
pub struct RowFigures {
    /// Row id (`corpus/name#variant`).
    pub id: String,
    /// Style id.
    pub style: String,
    /// Rank (0 = best) of the row's style in caption retrieval.
    pub retrieval_rank: usize,
    /// Mean |ΔLTAS error| of Fabian over this row's masked bands, dB.
    pub fabian_dltas_mae_db: f64,
    /// Fabian's flag (logit > 0).
    pub flag_predicted: bool,
    /// The row's `requires_genesis`.
    pub flag_truth: bool,
    /// LTAS error of the degraded input, dB.
    pub degraded_db: f64,
    /// LTAS error after round 1 of the loop, dB.
    pub one_pass_db: f64,
    /// LTAS error after the full loop, dB.
    pub loop_db: f64,
    /// LTAS error of the auto-EQ baseline, dB.
    pub auto_eq_db: f64,
    /// Loop output LUFS − target LUFS.
    pub loudness_error_lu: f64,
    /// Round-1 output LUFS − target LUFS.
    pub one_pass_loudness_error_lu: f64,
    /// Rounds the loop ran.
    pub rounds: u32,
    /// Whether the loop reached its threshold.
    pub converged: bool,
    /// Loop time, ms.
    pub loop_ms: f64,
    /// |crest factor − target crest factor| of the degraded input, dB.
    pub degraded_crest_error_db: f64,
    /// |crest factor − target crest factor| of the loop's output, dB.
    pub loop_crest_error_db: f64,
    /// Whether the loop's output has the compressor on.
    pub compressor_on: bool,
    /// Per round of the loop: LTAS error of its render, dB.
    pub round_db: Vec<f64>,
    /// Per round: its render's LUFS − target LUFS.
    pub round_loudness_error_lu: Vec<f64>,
    /// Per round: `S_C`.
    pub round_similarity: Vec<f64>,
    /// Per round: Fabian's gap reading, dB.
    pub round_fabian_gap_db: Vec<f64>,
}

/// A bar of the issue and whether it is met.
#[derive(Clone, Debug, Serialize)]
pub struct Bar {
    /// What is compared.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// The bar it is compared with (`value ≥ bar` or `value ≤ bar`, see `rule`).
    pub bar: f64,
    /// `>=` or `<=`.
    pub rule: String,
    /// Whether the bar is met.
    pub met: bool,
}

/// Everything `eval.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Where the figures come from.
    pub provenance: serde_json::Value,
    /// Rows evaluated.
    pub rows: usize,
    /// Test rows available (before `--rows`).
    pub rows_available: usize,
    /// Rows per style evaluated.
    pub rows_per_style: BTreeMap<String, usize>,
    /// `top1`, `top5` (shares), `cos_match`, `cos_other` (mean cosines).
    pub retrieval: BTreeMap<String, f64>,
    /// `dltas_mae_db`, `flag_accuracy`, `flag_balanced_accuracy`, `flag_majority_rate`.
    pub fabian: BTreeMap<String, f64>,
    /// Mean LTAS error, dB: `degraded`, `one_pass`, `loop`, `auto_eq`, and the ratios
    /// `*_over_degraded`.
    pub ltas_error_db: BTreeMap<String, f64>,
    /// `mean_abs`, `mean_signed` (LU) and `within_1lu` (share) of the loop's output;
    /// `one_pass_mean_abs` and `one_pass_within_1lu` of round 1's output.
    pub loudness_error_lu: BTreeMap<String, f64>,
    /// Share of rows whose loop output moved toward the target: `all` and per style.
    pub prompt_direction_accuracy: BTreeMap<String, f64>,
    /// `mean_rounds`, `converged` (share), `mean_ms`, `max_rounds`, `threshold`.
    pub loop_stats: BTreeMap<String, f64>,
    /// `degraded_crest_error_db`, `loop_crest_error_db` (mean |crest factor −
    /// target's|, dB) and `compressor_on` (share of loop outputs with it on).
    pub dynamics: BTreeMap<String, f64>,
    /// Per round of the loop (index 0 = round 1), over the rows that reached it:
    /// `rows`, `ltas_error_db`, `closer_than_degraded` (share),
    /// `loudness_mean_abs_lu`, `similarity` (S_C), `fabian_gap_db`. Every round's
    /// settings are rendered and measured like the loop's output.
    pub by_round: Vec<BTreeMap<String, f64>>,
    /// The auto-EQ baseline's definition and reference spectrum.
    pub auto_eq: serde_json::Value,
    /// The bars.
    pub bars: Vec<Bar>,
    /// Wall time of the whole evaluation, seconds.
    pub seconds: f64,
    /// Per-row figures (when asked for).
    pub per_row: Vec<RowFigures>,
}

/// LTAS error between `output_db` and `target_db` (64-band `T_LTAS`, dB) over the
/// bands where `mask` is 1 (the source's bandwidth, `Row::ltas_mask`): the RMS of
/// the difference after removing its masked mean, dB. `T_LTAS` is level-normalized,
/// so a constant offset is not an error; this is `shape_rmse` of
/// `training/faurge_train/train.py`, so these figures compare with the manifest's
/// model-space ones. 0 when the mask is empty.
pub fn ltas_error_db(output_db: &[f32], target_db: &[f32], mask: &[f32]) -> f64 {
    shape_rms_db(target_db, output_db, mask)
}

/// The auto-EQ baseline's settings for one input: the EQ of [`AUTO_EQ_BANDS`] whose
/// magnitude response (`faurge_dsp::eq::Eq::magnitude_db` at the LTAS band centres)
/// best matches `reference_db − input_db` over `mask`, up to a constant (least
/// squares, Gauss–Newton with a finite-difference Jacobian, 6 iterations, a 10⁻²
/// ridge; gains clamped to ±[`AUTO_EQ_MAX_GAIN_DB`]). Compressor, convolver and trim
/// stay off: a generic tool that pulls every voice toward the average clean speech,
/// whatever the prompt.
pub fn auto_eq_state(input_db: &[f32], reference_db: &[f32], mask: &[f32]) -> DspState {
    let centers = ltas_band_centers_hz();
    let sr = f64::from(SAMPLE_RATE);
    let mut state = DspState::default();
    for b in state.eq.bands.iter_mut() {
        b.enabled = false;
    }
    for &(i, f, q) in &AUTO_EQ_BANDS {
        let b = &mut state.eq.bands[i];
        b.enabled = true;
        b.freq_hz = f;
        b.q = q;
        b.gain_db = 0.0;
    }
    let want: Vec<f64> = (0..LTAS_BANDS)
        .map(|b| f64::from(reference_db[b]) - f64::from(input_db[b]))
        .collect();
    let response = |eq: &EqState| -> Vec<f64> {
        centers
            .iter()
            .map(|&c| ParametricEq::magnitude_db(eq, f64::from(c), sr))
            .collect()
    };
    let n = AUTO_EQ_BANDS.len() + 1; // gains and the free offset
    let mut offset = 0.0f64;
    for _ in 0..6 {
        let r0 = response(&state.eq);
        // Jacobian columns: d response / d gain (finite difference), then the offset.
        let mut jac = vec![vec![0.0f64; n]; LTAS_BANDS];
        for (k, &(i, _, _)) in AUTO_EQ_BANDS.iter().enumerate() {
            let mut eq = state.eq;
            eq.bands[i].gain_db += 0.5;
            let r1 = response(&eq);
            for b in 0..LTAS_BANDS {
                jac[b][k] = (r1[b] - r0[b]) / 0.5;
            }
        }
        for row in jac.iter_mut() {
            row[n - 1] = 1.0;
        }
        // Normal equations (JᵀWJ + λI) δ = JᵀW r, r = want + offset − response.
        let mut a = vec![vec![0.0f64; n + 1]; n];
        for b in 0..LTAS_BANDS {
            let m = f64::from(mask[b]);
            if m <= 0.0 {
                continue;
            }
            let r = want[b] + offset - r0[b];
            for i in 0..n {
                for j in 0..n {
                    a[i][j] += m * jac[b][i] * jac[b][j];
                }
                a[i][n] += m * jac[b][i] * r;
            }
        }
        for (i, row) in a.iter_mut().enumerate().take(n - 1) {
            row[i] += 1e-2;
        }
        let Some(delta) = solve(a) else { break };
        for (k, &(i, _, _)) in AUTO_EQ_BANDS.iter().enumerate() {
            let g = &mut state.eq.bands[i].gain_db;
            *g = (*g + delta[k] as f32).clamp(-AUTO_EQ_MAX_GAIN_DB, AUTO_EQ_MAX_GAIN_DB);
        }
        // The offset column absorbs the level: `response ≈ want + offset`.
        offset -= delta[n - 1];
    }
    state.compressor.enabled = false;
    state.convolver.enabled = false;
    state.output_trim_db = 0.0;
    state
}

/// Gaussian elimination with partial pivoting on an augmented `n × (n+1)` matrix.
fn solve(mut a: Vec<Vec<f64>>) -> Option<Vec<f64>> {
    let n = a.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        let pivot = a[c].clone();
        for row in a.iter_mut().skip(c + 1) {
            let f = row[c] / pivot[c];
            for (v, p) in row.iter_mut().zip(&pivot).skip(c) {
                *v -= f * p;
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (a[r][n] - s) / a[r][r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// `--seed`, `--rows-per-clip` and `--crop-s` of the dataset command recorded in a
/// model manifest (`dataset.command`), where present.
pub fn dataset_args(manifest: &serde_json::Value) -> (Option<u64>, Option<usize>, Option<f32>) {
    let cmd = manifest
        .pointer("/dataset/command")
        .and_then(|c| c.as_str())
        .unwrap_or("");
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let arg = |name: &str| {
        words
            .iter()
            .position(|w| *w == name)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    (
        arg("--seed").and_then(|v| v.parse().ok()),
        arg("--rows-per-clip").and_then(|v| v.parse().ok()),
        arg("--crop-s").and_then(|v| v.parse().ok()),
    )
}

fn mean(v: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = v
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

fn share(v: impl IntoIterator<Item = bool>) -> f64 {
    mean(v.into_iter().map(|b| if b { 1.0 } else { 0.0 }))
}

/// The mean clean-speech LTAS of `source`'s clips (whole clips, each masked above its
/// bandwidth; per band the mean over the clips that cover it; a band no clip covers
/// takes the nearest lower covered band's value). Returns it and the clip count.
fn reference_ltas(source: &RowSource) -> Result<([f32; LTAS_BANDS], usize)> {
    let mut sum = [0.0f64; LTAS_BANDS];
    let mut weight = [0.0f64; LTAS_BANDS];
    let mut clips = 0;
    for i in 0..source.clips().len() {
        if let Some((l, m)) = source.clean_ltas(i)? {
            for b in 0..LTAS_BANDS {
                sum[b] += f64::from(l[b]) * f64::from(m[b]);
                weight[b] += f64::from(m[b]);
            }
            clips += 1;
        }
    }
    if clips == 0 {
        bail!("Could not build the auto-EQ reference: the reference split has no speech clips");
    }
    let mut out = [0.0f32; LTAS_BANDS];
    let mut last = None;
    for b in 0..LTAS_BANDS {
        if weight[b] > 0.0 {
            out[b] = (sum[b] / weight[b]) as f32;
            last = Some(out[b]);
        } else {
            out[b] = last.unwrap_or(faurge_dsp::analysis::ltas::LTAS_FLOOR_DB);
        }
    }
    Ok((out, clips))
}

/// Text embeddings of every style's captions, `[style][caption]`.
fn caption_embeddings(
    models: &mut ModelManager,
    vocabulary: &Vocabulary,
) -> Result<Vec<Vec<[f32; EMBED_DIM]>>> {
    let mut out = Vec::new();
    for s in &vocabulary.styles {
        let mut e = Vec::new();
        for c in &s.captions {
            let tokens = models.set().tokenize(c);
            e.push(models.with(ModelKind::EncoderText, |m| m.encode_text(&tokens))?);
        }
        out.push(e);
    }
    Ok(out)
}

fn render(input: &[f32], state: &DspState, ir: Option<&[f32]>) -> Result<Vec<f32>> {
    shadow_bake(input, state, ir)
        .map_err(anyhow::Error::msg)
        .context("Could not render through the Chain")
}

/// Runs the evaluation (see the module docs) and returns the report; writes nothing.
///
/// # Errors
/// Unreadable models or data, a split without rows, a failing model or render.
pub fn evaluate(config: &EvalConfig) -> Result<EvalReport> {
    let t0 = Instant::now();
    let set = ModelSet::open(&config.models).with_context(|| {
        format!(
            "Could not open the models in \"{}\"",
            config.models.display()
        )
    })?;
    let manifest = serde_json::to_value(set.manifest()).unwrap_or_default();
    let runtime = Runtime::start(Backend::Tract, 1).context("Could not start the tract backend")?;
    let mut models = ModelManager::new(runtime.clone(), set.clone(), DEFAULT_BUDGET_BYTES)
        .context("Could not set up the model manager")?;
    let mut orchestrator = Orchestrator::new(
        ModelManager::new(runtime, set.clone(), DEFAULT_BUDGET_BYTES)
            .context("Could not set up the loop's model manager")?,
    )
    .map_err(anyhow::Error::msg)?;
    let vocabulary = Vocabulary::embedded().context("Could not read the shipped vocabulary")?;
    let build = BuildConfig {
        data: config.data.clone(),
        out: config.out.clone(),
        seed: config.seed,
        max_clips: None,
        rows_per_clip: config.rows_per_clip,
        crop_s: config.crop_s,
        vocabulary: vocabulary.clone(),
    };
    let data_err = || format!("Could not read the data in \"{}\"", config.data.display());
    let reference_source = RowSource::new(&build, config.reference_split).with_context(data_err)?;
    let (reference, reference_clips) = reference_ltas(&reference_source)?;
    let source = RowSource::new(&build, config.split).with_context(data_err)?;
    let n_styles = vocabulary.styles.len();
    // Which rows: each clip's rows have styles `(offset + variant) % n`, known only
    // after rendering, so rows are made clip by clip and selected as they come.
    let available = source.clips().len() * source.rows_per_clip();
    if available == 0 {
        bail!(
            "Could not find any {} rows in \"{}\"",
            config.split.map_or("", |s| s.label()),
            config.data.display()
        );
    }
    let want = config.max_rows.unwrap_or(available).min(available);
    let quota = want.div_ceil(n_styles.max(1));
    let captions = caption_embeddings(&mut models, &vocabulary)?;

    let bar = if config.progress {
        indicatif::ProgressBar::new(want as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} rows, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut figures: Vec<RowFigures> = Vec::new();
    let mut per_style_count: BTreeMap<usize, usize> = BTreeMap::new();
    let (mut mae_sum, mut mae_weight) = (0.0f64, 0.0f64);
    let (mut cos_match, mut cos_other) = (Vec::new(), Vec::new());
    let mut skipped: Vec<RenderedRow> = Vec::new();
    let cancel = AtomicBool::new(false);
    let mut clip = 0;
    loop {
        if figures.len() >= want {
            break;
        }
        // Rows of the next clip under the per-style quota; the rest wait in `skipped`
        // for the fill-up after the last clip (as `select` does).
        let batch: Vec<RenderedRow> = if clip < source.clips().len() {
            let rows = source.clip_rows(clip).with_context(data_err)?;
            clip += 1;
            let mut take = Vec::new();
            for r in rows {
                let c = per_style_count
                    .entry(r.row.style_index as usize)
                    .or_default();
                if *c < quota && figures.len() + take.len() < want {
                    *c += 1;
                    take.push(r);
                } else {
                    skipped.push(r);
                }
            }
            take
        } else if !skipped.is_empty() {
            let k = (want - figures.len()).min(skipped.len());
            skipped.drain(..k).collect()
        } else {
            break;
        };
        for rr in batch {
            let row = &rr.row;
            let mask = &row.ltas_mask;
            bar.set_message(row.id.clone());
            // Retrieval: styled audio vs every style's captions.
            let e_styled =
                models.with(ModelKind::EncoderAudio, |m| m.encode_audio(&row.target_mel))?;
            let sims: Vec<f64> = captions
                .iter()
                .map(|cs| mean(cs.iter().map(|e| f64::from(cosine(&e_styled, e)))))
                .collect();
            let y = row.style_index as usize;
            let rank = sims.iter().filter(|&&s| s > sims[y]).count();
            cos_match.push(sims[y]);
            cos_other.push(
                (sims.iter().sum::<f64>() - sims[y]) / (sims.len().saturating_sub(1).max(1)) as f64,
            );
            // Fabian on the row's own caption and input, as in training.
            let tokens: Vec<i64> = row.caption_tokens.iter().map(|&t| i64::from(t)).collect();
            let e_text = models.with(ModelKind::EncoderText, |m| m.encode_text(&tokens))?;
            let e_input =
                models.with(ModelKind::EncoderAudio, |m| m.encode_audio(&row.input_mel))?;
            let fab = models.with(ModelKind::Fabian, |m| m.fabian(&e_text, &e_input))?;
            let (mut s, mut w) = (0.0f64, 0.0f64);
            for ((&m, d), want) in mask.iter().zip(&fab.delta_ltas).zip(&row.delta_ltas) {
                s += f64::from((d - want).abs()) * f64::from(m);
                w += f64::from(m);
            }
            mae_sum += s;
            mae_weight += w;

            // Every output is measured like the row's target: same rate, same bandwidth.
            let measure =
                |audio: &[f32]| ltas_with_bandwidth(&[audio], SAMPLE_RATE as f32, row.bandwidth_hz);
            let degraded_db = ltas_error_db(&measure(&rr.input), &row.target_ltas, mask);

            // The closed loop, on the row's caption.
            let req = BakeRequest::new(
                figures.len() as u64 + 1,
                row.caption.clone(),
                SAMPLE_RATE,
                &[&rr.input],
                DspState::default(),
                config.options.clone(),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("Could not make a bake request for {}", row.id))?;
            let t = Instant::now();
            let result = orchestrator
                .bake(&req, &mut |_| {}, &cancel)
                .map_err(|e| anyhow::anyhow!("{}", e.message))
                .with_context(|| format!("The loop failed on {}", row.id))?;
            let loop_ms = t.elapsed().as_secs_f64() * 1e3;
            let ir = match &result.ir {
                Some(ir) => Some(ir.samples_f32().map_err(|e| anyhow::anyhow!("{e}"))?),
                None => None,
            };
            let lufs = |audio: &[f32]| {
                integrated_lufs(&[audio], SAMPLE_RATE as f32)
                    .unwrap_or(faurge_dsp::analysis::loudness::ABSOLUTE_GATE_LUFS)
            };
            // Every round's settings, rendered and measured (round 1 is the one pass).
            let (mut round_db, mut round_lu, mut renders) = (Vec::new(), Vec::new(), Vec::new());
            for r in &result.report.rounds {
                let out = render(&rr.input, &r.dsp_state, ir.as_deref())?;
                round_db.push(ltas_error_db(&measure(&out), &row.target_ltas, mask));
                round_lu.push(f64::from(lufs(&out) - row.target_lufs));
                renders.push(out);
            }
            let (Some(&one_pass_db), Some(&one_pass_lu)) = (round_db.first(), round_lu.first())
            else {
                bail!("The loop reported no round for {}", row.id);
            };
            // The loop's output is its best round's render: the helper returns that
            // round's settings.
            let best = result
                .report
                .rounds
                .iter()
                .position(|r| r.round == result.report.best_round)
                .filter(|&k| result.report.rounds[k].dsp_state == result.dsp_state)
                .with_context(|| {
                    format!(
                        "The loop's settings are not its best round's for {}",
                        row.id
                    )
                })?;
            let (looped, loop_db, loop_lu) = (&renders[best], round_db[best], round_lu[best]);
            let crest = |audio: &[f32]| {
                f64::from((t_dyn(&[audio], SAMPLE_RATE as f32)[0] - row.target_dyn[0]).abs())
            };

            // The generic auto-EQ: sees only the input (its measured spectrum and bandwidth).
            let features = InputFeatures::measure(&[&rr.input], SAMPLE_RATE)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("Could not measure the input of {}", row.id))?;
            let auto = auto_eq_state(&features.ltas_db, &reference, &features.ltas_mask);
            let auto_out = render(&rr.input, &auto, None)?;
            let auto_eq_db = ltas_error_db(&measure(&auto_out), &row.target_ltas, mask);

            figures.push(RowFigures {
                id: row.id.clone(),
                style: row.style.clone(),
                retrieval_rank: rank,
                fabian_dltas_mae_db: if w > 0.0 { s / w } else { 0.0 },
                flag_predicted: fab.genesis_logit > 0.0,
                flag_truth: row.requires_genesis,
                degraded_db,
                one_pass_db,
                loop_db,
                auto_eq_db,
                loudness_error_lu: loop_lu,
                one_pass_loudness_error_lu: one_pass_lu,
                rounds: result.report.rounds.len() as u32,
                converged: result.report.converged,
                loop_ms,
                degraded_crest_error_db: crest(&rr.input),
                loop_crest_error_db: crest(looped),
                compressor_on: result.dsp_state.compressor.enabled,
                round_db,
                round_loudness_error_lu: round_lu,
                round_similarity: result
                    .report
                    .rounds
                    .iter()
                    .map(|r| f64::from(r.similarity))
                    .collect(),
                round_fabian_gap_db: result
                    .report
                    .rounds
                    .iter()
                    .map(|r| f64::from(r.fabian_gap_db))
                    .collect(),
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let f = &figures;
    let mut rows_per_style = BTreeMap::new();
    let mut direction = BTreeMap::new();
    for s in &vocabulary.styles {
        let sel: Vec<&RowFigures> = f.iter().filter(|r| r.style == s.id).collect();
        if !sel.is_empty() {
            rows_per_style.insert(s.id.clone(), sel.len());
            direction.insert(
                s.id.clone(),
                share(sel.iter().map(|r| r.loop_db < r.degraded_db)),
            );
        }
    }
    direction.insert(
        "all".into(),
        share(f.iter().map(|r| r.loop_db < r.degraded_db)),
    );

    let retrieval = BTreeMap::from([
        (
            "top1".into(),
            share(f.iter().map(|r| r.retrieval_rank == 0)),
        ),
        ("top5".into(), share(f.iter().map(|r| r.retrieval_rank < 5))),
        ("cos_match".into(), mean(cos_match.iter().copied())),
        ("cos_other".into(), mean(cos_other.iter().copied())),
    ]);
    let positives = f.iter().filter(|r| r.flag_truth).count() as f64;
    let n = f.len().max(1) as f64;
    let tpr = share(f.iter().filter(|r| r.flag_truth).map(|r| r.flag_predicted));
    let tnr = share(
        f.iter()
            .filter(|r| !r.flag_truth)
            .map(|r| !r.flag_predicted),
    );
    let balanced = match (positives > 0.0, positives < n) {
        (true, true) => 0.5 * (tpr + tnr),
        (true, false) => tpr,
        _ => tnr,
    };
    let fabian = BTreeMap::from([
        (
            "dltas_mae_db".into(),
            if mae_weight > 0.0 {
                mae_sum / mae_weight
            } else {
                0.0
            },
        ),
        (
            "flag_accuracy".into(),
            share(f.iter().map(|r| r.flag_predicted == r.flag_truth)),
        ),
        ("flag_balanced_accuracy".into(), balanced),
        (
            "flag_majority_rate".into(),
            (positives / n).max(1.0 - positives / n),
        ),
    ]);
    let degraded = mean(f.iter().map(|r| r.degraded_db));
    let ratio = |v: f64| if degraded > 0.0 { v / degraded } else { 0.0 };
    let one_pass = mean(f.iter().map(|r| r.one_pass_db));
    let looped = mean(f.iter().map(|r| r.loop_db));
    let auto = mean(f.iter().map(|r| r.auto_eq_db));
    let ltas_error_db = BTreeMap::from([
        ("degraded".into(), degraded),
        ("one_pass".into(), one_pass),
        ("loop".into(), looped),
        ("auto_eq".into(), auto),
        ("one_pass_over_degraded".into(), ratio(one_pass)),
        ("loop_over_degraded".into(), ratio(looped)),
        ("auto_eq_over_degraded".into(), ratio(auto)),
    ]);
    let loud_abs = mean(f.iter().map(|r| r.loudness_error_lu.abs()));
    let loudness_error_lu = BTreeMap::from([
        ("mean_abs".into(), loud_abs),
        (
            "mean_signed".into(),
            mean(f.iter().map(|r| r.loudness_error_lu)),
        ),
        (
            "within_1lu".into(),
            share(f.iter().map(|r| r.loudness_error_lu.abs() <= 1.0)),
        ),
        (
            "one_pass_mean_abs".into(),
            mean(f.iter().map(|r| r.one_pass_loudness_error_lu.abs())),
        ),
        (
            "one_pass_within_1lu".into(),
            share(f.iter().map(|r| r.one_pass_loudness_error_lu.abs() <= 1.0)),
        ),
    ]);
    let loop_stats = BTreeMap::from([
        (
            "mean_rounds".into(),
            mean(f.iter().map(|r| f64::from(r.rounds))),
        ),
        ("converged".into(), share(f.iter().map(|r| r.converged))),
        ("mean_ms".into(), mean(f.iter().map(|r| r.loop_ms))),
        ("max_rounds".into(), f64::from(config.options.max_rounds)),
        ("threshold".into(), f64::from(config.options.threshold)),
    ]);
    let dynamics = BTreeMap::from([
        (
            "degraded_crest_error_db".into(),
            mean(f.iter().map(|r| r.degraded_crest_error_db)),
        ),
        (
            "loop_crest_error_db".into(),
            mean(f.iter().map(|r| r.loop_crest_error_db)),
        ),
        (
            "compressor_on".into(),
            share(f.iter().map(|r| r.compressor_on)),
        ),
    ]);
    let max_round = f.iter().map(|r| r.round_db.len()).max().unwrap_or(0);
    let by_round: Vec<BTreeMap<String, f64>> = (0..max_round)
        .map(|k| {
            let sel: Vec<&RowFigures> = f.iter().filter(|r| r.round_db.len() > k).collect();
            BTreeMap::from([
                ("rows".into(), sel.len() as f64),
                (
                    "ltas_error_db".into(),
                    mean(sel.iter().map(|r| r.round_db[k])),
                ),
                (
                    "closer_than_degraded".into(),
                    share(sel.iter().map(|r| r.round_db[k] < r.degraded_db)),
                ),
                (
                    "loudness_mean_abs_lu".into(),
                    mean(sel.iter().map(|r| r.round_loudness_error_lu[k].abs())),
                ),
                (
                    "similarity".into(),
                    mean(sel.iter().map(|r| r.round_similarity[k])),
                ),
                (
                    "fabian_gap_db".into(),
                    mean(sel.iter().map(|r| r.round_fabian_gap_db[k])),
                ),
            ])
        })
        .collect();
    let bar = |name: &str, value: f64, bar: f64, at_least: bool| Bar {
        name: name.into(),
        value,
        bar,
        rule: if at_least { ">=" } else { "<=" }.into(),
        met: if at_least { value >= bar } else { value <= bar },
    };
    let bars = vec![
        bar(
            "caption retrieval top-1",
            retrieval["top1"],
            BAR_RETRIEVAL_TOP1,
            true,
        ),
        bar(
            "loop LTAS error / degraded",
            ratio(looped),
            BAR_LOOP_OVER_DEGRADED,
            false,
        ),
        bar(
            "loop LTAS error / auto-EQ",
            if auto > 0.0 { looped / auto } else { 0.0 },
            1.0,
            false,
        ),
        bar(
            "prompt-direction accuracy",
            direction["all"],
            BAR_DIRECTION,
            true,
        ),
        bar(
            "loop loudness mean |error| (LU)",
            loud_abs,
            BAR_LOUDNESS_LU,
            false,
        ),
    ];
    let auto_eq = serde_json::json!({
        "definition": "8-band EQ (high-pass, low-pass off; low shelf 120 Hz Q 0.707, peaks 300/800/2000/5000 Hz Q 1, high shelf 9 kHz Q 0.707) whose gains (±12 dB) are a least-squares fit (Gauss-Newton, 6 iterations) of the EQ's magnitude response at the LTAS band centres to (reference LTAS − input LTAS) over the input's measured bandwidth, up to a constant; rendered through the Chain with compressor, convolver and trim off",
        "reference": "mean T_LTAS of the whole clean clips of the reference split, each masked above its bandwidth",
        "reference_split": config.reference_split.map(|s| s.label()),
        "reference_clips": reference_clips,
        "reference_ltas_db": reference.to_vec(),
    });
    let provenance = serde_json::json!({
        "command": "cargo xtask eval",
        "data": config.data.display().to_string(),
        "models": config.models.display().to_string(),
        "manifest_sha256": set.manifest_sha256(),
        "models_dataset_hash": manifest.pointer("/dataset/hash"),
        "models_training_commit": manifest.pointer("/training/commit"),
        "split": config.split.map(|s| s.label()),
        "seed": config.seed,
        "rows_per_clip": config.rows_per_clip,
        "crop_s": config.crop_s,
        "backend": "tract",
        "ltas_error": "RMS over the row's masked bands (Row::ltas_mask) of target − output T_LTAS after removing the masked mean, dB (train.py shape_rmse); outputs measured with ltas_with_bandwidth at the row's bandwidth",
        "direction": "the loop's output LTAS error is below the degraded input's",
        "reflection": config.options.reflection,
        "model_space": manifest.pointer("/evaluation/model_space"),
    });
    Ok(EvalReport {
        provenance,
        rows: figures.len(),
        rows_available: available,
        rows_per_style,
        retrieval,
        fabian,
        ltas_error_db,
        loudness_error_lu,
        prompt_direction_accuracy: direction,
        loop_stats,
        dynamics,
        by_round,
        auto_eq,
        bars,
        seconds: t0.elapsed().as_secs_f64(),
        per_row: if config.per_row { figures } else { Vec::new() },
    })
}

/// The report as Markdown (the figures of `eval.json`, without per-row data).
pub fn markdown(r: &EvalReport) -> String {
    let p = &r.provenance;
    let mut s = String::new();
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(f64::NAN);
    s += "# Faurge evaluation\n\n";
    s += &format!(
        "{} rows of the {} split (of {}), data `{}`, seed {}, {} rows per clip, crop {} s; models `{}` (manifest sha256 `{}`); loop: {} rounds, threshold {:.2}, reflection {}; {:.0} s.\n\n",
        r.rows,
        p["split"].as_str().unwrap_or("whole"),
        r.rows_available,
        p["data"].as_str().unwrap_or(""),
        p["seed"],
        p["rows_per_clip"],
        p["crop_s"],
        p["models"].as_str().unwrap_or(""),
        p["manifest_sha256"].as_str().unwrap_or(""),
        get(&r.loop_stats, "max_rounds"),
        get(&r.loop_stats, "threshold"),
        p["reflection"].as_str().unwrap_or(""),
        r.seconds
    );
    s += "## Bars\n\n| bar | value | rule | met |\n|---|---|---|---|\n";
    for b in &r.bars {
        s += &format!(
            "| {} | {:.3} | {} {} | {} |\n",
            b.name,
            b.value,
            b.rule,
            b.bar,
            if b.met { "met" } else { "**missed**" }
        );
    }
    s += "\n## LTAS error (dB, rendered audio vs target, masked bands, offset removed)\n\n| output | mean error dB | / degraded |\n|---|---|---|\n";
    for (k, label) in [
        ("degraded", "degraded input (no processing)"),
        ("one_pass", "one Ursula + Genesis pass"),
        ("loop", "full closed loop"),
        ("auto_eq", "auto-EQ baseline"),
    ] {
        let v = get(&r.ltas_error_db, k);
        let d = get(&r.ltas_error_db, "degraded");
        s += &format!(
            "| {label} | {v:.3} | {:.3} |\n",
            if d > 0.0 { v / d } else { 0.0 }
        );
    }
    s += &format!(
        "\n## Loudness of the loop's output\n\nmean |error| {:.3} LU (signed mean {:+.3}), within ±1 LU: {:.1} % (one pass: {:.3} LU, {:.1} %)\n",
        get(&r.loudness_error_lu, "mean_abs"),
        get(&r.loudness_error_lu, "mean_signed"),
        100.0 * get(&r.loudness_error_lu, "within_1lu"),
        get(&r.loudness_error_lu, "one_pass_mean_abs"),
        100.0 * get(&r.loudness_error_lu, "one_pass_within_1lu")
    );
    s += &format!(
        "\n## Encoder and Fabian\n\ncaption retrieval over the styles: top-1 {:.3}, top-5 {:.3} (mean cosine matching {:.3}, other {:.3})  \nFabian ΔLTAS MAE {:.3} dB; requires_genesis accuracy {:.3} (balanced {:.3}, majority rate {:.3})\n",
        get(&r.retrieval, "top1"),
        get(&r.retrieval, "top5"),
        get(&r.retrieval, "cos_match"),
        get(&r.retrieval, "cos_other"),
        get(&r.fabian, "dltas_mae_db"),
        get(&r.fabian, "flag_accuracy"),
        get(&r.fabian, "flag_balanced_accuracy"),
        get(&r.fabian, "flag_majority_rate"),
    );
    s += "\n## Prompt-direction accuracy (loop output closer to the style's target than the input)\n\n| style | rows | accuracy |\n|---|---|---|\n";
    for (k, n) in &r.rows_per_style {
        s += &format!(
            "| {k} | {n} | {:.3} |\n",
            get(&r.prompt_direction_accuracy, k)
        );
    }
    s += &format!(
        "| all | {} | {:.3} |\n",
        r.rows,
        get(&r.prompt_direction_accuracy, "all")
    );
    s += &format!(
        "\n## Loop\n\nmean rounds {:.2}, converged {:.1} %, mean time {:.0} ms per bake (tract, 1 thread)\n",
        get(&r.loop_stats, "mean_rounds"),
        100.0 * get(&r.loop_stats, "converged"),
        get(&r.loop_stats, "mean_ms")
    );
    s += &format!(
        "\n## Dynamics\n\ncrest factor mean |error|: degraded {:.2} dB, loop {:.2} dB; compressor on in {:.1} % of the loop's outputs\n",
        get(&r.dynamics, "degraded_crest_error_db"),
        get(&r.dynamics, "loop_crest_error_db"),
        100.0 * get(&r.dynamics, "compressor_on")
    );
    s += "\n## By round (every round's settings rendered; rows that reached the round)\n\n| round | rows | LTAS error dB | closer than degraded | loudness mean abs error LU | S_C | Fabian's gap reading dB |\n|---|---|---|---|---|---|---|\n";
    for (k, m) in r.by_round.iter().enumerate() {
        s += &format!(
            "| {} | {:.0} | {:.3} | {:.3} | {:.2} | {:.3} | {:.2} |\n",
            k + 1,
            get(m, "rows"),
            get(m, "ltas_error_db"),
            get(m, "closer_than_degraded"),
            get(m, "loudness_mean_abs_lu"),
            get(m, "similarity"),
            get(m, "fabian_gap_db")
        );
    }
    s += &format!(
        "\n## Auto-EQ baseline\n\n{}. Reference: {} ({} clips of the {} split).\n",
        r.auto_eq["definition"].as_str().unwrap_or(""),
        r.auto_eq["reference"].as_str().unwrap_or(""),
        r.auto_eq["reference_clips"],
        r.auto_eq["reference_split"].as_str().unwrap_or("whole")
    );
    s
}

/// Writes `eval.json` and `eval.md` into `out`; returns their paths.
///
/// # Errors
/// A folder or file that cannot be written.
pub fn write(report: &EvalReport, out: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("Could not create \"{}\"", out.display()))?;
    let json = out.join("eval.json");
    let md = out.join("eval.md");
    let text = serde_json::to_string_pretty(report).context("Could not serialize the report")?;
    std::fs::write(&json, text)
        .with_context(|| format!("Could not write \"{}\"", json.display()))?;
    std::fs::write(&md, markdown(report))
        .with_context(|| format!("Could not write \"{}\"", md.display()))?;
    Ok((json, md))
}

/// The figures [`record`] puts into a manifest: everything but the per-row lists.
pub fn summary(report: &EvalReport) -> serde_json::Value {
    serde_json::json!({
        "command": "cargo xtask eval --record",
        "rows": report.rows,
        "split": report.provenance["split"],
        "reflection": report.provenance["reflection"],
        "bars": report.bars,
        "retrieval": report.retrieval,
        "fabian": report.fabian,
        "ltas_error_db": report.ltas_error_db,
        "loudness_error_lu": report.loudness_error_lu,
        "prompt_direction_accuracy": report.prompt_direction_accuracy,
        "dynamics": report.dynamics,
        "loop_stats": report.loop_stats,
        "by_round": report.by_round,
    })
}

/// Writes [`summary`] of `report` into `models/manifest.json` as
/// `evaluation.rendered`, keeping everything else (keys come back in sorted order).
///
/// # Errors
/// A manifest that cannot be read, parsed as a JSON object, or written.
pub fn record(report: &EvalReport, models: &Path) -> Result<PathBuf> {
    let path = models.join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Could not read \"{}\"", path.display()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("\"{}\" is not JSON", path.display()))?;
    let Some(root) = manifest.as_object_mut() else {
        bail!("\"{}\" is not a JSON object", path.display());
    };
    let evaluation = root
        .entry("evaluation")
        .or_insert_with(|| serde_json::json!({}));
    let Some(evaluation) = evaluation.as_object_mut() else {
        bail!("\"evaluation\" in \"{}\" is not an object", path.display());
    };
    evaluation.insert("rendered".into(), summary(report));
    let mut out = serde_json::to_string_pretty(&manifest).context("Could not serialize")?;
    out.push('\n');
    std::fs::write(&path, out)
        .with_context(|| format!("Could not write \"{}\"", path.display()))?;
    Ok(path)
}

/// `cargo xtask eval [ARGS]` (a wrong argument prints the usage): relative paths are taken from the
/// workspace root; prints the Markdown report and writes `eval.json` / `eval.md`.
///
/// # Errors
/// Bad arguments or any failure of [`evaluate`] / [`write()`].
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut data = PathBuf::from("../shared/data");
    let mut models = PathBuf::from("bundle/models");
    let mut out = PathBuf::from("target/eval");
    let (mut rows, mut seed, mut per_clip, mut crop) = (None, None, None, None);
    let (mut max_rounds, mut reflection) = (None, None);
    let mut record_figures = false;
    let mut it = args.iter();
    while let Some(&a) = it.next() {
        let mut value = || {
            it.next()
                .copied()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        let num_err = |v: &str| format!("Could not read {a} \"{v}\" as a number\n{USAGE}");
        match a {
            "--data" => data = value()?.into(),
            "--models" => models = value()?.into(),
            "--out" => out = value()?.into(),
            "--rows" => {
                let v = value()?;
                rows = Some(v.parse::<usize>().with_context(|| num_err(v))?);
            }
            "--seed" => {
                let v = value()?;
                seed = Some(v.parse::<u64>().with_context(|| num_err(v))?);
            }
            "--rows-per-clip" => {
                let v = value()?;
                per_clip = Some(v.parse::<usize>().with_context(|| num_err(v))?);
            }
            "--max-rounds" => {
                let v = value()?;
                max_rounds = Some(v.parse::<u32>().with_context(|| num_err(v))?);
            }
            "--record" => record_figures = true,
            "--reflection" => {
                reflection = Some(match value()? {
                    "measured" => Reflection::Measured,
                    "fabian" => Reflection::Fabian,
                    v => bail!("--reflection is \"{v}\", but must be measured or fabian\n{USAGE}"),
                });
            }
            "--crop-s" => {
                let v = value()?;
                crop = Some(v.parse::<f32>().with_context(|| num_err(v))?);
            }
            _ => bail!("Unknown argument \"{a}\"\n{USAGE}"),
        }
    }
    let data = root.join(data);
    let models = root.join(models);
    let out = root.join(out);
    let manifest: serde_json::Value = std::fs::read(models.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let (m_seed, m_per_clip, m_crop) = dataset_args(&manifest);
    let config = EvalConfig {
        data,
        models,
        out: out.clone(),
        seed: seed.or(m_seed).unwrap_or(1),
        rows_per_clip: per_clip.or(m_per_clip).unwrap_or(16),
        crop_s: crop.or(m_crop).unwrap_or(DEFAULT_CROP_S),
        max_rows: rows,
        split: Some(Split::Test),
        reference_split: Some(Split::Train),
        options: {
            let mut o = BakeOptions::default();
            if let Some(n) = max_rounds {
                o.max_rounds = n;
            }
            if let Some(r) = reflection {
                o.reflection = r;
            }
            o
        },
        progress: true,
        per_row: true,
    };
    eprintln!(
        "Evaluating \"{}\" on the test split of \"{}\" (seed {}, {} rows per clip, crop {} s{})",
        config.models.display(),
        config.data.display(),
        config.seed,
        config.rows_per_clip,
        config.crop_s,
        rows.map(|n| format!(", at most {n} rows"))
            .unwrap_or_default()
    );
    let report = evaluate(&config)?;
    let (json, md) = write(&report, &out)?;
    println!("{}", markdown(&report));
    eprintln!("Wrote \"{}\" and \"{}\"", json.display(), md.display());
    if record_figures {
        let path = record(&report, &config.models)?;
        eprintln!(
            "Recorded the figures in \"{}\" (evaluation.rendered)",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ltas_error_ignores_masked_bands_and_level_offsets() {
        let t = [1.0f32, 2.0, 3.0, 50.0];
        let m = [1.0f32, 1.0, 1.0, 0.0];
        // Same shape, 6 dB lower, garbage in the masked band: no error.
        assert!(ltas_error_db(&[-5.0, -4.0, -3.0, -90.0], &t, &m) < 1e-9);
        // A ±1 dB tilt around the mean: RMS sqrt(2/3).
        let e = ltas_error_db(&[0.0, 2.0, 4.0, 0.0], &t, &m);
        assert!((e - (2.0f64 / 3.0).sqrt()).abs() < 1e-6, "{e}");
        assert_eq!(ltas_error_db(&t, &t, &[0.0; 4]), 0.0);
    }

    #[test]
    fn auto_eq_recovers_a_known_eq_curve() {
        // The input is the reference coloured by a known EQ of the baseline's bands;
        // the fit must find the inverse gains.
        let gains = [4.0f32, -3.0, 2.5, -2.0, 3.0, -5.0];
        let mut known = DspState::default().eq;
        for b in known.bands.iter_mut() {
            b.enabled = false;
        }
        for (&(i, f, q), g) in AUTO_EQ_BANDS.iter().zip(gains) {
            known.bands[i] = faurge_dsp::state::EqBandState {
                enabled: true,
                freq_hz: f,
                gain_db: g,
                q,
            };
        }
        let centers = ltas_band_centers_hz();
        let reference: Vec<f32> = centers
            .iter()
            .map(|&c| -30.0 - 3.0 * (c / 1000.0).log2())
            .collect();
        let input: Vec<f32> = reference
            .iter()
            .zip(&centers)
            .map(|(r, &c)| {
                r + ParametricEq::magnitude_db(&known, f64::from(c), f64::from(SAMPLE_RATE)) as f32
                    - 7.0
            })
            .collect();
        let st = auto_eq_state(&input, &reference, &[1.0; LTAS_BANDS]);
        for (&(i, _, _), g) in AUTO_EQ_BANDS.iter().zip(gains) {
            let got = st.eq.bands[i].gain_db;
            assert!((got + g).abs() < 0.3, "band {i}: {got} vs {}", -g);
        }
        assert!(!st.eq.bands[0].enabled && !st.eq.bands[7].enabled);
        assert!(!st.compressor.enabled && !st.convolver.enabled);
        assert!(st.validate().is_ok());
    }

    #[test]
    fn dataset_args_come_from_the_manifest_command() {
        let m = serde_json::json!({"dataset": {"command":
            "faurge-dataset build --data d --seed 5 --rows-per-clip 12 --crop-s 2.5"}});
        assert_eq!(dataset_args(&m), (Some(5), Some(12), Some(2.5)));
        assert_eq!(dataset_args(&serde_json::json!({})), (None, None, None));
    }
}
