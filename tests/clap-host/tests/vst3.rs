//! `Faurge.vst3` in a minimal VST3 host written against the `vst3` crate's COM
//! bindings: the factory and its class info, instantiation, buses, the edit
//! controller's parameter list, a session restored through `IComponent::setState`, and
//! real speech processed through `IAudioProcessor::process`, compared with the
//! `faurge-dsp` render of the same settings.
//!
//! The bundle is the host-test build (`assert_process_allocs`, debug assertions), the
//! same library as `Faurge.clap`.

#![allow(non_snake_case)]

use std::cell::RefCell;
use std::ffi::c_void;
use std::path::PathBuf;

use faurge_clap_host_tests::{bool_value, bundles, f32_value, keep_mapped, voiced_speech};
use faurge_dsp::chain::{Chain, ChainConfig};
use faurge_dsp::state::DspState;
use vst3::Steinberg::Vst::*;
use vst3::Steinberg::*;
use vst3::{Class, ComPtr, ComWrapper, Interface};

fn vst3_binary() -> PathBuf {
    let arch = std::env::consts::ARCH;
    bundles()
        .vst3
        .join("Contents")
        .join(format!("{arch}-linux"))
        .join("Faurge.so")
}

fn cstr(bytes: &[std::ffi::c_char]) -> String {
    let b: Vec<u8> = bytes
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&b).into_owned()
}

// `TChar` is `u16` on Linux but `i16` elsewhere.
#[allow(clippy::unnecessary_cast)]
fn wstr(chars: &[TChar]) -> String {
    let w: Vec<u16> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u16)
        .collect();
    String::from_utf16_lossy(&w)
}

/// An in-memory `IBStream`.
struct MemStream {
    data: RefCell<(Vec<u8>, usize)>,
}

impl Class for MemStream {
    type Interfaces = (IBStream,);
}

impl IBStreamTrait for MemStream {
    unsafe fn read(
        &self,
        buffer: *mut c_void,
        numBytes: int32,
        numBytesRead: *mut int32,
    ) -> tresult {
        let mut d = self.data.borrow_mut();
        let (ref data, ref mut pos) = *d;
        let n = (numBytes.max(0) as usize).min(data.len() - *pos);
        unsafe { std::ptr::copy_nonoverlapping(data[*pos..].as_ptr(), buffer as *mut u8, n) };
        *pos += n;
        if !numBytesRead.is_null() {
            unsafe { *numBytesRead = n as int32 };
        }
        kResultOk
    }

    unsafe fn write(
        &self,
        buffer: *mut c_void,
        numBytes: int32,
        numBytesWritten: *mut int32,
    ) -> tresult {
        let mut d = self.data.borrow_mut();
        let (ref mut data, ref mut pos) = *d;
        let n = numBytes.max(0) as usize;
        let src = unsafe { std::slice::from_raw_parts(buffer as *const u8, n) };
        if data.len() < *pos + n {
            data.resize(*pos + n, 0);
        }
        data[*pos..*pos + n].copy_from_slice(src);
        *pos += n;
        if !numBytesWritten.is_null() {
            unsafe { *numBytesWritten = n as int32 };
        }
        kResultOk
    }

    unsafe fn seek(&self, pos: int64, mode: int32, result: *mut int64) -> tresult {
        let mut d = self.data.borrow_mut();
        let len = d.0.len() as i64;
        let base = match mode {
            0 => 0,
            1 => d.1 as i64,
            2 => len,
            _ => return kInvalidArgument,
        };
        let new = (base + pos).clamp(0, len);
        d.1 = new as usize;
        if !result.is_null() {
            unsafe { *result = new };
        }
        kResultOk
    }

    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        if !pos.is_null() {
            unsafe { *pos = self.data.borrow().1 as int64 };
        }
        kResultOk
    }
}

fn stream(bytes: Vec<u8>) -> (ComWrapper<MemStream>, ComPtr<IBStream>) {
    let w = ComWrapper::new(MemStream {
        data: RefCell::new((bytes, 0)),
    });
    let p = w.to_com_ptr::<IBStream>().unwrap();
    (w, p)
}

struct Module {
    factory: ComPtr<IPluginFactory>,
}

/// The module, mapped for the whole process (see `keep_mapped`).
fn library() -> &'static libloading::Library {
    static LIB: std::sync::OnceLock<&'static libloading::Library> = std::sync::OnceLock::new();
    LIB.get_or_init(|| keep_mapped(&vst3_binary()))
}

fn load() -> Module {
    // SAFETY: the symbols have the VST3 module signatures.
    unsafe {
        let lib = library();
        let entry: libloading::Symbol<unsafe extern "C" fn(*mut c_void) -> bool> =
            lib.get(b"ModuleEntry").expect("no ModuleEntry");
        assert!(entry(std::ptr::null_mut()), "ModuleEntry failed");
        let get: libloading::Symbol<unsafe extern "system" fn() -> *mut IPluginFactory> =
            lib.get(b"GetPluginFactory").expect("no GetPluginFactory");
        let factory = ComPtr::from_raw(get()).expect("GetPluginFactory returned null");
        Module { factory }
    }
}

