//! Output tables of the prescribing measures: `clinic_month` (one row per
//! clinic × month) and `study_month` (per arm and month, pooled, with the
//! quartiles of clinic percentages).

use super::prescribing::{Cell, PrescribingMetrics};
use super::table::{pct, Col, Table};
use crate::config::MetricsConfig;
use crate::measures::{registry, Denominator, Direction, MeasureKey, Section};
use crate::mme::round1;
use crate::model::{Arm, Dataset};

/// A `(numerator, denominator)` measure of a cell, by its column stem: the
/// registry entry ([`crate::measures`]) with its counts bound to [`Cell`].
pub struct Measure {
    pub key: MeasureKey,
    /// Column stem: `high_dose_50`, `benzo_overlap`, ...
    pub stem: String,
    /// Label for reports.
    pub label: String,
    /// Short label for table headers.
    pub short: String,
    pub direction: Direction,
    pub section: Section,
    pub denominator: Denominator,
    pub num: Box<dyn Fn(&Cell) -> u32 + Send + Sync>,
    pub den: Box<dyn Fn(&Cell) -> u32 + Send + Sync>,
}

/// Every `_n`/`_pct` measure in SPEC column order.
pub fn all_measures(cfg: &MetricsConfig, i50: usize) -> Vec<Measure> {
    registry(&cfg.threshold_labels())
        .into_iter()
        .map(|d| {
            let (key, den) = (d.key, d.den);
            Measure {
                key,
                stem: d.stem,
                label: d.label,
                short: d.short,
                direction: d.direction,
                section: d.section,
                denominator: den,
                num: Box::new(move |c: &Cell| c.num(key)),
                den: Box::new(move |c: &Cell| c.den(den, i50)),
            }
        })
        .collect()
}

/// The section 3 measures (those before `bup_patients`).
pub fn measures(cfg: &MetricsConfig, i50: usize) -> Vec<Measure> {
    all_measures(cfg, i50).into_iter().filter(|m| m.section == Section::Core).collect()
}

/// A column group of the section 6.2 tail: a plain count or a measure.
enum Item {
    Count(&'static str, fn(&Cell) -> u32),
    Measure(MeasureKey),
}

/// The columns section 6.2 appends after `bup_patients`, in order.
fn v2_layout() -> Vec<Item> {
    use MeasureKey::*;
    vec![
        Item::Count("excluded_patients", |c| c.excluded_patients),
        Item::Measure(SedativeOverlap),
        Item::Count("at_risk_patients", |c| c.at_risk_patients),
        Item::Measure(NaloxoneAtRisk),
        Item::Count("new_starts", |c| c.new_starts),
        Item::Measure(NewStartShort),
        Item::Measure(NewStartLong),
        Item::Measure(NewStartErLa),
        Item::Measure(NewStartHighDose),
        Item::Count("new_starts_3mo_ago", |c| c.new_starts_3mo_ago),
        Item::Measure(LtotTransition),
    ]
}

/// Every column group after `mean_daily_mme`, in output order: the section 3
/// measures, `bup_patients`, then the section 6.2 tail.
fn layout(all: &[Measure]) -> Vec<Layout<'_>> {
    let mut v: Vec<Layout> = all.iter().filter(|m| m.section == Section::Core).map(Layout::Measure).collect();
    v.push(Layout::Count("bup_patients", |c| c.bup_patients));
    for it in v2_layout() {
        v.push(match it {
            Item::Count(n, f) => Layout::Count(n, f),
            Item::Measure(k) => Layout::Measure(all.iter().find(|m| m.key == k).expect("registered")),
        });
    }
    v
}

enum Layout<'a> {
    Count(&'static str, fn(&Cell) -> u32),
    Measure(&'a Measure),
}

/// Clinic ids in output order (sorted), with their index into the dataset.
pub fn clinic_order(data: &Dataset) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..data.clinics.len()).collect();
    idx.sort_by(|a, b| data.clinics[*a].id.cmp(&data.clinics[*b].id));
    idx
}

