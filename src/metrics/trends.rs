//! Trends, achievable benchmarks and targets (SPEC §6.3):
//! `metrics/clinic_trends.csv` and `metrics/benchmarks.csv`.
//!
//! Everything is computed from the clinic × month cells of every computed
//! month (the reporting window and the months before it), from unrounded
//! values, and rounded once on output. Percentages and their differences are
//! rounded exactly in integer arithmetic.

use super::clinic_month::{Cell, PrescribingMetrics};
use super::study::{all_measures, clinic_order, Measure};
use super::table::{pct, Col, Table};
use crate::config::Config;
use crate::dates::Month;
use crate::measures::{Direction, MEAN_DAILY_MME};
use crate::model::{Arm, Dataset};

/// `round(num / den)` to an integer, half away from zero, exactly; `den > 0`.
fn div_round(num: i128, den: i128) -> i128 {
    let q = (2 * num.abs() + den) / (2 * den);
    if num < 0 {
        -q
    } else {
        q
    }
}

/// `100 n1 ÷ d1 − 100 n2 ÷ d2` rounded to 1 decimal, exactly.
pub fn pct_diff(a: (u64, u64), b: (u64, u64)) -> Option<f64> {
    let ((n1, d1), (n2, d2)) = ((a.0 as i128, a.1 as i128), (b.0 as i128, b.1 as i128));
    (d1 > 0 && d2 > 0).then(|| div_round(1000 * (n1 * d2 - n2 * d1), d1 * d2) as f64 / 10.0)
}

/// Round half away from zero to `places` decimals (unrounded float inputs).
pub fn round_to(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    // `+ 0.0`: a value that rounds to zero prints as 0.0, never −0.0.
    (x * f).round() / f + 0.0
}

/// Wilson score interval of `x` successes in `n` at `z`.
pub fn wilson(x: u64, n: u64, z: f64) -> (f64, f64) {
    let (x, n) = (x as f64, n as f64);
    let p = x / n;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    (centre - half, centre + half)
}

/// Newcombe's hybrid score interval (method 10) for p1 − p2.
pub fn newcombe(a: (u64, u64), b: (u64, u64)) -> (f64, f64) {
    const Z: f64 = 1.959964;
    let (p1, p2) = (a.0 as f64 / a.1 as f64, b.0 as f64 / b.1 as f64);
    let (l1, u1) = wilson(a.0, a.1, Z);
    let (l2, u2) = wilson(b.0, b.1, Z);
    let d = p1 - p2;
    (d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(), d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt())
}

/// The signal of a change (SPEC §6.3 `signal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Improved,
    Worsened,
    Stable,
    TooFew,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Improved => "improved",
            Signal::Worsened => "worsened",
            Signal::Stable => "stable",
            Signal::TooFew => "too_few",
        }
    }
    /// Recent `a` against a year before `b` (counts, denominators); `min`
    /// is the smallest denominator that is read (max(min_cell, 1)).
    pub fn of(a: (u64, u64), b: (u64, u64), min: u64, dir: Direction) -> Signal {
        if a.1 < min || b.1 < min {
            return Signal::TooFew;
        }
        let (lo, hi) = newcombe(a, b);
        let up = if lo > 0.0 {
            true
        } else if hi < 0.0 {
            false
        } else {
            return Signal::Stable;
        };
        if up == (dir == Direction::Higher) {
            Signal::Improved
        } else {
            Signal::Worsened
        }
    }
}

/// OLS slope of `(x, y)` points; `None` with fewer than 6.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 6 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    Some(sxy / sxx)
}

/// One clinic's cells over every computed month.
struct Series<'a> {
    pm: &'a PrescribingMetrics,
    clinic: usize,
}

impl<'a> Series<'a> {
    /// The cell of month `m`, `None` outside the computed months.
    fn at(&self, m: Month) -> Option<&'a Cell> {
        let k = m.minus(self.pm.months[0]);
        (k >= 0 && (k as usize) < self.pm.months.len()).then(|| self.pm.cell(self.clinic, k as usize))
    }
    /// Σn, Σd of a measure over `count` months ending at `last`.
    fn pooled(&self, m: &Measure, last: Month, count: i32) -> (u64, u64) {
        (0..count)
            .filter_map(|i| self.at(last.plus(-i)))
            .fold((0, 0), |(n, d), c| (n + (m.num)(c) as u64, d + (m.den)(c) as u64))
    }
    /// Σ MME sum and Σ LTOT patients over `count` months ending at `last`.
    fn pooled_mme(&self, last: Month, count: i32) -> (f64, u64) {
        (0..count)
            .filter_map(|i| self.at(last.plus(-i)))
            .fold((0.0, 0), |(s, d), c| (s + c.mme_sum, d + c.ltot_patients as u64))
    }
}

