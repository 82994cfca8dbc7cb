//! The 8-band parametric EQ: RBJ cookbook biquads in series, with parameter glide
//! so that automation and bakes change the sound without zipper noise or clicks.
//!
//! Bands are fixed by position ([`BandKind::for_index`]): high-pass, low shelf,
//! four peaking bands, high shelf, low-pass. Stereo channels share coefficients
//! and keep separate filter memory.
//!
//! # Glide
//! Parameters, not coefficients, are smoothed: frequency and Q move linearly in
//! the log domain, gain linearly in dB, each over [`GLIDE_MS`]. While something
//! glides, coefficients are designed from the smoothed parameters once per
//! [`UPDATE_INTERVAL`] samples on a fixed sample grid, and linearly interpolated
//! sample by sample between consecutive designs (stepping them every 16 samples
//! instead leaves a zipper at `fs/16` that is measurable on a 100 Hz sine while a
//! 1 kHz band moves; see the glide test). Every design is a valid cookbook
//! filter and every interpolated one lies between two neighbouring stable
//! designs, so the filter stays stable at every supported rate. Settled bands are
//! never redesigned, and the output does not depend on how the host splits audio
//! into blocks.
//!
//! Enabling or disabling a band also glides:
//! - a peaking or shelf band glides its gain to (or from) 0 dB, where the
//!   cookbook design is exactly the identity; it stops costing anything once its
//!   leftover filter memory has decayed below −180 dBFS ([`QUIET_STATE`]);
//! - a high-pass or low-pass band cross-fades between filtered and dry signal and
//!   is skipped entirely once the fade reaches dry. Gliding its cutoff to an extreme
//!   instead would still leave a phase shift and an audible switch at the end. The
//!   fade moves the dry share in dB ([`crate::fade::blend_wet`]), so what the filter
//!   removes never swells while the output trim rises beside it.
//!
//! A band whose output equals its input (disabled, or a peak/shelf at 0 dB) is
//! bypassed once settled, so the default EQ costs nothing.

use crate::biquad::{BiquadState, Coefficients, DENORMAL_FLUSH};
use crate::fade::blend_wet;
use crate::simd::Isa;
use crate::state::{
    effective_freq_hz, BandKind, EqBandState, EqState, MAX_GAIN_DB, MAX_Q, MIN_GAIN_DB, MIN_Q,
    NUM_BANDS,
};
use crate::{MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

/// Parameter glide time, ms.
///
/// After [`Eq::set_target`], every parameter moves from its current value to the
/// new target along a straight line (log frequency, gain in dB, log Q, HP/LP
/// dry/wet mix) and arrives after this long, rounded to whole
/// [`UPDATE_INTERVAL`]s and starting at the next interval boundary (at most
/// `UPDATE_INTERVAL − 1` samples later). A new target during a glide restarts it
/// from where the parameters are, so the time to arrive is again `GLIDE_MS`.
/// The time is the same at every sample rate and for every block size.
pub const GLIDE_MS: f32 = 20.0;

/// Samples between coefficient updates while a glide is in progress.
///
/// 16 samples is 0.33 ms at 48 kHz (60 designs per glide) and 0.73 ms at
/// 22.05 kHz (28 designs); each step changes a gain by under 2 dB even for a
/// full −24 → +24 dB sweep, and the coefficients are interpolated in between.
/// Settled bands are never redesigned.
pub const UPDATE_INTERVAL: usize = 16;

/// A peak or shelf band that has glided to 0 dB is bypassed once its filter
/// memory is below this (−180 dB re full scale); until then it keeps running,
/// so the bypass does not cut off the band's decaying tail.
pub const QUIET_STATE: f64 = 1e-9;

/// Samples converted to `f64` at a time (stack scratch, no allocation).
const SEGMENT: usize = 64;

/// Sample rate used by [`Eq::new`] when it is given a non-finite one, Hz.
const FALLBACK_SAMPLE_RATE: f32 = 48_000.0;

/// What a band does to the signal during the current segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Output equals input; the band's filter memory is clear and nothing runs.
    Bypass,
    /// The biquad runs and its output replaces the input.
    Filter,
    /// HP/LP only: the biquad runs and is cross-faded with the dry signal.
    Blend,
}

