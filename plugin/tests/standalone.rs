//! The standalone runs headless on nice-plug's dummy backend (no audio hardware, no
//! JACK server) for a few seconds, processing blocks with the allocation checks on,
//! and exits 0 on SIGINT.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_headless(args: &[&str]) {
    let exe = env!("CARGO_BIN_EXE_faurge-standalone");
    let mut child = Command::new(exe)
        .args(["--backend", "dummy"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start the standalone");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the standalone exited early ({args:?})"
    );
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let t0 = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the standalone did not exit within 10 s of SIGINT ({args:?})");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        status.success(),
        "exit status {status} ({args:?}); stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn runs_headless_stereo_at_48k() {
    run_headless(&["--sample-rate", "48000", "--period-size", "256"]);
}

#[test]
fn runs_headless_mono_at_96k() {
    run_headless(&[
        "--sample-rate",
        "96000",
        "--period-size",
        "64",
        "--audio-layout",
        "1",
    ]);
}
