//! The LV2 port layout of both Faurge variants: plugin URIs, port indices and symbols.
//!
//! One layout serves the TTL generator ([`crate::ttl`]) and the plugin binary
//! ([`crate::plugin`]), so the two cannot disagree:
//!
//! | index | symbol | kind |
//! |---|---|---|
//! | `0 .. NUM_PARAMS` | `PARAMS[k].id` | control input, one per row of [`PARAMS`], same order |
//! | [`LATENCY_PORT`] | `latency` | control output: processing latency, samples |
//! | [`GAIN_REDUCTION_PORT`] | `gr_db` | control output: compressor gain reduction, dB ≥ 0 |
//! | [`BAKE_STATE_PORT`] | `bake_state` | control output: the last bake, [`BakeState`] as a number |
//! | [`BAKE_SC_PORT`] | `bake_sc` | control output: the last applied bake's `S_C` (0 before one) |
//! | [`FIRST_AUDIO_PORT`] `..` | `in` / `in_l`, `in_r` | audio inputs |
//! | then | `out` / `out_l`, `out_r` | audio outputs |
//!
//! The mono variant has one audio input and one output, the stereo variant two of
//! each; everything else is identical. There are no atom ports: PipeWire 0.3.65's
//! filter-chain cannot connect them.
//!
//! [`PARAMS`]: faurge_params::PARAMS

use faurge_params::PARAMS;

/// Number of control input ports: one per row of the parameter table.
pub const NUM_PARAMS: usize = PARAMS.len();

/// Index of the latency output port (`lv2:reportsLatency`, samples).
pub const LATENCY_PORT: u32 = NUM_PARAMS as u32;

/// Index of the gain-reduction meter output port (dB ≥ 0).
pub const GAIN_REDUCTION_PORT: u32 = NUM_PARAMS as u32 + 1;

/// Index of the bake state output port ([`BakeState`] as a number).
pub const BAKE_STATE_PORT: u32 = NUM_PARAMS as u32 + 2;

/// Index of the output port with the last applied bake's similarity `S_C`.
pub const BAKE_SC_PORT: u32 = NUM_PARAMS as u32 + 3;

/// Index of the first audio input port; audio outputs follow the inputs.
pub const FIRST_AUDIO_PORT: u32 = NUM_PARAMS as u32 + 4;

/// Symbol of the bake state output port.
pub const BAKE_STATE_SYMBOL: &str = "bake_state";

/// Symbol of the bake similarity output port.
pub const BAKE_SC_SYMBOL: &str = "bake_sc";

/// Where the last bake stands, as the `bake_state` port reports it (a number, so a
/// host without atom ports, like PipeWire's filter-chain, can show it:
/// `pw-cli enum-params <node> Props`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BakeState {
    /// No bake since the instance started.
    Idle = 0,
    /// A bake is running.
    Baking = 1,
    /// The last bake was applied.
    Applied = 2,
    /// The last bake failed (the reason is in the status file, `crate::bake::status_path`).
    Failed = 3,
    /// The last bake was cancelled.
    Cancelled = 4,
}

impl BakeState {
    /// Every state, by its number.
    pub const ALL: [BakeState; 5] = [
        BakeState::Idle,
        BakeState::Baking,
        BakeState::Applied,
        BakeState::Failed,
        BakeState::Cancelled,
    ];

    /// The label the TTL gives the value (`lv2:scalePoint`).
    pub const fn label(self) -> &'static str {
        match self {
            BakeState::Idle => "idle",
            BakeState::Baking => "baking",
            BakeState::Applied => "applied",
            BakeState::Failed => "failed",
            BakeState::Cancelled => "cancelled",
        }
    }
}

/// Highest value the gain-reduction meter port reports (and declares), dB.
pub const MAX_GAIN_REDUCTION_DB: f32 = 60.0;

/// Symbol of the latency output port.
pub const LATENCY_SYMBOL: &str = "latency";

/// Symbol of the gain-reduction meter output port.
pub const GAIN_REDUCTION_SYMBOL: &str = "gr_db";

/// The URI every Faurge LV2 plugin URI starts with (the project's repository).
pub const URI_BASE: &str = "https://github.com/faurge/faurge/lv2";

/// One of the two LV2 plugins in the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// One audio input, one audio output (a microphone; the PipeWire "Faurge Mic").
    Mono,
    /// Two audio inputs and outputs, stereo-linked compressor.
    Stereo,
}

impl Variant {
    /// Both variants, in the order `lv2_descriptor` lists them.
    pub const ALL: [Variant; 2] = [Variant::Mono, Variant::Stereo];

