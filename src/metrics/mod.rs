//! Metrics: the prescribing measures (SPEC §3) and program fidelity.

pub mod fidelity;
pub mod intervals;
pub mod outcomes;
pub mod prescribing;
pub mod study;
pub mod table;
pub mod worklist;
