//! The one list of Faurge's parameters: stable ids, names, units, ranges, defaults and
//! the `DspState` field each one drives.
//!
//! Everything else is built from [`PARAMS`]: the nice-plug parameter object
//! (`faurge_plugin::params`), the mapping to and from [`DspState`] ([`ParamSpec::write`],
//! [`ParamSpec::read`]), the LV2 ports and TTL (`faurge_lv2::ttl`). A parameter's `id`
//! is what hosts store in sessions and automation lanes: **never rename or reuse
//! one**; to change a parameter's meaning add a new id and migrate old sessions in
//! `faurge_plugin::state::migrate`.
//!
//! Ranges are the `faurge_dsp::state` constants, except the IR mix, which is shown in
//! percent (0–100 %) and maps to `ConvolverState::mix` (0–1). The high-pass and
//! low-pass bands have no gain parameter: the cookbook HPF/LPF ignore gain.
//!
//! Rows are only ever appended (the LV2 port index is the row index): the restoration
//! stages and the de-esser come after Auto-bake, and hum removal after the de-esser,
//! although they sit before the EQ in the signal path; hosts show them in their own
//! groups. Sessions saved before they existed
//! load with them off (their defaults).

use faurge_dsp::state::{
    DspState, EqBandState, DEFAULT_DECLICK_SENSITIVITY_PCT, DEFAULT_DEESSER_FREQ_HZ,
    DEFAULT_DEESSER_RANGE_DB, DEFAULT_DEESSER_THRESHOLD_DB, DEFAULT_DEHUM_FREQ_HZ,
    DEFAULT_DEHUM_HARMONICS, DEFAULT_DEHUM_Q, DEFAULT_DENOISE_REDUCTION_DB,
    DEFAULT_DENOISE_THRESHOLD_DB, DEFAULT_EXPANDER_ATTACK_MS, DEFAULT_EXPANDER_RANGE_DB,
    DEFAULT_EXPANDER_RATIO, DEFAULT_EXPANDER_RELEASE_MS, DEFAULT_EXPANDER_THRESHOLD_DB,
    MAX_ATTACK_MS, MAX_DECLICK_SENSITIVITY_PCT, MAX_DEESSER_FREQ_HZ, MAX_DEESSER_RANGE_DB,
    MAX_DEESSER_THRESHOLD_DB, MAX_DEHUM_FREQ_HZ, MAX_DEHUM_HARMONICS, MAX_DEHUM_Q,
    MAX_DENOISE_REDUCTION_DB, MAX_DENOISE_THRESHOLD_DB, MAX_EXPANDER_ATTACK_MS,
    MAX_EXPANDER_RANGE_DB, MAX_EXPANDER_RATIO, MAX_EXPANDER_RELEASE_MS, MAX_EXPANDER_THRESHOLD_DB,
    MAX_FREQ_HZ, MAX_GAIN_DB, MAX_KNEE_DB, MAX_MAKEUP_DB, MAX_Q, MAX_RATIO, MAX_RELEASE_MS,
    MAX_THRESHOLD_DB, MAX_TRIM_DB, MIN_ATTACK_MS, MIN_DECLICK_SENSITIVITY_PCT, MIN_DEESSER_FREQ_HZ,
    MIN_DEESSER_RANGE_DB, MIN_DEESSER_THRESHOLD_DB, MIN_DEHUM_FREQ_HZ, MIN_DEHUM_HARMONICS,
    MIN_DEHUM_Q, MIN_DENOISE_REDUCTION_DB, MIN_DENOISE_THRESHOLD_DB, MIN_EXPANDER_ATTACK_MS,
    MIN_EXPANDER_RANGE_DB, MIN_EXPANDER_RATIO, MIN_EXPANDER_RELEASE_MS, MIN_EXPANDER_THRESHOLD_DB,
    MIN_FREQ_HZ, MIN_GAIN_DB, MIN_KNEE_DB, MIN_MAKEUP_DB, MIN_Q, MIN_RATIO, MIN_RELEASE_MS,
    MIN_THRESHOLD_DB, MIN_TRIM_DB, NUM_BANDS,
};

/// The unit a parameter's plain value is in; decides its formatter and parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Hertz; shown as "250 Hz" or "1.25 kHz".
    Hz,
    /// Decibels; shown as "+3.0 dB".
    Db,
    /// Milliseconds; shown as "10.0 ms".
    Ms,
    /// Compression ratio x:1; shown as "4.0:1".
    Ratio,
    /// Percent 0–100; shown as "50.0 %".
    Percent,
    /// Dimensionless (Q); shown as "0.71".
    None,
    /// A whole number (how many harmonics); shown as "4", moved in steps of 1.
    Count,
    /// On/off switch, bypass or trigger; shown as "On"/"Off".
    Toggle,
}

impl Unit {
    /// The unit's symbol as a host or a TTL file shows it ("Hz", "dB", "ms", ":1", "%"),
    /// empty for dimensionless values and switches.
    pub const fn symbol(self) -> &'static str {
        match self {
            Unit::Hz => "Hz",
            Unit::Db => "dB",
            Unit::Ms => "ms",
            Unit::Ratio => ":1",
            Unit::Percent => "%",
            Unit::None | Unit::Count | Unit::Toggle => "",
        }
    }
}

