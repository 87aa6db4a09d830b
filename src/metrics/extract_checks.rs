//! Per-site extract checks over time (issue 19):
//! `data_quality/extract_checks.csv`. A broken extract is a bad *month*, not
//! a bad row: per clinic, table and month of the window, the rows and
//! distinct patients against the clinic's trailing 12-month median, the
//! share of rejected rows, and how recent the clinic's prescriptions are.
//! The monthly volumes, trailing medians and steady months are polars lazy
//! queries; the flags are decided per clinic-month from them.

use super::study::clinic_order;
use super::table::{floats, frame, ints, text};
use crate::config::{ChecksConfig, TableName};
use crate::dates::{Day, Month};
use crate::error::{Error, Result};
use crate::ingest::issues::Rule;
use crate::ingest::validate::RejectedByMonth;
use crate::model::Dataset;
use polars::prelude::*;
use rustc_hash::FxHashMap;

/// The tables whose volume is checked.
pub const TABLES: [TableName; 3] = [TableName::Prescriptions, TableName::CareEvents, TableName::Facilitation];

/// One flag of a clinic-month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Check {
    NoRows,
    Drop,
    Spike,
    RejectedShare,
    Late,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::NoRows => "no_rows",
            Check::Drop => "drop",
            Check::Spike => "spike",
            Check::RejectedShare => "rejected_share",
            Check::Late => "late",
        }
    }
}

/// One clinic × table × month.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractRow {
    pub clinic: usize,
    pub table: TableName,
    pub month: Month,
    pub rows: u32,
    /// Distinct patients (`None` for facilitation).
    pub patients: Option<u32>,
    pub rejected: u32,
    /// Median rows over the 12 months before (from the clinic's first row).
    pub median: Option<f64>,
    pub checks: Vec<Check>,
    /// The most frequent rule among the month's rejected rows.
    pub top_rule: Option<Rule>,
    /// The clinic's latest written_date up to the end of the report month.
    pub data_through: Option<Day>,
}

/// The valid rows of one table at the clinic grain: clinic index, month
/// (as months since the window's first month, negative before it), patient.
fn rows_frame(data: &Dataset, t: TableName, base: Month) -> PolarsResult<DataFrame> {
    // 32-bit columns (12 bytes a row; 5.8 M prescriptions): the keys become
    // 64-bit only after the group-by.
    let (mut clinic, mut month, mut patient) = (Vec::new(), Vec::new(), Vec::new());
    let mut add = |c: u32, d: Day, p: u32| {
        clinic.push(c);
        month.push(Month::of_day(d).minus(base));
        patient.push(p);
    };
    match t {
        TableName::Prescriptions => data.prescriptions.iter().for_each(|r| add(r.clinic, r.start, r.patient)),
        TableName::CareEvents => data.care_events.iter().for_each(|e| add(e.clinic, e.date, e.patient)),
        _ => data.facilitation.iter().for_each(|f| add(f.clinic, f.date, 0)),
    }
    DataFrame::new_infer_height(vec![
        Column::new("clinic".into(), clinic),
        Column::new("month".into(), month),
        Column::new("patient".into(), patient),
    ])
}

