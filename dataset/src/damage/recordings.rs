//! Real noise recordings and measured room impulse responses for the damages,
//! split into a training pool and a held-out pool that only the evaluation uses.
//!
//! A data folder holds noise recordings in `noise/` (WAV or FLAC) and RIRs wherever
//! [`crate::sources::scan`] finds them (`rir/`, or files named `rir*` / `brir*`).
//! Every channel of a RIR file is one mono RIR (a binaural file gives two).
//!
//! **Held out** (never loaded into [`Pool::Training`]):
//!
//! - noise: [`HELDOUT_NOISE_FILES`] = `running_tap.wav` — running water, a
//!   steady broadband noise of another kind than the training noises (washing
//!   dishes, an exercise bike, the Freesound recording), so the evaluation
//!   tests a noise source the models never heard;
//! - rooms: [`HELDOUT_RIR_FILES`] = `brir_sweep+80.wav` and `brir_sweep-80.wav`,
//!   the two most lateral head orientations of the binaural sweep measurements.
//!   They are held out as a pair because a dummy head is symmetric, so they are
//!   roughly mirror images (the left ear of +80° resembles the right ear of
//!   −80°): holding out only one would leak it through the other. Training keeps `rir_clap.wav`,
//!   `brir_clap.wav`, `brir_sweep.wav` and `brir_sweep±40.wav`.
//!
//! Names are compared case-insensitively on the file name alone, so the same
//! files are held out wherever the data folder is.
//!
//! Measured on `shared/data` at 48 kHz (LTAS band power of the RIRs): the two
//! clap measurements carry the clap's spectrum, `rir_clap.wav` about 12 dB and
//! `brir_clap.wav` about 25 dB less power below 200 Hz than the sweep
//! measurements, which are close to flat. A room damage from a clap RIR also
//! thins the voice; the held-out rooms are sweeps.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DamageError;

/// Noise recordings (file names) reserved for evaluation.
pub const HELDOUT_NOISE_FILES: [&str; 1] = ["running_tap.wav"];
/// RIR files (file names) reserved for evaluation.
pub const HELDOUT_RIR_FILES: [&str; 2] = ["brir_sweep+80.wav", "brir_sweep-80.wav"];
/// Longest RIR kept, seconds (the tail beyond is cut; −60 dB at RT60 0.6 s is well inside).
pub const MAX_RIR_S: f64 = 1.9;
/// Longest noise recording kept, seconds (longer files are cut: crops of a few
/// seconds never need more, and it bounds memory at 192 kHz).
pub const MAX_NOISE_S: f64 = 60.0;

/// Which recordings a damage set may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// Everything except the held-out files: for the dataset.
    Training,
    /// Only the held-out files: for the evaluation.
    HeldOut,
}

/// The two sets of recordings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingSet {
    /// Noise recordings (`noise/`).
    Noise,
    /// Room impulse responses, one per channel of each file.
    Rir,
}

/// Whether `path`'s file name is one of the held-out noise files.
pub fn is_heldout_noise(path: &Path) -> bool {
    name_in(path, &HELDOUT_NOISE_FILES)
}

/// Whether `path`'s file name is one of the held-out RIR files.
pub fn is_heldout_rir(path: &Path) -> bool {
    name_in(path, &HELDOUT_RIR_FILES)
}

fn name_in(path: &Path, names: &[&str]) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    names.iter().any(|n| n.to_ascii_lowercase() == name)
}

/// One mono recording, resampled to the [`Recordings`]' rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// File name (no folder), e.g. `exercise_bike.wav`.
    pub name: String,
    /// Channel of the file this came from.
    pub channel: usize,
    /// Samples, full scale ±1. RIRs start 1 ms before their direct-sound peak
    /// (leading silence removed) and have unit energy.
    pub samples: Vec<f32>,
}

/// Noise recordings and RIRs of one pool at one sample rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Recordings {
    pool: Pool,
    sample_rate: u32,
    noise: Vec<Recording>,
    rirs: Vec<Recording>,
}