/// How a host's knob or slider maps onto the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Even steps in the plain value.
    Linear,
    /// Even steps in the logarithm of the value (frequencies, Q, times, ratio); `min > 0`.
    Log,
    /// Two states, 0 and 1.
    Toggle,
}

/// What kind of control a parameter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A continuous value between `min` and `max`.
    Float,
    /// An on/off switch.
    Switch,
    /// The host's bypass switch (linked to the host's bypass control where it has one).
    Bypass,
    /// A momentary trigger: the action runs when the value goes from off to on.
    Trigger,
}

/// The setting a parameter drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamTarget {
    /// `eq.bands[i].enabled`.
    BandEnabled(usize),
    /// `eq.bands[i].freq_hz`.
    BandFreq(usize),
    /// `eq.bands[i].gain_db`.
    BandGain(usize),
    /// `eq.bands[i].q`.
    BandQ(usize),
    /// `compressor.enabled`.
    CompressorEnabled,
    /// `compressor.threshold_db`.
    Threshold,
    /// `compressor.ratio`.
    Ratio,
    /// `compressor.knee_db`.
    Knee,
    /// `compressor.attack_ms`.
    Attack,
    /// `compressor.release_ms`.
    Release,
    /// `compressor.makeup_db`.
    Makeup,
    /// `convolver.enabled`.
    IrEnabled,
    /// `convolver.mix` × 100 (the parameter is in percent).
    IrMix,
    /// `output_trim_db`.
    OutputTrim,
    /// Not part of `DspState`: the plugin's bypass.
    Bypass,
    /// Not part of `DspState`: its off → on edge asks the helper for a bake.
    Bake,
    /// Not part of `DspState`: bake again when the input changes character.
    AutoBake,
    /// `restoration.declip.enabled`.
    DeclipEnabled,
    /// `restoration.declick.enabled`.
    DeclickEnabled,
    /// `restoration.declick.sensitivity_pct`.
    DeclickSensitivity,
    /// `restoration.denoise.enabled`.
    DenoiseEnabled,
    /// `restoration.denoise.reduction_db`.
    DenoiseReduction,
    /// `restoration.denoise.threshold_db`.
    DenoiseThreshold,
    /// `restoration.dehum.enabled`.
    DehumEnabled,
    /// `restoration.dehum.freq_hz`.
    DehumFreq,
    /// `restoration.dehum.harmonics` (the plain value rounded to a whole number).
    DehumHarmonics,
    /// `restoration.dehum.q`.
    DehumQ,
    /// `restoration.expander.enabled`.
    ExpanderEnabled,
    /// `restoration.expander.threshold_db`.
    ExpanderThreshold,
    /// `restoration.expander.ratio`.
    ExpanderRatio,
    /// `restoration.expander.range_db`.
    ExpanderRange,
    /// `restoration.expander.attack_ms`.
    ExpanderAttack,
    /// `restoration.expander.release_ms`.
    ExpanderRelease,
    /// `deesser.enabled`.
    DeEsserEnabled,
    /// `deesser.freq_hz`.
    DeEsserFreq,
    /// `deesser.threshold_db`.
    DeEsserThreshold,
    /// `deesser.range_db`.
    DeEsserRange,
}

/// One row of the parameter table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// Stable id stored in sessions and automation. Never renamed.
    pub id: &'static str,
    /// Name a host shows.
    pub name: &'static str,
    /// Group (band or section) a host may show it under.
    pub group: &'static str,
    /// Unit of the plain value.
    pub unit: Unit,
    /// Lowest plain value (0 for switches).
    pub min: f32,
    /// Highest plain value (1 for switches).
    pub max: f32,
    /// Default plain value; the defaults together give `DspState::default()`.
    pub default: f32,
    /// Knob mapping.
    pub scale: Scale,
    /// Control kind.
    pub kind: Kind,
    /// The setting it drives.
    pub target: ParamTarget,
}

/// Display names of the EQ bands, in band order ([`faurge_dsp::state::BandKind::for_index`]).
pub const BAND_NAMES: [&str; NUM_BANDS] = [
    "HP",
    "Low Shelf",
    "Peak 1",
    "Peak 2",
    "Peak 3",
    "Peak 4",
    "High Shelf",
    "LP",
];

// One table row per call: the arguments are the table's columns.
#[allow(clippy::too_many_arguments)]
const fn float(
    id: &'static str,
    name: &'static str,
    group: &'static str,
    unit: Unit,
    range: (f32, f32),
    default: f32,
    scale: Scale,
    target: ParamTarget,
) -> ParamSpec {
    ParamSpec {
        id,
        name,
        group,
        unit,
        min: range.0,
        max: range.1,
        default,
        scale,
        kind: Kind::Float,
        target,
    }
}

const fn switch(
    id: &'static str,
    name: &'static str,
    group: &'static str,
    kind: Kind,
    default: bool,
    target: ParamTarget,
) -> ParamSpec {
    ParamSpec {
        id,
        name,
        group,
        unit: Unit::Toggle,
        min: 0.0,
        max: 1.0,
        default: if default { 1.0 } else { 0.0 },
        scale: Scale::Toggle,
        kind,
        target,
    }
}

