//! Which restoration stages the loop switches on, and how hard, from what the
//! snapshot shows (its restoration measurements), what the prompt asks (its goals)
//! and what Fabian's restoration head says; and the words the report uses for them.
//!
//! A stage the prompt asks for by name ("no clicks", "remove the noise") is switched
//! on whatever the measurements say, except hum removal, which needs the hum's
//! frequency from the measurement (and, where it finds hum, answers a request to
//! remove noise in place of the broadband reduction when no other floor shows). A repair ("fix my mic") switches a stage on
//! only where the snapshot shows the fault the stage removes — beyond the thresholds
//! below — and Fabian's head agrees or the fault is plain. A clean recording gets no
//! restoration at all. After the first shadow bake [`Decision::verify`] turns off a
//! stage that did not improve its own measurement.

use faurge_dsp::analysis::purity::{Reflection, ReflectionEstimate};
use faurge_dsp::analysis::restoration::RestorationMetrics;
use faurge_dsp::state::{
    DeEsserState, DehumState, DspState, RestorationState, MAX_DEHUM_FREQ_HZ,
    MAX_DENOISE_REDUCTION_DB, MIN_DEHUM_FREQ_HZ,
};
use faurge_vocabulary::intent::{Goal, Intent};

use crate::models::{FabianOutput, RESTORE_FAMILIES};

/// A repair reduces noise when the speech-to-noise ratio is below this, dB: a
/// floor 30 dB under the voice is audible between phrases on headphones.
pub const REPAIR_SNR_DB: f32 = 30.0;
/// Below this SNR the noise is plain and the stage goes on without Fabian's
/// agreement, dB.
pub const PLAIN_NOISE_SNR_DB: f32 = 20.0;
/// The SNR a repair aims at, dB: the reduction is this minus the measured SNR.
pub const REPAIR_TARGET_SNR_DB: f32 = 40.0;
/// Least and most noise reduction a repair sets, dB.
pub const REPAIR_REDUCTION_DB: (f32, f32) = (6.0, 20.0);
/// A repair de-clicks at this many detected clicks per second or more: above the
/// detector's rate on clean speech, the descriptor table's `reference` of `clicks`
/// (a test keeps the two equal).
pub const REPAIR_CLICKS_PER_S: f32 = 0.3;
/// A repair de-clips at this many clipped runs or more …
pub const REPAIR_CLIPPED_RUNS: u32 = 3;
/// … covering at least this share of the samples.
pub const REPAIR_CLIPPED_FRACTION: f32 = 1e-4;
/// A repair de-esses when sibilants stand out of the voice by more than this, dB
/// (sibilant band level minus the active speech level), and Fabian's restoration
/// head reads some damage in the recording … Measured with `faurge measure` over
/// the 251 recordings with sibilants of the project's speech corpus (LibriSpeech and
/// VCTK readers): median −8.6 dB, 75th percentile −4.7, 90th −0.7, 95th +0.6. This
/// is about the median: on its own it would de-ess every other ordinary voice.
pub const REPAIR_SIBILANCE_DB: f32 = -8.0;
/// … or by more than this whatever Fabian reads: sibilants louder than the voice
/// itself, which nine in ten ordinary voices are not.
pub const PLAIN_SIBILANCE_DB: f32 = 0.0;
/// De-esser range per unit of a "less sibilant" request, dB.
pub const DEESS_DB_PER_UNIT: f32 = 4.0;
/// De-click sensitivity when clicks are asked away by name, percent (clicks 10× the
/// local prediction error; the default 50 % finds those 20× above).
pub const ASKED_DECLICK_SENSITIVITY_PCT: f32 = 75.0;

/// A cancelled reflection stays only where the render's fitted gain at its delay
/// fell to at most this share of the input's.
pub const REFLECTION_VERIFY_SHARE: f64 = 0.5;

/// Hum removal stays on only where the hum's prominence fell by at least this, dB.
pub const HUM_VERIFY_DB: f32 = 6.0;

