//! The model manager: loads each network only when its stage runs, and unloads
//! the least recently used ones when the next would exceed the memory budget
//! (`docs/DESIGN.md`, "Model swapping"; `docs/SPEC.md` keeps every agent stateless
//! so any of them can be dropped between stages).
//!
//! What a model costs is measured, not guessed: at start-up every model is loaded
//! once, in turn and without freeing the previous ones, and the growth of the
//! process' resident memory (`/proc/self/statm`) across its load and first forward
//! pass is its cost (never less than its file size). The budget then holds the
//! sum of the costs of the models loaded at the same time; the peak of that sum
//! is reported. The measured models stay loaded while they fit the budget, so
//! the first bake does not load them again. On CPU the budget is resident
//! memory; ONNX Runtime with CUDA also keeps weights in VRAM, which this
//! accounting approximates by the same figure.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::models::{Model, ModelError, ModelKind, ModelSet, Runtime};

/// Default memory budget: 4 GiB (the VRAM limit in `docs/SPEC.md`).
pub const DEFAULT_BUDGET_BYTES: u64 = 4 << 30;

/// Why the manager could not provide a model.
#[derive(Debug, Error)]
pub enum ManagerError {
    /// The budget is smaller than one model: no stage could ever run.
    #[error("The memory budget of {budget} is below what the {model} model needs ({needs}); raise --memory-budget to at least {needs}.", budget = human_bytes(*budget), needs = human_bytes(*needs))]
    BudgetTooSmall {
        /// The model that does not fit.
        model: &'static str,
        /// Its measured cost, bytes.
        needs: u64,
        /// The budget, bytes.
        budget: u64,
    },
    /// Loading or running a model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// `1.5 GiB`, `320 MiB`, `12 KiB`, `100 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, size) in UNITS {
        if b >= size {
            return format!("{:.1} {name}", b as f64 / size as f64);
        }
    }
    format!("{b} B")
}

/// Resident set size of this process, bytes (Linux `/proc/self/statm`; 0 elsewhere).
pub fn resident_bytes() -> u64 {
    let page = 4096u64;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

/// Peak resident set size of this process so far, bytes (`VmHWM`; 0 where unknown).
pub fn peak_resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .map_or(0, |kib| kib * 1024)
}

/// Counters of the manager's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// Model loads (including start-up measurement).
    pub loads: u64,
    /// Unloads forced by the budget.
    pub evictions: u64,
    /// Largest sum of the costs of models loaded at once, bytes.
    pub peak_bytes: u64,
}

/// Loads, keeps and evicts the models within a memory budget.
pub struct ModelManager {
    runtime: Runtime,
    set: ModelSet,
    budget: u64,
    costs: BTreeMap<ModelKind, u64>,
    /// Loaded models, least recently used first.
    loaded: Vec<Model>,
    stats: ManagerStats,
}

impl ModelManager {
    /// Measures every model's cost (see the module docs) and checks that each fits
    /// `budget_bytes` on its own.
    ///
    /// # Errors
    /// [`ManagerError::BudgetTooSmall`] for a budget below the largest model — at
    /// start-up, never mid-bake; [`ManagerError::Model`] when a model fails to load
    /// or run.
    pub fn new(runtime: Runtime, set: ModelSet, budget_bytes: u64) -> Result<Self, ManagerError> {
        let mut costs = BTreeMap::new();
        let mut probe = Vec::new();
        let mut loads = 0;
        for kind in ModelKind::ALL {
            let before = resident_bytes();
            let mut model = runtime.load(&set, kind)?;
            loads += 1;
            warm_up(&mut model, &set)?;
            let grown = resident_bytes().saturating_sub(before);
            costs.insert(kind, grown.max(set.model_bytes(kind)));
            probe.push(model);
        }
        for (&kind, &needs) in &costs {
            if needs > budget_bytes {
                return Err(ManagerError::BudgetTooSmall {
                    model: kind.key(),
                    needs,
                    budget: budget_bytes,
                });
            }
        }
        let mut manager = ModelManager {
            runtime,
            set,
            budget: budget_bytes,
            costs,
            loaded: probe,
            stats: ManagerStats {
                loads,
                ..ManagerStats::default()
            },
        };
        // The measured models stay loaded as far as the budget allows, so the
        // first bake does not load them a second time.
        while manager.loaded_bytes() > manager.budget {
            manager.loaded.remove(0);
        }
        manager.reset_peak();
        Ok(manager)
    }

    /// Changes the budget, unloading least recently used models until the loaded
    /// ones fit, and resets the peak to what stays loaded.
    ///
    /// # Errors
    /// [`ManagerError::BudgetTooSmall`] when a model alone exceeds `budget_bytes`
    /// (the budget is then unchanged).
    pub fn set_budget(&mut self, budget_bytes: u64) -> Result<(), ManagerError> {
        if let Some((&kind, &needs)) = self.costs.iter().find(|(_, &c)| c > budget_bytes) {
            return Err(ManagerError::BudgetTooSmall {
                model: kind.key(),
                needs,
                budget: budget_bytes,
            });
        }
        self.budget = budget_bytes;
        while self.loaded_bytes() > self.budget {
            self.loaded.remove(0);
            self.stats.evictions += 1;
        }
        self.reset_peak();
        Ok(())
    }

