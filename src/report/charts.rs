//! Charts as SVG (plotters, SVG backend, the embedded Open Sans font; no
//! system fonts). Text is drawn in the `Open Sans` family, which typst also
//! holds, so the sizes plotters measures are the sizes typst draws.
//!
//! Open Sans is TrueType on purpose: with a CFF (.otf) sans such as Inter,
//! typst took about 35 ms per clinic report instead of about 21 ms.

use crate::dates::Month;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::sync::Once;

/// The sans font shared by charts and typst.
pub static SANS_REGULAR: &[u8] = include_bytes!("../../assets/fonts/OpenSans-Regular.ttf");
pub static SANS_BOLD: &[u8] = include_bytes!("../../assets/fonts/OpenSans-Bold.ttf");
pub static SANS_SEMIBOLD: &[u8] = include_bytes!("../../assets/fonts/OpenSans-Semibold.ttf");
pub static SANS_ITALIC: &[u8] = include_bytes!("../../assets/fonts/OpenSans-Italic.ttf");

const FONT: &str = "Open Sans";

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, SANS_REGULAR);
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, SANS_BOLD);
        let _ = plotters::style::register_font(FONT, FontStyle::Italic, SANS_ITALIC);
    });
}

/// Palette (colour-blind safe, Okabe–Ito).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(100, 100, 100),
];

/// One line of a chart; `None` values are left out (gaps).
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub values: Vec<Option<f64>>,
    pub color: usize,
}

/// A shaded band (e.g. the study IQR) with its median line.
#[derive(Clone, Debug)]
pub struct Band {
    pub label: String,
    pub low: Vec<Option<f64>>,
    pub mid: Vec<Option<f64>>,
    pub high: Vec<Option<f64>>,
    pub color: usize,
}

/// A monthly trend chart.
#[derive(Clone, Debug)]
pub struct TrendChart {
    pub months: Vec<Month>,
    pub y_label: String,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
    /// Month index of the program start, drawn as a vertical line.
    pub marker: Option<(usize, String)>,
    /// Fix the y axis to 0–100 (percentages).
    pub percent: bool,
    pub size: (u32, u32),
    /// Horizontal goal lines: the target (dashed) and the benchmark (dotted).
    pub goals: Vec<Goal>,
}

/// A horizontal reference line.
#[derive(Clone, Debug)]
pub struct Goal {
    pub label: String,
    pub value: f64,
    /// Dotted (benchmark) rather than dashed (target).
    pub dotted: bool,
}

fn month_label(m: Month) -> String {
    const N: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {}", N[m.month() as usize - 1], m.year() % 100)
}

/// A chart: its SVG without the labels, and the labels, which the
/// templates set as typst text over the image (`chart-image` in
/// common.typ). typst's SVG loader shaped every label of every chart anew
/// and its PDF export drew them glyph by glyph: a fifth of a clinic
/// report's instructions (issue 14). As typst text they cost less (a stub
/// template placing as many labels cost about a third), and they can be
/// selected, searched and read aloud.
#[derive(Debug)]
pub struct ChartSvg {
    pub svg: String,
    /// The canvas width in SVG pixels, and the labels in those pixels.
    pub labels: Labels,
}

/// The labels file of a chart (`<chart>.svg.json`).
#[derive(Debug, serde::Serialize)]
pub struct Labels {
    pub width: u32,
    pub labels: Vec<Label>,
}

/// One text of the chart: plotters' `<text>` attributes, in SVG pixels.
#[derive(Debug, PartialEq, serde::Serialize)]
pub struct Label {
    /// The anchor point, and the baseline's offset below it (along the
    /// text's own y axis when rotated).
    pub x: f64,
    pub y: f64,
    pub dy: f64,
    pub anchor: Anchor,
    pub size: f64,
    pub fill: String,
    pub bold: bool,
    /// Clockwise degrees about the anchor.
    pub angle: i32,
    pub text: String,
}

