//! Facilitator portfolios (SPEC §6.5): `metrics/facilitator_month.csv`, one
//! row per facilitator (clinics.facilitator_id; `unassigned` for clinics
//! without one) and month of the window.

use super::fidelity::ByClinic;
use crate::dates::{Day, Month};
use crate::error::{Error, Result};
use crate::model::{Arm, Clinic, Dataset};
use polars::prelude::*;

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

fn fail(e: PolarsError) -> Error {
    Error::Report { what: "facilitators".into(), message: e.to_string() }
}

/// Facilitation hours of each intervention clinic (clinic_id order) by the
/// program phase of the row's month, prepare/launch, design/implement,
/// sustain, for rows up to `end` (a polars group-by; rows of the baseline
/// phase are not counted).
pub fn phase_hours(data: &Dataset, end: Day) -> Result<Vec<(usize, [f64; 3])>> {
    use super::fidelity::{phase, Phase};
    let phases = [Phase::PrepareLaunch, Phase::DesignImplement, Phase::Sustain];
    let rows: Vec<(u32, u32, f64)> = data
        .facilitation
        .iter()
        .filter(|f| f.date <= end && data.clinics[f.clinic as usize].arm == Arm::Intervention)
        .filter_map(|f| {
            let ph = phase(&data.clinics[f.clinic as usize], Month::of_day(f.date));
            phases.iter().position(|p| *p == ph).map(|k| (f.clinic, k as u32, f.hours))
        })
        .collect();
    let go = || -> PolarsResult<DataFrame> {
        df!(
            "clinic" => rows.iter().map(|r| r.0).collect::<Vec<u32>>(),
            "phase" => rows.iter().map(|r| r.1).collect::<Vec<u32>>(),
            "hours" => rows.iter().map(|r| r.2).collect::<Vec<f64>>(),
        )?
        .lazy()
        .group_by([col("clinic"), col("phase")])
        .agg([col("hours").sum()])
        .collect()
    };
    let df = go().map_err(fail)?;
    let mut by = vec![[0.0; 3]; data.clinics.len()];
    let (c, k, h) = (df.column("clinic"), df.column("phase"), df.column("hours"));
    let read = || -> PolarsResult<()> {
        for ((c, k), h) in c?.u32()?.iter().zip(k?.u32()?.iter()).zip(h?.f64()?.iter()) {
            if let (Some(c), Some(k), Some(h)) = (c, k, h) {
                by[c as usize][k as usize] = h;
            }
        }
        Ok(())
    };
    read().map_err(fail)?;
    let order = super::study::clinic_order(data);
    Ok(order.into_iter().filter(|&c| data.clinics[c].arm == Arm::Intervention).map(|c| (c, by[c])).collect())
}

/// Each facilitator's portfolio ([`portfolios`] order): clinics, and the
/// facilitation hours and rows of its clinics dated in `from..=to`.
pub fn portfolio_effort(data: &Dataset, from: Day, to: Day) -> Result<Vec<(String, usize, f64, usize)>> {
    let ps = portfolios(data);
    let mut owner = vec![0u32; data.clinics.len()];
    for (k, (_, cs)) in ps.iter().enumerate() {
        for &c in cs {
            owner[c] = k as u32;
        }
    }
    let rows: Vec<&crate::model::Facilitation> =
        data.facilitation.iter().filter(|f| f.date >= from && f.date <= to).collect();
    let go = || -> PolarsResult<DataFrame> {
        df!(
            "portfolio" => rows.iter().map(|f| owner[f.clinic as usize]).collect::<Vec<u32>>(),
            "hours" => rows.iter().map(|f| f.hours).collect::<Vec<f64>>(),
        )?
        .lazy()
        .group_by([col("portfolio")])
        .agg([col("hours").sum(), len().alias("rows")])
        .collect()
    };
    let df = go().map_err(fail)?;
    let mut effort = vec![(0.0, 0usize); ps.len()];
    let mut read = || -> PolarsResult<()> {
        let (p, h, n) = (df.column("portfolio")?.u32()?, df.column("hours")?.f64()?, df.column("rows")?.u32()?);
        for ((p, h), n) in p.iter().zip(h.iter()).zip(n.iter()) {
            if let (Some(p), Some(h), Some(n)) = (p, h, n) {
                effort[p as usize] = (h, n as usize);
            }
        }
        Ok(())
    };
    read().map_err(fail)?;
    Ok(ps.into_iter().zip(effort).map(|((id, cs), (h, n))| (id, cs.len(), h + 0.0, n)).collect())
}