/// Monthly volume of one table as polars lazy queries: per clinic and month
/// from `from` to `to` (month offsets), the valid rows, distinct patients,
/// the median rows of the 12 months before (from the clinic's first row),
/// and whether each of the `steady` months before had rows.
fn volume(data: &Dataset, t: TableName, base: Month, from: i64, to: i64, steady: i64) -> PolarsResult<DataFrame> {
    // Collected once: without polars' common-subplan elimination (the `cse`
    // feature is off) every lazy branch below would group the table's rows
    // again (about 1.5 s at 1,000 clinics).
    let counts = rows_frame(data, t, base)?
        .lazy()
        .group_by([col("clinic"), col("month")])
        .agg([
            len().cast(DataType::Int64).alias("rows"),
            col("patient").n_unique().cast(DataType::Int64).alias("patients"),
        ])
        .with_columns([col("clinic").cast(DataType::Int64), col("month").cast(DataType::Int64)])
        .collect()?
        .lazy();
    let first = counts.clone().group_by([col("clinic")]).agg([col("month").min().alias("first")]);
    // Every clinic × month, so that a month without rows is a row of 0.
    let n = data.clinics.len() as i64;
    let (gc, gm): (Vec<i64>, Vec<i64>) = (0..n).flat_map(|c| (from - 12..=to).map(move |m| (c, m))).unzip();
    let grid = DataFrame::new_infer_height(vec![Column::new("clinic".into(), gc), Column::new("month".into(), gm)])?;
    let keys = || [col("clinic"), col("month")];
    let g = grid
        .lazy()
        .join(counts, keys(), keys(), JoinArgs::new(JoinType::Left))
        .with_columns([col("rows").fill_null(lit(0i64)), col("patients").fill_null(lit(0i64))])
        .join(first, [col("clinic")], [col("clinic")], JoinArgs::new(JoinType::Left))
        .collect()?
        .lazy();
    // Each month's rows shifted k = 1, 2, ... months later: the history of that later month.
    let lagged = |ks: std::ops::RangeInclusive<i64>| {
        let parts: Vec<LazyFrame> = ks
            .map(|k| {
                g.clone().select([
                    col("clinic"),
                    (col("month") + lit(k)).alias("month"),
                    col("rows").alias("lag_rows"),
                    col("month").gt_eq(col("first")).fill_null(lit(false)).alias("in_history"),
                ])
            })
            .collect();
        concat(parts, UnionArgs::default())
    };
    let median = lagged(1..=12)?
        .filter(col("in_history"))
        .group_by(keys())
        .agg([col("lag_rows").cast(DataType::Float64).median().alias("median_12mo")]);
    let prev = lagged(1..=steady)?.group_by(keys()).agg([col("lag_rows").min().gt(lit(0i64)).alias("steady")]);
    g.filter(col("month").gt_eq(lit(from)).and(col("month").lt_eq(lit(to))))
        .join(median, keys(), keys(), JoinArgs::new(JoinType::Left))
        .join(prev, keys(), keys(), JoinArgs::new(JoinType::Left))
        .collect()
}

/// One clinic-month of a volume frame.
struct Volume {
    rows: u32,
    patients: u32,
    median: Option<f64>,
    steady: bool,
}

/// The volume frame's rows by (clinic index, month offset).
fn volumes(df: &DataFrame) -> PolarsResult<FxHashMap<(usize, i64), Volume>> {
    let i = |n: &str| df.column(n).and_then(|c| c.i64().cloned());
    let (clinic, month, rows, patients) = (i("clinic")?, i("month")?, i("rows")?, i("patients")?);
    let median = df.column("median_12mo")?.f64()?.clone();
    let steady = df.column("steady")?.bool()?.clone();
    let mut out = FxHashMap::default();
    for k in 0..df.height() {
        out.insert(
            (clinic.get(k).unwrap_or(0) as usize, month.get(k).unwrap_or(0)),
            Volume {
                rows: rows.get(k).unwrap_or(0) as u32,
                patients: patients.get(k).unwrap_or(0) as u32,
                median: median.get(k),
                steady: steady.get(k).unwrap_or(false),
            },
        );
    }
    Ok(out)
}

