//! `faurge fix` and `faurge bake` end to end: the real CLI starts the real helper
//! over real IPC with the shipped models, on the shipped degraded recording.

use std::path::{Path, PathBuf};
use std::process::Command;

use faurge_dsp::analysis::ltas;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

/// The CLI with the helper built next to it and, when set, the test models.
fn faurge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faurge"));
    c.env("FAURGE_HELPER", env!("CARGO_BIN_EXE_faurge-helper"));
    if let Some(m) = std::env::var_os("FAURGE_TEST_MODELS") {
        c.env("FAURGE_MODELS", m);
    }
    c
}

/// Speech-to-noise ratio of a file, dB (the restoration measurements).
fn snr_db(p: &Path) -> f32 {
    let a = faurge_io::read(p).expect("audio");
    faurge_dsp::analysis::restoration::restoration_metrics(&[&a.to_mono()], a.sample_rate as f32)
        .snr_db
}

/// LTAS shape error, dB: RMS over the 64 bands of the difference, its mean removed
/// (LTAS is level-normalized; a constant is not an error).
fn ltas_error(a: &Path, b: &Path) -> f32 {
    let la = faurge_io::read(a).expect("a");
    let lb = faurge_io::read(b).expect("b");
    let x = ltas::ltas(&[&la.to_mono()], la.sample_rate as f32);
    let y = ltas::ltas(&[&lb.to_mono()], lb.sample_rate as f32);
    let d: Vec<f32> = x.iter().zip(&y).map(|(p, q)| p - q).collect();
    let m = d.iter().sum::<f32>() / d.len() as f32;
    (d.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / d.len() as f32).sqrt()
}

#[test]
fn fix_makes_the_shipped_example_measurably_better_and_writes_a_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("fixed.wav");
    let report = tmp.path().join("report.json");
    let o = faurge()
        .args(["fix"])
        .arg(repo("examples/degraded_vctk_p236_023.wav"))
        .arg("-o")
        .arg(&out)
        .args(["--prompt", "fix my mic", "--report"])
        .arg(&report)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("Understood:") && stderr.contains("round 1: S_C"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Vague"),
        "the sanitizer's edit is shown: {stderr}"
    );

    // What the repair does to this recording, measured on the files: the noise
    // floor goes down, the level lands on the target, and the tone gets no
    // further from the clean original than it was. (With the noise reduction on, a
    // repair leaves the tone alone, and this speaker's voice reads to the tone-repair
    // estimator as a little thin and bright, which hides the mud; see the README's
    // evaluation.)
    let clean = repo("examples/clean_vctk_p236_023.wav");
    let degraded = repo("examples/degraded_vctk_p236_023.wav");
    let (snr_in, snr_out) = (snr_db(&degraded), snr_db(&out));
    assert!(
        snr_out >= snr_in + 3.0,
        "speech-to-noise ratio {snr_in:.1} → {snr_out:.1} dB\n{stderr}"
    );
    let fixed = faurge_io::read(&out).expect("output");
    let lufs = faurge_dsp::analysis::loudness::integrated_lufs(
        &[&fixed.to_mono()],
        fixed.sample_rate as f32,
    )
    .expect("loudness");
    assert!(
        (lufs + 18.0).abs() <= 1.0,
        "{lufs:.1} LUFS, the default target is -18"
    );
    let (before, after) = (ltas_error(&degraded, &clean), ltas_error(&out, &clean));
    assert!(
        after <= before + 1.0,
        "LTAS error vs the clean original: degraded {before:.2} dB, fixed {after:.2} dB"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert!(json["report"]["rounds"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
    assert!(json["dsp_state"]["eq"]["bands"]
        .as_array()
        .is_some_and(|b| b.len() == 8));
    let png = std::fs::read(report.with_extension("png")).expect("png");
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "a drawn chart, not an empty image");
}

#[test]
fn bake_writes_state_ir_and_report_that_render_reproduces() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("bake");
    // 10 s of speech at 16 kHz (the shipped LibriSpeech clip is too short to judge).
    let clean = faurge_io::read(repo("examples/clean_vctk_p236_023.wav")).expect("clip");
    let input = tmp.path().join("speech_16k.wav");
    faurge_io::write_wav(
        &input,
        &clean.resampled(16_000).expect("resample"),
        faurge_io::WavFormat::Float32,
    )
    .expect("write");
    let o = faurge()
        .args(["bake"])
        .arg(&input)
        .arg("--out")
        .arg(&dir)
        .args([
            "--prompt",
            "warm radio voice with some reverb",
            "--max-rounds",
            "2",
        ])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let state: faurge_dsp::state::DspState =
        serde_json::from_str(&std::fs::read_to_string(dir.join("dsp_state.json")).expect("state"))
            .expect("a DspState");
    state.validate().expect("valid");
    let ir = faurge_io::read(dir.join("ir.wav")).expect("ir");
    assert_eq!(ir.sample_rate, 48_000, "16 kHz input is baked at 48 kHz");
    assert!(ir.channels[0].iter().all(|v| v.is_finite()));
    assert!(dir.join("report.json").is_file() && dir.join("report.png").is_file());
    // The files play back through `faurge render`.
    let out = tmp.path().join("rendered.wav");
    let o = faurge()
        .args(["render"])
        .arg(&input)
        .arg("--state")
        .arg(dir.join("dsp_state.json"))
        .arg("--ir")
        .arg(dir.join("ir.wav"))
        .arg("--ir-raw")
        .arg("-o")
        .arg(&out)
        .output()
        .expect("render");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.is_file());
}

#[test]
fn bad_arguments_and_a_missing_helper_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let o = faurge()
        .args(["fix"])
        .arg(repo("examples/degraded_vctk_p236_023.wav"))
        .arg("-o")
        .arg(tmp.path().join("x.wav"))
        .args(["--prompt", "warm", "--threshold", "3"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--threshold"));

    let o = faurge()
        .env("FAURGE_HELPER", tmp.path().join("no-such-helper"))
        .args(["fix"])
        .arg(repo("examples/degraded_vctk_p236_023.wav"))
        .arg("-o")
        .arg(tmp.path().join("x.wav"))
        .args(["--prompt", "warm", "--helper"])
        .arg(tmp.path().join("no-such-helper"))
        .output()
        .expect("run");
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("helper"), "{e}");
    assert!(!tmp.path().join("x.wav").exists(), "no output on failure");
}
