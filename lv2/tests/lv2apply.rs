//! The bundle in a real LV2 host: `lv2apply` (Debian lilv-utils) renders real
//! recordings with non-default control values (`-c SYMBOL VALUE`), and the output
//! equals the `faurge-dsp` `Chain` render of the same settings to within −120 dB.
//! `lv2apply` runs the plugin one frame per `run` call, so this is also the
//! 1-sample-block test in a real host.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    chain_render, error_db, have_tool, max_abs_diff, read_wav, run_lv2_tool, run_lv2_tool_with_log,
    state_of, write_f32_wav, TempDir, LIBRISPEECH, SETTINGS, SHARED_DATA, VCTK,
};
use faurge_lv2::ports::Variant;
use faurge_params::PARAMS;

/// Largest error allowed against the offline render, dB.
const MAX_ERROR_DB: f64 = -120.0;

/// Renders `input` through `lv2apply` with `settings` and returns the output.
fn lv2apply(
    tmp: &TempDir,
    name: &str,
    variant: Variant,
    rate: u32,
    input: &[Vec<f32>],
    settings: &[(&str, f32)],
) -> Vec<Vec<f32>> {
    let (inp, out) = (
        tmp.path(&format!("{name}-in.wav")),
        tmp.path(&format!("{name}-out.wav")),
    );
    write_f32_wav(&inp, rate, input);
    let mut cmd = Command::new("lv2apply");
    cmd.arg("-i").arg(&inp).arg("-o").arg(&out);
    for (sym, value) in settings {
        cmd.arg("-c").arg(sym).arg(value.to_string());
    }
    cmd.arg(variant.uri());
    run_lv2_tool(&mut cmd);
    let (out_rate, output) = read_wav(&out);
    assert_eq!(out_rate, rate);
    assert_eq!(output.len(), input.len(), "channel count");
    assert_eq!(output[0].len(), input[0].len(), "frame count");
    output
}

/// Checks one recording: lv2apply vs the Chain, and that the settings changed it.
fn check(tmp: &TempDir, name: &str, variant: Variant, rate: u32, input: &[Vec<f32>]) {
    let out = lv2apply(tmp, name, variant, rate, input, SETTINGS);
    let reference = chain_render(rate as f32, &state_of(SETTINGS), input);
    // The plugin's latency is the chain's, and lv2apply does not compensate it: the
    // two renders are aligned sample for sample.
    let err = error_db(&out, &reference);
    println!(
        "{name} ({variant:?}, {rate} Hz, {} frames): {err:.1} dB against the Chain render, max |diff| {:.2e}",
        input[0].len(),
        max_abs_diff(&out, &reference)
    );
    assert!(
        err <= MAX_ERROR_DB,
        "{name}: lv2apply output is {err:.1} dB from the Chain render"
    );
    assert!(
        error_db(&out, input) > -20.0,
        "{name}: the settings did not change the sound"
    );
}

#[test]
fn lv2apply_matches_the_chain_on_real_speech() {
    if !have_tool("lv2apply", "lilv-utils") {
        return;
    }
    let tmp = TempDir::new("lv2apply");
    let vctk = faurge_io::read(VCTK).expect("read the VCTK clip");
    let mono = vec![vctk.to_mono()];
    check(&tmp, "vctk", Variant::Mono, vctk.sample_rate, &mono);

    // Stereo: VCTK left, LibriSpeech (resampled to 48 kHz) right.
    let libri = faurge_io::read(LIBRISPEECH)
        .expect("read the LibriSpeech clip")
        .resampled(vctk.sample_rate)
        .expect("resample");
    let mut right = libri.to_mono();
    right.resize(mono[0].len(), 0.0);
    let stereo = vec![mono[0].clone(), right];
    check(
        &tmp,
        "vctk+librispeech",
        Variant::Stereo,
        vctk.sample_rate,
        &stereo,
    );

    // The same at 44.1 kHz, another session rate.
    let at_44k = vctk.resampled(44_100).expect("resample");
    check(
        &tmp,
        "vctk-44k1",
        Variant::Mono,
        44_100,
        &[at_44k.to_mono()],
    );
}

