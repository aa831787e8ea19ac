//! The main flow across the four services: referral when an option has capacity, waitlist when none has,
//! a downstream outage survived without loss or double routing, idempotent resubmission, and the last
//! seat never taken twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_proto::intake::v1 as ipb;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::waitlist::v1 as wpb;

use crate::stack::{CLINIC, PROVIDER_ORG, Stack, clinician, eventually, intake_request};

async fn add_clinician(stack: &Stack, name: &str, slots: i32) -> mpb::Provider {
    stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(clinician(name, slots)),
            expected_version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap()
}

async fn open_slots(stack: &Stack, provider_id: &str) -> i32 {
    stack
        .matching()
        .get_provider(mpb::GetProviderRequest { provider_id: provider_id.into() })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap()
        .open_slots
}

async fn referrals_of_clinic(stack: &Stack) -> Vec<rpb::Referral> {
    stack
        .referral()
        .list_referrals(rpb::ListReferralsRequest {
            organization_id: CLINIC.into(),
            page_size: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .referrals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_is_referred_when_an_option_has_capacity() {
    let stack = Stack::start().await;
    let provider = add_clinician(&stack, "Dr Open", 2).await;
    let intake = stack
        .intake()
        .submit_intake(intake_request("flow-referral"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    let routing = intake.routing.unwrap();
    assert_eq!(routing.status, ipb::RoutingStatus::Referred as i32, "reason: {}", routing.reason);
    assert_eq!(routing.provider_id, provider.id);

    let referral = stack
        .referral()
        .get_referral(rpb::GetReferralRequest { referral_id: routing.referral_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(referral.intake_id, intake.id);
    assert_eq!(referral.status, rpb::ReferralStatus::Requested as i32);
    assert_eq!(referral.recipient_organization_id, PROVIDER_ORG);
    assert_eq!(open_slots(&stack, &provider.id).await, 1, "exactly one slot taken");

    let read_back = stack
        .intake()
        .get_intake(ipb::GetIntakeRequest { intake_id: intake.id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(read_back.routing.unwrap().referral_id, routing.referral_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_is_waitlisted_when_no_option_has_capacity() {
    let stack = Stack::start().await;
    let full = add_clinician(&stack, "Dr Full", 0).await;
    let intake = stack
        .intake()
        .submit_intake(intake_request("flow-waitlist"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    let routing = intake.routing.unwrap();
    assert_eq!(routing.status, ipb::RoutingStatus::Waitlisted as i32, "reason: {}", routing.reason);
    let entry = stack
        .waitlist()
        .get_entry(wpb::GetEntryRequest { entry_id: routing.waitlist_entry_id.clone() })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(entry.intake_id, intake.id);
    assert_eq!(entry.candidate_provider_ids, vec![full.id]);
    assert_eq!(entry.status, wpb::EntryStatus::Waiting as i32);
    assert!(referrals_of_clinic(&stack).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_leaves_the_intake_pending_then_routes_it_exactly_once() {
    let mut stack = Stack::start().await;
    let provider = add_clinician(&stack, "Dr Later", 3).await;
    stack.stop_service("matching").await;

    let intake = stack
        .intake()
        .submit_intake(intake_request("flow-outage"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(
        intake.routing.as_ref().unwrap().status,
        ipb::RoutingStatus::Pending as i32,
        "accepted while matching is down"
    );
    // Resubmitting while still pending neither duplicates the intake nor routes it.
    let again =
        stack.intake().submit_intake(intake_request("flow-outage")).await.unwrap().into_inner();
    assert!(again.replayed);
    assert_eq!(again.intake.unwrap().id, intake.id);

    stack.start_service("matching").await;
    let mut client = stack.intake();
    let id = intake.id.clone();
    let routed = eventually(Duration::from_secs(30), || {
        let mut c = client.clone();
        let id = id.clone();
        async move {
            let i = c
                .get_intake(ipb::GetIntakeRequest { intake_id: id, ..Default::default() })
                .await
                .ok()?
                .into_inner()
                .intake?;
            let r = i.routing?;
            (r.status != ipb::RoutingStatus::Pending as i32).then_some(r)
        }
    })
    .await
    .expect("the worker routes the pending intake once matching is back");
    assert_eq!(routed.status, ipb::RoutingStatus::Referred as i32, "reason: {}", routed.reason);

    // Give the worker more chances to misbehave, then check nothing was routed twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let referrals = referrals_of_clinic(&stack).await;
    assert_eq!(referrals.len(), 1, "routed exactly once");
    assert_eq!(referrals[0].intake_id, intake.id);
    assert_eq!(open_slots(&stack, &provider.id).await, 2);
    let final_state = client
        .get_intake(ipb::GetIntakeRequest { intake_id: intake.id, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(final_state.routing.unwrap().referral_id, routed.referral_id);
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Issue 12: routings deferred while a peer was down are due again as soon as the peer answers (a
/// success after deferrals brings them forward), not after their back-off, which a long outage makes long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_routing_is_due_again_once_the_peer_answers_not_after_its_backoff() {
    use sea_orm::ConnectionTrait;
    let mut stack = Stack::start().await;
    add_clinician(&stack, "Dr Backlog", 5).await;
    stack.stop_service("matching").await;
    let deferred = stack
        .intake()
        .submit_intake(intake_request("backlog-a"))
        .await
        .unwrap()
        .into_inner()
        .intake
        .unwrap();
    assert_eq!(deferred.routing.unwrap().status, ipb::RoutingStatus::Pending as i32);

    // As after a long outage: the next attempt an hour away (set while no worker holds the task).
    let db = continuum_db::connect("intake", &stack.backing.common().db()).await.unwrap();
    let later = now_ms() + 3_600_000;
    let pushed = eventually(Duration::from_secs(10), || {
        let (db, id) = (db.clone(), deferred.id.clone());
        async move {
            let sql = format!(
                "UPDATE routings SET next_attempt_at_ms = {later} WHERE intake_id = '{id}' \
                 AND status = 'pending' AND lease_until_ms < {}",
                now_ms()
            );
            (db.execute_unprepared(&sql).await.ok()?.rows_affected() == 1).then_some(())
        }
    })
    .await;
    assert!(pushed.is_some(), "the deferred task is released between attempts");

    stack.start_service("matching").await;
    let next =
        stack.intake().submit_intake(intake_request("backlog-b")).await.unwrap().into_inner();
    assert_eq!(next.intake.unwrap().routing.unwrap().status, ipb::RoutingStatus::Referred as i32);
    let client = stack.intake();
    let routed = eventually(Duration::from_secs(10), || {
        let mut c = client.clone();
        let id = deferred.id.clone();
        async move {
            let r = c
                .get_intake(ipb::GetIntakeRequest { intake_id: id, ..Default::default() })
                .await
                .ok()?
                .into_inner()
                .intake?
                .routing?;
            (r.status != ipb::RoutingStatus::Pending as i32).then_some(r)
        }
    })
    .await
    .expect("the deferred intake is routed once matching answers, not an hour later");
    assert_eq!(routed.status, ipb::RoutingStatus::Referred as i32, "reason: {}", routed.reason);
    db.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmission_with_the_same_key_returns_the_same_answer() {
    let stack = Stack::start().await;
    add_clinician(&stack, "Dr Once", 5).await;
    let mut intake = stack.intake();
    let first = intake.submit_intake(intake_request("flow-same-key")).await.unwrap().into_inner();
    let second = intake.submit_intake(intake_request("flow-same-key")).await.unwrap().into_inner();
    assert!(!first.replayed && second.replayed);
    let (a, b) = (first.intake.unwrap(), second.intake.unwrap());
    assert_eq!(a.id, b.id);
    assert_eq!(a.routing.as_ref().unwrap().referral_id, b.routing.as_ref().unwrap().referral_id);
    assert_eq!(referrals_of_clinic(&stack).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_intakes_never_take_the_last_seat_twice() {
    let stack = Stack::start().await;
    let provider = add_clinician(&stack, "Dr Last Seat", 1).await;
    let (mut a, mut b) = (stack.intake(), stack.intake());
    let (ra, rb) = tokio::join!(
        a.submit_intake(intake_request("seat-a")),
        b.submit_intake(intake_request("seat-b"))
    );
    let statuses: Vec<i32> = [ra, rb]
        .into_iter()
        .map(|r| r.unwrap().into_inner().intake.unwrap().routing.unwrap().status)
        .collect();
    let referred = statuses.iter().filter(|s| **s == ipb::RoutingStatus::Referred as i32).count();
    let waitlisted =
        statuses.iter().filter(|s| **s == ipb::RoutingStatus::Waitlisted as i32).count();
    assert_eq!((referred, waitlisted), (1, 1), "statuses {statuses:?}");
    assert_eq!(open_slots(&stack, &provider.id).await, 0);
}
