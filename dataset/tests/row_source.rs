//! `RowSource` (rows regenerated clip by clip with their audio, for `cargo xtask
//! eval`) makes exactly the rows `build_rows` makes, and its audio is what the
//! rows' metrics were measured on.

use std::path::Path;

use faurge_dataset::generate::{build_rows, BuildConfig, RowSource, SAMPLE_RATE};
use faurge_dataset::sources::Split;
use faurge_dsp::analysis::{ltas, mel};
use faurge_vocabulary::Vocabulary;

#[test]
fn row_source_regenerates_the_built_rows_with_their_audio() {
    let config = BuildConfig {
        data: Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")).to_path_buf(),
        out: std::env::temp_dir(),
        seed: 7,
        max_clips: None,
        rows_per_clip: 3,
        crop_s: 2.0,
        vocabulary: Vocabulary::embedded().unwrap(),
    };
    let (built, _) = build_rows(&config).unwrap();
    let source = RowSource::new(&config, Some(Split::Test)).unwrap();
    assert!(!source.clips().is_empty());
    assert!(source.clips().iter().all(|c| c.split() == Split::Test));
    let mut n = 0;
    for i in 0..source.clips().len() {
        for r in source.clip_rows(i).unwrap() {
            let same = built.iter().find(|b| b.id == r.row.id).expect("built row");
            assert_eq!(same, &r.row, "{}", r.row.id);
            let sr = SAMPLE_RATE as f32;
            assert_eq!(r.input.len(), (2.0 * sr) as usize);
            assert_eq!(
                ltas::ltas_with_bandwidth(&[&r.input], sr, r.row.bandwidth_hz).to_vec(),
                r.row.input_ltas
            );
            assert_eq!(mel::log_mel(&[&r.target], sr), r.row.target_mel);
            n += 1;
        }
    }
    assert_eq!(n, built.iter().filter(|b| b.split == Split::Test).count());
    assert!(source.clip_rows(source.clips().len()).unwrap().is_empty());
    let (l, m) = source.clean_ltas(0).unwrap().expect("clip 0");
    assert_eq!((l.len(), m.len()), (64, 64));
    assert!(m.contains(&1.0) && l.iter().all(|v| v.is_finite()));
}
