//! The monthly batch (issue 6): validate → metrics → charts → reports into a
//! temporary folder renamed into place on success, with a manifest.

use crate::config::Config;
use crate::dates::Month;
use crate::error::{Error, Result};
use crate::ingest::{issues::issues_csv, validate, Validated};
use crate::metrics::{
    clinic_month, data_quality, extract_checks, facilitators, fidelity, outcomes, patient_month, prescribing, study,
    table, trends, worklist,
};
use crate::report::{self, ReportInputs};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of one run beyond the pipeline file.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Render clinic reports for these ids only (empty: all).
    pub clinics: Vec<String>,
    /// Parallel report jobs (default: all cores).
    pub jobs: Option<usize>,
    /// Replace an existing output folder.
    pub force: bool,
    /// 0 quiet, 1 normal, 2+ verbose.
    pub verbosity: u8,
    /// Render only the clinics of shard `i` of `n` (1-based), by [`shard_of`].
    pub shard: Option<(u32, u32)>,
    /// Skip the care-gap worklists (CSV and PDF).
    pub no_worklists: bool,
    /// Skip the facilitator portfolio PDFs.
    pub no_facilitator_reports: bool,
    /// A flagged report month in the extract checks fails the run.
    pub strict_extracts: bool,
    /// Templates folder replacing the built-in templates.
    pub templates: Option<PathBuf>,
    /// Where to write typst's timing trace.
    pub typst_timings: Option<PathBuf>,
    /// Fail after the metrics stage (to test that a failed run leaves nothing).
    pub fail_after_metrics: bool,
}

/// The report stage's share of the options.
fn render_options(opts: &RunOptions) -> report::RenderOptions {
    report::RenderOptions {
        jobs: opts.jobs,
        verbosity: opts.verbosity,
        templates: opts.templates.clone(),
        typst_timings: opts.typst_timings.clone(),
    }
}

/// What a finished run reports back.
#[derive(Debug)]
pub struct Outcome {
    pub out_dir: PathBuf,
    pub rejected_rows: usize,
    pub manifest: Manifest,
}