/// The achievable benchmark of care (Kiefe et al. 2001) of one measure in
/// one month: (benchmark, clinics taken, their Σd). `cells` are the
/// clinics' (id, n, d).
pub fn benchmark(cells: &[(&str, u64, u64)], dir: Direction, min_d: u64, min_peers: usize) -> (Option<f64>, u64, u64) {
    let mut ranked: Vec<(&str, u64, u64, u64)> = cells
        .iter()
        .filter(|c| c.2 >= min_d)
        .map(|&(id, n, d)| (id, n, d, if dir == Direction::Higher { n } else { d - n }))
        .collect();
    if ranked.is_empty() || ranked.len() < min_peers {
        return (None, 0, 0);
    }
    // Best first by (good + 1) ÷ (d + 2), compared exactly; ties by larger d, then id.
    ranked.sort_by(|a, b| {
        let (x, y) = ((b.3 as u128 + 1) * (a.2 as u128 + 2), (a.3 as u128 + 1) * (b.2 as u128 + 2));
        x.cmp(&y).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0))
    });
    let total: u64 = ranked.iter().map(|c| c.2).sum();
    let (mut n, mut d, mut k) = (0u64, 0u64, 0u64);
    for c in &ranked {
        n += c.1;
        d += c.2;
        k += 1;
        if 10 * d >= total {
            break;
        }
    }
    (pct(n, d), k, d)
}

/// The benchmark of every `_pct` measure in month index `k` of `pm`.
fn month_benchmarks(
    data: &Dataset,
    pm: &PrescribingMetrics,
    ms: &[Measure],
    k: usize,
    cfg: &Config,
) -> Vec<(Option<f64>, u64, u64)> {
    let min_d = cfg.min_cell.max(1) as u64;
    ms.iter()
        .map(|m| {
            let cells: Vec<(&str, u64, u64)> = (0..data.clinics.len())
                .map(|c| {
                    let cell = pm.cell(c, k);
                    (data.clinics[c].id.as_str(), (m.num)(cell) as u64, (m.den)(cell) as u64)
                })
                .collect();
            benchmark(&cells, m.direction, min_d, cfg.min_peer_clinics as usize)
        })
        .collect()
}

/// `metrics/benchmarks.csv`: one row per month of the window and measure.
pub fn benchmarks_table(data: &Dataset, pm: &PrescribingMetrics, window: &[Month], cfg: &Config) -> Table {
    let ms = all_measures(&cfg.metrics, pm.i50);
    let (mut month, mut measure, mut bench, mut clinics, mut dsum) = (vec![], vec![], vec![], vec![], vec![]);
    for w in window {
        let k = w.minus(pm.months[0]);
        if k < 0 || k as usize >= pm.months.len() {
            continue;
        }
        for (m, (b, n, d)) in ms.iter().zip(month_benchmarks(data, pm, &ms, k as usize, cfg)) {
            month.push(w.to_string());
            measure.push(format!("{}_pct", m.stem));
            bench.push(b);
            clinics.push(Some(n as i64));
            dsum.push(Some(d as i64));
        }
    }
    let mut t = Table::default();
    t.push("month", Col::Str(month));
    t.push("measure", Col::Str(measure));
    t.push("benchmark", Col::Float(bench));
    t.push("clinics", Col::Int(clinics));
    t.push("d", Col::Int(dsum));
    t
}

/// One row of `clinic_trends.csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrendRow {
    pub clinic: usize,
    pub measure: String,
    pub direction: Option<Direction>,
    pub n: Option<u64>,
    pub d: u64,
    pub value: Option<f64>,
    pub n_3mo: Option<u64>,
    pub d_3mo: u64,
    pub value_3mo: Option<f64>,
    pub value_3mo_prior_year: Option<f64>,
    pub change_12mo: Option<f64>,
    pub signal: Option<Signal>,
    pub slope_12mo: Option<f64>,
    pub baseline: Option<f64>,
    pub change_since_baseline: Option<f64>,
    pub benchmark: Option<f64>,
    pub target: Option<f64>,
    pub meets_target: Option<bool>,
    pub meets_benchmark: Option<bool>,
}

