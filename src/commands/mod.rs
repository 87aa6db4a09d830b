//! One module per subcommand. Each turns its raw arguments into a
//! preprocessed configuration once and calls the library stage.

pub mod merge;
pub mod mme;
pub mod run;
pub mod synth;
pub mod validate;

use crate::cli::Command;
use crate::error::Result;

/// Run a subcommand; returns the process exit code (0 clean, 1 rows rejected).
pub fn dispatch(cmd: Command) -> Result<i32> {
    match cmd {
        Command::Run(a) => run::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Mme(a) => mme::run(a),
        Command::Merge(a) => merge::run(a),
    }
}
