//! The study-wide report for investigators: every clinic by name, pooled
//! trends per arm, fidelity, facilitation, data quality and methods.

use super::charts::{trend_svg, Band, Series, TrendChart};
use super::{f1, month_name, ReportInputs, Shared};
use crate::error::{Error, Result};
use crate::measures::Section;
use crate::metrics::fidelity::phase;
use crate::metrics::outcomes::{Model, OutcomeRow, Term};
use crate::metrics::study::{clinic_order, raw_pct, ArmMonths, Measure};
use crate::model::{Activity, Arm, Block};
use serde::Serialize;

/// The virtual files and PDF ident of the study report.
pub fn document(inp: &ReportInputs, ms: &[Measure], sh: &Shared) -> Result<(Vec<(String, Vec<u8>)>, String)> {
    let cfg = inp.cfg;
    let pm = inp.pm;
    let cur = pm.months.len() - 1;
    let core: Vec<&Measure> = ms.iter().filter(|m| m.section == Section::Core).collect();
    let v2: Vec<&Measure> = ms.iter().filter(|m| m.section == Section::V2).collect();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let charts = arm_charts(inp, ms, &mut files)?;
    let outcomes = outcome_section(inp, &mut files)?;
    let dose = dose_section(inp, &mut files)?;
    let (dq_rows, tables) = data_quality(inp);
    let tb = cfg.metrics.mme_table;
    let doc = StudyDoc {
        month: month_name(cfg.report_month),
        window: format!("{} to {}", month_name(pm.months[0]), month_name(pm.months[cur])),
        thresholds: cfg.metrics.threshold_labels(),
        measure_labels: core.iter().map(|m| m.short.clone()).collect(),
        v2_labels: v2.iter().map(|m| m.short.clone()).collect(),
        exclusion_lookback: cfg.metrics.exclusion_lookback_days,
        new_start_lookback: cfg.metrics.new_start_lookback_days,
        overview: overview(inp),
        arms: arm_rows(inp, ms),
        charts,
        heat: heat(inp),
        blocks: Block::ALL.map(Block::name),
        activities: Activity::ALL.map(|a| a.label()),
        outcomes,
        facilitation: facilitation_hours(inp, sh),
        dose,
        completeness: completeness_section(inp, sh),
        dq: dq_rows,
        tables,
        flags: flag_rows(inp),
        methods: Methods {
            mme_table: tb.as_str(),
            mme_sources: tb
                .rows()
                .iter()
                .map(|r| r.source.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            definitions: super::clinic::definitions(inp),
            min_cell: cfg.min_cell,
            bootstrap_reps: cfg.outcomes.bootstrap_replications,
            version: crate::VERSION,
            inputs: inp.input_hashes.iter().map(|(p, h)| InputHash { path: p.clone(), sha256: h.clone() }).collect(),
        },
    };
    files.push(("/data.json".into(), serde_json::to_vec(&doc).expect("json")));
    Ok((files, format!("sixbb-study-{}", cfg.report_month)))
}

/// The study report's data (`/data.json` of `study.typ`), one field per section.
#[derive(Serialize)]
struct StudyDoc {
    month: String,
    window: String,
    thresholds: Vec<String>,
    measure_labels: Vec<String>,
    v2_labels: Vec<String>,
    exclusion_lookback: u32,
    new_start_lookback: u32,
    overview: Vec<OverviewRow>,
    arms: Vec<ArmRow>,
    charts: Vec<ChartRef>,
    heat: Vec<HeatRow>,
    blocks: [&'static str; 6],
    activities: [&'static str; 6],
    outcomes: OutcomeSection,
    facilitation: Vec<HoursRow>,
    dose: Dose,
    completeness: Completeness,
    dq: Vec<DqRow>,
    tables: Vec<TableRow>,
    flags: Vec<FlagRow>,
    methods: Methods,
}

/// The methods section's facts.
#[derive(Serialize)]
struct Methods {
    mme_table: &'static str,
    mme_sources: Vec<String>,
    definitions: super::clinic::Definitions,
    min_cell: u32,
    bootstrap_reps: u32,
    version: &'static str,
    inputs: Vec<InputHash>,
}

#[derive(Serialize)]
struct InputHash {
    path: String,
    sha256: String,
}

/// A clinic at the report month (the study report names clinics).
#[derive(Serialize)]
struct OverviewRow {
    id: String,
    name: String,
    arm: &'static str,
    phase: String,
    ltot: u32,
    hd: Vec<String>,
    mme: String,
    benzo: String,
    milestones: String,
    hours: String,
}

/// An arm's pooled values at the report month.
#[derive(Serialize)]
struct ArmRow {
    arm: &'static str,
    clinics: usize,
    ltot: u32,
    mme: String,
    pcts: Vec<String>,
    excluded: u32,
    new_starts: u32,
    at_risk: u32,
    v2: Vec<String>,
}

/// A clinic's % of milestones done per block (`None`: the block has none).
#[derive(Serialize)]
struct HeatRow {
    name: String,
    cells: Vec<Option<u32>>,
}

/// A clinic's facilitation hours by activity in the window.
#[derive(Serialize)]
struct HoursRow {
    name: String,
    hours: Vec<String>,
    total: String,
}

/// Rejected rows of one clinic, table and rule.
#[derive(Serialize)]
struct DqRow {
    clinic: String,
    table: String,
    rule: String,
    n: usize,
}

/// A table's row counts.
#[derive(Serialize)]
struct TableRow {
    table: &'static str,
    read: usize,
    used: usize,
    rejected: usize,
    after: usize,
}

/// A flagged clinic's counts for the facilitator meeting.
#[derive(Serialize)]
struct FlagRow {
    clinic: String,
    overdue: usize,
    quiet: bool,
    blocks: usize,
}

/// One row per clinic at the report month (the study report names clinics).
fn overview(inp: &ReportInputs) -> Vec<OverviewRow> {
    let data = &inp.data;
    let cfg = inp.cfg;
    let pm = inp.pm;
    let cur = pm.months.len() - 1;
    let order = clinic_order(data);
    let nt = cfg.metrics.high_dose_thresholds.len();
    order
        .iter()
        .map(|&c| {
            let cl = &data.clinics[c];
            let cell = pm.cell(c, cur);
            let k = inp.fidelity.counts(c, cur);
            let hd: Vec<String> = (0..nt).map(|t| f1(raw_pct(cell.high_dose[t], cell.ltot_patients))).collect();
            OverviewRow {
                id: cl.id.clone(),
                name: cl.name.clone(),
                arm: cl.arm.as_str(),
                phase: phase(cl, cfg.report_month).as_str().replace('_', " "),
                ltot: cell.ltot_patients,
                hd,
                mme: f1(cell.mean_daily_mme()),
                benzo: f1(raw_pct(cell.benzo_overlap, cell.ltot_patients)),
                milestones: if k.total > 0 { format!("{} / {}", k.done, k.total) } else { "–".into() },
                hours: format!("{:.1}", inp.fidelity.effort(c, cur).hours_cum),
            }
        })
        .collect()
}

/// The arms compared at the report month: pooled values of every measure
/// (read from the study_month query).
fn arm_rows(inp: &ReportInputs, ms: &[Measure]) -> Vec<ArmRow> {
    let cur = inp.pm.months.len() - 1;
    let of = |sec: Section| -> Vec<usize> { (0..ms.len()).filter(|&j| ms[j].section == sec).collect() };
    let (core, v2) = (of(Section::Core), of(Section::V2));
    inp.arms
        .iter()
        .map(|a| ArmRow {
            arm: a.arm.as_str(),
            clinics: a.clinics,
            ltot: a.ltot[cur],
            mme: f1(a.mme[cur]),
            pcts: core.iter().map(|&j| f1(a.pct[j][cur])).collect(),
            excluded: a.excluded[cur],
            new_starts: a.new_starts[cur],
            at_risk: a.at_risk[cur],
            v2: v2.iter().map(|&j| f1(a.pct[j][cur])).collect(),
        })
        .collect()
}

/// The pooled trend charts by arm (SVG files).
fn arm_charts(inp: &ReportInputs, ms: &[Measure], files: &mut Vec<(String, Vec<u8>)>) -> Result<Vec<ChartRef>> {
    let mut charts = Vec::new();
    let mut add = |name: &str, title: String, tc: TrendChart| -> Result<()> {
        let path = format!("/charts/{name}.svg");
        let svg = trend_svg(&tc).map_err(|e| Error::Report { what: "chart".into(), message: e })?;
        files.extend(svg.files(&path));
        charts.push(ChartRef::new(path, title));
        Ok(())
    };
    // The registry's study-chart measures, then mean dose and LTOT patients.
    for (j, m) in ms.iter().enumerate().filter(|(_, m)| m.appears.study_chart) {
        add(&m.stem, m.label.clone(), pct_chart(inp, j))?;
    }
    let mme_chart = arm_chart(inp, arm_series(inp, "(pooled)", &|a| a.mme.clone()), "MME/day", false);
    add("mme", String::new(), mme_chart)?;
    let ltot = |a: &ArmMonths| a.ltot.iter().map(|&n| Some(n as f64)).collect();
    let ltot_chart = arm_chart(inp, arm_series(inp, "", &ltot), "LTOT patients", false);
    add("ltot", String::new(), ltot_chart)?;
    Ok(charts)
}

/// One line per arm of `values` (one per month); `suffix` follows the arm's
/// name in the legend.
fn arm_series(inp: &ReportInputs, suffix: &str, values: &dyn Fn(&ArmMonths) -> Vec<Option<f64>>) -> Vec<Series> {
    let label = |a: Arm| if suffix.is_empty() { a.as_str().to_string() } else { format!("{} {suffix}", a.as_str()) };
    inp.arms.iter().enumerate().map(|(ai, a)| Series { label: label(a.arm), values: values(a), color: ai }).collect()
}

/// A trend chart of the arms over the window.
fn arm_chart(inp: &ReportInputs, series: Vec<Series>, y_label: &str, percent: bool) -> TrendChart {
    TrendChart {
        months: inp.pm.months.clone(),
        y_label: y_label.into(),
        series,
        bands: vec![],
        marker: None,
        percent,
        size: (400, 250),
        goals: vec![],
    }
}

/// Measure `j` (registry order) per arm: the pooled share and the clinics' IQR band.
fn pct_chart(inp: &ReportInputs, j: usize) -> TrendChart {
    let bands = inp
        .arms
        .iter()
        .enumerate()
        .map(|(ai, a)| {
            let q = &a.quartiles[j];
            Band {
                label: format!("{} clinic IQR", a.arm.as_str()),
                low: q.iter().map(|x| x[0]).collect(),
                mid: q.iter().map(|x| x[1]).collect(),
                high: q.iter().map(|x| x[2]).collect(),
                color: ai,
            }
        })
        .collect();
    let series = arm_series(inp, "(pooled)", &|a| a.pct[j].clone());
    TrendChart { bands, ..arm_chart(inp, series, "% of LTOT patients", true) }
}

/// Fidelity heat map: % of each block's milestones done at the report month.
fn heat(inp: &ReportInputs) -> Vec<HeatRow> {
    let data = &inp.data;
    let order = clinic_order(data);
    order
        .iter()
        .filter(|&&c| data.clinics[c].arm == Arm::Intervention)
        .map(|&c| {
            let cells = Block::ALL
                .into_iter()
                .map(|b| {
                    let k = inp.fidelity.block(c, inp.pm.months.len() - 1, b);
                    (100 * k.done).checked_div(k.total)
                })
                .collect();
            HeatRow { name: data.clinics[c].name.clone(), cells }
        })
        .collect()
}

/// Facilitation hours in the window by clinic and activity.
fn facilitation_hours(inp: &ReportInputs, sh: &Shared) -> Vec<HoursRow> {
    let data = &inp.data;
    let order = clinic_order(data);
    order
        .iter()
        .filter(|&&c| !sh.by.facilitation[c].is_empty())
        .map(|&c| {
            let (h, total) = inp.fidelity.window_hours(c);
            HoursRow {
                name: data.clinics[c].name.clone(),
                hours: h.iter().map(|x| format!("{x:.1}")).collect(),
                total: format!("{total:.1}"),
            }
        })
        .collect()
}

/// Rejected rows by clinic and rule, and the counts per table.
fn data_quality(inp: &ReportInputs) -> (Vec<DqRow>, Vec<TableRow>) {
    let q = inp.quality;
    let dq_rows = q
        .rejected
        .iter()
        .map(|r| DqRow { clinic: r.clinic.clone(), table: r.table.clone(), rule: r.rule.clone(), n: r.n })
        .collect();
    let tables = q
        .tables
        .iter()
        .map(|t| TableRow { table: t.table, read: t.read, used: t.used, rejected: t.rejected, after: t.after })
        .collect();
    (dq_rows, tables)
}

/// One line per flagged clinic with its counts; the detail is in metrics/fidelity_flags.csv.
fn flag_rows(inp: &ReportInputs) -> Vec<FlagRow> {
    let data = &inp.data;
    let counts = crate::metrics::fidelity::flag_counts(inp.flags).expect("the flag count query");
    let mut flags: Vec<(String, [usize; 3])> =
        counts.into_iter().map(|(c, n)| (data.clinics[c as usize].name.clone(), n)).collect();
    flags.sort_by(|a, b| a.0.cmp(&b.0));
    flags.into_iter().map(|(clinic, n)| FlagRow { clinic, overdue: n[0], quiet: n[1] > 0, blocks: n[2] }).collect()
}

/// One line of an outcome table, formatted for the reader.
#[derive(Serialize)]
struct OutcomeLine {
    /// `outcomes.csv`'s model, term and inference; the template labels them.
    model: &'static str,
    term: &'static str,
    estimate: String,
    ci: String,
    p: String,
    n: String,
    inference: &'static str,
    note: String,
}

/// An outcome's lines of a table.
#[derive(Serialize)]
struct OutcomeGroup {
    outcome: String,
    lines: Vec<OutcomeLine>,
}

/// Rows grouped by outcome, in the order they come.
fn groups<'a>(rows: impl Iterator<Item = &'a OutcomeRow>, label: impl Fn(&str) -> String) -> Vec<OutcomeGroup> {
    let mut out: Vec<OutcomeGroup> = Vec::new();
    let mut last = String::new();
    for r in rows {
        if r.outcome != last || out.is_empty() {
            out.push(OutcomeGroup { outcome: label(&r.outcome), lines: Vec::new() });
            last = r.outcome.clone();
        }
        out.last_mut().expect("pushed").lines.push(outcome_line(r));
    }
    out
}

/// A chart file with its title.
#[derive(Serialize)]
struct ChartRef {
    file: String,
    /// The measure's label; empty for the charts `study.typ` names
    /// (`arm-chart-names`, by the file's stem).
    title: String,
    /// Facilitation-dose charts: the rank correlation under the title.
    #[serde(skip_serializing_if = "Option::is_none")]
    rank: Option<Rank>,
}

/// Spearman's rank correlation of a dose chart (`rho` and `p` none when
/// there are too few clinics).
#[derive(Serialize)]
struct Rank {
    rho: Option<String>,
    p: Option<String>,
    clinics: usize,
}

impl ChartRef {
    fn new(file: String, title: String) -> ChartRef {
        ChartRef { file, title, rank: None }
    }
}

/// The outcome section: the effects table (event study by year, its
/// pre-trend test, the differences in differences), the event-study charts,
/// and the appendix (single-arm ITS table and charts).
#[derive(Serialize)]
pub struct OutcomeSection {
    effects: Vec<OutcomeGroup>,
    its: Vec<OutcomeGroup>,
    event_charts: Vec<ChartRef>,
    its_charts: Vec<ChartRef>,
    period: String,
}

/// Number formats of the outcome tables: 2 decimals (1 from 100), p as
/// `<0.001` or 3 decimals.
fn fmt_est(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

fn outcome_line(r: &OutcomeRow) -> OutcomeLine {
    OutcomeLine {
        model: r.model.as_str(),
        term: r.term.as_str(),
        estimate: r.estimate.map_or("–".into(), fmt_est),
        ci: r.ci.map_or("–".into(), |(a, b)| format!("{} to {}", fmt_est(a), fmt_est(b))),
        p: r.p.map_or("–".into(), fmt_p),
        n: format!("{}", r.n_clinics),
        inference: r.inference.as_str(),
        note: r.note.clone(),
    }
}

/// The y-axis title of an outcome's charts.
fn y_title(outcome: &str, change: bool) -> &'static str {
    match (outcome.ends_with("_pct"), outcome == "mean_daily_mme", change) {
        (true, _, true) => "Change, percentage points",
        (true, _, false) => "% of LTOT patients",
        (_, true, true) => "Change, MME/day",
        (_, true, false) => "MME/day",
        (_, _, true) => "Change, LTOT patients per clinic",
        _ => "LTOT patients per clinic",
    }
}

/// The outcome section and its charts (SVG files).
fn outcome_section(inp: &ReportInputs, files: &mut Vec<(String, Vec<u8>)>) -> Result<OutcomeSection> {
    let res = inp.outcomes;
    let label =
        |name: &str| res.series.iter().find(|s| s.outcome == name).map_or(name.to_string(), |s| s.label.clone());
    let headline = |r: &&OutcomeRow| match r.model {
        Model::EventStudy => matches!(r.term, Term::Year1 | Term::Year2 | Term::PreTrend),
        Model::Did | Model::DidYear2 | Model::DidPlacebo => r.term == Term::Did,
        Model::Its => false,
    };
    let effects = groups(res.rows.iter().filter(headline), label);
    let its = groups(res.rows.iter().filter(|r| r.model == Model::Its), label);
    let chart_err = |e: String| Error::Report { what: "chart".into(), message: e };
    let (mut event_charts, mut its_charts) = (Vec::new(), Vec::new());
    for es in &res.series {
        if es.att.len() > 1 {
            let file = format!("/charts/att-{}.svg", es.outcome);
            let svg = super::charts::att_svg(&es.att, y_title(&es.outcome, true), (400, 250)).map_err(chart_err)?;
            files.extend(svg.files(&file));
            event_charts.push(ChartRef::new(file, es.label.clone()));
        }
        if !es.points.is_empty() {
            let file = format!("/charts/event-{}.svg", es.outcome);
            let percent = es.outcome.ends_with("_pct");
            let svg = super::charts::event_svg(&es.points, es.fit, y_title(&es.outcome, false), percent, (400, 250))
                .map_err(chart_err)?;
            files.extend(svg.files(&file));
            its_charts.push(ChartRef::new(file, es.label.clone()));
        }
    }
    let period = format!("{} to {}", month_name(res.period.0), month_name(res.period.1));
    Ok(OutcomeSection { effects, its, event_charts, its_charts, period })
}

/// Clinics shown at most in the completeness heat map.
const HEAT_ROWS: usize = 60;

/// Data completeness: per clinic with a flag in the window, its monthly
/// prescription rows relative to its trailing median, its flags and its
/// data-through date; then every flag of the report month.
/// The data-completeness section: a heat map of flagged clinics' monthly
/// prescription volume against their trailing median, and the flags.
#[derive(Serialize)]
struct Completeness {
    months: Vec<String>,
    rows: Vec<CompletenessRow>,
    flags: Vec<ExtractFlag>,
    clinics: usize,
    flagged: usize,
    shown: usize,
    checks: crate::config::ChecksConfig,
}

#[derive(Serialize)]
struct CompletenessRow {
    id: String,
    name: String,
    through: String,
    cells: Vec<VolumeCell>,
}

/// A month's rows as % of the trailing median, and whether it is flagged.
#[derive(Serialize)]
struct VolumeCell {
    ratio: Option<i64>,
    flag: bool,
}

#[derive(Serialize)]
struct ExtractFlag {
    clinic: String,
    table: &'static str,
    check: String,
    rows: u32,
    median: String,
    rule: &'static str,
}

fn completeness_section(inp: &ReportInputs, sh: &Shared) -> Completeness {
    use crate::config::TableName;
    use crate::metrics::extract_checks::check_text;
    let data = &inp.data;
    let flagged_clinics: Vec<usize> =
        clinic_order(data).into_iter().filter(|&c| sh.extracts[c].iter().any(|r| !r.checks.is_empty())).collect();
    let rows = flagged_clinics
        .iter()
        .take(HEAT_ROWS)
        .map(|&c| {
            let rx: Vec<_> = sh.extracts[c].iter().filter(|r| r.table == TableName::Prescriptions).collect();
            let cells = rx
                .iter()
                .map(|r| {
                    let ratio = r.median.filter(|m| *m > 0.0).map(|m| (100.0 * r.rows as f64 / m).round() as i64);
                    VolumeCell { ratio, flag: !r.checks.is_empty() }
                })
                .collect();
            let through = rx.first().and_then(|r| r.data_through).map(crate::dates::fmt_day);
            CompletenessRow {
                id: data.clinics[c].id.clone(),
                name: data.clinics[c].name.clone(),
                through: through.unwrap_or_else(|| "–".into()),
                cells,
            }
        })
        .collect();
    let flags = crate::metrics::extract_checks::flagged(inp.extracts, inp.cfg.report_month)
        .into_iter()
        .map(|r| ExtractFlag {
            clinic: data.clinics[r.clinic].id.clone(),
            table: r.table.as_str(),
            check: check_text(r),
            rows: r.rows,
            median: r.median.map(|m| format!("{m:.1}")).unwrap_or_else(|| "–".into()),
            rule: r.top_rule_text(),
        })
        .collect();
    Completeness {
        months: inp.pm.months.iter().map(|m| format!("{:02}", m.month())).collect(),
        rows,
        flags,
        clinics: data.clinics.len(),
        flagged: flagged_clinics.len(),
        shown: flagged_clinics.len().min(HEAT_ROWS),
        checks: inp.cfg.checks.clone(),
    }
}

/// Facilitation by phase and facilitator, and the descriptive dose–response
/// of facilitation hours in program months 1–12 against each clinic's change.
/// The facilitation section: hours by phase and per facilitator, and the
/// dose–response charts.
#[derive(Serialize)]
struct Dose {
    by_phase: Vec<PhaseHours>,
    by_facilitator: Vec<FacilitatorRow>,
    charts: Vec<ChartRef>,
}

#[derive(Serialize)]
struct PhaseHours {
    name: String,
    hours: Vec<String>,
}

#[derive(Serialize)]
struct FacilitatorRow {
    id: String,
    clinics: usize,
    hours: String,
    contacts: String,
}

fn dose_section(inp: &ReportInputs, files: &mut Vec<(String, Vec<u8>)>) -> Result<Dose> {
    use crate::metrics::facilitators::{phase_hours, portfolio_effort, spearman};
    let data = &inp.data;
    let end = inp.cfg.report_month.last_day();
    let by_phase = phase_hours(data, end)?
        .into_iter()
        .map(|(c, h)| PhaseHours {
            name: data.clinics[c].name.clone(),
            hours: h.iter().map(|x| format!("{x:.1}")).collect(),
        })
        .collect();
    let months = inp.pm.months.len() as f64;
    let by_facilitator = portfolio_effort(data, inp.pm.months[0].first_day(), end)?
        .into_iter()
        .map(|(id, clinics, hours, rows)| FacilitatorRow {
            id,
            clinics,
            hours: format!("{hours:.1}"),
            contacts: format!("{:.1}", rows as f64 / months),
        })
        .collect();
    let mut charts = Vec::new();
    for (j, title) in inp.dose_labels.iter().enumerate() {
        let pts: Vec<(f64, f64)> = inp.dose.iter().filter_map(|d| d.changes[j].map(|c| (d.hours, c))).collect();
        let path = format!("/charts/dose-{j}.svg");
        let svg =
            super::charts::scatter_svg(&pts, "Facilitation hours, program months 1–12", "Change (points)", (400, 250))
                .map_err(|e| Error::Report { what: "chart".into(), message: e })?;
        files.extend(svg.files(&path));
        let (rho, p) = match spearman(&pts) {
            Some((r, p)) => {
                (Some(format!("{r:.2}")), Some(if p < 0.001 { "<0.001".into() } else { format!("{p:.3}") }))
            }
            None => (None, None),
        };
        let rank = Some(Rank { rho, p, clinics: pts.len() });
        charts.push(ChartRef { file: path, title: title.clone(), rank });
    }
    Ok(Dose { by_phase, by_facilitator, charts })
}
