//! The snapshot ring of raw input; it lives in `faurge-bridge` so the LV2 build shares it.

pub use faurge_bridge::snapshot::*;
