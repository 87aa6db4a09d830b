//! Care-gap worklists against the clinic measures, empty lists, long lists.

use crate::common::{cell, read_csv, run_sample, Fixture};
use sixbb::batch::{run_batch, RunOptions};

#[test]
fn worklist_rows_and_gaps_match_clinic_month() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o");
    let o = run_sample(&out, &["-q"]);
    assert!(o.status.code() == Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let cm = out.join("metrics/clinic_month.csv");
    for (id, _) in [("C0001", 0), ("C0002", 0), ("C0005", 0), ("C0008", 0)] {
        let (h, rows) = read_csv(&out.join(format!("worklists/clinic-{id}.csv")));
        let n = |c: &str| cell(&cm, &[id, "2024-06"], c).parse::<usize>().unwrap();
        assert_eq!(rows.len(), n("ltot_patients"), "{id}");
        let gaps = h.iter().position(|c| c == "gaps").unwrap();
        let count = |g: &str| rows.iter().filter(|r| r[gaps].split(';').any(|x| x == g)).count();
        assert_eq!(count("udt"), n("ltot_patients") - n("udt_n"), "{id} udt");
        assert_eq!(count("agreement"), n("ltot_patients") - n("agreement_n"), "{id} agreement");
        assert_eq!(count("pdmp"), n("ltot_patients") - n("pdmp_n"), "{id} pdmp");
        assert_eq!(count("functional"), n("ltot_patients") - n("functional_n"), "{id} functional");
        assert_eq!(count("naloxone"), n("high_dose_50_n") - n("naloxone_n"), "{id} naloxone");
        assert_eq!(count("benzo_overlap"), n("benzo_overlap_n"), "{id} benzo");
        assert!(out.join(format!("reports/worklist-{id}.pdf")).exists());
    }
    let m = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(m.contains("worklists/clinic-C0001.csv"));
}

#[test]
fn a_clinic_without_ltot_patients_gets_an_empty_list_and_a_message() {
    let f = Fixture::new();
    run_batch(&f.config(), &RunOptions::default()).unwrap();
    let (h, rows) = read_csv(&f.out().join("worklists/clinic-B.csv"));
    assert!(h.contains(&"gaps".to_string()));
    assert!(rows.is_empty());
    let text =
        std::process::Command::new("pdftotext").arg(f.out().join("reports/worklist-B.pdf")).arg("-").output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("No patients met the long-term opioid therapy definition"));
}

#[test]
fn no_worklists_skips_them() {
    let f = Fixture::new();
    run_batch(&f.config(), &RunOptions { no_worklists: true, ..Default::default() }).unwrap();
    assert!(!f.out().join("worklists").exists());
    assert!(!f.out().join("reports/worklist-A.pdf").exists());
}

#[test]
fn a_list_of_200_patients_breaks_across_pages_with_the_header_repeated() {
    let f = Fixture::new();
    let mut rx = String::from("rx_id,clinic_id,patient_id,prescriber_id,written_date,drug,route,strength,strength_unit,quantity,days_supply\n");
    for p in 0..200 {
        rx.push_str(&format!("r{p},A,q{p:03},d{},2024-04-01,oxycodone,oral,{},mg,91,91\n", p % 7, 5 + (p % 9) * 5));
    }
    f.write("prescriptions.csv", &rx);
    run_batch(&f.config(), &RunOptions::default()).unwrap();
    let (_, rows) = read_csv(&f.out().join("worklists/clinic-A.csv"));
    assert_eq!(rows.len(), 200);
    let pdf = f.out().join("reports/worklist-A.pdf");
    let text = String::from_utf8_lossy(
        &std::process::Command::new("pdftotext").arg("-layout").arg(&pdf).arg("-").output().unwrap().stdout,
    )
    .to_string();
    let pages: Vec<&str> = text.split('\u{c}').filter(|p| !p.trim().is_empty()).collect();
    assert!(pages.len() >= 3, "{} pages", pages.len());
    for p in &pages[..pages.len() - 1] {
        assert!(p.contains("Active opioids"), "header repeated on every page");
    }
    assert!(text.contains("q000") && text.contains("q199"));
    assert!(!text.contains("Birch Primary Care"), "no other clinic named");
}
