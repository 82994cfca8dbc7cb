//! The tone-repair estimator's training pairs: the long-term spectrum of a clean
//! speech crop, and of the same crop through a microphone-like tone damage.
//!
//! A repair ("fix my mic") has to tell what a microphone did to a voice from the
//! voice alone. The estimator (`training/faurge_train/tone.py`) learns it from these
//! pairs: for every speech clip, `rows_per_clip` random crops, each either left clean
//! (probability [`CLEAN_SHARE`]) or put through one or two tone kinds of the
//! training registry ([`Registry::training`]: RBJ biquads or linear-phase FIRs of the
//! kinds in [`REPAIR_TONE_KINDS`], strength uniform in [`COMBINATION_STRENGTH`]). Both LTAS
//! are measured as the helper measures a snapshot (48 kHz, the bands above the
//! damaged crop's effective bandwidth, at most the source's, masked), so the model
//! reads what it will be given. The held-out tone realization
//! of `faurge-eval` is never used here.
//!
//! Written as one Parquet file, `tone_pairs.parquet`, with the columns `split`,
//! `speaker` (the training cross-fits by it), `clip`, `damage` (a label, empty for
//! clean rows), `clean_ltas`, `input_ltas`, `ltas_mask` (64 floats each, dB and 0/1),
//! `voice_f0` (3 floats, the damaged crop's pitch: [`VoiceF0::features`]),
//! and `tone_pairs.json`, the command that made it (the shipped model's manifest
//! records it).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use faurge_dsp::analysis::ltas::{self, LTAS_BANDS};
use faurge_dsp::analysis::pitch::{self, VoiceF0};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::damage::{Kind, Pool, Recordings, Registry, COMBINATION_STRENGTH};
use crate::generate::{crop, load_clip, BuildError, SAMPLE_RATE};
use crate::sources;

/// The tone kinds a repair undoes: every kind of the tone family but the tilt. A
/// tilt of a few dB per octave is what voices differ by (sex, vocal effort, the
/// speaker's own timbre): from the voice alone it cannot be told from a
/// microphone's, and an estimator taught to undo it pulls every voice toward the
/// corpus average — the generic auto-EQ a repair must not be. Shelves, peaks and band
/// limits change the spectrum in ways no voice does.
pub const REPAIR_TONE_KINDS: [Kind; 8] = [
    Kind::LowShelf,
    Kind::HighShelf,
    Kind::Peak,
    Kind::Boom,
    Kind::Muddy,
    Kind::Thin,
    Kind::Sibilant,
    Kind::BandLimit,
];

/// Share of the rows left undamaged: the estimator must learn that most voices
/// need nothing.
pub const CLEAN_SHARE: f64 = 0.25;
/// Share of the damaged rows with a second, different tone kind.
pub const SECOND_KIND_SHARE: f64 = 0.4;
/// Default crop length, seconds (the helper's snapshot excerpt is about this long).
pub const DEFAULT_CROP_S: f32 = 6.0;
/// Default rows per clip.
pub const DEFAULT_ROWS_PER_CLIP: usize = 40;
/// The output file's name.
pub const FILE: &str = "tone_pairs.parquet";
/// The file beside it that records the command that made it.
pub const INFO_FILE: &str = "tone_pairs.json";

/// One pair.
#[derive(Clone, Debug)]
pub struct Pair {
    /// `train`, `validation` or `test` (the speaker's split).
    pub split: &'static str,
    /// The speaker ([`crate::sources::SpeechClip::speaker`]).
    pub speaker: String,
    /// The clip's name.
    pub clip: String,
    /// What was done, e.g. `thin: low shelf -9.0 dB at 310 Hz`; empty when clean.
    pub damage: String,
    /// LTAS of the clean crop, dB (masked bands at the floor).
    pub clean_ltas: [f32; LTAS_BANDS],
    /// LTAS of the damaged crop, dB.
    pub input_ltas: [f32; LTAS_BANDS],
    /// 1 for the bands within the damaged crop's bandwidth (at most the source's).
    pub ltas_mask: [f32; LTAS_BANDS],
    /// The damaged crop's pitch as the estimator reads it
    /// ([`VoiceF0::features`]: octaves re 150 Hz of F0's 10th percentile, median
    /// and 90th percentile; 0s when no pitch was found).
    pub voice_f0: [f32; 3],
}

