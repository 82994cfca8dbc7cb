//! The harness on its own, without the editor: a window of our own on a private
//! Xvfb is found by title, captured to the exact colour, and receives the keys typed
//! through XTEST; the JACK player's output, recorded by a real JACK client
//! (`jack_rec`), is the shipped recording; servers are gone (reaped) once dropped.

use std::path::Path;
use std::time::Duration;

use faurge_editor_tests::{have_tools, Image, Jackd, Player, TempDir, Xvfb, X11};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, PropMode, WindowClass,
};
use x11rb::protocol::Event;
use x11rb::wrapper::ConnectionExt as _;

/// A colour the test window is filled with (the editor's "after" LTAS marker).
const FILL: [u8; 3] = [0x36, 0xC5, 0xF0];

/// True while `pid` exists (running or a zombie).
fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_window_on_xvfb_is_found_captured_and_typed_into() {
    if !have_tools(&[("Xvfb", "xvfb")]) {
        return;
    }
    let xvfb = Xvfb::start(1280, 900).expect("start Xvfb");
    let x = X11::connect(&xvfb.display()).expect("connect");
    assert_eq!(x.screen_size(), (1280, 900));
    let screen = x.capture_screen().expect("capture the screen");
    assert_eq!((screen.width(), screen.height()), (1280, 900));

    // A 200×100 window at (40, 30) filled with FILL, titled like an application.
    let conn = x.connection();
    let w = conn.generate_id().unwrap();
    let pixel = u32::from_be_bytes([0, FILL[0], FILL[1], FILL[2]]);
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        w,
        x.root(),
        40,
        30,
        200,
        100,
        0,
        WindowClass::INPUT_OUTPUT,
        x11rb::COPY_FROM_PARENT,
        &CreateWindowAux::new()
            .background_pixel(pixel)
            .event_mask(EventMask::KEY_PRESS | EventMask::KEY_RELEASE),
    )
    .unwrap();
    conn.change_property8(
        PropMode::REPLACE,
        w,
        AtomEnum::WM_NAME,
        AtomEnum::STRING,
        b"faurge harness test",
    )
    .unwrap();
    assert!(
        x.find_windows("faurge harness test").unwrap().is_empty(),
        "found before mapped"
    );
    conn.map_window(w).unwrap();
    conn.sync().unwrap();
    let found = x
        .wait_for_window("faurge harness test", Duration::from_secs(5), || Ok(()))
        .expect("find the window by title");
    assert_eq!(found, w);
    let rect = x.geometry(w).unwrap();
    assert_eq!(
        (rect.x, rect.y, rect.width, rect.height),
        (40, 30, 200, 100)
    );

    // The window's own pixels and the same place on the screen are exactly FILL.
    let shot = x.capture_window(w).expect("capture the window");
    assert_eq!((shot.width(), shot.height()), (200, 100));
    assert_eq!(shot.count_near(FILL, 0), 200 * 100);
    assert_eq!(shot.content_fraction(), 0.0, "one colour is blank");
    let screen = x.capture_screen().unwrap();
    assert_eq!(screen.crop(40, 30, 200, 100), shot);
    assert_eq!(
        screen.count_near(FILL, 0),
        200 * 100,
        "FILL outside the window"
    );
    assert!(screen.content_fraction() > 0.01);
    // PNG round trip.
    let tmp = TempDir::new("harness");
    let png = tmp.path("screen.png");
    screen.write_png(&png).unwrap();
    assert_eq!(Image::read_png(&png).unwrap(), screen);

    // Pointer into the window, keys through XTEST: the window receives exactly them.
    let (cx, cy) = rect.centre();
    x.move_pointer(cx, cy).unwrap();
    assert_eq!(x.pointer().unwrap(), (cx, cy));
    x.focus(w).unwrap();
    assert!(
        x.type_text("Warm").is_err(),
        "capitals need Shift: refused before typing"
    );
    x.type_text("warm radio voice").unwrap();
    x.press_return().unwrap();
    let mut typed = String::new();
    let mut returns = 0;
    while let Some(event) = conn.poll_for_event().unwrap() {
        if let Event::KeyPress(k) = event {
            assert_eq!(k.event, w);
            let sym = keysym_of(&x, k.detail);
            if sym == faurge_editor_tests::KEYSYM_RETURN {
                returns += 1;
            } else {
                typed.push(char::from_u32(sym).unwrap());
            }
        }
    }
    assert_eq!((typed.as_str(), returns), ("warm radio voice", 1));

    // Dropping the server stops and reaps it; its display is gone.
    let (pid, display) = (xvfb.id(), xvfb.display());
    drop(x);
    drop(xvfb);
    assert!(!process_exists(pid), "Xvfb {pid} still exists after drop");
    assert!(X11::connect(&display).is_err());
}

