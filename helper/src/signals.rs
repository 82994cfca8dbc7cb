//! What the CLI does on Ctrl-C (SIGINT), SIGTERM or SIGHUP: stop the helper, remove
//! every temporary file and folder it made, and exit with 130.
//!
//! The handler runs on `ctrlc`'s own thread (not in signal context), so it may lock
//! and make system calls. It kills the helpers `faurge_protocol::client` has
//! running (their whole process groups), removes the files registered with
//! [`remove_on_signal`] (half-written outputs) and the private temporary folder
//! made by [`install`], in which `ipc-channel` put the helper's socket.
//!
//! SIGPIPE stays ignored, as the Rust runtime sets it: a write to a closed pipe
//! returns `EPIPE`, which the CLI's printing macros ignore.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Exit status after a signal (128 + SIGINT, what shells report for Ctrl-C).
pub const SIGNAL_EXIT: i32 = 130;

/// Files and folders to remove if a signal arrives.
static TO_REMOVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Unregisters its path when dropped (the file was renamed or removed normally).
pub struct RemoveOnSignal(PathBuf);

impl Drop for RemoveOnSignal {
    fn drop(&mut self) {
        if let Ok(mut v) = TO_REMOVE.lock() {
            if let Some(i) = v.iter().position(|p| *p == self.0) {
                v.swap_remove(i);
            }
        }
    }
}

/// Registers `path` (a file or a folder) for removal if a signal ends the run
/// while the returned guard lives.
pub fn remove_on_signal(path: &Path) -> RemoveOnSignal {
    if let Ok(mut v) = TO_REMOVE.lock() {
        v.push(path.to_path_buf());
    }
    RemoveOnSignal(path.to_path_buf())
}

/// The private temporary folder of this run; removed when the run ends, normally
/// or by a signal.
pub struct Session {
    dir: Option<tempfile::TempDir>,
    _guard: Option<RemoveOnSignal>,
}

/// Installs the handler and gives this process (and the helper it starts, which
/// inherits `TMPDIR`) a private temporary folder, so the IPC socket and anything
/// else made under the temporary folder are removed with it. Call it once, first
/// thing in `main`, before any thread starts (it sets `TMPDIR`).
pub fn install() -> Session {
    let dir = tempfile::Builder::new().prefix("faurge-").tempdir().ok();
    let guard = dir.as_ref().map(|d| {
        std::env::set_var("TMPDIR", d.path());
        remove_on_signal(d.path())
    });
    // Another handler already installed is the only error; the run goes on without.
    let _ = ctrlc::set_handler(on_signal);
    Session { dir, _guard: guard }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = d.close();
        }
    }
}

fn on_signal() {
    faurge_protocol::client::kill_running_helpers();
    let paths = TO_REMOVE
        .lock()
        .map(|v| v.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    for p in paths {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(&p);
        } else {
            let _ = std::fs::remove_file(&p);
        }
    }
    eprintln!("Stopped by a signal: the helper was stopped and temporary files were removed.");
    std::process::exit(SIGNAL_EXIT);
}
