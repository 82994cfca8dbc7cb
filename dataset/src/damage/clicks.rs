//! The clicks family: impulsive interference — clock pops from a USB interface,
//! random clicks, crackle, single-sample spikes and DC steps ("boops").
//!
//! Amplitudes are relative to the input's sample peak `P` over all channels (full
//! scale for a silent input). The same events land on every channel. The table
//! holds for the added pulses of [`Templates`] (and the held-out implementation);
//! [`StreamFaults`] documents its own severities.
//!
//! | kind | drawn at strength `s` (0..=1); `A = P·10^(L/20)` |
//! |---|---|
//! | [`Kind::PeriodicClicks`] | `L = −30 + 30·s` dB; one click every 0.25–2 s (log-uniform) |
//! | [`Kind::RandomClicks`] | `L = −30 + 30·s` dB (each click 0–10 dB below); Poisson, 0.5–5 per second |
//! | [`Kind::Crackle`] | `L = −36 + 30·s` dB (each pop 0–20 dB below); Poisson, 20–300 per second |
//! | [`Kind::Spikes`] | `L = −24 + 24·s` dB; Poisson, 1–10 per second |
//! | [`Kind::DcBoops`] | `L = −30 + 30·s` dB; Poisson, 0.2–2 per second |

use std::f64::consts::PI;

use faurge_dsp::degrade::{Degradation, DegradationKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::util::{self, log_uniform, r2, random_sign, uniform};
use super::{Damage, DamageError, Family, Kind, Recordings, Rendered};

/// The kinds of the clicks family.
pub const CLICK_KINDS: [Kind; 5] = [
    Kind::PeriodicClicks,
    Kind::RandomClicks,
    Kind::Crackle,
    Kind::Spikes,
    Kind::DcBoops,
];

/// Peak level of `kind`'s events at strength `s`, dB re the input's sample peak.
pub fn level_db(kind: Kind, s: f64) -> f64 {
    match kind {
        Kind::Crackle => -36.0 + 30.0 * s,
        Kind::Spikes => -24.0 + 24.0 * s,
        _ => -30.0 + 30.0 * s,
    }
}

/// Event times of a Poisson process of `rate` per second over `n` samples, in samples.
pub fn poisson_times(rng: &mut ChaCha8Rng, rate: f64, n: usize, sr: f64) -> Vec<usize> {
    let mut t = 0.0;
    let mut out = Vec::new();
    if rate <= 0.0 {
        return out;
    }
    loop {
        let u: f64 = 1.0 - rng.gen::<f64>();
        t += -u.ln() / rate;
        let i = (t * sr) as usize;
        if i >= n {
            return out;
        }
        out.push(i);
    }
}

/// The input's sample peak, or 1 (full scale) for silence.
pub fn reference_peak(audio: &[&mut [f32]]) -> f64 {
    let p = util::peak(audio);
    if p > 0.0 {
        p
    } else {
        1.0
    }
}

/// Adds `wave` starting at each of `times` to every channel (clipped at the end).
pub fn add_events(audio: &mut [&mut [f32]], events: &[(usize, Vec<f64>)]) {
    for c in audio.iter_mut() {
        let len = c.len();
        for (t, w) in events {
            if *t >= len {
                continue;
            }
            for (v, x) in c[*t..].iter_mut().zip(w) {
                *v = (f64::from(*v) + x) as f32;
            }
        }
    }
}

/// A click shape of [`Templates`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// `cos(2πft)·e^(−t/τ)`: starts at its peak, rings.
    DampedSine { freq_hz: f64, decay_ms: f64 },
    /// `+1, −1` on two adjacent samples.
    Doublet,
    /// A constant offset for `len_ms`, then back to 0 (two steps).
    Glitch { len_ms: f64 },
}

impl Shape {
    fn draw(rng: &mut ChaCha8Rng, sr: f64) -> Shape {
        match rng.gen_range(0..3) {
            0 => Shape::DampedSine {
                freq_hz: util::clamp_freq(log_uniform(rng, 300.0, 4000.0), sr),
                decay_ms: log_uniform(rng, 0.5, 5.0),
            },
            1 => Shape::Doublet,
            _ => Shape::Glitch {
                len_ms: log_uniform(rng, 2.0, 8.0),
            },
        }
    }