/// The parameters that glide, in the domain where they move linearly.
#[derive(Clone, Copy, Debug, PartialEq)]
struct GlideParams {
    /// Natural log of the frequency in Hz.
    ln_freq: f64,
    /// Gain in dB; 0 when the band is off (peak/shelf) and always 0 for HP/LP.
    gain_db: f64,
    /// Natural log of Q.
    ln_q: f64,
    /// Fade position (HP/LP only, 1 for peaks/shelves): 0 = dry, 1 = filtered; the
    /// wet proportion it gives is [`blend_wet`] of it.
    mix: f64,
}

impl GlideParams {
    /// Where a (sanitized) band setting puts the glide parameters.
    fn of(kind: BandKind, band: &EqBandState) -> Self {
        let filter_pass = matches!(kind, BandKind::HighPass | BandKind::LowPass);
        let on = if band.enabled { 1.0 } else { 0.0 };
        GlideParams {
            ln_freq: f64::from(band.freq_hz).ln(),
            gain_db: if filter_pass || !band.enabled {
                0.0
            } else {
                f64::from(band.gain_db)
            },
            ln_q: f64::from(band.q).ln(),
            mix: if filter_pass { on } else { 1.0 },
        }
    }
}

/// One band: its glide and its per-channel filter memory.
#[derive(Clone, Copy, Debug)]
struct Band {
    kind: BandKind,
    /// Sanitized target setting.
    target: EqBandState,
    /// Current glide parameters.
    cur: GlideParams,
    /// Glide parameters of `target`.
    goal: GlideParams,
    /// Increment per update interval.
    step: GlideParams,
    /// Update intervals left in the glide (0 = parameters at `goal`).
    ticks_left: u32,
    /// Coefficients at the start (`from`) and end (`to`) of the current update
    /// interval; in between they are interpolated sample by sample.
    from: Coefficients,
    to: Coefficients,
    /// `from != to`: the interpolating loop is needed this interval.
    interp: bool,
    /// Wet proportion at the start and the end of the current update interval
    /// (HP/LP; [`blend_wet`] of the fade position), interpolated sample by sample
    /// like the coefficients.
    mix_from: f64,
    mix_to: f64,
    state: [BiquadState; MAX_CHANNELS],
    mode: Mode,
    /// True while the band needs the per-interval update (gliding, fading, or
    /// waiting for its memory to decay before it is bypassed).
    needs_tick: bool,
}

impl Band {
    fn is_filter_pass(&self) -> bool {
        matches!(self.kind, BandKind::HighPass | BandKind::LowPass)
    }

    fn reset_memory(&mut self) {
        for s in &mut self.state {
            s.reset();
        }
    }

    /// Coefficients for the current glide parameters.
    fn design_current(&self, sample_rate: f64) -> Coefficients {
        design_clamped(
            self.kind,
            self.cur.ln_freq.exp(),
            self.cur.gain_db,
            self.cur.ln_q.exp(),
            sample_rate,
        )
    }

    /// Jumps to the target with no glide; keeps filter memory unless the band
    /// becomes a bypass.
    fn settle(&mut self, sample_rate: f64) {
        self.cur = self.goal;
        self.ticks_left = 0;
        self.mix_from = blend_wet(self.cur.mix);
        self.mix_to = self.mix_from;
        self.to = design_settled(self.kind, &self.target, sample_rate);
        self.from = self.to;
        self.interp = false;
        let identity = if self.is_filter_pass() {
            self.cur.mix == 0.0
        } else {
            self.cur.gain_db == 0.0
        };
        self.mode = if identity {
            self.reset_memory();
            Mode::Bypass
        } else if self.is_filter_pass() && self.cur.mix != 1.0 {
            Mode::Blend
        } else {
            Mode::Filter
        };
        self.needs_tick = false;
    }

