//! The CLI's rules for the files it writes: an output never replaces an input or
//! another output, and every output appears whole or not at all.
//!
//! [`check_distinct`] runs before any work starts, so a run that would overwrite
//! its own recording fails at once with a non-zero exit. [`write_atomically`]
//! writes to a temporary file in the target folder and renames it over the
//! target, so an interrupted run (a crash, a full disk, Ctrl-C) leaves either the
//! old file or the complete new one; the temporary file is registered with
//! [`crate::signals`] so a signal removes it too.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A file the command reads or writes, with the option that named it (for errors).
#[derive(Clone, Copy)]
pub struct Named<'a> {
    /// What the user called it, e.g. `"-o"`, `"the input"`, `"--report"`.
    pub role: &'a str,
    /// The path as given.
    pub path: &'a Path,
}

/// `path` made absolute and with `.` and `..` resolved: symbolic links are
/// followed for the longest existing ancestor (with `canonicalize`), the rest
/// is resolved by its components.
fn resolve(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest: Vec<OsString> = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for part in rest.iter().rev() {
                match Path::new(part).components().next() {
                    Some(Component::ParentDir) => {
                        out.pop();
                    }
                    Some(Component::CurDir) | None => {}
                    _ => out.push(part),
                }
            }
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            // `..` as the last component: keep it for the loop above.
            (Some(parent), None) => {
                rest.push(OsString::from(".."));
                existing = parent;
            }
            (None, _) => return abs,
        }
    }
}

/// Whether `a` and `b` name the same file: the same resolved path, or (for
/// files that exist) the same file on disk, hard links included.
fn same(a: &Path, b: &Path) -> bool {
    if resolve(a) == resolve(b) {
        return true;
    }
    same_file::is_same_file(a, b).unwrap_or(false)
}

/// Refuses any output that is the same file as an input or as another output.
///
/// # Errors
/// Names both options and the path, e.g. `-o "x.wav" is the input file; …`.
pub fn check_distinct(inputs: &[Named<'_>], outputs: &[Named<'_>]) -> Result<()> {
    for (i, out) in outputs.iter().enumerate() {
        for input in inputs {
            if same(out.path, input.path) {
                bail!(
                    "{} \"{}\" is {} (\"{}\"); Faurge never writes over what it reads. Choose another output path.",
                    out.role,
                    out.path.display(),
                    input.role,
                    input.path.display()
                );
            }
        }
        for other in &outputs[..i] {
            if same(out.path, other.path) {
                bail!(
                    "{} \"{}\" and {} \"{}\" are the same file; give each output its own path.",
                    other.role,
                    other.path.display(),
                    out.role,
                    out.path.display()
                );
            }
        }
    }
    Ok(())
}

/// The PNG written beside the report JSON `report`: `r.json` → `r.png`; a report
/// already named `*.png` gets `*.plot.png`, so the plot never replaces the JSON.
pub fn report_png(report: &Path) -> PathBuf {
    let is_png = report
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        report.with_extension("plot.png")
    } else {
        report.with_extension("png")
    }
}

/// Creates `path`'s parent folder if it is missing.
///
/// # Errors
/// When the folder cannot be created.
pub fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Could not create the folder \"{}\"", dir.display()))?;
    }
    Ok(())
}

/// Writes `path` whole or not at all: `write` fills a temporary file in the same
/// folder (whose name keeps `path`'s extension, for writers that choose the format
/// by it), which then replaces `path` in one rename. On any error, or a signal
/// while `write` runs, the temporary file is removed and `path` is untouched.
///
/// # Errors
/// What `write` returns, or why the temporary file could not be made or renamed.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    create_parent(path)?;
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("\"{}\" is not a file name", path.display()))?;
    let suffix = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    // The new file gets the old one's permissions, or a new file's (0666 less the
    // umask), not a temporary file's private 0600.
    let permissions = std::fs::metadata(path)
        .map(|m| m.permissions())
        .ok()
        .or_else(new_file_permissions);
    let prefix = format!(".{}.", name.to_string_lossy());
    let suffix = format!(".part{suffix}");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(&suffix);
    if let Some(p) = permissions {
        builder.permissions(p);
    }
    let tmp = builder
        .tempfile_in(&dir)
        .with_context(|| format!("Could not create a file in \"{}\"", dir.display()))?;
    let guard = crate::signals::remove_on_signal(tmp.path());
    write(tmp.path())?;
    tmp.persist(path)
        .with_context(|| format!("Could not write \"{}\"", path.display()))?;
    drop(guard);
    Ok(())
}

/// What `File::create` gives a new file on Unix: read and write for all, less the
/// umask (which the system applies when the file is created).
fn new_file_permissions() -> Option<std::fs::Permissions> {
    #[cfg(unix)]
    return Some(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    #[cfg(not(unix))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_and_missing_files_resolve_to_the_same_place() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dir");
        std::fs::create_dir(&dir).unwrap();
        let a = dir.join("x.wav");
        let b = dir.join("../dir/./x.wav");
        assert_eq!(resolve(&a), resolve(&b));
        assert_ne!(resolve(&a), resolve(&dir.join("y.wav")));
        let missing = tmp.path().join("no/such/../such/f.wav");
        assert_eq!(
            resolve(&missing),
            resolve(&tmp.path().join("no/such/f.wav"))
        );
    }

    #[test]
    fn a_png_report_gets_its_own_plot_name() {
        assert_eq!(report_png(Path::new("r.json")), Path::new("r.png"));
        assert_eq!(report_png(Path::new("r.png")), Path::new("r.plot.png"));
        assert_eq!(report_png(Path::new("r.PNG")), Path::new("r.plot.png"));
        assert_eq!(report_png(Path::new("r")), Path::new("r.png"));
    }
}
