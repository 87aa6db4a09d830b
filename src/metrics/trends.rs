//! Trends, achievable benchmarks and targets (SPEC §6.3):
//! `metrics/clinic_trends.csv` and `metrics/benchmarks.csv`.
//!
//! Both are polars lazy queries over the clinic_month counts of every
//! computed month (the reporting window and the months before it), turned
//! into one long clinic × measure × month frame ([`measure_months`]).
//! Everything is computed from unrounded values and rounded once on output;
//! percentages and their differences are exact (integer expressions).

use super::clinic_month::{pct_expr, round1_columns, PrescribingMetrics};
use super::table::{floats, frame, ints, text};
use crate::config::Config;
use crate::dates::Month;
use crate::error::{Error, Result};
use crate::measures::{registry, Direction, MeasureDef, MEAN_DAILY_MME};
use crate::model::{Arm, Dataset};
use polars::prelude::*;

/// Round half away from zero to `places` decimals (unrounded float inputs).
pub fn round_to(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    // `+ 0.0`: a value that rounds to zero prints as 0.0, never −0.0.
    (x * f).round() / f + 0.0
}

/// Wilson score interval of `x` successes in `n` at `z`.
pub fn wilson(x: u64, n: u64, z: f64) -> (f64, f64) {
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    (centre - half, centre + half)
}

/// Newcombe's hybrid score interval (method 10) for p1 − p2.
pub fn newcombe(a: (u64, u64), b: (u64, u64)) -> (f64, f64) {
    const Z: f64 = 1.959964;
    let (p1, p2) = (a.0 as f64 / a.1 as f64, b.0 as f64 / b.1 as f64);
    let (l1, u1) = wilson(a.0, a.1, Z);
    let (l2, u2) = wilson(b.0, b.1, Z);
    let d = p1 - p2;
    (d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(), d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt())
}

/// The signal of a change (SPEC §6.3 `signal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Improved,
    Worsened,
    Stable,
    TooFew,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Improved => "improved",
            Signal::Worsened => "worsened",
            Signal::Stable => "stable",
            Signal::TooFew => "too_few",
        }
    }
    /// Recent `a` against a year before `b` (counts, denominators); `min`
    /// is the smallest denominator that is read (max(min_cell, 1)).
    pub fn of(a: (u64, u64), b: (u64, u64), min: u64, dir: Direction) -> Signal {
        if a.1 < min || b.1 < min {
            return Signal::TooFew;
        }
        let (lo, hi) = newcombe(a, b);
        let up = if lo > 0.0 {
            true
        } else if hi < 0.0 {
            false
        } else {
            return Signal::Stable;
        };
        if up == (dir == Direction::Higher) {
            Signal::Improved
        } else {
            Signal::Worsened
        }
    }
}

/// A measure of the trend rows: `mean_daily_mme` (index 0) or a registry
/// measure (index 1 + its place in the registry).
struct TrendMeasure {
    name: String,
    direction: Direction,
}

fn trend_measures(defs: &[MeasureDef]) -> Vec<TrendMeasure> {
    let mut v = vec![TrendMeasure { name: MEAN_DAILY_MME.into(), direction: Direction::Lower }];
    v.extend(defs.iter().map(|d| TrendMeasure { name: d.pct_column(), direction: d.direction }));
    v
}

fn fail(what: &str) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Report { what: what.into(), message: e.to_string() }
}

/// The long frame the trend and benchmark queries read: one row per clinic ×
/// measure × computed month of the clinic_month counts, with `measure` (the
/// index of [`trend_measures`]), `higher` (its direction), `n` (null for
/// mean_daily_mme), `num` (n, or the LTOT patients' MME sum) and `d`.
pub fn measure_months(counts: LazyFrame, defs: &[MeasureDef]) -> Result<LazyFrame> {
    let keys = || [col("clinic"), col("clinic_id"), col("month")];
    let part = |j: u32, higher: bool, n: Expr, num: Expr, d: Expr| {
        let mut sel = keys().to_vec();
        sel.extend([
            lit(j).cast(DataType::UInt32).alias("measure"),
            lit(higher).alias("higher"),
            n.alias("n"),
            num.alias("num"),
            d.alias("d"),
        ]);
        counts.clone().select(sel)
    };
    let mut parts = vec![part(0, false, lit(NULL).cast(DataType::Int64), col("mme_sum"), col("ltot_patients"))];
    for (j, d) in defs.iter().enumerate() {
        let n = format!("{}_n", d.stem);
        let higher = d.direction == Direction::Higher;
        parts.push(part(
            j as u32 + 1,
            higher,
            col(n.as_str()),
            col(n.as_str()).cast(DataType::Float64),
            col(d.denominator.column()),
        ));
    }
    concat(parts, UnionArgs::default()).map_err(fail("trends"))
}

