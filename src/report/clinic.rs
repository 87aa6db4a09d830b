//! The clinic feedback report: data (with small cells suppressed) and charts.

use super::charts::{stacked_bars_svg, trend_svg, Band, Goal, Series, TrendChart};
use super::suppress::Suppress;
use super::{f1, month_name, signed, ReportInputs, Shared};
use crate::dates::{fmt_day, Month};
use crate::error::{Error, Result};
use crate::measures::{ClinicChart, Denominator, Direction, MeasureKey};
use crate::metrics::clinic_month::Cell;
use crate::metrics::extract_checks::ExtractRow;
use crate::metrics::fidelity::{phase, program_month, MilestoneCounts};
use crate::metrics::study::Measure;
use crate::metrics::trends::{Signal, TrendRow};
use crate::model::{Activity, Arm, Block};
use serde::Serialize;

fn chart_err(e: String) -> Error {
    Error::Report { what: "chart".into(), message: e }
}

/// Position of a value against the peers' IQR, and whether that is better
/// (`above_better`, `above_worse`, `below_better`, `below_worse`, `middle`,
/// `too_few_clinics`; empty without a value; `not_compared` for counts):
/// `clinic.typ` words it.
fn position(v: Option<f64>, q: &[Option<f64>; 3], dir: Direction) -> &'static str {
    let lower = dir == Direction::Lower;
    match (v, q[0], q[2]) {
        (Some(v), Some(_), Some(hi)) if v > hi => {
            if lower {
                "above_worse"
            } else {
                "above_better"
            }
        }
        (Some(v), Some(lo), Some(_)) if v < lo => {
            if lower {
                "below_better"
            } else {
                "below_worse"
            }
        }
        (Some(_), Some(_), Some(_)) => "middle",
        (Some(_), _, _) => "too_few_clinics",
        _ => "",
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A cell as printed: its text, or why there is none (the words are
/// `printed-words` in `clinic.typ`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
enum Printed {
    Value(String),
    /// Hidden by complementary suppression (SPEC §6.6).
    Suppressed,
    /// A share with no patients in its denominator.
    Empty,
    /// No patients this month nor in the last 3 months.
    NoPatients,
    /// Too few patients for a share, this month or pooled over 3 months.
    TooFewPatients,
}

impl Printed {
    /// Whether a value is printed.
    fn is_value(&self) -> bool {
        matches!(self, Printed::Value(_))
    }
}

/// A count as printed: `<min_cell` when small, suppressed when hidden by
/// complementary suppression.
fn shown_count(n: u32, hidden: bool, sup: &Suppress) -> Printed {
    if sup.small(n) {
        Printed::Value(sup.count(n))
    } else if hidden {
        Printed::Suppressed
    } else {
        Printed::Value(n.to_string())
    }
}

/// What one month of a clinic report may print (SPEC §6.6).
struct Shown {
    ltot_hidden: bool,
    /// Per measure: (numerator hidden, denominator hidden).
    measure: Vec<(bool, bool)>,
    /// Per measure: the patients without it (denominator − numerator) hidden.
    gap_hidden: Vec<bool>,
    /// Per measure: the unrounded percentage when it may be printed.
    pct: Vec<Option<f64>>,
}

impl Shown {
    fn new(cell: &Cell, ms: &[Measure], sup: &Suppress, i50: usize) -> Shown {
        // Printed counts: 0 LTOT, 1 at risk, 2 new starts, 3 new starts 3 months ago, 4.. numerators.
        let mut counts = vec![cell.ltot_patients, cell.at_risk_patients, cell.new_starts, cell.new_starts_3mo_ago];
        counts.extend(ms.iter().map(|m| (m.num)(cell)));
        let i50m = 4 + ms.iter().position(|m| m.key == MeasureKey::HighDose(i50)).expect("threshold 50");
        let den_idx = |m: &Measure| match m.denominator {
            Denominator::LtotPatients => 0,
            Denominator::HighDose50 => i50m,
            Denominator::AtRiskPatients => 1,
            Denominator::NewStarts => 2,
            Denominator::NewStarts3moAgo => 3,
        };
        let mut pairs: Vec<(usize, usize)> = ms.iter().enumerate().map(|(mi, m)| (4 + mi, den_idx(m))).collect();
        let hd: Vec<usize> = ms
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m.key, MeasureKey::HighDose(_)))
            .map(|(i, _)| 4 + i)
            .collect();
        pairs.extend(hd.windows(2).map(|w| (w[0], w[1])));
        pairs.push((1, i50m));
        // The "what to do next" sentences print d − n: each is a count too,
        // one subtraction from its denominator.
        let g0 = counts.len();
        for (mi, m) in ms.iter().enumerate() {
            counts.push((m.den)(cell).saturating_sub((m.num)(cell)));
            pairs.push((g0 + mi, den_idx(m)));
        }
        let hidden = sup.complementary(&counts, &pairs);
        let gap_hidden = (0..ms.len()).map(|mi| hidden[g0 + mi]).collect();
        let measure: Vec<(bool, bool)> =
            ms.iter().enumerate().map(|(mi, m)| (hidden[4 + mi], hidden[den_idx(m)])).collect();
        let pct = ms
            .iter()
            .zip(&measure)
            .map(|(m, (hn, hd))| if *hn || *hd { None } else { sup.pct((m.num)(cell), (m.den)(cell)) })
            .collect();
        Shown { ltot_hidden: hidden[0], measure, gap_hidden, pct }
    }
    /// The LTOT count as printed.
    fn count(&self, n: u32, sup: &Suppress) -> Printed {
        shown_count(n, self.ltot_hidden, sup)
    }
}

