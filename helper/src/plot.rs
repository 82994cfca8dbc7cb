//! The PNG of `faurge fix --report`: before/after LTAS, the EQ curve (the same
//! biquad math as the DSP, `Eq::magnitude_db`) with the IR's magnitude, and the
//! IR's envelope. Drawn with `plotters`; text uses DejaVu Sans, shipped in
//! `helper/assets/` (Bitstream Vera license) so no system font is needed.

use std::path::Path;

use anyhow::{Context, Result};
use faurge_dsp::analysis::ltas::ltas_band_centers_hz;
use faurge_dsp::eq::Eq;
use faurge_protocol::BakeResult;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use realfft::RealFftPlanner;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn ensure_font() {
    // Registering twice only replaces the same bytes.
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
}

/// IR magnitude, dB, at `freqs` (Hz) for an IR at `sr` (zero-padded FFT).
fn ir_magnitude_db(ir: &[f32], sr: f64, freqs: &[f64]) -> Vec<f64> {
    let n = ir.len().next_power_of_two().max(8192);
    let mut buf = vec![0.0f32; n];
    buf[..ir.len()].copy_from_slice(ir);
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
    let mut spec = fft.make_output_vec();
    if fft.process(&mut buf, &mut spec).is_err() {
        return vec![0.0; freqs.len()];
    }
    freqs
        .iter()
        .map(|&f| {
            let k = ((f / sr * n as f64).round() as usize).min(spec.len() - 1);
            20.0 * f64::from(spec[k].norm()).max(1e-9).log10()
        })
        .collect()
}

/// Writes the report PNG for a bake of audio at `sample_rate`.
///
/// # Errors
/// When the file cannot be written or a chart fails to draw.
/// One of the report's panels: a log-frequency or linear x axis over dB.
type Panel<'a, 'b, X> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, RangedCoordf64>>;

/// Draws `data` as a line of `color` with a legend entry `label`.
fn labelled_line<X: Ranged<ValueType = f64>>(
    chart: &mut Panel<'_, '_, X>,
    data: Vec<(f64, f64)>,
    color: RGBColor,
    label: &str,
) -> Result<()> {
    chart
        .draw_series(LineSeries::new(data, &color))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    Ok(())
}

/// Draws the legend of the lines drawn with [`labelled_line`].
fn draw_legend<'a, X: Ranged<ValueType = f64>>(chart: &mut Panel<'a, 'a, X>) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

pub fn write_png(path: &Path, result: &BakeResult, sample_rate: u32) -> Result<()> {
    ensure_font();
    let root = BitMapBackend::new(path, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((3, 1));
    let sr = f64::from(sample_rate);
    let nyq = (sr / 2.0).min(20_000.0);

    // 1. LTAS before / after.
    let centers = ltas_band_centers_hz();
    let report = &result.report;
    let series = |m: &Option<faurge_protocol::MetricsSummary>| -> Vec<(f64, f64)> {
        m.as_ref()
            .map(|m| {
                centers
                    .iter()
                    .zip(&m.ltas_db)
                    .filter(|(_, v)| **v > -99.0)
                    .map(|(f, v)| (f64::from(*f), f64::from(*v)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = series(&report.input_metrics);
    let after = series(&report.output_metrics);
    let lo = before
        .iter()
        .chain(&after)
        .map(|p| p.1)
        .fold(0.0f64, f64::min)
        .max(-90.0)
        - 3.0;
    let mut chart = ChartBuilder::on(&panels[0])
        .caption(
            format!("LTAS before / after — \"{}\"", report.prompt.understood),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d((40f64..nyq).log_scale(), lo..0f64)?;
    chart
        .configure_mesh()
        .x_desc("Hz")
        .y_desc("dB re total")
        .label_style(("sans-serif", 14))
        .draw()?;
    labelled_line(&mut chart, before, RGBColor(120, 120, 120), "input")?;
    labelled_line(&mut chart, after, BLUE, "after the bake")?;
    draw_legend(&mut chart)?;

    // 2. EQ curve and IR magnitude.
    let freqs: Vec<f64> = (0..400)
        .map(|i| 20.0 * (nyq / 20.0).powf(f64::from(i) / 399.0))
        .collect();
    let eq: Vec<(f64, f64)> = freqs
        .iter()
        .map(|&f| (f, Eq::magnitude_db(&result.dsp_state.eq, f, sr)))
        .collect();
    let ir = result.ir_samples().unwrap_or_default();
    let ir_db: Vec<(f64, f64)> = if ir.is_empty() {
        Vec::new()
    } else {
        freqs
            .iter()
            .copied()
            .zip(ir_magnitude_db(&ir, sr, &freqs))
            .collect()
    };
    let (ymin, ymax) = eq
        .iter()
        .chain(&ir_db)
        .fold((-6.0f64, 6.0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let mut chart = ChartBuilder::on(&panels[1])
        .caption("EQ curve and IR magnitude", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(
            (20f64..nyq).log_scale(),
            (ymin.max(-48.0) - 1.0)..(ymax.min(30.0) + 1.0),
        )?;
    chart
        .configure_mesh()
        .x_desc("Hz")
        .y_desc("dB")
        .label_style(("sans-serif", 14))
        .draw()?;
    labelled_line(&mut chart, eq, RED, "EQ (8 biquads)")?;
    if !ir_db.is_empty() {
        labelled_line(&mut chart, ir_db, GREEN, "impulse response")?;
    }
    draw_legend(&mut chart)?;

    // 3. IR envelope (dB of |h|, 1 ms peak windows).
    let win = (sr / 1000.0).max(1.0) as usize;
    let env: Vec<(f64, f64)> = ir
        .chunks(win)
        .enumerate()
        .map(|(i, c)| {
            let peak = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            (i as f64, 20.0 * f64::from(peak).max(1e-6).log10())
        })
        .collect();
    let len_ms = env.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&panels[2])
        .caption("Impulse response envelope", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..len_ms, -120f64..6f64)?;
    chart
        .configure_mesh()
        .x_desc("ms")
        .y_desc("dBFS")
        .label_style(("sans-serif", 14))
        .draw()?;
    chart.draw_series(LineSeries::new(env, &GREEN))?;
    root.present()
        .with_context(|| format!("Could not write \"{}\"", path.display()))?;
    Ok(())
}
