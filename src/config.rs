//! Pipeline files (SPEC §0): parsed with serde (`deny_unknown_fields`), then
//! checked and resolved once into a [`Config`] that every stage reads.

use crate::dates::Month;
use crate::error::{Error, Result};
use crate::model::ExclusionReason;
use crate::reference::MmeTable;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The five input tables of SPEC §1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableName {
    Clinics,
    Prescriptions,
    CareEvents,
    Milestones,
    Facilitation,
    Exclusions,
    Targets,
}

impl TableName {
    /// Every table, in the order they are read.
    pub const ALL: [TableName; 7] = [
        TableName::Clinics,
        TableName::Prescriptions,
        TableName::CareEvents,
        TableName::Milestones,
        TableName::Facilitation,
        TableName::Exclusions,
        TableName::Targets,
    ];
    /// The table's file stem and name in `issues.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Clinics => "clinics",
            TableName::Prescriptions => "prescriptions",
            TableName::CareEvents => "care_events",
            TableName::Milestones => "milestones",
            TableName::Facilitation => "facilitation",
            TableName::Exclusions => "exclusions",
            TableName::Targets => "targets",
        }
    }
    /// Whether a run stops when the table is missing.
    pub fn required(self) -> bool {
        !matches!(self, TableName::CareEvents | TableName::Facilitation | TableName::Exclusions | TableName::Targets)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    data: RawData,
    report: RawReport,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    targets: std::collections::BTreeMap<String, f64>,
    #[serde(default)]
    checks: ChecksConfig,
    #[serde(default)]
    outcomes: RawOutcomes,
}

/// `[outcomes]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOutcomes {
    analysis_start: Option<String>,
    warmup_months: u32,
    bootstrap_replications: u32,
    bootstrap_seed: u64,
}

impl Default for RawOutcomes {
    fn default() -> Self {
        let d = OutcomesConfig::default();
        RawOutcomes {
            analysis_start: None,
            warmup_months: d.warmup_months,
            bootstrap_replications: d.bootstrap_replications,
            bootstrap_seed: d.bootstrap_seed,
        }
    }
}

/// The outcome models' inputs (`[outcomes]`, issue 17), checked.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OutcomesConfig {
    /// First month the models read; `None`: the first month after the
    /// warm-up with at least `min_cell` LTOT patients study-wide.
    pub analysis_start: Option<Month>,
    /// Months of data left out at the start (lookbacks reach before the data).
    pub warmup_months: u32,
    /// Wild cluster bootstrap replications (at least 999).
    pub bootstrap_replications: u32,
    /// Seed of the bootstrap's random stream (outputs stay byte-identical).
    pub bootstrap_seed: u64,
}

impl Default for OutcomesConfig {
    fn default() -> Self {
        OutcomesConfig {
            analysis_start: None,
            warmup_months: 12,
            bootstrap_replications: 999,
            bootstrap_seed: 20190701,
        }
    }
}

/// Check `[outcomes]`: a month for `analysis_start`, a warm-up of at most
/// 120 months, 999 to 99,999 replications.
fn check_outcomes(r: RawOutcomes) -> std::result::Result<OutcomesConfig, String> {
    let analysis_start = match &r.analysis_start {
        None => None,
        Some(t) => Some(
            Month::parse(t)
                .ok_or_else(|| format!("outcomes.analysis_start = \"{t}\" is not a month in the form YYYY-MM"))?,
        ),
    };
    if r.warmup_months > 120 {
        return Err(format!("outcomes.warmup_months = {} must be from 0 to 120", r.warmup_months));
    }
    if !(999..=99_999).contains(&r.bootstrap_replications) {
        return Err(format!(
            "outcomes.bootstrap_replications = {} must be from 999 to 99999",
            r.bootstrap_replications
        ));
    }
    Ok(OutcomesConfig {
        analysis_start,
        warmup_months: r.warmup_months,
        bootstrap_replications: r.bootstrap_replications,
        bootstrap_seed: r.bootstrap_seed,
    })
}

