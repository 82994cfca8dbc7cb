//! `faurge-eval` (run by `cargo xtask eval`): the shipped models and the loop, on
//! rendered audio of held-out speakers, against the goals of the product.
//!
//! Three parts, each on clean clips of the test split's speakers (never in training),
//! cropped to a snapshot's length ([`audio::test_clips`]):
//!
//! - **Prompts** ([`evaluate_prompts`]): every prompt of the held-out prompt set
//!   (`eval/prompts.toml`, written before training and never used in it) on every
//!   clip, clean (even clips) or damaged by a held-out damage implementation (odd
//!   clips). The loop's result is rendered and measured; each expectation of the
//!   prompt is fulfilled when its quantity moved the asked way by the descriptor
//!   table's margin ([`prompts::fulfils`]). Figures: direction accuracy overall, per
//!   quantity and per kind of prompt; intensity order over the triples (clean clips);
//!   loudness error against the prompt's target; the ROC AUC with which `S_C`
//!   separates results that fulfil a prompt from results that do not (each result
//!   against its own prompt and against another prompt, labelled by measurement);
//!   time per bake. Baselines in the same run: the untouched input and the generic
//!   auto-EQ (every input pulled toward the average clean speech spectrum).
//! - **Repair** ([`evaluate_repair`]): "fix my mic" on every clip damaged by each kind
//!   of [`heldout::EVAL_KINDS`] (held-out implementations; the training
//!   implementations too, for seen vs unseen), and on the clean clips. Figures: the
//!   summed level-normalised 1/3-octave distance to the clean original after, over
//!   that of the untouched input, per kind; for noise the speech-to-noise ratio
//!   (speech-active frames against pauses, as ITU-T G.160 rates noise reducers) and the
//!   scale-invariant SNR against the clean original; wide-band PESQ and STOI where the Python packages are present; the
//!   spectral change and restoration stages on clean input.
//! - **Reference** ([`evaluate_reference`]): with the clean original as the reference
//!   recording (`--reference`), the same distance, beside matchering 2.0 on the same
//!   clips where the package is present.
//!
//! The bars of the issues are marked met or missed ([`bars`]).

#![warn(missing_docs)]

pub mod audio;
pub mod heldout;
pub mod prompts;
mod python;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use faurge_dataset::damage::{Kind, Pool, Recordings};
use faurge_dataset::generate::SAMPLE_RATE;
use faurge_dsp::analysis::ltas::{ltas_bands_below, ltas_with_bandwidth, LTAS_BANDS};
use faurge_dsp::fit::auto_eq_state;
use faurge_helper::manager::{ModelManager, DEFAULT_BUDGET_BYTES};
use faurge_helper::models::{Backend, ModelSet, Runtime};
use faurge_helper::orchestrator::{directional_similarity, shadow_bake, Orchestrator};
use faurge_protocol::{BakeOptions, BakeRequest, BakeResult, ReferenceAudio, Reflection};
use faurge_vocabulary::descriptors::Descriptors;
use faurge_vocabulary::intent::{Measured, Reader};
use serde::Serialize;

use crate::audio::{
    quantities, render, segmented_snr_db, snr_vs_reference_db, spectral_distance_db,
    third_octave_db, Clip, RATE,
};
use crate::heldout::{apply_eval, EvalDamage, Seen, EVAL_KINDS, TABLE_KINDS};
use crate::prompts::{fulfils, Expect};

/// Bar (issue: the sentence decides the sound): direction accuracy overall.
pub const BAR_DIRECTION: f64 = 0.90;
/// Bar: direction accuracy of every quantity.
pub const BAR_DIRECTION_EACH: f64 = 0.80;
/// Bar: share of intensity triples in order.
pub const BAR_MONOTONE: f64 = 0.90;
/// Bar: share of bakes within 1 LU of their loudness target.
pub const BAR_LOUDNESS: f64 = 0.95;
/// Bar: ROC AUC of `S_C`.
pub const BAR_SC_AUC: f64 = 0.90;
/// Bar: mean time of a full bake, ms (2 CPU cores).
pub const BAR_BAKE_MS: f64 = 500.0;
/// Bar (issue: fix my mic): every kind's summed-error ratio below this.
pub const BAR_REPAIR_EACH: f64 = 1.0;
/// Bar: all kinds together.
pub const BAR_REPAIR_ALL: f64 = 0.7;
/// Bar: the linear kinds together.
pub const BAR_REPAIR_LINEAR: f64 = 0.6;
/// Bar: SNR improvement on broadband noise, dB.
pub const BAR_NOISE_SNR_DB: f64 = 10.0;
/// Bar: PESQ gain on noisy input.
pub const BAR_PESQ_GAIN: f64 = 0.5;
/// Bar: spectral change of clean input, dB RMS.
pub const BAR_CLEAN_CHANGE_DB: f64 = 1.0;

/// Strength of the damage on the prompt part's damaged clips.
pub const PROMPT_DAMAGE_STRENGTH: f32 = 0.4;
/// Strength of the damage in the repair and reference parts.
pub const REPAIR_DAMAGE_STRENGTH: f32 = 0.6;
/// The damage kinds of the prompt part's damaged clips, in turn.
pub const PROMPT_DAMAGES: [Kind; 6] = [
    Kind::Noise,
    Kind::Boom,
    Kind::Muddy,
    Kind::Sibilant,
    Kind::Thin,
    Kind::Comb,
];
/// Kinds whose damage is a linear filter (an EQ and an IR can undo them in principle).
pub const LINEAR_KINDS: [Kind; 6] = [
    Kind::Boom,
    Kind::Comb,
    Kind::Sibilant,
    Kind::Thin,
    Kind::Muddy,
    Kind::BandLimit,
];

const USAGE: &str = "Usage: cargo xtask eval [--data ../shared/data] [--models bundle/models] [--out target/eval] [--clips N] [--crop-s SECONDS] [--prompts N] [--seed S] [--max-rounds N] [--reflection measured|fabian] [--parts prompts,repair,reference] [--python PATH] [--record]
  --clips: held-out clips per part (default 12); --prompts: use only the first N prompts of eval/prompts.toml;
  --python: the interpreter with pesq, pystoi and matchering (default training/.venv/bin/python);
  --record writes the figures into the models' manifest.json (evaluation.rendered).";

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    /// The data folder (`speech/`, `noise/`, `rir/`).
    pub data: PathBuf,
    /// The models.
    pub models: PathBuf,
    /// Where `eval.json` and `eval.md` go.
    pub out: PathBuf,
    /// Held-out clips per part.
    pub clips: usize,
    /// Crop length, seconds.
    pub crop_s: f32,
    /// Only the first N prompts (all when `None`).
    pub max_prompts: Option<usize>,
    /// Seed of crops and damages.
    pub seed: u64,
    /// The loop's options.
    pub options: BakeOptions,
    /// Which parts: `prompts`, `repair`, `reference`.
    pub parts: Vec<String>,
    /// A Python interpreter with `pesq`, `pystoi`, `matchering` (optional figures).
    pub python: Option<PathBuf>,
    /// Print progress to stderr.
    pub progress: bool,
}

