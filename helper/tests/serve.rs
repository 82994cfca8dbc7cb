//! The helper as a real child process over real IPC: handshake, shutdown, a
//! parent that goes away, garbage, bad sizes, programs that are missing, exit at
//! once, never connect, die or hang; no zombie and no file descriptor left. And
//! the serve loop itself (progress order, cancel, a panicking engine) with an
//! engine defined here, over real channels.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use faurge_helper::serve::{serve, BakeEngine};
use faurge_io::examples::VCTK_SPEECH;
use faurge_protocol::ipc_channel::ipc::{IpcOneShotServer, IpcReceiver, IpcSender};
use faurge_protocol::ipc_channel::TryRecvError;
use faurge_protocol::*;

const HELPER: &str = env!("CARGO_BIN_EXE_faurge-helper");
const HANDSHAKE: Duration = Duration::from_secs(10);

/// These tests count file descriptors and children of this process, and one
/// changes SIGPIPE's disposition: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The helper with the shipped models (`FAURGE_TEST_MODELS` overrides).
fn helper_cmd() -> HelperCommand {
    let models = std::env::var_os("FAURGE_TEST_MODELS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundle/models")
        });
    HelperCommand::new(HELPER).arg("--models").arg(models)
}

/// One second of the shipped VCTK speech clip (48 kHz mono).
fn speech_1s() -> (u32, Vec<f32>) {
    let clip = faurge_io::read(VCTK_SPEECH).expect("read the shipped VCTK clip");
    let rate = clip.sample_rate;
    let mut mono = clip.to_mono();
    mono.truncate(rate as usize);
    (rate, mono)
}

fn valid_request(id: u64) -> BakeRequest {
    let (rate, mono) = speech_1s();
    BakeRequest::new(
        id,
        "warm radio voice",
        rate,
        &[&mono],
        DspState::default(),
        BakeOptions::default(),
    )
    .unwrap()
}

/// A request whose header promises one more frame than its audio holds.
fn inconsistent_request(id: u64) -> BakeRequest {
    let mut req = valid_request(id);
    req.frames += 1;
    req
}

/// `Some(state letter)` of process `pid` from /proc, `None` when it no longer exists.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the parenthesized command name.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Children of this process whose command name is `comm`.
fn children_named(comm: &str) -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((head, tail)) = stat.rsplit_once(')') else {
                return false;
            };
            let name = head.split_once('(').map(|(_, n)| n).unwrap_or("");
            let ppid = tail.split_whitespace().nth(1).unwrap_or("");
            name == comm && ppid == me
        })
        .collect()
}

