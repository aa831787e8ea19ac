//! RecordConsent and RevokeConsent. The auth layer refuses them until their policy rows exist
//! (`libs/continuum-auth/src/policy.rs`), so the gRPC tests are ignored for now; the handler itself is
//! tested directly, with the caller the auth layer would attach.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_auth::Role;
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_server::IntakeService;
use tonic::Code;

use crate::helpers::*;

const RECIPIENT: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";

/// The handler over a real store with every peer down, without the auth layer.
async fn peerless_api(backing: &continuum_testkit::Backing) -> intake::grpc::IntakeApi {
    let peers = [closed_addr().await, closed_addr().await, closed_addr().await];
    direct_api(backing, open_store(backing).await, peers).await
}

#[tokio::test]
async fn consent_is_recorded_scoped_and_revoked() {
    let backing = continuum_testkit::Backing::fresh().await;
    let api = peerless_api(&backing).await;
    let mut s = submission("consent-rpc");
    s.consent = Some(pb::Consent { share_with_referral_recipient: false });
    s.clinician_reports_imminent_risk = false;
    let intake =
        tokio::time::timeout(Duration::from_secs(30), api.submit_intake(as_clinician(s, ORG)))
            .await
            .unwrap()
            .unwrap()
            .into_inner()
            .intake
            .unwrap();

    let grant = |cats: &[pb::ConsentCategory]| pb::ConsentGrant {
        recipient_organization_id: RECIPIENT.into(),
        categories: cats.iter().map(|c| *c as i32).collect(),
        ..Default::default()
    };
    let recorded = api
        .record_consent(as_clinician(
            pb::RecordConsentRequest {
                intake_id: intake.id.clone(),
                grants: vec![
                    grant(&[
                        pb::ConsentCategory::IdentityAndContact,
                        pb::ConsentCategory::ScreeningAndAssessment,
                    ]),
                    grant(&[pb::ConsentCategory::SubstanceUse]),
                ],
                share_with_referral_recipient: false,
            },
            ORG,
        ))
        .await
        .unwrap()
        .into_inner()
        .consent
        .unwrap();
    assert_eq!(recorded.grants.len(), 2);
    assert_eq!(recorded.history.len(), 2);
    assert!(recorded.history.iter().all(|h| h.action == "recorded" && h.user_id == "clin-9"));

    // Substance use mixed into another grant is refused, by field.
    let err = api
        .record_consent(as_clinician(
            pb::RecordConsentRequest {
                intake_id: intake.id.clone(),
                grants: vec![grant(&[
                    pb::ConsentCategory::SubstanceUse,
                    pb::ConsentCategory::TreatmentHistory,
                ])],
                ..Default::default()
            },
            ORG,
        ))
        .await
        .unwrap_err();
    assert_eq!(continuum_errors::bad_fields_of(&err), vec!["grants[0].categories".to_owned()]);

    // Another organization cannot touch it.
    let other = api
        .revoke_consent(as_clinician(
            pb::RevokeConsentRequest { intake_id: intake.id.clone(), ..Default::default() },
            "0190a1b2-c3d4-7e5f-8a9b-0000000000ff",
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);

    let revoked = api
        .revoke_consent(as_clinician(
            pb::RevokeConsentRequest {
                intake_id: intake.id.clone(),
                recipient_organization_id: RECIPIENT.into(),
                categories: vec![pb::ConsentCategory::SubstanceUse as i32],
                ..Default::default()
            },
            ORG,
        ))
        .await
        .unwrap()
        .into_inner()
        .consent
        .unwrap();
    assert_eq!(revoked.grants.len(), 1, "the substance-use grant is gone");
    let all = api
        .revoke_consent(as_clinician(
            pb::RevokeConsentRequest { intake_id: intake.id.clone(), ..Default::default() },
            ORG,
        ))
        .await
        .unwrap()
        .into_inner()
        .consent
        .unwrap();
    assert!(all.grants.is_empty() && !all.share_with_referral_recipient);
    assert_eq!(all.history.last().unwrap().action, "revoked");

    // Read back: the consent is stored (encrypted with the submission).
    let got = api
        .get_intake(as_clinician(
            pb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() },
            ORG,
        ))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert!(got.consent_grants.is_empty());
}

