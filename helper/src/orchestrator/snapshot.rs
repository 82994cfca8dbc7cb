//! What the loop measures of the snapshot before anything runs: the networks'
//! input features, the restoration measurements (noise floor, clicks, clipping,
//! sibilance), the values of the descriptor table's quantities, and whether there
//! is enough speech to judge at all.

use faurge_dsp::analysis::loudness::{active_speech_level, integrated_lufs};
use faurge_dsp::analysis::ltas::{ltas_band_centers_hz, LTAS_BANDS};
use faurge_dsp::analysis::restoration::{restoration_metrics, RestorationMetrics};
use faurge_vocabulary::descriptors::Descriptors;
use faurge_vocabulary::intent::Measured;

use crate::features::{InputFeatures, RenderFeatures, ANALYSIS_RATE};

/// Least active speech a snapshot must hold to be judged, seconds (ITU-T P.56
/// activity × length). A few syllables tell nothing about a voice's long-term
/// spectrum: the LTAS of speech settles over a few seconds (Byrne et al., "An
/// international comparison of long-term average speech spectra", JASA 96(4), 1994).
pub const MIN_SPEECH_S: f32 = 1.5;
/// Loudness below which a snapshot counts as silent, LUFS.
pub const SILENT_LUFS: f32 = -60.0;
/// Speech-to-noise ratio below which a snapshot counts as mostly noise, dB.
pub const MIN_SNR_DB: f32 = 3.0;

/// The snapshot, measured.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The networks' input features (mono, [`ANALYSIS_RATE`]).
    pub input: InputFeatures,
    /// Noise floor, clicks, clipping and sibilance of the input.
    pub restoration: RestorationMetrics,
    /// Seconds of active speech (P.56).
    pub speech_s: f32,
    /// P.56 active speech level, dBFS (mean square over the active samples).
    pub speech_level_db: Option<f32>,
    /// The quantities of the descriptor table on the input (its loudness that of
    /// the whole snapshot).
    pub measured: Measured,
    /// Loudness of the whole snapshot minus that of the analysed excerpt, LU: what a
    /// render's loudness measured on the excerpt is corrected by, so the trim lands
    /// the whole file on its target (the excerpt keeps the loudest seconds).
    pub lufs_offset: f32,
}

/// The quantities of `table` measured on a render: balances of `ltas_db` within the
/// input's mask, loudness, crest factor and, where given, the restoration figures.
pub fn quantities(
    table: &Descriptors,
    ltas_db: &[f32; LTAS_BANDS],
    mask: &[f32; LTAS_BANDS],
    lufs: f32,
    crest_db: f32,
    restoration: Option<&RestorationMetrics>,
) -> Measured {
    let valid: Vec<bool> = mask.iter().map(|&m| m > 0.0).collect();
    let mut m = Measured::from_ltas(table, ltas_db, &ltas_band_centers_hz(), &valid);
    m.lufs = (lufs > SILENT_LUFS).then_some(lufs);
    m.crest_db = Some(crest_db);
    if let Some(r) = restoration {
        m.snr_db = Some(r.snr_db);
        m.clicks_per_s = Some(r.clicks_per_second);
        m.clipped_fraction = Some(r.clipped_fraction);
    }
    m
}

impl Snapshot {
    /// Measures the snapshot (planar `channels` at `sample_rate`).
    ///
    /// # Errors
    /// A message when the audio cannot be analysed (an unsupported rate).
    pub fn measure(
        channels: &[&[f32]],
        sample_rate: u32,
        table: &Descriptors,
    ) -> Result<Snapshot, String> {
        let input = InputFeatures::measure(channels, sample_rate)?;
        let full = integrated_lufs(&[&crate::features::mono(channels)], sample_rate as f32);
        let lufs_offset = match full {
            Some(f) if input.lufs > SILENT_LUFS => f - input.lufs,
            _ => 0.0,
        };
        let sr = ANALYSIS_RATE as f32;
        let restoration = restoration_metrics(&[&input.audio], sr);
        let active = active_speech_level(&[&input.audio], sr);
        let speech_s = active.map_or(0.0, |a| a.activity * input.audio.len() as f32 / sr);
        let measured = quantities(
            table,
            &input.ltas_db,
            &input.ltas_mask,
            input.lufs + lufs_offset,
            input.dynamics[0],
            Some(&restoration),
        );
        Ok(Snapshot {
            lufs_offset,
            speech_level_db: active.map(|a| a.level_db),
            speech_s,
            restoration,
            measured,
            input,
        })
    }

    /// Integrated loudness of the whole snapshot, LUFS (the analysed excerpt's plus
    /// [`Snapshot::lufs_offset`]).
    pub fn lufs(&self) -> f32 {
        self.input.lufs + self.lufs_offset
    }

    /// Why the snapshot cannot be judged (silence, too little speech, mostly noise),
    /// in words a user can act on; `None` when it can.
    pub fn unjudgeable(&self) -> Option<String> {
        if self.input.lufs <= SILENT_LUFS {
            return Some(format!(
                "The snapshot is silent ({:.0} LUFS): there is nothing to judge, so nothing was changed. Speak or play audio into the input, then bake again.",
                self.input.lufs
            ));
        }
        if self.restoration.snr_db < MIN_SNR_DB {
            return Some(format!(
                "The snapshot is mostly noise (speech-to-noise ratio {:.0} dB): there is no voice to judge, so nothing was changed. Bake while someone speaks.",
                self.restoration.snr_db
            ));
        }
        if self.speech_s < MIN_SPEECH_S {
            return Some(format!(
                "The snapshot holds only {:.1} s of speech (at least {MIN_SPEECH_S} s are needed to judge a voice), so nothing was changed. Bake after a few sentences.",
                self.speech_s
            ));
        }
        None
    }

    /// The quantities of a render of this snapshot (its bandwidth mask).
    pub fn render_quantities(
        &self,
        table: &Descriptors,
        render: &RenderFeatures,
        restoration: Option<&RestorationMetrics>,
    ) -> Measured {
        quantities(
            table,
            &render.ltas_db,
            &self.input.ltas_mask,
            render.lufs,
            render.dynamics[0],
            restoration,
        )
    }
}
