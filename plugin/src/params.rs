//! The nice-plug parameter object, built row by row from [`faurge_params::PARAMS`],
//! plus the non-automatable state that is saved with the session.
//!
//! Parameters hold state and nothing else: storing an impulse response here does not
//! prepare its kernel. Whoever changes the IR queues the kernel (the bridge thread,
//! undo/redo); a session load from the host, whose only way in is
//! `Params::deserialize_fields`, hands a restored IR to the hook the plugin installs
//! ([`FaurgeParams::with_ir_restored`]).
//!
//! `FaurgeParams` implements nice-plug's `Params` by hand instead of deriving it, so
//! the ids, names, ranges and groups come from the table alone (the derive macro would
//! need each id written a second time as an attribute). Float parameters get
//! nice-plug smoothers (logarithmic for log-scaled ones, linear otherwise); the
//! `Chain` glides as well, so automation never clicks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use faurge_dsp::state::DspState;
use nice_plug::prelude::{
    BoolParam, FloatParam, FloatRange, Param, ParamPtr, Params, SmoothingStyle,
};

use faurge_instance::ir::{KernelError, StoredIr};
use faurge_instance::snapshot::DEFAULT_SNAPSHOT_SECONDS;
use faurge_params::{Kind, ParamSpec, ParamTarget, Scale, Unit, PARAMS};

use crate::state::{keys, STATE_FORMAT};

/// Smoothing time of every float parameter, ms.
pub const SMOOTHING_MS: f32 = 10.0;

/// One parameter as nice-plug sees it.
pub enum ParamHandle {
    /// A continuous parameter.
    Float(FloatParam),
    /// A switch, the bypass or a trigger.
    Bool(BoolParam),
}

impl ParamHandle {
    /// The current (unsmoothed) plain value; switches are 0 or 1.
    pub fn value(&self) -> f32 {
        match self {
            ParamHandle::Float(p) => p.value(),
            ParamHandle::Bool(p) => f32::from(u8::from(p.value())),
        }
    }

    /// The value `steps` samples further along its smoother (advancing it); switches
    /// are not smoothed. Realtime-safe.
    pub fn next_smoothed(&self, steps: u32) -> f32 {
        match self {
            ParamHandle::Float(p) => p.smoothed.next_step(steps.max(1)),
            ParamHandle::Bool(p) => f32::from(u8::from(p.value())),
        }
    }

    /// Settles the smoother at the current value. Realtime-safe.
    pub fn settle(&self) {
        if let ParamHandle::Float(p) = self {
            p.smoothed.reset(p.value());
        }
    }

    /// nice-plug's pointer to this parameter (for the wrappers and a `ParamWriter`).
    pub fn param_ptr(&self) -> ParamPtr {
        self.as_ptr()
    }

    fn as_ptr(&self) -> ParamPtr {
        match self {
            ParamHandle::Float(p) => p.as_ptr(),
            ParamHandle::Bool(p) => p.as_ptr(),
        }
    }
}

/// A nice-plug skew factor that puts the geometric midpoint of `min..max` at the knob's
/// centre, approximating the logarithmic mapping the table asks for.
pub fn log_skew_factor(min: f32, max: f32) -> f32 {
    let mid = (min * max).sqrt();
    0.5f32.ln() / ((mid - min) / (max - min)).ln()
}

fn make_param(spec: &'static ParamSpec) -> ParamHandle {
    match spec.kind {
        Kind::Float => {
            let (min, max) = (spec.min, spec.max);
            let (range, smoother) = match spec.scale {
                Scale::Log => (
                    FloatRange::Skewed {
                        min,
                        max,
                        factor: log_skew_factor(min, max),
                    },
                    SmoothingStyle::Logarithmic(SMOOTHING_MS),
                ),
                Scale::Linear | Scale::Toggle => (
                    FloatRange::Linear { min, max },
                    SmoothingStyle::Linear(SMOOTHING_MS),
                ),
            };
            let p = FloatParam::new(spec.name, spec.default, range)
                .with_smoother(smoother)
                .with_value_to_string(Arc::new(move |v| spec.format(v)))
                .with_string_to_value(Arc::new(move |s| spec.parse(s)));
            ParamHandle::Float(if spec.unit == Unit::Count {
                p.with_step_size(1.0)
            } else {
                p
            })
        }
        Kind::Switch | Kind::Trigger | Kind::Bypass => {
            let p = BoolParam::new(spec.name, spec.default >= 0.5)
                .with_value_to_string(Arc::new(move |v| spec.format(f32::from(u8::from(v)))))
                .with_string_to_value(Arc::new(move |s| spec.parse(s).map(|v| v >= 0.5)));
            ParamHandle::Bool(if spec.kind == Kind::Bypass {
                p.make_bypass()
            } else {
                p
            })
        }
    }
}

