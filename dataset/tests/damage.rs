//! Damage families (`faurge_dataset::damage`): the training registry's coverage,
//! determinism, every rate and layout, and measured sanity on real speech — the
//! shipped `examples/` clips, and `../shared/data` when it is present beside the
//! checkout (skipped with a reason when absent, a failure when `CI=true`).

use std::path::{Path, PathBuf};

use faurge_dataset::damage::measure::{additive_snr_db, effect, Figure};
use faurge_dataset::damage::{
    self, apply_damage, Applied, DamageError, Family, Kind, Pool, Recordings, Registry,
    HELDOUT_NOISE_FILES, HELDOUT_RIR_FILES,
};
use faurge_dsp::analysis::purity::purity;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn examples() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).to_path_buf()
}

/// `../shared/data` when present; `None` with a printed reason when absent,
/// a panic on CI (`CI=true` or `CI=1`), where the data must be there.
fn shared_data(test: &str) -> Option<PathBuf> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")).to_path_buf();
    if p.join("noise").is_dir() && p.join("rir").is_dir() {
        return Some(p);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "{test}: ../shared/data (noise/, rir/) is required on CI"
    );
    eprintln!("{test}: ../shared/data not present; skipped");
    None
}

/// `seconds` of a speech file (mono, from `offset_s`) at its own rate.
fn speech(path: &Path, offset_s: f64, seconds: f64) -> (Vec<f32>, f32) {
    let a = faurge_io::read(path).expect("speech example reads");
    let m = a.to_mono();
    let sr = a.sample_rate as f64;
    let start = ((offset_s * sr) as usize).min(m.len());
    let end = (start + (seconds * sr) as usize).min(m.len());
    (m[start..end].to_vec(), a.sample_rate as f32)
}

/// The 48 kHz VCTK example, 4 s with speech from the start.
fn vctk() -> (Vec<f32>, f32) {
    speech(&examples().join("clean_vctk_p236_023.wav"), 0.5, 4.0)
}

fn apply(
    imp: &dyn damage::Damage,
    kind: Kind,
    strength: f32,
    x: &[f32],
    sr: f32,
    seed: u64,
    rec: &Recordings,
) -> (Vec<f32>, Applied) {
    let mut y = x.to_vec();
    let a = apply_damage(imp, kind, strength, &mut [&mut y[..]], sr, seed, rec)
        .unwrap_or_else(|e| panic!("{} {kind:?}: {e}", imp.id()));
    (y, a)
}

fn example_rirs(sr: f32) -> Recordings {
    Recordings::load(&examples(), sr as u32, Pool::Training).expect("examples load")
}

#[test]
fn training_registry_covers_every_family_and_kind_with_training_implementations() {
    let reg = Registry::training();
    let ids: Vec<&str> = reg.implementations().map(|i| i.id()).collect();
    let mut dedup = ids.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), ids.len(), "duplicate ids: {ids:?}");
    for imp in reg.implementations() {
        assert!(!imp.held_out(), "{} is held out", imp.id());
        assert!(
            imp.id().starts_with(&format!("{}/", imp.family().label())),
            "{}",
            imp.id()
        );
        assert!(imp.kinds().iter().all(|k| k.family() == imp.family()));
        assert!(!imp.algorithm().is_empty());
    }
    for f in Family::ALL {
        let n = reg.implementations().filter(|i| i.family() == f).count();
        assert!(n >= 2, "{f:?} has {n} training implementations");
    }
    for k in Kind::ALL {
        assert!(
            !reg.for_kind(k).is_empty(),
            "no training implementation of {k:?}"
        );
    }
    // Every kind has at least two training implementations.
    for k in Kind::ALL {
        assert!(
            reg.for_kind(k).len() >= 2,
            "{k:?}: {}",
            reg.for_kind(k).len()
        );
    }
}

