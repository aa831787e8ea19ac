//! Consent-scoped sharing across services: the recipient organization of a referral reads its handoff
//! packet through referral, which reads the intake from intake acting for that organization; intake
//! releases only the categories the client consented to share with it, and writes one audit row per read.
//! After consent is revoked the recipient reads nothing new; nobody but the recipient reads a packet.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use tonic::Code;

use crate::stack::{CLINIC, PROVIDER_ORG, Stack, clinician, intake_request};

/// An organization with no part in the referral.
const STRANGER: &str = "0190d5a0-0000-7000-8000-0000000000e7";
const GET_INTAKE: &str = "continuum.intake.v1.IntakeService/GetIntake";

fn grant(categories: &[ipb::ConsentCategory]) -> ipb::ConsentGrant {
    ipb::ConsentGrant {
        recipient_organization_id: PROVIDER_ORG.into(),
        categories: categories.iter().map(|c| *c as i32).collect(),
        ..Default::default()
    }
}

async fn packet(
    stack: &Stack,
    org: &str,
    role: Role,
    referral_id: &str,
) -> Result<rpb::HandoffPacket, tonic::Status> {
    let mut client = ReferralServiceClient::new(stack.channel_as("referral", org, &[role]));
    let r = client
        .get_handoff_packet(rpb::GetHandoffPacketRequest { referral_id: referral_id.into() })
        .await?;
    Ok(r.into_inner().packet.expect("a packet"))
}

