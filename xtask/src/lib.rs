//! Faurge's build tasks, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `cargo xtask bundle`: release build of `faurge-plugin`, bundled by
//!   `nice-plug-xtask` into `target/bundled/Faurge.clap` and `Faurge.vst3`, plus the
//!   standalone `target/bundled/faurge-standalone` and the LV2 bundle
//!   `target/bundled/faurge.lv2` (binary + TTL generated from `faurge-params`). Each is
//!   self-contained: it carries the helper binary (`faurge-helper`, built when the
//!   workspace has it) and `bundle/models`, laid out as `faurge_protocol::locate`
//!   expects. Every binary is stripped; its debug information goes to
//!   `target/bundled-debug/` (linked with `.gnu_debuglink`, for profiles and debuggers).
//!   `target/bundled/lv2/` holds only a link to `faurge.lv2`, for `LV2_PATH`.
//! - `cargo xtask bundle --host-test`: the build the real-host tests load: debug
//!   assertions and nice-plug's `assert_process_allocs` on (any allocation in
//!   `process()` aborts), optimized, no helper; built in the
//!   workspace's target folder (sharing `cargo test`'s dependencies), bundled into
//!   `<target dir>/host-tests/bundled`.
//! - `cargo xtask install`: bundles, then installs the plugins into `~/.clap`, `~/.vst3`,
//!   `~/.lv2` and the standalone into `~/.local/bin`, without their helper and models,
//!   and one helper and one copy of the models into the folder they all look in,
//!   `faurge_protocol::locate::shared_dir` (`~/.local/share/faurge`).
//! - `cargo xtask validate`: runs the third-party plugin validators (clap-validator,
//!   the VST3 SDK validator, pluginval, lv2lint; `../shared/validators` or
//!   `$FAURGE_VALIDATORS`) on the release bundles and fails on any failed test
//!   ([`validate`]).
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

pub mod validate;

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
/// Folder (in the target folder) with the bundled binaries' debug information.
pub const DEBUG_DIR: &str = "bundled-debug";
/// Folder inside `target/bundled` that holds only a link to `faurge.lv2`: the folder to
/// put on `LV2_PATH` (lilv reads every folder on it as a bundle, and complains about
/// `Faurge.vst3`, `faurge/` and the rest when given `target/bundled`).
pub const LV2_PATH_DIR: &str = "lv2";
/// Files of `bundle/models` that no bundle carries: `parity.json` holds the test
/// inputs and PyTorch outputs that `helper/tests/parity.rs` reads from `bundle/models`
/// (0.5 MB); the helper never opens it (the manifest's sha256 checks cover the models
/// and the tokenizer only).
pub const MODELS_NOT_BUNDLED: &[&str] = &["parity.json"];

const USAGE: &str = "Usage:
  cargo xtask bundle [--host-test]   build target/bundled/Faurge.clap, Faurge.vst3, faurge.lv2, faurge-standalone
  cargo xtask install                bundle, then install into ~/.clap, ~/.vst3, ~/.lv2, ~/.local/bin and ~/.local/share/faurge
  cargo xtask validate               run clap-validator, the VST3 validator, pluginval and lv2lint on target/bundled
  cargo xtask dataset [ARGS]         build the training set (default: --data ../shared/data --out target/dataset --seed 1 --rows-per-clip 24)
  cargo xtask train [ARGS]           train the models in training/.venv (default: --data ../target/dataset --out runs/dev)
  cargo xtask train --ship           train into training/runs/ship, then ship it into bundle/models with manifest.json
  cargo xtask tone [--ship]          build the tone-repair pairs (target/tone), train the estimator (training/runs/tone) [and enter it into bundle/models]
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
        ["tone", rest @ ..] => return tone(&workspace_root()?, rest),
        ["eval", rest @ ..] => return eval(&workspace_root()?, rest),
        ["validate"] => {
            let root = workspace_root()?;
            let ws = Workspace::read(&root)?;
            return validate::run(&validate::Options::from_env(&root, &ws.target_dir));
        }
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
        let shared = faurge_protocol::locate::shared_dir()
            .context("Could not find the shared folder: $HOME is not an absolute path")?;
        for line in install(&bundled, Path::new(&home), &shared)? {
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
    let mut dataset_args = vec!["build"];
    dataset_args.extend_from_slice(args);
    run_faurge_dataset(root, &dataset_args)
}

