//! The de-clicker on clicks that came through a resonance (a cable, a capsule, a
//! converter's coupling): the edge is followed by milliseconds of ringing, which a
//! repair that bridges only the edge leaves in. On the shipped speech clip.

mod support;

use faurge_dsp::restore::repair::{max_click_samples, max_gap_samples};

const RATE: f32 = 48_000.0;

/// The shipped VCTK clip at 48 kHz, mono, scaled to peak at 0.5.
fn speech() -> Vec<f32> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/clean_vctk_p236_023.wav"
    );
    let s = faurge_io::read(path).unwrap().to_mono();
    let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    s.iter().map(|v| 0.5 * v / peak).collect()
}

/// An impulse of `amp` plus its response through a two-pole resonance at `hz` with
/// quality `q` (time constant `q / (π·hz)`) and gain `ring`: `len` samples.
fn ringing_click(amp: f32, hz: f32, q: f32, ring: f32, len: usize) -> Vec<f32> {
    let r = (-std::f32::consts::PI * hz / q / RATE).exp();
    let (a1, a2) = (2.0 * r * (std::f32::consts::TAU * hz / RATE).cos(), -r * r);
    let (mut y1, mut y2) = (0.0f32, 0.0f32);
    (0..len)
        .map(|n| {
            let x = if n == 0 { 1.0 } else { 0.0 };
            let y = (1.0 - r) * x + a1 * y1 + a2 * y2;
            (y2, y1) = (y1, y);
            amp * (x + ring * y)
        })
        .collect()
}

/// De-clicks `x` (de-clipper off): the output aligned with the input and the clicks
/// found.
fn declick(x: &[f32]) -> (Vec<f32>, u64) {
    let (out, stats) = support::run_repair(x, RATE, false, true);
    (out, stats.clicks)
}

/// Error energy against `clean` over the spans `onset − 2 .. onset + len`.
fn error_in(y: &[f32], clean: &[f32], onsets: &[usize], len: usize) -> f64 {
    onsets
        .iter()
        .flat_map(|&o| o - 2..(o + len).min(y.len()))
        .map(|i| f64::from(y[i] - clean[i]).powi(2))
        .sum()
}

/// `clean` with `event` added at each of `onsets`.
fn with_events(clean: &[f32], onsets: &[usize], event: &[f32]) -> Vec<f32> {
    let mut x = clean.to_vec();
    for &o in onsets {
        for (v, e) in x[o..].iter_mut().zip(event) {
            *v += e;
        }
    }
    x
}

/// How far the error against `clean` over `onset − 2 .. onset + span` fell from
/// `damaged` to `out`, dB, at the onsets in the pauses (the clean signal's RMS over the
/// 20 ms around the onset under −50 dBFS) and at those in speech: `(in pauses, how
/// many, in speech, how many)`.
fn falls_db(
    out: &[f32],
    damaged: &[f32],
    clean: &[f32],
    onsets: &[usize],
    span: usize,
) -> (f64, usize, f64, usize) {
    let level_db = |o: usize| {
        let w = &clean[o - 480..o + 480];
        10.0 * (w.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / w.len() as f64).log10()
    };
    let (quiet, voiced): (Vec<usize>, Vec<usize>) =
        onsets.iter().partition(|&&o| level_db(o) < -50.0);
    let fall = |at: &[usize]| {
        10.0 * (error_in(out, clean, at, span) / error_in(damaged, clean, at, span)).log10()
    };
    (fall(&quiet), quiet.len(), fall(&voiced), voiced.len())
}

#[test]
fn ringing_clicks_are_bridged_to_the_end_of_their_ringing() {
    let clean = speech();
    // Ringing at 800 Hz with Q 8: a time constant of 3.2 ms, so it lasts well past the
    // 2 ms that bridge a clipped run.
    let span = (0.006 * RATE) as usize;
    let click = ringing_click(0.25, 800.0, 8.0, 2.0, span);
    assert!(max_click_samples(RATE) > 2 * max_gap_samples(RATE));
    let onsets: Vec<usize> = (1..)
        .map(|k| k * 12_007)
        .take_while(|&o| o + span < clean.len())
        .collect();
    let clicky = with_events(&clean, &onsets, &click);
    let (out, found) = declick(&clicky);
    assert!(
        found as usize >= onsets.len() * 3 / 4,
        "{found} of {}",
        onsets.len()
    );
    // Clicks in the pauses (the clean signal's RMS over the 20 ms around the onset
    // under −50 dBFS), where the whole ringing is heard, and the others, where the
    // voice masks its tail and the bridge ends sooner: where the prediction error is
    // back under 3× the voice's own (the voice's model, with a formant near the
    // resonance, predicts much of the ringing).
    let (in_pauses, quiet, in_speech, voiced) = falls_db(&out, &clicky, &clean, &onsets, span);
    println!(
        "{} clicks, {found} found; error over 6 ms from each onset: {in_pauses:.1} dB in {quiet} in pauses, {in_speech:.1} dB in {voiced} in speech",
        onsets.len(),
    );
    assert!(quiet >= 3 && voiced >= 10);
    // Bridging 2 ms, as a clipped run, leaves the ringing: about −7 dB in the pauses.
    assert!(in_pauses < -12.0, "{in_pauses:.1} dB in the pauses");
    assert!(in_speech < -3.0, "{in_speech:.1} dB in speech");
    // Outside the clicks the speech is what it was.
    let mut outside = out.clone();
    let mut reference = clean.clone();
    for &o in &onsets {
        for i in o - 2..o + span {
            outside[i] = 0.0;
            reference[i] = 0.0;
        }
    }
    let snr = support::snr_db(&reference, &outside);
    assert!(
        snr > 40.0,
        "speech outside the clicks changed: SNR {snr:.1} dB"
    );
}

