//! `metrics/clinic_month` (SPEC §3, §4, §6.2): the clinic × month counts.
//!
//! Two layers. The interval engine ([`super::prescribing`]) turns each
//! patient's rows into facts, one [`PatientMonthRow`] per patient × clinic ×
//! month; [`facts_frame`] makes them one long polars frame. Everything above
//! that grain is a polars query: [`clinic_month`] groups the facts by clinic
//! and month (which rows count for which measure is written there, once);
//! [`table`] adds the ids, means and exact percentages of the output file.
//! [`Cell`] is a typed row of the counts for the code that reads one clinic
//! and month at a time.

use super::prescribing::{patient_month_rows, PatientIndex, PatientMonthRow};
use crate::config::MetricsConfig;
use crate::dates::Month;
use crate::error::{Error, Result};
use crate::measures::{registry, Denominator, MeasureDef, MeasureKey, Section};
use crate::model::{Dataset, EventType};
use polars::prelude::*;

/// Event columns of the facts, in [`EventType::ALL`] order.
pub const EVENT_COLUMNS: [&str; 5] = ["agreement", "udt", "pdmp", "functional", "naloxone"];

/// The plain counts of clinic_month that are not a measure's numerator, in
/// [`Cell::counts`] order after the first two.
const COUNTS: [&str; 5] = ["bup_patients", "excluded_patients", "at_risk_patients", "new_starts", "new_starts_3mo_ago"];

/// The field of a [`Cell`] that holds a measure's numerator, borrowed with
/// `&` or `&mut` (the one list of which field is which measure's).
macro_rules! numerator_field {
    ($cell:ident, $key:expr, $($borrow:tt)+) => {{
        use MeasureKey::*;
        match $key {
            HighDose(k) => $($borrow)+ $cell.high_dose[k],
            BenzoOverlap => $($borrow)+ $cell.benzo_overlap,
            Agreement => $($borrow)+ $cell.agreement,
            Udt => $($borrow)+ $cell.udt,
            Pdmp => $($borrow)+ $cell.pdmp,
            Functional => $($borrow)+ $cell.functional,
            Naloxone => $($borrow)+ $cell.naloxone,
            SedativeOverlap => $($borrow)+ $cell.sedative_overlap,
            NaloxoneAtRisk => $($borrow)+ $cell.naloxone_at_risk,
            NewStartShort => $($borrow)+ $cell.new_start_short,
            NewStartLong => $($borrow)+ $cell.new_start_long,
            NewStartErLa => $($borrow)+ $cell.new_start_er_la,
            NewStartHighDose => $($borrow)+ $cell.new_start_high_dose,
            LtotTransition => $($borrow)+ $cell.ltot_transition,
        }
    }};
}

/// Counts for one clinic and month: a row of the [`clinic_month`] query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub opioid_patients: u32,
    pub ltot_patients: u32,
    /// Sum of LTOT patients' values (for the mean).
    pub mme_sum: f64,
    pub high_dose: Vec<u32>,
    pub benzo_overlap: u32,
    pub agreement: u32,
    pub udt: u32,
    pub pdmp: u32,
    pub functional: u32,
    pub naloxone: u32,
    pub bup_patients: u32,
    pub excluded_patients: u32,
    pub sedative_overlap: u32,
    pub at_risk_patients: u32,
    pub naloxone_at_risk: u32,
    pub new_starts: u32,
    pub new_start_short: u32,
    pub new_start_long: u32,
    pub new_start_er_la: u32,
    pub new_start_high_dose: u32,
    pub new_starts_3mo_ago: u32,
    pub ltot_transition: u32,
}

