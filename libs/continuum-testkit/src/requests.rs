//! Request builders the tests of several crates share, so a change of an API's shape is made once: a
//! valid request of every RPC whose validator the property tests and the fuzz targets start from (each
//! is accepted by its service's `convert` as it is), and [`transition`].

use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::waitlist::v1 as wpb;

/// The organization of the valid requests below.
pub const ORG: &str = "0190d5a0-0000-7000-8000-000000000001";
/// A second organization (a referral's recipient, a consent's recipient).
pub const OTHER_ORG: &str = "0190d5a0-0000-7000-8000-000000000002";
/// The client of the valid requests below.
pub const CLIENT: &str = "0190d5a0-0000-7000-8000-0000000000c1";
/// The intake of the valid requests below.
pub const INTAKE: &str = "0190d5a0-0000-7000-8000-0000000000e1";
/// The provider of the valid requests below.
pub const PROVIDER: &str = "0190d5a0-0000-7000-8000-0000000000a1";
/// A second provider.
pub const OTHER_PROVIDER: &str = "0190d5a0-0000-7000-8000-0000000000a2";
/// A referral id.
pub const REFERRAL: &str = "0190d5a0-0000-7000-8000-0000000000b1";
/// A waitlist entry id.
pub const ENTRY: &str = "0190d5a0-0000-7000-8000-0000000000d1";
/// A waitlist offer id.
pub const OFFER: &str = "0190d5a0-0000-7000-8000-0000000000f1";
/// A clinical task id.
pub const TASK: &str = "0190d5a0-0000-7000-8000-0000000000f2";
/// A matching capacity event id.
pub const EVENT: &str = "0190d5a0-0000-7000-8000-0000000000f3";

fn date(year: i32, month: i32, day: i32) -> common::Date {
    common::Date { year, month, day }
}

/// A complete adult submission with moderate depression, anxiety, history, preferences and a consent
/// grant: nearly every field of `SubmitIntakeRequest` set to a valid value.
pub fn submit_intake(key: &str) -> ipb::SubmitIntakeRequest {
    ipb::SubmitIntakeRequest {
        idempotency_key: key.into(),
        organization_id: ORG.into(),
        submitting_clinician_id: "clin-7".into(),
        external_client_id: format!("ext-{key}"),
        client: Some(ipb::ClientDetails {
            given_name: "Avery".into(),
            family_name: "Example".into(),
            date_of_birth: Some(date(1990, 4, 12)),
            email: "avery@example.org".into(),
            phone: "+1 415 555 0100".into(),
            pronouns: "they/them".into(),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: common::PaymentOption::SelfPay as i32,
        }),
        presenting_concerns_text: "low mood since spring".into(),
        screeners: Some(ipb::Screeners {
            phq9: Some(ipb::Phq9 { items: vec![2, 2, 1, 1, 1, 1, 1, 2, 0] }),
            gad7: Some(ipb::Gad7 { items: vec![1, 1, 1, 1, 0, 0, 0] }),
            readiness_ruler: Some(ipb::ReadinessRuler { rating: 7 }),
            ..Default::default()
        }),
        preferences: Some(ipb::Preferences {
            formats: vec![common::CareFormat::Video as i32],
            additional_languages: vec!["es".into()],
            identity_preferences: vec!["lgbtq-affirming".into()],
            ..Default::default()
        }),
        consent: Some(ipb::Consent { share_with_referral_recipient: true }),
        clinician_reports_imminent_risk: false,
        presenting_concerns: vec![1, 2],
        dysregulation: Some(ipb::DysregulationSigns {
            overwhelm: ipb::Frequency::Never as i32,
            ..Default::default()
        }),
        functional_impairment: 1,
        substance_use: 1,
        stressors: vec![1],
        supports: vec![1],
        treatment_history: vec![ipb::TreatmentEpisode {
            modality: common::Modality::Cbt as i32,
            level_of_care: 0,
            started: Some(date(2020, 1, 6)),
            ended: Some(date(2020, 6, 1)),
            outcome: 1,
        }],
        stage_of_change: 0,
        consent_grants: vec![ipb::ConsentGrant {
            recipient_organization_id: OTHER_ORG.into(),
            categories: vec![1, 2],
            referral_id: String::new(),
        }],
        clinician_override: None,
    }
}