/// The goal of `measure` for clinic `c`: the targets table's row, else the pipeline's.
pub fn target_of(data: &Dataset, cfg: &Config, c: usize, measure: &str) -> Option<f64> {
    data.targets
        .iter()
        .find(|t| t.clinic as usize == c && t.measure == measure)
        .map(|t| t.target)
        .or_else(|| cfg.targets.iter().find(|(m, _)| m == measure).map(|(_, v)| *v))
}

/// The 12 months before the month of program start (intervention clinics).
fn baseline_end(data: &Dataset, c: usize) -> Option<Month> {
    let clinic = &data.clinics[c];
    (clinic.arm == Arm::Intervention).then_some(())?;
    clinic.program_start.map(|d| Month::of_day(d).plus(-1))
}

/// The trend rows of one `_pct` measure for clinic `c` at `report`.
fn pct_row(s: &Series, m: &Measure, report: Month, cfg: &Config, base_end: Option<Month>) -> TrendRow {
    let now = s.pooled(m, report, 1);
    let recent = s.pooled(m, report, 3);
    let prior = s.pooled(m, report.plus(-12), 3);
    let points: Vec<(f64, f64)> = (0..12)
        .rev()
        .filter_map(|i| {
            let mm = report.plus(-i);
            let (n, d) = s.pooled(m, mm, 1);
            (d > 0).then(|| (mm.minus(report) as f64, 100.0 * n as f64 / d as f64))
        })
        .collect();
    let base = base_end.map(|e| s.pooled(m, e, 12)).filter(|b| b.1 > 0);
    TrendRow {
        measure: format!("{}_pct", m.stem),
        direction: Some(m.direction),
        n: Some(now.0),
        d: now.1,
        value: pct(now.0, now.1),
        n_3mo: Some(recent.0),
        d_3mo: recent.1,
        value_3mo: pct(recent.0, recent.1),
        value_3mo_prior_year: pct(prior.0, prior.1),
        change_12mo: pct_diff(recent, prior),
        signal: Some(Signal::of(recent, prior, cfg.min_cell.max(1) as u64, m.direction)),
        slope_12mo: slope(&points).map(|x| round_to(x, 2)),
        baseline: base.and_then(|b| pct(b.0, b.1)),
        change_since_baseline: base.and_then(|b| pct_diff(recent, b)),
        ..Default::default()
    }
}

/// The trend row of mean daily MME for clinic `c` at `report`.
fn mme_row(s: &Series, report: Month, base_end: Option<Month>) -> TrendRow {
    let mean = |(sum, d): (f64, u64)| (d > 0).then(|| sum / d as f64);
    let now = s.pooled_mme(report, 1);
    let recent = s.pooled_mme(report, 3);
    let prior = s.pooled_mme(report.plus(-12), 3);
    let points: Vec<(f64, f64)> = (0..12)
        .rev()
        .filter_map(|i| {
            let mm = report.plus(-i);
            mean(s.pooled_mme(mm, 1)).map(|v| (mm.minus(report) as f64, v))
        })
        .collect();
    let base = base_end.and_then(|e| mean(s.pooled_mme(e, 12)));
    let (v3, vp) = (mean(recent), mean(prior));
    TrendRow {
        measure: MEAN_DAILY_MME.to_string(),
        direction: Some(Direction::Lower),
        d: now.1,
        value: mean(now).map(|v| round_to(v, 1)),
        d_3mo: recent.1,
        value_3mo: v3.map(|v| round_to(v, 1)),
        value_3mo_prior_year: vp.map(|v| round_to(v, 1)),
        change_12mo: v3.zip(vp).map(|(a, b)| round_to(a - b, 1)),
        slope_12mo: slope(&points).map(|x| round_to(x, 2)),
        baseline: base.map(|v| round_to(v, 1)),
        change_since_baseline: v3.zip(base).map(|(a, b)| round_to(a - b, 1)),
        ..Default::default()
    }
}

