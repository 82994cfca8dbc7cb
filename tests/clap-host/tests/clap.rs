//! `Faurge.clap` in a real CLAP host (clack-host): descriptor, ports, parameters,
//! rendering real speech at 44.1–192 kHz with host blocks of 1, 64, 480, 4096 and
//! random sizes, sample-accurate parameter events, extreme automation, bad input, state
//! round trips and migration, reactivation and rate changes, mono.
//!
//! The bundle under test is built by `cargo xtask bundle --host-test` with debug
//! assertions and nice-plug's `assert_process_allocs`: any allocation inside
//! `process()` aborts this test binary. Expected outputs come from the `faurge-dsp`
//! `Chain` driven directly with the same settings (an independent restatement of the
//! parameter mapping is in [`expected_state`]).

use faurge_clap_host_tests::{
    base64_f32, bool_value, bundles, f32_value, param_values, parse_state, state_blob,
    voiced_speech, Instance, Library, ParamChange,
};
use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_dsp::state::DspState;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ID: &str = "com.github.faurge.faurge";

/// Largest accepted difference from the faurge-dsp render: -120 dBFS. Without an IR
/// the plugin matches bit for bit; with one, the convolver's rounding depends on how
/// the audio is cut into calls (about 1e-7).
const TOLERANCE: f32 = 1e-6;

/// A vocal chain a mixing engineer might dial in: HP, shelves, two peaks, 4:1 compression.
const VOCAL: &[(&str, f32)] = &[
    ("hp_on", 1.0),
    ("hp_hz", 90.0),
    ("ls_hz", 150.0),
    ("ls_db", 3.0),
    ("p1_hz", 300.0),
    ("p1_db", -4.0),
    ("p1_q", 1.2),
    ("p3_hz", 3500.0),
    ("p3_db", 3.0),
    ("p3_q", 0.9),
    ("hs_hz", 9000.0),
    ("hs_db", 2.5),
    ("cmp_on", 1.0),
    ("cmp_thr", -24.0),
    ("cmp_rat", 4.0),
    ("cmp_knee", 6.0),
    ("cmp_att", 5.0),
    ("cmp_rel", 80.0),
    ("cmp_mkp", 6.0),
    ("out_trim", -3.0),
];

/// The DspState the plugin must run for these parameter values (written here
/// independently of the plugin's table, as the test oracle).
fn expected_state(values: &[(&str, f32)]) -> DspState {
    let mut s = DspState::default();
    let bands = ["hp", "ls", "p1", "p2", "p3", "p4", "hs", "lp"];
    for &(id, v) in values {
        let on = v >= 0.5;
        let (prefix, field) = id.split_once('_').unwrap_or((id, ""));
        if let Some(i) = bands.iter().position(|b| *b == prefix) {
            let b = &mut s.eq.bands[i];
            match field {
                "on" => b.enabled = on,
                "hz" => b.freq_hz = v,
                "db" => b.gain_db = v,
                "q" => b.q = v,
                _ => panic!("unknown band field {id}"),
            }
            continue;
        }
        let c = &mut s.compressor;
        match id {
            "cmp_on" => c.enabled = on,
            "cmp_thr" => c.threshold_db = v,
            "cmp_rat" => c.ratio = v,
            "cmp_knee" => c.knee_db = v,
            "cmp_att" => c.attack_ms = v,
            "cmp_rel" => c.release_ms = v,
            "cmp_mkp" => c.makeup_db = v,
            "ir_on" => s.convolver.enabled = on,
            "ir_mix" => s.convolver.mix = v / 100.0,
            "out_trim" => s.output_trim_db = v,
            "bypass" | "bake" | "autobake" => {}
            _ => panic!("unknown parameter {id}"),
        }
    }
    s
}

/// A version-1 session with these parameter values and optional IR.
/// Parameter values as a session stores them: switches as booleans, the rest as numbers.
fn session(values: &[(&str, f32)], ir: Option<(f32, &[Vec<f32>])>) -> Vec<u8> {
    let params = param_values(values);
    let mut fields = vec![
        ("format", "1".to_string()),
        ("prompt", "\"warm radio voice\"".to_string()),
    ];
    if let Some((rate, channels)) = ir {
        let chans: Vec<String> = channels.iter().map(|c| base64_f32(c)).collect();
        fields.push((
            "ir",
            serde_json::json!({ "sample_rate": rate, "channels": chans }).to_string(),
        ));
    }
    state_blob("0.1.0", &params, &fields)
}