/// A repair's noise reduction stays on only where it raised the measured
/// speech-to-noise ratio by at least this share of the reduction it was set to …
/// Stationary noise falls by most of it (8–16 dB of 20 on the evaluation's noisy
/// clips); what falls by much less was something else read as a floor — a room's
/// tail (4.8 dB of 13 on a reverberant clip), where the reduction only dulls the voice.
pub const NR_VERIFY_SHARE: f32 = 0.5;
/// … and by at least this many dB.
pub const NR_VERIFY_MIN_GAIN_DB: f32 = 3.0;

/// The restoration part of the settings and the reasons behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// De-clip, de-click, hum removal, noise reduction, expander.
    pub restoration: RestorationState,
    /// De-esser.
    pub deesser: DeEsserState,
    /// The reflection the corrective IR cancels (comb filtering from a desk, a
    /// monitor or a wall near the mic), if any.
    pub reflection: Option<Reflection>,
}

fn logit(f: Option<&FabianOutput>, family: &str) -> f32 {
    let i = RESTORE_FAMILIES
        .iter()
        .position(|&x| x == family)
        .unwrap_or(0);
    f.map_or(0.0, |f| f.restore_logits[i])
}

fn goal<'a>(goals: &'a [Goal], quantity: &str) -> Option<&'a Goal> {
    goals.iter().find(|g| g.quantity == quantity)
}

