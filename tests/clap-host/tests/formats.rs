//! Every plugin format runs the same instance core (`faurge-instance`): one script of
//! bypass switches and impulse-response swaps, run through `Faurge.clap` in the CLAP
//! test host and through the LV2 instance (`faurge_lv2::plugin::Instance`, the code
//! behind `lv2_descriptor`), gives the same output bit for bit.
//!
//! The script, at 48 kHz, with every change on a block boundary: bypass on and off;
//! an IR swap (a mono 44.1 kHz IR, resampled) with a bypass cross-fade over the IR
//! cross-fade; a stereo IR; back to no IR (a unit impulse) while bypassed. Host blocks
//! are 32 frames, the CLAP build's step (it re-reads its smoothed parameters that
//! often), so that both formats hand the chain the same steps: the LV2 build steps
//! as far as a host block goes, up to the chain's own 256 frames, and the
//! convolver's rounding depends on how the audio is cut. CLAP gets its IRs the way a host hands them over, through
//! a session load (`Params::deserialize_fields`, kernel queued for the running
//! session); LV2 through `Instance::queue_ir`, the path a bake's IR takes. The CLAP
//! host starts processing for every segment (nice-plug resets the plugin then); the
//! LV2 instance is activated for every segment, which resets it the same way.

use faurge_clap_host_tests::{
    base64_f32, bundles, param_values, state_blob, voiced_speech, Instance, Library,
};
use faurge_instance::ir::StoredIr;
use faurge_lv2::plugin::Instance as Lv2Instance;
use faurge_lv2::ports::{Variant, FIRST_AUDIO_PORT, NUM_PARAMS};
use faurge_params::{values_with, ParamTarget, PARAMS};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ID: &str = "com.github.faurge.faurge";
const RATE: u32 = 48_000;
const BLOCK: usize = 32;

/// A vocal chain with every section working, the convolver on at 70 %.
const SETTINGS: &[(&str, f32)] = &[
    ("hp_on", 1.0),
    ("hp_hz", 90.0),
    ("ls_db", 3.0),
    ("p1_db", -4.0),
    ("p3_db", 3.0),
    ("hs_db", 2.5),
    ("cmp_on", 1.0),
    ("cmp_thr", -24.0),
    ("cmp_rat", 4.0),
    ("cmp_mkp", 6.0),
    ("ir_on", 1.0),
    ("ir_mix", 70.0),
    ("out_trim", -3.0),
];

/// One segment of the script: an IR change before it (outer `None`: none), its
/// length in blocks, and the bypass value from each listed block on. Both formats
/// reset at a segment's start (CLAP: starting to process; LV2: `activate`), before
/// its first block's changes, so no bypass change is listed at block 0.
struct Segment {
    ir: Option<Option<StoredIr>>,
    blocks: usize,
    bypass: &'static [(usize, bool)],
}

fn room_ir(rate: f32, seconds: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..(rate * seconds) as usize)
        .map(|i| {
            if i == 0 {
                1.0
            } else {
                0.3 * rng.gen_range(-1.0f32..1.0) * (-(i as f32) / (0.02 * rate)).exp()
            }
        })
        .collect()
}

fn script() -> Vec<Segment> {
    vec![
        Segment {
            ir: None,
            blocks: 600,
            bypass: &[(150, true), (300, false)],
        },
        Segment {
            ir: Some(Some(StoredIr {
                sample_rate: 44_100.0,
                channels: vec![room_ir(44_100.0, 0.08, 1)],
            })),
            blocks: 600,
            bypass: &[(1, true), (150, false)],
        },
        Segment {
            ir: Some(Some(StoredIr {
                sample_rate: 48_000.0,
                channels: vec![room_ir(48_000.0, 0.12, 2), room_ir(48_000.0, 0.12, 3)],
            })),
            blocks: 450,
            bypass: &[(375, true)],
        },
        Segment {
            ir: Some(None),
            blocks: 450,
            bypass: &[(10, false)],
        },
    ]
}

/// Stereo speech; the right channel a quieter, delayed copy so the channels differ.
fn speech(frames: usize) -> Vec<Vec<f32>> {
    let left = voiced_speech(RATE, frames as f32 / RATE as f32 + 0.1);
    let left = left[..frames].to_vec();
    let right = (0..frames)
        .map(|i| if i >= 17 { 0.7 * left[i - 17] } else { 0.0 })
        .collect();
    vec![left, right]
}

fn ir_field(ir: &Option<StoredIr>) -> String {
    match ir {
        None => "null".to_string(),
        Some(ir) => {
            let chans: Vec<String> = ir.channels.iter().map(|c| base64_f32(c)).collect();
            serde_json::json!({ "sample_rate": ir.sample_rate, "channels": chans }).to_string()
        }
    }
}