/// One bake with its render.
struct Baked {
    result: BakeResult,
    render: Vec<f32>,
    ms: f64,
}

fn request(prompt: &str, audio: &[f32], options: &BakeOptions) -> Result<BakeRequest> {
    Ok(BakeRequest::new(
        1,
        prompt,
        SAMPLE_RATE,
        &[audio],
        faurge_protocol::DspState::default(),
        options.clone(),
    )?)
}

fn bake(
    orch: &mut Orchestrator,
    prompt: &str,
    audio: &[f32],
    options: &BakeOptions,
) -> Result<Baked> {
    let req = request(prompt, audio, options)?;
    let t = Instant::now();
    let result = orch
        .bake(&req, &mut |_| {}, &AtomicBool::new(false))
        .map_err(|e| anyhow::anyhow!("the bake of \"{prompt}\" failed: {}", e.message))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let render = render(audio, &result)?;
    Ok(Baked { result, render, ms })
}

/// The room the result adds, dB (reverberant-to-direct ratio of its IR).
fn room_db(r: &BakeResult) -> Option<f32> {
    let ir = r.ir.as_ref()?.samples_f32().ok()?;
    faurge_dsp::ir::reverberant_to_direct_db(&ir, r.ir.as_ref()?.sample_rate as f32)
}

fn share(v: impl IntoIterator<Item = bool>) -> f64 {
    let (mut n, mut k) = (0usize, 0usize);
    for b in v {
        n += 1;
        k += usize::from(b);
    }
    if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    }
}

/// ROC AUC: the probability that a positive scores above a negative (ties count half).
pub fn auc(pos: &[f32], neg: &[f32]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut wins = 0.0;
    for &p in pos {
        for &n in neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

/// A passed/total count.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Count {
    /// Fulfilled.
    pub passed: usize,
    /// Judged.
    pub total: usize,
}

impl Count {
    fn add(&mut self, ok: bool) {
        self.passed += usize::from(ok);
        self.total += 1;
    }

    /// `passed / total` (NaN when nothing was judged).
    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            f64::NAN
        } else {
            self.passed as f64 / self.total as f64
        }
    }
}

/// The prompt part's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PromptFigures {
    /// Bakes run.
    pub bakes: usize,
    /// Every judged expectation.
    pub direction: Count,
    /// Per quantity.
    pub per_quantity: BTreeMap<String, Count>,
    /// Per kind of prompt.
    pub per_kind: BTreeMap<String, Count>,
    /// Clean and damaged clips apart.
    pub per_condition: BTreeMap<String, Count>,
    /// The untouched input judged the same way.
    pub untouched: Count,
    /// The generic auto-EQ judged the same way.
    pub auto_eq: Count,
    /// Repair expectations on damaged clips: closer to the clean original.
    pub repair: Count,
    /// Intensity triples in order (clean clips).
    pub monotone: Count,
    /// Bakes within 1 LU of their loudness target.
    pub loudness_within_1lu: Count,
    /// Mean |LUFS − target|, LU.
    pub loudness_mean_error_lu: f64,
    /// ROC AUC of `S_C`: fulfilling vs not (own and other prompts).
    pub s_c_auc: f64,
    /// The same over results judged against other prompts only.
    pub s_c_auc_other_prompts: f64,
    /// The threshold the loop used.
    pub s_c_threshold: f32,
    /// Share of fulfilling results at or above the threshold / of the others.
    pub s_c_rates: [f64; 2],
    /// Mean and longest bake, ms.
    pub bake_ms: [f64; 2],
    /// Mean rounds per bake.
    pub mean_rounds: f64,
    /// Share of bakes that stopped early (every goal met and S_C above threshold).
    pub converged: f64,
    /// Expectations judged per prompt, for the worst prompts table.
    pub per_prompt: BTreeMap<String, Count>,
    /// Every expectation a result missed, for finding why a quantity's figure is low.
    pub misses: Vec<PromptMiss>,
}

/// One expectation a prompt's result did not meet.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PromptMiss {
    /// The prompt as typed.
    pub prompt: String,
    /// Index of the held-out clip.
    pub clip: usize,
    /// "clean" or "damaged (kind)".
    pub condition: String,
    /// The expectation, as written in `eval/prompts.toml`.
    pub expect: String,
    /// The quantity measured on the input and on the result (NaN: not measurable).
    pub value: [f32; 2],
}

/// The repair part's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepairFigures {
    /// Per kind: summed distance after / untouched.
    pub ratio: BTreeMap<String, f64>,
    /// Per kind with the training implementations.
    pub ratio_seen: BTreeMap<String, f64>,
    /// Per kind, the generic auto-EQ.
    pub ratio_auto_eq: BTreeMap<String, f64>,
    /// All kinds together.
    pub ratio_all: f64,
    /// The linear kinds together.
    pub ratio_linear: f64,
    /// Mean SNR against the clean original of the broadband-noise clips (scale-invariant:
    /// every change but a gain counts as noise, intended EQ included): untouched and
    /// fixed, dB.
    pub noise_snr_db: [f64; 2],
    /// Mean speech-to-noise ratio of the same clips as a noise reducer is rated
    /// (speech-active frames against speech pauses, [`audio::segmented_snr_db`]):
    /// untouched and fixed, dB. The noise bar is on its improvement.
    pub noise_segmented_snr_db: [f64; 2],
    /// Mean wide-band PESQ of the noisy, clicky and clipped clips: untouched and fixed
    /// (NaN when the package is missing).
    pub pesq: [f64; 2],
    /// Mean STOI, same clips.
    pub stoi: [f64; 2],
    /// Why PESQ/STOI are missing, if they are.
    pub pesq_note: String,
    /// Spectral change "fix my mic" makes on clean clips, dB RMS: mean and largest.
    pub clean_change_db: [f64; 2],
    /// Clean clips on which a restoration stage went on.
    pub clean_restoration_on: Count,
    /// Bakes run.
    pub bakes: usize,
    /// Every damaged bake, for finding which clip and decision moved a kind's figure.
    pub per_bake: Vec<RepairBake>,
}

