//! The monthly prescribing measures of SPEC §3 per clinic.
//!
//! Each patient is processed once, with all their valid rows from every
//! clinic: coverage is an interval union, LTOT a count of covered days in a
//! window, benzodiazepine overlap an intersection. The patient's month
//! results are then added to each clinic the patient is attributed to.
//! Patients are processed in parallel in fixed chunks whose partial sums are
//! combined in chunk order, so results do not depend on the thread count.

use super::intervals::{covered, covered_by_both, merge, overlap, Span};
use crate::config::MetricsConfig;
use crate::dates::{window_start, Day, Month};
use crate::mme::round6;
use crate::model::{CareEvent, Dataset, EventType, Prescription};
use crate::reference::DrugClass;
use rayon::prelude::*;
use std::collections::HashMap;

/// One patient's measures in one month.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatientMonth {
    /// ≥ 1 opioid-covered day in the month.
    pub opioid: bool,
    /// Opioid patient with ≥ `ltot_min_days` covered days in the LTOT window.
    pub ltot: bool,
    /// Mean day MME over the covered days of the month (opioid patients).
    pub value: f64,
    /// Per threshold: value (rounded to 6 decimals) ≥ T.
    pub high_dose: Vec<bool>,
    /// Days of the month covered by an opioid and a benzodiazepine.
    pub benzo_days: u32,
    /// Per [`EventType::ALL`]: an event in its lookback ending at month end.
    pub events: [bool; 5],
    /// ≥ 1 buprenorphine-covered day in the month.
    pub bup: bool,
    /// Distinct opioid-covered days in the LTOT window.
    pub ltot_days: u32,
}

/// A patient's rows, sorted by start (prescriptions) or date (events).
pub struct PatientRows<'a> {
    pub rx: Vec<&'a Prescription>,
    pub events: Vec<&'a CareEvent>,
}

/// Coverage of one patient, computed once for every month.
pub struct Coverage<'a> {
    /// Opioid prescriptions with a factor, by start.
    opioids: Vec<&'a Prescription>,
    op: Vec<Span>,
    bz: Vec<Span>,
    bup: Vec<Span>,
    /// Event dates per type, ascending.
    events: [Vec<Day>; 5],
}

impl<'a> Coverage<'a> {
    /// Build coverage from a patient's valid rows.
    pub fn new(rows: &PatientRows<'a>) -> Self {
        let spans = |c: DrugClass| merge(rows.rx.iter().filter(|r| r.class == c).map(|r| (r.start, r.end())).collect());
        let mut opioids: Vec<&Prescription> =
            rows.rx.iter().copied().filter(|r| r.class == DrugClass::Opioid).collect();
        opioids.sort_by_key(|r| r.start);
        let mut events: [Vec<Day>; 5] = Default::default();
        for e in &rows.events {
            let k = EventType::ALL.iter().position(|t| *t == e.kind).unwrap();
            events[k].push(e.date);
        }
        for v in &mut events {
            v.sort_unstable();
        }
        Coverage {
            opioids,
            op: spans(DrugClass::Opioid),
            bz: spans(DrugClass::Benzodiazepine),
            bup: spans(DrugClass::Buprenorphine),
            events,
        }
    }

    /// The patient's measures in month `m`.
    pub fn month(&self, m: Month, cfg: &MetricsConfig) -> PatientMonth {
        let (ms, me) = (m.first_day(), m.last_day());
        let mut pm = PatientMonth {
            bup: covered(&self.bup, ms, me) > 0,
            high_dose: vec![false; cfg.high_dose_thresholds.len()],
            ..Default::default()
        };
        let cov = covered(&self.op, ms, me);
        if cov == 0 {
            return pm;
        }
        pm.opioid = true;
        pm.ltot_days = covered(&self.op, window_start(me, cfg.ltot_window_days), me);
        pm.ltot = pm.ltot_days >= cfg.ltot_min_days;
        // Σ day MME over covered days = Σ over prescriptions of daily MME × days in the month.
        let first = self.opioids.partition_point(|r| r.start < ms - 366);
        let mut sum = 0.0;
        for r in &self.opioids[first..] {
            if r.start > me {
                break;
            }
            sum += r.daily_mme * overlap((r.start, r.end()), (ms, me)) as f64;
        }
        pm.value = sum / cov as f64;
        let v = round6(pm.value);
        for (k, t) in cfg.high_dose_thresholds.iter().enumerate() {
            pm.high_dose[k] = v >= *t;
        }
        pm.benzo_days = covered_by_both(&self.op, &self.bz, ms, me);
        for (k, t) in EventType::ALL.iter().enumerate() {
            let from = window_start(me, t.lookback_days());
            let dates = &self.events[k];
            let i = dates.partition_point(|d| *d < from);
            pm.events[k] = i < dates.len() && dates[i] <= me;
        }
        pm
    }
}

