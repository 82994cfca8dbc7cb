//! Faurge's build tasks, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `cargo xtask bundle`: release build of `faurge-plugin`, bundled by
//!   `nice-plug-xtask` into `target/bundled/Faurge.clap` and `Faurge.vst3`, plus the
//!   standalone `target/bundled/faurge-standalone`; each carries or locates the helper
//!   binary (`faurge-helper`, built when the workspace has it) and `bundle/models`,
//!   laid out as `faurge_protocol::locate` expects; and the LV2 bundle
//!   `target/bundled/faurge.lv2` (binary + TTL generated from `faurge-params`).
//! - `cargo xtask bundle --host-test`: the build the real-host tests load: debug
//!   assertions and nice-plug's `assert_process_allocs` on (any allocation in
//!   `process()` aborts), optimized, no helper; built in the
//!   workspace's target folder (sharing `cargo test`'s dependencies), bundled into
//!   `<target dir>/host-tests/bundled`.
//! - `cargo xtask install`: bundles, then copies into `~/.clap`, `~/.vst3` and `~/.lv2`.
//! - `cargo xtask dataset` / `cargo xtask train`: the training pipeline
//!   (`faurge-dataset build`, then `training/`'s PyTorch run).
//! - `cargo xtask eval`: the shipped models on rendered audio of the test split
//!   (`faurge-eval`, release): `target/eval/eval.json` and `eval.md`.
//!
//! Errors read "Could not …" with the paths involved.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The plugin package.
pub const PLUGIN_PACKAGE: &str = "faurge-plugin";
/// The package whose cdylib is the LV2 plugin binary.
pub const LV2_PACKAGE: &str = "faurge-lv2";
/// The bundle name (also in `bundler.toml` for nice-plug-xtask).
pub const BUNDLE_NAME: &str = "Faurge";
/// The standalone binary target.
pub const STANDALONE_BIN: &str = "faurge-standalone";
/// The helper binary target (from the helper crate, once it exists).
pub const HELPER_BIN: &str = "faurge-helper";

/// The package of the helper binary and the `faurge` CLI.
pub const HELPER_PACKAGE: &str = "faurge-helper";
/// Folder next to a CLAP file / the standalone with the helper and the models.
pub const SUPPORT_DIR: &str = "faurge";

const USAGE: &str = "Usage:
  cargo xtask bundle [--host-test]   build target/bundled/Faurge.clap, Faurge.vst3, faurge.lv2, faurge-standalone
  cargo xtask install                bundle, then copy into ~/.clap, ~/.vst3 and ~/.lv2
  cargo xtask dataset [ARGS]         build the training set (default: --data ../shared/data --out target/dataset --seed 1 --rows-per-clip 24)
  cargo xtask train [ARGS]           train the models in training/.venv (default: --data ../target/dataset --out runs/dev)
  cargo xtask train --ship           train into training/runs/ship, then ship it into bundle/models with manifest.json
  cargo xtask eval [ARGS]            evaluate bundle/models on the test split (--rows N for a quick run): target/eval/eval.json, eval.md";

/// Which build to bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Optimized release build with the standalone and the helper.
    Release,
    /// The real-host tests' build: debug assertions, `assert_process_allocs`, opt-level 2.
    HostTest,
}

/// Entry point for `cargo xtask`: reads the command line.
///
/// # Errors
/// Any step that fails, with context.
pub fn main() -> Result<()> {
    run(std::env::args().skip(1).collect())
}

/// Runs one command (`args` without the program name).
///
/// # Errors
/// Unknown commands and any step that fails.
pub fn run(args: Vec<String>) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["dataset", rest @ ..] => return dataset(&workspace_root()?, rest),
        ["train", rest @ ..] => return train(&workspace_root()?, rest),
        ["eval", rest @ ..] => return eval(&workspace_root()?, rest),
        _ => {}
    }
    let (flavor, install_after) = match args.as_slice() {
        ["bundle"] => (Flavor::Release, false),
        ["bundle", "--host-test"] => (Flavor::HostTest, false),
        ["install"] => (Flavor::Release, true),
        _ => bail!("{USAGE}"),
    };
    let root = workspace_root()?;
    // nice-plug-xtask reads `bundler.toml` from the current folder.
    std::env::set_current_dir(&root)
        .with_context(|| format!("Could not change to \"{}\"", root.display()))?;
    let bundled = bundle(&Workspace::read(&root)?, flavor)?;
    if install_after {
        let home =
            std::env::var_os("HOME").context("Could not find the home folder: $HOME is not set")?;
        for line in install(&bundled, Path::new(&home))? {
            eprintln!("{line}");
        }
    }
    Ok(())
}

