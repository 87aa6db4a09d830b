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

/// A care gap of a worklist patient, in the order they are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Gap {
    BenzoOverlap,
    SedativeOverlap,
    /// No naloxone in 365 days at ≥ 50 MME/day (complement of naloxone_n).
    Naloxone,
    /// No naloxone in 365 days among patients at risk (complement of naloxone_at_risk_n).
    NaloxoneAtRisk,
    Agreement,
    Udt,
    Pdmp,
    Functional,
}

impl Gap {
    /// Every gap, in listing order.
    pub const ALL: [Gap; 8] = [
        Gap::BenzoOverlap,
        Gap::SedativeOverlap,
        Gap::Naloxone,
        Gap::NaloxoneAtRisk,
        Gap::Agreement,
        Gap::Udt,
        Gap::Pdmp,
        Gap::Functional,
    ];
    /// The name in the worklist CSV's `gaps` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Gap::BenzoOverlap => "benzo_overlap",
            Gap::SedativeOverlap => "sedative_overlap",
            Gap::Naloxone => "naloxone",
            Gap::NaloxoneAtRisk => "naloxone_at_risk",
            Gap::Agreement => "agreement",
            Gap::Udt => "udt",
            Gap::Pdmp => "pdmp",
            Gap::Functional => "functional",
        }
    }
    /// The label in the printed worklist.
    pub fn label(self) -> &'static str {
        match self {
            Gap::BenzoOverlap => "Benzo overlap",
            Gap::SedativeOverlap => "Sedative overlap",
            Gap::Naloxone => "Naloxone",
            Gap::NaloxoneAtRisk => "No naloxone (at risk)",
            Gap::Agreement => "Agreement",
            Gap::Udt => "UDT",
            Gap::Pdmp => "PDMP",
            Gap::Functional => "Function",
        }
    }
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
/// appended by section 6.2. The study report follows it too: section 3
/// measures are its arm table's columns and arm charts, section 6.2 measures
/// its second table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Core,
    V2,
}

/// A chart of the clinic report that draws registry measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClinicChart {
    /// Every high-dose threshold, one line each.
    HighDose,
    Benzo,
    /// The care processes, one line each.
    Care,
}

/// Where a measure appears beyond the places that list every measure
/// (clinic_month, study_month, trends, benchmarks, targets, the clinic
/// report's tables, the study report's tables by [`Section`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Appears {
    /// Its rank among the clinic report's page-1 summary rows (trend signal,
    /// benchmark, target).
    pub summary: Option<u8>,
    /// The clinic report chart that draws it.
    pub chart: Option<ClinicChart>,
    /// An outcome of the study's models (SPEC §5, outcomes.csv).
    pub outcome: bool,
    /// A chart by arm in the study report.
    pub study_chart: bool,
    /// The worklist care gap that lists its patients.
    pub gap: Option<Gap>,
    /// Its rank among the clinic report's "What to do next" lines: the count
    /// of patients with the problem (lower is better) or without the care
    /// (higher is better).
    pub next_step: Option<u8>,
}

impl Appears {
    /// Where the measure `key` appears; `label` is its threshold label and
    /// `top` whether it is the highest threshold (for high-dose measures).
    /// The summary shows the CDC's 90 MME/day; "What to do next" the top one.
    fn of(key: MeasureKey, label: &str, top: bool) -> Appears {
        use MeasureKey::*;
        let a = Appears::default();
        let care = |gap, next_step| Appears { chart: Some(ClinicChart::Care), gap: Some(gap), next_step, ..a };
        match key {
            HighDose(_) => Appears {
                summary: (label == "90").then_some(0),
                chart: Some(ClinicChart::HighDose),
                outcome: true,
                study_chart: true,
                next_step: top.then_some(2),
                ..a
            },
            BenzoOverlap => Appears {
                summary: Some(1),
                chart: Some(ClinicChart::Benzo),
                outcome: true,
                study_chart: true,
                gap: Some(Gap::BenzoOverlap),
                next_step: Some(0),
            },
            Udt => Appears { summary: Some(2), ..care(Gap::Udt, Some(3)) },
            Agreement => care(Gap::Agreement, Some(4)),
            Pdmp => care(Gap::Pdmp, Some(5)),
            Functional => care(Gap::Functional, Some(6)),
            Naloxone => care(Gap::Naloxone, None),
            SedativeOverlap => Appears { gap: Some(Gap::SedativeOverlap), next_step: Some(7), ..a },
            NaloxoneAtRisk => Appears { summary: Some(3), gap: Some(Gap::NaloxoneAtRisk), next_step: Some(1), ..a },
            NewStartLong => Appears { summary: Some(4), ..a },
            NewStartShort | NewStartErLa | NewStartHighDose | LtotTransition => a,
        }
    }
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
    pub denominator: Denominator,
    pub section: Section,
    pub appears: Appears,
}

