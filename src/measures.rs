//! The measure registry: every `_n`/`_pct` measure of `clinic_month` described
//! once (key, column stem, labels, direction of good, denominator, where it
//! sits among the columns). Tables, trends, benchmarks, targets and reports
//! iterate it; the counts themselves live in `metrics::clinic_month::Cell`.

use serde::Serialize;

/// Which way is better for a measure (SPEC §6.3 `direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Lower,
    Higher,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Lower => "lower",
            Direction::Higher => "higher",
        }
    }
    /// Whether `value` meets `goal` in this direction (equal meets).
    pub fn meets(self, value: f64, goal: f64) -> bool {
        match self {
            Direction::Lower => value <= goal,
            Direction::Higher => value >= goal,
        }
    }
}

/// A measure's identity: what its numerator counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeasureKey {
    /// Index into the high-dose thresholds.
    HighDose(usize),
    BenzoOverlap,
    Agreement,
    Udt,
    Pdmp,
    Functional,
    Naloxone,
    SedativeOverlap,
    NaloxoneAtRisk,
    NewStartShort,
    NewStartLong,
    NewStartErLa,
    NewStartHighDose,
    LtotTransition,
}

/// The count a measure is a share of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Denominator {
    LtotPatients,
    /// `high_dose_50_n`.
    HighDose50,
    AtRiskPatients,
    NewStarts,
    NewStarts3moAgo,
}

impl Denominator {
    /// The clinic_month column that holds the denominator.
    pub fn column(self) -> &'static str {
        match self {
            Denominator::LtotPatients => "ltot_patients",
            Denominator::HighDose50 => "high_dose_50_n",
            Denominator::AtRiskPatients => "at_risk_patients",
            Denominator::NewStarts => "new_starts",
            Denominator::NewStarts3moAgo => "new_starts_3mo_ago",
        }
    }
}

/// Where the measure's columns sit: section 3 (before `bup_patients`) or
/// appended by section 6.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Core,
    V2,
}

/// One measure, described once.
#[derive(Clone, Debug)]
pub struct MeasureDef {
    pub key: MeasureKey,
    /// Column stem: `high_dose_50` gives `high_dose_50_n` and `high_dose_50_pct`.
    pub stem: String,
    /// Label for reports.
    pub label: String,
    /// Short label for table headers.
    pub short: String,
    pub direction: Direction,
    pub den: Denominator,
    pub section: Section,
}

impl MeasureDef {
    /// The `_pct` column name (the measure's name in trends and targets).
    pub fn pct_column(&self) -> String {
        format!("{}_pct", self.stem)
    }
}

/// The name of the mean daily MME column, the one measure that is not a share.
pub const MEAN_DAILY_MME: &str = "mean_daily_mme";