const fn on(i: usize) -> bool {
    EqBandState::default_for(i).enabled
}
const fn hz(i: usize) -> f32 {
    EqBandState::default_for(i).freq_hz
}
const fn db(i: usize) -> f32 {
    EqBandState::default_for(i).gain_db
}
const fn q(i: usize) -> f32 {
    EqBandState::default_for(i).q
}

const FREQ: (f32, f32) = (MIN_FREQ_HZ, MAX_FREQ_HZ);
const GAIN: (f32, f32) = (MIN_GAIN_DB, MAX_GAIN_DB);
const QR: (f32, f32) = (MIN_Q, MAX_Q);

use Kind::{Bypass as KBypass, Switch, Trigger};
use ParamTarget::*;
use Scale::{Linear, Log};

/// Every parameter, in the order hosts list them. See the module docs for the rules.
#[rustfmt::skip]
pub const PARAMS: &[ParamSpec] = &[
    // id           name                    group         unit         range                                     default  scale   target
    switch("hp_on",  "HP Enable",            "HP",         Switch,      on(0),                                                      BandEnabled(0)),
    float("hp_hz",   "HP Frequency",         "HP",         Unit::Hz,    FREQ,                                     hz(0),   Log,    BandFreq(0)),
    float("hp_q",    "HP Q",                 "HP",         Unit::None,  QR,                                       q(0),    Log,    BandQ(0)),
    switch("ls_on",  "Low Shelf Enable",     "Low Shelf",  Switch,      on(1),                                                      BandEnabled(1)),
    float("ls_hz",   "Low Shelf Frequency",  "Low Shelf",  Unit::Hz,    FREQ,                                     hz(1),   Log,    BandFreq(1)),
    float("ls_db",   "Low Shelf Gain",       "Low Shelf",  Unit::Db,    GAIN,                                     db(1),   Linear, BandGain(1)),
    float("ls_q",    "Low Shelf Q",          "Low Shelf",  Unit::None,  QR,                                       q(1),    Log,    BandQ(1)),
    switch("p1_on",  "Peak 1 Enable",        "Peak 1",     Switch,      on(2),                                                      BandEnabled(2)),
    float("p1_hz",   "Peak 1 Frequency",     "Peak 1",     Unit::Hz,    FREQ,                                     hz(2),   Log,    BandFreq(2)),
    float("p1_db",   "Peak 1 Gain",          "Peak 1",     Unit::Db,    GAIN,                                     db(2),   Linear, BandGain(2)),
    float("p1_q",    "Peak 1 Q",             "Peak 1",     Unit::None,  QR,                                       q(2),    Log,    BandQ(2)),
    switch("p2_on",  "Peak 2 Enable",        "Peak 2",     Switch,      on(3),                                                      BandEnabled(3)),
    float("p2_hz",   "Peak 2 Frequency",     "Peak 2",     Unit::Hz,    FREQ,                                     hz(3),   Log,    BandFreq(3)),
    float("p2_db",   "Peak 2 Gain",          "Peak 2",     Unit::Db,    GAIN,                                     db(3),   Linear, BandGain(3)),
    float("p2_q",    "Peak 2 Q",             "Peak 2",     Unit::None,  QR,                                       q(3),    Log,    BandQ(3)),
    switch("p3_on",  "Peak 3 Enable",        "Peak 3",     Switch,      on(4),                                                      BandEnabled(4)),
    float("p3_hz",   "Peak 3 Frequency",     "Peak 3",     Unit::Hz,    FREQ,                                     hz(4),   Log,    BandFreq(4)),
    float("p3_db",   "Peak 3 Gain",          "Peak 3",     Unit::Db,    GAIN,                                     db(4),   Linear, BandGain(4)),
    float("p3_q",    "Peak 3 Q",             "Peak 3",     Unit::None,  QR,                                       q(4),    Log,    BandQ(4)),
    switch("p4_on",  "Peak 4 Enable",        "Peak 4",     Switch,      on(5),                                                      BandEnabled(5)),
    float("p4_hz",   "Peak 4 Frequency",     "Peak 4",     Unit::Hz,    FREQ,                                     hz(5),   Log,    BandFreq(5)),
    float("p4_db",   "Peak 4 Gain",          "Peak 4",     Unit::Db,    GAIN,                                     db(5),   Linear, BandGain(5)),
    float("p4_q",    "Peak 4 Q",             "Peak 4",     Unit::None,  QR,                                       q(5),    Log,    BandQ(5)),
    switch("hs_on",  "High Shelf Enable",    "High Shelf", Switch,      on(6),                                                      BandEnabled(6)),
    float("hs_hz",   "High Shelf Frequency", "High Shelf", Unit::Hz,    FREQ,                                     hz(6),   Log,    BandFreq(6)),
    float("hs_db",   "High Shelf Gain",      "High Shelf", Unit::Db,    GAIN,                                     db(6),   Linear, BandGain(6)),
    float("hs_q",    "High Shelf Q",         "High Shelf", Unit::None,  QR,                                       q(6),    Log,    BandQ(6)),
    switch("lp_on",  "LP Enable",            "LP",         Switch,      on(7),                                                      BandEnabled(7)),
    float("lp_hz",   "LP Frequency",         "LP",         Unit::Hz,    FREQ,                                     hz(7),   Log,    BandFreq(7)),
    float("lp_q",    "LP Q",                 "LP",         Unit::None,  QR,                                       q(7),    Log,    BandQ(7)),
    switch("cmp_on", "Compressor Enable",    "Compressor", Switch,      false,                                                      CompressorEnabled),
    float("cmp_thr", "Threshold",            "Compressor", Unit::Db,    (MIN_THRESHOLD_DB, MAX_THRESHOLD_DB),     -18.0,   Linear, Threshold),
    float("cmp_rat", "Ratio",                "Compressor", Unit::Ratio, (MIN_RATIO, MAX_RATIO),                   3.0,     Log,    Ratio),
    float("cmp_knee","Knee",                 "Compressor", Unit::Db,    (MIN_KNEE_DB, MAX_KNEE_DB),               6.0,     Linear, Knee),
    float("cmp_att", "Attack",               "Compressor", Unit::Ms,    (MIN_ATTACK_MS, MAX_ATTACK_MS),           10.0,    Log,    Attack),
    float("cmp_rel", "Release",              "Compressor", Unit::Ms,    (MIN_RELEASE_MS, MAX_RELEASE_MS),         120.0,   Log,    Release),
    float("cmp_mkp", "Makeup",               "Compressor", Unit::Db,    (MIN_MAKEUP_DB, MAX_MAKEUP_DB),           0.0,     Linear, Makeup),
    switch("ir_on",  "IR Enable",            "IR",         Switch,      false,                                                      IrEnabled),
    float("ir_mix",  "IR Mix",               "IR",         Unit::Percent, (0.0, 100.0),                           100.0,   Linear, IrMix),
    float("out_trim","Output Trim",          "Output",     Unit::Db,    (MIN_TRIM_DB, MAX_TRIM_DB),               0.0,     Linear, OutputTrim),
    switch("bypass", "Bypass",               "",           KBypass,     false,                                                      Bypass),
    switch("bake",   "Bake",                 "Bake",       Trigger,     false,                                                      Bake),
    switch("autobake","Auto-bake",           "Bake",       Switch,      false,                                                      AutoBake),
    switch("dclp_on", "De-clip Enable",      "De-clip",    Switch,      false,                                                      DeclipEnabled),
    switch("dclk_on", "De-click Enable",     "De-click",   Switch,      false,                                                      DeclickEnabled),
    float("dclk_sen","De-click Sensitivity", "De-click",   Unit::Percent, (MIN_DECLICK_SENSITIVITY_PCT, MAX_DECLICK_SENSITIVITY_PCT), DEFAULT_DECLICK_SENSITIVITY_PCT, Linear, DeclickSensitivity),
    switch("nrd_on", "Noise Reduction Enable", "Noise Reduction", Switch, false,                                                    DenoiseEnabled),
    float("nr_red",  "Noise Reduction",      "Noise Reduction", Unit::Db, (MIN_DENOISE_REDUCTION_DB, MAX_DENOISE_REDUCTION_DB), DEFAULT_DENOISE_REDUCTION_DB, Linear, DenoiseReduction),
    float("nr_thr",  "Noise Threshold",      "Noise Reduction", Unit::Db, (MIN_DENOISE_THRESHOLD_DB, MAX_DENOISE_THRESHOLD_DB), DEFAULT_DENOISE_THRESHOLD_DB, Linear, DenoiseThreshold),
    switch("exp_on", "Expander Enable",      "Expander",   Switch,      false,                                                      ExpanderEnabled),
    float("exp_thr", "Expander Threshold",   "Expander",   Unit::Db,    (MIN_EXPANDER_THRESHOLD_DB, MAX_EXPANDER_THRESHOLD_DB), DEFAULT_EXPANDER_THRESHOLD_DB, Linear, ExpanderThreshold),
    float("exp_rat", "Expander Ratio",       "Expander",   Unit::Ratio, (MIN_EXPANDER_RATIO, MAX_EXPANDER_RATIO), DEFAULT_EXPANDER_RATIO, Log, ExpanderRatio),
    float("exp_rng", "Expander Range",       "Expander",   Unit::Db,    (MIN_EXPANDER_RANGE_DB, MAX_EXPANDER_RANGE_DB), DEFAULT_EXPANDER_RANGE_DB, Linear, ExpanderRange),
    float("exp_att", "Expander Attack",      "Expander",   Unit::Ms,    (MIN_EXPANDER_ATTACK_MS, MAX_EXPANDER_ATTACK_MS), DEFAULT_EXPANDER_ATTACK_MS, Log, ExpanderAttack),
    float("exp_rel", "Expander Release",     "Expander",   Unit::Ms,    (MIN_EXPANDER_RELEASE_MS, MAX_EXPANDER_RELEASE_MS), DEFAULT_EXPANDER_RELEASE_MS, Log, ExpanderRelease),
    switch("dess_on","De-esser Enable",      "De-esser",   Switch,      false,                                                      DeEsserEnabled),
    float("dess_hz", "De-esser Freq",        "De-esser",   Unit::Hz,    (MIN_DEESSER_FREQ_HZ, MAX_DEESSER_FREQ_HZ), DEFAULT_DEESSER_FREQ_HZ, Log, DeEsserFreq),
    float("dess_thr","De-esser Threshold",   "De-esser",   Unit::Db,    (MIN_DEESSER_THRESHOLD_DB, MAX_DEESSER_THRESHOLD_DB), DEFAULT_DEESSER_THRESHOLD_DB, Linear, DeEsserThreshold),
    float("dess_rng","De-esser Range",       "De-esser",   Unit::Db,    (MIN_DEESSER_RANGE_DB, MAX_DEESSER_RANGE_DB), DEFAULT_DEESSER_RANGE_DB, Linear, DeEsserRange),
    switch("hum_on", "Hum Removal Enable",   "Hum Removal", Switch,     false,                                                      DehumEnabled),
    float("hum_hz",  "Hum Frequency",        "Hum Removal", Unit::Hz,   (MIN_DEHUM_FREQ_HZ, MAX_DEHUM_FREQ_HZ),   DEFAULT_DEHUM_FREQ_HZ, Linear, DehumFreq),
    float("hum_harm","Hum Harmonics",        "Hum Removal", Unit::Count, (MIN_DEHUM_HARMONICS as f32, MAX_DEHUM_HARMONICS as f32), DEFAULT_DEHUM_HARMONICS as f32, Linear, DehumHarmonics),
    float("hum_q",   "Hum Q",                "Hum Removal", Unit::None, (MIN_DEHUM_Q, MAX_DEHUM_Q),               DEFAULT_DEHUM_Q, Log, DehumQ),
];