impl Decision {
    /// Decides the stages for `m` (the snapshot's restoration measurements) and
    /// `reflection` (its reflection estimate), the intent and its goals, Fabian's
    /// round-1 output and the P.56 active speech level (`speech_level_db`, dBFS).
    pub fn decide(
        m: &RestorationMetrics,
        reflection: Option<&ReflectionEstimate>,
        intent: &Intent,
        goals: &[Goal],
        fabian: Option<&FabianOutput>,
        speech_level_db: Option<f32>,
    ) -> Decision {
        let mut r = RestorationState::default();
        let mut d = DeEsserState::default();
        let repair = intent.repair;

        // Noise: asked for by name, or a repair of a noisy recording.
        let asked_noise = goal(goals, "noise");
        // A room's reverberation fills the gaps between harmonics like a noise floor,
        // and a 6 s excerpt of running speech has no pause long enough for it to die
        // away, so neither floor measurement tells them apart; Fabian's restoration
        // head does (a reverberant held-out clip: room logit +1.2 against noise +1.2,
        // noisy ones −1.2 against +4.3): when it reads a room at least as strongly
        // as noise, the noise reduction stays off (it dulled the reverberant clip).
        let reverberant =
            logit(fabian, "room") > 0.0 && logit(fabian, "room") >= logit(fabian, "noise");
        let noisy = m.snr_db < REPAIR_SNR_DB
            && !reverberant
            && (m.snr_db < PLAIN_NOISE_SNR_DB || logit(fabian, "noise") > 0.0);
        // Noise asked away from a recording with mains hum ("remove the hum") is
        // answered by the hum notches below; the broadband reduction then goes on only
        // where a repair would put it, for the floor the measurement shows.
        let hum_found = m.hum_harmonics > 0;
        if let Some(g) = asked_noise.filter(|_| !hum_found || noisy) {
            r.denoise.enabled = true;
            let want = g.change.max(6.0) + 3.0;
            r.denoise.reduction_db = want.clamp(6.0, MAX_DENOISE_REDUCTION_DB);
        } else if (repair || asked_noise.is_some()) && noisy {
            r.denoise.enabled = true;
            r.denoise.reduction_db = (REPAIR_TARGET_SNR_DB - m.snr_db)
                .clamp(REPAIR_REDUCTION_DB.0, REPAIR_REDUCTION_DB.1);
        }
        // The floor between phrases: a gentle expander under the denoised floor.
        if r.denoise.enabled {
            r.expander.enabled = true;
            r.expander.threshold_db =
                (m.noise_floor_dbfs - r.denoise.reduction_db + 10.0).clamp(-90.0, -20.0);
            r.expander.ratio = 2.0;
            r.expander.range_db = 10.0;
        }
        // "More dynamic": downward expansion among the voice's own levels raises the
        // crest factor; this is the starting point, the loop measures the setting
        // that reaches the goal (`crest_expander`).
        if let Some(g) = goal(goals, "dynamics").filter(|g| g.change > 0.0) {
            r.expander.enabled = true;
            r.expander.threshold_db = speech_level_db.map_or(-30.0, |l| l).clamp(-90.0, -6.0);
            r.expander.ratio = (1.0 + 0.5 * g.change).clamp(1.3, 4.0);
            r.expander.range_db = 18.0;
        }

        // Hum: notched where the measurement found it (its frequency and harmonics),
        // in a repair or when noise is asked away ("remove the hum"); a request alone
        // cannot tell the notches where the tones are.
        if hum_found && (repair || asked_noise.is_some()) {
            r.dehum = DehumState {
                enabled: true,
                freq_hz: m.hum_hz.clamp(MIN_DEHUM_FREQ_HZ, MAX_DEHUM_FREQ_HZ),
                harmonics: m.hum_harmonics,
                ..DehumState::default()
            };
        }

        // Clicks and clipping.
        let asked_clicks = goal(goals, "clicks").is_some();
        let clicky = m.clicks_per_second >= REPAIR_CLICKS_PER_S;
        if asked_clicks || (repair && clicky) {
            r.declick.enabled = true;
        }
        if asked_clicks {
            // Asked by name: also the smaller clicks the analysis (at the default
            // sensitivity) does not count, since what the result is judged by is the
            // output, where the EQ and trim can lift a click over the default's bar.
            r.declick.sensitivity_pct = ASKED_DECLICK_SENSITIVITY_PCT;
        }
        let asked_clip = goal(goals, "clipping").is_some();
        let clipped =
            m.clipped_runs >= REPAIR_CLIPPED_RUNS && m.clipped_fraction >= REPAIR_CLIPPED_FRACTION;
        if asked_clip || (repair && clipped) {
            r.declip.enabled = true;
        }

        // Sibilance: asked for ("less sibilant", "de-ess"), or a repair of harsh esses.
        let asked_sib = goal(goals, "sibilance").filter(|g| g.change < 0.0);
        let has_sibilants = m.sibilant_fraction > 0.0 && m.sibilant_band_dbfs > -100.0;
        let damaged = fabian.is_some_and(|f| f.restore_logits.iter().any(|&l| l > 0.0));
        let harsh = m.sibilance_db > PLAIN_SIBILANCE_DB
            || (m.sibilance_db > REPAIR_SIBILANCE_DB && damaged);
        if has_sibilants && (asked_sib.is_some() || (repair && harsh)) {
            d.enabled = true;
            let units = asked_sib.map_or(1.0, |g| (-g.change / 3.0).max(0.5));
            d.range_db = (DEESS_DB_PER_UNIT * units).clamp(3.0, 18.0);
            d.threshold_db = (m.sibilant_band_dbfs - 2.0 * units).clamp(-60.0, 0.0);
        }
        // Comb filtering: a repair cancels a reflection the snapshot plainly shows
        // (`ReflectionEstimate::is_reflection`).
        let reflection = reflection
            .filter(|e| repair && e.is_reflection())
            .map(|e| e.reflection);
        Decision {
            restoration: r,
            deesser: d,
            reflection,
        }
    }

    /// The decision `state` carries (the inverse of [`Decision::apply`]), with the
    /// `reflection` its IR cancels.
    pub fn applied(state: &DspState, reflection: Option<Reflection>) -> Decision {
        Decision {
            restoration: state.restoration,
            deesser: state.deesser,
            reflection,
        }
    }

    /// Puts the decision into `state`.
    pub fn apply(&self, state: &mut DspState) {
        state.restoration = self.restoration;
        state.deesser = self.deesser;
    }

    /// Whether any stage is on.
    pub fn any(&self) -> bool {
        self.restoration.any_enabled() || self.deesser.enabled || self.reflection.is_some()
    }

