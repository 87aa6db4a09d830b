//! Output tables of the prescribing measures: `clinic_month` (one row per
//! clinic × month) and `study_month` (per arm and month, pooled, with the
//! quartiles of clinic percentages).

use super::prescribing::{Cell, PrescribingMetrics};
use super::table::{pct, Col, Table};
use crate::config::MetricsConfig;
use crate::error::{Error, Result};
use crate::measures::{registry, Denominator, Direction, MeasureKey, Section};
use crate::mme::round1;
use crate::model::{Arm, Dataset};
use polars::prelude::*;

/// A `(numerator, denominator)` measure of a cell, by its column stem: the
/// registry entry ([`crate::measures`]) with its counts bound to [`Cell`].
pub struct Measure {
    pub key: MeasureKey,
    /// Column stem: `high_dose_50`, `benzo_overlap`, ...
    pub stem: String,
    /// Label for reports.
    pub label: String,
    /// Short label for table headers.
    pub short: String,
    pub direction: Direction,
    pub section: Section,
    pub denominator: Denominator,
    pub num: Box<dyn Fn(&Cell) -> u32 + Send + Sync>,
    pub den: Box<dyn Fn(&Cell) -> u32 + Send + Sync>,
}

/// Every `_n`/`_pct` measure in SPEC column order.
pub fn all_measures(cfg: &MetricsConfig, i50: usize) -> Vec<Measure> {
    registry(&cfg.threshold_labels())
        .into_iter()
        .map(|d| {
            let (key, den) = (d.key, d.den);
            Measure {
                key,
                stem: d.stem,
                label: d.label,
                short: d.short,
                direction: d.direction,
                section: d.section,
                denominator: den,
                num: Box::new(move |c: &Cell| c.num(key)),
                den: Box::new(move |c: &Cell| c.den(den, i50)),
            }
        })
        .collect()
}

/// The section 3 measures (those before `bup_patients`).
pub fn measures(cfg: &MetricsConfig, i50: usize) -> Vec<Measure> {
    all_measures(cfg, i50).into_iter().filter(|m| m.section == Section::Core).collect()
}

/// A column group of the section 6.2 tail: a plain count or a measure.
enum Item {
    Count(&'static str, fn(&Cell) -> u32),
    Measure(MeasureKey),
}

/// The columns section 6.2 appends after `bup_patients`, in order.
fn v2_layout() -> Vec<Item> {
    use MeasureKey::*;
    vec![
        Item::Count("excluded_patients", |c| c.excluded_patients),
        Item::Measure(SedativeOverlap),
        Item::Count("at_risk_patients", |c| c.at_risk_patients),
        Item::Measure(NaloxoneAtRisk),
        Item::Count("new_starts", |c| c.new_starts),
        Item::Measure(NewStartShort),
        Item::Measure(NewStartLong),
        Item::Measure(NewStartErLa),
        Item::Measure(NewStartHighDose),
        Item::Count("new_starts_3mo_ago", |c| c.new_starts_3mo_ago),
        Item::Measure(LtotTransition),
    ]
}

/// Every column group after `mean_daily_mme`, in output order: the section 3
/// measures, `bup_patients`, then the section 6.2 tail.
fn layout(all: &[Measure]) -> Vec<Layout<'_>> {
    let mut v: Vec<Layout> = all.iter().filter(|m| m.section == Section::Core).map(Layout::Measure).collect();
    v.push(Layout::Count("bup_patients", |c| c.bup_patients));
    for it in v2_layout() {
        v.push(match it {
            Item::Count(n, f) => Layout::Count(n, f),
            Item::Measure(k) => Layout::Measure(all.iter().find(|m| m.key == k).expect("registered")),
        });
    }
    v
}

enum Layout<'a> {
    Count(&'static str, fn(&Cell) -> u32),
    Measure(&'a Measure),
}

/// Clinic ids in output order (sorted), with their index into the dataset.
pub fn clinic_order(data: &Dataset) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..data.clinics.len()).collect();
    idx.sort_by(|a, b| data.clinics[*a].id.cmp(&data.clinics[*b].id));
    idx
}