/// The clinics a patient is attributed to in a month: a valid prescription
/// row written there in the `attribution_days` days ending at month end.
pub fn attributed_clinics(rx: &[&Prescription], month_end: Day, attribution_days: u32) -> Vec<u32> {
    let from = window_start(month_end, attribution_days);
    let mut c: Vec<u32> = rx.iter().filter(|r| r.start >= from && r.start <= month_end).map(|r| r.clinic).collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// Sums for one clinic and month.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    pub opioid_patients: u32,
    pub ltot_patients: u32,
    /// Sum of LTOT patients' values (for the mean).
    pub mme_sum: f64,
    pub high_dose: Vec<u32>,
    pub benzo_overlap: u32,
    pub agreement: u32,
    pub udt: u32,
    pub pdmp: u32,
    pub functional: u32,
    pub naloxone: u32,
    pub bup_patients: u32,
}

impl Cell {
    fn new(n_thresholds: usize) -> Self {
        Cell { high_dose: vec![0; n_thresholds], ..Default::default() }
    }
    fn add_patient(&mut self, pm: &PatientMonth, cfg: &MetricsConfig, i50: usize) {
        if pm.bup {
            self.bup_patients += 1;
        }
        if !pm.opioid {
            return;
        }
        self.opioid_patients += 1;
        if !pm.ltot {
            return;
        }
        self.ltot_patients += 1;
        self.mme_sum += pm.value;
        for (k, h) in pm.high_dose.iter().enumerate() {
            self.high_dose[k] += *h as u32;
        }
        self.benzo_overlap += (pm.benzo_days >= cfg.benzo_overlap_min_days) as u32;
        self.agreement += pm.events[0] as u32;
        self.udt += pm.events[1] as u32;
        self.pdmp += pm.events[2] as u32;
        self.functional += pm.events[3] as u32;
        self.naloxone += (pm.high_dose[i50] && pm.events[4]) as u32;
    }
    fn absorb(&mut self, o: &Cell) {
        self.opioid_patients += o.opioid_patients;
        self.ltot_patients += o.ltot_patients;
        self.mme_sum += o.mme_sum;
        for (a, b) in self.high_dose.iter_mut().zip(&o.high_dose) {
            *a += b;
        }
        self.benzo_overlap += o.benzo_overlap;
        self.agreement += o.agreement;
        self.udt += o.udt;
        self.pdmp += o.pdmp;
        self.functional += o.functional;
        self.naloxone += o.naloxone;
        self.bup_patients += o.bup_patients;
    }
    /// Mean daily MME of LTOT patients (unrounded), `None` without LTOT patients.
    pub fn mean_daily_mme(&self) -> Option<f64> {
        (self.ltot_patients > 0).then(|| self.mme_sum / self.ltot_patients as f64)
    }
}

/// Per clinic × month sums for the reporting window.
pub struct PrescribingMetrics {
    pub months: Vec<Month>,
    /// `cells[clinic * months.len() + k]`.
    pub cells: Vec<Cell>,
    /// Index of threshold 50 in the threshold list.
    pub i50: usize,
}

impl PrescribingMetrics {
    pub fn cell(&self, clinic: usize, k: usize) -> &Cell {
        &self.cells[clinic * self.months.len() + k]
    }

    /// The last `w` months only (each cell depends on its own month alone,
    /// so a longer computation restricted to the window is the window's).
    pub fn tail(&self, w: usize) -> PrescribingMetrics {
        let n = self.months.len();
        let w = w.min(n);
        let clinics = self.cells.len().checked_div(n).unwrap_or(0);
        let mut cells = Vec::with_capacity(clinics * w);
        for c in 0..clinics {
            cells.extend_from_slice(&self.cells[c * n + (n - w)..(c + 1) * n]);
        }
        PrescribingMetrics { months: self.months[n - w..].to_vec(), cells, i50: self.i50 }
    }
}

