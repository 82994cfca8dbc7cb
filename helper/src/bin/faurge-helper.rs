//! `faurge-helper`: the helper process the plugin and the `faurge` CLI start.
//! It connects to the one-shot IPC server named by `--ipc`, serves bake requests
//! and exits with status 0 when its parent sends `Shutdown` or goes away.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use faurge_helper::laion::ClapDir;
use faurge_helper::manager::ModelManager;
use faurge_helper::models::{self, ModelSet, Runtime};
use faurge_helper::orchestrator::Orchestrator;
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
    /// A LAION-CLAP ONNX export (text_model.onnx, audio_model.onnx, tokenizer.json)
    /// that replaces the built-in text and audio encoders. Fabian, Ursula and
    /// Genesis were trained on the built-in encoder's space: retrain them on
    /// LAION's for good results.
    #[arg(long, value_name = "DIR")]
    clap_dir: Option<PathBuf>,
    /// Most memory the loaded models may use at once, e.g. 4GiB, 512MiB, 1.5GB.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_memory_size)]
    memory_budget: u64,
    /// Similarity S_C at which the loop stops; overrides what requests ask.
    #[arg(long)]
    threshold: Option<f32>,
    /// Round limit; overrides what requests ask.
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

/// The loop behind the IPC session, or why it could not start (then every bake
/// is answered with that error, and the handshake carries it so the client can
/// report it before sending audio).
struct Engine {
    models_dir: PathBuf,
    backend: String,
    loop_: Result<Orchestrator, BakeError>,
    threshold: Option<f32>,
    max_rounds: Option<u32>,
}

impl Engine {
    fn start(args: &Args) -> Engine {
        let models_dir = args.models.clone().unwrap_or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("models")))
                .unwrap_or_default()
        });
        let backend = match args.backend {
            Backend::Tract => models::Backend::Tract,
            Backend::Onnxruntime => models::Backend::OnnxRuntime {
                library: args
                    .onnxruntime_lib
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("libonnxruntime.so")),
                cuda: true,
            },
        };
        let name = backend.name().to_owned();
        let loop_ = (|| {
            let mut set = ModelSet::open(&models_dir)
                .map_err(|e| BakeError::new(None, ErrorKind::ModelLoad, e.to_string()))?;
            if let Some(dir) = &args.clap_dir {
                let clap = ClapDir::open(dir)
                    .map_err(|e| BakeError::new(None, ErrorKind::ModelLoad, e.to_string()))?;
                set = set.with_clap(clap);
            }
            let runtime = Runtime::start(backend, 2)
                .map_err(|e| BakeError::new(None, ErrorKind::ModelLoad, e.to_string()))?;
            let manager = ModelManager::new(runtime, set, args.memory_budget)?;
            Orchestrator::new(manager).map_err(|e| BakeError::new(None, ErrorKind::Internal, e))
        })();
        Engine {
            models_dir,
            backend: name,
            loop_,
            threshold: args.threshold,
            max_rounds: args.max_rounds,
        }
    }
}

impl BakeEngine for Engine {
    fn hello_models(&self) -> ModelsInfo {
        ModelsInfo {
            dir: self.models_dir.display().to_string(),
            manifest_sha256: self
                .loop_
                .as_ref()
                .ok()
                .map(|o| o.models().set().manifest_sha256().to_owned()),
            error: self.loop_.as_ref().err().map(|e| e.message.clone()),
        }
    }

    fn backend(&self) -> String {
        self.backend.clone()
    }

    fn bake(
        &mut self,
        req: &BakeRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<BakeResult, BakeError> {
        let orchestrator = self.loop_.as_mut().map_err(|e| e.clone())?;
        if self.threshold.is_some() || self.max_rounds.is_some() {
            let mut req = req.clone();
            if let Some(t) = self.threshold {
                req.options.threshold = Some(t);
            }
            if let Some(r) = self.max_rounds {
                req.options.max_rounds = r;
            }
            return orchestrator.bake(&req, progress, cancel);
        }
        orchestrator.bake(req, progress, cancel)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut engine = Engine::start(&args);
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