/// The row with id `id`, if any.
pub fn find(id: &str) -> Option<&'static ParamSpec> {
    PARAMS.iter().find(|p| p.id == id)
}

impl ParamSpec {
    /// Writes the plain value `value` into the field of `state` this parameter drives
    /// (switches: `value >= 0.5` is on). Parameters outside `DspState` (bypass, bake,
    /// auto-bake) leave `state` unchanged. Never allocates.
    pub fn write(&self, state: &mut DspState, value: f32) {
        let on = value >= 0.5;
        match self.target {
            BandEnabled(i) => state.eq.bands[i % NUM_BANDS].enabled = on,
            BandFreq(i) => state.eq.bands[i % NUM_BANDS].freq_hz = value,
            BandGain(i) => state.eq.bands[i % NUM_BANDS].gain_db = value,
            BandQ(i) => state.eq.bands[i % NUM_BANDS].q = value,
            CompressorEnabled => state.compressor.enabled = on,
            Threshold => state.compressor.threshold_db = value,
            Ratio => state.compressor.ratio = value,
            Knee => state.compressor.knee_db = value,
            Attack => state.compressor.attack_ms = value,
            Release => state.compressor.release_ms = value,
            Makeup => state.compressor.makeup_db = value,
            IrEnabled => state.convolver.enabled = on,
            IrMix => state.convolver.mix = value / 100.0,
            OutputTrim => state.output_trim_db = value,
            DeclipEnabled => state.restoration.declip.enabled = on,
            DeclickEnabled => state.restoration.declick.enabled = on,
            DeclickSensitivity => state.restoration.declick.sensitivity_pct = value,
            DenoiseEnabled => state.restoration.denoise.enabled = on,
            DenoiseReduction => state.restoration.denoise.reduction_db = value,
            DenoiseThreshold => state.restoration.denoise.threshold_db = value,
            DehumEnabled => state.restoration.dehum.enabled = on,
            DehumFreq => state.restoration.dehum.freq_hz = value,
            // Saturating cast: NaN → 0, which the stage and `clamped` raise to 1.
            DehumHarmonics => state.restoration.dehum.harmonics = value.round() as u32,
            DehumQ => state.restoration.dehum.q = value,
            ExpanderEnabled => state.restoration.expander.enabled = on,
            ExpanderThreshold => state.restoration.expander.threshold_db = value,
            ExpanderRatio => state.restoration.expander.ratio = value,
            ExpanderRange => state.restoration.expander.range_db = value,
            ExpanderAttack => state.restoration.expander.attack_ms = value,
            ExpanderRelease => state.restoration.expander.release_ms = value,
            DeEsserEnabled => state.deesser.enabled = on,
            DeEsserFreq => state.deesser.freq_hz = value,
            DeEsserThreshold => state.deesser.threshold_db = value,
            DeEsserRange => state.deesser.range_db = value,
            Bypass | Bake | AutoBake => {}
        }
    }

