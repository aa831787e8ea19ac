//! CreateReferral with `capacity_hold_key`: the slot was already taken in matching (an accepted waitlist
//! offer for a matching capacity event), so the referral does not take it again, and gives it back once
//! when it ends before care started.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_errors::bad_fields_of;
use continuum_proto::referral::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_held_slot_is_not_taken_again_and_is_given_back_once() {
    let mut app = spawn_app().await;
    // Two slots, the second taken by the waitlist (for the provider's organization) under its key.
    let p = app.provider(2).await;
    let held = "waitlist-slot:0190a1b2-c3d4-7e5f-8a9b-0000000000e1:0";
    app.matching_client
        .update_capacity(continuum_proto::matching::v1::UpdateCapacityRequest {
            provider_id: p.id.clone(),
            change: Some(continuum_proto::matching::v1::update_capacity_request::Change::Delta(-1)),
            hold_key: held.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut req = create_request("offer:held-1", &p.id);
    req.capacity_hold_key = held.into();
    let r = app.client.create_referral(req.clone()).await.unwrap().into_inner().referral.unwrap();
    assert_eq!(r.recipient_organization_id, RECIPIENT);
    assert!(!r.overbooked);
    assert_eq!(app.open_slots(&p.id).await, 1, "the referral took nothing");
    // A replay is the same referral and still takes nothing.
    let again = app.client.create_referral(req).await.unwrap().into_inner();
    assert!(again.replayed);
    assert_eq!(app.open_slots(&p.id).await, 1);
    // Rejected before care: the held slot goes back to matching once.
    app.act(&r, pb::ReferralAction::Reject, pb::ActorRole::Recipient).await.unwrap();
    assert_eq!(app.open_slots(&p.id).await, 2);
}

#[tokio::test]
async fn a_too_long_hold_key_is_named_with_the_other_bad_fields() {
    let mut app = spawn_app().await;
    let mut req = create_request("", "nope");
    req.capacity_hold_key = "k".repeat(161);
    let err = app.client.create_referral(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = bad_fields_of(&err);
    for f in ["capacity_hold_key", "idempotency_key", "provider_id"] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
}

fn cohort(code: &str, days_from_now: i64, seats: i32) -> continuum_proto::matching::v1::Cohort {
    continuum_proto::matching::v1::Cohort {
        code: code.into(),
        start_date: Some(prost_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() + days_from_now * 86_400,
            nanos: 0,
        }),
        seats,
        open_seats: seats,
    }
}

fn seats_of(p: &continuum_proto::matching::v1::Provider) -> Vec<(String, i32)> {
    p.cohorts.iter().map(|c| (c.code.clone(), c.open_seats)).collect()
}

#[tokio::test]
async fn a_rejected_referral_gives_its_seat_back_to_the_cohort_it_came_from() {
    use continuum_proto::matching::v1 as mpb;
    let mut app = spawn_app().await;
    let mut program = clinician("Cohort IOP", 0);
    program.kind = mpb::ProviderKind::Iop as i32;
    program.cohorts = vec![cohort("a", 2, 1), cohort("b", 9, 5)];
    let p = app
        .matching_client
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(program),
            expected_version: 0,
        })
        .await
        .unwrap();
    let p = p.into_inner().provider.unwrap();
    let _first = app.create("cohort-1", &p.id).await;
    let second = app.create("cohort-2", &p.id).await;
    let get = |app: &mut TestApp| {
        let mut m = app.matching_client.clone();
        let id = p.id.clone();
        async move {
            m.get_provider(mpb::GetProviderRequest { provider_id: id })
                .await
                .unwrap()
                .into_inner()
                .provider
                .unwrap()
        }
    };
    assert_eq!(seats_of(&get(&mut app).await), vec![("a".to_owned(), 0), ("b".to_owned(), 4)]);
    // The second referral's seat came from "b": rejected, it goes back there, not to the earlier "a".
    app.act(&second, pb::ReferralAction::Reject, pb::ActorRole::Recipient).await.unwrap();
    assert_eq!(seats_of(&get(&mut app).await), vec![("a".to_owned(), 0), ("b".to_owned(), 5)]);
}

#[tokio::test]
async fn only_a_service_may_name_a_capacity_hold() {
    let mut app = spawn_app().await;
    let p = app.provider(0).await;
    let mut req = create_request("person-held", &p.id);
    req.capacity_hold_key = "waitlist-slot:made-up:0".into();
    let mut coordinator = app.client_as(REFERRER, &[continuum_auth::Role::Coordinator]);
    let err = coordinator.create_referral(req).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(app.open_slots(&p.id).await, 0);
}