/// `seconds` of voiced speech at `rate`; channel 1 (if any) is a quieter, 17-sample
/// delayed copy so the channels differ.
fn speech(rate: u32, seconds: f32, channels: usize) -> Vec<Vec<f32>> {
    let left = voiced_speech(rate, seconds);
    let n = left.len();
    let right: Vec<f32> = (0..n)
        .map(|i| if i >= 17 { 0.7 * left[i - 17] } else { 0.0 })
        .collect();
    [left, right].into_iter().take(channels).collect()
}

/// A short synthetic room-ish IR: a direct impulse and decaying noise (fixed seed).
fn test_ir(rate: f32, seconds: f32) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = (rate * seconds) as usize;
    let ir = (0..n)
        .map(|i| {
            if i == 0 {
                1.0
            } else {
                0.3 * rng.gen_range(-1.0f32..1.0) * (-(i as f32) / (0.02 * rate)).exp()
            }
        })
        .collect();
    vec![ir]
}

/// The faurge-dsp render of `input` with `state` (and IR at `rate`).
fn reference(
    rate: f32,
    state: &DspState,
    ir: Option<&[Vec<f32>]>,
    input: &[Vec<f32>],
) -> Vec<Vec<f32>> {
    let mut chain = Chain::new(ChainConfig::new(rate, input.len())).unwrap();
    chain.snap_to_state(state);
    if let Some(ir) = ir {
        let refs: Vec<&[f32]> = ir.iter().map(Vec::as_slice).collect();
        drop(chain.replace_ir(chain.kernel_builder().build(&refs).unwrap()));
    }
    let mut out = input.to_vec();
    let mut refs: Vec<&mut [f32]> = out.iter_mut().map(Vec::as_mut_slice).collect();
    chain.process(&mut refs);
    out
}

/// `audio` delayed by `n` frames (zeros first), at its own length: what a plugin
/// with `n` samples of latency passes through.
fn delayed(audio: &[Vec<f32>], n: usize) -> Vec<Vec<f32>> {
    audio
        .iter()
        .map(|c| {
            let mut d = vec![0.0; n.min(c.len())];
            d.extend_from_slice(&c[..c.len() - n.min(c.len())]);
            d
        })
        .collect()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

fn peak(a: &[Vec<f32>]) -> f32 {
    a.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()))
}

fn assert_finite(out: &[Vec<f32>], what: &str) {
    for (c, ch) in out.iter().enumerate() {
        if let Some(i) = ch.iter().position(|v| !v.is_finite()) {
            panic!("{what}: channel {c} sample {i} is {}", ch[i]);
        }
    }
}

fn library() -> Library {
    Library::load(&bundles().clap)
}

/// A fresh instance with a session of `values` (and IR at its rate) loaded.
fn configured(values: &[(&str, f32)], ir: Option<(f32, &[Vec<f32>])>) -> Instance {
    let mut p = library().instantiate(ID);
    assert!(
        p.load_state(&session(values, ir)),
        "the session was refused"
    );
    p
}

fn fixed(n: usize) -> Box<dyn Iterator<Item = usize> + Send> {
    Box::new(std::iter::repeat(n))
}

fn random_blocks(seed: u64) -> Box<dyn Iterator<Item = usize> + Send> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Box::new(std::iter::from_fn(move || Some(rng.gen_range(1..=4096))))
}

