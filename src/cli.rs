//! Command-line arguments (clap derive). `main.rs` parses them and hands
//! them to [`crate::commands::dispatch`].

use crate::dates::Month;
use crate::reference::MmeTable;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// sixbb — the monthly batch of the Six Building Blocks opioid-safety study.
#[derive(Debug, Parser)]
#[command(name = "sixbb", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole monthly batch: validate → metrics → charts → reports.
    Run(RunArgs),
    /// Check the inputs only; exit 0 when clean, 1 when rows were rejected, 2 on a fatal error.
    Validate(ValidateArgs),
    /// Write deterministic synthetic study data in the SPEC format.
    Synth(SynthArgs),
    /// Print the daily MME of one prescription.
    Mme(MmeArgs),
    /// Assemble the output folders of `run --shard I/N` into one folder.
    Merge(MergeArgs),
}

impl Command {
    /// The subcommand's name, for error context.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Validate(_) => "validate",
            Command::Synth(_) => "synth",
            Command::Mme(_) => "mme",
            Command::Merge(_) => "merge",
        }
    }
}

/// `sixbb merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shard output folders.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// The merged output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an earlier sixbb output folder (or an empty one); never a folder holding the inputs.
    #[arg(long)]
    pub force: bool,
}

/// `sixbb run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Report month YYYY-MM (overrides report.month).
    #[arg(long, value_name = "YYYY-MM", value_parser = month_arg)]
    pub month: Option<Month>,
    /// Output folder (overrides output.folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Render clinic reports for these clinic ids only (metrics stay study-wide).
    #[arg(long = "clinic", value_name = "ID")]
    pub clinics: Vec<String>,
    /// Parallel report jobs (default: all cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Replace an earlier sixbb output folder (or an empty one); never a folder holding the inputs.
    #[arg(long)]
    pub force: bool,
    /// Render only the clinic reports of shard I of N (e.g. 2/8; stable by clinic id).
    #[arg(long, value_name = "I/N", value_parser = shard_arg)]
    pub shard: Option<(u32, u32)>,
    /// Do not write the care-gap worklists.
    #[arg(long)]
    pub no_worklists: bool,
    /// Do not render the facilitator portfolio PDFs.
    #[arg(long)]
    pub no_facilitator_reports: bool,
    /// Fail (exit 2, nothing written) when an extract check flags the report month.
    #[arg(long)]
    pub strict_extracts: bool,
    /// Render with the templates in DIR (edited copies of report-templates/) instead of the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Write typst's layout and export timings to FILE (Chrome trace JSON), for profiling.
    #[arg(long, value_name = "FILE")]
    pub typst_timings: Option<PathBuf>,
    /// Print only errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// More detail (stage timings, notes).
    #[arg(long, short, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// `sixbb validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Report month YYYY-MM (overrides report.month).
    #[arg(long, value_name = "YYYY-MM", value_parser = month_arg)]
    pub month: Option<Month>,
    /// Also write data_quality/issues.csv into this folder.
    #[arg(long)]
    pub issues_out: Option<PathBuf>,
    /// Exit 2 when an extract check flags the report month.
    #[arg(long)]
    pub strict_extracts: bool,
}

/// `sixbb synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Number of clinics.
    #[arg(long, default_value_t = 8)]
    pub clinics: u32,
    /// Months of data.
    #[arg(long, default_value_t = 36)]
    pub months: u32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Last month of data (YYYY-MM).
    #[arg(long, value_name = "YYYY-MM", default_value = "2024-06", value_parser = month_arg)]
    pub end: Month,
    /// Mean patients per clinic.
    #[arg(long, default_value_t = 500)]
    pub patients: u32,
    /// Append a few deliberately bad rows.
    #[arg(long)]
    pub with_bad_rows: bool,
    /// Size of the built-in program effect: 1 as documented, 0 for none (a
    /// placebo study: start dates but no program), up to 2.
    #[arg(long, default_value_t = 1.0)]
    pub effect: f64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
}

/// `sixbb mme`.
#[derive(Debug, Args)]
pub struct MmeArgs {
    /// Ingredient, e.g. oxycodone.
    #[arg(long)]
    pub drug: String,
    /// Route (oral, transdermal, buccal, sublingual, nasal, rectal).
    #[arg(long, default_value = "oral")]
    pub route: String,
    /// Strength per unit.
    #[arg(long)]
    pub strength: f64,
    /// Strength unit (mg, mg/ml, mcg/hr, mcg).
    #[arg(long, default_value = "mg")]
    pub unit: String,
    /// Units dispensed.
    #[arg(long)]
    pub quantity: f64,
    /// Days supply.
    #[arg(long)]
    pub days_supply: u32,
    /// MME table.
    #[arg(long, default_value = "cdc-2022", value_parser = table_arg())]
    pub table: MmeTable,
}

/// A month `YYYY-MM`, parsed once.
fn month_arg(s: &str) -> Result<Month, String> {
    Month::parse(s).ok_or_else(|| format!("{s}: expected a month YYYY-MM"))
}

/// `--table`: the MME tables by their pipeline names.
fn table_arg() -> impl clap::builder::TypedValueParser<Value = MmeTable> {
    use clap::builder::TypedValueParser;
    let names = [MmeTable::Cdc2022, MmeTable::Cdc2016].map(MmeTable::as_str);
    clap::builder::PossibleValuesParser::new(names).map(|s| MmeTable::parse(&s).expect("a listed name"))
}

/// `--shard I/N`, parsed once into (I, N) with 1 ≤ I ≤ N.
fn shard_arg(s: &str) -> Result<(u32, u32), String> {
    crate::batch::parse_shard(s).ok_or_else(|| format!("{s}: expected I/N with 1 ≤ I ≤ N"))
}
