//! Writes the LV2 bundle directory `faurge.lv2/` (manifest, plugin TTL, binary).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::ports::Variant;
use crate::ttl::{manifest_ttl_of, plugin_ttl_of, MANIFEST_TTL_NAME, PLUGIN_TTL_NAME};

/// Name of the bundle directory.
pub const BUNDLE_DIR_NAME: &str = "faurge.lv2";

/// The bundle directory that [`write_bundle`] creates inside `dir`.
pub fn bundle_path(dir: &Path) -> PathBuf {
    dir.join(BUNDLE_DIR_NAME)
}

/// Adds a path and an action to an I/O error ("Could not copy 'a' to 'b': …").
fn context(e: io::Error, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(e.kind(), format!("Could not {what}: {e}"))
}

/// Writes `contents` to `path` through a temporary file and a rename, so a host that
/// has the old file open (or mapped, for the binary) never sees a half-written one.
fn replace_file(path: &Path, write: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    write(&tmp)?;
    fs::rename(&tmp, path).map_err(|e| {
        context(
            e,
            format_args!("rename '{}' to '{}'", tmp.display(), path.display()),
        )
    })
}

/// Creates (or updates) `dir/faurge.lv2/` with `manifest.ttl`, `faurge.ttl` and a copy
/// of the plugin binary `so_path` (built by `cargo build -p faurge-lv2`; on Linux
/// `libfaurge_lv2.so`), keeping the binary's file name. `dir` is created if missing.
///
/// # Errors
/// The I/O error of the step that failed, with the paths in its message: `so_path`
/// missing or without a file name, `dir` not writable.
pub fn write_bundle(dir: &Path, so_path: &Path) -> io::Result<()> {
    write_bundle_of(dir, BUNDLE_DIR_NAME, so_path, &Variant::ALL).map(drop)
}

/// Like [`write_bundle`], as `dir/bundle_name` and with only `variants` in it (a
/// validator that reads only a bundle's first plugin gets one bundle per plugin).
/// Returns the bundle's path.
///
/// # Errors
/// As [`write_bundle`].
pub fn write_bundle_of(
    dir: &Path,
    bundle_name: &str,
    so_path: &Path,
    variants: &[Variant],
) -> io::Result<PathBuf> {
    let Some(binary_name) = so_path.file_name().and_then(|n| n.to_str()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "Could not use '{}' as the plugin binary: it has no UTF-8 file name",
                so_path.display()
            ),
        ));
    };
    if !so_path.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "Could not find the plugin binary '{}': build it with `cargo build -p faurge-lv2`",
                so_path.display()
            ),
        ));
    }
    let bundle = dir.join(bundle_name);
    fs::create_dir_all(&bundle)
        .map_err(|e| context(e, format_args!("create '{}'", bundle.display())))?;
    let binary = bundle.join(binary_name);
    replace_file(&binary, |tmp| {
        fs::copy(so_path, tmp).map(drop).map_err(|e| {
            context(
                e,
                format_args!("copy '{}' to '{}'", so_path.display(), tmp.display()),
            )
        })
    })?;
    for (name, text) in [
        (MANIFEST_TTL_NAME, manifest_ttl_of(binary_name, variants)),
        (PLUGIN_TTL_NAME, plugin_ttl_of(variants)),
    ] {
        let path = bundle.join(name);
        replace_file(&path, |tmp| {
            fs::write(tmp, text.as_bytes())
                .map_err(|e| context(e, format_args!("write '{}'", tmp.display())))
        })?;
    }
    Ok(bundle)
}
