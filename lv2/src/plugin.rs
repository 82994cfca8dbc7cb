//! The realtime half of the LV2 plugin: one `faurge-dsp` [`Chain`] per instance,
//! driven by the control ports, with a click-free bypass.
//!
//! [`Instance::new`] (LV2 `instantiate`) allocates everything; [`Instance::run`]
//! never allocates, locks, blocks or panics. Every run reads the control ports
//! (NaN → the parameter's default, anything else clamped to its range), and when a
//! value changed gives the chain the new [`DspState`] through the parameter table
//! ([`dsp_state_from`], i.e. [`ParamSpec::write`]), so every change glides. The first
//! run after `activate` jumps to the control values with no glide and clean
//! processing memory, which is what an offline render with
//! [`Chain::snap_to_state`] does.
//!
//! Audio moves through an internal buffer in steps of [`STEP_FRAMES`]: input is
//! copied in before anything is written, so any host buffer arrangement is safe
//! (separate, in place, or even an input connected to another channel's output),
//! and no Rust reference ever aliases a host buffer.
//!
//! [`ParamSpec::write`]: faurge_params::ParamSpec::write

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use faurge_bridge::autobake::AutoBake;
use faurge_bridge::Bridge;
use faurge_dsp::convolver::Kernel;

use crate::bake::{Link, Target as BakeLink};

use faurge_dsp::chain::{Chain, ChainConfig, ChainError, INPUT_LIMIT, MAX_STEP_FRAMES};
use faurge_dsp::state::DspState;
use faurge_dsp::MAX_CHANNELS;
use faurge_params::{dsp_state_from, Target, PARAMS};

use crate::ports::{Port, Variant, MAX_GAIN_REDUCTION_DB, NUM_PARAMS};

/// Frames processed per internal step (the chain's own step size).
pub const STEP_FRAMES: usize = MAX_STEP_FRAMES;

/// Bypass cross-fade time, ms (the same as the CLAP/VST3 build).
pub const BYPASS_FADE_MS: f32 = 10.0;

/// The value of control `k` that the plugin uses for a host value `v`: the default
/// for NaN, else `v` clamped to the parameter's range (so ±∞ land on the limits).
pub fn sanitize_control(k: usize, v: f32) -> f32 {
    match PARAMS.get(k) {
        Some(p) if v.is_nan() => p.default,
        Some(p) => v.clamp(p.min, p.max),
        None => 0.0,
    }
}

/// One LV2 plugin instance: the chain, the host's port pointers and the step buffers.
///
/// Port pointers are raw because the host owns the buffers and may connect one
/// buffer to several ports; they are only dereferenced inside [`Instance::run`].
pub struct Instance {
    variant: Variant,
    chain: Chain,
    /// Control input ports, `[NUM_PARAMS]`; null until connected (the default is used).
    controls: [*const f32; NUM_PARAMS],
    latency_out: *mut f32,
    gain_reduction_out: *mut f32,
    /// Audio inputs, `[channel]`; null reads as silence.
    inputs: [*const f32; MAX_CHANNELS],
    /// Audio outputs, `[channel]`; null is skipped.
    outputs: [*mut f32; MAX_CHANNELS],
    /// The sanitized control values last applied, `[NUM_PARAMS]`.
    values: [f32; NUM_PARAMS],
    /// Set by `activate`: the next run jumps to the control values.
    needs_snap: bool,
    /// Row of the bypass parameter in the table.
    bypass_index: Option<usize>,
    /// Bypass mix: 0 = processed, 1 = dry.
    bypass_mix: f32,
    bypass_step: f32,
    /// The dry path delayed by the chain's latency, `[channel][latency]`; empty at latency 0.
    dry_delay: [Vec<f32>; MAX_CHANNELS],
    dry_delay_pos: usize,
    /// Step buffers, `[channel][STEP_FRAMES]`.
    wet: [[f32; STEP_FRAMES]; MAX_CHANNELS],
    dry: [[f32; STEP_FRAMES]; MAX_CHANNELS],
    /// What the bridge thread shares with `run` (snapshot ring, kernels, bake values).
    link: Arc<Link>,
    /// The bridge thread, once [`Instance::start_bridge`] ran; stopped on drop.
    bridge: Option<Bridge>,
    /// The values the chain uses: `values`, with baked values on top, `[NUM_PARAMS]`.
    effective: [f32; NUM_PARAMS],
    /// The last bake's values (NaN: none for that row) and the control values at
    /// the time it arrived; a control the host moves since then wins over its baked value.
    baked: [f32; NUM_PARAMS],
    baked_controls: [f32; NUM_PARAMS],
    baked_generation: u64,
    bake_index: Option<usize>,
    auto_bake_index: Option<usize>,
    last_bake: bool,
    auto_bake: AutoBake,
    /// A kernel waiting to be handed to `link.retired_ir`.
    to_retire: Option<Box<Kernel>>,
}

