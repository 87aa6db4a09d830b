//! Reading one input table from CSV or Parquet into an all-text polars
//! frame, with the fatal checks that need only the header: identifier-like
//! columns and missing required columns.

use crate::error::{Error, Result};
use crate::ingest::identifiers::is_identifier_column;
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// The columns a table is read with.
#[derive(Clone, Copy, Debug)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub required: bool,
}

const fn req(name: &'static str) -> ColumnSpec {
    ColumnSpec { name, required: true }
}
const fn opt(name: &'static str) -> ColumnSpec {
    ColumnSpec { name, required: false }
}

/// Columns of `clinics`.
pub const CLINICS: &[ColumnSpec] = &[
    req("clinic_id"),
    req("clinic_name"),
    opt("organization"),
    req("arm"),
    opt("rurality"),
    opt("facilitator_id"),
    req("program_start"),
];
/// Columns of `prescriptions`.
pub const PRESCRIPTIONS: &[ColumnSpec] = &[
    req("rx_id"),
    req("clinic_id"),
    req("patient_id"),
    opt("prescriber_id"),
    req("written_date"),
    req("drug"),
    opt("route"),
    req("strength"),
    req("strength_unit"),
    req("quantity"),
    req("days_supply"),
    opt("release"),
];
/// Columns of `exclusions` (SPEC §6.1).
pub const EXCLUSIONS: &[ColumnSpec] = &[req("patient_id"), req("reason"), req("start_date"), opt("end_date")];
/// Columns of `targets` (SPEC §6.1).
pub const TARGETS: &[ColumnSpec] = &[req("clinic_id"), req("measure"), req("target")];
/// Columns of `care_events`.
pub const CARE_EVENTS: &[ColumnSpec] = &[req("clinic_id"), req("patient_id"), req("event_date"), req("event_type")];
/// Columns of `milestones`.
pub const MILESTONES: &[ColumnSpec] =
    &[req("clinic_id"), req("block"), req("milestone"), req("due_date"), req("completed_date")];
/// Columns of `facilitation`.
pub const FACILITATION: &[ColumnSpec] =
    &[req("clinic_id"), opt("facilitator_id"), req("date"), req("activity"), req("hours")];

/// The Arrow array behind a text column.
pub type TextArray = <StringType as PolarsDataType>::Array;

/// A table read as text: one `String` column per spec column (missing
/// optional columns are absent), in file row order.
pub struct RawTable {
    pub path: PathBuf,
    /// Data rows before this batch (row numbers are `offset + i + 1`).
    pub offset: usize,
    pub df: DataFrame,
    /// Extra columns found and ignored.
    pub extra_columns: Vec<String>,
}

impl RawTable {
    /// Wrap a frame, one chunk per column (for direct row access).
    pub fn new(path: &Path, offset: usize, mut df: DataFrame, extra_columns: Vec<String>) -> RawTable {
        if df.should_rechunk() || df.columns().iter().any(|c| c.n_chunks() > 1) {
            df.rechunk_mut_par();
        }
        RawTable { path: path.to_path_buf(), offset, df, extra_columns }
    }
    /// A column as one Arrow array (row access by index), `None` when absent.
    pub fn array(&self, name: &str) -> Option<&TextArray> {
        self.column(name).map(|ca| ca.downcast_as_array())
    }
    /// Number of data rows.
    pub fn height(&self) -> usize {
        self.df.height()
    }
    /// A column's values, or `None` when the (optional) column is absent.
    pub fn column(&self, name: &str) -> Option<&StringChunked> {
        self.df.column(name).ok().and_then(|c| c.str().ok())
    }
}

/// An opened table: header checked, rows read lazily in batches.
pub struct TableSource {
    pub path: PathBuf,
    lf: LazyFrame,
    /// Fields in the CSV header (for diagnosing ragged lines); 0 for Parquet.
    csv_fields: usize,
    pub extra_columns: Vec<String>,
}

impl TableSource {
    /// Read rows `offset .. offset + len` as text columns.
    pub fn batch(&self, offset: usize, len: usize) -> Result<RawTable> {
        let df =
            self.lf.clone().slice(offset as i64, len.min(IdxSize::MAX as usize) as IdxSize).collect().map_err(|e| {
                if self.csv_fields > 0 {
                    diagnose_csv(&self.path, self.csv_fields, e)
                } else {
                    Error::input(&self.path, None, None, format!("cannot read as Parquet: {e}"))
                }
            })?;
        Ok(RawTable::new(&self.path, offset, df, self.extra_columns.clone()))
    }

