//! The editor inside the CLAP test host, embedded in an X11 window on a private Xvfb
//! display (Debian `xvfb`, Mesa's software OpenGL):
//!
//! - opening and closing it repeatedly while audio runs: the host-test bundle aborts
//!   on any allocation in `process()` (`assert_process_allocs`), and the process's
//!   threads, file descriptors and resident memory do not grow from cycle to cycle;
//! - a bake with the editor open reaches the host as parameter gesture begin → value
//!   → end events (what makes automation lanes record a bake and host undo see it),
//!   and the values the host then reads are the ones it was sent.
//!
//! Skipped without `Xvfb` unless `CI=true`, where a missing host is a failure. Xvfb
//! comes from the editor test harness (`faurge_editor_tests::Xvfb`).

use std::time::{Duration, Instant};

use faurge_clap_host_tests::{
    bundles, use_workspace_helper, voiced_speech, Library, Looper, OutParamEvent,
};
use faurge_editor_tests::Xvfb;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, WindowClass};
use x11rb::rust_connection::RustConnection;

const ID: &str = "com.github.faurge.faurge";
const RATE: u32 = 48_000;
const BLOCK: usize = 256;
/// Frames per processing chunk between main-thread work (0.1 s).
const CHUNK: usize = 4800;

/// Stops the Xvfb at `pid` once this process has exited, from a `sh` that polls this
/// process's id. Mesa's GLX keeps an X connection for the life of the process once
/// the editor has drawn, and Xlib ends a process with status 1 when the server goes
/// away under it: a kill from an `atexit` handler raced with library destructors
/// still talking to the server and failed a run whose tests had all passed.
fn stop_after_this_process(pid: u32) {
    let me = std::process::id();
    let watcher = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "while kill -0 {me} 2>/dev/null; do sleep 0.2; done; kill {pid}"
        ))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = watcher {
        eprintln!("could not start the watcher that stops Xvfb {pid}: {e}");
    }
}

/// The display of one Xvfb shared by both tests and kept until the process exits:
/// Mesa's GLX keeps an X connection for the life of the process once the editor has
/// drawn, so stopping the server under it would make Xlib end the process.
/// `None` (test skipped) when Xvfb cannot start outside CI.
fn xvfb_display() -> Option<&'static str> {
    static DISPLAY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    DISPLAY
        .get_or_init(|| match Xvfb::start(1280, 900) {
            Ok(x) => {
                let display = x.display();
                stop_after_this_process(x.id());
                std::mem::forget(x);
                Some(display)
            }
            Err(e) => {
                assert!(
                    !faurge_editor_tests::in_ci(),
                    "Xvfb could not start (Debian package xvfb); CI must run this test: {e}"
                );
                eprintln!("skipped: Xvfb could not start: {e}");
                None
            }
        })
        .as_deref()
}

/// The shared display and a new top-level window to embed an editor in, or `None`
/// (test skipped) when Xvfb is missing outside CI.
fn display() -> Option<(RustConnection, u32)> {
    let display = xvfb_display()?;
    std::env::set_var("DISPLAY", display);
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    let win = conn.generate_id().unwrap();
    conn.create_window(
        0,
        win,
        root,
        0,
        0,
        1000,
        760,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new(),
    )
    .unwrap();
    conn.map_window(win).unwrap();
    conn.flush().unwrap();
    Some((conn, win))
}

/// Children of `win` (the embedded editor's window, once it exists).
fn children(conn: &RustConnection, win: u32) -> usize {
    conn.query_tree(win)
        .ok()
        .and_then(|c| c.reply().ok())
        .map_or(0, |t| t.children.len())
}

struct Session {
    l: Looper,
    events: Vec<OutParamEvent>,
}

impl Session {
    fn new() -> Session {
        use_workspace_helper();
        let mut p = Library::load(&bundles().clap).instantiate(ID);
        let active = p.activate(f64::from(RATE), 4096).expect("activate");
        let speech = voiced_speech(RATE, 3.2);
        let input = vec![speech; active.channels];
        Session {
            l: Looper::new(p, active, input),
            events: Vec::new(),
        }
    }

