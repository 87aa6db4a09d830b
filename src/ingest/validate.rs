//! Row-level validation (SPEC §5): every row is either used or listed in
//! `issues.csv`, and fatal problems stop the run before anything is written.

use super::identifiers::is_identifier_value;
use super::issues::{Action, Issue, Severity, Summary, TableCounts};
use super::read::TextArray;
use super::read::{self, open_table, RawTable, TableSource};
use crate::config::{Config, TableName};
use crate::dates::{parse_date, Day, Month};
use crate::error::{Error, Result};
use crate::mme::daily_mme_with;
use crate::model::*;
use crate::reference::{classify, is_long_acting, DrugClass, FactorRow, Release, Route, Unit};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashSet;
use std::path::PathBuf;

/// The outcome of validation.
pub struct Validated {
    pub data: Dataset,
    /// Every flagged row, in table order then row order.
    pub issues: Vec<Issue>,
    pub summary: Summary,
    /// Each table read and the file it came from.
    pub inputs: Vec<InputFile>,
    /// Rejected rows per table, clinic_id as written and month of the row's
    /// date (rows whose date parsed), with their count per rule.
    pub rejected_by_month: RejectedByMonth,
}

/// Rejected rows by (table, clinic_id, month): (rows, rows per rule).
pub type RejectedByMonth =
    std::collections::BTreeMap<(TableName, String, Month), (usize, std::collections::BTreeMap<Rule, usize>)>;

/// An input file as it was read: its SHA-256 is taken while the rows are
/// parsed, and the file's identity (size, modification time, inode) is
/// checked again once every row has been read, so the hash is of the bytes
/// the metrics came from.
#[derive(Clone, Debug)]
pub struct InputFile {
    pub table: TableName,
    pub path: PathBuf,
    pub sha256: String,
}

/// What changes when a file is rewritten or replaced.
#[derive(Clone, Debug, PartialEq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(p: &std::path::Path) -> Result<FileStamp> {
        let m = std::fs::metadata(p).map_err(|e| Error::io("cannot read", p, e))?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp { len: m.len(), modified: m.modified().ok(), inode })
    }
}

/// An input file being read: its hash is computed on a thread of its own
/// while the rows are parsed (hashing 450 MB takes about 1.6 s).
struct Opening {
    table: TableName,
    path: PathBuf,
    stamp: FileStamp,
    hash: std::thread::JoinHandle<Result<String>>,
}

impl Opening {
    fn start(table: TableName, path: PathBuf) -> Result<Opening> {
        let stamp = FileStamp::of(&path)?;
        let p = path.clone();
        let hash = std::thread::spawn(move || read::sha256_file(&p));
        Ok(Opening { table, path, stamp, hash })
    }
    /// The file as it was read; fails when it changed since it was opened.
    fn finish(self) -> Result<InputFile> {
        let sha256 =
            self.hash.join().unwrap_or_else(|_| Err(Error::input(&self.path, None, None, "hashing failed")))?;
        if FileStamp::of(&self.path)? != self.stamp {
            return Err(changed(&self.path));
        }
        Ok(InputFile { table: self.table, path: self.path, sha256 })
    }
}

fn changed(p: &std::path::Path) -> Error {
    Error::input(p, None, None, "the file changed while sixbb was reading it; run again once the extract is complete")
}

/// The rules of `issues.csv`, by their names there (short aliases below).
pub mod rules {
    pub use crate::ingest::issues::Rule;
    pub const MISSING_VALUE: Rule = Rule::MissingValue;
    pub const UNPARSEABLE_DATE: Rule = Rule::UnparseableDate;
    pub const UNPARSEABLE_NUMBER: Rule = Rule::UnparseableNumber;
    pub const DAYS_SUPPLY_RANGE: Rule = Rule::DaysSupplyRange;
    pub const QUANTITY_NOT_POSITIVE: Rule = Rule::QuantityNotPositive;
    pub const STRENGTH_NOT_POSITIVE: Rule = Rule::StrengthNotPositive;
    pub const UNKNOWN_DRUG: Rule = Rule::UnknownDrug;
    pub const UNKNOWN_ROUTE: Rule = Rule::UnknownRoute;
    pub const UNKNOWN_STRENGTH_UNIT: Rule = Rule::UnknownStrengthUnit;
    pub const NO_MME_FACTOR: Rule = Rule::NoMmeFactor;
    pub const UNKNOWN_EVENT_TYPE: Rule = Rule::UnknownEventType;
    pub const UNKNOWN_ACTIVITY: Rule = Rule::UnknownActivity;
    pub const UNKNOWN_ARM: Rule = Rule::UnknownArm;
    pub const UNKNOWN_RURALITY: Rule = Rule::UnknownRurality;
    pub const BLOCK_RANGE: Rule = Rule::BlockRange;
    pub const HOURS_RANGE: Rule = Rule::HoursRange;
    pub const UNKNOWN_CLINIC: Rule = Rule::UnknownClinic;
    pub const DUPLICATE_RX_ID: Rule = Rule::DuplicateRxId;
    pub const DUPLICATE_CLINIC_ID: Rule = Rule::DuplicateClinicId;
    pub const MISSING_PROGRAM_START: Rule = Rule::MissingProgramStart;
    pub const PROGRAM_START_FOR_COMPARISON: Rule = Rule::ProgramStartForComparison;
    pub const AFTER_REPORT_MONTH: Rule = Rule::AfterReportMonth;
    pub const UNKNOWN_RELEASE: Rule = Rule::UnknownRelease;
    pub const UNKNOWN_EXCLUSION_REASON: Rule = Rule::UnknownExclusionReason;
    pub const END_BEFORE_START: Rule = Rule::EndBeforeStart;
    pub const UNKNOWN_MEASURE: Rule = Rule::UnknownMeasure;
    pub const TARGET_RANGE: Rule = Rule::TargetRange;
    pub const DUPLICATE_TARGET: Rule = Rule::DuplicateTarget;
}
use rules::*;