impl Instance {
    /// Builds an instance of `variant` at `sample_rate` Hz with every control at its
    /// default. Allocates (LV2 `instantiate` only).
    ///
    /// # Errors
    /// [`ChainError::SampleRate`] for a rate outside 22.05–192 kHz (or not finite).
    pub fn new(variant: Variant, sample_rate: f64) -> Result<Self, ChainError> {
        let rate = sample_rate as f32;
        let chain = Chain::new(ChainConfig::new(rate, variant.channels()))?;
        let latency = chain.latency_samples();
        let mut values = [0.0; NUM_PARAMS];
        for (v, p) in values.iter_mut().zip(PARAMS) {
            *v = p.default;
        }
        let link = Arc::new(Link::new(
            rate,
            variant.channels(),
            chain.kernel_builder(),
            crate::bake::config_for_bundle(None),
        ));
        for (a, v) in link.effective.iter().zip(values) {
            a.store(v.to_bits(), Ordering::Release);
        }
        Ok(Instance {
            variant,
            chain,
            controls: [ptr::null(); NUM_PARAMS],
            latency_out: ptr::null_mut(),
            gain_reduction_out: ptr::null_mut(),
            inputs: [ptr::null(); MAX_CHANNELS],
            outputs: [ptr::null_mut(); MAX_CHANNELS],
            values,
            needs_snap: true,
            bypass_index: PARAMS.iter().position(|p| p.target == Target::Bypass),
            bypass_mix: 0.0,
            bypass_step: 1.0 / (BYPASS_FADE_MS * 1e-3 * rate).max(1.0),
            dry_delay: std::array::from_fn(|_| vec![0.0; latency]),
            dry_delay_pos: 0,
            wet: [[0.0; STEP_FRAMES]; MAX_CHANNELS],
            dry: [[0.0; STEP_FRAMES]; MAX_CHANNELS],
            link,
            bridge: None,
            effective: values,
            baked: [f32::NAN; NUM_PARAMS],
            baked_controls: values,
            baked_generation: 0,
            bake_index: PARAMS.iter().position(|p| p.target == Target::Bake),
            auto_bake_index: PARAMS.iter().position(|p| p.target == Target::AutoBake),
            last_bake: false,
            auto_bake: AutoBake::new(rate),
            to_retire: None,
        })
    }

    /// Starts the bridge thread (helper, bakes) with `config`; see [`crate::bake`].
    /// Not realtime: LV2 `instantiate` only.
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub fn start_bridge(&mut self, config: faurge_bridge::BridgeConfig) -> std::io::Result<()> {
        let target = BakeLink {
            link: self.link.clone(),
        };
        self.bridge = Some(Bridge::start(Arc::new(target), config)?);
        Ok(())
    }

    /// The bridge's status (stage, errors in words), when it runs.
    pub fn bake_status(&self) -> Option<faurge_bridge::BakeStatus> {
        self.bridge.as_ref().map(|b| b.status().get())
    }

    /// The configuration [`Instance::new`] found for the bridge (no bundle path).
    pub fn default_bridge_config(&self) -> faurge_bridge::BridgeConfig {
        self.link.config.clone()
    }

    /// The values the chain uses (host controls with baked values on top).
    pub fn effective_values(&self) -> &[f32; NUM_PARAMS] {
        &self.effective
    }

    /// Hands kernels between the chain and the bridge; never frees or allocates.
    fn exchange_kernels(&mut self) {
        if let Some(k) = self.to_retire.take() {
            self.to_retire = self.link.retired_ir.put(k).err();
        }
        if self.to_retire.is_none() {
            self.to_retire = self.chain.take_retired_ir();
        }
        if self.to_retire.is_none() && !self.chain.is_swapping_ir() {
            if let Some(kernel) = self.link.incoming_ir.take() {
                if let Err(refused) = self.chain.swap_ir(kernel) {
                    self.to_retire = Some(refused);
                }
            }
        }
    }

    /// Bake trigger edge, newly baked values, and the effective values; true when
    /// the effective values changed. Realtime-safe.
    fn follow_bakes(&mut self, mut changed: bool) -> bool {
        let on = |k: Option<usize>, v: &[f32; NUM_PARAMS]| k.is_some_and(|k| v[k] >= 0.5);
        let bake = on(self.bake_index, &self.values);
        if bake && !self.last_bake {
            self.link.bake_requests.fetch_add(1, Ordering::AcqRel);
        }
        self.last_bake = bake;
        let generation = self.link.baked_generation.load(Ordering::Acquire);
        if generation != self.baked_generation {
            for (b, a) in self.baked.iter_mut().zip(self.link.baked.iter()) {
                *b = f32::from_bits(a.load(Ordering::Acquire));
            }
            self.baked_controls = self.values;
            self.baked_generation = generation;
            changed = true;
        }
        if changed {
            for k in 0..NUM_PARAMS {
                let baked = self.baked[k];
                self.effective[k] = if baked.is_finite() && self.values[k] == self.baked_controls[k]
                {
                    baked
                } else {
                    self.values[k]
                };
                self.link.effective[k].store(self.effective[k].to_bits(), Ordering::Release);
            }
        }
        changed
    }