/// A re-screen of [`INTAKE`]: PHQ-9 and a C-SSRS, with a clinician's phase override.
pub fn record_reassessment() -> ipb::RecordReassessmentRequest {
    ipb::RecordReassessmentRequest {
        intake_id: INTAKE.into(),
        screeners: Some(ipb::Screeners {
            phq9: Some(ipb::Phq9 { items: vec![1, 1, 1, 1, 1, 1, 0, 0, 0] }),
            cssrs: Some(ipb::Cssrs { wish_to_be_dead: true, ..Default::default() }),
            ..Default::default()
        }),
        clinician_reports_imminent_risk: false,
        dysregulation: None,
        clinician_override: Some(ipb::AssessmentOverride {
            level_of_care: 0,
            phase: common::CarePhase::Stabilisation as i32,
            reason: "client asked to go slowly".into(),
            clinician_id: "clin-7".into(),
            acknowledge_below_risk: false,
        }),
    }
}

/// A consent of [`INTAKE`]'s client: two categories for [`OTHER_ORG`], and sharing with the referral
/// recipient.
pub fn record_consent() -> ipb::RecordConsentRequest {
    ipb::RecordConsentRequest {
        intake_id: INTAKE.into(),
        grants: vec![ipb::ConsentGrant {
            recipient_organization_id: OTHER_ORG.into(),
            categories: vec![1, 2],
            referral_id: String::new(),
        }],
        share_with_referral_recipient: true,
    }
}

/// A new outpatient clinician of [`ORG`] with a full fit profile.
pub fn provider() -> mpb::Provider {
    mpb::Provider {
        specialties: vec![mpb::ProblemDomain::Depression as i32],
        outcome_strengths: vec![mpb::OutcomeStrength {
            domain: mpb::ProblemDomain::Depression as i32,
            rating: 1,
            cases: 40,
        }],
        identity: Some(mpb::IdentitySelfDescription { codes: vec!["lgbtq-affirming".into()] }),
        location: Some(mpb::Location {
            region: "US-CA-SF".into(),
            coordinates: Some(mpb::Coordinates { latitude: 37.77, longitude: -122.42 }),
        }),
        faith_options: vec!["interfaith".into()],
        schedule: vec![1],
        typical_wait_days: 14,
        relational_style: Some(common::RelationalStyle { directiveness: 1, ..Default::default() }),
        ..crate::clinician(ORG, "Dr. Example", &[common::Modality::Cbt], 3)
    }
}

/// A create of [`provider`].
pub fn upsert_provider() -> mpb::UpsertProviderRequest {
    mpb::UpsertProviderRequest { provider: Some(provider()), expected_version: 0 }
}

/// An adult outpatient client profile in US-CA, English, self-pay.
pub fn client_profile() -> mpb::ClientProfile {
    mpb::ClientProfile {
        level_of_care: common::LevelOfCare::Outpatient as i32,
        age_group: common::AgeGroup::Adult as i32,
        jurisdiction: "US-CA".into(),
        language: "en".into(),
        payment_option: common::PaymentOption::SelfPay as i32,
        formats: vec![common::CareFormat::Video as i32],
        modalities_avoided: vec![common::Modality::Emdr as i32],
        needs_crisis_capable: false,
        phase: 0,
        relational_style: None,
    }
}

/// A fit profile: depression, CBT wanted, a region and a location.
pub fn client_fit() -> mpb::ClientFit {
    mpb::ClientFit {
        problem_domains: vec![mpb::ProblemDomain::Depression as i32],
        modalities_wanted: vec![common::Modality::Cbt as i32],
        identity_preferences: vec!["lgbtq-affirming".into()],
        region: "US-CA".into(),
        excluded_provider_ids: vec![OTHER_PROVIDER.into()],
        programs_cycled: 1,
        location: Some(mpb::Coordinates { latitude: 37.7, longitude: -122.4 }),
        ..Default::default()
    }
}

/// The top 5 for [`client_profile`].
pub fn recommend() -> mpb::RecommendRequest {
    mpb::RecommendRequest { client: Some(client_profile()), top_k: 5 }
}

/// A new referral of [`CLIENT`] to [`PROVIDER`], with one alternative.
pub fn create_referral(key: &str) -> rpb::CreateReferralRequest {
    rpb::CreateReferralRequest {
        idempotency_key: key.into(),
        client_id: CLIENT.into(),
        intake_id: INTAKE.into(),
        referrer_organization_id: ORG.into(),
        provider_id: PROVIDER.into(),
        urgency: common::Urgency::Routine as i32,
        allow_overbook: false,
        scheduled_at: None,
        alternative_provider_ids: vec![OTHER_PROVIDER.into()],
        first_open_alternative: false,
        capacity_hold_key: String::new(),
    }
}

