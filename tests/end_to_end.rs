//! The batch end to end: hand-computed cells from a tiny fixture, the
//! output folder, reproducibility, failure safety, `--clinic`.

use crate::common::{cell, read_csv, repo, run_sample, sixbb, Fixture};
use sixbb::batch::{run_batch, RunOptions};

const RX: &str =
    "rx_id,clinic_id,patient_id,prescriber_id,written_date,drug,route,strength,strength_unit,quantity,days_supply
a1,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,30
a2,A,p1,d1,2024-05-01,oxycodone,oral,30,mg,31,31
a3,A,p1,d1,2024-06-01,oxycodone,oral,30,mg,30,30
b1,A,p2,d2,2024-04-01,morphine,oral,60,mg,60,30
b2,A,p2,d2,2024-05-01,morphine,oral,60,mg,62,31
b3,A,p2,d2,2024-06-01,morphine,oral,60,mg,60,30
b4,A,p2,d2,2024-06-30,alprazolam,oral,,,,30
c1,A,p3,d1,2023-12-01,hydrocodone,oral,10,mg,15,5
c2,B,p3,d9,2024-06-01,hydrocodone,oral,10,mg,90,30
d1,B,p4,d9,2024-06-10,buprenorphine,sublingual,8,mg,60,30
";
const EVENTS: &str = "clinic_id,patient_id,event_date,event_type
A,p1,2024-05-02,urine_drug_test
A,p1,2024-04-01,pdmp_check
A,p2,2024-01-15,naloxone
A,p2,2023-07-01,patient_agreement
A,p2,2024-06-30,functional_assessment
";
const MILESTONES: &str = "clinic_id,block,milestone,due_date,completed_date
A,1,Leadership commitment,2024-04-30,2024-04-30
A,1,Team formed,2024-05-15,2024-06-03
A,2,Agreement revised,2024-06-30,
A,3,Registry live,2024-07-15,2024-05-01
";
const FAC: &str = "clinic_id,facilitator_id,date,activity,hours
A,F1,2023-07-10,kickoff,4
A,F1,2024-06-30,site_visit,2.5
A,F1,2024-06-12,virtual_meeting,1
";

fn tiny() -> Fixture {
    Fixture::with(&[
        ("clinics.csv", crate::common::CLINICS),
        ("prescriptions.csv", RX),
        ("care_events.csv", EVENTS),
        ("milestones.csv", MILESTONES),
        ("facilitation.csv", FAC),
    ])
}

