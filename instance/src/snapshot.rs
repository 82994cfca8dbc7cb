//! The snapshot ring: the last N seconds of raw input, written by the audio thread and
//! copied out, without locks, by the thread that sends a bake request to the helper.
//!
//! One writer (the audio thread, [`SnapshotRing::write`]) and any number of readers
//! ([`SnapshotRing::copy_latest_into`], [`SnapshotRing::copy_latest`]). The writer never
//! waits for a reader. A reader copies the newest frames and then checks, seqlock
//! style, whether the writer overwrote any of them while it was copying; it keeps only
//! the frames that are certainly intact (the newest ones), so a snapshot is always a
//! contiguous, untorn piece of the input, possibly shorter than asked when the writer
//! lapped the reader.
//!
//! Protocol: before writing frames `[w, w + n)` the writer publishes `reserved = w + n`,
//! issues a release fence, stores the samples, then publishes `written = w + n` with
//! release ordering. A reader loads `written` (acquire), copies frames
//! `[written - len, written)`, issues an acquire fence and loads `reserved`: any frame
//! `f < reserved - capacity` may have been overwritten during the copy and is dropped.
//! Samples are stored as `AtomicU32` bit patterns, so concurrent access is defined
//! behaviour; on x86-64 and AArch64 relaxed atomic loads and stores are plain moves.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Default ring length, seconds.
pub const DEFAULT_SNAPSHOT_SECONDS: f32 = 10.0;
/// Shortest ring length accepted, seconds.
pub const MIN_SNAPSHOT_SECONDS: f32 = 1.0;
/// Longest ring length accepted, seconds.
pub const MAX_SNAPSHOT_SECONDS: f32 = 120.0;

/// A fixed-capacity, single-producer ring of the newest input frames.
pub struct SnapshotRing {
    sample_rate: f32,
    channels: usize,
    capacity: usize,
    /// `channels` planes of `capacity` samples each, `f32` bit patterns.
    data: Box<[AtomicU32]>,
    /// Total frames whose samples are completely written.
    written: AtomicU64,
    /// Total frames the writer may be writing (≥ `written`).
    reserved: AtomicU64,
}

/// What [`SnapshotRing::copy_latest`] returns: owned, planar audio.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Sample rate of the recorded input, Hz.
    pub sample_rate: f32,
    /// `[channel][frame]`, the oldest frame first; every channel has the same length.
    pub channels: Vec<Vec<f32>>,
    /// Total frames the writer had recorded when the snapshot ended (a position in
    /// the input stream, for aligning snapshots with each other).
    pub end_frame: u64,
}

impl SnapshotRing {
    /// A ring holding `seconds` (clamped to [`MIN_SNAPSHOT_SECONDS`]..=[`MAX_SNAPSHOT_SECONDS`];
    /// NaN means [`DEFAULT_SNAPSHOT_SECONDS`]) of `channels` (1 or more) channels at
    /// `sample_rate` Hz. Allocates `seconds × sample_rate × channels × 4` bytes.
    pub fn new(sample_rate: f32, channels: usize, seconds: f32) -> Self {
        let seconds = if seconds.is_nan() {
            DEFAULT_SNAPSHOT_SECONDS
        } else {
            seconds
        };
        let seconds = seconds.clamp(MIN_SNAPSHOT_SECONDS, MAX_SNAPSHOT_SECONDS);
        let capacity = ((seconds * sample_rate.max(1.0)).round() as usize).max(1);
        Self::with_capacity(sample_rate, channels, capacity)
    }

    /// A ring of exactly `capacity_frames` frames (at least 1).
    pub fn with_capacity(sample_rate: f32, channels: usize, capacity_frames: usize) -> Self {
        let channels = channels.max(1);
        let capacity = capacity_frames.max(1);
        let data = (0..channels * capacity)
            .map(|_| AtomicU32::new(0))
            .collect();
        SnapshotRing {
            sample_rate,
            channels,
            capacity,
            data,
            written: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
        }
    }

