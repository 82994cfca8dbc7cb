//! The generated TTL against the parameter table, then what real LV2 tools read from
//! the bundle: `lv2info` (every port with range, properties and units), `lv2ls`, and
//! `lv2_validate` (the LV2 schemas).

mod common;

use std::collections::HashMap;
use std::process::Command;

use common::{bundle_root, have_tool, run_lv2_tool, TempDir};
use faurge_lv2::ports::{
    BakeState, Variant, BAKE_SC_PORT, BAKE_STATE_PORT, FIRST_AUDIO_PORT, GAIN_REDUCTION_PORT,
    LATENCY_PORT,
};
use faurge_lv2::ttl::{manifest_ttl, plugin_ttl};
use faurge_params::{Kind, ParamSpec, Scale, Unit, PARAMS};

/// The outermost `[ … ]` groups of a Turtle text (blank-node property lists), which
/// for our files and lilv's dumps are the ports (and the maintainer).
fn bracket_groups(text: &str) -> Vec<&str> {
    let mut groups = Vec::new();
    let (mut depth, mut start, mut in_string) = (0usize, 0usize, false);
    let mut prev = ' ';
    for (i, c) in text.char_indices() {
        match c {
            '"' if prev != '\\' => in_string = !in_string,
            '[' if !in_string => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            ']' if !in_string => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    groups.push(&text[start..=i]);
                }
            }
            _ => {}
        }
        prev = c;
    }
    groups
}

/// The text of each plugin's description in `ttl`, by URI.
fn plugin_sections(ttl: &str) -> HashMap<Variant, &str> {
    let mut out = HashMap::new();
    for v in Variant::ALL {
        let head = format!("<{}>", v.uri());
        let start = ttl
            .find(&head)
            .unwrap_or_else(|| panic!("{} missing", v.uri()));
        let rest = &ttl[start + head.len()..];
        let end = rest.find("\n<http").unwrap_or(rest.len());
        out.insert(v, &rest[..end]);
    }
    out
}

/// The port group whose `lv2:symbol` is `symbol`.
fn port_group<'a>(section: &'a str, symbol: &str) -> &'a str {
    let needle = format!("lv2:symbol \"{symbol}\"");
    let found: Vec<&str> = bracket_groups(section)
        .into_iter()
        .filter(|g| g.contains(&needle))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "port {symbol}: {} descriptions",
        found.len()
    );
    found[0]
}

/// The object of `predicate` in a port group, up to ` ;`, `\n` or the end.
fn object<'a>(group: &'a str, predicate: &str) -> Option<&'a str> {
    let at = group.find(&format!("{predicate} "))?;
    let rest = &group[at + predicate.len() + 1..];
    let end = rest
        .find(" ;")
        .into_iter()
        .chain(rest.find('\n'))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim())
}

fn number(group: &str, predicate: &str) -> f32 {
    let text = object(group, predicate).unwrap_or_else(|| panic!("{predicate} missing in {group}"));
    text.parse()
        .unwrap_or_else(|_| panic!("{predicate} {text:?} is not a number"))
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// The unit IRI suffix or marker a parameter must have in a lilv dump or our TTL.
fn expected_unit(spec: &ParamSpec) -> Option<&'static str> {
    match spec.unit {
        Unit::Hz => Some("units#hz"),
        Unit::Db => Some("units#db"),
        Unit::Ms => Some("units#ms"),
        Unit::Percent => Some("units#pc"),
        Unit::Ratio => Some("\":1\""),
        Unit::None | Unit::Count | Unit::Toggle => None,
    }
}

/// Expands the `units:` prefix the way a dump would write the full IRI.
fn expand(text: &str) -> String {
    text.replace("units:", "http://lv2plug.in/ns/extensions/units#")
        .replace("pprops:", "http://lv2plug.in/ns/ext/port-props#")
        .replace("lv2:toggled", "http://lv2plug.in/ns/lv2core#toggled")
}

