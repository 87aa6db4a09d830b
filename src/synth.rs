//! `sixbb synth`: a deterministic generator of realistic synthetic study
//! data in the SPEC §1 format, streamed clinic by clinic so it scales to
//! 1,000 clinics × 36 months without holding the data in memory.

use crate::dates::{fmt_day, Day, Month};
use crate::error::{Error, Result};
use crate::model::EventType;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Generator settings.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub clinics: u32,
    pub months: u32,
    pub seed: u64,
    /// The last month of data.
    pub end: Month,
    /// Mean patients per clinic.
    pub patients: u32,
    /// Append a few deliberately bad rows (exercises the data-quality path).
    pub bad_rows: bool,
    /// Scale of the program effect ([`ClinicGen::effect`]): 1 as documented, 0 none.
    pub effect: f64,
    pub out: PathBuf,
}

/// Rows written per table.
#[derive(Clone, Debug, Default)]
pub struct SynthCounts {
    pub clinics: u64,
    pub prescriptions: u64,
    pub care_events: u64,
    pub milestones: u64,
    pub facilitation: u64,
    pub exclusions: u64,
}

const PLACES: [&str; 30] = [
    "Riverside",
    "Cedar Valley",
    "Harbor View",
    "Maple Grove",
    "Summit",
    "Lakeshore",
    "Pine Ridge",
    "Westgate",
    "Eastside",
    "Northfield",
    "Southpoint",
    "Oak Hollow",
    "Bluewater",
    "Granite Falls",
    "Willow Creek",
    "Prairie",
    "Cascade",
    "Evergreen",
    "Sunnyslope",
    "Meadowbrook",
    "Ironwood",
    "Copper Hill",
    "Silver Lake",
    "Redwood",
    "Fairhaven",
    "Stonebridge",
    "Clearwater",
    "Highland",
    "Juniper",
    "Sandpoint",
];
const KINDS: [&str; 8] = [
    "Family Medicine",
    "Community Health Center",
    "Primary Care",
    "Family Practice",
    "Health Clinic",
    "Medical Group",
    "Internal Medicine",
    "Rural Health Clinic",
];
const ORGS: [&str; 6] = [
    "Northwest Health",
    "Valley Care Network",
    "Coastal Community Health",
    "Mountain Health Partners",
    "Prairie Health System",
    "Independent",
];

/// The generated name of clinic `i` (distinct, none a substring of another).
pub fn clinic_name(i: u32) -> String {
    let n = (PLACES.len() * KINDS.len()) as u32;
    if i < n {
        format!("{} {}", PLACES[(i % PLACES.len() as u32) as usize], KINDS[(i / PLACES.len() as u32) as usize])
    } else {
        format!("Study Site {:05}", i)
    }
}

/// Milestones per block: (block, name, due offset in days from program start).
const MILESTONES: [(u8, &str, i32); 20] = [
    (1, "Leadership commitment signed", 14),
    (1, "Improvement team with protected time", 45),
    (1, "Clinic-wide consensus meeting", 90),
    (2, "Opioid policy aligned with CDC guideline", 120),
    (2, "Revised patient agreement adopted", 150),
    (2, "Written refill workflow", 180),
    (2, "Staff training on policies", 210),
    (3, "LTOT cohort identified", 60),
    (3, "Prescribers registered with the PDMP", 90),
    (3, "MME calculation in the record", 150),
    (3, "Patient registry and dashboard live", 240),
    (4, "Planned-visit template in use", 210),
    (4, "PEG score recorded at visits", 270),
    (4, "Urine drug screen workflow", 300),
    (5, "Screening tools for complex patients", 300),
    (5, "Referral path to behavioural health", 330),
    (5, "Access to treatment for opioid use disorder", 360),
    (6, "Monthly measures shared with the team", 330),
    (6, "Measurement targets set", 390),
    (6, "Quarterly review of progress", 420),
];

struct Writers {
    clinics: BufWriter<std::fs::File>,
    rx: BufWriter<std::fs::File>,
    ev: BufWriter<std::fs::File>,
    ms: BufWriter<std::fs::File>,
    fac: BufWriter<std::fs::File>,
    ex: BufWriter<std::fs::File>,
}

