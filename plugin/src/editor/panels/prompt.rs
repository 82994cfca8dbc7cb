//! The prompt row (field, example chips, Bake, Cancel, Auto-bake) and what the sanitizer understood.

use egui::{self, Key, RichText, Ui};
use faurge_params::{ParamTarget, PARAMS};
use faurge_protocol::EditKind;

use crate::editor::app::FaurgeApp;
use crate::editor::theme;
use crate::editor::EXAMPLE_PROMPTS;

impl FaurgeApp {
    pub(in crate::editor) fn prompt_row(&mut self, ui: &mut Ui, baking: bool) {
        ui.horizontal(|ui| {
            ui.heading(RichText::new("Faurge").strong());
            let field = egui::TextEdit::singleline(&mut self.prompt)
                .hint_text("Describe the sound you want, e.g. warm radio voice")
                .desired_width(ui.available_width() - 250.0);
            let response = ui.add(field);
            if self.focus_prompt {
                response.request_focus();
                self.focus_prompt = false;
            }
            let enter = ui.input(|i| i.key_pressed(Key::Enter));
            let nothing_focused = ui.ctx().memory(|m| m.focused().is_none());
            let enter_bake = enter && (response.lost_focus() || nothing_focused);
            let bake = ui
                .add_enabled(!baking, egui::Button::new(RichText::new("Bake").strong()))
                .on_hover_text("Listen to the last seconds of input and find settings that match the prompt (Enter)");
            if (bake.clicked() || enter_bake) && !baking {
                self.bake();
                // Keep typing after Enter.
                response.request_focus();
            }
            if ui
                .add_enabled(baking && self.canceller.is_some(), egui::Button::new("Cancel"))
                .clicked()
            {
                if let Some(c) = &self.canceller {
                    c.cancel();
                }
            }
            let auto_k = PARAMS.iter().position(|p| p.target == ParamTarget::AutoBake);
            let mut auto = self.params.auto_bake();
            if ui
                .checkbox(&mut auto, "Auto-bake")
                .on_hover_text("Bake again by itself when the input changes character")
                .changed()
            {
                if let Some(k) = auto_k {
                    self.set_param(k, if auto { 1.0 } else { 0.0 });
                }
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Try:").weak());
            for example in EXAMPLE_PROMPTS {
                let chip = egui::Button::new(example)
                    .corner_radius(10.0)
                    .selected(self.prompt == example);
                if ui.add(chip).clicked() {
                    self.prompt = example.to_string();
                    self.focus_prompt = true;
                }
            }
        });
    }

    pub(in crate::editor) fn understood_row(&mut self, ui: &mut Ui) {
        let Some(sanitizer) = &self.sanitizer else {
            return;
        };
        let text = if self.prompt.trim().is_empty() {
            faurge_instance::bridge::DEFAULT_PROMPT
        } else {
            &self.prompt
        };
        if self.understood.as_ref().is_none_or(|s| s.original != text) {
            let s = sanitizer.sanitize(text);
            // What the prompt asks for, as the helper's prompt reader reads it.
            self.asked = self
                .reader
                .as_ref()
                .map(|r| r.read(&s.understood, s.anchor).summary(r.table()));
            self.understood = Some(s);
        }
        let Some(s) = &self.understood else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Understood:").weak());
            ui.label(RichText::new(&s.understood).italics());
        });
        if let Some(asked) = &self.asked {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new("Asked for:").weak());
                ui.label(RichText::new(asked).strong());
            });
        }
        if !s.edits.is_empty() {
            ui.horizontal_wrapped(|ui| {
                for e in &s.edits {
                    ui.label(RichText::new(edit_line(e.kind, &e.from, &e.to)).color(theme::LABEL));
                }
            });
        }
    }
}

fn edit_line(kind: EditKind, from: &str, to: &str) -> String {
    match kind {
        EditKind::Vague => format!("“{from}” is vague: using the anchor prompt"),
        EditKind::Typo => format!("“{from}” read as “{to}”"),
        EditKind::Slang => format!("“{from}” (slang) read as “{to}”"),
        EditKind::Truncated => "cut at the length limit".to_string(),
        EditKind::Removed => format!("“{from}” removed"),
    }
}
