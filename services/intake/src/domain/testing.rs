//! Test fixtures of domain values (compiled for tests only).

use chrono::{NaiveDate, Utc};
use continuum_vocab::PaymentOption;
use continuum_vocab::ids::{ClientId, IntakeId, OrganizationId};

use super::{
    ClientDetails, Consent, Intake, NewIntake, Preferences, RoutingDecision, Rules, Screeners,
    assess,
};

/// The organization of [`new_intake`].
pub const ORG: &str = "0190a1b2-c3d4-7e5f-8a9b-00000000000f";
/// The intake id of [`intake_of`].
pub const I1: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000e1";
/// The client id of [`intake_of`].
pub const C1: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000c1";

/// A minimal adult submission (US-CA, English, self-pay) of organization [`ORG`] with `screeners`.
pub fn new_intake(screeners: Screeners) -> NewIntake {
    NewIntake {
        idempotency_key: "k".into(),
        organization_id: OrganizationId::parse(ORG).unwrap_or_else(OrganizationId::new_v7),
        submitting_clinician_id: String::new(),
        external_client_id: String::new(),
        client: ClientDetails {
            given_name: String::from("A").into(),
            family_name: String::from("B").into(),
            date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default().into(),
            email: String::new().into(),
            phone: String::new().into(),
            pronouns: String::new().into(),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: PaymentOption::SelfPay,
        },
        presenting_concerns_text: String::new().into(),
        screeners,
        preferences: Preferences::default(),
        consent: Consent::default(),
        clinician_reports_imminent_risk: false,
        presenting_concerns: Vec::new(),
        dysregulation: None,
        functional_impairment: None,
        substance_use: None,
        stressors: Vec::new(),
        supports: Vec::new(),
        treatment_history: Vec::new(),
        stage_of_change: None,
        clinician_override: None,
    }
}

/// A stored intake (id [`I1`], client [`C1`]) taken by `organization_id`, with the simple consent to share
/// with the referral recipient when `share`.
pub fn intake_of(organization_id: &str, share: bool) -> Intake {
    let mut submission = new_intake(Screeners { readiness_ruler: Some(7), ..Screeners::default() });
    submission.organization_id = OrganizationId::parse(organization_id)
        .unwrap_or_else(|| panic!("{organization_id:?} is not a UUID"));
    submission.consent.share_with_referral_recipient = share;
    let rules = Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
    let assessment = assess("a1".into(), &submission, &rules, Utc::now(), None);
    Intake {
        id: IntakeId::parse(I1).unwrap_or_else(IntakeId::new_v7),
        client_id: ClientId::parse(C1).unwrap_or_else(ClientId::new_v7),
        submission,
        assessment,
        latest_override_reason: None,
        routing: RoutingDecision::pending("test"),
        received_at: Utc::now(),
        tasks: Vec::new(),
    }
}