    /// Sets a new (sanitized) target and starts a glide of `glide_ticks` intervals.
    fn retarget(&mut self, target: EqBandState, glide_ticks: u32, sample_rate: f64) {
        if target == self.target {
            return;
        }
        self.target = target;
        self.goal = GlideParams::of(self.kind, &target);
        if self.mode == Mode::Bypass {
            // The band passes audio unchanged (0 dB or dry), so its frequency and Q
            // are inaudible: move them at once and glide only gain or mix. The
            // coefficients restart from that identity-response design, so the
            // first interpolation runs between two neighbouring designs.
            self.cur.ln_freq = self.goal.ln_freq;
            self.cur.ln_q = self.goal.ln_q;
            self.to = self.design_current(sample_rate);
            self.from = self.to;
        }
        if self.cur == self.goal && self.ticks_left == 0 {
            // Nothing audible changed (e.g. the gain of a disabled band); the
            // coefficients already are the settled design of these parameters.
            return;
        }
        // A retarget that lands exactly on the current point still takes one
        // interval, so the final exact design is reached through interpolation.
        let n = if self.cur == self.goal {
            1
        } else {
            glide_ticks.max(1)
        };
        let nf = f64::from(n);
        self.ticks_left = n;
        self.step = GlideParams {
            ln_freq: (self.goal.ln_freq - self.cur.ln_freq) / nf,
            gain_db: (self.goal.gain_db - self.cur.gain_db) / nf,
            ln_q: (self.goal.ln_q - self.cur.ln_q) / nf,
            mix: (self.goal.mix - self.cur.mix) / nf,
        };
        self.needs_tick = true;
    }

    /// The per-interval update: one glide step, new coefficients, new mode.
    fn tick(&mut self, sample_rate: f64) {
        self.from = self.to;
        self.mix_from = self.mix_to;
        if self.ticks_left > 0 {
            self.ticks_left -= 1;
            if self.ticks_left == 0 {
                self.cur = self.goal;
                self.to = design_settled(self.kind, &self.target, sample_rate);
            } else {
                self.cur.ln_freq += self.step.ln_freq;
                self.cur.gain_db += self.step.gain_db;
                self.cur.ln_q += self.step.ln_q;
                self.cur.mix += self.step.mix;
                self.to = self.design_current(sample_rate);
            }
        }
        self.mix_to = blend_wet(self.cur.mix);
        self.interp = self.from != self.to;
        let ramping = self.ticks_left > 0 || self.interp || self.mix_from != self.mix_to;

        if self.is_filter_pass() {
            self.mode = if !ramping && self.mix_to == 0.0 {
                self.reset_memory();
                Mode::Bypass
            } else if self.mix_from == 1.0 && self.mix_to == 1.0 {
                Mode::Filter
            } else {
                Mode::Blend
            };
            self.needs_tick = ramping;
        } else {
            self.mode = Mode::Filter;
            self.needs_tick = ramping;
            if !ramping && self.cur.gain_db == 0.0 {
                // Identity response; wait for the leftover memory to decay.
                let loudest = self.state.iter().fold(0.0f64, |m, s| m.max(s.max_abs()));
                if loudest < QUIET_STATE {
                    self.reset_memory();
                    self.mode = Mode::Bypass;
                } else {
                    self.needs_tick = true;
                }
            }
        }
    }

    /// Runs this band over the first `n` samples of channels `0..N` of `x` (one
    /// segment), starting at sample `phase` of the current update interval.
    /// Both channels go through the same loop: their recursions are independent,
    /// so the CPU overlaps them.
    // Indexing `x[ch][j]` reads sample j of every channel in one iteration,
    // which is the point; `n ≤ SEGMENT` and `N ≤ MAX_CHANNELS` keep it in bounds.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn run<const N: usize, const FMA: bool>(
        &mut self,
        x: &mut [[f64; SEGMENT]; MAX_CHANNELS],
        n: usize,
        phase: usize,
    ) {
        let n = n.min(SEGMENT);
        let st = &mut self.state;
        // Fraction of the interval done after sample j: (phase + j + 1) / INTERVAL.
        // It depends on the position only, so the ramps are the same however the
        // host splits blocks.
        let frac = |j: usize| (phase + j + 1) as f64 * (1.0 / UPDATE_INTERVAL as f64);
        match self.mode {
            Mode::Bypass => {}
            Mode::Filter if !self.interp => {
                let c = self.to;
                for j in 0..n {
                    for ch in 0..N {
                        x[ch][j] = st[ch].tick_isa::<FMA>(&c, x[ch][j]);
                    }
                }
            }
            Mode::Filter => {
                let (from, d) = (self.from, difference(&self.to, &self.from));
                for j in 0..n {
                    let c = lerp(&from, &d, frac(j));
                    for ch in 0..N {
                        x[ch][j] = st[ch].tick_isa::<FMA>(&c, x[ch][j]);
                    }
                }
            }
            Mode::Blend => {
                let (from, d) = (self.from, difference(&self.to, &self.from));
                let (m0, dm) = (self.mix_from, self.mix_to - self.mix_from);
                for j in 0..n {
                    let t = frac(j);
                    let c = lerp(&from, &d, t);
                    let m = m0 + dm * t;
                    for ch in 0..N {
                        let dry = x[ch][j];
                        let wet = st[ch].tick_isa::<FMA>(&c, dry);
                        x[ch][j] = dry + m * (wet - dry);
                    }
                }
            }
        }
    }
}

