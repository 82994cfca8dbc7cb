//! The fuzz targets of `fuzz/targets.rs`, each run for a bounded time on stable
//! (`FAURGE_FUZZ_SECONDS`, default 3 s) over mutations of its corpus in
//! `fuzz/corpus/`: the audio-file loader, the IPC decoders, the prompt sanitizer,
//! `DspState` and the models manifest. A panic fails the test and saves the input.

#[path = "../../fuzz/runner.rs"]
mod runner;
#[path = "../../fuzz/targets.rs"]
mod targets;

fn run(name: &str, target: fn(&[u8])) {
    // The targets' own panics are what this looks for; keep the log to the finding.
    let stats = runner::fuzz(name, target);
    assert!(
        stats.runs > stats.seeds as u64,
        "{name}: no mutations ran ({} inputs)",
        stats.runs
    );
    eprintln!(
        "{name}: {} inputs from {} seeds, no panic",
        stats.runs, stats.seeds
    );
}

#[test]
fn fuzz_wav_loader() {
    run("wav", targets::wav);
}

#[test]
fn fuzz_flac_loader() {
    run("flac", targets::flac);
}

#[test]
fn fuzz_ipc_request_decoder() {
    run("ipc_request", targets::ipc_request);
}

#[test]
fn fuzz_ipc_reply_decoder() {
    run("ipc_reply", targets::ipc_reply);
}

#[test]
fn fuzz_prompt_sanitizer() {
    run("prompt", targets::prompt);
}

#[test]
fn fuzz_dsp_state() {
    run("dsp_state", targets::dsp_state);
}

#[test]
fn fuzz_manifest() {
    run("manifest", targets::manifest);
}
