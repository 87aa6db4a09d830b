//! Data-quality issues (`data_quality/issues.csv`, SPEC §4–5) and the
//! validation summary kept for the manifest and the reports.

use crate::config::TableName;
use serde::Serialize;
use std::collections::BTreeMap;

/// Severity of an issue row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A rule of `issues.csv` (SPEC §5, §6.1, §6.7), with its one string form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    MissingValue,
    UnparseableDate,
    UnparseableNumber,
    DaysSupplyRange,
    QuantityNotPositive,
    StrengthNotPositive,
    UnknownDrug,
    UnknownRoute,
    UnknownStrengthUnit,
    NoMmeFactor,
    UnknownEventType,
    UnknownActivity,
    UnknownArm,
    UnknownRurality,
    BlockRange,
    HoursRange,
    UnknownClinic,
    DuplicateRxId,
    DuplicateClinicId,
    MissingProgramStart,
    ProgramStartForComparison,
    AfterReportMonth,
    UnknownRelease,
    UnknownExclusionReason,
    EndBeforeStart,
    UnknownMeasure,
    TargetRange,
    DuplicateTarget,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::MissingValue => "missing_value",
            Rule::UnparseableDate => "unparseable_date",
            Rule::UnparseableNumber => "unparseable_number",
            Rule::DaysSupplyRange => "days_supply_range",
            Rule::QuantityNotPositive => "quantity_not_positive",
            Rule::StrengthNotPositive => "strength_not_positive",
            Rule::UnknownDrug => "unknown_drug",
            Rule::UnknownRoute => "unknown_route",
            Rule::UnknownStrengthUnit => "unknown_strength_unit",
            Rule::NoMmeFactor => "no_mme_factor",
            Rule::UnknownEventType => "unknown_event_type",
            Rule::UnknownActivity => "unknown_activity",
            Rule::UnknownArm => "unknown_arm",
            Rule::UnknownRurality => "unknown_rurality",
            Rule::BlockRange => "block_range",
            Rule::HoursRange => "hours_range",
            Rule::UnknownClinic => "unknown_clinic",
            Rule::DuplicateRxId => "duplicate_rx_id",
            Rule::DuplicateClinicId => "duplicate_clinic_id",
            Rule::MissingProgramStart => "missing_program_start",
            Rule::ProgramStartForComparison => "program_start_for_comparison",
            Rule::AfterReportMonth => "after_report_month",
            Rule::UnknownRelease => "unknown_release",
            Rule::UnknownExclusionReason => "unknown_exclusion_reason",
            Rule::EndBeforeStart => "end_before_start",
            Rule::UnknownMeasure => "unknown_measure",
            Rule::TargetRange => "target_range",
            Rule::DuplicateTarget => "duplicate_target",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to a flagged row (`issues.csv` `action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Rejected,
    AfterReportMonth,
    ValueIgnored,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Rejected => "rejected",
            Action::AfterReportMonth => "after_report_month",
            Action::ValueIgnored => "value_ignored",
        }
    }
}

/// One line of `issues.csv`: one problem found in one input row.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    pub table: TableName,
    /// 1-based position among data rows.
    pub row: usize,
    pub column: String,
    pub value: String,
    pub rule: Rule,
    pub severity: Severity,
    pub action: Action,
    /// The row's clinic_id as written (for per-clinic data-quality notes).
    pub clinic_id: Option<String>,
}

/// Row counts of one table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableCounts {
    /// Data rows in the file.
    pub read: usize,
    /// Rows that enter the metrics.
    pub used: usize,
    /// Rows with at least one error (left out).
    pub rejected: usize,
    /// Rows dated after the report month (left out; milestones stay as not done).
    pub after_report_month: usize,
    /// Rejected rows per rule (a row with two problems counts under both).
    pub rejected_by_rule: BTreeMap<String, usize>,
}

/// The validation summary: per table counts and notes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub tables: BTreeMap<TableName, TableCounts>,
    /// Extra columns ignored, optional tables missing, and similar notes.
    pub notes: Vec<String>,
}

impl Summary {
    /// Total rejected rows across tables.
    pub fn rejected(&self) -> usize {
        self.tables.values().map(|t| t.rejected).sum()
    }

    /// A short human-readable summary.
    pub fn render(&self) -> String {
        let mut s = String::from("table           read      used  rejected  after_month\n");
        for (t, c) in &self.tables {
            s.push_str(&format!(
                "{:<14} {:>6} {:>9} {:>9} {:>12}\n",
                t.as_str(),
                c.read,
                c.used,
                c.rejected,
                c.after_report_month
            ));
            for (rule, n) in &c.rejected_by_rule {
                s.push_str(&format!("    rejected by {rule}: {n}\n"));
            }
        }
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        s
    }
}

/// Write issues as CSV text with the SPEC §4 columns.
pub fn issues_csv(issues: &[Issue]) -> String {
    let mut s = String::from("table,row,column,value,rule,severity,action\n");
    for i in issues {
        s.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            i.table.as_str(),
            i.row,
            csv_field(&i.column),
            csv_field(&i.value),
            i.rule.as_str(),
            i.severity.as_str(),
            i.action.as_str()
        ));
    }
    s
}

/// A text value made safe for spreadsheets (SPEC §6.6, OWASP): a value that
/// starts with `=`, `+`, `-` or `@` and is not a number gets a leading `'`.
pub fn csv_safe(v: &str) -> std::borrow::Cow<'_, str> {
    let risky = v.starts_with(['=', '+', '-', '@']);
    if risky && v.trim().parse::<f64>().is_err() {
        std::borrow::Cow::Owned(format!("'{v}"))
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

/// A text value for a CSV file: made safe ([`csv_safe`]), then quoted when
/// needed (RFC 4180).
pub fn csv_field(v: &str) -> String {
    let v = &*csv_safe(v);
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_prefixed_but_numbers_are_not() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1+2"), "'+1+2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("-cmd"), "'-cmd");
        assert_eq!(csv_field("-3"), "-3");
        assert_eq!(csv_field("+2.5"), "+2.5");
        assert_eq!(csv_field("P-001"), "P-001");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