/// `manifest.json` (SPEC §4).
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    pub tool: ToolInfo,
    pub config: Config,
    /// `"I/N"` for a shard run, `null` otherwise (and after `sixbb merge`).
    pub shard: Option<String>,
    pub inputs: Vec<InputEntry>,
    pub outputs: Vec<OutputEntry>,
    pub validation: crate::ingest::Summary,
    /// Seconds per stage: the only part that differs between identical runs.
    pub timings: Vec<(String, f64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ToolInfo {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct InputEntry {
    pub table: String,
    pub path: String,
    pub sha256: String,
    pub read: usize,
    pub used: usize,
    pub rejected: usize,
    pub after_report_month: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputEntry {
    pub path: String,
    pub sha256: String,
}

/// The shard (1..=n) a clinic belongs to: FNV-1a of its id, modulo `n`.
/// Stable: it depends on the id alone, not on the other clinics.
pub fn shard_of(clinic_id: &str, n: u32) -> u32 {
    (crate::model::fnv1a(clinic_id) % n as u64) as u32 + 1
}

/// Parse `I/N` (1 ≤ I ≤ N).
pub fn parse_shard(s: &str) -> Option<(u32, u32)> {
    let (i, n) = s.split_once('/')?;
    let (i, n): (u32, u32) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
    (n >= 1 && (1..=n).contains(&i)).then_some((i, n))
}

/// `sixbb merge`: assemble shard folders into one output folder. Every
/// study-wide file must be identical across shards; clinic PDFs are taken
/// from the shard that rendered them; the manifest is rebuilt.
pub fn merge(shards: &[PathBuf], out: &Path, force: bool) -> Result<Vec<OutputEntry>> {
    if shards.is_empty() {
        return Err(Error::Usage("merge: name at least one shard folder".into()));
    }
    let out = &check_out_dir(out, force, shards)?;
    let mut manifests = Vec::new();
    for d in shards {
        let p = d.join("manifest.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io("cannot read", &p, e))?;
        let m: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::input(&p, None, None, format!("not a sixbb manifest: {e}")))?;
        manifests.push(m);
    }
    let is_clinic_pdf = |p: &str| p.starts_with("reports/clinic-") || p.starts_with("reports/worklist-");
    // Facilitator reports are study-wide: every shard renders them (identical bytes).
    let mut chosen: std::collections::BTreeMap<String, (String, usize)> = Default::default();
    for (k, m) in manifests.iter().enumerate() {
        if m["inputs"] != manifests[0]["inputs"]
            || m["config"]["report_month"] != manifests[0]["config"]["report_month"]
        {
            return Err(Error::Usage(format!(
                "merge: {} was run on other inputs or another month than {}",
                shards[k].display(),
                shards[0].display()
            )));
        }
        for o in m["outputs"].as_array().into_iter().flatten() {
            let path = o["path"].as_str().unwrap_or_default().to_string();
            let sha = o["sha256"].as_str().unwrap_or_default().to_string();
            match chosen.get(&path) {
                Some((prev, _)) if is_clinic_pdf(&path) => {
                    return Err(Error::Usage(format!(
                        "merge: {path} is in two shards (same shard twice?){}",
                        if *prev == sha { "" } else { " with different bytes" }
                    )));
                }
                Some((prev, _)) if *prev != sha => {
                    return Err(Error::Usage(format!(
                        "merge: {path} differs between shards: they did not run on the same data and pipeline"
                    )));
                }
                Some(_) => {}
                None => {
                    chosen.insert(path, (sha, k));
                }
            }
        }
    }
    let tmp = TempOut::new(out)?;
    for (path, (_, k)) in &chosen {
        let from = shards[*k].join(path);
        let to = tmp.tmp.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        std::fs::copy(&from, &to).map_err(|e| Error::io("cannot copy", &from, e))?;
    }
    let mut outputs = Vec::new();
    collect_outputs(&tmp.tmp, &tmp.tmp, &mut outputs)?;
    outputs.retain(|o| o.path != "manifest.json");
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    let mut m = manifests[0].clone();
    m["shard"] = serde_json::Value::Null;
    m["outputs"] = serde_json::to_value(&outputs).expect("json");
    m["merged_from"] =
        serde_json::to_value(shards.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()).expect("json");
    m["timings"] = serde_json::Value::Array(manifests.iter().map(|x| x["timings"].clone()).collect());
    let json = serde_json::to_string_pretty(&m).expect("json") + "\n";
    let mp = tmp.tmp.join("manifest.json");
    std::fs::write(&mp, json).map_err(|e| Error::io("cannot write", &mp, e))?;
    check_out_dir(out, force, shards)?;
    tmp.commit(out, force)?;
    Ok(outputs)
}

pub use crate::ingest::read::sha256_file;

/// A temporary output folder beside the final one, removed unless committed.
struct TempOut {
    tmp: PathBuf,
    done: bool,
}

impl TempOut {
    fn new(final_dir: &Path) -> Result<Self> {
        let tmp = sibling(final_dir, "partial");
        let parent = tmp.parent().expect("a sibling has a parent");
        std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("cannot remove", &tmp, e))?;
        }
        for sub in ["metrics", "reports", "data_quality"] {
            let d = tmp.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| Error::io("cannot create", &d, e))?;
        }
        Ok(TempOut { tmp, done: false })
    }
    fn commit(mut self, final_dir: &Path, force: bool) -> Result<()> {
        let aside = final_dir.exists().then(|| sibling(final_dir, "replaced"));
        if let Some(aside) = &aside {
            if !force {
                return Err(Error::Usage(format!("{} exists; use --force to replace it", final_dir.display())));
            }
            // Rename the old folder aside first, then the new one in, then
            // delete the old: a kill at any point leaves one whole month.
            std::fs::rename(final_dir, aside).map_err(|e| Error::io("cannot move aside", final_dir, e))?;
        }
        if let Err(e) = std::fs::rename(&self.tmp, final_dir) {
            if let Some(aside) = &aside {
                let _ = std::fs::rename(aside, final_dir);
            }
            return Err(Error::io("cannot rename into place", final_dir, e));
        }
        self.done = true;
        if let Some(aside) = aside {
            std::fs::remove_dir_all(&aside).map_err(|e| Error::io("cannot remove", &aside, e))?;
        }
        Ok(())
    }
}

