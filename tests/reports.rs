//! What users hold: the PDFs' text against the metrics, suppression, no
//! other clinic's name, template errors with file and line.

use crate::common::{read_csv, repo, run_sample};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One run of the sample pipeline shared by these tests.
fn sample_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let r = RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let o = run_sample(&out, &["--quiet"]);
        assert!(o.status.code() == Some(1) || o.status.code() == Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        (tmp, out)
    });
    &r.1
}

fn pdf_text(p: &Path) -> String {
    let o = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(p)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is needed for the report tests: .ci/run installs it");
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).replace('\u{2212}', "-")
}

#[test]
fn clinic_reports_show_the_headline_numbers_of_clinic_month() {
    let out = sample_run();
    let (h, rows) = read_csv(&out.join("metrics/clinic_month.csv"));
    let col = |r: &Vec<String>, c: &str| r[h.iter().position(|x| x == c).unwrap()].clone();
    let clinics = read_csv(&repo().join("data-samples/clinics.csv")).1;
    let mut checked = 0;
    for r in rows.iter().filter(|r| r[1] == "2024-06") {
        let id = &r[0];
        let pdf = out.join(format!("reports/clinic-{id}.pdf"));
        if !pdf.exists() {
            continue;
        }
        let full = pdf_text(&pdf);
        // The headline table only (chart titles repeat some labels).
        let text: String = full
            .lines()
            .skip_while(|l| !l.contains("This month at a glance"))
            .take_while(|l| !l.contains("says which direction"))
            .collect::<Vec<_>>()
            .join("\n");
        let name = &clinics.iter().find(|c| &c[0] == id).unwrap()[1];
        assert!(full.contains(name.as_str()), "{id}: clinic name");
        let ltot: u32 = col(r, "ltot_patients").parse().unwrap();
        let line = text.lines().find(|l| l.contains("LTOT patients (long-term")).unwrap();
        if ltot >= 11 {
            assert!(line.split_whitespace().any(|t| t == ltot.to_string()), "{id}: LTOT {ltot} in '{line}'");
            let mme = col(r, "mean_daily_mme");
            let l = text.lines().find(|l| l.contains("Mean daily MME of LTOT")).unwrap();
            assert!(l.contains(&mme), "{id}: MME {mme} in '{l}'");
            for (stem, label) in
                [("high_dose_50", "High dose (≥ 50"), ("udt", "Urine drug test"), ("pdmp", "PDMP check")]
            {
                let n: u32 = col(r, &format!("{stem}_n")).parse().unwrap();
                let l = text.lines().find(|l| l.contains(label)).unwrap();
                let small = |a: &str, b: &str| {
                    let (x, y): (u32, u32) = (col(r, a).parse().unwrap(), col(r, b).parse().unwrap());
                    (1..11).contains(&x.abs_diff(y))
                };
                let derivable = small("ltot_patients", &format!("{stem}_n"))
                    || (stem == "high_dose_50"
                        && (small("high_dose_50_n", "high_dose_90_n") || small("at_risk_patients", "high_dose_50_n")));
                if n >= 11 && ltot >= 11 && !derivable {
                    let pct = col(r, &format!("{stem}_pct"));
                    assert!(l.contains(&format!("{pct}%")), "{id}: {stem} {pct}% in '{l}'");
                    checked += 1;
                } else if n >= 11 && ltot >= 11 {
                    assert!(l.contains("suppressed"), "{id}: {stem} derivable by subtraction in '{l}'");
                } else if n >= 1 {
                    assert!(l.contains("<11") && l.contains("suppressed"), "{id}: {stem} small cell in '{l}'");
                }
            }
        } else if ltot > 0 {
            assert!(line.contains("<11"), "{id}: small LTOT count suppressed: '{line}'");
        }
    }
    assert!(checked > 0, "at least one percentage was compared");
}

