//! Output tables of the prescribing measures: `clinic_month` (one row per
//! clinic × month) and `study_month` (per arm and month, pooled, with the
//! quartiles of clinic percentages).

use super::clinic_month::{layout, pct_expr, round1_columns, Cell, Layout, PrescribingMetrics};
use crate::config::MetricsConfig;
use crate::error::{Error, Result};
use crate::measures::{registry, MeasureDef, Section};
use crate::model::{Arm, Dataset};
use polars::prelude::*;

/// A `(numerator, denominator)` measure of a cell: the registry entry
/// ([`crate::measures`], read through `Deref`) with its counts bound to
/// [`Cell`].
pub struct Measure {
    pub def: MeasureDef,
    pub num: Box<dyn Fn(&Cell) -> u32 + Send + Sync>,
    pub den: Box<dyn Fn(&Cell) -> u32 + Send + Sync>,
}

impl std::ops::Deref for Measure {
    type Target = MeasureDef;
    fn deref(&self) -> &MeasureDef {
        &self.def
    }
}

/// Every `_n`/`_pct` measure in SPEC column order.
pub fn all_measures(cfg: &MetricsConfig, i50: usize) -> Vec<Measure> {
    registry(&cfg.threshold_labels())
        .into_iter()
        .map(|def| {
            let (key, den) = (def.key, def.denominator);
            Measure { def, num: Box::new(move |c: &Cell| c.num(key)), den: Box::new(move |c: &Cell| c.den(den, i50)) }
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

/// The `study_month` file of its unrounded frame: every float rounded to 1
/// decimal, half away from zero.
pub fn rounded(mut df: DataFrame) -> Result<DataFrame> {
    round1_columns(&mut df, &[]).map_err(|e| Error::Report { what: "study_month".into(), message: e.to_string() })?;
    Ok(df)
}

/// `metrics/study_month` as a polars lazy query over the clinic × month
/// frame: per arm (intervention first) and month, the clinics, pooled sums,
/// exact pooled `_pct`, LTOT-weighted mean MME, and the type-7 quartiles of
/// the clinics' unrounded percentages over clinics with a denominator;
/// unrounded (the study report reads it so; [`rounded`] makes the file).
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

/// One arm's study_month rows over the window, read for the study report.
pub struct ArmMonths {
    pub arm: Arm,
    /// Clinics of the arm (the same every month).
    pub clinics: usize,
    pub ltot: Vec<u32>,
    /// Pooled mean daily MME (unrounded).
    pub mme: Vec<Option<f64>>,
    /// `[measure][month]`, registry order: the pooled share (exact, 1 decimal).
    pub pct: Vec<Vec<Option<f64>>>,
    /// `[measure][month]`: the clinics' q1, median, q3 (unrounded).
    pub quartiles: Vec<Vec<[Option<f64>; 3]>>,
    pub excluded: Vec<u32>,
    pub new_starts: Vec<u32>,
    pub at_risk: Vec<u32>,
}

/// The [`study_month`] frame read per arm (intervention first).
pub fn arm_months(sm: &DataFrame, cfg: &MetricsConfig) -> Result<Vec<ArmMonths>> {
    let fail = |e: PolarsError| Error::Report { what: "study_month".into(), message: e.to_string() };
    let defs = registry(&cfg.threshold_labels());
    let mut out = Vec::new();
    for arm in [Arm::Intervention, Arm::Comparison] {
        let df = sm.clone().lazy().filter(col("arm").eq(lit(arm.as_str()))).collect().map_err(fail)?;
        if df.height() == 0 {
            continue;
        }
        let f = |c: &str| -> PolarsResult<Vec<Option<f64>>> { Ok(df.column(c)?.f64()?.iter().collect()) };
        let u = |c: &str| -> PolarsResult<Vec<u32>> {
            Ok(df.column(c)?.i64()?.iter().map(|v| v.unwrap_or(0) as u32).collect())
        };
        let quart = |stem: &str| -> PolarsResult<Vec<[Option<f64>; 3]>> {
            let (a, b, c) =
                (f(&format!("{stem}_pct_q1"))?, f(&format!("{stem}_pct_median"))?, f(&format!("{stem}_pct_q3"))?);
            Ok((0..a.len()).map(|k| [a[k], b[k], c[k]]).collect())
        };
        let clinics = u("clinics").map_err(fail)?.first().copied().unwrap_or(0) as usize;
        out.push(ArmMonths {
            arm,
            clinics,
            ltot: u("ltot_patients").map_err(fail)?,
            mme: f("mean_daily_mme").map_err(fail)?,
            pct: defs.iter().map(|d| f(&d.pct_column())).collect::<PolarsResult<_>>().map_err(fail)?,
            quartiles: defs.iter().map(|d| quart(&d.stem)).collect::<PolarsResult<_>>().map_err(fail)?,
            excluded: u("excluded_patients").map_err(fail)?,
            new_starts: u("new_starts").map_err(fail)?,
            at_risk: u("at_risk_patients").map_err(fail)?,
        });
    }
    Ok(out)
}

/// Study-wide quartiles per measure and month of the window for the clinic
/// reports' comparators (SPEC §6.6): over clinics whose own denominator is
/// at least max(min_cell, 1), and only with `min_peer_clinics` of them.
pub struct Peers {
    /// `[measure][month] -> (q1, median, q3)` of unrounded percentages, registry order.
    pub pct: Vec<Vec<[Option<f64>; 3]>>,
    /// Mean daily MME per month (over clinics with enough LTOT patients).
    pub mme: Vec<[Option<f64>; 3]>,
}

/// [`Peers`] as a lazy query over the clinic × measure × month frame of the
/// window's counts ([`super::trends::measure_months`]): the clinics' values
/// with a large enough denominator, type-7 quartiles per measure and month.
pub fn peers(pm: &PrescribingMetrics, min_d: i64, min_peers: u32, cfg: &MetricsConfig) -> Result<Peers> {
    let fail = |e: PolarsError| Error::Report { what: "peers".into(), message: e.to_string() };
    let defs = registry(&cfg.threshold_labels());
    let value = when(col("measure").eq(lit(0u32)))
        .then(col("num") / col("d").cast(DataType::Float64))
        .otherwise(lit(100.0) * col("num") / col("d").cast(DataType::Float64));
    let enough = len().gt_eq(lit(min_peers.max(1)));
    let q = |p: f64, name: &str| {
        when(enough.clone())
            .then(col("value").quantile(lit(p), QuantileMethod::Linear))
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias(name)
    };
    let df = super::trends::measure_months(pm.counts.clone().lazy(), &defs)?
        .filter(col("d").gt_eq(lit(min_d)))
        .with_column(value.alias("value"))
        .group_by([col("measure"), col("month")])
        .agg([q(0.25, "q1"), q(0.5, "median"), q(0.75, "q3")])
        .collect()
        .map_err(fail)?;
    let w = pm.months.len();
    let mut all = vec![vec![[None; 3]; w]; defs.len() + 1];
    let (m, k) =
        (df.column("measure").and_then(|c| c.u32().cloned()), df.column("month").and_then(|c| c.u32().cloned()));
    let (m, k) = (m.map_err(fail)?, k.map_err(fail)?);
    let qs: Vec<Float64Chunked> = ["q1", "median", "q3"]
        .iter()
        .map(|c| df.column(c).and_then(|c| c.f64().cloned()))
        .collect::<PolarsResult<_>>()
        .map_err(fail)?;
    for i in 0..df.height() {
        if let (Some(m), Some(k)) = (m.get(i), k.get(i)) {
            all[m as usize][k as usize] = [qs[0].get(i), qs[1].get(i), qs[2].get(i)];
        }
    }
    let mme = all.remove(0);
    Ok(Peers { pct: all, mme })
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

    #[test]
    fn peers_count_clinics_with_enough_patients_and_need_min_peer_clinics() {
        // One month, three clinics: LTOT 10, 20, 5; ≥ 50 MME/day 1, 4, 5; MME sums 100, 400, 50.
        let cell =
            |ltot, hd, mme| Cell { ltot_patients: ltot, high_dose: vec![hd, 0], mme_sum: mme, ..Default::default() };
        let cells = vec![cell(10, 1, 100.0), cell(20, 4, 400.0), cell(5, 5, 50.0)];
        let cfg = MetricsConfig::default();
        let pm = PrescribingMetrics::from_cells(
            vec![crate::dates::Month::parse("2024-01").unwrap()],
            cells,
            0,
            &cfg.threshold_labels(),
        );
        // min_cell 10 leaves the third clinic out: 10 % and 20 %, means 10 and 20.
        let p = peers(&pm, 10, 2, &cfg).unwrap();
        assert_eq!(p.pct[0][0], [Some(12.5), Some(15.0), Some(17.5)]);
        assert_eq!(p.mme[0], [Some(12.5), Some(15.0), Some(17.5)]);
        // Three peer clinics needed, two qualify: no comparator.
        assert_eq!(peers(&pm, 10, 3, &cfg).unwrap().pct[0][0], [None; 3]);
        // With min_cell 1 all three count: 10, 20, 100 %.
        assert_eq!(peers(&pm, 1, 3, &cfg).unwrap().pct[0][0], [Some(15.0), Some(20.0), Some(60.0)]);
    }
}
