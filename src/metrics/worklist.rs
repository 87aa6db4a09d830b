//! Care-gap worklists (issue 8): for each clinic, its LTOT patients in the
//! report month with the gaps the care team can act on.
//!
//! Definitions follow SPEC §3 exactly, so that the rows of a clinic's list
//! add up to its `ltot_patients` and each gap count is the complement of the
//! matching `_n` (agreement, UDT, PDMP, functional assessment; naloxone among
//! patients at ≥ 50 MME/day). Benzodiazepine overlap is listed as a gap too.

use super::prescribing::{Coverage, PatientIndex};
use crate::config::MetricsConfig;
use crate::dates::{window_start, Day, Month};
use crate::error::{Error, Result};
pub use crate::measures::Gap;
use crate::mme::round6;
use crate::model::{Dataset, EventType, Prescription};
use crate::reference::DrugClass;
use polars::prelude::*;
use rayon::prelude::*;

/// One LTOT patient on a clinic's worklist.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub patient_id: String,
    /// Months of the reporting window in which the patient met LTOT.
    pub months_on_ltot: u32,
    pub mean_daily_mme: f64,
    /// Change from 3 months earlier (`None` when not on opioids then).
    pub mme_change_3m: Option<f64>,
    /// Opioids active on the last day of the month: (ingredient, daily MME).
    pub active: Vec<(String, f64)>,
    /// Per threshold: value ≥ T.
    pub high_dose: Vec<bool>,
    pub benzo_days: u32,
    pub sedative_days: u32,
    /// At ≥ 50 MME/day or with benzodiazepine overlap (the naloxone population).
    pub at_risk: bool,
    /// Last event date per [`EventType::ALL`] up to month end.
    pub last_event: [Option<Day>; 5],
    /// Per [`EventType::ALL`]: the event is due (see the module docs).
    pub due: [bool; 5],
    pub prescribers_90d: u32,
    pub clinics_90d: u32,
    /// Prescriber of the latest opioid prescription written at this clinic.
    pub prescriber: Option<String>,
    /// Open gaps, in a fixed order.
    pub gaps: Vec<Gap>,
}

impl Entry {
    /// Risk tier for sorting: 0 high dose (≥ 50) with benzodiazepine, 1 high dose, 2 other.
    pub fn tier(&self, i50: usize) -> u8 {
        match (self.high_dose[i50], self.gaps.contains(&Gap::BenzoOverlap)) {
            (true, true) => 0,
            (true, false) => 1,
            _ => 2,
        }
    }
}

/// The worklist selection at the report month (month index `report` of the
/// facts) as a lazy query over the interval engine's facts: the patients
/// attributed to each clinic, on LTOT and not excluded (cancer, hospice,
/// palliative care, sickle cell leave the worklists), by patient and clinic.
pub fn selection(facts: LazyFrame, report: u32) -> LazyFrame {
    let keep = col("month").eq(lit(report)).and(col("attributed")).and(col("ltot")).and(col("excluded").not());
    facts.filter(keep).select([col("patient"), col("clinic")]).sort(["patient", "clinic"], Default::default())
}

/// [`selection`] collected: each selected patient with their clinics.
pub fn selected(facts: &DataFrame, report: u32) -> Result<Vec<(u32, Vec<u32>)>> {
    let go = || -> PolarsResult<Vec<(u32, Vec<u32>)>> {
        let df = selection(facts.clone().lazy(), report).collect()?;
        let pairs: Vec<(u32, u32)> = df
            .column("patient")?
            .u32()?
            .into_no_null_iter()
            .zip(df.column("clinic")?.u32()?.into_no_null_iter())
            .collect();
        Ok(pairs.chunk_by(|a, b| a.0 == b.0).map(|g| (g[0].0, g.iter().map(|p| p.1).collect())).collect())
    };
    go().map_err(|e| Error::Report { what: "worklist selection".into(), message: e.to_string() })
}