    /// Which plugin this instance is.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Processing latency, samples (also written to the `latency` port every run).
    pub fn latency_samples(&self) -> usize {
        self.chain.latency_samples()
    }

    /// The control values in use, one per row of the table (after the last run).
    pub fn control_values(&self) -> &[f32; NUM_PARAMS] {
        &self.values
    }

    /// The settings the chain is gliding toward.
    pub fn dsp_state(&self) -> &DspState {
        self.chain.state()
    }

    /// LV2 `connect_port`: remembers `data` as the buffer of port `index` (see
    /// [`crate::ports`] for the layout). Unknown indices are ignored; null
    /// disconnects. Never dereferences `data`.
    pub fn connect_port(&mut self, index: u32, data: *mut c_void) {
        let Some(port) = self.variant.port(index) else {
            return;
        };
        match port {
            Port::Control(k) => {
                if let Some(c) = self.controls.get_mut(k) {
                    *c = data as *const f32;
                }
            }
            Port::Latency => self.latency_out = data as *mut f32,
            Port::GainReduction => self.gain_reduction_out = data as *mut f32,
            Port::AudioIn(c) => {
                if let Some(p) = self.inputs.get_mut(c) {
                    *p = data as *const f32;
                }
            }
            Port::AudioOut(c) => {
                if let Some(p) = self.outputs.get_mut(c) {
                    *p = data as *mut f32;
                }
            }
        }
    }