fn create(dir: &Path, name: &str, header: &str) -> Result<BufWriter<std::fs::File>> {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).map_err(|e| Error::io("cannot create", &p, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    writeln!(w, "{header}").map_err(|e| Error::io("cannot write", &p, e))?;
    Ok(w)
}

/// An opioid regimen: drug, route, strength, unit, units per day, quantity rounding.
#[derive(Clone, Copy)]
struct Regimen {
    drug: &'static str,
    route: &'static str,
    strength: f64,
    unit: &'static str,
    per_day: f64,
}

fn pick_regimen(rng: &mut ChaCha8Rng) -> Regimen {
    let r: f64 = rng.random();
    let pick = |v: &[f64], rng: &mut ChaCha8Rng| v[rng.random_range(0..v.len())];
    if r < 0.25 {
        Regimen {
            drug: "oxycodone",
            route: "oral",
            strength: pick(&[5.0, 10.0, 15.0, 20.0, 30.0, 40.0], rng),
            unit: "mg",
            per_day: pick(&[2.0, 3.0, 4.0], rng),
        }
    } else if r < 0.45 {
        Regimen {
            drug: "hydrocodone",
            route: "oral",
            strength: pick(&[5.0, 7.5, 10.0], rng),
            unit: "mg",
            per_day: pick(&[2.0, 3.0, 4.0, 6.0], rng),
        }
    } else if r < 0.60 {
        Regimen {
            drug: "morphine",
            route: "oral",
            strength: pick(&[15.0, 30.0, 60.0], rng),
            unit: "mg",
            per_day: pick(&[2.0, 3.0], rng),
        }
    } else if r < 0.70 {
        Regimen { drug: "tramadol", route: "oral", strength: 50.0, unit: "mg", per_day: pick(&[2.0, 3.0, 4.0], rng) }
    } else if r < 0.78 {
        Regimen {
            drug: "fentanyl",
            route: "transdermal",
            strength: pick(&[12.0, 25.0, 50.0, 75.0, 100.0], rng),
            unit: "mcg/hr",
            per_day: 1.0 / 3.0,
        }
    } else if r < 0.84 {
        Regimen {
            drug: "methadone",
            route: "oral",
            strength: pick(&[5.0, 10.0], rng),
            unit: "mg",
            per_day: pick(&[2.0, 3.0, 4.0], rng),
        }
    } else if r < 0.90 {
        Regimen {
            drug: "hydromorphone",
            route: "oral",
            strength: pick(&[2.0, 4.0], rng),
            unit: "mg",
            per_day: pick(&[3.0, 4.0, 6.0], rng),
        }
    } else if r < 0.94 {
        Regimen { drug: "oxycodone", route: "oral", strength: 5.0, unit: "mg/ml", per_day: pick(&[5.0, 10.0], rng) }
    } else if r < 0.97 {
        Regimen { drug: "tapentadol", route: "oral", strength: pick(&[50.0, 100.0], rng), unit: "mg", per_day: 2.0 }
    } else {
        Regimen { drug: "codeine", route: "oral", strength: 30.0, unit: "mg", per_day: pick(&[3.0, 4.0], rng) }
    }
}

const SEDATIVES: [&str; 4] = ["gabapentin", "pregabalin", "zolpidem", "carisoprodol"];
const BENZOS: [&str; 5] = ["alprazolam", "clonazepam", "lorazepam", "diazepam", "temazepam"];
const SHORT: [(&str, f64); 4] = [("hydrocodone", 5.0), ("oxycodone", 5.0), ("tramadol", 50.0), ("codeine", 30.0)];

/// The study-wide state of a generation: writers, counts, the rx counter.
struct Gen<'a> {
    opts: &'a SynthOptions,
    w: Writers,
    counts: SynthCounts,
    rx_counter: u64,
    first_month: Month,
    d0: Day,
    d_end: Day,
}

/// One prescription line.
struct RxLine<'a> {
    clinic: &'a str,
    day: Day,
    drug: &'a str,
    route: &'a str,
    strength: f64,
    unit: &'a str,
    qty: f64,
    days: u32,
    release: &'a str,
}

