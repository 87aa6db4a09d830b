//! Outcome statistics for investigators (SPEC §3, issue 7): an interrupted
//! time series over intervention clinics on event time, and a difference in
//! differences against comparison clinics over the same calendar months.
//!
//! Models (stated in the study report):
//! * ITS: weighted least squares on clinic-months of intervention clinics,
//!   `y = b0 + b1·k + b2·post + b3·post·k`, where `k` is months since the
//!   month of program_start (0 = that month) and `post = [k ≥ 0]`; weights
//!   are the measure's denominator (LTOT patients; 1 for the LTOT count);
//!   standard errors clustered by clinic (CR1), t with G − 1 df.
//! * DiD: for each intervention clinic the change from the 12 months before
//!   program start to the 12 months from it (pooled over each window); each
//!   comparison clinic's change over the same calendar windows, averaged over
//!   the intervention clinics' windows; the estimate is the difference of
//!   the mean changes, from a clinic-level regression on `[1, treated]` with
//!   clinic-clustered (CR1) standard errors.

use super::prescribing::{Cell, PrescribingMetrics};
use super::table::{Col, Table};
use crate::config::MetricsConfig;
use crate::dates::Month;
use crate::model::{Arm, Dataset};
use crate::stats::{wls, Coef, SeKind};

/// One outcome: how to read value and weight from a cell.
pub struct Outcome {
    pub name: String,
    pub label: String,
    /// (value, weight) of a clinic-month, `None` when not defined.
    pub value: Box<dyn Fn(&Cell) -> Option<(f64, f64)> + Send + Sync>,
    /// Pool cells: (Σ numerator, Σ denominator) → value.
    pub pool: Box<dyn Fn(&[&Cell]) -> Option<f64> + Send + Sync>,
}

/// The outcomes: each high-dose %, benzodiazepine overlap % (from the
/// measure registry), mean daily MME, LTOT patients.
pub fn outcomes(cfg: &MetricsConfig) -> Vec<Outcome> {
    use crate::measures::{registry, MeasureKey};
    let i50 = cfg.high_dose_thresholds.iter().position(|t| *t == 50.0).expect("50 is always a threshold");
    let mut v = Vec::new();
    for m in registry(&cfg.threshold_labels()) {
        if !matches!(m.key, MeasureKey::HighDose(_) | MeasureKey::BenzoOverlap) {
            continue;
        }
        let (key, den) = (m.key, m.den);
        v.push(Outcome {
            name: m.pct_column(),
            label: m.label.clone(),
            value: Box::new(move |c: &Cell| {
                let d = c.den(den, i50);
                (d > 0).then(|| (100.0 * c.num(key) as f64 / d as f64, d as f64))
            }),
            pool: Box::new(move |cs: &[&Cell]| {
                let d: u32 = cs.iter().map(|c| c.den(den, i50)).sum();
                (d > 0).then(|| 100.0 * cs.iter().map(|c| c.num(key)).sum::<u32>() as f64 / d as f64)
            }),
        });
    }
    v.push(Outcome {
        name: "mean_daily_mme".into(),
        label: "Mean daily MME of LTOT patients".into(),
        value: Box::new(|c: &Cell| c.mean_daily_mme().map(|m| (m, c.ltot_patients as f64))),
        pool: Box::new(|cs: &[&Cell]| {
            let d: u32 = cs.iter().map(|c| c.ltot_patients).sum();
            (d > 0).then(|| cs.iter().map(|c| c.mme_sum).sum::<f64>() / d as f64)
        }),
    });
    v.push(Outcome {
        name: "ltot_patients".into(),
        label: "LTOT patients per clinic".into(),
        value: Box::new(|c: &Cell| Some((c.ltot_patients as f64, 1.0))),
        pool: Box::new(|cs: &[&Cell]| {
            (!cs.is_empty()).then(|| cs.iter().map(|c| c.ltot_patients as f64).sum::<f64>() / cs.len() as f64)
        }),
    });
    v
}

