//! What the loop measures of a snapshot: the same features, computed by the same
//! `faurge-dsp` functions at the same rate, as the dataset generator computed for
//! training (`dataset/src/generate.rs`, `make_row`). Keeping this in one place is
//! what makes the networks' inputs at bake time match what they were trained on.

use faurge_dsp::analysis::{self, dynamics, loudness, ltas, mel};

use crate::models::{LTAS_BANDS, SPECTRUM_BANDS};

/// Rate of every analysis and of the shadow bake, Hz (the dataset's rate).
pub const ANALYSIS_RATE: u32 = 48_000;

/// Longest stretch of a snapshot the loop analyses, seconds. Longer snapshots
/// keep their loudest one-second chunks (in time order) up to this length: the
/// models were trained on 3 s crops and the features are long-term averages, so
/// more adds time, not information. Every round renders and measures this much
/// audio, so it sets most of a bake's time: 6 s instead of 10 s took a 4-round
/// repair bake from 2.2 s to 1.3 s (see `helper/benches/bake.rs`).
pub const MAX_ANALYSIS_SECONDS: usize = 6;

/// The input features of one snapshot.
#[derive(Clone, Debug)]
pub struct InputFeatures {
    /// Mono mix at [`ANALYSIS_RATE`] (at most [`MAX_ANALYSIS_SECONDS`]).
    pub audio: Vec<f32>,
    /// Real bandwidth of the recording, Hz: `min(effective bandwidth, Nyquist)`
    /// at its own rate (the dataset's definition).
    pub bandwidth_hz: f32,
    /// 1 for LTAS bands below the bandwidth, else 0.
    pub ltas_mask: [f32; LTAS_BANDS],
    /// 1 for spectrum bands below the bandwidth, else 0.
    pub spectrum_mask: [f32; SPECTRUM_BANDS],
    /// `T_LTAS` with masked bands at −100 dB (`ltas_with_bandwidth`).
    pub ltas_db: [f32; LTAS_BANDS],
    /// `T_LUFS` (the −70 LUFS gate for silence).
    pub lufs: f32,
    /// `T_Dyn`: crest factor dB, zero-crossing rate Hz.
    pub dynamics: [f32; 2],
    /// `T_Purity` (0..1) and the flag the dataset derives from it.
    pub purity: f32,
    /// `requires_genesis` measured on the input.
    pub requires_genesis: bool,
    /// SNR from the speech pauses (the quietest frames), dB:
    /// [`faurge_dsp::analysis::purity::Purity::snr_db`].
    pub pauses_snr_db: f32,
    /// The 256-band spectrum, dB.
    pub spectrum_db: [f32; SPECTRUM_BANDS],
    /// Log-mel `[frames, 64]`, row-major.
    pub log_mel: Vec<f32>,
}

/// The features measured on a shadow-bake render in every round.
#[derive(Clone, Debug)]
pub struct RenderFeatures {
    /// `T_LTAS` with the input's bandwidth mask.
    pub ltas_db: [f32; LTAS_BANDS],
    /// `T_LUFS`.
    pub lufs: f32,
    /// `T_Dyn`.
    pub dynamics: [f32; 2],
    /// Log-mel `[frames, 64]`.
    pub log_mel: Vec<f32>,
}

/// Mono mix of planar `channels` (mean, as `faurge_io::Audio::to_mono`).
pub fn mono(channels: &[&[f32]]) -> Vec<f32> {
    let n = channels.iter().map(|c| c.len()).min().unwrap_or(0);
    let k = channels.len().max(1) as f32;
    (0..n)
        .map(|i| channels.iter().map(|c| c[i]).sum::<f32>() / k)
        .collect()
}