/// Which point of the text sits on the anchor (SVG `text-anchor`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl ChartSvg {
    /// The chart's two virtual files: the SVG at `path`, its labels at `path.json`.
    pub fn files(self, path: &str) -> [(String, Vec<u8>); 2] {
        let labels = serde_json::to_vec(&self.labels).expect("labels serialize");
        [(path.to_string(), self.svg.into_bytes()), (format!("{path}.json"), labels)]
    }
}

/// Draw onto a white SVG canvas of `size` and return the SVG and its labels.
fn draw_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<ChartSvg, String> {
    register_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let (svg, labels) = compact_svg(&svg);
    Ok(ChartSvg { svg, labels: Labels { width: size.0, labels } })
}

/// A chart area over f64 × f64.
type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn build<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_area: u32,
) -> Result<Chart<'a, 'b>, String> {
    ChartBuilder::on(root)
        .margin_top(8)
        .margin_right(22)
        .margin_left(4)
        .x_label_area_size(x_area)
        .y_label_area_size(54)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())
}

/// Axes, labels and the horizontal grid in the house style.
fn draw_mesh(
    chart: &mut Chart,
    x_labels: usize,
    x_fmt: &dyn Fn(&f64) -> String,
    y_fmt: &dyn Fn(&f64) -> String,
    x_desc: Option<&str>,
    y_desc: &str,
) -> Result<(), String> {
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(x_labels)
        .x_label_formatter(x_fmt)
        .y_labels(6)
        .y_label_formatter(y_fmt)
        .y_desc(y_desc)
        .disable_x_mesh()
        .max_light_lines(0)
        .bold_line_style(RGBColor(225, 225, 225))
        .axis_style(RGBColor(150, 150, 150))
        .label_style((FONT, 12).into_font().color(&RGBColor(60, 60, 60)))
        .axis_desc_style((FONT, 12).into_font().color(&RGBColor(60, 60, 60)));
    if let Some(d) = x_desc {
        mesh.x_desc(d);
    }
    mesh.draw().map_err(|e| e.to_string())
}

/// The legend box in the house style.
fn draw_legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, pos: SeriesLabelPosition) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(pos)
        .margin(6)
        .legend_area_size(18)
        .label_font((FONT, 11).into_font().color(&RGBColor(40, 40, 40)))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(|e| e.to_string())
}

/// Month tick labels every third month, ending at the last month.
fn month_ticks(months: &[Month]) -> impl Fn(&f64) -> String + '_ {
    move |x: &f64| {
        let i = x.round() as i64;
        if (x - i as f64).abs() < 1e-6
            && i >= 0
            && (i as usize) < months.len()
            && (i as usize) % 3 == (months.len() - 1) % 3
        {
            month_label(months[i as usize])
        } else {
            String::new()
        }
    }
}

fn y_format(percent: bool) -> impl Fn(&f64) -> String {
    move |y: &f64| {
        if percent {
            if *y <= 100.0 {
                format!("{y}%")
            } else {
                String::new()
            }
        } else if y.fract() == 0.0 {
            format!("{y:.0}")
        } else {
            format!("{y}")
        }
    }
}

