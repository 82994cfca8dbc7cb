//! The held-out damage implementations (`faurge_eval::heldout`): kept out of the
//! training registry, one per family covering all of its kinds, deterministic,
//! finite at every rate, and measurably doing what the training implementations
//! of the same kind do — on the shipped `examples/` speech, and with the held-out
//! recordings of `../shared/data` when it is present beside the checkout
//! (skipped with a reason when absent, a failure when `CI=true`).

use std::path::{Path, PathBuf};

use faurge_dataset::damage::measure::{additive_snr_db, effect, Figure};
use faurge_dataset::damage::{
    self, apply_damage, Family, Kind, Pool, Recordings, Registry, HELDOUT_NOISE_FILES,
    HELDOUT_RIR_FILES,
};
use faurge_eval::heldout::{
    self, apply_eval, apply_heldout, apply_training, EvalDamage, Seen, EVAL_KINDS,
};

fn examples() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).to_path_buf()
}

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

/// 4 s of the 48 kHz VCTK example (mono).
fn vctk() -> (Vec<f32>, f32) {
    let a = faurge_io::read(examples().join("clean_vctk_p236_023.wav")).unwrap();
    let m = a.to_mono();
    let sr = a.sample_rate as f32;
    let start = (0.5 * sr) as usize;
    (m[start..start + (4.0 * sr) as usize].to_vec(), sr)
}

#[test]
fn held_out_implementations_are_not_in_the_training_registry() {
    let training = Registry::training();
    let train_ids: Vec<&str> = training.implementations().map(|i| i.id()).collect();
    let held = heldout::implementations();
    assert_eq!(held.len(), Family::ALL.len());
    for (imp, family) in held.iter().zip(Family::ALL) {
        assert_eq!(imp.family(), family, "one per family, in order");
        assert!(imp.held_out(), "{} does not say it is held out", imp.id());
        assert!(
            !train_ids.contains(&imp.id()),
            "{} is in the training registry",
            imp.id()
        );
        for k in family.kinds() {
            assert!(imp.kinds().contains(&k), "{} lacks {k:?}", imp.id());
        }
    }
    for t in training.implementations() {
        assert!(!t.held_out(), "{} is held out but in training", t.id());
    }
    // Different algorithms, not different names: for every kind and seed, the
    // held-out output differs from every training implementation's.
    let (x, sr) = vctk();
    let x = &x[..(1.0 * sr) as usize];
    let none_train = Recordings::none(Pool::Training, sr as u32);
    let none_held = Recordings::none(Pool::HeldOut, sr as u32);
    for imp in &held {
        for &k in imp.kinds() {
            if !damage::can_apply(imp.as_ref(), k, sr, &none_held) {
                continue;
            }
            let mut h = x.to_vec();
            apply_damage(imp.as_ref(), k, 0.7, &mut [&mut h[..]], sr, 3, &none_held).unwrap();
            for t in training.for_kind(k) {
                if !damage::can_apply(t, k, sr, &none_train) {
                    continue;
                }
                let mut y = x.to_vec();
                apply_damage(t, k, 0.7, &mut [&mut y[..]], sr, 3, &none_train).unwrap();
                assert_ne!(h, y, "{} and {} agree on {k:?}", imp.id(), t.id());
            }
        }
    }
}

#[test]
fn held_out_recordings_are_refused_to_training_and_training_ones_to_held_out() {
    let sr = 48_000;
    let train = Recordings::load(&examples(), sr, Pool::Training).unwrap();
    assert!(!train.rirs().is_empty());
    let mut x = vec![0.1f32; 4800];
    let e = apply_heldout(Kind::Room, 0.5, &mut [&mut x[..]], sr as f32, 1, &train).unwrap_err();
    assert!(matches!(e, damage::DamageError::Unavailable { .. }), "{e}");
    let drr = heldout::DrrRoom;
    let e = apply_damage(
        &drr,
        Kind::Room,
        0.5,
        &mut [&mut x[..]],
        sr as f32,
        1,
        &train,
    )
    .unwrap_err();
    assert!(matches!(e, damage::DamageError::WrongPool { .. }), "{e}");
}

