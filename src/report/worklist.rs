//! The printable care-gap worklist of one clinic (patient-level: no
//! small-cell suppression; no other clinic is named).

use super::{month_name, ReportInputs};
use crate::dates::fmt_day;
use crate::metrics::worklist::{Entry, ListSummary};
use serde::Serialize;

/// The worklist document's data (`/data.json` of `worklist.typ`); the
/// template holds the prose.
#[derive(Serialize)]
struct WorklistDoc {
    clinic: String,
    month: String,
    n: usize,
    gaps: Vec<GapCount>,
    rows: Vec<Row>,
    thresholds: Vec<String>,
    prescribers: Vec<PrescriberRow>,
    medians: Vec<String>,
    definitions: Definitions,
    version: &'static str,
}

/// How many patients have a gap open.
#[derive(Serialize)]
struct GapCount {
    gap: &'static str,
    n: usize,
}

/// One patient line, formatted.
#[derive(Serialize)]
struct Row {
    id: String,
    months: u32,
    mme: String,
    change: String,
    active: String,
    high: String,
    benzo: u32,
    last: LastEvents,
    gaps: String,
    prescribers: u32,
    clinics: u32,
}

/// The last date of each care event the worklist shows ("none" when never).
#[derive(Serialize)]
struct LastEvents {
    agreement: String,
    udt: String,
    pdmp: String,
    function: String,
}

/// One prescriber (or the pooled small ones) with the share at each threshold.
#[derive(Serialize)]
struct PrescriberRow {
    id: String,
    n: usize,
    shares: Vec<String>,
}

/// The parameters the definitions paragraph quotes.
#[derive(Serialize)]
struct Definitions {
    ltot_min_days: u32,
    ltot_window_days: u32,
    month_end: String,
    mme_table: &'static str,
}

/// One decimal, half away from zero.
fn r1(x: f64) -> String {
    format!("{:.1}", crate::mme::round1(x))
}

/// Virtual files and PDF ident of clinic `c`'s worklist.
pub fn document(inp: &ReportInputs, list: &[Entry], c: usize) -> (Vec<(String, Vec<u8>)>, String) {
    let cfg = inp.cfg;
    let clinic = &inp.data.clinics[c];
    let labels = cfg.metrics.threshold_labels();
    let summary = crate::metrics::worklist::summary(list, labels.len(), cfg.min_cell.max(1) as usize)
        .expect("the worklist summary query");
    let (prescribers, medians) = prescriber_view(&summary, cfg.min_cell.max(1) as usize);
    let m = &cfg.metrics;
    let doc = WorklistDoc {
        clinic: clinic.name.clone(),
        month: month_name(cfg.report_month),
        n: list.len(),
        gaps: summary.gaps.iter().map(|&(g, n)| GapCount { gap: g.label(), n }).collect(),
        rows: list.iter().map(|e| row(e, &labels)).collect(),
        thresholds: labels,
        prescribers,
        medians,
        definitions: Definitions {
            ltot_min_days: m.ltot_min_days,
            ltot_window_days: m.ltot_window_days,
            month_end: fmt_day(cfg.report_month.last_day()),
            mme_table: m.mme_table.as_str(),
        },
        version: crate::VERSION,
    };
    (
        vec![("/data.json".into(), serde_json::to_vec(&doc).expect("json"))],
        format!("sixbb-worklist-{}-{}", clinic.id, cfg.report_month),
    )
}

/// A patient's line.
fn row(e: &Entry, labels: &[String]) -> Row {
    Row {
        id: e.patient_id.clone(),
        months: e.months_on_ltot,
        mme: r1(e.mean_daily_mme),
        change: e.mme_change_3m.map(|d| super::signed(Some(d))).unwrap_or_else(|| "–".into()),
        active: e.active.iter().map(|(d, m)| format!("{d} {}", r1(*m))).collect::<Vec<_>>().join(", "),
        high: labels
            .iter()
            .zip(&e.high_dose)
            .filter(|(_, h)| **h)
            .map(|(l, _)| format!("≥{l}"))
            .next_back()
            .unwrap_or_default(),
        benzo: e.benzo_days,
        last: {
            use crate::model::EventType as E;
            let at = |t: E| e.last_event[t.index()].map(fmt_day).unwrap_or_else(|| "none".into());
            LastEvents {
                agreement: at(E::PatientAgreement),
                udt: at(E::UrineDrugTest),
                pdmp: at(E::PdmpCheck),
                function: at(E::FunctionalAssessment),
            }
        },
        gaps: e.gaps.iter().map(|g| g.label()).collect::<Vec<_>>().join(", "),
        prescribers: e.prescribers_90d,
        clinics: e.clinics_90d,
    }
}

/// The prescriber view of the list's summary: one line per prescriber
/// with at least `min` patients, then the pooled small ones; and the
/// median share over prescribers at each threshold.
fn prescriber_view(s: &ListSummary, min: usize) -> (Vec<PrescriberRow>, Vec<String>) {
    let pct = |v: &[f64]| v.iter().map(|x| format!("{}%", r1(*x))).collect::<Vec<_>>();
    let mut shown: Vec<PrescriberRow> =
        s.prescribers.iter().map(|(id, n, sh)| PrescriberRow { id: id.clone(), n: *n, shares: pct(sh) }).collect();
    if let Some((k, n, sh)) = &s.others {
        let id = format!("{k} other prescribers (fewer than {min} LTOT patients each)");
        shown.push(PrescriberRow { id, n: *n, shares: pct(sh) });
    }
    let medians = s.medians.iter().map(|m| m.map(|x| format!("{}%", r1(x))).unwrap_or_else(|| "–".into())).collect();
    (shown, medians)
}
