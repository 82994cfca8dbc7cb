//! Audio files and resampling for Faurge's tools, tests and helper.
//!
//! Reading goes through `symphonia` (WAV and FLAC, any integer or float PCM),
//! writing through `hound` (WAV, 16/24-bit integer or 32-bit float) and sample-rate
//! conversion through `rubato`. Audio is planar `f32` in −1..1 full scale.
//! Nothing here is realtime-safe: it allocates and does I/O, so it never runs on
//! an audio thread.

use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};
use symphonia::core::io::MediaSource;
use thiserror::Error;

pub mod header;
pub mod stream;

/// The short licensed clips shipped in the repository's `examples/` folder
/// (attribution in `examples/LICENSES.md`), as absolute paths of this checkout,
/// for tests, benchmarks and examples. Not for installed programs.
pub mod examples {
    /// 4.0 s read speech, 48 kHz mono, full band (VCTK `p234_012`).
    pub const VCTK_SPEECH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/speech_vctk_p234_012.wav"
    );
    /// 2.0 s read speech, 16 kHz mono, band-limited to 8 kHz (LibriSpeech `19-198-0000`).
    pub const LIBRISPEECH_SPEECH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/speech_librispeech_19-198-0000.flac"
    );
    /// Measured room impulse response, 44.1 kHz mono, 1 s (RT60 about 0.6 s).
    pub const ROOM_IR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rir_clap.wav");
}

/// Planar audio: `channels[c][n]` is sample `n` of channel `c`, full scale ±1.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// One `Vec` per channel, all the same length.
    pub channels: Vec<Vec<f32>>,
}

/// Sample format of a written WAV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WavFormat {
    /// 16-bit integer PCM (TPDF-free plain rounding; clipped at full scale).
    Int16,
    /// 24-bit integer PCM (clipped at full scale).
    Int24,
    /// 32-bit IEEE float, bit-exact to the samples given.
    Float32,
}

/// Why reading, writing or resampling failed. Every variant names the file.
#[derive(Debug, Error)]
pub enum IoError {
    /// The file could not be opened or created.
    #[error("Could not open \"{path}\": {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not audio symphonia can decode (only WAV and FLAC are built in).
    #[error("Could not decode \"{path}\": {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The file's header states something Faurge does not read (a sample rate, a
    /// channel count or a length out of range); nothing was decoded.
    #[error("\"{path}\" cannot be read: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What the header says and what is accepted.
        reason: String,
    },
    /// The file decoded to no samples.
    #[error("\"{path}\" contains no audio")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Writing the WAV file failed.
    #[error("Could not write \"{path}\": {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What hound said.
        reason: String,
    },
    /// The audio given is malformed (no channels, ragged channels, zero rate).
    #[error("Invalid audio: {0}")]
    Invalid(String),
    /// Resampler construction or processing failed.
    #[error("Could not resample from {from} Hz to {to} Hz: {reason}")]
    Resample {
        /// Source rate, Hz.
        from: u32,
        /// Target rate, Hz.
        to: u32,
        /// What rubato said.
        reason: String,
    },
}

impl Audio {
    /// Checks that there is at least one channel, all channels have the same
    /// length, and the rate is non-zero.
    ///
    /// # Errors
    /// [`IoError::Invalid`] saying which of those fails.
    pub fn new(sample_rate: u32, channels: Vec<Vec<f32>>) -> Result<Self, IoError> {
        if sample_rate == 0 {
            return Err(IoError::Invalid("sample rate is 0 Hz".into()));
        }
        let Some(first) = channels.first() else {
            return Err(IoError::Invalid("no channels".into()));
        };
        if channels.iter().any(|c| c.len() != first.len()) {
            return Err(IoError::Invalid("channels have different lengths".into()));
        }
        Ok(Audio {
            sample_rate,
            channels,
        })
    }

    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Number of channels.
    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// The average of all channels, one `Vec` of `frames()` samples.
    pub fn to_mono(&self) -> Vec<f32> {
        let n = self.num_channels().max(1) as f32;
        (0..self.frames())
            .map(|i| self.channels.iter().map(|c| c[i]).sum::<f32>() / n)
            .collect()
    }

    /// A copy at `sample_rate` (the same audio when the rate already matches).
    ///
    /// # Errors
    /// [`IoError::Resample`] if rubato rejects the ratio.
    pub fn resampled(&self, sample_rate: u32) -> Result<Audio, IoError> {
        let channels = resample(&self.channels, self.sample_rate, sample_rate)?;
        Ok(Audio {
            sample_rate,
            channels,
        })
    }
}

