//! SPEC §6: exclusions, new starts, sedatives, naloxone at risk, trends,
//! benchmarks, targets, the patient-month file, facilitators, and the safety
//! fixes of the hostile test (issue 15).

use crate::common::{cell, read_csv, sixbb, Fixture};
use sixbb::batch::{run_batch, RunOptions};
use sixbb::ingest::issues::issues_csv;
use sixbb::ingest::validate;

const RX: &str = "rx_id,clinic_id,patient_id,prescriber_id,written_date,drug,route,strength,strength_unit,quantity,days_supply,release
a1,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,30,ER
a2,A,p1,d1,2024-05-01,oxycodone,oral,30,mg,31,31,er
a3,A,p1,d1,2024-06-01,oxycodone,oral,30,mg,30,30,
b1,A,p2,d2,2024-04-01,morphine,oral,60,mg,60,30,ir
b2,A,p2,d2,2024-05-01,morphine,oral,60,mg,62,31,
b3,A,p2,d2,2024-06-01,morphine,oral,60,mg,60,30,
b4,A,p2,d2,2024-06-30,gabapentin,,,,,30,
c1,A,p3,d1,2024-04-01,morphine,oral,60,mg,60,30,
c2,A,p3,d1,2024-05-01,morphine,oral,60,mg,62,31,
c3,A,p3,d1,2024-06-01,morphine,oral,60,mg,60,30,
e1,B,p5,d9,2024-06-03,hydrocodone,oral,10,mg,12,3,
e2,B,p6,d9,2024-06-05,methadone,oral,10,mg,30,10,
";
const EXCLUSIONS: &str = "patient_id,reason,start_date,end_date
p3,Cancer,2023-09-01,2023-12-31
p9,hospice,2024-01-01,
";

fn fixture() -> Fixture {
    Fixture::with(&[
        ("clinics.csv", crate::common::CLINICS),
        ("prescriptions.csv", RX),
        ("care_events.csv", crate::common::CARE_EVENTS),
        ("milestones.csv", crate::common::MILESTONES),
        ("facilitation.csv", crate::common::FACILITATION),
        ("exclusions.csv", EXCLUSIONS),
    ])
}

#[test]
fn new_columns_follow_bup_patients_in_spec_order_with_hand_computed_values() {
    let f = fixture();
    run_batch(&f.config(), &RunOptions { no_worklists: true, ..Default::default() }).unwrap();
    let cm = f.out().join("metrics/clinic_month.csv");
    let (h, _) = read_csv(&cm);
    let tail: Vec<&str> = h.iter().skip_while(|c| *c != "bup_patients").map(String::as_str).collect();
    assert_eq!(
        tail.join(","),
        "bup_patients,excluded_patients,sedative_overlap_n,sedative_overlap_pct,at_risk_patients,naloxone_at_risk_n,\
naloxone_at_risk_pct,new_starts,new_start_short_n,new_start_short_pct,new_start_long_n,new_start_long_pct,\
new_start_er_la_n,new_start_er_la_pct,new_start_high_dose_n,new_start_high_dose_pct,new_starts_3mo_ago,\
ltot_transition_n,ltot_transition_pct"
    );
    let v = |clinic: &str, month: &str, col: &str| cell(&cm, &[clinic, month], col);
    // June at A: p1 (45 MME) and p2 (120 MME) on LTOT; p3 excluded (cancer ended 2023-12-31, within 365 days).
    assert_eq!(v("A", "2024-06", "ltot_patients"), "2");
    assert_eq!(v("A", "2024-06", "excluded_patients"), "1");
    assert_eq!(v("A", "2024-06", "opioid_patients"), "2");
    assert_eq!(v("A", "2024-06", "sedative_overlap_n"), "1");
    assert_eq!(v("A", "2024-06", "sedative_overlap_pct"), "50.0");
    assert_eq!(v("A", "2024-06", "at_risk_patients"), "1", "p2 at 120 MME/day; gabapentin is not a benzodiazepine");
    // April at A: p1 and p2 start (no opioid in the 90 days before); p1's start is ER, p2's is ≥ 50 MME/day.
    assert_eq!(v("A", "2024-04", "new_starts"), "2");
    assert_eq!(v("A", "2024-04", "new_start_long_n"), "2");
    assert_eq!(v("A", "2024-04", "new_start_er_la_n"), "1");
    assert_eq!(v("A", "2024-04", "new_start_high_dose_n"), "1");
    // June at B: 3-day hydrocodone start (short) and methadone (long-acting whatever the column says).
    assert_eq!(v("B", "2024-06", "new_starts"), "2");
    assert_eq!(v("B", "2024-06", "new_start_short_n"), "1");
    assert_eq!(v("B", "2024-06", "new_start_er_la_n"), "1");
    assert_eq!(v("B", "2024-06", "new_start_long_n"), "1");
    // The new starts of March are none; April's are counted three months later, in July (outside the window).
    assert_eq!(v("A", "2024-06", "new_starts_3mo_ago"), "0");
    assert_eq!(v("A", "2024-06", "ltot_transition_pct"), "");
}

