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
    /// A CSV file's own reading plan (see [`TableSource::for_each_batch`]).
    csv: Option<CsvPlan>,
    pub extra_columns: Vec<String>,
}

/// How a CSV file is read batch by batch: its bytes after the header, the
/// all-text schema of its header, and the selection of the spec's columns.
struct CsvPlan {
    data_start: u64,
    schema: SchemaRef,
    columns: Vec<Expr>,
}

/// Bytes per row assumed when a batch size in rows becomes one in bytes
/// (a prescription row of the synthetic data is about 77 bytes).
const BYTES_PER_ROW: usize = 64;

impl TableSource {
    /// Read rows `offset .. offset + len` as text columns.
    pub fn batch(&self, offset: usize, len: usize) -> Result<RawTable> {
        let df = self
            .lf
            .clone()
            .slice(offset as i64, len.min(IdxSize::MAX as usize) as IdxSize)
            .collect()
            .map_err(|e| self.read_error(e))?;
        Ok(RawTable::new(&self.path, offset, df, self.extra_columns.clone()))
    }

    /// A polars read error as an input error: for a CSV file with the
    /// offending line when it can be found.
    fn read_error(&self, e: PolarsError) -> Error {
        if self.csv_fields > 0 {
            diagnose_csv(&self.path, self.csv_fields, e)
        } else {
            Error::input(&self.path, None, None, format!("cannot read as Parquet: {e}"))
        }
    }

    /// Hand the frames to `f` in order as tables numbered from the first
    /// data row (empty frames skipped), until one fails or `f` does.
    fn feed(
        &self,
        frames: impl Iterator<Item = Result<DataFrame>>,
        mut f: impl FnMut(&RawTable) -> Result<()>,
    ) -> Result<()> {
        let mut offset = 0;
        for df in frames {
            let t = RawTable::new(&self.path, offset, df?, self.extra_columns.clone());
            offset += t.height();
            if t.height() > 0 {
                f(&t)?;
            }
        }
        Ok(())
    }

    /// Every row, batch by batch (about `batch_rows` rows at a time), in
    /// file order, read once on a thread of its own: a CSV file in pieces
    /// of whole lines that polars parses from memory, a Parquet file by
    /// polars' streaming engine.
    pub fn for_each_batch(&self, batch_rows: usize, f: impl FnMut(&RawTable) -> Result<()>) -> Result<()> {
        match &self.csv {
            Some(plan) => self.csv_batches(plan, batch_rows.saturating_mul(BYTES_PER_ROW).max(1), f),
            None => self.streamed_batches(batch_rows, f),
        }
    }

    /// The rows of a CSV file, read in pieces of about `piece` bytes cut
    /// after a line end outside quotes. (polars' own CSV scan maps the whole
    /// file into memory, and every page it has read stays resident: 0.4 GB
    /// of the run's peak at 1,000 clinics.)
    fn csv_batches(&self, plan: &CsvPlan, piece: usize, f: impl FnMut(&RawTable) -> Result<()>) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<PolarsResult<DataFrame>>(1);
        let path = self.path.clone();
        let (start, schema, columns) = (plan.data_start, plan.schema.clone(), plan.columns.clone());
        let reader = std::thread::spawn(move || {
            pieces(&path, start, piece, |bytes| tx.send(parse_piece(bytes, &schema, &columns)).is_ok())
        });
        let result = self.feed(rx.iter().map(|df| df.map_err(|e| self.read_error(e))), f);
        drop(rx);
        let read = reader.join().unwrap_or_else(|_| Err(std::io::Error::other("the reader thread panicked")));
        result?;
        read.map_err(|e| Error::io("cannot read", &self.path, e))
    }

    /// Every row of a Parquet file through polars' streaming engine.
    fn streamed_batches(&self, batch_rows: usize, f: impl FnMut(&RawTable) -> Result<()>) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(1);
        // The callback returns `true` (stop) once the receiver is gone.
        let lf = self
            .lf
            .clone()
            .sink_batches(
                PlanCallback::new(move |df: DataFrame| Ok(tx.send(df).is_err())),
                true,
                std::num::NonZeroUsize::new(batch_rows),
            )
            .map_err(|e| self.read_error(e))?;
        let reader = std::thread::spawn(move || lf.collect_with_engine(Engine::Streaming).map(|_| ()));
        let result = self.feed(rx.iter().map(Ok), f);
        drop(rx);
        let read =
            reader.join().unwrap_or_else(|_| Err(PolarsError::ComputeError("the reader thread panicked".into())));
        result?;
        read.map_err(|e| self.read_error(e))
    }
}

