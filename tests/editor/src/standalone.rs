//! [`binaries`]: the standalone, helper and models under test (built when missing or
//! older than their sources); [`Standalone`]: the standalone running on a private
//! JACK server and X display.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, SystemTime};

use crate::jack::Jackd;
use crate::process::Daemon;
use crate::{target_dir, workspace_root, HarnessError};

/// The workspace folders whose sources go into the standalone or the helper.
const SOURCE_DIRS: &[&str] = &[
    "plugin",
    "helper",
    "dsp",
    "io",
    "params",
    "protocol",
    "vocabulary",
];

/// What the screenshot test runs.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The `faurge-standalone` binary (package `faurge-plugin`).
    pub standalone: PathBuf,
    /// The `faurge-helper` binary (package `faurge-helper`).
    pub helper: PathBuf,
    /// The models folder (with `manifest.json`).
    pub models: PathBuf,
}

/// The binaries under test: `FAURGE_STANDALONE`, `FAURGE_HELPER` and
/// `FAURGE_MODELS` when set, else the debug builds in the cargo target directory
/// ([`target_dir`]) and the repository's `bundle/models`.
///
/// The debug builds are (re)built first with `cargo build -p faurge-plugin --bin
/// faurge-standalone -p faurge-helper --bin faurge-helper` (same target directory)
/// when one is missing or older than a source file (`*.rs`, `Cargo.toml` outside
/// `tests/`, `benches/`, `examples/`) of the crates they are built from, or than
/// `Cargo.lock`. Under `cargo test --workspace` they were just built, so nothing is
/// built twice.
///
/// # Errors
/// [`HarnessError::Command`] if the build fails, [`HarnessError::File`] if a
/// binary or the models' manifest is missing afterwards.
pub fn binaries() -> Result<Binaries, HarnessError> {
    let root = workspace_root();
    let debug = target_dir().join("debug");
    let from_env = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let standalone = from_env("FAURGE_STANDALONE");
    let helper = from_env("FAURGE_HELPER");
    let models = from_env("FAURGE_MODELS").unwrap_or_else(|| root.join("bundle/models"));
    let built = [
        (standalone.is_none(), debug.join("faurge-standalone")),
        (helper.is_none(), debug.join("faurge-helper")),
    ];
    let newest_source = newest_source(&root);
    let stale: Vec<&Path> = built
        .iter()
        .filter(|(ours, path)| *ours && modified(path).is_none_or(|t| t < newest_source))
        .map(|(_, p)| p.as_path())
        .collect();
    if !stale.is_empty() {
        eprintln!(
            "building {} (missing or older than their sources)",
            stale
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .env("CARGO_TARGET_DIR", target_dir())
            .args(["build", "-p", "faurge-plugin", "--bin", "faurge-standalone"])
            .args(["-p", "faurge-helper", "--bin", "faurge-helper"]);
        let line = format!("{cmd:?}");
        let status = cmd.status().map_err(|source| HarnessError::Spawn {
            what: "cargo build".into(),
            program: line.clone(),
            source,
        })?;
        if !status.success() {
            return Err(HarnessError::Command {
                command: line,
                status: status.to_string(),
                output: "(on the test's stderr)".into(),
            });
        }
    }
    let bins = Binaries {
        standalone: standalone.unwrap_or_else(|| debug.join("faurge-standalone")),
        helper: helper.unwrap_or_else(|| debug.join("faurge-helper")),
        models,
    };
    for path in [
        &bins.standalone,
        &bins.helper,
        &bins.models.join("manifest.json"),
    ] {
        if !path.is_file() {
            return Err(HarnessError::File {
                action: "find",
                path: path.clone(),
                message: "no such file".into(),
            });
        }
    }
    Ok(bins)
}

/// When `path` was last modified, if it exists.
fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// The newest modification time among the sources of [`SOURCE_DIRS`], the root
/// `Cargo.toml` and `Cargo.lock`.
fn newest_source(root: &Path) -> SystemTime {
    fn walk(dir: &Path, newest: &mut SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "tests" | "benches" | "examples" | "target")
                    && !name.starts_with('.')
                {
                    walk(&path, newest);
                }
            } else if name.ends_with(".rs") || name == "Cargo.toml" {
                if let Some(t) = modified(&path) {
                    *newest = (*newest).max(t);
                }
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    for dir in SOURCE_DIRS {
        walk(&root.join(dir), &mut newest);
    }
    for file in ["Cargo.toml", "Cargo.lock"] {
        if let Some(t) = modified(&root.join(file)) {
            newest = newest.max(t);
        }
    }
    newest
}

/// The standalone (`faurge-standalone --backend jack`) with its window on an X
/// display, stopped when dropped: SIGINT (headless it exits cleanly; with its window
/// open nice-plug's standalone ignores it: close the window with
/// [`crate::X11::close_window`] first), up to 3 s, then SIGKILL to its whole process
/// group (the helper included); reaped with its orphans.
pub struct Standalone {
    daemon: Daemon,
}

impl Standalone {
    /// Starts `bins.standalone --backend jack --connect-jack-inputs A,B` with
    /// `DISPLAY=display`, JACK pointed at `jackd`, `FAURGE_HELPER`/`FAURGE_MODELS`
    /// from `bins`, and Mesa's software renderer (`LIBGL_ALWAYS_SOFTWARE=1`).
    /// `inputs` are full JACK port names, connected to its inputs in order. Returns
    /// at once: wait for its window with [`crate::X11::wait_for_window`].
    ///
    /// # Errors
    /// [`HarnessError::Spawn`] if it cannot be started.
    pub fn start(
        bins: &Binaries,
        display: &str,
        jackd: &Jackd,
        inputs: &[String],
    ) -> Result<Standalone, HarnessError> {
        let mut cmd = jackd.command(&bins.standalone);
        cmd.args([
            "--backend",
            "jack",
            "--connect-jack-inputs",
            &inputs.join(","),
        ])
        .env("DISPLAY", display)
        .env("FAURGE_HELPER", &bins.helper)
        .env("FAURGE_MODELS", &bins.models)
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("RUST_BACKTRACE", "1")
        .env_remove("WAYLAND_DISPLAY");
        let daemon = Daemon::spawn("faurge-standalone", cmd)?
            .stop_with(libc::SIGINT, Duration::from_secs(3));
        Ok(Standalone { daemon })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.daemon.id()
    }

    /// `Ok` while it runs.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] with its output once it has exited.
    pub fn check_running(&mut self) -> Result<(), HarnessError> {
        self.daemon.check_running()
    }

    /// Everything it wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.daemon.output()
    }

    /// Waits until `found` returns something for its output so far (at most
    /// `limit`).
    ///
    /// # Errors
    /// [`HarnessError::Exited`] if it exits first, [`HarnessError::Timeout`].
    pub fn wait_output<T>(
        &mut self,
        what: &str,
        limit: Duration,
        found: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, HarnessError> {
        self.daemon.wait_output(what, limit, found)
    }

    /// Waits (at most `limit`) for the outcome of a bake: `Ok(line)` for the first
    /// line containing `Faurge: Baked:`, `Err(line)` for one containing
    /// `Faurge: Bake failed:`.
    ///
    /// # Errors
    /// [`HarnessError::Exited`] if it exits first, [`HarnessError::Timeout`].
    pub fn wait_bake(&mut self, limit: Duration) -> Result<Result<String, String>, HarnessError> {
        self.wait_output("the bake to finish", limit, |text| {
            text.lines().find_map(|l| {
                if l.contains("Faurge: Baked:") {
                    Some(Ok(l.to_string()))
                } else if l.contains("Faurge: Bake failed:") {
                    Some(Err(l.to_string()))
                } else {
                    None
                }
            })
        })
    }

    /// Waits up to `limit` for it to exit by itself (after its window was closed).
    /// `None` while it still runs; else `Some` of its exit status (`None` inside if
    /// unknown), with its process group reaped.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Option<ExitStatus>> {
        self.daemon.wait_exit(limit)
    }

    /// Stops it now (see the type's docs). Returns how it exited (`None` if it had
    /// to be killed) and everything it wrote.
    pub fn stop(mut self) -> (Option<ExitStatus>, String) {
        let status = self.daemon.stop();
        (status, self.daemon.output())
    }
}
