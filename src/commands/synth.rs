//! `sixbb synth`: synthetic study data.

use crate::cli::SynthArgs;
use crate::error::{Error, Result};
use crate::synth::{generate, SynthOptions};

/// Generate the data and print the row counts.
pub fn run(a: SynthArgs) -> Result<i32> {
    let end = a.end;
    if a.clinics == 0 || a.months < 3 {
        return Err(Error::Usage("--clinics must be ≥ 1 and --months ≥ 3".into()));
    }
    if !(0.0..=2.0).contains(&a.effect) {
        return Err(Error::Usage(format!("--effect {}: expected a number from 0 to 2", a.effect)));
    }
    let opts = SynthOptions {
        clinics: a.clinics,
        months: a.months,
        seed: a.seed,
        end,
        patients: a.patients,
        bad_rows: a.with_bad_rows,
        effect: a.effect,
        out: a.out.clone(),
    };
    let c = generate(&opts)?;
    println!(
        "wrote {}: {} clinics, {} prescriptions, {} care events, {} milestones, {} facilitation rows, {} exclusions",
        a.out.display(),
        c.clinics,
        c.prescriptions,
        c.care_events,
        c.milestones,
        c.facilitation,
        c.exclusions
    );
    Ok(0)
}