/// Collects the problems of one row.
struct Row<'a> {
    table: TableName,
    row: usize,
    clinic_id: Option<&'a str>,
    /// Month of the row's first date that parsed (its own date).
    month: Option<Month>,
    found: Vec<Issue>,
}

impl<'a> Row<'a> {
    fn new(table: TableName, row: usize) -> Self {
        Row { table, row, clinic_id: None, month: None, found: Vec::new() }
    }
    fn error(&mut self, column: &str, value: Option<&str>, rule: Rule) {
        self.push(column, value, rule, Severity::Error, Action::Rejected);
    }
    fn push(&mut self, column: &str, value: Option<&str>, rule: Rule, severity: Severity, action: Action) {
        self.found.push(Issue {
            table: self.table,
            row: self.row,
            column: column.to_string(),
            value: value.unwrap_or("").to_string(),
            rule,
            severity,
            action,
            clinic_id: self.clinic_id.map(str::to_string),
        });
    }
    fn has_error(&self) -> bool {
        self.found.iter().any(|i| i.severity == Severity::Error)
    }
    /// A required text value.
    fn required(&mut self, column: &str, v: Option<&'a str>) -> Option<&'a str> {
        match v.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(s),
            None => {
                self.error(column, v, MISSING_VALUE);
                None
            }
        }
    }
    /// A required date.
    fn date(&mut self, column: &str, v: Option<&'a str>) -> Option<Day> {
        let s = self.required(column, v)?;
        let d = parse_date(s);
        if d.is_none() {
            self.error(column, Some(s), UNPARSEABLE_DATE);
        }
        if self.month.is_none() {
            self.month = d.map(Month::of_day);
        }
        d
    }
    /// An optional date: `Ok(None)` when empty, `Err(())` when unparseable.
    fn optional_date(&mut self, column: &str, v: Option<&'a str>) -> Result<Option<Day>, ()> {
        match non_empty(v) {
            None => Ok(None),
            Some(s) => match parse_date(s) {
                Some(d) => Ok(Some(d)),
                None => {
                    self.error(column, Some(s), UNPARSEABLE_DATE);
                    Err(())
                }
            },
        }
    }
    /// A required value of a closed list (`parse`), else `rule`.
    fn choice<T>(&mut self, column: &str, v: Option<&'a str>, parse: fn(&str) -> Option<T>, rule: Rule) -> Option<T> {
        let s = self.required(column, v)?;
        let p = parse(s);
        if p.is_none() {
            self.error(column, Some(s), rule);
        }
        p
    }
    /// Flag a valid row dated after the report month (kept, listed as info);
    /// returns whether it is.
    fn after_month(&mut self, column: &str, v: Option<&'a str>, d: Option<Day>, month_end: Day) -> bool {
        let after = d.is_some_and(|d| !self.has_error() && d > month_end);
        if after {
            self.push(column, v, AFTER_REPORT_MONTH, Severity::Info, Action::AfterReportMonth);
        }
        after
    }
    /// A required number.
    fn number(&mut self, column: &str, v: Option<&'a str>) -> Option<f64> {
        let s = self.required(column, v)?;
        match s.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                self.error(column, Some(s), UNPARSEABLE_NUMBER);
                None
            }
        }
    }
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// Accumulates issues and counts across tables.
struct Collector {
    issues: Vec<Issue>,
    summary: Summary,
    rejected_by_month: RejectedByMonth,
}

impl Collector {
    /// Record a finished row; returns whether it is used in the metrics.
    fn finish(&mut self, row: Row<'_>, counts: &mut TableCounts, after_month_excluded: bool) -> bool {
        let rejected = row.has_error();
        if rejected {
            counts.rejected += 1;
            let mut rules: Vec<Rule> =
                row.found.iter().filter(|i| i.severity == Severity::Error).map(|i| i.rule).collect();
            rules.sort_unstable();
            rules.dedup();
            for r in &rules {
                *counts.rejected_by_rule.entry(r.to_string()).or_default() += 1;
            }
            if let (Some(c), Some(m)) = (row.clinic_id, row.month) {
                let e = self.rejected_by_month.entry((row.table, c.to_string(), m)).or_default();
                e.0 += 1;
                for r in rules {
                    *e.1.entry(r).or_default() += 1;
                }
            }
            // An errored row is rejected: only its error lines are listed.
            self.issues.extend(row.found.into_iter().filter(|i| i.severity == Severity::Error));
            return false;
        }
        let after = row.found.iter().any(|i| i.rule == AFTER_REPORT_MONTH);
        if after {
            counts.after_report_month += 1;
        }
        self.issues.extend(row.found);
        let used = !(after && after_month_excluded);
        if used {
            counts.used += 1;
        }
        used
    }
}

