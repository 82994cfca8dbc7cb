//! Small widgets the panels share.

use egui::{self, Color32, Stroke, Ui, Vec2};

use super::theme;

/// The live `S_C` against the threshold: a bar filled to `similarity` with a mark at
/// `threshold`.
pub fn similarity_bar(ui: &mut Ui, similarity: Option<f32>, threshold: f32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(160.0, 14.0), egui::Sense::hover());
    let p = ui.painter();
    p.rect_filled(rect, 3.0, theme::PLOT_BG);
    if let Some(s) = similarity {
        let mut fill = rect;
        fill.set_width(rect.width() * s.clamp(0.0, 1.0));
        p.rect_filled(
            fill,
            3.0,
            if s >= threshold {
                theme::METER_OK
            } else {
                theme::EQ_CURVE
            },
        );
    }
    let x = rect.left() + rect.width() * threshold.clamp(0.0, 1.0);
    p.line_segment(
        [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
        Stroke::new(2.0, Color32::WHITE),
    );
    ui.label(match similarity {
        Some(s) => format!("S_C {s:.2} / {threshold:.2}"),
        None => format!("S_C — / {threshold:.2}"),
    });
}

/// A vertical bar meter filled to `fraction` (0–1) with a caption and a value.
pub fn vertical_meter(
    ui: &mut Ui,
    size: Vec2,
    caption: &str,
    fraction: f32,
    value: &str,
    color: Color32,
) {
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let p = ui.painter();
    let bar = egui::Rect::from_min_max(
        egui::pos2(rect.center().x - 7.0, rect.top() + 18.0),
        egui::pos2(rect.center().x + 7.0, rect.bottom() - 16.0),
    );
    p.rect_filled(bar, 2.0, theme::GRID);
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut fill = bar;
    fill.set_top(bar.bottom() - bar.height() * f);
    p.rect_filled(fill, 2.0, color);
    p.text(
        egui::pos2(rect.center().x, rect.top() + 2.0),
        egui::Align2::CENTER_TOP,
        value,
        egui::FontId::monospace(11.0),
        Color32::WHITE,
    );
    p.text(
        egui::pos2(rect.center().x, rect.bottom() - 2.0),
        egui::Align2::CENTER_BOTTOM,
        caption,
        egui::FontId::proportional(10.0),
        theme::LABEL,
    );
}