#[test]
fn lv2apply_matches_the_chain_on_shared_recordings() {
    if !have_tool("lv2apply", "lilv-utils") {
        return;
    }
    let speech = Path::new(SHARED_DATA).join("speech");
    let mut files: Vec<_> = walk(&speech)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav" || e == "flac"))
        .collect();
    if files.is_empty() {
        eprintln!(
            "SKIPPED: no recordings under {} (../shared/data is optional)",
            speech.display()
        );
        return;
    }
    files.sort();
    // The first recording of each corpus (LibriSpeech, VCTK, …), up to 6 s each, keeps
    // the run time short.
    let mut picked: Vec<&std::path::PathBuf> = Vec::new();
    for f in &files {
        if !picked.iter().any(|p| p.parent() == f.parent()) && picked.len() < 3 {
            picked.push(f);
        }
    }
    let tmp = TempDir::new("lv2apply-shared");
    for (i, path) in picked.into_iter().enumerate() {
        let audio =
            faurge_io::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let rate = audio.sample_rate.clamp(22_050, 192_000);
        let audio = if rate == audio.sample_rate {
            audio
        } else {
            audio.resampled(rate).expect("resample")
        };
        let mut mono = audio.to_mono();
        mono.truncate(6 * rate as usize);
        println!("{}", path.display());
        check(&tmp, &format!("shared-{i}"), Variant::Mono, rate, &[mono]);
    }
}

/// Every file under `dir`, recursively (empty if it does not exist).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn lv2apply_with_extreme_and_bad_input_stays_finite() {
    if !have_tool("lv2apply", "lilv-utils") {
        return;
    }
    let tmp = TempDir::new("lv2apply-bad");
    // Full-scale square wave with NaN, ±Inf and huge samples, then silence.
    let mut input: Vec<f32> = (0..48_000)
        .map(|i| if (i / 60) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    for (i, bad) in [
        (100, f32::NAN),
        (5000, f32::INFINITY),
        (9000, f32::NEG_INFINITY),
        (12_000, 1e30),
    ] {
        input[i] = bad;
    }
    input.extend(std::iter::repeat_n(0.0, 96_000));
    // Every control at its maximum (gains +24 dB, ratio 20:1, 0.1 ms attack, …),
    // then every control at its minimum.
    for (name, pick) in [("max", 0), ("min", 1)] {
        let settings: Vec<(&str, f32)> = PARAMS
            .iter()
            .filter(|p| p.id != "bypass")
            .map(|p| (p.id, if pick == 0 { p.max } else { p.min }))
            .collect();
        let out = lv2apply(
            &tmp,
            name,
            Variant::Mono,
            48_000,
            &[input.clone()],
            &settings,
        );
        assert!(
            out[0].iter().all(|s| s.is_finite()),
            "{name}: non-finite output"
        );
        let tail = &out[0][48_000 + 72_000..];
        assert!(
            tail.iter().all(|&s| s == 0.0),
            "{name}: silence in must become exact silence out"
        );
    }
}