/// `a − b`, coefficient by coefficient.
#[inline]
fn difference(a: &Coefficients, b: &Coefficients) -> Coefficients {
    Coefficients {
        b0: a.b0 - b.b0,
        b1: a.b1 - b.b1,
        b2: a.b2 - b.b2,
        a1: a.a1 - b.a1,
        a2: a.a2 - b.a2,
    }
}

/// `from + t·d`: linear interpolation between two designs (`d = to − from`).
///
/// For `0 ≤ t ≤ 1` this is a convex combination of two stable denominators, and
/// the stability region of `1 + a1 z⁻¹ + a2 z⁻²` (the triangle `|a2| < 1`,
/// `|a1| < 1 + a2`) is convex, so every interpolated filter is stable too.
#[inline]
fn lerp(from: &Coefficients, d: &Coefficients, t: f64) -> Coefficients {
    Coefficients {
        b0: from.b0 + d.b0 * t,
        b1: from.b1 + d.b1 * t,
        b2: from.b2 + d.b2 * t,
        a1: from.a1 + d.a1 * t,
        a2: from.a2 + d.a2 * t,
    }
}

/// The 8-band parametric EQ (see the module documentation).
///
/// `new` sets everything up; `process`, `set_target`, `snap_to` and `reset` never
/// allocate, lock, make system calls or panic.
#[derive(Clone, Debug)]
pub struct Eq {
    sample_rate: f64,
    target: EqState,
    bands: [Band; NUM_BANDS],
    /// Update intervals per glide: `round(GLIDE_MS · fs / UPDATE_INTERVAL)`, ≥ 1.
    glide_ticks: u32,
    /// Position inside the current update interval, `0..UPDATE_INTERVAL`.
    phase: usize,
    /// True while any band needs the per-interval update.
    ticking: bool,
    /// Instruction set of the band loops.
    isa: Isa,
}

