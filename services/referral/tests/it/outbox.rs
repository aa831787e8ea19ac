//! Slots given back through the outbox: at once when matching is up, after it comes back when it is down;
//! and creation while matching is down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_errors::reason_of;
use continuum_proto::referral::v1 as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_rejection_gives_the_slot_back() {
    let mut app = spawn_app().await;
    let p = app.provider(1).await;
    let r = app.create("give-back", &p.id).await;
    assert_eq!(app.open_slots(&p.id).await, 0);
    let after = app.act(&r, pb::ReferralAction::Reject, pb::ActorRole::Recipient).await.unwrap();
    assert_eq!(status(&after), pb::ReferralStatus::Rejected);
    assert_eq!(app.open_slots(&p.id).await, 1, "given back right after the commit");
    assert_eq!(app.store.outbox_pending().await.unwrap(), 0);
    // The worker never gives it back twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.open_slots(&p.id).await, 1);
}

#[tokio::test]
async fn a_rejection_while_matching_is_down_returns_the_slot_when_it_is_back() {
    let mut app = spawn_app().await;
    let p = app.provider(1).await;
    let r = app.create("down", &p.id).await;
    assert_eq!(app.open_slots(&p.id).await, 0);

    app.stop_matching().await;
    let after = app
        .act(&r, pb::ReferralAction::Reject, pb::ActorRole::Recipient)
        .await
        .expect("rejection succeeds without matching");
    assert_eq!(status(&after), pb::ReferralStatus::Rejected);
    assert_eq!(app.store.outbox_pending().await.unwrap(), 1, "the release waits in the outbox");

    app.restart_matching().await;
    assert!(
        app.wait_for_slots(&p.id, 1, Duration::from_secs(10)).await,
        "slot given back after matching came back"
    );
    assert!(
        app.wait_for_empty_outbox(Duration::from_secs(5)).await,
        "the release recorded as delivered"
    );
    // Still exactly once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(app.open_slots(&p.id).await, 1);
}

#[tokio::test]
async fn creating_while_matching_is_down_is_unavailable_and_retryable() {
    let mut app = spawn_app().await;
    let p = app.provider(2).await;
    app.stop_matching().await;
    let err = app.client.create_referral(create_request("retry-me", &p.id)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("UNAVAILABLE"));

    app.restart_matching().await;
    let resp =
        app.client.create_referral(create_request("retry-me", &p.id)).await.unwrap().into_inner();
    assert!(!resp.replayed);
    assert_eq!(app.open_slots(&p.id).await, 1);
}
