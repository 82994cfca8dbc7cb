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

/// File name of the helper binary.
pub const HELPER_NAME: &str = if cfg!(windows) {
    "faurge-helper.exe"
} else {
    "faurge-helper"
};
/// Name of the support folder placed next to a CLAP file or the standalone.
pub const SUPPORT_DIR: &str = "faurge";
/// Name of the models folder.
pub const MODELS_DIR: &str = "models";
/// Environment variable naming the helper binary.
pub const HELPER_ENV: &str = "FAURGE_HELPER";
/// Environment variable naming the models folder.
pub const MODELS_ENV: &str = "FAURGE_MODELS";

/// Where to look for the helper, best first, for a plugin binary in `plugin_dir`.
pub fn helper_candidates(plugin_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(HELPER_ENV) {
        out.push(PathBuf::from(p));
    }
    out.push(plugin_dir.join(HELPER_NAME));
    out.push(plugin_dir.join(SUPPORT_DIR).join(HELPER_NAME));
    out
}

/// Where to look for the models folder, best first.
pub fn models_candidates(plugin_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(MODELS_ENV) {
        out.push(PathBuf::from(p));
    }
    out.push(plugin_dir.join(SUPPORT_DIR).join(MODELS_DIR));
    if let Some(contents) = plugin_dir.parent() {
        out.push(contents.join("Resources").join(MODELS_DIR));
    }
    out.push(plugin_dir.join(MODELS_DIR));
    out
}

/// The first existing helper binary for a plugin in `plugin_dir`.
pub fn find_helper(plugin_dir: &Path) -> Option<PathBuf> {
    helper_candidates(plugin_dir)
        .into_iter()
        .find(|p| p.is_file())
}

/// The first existing models folder for a plugin in `plugin_dir`.
pub fn find_models(plugin_dir: &Path) -> Option<PathBuf> {
    models_candidates(plugin_dir)
        .into_iter()
        .find(|p| p.is_dir())
}

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
    fn finds_the_clap_and_vst3_layouts() {
        let tmp = std::env::temp_dir().join(format!("faurge-locate-{}", std::process::id()));
        let clap_dir = tmp.join("clap");
        std::fs::create_dir_all(clap_dir.join("faurge/models")).unwrap();
        std::fs::write(clap_dir.join("faurge").join(HELPER_NAME), b"").unwrap();
        let vst3_bin = tmp.join("Faurge.vst3/Contents/x86_64-linux");
        std::fs::create_dir_all(&vst3_bin).unwrap();
        std::fs::create_dir_all(tmp.join("Faurge.vst3/Contents/Resources/models")).unwrap();
        std::fs::write(vst3_bin.join(HELPER_NAME), b"").unwrap();

        if std::env::var_os(HELPER_ENV).is_none() && std::env::var_os(MODELS_ENV).is_none() {
            assert_eq!(
                find_helper(&clap_dir),
                Some(clap_dir.join("faurge").join(HELPER_NAME))
            );
            assert_eq!(find_models(&clap_dir), Some(clap_dir.join("faurge/models")));
            assert_eq!(find_helper(&vst3_bin), Some(vst3_bin.join(HELPER_NAME)));
            assert_eq!(
                find_models(&vst3_bin),
                Some(tmp.join("Faurge.vst3/Contents/Resources/models"))
            );
            assert_eq!(find_helper(&tmp), None);
        }
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn plugin_dir_is_the_folder_of_this_binary() {
        let dir = plugin_dir().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(dir, std::fs::canonicalize(exe).unwrap().parent().unwrap());
    }
}
