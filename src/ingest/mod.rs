//! Ingestion and validation (SPEC §1 and §5): read each table from CSV or
//! Parquet with an explicit all-text schema, refuse identifiers, then check
//! every row and keep what is valid as a typed [`Dataset`](crate::model::Dataset).

pub mod identifiers;
pub mod issues;
pub mod read;
pub mod validate;

pub use issues::{Issue, Severity, Summary};
pub use validate::{validate, Validated};
