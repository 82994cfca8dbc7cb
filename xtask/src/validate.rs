//! `cargo xtask validate`: the third-party plugin validators on the release bundles in
//! `target/bundled` (run `cargo xtask bundle` first), each result parsed, and an error
//! when any test failed:
//!
//! | validator | what | passes when |
//! |---|---|---|
//! | clap-validator | `Faurge.clap` (`--json`) | 0 tests failed or crashed |
//! | Steinberg VST3 validator | `Faurge.vst3` | 0 tests failed and no `ERROR:` line |
//! | pluginval, strictness 10 | `Faurge.vst3`, its GUI tests under Xvfb (`xvfb-run`) | `SUCCESS`, exit status 0 |
//! | pluginval, strictness 10 | each LV2 plugin, from a bundle of its own (pluginval validates only a bundle's first plugin) | `SUCCESS`, exit status 0 |
//! | lv2lint | each LV2 plugin (`LV2_PATH=/usr/lib/lv2` for the specification bundles) | 0 `FAIL`, exit status 0 |
//!
//! The validators are the prebuilt ones in `../shared/validators/bin` (beside the
//! checkout; `FAURGE_VALIDATORS` names another folder). Their run-time Debian packages
//! are installed by `scripts/test.sh` (see [`DEBIAN_PACKAGES`]). A validator that is
//! missing is reported and skipped, except with `CI=true`, where it fails the run.
//! Every validator's whole output is kept in `target/validate/<name>.log`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faurge_lv2::ports::Variant;

use crate::{vst3_binary_dir, BUNDLE_NAME};

/// Environment variable naming the validators folder (the one holding `bin/`).
pub const VALIDATORS_ENV: &str = "FAURGE_VALIDATORS";

/// The Debian packages the validators need at run time (from their README), besides
/// what the tests install already: lv2lint (`liblilv-0-0 libelf1 libx11-6`, and the
/// LV2 specification bundles of `lv2-dev`), pluginval (`libasound2 libfreetype6
/// libfontconfig1`, and for its GUI tests `xvfb xauth` and the X libraries).
pub const DEBIAN_PACKAGES: &[&str] = &[
    "liblilv-0-0",
    "libelf1",
    "libx11-6",
    "lv2-dev",
    "libasound2",
    "libfreetype6",
    "libfontconfig1",
    "xvfb",
    "xauth",
    "libxext6",
    "libxrandr2",
    "libxinerama1",
    "libxcursor1",
];

/// Where the LV2 specification bundles are (Debian's `lv2-dev`); lv2lint reports false
/// failures without them on `LV2_PATH`.
pub const LV2_SPEC_PATH: &str = "/usr/lib/lv2";

/// Longest one validator run may take before it is stopped and counted as failed.
/// Each takes seconds (all seven runs about 20 s on a loaded 2-core machine); the
/// limit only bounds what a hang costs CI, whose whole run must stay under an hour.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// What `cargo xtask validate` works on.
#[derive(Clone, Debug)]
pub struct Options {
    /// The validators folder (with `bin/clap-validator`, …).
    pub validators: PathBuf,
    /// The release bundles (`target/bundled`).
    pub bundled: PathBuf,
    /// Logs and the per-plugin LV2 bundles (`target/validate`).
    pub work: PathBuf,
    /// A missing validator fails the run (`CI=true`).
    pub required: bool,
}

impl Options {
    /// The defaults: `$FAURGE_VALIDATORS` or `<root>/../shared/validators`, the bundles in
    /// `<target>/bundled`, logs in `<target>/validate`, validators required when
    /// `CI=true`.
    pub fn from_env(root: &Path, target_dir: &Path) -> Options {
        let validators = std::env::var_os(VALIDATORS_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("..").join("shared").join("validators"));
        Options {
            validators,
            bundled: target_dir.join("bundled"),
            work: target_dir.join("validate"),
            required: std::env::var("CI").is_ok_and(|v| v == "true"),
        }
    }

    fn tool(&self, name: &str) -> PathBuf {
        self.validators.join("bin").join(name)
    }
}

/// The result of one validator run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The validator.
    pub tool: String,
    /// What it validated.
    pub target: String,
    /// `Some(true)`: passed, `Some(false)`: failed, `None`: skipped (validator missing).
    pub passed: Option<bool>,
    /// The counts or the verdict, in words.
    pub summary: String,
    /// What failed, one line each (at most a few).
    pub failures: Vec<String>,
}

