//! Charts and PDF reports (issue 5): the clinic feedback report and the
//! study-wide report, compiled in-process with typst.

pub mod charts;
pub mod clinic;
pub mod facilitator;
pub mod study;
pub mod suppress;
pub mod worklist;
pub mod world;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::clinic_month::PrescribingMetrics;
use crate::metrics::data_quality::DataQuality;
use crate::metrics::fidelity::Flag;
use crate::metrics::study::{all_measures, ArmMonths, Measure, Peers};
use crate::model::Dataset;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use world::Engine;

/// Everything the reports read.
pub struct ReportInputs<'a> {
    /// SHA-256 of each input, for the methods box.
    pub input_hashes: &'a [(String, String)],
    pub cfg: &'a Config,
    /// The validated extracts.
    pub data: &'a Dataset,
    /// Rejected rows, used rows and table counts (the data-quality notes).
    pub quality: &'a DataQuality,
    pub pm: &'a PrescribingMetrics,
    pub flags: &'a [Flag],
    pub outcomes: &'a crate::metrics::outcomes::OutcomeResults,
    /// Care-gap worklists per clinic, when they are written.
    pub worklists: Option<&'a [Vec<crate::metrics::worklist::Entry>]>,
    /// Trend rows of every clinic and measure at the report month.
    pub trends: &'a [crate::metrics::trends::TrendRow],
    /// Render the facilitator portfolios.
    pub facilitator_reports: bool,
    /// Facilitation dose and changes of intervention clinics (study report).
    pub dose: &'a [crate::metrics::facilitators::DosePoint],
    /// The measures of `dose[..].changes`.
    pub dose_labels: &'a [String],
    /// Extract checks per clinic, table and month of the window.
    pub extracts: &'a [crate::metrics::extract_checks::ExtractRow],
    /// The study_month rows per arm (study report).
    pub arms: &'a [ArmMonths],
    /// Study-wide comparators of the clinic reports.
    pub peers: &'a Peers,
    /// Milestone counts and facilitation effort per clinic and month.
    pub fidelity: &'a crate::metrics::fidelity::Fidelity,
}

/// What rendering produced.
#[derive(Clone, Debug, Default)]
pub struct RenderStats {
    pub pdfs: usize,
    /// Mean CPU time per clinic report (ms of wall time per report per thread).
    pub cpu_ms_per_clinic: f64,
    /// Of which: building data and charts (ms per clinic report).
    pub data_ms_per_clinic: f64,
}

/// Per-batch data shared by every clinic report, computed once.
pub struct Shared<'a> {
    pub peers: &'a Peers,
    pub by: crate::metrics::fidelity::ByClinic<'a>,
    /// Each clinic's trend rows (by clinic index; the rows come clinic by clinic).
    pub trends: Vec<&'a [crate::metrics::trends::TrendRow]>,
    /// Each clinic's extract-check rows (by clinic index).
    pub extracts: Vec<Vec<&'a crate::metrics::extract_checks::ExtractRow>>,
}

impl<'a> Shared<'a> {
    pub fn new(inp: &ReportInputs<'a>) -> Shared<'a> {
        let data = &inp.data;
        let n = data.clinics.len();
        let mut trends: Vec<&[crate::metrics::trends::TrendRow]> = vec![&[]; n];
        for chunk in inp.trends.chunk_by(|a, b| a.clinic == b.clinic) {
            trends[chunk[0].clinic] = chunk;
        }
        let mut extracts = vec![Vec::new(); n];
        for r in inp.extracts {
            extracts[r.clinic].push(r);
        }
        Shared { trends, extracts, peers: inp.peers, by: crate::metrics::fidelity::ByClinic::new(data) }
    }
}

/// The report date (typst `today` and the PDF creation date): the last day
/// of the report month, so the same month always gives the same bytes.
pub fn report_date(cfg: &Config) -> (i32, u8, u8) {
    let d = crate::dates::date_of(cfg.report_month.last_day());
    use chrono::Datelike;
    (d.year(), d.month() as u8, d.day() as u8)
}

/// How to render: threads, chatter, and the developer's options.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Parallel report jobs (default: all cores).
    pub jobs: Option<usize>,
    /// 0 quiet, 1 normal, 2+ verbose.
    pub verbosity: u8,
    /// A folder of templates replacing the built-in ones.
    pub templates: Option<std::path::PathBuf>,
    /// Write typst's timing trace (Chrome trace JSON) here.
    pub typst_timings: Option<std::path::PathBuf>,
}