/// Read and validate every table named by the pipeline.
pub fn validate(cfg: &Config) -> Result<Validated> {
    let month_end = cfg.report_month.last_day();
    let mut col = Collector { issues: Vec::new(), summary: Summary::default(), rejected_by_month: Default::default() };
    let mut data = Dataset::default();
    let mut loader = Loader { cfg, inputs: Vec::new(), notes: Vec::new() };
    // A missing required table stops the run before any row work.
    for t in TableName::ALL {
        if t.required() && cfg.table_path(t)?.is_none() {
            loader.load(t, &[])?;
        }
    }
    // Then table by table, each frame dropped once its rows are checked
    // (nothing is written before validation has finished).
    let all = usize::MAX >> 1;
    let clinics = loader.load(TableName::Clinics, read::CLINICS)?.expect("required").batch(0, all)?;
    let clinic_ids = validate_clinics(&clinics, &mut data, &mut col)?;
    let known = Known { month_end, clinic_ids: &clinic_ids };
    drop(clinics);
    let rx = loader.load(TableName::Prescriptions, read::PRESCRIPTIONS)?.expect("required");
    let mut rx_ids = RxIds::default();
    // Room for the rows up front (at least 48 bytes a row): the Vec is not
    // copied as it grows, and pages never written are never resident.
    data.prescriptions.reserve(std::fs::metadata(&rx.path).map_or(0, |m| m.len() as usize / 48));
    rx.for_each_batch(BATCH_ROWS, |t| validate_prescriptions(t, cfg, &known, &mut rx_ids, &mut data, &mut col))?;
    drop(rx_ids);
    if let Some(ev) = loader.load(TableName::CareEvents, read::CARE_EVENTS)? {
        ev.for_each_batch(BATCH_ROWS, |t| validate_care_events(t, &known, &mut data, &mut col))?;
    }
    let miles = loader.load(TableName::Milestones, read::MILESTONES)?.expect("required").batch(0, all)?;
    validate_milestones(&miles, &known, &mut data, &mut col)?;
    drop(miles);
    if let Some(f) = loader.load(TableName::Facilitation, read::FACILITATION)? {
        validate_facilitation(&f.batch(0, all)?, &known, &mut data, &mut col)?;
    }
    if let Some(x) = loader.load(TableName::Exclusions, read::EXCLUSIONS)? {
        x.for_each_batch(BATCH_ROWS, |t| validate_exclusions(t, &known, &mut data, &mut col))?;
    }
    if let Some(x) = loader.load(TableName::Targets, read::TARGETS)? {
        let names = crate::measures::target_names(&cfg.metrics.threshold_labels());
        validate_targets(&x.batch(0, all)?, &names, &known, &mut data, &mut col)?;
    }
    // A table with no data rows still gets its (zero) counts.
    let inputs = loader.inputs.into_iter().map(Opening::finish).collect::<Result<Vec<InputFile>>>()?;
    for f in &inputs {
        col.summary.tables.entry(f.table).or_default();
    }
    col.summary.notes = loader.notes;
    Ok(Validated { data, issues: col.issues, summary: col.summary, inputs, rejected_by_month: col.rejected_by_month })
}

/// Opens the tables the pipeline names: the files read (hashed as read) and
/// the notes for the summary (extra columns, optional tables not found).
struct Loader<'c> {
    cfg: &'c Config,
    inputs: Vec<Opening>,
    notes: Vec<String>,
}

impl Loader<'_> {
    /// The table's rows; `None` for an optional table that is not there, an
    /// error for a required one or a file named in the pipeline that is missing.
    fn load(&mut self, t: TableName, spec: &[read::ColumnSpec]) -> Result<Option<TableSource>> {
        let Some(p) = self.cfg.table_path(t)? else {
            return self.absent(t);
        };
        if !p.exists() {
            return Err(Error::input(
                &p,
                None,
                None,
                format!("table {}: no such file (named in the pipeline file)", t.as_str()),
            ));
        }
        let file = Opening::start(t, p.clone())?;
        let raw = open_table(&p, spec)?;
        for e in &raw.extra_columns {
            self.notes.push(format!("{}: extra column '{}' ignored", p.display(), e));
        }
        self.inputs.push(file);
        Ok(Some(raw))
    }

    /// A table without a file: fatal when required, a note otherwise.
    fn absent(&mut self, t: TableName) -> Result<Option<TableSource>> {
        if t.required() {
            return Err(Error::input(
                self.cfg.data_folder.join(format!("{}.csv", t.as_str())),
                None,
                None,
                format!(
                    "required table {} is missing (looked for {0}.csv and {0}.parquet in the data folder)",
                    t.as_str()
                ),
            ));
        }
        let effect = match t {
            TableName::Exclusions => "no patient is excluded",
            TableName::Targets => "only the pipeline's [targets] apply",
            _ => "its measures are empty",
        };
        self.notes.push(format!("optional table {} not found: {effect}", t.as_str()));
        Ok(None)
    }
}