fn runs(values: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(y) => cur.push((i as f64, *y)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn nice_max(m: f64) -> f64 {
    if m <= 0.0 {
        return 10.0;
    }
    let p = 10f64.powf(m.log10().floor());
    for k in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if k * p >= m * 1.05 {
            return k * p;
        }
    }
    10.0 * p
}

/// Draw a trend chart as SVG text.
pub fn trend_svg(c: &TrendChart) -> Result<ChartSvg, String> {
    draw_svg(c.size, |root| {
        let n = c.months.len().max(2);
        let ymax = trend_ymax(c);
        let mut chart = build(root, -0.6f64..(n as f64 - 0.4), 0f64..ymax, 28)?;
        draw_mesh(&mut chart, n, &month_ticks(&c.months), &y_format(c.percent), None, &c.y_label)?;
        if let Some((i, label)) = &c.marker {
            draw_marker(&mut chart, *i as f64 - 0.5, label, ymax)?;
        }
        for b in &c.bands {
            draw_band(&mut chart, b)?;
        }
        for g in &c.goals {
            draw_goal(&mut chart, g, n)?;
        }
        for s in &c.series {
            draw_series(&mut chart, s)?;
        }
        if !c.series.is_empty() || !c.bands.is_empty() {
            draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    })
}

/// The y axis' top: head-room above the data keeps the legend clear of the
/// lines; percentages stop at 100 (140 when the data pass 70).
fn trend_ymax(c: &TrendChart) -> f64 {
    let all = c
        .series
        .iter()
        .flat_map(|s| s.values.iter())
        .chain(c.bands.iter().flat_map(|b| b.high.iter().chain(b.mid.iter())))
        .flatten()
        .copied()
        .chain(c.goals.iter().map(|g| g.value))
        .fold(0.0f64, f64::max);
    if c.percent {
        nice_max((all * 1.4).max(5.0)).min(if all > 70.0 { 140.0 } else { 100.0 })
    } else {
        nice_max(all * 1.4)
    }
}

/// A dashed vertical line with its label (the program start).
fn draw_marker(chart: &mut Chart, x: f64, label: &str, ymax: f64) -> Result<(), String> {
    let col = RGBColor(120, 120, 120);
    chart
        .draw_series(DashedLineSeries::new(vec![(x, 0.0), (x, ymax)], 4, 3, col.stroke_width(1)))
        .map_err(|e| e.to_string())?;
    let text = Text::new(label.to_string(), (x + 0.2, ymax * 0.06), (FONT, 11).into_font().color(&col));
    chart.draw_series(std::iter::once(text)).map_err(|e| e.to_string())?;
    Ok(())
}

/// A shaded band, one polygon per run of months with both ends, and its
/// median line; the legend entry once.
fn draw_band(chart: &mut Chart, b: &Band) -> Result<(), String> {
    let col = PALETTE[b.color % PALETTE.len()];
    let pairs: Vec<Option<(f64, f64)>> = b.low.iter().zip(&b.high).map(|(l, h)| l.zip(*h)).collect();
    let mut first = true;
    let mut i = 0;
    while i < pairs.len() {
        if pairs[i].is_none() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < pairs.len() && pairs[j].is_some() {
            j += 1;
        }
        let mut pts: Vec<(f64, f64)> = (i..j).map(|k| (k as f64, pairs[k].unwrap().1)).collect();
        pts.extend((i..j).rev().map(|k| (k as f64, pairs[k].unwrap().0)));
        let s =
            chart.draw_series(std::iter::once(Polygon::new(pts, col.mix(0.15).filled()))).map_err(|e| e.to_string())?;
        if first {
            s.label(b.label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], col.mix(0.25).filled()));
            first = false;
        }
        i = j;
    }
    for run in runs(&b.mid) {
        chart.draw_series(LineSeries::new(run, col.mix(0.8).stroke_width(1))).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A horizontal goal: the target dashed, the benchmark dotted.
fn draw_goal(chart: &mut Chart, g: &Goal, n: usize) -> Result<(), String> {
    let col = RGBColor(40, 40, 40);
    let (dash, gap) = if g.dotted { (2, 3) } else { (7, 4) };
    let line = vec![(-0.6, g.value), (n as f64 - 0.4, g.value)];
    chart
        .draw_series(DashedLineSeries::new(line, dash, gap, col.stroke_width(1)))
        .map_err(|e| e.to_string())?
        .label(g.label.clone())
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 4, y), (x + 6, y), (x + 10, y), (x + 12, y), (x + 16, y)], col)
        });
    Ok(())
}