/// An enqueue of [`CLIENT`] on two providers, with bridge needs.
pub fn enqueue(key: &str) -> wpb::EnqueueRequest {
    wpb::EnqueueRequest {
        idempotency_key: key.into(),
        client_id: CLIENT.into(),
        intake_id: INTAKE.into(),
        organization_id: ORG.into(),
        band: wpb::Band::Soon as i32,
        risk_level: common::RiskLevel::Low as i32,
        candidate_provider_ids: vec![PROVIDER.into(), OTHER_PROVIDER.into()],
        level_of_care: common::LevelOfCare::Outpatient as i32,
        age_group: common::AgeGroup::Adult as i32,
        bridge_needs: Some(wpb::BridgeNeeds {
            jurisdiction: "US-CA".into(),
            language: "en".into(),
            payment_option: common::PaymentOption::SelfPay as i32,
            formats: vec![common::CareFormat::Video as i32],
        }),
    }
}

/// An answered check-in of [`ENTRY`] with both screeners, at version 1.
pub fn record_check_in() -> wpb::RecordCheckInRequest {
    wpb::RecordCheckInRequest {
        entry_id: ENTRY.into(),
        answered: true,
        phq9_items: vec![1, 1, 1, 0, 0, 0, 0, 0, 0],
        gad7_items: vec![1, 0, 0, 0, 0, 0, 0],
        risk_level: common::RiskLevel::Low as i32,
        clinician_reports_imminent_risk: false,
        expected_version: Some(1),
    }
}

/// Two slots of [`PROVIDER`] opened by capacity event [`EVENT`].
pub fn open_slots() -> wpb::OpenSlotsRequest {
    wpb::OpenSlotsRequest { provider_id: PROVIDER.into(), slots: 2, event_id: EVENT.into() }
}

/// The appointment time tests schedule at (2030-03-17).
pub const APPOINTMENT_SECONDS: i64 = 1_900_000_000;

/// A `TransitionReferralRequest` applying `action` at `version`: a rejection for lack of capacity, a
/// scheduling at [`APPOINTMENT_SECONDS`], every other action without parameters. The system actions
/// (escalate, expire, re-route, notify) cannot be requested: they give a request without an action.
pub fn transition(
    referral_id: &str,
    version: i64,
    action: rpb::ReferralAction,
) -> rpb::TransitionReferralRequest {
    use rpb::ReferralAction as A;
    use rpb::transition_referral_request::{Action, Appointment, Plain, Reject, Schedule};
    let appointment = || Appointment { appointment_at: None };
    let action = match action {
        A::MarkReceived => Some(Action::MarkReceived(Plain {})),
        A::Accept => Some(Action::Accept(Plain {})),
        A::Reject => {
            Some(Action::Reject(Reject { reason: rpb::RejectionReason::NoCapacity as i32 }))
        }
        A::Cancel => Some(Action::Cancel(Plain {})),
        A::Schedule => Some(Action::Schedule(Schedule {
            appointment_at: Some(prost_types::Timestamp { seconds: APPOINTMENT_SECONDS, nanos: 0 }),
        })),
        A::RecordNoShow => Some(Action::RecordNoShow(appointment())),
        A::CancelAppointment => Some(Action::CancelAppointment(appointment())),
        A::RecordFirstAppointmentAttended => {
            Some(Action::RecordFirstAppointmentAttended(appointment()))
        }
        A::RecordSecondAppointmentAttended => {
            Some(Action::RecordSecondAppointmentAttended(appointment()))
        }
        A::Complete => Some(Action::Complete(Plain {})),
        A::Fail => Some(Action::Fail(Plain {})),
        A::Hold => Some(Action::Hold(Plain {})),
        A::Resume => Some(Action::Resume(Plain {})),
        A::Send => Some(Action::Send(Plain {})),
        A::EnterInError => Some(Action::EnterInError(Plain {})),
        A::Unspecified | A::Escalate | A::Expire | A::Reroute | A::NotifyReferrer => None,
    };
    rpb::TransitionReferralRequest {
        referral_id: referral_id.to_owned(),
        expected_version: version,
        action,
        note: String::new(),
    }
}
