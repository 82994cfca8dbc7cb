//! Audio files and resampling for Faurge's tools, tests and helper.
//!
//! Reading goes through `symphonia` (WAV and FLAC, any integer or float PCM),
//! writing through `hound` (WAV, 16/24-bit integer or 32-bit float) and sample-rate
//! conversion through `rubato`. Audio is planar `f32` in −1..1 full scale.
//! Nothing here is realtime-safe: it allocates and does I/O, so it never runs on
//! an audio thread.

use std::fs::File;
use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use thiserror::Error;

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
/// # Errors
/// [`IoError::Open`] if the file cannot be opened, [`IoError::Decode`] if it is
/// not decodable audio, [`IoError::Empty`] if it holds no samples.
pub fn read(path: impl AsRef<Path>) -> Result<Audio, IoError> {
    let path = path.as_ref();
    let decode_err = |reason: String| IoError::Decode {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(|source| IoError::Open {
        path: path.to_owned(),
        source,
    })?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| decode_err(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| decode_err("no audio track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| decode_err(e.to_string()))?;
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut interleaved: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(e) => return Err(decode_err(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A corrupt packet is skipped, as players do; a broken stream ends below.
            Err(SymphoniaError::DecodeError(_)) => continue,
            Err(e) => return Err(decode_err(e.to_string())),
        };
        let spec = *decoded.spec();
        sample_rate = spec.rate;
        let n_ch = spec.channels.count();
        if channels.is_empty() {
            channels = vec![Vec::new(); n_ch];
        }
        let buf = match &mut interleaved {
            Some(b) if b.capacity() >= decoded.capacity() * n_ch => b,
            slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        for frame in buf.samples().chunks_exact(n_ch) {
            for (c, s) in frame.iter().enumerate() {
                channels[c].push(*s);
            }
        }
    }
    if channels.first().is_none_or(Vec::is_empty) {
        return Err(IoError::Empty {
            path: path.to_owned(),
        });
    }
    Audio::new(sample_rate, channels).map_err(|e| decode_err(e.to_string()))
}

/// Writes `audio` as a WAV file in `format`.
///
/// # Errors
/// [`IoError::Invalid`] for malformed audio, [`IoError::Write`] if the file
/// cannot be created or written.
pub fn write_wav(path: impl AsRef<Path>, audio: &Audio, format: WavFormat) -> Result<(), IoError> {
    let path = path.as_ref();
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
    let mut w = hound::WavWriter::create(path, spec).map_err(write_err)?;
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
    // rubato's FFT resampler works in frames of `from / gcd` input samples. With one
    // sub-chunk and an even number of those frames per chunk its internal FFT sizes
    // are even, so its reported delay is exact; with odd sizes the output would be
    // half a sample late (measured: a 1 kHz sine at 48 -> 16 kHz off by 0.065).
    let step = (from / gcd(from, to)) as usize;
    let chunk = 2 * step * 1024usize.div_ceil(2 * step);
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
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let flac = read(root.join("speech_librispeech_19-198-0000.flac")).unwrap();
        assert_eq!((flac.sample_rate, flac.num_channels()), (16_000, 1));
        // STREAMINFO says 31 440 frames (1.965 s); every one must decode.
        assert_eq!(flac.frames(), 31_440);
        let wav = read(root.join("speech_vctk_p234_012.wav")).unwrap();
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
