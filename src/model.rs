//! Validated, typed study data: what the metrics stages read.

use crate::dates::Day;
use crate::reference::DrugClass;
use rustc_hash::FxHashMap;
use serde::Serialize;

/// Study arm of a clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    Intervention,
    Comparison,
}

impl Arm {
    pub fn parse(s: &str) -> Option<Arm> {
        match s.trim().to_ascii_lowercase().as_str() {
            "intervention" => Some(Arm::Intervention),
            "comparison" => Some(Arm::Comparison),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Intervention => "intervention",
            Arm::Comparison => "comparison",
        }
    }
}

/// A clinic (SPEC §1 `clinics`).
#[derive(Clone, Debug, Serialize)]
pub struct Clinic {
    pub id: String,
    pub name: String,
    pub organization: Option<String>,
    pub arm: Arm,
    pub rurality: Option<String>,
    pub facilitator_id: Option<String>,
    /// Kick-off date; `None` for comparison clinics.
    pub program_start: Option<Day>,
}

/// One valid prescription row, reduced to what the metrics need.
#[derive(Clone, Debug)]
pub struct Prescription {
    /// Index into [`Dataset::clinics`].
    pub clinic: u32,
    /// Index into [`Dataset::patients`].
    pub patient: u32,
    /// Index into [`Dataset::prescribers`].
    pub prescriber: Option<u32>,
    /// First day of supply.
    pub start: Day,
    /// Days supply (1–365): the last covered day is `start + days - 1`.
    pub days: u16,
    pub class: DrugClass,
    /// Index into [`Dataset::drugs`].
    pub drug: u16,
    /// Daily MME (unrounded); 0 for buprenorphine, benzodiazepines and sedatives.
    pub daily_mme: f64,
    /// Long-acting (SPEC §6.1): `release = er`, methadone or transdermal fentanyl.
    pub long_acting: bool,
}

impl Prescription {
    /// Last covered day.
    pub fn end(&self) -> Day {
        self.start + self.days as Day - 1
    }
}

#[cfg(test)]
impl Clinic {
    /// A comparison clinic named by its id (test fixtures).
    pub(crate) fn comparison(id: &str) -> Clinic {
        Clinic {
            id: id.into(),
            name: id.into(),
            organization: None,
            arm: Arm::Comparison,
            rurality: None,
            facilitator_id: None,
            program_start: None,
        }
    }
}

/// Care-process event types (SPEC §1 `care_events`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    PatientAgreement,
    UrineDrugTest,
    PdmpCheck,
    FunctionalAssessment,
    Naloxone,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::PatientAgreement,
        EventType::UrineDrugTest,
        EventType::PdmpCheck,
        EventType::FunctionalAssessment,
        EventType::Naloxone,
    ];
    pub fn parse(s: &str) -> Option<EventType> {
        let s = s.trim().to_ascii_lowercase();
        EventType::ALL.into_iter().find(|e| e.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PatientAgreement => "patient_agreement",
            EventType::UrineDrugTest => "urine_drug_test",
            EventType::PdmpCheck => "pdmp_check",
            EventType::FunctionalAssessment => "functional_assessment",
            EventType::Naloxone => "naloxone",
        }
    }
    /// Position in [`EventType::ALL`] (the index of per-type arrays).
    pub fn index(self) -> usize {
        self as usize
    }
    /// Days of the lookback in which the event counts (SPEC §3).
    pub fn lookback_days(self) -> u32 {
        match self {
            EventType::PdmpCheck | EventType::FunctionalAssessment => 90,
            _ => 365,
        }
    }
}

/// A valid care event.
#[derive(Clone, Debug)]
pub struct CareEvent {
    pub clinic: u32,
    pub patient: u32,
    pub date: Day,
    pub kind: EventType,
}

/// The six building blocks (SPEC §1 `milestones.block`, numbered 1–6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Block {
    Leadership = 1,
    Policies,
    Tracking,
    PlannedVisits,
    ComplexPatients,
    MeasuringSuccess,
}

impl Block {
    pub const ALL: [Block; 6] = [
        Block::Leadership,
        Block::Policies,
        Block::Tracking,
        Block::PlannedVisits,
        Block::ComplexPatients,
        Block::MeasuringSuccess,
    ];
    /// The block numbered `n` (1–6).
    pub fn of_number(n: u8) -> Option<Block> {
        Block::ALL.into_iter().find(|b| b.number() == n)
    }
    /// Its number, as in the input and output files.
    pub fn number(self) -> u8 {
        self as u8
    }
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Block::Leadership => "Leadership and consensus",
            Block::Policies => "Policies, agreements and workflows",
            Block::Tracking => "Tracking and monitoring",
            Block::PlannedVisits => "Planned, patient-centred visits",
            Block::ComplexPatients => "Caring for complex patients",
            Block::MeasuringSuccess => "Measuring success",
        }
    }
}

