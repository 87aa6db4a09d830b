//! Program fidelity (SPEC §3, issue 4): milestones by building block,
//! facilitation effort, program phase, a study-wide summary and the flags
//! for the monthly facilitator meeting.

use super::clinic_month::{pct_expr, round1_columns};
use super::study::clinic_order;
use super::table::{frame, text};
use crate::dates::{fmt_day, window_start, Day, Month};
use crate::error::{Error, Result};
use crate::model::{Activity, Arm, Block, Clinic, Dataset, Facilitation, Milestone};
use polars::prelude::*;

/// Program phase of a clinic in a month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Baseline,
    PrepareLaunch,
    DesignImplement,
    Sustain,
    Comparison,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Baseline => "baseline",
            Phase::PrepareLaunch => "prepare_launch",
            Phase::DesignImplement => "design_implement",
            Phase::Sustain => "sustain",
            Phase::Comparison => "comparison",
        }
    }
    /// A label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Baseline => "Baseline (before the program)",
            Phase::PrepareLaunch => "Prepare and launch",
            Phase::DesignImplement => "Design and implement",
            Phase::Sustain => "Monitor and sustain",
            Phase::Comparison => "Comparison clinic",
        }
    }
}

/// Month of the program (1 = the month of program_start), `None` for
/// comparison clinics; 0 or negative before the start.
pub fn program_month(c: &Clinic, m: Month) -> Option<i32> {
    c.program_start.map(|s| m.minus(Month::of_day(s)) + 1)
}

/// Phase from program_start: baseline before, months 1–3 prepare and
/// launch, 4–14 design and implement, 15 and after sustain.
pub fn phase(c: &Clinic, m: Month) -> Phase {
    match program_month(c, m) {
        None => Phase::Comparison,
        Some(k) if k < 1 => Phase::Baseline,
        Some(k) if k <= 3 => Phase::PrepareLaunch,
        Some(k) if k <= 14 => Phase::DesignImplement,
        Some(_) => Phase::Sustain,
    }
}

/// Milestone counts at the end of a month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MilestoneCounts {
    pub total: u32,
    pub due: u32,
    pub done: u32,
    pub done_on_time: u32,
    pub overdue: u32,
    /// Due and done.
    pub due_done: u32,
}

impl MilestoneCounts {
    /// Count milestones as of day `end` (the last day of a month).
    pub fn at<'a>(ms: impl Iterator<Item = &'a Milestone>, end: Day) -> Self {
        let mut c = MilestoneCounts::default();
        for m in ms {
            c.total += 1;
            let due = m.due <= end;
            let done = m.completed.is_some_and(|d| d <= end);
            c.due += due as u32;
            c.done += done as u32;
            c.done_on_time += (done && m.completed.unwrap() <= m.due) as u32;
            c.overdue += (due && !done) as u32;
            c.due_done += (due && done) as u32;
        }
        c
    }
}

/// Facilitation effort of a clinic in a month.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effort {
    pub hours: f64,
    pub hours_cum: f64,
    pub contacts: u32,
    pub by_activity: [f64; 6],
}

/// Milestones and facilitation rows grouped by clinic index.
pub struct ByClinic<'a> {
    pub milestones: Vec<Vec<&'a Milestone>>,
    pub facilitation: Vec<Vec<&'a Facilitation>>,
}

impl<'a> ByClinic<'a> {
    pub fn new(data: &'a Dataset) -> Self {
        let n = data.clinics.len();
        let mut milestones = vec![Vec::new(); n];
        for m in &data.milestones {
            milestones[m.clinic as usize].push(m);
        }
        let mut facilitation = vec![Vec::new(); n];
        for f in &data.facilitation {
            facilitation[f.clinic as usize].push(f);
        }
        ByClinic { milestones, facilitation }
    }
    /// Milestone counts of clinic `c` (optionally one block) at day `end`.
    pub fn counts(&self, c: u32, block: Option<Block>, end: Day) -> MilestoneCounts {
        MilestoneCounts::at(
            self.milestones[c as usize].iter().copied().filter(|m| block.is_none_or(|b| m.block == b)),
            end,
        )
    }
}

fn fail(what: &str) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Report { what: what.into(), message: e.to_string() }
}

/// The months of a table: `month` (index), `first` and `last` (days), and
/// the constant `k` the cross joins below join on.
fn months_frame(months: &[Month]) -> PolarsResult<DataFrame> {
    df!(
        "month" => (0..months.len() as u32).collect::<Vec<u32>>(),
        "first" => months.iter().map(|m| m.first_day()).collect::<Vec<i32>>(),
        "last" => months.iter().map(|m| m.last_day()).collect::<Vec<i32>>(),
        "k" => vec![0u32; months.len()],
    )
}

