//! A small typed column table that becomes a polars `DataFrame` and is
//! written as CSV (and Parquet where the SPEC asks).

use crate::error::{Error, Result};
use polars::prelude::*;
use std::path::Path;

/// One output column.
#[derive(Clone, Debug, PartialEq)]
pub enum Col {
    Str(Vec<String>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
}

/// Named columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, Col)>,
}

impl Table {
    pub fn push(&mut self, name: impl Into<String>, c: Col) {
        self.columns.push((name.into(), c));
    }
    /// A column by name.
    pub fn get(&self, name: &str) -> Option<&Col> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
    /// Column names in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }
    /// The polars frame.
    pub fn to_frame(&self) -> Result<DataFrame> {
        let cols: Vec<Column> = self
            .columns
            .iter()
            .map(|(n, c)| match c {
                Col::Str(v) => Column::new(n.as_str().into(), v),
                Col::Int(v) => Column::new(n.as_str().into(), v),
                Col::Float(v) => Column::new(n.as_str().into(), v),
            })
            .collect();
        DataFrame::new_infer_height(cols).map_err(|e| Error::Report { what: "table".into(), message: e.to_string() })
    }
    /// Write as CSV: text values made safe for spreadsheets (SPEC §6.6), an
    /// empty text an empty field (not `""`).
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let cols: Vec<Column> = self
            .columns
            .iter()
            .map(|(n, c)| match c {
                Col::Str(v) => {
                    let safe: Vec<Option<String>> = v
                        .iter()
                        .map(|x| (!x.is_empty()).then(|| crate::ingest::issues::csv_safe(x).into_owned()))
                        .collect();
                    Column::new(n.as_str().into(), safe)
                }
                Col::Int(v) => Column::new(n.as_str().into(), v),
                Col::Float(v) => Column::new(n.as_str().into(), v),
            })
            .collect();
        let mut df = DataFrame::new_infer_height(cols)
            .map_err(|e| Error::Report { what: "table".into(), message: e.to_string() })?;
        let f = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
        CsvWriter::new(std::io::BufWriter::new(f))
            .include_header(true)
            .finish(&mut df)
            .map_err(|e| Error::Report { what: path.display().to_string(), message: e.to_string() })
    }
    /// Write as Parquet.
    pub fn write_parquet(&self, path: &Path) -> Result<()> {
        let mut df = self.to_frame()?;
        let f = std::fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
        ParquetWriter::new(f)
            .finish(&mut df)
            .map(|_| ())
            .map_err(|e| Error::Report { what: path.display().to_string(), message: e.to_string() })
    }
}

/// Write a polars frame as CSV like [`Table::write_csv`]: text values made
/// safe for spreadsheets, empty text an empty field.
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
