//! Impulse responses as an instance keeps them ([`StoredIr`]: at their own rate, saved
//! with a session), and why one cannot become a kernel ([`KernelError`]). The one
//! function that prepares a kernel is `crate::session::Session::prepare_kernel`.

use serde::{Deserialize, Serialize};

/// An impulse response as an instance keeps and saves it: at its own sample rate,
/// resampled to the session rate when the kernel is built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredIr {
    /// Sample rate of `channels`, Hz.
    pub sample_rate: f32,
    /// `[channel][sample]`: 1 channel (applied to every channel) or one per channel.
    #[serde(with = "base64_channels")]
    pub channels: Vec<Vec<f32>>,
}

/// Why a stored IR cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IrError {
    /// No samples, or channels of different lengths.
    #[error("the impulse response has no samples or its channels differ in length")]
    Shape,
    /// More channels than the plugin processes.
    #[error("the impulse response has {0} channels; use 1 (shared) or 2 (per channel)")]
    Channels(usize),
    /// The rate is not a positive, finite number.
    #[error("the impulse response's sample rate {0} Hz is not usable")]
    SampleRate(f32),
    /// A sample is NaN or infinite.
    #[error("the impulse response contains a non-finite sample")]
    NonFinite,
}

impl StoredIr {
    /// Checks the shape, rate and samples.
    ///
    /// # Errors
    /// [`IrError`] naming the problem.
    pub fn validate(&self) -> Result<(), IrError> {
        let len = self.channels.first().map_or(0, Vec::len);
        if len == 0 || self.channels.iter().any(|c| c.len() != len) {
            return Err(IrError::Shape);
        }
        if self.channels.len() > faurge_dsp::MAX_CHANNELS {
            return Err(IrError::Channels(self.channels.len()));
        }
        if !(self.sample_rate.is_finite() && self.sample_rate >= 1.0) {
            return Err(IrError::SampleRate(self.sample_rate));
        }
        if self.channels.iter().flatten().any(|s| !s.is_finite()) {
            return Err(IrError::NonFinite);
        }
        Ok(())
    }
}

/// Base64 (RFC 4648, standard alphabet, padded) of little-endian `f32` bytes: exact
/// and compact storage for sample data in JSON.
pub mod base64_f32 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Encodes `samples`.
    pub fn encode(samples: &[f32]) -> String {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for k in 0..4 {
                if k <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * k)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Decodes text made by [`encode`]; `None` if it is not valid base64 of a whole
    /// number of `f32`s.
    pub fn decode(text: &str) -> Option<Vec<f32>> {
        let t = text.as_bytes();
        if !t.len().is_multiple_of(4) {
            return None;
        }
        let mut bytes = Vec::with_capacity(t.len() / 4 * 3);
        for chunk in t.chunks(4) {
            let mut n = 0u32;
            let mut pad = 0;
            for (k, &c) in chunk.iter().enumerate() {
                let v = match c {
                    b'A'..=b'Z' => c - b'A',
                    b'a'..=b'z' => c - b'a' + 26,
                    b'0'..=b'9' => c - b'0' + 52,
                    b'+' => 62,
                    b'/' => 63,
                    b'=' if k >= 2 => {
                        pad += 1;
                        0
                    }
                    _ => return None,
                };
                if pad > 0 && c != b'=' {
                    return None;
                }
                n = (n << 6) | u32::from(v);
            }
            let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.extend_from_slice(&b[..3 - pad]);
        }
        if !bytes.len().is_multiple_of(4) {
            return None;
        }
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
}

mod base64_channels {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(channels: &[Vec<f32>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(channels.iter().map(|c| super::base64_f32::encode(c)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                super::base64_f32::decode(t)
                    .ok_or_else(|| D::Error::custom("IR channel is not base64 of f32 samples"))
            })
            .collect()
    }
}

/// Why an IR could not be turned into a kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The stored IR itself is unusable.
    #[error("Could not use the impulse response: {0}")]
    Ir(#[from] IrError),
    /// Resampling to the session rate failed.
    #[error("Could not resample the impulse response from {from} Hz to {to} Hz: {source}")]
    Resample {
        /// IR rate, Hz.
        from: f32,
        /// Session rate, Hz.
        to: f32,
        /// What the resampler said.
        source: faurge_io::IoError,
    },
    /// The convolver refused it.
    #[error("Could not prepare the impulse response: {0}")]
    Build(#[from] faurge_dsp::convolver::ConvolverError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_bit_pattern_class() {
        let samples = [
            0.0,
            -0.0,
            1.0,
            -1.5e-38,
            f32::MIN_POSITIVE / 2.0,
            123.456,
            f32::MAX,
            1e-45,
        ];
        for n in 0..samples.len() {
            let text = base64_f32::encode(&samples[..n]);
            let back = base64_f32::decode(&text).unwrap();
            assert_eq!(
                back.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
                samples[..n].iter().map(|s| s.to_bits()).collect::<Vec<_>>()
            );
        }
        // RFC 4648 test vectors on raw bytes: "foob" = 4 bytes = 1.f32.
        let foob = f32::from_le_bytes(*b"foob");
        assert_eq!(base64_f32::encode(&[foob]), "Zm9vYg==");
        assert_eq!(
            base64_f32::decode("Zm9vYg==").unwrap()[0].to_bits(),
            foob.to_bits()
        );
        assert_eq!(base64_f32::decode("Zm9vYg="), None);
        assert_eq!(base64_f32::decode("Zm9v"), None, "3 bytes are not an f32");
        assert_eq!(base64_f32::decode("Zm9vY=g="), None);
        assert_eq!(base64_f32::decode("Zm9v*g=="), None);
    }

    #[test]
    fn stored_ir_json_round_trip_is_bit_exact() {
        let ir = StoredIr {
            sample_rate: 44_100.0,
            channels: vec![vec![1.0, 0.5, -0.25, 1e-30], vec![0.1, 0.2, 0.3, 0.4]],
        };
        let json = serde_json::to_string(&ir).unwrap();
        assert!(json.len() < 100, "{json}");
        let back: StoredIr = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ir);
        assert!(ir.validate().is_ok());
        let bad = StoredIr {
            sample_rate: 48_000.0,
            channels: vec![vec![1.0, f32::NAN]],
        };
        assert_eq!(bad.validate(), Err(IrError::NonFinite));
        let bad = StoredIr {
            sample_rate: 48_000.0,
            channels: vec![vec![1.0], vec![]],
        };
        assert_eq!(bad.validate(), Err(IrError::Shape));
        let bad = StoredIr {
            sample_rate: 0.0,
            channels: vec![vec![1.0]],
        };
        assert_eq!(bad.validate(), Err(IrError::SampleRate(0.0)));
        let bad = StoredIr {
            sample_rate: 48_000.0,
            channels: vec![vec![1.0]; 3],
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "the impulse response has 3 channels; use 1 (shared) or 2 (per channel)"
        );
    }
}