/// Runs `faurge-dataset ARGS` (release) from the workspace root.
///
/// # Errors
/// A failed build or run.
fn run_faurge_dataset(root: &Path, args: &[&str]) -> Result<()> {
    let mut cargo_args = vec!["run", "--release", "--quiet", "-p", "faurge-dataset", "--"];
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

/// `cargo xtask train [ARGS] [--ship]`: runs `python -m faurge_train.train` with
/// [`train_args`] in the training venv ([`run_training_module`]). Only `--ship`
/// writes to `bundle/models` (ONNX files, `tokenizer.json`, `parity.json`,
/// `manifest.json`).
///
/// # Errors
/// A failed venv, install or training run.
fn train(root: &Path, args: &[&str]) -> Result<()> {
    let command = format!("cargo xtask train {}", args.join(" "));
    let mut module = vec!["-m", "faurge_train.train"];
    module.extend(train_args(args));
    run_training_module(root, command.trim_end(), &module)
}

/// Default arguments of the pairs `cargo xtask tone` builds (`faurge-dataset
/// tone-pairs`, from the workspace root).
pub const TONE_PAIRS_ARGS: [&str; 7] = [
    "tone-pairs",
    "--data",
    "../shared/data",
    "--out",
    "target/tone",
    "--seed",
    "1",
];

/// `cargo xtask tone [--ship]`: the tone-repair estimator. Builds its pairs
/// ([`TONE_PAIRS_ARGS`], about 6 minutes on two cores), then trains it with
/// `python -m faurge_train.tone` (seconds) into `training/runs/tone`; `--ship` also
/// enters it into `bundle/models` (its ONNX file, manifest entry, calibration and
/// parity case; the other models' entries are kept).
///
/// # Errors
/// An unknown argument, a failed pair build, venv, install or training run.
fn tone(root: &Path, args: &[&str]) -> Result<()> {
    let ship = match args {
        [] => false,
        ["--ship"] => true,
        _ => bail!("{USAGE}"),
    };
    run_faurge_dataset(root, &TONE_PAIRS_ARGS)?;
    let mut module = vec![
        "-m",
        "faurge_train.tone",
        "--pairs",
        "../target/tone",
        "--out",
        "runs/tone",
    ];
    if ship {
        module.extend(["--ship", SHIP_DIR]);
    }
    let command = format!("cargo xtask tone {}", args.join(" "));
    run_training_module(root, command.trim_end(), &module)
}

/// Runs `training/.venv/bin/python ARGS` in `training/`, making the venv with the
/// pinned requirements first if needed; `command` is recorded as the run's command
/// (`FAURGE_TRAIN_COMMAND`).
///
/// # Errors
/// A failed venv, install or run.
fn run_training_module(root: &Path, command: &str, args: &[&str]) -> Result<()> {
    let training = root.join("training");
    let python = training.join(".venv/bin/python");
    let run = |program: &Path, args: &[&str]| -> Result<()> {
        let status = Command::new(program)
            .args(args)
            .current_dir(&training)
            .env("FAURGE_TRAIN_COMMAND", command)
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
    run(&python, args)
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
            run_cargo(&["build", "--release", "-p", LV2_PACKAGE, "--lib"], &[])?;
            let so = target_dir.join("release").join(dylib_name("faurge_lv2"));
            faurge_lv2::bundle::write_bundle(&bundled, &so).with_context(|| {
                format!(
                    "Could not write the LV2 bundle into \"{}\"",
                    bundled.display()
                )
            })?;
            link_lv2_path(&bundled)?;
            eprintln!(
                "Created an LV2 bundle at \"{}\"",
                faurge_lv2::bundle::bundle_path(&bundled).display()
            );
            add_support_files(ws, &bundled)?;
            let debug = target_dir.join(DEBUG_DIR);
            let stripped = strip_binaries(&bundled, &debug)?;
            eprintln!(
                "Stripped {stripped} binaries; their debug information is in \"{}\"",
                debug.display()
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
/// next to the CLAP/standalone (`faurge/`), into `Faurge.vst3` and into `faurge.lv2`,
/// so that each bundle works on its own.
fn add_support_files(ws: &Workspace, bundled: &Path) -> Result<()> {
    let support = bundled.join(SUPPORT_DIR);
    let vst3_bin = vst3_binary_dir(bundled);
    let lv2 = faurge_lv2::bundle::bundle_path(bundled);
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
        copy_file(&helper, &lv2.join(exe_name(HELPER_BIN)))?;
        eprintln!("Added the helper \"{}\" to the bundles", helper.display());
    } else {
        eprintln!(
            "Skipping the helper: no binary target \"{HELPER_BIN}\" in this workspace yet; the plugins will look for \
             it next to themselves or in $FAURGE_HELPER"
        );
    }
    let models = ws.root.join("bundle").join("models");
    if models.is_dir() {
        copy_models(&models, &support.join("models"))?;
        copy_models(&models, &vst3_resources.join("models"))?;
        copy_models(&models, &lv2.join("models"))?;
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
    copy_dir_except(from, to, &[])
}

/// Replaces `to` with a copy of the models folder `from` without
/// [`MODELS_NOT_BUNDLED`].
fn copy_models(from: &Path, to: &Path) -> Result<()> {
    let skip: Vec<PathBuf> = MODELS_NOT_BUNDLED.iter().map(PathBuf::from).collect();
    copy_dir_except(from, to, &skip)
}

/// Replaces `to` with a recursive copy of `from` without the entries whose paths
/// relative to `from` are in `skip`.
fn copy_dir_except(from: &Path, to: &Path, skip: &[PathBuf]) -> Result<()> {
    copy_tree(from, to, from, skip)
}

fn copy_tree(from: &Path, to: &Path, top: &Path, skip: &[PathBuf]) -> Result<()> {
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
            if !skip
                .iter()
                .any(|s| src.strip_prefix(top).is_ok_and(|r| r == s.as_path()))
            {
                copy_tree(&src, &dst, top, skip)?;
            }
        } else if !skip
            .iter()
            .any(|s| src.strip_prefix(top).is_ok_and(|r| r == s.as_path()))
        {
            copy_file(&src, &dst)?;
        }
    }
    Ok(())
}

/// Bytes in `path` (a file, or a folder and everything in it; links not followed).
pub fn disk_size(path: &Path) -> u64 {
    disk_usage(&[path.to_path_buf()])
}

/// Bytes in all of `paths` together, each file counted once however many hard links
/// name it (links not followed).
pub fn disk_usage(paths: &[PathBuf]) -> u64 {
    fn walk(path: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return 0;
        };
        if meta.is_dir() {
            return std::fs::read_dir(path)
                .map(|d| d.flatten().map(|e| walk(&e.path(), seen)).sum())
                .unwrap_or(0);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            if !seen.insert((meta.dev(), meta.ino())) {
                return 0;
            }
        }
        meta.len()
    }
    let mut seen = std::collections::HashSet::new();
    paths.iter().map(|p| walk(p, &mut seen)).sum()
}

/// Whether files `a` and `b` have the same bytes.
fn same_contents(a: &Path, b: &Path) -> bool {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
    size(a).is_some()
        && size(a) == size(b)
        && matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
}

/// `bytes` in MB (10^6), one decimal.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Installs the bundles in `bundled` for the user whose home folder is `home`, with one
/// helper and one copy of the models for every format in `shared` (the folder
/// `faurge_protocol::locate::shared_dir` names, `~/.local/share/faurge`):
///
/// | from `target/bundled` | to |
/// |---|---|
/// | `Faurge.clap` | `~/.clap/Faurge.clap` |
/// | `Faurge.vst3/` without its helper and models | `~/.vst3/Faurge.vst3/`, its binary a hard link to the CLAP file (the same library) |
/// | `faurge.lv2/` without its helper and models | `~/.lv2/faurge.lv2/` |
/// | `faurge-standalone` | `~/.local/bin/faurge-standalone` |
/// | `faurge/faurge-helper`, `faurge/models/` | `shared/faurge-helper`, `shared/models/` |
///
/// Older copies are replaced, and the `~/.clap/faurge/` support folder of earlier
/// installs is removed. Returns one line per installed item with its size, and the total.
///
/// # Errors
/// A missing bundle (run `cargo xtask bundle` first) or a failed copy.
pub fn install(bundled: &Path, home: &Path, shared: &Path) -> Result<Vec<String>> {
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
    let helper = exe_name(HELPER_BIN);
    let mut installed: Vec<PathBuf> = Vec::new();

    let clap_dir = home.join(".clap");
    copy_file(&clap, &clap_dir.join(format!("{BUNDLE_NAME}.clap")))?;
    installed.push(clap_dir.join(format!("{BUNDLE_NAME}.clap")));
    let old_support = clap_dir.join(SUPPORT_DIR);
    if old_support.is_dir() {
        std::fs::remove_dir_all(&old_support)
            .with_context(|| format!("Could not remove the old \"{}\"", old_support.display()))?;
    }

    let vst3_dest = home.join(".vst3").join(format!("{BUNDLE_NAME}.vst3"));
    let vst3_bin = vst3_binary_dir(Path::new(""));
    let vst3_rel = |p: PathBuf| {
        p.strip_prefix(format!("{BUNDLE_NAME}.vst3"))
            .map(Path::to_path_buf)
            .unwrap_or(p)
    };
    let vst3_so = vst3_rel(vst3_bin.join(format!("{BUNDLE_NAME}.so")));
    // The VST3 binary is the CLAP binary (one library, both entry points): installed
    // as a hard link to it, one file on disk, when the two are the same bytes.
    let shared_binary = same_contents(&clap, &vst3.join(&vst3_so));
    let mut skip = vec![
        vst3_rel(vst3_bin.join(&helper)),
        PathBuf::from("Contents/Resources/models"),
    ];
    if shared_binary {
        skip.push(vst3_so.clone());
    }
    copy_dir_except(&vst3, &vst3_dest, &skip)?;
    if shared_binary {
        let link = vst3_dest.join(&vst3_so);
        let linked = std::fs::hard_link(clap_dir.join(format!("{BUNDLE_NAME}.clap")), &link);
        if linked.is_err() {
            // Another file system: a copy.
            copy_file(&vst3.join(&vst3_so), &link)?;
        }
    }
    installed.push(vst3_dest);

    let lv2 = faurge_lv2::bundle::bundle_path(bundled);
    if lv2.is_dir() {
        let lv2_dest = home.join(".lv2").join(faurge_lv2::bundle::BUNDLE_DIR_NAME);
        copy_dir_except(
            &lv2,
            &lv2_dest,
            &[PathBuf::from(&helper), PathBuf::from("models")],
        )?;
        installed.push(lv2_dest);
    }

    let standalone = bundled.join(exe_name(STANDALONE_BIN));
    if standalone.is_file() {
        let dest = home.join(".local/bin").join(exe_name(STANDALONE_BIN));
        copy_file(&standalone, &dest)?;
        installed.push(dest);
    }

    let support = bundled.join(SUPPORT_DIR);
    if support.join(&helper).is_file() {
        copy_file(&support.join(&helper), &shared.join(&helper))?;
        installed.push(shared.join(&helper));
    }
    if support.join("models").is_dir() {
        copy_dir(&support.join("models"), &shared.join("models"))?;
        installed.push(shared.join("models"));
    }

    let mut lines: Vec<String> = installed
        .iter()
        .map(|p| {
            format!(
                "Installed \"{}\" ({})",
                p.display(),
                megabytes(disk_size(p))
            )
        })
        .collect();
    lines.push(format!(
        "Installed {} in all (a file linked twice counted once)",
        megabytes(disk_usage(&installed))
    ));
    Ok(lines)
}

/// Makes `bundled/lv2/faurge.lv2` a link to `bundled/faurge.lv2` (see [`LV2_PATH_DIR`]).
fn link_lv2_path(bundled: &Path) -> Result<()> {
    let dir = bundled.join(LV2_PATH_DIR);
    let link = dir.join(faurge_lv2::bundle::BUNDLE_DIR_NAME);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("Could not create \"{}\"", dir.display()))?;
    if std::fs::symlink_metadata(&link).is_ok() {
        std::fs::remove_file(&link)
            .with_context(|| format!("Could not replace \"{}\"", link.display()))?;
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        Path::new("..").join(faurge_lv2::bundle::BUNDLE_DIR_NAME),
        &link,
    )
    .with_context(|| format!("Could not link \"{}\"", link.display()))?;
    Ok(())
}

