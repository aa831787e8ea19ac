//! WatchReferrals: a coordinator's organization's referral events, first the backlog after a cursor, then
//! live events, resumable from any cursor; other organizations' events never show.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_auth::Role;
use continuum_errors::bad_fields_of;
use continuum_proto::referral::v1 as pb;
use pb::ActorRole as R;
use pb::ReferralAction as A;
use tonic::{Code, Streaming};

use crate::helpers::*;

/// The next message of `stream`, failing the test if none arrives within 10 s (a bound, not a sleep).
async fn next(stream: &mut Streaming<pb::WatchReferralsResponse>) -> pb::WatchReferralsResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message()).await.expect("an event in time").unwrap().expect("stream open")
}

fn watch_request(org: &str, cursor: &str) -> pb::WatchReferralsRequest {
    pb::WatchReferralsRequest { organization_id: org.into(), cursor: cursor.into() }
}

#[tokio::test]
async fn backlog_then_live_events_and_resume_from_a_cursor() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let r = app.create("watched", &p.id).await;
    let mut coordinator = app.client_as(RECIPIENT, &[Role::Coordinator]);
    let mut stream = coordinator.watch_referrals(watch_request("", "")).await.unwrap().into_inner();

    let created = next(&mut stream).await;
    assert_eq!(created.referral_id, r.id);
    assert_eq!(created.event.as_ref().unwrap().action, A::Unspecified as i32);
    assert_eq!(created.cursor, created.event.as_ref().unwrap().id);

    // Live: the recipient accepts and attends; the coordinator sees each event as it happens.
    let accepted = app.act(&r, A::Accept, R::Recipient).await.unwrap();
    let e = next(&mut stream).await;
    assert_eq!(e.event.as_ref().unwrap().action, A::Accept as i32);
    app.act(&accepted, A::RecordFirstAppointmentAttended, R::Recipient).await.unwrap();
    let attended = next(&mut stream).await;
    assert_eq!(attended.event.as_ref().unwrap().action, A::RecordFirstAppointmentAttended as i32);
    let notified = next(&mut stream).await;
    assert_eq!(notified.event.as_ref().unwrap().action, A::NotifyReferrer as i32);
    drop(stream);

    // Resume after the creation: everything since, in order, from the store.
    let mut resumed = coordinator.watch_referrals(watch_request(RECIPIENT, &created.cursor)).await.unwrap().into_inner();
    let again: Vec<i32> = [next(&mut resumed).await, next(&mut resumed).await, next(&mut resumed).await]
        .iter()
        .map(|m| m.event.as_ref().unwrap().action)
        .collect();
    assert_eq!(again, vec![A::Accept as i32, A::RecordFirstAppointmentAttended as i32, A::NotifyReferrer as i32]);
}

#[tokio::test]
async fn another_organization_sees_only_its_own_referrals() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    app.create("not-theirs", &p.id).await;
    let mut theirs = create_request("theirs", &p.id);
    theirs.referrer_organization_id = OTHER_ORG.into();
    let own = app.client.create_referral(theirs).await.unwrap().into_inner().referral.unwrap();
    let mut other = app.client_as(OTHER_ORG, &[Role::Coordinator]);
    let mut stream = other.watch_referrals(watch_request("", "")).await.unwrap().into_inner();
    let first = next(&mut stream).await;
    assert_eq!(first.referral_id, own.id, "the other referral's events never show");
}

#[tokio::test]
async fn watching_is_for_coordinators_of_their_own_organization() {
    let app = spawn_app().await;
    let err = app.client_as(REFERRER, &[Role::Clinician]).watch_referrals(watch_request("", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app.client_as(REFERRER, &[Role::Coordinator]).watch_referrals(watch_request(RECIPIENT, "")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app.client_as(REFERRER, &[Role::Coordinator]).watch_referrals(watch_request("", "nope")).await.unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["cursor".to_string()]);
    let err = app.anonymous_client().watch_referrals(watch_request("", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}
