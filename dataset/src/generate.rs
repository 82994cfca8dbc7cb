//! The dataset build: clean clip → damaged input and an intent's rendered target →
//! measurements, log-mel, caption → one row; rows written per split as Parquet with a
//! sha256 content hash.
//!
//! Each row pairs a real clean recording with
//! - an **input**: the clean crop, or the crop through a random combination of the
//!   training damage families ([`crate::damage`]: room, reflections, microphone
//!   tone, noise and hum, clicks, clipping);
//! - a **caption** drawn from the grammar or the hand-written paraphrases
//!   ([`crate::captions`]) and its **intent** as the prompt reader reads it;
//! - a **target**: the intent rendered through the chain ([`crate::target`]) on the
//!   audio the prompt acts on. A repair ("fix my mic") acts on the clean recording,
//!   so its target is what the microphone should have recorded (plus any descriptor
//!   the prompt adds). A relative prompt ("a touch warmer") acts on the input as it
//!   is, except for the faults it asks to remove: "warmer and less noisy" acts on the
//!   input re-damaged without its noise. Loudness goals are relative to the input.
//!
//! The row layout follows the training pipeline's needs: the encoder inputs (log-mel
//! of input and target, caption token ids, the intent vector the text probe learns),
//! the input's metrics, the targets and deltas `ΔT = T_target − M_input`, damage
//! labels, and the LTAS band mask of the source's real bandwidth.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use faurge_dsp::analysis::{self, ltas, mel, LTAS_BANDS, MEL_BANDS, SPECTRUM_BANDS};
use faurge_vocabulary::intent::Intent;
use faurge_vocabulary::Tokenizer;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::captions::{Caption, Grammar, Plan};
use crate::damage::{Applied, Family, Pool, Recordings, Registry, Step};
use crate::sources::{scan, SpeechClip, Split};
use crate::target::{render_intent, Recipe};
use faurge_vocabulary::Vocabulary;

/// Sample rate every row is rendered and measured at, Hz. 16 kHz sources are
/// upsampled (their missing band is masked, see [`Row::ltas_mask`]).
pub const SAMPLE_RATE: u32 = 48_000;
/// Length of the crop every row uses, seconds.
pub const DEFAULT_CROP_S: f32 = 3.0;
/// Rows drawn per clean clip (each with its own caption, damage and crop).
pub const DEFAULT_ROWS_PER_CLIP: usize = 4;
/// Caption token sequences are padded/truncated to this many ids.
pub const MAX_TOKENS: usize = 24;
/// Damage families, in [`Family::ALL`] order: the order of [`Row::damage_mask`].
pub const DAMAGE_FAMILIES: [Family; 6] = Family::ALL;
/// Share of rows whose caption asks only for a repair ("fix my mic").
pub const P_REPAIR: f64 = 0.25;
/// Share of rows whose caption asks for a repair and one or more descriptors.
pub const P_REPAIR_AND: f64 = 0.2;
/// Probability that a repair row's input is damaged (else it is the clean
/// recording, whose right repair is to change nothing).
pub const P_DAMAGED_REPAIR: f64 = 0.85;
/// Probability that a descriptor row's input is damaged.
pub const P_DAMAGED_DESCRIPTORS: f64 = 0.4;
/// Probability that a caption is a hand-written paraphrase.
pub const P_PARAPHRASE: f64 = 0.15;

