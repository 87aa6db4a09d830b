//! `metrics/patient_month.parquet` (SPEC §6.4): the patient × clinic × month
//! analytic file, one long polars frame built from the interval engine's
//! rows, sorted by clinic_id, month and patient_id.

use super::clinic_month::EVENT_COLUMNS;
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

/// The file's rows as a lazy query over the engine's facts (of the computed
/// `months`): the last `w` months, rows where the patient is attributed and
/// has an opioid or buprenorphine day or is excluded, SPEC §6.4's columns
/// (`daily_mme` empty without opioid days), still with index keys.
pub fn query(facts: LazyFrame, months: usize, w: usize, cfg: &MetricsConfig) -> LazyFrame {
    let from = months.saturating_sub(w) as u32;
    let mut sel = vec![
        col("patient"),
        col("clinic"),
        col("month") - lit(from),
        col("opioid"),
        col("ltot"),
        col("excluded"),
        col("bup"),
        col("ltot_days").cast(DataType::Int64),
    ];
    sel.push(
        when(col("opioid")).then(col("daily_mme")).otherwise(lit(NULL).cast(DataType::Float64)).alias("daily_mme"),
    );
    sel.extend(cfg.threshold_labels().iter().map(|t| col(format!("high_dose_{t}"))));
    sel.push(col("benzo_days").cast(DataType::Int64));
    sel.push(col("sedative_days").cast(DataType::Int64));
    sel.extend(EVENT_COLUMNS.iter().map(|e| col(*e)));
    sel.push(col("new_start"));
    let keep = col("attributed").and(col("opioid").or(col("bup")).or(col("excluded")));
    facts.filter(col("month").gt_eq(lit(from)).and(keep)).select(sel)
}

/// The file's frame: [`query`]'s rows sorted by clinic_id, month and
/// patient_id, with the ids and months as text (`months`: the window's).
pub fn frame(
    data: &Dataset,
    facts: &DataFrame,
    all_months: usize,
    months: &[Month],
    cfg: &MetricsConfig,
) -> Result<DataFrame> {
    let fail = |e: PolarsError| Error::Report { what: "patient_month".into(), message: e.to_string() };
    let df = query(facts.clone().lazy(), all_months, months.len(), cfg).collect().map_err(fail)?;
    let prank = ranks((0..data.patients.len()).map(|i| data.patients.name(i as u32).to_string()));
    let crank = ranks(data.clinics.iter().map(|c| c.id.clone()));
    let key = |name: &str| -> PolarsResult<Vec<u32>> { Ok(df.column(name)?.u32()?.into_no_null_iter().collect()) };
    let (p, c, m) = (key("patient").map_err(fail)?, key("clinic").map_err(fail)?, key("month").map_err(fail)?);
    let mut order: Vec<u32> = (0..df.height() as u32).collect();
    order.par_sort_unstable_by_key(|&i| {
        let i = i as usize;
        (crank[c[i] as usize], m[i], prank[p[i] as usize])
    });
    let mut df = df.take(&IdxCa::from_vec("".into(), order.clone())).map_err(fail)?;
    let pick = |v: &[u32]| -> Vec<u32> { order.iter().map(|&i| v[i as usize]).collect() };
    let (p, c, m) = (pick(&p), pick(&c), pick(&m));
    let month_text: Vec<String> = months.iter().map(|m| m.to_string()).collect();
    // The text columns are most of the cost: built side by side.
    let (patient, (clinic, month)) = rayon::join(
        || text("patient_id", &p, |i| data.patients.name(i)),
        || {
            rayon::join(
                || text("clinic_id", &c, |i| data.clinics[i as usize].id.as_str()),
                || text("month", &m, |i| month_text[i as usize].as_str()),
            )
        },
    );
    df.replace("patient", patient).map_err(fail)?;
    df.replace("clinic", clinic).map_err(fail)?;
    df.replace("month", month).map_err(fail)?;
    df.rename("patient", "patient_id".into()).map_err(fail)?;
    df.rename("clinic", "clinic_id".into()).map_err(fail)?;
    Ok(df)
}

/// A text column from index keys, built in parallel.
fn text<'a>(name: &str, keys: &[u32], f: impl Fn(u32) -> &'a str + Sync) -> Column {
    Column::new(name.into(), keys.par_iter().map(|&k| f(k)).collect::<Vec<&str>>())
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