impl Cell {
    /// Mean daily MME of LTOT patients (unrounded), `None` without LTOT patients.
    pub fn mean_daily_mme(&self) -> Option<f64> {
        (self.ltot_patients > 0).then(|| self.mme_sum / self.ltot_patients as f64)
    }
    /// A measure's numerator.
    pub fn num(&self, key: MeasureKey) -> u32 {
        *numerator_field!(self, key, &)
    }
    /// A denominator (`i50`: the index of threshold 50).
    pub fn den(&self, d: Denominator, i50: usize) -> u32 {
        match d {
            Denominator::LtotPatients => self.ltot_patients,
            Denominator::HighDose50 => self.high_dose[i50],
            Denominator::AtRiskPatients => self.at_risk_patients,
            Denominator::NewStarts => self.new_starts,
            Denominator::NewStarts3moAgo => self.new_starts_3mo_ago,
        }
    }
    /// The field a measure's numerator is read into.
    fn num_mut(&mut self, key: MeasureKey) -> &mut u32 {
        numerator_field!(self, key, &mut)
    }
    /// The plain counts, named by [`COUNTS`] after the first two.
    fn counts_mut(&mut self) -> [&mut u32; 7] {
        [
            &mut self.opioid_patients,
            &mut self.ltot_patients,
            &mut self.bup_patients,
            &mut self.excluded_patients,
            &mut self.at_risk_patients,
            &mut self.new_starts,
            &mut self.new_starts_3mo_ago,
        ]
    }
}

/// The clinic × month counts of the computed months, read from the
/// [`clinic_month`] query, and the query's frame itself.
pub struct PrescribingMetrics {
    pub months: Vec<Month>,
    /// `cells[clinic * months.len() + k]`.
    pub cells: Vec<Cell>,
    /// Index of threshold 50 in the threshold list.
    pub i50: usize,
    /// The counts frame: `clinic` (dataset index), `clinic_id`, `arm`,
    /// `month` (index into `months`), clinic_month's count columns and
    /// `mme_sum`, every clinic × month in clinic_id and month order.
    pub counts: DataFrame,
}

impl PrescribingMetrics {
    pub fn cell(&self, clinic: usize, k: usize) -> &Cell {
        &self.cells[clinic * self.months.len() + k]
    }

    /// From cells alone (hand-made examples): the counts frame is built from
    /// them (`labels`: the high-dose threshold labels of the cells).
    pub fn from_cells(months: Vec<Month>, cells: Vec<Cell>, i50: usize, labels: &[String]) -> PrescribingMetrics {
        let w = months.len();
        let mut cols = vec![
            Column::new("clinic".into(), (0..cells.len()).map(|i| (i / w) as u32).collect::<Vec<u32>>()),
            Column::new(
                "clinic_id".into(),
                (0..cells.len()).map(|i| format!("C{:04}", i / w)).collect::<Vec<String>>(),
            ),
            Column::new("month".into(), (0..cells.len()).map(|i| (i % w) as u32).collect::<Vec<u32>>()),
            Column::new("mme_sum".into(), cells.iter().map(|c| c.mme_sum).collect::<Vec<f64>>()),
        ];
        let names = ["opioid_patients", "ltot_patients"].into_iter().chain(COUNTS);
        for (j, name) in names.enumerate() {
            let v: Vec<i64> = cells.iter().map(|c| *c.clone().counts_mut()[j] as i64).collect();
            cols.push(Column::new(name.into(), v));
        }
        for d in registry(labels) {
            let num = |c: &Cell| match d.key {
                MeasureKey::HighDose(k) => c.high_dose.get(k).copied().unwrap_or(0),
                key => c.num(key),
            };
            let v: Vec<i64> = cells.iter().map(|c| num(c) as i64).collect();
            cols.push(Column::new(format!("{}_n", d.stem).into(), v));
        }
        let counts = DataFrame::new_infer_height(cols).expect("equal lengths");
        PrescribingMetrics { months, cells, i50, counts }
    }

    /// The last `w` months only (each cell depends on its own month alone,
    /// so a longer computation restricted to the window is the window's).
    pub fn tail(&self, w: usize) -> PrescribingMetrics {
        let n = self.months.len();
        let w = w.min(n);
        let clinics = self.cells.len().checked_div(n).unwrap_or(0);
        let mut cells = Vec::with_capacity(clinics * w);
        for c in 0..clinics {
            cells.extend_from_slice(&self.cells[c * n + (n - w)..(c + 1) * n]);
        }
        let from = (n - w) as u32;
        let counts = self
            .counts
            .clone()
            .lazy()
            .filter(col("month").gt_eq(lit(from)))
            .with_column((col("month") - lit(from)).alias("month"))
            .collect()
            .expect("the counts frame has a month column");
        PrescribingMetrics { months: self.months[n - w..].to_vec(), cells, i50: self.i50, counts }
    }
}

