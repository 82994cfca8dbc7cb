//! Transfer of a 10 s stereo 48 kHz snapshot to another process: copy into
//! `IpcSharedMemory` (`BakeRequest::new`), send over a real ipc-channel, decode
//! in the child (`channels_f32`), and a small acknowledgement back. Bar: ≤ 10 ms.
//!
//! `cargo bench -p faurge-protocol --bench transfer`. The child is this binary
//! re-executed with `FAURGE_BENCH_CHILD=<server name>`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use faurge_io::examples::VCTK_SPEECH;
use faurge_protocol::ipc_channel::ipc::{self, IpcOneShotServer, IpcSender};
use faurge_protocol::*;

const RATE: u32 = 48_000;
const ITERATIONS: usize = 50;

fn checksum(channels: &[Vec<f32>]) -> f32 {
    channels.iter().flatten().map(|s| s.abs()).sum()
}

fn child(name: String) {
    let (req_tx, req_rx) = ipc::channel::<Request>().unwrap();
    let (rep_tx, rep_rx) = ipc::channel::<Reply>().unwrap();
    let hello = Hello {
        protocol_version: PROTOCOL_VERSION,
        helper_version: "bench".into(),
        backend: "none".into(),
        models: ModelsInfo {
            dir: String::new(),
            manifest_sha256: None,
            error: None,
        },
    };
    IpcSender::<Bootstrap>::connect(name)
        .unwrap()
        .send(Bootstrap {
            hello,
            requests: req_tx,
            replies: rep_rx,
        })
        .unwrap();
    while let Ok(Request::Bake(req)) = req_rx.recv() {
        let channels = req.channels_f32().unwrap();
        rep_tx
            .send(Reply::Progress(Progress {
                id: req.id,
                stage: Stage::Done,
                round: 0,
                max_rounds: 0,
                similarity: Some(checksum(&channels)),
                threshold: 0.0,
            }))
            .unwrap();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if let Ok(name) = std::env::var("FAURGE_BENCH_CHILD") {
        return child(name);
    }
    let clip = faurge_io::read(VCTK_SPEECH).expect("read the shipped VCTK clip");
    assert_eq!(clip.sample_rate, RATE);
    let mono = clip.to_mono();
    let frames = 10 * RATE as usize;
    let left: Vec<f32> = mono.iter().copied().cycle().take(frames).collect();
    let right: Vec<f32> = mono.iter().rev().copied().cycle().take(frames).collect();
    let snapshot = vec![left, right];
    let want = checksum(&snapshot);

    let (server, name) = IpcOneShotServer::<Bootstrap>::new().unwrap();
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .env("FAURGE_BENCH_CHILD", &name)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let (_rx, boot) = server.accept().unwrap();

    let mut copy = Vec::with_capacity(ITERATIONS);
    let mut end_to_end = Vec::with_capacity(ITERATIONS);
    for id in 0..ITERATIONS as u64 + 3 {
        let t0 = Instant::now();
        let req = BakeRequest::new(
            id,
            "bench",
            RATE,
            &[&snapshot[0], &snapshot[1]],
            DspState::default(),
            BakeOptions::default(),
        )
        .unwrap();
        let t1 = Instant::now();
        boot.requests.send(Request::Bake(req)).unwrap();
        let Reply::Progress(ack) = boot.replies.recv().unwrap() else {
            panic!("unexpected reply")
        };
        let t2 = Instant::now();
        assert_eq!(ack.id, id);
        assert_eq!(ack.similarity, Some(want), "audio changed in transit");
        if id >= 3 {
            // The first few warm up page tables and allocator.
            copy.push(t1 - t0);
            end_to_end.push(t2 - t0);
        }
    }
    boot.requests.send(Request::Shutdown).unwrap();
    proc.wait().unwrap();

    copy.sort();
    end_to_end.sort();
    println!(
        "10 s stereo 48 kHz snapshot ({} MB), {ITERATIONS} iterations, to another process:",
        frames * 2 * 4 / 1_000_000
    );
    println!(
        "  copy into shared memory:                 median {:>8.3} ms  p90 {:>8.3} ms",
        ms(percentile(&copy, 0.5)),
        ms(percentile(&copy, 0.9))
    );
    println!(
        "  copy + send + decode in child + ack:     median {:>8.3} ms  p90 {:>8.3} ms  max {:>8.3} ms  (bar 10 ms)",
        ms(percentile(&end_to_end, 0.5)),
        ms(percentile(&end_to_end, 0.9)),
        ms(*end_to_end.last().unwrap())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