fn audio_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension()
                                .and_then(|e| e.to_str())
                                .map(str::to_ascii_lowercase)
                                .as_deref(),
                            Some("wav" | "flac")
                        )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> DamageError {
    DamageError::Recording {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_owned()
}

/// Reads `path` and resamples every channel to `rate`, cut to `max_s` seconds
/// (the cut happens before resampling, so a long file costs little).
fn read_channels(path: &Path, rate: u32, max_s: f64) -> Result<Vec<Vec<f32>>, DamageError> {
    let a = faurge_io::read(path).map_err(|e| read_err(path, e))?;
    let max = (max_s * f64::from(a.sample_rate)).ceil() as usize;
    let cut: Vec<Vec<f32>> = a
        .channels
        .iter()
        .map(|c| c[..c.len().min(max)].to_vec())
        .collect();
    faurge_io::resample(&cut, a.sample_rate, rate).map_err(|e| read_err(path, e))
}

/// A RIR channel aligned and normalized: starts 1 ms before its largest
/// `|sample|` (the direct sound), unit energy. `None` for a silent channel.
fn prepare_rir(mut c: Vec<f32>, rate: u32) -> Option<Vec<f32>> {
    let peak_at = c
        .iter()
        .enumerate()
        .fold((0usize, 0.0f32), |(i, m), (j, &v)| {
            if v.abs() > m {
                (j, v.abs())
            } else {
                (i, m)
            }
        })
        .0;
    let lead = (f64::from(rate) * 1e-3).round() as usize;
    let start = peak_at.saturating_sub(lead);
    c.drain(..start);
    c.truncate((MAX_RIR_S * f64::from(rate)) as usize);
    let e: f64 = c.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    if e <= 0.0 || !e.is_finite() {
        return None;
    }
    let g = (1.0 / e.sqrt()) as f32;
    c.iter_mut().for_each(|v| *v *= g);
    Some(c)
}

impl Recordings {
    /// No recordings (kinds that need them are unavailable).
    pub fn none(pool: Pool, sample_rate: u32) -> Recordings {
        Recordings {
            pool,
            sample_rate,
            noise: Vec::new(),
            rirs: Vec::new(),
        }
    }

    /// Loads the `pool`'s recordings of the data folder `data` at `sample_rate` Hz:
    /// noise files of `data/noise/` (first [`MAX_NOISE_S`] seconds of each channel)
    /// and every channel of the RIR files [`crate::sources::scan`] finds (aligned,
    /// cut to [`MAX_RIR_S`], unit energy). [`Pool::Training`] skips the held-out
    /// files, [`Pool::HeldOut`] keeps only them. A folder without noise or RIRs
    /// gives empty sets, not an error.
    ///
    /// # Errors
    /// [`DamageError::Recording`] for a file that cannot be read or resampled.
    pub fn load(data: &Path, sample_rate: u32, pool: Pool) -> Result<Recordings, DamageError> {
        let keep = |held_out: bool| match pool {
            Pool::Training => !held_out,
            Pool::HeldOut => held_out,
        };
        let mut out = Recordings::none(pool, sample_rate);
        for p in audio_files(&data.join("noise")) {
            if !keep(is_heldout_noise(&p)) {
                continue;
            }
            for (ch, c) in read_channels(&p, sample_rate, MAX_NOISE_S)?
                .into_iter()
                .enumerate()
            {
                if c.iter().any(|&v| v != 0.0) {
                    out.noise.push(Recording {
                        name: file_name(&p),
                        channel: ch,
                        samples: c,
                    });
                }
            }
        }
        for p in crate::sources::scan(data).rirs {
            if !keep(is_heldout_rir(&p)) {
                continue;
            }
            // Read a little more than MAX_RIR_S: the alignment removes the lead-in.
            for (ch, c) in read_channels(&p, sample_rate, MAX_RIR_S + 0.5)?
                .into_iter()
                .enumerate()
            {
                if let Some(c) = prepare_rir(c, sample_rate) {
                    out.rirs.push(Recording {
                        name: file_name(&p),
                        channel: ch,
                        samples: c,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The pool these recordings belong to.
    pub fn pool(&self) -> Pool {
        self.pool
    }

    /// Their sample rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Noise recordings (one per file channel), sorted by file.
    pub fn noise(&self) -> &[Recording] {
        &self.noise
    }

    /// RIRs (one per file channel), sorted by file.
    pub fn rirs(&self) -> &[Recording] {
        &self.rirs
    }

    /// One set.
    pub fn set(&self, set: RecordingSet) -> &[Recording] {
        match set {
            RecordingSet::Noise => &self.noise,
            RecordingSet::Rir => &self.rirs,
        }
    }

    /// The distinct file names loaded, sorted.
    pub fn file_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .noise
            .iter()
            .chain(&self.rirs)
            .map(|r| r.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
