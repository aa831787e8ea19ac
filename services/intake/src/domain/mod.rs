//! Pure intake rules: the validated intake, screener scoring, the assessment (risk, level of care,
//! urgency) and the routing decision types. No I/O; everything here is deterministic given its inputs.

pub mod assessment;
pub mod scoring;

use chrono::{DateTime, NaiveDate, Utc};
use continuum_vocab::{CareFormat, Modality, PaymentOption, RelationalStyle};
use serde::{Deserialize, Serialize};

pub use assessment::{Assessment, FiredRule, RULES_VERSION, assess};
pub use scoring::{CssrsAnswers, Instrument, ScreenerScore};

/// Who the client is (personal health information: stored, never logged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientDetails {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Date of birth.
    pub date_of_birth: NaiveDate,
    /// E-mail, may be empty.
    pub email: String,
    /// Phone, may be empty.
    pub phone: String,
    /// Pronouns, may be empty.
    pub pronouns: String,
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
}

impl Screeners {
    /// Whether no instrument was given.
    pub fn is_empty(&self) -> bool {
        self.phq9.is_none() && self.gad7.is_none() && self.cssrs.is_none()
    }
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
}

/// What the client consents to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Share the intake with the organization the client is referred to.
    pub share_with_referral_recipient: bool,
}

/// A validated intake submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewIntake {
    /// Idempotency key (unique per organization).
    pub idempotency_key: String,
    /// Submitting organization.
    pub organization_id: String,
    /// Submitting clinician, may be empty.
    pub submitting_clinician_id: String,
    /// The clinic's own client id, may be empty.
    pub external_client_id: String,
    /// The client.
    pub client: ClientDetails,
    /// Free-text presenting concerns, may be empty.
    pub presenting_concerns_text: String,
    /// Screeners.
    pub screeners: Screeners,
    /// Preferences.
    pub preferences: Preferences,
    /// Consent.
    pub consent: Consent,
    /// The clinician reports imminent risk.
    pub clinician_reports_imminent_risk: bool,
}

/// A stored intake with its latest assessment and routing.
#[derive(Clone, Debug, PartialEq)]
pub struct Intake {
    /// Id.
    pub id: String,
    /// Client id.
    pub client_id: String,
    /// The submission.
    pub submission: NewIntake,
    /// Latest assessment.
    pub assessment: Assessment,
    /// Routing decision.
    pub routing: RoutingDecision,
    /// When received.
    pub received_at: DateTime<Utc>,
}

/// Where routing stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStatus {
    /// Still being completed.
    Pending,
    /// Referred.
    Referred,
    /// Waitlisted.
    Waitlisted,
    /// No option passed the hard constraints: a coordinator must act.
    NeedsCoordinator,
}

impl RoutingStatus {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            RoutingStatus::Pending => "pending",
            RoutingStatus::Referred => "referred",
            RoutingStatus::Waitlisted => "waitlisted",
            RoutingStatus::NeedsCoordinator => "needs_coordinator",
        }
    }

    /// From a stable code.
    pub fn from_code(code: &str) -> Option<Self> {
        [RoutingStatus::Pending, RoutingStatus::Referred, RoutingStatus::Waitlisted, RoutingStatus::NeedsCoordinator]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

/// The routing decision (stored as JSON beside the routing task).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// Status.
    pub status: RoutingStatus,
    /// Referral made.
    pub referral_id: Option<String>,
    /// Provider referred to.
    pub provider_id: Option<String>,
    /// Waitlist entry made.
    pub waitlist_entry_id: Option<String>,
    /// Ranked candidate providers.
    pub candidate_provider_ids: Vec<String>,
    /// Reason (codes and counts only).
    pub reason: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// Crisis resources handed to the client.
    pub crisis_resources: Vec<String>,
}

impl RoutingDecision {
    /// A decision still pending.
    pub fn pending(reason: impl Into<String>) -> Self {
        Self {
            status: RoutingStatus::Pending,
            referral_id: None,
            provider_id: None,
            waitlist_entry_id: None,
            candidate_provider_ids: Vec::new(),
            reason: reason.into(),
            attempts: 0,
            decided_at: None,
            crisis_resources: Vec::new(),
        }
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
mod tests {
    use super::*;

    #[test]
    fn age_counts_birthdays() {
        let dob = NaiveDate::from_ymd_opt(2010, 6, 15).unwrap_or_default();
        assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 6, 14).unwrap_or_default()), 15);
        assert_eq!(age_on(dob, NaiveDate::from_ymd_opt(2026, 6, 15).unwrap_or_default()), 16);
    }

    #[test]
    fn fingerprint_is_stable() {
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }

    #[test]
    fn routing_status_codes_round_trip() {
        for s in [RoutingStatus::Pending, RoutingStatus::Referred, RoutingStatus::Waitlisted, RoutingStatus::NeedsCoordinator] {
            assert_eq!(RoutingStatus::from_code(s.code()), Some(s));
        }
    }
}

/// One ranked option matching returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Provider id.
    pub provider_id: String,
    /// Whether it had an open slot when ranked.
    pub has_capacity: bool,
}

/// The routing plan: matching's ranked options, stored before any downstream call so that every retry
/// follows the same plan, and how far it has been followed. A candidate is skipped only on a definite
/// "no capacity" (nothing was created), never on an unavailable service: that is what keeps one intake
/// from being routed twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPlan {
    /// Ranked candidates.
    pub candidates: Vec<Candidate>,
    /// Index of the next candidate to try.
    pub next: usize,
    /// Crisis pathway (crisis-capable only, never waitlisted, referral made even when full).
    pub crisis: bool,
    /// Exclusion counts by hard constraint, for the reason text.
    pub exclusions: Vec<(String, i32)>,
}