/// The achievable benchmark of care (Kiefe et al. 2001) of every `_pct`
/// measure in every month from month index `from`, as a lazy query over
/// [`measure_months`]: clinics with d ≥ `min_d` are ranked by their adjusted
/// performance fraction (good + 1) ÷ (d + 2), best first (good = n, or
/// d − n for a lower-is-better measure; ties by larger d, then clinic_id);
/// clinics are taken while the d summed before them is below a tenth of
/// the ranked clinics' Σd; the benchmark is 100 × Σn ÷ Σd of those taken,
/// exact, with at least `min_peers` ranked clinics. Columns: month, measure,
/// benchmark, clinics, d (empty, 0, 0 without a benchmark); only (month,
/// measure) pairs with a ranked clinic appear.
///
/// The fraction is compared as a double: two different fractions with
/// denominators below 2^26 differ by more than 2^−52, and equal fractions
/// round to the same double, so the order is the exact one.
pub fn benchmarks(mm: LazyFrame, from: u32, min_d: i64, min_peers: u32) -> PolarsResult<LazyFrame> {
    let by = [col("month"), col("measure")];
    let good = when(col("higher")).then(col("n")).otherwise(col("d") - col("n"));
    let apf = (good + lit(1i64)).cast(DataType::Float64) / (col("d") + lit(2i64)).cast(DataType::Float64);
    let order = SortMultipleOptions::default()
        .with_order_descending_multi([false, false, true, true, false])
        .with_maintain_order(true);
    let has = col("ranked").gt_eq(lit(min_peers));
    Ok(mm
        .filter(col("measure").gt(lit(0u32)).and(col("month").gt_eq(lit(from))).and(col("d").gt_eq(lit(min_d))))
        .with_column(apf.alias("apf"))
        .sort_by_exprs([col("month"), col("measure"), col("apf"), col("d"), col("clinic_id")], order)
        .with_columns([
            col("d").cum_sum(false).over(by.clone())?.alias("cum"),
            col("d").sum().over(by.clone())?.alias("total"),
            len().over(by.clone())?.alias("ranked"),
        ])
        .filter((lit(10i64) * (col("cum") - col("d"))).lt(col("total")))
        .group_by(by)
        .agg([col("n").sum(), col("d").sum(), len().cast(DataType::Int64).alias("clinics"), col("ranked").first()])
        .select([
            col("month"),
            col("measure"),
            when(has.clone())
                .then(pct_expr(col("n"), col("d")))
                .otherwise(lit(NULL).cast(DataType::Float64))
                .alias("benchmark"),
            when(has.clone()).then(col("clinics")).otherwise(lit(0i64)).alias("clinics"),
            when(has).then(col("d")).otherwise(lit(0i64)).alias("d"),
        ]))
}

/// The benchmark of every month from index `from` and `_pct` measure
/// (`month`, `measure` indices; empty, 0, 0 where none), ordered by month
/// then measure, rounded: [`benchmarks`] on the grid of months × measures.
fn benchmark_grid(mm: LazyFrame, from: u32, months: u32, measures: u32, cfg: &Config) -> PolarsResult<DataFrame> {
    let b = benchmarks(mm, from, cfg.min_cell.max(1) as i64, cfg.min_peer_clinics)?;
    let (month, measure): (Vec<u32>, Vec<u32>) =
        (from..months).flat_map(|k| (1..=measures).map(move |j| (k, j))).unzip();
    let args = JoinArgs { maintain_order: MaintainOrderJoin::Left, ..JoinArgs::new(JoinType::Left) };
    let by = [col("month"), col("measure")];
    let mut out = df!("month" => month, "measure" => measure)?
        .lazy()
        .join(b, by.clone(), by, args)
        .with_columns([col("clinics").fill_null(lit(0i64)), col("d").fill_null(lit(0i64))])
        .collect()?;
    round1_columns(&mut out, &[])?;
    Ok(out)
}