#[test]
fn clinic_month_cells_match_hand_computed_values() {
    let f = tiny();
    let out = sixbb().arg("run").arg(f.pipeline_path()).arg("--quiet").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let cm = f.out().join("metrics/clinic_month.csv");
    let (h, rows) = read_csv(&cm);
    assert_eq!(
        h.join(","),
        "clinic_id,month,opioid_patients,ltot_patients,mean_daily_mme,high_dose_50_n,high_dose_50_pct,high_dose_90_n,high_dose_90_pct,\
benzo_overlap_n,benzo_overlap_pct,agreement_n,agreement_pct,udt_n,udt_pct,pdmp_n,pdmp_pct,functional_n,functional_pct,\
naloxone_n,naloxone_pct,bup_patients,excluded_patients,sedative_overlap_n,sedative_overlap_pct,at_risk_patients,\
naloxone_at_risk_n,naloxone_at_risk_pct,new_starts,new_start_short_n,new_start_short_pct,new_start_long_n,\
new_start_long_pct,new_start_er_la_n,new_start_er_la_pct,new_start_high_dose_n,new_start_high_dose_pct,\
new_starts_3mo_ago,ltot_transition_n,ltot_transition_pct"
    );
    assert_eq!(rows.len(), 2 * 6, "every clinic × month, also empty ones");
    let a = |col: &str| cell(&cm, &["A", "2024-06"], col);
    // p1 (45 MME/day), p2 (120 MME/day) are LTOT; p3 is an opioid patient of A
    // through a December prescription written at A (attribution 365 days).
    assert_eq!(a("opioid_patients"), "3");
    assert_eq!(a("ltot_patients"), "2");
    assert_eq!(a("mean_daily_mme"), "82.5");
    assert_eq!((a("high_dose_50_n"), a("high_dose_50_pct")), ("1".into(), "50.0".into()));
    assert_eq!((a("high_dose_90_n"), a("high_dose_90_pct")), ("1".into(), "50.0".into()));
    // Alprazolam from June 30 overlaps morphine on exactly one day.
    assert_eq!(a("benzo_overlap_n"), "1");
    // The agreement of 2023-07-01 is 366 days before June 30: outside.
    assert_eq!(a("agreement_n"), "0");
    assert_eq!((a("udt_n"), a("udt_pct")), ("1".into(), "50.0".into()));
    // The PDMP check of 2024-04-01 is 91 days before June 30: outside.
    assert_eq!(a("pdmp_n"), "0");
    assert_eq!(a("functional_n"), "1");
    assert_eq!((a("naloxone_n"), a("naloxone_pct")), ("1".into(), "100.0".into()));
    assert_eq!(a("bup_patients"), "0");
    // May: window Mar 3 – May 31 holds 61 covered days: both LTOT.
    assert_eq!(cell(&cm, &["A", "2024-05"], "ltot_patients"), "2");
    assert_eq!(cell(&cm, &["A", "2024-03"], "opioid_patients"), "0");
    let b = |col: &str| cell(&cm, &["B", "2024-06"], col);
    assert_eq!(b("opioid_patients"), "1");
    assert_eq!(b("ltot_patients"), "0");
    assert_eq!(b("mean_daily_mme"), "");
    assert_eq!(b("high_dose_50_pct"), "");
    assert_eq!(b("bup_patients"), "1");

    let sm = f.out().join("metrics/study_month.csv");
    assert_eq!(cell(&sm, &["intervention", "2024-06"], "clinics"), "1");
    assert_eq!(cell(&sm, &["intervention", "2024-06"], "mean_daily_mme"), "82.5");
    assert_eq!(cell(&sm, &["intervention", "2024-06"], "high_dose_50_pct_median"), "50.0");
    assert_eq!(cell(&sm, &["comparison", "2024-06"], "opioid_patients"), "1");
    assert_eq!(cell(&sm, &["comparison", "2024-06"], "high_dose_50_pct_median"), "");
    assert!(f.out().join("metrics/clinic_month.parquet").exists());
}

#[test]
fn fidelity_cells_match_hand_computed_values() {
    let f = tiny();
    run_batch(&f.config(), &RunOptions::default()).unwrap();
    let fm = f.out().join("metrics/fidelity_clinic_month.csv");
    let a = |m: &str, col: &str| cell(&fm, &["A", m], col);
    // June: 4 milestones; due by June 30: 3; done by June 30: 3 (one early, before due).
    assert_eq!(a("2024-06", "milestones_total"), "4");
    assert_eq!(a("2024-06", "milestones_due"), "3");
    assert_eq!(a("2024-06", "milestones_done"), "3");
    // On time: completed by its due date: the April one (same day) and the early registry.
    assert_eq!(a("2024-06", "milestones_done_on_time"), "2");
    assert_eq!(a("2024-06", "milestones_overdue"), "1");
    // May: due 2 (Apr 30, May 15), done 2 (Apr 30, registry May 1), overdue 1 (May 15).
    assert_eq!(a("2024-05", "milestones_due"), "2");
    assert_eq!(a("2024-05", "milestones_done"), "2");
    assert_eq!(a("2024-05", "milestones_overdue"), "1");
    // Facilitation on the last day of the month counts in that month.
    assert_eq!(a("2024-06", "facilitation_hours"), "3.5");
    assert_eq!(a("2024-06", "facilitation_contacts"), "2");
    assert_eq!(a("2024-06", "hours_site_visit"), "2.5");
    assert_eq!(a("2024-06", "facilitation_hours_cum"), "7.5");
    assert_eq!(a("2024-06", "phase"), "design_implement");
    assert_eq!(a("2024-06", "program_month"), "12");
    assert_eq!(cell(&fm, &["B", "2024-06"], "phase"), "comparison");
    assert_eq!(cell(&fm, &["B", "2024-06"], "milestones_total"), "0");
    let fb = f.out().join("metrics/fidelity_block.csv");
    assert_eq!(cell(&fb, &["A", "2024-06", "1"], "milestones_done"), "2");
    assert_eq!(cell(&fb, &["A", "2024-06", "2"], "milestones_overdue"), "1");
    assert!(f.out().join("metrics/fidelity_flags.csv").exists());
    assert!(f.out().join("metrics/fidelity_study_month.csv").exists());
}

