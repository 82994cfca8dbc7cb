//! Writes the damaged example clips of `examples/` (noisy, clicky, clipped, hummy) from
//! the clean `examples/clean_vctk_p236_023.wav` at fixed seeds: noise, clicks and hum with the
//! evaluation's held-out damage implementations (never seen in training); clipping
//! with the dataset's converter-style hard clip (flat runs at full scale, what an
//! overloaded interface records — the held-out clipping implementation models an
//! analog stage's saturation, which leaves no flat runs to repair):
//! `cargo run -p faurge-eval --example make_examples`. The labels printed are what
//! `examples/LICENSES.md` records.

use faurge_dataset::damage::{apply_damage, Kind, Pool, Recordings, Registry};
use faurge_eval::heldout::apply_heldout;
use faurge_io::{Audio, WavFormat};

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let clean = faurge_io::read(root.join("examples/clean_vctk_p236_023.wav"))?;
    let rate = clean.sample_rate;
    let none = Recordings::none(Pool::HeldOut, rate);
    let training = Registry::training();
    for (name, kind, strength, seed, held_out) in [
        ("noisy", Kind::Noise, 0.6f32, 11u64, true),
        ("clicky", Kind::PeriodicClicks, 0.7, 12, true),
        ("clipped", Kind::HardClip, 0.6, 13, false),
        ("hummy", Kind::Hum, 0.8, 14, true),
    ] {
        let mut audio = clean.to_mono();
        let applied = if held_out {
            apply_heldout(
                kind,
                strength,
                &mut [&mut audio[..]],
                rate as f32,
                seed,
                &none,
            )?
        } else {
            let imp = training
                .for_kind(kind)
                .into_iter()
                .next()
                .ok_or_else(|| anyhow::anyhow!("no training implementation of {kind:?}"))?;
            apply_damage(
                imp,
                kind,
                strength,
                &mut [&mut audio[..]],
                rate as f32,
                seed,
                &Recordings::none(Pool::Training, rate),
            )?
        };
        let path = root.join(format!("examples/{name}_vctk_p236_023.wav"));
        faurge_io::write_wav(&path, &Audio::new(rate, vec![audio])?, WavFormat::Int16)?;
        println!("{}: {}", path.display(), applied.label);
    }
    Ok(())
}