fn fail(what: &str) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Report { what: what.into(), message: e.to_string() }
}

/// The facts frame of a batch of rows: `patient`, `clinic`, `month`
/// (indices), the flags of [`PatientMonthRow`] (the new start's attributes
/// as `new_start_short`, `_long`, `_er_la`, `_high_dose`), the daily MME,
/// and the sedative overlaps as flags (`benzo_overlap`, `sedative_overlap`:
/// at least `benzo_overlap_min_days` days; flags, not day counts, keep the
/// 5.2 M rows of 1,000 clinics 60 MB smaller).
pub fn facts_frame(rows: &[PatientMonthRow], cfg: &MetricsConfig) -> PolarsResult<DataFrame> {
    let b = |name: &str, f: &dyn Fn(&PatientMonthRow) -> bool| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<bool>>())
    };
    let u = |name: &str, f: &dyn Fn(&PatientMonthRow) -> u32| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<u32>>())
    };
    let mut cols = vec![
        u("patient", &|r| r.patient),
        u("clinic", &|r| r.clinic),
        u("month", &|r| r.month as u32),
        b("attributed", &|r| r.attributed),
        b("opioid", &|r| r.opioid),
        b("ltot", &|r| r.ltot),
        b("excluded", &|r| r.excluded),
        b("bup", &|r| r.bup),
        Column::new("daily_mme".into(), rows.iter().map(|r| r.daily_mme).collect::<Vec<f64>>()),
    ];
    for (k, t) in cfg.threshold_labels().iter().enumerate() {
        cols.push(b(&format!("high_dose_{t}"), &|r| r.high_dose & (1 << k) != 0));
    }
    let min_days = cfg.benzo_overlap_min_days;
    cols.push(b("benzo_overlap", &|r| r.benzo_days as u32 >= min_days));
    cols.push(b("sedative_overlap", &|r| r.sedative_days as u32 >= min_days));
    debug_assert_eq!(EventType::ALL.len(), EVENT_COLUMNS.len());
    for (k, name) in EVENT_COLUMNS.iter().enumerate() {
        cols.push(b(name, &|r| r.events & (1 << k) != 0));
    }
    cols.push(b("new_start", &|r| r.new_start.is_some()));
    cols.push(b("new_start_short", &|r| r.new_start.is_some_and(|n| n.short)));
    cols.push(b("new_start_long", &|r| r.new_start.is_some_and(|n| n.long)));
    cols.push(b("new_start_er_la", &|r| r.new_start.is_some_and(|n| n.er_la)));
    cols.push(b("new_start_high_dose", &|r| r.new_start.is_some_and(|n| n.high_dose)));
    cols.push(b("new_start_3mo_ago", &|r| r.new_start_3mo_ago));
    DataFrame::new_infer_height(cols)
}

/// Run the interval engine over `months` and stack its rows into one facts
/// frame (a batch per chunk of patients, in patient order).
pub fn facts(index: &PatientIndex, months: &[Month], cfg: &MetricsConfig) -> Result<DataFrame> {
    facts_and_file_rows(index, months, cfg, months.len()).map(|f| f.0)
}

/// [`facts`], and the rows of `metrics/patient_month.parquet` (SPEC §6.4)
/// for the months from index `file_from`: attributed, with an opioid or
/// buprenorphine day or excluded, their month counted from `file_from`
/// (kept as rows: sorting the rows once and writing each column in one pass
/// is cheaper than gathering the frame's columns in the file's order).
pub fn facts_and_file_rows(
    index: &PatientIndex,
    months: &[Month],
    cfg: &MetricsConfig,
    file_from: usize,
) -> Result<(DataFrame, Vec<PatientMonthRow>)> {
    let in_file =
        |r: &PatientMonthRow| r.month as usize >= file_from && r.attributed && (r.opioid || r.bup || r.excluded);
    let batches = patient_month_rows(index, months, cfg, |rows| {
        let frame = facts_frame(&rows, cfg);
        let keep: Vec<PatientMonthRow> = rows.into_iter().filter(in_file).collect();
        (frame, keep)
    });
    let mut out = facts_frame(&[], cfg).map_err(fail("patient-month facts"))?;
    let mut file_rows = Vec::with_capacity(batches.iter().map(|b| b.1.len()).sum());
    for (i, (frame, keep)) in batches.into_iter().enumerate() {
        out.vstack_mut_owned(frame.map_err(fail("patient-month facts"))?).map_err(fail("patient-month facts"))?;
        file_rows.extend(keep.into_iter().map(|mut r| {
            r.month -= file_from as u16;
            r
        }));
        if i % 64 == 63 {
            crate::memory::release();
        }
    }
    Ok((out, file_rows))
}

