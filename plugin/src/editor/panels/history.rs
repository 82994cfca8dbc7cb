//! A/B, undo/redo and the list of recent bakes.

use egui::{self, Color32, RichText, Ui};

use crate::editor::app::FaurgeApp;
use crate::editor::theme;
use crate::history::{Setting, HISTORY_LEN};
use crate::sides::lock;

impl FaurgeApp {
    pub(in crate::editor) fn history_row(&mut self, ui: &mut Ui) {
        /// Bakes listed beside the buttons, newest first.
        const SHOWN: usize = 4;
        let (can_undo, can_redo, can_ab, showing_b, count, shown) = {
            let h = lock(&self.session.history);
            let count = h.entries().len();
            let shown: Vec<(String, f32, bool)> = h
                .entries()
                .enumerate()
                .rev()
                .take(SHOWN)
                .map(|(i, e)| (e.prompt.clone(), e.similarity, i < h.applied()))
                .collect();
            (
                h.can_undo(),
                h.can_redo(),
                h.can_compare(),
                h.showing_b(),
                count,
                shown,
            )
        };
        ui.horizontal(|ui| {
            let ab_text = if showing_b {
                "B: before the bake"
            } else {
                "A/B"
            };
            let ab_button = egui::Button::new(
                RichText::new(ab_text).strong().color(Color32::WHITE),
            )
            .fill(if can_ab {
                theme::color(theme::AB_ACCENT)
            } else {
                theme::GRID
            });
            if ui
                .add_enabled(can_ab, ab_button)
                .on_hover_text(
                    "Compare the current settings (A) with the settings before the last bake (B)",
                )
                .clicked()
            {
                let now = Setting::of(&self.params);
                let next = lock(&self.session.history).toggle_ab(now);
                self.apply(next);
            }
            if ui
                .add_enabled(can_undo, egui::Button::new("Undo bake"))
                .clicked()
            {
                let s = lock(&self.session.history).undo();
                self.apply(s);
            }
            if ui
                .add_enabled(can_redo, egui::Button::new("Redo bake"))
                .clicked()
            {
                let s = lock(&self.session.history).redo();
                self.apply(s);
            }
            ui.label(RichText::new(format!("History ({}/{}):", count, HISTORY_LEN)).weak());
            for (prompt, sc, applied) in &shown {
                let text = RichText::new(format!("“{prompt}” S_C {sc:.2}"));
                ui.label(if *applied {
                    text
                } else {
                    text.weak().strikethrough()
                });
            }
        });
    }
}
