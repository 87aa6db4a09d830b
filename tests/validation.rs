//! Validation (SPEC §5): one test per rule, the identifier guard, fatal
//! errors, CSV and Parquet inputs, exit codes.

use crate::common::{sixbb, Fixture};
use sixbb::ingest::issues::issues_csv;
use sixbb::ingest::validate;

/// Append `row` to `table` and return issues.csv text.
fn issues_after(table: &str, row: &str) -> String {
    let f = Fixture::new();
    f.append(table, &format!("{row}\n"));
    let v = validate(&f.config()).unwrap();
    issues_csv(&v.issues)
}

fn assert_line(csv: &str, line: &str) {
    assert!(csv.lines().any(|l| l == line), "expected line\n  {line}\nin\n{csv}");
}

const RX: &str = "prescriptions.csv";

#[test]
fn missing_value_is_rejected() {
    let c = issues_after(RX, "r2,A,,d1,2024-04-01,oxycodone,oral,30,mg,30,30");
    assert_line(&c, "prescriptions,2,patient_id,,missing_value,error,rejected");
}

#[test]
fn unparseable_date_is_rejected() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-02-30,oxycodone,oral,30,mg,30,30");
    assert_line(&c, "prescriptions,2,written_date,2024-02-30,unparseable_date,error,rejected");
}

#[test]
fn unparseable_number_is_rejected() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,thirty,30");
    assert_line(&c, "prescriptions,2,quantity,thirty,unparseable_number,error,rejected");
}

#[test]
fn days_supply_outside_1_to_365_or_fractional_is_rejected() {
    for d in ["0", "366", "7.5"] {
        let c = issues_after(RX, &format!("r2,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,{d}"));
        assert_line(&c, &format!("prescriptions,2,days_supply,{d},days_supply_range,error,rejected"));
    }
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,365");
    assert!(!c.contains("days_supply_range"), "{c}");
}

#[test]
fn quantity_not_positive_is_rejected() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,-5,30");
    assert_line(&c, "prescriptions,2,quantity,-5,quantity_not_positive,error,rejected");
}

#[test]
fn strength_not_positive_is_rejected() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,oxycodone,oral,0,mg,30,30");
    assert_line(&c, "prescriptions,2,strength,0,strength_not_positive,error,rejected");
}

#[test]
fn unknown_drug_is_a_data_issue_not_a_zero() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,melatonin,oral,3,mg,30,30");
    assert_line(&c, "prescriptions,2,drug,melatonin,unknown_drug,error,rejected");
}

#[test]
fn unknown_route_is_rejected() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,morphine,intravenous,15,mg,60,30");
    assert_line(&c, "prescriptions,2,route,intravenous,unknown_route,error,rejected");
}

#[test]
fn unknown_strength_unit_is_rejected() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,morphine,oral,15,tablet,60,30");
    assert_line(&c, "prescriptions,2,strength_unit,tablet,unknown_strength_unit,error,rejected");
}

#[test]
fn drug_route_unit_without_factor_is_rejected() {
    let c = issues_after(RX, "r2,A,p1,d1,2024-04-01,fentanyl,oral,50,mg/ml,10,30");
    assert_line(&c, "prescriptions,2,drug,fentanyl oral mg/ml,no_mme_factor,error,rejected");
}

#[test]
fn benzodiazepine_and_buprenorphine_need_no_strength() {
    let c = issues_after(
        RX,
        "r2,A,p1,d1,2024-04-01,Alprazolam,,,,,30\nr3,A,p2,d1,2024-04-01,buprenorphine,sublingual,,,,30",
    );
    assert_eq!(c.lines().count(), 1, "{c}");
}

#[test]
fn unknown_clinic_is_rejected() {
    let c = issues_after(RX, "r2,C9,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,30");
    assert_line(&c, "prescriptions,2,clinic_id,C9,unknown_clinic,error,rejected");
}

#[test]
fn duplicate_rx_id_keeps_the_first() {
    let f = Fixture::new();
    f.append(RX, "r1,A,p2,d1,2024-04-01,oxycodone,oral,30,mg,30,30\n");
    let v = validate(&f.config()).unwrap();
    assert_line(&issues_csv(&v.issues), "prescriptions,2,rx_id,r1,duplicate_rx_id,error,rejected");
    assert_eq!(v.data.prescriptions.len(), 1);
    assert_eq!(v.data.patients.name(v.data.prescriptions[0].patient), "p1");
}

#[test]
fn unknown_event_type_is_rejected() {
    let c = issues_after("care_events.csv", "A,p1,2024-05-02,colonoscopy");
    assert_line(&c, "care_events,2,event_type,colonoscopy,unknown_event_type,error,rejected");
}

#[test]
fn unknown_activity_is_rejected() {
    let c = issues_after("facilitation.csv", "A,F1,2024-01-10,lunch,1");
    assert_line(&c, "facilitation,2,activity,lunch,unknown_activity,error,rejected");
}