/// Thresholds of the per-site extract checks (`[checks]`, issue 19).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// `drop`: a month's rows below this share of the clinic's trailing 12-month median.
    pub drop_ratio: f64,
    /// `spike`: above this multiple of the median.
    pub spike_ratio: f64,
    /// `rejected_share`: more than this share of the month's rows rejected.
    pub rejected_share: f64,
    /// `late`: the clinic's latest written_date more than this many days before the end of the report month.
    pub late_days: u32,
    /// `no_rows`: no rows in a month after rows in each of this many months before.
    pub no_rows_months: u32,
    /// `drop` and `spike` need a trailing median of at least this many rows
    /// (a clinic with 3 rows a month moves by half from one row to the next).
    pub min_median_rows: u32,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            drop_ratio: 0.5,
            spike_ratio: 2.0,
            rejected_share: 0.05,
            late_days: 31,
            no_rows_months: 3,
            min_median_rows: 10,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    folder: String,
    clinics: Option<String>,
    prescriptions: Option<String>,
    care_events: Option<String>,
    milestones: Option<String>,
    facilitation: Option<String>,
    exclusions: Option<String>,
    targets: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    month: String,
    #[serde(default = "d_lookback")]
    lookback_months: u32,
    #[serde(default = "d_min_cell")]
    min_cell: u32,
    #[serde(default = "d_min_peer")]
    min_peer_clinics: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    #[serde(default)]
    mme_table: MmeTable,
    #[serde(default = "d_window")]
    ltot_window_days: u32,
    #[serde(default = "d_min_days")]
    ltot_min_days: u32,
    #[serde(default = "d_thresholds")]
    high_dose_thresholds: Vec<f64>,
    #[serde(default = "d_one")]
    benzo_overlap_min_days: u32,
    #[serde(default = "d_attr")]
    attribution_days: u32,
    #[serde(default = "d_reasons")]
    exclusion_reasons: Vec<String>,
    #[serde(default = "d_attr")]
    exclusion_lookback_days: u32,
    #[serde(default = "d_window")]
    new_start_lookback_days: u32,
}

