//! Outcome statistics for investigators (SPEC §3, issues 7 and 17).
//!
//! Models, in `metrics/outcomes.csv` order for each outcome:
//! * `event_study` (primary): for each intervention clinic i starting in
//!   month g_i and event time e from −12 to 23, ATT(i, e) = (Y_i,g+e −
//!   Y_i,g−1) − the same change averaged over comparison clinics over the
//!   same calendar months (never-treated controls, universal base month
//!   g − 1; Callaway & Sant'Anna 2021); aggregated per e over the clinics
//!   observed at e, weighted by the clinic's denominator in its base month;
//!   `year1` / `year2` are the means over e = 0…11 / 12…23; `pre_trend` is the
//!   joint test of ATT(e) = 0 for e < −1 ([`event_study`]).
//! * `did`, `did_year2`, `did_placebo`: clinic-level differences in
//!   differences of 12-month pooled windows ([`did`]).
//! * `its` (secondary, no control arm): segmented regression over
//!   intervention clinic-months with clinic fixed effects ([`its`]).
//!
//! Inference: with fewer than [`BOOTSTRAP_BELOW`] clinics in a model, the
//! wild cluster bootstrap ([`crate::stats::wild`]); otherwise CR1 standard
//! errors with t on clinics − 1 df. Rows on too few clinics are
//! `descriptive` (an estimate, no interval).

pub mod did;
pub mod event_study;
pub mod its;

use super::clinic_month::{seq_sum, PrescribingMetrics};
use super::table::{floats, frame, ints, text};
use crate::config::{MetricsConfig, OutcomesConfig};
use crate::dates::Month;
use crate::model::{Arm, Dataset};
use crate::stats::coef;
use crate::stats::wild::{self, Block, Boot, Hyp};
use polars::prelude::*;

/// Models with fewer clinics than this use the wild cluster bootstrap.
pub const BOOTSTRAP_BELOW: usize = 20;

/// One outcome: a ratio of two clinic_month count columns. A clinic-month
/// value is `scale × num ÷ den`, weighted by `den`; pooled over months or
/// clinics it is `scale × Σnum ÷ Σden`.
pub struct Outcome {
    pub name: String,
    pub label: String,
    pub num: Expr,
    pub den: Expr,
    pub scale: f64,
}

/// The outcomes: the registry's outcome measures (each high-dose %,
/// benzodiazepine overlap %), mean daily MME, LTOT patients (per clinic: den 1).
pub fn outcomes(cfg: &MetricsConfig) -> Vec<Outcome> {
    let mut v: Vec<Outcome> = crate::measures::registry(&cfg.threshold_labels())
        .into_iter()
        .filter(|m| m.appears.outcome)
        .map(|m| Outcome {
            name: m.pct_column(),
            label: m.label.clone(),
            num: col(m.n_column()),
            den: col(m.denominator.column()),
            scale: 100.0,
        })
        .collect();
    v.push(Outcome {
        name: "mean_daily_mme".into(),
        label: "Mean daily MME of LTOT patients".into(),
        num: col("mme_sum"),
        den: col("ltot_patients"),
        scale: 1.0,
    });
    v.push(Outcome {
        name: "ltot_patients".into(),
        label: "LTOT patients per clinic".into(),
        num: col("ltot_patients"),
        den: lit(1i64),
        scale: 1.0,
    });
    v
}

/// `scale × num ÷ den` as an expression (no multiplication for scale 1, so
/// the value is the plain quotient).
fn ratio(scale: f64, num: Expr, den: Expr) -> Expr {
    let num = num.cast(DataType::Float64);
    let num = if scale == 1.0 { num } else { lit(scale) * num };
    when(den.clone().gt(lit(0.0))).then(num / den).otherwise(lit(NULL).cast(DataType::Float64))
}