/// `metrics/benchmarks.csv` from [`benchmark_grid`]: the months and
/// measures by name.
fn benchmarks_table(grid: &DataFrame, pm: &PrescribingMetrics, ms: &[TrendMeasure]) -> PolarsResult<DataFrame> {
    let mut out = grid.clone();
    let text = |c: &str, f: &dyn Fn(u32) -> String| -> PolarsResult<Column> {
        Ok(Column::new(c.into(), out.column(c)?.u32()?.into_no_null_iter().map(f).collect::<Vec<String>>()))
    };
    let month = text("month", &|k| pm.months[k as usize].to_string())?;
    let measure = text("measure", &|j| ms[j as usize].name.clone())?;
    out.replace("month", month)?;
    out.replace("measure", measure)?;
    Ok(out)
}

/// One row of `clinic_trends.csv`, read from the [`clinic_trends`] query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrendRow {
    pub clinic: usize,
    pub measure: String,
    pub direction: Option<Direction>,
    pub n: Option<u64>,
    pub d: u64,
    pub value: Option<f64>,
    pub n_3mo: Option<u64>,
    pub d_3mo: u64,
    pub value_3mo: Option<f64>,
    pub value_3mo_prior_year: Option<f64>,
    pub change_12mo: Option<f64>,
    pub signal: Option<Signal>,
    pub slope_12mo: Option<f64>,
    pub baseline: Option<f64>,
    pub change_since_baseline: Option<f64>,
    pub benchmark: Option<f64>,
    pub target: Option<f64>,
    pub meets_target: Option<bool>,
    pub meets_benchmark: Option<bool>,
}

/// `100 n1 ÷ d1 − 100 n2 ÷ d2` rounded half away from zero to 1 decimal,
/// exactly, as an expression on integer columns; null when a d is 0. The
/// tenths are `1000 (n1 d2 − n2 d1) ÷ d1 d2` rounded as in
/// [`super::clinic_month::pct_expr`] (exact below 2^53); the ÷ 10 is left
/// to [`round1_columns`].
pub fn pct_diff_expr(n1: Expr, d1: Expr, n2: Expr, d2: Expr) -> Expr {
    let num = lit(1000i64) * (n1 * d2.clone() - n2 * d1.clone());
    let den = d1.clone() * d2.clone();
    let q = ((lit(2i64) * num.clone().abs() + den.clone()).cast(DataType::Float64)
        / (lit(2i64) * den).cast(DataType::Float64))
    .cast(DataType::Int64);
    let signed = when(num.lt(lit(0i64))).then(-q.clone()).otherwise(q);
    when(d1.gt(lit(0i64)).and(d2.gt(lit(0i64))))
        .then(signed.cast(DataType::Float64) / lit(10.0))
        .otherwise(lit(NULL).cast(DataType::Float64))
}

/// Rows with `rel` (months after the report month) in `lo..=hi`.
fn months_in(lo: Expr, hi: Expr) -> Expr {
    col("rel").gt_eq(lo).and(col("rel").lt_eq(hi))
}

/// The pooled sums of `n`, `num`, `d` over the rows where `w` holds, named
/// with `suffix`.
fn pooled(w: Expr, suffix: &str) -> [Expr; 3] {
    ["n", "num", "d"].map(|c| col(c).filter(w.clone()).sum().alias(format!("{c}{suffix}")))
}

/// The OLS slope of the monthly values over the 12 months ending at the
/// report month (months with a value; null with fewer than 6), x the month.
fn slope_agg() -> Expr {
    let pt = months_in(lit(-11i64), lit(0i64)).and(col("d").gt(lit(0i64)));
    let y = when(col("measure").eq(lit(0u32)))
        .then(col("num") / col("d").cast(DataType::Float64))
        .otherwise(lit(100.0) * col("num") / col("d").cast(DataType::Float64));
    let x = col("rel").cast(DataType::Float64).filter(pt.clone());
    let y = y.filter(pt.clone());
    let dx = x.clone() - x.mean();
    let dy = y.clone() - y.mean();
    when(pt.cast(DataType::Int64).sum().gt_eq(lit(6i64)))
        .then((dx.clone() * dy).sum() / (dx.clone() * dx).sum())
        .otherwise(lit(NULL).cast(DataType::Float64))
        .alias("slope_12mo")
}