fn clinic_ref<'a>(r: &mut Row<'a>, v: Option<&'a str>, ids: &FxHashMap<String, u32>) -> Option<u32> {
    let s = r.required("clinic_id", v)?;
    r.clinic_id = Some(s);
    match ids.get(s) {
        Some(&i) => Some(i),
        None => {
            r.error("clinic_id", Some(s), UNKNOWN_CLINIC);
            None
        }
    }
}

fn validate_clinics(t: &RawTable, data: &mut Dataset, col: &mut Collector) -> Result<FxHashMap<String, u32>> {
    let mut seen = HashSet::new();
    let columns = ["clinic_id", "clinic_name", "organization", "arm", "rurality", "facilitator_id", "program_start"];
    let rows = each_row(t, TableName::Clinics, columns, col, true, |r, [id, name, org, arm, rur, fac, start]| {
        let id = r.required("clinic_id", id);
        r.clinic_id = id;
        if let Some(id) = id {
            if !seen.insert(id.to_string()) {
                r.error("clinic_id", Some(id), DUPLICATE_CLINIC_ID);
            }
        }
        let name = r.required("clinic_name", name);
        let arm_v = r.choice("arm", arm, Arm::parse, UNKNOWN_ARM);
        let rurality = non_empty(rur).map(|s| s.to_ascii_lowercase());
        if rurality.as_ref().is_some_and(|ru| ru != "rural" && ru != "urban") {
            r.error("rurality", rur, UNKNOWN_RURALITY);
        }
        let start_v = r.optional_date("program_start", start);
        let mut program_start = start_v.ok().flatten();
        match (arm_v, &start_v) {
            (Some(Arm::Intervention), Ok(None)) => r.error("program_start", start, MISSING_PROGRAM_START),
            (Some(Arm::Comparison), Ok(Some(_))) => {
                r.push("program_start", start, PROGRAM_START_FOR_COMPARISON, Severity::Warning, Action::ValueIgnored);
                program_start = None;
            }
            _ => {}
        }
        Ok((!r.has_error()).then(|| Clinic {
            id: id.unwrap().to_string(),
            name: name.unwrap().to_string(),
            organization: non_empty(org).map(str::to_string),
            arm: arm_v.unwrap(),
            rurality,
            facilitator_id: non_empty(fac).map(str::to_string),
            program_start,
        }))
    })?;
    let mut ids = FxHashMap::default();
    for c in rows {
        ids.insert(c.id.clone(), data.clinics.len() as u32);
        data.clinics.push(c);
    }
    Ok(ids)
}

/// Fatal when a pseudonymous id looks like a real identifier.
fn guard_id(t: &RawTable, row: usize, column: &str, v: Option<&str>) -> Result<()> {
    if let Some(s) = non_empty(v) {
        if is_identifier_value(s) {
            return Err(Error::input(
                &t.path,
                Some(row + 1),
                Some(column),
                "identifier-like value (an SSN or e-mail address pattern): sixbb accepts pseudonymous ids only",
            ));
        }
    }
    Ok(())
}

/// Every ingredient sixbb knows, in a fixed order: the drug ids of [`Dataset::drugs`].
fn known_drugs() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = Vec::new();
    for r in crate::reference::MmeTable::Cdc2022.rows() {
        if !v.contains(&r.drug.as_str()) {
            v.push(r.drug.as_str());
        }
    }
    v.push("buprenorphine");
    v.extend(crate::reference::BENZODIAZEPINES);
    v.extend(crate::reference::SEDATIVES);
    v
}

/// A prescription row checked on its own (phase 1, in parallel).
struct RxDraft<'a> {
    rx_id: Option<&'a str>,
    clinic: u32,
    patient: &'a str,
    prescriber: Option<&'a str>,
    start: Day,
    days: u16,
    class: DrugClass,
    drug: u16,
    daily_mme: f64,
    long_acting: bool,
}

impl<'a> RxDraft<'a> {
    /// A rejected row's placeholder: it only claims its rx_id.
    fn claim(id: &'a str) -> RxDraft<'a> {
        RxDraft {
            rx_id: Some(id),
            clinic: 0,
            patient: "",
            prescriber: None,
            start: 0,
            days: 0,
            class: DrugClass::Opioid,
            drug: 0,
            daily_mme: 0.0,
            long_acting: false,
        }
    }
}

/// Rows read per batch: bounds the memory of the text frames.
const BATCH_ROWS: usize = 1 << 18;

/// The rx_ids seen so far, as 128-bit fingerprints (two independent 64-bit
/// hashes), so the set does not hold millions of strings. A false duplicate
/// needs both hashes to collide: about 1e-26 for ten million ids.
#[derive(Default)]
struct RxIds {
    seen: FxHashSet<u128>,
}

impl RxIds {
    /// Record an id; false when it was seen before.
    fn insert(&mut self, id: &str) -> bool {
        use std::hash::BuildHasher;
        // Two unrelated fixed-seed hashes (SipHash, used before, was 4% of
        // the validation stage's samples).
        let a = foldhash::fast::FixedState::with_seed(0x7369_7862_6278_6964).hash_one(id);
        let b = rustc_hash::FxBuildHasher.hash_one(id);
        self.seen.insert(((a as u128) << 64) | b as u128)
    }
}

/// What every table after `clinics` is checked against: the report month's
/// last day and the clinic ids.
#[derive(Clone, Copy)]
struct Known<'a> {
    month_end: Day,
    clinic_ids: &'a FxHashMap<String, u32>,
}