impl Eq {
    /// An EQ at `sample_rate` (Hz) holding [`EqState::default`], already settled.
    ///
    /// `sample_rate` is clamped to `MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE`
    /// (1–768 kHz); a non-finite rate is taken as 48 kHz.
    pub fn new(sample_rate: f32) -> Self {
        let sr = if sample_rate.is_finite() {
            sample_rate.clamp(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
        } else {
            FALLBACK_SAMPLE_RATE
        };
        let sample_rate = f64::from(sr);
        let target = sanitize(&EqState::default(), sample_rate);
        let glide_ticks = ((f64::from(GLIDE_MS) * 1e-3 * sample_rate) / UPDATE_INTERVAL as f64)
            .round()
            .max(1.0) as u32;
        let bands = std::array::from_fn(|i| {
            let kind = BandKind::for_index(i);
            let goal = GlideParams::of(kind, &target.bands[i]);
            let mut band = Band {
                kind,
                target: target.bands[i],
                cur: goal,
                goal,
                step: goal,
                ticks_left: 0,
                from: Coefficients::IDENTITY,
                to: Coefficients::IDENTITY,
                interp: false,
                mix_from: blend_wet(goal.mix),
                mix_to: blend_wet(goal.mix),
                state: [BiquadState::default(); MAX_CHANNELS],
                mode: Mode::Bypass,
                needs_tick: false,
            };
            band.settle(sample_rate);
            band
        });
        Eq {
            sample_rate,
            target,
            bands,
            glide_ticks,
            phase: 0,
            ticking: false,
            isa: Isa::detect(),
        }
    }

    /// The sample rate this EQ runs at, Hz (after clamping, see [`Eq::new`]).
    pub fn sample_rate(&self) -> f32 {
        self.sample_rate as f32
    }

    /// Sets new settings; parameters glide to them over [`GLIDE_MS`].
    ///
    /// Values are forced into range first: frequency through
    /// [`effective_freq_hz`] (so at most 0.45 × the sample rate), gain into
    /// `MIN_GAIN_DB..=MAX_GAIN_DB`, Q into `MIN_Q..=MAX_Q`; a NaN becomes the
    /// band's default. Bands whose settings did not change keep gliding
    /// undisturbed. Realtime-safe.
    pub fn set_target(&mut self, state: &EqState) {
        self.target = sanitize(state, self.sample_rate);
        for (band, target) in self.bands.iter_mut().zip(self.target.bands.iter()) {
            band.retarget(*target, self.glide_ticks, self.sample_rate);
        }
        self.ticking = self.bands.iter().any(|b| b.needs_tick);
    }

    /// Jumps to `state` with no glide (for the start of an offline render).
    ///
    /// Values are sanitized as in [`Eq::set_target`]. Filter memory is kept for
    /// bands that stay active, cleared for bands that become a bypass.
    /// Realtime-safe.
    pub fn snap_to(&mut self, state: &EqState) {
        self.target = sanitize(state, self.sample_rate);
        for (band, target) in self.bands.iter_mut().zip(self.target.bands.iter()) {
            band.target = *target;
            band.goal = GlideParams::of(band.kind, target);
            band.settle(self.sample_rate);
        }
        self.ticking = false;
    }

    /// Clears all filter memory and settles every parameter at the target, as if
    /// the EQ had just been created with it. Realtime-safe.
    pub fn reset(&mut self) {
        for band in &mut self.bands {
            band.reset_memory();
            band.settle(self.sample_rate);
        }
        self.phase = 0;
        self.ticking = false;
    }

    /// The settings the EQ is at or gliding to, as sanitized by
    /// [`Eq::set_target`] (frequencies within the sample rate's ceiling, no NaN).
    pub fn target(&self) -> &EqState {
        &self.target
    }

    /// Number of bands currently running a filter, 0..=8. The others are
    /// bypassed (disabled, or a peak/shelf at 0 dB, once settled) and cost
    /// nothing; the default EQ has none running.
    pub fn active_bands(&self) -> usize {
        self.bands.iter().filter(|b| b.mode != Mode::Bypass).count()
    }

    /// True when no parameter is gliding (every band is at its target).
    pub fn is_settled(&self) -> bool {
        self.bands
            .iter()
            .all(|b| b.ticks_left == 0 && !b.interp && b.mix_from == b.mix_to)
    }

    /// Magnitude response, in dB at `freq_hz`, of the filters the EQ is running
    /// right now (mid-glide this is between the old and the new settings; an
    /// HP/LP cross-fade is included as `|m·H + (1 − m)|`). For a GUI curve.
    pub fn current_magnitude_db(&self, freq_hz: f64) -> f64 {
        let mut total = 0.0;
        for band in &self.bands {
            match band.mode {
                Mode::Bypass => {}
                Mode::Filter => total += band.to.magnitude_db(freq_hz, self.sample_rate),
                Mode::Blend => {
                    let (re, im) = band.to.response(freq_hz, self.sample_rate);
                    let m = band.mix_to;
                    let (re, im) = (m * re + (1.0 - m), m * im);
                    total += 10.0 * (re * re + im * im).max(1e-300).log10();
                }
            }
        }
        total
    }

    /// Filters `channels` in place.
    ///
    /// `channels`: 1..=[`MAX_CHANNELS`] slices of equal length (any length,
    /// including 0). Channels beyond `MAX_CHANNELS` are left untouched; if the
    /// lengths differ, only the first `min(len)` samples of each are processed.
    /// Computation is in `f64`. While any band runs, output magnitudes below
    /// `1e-30` and non-finite results are written as exactly 0 (so no subnormal
    /// leaves the EQ), and a band whose memory became non-finite is cleared at
    /// the end of the segment. When every band is bypassed the buffers are not
    /// touched at all. Never allocates, locks or panics.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let n_ch = channels.len().min(MAX_CHANNELS);
        let frames = channels
            .iter()
            .take(n_ch)
            .map(|c| c.len())
            .min()
            .unwrap_or(0);
        let mut pos = 0;
        while pos < frames {
            if self.ticking && self.phase == 0 {
                self.tick();
            }
            let len = if self.ticking {
                (UPDATE_INTERVAL - self.phase).min(frames - pos)
            } else {
                SEGMENT.min(frames - pos)
            };
            let end = pos + len;
            self.process_segment(channels, n_ch, pos, end);
            for band in &mut self.bands {
                if band.mode != Mode::Bypass {
                    for s in band.state.iter_mut().take(n_ch) {
                        if !s.is_finite() {
                            s.reset();
                        }
                    }
                }
            }
            self.phase = (self.phase + len) % UPDATE_INTERVAL;
            pos = end;
        }
    }

