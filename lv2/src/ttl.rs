//! The bundle's Turtle files (`manifest.ttl`, `faurge.ttl`), generated from the
//! plugin's parameter table so the LV2 build and the CLAP/VST3 build cannot drift.
//!
//! Every row of [`PARAMS`] becomes a control input port with the row's index, id
//! (as `lv2:symbol`), name, default, minimum and maximum, and:
//!
//! | table | TTL |
//! |---|---|
//! | `Unit::Hz` / `Db` / `Ms` | `units:unit units:hz` / `units:db` / `units:ms` |
//! | `Unit::Percent` | `units:unit units:pc` (the LV2 units percent) |
//! | `Unit::Ratio` | a custom `units:Unit` with symbol ":1" |
//! | `Unit::None` (Q) | no unit |
//! | `Unit::Count` (harmonics) | no unit, `lv2:portProperty lv2:integer` |
//! | switches, bypass, triggers | `lv2:portProperty lv2:toggled` (triggers also `pprops:trigger`) |
//! | `Scale::Log` | `lv2:portProperty pprops:logarithmic` |
//!
//! Vocabulary: LV2 core, port-props and units specifications (<https://lv2plug.in/ns/>).

use std::fmt::Write as _;

use faurge_params::{Kind, ParamSpec, ParamTarget, Scale, Unit, PARAMS};

use crate::ports::{
    BakeState, Variant, BAKE_SC_PORT, BAKE_SC_SYMBOL, BAKE_STATE_PORT, BAKE_STATE_SYMBOL,
    FIRST_AUDIO_PORT, GAIN_REDUCTION_PORT, GAIN_REDUCTION_SYMBOL, LATENCY_PORT, LATENCY_SYMBOL,
    MAX_GAIN_REDUCTION_DB,
};

/// File name of the plugin description inside the bundle.
pub const PLUGIN_TTL_NAME: &str = "faurge.ttl";

/// File name of the bundle manifest.
pub const MANIFEST_TTL_NAME: &str = "manifest.ttl";

/// Highest latency the latency port declares, samples (one second at 192 kHz).
pub const MAX_DECLARED_LATENCY: u32 = 192_000;

const PREFIXES: &str = "\
@prefix doap:   <http://usefulinc.com/ns/doap#> .
@prefix foaf:   <http://xmlns.com/foaf/0.1/> .
@prefix lv2:    <http://lv2plug.in/ns/lv2core#> .
@prefix pprops: <http://lv2plug.in/ns/ext/port-props#> .
@prefix rdf:    <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs:   <http://www.w3.org/2000/01/rdf-schema#> .
@prefix units:  <http://lv2plug.in/ns/extensions/units#> .
";

/// The `units:unit` object for `unit`, or `None` for dimensionless values and switches.
pub fn unit_ttl(unit: Unit) -> Option<&'static str> {
    match unit {
        Unit::Hz => Some("units:hz"),
        Unit::Db => Some("units:db"),
        Unit::Ms => Some("units:ms"),
        Unit::Percent => Some("units:pc"),
        Unit::Ratio => Some("[ a units:Unit ; rdfs:label \"ratio\" ; units:symbol \":1\" ; units:render \"%.1f:1\" ]"),
        Unit::None | Unit::Count | Unit::Toggle => None,
    }
}

/// The `lv2:portProperty` objects of a parameter (may be empty).
pub fn port_properties(spec: &ParamSpec) -> Vec<&'static str> {
    let mut props = Vec::new();
    if spec.kind != Kind::Float || spec.scale == Scale::Toggle {
        props.push("lv2:toggled");
    }
    if spec.kind == Kind::Trigger {
        props.push("pprops:trigger");
    }
    if spec.unit == Unit::Count {
        props.push("lv2:integer");
    }
    if spec.scale == Scale::Log {
        props.push("pprops:logarithmic");
    }
    props
}

/// The port comment of the rows that drive the helper (Bake, Auto-bake); `None` for
/// the others. See [`crate::bake`].
pub fn bake_comment(spec: &ParamSpec) -> Option<&'static str> {
    match spec.target {
        ParamTarget::Bake => Some("Off to on runs a bake through faurge-helper with the prompt in $XDG_CONFIG_HOME/faurge/prompt.txt (else ~/.config/faurge/prompt.txt); the result is applied inside the plugin until a control is moved"),
        ParamTarget::AutoBake => Some("On: bake again when the input changes character (level or brightness, for 3 s, at most every 10 s)"),
        _ => None,
    }
}