/// Worklists of every clinic (index = clinic), sorted by risk.
pub fn compute(data: &Dataset, window: &[Month], cfg: &MetricsConfig) -> Vec<Vec<Entry>> {
    let index = PatientIndex::new(data);
    let report = *window.last().expect("a window");
    let facts = super::clinic_month::facts(&index, &[report], cfg).expect("facts frame");
    compute_with(&index, &selected(&facts, 0).expect("worklist selection"), window, cfg)
}

/// The worklists of the `selected` patients and clinics ([`selected`]).
pub fn compute_with(
    index: &PatientIndex,
    selected: &[(u32, Vec<u32>)],
    window: &[Month],
    cfg: &MetricsConfig,
) -> Vec<Vec<Entry>> {
    let i50 = cfg.high_dose_thresholds.iter().position(|t| *t == 50.0).unwrap();
    let per_patient: Vec<Vec<(u32, Entry)>> = selected
        .par_iter()
        .with_min_len(256)
        .map(|(p, clinics)| patient_entries(index, *p as usize, clinics, window, cfg, i50))
        .collect();
    let mut lists: Vec<Vec<Entry>> = vec![Vec::new(); index.data().clinics.len()];
    for v in per_patient {
        for (c, e) in v {
            lists[c as usize].push(e);
        }
    }
    for l in &mut lists {
        l.sort_by(|a, b| {
            a.tier(i50)
                .cmp(&b.tier(i50))
                .then(b.gaps.len().cmp(&a.gaps.len()))
                .then(b.mean_daily_mme.partial_cmp(&a.mean_daily_mme).unwrap())
                .then(a.patient_id.cmp(&b.patient_id))
        });
    }
    lists
}

/// A selected patient's worklist line at each of its `clinics`.
fn patient_entries(
    index: &PatientIndex,
    p: usize,
    clinics: &[u32],
    window: &[Month],
    cfg: &MetricsConfig,
    i50: usize,
) -> Vec<(u32, Entry)> {
    let data = index.data();
    let report = *window.last().expect("a window");
    let me = report.last_day();
    let rows = index.rows(p);
    let cov = Coverage::new(&rows, cfg);
    let now = cov.month(report, cfg);
    let before = cov.month(report.plus(-3), cfg);
    let due = due_events(&now, i50);
    let at_risk = now.at_risk(cfg, i50);
    let (prescribers_90d, clinics_90d) = recent_counts(&rows.rx, me);
    let base = Entry {
        patient_id: data.patients.name(p as u32).to_string(),
        months_on_ltot: window.iter().filter(|m| cov.month(**m, cfg).ltot).count() as u32,
        mean_daily_mme: now.value,
        mme_change_3m: before.opioid.then_some(now.value - before.value),
        active: active_opioids(data, &rows.rx, me),
        high_dose: now.high_dose.clone(),
        benzo_days: now.benzo_days,
        sedative_days: now.sedative_days,
        at_risk,
        last_event: last_events(&rows.events, me),
        due,
        prescribers_90d,
        clinics_90d,
        prescriber: None,
        gaps: gaps_of(&now, &due, at_risk, cfg),
    };
    let latest = |c: u32| {
        let rx = rows.rx.iter().rev().find(|r| r.clinic == c && r.class == DrugClass::Opioid && r.start <= me);
        rx.and_then(|r| r.prescriber).map(|i| data.prescribers.name(i).to_string())
    };
    clinics.iter().map(|&c| (c, Entry { prescriber: latest(c), ..base.clone() })).collect()
}

/// Opioids covering the last day of the month, with their daily MME.
fn active_opioids(data: &Dataset, rx: &[&Prescription], me: Day) -> Vec<(String, f64)> {
    rx.iter()
        .filter(|r| r.class == DrugClass::Opioid && r.start <= me && r.end() >= me)
        .map(|r| (data.drugs.name(r.drug as u32).to_string(), round6(r.daily_mme)))
        .collect()
}

/// The last date of each care event type up to `me`.
fn last_events(events: &[&crate::model::CareEvent], me: Day) -> [Option<Day>; 5] {
    let mut last = [None; 5];
    for e in events.iter().filter(|e| e.date <= me) {
        let k = e.kind.index();
        last[k] = last[k].max(Some(e.date));
    }
    last
}

