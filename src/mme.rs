//! Daily MME of one prescription (SPEC §2–3).

use crate::reference::{classify, methadone_2016_factor, DrugClass, FactorRow, Formula, MmeTable, Route, Unit};

/// Why a prescription has no daily MME.
#[derive(Clone, Debug, PartialEq)]
pub enum MmeError {
    /// The drug is in no reference list.
    UnknownDrug,
    /// Buprenorphine or a benzodiazepine: no MME by design.
    NotAnOpioidWithFactor(DrugClass),
    /// The drug/route/unit combination has no factor.
    NoFactor,
    /// strength, quantity or days_supply missing or not positive.
    BadQuantity(&'static str),
}

impl std::fmt::Display for MmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MmeError::UnknownDrug => write!(f, "the drug is in no reference list"),
            MmeError::NotAnOpioidWithFactor(DrugClass::Buprenorphine) => {
                write!(f, "buprenorphine has no MME factor (counted in bup_patients only)")
            }
            MmeError::NotAnOpioidWithFactor(DrugClass::Sedative) => {
                write!(f, "a sedative has no MME (counted in sedative_overlap only)")
            }
            MmeError::NotAnOpioidWithFactor(_) => write!(f, "a benzodiazepine has no MME"),
            MmeError::NoFactor => write!(f, "no MME factor for this drug, route and strength unit"),
            MmeError::BadQuantity(c) => write!(f, "{c} must be a positive number"),
        }
    }
}

/// Daily MME of a prescription of an opioid with a factor.
///
/// `drug` is the trimmed, lower-case ingredient. The value is unrounded;
/// compare against thresholds with [`round6`].
pub fn daily_mme(
    table: MmeTable,
    drug: &str,
    route: Route,
    unit: Unit,
    strength: f64,
    quantity: f64,
    days_supply: u32,
) -> Result<f64, MmeError> {
    match classify(drug) {
        None => return Err(MmeError::UnknownDrug),
        Some(DrugClass::Opioid) => {}
        Some(c) => return Err(MmeError::NotAnOpioidWithFactor(c)),
    }
    let row = table.lookup(drug, route, unit).ok_or(MmeError::NoFactor)?;
    daily_mme_with(row, strength, quantity, days_supply)
}

/// Daily MME with a factor row already looked up.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(x > 0.0)` also rejects NaN
pub fn daily_mme_with(row: &FactorRow, strength: f64, quantity: f64, days_supply: u32) -> Result<f64, MmeError> {
    if !(strength > 0.0) {
        return Err(MmeError::BadQuantity("strength"));
    }
    if !(quantity > 0.0) {
        return Err(MmeError::BadQuantity("quantity"));
    }
    if days_supply == 0 {
        return Err(MmeError::BadQuantity("days_supply"));
    }
    let days = days_supply as f64;
    Ok(match row.formula {
        Formula::PerUnit => strength * quantity / days * row.factor.unwrap(),
        Formula::Patch72h => strength * (quantity * 3.0 / days) * row.factor.unwrap(),
        Formula::MethadoneTiers => {
            let daily_mg = strength * quantity / days;
            daily_mg * methadone_2016_factor(daily_mg)
        }
    })
}

