//! `metrics/patient_month.parquet` (SPEC §6.4): the patient × clinic × month
//! analytic file, one long polars frame built from the interval engine's
//! rows, sorted by clinic_id, month and patient_id.

use super::clinic_month::EVENT_COLUMNS;
use super::prescribing::PatientMonthRow;
use crate::config::MetricsConfig;
use crate::dates::Month;
use crate::error::{Error, Result};
use crate::model::Dataset;
use polars::prelude::*;
use rayon::prelude::*;
use std::path::Path;

/// Rank of every id of an interner by its text (for sorting rows by id).
fn ranks(names: impl Iterator<Item = String>) -> Vec<u32> {
    let mut idx: Vec<(String, u32)> = names.enumerate().map(|(i, n)| (n, i as u32)).collect();
    idx.par_sort_unstable();
    let mut rank = vec![0u32; idx.len()];
    for (r, (_, i)) in idx.into_iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

/// The file's frame from its rows ([`super::clinic_month::facts_and_file_rows`],
/// months counted from `months[0]`), sorted by clinic_id, month and
/// patient_id. The rows are sorted in place first (moving them once, so
/// that every column is then a sequential pass; sorting an index and
/// following it cost a cache miss per row and column).
pub fn frame(data: &Dataset, rows: &mut [PatientMonthRow], months: &[Month], cfg: &MetricsConfig) -> Result<DataFrame> {
    let prank = ranks((0..data.patients.len()).map(|i| data.patients.name(i as u32).to_string()));
    let crank = ranks(data.clinics.iter().map(|c| c.id.clone()));
    rows.par_sort_unstable_by_key(|r| (crank[r.clinic as usize], r.month, prank[r.patient as usize]));
    let rs: &[PatientMonthRow] = rows;
    let b = |name: &str, f: &dyn Fn(&PatientMonthRow) -> bool| {
        Column::new(name.into(), rs.iter().map(f).collect::<Vec<bool>>())
    };
    let u = |name: &str, f: &dyn Fn(&PatientMonthRow) -> u32| {
        Column::new(name.into(), rs.iter().map(|r| f(r) as i64).collect::<Vec<i64>>())
    };
    let month_text: Vec<String> = months.iter().map(|m| m.to_string()).collect();
    // The text columns are most of the cost: built side by side.
    let (patient, (clinic, month)) = rayon::join(
        || text("patient_id", rs, |r| data.patients.name(r.patient)),
        || {
            rayon::join(
                || text("clinic_id", rs, |r| data.clinics[r.clinic as usize].id.as_str()),
                || text("month", rs, |r| month_text[r.month as usize].as_str()),
            )
        },
    );
    let mme = rs.iter().map(|r| r.opioid.then_some(r.daily_mme)).collect::<Vec<Option<f64>>>();
    let mut cols = vec![
        patient,
        clinic,
        month,
        b("opioid", &|r| r.opioid),
        b("ltot", &|r| r.ltot),
        b("excluded", &|r| r.excluded),
        b("bup", &|r| r.bup),
        u("ltot_days", &|r| r.ltot_days as u32),
        Column::new("daily_mme".into(), mme),
    ];
    for (k, t) in cfg.threshold_labels().iter().enumerate() {
        cols.push(b(&format!("high_dose_{t}"), &|r| r.high_dose & (1 << k) != 0));
    }
    cols.push(u("benzo_days", &|r| r.benzo_days as u32));
    cols.push(u("sedative_days", &|r| r.sedative_days as u32));
    for (k, name) in EVENT_COLUMNS.iter().enumerate() {
        cols.push(b(name, &|r| r.events & (1 << k) != 0));
    }
    cols.push(b("new_start", &|r| r.new_start.is_some()));
    DataFrame::new_infer_height(cols)
        .map_err(|e| Error::Report { what: "patient_month".into(), message: e.to_string() })
}

/// A text column from the rows, built in parallel.
fn text<'a>(name: &str, rs: &[PatientMonthRow], f: impl Fn(&PatientMonthRow) -> &'a str + Sync) -> Column {
    Column::new(name.into(), rs.par_iter().map(&f).collect::<Vec<&str>>())
}

/// Write the frame as Parquet (LZ4: the file is written once per batch and
/// read by the study team's tools; zstd took twice as long here).
pub fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let f = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    ParquetWriter::new(std::io::BufWriter::new(f))
        .with_compression(ParquetCompression::Lz4Raw)
        .finish(df)
        .map(|_| ())
        .map_err(|e| Error::Report { what: path.display().to_string(), message: e.to_string() })
}
