//! What the reports say about data quality, computed once per batch: the
//! validation issues as a polars frame, rejected rows counted by clinic,
//! table and rule, rows dated after the report month by clinic, each
//! clinic's used prescription and care-event rows, and every table's counts.

use crate::error::{Error, Result};
use crate::ingest::{Severity, Validated};
use polars::prelude::*;
use std::collections::HashMap;

/// Rejected rows of one clinic (the clinic_id as written), table and rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub clinic: String,
    pub table: String,
    pub rule: String,
    pub n: usize,
}

/// A table's row counts (as `data_quality/summary.json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCounts {
    pub table: &'static str,
    pub read: usize,
    pub used: usize,
    pub rejected: usize,
    pub after: usize,
}

/// The data-quality facts of a batch.
pub struct DataQuality {
    /// Sorted by clinic, table, rule; rows without a clinic_id under `(none)`.
    pub rejected: Vec<Rejected>,
    /// Rows dated after the report month, by clinic_id as written.
    pub after: HashMap<String, usize>,
    /// Used prescription and care-event rows by clinic index.
    pub used_rx: Vec<usize>,
    pub used_ev: Vec<usize>,
    pub tables: Vec<TableCounts>,
}

impl DataQuality {
    /// One clinic's rejected rows (by table and rule).
    pub fn rejected_of<'a>(&'a self, clinic: &'a str) -> impl Iterator<Item = &'a Rejected> + 'a {
        self.rejected.iter().filter(move |r| r.clinic == clinic)
    }
}

/// The issues as a frame: `clinic_id` (`(none)` when the row had none),
/// `table`, `rule`, `severity`.
pub fn issues_frame(v: &Validated) -> PolarsResult<DataFrame> {
    let is = &v.issues;
    df!(
        "clinic_id" => is.iter().map(|i| i.clinic_id.clone().unwrap_or_else(|| "(none)".into())).collect::<Vec<String>>(),
        "table" => is.iter().map(|i| i.table.as_str()).collect::<Vec<&str>>(),
        "rule" => is.iter().map(|i| i.rule.as_str()).collect::<Vec<&str>>(),
        "severity" => is.iter().map(|i| i.severity.as_str()).collect::<Vec<&str>>(),
    )
}

/// Rows per clinic index of a table's clinic column.
fn rows_per_clinic(clinics: Vec<u32>, n: usize) -> PolarsResult<Vec<usize>> {
    let df = df!("clinic" => clinics)?.lazy().group_by([col("clinic")]).agg([len().alias("n")]).collect()?;
    let mut out = vec![0; n];
    let (c, k) = (df.column("clinic")?.u32()?, df.column("n")?.u32()?);
    for (c, k) in c.iter().zip(k.iter()) {
        if let (Some(c), Some(k)) = (c, k) {
            out[c as usize] = k as usize;
        }
    }
    Ok(out)
}

/// The data-quality queries over the validated extracts.
pub fn compute(v: &Validated) -> Result<DataQuality> {
    let go = || -> PolarsResult<DataQuality> {
        let issues = issues_frame(v)?.lazy();
        let by = [col("clinic_id"), col("table"), col("rule")];
        let rej = issues
            .clone()
            .filter(col("severity").eq(lit(Severity::Error.as_str())))
            .group_by(by.clone())
            .agg([len().alias("n")])
            .sort_by_exprs(by, SortMultipleOptions::default())
            .collect()?;
        let text = |c: &str| -> PolarsResult<Vec<String>> {
            Ok(rej.column(c)?.str()?.iter().map(|s| s.unwrap_or("").to_string()).collect())
        };
        let (clinic, table, rule) = (text("clinic_id")?, text("table")?, text("rule")?);
        let n: Vec<usize> = rej.column("n")?.u32()?.into_no_null_iter().map(|k| k as usize).collect();
        let rejected = (0..rej.height())
            .map(|i| Rejected { clinic: clinic[i].clone(), table: table[i].clone(), rule: rule[i].clone(), n: n[i] })
            .collect();
        let info = issues
            .filter(col("severity").eq(lit(Severity::Info.as_str())))
            .group_by([col("clinic_id")])
            .agg([len().alias("n")])
            .collect()?;
        let ids = info.column("clinic_id")?.str()?;
        let k = info.column("n")?.u32()?;
        let after = ids.iter().zip(k.iter()).filter_map(|(c, k)| Some((c?.to_string(), k? as usize))).collect();
        let data = &v.data;
        let n_clinics = data.clinics.len();
        let used_rx = rows_per_clinic(data.prescriptions.iter().map(|r| r.clinic).collect(), n_clinics)?;
        let used_ev = rows_per_clinic(data.care_events.iter().map(|e| e.clinic).collect(), n_clinics)?;
        let tables = v
            .summary
            .tables
            .iter()
            .map(|(t, c)| TableCounts {
                table: t.as_str(),
                read: c.read,
                used: c.used,
                rejected: c.rejected,
                after: c.after_report_month,
            })
            .collect();
        Ok(DataQuality { rejected, after, used_rx, used_ev, tables })
    };
    go().map_err(|e| Error::Report { what: "data quality".into(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TableName;
    use crate::ingest::issues::{Action, Issue, Rule, Summary};
    use crate::model::{Clinic, Dataset};

    fn issue(clinic: Option<&str>, table: TableName, rule: Rule, severity: Severity) -> Issue {
        let action = if severity == Severity::Info { Action::AfterReportMonth } else { Action::Rejected };
        Issue {
            table,
            row: 1,
            column: "x".into(),
            value: String::new(),
            rule,
            severity,
            action,
            clinic_id: clinic.map(String::from),
        }
    }

    #[test]
    fn rejected_rows_are_counted_by_clinic_table_and_rule() {
        let data = Dataset { clinics: vec![Clinic::comparison("A"), Clinic::comparison("B")], ..Default::default() };
        let (rx, ev) = (TableName::Prescriptions, TableName::CareEvents);
        let issues = vec![
            issue(Some("B"), rx, Rule::MissingValue, Severity::Error),
            issue(Some("A"), rx, Rule::UnparseableDate, Severity::Error),
            issue(Some("B"), rx, Rule::MissingValue, Severity::Error),
            issue(None, ev, Rule::MissingValue, Severity::Error),
            issue(Some("A"), rx, Rule::UnparseableDate, Severity::Info),
        ];
        let v = Validated {
            data,
            issues,
            summary: Summary::default(),
            inputs: Vec::new(),
            rejected_by_month: Default::default(),
        };
        let q = compute(&v).unwrap();
        let got: Vec<(&str, &str, &str, usize)> =
            q.rejected.iter().map(|r| (r.clinic.as_str(), r.table.as_str(), r.rule.as_str(), r.n)).collect();
        assert_eq!(
            got,
            [
                ("(none)", "care_events", "missing_value", 1),
                ("A", "prescriptions", "unparseable_date", 1),
                ("B", "prescriptions", "missing_value", 2)
            ]
        );
        assert_eq!(q.after.get("A"), Some(&1), "the info row is not a rejection");
        assert_eq!(q.rejected_of("B").count(), 1);
        assert_eq!((q.used_rx.clone(), q.used_ev.clone()), (vec![0, 0], vec![0, 0]));
    }
}
