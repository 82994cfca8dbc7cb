//! `faurge`: the command-line tool. Renders files through the same `Chain` the
//! plugin runs, measures them with the shared metrics, and makes degraded test
//! material with the degradation suite.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use faurge_dsp::analysis;
use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_dsp::degrade::DegradationChain;
use faurge_dsp::presets::{self, PRESETS};
use faurge_dsp::state::DspState;
use faurge_dsp::MIN_SAMPLE_RATE;
use faurge_io::{Audio, WavFormat};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Parser)]
#[command(
    name = "faurge",
    version,
    about = "Faurge: a vocal chain that listens to what you ask for"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render an audio file through the chain with a preset or a saved state.
    Render {
        /// Input WAV or FLAC file (mono or stereo).
        input: PathBuf,
        /// Output WAV file.
        #[arg(short, long)]
        output: PathBuf,
        /// A named preset (see `faurge presets`).
        #[arg(long, conflicts_with = "state")]
        preset: Option<String>,
        /// A DspState JSON file (as written by `faurge bake` or `--dump-state`).
        #[arg(long)]
        state: Option<PathBuf>,
        /// An impulse response (WAV/FLAC) for the convolver; resampled to the input's
        /// rate and scaled to unit energy (0 dB broadband gain), so a measured room
        /// response neither blasts nor vanishes whatever level it was recorded at.
        #[arg(long)]
        ir: Option<PathBuf>,
        /// Wet proportion of the IR, 0..1 (with --ir).
        #[arg(long, default_value_t = 1.0)]
        ir_mix: f32,
        /// Output sample format.
        #[arg(long, value_enum, default_value_t = Format::Int24)]
        format: Format,
        /// Also print the state used, as JSON.
        #[arg(long)]
        dump_state: bool,
    },
    /// List the presets.
    Presets,
    /// Print a file's measurements (LTAS, loudness, dynamics, purity) as JSON.
    Measure {
        /// Input WAV or FLAC file.
        input: PathBuf,
    },
    /// Apply a random, seeded combination of the six degradations (test material).
    Degrade {
        /// Input WAV or FLAC file.
        input: PathBuf,
        /// Output WAV file.
        #[arg(short, long)]
        output: PathBuf,
        /// Seed; the same seed gives the same degradations.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the degradations applied, as JSON.
        #[arg(long)]
        verbose: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// 16-bit integer PCM.
    Int16,
    /// 24-bit integer PCM.
    Int24,
    /// 32-bit float.
    Float32,
}

impl From<Format> for WavFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Int16 => WavFormat::Int16,
            Format::Int24 => WavFormat::Int24,
            Format::Float32 => WavFormat::Float32,
        }
    }
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Render {
            input,
            output,
            preset,
            state,
            ir,
            ir_mix,
            format,
            dump_state,
        } => {
            let mut dsp_state = match (preset, state) {
                (Some(name), _) => preset_state(&name)?,
                (None, Some(path)) => read_state(&path)?,
                (None, None) => DspState::default(),
            };
            if ir.is_some() {
                dsp_state.convolver.enabled = true;
                dsp_state.convolver.mix = ir_mix;
            }
            let audio = read_audio(&input)?;
            let ir_audio = ir.as_deref().map(read_audio).transpose()?;
            let rendered = render(&audio, &dsp_state, ir_audio.as_ref())?;
            write_audio(&output, &rendered, format.into())?;
            if dump_state {
                println!("{}", serde_json::to_string_pretty(&dsp_state)?);
            }
            eprintln!(
                "Rendered \"{}\" ({:.2} s, {} Hz, {} ch) to \"{}\"",
                input.display(),
                audio.duration_s(),
                audio.sample_rate,
                audio.num_channels(),
                output.display()
            );
        }
        Command::Presets => {
            for p in PRESETS {
                println!("{:<12} {}", p.name, p.description);
            }
        }
        Command::Measure { input } => {
            let audio = read_audio(&input)?;
            let refs: Vec<&[f32]> = audio.channels.iter().map(Vec::as_slice).collect();
            let m = analysis::measure(&refs, audio.sample_rate as f32);
            println!("{}", serde_json::to_string_pretty(&m)?);
        }
        Command::Degrade {
            input,
            output,
            seed,
            verbose,
        } => {
            let mut audio = read_audio(&input)?;
            let chain = DegradationChain::random_subset(&mut ChaCha8Rng::seed_from_u64(seed));
            chain
                .apply(&mut audio.channels, audio.sample_rate as f32, seed)
                .with_context(|| format!("Could not degrade \"{}\"", input.display()))?;
            write_audio(&output, &audio, WavFormat::Int24)?;
            if verbose {
                println!("{}", serde_json::to_string_pretty(&chain)?);
            }
            eprintln!(
                "Degraded \"{}\" with [{}]",
                input.display(),
                chain.labels().join(", ")
            );
        }
    }
    Ok(())
}