    /// The plain value of this parameter that represents `state` (switches: 0 or 1),
    /// clamped to the parameter's range; `None` for parameters outside `DspState`. The
    /// inverse of [`ParamSpec::write`]; the helper's bake turns its `DspState` into
    /// parameter changes with it.
    pub fn read(&self, state: &DspState) -> Option<f32> {
        let b = |on: bool| if on { 1.0 } else { 0.0 };
        let v = match self.target {
            BandEnabled(i) => b(state.eq.bands[i % NUM_BANDS].enabled),
            BandFreq(i) => state.eq.bands[i % NUM_BANDS].freq_hz,
            BandGain(i) => state.eq.bands[i % NUM_BANDS].gain_db,
            BandQ(i) => state.eq.bands[i % NUM_BANDS].q,
            CompressorEnabled => b(state.compressor.enabled),
            Threshold => state.compressor.threshold_db,
            Ratio => state.compressor.ratio,
            Knee => state.compressor.knee_db,
            Attack => state.compressor.attack_ms,
            Release => state.compressor.release_ms,
            Makeup => state.compressor.makeup_db,
            IrEnabled => b(state.convolver.enabled),
            IrMix => state.convolver.mix * 100.0,
            OutputTrim => state.output_trim_db,
            DeclipEnabled => b(state.restoration.declip.enabled),
            DeclickEnabled => b(state.restoration.declick.enabled),
            DeclickSensitivity => state.restoration.declick.sensitivity_pct,
            DenoiseEnabled => b(state.restoration.denoise.enabled),
            DenoiseReduction => state.restoration.denoise.reduction_db,
            DenoiseThreshold => state.restoration.denoise.threshold_db,
            DehumEnabled => b(state.restoration.dehum.enabled),
            DehumFreq => state.restoration.dehum.freq_hz,
            DehumHarmonics => state.restoration.dehum.harmonics as f32,
            DehumQ => state.restoration.dehum.q,
            ExpanderEnabled => b(state.restoration.expander.enabled),
            ExpanderThreshold => state.restoration.expander.threshold_db,
            ExpanderRatio => state.restoration.expander.ratio,
            ExpanderRange => state.restoration.expander.range_db,
            ExpanderAttack => state.restoration.expander.attack_ms,
            ExpanderRelease => state.restoration.expander.release_ms,
            DeEsserEnabled => b(state.deesser.enabled),
            DeEsserFreq => state.deesser.freq_hz,
            DeEsserThreshold => state.deesser.threshold_db,
            DeEsserRange => state.deesser.range_db,
            Bypass | Bake | AutoBake => return None,
        };
        Some(if v.is_nan() {
            self.default
        } else {
            v.clamp(self.min, self.max)
        })
    }