/// A patient counted at the clinic in the month: attributed and not excluded.
fn counted() -> Expr {
    col("attributed").and(col("excluded").not())
}

/// A counted opioid patient on long-term therapy: the population of the
/// section 3 measures.
fn counted_ltot() -> Expr {
    counted().and(col("opioid")).and(col("ltot"))
}

/// At ≥ 50 MME/day or with benzodiazepine overlap (SPEC §6.2).
fn at_risk() -> Expr {
    col("high_dose_50").or(col("benzo_overlap"))
}

/// Which facts rows a measure's numerator counts.
fn numerator(key: MeasureKey, labels: &[String]) -> Expr {
    use MeasureKey::*;
    let lt = counted_ltot();
    match key {
        HighDose(k) => lt.and(col(format!("high_dose_{}", labels[k]))),
        BenzoOverlap => lt.and(col("benzo_overlap")),
        Agreement | Udt | Pdmp | Functional => lt.and(col(EVENT_COLUMNS[event_of(key).index()])),
        Naloxone => lt.and(col("high_dose_50")).and(col("naloxone")),
        SedativeOverlap => lt.and(col("sedative_overlap")),
        NaloxoneAtRisk => lt.and(at_risk()).and(col("naloxone")),
        NewStartShort => col("new_start_short"),
        NewStartLong => col("new_start_long"),
        NewStartErLa => col("new_start_er_la"),
        NewStartHighDose => col("new_start_high_dose"),
        LtotTransition => col("new_start_3mo_ago").and(col("excluded").not()).and(col("ltot")),
    }
}

/// The care event a process measure counts.
fn event_of(key: MeasureKey) -> EventType {
    match key {
        MeasureKey::Agreement => EventType::PatientAgreement,
        MeasureKey::Udt => EventType::UrineDrugTest,
        MeasureKey::Pdmp => EventType::PdmpCheck,
        MeasureKey::Functional => EventType::FunctionalAssessment,
        other => unreachable!("{other:?} counts no care event"),
    }
}

/// Which facts rows a plain count of [`COUNTS`] counts.
fn count_of(name: &str) -> Expr {
    match name {
        "bup_patients" => col("attributed").and(col("bup")),
        "excluded_patients" => col("attributed").and(col("excluded")).and(col("opioid")),
        "at_risk_patients" => counted_ltot().and(at_risk()),
        "new_starts" => col("new_start"),
        "new_starts_3mo_ago" => col("new_start_3mo_ago").and(col("excluded").not()),
        other => unreachable!("{other} is not one of COUNTS"),
    }
}

/// The sum of a float column in row order, left to right (a running sum's
/// last value): polars' `sum` adds in blocks, so its last bits depend on the
/// grouping; this one is the same whatever the threads and chunks, and is
/// the plain sequential sum the earlier cell loops computed.
pub fn seq_sum(e: Expr) -> Expr {
    e.cum_sum(false).last()
}

/// A count of the rows where `e` holds, as a 64-bit integer.
fn n(e: Expr) -> Expr {
    e.cast(DataType::UInt32).sum().cast(DataType::Int64)
}

/// `clinic_month` as a lazy query: the facts grouped by clinic and month,
/// every count of SPEC §3 and §6.2 and the unrounded MME sum of the LTOT
/// patients, on the grid of every clinic × month (a clinic without rows in
/// a month has zeros). `grid` has `clinic` and `month` in output order.
pub fn clinic_month(facts: LazyFrame, grid: LazyFrame, cfg: &MetricsConfig) -> LazyFrame {
    on_grid(grid, sums(facts, cfg), cfg)
}

