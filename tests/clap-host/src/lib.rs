//! A small CLAP host on `clack-host` for testing the Faurge bundles the way a DAW uses
//! them, plus the build step that produces those bundles.
//!
//! [`bundles`] builds the plugin once per test process with `cargo xtask bundle
//! --host-test` (debug assertions and nice-plug's `assert_process_allocs` on, so any
//! allocation in `process()` aborts the test) into `target/host-tests/bundled`, built
//! in the workspace's target folder with the test build's profile settings.
//! [`Instance`] wraps one plugin instance: descriptor, audio ports, parameters by
//! name, state save/load, activation; [`Instance::process`] runs blocks on a separate
//! audio thread with CLAP parameter events at given sample positions, timing every
//! block.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::audio_ports_config::{AudioPortsConfigBuffer, PluginAudioPortsConfig};
use clack_extensions::gui::{
    GuiApiType, GuiConfiguration, GuiSize, HostGui, HostGuiImpl, PluginGui, Window,
};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer,
    ParamInfoFlags, ParamRescanFlags, PluginParams,
};
use clack_extensions::state::{HostState, HostStateImpl, PluginState};
use clack_host::events::event_types::{
    ParamGestureBeginEvent, ParamGestureEndEvent, ParamValueEvent,
};
use clack_host::prelude::*;

/// Where the host-test bundles are built and what they contain.
#[derive(Clone, Debug)]
pub struct Bundles {
    /// `…/bundled/Faurge.clap`.
    pub clap: PathBuf,
    /// `…/bundled/Faurge.vst3`.
    pub vst3: PathBuf,
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The host-test bundle carries no helper: points the plugin (through the
/// environment) at the workspace's debug build (`cargo build -p faurge-helper --bin faurge-helper`) unless
/// `FAURGE_HELPER` is set, and at `bundle/models` unless `FAURGE_MODELS` is set.
///
/// # Panics
/// If the helper was not built.
pub fn use_workspace_helper() {
    if std::env::var_os("FAURGE_HELPER").is_none() {
        let root = workspace_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let helper = target.join("debug/faurge-helper");
        assert!(
            helper.is_file(),
            "no helper at {}: run `cargo build -p faurge-helper --bin faurge-helper`",
            helper.display()
        );
        std::env::set_var("FAURGE_HELPER", helper);
    }
    if std::env::var_os("FAURGE_MODELS").is_none() {
        let models = workspace_root().join("bundle/models");
        if models.join("manifest.json").is_file() {
            std::env::set_var("FAURGE_MODELS", models);
        }
    }
}

/// Builds the host-test bundles once per process (`cargo run -p xtask -- bundle
/// --host-test`, in the workspace's target folder so that it reuses the dependencies
/// `cargo test` built; cargo does not hold its lock while tests run) and returns their
/// paths, in `<target>/host-tests/bundled`. Panics with cargo's exit status if the
/// build fails.
pub fn bundles() -> &'static Bundles {
    static BUNDLES: OnceLock<Bundles> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        let root = workspace_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|t| root.join(t))
            .unwrap_or_else(|| root.join("target"))
            .join("host-tests");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let t0 = Instant::now();
        let status = Command::new(cargo)
            .current_dir(&root)
            .args([
                "run",
                "--quiet",
                "-p",
                "xtask",
                "--",
                "bundle",
                "--host-test",
            ])
            .status()
            .expect("could not run cargo to build the host-test bundles");
        assert!(
            status.success(),
            "`cargo xtask bundle --host-test` failed: {status}"
        );
        eprintln!(
            "host-test bundles ready in {:.1} s",
            t0.elapsed().as_secs_f32()
        );
        let bundled = target.join("bundled");
        Bundles {
            clap: bundled.join("Faurge.clap"),
            vst3: bundled.join("Faurge.vst3"),
        }
    })
}

/// Counters the plugin's host callbacks update.
#[derive(Default)]
pub struct HostShared {
    /// `request_restart` calls.
    pub restarts: AtomicU32,
    /// `request_process` calls.
    pub process_requests: AtomicU32,
    /// `request_callback` calls.
    pub callbacks: AtomicU32,
    /// `params.request_flush` calls.
    pub flushes: AtomicU32,
    /// `gui.closed` calls.
    pub gui_closed: AtomicU32,
    /// `gui.request_resize` calls.
    pub gui_resize_requests: AtomicU32,
}