fn iqr_text(q: &[Option<f64>; 3], unit: &str) -> (String, String) {
    match q {
        [Some(a), Some(m), Some(b)] => {
            (format!("{}{unit}", f1(Some(*m))), format!("{}–{}{unit}", f1(Some(*a)), f1(Some(*b))))
        }
        _ => ("–".into(), "–".into()),
    }
}

/// What every section of one clinic's report reads.
struct Ctx<'a> {
    inp: &'a ReportInputs<'a>,
    ms: &'a [Measure],
    sh: &'a Shared<'a>,
    c: usize,
    sup: Suppress,
    /// The clinic's cells, one per month of the window.
    cells: Vec<&'a Cell>,
    /// What each month may print (complementary suppression, SPEC §6.6).
    shown: Vec<Shown>,
    /// Per measure, per month: the percentage when it may be printed.
    pct_series: Vec<Vec<Option<f64>>>,
    cur: usize,
}

impl<'a> Ctx<'a> {
    fn new(inp: &'a ReportInputs<'a>, ms: &'a [Measure], sh: &'a Shared<'a>, c: usize) -> Self {
        let pm = inp.pm;
        let sup = Suppress { min_cell: inp.cfg.min_cell };
        let w = pm.months.len();
        let cells: Vec<&Cell> = (0..w).map(|k| pm.cell(c, k)).collect();
        let shown: Vec<Shown> = cells.iter().map(|cl| Shown::new(cl, ms, &sup, pm.i50)).collect();
        let pct_series = (0..ms.len()).map(|mi| shown.iter().map(|s| s.pct[mi]).collect()).collect();
        Ctx { inp, ms, sh, c, sup, cells, shown, pct_series, cur: w - 1 }
    }
    /// The month index `n` months before the report month.
    fn back(&self, n: usize) -> Option<usize> {
        (self.cur >= n).then(|| self.cur - n)
    }
    fn trend(&self, measure: &str) -> Option<&'a TrendRow> {
        self.sh.trends[self.c].iter().find(|r| r.measure == measure)
    }
}

/// The virtual files (data JSON and chart SVGs) and PDF ident of one clinic report.
pub fn document(inp: &ReportInputs, ms: &[Measure], sh: &Shared, c: usize) -> Result<(Vec<(String, Vec<u8>)>, String)> {
    let cx = Ctx::new(inp, ms, sh, c);
    let (cfg, pm, clinic) = (inp.cfg, inp.pm, &inp.data.clinics[c]);
    let (rows, starts, mut attention) = glance(&cx);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let (charts, suppressed_any) = trend_charts(&cx, &mut files)?;
    let milestones = milestones(&cx, &mut attention);
    let facilitation = facilitation(&cx, &mut files)?;
    let month = month_name(cfg.report_month);
    let doc = ClinicDoc {
        clinic: ClinicHead {
            name: clinic.name.clone(),
            id: clinic.id.clone(),
            arm: clinic.arm.as_str(),
            intervention: clinic.arm == Arm::Intervention,
            phase: phase(clinic, cfg.report_month).label(),
            program_month: program_month(clinic, cfg.report_month).filter(|k| *k >= 1),
            program_start: clinic.program_start.map(fmt_day),
        },
        window: format!("{} to {}", month_name(pm.months[0]), month_name(pm.months[cx.cur])),
        min_cell: cfg.min_cell,
        headline: rows,
        starts,
        attention,
        summary: summary_rows(&cx),
        next_steps: next_steps(&cx),
        top_threshold: inp.cfg.metrics.threshold_labels().last().cloned().unwrap_or_default(),
        targets: targets_box(inp, c),
        data_through: sh.extracts[c].first().and_then(|r| r.data_through).map(fmt_day),
        extract_notes: sh.extracts[c]
            .iter()
            .filter(|r| r.month == cfg.report_month && !r.checks.is_empty())
            .map(|r| extract_note(r))
            .collect(),
        month,
        charts,
        suppressed_points: suppressed_any,
        milestones,
        facilitation,
        data_quality: data_quality_note(&cx),
        definitions: definitions(inp),
        version: crate::VERSION,
    };
    files.push(("/data.json".into(), serde_json::to_vec(&doc).expect("json")));
    Ok((files, format!("sixbb-clinic-{}-{}", clinic.id, cfg.report_month)))
}

/// The clinic report's data (`/data.json` of `clinic.typ`), one field per section.
#[derive(Serialize)]
struct ClinicDoc {
    clinic: ClinicHead,
    month: String,
    window: String,
    min_cell: u32,
    headline: Vec<GlanceRow>,
    starts: Vec<GlanceRow>,
    attention: Vec<Attention>,
    summary: Vec<SummaryRow>,
    next_steps: Vec<NextStep>,
    /// The highest high-dose threshold (the high-dose next step names it).
    top_threshold: String,
    targets: Vec<TargetLine>,
    data_through: Option<String>,
    extract_notes: Vec<ExtractNote>,
    charts: Vec<ChartEntry>,
    suppressed_points: bool,
    milestones: MilestoneSection,
    facilitation: FacilitationSection,
    data_quality: DataQualityNote,
    definitions: Definitions,
    version: &'static str,
}