/// Group row indices by patient: offsets (CSR) over a permutation.
pub fn group_by_patient<T>(rows: &[T], n_patients: usize, patient: impl Fn(&T) -> u32) -> (Vec<usize>, Vec<u32>) {
    let mut offs = vec![0usize; n_patients + 1];
    for r in rows {
        offs[patient(r) as usize + 1] += 1;
    }
    for i in 0..n_patients {
        offs[i + 1] += offs[i];
    }
    let mut next = offs.clone();
    let mut perm = vec![0u32; rows.len()];
    for (i, r) in rows.iter().enumerate() {
        let p = patient(r) as usize;
        perm[next[p]] = i as u32;
        next[p] += 1;
    }
    (offs, perm)
}

/// Every patient's rows from every clinic, grouped once (CSR over row
/// indices) and shared by the measures and the worklists.
pub struct PatientIndex<'a> {
    data: &'a Dataset,
    rx_off: Vec<usize>,
    rx_perm: Vec<u32>,
    ev_off: Vec<usize>,
    ev_perm: Vec<u32>,
}

impl<'a> PatientIndex<'a> {
    /// Group the dataset's prescriptions and care events by patient.
    pub fn new(data: &'a Dataset) -> Self {
        let n_p = data.patients.len();
        let (rx_off, rx_perm) = group_by_patient(&data.prescriptions, n_p, |r| r.patient);
        let (ev_off, ev_perm) = group_by_patient(&data.care_events, n_p, |e| e.patient);
        PatientIndex { data, rx_off, rx_perm, ev_off, ev_perm }
    }
    /// The dataset indexed.
    pub fn data(&self) -> &'a Dataset {
        self.data
    }
    /// Number of patients.
    pub fn len(&self) -> usize {
        self.data.patients.len()
    }
    /// Whether there are no patients.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Patient `p`'s rows, prescriptions sorted by start.
    pub fn rows(&self, p: usize) -> PatientRows<'a> {
        let data = self.data;
        let mut rx: Vec<&Prescription> =
            self.rx_perm[self.rx_off[p]..self.rx_off[p + 1]].iter().map(|&i| &data.prescriptions[i as usize]).collect();
        rx.sort_by_key(|r| r.start);
        let events =
            self.ev_perm[self.ev_off[p]..self.ev_off[p + 1]].iter().map(|&i| &data.care_events[i as usize]).collect();
        PatientRows { rx, events }
    }
}

/// Patients per parallel chunk (fixed, so sums do not depend on threads).
const CHUNK: usize = 2048;

/// Compute every clinic × month cell of the window.
pub fn compute(data: &Dataset, months: &[Month], cfg: &MetricsConfig) -> PrescribingMetrics {
    compute_with(&PatientIndex::new(data), months, cfg)
}