/// One "fix my mic" bake of the repair part.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepairBake {
    /// Index of the held-out clip.
    pub clip: usize,
    /// Kind of damage ([`Kind::label`]).
    pub kind: String,
    /// Held-out damage implementation (false: the training one).
    pub held_out: bool,
    /// Distance to the clean original, untouched and fixed, dB.
    pub distance_db: [f64; 2],
    /// The report's verdict in words.
    pub verdict: String,
    /// What each restoration stage found in the snapshot ("stage: found").
    pub found: Vec<String>,
}

/// The reference part's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReferenceFigures {
    /// Summed distance to the reference after / before, Faurge with `--reference`.
    pub faurge: f64,
    /// The same, linear kinds only.
    pub faurge_linear: f64,
    /// matchering 2.0 on the same clips (NaN when the package is missing).
    pub matchering: f64,
    /// The same, linear kinds only.
    pub matchering_linear: f64,
    /// Why matchering is missing, if it is.
    pub note: String,
    /// Bakes run.
    pub bakes: usize,
}

/// One bar.
#[derive(Clone, Debug, Serialize)]
pub struct Bar {
    /// What.
    pub name: String,
    /// Measured.
    pub value: f64,
    /// `≥` or `≤`.
    pub rule: &'static str,
    /// The bar.
    pub bar: f64,
    /// Met.
    pub met: bool,
}

