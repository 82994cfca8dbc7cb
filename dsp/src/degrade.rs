//! TODO(owner): degrade