/// Every parameter (in table order) and the persisted non-parameter state.
pub struct FaurgeParams {
    /// `entries[k]` is the parameter of `PARAMS[k]`. Never resized after creation: the
    /// wrappers hold pointers into it.
    entries: Box<[ParamHandle]>,
    bypass: usize,
    bake: usize,
    auto_bake: usize,
    /// The last prompt typed for a bake.
    pub prompt: RwLock<String>,
    /// The current impulse response at its own rate (`None`: none loaded).
    ir: RwLock<Option<StoredIr>>,
    /// Bumped by every [`FaurgeParams::set_ir`], so the editor knows when to redraw it.
    ir_revision: AtomicU64,
    /// The last bake report, JSON text as the helper sent it.
    pub bake_report: RwLock<Option<String>>,
    /// Snapshot ring length, seconds; used at the next activation.
    snapshot_seconds: RwLock<f32>,
    /// Told about an IR a host's session load restored, before it is stored.
    ir_restored: IrRestored,
}

/// What [`FaurgeParams`] calls when a host's session load restores an impulse
/// response (`None`: the session has none), before storing it: the plugin queues its
/// kernel there. An error is logged and the IR is not stored.
pub type IrRestored = Box<dyn Fn(Option<&StoredIr>) -> Result<(), KernelError> + Send + Sync>;

impl Default for FaurgeParams {
    fn default() -> Self {
        Self::new()
    }
}

fn index_of(target: ParamTarget) -> usize {
    PARAMS.iter().position(|p| p.target == target).unwrap_or(0)
}

impl FaurgeParams {
    /// All parameters at their defaults, no IR, empty prompt and report; a restored
    /// IR is only stored.
    pub fn new() -> Self {
        FaurgeParams {
            entries: PARAMS.iter().map(make_param).collect(),
            bypass: index_of(ParamTarget::Bypass),
            bake: index_of(ParamTarget::Bake),
            auto_bake: index_of(ParamTarget::AutoBake),
            prompt: RwLock::new(String::new()),
            ir: RwLock::new(None),
            ir_revision: AtomicU64::new(0),
            bake_report: RwLock::new(None),
            snapshot_seconds: RwLock::new(DEFAULT_SNAPSHOT_SECONDS),
            ir_restored: Box::new(|_| Ok(())),
        }
    }

    /// These parameters, calling `hook` when a session load restores an IR.
    pub fn with_ir_restored(mut self, hook: IrRestored) -> Self {
        self.ir_restored = hook;
        self
    }

    /// The parameters in table order (`handles()[k]` belongs to `PARAMS[k]`).
    pub fn handles(&self) -> &[ParamHandle] {
        &self.entries
    }

    /// The parameter with table id `id`.
    pub fn handle(&self, id: &str) -> Option<&ParamHandle> {
        PARAMS
            .iter()
            .position(|p| p.id == id)
            .and_then(|k| self.entries.get(k))
    }

    /// The settings the current (unsmoothed) parameter values describe.
    pub fn dsp_state(&self) -> DspState {
        faurge_params::dsp_state_from(self.entries.iter().map(ParamHandle::value))
    }

    /// The settings `steps` samples along every smoother (advancing them). Realtime-safe.
    pub fn next_smoothed_dsp_state(&self, steps: u32) -> DspState {
        faurge_params::dsp_state_from(self.entries.iter().map(|p| p.next_smoothed(steps)))
    }

    /// Settles every smoother at its parameter's value. Realtime-safe.
    pub fn settle_smoothers(&self) {
        self.entries.iter().for_each(ParamHandle::settle);
    }

    /// True while the bypass switch is on.
    pub fn bypassed(&self) -> bool {
        self.entries
            .get(self.bypass)
            .is_some_and(|p| p.value() >= 0.5)
    }

