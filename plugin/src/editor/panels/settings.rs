//! Every parameter as a slider; a slider being dragged holds its parameter.

use egui::{self, Ui};
use faurge_params::{Kind, PARAMS};
use nice_plug_egui::widgets::ParamSlider;

use crate::editor::app::FaurgeApp;
use crate::params::ParamHandle;
use crate::sides::lock;

impl FaurgeApp {
    pub(in crate::editor) fn settings(&mut self, ui: &mut Ui) {
        let Some((gui, _)) = self.window.current() else {
            return;
        };
        let setter = gui.param_setter();
        egui::CollapsingHeader::new(
            "All settings (every baked value is a parameter you can change)",
        )
        .default_open(false)
        .show(ui, |ui| {
            let mut group = "";
            egui::Grid::new("params")
                .num_columns(4)
                .striped(true)
                .show(ui, |ui| {
                    let mut col = 0;
                    for (k, (spec, handle)) in PARAMS.iter().zip(self.params.handles()).enumerate()
                    {
                        if matches!(spec.kind, Kind::Trigger) {
                            continue;
                        }
                        if spec.group != group {
                            group = spec.group;
                            if col != 0 {
                                ui.end_row();
                                col = 0;
                            }
                        }
                        ui.label(spec.name);
                        let response = match handle {
                            ParamHandle::Float(p) => {
                                ui.add(ParamSlider::for_param(p, &setter).with_width(120.0))
                            }
                            ParamHandle::Bool(p) => {
                                ui.add(ParamSlider::for_param(p, &setter).with_width(120.0))
                            }
                        };
                        let held = response.dragged() || response.has_focus();
                        if held != self.dragging[k] {
                            self.dragging[k] = held;
                            self.session.audio.activity.set_held(k, held);
                            if held {
                                lock(&self.session.history).end_compare();
                            }
                        }
                        col += 1;
                        if col == 2 {
                            ui.end_row();
                            col = 0;
                        }
                    }
                });
        });
    }
}