/// The counts of the clinic-months that have facts rows.
fn sums(facts: LazyFrame, cfg: &MetricsConfig) -> LazyFrame {
    let labels = cfg.threshold_labels();
    let mut aggs = vec![
        n(counted().and(col("opioid"))).alias("opioid_patients"),
        n(counted_ltot()).alias("ltot_patients"),
        seq_sum(col("daily_mme").filter(counted_ltot())).alias("mme_sum"),
    ];
    for c in COUNTS {
        aggs.push(n(count_of(c)).alias(c));
    }
    for d in registry(&labels) {
        aggs.push(n(numerator(d.key, &labels)).alias(format!("{}_n", d.stem)));
    }
    facts.group_by([col("clinic"), col("month")]).agg(aggs)
}

/// [`sums`] on the grid of every clinic × month, zeros where a clinic had
/// no rows.
fn on_grid(grid: LazyFrame, sums: LazyFrame, cfg: &MetricsConfig) -> LazyFrame {
    let by = [col("clinic"), col("month")];
    let args = JoinArgs { maintain_order: MaintainOrderJoin::Left, ..JoinArgs::new(JoinType::Left) };
    let mut zero = vec![col("mme_sum").fill_null(lit(0.0))];
    zero.extend(count_names(cfg).iter().map(|c| col(c.as_str()).fill_null(lit(0i64))));
    grid.join(sums, by.clone(), by, args).with_columns(zero)
}

/// Every integer count column of the [`clinic_month`] query.
fn count_names(cfg: &MetricsConfig) -> Vec<String> {
    let mut v: Vec<String> = ["opioid_patients", "ltot_patients"].into_iter().chain(COUNTS).map(String::from).collect();
    v.extend(registry(&cfg.threshold_labels()).iter().map(|d| format!("{}_n", d.stem)));
    v
}

/// The grid of every clinic (in clinic-id order, with its id and arm) ×
/// month index.
fn grid(data: &Dataset, w: usize) -> DataFrame {
    let order = super::study::clinic_order(data);
    let clinic: Vec<u32> = order.iter().flat_map(|&c| std::iter::repeat_n(c as u32, w)).collect();
    let month: Vec<u32> = order.iter().flat_map(|_| 0..w as u32).collect();
    let ids: Vec<&str> = clinic.iter().map(|&c| data.clinics[c as usize].id.as_str()).collect();
    let arms: Vec<&str> = clinic.iter().map(|&c| data.clinics[c as usize].arm.as_str()).collect();
    df!("clinic" => &clinic, "clinic_id" => ids, "arm" => arms, "month" => month).expect("equal lengths")
}

/// Compute the counts of every clinic × month of `months` from the facts.
pub fn from_facts(
    data: &Dataset,
    facts: &DataFrame,
    months: &[Month],
    cfg: &MetricsConfig,
) -> Result<PrescribingMetrics> {
    let i50 = cfg.high_dose_thresholds.iter().position(|t| *t == 50.0).expect("50 is always a threshold");
    let counts = on_grid(grid(data, months.len()).lazy(), partitioned_sums(facts, months.len(), cfg)?.lazy(), cfg)
        .collect()
        .map_err(fail("clinic_month"))?;
    let cells = cells_of(&counts, data.clinics.len(), months.len(), cfg).map_err(fail("clinic_month"))?;
    Ok(PrescribingMetrics { months: months.to_vec(), cells, i50, counts })
}

/// Months grouped at a time by [`partitioned_sums`].
const MONTHS_PER_PART: usize = 4;