/// Whether clinic `c` has started and has no facilitation row in the 60
/// days ending at the end of `m` (the `no_contact_60d` flag's rule).
pub fn without_contact_60d(data: &Dataset, by: &ByClinic, c: usize, m: Month) -> bool {
    super::fidelity::no_contact_60d(&data.clinics[c], &by.facilitation[c], m.last_day())
}

/// The fidelity frame at the clinic × month grain that facilitator_month
/// aggregates: the clinic's facilitator, arm, facilitation rows of the month
/// (whoever logged them, SPEC §6.7.12), contact in the last 60 days and
/// overdue milestones at month end.
pub fn fidelity_frame(data: &Dataset, months: &[Month]) -> Result<DataFrame> {
    let by = ByClinic::new(data);
    let (mut fac, mut month, mut interv, mut hours, mut contacts, mut quiet, mut overdue) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for c in super::study::clinic_order(data) {
        for m in months {
            let (ms, me) = (m.first_day(), m.last_day());
            let rows: Vec<_> = by.facilitation[c].iter().filter(|r| r.date >= ms && r.date <= me).collect();
            fac.push(facilitator_of(&data.clinics[c]).to_string());
            month.push(m.to_string());
            interv.push(data.clinics[c].arm == Arm::Intervention);
            hours.push(rows.iter().map(|r| r.hours).sum::<f64>() + 0.0);
            contacts.push(rows.len() as i64);
            quiet.push(without_contact_60d(data, &by, c, *m));
            overdue.push(by.counts(c as u32, None, me).overdue as i64);
        }
    }
    DataFrame::new_infer_height(vec![
        Column::new("facilitator_id".into(), fac),
        Column::new("month".into(), month),
        Column::new("intervention".into(), interv),
        Column::new("hours".into(), hours),
        Column::new("contacts".into(), contacts),
        Column::new("without_contact_60d".into(), quiet),
        Column::new("milestones_overdue".into(), overdue),
    ])
    .map_err(polars_err)
}

fn polars_err(e: PolarsError) -> Error {
    Error::Report { what: "facilitator_month".into(), message: e.to_string() }
}

