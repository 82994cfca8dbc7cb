//! TODO(owner): analysis