    /// The Bake trigger's current value.
    pub fn bake(&self) -> bool {
        self.entries
            .get(self.bake)
            .is_some_and(|p| p.value() >= 0.5)
    }

    /// True while Auto-bake is on.
    pub fn auto_bake(&self) -> bool {
        self.entries
            .get(self.auto_bake)
            .is_some_and(|p| p.value() >= 0.5)
    }

    /// A copy of the stored impulse response.
    pub fn ir(&self) -> Option<StoredIr> {
        self.ir.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Stores a new impulse response (saved with the session). The caller queues its
    /// kernel (`faurge_instance::session::SessionSide::queue_ir`). Not for the audio
    /// thread (allocates).
    ///
    /// # Errors
    /// [`IrError`](faurge_instance::ir::IrError) if the IR is unusable; nothing is
    /// changed then.
    pub fn set_ir(&self, ir: Option<StoredIr>) -> Result<(), faurge_instance::ir::IrError> {
        if let Some(ir) = &ir {
            ir.validate()?;
        }
        if let Ok(mut g) = self.ir.write() {
            *g = ir;
        }
        self.ir_revision.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Changes whenever the impulse response is replaced ([`FaurgeParams::set_ir`]).
    pub fn ir_revision(&self) -> u64 {
        self.ir_revision.load(Ordering::Acquire)
    }

    /// Snapshot ring length for the next activation, seconds.
    pub fn snapshot_seconds(&self) -> f32 {
        self.snapshot_seconds
            .read()
            .map(|g| *g)
            .unwrap_or(DEFAULT_SNAPSHOT_SECONDS)
    }

    /// Sets the snapshot ring length (seconds, clamped when the ring is built); it
    /// takes effect at the next activation and is saved with the session.
    pub fn set_snapshot_seconds(&self, seconds: f32) {
        if let Ok(mut g) = self.snapshot_seconds.write() {
            *g = seconds;
        }
    }
}

fn json<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_string(value).ok()
}

// SAFETY: every `ParamPtr` handed out points into `self.entries`, a boxed slice that is
// never resized or moved for the lifetime of `self`; the wrappers keep the `Arc`
// holding `self` alive as long as they use the pointers.
unsafe impl Params for FaurgeParams {
    fn param_map(&self) -> Vec<(String, ParamPtr, String)> {
        PARAMS
            .iter()
            .zip(self.entries.iter())
            .map(|(spec, handle)| (spec.id.to_string(), handle.as_ptr(), spec.group.to_string()))
            .collect()
    }