#[test]
fn generated_ttl_has_every_parameter_with_the_tables_range() {
    let ttl = plugin_ttl();
    for (variant, section) in plugin_sections(&ttl) {
        for (k, spec) in PARAMS.iter().enumerate() {
            let g = port_group(section, spec.id);
            assert!(
                g.contains("a lv2:InputPort , lv2:ControlPort"),
                "{}",
                spec.id
            );
            assert_eq!(
                number(g, "lv2:index") as usize,
                k,
                "{variant:?} {}",
                spec.id
            );
            assert_eq!(
                object(g, "lv2:name"),
                Some(format!("\"{}\"", spec.name).as_str())
            );
            assert!(close(number(g, "lv2:minimum"), spec.min), "{}", spec.id);
            assert!(close(number(g, "lv2:maximum"), spec.max), "{}", spec.id);
            assert!(close(number(g, "lv2:default"), spec.default), "{}", spec.id);
            let g = expand(g);
            match expected_unit(spec) {
                Some(u) => assert!(g.contains(u), "{}: unit {u} missing", spec.id),
                None => assert!(!g.contains("units#unit"), "{}: no unit expected", spec.id),
            }
            assert_eq!(
                g.contains("port-props#logarithmic"),
                spec.scale == Scale::Log,
                "{}",
                spec.id
            );
            assert_eq!(
                g.contains("lv2core#toggled"),
                spec.kind != Kind::Float,
                "{}",
                spec.id
            );
            assert_eq!(
                g.contains("port-props#trigger"),
                spec.kind == Kind::Trigger,
                "{}",
                spec.id
            );
        }
        let latency = port_group(section, "latency");
        assert_eq!(number(latency, "lv2:index") as u32, LATENCY_PORT);
        assert!(latency.contains("lv2:reportsLatency") && latency.contains("lv2:OutputPort"));
        assert_eq!(
            number(port_group(section, "gr_db"), "lv2:index") as u32,
            GAIN_REDUCTION_PORT
        );
        let state = port_group(section, "bake_state");
        assert_eq!(number(state, "lv2:index") as u32, BAKE_STATE_PORT);
        assert!(state.contains("lv2:OutputPort") && state.contains("lv2:enumeration"));
        for s in BakeState::ALL {
            assert!(
                state.contains(&format!(
                    "rdfs:label \"{}\" ; rdf:value {} ]",
                    s.label(),
                    s as u8
                )),
                "{s:?}"
            );
        }
        let sc = port_group(section, "bake_sc");
        assert_eq!(number(sc, "lv2:index") as u32, BAKE_SC_PORT);
        assert!(sc.contains("lv2:OutputPort"));
        for (c, sym) in variant
            .input_symbols()
            .iter()
            .chain(variant.output_symbols())
            .enumerate()
        {
            let g = port_group(section, sym);
            assert_eq!(number(g, "lv2:index") as u32, FIRST_AUDIO_PORT + c as u32);
            assert!(g.contains("lv2:AudioPort"));
        }
        // Nothing but audio and control ports (PipeWire 0.3.65 cannot connect atom ports),
        // and no required feature.
        assert_eq!(
            bracket_groups(section)
                .iter()
                .filter(|g| g.contains("lv2:index"))
                .count(),
            variant.num_ports() as usize
        );
        assert!(!section.contains("AtomPort") && !section.contains("requiredFeature"));
    }
    let manifest = manifest_ttl("libfaurge_lv2.so");
    for v in Variant::ALL {
        assert!(manifest.contains(&format!(
            "<{}>\n    a lv2:Plugin ;\n    lv2:binary <libfaurge_lv2.so> ;",
            v.uri()
        )));
    }
}

/// One port as `lv2info` prints it.
#[derive(Debug, Default)]
struct InfoPort {
    types: Vec<String>,
    symbol: String,
    name: String,
    min: Option<f32>,
    max: Option<f32>,
    default: Option<f32>,
    properties: Vec<String>,
}

/// Parses `lv2info`'s "Port N:" blocks (lilv 0.24 layout: `Key: value` lines, with
/// continuation lines for further values of the same key).
fn parse_lv2info(text: &str) -> Vec<InfoPort> {
    let mut ports: Vec<InfoPort> = Vec::new();
    let mut key = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(n) = t.strip_prefix("Port ").and_then(|r| r.strip_suffix(':')) {
            assert_eq!(
                n.parse::<usize>().ok(),
                Some(ports.len()),
                "ports out of order"
            );
            ports.push(InfoPort::default());
            key.clear();
            continue;
        }
        let Some(port) = ports.last_mut() else {
            continue;
        };
        let value = match t.split_once(':') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
                    && !v.starts_with("//") =>
            {
                key = k.trim().to_string();
                v.trim()
            }
            _ => t,
        };
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "Type" => port.types.push(value.to_string()),
            "Symbol" => port.symbol = value.to_string(),
            "Name" => port.name = value.to_string(),
            "Minimum" => port.min = value.parse().ok(),
            "Maximum" => port.max = value.parse().ok(),
            "Default" => port.default = value.parse().ok(),
            "Properties" => port.properties.push(value.to_string()),
            _ => {}
        }
    }
    ports
}