#[test]
fn descriptor_ports_parameters_and_latency() {
    let lib = library();
    let descriptors = lib.descriptors();
    assert_eq!(descriptors.len(), 1);
    let d = &descriptors[0];
    assert_eq!(
        (d.id.as_str(), d.name.as_str(), d.vendor.as_str()),
        (ID, "Faurge", "Faurge")
    );
    assert_eq!(d.version, "0.1.0");
    for f in ["audio-effect", "equalizer", "compressor", "mono", "stereo"] {
        assert!(
            d.features.iter().any(|x| x == f),
            "feature {f} missing from {:?}",
            d.features
        );
    }

    let mut p = lib.instantiate(ID);
    for input in [true, false] {
        let ports = p.audio_ports(input);
        assert_eq!(ports.len(), 1, "{ports:?}");
        assert!(ports[0].is_main);
        assert_eq!(ports[0].channels, 2, "stereo is the default layout");
    }
    let configs = p.port_configs();
    assert_eq!(
        configs.iter().map(|c| c.2).collect::<Vec<_>>(),
        vec![2, 1],
        "{configs:?}"
    );

    // 8 bands (HP/LP without gain), 7 compressor, 2 IR, trim, bypass, bake, auto-bake,
    // 12 restoration (de-clip, de-click, noise reduction, expander), 4 de-esser,
    // 4 hum removal.
    let params = p.params().to_vec();
    assert_eq!(params.len(), 63);
    let mut names: Vec<&str> = params.iter().map(|q| q.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 63, "parameter names are unique");
    use clack_extensions::params::ParamInfoFlags as F;
    for q in &params {
        assert!(
            q.flags.contains(F::IS_AUTOMATABLE),
            "{} is not automatable",
            q.name
        );
    }
    assert!(p.param("Bypass").flags.contains(F::IS_BYPASS));
    assert!(p.param("Bake").flags.contains(F::IS_STEPPED));
    assert_eq!(p.param("Peak 1 Frequency").module, "Peak 1");
    assert_eq!(p.param("Threshold").module, "Compressor");
    // Formatters and parsers, through the host API.
    assert_eq!(
        p.value_text("Peak 1 Frequency", p.param("Peak 1 Frequency").default),
        "250 Hz"
    );
    assert_eq!(p.value_text("Peak 1 Frequency", 1.0), "20.00 kHz");
    assert_eq!(p.value_text("Peak 1 Frequency", 0.0), "20.0 Hz");
    assert_eq!(p.value_text("Ratio", p.param("Ratio").default), "3.0:1");
    assert_eq!(p.value_text("Attack", p.param("Attack").default), "10.0 ms");
    assert_eq!(p.value_text("IR Mix", 0.5), "50.0 %");
    assert_eq!(p.value_text("Peak 2 Gain", 1.0), "+24.0 dB");
    assert_eq!(p.value_text("Compressor Enable", 0.0), "Off");
    let two_k = p.text_value("Peak 2 Frequency", "2k").unwrap();
    assert_eq!(p.value_text("Peak 2 Frequency", two_k), "2.00 kHz");
    assert!(p.text_value("Peak 2 Gain", "loud").is_none());
    // Reported latency is the chain's.
    for rate in [44_100.0, 48_000.0, 96_000.0] {
        let active = p.activate(rate, 512).unwrap();
        let chain = Chain::new(ChainConfig::new(rate as f32, 2)).unwrap();
        assert_eq!(
            p.latency() as usize,
            chain.latency_samples(),
            "at {rate} Hz"
        );
        p.deactivate(active);
    }
}

#[test]
fn renders_speech_like_faurge_dsp_at_every_rate_and_block_size() {
    let state = expected_state(VOCAL);
    for rate in [44_100u32, 48_000, 96_000, 192_000] {
        let mut p = configured(VOCAL, None);
        let input = speech(rate, 0.5, 2);
        let want = reference(rate as f32, &state, None, &input);
        let mut active = p.activate(f64::from(rate), 4096).unwrap();
        let mut first: Option<Vec<Vec<f32>>> = None;
        for (label, blocks) in [
            ("1", fixed(1)),
            ("64", fixed(64)),
            ("480", fixed(480)),
            ("4096", fixed(4096)),
            ("random", random_blocks(u64::from(rate))),
        ] {
            let out = p.process(&mut active, &input, blocks, &[]).audio;
            assert_finite(&out, &format!("{rate} Hz, blocks {label}"));
            let diff = max_abs_diff(&out, &want);
            eprintln!("{rate} Hz, blocks {label}: max |plugin - faurge-dsp| = {diff:e}");
            assert!(
                diff <= TOLERANCE,
                "{rate} Hz, blocks {label}: differs from faurge-dsp by {diff}"
            );
            assert!(
                peak(&out) > 0.05,
                "{rate} Hz, blocks {label}: output is nearly silent"
            );
            // Every block size gives the same output: processing does not depend on the host's blocks.
            match &first {
                None => first = Some(out),
                Some(f) => assert_eq!(
                    max_abs_diff(&out, f),
                    0.0,
                    "{rate} Hz: blocks {label} differ from blocks of 1"
                ),
            }
        }
        p.deactivate(active);
    }
}

