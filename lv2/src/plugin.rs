//! The realtime half of the LV2 plugin: the instance core
//! (`faurge_instance::core::Core`, shared with the CLAP/VST3 build) driven by the
//! control ports.
//!
//! [`Instance::new`] (LV2 `instantiate`) allocates everything; [`Instance::run`]
//! never allocates, locks, blocks or panics. Every run reads the control ports
//! (NaN → the parameter's default, anything else clamped to its range), puts the last
//! bake's values on top ([`crate::bake`]), and when a value changed gives the core the
//! new [`DspState`] through the parameter table ([`dsp_state_from`], i.e.
//! [`ParamSpec::write`]), so every change glides. The first run after `activate`
//! jumps to the control values with no glide and clean processing memory, which is
//! what an offline render with `Chain::snap_to_state` does.
//!
//! Audio moves through an internal buffer in steps of [`MAX_STEP`] frames: input is
//! copied in before anything is written, so any host buffer arrangement is safe
//! (separate, in place, or even an input connected to another channel's output),
//! and no Rust reference ever aliases a host buffer.
//!
//! [`ParamSpec::write`]: faurge_params::ParamSpec::write

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use faurge_dsp::chain::ChainError;
use faurge_dsp::state::DspState;
use faurge_dsp::MAX_CHANNELS;
use faurge_instance::bridge::{BakeStatus, Bridge, BridgeConfig};
use faurge_instance::core::{BlockControls, Core, MAX_STEP};
use faurge_instance::ir::StoredIr;
use faurge_instance::session::{AudioSide, SessionSide};
use faurge_instance::snapshot::DEFAULT_SNAPSHOT_SECONDS;
use faurge_params::{dsp_state_from, ParamTarget, PARAMS};

use crate::bake::{report_finished, BakeMeters, BakedValues, Lv2Settings};
use crate::ports::{Port, Variant, MAX_GAIN_REDUCTION_DB, NUM_PARAMS};

/// The value of control `k` that the plugin uses for a host value `v`: the default
/// for NaN, else `v` clamped to the parameter's range (so ±∞ land on the limits).
pub fn sanitize_control(k: usize, v: f32) -> f32 {
    match PARAMS.get(k) {
        Some(p) if v.is_nan() => p.default,
        Some(p) => v.clamp(p.min, p.max),
        None => 0.0,
    }
}

/// One LV2 plugin instance: the core, the host's port pointers and the step buffer.
///
/// Port pointers are raw because the host owns the buffers and may connect one
/// buffer to several ports; they are only dereferenced inside [`Instance::run`].
pub struct Instance {
    variant: Variant,
    core: Core,
    /// The audio thread's side of the core (atomics and slots).
    audio: Arc<AudioSide>,
    /// The other threads' side (the bridge's).
    session: Arc<SessionSide>,
    /// Control input ports, `[NUM_PARAMS]`; null until connected (the default is used).
    controls: [*const f32; NUM_PARAMS],
    latency_out: *mut f32,
    gain_reduction_out: *mut f32,
    bake_state_out: *mut f32,
    bake_sc_out: *mut f32,
    /// The last bake's state and `S_C`, written by the bridge thread.
    meters: Arc<BakeMeters>,
    /// Audio inputs, `[channel]`; null reads as silence.
    inputs: [*const f32; MAX_CHANNELS],
    /// Audio outputs, `[channel]`; null is skipped.
    outputs: [*mut f32; MAX_CHANNELS],
    /// The sanitized control values last applied, `[NUM_PARAMS]`.
    values: [f32; NUM_PARAMS],
    /// Set by `activate`: the next run jumps to the control values.
    needs_snap: bool,
    /// Rows of the bypass, Bake and Auto-bake parameters in the table.
    bypass_index: Option<usize>,
    bake_index: Option<usize>,
    auto_bake_index: Option<usize>,
    /// Step buffer, `[channel][MAX_STEP]`.
    buffer: [[f32; MAX_STEP]; MAX_CHANNELS],
    /// What the bridge thread shares with `run` beyond the core: the values in use and
    /// the baked values.
    baked_values: Arc<BakedValues>,
    /// The bridge to the helper, once [`Instance::set_bridge`] ran; its thread runs
    /// between `activate` and `deactivate` only (so `instantiate` starts no thread:
    /// lv2lint, scanners), and stops on drop.
    bridge: Option<Bridge>,
    /// The values the chain uses: `values`, with baked values on top, `[NUM_PARAMS]`.
    effective: [f32; NUM_PARAMS],
    /// The last bake's values (NaN: none for that row) and the control values at
    /// the time it arrived; a control the host moves since then wins over its baked value.
    baked: [f32; NUM_PARAMS],
    baked_controls: [f32; NUM_PARAMS],
    baked_generation: u64,
}