/// The outcome models' input panel as a lazy query over the clinic_month
/// counts of the analysed months: one row per outcome × clinic × month with
/// `num` and `den` (the pooling parts), the clinic-month `value`, and the
/// `event_time` (months since the start month) of intervention clinics with
/// a start month (null for the others).
pub fn panel(pm: &PrescribingMetrics, os: &[Outcome], d: &Design) -> PolarsResult<DataFrame> {
    let starts = df!(
        "clinic" => d.starts.iter().map(|s| s.0 as u32).collect::<Vec<u32>>(),
        "start" => d.starts.iter().map(|s| s.1.minus(pm.months[0]) as i64).collect::<Vec<i64>>(),
    )?;
    let parts: Vec<LazyFrame> = os
        .iter()
        .enumerate()
        .map(|(j, o)| {
            pm.counts.clone().lazy().select([
                col("clinic"),
                col("month").cast(DataType::Int64),
                lit(j as u32).alias("outcome"),
                o.num.clone().cast(DataType::Float64).alias("num"),
                o.den.clone().cast(DataType::Float64).alias("den"),
                ratio(o.scale, o.num.clone(), o.den.clone().cast(DataType::Float64)).alias("value"),
            ])
        })
        .collect();
    let args = JoinArgs { maintain_order: MaintainOrderJoin::Left, ..JoinArgs::new(JoinType::Left) };
    concat(parts, UnionArgs::default())?
        .join(starts.lazy(), [col("clinic")], [col("clinic")], args)
        .with_column((col("month") - col("start")).alias("event_time"))
        .collect()
}

/// Pooled values `scale × Σnum ÷ Σden` of the panel rows of outcome `j`
/// kept by `keep`, grouped by `by`: the group keys and `value` (null when
/// Σden is 0), plus the rows pooled (`rows`).
pub fn pooled(panel: LazyFrame, j: usize, scale: f64, keep: Expr, by: &[&str]) -> PolarsResult<DataFrame> {
    let keys: Vec<Expr> = by.iter().map(|c| col(*c)).collect();
    panel
        .filter(col("outcome").eq(lit(j as u32)).and(keep))
        .group_by(keys.clone())
        .agg([seq_sum(col("num")).alias("num"), col("den").sum(), len().cast(DataType::Int64).alias("rows")])
        .with_column(ratio(scale, col("num"), col("den")).alias("value"))
        .sort_by_exprs(keys, SortMultipleOptions::default())
        .collect()
}

/// How a row's interval was made (`outcomes.csv` `inference`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inference {
    /// CR1 clustered by clinic, t with clinics − 1 df.
    Cr1,
    /// Wild cluster bootstrap (Webb weights), symmetric percentile-t.
    WildBootstrap,
    /// Too few clinics: the estimate only.
    Descriptive,
    /// Not estimable (the note says why).
    None,
}

impl Inference {
    pub fn as_str(self) -> &'static str {
        match self {
            Inference::Cr1 => "cr1",
            Inference::WildBootstrap => "wild_bootstrap",
            Inference::Descriptive => "descriptive",
            Inference::None => "",
        }
    }
}

/// One line of `metrics/outcomes.csv`.
#[derive(Clone, Debug)]
pub struct OutcomeRow {
    pub outcome: String,
    pub model: Model,
    pub term: Term,
    /// Event time of an `att` row.
    pub event_time: Option<i32>,
    pub estimate: Option<f64>,
    /// Standard error, interval and p; `None` when descriptive or not
    /// estimable (the pre-trend test has p only).
    pub se: Option<f64>,
    pub ci: Option<(f64, f64)>,
    pub p: Option<f64>,
    pub inference: Inference,
    pub n_clinics: usize,
    pub n_obs: usize,
    pub n_months: usize,
    /// Degrees of freedom of the t distribution (clinics − 1).
    pub df: Option<f64>,
    pub note: String,
}

impl OutcomeRow {
    /// A not-estimable row (the caller fills counts).
    pub fn new(outcome: &str, model: Model, term: Term) -> OutcomeRow {
        OutcomeRow {
            outcome: outcome.to_string(),
            model,
            term,
            event_time: None,
            estimate: None,
            se: None,
            ci: None,
            p: None,
            inference: Inference::None,
            n_clinics: 0,
            n_obs: 0,
            n_months: 0,
            df: None,
            note: String::new(),
        }
    }
}

/// Pooled values per event month with the fitted ITS segments, for charts.
#[derive(Clone, Debug)]
pub struct EventSeries {
    pub outcome: String,
    pub label: String,
    /// (event month, pooled value over intervention clinics).
    pub points: Vec<(i32, f64)>,
    /// ITS coefficients b0..b3 when estimated (b0: the clinics' mean level).
    pub fit: Option<[f64; 4]>,
    /// Event-study ATT(e) with its 95% interval when not descriptive; e = −1 is 0.
    pub att: Vec<(i32, f64, Option<(f64, f64)>)>,
}