    /// Runs every active band over samples `pos..end` (at most `SEGMENT`, and
    /// within one update interval while ticking) of the first `n_ch` channels, with
    /// fused multiply-adds where the CPU has them ([`crate::simd`]).
    fn process_segment(
        &mut self,
        channels: &mut [&mut [f32]],
        n_ch: usize,
        pos: usize,
        end: usize,
    ) {
        match self.isa {
            Isa::Generic => self.segment::<false>(channels, n_ch, pos, end),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2Fma` comes only from `Isa::detect`, which checked that
            // this CPU has AVX2 and FMA.
            Isa::Avx2Fma => unsafe { self.segment_avx2(channels, n_ch, pos, end) },
        }
    }

    /// [`Eq::segment`] compiled for AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn segment_avx2(
        &mut self,
        channels: &mut [&mut [f32]],
        n_ch: usize,
        pos: usize,
        end: usize,
    ) {
        self.segment::<true>(channels, n_ch, pos, end);
    }

    #[inline(always)]
    fn segment<const FMA: bool>(
        &mut self,
        channels: &mut [&mut [f32]],
        n_ch: usize,
        pos: usize,
        end: usize,
    ) {
        if self.bands.iter().all(|b| b.mode == Mode::Bypass) {
            return;
        }
        let n = end.saturating_sub(pos).min(SEGMENT);
        let mut x = [[0.0f64; SEGMENT]; MAX_CHANNELS];
        for (xc, buf) in x.iter_mut().zip(channels.iter()).take(n_ch) {
            if let Some(seg) = buf.get(pos..pos + n) {
                for (d, s) in xc.iter_mut().zip(seg) {
                    *d = f64::from(*s);
                }
            }
        }
        let phase = self.phase;
        for band in &mut self.bands {
            if n_ch >= 2 {
                band.run::<2, FMA>(&mut x, n, phase);
            } else {
                band.run::<1, FMA>(&mut x, n, phase);
            }
        }
        for (xc, buf) in x.iter().zip(channels.iter_mut()).take(n_ch) {
            if let Some(seg) = buf.get_mut(pos..pos + n) {
                for (s, v) in seg.iter_mut().zip(xc) {
                    let a = v.abs();
                    *s = if a >= DENORMAL_FLUSH && a.is_finite() {
                        *v as f32
                    } else {
                        0.0
                    };
                }
            }
        }
    }

    /// The per-interval update of every band that needs it.
    fn tick(&mut self) {
        let mut any = false;
        for band in &mut self.bands {
            if band.needs_tick {
                band.tick(self.sample_rate);
            }
            any |= band.needs_tick;
        }
        self.ticking = any;
    }

    /// Total magnitude response of `state` at `freq_hz` in dB: the sum of the
    /// enabled bands' cookbook responses `20·log10|H(e^{jω})|` (disabled bands
    /// contribute 0 dB). Values are sanitized as in [`Eq::set_target`].
    ///
    /// This is the response of the settled EQ, the same math the GUI and the
    /// Ursula training model use.
    pub fn magnitude_db(state: &EqState, freq_hz: f64, sample_rate: f64) -> f64 {
        (0..NUM_BANDS)
            .filter(|&i| state.bands[i].enabled)
            .map(|i| {
                Self::band_coefficients(state, i, sample_rate).magnitude_db(freq_hz, sample_rate)
            })
            .sum()
    }

    /// Coefficients band `band` uses for `state` at `sample_rate` (Hz, the
    /// supported 1–768 kHz) once settled.
    ///
    /// Disabled bands (and `band >= NUM_BANDS`) give [`Coefficients::IDENTITY`].
    /// The frequency goes through [`effective_freq_hz`] (NaN → the band's
    /// default), gain and Q are clamped to their ranges (NaN → default), and
    /// high-/low-pass bands ignore gain. Design: RBJ Audio EQ Cookbook
    /// ([`Coefficients::design`]).
    pub fn band_coefficients(state: &EqState, band: usize, sample_rate: f64) -> Coefficients {
        match state.bands.get(band) {
            Some(b) if b.enabled => {
                let s = sanitize_band(band, b, sample_rate);
                design_settled(BandKind::for_index(band), &s, sample_rate)
            }
            _ => Coefficients::IDENTITY,
        }
    }
}

/// `state` with every band forced into range (see [`Eq::set_target`]).
fn sanitize(state: &EqState, sample_rate: f64) -> EqState {
    let mut out = *state;
    for (i, b) in out.bands.iter_mut().enumerate() {
        *b = sanitize_band(i, b, sample_rate);
    }
    out
}

/// One band forced into range: NaN → the band's default, then frequency through
/// [`effective_freq_hz`], gain and Q clamped.
fn sanitize_band(index: usize, b: &EqBandState, sample_rate: f64) -> EqBandState {
    let d = EqBandState::default_for(index);
    let or_default = |v: f32, dv: f32| if v.is_nan() { dv } else { v };
    EqBandState {
        enabled: b.enabled,
        freq_hz: effective_freq_hz(or_default(b.freq_hz, d.freq_hz), sample_rate as f32),
        gain_db: or_default(b.gain_db, d.gain_db).clamp(MIN_GAIN_DB, MAX_GAIN_DB),
        q: or_default(b.q, d.q).clamp(MIN_Q, MAX_Q),
    }
}

/// The coefficients a settled band runs with: a disabled peak/shelf is designed at
/// 0 dB (exactly the identity response, `b = a`, so leftover memory decays
/// naturally); HP/LP ignore gain (their enable is the dry/wet mix).
fn design_settled(kind: BandKind, b: &EqBandState, sample_rate: f64) -> Coefficients {
    let gain_db = match kind {
        BandKind::HighPass | BandKind::LowPass => 0.0,
        _ if b.enabled => f64::from(b.gain_db),
        _ => 0.0,
    };
    Coefficients::design(
        kind,
        f64::from(b.freq_hz),
        gain_db,
        f64::from(b.q),
        sample_rate,
    )
}

/// A cookbook design from glide values; clamps them back into range so rounding
/// in `exp(ln x)` can never leave the valid region.
fn design_clamped(
    kind: BandKind,
    freq_hz: f64,
    gain_db: f64,
    q: f64,
    sample_rate: f64,
) -> Coefficients {
    let ceiling = f64::from(effective_freq_hz(f32::INFINITY, sample_rate as f32));
    let floor = f64::from(effective_freq_hz(0.0, sample_rate as f32));
    Coefficients::design(
        kind,
        freq_hz.clamp(floor, ceiling),
        gain_db.clamp(f64::from(MIN_GAIN_DB), f64::from(MAX_GAIN_DB)),
        q.clamp(f64::from(MIN_Q), f64::from(MAX_Q)),
        sample_rate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_loops_agree_on_every_instruction_set() {
        // Every band on, settled and then gliding to new gains, stereo: the fused
        // loops (where this CPU has them) stay within rounding of the baseline ones.
        let mut state = (crate::presets::find("podcast").expect("preset").state)().eq;
        for b in state.bands.iter_mut() {
            b.enabled = true;
            b.gain_db = if b.gain_db == 0.0 { 3.0 } else { b.gain_db };
        }
        let mut other = state;
        for b in other.bands.iter_mut() {
            b.gain_db = -b.gain_db;
        }
        let input: Vec<f32> = (0..48_000)
            .map(|i| (0.5 * (i as f64 * 0.031).sin() * (i as f64 * 0.0007).cos()) as f32)
            .collect();
        let run = |isa: Isa| {
            let mut eq = Eq::new(48_000.0);
            eq.isa = isa;
            eq.snap_to(&state);
            let (mut l, mut r) = (input.clone(), input.iter().map(|v| -v).collect::<Vec<_>>());
            for (i, (bl, br)) in l.chunks_mut(64).zip(r.chunks_mut(64)).enumerate() {
                if i == 300 {
                    eq.set_target(&other);
                }
                eq.process(&mut [bl, br]);
            }
            (l, r)
        };
        let (a, b) = (run(Isa::Generic), run(Isa::detect()));
        let worst =
            a.0.iter()
                .zip(&b.0)
                .chain(a.1.iter().zip(&b.1))
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
        assert!(worst < 1e-6, "{worst}");
        // The EQ did something (not two copies of the input).
        assert!(a.0.iter().zip(&input).any(|(x, y)| (x - y).abs() > 0.01));
    }
}
