//! `sixbb validate PIPELINE`: the input checks only.

use crate::cli::ValidateArgs;
use crate::config::{Config, Overrides};
use crate::error::{Error, Result};
use crate::ingest::{issues::issues_csv, validate};

/// Validate and print the summary; exit code 1 when rows were rejected.
pub fn run(a: ValidateArgs) -> Result<i32> {
    let cfg = Config::load(&a.pipeline, &Overrides { month: a.month, out: None })?;
    let v = validate(&cfg)?;
    println!("sixbb {} — validation of {} for {}", crate::VERSION, cfg.pipeline.display(), cfg.report_month);
    print!("{}", v.summary.render());
    let extracts = crate::batch::extracts_of(&cfg, &v)?;
    let flagged = crate::metrics::extract_checks::flagged(&extracts, cfg.report_month);
    if flagged.is_empty() {
        println!("extract checks: nothing flagged for {}", cfg.report_month);
    } else {
        println!("extract checks flag {}:", cfg.report_month);
        print!("{}", crate::batch::flag_lines(&v.data, &flagged));
    }
    if let Some(dir) = a.issues_out {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let p = dir.join("issues.csv");
        std::fs::write(&p, issues_csv(&v.issues)).map_err(|e| Error::io("cannot write", &p, e))?;
        println!("issues written to {}", p.display());
    }
    let rejected = v.summary.rejected();
    if a.strict_extracts && !flagged.is_empty() {
        println!("--strict-extracts: the report month is flagged");
        return Ok(2);
    }
    if rejected > 0 {
        println!("{rejected} rows rejected: see data_quality/issues.csv after a run (or --issues-out)");
        Ok(1)
    } else {
        println!("clean: no rows rejected");
        Ok(0)
    }
}
