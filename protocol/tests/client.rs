//! `HelperClient` against misbehaving helpers: real child processes over real
//! IPC. The child is this test binary itself, re-executed (through `sh`, which
//! moves the appended `--ipc NAME` into an environment variable) to run the
//! ignored test `fake_helper` in the mode the parent chose.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use faurge_io::examples::VCTK_SPEECH;
use faurge_protocol::client::CANCEL_GRACE;
use faurge_protocol::ipc_channel::ipc::{self, IpcSender};
use faurge_protocol::*;

const HANDSHAKE: Duration = Duration::from_secs(10);

fn fake(mode: &str) -> HelperCommand {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = HelperCommand::new("/bin/sh")
        .arg("-c")
        .arg(r#"FAKE_HELPER_IPC="$2" exec "$0" fake_helper --exact --ignored --nocapture --quiet"#)
        .arg(exe);
    cmd.env.push(("FAKE_HELPER_MODE".into(), mode.into()));
    cmd
}

fn request(id: u64) -> BakeRequest {
    let clip = faurge_io::read(VCTK_SPEECH).unwrap();
    let mono = clip.to_mono();
    BakeRequest::new(
        id,
        "bright podcast voice",
        clip.sample_rate,
        &[&mono[..clip.sample_rate as usize]],
        DspState::default(),
        BakeOptions::default(),
    )
    .unwrap()
}

fn hello(version: u32, models_error: Option<&str>) -> Hello {
    Hello {
        protocol_version: version,
        helper_version: "9.9.9-fake".into(),
        backend: "fake".into(),
        models: ModelsInfo {
            dir: "/fake/models".into(),
            manifest_sha256: None,
            error: models_error.map(str::to_owned),
        },
    }
}

fn result(id: u64, ir: &[f32]) -> BakeResult {
    BakeResult {
        id,
        dsp_state: DspState::default(),
        ir: Some(IrAudio::new(48_000, ir)),
        report: BakeReport {
            prompt: PromptReport {
                original: String::new(),
                understood: String::new(),
                anchor: true,
                edits: vec![],
                intent: String::new(),
                unsupported: vec![],
            },
            rounds: vec![],
            best_round: 1,
            threshold: 0.85,
            converged: true,
            peak_memory_bytes: 1,
            memory_budget_bytes: 2,
            backend: "fake".into(),
            total_ms: 1.0,
            input_metrics: None,
            output_metrics: None,
            input_similarity: 0.0,
            goals: vec![],
            restoration: vec![],
            applied: true,
            verdict: String::new(),
        },
    }
}

/// The fake helper's body; does nothing unless started by `fake()`.
#[test]
#[ignore = "the child process of the other tests"]
fn fake_helper() {
    let (Ok(name), Ok(mode)) = (
        std::env::var("FAKE_HELPER_IPC"),
        std::env::var("FAKE_HELPER_MODE"),
    ) else {
        return;
    };
    if mode == "garbage-hello" {
        let tx = IpcSender::<[u8; 3]>::connect(name).unwrap();
        tx.send([9, 9, 9]).unwrap();
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    let (req_tx, req_rx) = ipc::channel::<Request>().unwrap();
    let (rep_tx, rep_rx) = ipc::channel::<Reply>().unwrap();
    let hello = match mode.as_str() {
        "version" => hello(PROTOCOL_VERSION + 98, None),
        "models" => hello(
            PROTOCOL_VERSION,
            Some("manifest.json: sha256 of fabian.onnx does not match"),
        ),
        _ => hello(PROTOCOL_VERSION, None),
    };
    IpcSender::<Bootstrap>::connect(name)
        .unwrap()
        .send(Bootstrap {
            hello,
            requests: req_tx,
            replies: rep_rx,
        })
        .unwrap();
    while let Ok(req) = req_rx.recv() {
        let bake = match req {
            Request::Bake(b) => b,
            Request::Cancel { .. } => continue,
            Request::Shutdown => return,
        };
        let id = bake.id;
        match mode.as_str() {
            // Progress through every stage, 40 ms apart, answering a cancel.
            "stages" => {
                let mut cancelled = false;
                for stage in Stage::ALL {
                    let p = Progress {
                        id,
                        stage,
                        round: 1,
                        max_rounds: 4,
                        similarity: None,
                        threshold: 0.85,
                    };
                    rep_tx.send(Reply::Progress(p)).unwrap();
                    if let Ok(Request::Cancel { id: c }) =
                        req_rx.try_recv_timeout(Duration::from_millis(40))
                    {
                        cancelled = c == id;
                        break;
                    }
                }
                let reply = if cancelled {
                    Reply::Error(BakeError::new(Some(id), ErrorKind::Cancelled, "cancelled"))
                } else {
                    let ch = bake.channels_f32().unwrap();
                    Reply::Result(result(id, &ch[0][..16]))
                };
                rep_tx.send(reply).unwrap();
            }
            // Ignores cancel and never answers.
            "deaf" => std::thread::sleep(Duration::from_secs(30)),
            // Answers with bytes that are not a `Reply`.
            "bad-reply" => {
                let raw: IpcSender<[u8; 2]> = rep_tx.clone().to_opaque().to();
                raw.send([77, 77]).unwrap();
            }
            other => panic!("unknown fake mode {other}"),
        }
    }
}

#[test]
fn a_helper_of_another_protocol_version_is_refused() {
    let err = HelperClient::spawn(&fake("version"), HANDSHAKE).unwrap_err();
    match &err {
        ClientError::Version {
            expected,
            found,
            helper_version,
        } => {
            assert_eq!(*expected, PROTOCOL_VERSION);
            assert_eq!(*found, PROTOCOL_VERSION + 98);
            assert_eq!(helper_version, "9.9.9-fake");
        }
        other => panic!("expected Version, got {other}"),
    }
    assert_eq!(BakeError::from(err).kind, ErrorKind::Version);
}

#[test]
fn a_helper_whose_models_failed_is_a_model_load_error() {
    let err = HelperClient::spawn(&fake("models"), HANDSHAKE).unwrap_err();
    assert!(matches!(err, ClientError::ModelLoad { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("/fake/models") && text.contains("sha256"),
        "{text}"
    );
}

#[test]
fn a_handshake_that_does_not_decode_is_a_typed_error() {
    let started = Instant::now();
    let err = HelperClient::spawn(&fake("garbage-hello"), HANDSHAKE).unwrap_err();
    assert!(matches!(err, ClientError::Handshake { .. }), "{err}");
    // The child was killed rather than waited for (it sleeps 30 s).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn progress_arrives_in_order_and_the_result_carries_the_ir() {
    let (mut client, hello) = HelperClient::spawn(&fake("stages"), HANDSHAKE).unwrap();
    assert_eq!(hello.backend, "fake");
    let req = request(21);
    let first_samples = req.channels_f32().unwrap()[0][..16].to_vec();
    let mut seen = Vec::new();
    let result = client
        .bake(
            req,
            HANDSHAKE,
            |p| seen.push((p.id, p.stage)),
            &AtomicBool::new(false),
        )
        .unwrap();
    let expected: Vec<_> = Stage::ALL.iter().map(|&s| (21, s)).collect();
    assert_eq!(seen, expected);
    assert_eq!(result.id, 21);
    assert_eq!(result.ir_samples().unwrap(), first_samples);
    // The session goes on.
    let again = client
        .bake(request(22), HANDSHAKE, |_| {}, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(again.id, 22);
    assert!(client.shutdown().unwrap().success());
}

#[test]
fn cancel_is_sent_and_confirmed() {
    let (mut client, _) = HelperClient::spawn(&fake("stages"), HANDSHAKE).unwrap();
    let cancel = AtomicBool::new(false);
    let mut stages = 0;
    let err = client
        .bake(
            request(31),
            HANDSHAKE,
            |_| {
                stages += 1;
                if stages == 2 {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            },
            &cancel,
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::Cancelled { id: 31 }), "{err}");
    assert!(stages < Stage::ALL.len(), "{stages} stages");
    // The helper confirmed, so it is still there for the next bake.
    assert!(client.is_alive());
    let ok = client.bake(request(32), HANDSHAKE, |_| {}, &AtomicBool::new(false));
    assert_eq!(ok.unwrap().id, 32);
}

#[test]
fn a_helper_that_ignores_cancel_is_killed_after_the_grace_period() {
    let (mut client, _) = HelperClient::spawn(&fake("deaf"), HANDSHAKE).unwrap();
    let pid = client.pid().unwrap();
    let started = Instant::now();
    let err = client
        .bake(request(41), HANDSHAKE, |_| {}, &AtomicBool::new(true))
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ClientError::Cancelled { id: 41 }), "{err}");
    assert!(
        took >= CANCEL_GRACE && took < CANCEL_GRACE + Duration::from_secs(2),
        "took {took:?}"
    );
    assert!(!client.is_alive());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn a_reply_that_does_not_decode_is_a_protocol_error() {
    let (mut client, _) = HelperClient::spawn(&fake("bad-reply"), HANDSHAKE).unwrap();
    let err = client
        .bake(request(51), HANDSHAKE, |_| {}, &AtomicBool::new(false))
        .unwrap_err();
    assert!(matches!(err, ClientError::Protocol { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.helper_gone());
    assert!(!client.is_alive());
}