/// One line of `metrics/outcomes.csv`.
#[derive(Clone, Debug)]
pub struct OutcomeRow {
    pub outcome: String,
    pub model: Model,
    pub term: Term,
    /// `None` when not estimable (see `note`).
    pub coef: Option<Coef>,
    pub n_clinics: usize,
    pub n_months: usize,
    /// Degrees of freedom of the t distribution (clinics − 1), when estimated.
    pub df: Option<f64>,
    pub note: String,
}

/// Pooled values per event month with the fitted ITS segments, for charts.
#[derive(Clone, Debug)]
pub struct EventSeries {
    pub outcome: String,
    pub label: String,
    /// (event month, pooled value over intervention clinics).
    pub points: Vec<(i32, f64)>,
    /// ITS coefficients b0..b3 when estimated.
    pub fit: Option<[f64; 4]>,
}

/// Everything the outcome stage produces.
pub struct OutcomeResults {
    pub rows: Vec<OutcomeRow>,
    pub series: Vec<EventSeries>,
}

/// An outcome model (`outcomes.csv` `model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    Its,
    Did,
    DidYear2,
    DidPlacebo,
}

impl Model {
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Its => "its",
            Model::Did => "did",
            Model::DidYear2 => "did_year2",
            Model::DidPlacebo => "did_placebo",
        }
    }
}

/// A model term (`outcomes.csv` `term`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    PreLevel,
    PreSlope,
    LevelChange,
    SlopeChange,
    ComparisonChange,
    Did,
}

impl Term {
    pub fn as_str(self) -> &'static str {
        match self {
            Term::PreLevel => "pre_level",
            Term::PreSlope => "pre_slope",
            Term::LevelChange => "level_change",
            Term::SlopeChange => "slope_change",
            Term::ComparisonChange => "comparison_change",
            Term::Did => "did",
        }
    }
}

/// The ITS terms, in the order of the coefficients b0..b3.
const ITS_TERMS: [Term; 4] = [Term::PreLevel, Term::PreSlope, Term::LevelChange, Term::SlopeChange];

/// The differences in differences: (model, first month of the "after" and of
/// the "before" 12 months, relative to the start month). `did` is year 1
/// against the year before; `did_year2` the second program year against the
/// same year before; `did_placebo` the year before against the year before
/// that, where no effect can be (a check of parallel trends).
const DID_WINDOWS: [(Model, i32, i32); 3] =
    [(Model::Did, 0, -12), (Model::DidYear2, 12, -12), (Model::DidPlacebo, -12, -24)];

/// One difference in differences: per intervention clinic its change from
/// the `before` 12 months to the `after` 12 months (pooled over each window);
/// each comparison clinic's change over the same calendar windows, averaged
/// over the intervention clinics' windows; the difference of mean changes
/// from a clinic-level regression on `[1, treated]` with CR1 errors.
fn did(
    o: &Outcome,
    pm: &PrescribingMetrics,
    starts: &[(usize, Month)],
    comparison: &[usize],
    model: Model,
    after: i32,
    before: i32,
) -> Vec<OutcomeRow> {
    let w = pm.months.len();
    let window = |c: usize, s: Month, from: i32| -> Option<f64> {
        let cells: Option<Vec<&Cell>> = (from..from + 12)
            .map(|d| {
                let k = s.plus(d).minus(pm.months[0]);
                (k >= 0 && (k as usize) < w).then(|| pm.cell(c, k as usize))
            })
            .collect();
        cells.and_then(|cs| (o.pool)(&cs))
    };
    let change = |c: usize, s: Month| -> Option<f64> { Some(window(c, s, after)? - window(c, s, before)?) };
    let (mut dx, mut dy, mut dg) = (Vec::new(), Vec::new(), Vec::new());
    for &(c, s) in starts {
        if let Some(d) = change(c, s) {
            dx.push(vec![1.0, 1.0]);
            dy.push(d);
            dg.push(c);
        }
    }
    let n_int = dy.len();
    for &c in comparison {
        let ch: Vec<f64> = starts.iter().filter_map(|&(_, s)| change(c, s)).collect();
        if !ch.is_empty() {
            dx.push(vec![1.0, 0.0]);
            dy.push(ch.iter().sum::<f64>() / ch.len() as f64);
            dg.push(c);
        }
    }
    let n_cmp = dy.len() - n_int;
    let fit = if n_int < 2 || n_cmp < 2 {
        Err(format!(
            "not estimable: {n_int} intervention and {n_cmp} comparison clinics with both 12-month windows (2 each needed)"
        ))
    } else {
        wls(&dx, &dy, &vec![1.0; dy.len()], &dg, SeKind::Clustered).map_err(|e| format!("not estimable: {}", e.0))
    };
    [(Term::ComparisonChange, 0usize), (Term::Did, 1usize)]
        .into_iter()
        .map(|(term, which)| OutcomeRow {
            outcome: o.name.clone(),
            model,
            term,
            coef: fit.as_ref().ok().map(|f| f.coefs[which].clone()),
            n_clinics: n_int + n_cmp,
            n_months: 24,
            df: fit.as_ref().ok().map(|f| f.df),
            note: fit.as_ref().err().cloned().unwrap_or_default(),
        })
        .collect()
}
/// Event months used by the ITS (24 before to 23 after the start month).
const EVENT_RANGE: std::ops::RangeInclusive<i32> = -24..=23;

