//! The editor's plots, drawn with egui's painter: a log-frequency/dB frame for the
//! spectrum and IR magnitude, a linear frame for the compressor curve and the IR
//! envelope, and the analysis behind the IR plot.

use egui::{self, Align2, Color32, FontId, Pos2, Rect, Sense, Shape, Stroke, Vec2};
use realfft::RealFftPlanner;

use super::theme;

/// Lowest frequency on the frequency plots, Hz.
pub const MIN_HZ: f32 = 20.0;
/// Highest frequency on the frequency plots, Hz.
pub const MAX_HZ: f32 = 20_000.0;

/// How an axis maps values to the plot.
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    /// Logarithmic (frequency), `min > 0`.
    Log,
    /// Linear.
    Linear,
}

/// One axis: range, mapping, grid values and how to label them.
#[derive(Clone, Copy, Debug)]
pub struct Axis {
    /// Lowest value shown.
    pub min: f32,
    /// Highest value shown.
    pub max: f32,
    /// Mapping.
    pub scale: Scale,
}

impl Axis {
    /// Where `v` falls, 0 (min) to 1 (max), clamped.
    pub fn fraction(&self, v: f32) -> f32 {
        let f = match self.scale {
            Scale::Log => (v.max(1e-9).ln() - self.min.ln()) / (self.max.ln() - self.min.ln()),
            Scale::Linear => (v - self.min) / (self.max - self.min),
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// The value at fraction `f` (0–1) of the axis.
    pub fn value_at(&self, f: f32) -> f32 {
        match self.scale {
            Scale::Log => (self.min.ln() + f * (self.max.ln() - self.min.ln())).exp(),
            Scale::Linear => self.min + f * (self.max - self.min),
        }
    }
}

/// A plot area with its axes, ready for curves.
pub struct Plot {
    /// The inner rectangle curves are drawn in.
    pub rect: Rect,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    painter: egui::Painter,
}

/// Frequency axis, 20 Hz–20 kHz, logarithmic.
pub const FREQ_AXIS: Axis = Axis {
    min: MIN_HZ,
    max: MAX_HZ,
    scale: Scale::Log,
};

fn hz_label(hz: f32) -> String {
    if hz >= 1000.0 {
        format!("{}k", hz / 1000.0)
    } else {
        format!("{hz}")
    }
}

impl Plot {
    /// Allocates `size` in `ui`, paints the background, the title (which names the
    /// units) and a grid with labels at `x_grid` and `y_grid` (values on each axis;
    /// `x_hz` labels the x grid as frequencies: 1k, 10k).
    pub fn new(
        ui: &mut egui::Ui,
        size: Vec2,
        title: &str,
        (x, x_grid, x_hz): (Axis, &[f32], bool),
        (y, y_grid): (Axis, &[f32]),
    ) -> Plot {
        let (outer, _) = ui.allocate_exact_size(size, Sense::hover());
        let painter = ui.painter_at(outer);
        painter.rect_filled(outer, 4.0, theme::PLOT_BG);
        let font = FontId::proportional(11.0);
        painter.text(
            outer.left_top() + Vec2::new(8.0, 4.0),
            Align2::LEFT_TOP,
            title,
            FontId::proportional(13.0),
            Color32::WHITE,
        );
        let rect = Rect::from_min_max(
            outer.left_top() + Vec2::new(36.0, 22.0),
            outer.right_bottom() - Vec2::new(8.0, 18.0),
        );
        let plot = Plot {
            rect,
            x,
            y,
            painter,
        };
        let stroke = Stroke::new(1.0, theme::GRID);
        for &v in x_grid {
            let px = plot.px(v, y.min).x;
            plot.painter.line_segment(
                [Pos2::new(px, rect.top()), Pos2::new(px, rect.bottom())],
                stroke,
            );
            let label = if x_hz { hz_label(v) } else { format!("{v}") };
            // The last label would be cut at the plot's right edge: right-align it.
            let align = if px > rect.right() - 12.0 {
                Align2::RIGHT_TOP
            } else {
                Align2::CENTER_TOP
            };
            plot.painter.text(
                Pos2::new(px, rect.bottom() + 2.0),
                align,
                label,
                font.clone(),
                theme::LABEL,
            );
        }
        for &v in y_grid {
            let py = plot.px(x.min, v).y;
            plot.painter.line_segment(
                [Pos2::new(rect.left(), py), Pos2::new(rect.right(), py)],
                stroke,
            );
            plot.painter.text(
                Pos2::new(rect.left() - 4.0, py),
                Align2::RIGHT_CENTER,
                format!("{v}"),
                font.clone(),
                theme::LABEL,
            );
        }
        plot
    }

    /// Screen position of the point `(x, y)` (clamped into the plot).
    pub fn px(&self, x: f32, y: f32) -> Pos2 {
        Pos2::new(
            self.rect.left() + self.x.fraction(x) * self.rect.width(),
            self.rect.bottom() - self.y.fraction(y) * self.rect.height(),
        )
    }

    /// Draws a polyline through `points` (plot coordinates).
    pub fn curve(&self, points: impl IntoIterator<Item = (f32, f32)>, color: Color32, width: f32) {
        let pts: Vec<Pos2> = points
            .into_iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| self.px(x, y))
            .collect();
        if pts.len() >= 2 {
            self.painter
                .add(Shape::line(pts, Stroke::new(width, color)));
        }
    }

    /// Evaluates `f` at `n` points across the x axis and draws it.
    pub fn function(&self, n: usize, f: impl Fn(f32) -> f32, color: Color32, width: f32) {
        let n = n.max(2);
        self.curve(
            (0..n).map(|i| {
                let x = self.x.value_at(i as f32 / (n - 1) as f32);
                (x, f(x))
            }),
            color,
            width,
        );
    }

    /// A legend line at the top right: coloured dashes with names.
    pub fn legend(&self, items: &[(&str, Color32)]) {
        let mut pos = Pos2::new(self.rect.right() - 4.0, self.rect.top() - 12.0);
        for (name, color) in items.iter().rev() {
            let galley = self.painter.layout_no_wrap(
                (*name).to_string(),
                FontId::proportional(11.0),
                theme::LABEL,
            );
            pos.x -= galley.size().x;
            self.painter.galley(
                Pos2::new(pos.x, pos.y - galley.size().y / 2.0),
                galley.clone(),
                theme::LABEL,
            );
            pos.x -= 16.0;
            self.painter.line_segment(
                [Pos2::new(pos.x, pos.y), Pos2::new(pos.x + 12.0, pos.y)],
                Stroke::new(2.0, *color),
            );
            pos.x -= 10.0;
        }
    }

    /// A note in the middle of the plot (e.g. "Bake to see the result").
    pub fn note(&self, text: &str) {
        self.painter.text(
            Pos2::new(
                self.rect.center().x,
                self.rect.top() + 0.3 * self.rect.height(),
            ),
            Align2::CENTER_CENTER,
            text,
            FontId::proportional(12.0),
            theme::LABEL,
        );
    }

    /// The painter, clipped to the whole plot.
    pub fn painter(&self) -> &egui::Painter {
        &self.painter
    }
}

/// What the IR plot shows: magnitude over frequency and envelope over time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IrView {
    /// `(Hz, dB)` at log-spaced frequencies, normalized so the median is 0 dB.
    pub magnitude: Vec<(f32, f32)>,
    /// `(ms, dB re peak)`: the peak `|h|` in 1 ms windows.
    pub envelope: Vec<(f32, f32)>,
    /// Length, ms.
    pub length_ms: f32,
    /// Where the envelope last rises above −80 dB re peak, ms (at least 1 ms): the
    /// part worth plotting.
    pub active_ms: f32,
}