/// Everything an evaluation measured.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Models, data, options, clips.
    pub provenance: serde_json::Value,
    /// The prompt part.
    pub prompts: Option<PromptFigures>,
    /// The repair part.
    pub repair: Option<RepairFigures>,
    /// The reference part.
    pub reference: Option<ReferenceFigures>,
    /// The bars.
    pub bars: Vec<Bar>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The mean 64-band LTAS of clean training-split speech (each band over the clips
/// where it is valid): the generic auto-EQ's reference.
fn average_speech_ltas(data: &Path) -> Result<([f32; LTAS_BANDS], [f32; LTAS_BANDS])> {
    let clips = faurge_dataset::sources::scan(data).speech;
    let train: Vec<_> = clips
        .iter()
        .filter(|c| c.split() == faurge_dataset::sources::Split::Train)
        .take(60)
        .collect();
    let mut sum = [0.0f64; LTAS_BANDS];
    let mut n = [0usize; LTAS_BANDS];
    for c in train {
        let a = faurge_io::read(&c.path)?;
        let mono = a.to_mono();
        let bw = faurge_dsp::analysis::ltas::effective_bandwidth_hz(&[&mono], a.sample_rate as f32)
            .min(a.sample_rate as f32 / 2.0);
        let l = ltas_with_bandwidth(&[&mono], a.sample_rate as f32, bw);
        for (b, ok) in ltas_bands_below(bw).iter().enumerate() {
            if *ok {
                sum[b] += f64::from(l[b]);
                n[b] += 1;
            }
        }
    }
    let avg = std::array::from_fn(|b| {
        if n[b] > 0 {
            (sum[b] / n[b] as f64) as f32
        } else {
            -100.0
        }
    });
    let w = std::array::from_fn(|b| if n[b] > 0 { 1.0 } else { 0.0 });
    Ok((avg, w))
}

/// The generic auto-EQ's render of `audio`.
fn auto_eq(
    audio: &[f32],
    bandwidth_hz: f32,
    reference: &([f32; LTAS_BANDS], [f32; LTAS_BANDS]),
) -> Result<Vec<f32>> {
    let l = ltas_with_bandwidth(&[audio], RATE, bandwidth_hz);
    let valid = ltas_bands_below(bandwidth_hz);
    let w: Vec<f32> = (0..LTAS_BANDS)
        .map(|b| if valid[b] { reference.1[b] } else { 0.0 })
        .collect();
    let state = auto_eq_state(&l, &reference.0, &w, RATE);
    shadow_bake(audio, &state, None)
        .map_err(anyhow::Error::msg)
        .map(|mut v| {
            // The chain's latency does not matter for long-term spectra; keep the length.
            v.truncate(audio.len());
            v
        })
}

fn damaged(
    clip: &Clip,
    kind: Kind,
    seen: Seen,
    strength: f32,
    seed: u64,
    recordings: &(Recordings, Recordings),
) -> Result<Vec<f32>> {
    let mut a = clip.audio.clone();
    let rec = if seen == Seen::HeldOut {
        &recordings.1
    } else {
        &recordings.0
    };
    apply_eval(
        EvalDamage::Kind(kind),
        seen,
        strength,
        &mut [&mut a[..]],
        RATE,
        seed,
        rec,
    )?;
    Ok(a)
}

/// Writes mono float WAV at the evaluation's rate.
fn wav(path: &Path, audio: &[f32]) -> Result<()> {
    let a = faurge_io::Audio::new(SAMPLE_RATE, vec![audio.to_vec()])?;
    faurge_io::write_wav(path, &a, faurge_io::WavFormat::Float32)?;
    Ok(())
}

fn progress(on: bool, msg: &str) {
    if on {
        eprintln!("{msg}");
    }
}

/// The prompt part (see the crate docs).
///
/// # Errors
/// A failing bake, render or damage.
pub fn evaluate_prompts(
    orch: &mut Orchestrator,
    table: &Descriptors,
    clips: &[Clip],
    config: &EvalConfig,
    recordings: &(Recordings, Recordings),
    reference: &([f32; LTAS_BANDS], [f32; LTAS_BANDS]),
) -> Result<PromptFigures> {
    let (mut cases, triples) = prompts::load()?;
    if let Some(n) = config.max_prompts {
        cases.truncate(n);
    }
    let reader = Reader::embedded()?;
    let sanitizer = faurge_vocabulary::sanitizer::Sanitizer::embedded()?;
    let mut f = PromptFigures {
        s_c_threshold: orch.default_threshold(),
        ..PromptFigures::default()
    };
    let (mut pos, mut neg, mut neg_other) = (Vec::new(), Vec::new(), Vec::new());
    let mut loud_err = Vec::new();
    let (mut ms, mut rounds, mut conv) = (Vec::new(), Vec::new(), Vec::new());
    for (ci, clip) in clips.iter().enumerate() {
        let clean = ci % 2 == 0;
        let kind = PROMPT_DAMAGES[(ci / 2) % PROMPT_DAMAGES.len()];
        let input = if clean {
            clip.audio.clone()
        } else {
            damaged(
                clip,
                kind,
                Seen::HeldOut,
                PROMPT_DAMAGE_STRENGTH,
                config.seed ^ ci as u64,
                recordings,
            )?
        };
        let condition = if clean {
            "clean".to_owned()
        } else {
            format!("damaged ({})", kind.label())
        };
        progress(
            config.progress,
            &format!(
                "prompts: clip {}/{} {} {condition}",
                ci + 1,
                clips.len(),
                clip.id
            ),
        );
        let m_in = quantities(table, &input, clip.bandwidth_hz);
        let e_in = orch.embed_audio(&input)?;
        let untouched_spectrum = third_octave_db(&input, clip.bandwidth_hz);
        let clean_spectrum = third_octave_db(&clip.audio, clip.bandwidth_hz);
        let auto = auto_eq(&input, clip.bandwidth_hz, reference)?;
        let m_auto = quantities(table, &auto, clip.bandwidth_hz);
        // Each case's result, kept for the other-prompt pairs.
        let mut results: Vec<(usize, Measured, Option<f32>, [f32; 512])> = Vec::new();
        for (k, case) in cases.iter().enumerate() {
            let b = bake(orch, &case.text, &input, &config.options)?;
            let s = sanitizer.sanitize(&case.text);
            let intent = reader.read(&s.understood, s.anchor);
            let goals = intent.goals(table, &m_in);
            let m_out = quantities(table, &b.render, clip.bandwidth_hz);
            let room = room_db(&b.result);
            let (mut all, mut judged) = (true, false);
            for e in &case.expect {
                if *e == Expect::Repair {
                    if !clean {
                        let ok = spectral_distance_db(
                            &third_octave_db(&b.render, clip.bandwidth_hz),
                            &clean_spectrum,
                        ) < spectral_distance_db(&untouched_spectrum, &clean_spectrum);
                        f.repair.add(ok);
                        all &= ok;
                        judged = true;
                    }
                    continue;
                }
                let Some(ok) = fulfils(table, e, &goals, &m_in, &m_out, room) else {
                    continue;
                };
                all &= ok;
                judged = true;
                if !ok {
                    let v = |m: &Measured, r| {
                        prompts::value(table, e.quantity(), m, r).unwrap_or(f32::NAN)
                    };
                    f.misses.push(PromptMiss {
                        prompt: case.text.clone(),
                        clip: ci,
                        condition: condition.clone(),
                        expect: format!("{e:?}"),
                        value: [v(&m_in, None), v(&m_out, room)],
                    });
                }
                f.direction.add(ok);
                f.per_quantity
                    .entry(e.quantity().to_owned())
                    .or_default()
                    .add(ok);
                f.per_kind.entry(case.kind.clone()).or_default().add(ok);
                f.per_condition
                    .entry(if clean {
                        "clean".into()
                    } else {
                        "damaged".into()
                    })
                    .or_default()
                    .add(ok);
                f.per_prompt.entry(case.text.clone()).or_default().add(ok);
                if let Some(u) = fulfils(table, e, &goals, &m_in, &m_in, None) {
                    f.untouched.add(u);
                }
                if let Some(a) = fulfils(table, e, &goals, &m_in, &m_auto, None) {
                    f.auto_eq.add(a);
                }
            }
            if let Some(g) = goals.iter().find(|g| g.quantity == "loudness") {
                if let Some(l) = m_out.lufs {
                    let err = (l - g.value).abs();
                    loud_err.push(f64::from(err));
                    f.loudness_within_1lu.add(err <= 1.0);
                }
            }
            let e_out = orch.embed_audio(&b.render)?;
            let e_text = orch.embed_prompt(&case.text)?;
            let s_c = directional_similarity(&e_text, &e_out, &e_in);
            // Only results something was measured on are labelled.
            if judged {
                if all {
                    pos.push(s_c)
                } else {
                    neg.push(s_c)
                }
            }
            ms.push(b.ms);
            rounds.push(b.result.report.rounds.len() as f64);
            conv.push(b.result.report.converged);
            f.bakes += 1;
            results.push((k, m_out, room, e_out));
        }
        // Every result against the next prompt whose expectations differ: labelled by
        // measuring that prompt's expectations on it.
        for (k, m_out, room, e_out) in &results {
            let Some(other) = (1..cases.len()).map(|d| (k + d) % cases.len()).find(|&j| {
                cases[j].expect != cases[*k].expect && !cases[j].expect.contains(&Expect::Repair)
            }) else {
                continue;
            };
            let case = &cases[other];
            let s = sanitizer.sanitize(&case.text);
            let goals = reader.read(&s.understood, s.anchor).goals(table, &m_in);
            let judged: Vec<bool> = case
                .expect
                .iter()
                .filter_map(|e| fulfils(table, e, &goals, &m_in, m_out, *room))
                .collect();
            if judged.is_empty() {
                continue;
            }
            let e_text = orch.embed_prompt(&case.text)?;
            let s_c = directional_similarity(&e_text, e_out, &e_in);
            if judged.iter().all(|&b| b) {
                pos.push(s_c);
            } else {
                neg.push(s_c);
                neg_other.push(s_c);
            }
        }
        // Intensity order on clean clips.
        if clean {
            for t in &triples {
                let mut changes = Vec::new();
                for p in [&t.low, &t.mid, &t.high] {
                    let b = bake(orch, p, &input, &config.options)?;
                    let m_out = quantities(table, &b.render, clip.bandwidth_hz);
                    match (
                        prompts::value(table, &t.quantity, &m_in, None),
                        prompts::value(table, &t.quantity, &m_out, None),
                    ) {
                        (Some(i), Some(o)) => {
                            changes.push(if t.direction == "+" { o - i } else { i - o })
                        }
                        _ => break,
                    }
                }
                if changes.len() == 3 {
                    f.monotone
                        .add(changes[0] < changes[1] && changes[1] < changes[2]);
                }
            }
        }
    }
    f.loudness_mean_error_lu = loud_err.iter().sum::<f64>() / loud_err.len().max(1) as f64;
    f.s_c_auc = auc(&pos, &neg);
    f.s_c_auc_other_prompts = auc(&pos, &neg_other);
    let th = f.s_c_threshold;
    f.s_c_rates = [
        share(pos.iter().map(|&s| s >= th)),
        share(neg.iter().map(|&s| s >= th)),
    ];
    f.bake_ms = [
        ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        ms.iter().copied().fold(0.0, f64::max),
    ];
    f.mean_rounds = rounds.iter().sum::<f64>() / rounds.len().max(1) as f64;
    f.converged = share(conv);
    Ok(f)
}

/// The repair part (see the crate docs).
///
/// # Errors
/// A failing bake, render, damage or Python run.
pub fn evaluate_repair(
    orch: &mut Orchestrator,
    clips: &[Clip],
    config: &EvalConfig,
    recordings: &(Recordings, Recordings),
    reference: &([f32; LTAS_BANDS], [f32; LTAS_BANDS]),
) -> Result<RepairFigures> {
    let mut f = RepairFigures::default();
    let mut sums: BTreeMap<(String, bool), [f64; 3]> = BTreeMap::new();
    let mut noise_snr = [Vec::new(), Vec::new()];
    let mut noise_seg = [Vec::new(), Vec::new()];
    let mut jobs = Vec::new();
    let tmp = config.out.join("audio");
    std::fs::create_dir_all(&tmp)
        .with_context(|| format!("Could not create \"{}\"", tmp.display()))?;
    let write = |name: &str, audio: &[f32]| -> Result<PathBuf> {
        let p = tmp.join(name);
        wav(&p, audio)?;
        Ok(p)
    };
    for (ci, clip) in clips.iter().enumerate() {
        progress(
            config.progress,
            &format!("repair: clip {}/{} {}", ci + 1, clips.len(), clip.id),
        );
        let clean_spec = third_octave_db(&clip.audio, clip.bandwidth_hz);
        // Every held-out input and result is kept beside the clean clip
        // (`<clip>_clean.wav`, `<clip>_<kind>_in.wav`, `_fixed.wav`) for listening and
        // `faurge measure`.
        let clean_wav = write(&format!("{ci}_clean.wav"), &clip.audio)?;
        for (ki, kind) in EVAL_KINDS.iter().enumerate() {
            for seen in [Seen::HeldOut, Seen::Training] {
                let seed = config.seed ^ ((ci as u64) << 8) ^ ki as u64;
                let Ok(input) =
                    damaged(clip, *kind, seen, REPAIR_DAMAGE_STRENGTH, seed, recordings)
                else {
                    continue;
                };
                let b = bake(orch, "fix my mic", &input, &config.options)?;
                f.bakes += 1;
                let before =
                    spectral_distance_db(&third_octave_db(&input, clip.bandwidth_hz), &clean_spec);
                let after = spectral_distance_db(
                    &third_octave_db(&b.render, clip.bandwidth_hz),
                    &clean_spec,
                );
                let auto = if seen == Seen::HeldOut {
                    spectral_distance_db(
                        &third_octave_db(
                            &auto_eq(&input, clip.bandwidth_hz, reference)?,
                            clip.bandwidth_hz,
                        ),
                        &clean_spec,
                    )
                } else {
                    0.0
                };
                let e = sums
                    .entry((kind.label().to_owned(), seen == Seen::HeldOut))
                    .or_default();
                e[0] += before;
                e[1] += after;
                e[2] += auto;
                f.per_bake.push(RepairBake {
                    clip: ci,
                    kind: kind.label().to_owned(),
                    held_out: seen == Seen::HeldOut,
                    distance_db: [before, after],
                    verdict: b.result.report.verdict.clone(),
                    found: b
                        .result
                        .report
                        .restoration
                        .iter()
                        .map(|n| format!("{}: {}", n.stage, n.found))
                        .collect(),
                });
                if seen == Seen::HeldOut {
                    if *kind == Kind::Noise {
                        noise_snr[0].push(snr_vs_reference_db(&clip.audio, &input));
                        noise_snr[1].push(snr_vs_reference_db(&clip.audio, &b.render));
                        noise_seg[0].push(segmented_snr_db(&clip.audio, &input));
                        noise_seg[1].push(segmented_snr_db(&clip.audio, &b.render));
                    }
                    let i = write(&format!("{ci}_{}_in.wav", kind.label()), &input)?;
                    let o = write(&format!("{ci}_{}_fixed.wav", kind.label()), &b.render)?;
                    if matches!(kind, Kind::Noise | Kind::PeriodicClicks | Kind::HardClip)
                        && config.python.is_some()
                    {
                        jobs.push(
                            serde_json::json!({"job": "pesq_stoi", "clean": clean_wav, "test": i}),
                        );
                        jobs.push(
                            serde_json::json!({"job": "pesq_stoi", "clean": clean_wav, "test": o}),
                        );
                    }
                }
            }
        }
        // Clean input: "fix my mic" should change almost nothing.
        let b = bake(orch, "fix my mic", &clip.audio, &config.options)?;
        f.bakes += 1;
        let change =
            spectral_distance_db(&third_octave_db(&b.render, clip.bandwidth_hz), &clean_spec);
        f.clean_change_db[0] += change / clips.len() as f64;
        f.clean_change_db[1] = f.clean_change_db[1].max(change);
        let r = &b.result.dsp_state;
        f.clean_restoration_on.add(
            r.restoration.denoise.enabled
                || r.restoration.declick.enabled
                || r.restoration.declip.enabled
                || r.restoration.expander.enabled
                || r.deesser.enabled,
        );
    }
    let (mut all, mut lin) = ([0.0f64; 2], [0.0f64; 2]);
    for ((kind, held), s) in &sums {
        let ratio = if s[0] > 0.0 { s[1] / s[0] } else { f64::NAN };
        if *held {
            f.ratio.insert(kind.clone(), ratio);
            f.ratio_auto_eq.insert(
                kind.clone(),
                if s[0] > 0.0 { s[2] / s[0] } else { f64::NAN },
            );
            all[0] += s[0];
            all[1] += s[1];
            if LINEAR_KINDS.iter().any(|k| k.label() == kind) {
                lin[0] += s[0];
                lin[1] += s[1];
            }
        } else {
            f.ratio_seen.insert(kind.clone(), ratio);
        }
    }
    f.ratio_all = all[1] / all[0].max(1e-9);
    f.ratio_linear = lin[1] / lin[0].max(1e-9);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    f.noise_snr_db = [mean(&noise_snr[0]), mean(&noise_snr[1])];
    f.noise_segmented_snr_db = [mean(&noise_seg[0]), mean(&noise_seg[1])];
    f.pesq = [f64::NAN; 2];
    f.stoi = [f64::NAN; 2];
    match &config.python {
        Some(py) if !jobs.is_empty() => match python::run(py, &jobs) {
            Ok(results) => {
                let (mut p, mut s) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
                for (k, r) in results.iter().enumerate() {
                    if let (Some(pe), Some(st)) = (
                        r.get("pesq").and_then(|v| v.as_f64()),
                        r.get("stoi").and_then(|v| v.as_f64()),
                    ) {
                        p[k % 2].push(pe);
                        s[k % 2].push(st);
                    } else if let Some(e) = r.get("error").and_then(|v| v.as_str()) {
                        f.pesq_note = e.to_owned();
                    }
                }
                f.pesq = [mean(&p[0]), mean(&p[1])];
                f.stoi = [mean(&s[0]), mean(&s[1])];
            }
            Err(e) => f.pesq_note = format!("{e:#}"),
        },
        Some(_) => {}
        None => f.pesq_note = "no Python interpreter with pesq and pystoi (--python)".into(),
    }
    Ok(f)
}

/// The reference part (see the crate docs).
///
/// # Errors
/// A failing bake, render, damage or Python run.
pub fn evaluate_reference(
    orch: &mut Orchestrator,
    clips: &[Clip],
    config: &EvalConfig,
    recordings: &(Recordings, Recordings),
) -> Result<ReferenceFigures> {
    let mut f = ReferenceFigures::default();
    let tmp = config.out.join("audio");
    std::fs::create_dir_all(&tmp)?;
    let mut sums = [[0.0f64; 3]; 2]; // [all, linear] × [before, faurge, matchering]
    let mut jobs = Vec::new();
    let mut pending = Vec::new();
    for (ci, clip) in clips.iter().enumerate() {
        progress(
            config.progress,
            &format!("reference: clip {}/{} {}", ci + 1, clips.len(), clip.id),
        );
        let clean_spec = third_octave_db(&clip.audio, clip.bandwidth_hz);
        for (ki, kind) in TABLE_KINDS.iter().enumerate() {
            let input = damaged(
                clip,
                *kind,
                Seen::HeldOut,
                REPAIR_DAMAGE_STRENGTH,
                config.seed ^ ((ci as u64) << 8) ^ ki as u64,
                recordings,
            )?;
            let mut options = config.options.clone();
            options.reference = Some(ReferenceAudio::new(SAMPLE_RATE, &[&clip.audio])?);
            options.reference_only = true;
            let b = bake(orch, "", &input, &options)?;
            f.bakes += 1;
            let before =
                spectral_distance_db(&third_octave_db(&input, clip.bandwidth_hz), &clean_spec);
            let after =
                spectral_distance_db(&third_octave_db(&b.render, clip.bandwidth_hz), &clean_spec);
            let linear = LINEAR_KINDS.contains(kind);
            for (slot, on) in [(0, true), (1, linear)] {
                if on {
                    sums[slot][0] += before;
                    sums[slot][1] += after;
                }
            }
            if config.python.is_some() {
                let t = tmp.join(format!("ref_{ci}_{}_target.wav", kind.label()));
                let r = tmp.join(format!("ref_{ci}_reference.wav"));
                let o = tmp.join(format!("ref_{ci}_{}_matchering.wav", kind.label()));
                wav(&t, &input)?;
                wav(&r, &clip.audio)?;
                jobs.push(
                    serde_json::json!({"job": "matchering", "target": t, "reference": r, "out": o}),
                );
                pending.push((o, clean_spec.clone(), clip.bandwidth_hz, linear));
            }
        }
    }
    f.faurge = sums[0][1] / sums[0][0].max(1e-9);
    f.faurge_linear = sums[1][1] / sums[1][0].max(1e-9);
    f.matchering = f64::NAN;
    f.matchering_linear = f64::NAN;
    match &config.python {
        Some(py) if !jobs.is_empty() => match python::run(py, &jobs) {
            Ok(results) => {
                let mut m = [0.0f64; 2];
                let mut ok = true;
                for ((path, spec, bw, linear), r) in pending.iter().zip(&results) {
                    if let Some(e) = r.get("error").and_then(|v| v.as_str()) {
                        f.note = e.to_owned();
                        ok = false;
                        break;
                    }
                    let a = faurge_io::read(path)?;
                    let mono = a.to_mono();
                    let at48 = if a.sample_rate == SAMPLE_RATE {
                        mono
                    } else {
                        faurge_io::resample(&[mono], a.sample_rate, SAMPLE_RATE)?.remove(0)
                    };
                    let d = spectral_distance_db(&third_octave_db(&at48, *bw), spec);
                    m[0] += d;
                    if *linear {
                        m[1] += d;
                    }
                }
                if ok {
                    f.matchering = m[0] / sums[0][0].max(1e-9);
                    f.matchering_linear = m[1] / sums[1][0].max(1e-9);
                }
            }
            Err(e) => f.note = format!("{e:#}"),
        },
        Some(_) => {}
        None => f.note = "no Python interpreter with matchering (--python)".into(),
    }
    Ok(f)
}

/// The bars of the issues, met or missed.
pub fn bars(
    p: Option<&PromptFigures>,
    r: Option<&RepairFigures>,
    refm: Option<&ReferenceFigures>,
) -> Vec<Bar> {
    let mut v = Vec::new();
    let mut bar = |name: String, value: f64, rule: &'static str, b: f64| {
        let met = if rule == "≥" {
            value >= b
        } else {
            value <= b
        };
        v.push(Bar {
            name,
            value,
            rule,
            bar: b,
            met,
        });
    };
    if let Some(p) = p {
        bar(
            "direction accuracy, all".into(),
            p.direction.rate(),
            "≥",
            BAR_DIRECTION,
        );
        for (q, c) in &p.per_quantity {
            bar(
                format!("direction accuracy, {q}"),
                c.rate(),
                "≥",
                BAR_DIRECTION_EACH,
            );
        }
        bar(
            "intensity triples in order".into(),
            p.monotone.rate(),
            "≥",
            BAR_MONOTONE,
        );
        bar(
            "bakes within 1 LU of the loudness target".into(),
            p.loudness_within_1lu.rate(),
            "≥",
            BAR_LOUDNESS,
        );
        bar("S_C ROC AUC".into(), p.s_c_auc, "≥", BAR_SC_AUC);
        bar("mean bake time, ms".into(), p.bake_ms[0], "≤", BAR_BAKE_MS);
    }
    if let Some(r) = r {
        for (k, x) in &r.ratio {
            bar(
                format!("fix my mic, {k}: error / untouched"),
                *x,
                "≤",
                BAR_REPAIR_EACH,
            );
        }
        bar(
            "fix my mic, all kinds".into(),
            r.ratio_all,
            "≤",
            BAR_REPAIR_ALL,
        );
        bar(
            "fix my mic, linear kinds".into(),
            r.ratio_linear,
            "≤",
            BAR_REPAIR_LINEAR,
        );
        bar(
            "noise: SNR improvement (speech against pauses), dB".into(),
            r.noise_segmented_snr_db[1] - r.noise_segmented_snr_db[0],
            "≥",
            BAR_NOISE_SNR_DB,
        );
        if r.pesq[0].is_finite() {
            bar(
                "PESQ gain (noise, clicks, clipping)".into(),
                r.pesq[1] - r.pesq[0],
                "≥",
                BAR_PESQ_GAIN,
            );
            bar("STOI change".into(), r.stoi[1] - r.stoi[0], "≥", 0.0);
        }
        bar(
            "clean input: spectral change, dB RMS (mean)".into(),
            r.clean_change_db[0],
            "≤",
            BAR_CLEAN_CHANGE_DB,
        );
    }
    if let Some(f) = refm {
        if f.matchering.is_finite() {
            bar(
                "reference: error / before, Faurge minus matchering".into(),
                f.faurge - f.matchering,
                "≤",
                0.0,
            );
        }
    }
    v
}