    /// After a shadow bake: keeps the reflection's cancellation only where the
    /// render's ripple at its delay (`after`, the fitted gain there) fell to
    /// `REFLECTION_VERIFY_SHARE` of the input's. Returns whether it went off.
    pub fn verify_reflection(&mut self, after: Option<f64>) -> bool {
        let kept = match (self.reflection, after) {
            (Some(r), Some(a)) => a.abs() <= REFLECTION_VERIFY_SHARE * r.gain.abs(),
            _ => true,
        };
        if !kept {
            self.reflection = None;
        }
        !kept
    }

    /// After a shadow bake: keeps only the stages that improved their own
    /// measurement (`before` the input, `after` the render), unless the prompt asked
    /// for them by name (`goals`). Returns the stages turned off.
    pub fn verify(
        &mut self,
        before: &RestorationMetrics,
        after: &RestorationMetrics,
        goals: &[Goal],
    ) -> Vec<&'static str> {
        let mut off = Vec::new();
        let r = &mut self.restoration;
        let wanted_gain_db = (NR_VERIFY_SHARE * r.denoise.reduction_db).max(NR_VERIFY_MIN_GAIN_DB);
        if r.denoise.enabled
            && goal(goals, "noise").is_none()
            && after.snr_db < before.snr_db + wanted_gain_db
        {
            r.denoise.enabled = false;
            r.expander.enabled &= goal(goals, "dynamics").is_some();
            off.push("noise reduction");
        }
        if r.dehum.enabled
            && goal(goals, "noise").is_none()
            && after.hum_db > before.hum_db - HUM_VERIFY_DB
        {
            r.dehum.enabled = false;
            off.push("hum removal");
        }
        if r.declick.enabled && goal(goals, "clicks").is_none() && after.clicks >= before.clicks {
            r.declick.enabled = false;
            off.push("de-clicker");
        }
        if r.declip.enabled
            && goal(goals, "clipping").is_none()
            && after.clipped_runs >= before.clipped_runs
        {
            r.declip.enabled = false;
            off.push("de-clipper");
        }
        off
    }

    /// The report's notes: what each stage found (`before`; `reflection`, the
    /// input's reflection estimate), what was done, and the measured effect
    /// (`after`, the returned render's measurements; `reflection_after`, the
    /// render's fitted gain at the cancelled reflection).
    pub fn notes(
        &self,
        before: &RestorationMetrics,
        after: Option<&RestorationMetrics>,
        reflection: Option<&ReflectionEstimate>,
        reflection_after: Option<f64>,
    ) -> Vec<faurge_protocol::RestorationNote> {
        let r = &self.restoration;
        let note = |stage: &str, found: String, enabled: bool, done: String| {
            faurge_protocol::RestorationNote {
                stage: stage.into(),
                found,
                done: if enabled { done } else { "left off".into() },
                enabled,
            }
        };
        let mut v = Vec::new();
        let h = &r.dehum;
        v.push(note(
            "hum removal",
            if before.hum_harmonics > 0 {
                format!(
                    "{:.1} Hz mains hum up to harmonic {}, {:.0} dB above the spectrum around it",
                    before.hum_hz, before.hum_harmonics, before.hum_db
                )
            } else {
                "no mains hum".into()
            },
            h.enabled,
            {
                let set = if h.harmonics <= 1 {
                    format!("a notch at {:.1} Hz (Q {:.0})", h.freq_hz, h.q)
                } else {
                    format!(
                        "notches at {:.1} Hz and its harmonics up to ×{} (Q {:.0})",
                        h.freq_hz, h.harmonics, h.q
                    )
                };
                match after {
                    Some(a) if a.hum_harmonics > 0 => {
                        format!("{set}: hum now {:.0} dB above its surroundings", a.hum_db)
                    }
                    Some(_) => format!("{set}: no hum left"),
                    None => set,
                }
            },
        ));
        v.push(note(
            "noise reduction",
            format!(
                "noise floor {:.0} dBFS, speech {:.0} dB above it",
                before.noise_floor_dbfs, before.snr_db
            ),
            r.denoise.enabled,
            match after {
                Some(a) => format!(
                    "up to {:.0} dB of reduction: speech now {:.0} dB above the floor ({:+.0} dB)",
                    r.denoise.reduction_db,
                    a.snr_db,
                    a.snr_db - before.snr_db
                ),
                None => format!("up to {:.0} dB of reduction", r.denoise.reduction_db),
            },
        ));
        v.push(note(
            "expander",
            format!(
                "noise floor {:.0} dBFS between phrases",
                before.noise_floor_dbfs
            ),
            r.expander.enabled,
            format!(
                "{:.1}:1 below {:.0} dBFS, at most {:.0} dB",
                r.expander.ratio, r.expander.threshold_db, r.expander.range_db
            ),
        ));
        v.push(note(
            "de-clicker",
            format!(
                "{} clicks ({:.1} per second)",
                before.clicks, before.clicks_per_second
            ),
            r.declick.enabled,
            match after {
                Some(a) => format!(
                    "{} repaired, {} left",
                    before.clicks.saturating_sub(a.clicks),
                    a.clicks
                ),
                None => "repairing detected clicks".into(),
            },
        ));
        v.push(note(
            "de-clipper",
            format!(
                "{} clipped runs ({:.3} % of samples)",
                before.clipped_runs,
                100.0 * before.clipped_fraction
            ),
            r.declip.enabled,
            match after {
                Some(a) => format!(
                    "{} runs reconstructed, {} left",
                    before.clipped_runs.saturating_sub(a.clipped_runs),
                    a.clipped_runs
                ),
                None => "reconstructing clipped runs".into(),
            },
        ));
        v.push(note(
            "reflection",
            match reflection {
                Some(e) if e.is_reflection() => describe_reflection(&e.reflection),
                Some(_) => "no reflection stands out of the voice's own spectrum".into(),
                None => "not looked for (only a repair cancels reflections)".into(),
            },
            self.reflection.is_some(),
            match (self.reflection, reflection_after) {
                (Some(r), Some(a)) => format!(
                    "cancelled in the corrective IR: ripple gain {:.2} → {:.2}",
                    r.gain.abs(),
                    a.abs()
                ),
                _ => "cancelled in the corrective IR".into(),
            },
        ));
        let sib = if before.sibilant_fraction > 0.0 {
            format!("sibilants {:+.0} dB against the voice", before.sibilance_db)
        } else {
            "no sibilants found".into()
        };
        v.push(note(
            "de-esser",
            sib,
            self.deesser.enabled,
            format!(
                "up to {:.0} dB off the {:.1} kHz band above {:.0} dBFS",
                self.deesser.range_db,
                self.deesser.freq_hz / 1000.0,
                self.deesser.threshold_db
            ),
        ));
        v
    }
}