/// Fit every outcome model. `pm` must cover the months to analyse (the
/// batch passes every month of data up to the report month, at most 60).
pub fn compute(data: &Dataset, pm: &PrescribingMetrics, cfg: &MetricsConfig) -> OutcomeResults {
    let mut rows = Vec::new();
    let mut series = Vec::new();
    let starts: Vec<(usize, Month)> = data
        .clinics
        .iter()
        .enumerate()
        .filter(|(_, c)| c.arm == Arm::Intervention)
        .filter_map(|(i, c)| c.program_start.map(|s| (i, Month::of_day(s))))
        .collect();
    let comparison: Vec<usize> = (0..data.clinics.len()).filter(|&i| data.clinics[i].arm == Arm::Comparison).collect();
    for o in outcomes(cfg) {
        // Interrupted time series.
        let (mut x, mut y, mut wt, mut g) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut months_used = std::collections::BTreeSet::new();
        let mut by_event: std::collections::BTreeMap<i32, Vec<&Cell>> = Default::default();
        for &(c, s) in &starts {
            for (k, m) in pm.months.iter().enumerate() {
                let e = m.minus(s);
                if !EVENT_RANGE.contains(&e) {
                    continue;
                }
                let cell = pm.cell(c, k);
                by_event.entry(e).or_default().push(cell);
                if let Some((v, weight)) = (o.value)(cell) {
                    if weight > 0.0 {
                        let post = (e >= 0) as i32 as f64;
                        x.push(vec![1.0, e as f64, post, post * e as f64]);
                        y.push(v);
                        wt.push(weight);
                        g.push(c);
                        months_used.insert(e);
                    }
                }
            }
        }
        let n_clin = {
            let mut v = g.clone();
            v.sort_unstable();
            v.dedup();
            v.len()
        };
        let fit = its(&x, &y, &wt, &g);
        let mut fitted = None;
        for (j, &term) in ITS_TERMS.iter().enumerate() {
            rows.push(OutcomeRow {
                outcome: o.name.clone(),
                model: Model::Its,
                term,
                coef: fit.as_ref().ok().map(|f| f.coefs[j].clone()),
                n_clinics: n_clin,
                n_months: months_used.len(),
                df: fit.as_ref().ok().map(|f| f.df),
                note: fit.as_ref().err().cloned().unwrap_or_default(),
            });
        }
        if let Ok(f) = &fit {
            fitted = Some([f.coefs[0].estimate, f.coefs[1].estimate, f.coefs[2].estimate, f.coefs[3].estimate]);
        }
        series.push(EventSeries {
            outcome: o.name.clone(),
            label: o.label.clone(),
            points: by_event.iter().filter_map(|(e, cs)| (o.pool)(cs).map(|v| (*e, v))).collect(),
            fit: fitted,
        });

        for (model, after, before) in DID_WINDOWS {
            rows.extend(did(&o, pm, &starts, &comparison, model, after, before));
        }
    }
    OutcomeResults { rows, series }
}