/// Why a dataset could not be built.
#[derive(Debug, Error)]
pub enum BuildError {
    /// No speech clip found.
    #[error("Found no speech clips under \"{0}\": expected LibriSpeech (NNN-NNN-NNNN.flac) or VCTK (pNNN_NNN.wav) files")]
    NoSpeech(String),
    /// An audio file could not be read or resampled.
    #[error("Could not read \"{path}\": {message}")]
    Audio {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A damage failed.
    #[error("a damage failed: {0}")]
    Damage(String),
    /// Writing the output failed.
    #[error("Could not write \"{path}\": {message}")]
    Write {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildConfig {
    /// The data folder (`speech/`, `noise/`, `rir/`).
    pub data: PathBuf,
    /// Output folder (created).
    pub out: PathBuf,
    /// Seed of every random draw.
    pub seed: u64,
    /// Use at most this many speech clips (the first in sorted order).
    pub max_clips: Option<usize>,
    /// Rows per clip.
    pub rows_per_clip: usize,
    /// Crop length, seconds.
    pub crop_s: f32,
    /// The vocabulary.
    pub vocabulary: Vocabulary,
}

/// One dataset row. Vectors in dB unless stated; `*_ltas` are 64 bands
/// (`faurge_dsp::analysis::ltas`), `*_dyn` are `[crest factor dB, zero crossings/s]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `corpus/name#variant`.
    pub id: String,
    /// Speaker split.
    pub split: Split,
    /// `librispeech` or `vctk`.
    pub corpus: String,
    /// Speaker id.
    pub speaker: String,
    /// Recording name.
    pub source: String,
    /// Source sample rate, Hz.
    pub source_sample_rate: u32,
    /// Real bandwidth of the source, Hz: `min(effective_bandwidth_hz, source Nyquist)`.
    pub bandwidth_hz: f32,
    /// 1 for LTAS bands at or below `bandwidth_hz` ([`ltas::ltas_bands_below`]), else 0.
    pub ltas_mask: Vec<f32>,
    /// Same for the 256 [`analysis::ltas::spectrum_db`] bands.
    pub spectrum_mask: Vec<f32>,
    /// The caption as a user would type it.
    pub caption: String,
    /// What the sanitizer made of it (what the text encoder reads).
    pub understood: String,
    /// Token ids of `understood`, [`MAX_TOKENS`].
    pub caption_tokens: Vec<i32>,
    /// Whether the caption is a hand-written paraphrase.
    pub paraphrase: bool,
    /// The reader's intent as JSON.
    pub intent_json: String,
    /// [`Intent::vector`] of it.
    pub intent_vector: Vec<f32>,
    /// What was understood, in one line (`Intent::summary`).
    pub intent_summary: String,
    /// The caption asks for a repair.
    pub repair: bool,
    /// Every term is relative and nothing absolute is asked.
    pub relative: bool,
    /// The applied damage steps as JSON (`[]` for a clean input).
    pub damage_json: String,
    /// Short labels of the applied damages, `; `-separated.
    pub damage_labels: String,
    /// 1 per family of [`DAMAGE_FAMILIES`] present in the input.
    pub damage_mask: Vec<f32>,
    /// 1 per family of [`DAMAGE_FAMILIES`] present in the input and removed in the
    /// target: what a restoration stage should undo.
    pub restore_mask: Vec<f32>,
    /// The target's recipe (chain settings, room, goals) as JSON.
    pub recipe_json: String,
    /// Goals met by the rendered target / goals.
    pub goals_met: f32,
    /// Reverberant-to-direct ratio of the room the target adds, dB (−100: none).
    pub target_room_db: f32,
    /// `T_LTAS` of the target (masked bands: `LTAS_FLOOR_DB`).
    pub target_ltas: Vec<f32>,
    /// `T_LUFS` of the target.
    pub target_lufs: f32,
    /// `T_Dyn` of the target.
    pub target_dyn: Vec<f32>,
    /// `input_purity` of the target.
    pub target_purity: f32,
    /// `T_LTAS` of the input.
    pub input_ltas: Vec<f32>,
    /// `T_LUFS` of the input.
    pub input_lufs: f32,
    /// `T_Dyn` of the input.
    pub input_dyn: Vec<f32>,
    /// `T_Purity` (0..1) of the input.
    pub input_purity: f32,
    /// SNR estimate of the input, dB.
    pub input_snr_db: f32,
    /// Whether the input needs Genesis (`purity::requires_genesis`).
    pub requires_genesis: bool,
    /// `target_ltas − input_ltas`, 0 in masked bands.
    pub delta_ltas: Vec<f32>,
    /// `target_lufs − input_lufs`.
    pub delta_lufs: f32,
    /// `target_dyn − input_dyn`.
    pub delta_dyn: Vec<f32>,
    /// 256-band spectrum of the input (Genesis' input).
    pub input_spectrum: Vec<f32>,
    /// 256-band spectrum of the target.
    pub target_spectrum: Vec<f32>,
    /// Log-mel of the input, row-major `[mel_frames, 64]`.
    pub input_mel: Vec<f32>,
    /// Log-mel of the target, `[mel_frames, 64]`.
    pub target_mel: Vec<f32>,
}

/// What a build produced.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// sha256 over the sorted `sha256  file` lines of every Parquet file.
    pub content_hash: String,
    /// Rows per split.
    pub rows: Vec<(String, usize)>,
    /// Speakers per split.
    pub speakers: Vec<(String, usize)>,
    /// Mel frames per row.
    pub mel_frames: usize,
    /// Distinct captions.
    pub distinct_captions: usize,
    /// Share of goals the rendered targets meet.
    pub goals_met: f32,
    /// Files written with their sha256.
    pub files: Vec<(String, String)>,
}

fn audio_err(path: &Path, e: impl std::fmt::Display) -> BuildError {
    BuildError::Audio {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> BuildError {
    BuildError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A clean clip loaded for rows: mono at [`SAMPLE_RATE`] and its bandwidth.
pub(crate) struct Loaded {
    pub(crate) audio: Vec<f32>,
    source_sample_rate: u32,
    pub(crate) bandwidth_hz: f32,
}

pub(crate) fn load_clip(clip: &SpeechClip) -> Result<Loaded, BuildError> {
    let a = faurge_io::read(&clip.path).map_err(|e| audio_err(&clip.path, e))?;
    let mono = a.to_mono();
    let sr = a.sample_rate;
    let nyquist = sr as f32 / 2.0;
    let bw = ltas::effective_bandwidth_hz(&[&mono], sr as f32);
    let bandwidth_hz = if bw > 0.0 { bw.min(nyquist) } else { nyquist };
    let audio = if sr == SAMPLE_RATE {
        mono
    } else {
        faurge_io::resample(&[mono], sr, SAMPLE_RATE)
            .map_err(|e| audio_err(&clip.path, e))?
            .into_iter()
            .next()
            .unwrap_or_default()
    };
    Ok(Loaded {
        audio,
        source_sample_rate: sr,
        bandwidth_hz,
    })
}

/// A `crop`-sample window of `audio`: up to 8 random starts, the first whose RMS
/// is above −45 dBFS (else the loudest tried); zero-padded when the clip is shorter.
pub fn crop(audio: &[f32], crop: usize, rng: &mut impl Rng) -> Vec<f32> {
    if audio.len() <= crop {
        let mut v = audio.to_vec();
        v.resize(crop, 0.0);
        return v;
    }
    let rms_db = |s: usize| {
        let ms = audio[s..s + crop]
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / crop as f64;
        10.0 * ms.max(1e-20).log10()
    };
    let mut best = (f64::NEG_INFINITY, 0);
    for _ in 0..8 {
        let s = rng.gen_range(0..=audio.len() - crop);
        let l = rms_db(s);
        if l > -45.0 {
            best = (l, s);
            break;
        }
        if l > best.0 {
            best = (l, s);
        }
    }
    audio[best.1..best.1 + crop].to_vec()
}

fn band_mask(edges: &[f32], bandwidth_hz: f32) -> Vec<f32> {
    edges
        .windows(2)
        .map(|w| if w[1] <= bandwidth_hz { 1.0 } else { 0.0 })
        .collect()
}

/// A per-row RNG seed: sha256 of the build seed, the clip and the variant.
fn row_seed(seed: u64, clip: &SpeechClip, variant: usize) -> u64 {
    let h = Sha256::digest(format!("{seed}:{}/{}#{variant}", clip.corpus, clip.name).as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b)
}

fn tokens(t: &Tokenizer, text: &str) -> Vec<i32> {
    t.encode(text, MAX_TOKENS)
        .into_iter()
        .map(|v| v as i32)
        .collect()
}

/// A row with the audio it was measured from (mono, [`SAMPLE_RATE`], the crop length).
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedRow {
    /// The row, identical to what [`build_rows`] makes.
    pub row: Row,
    /// The clean crop the input was made from.
    pub clean: Vec<f32>,
    /// The (possibly damaged) input the `input_*` metrics describe.
    pub input: Vec<f32>,
    /// The rendered target the `target_*` metrics describe.
    pub target: Vec<f32>,
}

/// The families a caption asks to remove ("less noisy", "no clicks"): those steps
/// are left out of the audio the prompt acts on.
fn removed_families(
    table: &faurge_vocabulary::descriptors::Descriptors,
    intent: &Intent,
) -> Vec<Family> {
    let mut v = Vec::new();
    for t in intent.terms.iter().filter(|t| t.intensity < 0.0) {
        let Some(d) = table.descriptor(&t.descriptor) else {
            continue;
        };
        // A term asking less of a fault removes that fault's family.
        let q = d.quantity.as_deref().unwrap_or("");
        let f = match (q, d.sign) {
            ("noise", Some(-1)) => Some(Family::Noise),
            ("clicks", _) => Some(Family::Clicks),
            ("clipping", _) => Some(Family::Clipping),
            _ => None,
        };
        if let Some(f) = f {
            v.push(f);
        }
    }
    // "cleaner": a positive request for a higher speech-to-noise ratio.
    if intent.terms.iter().any(|t| {
        t.intensity > 0.0
            && table
                .descriptor(&t.descriptor)
                .and_then(|d| d.quantity.as_deref())
                == Some("noise")
    }) {
        v.push(Family::Noise);
    }
    v
}

/// Everything a row needs besides the clip.
struct Ctx<'a> {
    grammar: &'a Grammar,
    tokenizer: &'a Tokenizer,
    registry: &'a Registry,
    recordings: &'a Recordings,
    crop: usize,
    seed: u64,
}

#[allow(clippy::ptr_arg)] // the steps may lengthen the audio
fn apply_steps(
    ctx: &Ctx,
    steps: &[Step],
    audio: &mut Vec<f32>,
) -> Result<Vec<Applied>, BuildError> {
    ctx.registry
        .apply_steps(
            steps,
            &mut [&mut audio[..]],
            SAMPLE_RATE as f32,
            ctx.recordings,
        )
        .map_err(|e| BuildError::Damage(e.to_string()))
}

fn make_rendered_row(
    ctx: &Ctx,
    clip: &SpeechClip,
    loaded: &Loaded,
    variant: usize,
) -> Result<RenderedRow, BuildError> {
    let sr = SAMPLE_RATE as f32;
    let table = &ctx.grammar.reader().table().clone();
    let mut rng = ChaCha8Rng::seed_from_u64(row_seed(ctx.seed, clip, variant));
    let u: f64 = rng.gen();
    let plan = if u < P_REPAIR {
        Plan::Repair
    } else if u < P_REPAIR + P_REPAIR_AND {
        Plan::RepairAnd
    } else {
        Plan::Descriptors
    };
    // The expander that would raise the crest factor is a restoration stage the
    // targets do not render yet: "more dynamic" is left out of the captions.
    let allow = |d: &faurge_vocabulary::descriptors::Descriptor| d.word != "dynamic";
    let caption: Caption = ctx.grammar.draw(&mut rng, plan, P_PARAPHRASE, &allow);
    let intent = caption.intent.clone();

    let clean = crop(&loaded.audio, ctx.crop, &mut rng);
    let damaged = rng.gen_bool(if plan == Plan::Descriptors {
        P_DAMAGED_DESCRIPTORS
    } else {
        P_DAMAGED_REPAIR
    });
    let steps: Vec<Step> = if damaged {
        let mut r = ChaCha8Rng::seed_from_u64(rng.gen());
        ctx.registry.draw_combination(&mut r, sr, ctx.recordings, 1)
    } else {
        Vec::new()
    };
    let mut input = clean.clone();
    let applied = apply_steps(ctx, &steps, &mut input)?;

    // The audio the prompt acts on.
    let removed = removed_families(table, &intent);
    let base = if intent.repair {
        clean.clone()
    } else if steps.iter().any(|s| removed.contains(&s.kind.family())) {
        let kept: Vec<Step> = steps
            .iter()
            .filter(|s| !removed.contains(&s.kind.family()))
            .cloned()
            .collect();
        let mut b = clean.clone();
        apply_steps(ctx, &kept, &mut b)?;
        b
    } else {
        input.clone()
    };
    let im = analysis::measure(&[&input], sr);
    let rirs: Vec<Vec<f32>> = ctx
        .recordings
        .rirs()
        .iter()
        .map(|r| r.samples.clone())
        .collect();
    let bw = loaded.bandwidth_hz;
    let (target, recipe): (Vec<f32>, Recipe) =
        render_intent(table, &intent, &base, sr, bw, im.lufs, &rirs, &mut rng);

    let present: Vec<Family> = steps.iter().map(|s| s.kind.family()).collect();
    let damage_mask: Vec<f32> = DAMAGE_FAMILIES
        .iter()
        .map(|f| if present.contains(f) { 1.0 } else { 0.0 })
        .collect();
    let restore_mask: Vec<f32> = DAMAGE_FAMILIES
        .iter()
        .map(|f| {
            if present.contains(f) && (intent.repair || removed.contains(f)) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let ltas_mask: Vec<f32> = ltas::ltas_bands_below(bw)
        .iter()
        .map(|&b| if b { 1.0 } else { 0.0 })
        .collect();
    let spectrum_mask = band_mask(&ltas::spectrum_band_edges_hz(), bw);
    let tm = analysis::measure(&[&target], sr);
    let t_ltas = ltas::ltas_with_bandwidth(&[&target], sr, bw);
    let i_ltas = ltas::ltas_with_bandwidth(&[&input], sr, bw);
    let delta_ltas: Vec<f32> = (0..LTAS_BANDS)
        .map(|b| (t_ltas[b] - i_ltas[b]) * ltas_mask[b])
        .collect();
    let row = Row {
        id: format!("{}/{}#{variant}", clip.corpus, clip.name),
        split: clip.split(),
        corpus: clip.corpus.clone(),
        speaker: clip.speaker.clone(),
        source: clip.name.clone(),
        source_sample_rate: loaded.source_sample_rate,
        bandwidth_hz: bw,
        ltas_mask,
        spectrum_mask,
        caption_tokens: tokens(ctx.tokenizer, &caption.understood),
        caption: caption.text.clone(),
        understood: caption.understood.clone(),
        paraphrase: caption.paraphrase,
        intent_json: serde_json::to_string(&intent).unwrap_or_default(),
        intent_vector: intent.vector(table),
        intent_summary: intent.summary(table),
        repair: intent.repair,
        relative: intent.is_relative(),
        damage_json: serde_json::to_string(&applied).unwrap_or_default(),
        damage_labels: applied
            .iter()
            .map(|a| a.label.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        damage_mask,
        restore_mask,
        goals_met: if recipe.goals.is_empty() {
            1.0
        } else {
            recipe.met as f32 / recipe.goals.len() as f32
        },
        target_room_db: recipe.room.map_or(-100.0, |(_, r)| r),
        recipe_json: serde_json::to_string(&recipe).unwrap_or_default(),
        target_ltas: t_ltas.to_vec(),
        target_lufs: tm.t_lufs(),
        target_dyn: tm.dynamics.to_vec(),
        target_purity: tm.purity.input_purity,
        input_ltas: i_ltas.to_vec(),
        input_lufs: im.t_lufs(),
        input_dyn: im.dynamics.to_vec(),
        input_purity: im.purity.input_purity,
        input_snr_db: im.purity.snr_db,
        requires_genesis: im.requires_genesis(),
        delta_ltas,
        delta_lufs: tm.t_lufs() - im.t_lufs(),
        delta_dyn: vec![
            tm.dynamics[0] - im.dynamics[0],
            tm.dynamics[1] - im.dynamics[1],
        ],
        input_spectrum: analysis::ltas::spectrum_db(&[&input], sr).to_vec(),
        target_spectrum: analysis::ltas::spectrum_db(&[&target], sr).to_vec(),
        input_mel: mel::log_mel(&[&input], sr),
        target_mel: mel::log_mel(&[&target], sr),
    };
    Ok(RenderedRow {
        row,
        clean,
        input,
        target,
    })
}

/// A 64-band `T_LTAS` (dB) and its 0/1 band mask.
pub type MaskedLtas = (Vec<f32>, Vec<f32>);

/// Captions drawn (with a fixed seed) to collect the grammar's words for the tokenizer.
pub const TOKENIZER_SAMPLE: usize = 20_000;

/// The tokenizer of a build: the vocabulary's words, the paraphrases' words and every
/// word of [`TOKENIZER_SAMPLE`] captions drawn from the grammar with a fixed seed (the
/// grammar's own words: its templates and intensity words), plus loudness numbers.
pub fn build_tokenizer(vocabulary: &Vocabulary, grammar: &Grammar) -> Tokenizer {
    let mut texts: Vec<String> = vocabulary.tokenizer().words;
    texts.extend(
        grammar
            .paraphrase_captions()
            .iter()
            .map(|c| c.understood.clone()),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0x70CE);
    for k in 0..TOKENIZER_SAMPLE {
        let plan = [
            Plan::Repair,
            Plan::Descriptors,
            Plan::RepairAnd,
            Plan::Descriptors,
        ][k % 4];
        texts.push(grammar.draw(&mut rng, plan, 0.0, &|_| true).understood);
    }
    for l in -40..=-6 {
        texts.push(format!("{l}"));
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    Tokenizer::from_texts(&refs)
}

/// Rows of one split regenerated clip by clip, with their audio. Row `k` of clip `i`
/// is bit-identical to the row [`build_rows`] makes for the same config (row seeds
/// depend only on the build seed, the clip and the variant).
pub struct RowSource {
    clips: Vec<SpeechClip>,
    grammar: Grammar,
    tokenizer: Tokenizer,
    registry: Registry,
    recordings: Recordings,
    crop: usize,
    seed: u64,
    rows_per_clip: usize,
}

impl RowSource {
    /// Scans `config.data` as [`build_rows`] does (same `max_clips` truncation, same
    /// training recordings) and keeps the speech clips of `split` (all for `None`).
    ///
    /// # Errors
    /// [`BuildError::NoSpeech`] when the folder has no speech at all, or an
    /// unreadable recording.
    pub fn new(config: &BuildConfig, split: Option<Split>) -> Result<RowSource, BuildError> {
        let sources = scan(&config.data);
        let mut speech = sources.speech;
        if speech.is_empty() {
            return Err(BuildError::NoSpeech(config.data.display().to_string()));
        }
        if let Some(n) = config.max_clips {
            speech.truncate(n);
        }
        speech.retain(|c| split.is_none_or(|s| c.split() == s));
        let recordings = Recordings::load(&config.data, SAMPLE_RATE, Pool::Training)
            .map_err(|e| BuildError::Damage(e.to_string()))?;
        let grammar = Grammar::new(&config.vocabulary);
        let tokenizer = build_tokenizer(&config.vocabulary, &grammar);
        Ok(RowSource {
            clips: speech,
            grammar,
            tokenizer,
            registry: Registry::training(),
            recordings,
            crop: (config.crop_s * SAMPLE_RATE as f32).round() as usize,
            seed: config.seed,
            rows_per_clip: config.rows_per_clip,
        })
    }

    /// The clips kept, in build order.
    pub fn clips(&self) -> &[SpeechClip] {
        &self.clips
    }

    /// Rows per clip.
    pub fn rows_per_clip(&self) -> usize {
        self.rows_per_clip
    }

    /// The tokenizer the rows' caption ids use.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The rows of clip `index` (of [`RowSource::clips`]) with their audio.
    ///
    /// # Errors
    /// [`BuildError`] for unreadable audio or a failing damage; an index out of range
    /// gives no rows.
    pub fn clip_rows(&self, index: usize) -> Result<Vec<RenderedRow>, BuildError> {
        let Some(clip) = self.clips.get(index) else {
            return Ok(Vec::new());
        };
        let ctx = Ctx {
            grammar: &self.grammar,
            tokenizer: &self.tokenizer,
            registry: &self.registry,
            recordings: &self.recordings,
            crop: self.crop,
            seed: self.seed,
        };
        let loaded = load_clip(clip)?;
        (0..self.rows_per_clip)
            .map(|v| make_rendered_row(&ctx, clip, &loaded, v))
            .collect()
    }

    /// `T_LTAS` of the whole clean clip `index` (not a crop) at [`SAMPLE_RATE`],
    /// masked above its bandwidth like a row, with that 0/1 mask.
    ///
    /// # Errors
    /// [`BuildError::Audio`] for an unreadable clip; an index out of range is `None`.
    pub fn clean_ltas(&self, index: usize) -> Result<Option<MaskedLtas>, BuildError> {
        let Some(clip) = self.clips.get(index) else {
            return Ok(None);
        };
        let loaded = load_clip(clip)?;
        let l =
            ltas::ltas_with_bandwidth(&[&loaded.audio], SAMPLE_RATE as f32, loaded.bandwidth_hz);
        let m = ltas::ltas_bands_below(loaded.bandwidth_hz)
            .iter()
            .map(|&b| if b { 1.0 } else { 0.0 })
            .collect();
        Ok(Some((l.to_vec(), m)))
    }
}

/// Builds every row in memory (deterministic for `config.seed`; clips run in
/// parallel with rayon, results kept in clip order). Returns the rows and the
/// tokenizer their caption ids use.
///
/// # Errors
/// [`BuildError`] for missing speech, unreadable audio or a failing damage.
pub fn build_rows(config: &BuildConfig) -> Result<(Vec<Row>, Tokenizer), BuildError> {
    let source = RowSource::new(config, None)?;
    let per_clip: Result<Vec<Vec<Row>>, BuildError> = (0..source.clips().len())
        .into_par_iter()
        .map(|i| {
            source
                .clip_rows(i)
                .map(|rows| rows.into_iter().map(|r| r.row).collect())
        })
        .collect();
    Ok((
        per_clip?.into_iter().flatten().collect(),
        source.tokenizer.clone(),
    ))
}

fn fixed_list(rows: &[&Row], width: usize, get: impl Fn(&Row) -> &[f32]) -> ArrayRef {
    let mut values = Vec::with_capacity(rows.len() * width);
    for r in rows {
        let v = get(r);
        values.extend((0..width).map(|i| v.get(i).copied().unwrap_or(0.0)));
    }
    let field = Arc::new(Field::new("item", DataType::Float32, false));
    Arc::new(FixedSizeListArray::new(
        field,
        width as i32,
        Arc::new(Float32Array::from(values)),
        None,
    ))
}

fn fixed_list_i32(rows: &[&Row], width: usize, get: impl Fn(&Row) -> &[i32]) -> ArrayRef {
    let mut values = Vec::with_capacity(rows.len() * width);
    for r in rows {
        let v = get(r);
        values.extend((0..width).map(|i| v.get(i).copied().unwrap_or(0)));
    }
    let field = Arc::new(Field::new("item", DataType::Int32, false));
    Arc::new(FixedSizeListArray::new(
        field,
        width as i32,
        Arc::new(Int32Array::from(values)),
        None,
    ))
}

/// The rows as one Arrow record batch. Fixed-size vectors are
/// `FixedSizeList<Float32>` columns; mels are flattened `[mel_frames · 64]`.
///
/// # Errors
/// Only if the columns are inconsistent (a bug).
pub fn to_batch(rows: &[&Row], mel_frames: usize) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let s = |f: fn(&Row) -> &str| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|r| f(r)).collect::<Vec<_>>(),
        ))
    };
    let f = |g: fn(&Row) -> f32| -> ArrayRef {
        Arc::new(Float32Array::from(
            rows.iter().map(|r| g(r)).collect::<Vec<_>>(),
        ))
    };
    let i = |g: fn(&Row) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from(
            rows.iter().map(|r| g(r)).collect::<Vec<_>>(),
        ))
    };
    let b = |g: fn(&Row) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| g(r)).collect::<Vec<_>>(),
        ))
    };
    let mel_len = mel_frames * MEL_BANDS;
    let intent_len = rows.first().map_or(0, |r| r.intent_vector.len());
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", s(|r| &r.id)),
        ("split", s(|r| r.split.label())),
        ("corpus", s(|r| &r.corpus)),
        ("speaker", s(|r| &r.speaker)),
        ("source", s(|r| &r.source)),
        ("source_sample_rate", i(|r| r.source_sample_rate as i32)),
        ("sample_rate", i(|_| SAMPLE_RATE as i32)),
        ("bandwidth_hz", f(|r| r.bandwidth_hz)),
        ("ltas_mask", fixed_list(rows, LTAS_BANDS, |r| &r.ltas_mask)),
        (
            "spectrum_mask",
            fixed_list(rows, SPECTRUM_BANDS, |r| &r.spectrum_mask),
        ),
        ("caption", s(|r| &r.caption)),
        ("understood", s(|r| &r.understood)),
        (
            "caption_tokens",
            fixed_list_i32(rows, MAX_TOKENS, |r| &r.caption_tokens),
        ),
        ("paraphrase", b(|r| r.paraphrase)),
        ("intent_json", s(|r| &r.intent_json)),
        (
            "intent_vector",
            fixed_list(rows, intent_len, |r| &r.intent_vector),
        ),
        ("intent_summary", s(|r| &r.intent_summary)),
        ("repair", b(|r| r.repair)),
        ("relative", b(|r| r.relative)),
        ("damage_json", s(|r| &r.damage_json)),
        ("damage_labels", s(|r| &r.damage_labels)),
        (
            "damage_mask",
            fixed_list(rows, DAMAGE_FAMILIES.len(), |r| &r.damage_mask),
        ),
        (
            "restore_mask",
            fixed_list(rows, DAMAGE_FAMILIES.len(), |r| &r.restore_mask),
        ),
        ("recipe_json", s(|r| &r.recipe_json)),
        ("goals_met", f(|r| r.goals_met)),
        ("target_room_db", f(|r| r.target_room_db)),
        (
            "target_ltas",
            fixed_list(rows, LTAS_BANDS, |r| &r.target_ltas),
        ),
        ("target_lufs", f(|r| r.target_lufs)),
        ("target_dyn", fixed_list(rows, 2, |r| &r.target_dyn)),
        ("target_purity", f(|r| r.target_purity)),
        (
            "input_ltas",
            fixed_list(rows, LTAS_BANDS, |r| &r.input_ltas),
        ),
        ("input_lufs", f(|r| r.input_lufs)),
        ("input_dyn", fixed_list(rows, 2, |r| &r.input_dyn)),
        ("input_purity", f(|r| r.input_purity)),
        ("input_snr_db", f(|r| r.input_snr_db)),
        ("requires_genesis", b(|r| r.requires_genesis)),
        (
            "delta_ltas",
            fixed_list(rows, LTAS_BANDS, |r| &r.delta_ltas),
        ),
        ("delta_lufs", f(|r| r.delta_lufs)),
        ("delta_dyn", fixed_list(rows, 2, |r| &r.delta_dyn)),
        (
            "input_spectrum",
            fixed_list(rows, SPECTRUM_BANDS, |r| &r.input_spectrum),
        ),
        (
            "target_spectrum",
            fixed_list(rows, SPECTRUM_BANDS, |r| &r.target_spectrum),
        ),
        ("mel_frames", i(|r| (r.input_mel.len() / MEL_BANDS) as i32)),
        ("input_mel", fixed_list(rows, mel_len, |r| &r.input_mel)),
        ("target_mel", fixed_list(rows, mel_len, |r| &r.target_mel)),
    ];
    let schema = Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), false))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect())
}