#[test]
fn patient_month_sums_give_clinic_month_counts() {
    use polars::prelude::*;
    let f = fixture();
    run_batch(&f.config(), &RunOptions { no_worklists: true, ..Default::default() }).unwrap();
    let p = f.out().join("metrics/patient_month.parquet");
    let df = ParquetReader::new(std::fs::File::open(&p).unwrap()).finish().unwrap();
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(
        names.join(","),
        "patient_id,clinic_id,month,opioid,ltot,excluded,bup,ltot_days,daily_mme,high_dose_50,high_dose_90,\
benzo_days,sedative_days,agreement,udt,pdmp,functional,naloxone,new_start"
    );
    let cm = f.out().join("metrics/clinic_month.csv");
    let b = |c: &str| df.column(c).unwrap().bool().unwrap().clone();
    let (clinic, month) =
        (df.column("clinic_id").unwrap().str().unwrap().clone(), df.column("month").unwrap().str().unwrap().clone());
    for (c, m) in [("A", "2024-04"), ("A", "2024-06"), ("B", "2024-06")] {
        let (mut opioid, mut ltot, mut excluded, mut hd50, mut ns) = (0, 0, 0, 0, 0);
        for i in 0..df.height() {
            if clinic.get(i) != Some(c) || month.get(i) != Some(m) {
                continue;
            }
            let ex = b("excluded").get(i).unwrap();
            opioid += (b("opioid").get(i).unwrap() && !ex) as u32;
            ltot += (b("ltot").get(i).unwrap() && !ex) as u32;
            excluded += (b("opioid").get(i).unwrap() && ex) as u32;
            hd50 += (b("ltot").get(i).unwrap() && b("high_dose_50").get(i).unwrap() && !ex) as u32;
            ns += b("new_start").get(i).unwrap() as u32;
        }
        assert_eq!(opioid.to_string(), cell(&cm, &[c, m], "opioid_patients"), "{c} {m}");
        assert_eq!(ltot.to_string(), cell(&cm, &[c, m], "ltot_patients"), "{c} {m}");
        assert_eq!(excluded.to_string(), cell(&cm, &[c, m], "excluded_patients"), "{c} {m}");
        assert_eq!(hd50.to_string(), cell(&cm, &[c, m], "high_dose_50_n"), "{c} {m}");
        assert_eq!(ns.to_string(), cell(&cm, &[c, m], "new_starts"), "{c} {m}");
    }
}

