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
use crate::model::{CareEvent, Dataset, EventType, Exclusion, Prescription};
use crate::reference::DrugClass;
use rayon::prelude::*;

/// One patient's measures in one month: the patient's facts, whatever the
/// exclusions say (the clinic sums filter on `excluded`).
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
    /// Days of the month covered by an opioid and a sedative (SPEC §6.1).
    pub sedative_days: u32,
    /// Per [`EventType::ALL`]: an event in its lookback ending at month end.
    pub events: [bool; 5],
    /// ≥ 1 buprenorphine-covered day in the month.
    pub bup: bool,
    /// Distinct opioid-covered days in the LTOT window.
    pub ltot_days: u32,
    /// An exclusion covers a day of the exclusion lookback (SPEC §6.2).
    pub excluded: bool,
}

impl PatientMonth {
    /// An event of type `t` in its lookback ending at month end.
    pub fn has(&self, t: EventType) -> bool {
        self.events[t.index()]
    }
    /// ≥ `benzo_overlap_min_days` days of the month with an opioid and a benzodiazepine.
    pub fn benzo_overlap(&self, cfg: &MetricsConfig) -> bool {
        self.benzo_days >= cfg.benzo_overlap_min_days
    }
    /// The same with another sedative (SPEC §6.2).
    pub fn sedative_overlap(&self, cfg: &MetricsConfig) -> bool {
        self.sedative_days >= cfg.benzo_overlap_min_days
    }
    /// At ≥ 50 MME/day or with benzodiazepine overlap: the naloxone
    /// population of SPEC §6.2 (`i50`: the index of threshold 50).
    pub fn at_risk(&self, cfg: &MetricsConfig, i50: usize) -> bool {
        self.high_dose[i50] || self.benzo_overlap(cfg)
    }
}

/// A patient's rows, sorted by start (prescriptions) or date (events).
pub struct PatientRows<'a> {
    pub rx: Vec<&'a Prescription>,
    pub events: Vec<&'a CareEvent>,
    pub exclusions: Vec<&'a Exclusion>,
}

/// A patient's new start at one clinic in one month (SPEC §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewStart {
    pub clinic: u32,
    /// Every index prescription has days_supply ≤ 3.
    pub short: bool,
    /// An index prescription has days_supply > 7.
    pub long: bool,
    /// An index prescription is long-acting.
    pub er_la: bool,
    /// Σ index daily MME (rounded to 6 decimals) ≥ 50.
    pub high_dose: bool,
}

/// Coverage of one patient, computed once for every month.
pub struct Coverage<'a> {
    /// Opioid prescriptions with a factor, by start.
    opioids: Vec<&'a Prescription>,
    op: Vec<Span>,
    bz: Vec<Span>,
    sed: Vec<Span>,
    bup: Vec<Span>,
    /// Event dates per type, ascending.
    events: [Vec<Day>; 5],
    /// Exclusion spans with a configured reason (open end = `Day::MAX`).
    excl: Vec<Span>,
}

impl<'a> Coverage<'a> {
    /// Build coverage from a patient's valid rows.
    pub fn new(rows: &PatientRows<'a>, cfg: &MetricsConfig) -> Self {
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
        let excl = rows
            .exclusions
            .iter()
            .filter(|x| cfg.exclusion_reasons.contains(&x.reason))
            .map(|x| (x.start, x.end.unwrap_or(Day::MAX)))
            .collect();
        Coverage {
            opioids,
            op: spans(DrugClass::Opioid),
            bz: spans(DrugClass::Benzodiazepine),
            sed: spans(DrugClass::Sedative),
            bup: spans(DrugClass::Buprenorphine),
            events,
            excl,
        }
    }

    /// Whether the patient is excluded in month `m`: an exclusion covers a
    /// day of the `exclusion_lookback_days` ending at the end of `m`.
    pub fn excluded(&self, m: Month, cfg: &MetricsConfig) -> bool {
        let me = m.last_day();
        let from = window_start(me, cfg.exclusion_lookback_days);
        self.excl.iter().any(|&(s, e)| s <= me && e >= from)
    }

