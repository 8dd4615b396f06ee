//! `stats --svg` and `--png`: the terminal's two charts as an image, drawn with plotters, with
//! titles and axis labels. The SVG carries its text as `<text>` (the viewer's fonts render it);
//! the PNG's text is rasterized from the DejaVu Sans file built into the binary
//! (`assets/DejaVuSans.ttf`), so no system font library is needed. Both need the font registered:
//! with plotters' `ab_glyph` feature, the SVG backend too measures its text with it (to place the
//! labels), and fails with `FontUnavailable` without it.

use std::io::BufWriter;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::human_ns;
use super::summary::{bin_bounds, range_label, Summary};
use crate::output;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 720;

/// The font the charts' text is drawn and measured with (its license:
/// `assets/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

/// Registers [`FONT`] as plotters' "sans-serif", once per process; called before any drawing.
fn register_font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    anyhow::ensure!(ok, "the built-in font could not be read");
    Ok(())
}

/// Writes the charts to `path` as SVG.
pub fn svg(path: &Path, s: &Summary) -> anyhow::Result<()> {
    register_font().context("drawing the SVG")?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, s).map_err(|e| anyhow::anyhow!("drawing the SVG: {e}"))?;
        root.present()
            .map_err(|e| anyhow::anyhow!("drawing the SVG: {e}"))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", output::path(path)))
}

/// Writes the charts to `path` as PNG (RGB, 8 bits).
pub fn png(path: &Path, s: &Summary) -> anyhow::Result<()> {
    register_font().context("drawing the PNG")?;
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, s).map_err(|e| anyhow::anyhow!("drawing the PNG: {e}"))?;
        root.present()
            .map_err(|e| anyhow::anyhow!("drawing the PNG: {e}"))?;
    }
    let what = || format!("writing {}", output::path(path));
    let file = std::fs::File::create(path).with_context(what)?;
    let mut enc = png::Encoder::new(BufWriter::new(file), WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().with_context(what)?;
    w.write_image_data(&pixels).with_context(what)?;
    w.finish().with_context(what)
}

type DrawResult<E> = Result<(), DrawingAreaErrorKind<E>>;

/// Both charts on `root`: the rate over time above, the size histogram below.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Summary,
) -> DrawResult<DB::ErrorType> {
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(HEIGHT * 11 / 20);
    rate(&upper, s)?;
    sizes(&lower, s)
}

/// Events per interval against seconds since the first interval's start, as a line.
fn rate<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Summary,
) -> DrawResult<DB::ErrorType> {
    let r = &s.rate;
    let n = r.counts.len().max(1);
    let max = r.counts.iter().copied().max().unwrap_or(0).max(1);
    let secs = |i: usize| i as f64 * r.width_ns as f64 / 1e9;
    let mut b = ChartBuilder::on(area);
    b.margin(12)
        .caption(
            format!(
                "events per {} from {}",
                human_ns(r.width_ns),
                crate::time::rfc3339(r.start_of(0))
            ),
            ("sans-serif", 20),
        )
        .x_label_area_size(36)
        .y_label_area_size(64);
    let mut chart = b.build_cartesian_2d(0f64..secs(n), 0u64..max + max / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("events")
        .draw()?;
    // A step line: each interval's count held across its width.
    let points = r
        .counts
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| [(secs(i), c), (secs(i + 1), c)]);
    chart.draw_series(LineSeries::new(points, BLUE.stroke_width(2)))?;
    Ok(())
}

/// Events per power-of-two payload-size bin, as bars.
fn sizes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &Summary,
) -> DrawResult<DB::ErrorType> {
    let bins = &s.size_bins;
    let lo = bins.iter().position(|&c| c > 0).unwrap_or(0);
    let hi = bins.iter().rposition(|&c| c > 0).unwrap_or(0);
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    let mut b = ChartBuilder::on(area);
    b.margin(12)
        .caption("payload sizes (bytes)", ("sans-serif", 20))
        .x_label_area_size(36)
        .y_label_area_size(64);
    let mut chart = b.build_cartesian_2d(lo as f64..(hi + 1) as f64, 0u64..max + max / 10 + 1)?;
    let label = |x: &f64| {
        let (a, b) = bin_bounds(x.floor() as usize);
        range_label(a, b)
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels((hi - lo + 2).min(12))
        .x_label_formatter(&label)
        .y_desc("events")
        .draw()?;
    chart.draw_series((lo..=hi).filter(|&k| bins[k] > 0).map(|k| {
        let x = k as f64;
        Rectangle::new([(x + 0.1, 0), (x + 0.9, bins[k])], BLUE.mix(0.7).filled())
    }))?;
    Ok(())
}