impl MeasureDef {
    /// The `_pct` column name (the measure's name in trends and targets).
    pub fn pct_column(&self) -> String {
        format!("{}_pct", self.stem)
    }
    /// The `_n` column name.
    pub fn n_column(&self) -> String {
        format!("{}_n", self.stem)
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
    let def = |key, stem: &str, label: &str, short: &str, direction, denominator, section| MeasureDef {
        key,
        stem: stem.to_string(),
        label: label.to_string(),
        short: short.to_string(),
        direction,
        denominator,
        section,
        appears: Appears::default(),
    };
    for (k, t) in threshold_labels.iter().enumerate() {
        let stem = format!("high_dose_{t}");
        let label = format!("High dose (≥ {t} MME/day)");
        let mut d = def(HighDose(k), &stem, &label, &format!("% ≥ {t}"), Lower, LtotPatients, Section::Core);
        d.appears = Appears::of(d.key, t, k + 1 == threshold_labels.len());
        v.push(d);
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
        let mut d = def(key, stem, label, short, dir, den, sec);
        d.appears = Appears::of(key, "", false);
        v.push(d);
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
    fn every_worklist_gap_belongs_to_exactly_one_measure() {
        let r = registry(&["50".into(), "90".into(), "120".into()]);
        for g in Gap::ALL {
            let of: Vec<&str> = r.iter().filter(|m| m.appears.gap == Some(g)).map(|m| m.stem.as_str()).collect();
            assert_eq!(of, [g.as_str()], "{g:?}");
        }
    }

    #[test]
    fn places_with_a_rank_list_the_measures_in_the_reports_order() {
        let r = registry(&["50".into(), "90".into(), "120".into()]);
        let by = |rank: fn(&Appears) -> Option<u8>| {
            let mut v: Vec<(u8, &str)> = r.iter().filter_map(|m| Some((rank(&m.appears)?, m.stem.as_str()))).collect();
            v.sort();
            v.into_iter().map(|(_, s)| s).collect::<Vec<_>>()
        };
        assert_eq!(by(|a| a.summary), ["high_dose_90", "benzo_overlap", "udt", "naloxone_at_risk", "new_start_long"]);
        assert_eq!(
            by(|a| a.next_step),
            [
                "benzo_overlap",
                "naloxone_at_risk",
                "high_dose_120",
                "udt",
                "agreement",
                "pdmp",
                "functional",
                "sedative_overlap"
            ]
        );
        let outcomes: Vec<&str> = r.iter().filter(|m| m.appears.outcome).map(|m| m.stem.as_str()).collect();
        assert_eq!(outcomes, ["high_dose_50", "high_dose_90", "high_dose_120", "benzo_overlap"]);
        let study: Vec<&str> = r.iter().filter(|m| m.appears.study_chart).map(|m| m.stem.as_str()).collect();
        assert_eq!(study, outcomes);
        let care: Vec<&str> =
            r.iter().filter(|m| m.appears.chart == Some(ClinicChart::Care)).map(|m| m.stem.as_str()).collect();
        assert_eq!(care, ["agreement", "udt", "pdmp", "functional", "naloxone"]);
    }

    #[test]
    fn without_a_90_threshold_the_summary_has_no_high_dose_row() {
        let r = registry(&["50".into(), "100".into()]);
        assert!(r.iter().all(|m| !matches!(m.key, MeasureKey::HighDose(_)) || m.appears.summary.is_none()));
        let top: Vec<&str> = r.iter().filter(|m| m.appears.next_step == Some(2)).map(|m| m.stem.as_str()).collect();
        assert_eq!(top, ["high_dose_100"]);
    }

    #[test]
    fn meeting_a_goal_depends_on_direction_and_equal_meets() {
        assert!(Direction::Lower.meets(10.0, 10.0));
        assert!(!Direction::Lower.meets(10.1, 10.0));
        assert!(Direction::Higher.meets(80.0, 80.0));
        assert!(!Direction::Higher.meets(79.9, 80.0));
    }
}