/// Hex sha256 of a file's bytes.
///
/// # Errors
/// [`BuildError::Write`] when the file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String, BuildError> {
    let bytes = std::fs::read(path).map_err(|e| write_err(path, e))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Text-only captions for the text encoder's intent probe: `n` more captions drawn
/// like the rows' (plans in the rows' proportions), each with its understood text,
/// token ids and intent vector.
fn text_captions(
    grammar: &Grammar,
    tokenizer: &Tokenizer,
    seed: u64,
    n: usize,
) -> Vec<serde_json::Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7E47);
    let table = grammar.reader().table();
    (0..n)
        .map(|_| {
            let u: f64 = rng.gen();
            let plan = if u < P_REPAIR {
                Plan::Repair
            } else if u < P_REPAIR + P_REPAIR_AND {
                Plan::RepairAnd
            } else {
                Plan::Descriptors
            };
            let c = grammar.draw(&mut rng, plan, P_PARAPHRASE, &|_| true);
            serde_json::json!({
                "caption": c.text,
                "understood": c.understood,
                "tokens": tokens(tokenizer, &c.understood),
                "intent_vector": c.intent.vector(table),
            })
        })
        .collect()
}

/// Captions drawn for the text encoder beside the rows' (`text_captions`).
pub const TEXT_CAPTIONS: usize = 40_000;