/// Everything the outcome stage produces.
pub struct OutcomeResults {
    pub rows: Vec<OutcomeRow>,
    pub series: Vec<EventSeries>,
    /// First and last month the models read.
    pub period: (Month, Month),
}

/// An outcome model (`outcomes.csv` `model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    EventStudy,
    Did,
    DidYear2,
    DidPlacebo,
    Its,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Model::EventStudy => "event_study",
            Model::Did => "did",
            Model::DidYear2 => "did_year2",
            Model::DidPlacebo => "did_placebo",
            Model::Its => "its",
        }
    }
}

/// A model term (`outcomes.csv` `term`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// ATT at one event time (`event_time`).
    Att,
    Year1,
    Year2,
    /// Joint test of the pre-period ATTs: the largest |t|.
    PreTrend,
    PreSlope,
    LevelChange,
    SlopeChange,
    ComparisonChange,
    Did,
}

impl Term {
    pub fn as_str(self) -> &'static str {
        match self {
            Term::Att => "att",
            Term::Year1 => "year1",
            Term::Year2 => "year2",
            Term::PreTrend => "pre_trend",
            Term::PreSlope => "pre_slope",
            Term::LevelChange => "level_change",
            Term::SlopeChange => "slope_change",
            Term::ComparisonChange => "comparison_change",
            Term::Did => "did",
        }
    }
}

/// One outcome's clinic-month values over the analysed months, read from
/// the [`panel`] query.
pub struct Panel {
    first: Month,
    months: usize,
    /// `vals[clinic * months + k]`: (value, weight), `None` when undefined.
    vals: Vec<Option<(f64, f64)>>,
}

impl Panel {
    pub fn new(frame: &DataFrame, j: usize, pm: &PrescribingMetrics) -> PolarsResult<Panel> {
        let (first, months) = (pm.months[0], pm.months.len());
        let mut vals = vec![None; pm.cells.len()];
        let rows = frame.clone().lazy().filter(col("outcome").eq(lit(j as u32))).collect()?;
        let clinic = rows.column("clinic")?.u32()?;
        let month = rows.column("month")?.i64()?;
        let (value, den) = (rows.column("value")?.f64()?, rows.column("den")?.f64()?);
        for i in 0..rows.height() {
            if let (Some(c), Some(k), Some(v), Some(w)) = (clinic.get(i), month.get(i), value.get(i), den.get(i)) {
                vals[c as usize * months + k as usize] = Some((v, w));
            }
        }
        Ok(Panel { first, months, vals })
    }
    /// From explicit values (tests): `vals[clinic][k]`.
    pub fn from_values(first: Month, vals: Vec<Vec<Option<(f64, f64)>>>) -> Panel {
        let months = vals.first().map_or(0, Vec::len);
        Panel { first, months, vals: vals.into_iter().flatten().collect() }
    }
    /// Clinic `c`'s value in month `m`; `None` outside the analysed months.
    pub fn at(&self, c: usize, m: Month) -> Option<(f64, f64)> {
        let k = m.minus(self.first);
        (k >= 0 && (k as usize) < self.months).then(|| self.vals[c * self.months + k as usize]).flatten()
    }
}

/// Who is compared: intervention clinics with their start month, comparison
/// clinics, the number of clinics (cluster indices), the bootstrap.
pub struct Design {
    pub starts: Vec<(usize, Month)>,
    pub comparison: Vec<usize>,
    pub clinics: usize,
    pub boot: Boot,
}

impl Design {
    pub fn new(data: &Dataset, cfg: &OutcomesConfig) -> Design {
        let starts = data
            .clinics
            .iter()
            .enumerate()
            .filter(|(_, c)| c.arm == Arm::Intervention)
            .filter_map(|(i, c)| c.program_start.map(|s| (i, Month::of_day(s))))
            .collect();
        let comparison = (0..data.clinics.len()).filter(|&i| data.clinics[i].arm == Arm::Comparison).collect();
        let boot = Boot { reps: cfg.bootstrap_replications, seed: cfg.bootstrap_seed };
        Design { starts, comparison, clinics: data.clinics.len(), boot }
    }
    /// The bootstrap of one model of one outcome: its own stream.
    pub fn boot_for(&self, outcome: &str, model: Model) -> Boot {
        let key = format!("{outcome}/{}", model.as_str());
        Boot { reps: self.boot.reps, seed: self.boot.seed ^ crate::model::fnv1a(&key) }
    }
}

