//! The editor's view of the audio: the audio thread copies its input and output into
//! 100 ms blocks and publishes each full block through a lock-free triple buffer
//! (`triple_buffer` crate); the editor reads the newest block every frame and
//! computes loudness, peaks and spectra from it on its own thread.
//!
//! The audio thread only copies samples (no analysis), and only while an editor is
//! open ([`crate::sides::PluginAudio::editor_open`]). Blocks are allocated once, when the
//! processor is built (`activate()`); writing and publishing never allocate.

use triple_buffer::{triple_buffer, Input, Output};

use faurge_dsp::MAX_CHANNELS;

/// Length of one published block, seconds (the BS.1770 momentary/short-term hop).
pub const BLOCK_SECONDS: f32 = 0.1;

/// One block of audio as the audio thread saw it.
#[derive(Clone, Debug)]
pub struct ScopeBlock {
    /// Blocks published before this one (0 for the first); the reader uses it to
    /// notice blocks it missed.
    pub seq: u64,
    /// Session rate, Hz.
    pub sample_rate: f32,
    /// Channels used (1 or 2).
    pub channels: usize,
    /// Frames per channel in this block.
    pub frames: usize,
    /// Raw input, `[channel][frame]`, each `frames` long once published (capacity
    /// for one block).
    pub input: [Box<[f32]>; MAX_CHANNELS],
    /// Output after the chain and bypass, same shape.
    pub output: [Box<[f32]>; MAX_CHANNELS],
    /// Compressor gain reduction at the end of the block, dB ≥ 0.
    pub gain_reduction_db: f32,
}

impl ScopeBlock {
    fn new(sample_rate: f32, channels: usize, frames: usize) -> Self {
        let buf = || vec![0.0f32; frames].into_boxed_slice();
        ScopeBlock {
            seq: 0,
            sample_rate,
            channels: channels.clamp(1, MAX_CHANNELS),
            frames: 0,
            input: [buf(), buf()],
            output: [buf(), buf()],
            gain_reduction_db: 0.0,
        }
    }

    /// The input channels in use, each `frames` long.
    pub fn input(&self) -> impl Iterator<Item = &[f32]> {
        self.input[..self.channels]
            .iter()
            .map(|c| &c[..self.frames])
    }

    /// The output channels in use, each `frames` long.
    pub fn output(&self) -> impl Iterator<Item = &[f32]> {
        self.output[..self.channels]
            .iter()
            .map(|c| &c[..self.frames])
    }
}

/// The audio thread's end. Realtime-safe after construction.
pub struct ScopeWriter {
    input: Input<ScopeBlock>,
    /// Frames per block.
    block_frames: usize,
    /// Frames written into the current block.
    filled: usize,
    seq: u64,
}

/// The editor's end.
pub struct ScopeReader {
    output: Output<ScopeBlock>,
    last_seq: Option<u64>,
}

/// A connected writer/reader pair for a session at `sample_rate` Hz with `channels`
/// (1 or 2). Allocates three blocks: call from `activate()`, never the audio thread.
pub fn scope(sample_rate: f32, channels: usize) -> (ScopeWriter, ScopeReader) {
    let block_frames = ((BLOCK_SECONDS * sample_rate).round() as usize).max(1);
    let (input, output) = triple_buffer(&ScopeBlock::new(sample_rate, channels, block_frames));
    (
        ScopeWriter {
            input,
            block_frames,
            filled: 0,
            seq: 0,
        },
        ScopeReader {
            output,
            last_seq: None,
        },
    )
}

impl ScopeWriter {
    /// Frames per published block.
    pub fn block_frames(&self) -> usize {
        self.block_frames
    }

    /// Copies one step of input (before processing) and the same step's output
    /// (after), `len` frames, into the current block; publishes it when full. Steps
    /// longer than what is left of the block spill into the next one.
    /// `input`/`output`: one slice per channel, at least `len` long.
    pub fn write(&mut self, input: &[&[f32]], output: &[&[f32]], len: usize, gr_db: f32) {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(self.block_frames - self.filled);
            let block = self.input.input_buffer_mut();
            for (dst, src) in block.input.iter_mut().zip(input) {
                dst[self.filled..self.filled + n].copy_from_slice(&src[done..done + n]);
            }
            for (dst, src) in block.output.iter_mut().zip(output) {
                dst[self.filled..self.filled + n].copy_from_slice(&src[done..done + n]);
            }
            self.filled += n;
            done += n;
            if self.filled == self.block_frames {
                block.frames = self.filled;
                block.seq = self.seq;
                block.gain_reduction_db = gr_db;
                self.input.publish();
                self.seq += 1;
                self.filled = 0;
            }
        }
    }

    /// Drops a partly filled block (e.g. when the editor closes), so the next block
    /// does not join audio from before and after a gap.
    pub fn restart(&mut self) {
        self.filled = 0;
    }
}

impl ScopeReader {
    /// The newest block if one was published since the last call, with how many
    /// blocks were skipped in between (the reader was too slow or just started).
    pub fn newest(&mut self) -> Option<(&ScopeBlock, u64)> {
        if !self.output.update() {
            return None;
        }
        let block = self.output.peek_output_buffer();
        if block.frames == 0 || Some(block.seq) == self.last_seq {
            return None;
        }
        let skipped = self
            .last_seq
            .map_or(0, |last| block.seq.saturating_sub(last + 1));
        self.last_seq = Some(block.seq);
        Some((block, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_carry_input_and_output_in_order_across_steps() {
        let (mut w, mut r) = scope(1000.0, 2); // 100-frame blocks
        assert_eq!(w.block_frames(), 100);
        let input: Vec<f32> = (0..250).map(|i| i as f32).collect();
        let output: Vec<f32> = input.iter().map(|v| -v).collect();
        // Steps of 32 frames, as the core writes them.
        for start in (0..250).step_by(32) {
            let len = (250 - start).min(32);
            let i = [&input[start..], &input[start..]];
            let o = [&output[start..], &output[start..]];
            w.write(&i, &o, len, 1.5);
        }
        // Two full blocks were published; the reader sees the newest.
        let (block, skipped) = r.newest().expect("a block");
        assert_eq!((block.seq, skipped, block.frames), (1, 0, 100));
        let first: Vec<&[f32]> = block.input().collect();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0][0], 100.0);
        assert_eq!(first[1][99], 199.0);
        assert_eq!(block.output().next().unwrap()[5], -105.0);
        assert_eq!(block.gain_reduction_db, 1.5);
        assert!(r.newest().is_none(), "no new block since");
        // Two more blocks: the reader sees the newest and that it missed one.
        let more = vec![0.5f32; 200];
        w.write(&[&more, &more], &[&more, &more], 200, 0.0);
        let (block, skipped) = r.newest().expect("a block");
        assert_eq!((block.seq, skipped), (3, 1));
    }
}
