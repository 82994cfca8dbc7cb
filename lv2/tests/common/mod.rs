//! Shared test helpers: the bundle under `target/lv2-tests/faurge.lv2`, external tools,
//! the reference `Chain` render and error measures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_dsp::state::DspState;
use faurge_params::{dsp_state_from, values_with};

/// The shipped 48 kHz mono VCTK clip.
pub const VCTK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/speech_vctk_p234_012.wav"
);
/// The shipped 16 kHz mono LibriSpeech clip.
pub const LIBRISPEECH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/speech_librispeech_19-198-0000.flac"
);
/// Recordings beside the repository, used when present.
pub const SHARED_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data");

/// Non-default settings that move every section of the chain: high-pass and
/// low-pass on, shelves and peaks moved, compressor on and working, the convolver on
/// at 60 % (its built-in unit impulse), output trim.
pub const SETTINGS: &[(&str, f32)] = &[
    ("hp_on", 1.0),
    ("hp_hz", 110.0),
    ("ls_db", 3.5),
    ("ls_hz", 180.0),
    ("p1_db", -4.0),
    ("p1_hz", 320.0),
    ("p2_hz", 1500.0),
    ("p2_db", 2.0),
    ("p3_db", 5.0),
    ("p3_q", 2.5),
    ("p4_on", 0.0),
    ("hs_db", 2.5),
    ("lp_on", 1.0),
    ("lp_hz", 14_000.0),
    ("cmp_on", 1.0),
    ("cmp_thr", -30.0),
    ("cmp_rat", 4.0),
    ("cmp_knee", 8.0),
    ("cmp_att", 4.0),
    ("cmp_rel", 90.0),
    ("cmp_mkp", 7.0),
    ("ir_on", 1.0),
    ("ir_mix", 60.0),
    ("out_trim", -2.0),
];

/// The `DspState` that `overrides` (on top of the defaults) stands for.
pub fn state_of(overrides: &[(&str, f32)]) -> DspState {
    dsp_state_from(values_with(overrides))
}

/// Renders `input` (`[channel][frame]`) through a fresh `Chain` snapped to `state`,
/// in one call, as an offline render does.
pub fn chain_render(rate: f32, state: &DspState, input: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut chain = Chain::new(ChainConfig::new(rate, input.len())).expect("chain");
    chain.snap_to_state(state);
    let mut out = input.to_vec();
    let mut refs: Vec<&mut [f32]> = out.iter_mut().map(|c| c.as_mut_slice()).collect();
    chain.process(&mut refs);
    out
}

/// The chain's processing latency at `rate` Hz for `channels` channels, samples: the
/// restoration section's constant lookahead, whatever is switched on. The plugin's
/// `latency` port must report it, and every `Chain` render is delayed by it.
pub fn chain_latency(rate: f32, channels: usize) -> usize {
    let latency = Chain::new(ChainConfig::new(rate, channels))
        .expect("chain")
        .latency_samples();
    assert_eq!(latency, faurge_dsp::chain::latency_samples(rate));
    latency
}

/// `x` delayed by `latency` samples (zeros first), same length: the dry input as it
/// lines up with the chain's output.
pub fn delayed(x: &[f32], latency: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    if latency < x.len() {
        out[latency..].copy_from_slice(&x[..x.len() - latency]);
    }
    out
}

/// Difference of `out` against `reference` in dB: 20·log10(rms(out − ref) / rms(ref)),
/// over all channels; −∞ (as -999) when identical.
pub fn error_db(out: &[Vec<f32>], reference: &[Vec<f32>]) -> f64 {
    let (mut diff, mut power) = (0.0f64, 0.0f64);
    for (o, r) in out.iter().zip(reference) {
        assert_eq!(o.len(), r.len());
        for (&a, &b) in o.iter().zip(r) {
            diff += (f64::from(a) - f64::from(b)).powi(2);
            power += f64::from(b).powi(2);
        }
    }
    assert!(power > 0.0, "reference is silent");
    if diff == 0.0 {
        -999.0
    } else {
        10.0 * (diff / power).log10()
    }
}