#[test]
fn trends_benchmarks_and_facilitators_are_written() {
    let f = fixture();
    f.write("targets.csv", "clinic_id,measure,target\nA,high_dose_90_pct,40\nA,udt_pct,150\nZ,udt_pct,50\nA,high_dose_90_pct,30\nA,udt_n,3\n");
    f.pipeline("[data]\nfolder = \"../data\"\n[report]\nmonth = \"2024-06\"\nlookback_months = 6\nmin_cell = 0\nmin_peer_clinics = 1\n[targets]\nhigh_dose_90_pct = 10\nmean_daily_mme = 90\n[output]\nfolder = \"../out/{month}\"\n");
    let o = run_batch(&f.config(), &RunOptions { no_worklists: true, ..Default::default() }).unwrap();
    assert_eq!(o.rejected_rows, 4);
    let t = f.out().join("metrics/clinic_trends.csv");
    let (h, rows) = read_csv(&t);
    assert_eq!(
        h.join(","),
        "clinic_id,measure,direction,n,d,value,n_3mo,d_3mo,value_3mo,value_3mo_prior_year,change_12mo,signal,\
slope_12mo,baseline,change_since_baseline,benchmark,target,meets_target,meets_benchmark"
    );
    assert_eq!(rows.len(), 2 * 16);
    let v = |m: &str, col: &str| cell(&t, &["A", m], col);
    // June at A: 1 of 2 LTOT patients at ≥ 90; the clinic's own target 40 overrides the pipeline's 10.
    assert_eq!((v("high_dose_90_pct", "n").as_str(), v("high_dose_90_pct", "d").as_str()), ("1", "2"));
    assert_eq!(v("high_dose_90_pct", "value"), "50.0");
    assert_eq!(v("high_dose_90_pct", "direction"), "lower");
    assert_eq!(v("high_dose_90_pct", "target"), "40.0");
    assert_eq!(v("high_dose_90_pct", "meets_target"), "false");
    assert_eq!(v("udt_pct", "direction"), "higher");
    assert_eq!(v("udt_pct", "target"), "");
    assert_eq!(v("mean_daily_mme", "n"), "");
    assert_eq!(v("mean_daily_mme", "value"), "82.5");
    assert_eq!(v("mean_daily_mme", "meets_target"), "true");
    assert_eq!(v("mean_daily_mme", "signal"), "");
    // Three months pooled: April–June, 2 LTOT patients in May and June only (April has 30 days of 90).
    assert_eq!(v("high_dose_90_pct", "d_3mo"), "4");
    assert_eq!(v("high_dose_90_pct", "signal"), "too_few", "no data a year before");
    let b = f.out().join("metrics/benchmarks.csv");
    let (h, rows) = read_csv(&b);
    assert_eq!(h.join(","), "month,measure,benchmark,clinics,d");
    assert_eq!(rows.len(), 6 * 15);
    let fm = f.out().join("metrics/facilitator_month.csv");
    let (h, rows) = read_csv(&fm);
    assert_eq!(
        h.join(","),
        "facilitator_id,month,clinics,intervention_clinics,hours,contacts,clinics_without_contact_60d,\
milestones_overdue,clinics_with_overdue_milestone"
    );
    assert_eq!(rows.len(), 2 * 6);
    assert_eq!(cell(&fm, &["F1", "2024-06"], "clinics_without_contact_60d"), "1");
    assert_eq!(cell(&fm, &["unassigned", "2024-06"], "clinics"), "1");
    let issues = std::fs::read_to_string(f.out().join("data_quality/issues.csv")).unwrap();
    for line in [
        "targets,2,target,150,target_range,error,rejected",
        "targets,3,clinic_id,Z,unknown_clinic,error,rejected",
        "targets,4,measure,high_dose_90_pct,duplicate_target,error,rejected",
        "targets,5,measure,udt_n,unknown_measure,error,rejected",
    ] {
        assert!(issues.lines().any(|l| l == line), "{line} in\n{issues}");
    }
}

#[test]
fn new_bad_rows_are_listed_with_their_rules() {
    let f = fixture();
    f.append(
        "prescriptions.csv",
        "x1,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,30,xr\nx2,A,p1,d1,2024-04-01,zolpidem,intravenous,,,,30,\n",
    );
    f.append(
        "exclusions.csv",
        "p1,gout,2024-01-01,\np1,hospice,2024-03-01,2024-02-01\np1,palliative,,\np1,hospice,2024-07-02,\n",
    );
    let v = validate(&f.config()).unwrap();
    let c = issues_csv(&v.issues);
    for line in [
        "prescriptions,13,release,xr,unknown_release,error,rejected",
        "exclusions,3,reason,gout,unknown_exclusion_reason,error,rejected",
        "exclusions,4,end_date,2024-02-01,end_before_start,error,rejected",
        "exclusions,5,start_date,,missing_value,error,rejected",
        "exclusions,6,start_date,2024-07-02,after_report_month,info,after_report_month",
    ] {
        assert!(c.lines().any(|l| l == line), "{line} in\n{c}");
    }
    // A sedative's route is not checked (only ids, dates, drug, days_supply and release are).
    assert!(!c.contains("prescriptions,14,"), "{c}");
    let x = &v.summary.tables[&sixbb::config::TableName::Exclusions];
    assert_eq!((x.read, x.used, x.rejected, x.after_report_month), (6, 2, 3, 1));
}