/// A hidden sibling of `dir` named after it, for this process.
fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "out".into());
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.join(format!(".{name}.{what}-{}", std::process::id()))
}

/// Refuse an output folder sixbb may not write or replace: an existing
/// non-folder; without `force`, any existing folder; with `force`, a folder
/// that is neither empty nor a sixbb output (with its `manifest.json`), or
/// one that holds the pipeline file or an input. Returns the folder made
/// absolute (so `.` and `..` are never renamed).
pub fn check_out_dir(out: &Path, force: bool, protected: &[PathBuf]) -> Result<PathBuf> {
    let abs = absolute(out)?;
    if abs.parent().is_none() {
        return Err(Error::Usage(format!("output folder {}: refusing to write to the root folder", out.display())));
    }
    for p in protected {
        let p = absolute(p)?;
        if p.starts_with(&abs) {
            return Err(Error::Usage(format!(
                "output folder {} holds {}, an input of this run; choose another --out",
                out.display(),
                p.display()
            )));
        }
    }
    if !abs.exists() {
        return Ok(abs);
    }
    if !abs.is_dir() {
        return Err(Error::Usage(format!("output folder {} exists and is not a folder", out.display())));
    }
    if !force {
        return Err(Error::Usage(format!("output folder {} exists; use --force to replace it", out.display())));
    }
    let empty = std::fs::read_dir(&abs).map_err(|e| Error::io("cannot list", &abs, e))?.next().is_none();
    if !empty && !is_sixbb_output(&abs) {
        return Err(Error::Usage(format!(
            "output folder {} is not a sixbb output (no sixbb manifest.json); --force replaces only an empty \
             folder or an earlier sixbb run",
            out.display()
        )));
    }
    Ok(abs)
}

/// Whether a folder holds a sixbb `manifest.json`.
fn is_sixbb_output(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else { return false };
    serde_json::from_str::<serde_json::Value>(&text).map(|m| m["tool"]["name"] == "sixbb").unwrap_or(false)
}

/// `p` made absolute and normalized (`.` and `..` resolved; symlinks of the
/// existing part followed).
fn absolute(p: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| Error::io("cannot resolve", p, e))?;
    // Canonicalize the longest existing ancestor, then append the rest.
    let mut base = abs.clone();
    let mut rest = Vec::new();
    while !base.exists() {
        match (base.file_name(), base.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n.to_os_string());
                base = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = std::fs::canonicalize(&base).unwrap_or(base);
    for n in rest.into_iter().rev() {
        if n == ".." {
            out.pop();
        } else if n != "." {
            out.push(n);
        }
    }
    Ok(out)
}

