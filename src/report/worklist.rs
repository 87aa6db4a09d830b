//! The printable care-gap worklist of one clinic (patient-level: no
//! small-cell suppression; no other clinic is named).

use super::{month_name, ReportInputs};
use crate::dates::fmt_day;
use crate::metrics::study::quantile7;
use crate::metrics::worklist::Entry;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Virtual files and PDF ident of clinic `c`'s worklist.
pub fn document(inp: &ReportInputs, list: &[Entry], c: usize) -> (Vec<(String, Vec<u8>)>, String) {
    let cfg = inp.cfg;
    let clinic = &inp.validated.data.clinics[c];
    let labels = cfg.metrics.threshold_labels();
    let r1 = |x: f64| format!("{:.1}", crate::mme::round1(x));
    let rows: Vec<Value> = list
        .iter()
        .map(|e| {
            json!({
                "id": e.patient_id,
                "months": e.months_on_ltot,
                "mme": r1(e.mean_daily_mme),
                "change": e.mme_change_3m.map(|d| super::signed(Some(d))).unwrap_or_else(|| "–".into()),
                "active": e.active.iter().map(|(d, m)| format!("{d} {}", r1(*m))).collect::<Vec<_>>().join(", "),
                "high": labels.iter().zip(&e.high_dose).filter(|(_, h)| **h).map(|(l, _)| format!("≥{l}")).next_back().unwrap_or_default(),
                "benzo": e.benzo_days,
                "last": e.last_event.iter().map(|d| d.map(fmt_day).unwrap_or_else(|| "none".into())).collect::<Vec<_>>(),
                "gaps": e.gaps.iter().map(|g| g.label()).collect::<Vec<_>>().join(", "),
                "prescribers": e.prescribers_90d,
                "clinics": e.clinics_90d,
            })
        })
        .collect();
    let mut gap_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in list {
        for g in &e.gaps {
            *gap_counts.entry(g.label()).or_default() += 1;
        }
    }
    // Prescriber view: the prescriber of each patient's latest opioid order here.
    let mut by_prescriber: BTreeMap<String, Vec<&Entry>> = BTreeMap::new();
    for e in list {
        by_prescriber.entry(e.prescriber.clone().unwrap_or_else(|| "(not recorded)".into())).or_default().push(e);
    }
    let share =
        |es: &[&Entry], k: usize| 100.0 * es.iter().filter(|e| e.high_dose[k]).count() as f64 / es.len().max(1) as f64;
    let nt = labels.len();
    let medians: Vec<String> = (0..nt)
        .map(|k| {
            let mut v: Vec<f64> = by_prescriber.values().map(|es| share(es, k)).collect();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            quantile7(&v, 0.5).map(|x| format!("{}%", r1(x))).unwrap_or_else(|| "–".into())
        })
        .collect();
    let min = cfg.min_cell.max(1) as usize;
    let mut shown = Vec::new();
    let mut others: Vec<&Entry> = Vec::new();
    let mut n_others = 0;
    for (p, es) in &by_prescriber {
        if es.len() >= min {
            shown.push(json!({"id": p, "n": es.len(), "shares": (0..nt).map(|k| format!("{}%", r1(share(es, k)))).collect::<Vec<_>>()}));
        } else {
            n_others += 1;
            others.extend(es.iter().copied());
        }
    }
    if !others.is_empty() {
        shown.push(json!({"id": format!("{n_others} other prescribers (fewer than {min} LTOT patients each)"), "n": others.len(),
            "shares": (0..nt).map(|k| format!("{}%", r1(share(&others, k)))).collect::<Vec<_>>()}));
    }
    let m = &cfg.metrics;
    let doc = json!({
        "clinic": clinic.name,
        "month": month_name(cfg.report_month),
        "n": list.len(),
        "gaps": gap_counts.iter().map(|(g, n)| json!({"gap": g, "n": n})).collect::<Vec<_>>(),
        "rows": rows,
        "thresholds": labels,
        "prescribers": shown,
        "medians": medians,
        "definitions": format!(
            "LTOT: at least {} of the {} days ending {} covered by an opioid (buprenorphine excluded). MME/day: mean over the month's covered days ({} table). Gaps: no patient agreement or urine drug test in 365 days; no PDMP check or functional assessment in 90 days; no naloxone in 365 days for patients at 50 MME/day or more (Naloxone) or at risk, that is at 50 MME/day or more or with a benzodiazepine (No naloxone (at risk)); any day in the month with an opioid and a benzodiazepine, or with an opioid and another sedative (gabapentinoid, Z-drug, carisoprodol, barbiturate). Patients in cancer treatment, hospice or palliative care, or with sickle-cell disease are not listed. Prescribers and clinics: distinct ones on opioid orders in the last 90 days, from every clinic. Sorted by risk: high dose (≥ 50 MME/day) with a benzodiazepine, then high dose, then the number of open gaps.",
            m.ltot_min_days, m.ltot_window_days, fmt_day(cfg.report_month.last_day()), m.mme_table.as_str()
        ),
        "version": crate::VERSION,
    });
    (
        vec![("/data.json".into(), serde_json::to_vec(&doc).expect("json"))],
        format!("sixbb-worklist-{}-{}", clinic.id, cfg.report_month),
    )
}
