//! Program fidelity (SPEC §3, issue 4): milestones by building block,
//! facilitation effort, program phase, a study-wide summary and the flags
//! for the monthly facilitator meeting.

use super::study::{clinic_order, quantile7};
use super::table::{pct, Col, Table};
use crate::dates::{fmt_day, window_start, Day, Month};
use crate::mme::round1;
use crate::model::{Activity, Arm, Clinic, Dataset, Facilitation, Milestone};

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
    pub fn counts(&self, c: u32, block: Option<u8>, end: Day) -> MilestoneCounts {
        MilestoneCounts::at(
            self.milestones[c as usize].iter().copied().filter(|m| block.is_none_or(|b| m.block == b)),
            end,
        )
    }
}

/// Facilitation effort in month `m` (cumulative up to its end) from one clinic's rows.
pub fn effort(rows: &[&Facilitation], m: Month) -> Effort {
    let (ms, me) = (m.first_day(), m.last_day());
    let mut e = Effort::default();
    for f in rows.iter().filter(|f| f.date <= me) {
        e.hours_cum += f.hours;
        if f.date >= ms {
            e.hours += f.hours;
            e.contacts += 1;
            e.by_activity[Activity::ALL.iter().position(|a| *a == f.activity).unwrap()] += f.hours;
        }
    }
    e
}

/// Round hours to 2 decimals for output.
fn hours(x: f64) -> Option<f64> {
    Some((x * 100.0).round() / 100.0)
}

/// `metrics/fidelity_clinic_month`.
pub fn clinic_month_table(data: &Dataset, months: &[Month]) -> Table {
    let order = clinic_order(data);
    let by = ByClinic::new(data);
    let mut ids = Vec::new();
    let mut mon = Vec::new();
    let mut phases = Vec::new();
    let mut pmonths = Vec::new();
    let mut counts = Vec::new();
    let mut efforts = Vec::new();
    for &c in &order {
        let clinic = &data.clinics[c];
        for &m in months {
            ids.push(clinic.id.clone());
            mon.push(m.to_string());
            phases.push(phase(clinic, m).as_str().to_string());
            pmonths.push(program_month(clinic, m).map(i64::from));
            counts.push(by.counts(c as u32, None, m.last_day()));
            efforts.push(effort(&by.facilitation[c], m));
        }
    }
    let int = |f: fn(&MilestoneCounts) -> u32| Col::Int(counts.iter().map(|c| Some(f(c) as i64)).collect());
    let pc = |f: fn(&MilestoneCounts) -> (u32, u32)| {
        Col::Float(
            counts
                .iter()
                .map(|c| {
                    let (n, d) = f(c);
                    pct(n.into(), d.into())
                })
                .collect(),
        )
    };
    let mut t = Table::default();
    t.push("clinic_id", Col::Str(ids));
    t.push("month", Col::Str(mon));
    t.push("phase", Col::Str(phases));
    t.push("program_month", Col::Int(pmonths));
    t.push("milestones_total", int(|c| c.total));
    t.push("milestones_due", int(|c| c.due));
    t.push("milestones_done", int(|c| c.done));
    t.push("milestones_done_on_time", int(|c| c.done_on_time));
    t.push("milestones_overdue", int(|c| c.overdue));
    t.push("milestones_due_pct", pc(|c| (c.due, c.total)));
    t.push("milestones_done_pct", pc(|c| (c.done, c.total)));
    t.push("milestones_done_on_time_pct", pc(|c| (c.done_on_time, c.total)));
    t.push("milestones_overdue_pct", pc(|c| (c.overdue, c.total)));
    t.push("milestones_done_of_due_pct", pc(|c| (c.due_done, c.due)));
    t.push("facilitation_hours", Col::Float(efforts.iter().map(|e| hours(e.hours)).collect()));
    t.push("facilitation_hours_cum", Col::Float(efforts.iter().map(|e| hours(e.hours_cum)).collect()));
    t.push("facilitation_contacts", Col::Int(efforts.iter().map(|e| Some(e.contacts as i64)).collect()));
    for (k, a) in Activity::ALL.iter().enumerate() {
        t.push(format!("hours_{}", a.as_str()), Col::Float(efforts.iter().map(|e| hours(e.by_activity[k])).collect()));
    }
    t
}