/// `metrics/clinic_month`: SPEC §4 columns in order.
pub fn clinic_month_table(data: &Dataset, pm: &PrescribingMetrics, cfg: &MetricsConfig) -> Table {
    let ms = all_measures(cfg, pm.i50);
    let order = clinic_order(data);
    let mut rows: Vec<(usize, usize)> = Vec::new();
    for &c in &order {
        for k in 0..pm.months.len() {
            rows.push((c, k));
        }
    }
    let cells: Vec<&Cell> = rows.iter().map(|&(c, k)| pm.cell(c, k)).collect();
    let int = |f: &dyn Fn(&Cell) -> u32| Col::Int(cells.iter().map(|c| Some(f(c) as i64)).collect());
    let mut t = Table::default();
    t.push("clinic_id", Col::Str(rows.iter().map(|&(c, _)| data.clinics[c].id.clone()).collect()));
    t.push("month", Col::Str(rows.iter().map(|&(_, k)| pm.months[k].to_string()).collect()));
    t.push("opioid_patients", int(&|c| c.opioid_patients));
    t.push("ltot_patients", int(&|c| c.ltot_patients));
    t.push("mean_daily_mme", Col::Float(cells.iter().map(|c| c.mean_daily_mme().map(round1)).collect()));
    for item in layout(&ms) {
        match item {
            Layout::Count(name, f) => t.push(name, int(&f)),
            Layout::Measure(m) => {
                t.push(format!("{}_n", m.stem), int(&*m.num));
                t.push(
                    format!("{}_pct", m.stem),
                    Col::Float(cells.iter().map(|c| pct((m.num)(c), (m.den)(c))).collect()),
                );
            }
        }
    }
    t
}

/// Type-7 quantile (linear interpolation between order statistics) of sorted values.
pub fn quantile7(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Unrounded clinic percentage.
pub fn raw_pct(n: u32, d: u32) -> Option<f64> {
    (d > 0).then(|| 100.0 * n as f64 / d as f64)
}

/// Quartiles (q1, median, q3) of the clinics' unrounded percentages, over
/// clinics whose denominator is not 0.
pub fn quartiles(cells: &[&Cell], m: &Measure) -> [Option<f64>; 3] {
    let mut v: Vec<f64> = cells.iter().filter_map(|c| raw_pct((m.num)(c), (m.den)(c))).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    [quantile7(&v, 0.25), quantile7(&v, 0.5), quantile7(&v, 0.75)]
}

/// `metrics/study_month`: per arm and month, pooled sums and clinic quartiles.
pub fn study_month_table(data: &Dataset, pm: &PrescribingMetrics, cfg: &MetricsConfig) -> Table {
    let ms = all_measures(cfg, pm.i50);
    let arms: Vec<Arm> =
        [Arm::Intervention, Arm::Comparison].into_iter().filter(|a| data.clinics.iter().any(|c| c.arm == *a)).collect();
    let mut keys = Vec::new();
    for &a in &arms {
        for k in 0..pm.months.len() {
            keys.push((a, k));
        }
    }
    let groups: Vec<Vec<&Cell>> = keys
        .iter()
        .map(|&(a, k)| (0..data.clinics.len()).filter(|&c| data.clinics[c].arm == a).map(|c| pm.cell(c, k)).collect())
        .collect();
    let sum = |g: &Vec<&Cell>, f: &dyn Fn(&Cell) -> u32| g.iter().map(|c| f(c)).sum::<u32>();
    let int = |f: &dyn Fn(&Cell) -> u32| Col::Int(groups.iter().map(|g| Some(sum(g, f) as i64)).collect());
    let mut t = Table::default();
    t.push("arm", Col::Str(keys.iter().map(|(a, _)| a.as_str().to_string()).collect()));
    t.push("month", Col::Str(keys.iter().map(|&(_, k)| pm.months[k].to_string()).collect()));
    t.push("clinics", Col::Int(groups.iter().map(|g| Some(g.len() as i64)).collect()));
    t.push("opioid_patients", int(&|c| c.opioid_patients));
    t.push("ltot_patients", int(&|c| c.ltot_patients));
    t.push(
        "mean_daily_mme",
        Col::Float(
            groups
                .iter()
                .map(|g| {
                    let n = sum(g, &|c| c.ltot_patients);
                    (n > 0).then(|| round1(g.iter().map(|c| c.mme_sum).sum::<f64>() / n as f64))
                })
                .collect(),
        ),
    );
    for item in layout(&ms) {
        let m = match item {
            Layout::Count(name, f) => {
                t.push(name, int(&f));
                continue;
            }
            Layout::Measure(m) => m,
        };
        t.push(format!("{}_n", m.stem), int(&*m.num));
        t.push(
            format!("{}_pct", m.stem),
            Col::Float(groups.iter().map(|g| pct(sum(g, &*m.num), sum(g, &*m.den))).collect()),
        );
        let q: Vec<[Option<f64>; 3]> = groups.iter().map(|g| quartiles(g, m)).collect();
        for (j, suffix) in ["q1", "median", "q3"].iter().enumerate() {
            t.push(format!("{}_pct_{suffix}", m.stem), Col::Float(q.iter().map(|x| x[j].map(round1)).collect()));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type7_quantiles() {
        let v = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(quantile7(&v, 0.25), Some(17.5));
        assert_eq!(quantile7(&v, 0.5), Some(25.0));
        assert_eq!(quantile7(&v, 0.75), Some(32.5));
        assert_eq!(quantile7(&[5.0], 0.25), Some(5.0));
        assert_eq!(quantile7(&[], 0.5), None);
    }
}