/// A bake triggered in an `lv2apply` run (`-c bake 1`: the trigger's rising edge at
/// the first frame) runs through the real helper process with the prompt from
/// `$XDG_CONFIG_HOME/faurge/prompt.txt`, and the output changes: the first 0.3 s
/// equal the default render, the last 5 s do not. The input is long (120 s of looped
/// speech, a few seconds of lv2apply) so the result arrives while it still runs.
#[test]
fn a_bake_in_lv2apply_changes_the_output() {
    if !have_tool("lv2apply", "lilv-utils") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let helper = std::env::var_os("FAURGE_HELPER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/debug/faurge-helper"));
    assert!(
        helper.is_file(),
        "no helper at {}: run `cargo build -p faurge-helper --bin faurge-helper`",
        helper.display()
    );
    let tmp = TempDir::new("lv2-bake");
    let config = tmp.path("config");
    std::fs::create_dir_all(config.join("faurge")).unwrap();
    std::fs::write(config.join("faurge/prompt.txt"), "warm radio voice\n").unwrap();

    let rate = 48_000;
    let (clip_rate, clip) = read_wav(Path::new(VCTK));
    let clip = faurge_io::resample(&clip[..1], clip_rate, rate)
        .unwrap()
        .remove(0);
    let voiced = &clip[(0.55 * rate as f32) as usize..(3.75 * rate as f32) as usize];
    let n = 120 * rate as usize;
    let input = vec![voiced.iter().copied().cycle().take(n).collect::<Vec<f32>>()];

    let (inp, out) = (tmp.path("bake-in.wav"), tmp.path("bake-out.wav"));
    write_f32_wav(&inp, rate, &input);
    let mut cmd = Command::new("lv2apply");
    cmd.env("XDG_CONFIG_HOME", &config)
        .env("FAURGE_HELPER", &helper)
        .arg("-i")
        .arg(&inp)
        .arg("-o")
        .arg(&out)
        .arg("-c")
        .arg("bake")
        .arg("1")
        .arg(Variant::Mono.uri());
    if std::env::var_os("FAURGE_MODELS").is_none() {
        let models = root.join("bundle/models");
        if models.join("manifest.json").is_file() {
            cmd.env("FAURGE_MODELS", models);
        }
    }
    let t0 = std::time::Instant::now();
    let (log, stderr) = run_lv2_tool_with_log(&mut cmd);
    // The host's log gets a line per bake, not the report (kilobytes of JSON: it
    // goes to report.json beside status.txt).
    assert!(
        !stderr.contains("\"rounds\"") && !stderr.contains("\"dsp_state\""),
        "the bake's JSON report reached the host's log:\n{stderr}"
    );
    let (_, output) = read_wav(&out);
    let reference = chain_render(rate as f32, &state_of(&[("bake", 1.0)]), &input);
    let head = (0.3 * rate as f32) as usize;
    let cut = |x: &[Vec<f32>], a: usize, b: usize| vec![x[0][a..b].to_vec()];
    let head_err = error_db(&cut(&output, 0, head), &cut(&reference, 0, head));
    let tail_err = error_db(
        &cut(&output, n - 5 * rate as usize, n),
        &cut(&reference, n - 5 * rate as usize, n),
    );
    println!(
        "lv2apply with a bake: {:.1} s; first 0.3 s {head_err:.1} dB from the default render, last 5 s {tail_err:.1} dB\n{log}",
        t0.elapsed().as_secs_f32()
    );
    assert!(
        head_err <= MAX_ERROR_DB,
        "the output changed before any bake could finish"
    );
    // What the plugin wrote about the bake (a failed bake, e.g. a helper built from
    // another protocol version, leaves the output at the default render).
    let status = std::fs::read_to_string(config.join("faurge/status.txt"))
        .unwrap_or_else(|e| format!("no status.txt: {e}"));
    assert!(
        tail_err > -40.0,
        "the bake did not change the output (last 5 s {tail_err:.1} dB from the default render)\n{log}\n{status}"
    );
    assert!(status.starts_with("state: applied"), "{status}");

    // The swap is click-free: from 0.1 s before the output first leaves the default
    // render to 50 ms after, the largest sample-to-sample step is at most 1.5× the
    // largest step of the steady output before (the default render) or after (a
    // period near the end, settled) at the same input positions, plus 0.005 for the
    // fades' own slope. The input loops with period `p`.
    let (out, refr, p) = (&output[0], &reference[0], voiced.len());
    let swap = (head..n)
        .find(|&j| (out[j] - refr[j]).abs() > 1e-4)
        .expect("the output never left the default render");
    let (w0, w1) = (swap - rate as usize / 10, swap + rate as usize / 20);
    let step = |x: &[f32], j: usize| (x[j] - x[j - 1]).abs();
    let around = (w0 + 1..w1).map(|j| step(out, j)).fold(0.0f32, f32::max);
    let settled = (n / p - 2) * p;
    let steady = (w0 + 1..w1)
        .map(|j| step(refr, j).max(step(out, settled + j % p)))
        .fold(0.0f32, f32::max);
    println!(
        "swap at {:.2} s: largest step around it {around:.4}, steady output at the same input positions {steady:.4}",
        swap as f32 / rate as f32
    );
    assert!(
        around <= 1.5 * steady + 0.005,
        "click at the swap: step {around} vs {steady}"
    );
}