/// Every clinic × checked table × month of `window`, clinics in output order.
pub fn compute(
    data: &Dataset,
    rejected: &RejectedByMonth,
    tables: &[TableName],
    window: &[Month],
    cfg: &ChecksConfig,
) -> Result<Vec<ExtractRow>> {
    let report = *window.last().expect("a window");
    let end = report.last_day();
    let mut latest: FxHashMap<usize, Day> = FxHashMap::default();
    for r in data.prescriptions.iter().filter(|r| r.start <= end) {
        let e = latest.entry(r.clinic as usize).or_insert(r.start);
        *e = (*e).max(r.start);
    }
    let base = window[0];
    let fail = |e: PolarsError| Error::Report { what: "extract checks".into(), message: e.to_string() };
    let mut out = Vec::new();
    for &t in tables {
        let df = volume(data, t, base, 0, report.minus(base) as i64, cfg.no_rows_months as i64).map_err(fail)?;
        let vol = volumes(&df).map_err(fail)?;
        for c in clinic_order(data) {
            for &m in window {
                let v = &vol[&(c, m.minus(base) as i64)];
                let rej = rejected.get(&(t, data.clinics[c].id.clone(), m));
                let n_rej = rej.map_or(0, |r| r.0 as u32);
                let through = latest.get(&c).copied();
                let late = t == TableName::Prescriptions
                    && m == report
                    && through.is_none_or(|d| d < end - cfg.late_days as Day);
                out.push(ExtractRow {
                    clinic: c,
                    table: t,
                    month: m,
                    rows: v.rows,
                    patients: (t != TableName::Facilitation).then_some(v.patients),
                    rejected: n_rej,
                    median: v.median,
                    checks: checks(v, n_rej, late, cfg),
                    top_rule: rej.and_then(|r| {
                        r.1.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.as_str().cmp(a.0.as_str()))).map(|(k, _)| *k)
                    }),
                    data_through: through,
                });
            }
        }
    }
    Ok(out)
}

/// The flags of one clinic-month.
fn checks(v: &Volume, rejected: u32, late: bool, cfg: &ChecksConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    if v.rows == 0 && v.steady {
        checks.push(Check::NoRows);
    } else if let Some(md) = v.median.filter(|md| *md >= cfg.min_median_rows as f64) {
        if (v.rows as f64) < cfg.drop_ratio * md {
            checks.push(Check::Drop);
        } else if v.rows as f64 > cfg.spike_ratio * md {
            checks.push(Check::Spike);
        }
    }
    if rejected > 0 && rejected as f64 > cfg.rejected_share * (v.rows + rejected) as f64 {
        checks.push(Check::RejectedShare);
    }
    if late {
        checks.push(Check::Late);
    }
    checks
}

/// The `check` column: the flags joined with `;`, or `ok`.
pub fn check_text(r: &ExtractRow) -> String {
    if r.checks.is_empty() {
        "ok".into()
    } else {
        r.checks.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(";")
    }
}

impl ExtractRow {
    /// The most frequent rejection rule's name, empty without rejections.
    pub fn top_rule_text(&self) -> &'static str {
        self.top_rule.map(Rule::as_str).unwrap_or("")
    }
}

/// The flagged rows of the report month.
pub fn flagged(rows: &[ExtractRow], report: Month) -> Vec<&ExtractRow> {
    rows.iter().filter(|r| r.month == report && !r.checks.is_empty()).collect()
}