/// A long-term patient's plan ([`Gen::long_term_plan`]).
struct LongTermPlan {
    reg: Regimen,
    begin: Day,
    stop: Day,
    benzo: Option<&'static str>,
    sedative: Option<&'static str>,
    release: &'static str,
    other_clinic: Option<String>,
}

/// Refill timing: mostly on time, sometimes early (overlap) or late (gap).
fn refill_jitter(rng: &mut ChaCha8Rng) -> i32 {
    if rng.random_bool(0.1) {
        rng.random_range(-5..0)
    } else if rng.random_bool(0.08) {
        rng.random_range(5..40)
    } else {
        0
    }
}

/// One clinic being generated: its id, start, random stream.
struct ClinicGen {
    /// 0-based clinic number.
    i: u32,
    id: String,
    facilitator: String,
    program_start: Option<Day>,
    /// `--effect`: scales the ramp.
    scale: f64,
    rng: ChaCha8Rng,
}

impl ClinicGen {
    /// The built-in program effect e(day): 0 before program_start, then a
    /// linear ramp to 1 (times `--effect`) over the first 365 days, flat
    /// after. Where it acts (per refill or course, probabilities):
    /// * long-term patients above 20 MME/day taper (dose × 0.8) with 0.3·e;
    ///   they stop opioids with 0.004·e per refill;
    /// * a benzodiazepine or other sedative refill is skipped with 0.3·e;
    /// * a new short course lasts more than 7 days with 0.5 − 0.3·e;
    /// * care events (agreement, urine drug test, PDMP check, PEG, naloxone)
    ///   are recorded more often ([`Gen::care_events`]).
    ///
    /// The resulting size per measure, estimated by simulation, is in the
    /// README (`bench/placebo.sh`).
    fn effect(&self, day: Day) -> f64 {
        match self.program_start {
            Some(s) if day >= s => ((day - s) as f64 / 365.0).min(1.0) * self.scale,
            _ => 0.0,
        }
    }
}

fn wio(file: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::io("cannot write", file, e)
}