/// `metrics/facilitator_month`: the fidelity frame grouped by facilitator
/// and month (a polars lazy query), sorted by facilitator_id and month.
pub fn facilitator_month(data: &Dataset, months: &[Month]) -> Result<DataFrame> {
    let sum = |c: &str| col(c).cast(DataType::Int64).sum();
    let mut df = fidelity_frame(data, months)?
        .lazy()
        .group_by_stable([col("facilitator_id"), col("month")])
        .agg([
            len().cast(DataType::Int64).alias("clinics"),
            sum("intervention").alias("intervention_clinics"),
            col("hours").sum().alias("hours"),
            col("contacts").sum().alias("contacts"),
            sum("without_contact_60d").alias("clinics_without_contact_60d"),
            col("milestones_overdue").sum().alias("milestones_overdue"),
            col("milestones_overdue").gt(lit(0)).cast(DataType::Int64).sum().alias("clinics_with_overdue_milestone"),
        ])
        .sort(["facilitator_id", "month"], SortMultipleOptions::default().with_maintain_order(true))
        .collect()
        .map_err(polars_err)?;
    // Hours to 2 decimals, half away from zero (polars' round is half to even).
    let hours: Vec<Option<f64>> = df
        .column("hours")
        .and_then(|c| c.f64().cloned())
        .map_err(polars_err)?
        .iter()
        .map(|h| h.map(|x| super::trends::round_to(x, 2)))
        .collect();
    df.with_column(Column::new("hours".into(), hours)).map_err(polars_err)?;
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::parse_date;
    use crate::model::{Activity, Facilitation, Milestone};

    /// A: intervention (F1) with an overdue milestone and contacts; B:
    /// comparison (F1); C: intervention without a facilitator and without
    /// contact for 61 days at the end of June.
    fn three_clinics() -> Dataset {
        let mut data = Dataset::default();
        let d = |s: &str| parse_date(s).unwrap();
        let mut a = Clinic::comparison("A");
        a.arm = Arm::Intervention;
        a.program_start = parse_date("2024-01-15");
        a.facilitator_id = Some("F1".into());
        let mut b = Clinic::comparison("B");
        b.facilitator_id = Some("F1".into());
        let mut c = Clinic::comparison("C");
        c.arm = Arm::Intervention;
        c.program_start = parse_date("2024-01-15");
        data.clinics = vec![a, b, c];
        let fac = |clinic: u32, date: &str, hours: f64| Facilitation {
            clinic,
            facilitator: Some("F9".into()),
            date: d(date),
            activity: Activity::SiteVisit,
            hours,
        };
        // Logged by F9 at A: still F1's hours. 2024-04-30 is 61 days before June 30.
        data.facilitation = vec![
            fac(0, "2024-05-01", 1.5),
            fac(0, "2024-06-10", 2.0),
            fac(0, "2024-06-11", 0.125),
            fac(2, "2024-04-30", 1.0),
        ];
        data.milestones.push(Milestone {
            clinic: 0,
            block: crate::model::Block::Leadership,
            name: "x".into(),
            due: d("2024-06-30"),
            completed: None,
        });
        data.milestones.push(Milestone {
            clinic: 0,
            block: crate::model::Block::Policies,
            name: "y".into(),
            due: d("2024-05-01"),
            completed: Some(d("2024-06-01")),
        });
        data
    }

    fn row(df: &DataFrame, i: usize) -> Vec<String> {
        df.columns().iter().map(|c| c.get(i).unwrap().to_string().trim_matches('"').to_string()).collect()
    }

    #[test]
    fn facilitator_month_rows_match_hand_computed_values() {
        let data = three_clinics();
        assert_eq!(portfolios(&data), vec![("F1".to_string(), vec![0, 1]), ("unassigned".to_string(), vec![2])]);
        let df = facilitator_month(&data, &Month::parse("2024-06").unwrap().window(2)).unwrap();
        let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
        assert_eq!(
            names.join(","),
            "facilitator_id,month,clinics,intervention_clinics,hours,contacts,clinics_without_contact_60d,\
milestones_overdue,clinics_with_overdue_milestone"
        );
        // F1 in May: 1.5 h (1 contact); y is due May 1 and done June 1: overdue at May 31.
        assert_eq!(row(&df, 0), ["F1", "2024-05", "2", "1", "1.5", "1", "0", "1", "1"]);
        // F1 in June: 2.125 h → 2.13 (half away from zero); x due June 30 is overdue, y done.
        assert_eq!(row(&df, 1), ["F1", "2024-06", "2", "1", "2.13", "2", "0", "1", "1"]);
        // C in May: contact April 30 is within the 60 days ending May 31; in June it is 61 days back.
        assert_eq!(row(&df, 2), ["unassigned", "2024-05", "1", "1", "0.0", "0", "0", "0", "0"]);
        assert_eq!(row(&df, 3), ["unassigned", "2024-06", "1", "1", "0.0", "0", "1", "0", "0"]);
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
    pm: &super::clinic_month::PrescribingMetrics,
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
        // Ties get average ranks: x 1, 2, 2, 4 → ranks 1, 2.5, 2.5, 4; y 1..4 → 1..4.
        // Σ(rx − 2.5)(ry − 2.5) = 2.25 + 0 + 0 + 2.25 = 4.5; Σ(rx − 2.5)² = 4.5; Σ(ry − 2.5)² = 5:
        // rho = 4.5 / √(4.5 · 5) = 0.948683.
        let tied = [(1.0, 1.0), (2.0, 2.0), (2.0, 3.0), (4.0, 4.0)];
        let (r, _) = spearman(&tied).unwrap();
        assert!((r - 0.948683).abs() < 1e-6, "{r}");
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }
}