impl Instance {
    /// Builds an instance of `variant` at `sample_rate` Hz with every control at its
    /// default, and publishes its session. Allocates (LV2 `instantiate` only).
    ///
    /// # Errors
    /// [`ChainError::SampleRate`] for a rate outside 1–768 kHz (or not finite).
    pub fn new(variant: Variant, sample_rate: f64) -> Result<Self, ChainError> {
        // Settings change only between runs: the core takes the chain's own steps,
        // so a run renders as an offline `Chain` render does.
        let (core, core_session) = Core::new(
            sample_rate as f32,
            variant.channels(),
            DEFAULT_SNAPSHOT_SECONDS,
            MAX_STEP,
        )?;
        let session = Arc::new(SessionSide::default());
        session.start(core_session);
        let mut values = [0.0; NUM_PARAMS];
        for (v, p) in values.iter_mut().zip(PARAMS) {
            *v = p.default;
        }
        let baked_values = Arc::new(BakedValues::default());
        baked_values.publish_effective(&values);
        let index = |t: ParamTarget| PARAMS.iter().position(|p| p.target == t);
        Ok(Instance {
            variant,
            core,
            audio: session.audio().clone(),
            session,
            controls: [ptr::null(); NUM_PARAMS],
            latency_out: ptr::null_mut(),
            gain_reduction_out: ptr::null_mut(),
            bake_state_out: ptr::null_mut(),
            bake_sc_out: ptr::null_mut(),
            meters: Arc::new(BakeMeters::default()),
            inputs: [ptr::null(); MAX_CHANNELS],
            outputs: [ptr::null_mut(); MAX_CHANNELS],
            values,
            needs_snap: true,
            bypass_index: index(ParamTarget::Bypass),
            bake_index: index(ParamTarget::Bake),
            auto_bake_index: index(ParamTarget::AutoBake),
            buffer: [[0.0; MAX_STEP]; MAX_CHANNELS],
            baked_values,
            bridge: None,
            effective: values,
            baked: [f32::NAN; NUM_PARAMS],
            baked_controls: values,
            baked_generation: 0,
        })
    }

    /// Sets up the bridge (helper, bakes) with `config`, see [`crate::bake`]; its
    /// thread starts at [`Instance::activate`]. Not realtime: LV2 `instantiate` only.
    pub fn set_bridge(&mut self, mut config: BridgeConfig) {
        let summary = Arc::new(std::sync::Mutex::new(Vec::new()));
        let settings = Lv2Settings {
            values: self.baked_values.clone(),
            meters: self.meters.clone(),
            summary: summary.clone(),
        };
        let (meters, uri, inner) = (self.meters.clone(), self.variant.uri(), config.on_finish);
        config.on_finish = Some(Arc::new(move |status: &BakeStatus| {
            let lines = summary.lock().map(|g| g.clone()).unwrap_or_default();
            report_finished(&meters, &lines, status, uri);
            if let Some(inner) = &inner {
                inner(status);
            }
        }));
        self.bridge = Some(Bridge::new(
            self.session.clone(),
            Arc::new(settings),
            config,
        ));
    }

