//! The editor renders headless, as CI needs it: the real standalone runs on a private
//! jackd (dummy driver) with a real recording looping into its inputs, its window on
//! a private Xvfb (Mesa's software GL); the test types a prompt with XTEST, presses
//! Return, and a real helper process bakes with the shipped models.
//!
//! Screenshots of the three states are written to
//! `<target>/screenshots/{idle,typed,baking,done}.png` (and copied to
//! `docs/screenshots/` when `FAURGE_UPDATE_SCREENSHOTS=1`). The test fails if a
//! screenshot is blank, if pressing Return changes nothing visible, if the bake
//! fails or takes over 60 s, or if the done state lacks the colour markers the
//! editor draws only after a bake (the "after" LTAS curve, the IR curve, the enabled
//! A/B button) or the idle state has them.
//!
//! Skipped (with a message) without Xvfb or jackd, except on CI (`CI=true`), where
//! that is a failure.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The editor's marker colours (exact sRGB, opaque, drawn only after a bake): the
// "after" LTAS curve, the IR magnitude curve, the enabled A/B button's fill.
use faurge_plugin::editor::theme::{AB_ACCENT, AFTER_LTAS, IR_CURVE};

use faurge_editor_tests::{
    binaries, have_tools, processes_in_group, target_dir, workspace_root, HarnessError, Image,
    Jackd, Player, Standalone, Xvfb, X11,
};

/// The standalone's window title.
const TITLE: &str = "Faurge";
/// What the test types into the prompt field.
const PROMPT: &str = "warm radio voice with some reverb";

/// Largest per-channel difference for a pixel to count as a marker colour (covers
/// the core of an anti-aliased 2 px line, not its blended edges).
const TOLERANCE: u8 = 12;
/// Fewest marker pixels of each colour in the done state (a 2 px curve across a
/// plot a few hundred pixels wide has several hundred).
const MIN_MARKER_PIXELS: usize = 150;
/// Most pixels of a curve colour allowed in the idle state: blends of other colours
/// may fall within the tolerance by chance, a drawn curve cannot hide in this.
const MAX_STRAY_PIXELS: usize = 20;
/// Smallest fraction of pixels that differ from the most common colour: below it a
/// screenshot counts as blank.
const MIN_CONTENT: f64 = 0.05;
/// Fewest pixels that must change between the typed and the baking screenshot (a
/// progress line appears).
const MIN_CHANGED_PIXELS: usize = 100;

/// How long the window may take to appear (software GL, debug build, loaded CI).
const WINDOW_LIMIT: Duration = Duration::from_secs(60);
/// How long the bake may take.
const BAKE_LIMIT: Duration = Duration::from_secs(60);
/// When the baking screenshot is taken, after Return: long enough for a frame or
/// two (the editor redraws every 30 ms while baking, and shows "Starting the bake"
/// the moment Return is pressed); if the window has not changed yet (a loaded
/// machine), it is taken again every 30 ms up to `BAKING_LIMIT`. A whole bake can
/// take as little as 0.3 s on an idle machine, so this must be short.
const BAKING_AFTER: Duration = Duration::from_millis(60);
/// The latest time for the baking screenshot, after Return.
const BAKING_LIMIT: Duration = Duration::from_secs(2);

/// `<target>/screenshots`.
fn screenshot_dir() -> PathBuf {
    target_dir().join("screenshots")
}

/// Writes `image` as `<target>/screenshots/<name>.png` and says where.
fn save(name: &str, image: &Image) -> PathBuf {
    let path = screenshot_dir().join(format!("{name}.png"));
    image.write_png(&path).expect("write a screenshot");
    println!(
        "{name}: {}×{} → {}",
        image.width(),
        image.height(),
        path.display()
    );
    path
}

/// Fails unless `image` has content.
fn assert_not_blank(name: &str, image: &Image) {
    let (colour, _) = image.most_common();
    let content = image.content_fraction();
    let colours = image.distinct_colours();
    println!(
        "{name}: {:.1} % of pixels differ from the most common colour {colour:02x?}; {colours} colours",
        100.0 * content
    );
    assert!(
        content >= MIN_CONTENT && colours > 1,
        "the {name} screenshot is blank: only {:.2} % of pixels differ from {colour:02x?}",
        100.0 * content
    );
}