#[tokio::test]
async fn consent_rpcs_over_grpc() {
    let mut app = spawn_app().await;
    let intake = app
        .client
        .submit_intake(submission("consent-grpc"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    let r = app
        .client
        .revoke_consent(pb::RevokeConsentRequest {
            intake_id: intake.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.consent.unwrap().share_with_referral_recipient);
    let mut ops = app.client_as(ORG, &[Role::Ops]);
    let events = ops
        .list_audit_events(pb::ListAuditEventsRequest {
            client_id: intake.client_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.last().unwrap().rpc, "continuum.intake.v1.IntakeService/RevokeConsent");
    assert_eq!(events.last().unwrap().record_type, "consent");
}

/// The referral a routed intake made (the routing decision names it).
fn referral_of(intake: &pb::Intake) -> String {
    let r = intake.routing.as_ref().unwrap();
    assert_eq!(r.status, pb::RoutingStatus::Referred as i32, "{}", r.reason);
    r.referral_id.clone()
}

#[tokio::test]
async fn a_recipient_reads_only_what_the_client_consented_to_and_only_under_a_live_referral() {
    let mut app = spawn_with_matching_and_referral().await;
    // Substance-use dependence steps the level up: the recipient offers outpatient and intensive outpatient.
    let mut p = clinician("Dr Recipient", &[continuum_proto::common::v1::Modality::Cbt], 5);
    p.levels_of_care.push(continuum_proto::common::v1::LevelOfCare::IntensiveOutpatient as i32);
    app.add_provider(p).await;
    let grant = |cats: &[pb::ConsentCategory]| pb::ConsentGrant {
        recipient_organization_id: RECIPIENT.into(),
        categories: cats.iter().map(|c| *c as i32).collect(),
        ..Default::default()
    };
    let mut s = submission("shared");
    s.consent = None;
    s.consent_grants = vec![grant(&[
        pb::ConsentCategory::IdentityAndContact,
        pb::ConsentCategory::ScreeningAndAssessment,
    ])];
    s.substance_use = pb::SubstanceUse::Dependence as i32;
    s.presenting_concerns =
        vec![pb::PresentingConcern::Depression as i32, pb::PresentingConcern::SubstanceUse as i32];
    s.stressors = vec![pb::Stressor::Legal as i32];
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    let referral_id = referral_of(&intake);
    let a = intake.assessment.as_ref().unwrap();
    assert!(a.fired_rules.iter().any(|r| r.rule_id == "level.step_up_substance_use"));
    assert!(a.supports_to_add.contains(&"mutual_help_group".to_owned()));

    // The recipient's service (acting for one of its users) reads under the referral its organization
    // received: only what the client consented to share with it.
    let mut recipient =
        app.client_with(continuum_testkit::Bearer::new(&app.backing.service_token(RECIPIENT)));
    let read = |intake_id: &str, referral_id: &str| pb::GetIntakeRequest {
        intake_id: intake_id.into(),
        referral_id: referral_id.into(),
    };
    let got = recipient
        .get_intake(read(&intake.id, &referral_id))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(got.client.as_ref().unwrap().given_name, "Avery", "identity was consented");
    assert!(got.assessment.is_some(), "assessment was consented");
    assert!(
        got.presenting_concerns_text.is_empty() && got.presenting_concerns.is_empty(),
        "presenting concerns were not"
    );
    assert!(got.stressors.is_empty() && got.preferences.is_none(), "social context was not");
    assert_eq!(got.substance_use, 0, "substance use only under its own grant");
    let ga = got.assessment.unwrap();
    assert!(ga.fired_rules.iter().all(|r| !r.rule_id.contains("substance_use")));
    assert!(!ga.supports_to_add.contains(&"mutual_help_group".to_owned()));
    assert!(got.consent_grants.is_empty());

    // Consent alone opens nothing: without the referral, under a referral that does not exist, or as an
    // organization that received no referral, the intake is not found.
    let unknown = uuid::Uuid::now_v7().to_string();
    for referral in ["", unknown.as_str()] {
        assert_eq!(
            recipient.get_intake(read(&intake.id, referral)).await.unwrap_err().code(),
            Code::NotFound,
            "{referral:?}"
        );
    }
    let mut stranger = app.client_with(continuum_testkit::Bearer::new(
        &app.backing.service_token("0190a1b2-c3d4-7e5f-8a9b-0000000000ff"),
    ));
    assert_eq!(
        stranger.get_intake(read(&intake.id, &referral_id)).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut stranger_person = app
        .client_as("0190a1b2-c3d4-7e5f-8a9b-0000000000ff", &[Role::Coordinator, Role::Clinician]);
    assert_eq!(
        stranger_person.get_intake(read(&intake.id, &referral_id)).await.unwrap_err().code(),
        Code::NotFound
    );

    // With a substance-use grant of its own, the recipient sees it.
    let mut s = submission("shared-su");
    s.consent = None;
    s.consent_grants = vec![
        grant(&[
            pb::ConsentCategory::IdentityAndContact,
            pb::ConsentCategory::ScreeningAndAssessment,
        ]),
        grant(&[pb::ConsentCategory::SubstanceUse]),
    ];
    s.substance_use = pb::SubstanceUse::Dependence as i32;
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    let referral_id = referral_of(&intake);
    let got = recipient
        .get_intake(read(&intake.id, &referral_id))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(got.substance_use, pb::SubstanceUse::Dependence as i32);

    // Once the referrer cancels, the referral is no longer live and carries no access.
    let mut referrer = app.referral_coordinator();
    let r = referrer
        .get_referral(continuum_proto::referral::v1::GetReferralRequest {
            referral_id: referral_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    referrer
        .transition_referral(continuum_testkit::requests::transition(
            &referral_id,
            r.version,
            continuum_proto::referral::v1::ReferralAction::Cancel,
        ))
        .await
        .unwrap();
    assert_eq!(
        recipient.get_intake(read(&intake.id, &referral_id)).await.unwrap_err().code(),
        Code::NotFound
    );
}