    /// Starts the bridge thread now (tests; `activate` does it too).
    ///
    /// # Errors
    /// The OS refused to start a thread.
    pub fn start_bridge(&mut self, config: BridgeConfig) -> std::io::Result<()> {
        self.set_bridge(config);
        self.bridge.as_mut().map_or(Ok(()), Bridge::resume)
    }

    /// Whether the bridge thread runs.
    pub fn bridge_running(&self) -> bool {
        self.bridge.as_ref().is_some_and(Bridge::is_running)
    }

    /// The last bake's state and `S_C`, as the output ports report them.
    pub fn bake_meters(&self) -> &BakeMeters {
        &self.meters
    }

    /// The bridge's status (stage, errors in words), when it runs.
    pub fn bake_status(&self) -> Option<BakeStatus> {
        self.bridge.as_ref().map(|b| b.status().get())
    }

    /// Prepares `ir` and queues it for the cross-fade at the start of the next run,
    /// as a bake's result does. Not realtime (allocates): never during `run`.
    ///
    /// # Errors
    /// The IR cannot be prepared; the running IR stays.
    pub fn queue_ir(&self, ir: Option<&StoredIr>) -> Result<(), faurge_instance::ir::KernelError> {
        self.session.queue_ir(ir).map(drop)
    }

    /// The values the chain uses (host controls with baked values on top).
    pub fn effective_values(&self) -> &[f32; NUM_PARAMS] {
        &self.effective
    }

