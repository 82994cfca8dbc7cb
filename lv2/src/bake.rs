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
//!   `models/` in the LV2 bundle directory, else `faurge-helper` on `PATH` (the rules
//!   of `faurge_protocol::locate`, shared with every format and the CLI).
//! - **Result**: LV2 has no way for a plugin to write its own control input ports,
//!   and host notification would need atom ports, which PipeWire 0.3.65's filter-chain
//!   does not connect (a plugin with them crashes it). So the baked values live inside
//!   the instance ([`BakedValues`]): each parameter uses its baked value until the
//!   host moves that control (then the host's value wins), and the IR kernel
//!   cross-fades in over 10 ms (prepared and queued by the bridge, as in every
//!   format). The baked settings are not saved by the host.
//! - **What happened**: after every bake the status file
//!   `$XDG_CONFIG_HOME/faurge/status.txt` (next to the prompt, [`status_path`]) says in
//!   a few lines whether it was applied or why not, what the prompt was understood as
//!   and the `S_C` reached; the full report of the last applied bake is in
//!   `last-bake.json` beside it ([`REPORT_FILE`]). The `bake_state` and `bake_sc`
//!   output ports carry the same as numbers ([`BakeMeters`]), and one line goes to
//!   stderr (the PipeWire log).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use faurge_dsp::state::DspState;
use faurge_instance::bridge::{
    ApplyError, ApplySummary, BakePhase, BakeSettings, BakeStatus, BridgeConfig,
};
use faurge_instance::ir::StoredIr;
use faurge_params::{dsp_state_from, PARAMS};
use faurge_protocol::BakeResult;

use crate::ports::{BakeState, NUM_PARAMS};

/// Longest prompt read from the file, bytes.
pub const MAX_PROMPT_BYTES: usize = 4096;
/// File name of the prompt inside the `faurge` config folder.
pub const PROMPT_FILE: &str = "prompt.txt";
/// File name of the last bake's status, next to the prompt.
pub const STATUS_FILE: &str = "status.txt";
/// File name of the last applied bake's full report (JSON), next to the prompt.
pub const REPORT_FILE: &str = "last-bake.json";

/// Where the LV2 build reads its prompt: `$XDG_CONFIG_HOME/faurge/prompt.txt`, or
/// `$HOME/.config/faurge/prompt.txt` (XDG Base Directory rules: a relative
/// `XDG_CONFIG_HOME` is ignored). `None` when neither variable is usable.
pub fn prompt_path() -> Option<PathBuf> {
    Some(config_dir()?.join(PROMPT_FILE))
}

/// Where the LV2 build writes the last bake's status ([`STATUS_FILE`] next to the
/// prompt).
pub fn status_path() -> Option<PathBuf> {
    Some(config_dir()?.join(STATUS_FILE))
}

/// `$XDG_CONFIG_HOME/faurge` or `$HOME/.config/faurge`.
fn config_dir() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".config"))
        })?;
    Some(config.join("faurge"))
}

/// The prompt in `path` (trimmed, cut to [`MAX_PROMPT_BYTES`] at a character
/// boundary, invalid UTF-8 replaced); empty when the file is missing.
pub fn read_prompt(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_PROMPT_BYTES)]);
    text.trim().to_string()
}

/// What the LV2 audio thread ([`crate::plugin::Instance::run`]) and the bridge
/// thread share besides the instance core's sides: the values in use and the last
/// bake's values. Atomics only.
pub struct BakedValues {
    /// The values in use, `[NUM_PARAMS]` f32 bits (audio → bridge).
    effective: Box<[AtomicU32]>,
    /// Baked values, `[NUM_PARAMS]` f32 bits, NaN = no baked value (bridge → audio).
    baked: Box<[AtomicU32]>,
    /// Incremented after `baked` is written.
    generation: AtomicU64,
}

impl Default for BakedValues {
    fn default() -> Self {
        let atoms = |v: f32| {
            (0..NUM_PARAMS)
                .map(|_| AtomicU32::new(v.to_bits()))
                .collect()
        };
        BakedValues {
            effective: atoms(0.0),
            baked: atoms(f32::NAN),
            generation: AtomicU64::new(0),
        }
    }
}