impl Default for RawMetrics {
    fn default() -> Self {
        RawMetrics {
            mme_table: MmeTable::default(),
            ltot_window_days: d_window(),
            ltot_min_days: d_min_days(),
            high_dose_thresholds: d_thresholds(),
            benzo_overlap_min_days: d_one(),
            attribution_days: d_attr(),
            exclusion_reasons: d_reasons(),
            exclusion_lookback_days: d_attr(),
            new_start_lookback_days: d_window(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    #[serde(default = "d_out")]
    folder: String,
}

impl Default for RawOutput {
    fn default() -> Self {
        RawOutput { folder: d_out() }
    }
}

fn d_lookback() -> u32 {
    24
}
fn d_min_cell() -> u32 {
    11
}
fn d_window() -> u32 {
    90
}
fn d_min_days() -> u32 {
    60
}
fn d_thresholds() -> Vec<f64> {
    vec![50.0, 90.0]
}
fn d_one() -> u32 {
    1
}
fn d_attr() -> u32 {
    365
}
fn d_min_peer() -> i64 {
    5
}
fn d_reasons() -> Vec<String> {
    ExclusionReason::ALL.iter().map(|r| r.as_str().to_string()).collect()
}
fn d_out() -> String {
    "../out/{month}".into()
}

/// Metric parameters (SPEC §0 `[metrics]`), checked.
#[derive(Clone, Debug, Serialize)]
pub struct MetricsConfig {
    pub mme_table: MmeTable,
    pub ltot_window_days: u32,
    pub ltot_min_days: u32,
    /// Ascending, de-duplicated, always holding 50.
    pub high_dose_thresholds: Vec<f64>,
    pub benzo_overlap_min_days: u32,
    pub attribution_days: u32,
    /// Reasons that exclude a patient (SPEC §6.1); empty disables exclusions.
    pub exclusion_reasons: Vec<ExclusionReason>,
    pub exclusion_lookback_days: u32,
    pub new_start_lookback_days: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            mme_table: MmeTable::Cdc2022,
            ltot_window_days: 90,
            ltot_min_days: 60,
            high_dose_thresholds: vec![50.0, 90.0],
            benzo_overlap_min_days: 1,
            attribution_days: 365,
            exclusion_reasons: ExclusionReason::ALL.to_vec(),
            exclusion_lookback_days: 365,
            new_start_lookback_days: 90,
        }
    }
}

impl MetricsConfig {
    /// Threshold labels as written in the pipeline (`50`, `7.5`).
    pub fn threshold_labels(&self) -> Vec<String> {
        self.high_dose_thresholds.iter().map(|t| format!("{t}")).collect()
    }
}

/// Whether `target` is a valid goal for `measure`: finite, 0–100 for a
/// `_pct` measure, ≥ 0 for mean daily MME.
pub fn target_in_range(measure: &str, target: f64) -> bool {
    target.is_finite() && target >= 0.0 && (!measure.ends_with("_pct") || target <= 100.0)
}

/// Check `[targets]`: every name a clinic_month `_pct` column or
/// `mean_daily_mme`, every value in range (SPEC §6.1, §6.7.15).
fn check_targets(
    raw: &std::collections::BTreeMap<String, f64>,
    labels: &[String],
) -> std::result::Result<Vec<(String, f64)>, String> {
    let names = crate::measures::target_names(labels);
    let mut out = Vec::new();
    for (k, v) in raw {
        if !names.contains(k) {
            return Err(format!(
                "targets.{k}: unknown measure (expected a clinic_month _pct column or mean_daily_mme)"
            ));
        }
        if !target_in_range(k, *v) {
            return Err(format!("targets.{k} = {v} is out of range (0 to 100 for a _pct measure, ≥ 0 otherwise)"));
        }
        out.push((k.clone(), *v));
    }
    Ok(out)
}

/// Check `[checks]`: ratios positive and finite, the drop below the spike,
/// the rejected share in (0, 1], at least one month for `no_rows`.
fn check_checks(c: ChecksConfig) -> std::result::Result<ChecksConfig, String> {
    let pos = |x: f64| x.is_finite() && x > 0.0;
    if !pos(c.drop_ratio) || !pos(c.spike_ratio) || c.drop_ratio >= c.spike_ratio {
        return Err(format!(
            "checks.drop_ratio = {} and checks.spike_ratio = {} must be positive, the drop below the spike",
            c.drop_ratio, c.spike_ratio
        ));
    }
    if !pos(c.rejected_share) || c.rejected_share > 1.0 {
        return Err(format!("checks.rejected_share = {} must be in (0, 1]", c.rejected_share));
    }
    if c.no_rows_months == 0 || c.no_rows_months > 24 || c.late_days > 3660 {
        return Err(format!(
            "checks.no_rows_months = {} must be from 1 to 24 and checks.late_days = {} at most 3660",
            c.no_rows_months, c.late_days
        ));
    }
    Ok(c)
}

/// Check `[report]`: the lookback from 1 to 240 months, at least one peer
/// clinic. Returns `min_peer_clinics`.
fn check_report(r: &RawReport) -> std::result::Result<u32, String> {
    if r.lookback_months == 0 || r.lookback_months > 240 {
        return Err(format!("report.lookback_months = {} must be from 1 to 240", r.lookback_months));
    }
    if r.min_peer_clinics < 1 || r.min_peer_clinics > u32::MAX as i64 {
        return Err(format!("report.min_peer_clinics = {} must be an integer of at least 1", r.min_peer_clinics));
    }
    Ok(r.min_peer_clinics as u32)
}

/// Check `[metrics]`: windows and lookbacks in range, thresholds positive
/// (50 added, sorted, de-duplicated), exclusion reasons known.
fn check_metrics(m: RawMetrics) -> std::result::Result<MetricsConfig, String> {
    if m.ltot_window_days == 0 || m.ltot_window_days > 366 {
        return Err(format!("metrics.ltot_window_days = {} must be from 1 to 366", m.ltot_window_days));
    }
    if m.ltot_min_days == 0 || m.ltot_min_days > m.ltot_window_days {
        return Err(format!(
            "metrics.ltot_min_days = {} must be from 1 to metrics.ltot_window_days ({})",
            m.ltot_min_days, m.ltot_window_days
        ));
    }
    if m.attribution_days == 0 || m.attribution_days > 3660 {
        return Err(format!("metrics.attribution_days = {} must be from 1 to 3660", m.attribution_days));
    }
    if m.benzo_overlap_min_days == 0 || m.benzo_overlap_min_days > 31 {
        return Err(format!("metrics.benzo_overlap_min_days = {} must be from 1 to 31", m.benzo_overlap_min_days));
    }
    for (key, v) in [
        ("metrics.exclusion_lookback_days", m.exclusion_lookback_days),
        ("metrics.new_start_lookback_days", m.new_start_lookback_days),
    ] {
        if v == 0 || v > 3660 {
            return Err(format!("{key} = {v} must be from 1 to 3660"));
        }
    }
    Ok(MetricsConfig {
        mme_table: m.mme_table,
        ltot_window_days: m.ltot_window_days,
        ltot_min_days: m.ltot_min_days,
        high_dose_thresholds: check_thresholds(&m.high_dose_thresholds)?,
        benzo_overlap_min_days: m.benzo_overlap_min_days,
        attribution_days: m.attribution_days,
        exclusion_reasons: check_reasons(&m.exclusion_reasons)?,
        exclusion_lookback_days: m.exclusion_lookback_days,
        new_start_lookback_days: m.new_start_lookback_days,
    })
}

/// High-dose thresholds: positive, 50 always among them, ascending, unique.
fn check_thresholds(raw: &[f64]) -> std::result::Result<Vec<f64>, String> {
    if let Some(bad) = raw.iter().find(|t| !t.is_finite() || **t <= 0.0) {
        return Err(format!("metrics.high_dose_thresholds: {bad} is not a positive number"));
    }
    let mut th = raw.to_vec();
    th.push(50.0);
    th.sort_by(|a, b| a.partial_cmp(b).unwrap());
    th.dedup();
    Ok(th)
}

/// Exclusion reasons: each one of the SPEC's four.
fn check_reasons(raw: &[String]) -> std::result::Result<Vec<ExclusionReason>, String> {
    raw.iter()
        .map(|r| {
            ExclusionReason::parse(r).ok_or_else(|| {
                format!("metrics.exclusion_reasons: \"{r}\" is not one of cancer, hospice, palliative, sickle_cell")
            })
        })
        .collect()
}

/// `[data]`'s per-table paths, resolved.
fn table_overrides(d: &RawData, resolve: impl Fn(&str) -> PathBuf) -> Vec<(TableName, PathBuf)> {
    [
        (TableName::Clinics, &d.clinics),
        (TableName::Prescriptions, &d.prescriptions),
        (TableName::CareEvents, &d.care_events),
        (TableName::Milestones, &d.milestones),
        (TableName::Facilitation, &d.facilitation),
        (TableName::Exclusions, &d.exclusions),
        (TableName::Targets, &d.targets),
    ]
    .into_iter()
    .filter_map(|(t, p)| p.as_ref().map(|p| (t, resolve(p))))
    .collect()
}

/// A resolved pipeline: every path absolute-or-relative-to-cwd, every default
/// filled in, every value checked.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    /// The pipeline file this came from.
    pub pipeline: PathBuf,
    /// The data folder.
    pub data_folder: PathBuf,
    /// Per-table path overrides (without extension lookup).
    pub table_overrides: Vec<(TableName, PathBuf)>,
    pub report_month: Month,
    pub lookback_months: u32,
    pub min_cell: u32,
    /// Peer comparators need at least this many clinics (SPEC §6.6).
    pub min_peer_clinics: u32,
    pub metrics: MetricsConfig,
    /// `[targets]`: measure name → goal, sorted by name.
    pub targets: Vec<(String, f64)>,
    /// `[checks]`: extract-check thresholds.
    pub checks: ChecksConfig,
    /// `[outcomes]`: the outcome models' months and bootstrap.
    pub outcomes: OutcomesConfig,
    /// The output folder (with `{month}` filled in).
    pub out_dir: PathBuf,
}