impl Gen<'_> {
    /// Write one prescription of clinic `c`'s patient `pid`.
    fn rx(&mut self, c: &ClinicGen, pid: &str, prescriber: u32, r: RxLine) -> Result<()> {
        self.rx_counter += 1;
        self.counts.prescriptions += 1;
        let RxLine { clinic, day, drug, route, strength, unit, qty, days, release } = r;
        writeln!(
            self.w.rx,
            "R{:09},{clinic},{pid},D{:04}{prescriber:02},{},{drug},{route},{strength},{unit},{qty},{days},{release}",
            self.rx_counter,
            c.i + 1,
            fmt_day(day)
        )
        .map_err(wio("prescriptions.csv"))
    }

    /// The clinic row and the clinic's random stream.
    fn clinic(&mut self, i: u32) -> Result<ClinicGen> {
        let opts = self.opts;
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        let id = format!("C{:04}", i + 1);
        let intervention = i.is_multiple_of(2);
        // Staggered starts: from a third of the way in, over a third of the span.
        let span = opts.months as i32;
        let start_month = self.first_month.plus(span / 3 + ((i / 2) as i32 * 2) % (span / 3).max(1));
        let program_start: Option<Day> = intervention.then(|| start_month.first_day() + rng.random_range(0..25));
        let facilitator = format!("F{:02}", i / 6 + 1);
        writeln!(
            self.w.clinics,
            "{id},{},{},{},{},{facilitator},{}",
            clinic_name(i),
            ORGS[(i as usize / 4) % ORGS.len()],
            if intervention { "intervention" } else { "comparison" },
            if rng.random_bool(0.4) { "rural" } else { "urban" },
            program_start.map(fmt_day).unwrap_or_default()
        )
        .map_err(wio("clinics.csv"))?;
        self.counts.clinics += 1;
        Ok(ClinicGen { i, id, facilitator, program_start, scale: opts.effect, rng })
    }

    /// One patient: perhaps an exclusion, then one kind of prescribing.
    fn patient(&mut self, c: &mut ClinicGen, p: u32, n_prescribers: u32) -> Result<()> {
        let (d0, d_end) = (self.d0, self.d_end);
        let pid = format!("P{:04}{:05}", c.i + 1, p + 1);
        let prescriber = c.rng.random_range(1..=n_prescribers);
        if c.rng.random_bool(0.04) {
            // Cancer treatment, hospice, palliative care or sickle-cell disease.
            let reason = ["cancer", "hospice", "palliative", "sickle_cell"][c.rng.random_range(0..4)];
            let start = d0 + c.rng.random_range(0..(d_end - d0 + 1));
            let end = (reason == "cancer" && c.rng.random_bool(0.5)).then(|| start + c.rng.random_range(30..400));
            writeln!(self.w.ex, "{pid},{reason},{},{}", fmt_day(start), end.map(fmt_day).unwrap_or_default())
                .map_err(wio("exclusions.csv"))?;
            self.counts.exclusions += 1;
        }
        let kind: f64 = c.rng.random();
        if kind < 0.40 {
            self.long_term(c, &pid, prescriber)
        } else if kind < 0.92 {
            self.short_courses(c, &pid, prescriber)
        } else if kind < 0.96 {
            // Buprenorphine for opioid use disorder.
            let mut day = d0 + c.rng.random_range(0..(d_end - d0 + 1));
            let stop = (day + c.rng.random_range(60..720)).min(d_end);
            while day <= stop {
                let id = c.id.clone();
                let line = RxLine {
                    clinic: &id,
                    day,
                    drug: "buprenorphine",
                    route: "sublingual",
                    strength: 8.0,
                    unit: "mg",
                    qty: 60.0,
                    days: 30,
                    release: "",
                };
                self.rx(c, &pid, prescriber, line)?;
                day += 30;
            }
            Ok(())
        } else {
            // Benzodiazepine only.
            let b = BENZOS[c.rng.random_range(0..BENZOS.len())];
            let day = d0 + c.rng.random_range(0..(d_end - d0 + 1));
            let id = c.id.clone();
            let line = RxLine {
                clinic: &id,
                day,
                drug: b,
                route: "oral",
                strength: 0.5,
                unit: "mg",
                qty: 60.0,
                days: 30,
                release: "",
            };
            self.rx(c, &pid, prescriber, line)
        }
    }

    /// Short courses: new starts of varying length, fewer long first
    /// prescriptions once the program runs.
    fn short_courses(&mut self, c: &mut ClinicGen, pid: &str, prescriber: u32) -> Result<()> {
        let (d0, d_end) = (self.d0, self.d_end);
        for _ in 0..c.rng.random_range(1..4) {
            let (drug, s) = SHORT[c.rng.random_range(0..SHORT.len())];
            let day = d0 + c.rng.random_range(0..(d_end - d0 + 1));
            let long = c.rng.random_bool(0.5 - 0.3 * c.effect(day));
            let days = if long { c.rng.random_range(8..31u32) } else { c.rng.random_range(1..8u32) };
            let qty = (days * c.rng.random_range(2..5u32)) as f64;
            let release = if c.rng.random_bool(0.05) { "er" } else { "ir" };
            let id = c.id.clone();
            let line = RxLine { clinic: &id, day, drug, route: "oral", strength: s, unit: "mg", qty, days, release };
            self.rx(c, pid, prescriber, line)?;
        }
        Ok(())
    }

    /// Long-term therapy: monthly refills over a stretch of months, with
    /// benzodiazepines, sedatives and care events alongside.
    fn long_term(&mut self, c: &mut ClinicGen, pid: &str, prescriber: u32) -> Result<()> {
        let plan = self.long_term_plan(c);
        let mut day = plan.begin.max(self.d0 - 400);
        let mut dose_scale = 1.0f64;
        let mut events_last: [Day; 5] = [Day::MIN / 2; 5];
        let mut n = 0u32;
        let id = c.id.clone();
        while day <= plan.stop {
            // Patches come in 30-day boxes; tablets mostly 30, sometimes 28 days.
            let reg = &plan.reg;
            let days_supply = if reg.unit != "mcg/hr" && !c.rng.random_bool(0.8) { 28 } else { 30 };
            let e = c.effect(day);
            if e > 0.0 && reg.strength * reg.per_day * dose_scale > 20.0 && c.rng.random_bool(0.3 * e) {
                dose_scale *= 0.8; // taper after program start
            }
            let per_day = (reg.per_day * dose_scale * 4.0).round().max(1.0) / 4.0;
            let qty = (per_day * days_supply as f64).round().max(1.0);
            let here = match &plan.other_clinic {
                Some(o) if n % 5 == 4 => o.clone(),
                _ => id.clone(),
            };
            if day >= self.d0 - 400 {
                let (drug, route, strength, unit, release) =
                    (reg.drug, reg.route, reg.strength, reg.unit, plan.release);
                let line = RxLine { clinic: &here, day, drug, route, strength, unit, qty, days: days_supply, release };
                self.rx(c, pid, prescriber, line)?;
                self.companions(c, pid, prescriber, day, e, [plan.benzo, plan.sedative])?;
                self.care_events(c, pid, day, e, &mut events_last)?;
            }
            n += 1;
            day += days_supply as i32 + refill_jitter(&mut c.rng);
            if e > 0.0 && c.rng.random_bool(0.004 * e) {
                break; // discontinued
            }
        }
        Ok(())
    }

    /// A long-term patient's regimen, stretch of therapy, companions and
    /// (for 2%) a second clinic.
    fn long_term_plan(&self, c: &mut ClinicGen) -> LongTermPlan {
        let (d0, d_end, span) = (self.d0, self.d_end, self.opts.months as i32);
        let reg = pick_regimen(&mut c.rng);
        let begin = d0 - c.rng.random_range(0..400) + c.rng.random_range(0..(span * 30));
        let length_days = c.rng.random_range(120..(span * 30 + 400));
        let stop = (begin + length_days).min(d_end);
        let benzo = c.rng.random_bool(0.22).then(|| BENZOS[c.rng.random_range(0..BENZOS.len())]);
        let sedative = c.rng.random_bool(0.15).then(|| SEDATIVES[c.rng.random_range(0..SEDATIVES.len())]);
        // Extended-release for some morphine and oxycodone; patches and methadone are long-acting anyway.
        let release = match reg.drug {
            "morphine" | "oxycodone" if reg.unit == "mg" && c.rng.random_bool(0.35) => "er",
            "fentanyl" | "methadone" => "",
            _ if c.rng.random_bool(0.5) => "ir",
            _ => "",
        };
        let n_clinics = self.opts.clinics;
        let other_clinic =
            (c.rng.random_bool(0.02) && n_clinics > 1).then(|| format!("C{:04}", (c.i + 1) % n_clinics + 1));
        LongTermPlan { reg, begin, stop, benzo, sedative, release, other_clinic }
    }

    /// The benzodiazepine and sedative refills beside an opioid refill,
    /// skipped more often once the program runs.
    fn companions(
        &mut self,
        c: &mut ClinicGen,
        pid: &str,
        prescriber: u32,
        day: Day,
        e: f64,
        drugs: [Option<&'static str>; 2],
    ) -> Result<()> {
        let id = c.id.clone();
        for (drug, strength, qty) in [(drugs[0], 1.0, 30.0), (drugs[1], 300.0, 90.0)] {
            let Some(drug) = drug else { continue };
            if !c.rng.random_bool(0.3 * e) {
                let day = day + c.rng.random_range(0..5);
                let line =
                    RxLine { clinic: &id, day, drug, route: "oral", strength, unit: "mg", qty, days: 30, release: "" };
                self.rx(c, pid, prescriber, line)?;
            }
        }
        Ok(())
    }

    /// Care events around a refill: more often once the program runs.
    fn care_events(&mut self, c: &mut ClinicGen, pid: &str, day: Day, e: f64, last: &mut [Day; 5]) -> Result<()> {
        let probs = [
            (0, 0.04 + 0.10 * e, 300),
            (1, 0.06 + 0.12 * e, 200),
            (2, 0.15 + 0.45 * e, 20),
            (3, 0.10 + 0.35 * e, 60),
            (4, 0.01 + 0.05 * e, 365),
        ];
        for (k, pr, gap) in probs {
            if day - last[k] > gap && c.rng.random_bool(pr) && day + 3 <= self.d_end {
                let t = EventType::ALL[k].as_str();
                writeln!(self.w.ev, "{},{pid},{},{t}", c.id, fmt_day(day + c.rng.random_range(0..3)))
                    .map_err(wio("care_events.csv"))?;
                self.counts.care_events += 1;
                last[k] = day;
            }
        }
        Ok(())
    }

    /// Milestones with realistic slippage, and facilitation: kick-off, then
    /// visits and meetings for about 15 months.
    fn fidelity(&mut self, c: &mut ClinicGen, start: Day) -> Result<()> {
        let d_end = self.d_end;
        let lag: i32 = c.rng.random_range(0..40);
        for (b, name, off) in MILESTONES {
            let due = start + off;
            let r: f64 = c.rng.random();
            let completed = if r < 0.15 {
                None
            } else if r < 0.35 {
                Some(due - c.rng.random_range(1..30))
            } else {
                Some(due + lag + c.rng.random_range(0..90))
            };
            let completed = completed.filter(|d| *d <= d_end);
            writeln!(self.w.ms, "{},{b},{name},{},{}", c.id, fmt_day(due), completed.map(fmt_day).unwrap_or_default())
                .map_err(wio("milestones.csv"))?;
            self.counts.milestones += 1;
        }
        self.fac(c, start, "kickoff", 4.0)?;
        let quiet = c.rng.random_bool(0.15);
        for k in 1..24 {
            let base = start + k * 30;
            if quiet && k > 8 {
                break;
            }
            let intensity = if k <= 15 { 1.0 } else { 0.3 };
            if c.rng.random_bool(0.7 * intensity) {
                let day = base + c.rng.random_range(0..10);
                let h = [1.5, 2.0, 2.5, 3.0][c.rng.random_range(0..4)];
                self.fac(c, day, "site_visit", h)?;
            }
            if c.rng.random_bool(0.6 * intensity) {
                let day = base + c.rng.random_range(10..25);
                let h = [0.5, 1.0][c.rng.random_range(0..2)];
                self.fac(c, day, "virtual_meeting", h)?;
            }
            if k % 3 == 0 && c.rng.random_bool(0.8 * intensity) {
                self.fac(c, base + 15, "shared_learning", 1.5)?;
            }
            if c.rng.random_bool(0.25 * intensity) {
                let day = base + c.rng.random_range(0..28);
                self.fac(c, day, "mentoring", 1.0)?;
            }
            if c.rng.random_bool(0.1) {
                let day = base + c.rng.random_range(0..28);
                self.fac(c, day, "other", 0.5)?;
            }
        }
        Ok(())
    }

    /// One facilitation row, when on or before the last day of the data.
    fn fac(&mut self, c: &ClinicGen, day: Day, act: &str, h: f64) -> Result<()> {
        if day <= self.d_end {
            writeln!(self.w.fac, "{},{},{},{act},{h}", c.id, c.facilitator, fmt_day(day))
                .map_err(wio("facilitation.csv"))?;
            self.counts.facilitation += 1;
        }
        Ok(())
    }
}