impl SharedHandler<'_> for HostShared {
    fn request_restart(&self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }
    fn request_process(&self) {
        self.process_requests.fetch_add(1, Ordering::SeqCst);
    }
    fn request_callback(&self) {
        self.callbacks.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostGuiImpl for HostShared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        self.gui_resize_requests.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {
        self.gui_closed.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostParamsImplShared for HostShared {
    fn request_flush(&self) {
        self.flushes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Main-thread callback counters.
#[derive(Default)]
pub struct HostMain {
    /// `params.rescan` calls.
    pub rescans: AtomicU32,
    /// `latency.changed` calls.
    pub latency_changes: AtomicU32,
    /// `state.mark_dirty` calls.
    pub dirty_marks: AtomicU32,
}

impl MainThreadHandler<'_> for HostMain {}

impl HostParamsImplMainThread for HostMain {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.rescans.fetch_add(1, Ordering::SeqCst);
    }
    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostLatencyImpl for HostMain {
    fn changed(&self) {
        self.latency_changes.fetch_add(1, Ordering::SeqCst);
    }
}

impl HostStateImpl for HostMain {
    fn mark_dirty(&self) {
        self.dirty_marks.fetch_add(1, Ordering::SeqCst);
    }
}

/// The test host.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMain;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostParams>()
            .register::<HostLatency>()
            .register::<HostState>()
            .register::<HostGui>();
    }
}

/// Loads the shared library at `path` and keeps it mapped for the rest of the process,
/// as DAWs do. Threads that called into a plugin carry thread-local destructors
/// registered by the plugin's own copy of `std`; they would jump into unmapped code if
/// one test unloaded the library while another test's threads are still alive.
///
/// # Panics
/// If the library cannot be loaded.
pub fn keep_mapped(path: &Path) -> &'static libloading::Library {
    // SAFETY: loading the plugin under test runs its initializers, nothing else.
    let lib = unsafe { libloading::Library::new(path) }
        .unwrap_or_else(|e| panic!("could not load {}: {e}", path.display()));
    Box::leak(Box::new(lib))
}

/// A loaded `.clap` file.
pub struct Library {
    entry: PluginEntry,
}

/// What the plugin factory says about one plugin.
#[derive(Clone, Debug, PartialEq)]
pub struct Descriptor {
    /// Plugin id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Vendor.
    pub vendor: String,
    /// Version.
    pub version: String,
    /// CLAP feature strings.
    pub features: Vec<String>,
}

fn text(c: Option<&CStr>) -> String {
    c.map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Library {
    /// Loads `path` (a `.clap` file).
    ///
    /// # Panics
    /// If the file cannot be loaded or has no CLAP entry.
    pub fn load(path: &Path) -> Self {
        keep_mapped(path);
        // SAFETY: loading a plugin runs its initializers; the file is the plugin under test.
        let entry = unsafe { PluginEntry::load(path) }
            .unwrap_or_else(|e| panic!("could not load {}: {e}", path.display()));
        Library { entry }
    }

    /// Every plugin the factory lists.
    pub fn descriptors(&self) -> Vec<Descriptor> {
        let factory = self
            .entry
            .get_plugin_factory()
            .expect("the entry has no plugin factory");
        factory
            .plugin_descriptors()
            .map(|d| Descriptor {
                id: text(d.id()),
                name: text(d.name()),
                vendor: text(d.vendor()),
                version: text(d.version()),
                features: d
                    .features()
                    .map(|f| f.to_string_lossy().into_owned())
                    .collect(),
            })
            .collect()
    }

    /// A new instance of the plugin with id `id`.
    pub fn instantiate(&self, id: &str) -> Instance {
        let host = HostInfo::new(
            "Faurge test host",
            "Faurge",
            "https://github.com/faurge/faurge",
            "0.1.0",
        )
        .unwrap();
        let id = CString::new(id).unwrap();
        let instance = PluginInstance::<TestHost>::new(
            |_| HostShared::default(),
            |_| HostMain::default(),
            &self.entry,
            &id,
            &host,
        )
        .expect("could not instantiate the plugin");
        Instance::new(instance)
    }
}

/// One parameter as the plugin describes it over CLAP.
#[derive(Clone, Debug)]
pub struct ParamDesc {
    /// CLAP parameter id.
    pub id: ClapId,
    /// Display name (unique in Faurge).
    pub name: String,
    /// Group ("module" in CLAP).
    pub module: String,
    /// Lowest plain value.
    pub min: f64,
    /// Highest plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// CLAP flags.
    pub flags: ParamInfoFlags,
}

/// An audio port as the plugin describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PortDesc {
    /// Port name.
    pub name: String,
    /// Channel count.
    pub channels: u32,
    /// True for the main port.
    pub is_main: bool,
}

/// A parameter change at an absolute sample position of a [`Instance::process`] run.
#[derive(Clone, Copy, Debug)]
pub struct ParamChange {
    /// Sample position from the start of the run.
    pub frame: usize,
    /// CLAP parameter id.
    pub id: ClapId,
    /// New plain value.
    pub value: f64,
}

/// A parameter event the plugin sent to the host from `process()`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OutParamEvent {
    /// `CLAP_EVENT_PARAM_GESTURE_BEGIN` for a parameter id.
    GestureBegin(ClapId),
    /// `CLAP_EVENT_PARAM_VALUE`: id and plain value.
    Value(ClapId, f64),
    /// `CLAP_EVENT_PARAM_GESTURE_END`.
    GestureEnd(ClapId),
}

