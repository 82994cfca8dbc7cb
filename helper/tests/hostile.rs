//! The `faurge` binary used carelessly or with hostile input: outputs
//! that name inputs, closed pipes, signals, files with absurd headers, explicit
//! configuration that is wrong, and processes that pretend to be the helper. Real
//! binaries, real files, real signals.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

/// The CLI with the real helper built next to it (so that an unchecked run would
/// really bake, and really overwrite).
fn faurge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_faurge"));
    c.env("FAURGE_HELPER", env!("CARGO_BIN_EXE_faurge-helper"))
        .env_remove("FAURGE_MODELS")
        .env("RUST_BACKTRACE", "0");
    if let Some(m) = std::env::var_os("FAURGE_TEST_MODELS") {
        c.env("FAURGE_MODELS", m);
    }
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean failure (exit 1, not a panic's 101) whose stderr contains `needle`.
fn refused(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert!(e.contains(needle), "expected {needle:?} in: {e}");
}

/// A 16-bit PCM WAV whose header claims `rate` and `channels`, with `frames` frames
/// of a quiet sine (the bytes are as written, whatever the header claims).
fn wav_bytes(rate: u32, channels: u16, frames: u32) -> Vec<u8> {
    let block = u32::from(channels) * 2;
    let data = frames * block;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&rate.wrapping_mul(block).to_le_bytes());
    v.extend_from_slice(&(block as u16).to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data.to_le_bytes());
    for i in 0..frames * u32::from(channels) {
        let s = ((i as f32 * 0.05).sin() * 3000.0) as i16;
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

/// Copies the shipped degraded example into `dir` as `name`.
fn copy_example(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(repo("examples/degraded_vctk_p236_023.wav"), &p).unwrap();
    p
}

// ---- 1. Never destroy input -------------------------------------------------

#[test]
fn an_output_naming_an_input_or_another_output_is_refused_and_nothing_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    let input = copy_example(&dir, "x.wav");
    let original = std::fs::read(&input).unwrap();
    let other = dir.join("out.wav");

    // `-o` through `./../dir/x.wav`, run from inside `dir`.
    let o = faurge()
        .current_dir(&dir)
        .args(["fix", "x.wav", "--prompt", "warm", "-o", "./../dir/x.wav"])
        .output()
        .unwrap();
    refused(&o, "is the input");
    // `--report` naming the input.
    let o = faurge()
        .current_dir(&dir)
        .args(["fix", "x.wav", "--prompt", "warm", "-o", "out.wav"])
        .args(["--report", "x.wav"])
        .output()
        .unwrap();
    refused(&o, "is the input");
    // `--report` naming the `-o` file.
    let o = faurge()
        .arg("fix")
        .arg(&input)
        .args(["--prompt", "warm", "-o"])
        .arg(&other)
        .arg("--report")
        .arg(dir.join("../dir/out.wav"))
        .output()
        .unwrap();
    refused(&o, "are the same file");
    // `--report x.png`: its plot would be `x.png` as well; the plot now gets its own name,
    // so what stops this run is only that x.png is the input here.
    let png_input = dir.join("x.png");
    std::fs::copy(&input, &png_input).unwrap();
    let o = faurge()
        .arg("fix")
        .arg(&png_input)
        .args(["--prompt", "warm", "-o"])
        .arg(&other)
        .arg("--report")
        .arg(&png_input)
        .output()
        .unwrap();
    refused(&o, "is the input");
    // The same file through a symbolic link, and `render` and `degrade` too.
    let link = tmp.path().join("link.wav");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    let o = faurge()
        .arg("render")
        .arg(&input)
        .args(["--preset", "warm-radio", "-o"])
        .arg(&link)
        .output()
        .unwrap();
    refused(&o, "is the input");
    let o = faurge()
        .arg("degrade")
        .arg(&input)
        .arg("-o")
        .arg(&input)
        .output()
        .unwrap();
    refused(&o, "is the input");

    assert_eq!(
        std::fs::read(&input).unwrap(),
        original,
        "the input changed"
    );
    assert!(!other.exists(), "nothing written");
}

#[test]
fn outputs_are_renamed_into_place_so_a_file_linked_to_the_old_output_keeps_its_content() {
    // `render` writes a temporary file and renames it over the output. Written in
    // place, the old output's other hard link would be overwritten too (and an
    // interrupted run would leave half a file).
    let tmp = tempfile::tempdir().unwrap();
    let keep = tmp.path().join("keep.wav");
    std::fs::write(&keep, b"the old take").unwrap();
    std::fs::set_permissions(&keep, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let out = tmp.path().join("out.wav");
    std::fs::hard_link(&keep, &out).unwrap();
    let o = faurge()
        .arg("render")
        .arg(repo("examples/speech_vctk_p234_012.wav"))
        .args(["--preset", "warm-radio", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(&keep).unwrap() == b"the old take",
        "the old output's other link was written through"
    );
    assert!(faurge_io::read(&out).is_ok());
    // The file has the old output's permissions, not a temporary file's 0600.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let fresh = tmp.path().join("fresh.wav");
    let o = faurge()
        .arg("render")
        .arg(repo("examples/speech_vctk_p234_012.wav"))
        .args(["--preset", "flat", "-o"])
        .arg(&fresh)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
        .unwrap();
    assert_eq!(
        std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o666 & !umask
    );
    std::fs::remove_file(&fresh).unwrap();
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
}

// ---- 2. Closed pipes and signals --------------------------------------------

/// Runs `cmd` with stderr and stdout connected to pipes whose read ends are closed
/// before it writes anything.
fn run_with_closed_pipes(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stderr_and_stdout_do_not_stop_render_or_measure() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.wav");
    let o = run_with_closed_pipes(
        faurge()
            .arg("render")
            .arg(repo("examples/speech_vctk_p234_012.wav"))
            .args(["--preset", "warm-radio", "--dump-state", "-o"])
            .arg(&out),
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(faurge_io::read(&out).is_ok());
    let o = run_with_closed_pipes(
        faurge()
            .arg("measure")
            .arg(repo("examples/speech_vctk_p234_012.wav")),
    );
    assert_eq!(o.status.code(), Some(0));
}

/// A stand-in helper: a shell script that writes its pid and its child's pid to
/// `pids` and then sleeps (a helper stuck in start-up).
fn sleeping_helper(dir: &Path, pids: &Path) -> PathBuf {
    let script = dir.join("slow-helper");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 300 &\necho $$ $! > '{}'\nwait\n",
            pids.display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    script
}

fn alive(pid: i32) -> bool {
    // A zombie (already dead, not yet reaped by its parent) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigint_and_sigterm_during_helper_start_up_stop_the_helper_and_leave_no_socket() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let tmp = tempfile::tempdir().unwrap();
        let private_tmp = tmp.path().join("tmp");
        std::fs::create_dir(&private_tmp).unwrap();
        let pids = tmp.path().join("pids");
        let helper = sleeping_helper(tmp.path(), &pids);
        let mut child = faurge()
            .env("TMPDIR", &private_tmp)
            .env("FAURGE_MODELS", repo("bundle/models"))
            .arg("fix")
            .arg(repo("examples/degraded_vctk_p236_023.wav"))
            .args(["--prompt", "warm", "-o"])
            .arg(tmp.path().join("out.wav"))
            .arg("--helper")
            .arg(&helper)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the helper to start", Duration::from_secs(20), || {
            std::fs::read_to_string(&pids).is_ok_and(|s| s.trim().split(' ').count() == 2)
        });
        let started: Vec<i32> = std::fs::read_to_string(&pids)
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        // The socket exists now, in a folder under TMPDIR.
        assert!(std::fs::read_dir(&private_tmp).unwrap().count() > 0);
        unsafe { libc::kill(child.id() as i32, signal) };
        let t = Instant::now();
        let status = child.wait().unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(130), "signal {signal}: {err}");
        wait_for("the helper to go", Duration::from_secs(5), || {
            started.iter().all(|p| !alive(*p))
        });
        let left: Vec<_> = std::fs::read_dir(&private_tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "signal {signal} left {left:?}");
        assert!(!tmp.path().join("out.wav").exists());
    }
}