#[test]
fn same_seed_gives_bit_identical_output_for_every_implementation_and_kind() {
    let (x, sr) = vctk();
    let rec = example_rirs(sr);
    let reg = Registry::training();
    for imp in reg.implementations() {
        for &k in imp.kinds() {
            if !damage::can_apply(imp, k, sr, &rec) {
                continue;
            }
            let mut changed = false;
            for seed in 0..4 {
                let (a, da) = apply(imp, k, 0.6, &x, sr, seed, &rec);
                let (b, db) = apply(imp, k, 0.6, &x, sr, seed, &rec);
                assert!(
                    a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{} {k:?} not bit-identical",
                    imp.id()
                );
                assert_eq!(da, db);
                changed |= a != x;
            }
            // Poisson kinds may draw no event in one crop, not in four.
            assert!(changed, "{} {k:?} changed nothing", imp.id());
        }
    }
    // A whole random combination, drawn and applied twice from one seed.
    let run = |seed: u64| {
        let mut y = x.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let applied = reg
            .apply_random(&mut [&mut y[..]], sr, &rec, &mut rng)
            .unwrap();
        (y, applied)
    };
    for seed in 0..8 {
        let (a, da) = run(seed);
        let (b, db) = run(seed);
        assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert_eq!(da, db);
    }
}

#[test]
fn every_damage_is_finite_at_every_rate_mono_and_stereo() {
    let reg = Registry::training();
    for sr in [
        8_000.0f32, 16_000.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0,
    ] {
        let rec = example_rirs(sr);
        assert!(!rec.rirs().is_empty());
        let n = (0.4 * sr) as usize;
        // Speech-like test signal: noise bursts with a pause, different per channel.
        let mut rng = ChaCha8Rng::seed_from_u64(sr as u64);
        let g = damage::util::gaussian(&mut rng, 2 * n);
        let burst = |i: usize| {
            if (i * 5 / n).is_multiple_of(2) {
                0.1
            } else {
                0.002
            }
        };
        let l: Vec<f32> = (0..n).map(|i| (g[i] * burst(i)) as f32).collect();
        let r: Vec<f32> = (0..n).map(|i| (g[n + i] * burst(i)) as f32).collect();
        for imp in reg.implementations() {
            for &k in imp.kinds() {
                if !damage::can_apply(imp, k, sr, &rec) {
                    continue;
                }
                let (mut a, mut b) = (l.clone(), r.clone());
                let applied = apply_damage(imp, k, 0.8, &mut [&mut a[..], &mut b[..]], sr, 7, &rec)
                    .unwrap_or_else(|e| panic!("{} {k:?} at {sr}: {e}", imp.id()));
                assert_eq!((a.len(), b.len()), (n, n));
                assert!(
                    a.iter().chain(&b).all(|v| v.is_finite()),
                    "{} {k:?} at {sr} Hz: not finite",
                    imp.id()
                );
                assert_eq!(applied.kind, k);
                // The description round-trips through JSON (floats to within
                // serde_json's parsing precision).
                let json = serde_json::to_string(&applied).unwrap();
                let back: Applied = serde_json::from_str(&json).unwrap();
                assert_eq!(
                    (
                        back.family,
                        back.kind,
                        &back.implementation,
                        back.strength,
                        back.seed,
                        &back.label
                    ),
                    (
                        applied.family,
                        applied.kind,
                        &applied.implementation,
                        applied.strength,
                        applied.seed,
                        &applied.label
                    )
                );
                let (mut m,) = (l.clone(),);
                apply_damage(imp, k, 0.8, &mut [&mut m[..]], sr, 7, &rec).unwrap();
                assert!(m.iter().all(|v| v.is_finite()));
            }
        }
    }
}

