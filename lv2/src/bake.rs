//! Bakes in the LV2 build (no GUI): the prompt comes from a file, the Bake trigger
//! port's rising edge or Auto-bake starts a bake, and the result is applied inside the
//! instance.
//!
//! - **Prompt**: `$XDG_CONFIG_HOME/faurge/prompt.txt`, or `~/.config/faurge/prompt.txt`
//!   when `XDG_CONFIG_HOME` is unset or not absolute ([`prompt_path`]); read at each
//!   bake, so editing the file takes effect at the next one. Missing or empty: the
//!   helper's anchor prompt (a clear, professional broadcast vocal). At most
//!   [`MAX_PROMPT_BYTES`] are read.
//! - **Helper and models**: `FAURGE_HELPER` / `FAURGE_MODELS`, else `faurge-helper` and
//!   `models/` in the LV2 bundle directory, else `faurge-helper` on `PATH`.
//! - **Result**: LV2 has no way for a plugin to write its own control input ports,
//!   and host notification would need atom ports, which PipeWire's filter-chain does
//!   not connect (NOTES.md). So the baked values live inside the instance: each
//!   parameter uses its baked value until the host moves that control (then the
//!   host's value wins), and the IR kernel cross-fades in over 10 ms. The baked
//!   settings are not saved by the host; the report goes to stderr (the PipeWire log).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use faurge_bridge::faurge_protocol::BakeResult;
use faurge_bridge::slot::Slot;
use faurge_bridge::snapshot::SnapshotRing;
use faurge_bridge::{ApplySummary, BakeTarget, BridgeConfig, SnapshotAudio};
use faurge_dsp::convolver::{Kernel, KernelBuilder};
use faurge_dsp::state::DspState;
use faurge_params::{dsp_state_from, PARAMS};

use crate::ports::NUM_PARAMS;

/// Longest prompt read from the file, bytes.
pub const MAX_PROMPT_BYTES: usize = 4096;
/// File name of the prompt inside the `faurge` config folder.
pub const PROMPT_FILE: &str = "prompt.txt";

/// Where the LV2 build reads its prompt: `$XDG_CONFIG_HOME/faurge/prompt.txt`, or
/// `$HOME/.config/faurge/prompt.txt` (XDG Base Directory rules: a relative
/// `XDG_CONFIG_HOME` is ignored). `None` when neither variable is usable.
pub fn prompt_path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".config"))
        })?;
    Some(config.join("faurge").join(PROMPT_FILE))
}

/// The prompt in `path` (trimmed, cut to [`MAX_PROMPT_BYTES`] at a character
/// boundary, invalid UTF-8 replaced); empty when the file is missing.
pub fn read_prompt(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_PROMPT_BYTES)]);
    text.trim().to_string()
}

/// What the audio thread ([`crate::plugin::Instance::run`]) and the bridge thread
/// share. The audio thread touches only atomics and [`Slot`]s.
pub struct Link {
    /// Session rate, Hz.
    pub sample_rate: f32,
    /// Channels processed.
    pub channels: usize,
    /// Raw input for the helper.
    pub ring: Arc<SnapshotRing>,
    /// Builds kernels for the running chain (bridge thread).
    pub builder: KernelBuilder,
    /// Next kernel to cross-fade to (bridge → audio).
    pub incoming_ir: Slot<Kernel>,
    /// Kernels the audio thread is done with (audio → bridge, freed there).
    pub retired_ir: Slot<Kernel>,
    /// Bake requests: trigger rising edges and auto-bake decisions.
    pub bake_requests: AtomicU64,
    /// The values in use, `[NUM_PARAMS]` f32 bits (audio → bridge).
    pub effective: Box<[AtomicU32]>,
    /// Baked values, `[NUM_PARAMS]` f32 bits, NaN = no baked value (bridge → audio).
    pub baked: Box<[AtomicU32]>,
    /// Incremented after `baked` is written.
    pub baked_generation: AtomicU64,
    /// Helper and models.
    pub config: BridgeConfig,
}

impl Link {
    /// A link for a chain at `sample_rate` with `channels`, whose kernels `builder`
    /// makes; the ring holds [`faurge_bridge::snapshot::DEFAULT_SNAPSHOT_SECONDS`].
    pub fn new(
        sample_rate: f32,
        channels: usize,
        builder: KernelBuilder,
        config: BridgeConfig,
    ) -> Self {
        let atoms = |v: f32| {
            (0..NUM_PARAMS)
                .map(|_| AtomicU32::new(v.to_bits()))
                .collect()
        };
        Link {
            sample_rate,
            channels,
            ring: Arc::new(SnapshotRing::new(
                sample_rate,
                channels,
                faurge_bridge::snapshot::DEFAULT_SNAPSHOT_SECONDS,
            )),
            builder,
            incoming_ir: Slot::default(),
            retired_ir: Slot::default(),
            bake_requests: AtomicU64::new(0),
            effective: atoms(0.0),
            baked: atoms(f32::NAN),
            baked_generation: AtomicU64::new(0),
            config,
        }
    }

