//! Differences in differences of 12-month windows (issue 7; year 2 and the
//! placebo from issue 17).
//!
//! Per intervention clinic its change from the `before` 12 months to the
//! `after` 12 months (each pooled over its window, relative to the start
//! month); each comparison clinic's change over the same calendar windows,
//! averaged over the intervention clinics' windows; the estimate is the
//! difference of the mean changes (unweighted: the average of the clinics'
//! own 2×2 differences in differences), the coefficient on `treated` of a
//! clinic-level regression on `[1, treated]`.

use super::{two_group, Design, Model, Outcome, OutcomeRow, Planned, Term};
use crate::dates::Month;
use crate::stats::wild::Hyp;
use polars::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// One difference in differences: the model and the first months of the
/// "after" and the "before" 12 months, relative to the start month.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub model: Model,
    pub after: i32,
    pub before: i32,
}

/// `did`: year 1 against the year before; `did_year2`: the second program
/// year against the same year before; `did_placebo`: the year before against
/// the year before that, where no effect can be (a check of parallel trends).
pub const WINDOWS: [Window; 3] = [
    Window { model: Model::Did, after: 0, before: -12 },
    Window { model: Model::DidYear2, after: 12, before: -12 },
    Window { model: Model::DidPlacebo, after: -12, before: -24 },
];

/// Below this many clinics per arm the rows are descriptive.
pub const MIN_PER_ARM: usize = 4;

/// The pooled value of each (clinic, start month) pair over the 12 months
/// from `start + from`: the [`super::pooled`] query on the panel of outcome
/// `j` joined with the pairs; a pair with a month outside the analysed
/// months has none.
fn windows(o: &Outcome, j: usize, panel: &DataFrame, pairs: &[(usize, i64)], from: i32) -> HashMap<(usize, i64), f64> {
    let go = || -> PolarsResult<HashMap<(usize, i64), f64>> {
        let p = df!(
            "clinic" => pairs.iter().map(|p| p.0 as u32).collect::<Vec<u32>>(),
            "s" => pairs.iter().map(|p| p.1).collect::<Vec<i64>>(),
        )?;
        let rows = panel
            .clone()
            .lazy()
            .filter(col("outcome").eq(lit(j as u32)))
            .select([col("clinic"), col("month"), col("outcome"), col("num"), col("den")])
            .join(p.lazy(), [col("clinic")], [col("clinic")], JoinArgs::new(JoinType::Inner));
        let lo = col("s") + lit(from as i64);
        let keep = col("month").gt_eq(lo.clone()).and(col("month").lt(lo + lit(12i64)));
        let df = super::pooled(rows, j, o.scale, keep, &["clinic", "s"])?;
        let (c, s, n, v) = (
            df.column("clinic")?.u32()?,
            df.column("s")?.i64()?,
            df.column("rows")?.i64()?,
            df.column("value")?.f64()?,
        );
        let mut out = HashMap::new();
        for i in 0..df.height() {
            if let (Some(c), Some(s), Some(12), Some(v)) = (c.get(i), s.get(i), n.get(i), v.get(i)) {
                out.insert((c as usize, s), v);
            }
        }
        Ok(out)
    };
    go().unwrap_or_default()
}

/// The clinic-level changes: (clinic, treated, change, weight 1). A
/// comparison clinic's change is averaged over the intervention clinics'
/// windows, computed once per start month and weighted by its clinics.
fn changes(
    o: &Outcome,
    j: usize,
    panel: &DataFrame,
    d: &Design,
    w: Window,
    first: Month,
) -> Vec<(usize, bool, f64, f64)> {
    let rel = |s: Month| s.minus(first) as i64;
    let mut cohorts: BTreeMap<Month, f64> = Default::default();
    for &(_, s) in &d.starts {
        *cohorts.entry(s).or_default() += 1.0;
    }
    let mut pairs: Vec<(usize, i64)> = d.starts.iter().map(|&(c, s)| (c, rel(s))).collect();
    pairs.extend(d.comparison.iter().flat_map(|&c| cohorts.keys().map(move |&s| (c, rel(s)))));
    let (after, before) = (windows(o, j, panel, &pairs, w.after), windows(o, j, panel, &pairs, w.before));
    let change = |c: usize, s: Month| Some(after.get(&(c, rel(s)))? - before.get(&(c, rel(s)))?);
    let mut obs: Vec<(usize, bool, f64, f64)> =
        d.starts.iter().filter_map(|&(c, s)| change(c, s).map(|x| (c, true, x, 1.0))).collect();
    for &c in &d.comparison {
        let (mut sum, mut n) = (0.0, 0.0);
        for (&s, &k) in &cohorts {
            if let Some(x) = change(c, s) {
                sum += k * x;
                n += k;
            }
        }
        if n > 0.0 {
            obs.push((c, false, sum / n, 1.0));
        }
    }
    obs
}

/// The `comparison_change` and `did` rows of one window.
pub fn rows(o: &Outcome, j: usize, panel: &DataFrame, d: &Design, w: Window, first: Month) -> Vec<OutcomeRow> {
    let obs = changes(o, j, panel, d, w, first);
    let n_int = obs.iter().filter(|x| x.1).count();
    let n_cmp = obs.len() - n_int;
    let mut rows: Vec<OutcomeRow> = [Term::ComparisonChange, Term::Did]
        .into_iter()
        .map(|term| {
            let mut r = OutcomeRow::new(&o.name, w.model, term);
            (r.n_clinics, r.n_obs, r.n_months) = (obs.len(), obs.len(), 24);
            r
        })
        .collect();
    let Some((block, _)) = two_group(&obs) else {
        for r in &mut rows {
            r.note = format!(
                "not estimable: {n_int} intervention and {n_cmp} comparison clinics with both 12-month windows (1 each and 3 in all needed)"
            );
        }
        return rows;
    };
    let descriptive = n_int < MIN_PER_ARM || n_cmp < MIN_PER_ARM;
    let plan =
        rows.into_iter().enumerate().map(|(k, row)| Planned { row, hyp: Hyp::coef(0, k), descriptive }).collect();
    super::summarise(&[block], plan, d, d.boot_for(&o.name, w.model))
}
