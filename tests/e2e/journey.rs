//! One client's whole journey over real gRPC, through all four services: intake -> waitlisted (the only
//! fitting provider has no slot), with a peer-support circle from the directory as bridge support -> a check-in re-screened through intake -> the provider's admin raises
//! capacity in matching, whose capacity event makes the waitlist offer the slot (nobody calls OpenSlots;
//! the slot is held in matching) -> accepted -> a referral created as scheduled -> the recipient records
//! the first and second appointments attended (the waitlist's follow-up learns the second on its own) ->
//! the provider's clinician rates the session -> the care timeline shows every step from all four services
//! in order (each organization its own), and the waitlist entry is placed with the accepted offer.

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
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(clinician("Dr Busy", 0)),
            expected_version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();

    // A peer-support circle in the directory: not a place for this client's level of care (so not a routing
    // option), but the bridge support the waitlist chooses for the wait.
    let mut circle = clinician("Peer Circle", 10);
    circle.kind = mpb::ProviderKind::PeerSupport as i32;
    circle.levels_of_care = vec![continuum_proto::common::v1::LevelOfCare::SelfGuidedPeer as i32];
    circle.modalities = vec![continuum_proto::common::v1::Modality::PeerSupport as i32];
    let circle = stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest { provider: Some(circle), expected_version: 0 })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();

    // 1. Intake: the only fitting provider has no slot, so the client is waitlisted.
    let intake = stack
        .intake()
        .submit_intake(intake_request("journey"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    let routing = intake.routing.clone().unwrap();
    assert_eq!(routing.status, ipb::RoutingStatus::Waitlisted as i32, "reason: {}", routing.reason);
    let entry_id = routing.waitlist_entry_id.clone();
    let mut coordinator =
        WaitlistServiceClient::new(stack.channel_as("waitlist", CLINIC, &[Role::Coordinator]));
    let entry = coordinator
        .get_entry(wpb::GetEntryRequest { entry_id: entry_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(
        (entry.status, entry.client_id.as_str()),
        (wpb::EntryStatus::Waiting as i32, intake.client_id.as_str())
    );
    assert_eq!(entry.candidate_provider_ids, vec![provider.id.clone()]);
    // The bridge support for the wait is a real program from the directory, chosen at enqueue.
    assert_eq!(entry.bridge_status, wpb::BridgeStatus::Chosen as i32, "{}", entry.bridge_reason);
    assert_eq!(
        (entry.bridge_provider_id.as_str(), entry.bridge_support.as_str()),
        (circle.id.as_str(), "peer_support")
    );

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
    let reassessed = stack
        .intake()
        .get_intake(ipb::GetIntakeRequest { intake_id: intake.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(reassessed.assessment.unwrap().id, checked.assessment_id);
    assert_eq!(checked.entry.unwrap().status, wpb::EntryStatus::Waiting as i32);

    // 2. Capacity opens: the provider's admin raises it in matching; matching's capacity-event worker tells
    //    the waitlist, which takes the slot in matching and offers it to the waiting client (nobody calls
    //    OpenSlots).
    let mut admin = MatchingServiceClient::new(stack.channel_as(
        "matching",
        PROVIDER_ORG,
        &[Role::ProviderAdmin],
    ));
    admin
        .update_capacity(mpb::UpdateCapacityRequest {
            provider_id: provider.id.clone(),
            change: Some(mpb::update_capacity_request::Change::SetOpenSlots(1)),
            ..Default::default()
        })
        .await
        .unwrap();
    let waiting = coordinator.clone();
    let offer = crate::stack::eventually(std::time::Duration::from_secs(20), || {
        let mut c = waiting.clone();
        let id = entry_id.clone();
        async move {
            let e =
                c.get_entry(wpb::GetEntryRequest { entry_id: id }).await.ok()?.into_inner().entry?;
            e.offers.into_iter().find(|o| o.status == wpb::OfferStatus::Pending as i32)
        }
    })
    .await
    .expect("the capacity event makes an offer");
    let offer = &offer;
    assert_eq!(
        (offer.entry_id.as_str(), offer.status),
        (entry_id.as_str(), wpb::OfferStatus::Pending as i32)
    );
    let open_now = |admin: &mut MatchingServiceClient<_>| {
        let mut admin = admin.clone();
        let id = provider.id.clone();
        async move {
            admin
                .get_provider(mpb::GetProviderRequest { provider_id: id })
                .await
                .unwrap()
                .into_inner()
                .provider
                .unwrap()
                .open_slots
        }
    };
    assert_eq!(
        open_now(&mut admin).await,
        0,
        "the offered slot is held in matching, invisible to new intakes"
    );

    // 3. The client accepts: the waitlist creates the referral, already scheduled.
    let accepted = coordinator
        .respond_to_offer(wpb::RespondToOfferRequest {
            offer_id: offer.id.clone(),
            answer: Some(wpb::respond_to_offer_request::Answer::Accept(
                wpb::respond_to_offer_request::Accept { appointment_at: None },
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let referral_id = accepted.offer.as_ref().unwrap().referral_id.clone();
    assert!(!referral_id.is_empty());
    let mut clinic_referrals =
        ReferralServiceClient::new(stack.channel_as("referral", CLINIC, &[Role::Coordinator]));
    let referral = clinic_referrals
        .get_referral(rpb::GetReferralRequest { referral_id: referral_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(referral.status, rpb::ReferralStatus::Accepted as i32);
    assert_eq!(
        (referral.provider_id.as_str(), referral.recipient_organization_id.as_str()),
        (provider.id.as_str(), PROVIDER_ORG)
    );
    assert_eq!(
        (referral.client_id.as_str(), referral.intake_id.as_str()),
        (intake.client_id.as_str(), intake.id.as_str())
    );
    assert!(
        referral.events.iter().any(|e| e.action == rpb::ReferralAction::Schedule as i32),
        "created as scheduled"
    );
    // The referral used the slot the offer held: no second take, no overbooking.
    assert!(!referral.overbooked);
    assert_eq!(open_now(&mut admin).await, 0);

    // 4. The recipient records the first appointment attended: the loop closes.
    let mut recipient = ReferralServiceClient::new(stack.channel_as(
        "referral",
        PROVIDER_ORG,
        &[Role::Clinician, Role::Coordinator],
    ));
    let attended = recipient
        .transition_referral(continuum_testkit::requests::transition(
            &referral_id,
            referral.version,
            rpb::ReferralAction::RecordFirstAppointmentAttended,
        ))
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(attended.status, rpb::ReferralStatus::InProgress as i32);
    let second = recipient
        .transition_referral(continuum_testkit::requests::transition(
            &referral_id,
            attended.version,
            rpb::ReferralAction::RecordSecondAppointmentAttended,
        ))
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(second.status, rpb::ReferralStatus::InProgress as i32, "an event: care goes on");

    // The waitlist's follow-up reads the referral and reports the time to the second appointment (the
    // hidden wait) in its metrics, without anyone telling it.
    let mut seen = 0;
    for _ in 0..100 {
        let m = coordinator
            .get_waitlist_metrics(wpb::GetWaitlistMetricsRequest {
                organization_id: CLINIC.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen = m
            .organizations
            .iter()
            .find(|o| o.organization_id == CLINIC)
            .map_or(0, |o| o.second_appointments_recorded);
        if seen > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(seen, 1, "the second appointment reached the waitlist metrics");

    // 5. The provider's clinician rates the first session (session feedback lives in matching).
    let mut provider_clinician =
        MatchingServiceClient::new(stack.channel_as("matching", PROVIDER_ORG, &[Role::Clinician]));
    let feedback = provider_clinician
        .record_session_feedback(mpb::RecordSessionFeedbackRequest {
            provider_id: provider.id.clone(),
            client_id: intake.client_id.clone(),
            session_number: 1,
            srs_items: vec![9.0, 9.5, 9.0, 9.5],
            ors_items: vec![5.0, 5.0, 5.0, 5.0],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // 6. The clinic's care timeline shows the whole path in order, read from all four services: its
    //    intake, assessment, re-screen and routing; the waitlist entry, check-in, offer and acceptance;
    //    each referral step. Session feedback belongs to the provider organization and is not in it.
    let answer = clinic_referrals
        .get_care_timeline(rpb::GetCareTimelineRequest { client_id: intake.client_id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(
        answer.unavailable_sources.is_empty(),
        "every service answered: {:?}",
        answer.unavailable_sources
    );
    let timeline = answer.entries;
    let steps: Vec<(&str, &str)> =
        timeline.iter().map(|t| (t.source.as_str(), t.kind.as_str())).collect();
    // The steps of one path, in order (steps made inside another call, such as the routing decision
    // around the enqueue or the re-screen inside the check-in, are checked for presence below).
    let expected = [
        ("intake", "intake.received"),
        ("waitlist", "waitlist.enqueued"),
        ("waitlist", "waitlist.check_in"),
        ("waitlist", "waitlist.offer_made"),
        ("referral", "referral.created"),
        ("referral", "referral.scheduled"),
        ("referral", "referral.first_appointment_attended"),
        ("referral", "referral.second_appointment_attended"),
    ];
    let mut at = 0;
    for step in &steps {
        if at < expected.len() && *step == expected[at] {
            at += 1;
        }
    }
    assert_eq!(
        at,
        expected.len(),
        "timeline steps out of order or missing (matched {at}): {steps:#?}"
    );
    for step in [
        ("intake", "intake.assessed"),
        ("intake", "intake.routed"),
        ("intake", "intake.reassessed"),
        ("waitlist", "waitlist.offer_accepted"),
    ] {
        assert!(steps.contains(&step), "{step:?} missing: {steps:#?}");
    }
    assert!(
        !steps.iter().any(|(source, _)| *source == "matching"),
        "the clinic sees no other organization's feedback"
    );
    let times: Vec<_> =
        timeline.iter().map(|t| t.occurred_at.map(|ts| (ts.seconds, ts.nanos))).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "timeline in time order");
    assert!(
        timeline
            .iter()
            .filter(|t| t.source == "referral")
            .all(|t| t.provider_id == provider.id && t.referral_id == referral_id)
    );
    let enqueued = timeline.iter().find(|t| t.kind == "waitlist.enqueued").unwrap();
    assert_eq!(
        enqueued.details.get("bridge_provider_id"),
        Some(&circle.id),
        "{:?}",
        enqueued.details
    );
    let routed = timeline.iter().find(|t| t.kind == "intake.routed").unwrap();
    assert_eq!(
        (routed.details["routing_status"].as_str(), routed.details["waitlist_entry_id"].as_str()),
        ("waitlisted", entry_id.as_str())
    );
    let accepted_step = timeline.iter().find(|t| t.kind == "waitlist.offer_accepted").unwrap();
    assert_eq!(
        (accepted_step.record_id.as_str(), accepted_step.referral_id.as_str()),
        (offer.id.as_str(), referral_id.as_str())
    );
    let reassessed_step = timeline.iter().find(|t| t.kind == "intake.reassessed").unwrap();
    assert_eq!(reassessed_step.record_id, checked.assessment_id);

    // The provider organization's timeline: the referral steps and its own session feedback, nothing of
    // the clinic's intake or waitlist.
    let theirs = recipient
        .get_care_timeline(rpb::GetCareTimelineRequest { client_id: intake.client_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let their_sources: std::collections::BTreeSet<&str> =
        theirs.iter().map(|t| t.source.as_str()).collect();
    assert_eq!(their_sources, ["matching", "referral"].into_iter().collect(), "{theirs:#?}");
    let rated = theirs.iter().find(|t| t.kind == "feedback.recorded").unwrap();
    assert_eq!(
        (rated.record_id.as_str(), rated.details["srs_total"].as_str()),
        (feedback.feedback_id.as_str(), "37.0")
    );

    // 7. The waitlist entry is placed, with the accepted offer and its referral.
    let placed = coordinator
        .get_entry(wpb::GetEntryRequest { entry_id })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(placed.status, wpb::EntryStatus::Placed as i32);
    let accepted_offer = placed.offers.iter().find(|o| o.id == offer.id).unwrap();
    assert_eq!(accepted_offer.status, wpb::OfferStatus::Accepted as i32);
    assert_eq!(accepted_offer.referral_id, referral_id);
}