    /// The patient's measures in month `m`.
    pub fn month(&self, m: Month, cfg: &MetricsConfig) -> PatientMonth {
        let (ms, me) = (m.first_day(), m.last_day());
        let mut pm = PatientMonth {
            bup: covered(&self.bup, ms, me) > 0,
            high_dose: vec![false; cfg.high_dose_thresholds.len()],
            excluded: self.excluded(m, cfg),
            ..Default::default()
        };
        for (k, t) in EventType::ALL.iter().enumerate() {
            let from = window_start(me, t.lookback_days());
            let dates = &self.events[k];
            let i = dates.partition_point(|d| *d < from);
            pm.events[k] = i < dates.len() && dates[i] <= me;
        }
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
        pm.sedative_days = covered_by_both(&self.op, &self.sed, ms, me);
        pm
    }

    /// The patient's new starts in month `m`, one per clinic in clinic
    /// order; none when the patient is excluded in `m`.
    pub fn new_starts(&self, m: Month, cfg: &MetricsConfig) -> Vec<NewStart> {
        let (ms, me) = (m.first_day(), m.last_day());
        if self.excluded(m, cfg) {
            return Vec::new();
        }
        let n = cfg.new_start_lookback_days as Day;
        let first = self.opioids.partition_point(|r| r.start < ms);
        let mut index_days: Vec<(u32, Day)> = Vec::new();
        for r in self.opioids[first..].iter().take_while(|r| r.start <= me) {
            if index_days.iter().any(|(c, _)| *c == r.clinic) {
                continue;
            }
            if covered(&self.op, r.start - n, r.start - 1) == 0 {
                index_days.push((r.clinic, r.start));
            }
        }
        index_days.sort_unstable();
        index_days
            .into_iter()
            .map(|(clinic, day)| {
                let index: Vec<&&Prescription> =
                    self.opioids[first..].iter().filter(|r| r.clinic == clinic && r.start == day).collect();
                NewStart {
                    clinic,
                    short: index.iter().all(|r| r.days <= 3),
                    long: index.iter().any(|r| r.days > 7),
                    er_la: index.iter().any(|r| r.long_acting),
                    high_dose: round6(index.iter().map(|r| r.daily_mme).sum::<f64>()) >= 50.0,
                }
            })
            .collect()
    }
}

/// The clinics a patient is attributed to in a month: a valid opioid,
/// buprenorphine or benzodiazepine row (never a sedative) written there in
/// the `attribution_days` days ending at month end.
pub fn attributed_clinics(rx: &[&Prescription], month_end: Day, attribution_days: u32) -> Vec<u32> {
    let from = window_start(month_end, attribution_days);
    let mut c: Vec<u32> = rx
        .iter()
        .filter(|r| r.start >= from && r.start <= month_end && r.class != DrugClass::Sedative)
        .map(|r| r.clinic)
        .collect();
    c.sort_unstable();
    c.dedup();
    c
}

/// One patient's facts at one clinic in one month: a row of the long
/// patient × clinic × month frame the clinic_month query sums
/// ([`super::clinic_month`]). There is a row where the patient is attributed
/// to the clinic and has an opioid- or buprenorphine-covered day or is
/// excluded (the rows of `metrics/patient_month.parquet`, SPEC §6.4), and
/// where the patient had a new start at the clinic this month or three
/// months before (attributed or not).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatientMonthRow {
    pub patient: u32,
    pub clinic: u32,
    /// Index into the computed months.
    pub month: u16,
    /// The patient is attributed to the clinic in the month.
    pub attributed: bool,
    pub opioid: bool,
    pub ltot: bool,
    pub excluded: bool,
    pub bup: bool,
    pub ltot_days: u16,
    /// Section 3's value, unrounded; 0 without opioid days.
    pub daily_mme: f64,
    /// Bit k: high dose at threshold k.
    pub high_dose: u32,
    pub benzo_days: u8,
    pub sedative_days: u8,
    /// Bit k: event [`EventType::ALL`]`[k]` in its lookback.
    pub events: u8,
    /// The patient's new start at this clinic this month, if any.
    pub new_start: Option<NewStart>,
    /// The patient had a new start at this clinic three months before.
    pub new_start_3mo_ago: bool,
}

