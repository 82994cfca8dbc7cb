//! The `faurge` binary as a user runs it: real files in, real files out, clear
//! errors for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faurge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faurge"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run faurge")
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn render_with_a_preset_writes_the_same_length_and_rate_and_changes_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("nested/folder/warm.wav");
    let o = faurge(&[
        "render",
        &example("speech_vctk_p234_012.wav"),
        "--preset",
        "warm-radio",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let input = faurge_io::read(example("speech_vctk_p234_012.wav")).unwrap();
    let output = faurge_io::read(&out).unwrap();
    assert_eq!(
        (output.sample_rate, output.frames()),
        (input.sample_rate, input.frames())
    );
    let diff: f32 = input.channels[0]
        .iter()
        .zip(&output.channels[0])
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(diff > 1.0, "the preset left the audio unchanged");
}

/// Renders `clip` with the flat preset as 32-bit float; returns (input, output).
fn render_flat(clip: &str) -> (faurge_io::Audio, faurge_io::Audio) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flat.wav");
    let o = faurge(&[
        "render",
        clip,
        "--preset",
        "flat",
        "--format",
        "float32",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (
        faurge_io::read(clip).unwrap(),
        faurge_io::read(&out).unwrap(),
    )
}

#[test]
fn flat_preset_float_render_is_bit_transparent() {
    let (a, b) = render_flat(&example("speech_vctk_p234_012.wav"));
    assert_eq!(a, b);
}

#[test]
fn a_16_khz_file_renders_at_its_own_rate_and_length() {
    let (a, b) = render_flat(&example("speech_librispeech_19-198-0000.flac"));
    assert_eq!((b.sample_rate, b.frames()), (16_000, a.frames()));
    // Processed at 48 kHz and back: only the resampler's error remains.
    let err: f32 = a.channels[0]
        .iter()
        .zip(&b.channels[0])
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let sig: f32 = a.channels[0].iter().map(|x| x * x).sum();
    assert!(
        10.0 * (err / sig).log10() < -40.0,
        "round trip error {} dB",
        10.0 * (err / sig).log10()
    );
}

#[test]
fn render_with_an_ir_and_a_state_file_dumps_the_state_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let state = faurge_dsp::state::DspState {
        output_trim_db: -3.0,
        ..Default::default()
    };
    std::fs::write(&state_path, serde_json::to_string(&state).unwrap()).unwrap();
    let out = dir.path().join("room.wav");
    let o = faurge(&[
        "render",
        &example("speech_vctk_p234_012.wav"),
        "--state",
        state_path.to_str().unwrap(),
        "--ir",
        &example("rir_clap.wav"),
        "--ir-mix",
        "0.5",
        "--dump-state",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let used: faurge_dsp::state::DspState = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(used.output_trim_db, -3.0);
    assert!(used.convolver.enabled && used.convolver.mix == 0.5);
    let output = faurge_io::read(&out).unwrap();
    assert!(output.channels[0]
        .iter()
        .all(|s| s.is_finite() && s.abs() <= 1.0));
}

/// Runs `faurge` with `args` and asserts it fails with `needle` in its stderr.
fn fails_with(args: &[&str], needle: &str) {
    let o = faurge(args);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
}

#[test]
fn bad_input_gets_a_clear_error_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.wav");
    let out = out.to_str().unwrap();
    let clip = example("speech_vctk_p234_012.wav");
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };

    fails_with(
        &["render", &clip, "--preset", "warm-radi", "-o", out],
        "Did you mean \"warm-radio\"?",
    );
    fails_with(
        &["render", "/no/such/file.wav", "--preset", "flat", "-o", out],
        "Could not open \"/no/such/file.wav\"",
    );
    let garbage = write("garbage.json", "{\"eq\": 3}".into());
    fails_with(
        &["render", &clip, "--state", &garbage, "-o", out],
        "is not a valid DspState",
    );
    let mut state = faurge_dsp::state::DspState::default();
    state.compressor.ratio = 50.0;
    let bad = write("bad.json", serde_json::to_string(&state).unwrap());
    fails_with(
        &["render", &clip, "--state", &bad, "-o", out],
        "compressor.ratio is 50",
    );
    let silent_ir = dir.path().join("silent.wav");
    let silence = faurge_io::Audio::new(48_000, vec![vec![0.0; 100]]).unwrap();
    faurge_io::write_wav(&silent_ir, &silence, faurge_io::WavFormat::Float32).unwrap();
    fails_with(
        &[
            "render",
            &clip,
            "--ir",
            silent_ir.to_str().unwrap(),
            "-o",
            out,
        ],
        "impulse response is silent",
    );
}

#[test]
fn degrade_is_deterministic_for_a_seed_and_measure_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    for p in [&a, &b] {
        let o = faurge(&[
            "degrade",
            &example("speech_vctk_p234_012.wav"),
            "--seed",
            "7",
            "-o",
            p.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    let clean = faurge(&["measure", &example("speech_vctk_p234_012.wav")]);
    let broken = faurge(&["measure", a.to_str().unwrap()]);
    assert!(clean.status.success() && broken.status.success());
    let clean: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    let broken: serde_json::Value = serde_json::from_slice(&broken.stdout).unwrap();
    assert_eq!(clean["metrics"]["ltas"].as_array().unwrap().len(), 64);
    // What the repair decides from, measured on both.
    let restoration = |v: &serde_json::Value| {
        let r = &v["restoration"];
        [
            "snr_db",
            "clicks_per_second",
            "clipped_fraction",
            "sibilance_db",
        ]
        .map(|k| r[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {v}")))
    };
    assert_ne!(restoration(&clean), restoration(&broken));
    let purity = |v: &serde_json::Value| v["metrics"]["purity"]["input_purity"].as_f64().unwrap();
    assert!(
        purity(&broken) < purity(&clean),
        "degradation did not lower purity"
    );
}
