//! Output tables of the prescribing measures: `clinic_month` (one row per
//! clinic × month) and `study_month` (per arm and month, pooled, with the
//! quartiles of clinic percentages).

use super::clinic_month::{layout, pct_expr, round1_columns, Cell, Layout};
use crate::config::MetricsConfig;
use crate::error::{Error, Result};
use crate::measures::{registry, Denominator, Direction, MeasureKey, Section};
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

/// Clinic ids in output order (sorted), with their index into the dataset.
pub fn clinic_order(data: &Dataset) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..data.clinics.len()).collect();
    idx.sort_by(|a, b| data.clinics[*a].id.cmp(&data.clinics[*b].id));
    idx
}

/// `metrics/study_month` as a polars lazy query over the clinic × month
/// frame: per arm (intervention first) and month, the clinics, pooled sums,
/// exact pooled `_pct`, LTOT-weighted mean MME, and the type-7 quartiles of
/// the clinics' unrounded percentages over clinics with a denominator.
pub fn study_month(cm: DataFrame, cfg: &MetricsConfig) -> Result<DataFrame> {
    let defs = registry(&cfg.threshold_labels());
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
    for item in layout(&defs) {
        let m = match item {
            Layout::Count(name) => {
                aggs.push(sum(name));
                names.push(name.into());
                continue;
            }
            Layout::Measure(m) => m,
        };
        let (n, d) = (format!("{}_n", m.stem), m.den.column());
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
        .and_then(|mut df| round1_columns(&mut df, &[]).map(|_| df))
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