#[test]
fn bad_input_is_refused_with_the_reason() {
    let reg = Registry::training();
    let tone = reg.get("tone/rbj_biquad").unwrap();
    let none = Recordings::none(Pool::Training, 48_000);
    let mut x = vec![0.1f32; 1000];
    for sr in [4_000.0, f32::NAN, 400_000.0] {
        let e = apply_damage(tone, Kind::Boom, 0.5, &mut [&mut x[..]], sr, 1, &none).unwrap_err();
        assert!(matches!(e, DamageError::InvalidSampleRate { .. }), "{e}");
    }
    let e = apply_damage(tone, Kind::Hum, 0.5, &mut [&mut x[..]], 48_000.0, 1, &none).unwrap_err();
    assert!(matches!(e, DamageError::UnsupportedKind { .. }), "{e}");
    let rir = reg.get("room/rir_convolution").unwrap();
    let e = apply_damage(rir, Kind::Room, 0.5, &mut [&mut x[..]], 48_000.0, 1, &none).unwrap_err();
    assert!(matches!(e, DamageError::NoRecordings { .. }), "{e}");
    let held = Recordings::load(&examples(), 48_000, Pool::HeldOut).unwrap();
    let e = apply_damage(rir, Kind::Room, 0.5, &mut [&mut x[..]], 48_000.0, 1, &held).unwrap_err();
    assert!(matches!(e, DamageError::WrongPool { .. }), "{e}");
    let at44 = example_rirs(44_100.0);
    let e = apply_damage(rir, Kind::Room, 0.5, &mut [&mut x[..]], 48_000.0, 1, &at44).unwrap_err();
    assert!(matches!(e, DamageError::RecordingRate { .. }), "{e}");
    assert!(
        x.iter().all(|&v| v == 0.1),
        "a refused damage touched the audio"
    );
    // NaN samples are treated as 0, NaN strength as 0.
    let mut y = vec![f32::NAN; 4800];
    apply_damage(
        tone,
        Kind::Boom,
        f32::NAN,
        &mut [&mut y[..]],
        48_000.0,
        1,
        &none,
    )
    .unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
}

#[test]
fn combinations_come_in_physical_order_with_at_least_the_families_asked_for() {
    let (x, sr) = speech(&examples().join("speech_vctk_p234_012.wav"), 0.3, 1.0);
    let rec = example_rirs(sr);
    let reg = Registry::training();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for min in [1, 2, 3] {
            let steps = reg.draw_combination(&mut rng, sr, &rec, min);
            let fams: Vec<Family> = steps.iter().map(|s| s.kind.family()).collect();
            assert!(fams.windows(2).all(|w| w[0] <= w[1]), "{fams:?}");
            let mut distinct = fams.clone();
            distinct.dedup();
            assert!(distinct.len() >= min, "{fams:?} < {min}");
            assert!(
                fams.iter().filter(|&&f| f != Family::Tone).count()
                    == distinct.iter().filter(|&&f| f != Family::Tone).count()
            );
            for s in &steps {
                assert!((0.1..1.0).contains(&s.strength));
                seen.insert(s.kind);
                let imp = reg.get(&s.implementation).unwrap();
                assert!(imp.kinds().contains(&s.kind));
            }
        }
    }
    // Without noise recordings, every other kind is drawn.
    for k in Kind::ALL {
        if k != Kind::RecordedNoise {
            assert!(seen.contains(&k), "{k:?} never drawn");
        }
    }
    assert!(!seen.contains(&Kind::RecordedNoise));
    let mut y = x.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let applied = reg
        .apply_random(&mut [&mut y[..]], sr, &rec, &mut rng)
        .unwrap();
    assert!(!applied.is_empty());
}

/// Prints every training implementation's effect on the VCTK example at two
/// strengths and four seeds: `cargo test -p faurge-dataset --test damage
/// print_effects -- --ignored --nocapture` (how the thresholds below were chosen).
#[test]
#[ignore]
fn print_effects() {
    let (x, sr) = vctk();
    let rec = example_rirs(sr);
    let reg = Registry::training();
    for imp in reg.implementations() {
        for &k in imp.kinds() {
            if !damage::can_apply(imp, k, sr, &rec) {
                continue;
            }
            for s in [0.2f32, 0.7] {
                let v: Vec<String> = (0..4)
                    .map(|seed| {
                        let (y, _) = apply(imp, k, s, &x, sr, seed, &rec);
                        format!("{:.2}", effect(k, &[&x], &[&y], sr))
                    })
                    .collect();
                println!(
                    "{:28} {:16} s={s} {:?}: {}",
                    imp.id(),
                    k.label(),
                    Figure::of(k),
                    v.join(" ")
                );
            }
        }
    }
}

