//! The plugin through its C entry point, in process, as an LV2 host drives it:
//! equivalence with the `Chain` at every block size and rate, in-place buffers,
//! automation, bypass, meters, bad input — with allocation on the audio thread
//! forbidden (`assert_no_alloc`).

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

mod common;

use std::ffi::CStr;
use std::ptr;

use assert_no_alloc::assert_no_alloc;
use common::{chain_latency, chain_render, delayed, error_db, state_of, SETTINGS, VCTK};
use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_lv2::lv2_descriptor;
use faurge_lv2::ports::{Variant, FIRST_AUDIO_PORT, GAIN_REDUCTION_PORT, LATENCY_PORT, NUM_PARAMS};
use faurge_params::{dsp_state_from, values_with, Kind, PARAMS};
use lv2_sys::{LV2_Descriptor, LV2_Feature, LV2_Handle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A minimal LV2 host for one instance: control and meter ports live in boxes, audio
/// ports are connected before every run.
struct Host {
    desc: &'static LV2_Descriptor,
    handle: LV2_Handle,
    variant: Variant,
    controls: Box<[f32; NUM_PARAMS]>,
    latency: Box<f32>,
    gain_reduction: Box<f32>,
}

impl Host {
    fn new(variant: Variant, rate: f64) -> Option<Host> {
        let index = Variant::ALL.iter().position(|&v| v == variant).unwrap() as u32;
        // SAFETY: lv2_descriptor is always safe to call.
        let desc = unsafe { lv2_descriptor(index).as_ref() }.expect("descriptor");
        let no_features: [*const LV2_Feature; 1] = [ptr::null()];
        // SAFETY: the LV2 contract: our descriptor, a NUL-terminated bundle path, a
        // NULL-terminated feature list.
        let handle = unsafe {
            desc.instantiate.unwrap()(desc, rate, c"/nonexistent/".as_ptr(), no_features.as_ptr())
        };
        if handle.is_null() {
            return None;
        }
        let mut host = Host {
            desc,
            handle,
            variant,
            controls: Box::new([0.0; NUM_PARAMS]),
            latency: Box::new(-1.0),
            gain_reduction: Box::new(-1.0),
        };
        host.set_all(&values_with(&[]));
        for k in 0..NUM_PARAMS {
            let p: *mut f32 = &mut host.controls[k];
            host.connect(k as u32, p);
        }
        let (l, g): (*mut f32, *mut f32) = (&mut *host.latency, &mut *host.gain_reduction);
        host.connect(LATENCY_PORT, l);
        host.connect(GAIN_REDUCTION_PORT, g);
        // SAFETY: a live handle.
        unsafe { host.desc.activate.unwrap()(host.handle) };
        Some(host)
    }

    fn connect(&mut self, port: u32, data: *mut f32) {
        // SAFETY: a live handle; the pointer outlives every run it is used in.
        unsafe { self.desc.connect_port.unwrap()(self.handle, port, data.cast()) };
    }

    fn set(&mut self, id: &str, value: f32) {
        let k = PARAMS
            .iter()
            .position(|p| p.id == id)
            .unwrap_or_else(|| panic!("no parameter {id}"));
        self.controls[k] = value;
    }

    fn set_all(&mut self, values: &[f32]) {
        self.controls.copy_from_slice(values);
    }

    fn activate(&mut self) {
        // SAFETY: a live handle.
        unsafe {
            self.desc.deactivate.unwrap()(self.handle);
            self.desc.activate.unwrap()(self.handle);
        }
    }

    /// One `run` of `n` frames on raw buffers, with allocation forbidden.
    fn run_raw(&mut self, inputs: &[*mut f32], outputs: &[*mut f32], n: usize) {
        let ch = self.variant.channels() as u32;
        for (c, &p) in inputs.iter().enumerate() {
            self.connect(FIRST_AUDIO_PORT + c as u32, p);
        }
        for (c, &p) in outputs.iter().enumerate() {
            self.connect(FIRST_AUDIO_PORT + ch + c as u32, p);
        }
        let (run, handle) = (self.desc.run.unwrap(), self.handle);
        // SAFETY: every connected buffer holds `n` floats.
        assert_no_alloc(|| unsafe { run(handle, n as u32) });
    }

    /// Processes `input` in blocks of the sizes `blocks` yields (cycled), into new
    /// output buffers (separate from the input).
    fn process(&mut self, input: &[Vec<f32>], mut blocks: impl FnMut() -> usize) -> Vec<Vec<f32>> {
        let mut inp = input.to_vec();
        let mut out = vec![vec![0.0f32; input[0].len()]; input.len()];
        let total = input[0].len();
        let mut start = 0;
        while start < total {
            let n = blocks().clamp(1, total - start);
            let ins: Vec<*mut f32> = inp.iter_mut().map(|c| c[start..].as_mut_ptr()).collect();
            let outs: Vec<*mut f32> = out.iter_mut().map(|c| c[start..].as_mut_ptr()).collect();
            self.run_raw(&ins, &outs, n);
            start += n;
        }
        out
    }

    /// Like [`Host::process`] but with the output written over the input buffers.
    fn process_in_place(&mut self, input: &[Vec<f32>], block: usize) -> Vec<Vec<f32>> {
        let mut buf = input.to_vec();
        let total = buf[0].len();
        let mut start = 0;
        while start < total {
            let n = block.min(total - start);
            let ptrs: Vec<*mut f32> = buf.iter_mut().map(|c| c[start..].as_mut_ptr()).collect();
            self.run_raw(&ptrs, &ptrs, n);
            start += n;
        }
        buf
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: a live handle, cleaned up once.
        unsafe {
            self.desc.deactivate.unwrap()(self.handle);
            self.desc.cleanup.unwrap()(self.handle);
        }
    }
}

/// The first `seconds` of the VCTK clip at 48 kHz, as `channels` channels (the
/// second channel is the first reversed and scaled, so the channels differ).
fn speech(channels: usize, seconds: f32) -> Vec<Vec<f32>> {
    let audio = faurge_io::read(VCTK).expect("read the VCTK clip");
    assert_eq!(audio.sample_rate, 48_000);
    let mut mono = audio.to_mono();
    mono.truncate((seconds * 48_000.0) as usize);
    let mut out = vec![mono.clone()];
    if channels == 2 {
        out.push(mono.iter().rev().map(|s| 0.7 * s).collect());
    }
    out
}

#[test]
fn descriptors_name_both_variants() {
    for (i, v) in Variant::ALL.iter().enumerate() {
        // SAFETY: always safe.
        let d = unsafe { lv2_descriptor(i as u32).as_ref() }.unwrap();
        // SAFETY: our URI is a C string.
        assert_eq!(unsafe { CStr::from_ptr(d.URI) }.to_str().unwrap(), v.uri());
        // SAFETY: extension_data takes any URI.
        assert!(unsafe {
            d.extension_data.unwrap()(c"http://lv2plug.in/ns/ext/state#interface".as_ptr())
        }
        .is_null());
    }
    // SAFETY: always safe.
    assert!(unsafe { lv2_descriptor(2) }.is_null());
    // Every rate a host may run (1 kHz to 768 kHz) instantiates; absurd ones do not.
    for rate in [8_000.0, 11_025.0, 384_000.0, 768_000.0] {
        assert!(Host::new(Variant::Mono, rate).is_some(), "{rate} Hz");
    }
    assert!(Host::new(Variant::Mono, 999.0).is_none());
    assert!(Host::new(Variant::Stereo, 800_000.0).is_none());
    assert!(Host::new(Variant::Mono, f64::NAN).is_none());
}

#[test]
fn output_equals_the_chain_at_any_block_size() {
    let state = state_of(SETTINGS);
    for variant in Variant::ALL {
        let input = speech(variant.channels(), 1.5);
        let reference = chain_render(48_000.0, &state, &input);
        assert!(
            error_db(&reference, &input) > -30.0,
            "the settings must change the sound"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let sizes: [&mut dyn FnMut() -> usize; 8] = [
            &mut || 1,
            &mut || 7,
            &mut || 64,
            &mut || 256,
            &mut || 480,
            &mut || 4096,
            &mut || 8192,
            &mut || rng.gen_range(1..=3000),
        ];
        for (case, blocks) in sizes.into_iter().enumerate() {
            let mut host = Host::new(variant, 48_000.0).unwrap();
            host.set_all(&values_with(SETTINGS));
            let out = host.process(&input, blocks);
            let err = error_db(&out, &reference);
            println!("{variant:?} block case {case}: {err:.1} dB against the Chain");
            assert!(err <= -120.0, "{variant:?} case {case}: {err:.1} dB");
            let latency = chain_latency(48_000.0, variant.channels());
            assert!(latency > 0, "the restoration section delays the signal");
            assert_eq!(
                *host.latency, latency as f32,
                "the latency port is the chain's"
            );
        }
    }
}

#[test]
fn in_place_buffers_give_the_same_output() {
    for variant in Variant::ALL {
        let input = speech(variant.channels(), 0.5);
        for block in [1, 100, 512] {
            let mut a = Host::new(variant, 48_000.0).unwrap();
            let mut b = Host::new(variant, 48_000.0).unwrap();
            a.set_all(&values_with(SETTINGS));
            b.set_all(&values_with(SETTINGS));
            let separate = a.process(&input, || block);
            let in_place = b.process_in_place(&input, block);
            assert_eq!(separate, in_place, "{variant:?}, block {block}");
        }
    }
}

#[test]
fn stereo_input_connected_to_the_other_output_is_safe() {
    // in_r and out_l share a buffer: the plugin reads every input before writing.
    let input = speech(2, 0.3);
    let reference = {
        let mut h = Host::new(Variant::Stereo, 48_000.0).unwrap();
        h.set_all(&values_with(SETTINGS));
        h.process(&input, || 64)
    };
    let mut h = Host::new(Variant::Stereo, 48_000.0).unwrap();
    h.set_all(&values_with(SETTINGS));
    let (mut left, mut shared, mut right_out) = (
        input[0].clone(),
        input[1].clone(),
        vec![0.0; input[0].len()],
    );
    for start in (0..left.len()).step_by(64) {
        let n = 64.min(left.len() - start);
        let (l, s, r) = (
            left[start..].as_mut_ptr(),
            shared[start..].as_mut_ptr(),
            right_out[start..].as_mut_ptr(),
        );
        h.run_raw(&[l, s], &[s, r], n);
    }
    assert_eq!(shared, reference[0]);
    assert_eq!(right_out, reference[1]);
}

#[test]
fn control_changes_glide_exactly_like_the_chain() {
    // Moves every float parameter at block boundaries; the chain gets the same
    // states at the same frames through set_state.
    let input = speech(1, 1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let block = 480;
    let mut host = Host::new(Variant::Mono, 48_000.0).unwrap();
    let mut chain = Chain::new(ChainConfig::new(48_000.0, 1)).unwrap();
    let mut values = values_with(SETTINGS);
    host.set_all(&values);
    chain.snap_to_state(&dsp_state_from(values.iter().copied()));
    let mut expected = input[0].clone();
    let mut out = vec![0.0; expected.len()];
    let mut inp = input[0].clone();
    for (b, start) in (0..expected.len()).step_by(block).enumerate() {
        if b % 5 == 4 {
            let k = rng.gen_range(0..NUM_PARAMS);
            let p = &PARAMS[k];
            values[k] = if p.kind == Kind::Float {
                rng.gen_range(p.min..=p.max)
            } else {
                f32::from(values[k] < 0.5)
            };
            if p.id == "bypass" {
                values[k] = 0.0;
            }
            host.set_all(&values);
            chain.set_state(&dsp_state_from(values.iter().copied()));
        }
        let n = block.min(expected.len() - start);
        chain.process(&mut [&mut expected[start..start + n]]);
        host.run_raw(
            &[inp[start..].as_mut_ptr()],
            &[out[start..].as_mut_ptr()],
            n,
        );
    }
    assert_eq!(out, expected);
}

#[test]
fn every_rate_and_block_size_runs_without_allocating() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for rate in [22_050.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0] {
        for variant in Variant::ALL {
            let mut host = Host::new(variant, rate).unwrap();
            host.set_all(&values_with(SETTINGS));
            let input: Vec<Vec<f32>> = (0..variant.channels())
                .map(|_| (0..20_000).map(|_| rng.gen_range(-0.5..0.5)).collect())
                .collect();
            let mut sizes = [1usize, 2, 3, 31, 64, 257, 1024, 8192].into_iter().cycle();
            let out = host.process(&input, || sizes.next().unwrap());
            assert!(
                out.iter().flatten().all(|s| s.is_finite()),
                "{rate} Hz {variant:?}"
            );
            assert!(
                *host.gain_reduction > 0.0,
                "noise at -9 dBFS must be compressed at -30 dB"
            );
            host.activate();
            let again = host.process(&input, || 20_000);
            let state = state_of(SETTINGS);
            let reference = chain_render(rate as f32, &state, &input);
            assert!(
                error_db(&again, &reference) <= -120.0,
                "{rate} Hz {variant:?} after re-activation"
            );
        }
    }
}

#[test]
fn bad_input_and_extreme_controls_keep_the_output_finite() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 0.0];
    let control_specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1e30,
        -1e30,
        f32::MIN_POSITIVE / 4.0,
        0.0,
    ];
    for variant in Variant::ALL {
        let mut host = Host::new(variant, 44_100.0).unwrap();
        let n_ch = variant.channels();
        let mut total = 0;
        while total < 60_000 {
            // Every run: random controls, many far out of range or non-finite.
            let mut values = [0.0f32; NUM_PARAMS];
            for (v, p) in values.iter_mut().zip(PARAMS) {
                *v = match rng.gen_range(0..4) {
                    0 => control_specials[rng.gen_range(0..control_specials.len())],
                    1 => {
                        if rng.gen_bool(0.5) {
                            p.min
                        } else {
                            p.max
                        }
                    }
                    _ => rng.gen_range(p.min..=p.max),
                };
            }
            host.set_all(&values);
            let n = if rng.gen_bool(0.3) {
                1
            } else {
                rng.gen_range(1..2000)
            };
            let input: Vec<Vec<f32>> = (0..n_ch)
                .map(|_| {
                    (0..n)
                        .map(|_| {
                            if rng.gen_bool(0.01) {
                                specials[rng.gen_range(0..specials.len())]
                            } else {
                                rng.gen_range(-2.0..2.0)
                            }
                        })
                        .collect()
                })
                .collect();
            let out = host.process(&input, || n);
            for s in out.iter().flatten() {
                assert!(s.is_finite(), "{variant:?}: non-finite output");
                assert!(
                    s.abs() < 1e7,
                    "{variant:?}: output {s} far beyond any setting's gain"
                );
                assert!(
                    *s == 0.0 || s.abs() >= f32::MIN_POSITIVE,
                    "{variant:?}: denormal output {s}"
                );
            }
            assert!(host.latency.is_finite() && host.gain_reduction.is_finite());
            total += n;
        }
        // Then silence: exact silence within a bounded time.
        host.set_all(&values_with(SETTINGS));
        let silence = vec![vec![0.0f32; 44_100 * 3]; n_ch];
        let out = host.process(&silence, || 441);
        let tail = &out[0][44_100 * 2..];
        assert!(
            tail.iter().all(|&s| s == 0.0),
            "{variant:?}: silence in must become exact silence out"
        );
    }
}

