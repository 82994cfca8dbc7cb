//! TODO(owner): convolver
