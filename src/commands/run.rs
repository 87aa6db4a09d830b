//! `sixbb run PIPELINE`: the whole batch.

use crate::batch::{run_batch, RunOptions};
use crate::cli::RunArgs;
use crate::config::{Config, Overrides};
use crate::error::Result;

/// Resolve the arguments once and run the batch.
pub fn run(a: RunArgs) -> Result<i32> {
    let cfg = Config::load(&a.pipeline, &Overrides { month: a.month, out: a.out.clone() })?;
    let shard = a.shard;
    let opts = RunOptions {
        shard,
        clinics: a.clinics,
        jobs: a.jobs,
        force: a.force,
        no_worklists: a.no_worklists,
        no_facilitator_reports: a.no_facilitator_reports,
        strict_extracts: a.strict_extracts,
        templates: a.templates,
        typst_timings: a.typst_timings,
        verbosity: if a.quiet { 0 } else { 1 + a.verbose },
        fail_after_metrics: false,
    };
    let outcome = run_batch(&cfg, &opts)?;
    Ok(if outcome.rejected_rows > 0 { 1 } else { 0 })
}