/// Read the file from byte `start` in pieces of whole lines, about `piece`
/// bytes each (longer when one line is), and hand each to `send` until it
/// returns `false`. A line end inside double quotes does not end a line.
fn pieces(path: &Path, start: u64, piece: usize, mut send: impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut buf: Vec<u8> = Vec::with_capacity(piece + piece / 4);
    loop {
        let n = (&mut file).take(piece as u64).read_to_end(&mut buf)?;
        let cut = if n == 0 { Some(buf.len()) } else { last_line_end(&buf) };
        let Some(cut) = cut else { continue };
        if cut > 0 && !send(&buf[..cut]) {
            return Ok(());
        }
        if n == 0 {
            return Ok(());
        }
        buf.drain(..cut);
    }
}

/// The length of the longest prefix of `buf` that ends with a line end
/// outside double quotes (`buf` starts at a line start), `None` when there
/// is none.
fn last_line_end(buf: &[u8]) -> Option<usize> {
    if !buf.contains(&b'"') {
        return buf.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
    }
    let (mut quoted, mut cut) = (false, None);
    for (i, &b) in buf.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => cut = Some(i + 1),
            _ => {}
        }
    }
    cut
}

/// One piece of whole lines as text columns, the spec's columns selected.
fn parse_piece(bytes: &[u8], schema: &SchemaRef, columns: &[Expr]) -> PolarsResult<DataFrame> {
    let df = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(schema.clone()))
        .with_raise_if_empty(false)
        .into_reader_with_file_handle(std::io::Cursor::new(bytes))
        .finish()?;
    df.lazy().select(columns).collect()
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
    let first_len = first.len();
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
    let schema = Arc::new(schema);
    let lf = LazyCsvReader::new(pl_path)
        .with_has_header(true)
        .with_schema(Some(schema.clone()))
        .finish()
        .map_err(|e| diagnose_csv(path, header.len(), e))?
        .select(exprs.clone());
    let csv = Some(CsvPlan { data_start: first_len as u64, schema, columns: exprs });
    Ok(TableSource { path: path.to_path_buf(), lf, csv_fields: header.len(), csv, extra_columns: extra })
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
    Ok(TableSource { path: path.to_path_buf(), lf: lf.select(exprs), csv_fields: 0, csv: None, extra_columns: extra })
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

    #[test]
    fn a_piece_ends_at_the_last_line_end_outside_quotes() {
        assert_eq!(last_line_end(b"a,b\nc,d\ne,"), Some(8));
        assert_eq!(last_line_end(b"a,b\nc,d\n"), Some(8));
        assert_eq!(last_line_end(b"a,b"), None);
        // The line end inside "x\ny" is part of a field.
        assert_eq!(last_line_end(b"1,2\n3,\"x\ny"), Some(4));
        assert_eq!(last_line_end(b"1,2\n3,\"x\ny\"\n4"), Some(12));
        // A doubled quote inside a quoted field keeps it open.
        assert_eq!(last_line_end(b"1,\"a\"\"\nb"), None);
        assert_eq!(last_line_end(b"1,\"a\"\"\nb\"\n"), Some(10));
    }

    /// The rows of `text` read in pieces of about `piece` bytes.
    fn pieces_of(text: &str, piece: usize) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, text).unwrap();
        let mut got = Vec::new();
        pieces(&p, 4, piece, |b| {
            got.push(String::from_utf8(b.to_vec()).unwrap());
            true
        })
        .unwrap();
        got
    }

    #[test]
    fn pieces_are_whole_lines_and_nothing_is_lost() {
        let body = "1,\"x\ny\"\n22,3\n4,55555555\n6,7";
        let text = format!("a,b\n{body}");
        for piece in [1, 2, 5, 9, 100] {
            let got = pieces_of(&text, piece);
            assert_eq!(got.concat(), body, "piece {piece}");
            for g in &got[..got.len() - 1] {
                assert!(g.ends_with('\n') && last_line_end(g.as_bytes()) == Some(g.len()), "{piece}: {g:?}");
            }
        }
        assert_eq!(pieces_of(&text, 9), vec!["1,\"x\ny\"\n", "22,3\n", "4,55555555\n", "6,7"]);
        assert_eq!(pieces_of("a,b\n", 8), Vec::<String>::new());
    }

    #[test]
    fn a_csv_read_in_small_batches_gives_every_row_once_with_its_row_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "\u{feff}clinic_id,extra,arm\nC1,\"q\nq\",intervention\nC2,,comparison\r\nC3,z,x").unwrap();
        let src = open_csv(&p, &[req("clinic_id"), req("arm")]).unwrap();
        let mut rows = Vec::new();
        src.for_each_batch(1, |t| {
            let (c, a) = (t.column("clinic_id").unwrap(), t.column("arm").unwrap());
            for i in 0..t.height() {
                rows.push((t.offset + i + 1, c.get(i).unwrap().to_string(), a.get(i).unwrap_or("").to_string()));
            }
            Ok(())
        })
        .unwrap();
        let want = [(1, "C1", "intervention"), (2, "C2", "comparison"), (3, "C3", "x")];
        let want: Vec<(usize, String, String)> =
            want.iter().map(|(n, c, a)| (*n, c.to_string(), a.to_string())).collect();
        assert_eq!(rows, want);
    }

    /// Every row as (row number, every column's text), read batch by batch.
    fn rows_in_batches(src: &TableSource, batch_rows: usize) -> Vec<(usize, Vec<Option<String>>)> {
        let mut rows = Vec::new();
        src.for_each_batch(batch_rows, |t| {
            for i in 0..t.height() {
                let cells = t.df.columns().iter().map(|c| c.str().unwrap().get(i).map(String::from)).collect();
                rows.push((t.offset + i + 1, cells));
            }
            Ok(())
        })
        .unwrap();
        rows
    }

    #[test]
    fn pieces_read_like_polars_reads_the_whole_file() {
        // Blank lines, quoted line ends and quotes, short and long rows, CRLF, no final line end.
        let mut text = String::from("clinic_id,arm\n");
        for i in 0..40 {
            match i % 5 {
                0 => text.push_str(&format!("C{i},\"two\nlines\"\n")),
                1 => text.push('\n'),
                2 => text.push_str(&format!("C{i},{}\r\n", "x".repeat(i * 3))),
                _ => text.push_str(&format!("C{i},\"a,\"\"b\"\"\"\n")),
            }
        }
        text.push_str("C99,last");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, &text).unwrap();
        let src = open_csv(&p, &[req("clinic_id"), req("arm")]).unwrap();
        let whole = src.batch(0, usize::MAX).unwrap();
        let want: Vec<(usize, Vec<Option<String>>)> = (0..whole.height())
            .map(|i| (i + 1, whole.df.columns().iter().map(|c| c.str().unwrap().get(i).map(String::from)).collect()))
            .collect();
        assert!(want.len() > 30, "{}", want.len());
        for batch_rows in [1, 2, 3, 5, 1 << 18] {
            assert_eq!(rows_in_batches(&src, batch_rows), want, "batch_rows {batch_rows}");
        }
    }
}