#[test]
fn held_out_damage_is_deterministic_and_finite_at_every_rate() {
    for sr in [
        8_000.0f32, 16_000.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0,
    ] {
        let held = Recordings::none(Pool::HeldOut, sr as u32);
        let n = (0.4 * sr) as usize;
        let l: Vec<f32> = (0..n)
            .map(|i| 0.1 * ((i as f32 * 0.37).sin() + (i as f32 * 0.011).sin()))
            .collect();
        let r: Vec<f32> = l.iter().map(|v| -0.5 * v).collect();
        for imp in heldout::implementations() {
            for &k in imp.kinds() {
                if !damage::can_apply(imp.as_ref(), k, sr, &held) {
                    continue;
                }
                let run = || {
                    let (mut a, mut b) = (l.clone(), r.clone());
                    let applied = apply_damage(
                        imp.as_ref(),
                        k,
                        0.8,
                        &mut [&mut a[..], &mut b[..]],
                        sr,
                        11,
                        &held,
                    )
                    .unwrap_or_else(|e| panic!("{} {k:?} at {sr}: {e}", imp.id()));
                    (a, b, applied)
                };
                let (a, b, da) = run();
                let (a2, b2, db) = run();
                assert!(
                    a.iter().chain(&b).all(|v| v.is_finite()),
                    "{} {k:?} at {sr} Hz: not finite",
                    imp.id()
                );
                assert!(
                    a.iter()
                        .zip(&a2)
                        .chain(b.iter().zip(&b2))
                        .all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{} {k:?} at {sr} Hz: not bit-identical",
                    imp.id()
                );
                assert_eq!(da, db);
                assert!(da.held_out);
            }
        }
    }
}

#[test]
fn eval_applies_exactly_one_kind_seen_or_unseen_and_combinations() {
    let (x, sr) = vctk();
    let x = &x[..(1.5 * sr) as usize];
    let train = Recordings::load(&examples(), sr as u32, Pool::Training).unwrap();
    let held = Recordings::none(Pool::HeldOut, sr as u32);
    let training = Registry::training();
    let held_reg = heldout::registry();
    for k in EVAL_KINDS {
        if damage::can_apply(held_reg.for_kind(k)[0], k, sr, &held) {
            let mut y = x.to_vec();
            let a = apply_heldout(k, 0.5, &mut [&mut y[..]], sr, 9, &held).unwrap();
            assert_eq!((a.kind, a.held_out, a.strength), (k, true, 0.5));
            assert!(held_reg.get(&a.implementation).is_some());
        }
        if !training.available(k, sr, &train).is_empty() {
            let mut y = x.to_vec();
            let a = apply_training(k, 0.5, &mut [&mut y[..]], sr, 9, &train).unwrap();
            assert_eq!((a.kind, a.held_out), (k, false));
            assert!(training.get(&a.implementation).is_some());
        }
    }
    for seen in [Seen::Training, Seen::HeldOut] {
        let rec = if seen == Seen::Training {
            &train
        } else {
            &held
        };
        for seed in 0..10 {
            let mut y = x.to_vec();
            let applied = apply_eval(
                EvalDamage::Combination,
                seen,
                0.6,
                &mut [&mut y[..]],
                sr,
                seed,
                rec,
            )
            .unwrap();
            let mut fams: Vec<Family> = applied.iter().map(|a| a.family).collect();
            assert!(fams.windows(2).all(|w| w[0] <= w[1]), "{fams:?}");
            fams.dedup();
            assert!(fams.len() >= heldout::EVAL_COMBINATION_FAMILIES, "{fams:?}");
            assert!(applied
                .iter()
                .all(|a| a.strength == 0.6 && a.held_out == (seen == Seen::HeldOut)));
        }
    }
}

/// The least effect (in the unit of [`Figure::of`]) a kind must show at strength
/// 0.7, for training and held-out implementations alike.
fn least_effect(kind: Kind) -> f64 {
    match Figure::of(kind) {
        Figure::LowOverMid | Figure::LowLoss | Figure::MudOverPresence => 3.0,
        Figure::SibilanceOverMid | Figure::OutOfBandLoss => 3.0,
        Figure::LtasChange => 0.3,
        Figure::Ripple => 0.2,
        Figure::SnrLoss => 1.0,
        Figure::LevelSpreadLoss => 2.0,
        Figure::Clicks => 0.2,
        Figure::CrestLoss => 2.0,
    }
}