/// Fit the segmented regression on rows `[1, k, post, post·k]`; needs 3
/// event months on each side of the start.
pub fn its(x: &[Vec<f64>], y: &[f64], w: &[f64], g: &[usize]) -> Result<crate::stats::Fit, String> {
    let mut months: Vec<i64> = x.iter().map(|r| r[1] as i64).collect();
    months.sort_unstable();
    months.dedup();
    let pre = months.iter().filter(|e| **e < 0).count();
    let post = months.len() - pre;
    if pre < 3 || post < 3 {
        return Err(format!("not estimable: {pre} months before and {post} from the start (3 each needed)"));
    }
    wls(x, y, w, g, SeKind::Clustered).map_err(|e| format!("not estimable: {}", e.0))
}

/// `metrics/outcomes.csv`.
pub fn outcomes_table(r: &OutcomeResults, analysis: (Month, Month)) -> Table {
    let f = |g: fn(&Coef) -> f64| {
        Col::Float(r.rows.iter().map(|x| x.coef.as_ref().map(|c| (g(c) * 1e6).round() / 1e6)).collect())
    };
    let mut t = Table::default();
    t.push("outcome", Col::Str(r.rows.iter().map(|x| x.outcome.clone()).collect()));
    t.push("model", Col::Str(r.rows.iter().map(|x| x.model.as_str().to_string()).collect()));
    t.push("term", Col::Str(r.rows.iter().map(|x| x.term.as_str().to_string()).collect()));
    t.push("estimate", f(|c| c.estimate));
    t.push("se", f(|c| c.se));
    t.push("ci_low", f(|c| c.ci_low));
    t.push("ci_high", f(|c| c.ci_high));
    t.push("p", f(|c| c.p));
    t.push("n_clinics", Col::Int(r.rows.iter().map(|x| Some(x.n_clinics as i64)).collect()));
    t.push("n_months", Col::Int(r.rows.iter().map(|x| Some(x.n_months as i64)).collect()));
    t.push("note", Col::Str(r.rows.iter().map(|x| x.note.clone()).collect()));
    t.push("df", Col::Float(r.rows.iter().map(|x| x.df).collect()));
    t.push("analysis_start", Col::Str(r.rows.iter().map(|_| analysis.0.to_string()).collect()));
    t.push("analysis_end", Col::Str(r.rows.iter().map(|_| analysis.1.to_string()).collect()));
    let inference =
        |x: &OutcomeRow| if x.coef.is_some() { "CR1 clustered by clinic; t with clinics - 1 df" } else { "" };
    t.push("inference", Col::Str(r.rows.iter().map(|x| inference(x).to_string()).collect()));
    t
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::needless_range_loop)]
mod tests {
    use super::*;

