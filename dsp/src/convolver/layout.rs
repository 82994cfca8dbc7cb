//! Partition layout of the convolver (stage sizes and IR offsets) and the static
//! per-tick work schedule that spreads the deep stages' FFTs across base blocks.
//!
//! See the module documentation of [`crate::convolver`] for the design.

/// Base partition size B0 in samples: the head stage's partition size and the
/// granularity of the work schedule ("one tick" = `BASE` input samples).
pub(crate) const BASE: usize = 64;

/// Number of B0 partitions the head stage covers before the first deep stage
/// starts (the head covers IR taps `[0, BASE · HEAD_PARTITIONS)`).
pub(crate) const HEAD_PARTITIONS: usize = 8;

/// Growth factor between consecutive deep stages' partition sizes.
pub(crate) const GROWTH: usize = 4;

/// Largest partition size. Its FFT (2 · 4096 = 8192 points, about 8 µs on the
/// reference machine) is the biggest indivisible unit of work that can land in a
/// single base block, so this cap bounds the worst-case block time.
pub(crate) const MAX_PARTITION: usize = 4096;

/// One uniformly partitioned stage: partitions of `size` samples covering IR taps
/// `[offset, offset + partitions · size)`.
///
/// Invariants (checked by the layout tests): the head stage has `size == BASE`
/// and `offset == 0`; every deep stage has `offset == 2 · size`, which gives it
/// exactly `size` samples of slack between the moment an input block of `size`
/// samples is complete and the first output sample it contributes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StageSpec {
    /// Partition size P in samples (the stage's FFT size is 2P).
    pub size: usize,
    /// First IR tap covered by the stage.
    pub offset: usize,
    /// Number of partitions K (the depth of the stage's frequency-domain delay line).
    pub partitions: usize,
}

impl StageSpec {
    /// Number of spectrum bins of the stage's 2P-point real FFT (`P + 1`).
    pub fn bins(&self) -> usize {
        self.size + 1
    }

    /// One past the last IR tap the stage covers.
    #[cfg(test)]
    pub fn end(&self) -> usize {
        self.offset + self.partitions * self.size
    }
}

/// The partition layout of one convolver: chosen once from the longest IR it
/// accepts and its channel count. Kernels are built for one layout and can only be
/// swapped into a convolver with an equal layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Input (and output) channels, 1 or 2.
    pub channels: usize,
    /// Longest IR accepted, frames.
    pub max_ir_frames: usize,
    /// Stage 0 is the head (immediate, zero latency); stages 1.. are the deep
    /// stages in increasing partition size.
    pub stages: Vec<StageSpec>,
}

impl Layout {
    /// Chooses the layout for IRs of up to `max_ir_frames` frames (at least 1).
    ///
    /// Head: B0 = 64 partitions for taps `[0, 512)`; then deep stages of 256,
    /// 1024 and 4096 samples starting at taps 512, 2048 and 8192 (each at twice its
    /// partition size, Gardner 1995 / Garcia 2002 style); the 4096 stage runs to
    /// the end. If less than two partitions' worth of taps would be left for a new
    /// stage, the previous stage is extended instead (a stage costs an FFT pair per
    /// period even for one partition).
    pub fn new(max_ir_frames: usize, channels: usize) -> Self {
        let n = max_ir_frames.max(1);
        let mut stages = vec![StageSpec {
            size: BASE,
            offset: 0,
            partitions: n.min(BASE * HEAD_PARTITIONS).div_ceil(BASE),
        }];
        let mut size = BASE * GROWTH;
        let mut offset = BASE * HEAD_PARTITIONS;
        while offset < n {
            let remaining = n - offset;
            if let Some(prev) = stages.last_mut() {
                if remaining <= 2 * prev.size {
                    prev.partitions += remaining.div_ceil(prev.size);
                    break;
                }
            }
            let last = size >= MAX_PARTITION;
            let end = if last { n } else { n.min(2 * size * GROWTH) };
            stages.push(StageSpec {
                size,
                offset,
                partitions: (end - offset).div_ceil(size),
            });
            if last {
                break;
            }
            offset = 2 * size * GROWTH;
            size *= GROWTH;
        }
        Layout {
            channels,
            max_ir_frames: n,
            stages,
        }
    }

    /// Partition size of the largest deep stage, or 0 when there is none.
    pub fn largest_deep_size(&self) -> usize {
        self.stages
            .iter()
            .skip(1)
            .map(|s| s.size)
            .max()
            .unwrap_or(0)
    }

    /// Length of the schedule's repeating cycle in ticks (largest deep period / B0; 1 without deep stages).
    pub fn hyper_ticks(&self) -> usize {
        (self.largest_deep_size() / BASE).max(1)
    }
}

/// One indivisible piece of a deep stage's per-period work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Forward 2P FFT of the input block that just completed (every channel),
    /// pushed into the stage's frequency-domain delay line.
    Fft { stage: usize },
    /// Complex multiply-accumulate of partitions `first..end` (every channel and
    /// every kernel being computed).
    Mac {
        stage: usize,
        first: usize,
        end: usize,
    },
    /// Inverse 2P FFT of the accumulated spectrum; the last P samples are added
    /// into the output ring for the stage's next output block.
    Ifft { stage: usize },
}