/// A row to fill and the hypothesis it reports; descriptive rows get the
/// estimate only.
pub struct Planned {
    pub row: OutcomeRow,
    pub hyp: Hyp,
    pub descriptive: bool,
}

/// Fill the planned rows of one model: the wild bootstrap (restricted, test
/// inversion) when the model has fewer than [`BOOTSTRAP_BELOW`] clinics,
/// else CR1 with t on clinics − 1 df. One draw per clinic and replication
/// serves every hypothesis of the model.
pub fn summarise(blocks: &[Block], plan: Vec<Planned>, d: &Design, boot: Boot) -> Vec<OutcomeRow> {
    let model: std::collections::BTreeSet<usize> = blocks.iter().flat_map(|b| b.clusters()).collect();
    let bootstrap = model.len() < BOOTSTRAP_BELOW;
    let inferential: Vec<Hyp> = plan.iter().filter(|p| !p.descriptive).map(|p| p.hyp.clone()).collect();
    let mut tested = if bootstrap {
        wild::bootstrap(blocks, &inferential, d.clinics, boot)
    } else {
        inferential.iter().map(|h| wild::test(blocks, h, d.clinics)).collect()
    }
    .into_iter();
    let mut out = Vec::with_capacity(plan.len());
    for p in plan {
        let mut row = p.row;
        if p.descriptive {
            row.estimate = Some(wild::test(blocks, &p.hyp, d.clinics).estimate);
            row.inference = Inference::Descriptive;
        } else {
            let t = tested.next().expect("one test per inferential row");
            fill(&mut row, &t, bootstrap);
        }
        out.push(row);
    }
    out
}

/// A row's estimate, error, interval, p and df from a tested hypothesis.
fn fill(row: &mut OutcomeRow, t: &wild::Tested, bootstrap: bool) {
    let df = t.clusters as f64 - 1.0;
    row.estimate = Some(t.estimate);
    row.se = Some(t.se);
    row.df = Some(df);
    if bootstrap {
        row.inference = Inference::WildBootstrap;
        row.p = Some(t.p_at(0.0));
        row.ci = t.interval();
        if row.ci.is_none() {
            row.note = "the bootstrap interval is unbounded".into();
        }
    } else {
        let c = coef(t.estimate, t.se, df);
        row.inference = Inference::Cr1;
        row.p = Some(c.p);
        row.ci = Some((c.ci_low, c.ci_high));
    }
}

/// A clinic-level two-group block: the regression on `[1, treated]` of one
/// value per clinic, from (clinic, treated, value, weight > 0); with the
/// (treated, comparison) counts. `None` when a group is empty or there are
/// only two clinics.
pub fn two_group(obs: &[(usize, bool, f64, f64)]) -> Option<(Block, (usize, usize))> {
    let nt = obs.iter().filter(|o| o.1).count();
    let nc = obs.len() - nt;
    if nt == 0 || nc == 0 {
        return None;
    }
    let x: Vec<Vec<f64>> = obs.iter().map(|o| vec![1.0, if o.1 { 1.0 } else { 0.0 }]).collect();
    let y: Vec<f64> = obs.iter().map(|o| o.2).collect();
    let w: Vec<f64> = obs.iter().map(|o| o.3).collect();
    let g: Vec<usize> = obs.iter().map(|o| o.0).collect();
    Block::fit(&x, &y, &w, &g).map(|b| (b, (nt, nc)))
}