/// Rows per parallel validation chunk (fixed: the output does not depend on threads).
const ROW_CHUNK: usize = 65_536;

fn validate_prescriptions(
    t: &RawTable,
    cfg: &Config,
    known: &Known,
    rx_ids: &mut RxIds,
    data: &mut Dataset,
    col: &mut Collector,
) -> Result<()> {
    use rayon::prelude::*;
    let table = cfg.metrics.mme_table;
    let drugs = known_drugs();
    if data.drugs.is_empty() {
        for d in &drugs {
            data.drugs.intern(d);
        }
    }
    let n = t.height();
    let starts: Vec<usize> = (0..n).step_by(ROW_CHUNK).collect();
    // Phase 1: each row on its own, in parallel chunks.
    let chunks: Vec<Vec<(Row<'_>, Option<RxDraft<'_>>)>> = starts
        .par_iter()
        .map(|&from| {
            let mut check = RxCheck {
                table,
                month_end: known.month_end,
                clinic_ids: known.clinic_ids,
                drugs: &drugs,
                drug_cache: FxHashMap::default(),
                factor_cache: FxHashMap::default(),
            };
            let rows = from..from + ROW_CHUNK.min(n - from);
            check_rows(t, TableName::Prescriptions, RX_COLUMNS, rows, |r, v| check.row(t, r, RxFields::of(v)))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    // Phase 2: in file order, duplicates and interning.
    data.prescriptions.reserve(n);
    let duplicate = |r: &mut Row<'_>, d: Option<&RxDraft<'_>>| {
        if let Some(id) = d.and_then(|d| d.rx_id) {
            if !rx_ids.insert(id) {
                r.error("rx_id", Some(id), DUPLICATE_RX_ID);
            }
        }
    };
    let checked = chunks.into_iter().flatten().map(Ok);
    finish_rows(checked, TableName::Prescriptions, col, true, duplicate, |d| {
        data.prescriptions.push(Prescription {
            clinic: d.clinic,
            patient: data.patients.intern(d.patient),
            prescriber: d.prescriber.map(|p| data.prescribers.intern(p)),
            start: d.start,
            days: d.days,
            class: d.class,
            drug: d.drug,
            daily_mme: d.daily_mme,
            long_acting: d.long_acting,
        })
    })
}

/// What checking a prescription row needs besides the row: the MME table,
/// the report month's end, the clinics, the drug list and per-chunk caches.
struct RxCheck<'a, 'c> {
    table: crate::reference::MmeTable,
    month_end: Day,
    clinic_ids: &'c FxHashMap<String, u32>,
    drugs: &'c [&'static str],
    drug_cache: FxHashMap<&'a str, Option<(DrugClass, u16)>>,
    factor_cache: FxHashMap<(u16, Route, Unit), Option<&'static FactorRow>>,
}

/// A required positive number.
fn positive<'a>(r: &mut Row<'a>, column: &str, v: Option<&'a str>, rule: Rule) -> Option<f64> {
    r.number(column, v).and_then(|x| {
        if x <= 0.0 {
            r.error(column, v, rule);
            None
        } else {
            Some(x)
        }
    })
}

impl<'a, 'c> RxCheck<'a, 'c> {
    /// The drug's class and index, or an `unknown_drug` issue.
    fn drug(&mut self, r: &mut Row<'a>, drug: Option<&'a str>) -> Option<(DrugClass, u16)> {
        let drugs = self.drugs;
        r.required("drug", drug).and_then(|d| {
            let v = *self.drug_cache.entry(d).or_insert_with(|| {
                let lower = d.to_ascii_lowercase();
                classify(&lower).map(|c| (c, drugs.iter().position(|k| *k == lower).expect("known drug") as u16))
            });
            if v.is_none() {
                r.error("drug", drug, UNKNOWN_DRUG);
            }
            v
        })
    }

