//! The analysis panel, a 2×2 grid: the snapshot's LTAS before and after the bake
//! with the EQ curve over it; the compressor's static curve with the gain-reduction
//! meter; the impulse response's magnitude and envelope; the input and output meters
//! (short-term LUFS and peak).

use egui::{self, Align, Layout, Ui, Vec2};
use faurge_dsp::analysis::ltas::ltas_band_centers_hz;
use faurge_dsp::compressor::Compressor;
use faurge_dsp::eq::Eq;
use faurge_dsp::state::DspState;

use crate::editor::app::FaurgeApp;
use crate::editor::meters;
use crate::editor::plots::{self, Axis, IrView, Plot, Scale, FREQ_AXIS};
use crate::editor::theme;
use crate::editor::widgets::vertical_meter;

impl FaurgeApp {
    /// The four plots, two rows of two.
    pub(in crate::editor) fn plots(&mut self, ui: &mut Ui) {
        let state = self.params.dsp_state();
        let rate = self.session.sample_rate();
        let width = ui.available_width();
        let row_h = 190.0;
        ui.horizontal(|ui| {
            self.spectrum_plot(ui, Vec2::new(width * 0.6 - 8.0, row_h), &state, rate);
            self.compressor_plot(ui, Vec2::new(width * 0.4 - 4.0, row_h), &state);
        });
        ui.horizontal(|ui| {
            self.ir_plots(
                ui,
                Vec2::new(width * 0.6 - 8.0, 150.0),
                state.convolver.enabled,
            );
            self.meters_panel(ui, Vec2::new(width * 0.4 - 4.0, 150.0));
        });
    }