    /// Formats a plain value with its unit, e.g. "1.25 kHz", "-3.0 dB", "4.0:1", "50.0 %".
    pub fn format(&self, value: f32) -> String {
        format_value(self.unit, value)
    }

    /// Parses what a user typed ("1.2k", "1200 Hz", "-3 dB", "4:1", "50%", "on") into a
    /// plain value clamped to the range; `None` if it is not a number.
    pub fn parse(&self, text: &str) -> Option<f32> {
        parse_value(self.unit, text).map(|v| v.clamp(self.min, self.max))
    }

    /// Position of `value` on a 0–1 knob: linear or logarithmic per [`ParamSpec::scale`].
    /// This is the exact mapping the LV2 TTL declares; nice-plug approximates `Log` with
    /// a skew that agrees at both ends and the geometric midpoint.
    pub fn normalize(&self, value: f32) -> f32 {
        let v = value.clamp(self.min, self.max);
        let n = match self.scale {
            Scale::Log => (v / self.min).ln() / (self.max / self.min).ln(),
            Scale::Linear | Scale::Toggle => (v - self.min) / (self.max - self.min),
        };
        n.clamp(0.0, 1.0)
    }
}

/// A [`DspState`] built from one plain value per row of [`PARAMS`] (`values[k]` for
/// `PARAMS[k]`; missing values take the row's default). The only place parameters
/// become DSP settings; the plugin and the LV2 wrapper both use it.
pub fn dsp_state_from(values: impl IntoIterator<Item = f32>) -> DspState {
    let mut state = DspState::default();
    let mut values = values.into_iter();
    for spec in PARAMS {
        let v = values.next().unwrap_or(spec.default);
        spec.write(&mut state, v);
    }
    state
}

/// One plain value per row of [`PARAMS`]: the row's default unless `overrides`
/// names its id (`(id, plain value)` pairs).
pub fn values_with(overrides: &[(&str, f32)]) -> Vec<f32> {
    PARAMS
        .iter()
        .map(|p| {
            overrides
                .iter()
                .find(|(id, _)| *id == p.id)
                .map_or(p.default, |&(_, v)| v)
        })
        .collect()
}

/// Formats `value` in `unit` (see [`Unit`] for the styles).
pub fn format_value(unit: Unit, value: f32) -> String {
    match unit {
        // Branch on the value as it will be shown, so 999.99994 reads "1.00 kHz".
        Unit::Hz if value.abs() >= 999.5 => format!("{:.2} kHz", value / 1000.0),
        Unit::Hz if value.abs() >= 99.95 => format!("{value:.0} Hz"),
        Unit::Hz => format!("{value:.1} Hz"),
        Unit::Db if value > 0.0 => format!("+{value:.1} dB"),
        Unit::Db => format!("{:.1} dB", if value == 0.0 { 0.0 } else { value }),
        Unit::Ms if value < 9.995 => format!("{value:.2} ms"),
        Unit::Ms if value < 99.95 => format!("{value:.1} ms"),
        Unit::Ms => format!("{value:.0} ms"),
        Unit::Ratio => format!("{value:.1}:1"),
        Unit::Percent => format!("{value:.1} %"),
        Unit::None => format!("{value:.2}"),
        Unit::Count => format!("{value:.0}"),
        Unit::Toggle => (if value >= 0.5 { "On" } else { "Off" }).to_string(),
    }
}

