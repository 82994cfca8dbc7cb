//! The host-agnostic core of a Faurge plugin instance. Every format wraps it: the
//! CLAP/VST3/standalone build (`faurge-plugin`, on nice-plug) and the LV2 build
//! (`faurge-lv2`), which must not link each other. A fix here reaches every format.
//!
//! - [`core`]: the audio-thread work of one session ([`core::Core`]): the chain, the
//!   snapshot ring writer, the Bake trigger's edge and auto-bake, the IR kernel
//!   exchange, the click-free bypass.
//! - [`session`]: what the audio thread shares with the other threads, split by the
//!   realtime contract: [`session::AudioSide`] (atomics and slots) and
//!   [`session::SessionSide`] (locks, kernel preparation, garbage collection); and
//!   [`session::Session::prepare_kernel`], the one function that turns an impulse
//!   response into a convolver kernel.
//! - [`ir`]: impulse responses as an instance keeps and saves them.
//! - [`bridge`]: the bridge thread between the instance and the helper process.
//! - [`snapshot`], [`slot`], [`autobake`]: the lock-free pieces the core is made of.
//!
//! `docs/ARCHITECTURE.md` shows where each runs and the bake from button to cross-fade.

pub mod autobake;
pub mod bridge;
pub mod core;
pub mod ir;
pub mod session;
pub mod slot;
pub mod snapshot;
