//! The dataset build: clean clip → style render (target) and degradation (input)
//! → measurements, log-mel, captions → one row; rows written per split as Parquet
//! with a sha256 content hash.
//!
//! Row layout follows `docs/SPEC.md` ("The training data", input and targets) with
//! Faurge's additions (`docs/DESIGN.md`, "Models and training"): the encoder inputs
//! (log-mel of degraded and of styled audio, caption token ids) instead of frozen
//! CLAP latents, the degraded input's metrics, deltas `ΔT = T_target − T_input`,
//! labels, and the LTAS band mask of the source's real bandwidth.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use faurge_dsp::analysis::{self, ltas, mel, LTAS_BANDS, MEL_BANDS, SPECTRUM_BANDS};
use faurge_dsp::biquad::BiquadState;
use faurge_dsp::degrade::{DegradationChain, DegradationKind};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::sources::{scan, SpeechClip, Split};
use crate::style::{self, StyleRecipe};
use crate::vocabulary::{Tokenizer, Vocabulary};

/// Sample rate every row is rendered and measured at, Hz. 16 kHz sources are
/// upsampled (their missing band is masked, see [`Row::ltas_mask`]); the `Chain`
/// needs at least 22.05 kHz.
pub const SAMPLE_RATE: u32 = 48_000;
/// Length of the crop every row uses, seconds.
pub const DEFAULT_CROP_S: f32 = 3.0;
/// Rows drawn per clean clip (each with its own style, degradation and crop).
pub const DEFAULT_ROWS_PER_CLIP: usize = 4;
/// Caption token sequences are padded/truncated to this many ids.
pub const MAX_TOKENS: usize = 24;
/// Probability that a row is a "failed reflection pass" (input partly corrected).
pub const PARTIAL_PROBABILITY: f64 = 0.25;
/// Longest room impulse response used, seconds (the chain's convolver limit is 2 s).
pub const MAX_RIR_S: f32 = 1.9;

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
    /// A style recipe failed.
    #[error(transparent)]
    Style(#[from] style::StyleError),
    /// A degradation failed.
    #[error("a degradation failed: {0}")]
    Degrade(String),
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
    /// The data folder (`shared/data` or `examples/`).
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
    /// Style id.
    pub style: String,
    /// Index of the style in the vocabulary.
    pub style_index: i32,
    /// The style recipe as JSON.
    pub style_json: String,
    /// Caption asking for the style.
    pub caption: String,
    /// Its token ids, [`MAX_TOKENS`].
    pub caption_tokens: Vec<i32>,
    /// A caption describing one of the applied degradations.
    pub defect_caption: String,
    /// Its token ids.
    pub defect_caption_tokens: Vec<i32>,
    /// Degradation labels, comma-separated, in application order.
    pub degradations: String,
    /// Multi-hot over `DegradationKind::ALL` order (comb, muddy, sibilance, noise, pops, clipping).
    pub degradation_mask: Vec<f32>,
    /// The degradation chain as JSON.
    pub degradation_json: String,
    /// Fraction of the correction already applied to the input (0: raw degraded input).
    pub partial_fraction: f32,
    /// `T_LTAS` of the styled audio (masked bands: `LTAS_FLOOR_DB`).
    pub target_ltas: Vec<f32>,
    /// `T_LUFS` of the styled audio.
    pub target_lufs: f32,
    /// `T_Dyn` of the styled audio.
    pub target_dyn: Vec<f32>,
    /// `input_purity` of the styled audio.
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
    /// 256-band spectrum of the styled audio.
    pub target_spectrum: Vec<f32>,
    /// Log-mel of the input, row-major `[mel_frames, 64]`.
    pub input_mel: Vec<f32>,
    /// Log-mel of the styled audio, `[mel_frames, 64]`.
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

/// Reads a RIR file: each channel becomes one mono RIR at [`SAMPLE_RATE`],
/// cut to [`MAX_RIR_S`] and scaled to unit energy (so rooms change colour and
/// decay, not level).
pub fn load_rirs(path: &Path) -> Result<Vec<Vec<f32>>, BuildError> {
    let a = faurge_io::read(path).map_err(|e| audio_err(path, e))?;
    let chans = faurge_io::resample(&a.channels, a.sample_rate, SAMPLE_RATE)
        .map_err(|e| audio_err(path, e))?;
    let max = (MAX_RIR_S * SAMPLE_RATE as f32) as usize;
    Ok(chans
        .into_iter()
        .map(|mut c| {
            c.truncate(max);
            let e: f64 = c.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let g = if e > 0.0 {
                (1.0 / e.sqrt()) as f32
            } else {
                0.0
            };
            c.iter_mut().for_each(|v| *v *= g);
            c
        })
        .filter(|c| c.iter().any(|&v| v != 0.0))
        .collect())
}

/// A clean clip loaded for rows: mono at [`SAMPLE_RATE`] and its bandwidth.
struct Loaded {
    audio: Vec<f32>,
    source_sample_rate: u32,
    bandwidth_hz: f32,
}

fn load_clip(clip: &SpeechClip) -> Result<Loaded, BuildError> {
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
fn crop(audio: &[f32], crop: usize, rng: &mut impl Rng) -> Vec<f32> {
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

/// Undoes a fraction `alpha` of the degradation chain's equalization (the
/// muddy boost and shelf, the sibilance resonances) with inverse cookbook
/// filters: the "correcting EQ" of a failed reflection pass.
fn partial_undo(chain: &DegradationChain, alpha: f32, audio: &mut [f32], sr: f64) {
    for c in chain
        .steps
        .iter()
        .flat_map(|step| step.eq_filters(sr as f32, -f64::from(alpha)))
    {
        BiquadState::default().process(&c, audio);
    }
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

struct Ctx<'a> {
    vocab: &'a Vocabulary,
    tokenizer: &'a Tokenizer,
    rirs: &'a [Vec<f32>],
    crop: usize,
    seed: u64,
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
    /// The degraded (possibly partly corrected) input the `input_*` metrics describe.
    pub input: Vec<f32>,
    /// The styled clean audio the `target_*` metrics describe.
    pub target: Vec<f32>,
}

fn make_rendered_row(
    ctx: &Ctx,
    clip: &SpeechClip,
    loaded: &Loaded,
    variant: usize,
) -> Result<RenderedRow, BuildError> {
    let sr = SAMPLE_RATE as f32;
    let mut rng = ChaCha8Rng::seed_from_u64(row_seed(ctx.seed, clip, variant));
    let styles = &ctx.vocab.styles;
    // Spread styles over a clip's variants: a random offset, then consecutive styles.
    let offset = (row_seed(ctx.seed, clip, usize::MAX) % styles.len() as u64) as usize;
    let style_index = (offset + variant) % styles.len();
    let style_entry = &styles[style_index];
    let recipe: StyleRecipe = style::draw(&style_entry.id, ctx.rirs.len(), &mut rng)?;
    let caption = style_entry
        .captions
        .choose(&mut rng)
        .cloned()
        .unwrap_or_default();

    let clean = crop(&loaded.audio, ctx.crop, &mut rng);
    let mut target = clean.clone();
    style::render(&recipe, &mut target, sr, ctx.rirs)?;

    let chain = DegradationChain::random_subset(&mut rng);
    let noise_seed: u64 = rng.gen();
    let mut input = clean;
    chain
        .apply(&mut [&mut input[..]], sr, noise_seed)
        .map_err(|e| BuildError::Degrade(e.to_string()))?;
    let partial_fraction = if rng.gen_bool(PARTIAL_PROBABILITY) {
        let alpha: f32 = rng.gen_range(0.3..0.8);
        partial_undo(&chain, alpha, &mut input, f64::from(sr));
        style::render(&recipe.scaled(alpha), &mut input, sr, ctx.rirs)?;
        alpha
    } else {
        0.0
    };
    let labels = chain.labels();
    let defect_caption = labels
        .choose(&mut rng)
        .and_then(|l| ctx.vocab.defect(l))
        .and_then(|d| d.captions.choose(&mut rng))
        .cloned()
        .unwrap_or_default();
    let degradation_mask: Vec<f32> = DegradationKind::ALL
        .iter()
        .map(|k| {
            if labels.contains(&k.label()) {
                1.0
            } else {
                0.0
            }
        })
        .collect();

    let bw = loaded.bandwidth_hz;
    let ltas_mask: Vec<f32> = ltas::ltas_bands_below(bw)
        .iter()
        .map(|&b| if b { 1.0 } else { 0.0 })
        .collect();
    let spectrum_mask = band_mask(&ltas::spectrum_band_edges_hz(), bw);
    let tm = analysis::measure(&[&target], sr);
    let im = analysis::measure(&[&input], sr);
    let t_ltas = ltas::ltas_with_bandwidth(&[&target], sr, bw);
    let i_ltas = ltas::ltas_with_bandwidth(&[&input], sr, bw);
    let delta_ltas: Vec<f32> = (0..LTAS_BANDS)
        .map(|b| (t_ltas[b] - i_ltas[b]) * ltas_mask[b])
        .collect();
    let input_mel = mel::log_mel(&[&input], sr);
    let target_mel = mel::log_mel(&[&target], sr);
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
        style: style_entry.id.clone(),
        style_index: style_index as i32,
        style_json: serde_json::to_string(&recipe).unwrap_or_default(),
        caption_tokens: tokens(ctx.tokenizer, &caption),
        caption,
        defect_caption_tokens: tokens(ctx.tokenizer, &defect_caption),
        defect_caption,
        degradations: labels.join(","),
        degradation_mask,
        degradation_json: serde_json::to_string(&chain).unwrap_or_default(),
        partial_fraction,
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
        input_mel,
        target_mel,
    };
    Ok(RenderedRow { row, input, target })
}

/// A 64-band `T_LTAS` (dB) and its 0/1 band mask.
pub type MaskedLtas = (Vec<f32>, Vec<f32>);

/// Rows of one split regenerated clip by clip, with their audio: what `cargo xtask
/// eval` needs (the Parquet files keep metrics and mels, not audio). Row `k` of clip
/// `i` is bit-identical to the row [`build_rows`] makes for the same config (row
/// seeds depend only on the build seed, the clip and the variant), so the test split
/// can be rebuilt without generating the other splits.
pub struct RowSource {
    clips: Vec<SpeechClip>,
    rirs: Vec<Vec<f32>>,
    vocabulary: Vocabulary,
    tokenizer: Tokenizer,
    crop: usize,
    seed: u64,
    rows_per_clip: usize,
}

impl RowSource {
    /// Scans `config.data` as [`build_rows`] does (same `max_clips` truncation,
    /// same RIRs) and keeps the speech clips of `split` (all clips for `None`).
    ///
    /// # Errors
    /// [`BuildError::NoSpeech`] when the folder has no speech at all, or an
    /// unreadable RIR.
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
        let mut rirs = Vec::new();
        for p in &sources.rirs {
            rirs.extend(load_rirs(p)?);
        }
        Ok(RowSource {
            clips: speech,
            rirs,
            tokenizer: config.vocabulary.tokenizer(),
            vocabulary: config.vocabulary.clone(),
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

    /// The rows of clip `index` (of [`RowSource::clips`]) with their audio.
    ///
    /// # Errors
    /// [`BuildError`] for unreadable audio or a failing render; an index out of
    /// range gives no rows.
    pub fn clip_rows(&self, index: usize) -> Result<Vec<RenderedRow>, BuildError> {
        let Some(clip) = self.clips.get(index) else {
            return Ok(Vec::new());
        };
        let ctx = Ctx {
            vocab: &self.vocabulary,
            tokenizer: &self.tokenizer,
            rirs: &self.rirs,
            crop: self.crop,
            seed: self.seed,
        };
        let loaded = load_clip(clip)?;
        (0..self.rows_per_clip)
            .map(|v| make_rendered_row(&ctx, clip, &loaded, v))
            .collect()
    }

    /// `T_LTAS` of the whole clean clip `index` (not a crop) at [`SAMPLE_RATE`],
    /// masked above its bandwidth like a row (`ltas_with_bandwidth`), with that
    /// 0/1 mask: the clean-speech spectrum of one recording.
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
/// parallel with rayon, results kept in clip order).
///
/// # Errors
/// [`BuildError`] for missing speech, unreadable audio or a failing render.
pub fn build_rows(config: &BuildConfig) -> Result<Vec<Row>, BuildError> {
    let source = RowSource::new(config, None)?;
    let per_clip: Result<Vec<Vec<Row>>, BuildError> = (0..source.clips().len())
        .into_par_iter()
        .map(|i| {
            source
                .clip_rows(i)
                .map(|rows| rows.into_iter().map(|r| r.row).collect())
        })
        .collect();
    Ok(per_clip?.into_iter().flatten().collect())
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
    let mel_len = mel_frames * MEL_BANDS;
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
        ("style", s(|r| &r.style)),
        ("style_index", i(|r| r.style_index)),
        ("style_json", s(|r| &r.style_json)),
        ("caption", s(|r| &r.caption)),
        (
            "caption_tokens",
            fixed_list_i32(rows, MAX_TOKENS, |r| &r.caption_tokens),
        ),
        ("defect_caption", s(|r| &r.defect_caption)),
        (
            "defect_caption_tokens",
            fixed_list_i32(rows, MAX_TOKENS, |r| &r.defect_caption_tokens),
        ),
        ("degradations", s(|r| &r.degradations)),
        (
            "degradation_mask",
            fixed_list(rows, 6, |r| &r.degradation_mask),
        ),
        ("degradation_json", s(|r| &r.degradation_json)),
        ("partial_fraction", f(|r| r.partial_fraction)),
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
        (
            "requires_genesis",
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.requires_genesis).collect::<Vec<_>>(),
            )),
        ),
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
pub fn sha256_file(path: &Path) -> Result<String, BuildError> {
    let bytes = std::fs::read(path).map_err(|e| write_err(path, e))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Builds the dataset and writes, into `config.out`: `train.parquet`,
/// `validation.parquet`, `test.parquet` (a split with no speaker gets no file),
/// `SHA256SUMS` (`sha256  file` lines), `dataset.sha256` (the content hash: sha256
/// of `SHA256SUMS`), `vocabulary.json` (the tokenizer's words) and `manifest.json`.
///
/// # Errors
/// [`BuildError`] from [`build_rows`] or from writing.
pub fn build(config: &BuildConfig) -> Result<Summary, BuildError> {
    let rows = build_rows(config)?;
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
    let sums: String = files.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
    let content_hash = hex(&Sha256::digest(sums.as_bytes()));
    let w = |name: &str, text: &str| -> Result<(), BuildError> {
        let p = config.out.join(name);
        std::fs::write(&p, text).map_err(|e| write_err(&p, e))
    };
    w("SHA256SUMS", &sums)?;
    w("dataset.sha256", &format!("{content_hash}\n"))?;
    let tokenizer = config.vocabulary.tokenizer();
    w(
        "vocabulary.json",
        &serde_json::to_string_pretty(&serde_json::json!({
            "pad_id": crate::vocabulary::PAD_ID,
            "unk_id": crate::vocabulary::UNK_ID,
            "first_word_id": 2,
            "max_tokens": MAX_TOKENS,
            "words": tokenizer.words,
            "styles": config.vocabulary.styles.iter().map(|s| &s.id).collect::<Vec<_>>(),
            "style_captions": config.vocabulary.styles.iter().map(|s| &s.captions).collect::<Vec<_>>(),
            "defects": config.vocabulary.defects.iter().map(|d| &d.id).collect::<Vec<_>>(),
            "defect_captions": config.vocabulary.defects.iter().map(|d| &d.captions).collect::<Vec<_>>(),
        }))
        .unwrap_or_default(),
    )?;
    let summary = Summary {
        content_hash,
        rows: counts,
        speakers,
        mel_frames,
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
            "degradation_order": DegradationKind::ALL.iter().map(|k| k.label()).collect::<Vec<_>>(),
            "summary": &summary,
        }))
        .unwrap_or_default(),
    )?;
    Ok(summary)
}
