//! # sixbb
//!
//! The monthly batch of the Six Building Blocks (6BB) study: validate the
//! de-identified extracts, compute prescribing and fidelity measures, draw
//! charts and compile the clinic and study PDF reports.
//!
//! The library is split by stage; each module does one job:
//!
//! | stage | module |
//! |---|---|
//! | command line (parsed once into high-level args) | [`cli`], [`commands`] |
//! | pipeline file → resolved configuration | [`config`] |
//! | reading and validating inputs | [`ingest`] → [`model`] |
//! | dates and report months | [`dates`] |
//! | typed errors | [`error`] |
//! | the measure registry (each measure described once) | [`measures`] |
//! | reference tables and MME | [`reference`], [`mme`] |
//! | measures: the per-patient interval engine, then polars lazy queries for every table above the patient (clinic_month, study_month, trends and benchmarks, fidelity, facilitators, data quality, extract checks, outcome panel, worklist selection), the outcome models | [`metrics`], [`stats`] |
//! | charts and PDF reports | [`report`] |
//! | the whole batch, manifest, outputs, shards and merge | [`batch`] |
//! | freed memory handed back between steps | [`memory`] |
//! | synthetic data | [`synth`] |

// Boxed measure closures and polars' nested results read better inline than as aliases.
#![allow(clippy::type_complexity)]

pub mod batch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dates;
pub mod error;
pub mod ingest;
pub mod measures;
pub mod memory;
pub mod metrics;
pub mod mme;
pub mod model;
pub mod reference;
pub mod report;
pub mod stats;
pub mod synth;

pub use error::{Error, Result};

/// The tool's version, written into manifests and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