/// What one processing run returns.
pub struct RunOutput {
    /// Parameter events the plugin output, in order.
    pub param_events: Vec<OutParamEvent>,
    /// `[channel][frame]` output.
    pub audio: Vec<Vec<f32>>,
    /// Wall time of each `process()` call.
    pub block_times: Vec<Duration>,
    /// Status of each call.
    pub statuses: Vec<ProcessStatus>,
}

/// An activated instance: the audio processor and its configuration.
pub struct Active {
    processor: PluginAudioProcessor<TestHost>,
    /// Session sample rate, Hz.
    pub sample_rate: f64,
    /// Largest block the host promised, frames.
    pub max_frames: u32,
    /// Channels per port.
    pub channels: usize,
    /// Whether [`Instance::process`] leaves processing started when it returns (as a
    /// host playing a track does) instead of stopping it. CLAP plugins may clear their
    /// memory on every `start_processing` (nice-plug calls `reset()` there), so a run
    /// split into chunks that each start and stop processing is not continuous audio.
    pub keep_processing: bool,
}

/// One plugin instance on the (test's) main thread.
pub struct Instance {
    instance: PluginInstance<TestHost>,
    params_ext: PluginParams,
    state_ext: PluginState,
    ports_ext: PluginAudioPorts,
    ports_config_ext: Option<PluginAudioPortsConfig>,
    latency_ext: Option<PluginLatency>,
    params: Vec<ParamDesc>,
    by_name: BTreeMap<String, usize>,
    channels: usize,
}