/// `metrics/clinic_month`: SPEC §4 columns in order.
pub fn clinic_month_table(data: &Dataset, pm: &PrescribingMetrics, cfg: &MetricsConfig) -> Table {
    let ms = all_measures(cfg, pm.i50);
    let order = clinic_order(data);
    let mut rows: Vec<(usize, usize)> = Vec::new();
    for &c in &order {
        for k in 0..pm.months.len() {
            rows.push((c, k));
        }
    }
    let cells: Vec<&Cell> = rows.iter().map(|&(c, k)| pm.cell(c, k)).collect();
    let int = |f: &dyn Fn(&Cell) -> u32| Col::Int(cells.iter().map(|c| Some(f(c) as i64)).collect());
    let mut t = Table::default();
    t.push("clinic_id", Col::Str(rows.iter().map(|&(c, _)| data.clinics[c].id.clone()).collect()));
    t.push("month", Col::Str(rows.iter().map(|&(_, k)| pm.months[k].to_string()).collect()));
    t.push("opioid_patients", int(&|c| c.opioid_patients));
    t.push("ltot_patients", int(&|c| c.ltot_patients));
    t.push("mean_daily_mme", Col::Float(cells.iter().map(|c| c.mean_daily_mme().map(round1)).collect()));
    for item in layout(&ms) {
        match item {
            Layout::Count(name, f) => t.push(name, int(&f)),
            Layout::Measure(m) => {
                t.push(format!("{}_n", m.stem), int(&*m.num));
                t.push(
                    format!("{}_pct", m.stem),
                    Col::Float(cells.iter().map(|c| pct((m.num)(c).into(), (m.den)(c).into())).collect()),
                );
            }
        }
    }
    t
}

/// The clinic × month frame the study-wide query reads: the clinic_month
/// table `t` (of [`clinic_month_table`]) with the clinic's arm and the
/// unrounded MME sum of its LTOT patients.
pub fn clinic_month_frame(data: &Dataset, pm: &PrescribingMetrics, mut t: Table) -> Result<DataFrame> {
    let order = clinic_order(data);
    let w = pm.months.len();
    let rows = || order.iter().flat_map(|&c| (0..w).map(move |k| (c, k)));
    t.push("arm", Col::Str(rows().map(|(c, _)| data.clinics[c].arm.as_str().to_string()).collect()));
    t.push("mme_sum", Col::Float(rows().map(|(c, k)| Some(pm.cell(c, k).mme_sum)).collect()));
    t.to_frame()
}

/// `100 × n ÷ d` rounded half away from zero to 1 decimal, exactly, as a
/// polars expression on integer columns; null when `d` is 0. The tenths are
/// ⌊(2000 n + d) ÷ 2d⌋: the float quotient truncated (polars' integer
/// `floor_div` needs a feature this build leaves out). It is exact while
/// counts stay below 2^24: a quotient that is not an integer is at least
/// 1 ÷ 2d away from one, far more than a double's rounding error.
fn pct_expr(n: Expr, d: Expr) -> Expr {
    let num = (lit(2000i64) * n + d.clone()).cast(DataType::Float64);
    let tenths = (num / (lit(2i64) * d.clone()).cast(DataType::Float64)).cast(DataType::Int64);
    when(d.gt(lit(0i64))).then(tenths.cast(DataType::Float64) / lit(10.0)).otherwise(lit(NULL).cast(DataType::Float64))
}

/// Round every float column to 1 decimal, half away from zero, after the
/// query (polars' `round` is half to even, and it turns `÷ 10` into `× 0.1`,
/// which is not exact: 428 × 0.1 = 42.800000000000004).
fn round1_columns(df: &mut DataFrame) -> PolarsResult<()> {
    let names: Vec<PlSmallStr> =
        df.columns().iter().filter(|c| c.dtype() == &DataType::Float64).map(|c| c.name().clone()).collect();
    for n in names {
        let v: Vec<Option<f64>> = df.column(n.as_str())?.f64()?.iter().map(|x| x.map(round1)).collect();
        df.with_column(Column::new(n, v))?;
    }
    Ok(())
}

