//! Named starting points for the chain: hand-voiced vocal settings a user can
//! pick without a bake (the plugin's factory presets and `faurge render --preset`).
//!
//! These are ordinary mixing settings, not model output: the models choose their
//! own settings from the prompt and the input.

use crate::state::{CompressorState, DspState, EqBandState, EqState};

/// A named, described preset.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// Stable identifier, kebab-case (used on the command line and in sessions).
    pub name: &'static str,
    /// One line for a user: what it does to a voice.
    pub description: &'static str,
    /// The settings.
    pub state: fn() -> DspState,
}

/// Every preset, in the order a menu shows them.
pub const PRESETS: &[Preset] = &[
    Preset { name: "flat", description: "Transparent: every processor at unity", state: DspState::default },
    Preset {
        name: "clean-vocal",
        description: "80 Hz high-pass, gentle mud cut at 300 Hz, light presence lift, 3:1 compression",
        state: clean_vocal,
    },
    Preset {
        name: "warm-radio",
        description: "Broadcast warmth: low shelf lift, tamed 3-4 kHz edge, firm 4:1 compression, +dB makeup",
        state: warm_radio,
    },
    Preset {
        name: "podcast",
        description: "Even spoken word: 90 Hz high-pass, mud cut, presence at 4 kHz, air shelf, steady compression",
        state: podcast,
    },
    Preset {
        name: "telephone",
        description: "Narrow 300 Hz to 3.4 kHz band with a nasal 1.5 kHz bump",
        state: telephone,
    },
];

/// Looks a preset up by its name.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

fn band(enabled: bool, freq_hz: f32, gain_db: f32, q: f32) -> EqBandState {
    EqBandState {
        enabled,
        freq_hz,
        gain_db,
        q,
    }
}

fn with_bands(
    bands: [EqBandState; 8],
    compressor: CompressorState,
    output_trim_db: f32,
) -> DspState {
    DspState {
        eq: EqState { bands },
        compressor,
        output_trim_db,
        ..DspState::default()
    }
}

fn clean_vocal() -> DspState {
    with_bands(
        [
            band(true, 80.0, 0.0, 0.707),
            band(true, 150.0, 0.0, 0.707),
            band(true, 300.0, -3.0, 1.2),
            band(true, 1000.0, 0.0, 1.0),
            band(true, 3500.0, 2.0, 1.0),
            band(true, 7000.0, 0.0, 2.0),
            band(true, 12_000.0, 1.5, 0.707),
            band(false, 18_000.0, 0.0, 0.707),
        ],
        CompressorState {
            enabled: true,
            threshold_db: -22.0,
            ratio: 3.0,
            knee_db: 6.0,
            attack_ms: 8.0,
            release_ms: 120.0,
            makeup_db: 4.0,
        },
        0.0,
    )
}

fn warm_radio() -> DspState {
    with_bands(
        [
            band(true, 70.0, 0.0, 0.707),
            band(true, 180.0, 4.0, 0.707),
            band(true, 400.0, -2.0, 1.0),
            band(true, 1200.0, 0.0, 1.0),
            band(true, 3500.0, -2.5, 1.4),
            band(true, 6500.0, 0.0, 2.0),
            band(true, 10_000.0, -1.5, 0.707),
            band(true, 15_000.0, 0.0, 0.707),
        ],
        CompressorState {
            enabled: true,
            threshold_db: -24.0,
            ratio: 4.0,
            knee_db: 6.0,
            attack_ms: 5.0,
            release_ms: 150.0,
            makeup_db: 6.0,
        },
        0.0,
    )
}

fn podcast() -> DspState {
    with_bands(
        [
            band(true, 90.0, 0.0, 0.707),
            band(true, 150.0, 0.0, 0.707),
            band(true, 350.0, -3.0, 1.0),
            band(true, 1000.0, 0.0, 1.0),
            band(true, 4000.0, 3.0, 1.0),
            band(true, 7500.0, -2.0, 3.0),
            band(true, 11_000.0, 2.0, 0.707),
            band(false, 18_000.0, 0.0, 0.707),
        ],
        CompressorState {
            enabled: true,
            threshold_db: -20.0,
            ratio: 3.0,
            knee_db: 8.0,
            attack_ms: 10.0,
            release_ms: 200.0,
            makeup_db: 5.0,
        },
        0.0,
    )
}

fn telephone() -> DspState {
    with_bands(
        [
            band(true, 300.0, 0.0, 0.9),
            band(true, 150.0, 0.0, 0.707),
            band(true, 500.0, 0.0, 1.0),
            band(true, 1500.0, 5.0, 1.2),
            band(true, 3000.0, 0.0, 1.0),
            band(true, 6000.0, 0.0, 1.0),
            band(true, 10_000.0, 0.0, 0.707),
            band(true, 3400.0, 0.0, 0.9),
        ],
        CompressorState {
            enabled: true,
            threshold_db: -20.0,
            ratio: 6.0,
            knee_db: 3.0,
            attack_ms: 2.0,
            release_ms: 80.0,
            makeup_db: 4.0,
        },
        0.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_names_are_unique() {
        for p in PRESETS {
            (p.state)()
                .validate()
                .unwrap_or_else(|e| panic!("preset {}: {e}", p.name));
            assert_eq!(find(p.name).map(|f| f.name), Some(p.name));
        }
        assert!(find("no-such-preset").is_none());
    }
}
