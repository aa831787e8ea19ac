//! RecordConsent and RevokeConsent. The auth layer refuses them until their policy rows exist
//! (`libs/continuum-auth/src/policy.rs`), so the gRPC tests are ignored for now; the handler itself is
//! tested directly, with the caller the auth layer would attach.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use continuum_auth::{Caller, Role};
use continuum_proto::intake::v1 as pb;
use continuum_proto::intake::v1::intake_service_server::IntakeService;
use tonic::{Code, Request};

use crate::helpers::*;

const RECIPIENT: &str = "0190a1b2-c3d4-7e5f-8a9b-0000000000c3";

fn as_clinician<T>(message: T, org: &str) -> Request<T> {
    let mut r = Request::new(message);
    r.extensions_mut().insert(Caller { user_id: "clin-9".into(), organization_id: org.into(), roles: vec![Role::Clinician], acting_for: None });
    r
}

/// The handler over a real store, without the auth layer (the caller is attached by hand).
async fn direct_api(backing: &continuum_testkit::Backing) -> intake::grpc::IntakeApi {
    let peers = [closed_addr().await, closed_addr().await, closed_addr().await];
    let settings = intake::config::Settings::new("127.0.0.1:0".parse().unwrap(), peers, backing.common());
    let common = &settings.common;
    let db = continuum_db::connect_and_migrate::<intake::store::Migrator>("intake", &common.db()).await.unwrap();
    let cipher = continuum_auth::crypto::FieldCipher::from_settings_or_file(&common.crypto, &common.data_dir.join("intake.keys")).unwrap();
    let store = intake::store::Store::new(db, Arc::new(cipher));
    let router = intake::routing::Router::new(store.clone(), intake::routing::Peers::connect(&settings).unwrap(), Duration::from_secs(1));
    let cache = common.open_cache("intake").await.unwrap();
    intake::grpc::IntakeApi::new(store, router, cache, Arc::new(intake::domain::Rules::embedded().unwrap()))
}