/// A cross join (on the constant `k` both sides carry), rows in left then
/// right order.
fn cross(left: LazyFrame, right: LazyFrame) -> LazyFrame {
    let args = JoinArgs { maintain_order: MaintainOrderJoin::LeftRight, ..JoinArgs::new(JoinType::Inner) };
    left.join(right, [col("k")], [col("k")], args)
}

/// A left join that keeps the left rows' order.
fn left_join(left: LazyFrame, right: LazyFrame, on: &[&str]) -> LazyFrame {
    let args = JoinArgs { maintain_order: MaintainOrderJoin::Left, ..JoinArgs::new(JoinType::Left) };
    let by: Vec<Expr> = on.iter().map(|c| col(*c)).collect();
    left.join(right, by.clone(), by, args)
}

/// Every clinic (in clinic_id order) × month, with the clinic's id, arm and
/// program month (null for comparison clinics).
fn clinic_months(data: &Dataset, months: &[Month]) -> PolarsResult<DataFrame> {
    let order = clinic_order(data);
    let rows: Vec<(usize, usize)> = order.iter().flat_map(|&c| (0..months.len()).map(move |k| (c, k))).collect();
    let program = |&(c, k): &(usize, usize)| program_month(&data.clinics[c], months[k]).map(i64::from);
    df!(
        "clinic" => rows.iter().map(|r| r.0 as u32).collect::<Vec<u32>>(),
        "clinic_id" => rows.iter().map(|r| data.clinics[r.0].id.as_str()).collect::<Vec<&str>>(),
        "arm" => rows.iter().map(|r| data.clinics[r.0].arm.as_str()).collect::<Vec<&str>>(),
        "month" => rows.iter().map(|r| r.1 as u32).collect::<Vec<u32>>(),
        "program_month" => rows.iter().map(program).collect::<Vec<Option<i64>>>(),
    )
}

/// Each milestone at the end of each month: `clinic`, `block`, `month` and
/// whether it is due, done and done on time by then.
fn milestone_months(data: &Dataset, months: &[Month]) -> PolarsResult<LazyFrame> {
    let ms = &data.milestones;
    let rows = df!(
        "clinic" => ms.iter().map(|m| m.clinic).collect::<Vec<u32>>(),
        "block" => ms.iter().map(|m| m.block.number() as i64).collect::<Vec<i64>>(),
        "due" => ms.iter().map(|m| m.due).collect::<Vec<i32>>(),
        "completed" => ms.iter().map(|m| m.completed).collect::<Vec<Option<i32>>>(),
        "k" => vec![0u32; ms.len()],
    )?;
    let done = col("completed").lt_eq(col("last")).fill_null(lit(false));
    Ok(cross(rows.lazy(), months_frame(months)?.lazy()).select([
        col("clinic"),
        col("block"),
        col("month"),
        col("due").lt_eq(col("last")).alias("is_due"),
        done.clone().alias("done"),
        done.and(col("completed").lt_eq(col("due"))).alias("on_time"),
    ]))
}

/// The milestone count columns, in output order (`due_done`, the due and
/// done, is not written).
const MILESTONE_COUNTS: [&str; 6] = [
    "milestones_total",
    "milestones_due",
    "milestones_done",
    "milestones_done_on_time",
    "milestones_overdue",
    "due_done",
];

/// The milestone counts of a group of [`milestone_months`] rows.
fn milestone_counts() -> Vec<Expr> {
    let n = |e: Expr, name: &str| e.cast(DataType::Int64).sum().alias(name);
    vec![
        len().cast(DataType::Int64).alias(MILESTONE_COUNTS[0]),
        n(col("is_due"), MILESTONE_COUNTS[1]),
        n(col("done"), MILESTONE_COUNTS[2]),
        n(col("on_time"), MILESTONE_COUNTS[3]),
        n(col("is_due").and(col("done").not()), MILESTONE_COUNTS[4]),
        n(col("is_due").and(col("done")), MILESTONE_COUNTS[5]),
    ]
}

/// Each facilitation row against each month by whose end it is dated:
/// `clinic`, `month`, `hours`, `activity` (index into [`Activity::ALL`])
/// and whether it falls in the month (`in_month`).
fn facilitation_months(data: &Dataset, months: &[Month]) -> PolarsResult<LazyFrame> {
    let fs = &data.facilitation;
    let activity = |f: &Facilitation| Activity::ALL.iter().position(|a| *a == f.activity).unwrap() as u32;
    let rows = df!(
        "clinic" => fs.iter().map(|f| f.clinic).collect::<Vec<u32>>(),
        "date" => fs.iter().map(|f| f.date).collect::<Vec<i32>>(),
        "hours" => fs.iter().map(|f| f.hours).collect::<Vec<f64>>(),
        "activity" => fs.iter().map(activity).collect::<Vec<u32>>(),
        "k" => vec![0u32; fs.len()],
    )?;
    Ok(cross(rows.lazy(), months_frame(months)?.lazy())
        .filter(col("date").lt_eq(col("last")))
        .with_column(col("date").gt_eq(col("first")).alias("in_month")))
}

