//! Facilitator portfolios (SPEC §6.5): `metrics/facilitator_month.csv`, one
//! row per facilitator (clinics.facilitator_id; `unassigned` for clinics
//! without one) and month of the window.

use super::fidelity::ByClinic;
use super::table::{Col, Table};
use crate::dates::{window_start, Month};
use crate::model::{Arm, Clinic, Dataset};

/// The facilitator id of clinics without one.
pub const UNASSIGNED: &str = "unassigned";

/// A clinic's facilitator, or [`UNASSIGNED`].
pub fn facilitator_of(c: &Clinic) -> &str {
    c.facilitator_id.as_deref().unwrap_or(UNASSIGNED)
}

/// Facilitator ids, sorted, each with its clinics (dataset indices, by clinic_id).
pub fn portfolios(data: &Dataset) -> Vec<(String, Vec<usize>)> {
    let mut v: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for c in super::study::clinic_order(data) {
        v.entry(facilitator_of(&data.clinics[c]).to_string()).or_default().push(c);
    }
    v.into_iter().collect()
}

/// One facilitator's month.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FacilitatorMonth {
    pub clinics: u32,
    pub intervention_clinics: u32,
    pub hours: f64,
    pub contacts: u32,
    pub clinics_without_contact_60d: u32,
    pub milestones_overdue: u32,
    pub clinics_with_overdue_milestone: u32,
}

/// Whether clinic `c` has started (intervention, program_start by the end
/// of `m`) and has no facilitation row in the 60 days ending then.
pub fn without_contact_60d(data: &Dataset, by: &ByClinic, c: usize, m: Month) -> bool {
    let clinic = &data.clinics[c];
    let end = m.last_day();
    let started = clinic.arm == Arm::Intervention && clinic.program_start.is_some_and(|s| s <= end);
    let from = window_start(end, 60);
    started && !by.facilitation[c].iter().any(|f| f.date >= from && f.date <= end)
}

/// The month of a facilitator's clinics: rows logged at those clinics,
/// whoever logged them (SPEC §6.7.12).
pub fn month_of(data: &Dataset, by: &ByClinic, clinics: &[usize], m: Month) -> FacilitatorMonth {
    let (ms, me) = (m.first_day(), m.last_day());
    let mut f = FacilitatorMonth { clinics: clinics.len() as u32, ..Default::default() };
    for &c in clinics {
        f.intervention_clinics += (data.clinics[c].arm == Arm::Intervention) as u32;
        for row in by.facilitation[c].iter().filter(|r| r.date >= ms && r.date <= me) {
            f.hours += row.hours;
            f.contacts += 1;
        }
        f.clinics_without_contact_60d += without_contact_60d(data, by, c, m) as u32;
        let overdue = by.counts(c as u32, None, me).overdue;
        f.milestones_overdue += overdue;
        f.clinics_with_overdue_milestone += (overdue > 0) as u32;
    }
    f
}

/// `metrics/facilitator_month.csv`.
pub fn facilitator_month_table(data: &Dataset, months: &[Month]) -> Table {
    let by = ByClinic::new(data);
    let (mut ids, mut mon, mut rows) = (Vec::new(), Vec::new(), Vec::new());
    for (id, clinics) in portfolios(data) {
        for m in months {
            ids.push(id.clone());
            mon.push(m.to_string());
            rows.push(month_of(data, &by, &clinics, *m));
        }
    }
    let int = |f: fn(&FacilitatorMonth) -> u32| Col::Int(rows.iter().map(|r| Some(f(r) as i64)).collect());
    let mut t = Table::default();
    t.push("facilitator_id", Col::Str(ids));
    t.push("month", Col::Str(mon));
    t.push("clinics", int(|r| r.clinics));
    t.push("intervention_clinics", int(|r| r.intervention_clinics));
    // `+ 0.0` turns the −0.0 of an empty sum into 0.0.
    t.push("hours", Col::Float(rows.iter().map(|r| Some(super::trends::round_to(r.hours, 2) + 0.0)).collect()));
    t.push("contacts", int(|r| r.contacts));
    t.push("clinics_without_contact_60d", int(|r| r.clinics_without_contact_60d));
    t.push("milestones_overdue", int(|r| r.milestones_overdue));
    t.push("clinics_with_overdue_milestone", int(|r| r.clinics_with_overdue_milestone));
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::parse_date;
    use crate::model::{Activity, Facilitation, Milestone};

    #[test]
    fn facilitator_month_counts_the_clinics_rows_and_overdue_milestones() {
        let mut data = Dataset::default();
        let mut a = Clinic::comparison("A");
        a.arm = Arm::Intervention;
        a.program_start = parse_date("2024-01-15");
        a.facilitator_id = Some("F1".into());
        let mut b = Clinic::comparison("B");
        b.facilitator_id = Some("F1".into());
        data.clinics = vec![a, b, Clinic::comparison("C")];
        let d = |s: &str| parse_date(s).unwrap();
        // Logged by someone else at A: still F1's hours. 60 days ending 2024-06-30 start 2024-05-02.
        for (date, h) in [("2024-05-01", 1.005), ("2024-06-10", 2.0)] {
            data.facilitation.push(Facilitation {
                clinic: 0,
                facilitator: Some("F9".into()),
                date: d(date),
                activity: Activity::SiteVisit,
                hours: h,
            });
        }
        data.milestones.push(Milestone { clinic: 0, block: 1, name: "x".into(), due: d("2024-06-30"), completed: None });
        data.milestones.push(Milestone {
            clinic: 0,
            block: 2,
            name: "y".into(),
            due: d("2024-05-01"),
            completed: Some(d("2024-06-01")),
        });
        let months = Month::parse("2024-06").unwrap().window(2);
        let p = portfolios(&data);
        assert_eq!(p, vec![("F1".to_string(), vec![0, 1]), ("unassigned".to_string(), vec![2])]);
        let by = ByClinic::new(&data);
        let june = month_of(&data, &by, &p[0].1, months[1]);
        assert_eq!(
            june,
            FacilitatorMonth {
                clinics: 2,
                intervention_clinics: 1,
                hours: 2.0,
                contacts: 1,
                clinics_without_contact_60d: 0,
                milestones_overdue: 1,
                clinics_with_overdue_milestone: 1,
            }
        );
        let may = month_of(&data, &by, &p[0].1, months[0]);
        assert_eq!((may.contacts, may.milestones_overdue, may.clinics_without_contact_60d), (1, 1, 0));
        // In July (no rows since May 1... June 10 is within 60 days of July 31) contact holds; in
        // September it does not.
        let sep = month_of(&data, &by, &p[0].1, Month::parse("2024-09").unwrap());
        assert_eq!(sep.clinics_without_contact_60d, 1);
    }
}

