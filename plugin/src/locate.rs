//! Where the plugin looks for the helper binary and the models it ships with.
//!
//! `cargo xtask bundle` lays the files out so these rules find them:
//!
//! | format | plugin binary | helper | models |
//! |---|---|---|---|
//! | CLAP | `Faurge.clap` | `faurge/faurge-helper` next to it | `faurge/models/` |
//! | VST3 | `Faurge.vst3/Contents/x86_64-linux/Faurge.so` | `faurge-helper` next to it | `Faurge.vst3/Contents/Resources/models/` |
//! | standalone | `faurge-standalone` | `faurge/faurge-helper` next to it | `faurge/models/` |
//!
//! `FAURGE_HELPER` (a file) and `FAURGE_MODELS` (a folder) override the search.

use std::path::{Path, PathBuf};

/// The search rules are shared with the `faurge` CLI: see `faurge_protocol::locate`.
pub use faurge_protocol::locate::{
    find_helper, find_models, helper_candidates, models_candidates, HELPER_ENV, HELPER_NAME,
    MODELS_DIR, MODELS_ENV, SUPPORT_DIR,
};

/// The folder holding the binary this code was loaded from (the `.clap`, the VST3
/// `.so` or the standalone executable), found with `dladdr` on Unix.
pub fn plugin_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = plugin_dir as *const () as *const libc::c_void;
        // SAFETY: `dladdr` only reads the address and fills `info`; `dli_fname` is a
        // NUL-terminated string owned by the dynamic loader while the object is loaded.
        let found = unsafe { libc::dladdr(addr, &mut info) } != 0 && !info.dli_fname.is_null();
        if found {
            let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
            let path = PathBuf::from(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.to_bytes()),
            );
            return std::fs::canonicalize(&path)
                .unwrap_or(path)
                .parent()
                .map(Path::to_path_buf);
        }
        None
    }
    #[cfg(not(unix))]
    {
        std::env::current_exe()
            .ok()?
            .parent()
            .map(Path::to_path_buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_dir_is_the_folder_of_this_binary() {
        let dir = plugin_dir().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(dir, std::fs::canonicalize(exe).unwrap().parent().unwrap());
    }
}