#[test]
fn silence_in_gives_exact_silence_out() {
    for variant in Variant::ALL {
        let mut host = Host::new(variant, 48_000.0).unwrap();
        host.set_all(&values_with(SETTINGS));
        let out = host.process(&vec![vec![0.0; 10_000]; variant.channels()], || 333);
        assert!(out.iter().flatten().all(|&s| s == 0.0));
        assert_eq!(*host.gain_reduction, 0.0);
    }
}

#[test]
fn bypass_fades_to_the_dry_input_without_a_jump() {
    let input = speech(1, 1.0);
    let mut host = Host::new(Variant::Mono, 48_000.0).unwrap();
    host.set_all(&values_with(SETTINGS));
    let processed = host.process(&input[..], || 48_000 / 2);
    host.activate();
    let mut out = vec![0.0f32; input[0].len()];
    let mut inp = input[0].clone();
    let half = 24_000;
    host.run_raw(&[inp.as_mut_ptr()], &[out.as_mut_ptr()], half);
    host.set("bypass", 1.0);
    host.run_raw(
        &[inp[half..].as_mut_ptr()],
        &[out[half..].as_mut_ptr()],
        inp.len() - half,
    );
    assert_eq!(
        out[..half],
        processed[0][..half],
        "before the switch: processed"
    );
    let fade = 480; // 10 ms at 48 kHz
                    // The dry path is the input delayed by the chain's latency, so bypassed audio stays
                    // aligned with processed audio (and the reported latency stays true).
    let latency = chain_latency(48_000.0, 1);
    assert_eq!(*host.latency, latency as f32);
    let dry = delayed(&input[0], latency);
    assert!(half > latency);
    assert_eq!(
        out[half + fade + 2..],
        dry[half + fade + 2..],
        "after the 10 ms fade: the dry input, delayed by the latency"
    );
    // During the fade every sample lies between the processed and the dry output.
    for i in half..half + fade {
        let (w, d, o) = (processed[0][i], dry[i], out[i]);
        assert!(
            o >= w.min(d) - 1e-6 && o <= w.max(d) + 1e-6,
            "sample {i}: {o} outside [{w}, {d}]"
        );
    }
}