/// Default arguments of `cargo xtask dataset`: the shared data folder beside the
/// checkout, the dataset under `target/dataset`, seed 1, 24 rows per clip (the
/// shipped models' dataset).
pub const DATASET_DEFAULT_ARGS: [&str; 8] = [
    "--data",
    "../shared/data",
    "--out",
    "target/dataset",
    "--seed",
    "1",
    "--rows-per-clip",
    "24",
];

/// `cargo xtask eval [ARGS]`: runs `faurge-eval` (release) from the workspace root.
///
/// # Errors
/// A failed build or evaluation.
fn eval(root: &Path, args: &[&str]) -> Result<()> {
    let mut cargo_args = vec!["run", "--release", "--quiet", "-p", "faurge-eval", "--"];
    cargo_args.extend_from_slice(args);
    std::env::set_current_dir(root)
        .with_context(|| format!("Could not change to \"{}\"", root.display()))?;
    run_cargo(&cargo_args, &[])
}

/// `cargo xtask dataset [ARGS]`: builds the training set with `faurge-dataset build`
/// (release); `ARGS` replace [`DATASET_DEFAULT_ARGS`].
///
/// # Errors
/// A failed build or dataset run.
fn dataset(root: &Path, args: &[&str]) -> Result<()> {
    let args = if args.is_empty() {
        &DATASET_DEFAULT_ARGS[..]
    } else {
        args
    };
    let mut cargo_args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        "faurge-dataset",
        "--",
        "build",
    ];
    cargo_args.extend_from_slice(args);
    std::env::set_current_dir(root)
        .with_context(|| format!("Could not change to \"{}\"", root.display()))?;
    run_cargo(&cargo_args, &[])
}

/// Default arguments of `cargo xtask train` (paths relative to `training/`).
pub const TRAIN_DEFAULT_ARGS: [&str; 4] = ["--data", "../target/dataset", "--out", "runs/dev"];

/// Default arguments of `cargo xtask train --ship`: the run goes to `runs/ship`, then
/// `faurge_train.ship` copies it into `bundle/models` with its manifest.
pub const TRAIN_SHIP_DEFAULT_ARGS: [&str; 4] =
    ["--data", "../target/dataset", "--out", "runs/ship"];

/// Where `--ship` puts the models, relative to `training/`.
pub const SHIP_DIR: &str = "../bundle/models";

/// The arguments `cargo xtask train ARGS` passes to `python -m faurge_train.train`:
/// `ARGS` replace the defaults; a bare `--ship` becomes `--ship ../bundle/models`
/// (with [`TRAIN_SHIP_DEFAULT_ARGS`] when it is the only argument).
pub fn train_args<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let ship = args.contains(&"--ship");
    let rest: Vec<&str> = args.iter().copied().filter(|a| *a != "--ship").collect();
    let mut out: Vec<&str> = match (rest.is_empty(), ship) {
        (true, true) => TRAIN_SHIP_DEFAULT_ARGS.to_vec(),
        (true, false) => TRAIN_DEFAULT_ARGS.to_vec(),
        (false, _) => rest,
    };
    if ship {
        out.extend(["--ship", SHIP_DIR]);
    }
    out
}

