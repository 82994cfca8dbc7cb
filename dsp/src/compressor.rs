//! TODO(owner): compressor