    /// Sample rate of the recorded input, Hz.
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate
    }

    /// Number of channels recorded.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Capacity, frames.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Total frames written since creation (the stream position of the newest frame + 1).
    pub fn frames_written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Appends one block of input. `input[c]` is channel `c`; the block length is the
    /// shortest channel. Missing channels are recorded as silence and extra ones are
    /// ignored; NaN and infinite samples are recorded as 0 (the helper must not see
    /// them); a block longer than the ring keeps only its newest frames.
    ///
    /// Single producer: only one thread may call this (the audio thread). Never
    /// allocates, locks or blocks.
    pub fn write(&self, input: &[&[f32]]) {
        let Some(frames) = input.iter().map(|c| c.len()).min() else {
            return;
        };
        let skip = frames.saturating_sub(self.capacity);
        let n = frames - skip;
        if n == 0 {
            return;
        }
        let start = self.written.load(Ordering::Relaxed);
        let end = start + frames as u64;
        self.reserved.store(end, Ordering::Relaxed);
        fence(Ordering::Release);
        let first = ((start + skip as u64) % self.capacity as u64) as usize;
        let head = n.min(self.capacity - first);
        for c in 0..self.channels {
            let plane = &self.data[c * self.capacity..(c + 1) * self.capacity];
            let src: &[f32] = input.get(c).map_or(&[], |s| &s[skip..frames]);
            for (i, dst) in plane[first..first + head]
                .iter()
                .chain(plane[..n - head].iter())
                .enumerate()
            {
                dst.store(
                    src.get(i)
                        .copied()
                        .filter(|v| v.is_finite())
                        .unwrap_or(0.0)
                        .to_bits(),
                    Ordering::Relaxed,
                );
            }
        }
        self.written.store(end, Ordering::Release);
    }

    /// Copies the newest frames into `dst` (one slice per channel, all of the same
    /// length `len`; extra channels in `dst` are filled with silence). Returns how many
    /// frames were copied: `min(len, capacity, frames recorded)`, or fewer if the writer
    /// overwrote the oldest of them during the copy. The copied frames are at the
    /// start of each slice, oldest first, and are the newest contiguous input at the
    /// time of the copy. Never allocates or blocks; safe against the concurrent writer.
    pub fn copy_latest_into(&self, dst: &mut [&mut [f32]]) -> usize {
        self.copy_latest_with_end(dst).0
    }

    fn copy_latest_with_end(&self, dst: &mut [&mut [f32]]) -> (usize, u64) {
        let len = dst
            .iter()
            .map(|c| c.len())
            .min()
            .unwrap_or(0)
            .min(self.capacity);
        // A few attempts: a lapped copy is retried, a still-lapped one is trimmed.
        let mut best = (0, 0);
        for _ in 0..4 {
            let end = self.written.load(Ordering::Acquire);
            let n = (len as u64).min(end) as usize;
            let start = end - n as u64;
            let first = (start % self.capacity as u64) as usize;
            let head = n.min(self.capacity - first);
            for (c, out) in dst.iter_mut().enumerate() {
                if c >= self.channels {
                    out[..n].fill(0.0);
                    continue;
                }
                let plane = &self.data[c * self.capacity..(c + 1) * self.capacity];
                for (o, s) in out[..n].iter_mut().zip(
                    plane[first..first + head]
                        .iter()
                        .chain(plane[..n - head].iter()),
                ) {
                    *o = f32::from_bits(s.load(Ordering::Relaxed));
                }
            }
            fence(Ordering::Acquire);
            let reserved = self.reserved.load(Ordering::Relaxed);
            // Frames before `reserved - capacity` may be torn.
            let safe_from = reserved.saturating_sub(self.capacity as u64).max(start);
            let lost = ((safe_from - start) as usize).min(n);
            if lost == 0 {
                return (n, end);
            }
            let kept = n.saturating_sub(lost);
            for out in dst.iter_mut() {
                out.copy_within(lost..n, 0);
            }
            best = (kept, end);
        }
        best
    }

    /// Copies up to `seconds` of the newest input into a new [`Snapshot`]
    /// (allocates; for the bridge thread, never the audio thread).
    pub fn copy_latest(&self, seconds: f32) -> Snapshot {
        let want = if seconds.is_nan() {
            0.0
        } else {
            seconds.max(0.0) * self.sample_rate
        };
        let len = (want.round() as usize).min(self.capacity);
        let mut channels = vec![vec![0.0f32; len]; self.channels];
        let (n, end_frame) = {
            let mut refs: Vec<&mut [f32]> = channels.iter_mut().map(Vec::as_mut_slice).collect();
            self.copy_latest_with_end(&mut refs)
        };
        for c in &mut channels {
            c.truncate(n);
        }
        Snapshot {
            sample_rate: self.sample_rate,
            channels,
            end_frame,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn keeps_the_newest_frames_across_wraps() {
        let ring = SnapshotRing::with_capacity(1000.0, 2, 10);
        let left: Vec<f32> = (0..27).map(|i| i as f32).collect();
        let right: Vec<f32> = left.iter().map(|v| -v).collect();
        // Uneven blocks, including one longer than the ring and an empty one.
        let mut pos = 0;
        for len in [3, 0, 4, 12, 1, 7] {
            ring.write(&[&left[pos..pos + len], &right[pos..pos + len]]);
            pos += len;
        }
        assert_eq!(
            ring.frames_written(),
            27,
            "a block longer than the ring still counts in full"
        );
        let snap = ring.copy_latest(1.0);
        assert_eq!(
            snap.channels[0],
            (17..27).map(|i| i as f32).collect::<Vec<_>>()
        );
        assert_eq!(
            snap.channels[1],
            (17..27).map(|i| -(i as f32)).collect::<Vec<_>>()
        );
        let short = ring.copy_latest(0.004);
        assert_eq!(short.channels[0], vec![23.0, 24.0, 25.0, 26.0]);
        assert_eq!(short.end_frame, 27);
    }

    #[test]
    fn mono_input_into_a_stereo_ring_records_silence_on_the_right() {
        let ring = SnapshotRing::with_capacity(48_000.0, 2, 8);
        ring.write(&[&[1.0, f32::NAN, 3.0]]);
        ring.write(&[&[f32::INFINITY]]);
        let snap = ring.copy_latest(1.0);
        assert_eq!(snap.channels, vec![vec![1.0, 0.0, 3.0, 0.0], vec![0.0; 4]]);
        let empty = SnapshotRing::new(48_000.0, 1, 10.0).copy_latest(5.0);
        assert!(empty.channels[0].is_empty());
        assert_eq!(
            SnapshotRing::new(48_000.0, 1, DEFAULT_SNAPSHOT_SECONDS).capacity(),
            480_000
        );
        assert_eq!(SnapshotRing::new(48_000.0, 1, f32::NAN).capacity(), 480_000);
    }

    /// A writer streams a ramp (sample value = frame index) into a tiny ring as fast as
    /// it can while readers copy: every snapshot must be a contiguous run of the ramp,
    /// never a torn mix of old and new frames.
    #[test]
    fn concurrent_readers_never_see_torn_data() {
        let ring = Arc::new(SnapshotRing::with_capacity(1.0, 2, 257));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (ring, stop) = (ring.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = 0u32;
                let mut block = [0.0f32; 61];
                let mut len = 1;
                while !stop.load(Ordering::Relaxed) && next < (1 << 24) - 100 {
                    for s in &mut block[..len] {
                        *s = next as f32;
                        next += 1;
                    }
                    ring.write(&[&block[..len], &block[..len]]);
                    len = len % 61 + 1;
                    if len == 1 {
                        // Like an audio thread between callbacks: leave the reader a gap now and then.
                        std::thread::yield_now();
                    }
                }
            })
        };
        let mut left = vec![0.0f32; 200];
        let mut right = vec![0.0f32; 200];
        let mut copies = 0;
        let mut full = 0;
        let t0 = std::time::Instant::now();
        while t0.elapsed() < std::time::Duration::from_millis(400) {
            let n = ring.copy_latest_into(&mut [&mut left, &mut right]);
            copies += 1;
            if n == 200 {
                full += 1;
            }
            for i in 1..n {
                assert_eq!(
                    left[i],
                    left[i - 1] + 1.0,
                    "torn snapshot at {i}: {:?}",
                    &left[..n]
                );
            }
            assert_eq!(&left[..n], &right[..n]);
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(copies > 100, "only {copies} copies");
        assert!(full > 0, "no complete snapshot in {copies} copies");
    }
}