/// `cargo xtask train [ARGS] [--ship]`: makes `training/.venv` with the pinned
/// requirements if needed, then runs `python -m faurge_train.train` with
/// [`train_args`]. Only `--ship` writes to `bundle/models` (ONNX files,
/// `tokenizer.json`, `parity.json`, `manifest.json`).
///
/// # Errors
/// A failed venv, install or training run.
fn train(root: &Path, args: &[&str]) -> Result<()> {
    let training = root.join("training");
    let python = training.join(".venv/bin/python");
    let command = format!("cargo xtask train {}", args.join(" "));
    let run = |program: &Path, args: &[&str]| -> Result<()> {
        let status = Command::new(program)
            .args(args)
            .current_dir(&training)
            .env("FAURGE_TRAIN_COMMAND", command.trim_end())
            .status()
            .with_context(|| format!("Could not run \"{}\"", program.display()))?;
        if !status.success() {
            bail!(
                "`{} {}` failed ({status})",
                program.display(),
                args.join(" ")
            );
        }
        Ok(())
    };
    if !python.is_file() {
        run(Path::new("python3"), &["-m", "venv", ".venv"])?;
    }
    run(
        &python,
        &["-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
    )?;
    let mut python_args = vec!["-m", "faurge_train.train"];
    python_args.extend(train_args(args));
    run(&python, &python_args)
}

/// The workspace root: the folder above this crate.
///
/// # Errors
/// If the root has no `Cargo.toml`.
pub fn workspace_root() -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if !root.join("Cargo.toml").is_file() {
        bail!(
            "Could not find the workspace's Cargo.toml in \"{}\"",
            root.display()
        );
    }
    Ok(root)
}

fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// What the build steps need to know about the workspace, from one `cargo metadata`.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The workspace root.
    pub root: PathBuf,
    /// The target directory cargo uses (honours `CARGO_TARGET_DIR`).
    pub target_dir: PathBuf,
    /// True when some package has a binary target named [`HELPER_BIN`].
    pub has_helper: bool,
}

impl Workspace {
    /// Reads the workspace at `root`.
    ///
    /// # Errors
    /// If `cargo metadata` fails.
    pub fn read(root: &Path) -> Result<Self> {
        let meta = cargo_metadata::MetadataCommand::new()
            .manifest_path(root.join("Cargo.toml"))
            .no_deps()
            .exec()
            .context("Could not run `cargo metadata`")?;
        let has_helper = meta
            .packages
            .iter()
            .flat_map(|p| &p.targets)
            .any(|t| t.name == HELPER_BIN && t.is_bin());
        Ok(Workspace {
            root: root.to_path_buf(),
            target_dir: meta.target_directory.into_std_path_buf(),
            has_helper,
        })
    }
}

fn run_cargo(args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    let status = Command::new(cargo())
        .args(args)
        .envs(envs.iter().copied())
        .status()
        .with_context(|| format!("Could not run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!(
            "Could not build: `cargo {}` failed ({status})",
            args.join(" ")
        );
    }
    Ok(())
}

/// Builds and bundles `flavor` into `<target dir>/bundled` (release) or
/// `<target dir>/host-tests/bundled` (host tests); returns that folder.
///
/// # Errors
/// A failed build, a missing artifact or a failed copy.
pub fn bundle(ws: &Workspace, flavor: Flavor) -> Result<PathBuf> {
    let target_dir = ws.target_dir.as_path();
    let bundled = target_dir.join("bundled");
    match flavor {
        Flavor::Release => {
            run_cargo(&["build", "--release", "-p", PLUGIN_PACKAGE], &[])?;
            nice_plug_xtask::bundle(
                target_dir,
                PLUGIN_PACKAGE,
                &["--release".to_string()],
                false,
            )?;
            let exe = target_dir.join("release").join(exe_name(STANDALONE_BIN));
            copy_file(&exe, &bundled.join(exe_name(STANDALONE_BIN)))?;
            eprintln!(
                "Created a standalone at \"{}\"",
                bundled.join(exe_name(STANDALONE_BIN)).display()
            );
            add_support_files(ws, &bundled)?;
            run_cargo(&["build", "--release", "-p", LV2_PACKAGE, "--lib"], &[])?;
            let so = target_dir.join("release").join(dylib_name("faurge_lv2"));
            faurge_lv2::bundle::write_bundle(&bundled, &so).with_context(|| {
                format!(
                    "Could not write the LV2 bundle into \"{}\"",
                    bundled.display()
                )
            })?;
            eprintln!(
                "Created an LV2 bundle at \"{}\"",
                faurge_lv2::bundle::bundle_path(&bundled).display()
            );
        }
        Flavor::HostTest => {
            // Built in the workspace's own target folder with `cargo test`'s profile
            // settings (opt-level 2, line tables) and features (the default ones plus
            // `assert_process_allocs`, which the plugin's tests enable too; the
            // workspace-hack crate unifies the rest), so it shares every dependency with
            // the build running the tests: a folder of its own cost a second build of the
            // dependency graph (8 min on 2 cores, and its disk). Only the bundles go
            // elsewhere, into `<target>/host-tests/bundled`, so that `target/bundled`
            // keeps the release bundles.
            run_cargo(
                &[
                    "build",
                    "-p",
                    PLUGIN_PACKAGE,
                    "--lib",
                    "--features",
                    "assert_process_allocs",
                ],
                &[("CARGO_PROFILE_DEV_OPT_LEVEL", "2")],
            )?;
            let staging = target_dir.join("host-tests");
            let lib = dylib_name("faurge_plugin");
            copy_file(
                &target_dir.join("debug").join(&lib),
                &staging.join("debug").join(&lib),
            )?;
            nice_plug_xtask::bundle(&staging, PLUGIN_PACKAGE, &[], false)?;
            return Ok(staging.join("bundled"));
        }
    }
    Ok(bundled)
}

