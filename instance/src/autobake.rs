//! Auto-bake's decision, made on the audio thread from cheap running counters of the
//! raw input (shared by the CLAP/VST3 and LV2 builds).

/// Auto-bake: analysis window, seconds.
pub const AUTO_BAKE_WINDOW_S: f32 = 1.0;
/// Auto-bake: a window this far (dB) from the reference level counts as changed.
pub const AUTO_BAKE_LEVEL_DB: f32 = 6.0;
/// Auto-bake: a zero-crossing rate this many octaves from the reference counts as changed.
pub const AUTO_BAKE_ZCR_OCTAVES: f32 = 0.5;
/// Auto-bake: consecutive changed (or, at first, non-silent) windows needed.
pub const AUTO_BAKE_WINDOWS: u32 = 3;
/// Auto-bake: least time between two automatic requests, seconds.
pub const AUTO_BAKE_MIN_GAP_S: f32 = 10.0;
/// Auto-bake: windows quieter than this (dBFS mean square) are ignored.
pub const AUTO_BAKE_SILENCE_DB: f32 = -55.0;

/// Decides on the audio thread, with a running mean square and zero-crossing count
/// of the raw input, when the input "has changed character" enough to bake again:
/// its level moved by [`AUTO_BAKE_LEVEL_DB`] or its zero-crossing rate (a brightness
/// proxy) by [`AUTO_BAKE_ZCR_OCTAVES`] for [`AUTO_BAKE_WINDOWS`] windows in a row,
/// at most once per [`AUTO_BAKE_MIN_GAP_S`]. The first request comes after
/// [`AUTO_BAKE_WINDOWS`] non-silent windows. A few flops per sample; no allocation.
pub struct AutoBake {
    window: usize,
    n: usize,
    sum_sq: f64,
    crossings: u32,
    last_positive: bool,
    reference: Option<(f32, f32)>,
    strikes: u32,
    since_request: u64,
    min_gap: u64,
}

impl AutoBake {
    /// A detector for input at `sample_rate` Hz, with no reference yet.
    pub fn new(sample_rate: f32) -> Self {
        AutoBake {
            window: (AUTO_BAKE_WINDOW_S * sample_rate).max(1.0) as usize,
            n: 0,
            sum_sq: 0.0,
            crossings: 0,
            last_positive: false,
            reference: None,
            strikes: 0,
            since_request: u64::MAX / 2,
            min_gap: (AUTO_BAKE_MIN_GAP_S * sample_rate) as u64,
        }
    }

    /// Feeds raw input (channel 0); true when a bake should be requested.
    pub fn feed(&mut self, x: &[f32]) -> bool {
        let mut request = false;
        self.since_request = self.since_request.saturating_add(x.len() as u64);
        for &v in x {
            let v = if v.is_finite() { v } else { 0.0 };
            self.sum_sq += f64::from(v * v);
            let positive = v > 0.0;
            if positive != self.last_positive {
                self.crossings += 1;
                self.last_positive = positive;
            }
            self.n += 1;
            if self.n >= self.window {
                request |= self.end_window();
            }
        }
        request
    }

    fn end_window(&mut self) -> bool {
        let db = 10.0 * ((self.sum_sq / self.n as f64) as f32 + 1e-12).log10();
        let zcr = (self.crossings as f32 / self.n as f32).max(1e-6);
        self.n = 0;
        self.sum_sq = 0.0;
        self.crossings = 0;
        if db < AUTO_BAKE_SILENCE_DB {
            self.strikes = 0;
            return false;
        }
        let changed = match self.reference {
            None => true,
            Some((ref_db, ref_zcr)) => {
                (db - ref_db).abs() > AUTO_BAKE_LEVEL_DB
                    || (zcr / ref_zcr).log2().abs() > AUTO_BAKE_ZCR_OCTAVES
            }
        };
        self.strikes = if changed { self.strikes + 1 } else { 0 };
        if self.strikes >= AUTO_BAKE_WINDOWS && self.since_request >= self.min_gap {
            self.reference = Some((db, zcr));
            self.strikes = 0;
            self.since_request = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts requests while feeding `seconds` of `signal(t)` in 256-frame blocks.
    fn feed(ab: &mut AutoBake, rate: f32, seconds: f32, signal: impl Fn(f32) -> f32) -> usize {
        let n = (seconds * rate) as usize;
        let x: Vec<f32> = (0..n).map(|i| signal(i as f32 / rate)).collect();
        x.chunks(256).filter(|b| ab.feed(b)).count()
    }

    #[test]
    fn requests_once_for_new_input_and_again_only_after_a_lasting_change() {
        let rate = 48_000.0;
        let mut ab = AutoBake::new(rate);
        let tone = |gain: f32, hz: f32| move |t: f32| gain * (std::f32::consts::TAU * hz * t).sin();
        // Silence never bakes.
        assert_eq!(feed(&mut ab, rate, 5.0, |_| 0.0), 0);
        // New input: one request after three windows, then none while it stays alike.
        assert_eq!(feed(&mut ab, rate, 3.5, tone(0.1, 200.0)), 1);
        assert_eq!(feed(&mut ab, rate, 12.0, tone(0.1, 200.0)), 0);
        // A short level jump (1 s: at most two windows) is not a change of character.
        assert_eq!(feed(&mut ab, rate, 1.0, tone(0.5, 200.0)), 0);
        assert_eq!(feed(&mut ab, rate, 2.0, tone(0.1, 200.0)), 0);
        // A lasting 14 dB jump is.
        assert_eq!(feed(&mut ab, rate, 4.0, tone(0.5, 200.0)), 1);
        // So is a lasting change of brightness (zero-crossing rate 4x), but not
        // within 10 s of the last request.
        assert_eq!(feed(&mut ab, rate, 4.0, tone(0.5, 800.0)), 0);
        assert_eq!(feed(&mut ab, rate, 8.0, tone(0.5, 800.0)), 1);
        // Non-finite input is ignored, not a crash.
        assert_eq!(feed(&mut ab, rate, 1.0, |_| f32::NAN), 0);
    }
}