/// Builds the work table: `table[tick % hyper_ticks]` lists the units run at that
/// tick, in order.
///
/// A deep stage of size P has a period of `n = P / BASE` ticks. Its FFT runs at
/// phase `f`, its inverse FFT at phase `l`, and its partitions are spread evenly
/// over the phases strictly in between. Stages are ranked by size (largest first)
/// and stage of rank `r` uses `f = r`, `l = n − 1 − r` when that leaves at least
/// one phase in between, so the big FFTs of different stages never land in the
/// same tick; otherwise `f = 0`, `l = n − 1`. Every unit of a period lies inside
/// that period, so no work is in flight at a hyper-period boundary (which is where
/// a kernel swap starts).
pub(crate) fn build_schedule(layout: &Layout) -> Vec<Vec<Unit>> {
    let hyper = layout.hyper_ticks();
    let mut table = vec![Vec::new(); hyper];
    let mut order: Vec<usize> = (1..layout.stages.len()).collect();
    order.sort_by(|a, b| layout.stages[*b].size.cmp(&layout.stages[*a].size));
    for (rank, &s) in order.iter().enumerate() {
        let spec = layout.stages[s];
        let n = spec.size / BASE;
        let (f, l) = if n >= 2 * rank + 3 {
            (rank, n - 1 - rank)
        } else {
            (0, n - 1)
        };
        let mac_phases = l - f - 1;
        let k = spec.partitions;
        for base in (0..hyper).step_by(n) {
            table[base + f].push(Unit::Fft { stage: s });
            for i in 0..mac_phases {
                let first = i * k / mac_phases;
                let end = (i + 1) * k / mac_phases;
                if end > first {
                    table[base + f + 1 + i].push(Unit::Mac {
                        stage: s,
                        first,
                        end,
                    });
                }
            }
            table[base + l].push(Unit::Ifft { stage: s });
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(layout: &Layout) {
        let head = layout.stages[0];
        assert_eq!((head.size, head.offset), (BASE, 0));
        for w in layout.stages.windows(2) {
            assert_eq!(w[0].end(), w[1].offset, "{layout:?}");
            assert_eq!(w[1].offset, 2 * w[1].size, "{layout:?}");
            assert!(w[1].size <= MAX_PARTITION);
        }
        let last = layout.stages.last().unwrap();
        assert!(last.end() >= layout.max_ir_frames, "{layout:?}");
        assert!(last.end() < layout.max_ir_frames + last.size, "{layout:?}");
    }

    #[test]
    fn layouts_cover_every_length_contiguously() {
        for n in (1..20_000).chain([96_000, 96_001, 384_000, 1_000_000]) {
            check(&Layout::new(n, 1));
        }
        let l = Layout::new(96_000, 2);
        let sizes: Vec<_> = l.stages.iter().map(|s| (s.size, s.offset)).collect();
        assert_eq!(sizes, [(64, 0), (256, 512), (1024, 2048), (4096, 8192)]);
    }

    #[test]
    fn schedule_runs_every_unit_once_per_period_in_order() {
        for n in [1, 600, 3000, 4800, 24_000, 96_000, 384_000] {
            let layout = Layout::new(n, 1);
            let table = build_schedule(&layout);
            assert_eq!(table.len(), layout.hyper_ticks());
            for (s, spec) in layout.stages.iter().enumerate().skip(1) {
                let period = spec.size / BASE;
                for start in (0..table.len()).step_by(period) {
                    let mut seen_fft = false;
                    let mut covered = vec![0; spec.partitions];
                    let mut seen_ifft = false;
                    for tick in &table[start..start + period] {
                        for u in tick {
                            match *u {
                                Unit::Fft { stage } if stage == s => {
                                    assert!(!seen_fft);
                                    seen_fft = true;
                                }
                                Unit::Mac { stage, first, end } if stage == s => {
                                    assert!(seen_fft && !seen_ifft);
                                    for c in &mut covered[first..end] {
                                        *c += 1;
                                    }
                                }
                                Unit::Ifft { stage } if stage == s => {
                                    assert!(seen_fft && !seen_ifft);
                                    seen_ifft = true;
                                }
                                _ => {}
                            }
                        }
                    }
                    assert!(seen_fft && seen_ifft);
                    assert!(covered.iter().all(|&c| c == 1), "{covered:?}");
                }
            }
        }
    }

    #[test]
    fn big_ffts_of_different_stages_never_share_a_tick() {
        let layout = Layout::new(96_000, 1);
        let table = build_schedule(&layout);
        for tick in &table {
            let big = tick
                .iter()
                .filter(|u| match u {
                    Unit::Fft { stage } | Unit::Ifft { stage } => {
                        layout.stages[*stage].size >= 1024
                    }
                    Unit::Mac { .. } => false,
                })
                .count();
            assert!(big <= 1, "{tick:?}");
        }
    }
}