#[test]
fn meters_report_latency_and_gain_reduction() {
    let input = speech(1, 1.0);
    let mut host = Host::new(Variant::Mono, 48_000.0).unwrap();
    host.set_all(&values_with(&[
        ("cmp_on", 1.0),
        ("cmp_thr", -40.0),
        ("cmp_rat", 10.0),
    ]));
    host.process(&input, || 4800);
    assert_eq!(*host.latency, chain_latency(48_000.0, 1) as f32);
    let gr = *host.gain_reduction;
    assert!(
        gr > 1.0 && gr <= 60.0,
        "gain reduction {gr} dB with -40 dB threshold on speech"
    );
    host.set("cmp_on", 0.0);
    host.process(&input, || 4800);
    assert_eq!(
        *host.gain_reduction, 0.0,
        "compressor off: no gain reduction"
    );
}

#[test]
fn unconnected_ports_are_safe() {
    // A host that runs before connecting anything: no crash, nothing written.
    // SAFETY: as in Host::new.
    unsafe {
        let d = lv2_descriptor(1).as_ref().unwrap();
        let features: [*const LV2_Feature; 1] = [ptr::null()];
        let h = d.instantiate.unwrap()(d, 48_000.0, c"/".as_ptr(), features.as_ptr());
        assert!(!h.is_null());
        d.activate.unwrap()(h);
        assert_no_alloc(|| d.run.unwrap()(h, 512));
        assert_no_alloc(|| d.run.unwrap()(h, 0));
        d.connect_port.unwrap()(h, 9999, ptr::null_mut());
        d.deactivate.unwrap()(h);
        d.cleanup.unwrap()(h);
    }
}