impl std::fmt::Display for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// Serialized as its number.
impl Serialize for Block {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

/// A valid implementation milestone.
#[derive(Clone, Debug)]
pub struct Milestone {
    pub clinic: u32,
    pub block: Block,
    pub name: String,
    pub due: Day,
    /// Completion date; `None` when not done (or done after the report month).
    pub completed: Option<Day>,
}

/// Facilitation activity types (SPEC §1 `facilitation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Kickoff,
    SiteVisit,
    VirtualMeeting,
    SharedLearning,
    Mentoring,
    Other,
}

impl Activity {
    pub const ALL: [Activity; 6] = [
        Activity::Kickoff,
        Activity::SiteVisit,
        Activity::VirtualMeeting,
        Activity::SharedLearning,
        Activity::Mentoring,
        Activity::Other,
    ];
    pub fn parse(s: &str) -> Option<Activity> {
        let s = s.trim().to_ascii_lowercase();
        Activity::ALL.into_iter().find(|a| a.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Kickoff => "kickoff",
            Activity::SiteVisit => "site_visit",
            Activity::VirtualMeeting => "virtual_meeting",
            Activity::SharedLearning => "shared_learning",
            Activity::Mentoring => "mentoring",
            Activity::Other => "other",
        }
    }
    /// A label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Activity::Kickoff => "Kick-off",
            Activity::SiteVisit => "Site visit",
            Activity::VirtualMeeting => "Virtual meeting",
            Activity::SharedLearning => "Shared learning",
            Activity::Mentoring => "Mentoring",
            Activity::Other => "Other",
        }
    }
}

/// A valid facilitation log row.
#[derive(Clone, Debug)]
pub struct Facilitation {
    pub clinic: u32,
    pub facilitator: Option<String>,
    pub date: Day,
    pub activity: Activity,
    pub hours: f64,
}

/// Why the opioid measures do not apply to a patient (SPEC §6.1 `exclusions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    Cancer,
    Hospice,
    Palliative,
    SickleCell,
}

impl ExclusionReason {
    pub const ALL: [ExclusionReason; 4] =
        [ExclusionReason::Cancer, ExclusionReason::Hospice, ExclusionReason::Palliative, ExclusionReason::SickleCell];
    pub fn parse(s: &str) -> Option<ExclusionReason> {
        let s = s.trim().to_ascii_lowercase();
        ExclusionReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ExclusionReason::Cancer => "cancer",
            ExclusionReason::Hospice => "hospice",
            ExclusionReason::Palliative => "palliative",
            ExclusionReason::SickleCell => "sickle_cell",
        }
    }
}

/// A valid exclusion row.
#[derive(Clone, Debug)]
pub struct Exclusion {
    pub patient: u32,
    pub reason: ExclusionReason,
    pub start: Day,
    /// `None`: ongoing.
    pub end: Option<Day>,
}

/// A valid per-clinic target row (SPEC §6.1 `targets` table).
#[derive(Clone, Debug)]
pub struct ClinicTarget {
    pub clinic: u32,
    /// A clinic_month `_pct` column or `mean_daily_mme`.
    pub measure: String,
    pub target: f64,
}

/// FNV-1a (64-bit) of a string id: a stable hash that depends on the id
/// alone (shard assignment, collision-proof file names).
pub fn fnv1a(id: &str) -> u64 {
    id.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// String ids interned to dense `u32`s in first-seen order.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    map: FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    /// The id of `s`, adding it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.map.insert(s.to_string(), i);
        i
    }
    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Everything that passed validation.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub clinics: Vec<Clinic>,
    pub patients: Interner,
    pub prescribers: Interner,
    /// Ingredient names (lower-case).
    pub drugs: Interner,
    pub prescriptions: Vec<Prescription>,
    pub care_events: Vec<CareEvent>,
    pub milestones: Vec<Milestone>,
    pub facilitation: Vec<Facilitation>,
    pub exclusions: Vec<Exclusion>,
    /// Per-clinic targets, first row per clinic and measure.
    pub targets: Vec<ClinicTarget>,
}

impl Dataset {
    /// Index of a clinic by id.
    pub fn clinic_index(&self, id: &str) -> Option<u32> {
        self.clinics.iter().position(|c| c.id == id).map(|i| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_numbered_one_to_six_and_serialize_as_their_number() {
        let n: Vec<u8> = Block::ALL.iter().map(|b| b.number()).collect();
        assert_eq!(n, [1, 2, 3, 4, 5, 6]);
        assert_eq!(Block::of_number(0), None);
        assert_eq!(Block::of_number(7), None);
        assert_eq!(Block::of_number(5), Some(Block::ComplexPatients));
        assert_eq!(serde_json::to_string(&Block::MeasuringSuccess).unwrap(), "6");
        assert_eq!(Block::Tracking.name(), "Tracking and monitoring");
    }

    #[test]
    fn event_type_index_is_its_place_in_all() {
        for (i, t) in EventType::ALL.iter().enumerate() {
            assert_eq!(t.index(), i, "{}", t.as_str());
        }
        assert_eq!(ExclusionReason::parse(" Sickle_Cell "), Some(ExclusionReason::SickleCell));
        assert_eq!(ExclusionReason::parse("gout"), None);
    }
}