    /// The daily MME of an opioid row (strength, unit and quantity checked;
    /// SPEC §6.7.4: they matter for opioids with a factor only).
    fn daily_mme(
        &mut self,
        r: &mut Row<'a>,
        di: u16,
        route: Option<Route>,
        v: &RxFields<'a>,
        days: Option<u16>,
    ) -> f64 {
        let s = positive(r, "strength", v.strength, STRENGTH_NOT_POSITIVE);
        let u = r.required("strength_unit", v.unit).and_then(|u| {
            let p = Unit::parse(u);
            if p.is_none() {
                r.error("strength_unit", Some(u), UNKNOWN_STRENGTH_UNIT);
            }
            p
        });
        let q = positive(r, "quantity", v.quantity, QUANTITY_NOT_POSITIVE);
        let (Some(rt), Some(u)) = (route, u) else { return 0.0 };
        let name = self.drugs[di as usize];
        let table = self.table;
        match *self.factor_cache.entry((di, rt, u)).or_insert_with(|| table.lookup(name, rt, u)) {
            None => {
                let combo = format!("{name} {} {}", rt.as_str(), u.as_str());
                r.error("drug", Some(&combo), NO_MME_FACTOR);
                0.0
            }
            Some(f) => match (s, q, days) {
                (Some(s), Some(q), Some(days)) => daily_mme_with(f, s, q, days as u32).unwrap_or(0.0),
                _ => 0.0,
            },
        }
    }

    /// Check one row: its issues, and the draft of a valid row (a rejected
    /// row's draft only claims its rx_id for the duplicate check).
    fn row(&mut self, t: &RawTable, r: &mut Row<'a>, v: RxFields<'a>) -> Result<Option<RxDraft<'a>>> {
        guard_id(t, r.row, "patient_id", v.patient)?;
        guard_id(t, r.row, "prescriber_id", v.prescriber)?;
        let clinic = clinic_ref(r, v.clinic, self.clinic_ids);
        let rx_id = r.required("rx_id", v.rx_id);
        let patient = r.required("patient_id", v.patient);
        let start = r.date("written_date", v.written);
        let drug = self.drug(r, v.drug);
        let release = Release::parse(v.release.unwrap_or(""));
        if release.is_none() {
            r.error("release", v.release, UNKNOWN_RELEASE);
        }
        let is_opioid = matches!(drug, Some((DrugClass::Opioid, _)));
        let route = route_of(r, v.route, is_opioid);
        let long_acting = match (drug, route, release) {
            (Some((DrugClass::Opioid, di)), Some(rt), Some(rel)) => is_long_acting(self.drugs[di as usize], rt, rel),
            _ => false,
        };
        let days = days_supply(r, v.days);
        let daily_mme = match drug {
            Some((DrugClass::Opioid, di)) => self.daily_mme(r, di, route, &v, days),
            _ => 0.0,
        };
        if start.is_some_and(|s| !r.has_error() && s > self.month_end) {
            r.push("written_date", v.written, AFTER_REPORT_MONTH, Severity::Info, Action::AfterReportMonth);
        }
        let draft = match (r.has_error(), clinic, patient, start, days, drug) {
            (false, Some(clinic), Some(patient), Some(start), Some(days), Some((class, drug))) => Some(RxDraft {
                rx_id,
                clinic,
                patient,
                prescriber: non_empty(v.prescriber),
                start,
                days,
                class,
                drug,
                daily_mme,
                long_acting,
            }),
            _ => rx_id.map(RxDraft::claim),
        };
        Ok(draft)
    }
}

/// The route: oral when empty; an unknown route is an issue for opioids only.
fn route_of<'a>(r: &mut Row<'a>, route: Option<&'a str>, is_opioid: bool) -> Option<Route> {
    match non_empty(route) {
        None => Some(Route::Oral),
        Some(s) => {
            let p = Route::parse(s);
            if p.is_none() && is_opioid {
                r.error("route", Some(s), UNKNOWN_ROUTE);
            }
            p
        }
    }
}

/// Whole days from 1 to 365.
fn days_supply<'a>(r: &mut Row<'a>, days: Option<&'a str>) -> Option<u16> {
    r.number("days_supply", days).and_then(|d| {
        if d.fract() != 0.0 || !(1.0..=365.0).contains(&d) {
            r.error("days_supply", days, DAYS_SUPPLY_RANGE);
            None
        } else {
            Some(d as u16)
        }
    })
}

/// The text fields of one prescription row, in the SPEC's column order.
struct RxFields<'a> {
    rx_id: Option<&'a str>,
    clinic: Option<&'a str>,
    patient: Option<&'a str>,
    prescriber: Option<&'a str>,
    written: Option<&'a str>,
    drug: Option<&'a str>,
    route: Option<&'a str>,
    strength: Option<&'a str>,
    unit: Option<&'a str>,
    quantity: Option<&'a str>,
    days: Option<&'a str>,
    release: Option<&'a str>,
}

/// The prescription columns, in [`RxFields`] order.
const RX_COLUMNS: [&str; 12] = [
    "rx_id",
    "clinic_id",
    "patient_id",
    "prescriber_id",
    "written_date",
    "drug",
    "route",
    "strength",
    "strength_unit",
    "quantity",
    "days_supply",
    "release",
];