/// Which care events are due: none in their lookback (naloxone: only for
/// patients at ≥ 50 MME/day).
fn due_events(now: &super::prescribing::PatientMonth, i50: usize) -> [bool; 5] {
    let mut due = [false; 5];
    for (k, t) in EventType::ALL.iter().enumerate() {
        let recent = !now.events[k];
        due[k] = if *t == EventType::Naloxone { now.high_dose[i50] && recent } else { recent };
    }
    due
}

/// Distinct prescribers and clinics of opioid orders written in the 90 days ending at `me`.
fn recent_counts(rx: &[&Prescription], me: Day) -> (u32, u32) {
    let from90 = window_start(me, 90);
    let recent: Vec<&&Prescription> =
        rx.iter().filter(|r| r.class == DrugClass::Opioid && r.start >= from90 && r.start <= me).collect();
    let mut prescribers: Vec<u32> = recent.iter().filter_map(|r| r.prescriber).collect();
    prescribers.sort_unstable();
    prescribers.dedup();
    let mut clinics: Vec<u32> = recent.iter().map(|r| r.clinic).collect();
    clinics.sort_unstable();
    clinics.dedup();
    (prescribers.len() as u32, clinics.len() as u32)
}

/// The open gaps, in worklist order.
fn gaps_of(now: &super::prescribing::PatientMonth, due: &[bool; 5], at_risk: bool, cfg: &MetricsConfig) -> Vec<Gap> {
    let mut gaps = Vec::new();
    if now.benzo_overlap(cfg) {
        gaps.push(Gap::BenzoOverlap);
    }
    if now.sedative_overlap(cfg) {
        gaps.push(Gap::SedativeOverlap);
    }
    if due[EventType::Naloxone.index()] {
        gaps.push(Gap::Naloxone);
    }
    if at_risk && !now.has(EventType::Naloxone) {
        gaps.push(Gap::NaloxoneAtRisk);
    }
    for (t, gap) in [
        (EventType::PatientAgreement, Gap::Agreement),
        (EventType::UrineDrugTest, Gap::Udt),
        (EventType::PdmpCheck, Gap::Pdmp),
        (EventType::FunctionalAssessment, Gap::Functional),
    ] {
        if due[t.index()] {
            gaps.push(gap);
        }
    }
    gaps
}

/// CSV text of one clinic's worklist.
pub fn csv(list: &[Entry], cfg: &MetricsConfig) -> String {
    use crate::dates::fmt_day;
    use crate::ingest::issues::csv_field;
    let labels = cfg.threshold_labels();
    let mut s = String::from("patient_id,months_on_ltot,mean_daily_mme,mme_change_3m,active_opioids");
    for l in &labels {
        s.push_str(&format!(",high_dose_{l}"));
    }
    s.push_str(",benzo_overlap_days");
    for (t, stem) in EventType::ALL.iter().zip(["agreement", "udt", "pdmp", "functional", "naloxone"]) {
        let _ = t;
        s.push_str(&format!(",last_{stem},{stem}_due"));
    }
    s.push_str(",prescribers_90d,clinics_90d,prescriber_id,gaps,sedative_overlap_days,at_risk\n");
    let r1 = |x: f64| format!("{:.1}", crate::mme::round1(x));
    for e in list {
        let active: Vec<String> = e.active.iter().map(|(d, m)| format!("{d} {}", r1(*m))).collect();
        s.push_str(&format!(
            "{},{},{},{},{}",
            csv_field(&e.patient_id),
            e.months_on_ltot,
            r1(e.mean_daily_mme),
            e.mme_change_3m.map(r1).unwrap_or_default(),
            csv_field(&active.join("; "))
        ));
        for h in &e.high_dose {
            s.push_str(if *h { ",yes" } else { ",no" });
        }
        s.push_str(&format!(",{}", e.benzo_days));
        for k in 0..5 {
            s.push_str(&format!(
                ",{},{}",
                e.last_event[k].map(fmt_day).unwrap_or_default(),
                if e.due[k] { "yes" } else { "no" }
            ));
        }
        s.push_str(&format!(
            ",{},{},{},{},{},{}\n",
            e.prescribers_90d,
            e.clinics_90d,
            csv_field(e.prescriber.as_deref().unwrap_or("")),
            e.gaps.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(";"),
            e.sedative_days,
            if e.at_risk { "yes" } else { "no" }
        ));
    }
    s
}

