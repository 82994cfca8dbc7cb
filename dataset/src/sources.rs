//! Finding the recordings in a data folder, who speaks in them, and the
//! speaker-level train/validation/test split (decided before anything else).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Share of speakers in the training split, percent (the rest: validation, test).
pub const TRAIN_PERCENT: u64 = 80;
/// Share of speakers in the validation split, percent.
pub const VALIDATION_PERCENT: u64 = 10;

/// Which part of the data a speaker belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Training.
    Train,
    /// Model selection.
    Validation,
    /// Final evaluation; these speakers are never seen in training.
    Test,
}

impl Split {
    /// All splits in file order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// `train`, `validation` or `test` (also the Parquet file stem).
    pub fn label(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// The split of a speaker: `sha256("faurge-split-v1:" + corpus + "/" + speaker)`,
/// first 8 bytes as a big-endian integer, mod 100: below [`TRAIN_PERCENT`] train,
/// below `TRAIN_PERCENT + VALIDATION_PERCENT` validation, else test. Independent
/// of the dataset seed, so the test speakers never change between builds.
pub fn split_of(corpus: &str, speaker: &str) -> Split {
    let h = Sha256::digest(format!("faurge-split-v1:{corpus}/{speaker}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    let v = u64::from_be_bytes(b) % 100;
    if v < TRAIN_PERCENT {
        Split::Train
    } else if v < TRAIN_PERCENT + VALIDATION_PERCENT {
        Split::Validation
    } else {
        Split::Test
    }
}

/// One speech recording of the data folder.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpeechClip {
    /// `librispeech` or `vctk`.
    pub corpus: String,
    /// Speaker id: LibriSpeech's first number of the file name, VCTK's `pNNN`.
    pub speaker: String,
    /// File stem without the `speech_<corpus>_` prefix of the shipped examples, e.g. `103-1240-0000`.
    pub name: String,
    /// Full path.
    pub path: PathBuf,
}

impl SpeechClip {
    /// The speaker's split, see [`split_of`].
    pub fn split(&self) -> Split {
        split_of(&self.corpus, &self.speaker)
    }
}

/// Corpus and speaker of a recording from its file stem:
/// `NNN-NNN-NNNN` (LibriSpeech: speaker = first number) or `pNNN_NNN` (VCTK:
/// speaker = `pNNN`), optionally prefixed `speech_librispeech_` / `speech_vctk_`
/// as the shipped examples are. `None` for anything else.
pub fn parse_speaker(stem: &str) -> Option<(&'static str, String, String)> {
    let name = stem
        .strip_prefix("speech_librispeech_")
        .or_else(|| stem.strip_prefix("speech_vctk_"))
        .unwrap_or(stem);
    let parts: Vec<&str> = name.split('-').collect();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() == 3 && parts.iter().all(|p| digits(p)) {
        return Some(("librispeech", parts[0].to_owned(), name.to_owned()));
    }
    let mut it = name.splitn(2, '_');
    if let (Some(spk), Some(utt)) = (it.next(), it.next()) {
        if spk.len() > 1 && spk.starts_with('p') && digits(&spk[1..]) && digits(utt) {
            return Some(("vctk", spk.to_owned(), name.to_owned()));
        }
    }
    None
}

fn is_audio(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("wav" | "flac")
    )
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() && depth > 0 {
            walk(&p, depth - 1, out);
        } else if p.is_file() && is_audio(&p) {
            out.push(p);
        }
    }
}

/// What a data folder holds for the dataset: speech clips and room impulse responses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sources {
    /// Speech clips, sorted by corpus and name.
    pub speech: Vec<SpeechClip>,
    /// Room impulse response files (`rir*` / `brir*` names or a `rir` folder), sorted.
    pub rirs: Vec<PathBuf>,
}

/// Scans `data` (three levels deep) for speech clips (file names as
/// [`parse_speaker`] reads them, outside `music/` and `noise/` folders) and RIRs.
/// Works on `shared/data` (`speech/librispeech`, `speech/vctk`, `rir/`) and on
/// the repository's flat `examples/` folder alike.
pub fn scan(data: &Path) -> Sources {
    let mut files = Vec::new();
    walk(data, 3, &mut files);
    let mut s = Sources::default();
    for p in files {
        let stem = p.file_stem().and_then(|x| x.to_str()).unwrap_or("");
        let in_dir = |d: &str| {
            p.parent()
                .and_then(|x| x.file_name())
                .and_then(|x| x.to_str())
                == Some(d)
        };
        if stem.starts_with("rir") || stem.starts_with("brir") || in_dir("rir") {
            s.rirs.push(p);
        } else if in_dir("music") || in_dir("noise") {
            continue;
        } else if let Some((corpus, speaker, name)) = parse_speaker(stem) {
            s.speech.push(SpeechClip {
                corpus: corpus.to_owned(),
                speaker,
                name,
                path: p,
            });
        }
    }
    s.speech.sort();
    s.rirs.sort();
    s
}