#[test]
fn noise_lands_at_the_requested_snr_against_the_active_speech_level() {
    let (x, sr) = vctk();
    let none = Recordings::none(Pool::Training, sr as u32);
    let reg = Registry::training();
    for kind in [Kind::Noise, Kind::Hum] {
        for imp in reg.for_kind(kind) {
            for (i, s) in [0.0f32, 0.5, 1.0].into_iter().enumerate() {
                let (y, a) = apply(imp, kind, s, &x, sr, i as u64, &none);
                let want = a.params["snr_db"].as_f64().unwrap();
                let got = additive_snr_db(&[&x], &[&y], sr);
                assert!(
                    (got - want).abs() <= 1.5,
                    "{} {kind:?}: SNR {got:.2} dB for {want:.2}",
                    imp.id()
                );
            }
        }
    }
}

#[test]
fn recorded_noise_lands_at_the_requested_snr() {
    let Some(data) = shared_data("recorded_noise_lands_at_the_requested_snr") else {
        return;
    };
    let (x, sr) = vctk();
    let rec = Recordings::load(&data, sr as u32, Pool::Training).unwrap();
    for imp in Registry::training().for_kind(Kind::RecordedNoise) {
        for (i, s) in [0.0f32, 0.5, 1.0].into_iter().enumerate() {
            let (y, a) = apply(imp, Kind::RecordedNoise, s, &x, sr, i as u64, &rec);
            let want = a.params["snr_db"].as_f64().unwrap();
            let got = additive_snr_db(&[&x], &[&y], sr);
            assert!(
                (got - want).abs() <= 1.5,
                "{}: SNR {got:.2} dB for {want:.2}",
                imp.id()
            );
            if s >= 0.5 {
                assert!(effect(Kind::RecordedNoise, &[&x], &[&y], sr) > 0.0);
            }
        }
    }
}

