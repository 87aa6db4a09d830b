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
fn ranks<'a>(names: impl Iterator<Item = &'a str>) -> Vec<u32> {
    let mut idx: Vec<(&str, u32)> = names.enumerate().map(|(i, n)| (n, i as u32)).collect();
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
    let prank = ranks((0..data.patients.len()).map(|i| data.patients.name(i as u32)));
    let crank = ranks(data.clinics.iter().map(|c| c.id.as_str()));
    rows.par_sort_unstable_by_key(|r| (crank[r.clinic as usize], r.month, prank[r.patient as usize]));
    let rs: &[PatientMonthRow] = rows;
    let month_text: Vec<String> = months.iter().map(|m| m.to_string()).collect();
    // Every column is a pass over the rows (3.6 M at 1,000 clinics, each a
    // cache miss per row and column): built side by side, the text ones
    // (most of the cost) first.
    type Build<'a> = Box<dyn Fn() -> Column + Send + Sync + 'a>;
    let b = |name: String, f: Box<dyn Fn(&PatientMonthRow) -> bool + Send + Sync>| -> Build<'_> {
        Box::new(move || Column::new(name.as_str().into(), rs.iter().map(&f).collect::<Vec<bool>>()))
    };
    let u = |name: &'static str, f: fn(&PatientMonthRow) -> u32| -> Build<'_> {
        Box::new(move || Column::new(name.into(), rs.iter().map(|r| f(r) as i64).collect::<Vec<i64>>()))
    };
    let mut build: Vec<Build> = vec![
        Box::new(|| text("patient_id", rs, |r| data.patients.name(r.patient))),
        Box::new(|| text("clinic_id", rs, |r| data.clinics[r.clinic as usize].id.as_str())),
        Box::new(|| text("month", rs, |r| month_text[r.month as usize].as_str())),
        b("opioid".into(), Box::new(|r| r.opioid)),
        b("ltot".into(), Box::new(|r| r.ltot)),
        b("excluded".into(), Box::new(|r| r.excluded)),
        b("bup".into(), Box::new(|r| r.bup)),
        u("ltot_days", |r| r.ltot_days as u32),
        Box::new(|| {
            let mme = rs.iter().map(|r| r.opioid.then_some(r.daily_mme)).collect::<Vec<Option<f64>>>();
            Column::new("daily_mme".into(), mme)
        }),
    ];
    for (k, t) in cfg.threshold_labels().iter().enumerate() {
        build.push(b(format!("high_dose_{t}"), Box::new(move |r| r.high_dose & (1 << k) != 0)));
    }
    build.push(u("benzo_days", |r| r.benzo_days as u32));
    build.push(u("sedative_days", |r| r.sedative_days as u32));
    for (k, name) in EVENT_COLUMNS.iter().enumerate() {
        build.push(b(name.to_string(), Box::new(move |r| r.events & (1 << k) != 0)));
    }
    build.push(b("new_start".into(), Box::new(|r| r.new_start.is_some())));
    let cols: Vec<Column> = build.par_iter().map(|f| f()).collect();
    DataFrame::new_infer_height(cols)
        .map_err(|e| Error::Report { what: "patient_month".into(), message: e.to_string() })
}

/// A text column from the rows.
fn text<'a>(name: &str, rs: &[PatientMonthRow], f: impl Fn(&PatientMonthRow) -> &'a str) -> Column {
    Column::new(name.into(), rs.iter().map(f).collect::<Vec<&str>>())
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
