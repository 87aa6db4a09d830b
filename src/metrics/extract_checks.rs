//! Per-site extract checks over time (issue 19):
//! `data_quality/extract_checks.csv`. A broken extract is a bad *month*, not
//! a bad row: per clinic, table and month of the window, the rows and
//! distinct patients against the clinic's trailing 12-month median, the
//! share of rejected rows, and how recent the clinic's prescriptions are.

use super::study::clinic_order;
use super::table::{Col, Table};
use crate::config::{ChecksConfig, TableName};
use crate::dates::{Day, Month};
use crate::ingest::validate::RejectedByMonth;
use crate::model::Dataset;
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
    pub top_rule: Option<&'static str>,
    /// The clinic's latest written_date up to the end of the report month.
    pub data_through: Option<Day>,
}

/// Valid rows per (clinic, month) of one table: (rows, patients).
fn volumes(data: &Dataset, t: TableName) -> FxHashMap<(usize, Month), (u32, Vec<u32>)> {
    let mut v: FxHashMap<(usize, Month), (u32, Vec<u32>)> = FxHashMap::default();
    let mut add = |c: u32, d: Day, p: Option<u32>| {
        let e = v.entry((c as usize, Month::of_day(d))).or_default();
        e.0 += 1;
        e.1.extend(p);
    };
    match t {
        TableName::Prescriptions => data.prescriptions.iter().for_each(|r| add(r.clinic, r.start, Some(r.patient))),
        TableName::CareEvents => data.care_events.iter().for_each(|e| add(e.clinic, e.date, Some(e.patient))),
        _ => data.facilitation.iter().for_each(|f| add(f.clinic, f.date, None)),
    }
    for e in v.values_mut() {
        e.1.sort_unstable();
        e.1.dedup();
    }
    v
}

/// Median of a non-empty list.
fn median(mut v: Vec<u32>) -> Option<f64> {
    v.sort_unstable();
    let n = v.len();
    (n > 0).then(|| if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0 })
}

/// Every clinic × checked table × month of `window`, clinics in output order.
pub fn compute(
    data: &Dataset,
    rejected: &RejectedByMonth,
    tables: &[TableName],
    window: &[Month],
    cfg: &ChecksConfig,
) -> Vec<ExtractRow> {
    let report = *window.last().expect("a window");
    let end = report.last_day();
    let mut latest: FxHashMap<usize, Day> = FxHashMap::default();
    for r in data.prescriptions.iter().filter(|r| r.start <= end) {
        let e = latest.entry(r.clinic as usize).or_insert(r.start);
        *e = (*e).max(r.start);
    }
    let mut out = Vec::new();
    for &t in tables {
        let vol = volumes(data, t);
        let first: FxHashMap<usize, Month> = vol.keys().fold(FxHashMap::default(), |mut f, &(c, m)| {
            let e = f.entry(c).or_insert(m);
            *e = (*e).min(m);
            f
        });
        for c in clinic_order(data) {
            let rows_in = |m: Month| vol.get(&(c, m)).map_or(0, |e| e.0);
            for &m in window {
                let (rows, patients) = vol.get(&(c, m)).map_or((0, 0), |e| (e.0, e.1.len() as u32));
                let history: Vec<u32> = (1..=12)
                    .map(|k| m.plus(-k))
                    .filter(|mm| first.get(&c).is_some_and(|f| mm >= f))
                    .map(rows_in)
                    .collect();
                let med = median(history);
                let rej = rejected.get(&(t, data.clinics[c].id.clone(), m));
                let n_rej = rej.map_or(0, |r| r.0 as u32);
                let top_rule =
                    rej.and_then(|r| r.1.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| *k));
                let mut checks = Vec::new();
                let before = cfg.no_rows_months as i32;
                let steady = (1..=before).all(|k| rows_in(m.plus(-k)) > 0);
                if rows == 0 && steady {
                    checks.push(Check::NoRows);
                } else if let Some(md) = med.filter(|md| *md >= cfg.min_median_rows as f64) {
                    if (rows as f64) < cfg.drop_ratio * md {
                        checks.push(Check::Drop);
                    } else if rows as f64 > cfg.spike_ratio * md {
                        checks.push(Check::Spike);
                    }
                }
                if n_rej > 0 && n_rej as f64 > cfg.rejected_share * (rows + n_rej) as f64 {
                    checks.push(Check::RejectedShare);
                }
                let through = latest.get(&c).copied();
                if t == TableName::Prescriptions
                    && m == report
                    && through.is_none_or(|d| d < end - cfg.late_days as Day)
                {
                    checks.push(Check::Late);
                }
                out.push(ExtractRow {
                    clinic: c,
                    table: t,
                    month: m,
                    rows,
                    patients: (t != TableName::Facilitation).then_some(patients),
                    rejected: n_rej,
                    median: med,
                    checks,
                    top_rule: top_rule.filter(|_| n_rej > 0),
                    data_through: through,
                });
            }
        }
    }
    out
}

