//! Where a program finds the helper binary and the models folder: the one set of rules
//! for every plugin format and the `faurge` CLI.
//!
//! `cargo xtask bundle` lays the files out so these rules find them:
//!
//! | format | plugin binary | helper | models |
//! |---|---|---|---|
//! | CLAP | `Faurge.clap` | `faurge/faurge-helper` next to it | `faurge/models/` |
//! | VST3 | `Faurge.vst3/Contents/x86_64-linux/Faurge.so` | `faurge-helper` next to it | `Faurge.vst3/Contents/Resources/models/` |
//! | LV2 | `faurge.lv2/libfaurge_lv2.so` (the host names the bundle folder) | `faurge-helper` next to it | `models/` |
//! | standalone, CLI | `faurge-standalone`, `faurge` | `faurge-helper` or `faurge/faurge-helper` next to it | `faurge/models/` or `models/` |
//!
//! A self-contained bundle (what `cargo xtask bundle` makes) carries its own helper and
//! models as in the table. An installation shares one of each instead: `cargo xtask
//! install` puts the plugins in `~/.clap`, `~/.vst3` and `~/.lv2` without them, and the
//! helper and the models once in the shared folder [`shared_dir`],
//! `$XDG_DATA_HOME/faurge/` (`~/.local/share/faurge/`): `faurge-helper` and `models/`.
//! Every program looks there after its own folder.
//!
//! `FAURGE_HELPER` (a file) and `FAURGE_MODELS` (a folder) override the search; the
//! helper is also looked up on `PATH` last. A plugin finds its own folder with
//! [`binary_dir`].

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

/// The folder one installation's helper and models share, for every plugin format:
/// `$XDG_DATA_HOME/faurge`, or `$HOME/.local/share/faurge` when `XDG_DATA_HOME` is unset
/// or not absolute (XDG Base Directory rules). `None` when neither variable is usable.
pub fn shared_dir() -> Option<PathBuf> {
    shared_dir_in(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
}

/// [`shared_dir`] for the given `XDG_DATA_HOME` and `HOME`.
fn shared_dir_in(
    xdg_data_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let data = xdg_data_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local").join("share"))
        })?;
    Some(data.join(SUPPORT_DIR))
}

