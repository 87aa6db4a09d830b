//! Outcome models (issue 17): explicit analysis months, checked settings,
//! and the estimates against the effect the generator builds in.

use crate::common::{repo, sixbb};
use std::collections::HashMap;
use std::path::Path;

/// `metrics/outcomes.csv` as maps from column to value (quoted notes allowed).
fn outcome_rows(out: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(out.join("metrics/outcomes.csv")).unwrap();
    let split = |l: &str| {
        let (mut v, mut cur, mut quoted) = (Vec::new(), String::new(), false);
        for ch in l.chars() {
            match ch {
                '"' => quoted = !quoted,
                ',' if !quoted => v.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        v.push(cur);
        v
    };
    let mut lines = text.lines();
    let header = split(lines.next().unwrap());
    lines.map(|l| header.iter().cloned().zip(split(l)).collect()).collect()
}

/// Run a pipeline quietly without worklists and facilitator reports.
fn run(pipeline: &Path) {
    let o = sixbb()
        .arg("run")
        .arg(pipeline)
        .args(["--quiet", "--no-worklists", "--no-facilitator-reports", "--force"])
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A copy of `data-samples` with a pipeline whose `[outcomes]` is `outcomes`.
fn sample_copy(dir: &Path, outcomes: &str) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for e in std::fs::read_dir(repo().join("data-samples")).unwrap().flatten() {
        std::fs::copy(e.path(), data.join(e.file_name())).unwrap();
    }
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        format!("[data]\nfolder = \"data\"\n[report]\nmonth = \"2024-06\"\n[output]\nfolder = \"out\"\n{outcomes}"),
    )
    .unwrap();
    p
}

#[test]
fn one_stray_early_prescription_moves_no_estimate_once_analysis_start_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let set = sample_copy(&tmp.path().join("set"), "[outcomes]\nanalysis_start = \"2021-06\"\n");
    let default = sample_copy(&tmp.path().join("default"), "");
    run(&set);
    run(&default);
    let before = std::fs::read_to_string(tmp.path().join("set/out/metrics/outcomes.csv")).unwrap();
    let default_before = outcome_rows(&tmp.path().join("default/out"));
    assert_eq!(default_before[0]["analysis_start"], "2021-06", "12 months after the first data month (2020-06)");
    let stray = "STRAY1,C0001,P000100001,D000102,2016-03-01,oxycodone,oral,5,mg,20,5,ir\n";
    for dir in ["set", "default"] {
        let p = tmp.path().join(dir).join("data/prescriptions.csv");
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str(stray);
        std::fs::write(&p, t).unwrap();
    }
    run(&set);
    run(&default);
    let after = std::fs::read_to_string(tmp.path().join("set/out/metrics/outcomes.csv")).unwrap();
    assert_eq!(before, after, "analysis_start set: the 2016 row changes nothing");
    // Without it the default moves to the first month after 2017-03 with 11 LTOT patients.
    let moved = outcome_rows(&tmp.path().join("default/out"));
    assert_ne!(moved[0]["analysis_start"], "2021-06");
    assert!(moved[0]["analysis_start"].as_str() < "2021-06", "{}", moved[0]["analysis_start"]);
}

#[test]
fn outcomes_settings_are_checked_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    for (setting, key) in [
        ("analysis_start = \"June 2021\"", "outcomes.analysis_start"),
        ("bootstrap_replications = 500", "outcomes.bootstrap_replications"),
        ("warmup_months = 121", "outcomes.warmup_months"),
        ("bootstrap = 999", "bootstrap"),
        ("analysis_start = \"2024-07\"", "after the report month 2024-06"),
    ] {
        let p = sample_copy(&tmp.path().join(key), &format!("[outcomes]\n{setting}\n"));
        let o = sixbb().arg("validate").arg(&p).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{setting}: {err}");
        assert!(err.contains(key), "{setting}: {err}");
    }
}

/// The program effect per outcome and year, computed by simulation with
/// `bash bench/placebo.sh 40 40` (seeds 101–140: mean estimate with the
/// effect minus mean estimate of the placebo; see the README).
const TRUTH: [(&str, f64, f64); 5] = [
    ("high_dose_50_pct", -2.712, -15.113),
    ("high_dose_90_pct", -3.160, -13.295),
    ("benzo_overlap_pct", -0.366, -1.743),
    ("mean_daily_mme", -4.571, -20.097),
    ("ltot_patients", 0.087, -1.665),
];

#[test]
fn year_1_and_year_2_intervals_contain_the_effect_computed_by_simulation() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut covered, mut total) = (0, 0);
    let mut means: HashMap<(String, String), f64> = HashMap::new();
    for seed in 1..=4 {
        let dir = tmp.path().join(format!("s{seed}"));
        let o = sixbb()
            .args(["synth", "--clinics", "40", "--months", "48", "--patients", "300", "--seed", &seed.to_string()])
            .arg("--out")
            .arg(dir.join("data"))
            .output()
            .unwrap();
        assert!(o.status.success());
        std::fs::write(
            dir.join("p.toml"),
            "[data]\nfolder = \"data\"\n[report]\nmonth = \"2024-06\"\n[output]\nfolder = \"out\"\n",
        )
        .unwrap();
        let o = sixbb()
            .arg("run")
            .arg(dir.join("p.toml"))
            .args(["--quiet", "--no-worklists", "--no-facilitator-reports", "--shard", "1/1000"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        for r in outcome_rows(&dir.join("out")) {
            let Some(&(_, y1, y2)) = TRUTH.iter().find(|t| t.0 == r["outcome"]) else { continue };
            let truth = match (r["model"].as_str(), r["term"].as_str()) {
                ("event_study", "year1") => y1,
                ("event_study", "year2") => y2,
                _ => continue,
            };
            assert_eq!(r["inference"], "cr1", "40 clinics: analytic intervals");
            let f = |c: &str| r[c].parse::<f64>().unwrap();
            total += 1;
            covered += (f("ci_low") <= truth && truth <= f("ci_high")) as usize;
            *means.entry((r["outcome"].clone(), r["term"].clone())).or_default() += f("estimate") / 4.0;
        }
    }
    assert_eq!(total, 40, "5 outcomes × 2 years × 4 studies");
    assert!(covered >= 36, "{covered} of 40 intervals contain the simulated effect");
    for o in ["high_dose_50_pct", "high_dose_90_pct", "mean_daily_mme"] {
        let (y1, y2) = (means[&(o.to_string(), "year1".into())], means[&(o.to_string(), "year2".into())]);
        assert!(y2 < 2.0 * y1 && y1 < 0.0, "{o}: the effect ramps up, year 1 {y1}, year 2 {y2}");
    }
}
