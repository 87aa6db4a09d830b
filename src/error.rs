//! Typed errors of the library. The binary turns them into messages and exit
//! codes at its edge (see `main.rs`).

use std::path::PathBuf;

/// Everything that can stop a sixbb stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file is missing, malformed, or holds a wrong key or value.
    #[error("pipeline file {path}: {message}")]
    Config { path: PathBuf, message: String },

    /// A fatal input problem: missing table or column, unparseable file,
    /// identifier-like column or value. `line` is the file line (header = 1)
    /// when known, `column` the column name when known.
    #[error("{}", fmt_input(.file, .line, .column, .message))]
    Input { file: PathBuf, line: Option<usize>, column: Option<String>, message: String },

    /// A report template failed to compile.
    #[error("template {file}:{line}:{column}: {message}")]
    Template { file: String, line: usize, column: usize, message: String },

    /// Rendering a chart or exporting a PDF failed.
    #[error("report {what}: {message}")]
    Report { what: String, message: String },

    /// A file-system operation failed. The OS message is the source: the
    /// binary prints the chain once (`{:#}`), so it is not repeated here.
    #[error("{action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Invalid use of the command line or of a stage.
    #[error("{0}")]
    Usage(String),
}

fn fmt_input(file: &std::path::Path, line: &Option<usize>, column: &Option<String>, message: &str) -> String {
    let mut s = format!("{}", file.display());
    if let Some(l) = line {
        s.push_str(&format!(", line {l}"));
    }
    if let Some(c) = column {
        s.push_str(&format!(", column '{c}'"));
    }
    s.push_str(": ");
    s.push_str(message);
    s
}

impl Error {
    /// Shorthand for an I/O error with the path it concerns.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    /// Shorthand for a fatal input error.
    pub fn input(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        Error::Input { file: file.into(), line, column: column.map(str::to_string), message: message.into() }
    }
}

/// Result with the library's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
