//! A headless desktop for testing the Faurge editor: a private X server ([`Xvfb`]),
//! a private JACK server ([`Jackd`]) with a client that loops a real recording into
//! it ([`Player`]), the standalone itself ([`Standalone`]), and an X client that finds
//! its window, types into it with XTEST and takes screenshots ([`X11`], [`Image`]).
//!
//! Every process is owned by a value whose `Drop` stops it and reaps it (and, for
//! the standalone, every process it started), so a failing test leaves no server,
//! no zombie and no helper behind. Every wait has a time limit.

mod image;
mod jack;
mod process;
mod standalone;
mod x11;
mod xvfb;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::image::Image;
pub use crate::jack::{run_player, Jackd, Player, PLAYER_OUT_PORTS};
pub use crate::process::{processes_in_group, Daemon};
pub use crate::standalone::{binaries, Binaries, Standalone};
pub use crate::x11::{Rect, KEYSYM_RETURN, X11};
pub use crate::xvfb::Xvfb;

/// What can go wrong while setting up or driving the headless desktop. Messages say
/// which process or request failed and include the tail of its output.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A program could not be started (not installed, not executable).
    #[error("Could not start {what} ({program}): {source}")]
    Spawn {
        /// The role of the process ("Xvfb", "jackd", …).
        what: String,
        /// The program's path or name.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A process exited while it was still needed.
    #[error("{what} exited early ({status}); its output:\n{output}")]
    Exited {
        /// The role of the process.
        what: String,
        /// How it ended.
        status: String,
        /// The last lines it wrote to stdout and stderr.
        output: String,
    },
    /// A process said something that rules out what the test waits for.
    #[error("{what}; its output:\n{output}")]
    Failed {
        /// What went wrong.
        what: String,
        /// The last lines of its output.
        output: String,
    },
    /// Something did not happen within its time limit.
    #[error("timed out after {after:?} waiting for {what}; output so far:\n{output}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        after: Duration,
        /// The last lines of the relevant process's output, if any.
        output: String,
    },
    /// A short command (`jack_wait`, `jack_lsp`, `cargo build`) failed.
    #[error("{command} failed ({status}):\n{output}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote.
        output: String,
    },
    /// Connecting to the X server failed.
    #[error("Could not connect to the X server {display:?}: {message}")]
    XConnect {
        /// The display name (":3").
        display: String,
        /// x11rb's error.
        message: String,
    },
    /// An X request failed or the connection broke.
    #[error("X request {request} failed: {message}")]
    X {
        /// The request ("GetImage", "FakeInput", …).
        request: &'static str,
        /// x11rb's error.
        message: String,
    },
    /// The X server lacks something the harness needs (XTEST, a 32-bit pixel format,
    /// a keycode for a character).
    #[error("The X server does not support {0}")]
    XUnsupported(String),
    /// A JACK call in the player failed.
    #[error("JACK: {0}")]
    Jack(String),
    /// Reading the recording failed.
    #[error("Could not read the recording {path:?}: {message}")]
    Audio {
        /// The file.
        path: PathBuf,
        /// faurge-io's error.
        message: String,
    },
    /// Two images of different sizes were compared.
    #[error("images differ in size: {0}×{1} vs {2}×{3}")]
    ImageSize(u32, u32, u32, u32),
    /// Reading, writing, encoding or decoding a file failed.
    #[error("Could not {action} {path:?}: {message}")]
    File {
        /// "read", "write", "copy to", …
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O, encoder or decoder error.
        message: String,
    },
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Cargo's target directory for this workspace: `CARGO_TARGET_DIR` (relative to the
/// workspace root when relative), else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// True on CI (`CI=true` or `CI=1`), where a missing host tool is a failure, not a
/// skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True if every `(tool, Debian package)` is on `PATH`. If one is not: panics on CI
/// (CI must install the package), else prints why the test is skipped and returns
/// false.
pub fn have_tools(tools: &[(&str, &str)]) -> bool {
    for &(tool, package) in tools {
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
            return false;
        }
    }
    true
}

/// A temporary directory `$TMPDIR/faurge-editor-<name>-<pid>`, removed when dropped
/// (kept when `FAURGE_KEEP_TEST_FILES` is set).
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates the directory (emptied first).
    ///
    /// # Panics
    /// If it cannot be created.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("faurge-editor-{name}-{}", std::process::id()));
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