    /// Processes `frames` of the looped speech; flips the Bake trigger first when
    /// `toggle_bake`. Returns the output's RMS.
    fn run(&mut self, frames: usize, toggle_bake: bool) -> f32 {
        let out = self.l.run(frames, BLOCK, toggle_bake);
        self.events.extend(out.param_events);
        let all: Vec<f32> = out.audio.into_iter().flatten().collect();
        (all.iter().map(|v| v * v).sum::<f32>() / all.len().max(1) as f32).sqrt()
    }

    /// Runs `seconds` of audio in chunks, serving the plugin's main-thread callbacks.
    fn seconds(&mut self, seconds: f32) {
        for _ in 0..(seconds * RATE as f32 / CHUNK as f32).ceil() as usize {
            self.run(CHUNK, false);
            self.l.p.run_main_thread_callbacks();
        }
    }
}

fn proc_count(path: &str) -> usize {
    std::fs::read_dir(path).map_or(0, |d| d.count())
}

extern "C" {
    /// glibc: returns freed heap memory to the system, so RSS shows live memory.
    fn malloc_trim(pad: usize) -> i32;
}

/// Resident memory after returning freed heap pages to the system, KiB.
fn rss_kib() -> u64 {
    // SAFETY: plain glibc call without pointers.
    unsafe { malloc_trim(0) };
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Both tests use the process-wide `DISPLAY`; run them one after the other.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn opening_and_closing_the_editor_while_audio_runs_allocates_and_leaks_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some((conn, parent)) = display() else {
        return;
    };
    let mut s = Session::new();
    s.seconds(0.5);
    let cycle = |s: &mut Session| {
        s.l.p.open_gui_x11(parent).expect("the editor did not open");
        let size = s.l.p.gui_size().expect("no editor size");
        assert!(size.0 >= 720 && size.1 >= 520, "editor size {size:?}");
        // Audio keeps running (and feeding the editor's meters) while it is open.
        let t0 = Instant::now();
        let mut rms = 0.0;
        while t0.elapsed() < Duration::from_millis(400) {
            rms = s.run(CHUNK, false);
            s.l.p.run_main_thread_callbacks();
        }
        assert!(rms > 1e-3, "audio stopped while the editor was open");
        let shown = children(&conn, parent);
        s.l.p.close_gui();
        s.seconds(0.1);
        shown
    };
    // Warm-up: the first opening loads fonts, GL and the thread pools it keeps, and
    // the resident size climbs for several more (settled RSS +15 to +19 MiB over
    // cycles 3–12; compared once after 2 warm-up cycles, this check failed about one
    // run in three).
    for _ in 0..WARM_UP_CYCLES {
        assert!(cycle(&mut s) >= 1, "the editor's window was not embedded");
    }
    // Window threads end asynchronously after `destroy`.
    std::thread::sleep(Duration::from_secs(1));
    let threads = proc_count("/proc/self/task");
    let fds = proc_count("/proc/self/fd");
    // Resident size after each cycle: it swings by ±10 MiB from one cycle to the next
    // (freed buffers, GL), so a leak is the trend, the Theil–Sen slope (median of the
    // pairwise slopes, indifferent to outliers), not a difference of two readings.
    let mut rss = Vec::with_capacity(MEASURED_CYCLES);
    for _ in 0..MEASURED_CYCLES {
        assert!(cycle(&mut s) >= 1, "the editor's window was not embedded");
        rss.push(rss_kib());
    }
    let slope = theil_sen_slope(&rss);
    let t0 = Instant::now();
    while children(&conn, parent) > 0 && t0.elapsed() < Duration::from_secs(5) {
        s.seconds(0.1);
    }
    assert_eq!(
        children(&conn, parent),
        0,
        "a closed editor left its window"
    );
    let t0 = Instant::now();
    while proc_count("/proc/self/task") > threads && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (threads2, fds2) = (proc_count("/proc/self/task"), proc_count("/proc/self/fd"));
    eprintln!(
        "after {MEASURED_CYCLES} more open/close cycles: threads {threads} → {threads2}, fds {fds} → {fds2}, RSS {:.0} KiB a cycle (KiB: {rss:?})",
        slope
    );
    assert!(
        threads2 <= threads,
        "threads leaked: {threads} → {threads2}"
    );
    assert!(fds2 <= fds, "file descriptors leaked: {fds} → {fds2}");
    assert!(
        slope < MAX_GROWTH_KIB_PER_CYCLE,
        "resident memory grows by {slope:.0} KiB per open/close of the editor"
    );
}