/// A line per run of months with values; a marker where a point stands
/// alone (a line needs two); the legend entry once.
fn draw_series(chart: &mut Chart, s: &Series) -> Result<(), String> {
    let col = PALETTE[s.color % PALETTE.len()];
    let mut first = true;
    for run in runs(&s.values) {
        let pts = run.clone();
        let ls = chart.draw_series(LineSeries::new(run, col.stroke_width(2))).map_err(|e| e.to_string())?;
        if first {
            ls.label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], col.stroke_width(2)));
            first = false;
        }
        if pts.len() == 1 {
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, col.filled()))).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Stacked monthly bars (e.g. facilitation hours by activity).
pub fn stacked_bars_svg(
    months: &[Month],
    stacks: &[(String, Vec<f64>)],
    y_label: &str,
    size: (u32, u32),
) -> Result<ChartSvg, String> {
    draw_svg(size, |root| {
        let n = months.len().max(1);
        let totals: Vec<f64> = (0..months.len()).map(|k| stacks.iter().map(|(_, v)| v[k]).sum()).collect();
        let ymax = nice_max(totals.iter().cloned().fold(0.0, f64::max).max(1.0));
        let mut chart = build(root, -0.6f64..(n as f64 - 0.4), 0f64..ymax, 28)?;
        draw_mesh(&mut chart, n, &month_ticks(months), &y_format(false), None, y_label)?;
        let mut base = vec![0.0; months.len()];
        for (si, (label, v)) in stacks.iter().enumerate() {
            if v.iter().all(|x| *x == 0.0) {
                continue;
            }
            let col = PALETTE[si % PALETTE.len()];
            let rects: Vec<Rectangle<(f64, f64)>> = (0..months.len())
                .filter(|&k| v[k] > 0.0)
                .map(|k| Rectangle::new([(k as f64 - 0.35, base[k]), (k as f64 + 0.35, base[k] + v[k])], col.filled()))
                .collect();
            for k in 0..months.len() {
                base[k] += v[k];
            }
            chart
                .draw_series(rects)
                .map_err(|e| e.to_string())?
                .label(label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], col.filled()));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// Event-time chart: pooled values by months from program start, with the
/// fitted pre and post segments of the interrupted time series.
pub fn event_svg(
    points: &[(i32, f64)],
    fit: Option<[f64; 4]>,
    y_label: &str,
    percent: bool,
    size: (u32, u32),
) -> Result<ChartSvg, String> {
    draw_svg(size, |root| {
        let (lo, hi) = points.iter().fold((0i32, 1i32), |(a, b), (e, _)| (a.min(*e), b.max(*e)));
        let ymax_data = points.iter().map(|p| p.1).fold(0.0, f64::max);
        let ymax = if percent { nice_max((ymax_data * 1.3).max(5.0)).min(100.0) } else { nice_max(ymax_data * 1.3) };
        let mut chart = build(root, (lo as f64 - 0.5)..(hi as f64 + 0.5), 0f64..ymax, 34)?;
        draw_mesh(
            &mut chart,
            10,
            &|x: &f64| format!("{:.0}", x),
            &y_format(percent),
            Some("Months from program start"),
            y_label,
        )?;
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(DashedLineSeries::new(vec![(-0.5, 0.0), (-0.5, ymax)], 4, 3, grey.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        let blue = PALETTE[0];
        chart
            .draw_series(points.iter().map(|(e, v)| Circle::new((*e as f64, *v), 3, blue.mix(0.7).filled())))
            .map_err(|e| e.to_string())?
            .label("Pooled, intervention clinics")
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, blue.filled()));
        if let Some(b) = fit {
            let orange = PALETTE[1];
            let f = |k: f64| {
                let post = if k >= 0.0 { 1.0 } else { 0.0 };
                b[0] + b[1] * k + b[2] * post + b[3] * post * k
            };
            let pre: Vec<(f64, f64)> = (lo..0).map(|k| (k as f64, f(k as f64))).collect();
            let post: Vec<(f64, f64)> = (0..=hi).map(|k| (k as f64, f(k as f64))).collect();
            chart
                .draw_series(LineSeries::new(pre, orange.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label("Fitted segments (ITS)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], orange.stroke_width(2)));
            chart.draw_series(LineSeries::new(post, orange.stroke_width(2))).map_err(|e| e.to_string())?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// The event study: ATT(e) by event time with its 95% band (where not
/// descriptive), program years 1 and 2 shaded, a zero line and the base
/// month (e = −1, 0 by construction).
pub fn att_svg(points: &[(i32, f64, Option<(f64, f64)>)], y_label: &str, size: (u32, u32)) -> Result<ChartSvg, String> {
    draw_svg(size, |root| {
        let (lo, hi) = points.iter().fold((-1i32, 1i32), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let ext = points.iter().map(|p| p.2.map_or(p.1.abs(), |(l, h)| l.abs().max(h.abs()))).fold(0.0, f64::max);
        let ymax = nice_max(ext * 1.15);
        let mut chart = build(root, (lo as f64 - 0.5)..(hi as f64 + 0.5), -ymax..ymax, 34)?;
        for (from, to, shade, label) in [(-0.5, 11.5, 0.10, "Year 1"), (11.5, 23.5, 0.18, "Year 2")] {
            let (a, b) = (f64::max(from, lo as f64 - 0.5), f64::min(to, hi as f64 + 0.5));
            if a < b {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, -ymax), (b, ymax)],
                        PALETTE[4].mix(shade).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                let style = (FONT, 11).into_font().color(&RGBColor(90, 90, 90));
                chart
                    .draw_series(std::iter::once(Text::new(label, (a + 0.4, ymax * 0.92), style)))
                    .map_err(|e| e.to_string())?;
            }
        }
        draw_mesh(
            &mut chart,
            10,
            &|x: &f64| format!("{:.0}", x),
            &|y: &f64| if y.fract().abs() < 1e-9 { format!("{y:.0}") } else { format!("{y:.1}") },
            Some("Months from program start"),
            y_label,
        )?;
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(LineSeries::new(vec![(lo as f64 - 0.5, 0.0), (hi as f64 + 0.5, 0.0)], grey.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(DashedLineSeries::new(vec![(-0.5, -ymax), (-0.5, ymax)], 4, 3, grey.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        let blue = PALETTE[0];
        let band: Vec<(f64, f64, f64)> = points.iter().filter_map(|p| p.2.map(|(l, h)| (p.0 as f64, l, h))).collect();
        if !band.is_empty() {
            let mut poly: Vec<(f64, f64)> = band.iter().map(|b| (b.0, b.2)).collect();
            poly.extend(band.iter().rev().map(|b| (b.0, b.1)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, blue.mix(0.18).filled())))
                .map_err(|e| e.to_string())?
                .label("95% interval")
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], blue.mix(0.18).filled()));
        }
        let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0 as f64, p.1)).collect();
        chart.draw_series(LineSeries::new(line.clone(), blue.stroke_width(2))).map_err(|e| e.to_string())?;
        chart
            .draw_series(line.iter().map(|(x, y)| Circle::new((*x, *y), 3, blue.filled())))
            .map_err(|e| e.to_string())?
            .label("Effect vs comparison clinics (ATT)")
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, blue.filled()));
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        Ok(())
    })
}

/// Scatter of (x, y) points with a zero line: the descriptive dose–response
/// chart (facilitation hours against a clinic's change in a measure).
pub fn scatter_svg(points: &[(f64, f64)], x_label: &str, y_label: &str, size: (u32, u32)) -> Result<ChartSvg, String> {
    draw_svg(size, |root| {
        let xmax = nice_max(points.iter().map(|p| p.0).fold(0.0, f64::max));
        let ext = nice_max(points.iter().map(|p| p.1.abs()).fold(1.0, f64::max));
        let mut chart = build(root, 0f64..xmax, -ext..ext, 34)?;
        draw_mesh(&mut chart, 6, &|x: &f64| format!("{x:.0}"), &|y: &f64| format!("{y:.0}"), Some(x_label), y_label)?;
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(DashedLineSeries::new(vec![(0.0, 0.0), (xmax, 0.0)], 4, 3, grey.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        let blue = PALETTE[0];
        chart
            .draw_series(points.iter().map(|(x, y)| Circle::new((*x, *y), 3, blue.mix(0.7).filled())))
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// plotters writes one `<polyline>` per dash, tick and grid stroke, and a
/// `<text>` per tick label, empty ones too. typst's SVG loader and PDF
/// export pay per element, so consecutive opaque polylines of one style
/// become one `<path>` of subpaths (the same strokes); the labels leave the
/// SVG (they are drawn over it) and empty ones go. A text this cannot read
/// stays, after the polylines around it (labels and strokes do not overlap).
fn compact_svg(svg: &str) -> (String, Vec<Label>) {
    let mut out = String::with_capacity(svg.len());
    let mut labels = Vec::new();
    let mut group = Polylines::default();
    let mut lines = svg.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("<text") {
            let (body, end) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
            if body.trim().is_empty() {
                continue;
            }
            if let Some(label) = label(line, body) {
                labels.push(label);
            } else {
                for l in [line, body, end] {
                    group.texts.push_str(l);
                    group.texts.push('\n');
                }
            }
            if group.style.is_empty() {
                group.flush(&mut out);
            }
            continue;
        }
        match polyline(line) {
            Some((style, points)) if style == group.style || group.style.is_empty() && group.texts.is_empty() => {
                group.style = style;
                group.points.push(points);
            }
            Some((style, points)) => {
                group.flush(&mut out);
                group.style = style;
                group.points.push(points);
            }
            None => {
                group.flush(&mut out);
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    group.flush(&mut out);
    (out, labels)
}

/// A plotters `<text>` (its opening tag and its line of text) as a label:
/// opaque, upright or bold Open Sans, rotated about its anchor if at all.
fn label(tag: &str, body: &str) -> Option<Label> {
    let attr = |name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(&tag[start..start + tag[start..].find('"')?])
    };
    let num = |name: &str| attr(name)?.parse::<f64>().ok();
    if attr("font-family")? != "Open Sans" || attr("opacity")? != "1" || attr("font-style").is_some() {
        return None;
    }
    let (x, y, size) = (num("x")?, num("y")?, num("font-size")?);
    let angle = match attr("transform") {
        None => 0,
        Some(t) => {
            let (angle, about) = t.strip_prefix("rotate(")?.strip_suffix(')')?.split_once(", ")?;
            (about == format!("{}, {}", attr("x")?, attr("y")?)).then_some(())?;
            angle.parse().ok()?
        }
    };
    // usvg's units: 1ex is half an em.
    let dy = match attr("dy") {
        None => 0.0,
        Some(v) => match (v.strip_suffix("em"), v.strip_suffix("ex")) {
            (Some(em), _) => em.parse::<f64>().ok()? * size,
            (_, Some(ex)) => ex.parse::<f64>().ok()? * size / 2.0,
            _ => v.parse().ok()?,
        },
    };
    let anchor = match attr("text-anchor") {
        None | Some("start") => Anchor::Start,
        Some("middle") => Anchor::Middle,
        Some("end") => Anchor::End,
        Some(_) => return None,
    };
    let bold = match attr("font-weight") {
        None => false,
        Some("bold") => true,
        Some(_) => return None,
    };
    let text = body.trim().replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'");
    let text = text.replace("&amp;", "&");
    Some(Label { x, y, dy, anchor, size, fill: attr("fill")?.to_string(), bold, angle, text })
}

/// An opaque unfilled polyline's style attributes and points.
fn polyline(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("<polyline fill=\"none\" opacity=\"1\" ")?;
    let (style, points) = rest.split_once(" points=\"")?;
    Some((style, points.strip_suffix("\"/>")?.trim()))
}

/// Polylines of one style waiting to be written, and the texts met among them.
#[derive(Default)]
struct Polylines<'a> {
    style: &'a str,
    points: Vec<&'a str>,
    texts: String,
}

impl Polylines<'_> {
    fn flush(&mut self, out: &mut String) {
        match self.points.as_slice() {
            [] => {}
            [one] => {
                out.push_str(&format!("<polyline fill=\"none\" opacity=\"1\" {} points=\"{one} \"/>\n", self.style))
            }
            many => {
                let d: Vec<String> = many.iter().map(|p| format!("M{}", p.replace(' ', " L"))).collect();
                out.push_str(&format!("<path fill=\"none\" opacity=\"1\" {} d=\"{}\"/>\n", self.style, d.join(" ")));
            }
        }
        out.push_str(&self.texts);
        *self = Polylines::default();
    }
}

#[cfg(test)]
mod tests {
    use super::{compact_svg, Anchor, Label};

    #[test]
    fn compact_svg_joins_one_style_of_polyline_and_takes_the_labels_out() {
        let svg = "<svg>\n\
<polyline fill=\"none\" opacity=\"1\" stroke=\"#969696\" stroke-width=\"1\" points=\"52,231 57,231 \"/>\n\
<text x=\"67\" y=\"242\">\n\n</text>\n\
<text x=\"98\" y=\"242\">\nJan 22\n</text>\n\
<text x=\"4\" y=\"120\" dy=\"0.76em\" text-anchor=\"middle\" font-family=\"Open Sans\" font-size=\"10\" opacity=\"1\" fill=\"#3C3C3C\" transform=\"rotate(270, 4, 120)\">\n% of &lt;LTOT&gt; &amp; more\n</text>\n\
<polyline fill=\"none\" opacity=\"1\" stroke=\"#969696\" stroke-width=\"1\" points=\"67,232 67,237 \"/>\n\
<text x=\"48\" y=\"231\" dy=\"0.5ex\" text-anchor=\"end\" font-family=\"Open Sans\" font-size=\"10\" opacity=\"1\" fill=\"#3C3C3C\" font-weight=\"bold\">\n0%\n</text>\n\
<polyline fill=\"none\" opacity=\"1\" stroke=\"#000000\" stroke-width=\"2\" points=\"1,2 3,4 5,6 \"/>\n\
<polyline fill=\"none\" opacity=\"0.8\" stroke=\"#000000\" stroke-width=\"1\" points=\"1,2 3,4 \"/>\n\
<polyline fill=\"none\" opacity=\"0.8\" stroke=\"#000000\" stroke-width=\"1\" points=\"1,2 3,4 \"/>\n\
</svg>\n";
        let want = "<svg>\n\
<path fill=\"none\" opacity=\"1\" stroke=\"#969696\" stroke-width=\"1\" d=\"M52,231 L57,231 M67,232 L67,237\"/>\n\
<text x=\"98\" y=\"242\">\nJan 22\n</text>\n\
<polyline fill=\"none\" opacity=\"1\" stroke=\"#000000\" stroke-width=\"2\" points=\"1,2 3,4 5,6 \"/>\n\
<polyline fill=\"none\" opacity=\"0.8\" stroke=\"#000000\" stroke-width=\"1\" points=\"1,2 3,4 \"/>\n\
<polyline fill=\"none\" opacity=\"0.8\" stroke=\"#000000\" stroke-width=\"1\" points=\"1,2 3,4 \"/>\n\
</svg>\n";
        let (out, labels) = compact_svg(svg);
        assert_eq!(out, want);
        let label = |x, y, dy, anchor, bold, angle, text: &str| Label {
            x,
            y,
            dy,
            anchor,
            size: 10.0,
            fill: "#3C3C3C".into(),
            bold,
            angle,
            text: text.into(),
        };
        assert_eq!(
            labels,
            [
                label(4.0, 120.0, 7.6, Anchor::Middle, false, 270, "% of <LTOT> & more"),
                label(48.0, 231.0, 2.5, Anchor::End, true, 0, "0%"),
            ]
        );
    }
}
