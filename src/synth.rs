//! `sixbb synth`: a deterministic generator of realistic synthetic study
//! data in the SPEC §1 format, streamed clinic by clinic so it scales to
//! 1,000 clinics × 36 months without holding the data in memory.

use crate::dates::{fmt_day, Day, Month};
use crate::error::{Error, Result};
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

/// Write a synthetic study into `opts.out`.
pub fn generate(opts: &SynthOptions) -> Result<SynthCounts> {
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io("cannot create", &opts.out, e))?;
    let d = &opts.out;
    let mut w = Writers {
        clinics: create(d, "clinics.csv", "clinic_id,clinic_name,organization,arm,rurality,facilitator_id,program_start")?,
        rx: create(d, "prescriptions.csv", "rx_id,clinic_id,patient_id,prescriber_id,written_date,drug,route,strength,strength_unit,quantity,days_supply,release")?,
        ev: create(d, "care_events.csv", "clinic_id,patient_id,event_date,event_type")?,
        ms: create(d, "milestones.csv", "clinic_id,block,milestone,due_date,completed_date")?,
        fac: create(d, "facilitation.csv", "clinic_id,facilitator_id,date,activity,hours")?,
        ex: create(d, "exclusions.csv", "patient_id,reason,start_date,end_date")?,
    };
    let io = |e: std::io::Error| Error::io("cannot write", d, e);
    let first_month = opts.end.plus(-(opts.months as i32 - 1));
    let (d0, d_end) = (first_month.first_day(), opts.end.last_day());
    let mut counts = SynthCounts::default();
    let mut rx_counter: u64 = 0;
    for i in 0..opts.clinics {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
        let id = format!("C{:04}", i + 1);
        let intervention = i % 2 == 0;
        // Staggered starts: from a third of the way in, over a third of the span.
        let span = opts.months as i32;
        let start_month = first_month.plus(span / 3 + ((i / 2) as i32 * 2) % (span / 3).max(1));
        let program_start: Option<Day> = intervention.then(|| start_month.first_day() + rng.random_range(0..25));
        let facilitator = format!("F{:02}", i / 6 + 1);
        writeln!(
            w.clinics,
            "{id},{},{},{},{},{facilitator},{}",
            clinic_name(i),
            ORGS[(i as usize / 4) % ORGS.len()],
            if intervention { "intervention" } else { "comparison" },
            if rng.random_bool(0.4) { "rural" } else { "urban" },
            program_start.map(fmt_day).unwrap_or_default()
        )
        .map_err(io)?;
        counts.clinics += 1;
        let n_prescribers = rng.random_range(3..12u32);
        let n_patients = ((opts.patients as f64) * rng.random_range(0.5..1.5)).round().max(5.0) as u32;
        let effect = |day: Day| -> f64 {
            // Program effect: 0 before start, ramps to 1 over 12 months.
            match program_start {
                Some(s) if day >= s => ((day - s) as f64 / 365.0).min(1.0),
                _ => 0.0,
            }
        };
        let mut rx_line = |w: &mut Writers,
                           clinic: &str,
                           patient: &str,
                           prescriber: u32,
                           date: Day,
                           drug: &str,
                           route: &str,
                           strength: f64,
                           unit: &str,
                           qty: f64,
                           days: u32,
                           release: &str|
         -> Result<()> {
            rx_counter += 1;
            writeln!(
                w.rx,
                "R{rx_counter:09},{clinic},{patient},D{:04}{prescriber:02},{},{drug},{route},{strength},{unit},{qty},{days},{release}",
                i + 1,
                fmt_day(date)
            )
            .map_err(|e| Error::io("cannot write", "prescriptions.csv", e))
        };
        for p in 0..n_patients {
            let pid = format!("P{:04}{:05}", i + 1, p + 1);
            let prescriber = rng.random_range(1..=n_prescribers);
            if rng.random_bool(0.04) {
                // Cancer treatment, hospice, palliative care or sickle-cell disease.
                let reason = ["cancer", "hospice", "palliative", "sickle_cell"][rng.random_range(0..4)];
                let start = d0 + rng.random_range(0..(d_end - d0 + 1));
                let end = (reason == "cancer" && rng.random_bool(0.5)).then(|| start + rng.random_range(30..400));
                writeln!(w.ex, "{pid},{reason},{},{}", fmt_day(start), end.map(fmt_day).unwrap_or_default())
                    .map_err(io)?;
                counts.exclusions += 1;
            }
            let kind: f64 = rng.random();
            if kind < 0.40 {
                // Long-term therapy: monthly refills over a stretch of months.
                let reg = pick_regimen(&mut rng);
                let begin = d0 - rng.random_range(0..400) + rng.random_range(0..(span * 30));
                let length_days = rng.random_range(120..(span * 30 + 400));
                let stop = (begin + length_days).min(d_end);
                let benzo = rng.random_bool(0.22).then(|| BENZOS[rng.random_range(0..BENZOS.len())]);
                let sedative = rng.random_bool(0.15).then(|| SEDATIVES[rng.random_range(0..SEDATIVES.len())]);
                // Extended-release for some morphine and oxycodone; patches and methadone are long-acting anyway.
                let release = match reg.drug {
                    "morphine" | "oxycodone" if reg.unit == "mg" && rng.random_bool(0.35) => "er",
                    "fentanyl" | "methadone" => "",
                    _ if rng.random_bool(0.5) => "ir",
                    _ => "",
                };
                let other_clinic =
                    (rng.random_bool(0.02) && opts.clinics > 1).then(|| format!("C{:04}", (i + 1) % opts.clinics + 1));
                let mut day = begin.max(d0 - 400);
                let mut dose_scale = 1.0f64;
                let mut events_last: [Day; 5] = [Day::MIN / 2; 5];
                let mut n = 0u32;
                while day <= stop {
                    // Patches come in 30-day boxes; tablets mostly 30, sometimes 28 days.
                    let days_supply = if reg.unit != "mcg/hr" && !rng.random_bool(0.8) { 28 } else { 30 };
                    let e = effect(day);
                    if e > 0.0 && reg.strength * reg.per_day * dose_scale > 20.0 && rng.random_bool(0.3 * e) {
                        dose_scale *= 0.8; // taper after program start
                    }
                    let per_day = (reg.per_day * dose_scale * 4.0).round().max(1.0) / 4.0;
                    let qty = (per_day * days_supply as f64).round().max(1.0);
                    let clinic_here = match &other_clinic {
                        Some(o) if n % 5 == 4 => o.clone(),
                        _ => id.clone(),
                    };
                    if day >= d0 - 400 {
                        rx_line(
                            &mut w,
                            &clinic_here,
                            &pid,
                            prescriber,
                            day,
                            reg.drug,
                            reg.route,
                            reg.strength,
                            reg.unit,
                            qty,
                            days_supply,
                            release,
                        )?;
                        counts.prescriptions += 1;
                        if let Some(b) = benzo {
                            if !rng.random_bool(0.3 * e) {
                                let bday = day + rng.random_range(0..5);
                                rx_line(&mut w, &id, &pid, prescriber, bday, b, "oral", 1.0, "mg", 30.0, 30, "")?;
                                counts.prescriptions += 1;
                            }
                        }
                        if let Some(sd) = sedative {
                            if !rng.random_bool(0.3 * e) {
                                let sday = day + rng.random_range(0..5);
                                rx_line(&mut w, &id, &pid, prescriber, sday, sd, "oral", 300.0, "mg", 90.0, 30, "")?;
                                counts.prescriptions += 1;
                            }
                        }
                        // Care events: more often once the program runs.
                        let probs = [
                            (0, 0.04 + 0.10 * e, 300),
                            (1, 0.06 + 0.12 * e, 200),
                            (2, 0.15 + 0.45 * e, 20),
                            (3, 0.10 + 0.35 * e, 60),
                            (4, 0.01 + 0.05 * e, 365),
                        ];
                        for (k, pr, gap) in probs {
                            if day - events_last[k] > gap && rng.random_bool(pr) && day + 3 <= d_end {
                                let t = [
                                    "patient_agreement",
                                    "urine_drug_test",
                                    "pdmp_check",
                                    "functional_assessment",
                                    "naloxone",
                                ][k];
                                writeln!(w.ev, "{id},{pid},{},{t}", fmt_day(day + rng.random_range(0..3)))
                                    .map_err(io)?;
                                counts.care_events += 1;
                                events_last[k] = day;
                            }
                        }
                    }
                    n += 1;
                    // Refill: mostly on time, sometimes early (overlap) or late (gap).
                    let jitter: i32 = if rng.random_bool(0.1) {
                        rng.random_range(-5..0)
                    } else if rng.random_bool(0.08) {
                        rng.random_range(5..40)
                    } else {
                        0
                    };
                    day += days_supply as i32 + jitter;
                    if e > 0.0 && rng.random_bool(0.004 * e) {
                        break; // discontinued
                    }
                }
            } else if kind < 0.92 {
                // Short courses.
                for _ in 0..rng.random_range(1..4) {
                    let (drug, s) = SHORT[rng.random_range(0..SHORT.len())];
                    // New starts of varying length: fewer long first prescriptions once the program runs.
                    let day = d0 + rng.random_range(0..(d_end - d0 + 1));
                    let long = rng.random_bool(0.5 - 0.3 * effect(day));
                    let days = if long { rng.random_range(8..31u32) } else { rng.random_range(1..8u32) };
                    let qty = (days * rng.random_range(2..5u32)) as f64;
                    let release = if rng.random_bool(0.05) { "er" } else { "ir" };
                    rx_line(&mut w, &id, &pid, prescriber, day, drug, "oral", s, "mg", qty, days, release)?;
                    counts.prescriptions += 1;
                }
            } else if kind < 0.96 {
                // Buprenorphine for opioid use disorder.
                let mut day = d0 + rng.random_range(0..(d_end - d0 + 1));
                let stop = (day + rng.random_range(60..720)).min(d_end);
                while day <= stop {
                    rx_line(
                        &mut w,
                        &id,
                        &pid,
                        prescriber,
                        day,
                        "buprenorphine",
                        "sublingual",
                        8.0,
                        "mg",
                        60.0,
                        30,
                        "",
                    )?;
                    counts.prescriptions += 1;
                    day += 30;
                }
            } else {
                // Benzodiazepine only.
                let b = BENZOS[rng.random_range(0..BENZOS.len())];
                let day = d0 + rng.random_range(0..(d_end - d0 + 1));
                rx_line(&mut w, &id, &pid, prescriber, day, b, "oral", 0.5, "mg", 60.0, 30, "")?;
                counts.prescriptions += 1;
            }
        }
        if let Some(start) = program_start {
            // Milestones with realistic slippage.
            let lag: i32 = rng.random_range(0..40);
            for (b, name, off) in MILESTONES {
                let due = start + off;
                let r: f64 = rng.random();
                let completed = if r < 0.15 {
                    None
                } else if r < 0.35 {
                    Some(due - rng.random_range(1..30))
                } else {
                    Some(due + lag + rng.random_range(0..90))
                };
                let completed = completed.filter(|d| *d <= d_end);
                writeln!(w.ms, "{id},{b},{name},{},{}", fmt_day(due), completed.map(fmt_day).unwrap_or_default())
                    .map_err(io)?;
                counts.milestones += 1;
            }
            // Facilitation: kick-off, then visits and meetings for about 15 months.
            let mut fac = |w: &mut Writers, day: Day, act: &str, h: f64| -> Result<()> {
                if day <= d_end {
                    writeln!(w.fac, "{id},{facilitator},{},{act},{h}", fmt_day(day))
                        .map_err(|e| Error::io("cannot write", "facilitation.csv", e))?;
                    counts.facilitation += 1;
                }
                Ok(())
            };
            fac(&mut w, start, "kickoff", 4.0)?;
            let quiet = rng.random_bool(0.15);
            for k in 1..24 {
                let base = start + k * 30;
                if quiet && k > 8 {
                    break;
                }
                let intensity = if k <= 15 { 1.0 } else { 0.3 };
                if rng.random_bool(0.7 * intensity) {
                    fac(
                        &mut w,
                        base + rng.random_range(0..10),
                        "site_visit",
                        [1.5, 2.0, 2.5, 3.0][rng.random_range(0..4)],
                    )?;
                }
                if rng.random_bool(0.6 * intensity) {
                    fac(
                        &mut w,
                        base + rng.random_range(10..25),
                        "virtual_meeting",
                        [0.5, 1.0][rng.random_range(0..2)],
                    )?;
                }
                if k % 3 == 0 && rng.random_bool(0.8 * intensity) {
                    fac(&mut w, base + 15, "shared_learning", 1.5)?;
                }
                if rng.random_bool(0.25 * intensity) {
                    fac(&mut w, base + rng.random_range(0..28), "mentoring", 1.0)?;
                }
                if rng.random_bool(0.1) {
                    fac(&mut w, base + rng.random_range(0..28), "other", 0.5)?;
                }
            }
        }
    }
    if opts.bad_rows {
        write_bad_rows(&mut w, opts.end, &mut counts).map_err(io)?;
    }
    for f in [&mut w.clinics, &mut w.rx, &mut w.ev, &mut w.ms, &mut w.fac, &mut w.ex] {
        f.flush().map_err(io)?;
    }
    Ok(counts)
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