/// Where to look for the helper, best first, for a program in `dir` (`None`: a
/// program whose folder is unknown): the environment variable, next to it, in its
/// support folder, in the [`shared_dir`], then every `PATH` entry.
pub fn helper_candidates(dir: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(HELPER_ENV) {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = dir {
        out.push(dir.join(HELPER_NAME));
        out.push(dir.join(SUPPORT_DIR).join(HELPER_NAME));
    }
    if let Some(shared) = shared_dir() {
        out.push(shared.join(HELPER_NAME));
    }
    if let Some(path) = std::env::var_os("PATH") {
        out.extend(std::env::split_paths(&path).map(|d| d.join(HELPER_NAME)));
    }
    out
}

/// Where to look for the models folder, best first, for a program in `dir`: the
/// environment variable, the bundle's own (the table above), then the [`shared_dir`].
pub fn models_candidates(dir: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(MODELS_ENV) {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = dir {
        out.push(dir.join(SUPPORT_DIR).join(MODELS_DIR));
        if let Some(contents) = dir.parent() {
            out.push(contents.join("Resources").join(MODELS_DIR));
        }
        out.push(dir.join(MODELS_DIR));
    }
    if let Some(shared) = shared_dir() {
        out.push(shared.join(MODELS_DIR));
    }
    out
}

/// A non-empty environment variable, as a path.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The helper binary for a program in `dir`: `$FAURGE_HELPER` when set, whether or
/// not it exists (what the user named wins, or fails naming itself: it is never
/// skipped for another helper), else the first existing candidate.
pub fn find_helper(dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = env_path(HELPER_ENV) {
        return Some(p);
    }
    helper_candidates(dir).into_iter().find(|p| p.is_file())
}

/// The models folder for a program in `dir`: `$FAURGE_MODELS` when set, whether or
/// not it holds models (the helper then reports that folder's problem), else the
/// first existing folder with a `manifest.json`.
pub fn find_models(dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = env_path(MODELS_ENV) {
        return Some(p);
    }
    models_candidates(dir)
        .into_iter()
        .find(|p| p.join("manifest.json").is_file())
}

/// The folder holding the binary this code was loaded from (a `.clap`, a VST3 `.so`,
/// an LV2 library or an executable), found with `dladdr` on Unix.
pub fn binary_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = binary_dir as *const () as *const libc::c_void;
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
    fn finds_the_clap_and_vst3_layouts_and_path() {
        let tmp = std::env::temp_dir().join(format!("faurge-locate-p-{}", std::process::id()));
        let clap_dir = tmp.join("clap");
        std::fs::create_dir_all(clap_dir.join("faurge/models")).unwrap();
        std::fs::write(clap_dir.join("faurge/models/manifest.json"), b"{}").unwrap();
        std::fs::write(clap_dir.join("faurge").join(HELPER_NAME), b"").unwrap();
        let vst3_bin = tmp.join("Faurge.vst3/Contents/x86_64-linux");
        std::fs::create_dir_all(&vst3_bin).unwrap();
        std::fs::create_dir_all(tmp.join("Faurge.vst3/Contents/Resources/models")).unwrap();
        std::fs::write(
            tmp.join("Faurge.vst3/Contents/Resources/models/manifest.json"),
            b"{}",
        )
        .unwrap();
        std::fs::write(vst3_bin.join(HELPER_NAME), b"").unwrap();
        if std::env::var_os(HELPER_ENV).is_none() && std::env::var_os(MODELS_ENV).is_none() {
            assert_eq!(
                find_helper(Some(&clap_dir)),
                Some(clap_dir.join("faurge").join(HELPER_NAME))
            );
            assert_eq!(
                find_models(Some(&clap_dir)),
                Some(clap_dir.join("faurge/models"))
            );
            assert_eq!(
                find_helper(Some(&vst3_bin)),
                Some(vst3_bin.join(HELPER_NAME))
            );
            assert_eq!(
                find_models(Some(&vst3_bin)),
                Some(tmp.join("Faurge.vst3/Contents/Resources/models"))
            );
            let empty = tmp.join("empty");
            std::fs::create_dir_all(&empty).unwrap();
            let last = helper_candidates(Some(&empty)).pop().unwrap();
            assert!(last.ends_with(HELPER_NAME));
            // An installation: the plugin's folder holds neither; the shared folder both,
            // found after the bundle's own places and before PATH.
            if let Some(shared) = shared_dir() {
                let helpers = helper_candidates(Some(&empty));
                let at = helpers.iter().position(|p| *p == shared.join(HELPER_NAME));
                assert_eq!(at, Some(2), "{helpers:?}");
                assert_eq!(
                    models_candidates(Some(&empty)).last(),
                    Some(&shared.join(MODELS_DIR))
                );
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn the_shared_folder_follows_the_xdg_rules() {
        let some = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            shared_dir_in(some("/data"), some("/home/u")),
            Some(PathBuf::from("/data/faurge"))
        );
        assert_eq!(
            shared_dir_in(some("relative"), some("/home/u")),
            Some(PathBuf::from("/home/u/.local/share/faurge"))
        );
        assert_eq!(
            shared_dir_in(None, some("/home/u")),
            Some(PathBuf::from("/home/u/.local/share/faurge"))
        );
        assert_eq!(shared_dir_in(None, some("nowhere")), None);
        assert_eq!(shared_dir_in(None, None), None);
    }

    #[test]
    fn binary_dir_is_the_folder_of_this_binary() {
        let dir = binary_dir().unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(dir, std::fs::canonicalize(exe).unwrap().parent().unwrap());
    }
}
