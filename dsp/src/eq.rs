//! TODO(owner): eq
