//! The authorization matrix: every RPC, called as every role, from the data owner's organization and
//! from another organization, over real gRPC against the four service processes. Each answer is checked
//! against the role table in `docs/security.md`: a role the table does not allow is refused with
//! PERMISSION_DENIED; an allowed role of the owner gets through; an allowed role of another organization
//! never gets the owner's data (0 leaks).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_auth::Role;
use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::intake::v1::intake_service_client::IntakeServiceClient;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1 as wpb;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;
use tonic::Code;

use crate::stack::{CLINIC, PROVIDER_ORG, Stack, clinician as provider, intake_request};

const OTHER: &str = "0190d5a0-0000-7000-8000-0000000000d9";
const HUMAN_ROLES: [Role; 5] = [Role::IntakeClerk, Role::Clinician, Role::Coordinator, Role::ProviderAdmin, Role::Ops];

/// RPCs whose data is not any one organization's (the shared directory, request-supplied batches,
/// capacity announcements answered with ids, the platform audit log for ops).
const PUBLIC: [&str; 7] = [
    "continuum.matching.v1.MatchingService/GetProvider",
    "continuum.matching.v1.MatchingService/ListProviders",
    "continuum.matching.v1.MatchingService/Recommend",
    "continuum.matching.v1.MatchingService/RecommendForClient",
    "continuum.matching.v1.MatchingService/AssignBatch",
    "continuum.waitlist.v1.WaitlistService/OpenSlots",
    "continuum.intake.v1.IntakeService/ListAuditEvents",
];

/// RPCs whose data is released to the referral's recipient organization (the provider organization): for
/// these the owner whose callers get through is PROVIDER_ORG (the handoff flow test checks the referrer).
const RECIPIENT_OWNED: [&str; 1] = ["continuum.referral.v1.ReferralService/GetHandoffPacket"];

/// The role table of docs/security.md: (rpc, allowed roles).
fn documented_table() -> Vec<(String, Vec<Role>)> {
    let doc = include_str!("../../docs/security.md");
    let order = [Role::IntakeClerk, Role::Clinician, Role::Coordinator, Role::ProviderAdmin, Role::Ops, Role::Service];
    doc.lines()
        .filter(|l| l.starts_with("| `continuum."))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let roles = order.iter().zip(&cells[2..8]).filter(|(_, c)| **c == "yes").map(|(r, _)| *r).collect();
            (cells[1].trim_matches('`').to_owned(), roles)
        })
        .collect()
}

struct Fixture {
    provider_id: String,
    intake_id: String,
    client_id: String,
    referral_id: String,
    waiting_intake_id: String,
    waiting_client_id: String,
    entry_id: String,
}

fn profile() -> mpb::ClientProfile {
    mpb::ClientProfile {
        level_of_care: common::LevelOfCare::Outpatient as i32,
        age_group: common::AgeGroup::Adult as i32,
        jurisdiction: "US-CA".into(),
        language: "en".into(),
        payment_option: common::PaymentOption::SelfPay as i32,
        ..Default::default()
    }
}

async fn fixture(stack: &Stack) -> Fixture {
    let p = stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest { provider: Some(provider("Dr Matrix", 1)), expected_version: 0 })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    let referred = stack.intake().submit_intake(intake_request("matrix-1")).await.unwrap().into_inner().intake.unwrap();
    let r = referred.routing.clone().unwrap();
    assert_eq!(r.status, ipb::RoutingStatus::Referred as i32, "{}", r.reason);
    // The provider organization's clinician rates a session with the referred client (matching's
    // ListCareEvents returns it to that organization only).
    MatchingServiceClient::new(stack.channel_as("matching", PROVIDER_ORG, &[Role::Clinician]))
        .record_session_feedback(mpb::RecordSessionFeedbackRequest {
            provider_id: p.id.clone(),
            client_id: referred.client_id.clone(),
            session_number: 1,
            srs_items: vec![9.0; 4],
            ors_items: vec![5.0; 4],
            ..Default::default()
        })
        .await
        .unwrap();
    let waiting = stack.intake().submit_intake(intake_request("matrix-2")).await.unwrap().into_inner().intake.unwrap();
    let w = waiting.routing.clone().unwrap();
    assert_eq!(w.status, ipb::RoutingStatus::Waitlisted as i32, "{}", w.reason);
    Fixture {
        provider_id: p.id,
        intake_id: referred.id,
        client_id: referred.client_id,
        referral_id: r.referral_id,
        waiting_intake_id: waiting.id,
        waiting_client_id: waiting.client_id,
        entry_id: w.waitlist_entry_id,
    }
}