/// A pooled value: the mean MME (measure 0) or the exact percentage.
fn value_of(suffix: &str) -> Expr {
    let (n, num, d) = (col(format!("n{suffix}")), col(format!("num{suffix}")), col(format!("d{suffix}")));
    when(col("measure").eq(lit(0u32)))
        .then(
            when(d.clone().gt(lit(0i64)))
                .then(num / d.clone().cast(DataType::Float64))
                .otherwise(lit(NULL).cast(DataType::Float64)),
        )
        .otherwise(pct_expr(n, d))
}

/// The difference of two pooled values: exact for percentages.
fn change_of(a: &str, b: &str) -> Expr {
    let c = |x: &str, s: &str| col(format!("{x}{s}"));
    when(col("measure").eq(lit(0u32))).then(value_of(a) - value_of(b)).otherwise(pct_diff_expr(
        c("n", a),
        c("d", a),
        c("n", b),
        c("d", b),
    ))
}

/// `clinic_trends` as a lazy query over [`measure_months`] (`report`: the
/// report month's index; `clinics`: `clinic` and `base_rel`, the last
/// baseline month relative to the report month, null for comparison
/// clinics): per clinic × measure, this month, the last 3 months, the same
/// 3 months a year before, the 12-month slope and the 12 months of
/// baseline, as pooled sums and unrounded or exact values.
pub fn clinic_trends(mm: LazyFrame, clinics: LazyFrame, report: u32) -> LazyFrame {
    let args = JoinArgs::new(JoinType::Left);
    let base = months_in(col("base_rel") - lit(11i64), col("base_rel"));
    let mut aggs: Vec<Expr> = vec![col("clinic_id").first(), col("higher").first(), col("base_rel").first()];
    aggs.extend(pooled(col("rel").eq(lit(0i64)), ""));
    aggs.extend(pooled(months_in(lit(-2i64), lit(0i64)), "_3mo"));
    aggs.extend(pooled(months_in(lit(-14i64), lit(-12i64)), "_prior"));
    aggs.extend(pooled(base, "_base"));
    aggs.push(slope_agg());
    let has_base = col("base_rel").is_not_null().and(col("d_base").gt(lit(0i64)));
    let null = || lit(NULL).cast(DataType::Float64);
    let mme = col("measure").eq(lit(0u32));
    mm.join(clinics, [col("clinic")], [col("clinic")], args)
        .with_column((col("month").cast(DataType::Int64) - lit(report as i64)).alias("rel"))
        .group_by([col("clinic"), col("measure")])
        .agg(aggs)
        .with_columns([
            value_of("").alias("value"),
            value_of("_3mo").alias("value_3mo"),
            value_of("_prior").alias("value_3mo_prior_year"),
            change_of("_3mo", "_prior").alias("change_12mo"),
            when(has_base.clone()).then(value_of("_base")).otherwise(null()).alias("baseline"),
            when(has_base).then(change_of("_3mo", "_base")).otherwise(null()).alias("change_since_baseline"),
            when(mme.clone()).then(lit(NULL).cast(DataType::Int64)).otherwise(col("n")).alias("n"),
            when(mme).then(lit(NULL).cast(DataType::Int64)).otherwise(col("n_3mo")).alias("n_3mo"),
        ])
        .sort_by_exprs([col("clinic_id"), col("measure")], SortMultipleOptions::default())
}

/// The clinics frame of [`clinic_trends`]: every clinic's last baseline
/// month (the month before the one containing program_start, intervention
/// clinics only) relative to the report month.
fn baselines(data: &Dataset, report: Month) -> PolarsResult<DataFrame> {
    let base: Vec<Option<i64>> = data
        .clinics
        .iter()
        .map(|c| {
            let start = c.program_start.filter(|_| c.arm == Arm::Intervention)?;
            Some(Month::of_day(start).plus(-1).minus(report) as i64)
        })
        .collect();
    df!("clinic" => (0..data.clinics.len() as u32).collect::<Vec<u32>>(), "base_rel" => base)
}

/// The goal of `measure` for clinic `c`: the targets table's row, else the pipeline's.
pub fn target_of(data: &Dataset, cfg: &Config, c: usize, measure: &str) -> Option<f64> {
    data.targets
        .iter()
        .find(|t| t.clinic as usize == c && t.measure == measure)
        .map(|t| t.target)
        .or_else(|| cfg.targets.iter().find(|(m, _)| m == measure).map(|(_, v)| *v))
}

