//! Cost of each restoration stage on its own: stereo, 48 kHz, host block 64, 20 s of
//! damaged real speech (pink noise at 15 dB SNR, a click every second, 6 dB of drive into
//! a hard clip), three passes per stage. Prints % of one core (process CPU time over
//! audio time, of the least-disturbed pass) and the p50/p99/max time of one block over
//! all passes, per stage, on and off.
//!
//! `cargo bench -p faurge-dsp --bench restore`

mod support;

use faurge_dsp::restore::{DeEsser, Dehum, Denoiser, Expander, Repair, Restoration};
use faurge_dsp::state::{
    DeEsserState, DeclickState, DeclipState, DehumState, DenoiseState, ExpanderState,
    RestorationState,
};
use support::{damaged_speech, BLOCK, SR};

fn measure(name: &str, input: &[f32], f: impl FnMut(&mut [&mut [f32]])) {
    let m = support::measure(input, f);
    println!(
        "| {name} | {:.3} | {:.5} | {:.1} | {:.1} | {:.1} |",
        100.0 * m.cpu_per_audio_s,
        m.cpu_per_audio_s,
        m.p50_us,
        m.p99_us,
        m.max_us,
    );
}

fn main() {
    let input = damaged_speech(20.0);
    println!(
        "restoration stages, stereo, 48 kHz, B=64 (budget {:.0} µs per block), 20 s of damaged speech:",
        BLOCK as f64 / f64::from(SR) * 1e6
    );
    println!("| stage | % of one core | CPU-s per audio-s | block p50 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|---|");
    let on_clip = DeclipState { enabled: true };
    let on_click = DeclickState {
        enabled: true,
        ..DeclickState::default()
    };
    let mut r = Repair::new(SR, 2);
    r.set_target(&on_clip, &on_click);
    measure("de-clip + de-click (repair)", &input, |c| r.process(c));
    let mut r = Repair::new(SR, 2);
    r.set_target(&on_clip, &DeclickState::default());
    measure("de-clip only", &input, |c| r.process(c));
    let mut r = Repair::new(SR, 2);
    measure("repair off (delay)", &input, |c| r.process(c));
    let mut h = Dehum::new(SR);
    let hum8 = DehumState {
        enabled: true,
        harmonics: 8,
        ..DehumState::default()
    };
    h.snap_to(&hum8);
    measure("hum removal, 8 harmonics", &input, |c| h.process(c));
    let mut d = Denoiser::new(SR, 2);
    d.snap_to(&DenoiseState {
        enabled: true,
        reduction_db: 15.0,
        threshold_db: 0.0,
    });
    measure("noise reduction", &input, |c| d.process(c));
    let mut d = Denoiser::new(SR, 2);
    measure("noise reduction off (tracking + delay)", &input, |c| {
        d.process(c)
    });
    let mut e = Expander::new(SR);
    e.snap_to(&ExpanderState {
        enabled: true,
        threshold_db: -45.0,
        ..ExpanderState::default()
    });
    measure("expander", &input, |c| e.process(c));
    let mut s = DeEsser::new(SR);
    s.snap_to(&DeEsserState {
        enabled: true,
        threshold_db: -35.0,
        ..DeEsserState::default()
    });
    measure("de-esser", &input, |c| s.process(c));
    let mut all = Restoration::new(SR, 2);
    let mut st = RestorationState::default();
    st.declip.enabled = true;
    st.declick.enabled = true;
    st.dehum = hum8;
    st.denoise.enabled = true;
    st.denoise.reduction_db = 15.0;
    st.expander.enabled = true;
    st.expander.threshold_db = -45.0;
    all.snap_to(&st);
    measure("restoration section, all on", &input, |c| all.process(c));
    let mut none = Restoration::new(SR, 2);
    measure("restoration section, all off", &input, |c| none.process(c));
}