#[test]
fn hours_outside_0_to_24_are_rejected() {
    for h in ["0", "24.5", "-1"] {
        let c = issues_after("facilitation.csv", &format!("A,F1,2024-01-10,site_visit,{h}"));
        assert_line(&c, &format!("facilitation,2,hours,{h},hours_range,error,rejected"));
    }
    let c = issues_after("facilitation.csv", "A,F1,2024-01-10,site_visit,24");
    assert_eq!(c.lines().count(), 1, "{c}");
}

#[test]
fn block_outside_1_to_6_is_rejected() {
    let c = issues_after("milestones.csv", "A,7,Seventh,2024-01-01,");
    assert_line(&c, "milestones,2,block,7,block_range,error,rejected");
}

#[test]
fn unknown_arm_is_rejected() {
    let c = issues_after("clinics.csv", "C,Cedar Clinic,Org,control,urban,,");
    assert_line(&c, "clinics,3,arm,control,unknown_arm,error,rejected");
}

#[test]
fn unknown_rurality_is_rejected() {
    let c = issues_after("clinics.csv", "C,Cedar Clinic,Org,comparison,suburban,,");
    assert_line(&c, "clinics,3,rurality,suburban,unknown_rurality,error,rejected");
}

#[test]
fn duplicate_clinic_id_is_rejected() {
    let c = issues_after("clinics.csv", "A,Another Alder,Org,comparison,urban,,");
    assert_line(&c, "clinics,3,clinic_id,A,duplicate_clinic_id,error,rejected");
}

#[test]
fn intervention_clinic_without_program_start_is_rejected() {
    let c = issues_after("clinics.csv", "C,Cedar Clinic,Org,intervention,urban,F1,");
    assert_line(&c, "clinics,3,program_start,,missing_program_start,error,rejected");
}

#[test]
fn rows_after_the_report_month_are_listed_as_info() {
    let f = Fixture::new();
    f.append(RX, "r2,A,p1,d1,2024-07-01,oxycodone,oral,30,mg,30,30\n");
    f.append("care_events.csv", "A,p1,2024-07-02,pdmp_check\n");
    f.append("facilitation.csv", "A,F1,2024-07-03,site_visit,2\n");
    f.append("milestones.csv", "A,2,Agreement,2024-05-01,2024-07-04\n");
    let v = validate(&f.config()).unwrap();
    let c = issues_csv(&v.issues);
    assert_line(&c, "prescriptions,2,written_date,2024-07-01,after_report_month,info,after_report_month");
    assert_line(&c, "care_events,2,event_date,2024-07-02,after_report_month,info,after_report_month");
    assert_line(&c, "facilitation,2,date,2024-07-03,after_report_month,info,after_report_month");
    assert_line(&c, "milestones,2,completed_date,2024-07-04,after_report_month,info,after_report_month");
    assert_eq!(v.data.prescriptions.len(), 1);
    // The milestone stays, as not done.
    assert_eq!(v.data.milestones.len(), 2);
    assert_eq!(v.data.milestones[1].completed, None);
    assert_eq!(v.summary.rejected(), 0);
}

#[test]
fn every_row_is_used_or_listed() {
    let f = Fixture::new();
    f.append(RX, "r2,A,p1,d1,2024-13-01,oxycodone,oral,30,mg,30,30\nr3,A,p1,d1,2024-07-01,oxycodone,oral,30,mg,30,30\nr4,A,p2,d1,2024-04-01,morphine,oral,15,mg,60,30\n");
    let v = validate(&f.config()).unwrap();
    for (t, c) in &v.summary.tables {
        let listed =
            v.issues.iter().filter(|i| i.table == *t).map(|i| i.row).collect::<std::collections::BTreeSet<_>>().len();
        let excluded = if t.as_str() == "milestones" { 0 } else { c.after_report_month };
        assert_eq!(c.read, c.used + c.rejected + excluded, "{t:?}");
        assert!(listed >= c.rejected + excluded, "{t:?}");
    }
    assert_eq!(v.summary.tables[&sixbb::config::TableName::Prescriptions].used, 2);
}

#[test]
fn identifier_like_column_stops_the_run_naming_file_and_column() {
    let f = Fixture::new();
    f.write(
        "care_events.csv",
        "clinic_id,patient_id,event_date,event_type,Date of Birth\nA,p1,2024-05-02,pdmp_check,1970-01-01\n",
    );
    let out = sixbb().arg("run").arg(f.pipeline_path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("care_events.csv") && err.contains("Date of Birth") && err.contains("line 1"), "{err}");
    assert!(!f.out().exists(), "nothing is written");
}