    /// Newly baked values, and the effective values; true when the effective values
    /// changed. Realtime-safe.
    fn follow_bakes(&mut self, mut changed: bool) -> bool {
        let generation = self.baked_values.generation();
        if generation != self.baked_generation {
            self.baked_values.read_baked(&mut self.baked);
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
            }
            self.baked_values.publish_effective(&self.effective);
        }
        changed
    }

    /// Which plugin this instance is.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Processing latency, samples (also written to the `latency` port every run).
    pub fn latency_samples(&self) -> usize {
        self.core.latency_samples()
    }

    /// The control values in use, one per row of the table (after the last run).
    pub fn control_values(&self) -> &[f32; NUM_PARAMS] {
        &self.values
    }

    /// The settings the chain is gliding toward.
    pub fn dsp_state(&self) -> &DspState {
        self.core.state()
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
            Port::BakeState => self.bake_state_out = data as *mut f32,
            Port::BakeSimilarity => self.bake_sc_out = data as *mut f32,
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
    /// control values of that run, with no glide; the bridge thread starts. Not
    /// realtime (LV2's instantiation class).
    pub fn activate(&mut self) {
        self.needs_snap = true;
        if let Some(bridge) = self.bridge.as_mut() {
            if let Err(e) = bridge.resume() {
                eprintln!("faurge-lv2: Could not start the bake thread; Bake will do nothing: {e}");
            }
        }
    }

    /// LV2 `deactivate`: stops the bridge thread and shuts the helper down (a running
    /// bake is cancelled). Not realtime (LV2's instantiation class).
    pub fn deactivate(&mut self) {
        if let Some(bridge) = self.bridge.as_mut() {
            bridge.pause();
        }
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

    fn switch(&self, index: Option<usize>) -> bool {
        index
            .and_then(|k| self.values.get(k))
            .is_some_and(|&v| v >= 0.5)
    }

    /// LV2 `run`: processes `sample_count` frames from the audio inputs to the
    /// audio outputs (any count, including 0 and 1), then writes the latency,
    /// gain-reduction and bake ports. Never allocates, locks, blocks or panics.
    ///
    /// # Safety
    /// Every non-null port pointer given to [`Instance::connect_port`] is valid:
    /// control and meter ports for one `f32`, audio ports for `sample_count`
    /// `f32`s. Audio buffers may alias each other in any way.
    pub unsafe fn run(&mut self, sample_count: usize) {
        // SAFETY: forwarded from the caller.
        let changed = unsafe { self.read_controls() };
        let changed = self.follow_bakes(changed || self.needs_snap);
        let controls = BlockControls {
            bypass: self.switch(self.bypass_index),
            bake: self.switch(self.bake_index),
            auto_bake: self.switch(self.auto_bake_index),
        };
        if self.needs_snap {
            let state = dsp_state_from(self.effective.iter().copied());
            self.core.snap(&state, controls.bypass);
            self.needs_snap = false;
        } else if changed {
            self.core
                .set_state(&dsp_state_from(self.effective.iter().copied()));
        }
        self.core.begin_block(&self.audio, controls);

        let n_ch = self.variant.channels().min(MAX_CHANNELS);
        let mut start = 0;
        while start < sample_count {
            let len = (sample_count - start).min(MAX_STEP);
            for (buf, &input) in self.buffer.iter_mut().zip(self.inputs.iter()).take(n_ch) {
                if input.is_null() {
                    buf[..len].fill(0.0);
                } else {
                    // SAFETY: `input` is valid for `sample_count` floats and
                    // `start + len <= sample_count`; `buf` is our own memory.
                    unsafe { ptr::copy_nonoverlapping(input.add(start), buf.as_mut_ptr(), len) };
                }
            }
            {
                let [a, b] = &mut self.buffer;
                let mut step: [&mut [f32]; MAX_CHANNELS] = [&mut a[..len], &mut b[..len]];
                self.core
                    .process(&mut step[..n_ch], &self.audio, |_| None, None);
            }
            for (buf, &output) in self.buffer.iter().zip(self.outputs.iter()).take(n_ch) {
                if !output.is_null() {
                    // SAFETY: as above, for the output buffer.
                    unsafe { ptr::copy_nonoverlapping(buf.as_ptr(), output.add(start), len) };
                }
            }
            start += len;
        }

        if !self.latency_out.is_null() {
            // SAFETY: a connected control output port holds one float.
            unsafe { self.latency_out.write(self.core.latency_samples() as f32) };
        }
        if !self.gain_reduction_out.is_null() {
            let gr = self.core.gain_reduction_db();
            let gr = if gr.is_finite() {
                gr.clamp(0.0, MAX_GAIN_REDUCTION_DB)
            } else {
                0.0
            };
            // SAFETY: as above.
            unsafe { self.gain_reduction_out.write(gr) };
        }
        if !self.bake_state_out.is_null() {
            // SAFETY: as above.
            unsafe {
                self.bake_state_out
                    .write(f32::from(self.meters.state() as u8))
            };
        }
        if !self.bake_sc_out.is_null() {
            let sc = self.meters.similarity();
            // SAFETY: as above.
            unsafe {
                self.bake_sc_out.write(if sc.is_finite() {
                    sc.clamp(-1.0, 1.0)
                } else {
                    0.0
                })
            };
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

    /// lv2lint instantiates a plugin in a child process that ends with the plain `exit`
    /// system call: a thread started by `instantiate` kept that child alive. The bridge
    /// thread runs only from `activate` to `deactivate`.
    #[test]
    fn the_bridge_thread_runs_only_while_active() {
        let mut instance = Instance::new(Variant::Mono, 48_000.0).unwrap();
        instance.set_bridge(crate::bake::config_for_bundle(None));
        assert!(!instance.bridge_running(), "instantiate started a thread");
        instance.activate();
        assert!(instance.bridge_running());
        instance.deactivate();
        assert!(!instance.bridge_running());
        instance.activate();
        assert!(
            instance.bridge_running(),
            "a second activation starts it again"
        );
        drop(instance);
    }

    #[test]
    fn every_host_rate_is_accepted_and_absurd_ones_refused() {
        for rate in [0.0, 999.0, 768_001.0, f64::NAN, f64::INFINITY] {
            assert!(Instance::new(Variant::Mono, rate).is_err(), "{rate}");
        }
        for rate in [1_000.0, 8_000.0, 11_025.0, 44_100.0, 384_000.0, 768_000.0] {
            assert!(Instance::new(Variant::Stereo, rate).is_ok(), "{rate}");
        }
    }
}
