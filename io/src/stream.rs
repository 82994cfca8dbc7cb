//! Audio in bounded memory: a file decoded a packet at a time ([`Reader`]), a
//! resampler fed in pieces ([`StreamResampler`]) and a WAV writer fed in pieces
//! ([`Writer`]). [`crate::read`] is a [`Reader`] collected whole; the CLI streams
//! long files through the chain with these, so their length costs no memory.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::header::{self, Header};
use crate::{IoError, WavFormat};

/// A WAV or FLAC file decoded a packet at a time.
pub struct Reader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    header: Header,
    interleaved: Option<SampleBuffer<f32>>,
}

impl Reader {
    /// Opens `path` and checks its header (rate, channels; not its length, which
    /// streaming does not hold in memory) before the decoder sees it.
    ///
    /// # Errors
    /// [`IoError::Open`], [`IoError::Unsupported`] for a header out of range,
    /// [`IoError::Decode`] for what is not decodable audio.
    pub fn open(path: &Path) -> Result<Reader, IoError> {
        let file = File::open(path).map_err(|source| IoError::Open {
            path: path.to_owned(),
            source,
        })?;
        Reader::new(Box::new(file), path)
    }

    /// [`Reader::open`] on any source; `path` names it in errors and its extension
    /// is a hint to the decoder.
    ///
    /// # Errors
    /// As [`Reader::open`].
    pub fn new(mut source: Box<dyn MediaSource>, path: &Path) -> Result<Reader, IoError> {
        let decode_err = |reason: String| IoError::Decode {
            path: path.to_owned(),
            reason,
        };
        // The decoder runs only on a header that was read and checked here: its
        // own probe also looks for a signature further into the file, and panics
        // on some headers (a 0 Hz rate).
        let probed_header = header::probe(&mut source)
            .map_err(|e| decode_err(e.to_string()))?
            .ok_or_else(|| {
                decode_err(
                    "it is not a WAV or FLAC file (no RIFF/WAVE header with a fmt chunk, or FLAC STREAMINFO, at its start)"
                        .into(),
                )
            })?;
        probed_header.check_format(path)?;
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        // Belt and braces: a decoder panic on a header this parser missed is a
        // decode error, not a crash.
        let probed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            symphonia::default::get_probe().format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
        }))
        .map_err(|_| decode_err("the decoder failed on its header".into()))?
        .map_err(|e| decode_err(e.to_string()))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| decode_err("no audio track".into()))?;
        let params = &track.codec_params;
        let header = Header {
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params
                .channels
                .map_or(0, |c| u16::try_from(c.count()).unwrap_or(u16::MAX)),
            // Ours counts only what a WAV file holds; the decoder's believes its header.
            frames: probed_header.frames.or(params.n_frames),
        };
        header.check_format(path)?;
        let track_id = track.id;
        let decoder = symphonia::default::get_codecs()
            .make(params, &DecoderOptions::default())
            .map_err(|e| decode_err(e.to_string()))?;
        Ok(Reader {
            path: path.to_owned(),
            format,
            decoder,
            track_id,
            header,
            interleaved: None,
        })
    }

    /// What the file's header says (rate and channels checked; `frames` a hint).
    pub fn header(&self) -> Header {
        self.header
    }

    /// Sample rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.header.sample_rate
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        usize::from(self.header.channels)
    }

    /// Appends the next packet's frames to `out` (one `Vec` per channel, planar).
    /// Returns the frames appended; 0 at the end of the file.
    ///
    /// # Errors
    /// [`IoError::Decode`] when the stream breaks or changes rate or channels.
    pub fn read_into(&mut self, out: &mut [Vec<f32>]) -> Result<usize, IoError> {
        let decode_err = |reason: String| IoError::Decode {
            path: self.path.clone(),
            reason,
        };
        loop {
            let format = &mut self.format;
            let next =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| format.next_packet()))
                    .map_err(|_| decode_err("the decoder failed reading a packet".into()))?;
            let packet = match next {
                Ok(p) => p,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Ok(0)
                }
                Err(e) => return Err(decode_err(e.to_string())),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let decoder = &mut self.decoder;
            let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                decoder.decode(&packet).map(|d| d.frames())
            }))
            .map_err(|_| decode_err("the decoder failed on a packet".into()))?;
            match decoded {
                Ok(_) => {}
                // A corrupt packet is skipped, as players do; a broken stream ends.
                Err(SymphoniaError::DecodeError(_)) => continue,
                Err(e) => return Err(decode_err(e.to_string())),
            }
            let decoded = self.decoder.last_decoded();
            let spec = *decoded.spec();
            let n_ch = spec.channels.count();
            if spec.rate != self.header.sample_rate
                || n_ch != usize::from(self.header.channels)
                || out.len() != n_ch
            {
                return Err(decode_err(format!(
                    "the stream changes to {} Hz, {n_ch} channels",
                    spec.rate
                )));
            }
            let buf = match &mut self.interleaved {
                Some(b) if b.capacity() >= decoded.capacity() * n_ch => b,
                slot => slot.insert(SampleBuffer::new(decoded.capacity() as u64, spec)),
            };
            buf.copy_interleaved_ref(decoded);
            let frames = buf.samples().len() / n_ch;
            for (c, o) in out.iter_mut().enumerate() {
                o.extend(buf.samples().iter().skip(c).step_by(n_ch));
            }
            if frames > 0 {
                return Ok(frames);
            }
        }
    }
}