/// The hours columns of fidelity_clinic_month, after `facilitation_contacts`.
fn activity_columns() -> Vec<String> {
    Activity::ALL.iter().map(|a| format!("hours_{}", a.as_str())).collect()
}

/// Facilitation effort per clinic and month: hours in the month, up to its
/// end, by activity, and contacts.
fn effort_sums(data: &Dataset, months: &[Month]) -> PolarsResult<LazyFrame> {
    let hours_in = |w: Expr| col("hours").filter(col("in_month").and(w)).sum();
    let mut effort = vec![
        hours_in(lit(true)).alias("facilitation_hours"),
        col("hours").sum().alias("facilitation_hours_cum"),
        col("in_month").cast(DataType::Int64).sum().alias("facilitation_contacts"),
    ];
    for (k, name) in activity_columns().iter().enumerate() {
        effort.push(hours_in(col("activity").eq(lit(k as u32))).alias(name.as_str()));
    }
    Ok(facilitation_months(data, months)?.group_by([col("clinic"), col("month")]).agg(effort))
}

/// `metrics/fidelity_clinic_month` as a lazy query: per clinic and month,
/// the phase, milestone counts and exact shares, and facilitation hours
/// (in the month, cumulative, by activity) and contacts; unrounded, with the
/// `clinic` and `month` indices and `due_done` kept for [`Fidelity`].
fn clinic_month_frame(data: &Dataset, months: &[Month]) -> PolarsResult<DataFrame> {
    let ms = milestone_months(data, months)?.group_by([col("clinic"), col("month")]).agg(milestone_counts());
    let pct = |n: &str, d: &str| pct_expr(col(n), col(d)).alias(format!("{n}_pct"));
    let mut sel = vec![col("clinic"), col("clinic_id"), col("arm"), col("month"), phase_expr(), col("program_month")];
    sel.extend(MILESTONE_COUNTS.iter().map(|c| col(*c)));
    sel.extend(MILESTONE_COUNTS[1..5].iter().map(|c| pct(c, MILESTONE_COUNTS[0])));
    sel.push(pct_expr(col("due_done"), col("milestones_due")).alias("milestones_done_of_due_pct"));
    sel.extend(["facilitation_hours", "facilitation_hours_cum", "facilitation_contacts"].map(col));
    sel.extend(activity_columns().iter().map(|c| col(c.as_str())));
    let grid = clinic_months(data, months)?.lazy();
    let joined = left_join(left_join(grid, ms, &["clinic", "month"]), effort_sums(data, months)?, &["clinic", "month"]);
    joined.with_columns(zeros()).select(sel).collect()
}

/// The output file of a fidelity frame: without the index columns, `arm`
/// and `due_done`, rounded, months as text.
fn output(frame: &DataFrame, months: &[Month]) -> PolarsResult<DataFrame> {
    let mut df = frame.drop_many(["clinic", "arm", "due_done"]);
    round_output(&mut df)?;
    name_months(&mut df, months)?;
    Ok(df)
}

/// `metrics/fidelity_clinic_month` ([`clinic_month_frame`] for output).
pub fn clinic_month(data: &Dataset, months: &[Month]) -> Result<DataFrame> {
    clinic_month_frame(data, months).and_then(|f| output(&f, months)).map_err(fail("fidelity_clinic_month"))
}

/// The output file of a frame of [`Fidelity`] (`clinic_month` or `block`).
pub fn output_of(frame: &DataFrame, months: &[Month]) -> Result<DataFrame> {
    output(frame, months).map_err(fail("fidelity"))
}

/// Zero for the counts and hours of a clinic without milestones or facilitation.
fn zeros() -> Vec<Expr> {
    let mut v: Vec<Expr> = MILESTONE_COUNTS.iter().map(|c| col(*c).fill_null(lit(0i64))).collect();
    v.push(col("facilitation_contacts").fill_null(lit(0i64)));
    v.extend(["facilitation_hours", "facilitation_hours_cum"].map(|c| col(c).fill_null(lit(0.0))));
    v.extend(activity_columns().iter().map(|c| col(c.as_str()).fill_null(lit(0.0))));
    v
}

/// The program phase of `program_month` ([`phase`]).
fn phase_expr() -> Expr {
    let pm = col("program_month");
    when(pm.clone().is_null())
        .then(lit(Phase::Comparison.as_str()))
        .when(pm.clone().lt(lit(1i64)))
        .then(lit(Phase::Baseline.as_str()))
        .when(pm.clone().lt_eq(lit(3i64)))
        .then(lit(Phase::PrepareLaunch.as_str()))
        .when(pm.lt_eq(lit(14i64)))
        .then(lit(Phase::DesignImplement.as_str()))
        .otherwise(lit(Phase::Sustain.as_str()))
        .alias("phase")
}