/// Render the selected clinic reports (in parallel) and the study report.
pub fn render_all(inp: &ReportInputs, selected: &[usize], dir: &Path, o: &RenderOptions) -> Result<RenderStats> {
    let engine = match &o.templates {
        Some(d) => Engine::from_dir(d)?,
        None => Engine::new(),
    };
    if o.typst_timings.is_some() {
        typst_timing::clear();
        typst_timing::enable();
    }
    let stats = render_with(&engine, inp, selected, dir, o.jobs, o.verbosity);
    if let Some(p) = &o.typst_timings {
        typst_timing::disable();
        let f = std::fs::File::create(p).map_err(|e| Error::io("cannot write the typst timings", p, e))?;
        typst_timing::export_json(std::io::BufWriter::new(f), |_| (String::new(), 0))
            .map_err(|message| Error::Report { what: "typst timings".into(), message })?;
    }
    stats
}

/// Render with a given engine (tests use one with broken templates).
pub fn render_with(
    engine: &Engine,
    inp: &ReportInputs,
    selected: &[usize],
    dir: &Path,
    jobs: Option<usize>,
    verbosity: u8,
) -> Result<RenderStats> {
    let ms = all_measures(&inp.cfg.metrics, inp.pm.i50);
    let shared = Shared::new(inp);
    let jobs =
        jobs.filter(|j| *j > 0).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let queue = Queue {
        engine,
        inp,
        ms: &ms,
        shared: &shared,
        dir,
        selected,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        bar: progress_bar(verbosity, selected.len()),
        verbosity,
    };
    // The study report compiles on its own thread alongside the clinic
    // workers, so no core idles while it runs at the end.
    let (files, ident) = study::document(inp, &ms, &shared)?;
    let panicked = |what: &str| Error::Report { what: what.into(), message: "a report thread panicked".into() };
    let (results, study_pdf): (Vec<Result<(f64, f64)>>, Result<(Vec<u8>, usize)>) = std::thread::scope(|s| {
        let study = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || -> Result<(Vec<u8>, usize)> {
                let pdf = engine.compile_pdf("study.typ", files, &ident, report_date(inp.cfg))?;
                Ok((pdf, render_facilitators(engine, inp, &shared, dir)?))
            })
            .expect("spawn study report");
        let handles: Vec<_> = (0..jobs.min(selected.len()).max(1))
            .map(|_| {
                let work = || queue.work();
                std::thread::Builder::new().stack_size(64 << 20).spawn_scoped(s, work).expect("spawn report worker")
            })
            .collect();
        let results =
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(panicked("clinic reports")))).collect();
        (results, study.join().unwrap_or_else(|_| Err(panicked("study report"))))
    });
    if let Some(b) = &queue.bar {
        b.finish_and_clear();
    }
    let (mut total, mut data_total) = (0.0, 0.0);
    for r in results {
        let (a, b) = r?;
        total += a;
        data_total += b;
    }
    let (pdf, n_facilitators) = study_pdf?;
    write_pdf(&dir.join("study.pdf"), pdf)?;
    let per_clinic = |x: f64| if selected.is_empty() { 0.0 } else { 1000.0 * x / selected.len() as f64 };
    Ok(RenderStats {
        pdfs: selected.len() * if inp.worklists.is_some() { 2 } else { 1 } + 1 + n_facilitators,
        cpu_ms_per_clinic: per_clinic(total),
        data_ms_per_clinic: per_clinic(data_total),
    })
}

/// The clinic reports to render, pulled by plain worker threads from a
/// shared counter. (A rayon pool here would nest: typst itself uses rayon,
/// and a worker waiting inside typst would steal and start another whole
/// report on the same stack, multiplying memory and stack depth.)
struct Queue<'a> {
    engine: &'a Engine,
    inp: &'a ReportInputs<'a>,
    ms: &'a [Measure],
    shared: &'a Shared<'a>,
    dir: &'a Path,
    selected: &'a [usize],
    next: AtomicUsize,
    done: AtomicUsize,
    bar: Option<indicatif::ProgressBar>,
    verbosity: u8,
}

