//! Pure intake rules: the validated intake, screener scoring, the assessment (risk, level and phase of
//! care, urgency, engagement, history), the rules file that parameterises them, and the routing decision
//! types. No I/O; everything here is deterministic given its inputs.

pub mod assessment;
pub mod codes;
pub mod rules;
pub mod scoring;
#[cfg(test)]
pub mod testing;

use chrono::{DateTime, NaiveDate, Utc};
use continuum_auth::Phi;
use continuum_vocab::{
    CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle,
};
use serde::{Deserialize, Serialize};

pub use assessment::{
    AppliedOverride, Assessment, FiredRule, ScoreChange, assess, reliable_changes,
};
pub use codes::{
    Approach, Availability, Concern, ConsentCategory, Engagement, Frequency, Impairment, Setting,
    StageOfChange, Stressor, SubstanceUse, Support, TreatmentOutcome, WindowRating,
};
pub use rules::Rules;
pub use scoring::{CssrsAnswers, Instrument, ScreenerScore};

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
}

/// Consent to share categories with one recipient: an organization (`None`: whichever organization the
/// owner refers the client to), optionally only as the recipient of one referral. Consent only ever says
/// *what* may be shared; *whether* anything is shared at all is the care relationship (a live referral the
/// owner made to the recipient), decided in `app::access`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    /// Recipient organization, or any organization the owner refers the client to.
    pub recipient_organization_id: Option<String>,
    /// Only the recipient of this referral (the grant ends with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
    /// Categories.
    pub categories: Vec<ConsentCategory>,
}

impl ConsentGrant {
    /// Whether the grant covers a recipient `organization_id` reading under `referral_id` (`None`: before
    /// any referral exists, as when routing checks whom it may refer to).
    fn covers(&self, organization_id: &str, referral_id: Option<&str>) -> bool {
        let org_ok = self
            .recipient_organization_id
            .as_deref()
            .is_none_or(|o| o.eq_ignore_ascii_case(organization_id));
        let referral_ok = self.referral_id.as_deref().is_none_or(|r| Some(r) == referral_id);
        org_ok && referral_ok
    }
}

/// Categories a referral needs the client's consent for.
pub const REFERRAL_CATEGORIES: [ConsentCategory; 2] =
    [ConsentCategory::IdentityAndContact, ConsentCategory::ScreeningAndAssessment];

/// The standard categories (everything but substance use), granted by the simple consent flag.
pub const STANDARD_CATEGORIES: [ConsentCategory; 5] = [
    ConsentCategory::IdentityAndContact,
    ConsentCategory::ScreeningAndAssessment,
    ConsentCategory::PresentingConcerns,
    ConsentCategory::TreatmentHistory,
    ConsentCategory::SocialContext,
];

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

/// What the client consents to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Share the intake (standard categories, never substance use) with the organization the client is
    /// referred to.
    pub share_with_referral_recipient: bool,
    /// Scoped grants.
    #[serde(default)]
    pub grants: Vec<ConsentGrant>,
    /// Changes after the intake, oldest first.
    #[serde(default)]
    pub history: Vec<ConsentChange>,
}

/// One change of consent after the intake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// When.
    pub changed_at: DateTime<Utc>,
    /// "recorded" or "revoked".
    pub action: String,
    /// Recipient named.
    pub recipient_organization_id: Option<String>,
    /// Referral named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
    /// Categories named (empty: all).
    pub categories: Vec<ConsentCategory>,
    /// Who.
    pub user_id: String,
}

impl Consent {
    /// Adds grants (and the simple referral-recipient consent when `share` is set).
    pub fn record(
        &mut self,
        grants: Vec<ConsentGrant>,
        share: bool,
        at: DateTime<Utc>,
        user_id: &str,
    ) {
        if share {
            self.share_with_referral_recipient = true;
            self.history.push(ConsentChange {
                changed_at: at,
                action: "recorded".into(),
                recipient_organization_id: None,
                referral_id: None,
                categories: STANDARD_CATEGORIES.to_vec(),
                user_id: user_id.to_owned(),
            });
        }
        for g in grants {
            self.history.push(ConsentChange {
                changed_at: at,
                action: "recorded".into(),
                recipient_organization_id: g.recipient_organization_id.clone(),
                referral_id: g.referral_id.clone(),
                categories: g.categories.clone(),
                user_id: user_id.to_owned(),
            });
            self.grants.push(g);
        }
    }