    fn wave(self, amp: f64, sr: f64) -> Vec<f64> {
        match self {
            Shape::DampedSine { freq_hz, decay_ms } => {
                let tau = decay_ms * 1e-3 * sr;
                let len = (tau * 8.0).ceil() as usize + 1;
                (0..len)
                    .map(|n| {
                        let t = n as f64 / sr;
                        amp * (2.0 * PI * freq_hz * t).cos() * (-(n as f64) / tau).exp()
                    })
                    .collect()
            }
            Shape::Doublet => vec![amp, -amp],
            Shape::Glitch { len_ms } => vec![amp; ((len_ms * 1e-3 * sr).round() as usize).max(1)],
        }
    }

    fn params(self) -> serde_json::Value {
        match self {
            Shape::DampedSine { freq_hz, decay_ms } => {
                json!({"shape": "damped_sine", "freq_hz": r2(freq_hz), "decay_ms": r2(decay_ms)})
            }
            Shape::Doublet => json!({"shape": "doublet"}),
            Shape::Glitch { len_ms } => json!({"shape": "glitch", "len_ms": r2(len_ms)}),
        }
    }
}

/// Training implementation: analytic click templates added at drawn times.
///
/// Shapes ([`Kind::PeriodicClicks`], [`Kind::RandomClicks`]): a damped sine
/// starting at its peak (300–4000 Hz, decay 0.5–5 ms), a doublet (+A, −A on two
/// samples) or a rectangular glitch (an offset for 2–8 ms, a lost buffer's
/// worth; shorter glitches hide both of their edges from the purity click
/// detector, whose context is ±2 ms); one shape for all periodic
/// clicks, one per random click, random polarity per random click.
/// [`Kind::Crackle`]: damped sines of 1–6 kHz decaying in 0.1–0.5 ms or doublets,
/// random polarity. [`Kind::Spikes`]: one-sample impulses. [`Kind::DcBoops`]: DC
/// steps decaying exponentially with τ = 20–300 ms (a coupling capacitor
/// recovering), random polarity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Templates;

impl Damage for Templates {
    fn id(&self) -> &'static str {
        "clicks/templates"
    }
    fn family(&self) -> Family {
        Family::Clicks
    }
    fn kinds(&self) -> &'static [Kind] {
        &CLICK_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "analytic click templates (damped sine, doublet, glitch, spike, decaying DC step) at periodic or Poisson times"
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let sr = sample_rate;
        let n = audio.iter().map(|c| c.len()).max().unwrap_or(0);
        let level = level_db(kind, strength);
        let amp = reference_peak(audio) * 10f64.powf(level / 20.0);
        let mut events: Vec<(usize, Vec<f64>)> = Vec::new();
        let params = match kind {
            Kind::PeriodicClicks => {
                let interval = log_uniform(rng, 0.25, 2.0);
                let first = uniform(rng, 0.0, interval);
                let shape = Shape::draw(rng, sr);
                let polarity = random_sign(rng);
                let w = shape.wave(polarity * amp, sr);
                let mut k = 0.0;
                loop {
                    let t = ((first + k * interval) * sr).round() as usize;
                    if t >= n {
                        break;
                    }
                    events.push((t, w.clone()));
                    k += 1.0;
                }
                json!({"level_db": r2(level), "interval_s": r2(interval), "first_s": r2(first), "click": shape.params()})
            }
            Kind::RandomClicks => {
                let rate = log_uniform(rng, 0.5, 5.0);
                for t in poisson_times(rng, rate, n, sr) {
                    let shape = Shape::draw(rng, sr);
                    let a = amp * 10f64.powf(-uniform(rng, 0.0, 10.0) / 20.0) * random_sign(rng);
                    events.push((t, shape.wave(a, sr)));
                }
                json!({"level_db": r2(level), "rate_per_s": r2(rate)})
            }
            Kind::Crackle => {
                let rate = log_uniform(rng, 20.0, 300.0);
                for t in poisson_times(rng, rate, n, sr) {
                    let a = amp * 10f64.powf(-uniform(rng, 0.0, 20.0) / 20.0) * random_sign(rng);
                    let shape = if rng.gen_bool(0.7) {
                        Shape::DampedSine {
                            freq_hz: util::clamp_freq(log_uniform(rng, 1000.0, 6000.0), sr),
                            decay_ms: log_uniform(rng, 0.1, 0.5),
                        }
                    } else {
                        Shape::Doublet
                    };
                    events.push((t, shape.wave(a, sr)));
                }
                json!({"level_db": r2(level), "rate_per_s": r2(rate)})
            }
            Kind::Spikes => {
                let rate = log_uniform(rng, 1.0, 10.0);
                for t in poisson_times(rng, rate, n, sr) {
                    events.push((t, vec![amp * random_sign(rng)]));
                }
                json!({"level_db": r2(level), "rate_per_s": r2(rate)})
            }
            _ => {
                let rate = log_uniform(rng, 0.2, 2.0);
                let tau_ms = log_uniform(rng, 20.0, 300.0);
                let tau = tau_ms * 1e-3 * sr;
                let len = (tau * 7.0).ceil() as usize + 1;
                for t in poisson_times(rng, rate, n, sr) {
                    let a = amp * random_sign(rng);
                    events.push((t, (0..len).map(|i| a * (-(i as f64) / tau).exp()).collect()));
                }
                json!({"level_db": r2(level), "rate_per_s": r2(rate), "decay_ms": r2(tau_ms)})
            }
        };
        let count = events.len();
        add_events(audio, &events);
        let mut params = params;
        params["events"] = json!(count);
        Ok(Rendered {
            label: format!("{}: {count} at {level:.1} dB re peak", kind.label()),
            params,
        })
    }
}