#[derive(Serialize)]
struct ClinicHead {
    name: String,
    id: String,
    arm: &'static str,
    intervention: bool,
    phase: &'static str,
    program_month: Option<i32>,
    program_start: Option<String>,
}

/// A row of the glance tables (`count` only for measures with a numerator).
#[derive(Serialize)]
struct GlanceRow {
    label: String,
    value: Printed,
    /// Numerator and denominator.
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<[Printed; 2]>,
    ch3: String,
    ch12: String,
    median: String,
    iqr: String,
    better: &'static str,
    position: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'static str>,
}

/// Something that needs attention, for a sentence in `clinic.typ`: a
/// measure outside the middle half in the unwanted direction (`higher`,
/// `lower`: `name`, `value` in %), overdue milestones (`overdue`: `value` the
/// count, `name` and `detail` the oldest and its due date), or no
/// facilitation contact in 60 days (`no_contact`: `detail`).
#[derive(Serialize)]
struct Attention {
    kind: &'static str,
    name: String,
    value: String,
    detail: String,
}

impl Attention {
    fn new(kind: &'static str, name: String, value: String) -> Attention {
        Attention { kind, name, value, detail: String::new() }
    }
}

/// A row of page 1's "Where you stand".
#[derive(Serialize)]
struct SummaryRow {
    label: String,
    value: Printed,
    three: bool,
    better: &'static str,
    signal: &'static str,
    /// Whether the row is compared with other clinics (patient counts are not).
    compared: bool,
    /// The benchmark, when enough clinics qualify.
    benchmark: Option<String>,
    target: Option<String>,
    /// Whether the printed value meets the target.
    met: Option<bool>,
}

#[derive(Serialize)]
struct TargetLine {
    measure: String,
    target: String,
    /// The clinic's own target (else the study's, for every clinic).
    own: bool,
}

#[derive(Serialize)]
struct ChartEntry {
    name: &'static str,
    file: String,
    title: ChartTitle,
    wide: bool,
}

#[derive(Serialize)]
struct BlockCounts {
    block: Block,
    name: &'static str,
    total: u32,
    done: u32,
    due: u32,
    overdue: u32,
}

#[derive(Serialize)]
struct NextMilestone {
    block: Block,
    name: String,
    due: String,
    overdue: bool,
}

#[derive(Serialize)]
struct MilestoneSection {
    blocks: Vec<BlockCounts>,
    next: Vec<NextMilestone>,
    total: u32,
    done: u32,
    overdue: u32,
}

#[derive(Serialize)]
struct FacilitationSection {
    chart: String,
    hours_month: String,
    hours_12: String,
    hours_cum: String,
    contacts_month: u32,
    last_contact: Option<String>,
}

/// "This month at a glance": LTOT patients, mean dose and every measure
/// (the new-start ones apart), and the measures outside the middle half in
/// the unwanted direction.
fn glance(cx: &Ctx) -> (Vec<GlanceRow>, Vec<GlanceRow>, Vec<Attention>) {
    let (cells, shown, cur, sup, peers) = (&cx.cells, &cx.shown, cx.cur, &cx.sup, &cx.sh.peers);
    let mut rows = Vec::new();
    let v = |k: usize| (!shown[k].ltot_hidden).then_some(cells[k].ltot_patients as f64);
    // Patient counts change by whole patients.
    let ch = |b: Option<usize>| signed(b.and_then(|b| Some(v(cur)? - v(b)?))).replace(".0", "");
    rows.push(GlanceRow {
        label: "LTOT patients (long-term opioid therapy)".into(),
        value: shown[cur].count(cells[cur].ltot_patients, sup),
        count: None,
        ch3: ch(cx.back(3)),
        ch12: ch(cx.back(12)),
        median: String::new(),
        iqr: String::new(),
        better: "",
        position: "not_compared",
        unit: Some("patients"),
    });
    let mv = |k: usize| if shown[k].ltot_hidden { None } else { cells[k].mean_daily_mme() };
    let ch = |b: Option<usize>| signed(b.and_then(|b| Some(mv(cur)? - mv(b)?)));
    let (med, iqr) = iqr_text(&peers.mme[cur], "");
    rows.push(GlanceRow {
        label: "Mean daily MME of LTOT patients".into(),
        value: Printed::Value(f1(mv(cur))),
        count: None,
        ch3: ch(cx.back(3)),
        ch12: ch(cx.back(12)),
        median: med,
        iqr,
        better: "lower",
        position: position(mv(cur), &peers.mme[cur], Direction::Lower),
        unit: Some("MME/day"),
    });
    let mut starts = vec![GlanceRow {
        label: "New starts this month".into(),
        value: Printed::Value(sup.count(cells[cur].new_starts)),
        count: None,
        ch3: String::new(),
        ch12: String::new(),
        median: String::new(),
        iqr: String::new(),
        better: "",
        position: "not_compared",
        unit: None,
    }];
    let mut attention = Vec::new();
    for (mi, m) in cx.ms.iter().enumerate() {
        let row = measure_row(cx, mi, &mut attention);
        if matches!(m.denominator, Denominator::NewStarts | Denominator::NewStarts3moAgo) {
            starts.push(row);
        } else {
            rows.push(row);
        }
    }
    (rows, starts, attention)
}