/// What the trend queries produce: every clinic × measure trend row at the
/// report month (clinics in output order, measures `mean_daily_mme` first,
/// then in clinic_month column order), `metrics/clinic_trends.csv`'s frame
/// and `metrics/benchmarks.csv`'s (the last `w` computed months).
pub struct Trends {
    pub rows: Vec<TrendRow>,
    pub table: DataFrame,
    pub benchmarks: DataFrame,
}

/// Run the trend and benchmark queries over `pm` (every computed month):
/// the clinic × measure × month frame is built once and the benchmarks of
/// the window once; clinic_trends reads the report month's.
pub fn trends(data: &Dataset, pm: &PrescribingMetrics, w: usize, cfg: &Config) -> Result<Trends> {
    let defs = registry(&cfg.metrics.threshold_labels());
    let ms = trend_measures(&defs);
    let n = pm.months.len() as u32;
    let report = cfg.report_month.minus(pm.months[0]) as u32;
    let mm = measure_months(pm.counts.clone().lazy(), &defs)?.collect().map_err(fail("trends"))?;
    let from = n.saturating_sub(w as u32);
    let grid = benchmark_grid(mm.clone().lazy(), from, n, defs.len() as u32, cfg).map_err(fail("benchmarks"))?;
    let bench = grid.clone().lazy().filter(col("month").eq(lit(report))).select([col("measure"), col("benchmark")]);
    let clinics = baselines(data, cfg.report_month).map_err(fail("clinic_trends"))?;
    let args = JoinArgs { maintain_order: MaintainOrderJoin::Left, ..JoinArgs::new(JoinType::Left) };
    let df = clinic_trends(mm.lazy(), clinics.lazy(), report)
        .join(bench, [col("measure")], [col("measure")], args)
        .collect()
        .map_err(fail("clinic_trends"))?;
    let rows = finish(&df, data, cfg, &ms).map_err(fail("clinic_trends"))?;
    let table = trends_table(data, &rows)?;
    let benchmarks = benchmarks_table(&grid, pm, &ms).map_err(fail("benchmarks"))?;
    Ok(Trends { rows, table, benchmarks })
}

/// The query's rows with the output rounding (values, changes and baselines
/// to 1 decimal, the slope to 2, half away from zero), the signal, the
/// target and the meets columns.
fn finish(df: &DataFrame, data: &Dataset, cfg: &Config, ms: &[TrendMeasure]) -> PolarsResult<Vec<TrendRow>> {
    let u = |c: &str| -> PolarsResult<Vec<Option<u64>>> {
        Ok(df.column(c)?.cast(&DataType::Int64)?.i64()?.iter().map(|v| v.map(|x| x as u64)).collect())
    };
    let f = |c: &str, places: i32| -> PolarsResult<Vec<Option<f64>>> {
        Ok(df.column(c)?.f64()?.iter().map(|v| v.map(|x| round_to(x, places))).collect())
    };
    let (clinic, measure) = (u("clinic")?, u("measure")?);
    let (n, d, n3, d3, np, dp) = (u("n")?, u("d")?, u("n_3mo")?, u("d_3mo")?, u("n_prior")?, u("d_prior")?);
    let (value, v3, vp, ch) = (f("value", 1)?, f("value_3mo", 1)?, f("value_3mo_prior_year", 1)?, f("change_12mo", 1)?);
    let (slope, base, chb, bench) =
        (f("slope_12mo", 2)?, f("baseline", 1)?, f("change_since_baseline", 1)?, f("benchmark", 1)?);
    let min = cfg.min_cell.max(1) as u64;
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let (c, m) = (clinic[i].unwrap_or(0) as usize, &ms[measure[i].unwrap_or(0) as usize]);
        let pct = measure[i] != Some(0);
        let (a, b) = ((n3[i].unwrap_or(0), d3[i].unwrap_or(0)), (np[i].unwrap_or(0), dp[i].unwrap_or(0)));
        let target = target_of(data, cfg, c, &m.name);
        let benchmark = bench[i].filter(|_| pct);
        rows.push(TrendRow {
            clinic: c,
            measure: m.name.clone(),
            direction: Some(m.direction),
            n: n[i],
            d: d[i].unwrap_or(0),
            value: value[i],
            n_3mo: n3[i],
            d_3mo: d3[i].unwrap_or(0),
            value_3mo: v3[i],
            value_3mo_prior_year: vp[i],
            change_12mo: ch[i],
            signal: pct.then(|| Signal::of(a, b, min, m.direction)),
            slope_12mo: slope[i],
            baseline: base[i],
            change_since_baseline: chb[i],
            benchmark,
            target,
            meets_target: value[i].zip(target).map(|(v, t)| m.direction.meets(v, t)),
            meets_benchmark: value[i].zip(benchmark).map(|(v, b)| m.direction.meets(v, b)),
        });
    }
    Ok(rows)
}

