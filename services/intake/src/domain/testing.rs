//! Test fixtures of domain values (compiled for tests only).

use chrono::{NaiveDate, Utc};
use continuum_vocab::PaymentOption;

use super::{
    ClientDetails, Consent, Intake, NewIntake, Preferences, RoutingDecision, Rules, Screeners,
    assess,
};

/// A minimal adult submission (US-CA, English, self-pay) of organization `"org"` with `screeners`.
pub fn new_intake(screeners: Screeners) -> NewIntake {
    NewIntake {
        idempotency_key: "k".into(),
        organization_id: "org".into(),
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

/// A stored intake (id `"i1"`, client `"c1"`) taken by `organization_id`, with the simple consent to share
/// with the referral recipient when `share`.
pub fn intake_of(organization_id: &str, share: bool) -> Intake {
    let mut submission = new_intake(Screeners { readiness_ruler: Some(7), ..Screeners::default() });
    submission.organization_id = organization_id.to_owned();
    submission.consent.share_with_referral_recipient = share;
    let rules = Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
    let assessment = assess("a1".into(), &submission, &rules, Utc::now(), None);
    Intake {
        id: "i1".into(),
        client_id: "c1".into(),
        submission,
        assessment,
        latest_override_reason: None,
        routing: RoutingDecision::pending("test"),
        received_at: Utc::now(),
        tasks: Vec::new(),
    }
}