#[test]
fn small_counts_never_appear_in_a_clinic_report() {
    let out = sample_run();
    let (h, rows) = read_csv(&out.join("metrics/clinic_month.csv"));
    let counts: Vec<usize> =
        h.iter().enumerate().filter(|(_, c)| c.ends_with("_n") || c.ends_with("_patients")).map(|(i, _)| i).collect();
    for r in rows.iter().filter(|r| r[1] == "2024-06") {
        let text = pdf_text(&out.join(format!("reports/clinic-{}.pdf", r[0])));
        let headline: String = text
            .lines()
            .skip_while(|l| !l.contains("This month at a glance"))
            .take_while(|l| !l.contains("says which direction"))
            .collect::<Vec<_>>()
            .join("\n");
        // "What to do next" and every other sentence: no "N patients" with N from 1 to 10.
        let all: Vec<&str> = text.split_whitespace().collect();
        for w in all.windows(2).filter(|w| w[1].starts_with("patient")) {
            if let Ok(n) = w[0].parse::<u32>() {
                assert!(!(1..11).contains(&n), "{}: '{} {}' in the report", r[0], w[0], w[1]);
            }
        }
        // Complementary suppression: no printed "n of d" leaves a small d − n.
        let body: String = headline.lines().filter(|l| !l.contains("Page ")).collect::<Vec<_>>().join("\n");
        let words: Vec<&str> = body.split_whitespace().collect();
        for w in words.windows(3).filter(|w| w[1] == "of") {
            if let (Ok(n), Ok(d)) = (w[0].parse::<u32>(), w[2].parse::<u32>()) {
                assert!(!(1..11).contains(&(d - n)), "{}: {n} of {d} tells {} by subtraction", r[0], d - n);
            }
        }
        for &i in &counts {
            let n: u32 = r[i].parse().unwrap();
            if (1..11).contains(&n) {
                // The "Patients" column prints counts as "n of d": a small n must be "<11".
                assert!(
                    !body.contains(&format!(" {n} of ")) && !body.contains(&format!("of {n} ")),
                    "{}: count {n} ({}) shown:\n{headline}",
                    r[0],
                    h[i]
                );
            }
        }
    }
}

#[test]
fn no_other_clinic_is_named_in_a_clinic_report() {
    let out = sample_run();
    let clinics = read_csv(&repo().join("data-samples/clinics.csv")).1;
    for c in &clinics {
        let pdf = out.join(format!("reports/clinic-{}.pdf", c[0]));
        if !pdf.exists() {
            continue;
        }
        let text = pdf_text(&pdf).split_whitespace().collect::<Vec<_>>().join(" ");
        for other in clinics.iter().filter(|o| o[0] != c[0]) {
            assert!(!text.contains(other[1].as_str()), "{} names {}", c[0], other[1]);
        }
    }
}

#[test]
fn the_study_report_names_clinics_and_states_the_methods() {
    let out = sample_run();
    let text = pdf_text(&out.join("reports/study.pdf"));
    assert!(text.contains("Riverside Family Medicine"));
    assert!(text.contains("cdc-2022"));
    assert!(text.contains("SHA-256"));
}

#[test]
fn a_template_error_names_the_template_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in sixbb::report::world::BUILTIN_TEMPLATES {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    std::fs::write(dir.path().join("clinic.typ"), "#let d = 1\n\n#d.nonexistent-field(\n").unwrap();
    let engine = sixbb::report::world::Engine::from_dir(dir.path()).unwrap();
    let err = engine.compile_pdf("clinic.typ", vec![], "x", (2024, 6, 30)).unwrap_err();
    match &err {
        sixbb::Error::Template { file, line, .. } => {
            assert!(file.ends_with("clinic.typ"), "{err}");
            assert_eq!(*line, 3, "{err}");
        }
        e => panic!("expected a template error, got {e}"),
    }
}