/// A clinic worklist's summary for its PDF, from polars queries over the
/// list: patients per gap, and per prescriber of the latest opioid order
/// here the share of patients at each threshold; prescribers with fewer
/// than `min` patients pooled into one line; the median share over
/// prescribers (type 7).
#[derive(Clone, Debug, PartialEq)]
pub struct ListSummary {
    /// (gap, patients), by the gap's label.
    pub gaps: Vec<(Gap, usize)>,
    /// (prescriber, patients, share per threshold), by prescriber.
    pub prescribers: Vec<(String, usize, Vec<f64>)>,
    /// The pooled small prescribers: (prescribers, patients, shares).
    pub others: Option<(usize, usize, Vec<f64>)>,
    /// Per threshold: the median over prescribers of their share.
    pub medians: Vec<Option<f64>>,
}

/// The name under which a patient without a recorded prescriber is counted.
pub const NOT_RECORDED: &str = "(not recorded)";

/// [`ListSummary`] of one clinic's list (`nt` thresholds).
pub fn summary(list: &[Entry], nt: usize, min: usize) -> PolarsResult<ListSummary> {
    let hd = |k: usize| format!("hd_{k}");
    let mut cols = vec![Column::new(
        "prescriber".into(),
        list.iter().map(|e| e.prescriber.clone().unwrap_or_else(|| NOT_RECORDED.into())).collect::<Vec<String>>(),
    )];
    for k in 0..nt {
        cols.push(Column::new(hd(k).into(), list.iter().map(|e| e.high_dose[k]).collect::<Vec<bool>>()));
    }
    let share = |n: Expr, of: Expr| lit(100.0) * n.cast(DataType::Float64) / of.cast(DataType::Float64);
    let mut aggs = vec![len().cast(DataType::Int64).alias("n")];
    aggs.extend((0..nt).map(|k| col(hd(k)).cast(DataType::Int64).sum().alias(hd(k))));
    let by = DataFrame::new_infer_height(cols)?
        .lazy()
        .group_by([col("prescriber")])
        .agg(aggs)
        .with_columns((0..nt).map(|k| share(col(hd(k)), col("n")).alias(format!("share_{k}"))).collect::<Vec<_>>())
        .sort(["prescriber"], SortMultipleOptions::default())
        .collect()?;
    let medians = by
        .clone()
        .lazy()
        .select(
            (0..nt).map(|k| col(format!("share_{k}")).quantile(lit(0.5), QuantileMethod::Linear)).collect::<Vec<_>>(),
        )
        .collect()?;
    let medians =
        (0..nt).map(|k| Ok(medians.column(&format!("share_{k}"))?.f64()?.get(0))).collect::<PolarsResult<_>>()?;
    let ids: Vec<String> = by.column("prescriber")?.str()?.iter().map(|s| s.unwrap_or("").to_string()).collect();
    let n: Vec<usize> = by.column("n")?.i64()?.into_no_null_iter().map(|v| v as usize).collect();
    let counts: Vec<Vec<i64>> =
        (0..nt).map(|k| Ok(by.column(&hd(k))?.i64()?.into_no_null_iter().collect())).collect::<PolarsResult<_>>()?;
    let shares: Vec<Vec<f64>> = (0..nt)
        .map(|k| Ok(by.column(&format!("share_{k}"))?.f64()?.into_no_null_iter().collect()))
        .collect::<PolarsResult<_>>()?;
    let (mut prescribers, mut small) = (Vec::new(), Vec::new());
    for i in 0..by.height() {
        if n[i] >= min {
            prescribers.push((ids[i].clone(), n[i], (0..nt).map(|k| shares[k][i]).collect()));
        } else {
            small.push(i);
        }
    }
    let others = (!small.is_empty()).then(|| {
        let total: usize = small.iter().map(|&i| n[i]).sum();
        let pooled = (0..nt).map(|k| 100.0 * small.iter().map(|&i| counts[k][i]).sum::<i64>() as f64 / total as f64);
        (small.len(), total, pooled.collect())
    });
    Ok(ListSummary { gaps: gap_counts(list)?, prescribers, others, medians })
}

