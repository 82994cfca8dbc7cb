//! The sentence decides the sound, through the real CLI: `faurge fix` with relative,
//! negated, combined and absolute prompts on the shipped clean clip moves each
//! asked quantity the asked way by the descriptor table's margin; "fix my mic" on the
//! noisy, clicky and clipped examples measurably repairs each, and undoes a thin or
//! high-passed microphone.

use std::path::{Path, PathBuf};
use std::process::Command;

use faurge_dsp::analysis::dynamics::t_dyn;
use faurge_dsp::analysis::loudness::integrated_lufs;
use faurge_dsp::analysis::ltas::{
    effective_bandwidth_hz, ltas_band_centers_hz, ltas_bands_below, ltas_with_bandwidth,
};
use faurge_dsp::analysis::restoration::restoration_metrics;
use faurge_vocabulary::descriptors::{Descriptors, QuantityKind};
use faurge_vocabulary::intent::Measured;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn faurge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faurge"));
    c.env("FAURGE_HELPER", env!("CARGO_BIN_EXE_faurge-helper"));
    if let Some(m) = std::env::var_os("FAURGE_TEST_MODELS") {
        c.env("FAURGE_MODELS", m);
    }
    c
}

/// Runs `faurge fix IN --prompt P -o OUT` and returns OUT's path and the CLI's stderr.
fn fix(input: &Path, prompt: &str, dir: &Path, name: &str) -> (PathBuf, String) {
    let out = dir.join(format!("{name}.wav"));
    let o = faurge()
        .arg("fix")
        .arg(input)
        .arg("-o")
        .arg(&out)
        .args(["--prompt", prompt])
        .output()
        .expect("run faurge");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "faurge fix --prompt {prompt:?} failed: {stderr}"
    );
    (out, stderr)
}

/// The descriptor table's quantities of a file (mono mix).
fn measure(table: &Descriptors, path: &Path) -> Measured {
    let a = faurge_io::read(path).expect("read");
    let x = a.to_mono();
    let sr = a.sample_rate as f32;
    let bw = effective_bandwidth_hz(&[&x], sr).min(sr / 2.0);
    let l = ltas_with_bandwidth(&[&x], sr, bw);
    let valid = ltas_bands_below(bw);
    let mut m = Measured::from_ltas(table, &l, &ltas_band_centers_hz(), &valid);
    m.lufs = integrated_lufs(&[&x], sr);
    m.crest_db = Some(t_dyn(&[&x], sr)[0]);
    let r = restoration_metrics(&[&x], sr);
    m.snr_db = Some(r.snr_db);
    m.clicks_per_s = Some(r.clicks_per_second);
    m.clipped_fraction = Some(r.clipped_fraction);
    m
}

fn value(table: &Descriptors, m: &Measured, q: &str) -> f32 {
    let kind = table.quantity(q).map_or(QuantityKind::Balance, |q| q.kind);
    m.value(q, kind)
        .unwrap_or_else(|| panic!("{q} not measurable"))
}

