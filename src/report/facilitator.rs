//! The facilitator portfolio (SPEC §6.5, issue 13): one line per clinic of a
//! facilitator, then talking points derived from those facts. For the study
//! team's facilitator meeting: names only that facilitator's clinics and is
//! not suppressed.

use super::{month_name, ReportInputs, Shared};
use crate::dates::fmt_day;
use crate::measures::{label_of, MEAN_DAILY_MME};
use crate::metrics::facilitators::without_contact_60d;
use crate::metrics::fidelity::{phase, program_month};
use crate::metrics::trends::{Signal, TrendRow};
use crate::model::{Arm, Block, Milestone};
use serde::Serialize;

/// One clinic's line.
#[derive(Serialize)]
struct ClinicLine {
    id: String,
    name: String,
    phase: String,
    program_month: Option<i32>,
    hours_month: String,
    hours_3mo: String,
    last_contact: String,
    overdue: u32,
    next_due: String,
    worsened: Vec<String>,
    miss_target: Vec<String>,
    points: Vec<Point>,
}

/// The report's data (`/data.json`).
#[derive(Serialize)]
struct FacilitatorDoc {
    facilitator: String,
    month: String,
    clinics: Vec<ClinicLine>,
    intervention_clinics: usize,
    version: &'static str,
}

fn line(inp: &ReportInputs, sh: &Shared, c: usize) -> ClinicLine {
    let clinic = &inp.data.clinics[c];
    let report = inp.cfg.report_month;
    let (end, cur) = (report.last_day(), inp.pm.months.len() - 1);
    let last = sh.by.facilitation[c].iter().filter(|f| f.date <= end).map(|f| f.date).max();
    let mut open: Vec<&Milestone> =
        sh.by.milestones[c].iter().copied().filter(|m| m.completed.is_none_or(|d| d > end)).collect();
    open.sort_by_key(|m| (m.due, m.block));
    let overdue: Vec<&Milestone> = open.iter().copied().filter(|m| m.due <= end).collect();
    let next = open.iter().find(|m| m.due > end);
    let defs = crate::measures::registry(&inp.cfg.metrics.threshold_labels());
    // Comparison clinics get no facilitation: no talking points.
    let signals = if clinic.arm == Arm::Intervention { Signals::of(sh.trends[c]) } else { Signals::default() };
    let mut points = Vec::new();
    if without_contact_60d(inp.data, &sh.by, c, report) {
        points.push(match last {
            Some(d) => Point { kind: "no_contact", n: (end - d).to_string(), ..Point::default() },
            None => Point { kind: "never_contacted", ..Point::default() },
        });
    }
    // Measures first (they are the clinic team's), then milestones, then what went well.
    points.extend(signals.concerns(&defs));
    points.extend(milestone_points(&overdue));
    points.extend(signals.successes(&defs));
    ClinicLine {
        id: clinic.id.clone(),
        name: clinic.name.clone(),
        phase: phase(clinic, report).label().to_string(),
        program_month: program_month(clinic, report).filter(|k| *k >= 1),
        hours_month: format!("{:.1}", inp.fidelity.hours(c, cur, 1)),
        hours_3mo: format!("{:.1}", inp.fidelity.hours(c, cur, 3)),
        last_contact: last.map(fmt_day).unwrap_or_else(|| "none".into()),
        overdue: overdue.len() as u32,
        next_due: next
            .map(|m| format!("Block {}: {} ({})", m.block, m.name, fmt_day(m.due)))
            .unwrap_or_else(|| "–".into()),
        worsened: signals.worsened.iter().map(|r| label_of(&defs, &r.measure)).collect(),
        miss_target: signals.missed.iter().map(|r| label_of(&defs, &r.measure)).collect(),
        points: points.into_iter().take(7).collect(),
    }
}

/// A talking point for `facilitator.typ` (which holds the sentences):
/// `no_contact` (`n` days), `never_contacted`, `worsened` (`measure`,
/// `value`, `before`), `missed_target` (`measure`, `value`, `target`),
/// `block_overdue` (`block`, `block_name`, `n`, the first milestone `name`
/// and its `due` date), `other_blocks` (`blocks`), `improved` (`measure`, `value`).
#[derive(Serialize, Default)]
struct Point {
    kind: &'static str,
    measure: String,
    value: String,
    before: String,
    target: String,
    block: u8,
    block_name: String,
    n: String,
    name: String,
    due: String,
    blocks: Vec<String>,
}