impl Instance {
    fn new(mut instance: PluginInstance<TestHost>) -> Self {
        let shared = instance.plugin_shared_handle();
        let params_ext = shared
            .get_extension::<PluginParams>()
            .expect("no params extension");
        let state_ext = shared
            .get_extension::<PluginState>()
            .expect("no state extension");
        let ports_ext = shared
            .get_extension::<PluginAudioPorts>()
            .expect("no audio-ports extension");
        let ports_config_ext = shared.get_extension::<PluginAudioPortsConfig>();
        let latency_ext = shared.get_extension::<PluginLatency>();
        let mut params = Vec::new();
        {
            let handle = instance.plugin_handle();
            let mut buf = ParamInfoBuffer::new();
            for i in 0..params_ext.count(&handle) {
                let info = params_ext
                    .get_info(&handle, i, &mut buf)
                    .expect("get_info failed");
                params.push(ParamDesc {
                    id: info.id,
                    name: String::from_utf8_lossy(info.name)
                        .trim_end_matches('\0')
                        .to_string(),
                    module: String::from_utf8_lossy(info.module)
                        .trim_end_matches('\0')
                        .to_string(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                    flags: info.flags,
                });
            }
        }
        let by_name = params
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        let mut inst = Instance {
            instance,
            params_ext,
            state_ext,
            ports_ext,
            ports_config_ext,
            latency_ext,
            params,
            by_name,
            channels: 0,
        };
        inst.channels = inst
            .audio_ports(false)
            .first()
            .map_or(0, |p| p.channels as usize);
        inst
    }

    /// Host-side counters of the plugin's main-thread callbacks.
    pub fn host_main<R>(&mut self, f: impl FnOnce(&HostMain) -> R) -> R {
        self.instance.access_handler(f)
    }

    /// Host-side counters of the plugin's thread-safe callbacks.
    pub fn host_shared<R>(&self, f: impl FnOnce(&HostShared) -> R) -> R {
        self.instance.access_shared_handler(f)
    }

    /// Runs main-thread callbacks the plugin asked for.
    pub fn run_main_thread_callbacks(&mut self) {
        self.instance.call_on_main_thread_callback();
    }

    /// Every parameter, in the plugin's order.
    pub fn params(&self) -> &[ParamDesc] {
        &self.params
    }

    /// The parameter called `name`.
    ///
    /// # Panics
    /// If there is none.
    pub fn param(&self, name: &str) -> &ParamDesc {
        let i = self
            .by_name
            .get(name)
            .unwrap_or_else(|| panic!("no parameter named {name:?}"));
        &self.params[*i]
    }

    /// A [`ParamChange`] of parameter `name` to `value` at `frame`.
    pub fn change(&self, frame: usize, name: &str, value: f64) -> ParamChange {
        ParamChange {
            frame,
            id: self.param(name).id,
            value,
        }
    }

    /// The current plain value of parameter `name`.
    pub fn value(&mut self, name: &str) -> f64 {
        let id = self.param(name).id;
        self.params_ext
            .get_value(&self.instance.plugin_handle(), id)
            .expect("get_value failed")
    }

    /// The plugin's text for `value` of parameter `name`.
    pub fn value_text(&mut self, name: &str, value: f64) -> String {
        let id = self.param(name).id;
        let mut buf = [0u8; 128];
        let out = self
            .params_ext
            .value_to_text(&self.instance.plugin_handle(), id, value, &mut buf)
            .expect("value_to_text failed");
        String::from_utf8_lossy(out)
            .trim_end_matches('\0')
            .to_string()
    }

    /// The plugin's value for `text` typed into parameter `name`.
    pub fn text_value(&mut self, name: &str, text: &str) -> Option<f64> {
        let id = self.param(name).id;
        let c = CString::new(text).unwrap();
        self.params_ext
            .text_to_value(&self.instance.plugin_handle(), id, &c)
    }

    /// Sets parameters while the plugin is inactive (CLAP `params.flush`).
    ///
    /// # Panics
    /// If the plugin is active.
    pub fn set_params_inactive(&mut self, changes: &[(&str, f64)]) {
        let mut events = EventBuffer::new();
        for (name, value) in changes {
            let id = self.param(name).id;
            events.push(&ParamValueEvent::new(0, id, Pckn::match_all(), *value));
        }
        let mut out = EventBuffer::new();
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .expect("the plugin is active");
        self.params_ext
            .flush(&mut handle, &events.as_input(), &mut out.as_output());
    }

    /// Audio ports on the input (`true`) or output side.
    pub fn audio_ports(&mut self, input: bool) -> Vec<PortDesc> {
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortInfoBuffer::new();
        (0..self.ports_ext.count(&handle, input))
            .filter_map(|i| {
                self.ports_ext
                    .get(&handle, i, input, &mut buf)
                    .map(|p| PortDesc {
                        name: String::from_utf8_lossy(p.name)
                            .trim_end_matches('\0')
                            .to_string(),
                        channels: p.channel_count,
                        is_main: p
                            .flags
                            .contains(clack_extensions::audio_ports::AudioPortFlags::IS_MAIN),
                    })
            })
            .collect()
    }

    /// The (name, main output channels) of every audio-ports configuration.
    pub fn port_configs(&mut self) -> Vec<(ClapId, String, u32)> {
        let Some(ext) = self.ports_config_ext else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buf = AudioPortsConfigBuffer::new();
        (0..ext.count(&handle))
            .filter_map(|i| {
                ext.get(&handle, i, &mut buf).map(|c| {
                    (
                        c.id,
                        String::from_utf8_lossy(c.name).into_owned(),
                        c.main_output.map_or(0, |m| m.channel_count),
                    )
                })
            })
            .collect()
    }

    /// Selects the audio-ports configuration with `channels` main output channels
    /// (inactive only). Returns false if there is none.
    pub fn select_channels(&mut self, channels: u32) -> bool {
        let Some(ext) = self.ports_config_ext else {
            return false;
        };
        let Some((id, _, _)) = self.port_configs().into_iter().find(|c| c.2 == channels) else {
            return false;
        };
        let ok = ext.select(&self.instance.plugin_handle(), id).is_ok();
        if ok {
            self.channels = self
                .audio_ports(false)
                .first()
                .map_or(0, |p| p.channels as usize);
        }
        ok
    }

    /// Channels of the current main output port.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Latency the plugin reports, samples.
    pub fn latency(&mut self) -> u32 {
        self.latency_ext
            .map_or(0, |l| l.get(&self.instance.plugin_handle()))
    }

    /// Creates the plugin's editor embedded in the X11 window `parent` and shows it
    /// (`clap_plugin_gui` create → set_scale → set_parent → show). The caller sets
    /// `DISPLAY`.
    ///
    /// # Errors
    /// Which call the plugin refused.
    pub fn open_gui_x11(&mut self, parent: u32) -> Result<(), String> {
        let gui = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginGui>()
            .ok_or("no gui extension")?;
        let handle = self.instance.plugin_handle();
        let config = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        if !gui.is_api_supported(&handle, config) {
            return Err("X11 embedding is not supported".into());
        }
        gui.create(&handle, config)
            .map_err(|e| format!("create: {e:?}"))?;
        let _ = gui.set_scale(&handle, 1.0);
        // SAFETY: `parent` is a live X11 window the caller owns until `close_gui`.
        unsafe { gui.set_parent(&handle, Window::from_x11_handle(parent.into())) }
            .map_err(|e| format!("set_parent: {e:?}"))?;
        gui.show(&handle).map_err(|e| format!("show: {e:?}"))?;
        self.instance.call_on_main_thread_callback();
        Ok(())
    }

    /// The editor's size as the plugin reports it, physical pixels.
    pub fn gui_size(&mut self) -> Option<(u32, u32)> {
        let gui = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginGui>()?;
        gui.get_size(&self.instance.plugin_handle())
            .map(|s| (s.width, s.height))
    }

    /// Hides and destroys the editor opened by [`Instance::open_gui_x11`].
    pub fn close_gui(&mut self) {
        if let Some(gui) = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginGui>()
        {
            let handle = self.instance.plugin_handle();
            let _ = gui.hide(&handle);
            gui.destroy(&handle);
        }
        self.instance.call_on_main_thread_callback();
    }

    /// Saves the plugin state.
    pub fn save_state(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.state_ext
            .save(&self.instance.plugin_handle(), &mut out)
            .expect("state save failed");
        out
    }

    /// Loads a plugin state; false if the plugin refused it.
    pub fn load_state(&mut self, bytes: &[u8]) -> bool {
        self.state_ext
            .load(&self.instance.plugin_handle(), &mut &bytes[..])
            .is_ok()
    }

    /// Activates at `sample_rate` for blocks of 1..=`max_frames`.
    ///
    /// # Errors
    /// The plugin's refusal.
    pub fn activate(
        &mut self,
        sample_rate: f64,
        max_frames: u32,
    ) -> Result<Active, PluginInstanceError> {
        let config = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_frames,
        };
        let processor = self.instance.activate(|_, _| (), config)?.into();
        Ok(Active {
            processor,
            sample_rate,
            max_frames,
            channels: self.channels,
            keep_processing: false,
        })
    }