#[test]
fn prompts_move_the_sound_the_way_the_sentence_says() {
    let table = Descriptors::embedded().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let input = repo("examples/clean_vctk_p236_023.wav");
    let before = measure(&table, &input);
    // (prompt, [(quantity, +1 up / −1 down)], loudness target or None = kept)
    type Case<'a> = (&'a str, &'a [(&'a str, f32)], Option<f32>);
    let cases: [Case; 6] = [
        ("a touch warmer", &[("warmth", 1.0)], None),
        ("reduce the sibilance", &[("sibilance", -1.0)], None),
        (
            "warmer but less boomy",
            &[("warmth", 1.0), ("boom", -1.0)],
            None,
        ),
        (
            "brighter and less muddy",
            &[("brightness", 1.0), ("mud", -1.0)],
            None,
        ),
        (
            "telephone voice",
            &[("low_cut", -1.0), ("high_cut", -1.0)],
            Some(-18.0),
        ),
        ("a loud, punchy voice", &[("dynamics", -1.0)], Some(-14.0)),
    ];
    let mut failures = Vec::new();
    for (k, (prompt, moves, lufs)) in cases.iter().enumerate() {
        let (out, stderr) = fix(&input, prompt, tmp.path(), &format!("p{k}"));
        assert!(
            stderr.contains("Asked for:"),
            "the CLI shows what was understood: {stderr}"
        );
        let after = measure(&table, &out);
        for (q, dir) in moves.iter() {
            let margin = table.quantity(q).unwrap().margin;
            let moved = value(&table, &after, q) - value(&table, &before, q);
            if moved * dir < margin {
                failures.push(format!(
                    "{prompt:?}: {q} moved {moved:+.2} (asked {})",
                    if *dir > 0.0 { "up" } else { "down" }
                ));
            }
        }
        let (li, lo) = (before.lufs.unwrap(), after.lufs.unwrap());
        match lufs {
            Some(t) => assert!((lo - t).abs() <= 1.0, "{prompt:?}: {lo:.1} LUFS, asked {t}"),
            None => assert!(
                (lo - li).abs() <= 1.0,
                "{prompt:?}: a relative prompt keeps the loudness ({li:.1} → {lo:.1} LUFS)"
            ),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fix_my_mic_and_remove_the_hum_notch_the_mains_hum_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let clean = repo("examples/clean_vctk_p236_023.wav");
    let input = repo("examples/hummy_vctk_p236_023.wav");
    let hum = |p: &Path| {
        let a = faurge_io::read(p).unwrap();
        restoration_metrics(&[&a.to_mono()], a.sample_rate as f32)
    };
    let before = hum(&input);
    assert_eq!(before.hum_harmonics, 1, "{before:?}");
    assert!((before.hum_hz - 60.0).abs() < 0.3, "{before:?}");
    for (k, prompt) in ["fix my mic", "remove the hum"].into_iter().enumerate() {
        let (out, stderr) = fix(&input, prompt, tmp.path(), &format!("hum{k}"));
        assert!(
            stderr.contains("Hum removal: ")
                && stderr.contains("Hz mains hum up to harmonic 1")
                && (stderr.contains("a notch at 60.") || stderr.contains("a notch at 59.")),
            "{prompt:?}: {stderr}"
        );
        let after = hum(&out);
        assert_eq!(after.hum_harmonics, 0, "{prompt:?}: {after:?}\n{stderr}");
        assert_closer(&input, &out, &clean, prompt);
    }
    // No hum in the clean recording: nothing to notch, whatever is asked.
    let (_, stderr) = fix(&clean, "remove the hum", tmp.path(), "clean_hum");
    assert!(
        !stderr.contains("a notch at") && !stderr.contains("notches at"),
        "{stderr}"
    );
}

/// Asserts that `out` is spectrally closer to `clean` than `input` was
/// ([`spectral_distance`]); `label` names the case in the message.
fn assert_closer(input: &Path, out: &Path, clean: &Path, label: &str) {
    let (d0, d1) = (
        spectral_distance(input, clean),
        spectral_distance(out, clean),
    );
    assert!(
        d1 < d0,
        "{label:?}: spectral distance to the clean original {d0:.2} → {d1:.2} dB"
    );
}

/// The 1/3-octave-ish spectral distance the examples are judged by: the LTAS shape
/// error in dB (mean removed) over the valid bands.
fn spectral_distance(a: &Path, b: &Path) -> f32 {
    let la = faurge_io::read(a).unwrap();
    let lb = faurge_io::read(b).unwrap();
    let x = ltas_with_bandwidth(&[&la.to_mono()], la.sample_rate as f32, 20_000.0);
    let y = ltas_with_bandwidth(&[&lb.to_mono()], lb.sample_rate as f32, 20_000.0);
    let d: Vec<f32> = x
        .iter()
        .zip(&y)
        .filter(|(p, q)| **p > -99.0 && **q > -99.0)
        .map(|(p, q)| p - q)
        .collect();
    let m = d.iter().sum::<f32>() / d.len() as f32;
    (d.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / d.len() as f32).sqrt()
}

#[test]
fn fix_my_mic_repairs_noise_clicks_and_clipping() {
    let table = Descriptors::embedded().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let clean = repo("examples/clean_vctk_p236_023.wav");
    for (name, quantity) in [
        ("noisy", "noise"),
        ("clicky", "clicks"),
        ("clipped", "clipping"),
    ] {
        let input = repo(&format!("examples/{name}_vctk_p236_023.wav"));
        let (out, stderr) = fix(&input, "fix my mic", tmp.path(), name);
        let before = measure(&table, &input);
        let after = measure(&table, &out);
        let (b, a) = (
            value(&table, &before, quantity),
            value(&table, &after, quantity),
        );
        match quantity {
            "noise" => assert!(a >= b + 6.0, "{name}: SNR {b:.1} → {a:.1} dB\n{stderr}"),
            _ => assert!(a <= 0.5 * b, "{name}: {quantity} {b:.4} → {a:.4}\n{stderr}"),
        }
        assert_closer(&input, &out, &clean, name);
    }
    // The clean recording: almost no change, no restoration.
    let (out, stderr) = fix(&clean, "fix my mic", tmp.path(), "clean");
    let d = spectral_distance(&out, &clean);
    assert!(d <= 1.0, "clean input changed by {d:.2} dB\n{stderr}");
    assert!(
        stderr.contains("left off") || !stderr.contains("reduced"),
        "{stderr}"
    );
}

#[test]
fn fix_my_mic_undoes_a_thin_and_a_high_passed_microphone() {
    // The clean recording through two microphones the estimator was never shown
    // in this form (the chain's own cookbook filters, not the dataset's renders):
    // thin (a −12 dB low shelf at 400 Hz) and high-passed (2nd order at 300 Hz).
    // (Boosts of the low end — boom, mud — are not undone on this speaker: her own
    // voice reads to the estimator as a little thin and bright, and a boosted low
    // end then reads as ordinary; see the README's evaluation.)
    use faurge_dsp::state::EqBandState;
    use faurge_helper::orchestrator::shadow_bake;
    use faurge_protocol::DspState;
    let tmp = tempfile::tempdir().unwrap();
    let clean = repo("examples/clean_vctk_p236_023.wav");
    let audio = faurge_io::read(&clean).unwrap();
    assert_eq!(audio.sample_rate, 48_000);
    let mut thin = DspState::default();
    thin.eq.bands[1] = EqBandState {
        enabled: true,
        freq_hz: 400.0,
        gain_db: -12.0,
        q: 0.707,
    };
    let high_passed = high_passed_at_300_hz();
    // Thin and clicky: the tone is read again on what the de-clicker leaves.
    let clicks = |mut x: Vec<f32>| {
        for i in (4_800..x.len()).step_by(14_400) {
            x[i] += 0.4;
            x[i + 1] -= 0.3;
        }
        x
    };
    for (name, state, clicky) in [
        ("thin", thin, false),
        ("high-passed", high_passed, false),
        ("thin and clicky", thin, true),
    ] {
        let mut damaged = shadow_bake(&audio.to_mono(), &state, None).unwrap();
        if clicky {
            damaged = clicks(damaged);
        }
        let input = write_mono(
            tmp.path(),
            &format!("{}_in", name.replace(' ', "_")),
            damaged,
        );
        let (out, stderr) = fix(&input, "fix my mic", tmp.path(), &name.replace(' ', "_"));
        assert!(
            !clicky || stderr.contains("De-clicker: "),
            "{name}: {stderr}"
        );
        let (d0, d1) = (
            spectral_distance(&input, &clean),
            spectral_distance(&out, &clean),
        );
        // At least a third of the damage undone.
        assert!(
            d1 < 0.67 * d0,
            "{name}: spectral distance to the clean original {d0:.2} → {d1:.2} dB\n{stderr}"
        );
    }
}

/// A microphone that takes the low end away: the chain's own high-pass (band 0,
/// 2nd order) at 300 Hz.
fn high_passed_at_300_hz() -> faurge_protocol::DspState {
    let mut state = faurge_protocol::DspState::default();
    state.eq.bands[0] = faurge_dsp::state::EqBandState {
        enabled: true,
        freq_hz: 300.0,
        gain_db: 0.0,
        q: 0.707,
    };
    state
}

/// Mono 48 kHz `audio` written to `dir/NAME.wav` (32-bit float); its path.
fn write_mono(dir: &Path, name: &str, audio: Vec<f32>) -> PathBuf {
    let path = dir.join(format!("{name}.wav"));
    let a = faurge_io::Audio::new(48_000, vec![audio]).unwrap();
    faurge_io::write_wav(&path, &a, faurge_io::WavFormat::Float32).unwrap();
    path
}

/// The shipped clean example through [`high_passed_at_300_hz`]: a voice recorded
/// by a microphone with no low end (mono, 48 kHz).
fn high_passed_example() -> Vec<f32> {
    let audio = faurge_io::read(repo("examples/clean_vctk_p236_023.wav")).unwrap();
    faurge_helper::orchestrator::shadow_bake(&audio.to_mono(), &high_passed_at_300_hz(), None)
        .unwrap()
}

/// `faurge bake` of mono 48 kHz `audio` (written to `dir/NAME.wav`, baked into
/// `dir/NAME/`) with `args`: the parsed `report.json` and the command's stderr.
fn bake_report(
    audio: Vec<f32>,
    dir: &Path,
    name: &str,
    args: &[&str],
) -> (serde_json::Value, String) {
    let input = write_mono(dir, name, audio);
    let out = dir.join(name);
    let o = faurge()
        .arg("bake")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(args)
        .output()
        .expect("run faurge");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "faurge bake {name} failed: {stderr}");
    let report = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    (report, stderr)
}