#[test]
fn parameter_events_take_effect_at_their_sample() {
    let mut p = configured(VOCAL, None);
    let input = speech(48_000, 1.0, 2);
    let mut active = p.activate(48_000.0, 4096).unwrap();
    let plain = p.process(&mut active, &input, fixed(4096), &[]).audio;
    // Output trim to -24 dB (normalized 0) at sample 10 000, inside a 4096 block, and
    // Peak 2 to +12 dB at 30 001.
    let at = 10_000;
    let boost = p.text_value("Peak 2 Gain", "+12 dB").unwrap();
    let changes = [
        p.change(at, "Output Trim", 0.0),
        p.change(30_001, "Peak 2 Gain", boost),
    ];
    let moved = p.process(&mut active, &input, fixed(4096), &changes).audio;
    assert_finite(&moved, "automated");
    for c in 0..2 {
        assert_eq!(
            plain[c][..at],
            moved[c][..at],
            "channel {c} changed before the event"
        );
        let first_diff = (at..input[c].len())
            .find(|&i| plain[c][i] != moved[c][i])
            .unwrap();
        assert!(
            first_diff < at + 8,
            "channel {c}: the event at {at} took effect only at {first_diff}"
        );
        // Trim glides (smoother + chain glide, ~30 ms) from -3 dB to -24 dB, then the
        // whole output is 21 dB down.
        let g = 10f32.powf(-21.0 / 20.0);
        for i in at + 4800..30_000 {
            if plain[c][i].abs() > 1e-3 {
                let ratio = moved[c][i] / plain[c][i];
                assert!(
                    (ratio - g).abs() < 1e-3 * g,
                    "channel {c} sample {i}: gain {ratio}, want {g}"
                );
            }
        }
    }
    p.deactivate(active);
}