/// The `check` column: the flags joined with `;`, or `ok`.
pub fn check_text(r: &ExtractRow) -> String {
    if r.checks.is_empty() {
        "ok".into()
    } else {
        r.checks.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(";")
    }
}

/// The flagged rows of the report month.
pub fn flagged(rows: &[ExtractRow], report: Month) -> Vec<&ExtractRow> {
    rows.iter().filter(|r| r.month == report && !r.checks.is_empty()).collect()
}

/// `data_quality/extract_checks.csv`.
pub fn table(data: &Dataset, rows: &[ExtractRow]) -> Table {
    let s = |f: &dyn Fn(&ExtractRow) -> String| Col::Str(rows.iter().map(f).collect());
    let i = |f: &dyn Fn(&ExtractRow) -> Option<u32>| Col::Int(rows.iter().map(|r| f(r).map(i64::from)).collect());
    let mut t = Table::default();
    t.push("clinic_id", s(&|r| data.clinics[r.clinic].id.clone()));
    t.push("table", s(&|r| r.table.as_str().to_string()));
    t.push("month", s(&|r| r.month.to_string()));
    t.push("rows", i(&|r| Some(r.rows)));
    t.push("patients", i(&|r| r.patients));
    t.push("rejected", i(&|r| Some(r.rejected)));
    t.push("median_12mo", Col::Float(rows.iter().map(|r| r.median).collect()));
    t.push("check", s(&check_text));
    t.push("top_rule", s(&|r| r.top_rule.unwrap_or("").to_string()));
    t.push("data_through", s(&|r| r.data_through.map(crate::dates::fmt_day).unwrap_or_default()));
    t
}

/// A sentence per flag of a clinic's report month, for people.
pub fn describe(r: &ExtractRow, month_name: &str) -> String {
    let what = match r.table {
        TableName::Prescriptions => "prescriptions",
        TableName::CareEvents => "care events",
        _ => "facilitation log entries",
    };
    let share = |m: f64| format!("{:.0}%", 100.0 * r.rows as f64 / m);
    let parts: Vec<String> = r
        .checks
        .iter()
        .map(|c| match c {
            Check::NoRows => format!("{month_name}'s {what} are missing: no rows, after rows in each month before"),
            Check::Drop => format!(
                "{month_name}'s {what} look incomplete ({} of the usual volume)",
                share(r.median.unwrap_or(1.0))
            ),
            Check::Spike => format!(
                "{month_name}'s {what} are unusually many ({} of the usual volume)",
                share(r.median.unwrap_or(1.0))
            ),
            Check::RejectedShare => {
                format!("many of {month_name}'s {what} were rejected ({})", r.top_rule.unwrap_or("").replace('_', " "))
            }
            Check::Late => format!(
                "the latest prescription is from {}",
                r.data_through.map(crate::dates::fmt_day).unwrap_or_else(|| "no date (none at all)".into())
            ),
        })
        .collect();
    format!("{}; these numbers may change.", capital(&parts.join("; ")))
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
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
        let rows = compute(d, rejected, &[TableName::Prescriptions], &window, &ChecksConfig::default());
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
            (1, [("unknown_drug", 1)].into()),
        );
        assert_eq!(checks_of(&data(20, 20), &rej, "2024-04"), vec![]);
        rej.insert(
            (TableName::Prescriptions, "A".into(), Month::parse("2024-04").unwrap()),
            (2, [("unknown_drug", 1), ("days_supply_range", 1)].into()),
        );
        assert_eq!(checks_of(&data(20, 20), &rej, "2024-04"), vec![Check::RejectedShare]);
        let window = Month::parse("2024-05").unwrap().window(3);
        let rows = compute(&data(20, 20), &rej, &[TableName::Prescriptions], &window, &ChecksConfig::default());
        assert_eq!(rows[1].top_rule, Some("days_supply_range"), "a tie goes to the first rule by name");
        assert_eq!(rows[1].median, Some(20.0));
    }
}
