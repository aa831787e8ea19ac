//! Pure intake rules: the validated intake, screener scoring, the assessment (risk, level and phase of
//! care, urgency, engagement, history), the rules file that parameterises them, and the routing decision
//! types. No I/O; everything here is deterministic given its inputs.

pub mod assessment;
pub mod change;
pub mod codes;
pub mod consent;
pub mod overrides;
mod phase;
mod risk;
pub mod routing;
pub mod rules;
pub mod scoring;
pub mod tasks;
#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDate, Utc};
use continuum_auth::Phi;
use continuum_vocab::ids::{ClientId, IntakeId, OrganizationId};
use continuum_vocab::{
    CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle,
};
use serde::{Deserialize, Serialize};

pub use assessment::{AppliedOverride, Assessment, FiredRule, assess};
pub use change::{ScoreChange, reliable_changes};
pub use codes::{
    Approach, Availability, Concern, ConsentCategory, Engagement, Frequency, Impairment, Setting,
    StageOfChange, Stressor, SubstanceUse, Support, TreatmentOutcome, WindowRating,
};
pub use consent::{Consent, ConsentChange, ConsentGrant, REFERRAL_CATEGORIES, STANDARD_CATEGORIES};
pub use routing::{
    Candidate, Priorities, RoutingDecision, RoutingPlan, RoutingStatus, explain_choice,
    order_candidates,
};
pub use rules::Rules;
pub use scoring::{CssrsAnswers, Instrument, ScreenerScore};
pub use tasks::{ClinicalTask, TaskKind, TaskStatus, TaskToOpen};

/// Who the client is (personal health information: stored, never logged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientDetails {
    /// Given name.
    pub given_name: Phi<String>,
    /// Family name.
    pub family_name: Phi<String>,
    /// Date of birth.
    pub date_of_birth: Phi<NaiveDate>,
    /// E-mail, may be empty.
    pub email: Phi<String>,
    /// Phone, may be empty.
    pub phone: Phi<String>,
    /// Pronouns, may be empty.
    pub pronouns: Phi<String>,
    /// Preferred language (BCP-47).
    pub preferred_language: String,
    /// Jurisdiction (ISO 3166-2).
    pub jurisdiction: String,
    /// Payment option.
    pub payment_option: PaymentOption,
}

/// Screener answers as given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screeners {
    /// PHQ-9 items (9 answers 0..3) when given.
    pub phq9: Option<Vec<u8>>,
    /// GAD-7 items (7 answers 0..3) when given.
    pub gad7: Option<Vec<u8>>,
    /// C-SSRS screener when given.
    pub cssrs: Option<CssrsAnswers>,
    /// PCL-5 items (20 answers 0..4) when given.
    #[serde(default)]
    pub pcl5: Option<Vec<u8>>,
    /// Readiness ruler rating (0..10) when given.
    #[serde(default)]
    pub readiness_ruler: Option<u8>,
}

impl Screeners {
    /// Whether no instrument was given.
    pub fn is_empty(&self) -> bool {
        self.phq9.is_none()
            && self.gad7.is_none()
            && self.cssrs.is_none()
            && self.pcl5.is_none()
            && self.readiness_ruler.is_none()
    }
}

/// Signs of dysregulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dysregulation {
    /// How often overwhelmed.
    pub overwhelm: Option<Frequency>,
    /// How often shut down.
    pub shutdown: Option<Frequency>,
    /// How often dissociating.
    pub dissociation: Option<Frequency>,
    /// Self-harm within 3 months.
    pub recent_self_harm: bool,
    /// Clinician's window-of-tolerance rating.
    pub clinician_window: Option<WindowRating>,
}

/// One past treatment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreatmentEpisode {
    /// Modality tried.
    pub modality: Option<Modality>,
    /// Program level of care, when a program.
    pub level_of_care: Option<LevelOfCare>,
    /// Started.
    pub started: NaiveDate,
    /// Ended, when it has.
    pub ended: Option<NaiveDate>,
    /// Whether it helped.
    pub outcome: TreatmentOutcome,
}

/// A clinician's override of level or phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideRequest {
    /// Level to use instead.
    pub level_of_care: Option<LevelOfCare>,
    /// Phase to use instead.
    pub phase: Option<CarePhase>,
    /// Why (personal health information: kept in the encrypted submission only).
    pub reason: String,
    /// Who.
    pub clinician_id: String,
    /// The clinician acknowledges that the override lowers the level of care below what the risk level
    /// requires (`override.below_risk_acknowledged`); without it such an override is refused.
    #[serde(default)]
    pub acknowledge_below_risk: bool,
}

