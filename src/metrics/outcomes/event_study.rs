//! The event study against comparison clinics (issue 17), the primary model.
//!
//! ATT(e) at event time e is a clinic-level two-group statistic: each
//! intervention clinic i observed in its base month g_i − 1 (with a
//! denominator above 0) and in g_i + e contributes its change
//! A_i = Y_i,g+e − Y_i,g−1 with weight w_i = its denominator in the base month;
//! each comparison clinic j contributes its change over the same calendar
//! months averaged over those intervention clinics (weights w_i; the windows
//! in which j has values), unweighted. ATT(e) = Σ w_i A_i / Σ w_i − mean_j,
//! which is Σ_i w_i ATT(i, e) / Σ w_i whenever every comparison clinic has
//! values in every window. e = −1 is the base (0 by construction).

use super::{two_group, Design, Inference, Model, OutcomeRow, Panel, Planned, Term};
use crate::dates::Month;
use crate::stats::wild::{self, Block, Hyp};
use std::collections::BTreeSet;

/// Event times estimated (−1 is the base month).
pub const EVENT_TIMES: std::ops::RangeInclusive<i32> = -12..=23;
/// Year 1 and year 2 of the program.
const YEARS: [(Term, std::ops::RangeInclusive<i32>); 2] = [(Term::Year1, 0..=11), (Term::Year2, 12..=23)];
/// Rows need at least this many intervention clinics (else descriptive).
pub const MIN_INTERVENTION: usize = 3;
/// ... and this many comparison clinics (a variance needs two).
pub const MIN_COMPARISON: usize = 2;

/// The clinic-level changes behind ATT(e): (clinic, treated, change, weight).
/// A comparison clinic's change over each start month's window is computed
/// once per start month (cohort), weighted by the cohort's base denominators.
pub fn changes(panel: &Panel, starts: &[(usize, Month)], comparison: &[usize], e: i32) -> Vec<(usize, bool, f64, f64)> {
    let mut obs = Vec::new();
    let mut cohorts: std::collections::BTreeMap<Month, f64> = Default::default();
    for &(i, g) in starts {
        let (Some((base, w)), Some((y, _))) = (panel.at(i, g.plus(-1)), panel.at(i, g.plus(e))) else {
            continue;
        };
        obs.push((i, true, y - base, w));
        *cohorts.entry(g).or_default() += w;
    }
    for &j in comparison {
        let (mut s, mut sw) = (0.0, 0.0);
        for (&g, &w) in &cohorts {
            if let (Some(b), Some(a)) = (panel.at(j, g.plus(-1)), panel.at(j, g.plus(e))) {
                s += w * (a.0 - b.0);
                sw += w;
            }
        }
        if sw > 0.0 {
            obs.push((j, false, s / sw, 1.0));
        }
    }
    obs
}

/// One event time's block.
struct EventBlock {
    e: i32,
    /// Index into the model's blocks.
    block: usize,
    counts: (usize, usize),
}

impl EventBlock {
    fn descriptive(&self) -> bool {
        self.counts.0 < MIN_INTERVENTION || self.counts.1 < MIN_COMPARISON
    }
}

