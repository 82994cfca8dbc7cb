//! Every message through a real `ipc-channel`, shared-memory audio made from the
//! shipped speech clip, size validation, and garbage on a typed channel.

use std::time::Instant;

use faurge_io::examples::VCTK_SPEECH;
use faurge_protocol::ipc_channel::ipc::{self, IpcSender, IpcSharedMemory};
use faurge_protocol::ipc_channel::IpcError;
use faurge_protocol::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

const RATE: u32 = 48_000;

/// 10 s of stereo speech at 48 kHz: left is the VCTK clip tiled, right the same
/// clip reversed and tiled (so a channel swap or offset shows up).
fn speech_10s_stereo() -> Vec<Vec<f32>> {
    let clip = faurge_io::read(VCTK_SPEECH).expect("read the shipped VCTK clip");
    assert_eq!(clip.sample_rate, RATE);
    let mono = clip.to_mono();
    let frames = 10 * RATE as usize;
    let left: Vec<f32> = mono.iter().copied().cycle().take(frames).collect();
    let right: Vec<f32> = mono.iter().rev().copied().cycle().take(frames).collect();
    vec![left, right]
}

fn roundtrip<T: Serialize + DeserializeOwned + Send + 'static>(msg: T) -> T {
    let (tx, rx) = ipc::channel::<T>().unwrap();
    // Across a thread, as between the bridge thread and the helper.
    std::thread::spawn(move || tx.send(msg).unwrap())
        .join()
        .unwrap();
    rx.recv().unwrap()
}

fn sample_report() -> BakeReport {
    let state = DspState::default();
    BakeReport {
        prompt: PromptReport {
            original: "make it sound warmm".into(),
            understood: "make it sound warm".into(),
            anchor: false,
            edits: vec![PromptEdit {
                kind: EditKind::Typo,
                from: "warmm".into(),
                to: "warm".into(),
            }],
            intent: "warmer +1, loudness kept".into(),
            unsupported: vec!["sparkly".into()],
        },
        rounds: (1..=2)
            .map(|round| RoundReport {
                round,
                target_ltas_db: (0..64).map(|i| -(i as f32) * 0.5).collect(),
                target_lufs: -16.0,
                target_dyn: [12.5, 1800.0],
                similarity: 0.7 + 0.1 * round as f32,
                fabian_gap_db: 3.0 / round as f32,
                blueprint_distance_db: 1.0 / round as f32,
                requires_genesis: round == 2,
                goals_met: round,
                dsp_state: state,
                ir_params: vec![0.1, 0.2, 0.3],
                timings_ms: vec![
                    (Stage::Encode, 12.5),
                    (Stage::Fabian, 0.2),
                    (Stage::ShadowBake, 30.0),
                ],
            })
            .collect(),
        best_round: 2,
        threshold: 0.85,
        converged: true,
        peak_memory_bytes: 123_456_789,
        memory_budget_bytes: 4 << 30,
        backend: "tract".into(),
        total_ms: 321.5,
        input_metrics: Some(MetricsSummary {
            ltas_db: vec![-3.0; 64],
            lufs: Some(-23.0),
            crest_db: 14.0,
            zcr_hz: 1500.0,
        }),
        output_metrics: Some(MetricsSummary {
            ltas_db: vec![-2.0; 64],
            lufs: None,
            crest_db: 11.0,
            zcr_hz: 1600.0,
        }),
        input_similarity: 0.4,
        goals: vec![GoalReport {
            quantity: "warmth".into(),
            kind: "exactly".into(),
            target: 11.0,
            input: Some(8.0),
            output: Some(10.9),
            unit: "dB".into(),
            met: true,
            because: vec!["warmer +1".into()],
        }],
        restoration: vec![RestorationNote {
            stage: "noise reduction".into(),
            found: "noise floor -44 dBFS".into(),
            done: "floor now -52 dBFS".into(),
            enabled: true,
        }],
        applied: true,
        verdict: "Understood: warmer +1. Met: warmth 8.0 → 10.9 dB.".into(),
    }
}

fn short_request(id: u64) -> BakeRequest {
    let speech = speech_10s_stereo();
    let options = BakeOptions {
        reference: Some(ReferenceAudio::new(RATE, &[&speech[1][..RATE as usize]]).unwrap()),
        ..BakeOptions::default()
    };
    BakeRequest::new(
        id,
        "warm radio voice",
        RATE,
        &[&speech[0][..RATE as usize]],
        DspState::default(),
        options,
    )
    .unwrap()
}