#[test]
fn a_facilitator_report_names_only_that_facilitators_clinics_with_a_point_per_flag() {
    let out = sample_run();
    let clinics = read_csv(&repo().join("data-samples/clinics.csv")).1;
    let flags = read_csv(&out.join("metrics/fidelity_flags.csv"));
    let ci = |c: &str| flags.0.iter().position(|h| h == c).unwrap();
    // C0999 is a deliberately bad (rejected) clinic of the sample.
    let mut facilitators: Vec<&str> =
        clinics.iter().filter(|c| c[0] != "C0999").map(|c| c[5].as_str()).filter(|f| !f.is_empty()).collect();
    facilitators.sort();
    facilitators.dedup();
    assert!(!facilitators.is_empty());
    for f in facilitators {
        let text = pdf_text(&out.join(format!("reports/facilitator-{f}.pdf")));
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for c in clinics.iter().filter(|c| c[0] != "C0999") {
            let named = flat.contains(&format!("({})", c[0]));
            assert_eq!(named, c[5] == f, "facilitator {f} and clinic {} ({})", c[0], c[1]);
        }
        // Each flagged clinic of this facilitator has a talking point for its flag.
        for row in &flags.1 {
            let Some(c) = clinics.iter().find(|c| c[0] == row[ci("clinic_id")] && c[5] == f) else { continue };
            let name = flat.split("Talking points").nth(1).unwrap_or("");
            assert!(name.contains(c[1].as_str()), "{f}: talking points for {}", c[1]);
            match row[ci("flag")].as_str() {
                "no_contact_60d" => assert!(name.contains("schedule a visit"), "{f}: {}", c[1]),
                "milestone_overdue_60d" => assert!(name.contains("overdue milestone"), "{f}: {}", c[1]),
                _ => {}
            }
        }
    }
}

#[test]
fn no_facilitator_reports_skips_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = run_sample(&out, &["--quiet", "--no-worklists", "--no-facilitator-reports"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let n = std::fs::read_dir(out.join("reports"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("facilitator-"))
        .count();
    assert_eq!(n, 0);
}

#[test]
fn run_with_edited_templates_uses_them_and_writes_typst_timings() {
    let dir = tempfile::tempdir().unwrap();
    let tpl = dir.path().join("templates");
    std::fs::create_dir(&tpl).unwrap();
    for (name, text) in sixbb::report::world::BUILTIN_TEMPLATES {
        let text = if name == "clinic.typ" {
            text.replace("= Where you stand", "= Where you stand (edited copy)")
        } else {
            text.to_string()
        };
        std::fs::write(tpl.join(name), text).unwrap();
    }
    let (out, trace) = (dir.path().join("out"), dir.path().join("trace.json"));
    let args: [&OsStr; 9] = [
        "--quiet".as_ref(),
        "--no-worklists".as_ref(),
        "--no-facilitator-reports".as_ref(),
        "--clinic".as_ref(),
        "C0001".as_ref(),
        "--templates".as_ref(),
        tpl.as_os_str(),
        "--typst-timings".as_ref(),
        trace.as_os_str(),
    ];
    let o = run_sample(&out, &args);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(pdf_text(&out.join("reports/clinic-C0001.pdf")).contains("Where you stand (edited copy)"));
    let events: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    assert!(events.iter().any(|e| e["name"] == "layout document"), "typst's phases are in the trace");
    assert!(!std::fs::read_dir(&out).unwrap().any(|e| e.unwrap().file_name() == "trace.json"));
}

#[test]
fn a_missing_templates_folder_fails_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let nowhere = dir.path().join("nowhere");
    let o = run_sample(&out, &["--quiet".as_ref(), "--templates".as_ref(), nowhere.as_os_str()] as &[&OsStr]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot read template") && err.contains("nowhere/common.typ"), "{err}");
    assert!(!out.exists());
}

#[test]
fn typst_timings_never_overwrite_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (out, trace) = (dir.path().join("out"), dir.path().join("keep.csv"));
    std::fs::write(&trace, "a,b\n1,2\n").unwrap();
    let o = run_sample(&out, &["--quiet".as_ref(), "--typst-timings".as_ref(), trace.as_os_str()] as &[&OsStr]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read_to_string(&trace).unwrap(), "a,b\n1,2\n");
    assert!(!out.exists());
}