    /// The connected audio output buffers (non-null), in channel order.
    pub(crate) fn connected_outputs(&self) -> impl Iterator<Item = *mut f32> + '_ {
        self.outputs
            .iter()
            .take(self.variant.channels())
            .copied()
            .filter(|p| !p.is_null())
    }

    /// LV2 `activate`: the next run starts from clean processing memory at the
    /// control values of that run, with no glide. Realtime-safe.
    pub fn activate(&mut self) {
        self.needs_snap = true;
    }

    /// Reads the control ports into `self.values`; true if any value changed.
    ///
    /// # Safety
    /// Every non-null control pointer points to a readable `f32`.
    unsafe fn read_controls(&mut self) -> bool {
        let mut changed = false;
        for (k, (value, &port)) in self.values.iter_mut().zip(self.controls.iter()).enumerate() {
            let v = if port.is_null() {
                PARAMS.get(k).map_or(0.0, |p| p.default)
            } else {
                // SAFETY: the caller guarantees non-null control pointers are readable.
                sanitize_control(k, unsafe { port.read() })
            };
            if v != *value {
                *value = v;
                changed = true;
            }
        }
        changed
    }

    fn bypass_target(&self) -> f32 {
        match self.bypass_index.and_then(|k| self.values.get(k)) {
            Some(&v) if v >= 0.5 => 1.0,
            _ => 0.0,
        }
    }

    /// LV2 `run`: processes `sample_count` frames from the audio inputs to the
    /// audio outputs (any count, including 0 and 1), then writes the latency and
    /// gain-reduction ports. Never allocates, locks, blocks or panics.
    ///
    /// # Safety
    /// Every non-null port pointer given to [`Instance::connect_port`] is valid:
    /// control and meter ports for one `f32`, audio ports for `sample_count`
    /// `f32`s. Audio buffers may alias each other in any way.
    pub unsafe fn run(&mut self, sample_count: usize) {
        // SAFETY: forwarded from the caller.
        let changed = unsafe { self.read_controls() };
        let changed = self.follow_bakes(changed || self.needs_snap);
        self.exchange_kernels();
        if self.needs_snap {
            let state = dsp_state_from(self.effective.iter().copied());
            self.chain.snap_to_state(&state);
            self.chain.reset();
            self.dry_delay.iter_mut().for_each(|d| d.fill(0.0));
            self.dry_delay_pos = 0;
            self.bypass_mix = self.bypass_target();
            self.needs_snap = false;
        } else if changed {
            self.chain
                .set_state(&dsp_state_from(self.effective.iter().copied()));
        }
        let auto_bake = self.auto_bake_index.is_some_and(|k| self.values[k] >= 0.5);

        let n_ch = self.variant.channels().min(MAX_CHANNELS);
        let target_bypass = self.bypass_target();
        let mut start = 0;
        while start < sample_count {
            let len = (sample_count - start).min(STEP_FRAMES);
            for (buf, &input) in self.wet.iter_mut().zip(self.inputs.iter()).take(n_ch) {
                if input.is_null() {
                    buf[..len].fill(0.0);
                } else {
                    // SAFETY: `input` is valid for `sample_count` floats and
                    // `start + len <= sample_count`; `buf` is our own memory.
                    unsafe { ptr::copy_nonoverlapping(input.add(start), buf.as_mut_ptr(), len) };
                }
            }
            {
                let [a, b] = &self.wet;
                let raw: [&[f32]; MAX_CHANNELS] = [&a[..len], &b[..len]];
                self.link.ring.write(&raw[..n_ch]);
                if auto_bake && self.auto_bake.feed(raw[0]) {
                    self.link.bake_requests.fetch_add(1, Ordering::AcqRel);
                }
            }
            self.process_step(n_ch, len, target_bypass);
            for (buf, &output) in self.wet.iter().zip(self.outputs.iter()).take(n_ch) {
                if !output.is_null() {
                    // SAFETY: as above, for the output buffer.
                    unsafe { ptr::copy_nonoverlapping(buf.as_ptr(), output.add(start), len) };
                }
            }
            start += len;
        }

        if !self.latency_out.is_null() {
            // SAFETY: a connected control output port holds one float.
            unsafe { self.latency_out.write(self.chain.latency_samples() as f32) };
        }
        if !self.gain_reduction_out.is_null() {
            let gr = self.chain.gain_reduction_db();
            let gr = if gr.is_finite() {
                gr.clamp(0.0, MAX_GAIN_REDUCTION_DB)
            } else {
                0.0
            };
            // SAFETY: as above.
            unsafe { self.gain_reduction_out.write(gr) };
        }
    }

    /// Runs the chain and the bypass cross-fade over `self.wet[..n_ch][..len]`.
    fn process_step(&mut self, n_ch: usize, len: usize, target_bypass: f32) {
        let mixing = self.bypass_mix != target_bypass || self.bypass_mix > 0.0;
        let latency = self.dry_delay[0].len();
        if mixing || latency > 0 {
            // The dry path gets the chain's input sanitizing (so bypassed output is
            // finite too) and the chain's latency (so it stays aligned).
            for (dry, wet) in self.dry.iter_mut().zip(self.wet.iter()).take(n_ch) {
                for (d, s) in dry[..len].iter_mut().zip(wet[..len].iter()) {
                    *d = if s.is_finite() {
                        s.clamp(-INPUT_LIMIT, INPUT_LIMIT)
                    } else {
                        0.0
                    };
                }
            }
            if latency > 0 {
                for (line, dry) in self
                    .dry_delay
                    .iter_mut()
                    .zip(self.dry.iter_mut())
                    .take(n_ch)
                {
                    let mut pos = self.dry_delay_pos;
                    for s in dry[..len].iter_mut() {
                        if let Some(slot) = line.get_mut(pos) {
                            std::mem::swap(s, slot);
                        }
                        pos = if pos + 1 >= latency { 0 } else { pos + 1 };
                    }
                }
                self.dry_delay_pos = (self.dry_delay_pos + len) % latency;
            }
        }

        let [a, b] = &mut self.wet;
        let mut step: [&mut [f32]; MAX_CHANNELS] = [&mut a[..len], &mut b[..len]];
        self.chain.process(&mut step[..n_ch]);

        if mixing {
            for i in 0..len {
                let m = self.bypass_mix;
                for (ch, dry) in step.iter_mut().zip(self.dry.iter()).take(n_ch) {
                    ch[i] = (1.0 - m) * ch[i] + m * dry[i];
                }
                if self.bypass_mix < target_bypass {
                    self.bypass_mix = (self.bypass_mix + self.bypass_step).min(target_bypass);
                } else if self.bypass_mix > target_bypass {
                    self.bypass_mix = (self.bypass_mix - self.bypass_step).max(target_bypass);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_sanitized_into_range() {
        for (k, p) in PARAMS.iter().enumerate() {
            assert_eq!(sanitize_control(k, f32::NAN), p.default);
            assert_eq!(sanitize_control(k, f32::INFINITY), p.max);
            assert_eq!(sanitize_control(k, f32::NEG_INFINITY), p.min);
            assert_eq!(sanitize_control(k, p.default), p.default);
        }
        assert_eq!(sanitize_control(NUM_PARAMS, 1.0), 0.0);
    }

    #[test]
    fn bad_sample_rates_are_refused() {
        for rate in [0.0, 8000.0, 384_000.0, f64::NAN, f64::INFINITY] {
            assert!(Instance::new(Variant::Mono, rate).is_err(), "{rate}");
        }
        assert!(Instance::new(Variant::Stereo, 44_100.0).is_ok());
    }
}