/// Every `_n`/`_pct` measure in clinic_month column order, for the threshold
/// labels of the run (`50`, `90`, ...).
pub fn registry(threshold_labels: &[String]) -> Vec<MeasureDef> {
    use Denominator::*;
    use Direction::*;
    use MeasureKey::*;
    let mut v = Vec::new();
    let def = |key, stem: &str, label: &str, short: &str, direction, den, section| MeasureDef {
        key,
        stem: stem.to_string(),
        label: label.to_string(),
        short: short.to_string(),
        direction,
        den,
        section,
    };
    for (k, t) in threshold_labels.iter().enumerate() {
        let stem = format!("high_dose_{t}");
        let label = format!("High dose (≥ {t} MME/day)");
        v.push(def(HighDose(k), &stem, &label, &format!("% ≥ {t}"), Lower, LtotPatients, Section::Core));
    }
    let rows = [
        (BenzoOverlap, "benzo_overlap", "Benzodiazepine overlap", "% benzo", Lower, LtotPatients, Section::Core),
        (Agreement, "agreement", "Patient agreement (12 mo)", "% agreement", Higher, LtotPatients, Section::Core),
        (Udt, "udt", "Urine drug test (12 mo)", "% UDT", Higher, LtotPatients, Section::Core),
        (Pdmp, "pdmp", "PDMP check (90 days)", "% PDMP", Higher, LtotPatients, Section::Core),
        (
            Functional,
            "functional",
            "Functional assessment (90 days)",
            "% function",
            Higher,
            LtotPatients,
            Section::Core,
        ),
        (Naloxone, "naloxone", "Naloxone (patients ≥ 50 MME)", "% naloxone", Higher, HighDose50, Section::Core),
        (SedativeOverlap, "sedative_overlap", "Other sedative overlap", "% sedative", Lower, LtotPatients, Section::V2),
        (
            NaloxoneAtRisk,
            "naloxone_at_risk",
            "Naloxone (patients at risk)",
            "% naloxone at risk",
            Higher,
            AtRiskPatients,
            Section::V2,
        ),
        (NewStartShort, "new_start_short", "New starts ≤ 3 days", "% ≤ 3 d", Higher, NewStarts, Section::V2),
        (NewStartLong, "new_start_long", "New starts > 7 days", "% > 7 d", Lower, NewStarts, Section::V2),
        (NewStartErLa, "new_start_er_la", "New starts on ER/LA", "% ER/LA", Lower, NewStarts, Section::V2),
        (
            NewStartHighDose,
            "new_start_high_dose",
            "New starts ≥ 50 MME/day",
            "% start ≥ 50",
            Lower,
            NewStarts,
            Section::V2,
        ),
        (
            LtotTransition,
            "ltot_transition",
            "New starts on long-term therapy 3 months later",
            "% to LTOT",
            Lower,
            NewStarts3moAgo,
            Section::V2,
        ),
    ];
    for (key, stem, label, short, dir, den, sec) in rows {
        v.push(def(key, stem, label, short, dir, den, sec));
    }
    v
}

/// The report label of a measure name (a `_pct` column or `mean_daily_mme`)
/// among `defs`; the name itself when it is neither.
pub fn label_of(defs: &[MeasureDef], name: &str) -> String {
    if name == MEAN_DAILY_MME {
        return "Mean daily MME".into();
    }
    defs.iter().find(|d| d.pct_column() == name).map(|d| d.label.clone()).unwrap_or_else(|| name.to_string())
}

/// Every measure name a target may name: the `_pct` columns and `mean_daily_mme`.
pub fn target_names(threshold_labels: &[String]) -> Vec<String> {
    let mut v: Vec<String> = registry(threshold_labels).iter().map(MeasureDef::pct_column).collect();
    v.push(MEAN_DAILY_MME.to_string());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_in_column_order_with_the_spec_directions() {
        let r = registry(&["50".into(), "90".into()]);
        let stems: Vec<&str> = r.iter().map(|m| m.stem.as_str()).collect();
        assert_eq!(
            stems,
            [
                "high_dose_50",
                "high_dose_90",
                "benzo_overlap",
                "agreement",
                "udt",
                "pdmp",
                "functional",
                "naloxone",
                "sedative_overlap",
                "naloxone_at_risk",
                "new_start_short",
                "new_start_long",
                "new_start_er_la",
                "new_start_high_dose",
                "ltot_transition"
            ]
        );
        let lower: Vec<&str> = r.iter().filter(|m| m.direction == Direction::Lower).map(|m| m.stem.as_str()).collect();
        assert_eq!(
            lower,
            [
                "high_dose_50",
                "high_dose_90",
                "benzo_overlap",
                "sedative_overlap",
                "new_start_long",
                "new_start_er_la",
                "new_start_high_dose",
                "ltot_transition"
            ]
        );
    }

    #[test]
    fn meeting_a_goal_depends_on_direction_and_equal_meets() {
        assert!(Direction::Lower.meets(10.0, 10.0));
        assert!(!Direction::Lower.meets(10.1, 10.0));
        assert!(Direction::Higher.meets(80.0, 80.0));
        assert!(!Direction::Higher.meets(79.9, 80.0));
    }
}