/// Training implementation: faults of the sample stream itself rather than added
/// pulses — what a USB interface does when a buffer is late or a sample corrupt.
/// Severity at strength `s`:
///
/// - [`Kind::PeriodicClicks`]: every 0.25–2 s (log-uniform) a block of
///   `0.2 + 4.8·s` ms × 0.7–1.4 is lost: zeroed (a dropout) or, with probability
///   0.5, replaced by a repeat of the block before it (a re-sent buffer).
/// - [`Kind::RandomClicks`]: the same blocks at Poisson times, 0.5–5 per second.
/// - [`Kind::Crackle`]: `20 + 280·s` per second (Poisson) runs of 1–4 zeroed samples.
/// - [`Kind::Spikes`]: single samples replaced by `±(0.1 + 0.9·s)·P`
///   (corrupt words), Poisson 1–10 per second.
/// - [`Kind::DcBoops`]: a DC offset of `P·10^((−30 + 30·s)/20)` switched on for
///   20–300 ms and off again (a bias that jumps), Poisson 0.2–2 per second.
///
/// The same faults on every channel.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamFaults;

/// Replaces `len` samples at `t` by zeros, or by the `len` samples before them.
fn lose_block(audio: &mut [&mut [f32]], t: usize, len: usize, repeat: bool) {
    for c in audio.iter_mut() {
        let end = (t + len).min(c.len());
        for i in t..end {
            c[i] = if repeat && i >= len { c[i - len] } else { 0.0 };
        }
    }
}