/// Runs the parts of `config`.
///
/// # Errors
/// Unreadable models or data, or a failing part.
pub fn evaluate(config: &EvalConfig) -> Result<EvalReport> {
    let t0 = Instant::now();
    let set = ModelSet::open(&config.models).with_context(|| {
        format!(
            "Could not open the models in \"{}\"",
            config.models.display()
        )
    })?;
    let manifest_sha = set.manifest_sha256().to_owned();
    let runtime = Runtime::start(Backend::Tract, 1).context("Could not start the tract backend")?;
    let mut orch = Orchestrator::new(
        ModelManager::new(runtime, set, DEFAULT_BUDGET_BYTES)
            .context("Could not set up the model manager")?,
    )
    .map_err(anyhow::Error::msg)?;
    let table = Reader::embedded()?.table().clone();
    let clips = audio::test_clips(&config.data, config.clips, config.crop_s, config.seed)?;
    let recordings = (
        Recordings::load(&config.data, SAMPLE_RATE, Pool::Training)?,
        Recordings::load(&config.data, SAMPLE_RATE, Pool::HeldOut)?,
    );
    let reference = average_speech_ltas(&config.data)?;
    let want = |p: &str| config.parts.iter().any(|x| x == p);
    let prompts = if want("prompts") {
        Some(evaluate_prompts(
            &mut orch,
            &table,
            &clips,
            config,
            &recordings,
            &reference,
        )?)
    } else {
        None
    };
    let repair = if want("repair") {
        Some(evaluate_repair(
            &mut orch,
            &clips,
            config,
            &recordings,
            &reference,
        )?)
    } else {
        None
    };
    let reference_fig = if want("reference") {
        Some(evaluate_reference(&mut orch, &clips, config, &recordings)?)
    } else {
        None
    };
    let bars = bars(prompts.as_ref(), repair.as_ref(), reference_fig.as_ref());
    Ok(EvalReport {
        provenance: serde_json::json!({
            "models": config.models.display().to_string(),
            "manifest_sha256": manifest_sha,
            "data": config.data.display().to_string(),
            "clips": clips.iter().map(|c| &c.id).collect::<Vec<_>>(),
            "crop_s": config.crop_s,
            "seed": config.seed,
            "max_rounds": config.options.max_rounds,
            "reflection": format!("{:?}", config.options.reflection).to_lowercase(),
            "parts": config.parts,
        }),
        prompts,
        repair,
        reference: reference_fig,
        bars,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn fmt(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "—".into()
    }
}

/// The report as Markdown.
pub fn markdown(r: &EvalReport) -> String {
    let mut s = String::from("# Faurge evaluation\n\n");
    s += &format!("Models `{}` (manifest sha256 `{}`), data `{}`, {} held-out clips of {} s, seed {}, {} rounds, {} s.\n\n",
        r.provenance["models"].as_str().unwrap_or(""), r.provenance["manifest_sha256"].as_str().unwrap_or(""), r.provenance["data"].as_str().unwrap_or(""),
        r.provenance["clips"].as_array().map_or(0, Vec::len), r.provenance["crop_s"], r.provenance["seed"], r.provenance["max_rounds"], r.seconds.round());
    s += "## Bars\n\n| bar | value | rule | met |\n|---|---|---|---|\n";
    for b in &r.bars {
        s += &format!(
            "| {} | {} | {} {} | {} |\n",
            b.name,
            fmt(b.value),
            b.rule,
            b.bar,
            if b.met { "met" } else { "**missed**" }
        );
    }
    if let Some(p) = &r.prompts {
        s += &format!("\n## Prompts ({} bakes)\n\nDirection accuracy {} ({} of {}); untouched input {}; generic auto-EQ {}; repair prompts closer to the clean original {}.\n\n",
            p.bakes, fmt(p.direction.rate()), p.direction.passed, p.direction.total, fmt(p.untouched.rate()), fmt(p.auto_eq.rate()), fmt(p.repair.rate()));
        s += "| quantity | accuracy | judged |\n|---|---|---|\n";
        for (q, c) in &p.per_quantity {
            s += &format!("| {q} | {} | {} |\n", fmt(c.rate()), c.total);
        }
        s += "\n| kind of prompt | accuracy | judged |\n|---|---|---|\n";
        for (q, c) in &p.per_kind {
            s += &format!("| {q} | {} | {} |\n", fmt(c.rate()), c.total);
        }
        for (q, c) in &p.per_condition {
            s += &format!("| input {q} | {} | {} |\n", fmt(c.rate()), c.total);
        }
        s += &format!("\nIntensity triples in order: {} ({} of {}). Loudness: {} of bakes within 1 LU of the target, mean error {} LU. S_C: ROC AUC {} (against other prompts only {}); threshold {:.2}: {} of fulfilling results above it, {} of the others. Bakes: mean {:.0} ms, longest {:.0} ms, {:.2} rounds, {} stopped early.\n",
            fmt(p.monotone.rate()), p.monotone.passed, p.monotone.total, fmt(p.loudness_within_1lu.rate()), fmt(p.loudness_mean_error_lu), fmt(p.s_c_auc), fmt(p.s_c_auc_other_prompts), p.s_c_threshold, fmt(p.s_c_rates[0]), fmt(p.s_c_rates[1]), p.bake_ms[0], p.bake_ms[1], p.mean_rounds, fmt(p.converged));
        let mut worst: Vec<(&String, &Count)> = p
            .per_prompt
            .iter()
            .filter(|(_, c)| c.passed < c.total)
            .collect();
        worst.sort_by(|a, b| a.1.rate().total_cmp(&b.1.rate()));
        if !worst.is_empty() {
            s += "\nPrompts most often missed:\n\n| prompt | fulfilled |\n|---|---|\n";
            for (t, c) in worst.iter().take(15) {
                s += &format!("| {t} | {} of {} |\n", c.passed, c.total);
            }
        }
    }
    if let Some(rp) = &r.repair {
        s += &format!("\n## Fix my mic ({} bakes)\n\nSummed 1/3-octave distance to the clean original, after / untouched (held-out damage implementations; training implementations beside).\n\n| kind | Faurge | seen implementations | generic auto-EQ |\n|---|---|---|---|\n", rp.bakes);
        for (k, v) in &rp.ratio {
            s += &format!(
                "| {k} | {} | {} | {} |\n",
                fmt(*v),
                fmt(*rp.ratio_seen.get(k).unwrap_or(&f64::NAN)),
                fmt(*rp.ratio_auto_eq.get(k).unwrap_or(&f64::NAN))
            );
        }
        s += &format!("| all | {} | | |\n| linear | {} | | |\n\nNoise: speech against pauses {} → {} dB; SNR against the clean original (any change counts as noise) {} → {} dB. PESQ {} → {}, STOI {} → {}{}. Clean input: spectral change {} dB RMS (largest {}), restoration switched on for {} of {} clips.\n",
            fmt(rp.ratio_all), fmt(rp.ratio_linear), fmt(rp.noise_segmented_snr_db[0]), fmt(rp.noise_segmented_snr_db[1]), fmt(rp.noise_snr_db[0]), fmt(rp.noise_snr_db[1]), fmt(rp.pesq[0]), fmt(rp.pesq[1]), fmt(rp.stoi[0]), fmt(rp.stoi[1]),
            if rp.pesq_note.is_empty() { String::new() } else { format!(" ({})", rp.pesq_note) },
            fmt(rp.clean_change_db[0]), fmt(rp.clean_change_db[1]), rp.clean_restoration_on.passed, rp.clean_restoration_on.total);
    }
    if let Some(f) = &r.reference {
        s += &format!("\n## Reference matching ({} bakes)\n\nSummed distance to the reference after / before: Faurge {} (linear kinds {}), matchering 2.0 {} (linear {}){}.\n",
            f.bakes, fmt(f.faurge), fmt(f.faurge_linear), fmt(f.matchering), fmt(f.matchering_linear), if f.note.is_empty() { String::new() } else { format!(" — {}", f.note) });
    }
    s
}

/// Writes `eval.json` and `eval.md` into `out`; returns their paths.
///
/// # Errors
/// Unwritable `out`.
pub fn write(report: &EvalReport, out: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("Could not create \"{}\"", out.display()))?;
    let json = out.join("eval.json");
    let md = out.join("eval.md");
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("Could not write \"{}\"", json.display()))?;
    std::fs::write(&md, markdown(report))
        .with_context(|| format!("Could not write \"{}\"", md.display()))?;
    Ok((json, md))
}