impl PatientMonthRow {
    fn new(patient: u32, clinic: u32, month: u16, pm: &PatientMonth) -> Self {
        PatientMonthRow {
            patient,
            clinic,
            month,
            opioid: pm.opioid,
            ltot: pm.ltot,
            excluded: pm.excluded,
            bup: pm.bup,
            ltot_days: pm.ltot_days as u16,
            daily_mme: if pm.opioid { pm.value } else { 0.0 },
            high_dose: pm.high_dose.iter().enumerate().map(|(k, h)| (*h as u32) << k).sum(),
            benzo_days: pm.benzo_days as u8,
            sedative_days: pm.sedative_days as u8,
            events: pm.events.iter().enumerate().map(|(k, e)| (*e as u8) << k).sum(),
            ..Default::default()
        }
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
    rx: (Vec<usize>, Vec<u32>),
    ev: (Vec<usize>, Vec<u32>),
    ex: (Vec<usize>, Vec<u32>),
}

impl<'a> PatientIndex<'a> {
    /// Group the dataset's prescriptions, care events and exclusions by patient.
    pub fn new(data: &'a Dataset) -> Self {
        let n_p = data.patients.len();
        let rx = group_by_patient(&data.prescriptions, n_p, |r| r.patient);
        let ev = group_by_patient(&data.care_events, n_p, |e| e.patient);
        let ex = group_by_patient(&data.exclusions, n_p, |e| e.patient);
        PatientIndex { data, rx, ev, ex }
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
        fn pick<'b, T>(g: &(Vec<usize>, Vec<u32>), p: usize, all: &'b [T]) -> Vec<&'b T> {
            g.1[g.0[p]..g.0[p + 1]].iter().map(|&i| &all[i as usize]).collect()
        }
        let data = self.data;
        let mut rx = pick(&self.rx, p, &data.prescriptions);
        rx.sort_by_key(|r| r.start);
        PatientRows {
            rx,
            events: pick(&self.ev, p, &data.care_events),
            exclusions: pick(&self.ex, p, &data.exclusions),
        }
    }
}

/// Patients per parallel chunk (fixed, so the row order, and with it every
/// floating-point sum over the rows, does not depend on the thread count).
const CHUNK: usize = 2048;

/// The interval engine: every patient's [`PatientMonthRow`]s over `months`,
/// one batch of rows per chunk of patients, in patient order.
pub fn patient_month_rows<T: Send>(
    index: &PatientIndex,
    months: &[Month],
    cfg: &MetricsConfig,
    batch: impl Fn(Vec<PatientMonthRow>) -> T + Sync,
) -> Vec<T> {
    let patients: Vec<usize> = (0..index.len()).collect();
    patients
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut rows = Vec::new();
            for &p in chunk {
                let rx = index.rows(p);
                if !rx.rx.is_empty() {
                    patient_months(p as u32, &rx, months, cfg, &mut rows);
                }
            }
            batch(rows)
        })
        .collect()
}