impl<'a> RxFields<'a> {
    fn of(v: [Option<&'a str>; 12]) -> RxFields<'a> {
        let [rx_id, clinic, patient, prescriber, written, drug, route, strength, unit, quantity, days, release] = v;
        RxFields { rx_id, clinic, patient, prescriber, written, drug, route, strength, unit, quantity, days, release }
    }
}

/// The one loop of the row validators: rows `rows` of `t`, each row's
/// values of `columns` handed to `check`, which records the row's problems
/// and builds its typed value (`None` when it cannot). Every validator runs
/// it, the prescriptions' in parallel chunks.
fn check_rows<'a, 'c, const N: usize, T, F>(
    t: &'a RawTable,
    table: TableName,
    columns: [&str; N],
    rows: std::ops::Range<usize>,
    mut check: F,
) -> impl Iterator<Item = Result<(Row<'a>, Option<T>)>> + 'c
where
    'a: 'c,
    F: FnMut(&mut Row<'a>, [Option<&'a str>; N]) -> Result<Option<T>> + 'c,
{
    let arrays: Vec<Option<&'a TextArray>> = columns.iter().map(|c| t.array(c)).collect();
    rows.map(move |i| {
        let v: [Option<&'a str>; N] = std::array::from_fn(|k| arrays[k].and_then(|a| a.get(i)));
        let mut r = Row::new(table, t.offset + i + 1);
        let value = check(&mut r, v)?;
        Ok((r, value))
    })
}

/// Finish checked rows in file order: `more` may flag a row further (a
/// duplicate id), then the row is counted and its issues kept, and the
/// typed value of each row used goes to `keep`.
fn finish_rows<'a, T>(
    checked: impl IntoIterator<Item = Result<(Row<'a>, Option<T>)>>,
    table: TableName,
    col: &mut Collector,
    after_month_excluded: bool,
    mut more: impl FnMut(&mut Row<'a>, Option<&T>),
    mut keep: impl FnMut(T),
) -> Result<()> {
    let mut counts = col.summary.tables.remove(&table).unwrap_or_default();
    for item in checked {
        let (mut r, value) = item?;
        counts.read += 1;
        more(&mut r, value.as_ref());
        let ok = !r.has_error();
        if col.finish(r, &mut counts, after_month_excluded) && ok {
            keep(value.expect("a row without errors has its value"));
        }
    }
    col.summary.tables.insert(table, counts);
    Ok(())
}

/// [`check_rows`] over a whole table, then [`finish_rows`]: the values of
/// the rows used, in file order.
fn each_row<'a, const N: usize, T>(
    t: &'a RawTable,
    table: TableName,
    columns: [&str; N],
    col: &mut Collector,
    after_month_excluded: bool,
    check: impl FnMut(&mut Row<'a>, [Option<&'a str>; N]) -> Result<Option<T>>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let checked = check_rows(t, table, columns, 0..t.height(), check);
    finish_rows(checked, table, col, after_month_excluded, |_, _| {}, |v| out.push(v))?;
    Ok(out)
}

fn validate_care_events(t: &RawTable, known: &Known, data: &mut Dataset, col: &mut Collector) -> Result<()> {
    let Known { month_end, clinic_ids } = *known;
    let columns = ["clinic_id", "patient_id", "event_date", "event_type"];
    let rows = each_row(t, TableName::CareEvents, columns, col, true, |r, [clinic, patient, date, kind]| {
        guard_id(t, r.row, "patient_id", patient)?;
        let clinic = clinic_ref(r, clinic, clinic_ids);
        let patient = r.required("patient_id", patient);
        let d = r.date("event_date", date);
        let k = r.choice("event_type", kind, EventType::parse, UNKNOWN_EVENT_TYPE);
        r.after_month("event_date", date, d, month_end);
        Ok((!r.has_error()).then(|| (clinic.unwrap(), patient.unwrap(), d.unwrap(), k.unwrap())))
    })?;
    for (clinic, patient, date, kind) in rows {
        data.care_events.push(CareEvent { clinic, patient: data.patients.intern(patient), date, kind });
    }
    Ok(())
}

fn validate_milestones(t: &RawTable, known: &Known, data: &mut Dataset, col: &mut Collector) -> Result<()> {
    let Known { month_end, clinic_ids } = *known;
    let columns = ["clinic_id", "block", "milestone", "due_date", "completed_date"];
    // A milestone completed after the report month stays in every count, as not done.
    let rows = each_row(t, TableName::Milestones, columns, col, false, |r, [clinic, block, name, due, done]| {
        let clinic = clinic_ref(r, clinic, clinic_ids);
        let b = r.number("block", block).and_then(|b| {
            let n = (b.fract() == 0.0 && (1.0..=6.0).contains(&b)).then_some(b as u8);
            let of = n.and_then(Block::of_number);
            if of.is_none() {
                r.error("block", block, BLOCK_RANGE);
            }
            of
        });
        let name = r.required("milestone", name);
        let due_d = r.date("due_date", due);
        let mut completed = r.optional_date("completed_date", done).ok().flatten();
        if r.after_month("completed_date", done, completed, month_end) {
            completed = None;
        }
        Ok((!r.has_error()).then(|| Milestone {
            clinic: clinic.unwrap(),
            block: b.unwrap(),
            name: name.unwrap().to_string(),
            due: due_d.unwrap(),
            completed,
        }))
    })?;
    data.milestones.extend(rows);
    Ok(())
}

fn validate_facilitation(t: &RawTable, known: &Known, data: &mut Dataset, col: &mut Collector) -> Result<()> {
    let Known { month_end, clinic_ids } = *known;
    let columns = ["clinic_id", "facilitator_id", "date", "activity", "hours"];
    let rows = each_row(t, TableName::Facilitation, columns, col, true, |r, [clinic, fac, date, activity, hours]| {
        let clinic = clinic_ref(r, clinic, clinic_ids);
        let d = r.date("date", date);
        let a = r.choice("activity", activity, Activity::parse, UNKNOWN_ACTIVITY);
        let h = r.number("hours", hours).and_then(|h| {
            if h <= 0.0 || h > 24.0 {
                r.error("hours", hours, HOURS_RANGE);
                None
            } else {
                Some(h)
            }
        });
        r.after_month("date", date, d, month_end);
        Ok((!r.has_error()).then(|| Facilitation {
            clinic: clinic.unwrap(),
            facilitator: non_empty(fac).map(str::to_string),
            date: d.unwrap(),
            activity: a.unwrap(),
            hours: h.unwrap(),
        }))
    })?;
    data.facilitation.extend(rows);
    Ok(())
}

fn validate_exclusions(t: &RawTable, known: &Known, data: &mut Dataset, col: &mut Collector) -> Result<()> {
    let month_end = known.month_end;
    let columns = ["patient_id", "reason", "start_date", "end_date"];
    let rows = each_row(t, TableName::Exclusions, columns, col, true, |r, [patient, reason, start, end]| {
        guard_id(t, r.row, "patient_id", patient)?;
        let patient = r.required("patient_id", patient);
        let reason_v = r.choice("reason", reason, ExclusionReason::parse, UNKNOWN_EXCLUSION_REASON);
        let start_d = r.date("start_date", start);
        let end_d = r.optional_date("end_date", end).ok().flatten();
        if let (Some(s), Some(e)) = (start_d, end_d) {
            if e < s {
                r.error("end_date", end, END_BEFORE_START);
            }
        }
        r.after_month("start_date", start, start_d, month_end);
        Ok((!r.has_error()).then(|| (patient.unwrap(), reason_v.unwrap(), start_d.unwrap(), end_d)))
    })?;
    for (patient, reason, start, end) in rows {
        data.exclusions.push(Exclusion { patient: data.patients.intern(patient), reason, start, end });
    }
    Ok(())
}

fn validate_targets(
    t: &RawTable,
    measures: &[String],
    known: &Known,
    data: &mut Dataset,
    col: &mut Collector,
) -> Result<()> {
    let clinic_ids = known.clinic_ids;
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let columns = ["clinic_id", "measure", "target"];
    let rows = each_row(t, TableName::Targets, columns, col, true, |r, [clinic, measure, target]| {
        let clinic_raw = non_empty(clinic);
        let clinic = clinic_ref(r, clinic, clinic_ids);
        let m = r.required("measure", measure).map(str::to_ascii_lowercase);
        let m_ok = m.as_ref().is_some_and(|m| measures.contains(m));
        if m.is_some() && !m_ok {
            r.error("measure", measure, UNKNOWN_MEASURE);
        }
        let v = r.number("target", target);
        if let (Some(v), Some(m)) = (v, &m) {
            if m_ok && !crate::config::target_in_range(m, v) {
                r.error("target", target, TARGET_RANGE);
            }
        }
        // The first row naming a clinic and measure claims it (as for rx_id).
        if let (Some(c), Some(m)) = (clinic_raw, &m) {
            if !seen.insert((c.to_string(), m.clone())) {
                r.error("measure", measure, DUPLICATE_TARGET);
            }
        }
        Ok((!r.has_error()).then(|| ClinicTarget { clinic: clinic.unwrap(), measure: m.unwrap(), target: v.unwrap() }))
    })?;
    data.targets.extend(rows);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_ids_tell_a_repeated_id_from_near_misses() {
        let mut ids = RxIds::default();
        // 200,000 distinct ids that differ in one character or in length.
        for i in 0..200_000 {
            assert!(ids.insert(&format!("RX{i:07}")), "RX{i:07} is new");
        }
        assert!(ids.insert("RX000000"), "a shorter id is another id");
        assert!(ids.insert("rx0000000"), "ids are case-sensitive");
        assert!(ids.insert(""), "the empty id once");
        assert!(!ids.insert(""));
        assert!(!ids.insert("RX0000000"));
        assert!(!ids.insert("RX0199999"));
        assert_eq!(ids.seen.len(), 200_003);
    }

    #[test]
    fn a_file_replaced_while_it_is_read_stops_the_run() {
        let dir = tempfile_dir();
        let p = dir.join("prescriptions.csv");
        std::fs::write(&p, "a,b\n1,2\n").unwrap();
        let f = Opening::start(TableName::Prescriptions, p.clone()).unwrap().finish().unwrap();
        assert_eq!(f.sha256.len(), 64);
        let o = Opening::start(TableName::Prescriptions, p.clone()).unwrap();
        // Replaced by another file (new inode and size) before the rows were all read.
        let other = dir.join("new.csv");
        std::fs::write(&other, "a,b\n1,2\n3,4\n").unwrap();
        std::fs::rename(&other, &p).unwrap();
        let e = o.finish().unwrap_err().to_string();
        assert!(e.contains("changed while sixbb was reading it"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("sixbb-validate-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