/// clap-validator's counts from its `--json` output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClapCounts {
    /// Tests with status `success`.
    pub passed: usize,
    /// Tests with any status but `success`, `skipped` and `warning`.
    pub failed: usize,
    /// Tests with status `skipped`.
    pub skipped: usize,
    /// Tests with status `warning`.
    pub warnings: usize,
    /// `name: details` of each failed test.
    pub failures: Vec<String>,
}

/// Reads clap-validator's `--json` report: `{"results": [{"test": {<kind>: {"test":
/// NAME, …}}, "status": {"code": CODE, "details": TEXT}}, …]}`.
///
/// # Errors
/// The text is not such a report.
pub fn parse_clap_json(text: &str) -> Result<ClapCounts> {
    let json: serde_json::Value =
        serde_json::from_str(text).context("Could not read clap-validator's JSON report")?;
    let results = json["results"]
        .as_array()
        .context("Could not find \"results\" in clap-validator's JSON report")?;
    let mut counts = ClapCounts::default();
    for r in results {
        let code = r["status"]["code"].as_str().unwrap_or("?");
        match code {
            "success" => counts.passed += 1,
            "skipped" => counts.skipped += 1,
            "warning" => counts.warnings += 1,
            _ => {
                counts.failed += 1;
                let name = r["test"]
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(|t| t["test"].as_str())
                    .unwrap_or("?");
                let details = r["status"]["details"].as_str().unwrap_or("");
                counts
                    .failures
                    .push(format!("{name} ({code}): {}", details.replace('\n', " ")));
            }
        }
    }
    Ok(counts)
}

/// The VST3 validator's verdict: the counts of its `Result: N tests passed, M tests
/// failed` line and every `ERROR:` line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vst3Counts {
    /// Tests passed (`None`: no result line, the validator did not finish).
    pub passed: Option<usize>,
    /// Tests failed.
    pub failed: Option<usize>,
    /// Every line that starts with `ERROR:`.
    pub errors: Vec<String>,
}

/// Reads the VST3 validator's output.
pub fn parse_vst3(text: &str) -> Vst3Counts {
    let mut counts = Vst3Counts::default();
    for line in text.lines().map(str::trim) {
        if line.starts_with("ERROR:") {
            counts.errors.push(line.to_string());
        }
        if let Some(rest) = line.strip_prefix("Result:") {
            // "Result: 46 tests passed, 1 tests failed"
            let numbers: Vec<usize> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            if let [passed, failed] = numbers[..] {
                counts.passed = Some(passed);
                counts.failed = Some(failed);
            }
        }
    }
    counts
}

/// pluginval's verdict: whether it printed `SUCCESS` (and no `FAILURE`), and the lines
/// that report failures (`!!! Test … failed`, `*** FAILED`).
pub fn parse_pluginval(text: &str) -> (bool, Vec<String>) {
    let mut success = false;
    let mut failure = false;
    let mut lines = Vec::new();
    for line in text.lines().map(str::trim) {
        if line == "SUCCESS" || line.ends_with(" SUCCESS") {
            success = true;
        }
        if line == "FAILURE" || line.ends_with(" FAILURE") {
            failure = true;
        }
        if line.starts_with("!!!") || line.contains("*** FAILED") {
            lines.push(line.to_string());
        }
    }
    (success && !failure, lines)
}

/// lv2lint's counts: lines marked `[FAIL]` and `[WARN]` (its colour codes removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lv2lintCounts {
    /// `[PASS]` lines.
    pub passed: usize,
    /// `[WARN]` lines.
    pub warnings: Vec<String>,
    /// `[FAIL]` lines.
    pub failures: Vec<String>,
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads lv2lint's output (`-M nopack`: one line per test, `[PASS]`, `[WARN]`,
/// `[FAIL]` or `[NOTE]` first).
pub fn parse_lv2lint(text: &str) -> Lv2lintCounts {
    let mut counts = Lv2lintCounts::default();
    for line in strip_ansi(text).lines().map(str::trim) {
        if line.starts_with("[PASS]") {
            counts.passed += 1;
        } else if line.starts_with("[WARN]") {
            counts.warnings.push(line.to_string());
        } else if line.starts_with("[FAIL]") {
            counts.failures.push(line.to_string());
        }
    }
    counts
}