/// [`compute`] over an existing patient index.
pub fn compute_with(index: &PatientIndex, months: &[Month], cfg: &MetricsConfig) -> PrescribingMetrics {
    let data = index.data();
    let nt = cfg.high_dose_thresholds.len();
    let i50 = cfg.high_dose_thresholds.iter().position(|t| *t == 50.0).expect("50 is always a threshold");
    let w = months.len();
    let patients: Vec<usize> = (0..index.len()).collect();
    let partials: Vec<HashMap<(u32, usize), Cell>> = patients
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut acc: HashMap<(u32, usize), Cell> = HashMap::new();
            for &p in chunk {
                let rows = index.rows(p);
                if rows.rx.is_empty() {
                    continue;
                }
                let cov = Coverage::new(&rows);
                for (k, m) in months.iter().enumerate() {
                    let clinics = attributed_clinics(&rows.rx, m.last_day(), cfg.attribution_days);
                    if clinics.is_empty() {
                        continue;
                    }
                    let pm = cov.month(*m, cfg);
                    if !pm.opioid && !pm.bup {
                        continue;
                    }
                    for c in clinics {
                        acc.entry((c, k)).or_insert_with(|| Cell::new(nt)).add_patient(&pm, cfg, i50);
                    }
                }
            }
            acc
        })
        .collect();
    let mut cells = vec![Cell::new(nt); data.clinics.len() * w];
    for part in &partials {
        // Each key is summed in chunk order: deterministic regardless of threads.
        for (&(c, k), cell) in part {
            cells[c as usize * w + k].absorb(cell);
        }
    }
    PrescribingMetrics { months: months.to_vec(), cells, i50 }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::dates::parse_date;
    use crate::model::Clinic;

    fn d(s: &str) -> Day {
        parse_date(s).unwrap()
    }
    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }
    fn rx(clinic: u32, start: &str, days: u16, class: DrugClass, mme: f64) -> Prescription {
        Prescription { clinic, patient: 0, prescriber: None, start: d(start), days, class, drug: 0, daily_mme: mme }
    }
    fn op(start: &str, days: u16, mme: f64) -> Prescription {
        rx(0, start, days, DrugClass::Opioid, mme)
    }
    fn ev(date: &str, kind: EventType) -> CareEvent {
        CareEvent { clinic: 0, patient: 0, date: d(date), kind }
    }
    fn month_of(rxs: &[Prescription], evs: &[CareEvent], month: &str) -> PatientMonth {
        let rows = PatientRows { rx: rxs.iter().collect(), events: evs.iter().collect() };
        Coverage::new(&rows).month(m(month), &MetricsConfig::default())
    }

    #[test]
    fn uncovered_days_do_not_count_as_zero() {
        // 20 days at 45 MME in a 31-day month: the value is 45, not 45 × 20 / 31.
        let p = month_of(&[op("2024-01-01", 20, 45.0)], &[], "2024-01");
        assert!(p.opioid);
        assert_eq!(p.value, 45.0);
    }

    #[test]
    fn overlapping_refills_count_days_once_but_add_doses() {
        // Jan 1–30 at 30 MME and an early refill Jan 21–Feb 19 at 30 MME.
        // January: covered days 31 (1..31); MME sum = 30×30 + 30×11 = 1230 → 1230/31.
        let rxs = [op("2024-01-01", 30, 30.0), op("2024-01-21", 30, 30.0)];
        let p = month_of(&rxs, &[], "2024-01");
        assert!((p.value - 1230.0 / 31.0).abs() < 1e-12);
        // 2023-11-03 .. 2024-01-31 is the LTOT window; covered days = 31 (Jan only).
        assert_eq!(p.ltot_days, 31);
        assert!(!p.ltot);
    }

    #[test]
    fn prescription_crossing_month_and_year_boundary() {
        // Dec 17 2023 for 30 days: Dec 17–31 (15 days) and Jan 1–15 (15 days).
        let rxs = [op("2023-12-17", 30, 60.0)];
        let dec = month_of(&rxs, &[], "2023-12");
        let jan = month_of(&rxs, &[], "2024-01");
        assert!(dec.opioid && jan.opioid);
        assert_eq!(dec.value, 60.0);
        assert_eq!(jan.value, 60.0);
        assert!(!month_of(&rxs, &[], "2024-02").opioid);
    }

    #[test]
    fn ltot_exactly_60_of_90_days_and_59() {
        // Window for March 2024: 2024-01-02 .. 2024-03-31 (90 days).
        // 60 covered days: Feb 1 – Mar 31 is 29 + 31 = 60.
        let p = month_of(&[op("2024-02-01", 60, 50.0)], &[], "2024-03");
        assert_eq!(p.ltot_days, 60);
        assert!(p.ltot);
        // 59 days: Feb 2 – Mar 31.
        let p = month_of(&[op("2024-02-02", 59, 50.0)], &[], "2024-03");
        assert_eq!(p.ltot_days, 59);
        assert!(!p.ltot);
        // Days before the window do not count: Jan 1 is outside it.
        let p = month_of(&[op("2024-01-01", 30, 50.0), op("2024-03-03", 29, 50.0)], &[], "2024-03");
        assert_eq!(p.ltot_days, 29 + 29);
    }

    #[test]
    fn high_dose_thresholds_are_met_exactly() {
        let p = month_of(&[op("2024-01-01", 90, 50.0)], &[], "2024-03");
        assert_eq!(p.high_dose, vec![true, false]);
        let p = month_of(&[op("2024-01-01", 90, 49.9999996)], &[], "2024-03");
        assert_eq!(p.high_dose, vec![true, false], "rounded to 6 decimals first");
        let p = month_of(&[op("2024-01-01", 90, 49.999999)], &[], "2024-03");
        assert_eq!(p.high_dose, vec![false, false]);
        let p = month_of(&[op("2024-01-01", 90, 60.0), op("2024-01-01", 90, 30.0)], &[], "2024-03");
        assert_eq!(p.high_dose, vec![true, true], "two concurrent opioids add to 90");
    }

    #[test]
    fn benzo_overlap_of_exactly_one_day() {
        // Opioid Jan 1–31; benzodiazepine Jan 31 – Feb 29: one shared day in January.
        let rxs = [op("2024-01-01", 31, 20.0), rx(0, "2024-01-31", 30, DrugClass::Benzodiazepine, 0.0)];
        assert_eq!(month_of(&rxs, &[], "2024-01").benzo_days, 1);
        // In February the opioid has ended: no opioid patient, no overlap.
        let feb = month_of(&rxs, &[], "2024-02");
        assert!(!feb.opioid);
        assert_eq!(feb.benzo_days, 0);
    }

    #[test]
    fn care_event_365_and_366_days_before_month_end() {
        let rxs = [op("2024-01-01", 31, 20.0)];
        // Month end 2024-01-31; the 365-day window starts 2023-02-01.
        let inside = month_of(&rxs, &[ev("2023-02-01", EventType::UrineDrugTest)], "2024-01");
        assert!(inside.events[1]);
        let outside = month_of(&rxs, &[ev("2023-01-31", EventType::UrineDrugTest)], "2024-01");
        assert!(!outside.events[1]);
        // PDMP: 90 days ending 2024-01-31 start 2023-11-03.
        assert!(month_of(&rxs, &[ev("2023-11-03", EventType::PdmpCheck)], "2024-01").events[2]);
        assert!(!month_of(&rxs, &[ev("2023-11-02", EventType::PdmpCheck)], "2024-01").events[2]);
        // An event after month end does not count.
        assert!(!month_of(&rxs, &[ev("2024-02-01", EventType::PdmpCheck)], "2024-01").events[2]);
    }

    #[test]
    fn buprenorphine_only_patient_is_not_an_opioid_patient() {
        let rxs = [rx(0, "2024-01-05", 30, DrugClass::Buprenorphine, 0.0)];
        let p = month_of(&rxs, &[], "2024-01");
        assert!(p.bup);
        assert!(!p.opioid);
        assert!(!p.ltot);
    }

    #[test]
    fn attribution_window_is_365_days() {
        let r1 = rx(1, "2023-02-01", 30, DrugClass::Opioid, 10.0);
        let r2 = rx(2, "2023-01-31", 30, DrugClass::Opioid, 10.0);
        let rows = [&r1, &r2];
        assert_eq!(attributed_clinics(&rows, d("2024-01-31"), 365), vec![1]);
        assert_eq!(attributed_clinics(&rows, d("2024-01-30"), 365), vec![1, 2]);
    }

    #[test]
    fn the_tail_of_a_longer_run_equals_the_window_run() {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic::comparison("A")];
        data.patients.intern("p1");
        data.prescriptions = vec![
            op("2024-01-01", 90, 60.0),
            op("2024-04-01", 30, 40.0),
            rx(0, "2024-03-20", 30, DrugClass::Benzodiazepine, 0.0),
        ];
        let cfg = MetricsConfig::default();
        let long = compute(&data, &m("2024-06").window(12), &cfg).tail(4);
        let short = compute(&data, &m("2024-06").window(4), &cfg);
        assert_eq!(long.months, short.months);
        assert_eq!(long.cells, short.cells);
    }

    #[test]
    fn a_patient_of_two_clinics_is_counted_in_each() {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic::comparison("A"), Clinic::comparison("B")];
        data.patients.intern("p1");
        let mut a = rx(0, "2024-01-01", 31, DrugClass::Opioid, 100.0);
        let mut b = rx(1, "2024-02-01", 29, DrugClass::Opioid, 20.0);
        let mut c = rx(0, "2024-03-01", 31, DrugClass::Opioid, 100.0);
        for r in [&mut a, &mut b, &mut c] {
            r.patient = 0;
        }
        data.prescriptions = vec![a, b, c];
        let months = vec![m("2024-03")];
        let pm = compute(&data, &months, &MetricsConfig::default());
        for clinic in 0..2 {
            let cell = pm.cell(clinic, 0);
            assert_eq!(cell.opioid_patients, 1);
            assert_eq!(cell.ltot_patients, 1, "90 covered days in the window");
            assert_eq!(cell.mean_daily_mme(), Some(100.0));
            assert_eq!(cell.high_dose, vec![1, 1]);
            assert_eq!(cell.naloxone, 0);
        }
    }
}