/// One measure's row of the glance table; a sentence for `attention` when it
/// is outside the middle half in the unwanted direction.
fn measure_row(cx: &Ctx, mi: usize, attention: &mut Vec<Attention>) -> GlanceRow {
    let (m, s, cur, sup) = (&cx.ms[mi], &cx.pct_series[mi], cx.cur, &cx.sup);
    let q = &cx.sh.peers.pct[mi][cur];
    let ch = |b: Option<usize>| signed(b.and_then(|b| Some(s[cur]? - s[b]?)));
    let (n, d) = ((m.num)(cx.cells[cur]), (m.den)(cx.cells[cur]));
    let (med, iqr) = iqr_text(q, "%");
    let value = match s[cur] {
        Some(p) => Printed::Value(format!("{}%", f1(Some(p)))),
        None if d == 0 => Printed::Empty,
        None => Printed::Suppressed,
    };
    if let (Some(v), [Some(q1), _, Some(q3)]) = (s[cur], q) {
        let name = capitalize(&m.label.split(" (").next().unwrap_or(&m.label).to_lowercase());
        if m.direction == Direction::Lower && v > *q3 {
            attention.push(Attention::new("higher", name, f1(Some(v))));
        } else if m.direction == Direction::Higher && v < *q1 {
            attention.push(Attention::new("lower", name, f1(Some(v))));
        }
    }
    let (hn, hd) = cx.shown[cur].measure[mi];
    GlanceRow {
        label: m.label.clone(),
        value,
        count: Some([shown_count(n, hn, sup), shown_count(d, hd, sup)]),
        ch3: ch(cx.back(3)),
        ch12: ch(cx.back(12)),
        median: med,
        iqr,
        better: m.direction.as_str(),
        position: position(s[cur], q, m.direction),
        unit: Some("pct points"),
    }
}

fn band(label: &str, q: &[[Option<f64>; 3]]) -> Band {
    Band {
        label: label.into(),
        low: q.iter().map(|x| x[0]).collect(),
        mid: q.iter().map(|x| x[1]).collect(),
        high: q.iter().map(|x| x[2]).collect(),
        color: 6,
    }
}

/// The trend charts (SVG files) and whether a month was left out of one.
fn trend_charts(cx: &Ctx, files: &mut Vec<(String, Vec<u8>)>) -> Result<(Vec<ChartEntry>, bool)> {
    let specs = [ltot_chart(cx), high_dose_chart(cx), mme_chart(cx), benzo_chart(cx), care_chart(cx)];
    let gaps = specs.iter().any(|(_, g)| *g);
    let mut charts = Vec::new();
    for (spec, _) in specs {
        let (chart, svg) = render_chart(cx, spec)?;
        charts.push(chart);
        files.extend(svg);
    }
    Ok((charts, gaps))
}

/// One clinic chart before drawing.
struct ChartSpec {
    name: &'static str,
    title: ChartTitle,
    series: Vec<Series>,
    bands: Vec<Band>,
    y: &'static str,
    percent: bool,
    goals: Vec<Goal>,
}

/// Draw a chart: its template entry and its SVG file. The care-process
/// chart is wide: it takes the full text width below the two-column grid.
fn render_chart(cx: &Ctx, spec: ChartSpec) -> Result<(ChartEntry, [(String, Vec<u8>); 2])> {
    let pm = cx.inp.pm;
    let start = cx.inp.data.clinics[cx.c].program_start.map(|s| Month::of_day(s).minus(pm.months[0]));
    let marker =
        start.filter(|k| *k >= 0 && (*k as usize) < pm.months.len()).map(|k| (k as usize, "Program start".to_string()));
    let wide = spec.name == "care";
    let tc = TrendChart {
        months: pm.months.clone(),
        y_label: spec.y.into(),
        series: spec.series,
        bands: spec.bands,
        marker,
        percent: spec.percent,
        size: if wide { (640, 260) } else { (400, 250) },
        goals: spec.goals,
    };
    let path = format!("/charts/{}.svg", spec.name);
    let svg = trend_svg(&tc).map_err(chart_err)?;
    Ok((ChartEntry { name: spec.name, file: path.clone(), title: spec.title, wide }, svg.files(&path)))
}

/// Whether a series hides a value whose denominator is not 0 (suppressed).
fn hides(cx: &Ctx, v: &[Option<f64>], den: &dyn Fn(&Cell) -> u32) -> bool {
    v.iter().enumerate().any(|(k, x)| x.is_none() && den(cx.cells[k]) > 0)
}

/// "This clinic" as the only line.
fn this_clinic(values: Vec<Option<f64>>, color: usize) -> Vec<Series> {
    vec![Series { label: "This clinic".into(), values, color }]
}

const LOWER_PCT: &str = "% of LTOT patients (lower is better)";