impl Queue<'_> {
    /// One clinic: its feedback report and, when asked for, its worklist.
    /// Returns the seconds spent on data and charts.
    fn one(&self, c: usize) -> Result<f64> {
        let (inp, date) = (self.inp, report_date(self.inp.cfg));
        let t = Instant::now();
        let (files, ident) = clinic::document(inp, self.ms, self.shared, c)?;
        let data_s = t.elapsed().as_secs_f64();
        let id = file_safe(&inp.data.clinics[c].id);
        write_pdf(
            &self.dir.join(format!("clinic-{id}.pdf")),
            self.engine.compile_pdf("clinic.typ", files, &ident, date)?,
        )?;
        if let Some(lists) = inp.worklists {
            let (files, ident) = worklist::document(inp, &lists[c], c);
            let pdf = self.engine.compile_pdf("worklist.typ", files, &ident, date)?;
            write_pdf(&self.dir.join(format!("worklist-{id}.pdf")), pdf)?;
        }
        Ok(data_s)
    }

    /// A worker: render clinics until none is left; (busy seconds, data seconds).
    fn work(&self) -> Result<(f64, f64)> {
        let (mut busy, mut data_s) = (0.0, 0.0);
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(&c) = self.selected.get(i) else { return Ok((busy, data_s)) };
            let t = Instant::now();
            match self.one(c) {
                Ok(d) => data_s += d,
                Err(e) => {
                    // Stop the other workers too: the run has failed.
                    self.next.store(self.selected.len(), Ordering::Relaxed);
                    return Err(e);
                }
            }
            busy += t.elapsed().as_secs_f64();
            self.progress();
        }
    }

    /// One more report done: the bar, or a line every 100 (every one with -vv).
    fn progress(&self) {
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(b) => b.inc(1),
            None if self.verbosity >= 2 || (self.verbosity >= 1 && n.is_multiple_of(100)) => {
                eprintln!("rendered {n}/{} clinic reports", self.selected.len())
            }
            None => {}
        }
    }
}

/// A progress bar on a terminal with `-v`.
fn progress_bar(verbosity: u8, n: usize) -> Option<indicatif::ProgressBar> {
    (verbosity >= 1 && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let b = indicatif::ProgressBar::new(n as u64);
        b.set_style(indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})").unwrap());
        b.set_message("clinic reports");
        b
    })
}

/// Write one PDF.
fn write_pdf(p: &Path, pdf: Vec<u8>) -> Result<()> {
    std::fs::write(p, pdf).map_err(|e| Error::io("cannot write", p, e))
}

/// Render every facilitator's portfolio (on the study report's thread);
/// returns how many were written.
fn render_facilitators(engine: &Engine, inp: &ReportInputs, shared: &Shared, dir: &Path) -> Result<usize> {
    if !inp.facilitator_reports {
        return Ok(0);
    }
    let portfolios = crate::metrics::facilitators::portfolios(inp.data);
    for (id, clinics) in &portfolios {
        let (files, ident) = facilitator::document(inp, shared, id, clinics);
        let pdf = engine.compile_pdf("facilitator.typ", files, &ident, report_date(inp.cfg))?;
        let p = dir.join(format!("facilitator-{}.pdf", file_safe(id)));
        std::fs::write(&p, pdf).map_err(|e| Error::io("cannot write", &p, e))?;
    }
    Ok(portfolios.len())
}

/// An id as part of a file name: characters other than ASCII letters,
/// digits, `.`, `_` and `-` become `_` (so an id can never name another
/// folder), and an id that needed it gets its FNV-1a hash appended, so two
/// ids never share a file (`Å` and `Ä` both become `_`, with different hashes).
pub fn file_safe(id: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut s: String = id.chars().map(|c| if ok(c) { c } else { '_' }).collect();
    if s.starts_with('.') || !id.chars().all(ok) {
        s = format!("{}-{:08x}", s.trim_start_matches('.'), crate::model::fnv1a(id) as u32);
    }
    s
}

/// A number with one decimal, `–` when absent.
pub fn f1(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}", crate::mme::round1(v))).unwrap_or_else(|| "–".into())
}

/// A signed change with one decimal (`+1.2`, `−0.4`, `0.0`), `–` when absent.
pub fn signed(x: Option<f64>) -> String {
    match x.map(crate::mme::round1) {
        None => "–".into(),
        Some(v) if v > 0.0 => format!("+{v:.1}"),
        Some(v) if v < 0.0 => format!("−{:.1}", -v),
        Some(_) => "0.0".into(),
    }
}

/// Month label: `June 2024`.
pub fn month_name(m: crate::dates::Month) -> String {
    const N: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    format!("{} {}", N[m.month() as usize - 1], m.year())
}

#[cfg(test)]
mod tests {
    use super::file_safe;

    #[test]
    fn file_names_never_leave_the_folder_and_never_collide() {
        assert_eq!(file_safe("C0001"), "C0001");
        assert_eq!(file_safe("F-1.b_2"), "F-1.b_2");
        let (a, b) = (file_safe("Å"), file_safe("Ä"));
        assert!(a.starts_with("_-") && b.starts_with("_-") && a != b, "{a} {b}");
        let up = file_safe("../x");
        assert!(!up.contains('/') && !up.starts_with('.'), "{up}");
        assert_ne!(file_safe("a/b"), file_safe("a_b"));
    }
}
