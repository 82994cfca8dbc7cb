//! The bake's progress (stage, round n/N, the live `S_C` against the threshold), its result or its error in words.

use egui::{self, RichText, Ui};
use faurge_instance::bridge::BakePhase;
use faurge_protocol::Stage;

use crate::editor::app::FaurgeApp;
use crate::editor::theme;
use crate::editor::widgets::similarity_bar;

impl FaurgeApp {
    pub(in crate::editor) fn status_row(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if self.status.is_none() {
                ui.colored_label(
                    theme::ERROR,
                    "Baking is unavailable: the plugin could not start its bake thread. Restart the host; the audio is unaffected.",
                );
                return;
            }
            match &self.last_status.phase {
                BakePhase::Idle => {
                    ui.label("Play a few seconds through the plugin, type what you want, and press Bake.");
                }
                BakePhase::Starting => {
                    ui.spinner();
                    ui.label("Starting the bake: copying the last seconds of input, starting the helper…");
                }
                BakePhase::Baking(p) => {
                    ui.spinner();
                    ui.label(format!("Round {}/{}: {}", p.round, p.max_rounds, p.stage));
                    similarity_bar(ui, p.similarity, p.threshold);
                    let done = Stage::ALL.iter().position(|s| *s == p.stage).unwrap_or(0);
                    ui.label(
                        RichText::new(format!("stage {}/{}", done + 1, Stage::ALL.len())).weak(),
                    );
                }
                BakePhase::Applied(_) | BakePhase::Cancelled => {
                    ui.label(self.last_status.to_string());
                    if let Some(Some(r)) = self.report.as_ref().map(|(_, r)| r) {
                        let best = r.best();
                        if let Some(b) = best {
                            ui.label(format!(
                                "· best round {} of {}, S_C {:.2} / {:.2}{}",
                                b.round,
                                r.rounds.len(),
                                b.similarity,
                                r.threshold,
                                if r.converged { "" } else { " (threshold not reached; best round used)" }
                            ));
                        }
                    }
                }
                BakePhase::Failed => {
                    let message = self
                        .last_status
                        .last_error
                        .as_ref()
                        .map_or_else(|| "Bake failed.".to_string(), |e| format!("Bake failed: {}", e.message));
                    ui.colored_label(theme::ERROR, message)
                        .on_hover_text("The audio keeps running on the last good settings.");
                }
            }
        });
        if let Some(e) = &self.apply_error {
            ui.colored_label(theme::ERROR, e);
        }
        // The outcome in words: what was met, found and done.
        if matches!(self.last_status.phase, BakePhase::Applied(_)) {
            if let Some(Some(r)) = self.report.as_ref().map(|(_, r)| r) {
                if !r.verdict.is_empty() {
                    ui.label(RichText::new(&r.verdict).color(theme::LABEL));
                }
            }
        }
    }
}