/// Resamples planar audio fed in pieces of any length, with the output of
/// [`crate::resample`] on the whole: time-aligned (the resampler's delay removed)
/// and `round(len × to / from)` frames long once [`StreamResampler::finish`]ed.
pub struct StreamResampler {
    from: u32,
    to: u32,
    inner: Option<FftFixedIn<f32>>,
    /// Input waiting for a whole resampler chunk.
    pending: Vec<Vec<f32>>,
    /// Output frames still to drop (the resampler's delay).
    skip: usize,
    fed: u64,
    produced: u64,
}

impl StreamResampler {
    /// A resampler from `from` to `to` Hz for `channels` channels (a pass-through
    /// when the rates are equal).
    ///
    /// # Errors
    /// [`IoError::Resample`] for a zero rate or a ratio rubato rejects.
    pub fn new(from: u32, to: u32, channels: usize) -> Result<StreamResampler, IoError> {
        let fail = |reason: String| IoError::Resample { from, to, reason };
        if from == 0 || to == 0 {
            return Err(fail("rates must be positive".into()));
        }
        let inner = if from == to {
            None
        } else {
            let (chunk, _) = crate::resampler_chunk(from, to);
            Some(
                FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 1, channels)
                    .map_err(|e| fail(e.to_string()))?,
            )
        };
        let skip = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(StreamResampler {
            from,
            to,
            inner,
            pending: vec![Vec::new(); channels],
            skip,
            fed: 0,
            produced: 0,
        })
    }

    /// Feeds `input` (planar); appends what is ready to `out`.
    ///
    /// # Errors
    /// [`IoError::Resample`] if rubato fails.
    pub fn process(&mut self, input: &[Vec<f32>], out: &mut [Vec<f32>]) -> Result<(), IoError> {
        self.fed += input.first().map_or(0, Vec::len) as u64;
        for (p, i) in self.pending.iter_mut().zip(input) {
            p.extend_from_slice(i);
        }
        self.drain(out, false)
    }

    /// Ends the input: appends the rest, so that the whole output is
    /// `round(fed × to / from)` frames.
    ///
    /// # Errors
    /// [`IoError::Resample`] if rubato fails.
    pub fn finish(&mut self, out: &mut [Vec<f32>]) -> Result<(), IoError> {
        self.drain(out, true)
    }

    fn drain(&mut self, out: &mut [Vec<f32>], end: bool) -> Result<(), IoError> {
        let (from, to) = (self.from, self.to);
        let target = (self.fed * u64::from(to) + u64::from(from) / 2) / u64::from(from);
        let Some(r) = self.inner.as_mut() else {
            for (o, p) in out.iter_mut().zip(&mut self.pending) {
                o.append(p);
            }
            self.produced = self.fed;
            return Ok(());
        };
        loop {
            let need = r.input_frames_next();
            let have = self.pending.first().map_or(0, Vec::len);
            if have < need {
                if !end || self.produced >= target {
                    break;
                }
                // Zeros after the end, until the delayed tail has come out.
                for p in &mut self.pending {
                    p.resize(need, 0.0);
                }
            }
            let block: Vec<&[f32]> = self.pending.iter().map(|p| &p[..need]).collect();
            let produced = r.process(&block, None).map_err(|e| IoError::Resample {
                from,
                to,
                reason: e.to_string(),
            })?;
            for p in &mut self.pending {
                p.drain(..need);
            }
            let n = produced.first().map_or(0, Vec::len);
            let skip = self.skip.min(n);
            self.skip -= skip;
            let mut keep = n - skip;
            if end {
                keep = keep.min((target - self.produced.min(target)) as usize);
            }
            for (o, p) in out.iter_mut().zip(&produced) {
                o.extend_from_slice(&p[skip..skip + keep]);
            }
            self.produced += keep as u64;
        }
        if end {
            for p in &mut self.pending {
                p.clear();
            }
        }
        Ok(())
    }
}

/// A WAV file written in pieces ([`Writer::write`]), in `format` as
/// [`crate::write_wav`] writes it.
pub struct Writer<W: Write + Seek> {
    path: PathBuf,
    inner: hound::WavWriter<W>,
    format: WavFormat,
    full_scale: f32,
}