#[test]
fn cdc_2016_table_changes_methadone() {
    let f = Fixture::new();
    // Methadone 10 mg × 90 / 30 = 30 mg/day: 2022 → 141; 2016 tier ×8 → 240.
    f.write("prescriptions.csv", "rx_id,clinic_id,patient_id,prescriber_id,written_date,drug,route,strength,strength_unit,quantity,days_supply\nm1,A,p1,d1,2024-04-01,methadone,oral,10,mg,90,30\nm2,A,p1,d1,2024-05-01,methadone,oral,10,mg,93,31\nm3,A,p1,d1,2024-06-01,methadone,oral,10,mg,90,30\n");
    run_batch(&f.config(), &RunOptions::default()).unwrap();
    assert_eq!(cell(&f.out().join("metrics/clinic_month.csv"), &["A", "2024-06"], "mean_daily_mme"), "141.0");
    f.pipeline("[data]\nfolder = \"../data\"\n[report]\nmonth = \"2024-06\"\nlookback_months = 6\n[metrics]\nmme_table = \"cdc-2016\"\n[output]\nfolder = \"../out2\"\n");
    run_batch(&f.config(), &RunOptions::default()).unwrap();
    assert_eq!(cell(&f.path().join("out2/metrics/clinic_month.csv"), &["A", "2024-06"], "mean_daily_mme"), "240.0");
}