/// Round the output, half away from zero: hours to 2 decimals, every other
/// float (shares, medians) to 1.
fn round_output(df: &mut DataFrame) -> PolarsResult<()> {
    let hours_cols: Vec<String> =
        df.get_column_names().into_iter().filter(|n| n.contains("hours")).map(|n| n.to_string()).collect();
    for n in &hours_cols {
        let v: Vec<Option<f64>> = df.column(n)?.f64()?.iter().map(|x| x.and_then(hours)).collect();
        df.with_column(Column::new(n.as_str().into(), v))?;
    }
    let keep: Vec<&str> = hours_cols.iter().map(String::as_str).collect();
    round1_columns(df, &keep)
}

/// Replace the `month` index by its text.
fn name_months(df: &mut DataFrame, months: &[Month]) -> PolarsResult<()> {
    let text: Vec<String> =
        df.column("month")?.u32()?.into_no_null_iter().map(|k| months[k as usize].to_string()).collect();
    df.replace("month", Column::new("month".into(), text))?;
    Ok(())
}

/// Round hours to 2 decimals for output.
fn hours(x: f64) -> Option<f64> {
    Some((x * 100.0).round() / 100.0)
}

/// `metrics/fidelity_block` as a lazy query: milestone counts per clinic,
/// month and block 1–6 (with the `clinic` index and `due_done`).
fn block_frame(data: &Dataset, months: &[Month]) -> PolarsResult<DataFrame> {
    let blocks = df!("block" => Block::ALL.map(|b| b.number() as i64), "k" => [0u32; 6])?;
    let grid = cross(clinic_months(data, months)?.lazy().with_column(lit(0u32).alias("k")), blocks.lazy());
    let by = [col("clinic"), col("month"), col("block")];
    let counts = milestone_months(data, months)?.group_by(by).agg(milestone_counts());
    let mut sel = vec![col("clinic"), col("clinic_id"), col("arm"), col("month"), col("block")];
    sel.extend(MILESTONE_COUNTS.iter().map(|c| col(*c).fill_null(lit(0i64))));
    left_join(grid, counts, &["clinic", "month", "block"]).select(sel).collect()
}

/// `metrics/fidelity_block` ([`block_frame`] for output).
pub fn block(data: &Dataset, months: &[Month]) -> Result<DataFrame> {
    block_frame(data, months).and_then(|f| output(&f, months)).map_err(fail("fidelity_block"))
}

/// The fidelity frames read per clinic and month of the window, for the
/// reports: milestone counts (all and per block) and facilitation effort.
pub struct Fidelity {
    months: usize,
    /// `[clinic * months + k]`.
    counts: Vec<MilestoneCounts>,
    /// `[(clinic * months + k) * 6 + block − 1]`.
    blocks: Vec<MilestoneCounts>,
    /// `[clinic * months + k]`.
    effort: Vec<Effort>,
    /// Per clinic: hours by activity over the window, and their total.
    window_hours: Vec<([f64; 6], f64)>,
    /// The files' frames.
    pub clinic_month: DataFrame,
    pub block: DataFrame,
}

impl Fidelity {
    /// Run the clinic-month and block queries over `months` and read them.
    pub fn compute(data: &Dataset, months: &[Month]) -> Result<Fidelity> {
        let go = || -> PolarsResult<Fidelity> {
            let (cm, bl) = (clinic_month_frame(data, months)?, block_frame(data, months)?);
            let w = months.len();
            let n = data.clinics.len() * w;
            let mut f = Fidelity {
                months: w,
                counts: vec![MilestoneCounts::default(); n],
                blocks: vec![MilestoneCounts::default(); n * 6],
                effort: vec![Effort::default(); n],
                window_hours: window_hours(&cm, data.clinics.len())?,
                clinic_month: DataFrame::empty(),
                block: DataFrame::empty(),
            };
            for (i, k) in read_counts(&cm, w)? {
                f.counts[i] = k;
            }
            let block_no: Vec<i64> = bl.column("block")?.i64()?.into_no_null_iter().collect();
            for (r, (i, k)) in read_counts(&bl, w)?.into_iter().enumerate() {
                f.blocks[i * 6 + block_no[r] as usize - 1] = k;
            }
            read_effort(&cm, &mut f.effort, w)?;
            (f.clinic_month, f.block) = (cm, bl);
            Ok(f)
        };
        go().map_err(fail("fidelity"))
    }
    /// Clinic `c`'s milestone counts at the end of month `k`.
    pub fn counts(&self, c: usize, k: usize) -> MilestoneCounts {
        self.counts[c * self.months + k]
    }
    /// The same for block `b` (1–6).
    pub fn block(&self, c: usize, k: usize, b: Block) -> MilestoneCounts {
        self.blocks[(c * self.months + k) * 6 + b.number() as usize - 1]
    }
    /// Clinic `c`'s facilitation effort in month `k`.
    pub fn effort(&self, c: usize, k: usize) -> &Effort {
        &self.effort[c * self.months + k]
    }
    /// Clinic `c`'s facilitation effort in each month of the window.
    pub fn efforts(&self, c: usize) -> &[Effort] {
        &self.effort[c * self.months..(c + 1) * self.months]
    }
    /// Clinic `c`'s facilitation hours over the window by activity, and their total.
    pub fn window_hours(&self, c: usize) -> ([f64; 6], f64) {
        self.window_hours[c]
    }
    /// Facilitation hours of clinic `c` in the `n` months ending at month `k`.
    pub fn hours(&self, c: usize, k: usize, n: usize) -> f64 {
        self.efforts(c)[(k + 1).saturating_sub(n)..=k].iter().map(|e| e.hours).sum::<f64>() + 0.0
    }
}