#[tokio::test]
async fn consent_is_recorded_scoped_and_revoked() {
    let backing = continuum_testkit::Backing::fresh().await;
    let api = direct_api(&backing).await;
    let mut s = submission("consent-rpc");
    s.consent = Some(pb::Consent { share_with_referral_recipient: false });
    s.clinician_reports_imminent_risk = false;
    let intake = tokio::time::timeout(Duration::from_secs(30), api.submit_intake(as_clinician(s, ORG))).await.unwrap().unwrap().into_inner().intake.unwrap();

    let grant = |cats: &[pb::ConsentCategory]| pb::ConsentGrant { recipient_organization_id: RECIPIENT.into(), categories: cats.iter().map(|c| *c as i32).collect() };
    let recorded = api
        .record_consent(as_clinician(
            pb::RecordConsentRequest {
                intake_id: intake.id.clone(),
                grants: vec![
                    grant(&[pb::ConsentCategory::IdentityAndContact, pb::ConsentCategory::ScreeningAndAssessment]),
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
            pb::RecordConsentRequest { intake_id: intake.id.clone(), grants: vec![grant(&[pb::ConsentCategory::SubstanceUse, pb::ConsentCategory::TreatmentHistory])], ..Default::default() },
            ORG,
        ))
        .await
        .unwrap_err();
    assert_eq!(continuum_errors::bad_fields_of(&err), vec!["consent_grants[0].categories".to_owned()]);

    // Another organization cannot touch it.
    let other = api
        .revoke_consent(as_clinician(pb::RevokeConsentRequest { intake_id: intake.id.clone(), ..Default::default() }, "0190a1b2-c3d4-7e5f-8a9b-0000000000ff"))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);

    let revoked = api
        .revoke_consent(as_clinician(
            pb::RevokeConsentRequest { intake_id: intake.id.clone(), recipient_organization_id: RECIPIENT.into(), categories: vec![pb::ConsentCategory::SubstanceUse as i32] },
            ORG,
        ))
        .await
        .unwrap()
        .into_inner()
        .consent
        .unwrap();
    assert_eq!(revoked.grants.len(), 1, "the substance-use grant is gone");
    let all = api
        .revoke_consent(as_clinician(pb::RevokeConsentRequest { intake_id: intake.id.clone(), ..Default::default() }, ORG))
        .await
        .unwrap()
        .into_inner()
        .consent
        .unwrap();
    assert!(all.grants.is_empty() && !all.share_with_referral_recipient);
    assert_eq!(all.history.last().unwrap().action, "revoked");

    // Read back: the consent is stored (encrypted with the submission).
    let got = api.get_intake(as_clinician(pb::GetIntakeRequest { intake_id: intake.id.clone() }, ORG)).await.unwrap().into_inner().intake.unwrap();
    assert!(got.consent_grants.is_empty());
}

#[tokio::test]
async fn consent_rpcs_over_grpc() {
    let mut app = spawn_app().await;
    let intake = app.client.submit_intake(submission("consent-grpc")).await.unwrap().into_inner().intake.unwrap();
    let r = app
        .client
        .revoke_consent(pb::RevokeConsentRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(!r.consent.unwrap().share_with_referral_recipient);
    let mut ops = app.client_as(ORG, &[Role::Ops]);
    let events = ops
        .list_audit_events(pb::ListAuditEventsRequest { client_id: intake.client_id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.last().unwrap().rpc, "continuum.intake.v1.IntakeService/RevokeConsent");
    assert_eq!(events.last().unwrap().record_type, "consent");
}

#[tokio::test]
async fn a_recipient_service_reads_only_what_the_client_consented_to() {
    let mut app = spawn_app().await;
    let grant = |cats: &[pb::ConsentCategory]| pb::ConsentGrant { recipient_organization_id: RECIPIENT.into(), categories: cats.iter().map(|c| *c as i32).collect() };
    let mut s = submission("shared");
    s.consent = None;
    s.consent_grants = vec![grant(&[pb::ConsentCategory::IdentityAndContact, pb::ConsentCategory::ScreeningAndAssessment])];
    s.substance_use = pb::SubstanceUse::Dependence as i32;
    s.presenting_concerns = vec![pb::PresentingConcern::Depression as i32, pb::PresentingConcern::SubstanceUse as i32];
    s.stressors = vec![pb::Stressor::Legal as i32];
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    let a = intake.assessment.as_ref().unwrap();
    assert!(a.fired_rules.iter().any(|r| r.rule_id == "level.step_up_substance_use"));
    assert!(a.supports_to_add.contains(&"mutual_help_group".to_owned()));

    let mut recipient = app.client_with(continuum_testkit::Bearer::new(&app.backing.service_token(RECIPIENT)));
    let got = recipient.get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone() }).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(got.client.as_ref().unwrap().given_name, "Avery", "identity was consented");
    assert!(got.assessment.is_some(), "assessment was consented");
    assert!(got.presenting_concerns_text.is_empty() && got.presenting_concerns.is_empty(), "presenting concerns were not");
    assert!(got.stressors.is_empty() && got.preferences.is_none(), "social context was not");
    assert_eq!(got.substance_use, 0, "substance use only under its own grant");
    let ga = got.assessment.unwrap();
    assert!(ga.fired_rules.iter().all(|r| !r.rule_id.contains("substance_use")));
    assert!(!ga.supports_to_add.contains(&"mutual_help_group".to_owned()));
    assert!(got.consent_grants.is_empty());

    let mut stranger = app.client_with(continuum_testkit::Bearer::new(&app.backing.service_token("0190a1b2-c3d4-7e5f-8a9b-0000000000ff")));
    assert_eq!(stranger.get_intake(pb::GetIntakeRequest { intake_id: intake.id.clone() }).await.unwrap_err().code(), Code::NotFound);

    // With a substance-use grant of its own, the recipient sees it.
    let mut s = submission("shared-su");
    s.consent = None;
    s.consent_grants = vec![
        grant(&[pb::ConsentCategory::IdentityAndContact, pb::ConsentCategory::ScreeningAndAssessment]),
        grant(&[pb::ConsentCategory::SubstanceUse]),
    ];
    s.substance_use = pb::SubstanceUse::Dependence as i32;
    let intake = app.client.submit_intake(s).await.unwrap().into_inner().intake.unwrap();
    let got = recipient.get_intake(pb::GetIntakeRequest { intake_id: intake.id }).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(got.substance_use, pb::SubstanceUse::Dependence as i32);
}