#[test]
fn identifier_like_value_stops_the_run_naming_file_line_and_column() {
    let f = Fixture::new();
    f.append(RX, "r2,A,123-45-6789,d1,2024-04-01,oxycodone,oral,30,mg,30,30\n");
    let err = validate(&f.config()).err().unwrap().to_string();
    assert!(err.contains("prescriptions.csv") && err.contains("line 3") && err.contains("patient_id"), "{err}");
    let f = Fixture::new();
    f.append(RX, "r2,A,p9,dr.who@example.org,2024-04-01,oxycodone,oral,30,mg,30,30\n");
    let err = validate(&f.config()).err().unwrap().to_string();
    assert!(err.contains("prescriber_id"), "{err}");
}

#[test]
fn missing_required_table_or_column_is_fatal() {
    let f = Fixture::new();
    f.remove("milestones.csv");
    let err = validate(&f.config()).err().unwrap().to_string();
    assert!(err.contains("milestones"), "{err}");
    let f = Fixture::new();
    f.write(RX, "rx_id,clinic_id,patient_id,written_date,drug,strength,strength_unit,quantity\nr1,A,p1,2024-04-01,oxycodone,30,mg,30\n");
    let err = validate(&f.config()).err().unwrap().to_string();
    assert!(err.contains("prescriptions.csv") && err.contains("line 1") && err.contains("days_supply"), "{err}");
}

#[test]
fn optional_tables_may_be_missing() {
    let f = Fixture::new();
    f.remove("care_events.csv");
    f.remove("facilitation.csv");
    let v = validate(&f.config()).unwrap();
    assert!(v.summary.notes.iter().any(|n| n.contains("care_events")));
}

#[test]
fn unparseable_csv_names_the_line() {
    let f = Fixture::new();
    f.append(RX, "r2,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,30,extra,fields\n");
    let err = validate(&f.config()).err().unwrap().to_string();
    assert!(err.contains("prescriptions.csv") && err.contains("line 3"), "{err}");
}

#[test]
fn extra_columns_are_ignored_with_a_note_and_case_is_ignored() {
    let f = Fixture::new();
    f.write(
        "care_events.csv",
        "clinic_id,patient_id,event_date,event_type,source_system\nA,p1,2024-05-02, URINE_Drug_Test \n",
    );
    let v = validate(&f.config()).unwrap();
    assert_eq!(v.data.care_events.len(), 1);
    assert!(v.summary.notes.iter().any(|n| n.contains("source_system")));
}

#[test]
fn parquet_inputs_give_the_same_data_as_csv() {
    use polars::prelude::*;
    let f = Fixture::new();
    f.append(
        RX,
        "r2,A,p2,,2024-04-03,fentanyl,transdermal,25,mcg/hr,10,30\nr3,A,p2,,2024-04-03,melatonin,oral,1,mg,1,30\n",
    );
    let csv = validate(&f.config()).unwrap();
    // Rewrite prescriptions as Parquet with typed columns (dates as Date, numbers as numbers).
    let p = f.path().join("data/prescriptions.csv");
    let mut df = LazyCsvReader::new(PlRefPath::try_from_pathbuf(p.clone()).unwrap())
        .with_has_header(true)
        .with_try_parse_dates(true)
        .finish()
        .unwrap()
        .collect()
        .unwrap();
    let file = std::fs::File::create(f.path().join("data/prescriptions.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut df).unwrap();
    std::fs::remove_file(p).unwrap();
    let pq = validate(&f.config()).unwrap();
    assert_eq!(issues_csv(&csv.issues), issues_csv(&pq.issues));
    assert_eq!(csv.data.prescriptions.len(), pq.data.prescriptions.len());
    for (a, b) in csv.data.prescriptions.iter().zip(&pq.data.prescriptions) {
        assert_eq!((a.start, a.days, a.daily_mme), (b.start, b.days, b.daily_mme));
    }
}

#[test]
fn validate_exit_codes() {
    let f = Fixture::new();
    let out = sixbb().arg("validate").arg(f.pipeline_path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("prescriptions"));
    f.append(RX, "r2,A,p1,d1,2024-04-01,melatonin,oral,30,mg,30,30\n");
    let out = sixbb().arg("validate").arg(f.pipeline_path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    f.pipeline("[data]\nfolder = \"../data\"\n[report]\nmonth = \"2024-06\"\nbogus = 1\n");
    let out = sixbb().arg("validate").arg(f.pipeline_path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("p.toml") && err.contains("bogus"), "{err}");
}

#[test]
fn a_column_named_twice_stops_the_run() {
    let f = Fixture::new();
    f.write(
        RX,
        &crate::common::PRESCRIPTIONS
            .replacen("days_supply", "days_supply,Days_Supply ", 1)
            .replace("30,30\n", "30,30,30\n"),
    );
    let e = validate(&f.config()).err().expect("fatal").to_string();
    assert!(
        e.contains("prescriptions.csv") && e.contains("line 1") && e.contains("Days_Supply") && e.contains("twice"),
        "{e}"
    );
}
