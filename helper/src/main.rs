//! `faurge`: the command-line tool. `fix` and `bake` run the closed loop in the
//! same helper process the plugin uses; `render` plays files through the same
//! `Chain` the plugin runs; `measure` and `degrade` use the shared metrics and the
//! degradation suite.

/// `eprintln!` that never panics: a closed or full stderr (`faurge fix … 2>&1 |
/// head -1`) loses the message, not the job. Defined before the modules so that
/// every module of the CLI uses it instead of std's (textual scope).
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `println!` that never panics on a closed stdout (`faurge measure x | head`).
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod checks;
mod config;
mod fix;
mod paths;
mod plot;
mod render;
mod signals;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use faurge_dsp::analysis;
use faurge_dsp::degrade::DegradationChain;
use faurge_dsp::presets::{self, PRESETS};
use faurge_dsp::state::DspState;
use faurge_io::{Audio, WavFormat};
use paths::Named;
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
    /// Bake a prompt on a recording and write the processed file (the main job):
    /// the helper listens, runs the loop, and the file is rendered with the result.
    Fix {
        /// Input WAV or FLAC file (mono or stereo).
        input: PathBuf,
        /// Output WAV file.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        goal: GoalArgs,
        #[command(flatten)]
        helper: HelperArgs,
        /// Also write the bake report: JSON at this path and a PNG beside it
        /// (before/after LTAS, EQ curve, IR).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Output sample format.
        #[arg(long, value_enum, default_value_t = Format::Int24)]
        format: Format,
    },
    /// Bake a prompt on a recording and write the result for hosts without a GUI:
    /// `dsp_state.json`, `ir.wav` and `report.json` in a folder.
    Bake {
        /// Input WAV or FLAC file (mono or stereo).
        input: PathBuf,
        /// Folder for the results (created).
        #[arg(short, long)]
        out: PathBuf,
        #[command(flatten)]
        goal: GoalArgs,
        #[command(flatten)]
        helper: HelperArgs,
    },
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
        /// Use the IR as it is, without scaling it to unit energy (for IRs that
        /// `faurge bake` wrote: their level is part of the correction).
        #[arg(long, requires = "ir")]
        ir_raw: bool,
        /// Output sample format.
        #[arg(long, value_enum, default_value_t = Format::Int24)]
        format: Format,
        /// Also print the state used, as JSON.
        #[arg(long)]
        dump_state: bool,
    },
    /// List the presets.
    Presets,
    /// Print a file's measurements as JSON: `metrics` (LTAS, loudness, dynamics,
    /// purity) and `restoration` (noise floor, clicks, clipping, sibilance: what a
    /// repair decides from).
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

/// What the bake aims at.
#[derive(clap::Args)]
struct GoalArgs {
    /// What you want, in words ("warm radio voice", "fix my mic", "less boomy").
    #[arg(short, long, default_value = "")]
    prompt: String,
    /// S_C (cosine of prompt and result, -1..1) at which the loop stops.
    #[arg(long)]
    threshold: Option<f32>,
    /// Most rounds of the loop (1..=16; default 4).
    #[arg(long)]
    max_rounds: Option<u32>,
    /// A recording whose sound to aim for (its audio embedding joins the prompt).
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Aim for the reference alone, ignoring the prompt.
    #[arg(long, requires = "reference")]
    reference_only: bool,
}

/// How to run the helper.
#[derive(clap::Args)]
struct HelperArgs {
    /// The helper binary (default: next to this program, $FAURGE_HELPER, or PATH).
    #[arg(long)]
    helper: Option<PathBuf>,
    /// The models folder (default: $FAURGE_MODELS, next to this program, or the
    /// checkout's bundle/models).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Most memory the models may hold at once, e.g. 4GiB, 512MiB.
    #[arg(long)]
    memory_budget: Option<String>,
    /// A LAION-CLAP ONNX export (text_model.onnx, audio_model.onnx, tokenizer.json)
    /// to use instead of the built-in text/audio encoders (Fabian, Ursula and
    /// Genesis then need retraining on its space for good results).
    #[arg(long, value_name = "DIR")]
    clap_dir: Option<PathBuf>,
    /// Inference backend: tract (built in) or onnxruntime (needs --onnxruntime-lib).
    #[arg(long)]
    backend: Option<String>,
    /// Path of libonnxruntime.so (1.24 or newer) for --backend onnxruntime.
    #[arg(long)]
    onnxruntime_lib: Option<PathBuf>,
    /// Give up on a bake after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
}

impl GoalArgs {
    fn goal(&self) -> Result<fix::Goal> {
        let t = fix::Goal {
            prompt: self.prompt.clone(),
            threshold: self.threshold,
            max_rounds: self.max_rounds,
            reference: self.reference.clone(),
            reference_only: self.reference_only,
        };
        fix::check_goal(&t)?;
        Ok(t)
    }
}

