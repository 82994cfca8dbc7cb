//! What a file says about itself, read and checked before any decoding or
//! allocation: a header claiming 0 Hz, a million channels or days of audio is
//! refused with a clear message instead of a decoder panic or a multi-gigabyte
//! allocation.
//!
//! Only the header is read (WAV: the `fmt ` and `data` chunks; FLAC: `STREAMINFO`).
//! Other formats, and headers this parser does not follow, are left to the
//! decoder, which [`crate::read`] still bounds by [`MAX_SAMPLES`] as it goes.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::IoError;

/// Lowest sample rate a file may have, Hz (narrow-band telephone speech).
pub const MIN_FILE_RATE_HZ: u32 = 8_000;
/// Highest sample rate a file may have, Hz (the highest in common use, DXD × 2).
pub const MAX_FILE_RATE_HZ: u32 = 768_000;
/// Most channels a file may have.
pub const MAX_FILE_CHANNELS: u16 = 32;
/// Most samples (frames × channels) a file may hold: 2³⁰, 4 GiB as `f32`, about
/// 3.1 hours of 48 kHz stereo. [`crate::read`] holds the whole file in memory.
pub const MAX_SAMPLES: u64 = 1 << 30;

/// The facts a header states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Sample rate, Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Frames, when the header says (and, for WAV, what the file can hold).
    pub frames: Option<u64>,
}

impl Header {
    /// [`Header::check_format`], and refuses more than [`MAX_SAMPLES`] (what
    /// [`crate::read`] would hold in memory).
    ///
    /// # Errors
    /// [`IoError::Unsupported`] naming the file and the value.
    pub fn check(&self, path: &Path) -> Result<(), IoError> {
        self.check_format(path)?;
        check_samples(path, self.frames.unwrap_or(0), self.channels.into())
    }

    /// Refuses a rate outside [`MIN_FILE_RATE_HZ`]..=[`MAX_FILE_RATE_HZ`], no
    /// channels or more than [`MAX_FILE_CHANNELS`]: what streaming needs.
    ///
    /// # Errors
    /// [`IoError::Unsupported`] naming the file and the value.
    pub fn check_format(&self, path: &Path) -> Result<(), IoError> {
        let fail = |reason: String| IoError::Unsupported {
            path: path.to_owned(),
            reason,
        };
        if !(MIN_FILE_RATE_HZ..=MAX_FILE_RATE_HZ).contains(&self.sample_rate) {
            return Err(fail(format!(
                "its sample rate is {} Hz; Faurge reads {MIN_FILE_RATE_HZ} to {MAX_FILE_RATE_HZ} Hz",
                self.sample_rate
            )));
        }
        if !(1..=MAX_FILE_CHANNELS).contains(&self.channels) {
            return Err(fail(format!(
                "it has {} channels; Faurge reads 1 to {MAX_FILE_CHANNELS}",
                self.channels
            )));
        }
        Ok(())
    }
}

/// Refuses `frames × channels` above [`MAX_SAMPLES`].
pub(crate) fn check_samples(path: &Path, frames: u64, channels: u64) -> Result<(), IoError> {
    if frames.saturating_mul(channels) > MAX_SAMPLES {
        return Err(IoError::Unsupported {
            path: path.to_owned(),
            reason: format!(
                "its header says it holds {frames} frames of {channels} channels, more than the {MAX_SAMPLES} samples Faurge reads at once"
            ),
        });
    }
    Ok(())
}

/// Reads the header of a WAV or FLAC stream. `Ok(None)`: not a format this parser
/// knows (or a header it does not follow); the decoder then decides.
///
/// # Errors
/// Only I/O errors while reading the header.
pub fn probe(r: &mut (impl Read + Seek)) -> std::io::Result<Option<Header>> {
    let len = r.seek(SeekFrom::End(0))?;
    r.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 4];
    if read_full(r, &mut magic)? < 4 {
        return Ok(None);
    }
    let header = match &magic {
        b"RIFF" => wav(r, len)?,
        b"fLaC" => flac(r)?,
        _ => None,
    };
    r.seek(SeekFrom::Start(0))?;
    Ok(header)
}

/// Reads into `buf` until it is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Bytes before the audio searched for a second `fmt ` tag.
const FMT_SCAN_BYTES: u64 = 4 << 20;

/// RIFF/WAVE: [`wav_chunks`], accepted only when the bytes before the audio hold
/// exactly one `fmt ` tag. The decoder walks the chunks its own way (a `LIST` whose
/// length disagrees with its contents leaves it elsewhere than this walk), and takes
/// its rate from the first `fmt ` it meets, panicking on 0 Hz; with one tag in the
/// header there is only one `fmt ` it can meet there.
fn wav(r: &mut (impl Read + Seek), len: u64) -> std::io::Result<Option<Header>> {
    let Some((header, audio_at)) = wav_chunks(r, len)? else {
        return Ok(None);
    };
    let end = audio_at.unwrap_or(len).min(FMT_SCAN_BYTES);
    r.seek(SeekFrom::Start(12))?;
    let mut bytes = Vec::new();
    r.take(end.saturating_sub(12)).read_to_end(&mut bytes)?;
    let tags = bytes.windows(4).filter(|w| w == b"fmt ").count();
    Ok((tags == 1).then_some(header))
}