fn key() -> String {
    format!("matrix-{}", uuid::Uuid::new_v4())
}

/// A fresh routine entry for the waiting fixture client (its own key each time).
fn enqueue_request(fx: &Fixture) -> wpb::EnqueueRequest {
    wpb::EnqueueRequest {
        idempotency_key: key(),
        client_id: fx.waiting_client_id.clone(),
        intake_id: fx.waiting_intake_id.clone(),
        organization_id: CLINIC.into(),
        band: wpb::Band::Routine as i32,
        risk_level: common::RiskLevel::None as i32,
        candidate_provider_ids: vec![fx.provider_id.clone()],
        ..Default::default()
    }
}

/// Calls `rpc` as `role` of `org`. `Ok(true)`: the answer carried (or changed) the owner's data.
async fn call(stack: &Stack, fx: &Fixture, rpc: &str, org: &str, role: Role) -> Result<bool, tonic::Status> {
    let method = rpc.rsplit('/').next().unwrap_or_default();
    let service = rpc.split('.').nth(1).unwrap_or_default();
    let ch = stack.channel_as(service, org, &[role]);
    match (service, method) {
        ("intake", "SubmitIntake") => IntakeServiceClient::new(ch).submit_intake(intake_request(&key())).await.map(|_| true),
        ("intake", "GetIntake") => IntakeServiceClient::new(ch).get_intake(ipb::GetIntakeRequest { intake_id: fx.intake_id.clone() }).await.map(|_| true),
        ("intake", "ListIntakes") => IntakeServiceClient::new(ch)
            .list_intakes(ipb::ListIntakesRequest { organization_id: CLINIC.into(), ..Default::default() })
            .await
            .map(|r| !r.into_inner().intakes.is_empty()),
        ("intake", "RecordReassessment") => IntakeServiceClient::new(ch)
            .record_reassessment(ipb::RecordReassessmentRequest {
                intake_id: fx.intake_id.clone(),
                screeners: Some(ipb::Screeners { phq9: Some(ipb::Phq9 { items: vec![1; 9] }), ..Default::default() }),
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("intake", "ListCareEvents") => IntakeServiceClient::new(ch)
            .list_care_events(ipb::ListCareEventsRequest { client_id: fx.client_id.clone() })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("matching", "ListCareEvents") => MatchingServiceClient::new(ch)
            .list_care_events(mpb::ListCareEventsRequest { client_id: fx.client_id.clone() })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("waitlist", "ListCareEvents") => WaitlistServiceClient::new(ch)
            .list_care_events(wpb::ListCareEventsRequest { client_id: fx.waiting_client_id.clone() })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("intake", "ListAuditEvents") => IntakeServiceClient::new(ch)
            .list_audit_events(ipb::ListAuditEventsRequest { client_id: fx.client_id.clone(), ..Default::default() })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("intake", "RecordConsent") => IntakeServiceClient::new(ch)
            .record_consent(ipb::RecordConsentRequest {
                intake_id: fx.intake_id.clone(),
                grants: vec![ipb::ConsentGrant {
                    recipient_organization_id: PROVIDER_ORG.into(),
                    categories: vec![ipb::ConsentCategory::IdentityAndContact as i32],
                }],
                share_with_referral_recipient: true,
            })
            .await
            .map(|_| true),
        ("intake", "RevokeConsent") => IntakeServiceClient::new(ch)
            .revoke_consent(ipb::RevokeConsentRequest {
                intake_id: fx.intake_id.clone(),
                recipient_organization_id: OTHER.into(),
                categories: vec![ipb::ConsentCategory::IdentityAndContact as i32],
            })
            .await
            .map(|_| true),
        ("matching", "UpsertProvider") => MatchingServiceClient::new(ch)
            .upsert_provider(mpb::UpsertProviderRequest { provider: Some(provider("Dr Added", 1)), expected_version: 0 })
            .await
            .map(|_| true),
        ("matching", "ImportProviders") => MatchingServiceClient::new(ch)
            .import_providers(tokio_stream::iter(vec![mpb::UpsertProviderRequest { provider: Some(provider("Dr Imported", 1)), expected_version: 0 }]))
            .await
            .map(|r| r.into_inner().created > 0),
        ("matching", "GetProvider") => {
            MatchingServiceClient::new(ch).get_provider(mpb::GetProviderRequest { provider_id: fx.provider_id.clone() }).await.map(|_| true)
        }
        ("matching", "ListProviders") => MatchingServiceClient::new(ch).list_providers(mpb::ListProvidersRequest::default()).await.map(|_| true),
        ("matching", "UpdateCapacity") => MatchingServiceClient::new(ch)
            .update_capacity(mpb::UpdateCapacityRequest {
                provider_id: fx.provider_id.clone(),
                change: Some(mpb::update_capacity_request::Change::SetOpenSlots(0)),
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("matching", "Recommend") => MatchingServiceClient::new(ch)
            .recommend(mpb::RecommendRequest { client: Some(profile()), top_k: 5 })
            .await
            .map(|_| true),
        ("matching", "RecommendForClient") => MatchingServiceClient::new(ch)
            .recommend_for_client(mpb::RecommendForClientRequest { client: Some(profile()), top_k: 5, ..Default::default() })
            .await
            .map(|_| true),
        ("matching", "AssignBatch") => MatchingServiceClient::new(ch).assign_batch(mpb::AssignBatchRequest::default()).await.map(|_| true),
        ("matching", "RecordSessionFeedback") => MatchingServiceClient::new(ch)
            .record_session_feedback(mpb::RecordSessionFeedbackRequest {
                provider_id: fx.provider_id.clone(),
                client_id: fx.client_id.clone(),
                session_number: 1,
                srs_items: vec![9.0; 4],
                ors_items: vec![6.0; 4],
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("referral", "CreateReferral") => ReferralServiceClient::new(ch)
            .create_referral(rpb::CreateReferralRequest {
                idempotency_key: key(),
                client_id: fx.waiting_client_id.clone(),
                intake_id: fx.waiting_intake_id.clone(),
                referrer_organization_id: CLINIC.into(),
                provider_id: fx.provider_id.clone(),
                urgency: common::Urgency::Routine as i32,
                allow_overbook: true,
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("referral", "GetReferral") => {
            ReferralServiceClient::new(ch).get_referral(rpb::GetReferralRequest { referral_id: fx.referral_id.clone() }).await.map(|_| true)
        }
        ("referral", "ListReferrals") => ReferralServiceClient::new(ch)
            .list_referrals(rpb::ListReferralsRequest { organization_id: CLINIC.into(), ..Default::default() })
            .await
            .map(|r| !r.into_inner().referrals.is_empty()),
        ("referral", "TransitionReferral") => ReferralServiceClient::new(ch)
            .transition_referral(rpb::TransitionReferralRequest {
                referral_id: fx.referral_id.clone(),
                expected_version: 999,
                action: rpb::ReferralAction::MarkReceived as i32,
                actor_role: rpb::ActorRole::Recipient as i32,
                actor_organization_id: org.into(),
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("referral", "GetCareTimeline") => ReferralServiceClient::new(ch)
            .get_care_timeline(rpb::GetCareTimelineRequest { client_id: fx.client_id.clone() })
            .await
            .map(|r| !r.into_inner().entries.is_empty()),
        ("referral", "WatchReferrals") => {
            let mut stream = ReferralServiceClient::new(ch)
                .watch_referrals(rpb::WatchReferralsRequest { organization_id: CLINIC.into(), ..Default::default() })
                .await?
                .into_inner();
            match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                Ok(Ok(Some(_))) => Ok(true),
                Ok(Err(s)) => Err(s),
                _ => Ok(false),
            }
        }
        ("referral", "GetHandoffPacket") => ReferralServiceClient::new(ch)
            .get_handoff_packet(rpb::GetHandoffPacketRequest { referral_id: fx.referral_id.clone() })
            .await
            .map(|r| r.into_inner().packet.and_then(|p| p.intake).is_some()),
        ("waitlist", "Enqueue") => WaitlistServiceClient::new(ch)
            .enqueue(enqueue_request(fx))
            .await
            .map(|_| true),
        ("waitlist", "GetEntry") => WaitlistServiceClient::new(ch).get_entry(wpb::GetEntryRequest { entry_id: fx.entry_id.clone() }).await.map(|_| true),
        ("waitlist", "ListWaitlist") => WaitlistServiceClient::new(ch)
            .list_waitlist(wpb::ListWaitlistRequest { organization_id: CLINIC.into(), ..Default::default() })
            .await
            .map(|r| !r.into_inner().entries.is_empty()),
        ("waitlist", "OpenSlots") => WaitlistServiceClient::new(ch)
            .open_slots(wpb::OpenSlotsRequest { provider_id: uuid::Uuid::now_v7().to_string(), slots: 1, ..Default::default() })
            .await
            .map(|_| true),
        ("waitlist", "RespondToOffer") => WaitlistServiceClient::new(ch)
            .respond_to_offer(wpb::RespondToOfferRequest { offer_id: uuid::Uuid::now_v7().to_string(), accept: false, ..Default::default() })
            .await
            .map(|_| true),
        ("waitlist", "RecordCheckIn") => WaitlistServiceClient::new(ch)
            .record_check_in(wpb::RecordCheckInRequest { entry_id: fx.entry_id.clone(), answered: true, ..Default::default() })
            .await
            .map(|_| true),
        ("waitlist", "EstimateWait") => {
            WaitlistServiceClient::new(ch).estimate_wait(wpb::EstimateWaitRequest { entry_id: fx.entry_id.clone() }).await.map(|_| true)
        }
        ("waitlist", "RemoveEntry") => {
            // Removal is tried on an entry of its own, so the fixture stays in place.
            let entry = stack
                .waitlist()
                .enqueue(enqueue_request(fx))
                .await
                .unwrap()
                .into_inner()
                .entry
                .unwrap();
            WaitlistServiceClient::new(ch)
                .remove_entry(wpb::RemoveEntryRequest { entry_id: entry.id, reason: "matrix test".into() })
                .await
                .map(|_| true)
        }
        ("waitlist", "GetWaitlistMetrics") => WaitlistServiceClient::new(ch)
            .get_waitlist_metrics(wpb::GetWaitlistMetricsRequest { organization_id: CLINIC.into() })
            .await
            .map(|r| r.into_inner().organizations.iter().any(|o| o.organization_id == CLINIC)),
        _ => panic!("the matrix does not know how to call {rpc}; add it"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_as_every_role_from_both_organizations_matches_docs_security_md() {
    let stack = Stack::start().await;
    let fx = fixture(&stack).await;
    let table = documented_table();
    assert!(table.len() >= 28, "the documented table lists every RPC");
    let mut problems = Vec::new();
    let mut leaks = 0;
    let mut calls = 0;
    for (rpc, allowed) in &table {
        let owner = if rpc.starts_with("continuum.matching.") || RECIPIENT_OWNED.contains(&rpc.as_str()) { PROVIDER_ORG } else { CLINIC };
        let public = PUBLIC.contains(&rpc.as_str());
        for role in HUMAN_ROLES {
            for org in [owner, OTHER] {
                calls += 1;
                let result = call(&stack, &fx, rpc, org, role).await;
                let code = result.as_ref().err().map(tonic::Status::code);
                let who = format!("{rpc} as {} of {}", role.code(), if org == owner { "the owner" } else { "another organization" });
                if !allowed.contains(&role) {
                    if code != Some(Code::PermissionDenied) {
                        problems.push(format!("{who}: expected PERMISSION_DENIED, got {code:?}"));
                    }
                } else if org == owner || public {
                    if matches!(code, Some(Code::PermissionDenied | Code::Unauthenticated)) {
                        problems.push(format!("{who}: allowed by the table but refused with {code:?}"));
                    }
                } else if matches!(result, Ok(true)) {
                    leaks += 1;
                    problems.push(format!("{who}: LEAK — the call reached the owner's data"));
                }
            }
        }
    }
    assert!(calls >= 280, "{calls} calls");
    assert_eq!(leaks, 0, "cross-tenant leaks:\n{}", problems.join("\n"));
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}