/// The unshifted keysym of `keycode` on `x`'s keyboard map.
fn keysym_of(x: &X11, keycode: u8) -> u32 {
    (0x20..=0x7e)
        .chain([faurge_editor_tests::KEYSYM_RETURN])
        .find(|&sym| x.keycode(sym) == Some(keycode))
        .unwrap_or_else(|| panic!("unexpected keycode {keycode}"))
}

#[test]
fn the_player_loops_the_recording_into_jack() {
    if !have_tools(&[
        ("jackd", "jackd2"),
        ("jack_wait", "jackd2"),
        ("jack_lsp", "jackd2"),
        ("jack_rec", "jackd2"),
    ]) {
        return;
    }
    let jackd = Jackd::start(48_000, 512).expect("start jackd");
    let player = Player::start(
        &jackd,
        Path::new(env!("CARGO_BIN_EXE_faurge-jack-player")),
        Path::new(faurge_io::examples::VCTK_SPEECH),
        "faurge-player",
    )
    .expect("start the player");
    let ports = player.ports();
    let listed: Vec<String> = jackd
        .connections()
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for p in &ports {
        assert!(listed.contains(p), "{p} missing from {listed:?}");
    }

    // Record both ports for 2 s with a real JACK client.
    let tmp = TempDir::new("player");
    let wav = tmp.path("rec.wav");
    let mut rec = jackd.command("jack_rec");
    rec.arg("-f")
        .arg(&wav)
        .args(["-d", "2", "-b", "24"])
        .args(&ports);
    let out = rec.output().expect("run jack_rec");
    assert!(out.status.success(), "jack_rec: {out:?}");
    let recorded = faurge_io::read(&wav).expect("read the recording");
    assert_eq!(recorded.sample_rate, 48_000);
    assert_eq!(recorded.num_channels(), 2);
    let (l, r) = (&recorded.channels[0], &recorded.channels[1]);
    assert!(l.len() >= 48_000, "{} frames", l.len());
    assert!(
        l.iter().zip(r).all(|(a, b)| (a - b).abs() < 1e-6),
        "channels differ"
    );

    // The loudest 4096 frames are a stretch of the clip (looped), to 24-bit precision.
    let clip = faurge_io::read(faurge_io::examples::VCTK_SPEECH)
        .unwrap()
        .to_mono();
    const N: usize = 4096;
    let start = (0..l.len() - N)
        .step_by(256)
        .max_by(|&a, &b| energy(&l[a..a + N]).total_cmp(&energy(&l[b..b + N])))
        .unwrap();
    let piece = &l[start..start + N];
    let best = (0..clip.len())
        .map(|k| {
            let err: f64 = piece
                .iter()
                .enumerate()
                .map(|(i, &s)| f64::from(s - clip[(k + i) % clip.len()]).powi(2))
                .sum();
            err / energy(piece)
        })
        .fold(f64::INFINITY, f64::min);
    println!(
        "player vs clip: relative error {best:.2e} (best alignment of the loudest {N} frames)"
    );
    assert!(
        best < 1e-6,
        "the recording is not the clip: relative error {best:.2e}"
    );

    let said = player.stop();
    let played: u64 = said
        .lines()
        .find_map(|l| {
            l.strip_prefix("played ")?
                .strip_suffix(" frames")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("the player did not say how much it played:\n{said}"));
    assert!(played >= 2 * 48_000, "played {played} frames");

    let pid = jackd.id();
    drop(jackd);
    assert!(!process_exists(pid), "jackd {pid} still exists after drop");
}

/// Σ x².
fn energy(x: &[f32]) -> f64 {
    x.iter().map(|&s| f64::from(s).powi(2)).sum()
}