/// Write a synthetic study into `opts.out`.
pub fn generate(opts: &SynthOptions) -> Result<SynthCounts> {
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io("cannot create", &opts.out, e))?;
    let d = &opts.out;
    let w = Writers {
        clinics: create(d, "clinics.csv", "clinic_id,clinic_name,organization,arm,rurality,facilitator_id,program_start")?,
        rx: create(d, "prescriptions.csv", "rx_id,clinic_id,patient_id,prescriber_id,written_date,drug,route,strength,strength_unit,quantity,days_supply,release")?,
        ev: create(d, "care_events.csv", "clinic_id,patient_id,event_date,event_type")?,
        ms: create(d, "milestones.csv", "clinic_id,block,milestone,due_date,completed_date")?,
        fac: create(d, "facilitation.csv", "clinic_id,facilitator_id,date,activity,hours")?,
        ex: create(d, "exclusions.csv", "patient_id,reason,start_date,end_date")?,
    };
    let first_month = opts.end.plus(-(opts.months as i32 - 1));
    let (d0, d_end) = (first_month.first_day(), opts.end.last_day());
    let mut g = Gen { opts, w, counts: SynthCounts::default(), rx_counter: 0, first_month, d0, d_end };
    for i in 0..opts.clinics {
        let mut c = g.clinic(i)?;
        let n_prescribers = c.rng.random_range(3..12u32);
        let n_patients = ((opts.patients as f64) * c.rng.random_range(0.5..1.5)).round().max(5.0) as u32;
        for p in 0..n_patients {
            g.patient(&mut c, p, n_prescribers)?;
        }
        if let Some(start) = c.program_start {
            g.fidelity(&mut c, start)?;
        }
    }
    let io = |e: std::io::Error| Error::io("cannot write", d, e);
    if opts.bad_rows {
        write_bad_rows(&mut g.w, opts.end, &mut g.counts).map_err(io)?;
    }
    for f in [&mut g.w.clinics, &mut g.w.rx, &mut g.w.ev, &mut g.w.ms, &mut g.w.fac, &mut g.w.ex] {
        f.flush().map_err(io)?;
    }
    Ok(g.counts)
}