/// The first month the outcome models read: `analysis_start` when set,
/// else the first month from the end of the warm-up (`first data month +
/// warmup_months`) with at least `min_cell` (at least 1) LTOT patients
/// study-wide; the warm-up's end when no month qualifies.
pub fn analysis_start(cfg: &OutcomesConfig, min_cell: u32, first_data: Month, pm: &PrescribingMetrics) -> Month {
    if let Some(m) = cfg.analysis_start {
        return m;
    }
    let from = first_data.plus(cfg.warmup_months as i32);
    let first = from.minus(pm.months[0]).max(0) as u32;
    let month = pm
        .counts
        .clone()
        .lazy()
        .group_by([col("month")])
        .agg([col("ltot_patients").sum()])
        .filter(col("month").gt_eq(lit(first)).and(col("ltot_patients").gt_eq(lit(min_cell.max(1) as i64))))
        .select([col("month").min()])
        .collect()
        .ok()
        .and_then(|df| df.column("month").ok()?.u32().ok()?.get(0));
    month.map_or(from, |k| pm.months[k as usize])
}

/// Fit every outcome model over `pm` (the analysed months).
pub fn compute(data: &Dataset, pm: &PrescribingMetrics, cfg: &MetricsConfig, ocfg: &OutcomesConfig) -> OutcomeResults {
    use rayon::prelude::*;
    let design = Design::new(data, ocfg);
    let os = outcomes(cfg);
    let frame = panel(pm, &os, &design).expect("the outcome panel query");
    let per_outcome: Vec<(Vec<OutcomeRow>, EventSeries)> =
        os.par_iter().enumerate().map(|(j, o)| one_outcome(o, j, &frame, pm, &design)).collect();
    let (mut rows, mut series) = (Vec::new(), Vec::new());
    for (r, s) in per_outcome {
        rows.extend(r);
        series.push(s);
    }
    let period = (pm.months[0], *pm.months.last().expect("a month"));
    OutcomeResults { rows, series, period }
}

/// Every model of one outcome, and its chart series.
fn one_outcome(
    o: &Outcome,
    j: usize,
    frame: &DataFrame,
    pm: &PrescribingMetrics,
    design: &Design,
) -> (Vec<OutcomeRow>, EventSeries) {
    let panel = Panel::new(frame, j, pm).expect("the outcome panel");
    let (mut rows, att) = event_study::rows(&o.name, &panel, design);
    let windows = did::windows(o, j, frame, design, pm.months[0]);
    for w in did::WINDOWS {
        rows.extend(did::rows(o, &windows, design, w));
    }
    let (its_rows, fit) = its::rows(&o.name, &panel, design);
    rows.extend(its_rows);
    let points = its::pooled_points(o, j, frame);
    (rows, EventSeries { outcome: o.name.clone(), label: o.label.clone(), points, fit, att })
}