    /// Every row, batch by batch (about `batch_rows` rows at a time), in
    /// file order, read once by polars' streaming engine on its own thread.
    pub fn for_each_batch(&self, batch_rows: usize, mut f: impl FnMut(&RawTable) -> Result<()>) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(1);
        let fail = |e: PolarsError| -> Error {
            if self.csv_fields > 0 {
                diagnose_csv(&self.path, self.csv_fields, e)
            } else {
                Error::input(&self.path, None, None, format!("cannot read as Parquet: {e}"))
            }
        };
        // The callback returns `true` (stop) once the receiver is gone.
        let lf = self
            .lf
            .clone()
            .sink_batches(
                PlanCallback::new(move |df: DataFrame| Ok(tx.send(df).is_err())),
                true,
                std::num::NonZeroUsize::new(batch_rows),
            )
            .map_err(fail)?;
        let reader = std::thread::spawn(move || lf.collect_with_engine(Engine::Streaming).map(|_| ()));
        let mut offset = 0;
        let mut result = Ok(());
        for df in rx.iter() {
            let t = RawTable::new(&self.path, offset, df, self.extra_columns.clone());
            offset += t.height();
            if t.height() == 0 {
                continue;
            }
            if let Err(e) = f(&t) {
                result = Err(e);
                break;
            }
        }
        drop(rx);
        let read =
            reader.join().unwrap_or_else(|_| Err(PolarsError::ComputeError("the reader thread panicked".into())));
        result?;
        read.map_err(fail)
    }
}

/// Open a table at `path` (CSV or Parquet by extension): fatal header checks.
pub fn open_table(path: &Path, spec: &[ColumnSpec]) -> Result<TableSource> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "csv" => open_csv(path, spec),
        "parquet" | "pq" => open_parquet(path, spec),
        _ => Err(Error::input(path, None, None, "unknown file type: expected a .csv or .parquet file")),
    }
}

/// Match the file's header names to the spec; fail on identifiers and on a
/// missing required column. Returns (spec name → file name) and the extras.
fn match_header(
    path: &Path,
    header: &[String],
    spec: &[ColumnSpec],
    line: Option<usize>,
) -> Result<(Vec<(&'static str, String)>, Vec<String>)> {
    for h in header {
        if is_identifier_column(h) {
            return Err(Error::input(
                path,
                line,
                Some(h),
                "identifier-like column: sixbb accepts de-identified data only; remove this column from the extract",
            ));
        }
    }
    let norm = |s: &str| s.trim().to_ascii_lowercase();
    // Two columns with one name (after trimming and case) would make the row ambiguous.
    for (k, h) in header.iter().enumerate() {
        if header[..k].iter().any(|x| norm(x) == norm(h)) && !norm(h).is_empty() {
            return Err(Error::input(path, line, Some(h), "this column appears twice in the header"));
        }
    }
    let mut found = Vec::new();
    for c in spec {
        match header.iter().find(|h| norm(h) == c.name) {
            Some(h) => found.push((c.name, h.clone())),
            None if c.required => {
                return Err(Error::input(path, line, Some(c.name), "required column is missing"));
            }
            None => {}
        }
    }
    let extra = header.iter().filter(|h| !spec.iter().any(|c| norm(h) == c.name)).cloned().collect();
    Ok((found, extra))
}

fn open_csv(path: &Path, spec: &[ColumnSpec]) -> Result<TableSource> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| Error::io("cannot open", path, e))?;
    let mut first = Vec::new();
    std::io::BufReader::new(file).read_until(b'\n', &mut first).map_err(|e| Error::io("cannot read", path, e))?;
    let first = std::str::from_utf8(&first)
        .map_err(|_| Error::input(path, Some(1), None, "the header row is not valid UTF-8"))?;
    let first = first.strip_prefix('\u{feff}').unwrap_or(first);
    if first.trim().is_empty() {
        return Err(Error::input(path, Some(1), None, "no header row: the file is empty"));
    }
    let header = split_csv_line(first.trim_end_matches('\n'));
    let (found, extra) = match_header(path, &header, spec, Some(1))?;
    let schema: Schema = header.iter().map(|h| Field::new(h.as_str().into(), DataType::String)).collect();
    let pl_path =
        PlRefPath::try_from_pathbuf(path.to_path_buf()).map_err(|e| Error::input(path, None, None, e.to_string()))?;
    let exprs: Vec<Expr> = found.iter().map(|(name, h)| col(h.as_str()).alias(*name)).collect();
    let lf = LazyCsvReader::new(pl_path)
        .with_has_header(true)
        .with_schema(Some(Arc::new(schema)))
        .finish()
        .map_err(|e| diagnose_csv(path, header.len(), e))?
        .select(exprs);
    Ok(TableSource { path: path.to_path_buf(), lf, csv_fields: header.len(), extra_columns: extra })
}