    /// The plugin URI (stable: hosts and PipeWire configs store it).
    pub const fn uri(self) -> &'static str {
        match self {
            Variant::Mono => "https://github.com/faurge/faurge/lv2#mono",
            Variant::Stereo => "https://github.com/faurge/faurge/lv2#stereo",
        }
    }

    /// The URI as a NUL-terminated C string (for `LV2_Descriptor::URI`).
    pub(crate) const fn uri_c(self) -> &'static std::ffi::CStr {
        match self {
            Variant::Mono => c"https://github.com/faurge/faurge/lv2#mono",
            Variant::Stereo => c"https://github.com/faurge/faurge/lv2#stereo",
        }
    }

    /// The variant with URI `uri`, if any.
    pub fn from_uri(uri: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.uri() == uri)
    }

    /// Audio channels: 1 (mono) or 2 (stereo).
    pub const fn channels(self) -> usize {
        match self {
            Variant::Mono => 1,
            Variant::Stereo => 2,
        }
    }

    /// "mono" or "stereo" (the URI's fragment).
    pub const fn slug(self) -> &'static str {
        match self {
            Variant::Mono => "mono",
            Variant::Stereo => "stereo",
        }
    }

    /// Name a host shows: "Faurge (mono)" or "Faurge (stereo)".
    pub const fn name(self) -> &'static str {
        match self {
            Variant::Mono => "Faurge (mono)",
            Variant::Stereo => "Faurge (stereo)",
        }
    }

    /// Symbols of the audio input ports, in channel order.
    pub const fn input_symbols(self) -> &'static [&'static str] {
        match self {
            Variant::Mono => &["in"],
            Variant::Stereo => &["in_l", "in_r"],
        }
    }

    /// Symbols of the audio output ports, in channel order.
    pub const fn output_symbols(self) -> &'static [&'static str] {
        match self {
            Variant::Mono => &["out"],
            Variant::Stereo => &["out_l", "out_r"],
        }
    }

    /// Total number of ports.
    pub const fn num_ports(self) -> u32 {
        FIRST_AUDIO_PORT + 2 * self.channels() as u32
    }

    /// What port `index` is, or `None` past the last port.
    pub const fn port(self, index: u32) -> Option<Port> {
        let ch = self.channels() as u32;
        if index < LATENCY_PORT {
            Some(Port::Control(index as usize))
        } else if index == LATENCY_PORT {
            Some(Port::Latency)
        } else if index == GAIN_REDUCTION_PORT {
            Some(Port::GainReduction)
        } else if index == BAKE_STATE_PORT {
            Some(Port::BakeState)
        } else if index == BAKE_SC_PORT {
            Some(Port::BakeSimilarity)
        } else if index < FIRST_AUDIO_PORT + ch {
            Some(Port::AudioIn((index - FIRST_AUDIO_PORT) as usize))
        } else if index < FIRST_AUDIO_PORT + 2 * ch {
            Some(Port::AudioOut((index - FIRST_AUDIO_PORT - ch) as usize))
        } else {
            None
        }
    }

    /// The port's symbol (a C identifier, unique within the plugin), or `None` past
    /// the last port.
    pub fn symbol(self, index: u32) -> Option<&'static str> {
        Some(match self.port(index)? {
            Port::Control(k) => PARAMS[k].id,
            Port::Latency => LATENCY_SYMBOL,
            Port::GainReduction => GAIN_REDUCTION_SYMBOL,
            Port::BakeState => BAKE_STATE_SYMBOL,
            Port::BakeSimilarity => BAKE_SC_SYMBOL,
            Port::AudioIn(c) => self.input_symbols()[c],
            Port::AudioOut(c) => self.output_symbols()[c],
        })
    }
}

/// What a port index stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// Control input for `PARAMS[k]`.
    Control(usize),
    /// Latency output, samples.
    Latency,
    /// Gain-reduction meter output, dB.
    GainReduction,
    /// The last bake's [`BakeState`].
    BakeState,
    /// The last applied bake's `S_C`.
    BakeSimilarity,
    /// Audio input of channel `c`.
    AudioIn(usize),
    /// Audio output of channel `c`.
    AudioOut(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_port_has_a_unique_c_identifier_symbol() {
        for v in Variant::ALL {
            let mut seen = HashSet::new();
            for i in 0..v.num_ports() {
                let s = v.symbol(i).unwrap();
                assert!(seen.insert(s), "{v:?}: symbol {s} used twice");
                let mut bytes = s.bytes();
                let first = bytes.next().unwrap();
                assert!(first.is_ascii_alphabetic() || first == b'_', "{s}");
                assert!(bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{s}");
            }
            assert_eq!(v.symbol(v.num_ports()), None);
            assert_eq!(Variant::from_uri(v.uri()), Some(v));
            assert!(v.uri().ends_with(&format!("#{}", v.slug())));
            assert_eq!(v.uri_c().to_str().unwrap(), v.uri());
            assert!(v.uri().starts_with(URI_BASE));
        }
    }

    #[test]
    fn control_ports_follow_the_table() {
        for (k, p) in PARAMS.iter().enumerate() {
            assert_eq!(Variant::Stereo.port(k as u32), Some(Port::Control(k)));
            assert_eq!(Variant::Mono.symbol(k as u32), Some(p.id));
        }
        assert_eq!(
            Variant::Mono.port(FIRST_AUDIO_PORT + 1),
            Some(Port::AudioOut(0))
        );
        assert_eq!(
            Variant::Stereo.port(FIRST_AUDIO_PORT + 1),
            Some(Port::AudioIn(1))
        );
        assert_eq!(
            Variant::Stereo.port(FIRST_AUDIO_PORT + 3),
            Some(Port::AudioOut(1))
        );
        assert_eq!(Variant::Stereo.port(FIRST_AUDIO_PORT + 4), None);
    }
}