/// A DC offset of `amp` held for `hold` samples — a switch, a relay, a plug's contact —
/// with edges rounded by a one-pole low-pass at 4 kHz, through a coupling capacitor
/// at 60 Hz (which turns each edge into a decaying step): `len` samples.
fn held_pulse(amp: f32, hold: usize, len: usize) -> Vec<f32> {
    let a = (-std::f32::consts::TAU * 4_000.0 / RATE).exp();
    let mut state = 0.0f32;
    let mut x: Vec<f32> = (0..len)
        .map(|n| {
            let v = if n < hold { amp } else { 0.0 };
            state = (1.0 - a) * v + a * state;
            state
        })
        .collect();
    support::dc_block(&mut x, 60.0, RATE);
    x
}

/// Held pulses of 2.5 ms (shorter than the click test's window, so each edge raises
/// the other's background) and of 7 ms, on the shipped clip from its second second on
/// (a pulse louder than anything before it reads as a clipped plateau, which the
/// de-clicker leaves to the de-clipper): each edge is a decaying step, fitted to the
/// signal and subtracted with its tail; the edges' heads are interpolated. Where the
/// voice is loud under the pulse less of it goes (the step must stand out of it).
#[test]
fn held_pulses_through_a_coupling_capacitor_are_removed_with_their_tails() {
    let clean = speech();
    // The clean clip alone: nothing to find (its few natural transients excepted).
    let (untouched, _) = declick(&clean);
    let clean_snr = support::snr_db(&clean, &untouched);
    assert!(
        clean_snr > 60.0,
        "clean speech changed: SNR {clean_snr:.1} dB"
    );
    for hold_ms in [2.5, 7.0] {
        let hold = (hold_ms * 1e-3 * RATE) as usize;
        let span = hold + (0.02 * RATE) as usize;
        let pulse = held_pulse(0.3, hold, span);
        let onsets: Vec<usize> = (1..)
            .map(|k| 48_000 + k * 7_919)
            .take_while(|&o| o + span < clean.len())
            .collect();
        let clicky = with_events(&clean, &onsets, &pulse);
        let (out, found) = declick(&clicky);
        let (in_pauses, quiet, in_speech, voiced) = falls_db(&out, &clicky, &clean, &onsets, span);
        println!(
            "{hold_ms} ms pulses: {} of them, {found} edges found; error over the pulse and 20 ms after: {in_pauses:.1} dB in {quiet} in pauses, {in_speech:.1} dB in {voiced} in speech",
            onsets.len(),
        );
        assert!(quiet >= 2 && voiced >= 10);
        // Before the step was fitted to the signal and a second edge ended its window:
        // 2.5 ms pulses 0.0 / 0.0 dB (no edge found), 7 ms −5.8 / −1.3 dB.
        assert!(
            in_pauses < -20.0,
            "{hold_ms} ms: {in_pauses:.1} dB in the pauses"
        );
        assert!(
            in_speech < -1.0,
            "{hold_ms} ms: {in_speech:.1} dB in speech"
        );
    }
}

/// A voice's own pulses are left alone: this VCTK reader's creaky voice (vocal fry) has
/// pairs of same-signed glottal pulses 2.7 ms apart, each of which raises the other's
/// background like the two ends of a held pulse; only edges of opposite directions are
/// tested again without the other (with any two edges, this recording lost 0.3 of
/// wide-band PESQ to interpolated pulses).
#[test]
fn a_creaky_voice_keeps_its_pulses() {
    let Some(data) = support::shared_data("a_creaky_voice_keeps_its_pulses") else {
        return;
    };
    let audio = faurge_io::read(data.join("speech/vctk/p244_023.wav")).unwrap();
    let speech = faurge_io::resample(&[audio.to_mono()], audio.sample_rate, RATE as u32)
        .unwrap()
        .remove(0);
    let (out, found) = declick(&speech);
    let snr = support::snr_db(&speech, &out);
    println!("{found} clicks found, SNR {snr:.1} dB");
    assert!(
        snr > 50.0,
        "the voice changed: SNR {snr:.1} dB ({found} clicks)"
    );
}
