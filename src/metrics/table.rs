//! Writing polars frames (CSV made safe for spreadsheets, Parquet), the
//! column constructors of the row-list outputs, and the exact percentage.

use crate::error::{Error, Result};
use polars::prelude::*;
use std::path::Path;

/// A text column.
pub fn text(name: &str, v: impl IntoIterator<Item = String>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<String>>())
}

/// An integer column (`None` is an empty field).
pub fn ints(name: &str, v: impl IntoIterator<Item = Option<i64>>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<Option<i64>>>())
}

/// A float column (`None` is an empty field).
pub fn floats(name: &str, v: impl IntoIterator<Item = Option<f64>>) -> Column {
    Column::new(name.into(), v.into_iter().collect::<Vec<Option<f64>>>())
}

/// The frame of equal-length columns.
pub fn frame(what: &str, cols: Vec<Column>) -> Result<DataFrame> {
    DataFrame::new_infer_height(cols).map_err(|e| Error::Report { what: what.into(), message: e.to_string() })
}

/// Write a polars frame as CSV: text values made safe for spreadsheets
/// (SPEC §6.6), an empty text an empty field (not `""`).
pub fn write_frame_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    let fail = |e: PolarsError| Error::Report { what: path.display().to_string(), message: e.to_string() };
    let names: Vec<PlSmallStr> =
        df.columns().iter().filter(|c| c.dtype() == &DataType::String).map(|c| c.name().clone()).collect();
    for n in names {
        let safe: Vec<Option<String>> = df
            .column(n.as_str())
            .and_then(|c| c.str().cloned())
            .map_err(fail)?
            .iter()
            .map(|v| v.filter(|x| !x.is_empty()).map(|x| crate::ingest::issues::csv_safe(x).into_owned()))
            .collect();
        df.with_column(Column::new(n, safe)).map_err(fail)?;
    }
    let f = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    CsvWriter::new(std::io::BufWriter::new(f)).include_header(true).finish(df).map_err(fail)
}

/// Write a polars frame as Parquet.
pub fn write_frame_parquet(df: &mut DataFrame, path: &Path) -> Result<()> {
    let f = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    ParquetWriter::new(f)
        .finish(df)
        .map(|_| ())
        .map_err(|e| Error::Report { what: path.display().to_string(), message: e.to_string() })
}

/// `100 × n ÷ d` rounded to 1 decimal half away from zero, exactly (integer
/// arithmetic); `None` when `d` is 0.
pub fn pct(n: u64, d: u64) -> Option<f64> {
    if d == 0 {
        return None;
    }
    let tenths = (2000 * n + d) / (2 * d);
    Some(tenths as f64 / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_rounds_half_away_from_zero_exactly() {
        assert_eq!(pct(1, 16), Some(6.3)); // 6.25
        assert_eq!(pct(1, 3), Some(33.3));
        assert_eq!(pct(2, 3), Some(66.7));
        assert_eq!(pct(1, 80), Some(1.3)); // 1.25
        assert_eq!(pct(0, 5), Some(0.0));
        assert_eq!(pct(5, 5), Some(100.0));
        assert_eq!(pct(0, 0), None);
    }
}