    /// Deactivates.
    pub fn deactivate(&mut self, active: Active) {
        self.instance.deactivate(active.processor.into_stopped());
    }

    /// Processes `input` (`[channel][frame]`, the port's channel count) on a separate
    /// audio thread in blocks of the sizes `blocks` yields (each ≤ `max_frames`; the
    /// last block is cut to fit), with `changes` (sorted by frame) sent as CLAP
    /// parameter events at their positions. Starts processing if it is stopped, and
    /// stops it at the end unless `active.keep_processing`.
    /// Meanwhile this (main) thread serves the plugin's main-thread callbacks every
    /// millisecond, as a host's main loop does: the plugin posts a task per parameter
    /// change, and a queue nobody drains overflows.
    pub fn process(
        &mut self,
        active: &mut Active,
        input: &[Vec<f32>],
        blocks: impl Iterator<Item = usize> + Send,
        changes: &[ParamChange],
    ) -> RunOutput {
        let channels = active.channels;
        assert_eq!(
            input.len(),
            channels,
            "input must have the port's channel count"
        );
        let frames = input.first().map_or(0, Vec::len);
        let max = active.max_frames as usize;
        let keep = active.keep_processing;
        let processor = &mut active.processor;
        let instance = &mut self.instance;
        let out = std::thread::scope(|s| {
            let audio =
                s.spawn(move || run_blocks(processor, input, frames, max, blocks, changes, keep));
            while !audio.is_finished() {
                instance.call_on_main_thread_callback();
                std::thread::sleep(Duration::from_millis(1));
            }
            audio.join().expect("audio thread panicked")
        });
        self.run_main_thread_callbacks();
        out
    }
}

