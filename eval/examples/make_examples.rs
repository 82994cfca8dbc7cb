//! Writes the damaged example clips of `examples/` (noisy, clicky, clipped) from the
//! clean `examples/clean_vctk_p236_023.wav` with the evaluation's held-out damage
//! implementations (never seen in training), at fixed seeds:
//! `cargo run -p faurge-eval --example make_examples`. The labels printed are what
//! `examples/LICENSES.md` records.

use faurge_dataset::damage::{Kind, Pool, Recordings};
use faurge_eval::heldout::apply_heldout;
use faurge_io::{Audio, WavFormat};

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let clean = faurge_io::read(root.join("examples/clean_vctk_p236_023.wav"))?;
    let rate = clean.sample_rate;
    let none = Recordings::none(Pool::HeldOut, rate);
    for (name, kind, strength, seed) in [
        ("noisy", Kind::Noise, 0.6f32, 11u64),
        ("clicky", Kind::PeriodicClicks, 0.7, 12),
        ("clipped", Kind::HardClip, 0.6, 13),
    ] {
        let mut audio = clean.to_mono();
        let applied = apply_heldout(kind, strength, &mut [&mut audio[..]], rate as f32, seed, &none)?;
        let path = root.join(format!("examples/{name}_vctk_p236_023.wav"));
        faurge_io::write_wav(&path, &Audio::new(rate, vec![audio])?, WavFormat::Int16)?;
        println!("{}: {}", path.display(), applied.label);
    }
    Ok(())
}