/// The loudest whole seconds of `audio` (rate `sr`), in time order, at most
/// `max_seconds` of them; `audio` itself when it is short enough.
pub fn loudest_seconds(audio: &[f32], sr: u32, max_seconds: usize) -> Vec<f32> {
    let chunk = sr as usize;
    if audio.len() <= chunk * max_seconds || chunk == 0 {
        return audio.to_vec();
    }
    let mut energy: Vec<(usize, f64)> = audio
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| (i, c.iter().map(|&x| f64::from(x) * f64::from(x)).sum()))
        .collect();
    energy.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut keep: Vec<usize> = energy.iter().take(max_seconds).map(|e| e.0).collect();
    keep.sort_unstable();
    keep.iter()
        .flat_map(|&i| audio.chunks(chunk).nth(i).unwrap_or(&[]).iter().copied())
        .collect()
}

/// 0/1 mask of the bands whose upper edge is at or below `bandwidth_hz`.
fn mask<const N: usize>(edges: &[f32], bandwidth_hz: f32) -> [f32; N] {
    let mut m = [0.0; N];
    for (v, w) in m.iter_mut().zip(edges.windows(2)) {
        *v = if w[1] <= bandwidth_hz { 1.0 } else { 0.0 };
    }
    m
}

impl InputFeatures {
    /// Measures a snapshot: planar `channels` at `sample_rate` (any supported
    /// rate; resampled to [`ANALYSIS_RATE`] with rubato as the dataset did).
    ///
    /// # Errors
    /// A message when resampling fails (unsupported rate).
    pub fn measure(channels: &[&[f32]], sample_rate: u32) -> Result<InputFeatures, String> {
        let source = loudest_seconds(&mono(channels), sample_rate, MAX_ANALYSIS_SECONDS);
        let nyquist = sample_rate as f32 / 2.0;
        let bw = ltas::effective_bandwidth_hz(&[&source], sample_rate as f32);
        let bandwidth_hz = if bw > 0.0 { bw.min(nyquist) } else { nyquist };
        let audio = if sample_rate == ANALYSIS_RATE {
            source
        } else {
            faurge_io::resample(&[source], sample_rate, ANALYSIS_RATE)
                .map_err(|e| e.to_string())?
                .into_iter()
                .next()
                .unwrap_or_default()
        };
        let sr = ANALYSIS_RATE as f32;
        let m = analysis::measure(&[&audio], sr);
        Ok(InputFeatures {
            bandwidth_hz,
            ltas_mask: mask::<LTAS_BANDS>(&ltas::ltas_band_edges_hz(), bandwidth_hz),
            spectrum_mask: mask::<SPECTRUM_BANDS>(&ltas::spectrum_band_edges_hz(), bandwidth_hz),
            ltas_db: ltas::ltas_with_bandwidth(&[&audio], sr, bandwidth_hz),
            lufs: m.t_lufs(),
            dynamics: m.dynamics,
            purity: m.purity.input_purity,
            requires_genesis: m.requires_genesis(),
            pauses_snr_db: m.purity.snr_db,
            spectrum_db: ltas::spectrum_db(&[&audio], sr),
            log_mel: mel::log_mel(&[&audio], sr),
            audio,
        })
    }

    /// This input's LTAS mask narrowed to the bands a render of
    /// [`InputFeatures::audio`] (same rate) still fills, up to its
    /// [`ltas::effective_bandwidth_hz`]; the input's own mask for a silent render.
    pub fn ltas_mask_of_render(&self, rendered: &[f32]) -> [f32; LTAS_BANDS] {
        let bw = ltas::effective_bandwidth_hz(&[rendered], ANALYSIS_RATE as f32);
        if bw > 0.0 {
            mask::<LTAS_BANDS>(&ltas::ltas_band_edges_hz(), bw.min(self.bandwidth_hz))
        } else {
            self.ltas_mask
        }
    }