/// [`sums`] a few months at a time: a clinic-month's rows all fall in one
/// part, in the same order, so the counts and sums are those of one
/// group-by over every row; the group-by's working memory (0.4 GB over the
/// 5.2 M rows of 1,000 clinics) is a part's.
fn partitioned_sums(facts: &DataFrame, n_months: usize, cfg: &MetricsConfig) -> Result<DataFrame> {
    let part = |from: usize| {
        let (from, to) = (from as u32, (from + MONTHS_PER_PART) as u32);
        let rows = facts.clone().lazy().filter(col("month").gt_eq(lit(from)).and(col("month").lt(lit(to))));
        sums(rows, cfg).collect()
    };
    let mut parts = (0..n_months.max(1)).step_by(MONTHS_PER_PART).map(part);
    let mut out = parts.next().expect("at least one part").map_err(fail("clinic_month"))?;
    for df in parts {
        out.vstack_mut_owned(df.map_err(fail("clinic_month"))?).map_err(fail("clinic_month"))?;
    }
    Ok(out)
}

/// Compute every clinic × month cell of the window (engine, then query).
pub fn compute(data: &Dataset, months: &[Month], cfg: &MetricsConfig) -> PrescribingMetrics {
    let facts = facts(&PatientIndex::new(data), months, cfg).expect("facts frame");
    from_facts(data, &facts, months, cfg).expect("clinic_month query")
}

/// The counts frame read into cells, `cells[clinic * w + month]`.
fn cells_of(counts: &DataFrame, n_clinics: usize, w: usize, cfg: &MetricsConfig) -> PolarsResult<Vec<Cell>> {
    let nt = cfg.high_dose_thresholds.len();
    let mut cells = vec![Cell { high_dose: vec![0; nt], ..Default::default() }; n_clinics * w];
    let ints = |name: &str| -> PolarsResult<Vec<u32>> {
        Ok(counts.column(name)?.i64()?.into_no_null_iter().map(|v| v as u32).collect())
    };
    let at: Vec<usize> = {
        let c = counts.column("clinic")?.u32()?;
        let m = counts.column("month")?.u32()?;
        c.into_no_null_iter().zip(m.into_no_null_iter()).map(|(c, m)| c as usize * w + m as usize).collect()
    };
    let mme = counts.column("mme_sum")?.f64()?;
    for (i, v) in mme.into_no_null_iter().enumerate() {
        cells[at[i]].mme_sum = v;
    }
    let names = ["opioid_patients", "ltot_patients"].into_iter().chain(COUNTS);
    for (j, name) in names.enumerate() {
        for (i, v) in ints(name)?.into_iter().enumerate() {
            *cells[at[i]].counts_mut()[j] = v;
        }
    }
    for d in registry(&cfg.threshold_labels()) {
        for (i, v) in ints(&format!("{}_n", d.stem))?.into_iter().enumerate() {
            *cells[at[i]].num_mut(d.key) = v;
        }
    }
    Ok(cells)
}

/// `100 × n ÷ d` rounded half away from zero to 1 decimal, exactly, as a
/// polars expression on integer columns; null when `d` is 0. The tenths are
/// ⌊(2000 n + d) ÷ 2d⌋: the float quotient truncated (polars' integer
/// `floor_div` needs a feature this build leaves out). It is exact while
/// counts stay below 2^24: a quotient that is not an integer is at least
/// 1 ÷ 2d away from one, far more than a double's rounding error. The ÷ 10
/// is left to [`round1_columns`] after the query.
pub fn pct_expr(n: Expr, d: Expr) -> Expr {
    let num = (lit(2000i64) * n + d.clone()).cast(DataType::Float64);
    let tenths = (num / (lit(2i64) * d.clone()).cast(DataType::Float64)).cast(DataType::Int64);
    when(d.gt(lit(0i64))).then(tenths.cast(DataType::Float64) / lit(10.0)).otherwise(lit(NULL).cast(DataType::Float64))
}

/// Round every float column to 1 decimal, half away from zero, after the
/// query (polars' `round` is half to even, and it turns `÷ 10` into `× 0.1`,
/// which is not exact: 428 × 0.1 = 42.800000000000004).
pub fn round1_columns(df: &mut DataFrame, except: &[&str]) -> PolarsResult<()> {
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::Float64 && !except.contains(&c.name().as_str()))
        .map(|c| c.name().clone())
        .collect();
    for n in names {
        let v: Vec<Option<f64>> = df.column(n.as_str())?.f64()?.iter().map(|x| x.map(crate::mme::round1)).collect();
        df.with_column(Column::new(n, v))?;
    }
    Ok(())
}