/// Intake's audit rows of reads made for the provider organization, as ops sees them.
async fn recipient_reads(stack: &Stack, client_id: &str) -> Vec<ipb::AuditEvent> {
    let mut ops = IntakeServiceClient::new(stack.channel_as("intake", CLINIC, &[Role::Ops]));
    let events = ops
        .list_audit_events(ipb::ListAuditEventsRequest {
            client_id: client_id.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    events.into_iter().filter(|e| e.organization_id == PROVIDER_ORG).collect()
}

fn categories(p: &rpb::HandoffPacket) -> Vec<ipb::ConsentCategory> {
    p.shared_categories.iter().map(|c| ipb::ConsentCategory::try_from(*c).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipient_reads_only_the_consented_categories_until_consent_is_revoked() {
    use ipb::ConsentCategory as C;
    let stack = Stack::start().await;
    stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(clinician("Dr Handoff", 2)),
            expected_version: 0,
        })
        .await
        .unwrap();

    // The client consents to a referral to the provider organization (identity, screening and
    // assessment) but not to the simple "share everything standard" consent.
    let mut submission = intake_request("handoff-1");
    submission.consent = None;
    submission.consent_grants = vec![grant(&[C::IdentityAndContact, C::ScreeningAndAssessment])];
    submission.presenting_concerns_text = "low mood since spring".into();
    let intake =
        stack.intake().submit_intake(submission).await.unwrap().into_inner().intake.unwrap();
    let routing = intake.routing.clone().unwrap();
    assert_eq!(routing.status, ipb::RoutingStatus::Referred as i32, "reason: {}", routing.reason);
    let referral_id = routing.referral_id;

    // Later the clinic records consent for the presenting concerns too; nothing else.
    stack
        .intake()
        .record_consent(ipb::RecordConsentRequest {
            intake_id: intake.id.clone(),
            grants: vec![grant(&[C::PresentingConcerns])],
            share_with_referral_recipient: false,
        })
        .await
        .unwrap();
    assert!(
        recipient_reads(&stack, &intake.client_id).await.is_empty(),
        "nothing read for the recipient yet"
    );

    // The recipient's clinician reads exactly the consented categories.
    let p = packet(&stack, PROVIDER_ORG, Role::Clinician, &referral_id).await.unwrap();
    assert_eq!(p.referral_id, referral_id);
    assert_eq!(p.recipient_organization_id, PROVIDER_ORG);
    assert_eq!(
        categories(&p),
        vec![C::IdentityAndContact, C::ScreeningAndAssessment, C::PresentingConcerns]
    );
    let shared = p.intake.clone().unwrap();
    assert_eq!(shared.id, intake.id);
    assert_eq!(shared.client.as_ref().unwrap().given_name, "Robin", "identity was consented");
    assert!(
        shared.screeners.is_some() && shared.assessment.is_some(),
        "screening and assessment were consented"
    );
    assert_eq!(
        shared.presenting_concerns_text, "low mood since spring",
        "presenting concerns were consented"
    );
    assert!(
        shared.preferences.is_none() && shared.stressors.is_empty() && shared.supports.is_empty(),
        "social context was not"
    );
    assert!(shared.treatment_history.is_empty(), "treatment history was not");
    assert_eq!(shared.substance_use, 0, "substance use was not");
    assert!(shared.consent_grants.is_empty(), "the grants themselves stay with the clinic");
    assert!(p.read_at.is_some());

    // A coordinator of the recipient reads the same packet.
    let p2 = packet(&stack, PROVIDER_ORG, Role::Coordinator, &referral_id).await.unwrap();
    assert_eq!(categories(&p2), categories(&p));

    // Nobody else reads it: not the referrer (it holds the intake itself), not a stranger.
    for org in [CLINIC, STRANGER] {
        for role in [Role::Clinician, Role::Coordinator] {
            let err = packet(&stack, org, role, &referral_id).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound, "{} of {org}", role.code());
        }
    }

    // Revoking one category stops it at once; the rest is still shared.
    stack
        .intake()
        .revoke_consent(ipb::RevokeConsentRequest {
            intake_id: intake.id.clone(),
            recipient_organization_id: PROVIDER_ORG.into(),
            categories: vec![C::PresentingConcerns as i32],
            ..Default::default()
        })
        .await
        .unwrap();
    let p3 = packet(&stack, PROVIDER_ORG, Role::Clinician, &referral_id).await.unwrap();
    assert_eq!(categories(&p3), vec![C::IdentityAndContact, C::ScreeningAndAssessment]);
    assert!(
        p3.intake.unwrap().presenting_concerns_text.is_empty(),
        "a revoked category is not read again"
    );

    // Revoking everything for the recipient: it reads nothing new.
    stack
        .intake()
        .revoke_consent(ipb::RevokeConsentRequest {
            intake_id: intake.id.clone(),
            recipient_organization_id: PROVIDER_ORG.into(),
            categories: vec![],
            ..Default::default()
        })
        .await
        .unwrap();
    let err = packet(&stack, PROVIDER_ORG, Role::Clinician, &referral_id).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "nothing is shared after consent is revoked");

    // One audit row per packet read, recorded in intake as the recipient's user, for the recipient
    // organization, for care coordination; the refused reads left none.
    let reads = recipient_reads(&stack, &intake.client_id).await;
    assert_eq!(reads.len(), 3, "{reads:?}");
    for e in &reads {
        assert_eq!(e.rpc, GET_INTAKE);
        assert_eq!(e.action, "read");
        assert_eq!(e.record_type, "intake");
        assert_eq!(e.record_id, intake.id);
        assert_eq!(e.user_id, "test-user", "the recipient's user, not the referral service");
        assert_eq!(e.purpose, "care_coordination");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_referral_shares_nothing_more() {
    let stack = Stack::start().await;
    stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(clinician("Dr No", 1)),
            expected_version: 0,
        })
        .await
        .unwrap();
    let intake = stack
        .intake()
        .submit_intake(intake_request("handoff-reject"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    let routing = intake.routing.unwrap();
    assert_eq!(routing.status, ipb::RoutingStatus::Referred as i32, "reason: {}", routing.reason);
    assert!(packet(&stack, PROVIDER_ORG, Role::Coordinator, &routing.referral_id).await.is_ok());

    let mut recipient = ReferralServiceClient::new(stack.channel_as(
        "referral",
        PROVIDER_ORG,
        &[Role::Coordinator],
    ));
    let r = recipient
        .get_referral(rpb::GetReferralRequest { referral_id: routing.referral_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    recipient
        .transition_referral(continuum_testkit::requests::transition(
            &r.id,
            r.version,
            rpb::ReferralAction::Reject,
        ))
        .await
        .unwrap();
    let err = packet(&stack, PROVIDER_ORG, Role::Coordinator, &r.id).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        continuum_errors::reason_of(&err).map(continuum_errors::reason_code),
        Some("REFERRAL_CLOSED")
    );
}
