//! The fuzz targets of `fuzz/targets.rs`, each run for a bounded time on stable
//! (`FAURGE_FUZZ_SECONDS`, default 3 s) over mutations of its corpus in
//! `fuzz/corpus/`: the audio-file loader, the IPC decoders, the prompt sanitizer,
//! `DspState` and the models manifest. A panic fails the test and saves the input.

#[path = "../../fuzz/runner.rs"]
mod runner;
#[path = "../../fuzz/targets.rs"]
mod targets;

/// Fuzzes `target`; any panic in it, caught inside or not, is a finding.
fn run(name: &str, target: fn(&[u8])) {
    run_counting(name, true, target);
}

fn run_counting(name: &str, caught_count: bool, target: fn(&[u8])) {
    let stats = runner::fuzz(name, caught_count, target);
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

/// Only panics that escape count here. symphonia's RIFF walker pads odd-length
/// `LIST` chunks twice and can leave `fmt ` extension bytes unread, so it may read
/// chunk headers at other offsets than the file's structure; a file crafted for
/// that reaches a 0 Hz `fmt ` past the data header that `faurge_io::header` never
/// sees, and symphonia's probe panics (corpus: `wav/list_*`). `faurge_io` catches
/// it and reports a decode error; that is what this checks.
#[test]
fn fuzz_wav_loader() {
    run_counting("wav", false, targets::wav);
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
