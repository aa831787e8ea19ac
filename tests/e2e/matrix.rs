//! The authorization matrix: every RPC, called as every role, from the data owner's organization, from
//! another organization and from an organization the registry does not know, over real gRPC against the
//! four service processes. Each answer is checked against the role table in `docs/security.md`: a role the
//! table does not allow is refused with PERMISSION_DENIED; an allowed role of the owner gets through; an
//! allowed role of another organization never gets the owner's data (0 leaks); an unknown organization is
//! UNAUTHENTICATED everywhere. Then the multi-step chains of the care-relationship model: another
//! organization creating its own referral, waitlist entry, slot or feedback naming the owner's client or
//! provider, then reading, checking in and transitioning; each chain ends in NOT_FOUND with the owner's
//! data unchanged, and answers "exists elsewhere" exactly like "does not exist".

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
const HUMAN_ROLES: [Role; 5] =
    [Role::IntakeClerk, Role::Clinician, Role::Coordinator, Role::ProviderAdmin, Role::Ops];

/// RPCs whose data is not any one organization's (the shared directory, request-supplied batches).
const PUBLIC: [&str; 6] = [
    "continuum.matching.v1.MatchingService/GetProvider",
    "continuum.matching.v1.MatchingService/ListProviders",
    "continuum.matching.v1.MatchingService/Recommend",
    "continuum.matching.v1.MatchingService/RecommendForClient",
    "continuum.matching.v1.MatchingService/BatchRecommendForClient",
    "continuum.matching.v1.MatchingService/AssignBatch",
];

/// RPCs whose data belongs to the provider organization: the handoff packet released to the referral's
/// recipient (the handoff flow test checks the referrer), and the provider's slots.
const PROVIDER_ORG_OWNED: [&str; 2] = [
    "continuum.referral.v1.ReferralService/GetHandoffPacket",
    "continuum.waitlist.v1.WaitlistService/OpenSlots",
];

/// An organization the registry does not list (its tokens are validly signed).
const UNKNOWN: &str = "0190d5a0-0000-7000-8000-0000000000e7";