/// Turn a polars CSV error into a message with the offending line when it
/// can be found (invalid UTF-8 or a wrong number of fields).
fn diagnose_csv(path: &Path, n_fields: usize, e: PolarsError) -> Error {
    let Ok(bytes) = std::fs::read(path) else {
        return Error::input(path, None, None, format!("cannot parse as CSV: {e}"));
    };
    match std::str::from_utf8(&bytes) {
        Err(u) => {
            let line = bytes[..u.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            Error::input(path, Some(line), None, "the file is not valid UTF-8")
        }
        Ok(text) => match ragged_line(text, n_fields) {
            Some((line, found)) => Error::input(
                path,
                Some(line),
                None,
                format!("expected {n_fields} fields as in the header, found {found}"),
            ),
            None => Error::input(path, None, None, format!("cannot parse as CSV: {e}")),
        },
    }
}

fn open_parquet(path: &Path, spec: &[ColumnSpec]) -> Result<TableSource> {
    let fail = |e: PolarsError| Error::input(path, None, None, format!("cannot read as Parquet: {e}"));
    let p = PlRefPath::try_from_pathbuf(path.to_path_buf()).map_err(fail)?;
    let mut lf = LazyFrame::scan_parquet(p, ScanArgsParquet::default()).map_err(fail)?;
    let schema = lf.collect_schema().map_err(fail)?;
    let header: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let (found, extra) = match_header(path, &header, spec, None)?;
    let exprs: Vec<Expr> = found.iter().map(|(name, h)| col(h.as_str()).cast(DataType::String).alias(*name)).collect();
    Ok(TableSource { path: path.to_path_buf(), lf: lf.select(exprs), csv_fields: 0, extra_columns: extra })
}

/// SHA-256 of a file, hex.
pub fn sha256_file(p: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(p).map_err(|e| Error::io("cannot open", p, e))?;
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io("cannot read", p, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

/// Split one CSV line into fields (RFC 4180 quotes).
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The first record (as its 1-based file line and field count) whose field
/// count differs from the header's. Quoted newlines are handled.
fn ragged_line(text: &str, n: usize) -> Option<(usize, usize)> {
    let mut line = 1usize;
    let mut rec_line = 1usize;
    let mut fields = 1usize;
    let mut quoted = false;
    let mut empty = true;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => fields += 1,
            b'\n' if !quoted => {
                if rec_line > 1 && !empty && fields != n {
                    return Some((rec_line, fields));
                }
                line += 1;
                rec_line = line;
                fields = 1;
                empty = true;
                i += 1;
                continue;
            }
            b'\n' => line += 1,
            b'\r' => {}
            _ => {}
        }
        if b != b'\r' {
            empty = false;
        }
        i += 1;
    }
    if rec_line > 1 && !empty && fields != n {
        return Some((rec_line, fields));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        assert_eq!(split_csv_line("a,\"b,c\",\"d\"\"e\"\r"), vec!["a", "b,c", "d\"e"]);
    }

    #[test]
    fn finds_the_ragged_line() {
        assert_eq!(ragged_line("a,b\n1,2\n3\n", 2), Some((3, 1)));
        assert_eq!(ragged_line("a,b\n1,\"x\ny\"\n3,4,5\n", 2), Some((4, 3)));
        assert_eq!(ragged_line("a,b\n1,2\n\n", 2), None);
    }
}