#[test]
fn a_failed_run_leaves_no_output_folder() {
    let f = tiny();
    let opts = RunOptions { fail_after_metrics: true, ..Default::default() };
    assert!(run_batch(&f.config(), &opts).is_err());
    assert!(!f.out().exists());
    let leftovers: Vec<_> = std::fs::read_dir(f.path().join("out")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_existing_output_is_replaced_only_with_force() {
    let f = tiny();
    run_batch(&f.config(), &RunOptions::default()).unwrap();
    assert!(run_batch(&f.config(), &RunOptions::default()).is_err());
    run_batch(&f.config(), &RunOptions { force: true, ..Default::default() }).unwrap();
}

#[test]
fn clinic_option_restricts_reports_but_not_metrics() {
    let f = tiny();
    run_batch(&f.config(), &RunOptions { clinics: vec!["B".into()], ..Default::default() }).unwrap();
    let mut pdfs: Vec<String> = std::fs::read_dir(f.out().join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    pdfs.sort();
    assert_eq!(
        pdfs,
        vec!["clinic-B.pdf", "facilitator-F1.pdf", "facilitator-unassigned.pdf", "study.pdf", "worklist-B.pdf"]
    );
    let (_, rows) = read_csv(&f.out().join("metrics/clinic_month.csv"));
    assert!(rows.iter().any(|r| r[0] == "A"));
}

fn output_hashes(dir: &std::path::Path) -> Vec<(String, String)> {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    m["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["path"].as_str().unwrap().to_string(), o["sha256"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn the_sample_run_twice_gives_identical_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let p = repo().join("pipelines/monthly.toml");
    let mut hashes = Vec::new();
    for k in 0..2 {
        let out = tmp.path().join(format!("run{k}"));
        let o = sixbb()
            .arg("run")
            .arg(&p)
            .arg("--out")
            .arg(&out)
            .arg("--quiet")
            .arg("--jobs")
            .arg(if k == 0 { "1" } else { "2" })
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "the sample holds deliberately bad rows: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        hashes.push(output_hashes(&out));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(m["inputs"].as_array().unwrap().len(), 6, "five tables and exclusions");
        assert!(m["inputs"][0]["sha256"].as_str().unwrap().len() == 64);
        assert!(m["timings"].is_array());
    }
    assert!(hashes[0].iter().any(|(p, _)| p.ends_with("study.pdf")));
    assert!(hashes[0].iter().filter(|(p, _)| p.starts_with("reports/clinic-")).count() >= 8);
    assert_eq!(hashes[0], hashes[1]);
}

#[test]
fn shards_merged_equal_the_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let p = repo().join("pipelines/monthly.toml");
    let run = |out: &std::path::Path, shard: Option<&str>| {
        let mut c = sixbb();
        c.arg("run").arg(&p).arg("--out").arg(out).arg("-q");
        if let Some(s) = shard {
            c.arg("--shard").arg(s);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let whole = tmp.path().join("whole");
    run(&whole, None);
    let shards: Vec<std::path::PathBuf> = (1..=3).map(|i| tmp.path().join(format!("shard{i}"))).collect();
    for (i, s) in shards.iter().enumerate() {
        run(s, Some(&format!("{}/3", i + 1)));
    }
    // Each shard rendered only its own clinics.
    let counts: Vec<usize> = shards
        .iter()
        .map(|s| {
            std::fs::read_dir(s.join("reports"))
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("clinic-"))
                .count()
        })
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 8);
    let merged = tmp.path().join("merged");
    let o = sixbb().arg("merge").args(&shards).arg("--out").arg(&merged).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(output_hashes(&merged), output_hashes(&whole));
    // A shard given twice is refused.
    let o =
        sixbb().arg("merge").arg(&shards[0]).arg(&shards[0]).arg("--out").arg(tmp.path().join("bad")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn shard_assignment_is_stable_by_clinic_id() {
    use sixbb::batch::{parse_shard, shard_of};
    assert_eq!(parse_shard("2/4"), Some((2, 4)));
    assert_eq!(parse_shard("0/4"), None);
    assert_eq!(parse_shard("5/4"), None);
    // FNV-1a of the id modulo N, plus 1 (worked out independently): the shard
    // depends on the id alone, not on the other clinics.
    assert_eq!([shard_of("C0001", 8), shard_of("C0002", 8), shard_of("C0999", 8)], [6, 5, 8]);
    assert_eq!([shard_of("C0001", 3), shard_of("C0002", 3), shard_of("C0999", 3)], [1, 1, 2]);
    assert_eq!(shard_of("C0001", 1), 1);
}

#[test]
fn outcome_models_with_too_few_clinics_say_not_estimable() {
    let f = tiny();
    run_batch(&f.config(), &RunOptions::default()).unwrap();
    let text = std::fs::read_to_string(f.out().join("metrics/outcomes.csv")).unwrap();
    assert!(text.starts_with("outcome,model,term,estimate,se,ci_low,ci_high,p,n_clinics,n_months"));
    assert!(text.lines().skip(1).all(|l| l.contains("not estimable")), "{text}");
    assert!(!text.to_lowercase().contains("nan"));
}

#[test]
fn mme_command_prints_the_daily_mme() {
    let o = sixbb()
        .args(["mme", "--drug", "OxyContin", "--strength", "30", "--quantity", "30", "--days-supply", "30"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "brand names are not ingredients");
    let o = sixbb()
        .args(["mme", "--drug", "oxycodone", "--strength", "30", "--quantity", "30", "--days-supply", "30"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "45");
    let o = sixbb()
        .args([
            "mme",
            "--drug",
            "methadone",
            "--strength",
            "10",
            "--quantity",
            "90",
            "--days-supply",
            "30",
            "--table",
            "cdc-2016",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "240");
    let o = sixbb()
        .args([
            "mme",
            "--drug",
            "fentanyl",
            "--route",
            "transdermal",
            "--unit",
            "mcg/hr",
            "--strength",
            "100",
            "--quantity",
            "10",
            "--days-supply",
            "30",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "240");
}

/// The sample's metrics files, committed: every later change that moves a
/// value shows up here (regenerate the files on purpose, and say why).
#[test]
fn sample_metrics_equal_the_golden_files() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run_sample(&out, &["--quiet", "--no-worklists"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let golden = repo().join("tests/golden");
    let mut n = 0;
    for e in std::fs::read_dir(&golden).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let folder =
            if ["issues.csv", "extract_checks.csv"].contains(&name.as_str()) { "data_quality" } else { "metrics" };
        let produced = out.join(folder).join(&name);
        let want = std::fs::read_to_string(e.path()).unwrap();
        let got = std::fs::read_to_string(&produced).unwrap_or_else(|e| panic!("{}: {e}", produced.display()));
        for (i, (a, b)) in want.lines().zip(got.lines()).enumerate() {
            assert_eq!(a, b, "{name}, line {}", i + 1);
        }
        assert_eq!(want.lines().count(), got.lines().count(), "{name}");
        n += 1;
    }
    assert_eq!(n, 12);
}

#[test]
fn synth_is_deterministic_and_only_its_deliberate_bad_rows_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = |dir: &str, bad: bool| {
        let mut c = sixbb();
        c.args(["synth", "--clinics", "3", "--months", "24", "--seed", "11", "--patients", "30", "--out"])
            .arg(tmp.path().join(dir));
        if bad {
            c.arg("--with-bad-rows");
        }
        assert!(c.output().unwrap().status.success());
    };
    gen("a", false);
    gen("b", false);
    for t in ["clinics", "prescriptions", "care_events", "milestones", "facilitation", "exclusions"] {
        let f = |d: &str| std::fs::read(tmp.path().join(d).join(format!("{t}.csv"))).unwrap();
        assert_eq!(f("a"), f("b"), "{t}.csv differs between two runs with one seed");
    }
    let validate = |dir: &str| {
        let p = tmp.path().join(format!("{dir}.toml"));
        std::fs::write(&p, format!("[data]\nfolder = \"{dir}\"\n[report]\nmonth = \"2024-06\"\n")).unwrap();
        sixbb::ingest::validate(&sixbb::config::Config::load(&p, &Default::default()).unwrap()).unwrap()
    };
    assert_eq!(validate("a").summary.rejected(), 0, "every generated row is valid");
    gen("c", true);
    // The deliberate bad rows: 1 clinic, 12 prescriptions, 1 care event, 1 milestone, 2 facilitation, 3 exclusions.
    assert_eq!(validate("c").summary.rejected(), 20);
}

#[test]
fn months_and_mme_tables_are_checked_by_the_command_line() {
    let o = sixbb().args(["run", "p.toml", "--month", "June"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected a month YYYY-MM"));
    let o = sixbb()
        .args(["mme", "--drug", "oxycodone", "--strength", "5", "--quantity", "30", "--days-supply", "30"])
        .args(["--table", "cdc-2099"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values: cdc-2022, cdc-2016"));
    let o = sixbb().args(["synth", "--end", "2024-13", "--out", "x"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn an_io_error_prints_its_os_message_once_with_the_command_as_context() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-shard");
    let o = sixbb().arg("merge").arg(&missing).arg("--out").arg(tmp.path().join("m")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: sixbb merge: cannot read "), "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}