/// Reads a WAV or FLAC file into planar `f32`.
///
/// The header is checked first ([`header::Header::check`]: 8 to 768 kHz, 1 to 32
/// channels, at most [`header::MAX_SAMPLES`] samples), so a hostile header is
/// refused before the decoder sees it or anything is allocated.
///
/// # Errors
/// [`IoError::Open`] if the file cannot be opened, [`IoError::Unsupported`] if
/// its header is out of range, [`IoError::Decode`] if it is not decodable audio,
/// [`IoError::Empty`] if it holds no samples.
pub fn read(path: impl AsRef<Path>) -> Result<Audio, IoError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| IoError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_source(Box::new(file), path)
}

/// [`read`] on bytes in memory; `name` is used in errors and its extension as a
/// hint to the decoder. For tests and fuzzing.
///
/// # Errors
/// As [`read`], except [`IoError::Open`].
pub fn read_bytes(bytes: Vec<u8>, name: &Path) -> Result<Audio, IoError> {
    read_source(Box::new(std::io::Cursor::new(bytes)), name)
}

/// Checks the header of `source`, then decodes it whole (at most
/// [`header::MAX_SAMPLES`] samples).
fn read_source(source: Box<dyn MediaSource>, path: &Path) -> Result<Audio, IoError> {
    let mut reader = stream::Reader::new(source, path)?;
    let h = reader.header();
    if let Some(frames) = h.frames {
        header::check_samples(path, frames, h.channels.into())?;
    }
    let mut channels: Vec<Vec<f32>> = vec![Vec::new(); reader.channels()];
    // Streams whose header states no length are bounded as they decode.
    while reader.read_into(&mut channels)? > 0 {
        header::check_samples(path, channels[0].len() as u64, channels.len() as u64)?;
    }
    if channels.first().is_none_or(Vec::is_empty) {
        return Err(IoError::Empty {
            path: path.to_owned(),
        });
    }
    Audio::new(reader.sample_rate(), channels).map_err(|e| IoError::Decode {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Writes `audio` as a WAV file in `format`.
///
/// # Errors
/// [`IoError::Invalid`] for malformed audio, [`IoError::Write`] if the file
/// cannot be created or written.
pub fn write_wav(path: impl AsRef<Path>, audio: &Audio, format: WavFormat) -> Result<(), IoError> {
    let path = path.as_ref();
    let file = File::create(path).map_err(|e| IoError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    write_wav_to(std::io::BufWriter::new(file), path, audio, format)
}

/// [`write_wav`] into any seekable writer (a temporary file, memory); `path`
/// names it in errors.
///
/// # Errors
/// As [`write_wav`].
pub fn write_wav_to<W: Write + Seek>(
    writer: W,
    path: &Path,
    audio: &Audio,
    format: WavFormat,
) -> Result<(), IoError> {
    let audio = Audio::new(audio.sample_rate, audio.channels.clone())?;
    let write_err = |e: hound::Error| IoError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let (bits, sample_format) = match format {
        WavFormat::Int16 => (16, hound::SampleFormat::Int),
        WavFormat::Int24 => (24, hound::SampleFormat::Int),
        WavFormat::Float32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec {
        channels: audio.num_channels() as u16,
        sample_rate: audio.sample_rate,
        bits_per_sample: bits,
        sample_format,
    };
    let mut w = hound::WavWriter::new(writer, spec).map_err(write_err)?;
    let full_scale = ((1i64 << (bits - 1)) - 1) as f32;
    for i in 0..audio.frames() {
        for ch in &audio.channels {
            let s = ch[i];
            match format {
                WavFormat::Float32 => w.write_sample(s).map_err(write_err)?,
                _ => {
                    let v = (s.clamp(-1.0, 1.0) * full_scale).round() as i32;
                    w.write_sample(v).map_err(write_err)?
                }
            }
        }
    }
    w.finalize().map_err(write_err)
}

/// Resamples planar audio from `from` Hz to `to` Hz with rubato's FFT resampler.
///
/// The output has `round(len × to / from)` frames, time-aligned with the input
/// (the resampler's delay is removed). Returns a copy when the rates are equal.
///
/// # Errors
/// [`IoError::Resample`] if either rate is 0 or rubato rejects the ratio.
pub fn resample(channels: &[Vec<f32>], from: u32, to: u32) -> Result<Vec<Vec<f32>>, IoError> {
    let fail = |reason: String| IoError::Resample { from, to, reason };
    if from == 0 || to == 0 {
        return Err(fail("rates must be positive".into()));
    }
    if from == to || channels.is_empty() {
        return Ok(channels.to_vec());
    }
    let len = channels[0].len();
    let out_len = (len as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from);
    let (chunk, _) = resampler_chunk(from, to);
    let mut r = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 1, channels.len())
        .map_err(|e| fail(e.to_string()))?;
    let delay = r.output_delay();
    let mut out: Vec<Vec<f32>> =
        vec![Vec::with_capacity(out_len as usize + delay + chunk); channels.len()];
    let mut pos = 0;
    // Feed the input, then zeros, until the delayed tail has come out.
    while out[0].len() < out_len as usize + delay {
        let need = r.input_frames_next();
        let block: Vec<Vec<f32>> = channels
            .iter()
            .map(|c| {
                let mut b = vec![0.0; need];
                if pos < len {
                    let n = need.min(len - pos);
                    b[..n].copy_from_slice(&c[pos..pos + n]);
                }
                b
            })
            .collect();
        pos += need;
        let produced = r.process(&block, None).map_err(|e| fail(e.to_string()))?;
        for (o, p) in out.iter_mut().zip(produced) {
            o.extend_from_slice(&p);
        }
    }
    for o in &mut out {
        o.drain(..delay);
        o.truncate(out_len as usize);
    }
    Ok(out)
}

/// The input chunk of rubato's FFT resampler for `from` → `to`, and its step.
///
/// rubato's FFT resampler works in frames of `from / gcd` input samples. With one
/// sub-chunk and an even number of those frames per chunk its internal FFT sizes
/// are even, so its reported delay is exact; with odd sizes the output would be
/// half a sample late (measured: a 1 kHz sine at 48 -> 16 kHz off by 0.065).
pub(crate) fn resampler_chunk(from: u32, to: u32) -> (usize, usize) {
    let step = (from / gcd(from, to)) as usize;
    (2 * step * 1024usize.div_ceil(2 * step), step)
}

/// Greatest common divisor (Euclid).
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(sr: u32, f: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (std::f32::consts::TAU * f * i as f32 / sr as f32).sin() * 0.5)
            .collect()
    }

    #[test]
    fn wav_float_round_trip_is_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        let a = Audio::new(
            48_000,
            vec![sine(48_000, 440.0, 4800), sine(48_000, 660.0, 4800)],
        )
        .unwrap();
        write_wav(&p, &a, WavFormat::Float32).unwrap();
        assert_eq!(read(&p).unwrap(), a);
    }

    #[test]
    fn wav_int16_round_trip_within_one_lsb() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.wav");
        let a = Audio::new(44_100, vec![sine(44_100, 1000.0, 4410)]).unwrap();
        write_wav(&p, &a, WavFormat::Int16).unwrap();
        let b = read(&p).unwrap();
        assert_eq!(b.sample_rate, 44_100);
        let max_err = a.channels[0]
            .iter()
            .zip(&b.channels[0])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(max_err <= 1.0 / 32767.0, "max error {max_err}");
    }

    #[test]
    fn shipped_flac_and_wav_examples_decode() {
        let flac = read(examples::LIBRISPEECH_SPEECH).unwrap();
        assert_eq!((flac.sample_rate, flac.num_channels()), (16_000, 1));
        // STREAMINFO says 31 440 frames (1.965 s); every one must decode.
        assert_eq!(flac.frames(), 31_440);
        let wav = read(examples::VCTK_SPEECH).unwrap();
        assert_eq!((wav.sample_rate, wav.num_channels()), (48_000, 1));
        assert!(wav.channels[0]
            .iter()
            .all(|s| s.is_finite() && s.abs() <= 1.0));
    }

    #[test]
    fn missing_and_garbage_files_are_clear_errors() {
        let err = read("/nonexistent/x.wav").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Could not open \"/nonexistent/x.wav\""),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("garbage.wav");
        std::fs::write(&p, b"RIFF this is not audio at all").unwrap();
        assert!(matches!(read(&p), Err(IoError::Decode { .. })));
    }

    #[test]
    fn resampling_keeps_a_sine_at_its_frequency_phase_and_length() {
        // Up and down, integer and fractional ratios: the output must be the ideal
        // sine at the new rate, in phase (no fractional-sample delay), away from the edges.
        let pairs = [
            (44_100, 48_000),
            (48_000, 44_100),
            (16_000, 48_000),
            (48_000, 16_000),
            (22_050, 48_000),
            (48_000, 22_050),
            (96_000, 44_100),
            (192_000, 48_000),
            (8_000, 48_000),
            (48_000, 8_000),
        ];
        for (from, to) in pairs {
            let x = sine(from, 1000.0, from as usize);
            let y = resample(&[x], from, to).unwrap();
            assert_eq!(y[0].len(), to as usize);
            let ideal = sine(to, 1000.0, to as usize);
            let n = to as usize;
            let err = y[0][n / 10..n * 9 / 10]
                .iter()
                .zip(&ideal[n / 10..n * 9 / 10])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(err < 1e-3, "{from} -> {to} Hz: max error {err}");
        }
    }
}