/// `metrics/outcomes.csv`: full precision (shortest round-trip decimals).
pub fn outcomes_table(r: &OutcomeResults) -> crate::error::Result<DataFrame> {
    let rows = &r.rows;
    let float = |name: &str, g: &dyn Fn(&OutcomeRow) -> Option<f64>| floats(name, rows.iter().map(g));
    let int = |name: &str, g: &dyn Fn(&OutcomeRow) -> usize| ints(name, rows.iter().map(|x| Some(g(x) as i64)));
    let txt = |name: &str, g: &dyn Fn(&OutcomeRow) -> String| text(name, rows.iter().map(g));
    let cols = vec![
        txt("outcome", &|x| x.outcome.clone()),
        txt("model", &|x| x.model.as_str().to_string()),
        txt("term", &|x| x.term.as_str().to_string()),
        float("estimate", &|x| x.estimate),
        float("se", &|x| x.se),
        float("ci_low", &|x| x.ci.map(|c| c.0)),
        float("ci_high", &|x| x.ci.map(|c| c.1)),
        float("p", &|x| x.p),
        int("n_clinics", &|x| x.n_clinics),
        int("n_months", &|x| x.n_months),
        txt("note", &|x| x.note.clone()),
        float("df", &|x| x.df),
        txt("analysis_start", &|_| r.period.0.to_string()),
        txt("analysis_end", &|_| r.period.1.to_string()),
        txt("inference", &|x| x.inference.as_str().to_string()),
        int("n_obs", &|x| x.n_obs),
        ints("event_time", rows.iter().map(|x| x.event_time.map(i64::from))),
    ];
    frame("outcomes", cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::clinic_month::Cell;
    use crate::model::Clinic;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    fn design(starts: &[(usize, &str)], comparison: &[usize], clinics: usize) -> Design {
        Design {
            starts: starts.iter().map(|(c, s)| (*c, m(s))).collect(),
            comparison: comparison.to_vec(),
            clinics,
            boot: Boot { reps: 999, seed: 7 },
        }
    }

    /// Two intervention clinics (A starts 2023-03, base Feb, weight 100; B
    /// starts 2023-04, base Mar, weight 50) and two comparison clinics, Jan–May 2023.
    fn two_by_two() -> (Panel, Design) {
        let v = |xs: [Option<f64>; 5], w: f64| xs.iter().map(|x| x.map(|y| (y, w))).collect::<Vec<_>>();
        let panel = Panel::from_values(
            m("2023-01"),
            vec![
                v([Some(11.0), Some(10.0), Some(8.0), Some(7.0), None], 100.0),
                v([None, Some(21.0), Some(20.0), Some(17.0), Some(15.0)], 50.0),
                v([Some(29.0), Some(30.0), Some(31.0), Some(33.0), Some(34.0)], 80.0),
                v([Some(39.0), Some(40.0), Some(40.0), Some(41.0), Some(44.0)], 60.0),
            ],
        );
        (panel, design(&[(0, "2023-03"), (1, "2023-04")], &[2, 3], 4))
    }

    #[test]
    fn att_by_event_time_on_two_intervention_and_two_comparison_clinics() {
        // e = 0: A −2 (Feb→Mar), B −3 (Mar→Apr). Comparison over A's window
        // C +1, D 0; over B's C +2, D +1. ATT(A,0) = −2 − 0.5 = −2.5,
        // ATT(B,0) = −3 − 1.5 = −4.5; weighted by base denominators 100 and 50:
        // (−250 − 225) / 150 = −19/6.
        // e = 1: A −3, B −5; C +3, +3; D +1, +4: ATT(A,1) = −5, ATT(B,1) = −8.5:
        // (−500 − 425) / 150 = −37/6.
        // e = −2: A +1 (Feb→Jan), B +1 (Mar→Feb); C −1, −1; D −1, 0:
        // ATT(A,−2) = 2, ATT(B,−2) = 1.5: (200 + 75) / 150 = 11/6.
        let (panel, d) = two_by_two();
        let (rows, points) = event_study::rows("y", &panel, &d);
        let att = |e: i32| rows.iter().find(|r| r.term == Term::Att && r.event_time == Some(e)).unwrap();
        assert!(close(att(0).estimate.unwrap(), -19.0 / 6.0));
        assert!(close(att(1).estimate.unwrap(), -37.0 / 6.0));
        assert!(close(att(-2).estimate.unwrap(), 11.0 / 6.0));
        assert_eq!((att(0).n_clinics, att(0).inference), (4, Inference::Descriptive), "2 intervention clinics");
        assert_eq!(att(0).se, None);
        assert!(att(2).estimate.is_none() && att(2).note.starts_with("not estimable"), "no clinic at e = 2");
        assert!(rows.iter().filter(|r| r.term == Term::Att).count() == 35, "e = −12…23 without −1");
        let pre = rows.iter().find(|r| r.term == Term::PreTrend).unwrap();
        assert!(pre.note.starts_with("not estimable"), "every pre-period month is descriptive");
        assert!(points.contains(&(-1, 0.0, None)), "the base month is drawn at 0");
    }

    #[test]
    fn att_standard_errors_and_the_pre_trend_statistic_by_hand() {
        // e = −2: treated changes 1, 1 (residuals 0); comparison 100·(−1) + 50·(−1)
        // over 150 = −1 and (−100 + 0)/150 = −2/3: mean −5/6, residuals ∓1/6;
        // scores ±1/12: Σφ² = 1/72; CR1 factor 4/3 · 3/2 = 2: se = 1/6,
        // so the pre-trend statistic max |t| is (11/6)/(1/6) = 11.
        // e = 0: treated residuals 1/3, −2/3 → scores 2/9, −2/9; comparison
        // 4/3, 1/3 → residuals ±1/2 → scores ∓1/4: Σφ² = 8/81 + 1/8 = 145/648,
        // se = √(2 · 145/648) = √145 / 18.
        let (panel, d) = two_by_two();
        let test = |e: i32| {
            let (b, _) = two_group(&event_study::changes(&panel, &d.starts, &d.comparison, e)).unwrap();
            wild::test(&[b], &Hyp::coef(0, 1), 4)
        };
        assert!(close(test(-2).se, 1.0 / 6.0));
        assert!(close(event_study::max_abs_t(&[test(-2)]), 11.0));
        assert!(close(test(0).se, 145f64.sqrt() / 18.0));
    }

    /// `n_int` intervention clinics starting 2022-01 and `n_cmp` comparison
    /// clinics over 2020-01…2024-12, 100 LTOT patients a month; the ≥ 50
    /// share wobbles by clinic and month and drops by 3 points from the start.
    fn study(n_int: usize, n_cmp: usize) -> (Dataset, PrescribingMetrics) {
        let mut data = Dataset::default();
        for i in 0..n_int + n_cmp {
            let mut c = Clinic::comparison(&format!("C{i}"));
            if i < n_int {
                c.arm = Arm::Intervention;
                c.program_start = crate::dates::parse_date("2022-01-15");
            }
            data.clinics.push(c);
        }
        let months = m("2024-12").window(60);
        let mut cells = Vec::new();
        for i in 0..n_int + n_cmp {
            for (k, mo) in months.iter().enumerate() {
                let wobble = ((i * 7 + k * 3) % 5) as u32 + (i % 3) as u32;
                let drop = if i < n_int && mo.minus(m("2022-01")) >= 0 { 3 } else { 0 };
                cells.push(Cell { ltot_patients: 100, high_dose: vec![30 + wobble - drop, 10], ..Default::default() });
            }
        }
        (data, PrescribingMetrics::from_cells(months, cells, 0, &MetricsConfig::default().threshold_labels()))
    }

    fn inference(r: &OutcomeResults, model: Model, term: Term) -> Inference {
        let row = r.rows.iter().find(|x| x.outcome == "high_dose_50_pct" && x.model == model && x.term == term);
        row.unwrap().inference
    }

    #[test]
    fn rows_on_too_few_clinics_are_descriptive_at_the_thresholds() {
        let cfg = (MetricsConfig::default(), OutcomesConfig::default());
        let fit = |a, b| {
            let (data, pm) = study(a, b);
            compute(&data, &pm, &cfg.0, &cfg.1)
        };
        let r = fit(3, 2);
        assert_eq!(inference(&r, Model::EventStudy, Term::Year1), Inference::WildBootstrap, "3 + 2 clinics");
        assert_eq!(
            inference(&r, Model::Its, Term::LevelChange),
            Inference::WildBootstrap,
            "3 clinics before and after"
        );
        assert_eq!(inference(&r, Model::Did, Term::Did), Inference::Descriptive, "2 comparison clinics");
        let r = fit(2, 2);
        assert_eq!(inference(&r, Model::EventStudy, Term::Year1), Inference::Descriptive);
        assert_eq!(inference(&r, Model::Its, Term::LevelChange), Inference::Descriptive);
        let r = fit(3, 1);
        assert_eq!(inference(&r, Model::EventStudy, Term::Year1), Inference::Descriptive, "1 comparison clinic");
        let r = fit(4, 4);
        assert_eq!(inference(&r, Model::Did, Term::Did), Inference::WildBootstrap, "4 per arm");
        let r = fit(3, 4);
        assert_eq!(inference(&r, Model::Did, Term::Did), Inference::Descriptive, "3 intervention clinics");
        let r = fit(10, 10);
        assert_eq!(inference(&r, Model::EventStudy, Term::Year1), Inference::Cr1, "20 clinics");
        let y1 = r.rows.iter().find(|x| x.model == Model::EventStudy && x.term == Term::Year1).unwrap();
        assert!(close(y1.estimate.unwrap(), -3.0), "the 3-point drop: {:?}", y1.estimate);
        assert_eq!((y1.df, y1.n_clinics, y1.n_months), (Some(19.0), 20, 12));
    }

    #[test]
    fn the_fixed_effects_its_recovers_slopes_exactly_whatever_the_clinic_levels() {
        // y = α_c + 0.5·k − 3·post − 0.4·post·k with α_c = 10, 20, 35.
        let vals: Vec<Vec<Option<(f64, f64)>>> = [10.0, 20.0, 35.0]
            .iter()
            .map(|a| {
                (0..48)
                    .map(|i| {
                        let k = i as f64 - 24.0;
                        let post = if k >= 0.0 { 1.0 } else { 0.0 };
                        Some((a + 0.5 * k - 3.0 * post - 0.4 * post * k, 50.0))
                    })
                    .collect()
            })
            .collect();
        let panel = Panel::from_values(m("2021-01"), vals);
        let d = design(&[(0, "2023-01"), (1, "2023-01"), (2, "2023-01")], &[], 3);
        let (rows, fit) = its::rows("y", &panel, &d);
        let est: Vec<f64> = rows.iter().map(|r| r.estimate.unwrap()).collect();
        assert!(close(est[0], 0.5) && close(est[1], -3.0) && close(est[2], -0.4), "{est:?}");
        let f = fit.unwrap();
        assert!(close(f[0], (10.0 + 20.0 + 35.0) / 3.0), "level: the clinics' mean, {f:?}");
        assert_eq!(rows[0].inference, Inference::WildBootstrap);
    }

    #[test]
    fn year_1_year_2_and_placebo_differences_in_differences() {
        // Two intervention clinics starting 2023-01 and two comparison
        // clinics; the ≥ 50 share is 30% except intervention clinics in
        // program year 1 (28%) and year 2 (25%).
        let mut data = Dataset::default();
        for (id, start) in [("A", Some("2023-01-10")), ("B", Some("2023-01-20")), ("C", None), ("D", None)] {
            let mut c = Clinic::comparison(id);
            if let Some(s) = start {
                c.arm = Arm::Intervention;
                c.program_start = crate::dates::parse_date(s);
            }
            data.clinics.push(c);
        }
        let months = m("2024-12").window(48);
        let mut cells = Vec::new();
        for c in 0..4 {
            for mo in &months {
                let share = match (c < 2, mo.minus(m("2023-01"))) {
                    (true, 0..=11) => 28,
                    (true, 12..=23) => 25,
                    _ => 30,
                };
                cells.push(Cell { ltot_patients: 100, high_dose: vec![share, 10], ..Default::default() });
            }
        }
        let pm = PrescribingMetrics::from_cells(months, cells, 0, &MetricsConfig::default().threshold_labels());
        let r = compute(&data, &pm, &MetricsConfig::default(), &OutcomesConfig::default());
        let est = |model: Model| {
            let row =
                r.rows.iter().find(|x| x.outcome == "high_dose_50_pct" && x.model == model && x.term == Term::Did);
            row.unwrap().estimate.unwrap()
        };
        assert!(close(est(Model::Did), -2.0));
        assert!(close(est(Model::DidYear2), -5.0));
        assert!(close(est(Model::DidPlacebo), 0.0));
        assert_eq!(inference(&r, Model::Did, Term::Did), Inference::Descriptive, "2 clinics per arm");
        let y2 = r.rows.iter().find(|x| x.outcome == "high_dose_50_pct" && x.term == Term::Year2).unwrap();
        assert!(close(y2.estimate.unwrap(), -5.0), "event study, year 2");
    }

    #[test]
    fn analysis_start_is_the_first_month_after_the_warm_up_with_min_cell_ltot_patients() {
        let months = m("2021-06").window(6); // 2021-01 … 2021-06
        let cells: Vec<Cell> =
            [0, 5, 10, 11, 3, 20].iter().map(|n| Cell { ltot_patients: *n, ..Default::default() }).collect();
        let pm = PrescribingMetrics::from_cells(months, cells, 0, &MetricsConfig::default().threshold_labels());
        let mut cfg = OutcomesConfig { warmup_months: 1, ..Default::default() };
        assert_eq!(analysis_start(&cfg, 11, m("2021-01"), &pm), m("2021-04"), "11 exactly meets min_cell");
        assert_eq!(analysis_start(&cfg, 12, m("2021-01"), &pm), m("2021-06"));
        assert_eq!(analysis_start(&cfg, 50, m("2021-01"), &pm), m("2021-02"), "none qualifies: the warm-up's end");
        cfg.warmup_months = 4;
        assert_eq!(analysis_start(&cfg, 11, m("2021-01"), &pm), m("2021-06"), "2021-04 is inside the warm-up");
        cfg.analysis_start = Some(m("2021-02"));
        assert_eq!(analysis_start(&cfg, 11, m("2021-01"), &pm), m("2021-02"), "set explicitly");
    }
}
