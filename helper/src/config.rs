//! Where the CLI takes the helper and the models from. What the user names
//! explicitly (`--helper`, `$FAURGE_HELPER`, `--models`, `$FAURGE_MODELS`) is used
//! or is an error naming that path: it is never skipped in favour of a folder the
//! user did not ask for. Only when nothing is named does the search of
//! [`faurge_protocol::locate`] run, and then, for a binary inside a Cargo `target`
//! folder, the checkout's `bundle/models` (found from where the binary is at run
//! time; no path of the machine that built it is compiled in).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use faurge_protocol::locate::{self, HELPER_ENV, HELPER_NAME, MODELS_ENV};

/// The file every models folder holds.
const MANIFEST: &str = "manifest.json";

/// A non-empty environment variable.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The helper binary for a `faurge` in `exe_dir`: `--helper`, else
/// `$FAURGE_HELPER`, else next to the program or on `PATH`.
///
/// # Errors
/// A named helper that is not a file, or none found, with what to do.
pub fn helper(given: Option<&Path>, exe_dir: &Path) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.is_file() {
            bail!("--helper \"{}\" is not a program file", p.display());
        }
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env_path(HELPER_ENV) {
        if !p.is_file() {
            bail!(
                "${HELPER_ENV} is \"{}\", which is not a program file; fix or unset it",
                p.display()
            );
        }
        return Ok(p);
    }
    locate::find_helper(Some(exe_dir)).ok_or_else(|| {
        anyhow::anyhow!(
            "The helper ({HELPER_NAME}) was not found next to this program (\"{}\") or on PATH. \
             Build it with `cargo build --release -p faurge-helper`, pass --helper or set ${HELPER_ENV}.",
            exe_dir.display()
        )
    })
}

/// Whether `dir` holds a models manifest.
fn is_models_dir(dir: &Path) -> bool {
    dir.join(MANIFEST).is_file()
}

/// The models folder for a `faurge` in `exe_dir`: `--models`, else
/// `$FAURGE_MODELS`, else beside the program ([`locate::models_candidates`]),
/// else the checkout's `bundle/models` when the program runs from a Cargo
/// `target` folder.
///
/// # Errors
/// A named folder without `manifest.json`, or none found, naming what was tried.
pub fn models(given: Option<&Path>, exe_dir: &Path) -> Result<PathBuf> {
    let named = |what: String, p: &Path| -> Result<PathBuf> {
        if p.is_dir() && is_models_dir(p) {
            return Ok(p.to_path_buf());
        }
        let why = if !p.exists() {
            "does not exist"
        } else if !p.is_dir() {
            "is not a folder"
        } else {
            "has no manifest.json (it is not a Faurge models folder)"
        };
        bail!("{what} \"{}\" {why}", p.display())
    };
    if let Some(p) = given {
        return named("--models".into(), p);
    }
    if let Some(p) = env_path(MODELS_ENV) {
        return named(format!("${MODELS_ENV}"), &p);
    }
    let beside = locate::models_candidates(Some(exe_dir))
        .into_iter()
        // The variable, when set but empty, is not a place to look.
        .filter(|p| Some(p.as_os_str()) != std::env::var_os(MODELS_ENV).as_deref())
        .find(|p| is_models_dir(p));
    if let Some(p) = beside.or_else(|| checkout_models(exe_dir)) {
        return Ok(p);
    }
    bail!(
        "No models folder was found beside this program (\"{}\"). Pass --models DIR or set ${MODELS_ENV}.",
        exe_dir.display()
    )
}

/// `ROOT/bundle/models` for a program in `ROOT/target/[TRIPLE/]PROFILE[/deps]`: a
/// binary run from the checkout it was built in.
fn checkout_models(exe_dir: &Path) -> Option<PathBuf> {
    exe_dir
        .ancestors()
        .take(4)
        .filter(|d| d.file_name().is_some_and(|n| n == "target"))
        .filter_map(Path::parent)
        .map(|root| root.join("bundle").join("models"))
        .find(|p| is_models_dir(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checkout_is_found_only_from_a_target_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("bundle/models")).unwrap();
        std::fs::write(root.join("bundle/models").join(MANIFEST), "{}").unwrap();
        std::fs::create_dir_all(root.join("target/release")).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        assert_eq!(
            checkout_models(&root.join("target/release")),
            Some(root.join("bundle/models"))
        );
        assert_eq!(
            checkout_models(&root.join("target/x86_64-unknown-linux-gnu/debug/deps")),
            Some(root.join("bundle/models"))
        );
        assert_eq!(checkout_models(&root.join("bin")), None);
    }
}