/// Hours by activity over the window per clinic, and their total, as a
/// group-by over the clinic-month frame (sums in month order).
fn window_hours(cm: &DataFrame, n_clinics: usize) -> PolarsResult<Vec<([f64; 6], f64)>> {
    let acts = activity_columns();
    let aggs: Vec<Expr> =
        acts.iter().map(|a| super::clinic_month::seq_sum(col(a.as_str())).alias(a.as_str())).collect();
    let total = acts.iter().skip(1).fold(col(acts[0].as_str()), |t, a| t + col(a.as_str()));
    let df = cm.clone().lazy().group_by([col("clinic")]).agg(aggs).with_column(total.alias("total")).collect()?;
    let mut out = vec![([0.0; 6], 0.0); n_clinics];
    let c = df.column("clinic")?.u32()?;
    let cols: Vec<Float64Chunked> =
        acts.iter().map(|a| df.column(a).and_then(|x| x.f64().cloned())).collect::<PolarsResult<_>>()?;
    let total = df.column("total")?.f64()?;
    for i in 0..df.height() {
        let Some(ci) = c.get(i) else { continue };
        let mut h = [0.0; 6];
        for (k, col) in cols.iter().enumerate() {
            h[k] = col.get(i).unwrap_or(0.0);
        }
        out[ci as usize] = (h, total.get(i).unwrap_or(0.0) + 0.0);
    }
    Ok(out)
}

/// The flags of each clinic by kind (`FlagKind::ALL` order), clinics with a
/// flag only, as a polars group-by over the flags.
pub fn flag_counts(flags: &[Flag]) -> Result<Vec<(u32, [usize; 3])>> {
    let go = || -> PolarsResult<Vec<(u32, [usize; 3])>> {
        let kind = |f: &Flag| FlagKind::ALL.iter().position(|k| *k == f.flag).unwrap() as u32;
        let df = df!(
            "clinic" => flags.iter().map(|f| f.clinic).collect::<Vec<u32>>(),
            "kind" => flags.iter().map(kind).collect::<Vec<u32>>(),
        )?
        .lazy()
        .group_by([col("clinic"), col("kind")])
        .agg([len().alias("n")])
        .sort(["clinic"], Default::default())
        .collect()?;
        let mut out: Vec<(u32, [usize; 3])> = Vec::new();
        let (c, k, n) = (df.column("clinic")?.u32()?, df.column("kind")?.u32()?, df.column("n")?.u32()?);
        for i in 0..df.height() {
            let (Some(c), Some(k), Some(n)) = (c.get(i), k.get(i), n.get(i)) else { continue };
            if out.last().is_none_or(|l| l.0 != c) {
                out.push((c, [0; 3]));
            }
            out.last_mut().expect("pushed").1[k as usize] = n as usize;
        }
        Ok(out)
    };
    go().map_err(fail("fidelity flags"))
}

/// The milestone counts of each row of a fidelity frame, with the row's
/// `clinic * months + month` position.
fn read_counts(df: &DataFrame, w: usize) -> PolarsResult<Vec<(usize, MilestoneCounts)>> {
    let c = df.column("clinic")?.u32()?;
    let m = df.column("month")?.u32()?;
    let cols: Vec<Vec<u32>> = MILESTONE_COUNTS
        .iter()
        .map(|n| Ok(df.column(n)?.i64()?.into_no_null_iter().map(|v| v as u32).collect()))
        .collect::<PolarsResult<_>>()?;
    Ok((0..df.height())
        .map(|i| {
            let at = c.get(i).unwrap_or(0) as usize * w + m.get(i).unwrap_or(0) as usize;
            let k = MilestoneCounts {
                total: cols[0][i],
                due: cols[1][i],
                done: cols[2][i],
                done_on_time: cols[3][i],
                overdue: cols[4][i],
                due_done: cols[5][i],
            };
            (at, k)
        })
        .collect())
}