#[test]
fn sigterm_while_an_output_is_written_leaves_neither_it_nor_its_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.wav");
    std::fs::write(&input, wav_bytes(96_000, 2, 96_000 * 120)).unwrap();
    let outdir = tmp.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let mut child = faurge()
        .arg("render")
        .arg(&input)
        .args(["--preset", "warm-radio", "-o"])
        .arg(outdir.join("out.wav"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the temporary output", Duration::from_secs(20), || {
        std::fs::read_dir(&outdir).unwrap().count() > 0
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let left: Vec<_> = std::fs::read_dir(&outdir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

// ---- 3. Header sanity ---------------------------------------------------------

#[test]
fn absurd_headers_are_refused_before_decoding_in_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.wav");
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("zero.wav", wav_bytes(0, 1, 4800), "sample rate is 0 Hz"),
        ("one.wav", wav_bytes(1, 1, 4800), "sample rate is 1 Hz"),
        (
            "hundred.wav",
            wav_bytes(100, 1, 4800),
            "sample rate is 100 Hz",
        ),
        ("fast.wav", wav_bytes(1_000_000, 1, 4800), "1000000 Hz"),
        ("wide.wav", wav_bytes(48_000, 40_000, 1), "40000 channels"),
        ("none.wav", wav_bytes(48_000, 0, 0), "0 channels"),
    ];
    for (name, bytes, needle) in cases {
        let f = tmp.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let t = Instant::now();
        for args in [
            vec!["measure"],
            vec!["render", "--preset", "flat", "-o", out.to_str().unwrap()],
            vec!["degrade", "-o", out.to_str().unwrap()],
            vec!["fix", "--prompt", "warm", "-o", out.to_str().unwrap()],
        ] {
            let o = faurge()
                .arg(args[0])
                .arg(&f)
                .args(&args[1..])
                .output()
                .unwrap();
            refused(&o, needle);
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{name}: {:?}",
            t.elapsed()
        );
        // As an impulse response too.
        let o = faurge()
            .arg("render")
            .arg(repo("examples/speech_vctk_p234_012.wav"))
            .arg("--ir")
            .arg(&f)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        refused(&o, needle);
    }
    assert!(!out.exists());
}

#[test]
fn headers_the_fuzzer_found_are_clean_errors_without_a_panic_message() {
    // A 0 Hz RIFF one byte into the file (symphonia's probe scans for it), two fmt
    // chunks, and a LIST chunk that puts symphonia's walk past the data header
    // onto a 0 Hz fmt: each made symphonia panic.
    for name in [
        "riff_at_offset_1_zero_rate.wav",
        "two_fmt_chunks_first_zero_rate.wav",
        "list_length_desync_second_fmt.wav",
        "list_odd_length_desync_fmt_in_data.wav",
    ] {
        let o = faurge()
            .arg("measure")
            .arg(repo("fuzz/corpus/wav").join(name))
            .output()
            .unwrap();
        refused(&o, "Could not decode");
    }
}

#[test]
fn a_384_khz_file_renders_at_its_own_rate() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("hi.wav");
    std::fs::write(&f, wav_bytes(384_000, 2, 38_400)).unwrap();
    let out = tmp.path().join("out.wav");
    let o = faurge()
        .arg("render")
        .arg(&f)
        .args(["--preset", "warm-radio", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let a = faurge_io::read(&out).unwrap();
    assert_eq!(
        (a.sample_rate, a.frames(), a.num_channels()),
        (384_000, 38_400, 2)
    );
}

/// Runs `cmd` to the end; returns its exit code and its peak resident memory, bytes
/// (`wait4`'s `ru_maxrss` for that one process).
// Reaped by `wait4` below, which also returns its resource usage.
#[allow(clippy::zombie_processes)]
fn run_measuring_memory(cmd: &mut Command) -> (i32, u64) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_long_file_renders_in_bounded_memory() {
    // 10 minutes of 48 kHz mono: 115 MB as f32. Held whole (the file, a working
    // copy, the output) that was over 300 MB; streamed it is a few chunks.
    let tmp = tempfile::tempdir().unwrap();
    let long = tmp.path().join("long.wav");
    std::fs::write(&long, wav_bytes(48_000, 1, 600 * 48_000)).unwrap();
    let out = tmp.path().join("out.wav");
    let (code, peak) = run_measuring_memory(
        faurge()
            .arg("render")
            .arg(&long)
            .args(["--preset", "warm-radio", "--ir"])
            .arg(repo("examples/rir_clap.wav"))
            .arg("-o")
            .arg(&out),
    );
    assert_eq!(code, 0);
    eprintln!("peak memory of a 10-minute render: {} MiB", peak >> 20);
    assert!(peak < 80 << 20, "peak memory {} MiB", peak >> 20);
    let a = faurge_io::read(&out).unwrap();
    assert_eq!((a.sample_rate, a.frames()), (48_000, 600 * 48_000));
}

/// A file whose rate is resampled on the way in and out renders, in pieces, to
/// exactly what rendering it whole gives: the same length, and the same samples as
/// a whole-file render made of the library's parts.
#[test]
fn a_streamed_render_of_a_resampled_rate_keeps_rate_and_length() {
    let tmp = tempfile::tempdir().unwrap();
    for (rate, frames) in [(16_000u32, 48_123u32), (384_000, 400_001)] {
        let f = tmp.path().join(format!("in-{rate}.wav"));
        std::fs::write(&f, wav_bytes(rate, 2, frames)).unwrap();
        let out = tmp.path().join(format!("out-{rate}.wav"));
        let o = faurge()
            .arg("render")
            .arg(&f)
            .args(["--preset", "flat", "--format", "float32", "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let a = faurge_io::read(&f).unwrap();
        let b = faurge_io::read(&out).unwrap();
        assert_eq!((b.sample_rate, b.frames()), (rate, frames as usize));
        // The flat chain is transparent: only the two resamplers' round trip is left.
        let err: f32 = a.channels[0][1000..frames as usize - 1000]
            .iter()
            .zip(&b.channels[0][1000..])
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(err < 0.01, "{rate} Hz: round trip differs by {err}");
    }
}

// ---- 4. Explicit configuration wins or fails ---------------------------------

#[test]
fn a_wrong_models_folder_or_helper_that_was_named_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty-models");
    std::fs::create_dir(&empty).unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let missing = tmp.path().join("missing");
    let fix = |c: &mut Command, extra: &[&Path]| {
        c.arg("fix")
            .arg(repo("examples/degraded_vctk_p236_023.wav"))
            .args(["--prompt", "warm", "-o"])
            .arg(tmp.path().join("out.wav"))
            .args(extra)
            .output()
            .unwrap()
    };
    for dir in [&empty, &file, &missing] {
        let o = fix(faurge().env("FAURGE_MODELS", dir), &[]);
        refused(&o, &format!("$FAURGE_MODELS \"{}\"", dir.display()));
        let o = fix(&mut faurge(), &[Path::new("--models"), dir]);
        refused(&o, &format!("--models \"{}\"", dir.display()));
    }
    for helper in [&missing, &empty] {
        let o = fix(faurge().env("FAURGE_HELPER", helper), &[]);
        refused(&o, &format!("\"{}\"", helper.display()));
        assert!(stderr(&o).contains("FAURGE_HELPER"), "{}", stderr(&o));
    }
    assert!(!tmp.path().join("out.wav").exists());
}

// ---- 5. Messages ---------------------------------------------------------------

#[test]
fn too_short_input_or_reference_says_how_much_audio_is_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let short = tmp.path().join("short.wav");
    std::fs::write(&short, wav_bytes(48_000, 1, 2_400)).unwrap();
    let one = tmp.path().join("one.wav");
    std::fs::write(&one, wav_bytes(48_000, 1, 1)).unwrap();
    let o = faurge()
        .arg("fix")
        .arg(&short)
        .args(["--prompt", "warm", "-o"])
        .arg(tmp.path().join("out.wav"))
        .output()
        .unwrap();
    refused(&o, "is 50 ms long; at least");
    let o = faurge()
        .arg("fix")
        .arg(repo("examples/degraded_vctk_p236_023.wav"))
        .args(["--prompt", "warm", "-o"])
        .arg(tmp.path().join("out.wav"))
        .arg("--reference")
        .arg(&one)
        .output()
        .unwrap();
    refused(&o, "ms of audio is needed");
    assert!(stderr(&o).contains("The reference"), "{}", stderr(&o));
}

// ---- 6. The process boundary -------------------------------------------------

/// A stand-in helper (Python) that connects to the CLI's socket as the helper
/// would and sends `payload` (bytes, as a Python literal) instead of a handshake.
fn garbage_helper(dir: &Path, payload: &str) -> PathBuf {
    let script = dir.join("garbage-helper");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env python3\nimport socket, sys, time\n\
             name = sys.argv[sys.argv.index('--ipc') + 1]\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n\
             s.connect(name)\n\
             payload = {payload}\n\
             if payload: s.send(payload)\n\
             s.close()\n\
             time.sleep(30)\n"
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    script
}

#[test]
fn garbage_on_the_helper_socket_is_a_quick_clear_error() {
    for payload in [
        "bytes(range(256)) * 4",
        "b'\\xff' * 64",
        "b'\\x10\\x00\\x00\\x00\\x00\\x00\\x00\\x00' + b'\\x00' * 8",
        "b''",
        // A whole, well-framed message whose channel index points at no channel:
        // ipc-channel panics decoding it (found by fuzz/targets.rs).
        "(26).to_bytes(8, 'little') + (10).to_bytes(8, 'little') + bytes.fromhex('00000000000000ff7321')",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let helper = garbage_helper(tmp.path(), payload);
        let t = Instant::now();
        let o = faurge()
            .env("FAURGE_MODELS", repo("bundle/models"))
            .arg("fix")
            .arg(repo("examples/degraded_vctk_p236_023.wav"))
            .args(["--prompt", "warm", "-o"])
            .arg(tmp.path().join("out.wav"))
            .arg("--helper")
            .arg(&helper)
            .output()
            .unwrap();
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{payload}: {e}");
        assert!(e.contains("The helper did not start"), "{payload}: {e}");
        assert!(!e.contains("panicked"), "{payload}: {e}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{payload}: took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn a_fake_helper_printing_binary_garbage_gets_a_short_error_and_its_children_are_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let pids = tmp.path().join("pids");
    let script = tmp.path().join("noisy-helper");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 300 &\necho $! > '{}'\nhead -c 20000 /dev/urandom >&2\nexit 3\n",
            pids.display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    let o = faurge()
        .env("FAURGE_MODELS", repo("bundle/models"))
        .arg("fix")
        .arg(repo("examples/degraded_vctk_p236_023.wav"))
        .args(["--prompt", "warm", "-o"])
        .arg(tmp.path().join("out.wav"))
        .arg("--helper")
        .arg(&script)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.len() < 1000, "{} bytes of error: {e}", e.len());
    assert!(e.contains("binary data"), "{e}");
    assert!(!e.chars().any(|c| c.is_control() && c != '\n'), "{e:?}");
    let grandchild: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the helper's child to go", Duration::from_secs(5), || {
        !alive(grandchild)
    });
}

// ---- Full bakes (the shipped models) -------------------------------------------

#[test]
fn fix_with_closed_stdout_and_stderr_still_writes_its_output_and_a_png_report_keeps_its_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fixed.wav");
    let report = tmp.path().join("r.png");
    let o = run_with_closed_pipes(
        faurge()
            .arg("fix")
            .arg(repo("examples/degraded_vctk_p236_023.wav"))
            .args(["--prompt", "warm radio voice", "--max-rounds", "1", "-o"])
            .arg(&out)
            .arg("--report")
            .arg(&report),
    );
    assert_eq!(o.status.code(), Some(0));
    let a = faurge_io::read(&out).unwrap();
    assert_eq!(a.sample_rate, 48_000);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).expect("the report is JSON");
    assert!(json["report"]["rounds"].is_array());
    let png = std::fs::read(tmp.path().join("r.plot.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

#[test]
fn a_hostile_non_english_prompt_is_echoed_clean_and_short_and_said_not_understood() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fixed.wav");
    // A terminal title change and a screen clear, a non-Latin script, 100 kB.
    let prompt = format!(
        "\u{1b}]0;pwned\u{7}\u{1b}[2J温暖的声音 {}",
        "声".repeat(33_000)
    );
    let o = faurge()
        .arg("fix")
        .arg(repo("examples/degraded_vctk_p236_023.wav"))
        .args(["--max-rounds", "1", "--prompt", &prompt, "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(!e.contains('\u{1b}') && !e.contains('\u{7}'), "{e:?}");
    assert!(e.len() < 8_000, "{} bytes on stderr", e.len());
    assert!(e.contains("more characters)"), "{e}");
    assert!(e.contains("did not understand"), "{e}");
    assert!(faurge_io::read(&out).is_ok());
}

#[test]
fn no_path_of_the_build_machine_is_compiled_into_the_programs_data() {
    // The checkout's bundle/models used to be compiled in (env!("CARGO_MANIFEST_DIR")),
    // so a user's error named the build machine's folder. The data section (.rodata)
    // holds what the program can print or open; DWARF line tables, kept for
    // backtraces, are not looked at.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let needle = checkout.to_str().unwrap().as_bytes();
    let tmp = tempfile::tempdir().unwrap();
    for exe in [
        env!("CARGO_BIN_EXE_faurge"),
        env!("CARGO_BIN_EXE_faurge-helper"),
    ] {
        let rodata = tmp.path().join("rodata");
        let ok = Command::new("objcopy")
            .args(["-O", "binary", "--only-section=.rodata", exe])
            .arg(&rodata)
            .status()
            .expect("objcopy (binutils)")
            .success();
        assert!(ok);
        let data = std::fs::read(&rodata).unwrap();
        assert!(
            data.len() > 100_000,
            "{exe}: .rodata is {} bytes",
            data.len()
        );
        assert!(
            !data.windows(needle.len()).any(|w| w == needle),
            "{exe} holds \"{}\"",
            checkout.display()
        );
    }
}
