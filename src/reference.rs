//! Built-in reference tables (SPEC §2): MME conversion factors, kept as data
//! files in `reference/` and compiled into the binary, the cdc-2016 methadone
//! tiers, the buprenorphine rule and the benzodiazepine list.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Which MME conversion table a run uses (`metrics.mme_table`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MmeTable {
    #[default]
    #[serde(rename = "cdc-2022")]
    Cdc2022,
    #[serde(rename = "cdc-2016")]
    Cdc2016,
}

impl MmeTable {
    /// The name used in pipeline files.
    pub fn as_str(self) -> &'static str {
        match self {
            MmeTable::Cdc2022 => "cdc-2022",
            MmeTable::Cdc2016 => "cdc-2016",
        }
    }
    /// Parse a pipeline-file name.
    pub fn parse(s: &str) -> Option<MmeTable> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cdc-2022" => Some(MmeTable::Cdc2022),
            "cdc-2016" => Some(MmeTable::Cdc2016),
            _ => None,
        }
    }
    /// The data file text the table is built from.
    pub fn source_text(self) -> &'static str {
        match self {
            MmeTable::Cdc2022 => include_str!("../reference/mme-cdc-2022.csv"),
            MmeTable::Cdc2016 => include_str!("../reference/mme-cdc-2016.csv"),
        }
    }
    /// The parsed rows.
    pub fn rows(self) -> &'static [FactorRow] {
        static T22: OnceLock<Vec<FactorRow>> = OnceLock::new();
        static T16: OnceLock<Vec<FactorRow>> = OnceLock::new();
        let cell = match self {
            MmeTable::Cdc2022 => &T22,
            MmeTable::Cdc2016 => &T16,
        };
        cell.get_or_init(|| parse_factor_file(self.source_text()))
    }
    /// The factor row for a drug, route and strength unit (all lower-case).
    pub fn lookup(self, drug: &str, route: Route, unit: Unit) -> Option<&'static FactorRow> {
        self.rows().iter().find(|r| r.drug == drug && r.route == route && r.unit == unit)
    }
}

/// How a factor turns a prescription into daily MME.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formula {
    /// `strength × quantity / days_supply × factor`.
    PerUnit,
    /// Transdermal patch worn 72 h: `strength × (quantity × 3 / days_supply) × factor`.
    Patch72h,
    /// cdc-2016 methadone: factor from the prescription's daily mg.
    MethadoneTiers,
}

/// One row of an MME table.
#[derive(Clone, Debug)]
pub struct FactorRow {
    pub drug: String,
    pub route: Route,
    pub unit: Unit,
    /// The factor; `None` for tiered methadone.
    pub factor: Option<f64>,
    pub formula: Formula,
    pub source: String,
}

fn parse_factor_file(text: &str) -> Vec<FactorRow> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(6, ',').collect();
            assert_eq!(f.len(), 6, "reference row {l}");
            FactorRow {
                drug: f[0].to_string(),
                route: Route::parse(f[1]).expect("reference route"),
                unit: Unit::parse(f[2]).expect("reference unit"),
                factor: f[3].parse().ok(),
                formula: match f[4] {
                    "per_unit" => Formula::PerUnit,
                    "patch_72h" => Formula::Patch72h,
                    "methadone_tiers" => Formula::MethadoneTiers,
                    other => panic!("reference formula {other}"),
                },
                source: f[5].to_string(),
            }
        })
        .collect()
}

/// cdc-2016 methadone factor for a prescription's unrounded daily mg:
/// ≤ 20 → 4; > 20 and ≤ 40 → 8; > 40 and ≤ 60 → 10; > 60 → 12.
pub fn methadone_2016_factor(daily_mg: f64) -> f64 {
    if daily_mg <= 20.0 {
        4.0
    } else if daily_mg <= 40.0 {
        8.0
    } else if daily_mg <= 60.0 {
        10.0
    } else {
        12.0
    }
}

/// Release form of a prescription (SPEC §6.1 `release`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Release {
    /// Immediate release: the default when the column or value is empty.
    Ir,
    /// Extended-release or long-acting.
    Er,
}

impl Release {
    /// Parse a release value (case-insensitive, trimmed); empty is `ir`.
    pub fn parse(s: &str) -> Option<Release> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "ir" => Some(Release::Ir),
            "er" => Some(Release::Er),
            _ => None,
        }
    }
}

/// Whether an opioid order is long-acting: `er`, or transdermal fentanyl or
/// methadone whatever the column says (SPEC §6.1).
pub fn is_long_acting(drug: &str, route: Route, release: Release) -> bool {
    release == Release::Er || drug == "methadone" || (drug == "fentanyl" && route == Route::Transdermal)
}

/// Route of administration (SPEC §1; empty means oral).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    Oral,
    Transdermal,
    Buccal,
    Sublingual,
    Nasal,
    Rectal,
}

impl Route {
    /// Parse a route, case-insensitive, spaces ignored.
    pub fn parse(s: &str) -> Option<Route> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "oral" => Route::Oral,
            "transdermal" => Route::Transdermal,
            "buccal" => Route::Buccal,
            "sublingual" => Route::Sublingual,
            "nasal" => Route::Nasal,
            "rectal" => Route::Rectal,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Oral => "oral",
            Route::Transdermal => "transdermal",
            Route::Buccal => "buccal",
            Route::Sublingual => "sublingual",
            Route::Nasal => "nasal",
            Route::Rectal => "rectal",
        }
    }
}

