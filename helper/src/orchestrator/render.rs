//! The shadow bake's renders, with what stays the same from round to round kept.
//!
//! The restoration stages come first in the chain and change only when a round's
//! verification turns one off, yet the noise reduction in them costs more than the
//! rest of the chain together. [`Renders`] renders them once per restoration
//! setting and runs each round's EQ, de-esser, compressor and convolver on that;
//! it measures the restoration figures (noise floor, clicks, clipping, sibilance)
//! once per restoration and de-esser setting, and exactly again only for the round
//! that is returned ([`Renders::exact_metrics`]).
//!
//! Rendering in two passes delays the output by the chain's constant latency twice
//! (about 16 ms at 48 kHz instead of 8), and the second pass warms up on the first
//! pass's head rather than the input's; the loop measures long-term figures only,
//! which neither moves.

use faurge_dsp::analysis::restoration::{restoration_metrics, RestorationMetrics};
use faurge_dsp::state::{DeEsserState, DspState, RestorationState};

use super::shadow_bake;
use crate::features::ANALYSIS_RATE;

/// Renders of one snapshot across the rounds of a bake.
#[derive(Default)]
pub(super) struct Renders {
    /// The input through the restoration stages alone, and their setting.
    restored: Option<(RestorationState, Vec<f32>)>,
    /// The restoration figures measured on a round's output, and the setting of
    /// the restoration stages and de-esser they were measured with.
    metrics: Option<((RestorationState, DeEsserState), RestorationMetrics)>,
}

impl Renders {
    /// `input` (mono, [`ANALYSIS_RATE`]) through the chain at `state`, with `ir` in
    /// the convolver: what `shadow_bake` returns, but for the extra latency.
    ///
    /// # Errors
    /// The chain's message when it rejects `ir`.
    pub(super) fn render(
        &mut self,
        input: &[f32],
        state: &DspState,
        ir: Option<&[f32]>,
    ) -> Result<Vec<f32>, String> {
        if !state.restoration.any_enabled() {
            return shadow_bake(input, state, ir);
        }
        let fresh = !matches!(&self.restored, Some((r, _)) if *r == state.restoration);
        if fresh {
            let mut only = DspState {
                restoration: state.restoration,
                ..DspState::default()
            };
            only.eq.bands.iter_mut().for_each(|b| b.enabled = false);
            only.deesser.enabled = false;
            only.compressor.enabled = false;
            only.convolver.enabled = false;
            only.convolver.mix = 0.0;
            only.output_trim_db = 0.0;
            self.restored = Some((state.restoration, shadow_bake(input, &only, None)?));
        }
        let pre = self.restored.as_ref().map_or(input, |(_, a)| a.as_slice());
        let mut rest = *state;
        rest.restoration = RestorationState::default();
        shadow_bake(pre, &rest, ir)
    }

    /// The restoration figures of `audio`, rendered at `state`: measured when this
    /// restoration and de-esser setting has not been measured yet, else the figures
    /// of the round that measured it (`exact` says which). `None` when no
    /// restoration stage or de-esser is on.
    pub(super) fn metrics(
        &mut self,
        audio: &[f32],
        state: &DspState,
    ) -> Option<(RestorationMetrics, bool)> {
        if !state.restoration.any_enabled() && !state.deesser.enabled {
            return None;
        }
        let key = (state.restoration, state.deesser);
        if let Some((k, m)) = &self.metrics {
            if *k == key {
                return Some((*m, false));
            }
        }
        let m = restoration_metrics(&[audio], ANALYSIS_RATE as f32);
        self.metrics = Some((key, m));
        Some((m, true))
    }

    /// The restoration figures measured on `audio` itself.
    pub(super) fn exact_metrics(audio: &[f32]) -> RestorationMetrics {
        restoration_metrics(&[audio], ANALYSIS_RATE as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_passes_measure_as_one() {
        let a = faurge_io::read(std::path::Path::new(faurge_io::examples::VCTK_SPEECH))
            .expect("shipped clip");
        let rate = a.sample_rate as f32;
        assert_eq!(a.sample_rate, ANALYSIS_RATE);
        // The clip with a steady hiss under it, for the noise reduction to work on.
        let mut noise = 12345u32;
        let input: Vec<f32> = a.channels[0]
            .iter()
            .map(|v| {
                noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                v + 0.01 * ((noise >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
            })
            .collect();
        // Room at the end for both renders' delay, so both hold all of the speech.
        let mut input = input;
        input.extend(std::iter::repeat_n(
            0.0,
            2 * faurge_dsp::chain::latency_samples(rate),
        ));
        let mut state = DspState::default();
        state.restoration.denoise.enabled = true;
        state.restoration.expander.enabled = true;
        state.eq.bands[2].gain_db = 6.0;
        state.deesser.enabled = true;
        state.compressor.enabled = true;
        state.output_trim_db = -3.0;
        let one = shadow_bake(&input, &state, None).unwrap();
        let mut renders = Renders::default();
        let two = renders.render(&input, &state, None).unwrap();
        // Again, from the cached restoration: the same audio.
        assert_eq!(renders.render(&input, &state, None).unwrap(), two);
        // The two-pass render is the one-pass render, one latency later, once the
        // second pass's warm-up (on the first pass's head, not the input's) has
        // left the envelopes: after a second.
        let latency = faurge_dsp::chain::latency_samples(rate);
        let settled = a.sample_rate as usize;
        let worst = two[latency + settled..]
            .iter()
            .zip(&one[settled..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-5,
            "one-pass and two-pass renders differ by {worst}"
        );
        // And the whole renders measure alike.
        let crest = |x: &[f32]| faurge_dsp::analysis::dynamics::t_dyn(&[x], rate)[0];
        let lufs = |x: &[f32]| faurge_dsp::analysis::loudness::integrated_lufs(&[x], rate).unwrap();
        assert!((crest(&two) - crest(&one)).abs() < 0.1);
        assert!((lufs(&two) - lufs(&one)).abs() < 0.05);
        // Without restoration it is the one-pass render itself.
        state.restoration = RestorationState::default();
        assert_eq!(
            renders.render(&input, &state, None).unwrap(),
            shadow_bake(&input, &state, None).unwrap()
        );
    }
}