fn ltot_chart(cx: &Ctx) -> (ChartSpec, bool) {
    let (cells, shown) = (&cx.cells, &cx.shown);
    let ltot: Vec<Option<f64>> =
        (0..cells.len()).map(|k| (!shown[k].ltot_hidden).then_some(cells[k].ltot_patients as f64)).collect();
    let gap = hides(cx, &ltot, &|c| c.ltot_patients);
    let spec = ChartSpec {
        name: "ltot",
        title: ChartTitle::FIXED,
        series: this_clinic(ltot, 0),
        bands: vec![],
        y: "LTOT patients",
        percent: false,
        goals: vec![],
    };
    (spec, gap)
}

/// The registry positions of the measures drawn in `chart`.
fn drawn_in(cx: &Ctx, chart: ClinicChart) -> Vec<usize> {
    (0..cx.ms.len()).filter(|&mi| cx.ms[mi].appears.chart == Some(chart)).collect()
}

fn high_dose_chart(cx: &Ctx) -> (ChartSpec, bool) {
    let labels = cx.inp.cfg.metrics.threshold_labels();
    let drawn = drawn_in(cx, ClinicChart::HighDose);
    let series: Vec<Series> = drawn
        .iter()
        .enumerate()
        .map(|(t, &mi)| Series {
            label: format!("≥ {} MME/day", labels[t]),
            values: cx.pct_series[mi].clone(),
            color: t,
        })
        .collect();
    let gap = drawn.iter().any(|&mi| hides(cx, &cx.pct_series[mi], &|c| (cx.ms[mi].den)(c)));
    let top = labels.last().cloned().unwrap_or_default();
    let row = cx.trend(&format!("high_dose_{top}_pct"));
    let i50 = cx.ms.iter().position(|m| m.key == MeasureKey::HighDose(cx.inp.pm.i50)).expect("threshold 50");
    let spec = ChartSpec {
        name: "high_dose",
        title: chart_message(row),
        series,
        bands: vec![band("Study median and IQR, ≥ 50", &cx.sh.peers.pct[i50])],
        y: LOWER_PCT,
        percent: true,
        goals: goals(row),
    };
    (spec, gap)
}

fn mme_chart(cx: &Ctx) -> (ChartSpec, bool) {
    let (cells, shown) = (&cx.cells, &cx.shown);
    let mme: Vec<Option<f64>> =
        (0..cells.len()).map(|k| if shown[k].ltot_hidden { None } else { cells[k].mean_daily_mme() }).collect();
    let spec = ChartSpec {
        name: "mme",
        title: mme_message(cx.trend(crate::measures::MEAN_DAILY_MME).and_then(|r| r.slope_12mo)),
        series: this_clinic(mme, 0),
        bands: vec![band("Study median and IQR", &cx.sh.peers.mme)],
        y: "MME/day (lower is better)",
        percent: false,
        goals: vec![],
    };
    (spec, false)
}

fn benzo_chart(cx: &Ctx) -> (ChartSpec, bool) {
    let bz = drawn_in(cx, ClinicChart::Benzo)[0];
    let row = cx.trend("benzo_overlap_pct");
    let gap = hides(cx, &cx.pct_series[bz], &|c| (cx.ms[bz].den)(c));
    let spec = ChartSpec {
        name: "benzo",
        title: chart_message(row),
        series: this_clinic(cx.pct_series[bz].clone(), 1),
        bands: vec![band("Study median and IQR", &cx.sh.peers.pct[bz])],
        y: LOWER_PCT,
        percent: true,
        goals: goals(row),
    };
    (spec, gap)
}

fn care_chart(cx: &Ctx) -> (ChartSpec, bool) {
    let series = drawn_in(cx, ClinicChart::Care)
        .into_iter()
        .enumerate()
        .map(|(j, i)| Series {
            label: cx.ms[i].label.split(" (").next().unwrap().to_string(),
            values: cx.pct_series[i].clone(),
            color: j,
        })
        .collect();
    let spec = ChartSpec {
        name: "care",
        title: ChartTitle::FIXED,
        series,
        bands: vec![],
        y: "% of patients (higher is better)",
        percent: true,
        goals: vec![],
    };
    (spec, false)
}

/// The mean-dose chart's title from its 12-month slope.
fn mme_message(slope: Option<f64>) -> ChartTitle {
    let message = match slope {
        Some(s) if s <= -0.5 => "dose_falling",
        Some(s) if s >= 0.5 => "dose_rising",
        Some(_) => "dose_steady",
        None => "fixed",
    };
    ChartTitle(message)
}

