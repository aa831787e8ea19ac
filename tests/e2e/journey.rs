//! One client's whole journey over real gRPC, through all four services: intake -> waitlisted (the only
//! fitting provider has no slot) -> a check-in re-screened through intake -> the provider's admin raises capacity in matching and a coordinator
//! opens the slot on the waitlist -> offer -> accepted -> a referral created as scheduled -> the recipient
//! records the first appointment attended -> the care timeline shows each referral step in order, and the
//! waitlist entry is placed with the accepted offer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::referral::v1::referral_service_client::ReferralServiceClient;
use continuum_proto::waitlist::v1 as wpb;
use continuum_proto::waitlist::v1::waitlist_service_client::WaitlistServiceClient;

use crate::stack::{CLINIC, PROVIDER_ORG, Stack, clinician, intake_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_from_intake_through_the_waitlist_to_the_first_appointment() {
    let stack = Stack::start().await;
    let provider = stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest { provider: Some(clinician("Dr Busy", 0)), expected_version: 0 })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();

    // 1. Intake: the only fitting provider has no slot, so the client is waitlisted.
    let intake = stack.intake().submit_intake(intake_request("journey")).await.unwrap().into_inner().intake.unwrap();
    let routing = intake.routing.clone().unwrap();
    assert_eq!(routing.status, ipb::RoutingStatus::Waitlisted as i32, "reason: {}", routing.reason);
    let entry_id = routing.waitlist_entry_id.clone();
    let mut coordinator = WaitlistServiceClient::new(stack.channel_as("waitlist", CLINIC, &[Role::Coordinator]));
    let entry = coordinator.get_entry(wpb::GetEntryRequest { entry_id: entry_id.clone() }).await.unwrap().into_inner().entry.unwrap();
    assert_eq!((entry.status, entry.client_id.as_str()), (wpb::EntryStatus::Waiting as i32, intake.client_id.as_str()));
    assert_eq!(entry.candidate_provider_ids, vec![provider.id.clone()]);

    // While waiting, a check-in re-screens through intake (a new assessment there); mild scores keep the band.
    let checked = coordinator
        .record_check_in(wpb::RecordCheckInRequest {
            entry_id: entry_id.clone(),
            answered: true,
            phq9_items: vec![1, 1, 1, 1, 1, 1, 0, 0, 0],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!checked.rescreen_pending, "intake re-screened the check-in");
    assert!(!checked.interlock_required);
    let reassessed = stack.intake().get_intake(ipb::GetIntakeRequest { intake_id: intake.id.clone() }).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(reassessed.assessment.unwrap().id, checked.assessment_id);
    assert_eq!(checked.entry.unwrap().status, wpb::EntryStatus::Waiting as i32);

    // 2. Capacity opens: the provider's admin raises it in matching, a coordinator opens the slot.
    let mut admin = MatchingServiceClient::new(stack.channel_as("matching", PROVIDER_ORG, &[Role::ProviderAdmin]));
    admin
        .update_capacity(mpb::UpdateCapacityRequest {
            provider_id: provider.id.clone(),
            change: Some(mpb::update_capacity_request::Change::SetOpenSlots(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    let offers = coordinator
        .open_slots(wpb::OpenSlotsRequest { provider_id: provider.id.clone(), slots: 1 })
        .await
        .unwrap()
        .into_inner()
        .offers;
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert_eq!((offer.entry_id.as_str(), offer.status), (entry_id.as_str(), wpb::OfferStatus::Pending as i32));

    // 3. The client accepts: the waitlist creates the referral, already scheduled.
    let accepted = coordinator
        .respond_to_offer(wpb::RespondToOfferRequest { offer_id: offer.id.clone(), accept: true, appointment_at: None })
        .await
        .unwrap()
        .into_inner();
    let referral_id = accepted.offer.as_ref().unwrap().referral_id.clone();
    assert!(!referral_id.is_empty());
    let mut clinic_referrals = ReferralServiceClient::new(stack.channel_as("referral", CLINIC, &[Role::Coordinator]));
    let referral =
        clinic_referrals.get_referral(rpb::GetReferralRequest { referral_id: referral_id.clone() }).await.unwrap().into_inner().referral.unwrap();
    assert_eq!(referral.status, rpb::ReferralStatus::Accepted as i32);
    assert_eq!((referral.provider_id.as_str(), referral.recipient_organization_id.as_str()), (provider.id.as_str(), PROVIDER_ORG));
    assert_eq!((referral.client_id.as_str(), referral.intake_id.as_str()), (intake.client_id.as_str(), intake.id.as_str()));
    assert!(referral.events.iter().any(|e| e.action == rpb::ReferralAction::Schedule as i32), "created as scheduled");

    // 4. The recipient records the first appointment attended: the loop closes.
    let mut recipient = ReferralServiceClient::new(stack.channel_as("referral", PROVIDER_ORG, &[Role::Clinician, Role::Coordinator]));
    let attended = recipient
        .transition_referral(rpb::TransitionReferralRequest {
            referral_id: referral_id.clone(),
            expected_version: referral.version,
            action: rpb::ReferralAction::RecordFirstAppointmentAttended as i32,
            actor_role: rpb::ActorRole::Recipient as i32,
            actor_organization_id: PROVIDER_ORG.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(attended.status, rpb::ReferralStatus::InProgress as i32);

    // 5. The client's care timeline shows each referral step, in order.
    let timeline = clinic_referrals
        .get_care_timeline(rpb::GetCareTimelineRequest { client_id: intake.client_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let kinds: Vec<&str> = timeline.iter().filter(|t| t.referral_id == referral_id).map(|t| t.kind.as_str()).collect();
    let expected = ["referral.created", "referral.scheduled", "referral.first_appointment_attended"];
    let mut at = 0;
    for k in &kinds {
        if at < expected.len() && *k == expected[at] {
            at += 1;
        }
    }
    assert_eq!(at, expected.len(), "timeline steps out of order or missing: {kinds:?}");
    let times: Vec<_> = timeline.iter().map(|t| t.occurred_at.map(|ts| (ts.seconds, ts.nanos))).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "timeline in time order");
    assert!(timeline.iter().all(|t| t.provider_id == provider.id));

    // 6. The waitlist entry is placed, with the accepted offer and its referral.
    let placed = coordinator.get_entry(wpb::GetEntryRequest { entry_id }).await.unwrap().into_inner().entry.unwrap();
    assert_eq!(placed.status, wpb::EntryStatus::Placed as i32);
    let accepted_offer = placed.offers.iter().find(|o| o.id == offer.id).unwrap();
    assert_eq!(accepted_offer.status, wpb::OfferStatus::Accepted as i32);
    assert_eq!(accepted_offer.referral_id, referral_id);
}