#[test]
fn every_request_survives_a_real_channel() {
    let req = short_request(7);
    for msg in [
        Request::Bake(req),
        Request::Cancel { id: 7 },
        Request::Shutdown,
    ] {
        assert_eq!(roundtrip(msg.clone()), msg);
    }
}

#[test]
fn every_reply_survives_a_real_channel() {
    let ir: Vec<f32> = (0..4800).map(|i| (-(i as f32) / 500.0).exp()).collect();
    let result = BakeResult {
        id: 3,
        dsp_state: DspState::default(),
        ir: Some(IrAudio::new(RATE, &ir)),
        report: sample_report(),
    };
    let mut replies: Vec<Reply> = Stage::ALL
        .iter()
        .map(|&stage| {
            Reply::Progress(Progress {
                id: 3,
                stage,
                round: 1,
                max_rounds: 4,
                similarity: Some(0.5),
                threshold: 0.85,
            })
        })
        .collect();
    replies.push(Reply::Result(result));
    for kind in [
        ErrorKind::Protocol,
        ErrorKind::Cancelled,
        ErrorKind::Version,
    ] {
        replies.push(Reply::Error(BakeError::new(Some(3), kind, "details")));
    }
    replies.push(Reply::Error(BakeError::new(None, ErrorKind::Protocol, "")));
    for msg in replies {
        assert_eq!(roundtrip(msg.clone()), msg);
    }
    let Reply::Result(back) = roundtrip(Reply::Result(BakeResult {
        id: 3,
        dsp_state: DspState::default(),
        ir: Some(IrAudio::new(RATE, &ir)),
        report: sample_report(),
    })) else {
        panic!("not a result")
    };
    assert_eq!(back.ir_samples().unwrap(), ir);
}

#[test]
fn bootstrap_carries_working_channels() {
    let (req_tx, req_rx) = ipc::channel::<Request>().unwrap();
    let (rep_tx, rep_rx) = ipc::channel::<Reply>().unwrap();
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        helper_version: "0.1.0".into(),
        backend: "tract".into(),
        models: ModelsInfo {
            dir: "/opt/faurge/models".into(),
            manifest_sha256: Some("ab".repeat(32)),
            error: None,
        },
    };
    let boot = roundtrip(Bootstrap {
        hello: hello.clone(),
        requests: req_tx,
        replies: rep_rx,
    });
    assert_eq!(boot.hello, hello);
    boot.requests.send(Request::Cancel { id: 9 }).unwrap();
    assert_eq!(req_rx.recv().unwrap(), Request::Cancel { id: 9 });
    let err = Reply::Error(BakeError::new(Some(9), ErrorKind::Cancelled, "stop"));
    rep_tx.send(err.clone()).unwrap();
    assert_eq!(boot.replies.recv().unwrap(), err);
}

