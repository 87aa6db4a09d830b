//! Metrics: the prescribing measures (SPEC §3, §6) and program fidelity, in
//! two layers: the hand-written per-patient interval engine
//! ([`prescribing`]) emits patient × clinic × month facts; every table
//! above that grain is a named polars lazy query in the module of the file
//! it produces ([`clinic_month`], [`study`], [`trends`], [`fidelity`],
//! [`facilitators`], [`data_quality`], [`extract_checks`], [`outcomes`],
//! [`worklist`]).

pub mod clinic_month;
pub mod data_quality;
pub mod extract_checks;
pub mod facilitators;
pub mod fidelity;
pub mod intervals;
pub mod outcomes;
pub mod patient_month;
pub mod prescribing;
pub mod study;
pub mod table;
pub mod trends;
pub mod worklist;