/// Open/close cycles before the leak checks' baselines, and measured after them.
const WARM_UP_CYCLES: usize = 10;
const MEASURED_CYCLES: usize = 20;
/// Largest resident growth per open/close that passes, KiB. Measured here: 350–550
/// KiB a cycle (of which ~65 KiB is heap still in use, by `mallinfo2`: Mesa's or
/// egui's caches, or a small leak not yet found); an editor that leaked its GL
/// context, its framebuffers or its state would grow by several MiB a cycle.
const MAX_GROWTH_KIB_PER_CYCLE: f64 = 2048.0;

/// Theil–Sen estimate of the slope of `y` against its index: the median of
/// `(y_j − y_i) / (j − i)` over all pairs `i < j` (P. K. Sen, "Estimates of the
/// regression coefficient based on Kendall's tau", JASA 63, 1968).
fn theil_sen_slope(y: &[u64]) -> f64 {
    let mut slopes: Vec<f64> = (0..y.len())
        .flat_map(|i| (i + 1..y.len()).map(move |j| (y[j] as f64 - y[i] as f64) / (j - i) as f64))
        .collect();
    slopes.sort_by(f64::total_cmp);
    slopes.get(slopes.len() / 2).copied().unwrap_or(0.0)
}

#[test]
fn a_bake_with_the_editor_open_reaches_the_host_as_gestures() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some((_conn, parent)) = display() else {
        return;
    };
    let mut s = Session::new();
    s.l.p.open_gui_x11(parent).expect("the editor did not open");
    s.seconds(3.3);
    s.events.clear();
    s.run(CHUNK, true);
    let t0 = Instant::now();
    while s.l.report().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no bake within 60 s"
        );
        s.seconds(0.1);
    }
    // The editor sends the queued gestures on its next frame (≤ 100 ms of wall
    // time; this host processes faster than real time, so wait by the clock).
    let t0 = Instant::now();
    while !s
        .events
        .iter()
        .any(|e| matches!(e, OutParamEvent::GestureEnd(_)))
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the baked values did not reach the host within 5 s"
        );
        s.seconds(0.02);
        std::thread::sleep(Duration::from_millis(20));
    }
    s.seconds(0.5);
    s.l.p.close_gui();

    let ids: Vec<u32> = s.l.p.params().iter().map(|d| d.id.get()).collect();
    let mut open: Vec<u32> = Vec::new();
    let mut values = std::collections::BTreeMap::new();
    let mut complete = 0;
    for e in &s.events {
        match *e {
            OutParamEvent::GestureBegin(id) => {
                assert!(ids.contains(&id.get()), "unknown parameter {id:?}");
                assert!(!open.contains(&id.get()), "gesture begun twice: {id:?}");
                open.push(id.get());
            }
            OutParamEvent::Value(id, v) => {
                assert!(
                    open.contains(&id.get()),
                    "value outside a gesture for {id:?}"
                );
                values.insert(id.get(), v);
            }
            OutParamEvent::GestureEnd(id) => {
                let k = open.iter().position(|&o| o == id.get());
                assert!(k.is_some(), "gesture ended without a begin: {id:?}");
                open.remove(k.unwrap());
                complete += 1;
            }
        }
    }
    eprintln!(
        "{complete} gestures, {} parameters sent to the host",
        values.len()
    );
    assert!(open.is_empty(), "gestures left open: {open:?}");
    assert!(complete > 0, "the bake sent no gesture to the host");
    // The host reads back what it was sent.
    let names: Vec<(u32, String)> =
        s.l.p
            .params()
            .iter()
            .map(|d| (d.id.get(), d.name.clone()))
            .collect();
    for (id, name) in names {
        if let Some(&sent) = values.get(&id) {
            let now = s.l.p.value(&name);
            assert!(
                (now - sent).abs() <= 1e-4 * sent.abs().max(1.0),
                "{name}: the host was sent {sent} but reads {now}"
            );
        }
    }
}