impl Drop for TempOut {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// The tables the extract checks look at: those that were read.
fn checked_tables(v: &Validated) -> Vec<crate::config::TableName> {
    extract_checks::TABLES.into_iter().filter(|t| v.inputs.iter().any(|f| f.table == *t)).collect()
}

/// Flagged clinics printed at most on the terminal (the CSV has them all).
const FLAG_LINES: usize = 20;

/// One line per flagged clinic and table, for the terminal (at most 20).
pub fn flag_lines(data: &crate::model::Dataset, flagged: &[&extract_checks::ExtractRow]) -> String {
    let more = flagged.len().saturating_sub(FLAG_LINES);
    let tail =
        if more > 0 { format!("    … and {more} more in data_quality/extract_checks.csv\n") } else { String::new() };
    flagged
        .iter()
        .take(FLAG_LINES)
        .map(|r| {
            let median = r.median.map(|m| format!(", median {m:.1}")).unwrap_or_default();
            format!(
                "    {} {}: {} ({} rows{median})\n",
                data.clinics[r.clinic].id,
                r.table.as_str(),
                extract_checks::check_text(r),
                r.rows
            )
        })
        .collect::<String>()
        + &tail
}

/// What an output folder must never contain: the pipeline file, the data
/// folder and every input table.
fn protected_paths(cfg: &Config) -> Result<Vec<PathBuf>> {
    let mut v = vec![cfg.pipeline.clone(), cfg.data_folder.clone()];
    for t in crate::config::TableName::ALL {
        if let Some(p) = cfg.table_path(t)? {
            v.push(p);
        }
    }
    Ok(v)
}

fn log(opts: &RunOptions, level: u8, msg: impl AsRef<str>) {
    if opts.verbosity >= level {
        eprintln!("{}", msg.as_ref());
    }
}

/// `f`, its time (and the resident memory after it) printed with `-vv`:
/// the steps between the stages. Freed memory goes back after it.
fn timed<T>(opts: &RunOptions, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    step_done(opts, what, t);
    Ok(out)
}

/// After a step: freed memory back to the system, and with `-vv` the
/// step's time and the resident memory.
fn step_done(opts: &RunOptions, what: &str, t: Instant) {
    let s = t.elapsed().as_secs_f64();
    crate::memory::release();
    let rss = crate::memory::resident_mb().map(|mb| format!(", {mb} MB resident")).unwrap_or_default();
    log(opts, 2, format!("{what}: {s:.2} s{rss}"));
}

/// Run the whole batch for a resolved pipeline.
pub fn run_batch(cfg: &Config, opts: &RunOptions) -> Result<Outcome> {
    let out_dir = check_out_dir(&cfg.out_dir, opts.force, &protected_paths(cfg)?)?;
    if let Some(d) = &opts.templates {
        // A missing or unreadable template fails before any row work.
        report::world::read_templates(d)?;
    }
    if let Some(p) = opts.typst_timings.as_ref().filter(|p| p.exists()) {
        return Err(Error::Usage(format!(
            "--typst-timings: {} already exists (sixbb writes a new file only)",
            p.display()
        )));
    }
    let mut timings = Vec::new();
    let mut v = stage(&mut timings, "validate", || validate_stage(cfg, opts))?;
    let extracts = timed(opts, "extract checks", || extracts_of(cfg, &v))?;
    let flagged = extract_checks::flagged(&extracts, cfg.report_month);
    strict_extracts(cfg, opts, &v, &flagged)?;
    let tmp = TempOut::new(&out_dir)?;
    let dir = tmp.tmp.clone();
    timed(opts, "data_quality files", || write_data_quality(&dir, &v, &extracts))?;
    let patients = timed(opts, "patient index", || Ok(prescribing::PatientIndex::new(&v.data)))?;
    let (mo, worklists) = stage(&mut timings, "metrics", || metrics_stage(cfg, opts, &v, &patients, &dir))?;
    if opts.fail_after_metrics {
        return Err(Error::Usage("stopped after the metrics stage (test hook)".into()));
    }
    // The reports read the metrics, not the prescription and care-event
    // rows: their memory (0.25 GB at 1,000 clinics) goes before typst's.
    drop(patients);
    v.data.prescriptions = Vec::new();
    v.data.care_events = Vec::new();
    crate::memory::release();
    let stats =
        stage(&mut timings, "reports", || reports_stage(cfg, opts, &v, &mo, worklists.as_deref(), &extracts, &dir))?;
    let manifest = write_manifest(cfg, opts, &v, &dir, timings)?;
    // Checked again just before replacing: the folder may have changed during the run.
    check_out_dir(&cfg.out_dir, opts.force, &protected_paths(cfg)?)?;
    tmp.commit(&out_dir, opts.force)?;
    if opts.verbosity >= 1 {
        print_summary(cfg, &v, &manifest, stats.pdfs, &flagged);
    }
    Ok(Outcome { out_dir: cfg.out_dir.clone(), rejected_rows: v.summary.rejected(), manifest })
}

/// Run one timed stage: its seconds go to the manifest's timings.
fn stage<T>(timings: &mut Vec<(String, f64)>, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    timings.push((name.to_string(), t.elapsed().as_secs_f64()));
    crate::memory::release();
    Ok(out)
}

/// Read and validate the inputs; every `--clinic` must be a valid clinic.
fn validate_stage(cfg: &Config, opts: &RunOptions) -> Result<Validated> {
    let t = Instant::now();
    let v: Validated = validate(cfg)?;
    for id in &opts.clinics {
        if v.data.clinic_index(id).is_none() {
            return Err(Error::Usage(format!("--clinic {id}: no such valid clinic in the clinics table")));
        }
    }
    log(opts, 1, format!("validated inputs in {:.2} s", t.elapsed().as_secs_f64()));
    log(opts, 2, v.summary.render());
    Ok(v)
}

/// The extract checks of every table read, over the reporting window
/// (`run` and `validate`).
pub fn extracts_of(cfg: &Config, v: &Validated) -> Result<Vec<extract_checks::ExtractRow>> {
    extract_checks::compute(&v.data, &v.rejected_by_month, &checked_tables(v), &cfg.window(), &cfg.checks)
}

/// With `--strict-extracts`, a flag on the report month stops the run
/// before anything is written.
fn strict_extracts(
    cfg: &Config,
    opts: &RunOptions,
    v: &Validated,
    flagged: &[&extract_checks::ExtractRow],
) -> Result<()> {
    if opts.strict_extracts && !flagged.is_empty() {
        return Err(Error::Usage(format!(
            "--strict-extracts: the extract checks flag {}:\n{}",
            cfg.report_month,
            flag_lines(&v.data, flagged)
        )));
    }
    Ok(())
}

/// `data_quality/issues.csv` and `extract_checks.csv`.
fn write_data_quality(dir: &Path, v: &Validated, extracts: &[extract_checks::ExtractRow]) -> Result<()> {
    let p = dir.join("data_quality/issues.csv");
    std::fs::write(&p, issues_csv(&v.issues)).map_err(|e| Error::io("cannot write", &p, e))?;
    table::write_frame_csv(&mut extract_checks::table(&v.data, extracts)?, &dir.join("data_quality/extract_checks.csv"))
}

/// Every metrics file and, unless `--no-worklists`, the worklists.
fn metrics_stage(
    cfg: &Config,
    opts: &RunOptions,
    v: &Validated,
    patients: &prescribing::PatientIndex,
    dir: &Path,
) -> Result<(MetricsOut, Option<Vec<Vec<worklist::Entry>>>)> {
    let t = Instant::now();
    let mo = write_metrics(cfg, v, patients, dir, opts)?;
    let worklists = mo.selected.as_ref().map(|s| worklist::compute_with(patients, s, &cfg.window(), &cfg.metrics));
    if let Some(lists) = &worklists {
        write_worklists(&v.data, lists, dir, cfg)?;
    }
    log(opts, 1, format!("computed metrics in {:.2} s", t.elapsed().as_secs_f64()));
    Ok((mo, worklists))
}

/// Render every PDF.
fn reports_stage(
    cfg: &Config,
    opts: &RunOptions,
    v: &Validated,
    mo: &MetricsOut,
    worklists: Option<&[Vec<worklist::Entry>]>,
    extracts: &[extract_checks::ExtractRow],
    dir: &Path,
) -> Result<report::RenderStats> {
    let t = Instant::now();
    let hashes: Vec<(String, String)> =
        v.inputs.iter().map(|f| (f.path.display().to_string(), f.sha256.clone())).collect();
    let inputs = ReportInputs {
        cfg,
        data: &v.data,
        pm: &mo.pm,
        flags: &mo.flags,
        input_hashes: &hashes,
        outcomes: &mo.outcomes,
        worklists,
        trends: &mo.trends,
        dose: &mo.dose,
        dose_labels: &mo.dose_labels,
        extracts,
        facilitator_reports: !opts.no_facilitator_reports,
        arms: &mo.arms,
        peers: &mo.peers,
        fidelity: &mo.fid,
        quality: &mo.quality,
    };
    let selected = selected_clinics(&v.data, opts);
    let stats = report::render_all(&inputs, &selected, &dir.join("reports"), &render_options(opts))?;
    log(
        opts,
        1,
        format!(
            "rendered {} PDFs in {:.2} s ({:.1} ms per clinic report and thread, of which {:.1} ms data and charts)",
            stats.pdfs,
            t.elapsed().as_secs_f64(),
            stats.cpu_ms_per_clinic,
            stats.data_ms_per_clinic
        ),
    );
    Ok(stats)
}

/// `manifest.json`: the tool, the resolved config, inputs, outputs, timings.
fn write_manifest(
    cfg: &Config,
    opts: &RunOptions,
    v: &Validated,
    dir: &Path,
    mut timings: Vec<(String, f64)>,
) -> Result<Manifest> {
    let t = Instant::now();
    let mut outputs = Vec::new();
    collect_outputs(dir, dir, &mut outputs)?;
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    timings.push(("manifest".to_string(), t.elapsed().as_secs_f64()));
    let manifest = Manifest {
        tool: ToolInfo { name: "sixbb", version: crate::VERSION },
        config: cfg.clone(),
        shard: opts.shard.map(|(i, n)| format!("{i}/{n}")),
        inputs: input_entries(v),
        outputs,
        validation: v.summary.clone(),
        timings,
    };
    let json = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
    let p = dir.join("manifest.json");
    std::fs::write(&p, json + "\n").map_err(|e| Error::io("cannot write", &p, e))?;
    Ok(manifest)
}

/// The manifest's inputs: each file with the hash of the bytes read and its row counts.
fn input_entries(v: &Validated) -> Vec<InputEntry> {
    v.inputs
        .iter()
        .map(|f| {
            let c = &v.summary.tables[&f.table];
            InputEntry {
                table: f.table.as_str().to_string(),
                path: f.path.display().to_string(),
                sha256: f.sha256.clone(),
                read: c.read,
                used: c.used,
                rejected: c.rejected,
                after_report_month: c.after_report_month,
            }
        })
        .collect()
}

/// The clinics whose reports this run renders: `--clinic`, then `--shard`.
fn selected_clinics(data: &crate::model::Dataset, opts: &RunOptions) -> Vec<usize> {
    let mut selected: Vec<usize> = if opts.clinics.is_empty() {
        (0..data.clinics.len()).collect()
    } else {
        opts.clinics.iter().map(|id| data.clinic_index(id).unwrap() as usize).collect()
    };
    if let Some((i, n)) = opts.shard {
        selected.retain(|&c| shard_of(&data.clinics[c].id, n) == i);
    }
    selected
}

/// The run's summary on stdout.
fn print_summary(
    cfg: &Config,
    v: &Validated,
    manifest: &Manifest,
    pdfs: usize,
    flagged: &[&extract_checks::ExtractRow],
) {
    println!("sixbb {}: {} for {}", crate::VERSION, cfg.out_dir.display(), cfg.report_month);
    for i in &manifest.inputs {
        println!(
            "  {:<14} read {:>9}  used {:>9}  rejected {:>5}  after month {:>5}",
            i.table, i.read, i.used, i.rejected, i.after_report_month
        );
    }
    println!("  outputs: {} files; {} PDFs", manifest.outputs.len(), pdfs);
    if !flagged.is_empty() {
        println!("  extract checks flag {} (data_quality/extract_checks.csv):", cfg.report_month);
        print!("{}", flag_lines(&v.data, flagged));
    }
    let rejected_rows = v.summary.rejected();
    if rejected_rows > 0 {
        println!("  {rejected_rows} rows rejected: see data_quality/issues.csv");
    }
}

/// What the metrics stage hands to the reports.
struct MetricsOut {
    /// The reporting window's cells.
    pm: clinic_month::PrescribingMetrics,
    flags: Vec<fidelity::Flag>,
    outcomes: outcomes::OutcomeResults,
    trends: Vec<trends::TrendRow>,
    dose: Vec<facilitators::DosePoint>,
    dose_labels: Vec<String>,
    arms: Vec<study::ArmMonths>,
    peers: study::Peers,
    fid: fidelity::Fidelity,
    quality: data_quality::DataQuality,
    /// The worklist selection (patient, clinics), unless `--no-worklists`.
    selected: Option<Vec<(u32, Vec<u32>)>>,
}

/// How many months to compute: the window, the outcome models' months (from
/// `[outcomes] analysis_start`, or from the end of the warm-up, at most 120),
/// and for trends the 15 months up to the report month and each intervention
/// clinic's 12 months before its start month (months before the first data
/// row are empty and need no computing; at most 120 months back).
fn span(cfg: &Config, data: &crate::model::Dataset) -> u32 {
    let report = cfg.report_month;
    let from = analysis_from(cfg, data);
    let models = (report.minus(from) + 1).clamp(1, 120);
    let needed = data.clinics.iter().filter_map(|c| c.program_start).map(|d| Month::of_day(d).plus(-12));
    let first = first_data_month(data).unwrap_or(report);
    let trends = needed.fold(report.plus(-14), Month::min).max(first);
    let trend_span = (report.minus(trends) + 1).clamp(1, 120);
    models.max(trend_span).max(cfg.lookback_months as i32) as u32
}

/// The month of the earliest prescription.
fn first_data_month(data: &crate::model::Dataset) -> Option<Month> {
    data.prescriptions.iter().map(|r| r.start).min().map(Month::of_day)
}

/// The earliest month the outcome models may start from: `analysis_start`,
/// or the end of the warm-up.
fn analysis_from(cfg: &Config, data: &crate::model::Dataset) -> Month {
    let first = first_data_month(data).unwrap_or(cfg.report_month);
    cfg.outcomes.analysis_start.unwrap_or(first.plus(cfg.outcomes.warmup_months as i32)).min(cfg.report_month)
}

/// Compute and write every metrics file.
fn write_metrics(
    cfg: &Config,
    v: &Validated,
    patients: &prescribing::PatientIndex,
    dir: &Path,
    opts: &RunOptions,
) -> Result<MetricsOut> {
    let (data, months) = (&v.data, cfg.window());
    let span = span(cfg, data);
    let t = Instant::now();
    let all_months = cfg.report_month.window(span);
    let (facts, mut file_rows) =
        clinic_month::facts_and_file_rows(patients, &all_months, &cfg.metrics, all_months.len() - months.len())?;
    step_done(opts, &format!("  interval engine, {span} months, {} rows", facts.height()), t);
    let t = Instant::now();
    let pm_all = clinic_month::from_facts(data, &facts, &all_months, &cfg.metrics)?;
    step_done(opts, "  clinic_month query", t);
    let report_k = all_months.len() as u32 - 1;
    let selected = (!opts.no_worklists).then(|| worklist::selected(&facts, report_k)).transpose()?;
    // The facts go before patient_month.parquet is written: the run's
    // memory peak was both alive at once.
    drop(facts);
    let t = Instant::now();
    patient_month::write_rows(data, &mut file_rows, &months, &cfg.metrics, &dir.join("metrics/patient_month.parquet"))?;
    step_done(opts, &format!("  patient_month.parquet, {} rows", file_rows.len()), t);
    drop(file_rows);
    let t = Instant::now();
    let pm = pm_all.tail(months.len());
    let mut cm = clinic_month::table(&pm_all, months.len(), &cfg.metrics)?;
    let sm_raw = study::study_month(cm.clone(), &cfg.metrics)?;
    let arms = study::arm_months(&sm_raw, &cfg.metrics)?;
    let mut sm = study::rounded(sm_raw)?;
    let peers = study::peers(&pm, cfg.min_cell.max(1) as i64, cfg.min_peer_clinics, &cfg.metrics)?;
    let _ = cm.drop_in_place("arm");
    let _ = cm.drop_in_place("mme_sum");
    table::write_frame_csv(&mut cm, &dir.join("metrics/clinic_month.csv"))?;
    table::write_frame_parquet(&mut cm, &dir.join("metrics/clinic_month.parquet"))?;
    table::write_frame_csv(&mut sm, &dir.join("metrics/study_month.csv"))?;
    let mut tr = trends::trends(data, &pm_all, months.len(), cfg)?;
    table::write_frame_csv(&mut tr.table, &dir.join("metrics/clinic_trends.csv"))?;
    table::write_frame_csv(&mut tr.benchmarks, &dir.join("metrics/benchmarks.csv"))?;
    step_done(opts, "  clinic, study, trends, benchmarks", t);
    let t = Instant::now();
    let (dose, dose_labels) = dose_response(data, &pm_all, cfg);
    let mut fm = facilitators::facilitator_month(data, &months)?;
    table::write_frame_csv(&mut fm, &dir.join("metrics/facilitator_month.csv"))?;
    let fid = fidelity::Fidelity::compute(data, &months)?;
    let mut fcm = fidelity::output_of(&fid.clinic_month, &months)?;
    table::write_frame_csv(&mut fcm, &dir.join("metrics/fidelity_clinic_month.csv"))?;
    let mut fbl = fidelity::output_of(&fid.block, &months)?;
    table::write_frame_csv(&mut fbl, &dir.join("metrics/fidelity_block.csv"))?;
    table::write_frame_csv(
        &mut fidelity::study_month(&fid, data, &months)?,
        &dir.join("metrics/fidelity_study_month.csv"),
    )?;
    let flags = fidelity::flags(data, cfg.report_month);
    table::write_frame_csv(&mut fidelity::flags_table(data, &flags)?, &dir.join("metrics/fidelity_flags.csv"))?;
    step_done(opts, "  fidelity, facilitators", t);
    let t = Instant::now();
    let first = first_data_month(data).unwrap_or(cfg.report_month);
    let start = outcomes::analysis_start(&cfg.outcomes, cfg.min_cell, first, &pm_all).min(cfg.report_month);
    let analysed = pm_all.tail((cfg.report_month.minus(start) + 1) as usize);
    let out_res = outcomes::compute(data, &analysed, &cfg.metrics, &cfg.outcomes);
    table::write_frame_csv(&mut outcomes::outcomes_table(&out_res)?, &dir.join("metrics/outcomes.csv"))?;
    step_done(opts, &format!("  outcomes, {} months", analysed.months.len()), t);
    let quality = data_quality::compute(v)?;
    let trends = tr.rows;
    Ok(MetricsOut { pm, flags, outcomes: out_res, trends, dose, dose_labels, arms, peers, fid, quality, selected })
}

/// Facilitation dose against the change in the ≥ 90 MME/day share (the
/// highest threshold when 90 is not one) and in the urine-drug-test share.
fn dose_response(
    data: &crate::model::Dataset,
    pm_all: &clinic_month::PrescribingMetrics,
    cfg: &Config,
) -> (Vec<facilitators::DosePoint>, Vec<String>) {
    use crate::measures::MeasureKey;
    let all = study::all_measures(&cfg.metrics, pm_all.i50);
    let hd = all
        .iter()
        .find(|m| m.stem == "high_dose_90")
        .or_else(|| all.iter().rfind(|m| matches!(m.key, MeasureKey::HighDose(_))));
    let udt = all.iter().find(|m| m.key == MeasureKey::Udt);
    let measures: Vec<&study::Measure> = hd.into_iter().chain(udt).collect();
    let dose = facilitators::dose_response(data, pm_all, &measures);
    (dose, measures.iter().map(|m| m.label.clone()).collect())
}

/// `worklists/clinic-<id>.csv` for every clinic.
fn write_worklists(
    data: &crate::model::Dataset,
    lists: &[Vec<worklist::Entry>],
    dir: &Path,
    cfg: &Config,
) -> Result<()> {
    let wdir = dir.join("worklists");
    std::fs::create_dir_all(&wdir).map_err(|e| Error::io("cannot create", &wdir, e))?;
    for (c, list) in lists.iter().enumerate() {
        let p = wdir.join(format!("clinic-{}.csv", report::file_safe(&data.clinics[c].id)));
        std::fs::write(&p, worklist::csv(list, &cfg.metrics)).map_err(|e| Error::io("cannot write", &p, e))?;
    }
    Ok(())
}

fn collect_outputs(root: &Path, dir: &Path, out: &mut Vec<OutputEntry>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for e in rd {
        let e = e.map_err(|e| Error::io("cannot list", dir, e))?;
        let p = e.path();
        if p.is_dir() {
            collect_outputs(root, &p, out)?;
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.push(OutputEntry { path: rel, sha256: sha256_file(&p)? });
        }
    }
    Ok(())
}