/// Strength unit (SPEC §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    Mg,
    MgPerMl,
    McgPerHr,
    Mcg,
}

impl Unit {
    /// Parse a unit, case-insensitive, spaces ignored.
    pub fn parse(s: &str) -> Option<Unit> {
        Some(match s.trim().to_ascii_lowercase().replace(' ', "").as_str() {
            "mg" => Unit::Mg,
            "mg/ml" => Unit::MgPerMl,
            "mcg/hr" => Unit::McgPerHr,
            "mcg" => Unit::Mcg,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Mg => "mg",
            Unit::MgPerMl => "mg/ml",
            Unit::McgPerHr => "mcg/hr",
            Unit::Mcg => "mcg",
        }
    }
}

/// The built-in benzodiazepine ingredient list (SPEC §2).
pub const BENZODIAZEPINES: [&str; 14] = [
    "alprazolam",
    "chlordiazepoxide",
    "clobazam",
    "clonazepam",
    "clorazepate",
    "diazepam",
    "estazolam",
    "flurazepam",
    "lorazepam",
    "midazolam",
    "oxazepam",
    "quazepam",
    "temazepam",
    "triazolam",
];

/// The built-in non-benzodiazepine sedative list (SPEC §6.1): gabapentinoids,
/// Z-drugs, carisoprodol and barbiturates.
pub const SEDATIVES: [&str; 8] =
    ["gabapentin", "pregabalin", "zolpidem", "zaleplon", "eszopiclone", "carisoprodol", "butalbital", "phenobarbital"];

/// What kind of drug an ingredient is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DrugClass {
    /// An opioid with an MME factor.
    Opioid,
    /// Buprenorphine: counted in `bup_patients` only.
    Buprenorphine,
    Benzodiazepine,
    /// A non-benzodiazepine sedative: `sedative_overlap` only; never attributes.
    Sedative,
}

/// Classify a lower-case, trimmed ingredient name; `None` when it is in no list.
pub fn classify(drug: &str) -> Option<DrugClass> {
    if drug == "buprenorphine" {
        Some(DrugClass::Buprenorphine)
    } else if BENZODIAZEPINES.contains(&drug) {
        Some(DrugClass::Benzodiazepine)
    } else if SEDATIVES.contains(&drug) {
        Some(DrugClass::Sedative)
    } else if MmeTable::Cdc2022.rows().iter().any(|r| r.drug == drug) {
        Some(DrugClass::Opioid)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_cover_the_same_drug_forms_with_a_source() {
        let a: Vec<_> = MmeTable::Cdc2022.rows().iter().map(|r| (&r.drug, r.route, r.unit)).collect();
        let b: Vec<_> = MmeTable::Cdc2016.rows().iter().map(|r| (&r.drug, r.route, r.unit)).collect();
        assert_eq!(a, b);
        assert!(MmeTable::Cdc2022.rows().iter().all(|r| !r.source.is_empty()));
        assert_eq!(MmeTable::Cdc2022.rows().len(), 33);
    }

    #[test]
    fn spec_factors_differ_where_the_spec_says() {
        let f = |t: MmeTable, d: &str| t.lookup(d, Route::Oral, Unit::Mg).unwrap().factor;
        assert_eq!(f(MmeTable::Cdc2022, "hydromorphone"), Some(5.0));
        assert_eq!(f(MmeTable::Cdc2016, "hydromorphone"), Some(4.0));
        assert_eq!(f(MmeTable::Cdc2022, "tramadol"), Some(0.2));
        assert_eq!(f(MmeTable::Cdc2016, "tramadol"), Some(0.1));
        assert_eq!(f(MmeTable::Cdc2022, "methadone"), Some(4.7));
        assert_eq!(f(MmeTable::Cdc2016, "methadone"), None);
        assert_eq!(f(MmeTable::Cdc2022, "levorphanol"), Some(11.0));
    }

    #[test]
    fn methadone_tier_boundaries() {
        assert_eq!(methadone_2016_factor(20.0), 4.0);
        assert_eq!(methadone_2016_factor(20.000001), 8.0);
        assert_eq!(methadone_2016_factor(40.0), 8.0);
        assert_eq!(methadone_2016_factor(40.5), 10.0);
        assert_eq!(methadone_2016_factor(60.0), 10.0);
        assert_eq!(methadone_2016_factor(60.1), 12.0);
    }

    #[test]
    fn classification() {
        assert_eq!(classify("oxycodone"), Some(DrugClass::Opioid));
        assert_eq!(classify("buprenorphine"), Some(DrugClass::Buprenorphine));
        assert_eq!(classify("alprazolam"), Some(DrugClass::Benzodiazepine));
        assert_eq!(classify("gabapentin"), Some(DrugClass::Sedative));
        assert_eq!(classify("zolpidem"), Some(DrugClass::Sedative));
        assert_eq!(classify("melatonin"), None);
        assert_eq!(Unit::parse(" MG/mL "), Some(Unit::MgPerMl));
        assert_eq!(Route::parse("Transdermal"), Some(Route::Transdermal));
    }
}