fn run_blocks(
    processor: &mut PluginAudioProcessor<TestHost>,
    input: &[Vec<f32>],
    frames: usize,
    max: usize,
    blocks: impl Iterator<Item = usize>,
    changes: &[ParamChange],
    keep_processing: bool,
) -> RunOutput {
    let channels = input.len();
    let mut output = vec![vec![0.0f32; frames]; channels];
    let mut in_block = vec![vec![0.0f32; max]; channels];
    let mut out_block = vec![vec![0.0f32; max]; channels];
    let mut in_ports = AudioPorts::with_capacity(channels, 1);
    let mut out_ports = AudioPorts::with_capacity(channels, 1);
    let mut events = EventBuffer::with_capacity(64);
    let mut out_events = EventBuffer::with_capacity(64);
    let mut block_times = Vec::new();
    let mut statuses = Vec::new();
    let mut param_events = Vec::new();
    let mut next_change = 0;
    let started = processor
        .ensure_processing_started()
        .expect("start_processing failed");
    let mut start = 0;
    let mut steady = 0u64;
    for len in blocks {
        if start >= frames {
            break;
        }
        let len = len.clamp(1, max).min(frames - start);
        for (b, i) in in_block.iter_mut().zip(input) {
            b[..len].copy_from_slice(&i[start..start + len]);
        }
        events.clear();
        while next_change < changes.len() && changes[next_change].frame < start + len {
            let c = changes[next_change];
            let time = c.frame.saturating_sub(start) as u32;
            events.push(&ParamValueEvent::new(
                time,
                c.id,
                Pckn::match_all(),
                c.value,
            ));
            next_change += 1;
        }
        out_events.clear();
        let in_buffers = in_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                in_block
                    .iter_mut()
                    .map(|b| InputChannel::variable(&mut b[..len])),
            ),
        }]);
        let mut out_buffers = out_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                out_block.iter_mut().map(|b| &mut b[..len]),
            ),
        }]);
        let t0 = Instant::now();
        let status = started
            .process(
                &in_buffers,
                &mut out_buffers,
                &events.as_input(),
                &mut out_events.as_output(),
                Some(steady),
                None,
            )
            .expect("process() failed");
        block_times.push(t0.elapsed());
        statuses.push(status);
        for e in out_events.iter() {
            if let Some(b) = e.as_event::<ParamGestureBeginEvent>() {
                param_events.extend(b.param_id().map(OutParamEvent::GestureBegin));
            } else if let Some(v) = e.as_event::<ParamValueEvent>() {
                param_events.extend(v.param_id().map(|id| OutParamEvent::Value(id, v.value())));
            } else if let Some(g) = e.as_event::<ParamGestureEndEvent>() {
                param_events.extend(g.param_id().map(OutParamEvent::GestureEnd));
            }
        }
        for (o, b) in output.iter_mut().zip(&out_block) {
            o[start..start + len].copy_from_slice(&b[..len]);
        }
        start += len;
        steady += len as u64;
    }
    if !keep_processing {
        processor.ensure_processing_stopped();
    }
    RunOutput {
        param_events,
        audio: output,
        block_times,
        statuses,
    }
}

/// One activated instance with a recording looping through it, as a host plays a
/// track: the tests' common driver.
pub struct Looper {
    /// The instance.
    pub p: Instance,
    /// Its activation.
    pub active: Active,
    input: Vec<Vec<f32>>,
    pos: usize,
    bake_on: bool,
}

impl Looper {
    /// Loops `input` (`[channel][frame]`, the port's channel count, one period).
    /// Processing stays started from one [`Looper::run`] to the next, as while a host
    /// plays.
    pub fn new(p: Instance, mut active: Active, input: Vec<Vec<f32>>) -> Looper {
        active.keep_processing = true;
        Looper {
            p,
            active,
            input,
            pos: 0,
            bake_on: false,
        }
    }