impl BakedValues {
    /// The values in use (what the host set, with baked values on top).
    pub fn effective_values(&self) -> Vec<f32> {
        self.effective
            .iter()
            .map(|a| f32::from_bits(a.load(Ordering::Acquire)))
            .collect()
    }

    /// Audio thread: publishes the values in use. Realtime-safe.
    pub(crate) fn publish_effective(&self, values: &[f32; NUM_PARAMS]) {
        for (a, v) in self.effective.iter().zip(values) {
            a.store(v.to_bits(), Ordering::Release);
        }
    }

    /// Audio thread: the last bake's generation. Realtime-safe.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Audio thread: copies the baked values (NaN: none for that row). Realtime-safe.
    pub(crate) fn read_baked(&self, into: &mut [f32; NUM_PARAMS]) {
        for (b, a) in into.iter_mut().zip(self.baked.iter()) {
            *b = f32::from_bits(a.load(Ordering::Acquire));
        }
    }

    /// Bridge thread: stores a bake's values and bumps the generation.
    fn store_baked(&self, values: impl Iterator<Item = f32>) {
        for (a, v) in self.baked.iter().zip(values) {
            a.store(v.to_bits(), Ordering::Release);
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// What the `bake_state` and `bake_sc` output ports report, written by the bridge
/// thread and read by `run`. Atomics only.
#[derive(Debug)]
pub struct BakeMeters {
    state: AtomicU32,
    similarity: AtomicU32,
}

impl Default for BakeMeters {
    fn default() -> Self {
        BakeMeters {
            state: AtomicU32::new(BakeState::Idle as u32),
            similarity: AtomicU32::new(0.0f32.to_bits()),
        }
    }
}

impl BakeMeters {
    /// The last bake's state. Realtime-safe.
    pub fn state(&self) -> BakeState {
        let n = self.state.load(Ordering::Acquire) as usize;
        BakeState::ALL.get(n).copied().unwrap_or(BakeState::Idle)
    }

    /// The last applied bake's `S_C` (0 before one). Realtime-safe.
    pub fn similarity(&self) -> f32 {
        f32::from_bits(self.similarity.load(Ordering::Acquire))
    }

    fn set_state(&self, state: BakeState) {
        self.state.store(state as u32, Ordering::Release);
    }

    /// Bridge thread: a bake ended with `status`.
    fn finish(&self, status: &BakeStatus) {
        self.set_state(match status.phase {
            BakePhase::Applied(_) => BakeState::Applied,
            BakePhase::Failed => BakeState::Failed,
            BakePhase::Cancelled => BakeState::Cancelled,
            BakePhase::Idle | BakePhase::Starting | BakePhase::Baking(_) => BakeState::Idle,
        });
    }
}

/// The bridge configuration for an LV2 bundle at `bundle` (the folder the host names
/// at `instantiate`): the helper and models found there or in the shared install
/// folder ([`faurge_protocol::locate`]). [`crate::plugin::Instance::set_bridge`] adds
/// what happens after each bake (ports, status file, log).
pub fn config_for_bundle(bundle: Option<&Path>) -> BridgeConfig {
    BridgeConfig::located(bundle)
}

/// The status file's text for a finished bake: its verdict (the editor's line), the
/// error in words when it failed, then `summary` (the applied bake's prompt and `S_C`).
pub fn status_text(status: &BakeStatus, uri: &str, summary: &[String]) -> String {
    let state = match status.phase {
        BakePhase::Applied(_) => "applied",
        BakePhase::Failed => "failed",
        BakePhase::Cancelled => "cancelled",
        _ => "idle",
    };
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut text = format!("state: {state}\nstatus: {status}\n");
    if let (BakePhase::Failed, Some(e)) = (&status.phase, &status.last_error) {
        text += &format!("error: {:?}: {}\n", e.kind, e.message);
    }
    if matches!(status.phase, BakePhase::Applied(_)) {
        for line in summary {
            text += line;
            text.push('\n');
        }
    }
    text += &format!(
        "bakes: {} started, {} applied, {} failed\nplugin: {uri}\ntime: {since_epoch} (seconds since 1970)\n",
        status.started, status.applied, status.failed
    );
    text
}

/// Writes `text` to `path` through a temporary file and a rename (a reader never sees
/// half of it), creating the folder. Errors go to stderr: a status file must not stop
/// a bake.
fn write_file(path: &Path, text: &str) {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        eprintln!("faurge-lv2: Could not write \"{}\": {e}", path.display());
    }
}

/// What a finished bake leaves for the user (see the module docs): the ports, the
/// status file, one line on stderr. Installed as the bridge's
/// [`BridgeConfig::on_finish`] hook by [`crate::plugin::Instance::set_bridge`].
pub fn report_finished(meters: &BakeMeters, summary: &[String], status: &BakeStatus, uri: &str) {
    meters.finish(status);
    eprintln!("faurge-lv2: {status}");
    if let Some(path) = status_path() {
        write_file(&path, &status_text(status, uri, summary));
    }
}

/// The [`BakeSettings`] of one LV2 instance: the prompt file, the values in use, and
/// baked values that live inside the instance.
pub struct Lv2Settings {
    /// Shared with the instance.
    pub values: Arc<BakedValues>,
    /// The `bake_state` and `bake_sc` ports' values.
    pub meters: Arc<BakeMeters>,
    /// The last applied bake's summary lines for the status file (bridge thread only).
    pub summary: Arc<std::sync::Mutex<Vec<String>>>,
}

impl BakeSettings for Lv2Settings {
    fn current_state(&self) -> DspState {
        dsp_state_from(self.values.effective_values())
    }

    fn prompt(&self) -> String {
        // Asked once per bake, when its snapshot is ready: the bake is running.
        self.meters.set_state(BakeState::Baking);
        prompt_path().map(|p| read_prompt(&p)).unwrap_or_default()
    }

    fn apply(
        &self,
        result: &BakeResult,
        ir: Option<&StoredIr>,
    ) -> Result<ApplySummary, ApplyError> {
        let mut summary = ApplySummary::default();
        let current = self.values.effective_values();
        let baked: Vec<f32> = PARAMS
            .iter()
            .map(|spec| spec.read(&result.dsp_state).unwrap_or(f32::NAN))
            .collect();
        summary.params_set = baked
            .iter()
            .zip(&current)
            .filter(|(v, c)| v.is_finite() && (*v - *c).abs() > 1e-5 * c.abs().max(1.0))
            .count();
        self.values.store_baked(baked.into_iter());
        let report = &result.report;
        let similarity = report.best().map_or(0.0, |r| r.similarity);
        self.meters
            .similarity
            .store(similarity.to_bits(), Ordering::Release);
        let mut lines = vec![
            format!("prompt: {:?}", report.prompt.original),
            format!("understood as: {:?}", report.prompt.understood),
            format!(
                "S_C: {similarity:.3} (threshold {:.2}, {}), {} rounds, {:.0} ms",
                report.threshold,
                if report.converged {
                    "reached"
                } else {
                    "not reached: the closest round was applied"
                },
                report.rounds.len(),
                report.total_ms
            ),
            format!("verdict: {}", report.verdict),
            format!(
                "impulse response: {}",
                if ir.is_some() { "new" } else { "unchanged" }
            ),
        ];
        if let Some(path) = status_path().map(|p| p.with_file_name(REPORT_FILE)) {
            if let Ok(json) = serde_json::to_string_pretty(report) {
                write_file(&path, &json);
                lines.push(format!("report: {}", path.display()));
            }
        }
        if let Ok(mut g) = self.summary.lock() {
            *g = lines;
        }
        // One line for the host's log: the whole report (rounds, metrics, timings)
        // is kilobytes of JSON that no log reader wants.
        eprintln!(
            "faurge-lv2: bake applied ({} parameters, IR {}, S_C {:.3} in round {})",
            summary.params_set,
            if ir.is_some() { "new" } else { "unchanged" },
            result.report.best().map_or(f32::NAN, |r| r.similarity),
            result.report.best_round
        );
        Ok(summary)
    }
}