    /// The model folder.
    pub fn set(&self) -> &ModelSet {
        &self.set
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The budget, bytes.
    pub fn budget_bytes(&self) -> u64 {
        self.budget
    }

    /// Measured cost of each model, bytes.
    pub fn costs(&self) -> &BTreeMap<ModelKind, u64> {
        &self.costs
    }

    /// Counters so far.
    pub fn stats(&self) -> ManagerStats {
        self.stats
    }

    /// Sum of the costs of the models loaded now, bytes.
    pub fn loaded_bytes(&self) -> u64 {
        self.loaded.iter().map(|m| self.cost(m.kind())).sum()
    }

    /// Which models are loaded now, least recently used first.
    pub fn loaded(&self) -> Vec<ModelKind> {
        self.loaded.iter().map(Model::kind).collect()
    }

    fn cost(&self, kind: ModelKind) -> u64 {
        self.costs.get(&kind).copied().unwrap_or(0)
    }

    /// Runs `f` with `kind` loaded: loads it if needed, first unloading the least
    /// recently used models until it fits the budget.
    ///
    /// # Errors
    /// [`ManagerError::Model`] when loading fails or `f` fails.
    pub fn with<R>(
        &mut self,
        kind: ModelKind,
        f: impl FnOnce(&mut Model) -> Result<R, ModelError>,
    ) -> Result<R, ManagerError> {
        let pos = match self.loaded.iter().position(|m| m.kind() == kind) {
            Some(p) => p,
            None => {
                let need = self.cost(kind);
                while !self.loaded.is_empty() && self.loaded_bytes() + need > self.budget {
                    self.loaded.remove(0);
                    self.stats.evictions += 1;
                }
                let model = self.runtime.load(&self.set, kind)?;
                self.stats.loads += 1;
                self.loaded.push(model);
                self.stats.peak_bytes = self.stats.peak_bytes.max(self.loaded_bytes());
                self.loaded.len() - 1
            }
        };
        // Most recently used goes last.
        let model = self.loaded.remove(pos);
        self.loaded.push(model);
        let last = self.loaded.len() - 1;
        Ok(f(&mut self.loaded[last])?)
    }

    /// Resets the peak counter to what is loaded now (call at the start of a bake
    /// to report that bake's peak).
    pub fn reset_peak(&mut self) {
        self.stats.peak_bytes = self.loaded_bytes();
    }
}

/// One forward pass on neutral inputs, so the measured cost includes the
/// backend's working buffers, not only the weights.
fn warm_up(model: &mut Model, set: &ModelSet) -> Result<(), ModelError> {
    use crate::models::{EMBED_DIM, LTAS_BANDS, MEL_BANDS, SPECTRUM_BANDS, URSULA_INPUTS};
    let e = [0.0f32; EMBED_DIM];
    match model.kind() {
        ModelKind::EncoderText => model.encode_text(&set.tokenize("clear voice")).map(drop),
        ModelKind::EncoderAudio => {
            // A LAION tower reads the waveform: one second of a quiet 1 kHz tone.
            let tone: Vec<f32> = (0..48_000)
                .map(|i| 0.1 * (std::f32::consts::TAU * 1000.0 * i as f32 / 48_000.0).sin())
                .collect();
            model
                .encode_audio_input(&vec![-5.0; 300 * MEL_BANDS], &tone)
                .map(drop)
        }
        ModelKind::Fabian => model.fabian(&e, &e).map(drop),
        ModelKind::Ursula => model.ursula(&[0.0; URSULA_INPUTS]).map(drop),
        ModelKind::Genesis => model
            .genesis(&e, &[-60.0; SPECTRUM_BANDS], &[1.0; SPECTRUM_BANDS])
            .map(drop),
        ModelKind::ToneRepair => model
            .tone_repair(&[-30.0; LTAS_BANDS], &[1.0; LTAS_BANDS], &[0.0; 3])
            .map(drop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_reads_like_a_person_writes() {
        assert_eq!(human_bytes(4 << 30), "4.0 GiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_bytes(100), "100 B");
    }

    #[test]
    fn resident_memory_is_measured() {
        let before = resident_bytes();
        assert!(before > 0);
        // black_box: an optimised build may otherwise never make the vector.
        let v = std::hint::black_box(vec![1u8; 64 << 20]);
        let after = resident_bytes();
        assert!(after >= before + (48 << 20), "{before} → {after}");
        assert!(peak_resident_bytes() >= after);
        drop(v);
    }
}