/// A reflection in words: delay, gain in dB, the notch spacing it causes, and the
/// surface's treble loss.
fn describe_reflection(r: &Reflection) -> String {
    let ms = r.delay_s * 1e3;
    let surface = r.corner_hz.map_or(String::new(), |c| {
        format!(", dulled above {:.1} kHz", c / 1000.0)
    });
    format!(
        "a reflection {ms:.1} ms after the direct sound at {:.0} dB{}{surface}: notches every {:.0} Hz",
        20.0 * r.gain.abs().log10(),
        if r.gain < 0.0 { " (inverted)" } else { "" },
        1.0 / r.delay_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use faurge_dsp::analysis::purity::ReflectionEstimate;
    use faurge_vocabulary::intent::{Measured, Reader};

    fn metrics(snr: f32, clicks: u32, runs: u32) -> RestorationMetrics {
        RestorationMetrics {
            noise_floor_dbfs: -30.0 - snr,
            snr_db: snr,
            clicks,
            clicks_per_second: clicks as f32 / 5.0,
            clipped_runs: runs,
            clipped_fraction: runs as f32 * 1e-4,
            clip_level_dbfs: -1.0,
            sibilant_band_dbfs: -45.0,
            sibilance_db: -15.0,
            sibilant_fraction: 0.1,
            hum_hz: 0.0,
            hum_harmonics: 0,
            hum_db: 0.0,
        }
    }

    fn with_hum(mut m: RestorationMetrics) -> RestorationMetrics {
        m.hum_hz = 59.9;
        m.hum_harmonics = 2;
        m.hum_db = 24.0;
        m
    }

    #[test]
    fn hum_is_notched_where_it_was_found_and_kept_only_where_it_fell() {
        let clean = metrics(50.0, 0, 0);
        let hum = with_hum(clean);
        let d = decide("fix my mic", &hum);
        assert!(d.restoration.dehum.enabled);
        assert_eq!(d.restoration.dehum.freq_hz, 59.9);
        assert_eq!(d.restoration.dehum.harmonics, 2);
        assert!(!d.restoration.denoise.enabled && !d.restoration.declick.enabled);
        // Asked away by name: only where found; no hum, nothing to notch. With hum
        // found and no broadband floor, the notches alone answer the request.
        let asked = decide("remove the hum", &hum);
        assert!(asked.restoration.dehum.enabled && !asked.restoration.denoise.enabled);
        let hum_and_hiss = with_hum(metrics(15.0, 0, 0));
        let asked = decide("remove the hum", &hum_and_hiss);
        assert!(asked.restoration.dehum.enabled && asked.restoration.denoise.enabled);
        assert!(!decide("remove the hum", &clean).restoration.dehum.enabled);
        assert!(!decide("warmer", &hum).restoration.dehum.enabled);
        assert!(!decide("fix my mic", &clean).any());
        // Kept where the hum fell by the verify margin; off where it did not.
        let mut after = clean;
        assert!(d.clone().verify(&hum, &after, &[]).is_empty());
        after.hum_db = hum.hum_db - 0.5 * HUM_VERIFY_DB;
        after.hum_harmonics = 1;
        assert_eq!(d.clone().verify(&hum, &after, &[]), vec!["hum removal"]);
        let notes = d.notes(&hum, Some(&clean), None, None);
        let n = notes.iter().find(|n| n.stage == "hum removal").unwrap();
        assert!(n.enabled && n.found.contains("59.9 Hz") && n.done.contains("no hum left"));
    }

    fn decide(prompt: &str, m: &RestorationMetrics) -> Decision {
        let r = Reader::embedded().unwrap();
        let vague = prompt == "fix my mic";
        let intent = r.read(prompt, vague);
        let measured = Measured {
            balances: vec![("sibilance".into(), m.sibilance_db)],
            crest_db: Some(15.0),
            snr_db: Some(m.snr_db),
            clicks_per_s: Some(m.clicks_per_second),
            clipped_fraction: Some(m.clipped_fraction),
            ..Measured::default()
        };
        let goals = intent.goals(r.table(), &measured);
        Decision::decide(m, None, &intent, &goals, None, Some(-30.0))
    }

    #[test]
    fn the_repair_declicks_above_the_tables_clean_speech_rate() {
        let r = Reader::embedded().unwrap();
        let clicks = r.table().quantity("clicks").unwrap();
        assert_eq!(clicks.reference, Some(REPAIR_CLICKS_PER_S));
    }

    #[test]
    fn a_clean_recording_gets_no_restoration_from_a_repair() {
        assert!(!decide("fix my mic", &metrics(50.0, 0, 0)).any());
    }

    #[test]
    fn a_repair_switches_on_what_the_snapshot_shows() {
        let d = decide("fix my mic", &metrics(12.0, 20, 40));
        assert!(d.restoration.denoise.enabled && d.restoration.expander.enabled);
        assert!(d.restoration.declick.enabled && d.restoration.declip.enabled);
        assert_eq!(d.restoration.denoise.reduction_db, REPAIR_REDUCTION_DB.1);
        // Noise alone: only the noise stages.
        let d = decide("fix my mic", &metrics(15.0, 0, 0));
        assert!(
            d.restoration.denoise.enabled
                && !d.restoration.declick.enabled
                && !d.restoration.declip.enabled
        );
    }

    #[test]
    fn stages_asked_for_by_name_go_on_whatever_the_measurements() {
        let clean = metrics(50.0, 0, 0);
        assert!(
            decide("remove the noise", &clean)
                .restoration
                .denoise
                .enabled
        );
        assert!(decide("no clicks", &clean).restoration.declick.enabled);
        assert!(decide("declip", &clean).restoration.declip.enabled);
        assert!(decide("less sibilant", &clean).deesser.enabled);
        assert!(decide("more dynamic", &clean).restoration.expander.enabled);
        // A relative tone request restores nothing.
        assert!(!decide("warmer", &metrics(12.0, 20, 40)).any());
    }

    #[test]
    fn a_repair_cancels_a_plain_reflection_and_keeps_it_only_where_it_fell() {
        let r = Reader::embedded().unwrap();
        let m = metrics(50.0, 0, 0);
        let estimate = |gain: f64, second_order: f64| ReflectionEstimate {
            reflection: Reflection {
                delay_s: 0.003,
                gain,
                corner_hz: Some(4000.0),
            },
            second_order,
        };
        let with = |prompt: &str, e: &ReflectionEstimate| {
            let intent = r.read(prompt, prompt == "fix my mic");
            let goals = intent.goals(r.table(), &Measured::default());
            Decision::decide(&m, Some(e), &intent, &goals, None, Some(-30.0))
        };
        let plain = estimate(-0.6, -0.18);
        let mut d = with("fix my mic", &plain);
        assert_eq!(d.reflection, Some(plain.reflection));
        assert!(d.any());
        // Too weak, or a resonance's sign (a steady voice): left alone; and a tone
        // request does not repair.
        assert_eq!(with("fix my mic", &estimate(-0.3, -0.05)).reflection, None);
        assert_eq!(with("fix my mic", &estimate(0.6, 0.18)).reflection, None);
        assert_eq!(with("warmer", &plain).reflection, None);
        // Kept where the ripple fell to half; off where it did not.
        assert!(!d.clone().verify_reflection(Some(0.25)));
        assert!(d.verify_reflection(Some(-0.4)));
        assert_eq!(d.reflection, None);
        // The notes say what was found and what was done.
        let d = with("fix my mic", &plain);
        let notes = d.notes(&m, Some(&m), Some(&plain), Some(0.05));
        let n = notes.iter().find(|n| n.stage == "reflection").unwrap();
        assert!(n.enabled && n.found.contains("3.0 ms") && n.found.contains("inverted"));
        assert!(
            n.found.contains("333 Hz") && n.done.contains("0.60 → 0.05"),
            "{n:?}"
        );
        // Not looked for (not a repair): the note says so rather than "none".
        let notes = d.notes(&m, Some(&m), None, None);
        let n = notes.iter().find(|n| n.stage == "reflection").unwrap();
        assert!(n.found.contains("not looked for"), "{n:?}");
        // What a state carries is the decision applied to it.
        let mut state = DspState::default();
        d.apply(&mut state);
        assert_eq!(Decision::applied(&state, d.reflection), d);
    }

    #[test]
    fn a_stage_that_did_not_help_is_turned_off() {
        let before = metrics(15.0, 10, 0);
        let mut d = decide("fix my mic", &before);
        assert!(d.restoration.denoise.enabled && d.restoration.declick.enabled);
        let mut after = before;
        after.snr_db = 16.0;
        after.clicks = 1;
        let off = d.verify(&before, &after, &[]);
        assert_eq!(off, vec!["noise reduction"]);
        assert!(!d.restoration.denoise.enabled && d.restoration.declick.enabled);
    }

    #[test]
    fn a_noise_reduction_that_reached_under_half_its_setting_is_turned_off() {
        let before = metrics(15.0, 0, 0);
        let d = decide("fix my mic", &before);
        let set = d.restoration.denoise.reduction_db;
        assert!(d.restoration.denoise.enabled && set >= 2.0 * NR_VERIFY_MIN_GAIN_DB);
        let mut after = before;
        after.snr_db = before.snr_db + 0.4 * set;
        assert_eq!(
            d.clone().verify(&before, &after, &[]),
            vec!["noise reduction"]
        );
        after.snr_db = before.snr_db + 0.6 * set;
        let mut kept = d.clone();
        assert!(kept.verify(&before, &after, &[]).is_empty());
        assert!(kept.restoration.denoise.enabled);
    }
}
