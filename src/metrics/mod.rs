//! Metrics: the prescribing measures (SPEC §3) and program fidelity.

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