impl Damage for StreamFaults {
    fn id(&self) -> &'static str {
        "clicks/stream_faults"
    }
    fn family(&self) -> Family {
        Family::Clicks
    }
    fn kinds(&self) -> &'static [Kind] {
        &CLICK_KINDS
    }
    fn algorithm(&self) -> &'static str {
        "faults of the sample stream: lost or repeated buffers, zeroed samples, corrupt words, DC bias jumps"
    }
    fn render(
        &self,
        kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let sr = sample_rate;
        let n = audio.iter().map(|c| c.len()).max().unwrap_or(0);
        let p = reference_peak(audio);
        let block_ms = 0.2 + 4.8 * strength;
        let mut count = 0usize;
        let params = match kind {
            Kind::PeriodicClicks | Kind::RandomClicks => {
                let times = if kind == Kind::PeriodicClicks {
                    let interval = log_uniform(rng, 0.25, 2.0);
                    let first = uniform(rng, 0.0, interval);
                    let mut v = Vec::new();
                    let mut t = first;
                    while ((t * sr) as usize) < n {
                        v.push((t * sr) as usize);
                        t += interval;
                    }
                    v
                } else {
                    let rate = log_uniform(rng, 0.5, 5.0);
                    poisson_times(rng, rate, n, sr)
                };
                let repeat = rng.gen_bool(0.5);
                for &t in &times {
                    let len = ((block_ms * uniform(rng, 0.7, 1.4) * 1e-3 * sr) as usize).max(1);
                    lose_block(audio, t, len, repeat);
                }
                count = times.len();
                let period = if times.len() > 1 {
                    (times[1] - times[0]) as f64 / sr
                } else {
                    0.0
                };
                json!({"block_ms": r2(block_ms), "repeat": repeat, "first_interval_s": r2(period)})
            }
            Kind::Crackle => {
                let rate = 20.0 + 280.0 * strength;
                for t in poisson_times(rng, rate, n, sr) {
                    lose_block(audio, t, rng.gen_range(1..=4), false);
                    count += 1;
                }
                json!({"rate_per_s": r2(rate)})
            }
            Kind::Spikes => {
                let rate = log_uniform(rng, 1.0, 10.0);
                let a = (0.1 + 0.9 * strength) * p;
                for t in poisson_times(rng, rate, n, sr) {
                    let v = (a * random_sign(rng)) as f32;
                    for c in audio.iter_mut() {
                        if let Some(x) = c.get_mut(t) {
                            *x = v;
                        }
                    }
                    count += 1;
                }
                json!({"rate_per_s": r2(rate), "spike": r2(a / p)})
            }
            _ => {
                let rate = log_uniform(rng, 0.2, 2.0);
                let level = level_db(kind, strength);
                let a = p * 10f64.powf(level / 20.0);
                let mut events = Vec::new();
                for t in poisson_times(rng, rate, n, sr) {
                    let len = (log_uniform(rng, 20.0, 300.0) * 1e-3 * sr) as usize;
                    events.push((t, vec![a * random_sign(rng); len.max(1)]));
                }
                count = events.len();
                add_events(audio, &events);
                json!({"rate_per_s": r2(rate), "level_db": r2(level)})
            }
        };
        let mut params = params;
        params["events"] = json!(count);
        Ok(Rendered {
            params,
            label: format!("{}: {count} stream faults", kind.label()),
        })
    }
}

/// Training implementation: `faurge_dsp::degrade`'s clock pops
/// ([`Degradation::Pops`], drawn by [`Degradation::random`] at the same strength):
/// a decaying DC click (1–5 ms) or a tone burst (150–600 Hz, 10–40 ms) exactly
/// once a second, peak `−30 + 30·s` dB re the signal peak. Periodic clicks only.
#[derive(Clone, Copy, Debug, Default)]
pub struct DegradePops;

impl Damage for DegradePops {
    fn id(&self) -> &'static str {
        "clicks/degrade_pops"
    }
    fn family(&self) -> Family {
        Family::Clicks
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::PeriodicClicks]
    }
    fn algorithm(&self) -> &'static str {
        "faurge_dsp::degrade pops: a decaying DC click or a tone burst exactly once a second"
    }
    fn render(
        &self,
        _kind: Kind,
        strength: f64,
        audio: &mut [&mut [f32]],
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
        _recordings: &Recordings,
    ) -> Result<Rendered, DamageError> {
        let d = Degradation::random(DegradationKind::Pops, rng, strength as f32);
        // Only fails for a bad rate, which apply_damage has checked.
        let _ = d.apply(audio, sample_rate as f32, 0);
        Ok(Rendered {
            params: serde_json::to_value(&d).unwrap_or_default(),
            label: format!(
                "periodic_clicks: pops every 1 s at {:.1} dB re peak",
                level_db(Kind::PeriodicClicks, strength)
            ),
        })
    }
}