#[test]
fn the_training_pool_skips_held_out_files_wherever_the_data_folder_is() {
    // A data folder built here, so this runs without ../shared/data: every
    // held-out name plus training names, in the layout Recordings::load reads.
    let dir = std::env::temp_dir().join(format!("faurge-damage-pool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("noise")).unwrap();
    std::fs::create_dir_all(dir.join("rir")).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let noise: Vec<f32> = damage::util::gaussian(&mut rng, 16_000)
        .into_iter()
        .map(|v| (0.1 * v) as f32)
        .collect();
    let mut rir = vec![0.0f32; 8_000];
    rir[100] = 1.0;
    rir[500] = 0.3;
    let write = |path: PathBuf, x: &[f32], channels: usize| {
        let a = faurge_io::Audio::new(16_000, vec![x.to_vec(); channels]).unwrap();
        faurge_io::write_wav(path, &a, faurge_io::WavFormat::Float32).unwrap();
    };
    for n in HELDOUT_NOISE_FILES.iter().chain(&["fan.wav", "Street.WAV"]) {
        write(dir.join("noise").join(n), &noise, 1);
    }
    for n in HELDOUT_RIR_FILES
        .iter()
        .chain(&["brir_hall.wav", "rir_desk.wav"])
    {
        write(dir.join("rir").join(n), &rir, 2);
    }
    // Case does not hide a held-out file.
    write(dir.join("noise").join("RUNNING_TAP.WAV"), &noise, 1);
    let train = Recordings::load(&dir, 16_000, Pool::Training).unwrap();
    let held = Recordings::load(&dir, 16_000, Pool::HeldOut).unwrap();
    assert_eq!(
        train.file_names(),
        ["Street.WAV", "brir_hall.wav", "fan.wav", "rir_desk.wav"]
    );
    assert_eq!(train.rirs().len(), 4, "each channel is one RIR");
    let mut want: Vec<String> = HELDOUT_NOISE_FILES
        .iter()
        .chain(HELDOUT_RIR_FILES.iter())
        .map(|s| s.to_string())
        .chain(["RUNNING_TAP.WAV".to_string()])
        .collect();
    want.sort();
    assert_eq!(held.file_names(), want);
    // Every RIR starts 1 ms before its direct sound and has unit energy.
    for r in train.rirs() {
        let at = r.samples.iter().position(|&v| v.abs() > 0.5).unwrap();
        assert_eq!(at, 16, "{}", r.name);
        let e: f64 = r.samples.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        assert!((e - 1.0).abs() < 1e-4);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn training_draws_never_use_a_held_out_recording() {
    let Some(data) = shared_data("training_draws_never_use_a_held_out_recording") else {
        return;
    };
    let sr = 16_000.0;
    let train = Recordings::load(&data, sr as u32, Pool::Training).unwrap();
    let held = Recordings::load(&data, sr as u32, Pool::HeldOut).unwrap();
    let heldout: Vec<String> = HELDOUT_NOISE_FILES
        .iter()
        .chain(HELDOUT_RIR_FILES.iter())
        .map(|s| s.to_string())
        .collect();
    let mut expected = heldout.clone();
    expected.sort();
    assert_eq!(
        held.file_names(),
        expected,
        "every held-out file is in the data"
    );
    assert!(!train.noise().is_empty() && !train.rirs().is_empty());
    for name in train.file_names() {
        assert!(!heldout.contains(&name), "{name} loaded for training");
    }
    let (x, _) = speech(
        &examples().join("speech_librispeech_19-198-0000.flac"),
        0.0,
        0.5,
    );
    let reg = Registry::training();
    let mut used = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let mut y = x.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for a in reg
            .apply_random(&mut [&mut y[..]], sr, &train, &mut rng)
            .unwrap()
        {
            for key in ["recording", "rir"] {
                if let Some(name) = a.params.get(key).and_then(|v| v.as_str()) {
                    assert!(
                        !heldout.contains(&name.to_owned()),
                        "{name} used in training by {}",
                        a.implementation
                    );
                    used.insert(name.to_owned());
                }
            }
        }
    }
    // The training draw does use recordings (the check above is not vacuous).
    assert!(used.len() >= 4, "{used:?}");
}

/// The effect of `kind` by every training implementation at strength `s` over
/// `seeds`, as (implementation, effects).
fn effects(
    kind: Kind,
    s: f32,
    seeds: u64,
    x: &[f32],
    sr: f32,
    rec: &Recordings,
) -> Vec<(String, Vec<f64>)> {
    Registry::training()
        .for_kind(kind)
        .into_iter()
        .filter(|imp| damage::can_apply(*imp, kind, sr, rec))
        .map(|imp| {
            let v = (0..seeds)
                .map(|seed| {
                    let (y, _) = apply(imp, kind, s, x, sr, seed, rec);
                    effect(kind, &[x], &[&y], sr)
                })
                .collect();
            (imp.id().to_owned(), v)
        })
        .collect()
}

#[test]
fn tone_kinds_move_the_bands_they_name() {
    let (x, sr) = vctk();
    let none = Recordings::none(Pool::Training, sr as u32);
    // (kind, least effect in dB at strength 0.7 for every seed)
    for (kind, least) in [
        (Kind::Boom, 3.0),
        (Kind::Thin, 3.0),
        (Kind::Muddy, 2.0),
        (Kind::Sibilant, 1.5),
        (Kind::BandLimit, 3.0),
        (Kind::LowShelf, 1.0),
        (Kind::HighShelf, 1.0),
        (Kind::Peak, 0.3),
        (Kind::Tilt, 2.0),
    ] {
        for (id, v) in effects(kind, 0.7, 6, &x, sr, &none) {
            assert!(
                v.iter().all(|&e| e >= least),
                "{id} {kind:?}: {v:.2?} (want ≥ {least} dB, {:?})",
                Figure::of(kind)
            );
        }
    }
}

#[test]
fn band_limits_remove_the_energy_outside_the_band() {
    use faurge_dataset::damage::measure::band_power_db;
    use faurge_dataset::damage::tone::Section;
    use faurge_dsp::analysis::ltas::ltas;
    let (x, sr) = vctk();
    let none = Recordings::none(Pool::Training, sr as u32);
    let clean = ltas(&[&x], sr);
    for imp in Registry::training().for_kind(Kind::BandLimit) {
        for seed in 0..8 {
            let (y, a) = apply(imp, Kind::BandLimit, 1.0, &x, sr, seed, &none);
            let l = ltas(&[&y], sr);
            let sections: Vec<Section> =
                serde_json::from_value(a.params["sections"].clone()).unwrap();
            // Level of a band re 1–2 kHz (inside every band limit drawn at strength 1).
            let rel = |l: &[f32; 64], lo: f32, hi: f32| {
                band_power_db(l, lo, hi).unwrap() - band_power_db(l, 1000.0, 2000.0).unwrap()
            };
            for s in sections {
                let (lo, hi) = match s {
                    Section::HighPass { freq_hz, .. } => (40.0, (freq_hz / 2.0) as f32),
                    Section::LowPass { freq_hz, .. } => ((freq_hz * 2.0) as f32, 20_000.0),
                    _ => unreachable!(),
                };
                if hi - lo < 20.0 || band_power_db(&clean, lo, hi).is_none() {
                    continue;
                }
                let drop = rel(&clean, lo, hi) - rel(&l, lo, hi);
                assert!(
                    drop >= 9.0,
                    "{} {s:?}: {lo}–{hi} Hz only {drop:.1} dB lower",
                    imp.id()
                );
            }
        }
    }
}

#[test]
fn hard_clipping_raises_the_clipped_fraction_and_every_clip_lowers_the_crest_factor() {
    let (x, sr) = vctk();
    let none = Recordings::none(Pool::Training, sr as u32);
    let before = purity(&[&x], sr).clipping_fraction;
    assert!(before < 0.001);
    for imp in Registry::training().for_kind(Kind::HardClip) {
        let (y, _) = apply(imp, Kind::HardClip, 0.5, &x, sr, 1, &none);
        let after = purity(&[&y], sr).clipping_fraction;
        assert!(
            after > 0.01 && after > 10.0 * before,
            "{}: {before} → {after}",
            imp.id()
        );
    }
    for kind in [Kind::HardClip, Kind::SoftClip, Kind::AsymmetricClip] {
        for (id, v) in effects(kind, 0.7, 4, &x, sr, &none) {
            assert!(
                v.iter().all(|&e| e >= 2.0),
                "{id} {kind:?}: crest factor fell by {v:.2?} dB"
            );
        }
    }
}

#[test]
fn clicks_are_counted_by_the_purity_click_detector() {
    let (x, sr) = vctk();
    let none = Recordings::none(Pool::Training, sr as u32);
    for (kind, least) in [
        (Kind::PeriodicClicks, 0.4),
        (Kind::RandomClicks, 0.3),
        (Kind::Crackle, 3.0),
        (Kind::Spikes, 0.5),
        (Kind::DcBoops, 0.1),
    ] {
        for (id, v) in effects(kind, 0.8, 6, &x, sr, &none) {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            assert!(
                mean >= least && v.iter().all(|&e| e >= 0.0),
                "{id} {kind:?}: clicks/s {v:.2?}"
            );
        }
    }
}

#[test]
fn reflections_and_rooms_show_in_ripple_and_snr() {
    let (x, sr) = vctk();
    let rec = example_rirs(sr);
    for (kind, least) in [
        (Kind::Comb, 0.3),
        (Kind::Reflections, 0.3),
        (Kind::Room, 3.0),
    ] {
        for (id, v) in effects(kind, 0.7, 6, &x, sr, &rec) {
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            assert!(
                mean >= least,
                "{id} {kind:?}: {:?} {v:.2?}",
                Figure::of(kind)
            );
        }
    }
}