/// Command-line overrides of a pipeline file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--month`, parsed by the command line.
    pub month: Option<Month>,
    pub out: Option<PathBuf>,
}

impl Config {
    /// Read and resolve a pipeline file.
    pub fn load(path: &Path, ov: &Overrides) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        Config::from_str(&text, path, ov)
    }

    /// Resolve pipeline text as if read from `path`.
    pub fn from_str(text: &str, path: &Path, ov: &Overrides) -> Result<Config> {
        let err = |message: String| Error::Config { path: path.to_path_buf(), message };
        let raw: RawPipeline = toml::from_str(text).map_err(|e| err(e.to_string().trim_end().to_string()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &str| -> PathBuf {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let report_month = match ov.month {
            Some(m) => m,
            None => Month::parse(&raw.report.month).ok_or_else(|| {
                err(format!("report.month = \"{}\" is not a month in the form YYYY-MM", raw.report.month))
            })?,
        };
        let min_peer_clinics = check_report(&raw.report).map_err(err)?;
        let metrics = check_metrics(raw.metrics).map_err(err)?;
        let targets = check_targets(&raw.targets, &metrics.threshold_labels()).map_err(err)?;
        let outcomes = check_outcomes(raw.outcomes).map_err(err)?;
        if let Some(a) = outcomes.analysis_start.filter(|a| *a > report_month) {
            return Err(err(format!("outcomes.analysis_start = \"{a}\" is after the report month {report_month}")));
        }
        let out_dir = match &ov.out {
            Some(p) => p.clone(),
            None => resolve(&raw.output.folder.replace("{month}", &report_month.to_string())),
        };
        Ok(Config {
            pipeline: path.to_path_buf(),
            data_folder: resolve(&raw.data.folder),
            table_overrides: table_overrides(&raw.data, resolve),
            report_month,
            lookback_months: raw.report.lookback_months,
            min_cell: raw.report.min_cell,
            min_peer_clinics,
            targets,
            checks: check_checks(raw.checks).map_err(err)?,
            outcomes,
            metrics,
            out_dir,
        })
    }

    /// The months of the reporting window, oldest first.
    pub fn window(&self) -> Vec<Month> {
        self.report_month.window(self.lookback_months)
    }

    /// Where a table is read from: an override, or `<folder>/<table>.csv|.parquet`.
    /// `Ok(None)` when no file exists.
    pub fn table_path(&self, t: TableName) -> Result<Option<PathBuf>> {
        if let Some((_, p)) = self.table_overrides.iter().find(|(n, _)| *n == t) {
            return Ok(Some(p.clone()));
        }
        let csv = self.data_folder.join(format!("{}.csv", t.as_str()));
        let pq = self.data_folder.join(format!("{}.parquet", t.as_str()));
        match (csv.exists(), pq.exists()) {
            (true, true) => Err(Error::input(
                &csv,
                None,
                None,
                format!(
                    "both {} and {} exist; keep one, or name one in [data] {}",
                    csv.display(),
                    pq.display(),
                    t.as_str()
                ),
            )),
            (true, false) => Ok(Some(csv)),
            (false, true) => Ok(Some(pq)),
            (false, false) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        Config::from_str(text, Path::new("pipelines/x.toml"), &Overrides::default())
    }

    #[test]
    fn defaults_are_the_spec_defaults() {
        let c = load("[data]\nfolder = \"../data\"\n[report]\nmonth = \"2024-06\"\n").unwrap();
        assert_eq!(c.lookback_months, 24);
        assert_eq!(c.min_cell, 11);
        assert_eq!(c.metrics.mme_table, MmeTable::Cdc2022);
        assert_eq!(c.metrics.ltot_window_days, 90);
        assert_eq!(c.metrics.ltot_min_days, 60);
        assert_eq!(c.metrics.high_dose_thresholds, vec![50.0, 90.0]);
        assert_eq!(c.metrics.benzo_overlap_min_days, 1);
        assert_eq!(c.metrics.attribution_days, 365);
        assert_eq!(c.metrics.exclusion_reasons.len(), 4);
        assert_eq!(c.metrics.exclusion_lookback_days, 365);
        assert_eq!(c.metrics.new_start_lookback_days, 90);
        assert_eq!(c.min_peer_clinics, 5);
        assert!(c.targets.is_empty());
        assert_eq!(c.data_folder, Path::new("pipelines/../data"));
        assert_eq!(c.out_dir, Path::new("pipelines/../out/2024-06"));
    }

    #[test]
    fn overrides_replace_month_and_out() {
        let ov = Overrides { month: Month::parse("2023-12"), out: Some("/tmp/o".into()) };
        let c = Config::from_str("[data]\nfolder = \"d\"\n[report]\nmonth = \"2024-06\"\n", Path::new("p.toml"), &ov)
            .unwrap();
        assert_eq!(c.report_month.to_string(), "2023-12");
        assert_eq!(c.out_dir, Path::new("/tmp/o"));
        assert_eq!(c.window().len(), 24);
        assert_eq!(c.window()[0].to_string(), "2022-01");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = load("[data]\nfolder = \"d\"\n[report]\nmonth = \"2024-06\"\nlookback = 3\n").unwrap_err().to_string();
        assert!(e.contains("pipelines/x.toml") && e.contains("lookback"), "{e}");
    }

    #[test]
    fn wrong_value_is_named() {
        let e = load("[data]\nfolder = \"d\"\n[report]\nmonth = \"2024-06\"\n[metrics]\nmme_table = \"cdc-2019\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cdc-2019") && e.contains("mme_table"), "{e}");
        let e = load("[data]\nfolder = \"d\"\n[report]\nmonth = \"June\"\n").unwrap_err().to_string();
        assert!(e.contains("report.month"), "{e}");
        let e = load("[data]\nfolder = \"d\"\n[report]\nmonth = \"2024-06\"\n[metrics]\nltot_min_days = 91\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics.ltot_min_days"), "{e}");
    }

    #[test]
    fn missing_required_key_is_named() {
        let e = load("[data]\nfolder = \"d\"\n[report]\nlookback_months = 3\n").unwrap_err().to_string();
        assert!(e.contains("month"), "{e}");
    }

    #[test]
    fn targets_and_version_2_keys_are_checked() {
        let base = "[data]\nfolder = \"d\"\n[report]\nmonth = \"2024-06\"\n";
        let c = load(&format!("{base}[targets]\nhigh_dose_90_pct = 10\nudt_pct = 80\nmean_daily_mme = 60\n")).unwrap();
        assert_eq!(c.targets.len(), 3);
        for (bad, named) in [
            ("[targets]\nhigh_dose_95_pct = 10\n", "high_dose_95_pct"),
            ("[targets]\nudt_n = 10\n", "udt_n"),
            ("[targets]\nudt_pct = 101\n", "udt_pct"),
            ("[targets]\nudt_pct = -1\n", "udt_pct"),
            ("[metrics]\nexclusion_reasons = [\"cancer\", \"gout\"]\n", "gout"),
        ] {
            let e = load(&format!("{base}{bad}")).unwrap_err().to_string();
            assert!(e.contains(named), "{e}");
        }
        let e = load(&base.replace("2024-06\"\n", "2024-06\"\nmin_peer_clinics = 0\n")).unwrap_err().to_string();
        assert!(e.contains("min_peer_clinics"), "{e}");
        let c = load(&format!("{base}[metrics]\nexclusion_reasons = []\n")).unwrap();
        assert!(c.metrics.exclusion_reasons.is_empty());
    }

    #[test]
    fn thresholds_are_sorted_and_always_hold_50() {
        let c = load(
            "[data]\nfolder = \"d\"\n[report]\nmonth = \"2024-06\"\n[metrics]\nhigh_dose_thresholds = [100, 7.5]\n",
        )
        .unwrap();
        assert_eq!(c.metrics.high_dose_thresholds, vec![7.5, 50.0, 100.0]);
        assert_eq!(c.metrics.threshold_labels(), vec!["7.5", "50", "100"]);
    }
}