#[test]
fn factory_and_class_info() {
    let m = load();
    unsafe {
        let mut info: PFactoryInfo = std::mem::zeroed();
        assert_eq!(m.factory.getFactoryInfo(&mut info), kResultOk);
        assert_eq!(cstr(&info.vendor), "Faurge");
        assert_eq!(m.factory.countClasses(), 1);
        let mut c: PClassInfo = std::mem::zeroed();
        assert_eq!(m.factory.getClassInfo(0, &mut c), kResultOk);
        assert_eq!(cstr(&c.name), "Faurge");
        assert_eq!(cstr(&c.category), "Audio Module Class");
        let cid: Vec<u8> = c.cid.iter().map(|&b| b as u8).collect();
        assert_eq!(cid, b"FaurgeVocalChain");
        let f2 = m
            .factory
            .cast::<IPluginFactory2>()
            .expect("no IPluginFactory2");
        let mut c2: PClassInfo2 = std::mem::zeroed();
        assert_eq!(f2.getClassInfo2(0, &mut c2), kResultOk);
        let subs = cstr(&c2.subCategories);
        assert_eq!(subs, "Fx|EQ|Dynamics");
        assert_eq!(cstr(&c2.version), "0.1.0");
        assert!(
            cstr(&c2.sdkVersion).starts_with("VST 3"),
            "{}",
            cstr(&c2.sdkVersion)
        );
        assert_ne!(
            m.factory.getClassInfo(1, &mut c),
            kResultOk,
            "only one class"
        );
    }
}

/// The VOCAL settings of the CLAP test, as a nice-plug VST3 state (plain JSON).
fn vocal_state() -> (Vec<u8>, DspState) {
    let floats = [
        ("hp_hz", 90.0f32),
        ("ls_db", 3.0),
        ("p1_hz", 300.0),
        ("p1_db", -4.0),
        ("cmp_thr", -24.0),
        ("cmp_rat", 4.0),
        ("cmp_mkp", 6.0),
        ("out_trim", -3.0),
    ];
    let mut params = serde_json::Map::new();
    for (id, v) in floats {
        params.insert(id.to_string(), f32_value(v));
    }
    params.insert("hp_on".into(), bool_value(true));
    params.insert("cmp_on".into(), bool_value(true));
    let json =
        serde_json::json!({ "version": "0.1.0", "params": params, "fields": { "format": "1" } })
            .to_string();
    let mut s = DspState::default();
    s.eq.bands[0].enabled = true;
    s.eq.bands[0].freq_hz = 90.0;
    s.eq.bands[1].gain_db = 3.0;
    s.eq.bands[2].freq_hz = 300.0;
    s.eq.bands[2].gain_db = -4.0;
    s.compressor.enabled = true;
    s.compressor.threshold_db = -24.0;
    s.compressor.ratio = 4.0;
    s.compressor.makeup_db = 6.0;
    s.output_trim_db = -3.0;
    (json.into_bytes(), s)
}

