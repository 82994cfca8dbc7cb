//! The plugin's audio thread (its processor over the instance core) without a host:
//! realtime safety under
//! `nice_assert_no_alloc` (this test binary has nice-plug's allocation-checking global
//! allocator), the snapshot ring, the Bake trigger, bypass, and IR hand-over while
//! running.

use std::sync::Arc;

use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_instance::ir::StoredIr;
use faurge_plugin::params::FaurgeParams;
use faurge_plugin::processor::Processor;
use faurge_plugin::sides::PluginSession;
use nice_assert_no_alloc::assert_no_alloc;
use nice_plug::prelude::Param;
use rand::{Rng, SeedableRng};

fn speech(rate: u32, seconds: f32, channels: usize) -> Vec<Vec<f32>> {
    let mono = faurge_io::read(faurge_io::examples::VCTK_SPEECH)
        .unwrap()
        .resampled(rate)
        .unwrap()
        .to_mono();
    // The voiced part, 0.55–3.75 s, looped.
    let voiced = &mono[(0.55 * rate as f32) as usize..(3.75 * rate as f32) as usize];
    let n = (seconds * rate as f32) as usize;
    (0..channels)
        .map(|c| {
            voiced
                .iter()
                .cycle()
                .take(n)
                .map(|v| v * (1.0 - 0.3 * c as f32))
                .collect()
        })
        .collect()
}

/// The chain's processing latency at `rate` Hz for `channels` channels, samples (the
/// restoration section's constant lookahead, whatever is switched on).
fn chain_latency(rate: f32, channels: usize) -> usize {
    let latency = Chain::new(ChainConfig::new(rate, channels))
        .unwrap()
        .latency_samples();
    assert_eq!(latency, faurge_dsp::chain::latency_samples(rate));
    latency
}

/// `x` (`[channel][frame]`) delayed by `latency` frames, zeros first, same length: the
/// dry input as it lines up with the chain's output.
fn delayed(x: &[Vec<f32>], latency: usize) -> Vec<Vec<f32>> {
    x.iter()
        .map(|c| {
            let mut out = vec![0.0; c.len()];
            if latency < c.len() {
                out[latency..].copy_from_slice(&c[..c.len() - latency]);
            }
            out
        })
        .collect()
}

/// Sets parameter `id` to the plain value `plain` the way a host does (through
/// nice-plug's internal setter; tests only).
fn set(params: &FaurgeParams, id: &str, plain: f32) {
    let handle = params.handle(id).unwrap();
    let ptr = match handle {
        faurge_plugin::params::ParamHandle::Float(p) => p.as_ptr(),
        faurge_plugin::params::ParamHandle::Bool(p) => p.as_ptr(),
    };
    // SAFETY: `params` outlives the pointer; no other thread touches it in this test.
    unsafe {
        let n = ptr.preview_normalized(plain);
        ptr._internal_set_normalized_value(n);
        ptr._internal_update_smoother(48_000.0, false);
    }
}

fn run(
    processor: &mut Processor,
    params: &FaurgeParams,
    session: &PluginSession,
    input: &[Vec<f32>],
    block: usize,
) -> Vec<Vec<f32>> {
    let mut out = input.to_vec();
    let frames = out[0].len();
    let mut start = 0;
    while start < frames {
        let len = block.min(frames - start);
        let (l, r) = out.split_at_mut(1);
        let mut chans: Vec<&mut [f32]> = Vec::with_capacity(2);
        chans.push(&mut l[0][start..start + len]);
        if let Some(r) = r.first_mut() {
            chans.push(&mut r[start..start + len]);
        }
        assert_no_alloc(|| processor.process(&mut chans, params, &session.audio));
        start += len;
    }
    out
}

#[test]
fn never_allocates_at_any_rate_or_block_size() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // Every rate a host or a validator may set, 8 kHz to 768 kHz (clap-validator tries
    // 1 kHz to 768 kHz, the VST3 validator 384 kHz): activation never refuses.
    for rate in [
        8_000u32, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000, 192_000, 384_000, 768_000,
    ] {
        let session = Arc::new(PluginSession::default());
        let params = FaurgeParams::new();
        set(&params, "cmp_on", 1.0);
        set(&params, "p2_db", 6.0);
        params
            .set_ir(Some(StoredIr {
                sample_rate: 44_100.0,
                channels: vec![vec![1.0, 0.5, 0.25, -0.125]],
            }))
            .unwrap();
        set(&params, "ir_on", 1.0);
        let mut processor = Processor::new(rate as f32, 2, &params, &session).unwrap();
        let input = speech(rate, 0.25, 2);
        for (n, block) in [1, 2, 63, 256, 1000, 8192, rng.gen_range(1..8192)]
            .into_iter()
            .enumerate()
        {
            // An editor opening and closing: the audio thread feeds its scope (meters,
            // spectra) only while it is open, without allocating either way.
            session.audio.set_editor_open(n % 2 == 0);
            let out = run(&mut processor, &params, &session, &input, block);
            assert!(out.iter().flatten().all(|v| v.is_finite()));
            // Parameter moves between blocks glide, also without allocating.
            set(&params, "p1_hz", rng.gen_range(20.0..20_000.0));
            set(&params, "bypass", f32::from(rng.gen_bool(0.5)));
        }
        assert_no_alloc(|| processor.reset(&params));
    }
}