/// Mean effect of `kind` by `imp` at strength 0.7 over four seeds.
fn mean_effect(imp: &dyn damage::Damage, kind: Kind, x: &[f32], sr: f32, rec: &Recordings) -> f64 {
    let v: Vec<f64> = (0..4)
        .map(|seed| {
            let mut y = x.to_vec();
            apply_damage(imp, kind, 0.7, &mut [&mut y[..]], sr, seed, rec).unwrap();
            effect(kind, &[x], &[&y], sr)
        })
        .collect();
    v.iter().sum::<f64>() / v.len() as f64
}

fn same_direction(kinds: &[Kind], x: &[f32], sr: f32, train: &Recordings, held: &Recordings) {
    let training = Registry::training();
    let held_reg = heldout::registry();
    for &kind in kinds {
        let least = least_effect(kind);
        let h = held_reg.for_kind(kind)[0];
        let he = mean_effect(h, kind, x, sr, held);
        let mut line = format!(
            "{kind:?} ({:?}): held-out {} {he:.2}",
            Figure::of(kind),
            h.id()
        );
        assert!(he >= least, "{line} < {least}");
        for t in training.for_kind(kind) {
            if !damage::can_apply(t, kind, sr, train) {
                continue;
            }
            let te = mean_effect(t, kind, x, sr, train);
            line += &format!(", {} {te:.2}", t.id());
            assert!(te >= least, "{line} < {least}");
        }
        eprintln!("{line}");
    }
}

#[test]
fn held_out_and_training_implementations_move_the_same_figure_the_same_way() {
    let (x, sr) = vctk();
    let train = Recordings::load(&examples(), sr as u32, Pool::Training).unwrap();
    let held = Recordings::none(Pool::HeldOut, sr as u32);
    let kinds: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|&k| k != Kind::Room && k != Kind::RecordedNoise)
        .collect();
    same_direction(&kinds, &x, sr, &train, &held);
}

#[test]
fn held_out_noise_lands_at_the_requested_snr() {
    let (x, sr) = vctk();
    let held = Recordings::none(Pool::HeldOut, sr as u32);
    for kind in [Kind::Noise, Kind::Hum] {
        for (i, s) in [0.0f32, 0.5, 1.0].into_iter().enumerate() {
            let mut y = x.clone();
            let a = apply_heldout(kind, s, &mut [&mut y[..]], sr, i as u64, &held).unwrap();
            let want = a.params["snr_db"].as_f64().unwrap();
            let got = additive_snr_db(&[&x], &[&y], sr);
            assert!(
                (got - want).abs() <= 1.5,
                "{kind:?}: SNR {got:.2} dB for {want:.2}"
            );
        }
    }
}

#[test]
fn held_out_recordings_rooms_and_noise_behave_like_training_ones() {
    let Some(data) = shared_data("held_out_recordings_rooms_and_noise_behave_like_training_ones")
    else {
        return;
    };
    let (x, sr) = vctk();
    let train = Recordings::load(&data, sr as u32, Pool::Training).unwrap();
    let held = Recordings::load(&data, sr as u32, Pool::HeldOut).unwrap();
    let names = held.file_names();
    for n in HELDOUT_NOISE_FILES.iter().chain(HELDOUT_RIR_FILES.iter()) {
        assert!(names.contains(&n.to_string()), "{n} not loaded");
    }
    same_direction(&[Kind::Room, Kind::RecordedNoise], &x, sr, &train, &held);
    for (i, s) in [0.0f32, 0.5, 1.0].into_iter().enumerate() {
        let mut y = x.clone();
        let a = apply_heldout(
            Kind::RecordedNoise,
            s,
            &mut [&mut y[..]],
            sr,
            i as u64,
            &held,
        )
        .unwrap();
        assert!(HELDOUT_NOISE_FILES.contains(&a.params["recording"].as_str().unwrap()));
        let want = a.params["snr_db"].as_f64().unwrap();
        let got = additive_snr_db(&[&x], &[&y], sr);
        assert!(
            (got - want).abs() <= 1.5,
            "recorded: SNR {got:.2} dB for {want:.2}"
        );
        let mut y = x.clone();
        let a = apply_heldout(Kind::Room, s, &mut [&mut y[..]], sr, i as u64, &held).unwrap();
        assert!(HELDOUT_RIR_FILES.contains(&a.params["rir"].as_str().unwrap()));
    }
}
