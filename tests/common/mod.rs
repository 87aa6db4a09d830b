//! Fixtures: small study folders written into a temporary directory.

#![allow(dead_code)]

use sixbb::config::{Config, Overrides};
use std::path::{Path, PathBuf};

/// A temporary study: `data/` with the five tables and `pipelines/p.toml`.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

pub const CLINICS: &str = "clinic_id,clinic_name,organization,arm,rurality,facilitator_id,program_start
A,Alder Family Medicine,Org,intervention,rural,F1,2023-07-10
B,Birch Primary Care,Org,comparison,urban,,
";
pub const PRESCRIPTIONS: &str =
    "rx_id,clinic_id,patient_id,prescriber_id,written_date,drug,route,strength,strength_unit,quantity,days_supply
r1,A,p1,d1,2024-04-01,oxycodone,oral,30,mg,30,30
";
pub const CARE_EVENTS: &str = "clinic_id,patient_id,event_date,event_type
A,p1,2024-05-02,urine_drug_test
";
pub const MILESTONES: &str = "clinic_id,block,milestone,due_date,completed_date
A,1,Leadership commitment,2023-08-01,2023-07-30
";
pub const FACILITATION: &str = "clinic_id,facilitator_id,date,activity,hours
A,F1,2023-07-10,kickoff,4
";

impl Fixture {
    /// The default valid tables.
    pub fn new() -> Fixture {
        Fixture::with(&[
            ("clinics.csv", CLINICS),
            ("prescriptions.csv", PRESCRIPTIONS),
            ("care_events.csv", CARE_EVENTS),
            ("milestones.csv", MILESTONES),
            ("facilitation.csv", FACILITATION),
        ])
    }

    /// Tables given by file name and text.
    pub fn with(tables: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::create_dir_all(dir.path().join("pipelines")).unwrap();
        let f = Fixture { dir };
        for (name, text) in tables {
            f.write(name, text);
        }
        f.pipeline("[data]\nfolder = \"../data\"\n[report]\nmonth = \"2024-06\"\nlookback_months = 6\n[output]\nfolder = \"../out/{month}\"\n");
        f
    }

    /// Replace one data file.
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join("data").join(name), text).unwrap();
    }

    /// Append rows to a data file.
    pub fn append(&self, name: &str, rows: &str) {
        let p = self.dir.path().join("data").join(name);
        let mut t = std::fs::read_to_string(&p).unwrap();
        t.push_str(rows);
        std::fs::write(p, t).unwrap();
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join("data").join(name)).unwrap();
    }

    /// Write the pipeline file.
    pub fn pipeline(&self, text: &str) {
        std::fs::write(self.pipeline_path(), text).unwrap();
    }

    pub fn pipeline_path(&self) -> PathBuf {
        self.dir.path().join("pipelines/p.toml")
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out/2024-06")
    }

    pub fn config(&self) -> Config {
        Config::load(&self.pipeline_path(), &Overrides::default()).unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// The sixbb binary built with the tests.
pub fn sixbb() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_sixbb"))
}

/// `sixbb run` on the committed sample pipeline, writing to `out`, with `args`.
pub fn run_sample<S: AsRef<std::ffi::OsStr>>(out: &Path, args: &[S]) -> std::process::Output {
    sixbb().arg("run").arg(repo().join("pipelines/monthly.toml")).args(args).arg("--out").arg(out).output().unwrap()
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Read a CSV output into header and rows (no quoted commas in our outputs' numeric cells).
pub fn read_csv(p: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap().split(',').map(str::to_string).collect();
    let rows = lines.map(|l| l.split(',').map(str::to_string).collect()).collect();
    (header, rows)
}

/// The value of `column` in the row where the first columns equal `key`.
pub fn cell(p: &Path, key: &[&str], column: &str) -> String {
    let (h, rows) = read_csv(p);
    let ci = h.iter().position(|c| c == column).unwrap_or_else(|| panic!("no column {column}"));
    let row = rows
        .iter()
        .find(|r| key.iter().enumerate().all(|(i, k)| r[i] == *k))
        .unwrap_or_else(|| panic!("no row {key:?} in {}", p.display()));
    row[ci].clone()
}