    /// Measures a render of [`InputFeatures::audio`] (same rate, same length) with
    /// this input's bandwidth mask. Skips purity (the loop does not use it after
    /// round 1), which is most of `analysis::measure`'s cost.
    pub fn measure_render(&self, rendered: &[f32]) -> RenderFeatures {
        let sr = ANALYSIS_RATE as f32;
        RenderFeatures {
            ltas_db: ltas::ltas_with_bandwidth(&[rendered], sr, self.bandwidth_hz),
            lufs: loudness::integrated_lufs(&[rendered], sr)
                .unwrap_or(loudness::ABSOLUTE_GATE_LUFS),
            dynamics: dynamics::t_dyn(&[rendered], sr),
            log_mel: mel::log_mel(&[rendered], sr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudest_seconds_keeps_the_loud_chunks_in_order() {
        let sr = 100;
        let mut audio = vec![0.01f32; 500];
        for (i, v) in audio.iter_mut().enumerate() {
            if (100..200).contains(&i) || (400..500).contains(&i) {
                *v = (i as f32).sin();
            }
        }
        let kept = loudest_seconds(&audio, sr, 2);
        assert_eq!(kept.len(), 200);
        assert_eq!(kept[0], audio[100]);
        assert_eq!(kept[100], audio[400]);
        assert_eq!(loudest_seconds(&audio, sr, 5), audio);
    }

    #[test]
    fn a_render_that_emptied_the_top_octaves_narrows_the_mask() {
        // An 8 kHz voice with clicks: the clicks fill the spectrum to Nyquist, so the
        // snapshot's bandwidth is the full band; what a de-clicker leaves is the voice.
        let a = faurge_io::read(std::path::Path::new(
            faurge_io::examples::LIBRISPEECH_SPEECH,
        ))
        .expect("shipped clip");
        let voice = faurge_io::resample(&[a.channels[0].clone()], a.sample_rate, ANALYSIS_RATE)
            .expect("resample")
            .remove(0);
        let mut clicky = voice.clone();
        for v in clicky.iter_mut().step_by(ANALYSIS_RATE as usize / 10) {
            *v += 0.5;
        }
        let f = InputFeatures::measure(&[&clicky], ANALYSIS_RATE).expect("measure");
        assert!(f.bandwidth_hz > 16_000.0, "{}", f.bandwidth_hz);
        let m = f.ltas_mask_of_render(&voice);
        let edges = ltas::ltas_band_edges_hz();
        let top = (0..LTAS_BANDS).rfind(|&b| m[b] > 0.0).expect("valid bands");
        assert!(edges[top + 1] <= 8_000.0 * 1.05, "{}", edges[top + 1]);
        assert!(m.iter().zip(&f.ltas_mask).all(|(r, i)| r <= i));
        assert!(m.iter().sum::<f32>() <= f.ltas_mask.iter().sum::<f32>() - 8.0);
        // A silent render keeps the snapshot's own mask.
        assert_eq!(f.ltas_mask_of_render(&vec![0.0; voice.len()]), f.ltas_mask);
    }

    #[test]
    fn band_limited_input_is_masked_like_the_dataset() {
        let a = faurge_io::read(std::path::Path::new(
            faurge_io::examples::LIBRISPEECH_SPEECH,
        ))
        .expect("shipped clip");
        let f = InputFeatures::measure(&[&a.channels[0]], a.sample_rate).expect("measure");
        assert!(f.bandwidth_hz <= 8000.0, "{}", f.bandwidth_hz);
        assert_eq!(f.ltas_mask[LTAS_BANDS - 1], 0.0);
        assert_eq!(f.ltas_mask[0], 1.0);
        assert!(f.ltas_db[LTAS_BANDS - 1] <= -99.0);
        assert_eq!(f.log_mel.len() % 64, 0);
        assert!(f.lufs > -40.0 && f.lufs < -10.0, "{}", f.lufs);
        // The voice's pitch is read (at the analysis rate, after resampling), as a
        // repair reads it for the tone-repair estimator.
        use faurge_dsp::analysis::pitch;
        let p =
            pitch::voice_f0(&[&f.audio], ANALYSIS_RATE as f32).expect("a voiced clip has a pitch");
        assert!(p.median_hz > 70.0 && p.median_hz < 300.0, "{p:?}");
        assert!(p.voiced_frames >= pitch::MIN_VOICED_FRAMES, "{p:?}");
    }
}