/// Builds the dataset and writes, into `config.out`: `train.parquet`,
/// `validation.parquet`, `test.parquet` (a split with no speaker gets no file),
/// `captions.json` (text-only training captions), `SHA256SUMS` (`sha256  file`
/// lines), `dataset.sha256` (the content hash: sha256 of `SHA256SUMS`),
/// `vocabulary.json` (the tokenizer's words, the descriptor table's quantities) and
/// `manifest.json`.
///
/// # Errors
/// [`BuildError`] from [`build_rows`] or from writing.
pub fn build(config: &BuildConfig) -> Result<Summary, BuildError> {
    let (rows, tokenizer) = build_rows(config)?;
    std::fs::create_dir_all(&config.out).map_err(|e| write_err(&config.out, e))?;
    let mel_frames = mel::mel_frame_count(
        (config.crop_s * SAMPLE_RATE as f32).round() as usize,
        SAMPLE_RATE as f32,
    );
    let mut files = Vec::new();
    let mut counts = Vec::new();
    let mut speakers = Vec::new();
    for split in Split::ALL {
        let part: Vec<&Row> = rows.iter().filter(|r| r.split == split).collect();
        let mut spk: Vec<&str> = part.iter().map(|r| r.speaker.as_str()).collect();
        spk.sort_unstable();
        spk.dedup();
        counts.push((split.label().to_owned(), part.len()));
        speakers.push((split.label().to_owned(), spk.len()));
        if part.is_empty() {
            continue;
        }
        let name = format!("{}.parquet", split.label());
        let path = config.out.join(&name);
        let batch = to_batch(&part, mel_frames).map_err(|e| write_err(&path, e))?;
        let file = std::fs::File::create(&path).map_err(|e| write_err(&path, e))?;
        let props = WriterProperties::builder()
            .set_max_row_group_size(256)
            .set_created_by("faurge-dataset".into())
            .build();
        let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))
            .map_err(|e| write_err(&path, e))?;
        w.write(&batch).map_err(|e| write_err(&path, e))?;
        w.close().map_err(|e| write_err(&path, e))?;
        files.push((name, sha256_file(&path)?));
    }
    let w = |name: &str, text: &str| -> Result<(), BuildError> {
        let p = config.out.join(name);
        std::fs::write(&p, text).map_err(|e| write_err(&p, e))
    };
    let grammar = Grammar::new(&config.vocabulary);
    let captions = text_captions(&grammar, &tokenizer, config.seed, TEXT_CAPTIONS);
    w(
        "captions.json",
        &serde_json::to_string(&captions).unwrap_or_default(),
    )?;
    files.push((
        "captions.json".into(),
        sha256_file(&config.out.join("captions.json"))?,
    ));
    files.sort();
    let sums: String = files.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    let content_hash = hex(&Sha256::digest(sums.as_bytes()));
    w("SHA256SUMS", &sums)?;
    w("dataset.sha256", &format!("{content_hash}\n"))?;
    let table = &config.vocabulary.descriptors;
    w(
        "vocabulary.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "pad_id": faurge_vocabulary::PAD_ID,
            "unk_id": faurge_vocabulary::UNK_ID,
            "first_word_id": 2,
            "max_tokens": MAX_TOKENS,
            "words": tokenizer.words,
            "quantities": table.quantities.iter().map(|q| &q.id).collect::<Vec<_>>(),
            "intent_vector_len": Intent::vector_len(table),
            "damage_families": DAMAGE_FAMILIES.iter().map(|f| f.label()).collect::<Vec<_>>(),
        }))
        .unwrap_or_default(),
    )?;
    let mut distinct: Vec<&str> = rows.iter().map(|r| r.caption.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let goals_met = rows.iter().map(|r| r.goals_met).sum::<f32>() / rows.len().max(1) as f32;
    let summary = Summary {
        content_hash,
        rows: counts,
        speakers,
        mel_frames,
        distinct_captions: distinct.len(),
        goals_met,
        files,
    };
    w(
        "manifest.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "generator": "faurge-dataset",
            "seed": config.seed,
            "rows_per_clip": config.rows_per_clip,
            "crop_s": config.crop_s,
            "max_clips": config.max_clips,
            "sample_rate": SAMPLE_RATE,
            "ltas_bands": LTAS_BANDS,
            "mel_bands": MEL_BANDS,
            "spectrum_bands": SPECTRUM_BANDS,
            "max_tokens": MAX_TOKENS,
            "summary": &summary,
        }))
        .unwrap_or_default(),
    )?;
    Ok(summary)
}