/// The blocks of every estimable event time.
fn blocks(panel: &Panel, d: &Design) -> (Vec<Block>, Vec<EventBlock>, Vec<i32>) {
    let (mut blocks, mut index, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for e in EVENT_TIMES.filter(|e| *e != -1) {
        match two_group(&changes(panel, &d.starts, &d.comparison, e)) {
            Some((b, counts)) => {
                index.push(EventBlock { e, block: blocks.len(), counts });
                blocks.push(b);
            }
            None => missing.push(e),
        }
    }
    (blocks, index, missing)
}

/// The event-study rows of one outcome (att per event time, year1, year2,
/// pre_trend) and the chart's points.
pub fn rows(outcome: &str, panel: &Panel, d: &Design) -> (Vec<OutcomeRow>, Vec<(i32, f64, Option<(f64, f64)>)>) {
    let (blocks, index, missing) = blocks(panel, d);
    let mut plan: Vec<Planned> = index.iter().map(|eb| att_plan(outcome, eb, &blocks)).collect();
    for (term, range) in &YEARS {
        let year: Vec<&EventBlock> = index.iter().filter(|eb| range.contains(&eb.e)).collect();
        if year.len() == 12 {
            plan.push(year_plan(outcome, *term, &year, &blocks));
        }
    }
    let mut out = super::summarise(&blocks, plan, d, d.boot_for(outcome, Model::EventStudy));
    let points = chart_points(&out);
    out.extend(missing_rows(outcome, &missing));
    out.sort_by_key(order);
    out.push(pre_trend(outcome, &blocks, &index, d));
    (out, points)
}

/// The plan of one event time's row.
fn att_plan(outcome: &str, eb: &EventBlock, blocks: &[Block]) -> Planned {
    let mut row = OutcomeRow::new(outcome, Model::EventStudy, Term::Att);
    row.event_time = Some(eb.e);
    row.n_clinics = blocks[eb.block].clusters().count();
    row.n_obs = row.n_clinics;
    row.n_months = 1;
    Planned { row, hyp: Hyp::coef(eb.block, 1), descriptive: eb.descriptive() }
}

/// The plan of a year's mean ATT (every event time of the year estimable;
/// descriptive when any of them is).
fn year_plan(outcome: &str, term: Term, year: &[&EventBlock], blocks: &[Block]) -> Planned {
    let clinics: BTreeSet<usize> = year.iter().flat_map(|eb| blocks[eb.block].clusters()).collect();
    let mut row = OutcomeRow::new(outcome, Model::EventStudy, term);
    row.n_clinics = clinics.len();
    row.n_obs = year.iter().map(|eb| eb.counts.0 + eb.counts.1).sum();
    row.n_months = year.len();
    let hyp = Hyp { terms: year.iter().map(|eb| (eb.block, 1, 1.0 / year.len() as f64)).collect() };
    Planned { row, hyp, descriptive: year.iter().any(|eb| eb.descriptive()) }
}

/// Row order: att by event time, then year1, year2.
fn order(r: &OutcomeRow) -> (u8, i32) {
    match r.term {
        Term::Att => (0, r.event_time.unwrap_or(0)),
        Term::Year1 => (1, 0),
        _ => (2, 0),
    }
}

/// Not-estimable rows for event times without clinics and for years that
/// miss one.
fn missing_rows(outcome: &str, missing: &[i32]) -> Vec<OutcomeRow> {
    let mut out = Vec::new();
    for &e in missing {
        let mut row = OutcomeRow::new(outcome, Model::EventStudy, Term::Att);
        row.event_time = Some(e);
        row.n_months = 1;
        row.note = format!(
            "not estimable: fewer than 3 clinics, or no intervention or no comparison clinic, with values at event time {e} and its base month"
        );
        out.push(row);
    }
    for (term, range) in &YEARS {
        let gone: Vec<String> = range.clone().filter(|e| missing.contains(e)).map(|e| e.to_string()).collect();
        if !gone.is_empty() {
            let mut row = OutcomeRow::new(outcome, Model::EventStudy, *term);
            row.note = format!("not estimable: event times {} have no estimate", gone.join(", "));
            out.push(row);
        }
    }
    out
}

/// ATT(e) with its interval for the chart; e = −1 is 0.
fn chart_points(rows: &[OutcomeRow]) -> Vec<(i32, f64, Option<(f64, f64)>)> {
    let mut v: Vec<(i32, f64, Option<(f64, f64)>)> =
        rows.iter().filter(|r| r.term == Term::Att).filter_map(|r| Some((r.event_time?, r.estimate?, r.ci))).collect();
    v.push((-1, 0.0, None));
    v.sort_by_key(|p| p.0);
    v
}

/// The pre-trend test of ATT(e) = 0 for every pre-period event time that
/// is not descriptive (e = −12…−2): S = max |ATT(e) / se(e)| (CR1 errors);
/// p = the share of restricted wild bootstrap replicates (each ATT(e) set to
/// 0, one draw per clinic for all e) whose max |t*| is at least S. The
/// bootstrap runs at any number of clinics: no table gives the maximum's
/// distribution.
fn pre_trend(outcome: &str, blocks: &[Block], index: &[EventBlock], d: &Design) -> OutcomeRow {
    let pre: Vec<&EventBlock> = index.iter().filter(|eb| eb.e < -1 && !eb.descriptive()).collect();
    let mut row = OutcomeRow::new(outcome, Model::EventStudy, Term::PreTrend);
    let clinics: BTreeSet<usize> = pre.iter().flat_map(|eb| blocks[eb.block].clusters()).collect();
    row.n_clinics = clinics.len();
    row.n_obs = pre.iter().map(|eb| eb.counts.0 + eb.counts.1).sum();
    row.n_months = pre.len();
    if pre.is_empty() {
        row.note = format!(
            "not estimable: no pre-period event time with {MIN_INTERVENTION} intervention and {MIN_COMPARISON} comparison clinics"
        );
        return row;
    }
    let hyps: Vec<Hyp> = pre.iter().map(|eb| Hyp::coef(eb.block, 1)).collect();
    let tested = wild::bootstrap(blocks, &hyps, d.clinics, d.boot_for(outcome, Model::EventStudy));
    let s = max_abs_t(&tested);
    let stars: Vec<Vec<f64>> = tested.iter().map(|x| x.abs_t_star(x.estimate).collect()).collect();
    let max_star: Vec<f64> = (0..stars[0].len()).map(|r| stars.iter().map(|x| x[r]).fold(0.0, f64::max)).collect();
    row.estimate = Some(s);
    row.p = Some(wild::p_value(&max_star, s));
    row.inference = Inference::WildBootstrap;
    row
}

/// max |θ / se| over tested hypotheses (CR1 errors; 0 for a zero error).
pub fn max_abs_t(tested: &[wild::Tested]) -> f64 {
    tested.iter().map(|x| if x.se > 0.0 { (x.estimate / x.se).abs() } else { 0.0 }).fold(0.0, f64::max)
}