#[test]
fn processes_speech_like_faurge_dsp() {
    let m = load();
    unsafe {
        let mut c: PClassInfo = std::mem::zeroed();
        m.factory.getClassInfo(0, &mut c);
        let mut obj: *mut c_void = std::ptr::null_mut();
        let iid = IComponent::IID;
        assert_eq!(
            m.factory
                .createInstance(c.cid.as_ptr(), iid.as_ptr() as *const _, &mut obj),
            kResultOk
        );
        let component = ComPtr::<IComponent>::from_raw(obj as *mut IComponent).unwrap();
        assert_eq!(component.initialize(std::ptr::null_mut()), kResultOk);

        for dir in [BusDirections_::kInput, BusDirections_::kOutput] {
            assert_eq!(
                component.getBusCount(MediaTypes_::kAudio as i32, dir as i32),
                1
            );
            let mut bus: BusInfo = std::mem::zeroed();
            assert_eq!(
                component.getBusInfo(MediaTypes_::kAudio as i32, dir as i32, 0, &mut bus),
                kResultOk
            );
            assert_eq!(bus.channelCount, 2);
        }

        let controller = component
            .cast::<IEditController>()
            .expect("no IEditController on the component");
        assert_eq!(controller.getParameterCount(), 63);
        let mut titles = Vec::new();
        for i in 0..controller.getParameterCount() {
            let mut info: ParameterInfo = std::mem::zeroed();
            assert_eq!(controller.getParameterInfo(i, &mut info), kResultOk);
            titles.push(wstr(&info.title));
        }
        for t in [
            "HP Frequency",
            "Peak 4 Q",
            "Threshold",
            "Ratio",
            "IR Mix",
            "Output Trim",
            "Bypass",
            "Bake",
            "Auto-bake",
            "De-clip Enable",
            "Noise Reduction Enable",
            "Expander Threshold",
            "De-esser Range",
        ] {
            assert!(titles.iter().any(|x| x == t), "{t} missing from {titles:?}");
        }

        // Restore a session, then round-trip it through getState.
        let (state, expected) = vocal_state();
        let (_w, s) = stream(state);
        assert_eq!(component.setState(s.as_ptr()), kResultOk);
        let (w_out, out_stream) = stream(Vec::new());
        assert_eq!(component.getState(out_stream.as_ptr()), kResultOk);
        let saved: serde_json::Value = serde_json::from_slice(&w_out.data.borrow().0).unwrap();
        assert_eq!(saved["params"]["p1_db"]["f32"], -4.0);
        assert_eq!(saved["fields"]["format"], "1");

        let processor = component
            .cast::<IAudioProcessor>()
            .expect("no IAudioProcessor");
        let mut arr = [SpeakerArr::kStereo, SpeakerArr::kStereo];
        let (ins, outs) = arr.split_at_mut(1);
        assert_eq!(
            processor.setBusArrangements(ins.as_mut_ptr(), 1, outs.as_mut_ptr(), 1),
            kResultOk
        );
        assert_eq!(
            processor.canProcessSampleSize(SymbolicSampleSizes_::kSample32 as i32),
            kResultOk
        );
        let rate = 48_000.0;
        let block = 480usize;
        let mut setup = ProcessSetup {
            processMode: ProcessModes_::kRealtime as i32,
            symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
            maxSamplesPerBlock: block as i32,
            sampleRate: rate,
        };
        assert_eq!(processor.setupProcessing(&mut setup), kResultOk);
        assert_eq!(component.setActive(1), kResultOk);
        assert_eq!(processor.setProcessing(1), kResultOk);
        // The restoration section's constant lookahead, reported to the host; the
        // reference below (a `Chain` render) is delayed by the same amount.
        let latency = Chain::new(ChainConfig::new(rate as f32, 2))
            .unwrap()
            .latency_samples();
        assert!(latency > 0);
        assert_eq!(processor.getLatencySamples() as usize, latency);

        let mono = voiced_speech(48_000, 1.0);
        let n = 48_000.min(mono.len()) / block * block;
        let input = vec![
            mono[..n].to_vec(),
            mono[..n].iter().map(|v| -0.5 * v).collect::<Vec<_>>(),
        ];
        let mut output = vec![vec![0.0f32; n]; 2];
        let mut in_buf = vec![vec![0.0f32; block]; 2];
        let mut out_buf = vec![vec![0.0f32; block]; 2];
        for start in (0..n).step_by(block) {
            for (b, i) in in_buf.iter_mut().zip(&input) {
                b.copy_from_slice(&i[start..start + block]);
            }
            let mut in_ptrs: Vec<*mut f32> = in_buf.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let mut out_ptrs: Vec<*mut f32> = out_buf.iter_mut().map(|b| b.as_mut_ptr()).collect();
            let mut in_bus = AudioBusBuffers {
                numChannels: 2,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 {
                    channelBuffers32: in_ptrs.as_mut_ptr(),
                },
            };
            let mut out_bus = AudioBusBuffers {
                numChannels: 2,
                silenceFlags: 0,
                __field0: AudioBusBuffers__type0 {
                    channelBuffers32: out_ptrs.as_mut_ptr(),
                },
            };
            let mut data = ProcessData {
                processMode: ProcessModes_::kRealtime as i32,
                symbolicSampleSize: SymbolicSampleSizes_::kSample32 as i32,
                numSamples: block as i32,
                numInputs: 1,
                numOutputs: 1,
                inputs: &mut in_bus,
                outputs: &mut out_bus,
                inputParameterChanges: std::ptr::null_mut(),
                outputParameterChanges: std::ptr::null_mut(),
                inputEvents: std::ptr::null_mut(),
                outputEvents: std::ptr::null_mut(),
                processContext: std::ptr::null_mut(),
            };
            assert_eq!(processor.process(&mut data), kResultOk);
            for (o, b) in output.iter_mut().zip(&out_buf) {
                o[start..start + block].copy_from_slice(b);
            }
        }
        assert_eq!(processor.setProcessing(0), kResultOk);
        assert_eq!(component.setActive(0), kResultOk);
        assert_eq!(component.terminate(), kResultOk);

        assert!(output.iter().flatten().all(|v| v.is_finite()));
        let mut chain = Chain::new(ChainConfig::new(rate as f32, 2)).unwrap();
        chain.snap_to_state(&expected);
        let mut want = input.clone();
        let mut refs: Vec<&mut [f32]> = want.iter_mut().map(Vec::as_mut_slice).collect();
        chain.process(&mut refs);
        let diff = output
            .iter()
            .flatten()
            .zip(want.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!("VST3: max |plugin - faurge-dsp| = {diff:e}");
        assert!(
            diff <= 1e-6,
            "VST3 output differs from faurge-dsp by {diff}"
        );
        assert!(
            output[0].iter().any(|v| v.abs() > 0.05),
            "VST3 output is silent"
        );
    }
}