/// A fixed set of deliberately bad rows, one or two per rule.
fn write_bad_rows(w: &mut Writers, end: Month, counts: &mut SynthCounts) -> std::io::Result<()> {
    let after = fmt_day(end.plus(1).first_day() + 2);
    let last = fmt_day(end.last_day() - 10);
    writeln!(w.clinics, "C0999,Unstarted Test Clinic,Independent,intervention,urban,F99,")?;
    counts.clinics += 1;
    let rx = [
        format!("B000000001,C0001,P000100001,D000101,{last},melatonin,oral,3,mg,30,30,"),
        format!("B000000002,C0001,P000100001,D000101,{last},oxycodone,oral,10,mg,60,0,"),
        format!("B000000003,C0001,P000100001,D000101,{last},oxycodone,oral,10,mg,-5,30,"),
        format!("B000000004,C0001,P000100001,D000101,{last},fentanyl,oral,50,mg/ml,10,30,"),
        format!("B000000005,C9999,P000100001,D000101,{last},morphine,oral,15,mg,60,30,"),
        format!("B000000005,C0001,P000100001,D000101,{last},morphine,oral,15,mg,60,30,"),
        "B000000006,C0001,P000100001,D000101,2024-13-01,morphine,oral,15,mg,60,30,".to_string(),
        format!("B000000007,C0001,,D000101,{last},morphine,oral,15,mg,60,30,"),
        format!("B000000008,C0001,P000100001,D000101,{last},morphine,intravenous,15,mg,60,30,"),
        format!("B000000009,C0001,P000100001,D000101,{after},morphine,oral,15,mg,60,30,"),
        format!("B000000010,C0999,P000100002,D000101,{last},morphine,oral,15,mg,60,30,"),
        format!("B000000011,C0001,P000100001,D000101,{last},morphine,oral,15,mg,60,30,xr"),
        format!("B000000012,C0001,P000100001,D000101,{last},zolpidem,,,,,30,sustained"),
    ];
    for r in rx {
        writeln!(w.rx, "{r}")?;
        counts.prescriptions += 1;
    }
    writeln!(w.ex, "P000100001,gout,{last},")?;
    writeln!(w.ex, "P000100002,hospice,{last},2020-01-01")?;
    writeln!(w.ex, "P000100003,cancer,,")?;
    writeln!(w.ex, "P000100004,palliative,{after},")?;
    counts.exclusions += 4;
    writeln!(w.ev, "C0001,P000100001,{last},colonoscopy")?;
    writeln!(w.ev, "C0001,P000100001,{after},urine_drug_test")?;
    counts.care_events += 2;
    writeln!(w.ms, "C0001,7,Seventh block,{last},")?;
    writeln!(w.ms, "C0001,6,Measures reviewed after the report month,{last},{after}")?;
    counts.milestones += 2;
    writeln!(w.fac, "C0001,F01,{last},site_visit,30")?;
    writeln!(w.fac, "C0001,F01,{last},lunch,1")?;
    counts.facilitation += 2;
    Ok(())
}