/// A number as a Turtle literal that always parses as a decimal or double ("80.0",
/// "0.707", "-18.0").
fn number(v: f32) -> String {
    let s = format!("{v:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// A Turtle string literal with `"` and `\` escaped.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A relative IRI for a file name: bytes outside RFC 3986 "unreserved" are
/// percent-encoded.
fn file_iri(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn control_port(out: &mut String, index: usize, spec: &ParamSpec) {
    let _ = writeln!(out, "    [\n        a lv2:InputPort , lv2:ControlPort ;");
    let _ = writeln!(out, "        lv2:index {index} ;");
    let _ = writeln!(out, "        lv2:symbol {} ;", string(spec.id));
    let _ = writeln!(out, "        lv2:name {} ;", string(spec.name));
    let _ = writeln!(out, "        lv2:default {} ;", number(spec.default));
    let _ = writeln!(out, "        lv2:minimum {} ;", number(spec.min));
    let _ = writeln!(out, "        lv2:maximum {} ;", number(spec.max));
    if let Some(unit) = unit_ttl(spec.unit) {
        let _ = writeln!(out, "        units:unit {unit} ;");
    }
    let props = port_properties(spec);
    if !props.is_empty() {
        let _ = writeln!(out, "        lv2:portProperty {} ;", props.join(" , "));
    }
    let comment = match (bake_comment(spec), spec.group) {
        (Some(c), _) => c.to_string(),
        (None, "") => format!("Parameter id {}", spec.id),
        (None, g) => format!("{g}; parameter id {}", spec.id),
    };
    let _ = writeln!(out, "        rdfs:comment {} ;", string(&comment));
    out.push_str("    ]");
}

fn plugin(out: &mut String, variant: Variant) {
    let _ = writeln!(out, "<{}>", variant.uri());
    let _ = writeln!(out, "    a lv2:Plugin , lv2:EQPlugin , doap:Project ;");
    let _ = writeln!(out, "    doap:name {} ;", string(variant.name()));
    let _ = writeln!(
        out,
        "    doap:license <https://spdx.org/licenses/GPL-3.0-or-later> ;"
    );
    let _ = writeln!(
        out,
        "    doap:maintainer [ foaf:name \"Faurge\" ; foaf:homepage <{}> ; foaf:mbox <mailto:faurge@users.noreply.github.com> ] ;",
        env!("CARGO_PKG_REPOSITORY")
    );
    let _ = writeln!(
        out,
        "    rdfs:comment {} ;",
        string(
            "Vocal chain: 8-band EQ, soft-knee compressor, corrective IR convolver and output trim. \
             Same engine and parameters as the CLAP/VST3 build; no GUI, no atom ports."
        )
    );
    let _ = writeln!(
        out,
        "    lv2:minorVersion {} ;",
        env!("CARGO_PKG_VERSION_MINOR")
    );
    let _ = writeln!(
        out,
        "    lv2:microVersion {} ;",
        env!("CARGO_PKG_VERSION_PATCH")
    );
    let _ = writeln!(out, "    lv2:optionalFeature lv2:hardRTCapable ;");
    out.push_str("    lv2:port\n");
    for (k, spec) in PARAMS.iter().enumerate() {
        control_port(out, k, spec);
        out.push_str(" ,\n");
    }
    let _ = write!(
        out,
        "    [\n        a lv2:OutputPort , lv2:ControlPort ;\n        lv2:index {LATENCY_PORT} ;\n        \
         lv2:symbol \"{LATENCY_SYMBOL}\" ;\n        lv2:name \"Latency\" ;\n        lv2:default 0 ;\n        \
         lv2:minimum 0 ;\n        lv2:maximum {MAX_DECLARED_LATENCY} ;\n        units:unit units:frame ;\n        \
         lv2:designation lv2:latency ;\n        lv2:portProperty lv2:reportsLatency , lv2:integer , pprops:notOnGUI ;\n    ] ,\n"
    );
    let _ = write!(
        out,
        "    [\n        a lv2:OutputPort , lv2:ControlPort ;\n        lv2:index {GAIN_REDUCTION_PORT} ;\n        \
         lv2:symbol \"{GAIN_REDUCTION_SYMBOL}\" ;\n        lv2:name \"Gain Reduction\" ;\n        lv2:default 0.0 ;\n        \
         lv2:minimum 0.0 ;\n        lv2:maximum {} ;\n        units:unit units:db ;\n        \
         rdfs:comment \"Compressor gain reduction meter, dB (0 = none)\" ;\n    ] ,\n",
        number(MAX_GAIN_REDUCTION_DB)
    );
    let _ = write!(
        out,
        "    [\n        a lv2:OutputPort , lv2:ControlPort ;\n        lv2:index {BAKE_STATE_PORT} ;\n        \
         lv2:symbol \"{BAKE_STATE_SYMBOL}\" ;\n        lv2:name \"Bake State\" ;\n        lv2:default 0 ;\n        \
         lv2:minimum 0 ;\n        lv2:maximum {} ;\n        lv2:portProperty lv2:integer , lv2:enumeration ;\n",
        BakeState::ALL.len() - 1
    );
    for state in BakeState::ALL {
        let _ = writeln!(
            out,
            "        lv2:scalePoint [ rdfs:label {} ; rdf:value {} ] ;",
            string(state.label()),
            state as u8
        );
    }
    let _ = write!(
        out,
        "        rdfs:comment \"The last bake: 0 idle, 1 baking, 2 applied, 3 failed, 4 cancelled; \
         its report and error are in $XDG_CONFIG_HOME/faurge/status.txt\" ;\n    ] ,\n"
    );
    let _ = write!(
        out,
        "    [\n        a lv2:OutputPort , lv2:ControlPort ;\n        lv2:index {BAKE_SC_PORT} ;\n        \
         lv2:symbol \"{BAKE_SC_SYMBOL}\" ;\n        lv2:name \"Bake Similarity\" ;\n        lv2:default 0.0 ;\n        \
         lv2:minimum -1.0 ;\n        lv2:maximum 1.0 ;\n        \
         rdfs:comment \"S_C of the last applied bake: how close the result sounds to the prompt (cosine, 0 before a bake)\" ;\n    ]"
    );
    let ch = variant.channels() as u32;
    let names: &[&str] = if ch == 1 {
        &["In", "Out"]
    } else {
        &["In L", "In R", "Out L", "Out R"]
    };
    for (c, symbol) in variant
        .input_symbols()
        .iter()
        .chain(variant.output_symbols())
        .enumerate()
    {
        let direction = if (c as u32) < ch {
            "lv2:InputPort"
        } else {
            "lv2:OutputPort"
        };
        let _ = write!(
            out,
            " ,\n    [\n        a lv2:AudioPort , {direction} ;\n        lv2:index {} ;\n        lv2:symbol {} ;\n        \
             lv2:name {} ;\n    ]",
            FIRST_AUDIO_PORT + c as u32,
            string(symbol),
            string(names[c])
        );
    }
    out.push_str(" .\n");
}

/// `faurge.ttl`: both plugins ([`Variant::Mono`], [`Variant::Stereo`]) with every
/// port (see [`crate::ports`] for the layout and the module docs for the mapping).
pub fn plugin_ttl() -> String {
    plugin_ttl_of(&Variant::ALL)
}

/// [`plugin_ttl`] with only `variants` (a bundle of one plugin, for a validator that
/// reads only a bundle's first plugin).
pub fn plugin_ttl_of(variants: &[Variant]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("# Generated by faurge_lv2::ttl::plugin_ttl() from faurge_params::PARAMS.\n");
    out.push_str("# Do not edit: change the parameter table and regenerate the bundle.\n\n");
    out.push_str(PREFIXES);
    for &variant in variants {
        out.push('\n');
        plugin(&mut out, variant);
    }
    out
}

/// `manifest.ttl`: both plugin URIs, with `binary_name` (the shared library's file
/// name inside the bundle, e.g. `libfaurge_lv2.so`) as `lv2:binary` and
/// [`PLUGIN_TTL_NAME`] as `rdfs:seeAlso`.
pub fn manifest_ttl(binary_name: &str) -> String {
    manifest_ttl_of(binary_name, &Variant::ALL)
}

/// [`manifest_ttl`] with only `variants`.
pub fn manifest_ttl_of(binary_name: &str, variants: &[Variant]) -> String {
    let mut out = String::new();
    out.push_str("# Generated by faurge_lv2::ttl::manifest_ttl().\n\n");
    out.push_str("@prefix lv2:  <http://lv2plug.in/ns/lv2core#> .\n");
    out.push_str("@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n");
    for &variant in variants {
        let _ = write!(
            out,
            "\n<{}>\n    a lv2:Plugin ;\n    lv2:binary <{}> ;\n    rdfs:seeAlso <{}> .\n",
            variant.uri(),
            file_iri(binary_name),
            PLUGIN_TTL_NAME
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_turtle_decimals() {
        assert_eq!(number(80.0), "80.0");
        assert_eq!(number(-18.0), "-18.0");
        assert_eq!(number(0.707), "0.707");
        assert_eq!(number(20_000.0), "20000.0");
        assert_eq!(number(1e-7), "1e-7");
    }

    #[test]
    fn strings_and_iris_are_escaped() {
        assert_eq!(string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(file_iri("libfaurge_lv2.so"), "libfaurge_lv2.so");
        assert_eq!(file_iri("my lib>.so"), "my%20lib%3E.so");
    }

    #[test]
    fn every_unit_maps() {
        for p in PARAMS {
            let props = port_properties(p);
            match p.unit {
                Unit::Toggle => {
                    assert!(unit_ttl(p.unit).is_none());
                    assert!(props.contains(&"lv2:toggled"), "{}", p.id);
                }
                Unit::None => assert!(unit_ttl(p.unit).is_none()),
                Unit::Count => {
                    assert!(unit_ttl(p.unit).is_none());
                    assert!(props.contains(&"lv2:integer"), "{}", p.id);
                }
                _ => assert!(unit_ttl(p.unit).is_some(), "{}", p.id),
            }
            assert_eq!(
                props.contains(&"pprops:logarithmic"),
                p.scale == Scale::Log,
                "{}",
                p.id
            );
        }
    }
}