/// The CLAP side: the session of `SETTINGS`, then each segment as one processing run,
/// IRs loaded as sessions between runs and bypass as parameter events.
fn run_clap(input: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut p: Instance = Library::load(&bundles().clap).instantiate(ID);
    assert!(p.load_state(&state_blob(
        "0.1.0",
        &param_values(SETTINGS),
        &[("format", "1".to_string())]
    )));
    let mut active = p.activate(f64::from(RATE), BLOCK as u32).unwrap();
    let mut out = vec![Vec::new(), Vec::new()];
    let mut start = 0;
    for seg in script() {
        if let Some(ir) = &seg.ir {
            assert!(p.load_state(&state_blob(
                "0.1.0",
                &[],
                &[("format", "1".to_string()), ("ir", ir_field(ir))]
            )));
        }
        let frames = seg.blocks * BLOCK;
        let part: Vec<Vec<f32>> = input
            .iter()
            .map(|c| c[start..start + frames].to_vec())
            .collect();
        let changes: Vec<_> = seg
            .bypass
            .iter()
            .map(|&(block, on)| p.change(block * BLOCK, "Bypass", f64::from(u8::from(on))))
            .collect();
        let run = p.process(
            &mut active,
            &part,
            Box::new(std::iter::repeat(BLOCK)),
            &changes,
        );
        for (o, r) in out.iter_mut().zip(run.audio) {
            o.extend(r);
        }
        start += frames;
    }
    p.deactivate(active);
    out
}

/// The LV2 side: the same controls, each segment after an `activate`, IRs queued
/// between segments (unless `irs` is false), one `run` per block.
fn run_lv2(input: &[Vec<f32>], controls: &[f32], irs: bool) -> Vec<Vec<f32>> {
    let mut instance = Lv2Instance::new(Variant::Stereo, f64::from(RATE)).unwrap();
    let bypass = PARAMS
        .iter()
        .position(|p| p.target == ParamTarget::Bypass)
        .unwrap();
    // The host's buffers: the controls, then input L, R and output L, R of one block.
    // Reached through these pointers only, as a host's are.
    let mut controls = controls.to_vec();
    let mut audio = vec![0.0f32; 4 * BLOCK];
    let (control_ptr, audio_ptr) = (controls.as_mut_ptr(), audio.as_mut_ptr());
    for k in 0..NUM_PARAMS {
        instance.connect_port(k as u32, control_ptr.wrapping_add(k).cast());
    }
    for (c, port) in (FIRST_AUDIO_PORT..FIRST_AUDIO_PORT + 4).enumerate() {
        instance.connect_port(port, audio_ptr.wrapping_add(c * BLOCK).cast());
    }
    let mut out = vec![Vec::new(), Vec::new()];
    let mut start = 0;
    for seg in script() {
        if let Some(ir) = seg.ir.as_ref().filter(|_| irs) {
            instance.queue_ir(ir.as_ref()).unwrap();
        }
        instance.activate();
        for b in 0..seg.blocks {
            // SAFETY: the pointers point into `controls` and `audio`, which live to
            // the end of this function and are not touched otherwise; every port is
            // connected to one f32 (controls) or BLOCK f32s (audio).
            unsafe {
                if let Some(&(_, on)) = seg.bypass.iter().find(|(at, _)| *at == b) {
                    control_ptr.add(bypass).write(f32::from(u8::from(on)));
                }
                for (c, ch) in input.iter().enumerate() {
                    let src = ch[start..start + BLOCK].as_ptr();
                    std::ptr::copy_nonoverlapping(src, audio_ptr.add(c * BLOCK), BLOCK);
                }
                instance.run(BLOCK);
                for (c, o) in out.iter_mut().enumerate() {
                    let dst = audio_ptr.add((2 + c) * BLOCK);
                    o.extend_from_slice(std::slice::from_raw_parts(dst, BLOCK));
                }
            }
            start += BLOCK;
        }
    }
    drop((controls, audio));
    out
}

#[test]
fn clap_and_lv2_run_the_same_bypass_and_ir_script_bit_for_bit() {
    let frames: usize = script().iter().map(|s| s.blocks * BLOCK).sum();
    let input = speech(frames);
    let clap = run_clap(&input);
    // The plugin holds exactly these plain values after loading them.
    let controls = values_with(SETTINGS);
    let lv2 = run_lv2(&input, &controls, true);
    assert_eq!(clap[0].len(), frames);
    for (c, (a, b)) in clap.iter().zip(&lv2).enumerate() {
        if let Some(i) = a
            .iter()
            .zip(b)
            .position(|(x, y)| x.to_bits() != y.to_bits())
        {
            panic!(
                "channel {c} differs first at frame {i} (block {}): CLAP {} vs LV2 {}",
                i / BLOCK,
                a[i],
                b[i]
            );
        }
    }
    // The script did something: the chain processed, and the IR swaps changed the
    // sound of segments 2 and 3 (against the same script without them).
    assert_ne!(clap, input);
    let without_irs = run_lv2(&input, &controls, false);
    let script = script();
    for seg in [1, 2] {
        let start: usize = script[..seg].iter().map(|s| s.blocks * BLOCK).sum();
        let end = start + script[seg].blocks * BLOCK;
        assert_ne!(
            clap[0][start..end],
            without_irs[0][start..end],
            "segment {seg}: the IR swap changed nothing"
        );
    }
}