impl IrView {
    /// Analyses an impulse response `ir` (one channel) at `sample_rate` Hz: an FFT of
    /// the zero-padded response (`realfft`) read at 160 log-spaced frequencies, and the
    /// peak envelope. Allocates: editor thread only.
    pub fn analyse(ir: &[f32], sample_rate: f32) -> IrView {
        if ir.is_empty() || sample_rate.is_nan() || sample_rate <= 0.0 {
            return IrView::default();
        }
        let n = ir.len().next_power_of_two().max(4096);
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(n);
        let mut input = vec![0.0f32; n];
        for (d, s) in input.iter_mut().zip(ir) {
            *d = if s.is_finite() { *s } else { 0.0 };
        }
        let mut spectrum = fft.make_output_vec();
        if fft.process(&mut input, &mut spectrum).is_err() {
            return IrView::default();
        }
        let bin_hz = sample_rate / n as f32;
        let nyquist = sample_rate / 2.0;
        let points = 160;
        let mut magnitude: Vec<(f32, f32)> = (0..points)
            .map(|i| FREQ_AXIS.value_at(i as f32 / (points - 1) as f32))
            .filter(|&hz| hz < nyquist)
            .map(|hz| {
                let bin = ((hz / bin_hz).round() as usize).min(spectrum.len() - 1);
                (hz, 20.0 * spectrum[bin].norm().max(1e-9).log10())
            })
            .collect();
        let mut sorted: Vec<f32> = magnitude.iter().map(|p| p.1).collect();
        sorted.sort_by(f32::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        for p in &mut magnitude {
            p.1 -= median;
        }
        let window = ((sample_rate * 1e-3) as usize).max(1);
        let peak = ir.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
        let envelope: Vec<(f32, f32)> = ir
            .chunks(window)
            .enumerate()
            .map(|(i, c)| {
                let p = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                (i as f32, 20.0 * (p / peak).max(1e-6).log10())
            })
            .collect();
        let active_ms = envelope
            .iter()
            .rev()
            .find(|p| p.1 > -80.0)
            .map_or(1.0, |p| (p.0 + 1.0).max(1.0));
        IrView {
            magnitude,
            envelope,
            length_ms: ir.len() as f32 / sample_rate * 1e3,
            active_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_map_both_ways() {
        assert!(
            (FREQ_AXIS.fraction(632.455) - 0.5).abs() < 1e-3,
            "the geometric middle"
        );
        assert!((FREQ_AXIS.value_at(0.5) - 632.455).abs() < 0.5);
        let db = Axis {
            min: -24.0,
            max: 24.0,
            scale: Scale::Linear,
        };
        assert_eq!(db.fraction(0.0), 0.5);
        assert_eq!(db.fraction(100.0), 1.0, "clamped");
    }

    #[test]
    fn a_unit_impulse_is_flat_and_a_decay_shows_in_the_envelope() {
        let mut ir = vec![0.0f32; 4800];
        ir[0] = 1.0;
        let view = IrView::analyse(&ir, 48_000.0);
        assert!(view.magnitude.iter().all(|p| p.1.abs() < 0.01), "flat");
        assert_eq!(view.envelope.len(), 100);
        assert_eq!(view.envelope[0].1, 0.0);
        assert!(view.envelope[50].1 < -100.0);
        assert!((view.length_ms - 100.0).abs() < 1e-3);
        assert_eq!(
            view.active_ms, 1.0,
            "only the first millisecond is above −80 dB"
        );

        // A first-order low-pass: −3 dB near its corner, falling above.
        let a = (-2.0 * std::f32::consts::PI * 1000.0 / 48_000.0).exp();
        let lp: Vec<f32> = (0..4800).map(|n| (1.0 - a) * a.powi(n)).collect();
        let view = IrView::analyse(&lp, 48_000.0);
        let at = |hz: f32| {
            view.magnitude
                .iter()
                .min_by(|p, q| (p.0 - hz).abs().total_cmp(&(q.0 - hz).abs()))
                .unwrap()
                .1
        };
        assert!(at(10_000.0) < at(100.0) - 15.0);
    }
}