/// The clean-speech value of every balance quantity of the descriptor table: the
/// median over the training split's clean recordings (whole clips, each measured
/// within its own bandwidth) of those where it is measurable, with that count. What
/// the table's `reference` values are (absolute terms aim relative to them).
///
/// # Errors
/// [`BuildError`] for missing speech or an unreadable clip.
pub fn reference_balances(
    data: &Path,
    vocabulary: &Vocabulary,
) -> Result<Vec<(String, f32, usize)>, BuildError> {
    let sources = scan(data);
    if sources.speech.is_empty() {
        return Err(BuildError::NoSpeech(data.display().to_string()));
    }
    let clips: Vec<&SpeechClip> = sources
        .speech
        .iter()
        .filter(|c| c.split() == Split::Train)
        .collect();
    let table = &vocabulary.descriptors;
    let centers = ltas::ltas_band_centers_hz();
    let per_clip: Result<Vec<Vec<(String, f32)>>, BuildError> = clips
        .par_iter()
        .map(|clip| {
            let l = load_clip(clip)?;
            let lt = ltas::ltas_with_bandwidth(&[&l.audio], SAMPLE_RATE as f32, l.bandwidth_hz);
            let valid = ltas::ltas_bands_below(l.bandwidth_hz);
            Ok(
                faurge_vocabulary::intent::Measured::from_ltas(table, &lt, &centers, &valid)
                    .balances,
            )
        })
        .collect();
    let per_clip = per_clip?;
    Ok(table
        .quantities
        .iter()
        .filter(|q| q.kind == faurge_vocabulary::descriptors::QuantityKind::Balance)
        .map(|q| {
            let mut v: Vec<f32> = per_clip
                .iter()
                .filter_map(|m| m.iter().find(|(id, _)| *id == q.id).map(|(_, x)| *x))
                .collect();
            v.sort_by(f32::total_cmp);
            let median = if v.is_empty() {
                f32::NAN
            } else {
                v[v.len() / 2]
            };
            (q.id.clone(), median, v.len())
        })
        .collect())
}