    /// Revokes `categories` (all when empty) for `recipient` and `referral` (every recipient, and the simple
    /// consent, when neither is named; with only a referral, the grants naming that referral). Grants left
    /// without categories are dropped.
    pub fn revoke(
        &mut self,
        recipient: Option<&str>,
        referral: Option<&str>,
        categories: &[ConsentCategory],
        at: DateTime<Utc>,
        user_id: &str,
    ) {
        if recipient.is_none() && referral.is_none() {
            self.share_with_referral_recipient = false;
        }
        for g in &mut self.grants {
            let org_hit = recipient.is_none_or(|r| {
                g.recipient_organization_id.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(r))
            });
            let referral_hit = referral.is_none_or(|r| g.referral_id.as_deref() == Some(r));
            if org_hit && referral_hit {
                g.categories.retain(|c| !categories.is_empty() && !categories.contains(c));
            }
        }
        self.grants.retain(|g| !g.categories.is_empty());
        self.history.push(ConsentChange {
            changed_at: at,
            action: "revoked".into(),
            recipient_organization_id: recipient.map(str::to_owned),
            referral_id: referral.map(str::to_owned),
            categories: categories.to_vec(),
            user_id: user_id.to_owned(),
        });
    }

    /// The categories that may be shared with `organization_id` as the recipient of `referral_id` (`None`:
    /// before the referral exists). Substance-use information only ever comes from a grant naming that
    /// organization. Only what may be shared: that a live referral of the owner's makes the organization a
    /// recipient at all is checked apart (`app::access`).
    pub fn categories_for(
        &self,
        organization_id: &str,
        referral_id: Option<&str>,
    ) -> Vec<ConsentCategory> {
        let mut out: Vec<ConsentCategory> = Vec::new();
        if self.share_with_referral_recipient {
            out.extend(STANDARD_CATEGORIES);
        }
        for g in self.grants.iter().filter(|g| g.covers(organization_id, referral_id)) {
            let named = g.recipient_organization_id.is_some();
            out.extend(
                g.categories
                    .iter()
                    .copied()
                    .filter(|c| named || *c != ConsentCategory::SubstanceUse),
            );
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether the client consented to a referral to `organization_id` (identity and assessment may go).
    pub fn allows_referral_to(&self, organization_id: &str) -> bool {
        let cats = self.categories_for(organization_id, None);
        REFERRAL_CATEGORIES.iter().all(|c| cats.contains(c))
    }
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
    pub id: String,
    /// Client id.
    pub client_id: String,
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
        [
            RoutingStatus::Pending,
            RoutingStatus::Referred,
            RoutingStatus::Waitlisted,
            RoutingStatus::NeedsCoordinator,
        ]
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
    /// Set when this routing re-routes the client after a reassessment raised risk to the crisis
    /// pathway: that assessment's id (it makes the downstream idempotency keys new).
    #[serde(default)]
    pub reroute_for_assessment: Option<String>,
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
            reroute_for_assessment: None,
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
    fn consent_scope_record_and_revoke() {
        let org = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";
        let other = "0190a1b2-c3d4-7e5f-8a9b-0000000000d4";
        let now = Utc::now();
        let grant = |org: Option<&str>,
                     referral: Option<&str>,
                     categories: Vec<ConsentCategory>| ConsentGrant {
            recipient_organization_id: org.map(str::to_owned),
            referral_id: referral.map(str::to_owned),
            categories,
        };
        let mut c = Consent::default();
        assert!(!c.allows_referral_to(org));
        c.record(vec![grant(Some(org), None, REFERRAL_CATEGORIES.to_vec())], false, now, "u");
        c.record(
            vec![grant(Some(org), None, vec![ConsentCategory::SubstanceUse])],
            false,
            now,
            "u",
        );
        assert!(c.allows_referral_to(org) && !c.allows_referral_to(other));
        assert!(c.categories_for(org, Some("r1")).contains(&ConsentCategory::SubstanceUse));
        // The simple consent never carries substance use, and an unnamed grant cannot either.
        let mut simple = Consent { share_with_referral_recipient: true, ..Default::default() };
        simple.grants.push(grant(None, None, vec![ConsentCategory::SubstanceUse]));
        assert!(
            simple.allows_referral_to(other)
                && !simple.categories_for(other, None).contains(&ConsentCategory::SubstanceUse)
        );
        // Revoking one category for one organization.
        c.revoke(Some(org), None, &[ConsentCategory::SubstanceUse], now, "u");
        assert!(
            c.allows_referral_to(org)
                && !c.categories_for(org, None).contains(&ConsentCategory::SubstanceUse)
        );
        // Revoking everything.
        c.revoke(None, None, &[], now, "u");
        assert!(!c.allows_referral_to(org) && c.grants.is_empty());
        assert_eq!(
            c.history.iter().map(|h| h.action.as_str()).collect::<Vec<_>>(),
            vec!["recorded", "recorded", "revoked", "revoked"]
        );
    }

    #[test]
    fn a_grant_naming_a_referral_covers_that_referral_only() {
        let org = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";
        let now = Utc::now();
        let mut c = Consent::default();
        c.record(
            vec![ConsentGrant {
                recipient_organization_id: None,
                referral_id: Some("r1".into()),
                categories: vec![ConsentCategory::TreatmentHistory],
            }],
            false,
            now,
            "u",
        );
        assert_eq!(c.categories_for(org, Some("r1")), vec![ConsentCategory::TreatmentHistory]);
        assert!(
            c.categories_for(org, Some("r2")).is_empty(),
            "another referral of the same recipient"
        );
        assert!(c.categories_for(org, None).is_empty(), "before the referral exists");
        // Revoking by referral ends it (and leaves the simple consent alone).
        c.share_with_referral_recipient = true;
        c.revoke(None, Some("r1"), &[], now, "u");
        assert!(c.grants.is_empty() && c.share_with_referral_recipient);
        assert_eq!(c.history.last().and_then(|h| h.referral_id.as_deref()), Some("r1"));
    }

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
        for s in [
            RoutingStatus::Pending,
            RoutingStatus::Referred,
            RoutingStatus::Waitlisted,
            RoutingStatus::NeedsCoordinator,
        ] {
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
    /// The provider's organization.
    #[serde(default)]
    pub organization_id: String,
    /// Whether the client consented to a referral to that organization.
    #[serde(default = "yes")]
    pub consented: bool,
    /// Whether the program involves the family.
    #[serde(default)]
    pub family_involvement: bool,
    /// Whether the provider offers trauma processing (a trauma-processing modality or track).
    #[serde(default)]
    pub trauma_processing: bool,
}

fn yes() -> bool {
    true
}

/// Orders matching's ranking by what the assessment asks for, keeping matching's order otherwise (a
/// stable sort): youth first to options with family involvement (`routing.youth_family_first`), then,
/// when trauma-focused care is indicated, options offering trauma processing first
/// (`routing.trauma_focused_first`). Returns the ids of the rules applied.
pub fn order_candidates(
    candidates: &mut [Candidate],
    family_first: bool,
    trauma_first: bool,
) -> Vec<&'static str> {
    candidates.sort_by_key(|c| {
        (family_first && !c.family_involvement, trauma_first && !c.trauma_processing)
    });
    let mut applied = Vec::new();
    if family_first {
        applied.push("routing.youth_family_first");
    }
    if trauma_first {
        applied.push("routing.trauma_focused_first");
    }
    applied
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
    /// Routing rules applied to the ranking and the referral (ids from the rules file).
    #[serde(default)]
    pub rules_applied: Vec<String>,
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