/// `metrics/fidelity_block`: milestone counts per clinic, month and block.
pub fn block_table(data: &Dataset, months: &[Month]) -> Table {
    let mut ids = Vec::new();
    let mut mon = Vec::new();
    let mut blocks = Vec::new();
    let mut counts = Vec::new();
    let by = ByClinic::new(data);
    for c in clinic_order(data) {
        for &m in months {
            for b in 1..=6u8 {
                ids.push(data.clinics[c].id.clone());
                mon.push(m.to_string());
                blocks.push(Some(b as i64));
                counts.push(by.counts(c as u32, Some(b), m.last_day()));
            }
        }
    }
    let int = |f: fn(&MilestoneCounts) -> u32| Col::Int(counts.iter().map(|c| Some(f(c) as i64)).collect());
    let mut t = Table::default();
    t.push("clinic_id", Col::Str(ids));
    t.push("month", Col::Str(mon));
    t.push("block", Col::Int(blocks));
    t.push("milestones_total", int(|c| c.total));
    t.push("milestones_due", int(|c| c.due));
    t.push("milestones_done", int(|c| c.done));
    t.push("milestones_done_on_time", int(|c| c.done_on_time));
    t.push("milestones_overdue", int(|c| c.overdue));
    t
}

/// Whether every milestone of a block is done by `end` (a block with no
/// milestones is not complete).
pub fn block_complete(by: &ByClinic, c: u32, b: u8, end: Day) -> bool {
    let c = by.counts(c, Some(b), end);
    c.total > 0 && c.done == c.total
}

/// `metrics/fidelity_study_month`: intervention clinics per month: clinics
/// with each block complete, median % of milestones done, facilitation hours.
pub fn study_table(data: &Dataset, months: &[Month]) -> Table {
    let clinics: Vec<u32> =
        (0..data.clinics.len() as u32).filter(|&c| data.clinics[c as usize].arm == Arm::Intervention).collect();
    let by = ByClinic::new(data);
    let mut t = Table::default();
    t.push("month", Col::Str(months.iter().map(|m| m.to_string()).collect()));
    t.push("clinics", Col::Int(months.iter().map(|_| Some(clinics.len() as i64)).collect()));
    for b in 1..=6u8 {
        t.push(
            format!("clinics_block_{b}_complete"),
            Col::Int(
                months
                    .iter()
                    .map(|m| Some(clinics.iter().filter(|&&c| block_complete(&by, c, b, m.last_day())).count() as i64))
                    .collect(),
            ),
        );
    }
    t.push(
        "milestones_done_pct_median",
        Col::Float(
            months
                .iter()
                .map(|m| {
                    let mut v: Vec<f64> = clinics
                        .iter()
                        .filter_map(|&c| {
                            let k = by.counts(c, None, m.last_day());
                            (k.total > 0).then(|| 100.0 * k.done as f64 / k.total as f64)
                        })
                        .collect();
                    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    quantile7(&v, 0.5).map(round1)
                })
                .collect(),
        ),
    );
    t.push(
        "facilitation_hours",
        Col::Float(
            months
                .iter()
                .map(|&m| hours(data.facilitation.iter().filter(|f| Month::of_day(f.date) == m).map(|f| f.hours).sum()))
                .collect(),
        ),
    );
    t
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
            for b in 1..=6u8 {
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
pub fn flags_table(data: &Dataset, flags: &[Flag]) -> Table {
    let mut t = Table::default();
    t.push("clinic_id", Col::Str(flags.iter().map(|f| data.clinics[f.clinic as usize].id.clone()).collect()));
    t.push("flag", Col::Str(flags.iter().map(|f| f.flag.as_str().to_string()).collect()));
    t.push("detail", Col::Str(flags.iter().map(|f| f.detail.clone()).collect()));
    t
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::needless_range_loop)]
mod tests {
    use super::*;
    use crate::dates::parse_date;

    fn d(s: &str) -> Day {
        parse_date(s).unwrap()
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
        let ms = |block: u8, due: &str, done: Option<&str>| Milestone {
            clinic: 0,
            block,
            name: format!("m{block}"),
            due: d(due),
            completed: done.map(d),
        };
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
}