/// The pairs of every speech clip under `data` (rows in clip order; each clip's
/// rows from its own seed, so the result does not depend on the thread count).
///
/// # Errors
/// An unreadable clip or a failed damage.
pub fn pairs(
    data: &Path,
    seed: u64,
    rows_per_clip: usize,
    crop_s: f32,
) -> Result<Vec<Pair>, BuildError> {
    let clips = sources::scan(data).speech;
    let registry = Registry::training();
    let recordings = Recordings::none(Pool::Training, SAMPLE_RATE);
    let sr = SAMPLE_RATE as f32;
    let crop_len = (crop_s.max(0.5) * sr) as usize;
    let per_clip: Result<Vec<Vec<Pair>>, BuildError> = clips
        .par_iter()
        .enumerate()
        .map(|(i, clip)| {
            let loaded = load_clip(clip)?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (0x70AE_u64 << 32) ^ i as u64);
            (0..rows_per_clip)
                .map(|_| {
                    let clean = crop(&loaded.audio, crop_len, &mut rng);
                    let mut input = clean.clone();
                    let mut labels = Vec::new();
                    if !rng.gen_bool(CLEAN_SHARE) {
                        let mut kinds = REPAIR_TONE_KINDS.to_vec();
                        kinds.shuffle(&mut rng);
                        let n = if rng.gen_bool(SECOND_KIND_SHARE) {
                            2
                        } else {
                            1
                        };
                        for &kind in &kinds[..n] {
                            let strength =
                                rng.gen_range(COMBINATION_STRENGTH.0..COMBINATION_STRENGTH.1);
                            let applied = registry
                                .apply_kind(
                                    kind,
                                    strength,
                                    &mut [&mut input[..]],
                                    sr,
                                    rng.gen(),
                                    &recordings,
                                )
                                .map_err(|e| BuildError::Damage(format!("{}: {e}", clip.name)))?;
                            labels.push(applied.label);
                        }
                    }
                    // The helper masks by the snapshot's own bandwidth: a damage that
                    // takes the top off narrows it.
                    let bw = ltas::effective_bandwidth_hz(&[&input], sr);
                    let bw = if bw > 0.0 {
                        bw.min(loaded.bandwidth_hz)
                    } else {
                        loaded.bandwidth_hz
                    };
                    Ok(Pair {
                        split: clip.split().label(),
                        speaker: clip.speaker.clone(),
                        clip: clip.name.clone(),
                        damage: labels.join("; "),
                        clean_ltas: ltas::ltas_with_bandwidth(&[&clean], sr, bw),
                        input_ltas: ltas::ltas_with_bandwidth(&[&input], sr, bw),
                        ltas_mask: ltas::ltas_bands_below(bw).map(|b| if b { 1.0 } else { 0.0 }),
                        voice_f0: VoiceF0::features(pitch::voice_f0(&[&input], sr).as_ref()),
                    })
                })
                .collect()
        })
        .collect();
    Ok(per_clip?.into_iter().flatten().collect())
}

fn column<const N: usize>(pairs: &[Pair], get: impl Fn(&Pair) -> &[f32; N]) -> ArrayRef {
    let values: Vec<f32> = pairs.iter().flat_map(|p| get(p).iter().copied()).collect();
    Arc::new(FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, false)),
        N as i32,
        Arc::new(Float32Array::from(values)),
        None,
    ))
}

/// Writes `pairs` to `out/`[`FILE`] and `command` (the command line that made
/// them) to `out/tone_pairs.json`, and returns the Parquet file's path.
///
/// # Errors
/// The folder or a file cannot be written.
pub fn write(pairs: &[Pair], out: &Path, command: &str) -> Result<PathBuf, BuildError> {
    let path = out.join(FILE);
    let err = |e: &dyn std::fmt::Display| BuildError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(out).map_err(|e| err(&e))?;
    let strings = |get: fn(&Pair) -> &str| -> ArrayRef {
        Arc::new(StringArray::from(pairs.iter().map(get).collect::<Vec<_>>()))
    };
    let list_of = |n: usize| {
        DataType::FixedSizeList(
            Arc::new(Field::new("item", DataType::Float32, false)),
            n as i32,
        )
    };
    let list = list_of(LTAS_BANDS);
    let schema = Schema::new(vec![
        Field::new("split", DataType::Utf8, false),
        Field::new("speaker", DataType::Utf8, false),
        Field::new("clip", DataType::Utf8, false),
        Field::new("damage", DataType::Utf8, false),
        Field::new("clean_ltas", list.clone(), false),
        Field::new("input_ltas", list.clone(), false),
        Field::new("ltas_mask", list, false),
        Field::new("voice_f0", list_of(3), false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            strings(|p| p.split),
            strings(|p| &p.speaker),
            strings(|p| &p.clip),
            strings(|p| &p.damage),
            column(pairs, |p| &p.clean_ltas),
            column(pairs, |p| &p.input_ltas),
            column(pairs, |p| &p.ltas_mask),
            column(pairs, |p| &p.voice_f0),
        ],
    )
    .map_err(|e| err(&e))?;
    let file = std::fs::File::create(&path).map_err(|e| err(&e))?;
    let props = WriterProperties::builder()
        .set_created_by("faurge-dataset tone-pairs".into())
        .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|e| err(&e))?;
    w.write(&batch).map_err(|e| err(&e))?;
    w.close().map_err(|e| err(&e))?;
    let info = serde_json::json!({ "command": command, "rows": pairs.len() });
    std::fs::write(out.join(INFO_FILE), format!("{info:#}\n")).map_err(|e| err(&e))?;
    Ok(path)
}