    /// Rows for clinics × event months from a function of (clinic, k).
    fn design(clinics: usize, f: impl Fn(usize, i32) -> f64) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>, Vec<usize>) {
        let (mut x, mut y, mut w, mut g) = (vec![], vec![], vec![], vec![]);
        for c in 0..clinics {
            for k in -12..12 {
                let post = (k >= 0) as i32 as f64;
                x.push(vec![1.0, k as f64, post, post * k as f64]);
                y.push(f(c, k));
                w.push(10.0 + c as f64);
                g.push(c);
            }
        }
        (x, y, w, g)
    }

    fn truth(k: i32) -> f64 {
        // level 20, slope 0.5/month before; level drops 3 at the start, slope falls by 0.4.
        let post = (k >= 0) as i32 as f64;
        20.0 + 0.5 * k as f64 - 3.0 * post - 0.4 * post * k as f64
    }

    #[test]
    fn noise_free_level_and_slope_change_are_recovered_exactly() {
        let (x, y, w, g) = design(5, |_, k| truth(k));
        let f = its(&x, &y, &w, &g).unwrap();
        let want = [20.0, 0.5, -3.0, -0.4];
        for j in 0..4 {
            assert!((f.coefs[j].estimate - want[j]).abs() < 1e-9, "{j}: {:?}", f.coefs[j]);
        }
    }

    #[test]
    fn noisy_data_puts_the_truth_inside_the_confidence_interval() {
        // Deterministic noise: clinic offsets and a fixed pseudo-random sequence.
        // splitmix64 of (clinic, month): uniform noise in (−1, 1) plus a clinic offset.
        let noise = |c: usize, k: i32| {
            let mut z = (c as u64) << 32 ^ (k + 100) as u64;
            z = z.wrapping_add(0x9e3779b97f4a7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^= z >> 31;
            ((z >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 + (c as f64 - 3.5) * 0.2
        };
        let (x, y, w, g) = design(8, |c, k| truth(k) + noise(c, k));
        let f = its(&x, &y, &w, &g).unwrap();
        let want = [20.0, 0.5, -3.0, -0.4];
        for j in 0..4 {
            let c = &f.coefs[j];
            assert!(c.ci_low <= want[j] && want[j] <= c.ci_high, "{j}: {c:?}");
            assert!(c.se > 0.0);
        }
        assert!(f.coefs[2].p < 0.05, "a 3-point drop is detected");
    }

    #[test]
    fn too_few_months_or_clinics_is_not_estimable() {
        let (x, y, w, g) = design(2, |_, k| truth(k));
        assert!(its(&x, &y, &w, &g).unwrap_err().starts_with("not estimable"));
        let (x, y, w, g): (Vec<_>, Vec<_>, Vec<_>, Vec<_>) = {
            let (x, y, w, g) = design(5, |_, k| truth(k));
            let keep: Vec<usize> = (0..x.len()).filter(|&i| x[i][1] < 2.0).collect();
            (
                keep.iter().map(|&i| x[i].clone()).collect(),
                keep.iter().map(|&i| y[i]).collect(),
                keep.iter().map(|&i| w[i]).collect(),
                keep.iter().map(|&i| g[i]).collect(),
            )
        };
        let e = its(&x, &y, &w, &g).unwrap_err();
        assert!(e.contains("2 from the start"), "{e}");
    }

    /// Two intervention clinics starting 2023-01 and two comparison clinics,
    /// 100 LTOT patients each month; the ≥ 50 share is 30% everywhere except
    /// intervention clinics in program year 1 (28%) and year 2 (25%).
    fn panel() -> (Dataset, PrescribingMetrics) {
        use crate::model::Clinic;
        let mut data = Dataset::default();
        for (id, start) in [("A", Some("2023-01-10")), ("B", Some("2023-01-20")), ("C", None), ("D", None)] {
            let mut c = Clinic::comparison(id);
            if let Some(s) = start {
                c.arm = Arm::Intervention;
                c.program_start = crate::dates::parse_date(s);
            }
            data.clinics.push(c);
        }
        let months = Month::parse("2024-12").unwrap().window(48);
        let mut cells = Vec::new();
        for c in 0..4 {
            for m in &months {
                let e = m.minus(Month::parse("2023-01").unwrap());
                let share = match (c < 2, e) {
                    (true, 0..=11) => 28,
                    (true, 12..=23) => 25,
                    _ => 30,
                };
                cells.push(Cell { ltot_patients: 100, high_dose: vec![share, 10], ..Default::default() });
            }
        }
        (data, PrescribingMetrics { months, cells, i50: 0, rows: Vec::new() })
    }

    #[test]
    fn year_1_year_2_and_placebo_differences_in_differences() {
        let (data, pm) = panel();
        let r = compute(&data, &pm, &MetricsConfig::default());
        let est = |model: Model| {
            let row = r
                .rows
                .iter()
                .find(|x| x.outcome == "high_dose_50_pct" && x.model == model && x.term == Term::Did)
                .unwrap();
            row.coef.as_ref().map(|c| c.estimate)
        };
        assert!((est(Model::Did).unwrap() - -2.0).abs() < 1e-9);
        assert!((est(Model::DidYear2).unwrap() - -5.0).abs() < 1e-9);
        assert!(est(Model::DidPlacebo).unwrap().abs() < 1e-9);
        let df = r.rows.iter().find(|x| x.model == Model::Did).unwrap().df;
        assert_eq!(df, Some(3.0), "4 clinics − 1");
    }
}