/// Every clinic × measure trend row at the report month (clinics in
/// output order, measures in clinic_month column order).
pub fn clinic_trends(data: &Dataset, pm: &PrescribingMetrics, cfg: &Config) -> Vec<TrendRow> {
    let ms = all_measures(&cfg.metrics, pm.i50);
    let report = cfg.report_month;
    let k = report.minus(pm.months[0]) as usize;
    let benches = month_benchmarks(data, pm, &ms, k, cfg);
    let mut out = Vec::new();
    for c in clinic_order(data) {
        let s = Series { pm, clinic: c };
        let base_end = baseline_end(data, c);
        let mut rows = vec![mme_row(&s, report, base_end)];
        for (m, b) in ms.iter().zip(&benches) {
            let mut r = pct_row(&s, m, report, cfg, base_end);
            r.benchmark = b.0;
            rows.push(r);
        }
        for mut r in rows {
            r.clinic = c;
            r.target = target_of(data, cfg, c, &r.measure);
            let dir = r.direction.expect("every trend row has a direction");
            r.meets_target = r.value.zip(r.target).map(|(v, t)| dir.meets(round_to(v, 1), t));
            r.meets_benchmark = r.value.zip(r.benchmark).map(|(v, b)| dir.meets(round_to(v, 1), b));
            out.push(r);
        }
    }
    out
}