/// Patients per gap, by the gap's label.
fn gap_counts(list: &[Entry]) -> PolarsResult<Vec<(Gap, usize)>> {
    let gaps: Vec<Gap> = list.iter().flat_map(|e| e.gaps.iter().copied()).collect();
    let all = Gap::ALL;
    let index: Vec<u32> = gaps.iter().map(|g| all.iter().position(|a| a == g).unwrap() as u32).collect();
    let label: Vec<&str> = gaps.iter().map(|g| g.label()).collect();
    let df = df!("gap" => index, "label" => label)?
        .lazy()
        .group_by([col("gap"), col("label")])
        .agg([len().alias("n")])
        .sort(["label"], SortMultipleOptions::default())
        .collect()?;
    let (g, n) = (df.column("gap")?.u32()?, df.column("n")?.u32()?);
    Ok(g.iter().zip(n.iter()).filter_map(|(g, n)| Some((all[g? as usize], n? as usize))).collect())
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::dates::parse_date;
    use crate::model::{CareEvent, Clinic};

    fn d(s: &str) -> Day {
        parse_date(s).unwrap()
    }
    /// One LTOT patient at clinic 0 (Apr 1 – Jun 30 2024 at `mme`), plus extras.
    fn data(mme: f64, extra_rx: Vec<Prescription>, events: Vec<(&str, EventType)>) -> Dataset {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic::comparison("A"), Clinic::comparison("B")];
        data.patients.intern("p1");
        data.prescribers.intern("d1");
        data.drugs.intern("oxycodone");
        data.drugs.intern("alprazolam");
        let rx = |start: &str, days: u16, class, m| Prescription {
            clinic: 0,
            patient: 0,
            prescriber: Some(0),
            start: d(start),
            days,
            class,
            drug: 0,
            daily_mme: m,
            long_acting: false,
        };
        data.prescriptions = vec![rx("2024-04-01", 91, DrugClass::Opioid, mme)];
        data.prescriptions.extend(extra_rx);
        data.care_events =
            events.into_iter().map(|(s, k)| CareEvent { clinic: 0, patient: 0, date: d(s), kind: k }).collect();
        data
    }
    fn june() -> Vec<Month> {
        Month::parse("2024-06").unwrap().window(6)
    }

    #[test]
    fn gaps_open_and_close_exactly_at_their_boundary_days() {
        let cfg = MetricsConfig::default();
        // 365 days ending 2024-06-30 start 2023-07-02; 90 days start 2024-04-02.
        let inside = data(
            60.0,
            vec![],
            vec![
                ("2023-07-02", EventType::PatientAgreement),
                ("2023-07-02", EventType::UrineDrugTest),
                ("2024-04-02", EventType::PdmpCheck),
                ("2024-04-02", EventType::FunctionalAssessment),
                ("2023-07-02", EventType::Naloxone),
            ],
        );
        let e = &compute(&inside, &june(), &cfg)[0][0];
        assert!(e.gaps.is_empty(), "{:?}", e.gaps);
        let outside = data(
            60.0,
            vec![],
            vec![
                ("2023-07-01", EventType::PatientAgreement),
                ("2023-07-01", EventType::UrineDrugTest),
                ("2024-04-01", EventType::PdmpCheck),
                ("2024-04-01", EventType::FunctionalAssessment),
                ("2023-07-01", EventType::Naloxone),
            ],
        );
        let e = &compute(&outside, &june(), &cfg)[0][0];
        assert_eq!(
            e.gaps,
            vec![Gap::Naloxone, Gap::NaloxoneAtRisk, Gap::Agreement, Gap::Udt, Gap::Pdmp, Gap::Functional]
        );
        assert_eq!(e.last_event[2], Some(d("2024-04-01")));
    }

    #[test]
    fn naloxone_is_a_gap_only_from_50_mme() {
        let cfg = MetricsConfig::default();
        let e = &compute(&data(49.9, vec![], vec![]), &june(), &cfg)[0][0];
        assert!(!e.gaps.contains(&Gap::Naloxone));
        let e = &compute(&data(50.0, vec![], vec![]), &june(), &cfg)[0][0];
        assert!(e.gaps.contains(&Gap::Naloxone));
    }

    #[test]
    fn benzodiazepine_overlap_of_one_day_is_a_gap() {
        let cfg = MetricsConfig::default();
        let bz = Prescription {
            clinic: 0,
            patient: 0,
            prescriber: Some(0),
            start: d("2024-06-30"),
            days: 30,
            class: DrugClass::Benzodiazepine,
            drug: 1,
            daily_mme: 0.0,
            long_acting: false,
        };
        let e = &compute(&data(20.0, vec![bz.clone()], vec![]), &june(), &cfg)[0][0];
        assert_eq!(e.benzo_days, 1);
        assert_eq!(e.gaps[0], Gap::BenzoOverlap);
        let mut late = bz;
        late.start = d("2024-07-01");
        let e = &compute(&data(20.0, vec![late], vec![]), &june(), &cfg)[0][0];
        assert!(!e.gaps.contains(&Gap::BenzoOverlap));
    }

    #[test]
    fn a_patient_with_opioids_from_two_clinics_is_on_both_lists() {
        let cfg = MetricsConfig::default();
        // Clinic A's order of April 1 is 91 days before June 30: outside the
        // 90 days; its refill of May 15 and clinic B's order of June 10 are inside.
        let b = Prescription {
            clinic: 1,
            patient: 0,
            prescriber: None,
            start: d("2024-06-10"),
            days: 10,
            class: DrugClass::Opioid,
            drug: 0,
            daily_mme: 10.0,
            long_acting: false,
        };
        let a = Prescription {
            clinic: 0,
            patient: 0,
            prescriber: Some(0),
            start: d("2024-05-15"),
            days: 5,
            class: DrugClass::Opioid,
            drug: 0,
            daily_mme: 10.0,
            long_acting: false,
        };
        let lists = compute(&data(30.0, vec![b.clone()], vec![]), &june(), &cfg);
        assert_eq!(lists[0][0].clinics_90d, 1);
        let lists = compute(&data(30.0, vec![b, a], vec![]), &june(), &cfg);
        assert_eq!(lists[0].len(), 1);
        assert_eq!(lists[1].len(), 1);
        assert_eq!(lists[0][0].clinics_90d, 2);
        assert_eq!(lists[1][0].patient_id, "p1");
        assert_eq!(lists[0][0].prescriber.as_deref(), Some("d1"));
        assert_eq!(lists[1][0].prescriber, None);
    }

    #[test]
    fn sorted_by_risk_then_gaps() {
        let cfg = MetricsConfig::default();
        let mut data = data(20.0, vec![], vec![]);
        // p2: high dose; p3: high dose with benzodiazepine; p4: low dose with every gap but naloxone.
        for (id, m, benzo) in [("p2", 95.0, false), ("p3", 60.0, true), ("p4", 10.0, false)] {
            let p = data.patients.intern(id);
            data.prescriptions.push(Prescription {
                clinic: 0,
                patient: p,
                prescriber: None,
                start: d("2024-04-01"),
                days: 91,
                class: DrugClass::Opioid,
                drug: 0,
                daily_mme: m,
                long_acting: false,
            });
            if benzo {
                data.prescriptions.push(Prescription {
                    clinic: 0,
                    patient: p,
                    prescriber: None,
                    start: d("2024-06-01"),
                    days: 30,
                    class: DrugClass::Benzodiazepine,
                    drug: 1,
                    daily_mme: 0.0,
                    long_acting: false,
                });
            }
        }
        data.care_events.push(CareEvent { clinic: 0, patient: 0, date: d("2024-06-01"), kind: EventType::PdmpCheck });
        let ids: Vec<String> = compute(&data, &june(), &cfg)[0].iter().map(|e| e.patient_id.clone()).collect();
        assert_eq!(ids, ["p3", "p2", "p4", "p1"]);
    }

    #[test]
    fn excluded_patients_leave_the_list_and_sedative_and_at_risk_gaps_open() {
        let cfg = MetricsConfig::default();
        let sed = Prescription {
            clinic: 0,
            patient: 0,
            prescriber: None,
            start: d("2024-06-30"),
            days: 30,
            class: DrugClass::Sedative,
            drug: 1,
            daily_mme: 0.0,
            long_acting: false,
        };
        // 20 MME/day with a sedative on the last day: sedative gap, not at risk (no naloxone gap).
        let e = &compute(&data(20.0, vec![sed.clone()], vec![]), &june(), &cfg)[0][0];
        assert_eq!(e.gaps[0], Gap::SedativeOverlap);
        assert!(!e.at_risk && !e.gaps.contains(&Gap::NaloxoneAtRisk));
        // At 50 MME/day without naloxone: both naloxone gaps.
        let e = &compute(&data(50.0, vec![], vec![]), &june(), &cfg)[0][0];
        assert!(e.at_risk && e.gaps.contains(&Gap::Naloxone) && e.gaps.contains(&Gap::NaloxoneAtRisk));
        // Hospice from 2024-06-30: off the list.
        let mut x = data(50.0, vec![sed], vec![]);
        x.exclusions.push(crate::model::Exclusion {
            patient: 0,
            reason: crate::model::ExclusionReason::Hospice,
            start: d("2024-06-30"),
            end: None,
        });
        assert!(compute(&x, &june(), &cfg)[0].is_empty());
    }

    fn listed(prescriber: Option<&str>, hd50: bool, gaps: Vec<Gap>) -> Entry {
        Entry {
            patient_id: "p".into(),
            months_on_ltot: 3,
            mean_daily_mme: 10.0,
            mme_change_3m: None,
            active: Vec::new(),
            high_dose: vec![hd50, false],
            benzo_days: 0,
            sedative_days: 0,
            at_risk: hd50,
            last_event: [None; 5],
            due: [false; 5],
            prescribers_90d: 1,
            clinics_90d: 1,
            prescriber: prescriber.map(String::from),
            gaps,
        }
    }

    #[test]
    fn the_list_summary_pools_small_prescribers_and_takes_the_median_share() {
        // P1: 3 patients, 2 at ≥ 50; P2: 1 patient at ≥ 50; one without a prescriber.
        let list = vec![
            listed(Some("P1"), true, vec![Gap::Udt, Gap::Naloxone]),
            listed(Some("P1"), true, vec![Gap::Udt]),
            listed(Some("P1"), false, vec![]),
            listed(Some("P2"), true, vec![Gap::Pdmp]),
            listed(None, false, vec![Gap::Udt]),
        ];
        let s = summary(&list, 2, 2).unwrap();
        assert_eq!(s.prescribers, vec![("P1".to_string(), 3, vec![200.0 / 3.0, 0.0])]);
        // P2 and "(not recorded)" have fewer than 2 patients: 2 prescribers, 2 patients, 1 at ≥ 50.
        assert_eq!(s.others, Some((2, 2, vec![50.0, 0.0])));
        // Shares over the three prescribers: 0, 66.7, 100 → median 66.7.
        assert_eq!(s.medians, vec![Some(200.0 / 3.0), Some(0.0)]);
        // Gaps by label: Naloxone 1, PDMP 1, UDT 3.
        assert_eq!(s.gaps, vec![(Gap::Naloxone, 1), (Gap::Pdmp, 1), (Gap::Udt, 3)]);
    }
}