#[test]
fn the_snapshot_ring_holds_the_raw_input() {
    let session = Arc::new(PluginSession::default());
    let params = FaurgeParams::new();
    params.set_snapshot_seconds(2.0);
    set(&params, "cmp_on", 1.0);
    set(&params, "cmp_mkp", 12.0);
    assert!(
        session.core.snapshot_ring().is_none(),
        "no ring before activation"
    );
    let mut processor = Processor::new(48_000.0, 2, &params, &session).unwrap();
    let ring = session.core.snapshot_ring().unwrap();
    assert_eq!(ring.capacity(), 96_000);
    let input = speech(48_000, 3.0, 2);
    let out = run(&mut processor, &params, &session, &input, 480);
    assert_ne!(out, input, "the chain processed the audio");
    let snap = ring.copy_latest(1.5);
    let n = input[0].len();
    assert_eq!(snap.channels[0], input[0][n - 72_000..]);
    assert_eq!(snap.channels[1], input[1][n - 72_000..]);
    assert_eq!(snap.end_frame, n as u64);
    // Asking for more than the ring holds gives the whole ring.
    assert_eq!(ring.copy_latest(10.0).channels[0].len(), 96_000);
}

#[test]
fn bake_trigger_counts_rising_edges() {
    let session = Arc::new(PluginSession::default());
    let params = FaurgeParams::new();
    let mut processor = Processor::new(48_000.0, 1, &params, &session).unwrap();
    let input = vec![vec![0.1f32; 64]];
    for (bake, expected) in [(0.0, 0), (1.0, 1), (1.0, 1), (0.0, 1), (1.0, 2)] {
        set(&params, "bake", bake);
        run(&mut processor, &params, &session, &input, 64);
        assert_eq!(session.audio.core.bake_requests(), expected);
    }
    set(&params, "autobake", 1.0);
    assert!(params.auto_bake());
}

#[test]
fn bypass_is_exact_and_cross_fades_without_clicks() {
    let session = Arc::new(PluginSession::default());
    let params = FaurgeParams::new();
    set(&params, "p1_db", 12.0);
    set(&params, "bypass", 1.0);
    let mut processor = Processor::new(48_000.0, 2, &params, &session).unwrap();
    // Bypassed output stays aligned with processed output: the dry path is delayed by
    // the chain's latency, which the plugin reports to the host.
    let latency = chain_latency(48_000.0, 2);
    assert!(latency > 0);
    assert_eq!(processor.latency_samples(), latency);
    let input = speech(48_000, 0.5, 2);
    let n = input[0].len();
    assert_eq!(
        run(&mut processor, &params, &session, &input, 100),
        delayed(&input, latency),
        "bypassed: exactly the input, delayed by the latency"
    );
    set(&params, "bypass", 0.0);
    let out = run(&mut processor, &params, &session, &input, 100);
    // 10 ms fade: no sample-to-sample jump bigger than the dry signal's own at the
    // same frames (the input played twice, delayed by the latency).
    let twice: Vec<Vec<f32>> = input.iter().map(|c| [&c[..], &c[..]].concat()).collect();
    let dry = delayed(&twice, latency);
    let max_step = |x: &[f32]| {
        x.windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(max_step(&out[0][..960]) < 4.0 * max_step(&dry[0][n..n + 960]) + 1e-3);
}

#[test]
fn a_new_ir_cross_fades_in_while_running() {
    let session = Arc::new(PluginSession::default());
    let params = FaurgeParams::new();
    set(&params, "ir_on", 1.0);
    let mut processor = Processor::new(48_000.0, 2, &params, &session).unwrap();
    let input = speech(48_000, 1.0, 2);
    let dry = run(&mut processor, &params, &session, &input, 256);
    // No IR yet: the convolver passes the signal (unit impulse); the chain delays it
    // by its latency.
    let diff = dry
        .iter()
        .flatten()
        .zip(delayed(&input, chain_latency(48_000.0, 2)).iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "{diff}");

    // What a bake, undo or a session load does: the kernel is queued for the running
    // session, the IR stored in the parameters.
    let ir = vec![0.0f32, 0.0, 0.5, 0.0, -0.25];
    let stored = StoredIr {
        sample_rate: 48_000.0,
        channels: vec![ir.clone()],
    };
    assert!(session.core.queue_ir(Some(&stored)).unwrap());
    params.set_ir(Some(stored)).unwrap();
    let wet = run(&mut processor, &params, &session, &input, 256);
    assert!(wet.iter().flatten().all(|v| v.is_finite()));
    let mut chain = Chain::new(ChainConfig::new(48_000.0, 2)).unwrap();
    let mut state = faurge_dsp::state::DspState::default();
    state.convolver.enabled = true;
    chain.snap_to_state(&state);
    drop(chain.replace_ir(chain.kernel_builder().build(&[&ir]).unwrap()));
    let mut want = input.clone();
    let mut refs: Vec<&mut [f32]> = want.iter_mut().map(Vec::as_mut_slice).collect();
    chain.process(&mut refs);
    // After the 10 ms fade the output is the new IR's.
    let tail = |x: &[Vec<f32>]| x[0][24_000..].to_vec();
    let diff = tail(&wet)
        .iter()
        .zip(tail(&want).iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-5, "{diff}");
    // The retired kernel is freed off the audio thread by the next IR change.
    assert!(session.core.queue_ir(None).unwrap());
    params.set_ir(None).unwrap();
    run(&mut processor, &params, &session, &input, 256);
    assert_eq!(params.ir(), None);
}

/// The allocation checks this file relies on are live: an allocation inside
/// `assert_no_alloc` aborts the process (checked in a child process).
#[test]
fn an_allocation_on_the_audio_path_aborts() {
    if std::env::var_os("FAURGE_ALLOC_PROBE").is_some() {
        let v = assert_no_alloc(|| vec![1u8; 16]);
        println!("survived {}", v.len());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "an_allocation_on_the_audio_path_aborts",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FAURGE_ALLOC_PROBE", "1")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "allocating inside assert_no_alloc did not abort"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"));
}