/// The facilitation effort of each row of the clinic-month frame.
fn read_effort(df: &DataFrame, out: &mut [Effort], w: usize) -> PolarsResult<()> {
    let f = |n: &str| -> PolarsResult<Vec<f64>> { Ok(df.column(n)?.f64()?.into_no_null_iter().collect()) };
    let (hours, cum) = (f("facilitation_hours")?, f("facilitation_hours_cum")?);
    let contacts: Vec<i64> = df.column("facilitation_contacts")?.i64()?.into_no_null_iter().collect();
    let acts: Vec<Vec<f64>> = activity_columns().iter().map(|n| f(n)).collect::<PolarsResult<_>>()?;
    let c = df.column("clinic")?.u32()?;
    let m = df.column("month")?.u32()?;
    for i in 0..df.height() {
        let at = c.get(i).unwrap_or(0) as usize * w + m.get(i).unwrap_or(0) as usize;
        let mut by_activity = [0.0; 6];
        for (a, v) in by_activity.iter_mut().zip(&acts) {
            *a = v[i];
        }
        out[at] = Effort { hours: hours[i], hours_cum: cum[i], contacts: contacts[i] as u32, by_activity };
    }
    Ok(())
}

/// Per intervention clinic and month, from the clinic-month and block
/// frames of [`Fidelity`]: the milestone counts and how many blocks are
/// complete (a block with milestones, every one done).
fn intervention_milestones(fid: &Fidelity) -> LazyFrame {
    let intervention = || col("arm").eq(lit(Arm::Intervention.as_str()));
    let complete = col(MILESTONE_COUNTS[0]).gt(lit(0i64)).and(col("milestones_done").eq(col(MILESTONE_COUNTS[0])));
    let blocks =
        fid.block.clone().lazy().filter(intervention().and(complete)).group_by([col("clinic"), col("month")]).agg(
            Block::ALL.map(|b| {
                col("block").eq(lit(b.number() as i64)).cast(DataType::Int64).sum().alias(format!("block_{b}"))
            }),
        );
    left_join(fid.clinic_month.clone().lazy().filter(intervention()), blocks, &["clinic", "month"])
}

/// `metrics/fidelity_study_month` as a lazy query: intervention clinics per
/// month, those with each block complete, the type-7 median % of
/// milestones done over clinics with milestones, and the month's
/// facilitation hours (every clinic's).
pub fn study_month(fid: &Fidelity, data: &Dataset, months: &[Month]) -> Result<DataFrame> {
    let go = || -> PolarsResult<DataFrame> {
        let total = col(MILESTONE_COUNTS[0]);
        let done_pct = when(total.clone().gt(lit(0i64)))
            .then(lit(100.0) * col("milestones_done").cast(DataType::Float64) / total.cast(DataType::Float64))
            .otherwise(lit(NULL).cast(DataType::Float64));
        let mut aggs = vec![len().cast(DataType::Int64).alias("clinics")];
        for b in Block::ALL {
            aggs.push(
                col(format!("block_{b}")).fill_null(lit(0i64)).sum().alias(format!("clinics_block_{b}_complete")),
            );
        }
        aggs.push(done_pct.quantile(lit(0.5), QuantileMethod::Linear).alias("milestones_done_pct_median"));
        let per_month = intervention_milestones(fid).group_by([col("month")]).agg(aggs);
        let hours =
            facilitation_months(data, months)?
                .filter(col("in_month"))
                .group_by([col("month")])
                .agg([col("hours").sum().alias("facilitation_hours")]);
        let month_rows = df!("month" => (0..months.len() as u32).collect::<Vec<u32>>())?.lazy();
        let mut fill: Vec<Expr> =
            vec![col("clinics").fill_null(lit(0i64)), col("facilitation_hours").fill_null(lit(0.0))];
        fill.extend(Block::ALL.map(|b| col(format!("clinics_block_{b}_complete")).fill_null(lit(0i64))));
        let joined = left_join(left_join(month_rows, per_month, &["month"]), hours, &["month"]);
        let mut df = joined.with_columns(fill).collect()?;
        round_output(&mut df)?;
        name_months(&mut df, months)?;
        Ok(df)
    };
    go().map_err(fail("fidelity_study_month"))
}

/// The kinds of flag for the facilitator meeting (one string form each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FlagKind {
    /// A milestone not done and due more than 60 days before the end of the month.
    MilestoneOverdue60d,
    /// A started intervention clinic without a facilitation row in the last 60 days.
    NoContact60d,
    /// Program month > 15 and a block not complete.
    IncompleteBlockAfterMonth15,
}