#[test]
fn force_never_replaces_a_folder_that_is_not_a_sixbb_output() {
    let f = fixture();
    let run = |out: &std::path::Path| {
        sixbb().arg("run").arg(f.pipeline_path()).arg("--out").arg(out).arg("--force").arg("--quiet").output().unwrap()
    };
    // The data folder (holds the inputs), the study folder (holds the pipeline) and `.`.
    for out in [f.path().join("data"), f.path().to_path_buf(), f.path().join("pipelines/..")] {
        let o = run(&out);
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(f.path().join("data/prescriptions.csv").exists());
        assert!(f.pipeline_path().exists());
    }
    let o = sixbb()
        .current_dir(f.path())
        .args(["run", "pipelines/p.toml", "--out", ".", "--force", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(f.path().join("data/clinics.csv").exists());
    // A folder of someone else's files is refused; an empty one and an earlier run are replaced.
    let other = f.path().join("notes");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("todo.txt"), "keep me").unwrap();
    let o = run(&other);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a sixbb output"));
    assert_eq!(std::fs::read_to_string(other.join("todo.txt")).unwrap(), "keep me");
    let empty = f.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert_eq!(run(&empty).status.code(), Some(0));
    assert_eq!(run(&empty).status.code(), Some(0), "an earlier sixbb run is replaced");
    assert!(empty.join("manifest.json").exists());
    let leftovers: Vec<String> = std::fs::read_dir(f.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn camel_case_identifier_columns_stop_the_run() {
    for col in ["PatientName", "PhoneNumber", "SSN#", "pt.name"] {
        let f = fixture();
        let text = crate::common::CARE_EVENTS.replacen("event_type", &format!("event_type,{col}"), 1).replacen(
            "urine_drug_test",
            "urine_drug_test,x",
            1,
        );
        f.write("care_events.csv", &text);
        let o = sixbb().arg("run").arg(f.pipeline_path()).arg("--quiet").output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{col}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(col), "{col}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!f.out().exists());
    }
}

#[test]
fn formula_like_ids_are_defused_in_csv_outputs() {
    let f = fixture();
    f.write(
        "clinics.csv",
        &crate::common::CLINICS.replace("\nB,", "\n=HYPERLINK(1),").replace(",Alder Family", ",=Alder Family"),
    );
    f.write("prescriptions.csv", &RX.replace(",B,", ",=HYPERLINK(1),"));
    run_batch(&f.config(), &RunOptions { no_worklists: true, ..Default::default() }).unwrap();
    let text = std::fs::read_to_string(f.out().join("metrics/clinic_month.csv")).unwrap();
    assert!(text.contains("\n'=HYPERLINK(1),2024-06,"), "{text}");
    assert!(!text.contains("\n=HYPERLINK"), "{text}");
}

#[test]
fn disabled_exclusions_sedatives_and_release_leave_the_version_1_columns_unchanged() {
    // The same study with and without the new inputs: an exclusions table whose
    // reasons are all switched off, a release column and sedative rows.
    let plain = Fixture::with(&[
        ("clinics.csv", crate::common::CLINICS),
        ("prescriptions.csv", &strip_v2(RX)),
        ("care_events.csv", crate::common::CARE_EVENTS),
        ("milestones.csv", crate::common::MILESTONES),
        ("facilitation.csv", crate::common::FACILITATION),
    ]);
    let v2 = fixture();
    v2.pipeline("[data]\nfolder = \"../data\"\n[report]\nmonth = \"2024-06\"\nlookback_months = 6\n[metrics]\nexclusion_reasons = []\n[output]\nfolder = \"../out/{month}\"\n");
    for f in [&plain, &v2] {
        run_batch(&f.config(), &RunOptions { no_worklists: true, ..Default::default() }).unwrap();
    }
    for file in ["clinic_month.csv", "study_month.csv"] {
        let (h1, r1) = read_csv(&plain.out().join("metrics").join(file));
        let (h2, r2) = read_csv(&v2.out().join("metrics").join(file));
        let end = h1.iter().position(|c| c == "bup_patients").unwrap();
        assert_eq!(h1, h2);
        assert_eq!(r1.len(), r2.len());
        for (a, b) in r1.iter().zip(&r2) {
            assert_eq!(a[..=end], b[..=end], "{file}");
        }
    }
}

/// The prescriptions without the release column and the sedative row.
fn strip_v2(rx: &str) -> String {
    rx.lines().filter(|l| !l.contains("gabapentin")).map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect()
}

#[test]
fn clinic_report_page_one_says_direction_signal_target_and_next_steps() {
    let f = fixture();
    f.pipeline("[data]\nfolder = \"../data\"\n[report]\nmonth = \"2024-06\"\nlookback_months = 6\nmin_cell = 0\nmin_peer_clinics = 1\n[targets]\nhigh_dose_90_pct = 60\nudt_pct = 80\n[output]\nfolder = \"../out/{month}\"\n");
    run_batch(&f.config(), &RunOptions { no_worklists: true, ..Default::default() }).unwrap();
    let o = std::process::Command::new("pdftotext")
        .arg(f.out().join("reports/clinic-A.pdf"))
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    let page1 = text.split("This month at a glance").next().unwrap();
    for words in ["Where you stand", "Better", "lower", "higher", "too few patients to tell", "What to do next"] {
        assert!(page1.contains(words), "{words} in {page1}");
    }
    // June at A: 1 of 2 LTOT patients at ≥ 90 (50%, target 60: met); UDT 0 of 2 (target 80: not met).
    assert!(page1.contains("60.0% (met)"), "{page1}");
    assert!(page1.contains("80.0% (not met)"), "{page1}");
    // The one urine drug test (p1, May 2) is in the 365 days: 1 of the 2 LTOT patients has none.
    assert!(page1.contains("1 patient on long-term opioids has had no urine drug test in 12 months"), "{page1}");
    assert!(page1.contains("2 patients on long-term opioids have no patient agreement in 12 months"), "{page1}");
    assert!(page1.contains("Targets in force"), "{page1}");
}

#[test]
fn strict_extracts_stops_a_flagged_month_and_validate_names_the_clinic() {
    let f = fixture();
    // Both clinics have prescriptions up to June (A June 30, B June 5); for a report month of
    // August both are late.
    let o = sixbb().arg("validate").arg(f.pipeline_path()).args(["--month", "2024-08"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("A prescriptions: late") && out.contains("B prescriptions: late"), "{out}");
    let o = sixbb()
        .arg("run")
        .arg(f.pipeline_path())
        .args(["--month", "2024-08", "--strict-extracts", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("late"));
    assert!(!f.path().join("out/2024-08").exists());
    // Without --strict-extracts the run writes the checks and says so in the clinic report.
    let o = sixbb().arg("run").arg(f.pipeline_path()).args(["--month", "2024-08", "--quiet"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let checks = f.path().join("out/2024-08/data_quality/extract_checks.csv");
    assert_eq!(cell(&checks, &["A", "prescriptions", "2024-08"], "check"), "late");
    assert_eq!(
        cell(&checks, &["A", "prescriptions", "2024-08"], "data_through"),
        "2024-06-30",
        "the gabapentin of June 30 counts"
    );
    assert_eq!(cell(&checks, &["A", "prescriptions", "2024-06"], "rows"), "4");
    let text = std::process::Command::new("pdftotext")
        .arg(f.path().join("out/2024-08/reports/clinic-A.pdf"))
        .arg("-")
        .output()
        .expect("pdftotext");
    let text = String::from_utf8_lossy(&text.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("Data through 2024-06-30"), "{text}");
    assert!(text.contains("The latest prescription is from 2024-06-30"), "{text}");
}

#[test]
fn peer_figures_need_min_peer_clinics_with_enough_patients() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("p.toml");
    let data = crate::common::repo().join("data-samples");
    let pipeline = |peers: u32| {
        format!(
            "[data]\nfolder = \"{}\"\n[report]\nmonth = \"2024-06\"\nmin_peer_clinics = {peers}\n[output]\nfolder = \"out-{peers}\"\n",
            data.display()
        )
    };
    let text_of = |peers: u32| {
        std::fs::write(&p, pipeline(peers)).unwrap();
        let o = sixbb()
            .arg("run")
            .arg(&p)
            .args(["--quiet", "--no-worklists", "--no-facilitator-reports"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
        let pdf = tmp.path().join(format!("out-{peers}/reports/clinic-C0001.pdf"));
        let o = std::process::Command::new("pdftotext").arg(&pdf).arg("-").output().expect("pdftotext");
        String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(" ")
    };
    // A "middle half" range prints as two numbers around an en dash (41.2–63.7).
    let ranges = |t: &str| {
        let c: Vec<char> = t.chars().collect();
        (1..c.len().saturating_sub(1))
            .filter(|&i| c[i] == '–' && c[i - 1].is_ascii_digit() && c[i + 1].is_ascii_digit())
            .count()
    };
    // The sample has 8 clinics: asking for 9 peers leaves every comparison out.
    let none = text_of(9);
    // (The phrase wraps in its cell; pdftotext may read the next cell between its lines.)
    assert!(none.contains("too few clinics"), "{none}");
    assert_eq!(ranges(&none), 0, "{none}");
    // With the default 5, the clinics with at least 11 patients in the measure are compared.
    let some = text_of(5);
    assert!(ranges(&some) > 0, "{some}");
}