/// A program that runs but never connects: `sleep 100` (through `sh`, because
/// GNU sleep refuses the appended `--ipc NAME`, which becomes `sh`'s `$0 $1`).
fn never_connects() -> HelperCommand {
    HelperCommand::new("/bin/sh")
        .arg("-c")
        .arg("exec sleep 100")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn assert_reaped(pid: u32) {
    // Gone, or at worst a recycled pid that is not a zombie.
    assert_ne!(proc_state(pid), Some('Z'), "helper {pid} is a zombie");
    assert!(
        proc_state(pid).is_none(),
        "helper {pid} still exists: {:?}",
        proc_state(pid)
    );
}

/// Starts the helper binary by hand (no `HelperClient`), so a test can misbehave as a client.
struct RawSession {
    child: std::process::Child,
    hello: Hello,
    requests: IpcSender<Request>,
    replies: IpcReceiver<Reply>,
}

fn raw_session() -> RawSession {
    let (server, name) = IpcOneShotServer::<Bootstrap>::new().unwrap();
    let child = Command::new(HELPER)
        .arg("--ipc")
        .arg(&name)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let (_rx, boot) = server.accept().unwrap();
    RawSession {
        child,
        hello: boot.hello,
        requests: boot.requests,
        replies: boot.replies,
    }
}

fn next_reply(replies: &IpcReceiver<Reply>) -> Reply {
    replies
        .try_recv_timeout(Duration::from_secs(10))
        .expect("a reply within 10 s")
}

fn wait_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the helper did not exit within {within:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn handshake_reports_this_protocol_version() {
    let _g = serial();
    let (client, hello) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
    assert_eq!(hello.protocol_version, PROTOCOL_VERSION);
    assert_eq!(hello.helper_version, env!("CARGO_PKG_VERSION"));
    assert!(!hello.backend.is_empty());
    assert_eq!(hello.models.error, None);
    assert_eq!(client.hello(), &hello);
    assert!(client.shutdown().unwrap().success());
}

#[test]
fn shutdown_exits_zero_and_dropping_the_client_leaves_no_zombie() {
    let _g = serial();
    let (mut client, _) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
    let pid = client.pid().unwrap();
    assert!(client.is_alive());
    let status = client.shutdown().expect("exit status");
    assert!(status.success(), "{status}");
    assert_reaped(pid);

    let (client, _) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
    let pid = client.pid().unwrap();
    drop(client);
    assert_reaped(pid);
}

#[test]
fn helper_exits_by_itself_within_a_second_when_its_parent_goes_away() {
    let _g = serial();
    let RawSession {
        mut child,
        hello,
        requests,
        replies,
    } = raw_session();
    assert_eq!(hello.protocol_version, PROTOCOL_VERSION);
    // No Shutdown: the channels just close, as when the plugin's host crashes.
    drop(requests);
    drop(replies);
    let status = wait_exit(&mut child, Duration::from_secs(1));
    assert!(status.success(), "{status}");
}

#[test]
fn garbage_gets_a_protocol_error_and_the_helper_keeps_serving() {
    let _g = serial();
    let mut s = raw_session();
    // Variant 200 of `Request` does not exist.
    let raw: IpcSender<[u8; 4]> = s.requests.clone().to_opaque().to();
    raw.send([200, 1, 2, 3]).unwrap();
    match next_reply(&s.replies) {
        Reply::Error(e) => {
            assert_eq!(e.kind, ErrorKind::Protocol, "{e}");
            assert_eq!(e.id, None);
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    // A bake that is not UTF-8 inside.
    let raw: IpcSender<[u8; 5]> = s.requests.clone().to_opaque().to();
    raw.send([0, 1, 2, 0xff, 0xfe]).unwrap();
    assert!(matches!(
        next_reply(&s.replies),
        Reply::Error(BakeError {
            kind: ErrorKind::Protocol,
            ..
        })
    ));

    // Still serving: a request with inconsistent sizes is refused by the helper itself.
    s.requests
        .send(Request::Bake(inconsistent_request(11)))
        .unwrap();
    match next_reply(&s.replies) {
        Reply::Error(e) => {
            assert_eq!(e.kind, ErrorKind::BadRequest, "{e}");
            assert_eq!(e.id, Some(11));
            assert!(e.message.contains("bytes"), "{e}");
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    // And a valid bake gets a final answer with its id (whatever the engine says).
    s.requests.send(Request::Bake(valid_request(12))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no final reply to bake 12");
        match next_reply(&s.replies) {
            Reply::Progress(p) => assert_eq!(p.id, 12),
            Reply::Result(r) => break assert_eq!(r.id, 12),
            Reply::Error(e) => break assert_eq!(e.id, Some(12)),
        }
    }
    s.requests.send(Request::Shutdown).unwrap();
    assert!(wait_exit(&mut s.child, Duration::from_secs(1)).success());
}

#[test]
fn inconsistent_sizes_are_refused_before_sending() {
    let _g = serial();
    let (mut client, _) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
    let err = client
        .bake(
            inconsistent_request(5),
            HANDSHAKE,
            |_| {},
            &AtomicBool::new(false),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::BadRequest(ProtocolError::AudioSize { .. })
        ),
        "{err}"
    );
    assert_eq!(BakeError::from(err).kind, ErrorKind::BadRequest);
    assert!(client.is_alive());
    assert!(client.shutdown().unwrap().success());
}

#[test]
fn a_missing_program_is_helper_missing() {
    let _g = serial();
    let cmd = HelperCommand::new("/nonexistent/faurge-helper");
    let err = HelperClient::spawn(&cmd, HANDSHAKE).unwrap_err();
    assert!(matches!(err, ClientError::HelperMissing { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::HelperMissing);
    assert!(
        err.to_string().contains("/nonexistent/faurge-helper"),
        "{err}"
    );
}

#[test]
fn a_program_that_exits_at_once_is_a_typed_error_without_a_hang() {
    let _g = serial();
    let started = Instant::now();
    let err = HelperClient::spawn(&HelperCommand::new("/bin/false"), HANDSHAKE).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    match &err {
        ClientError::HelperExited { status, .. } => assert_eq!(status.code(), Some(1)),
        other => panic!("expected HelperExited, got {other}"),
    }
    assert!(children_named("false").is_empty());

    // Its stderr is in the error: `sh -c` writes a message, then exits 3.
    let cmd = HelperCommand::new("/bin/sh")
        .arg("-c")
        .arg("echo 'models are on fire' >&2; exit 3");
    match HelperClient::spawn(&cmd, HANDSHAKE).unwrap_err() {
        ClientError::HelperExited {
            status,
            stderr_tail,
        } => {
            assert_eq!(status.code(), Some(3));
            assert!(
                stderr_tail.contains("models are on fire"),
                "{stderr_tail:?}"
            );
        }
        other => panic!("expected HelperExited, got {other}"),
    }
}

#[test]
fn a_program_that_never_connects_times_out_and_is_killed_and_reaped() {
    let _g = serial();
    let started = Instant::now();
    let err = HelperClient::spawn(&never_connects(), Duration::from_millis(300)).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ClientError::HandshakeTimeout { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert!(
        children_named("sleep").is_empty(),
        "sleep left behind: {:?}",
        children_named("sleep")
    );
}

#[test]
fn twenty_spawn_shutdown_cycles_leak_no_file_descriptor() {
    let _g = serial();
    // Warm up once (lazy statics, the first thread, …).
    HelperClient::spawn(&helper_cmd(), HANDSHAKE)
        .unwrap()
        .0
        .shutdown();
    let before = open_fds();
    for _ in 0..20 {
        let (client, _) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
        assert!(client.shutdown().unwrap().success());
    }
    // The failure paths too.
    for _ in 0..3 {
        HelperClient::spawn(&HelperCommand::new("/bin/false"), HANDSHAKE).unwrap_err();
        let err = HelperClient::spawn(&never_connects(), Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, ClientError::HandshakeTimeout { .. }), "{err}");
        HelperClient::spawn(&HelperCommand::new("/nonexistent"), HANDSHAKE).unwrap_err();
    }
    let after = open_fds();
    assert_eq!(before, after, "file descriptors leaked");
    assert!(children_named("faurge-helper").is_empty());
}

#[test]
fn a_helper_killed_with_sigkill_is_reported_as_died_without_killing_us() {
    let _g = serial();
    // A DAW may leave SIGPIPE at its default (terminate); make this test process
    // do the same, so a SIGPIPE from writing to the dead helper would end it.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let (mut client, _) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
    let pid = client.pid().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    // Wait until it is really dead (a zombie) so the write hits a closed socket.
    let deadline = Instant::now() + Duration::from_secs(2);
    while proc_state(pid) != Some('Z') && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    let err = client
        .bake(valid_request(1), HANDSHAKE, |_| {}, &AtomicBool::new(false))
        .unwrap_err();
    unsafe { libc::signal(libc::SIGPIPE, previous) };
    match &err {
        ClientError::HelperDied {
            status: Some(status),
            ..
        } => {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
        }
        other => panic!("expected HelperDied with a status, got {other}"),
    }
    assert!(err.to_string().contains("SIGKILL"), "{err}");
    assert!(!client.is_alive());
    assert_reaped(pid);
    // The next bake on the same client keeps saying so; a new client works.
    let again = client.bake(valid_request(2), HANDSHAKE, |_| {}, &AtomicBool::new(false));
    assert!(matches!(again, Err(ClientError::HelperDied { .. })));
    let (fresh, _) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
    assert!(fresh.shutdown().unwrap().success());
}

#[test]
fn a_hung_helper_times_out_and_is_killed_and_reaped() {
    let _g = serial();
    let (mut client, _) = HelperClient::spawn(&helper_cmd(), HANDSHAKE).unwrap();
    let pid = client.pid().unwrap();
    // Freeze it: it cannot read, compute or answer.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let started = Instant::now();
    let err = client
        .bake(
            valid_request(1),
            Duration::from_millis(300),
            |_| {},
            &AtomicBool::new(false),
        )
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, ClientError::Timeout { id: 1, .. }), "{err}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "took {took:?}"
    );
    assert_reaped(pid);
    assert!(!client.is_alive());
}

/// An engine that walks the stages with a pause each, honouring cancel; the
/// prompt "panic" makes it panic.
struct StagedEngine {
    pause: Duration,
}

impl BakeEngine for StagedEngine {
    fn hello_models(&self) -> ModelsInfo {
        ModelsInfo {
            dir: "test".into(),
            manifest_sha256: None,
            error: None,
        }
    }

    fn backend(&self) -> String {
        "test".into()
    }

    fn bake(
        &mut self,
        req: &BakeRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<BakeResult, BakeError> {
        if req.prompt == "panic" {
            panic!("engine exploded");
        }
        // Reads the audio as the real loop would.
        let audio = req
            .channels_f32()
            .map_err(|e| BakeError::new(Some(req.id), ErrorKind::BadRequest, e.to_string()))?;
        for stage in Stage::ALL {
            if cancel.load(Ordering::Relaxed) {
                return Err(BakeError::new(
                    Some(req.id),
                    ErrorKind::Cancelled,
                    "cancelled",
                ));
            }
            progress(Progress {
                id: req.id,
                stage,
                round: 1,
                max_rounds: req.options.max_rounds,
                similarity: None,
                threshold: req.options.threshold.unwrap_or(0.5),
            });
            thread::sleep(self.pause);
        }
        let peak = audio[0].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        Ok(BakeResult {
            id: req.id,
            dsp_state: req.current,
            ir: Some(IrAudio::new(req.sample_rate, &[peak, 0.5, 0.25])),
            report: BakeReport {
                prompt: PromptReport {
                    original: req.prompt.clone(),
                    understood: req.prompt.clone(),
                    anchor: false,
                    edits: vec![],
                    intent: String::new(),
                    unsupported: vec![],
                },
                rounds: vec![],
                best_round: 1,
                threshold: req.options.threshold.unwrap_or(0.5),
                converged: false,
                peak_memory_bytes: 0,
                memory_budget_bytes: 0,
                backend: "test".into(),
                total_ms: 0.0,
                input_metrics: None,
                output_metrics: None,
                input_similarity: 0.0,
                goals: vec![],
                restoration: vec![],
                applied: true,
                verdict: String::new(),
            },
        })
    }
}

/// Collects replies of bake `id` until its final reply.
fn collect(replies: &IpcReceiver<Reply>, id: u64) -> (Vec<Stage>, Reply) {
    let mut stages = Vec::new();
    loop {
        match next_reply(replies) {
            Reply::Progress(p) => {
                assert_eq!(p.id, id);
                stages.push(p.stage);
            }
            last => return (stages, last),
        }
    }
}

#[test]
fn serve_streams_progress_in_order_honours_cancel_and_survives_a_panicking_engine() {
    let _g = serial();
    let (server, name) = IpcOneShotServer::<Bootstrap>::new().unwrap();
    let serving = thread::spawn(move || {
        serve(
            &name,
            &mut StagedEngine {
                pause: Duration::from_millis(30),
            },
        )
    });
    let (_rx, boot) = server.accept().unwrap();
    assert_eq!(boot.hello.backend, "test");
    let (requests, replies) = (boot.requests, boot.replies);

    // A whole bake: every stage once, in order, then the result.
    requests.send(Request::Bake(valid_request(1))).unwrap();
    let (stages, last) = collect(&replies, 1);
    assert_eq!(stages, Stage::ALL.to_vec());
    let Reply::Result(result) = last else {
        panic!("expected a result, got {last:?}")
    };
    let (_, speech) = speech_1s();
    let peak = speech.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert_eq!(result.ir_samples().unwrap(), vec![peak, 0.5, 0.25]);

    // Cancel while it runs: the reader thread delivers it mid-bake.
    requests.send(Request::Bake(valid_request(2))).unwrap();
    match next_reply(&replies) {
        Reply::Progress(p) => assert_eq!(p.stage, Stage::Sanitize),
        other => panic!("{other:?}"),
    }
    requests.send(Request::Cancel { id: 2 }).unwrap();
    let (stages, last) = collect(&replies, 2);
    assert!(
        stages.len() < Stage::ALL.len() - 1,
        "cancel came too late: {stages:?}"
    );
    assert!(
        matches!(
            last,
            Reply::Error(BakeError {
                id: Some(2),
                kind: ErrorKind::Cancelled,
                ..
            })
        ),
        "{last:?}"
    );

    // Queued behind a running bake and cancelled before it starts.
    requests.send(Request::Bake(valid_request(3))).unwrap();
    requests.send(Request::Bake(valid_request(4))).unwrap();
    requests.send(Request::Cancel { id: 4 }).unwrap();
    let (stages, last) = collect(&replies, 3);
    assert_eq!(stages.len(), Stage::ALL.len());
    assert!(matches!(last, Reply::Result(BakeResult { id: 3, .. })));
    let (stages, last) = collect(&replies, 4);
    assert!(stages.is_empty());
    assert!(
        matches!(
            last,
            Reply::Error(BakeError {
                id: Some(4),
                kind: ErrorKind::Cancelled,
                ..
            })
        ),
        "{last:?}"
    );

    // A panicking engine is an Internal error, and serving goes on.
    let (rate, mono) = speech_1s();
    let boom = BakeRequest::new(
        5,
        "panic",
        rate,
        &[&mono],
        DspState::default(),
        BakeOptions::default(),
    )
    .unwrap();
    requests.send(Request::Bake(boom)).unwrap();
    match next_reply(&replies) {
        Reply::Error(e) => {
            assert_eq!((e.id, e.kind), (Some(5), ErrorKind::Internal));
            assert!(e.message.contains("engine exploded"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    requests.send(Request::Bake(valid_request(6))).unwrap();
    assert!(matches!(
        collect(&replies, 6).1,
        Reply::Result(BakeResult { id: 6, .. })
    ));

    // Shutdown ends `serve` with Ok.
    requests.send(Request::Shutdown).unwrap();
    serving.join().unwrap().unwrap();
    assert!(matches!(
        replies.try_recv(),
        Err(TryRecvError::IpcError(_)) | Err(TryRecvError::Empty)
    ));
}

#[test]
fn serve_stops_a_running_bake_when_the_client_goes_away() {
    let _g = serial();
    let (server, name) = IpcOneShotServer::<Bootstrap>::new().unwrap();
    let serving = thread::spawn(move || {
        serve(
            &name,
            &mut StagedEngine {
                pause: Duration::from_millis(200),
            },
        )
    });
    let (_rx, boot) = server.accept().unwrap();
    boot.requests.send(Request::Bake(valid_request(1))).unwrap();
    assert!(matches!(next_reply(&boot.replies), Reply::Progress(_)));
    let started = Instant::now();
    drop(boot);
    serving.join().unwrap().unwrap();
    // Well before the 8 × 200 ms the bake would take.
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn serve_reports_a_missing_server() {
    let _g = serial();
    let missing = PathBuf::from("/nonexistent/faurge-socket");
    let err = serve(
        missing.to_str().unwrap(),
        &mut StagedEngine {
            pause: Duration::ZERO,
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/faurge-socket"),
        "{err}"
    );
}