#[test]
fn lv2info_shows_every_port_with_range_properties_and_units() {
    if !have_tool("lv2info", "lilv-utils") || !have_tool("lv2ls", "lilv-utils") {
        return;
    }
    let listed = run_lv2_tool(&mut Command::new("lv2ls"));
    let tmp = TempDir::new("lv2info");
    for variant in Variant::ALL {
        assert!(
            listed.lines().any(|l| l.trim() == variant.uri()),
            "lv2ls does not list {}:\n{listed}",
            variant.uri()
        );
        let info = run_lv2_tool(Command::new("lv2info").arg(variant.uri()));
        assert!(
            info.contains(&format!("Name:              {}", variant.name())),
            "{info}"
        );
        assert!(
            info.contains(&format!(
                "Has latency:       yes, reported by port {LATENCY_PORT}"
            )),
            "{info}"
        );
        assert!(
            !info.contains("Required Features:") || !info.contains("http://lv2plug.in/ns/ext/atom")
        );
        let ports = parse_lv2info(&info);
        assert_eq!(
            ports.len(),
            variant.num_ports() as usize,
            "lv2info port count"
        );
        for (k, spec) in PARAMS.iter().enumerate() {
            let p = &ports[k];
            assert_eq!(p.symbol, spec.id, "port {k}");
            assert_eq!(p.name, spec.name, "port {k}");
            assert!(
                p.types.iter().any(|t| t.ends_with("lv2core#ControlPort")),
                "{}",
                spec.id
            );
            assert!(
                p.types.iter().any(|t| t.ends_with("lv2core#InputPort")),
                "{}",
                spec.id
            );
            assert!(
                close(p.min.unwrap(), spec.min),
                "{}: min {:?}",
                spec.id,
                p.min
            );
            assert!(
                close(p.max.unwrap(), spec.max),
                "{}: max {:?}",
                spec.id,
                p.max
            );
            assert!(
                close(p.default.unwrap(), spec.default),
                "{}: default {:?}",
                spec.id,
                p.default
            );
            let has = |s: &str| p.properties.iter().any(|x| x.ends_with(s));
            assert_eq!(
                has("lv2core#toggled"),
                spec.kind != Kind::Float,
                "{}",
                spec.id
            );
            assert_eq!(
                has("port-props#logarithmic"),
                spec.scale == Scale::Log,
                "{}",
                spec.id
            );
        }
        let latency = &ports[LATENCY_PORT as usize];
        assert_eq!(latency.symbol, "latency");
        assert!(latency.types.iter().any(|t| t.ends_with("#OutputPort")));
        for (c, sym) in variant
            .input_symbols()
            .iter()
            .chain(variant.output_symbols())
            .enumerate()
        {
            let p = &ports[FIRST_AUDIO_PORT as usize + c];
            assert_eq!(p.symbol, *sym);
            assert!(
                p.types.iter().any(|t| t.ends_with("lv2core#AudioPort")),
                "{sym}"
            );
        }

        // Units: lv2info's plain listing has none, so read the model lilv loaded
        // from its Turtle dump (`lv2info -p`).
        let dump_path = tmp.path(&format!("{variant:?}.ttl"));
        run_lv2_tool(
            Command::new("lv2info")
                .arg("-p")
                .arg(&dump_path)
                .arg(variant.uri()),
        );
        let dump = std::fs::read_to_string(&dump_path).expect("lv2info -p output");
        for spec in PARAMS {
            let g = expand(port_group(&dump, spec.id));
            match expected_unit(spec) {
                Some(u) => assert!(
                    g.contains(u),
                    "lv2info -p: {} has no unit {u}:\n{g}",
                    spec.id
                ),
                None => assert!(
                    !g.contains("units#unit"),
                    "lv2info -p: {} has a unit",
                    spec.id
                ),
            }
        }
        assert!(expand(port_group(&dump, "latency")).contains("units#frame"));
    }
}

#[test]
fn bundle_passes_lv2_validate() {
    if !have_tool("lv2_validate", "lv2-dev sordi") || !have_tool("sord_validate", "sordi") {
        return;
    }
    let bundle = bundle_root().join(faurge_lv2::bundle::BUNDLE_DIR_NAME);
    let out = Command::new("lv2_validate")
        .arg(bundle.join("manifest.ttl"))
        .arg(bundle.join("faurge.ttl"))
        .output()
        .expect("run lv2_validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lv2_validate failed:\n{text}");
    assert!(text.contains("Found 0 errors"), "lv2_validate:\n{text}");
    assert!(!text.contains("warning:"), "lv2_validate warnings:\n{text}");
}

/// `plugin/README.md` documents every port by its real symbol (PipeWire ignores a
/// control name it does not know, so a wrong one in the README fails silently).
#[test]
fn the_readme_names_every_port_by_its_symbol() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin/README.md"))
            .expect("plugin/README.md");
    let lv2 = &readme[readme.find("### LV2").expect("an LV2 section")..];
    for v in Variant::ALL {
        for i in 0..v.num_ports() {
            let symbol = v.symbol(i).unwrap();
            assert!(
                lv2.contains(&format!("`{symbol}`")),
                "plugin/README.md's LV2 section does not name port `{symbol}` of {}",
                v.uri()
            );
        }
    }
}
