//! What Faurge stores in a host session besides parameter values, and how sessions
//! written by older versions are migrated.
//!
//! nice-plug saves a [`PluginState`]: `params` (id → plain value) and `fields`
//! (persist key → JSON text). Faurge's fields are listed in [`keys`]. The IR is a
//! [`StoredIr`], whose samples are stored as base64 of little-endian `f32` bytes
//! ([`faurge_instance::ir::base64_f32`]), so a reload restores them bit for bit and a
//! 2 s stereo IR at 48 kHz takes about 1 MB rather than 2.5 MB of decimal text.
//!
//! ## Format versions
//! The `format` field holds [`STATE_FORMAT`]. A state without it is version 0, the
//! layout of the development builds before the parameter table was frozen:
//! - the IR mix parameter was called `mix` and ran from 0 to 1; it is now `ir_mix`
//!   in percent (0–100);
//! - the IR was stored under `ir` as `{"rate": <Hz>, "samples": [<f32>, …]}` (mono,
//!   decimal JSON); it is now a [`StoredIr`].
//!
//! [`migrate`] turns a version-0 state into version 1; nice-plug calls it through
//! `Plugin::filter_state` before loading any state.

use faurge_instance::ir::StoredIr;
use nice_plug::plugin::{ParamValue, PluginState};
use serde::Deserialize;

/// The current state format version, stored under [`keys::FORMAT`].
pub const STATE_FORMAT: u32 = 1;

/// Persist keys (stable, like parameter ids: never renamed).
pub mod keys {
    /// State format version (`u32`).
    pub const FORMAT: &str = "format";
    /// The last prompt typed for a bake (`String`).
    pub const PROMPT: &str = "prompt";
    /// The current impulse response (`Option<StoredIr>`).
    pub const IR: &str = "ir";
    /// The last bake report, JSON text as the helper sent it (`Option<String>`).
    pub const BAKE_REPORT: &str = "bake_report";
    /// Snapshot ring length, seconds (`f32`).
    pub const SNAPSHOT_SECONDS: &str = "snapshot_s";
}

/// The version-0 IR field: mono samples as decimal JSON.
#[derive(Deserialize)]
struct IrV0 {
    rate: f32,
    samples: Vec<f32>,
}

/// The state's format version: the `format` field, 0 when absent or unreadable.
pub fn format_version(state: &PluginState) -> u32 {
    state
        .fields
        .get(keys::FORMAT)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(0)
}

/// Migrates `state` to [`STATE_FORMAT`] in place (see the module docs for what changed).
/// Unknown or unreadable old values are dropped rather than guessed, so the parameter
/// keeps its default; a state from a newer format is left alone.
pub fn migrate(state: &mut PluginState) {
    if format_version(state) == 0 {
        if let Some(ParamValue::F32(v)) = state.params.remove("mix") {
            state
                .params
                .entry("ir_mix".to_string())
                .or_insert(ParamValue::F32(v * 100.0));
        }
        if let Some(text) = state.fields.remove(keys::IR) {
            if let Ok(Some(IrV0 { rate, samples })) = serde_json::from_str::<Option<IrV0>>(&text) {
                let ir = StoredIr {
                    sample_rate: rate,
                    channels: vec![samples],
                };
                if let Ok(json) = serde_json::to_string(&Some(ir)) {
                    state.fields.insert(keys::IR.to_string(), json);
                }
            }
        }
        state
            .fields
            .insert(keys::FORMAT.to_string(), STATE_FORMAT.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn v0_state() -> PluginState {
        let mut params = BTreeMap::new();
        params.insert("mix".to_string(), ParamValue::F32(0.25));
        params.insert("p1_db".to_string(), ParamValue::F32(-4.0));
        let mut fields = BTreeMap::new();
        fields.insert(
            keys::IR.to_string(),
            r#"{"rate":44100.0,"samples":[1.0,0.5,0.125]}"#.to_string(),
        );
        fields.insert(
            keys::PROMPT.to_string(),
            r#""warm radio voice""#.to_string(),
        );
        PluginState {
            version: "0.0.9".to_string(),
            params,
            fields,
        }
    }

    #[test]
    fn version_0_state_migrates_to_version_1() {
        let mut state = v0_state();
        assert_eq!(format_version(&state), 0);
        migrate(&mut state);
        assert_eq!(format_version(&state), STATE_FORMAT);
        assert!(!state.params.contains_key("mix"));
        assert!(matches!(state.params.get("ir_mix"), Some(ParamValue::F32(v)) if *v == 25.0));
        assert!(matches!(state.params.get("p1_db"), Some(ParamValue::F32(v)) if *v == -4.0));
        let ir: Option<StoredIr> = serde_json::from_str(&state.fields[keys::IR]).unwrap();
        assert_eq!(
            ir,
            Some(StoredIr {
                sample_rate: 44_100.0,
                channels: vec![vec![1.0, 0.5, 0.125]]
            })
        );
        assert_eq!(state.fields[keys::PROMPT], r#""warm radio voice""#);
        // Migrating again changes nothing.
        let before = serde_json::to_string(&state).unwrap();
        migrate(&mut state);
        assert_eq!(serde_json::to_string(&state).unwrap(), before);
    }

    #[test]
    fn a_broken_version_0_ir_is_dropped_not_guessed() {
        let mut state = v0_state();
        state
            .fields
            .insert(keys::IR.to_string(), "{\"rate\": 44100".to_string());
        migrate(&mut state);
        assert!(!state.fields.contains_key(keys::IR));
        assert!(state.params.contains_key("ir_mix"));
    }
}