/// What the client wants from care.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Preferences {
    /// Modalities the client does not want.
    pub modalities_avoided: Vec<Modality>,
    /// Formats the client can attend (empty = any).
    pub formats: Vec<CareFormat>,
    /// Preferred relational style.
    pub relational_style: RelationalStyle,
    /// Modalities wanted.
    #[serde(default)]
    pub modalities_wanted: Vec<Modality>,
    /// Somatic or talk.
    #[serde(default)]
    pub approach: Option<Approach>,
    /// Group or individual.
    #[serde(default)]
    pub setting: Option<Setting>,
    /// Identity codes wanted.
    #[serde(default)]
    pub identity_preferences: Vec<String>,
    /// Faith codes wanted.
    #[serde(default)]
    pub faith_preferences: Vec<String>,
    /// Cultural codes wanted.
    #[serde(default)]
    pub cultural_preferences: Vec<String>,
    /// Further languages.
    #[serde(default)]
    pub additional_languages: Vec<String>,
    /// When the client can attend (empty = any).
    #[serde(default)]
    pub availability: Vec<Availability>,
}

/// A validated intake submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewIntake {
    /// Idempotency key (unique per organization).
    pub idempotency_key: String,
    /// Submitting organization.
    pub organization_id: OrganizationId,
    /// Submitting clinician, may be empty.
    pub submitting_clinician_id: String,
    /// The clinic's own client id, may be empty.
    pub external_client_id: String,
    /// The client.
    pub client: ClientDetails,
    /// Free-text presenting concerns, may be empty.
    pub presenting_concerns_text: Phi<String>,
    /// Screeners.
    pub screeners: Screeners,
    /// Preferences.
    pub preferences: Preferences,
    /// Consent.
    pub consent: Consent,
    /// The clinician reports imminent risk.
    pub clinician_reports_imminent_risk: bool,
    /// Coded presenting concerns.
    #[serde(default)]
    pub presenting_concerns: Vec<Concern>,
    /// Dysregulation signs.
    #[serde(default)]
    pub dysregulation: Option<Dysregulation>,
    /// Functional impairment.
    #[serde(default)]
    pub functional_impairment: Option<Impairment>,
    /// Substance use.
    #[serde(default)]
    pub substance_use: Option<SubstanceUse>,
    /// Stressors.
    #[serde(default)]
    pub stressors: Vec<Stressor>,
    /// Supports.
    #[serde(default)]
    pub supports: Vec<Support>,
    /// Treatment history.
    #[serde(default)]
    pub treatment_history: Vec<TreatmentEpisode>,
    /// Stage of change as the clinician assessed it.
    #[serde(default)]
    pub stage_of_change: Option<StageOfChange>,
    /// Clinician override.
    #[serde(default)]
    pub clinician_override: Option<OverrideRequest>,
}

/// A stored intake with its latest assessment and routing.
#[derive(Clone, Debug, PartialEq)]
pub struct Intake {
    /// Id.
    pub id: IntakeId,
    /// Client id.
    pub client_id: ClientId,
    /// The submission.
    pub submission: NewIntake,
    /// Latest assessment.
    pub assessment: Assessment,
    /// The reason of the latest assessment's clinician override when it came with a reassessment (an
    /// intake's own override reason is in the submission).
    pub latest_override_reason: Option<String>,
    /// Routing decision.
    pub routing: RoutingDecision,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// The clinical tasks opened for this intake (open, overdue and completed), oldest first.
    pub tasks: Vec<ClinicalTask>,
}

impl Intake {
    /// The recorded reason of the override applied to the latest assessment: the reassessment's own
    /// when it came with one, else the submission's.
    pub fn override_reason(&self) -> Option<&str> {
        self.assessment.clinician_override.as_ref()?;
        self.latest_override_reason.as_deref().or(self
            .submission
            .clinician_override
            .as_ref()
            .map(|o| o.reason.as_str()))
    }
}

/// Crisis resources returned on the crisis pathway (CLINICAL.md: "for example the 988 line in the US").
pub fn crisis_resources(jurisdiction: &str) -> Vec<String> {
    let mut out = Vec::new();
    if jurisdiction.starts_with("US") {
        out.push("988 Suicide & Crisis Lifeline: call or text 988".to_owned());
    }
    out.push("Emergency services: call your local emergency number (911 in the US, 112 in the EU, 999 in the UK)".to_owned());
    out
}

/// Age in whole years on `on`.
pub fn age_on(dob: NaiveDate, on: NaiveDate) -> u32 {
    use chrono::Datelike;
    let mut years = on.year() - dob.year();
    if (on.month(), on.day()) < (dob.month(), dob.day()) {
        years -= 1;
    }
    u32::try_from(years.max(0)).unwrap_or(0)
}

/// A stable 64-bit FNV-1a hash (for detecting an idempotency key reused with a different body).
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn debug_output_of_a_client_never_shows_personal_information() {
        let c = ClientDetails {
            given_name: Phi::new("Zoltan".to_owned()),
            family_name: Phi::new("Quarrington".to_owned()),
            date_of_birth: Phi::new(NaiveDate::from_ymd_opt(1971, 2, 3).unwrap_or_default()),
            email: Phi::new("zq@example.org".to_owned()),
            phone: Phi::new("+1 555 0100".to_owned()),
            pronouns: Phi::new("he/him".to_owned()),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: PaymentOption::SelfPay,
        };
        let shown = format!("{c:?}");
        for secret in ["Zoltan", "Quarrington", "1971", "zq@example.org", "555 0100", "he/him"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("[redacted]"));
    }
}