/// `data_quality/extract_checks.csv`.
pub fn table(data: &Dataset, rows: &[ExtractRow]) -> Result<DataFrame> {
    let s = |name: &str, f: &dyn Fn(&ExtractRow) -> String| text(name, rows.iter().map(f));
    let i = |name: &str, f: &dyn Fn(&ExtractRow) -> Option<u32>| ints(name, rows.iter().map(|r| f(r).map(i64::from)));
    let cols = vec![
        s("clinic_id", &|r| data.clinics[r.clinic].id.clone()),
        s("table", &|r| r.table.as_str().to_string()),
        s("month", &|r| r.month.to_string()),
        i("rows", &|r| Some(r.rows)),
        i("patients", &|r| r.patients),
        i("rejected", &|r| Some(r.rejected)),
        floats("median_12mo", rows.iter().map(|r| r.median)),
        s("check", &check_text),
        s("top_rule", &|r| r.top_rule.map(Rule::as_str).unwrap_or("").to_string()),
        s("data_through", &|r| r.data_through.map(crate::dates::fmt_day).unwrap_or_default()),
    ];
    frame("extract_checks", cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::parse_date;
    use crate::model::{Clinic, Prescription};
    use crate::reference::DrugClass;

    fn rx(day: &str, patient: u32) -> Prescription {
        Prescription {
            clinic: 0,
            patient,
            prescriber: None,
            start: parse_date(day).unwrap(),
            days: 30,
            class: DrugClass::Opioid,
            drug: 0,
            daily_mme: 10.0,
            long_acting: false,
        }
    }

    /// 20 rows a month from 2023-01 to 2024-03, then `april` rows in April.
    fn data(april: u32, may: u32) -> Dataset {
        let mut d = Dataset { clinics: vec![Clinic::comparison("A")], ..Default::default() };
        for m in 0..15 {
            let month = Month::parse("2023-01").unwrap().plus(m);
            for k in 0..20 {
                d.prescriptions.push(rx(&crate::dates::fmt_day(month.first_day() + k % 28), k as u32));
            }
        }
        for (month, n) in [("2024-04", april), ("2024-05", may)] {
            for k in 0..n {
                d.prescriptions.push(rx(&format!("{month}-{:02}", 1 + k % 28), k));
            }
        }
        d
    }

    fn checks_of(d: &Dataset, rejected: &RejectedByMonth, month: &str) -> Vec<Check> {
        let window = Month::parse("2024-05").unwrap().window(3);
        let rows = compute(d, rejected, &[TableName::Prescriptions], &window, &ChecksConfig::default()).unwrap();
        rows.into_iter().find(|r| r.month.to_string() == month).unwrap().checks
    }

    #[test]
    fn drop_and_spike_at_half_and_twice_the_median() {
        let none = RejectedByMonth::default();
        // Median 20: 10 is not below half, 9 is; 40 is not above twice, 41 is.
        assert_eq!(checks_of(&data(10, 20), &none, "2024-04"), vec![]);
        assert_eq!(checks_of(&data(9, 20), &none, "2024-04"), vec![Check::Drop]);
        assert_eq!(checks_of(&data(40, 20), &none, "2024-04"), vec![]);
        assert_eq!(checks_of(&data(41, 20), &none, "2024-04"), vec![Check::Spike]);
    }

    #[test]
    fn no_rows_after_three_months_with_rows_and_late_data() {
        let none = RejectedByMonth::default();
        // No May rows after rows in Feb, Mar and Apr; the latest row (April 20) is 41 days before May 31.
        assert_eq!(checks_of(&data(20, 0), &none, "2024-05"), vec![Check::NoRows, Check::Late]);
        // 20 May rows dated May 1–20: the last is 11 days before the end: not late.
        assert_eq!(checks_of(&data(20, 20), &none, "2024-05"), vec![]);
    }

    #[test]
    fn rejected_share_above_five_percent_names_the_top_rule() {
        let mut rej = RejectedByMonth::default();
        // 20 valid + 1 rejected: 4.8%, fine; 20 + 2: 9.1%.
        rej.insert(
            (TableName::Prescriptions, "A".into(), Month::parse("2024-04").unwrap()),
            (1, [(Rule::UnknownDrug, 1)].into()),
        );
        assert_eq!(checks_of(&data(20, 20), &rej, "2024-04"), vec![]);
        rej.insert(
            (TableName::Prescriptions, "A".into(), Month::parse("2024-04").unwrap()),
            (2, [(Rule::UnknownDrug, 1), (Rule::DaysSupplyRange, 1)].into()),
        );
        assert_eq!(checks_of(&data(20, 20), &rej, "2024-04"), vec![Check::RejectedShare]);
        let window = Month::parse("2024-05").unwrap().window(3);
        let rows =
            compute(&data(20, 20), &rej, &[TableName::Prescriptions], &window, &ChecksConfig::default()).unwrap();
        assert_eq!(rows[1].top_rule, Some(Rule::DaysSupplyRange), "a tie goes to the first rule by name");
        assert_eq!(rows[1].median, Some(20.0));
    }
}