/// The convolver's correction curve in a round of a bake report (the first
/// [`faurge_dsp::ir::IR_CURVE_POINTS`] values of its `ir_params`; empty without an IR).
fn correction_curve(round: &serde_json::Value) -> Vec<f64> {
    round["ir_params"]
        .as_array()
        .unwrap()
        .iter()
        .take(faurge_dsp::ir::IR_CURVE_POINTS)
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[test]
fn a_repair_takes_what_its_eq_missed_into_the_convolver_curve() {
    // "fix my mic" on the high-passed example, through `faurge bake` for the
    // rounds' report: round 1 is Ursula's EQ alone; from round 2 the convolver's
    // correction curve takes what the last render missed of the blueprint, and the
    // render comes closer to it. (A threshold no result reaches keeps the loop
    // going after round 1.)
    let tmp = tempfile::tempdir().unwrap();
    let (report, stderr) = bake_report(
        high_passed_example(),
        tmp.path(),
        "high_passed",
        &[
            "--prompt",
            "fix my mic",
            "--threshold",
            "1",
            "--max-rounds",
            "3",
        ],
    );
    let rounds = report["report"]["rounds"].as_array().unwrap();
    assert!(rounds.len() >= 2, "{stderr}");
    let distance = |r: &serde_json::Value| r["blueprint_distance_db"].as_f64().unwrap();
    assert!(correction_curve(&rounds[0]).is_empty(), "round 1 has no IR");
    for r in &rounds[1..] {
        assert!(
            correction_curve(r).iter().any(|v| v.abs() > 0.5),
            "round {}: no correction curve {:?}",
            r["round"],
            correction_curve(r)
        );
        assert!(r["dsp_state"]["convolver"]["enabled"].as_bool().unwrap());
    }
    let (first, best) = (
        distance(&rounds[0]),
        rounds[1..]
            .iter()
            .map(distance)
            .fold(f64::INFINITY, f64::min),
    );
    assert!(
        best < first - 0.3,
        "distance to the blueprint: round 1 {first:.2} dB, later rounds at best {best:.2} dB"
    );
}

#[test]
fn a_repair_leaves_the_tone_of_a_saturated_voice_alone() {
    // The high-passed example gets its low end back from "fix my mic"; the same
    // voice limited and saturated (no flat runs for the de-clipper) has a crest
    // factor under LIMITED_CREST_DB, its spectrum carries the distortion's
    // harmonics, and the repair leaves its tone alone: no EQ band and no
    // correction curve moves by more than 1 dB.
    use faurge_helper::orchestrator::{shadow_bake, LIMITED_CREST_DB};
    let tmp = tempfile::tempdir().unwrap();
    let high_passed = high_passed_example();
    // Limited hard by the chain's own compressor (fastest attack, 20:1 above
    // -40 dBFS), then saturated a little (tanh): peaks held down without the flat
    // runs the de-clipper looks for.
    let mut limiter = faurge_protocol::DspState::default();
    limiter.compressor.enabled = true;
    limiter.compressor.threshold_db = -40.0;
    limiter.compressor.ratio = 20.0;
    limiter.compressor.attack_ms = faurge_dsp::state::MIN_ATTACK_MS;
    limiter.compressor.release_ms = 80.0;
    limiter.compressor.knee_db = 0.0;
    let limited = shadow_bake(&high_passed, &limiter, None).unwrap();
    let peak = limited.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let saturated: Vec<f32> = limited
        .iter()
        .map(|v| 0.9 * (2.0 * v / peak).tanh())
        .collect();
    let crest = |x: &[f32]| faurge_dsp::analysis::t_dyn(&[x], 48_000.0)[0];
    assert!(crest(&high_passed) > LIMITED_CREST_DB + 3.0);
    assert!(
        crest(&saturated) < LIMITED_CREST_DB,
        "{}",
        crest(&saturated)
    );
    let eq_moves = |name: &str, x: Vec<f32>| -> (bool, String) {
        let (report, stderr) = bake_report(x, tmp.path(), name, &["--prompt", "fix my mic"]);
        let state = &report["dsp_state"];
        assert!(
            !state["restoration"]["declip"]["enabled"].as_bool().unwrap(),
            "{name}: the de-clipper ran, so the crest factor is not what is tested"
        );
        let bands = state["eq"]["bands"].as_array().unwrap();
        let eq = bands
            .iter()
            .any(|b| b["enabled"].as_bool().unwrap() && b["gain_db"].as_f64().unwrap().abs() > 1.0);
        let best = &report["report"]["best_round"];
        let rounds = report["report"]["rounds"].as_array().unwrap();
        let chosen = rounds.iter().find(|r| &r["round"] == best).unwrap();
        let curve = correction_curve(chosen).iter().any(|v| v.abs() > 1.0);
        (eq || curve, format!("{state}\n{chosen}\n{stderr}"))
    };
    let (moved, why) = eq_moves("high_passed", high_passed);
    assert!(moved, "the high-passed voice's tone is repaired: {why}");
    let (moved, why) = eq_moves("saturated", saturated);
    assert!(!moved, "the saturated voice's tone is left alone: {why}");
}