/// Marker pixel counts `[AFTER_LTAS, IR_CURVE, AB_ACCENT]`.
fn markers(image: &Image) -> [usize; 3] {
    [AFTER_LTAS, IR_CURVE, AB_ACCENT].map(|c| image.count_near(c, TOLERANCE))
}

#[test]
fn the_editor_renders_idle_baking_and_done_headless() {
    if !have_tools(&[
        ("Xvfb", "xvfb"),
        ("jackd", "jackd2"),
        ("jack_wait", "jackd2"),
        ("jack_lsp", "jackd2"),
    ]) {
        return;
    }
    let bins = binaries().expect("the standalone and the helper");
    let t0 = Instant::now();
    let xvfb = Xvfb::start(1280, 900).expect("start Xvfb");
    let jackd = Jackd::start(48_000, 512).expect("start jackd");
    let player = Player::start(
        &jackd,
        Path::new(env!("CARGO_BIN_EXE_faurge-jack-player")),
        Path::new(faurge_io::examples::VCTK_SPEECH),
        "faurge-player",
    )
    .expect("start the player");
    let x = X11::connect(&xvfb.display()).expect("connect to Xvfb");
    let mut app =
        Standalone::start(&bins, &xvfb.display(), &jackd, &player.ports()).expect("start");
    let fail = |app: &Standalone, msg: String| -> ! {
        panic!("{msg}\n--- faurge-standalone output ---\n{}", app.output())
    };

    // Its window, and its inputs connected to the player.
    let window = x
        .wait_for_window(TITLE, WINDOW_LIMIT, || {
            app.check_running()?;
            // nice-plug's standalone says so when the plugin has no editor.
            match app.output().contains("No GUI available") {
                true => Err(HarnessError::Failed {
                    what: "the standalone opened no editor (\"No GUI available\")".into(),
                    output: String::new(),
                }),
                false => Ok(()),
            }
        })
        .unwrap_or_else(|e| fail(&app, format!("no window: {e}")));
    let rect = x.geometry(window).expect("window geometry");
    println!(
        "window {TITLE:?} {}×{} at ({}, {}) after {:.1} s",
        rect.width,
        rect.height,
        rect.x,
        rect.y,
        t0.elapsed().as_secs_f32()
    );
    let connected = |jackd: &Jackd| {
        let ports = jackd.connections().expect("jack_lsp");
        player.ports().iter().all(|p| {
            ports
                .iter()
                .any(|(name, peers)| name == p && peers.iter().any(|q| q.starts_with("faurge:")))
        })
    };
    let start = Instant::now();
    while !connected(&jackd) {
        if start.elapsed() > Duration::from_secs(10) {
            fail(
                &app,
                format!(
                    "the player's ports are not connected to the standalone: {:?}",
                    jackd.connections()
                ),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    // Idle: pointer inside the window (focus follows it without a window manager),
    // 2 s of audio through the plugin.
    x.move_pointer(rect.x + 8, rect.y + rect.height as i32 - 8)
        .expect("move the pointer");
    x.focus(window).expect("focus the window");
    std::thread::sleep(Duration::from_secs(2));
    let idle = x.capture_window(window).expect("capture idle");
    save("idle", &idle);

    // The prompt, typed; then Return starts the bake.
    x.type_text(PROMPT).expect("type the prompt");
    std::thread::sleep(Duration::from_millis(300));
    let typed = x.capture_window(window).expect("capture typed");
    save("typed", &typed);
    x.press_return().expect("press Return");
    let pressed = Instant::now();
    std::thread::sleep(BAKING_AFTER);
    let (baking, baking_at, finished_early) = loop {
        // Checked before the capture: a bake that finished after it was taken still
        // left the baking state on screen.
        let finished = app.output().contains("Faurge: Baked:");
        let baking = x.capture_window(window).expect("capture baking");
        let at = pressed.elapsed();
        let changed = baking.diff_count(&typed).expect("same size") >= MIN_CHANGED_PIXELS;
        if changed || finished || at >= BAKING_LIMIT {
            break (baking, at, finished);
        }
        std::thread::sleep(Duration::from_millis(30));
    };
    save("baking", &baking);

    let outcome = app
        .wait_bake(BAKE_LIMIT)
        .unwrap_or_else(|e| fail(&app, format!("no bake outcome: {e}")));
    let bake_s = pressed.elapsed().as_secs_f32();
    match outcome {
        Ok(line) => println!("{line} ({bake_s:.1} s after Return)"),
        Err(line) => fail(&app, format!("the bake failed: {line}")),
    }
    std::thread::sleep(Duration::from_secs(1));
    let done = x.capture_window(window).expect("capture done");
    save("done", &done);

    // Checks.
    for (name, image) in [
        ("idle", &idle),
        ("typed", &typed),
        ("baking", &baking),
        ("done", &done),
    ] {
        assert_not_blank(name, image);
    }
    let typed_change = typed.diff_count(&idle).expect("same size");
    let baking_change = baking.diff_count(&typed).expect("same size");
    println!(
        "pixels changed: typing {typed_change}, Return {baking_change} (baking taken {} ms after Return)",
        baking_at.as_millis()
    );
    assert!(
        typed_change >= MIN_CHANGED_PIXELS,
        "typing {PROMPT:?} changed only {typed_change} pixels: the prompt field did not get the keys"
    );
    assert!(
        !finished_early,
        "the bake finished within {} ms: the baking screenshot shows the done state",
        baking_at.as_millis()
    );
    assert!(
        baking_change >= MIN_CHANGED_PIXELS,
        "Return changed only {baking_change} pixels: no visible baking state"
    );
    let [idle_ltas, idle_ir, idle_ab] = markers(&idle);
    let [done_ltas, done_ir, done_ab] = markers(&done);
    let hex = |c: [u8; 3]| format!("#{:02X}{:02X}{:02X}", c[0], c[1], c[2]);
    println!(
        "marker pixels (±{TOLERANCE}): after-LTAS {} idle {idle_ltas} done {done_ltas}; \
         IR {} idle {idle_ir} done {done_ir}; A/B accent {} idle {idle_ab} done {done_ab}",
        hex(AFTER_LTAS),
        hex(IR_CURVE),
        hex(AB_ACCENT)
    );
    assert!(
        idle_ltas <= MAX_STRAY_PIXELS && idle_ir <= MAX_STRAY_PIXELS,
        "the idle state already shows after-bake curves ({idle_ltas} LTAS, {idle_ir} IR pixels)"
    );
    assert!(
        done_ltas >= MIN_MARKER_PIXELS,
        "the done state lacks the after LTAS curve ({done_ltas} pixels)"
    );
    assert!(
        done_ir >= MIN_MARKER_PIXELS,
        "the done state lacks the IR curve ({done_ir} pixels)"
    );
    assert!(
        done_ab >= idle_ab + MIN_MARKER_PIXELS,
        "the A/B button is not enabled after the bake ({idle_ab} accent pixels idle, {done_ab} done)"
    );

    // Closing the window (as a window manager's close button does) quits the
    // standalone.
    let stopping = Instant::now();
    let group = app.id();
    x.close_window(window).expect("close the window");
    let exit = app.wait_exit(Duration::from_secs(10));
    let (killed, output) = app.stop();
    let closed_in = stopping.elapsed();
    match exit {
        Some(status) => println!(
            "closing the window: the standalone exited ({}) after {:.1} s",
            status.map_or("status unknown".into(), |s| s.to_string()),
            closed_in.as_secs_f32()
        ),
        None => println!("closing the window: the standalone still ran after 10 s ({killed:?} after SIGINT/SIGKILL)"),
    }
    let left = processes_in_group(group);
    assert!(
        left.is_empty(),
        "left running or unreaped after the standalone stopped: {left:?}"
    );
    assert!(
        !output.contains("panicked"),
        "the standalone panicked:\n{output}"
    );
    assert!(
        exit.is_some_and(|s| s.is_some_and(|s| s.success())),
        "closing the window did not quit the standalone cleanly: {exit:?}\n{output}"
    );
    println!("total {:.1} s", t0.elapsed().as_secs_f32());

    if std::env::var("FAURGE_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs).expect("create docs/screenshots");
        for name in ["idle", "baking", "done"] {
            let from = screenshot_dir().join(format!("{name}.png"));
            std::fs::copy(&from, docs.join(format!("{name}.png"))).expect("copy a screenshot");
        }
        println!("copied idle, baking and done to {}", docs.display());
    }
}