fn exe_name(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// The file name cargo gives the cdylib of crate `stem` (`libfaurge_lv2.so` on Linux).
fn dylib_name(stem: &str) -> String {
    format!(
        "{}{stem}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The folder inside `Faurge.vst3` holding the binary for this platform.
pub fn vst3_binary_dir(bundled: &Path) -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "x86" => "i386",
        other => other,
    };
    let sub = if cfg!(target_os = "macos") {
        "MacOS".to_string()
    } else if cfg!(windows) {
        format!("{arch}-win")
    } else {
        format!("{arch}-linux")
    };
    bundled
        .join(format!("{BUNDLE_NAME}.vst3"))
        .join("Contents")
        .join(sub)
}

/// Builds the helper (when the workspace has it) and copies it and `bundle/models`
/// next to the CLAP/standalone (`faurge/`) and into `Faurge.vst3`.
fn add_support_files(ws: &Workspace, bundled: &Path) -> Result<()> {
    let support = bundled.join(SUPPORT_DIR);
    let vst3_bin = vst3_binary_dir(bundled);
    let vst3_resources = bundled
        .join(format!("{BUNDLE_NAME}.vst3"))
        .join("Contents")
        .join("Resources");
    if ws.has_helper {
        // The same package selection as the README's main command, so that one build
        // serves both: cargo unifies features per selection, and a different one
        // rebuilds every crate whose features differ (tract among them).
        run_cargo(&["build", "--release", "-p", HELPER_PACKAGE, "--bins"], &[])?;
        let helper = ws.target_dir.join("release").join(exe_name(HELPER_BIN));
        copy_file(&helper, &support.join(exe_name(HELPER_BIN)))?;
        copy_file(&helper, &vst3_bin.join(exe_name(HELPER_BIN)))?;
        eprintln!("Added the helper \"{}\" to the bundles", helper.display());
    } else {
        eprintln!(
            "Skipping the helper: no binary target \"{HELPER_BIN}\" in this workspace yet; the plugins will look for \
             it next to themselves or in $FAURGE_HELPER"
        );
    }
    let models = ws.root.join("bundle").join("models");
    if models.is_dir() {
        copy_dir(&models, &support.join("models"))?;
        copy_dir(&models, &vst3_resources.join("models"))?;
        eprintln!("Added \"{}\" to the bundles", models.display());
    } else {
        eprintln!(
            "Skipping the models: \"{}\" does not exist yet",
            models.display()
        );
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("Could not create \"{}\"", parent.display()))?;
    }
    std::fs::copy(from, to).with_context(|| {
        format!(
            "Could not copy \"{}\" to \"{}\"",
            from.display(),
            to.display()
        )
    })?;
    Ok(())
}