/// Walks the chunks after `RIFF<size>WAVE` for `fmt ` and `data`; returns the
/// header and where the audio starts (when a `data` chunk was found).
fn wav_chunks(
    r: &mut (impl Read + Seek),
    len: u64,
) -> std::io::Result<Option<(Header, Option<u64>)>> {
    let mut head = [0u8; 8];
    if read_full(r, &mut head)? < 8 || &head[4..] != b"WAVE" {
        return Ok(None);
    }
    let mut pos = 12u64;
    let mut fmt: Option<(u16, u32, u16)> = None;
    // A bounded walk: a file of tiny chunks cannot keep the parser busy.
    for _ in 0..64 {
        let mut chunk = [0u8; 8];
        if read_full(r, &mut chunk)? < 8 {
            break;
        }
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        let body = pos + 8;
        match &chunk[..4] {
            b"fmt " => {
                let mut f = [0u8; 16];
                // The decoder takes its rate from the first `fmt ` and panics on 0 Hz
                // before it sees a second one: a file with two is not followed.
                if fmt.is_some() || size < 16 || read_full(r, &mut f)? < 16 {
                    return Ok(None);
                }
                let channels = u16::from_le_bytes([f[2], f[3]]);
                let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
                let block_align = u16::from_le_bytes([f[12], f[13]]);
                fmt = Some((channels, rate, block_align));
            }
            b"data" => {
                let (channels, sample_rate, block_align) = match fmt {
                    Some(f) => f,
                    None => return Ok(None),
                };
                // A streamed WAV may say 0 or 0xFFFFFFFF: what the file holds counts.
                let bytes = size.min(len.saturating_sub(body));
                let frames = (block_align > 0).then(|| bytes / u64::from(block_align));
                return Ok(Some((
                    Header {
                        sample_rate,
                        channels,
                        frames,
                    },
                    Some(body),
                )));
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = body + size + (size & 1);
        if pos >= len {
            break;
        }
        r.seek(SeekFrom::Start(pos))?;
    }
    // A `fmt ` without a `data` chunk still says the rate and channels.
    Ok(fmt.map(|(channels, sample_rate, _)| {
        (
            Header {
                sample_rate,
                channels,
                frames: None,
            },
            None,
        )
    }))
}

/// FLAC: the `STREAMINFO` block that must come first.
fn flac(r: &mut impl Read) -> std::io::Result<Option<Header>> {
    let mut block = [0u8; 4 + 34];
    if read_full(r, &mut block)? < block.len() || block[0] & 0x7f != 0 {
        return Ok(None);
    }
    let s = &block[4..];
    // 20 bits rate, 3 bits channels − 1, 5 bits bits − 1, 36 bits total samples.
    let sample_rate = (u32::from(s[10]) << 12) | (u32::from(s[11]) << 4) | (u32::from(s[12]) >> 4);
    let channels = u16::from((s[12] >> 1) & 0x7) + 1;
    let total = (u64::from(s[13] & 0x0f) << 32)
        | (u64::from(s[14]) << 24)
        | (u64::from(s[15]) << 16)
        | (u64::from(s[16]) << 8)
        | u64::from(s[17]);
    Ok(Some(Header {
        sample_rate,
        channels,
        frames: (total > 0).then_some(total),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A 16-bit PCM WAV header claiming `rate` and `channels` with `frames` of silence.
    pub(crate) fn wav_bytes(rate: u32, channels: u16, frames: u32) -> Vec<u8> {
        let block = channels * 2;
        let data = frames * u32::from(block);
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        v.extend_from_slice(&block.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data.to_le_bytes());
        v.resize(v.len() + data as usize, 0);
        v
    }

    #[test]
    fn reads_rate_channels_and_frames_of_a_wav() {
        let h = probe(&mut Cursor::new(wav_bytes(44_100, 2, 100))).unwrap();
        assert_eq!(
            h,
            Some(Header {
                sample_rate: 44_100,
                channels: 2,
                frames: Some(100)
            })
        );
    }

    #[test]
    fn a_data_size_beyond_the_file_counts_only_what_is_there() {
        let mut v = wav_bytes(48_000, 1, 10);
        v[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        let h = probe(&mut Cursor::new(v)).unwrap().unwrap();
        assert_eq!(h.frames, Some(10));
    }

    #[test]
    fn rates_channels_and_lengths_outside_the_range_are_refused() {
        let p = Path::new("x.wav");
        let h = |sample_rate, channels, frames| Header {
            sample_rate,
            channels,
            frames: Some(frames),
        };
        for bad in [
            h(0, 1, 10),
            h(1, 1, 10),
            h(7_999, 1, 10),
            h(768_001, 1, 10),
            h(48_000, 0, 10),
            h(48_000, 33, 10),
            h(48_000, 2, MAX_SAMPLES),
        ] {
            assert!(
                matches!(bad.check(p), Err(IoError::Unsupported { .. })),
                "{bad:?}"
            );
        }
        for good in [
            h(8_000, 1, 10),
            h(768_000, 2, 10),
            h(48_000, 1, MAX_SAMPLES),
        ] {
            assert!(good.check(p).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn the_shipped_flac_header_is_read() {
        let mut f = std::fs::File::open(crate::examples::LIBRISPEECH_SPEECH).unwrap();
        let h = probe(&mut f).unwrap().unwrap();
        assert_eq!((h.sample_rate, h.channels), (16_000, 1));
        let decoded = crate::read(crate::examples::LIBRISPEECH_SPEECH).unwrap();
        assert_eq!(h.frames, Some(decoded.frames() as u64));
    }
}