#[test]
fn cpu_cost_per_block_at_48k_and_64_frames() {
    // 10 s of speech in 64-frame blocks with every section working (compressor on,
    // convolver on at 60 %). Figures are for the test profile (opt-level 2 with debug
    // assertions); the bound only catches pathological slowness.
    const BLOCK: usize = 64;
    let period_us = BLOCK as f64 / 48_000.0 * 1e6;
    for variant in Variant::ALL {
        let one = speech(variant.channels(), 4.0);
        let input: Vec<Vec<f32>> = one
            .iter()
            .map(|c| c.iter().cycle().take(480_000).copied().collect())
            .collect();
        let mut host = Host::new(variant, 48_000.0).unwrap();
        host.set_all(&values_with(SETTINGS));
        let mut times = Vec::with_capacity(input[0].len() / BLOCK);
        let mut inp = input.clone();
        let mut out = input.clone();
        for start in (0..input[0].len() - BLOCK).step_by(BLOCK) {
            let ins: Vec<*mut f32> = inp.iter_mut().map(|c| c[start..].as_mut_ptr()).collect();
            let outs: Vec<*mut f32> = out.iter_mut().map(|c| c[start..].as_mut_ptr()).collect();
            let t = std::time::Instant::now();
            host.run_raw(&ins, &outs, BLOCK);
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        times.sort_by(f64::total_cmp);
        let p99 = times[times.len() * 99 / 100];
        println!(
            "{variant:?} at 48 kHz, B=64: mean {mean:.2} µs per block ({:.2} % of one core), p99 {p99:.2} µs, max {:.2} µs",
            100.0 * mean / period_us,
            times[times.len() - 1]
        );
        assert!(
            mean < 0.25 * period_us,
            "{variant:?}: {mean:.1} µs per 64-frame block"
        );
    }
}