/// One intervention clinic's facilitation dose and its changes (issue 13).
#[derive(Clone, Debug, PartialEq)]
pub struct DosePoint {
    pub clinic: usize,
    /// Facilitation hours in program months 1–12.
    pub hours: f64,
    /// Per measure asked for: pooled value over the 12 months from the start
    /// month minus the 12 months before (percentage points), when both exist.
    pub changes: Vec<Option<f64>>,
}

/// Dose and change of every started intervention clinic whose 12 program
/// months lie inside `pm`, for each (numerator, denominator) of `measures`.
pub fn dose_response(
    data: &Dataset,
    pm: &super::prescribing::PrescribingMetrics,
    measures: &[&super::study::Measure],
) -> Vec<DosePoint> {
    let by = ByClinic::new(data);
    let mut out = Vec::new();
    for c in super::study::clinic_order(data) {
        let clinic = &data.clinics[c];
        let Some(start) = clinic.program_start.filter(|_| clinic.arm == Arm::Intervention) else { continue };
        let s = Month::of_day(start);
        let k0 = s.minus(pm.months[0]);
        if k0 < 0 || (k0 + 12) as usize > pm.months.len() {
            continue;
        }
        let (from, to) = (s.first_day(), s.plus(11).last_day());
        let hours = by.facilitation[c].iter().filter(|f| f.date >= from && f.date <= to).map(|f| f.hours).sum();
        let pooled = |m: &super::study::Measure, a: i32, b: i32| {
            let (n, d) = (a..b).filter(|k| *k >= 0).fold((0u64, 0u64), |(n, d), k| {
                let cell = pm.cell(c, k as usize);
                (n + (m.num)(cell) as u64, d + (m.den)(cell) as u64)
            });
            (d > 0).then(|| 100.0 * n as f64 / d as f64)
        };
        let changes = measures
            .iter()
            .map(|m| Some(pooled(m, k0, k0 + 12)? - pooled(m, k0 - 12, k0)?).filter(|_| k0 >= 12))
            .collect();
        out.push(DosePoint { clinic: c, hours, changes });
    }
    out
}

/// Spearman's rank correlation with its two-sided p-value (t with n − 2 df);
/// `None` with fewer than 3 points or a constant variable.
pub fn spearman(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let n = points.len();
    if n < 3 {
        return None;
    }
    let rank = |v: Vec<f64>| -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|a, b| v[*a].partial_cmp(&v[*b]).unwrap());
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for &k in &idx[i..=j] {
                r[k] = (i + j) as f64 / 2.0 + 1.0;
            }
            i = j + 1;
        }
        r
    };
    let (x, y) = (rank(points.iter().map(|p| p.0).collect()), rank(points.iter().map(|p| p.1).collect()));
    let mean = (n as f64 + 1.0) / 2.0;
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mean) * (b - mean)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mean).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - mean).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    let r = sxy / (sxx * syy).sqrt();
    let df = n as f64 - 2.0;
    let p = if r.abs() >= 1.0 || df <= 0.0 {
        0.0
    } else {
        let t = r * (df / (1.0 - r * r)).sqrt();
        let dist = StudentsT::new(0.0, 1.0, df).ok()?;
        2.0 * (1.0 - dist.cdf(t.abs()))
    };
    Some((r, p))
}

#[cfg(test)]
mod spearman_tests {
    use super::spearman;

    #[test]
    fn spearman_of_monotone_ties_and_too_few_points() {
        let up: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, (i * i) as f64)).collect();
        assert_eq!(spearman(&up).map(|x| x.0), Some(1.0));
        // Ranks x 1..5 against y 2,1,4,3,5: d² = 1+1+1+1+0 = 4 → rho = 1 − 6·4/120 = 0.8.
        let pts = [(1.0, 2.0), (2.0, 1.0), (3.0, 4.0), (4.0, 3.0), (5.0, 5.0)];
        let (r, p) = spearman(&pts).unwrap();
        assert!((r - 0.8).abs() < 1e-12);
        // t = 0.8·√(3/0.36) = 2.3094, two-sided p with 3 df = 0.1041.
        assert!((p - 0.1041).abs() < 5e-4, "{p}");
        assert_eq!(spearman(&pts[..2]), None);
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }
}