    pub(in crate::editor) fn spectrum_plot(
        &self,
        ui: &mut Ui,
        size: Vec2,
        state: &DspState,
        rate: f32,
    ) {
        let y = Axis {
            min: -60.0,
            max: 6.0,
            scale: Scale::Linear,
        };
        let plot = Plot::new(
            ui,
            size,
            "Snapshot spectrum (LTAS, dB re peak) and EQ (dB), over Hz",
            (
                FREQ_AXIS,
                &[50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0],
                true,
            ),
            (y, &[-60.0, -48.0, -36.0, -24.0, -12.0, 0.0]),
        );
        // The EQ curve: 0 dB at −27 on the LTAS axis, 1 dB per dB.
        const EQ_ZERO: f32 = -27.0;
        for db in [-24.0f32, -12.0, 12.0, 24.0] {
            let p = plot.px(plots::MAX_HZ, EQ_ZERO + db);
            plot.painter().text(
                egui::pos2(p.x - 2.0, p.y),
                egui::Align2::RIGHT_CENTER,
                format!("EQ {db:+}"),
                egui::FontId::proportional(10.0),
                theme::EQ_CURVE,
            );
        }
        plot.function(
            200,
            |hz| EQ_ZERO + Eq::magnitude_db(&state.eq, f64::from(hz), f64::from(rate)) as f32,
            theme::EQ_CURVE,
            2.0,
        );
        let report = self.report.as_ref().and_then(|(_, r)| r.as_ref());
        let before = report.and_then(|r| r.input_metrics.as_ref());
        let after = report.and_then(|r| r.output_metrics.as_ref());
        match (before, after) {
            (Some(b), Some(a)) if b.ltas_db.len() == a.ltas_db.len() => {
                let top = b
                    .ltas_db
                    .iter()
                    .chain(&a.ltas_db)
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max);
                let centres = ltas_band_centers_hz();
                let curve = |v: &[f32]| -> Vec<(f32, f32)> {
                    centres
                        .iter()
                        .zip(v)
                        .map(|(&f, &db)| (f, db - top))
                        .collect()
                };
                plot.curve(curve(&b.ltas_db), theme::BEFORE_LTAS, 1.5);
                plot.curve(curve(&a.ltas_db), theme::color(theme::AFTER_LTAS), 2.0);
                plot.legend(&[
                    ("before", theme::BEFORE_LTAS),
                    ("after", theme::color(theme::AFTER_LTAS)),
                    ("EQ", theme::EQ_CURVE),
                ]);
            }
            _ => {
                plot.legend(&[("EQ", theme::EQ_CURVE)]);
                plot.note("Bake to see the snapshot's spectrum before and after");
            }
        }
    }

    pub(in crate::editor) fn compressor_plot(&self, ui: &mut Ui, size: Vec2, state: &DspState) {
        let axis = Axis {
            min: -60.0,
            max: 0.0,
            scale: Scale::Linear,
        };
        let grid = [-60.0, -48.0, -36.0, -24.0, -12.0, 0.0];
        // Leave room for the gain-reduction meter on the right.
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                let plot = Plot::new(
                    ui,
                    Vec2::new(size.x - 46.0, size.y),
                    "Compressor: output over input level, dB",
                    (axis, &grid, false),
                    (axis, &grid),
                );
                let c = &state.compressor;
                plot.function(2, |x| x, theme::GRID, 1.0);
                let color = if c.enabled {
                    theme::COMP_CURVE
                } else {
                    theme::LABEL
                };
                plot.function(120, |x| Compressor::static_curve_db(c, x), color, 2.0);
                if !c.enabled {
                    plot.note("off");
                }
                let gr = self.meters.as_ref().map_or(0.0, |m| m.gain_reduction_db);
                vertical_meter(
                    ui,
                    Vec2::new(38.0, size.y),
                    "GR",
                    gr / 24.0,
                    &format!("{gr:.1}"),
                    theme::COMP_CURVE,
                );
            });
        });
    }

    pub(in crate::editor) fn ir_plots(&mut self, ui: &mut Ui, size: Vec2, on: bool) {
        let revision = self.params.ir_revision();
        if self.ir.as_ref().is_none_or(|(r, _)| *r != revision) {
            let view = self.params.ir().and_then(|ir| {
                let first = ir.channels.first()?;
                Some((ir.sample_rate, IrView::analyse(first, ir.sample_rate)))
            });
            self.ir = Some((revision, view));
        }
        let view = self.ir.as_ref().and_then(|(_, v)| v.as_ref());
        ui.horizontal(|ui| {
            let mag = Plot::new(
                ui,
                Vec2::new(size.x * 0.55 - 4.0, size.y),
                if on {
                    "Impulse response: magnitude, dB"
                } else {
                    "Impulse response (off): magnitude, dB"
                },
                (FREQ_AXIS, &[100.0, 1000.0, 10_000.0], true),
                (
                    Axis {
                        min: -24.0,
                        max: 24.0,
                        scale: Scale::Linear,
                    },
                    &[-24.0, -12.0, 0.0, 12.0, 24.0],
                ),
            );
            let env_len = view.map_or(100.0, |(_, v)| v.active_ms.max(1.0));
            let env = Plot::new(
                ui,
                Vec2::new(size.x * 0.45 - 4.0, size.y),
                "Envelope: dB re peak over ms",
                (
                    Axis {
                        min: 0.0,
                        max: env_len,
                        scale: Scale::Linear,
                    },
                    &[0.0, (env_len / 2.0).round(), env_len.round()],
                    false,
                ),
                (
                    Axis {
                        min: -80.0,
                        max: 0.0,
                        scale: Scale::Linear,
                    },
                    &[-80.0, -40.0, 0.0],
                ),
            );
            match view {
                Some((_, v)) => {
                    mag.curve(
                        v.magnitude.iter().copied(),
                        theme::color(theme::IR_CURVE),
                        2.0,
                    );
                    env.curve(v.envelope.iter().copied(), theme::IR_ENVELOPE, 1.5);
                }
                None => {
                    mag.note("No impulse response yet");
                    env.note("Bake to get one");
                }
            }
        });
    }

    pub(in crate::editor) fn meters_panel(&self, ui: &mut Ui, size: Vec2) {
        let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
        let mut child = ui.new_child(
            egui::UiBuilder::new()
                .max_rect(rect)
                .layout(Layout::left_to_right(Align::Min)),
        );
        child.painter().rect_filled(rect, 4.0, theme::PLOT_BG);
        let bar = Vec2::new((size.x - 24.0) / 4.0, size.y - 8.0);
        child.add_space(4.0);
        let show = |ui: &mut Ui, label: &str, m: Option<&meters::Meter>| {
            let lufs = m.and_then(|m| m.short_term_lufs());
            let peak = m.map_or(-200.0, |m| m.peak_dbfs());
            // Scales: LUFS −60…0, peak −60…0 dBFS.
            vertical_meter(
                ui,
                bar,
                &format!("{label} LUFS-S"),
                lufs.map_or(0.0, |l| (l + 60.0) / 60.0),
                &lufs.map_or("—".to_string(), |l| format!("{l:.1}")),
                theme::METER_OK,
            );
            vertical_meter(
                ui,
                bar,
                &format!("{label} peak"),
                (peak + 60.0) / 60.0,
                &if peak > -100.0 {
                    format!("{peak:.1}")
                } else {
                    "—".to_string()
                },
                if peak > -1.0 {
                    theme::METER_HOT
                } else {
                    theme::METER_OK
                },
            );
        };
        show(&mut child, "In", self.meters.as_ref().map(|m| &m.input));
        show(&mut child, "Out", self.meters.as_ref().map(|m| &m.output));
    }
}