impl FlagKind {
    pub const ALL: [FlagKind; 3] =
        [FlagKind::MilestoneOverdue60d, FlagKind::NoContact60d, FlagKind::IncompleteBlockAfterMonth15];
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::MilestoneOverdue60d => "milestone_overdue_60d",
            FlagKind::NoContact60d => "no_contact_60d",
            FlagKind::IncompleteBlockAfterMonth15 => "incomplete_block_after_month_15",
        }
    }
}

/// A started intervention clinic (program_start by `end`) without a
/// facilitation row in the 60 days ending at `end`.
pub fn no_contact_60d(clinic: &Clinic, rows: &[&Facilitation], end: Day) -> bool {
    let started = clinic.arm == Arm::Intervention && clinic.program_start.is_some_and(|s| s <= end);
    let from = window_start(end, 60);
    started && !rows.iter().any(|f| f.date >= from && f.date <= end)
}

/// One flag for the facilitator meeting.
#[derive(Clone, Debug, PartialEq)]
pub struct Flag {
    pub clinic: u32,
    pub flag: FlagKind,
    pub detail: String,
}

/// Flags at the end of the report month: milestones overdue by more than 60
/// days, started intervention clinics with no facilitation contact in the
/// last 60 days, clinics past program month 15 with an incomplete block.
pub fn flags(data: &Dataset, report: Month) -> Vec<Flag> {
    let end = report.last_day();
    let by = ByClinic::new(data);
    let mut out = Vec::new();
    for c in clinic_order(data) {
        let clinic = &data.clinics[c];
        let ci = c as u32;
        let mut ms: Vec<&Milestone> = by.milestones[c].clone();
        ms.sort_by_key(|m| (m.due, m.block));
        for m in &ms {
            let done = m.completed.is_some_and(|d| d <= end);
            if !done && end - m.due > 60 {
                out.push(Flag {
                    clinic: ci,
                    flag: FlagKind::MilestoneOverdue60d,
                    detail: format!(
                        "block {} '{}' due {}, {} days overdue",
                        m.block,
                        m.name,
                        fmt_day(m.due),
                        end - m.due
                    ),
                });
            }
        }
        if no_contact_60d(clinic, &by.facilitation[c], end) {
            let last = by.facilitation[c].iter().filter(|f| f.date <= end).map(|f| f.date).max();
            out.push(Flag {
                clinic: ci,
                flag: FlagKind::NoContact60d,
                detail: match last {
                    Some(d) => format!(
                        "last facilitation contact {}, {} days before the end of {}",
                        fmt_day(d),
                        end - d,
                        report
                    ),
                    None => "no facilitation contact recorded".into(),
                },
            });
        }
        if program_month(clinic, report).is_some_and(|k| k > 15) {
            for b in Block::ALL {
                let k = MilestoneCounts::at(ms.iter().copied().filter(|m| m.block == b), end);
                if k.done < k.total {
                    out.push(Flag {
                        clinic: ci,
                        flag: FlagKind::IncompleteBlockAfterMonth15,
                        detail: format!(
                            "program month {}: block {b} has {} of {} milestones done",
                            program_month(clinic, report).unwrap(),
                            k.done,
                            k.total
                        ),
                    });
                }
            }
        }
    }
    out
}

