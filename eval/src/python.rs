//! Runs `eval/py/measure.py` (PESQ, STOI, matchering) in a Python interpreter: jobs
//! as JSON on its standard input, results as JSON on its standard output.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The script, embedded so the evaluation runs from any working directory.
const SCRIPT: &str = include_str!("../py/measure.py");

/// Runs `jobs` (see the script's documentation) with `python`; one result per job.
///
/// # Errors
/// The interpreter cannot be started, fails, or prints no JSON list of the jobs' length.
pub fn run(python: &Path, jobs: &[serde_json::Value]) -> Result<Vec<serde_json::Value>> {
    let mut child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("Could not start \"{}\"", python.display()))?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(serde_json::to_string(jobs)?.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "\"{}\" failed: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).context("the Python measurements printed no JSON")?;
    if v.len() != jobs.len() {
        bail!(
            "the Python measurements returned {} results for {} jobs",
            v.len(),
            jobs.len()
        );
    }
    Ok(v)
}
