//! TODO(owner): presets
