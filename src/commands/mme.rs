//! `sixbb mme`: the daily MME of one prescription.

use crate::cli::MmeArgs;
use crate::error::{Error, Result};
use crate::mme::{daily_mme, round6};
use crate::reference::{Route, Unit};

/// Print the daily MME, or say why there is none.
pub fn run(a: MmeArgs) -> Result<i32> {
    let table = a.table;
    let route = Route::parse(&a.route).ok_or_else(|| Error::Usage(format!("--route {}: unknown route", a.route)))?;
    let unit = Unit::parse(&a.unit).ok_or_else(|| Error::Usage(format!("--unit {}: unknown strength unit", a.unit)))?;
    let drug = a.drug.trim().to_ascii_lowercase();
    match daily_mme(table, &drug, route, unit, a.strength, a.quantity, a.days_supply) {
        Ok(x) => {
            let row = table.lookup(&drug, route, unit).unwrap();
            println!("{}", round6(x));
            eprintln!(
                "{drug} {} {} {} × {} over {} days, {}: {}",
                route.as_str(),
                a.strength,
                unit.as_str(),
                a.quantity,
                a.days_supply,
                table.as_str(),
                row.source
            );
            Ok(0)
        }
        Err(e) => Err(Error::Usage(format!("no daily MME for {drug} {} {}: {e}", route.as_str(), unit.as_str()))),
    }
}
