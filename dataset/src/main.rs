//! `faurge-dataset`: builds the training set (`build`) and writes DSP reference
//! responses for the Python parity tests (`reference`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use faurge_dataset::generate::{self, BuildConfig, DEFAULT_CROP_S, DEFAULT_ROWS_PER_CLIP};
use faurge_dataset::tone_pairs;
use faurge_vocabulary::Vocabulary;

#[derive(Parser)]
#[command(name = "faurge-dataset", about = "Builds Faurge's training dataset")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the dataset: Parquet per split, SHA256SUMS, dataset.sha256, manifest.json.
    Build {
        /// Data folder (shared/data, or the repository's examples/).
        #[arg(long)]
        data: PathBuf,
        /// Output folder (created).
        #[arg(long)]
        out: PathBuf,
        /// Seed of every random draw.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Use at most this many speech clips.
        #[arg(long)]
        max_clips: Option<usize>,
        /// Rows per clean clip.
        #[arg(long, default_value_t = DEFAULT_ROWS_PER_CLIP)]
        rows_per_clip: usize,
        /// Crop length, seconds.
        #[arg(long, default_value_t = DEFAULT_CROP_S)]
        crop_s: f32,
        /// Vocabulary file (default: the embedded bundle/vocabulary/acoustic.toml).
        #[arg(long)]
        vocabulary: Option<PathBuf>,
    },
    /// Print the clean-speech value of every balance quantity (the median over the
    /// training split's clean recordings): the `reference` values of
    /// bundle/vocabulary/descriptors.toml.
    Balances {
        /// Data folder (shared/data).
        #[arg(long)]
        data: PathBuf,
    },
    /// Write EQ/compressor/IR reference responses for random settings as JSON
    /// (the PyTorch parity tests read it).
    Reference {
        /// Output JSON file.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the random settings.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Number of random EQ / compressor settings.
        #[arg(long, default_value_t = 64)]
        count: usize,
    },
    /// Write the tone-repair estimator's training pairs (clean and tone-damaged LTAS
    /// of random crops of every speech clip) to OUT/tone_pairs.parquet.
    TonePairs {
        /// Data folder (shared/data).
        #[arg(long)]
        data: PathBuf,
        /// Output folder (created).
        #[arg(long)]
        out: PathBuf,
        /// Seed of every random draw.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Rows per clip.
        #[arg(long, default_value_t = tone_pairs::DEFAULT_ROWS_PER_CLIP)]
        rows_per_clip: usize,
        /// Crop length, seconds.
        #[arg(long, default_value_t = tone_pairs::DEFAULT_CROP_S)]
        crop_s: f32,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Build {
            data,
            out,
            seed,
            max_clips,
            rows_per_clip,
            crop_s,
            vocabulary,
        } => {
            let vocabulary = match vocabulary {
                Some(p) => Vocabulary::load(&p)?,
                None => Vocabulary::embedded()?,
            };
            let start = std::time::Instant::now();
            let config = BuildConfig {
                data,
                out,
                seed,
                max_clips,
                rows_per_clip,
                crop_s,
                vocabulary,
            };
            let s = generate::build(&config).context("Could not build the dataset")?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            eprintln!("built in {:.1} s", start.elapsed().as_secs_f64());
        }
        Command::Balances { data } => {
            let v = Vocabulary::embedded()?;
            for (id, median, n) in
                generate::reference_balances(&data, &v).context("Could not measure the balances")?
            {
                let now = v
                    .descriptors
                    .quantity(&id)
                    .and_then(|q| q.reference)
                    .unwrap_or(f32::NAN);
                println!("{id:12} median {median:+6.1} dB over {n:3} clips (table: {now:+.1})");
            }
        }
        Command::TonePairs {
            data,
            out,
            seed,
            rows_per_clip,
            crop_s,
        } => {
            let start = std::time::Instant::now();
            let pairs = tone_pairs::pairs(&data, seed, rows_per_clip, crop_s)
                .context("Could not make the tone pairs")?;
            let command = format!(
                "faurge-dataset tone-pairs --data {} --out {} --seed {seed} --rows-per-clip {rows_per_clip} --crop-s {crop_s}",
                data.display(),
                out.display()
            );
            let path = tone_pairs::write(&pairs, &out, &command)?;
            eprintln!(
                "{} pairs in {:.1} s: {}",
                pairs.len(),
                start.elapsed().as_secs_f64(),
                path.display()
            );
        }
        Command::Reference { out, seed, count } => {
            let r = faurge_dataset::reference::generate(seed, count);
            std::fs::write(&out, serde_json::to_string(&r)?)
                .with_context(|| format!("Could not write \"{}\"", out.display()))?;
        }
    }
    Ok(())
}