impl HelperArgs {
    fn options(&self) -> fix::HelperOptions {
        fix::HelperOptions {
            helper: self.helper.clone(),
            models: self.models.clone(),
            memory_budget: self.memory_budget.clone(),
            clap_dir: self.clap_dir.clone(),
            backend: self.backend.clone(),
            onnxruntime_lib: self.onnxruntime_lib.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_s.max(1)),
        }
    }
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

/// Seconds of a file read for a bake: the helper is sent at most the first 60 s
/// (and analyses the loudest 10 s of them); the rest is only rendered.
const BAKE_SECONDS: usize = 60;

/// What `fix` and `bake` share: reads the start of `input`, resamples it to the
/// helper's working rate, bakes it through the helper process and prints the
/// summary. Returns the resampled audio and the result.
fn bake_file(
    input: &Path,
    goal: &GoalArgs,
    helper: &HelperArgs,
) -> Result<(Audio, faurge_protocol::BakeResult)> {
    let goal = goal.goal()?;
    let audio = render::read_head(input, BAKE_SECONDS)?;
    checks::long_enough(&audio, "The input", input)?;
    if let Some(r) = &goal.reference {
        checks::long_enough(&render::read_head(r, BAKE_SECONDS)?, "The reference", r)?;
    }
    let work = audio.resampled(work_rate(audio.sample_rate))?;
    drop(audio);
    let result = fix::bake(&work, &goal, &helper.options())?;
    fix::print_summary(&checks::for_display(&result));
    if let Some(note) = checks::not_understood(&result) {
        eprintln!("{note}");
    }
    Ok((work, result))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // Before any thread starts: it sets TMPDIR for this process and the helper.
    let _session = signals::install();
    quiet_handled_panics();
    match cli.command {
        Command::Fix {
            input,
            output,
            goal,
            helper,
            report,
            format,
        } => {
            let png = report.as_deref().map(paths::report_png);
            let mut inputs = vec![Named {
                role: "the input",
                path: &input,
            }];
            if let Some(r) = &goal.reference {
                inputs.push(Named {
                    role: "the --reference file",
                    path: r,
                });
            }
            let mut outputs = vec![Named {
                role: "-o",
                path: &output,
            }];
            if let (Some(r), Some(p)) = (&report, &png) {
                outputs.push(Named {
                    role: "--report",
                    path: r,
                });
                outputs.push(Named {
                    role: "the report's plot",
                    path: p,
                });
            }
            paths::check_distinct(&inputs, &outputs)?;
            let (work, result) = bake_file(&input, &goal, &helper)?;
            let ir = result
                .ir_samples()
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("The helper sent an unusable impulse response")?;
            let ir_audio = (!ir.is_empty())
                .then(|| Audio::new(work.sample_rate, vec![ir]))
                .transpose()?;
            render::render_file(
                &input,
                &output,
                &result.dsp_state,
                ir_audio.as_ref(),
                format.into(),
                work_rate,
            )?;
            if let Some(path) = report {
                write_report(&path, &result, work.sample_rate)?;
            }
            eprintln!("Wrote \"{}\"", output.display());
        }
        Command::Bake {
            input,
            out,
            goal,
            helper,
        } => {
            let files =
                ["dsp_state.json", "ir.wav", "report.json", "report.png"].map(|f| out.join(f));
            let outputs = files.each_ref().map(|p| Named {
                role: "the bake's output",
                path: p,
            });
            let mut inputs = vec![Named {
                role: "the input",
                path: &input,
            }];
            if let Some(r) = &goal.reference {
                inputs.push(Named {
                    role: "the --reference file",
                    path: r,
                });
            }
            paths::check_distinct(&inputs, &outputs)?;
            let (work, result) = bake_file(&input, &goal, &helper)?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("Could not create the folder \"{}\"", out.display()))?;
            let state = serde_json::to_string_pretty(&result.dsp_state)?;
            paths::write_atomically(&files[0], |tmp| Ok(std::fs::write(tmp, &state)?))?;
            let ir = result
                .ir_samples()
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("The helper sent an unusable impulse response")?;
            if !ir.is_empty() {
                let ir_audio = Audio::new(work.sample_rate, vec![ir])?;
                write_audio(&out.join("ir.wav"), &ir_audio, WavFormat::Float32)?;
            }
            write_report(&out.join("report.json"), &result, work.sample_rate)?;
            eprintln!(
                "Wrote dsp_state.json, ir.wav, report.json and report.png to \"{}\"; play them with `faurge render IN --state {}/dsp_state.json --ir {}/ir.wav --ir-raw -o OUT`",
                out.display(),
                out.display(),
                out.display()
            );
        }
        Command::Render {
            input,
            output,
            preset,
            state,
            ir,
            ir_mix,
            ir_raw,
            format,
            dump_state,
        } => {
            let mut inputs = vec![Named {
                role: "the input",
                path: &input,
            }];
            if let Some(s) = &state {
                inputs.push(Named {
                    role: "the --state file",
                    path: s,
                });
            }
            if let Some(i) = &ir {
                inputs.push(Named {
                    role: "the --ir file",
                    path: i,
                });
            }
            let outputs = [Named {
                role: "-o",
                path: &output,
            }];
            paths::check_distinct(&inputs, &outputs)?;
            let mut dsp_state = match (preset, state) {
                (Some(name), _) => preset_state(&name)?,
                (None, Some(path)) => read_state(&path)?,
                (None, None) => DspState::default(),
            };
            if ir.is_some() {
                dsp_state.convolver.enabled = true;
                dsp_state.convolver.mix = ir_mix;
            }
            // The input's errors first; it is read again, in pieces, below.
            render::open(&input)?;
            let mut ir_audio = ir.as_deref().map(read_audio).transpose()?;
            if let Some(ir) = ir_audio.as_mut().filter(|_| !ir_raw) {
                normalize_energy(&mut ir.channels)
                    .context("The impulse response is silent or not finite; it cannot be used")?;
            }
            let r = render::render_file(
                &input,
                &output,
                &dsp_state,
                ir_audio.as_ref(),
                format.into(),
                work_rate,
            )?;
            if dump_state {
                println!("{}", serde_json::to_string_pretty(&dsp_state)?);
            }
            eprintln!(
                "Rendered \"{}\" ({:.2} s, {} Hz, {} ch) to \"{}\"",
                input.display(),
                r.frames as f64 / f64::from(r.sample_rate),
                r.sample_rate,
                r.channels,
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
            let sr = audio.sample_rate as f32;
            let out = serde_json::json!({
                "metrics": analysis::measure(&refs, sr),
                "restoration": analysis::restoration::restoration_metrics(&refs, sr),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Degrade {
            input,
            output,
            seed,
            verbose,
        } => {
            paths::check_distinct(
                &[Named {
                    role: "the input",
                    path: &input,
                }],
                &[Named {
                    role: "-o",
                    path: &output,
                }],
            )?;
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

/// Keeps the messages of panics that are caught and reported off stderr: the
/// helper client's accept thread (ipc-channel asserts on some malformed first
/// messages; the client reports a handshake error) and the audio decoder's (see
/// below). Every other panic is printed as before.
fn quiet_handled_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // faurge_io runs every symphonia call under `catch_unwind` and reports a
        // decode error naming the file: the panic's own message is noise too.
        let in_decoder = info
            .location()
            .is_some_and(|l| l.file().contains("/symphonia-"));
        if std::thread::current().name() != Some("faurge-helper-accept") && !in_decoder {
            default(info);
        }
    }));
}

/// Writes `audio` to `path` as WAV, creating the parent folder if needed; whole or
/// not at all ([`paths::write_atomically`]).
fn write_audio(path: &Path, audio: &Audio, format: WavFormat) -> Result<()> {
    paths::write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("Could not write \"{}\"", path.display()))?;
        faurge_io::write_wav_to(std::io::BufWriter::new(file), path, audio, format)?;
        Ok(())
    })
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