/// Replaces `to` with a recursive copy of `from`.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)
            .with_context(|| format!("Could not remove the old \"{}\"", to.display()))?;
    }
    std::fs::create_dir_all(to)
        .with_context(|| format!("Could not create \"{}\"", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("Could not read \"{}\"", from.display()))?
    {
        let entry = entry.with_context(|| format!("Could not read \"{}\"", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry
            .file_type()
            .with_context(|| format!("Could not inspect \"{}\"", src.display()))?
            .is_dir()
        {
            copy_dir(&src, &dst)?;
        } else {
            copy_file(&src, &dst)?;
        }
    }
    Ok(())
}

/// Copies the bundles in `bundled` into the user's plugin folders under `home`:
/// `Faurge.clap` (+ `faurge/` support folder) into `~/.clap`, `Faurge.vst3` into
/// `~/.vst3`, `faurge.lv2` (when bundled) into `~/.lv2`, replacing older copies.
/// Returns one line per installed item.
///
/// # Errors
/// A missing bundle (run `cargo xtask bundle` first) or a failed copy.
pub fn install(bundled: &Path, home: &Path) -> Result<Vec<String>> {
    let clap = bundled.join(format!("{BUNDLE_NAME}.clap"));
    let vst3 = bundled.join(format!("{BUNDLE_NAME}.vst3"));
    for p in [&clap, &vst3] {
        if !p.exists() {
            bail!(
                "Could not find \"{}\": run `cargo xtask bundle` first",
                p.display()
            );
        }
    }
    let mut done = Vec::new();
    let clap_dir = home.join(".clap");
    copy_file(&clap, &clap_dir.join(format!("{BUNDLE_NAME}.clap")))?;
    done.push(format!(
        "Installed \"{}\"",
        clap_dir.join(format!("{BUNDLE_NAME}.clap")).display()
    ));
    let support = bundled.join(SUPPORT_DIR);
    if support.is_dir() {
        copy_dir(&support, &clap_dir.join(SUPPORT_DIR))?;
        done.push(format!(
            "Installed \"{}\"",
            clap_dir.join(SUPPORT_DIR).display()
        ));
    }
    let vst3_dest = home.join(".vst3").join(format!("{BUNDLE_NAME}.vst3"));
    copy_dir(&vst3, &vst3_dest)?;
    done.push(format!("Installed \"{}\"", vst3_dest.display()));
    let lv2 = faurge_lv2::bundle::bundle_path(bundled);
    if lv2.is_dir() {
        let lv2_dest = home.join(".lv2").join(faurge_lv2::bundle::BUNDLE_DIR_NAME);
        copy_dir(&lv2, &lv2_dest)?;
        done.push(format!("Installed \"{}\"", lv2_dest.display()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("faurge-xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn install_copies_bundles_and_support_files_and_replaces_old_ones() {
        let bundled = tmp("bundled");
        let home = tmp("home");
        std::fs::create_dir_all(vst3_binary_dir(&bundled)).unwrap();
        std::fs::write(vst3_binary_dir(&bundled).join("Faurge.so"), b"vst3").unwrap();
        std::fs::write(bundled.join("Faurge.clap"), b"clap").unwrap();
        std::fs::create_dir_all(bundled.join("faurge/models")).unwrap();
        std::fs::write(bundled.join("faurge/models/manifest.json"), b"{}").unwrap();
        // An old install with a stale file that must disappear.
        std::fs::create_dir_all(home.join(".vst3/Faurge.vst3/stale")).unwrap();

        let lines = install(&bundled, &home).unwrap();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            std::fs::read(home.join(".clap/Faurge.clap")).unwrap(),
            b"clap"
        );
        assert_eq!(
            std::fs::read(home.join(".clap/faurge/models/manifest.json")).unwrap(),
            b"{}"
        );
        let so = vst3_binary_dir(&home.join(".vst3")).join("Faurge.so");
        assert_eq!(std::fs::read(so).unwrap(), b"vst3");
        assert!(!home.join(".vst3/Faurge.vst3/stale").exists());

        let err = install(&home.join("nowhere"), &home)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("Could not find") && err.contains("cargo xtask bundle"),
            "{err}"
        );
        std::fs::remove_dir_all(&bundled).unwrap();
        std::fs::remove_dir_all(&home).unwrap();
    }

    #[test]
    fn train_ship_flag_adds_the_bundle_folder() {
        assert_eq!(train_args(&[]), TRAIN_DEFAULT_ARGS.to_vec());
        let mut ship = TRAIN_SHIP_DEFAULT_ARGS.to_vec();
        ship.extend(["--ship", SHIP_DIR]);
        assert_eq!(train_args(&["--ship"]), ship);
        assert_eq!(
            train_args(&["--data", "d", "--ship", "--out", "o"]),
            ["--data", "d", "--out", "o", "--ship", SHIP_DIR]
        );
    }

    #[test]
    fn unknown_commands_print_the_usage() {
        let err = run(vec!["bundel".to_string()]).unwrap_err().to_string();
        assert!(err.contains("cargo xtask bundle"), "{err}");
    }
}