/// A clinic's trend rows that worsened, miss their target, or improved.
#[derive(Default)]
struct Signals<'a> {
    worsened: Vec<&'a TrendRow>,
    missed: Vec<&'a TrendRow>,
    improved: Vec<&'a TrendRow>,
}

/// A trend value with its unit, or a dash.
fn value_text(x: Option<f64>, r: &TrendRow) -> String {
    let unit = if r.measure == MEAN_DAILY_MME { " MME/day" } else { "%" };
    x.map(|v| format!("{v:.1}{unit}")).unwrap_or_else(|| "–".into())
}

impl<'a> Signals<'a> {
    fn of(rows: &'a [TrendRow]) -> Signals<'a> {
        Signals {
            worsened: rows.iter().filter(|r| r.signal == Some(Signal::Worsened)).collect(),
            missed: rows.iter().filter(|r| r.meets_target == Some(false)).collect(),
            improved: rows.iter().filter(|r| r.signal == Some(Signal::Improved)).collect(),
        }
    }
    /// Points for worsened measures, then missed targets not already worsened.
    fn concerns(&self, defs: &[crate::measures::MeasureDef]) -> Vec<Point> {
        let mut points: Vec<Point> = self
            .worsened
            .iter()
            .map(|r| Point {
                kind: "worsened",
                measure: label_of(defs, &r.measure),
                value: value_text(r.value_3mo, r),
                before: value_text(r.value_3mo_prior_year, r),
                ..Point::default()
            })
            .collect();
        points.extend(self.missed.iter().filter(|r| r.signal != Some(Signal::Worsened)).map(|r| Point {
            kind: "missed_target",
            measure: label_of(defs, &r.measure),
            value: value_text(r.value, r),
            target: value_text(r.target, r),
            ..Point::default()
        }));
        points
    }
    /// Points for improved measures.
    fn successes(&self, defs: &[crate::measures::MeasureDef]) -> Vec<Point> {
        self.improved
            .iter()
            .map(|r| Point {
                kind: "improved",
                measure: label_of(defs, &r.measure),
                value: value_text(r.value_3mo, r),
                ..Point::default()
            })
            .collect()
    }
}

/// Up to three blocks with overdue milestones (their first one named), then
/// the other blocks in one line.
fn milestone_points(overdue: &[&Milestone]) -> Vec<Point> {
    let blocks: Vec<Block> = Block::ALL.into_iter().filter(|b| overdue.iter().any(|m| m.block == *b)).collect();
    let mut points = Vec::new();
    for &b in blocks.iter().take(3) {
        let ob: Vec<_> = overdue.iter().filter(|m| m.block == b).collect();
        points.push(Point {
            kind: "block_overdue",
            block: b.number(),
            block_name: b.name().to_lowercase(),
            n: ob.len().to_string(),
            name: ob[0].name.clone(),
            due: fmt_day(ob[0].due),
            ..Point::default()
        });
    }
    if blocks.len() > 3 {
        let blocks = blocks[3..].iter().map(|b| b.to_string()).collect();
        points.push(Point { kind: "other_blocks", blocks, ..Point::default() });
    }
    points
}

/// Virtual files and PDF ident of one facilitator's portfolio.
pub fn document(
    inp: &ReportInputs,
    sh: &Shared,
    facilitator: &str,
    clinics: &[usize],
) -> (Vec<(String, Vec<u8>)>, String) {
    let data = &inp.data;
    let doc = FacilitatorDoc {
        facilitator: facilitator.to_string(),
        month: month_name(inp.cfg.report_month),
        clinics: clinics.iter().map(|&c| line(inp, sh, c)).collect(),
        intervention_clinics: clinics.iter().filter(|&&c| data.clinics[c].arm == Arm::Intervention).count(),
        version: crate::VERSION,
    };
    (
        vec![("/data.json".into(), serde_json::to_vec(&doc).expect("json"))],
        format!("sixbb-facilitator-{facilitator}-{}", inp.cfg.report_month),
    )
}