/// One patient's rows for every month: the attributed clinics' facts, the
/// new starts of the month and those of three months before.
fn patient_months(p: u32, rows: &PatientRows, months: &[Month], cfg: &MetricsConfig, out: &mut Vec<PatientMonthRow>) {
    let cov = Coverage::new(rows, cfg);
    // starts[j] are the new starts of months[0] + (j − 3).
    let starts: Vec<Vec<NewStart>> =
        (0..months.len() + 3).map(|j| cov.new_starts(months[0].plus(j as i32 - 3), cfg)).collect();
    for (k, m) in months.iter().enumerate() {
        let clinics = attributed_clinics(&rows.rx, m.last_day(), cfg.attribution_days);
        let (now, before) = (&starts[k + 3], &starts[k]);
        if clinics.is_empty() && now.is_empty() && before.is_empty() {
            continue;
        }
        let pm = cov.month(*m, cfg);
        let mut keys: Vec<u32> = if pm.opioid || pm.bup || pm.excluded { clinics.clone() } else { Vec::new() };
        keys.extend(now.iter().chain(before).map(|n| n.clinic));
        keys.sort_unstable();
        keys.dedup();
        for c in keys {
            let mut r = PatientMonthRow::new(p, c, k as u16, &pm);
            r.attributed = clinics.binary_search(&c).is_ok();
            r.new_start = now.iter().find(|n| n.clinic == c).copied();
            r.new_start_3mo_ago = before.iter().any(|n| n.clinic == c);
            out.push(r);
        }
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::dates::parse_date;
    use crate::metrics::clinic_month::compute;
    use crate::model::Clinic;

    fn d(s: &str) -> Day {
        parse_date(s).unwrap()
    }
    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }
    fn rx(clinic: u32, start: &str, days: u16, class: DrugClass, mme: f64) -> Prescription {
        Prescription {
            clinic,
            patient: 0,
            prescriber: None,
            start: d(start),
            days,
            class,
            drug: 0,
            daily_mme: mme,
            long_acting: false,
        }
    }
    fn op(start: &str, days: u16, mme: f64) -> Prescription {
        rx(0, start, days, DrugClass::Opioid, mme)
    }
    fn ev(date: &str, kind: EventType) -> CareEvent {
        CareEvent { clinic: 0, patient: 0, date: d(date), kind }
    }
    fn month_of(rxs: &[Prescription], evs: &[CareEvent], month: &str) -> PatientMonth {
        let rows = PatientRows { rx: rxs.iter().collect(), events: evs.iter().collect(), exclusions: Vec::new() };
        Coverage::new(&rows, &MetricsConfig::default()).month(m(month), &MetricsConfig::default())
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

    fn cov_of<'a>(rxs: &'a [Prescription], ex: &'a [Exclusion]) -> Coverage<'a> {
        let rows = PatientRows { rx: rxs.iter().collect(), events: Vec::new(), exclusions: ex.iter().collect() };
        Coverage::new(&rows, &MetricsConfig::default())
    }
    fn excl(start: &str, end: Option<&str>) -> Exclusion {
        Exclusion { patient: 0, reason: crate::model::ExclusionReason::Cancer, start: d(start), end: end.map(d) }
    }

    #[test]
    fn exclusion_covers_a_day_of_the_365_days_ending_at_month_end() {
        let rxs = [op("2024-01-01", 31, 20.0)];
        // 365 days ending 2024-01-31 start 2023-02-01.
        assert!(
            cov_of(&rxs, &[excl("2022-01-01", Some("2023-02-01"))]).excluded(m("2024-01"), &MetricsConfig::default())
        );
        assert!(
            !cov_of(&rxs, &[excl("2022-01-01", Some("2023-01-31"))]).excluded(m("2024-01"), &MetricsConfig::default())
        );
        assert!(cov_of(&rxs, &[excl("2024-01-31", None)]).excluded(m("2024-01"), &MetricsConfig::default()));
        assert!(!cov_of(&rxs, &[excl("2024-02-01", None)]).excluded(m("2024-01"), &MetricsConfig::default()));
        // A reason left out of exclusion_reasons does not exclude.
        let cfg =
            MetricsConfig { exclusion_reasons: vec![crate::model::ExclusionReason::Hospice], ..Default::default() };
        let x = excl("2024-01-01", None);
        let rows = PatientRows { rx: rxs.iter().collect(), events: Vec::new(), exclusions: vec![&x] };
        assert!(!Coverage::new(&rows, &cfg).excluded(m("2024-01"), &cfg));
    }

    #[test]
    fn excluded_patients_leave_every_measure_but_bup_and_excluded() {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic::comparison("A")];
        data.patients.intern("p1");
        data.prescriptions = vec![op("2024-01-01", 91, 100.0), rx(0, "2024-03-01", 31, DrugClass::Buprenorphine, 0.0)];
        data.exclusions = vec![excl("2023-06-01", Some("2023-06-30"))];
        let cell = compute(&data, &[m("2024-03")], &MetricsConfig::default()).cells[0].clone();
        assert_eq!((cell.opioid_patients, cell.ltot_patients, cell.excluded_patients, cell.bup_patients), (0, 0, 1, 1));
        assert_eq!(cell.high_dose, vec![0, 0]);
        // Once the exclusion is more than 365 days before month end, the patient counts again.
        let cell = compute(&data, &[m("2024-07")], &MetricsConfig::default()).cells[0].clone();
        assert_eq!(cell.excluded_patients, 0);
    }

    #[test]
    fn sedative_overlap_and_patients_at_risk() {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic::comparison("A")];
        for (p, mme, other) in
            [("p1", 30.0, Some(DrugClass::Sedative)), ("p2", 50.0, None), ("p3", 30.0, Some(DrugClass::Benzodiazepine))]
        {
            let id = data.patients.intern(p);
            let mut o = op("2024-01-01", 91, mme);
            o.patient = id;
            data.prescriptions.push(o);
            if let Some(class) = other {
                let mut s = rx(0, "2024-03-31", 30, class, 0.0);
                s.patient = id;
                data.prescriptions.push(s);
            }
        }
        data.care_events = vec![CareEvent { clinic: 0, patient: 2, date: d("2024-03-01"), kind: EventType::Naloxone }];
        let cell = compute(&data, &[m("2024-03")], &MetricsConfig::default()).cells[0].clone();
        assert_eq!(cell.ltot_patients, 3);
        assert_eq!(cell.sedative_overlap, 1, "one shared day, March 31");
        assert_eq!(cell.benzo_overlap, 1);
        assert_eq!(cell.at_risk_patients, 2, "≥ 50 or benzodiazepine; a sedative alone is not at risk");
        assert_eq!(cell.naloxone_at_risk, 1);
        assert_eq!(cell.naloxone, 0, "the naloxone patient is below 50 MME/day");
    }

    #[test]
    fn a_sedative_alone_never_attributes_a_patient() {
        let s = rx(1, "2024-01-10", 30, DrugClass::Sedative, 0.0);
        let o = rx(0, "2023-12-01", 60, DrugClass::Opioid, 10.0);
        assert_eq!(attributed_clinics(&[&s, &o], d("2024-01-31"), 365), vec![0]);
    }

    fn at(clinic: u32, start: &str, days: u16, mme: f64, long_acting: bool) -> Prescription {
        Prescription { long_acting, ..rx(clinic, start, days, DrugClass::Opioid, mme) }
    }

    #[test]
    fn new_start_needs_90_days_without_opioid_coverage() {
        let cfg = MetricsConfig::default();
        // 90 days before 2024-04-10 are 2024-01-11 .. 2024-04-09.
        let covered_on_first_day = [at(0, "2024-01-01", 11, 10.0, false), at(0, "2024-04-10", 5, 10.0, false)];
        assert!(cov_of(&covered_on_first_day, &[]).new_starts(m("2024-04"), &cfg).is_empty());
        let ends_the_day_before = [at(0, "2024-01-01", 10, 10.0, false), at(0, "2024-04-10", 5, 10.0, false)];
        let ns = cov_of(&ends_the_day_before, &[]).new_starts(m("2024-04"), &cfg);
        assert_eq!(ns, vec![NewStart { clinic: 0, short: false, long: false, er_la: false, high_dose: false }]);
        // Buprenorphine coverage does not count as opioid coverage.
        let bup = [rx(0, "2024-03-01", 30, DrugClass::Buprenorphine, 0.0), at(0, "2024-04-10", 3, 10.0, false)];
        assert!(cov_of(&bup, &[]).new_starts(m("2024-04"), &cfg)[0].short);
        // An excluded patient has no new start.
        assert!(cov_of(&ends_the_day_before, &[excl("2024-04-01", None)]).new_starts(m("2024-04"), &cfg).is_empty());
    }

    #[test]
    fn index_prescriptions_are_all_those_of_the_index_day_at_the_clinic() {
        let cfg = MetricsConfig::default();
        // Index day April 2 at clinic 0: 3 days at 30 MME and 8 days ER at 20 MME → long, ER/LA, 50 MME.
        let rxs = [
            at(0, "2024-04-02", 3, 30.0, false),
            at(0, "2024-04-02", 8, 20.0, true),
            at(0, "2024-04-20", 30, 100.0, false),
            at(1, "2024-04-02", 2, 5.0, false),
        ];
        let ns = cov_of(&rxs, &[]).new_starts(m("2024-04"), &cfg);
        assert_eq!(
            ns,
            vec![
                NewStart { clinic: 0, short: false, long: true, er_la: true, high_dose: true },
                NewStart { clinic: 1, short: true, long: false, er_la: false, high_dose: false },
            ]
        );
        // 7 days is not long; 49.9999999 rounds to 50.
        let rxs = [at(0, "2024-04-02", 7, 49.9999999, false)];
        assert_eq!(
            cov_of(&rxs, &[]).new_starts(m("2024-04"), &cfg),
            vec![NewStart { clinic: 0, short: false, long: false, er_la: false, high_dose: true }]
        );
    }

    #[test]
    fn transition_counts_new_starts_of_three_months_before_on_ltot_now() {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic::comparison("A")];
        data.patients.intern("p1");
        data.patients.intern("p2");
        // p1 starts in January and stays on 30-day refills; p2 starts in January for 5 days.
        let mut rows = vec![at(0, "2024-01-05", 30, 20.0, false)];
        for start in ["2024-02-04", "2024-03-05", "2024-04-04"] {
            rows.push(at(0, start, 30, 20.0, false));
        }
        let mut p2 = at(0, "2024-01-20", 5, 20.0, false);
        p2.patient = 1;
        rows.push(p2);
        data.prescriptions = rows;
        let pm = compute(&data, &m("2024-04").window(4), &MetricsConfig::default());
        let jan = pm.cell(0, 0);
        assert_eq!((jan.new_starts, jan.new_start_short, jan.new_start_long), (2, 0, 1));
        let apr = pm.cell(0, 3);
        assert_eq!((apr.new_starts, apr.new_starts_3mo_ago, apr.ltot_transition), (0, 2, 1));
    }

    #[test]
    fn another_clinics_earlier_opioid_blocks_a_new_start_and_4_days_is_neither_short_nor_long() {
        let cfg = MetricsConfig::default();
        // Clinic 1 covered 2024-03-01 .. 2024-03-30; clinic 0 writes on April 10 (within 90 days).
        let rxs = [at(1, "2024-03-01", 30, 10.0, false), at(0, "2024-04-10", 4, 10.0, false)];
        assert!(cov_of(&rxs, &[]).new_starts(m("2024-04"), &cfg).is_empty());
        let rxs = [at(0, "2024-04-10", 4, 10.0, false)];
        assert_eq!(
            cov_of(&rxs, &[]).new_starts(m("2024-04"), &cfg),
            vec![NewStart { clinic: 0, short: false, long: false, er_la: false, high_dose: false }]
        );
    }

    #[test]
    fn an_exclusion_in_the_month_of_the_count_blocks_the_transition() {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic::comparison("A")];
        data.patients.intern("p1");
        let mut rows = vec![at(0, "2024-01-05", 30, 20.0, false)];
        for start in ["2024-02-04", "2024-03-05", "2024-04-04"] {
            rows.push(at(0, start, 30, 20.0, false));
        }
        data.prescriptions = rows;
        // Hospice from April 15: excluded in April, not in January (its lookback ends January 31).
        data.exclusions = vec![Exclusion {
            patient: 0,
            reason: crate::model::ExclusionReason::Hospice,
            start: d("2024-04-15"),
            end: None,
        }];
        let pm = compute(&data, &m("2024-04").window(4), &MetricsConfig::default());
        assert_eq!(pm.cell(0, 0).new_starts, 1, "January");
        let apr = pm.cell(0, 3);
        assert_eq!((apr.new_starts_3mo_ago, apr.ltot_transition, apr.excluded_patients), (0, 0, 1));
    }
}