    /// The values in use (what the host set, with baked values on top).
    pub fn effective_values(&self) -> Vec<f32> {
        self.effective
            .iter()
            .map(|a| f32::from_bits(a.load(Ordering::Acquire)))
            .collect()
    }
}

/// The bridge configuration for an LV2 bundle at `bundle`: `FAURGE_HELPER`,
/// `bundle/faurge-helper`, `faurge-helper` on `PATH`; `FAURGE_MODELS`, `bundle/models`.
pub fn config_for_bundle(bundle: Option<&Path>) -> BridgeConfig {
    let helper = std::env::var_os("FAURGE_HELPER")
        .map(PathBuf::from)
        .or_else(|| {
            bundle
                .map(|b| b.join("faurge-helper"))
                .filter(|p| p.is_file())
        })
        .or_else(|| {
            std::env::var_os("PATH").and_then(|path| {
                std::env::split_paths(&path)
                    .map(|d| d.join("faurge-helper"))
                    .find(|p| p.is_file())
            })
        });
    let models = std::env::var_os("FAURGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| bundle.map(|b| b.join("models")).filter(|p| p.is_dir()));
    let mut config = BridgeConfig::new(helper, models);
    config.on_finish = Some(Arc::new(|s: &faurge_bridge::BakeStatus| {
        eprintln!("faurge-lv2: {s}");
    }));
    config
}

/// The [`BakeTarget`] of one LV2 instance.
pub struct Target {
    /// Shared with the instance.
    pub link: Arc<Link>,
}

impl BakeTarget for Target {
    fn bake_requests(&self) -> u64 {
        self.link.bake_requests.load(Ordering::Acquire)
    }

    fn snapshot(&self) -> Result<SnapshotAudio, String> {
        let ring = &self.link.ring;
        let snap = ring.copy_latest(ring.capacity() as f32 / ring.sample_rate().max(1.0));
        Ok(SnapshotAudio {
            sample_rate: snap.sample_rate,
            channels: snap.channels,
        })
    }

    fn current_state(&self) -> DspState {
        dsp_state_from(self.link.effective_values())
    }

    fn prompt(&self) -> String {
        prompt_path().map(|p| read_prompt(&p)).unwrap_or_default()
    }

    fn apply(&self, result: &BakeResult) -> Result<ApplySummary, String> {
        let link = &self.link;
        drop(link.retired_ir.take());
        let mut summary = ApplySummary::default();
        if let Some(ir) = &result.ir {
            let samples = ir.samples_f32().map_err(|e| e.to_string())?;
            let mut samples = if (ir.sample_rate as f32 - link.sample_rate).abs() < 0.5 {
                samples
            } else {
                faurge_io::resample(&[samples], ir.sample_rate, link.sample_rate.round() as u32)
                    .map_err(|e| format!("Could not resample the impulse response: {e}"))?
                    .pop()
                    .unwrap_or_default()
            };
            samples.truncate(link.builder.max_ir_frames().max(1));
            if samples.is_empty() {
                samples.push(0.0);
            }
            let kernel = link
                .builder
                .build(&[samples.as_slice()])
                .map_err(|e| format!("Could not prepare the impulse response: {e}"))?;
            drop(link.incoming_ir.replace(Some(kernel)));
            summary.ir_queued = true;
        }
        let current = link.effective_values();
        for (k, spec) in PARAMS.iter().enumerate() {
            let v = spec.read(&result.dsp_state).unwrap_or(f32::NAN);
            if v.is_finite() && (v - current[k]).abs() > 1e-5 * current[k].abs().max(1.0) {
                summary.params_set += 1;
            }
            link.baked[k].store(v.to_bits(), Ordering::Release);
        }
        link.baked_generation.fetch_add(1, Ordering::AcqRel);
        eprintln!(
            "faurge-lv2: bake applied ({} parameters, IR {}): {}",
            summary.params_set,
            if summary.ir_queued {
                "new"
            } else {
                "unchanged"
            },
            serde_json::to_string(&result.report).unwrap_or_default()
        );
        Ok(summary)
    }
}