    fn serialize_fields(&self) -> BTreeMap<String, String> {
        let mut fields = BTreeMap::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                fields.insert(key.to_string(), v);
            }
        };
        put(keys::FORMAT, json(&STATE_FORMAT));
        put(
            keys::PROMPT,
            self.prompt.read().ok().and_then(|g| json(&*g)),
        );
        put(keys::IR, self.ir.read().ok().and_then(|g| json(&*g)));
        put(
            keys::BAKE_REPORT,
            self.bake_report.read().ok().and_then(|g| json(&*g)),
        );
        put(keys::SNAPSHOT_SECONDS, json(&self.snapshot_seconds()));
        fields
    }

    fn deserialize_fields(&self, serialized: &BTreeMap<String, String>) {
        fn read<T: serde::de::DeserializeOwned>(
            map: &BTreeMap<String, String>,
            key: &str,
        ) -> Option<T> {
            let text = map.get(key)?;
            match serde_json::from_str(text) {
                Ok(v) => Some(v),
                Err(e) => {
                    nice_plug::nice_error!("Could not restore the saved \"{key}\": {e}");
                    None
                }
            }
        }
        if let Some(prompt) = read::<String>(serialized, keys::PROMPT) {
            if let Ok(mut g) = self.prompt.write() {
                *g = prompt;
            }
        }
        if let Some(report) = read::<Option<String>>(serialized, keys::BAKE_REPORT) {
            if let Ok(mut g) = self.bake_report.write() {
                *g = report;
            }
        }
        if let Some(seconds) = read::<f32>(serialized, keys::SNAPSHOT_SECONDS) {
            self.set_snapshot_seconds(seconds);
        }
        if let Some(ir) = read::<Option<StoredIr>>(serialized, keys::IR) {
            let restored = (self.ir_restored)(ir.as_ref())
                .and_then(|()| self.set_ir(ir).map_err(KernelError::from));
            if let Err(e) = restored {
                nice_plug::nice_error!("{e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nice_plug::prelude::ParamFlags;

    /// The nice-plug parameters are exactly the table: ids, order, names, groups,
    /// ranges, defaults, flags and formatting.
    #[test]
    fn nice_plug_params_equal_the_table() {
        let params = FaurgeParams::new();
        let map = params.param_map();
        assert_eq!(map.len(), PARAMS.len());
        for ((id, ptr, group), spec) in map.iter().zip(PARAMS) {
            assert_eq!(id, spec.id);
            assert_eq!(group, spec.group);
            // SAFETY: `params` outlives every use of `ptr` in this test.
            unsafe {
                assert_eq!(ptr.name(), spec.name, "{id}");
                assert_eq!(ptr.preview_plain(0.0), spec.min, "{id} min");
                assert_eq!(ptr.preview_plain(1.0), spec.max, "{id} max");
                assert_eq!(ptr.default_plain_value(), spec.default, "{id} default");
                let flags = ptr.flags();
                assert!(
                    !flags.contains(ParamFlags::NON_AUTOMATABLE)
                        && !flags.contains(ParamFlags::HIDDEN),
                    "{id}"
                );
                assert_eq!(
                    flags.contains(ParamFlags::BYPASS),
                    spec.kind == Kind::Bypass,
                    "{id}"
                );
                match spec.kind {
                    Kind::Float => {
                        assert_eq!(ptr.step_count(), None, "{id}");
                        let n = ptr.preview_normalized(spec.default);
                        assert_eq!(
                            ptr.normalized_value_to_string(n, true),
                            spec.format(spec.default),
                            "{id}"
                        );
                        let typed = ptr
                            .string_to_normalized_value(&spec.format(spec.max))
                            .unwrap();
                        assert!((typed - 1.0).abs() < 1e-3, "{id}: {typed}");
                        if spec.scale == Scale::Log {
                            let mid = (spec.min * spec.max).sqrt();
                            assert!(
                                (ptr.preview_normalized(mid) - 0.5).abs() < 1e-3,
                                "{id}: geometric midpoint"
                            );
                        }
                    }
                    _ => assert_eq!(ptr.step_count(), Some(1), "{id}"),
                }
            }
        }
        assert_eq!(params.dsp_state(), DspState::default());
    }

    #[test]
    fn persisted_fields_round_trip() {
        let a = FaurgeParams::new();
        *a.prompt.write().unwrap() = "warm radio voice".to_string();
        *a.bake_report.write().unwrap() = Some("{\"rounds\":3}".to_string());
        a.set_snapshot_seconds(4.0);
        let ir = StoredIr {
            sample_rate: 44_100.0,
            channels: vec![vec![1.0, -0.5, 0.25]],
        };
        a.set_ir(Some(ir.clone())).unwrap();
        let fields = a.serialize_fields();
        assert_eq!(fields[keys::FORMAT], "1");

        let b = FaurgeParams::new();
        b.deserialize_fields(&fields);
        assert_eq!(*b.prompt.read().unwrap(), "warm radio voice");
        assert_eq!(
            *b.bake_report.read().unwrap(),
            Some("{\"rounds\":3}".to_string())
        );
        assert_eq!(b.snapshot_seconds(), 4.0);
        assert_eq!(b.ir(), Some(ir));
        assert_eq!(b.serialize_fields(), fields);

        // A broken field is reported and skipped; the others still load.
        let mut broken = fields.clone();
        broken.insert(keys::IR.to_string(), "[not json".to_string());
        let c = FaurgeParams::new();
        c.deserialize_fields(&broken);
        assert_eq!(c.ir(), None);
        assert_eq!(*c.prompt.read().unwrap(), "warm radio voice");
        // An invalid IR is refused as a whole.
        assert!(c
            .set_ir(Some(StoredIr {
                sample_rate: 48_000.0,
                channels: vec![vec![f32::INFINITY]]
            }))
            .is_err());
        assert_eq!(c.ir(), None);
    }
}