/// Whether `path` is an ELF file (an executable or a shared library).
fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// Every ELF file under `dir` (links not followed).
fn elf_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => elf_files(&path, out),
            Ok(t) if t.is_file() && is_elf(&path) => out.push(path),
            _ => {}
        }
    }
}

fn run_tool(program: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
    let status = Command::new(program).args(args).status().with_context(|| {
        format!("Could not run `{program}` (Debian package binutils) to strip the bundles")
    })?;
    if !status.success() {
        bail!(
            "Could not strip: `{program} {}` failed ({status})",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// Strips every binary in `bundled` (symbols and debug information: the CLAP binary
/// goes from about 84 MB to 12 MB, the helper from 151 MB to 29 MB). The debug
/// information is kept in `debug/<path with / as ->.debug` first, and each binary
/// names its file in a `.gnu_debuglink` section (`gdb`: `set debug-file-directory`,
/// `perf`: `--symfs`). Returns how many binaries were stripped.
///
/// # Errors
/// `objcopy` or `strip` is missing or fails.
pub fn strip_binaries(bundled: &Path, debug: &Path) -> Result<usize> {
    let mut files = Vec::new();
    elf_files(bundled, &mut files);
    if debug.exists() {
        std::fs::remove_dir_all(debug)
            .with_context(|| format!("Could not remove the old \"{}\"", debug.display()))?;
    }
    std::fs::create_dir_all(debug)
        .with_context(|| format!("Could not create \"{}\"", debug.display()))?;
    // The helper is bundled three times: its debug information is kept once.
    let mut kept: Vec<(u64, PathBuf)> = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file)
            .with_context(|| format!("Could not read \"{}\"", file.display()))?;
        let digest = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            h.finish()
        };
        drop(bytes);
        let debug_file = match kept.iter().find(|(d, _)| *d == digest) {
            Some((_, path)) => path.clone(),
            None => {
                let rel = file.strip_prefix(bundled).unwrap_or(file);
                let name = rel.to_string_lossy().replace(['/', '\\'], "-") + ".debug";
                let debug_file = debug.join(name);
                run_tool(
                    "objcopy",
                    &[
                        std::ffi::OsStr::new("--only-keep-debug"),
                        file.as_os_str(),
                        debug_file.as_os_str(),
                    ],
                )?;
                kept.push((digest, debug_file.clone()));
                debug_file
            }
        };
        run_tool(
            "strip",
            &[std::ffi::OsStr::new("--strip-unneeded"), file.as_os_str()],
        )?;
        let mut link = std::ffi::OsString::from("--add-gnu-debuglink=");
        link.push(&debug_file);
        run_tool("objcopy", &[link.as_os_str(), file.as_os_str()])?;
    }
    Ok(files.len())
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
    fn bundled_models_leave_out_the_parity_fixtures() {
        let from = tmp("models-from");
        let to = tmp("models-to");
        std::fs::create_dir_all(&from).unwrap();
        for f in [
            "manifest.json",
            "tokenizer.json",
            "fabian.onnx",
            "parity.json",
        ] {
            std::fs::write(from.join(f), f).unwrap();
        }
        copy_models(&from, &to).unwrap();
        for f in ["manifest.json", "tokenizer.json", "fabian.onnx"] {
            assert!(to.join(f).is_file(), "{f}");
        }
        assert!(!to.join("parity.json").exists());
        let _ = std::fs::remove_dir_all(&from);
        let _ = std::fs::remove_dir_all(&to);
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

        // Self-contained bundles: each carries the helper and the models.
        std::fs::write(bundled.join("faurge/faurge-helper"), b"helper").unwrap();
        std::fs::write(vst3_binary_dir(&bundled).join("faurge-helper"), b"helper").unwrap();
        std::fs::create_dir_all(bundled.join("Faurge.vst3/Contents/Resources/models")).unwrap();
        std::fs::create_dir_all(bundled.join("faurge.lv2/models")).unwrap();
        std::fs::write(bundled.join("faurge.lv2/faurge.ttl"), b"ttl").unwrap();
        std::fs::write(bundled.join("faurge.lv2/faurge-helper"), b"helper").unwrap();
        std::fs::write(bundled.join("faurge-standalone"), b"standalone").unwrap();
        // An old install with a stale file and an old support folder that must go.
        std::fs::create_dir_all(home.join(".clap/faurge")).unwrap();
        let shared = home.join(".local/share/faurge");

        let lines = install(&bundled, &home, &shared).unwrap();
        assert_eq!(lines.len(), 7, "{lines:?}");
        assert!(lines.last().unwrap().contains("in all"), "{lines:?}");
        assert_eq!(
            std::fs::read(home.join(".clap/Faurge.clap")).unwrap(),
            b"clap"
        );
        assert!(!home.join(".clap/faurge").exists());
        let so = vst3_binary_dir(&home.join(".vst3")).join("Faurge.so");
        assert_eq!(std::fs::read(so).unwrap(), b"vst3");
        assert!(!home.join(".vst3/Faurge.vst3/stale").exists());
        // One helper and one copy of the models, in the shared folder only.
        assert!(!vst3_binary_dir(&home.join(".vst3"))
            .join("faurge-helper")
            .exists());
        assert!(!home
            .join(".vst3/Faurge.vst3/Contents/Resources/models")
            .exists());
        assert!(home.join(".lv2/faurge.lv2/faurge.ttl").is_file());
        assert!(!home.join(".lv2/faurge.lv2/faurge-helper").exists());
        assert!(!home.join(".lv2/faurge.lv2/models").exists());
        assert_eq!(
            std::fs::read(shared.join("faurge-helper")).unwrap(),
            b"helper"
        );
        assert_eq!(
            std::fs::read(shared.join("models/manifest.json")).unwrap(),
            b"{}"
        );
        assert!(home.join(".local/bin/faurge-standalone").is_file());

        let err = install(&home.join("nowhere"), &home, &shared)
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
    fn the_vst3_binary_is_a_hard_link_to_the_clap_file_when_they_are_the_same() {
        let bundled = tmp("bundled-same");
        let home = tmp("home-same");
        std::fs::create_dir_all(vst3_binary_dir(&bundled)).unwrap();
        std::fs::write(vst3_binary_dir(&bundled).join("Faurge.so"), b"one library").unwrap();
        std::fs::write(bundled.join("Faurge.clap"), b"one library").unwrap();
        install(&bundled, &home, &home.join("shared")).unwrap();
        let so = vst3_binary_dir(&home.join(".vst3")).join("Faurge.so");
        assert_eq!(std::fs::read(&so).unwrap(), b"one library");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let clap = std::fs::metadata(home.join(".clap/Faurge.clap")).unwrap();
            assert_eq!(std::fs::metadata(&so).unwrap().ino(), clap.ino());
            assert_eq!(
                disk_usage(&[home.join(".clap"), home.join(".vst3")]),
                b"one library".len() as u64
            );
        }
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