/// Largest absolute sample difference.
pub fn max_abs_diff(out: &[Vec<f32>], reference: &[Vec<f32>]) -> f32 {
    out.iter()
        .zip(reference)
        .flat_map(|(o, r)| o.iter().zip(r).map(|(a, b)| (a - b).abs()))
        .fold(0.0, f32::max)
}

/// `target/<profile>`, found from the test executable (`target/<profile>/deps/…`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// The plugin binary cargo built for these tests: `cargo test` leaves the cdylib in
/// `target/<profile>/deps/` (it only copies it up to `target/<profile>/` on
/// `cargo build`), so the newer of the two.
pub fn plugin_so() -> PathBuf {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
    let name = format!("{DLL_PREFIX}faurge_lv2{DLL_SUFFIX}");
    let dir = profile_dir();
    let candidates = [dir.join("deps").join(&name), dir.join(&name)];
    let newest = candidates
        .iter()
        .filter_map(|p| Some((std::fs::metadata(p).ok()?.modified().ok()?, p)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, p)| p.clone());
    newest.unwrap_or_else(|| {
        panic!(
            "{name} is missing in {}: run the tests with `cargo test -p faurge-lv2`",
            dir.display()
        )
    })
}

/// `target/lv2-tests`, holding a fresh `faurge.lv2` of the test build (written once
/// per test binary) and nothing else; point `LV2_PATH` at it. Not `target/bundled`:
/// the release bundles stay as `cargo xtask bundle` made them, and lilv reads every
/// folder on `LV2_PATH` as a bundle.
pub fn bundle_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = profile_dir()
            .parent()
            .expect("target dir")
            .join("lv2-tests");
        faurge_lv2::bundle::write_bundle(&root, &plugin_so()).expect("write the bundle");
        root
    })
}

/// True on CI (`CI=true`), where a missing host tool is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True if `tool` is on `PATH`. If it is not: fails on CI, else prints why the test
/// is skipped and returns false. `package` is the Debian package that has it.
pub fn have_tool(tool: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    if !found {
        assert!(
            !in_ci(),
            "{tool} is not installed; CI must install the Debian package {package}"
        );
        eprintln!(
            "SKIPPED: {tool} is not installed (apt-get install {package}); on CI this is a failure"
        );
    }
    found
}

/// Runs `cmd` with `LV2_PATH` set to the bundle root; panics with its output if it
/// fails. Returns stdout.
pub fn run_lv2_tool(cmd: &mut Command) -> String {
    run_lv2_tool_with_log(cmd).0
}

/// [`run_lv2_tool`], also returning what the tool (and the plugin in it) wrote to
/// stderr: the host's log.
pub fn run_lv2_tool_with_log(cmd: &mut Command) -> (String, String) {
    cmd.env("LV2_PATH", bundle_root());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `[channel][frame]` as a 32-bit float WAV.
pub fn write_f32_wav(path: &Path, rate: u32, channels: &[Vec<f32>]) {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for i in 0..channels[0].len() {
        for ch in channels {
            w.write_sample(ch[i]).expect("write wav");
        }
    }
    w.finalize().expect("finalize wav");
}

/// Reads a WAV written by a host as `(rate, [channel][frame])`; float or integer.
pub fn read_wav(path: &Path) -> (u32, Vec<Vec<f32>>) {
    let mut r =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let spec = r.spec();
    let n_ch = spec.channels as usize;
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(|s| s.expect("sample")).collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.expect("sample") as f32 * scale)
                .collect()
        }
    };
    let mut out = vec![Vec::with_capacity(samples.len() / n_ch); n_ch];
    for frame in samples.chunks_exact(n_ch) {
        for (ch, &s) in out.iter_mut().zip(frame) {
            ch.push(s);
        }
    }
    (spec.sample_rate, out)
}

/// A temporary directory, removed when dropped (kept if `FAURGE_KEEP_TEST_FILES` is set).
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/faurge-lv2-<name>-<pid>-<n>` (emptied first; short, so it can
    /// hold Unix sockets). `n` counts the directories this test binary made: tests run
    /// in parallel threads of one process, and two of them may use the same `name`
    /// (both PipeWire tests do), which must not share, or remove, each other's files.
    pub fn new(name: &str) -> Self {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("faurge-lv2-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("FAURGE_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
