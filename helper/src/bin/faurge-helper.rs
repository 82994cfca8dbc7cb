//! `faurge-helper`: the helper process the plugin and the `faurge` CLI start.
//! It connects to the one-shot IPC server named by `--ipc`, serves bake requests
//! and exits with status 0 when its parent sends `Shutdown` or goes away.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use faurge_helper::serve::{serve, BakeEngine};
use faurge_protocol::{BakeError, BakeRequest, BakeResult, ErrorKind, ModelsInfo, Progress};

#[derive(Parser, Debug)]
#[command(
    name = "faurge-helper",
    version,
    about = "Faurge's helper process: runs the closed loop for the plugin and the faurge CLI. Not meant to be started by hand."
)]
struct Args {
    /// Name of the client's one-shot IPC server (set by the client).
    #[arg(long, value_name = "NAME")]
    ipc: String,
    /// Directory with the ONNX models and manifest.json.
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Most memory the loaded models may use at once, e.g. 4GiB, 512MiB, 1.5GB.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_memory_size)]
    memory_budget: u64,
    /// Similarity S_C at which the loop stops, when a request does not say.
    #[arg(long)]
    threshold: Option<f32>,
    /// Round limit, when a request does not say.
    #[arg(long)]
    max_rounds: Option<u32>,
    /// Inference backend.
    #[arg(long, value_enum, default_value_t = Backend::Tract)]
    backend: Backend,
    /// Path to libonnxruntime (with --backend onnxruntime).
    #[arg(long, value_name = "PATH")]
    onnxruntime_lib: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// Pure-Rust tract (embedded, nothing to install).
    Tract,
    /// ONNX Runtime loaded at run time (CUDA when available).
    Onnxruntime,
}

/// Parses a memory size: a number with an optional unit. Binary units (KiB, MiB,
/// GiB, TiB; also K, M, G, T) are powers of 1024, decimal ones (kB, MB, GB, TB)
/// powers of 1000, no unit or B means bytes. Case-insensitive; spaces allowed.
fn parse_memory_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size; write e.g. 4GiB, 512MiB or 1.5GB"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        other => {
            return Err(format!(
                "\"{other}\" is not a size unit; use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB"
            ))
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!(
            "\"{text}\" is not a usable memory budget (at least 1 byte)"
        ));
    }
    Ok(bytes.round() as u64)
}

/// TEMPORARY: stands in until the orchestrator is wired in; it answers every
/// bake with an Internal error.
struct PendingEngine {
    models: Option<PathBuf>,
    backend: Backend,
}

impl BakeEngine for PendingEngine {
    fn hello_models(&self) -> ModelsInfo {
        ModelsInfo {
            dir: self
                .models
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            manifest_sha256: None,
            error: None,
        }
    }

    fn backend(&self) -> String {
        match self.backend {
            Backend::Tract => "tract".into(),
            Backend::Onnxruntime => "onnxruntime".into(),
        }
    }

    fn bake(
        &mut self,
        req: &BakeRequest,
        _progress: &mut dyn FnMut(Progress),
        _cancel: &AtomicBool,
    ) -> Result<BakeResult, BakeError> {
        Err(BakeError::new(
            Some(req.id),
            ErrorKind::Internal,
            "the bake loop is not built yet",
        ))
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    // The loop's options; the orchestrator that replaces `PendingEngine` reads them.
    let _ = (
        args.memory_budget,
        args.threshold,
        args.max_rounds,
        &args.onnxruntime_lib,
    );
    let mut engine = PendingEngine {
        models: args.models.clone(),
        backend: args.backend,
    };
    serve(&args.ipc, &mut engine).with_context(|| "Could not serve the client".to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_memory_size;

    #[test]
    fn memory_sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_memory_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_memory_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_memory_size("512 mib"), Ok(512 << 20));
        assert_eq!(parse_memory_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_memory_size("2G"), Ok(2 << 30));
        assert_eq!(parse_memory_size("100kB"), Ok(100_000));
        assert_eq!(parse_memory_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_memory_size("0.5KiB"), Ok(512));
    }

    #[test]
    fn bad_memory_sizes_are_explained() {
        for bad in ["", "GiB", "4 parsecs", "-1GiB", "0", "1e3", "4..2GiB"] {
            let err = parse_memory_size(bad).expect_err(bad);
            assert!(
                err.contains("size") || err.contains("budget"),
                "{bad}: {err}"
            );
        }
    }
}