/// The role table of docs/security.md: (rpc, allowed roles).
fn documented_table() -> Vec<(String, Vec<Role>)> {
    let doc = include_str!("../../docs/security.md");
    let order = [
        Role::IntakeClerk,
        Role::Clinician,
        Role::Coordinator,
        Role::ProviderAdmin,
        Role::Ops,
        Role::Service,
    ];
    doc.lines()
        .filter(|l| l.starts_with("| `continuum."))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let roles = order
                .iter()
                .zip(&cells[2..8])
                .filter(|(_, c)| **c == "yes")
                .map(|(r, _)| *r)
                .collect();
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
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(provider("Dr Matrix", 1)),
            expected_version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    let referred = stack
        .intake()
        .submit_intake(intake_request("matrix-1"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
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
    let waiting = stack
        .intake()
        .submit_intake(intake_request("matrix-2"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
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

/// A re-screen of the fixture intake with PHQ-9 item 9 above 0 (it opens a same-day risk assessment task).
fn rescreen(fx: &Fixture) -> ipb::RecordReassessmentRequest {
    ipb::RecordReassessmentRequest {
        intake_id: fx.intake_id.clone(),
        screeners: Some(ipb::Screeners {
            phq9: Some(ipb::Phq9 { items: vec![1; 9] }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Calls `rpc` as `role` of `org`. `Ok(true)`: the answer carried (or changed) the owner's data.
async fn call(
    stack: &Stack,
    fx: &Fixture,
    rpc: &str,
    org: &str,
    role: Role,
) -> Result<bool, tonic::Status> {
    let method = rpc.rsplit('/').next().unwrap_or_default();
    let service = rpc.split('.').nth(1).unwrap_or_default();
    let ch = if org == UNKNOWN {
        stack.channel_unregistered(service, org, &[role])
    } else {
        stack.channel_as(service, org, &[role])
    };
    match (service, method) {
        ("intake", "SubmitIntake") => {
            IntakeServiceClient::new(ch).submit_intake(intake_request(&key())).await.map(|_| true)
        }
        ("intake", "GetIntake") => IntakeServiceClient::new(ch)
            .get_intake(ipb::GetIntakeRequest {
                intake_id: fx.intake_id.clone(),
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("intake", "ListIntakes") => IntakeServiceClient::new(ch)
            .list_intakes(ipb::ListIntakesRequest {
                organization_id: CLINIC.into(),
                ..Default::default()
            })
            .await
            .map(|r| !r.into_inner().intakes.is_empty()),
        ("intake", "RecordReassessment") => {
            IntakeServiceClient::new(ch).record_reassessment(rescreen(fx)).await.map(|_| true)
        }
        ("intake", "ListCareEvents") => IntakeServiceClient::new(ch)
            .list_care_events(ipb::ListCareEventsRequest { client_id: fx.client_id.clone() })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("matching", "ListCareEvents") => MatchingServiceClient::new(ch)
            .list_care_events(mpb::ListCareEventsRequest { client_id: fx.client_id.clone() })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("waitlist", "ListCareEvents") => WaitlistServiceClient::new(ch)
            .list_care_events(wpb::ListCareEventsRequest {
                client_id: fx.waiting_client_id.clone(),
            })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("intake", "CheckCareRelationship") => IntakeServiceClient::new(ch)
            .check_care_relationship(ipb::CheckCareRelationshipRequest {
                client_id: fx.client_id.clone(),
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("intake", "ListClinicalTasks") => IntakeServiceClient::new(ch)
            .list_clinical_tasks(ipb::ListClinicalTasksRequest {
                organization_id: CLINIC.into(),
                ..Default::default()
            })
            .await
            .map(|r| !r.into_inner().tasks.is_empty()),
        ("intake", "CompleteClinicalTask") => {
            // The owner's clinician re-screens with PHQ-9 item 9 above 0, which opens a same-day risk
            // assessment task; then the caller tries to complete it.
            let owner = || stack.channel_as("intake", CLINIC, &[Role::Clinician]);
            IntakeServiceClient::new(owner()).record_reassessment(rescreen(fx)).await.unwrap();
            let task = IntakeServiceClient::new(owner())
                .list_clinical_tasks(ipb::ListClinicalTasksRequest {
                    organization_id: CLINIC.into(),
                    status: ipb::ClinicalTaskStatus::Open as i32,
                    intake_id: fx.intake_id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .tasks
                .pop()
                .unwrap();
            IntakeServiceClient::new(ch)
                .complete_clinical_task(ipb::CompleteClinicalTaskRequest {
                    task_id: task.id,
                    expected_version: task.version,
                })
                .await
                .map(|_| true)
        }
        ("intake", "ListAuditEvents") => IntakeServiceClient::new(ch)
            .list_audit_events(ipb::ListAuditEventsRequest {
                client_id: fx.client_id.clone(),
                ..Default::default()
            })
            .await
            .map(|r| !r.into_inner().events.is_empty()),
        ("intake", "RecordConsent") => IntakeServiceClient::new(ch)
            .record_consent(ipb::RecordConsentRequest {
                intake_id: fx.intake_id.clone(),
                grants: vec![ipb::ConsentGrant {
                    recipient_organization_id: PROVIDER_ORG.into(),
                    categories: vec![ipb::ConsentCategory::IdentityAndContact as i32],
                    ..Default::default()
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
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("matching", "UpsertProvider") => MatchingServiceClient::new(ch)
            .upsert_provider(mpb::UpsertProviderRequest {
                provider: Some(provider("Dr Added", 1)),
                expected_version: 0,
            })
            .await
            .map(|_| true),
        ("matching", "ImportProviders") => MatchingServiceClient::new(ch)
            .import_providers(tokio_stream::iter(vec![mpb::ImportProvidersRequest {
                provider: Some(provider("Dr Imported", 1)),
                expected_version: 0,
                import_key: format!("matrix:{}", uuid::Uuid::now_v7()),
            }]))
            .await
            .map(|r| r.into_inner().created > 0),
        ("matching", "GetProvider") => MatchingServiceClient::new(ch)
            .get_provider(mpb::GetProviderRequest { provider_id: fx.provider_id.clone() })
            .await
            .map(|_| true),
        ("matching", "ListProviders") => MatchingServiceClient::new(ch)
            .list_providers(mpb::ListProvidersRequest::default())
            .await
            .map(|_| true),
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
            .recommend_for_client(mpb::RecommendForClientRequest {
                client: Some(profile()),
                top_k: 5,
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("matching", "BatchRecommendForClient") => MatchingServiceClient::new(ch)
            .batch_recommend_for_client(mpb::BatchRecommendForClientRequest {
                requests: vec![mpb::RecommendForClientRequest {
                    client: Some(profile()),
                    top_k: 5,
                    ..Default::default()
                }],
            })
            .await
            .map(|_| true),
        ("matching", "AssignBatch") => MatchingServiceClient::new(ch)
            .assign_batch(mpb::AssignBatchRequest::default())
            .await
            .map(|_| true),
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
        ("referral", "GetReferral") => ReferralServiceClient::new(ch)
            .get_referral(rpb::GetReferralRequest { referral_id: fx.referral_id.clone() })
            .await
            .map(|_| true),
        ("referral", "ListReferrals") => ReferralServiceClient::new(ch)
            .list_referrals(rpb::ListReferralsRequest {
                organization_id: CLINIC.into(),
                ..Default::default()
            })
            .await
            .map(|r| !r.into_inner().referrals.is_empty()),
        ("referral", "TransitionReferral") => ReferralServiceClient::new(ch)
            .transition_referral(continuum_testkit::requests::transition(
                &fx.referral_id,
                999,
                rpb::ReferralAction::MarkReceived,
            ))
            .await
            .map(|_| true),
        ("referral", "GetCareTimeline") => ReferralServiceClient::new(ch)
            .get_care_timeline(rpb::GetCareTimelineRequest { client_id: fx.client_id.clone() })
            .await
            .map(|r| !r.into_inner().entries.is_empty()),
        ("referral", "WatchReferrals") => {
            let mut stream = ReferralServiceClient::new(ch)
                .watch_referrals(rpb::WatchReferralsRequest {
                    organization_id: CLINIC.into(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                Ok(Ok(Some(_))) => Ok(true),
                Ok(Err(s)) => Err(s),
                _ => Ok(false),
            }
        }
        ("referral", "GetHandoffPacket") => ReferralServiceClient::new(ch)
            .get_handoff_packet(rpb::GetHandoffPacketRequest {
                referral_id: fx.referral_id.clone(),
            })
            .await
            .map(|r| r.into_inner().packet.and_then(|p| p.intake).is_some()),
        ("waitlist", "Enqueue") => {
            WaitlistServiceClient::new(ch).enqueue(enqueue_request(fx)).await.map(|_| true)
        }
        ("waitlist", "GetEntry") => WaitlistServiceClient::new(ch)
            .get_entry(wpb::GetEntryRequest { entry_id: fx.entry_id.clone() })
            .await
            .map(|_| true),
        ("waitlist", "ListWaitlist") => WaitlistServiceClient::new(ch)
            .list_waitlist(wpb::ListWaitlistRequest {
                organization_id: CLINIC.into(),
                ..Default::default()
            })
            .await
            .map(|r| !r.into_inner().entries.is_empty()),
        ("waitlist", "OpenSlots") => WaitlistServiceClient::new(ch)
            .open_slots(wpb::OpenSlotsRequest {
                provider_id: fx.provider_id.clone(),
                slots: 1,
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("waitlist", "RespondToOffer") => WaitlistServiceClient::new(ch)
            .respond_to_offer(wpb::RespondToOfferRequest {
                offer_id: uuid::Uuid::now_v7().to_string(),
                answer: Some(wpb::respond_to_offer_request::Answer::Decline(
                    wpb::respond_to_offer_request::Decline {},
                )),
            })
            .await
            .map(|_| true),
        ("waitlist", "RecordCheckIn") => WaitlistServiceClient::new(ch)
            .record_check_in(wpb::RecordCheckInRequest {
                entry_id: fx.entry_id.clone(),
                answered: true,
                ..Default::default()
            })
            .await
            .map(|_| true),
        ("waitlist", "EstimateWait") => WaitlistServiceClient::new(ch)
            .estimate_wait(wpb::EstimateWaitRequest { entry_id: fx.entry_id.clone() })
            .await
            .map(|_| true),
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
                .remove_entry(wpb::RemoveEntryRequest {
                    entry_id: entry.id,
                    reason: "matrix test".into(),
                    expected_version: None,
                })
                .await
                .map(|_| true)
        }
        ("waitlist", "GetWaitlistMetrics") => WaitlistServiceClient::new(ch)
            .get_waitlist_metrics(wpb::GetWaitlistMetricsRequest {
                organization_id: CLINIC.into(),
                ..Default::default()
            })
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
        let owner = if rpc.starts_with("continuum.matching.")
            || PROVIDER_ORG_OWNED.contains(&rpc.as_str())
        {
            PROVIDER_ORG
        } else {
            CLINIC
        };
        let public = PUBLIC.contains(&rpc.as_str());
        for role in HUMAN_ROLES {
            for org in [owner, OTHER, UNKNOWN] {
                calls += 1;
                let result = call(&stack, &fx, rpc, org, role).await;
                let code = result.as_ref().err().map(tonic::Status::code);
                let whose = match org {
                    o if o == owner => "the owner",
                    OTHER => "another organization",
                    _ => "an unknown organization",
                };
                let who = format!("{rpc} as {} of {whose}", role.code());
                if org == UNKNOWN {
                    if code != Some(Code::Unauthenticated) {
                        problems.push(format!("{who}: expected UNAUTHENTICATED, got {code:?}"));
                    }
                } else if !allowed.contains(&role) {
                    if code != Some(Code::PermissionDenied) {
                        problems.push(format!("{who}: expected PERMISSION_DENIED, got {code:?}"));
                    }
                } else if org == owner || public {
                    if matches!(code, Some(Code::PermissionDenied | Code::Unauthenticated)) {
                        problems
                            .push(format!("{who}: allowed by the table but refused with {code:?}"));
                    }
                } else if matches!(result, Ok(true)) {
                    leaks += 1;
                    problems.push(format!("{who}: LEAK — the call reached the owner's data"));
                }
            }
        }
    }
    assert!(calls >= 420, "{calls} calls");
    assert_eq!(leaks, 0, "cross-tenant leaks:\n{}", problems.join("\n"));
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

/// What the owner's organizations hold, read as the owners: the clinic's referred intake (assessment,
/// routing, consent), its referrals, its waiting entry, and the provider's listing. A chain by another
/// organization must leave all of it as it was.
async fn owners_view(stack: &Stack, fx: &Fixture) -> Vec<String> {
    let clinic =
        |s| stack.channel_as(s, CLINIC, &[Role::IntakeClerk, Role::Clinician, Role::Coordinator]);
    let mut out = Vec::new();
    for id in [&fx.intake_id, &fx.waiting_intake_id] {
        let i = IntakeServiceClient::new(clinic("intake"))
            .get_intake(ipb::GetIntakeRequest { intake_id: id.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .intake
            .unwrap();
        out.push(format!(
            "intake {} assessment {:?} routing {:?} grants {:?}",
            i.id,
            i.assessment.map(|a| a.id),
            i.routing,
            i.consent_grants
        ));
    }
    let referrals = ReferralServiceClient::new(clinic("referral"))
        .list_referrals(rpb::ListReferralsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .referrals;
    out.extend(
        referrals.iter().map(|r| format!("referral {} v{} status {}", r.id, r.version, r.status)),
    );
    let entry = WaitlistServiceClient::new(clinic("waitlist"))
        .get_entry(wpb::GetEntryRequest { entry_id: fx.entry_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    out.push(format!(
        "entry {} v{} status {} offers {}",
        entry.id,
        entry.version,
        entry.status,
        entry.offers.len()
    ));
    let p = stack
        .matching()
        .get_provider(mpb::GetProviderRequest { provider_id: fx.provider_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    out.push(format!("provider {} v{} open {}", p.id, p.version, p.open_slots));
    out
}

/// An answer as another organization sees it: the code, the message and the kind of record named.
type Shape = (Code, String, String);

/// The shape of an answer.
fn shape(r: Result<(), tonic::Status>) -> Shape {
    use tonic_types::StatusExt;
    match r {
        Ok(()) => (Code::Ok, String::new(), String::new()),
        Err(s) => {
            let kind = s
                .get_error_details()
                .resource_info()
                .map(|i| i.resource_type.clone())
                .unwrap_or_default();
            (s.code(), s.message().to_owned(), kind)
        }
    }
}

fn fresh() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organization_reaches_nothing_of_the_owners_through_chains() {
    let stack = Stack::start().await;
    let fx = fixture(&stack).await;
    // The other organization has a provider of its own, so its referrals and feedback name its own.
    let mut own_listing = provider("Dr Elsewhere", 3);
    own_listing.organization_id = OTHER.into();
    let their_provider =
        MatchingServiceClient::new(stack.channel_as("matching", OTHER, &[Role::ProviderAdmin]))
            .upsert_provider(mpb::UpsertProviderRequest {
                provider: Some(own_listing),
                expected_version: 0,
            })
            .await
            .unwrap()
            .into_inner()
            .provider
            .unwrap()
            .id;
    let before = owners_view(&stack, &fx).await;
    let everything =
        [Role::IntakeClerk, Role::Clinician, Role::Coordinator, Role::ProviderAdmin, Role::Ops];
    let mut chains = 0;
    for as_service in [false, true] {
        let ch = |s: &str| {
            if as_service {
                stack.channel_as_service(s, OTHER)
            } else {
                stack.channel_as(s, OTHER, &everything)
            }
        };
        let who = if as_service {
            "a service acting for another organization"
        } else {
            "a person of another organization"
        };
        // Each step: the owner's record, and the same call naming a record that does not exist.
        let mut pairs: Vec<(&str, Shape, Shape)> = Vec::new();

        // 1. Refer the owner's client as its own referral, to its own provider, then read the packet.
        let refer = |client: &str, intake: &str| rpb::CreateReferralRequest {
            idempotency_key: key(),
            client_id: client.into(),
            intake_id: intake.into(),
            referrer_organization_id: OTHER.into(),
            provider_id: their_provider.clone(),
            urgency: common::Urgency::Routine as i32,
            ..Default::default()
        };
        let mut referral = ReferralServiceClient::new(ch("referral"));
        pairs.push((
            "CreateReferral naming the owner's client",
            shape(referral.create_referral(refer(&fx.client_id, &fx.intake_id)).await.map(|_| ())),
            shape(referral.create_referral(refer(&fresh(), &fresh())).await.map(|_| ())),
        ));
        let packet = |id: &str| rpb::GetHandoffPacketRequest { referral_id: id.into() };
        pairs.push((
            "GetHandoffPacket of the owner's referral",
            shape(referral.get_handoff_packet(packet(&fx.referral_id)).await.map(|_| ())),
            shape(referral.get_handoff_packet(packet(&fresh())).await.map(|_| ())),
        ));
        // 2. Transition the owner's referral as if a party to it.
        let transition =
            |id: &str| continuum_testkit::requests::transition(id, 1, rpb::ReferralAction::Accept);
        pairs.push((
            "TransitionReferral of the owner's referral",
            shape(referral.transition_referral(transition(&fx.referral_id)).await.map(|_| ())),
            shape(referral.transition_referral(transition(&fresh())).await.map(|_| ())),
        ));
        // 3. Enqueue the owner's waiting client into its own waitlist, then check the owner's entry in.
        let mut waitlist = WaitlistServiceClient::new(ch("waitlist"));
        let enqueue = |client: &str, intake: &str| wpb::EnqueueRequest {
            client_id: client.into(),
            intake_id: intake.into(),
            organization_id: OTHER.into(),
            candidate_provider_ids: vec![their_provider.clone()],
            ..enqueue_request(&fx)
        };
        pairs.push((
            "Enqueue naming the owner's client",
            shape(
                waitlist
                    .enqueue(enqueue(&fx.waiting_client_id, &fx.waiting_intake_id))
                    .await
                    .map(|_| ()),
            ),
            shape(waitlist.enqueue(enqueue(&fresh(), &fresh())).await.map(|_| ())),
        ));
        let check_in = |id: &str| wpb::RecordCheckInRequest {
            entry_id: id.into(),
            answered: true,
            clinician_reports_imminent_risk: true,
            ..Default::default()
        };
        pairs.push((
            "RecordCheckIn of the owner's entry",
            shape(waitlist.record_check_in(check_in(&fx.entry_id)).await.map(|_| ())),
            shape(waitlist.record_check_in(check_in(&fresh())).await.map(|_| ())),
        ));
        // 4. Open the owner's provider's slots, and change its capacity.
        let open = |id: &str| wpb::OpenSlotsRequest {
            provider_id: id.into(),
            slots: 1,
            ..Default::default()
        };
        pairs.push((
            "OpenSlots of the owner's provider",
            shape(waitlist.open_slots(open(&fx.provider_id)).await.map(|_| ())),
            shape(waitlist.open_slots(open(&fresh())).await.map(|_| ())),
        ));
        let mut matching = MatchingServiceClient::new(ch("matching"));
        let set = |id: &str| mpb::UpdateCapacityRequest {
            provider_id: id.into(),
            change: Some(mpb::update_capacity_request::Change::SetOpenSlots(9)),
            ..Default::default()
        };
        pairs.push((
            "UpdateCapacity of the owner's provider",
            shape(matching.update_capacity(set(&fx.provider_id)).await.map(|_| ())),
            shape(matching.update_capacity(set(&fresh())).await.map(|_| ())),
        ));
        // 5. Record feedback about the owner's client with its own provider.
        let feedback = |client: &str| mpb::RecordSessionFeedbackRequest {
            provider_id: their_provider.clone(),
            client_id: client.into(),
            session_number: 1,
            srs_items: vec![9.0; 4],
            ors_items: vec![5.0; 4],
            ..Default::default()
        };
        pairs.push((
            "RecordSessionFeedback about the owner's client",
            shape(matching.record_session_feedback(feedback(&fx.client_id)).await.map(|_| ())),
            shape(matching.record_session_feedback(feedback(&fresh())).await.map(|_| ())),
        ));
        // 6. Read the owner's intake under the owner's referral, as if its recipient.
        let mut intake = IntakeServiceClient::new(ch("intake"));
        let read = |id: &str| ipb::GetIntakeRequest {
            intake_id: id.into(),
            referral_id: fx.referral_id.clone(),
        };
        pairs.push((
            "GetIntake under the owner's referral",
            shape(intake.get_intake(read(&fx.intake_id)).await.map(|_| ())),
            shape(intake.get_intake(read(&fresh())).await.map(|_| ())),
        ));
        if as_service {
            let relationship = |client: &str| ipb::CheckCareRelationshipRequest {
                client_id: client.into(),
                ..Default::default()
            };
            pairs.push((
                "CheckCareRelationship of the owner's client",
                shape(
                    intake.check_care_relationship(relationship(&fx.client_id)).await.map(|_| ()),
                ),
                shape(intake.check_care_relationship(relationship(&fresh())).await.map(|_| ())),
            ));
        } else {
            // Its ops read no audit row about the owner's client.
            let audit = intake
                .list_audit_events(ipb::ListAuditEventsRequest {
                    client_id: fx.client_id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            assert!(audit.events.is_empty(), "{who} read the owner's audit rows");
        }
        for (step, elsewhere, nowhere) in pairs {
            chains += 1;
            assert_eq!(elsewhere.0, Code::NotFound, "{who}: {step}: {elsewhere:?}");
            assert_eq!(
                elsewhere, nowhere,
                "{who}: {step}: the owner's record answers unlike one that does not exist"
            );
        }
    }
    assert!(chains >= 19, "{chains} steps");
    assert_eq!(owners_view(&stack, &fx).await, before, "the owner's data changed");

    // The legitimate relationship still works: the recipient reads the packet of the referral it received,
    // and the owner's ops read that read in their audit log.
    let packet =
        ReferralServiceClient::new(stack.channel_as("referral", PROVIDER_ORG, &[Role::Clinician]))
            .get_handoff_packet(rpb::GetHandoffPacketRequest {
                referral_id: fx.referral_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .packet
            .unwrap();
    assert_eq!(packet.intake.unwrap().id, fx.intake_id);
    let audit = IntakeServiceClient::new(stack.channel_as("intake", CLINIC, &[Role::Ops]))
        .list_audit_events(ipb::ListAuditEventsRequest {
            client_id: fx.client_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(
        audit
            .iter()
            .any(|e| e.organization_id == PROVIDER_ORG && e.owner_organization_id == CLINIC),
        "the recipient's read is in the owner's audit"
    );
}