/// Writes `audio` to `path` as WAV, creating the parent folder if needed.
fn write_audio(path: &Path, audio: &Audio, format: WavFormat) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Could not create the folder \"{}\"", dir.display()))?;
    }
    faurge_io::write_wav(path, audio, format)?;
    Ok(())
}

/// Scales `channels` together so the loudest channel has unit energy
/// (`Σ h² = 1`). Returns `None` for silent or non-finite input.
fn normalize_energy(channels: &mut [Vec<f32>]) -> Option<()> {
    let energy = channels
        .iter()
        .map(|c| c.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>())
        .fold(0.0, f64::max);
    if !(energy.is_finite() && energy > 0.0) {
        return None;
    }
    let g = (1.0 / energy.sqrt()) as f32;
    channels.iter_mut().flatten().for_each(|s| *s *= g);
    Some(())
}

fn read_audio(path: &Path) -> Result<Audio> {
    let audio = faurge_io::read(path)?;
    if audio.num_channels() > 2 {
        bail!(
            "\"{}\" has {} channels; Faurge processes mono or stereo",
            path.display(),
            audio.num_channels()
        );
    }
    Ok(audio)
}

fn preset_state(name: &str) -> Result<DspState> {
    if let Some(p) = presets::find(name) {
        return Ok((p.state)());
    }
    let closest = PRESETS
        .iter()
        .map(|p| (strsim::levenshtein(name, p.name), p.name))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, n)| format!(" Did you mean \"{n}\"?"))
        .unwrap_or_default();
    let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
    bail!(
        "There is no preset \"{name}\".{closest} Presets: {}",
        names.join(", ")
    )
}

fn read_state(path: &Path) -> Result<DspState> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Could not read \"{}\"", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("\"{}\" is not a valid DspState", path.display()))
}

/// Rate at which files below the chain's lowest rate (e.g. 16 kHz speech) are
/// processed; the result is resampled back to the file's own rate.
const LOW_RATE_PROCESSING_HZ: u32 = 48_000;

/// Renders `audio` through a fresh [`Chain`] set to `state`, with `ir` (resampled
/// and energy-normalized) loaded before the first sample. The output has the
/// input's rate and length. Files below the chain's lowest supported rate are
/// processed at [`LOW_RATE_PROCESSING_HZ`] and resampled back.
fn render(audio: &Audio, state: &DspState, ir: Option<&Audio>) -> Result<Audio> {
    state.validate().context("The settings are out of range")?;
    let work_rate = if (audio.sample_rate as f32) < MIN_SAMPLE_RATE {
        LOW_RATE_PROCESSING_HZ
    } else {
        audio.sample_rate
    };
    let work = audio.resampled(work_rate)?;
    let mut chain = Chain::new(ChainConfig::new(work_rate as f32, audio.num_channels()))?;
    chain.snap_to_state(state);
    if let Some(ir) = ir {
        let mut ir = ir.resampled(work_rate)?;
        normalize_energy(&mut ir.channels)
            .context("The impulse response is silent or not finite; it cannot be used")?;
        let refs: Vec<&[f32]> = ir.channels.iter().map(Vec::as_slice).collect();
        let kernel = chain
            .kernel_builder()
            .build(&refs)
            .context("Could not prepare the impulse response")?;
        if chain.replace_ir(kernel).is_err() {
            bail!("The impulse response was prepared for another chain");
        }
    }
    let mut out = work.channels;
    let mut refs: Vec<&mut [f32]> = out.iter_mut().map(Vec::as_mut_slice).collect();
    // The chain cuts any length into its own steps, exactly as it does host blocks.
    chain.process(&mut refs);
    let mut out = Audio::new(work_rate, out)?.resampled(audio.sample_rate)?;
    for c in &mut out.channels {
        c.resize(audio.frames(), 0.0);
    }
    Ok(out)
}
