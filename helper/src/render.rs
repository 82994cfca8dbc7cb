//! Rendering a file through the chain in bounded memory: decoded a packet at a
//! time, resampled to the working rate, processed, resampled back and written,
//! [`CHUNK_FRAMES`] at a time. A file's length costs time, not memory: what is held
//! is a few chunks, the resamplers' buffers and the impulse response's kernel.
//!
//! The output is what processing the whole file at once gave (the same samples:
//! the chain is fed whole multiples of its own step, the resamplers whole
//! multiples of theirs) and has the input's rate and length.

use std::path::Path;

use anyhow::{bail, Context, Result};
use faurge_dsp::chain::{Chain, ChainConfig, MAX_STEP_FRAMES, WARM_UP_S};
use faurge_dsp::state::DspState;
use faurge_io::stream::{Reader, StreamResampler, Writer};
use faurge_io::{Audio, WavFormat};

/// Frames decoded before they are passed on (about 0.2 s at 48 kHz).
pub const CHUNK_FRAMES: usize = 8192;

/// What [`render_file`] rendered.
pub struct Rendered {
    /// The input's (and the output's) rate, Hz.
    pub sample_rate: u32,
    /// Channels.
    pub channels: usize,
    /// Frames per channel.
    pub frames: u64,
}

/// Opens `path` for streaming; refuses what the chain cannot process.
///
/// # Errors
/// The file's error, or more than two channels.
pub fn open(path: &Path) -> Result<Reader> {
    let reader = Reader::open(path)?;
    if reader.channels() > 2 {
        bail!(
            "\"{}\" has {} channels; Faurge processes mono or stereo",
            path.display(),
            reader.channels()
        );
    }
    Ok(reader)
}

/// The first `seconds` of `path` (all of it when shorter), decoded into memory.
///
/// # Errors
/// As [`open`], or a file with no audio.
pub fn read_head(path: &Path, seconds: usize) -> Result<Audio> {
    let mut reader = open(path)?;
    let limit = seconds * reader.sample_rate() as usize;
    let mut channels = vec![Vec::new(); reader.channels()];
    while channels[0].len() < limit && reader.read_into(&mut channels)? > 0 {}
    for c in &mut channels {
        c.truncate(limit);
    }
    if channels[0].is_empty() {
        bail!("\"{}\" contains no audio", path.display());
    }
    Ok(Audio::new(reader.sample_rate(), channels)?)
}

/// Removes the first `n` frames of every channel.
fn consume(channels: &mut [Vec<f32>], n: usize) {
    for c in channels {
        c.drain(..n);
    }
}

/// Renders `input` through a fresh [`Chain`] set to `state` (with `ir`, resampled to
/// the working rate, level as given) and warmed up on the input's head
/// ([`Chain::warm_up`]) into the WAV file `output` (written whole or
/// not at all), at `work_rate(input rate)`, with the chain's latency removed (the
/// output lines up with the input and has its length).
///
/// # Errors
/// Reading, settings out of range, an unusable IR, writing.
pub fn render_file(
    input: &Path,
    output: &Path,
    state: &DspState,
    ir: Option<&Audio>,
    format: WavFormat,
    work_rate: impl Fn(u32) -> u32,
) -> Result<Rendered> {
    state.validate().context("The settings are out of range")?;
    let mut reader = open(input)?;
    let rate = reader.sample_rate();
    let n_ch = reader.channels();
    let work = work_rate(rate);
    let mut chain = Chain::new(ChainConfig::new(work as f32, n_ch))?;
    chain.snap_to_state(state);
    if let Some(ir) = ir {
        let ir = ir.resampled(work)?;
        let refs: Vec<&[f32]> = ir.channels.iter().map(Vec::as_slice).collect();
        let kernel = chain
            .kernel_builder()
            .build(&refs)
            .context("Could not prepare the impulse response")?;
        if chain.replace_ir(kernel).is_err() {
            bail!("The impulse response was prepared for another chain");
        }
    }
    // The chain's constant latency (the restoration section's lookahead), removed
    // so the output lines up with the input sample for sample.
    let latency = chain.latency_samples();
    let mut skip = latency;
    let mut down = StreamResampler::new(rate, work, n_ch)?;
    let mut up = StreamResampler::new(work, rate, n_ch)?;
    let mut read = vec![Vec::new(); n_ch];
    let mut working = vec![Vec::new(); n_ch];
    let mut out = vec![Vec::new(); n_ch];
    let mut frames_in = 0u64;
    let mut written = 0u64;

    crate::paths::write_atomically(output, |tmp| {
        let mut w = Writer::create(tmp, rate, n_ch, format)?;
        let mut ended = false;
        let mut warmed = false;
        while !ended {
            // The first chunk holds the warm-up's lead-in too.
            let want = if warmed {
                CHUNK_FRAMES
            } else {
                CHUNK_FRAMES.max((WARM_UP_S * rate as f32) as usize + 1)
            };
            while read[0].len() < want {
                if reader.read_into(&mut read)? == 0 {
                    ended = true;
                    break;
                }
            }
            frames_in += read[0].len() as u64;
            down.process(&read, &mut working)?;
            for c in &mut read {
                c.clear();
            }
            if ended {
                down.finish(&mut working)?;
            }
            // Whole chain steps only, until the end (the last, partial one).
            let n = if ended {
                working[0].len()
            } else {
                working[0].len() / MAX_STEP_FRAMES * MAX_STEP_FRAMES
            };
            if !warmed {
                // Start in the state a running plugin would be in (Chain::warm_up).
                let head: Vec<&[f32]> = working.iter().map(Vec::as_slice).collect();
                chain.warm_up(&head);
                warmed = true;
            }
            let mut refs: Vec<&mut [f32]> = working.iter_mut().map(|c| &mut c[..n]).collect();
            chain.process(&mut refs);
            let mut done: Vec<Vec<f32>> = working.iter().map(|c| c[..n].to_vec()).collect();
            consume(&mut working, n);
            if ended {
                // The chain's last `latency` frames are still inside it: flush them.
                let mut tail = vec![vec![0.0f32; latency]; n_ch];
                let mut refs: Vec<&mut [f32]> = tail.iter_mut().map(Vec::as_mut_slice).collect();
                chain.process(&mut refs);
                for (d, t) in done.iter_mut().zip(tail) {
                    d.extend(t);
                }
            }
            // The chain's first `latency` frames come before the input's first.
            let drop = skip.min(done[0].len());
            if drop > 0 {
                consume(&mut done, drop);
                skip -= drop;
            }
            up.process(&done, &mut out)?;
            if ended {
                up.finish(&mut out)?;
            }
            // The output ends where the input ended (rounding in the two resamplers
            // may leave a frame more or less); until then, a few frames wait.
            let keep = if ended { 0 } else { 64 };
            let mut ready = out[0].len().saturating_sub(keep);
            if ended {
                ready = ready.min(frames_in.saturating_sub(written) as usize);
            }
            w.write(&out, ready)?;
            written += ready as u64;
            consume(&mut out, ready);
        }
        if written == 0 {
            bail!("\"{}\" contains no audio", input.display());
        }
        // A frame short after the round trip: pad with silence.
        let missing = frames_in.saturating_sub(written) as usize;
        if missing > 0 {
            w.write(&vec![vec![0.0; missing]; n_ch], missing)?;
            written += missing as u64;
        }
        w.finish()?;
        Ok(())
    })?;
    Ok(Rendered {
        sample_rate: rate,
        channels: n_ch,
        frames: written,
    })
}