/// A finished validator process: its exit status (`None`: stopped at [`TIMEOUT`]) and
/// everything it printed.
struct Run {
    success: Option<bool>,
    output: String,
}

/// Runs `cmd` with its stdout and stderr in `log`, stopping it after `limit`.
fn run_logged(mut cmd: Command, log: &Path, limit: Duration) -> Result<Run> {
    let file = std::fs::File::create(log)
        .with_context(|| format!("Could not create \"{}\"", log.display()))?;
    let err = file
        .try_clone()
        .with_context(|| format!("Could not open \"{}\" twice", log.display()))?;
    cmd.stdout(file).stderr(err);
    let success = run_limited(cmd, limit)?;
    let output = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
    Ok(Run { success, output })
}

/// Runs `cmd` (its stdout and stderr already set) in a process group of its own; after
/// `limit`, kills the whole group. Returns whether it succeeded, `None` when stopped.
fn run_limited(mut cmd: Command, limit: Duration) -> Result<Option<bool>> {
    cmd.stdin(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("Could not run {cmd:?}"))?;
    let start = Instant::now();
    let success = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status.success()),
            Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                // The whole process group: xvfb-run's X server, pluginval's children.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    Ok(success)
}

fn timed_out(run: &Run) -> Option<String> {
    run.success
        .is_none()
        .then(|| format!("stopped after {} s", TIMEOUT.as_secs()))
}

fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// Runs every validator (see the module docs) and prints a table; fails when any
/// test failed (or, with `opts.required`, a validator is missing).
///
/// # Errors
/// Missing bundles, a failed validator, or a missing one when required.
pub fn run(opts: &Options) -> Result<()> {
    let clap = opts.bundled.join(format!("{BUNDLE_NAME}.clap"));
    let vst3 = opts.bundled.join(format!("{BUNDLE_NAME}.vst3"));
    let lv2 = faurge_lv2::bundle::bundle_path(&opts.bundled);
    for p in [&clap, &vst3, &lv2] {
        if !p.exists() {
            bail!(
                "Could not find \"{}\": run `cargo xtask bundle` first",
                p.display()
            );
        }
    }
    if !vst3_binary_dir(&opts.bundled)
        .join(format!("{BUNDLE_NAME}.so"))
        .is_file()
        && cfg!(target_os = "linux")
    {
        bail!("Could not find the VST3 binary in \"{}\"", vst3.display());
    }
    std::fs::create_dir_all(&opts.work)
        .with_context(|| format!("Could not create \"{}\"", opts.work.display()))?;
    let mut outcomes = Vec::new();
    let mut missing = Vec::new();
    let mut check = |name: &str| -> Option<PathBuf> {
        let p = opts.tool(name);
        if p.is_file() {
            Some(p)
        } else {
            missing.push(p.display().to_string());
            None
        }
    };
    let clap_validator = check("clap-validator");
    let vst3_validator = check("vst3-validator");
    let pluginval = check("pluginval");
    let lv2lint = check("lv2lint");

    outcomes.push(match &clap_validator {
        Some(tool) => clap_outcome(opts, tool, &clap)?,
        None => skipped("clap-validator", &clap),
    });
    outcomes.push(match &vst3_validator {
        Some(tool) => vst3_outcome(opts, tool, &vst3)?,
        None => skipped("vst3-validator", &vst3),
    });
    match &pluginval {
        Some(tool) => {
            outcomes.push(pluginval_vst3(opts, tool, &vst3)?);
            for variant in Variant::ALL {
                outcomes.push(pluginval_lv2(opts, tool, &lv2, variant)?);
            }
        }
        None => {
            outcomes.push(skipped("pluginval", &vst3));
            outcomes.push(skipped("pluginval", &lv2));
        }
    }
    match &lv2lint {
        Some(tool) => {
            for variant in Variant::ALL {
                outcomes.push(lv2lint_outcome(opts, tool, &lv2, variant)?);
            }
        }
        None => outcomes.push(skipped("lv2lint", &lv2)),
    }

    println!(
        "\n== plugin validators (logs in \"{}\")",
        opts.work.display()
    );
    for o in &outcomes {
        let verdict = match o.passed {
            Some(true) => "passed",
            Some(false) => "FAILED",
            None => "skipped",
        };
        println!(
            "{:<16} {:<44} {:<8} {}",
            o.tool, o.target, verdict, o.summary
        );
        for f in o.failures.iter().take(20) {
            println!("    {f}");
        }
    }
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.passed == Some(false))
        .collect();
    let passed = outcomes.iter().filter(|o| o.passed == Some(true)).count();
    let skipped_n = outcomes.iter().filter(|o| o.passed.is_none()).count();
    println!(
        "validators: {passed} passed, {} failed, {skipped_n} skipped",
        failed.len()
    );
    if opts.required && !missing.is_empty() {
        bail!(
            "Could not find the validators {} (CI=true: every validator must run; set {VALIDATORS_ENV} to their folder)",
            missing.join(", ")
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} validator run(s) failed: {}",
            failed.len(),
            failed
                .iter()
                .map(|o| format!("{} on {}", o.tool, o.target))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn skipped(tool: &str, target: &Path) -> Outcome {
    Outcome {
        tool: tool.to_string(),
        target: short(target),
        passed: None,
        summary: "not found: skipped".to_string(),
        failures: Vec::new(),
    }
}

/// The last two components of `p` ("bundled/Faurge.clap").
fn short(p: &Path) -> String {
    let parts: Vec<_> = p.components().rev().take(2).collect();
    parts
        .iter()
        .rev()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn clap_outcome(opts: &Options, tool: &Path, clap: &Path) -> Result<Outcome> {
    let mut cmd = Command::new(tool);
    cmd.args(["validate", "--json"]).arg(clap);
    let log = opts.work.join("clap-validator.log");
    // The JSON goes to stdout, the progress to stderr: keep them apart.
    let json_path = opts.work.join("clap-validator.json");
    let json_file = std::fs::File::create(&json_path)
        .with_context(|| format!("Could not create \"{}\"", json_path.display()))?;
    cmd.stdout(json_file);
    let file = std::fs::File::create(&log)
        .with_context(|| format!("Could not create \"{}\"", log.display()))?;
    cmd.stderr(file);
    let success = run_limited(cmd, TIMEOUT)?;
    let text = std::fs::read_to_string(&json_path).unwrap_or_default();
    let (passed, summary, failures) = match (success, parse_clap_json(&text)) {
        (None, _) => (
            false,
            format!("stopped after {} s", TIMEOUT.as_secs()),
            Vec::new(),
        ),
        (Some(ok), Ok(c)) => (
            c.failed == 0 && ok,
            format!(
                "{} passed, {} failed, {} skipped, {} warnings",
                c.passed, c.failed, c.skipped, c.warnings
            ),
            c.failures,
        ),
        (Some(ok), Err(e)) => (
            false,
            format!("{e:#} (exit status {})", if ok { "0" } else { "non-zero" }),
            Vec::new(),
        ),
    };
    Ok(Outcome {
        tool: "clap-validator".into(),
        target: short(clap),
        passed: Some(passed),
        summary,
        failures,
    })
}

fn vst3_outcome(opts: &Options, tool: &Path, vst3: &Path) -> Result<Outcome> {
    let mut cmd = Command::new(tool);
    cmd.arg(vst3);
    let run = run_logged(cmd, &opts.work.join("vst3-validator.log"), TIMEOUT)?;
    let c = parse_vst3(&run.output);
    let passed = run.success == Some(true) && c.failed == Some(0) && c.errors.is_empty();
    let summary = match (c.passed, c.failed) {
        (Some(p), Some(f)) => format!("{p} passed, {f} failed, {} ERROR: lines", c.errors.len()),
        _ => timed_out(&run).unwrap_or_else(|| "no result line".to_string()),
    };
    Ok(Outcome {
        tool: "vst3-validator".into(),
        target: short(vst3),
        passed: Some(passed),
        summary,
        failures: c.errors,
    })
}

fn pluginval_outcome(run: &Run, target: String, note: &str) -> Outcome {
    let (success, failures) = parse_pluginval(&run.output);
    let passed = success && run.success == Some(true);
    let summary = timed_out(run)
        .unwrap_or_else(|| format!("{}{note}", if success { "SUCCESS" } else { "FAILURE" }));
    Outcome {
        tool: "pluginval".into(),
        target,
        passed: Some(passed),
        summary,
        failures,
    }
}

fn pluginval_vst3(opts: &Options, tool: &Path, vst3: &Path) -> Result<Outcome> {
    let args = ["--strictness-level", "10", "--validate"];
    // The GUI tests need an X server: a private one from xvfb-run when there is one.
    let (cmd, note) = if have_program("xvfb-run") {
        let mut cmd = Command::new("xvfb-run");
        cmd.arg("-a").arg(tool).args(args).arg(vst3);
        (cmd, ", strictness 10, GUI tests under Xvfb")
    } else if opts.required {
        bail!("Could not find xvfb-run (Debian package xvfb) for pluginval's GUI tests");
    } else {
        let mut cmd = Command::new(tool);
        cmd.arg("--skip-gui-tests").args(args).arg(vst3);
        (cmd, ", strictness 10, GUI tests skipped (no xvfb-run)")
    };
    let run = run_logged(cmd, &opts.work.join("pluginval-vst3.log"), TIMEOUT)?;
    Ok(pluginval_outcome(&run, short(vst3), note))
}

/// A bundle with only `variant` in it, beside the work folder: pluginval validates only
/// the first plugin of a bundle.
fn single_plugin_bundle(opts: &Options, lv2: &Path, variant: Variant) -> Result<PathBuf> {
    let so = std::fs::read_dir(lv2)
        .with_context(|| format!("Could not read \"{}\"", lv2.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "so"))
        .with_context(|| format!("Could not find the plugin binary in \"{}\"", lv2.display()))?;
    let dir = opts.work.join(format!("lv2-{}", variant.slug()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("Could not remove \"{}\"", dir.display()))?;
    }
    let name = format!("faurge-{}.lv2", variant.slug());
    faurge_lv2::bundle::write_bundle_of(&dir, &name, &so, &[variant]).with_context(|| {
        format!(
            "Could not write a bundle of {} into \"{}\"",
            variant.uri(),
            dir.display()
        )
    })
}

fn pluginval_lv2(opts: &Options, tool: &Path, lv2: &Path, variant: Variant) -> Result<Outcome> {
    let bundle = single_plugin_bundle(opts, lv2, variant)?;
    let bundle = std::fs::canonicalize(&bundle).unwrap_or(bundle);
    let mut cmd = Command::new(tool);
    cmd.args(["--strictness-level", "10", "--skip-gui-tests", "--validate"])
        .arg(&bundle);
    let log = opts
        .work
        .join(format!("pluginval-lv2-{}.log", variant.slug()));
    let run = run_logged(cmd, &log, TIMEOUT)?;
    Ok(pluginval_outcome(
        &run,
        format!("faurge.lv2#{}", variant.slug()),
        ", strictness 10 (a bundle of its own)",
    ))
}

fn lv2lint_outcome(opts: &Options, tool: &Path, lv2: &Path, variant: Variant) -> Result<Outcome> {
    let mut bundle = std::fs::canonicalize(lv2)
        .unwrap_or_else(|_| lv2.to_path_buf())
        .into_os_string();
    bundle.push("/");
    let mut cmd = Command::new(tool);
    cmd.env("LV2_PATH", LV2_SPEC_PATH)
        .args(["-M", "nopack", "-S", "all", "-I"])
        .arg(&bundle)
        .arg(variant.uri());
    let log = opts.work.join(format!("lv2lint-{}.log", variant.slug()));
    let run = run_logged(cmd, &log, TIMEOUT)?;
    let c = parse_lv2lint(&run.output);
    let passed = run.success == Some(true) && c.failures.is_empty();
    let summary = timed_out(&run).unwrap_or_else(|| {
        format!(
            "{} PASS, {} WARN, {} FAIL",
            c.passed,
            c.warnings.len(),
            c.failures.len()
        )
    });
    let mut lines = c.failures;
    lines.extend(c.warnings);
    Ok(Outcome {
        tool: "lv2lint".into(),
        target: format!("faurge.lv2#{}", variant.slug()),
        passed: Some(passed),
        summary,
        failures: lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_reports_count_failures_by_status() {
        let json = r#"{"results": [
          {"test": {"plugin-library": {"test": "scan-time", "path": "F.clap"}},
           "status": {"code": "success", "details": null}, "duration": {"secs": 0, "nanos": 1}},
          {"test": {"plugin-instance": {"test": "process-varying-sample-rates", "path": "F.clap", "plugin_id": "x"}},
           "status": {"code": "failed", "details": "Error while processing with 8000.00hz sample rate\n'clap_plugin::activate()' returned false."}},
          {"test": {"plugin-instance": {"test": "preset-discovery-crawl", "path": "F.clap", "plugin_id": "x"}},
           "status": {"code": "skipped", "details": "no preset discovery"}},
          {"test": {"plugin-instance": {"test": "state-invalid", "path": "F.clap", "plugin_id": "x"}},
           "status": {"code": "crashed", "details": "signal 11"}}
        ]}"#;
        let c = parse_clap_json(json).unwrap();
        assert_eq!((c.passed, c.failed, c.skipped, c.warnings), (1, 2, 1, 0));
        assert!(c.failures[0].starts_with("process-varying-sample-rates (failed): Error while"));
        assert!(c.failures[1].starts_with("state-invalid (crashed)"));
        assert!(parse_clap_json("not json").is_err());
    }

    #[test]
    fn vst3_reports_count_the_result_line_and_error_lines() {
        let text = "[Parameter Bypass persistence]\n\
            Info:  ===Parameter Bypass persistence ====================================\n\
            ERROR: The bypass parameter was not correctly set!\n\
            2026-12-06T05:19:20Z ERROR faurge_plugin: a log line, not a test error\n\
            -------------------------------------------------------------\n\
            Result: 46 tests passed, 1 tests failed\n";
        let c = parse_vst3(text);
        assert_eq!((c.passed, c.failed), (Some(46), Some(1)));
        assert_eq!(
            c.errors,
            ["ERROR: The bypass parameter was not correctly set!"]
        );
        let clean = parse_vst3("Result: 47 tests passed, 0 tests failed\n");
        assert_eq!((clean.passed, clean.failed), (Some(47), Some(0)));
        assert!(clean.errors.is_empty());
        assert_eq!(parse_vst3("crashed before the end").passed, None);
    }

    #[test]
    fn pluginval_needs_success_and_no_failure() {
        assert!(
            parse_pluginval("Starting tests in: pluginval / Open plugin (cold)...\nSUCCESS\n").0
        );
        let (ok, lines) = parse_pluginval(
            "!!! Test 1 failed: activate returned false\n*** FAILED: 1 TESTS\nFAILURE\n",
        );
        assert!(!ok);
        assert_eq!(lines.len(), 2);
        assert!(!parse_pluginval("no verdict").0);
    }

    #[test]
    fn lv2lint_counts_marked_lines_without_colours() {
        let text = "<https://github.com/faurge/faurge/lv2#mono>\n\
            \u{1b}[32m    [PASS]\u{1b}[0m  Instantiation\n\
            \u{1b}[33m    [WARN]\u{1b}[0m  Plugin Project \n\
            \u{1b}[31m    [FAIL]\u{1b}[0m  Binary Symbols \n";
        let c = parse_lv2lint(text);
        assert_eq!(c.passed, 1);
        assert_eq!(c.warnings, ["[WARN]  Plugin Project"]);
        assert_eq!(c.failures, ["[FAIL]  Binary Symbols"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_hanging_validator_is_stopped_at_the_limit() {
        let start = Instant::now();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        assert_eq!(run_limited(cmd, Duration::from_millis(300)).unwrap(), None);
        assert!(start.elapsed() < Duration::from_secs(10));
        let mut ok = Command::new("true");
        ok.stdout(Stdio::null());
        assert_eq!(
            run_limited(ok, Duration::from_secs(10)).unwrap(),
            Some(true)
        );
    }

    #[test]
    fn a_missing_validator_is_skipped_or_required() {
        let tmp = std::env::temp_dir().join(format!("faurge-validate-{}", std::process::id()));
        let bundled = tmp.join("bundled");
        std::fs::create_dir_all(vst3_binary_dir(&bundled)).unwrap();
        std::fs::write(vst3_binary_dir(&bundled).join("Faurge.so"), b"").unwrap();
        std::fs::write(bundled.join("Faurge.clap"), b"").unwrap();
        std::fs::create_dir_all(bundled.join("faurge.lv2")).unwrap();
        let mut opts = Options {
            validators: tmp.join("none"),
            bundled,
            work: tmp.join("work"),
            required: false,
        };
        run(&opts).unwrap();
        opts.required = true;
        let err = run(&opts).unwrap_err().to_string();
        assert!(err.contains("Could not find the validators"), "{err}");
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