/// `metrics/clinic_trends.csv`.
fn trends_table(data: &Dataset, rows: &[TrendRow]) -> Result<DataFrame> {
    let s = |name: &str, f: &dyn Fn(&TrendRow) -> String| text(name, rows.iter().map(f));
    let i = |name: &str, f: &dyn Fn(&TrendRow) -> Option<u64>| ints(name, rows.iter().map(|r| f(r).map(|x| x as i64)));
    let x = |name: &str, f: &dyn Fn(&TrendRow) -> Option<f64>| floats(name, rows.iter().map(f));
    let b = |v: Option<bool>| v.map(|b| b.to_string()).unwrap_or_default();
    let cols = vec![
        s("clinic_id", &|r| data.clinics[r.clinic].id.clone()),
        s("measure", &|r| r.measure.clone()),
        s("direction", &|r| r.direction.map(|d| d.as_str().to_string()).unwrap_or_default()),
        i("n", &|r| r.n),
        i("d", &|r| Some(r.d)),
        x("value", &|r| r.value),
        i("n_3mo", &|r| r.n_3mo),
        i("d_3mo", &|r| Some(r.d_3mo)),
        x("value_3mo", &|r| r.value_3mo),
        x("value_3mo_prior_year", &|r| r.value_3mo_prior_year),
        x("change_12mo", &|r| r.change_12mo),
        s("signal", &|r| r.signal.map(|g| g.as_str().to_string()).unwrap_or_default()),
        x("slope_12mo", &|r| r.slope_12mo),
        x("baseline", &|r| r.baseline),
        x("change_since_baseline", &|r| r.change_since_baseline),
        x("benchmark", &|r| r.benchmark),
        x("target", &|r| r.target),
        s("meets_target", &|r| b(r.meets_target)),
        s("meets_benchmark", &|r| b(r.meets_benchmark)),
    ];
    frame("clinic_trends", cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(df: &DataFrame, c: &str) -> Vec<Option<f64>> {
        df.column(c).unwrap().f64().unwrap().iter().map(|v| v.map(|x| round_to(x, 2))).collect()
    }
    fn i64s(df: &DataFrame, c: &str) -> Vec<Option<i64>> {
        df.column(c).unwrap().cast(&DataType::Int64).unwrap().i64().unwrap().iter().collect()
    }

    #[test]
    fn exact_percentage_differences_round_half_away_from_zero() {
        // 1/16 − 1/8 = −6.25 points → −6.3 (away from zero); 1/8 − 1/16 → 6.3;
        // 1/3 − 1/3 = 0; a zero denominator gives null.
        let df =
            df!("n1" => [1i64, 1, 1, 1], "d1" => [16i64, 8, 3, 3], "n2" => [1i64, 1, 1, 0], "d2" => [8i64, 16, 3, 0])
                .unwrap()
                .lazy()
                .select([pct_diff_expr(col("n1"), col("d1"), col("n2"), col("d2")).alias("x")])
                .collect()
                .unwrap();
        assert_eq!(f64s(&df, "x"), [Some(-6.3), Some(6.3), Some(0.0), None]);
        assert_eq!(round_to(-0.125, 2), -0.13);
        assert!(round_to(-0.004, 2).is_sign_positive(), "no −0.0");
    }

    #[test]
    fn wilson_and_newcombe_match_newcombes_worked_example() {
        // Newcombe (1998), example (a): 56/70 vs 48/80: interval 0.0524 to 0.3339.
        let (lo, hi) = newcombe((56, 70), (48, 80));
        assert!((lo - 0.0524).abs() < 5e-5, "{lo}");
        assert!((hi - 0.3339).abs() < 5e-5, "{hi}");
        // The other examples of Newcombe (1998), Table II, method 10.
        for (a, b, want) in [
            ((9, 10), (3, 10), (0.1705, 0.8090)),
            ((6, 7), (2, 7), (0.0582, 0.8062)),
            ((5, 56), (0, 29), (-0.0381, 0.1926)),
            ((0, 10), (0, 20), (-0.1611, 0.2775)),
            ((10, 10), (0, 20), (0.6791, 1.0000)),
        ] {
            let (lo, hi) = newcombe(a, b);
            assert!((lo - want.0).abs() < 5e-5 && (hi - want.1).abs() < 5e-5, "{a:?} vs {b:?}: {lo} to {hi}");
        }
        // Wilson for 0/10: (0, 0.2775).
        let (l, u) = wilson(0, 10, 1.959964);
        assert!(l.abs() < 1e-12 && (u - 0.2775).abs() < 5e-5, "{l} {u}");
    }

    #[test]
    fn signal_follows_direction_and_min_cell() {
        let (a, b) = ((56, 70), (48, 80));
        assert_eq!(Signal::of(a, b, 11, Direction::Higher), Signal::Improved);
        assert_eq!(Signal::of(a, b, 11, Direction::Lower), Signal::Worsened);
        assert_eq!(Signal::of(b, a, 11, Direction::Lower), Signal::Improved);
        assert_eq!(Signal::of((5, 10), (5, 10), 1, Direction::Higher), Signal::Stable);
        assert_eq!(Signal::of((5, 10), (50, 100), 11, Direction::Higher), Signal::TooFew);
        assert_eq!(Signal::of((5, 11), (50, 100), 11, Direction::Higher), Signal::Stable);
    }

    /// A [`measure_months`] frame of one month and measure 1 for clinics `(id, n, d)`.
    fn one_month(cells: &[(&str, i64, i64)], higher: bool) -> LazyFrame {
        let ids: Vec<&str> = cells.iter().map(|c| c.0).collect();
        let k = cells.len();
        df!(
            "clinic" => (0..k as u32).collect::<Vec<u32>>(),
            "clinic_id" => ids,
            "month" => vec![0u32; k],
            "measure" => vec![1u32; k],
            "higher" => vec![higher; k],
            "n" => cells.iter().map(|c| c.1).collect::<Vec<i64>>(),
            "num" => cells.iter().map(|c| c.1 as f64).collect::<Vec<f64>>(),
            "d" => cells.iter().map(|c| c.2).collect::<Vec<i64>>(),
        )
        .unwrap()
        .lazy()
    }

    /// (benchmark, clinics, d) of [`benchmarks`] on one month; `None` without a row.
    fn bench(cells: &[(&str, i64, i64)], higher: bool, min_d: i64, peers: u32) -> (Option<f64>, i64, i64) {
        let df = benchmarks(one_month(cells, higher), 0, min_d, peers).unwrap().collect().unwrap();
        let b = f64s(&df, "benchmark").first().copied().flatten().map(|x| round_to(x, 1));
        (b, i64s(&df, "clinics")[0].unwrap(), i64s(&df, "d")[0].unwrap())
    }

    #[test]
    fn benchmark_takes_the_best_clinics_up_to_a_tenth_of_patients() {
        // APF (n + 1) ÷ (d + 2): A 10/10 → 11/12 = .917; B 45/50 → 46/52 = .885;
        // C 30/100 → .304; D 20/100 → .206; E 10/40 → .262.
        let cells = [("A", 10, 10), ("B", 45, 50), ("C", 30, 100), ("D", 20, 100), ("E", 10, 40)];
        // Σd = 300; a tenth is 30: A (Σd before it 0) then B (10 < 30), not C (60):
        // 55/60 = 91.67 → 91.7.
        assert_eq!(bench(&cells, true, 1, 5), (Some(91.7), 2, 60));
        // Six peers are needed and there are five: no benchmark, 0, 0.
        assert_eq!(bench(&cells, true, 1, 6), (None, 0, 0));
        // Below min_cell a clinic is not ranked: A (d 10) drops out at 11; Σd 290,
        // a tenth 29: B alone (50).
        assert_eq!(bench(&cells, true, 11, 4), (Some(90.0), 1, 50));
        // Lower is better: rank on d − n: D (80 of 100 → 81/102 = .794) first, then
        // C (70 → 71/102 = .696); D alone has 100 ≥ 29: the benchmark is D's own
        // 20/100 = 20.0 (100 × Σn ÷ Σd of the clinics taken, SPEC §6.7 item 10).
        assert_eq!(bench(&cells, false, 11, 4), (Some(20.0), 1, 100));
    }

    #[test]
    fn benchmark_ties_go_to_the_larger_clinic_then_the_id() {
        // APF: B 4/10, A 4/10, C 10/20 = .5 → C first: its d 18 reaches a tenth of 34: 9/18 = 50.0.
        let cells = [("B", 3, 8), ("A", 3, 8), ("C", 9, 18)];
        assert_eq!(bench(&cells, true, 1, 1), (Some(50.0), 1, 18));
        // With equal APF and d the two clinics have equal n, so the id (the last
        // key) cannot change the benchmark; the order by APF can:
        // B 5/10 = .5 against A 6/10 = .6: A first, 5/8 = 62.5.
        let tie = [("B", 4, 8), ("A", 5, 8)];
        assert_eq!(bench(&tie, true, 1, 1), (Some(62.5), 1, 8));
    }

    /// One clinic's measure-1 series: months 0..=14 with (n, d) per month,
    /// report month 14, the baseline ending at `base_rel`.
    fn series(nd: &[(i64, i64)], base_rel: Option<i64>) -> DataFrame {
        let k = nd.len();
        let mm = df!(
            "clinic" => vec![0u32; k],
            "clinic_id" => vec!["A"; k],
            "month" => (0..k as u32).collect::<Vec<u32>>(),
            "measure" => vec![1u32; k],
            "higher" => vec![true; k],
            "n" => nd.iter().map(|c| c.0).collect::<Vec<i64>>(),
            "num" => nd.iter().map(|c| c.0 as f64).collect::<Vec<f64>>(),
            "d" => nd.iter().map(|c| c.1).collect::<Vec<i64>>(),
        )
        .unwrap();
        let clinics = df!("clinic" => [0u32], "base_rel" => [base_rel]).unwrap();
        clinic_trends(mm.lazy(), clinics.lazy(), k as u32 - 1).collect().unwrap()
    }

    #[test]
    fn three_month_values_a_year_before_and_the_baseline_are_pooled() {
        // 15 months, report month 14. Months 0–2 (a year before months 12–14):
        // 1/10 each; months 3–11: 5/10; months 12–14: 2/10, 3/10, 4/10.
        let mut nd = vec![(1, 10); 3];
        nd.extend(vec![(5, 10); 9]);
        nd.extend([(2, 10), (3, 10), (4, 10)]);
        // Baseline: the 12 months ending at month 11 (rel −3): months 0–11, 3 + 45 of 120.
        let df = series(&nd, Some(-3));
        assert_eq!((i64s(&df, "n")[0], i64s(&df, "d")[0]), (Some(4), Some(10)));
        assert_eq!((i64s(&df, "n_3mo")[0], i64s(&df, "d_3mo")[0]), (Some(9), Some(30)));
        assert_eq!(f64s(&df, "value_3mo"), [Some(30.0)]);
        assert_eq!(f64s(&df, "value_3mo_prior_year"), [Some(10.0)], "3/30");
        assert_eq!(f64s(&df, "change_12mo"), [Some(20.0)]);
        assert_eq!(f64s(&df, "baseline"), [Some(40.0)], "48/120");
        assert_eq!(f64s(&df, "change_since_baseline"), [Some(-10.0)]);
        // No baseline for a comparison clinic.
        assert_eq!(f64s(&series(&nd, None), "baseline"), [None]);
    }

    #[test]
    fn slope_needs_six_months_with_a_value_and_keeps_the_calendar_month() {
        // Months 9–14 (rel −5…0) at 10, 12, 14, 16, 18, 20 %: slope 2 points a month.
        let mut nd = vec![(0, 0); 9];
        nd.extend([(1, 10), (6, 50), (7, 50), (8, 50), (9, 50), (2, 10)]);
        assert_eq!(f64s(&series(&nd, None), "slope_12mo"), [Some(2.0)]);
        // Five months with a value: no slope.
        nd[9] = (0, 0);
        assert_eq!(f64s(&series(&nd, None), "slope_12mo"), [None]);
        // A month without a value is left out, not closed up: values 0, 1, 2, _, 4, 5, 6
        // at rel −6…0 lie on a line of slope 1.
        let mut nd = vec![(0, 0); 8];
        nd.extend([(0, 100), (1, 100), (2, 100), (0, 0), (4, 100), (5, 100), (6, 100)]);
        assert_eq!(f64s(&series(&nd, None), "slope_12mo"), [Some(1.0)]);
    }
}