pub(crate) fn read_audio(path: &Path) -> Result<Audio> {
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

/// Writes the report JSON to `path` and the PNG beside it ([`paths::report_png`]),
/// each whole or not at all.
fn write_report(path: &Path, result: &faurge_protocol::BakeResult, sample_rate: u32) -> Result<()> {
    let json = serde_json::json!({
        "dsp_state": result.dsp_state,
        "report": result.report,
        "ir": result.ir.as_ref().map(|ir| serde_json::json!({
            "sample_rate": ir.sample_rate,
            "samples": ir.samples.len() / 4,
        })),
    });
    let text = serde_json::to_string_pretty(&json)?;
    paths::write_atomically(path, |tmp| {
        std::fs::write(tmp, &text)
            .with_context(|| format!("Could not write \"{}\"", path.display()))
    })?;
    let png = paths::report_png(path);
    paths::write_atomically(&png, |tmp| plot::write_png(tmp, result, sample_rate))?;
    eprintln!("Report: \"{}\" and \"{}\"", path.display(), png.display());
    Ok(())
}

/// The rate a file is baked and rendered at: its own (the chain runs at every rate
/// `faurge_io` reads, 8 to 768 kHz), or [`LOW_RATE_PROCESSING_HZ`] below
/// [`LOW_RATE_BELOW_HZ`].
fn work_rate(sample_rate: u32) -> u32 {
    if (sample_rate as f32) < LOW_RATE_BELOW_HZ {
        LOW_RATE_PROCESSING_HZ
    } else {
        sample_rate
    }
}

/// Rate at which files below [`LOW_RATE_BELOW_HZ`] (e.g. 16 kHz speech) are
/// processed; the result is resampled back to the file's own rate.
const LOW_RATE_PROCESSING_HZ: u32 = 48_000;

/// Files below this rate are baked and rendered at [`LOW_RATE_PROCESSING_HZ`]: the
/// chain runs at any rate from 1 kHz, but the models and the shadow bake work at
/// 48 kHz, and a bake at the file's own low rate would hand back an EQ whose upper
/// bands sit above its Nyquist frequency.
const LOW_RATE_BELOW_HZ: f32 = 22_050.0;
