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

/// Sort the file's rows ([`super::clinic_month::facts_and_file_rows`]) by
/// clinic_id, month and patient_id, in place (moving them once, so that
/// every column is then a sequential pass; sorting an index and following
/// it cost a cache miss per row and column).
fn sort_rows(data: &Dataset, rows: &mut [PatientMonthRow]) {
    let prank = ranks((0..data.patients.len()).map(|i| data.patients.name(i as u32)));
    let crank = ranks(data.clinics.iter().map(|c| c.id.as_str()));
    rows.par_sort_unstable_by_key(|r| (crank[r.clinic as usize], r.month, prank[r.patient as usize]));
}

/// The file's frame from its rows (months counted from `months[0]`),
/// sorted by clinic_id, month and patient_id (tests: what [`write_rows`]
/// writes, whole).
#[cfg(test)]
fn frame(data: &Dataset, rows: &mut [PatientMonthRow], months: &[Month], cfg: &MetricsConfig) -> Result<DataFrame> {
    sort_rows(data, rows);
    frame_of(data, rows, months, cfg)
}

/// The frame of rows already in the file's order.
fn frame_of(data: &Dataset, rs: &[PatientMonthRow], months: &[Month], cfg: &MetricsConfig) -> Result<DataFrame> {
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

/// Rows per Parquet row group: polars' default for `ParquetWriter`.
const ROW_GROUP: usize = 512 * 512;

/// The row groups polars' `ParquetWriter::finish` makes of a one-chunk
/// frame of `height` rows: ⌊height ÷ 512²⌋ parts of ⌊height ÷ parts⌋ rows,
/// the last taking the rest (one part when the frame is smaller).
fn row_groups(height: usize) -> Vec<std::ops::Range<usize>> {
    let parts = height / ROW_GROUP;
    if parts <= 1 {
        return std::iter::once(0..height).collect();
    }
    let size = height / parts;
    (0..parts).map(|i| i * size..if i + 1 == parts { height } else { (i + 1) * size }).collect()
}

/// Write the file from its rows (months counted from `months[0]`), sorted
/// first, one row group's frame at a time: the same bytes as writing the
/// whole frame, without ever holding it (0.35 GB at 1,000 clinics).
pub fn write_rows(
    data: &Dataset,
    rows: &mut [PatientMonthRow],
    months: &[Month],
    cfg: &MetricsConfig,
    path: &Path,
) -> Result<()> {
    sort_rows(data, rows);
    let fail = |e: PolarsError| Error::Report { what: path.display().to_string(), message: e.to_string() };
    let f = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    let groups = row_groups(rows.len());
    let first = frame_of(data, &rows[groups[0].clone()], months, cfg)?;
    let mut w = parquet_writer(std::io::BufWriter::new(f)).batched(first.schema()).map_err(fail)?;
    w.write_batch(&first).map_err(fail)?;
    drop(first);
    for range in &groups[1..] {
        w.write_batch(&frame_of(data, &rows[range.clone()], months, cfg)?).map_err(fail)?;
    }
    w.finish().map(|_| ()).map_err(fail)
}

/// The file's writer: LZ4 (the file is written once per batch and read by
/// the study team's tools; zstd took twice as long here).
fn parquet_writer<W: std::io::Write>(w: W) -> ParquetWriter<W> {
    ParquetWriter::new(w).with_compression(ParquetCompression::Lz4Raw)
}

/// Write a whole frame as the file (tests: what [`write_rows`] must match).
#[cfg(test)]
fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let f = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    parquet_writer(std::io::BufWriter::new(f))
        .finish(df)
        .map(|_| ())
        .map_err(|e| Error::Report { what: path.display().to_string(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Clinic;

    #[test]
    fn the_file_written_a_row_group_at_a_time_is_the_whole_frame_written_at_once() {
        let mut data =
            Dataset { clinics: vec![Clinic::comparison("C2"), Clinic::comparison("C1")], ..Default::default() };
        for p in 0..50_000 {
            data.patients.intern(&format!("P{:05}", 49_999 - p));
        }
        // 600,000 rows: two row groups of 300,000.
        let rows: Vec<PatientMonthRow> = (0..600_000u32)
            .map(|i| PatientMonthRow {
                clinic: i % 2,
                patient: (i / 2) % 50_000,
                month: (i / 100_000) as u16,
                opioid: i % 3 == 0,
                daily_mme: (i % 7) as f64 * 12.5,
                ltot_days: (i % 90) as u16,
                ..Default::default()
            })
            .collect();
        let months = Month::new(2024, 1).unwrap().window(6);
        let cfg = MetricsConfig::default();
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_rows(&data, &mut rows.clone(), &months, &cfg, &a).unwrap();
        write(&mut frame(&data, &mut rows.clone(), &months, &cfg).unwrap(), &b).unwrap();
        let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        assert!(a == b, "{} and {} bytes", a.len(), b.len());
    }

    #[test]
    fn row_groups_are_those_polars_makes_of_a_whole_frame() {
        assert_eq!(row_groups(0), vec![0..0]);
        assert_eq!(row_groups(262_143), vec![0..262_143]);
        assert_eq!(row_groups(524_287), vec![0..524_287]);
        assert_eq!(row_groups(524_288), vec![0..262_144, 262_144..524_288]);
        assert_eq!(row_groups(600_000), vec![0..300_000, 300_000..600_000]);
        assert_eq!(row_groups(800_000), vec![0..266_666, 266_666..533_332, 533_332..800_000]);
    }
}