/// `metrics/clinic_trends.csv`.
pub fn trends_table(data: &Dataset, rows: &[TrendRow]) -> Table {
    let s = |f: &dyn Fn(&TrendRow) -> String| Col::Str(rows.iter().map(f).collect());
    let i = |f: &dyn Fn(&TrendRow) -> Option<u64>| Col::Int(rows.iter().map(|r| f(r).map(|x| x as i64)).collect());
    let x = |f: &dyn Fn(&TrendRow) -> Option<f64>| Col::Float(rows.iter().map(f).collect());
    let b = |v: Option<bool>| v.map(|b| b.to_string()).unwrap_or_default();
    let mut t = Table::default();
    t.push("clinic_id", s(&|r| data.clinics[r.clinic].id.clone()));
    t.push("measure", s(&|r| r.measure.clone()));
    t.push("direction", s(&|r| r.direction.map(|d| d.as_str().to_string()).unwrap_or_default()));
    t.push("n", i(&|r| r.n));
    t.push("d", i(&|r| Some(r.d)));
    t.push("value", x(&|r| r.value));
    t.push("n_3mo", i(&|r| r.n_3mo));
    t.push("d_3mo", i(&|r| Some(r.d_3mo)));
    t.push("value_3mo", x(&|r| r.value_3mo));
    t.push("value_3mo_prior_year", x(&|r| r.value_3mo_prior_year));
    t.push("change_12mo", x(&|r| r.change_12mo));
    t.push("signal", s(&|r| r.signal.map(|g| g.as_str().to_string()).unwrap_or_default()));
    t.push("slope_12mo", x(&|r| r.slope_12mo));
    t.push("baseline", x(&|r| r.baseline));
    t.push("change_since_baseline", x(&|r| r.change_since_baseline));
    t.push("benchmark", x(&|r| r.benchmark));
    t.push("target", x(&|r| r.target));
    t.push("meets_target", s(&|r| b(r.meets_target)));
    t.push("meets_benchmark", s(&|r| b(r.meets_benchmark)));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_percentages_and_differences_round_half_away_from_zero() {
        assert_eq!(pct(1, 8), Some(12.5));
        assert_eq!(pct(1, 16), Some(6.3)); // 6.25
        assert_eq!(pct(0, 0), None);
        // 1/16 − 1/8 = −6.25 points → −6.3 (away from zero)
        assert_eq!(pct_diff((1, 16), (1, 8)), Some(-6.3));
        assert_eq!(pct_diff((1, 8), (1, 16)), Some(6.3));
        assert_eq!(pct_diff((1, 3), (1, 3)), Some(0.0));
        assert_eq!(pct_diff((1, 3), (0, 0)), None);
        assert_eq!(round_to(-0.125, 2), -0.13);
        assert!(round_to(-0.004, 2).is_sign_positive(), "no −0.0");
    }

    #[test]
    fn wilson_and_newcombe_match_newcombes_worked_example() {
        // Newcombe (1998), example (a): 56/70 vs 48/80: interval 0.0524 to 0.3339.
        let (lo, hi) = newcombe((56, 70), (48, 80));
        assert!((lo - 0.0524).abs() < 5e-5, "{lo}");
        assert!((hi - 0.3339).abs() < 5e-5, "{hi}");
        // The other examples of Newcombe (1998), Table II, method 10.
        for (a, b, want) in [
            ((9, 10), (3, 10), (0.1705, 0.8090)),
            ((6, 7), (2, 7), (0.0582, 0.8062)),
            ((5, 56), (0, 29), (-0.0381, 0.1926)),
            ((0, 10), (0, 20), (-0.1611, 0.2775)),
            ((10, 10), (0, 20), (0.6791, 1.0000)),
        ] {
            let (lo, hi) = newcombe(a, b);
            assert!((lo - want.0).abs() < 5e-5 && (hi - want.1).abs() < 5e-5, "{a:?} vs {b:?}: {lo} to {hi}");
        }
        // Wilson for 0/10: (0, 0.2775).
        let (l, u) = wilson(0, 10, 1.959964);
        assert!(l.abs() < 1e-12 && (u - 0.2775).abs() < 5e-5, "{l} {u}");
    }

    #[test]
    fn signal_follows_direction_and_min_cell() {
        let (a, b) = ((56, 70), (48, 80));
        assert_eq!(Signal::of(a, b, 11, Direction::Higher), Signal::Improved);
        assert_eq!(Signal::of(a, b, 11, Direction::Lower), Signal::Worsened);
        assert_eq!(Signal::of(b, a, 11, Direction::Lower), Signal::Improved);
        assert_eq!(Signal::of((5, 10), (5, 10), 1, Direction::Higher), Signal::Stable);
        assert_eq!(Signal::of((5, 10), (50, 100), 11, Direction::Higher), Signal::TooFew);
        assert_eq!(Signal::of((5, 11), (50, 100), 11, Direction::Higher), Signal::Stable);
    }

    #[test]
    fn slope_needs_six_months() {
        let pts: Vec<(f64, f64)> = (0..6).map(|i| (i as f64, 10.0 + 2.0 * i as f64)).collect();
        assert_eq!(slope(&pts), Some(2.0));
        assert_eq!(slope(&pts[..5]), None);
        // A missing month is left out, not closed up: x keeps the calendar month.
        let gap = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (5.0, 5.0), (6.0, 6.0)];
        assert_eq!(slope(&gap), Some(1.0));
    }

    #[test]
    fn benchmark_takes_the_best_clinics_up_to_a_tenth_of_patients() {
        // APF: A 10/10 → 11/12 = .917; B 45/50 → 46/52 = .885; C 30/100; D 20/100; E 10/40.
        let cells = [("A", 10, 10), ("B", 45, 50), ("C", 30, 100), ("D", 20, 100), ("E", 10, 40)];
        // Σd = 300; 10% = 30: A (10) then B (60 ≥ 30): 55/60 = 91.7.
        assert_eq!(benchmark(&cells, Direction::Higher, 1, 5), (Some(91.7), 2, 60));
        assert_eq!(benchmark(&cells, Direction::Higher, 1, 6), (None, 0, 0));
        // Below min_cell a clinic is not ranked: A (d 10) drops out at 11; Σd 290, 29: B alone (50).
        assert_eq!(benchmark(&cells, Direction::Higher, 11, 4), (Some(90.0), 1, 50));
        // Lower is better: rank on d − n: D (80/100 → 81/102 = .794) first, then C (.696):
        // D alone has 100 ≥ 29: benchmark 20/100 = 20.0.
        assert_eq!(benchmark(&cells, Direction::Lower, 11, 4), (Some(20.0), 1, 100));
    }

    #[test]
    fn benchmark_ties_go_to_the_larger_clinic_then_the_id() {
        // Equal APF 1/2: B (d 8) before A (d 8)? ids break the tie; C has 4/8 too but larger d 18 → 10/20.
        let cells = [("B", 3, 8), ("A", 3, 8), ("C", 9, 18)];
        // APF: B 4/10, A 4/10, C 10/20 = .5 → C first: d 18 ≥ 3.4: 9/18 = 50.0.
        assert_eq!(benchmark(&cells, Direction::Higher, 1, 1), (Some(50.0), 1, 18));
        let tie = [("B", 4, 8), ("A", 4, 8)];
        assert_eq!(benchmark(&tie, Direction::Higher, 1, 1), (Some(50.0), 1, 8));
    }
}