/// Writes the report's figures into the models' `manifest.json` as
/// `evaluation.rendered` (nothing else changes).
///
/// # Errors
/// An unreadable or unwritable manifest.
pub fn record(report: &EvalReport, models: &Path) -> Result<PathBuf> {
    let path = models.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("Could not read \"{}\"", path.display()))?,
    )?;
    let fig = serde_json::json!({
        "prompts": report.prompts,
        "repair": report.repair,
        "reference": report.reference,
        "bars": report.bars,
        "provenance": report.provenance,
    });
    m["evaluation"]["rendered"] = fig;
    std::fs::write(&path, serde_json::to_string_pretty(&m)? + "\n")
        .with_context(|| format!("Could not write \"{}\"", path.display()))?;
    Ok(path)
}

/// `cargo xtask eval [ARGS]` (see the usage text): relative paths are taken from the
/// workspace root; prints the Markdown report and writes `eval.json` / `eval.md`.
///
/// # Errors
/// Bad arguments or any failure of [`evaluate`] / [`write()`].
pub fn run(root: &Path, args: &[&str]) -> Result<()> {
    let mut config = EvalConfig {
        data: PathBuf::from("../shared/data"),
        models: PathBuf::from("bundle/models"),
        out: PathBuf::from("target/eval"),
        clips: 12,
        crop_s: 6.0,
        max_prompts: None,
        seed: 1,
        options: BakeOptions::default(),
        parts: vec!["prompts".into(), "repair".into(), "reference".into()],
        python: Some(PathBuf::from("training/.venv/bin/python")),
        progress: true,
    };
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
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--data" => config.data = value()?.into(),
            "--models" => config.models = value()?.into(),
            "--out" => config.out = value()?.into(),
            "--python" => config.python = Some(value()?.into()),
            "--clips" => {
                let v = value()?;
                config.clips = v.parse().with_context(|| num_err(v))?;
            }
            "--prompts" => {
                let v = value()?;
                config.max_prompts = Some(v.parse().with_context(|| num_err(v))?);
            }
            "--crop-s" => {
                let v = value()?;
                config.crop_s = v.parse().with_context(|| num_err(v))?;
            }
            "--seed" => {
                let v = value()?;
                config.seed = v.parse().with_context(|| num_err(v))?;
            }
            "--max-rounds" => {
                let v = value()?;
                config.options.max_rounds = v.parse().with_context(|| num_err(v))?;
            }
            "--reflection" => {
                config.options.reflection = match value()? {
                    "measured" => Reflection::Measured,
                    "fabian" => Reflection::Fabian,
                    v => bail!("--reflection is \"{v}\", but must be measured or fabian\n{USAGE}"),
                };
            }
            "--parts" => config.parts = value()?.split(',').map(str::to_owned).collect(),
            "--record" => record_figures = true,
            _ => bail!("Unknown argument \"{a}\"\n{USAGE}"),
        }
    }
    config.data = root.join(&config.data);
    config.models = root.join(&config.models);
    config.out = root.join(&config.out);
    config.python = config.python.map(|p| root.join(p)).filter(|p| p.exists());
    eprintln!(
        "Evaluating \"{}\" on {} held-out clips of \"{}\" (parts: {})",
        config.models.display(),
        config.clips,
        config.data.display(),
        config.parts.join(", ")
    );
    let report = evaluate(&config)?;
    let (json, md) = write(&report, &config.out)?;
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
    fn auc_counts_pairs_in_order_and_ties_half() {
        assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        assert_eq!(auc(&[0.1], &[0.9]), 0.0);
        assert_eq!(auc(&[0.5], &[0.5]), 0.5);
        assert!(auc(&[], &[0.5]).is_nan());
    }

    #[test]
    fn bars_compare_the_right_way() {
        let mut r = RepairFigures {
            ratio_all: 0.65,
            ratio_linear: 0.7,
            noise_snr_db: [5.0, 16.0],
            noise_segmented_snr_db: [8.0, 19.0],
            clean_change_db: [0.5, 0.9],
            ..RepairFigures::default()
        };
        r.ratio.insert("boom".into(), 0.5);
        r.pesq = [f64::NAN; 2];
        let b = bars(None, Some(&r), None);
        let get = |n: &str| b.iter().find(|x| x.name.contains(n)).unwrap().met;
        assert!(get("all kinds"));
        assert!(!get("linear kinds"));
        assert!(get("SNR improvement"));
        assert!(get("boom"));
        assert!(get("clean input"));
    }
}