impl Writer<BufWriter<File>> {
    /// Creates (or truncates) `path`.
    ///
    /// # Errors
    /// [`IoError::Write`] if it cannot be created.
    pub fn create(
        path: &Path,
        sample_rate: u32,
        channels: usize,
        format: WavFormat,
    ) -> Result<Self, IoError> {
        let file = File::create(path).map_err(|e| IoError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Writer::new(BufWriter::new(file), path, sample_rate, channels, format)
    }
}

impl<W: Write + Seek> Writer<W> {
    /// A writer into `w`; `path` names it in errors.
    ///
    /// # Errors
    /// [`IoError::Write`] / [`IoError::Invalid`] for a header hound refuses.
    pub fn new(
        w: W,
        path: &Path,
        sample_rate: u32,
        channels: usize,
        format: WavFormat,
    ) -> Result<Self, IoError> {
        let (bits, sample_format) = match format {
            WavFormat::Int16 => (16, hound::SampleFormat::Int),
            WavFormat::Int24 => (24, hound::SampleFormat::Int),
            WavFormat::Float32 => (32, hound::SampleFormat::Float),
        };
        let channels = u16::try_from(channels)
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| IoError::Invalid(format!("{channels} channels")))?;
        let spec = hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: bits,
            sample_format,
        };
        let inner = hound::WavWriter::new(w, spec).map_err(|e| IoError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Writer {
            path: path.to_owned(),
            inner,
            format,
            full_scale: ((1i64 << (bits - 1)) - 1) as f32,
        })
    }

    /// Appends the first `frames` frames of `channels` (planar).
    ///
    /// # Errors
    /// [`IoError::Write`] when writing fails.
    pub fn write(&mut self, channels: &[Vec<f32>], frames: usize) -> Result<(), IoError> {
        let err = |e: hound::Error| IoError::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        for i in 0..frames {
            for ch in channels {
                let s = ch[i];
                match self.format {
                    WavFormat::Float32 => self.inner.write_sample(s).map_err(err)?,
                    _ => {
                        let v = (s.clamp(-1.0, 1.0) * self.full_scale).round() as i32;
                        self.inner.write_sample(v).map_err(err)?
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the header's final sizes.
    ///
    /// # Errors
    /// [`IoError::Write`] when writing fails.
    pub fn finish(self) -> Result<(), IoError> {
        let path = self.path;
        self.inner.finalize().map_err(|e| IoError::Write {
            path,
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweep(n: usize, channels: usize) -> Vec<Vec<f32>> {
        (0..channels)
            .map(|c| {
                (0..n)
                    .map(|i| ((i * (c + 1)) as f32 * 0.013).sin() * 0.5)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn fed_in_pieces_the_resampler_gives_what_it_gives_on_the_whole() {
        for (from, to, n) in [
            (48_000, 16_000, 30_011),
            (16_000, 48_000, 10_007),
            (384_000, 192_000, 50_001),
            (44_100, 48_000, 20_000),
            (48_000, 48_000, 1_000),
        ] {
            let input = sweep(n, 2);
            let whole = crate::resample(&input, from, to).unwrap();
            for piece in [1, 333, 4096, n] {
                let mut r = StreamResampler::new(from, to, 2).unwrap();
                let mut out = vec![Vec::new(); 2];
                for start in (0..n).step_by(piece) {
                    let end = (start + piece).min(n);
                    let chunk: Vec<Vec<f32>> =
                        input.iter().map(|c| c[start..end].to_vec()).collect();
                    r.process(&chunk, &mut out).unwrap();
                }
                r.finish(&mut out).unwrap();
                assert_eq!(out, whole, "{from} -> {to} Hz in pieces of {piece}");
            }
        }
    }

    #[test]
    fn a_file_written_and_read_in_pieces_is_the_file_written_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let audio = crate::Audio::new(44_100, sweep(10_000, 2)).unwrap();
        let whole = tmp.path().join("whole.wav");
        crate::write_wav(&whole, &audio, WavFormat::Int24).unwrap();
        let pieces = tmp.path().join("pieces.wav");
        let mut w = Writer::create(&pieces, 44_100, 2, WavFormat::Int24).unwrap();
        for start in (0..10_000).step_by(777) {
            let end = (start + 777).min(10_000);
            let chunk: Vec<Vec<f32>> = audio
                .channels
                .iter()
                .map(|c| c[start..end].to_vec())
                .collect();
            w.write(&chunk, end - start).unwrap();
        }
        w.finish().unwrap();
        assert_eq!(
            std::fs::read(&whole).unwrap(),
            std::fs::read(&pieces).unwrap()
        );

        let mut r = Reader::open(&pieces).unwrap();
        assert_eq!(r.header().frames, Some(10_000));
        let mut read = vec![Vec::new(); 2];
        while r.read_into(&mut read).unwrap() > 0 {}
        assert_eq!(read, crate::read(&whole).unwrap().channels);
    }
}
