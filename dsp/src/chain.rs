//! TODO(owner): chain