/// A column group after `mean_daily_mme`: a plain count or a measure.
pub enum Layout<'a> {
    Count(&'static str),
    Measure(&'a MeasureDef),
}

/// Every column group after `mean_daily_mme`, in output order: the section 3
/// measures, `bup_patients`, then the section 6.2 tail.
pub fn layout(defs: &[MeasureDef]) -> Vec<Layout<'_>> {
    use MeasureKey::*;
    let m = |k: MeasureKey| Layout::Measure(defs.iter().find(|d| d.key == k).expect("registered"));
    let mut v: Vec<Layout> = defs.iter().filter(|d| d.section == Section::Core).map(Layout::Measure).collect();
    v.push(Layout::Count("bup_patients"));
    v.extend([
        Layout::Count("excluded_patients"),
        m(SedativeOverlap),
        Layout::Count("at_risk_patients"),
        m(NaloxoneAtRisk),
        Layout::Count("new_starts"),
        m(NewStartShort),
        m(NewStartLong),
        m(NewStartErLa),
        m(NewStartHighDose),
        Layout::Count("new_starts_3mo_ago"),
        m(LtotTransition),
    ]);
    v
}

/// `metrics/clinic_month` for the last `w` computed months: SPEC §4 and
/// §6.2 columns in order, then (for the study-wide query) `arm` and the
/// unrounded `mme_sum`. Percentages and means are rounded after the query.
pub fn table(pm: &PrescribingMetrics, w: usize, cfg: &MetricsConfig) -> Result<DataFrame> {
    let from = pm.months.len().saturating_sub(w) as u32;
    let ltot = col("ltot_patients");
    let mut sel = vec![
        col("clinic_id"),
        col("month"),
        col("opioid_patients"),
        ltot.clone(),
        when(ltot.clone().gt(lit(0i64)))
            .then(col("mme_sum") / ltot.cast(DataType::Float64))
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("mean_daily_mme"),
    ];
    for item in layout(&registry(&cfg.threshold_labels())) {
        match item {
            Layout::Count(name) => sel.push(col(name)),
            Layout::Measure(d) => {
                let n = format!("{}_n", d.stem);
                sel.push(col(n.as_str()));
                sel.push(pct_expr(col(n.as_str()), col(d.denominator.column())).alias(d.pct_column()));
            }
        }
    }
    sel.extend([col("arm"), col("mme_sum")]);
    let mut df = pm
        .counts
        .clone()
        .lazy()
        .filter(col("month").gt_eq(lit(from)))
        .select(sel)
        .collect()
        .map_err(fail("clinic_month"))?;
    round1_columns(&mut df, &["mme_sum"]).map_err(fail("clinic_month"))?;
    let month: Vec<String> = df
        .column("month")
        .and_then(|c| c.u32().cloned())
        .map_err(fail("clinic_month"))?
        .into_no_null_iter()
        .map(|k| pm.months[k as usize].to_string())
        .collect();
    df.replace("month", Column::new("month".into(), month)).map_err(fail("clinic_month"))?;
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_sum_adds_left_to_right_in_row_order() {
        // ((1e16 + 1) − 1e16) + 1: 1e16 + 1 rounds to 1e16, so the sequential
        // sum is 1; any other association gives 0 or 2.
        let df = df!("g" => [0u32, 0, 0, 0, 1], "x" => [1e16, 1.0, -1e16, 1.0, 5.0]).unwrap();
        let out = df
            .lazy()
            .group_by_stable([col("g")])
            .agg([seq_sum(col("x")).alias("s"), seq_sum(col("x").filter(col("x").lt(lit(0.0)))).alias("neg")])
            .collect()
            .unwrap();
        let s: Vec<Option<f64>> = out.column("s").unwrap().f64().unwrap().iter().collect();
        assert_eq!(s, [Some(1.0), Some(5.0)]);
        let neg: Vec<Option<f64>> = out.column("neg").unwrap().f64().unwrap().iter().collect();
        assert_eq!(neg, [Some(-1e16), None], "no rows: null (filled with 0 by the callers)");
    }
}
