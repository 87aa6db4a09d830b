//! The single-arm interrupted time series (secondary; no control arm).
//!
//! Weighted least squares on intervention clinic-months aligned on program
//! start (event months −24…23, k = months since the start month):
//! `y = α_clinic + b1·k + b2·post + b3·post·k`, weights the measure's
//! denominator (1 for the LTOT count), clinic fixed effects by weighted
//! within-clinic demeaning (nested in the clusters, so the CR1 factor counts
//! the three slopes only, as Stata's `xtreg, fe vce(cluster)`). It has no
//! control arm: secular trends load on the slope change.

use super::{Design, Model, Outcome, OutcomeRow, Panel, Planned, Term};
use crate::stats::wild::{Block, Hyp};
use polars::prelude::*;
use std::collections::BTreeMap;

/// Event months used (24 before to 23 after the start month).
pub const EVENT_RANGE: std::ops::RangeInclusive<i32> = -24..=23;
/// The model's terms, in the order of b1..b3.
const TERMS: [Term; 3] = [Term::PreSlope, Term::LevelChange, Term::SlopeChange];
/// Event months needed on each side of the start.
const MIN_MONTHS: usize = 3;
/// Intervention clinics with data before and after needed for an interval.
pub const MIN_CLINICS: usize = 3;

/// The regression's rows: (clinic, k, value, weight).
fn observations(panel: &Panel, d: &Design) -> Vec<(usize, i32, f64, f64)> {
    let mut obs = Vec::new();
    for &(c, s) in &d.starts {
        for e in EVENT_RANGE {
            if let Some((y, w)) = panel.at(c, s.plus(e)) {
                obs.push((c, e, y, w));
            }
        }
    }
    obs
}

/// Weighted within-clinic demeaning: (x̃, ỹ, w, clinic) and each clinic's
/// (Σw, weighted mean of [k, post, post·k], weighted mean of y).
#[allow(clippy::type_complexity)]
fn demean(
    obs: &[(usize, i32, f64, f64)],
) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>, Vec<usize>, BTreeMap<usize, (f64, [f64; 3], f64)>) {
    let regs = |e: i32| {
        let post = (e >= 0) as i32 as f64;
        [e as f64, post, post * e as f64]
    };
    let mut means: BTreeMap<usize, (f64, [f64; 3], f64)> = BTreeMap::new();
    for &(c, e, y, w) in obs {
        let m = means.entry(c).or_insert((0.0, [0.0; 3], 0.0));
        m.0 += w;
        for (j, x) in regs(e).iter().enumerate() {
            m.1[j] += w * x;
        }
        m.2 += w * y;
    }
    for m in means.values_mut() {
        m.1.iter_mut().for_each(|x| *x /= m.0);
        m.2 /= m.0;
    }
    let (mut x, mut y, mut w, mut g) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &(c, e, v, wt) in obs {
        let m = &means[&c];
        x.push(regs(e).iter().zip(&m.1).map(|(a, b)| a - b).collect());
        y.push(v - m.2);
        w.push(wt);
        g.push(c);
    }
    (x, y, w, g, means)
}

/// Why the model cannot be fitted, when it cannot (`months`: the distinct
/// event months with data, ascending).
fn not_estimable(months: &[i32]) -> Option<String> {
    let pre = months.iter().filter(|e| **e < 0).count();
    let post = months.len() - pre;
    (pre < MIN_MONTHS || post < MIN_MONTHS)
        .then(|| format!("not estimable: {pre} months before and {post} from the start ({MIN_MONTHS} each needed)"))
}

/// Intervention clinics with at least one month before and one from the start.
fn clinics_both_sides(obs: &[(usize, i32, f64, f64)]) -> usize {
    let mut sides: BTreeMap<usize, (bool, bool)> = BTreeMap::new();
    for &(c, e, _, _) in obs {
        let s = sides.entry(c).or_default();
        if e < 0 {
            s.0 = true;
        } else {
            s.1 = true;
        }
    }
    sides.values().filter(|(a, b)| *a && *b).count()
}

/// The ITS rows of one outcome and the fitted segments (b0 = the clinics'
/// weighted mean level at k = 0 before the start).
pub fn rows(outcome: &str, panel: &Panel, d: &Design) -> (Vec<OutcomeRow>, Option<[f64; 4]>) {
    let obs = observations(panel, d);
    let mut months: Vec<i32> = obs.iter().map(|o| o.1).collect();
    months.sort_unstable();
    months.dedup();
    let (x, y, w, g, means) = demean(&obs);
    let mut rows: Vec<OutcomeRow> = TERMS
        .iter()
        .map(|t| {
            let mut r = OutcomeRow::new(outcome, Model::Its, *t);
            (r.n_clinics, r.n_obs, r.n_months) = (means.len(), obs.len(), months.len());
            r
        })
        .collect();
    if let Some(why) = not_estimable(&months) {
        rows.iter_mut().for_each(|r| r.note = why.clone());
        return (rows, None);
    }
    let Some(fit) = Block::fit(&x, &y, &w, &g) else {
        rows.iter_mut().for_each(|r| r.note = "not estimable: the design is singular (too little variation)".into());
        return (rows, None);
    };
    let descriptive = clinics_both_sides(&obs) < MIN_CLINICS;
    let plan =
        rows.into_iter().enumerate().map(|(k, row)| Planned { row, hyp: Hyp::coef(0, k), descriptive }).collect();
    let b = fit.beta.clone();
    let rows = super::summarise(&[fit], plan, d, d.boot_for(outcome, Model::Its));
    let total: f64 = means.values().map(|m| m.0).sum();
    let level: f64 =
        means.values().map(|m| m.0 * (m.2 - m.1[0] * b[0] - m.1[1] * b[1] - m.1[2] * b[2])).sum::<f64>() / total;
    (rows, Some([level, b[0], b[1], b[2]]))
}

/// Pooled values over intervention clinics per event month (the chart):
/// the [`super::pooled`] query on the panel of outcome `j`.
pub fn pooled_points(o: &Outcome, j: usize, panel: &DataFrame) -> Vec<(i32, f64)> {
    let keep = col("event_time")
        .gt_eq(lit(*EVENT_RANGE.start() as i64))
        .and(col("event_time").lt_eq(lit(*EVENT_RANGE.end() as i64)));
    let df = super::pooled(panel.clone().lazy(), j, o.scale, keep, &["event_time"]).expect("the pooled points query");
    let e = df.column("event_time").and_then(|c| c.i64().cloned()).expect("event_time is an integer column");
    let v = df.column("value").and_then(|c| c.f64().cloned()).expect("value is a float column");
    e.iter().zip(v.iter()).filter_map(|(e, v)| Some((e? as i32, v?))).collect()
}