    /// Frames in one loop of the input.
    pub fn period(&self) -> usize {
        self.input.first().map_or(0, Vec::len)
    }

    /// Where in the loop the next frame comes from.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether the Bake trigger is on.
    pub fn bake_on(&self) -> bool {
        self.bake_on
    }

    /// Processes `frames` more frames of the loop in blocks of `block`; flips the
    /// Bake trigger at the first frame when `toggle_bake`.
    ///
    /// # Panics
    /// If the plugin outputs a non-finite sample.
    pub fn run(&mut self, frames: usize, block: usize, toggle_bake: bool) -> RunOutput {
        let period = self.period();
        let chunk: Vec<Vec<f32>> = self
            .input
            .iter()
            .map(|c| (0..frames).map(|i| c[(self.pos + i) % period]).collect())
            .collect();
        let mut changes = Vec::new();
        if toggle_bake {
            self.bake_on = !self.bake_on;
            changes.push(self.p.change(0, "Bake", f64::from(u8::from(self.bake_on))));
        }
        let out = self
            .p
            .process(&mut self.active, &chunk, std::iter::repeat(block), &changes);
        assert!(
            out.audio.iter().flatten().all(|v| v.is_finite()),
            "non-finite output"
        );
        self.pos = (self.pos + frames) % period;
        out
    }

    /// The saved `bake_report` field (JSON text), if any.
    pub fn report(&mut self) -> Option<String> {
        let state = parse_state(&self.p.save_state());
        let field = state["fields"]["bake_report"].as_str()?.to_string();
        serde_json::from_str::<Option<String>>(&field)
            .ok()
            .flatten()
    }
}

/// A plugin state as a DAW stores it for nice-plug plugins: 8-byte little-endian
/// length, then the JSON `{"version", "params": {id: {"f32": v} | {"bool": b}}, "fields"}`.
pub fn state_blob(
    version: &str,
    params: &[(&str, serde_json::Value)],
    fields: &[(&str, String)],
) -> Vec<u8> {
    let params: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let fields: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    let json =
        serde_json::json!({ "version": version, "params": params, "fields": fields }).to_string();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out
}

/// A float parameter value for [`state_blob`].
pub fn f32_value(v: f32) -> serde_json::Value {
    serde_json::json!({ "f32": v })
}

/// A switch value for [`state_blob`].
pub fn bool_value(v: bool) -> serde_json::Value {
    serde_json::json!({ "bool": v })
}

/// Parameter values for [`state_blob`]: `(id, plain value)` pairs, switches (ids
/// ending in `_on`, the bypass, Bake and Auto-bake) as booleans.
pub fn param_values<'a>(values: &[(&'a str, f32)]) -> Vec<(&'a str, serde_json::Value)> {
    let is_switch = |id: &str| id.ends_with("_on") || matches!(id, "bypass" | "bake" | "autobake");
    values
        .iter()
        .map(|&(id, v)| {
            let value = if is_switch(id) {
                bool_value(v >= 0.5)
            } else {
                f32_value(v)
            };
            (id, value)
        })
        .collect()
}

/// The JSON inside a state made by the plugin (see [`state_blob`]).
pub fn parse_state(bytes: &[u8]) -> serde_json::Value {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).expect("the state is not JSON")
}

/// Base64 (standard, padded) of little-endian `f32` bytes: how Faurge stores IR samples.
pub fn base64_f32(samples: &[f32]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            out.push(if k <= c.len() {
                A[(n >> (18 - 6 * k)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

/// `seconds` of the voiced part of the shipped VCTK clip (0.55–3.75 s; looped when
/// more is asked) resampled to `rate`, mono.
///
/// # Panics
/// If the clip cannot be read or resampled.
pub fn voiced_speech(rate: u32, seconds: f32) -> Vec<f32> {
    let mono = faurge_io::read(faurge_io::examples::VCTK_SPEECH)
        .expect("read the VCTK clip")
        .resampled(rate)
        .expect("resample the VCTK clip")
        .to_mono();
    let voiced = &mono[(0.55 * rate as f32) as usize..(3.75 * rate as f32) as usize];
    voiced
        .iter()
        .copied()
        .cycle()
        .take((seconds * rate as f32) as usize)
        .collect()
}