/// Round to 6 decimals, as SPEC §3 does before comparing with a threshold.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Round to 1 decimal, half away from zero (output `_pct` and MME values).
pub fn round1(x: f64) -> f64 {
    // `+ 0.0`: never −0.0.
    (x * 10.0).round() / 10.0 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use MmeTable::*;

    fn mme(t: MmeTable, d: &str, r: Route, u: Unit, s: f64, q: f64, days: u32) -> f64 {
        round6(daily_mme(t, d, r, u, s, q, days).unwrap())
    }

    #[test]
    fn spec_worked_examples() {
        // OxyContin 30 mg, 30 tablets over 30 days = 45 MME/day.
        assert_eq!(mme(Cdc2022, "oxycodone", Route::Oral, Unit::Mg, 30.0, 30.0, 30), 45.0);
        // MS Contin 30 mg, 60 over 30 days = 60.
        assert_eq!(mme(Cdc2022, "morphine", Route::Oral, Unit::Mg, 30.0, 60.0, 30), 60.0);
        // Fentanyl 100 mcg/hr, 10 patches over 30 days = 240.
        assert_eq!(mme(Cdc2022, "fentanyl", Route::Transdermal, Unit::McgPerHr, 100.0, 10.0, 30), 240.0);
        // Fentanyl buccal 100 mcg, 10 over 10 days = 13.
        assert_eq!(mme(Cdc2022, "fentanyl", Route::Buccal, Unit::Mcg, 100.0, 10.0, 10), 13.0);
    }

    #[test]
    fn fentanyl_nasal_and_sublingual() {
        // 100 mcg × 20 sprays / 10 days × 0.16 = 32.
        assert_eq!(mme(Cdc2022, "fentanyl", Route::Nasal, Unit::Mcg, 100.0, 20.0, 10), 32.0);
        assert_eq!(mme(Cdc2016, "fentanyl", Route::Sublingual, Unit::Mcg, 200.0, 30.0, 30), 26.0);
        // 25 mcg/hr, 15 patches over 45 days: 25 × 1 × 2.4 = 60.
        assert_eq!(mme(Cdc2016, "fentanyl", Route::Transdermal, Unit::McgPerHr, 25.0, 15.0, 45), 60.0);
    }

    #[test]
    fn liquid_uses_mg_per_ml_times_ml() {
        // Oxycodone 5 mg/mL, 300 mL over 30 days: 50 mg/day × 1.5 = 75.
        assert_eq!(mme(Cdc2022, "oxycodone", Route::Oral, Unit::MgPerMl, 5.0, 300.0, 30), 75.0);
        // Methadone 10 mg/mL, 90 mL over 30 days = 30 mg/day: 2022 × 4.7 = 141; 2016 tier 8 = 240.
        assert_eq!(mme(Cdc2022, "methadone", Route::Oral, Unit::MgPerMl, 10.0, 90.0, 30), 141.0);
        assert_eq!(mme(Cdc2016, "methadone", Route::Oral, Unit::MgPerMl, 10.0, 90.0, 30), 240.0);
    }

    #[test]
    fn methadone_under_both_tables_at_each_tier_boundary() {
        let m = |t, s: f64, q: f64| mme(t, "methadone", Route::Oral, Unit::Mg, s, q, 30);
        // 10 mg × 60 / 30 = 20 mg/day: the ≤ 20 tier (×4) = 80; 2022: 94.
        assert_eq!(m(Cdc2016, 10.0, 60.0), 80.0);
        assert_eq!(m(Cdc2022, 10.0, 60.0), 94.0);
        // 10 mg × 61 / 30 = 20.333 mg/day: tier ×8 = 162.666667.
        assert_eq!(m(Cdc2016, 10.0, 61.0), 162.666667);
        // 40 mg/day exactly: ×8 = 320; 41 mg/day: ×10 = 410.
        assert_eq!(m(Cdc2016, 10.0, 120.0), 320.0);
        assert_eq!(m(Cdc2016, 41.0, 30.0), 410.0);
        // 60 mg/day exactly: ×10 = 600; 61: ×12 = 732.
        assert_eq!(m(Cdc2016, 20.0, 90.0), 600.0);
        assert_eq!(m(Cdc2016, 61.0, 30.0), 732.0);
        assert_eq!(m(Cdc2022, 61.0, 30.0), 286.7);
    }

    #[test]
    fn tramadol_and_hydromorphone_differ_between_tables() {
        assert_eq!(mme(Cdc2022, "tramadol", Route::Oral, Unit::Mg, 50.0, 120.0, 30), 40.0);
        assert_eq!(mme(Cdc2016, "tramadol", Route::Oral, Unit::Mg, 50.0, 120.0, 30), 20.0);
        assert_eq!(mme(Cdc2022, "hydromorphone", Route::Oral, Unit::Mg, 2.0, 90.0, 30), 30.0);
        assert_eq!(mme(Cdc2016, "hydromorphone", Route::Oral, Unit::Mg, 2.0, 90.0, 30), 24.0);
    }

    #[test]
    fn codeine_spec_example_rounds_to_exactly_fifty() {
        let raw = daily_mme(Cdc2022, "codeine", Route::Oral, Unit::Mg, 30.0, 200.0, 18).unwrap();
        assert_eq!(round6(raw), 50.0);
        assert!(round6(raw) >= 50.0);
    }

    #[test]
    fn no_factor_unknown_and_non_opioids() {
        assert_eq!(daily_mme(Cdc2022, "fentanyl", Route::Oral, Unit::MgPerMl, 1.0, 1.0, 1), Err(MmeError::NoFactor));
        assert_eq!(daily_mme(Cdc2022, "oxycodone", Route::Transdermal, Unit::Mg, 1.0, 1.0, 1), Err(MmeError::NoFactor));
        assert_eq!(daily_mme(Cdc2022, "melatonin", Route::Oral, Unit::Mg, 1.0, 1.0, 1), Err(MmeError::UnknownDrug));
        assert_eq!(
            daily_mme(Cdc2022, "gabapentin", Route::Oral, Unit::Mg, 300.0, 90.0, 30),
            Err(MmeError::NotAnOpioidWithFactor(DrugClass::Sedative))
        );
        assert_eq!(
            daily_mme(Cdc2022, "buprenorphine", Route::Sublingual, Unit::Mg, 8.0, 30.0, 30),
            Err(MmeError::NotAnOpioidWithFactor(DrugClass::Buprenorphine))
        );
        assert_eq!(
            daily_mme(Cdc2022, "oxycodone", Route::Oral, Unit::Mg, 0.0, 1.0, 1),
            Err(MmeError::BadQuantity("strength"))
        );
    }

    #[test]
    fn rounding_half_away_from_zero() {
        assert_eq!(round1(12.25), 12.3);
        assert_eq!(round1(12.35), 12.4);
        assert_eq!(round1(2.5), 2.5);
        assert_eq!(round1(0.05), 0.1);
    }
}