#[test]
fn ten_seconds_of_stereo_speech_arrive_intact_through_shared_memory() {
    let speech = speech_10s_stereo();
    let refs: Vec<&[f32]> = speech.iter().map(Vec::as_slice).collect();
    let req = BakeRequest::new(
        1,
        "fix my mic",
        RATE,
        &refs,
        DspState::default(),
        BakeOptions::default(),
    )
    .unwrap();
    assert_eq!(req.frames, 480_000);
    assert_eq!(req.audio.len(), 480_000 * 2 * 4);
    let started = Instant::now();
    let Request::Bake(back) = roundtrip(Request::Bake(req)) else {
        panic!("not a bake")
    };
    eprintln!("10 s stereo 48 kHz round trip: {:?}", started.elapsed());
    let channels = back.channels_f32().unwrap();
    assert_eq!(channels.len(), 2);
    // Bit-exact, sample by sample, in both channels.
    for (got, want) in channels.iter().zip(&speech) {
        assert_eq!(got.len(), want.len());
        assert!(got
            .iter()
            .zip(want)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn inconsistent_sizes_are_typed_errors_not_panics() {
    let mut req = short_request(1);
    req.frames += 1;
    assert!(matches!(
        req.channels_f32(),
        Err(ProtocolError::AudioSize { .. })
    ));
    req.frames = u64::MAX;
    assert!(matches!(
        req.validate(),
        Err(ProtocolError::AudioSize { .. })
    ));

    let mut req = short_request(1);
    req.channels = 3;
    assert!(matches!(
        req.validate(),
        Err(ProtocolError::Channels { channels: 3, .. })
    ));
    req.channels = 0;
    assert!(matches!(
        req.validate(),
        Err(ProtocolError::Channels { channels: 0, .. })
    ));

    let mut req = short_request(1);
    req.sample_rate = 500;
    assert!(matches!(
        req.validate(),
        Err(ProtocolError::SampleRate {
            sample_rate: 500,
            ..
        })
    ));

    let mut req = short_request(1);
    req.audio = IpcSharedMemory::from_bytes(&[1, 2, 3]);
    let err = req.channels_f32().unwrap_err();
    assert!(err.to_string().contains("3 bytes"), "{err}");

    let mut req = short_request(1);
    req.frames = 0;
    req.audio = IpcSharedMemory::from_bytes(&[]);
    assert!(matches!(req.validate(), Err(ProtocolError::Empty { .. })));

    // 121 s at 8 kHz mono: too long.
    let long = vec![0.0f32; 121 * 8_000];
    let err = BakeRequest::new(
        1,
        "x",
        8_000,
        &[&long],
        DspState::default(),
        BakeOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ProtocolError::TooLong { .. }), "{err}");

    let a = vec![0.0f32; 100];
    let b = vec![0.0f32; 99];
    let err = BakeRequest::new(
        1,
        "x",
        RATE,
        &[&a, &b],
        DspState::default(),
        BakeOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, ProtocolError::RaggedChannels { channel: 1, .. }),
        "{err}"
    );

    let mut req = short_request(1);
    req.options.threshold = Some(f32::NAN);
    assert!(matches!(req.validate(), Err(ProtocolError::Option(_))));
    let mut req = short_request(1);
    req.options.max_rounds = 0;
    assert!(matches!(req.validate(), Err(ProtocolError::Option(_))));
    let mut req = short_request(1);
    req.current.compressor.ratio = 0.5;
    assert!(matches!(req.validate(), Err(ProtocolError::Option(_))));
    let mut req = short_request(1);
    req.options.reference.as_mut().unwrap().frames = 5;
    assert!(matches!(
        req.validate(),
        Err(ProtocolError::AudioSize {
            what: "reference",
            ..
        })
    ));

    let mut ir = IrAudio::new(RATE, &[0.5; 10]);
    ir.samples = IpcSharedMemory::from_bytes(&[0; 10]);
    assert!(matches!(
        ir.samples_f32(),
        Err(ProtocolError::AudioSize { .. })
    ));
}

/// Sends `bytes` verbatim (postcard writes a fixed-size array without a length prefix).
fn send_raw<T: Serialize + DeserializeOwned>(tx: &IpcSender<Request>, bytes: T) {
    let raw: IpcSender<T> = tx.clone().to_opaque().to();
    raw.send(bytes).unwrap();
}

#[test]
fn garbage_on_a_request_channel_is_an_error_and_the_channel_keeps_working() {
    let (tx, rx) = ipc::channel::<Request>().unwrap();
    // A variant that does not exist.
    send_raw(&tx, [200u8, 1, 2, 3]);
    // A bake whose prompt is not UTF-8.
    send_raw(&tx, [0u8, 1, 2, 0xff, 0xfe]);
    // A cancel that stops before its id.
    send_raw(&tx, [1u8]);
    // A bake that names a shared-memory region the message does not carry.
    send_raw(&tx, [0u8, 1, 1, b'a', 0x80, 0xf7, 0x02, 1, 1, 0]);
    for _ in 0..4 {
        match rx.recv() {
            Err(IpcError::SerializationError(_)) => {}
            other => panic!("garbage decoded as {other:?}"),
        }
    }
    tx.send(Request::Shutdown).unwrap();
    assert_eq!(rx.recv().unwrap(), Request::Shutdown);
}

#[test]
fn the_report_round_trips_through_json() {
    let report = sample_report();
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert!(json.contains("\"best_round\": 2"));
    let back: BakeReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn errors_read_as_advice() {
    let e = BakeError::new(Some(1), ErrorKind::HelperMissing, "no such file");
    let text = e.to_string();
    assert!(text.starts_with("no such file. "), "{text}");
    assert!(text.contains("FAURGE_HELPER"), "{text}");
    assert_eq!(Stage::Encode.to_string(), "encoding audio");
    let client = ClientError::Timeout {
        id: 4,
        after: std::time::Duration::from_secs(30),
    };
    let as_bake: BakeError = client.into();
    assert_eq!(as_bake.id, Some(4));
    assert_eq!(as_bake.kind, ErrorKind::Timeout);
}