/// `metrics/fidelity_flags`.
pub fn flags_table(data: &Dataset, flags: &[Flag]) -> Result<DataFrame> {
    let cols = vec![
        text("clinic_id", flags.iter().map(|f| data.clinics[f.clinic as usize].id.clone())),
        text("flag", flags.iter().map(|f| f.flag.as_str().to_string())),
        text("detail", flags.iter().map(|f| f.detail.clone())),
    ];
    frame("fidelity_flags", cols)
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::dates::parse_date;

    fn d(s: &str) -> Day {
        parse_date(s).unwrap()
    }

    /// Milestone `m<block>` of clinic 0.
    fn ms(block: u8, due: &str, done: Option<&str>) -> Milestone {
        Milestone {
            clinic: 0,
            block: Block::of_number(block).unwrap(),
            name: format!("m{block}"),
            due: d(due),
            completed: done.map(d),
        }
    }

    fn dataset(start: &str) -> Dataset {
        let mut data = Dataset::default();
        data.clinics = vec![Clinic {
            id: "A".into(),
            name: "A".into(),
            organization: None,
            arm: Arm::Intervention,
            rurality: None,
            facilitator_id: None,
            program_start: Some(d(start)),
        }];
        data
    }

    #[test]
    fn phases_follow_program_months() {
        let data = dataset("2023-03-20");
        let c = &data.clinics[0];
        let p = |m: &str| phase(c, Month::parse(m).unwrap());
        assert_eq!(p("2023-02"), Phase::Baseline);
        assert_eq!(p("2023-03"), Phase::PrepareLaunch); // program month 1
        assert_eq!(p("2023-05"), Phase::PrepareLaunch); // month 3
        assert_eq!(p("2023-06"), Phase::DesignImplement); // month 4
        assert_eq!(p("2024-04"), Phase::DesignImplement); // month 14
        assert_eq!(p("2024-05"), Phase::Sustain); // month 15
    }

    #[test]
    fn flags_for_the_facilitator_meeting() {
        let mut data = dataset("2023-01-10");
        data.milestones = vec![
            ms(1, "2024-04-30", None),               // 61 days before 2024-06-30: flagged
            ms(2, "2024-05-01", None),               // 60 days: not yet
            ms(3, "2024-01-01", Some("2024-02-01")), // done
        ];
        data.facilitation = vec![Facilitation {
            clinic: 0,
            facilitator: None,
            date: d("2024-05-01"),
            activity: Activity::SiteVisit,
            hours: 2.0,
        }];
        let f = flags(&data, Month::parse("2024-06").unwrap());
        let kinds: Vec<&str> = f.iter().map(|x| x.flag.as_str()).collect();
        // 2024-05-01 is 60 days before June 30: outside the 60 days ending June 30 (from May 2).
        assert_eq!(
            kinds,
            [
                "milestone_overdue_60d",
                "no_contact_60d",
                "incomplete_block_after_month_15",
                "incomplete_block_after_month_15"
            ]
        );
        assert!(f[0].detail.contains("61 days overdue"), "{}", f[0].detail);
        // A contact on May 2 is inside the 60 days.
        data.facilitation[0].date = d("2024-05-02");
        let f = flags(&data, Month::parse("2024-06").unwrap());
        assert!(!f.iter().any(|x| x.flag == FlagKind::NoContact60d));
    }

    #[test]
    fn milestone_and_effort_queries_count_at_month_ends() {
        let mut data = dataset("2024-02-10");
        // Block 1: due Jan 31, done Feb 1 (late); block 2: due Feb 29, done Feb 29 (on time);
        // block 2: due Mar 1, not done.
        data.milestones = vec![
            ms(1, "2024-01-31", Some("2024-02-01")),
            ms(2, "2024-02-29", Some("2024-02-29")),
            ms(2, "2024-03-01", None),
        ];
        let f = |date: &str, hours: f64, activity: Activity| Facilitation {
            clinic: 0,
            facilitator: None,
            date: d(date),
            activity,
            hours,
        };
        data.facilitation =
            vec![f("2024-01-31", 1.25, Activity::SiteVisit), f("2024-02-01", 0.5, Activity::VirtualMeeting)];
        let months = Month::parse("2024-03").unwrap().window(3);
        let df = clinic_month(&data, &months).unwrap();
        let ints = |c: &str| -> Vec<i64> { df.column(c).unwrap().i64().unwrap().into_no_null_iter().collect() };
        let floats = |c: &str| -> Vec<Option<f64>> { df.column(c).unwrap().f64().unwrap().iter().collect() };
        assert_eq!(ints("milestones_due"), [1, 2, 3], "due on the month's last day counts");
        assert_eq!(ints("milestones_done"), [0, 2, 2]);
        assert_eq!(ints("milestones_done_on_time"), [0, 1, 1]);
        assert_eq!(ints("milestones_overdue"), [1, 0, 1]);
        assert_eq!(floats("milestones_done_of_due_pct"), [Some(0.0), Some(100.0), Some(66.7)]);
        assert_eq!(floats("facilitation_hours"), [Some(1.25), Some(0.5), Some(0.0)]);
        assert_eq!(floats("facilitation_hours_cum"), [Some(1.25), Some(1.75), Some(1.75)]);
        assert_eq!(ints("facilitation_contacts"), [1, 1, 0]);
        let phases: Vec<&str> = df.column("phase").unwrap().str().unwrap().iter().flatten().collect();
        assert_eq!(phases, ["baseline", "prepare_launch", "prepare_launch"]);
        let b = block(&data, &months).unwrap();
        assert_eq!(b.height(), 18, "3 months × 6 blocks");
        let s = study_month(&Fidelity::compute(&data, &months).unwrap(), &data, &months).unwrap();
        let col_i = |c: &str| -> Vec<i64> { s.column(c).unwrap().i64().unwrap().into_no_null_iter().collect() };
        assert_eq!(col_i("clinics_block_1_complete"), [0, 1, 1]);
        assert_eq!(col_i("clinics_block_2_complete"), [0, 0, 0], "its March 1 milestone is never done");
        let median: Vec<Option<f64>> = s.column("milestones_done_pct_median").unwrap().f64().unwrap().iter().collect();
        assert_eq!(median, [Some(0.0), Some(66.7), Some(66.7)]);
    }
}
