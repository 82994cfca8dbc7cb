//! Per-block CPU cost of `Faurge.clap` at 48 kHz with 64-frame blocks, measured in the
//! clack host around each `process()` call (its own test binary, so no other test
//! runs beside it). Prints mean / median / 99th percentile per block and the share of
//! the 1333 µs real-time budget; fails only if the mean exceeds the budget.
//!
//! By default it measures the host-test build (debug assertions on, opt-level 2). Set
//! `FAURGE_CLAP_PATH=target/bundled/Faurge.clap` (after `cargo xtask bundle`) to
//! measure the release build.

use std::path::PathBuf;
use std::time::Duration;

use faurge_clap_host_tests::{base64_f32, bool_value, bundles, f32_value, state_blob, Library};
use rand::{Rng, SeedableRng};

const RATE: u32 = 48_000;
const BLOCK: usize = 64;

fn session(extra: &[(&str, serde_json::Value)], ir_seconds: Option<f32>) -> Vec<u8> {
    let mut params: Vec<(&str, serde_json::Value)> = vec![
        ("hp_on", bool_value(true)),
        ("hp_hz", f32_value(90.0)),
        ("ls_db", f32_value(3.0)),
        ("p1_db", f32_value(-4.0)),
        ("p2_db", f32_value(2.0)),
        ("p3_db", f32_value(3.0)),
        ("p4_db", f32_value(-2.0)),
        ("hs_db", f32_value(2.5)),
        ("lp_on", bool_value(true)),
        ("cmp_on", bool_value(true)),
        ("cmp_thr", f32_value(-24.0)),
        ("cmp_rat", f32_value(4.0)),
        ("cmp_mkp", f32_value(6.0)),
    ];
    params.extend(extra.iter().cloned());
    let mut fields = vec![("format", "1".to_string())];
    if let Some(s) = ir_seconds {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let n = (s * RATE as f32) as usize;
        let ir: Vec<f32> = (0..n)
            .map(|i| rng.gen_range(-1.0f32..1.0) * (-(i as f32) / (0.3 * RATE as f32)).exp())
            .collect();
        fields.push((
            "ir",
            serde_json::json!({ "sample_rate": RATE as f32, "channels": [base64_f32(&ir)] })
                .to_string(),
        ));
    }
    state_blob("0.1.0", &params, &fields)
}

fn stats(times: &[Duration]) -> (f64, f64, f64) {
    let mut us: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    (mean, us[us.len() / 2], us[us.len() * 99 / 100])
}

#[test]
fn cpu_cost_per_block_at_48k_b64() {
    let path = std::env::var_os("FAURGE_CLAP_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| bundles().clap.clone());
    let lib = Library::load(&path);
    let clip = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/speech_vctk_p234_012.wav"
    );
    let mono = faurge_io::read(clip)
        .unwrap()
        .resampled(RATE)
        .unwrap()
        .to_mono();
    // 10 s of speech (the 4 s clip repeated), stereo.
    let left: Vec<f32> = mono
        .iter()
        .copied()
        .cycle()
        .take(10 * RATE as usize)
        .collect();
    let input = vec![left.clone(), left.iter().map(|v| 0.8 * v).collect()];
    let budget_us = BLOCK as f64 / f64::from(RATE) * 1e6;
    eprintln!("\nFaurge.clap per-block CPU cost, {RATE} Hz, {BLOCK}-frame blocks, stereo, 10 s of speech ({})", path.display());
    eprintln!(
        "{:<36} {:>9} {:>9} {:>9} {:>8}",
        "settings", "mean µs", "median", "p99", "budget"
    );
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "defaults (transparent)",
            state_blob("0.1.0", &[], &[("format", "1".to_string())]),
        ),
        ("8-band EQ + compressor", session(&[], None)),
        (
            "EQ + comp + 0.5 s IR (mix 50 %)",
            session(
                &[("ir_on", bool_value(true)), ("ir_mix", f32_value(50.0))],
                Some(0.5),
            ),
        ),
        (
            "EQ + comp + 2 s IR (mix 50 %)",
            session(
                &[("ir_on", bool_value(true)), ("ir_mix", f32_value(50.0))],
                Some(2.0),
            ),
        ),
    ];
    for (label, state) in cases {
        let mut p = lib.instantiate("com.github.faurge.faurge");
        assert!(p.load_state(&state));
        let mut active = p.activate(f64::from(RATE), BLOCK as u32).unwrap();
        // Warm up (page faults, caches), then measure.
        let _ = p.process(
            &mut active,
            &[
                input[0][..RATE as usize].to_vec(),
                input[1][..RATE as usize].to_vec(),
            ],
            std::iter::repeat(BLOCK),
            &[],
        );
        let run = p.process(&mut active, &input, std::iter::repeat(BLOCK), &[]);
        assert!(run.audio.iter().flatten().all(|v| v.is_finite()));
        let (mean, median, p99) = stats(&run.block_times);
        eprintln!(
            "{label:<36} {mean:>9.2} {median:>9.2} {p99:>9.2} {:>7.1}%",
            100.0 * mean / budget_us
        );
        assert!(
            mean < budget_us,
            "{label}: {mean:.1} µs per {BLOCK}-frame block exceeds the {budget_us:.0} µs budget"
        );
        p.deactivate(active);
    }
}
