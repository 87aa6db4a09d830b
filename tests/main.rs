//! One integration-test binary (each binary links polars and typst again).

mod common;
mod end_to_end;
mod outcomes;
mod reports;
mod validation;
mod version2;
mod worklists;
