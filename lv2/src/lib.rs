//! Faurge as an LV2 plugin: a wrapper around the same host-agnostic instance core
//! (`faurge-instance`: the `faurge-dsp` [`Chain`], bypass, IR exchange, snapshot
//! ring, the bridge thread) and the same parameter table as the CLAP/VST3 build, for
//! LV2 hosts and PipeWire's filter-chain.
//!
//! Two plugins share one binary ([`ports::Variant`]): `…/lv2#mono` (one audio input
//! and output; the "Faurge Mic" PipeWire source uses it) and `…/lv2#stereo`. Their
//! ports are audio and control ports only: one control input per row of
//! [`faurge_params::PARAMS`] (same order, the row's id as symbol), a
//! latency output (`lv2:reportsLatency`) and a gain-reduction meter output. The plugin
//! requires no LV2 feature, so PipeWire 0.3.65's filter-chain, `lv2apply`, jalv and
//! DAWs can all load it. The Bake trigger port's rising edge (or Auto-bake) runs a bake
//! through the helper process with the prompt from `$XDG_CONFIG_HOME/faurge/prompt.txt`;
//! the result is applied inside the instance ([`bake`]).
//!
//! - [`ttl`] generates `manifest.ttl` and `faurge.ttl` from the table;
//!   [`bundle::write_bundle`] writes `faurge.lv2/`.
//! - [`plugin::Instance`] is the realtime instance; [`lv2_descriptor`] is the C entry
//!   point hosts call.
//!
//! [`Chain`]: faurge_dsp::chain::Chain

pub mod bake;
pub mod bundle;
mod ffi;
pub mod plugin;
pub mod ports;
pub mod ttl;

pub use ffi::lv2_descriptor;