/// `metrics/study_month` as a polars lazy query over the clinic × month
/// frame: per arm (intervention first) and month, the clinics, pooled sums,
/// exact pooled `_pct`, LTOT-weighted mean MME, and the type-7 quartiles of
/// the clinics' unrounded percentages over clinics with a denominator.
pub fn study_month(cm: DataFrame, cfg: &MetricsConfig) -> Result<DataFrame> {
    let ms = all_measures(cfg, 0);
    let sum = |c: &str| col(c).sum();
    let mut aggs = vec![len().cast(DataType::Int64).alias("clinics"), sum("opioid_patients"), sum("ltot_patients")];
    let ltot = col("ltot_patients").sum();
    aggs.push(
        when(ltot.clone().gt(lit(0i64)))
            .then(col("mme_sum").sum() / ltot.cast(DataType::Float64))
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("mean_daily_mme"),
    );
    let mut names = vec![
        "arm".to_string(),
        "month".into(),
        "clinics".into(),
        "opioid_patients".into(),
        "ltot_patients".into(),
        "mean_daily_mme".into(),
    ];
    for item in layout(&ms) {
        let m = match item {
            Layout::Count(name, _) => {
                aggs.push(sum(name));
                names.push(name.into());
                continue;
            }
            Layout::Measure(m) => m,
        };
        let (n, d) = (format!("{}_n", m.stem), m.denominator.column());
        aggs.push(sum(&n));
        aggs.push(pct_expr(col(n.as_str()).sum(), col(d).sum()).alias(format!("{}_pct", m.stem)));
        names.push(n.clone());
        names.push(format!("{}_pct", m.stem));
        let clinic_pct = when(col(d).gt(lit(0i64)))
            .then(lit(100.0) * col(n.as_str()).cast(DataType::Float64) / col(d).cast(DataType::Float64))
            .otherwise(lit(NULL).cast(DataType::Float64));
        for (suffix, q) in [("q1", 0.25), ("median", 0.5), ("q3", 0.75)] {
            let name = format!("{}_pct_{suffix}", m.stem);
            aggs.push(clinic_pct.clone().quantile(lit(q), QuantileMethod::Linear).alias(name.as_str()));
            names.push(name);
        }
    }
    let fail = |e: PolarsError| Error::Report { what: "study_month".into(), message: e.to_string() };
    let arm_order = when(col("arm").eq(lit(Arm::Intervention.as_str()))).then(lit(0i64)).otherwise(lit(1i64));
    cm.lazy()
        .with_column(arm_order.alias("arm_order"))
        .group_by_stable([col("arm_order"), col("arm"), col("month")])
        .agg(aggs)
        .sort(["arm_order", "month"], SortMultipleOptions::default().with_maintain_order(true))
        .select(names.iter().map(|n| col(n.as_str())).collect::<Vec<_>>())
        .collect()
        .and_then(|mut df| round1_columns(&mut df).map(|_| df))
        .map_err(fail)
}

/// Type-7 quantile (linear interpolation between order statistics) of sorted values.
pub fn quantile7(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Unrounded clinic percentage.
pub fn raw_pct(n: u32, d: u32) -> Option<f64> {
    (d > 0).then(|| 100.0 * n as f64 / d as f64)
}

/// Quartiles (q1, median, q3) of the clinics' unrounded percentages, over
/// clinics whose denominator is not 0.
pub fn quartiles(cells: &[&Cell], m: &Measure) -> [Option<f64>; 3] {
    let mut v: Vec<f64> = cells.iter().filter_map(|c| raw_pct((m.num)(c), (m.den)(c))).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    [quantile7(&v, 0.25), quantile7(&v, 0.5), quantile7(&v, 0.75)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles() {
        let v = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(quantile7(&v, 0.25), Some(17.5));
        assert_eq!(quantile7(&v, 0.5), Some(25.0));
        assert_eq!(quantile7(&v, 0.75), Some(32.5));
        assert_eq!(quantile7(&[5.0], 0.25), Some(5.0));
        assert_eq!(quantile7(&[], 0.5), None);
    }
}