/// Parses user text in `unit`: the number, an optional "k" (kHz) multiplier for Hz, and
/// an optional unit suffix; ratios accept "4", "4:1"; switches accept on/off/true/false/1/0.
pub fn parse_value(unit: Unit, text: &str) -> Option<f32> {
    let t = text.trim().to_ascii_lowercase();
    if unit == Unit::Toggle {
        return match t.as_str() {
            "on" | "true" | "yes" | "1" | "bypassed" => Some(1.0),
            "off" | "false" | "no" | "0" | "active" => Some(0.0),
            _ => None,
        };
    }
    let (t, scale) = match unit {
        Unit::Hz => {
            let t = t.trim_end_matches("hz").trim_end();
            match t.strip_suffix('k') {
                Some(rest) => (rest.trim_end().to_string(), 1000.0),
                None => (t.to_string(), 1.0),
            }
        }
        Unit::Db => (t.trim_end_matches("db").trim_end().to_string(), 1.0),
        Unit::Ms => (t.trim_end_matches("ms").trim_end().to_string(), 1.0),
        Unit::Ratio => (t.trim_end_matches(":1").trim_end().to_string(), 1.0),
        Unit::Percent => (t.trim_end_matches('%').trim_end().to_string(), 1.0),
        Unit::None | Unit::Count | Unit::Toggle => (t, 1.0),
    };
    let v: f32 = t.trim().parse().ok()?;
    v.is_finite().then_some(v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_short_and_plain() {
        let mut seen = HashSet::new();
        for p in PARAMS {
            assert!(seen.insert(p.id), "duplicate id {}", p.id);
            assert!(p.id.len() <= 8, "{} is longer than 8 characters", p.id);
            assert!(
                p.id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                p.id
            );
            assert!(
                p.min < p.max && (p.min..=p.max).contains(&p.default),
                "{}",
                p.id
            );
            if p.scale == Scale::Log {
                assert!(p.min > 0.0, "{} is log-scaled but reaches 0", p.id);
            }
        }
    }

    /// nice-plug's CLAP and VST3 wrappers identify parameters by a 31-bit Rabin hash of
    /// the id (`hash_param_id`, restated here); two ids with the same hash would make one
    /// parameter unreachable.
    #[test]
    fn id_hashes_do_not_collide() {
        let hash = |id: &str| {
            id.bytes()
                .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)))
                & !(1 << 31)
        };
        let hashes: HashSet<u32> = PARAMS.iter().map(|p| hash(p.id)).collect();
        let colliding: Vec<(&str, &str)> = PARAMS
            .iter()
            .enumerate()
            .flat_map(|(i, a)| PARAMS[i + 1..].iter().map(move |b| (a.id, b.id)))
            .filter(|(a, b)| hash(a) == hash(b))
            .collect();
        assert!(
            colliding.is_empty(),
            "ids with the same hash: {colliding:?}"
        );
        assert_eq!(hashes.len(), PARAMS.len());
        // "nr_on" hashed like "p4_on", hence the noise reduction switch is "nrd_on".
        assert_eq!(hash("nr_on"), hash("p4_on"));
        assert!(find("nr_on").is_none() && find("nrd_on").is_some());
    }

    /// Ids are stored in users' sessions: this list may only grow.
    #[test]
    fn ids_never_change() {
        let ids: Vec<&str> = PARAMS.iter().map(|p| p.id).collect();
        let expected = [
            "hp_on", "hp_hz", "hp_q", "ls_on", "ls_hz", "ls_db", "ls_q", "p1_on", "p1_hz", "p1_db",
            "p1_q", "p2_on", "p2_hz", "p2_db", "p2_q", "p3_on", "p3_hz", "p3_db", "p3_q", "p4_on",
            "p4_hz", "p4_db", "p4_q", "hs_on", "hs_hz", "hs_db", "hs_q", "lp_on", "lp_hz", "lp_q",
            "cmp_on", "cmp_thr", "cmp_rat", "cmp_knee", "cmp_att", "cmp_rel", "cmp_mkp", "ir_on",
            "ir_mix", "out_trim", "bypass", "bake", "autobake", "dclp_on", "dclk_on", "dclk_sen",
            "nrd_on", "nr_red", "nr_thr", "exp_on", "exp_thr", "exp_rat", "exp_rng", "exp_att",
            "exp_rel", "dess_on", "dess_hz", "dess_thr", "dess_rng", "hum_on", "hum_hz",
            "hum_harm", "hum_q",
        ];
        assert_eq!(ids, expected);
    }

    #[test]
    fn defaults_give_the_default_dsp_state() {
        assert_eq!(
            dsp_state_from(PARAMS.iter().map(|p| p.default)),
            DspState::default()
        );
    }

    #[test]
    fn every_dsp_state_field_has_exactly_one_parameter() {
        // Moving each parameter away from its default must change the state, and read()
        // must give the value back: write and read are inverse for every row.
        for (k, spec) in PARAMS.iter().enumerate() {
            let moved = if spec.unit == Unit::Count {
                ((spec.min + spec.max) * 0.5 + 0.25).round()
            } else if spec.kind == Kind::Float {
                (spec.min + spec.max) * 0.5 + 0.25
            } else {
                1.0 - spec.default
            };
            let state = dsp_state_from(PARAMS.iter().enumerate().map(|(j, p)| {
                if j == k {
                    moved
                } else {
                    p.default
                }
            }));
            match spec.read(&state) {
                Some(v) => {
                    assert_ne!(
                        state,
                        DspState::default(),
                        "{} does not reach DspState",
                        spec.id
                    );
                    assert!(
                        (v - moved).abs() <= 1e-4 * moved.abs().max(1.0),
                        "{}: wrote {moved}, read {v}",
                        spec.id
                    );
                }
                None => assert_eq!(
                    state,
                    DspState::default(),
                    "{} must not touch DspState",
                    spec.id
                ),
            }
        }
        // Every band has enable/frequency/Q, shelves and peaks also gain, all in the
        // band's group.
        for (i, band) in BAND_NAMES.iter().enumerate() {
            let rows: Vec<&ParamSpec> = PARAMS
                .iter()
                .filter(|p| matches!(p.target, BandEnabled(j) | BandFreq(j) | BandQ(j) | BandGain(j) if j == i))
                .collect();
            assert_eq!(
                rows.len(),
                if i == 0 || i == 7 { 3 } else { 4 },
                "band {band}"
            );
            assert!(
                rows.iter()
                    .all(|p| p.group == *band && p.name.starts_with(band)),
                "band {band}"
            );
        }
    }

    #[test]
    fn read_of_a_random_state_round_trips() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let values: Vec<f32> = PARAMS
                .iter()
                .map(|p| {
                    if p.kind == Kind::Float {
                        rng.gen_range(p.min..=p.max)
                    } else {
                        f32::from(rng.gen_bool(0.5))
                    }
                })
                .collect();
            let state = dsp_state_from(values.iter().copied());
            let again = dsp_state_from(
                PARAMS
                    .iter()
                    .zip(&values)
                    .map(|(p, v)| p.read(&state).unwrap_or(*v)),
            );
            assert_eq!(state.eq, again.eq);
            assert_eq!(state.compressor, again.compressor);
            assert_eq!(state.output_trim_db, again.output_trim_db);
            assert_eq!(state.restoration, again.restoration);
            assert_eq!(state.deesser, again.deesser);
            assert!((state.convolver.mix - again.convolver.mix).abs() < 1e-6);
        }
    }

    #[test]
    fn formatters_and_parsers() {
        assert_eq!(format_value(Unit::Hz, 1250.0), "1.25 kHz");
        assert_eq!(format_value(Unit::Count, 4.0), "4");
        assert_eq!(find("hum_harm").unwrap().parse("7"), Some(7.0));
        assert_eq!(find("hum_harm").unwrap().parse("40"), Some(16.0));
        assert_eq!(format_value(Unit::Hz, 999.99994), "1.00 kHz");
        assert_eq!(format_value(Unit::Hz, 99.99), "100 Hz");
        assert_eq!(format_value(Unit::Ms, 9.999), "10.0 ms");
        assert_eq!(format_value(Unit::Hz, 250.0), "250 Hz");
        assert_eq!(format_value(Unit::Hz, 20.0), "20.0 Hz");
        assert_eq!(format_value(Unit::Db, 3.0), "+3.0 dB");
        assert_eq!(format_value(Unit::Db, -0.0), "0.0 dB");
        assert_eq!(format_value(Unit::Db, -12.25), "-12.2 dB");
        assert_eq!(format_value(Unit::Ms, 0.5), "0.50 ms");
        assert_eq!(format_value(Unit::Ms, 120.0), "120 ms");
        assert_eq!(format_value(Unit::Ratio, 4.0), "4.0:1");
        assert_eq!(format_value(Unit::Percent, 50.0), "50.0 %");
        assert_eq!(format_value(Unit::Toggle, 1.0), "On");
        assert_eq!(parse_value(Unit::Hz, "1.2k"), Some(1200.0));
        assert_eq!(parse_value(Unit::Hz, "1.25 kHz"), Some(1250.0));
        assert_eq!(parse_value(Unit::Hz, "80 Hz"), Some(80.0));
        assert_eq!(parse_value(Unit::Db, "-3 dB"), Some(-3.0));
        assert_eq!(parse_value(Unit::Db, "+3.0 dB"), Some(3.0));
        assert_eq!(parse_value(Unit::Ratio, "4:1"), Some(4.0));
        assert_eq!(parse_value(Unit::Ratio, "4.0:1"), Some(4.0));
        assert_eq!(parse_value(Unit::Percent, "50%"), Some(50.0));
        assert_eq!(parse_value(Unit::Toggle, "On"), Some(1.0));
        assert_eq!(parse_value(Unit::Db, "loud"), None);
        assert_eq!(parse_value(Unit::Db, "nan"), None);
        // Every formatted value parses back to (nearly) itself.
        for p in PARAMS {
            for v in [p.min, p.default, p.max] {
                let back = p.parse(&p.format(v)).unwrap();
                assert!(
                    (back - v).abs() <= 0.01 * v.abs().max(1.0),
                    "{}: {v} -> {} -> {back}",
                    p.id,
                    p.format(v)
                );
            }
        }
    }

    #[test]
    fn normalize_is_log_for_log_params() {
        let f = find("p1_hz").unwrap();
        assert_eq!(f.normalize(MIN_FREQ_HZ), 0.0);
        assert_eq!(f.normalize(MAX_FREQ_HZ), 1.0);
        assert!((f.normalize((MIN_FREQ_HZ * MAX_FREQ_HZ).sqrt()) - 0.5).abs() < 1e-5);
        let g = find("p1_db").unwrap();
        assert!((g.normalize(0.0) - 0.5).abs() < 1e-6);
    }
}
