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

/// Every pooled 12-month window the DiD rows of one outcome read: per
/// clinic, start month (index into the analysed months) and first month
/// relative to it, `scale × Σnum ÷ Σden` over the 12 months; a window with a
/// month outside the analysed months has none.
pub struct Windows {
    values: HashMap<(usize, i64, i32), f64>,
    first: Month,
    /// Intervention clinics per start month.
    cohorts: BTreeMap<Month, f64>,
}

/// [`Windows`] of outcome `j` as one polars query: the (clinic, start
/// month) pairs (intervention clinics with their own start, comparison
/// clinics with every cohort's) expanded to their windows' months, joined
/// with the panel on clinic and month, pooled by [`super::pooled`].
pub fn windows(o: &Outcome, j: usize, panel: &DataFrame, d: &Design, first: Month) -> Windows {
    let rel = |s: Month| s.minus(first) as i64;
    let mut cohorts: BTreeMap<Month, f64> = Default::default();
    for &(_, s) in &d.starts {
        *cohorts.entry(s).or_default() += 1.0;
    }
    let mut pairs: Vec<(usize, i64)> = d.starts.iter().map(|&(c, s)| (c, rel(s))).collect();
    pairs.extend(d.comparison.iter().flat_map(|&c| cohorts.keys().map(move |&s| (c, rel(s)))));
    let mut froms: Vec<i32> = WINDOWS.iter().flat_map(|w| [w.after, w.before]).collect();
    froms.sort_unstable();
    froms.dedup();
    let go = || -> PolarsResult<HashMap<(usize, i64, i32), f64>> {
        let cells: Vec<(u32, i64, i64, i32)> = pairs
            .iter()
            .flat_map(|&(c, s)| {
                froms.iter().flat_map(move |&f| (0..12).map(move |k| (c as u32, s + (f + k) as i64, s, f)))
            })
            .collect();
        let wanted = df!(
            "clinic" => cells.iter().map(|x| x.0).collect::<Vec<u32>>(),
            "month" => cells.iter().map(|x| x.1).collect::<Vec<i64>>(),
            "s" => cells.iter().map(|x| x.2).collect::<Vec<i64>>(),
            "from" => cells.iter().map(|x| x.3).collect::<Vec<i32>>(),
        )?;
        let on = [col("clinic"), col("month")];
        let args = JoinArgs { maintain_order: MaintainOrderJoin::Left, ..JoinArgs::new(JoinType::Inner) };
        let rows = panel.clone().lazy().filter(col("outcome").eq(lit(j as u32)));
        let rows = wanted.lazy().join(
            rows.select([col("clinic"), col("month"), col("outcome"), col("num"), col("den")]),
            on.clone(),
            on,
            args,
        );
        let df = super::pooled(rows, j, o.scale, lit(true), &["clinic", "s", "from"])?;
        let (c, s, f) = (df.column("clinic")?.u32()?, df.column("s")?.i64()?, df.column("from")?.i32()?);
        let (n, v) = (df.column("rows")?.i64()?, df.column("value")?.f64()?);
        let mut out = HashMap::new();
        for i in 0..df.height() {
            if let (Some(c), Some(s), Some(f), Some(12), Some(v)) = (c.get(i), s.get(i), f.get(i), n.get(i), v.get(i)) {
                out.insert((c as usize, s, f), v);
            }
        }
        Ok(out)
    };
    Windows { values: go().expect("the DiD window query"), first, cohorts }
}

/// The clinic-level changes: (clinic, treated, change, weight 1). A
/// comparison clinic's change is averaged over the intervention clinics'
/// windows, computed once per start month and weighted by its clinics.
fn changes(win: &Windows, d: &Design, w: Window) -> Vec<(usize, bool, f64, f64)> {
    let rel = |s: Month| s.minus(win.first) as i64;
    let at = |c: usize, s: Month, f: i32| win.values.get(&(c, rel(s), f));
    let change = |c: usize, s: Month| Some(at(c, s, w.after)? - at(c, s, w.before)?);
    let mut obs: Vec<(usize, bool, f64, f64)> =
        d.starts.iter().filter_map(|&(c, s)| change(c, s).map(|x| (c, true, x, 1.0))).collect();
    for &c in &d.comparison {
        let (mut sum, mut n) = (0.0, 0.0);
        for (&s, &k) in &win.cohorts {
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
pub fn rows(o: &Outcome, win: &Windows, d: &Design, w: Window) -> Vec<OutcomeRow> {
    let obs = changes(win, d, w);
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