/// A chart's title as a message for `chart-title` in `clinic.typ` (which
/// holds the sentences and the charts' names): `fixed` (the chart's name),
/// `fewer`, `more`, `no_change`, `too_few`, `dose_falling`, `dose_rising`,
/// `dose_steady`.
#[derive(Serialize)]
struct ChartTitle(&'static str);

impl ChartTitle {
    const FIXED: ChartTitle = ChartTitle("fixed");
}

/// Milestones by block and coming due; overdue milestones and missing
/// facilitation contact go to `attention`.
fn milestones(cx: &Ctx, attention: &mut Vec<Attention>) -> MilestoneSection {
    let (by, c, end) = (&cx.sh.by, cx.c, cx.inp.cfg.report_month.last_day());
    let fid = cx.inp.fidelity;
    let blocks = Block::ALL
        .into_iter()
        .map(|b| {
            let k: MilestoneCounts = fid.block(c, cx.cur, b);
            let name = b.name();
            BlockCounts { block: b, name, total: k.total, done: k.done, due: k.due, overdue: k.overdue }
        })
        .collect();
    let mut open: Vec<_> = by.milestones[c].iter().filter(|m| m.completed.is_none_or(|d| d > end)).collect();
    open.sort_by_key(|m| (m.due, m.block));
    let next = open
        .iter()
        .take(6)
        .map(|m| NextMilestone { block: m.block, name: m.name.clone(), due: fmt_day(m.due), overdue: m.due < end })
        .collect();
    let total = fid.counts(c, cx.cur);
    if total.overdue > 0 {
        let oldest = open.iter().find(|m| m.due < end);
        attention.push(Attention {
            kind: "overdue",
            name: oldest.map(|m| m.name.clone()).unwrap_or_default(),
            value: total.overdue.to_string(),
            detail: oldest.map(|m| fmt_day(m.due)).unwrap_or_default(),
        });
    }
    for f in cx
        .inp
        .flags
        .iter()
        .filter(|f| f.clinic == c as u32 && f.flag == crate::metrics::fidelity::FlagKind::NoContact60d)
    {
        attention.push(Attention {
            kind: "no_contact",
            name: String::new(),
            value: String::new(),
            detail: f.detail.clone(),
        });
    }
    MilestoneSection { blocks, next, total: total.total, done: total.done, overdue: total.overdue }
}

/// Facilitation effort: each month's once, then sliced by activity.
fn facilitation(cx: &Ctx, files: &mut Vec<(String, Vec<u8>)>) -> Result<FacilitationSection> {
    let (pm, rows) = (cx.inp.pm, &cx.sh.by.facilitation[cx.c]);
    let efforts = cx.inp.fidelity.efforts(cx.c);
    let stacks: Vec<(String, Vec<f64>)> = Activity::ALL
        .iter()
        .enumerate()
        .map(|(ai, a)| (a.label().to_string(), efforts.iter().map(|e| e.by_activity[ai]).collect()))
        .collect();
    let e_now = &efforts[cx.cur];
    let w = efforts.len();
    let last12 = cx.inp.fidelity.hours(cx.c, w - 1, 12);
    let chart = "/charts/facilitation.svg".to_string();
    files.extend(stacked_bars_svg(&pm.months, &stacks, "Hours", (640, 230)).map_err(chart_err)?.files(&chart));
    let end = cx.inp.cfg.report_month.last_day();
    let last_contact = rows.iter().filter(|f| f.date <= end).map(|f| f.date).max();
    Ok(FacilitationSection {
        chart,
        hours_month: format!("{:.1}", e_now.hours),
        hours_12: format!("{last12:.1}"),
        hours_cum: format!("{:.1}", e_now.hours_cum),
        contacts_month: e_now.contacts,
        last_contact: last_contact.map(fmt_day),
    })
}

/// The data-quality sentence for this clinic (row counts suppressed like
/// patient counts: a handful of rows can point to a patient).
/// The data-quality note's facts (the sentences are in `clinic.typ`):
/// counts already suppressed as text.
#[derive(Serialize)]
struct DataQualityNote {
    rx: String,
    ev: String,
    milestones: usize,
    facilitation: usize,
    rejected: Vec<RejectedRows>,
    /// Rows dated after the report month, when any.
    after: Option<String>,
}

#[derive(Serialize)]
struct RejectedRows {
    n: String,
    table: String,
    rule: String,
}

fn data_quality_note(cx: &Ctx) -> DataQualityNote {
    let (sh, c, sup, q) = (cx.sh, cx.c, &cx.sup, cx.inp.quality);
    let clinic = &cx.inp.data.clinics[c];
    let after = q.after.get(clinic.id.as_str()).copied().unwrap_or(0);
    let rc = |n: usize| sup.count(n as u32);
    DataQualityNote {
        rx: rc(q.used_rx[c]),
        ev: rc(q.used_ev[c]),
        milestones: sh.by.milestones[c].len(),
        facilitation: sh.by.facilitation[c].len(),
        rejected: q
            .rejected_of(&clinic.id)
            .map(|r| RejectedRows { n: rc(r.n), table: r.table.clone(), rule: r.rule.replace('_', " ") })
            .collect(),
        after: (after > 0).then(|| rc(after)),
    }
}

/// A short statement of the definitions used, for report footers.
/// The parameters the definitions paragraph quotes (the prose is
/// `definitions()` in `common.typ`, shared by the clinic and study reports).
#[derive(Serialize)]
pub struct Definitions {
    ltot_min_days: u32,
    ltot_window_days: u32,
    mme_table: &'static str,
    thresholds: String,
    exclusion_lookback_days: u32,
    new_start_lookback_days: u32,
    attribution_days: u32,
    small_max: u32,
    min_cell: u32,
}

pub fn definitions(inp: &ReportInputs) -> Definitions {
    let m = &inp.cfg.metrics;
    Definitions {
        ltot_min_days: m.ltot_min_days,
        ltot_window_days: m.ltot_window_days,
        mme_table: m.mme_table.as_str(),
        thresholds: m.threshold_labels().join(" or "),
        exclusion_lookback_days: m.exclusion_lookback_days,
        new_start_lookback_days: m.new_start_lookback_days,
        attribution_days: m.attribution_days,
        small_max: inp.cfg.min_cell.saturating_sub(1),
        min_cell: inp.cfg.min_cell,
    }
}

/// The positions of the measures with a rank in `place` (the registry's
/// [`Appears`](crate::measures::Appears)), by that rank.
fn ranked(ms: &[Measure], place: impl Fn(&Measure) -> Option<u8>) -> Vec<usize> {
    let mut v: Vec<(u8, usize)> = (0..ms.len()).filter_map(|mi| Some((place(&ms[mi])?, mi))).collect();
    v.sort();
    v.into_iter().map(|(_, mi)| mi).collect()
}

/// The headline measures of page 1 (issue 12): the LTOT count, then the
/// registry's summary measures.
fn headline(ms: &[Measure]) -> Vec<usize> {
    ranked(ms, |m| m.appears.summary)
}

/// The value a headline row prints: this month's share when it may be
/// printed; when this month's denominator is below min_cell (issue 12), the
/// last 3 months pooled if those counts are not small either; a share hidden
/// by complementary suppression stays hidden (a 3-month value with the
/// month's printed counts and the trend lines could bring it back).
fn headline_value(r: &TrendRow, shown_pct: Option<f64>, sup: &Suppress) -> (Printed, bool) {
    let min = sup.min_cell.max(1) as u64;
    if let Some(p) = shown_pct {
        return (Printed::Value(format!("{}%", f1(Some(p)))), false);
    }
    if r.d >= min {
        return (Printed::Suppressed, false);
    }
    let (n3, d3) = (r.n_3mo.unwrap_or(0), r.d_3mo);
    let small = |x: u64| sup.small(x.min(u32::MAX as u64) as u32);
    match r.value_3mo {
        Some(v) if d3 >= min && !small(n3) && !small(d3 - n3) => (Printed::Value(format!("{v:.1}%")), true),
        _ if r.d == 0 && d3 == 0 => (Printed::NoPatients, false),
        _ => (Printed::TooFewPatients, false),
    }
}

/// Page 1's summary rows.
fn summary_rows(cx: &Ctx) -> Vec<SummaryRow> {
    let (ms, shown, sup) = (cx.ms, &cx.shown[cx.cur], &cx.sup);
    let ltot = cx.cells[cx.cur].ltot_patients;
    let mut rows = vec![SummaryRow {
        label: "Patients on long-term opioid therapy".into(),
        value: shown_count(ltot, shown.ltot_hidden, sup),
        three: false,
        better: "fewer",
        signal: "–",
        compared: false,
        benchmark: None,
        target: None,
        met: None,
    }];
    for mi in headline(ms) {
        let Some(r) = cx.trend(&ms[mi].pct_column()) else { continue };
        let (value, three) = headline_value(r, shown.pct[mi], sup);
        let met = r.meets_target.filter(|_| value.is_value());
        rows.push(SummaryRow {
            label: ms[mi].label.clone(),
            value,
            three,
            better: if ms[mi].direction == Direction::Lower { "lower" } else { "higher" },
            signal: r.signal.map_or("too_few", Signal::as_str),
            compared: true,
            benchmark: r.benchmark.map(|b| format!("{b:.1}%")),
            target: r.target.map(|t| format!("{t:.1}%")),
            met,
        });
    }
    rows
}

/// "What to do next": open care gaps as sentences pointing at the worklist,
/// most important first, at most five; then what meets its goal.
/// A "What to do next" line: a care gap's count (`n`, already suppressed
/// text) and which gap (`kind`, a key of `steps` in `clinic.typ`, which holds
/// the sentences), or a measure that meets its goal (`kind` "target" or
/// "benchmark", with `label`, `value` and `goal`).
#[derive(Serialize)]
struct NextStep {
    kind: String,
    /// The count (`how` "count"), or why it is not printed: "small" (from 1
    /// to min_cell − 1), "hidden" (complementary suppression).
    how: &'static str,
    n: String,
    label: String,
    value: String,
    goal: String,
}

impl NextStep {
    fn gap(kind: String, (how, n): (&'static str, String)) -> NextStep {
        NextStep { kind, how, n, label: String::new(), value: String::new(), goal: String::new() }
    }
}

fn next_steps(cx: &Ctx) -> Vec<NextStep> {
    let (ms, shown, sup) = (cx.ms, &cx.shown[cx.cur], &cx.sup);
    let cell = cx.cells[cx.cur];
    // A gap (denominator − numerator: patients without the care) or a count
    // (numerator: patients with the problem) as printable text.
    let printable = |mi: usize| -> Option<(&'static str, String)> {
        let is_gap = ms[mi].direction == Direction::Higher;
        let (n, hidden) = if is_gap {
            ((ms[mi].den)(cell).saturating_sub((ms[mi].num)(cell)), shown.gap_hidden[mi])
        } else {
            ((ms[mi].num)(cell), shown.measure[mi].0)
        };
        match n {
            0 => None,
            n if sup.small(n) => Some(("small", String::new())),
            _ if hidden => Some(("hidden", String::new())),
            n => Some(("count", n.to_string())),
        }
    };
    let mut out: Vec<NextStep> = ranked(ms, |m| m.appears.next_step)
        .into_iter()
        .filter_map(|mi| Some(NextStep::gap(step_kind(&ms[mi]), printable(mi)?)))
        .take(5)
        .collect();
    out.extend(keep_doing(cx));
    out
}

/// A "What to do next" line's key in `clinic.typ`: the stem, or
/// `high_dose` for any threshold.
fn step_kind(m: &Measure) -> String {
    match m.key {
        MeasureKey::HighDose(_) => "high_dose".into(),
        _ => m.stem.clone(),
    }
}

/// The headline measures that meet their target or the benchmark.
fn keep_doing(cx: &Ctx) -> Vec<NextStep> {
    let (ms, shown) = (cx.ms, &cx.shown[cx.cur]);
    let mut out = Vec::new();
    for mi in headline(ms) {
        let (Some(r), Some(v)) = (cx.trend(&ms[mi].pct_column()), shown.pct[mi]) else { continue };
        let label = ms[mi].label.split(" (").next().unwrap_or(&ms[mi].label).to_string();
        let (kind, goal) = match (r.meets_target, r.target, r.meets_benchmark, r.benchmark) {
            (Some(true), Some(t), _, _) => ("target", t),
            (_, _, Some(true), Some(b)) => ("benchmark", b),
            _ => continue,
        };
        out.push(NextStep {
            kind: kind.into(),
            how: "",
            n: String::new(),
            label,
            value: f1(Some(v)),
            goal: format!("{goal:.1}"),
        });
    }
    out
}

/// A trend chart's title: its message, from the signal of the last 3 months
/// against a year before.
fn chart_message(r: Option<&TrendRow>) -> ChartTitle {
    let Some(r) = r else { return ChartTitle::FIXED };
    let lower = r.direction == Some(Direction::Lower);
    let message = match r.signal {
        Some(Signal::Improved) if lower => "fewer",
        Some(Signal::Improved) => "more",
        Some(Signal::Worsened) if lower => "more",
        Some(Signal::Worsened) => "fewer",
        Some(Signal::Stable) => "no_change",
        _ => "too_few",
    };
    ChartTitle(message)
}

/// The target (dashed) and benchmark (dotted) lines of a measure's chart.
fn goals(r: Option<&TrendRow>) -> Vec<Goal> {
    let Some(r) = r else { return Vec::new() };
    let mut v = Vec::new();
    if let Some(t) = r.target {
        v.push(Goal { label: format!("Your target ({t:.1}%)"), value: t, dotted: false });
    }
    if let Some(b) = r.benchmark {
        v.push(Goal { label: format!("Top clinics ({b:.1}%)"), value: b, dotted: true });
    }
    v
}

/// The targets in force for clinic `c` and where they come from.
fn targets_box(inp: &ReportInputs, c: usize) -> Vec<TargetLine> {
    let defs = crate::measures::registry(&inp.cfg.metrics.threshold_labels());
    let label = |m: &str| crate::measures::label_of(&defs, m);
    let mut names: Vec<String> = inp.cfg.targets.iter().map(|(m, _)| m.clone()).collect();
    names.extend(inp.data.targets.iter().filter(|t| t.clinic as usize == c).map(|t| t.measure.clone()));
    names.sort();
    names.dedup();
    names
        .iter()
        .filter_map(|m| {
            let own = inp.data.targets.iter().any(|t| t.clinic as usize == c && &t.measure == m);
            let v = crate::metrics::trends::target_of(inp.data, inp.cfg, c, m)?;
            let unit = if m.ends_with("_pct") { "%" } else { " MME/day" };
            Some(TargetLine { measure: label(m), target: format!("{v:.1}{unit}"), own })
        })
        .collect()
}

/// A sentence per flag of a clinic's report month, for people.
/// One flagged extract of the report month, for the "Data check." sentence
/// in `clinic.typ`: the table's rows in words and each check that fired
/// (`no_rows`, `drop`, `spike`, `rejected_share`, `late`) with its numbers.
#[derive(Serialize)]
struct ExtractNote {
    /// The table (`prescriptions`, `care_events`, `facilitation`).
    what: &'static str,
    checks: Vec<ExtractCheck>,
}

#[derive(Serialize)]
struct ExtractCheck {
    check: &'static str,
    /// The month's rows as a share of the usual volume (drop, spike).
    share: String,
    /// The most frequent rejection rule, in words (rejected_share).
    rule: String,
    /// The latest prescription's date (late; none when there is none).
    through: Option<String>,
}

fn extract_note(r: &ExtractRow) -> ExtractNote {
    let what = r.table.as_str();
    let share = format!("{:.0}%", 100.0 * r.rows as f64 / r.median.unwrap_or(1.0));
    let checks = r
        .checks
        .iter()
        .map(|c| ExtractCheck {
            check: c.as_str(),
            share: share.clone(),
            rule: r.top_rule_text().replace('_', " "),
            through: r.data_through.map(crate::dates::fmt_day),
        })
        .collect();
    ExtractNote { what, checks }
}