#[test]
fn extreme_automation_every_sample_stays_finite() {
    let ir = test_ir(48_000.0, 0.05);
    let mut p = configured(VOCAL, Some((48_000.0, &ir)));
    let input = speech(48_000, 1.5, 2);
    let ids: Vec<_> = p.params().iter().map(|q| (q.id, q.max)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // One event per sample: a random parameter jumps to its min, its max or anywhere.
    let changes: Vec<ParamChange> = (0..input[0].len())
        .map(|frame| {
            let (id, max) = ids[rng.gen_range(0..ids.len())];
            let value = match rng.gen_range(0..3) {
                0 => 0.0,
                1 => max,
                _ => rng.gen_range(0.0..=max),
            };
            ParamChange { frame, id, value }
        })
        .collect();
    let mut active = p.activate(48_000.0, 1024).unwrap();
    let mut rng_blocks = ChaCha8Rng::seed_from_u64(12);
    let blocks = std::iter::from_fn(move || Some(rng_blocks.gen_range(1..=1024)));
    let out = p.process(&mut active, &input, blocks, &changes).audio;
    assert_finite(&out, "extreme automation");
    // Afterwards a complete session (every parameter, as a DAW saves it) renders
    // normally again.
    p.deactivate(active);
    let complete = configured(VOCAL, None).save_state();
    assert!(p.load_state(&complete));
    let mut active = p.activate(48_000.0, 1024).unwrap();
    let short = speech(48_000, 0.3, 2);
    let out = p.process(&mut active, &short, fixed(480), &[]).audio;
    let diff = max_abs_diff(
        &out,
        &reference(48_000.0, &expected_state(VOCAL), None, &short),
    );
    assert!(
        diff <= TOLERANCE,
        "after extreme automation the plugin renders {diff} away from faurge-dsp"
    );
    p.deactivate(active);
}

#[test]
fn silence_nan_inf_and_huge_input() {
    let ir = test_ir(48_000.0, 0.1);
    let mut values = VOCAL.to_vec();
    values.extend([("ir_on", 1.0), ("ir_mix", 60.0)]);
    let mut p = configured(&values, Some((48_000.0, &ir)));
    let mut active = p.activate(48_000.0, 512).unwrap();

    // Silence in, exact silence out.
    let silence = vec![vec![0.0f32; 48_000]; 2];
    let out = p.process(&mut active, &silence, fixed(512), &[]).audio;
    assert!(
        out.iter().flatten().all(|&v| v == 0.0),
        "silence in must give exact silence out"
    );

    // Speech then 2 s of silence: the tail decays to exact zeros in bounded time.
    let mut tail_in = speech(48_000, 0.5, 2);
    tail_in
        .iter_mut()
        .for_each(|c| c.resize(c.len() + 96_000, 0.0));
    let out = p.process(&mut active, &tail_in, fixed(512), &[]).audio;
    let n = out[0].len();
    assert!(
        out.iter()
            .all(|c| c[n - 24_000..].iter().all(|&v| v == 0.0)),
        "the tail did not decay to exact zeros within 1.5 s"
    );

    // NaN, ±Inf and 1e30 bursts: finite output, identical to the same input with
    // NaN/Inf replaced by 0 and huge values clamped to ±1000 (what the chain does).
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let clean = speech(48_000, 1.0, 2);
    let mut bad = clean.clone();
    let mut sanitized = clean.clone();
    for _ in 0..200 {
        let c = rng.gen_range(0..2);
        let i = rng.gen_range(0..clean[0].len());
        let (v, s) = match rng.gen_range(0..4) {
            0 => (f32::NAN, 0.0),
            1 => (f32::INFINITY, 0.0),
            2 => (f32::NEG_INFINITY, 0.0),
            _ => (1e30, 1000.0),
        };
        bad[c][i] = v;
        sanitized[c][i] = s;
    }
    let out_bad = p.process(&mut active, &bad, random_blocks(3), &[]).audio;
    assert_finite(&out_bad, "NaN/Inf input");
    let out_sanitized = p
        .process(&mut active, &sanitized, random_blocks(3), &[])
        .audio;
    assert_eq!(
        max_abs_diff(&out_bad, &out_sanitized),
        0.0,
        "non-finite input must act as silence, nothing more"
    );
    // Bypassed: the dry path is sanitized the same way.
    let bypass_on = p.text_value("Bypass", "On").unwrap();
    let out = p
        .process(
            &mut active,
            &bad,
            fixed(64),
            &[p.change(0, "Bypass", bypass_on)],
        )
        .audio;
    assert_finite(&out, "bypassed NaN/Inf input");
    p.deactivate(active);
}

#[test]
fn bypass_passes_input_through_unchanged() {
    let mut values = VOCAL.to_vec();
    values.push(("bypass", 1.0));
    let mut p = configured(&values, None);
    let input = speech(48_000, 0.5, 2);
    let mut active = p.activate(48_000.0, 480).unwrap();
    let latency = p.latency() as usize;
    let out = p.process(&mut active, &input, fixed(480), &[]).audio;
    assert_eq!(
        out,
        delayed(&input, latency),
        "bypassed output must equal the input bit for bit, delayed by the reported latency"
    );
    // Turning bypass off mid-run cross-fades to the processed signal.
    let out = p
        .process(
            &mut active,
            &input,
            fixed(480),
            &[p.change(12_000, "Bypass", 0.0)],
        )
        .audio;
    // Still bypassed up to the switch: the input delayed by the latency (each
    // `process` call starts processing afresh, which resets the dry delay line).
    assert_eq!(out[0][..12_000], delayed(&input, latency)[0][..12_000]);
    let want = reference(48_000.0, &expected_state(VOCAL), None, &input);
    // The chain kept running while bypassed, so after the 10 ms fade the output is
    // exactly the processed signal.
    let diff = max_abs_diff(&[out[0][12_480..].to_vec()], &[want[0][12_480..].to_vec()]);
    assert!(
        diff <= TOLERANCE,
        "after un-bypassing the output is {diff} away from the processed signal"
    );
    assert_ne!(
        out[0][12_000..12_480],
        want[0][12_000..12_480],
        "the switch must fade, not jump"
    );
    p.deactivate(active);
}

#[test]
fn state_round_trip_is_bit_exact_and_v0_sessions_migrate() {
    let lib = library();
    // A version-0 session: mix 0..1 under "mix", the IR as decimal JSON, no "format".
    let ir44: Vec<f32> = test_ir(44_100.0, 0.08).remove(0);
    let mut params = param_values(VOCAL);
    params.push(("ir_on", bool_value(true)));
    params.push(("mix", f32_value(0.5)));
    let v0_ir = serde_json::json!({ "rate": 44_100.0, "samples": ir44 }).to_string();
    let v0 = state_blob(
        "0.0.9",
        &params,
        &[
            ("ir", v0_ir),
            ("prompt", "\"warm radio voice\"".to_string()),
        ],
    );

    let mut a = lib.instantiate(ID);
    assert!(a.load_state(&v0), "the v0 session was refused");
    assert_eq!(
        a.value("IR Mix"),
        0.5,
        "mix 0.5 (v0) must become 50 % (normalized 0.5)"
    );
    let mix = a.value("IR Mix");
    assert_eq!(a.value_text("IR Mix", mix), "50.0 %");
    assert_eq!(a.value("IR Enable"), 1.0);

    let input = speech(48_000, 1.0, 2);
    let mut active = a.activate(48_000.0, 1024).unwrap();
    let out_a = a.process(&mut active, &input, random_blocks(9), &[]).audio;
    assert_finite(&out_a, "v0 session");
    // Against faurge-dsp with the IR resampled to 48 kHz the way the plugin does it.
    let mut values = VOCAL.to_vec();
    values.extend([("ir_on", 1.0), ("ir_mix", 50.0)]);
    let ir48 = faurge_io::resample(std::slice::from_ref(&ir44), 44_100, 48_000).unwrap();
    let want = reference(48_000.0, &expected_state(&values), Some(&ir48), &input);
    let diff = max_abs_diff(&out_a, &want);
    eprintln!("v0 session: max |plugin - faurge-dsp| = {diff:e}");
    assert!(
        diff <= TOLERANCE,
        "v0 session renders {diff} away from faurge-dsp"
    );

    // Save: version 1, renamed parameter, base64 IR, prompt kept.
    let saved = a.save_state();
    let json = parse_state(&saved);
    assert_eq!(json["fields"]["format"], "1");
    assert_eq!(json["params"]["ir_mix"]["f32"], 50.0);
    assert!(json["params"].get("mix").is_none());
    assert_eq!(json["fields"]["prompt"], "\"warm radio voice\"");
    let ir_field: serde_json::Value =
        serde_json::from_str(json["fields"]["ir"].as_str().unwrap()).unwrap();
    assert_eq!(ir_field["sample_rate"], 44_100.0);
    assert_eq!(
        ir_field["channels"][0].as_str().unwrap(),
        base64_f32(&ir44),
        "the IR must be stored bit for bit"
    );

    // A fresh instance restores the session and renders bit-identically.
    let mut b = lib.instantiate(ID);
    assert!(b.load_state(&saved));
    let mut active_b = b.activate(48_000.0, 1024).unwrap();
    let out_b = b
        .process(&mut active_b, &input, random_blocks(10), &[])
        .audio;
    assert_eq!(
        max_abs_diff(&out_a, &out_b),
        0.0,
        "restored session differs"
    );
    assert_eq!(
        b.save_state(),
        saved,
        "saving the restored session gives the same bytes"
    );
    b.deactivate(active_b);

    // Deactivate and reactivate: same output again.
    a.deactivate(active);
    let mut active = a.activate(48_000.0, 1024).unwrap();
    let again = a.process(&mut active, &input, fixed(64), &[]).audio;
    assert_eq!(
        max_abs_diff(&out_a, &again),
        0.0,
        "reactivation changed the output"
    );
    a.deactivate(active);

    // Loading the session into an active instance: parameters and IR take over
    // (the IR cross-fades in), and the output converges to the same render.
    let mut c = lib.instantiate(ID);
    let mut active_c = c.activate(48_000.0, 1024).unwrap();
    let _ = c.process(&mut active_c, &speech(48_000, 0.2, 2), fixed(256), &[]);
    assert!(c.load_state(&saved));
    let out_c = c.process(&mut active_c, &input, fixed(256), &[]).audio;
    assert_finite(&out_c, "state loaded while active");
    let tail = |x: &[Vec<f32>]| {
        x.iter()
            .map(|ch| ch[ch.len() - 24_000..].to_vec())
            .collect::<Vec<_>>()
    };
    let diff = max_abs_diff(&tail(&out_c), &tail(&out_a));
    eprintln!("state loaded while active: tail differs by {diff:e}");
    assert!(
        diff <= TOLERANCE,
        "after loading state while active the output is {diff} away"
    );
    c.deactivate(active_c);

    // Garbage is refused without crashing.
    let mut d = lib.instantiate(ID);
    assert!(!d.load_state(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops"));
}

#[test]
fn reactivation_at_every_host_rate_and_odd_rates_pass_through() {
    let mut p = configured(VOCAL, None);
    let state = expected_state(VOCAL);
    // Every rate a host or a validator may set (clap-validator tries 1 kHz to 768 kHz,
    // the VST3 validator 384 kHz), in an order that changes it each time.
    for rate in [
        44_100u32, 96_000, 8_000, 22_050, 384_000, 11_025, 192_000, 16_000, 768_000, 48_000,
    ] {
        let mut active = p.activate(f64::from(rate), 512).unwrap();
        assert_eq!(
            p.latency() as usize,
            Chain::new(ChainConfig::new(rate as f32, 2))
                .unwrap()
                .latency_samples()
        );
        let input = speech(rate, 0.2, 2);
        let out = p
            .process(&mut active, &input, random_blocks(u64::from(rate)), &[])
            .audio;
        assert_finite(&out, &format!("{rate} Hz"));
        let diff = max_abs_diff(&out, &reference(rate as f32, &state, None, &input));
        eprintln!("reactivated at {rate} Hz: max |plugin - faurge-dsp| = {diff:e}");
        assert!(diff <= TOLERANCE, "{rate} Hz: {diff}");
        p.deactivate(active);
    }
    // A rate no host sets (below 1 kHz, above 768 kHz) is not refused either, which
    // would silence the track: the audio passes through unprocessed.
    for odd in [999.0, 768_001.0] {
        let mut active = p
            .activate(odd, 512)
            .unwrap_or_else(|e| panic!("{odd} Hz refused: {e:?}"));
        let input = speech(48_000, 0.05, 2);
        let out = p.process(&mut active, &input, fixed(512), &[]).audio;
        assert_eq!(out, input, "{odd} Hz: not passed through unchanged");
        assert_eq!(p.latency(), 0, "{odd} Hz: pass-through reports no latency");
        p.deactivate(active);
    }
    let mut active = p
        .activate(48_000.0, 512)
        .expect("an odd rate must not break the instance");
    let input = speech(48_000, 0.2, 2);
    let out = p.process(&mut active, &input, fixed(512), &[]).audio;
    let diff = max_abs_diff(&out, &reference(48_000.0, &state, None, &input));
    assert!(diff <= TOLERANCE, "48 kHz after odd rates: {diff}");
    p.deactivate(active);
}

#[test]
fn mono_layout_matches_faurge_dsp() {
    let mut p = library().instantiate(ID);
    assert!(p.select_channels(1), "no mono configuration");
    assert_eq!(p.audio_ports(true)[0].channels, 1);
    assert_eq!(p.audio_ports(false)[0].channels, 1);
    let ir = test_ir(48_000.0, 0.05);
    let mut values = VOCAL.to_vec();
    values.extend([("ir_on", 1.0), ("ir_mix", 30.0)]);
    assert!(p.load_state(&session(&values, Some((48_000.0, &ir)))));
    let input = speech(48_000, 0.5, 1);
    let mut active = p.activate(48_000.0, 4096).unwrap();
    let out = p.process(&mut active, &input, random_blocks(21), &[]).audio;
    let want = reference(48_000.0, &expected_state(&values), Some(&ir), &input);
    let diff = max_abs_diff(&out, &want);
    eprintln!("mono: max |plugin - faurge-dsp| = {diff:e}");
    assert!(diff <= TOLERANCE, "mono differs from faurge-dsp by {diff}");
    p.deactivate(active);
}

#[test]
fn instances_are_independent() {
    let mut a = configured(VOCAL, None);
    let mut b = library().instantiate(ID);
    let input = speech(48_000, 0.3, 2);
    let mut aa = a.activate(48_000.0, 256).unwrap();
    let mut bb = b.activate(48_000.0, 256).unwrap();
    let out_b = b.process(&mut bb, &input, fixed(256), &[]).audio;
    let out_a = a.process(&mut aa, &input, fixed(256), &[]).audio;
    assert!(
        max_abs_diff(&out_a, &out_b) > 1e-3,
        "instance b picked up instance a's settings"
    );
    // Defaults are transparent (a pure delay of the reported latency).
    let latency = b.latency() as usize;
    assert!(
        max_abs_diff(&out_b, &delayed(&input, latency)) <= TOLERANCE,
        "the default settings must be transparent"
    );
    a.deactivate(aa);
    b.deactivate(bb);
}
