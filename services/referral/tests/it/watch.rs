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
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an event in time")
        .unwrap()
        .expect("stream open")
}

fn watch_request(org: &str, cursor: &str) -> pb::WatchReferralsRequest {
    pb::WatchReferralsRequest { organization_id: org.into(), cursor: cursor.into(), since: None }
}

/// A referral created, then a start time, then the referral accepted (event times are milliseconds: the
/// steps are 20 ms apart), and the recipient coordinator's watch from that start time: the accepted
/// referral, the start time and the stream.
async fn accepted_after_a_watch_start(
    app: &mut TestApp,
) -> (pb::Referral, prost_types::Timestamp, Streaming<pb::WatchReferralsResponse>) {
    let p = app.provider(5).await;
    let r = app.create("before", &p.id).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = continuum_vocab::time::to_proto(chrono::Utc::now());
    tokio::time::sleep(Duration::from_millis(20)).await;
    let accepted = app.act(&r, A::Accept, R::Recipient).await.unwrap();
    let stream = app
        .client_as(RECIPIENT, &[Role::Coordinator])
        .watch_referrals(pb::WatchReferralsRequest { since: Some(since), ..watch_request("", "") })
        .await
        .unwrap()
        .into_inner();
    (accepted, since, stream)
}

/// On PostgreSQL a transaction running anywhere in the cluster holds the feed horizon back, so the start
/// position a watch from a time finds can be older than the time (CI's second pass hit it: the creation
/// was replayed); what occurred before the time is still left out. (SQLite has no horizon.)
#[tokio::test]
async fn a_watch_from_a_time_leaves_out_earlier_events_while_a_transaction_holds_the_feed_back() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let mut app = spawn_app().await;
    let Some(url) = app.backing.database_url().map(str::to_owned) else { return };
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let held = db.begin().await.unwrap();
    held.execute_unprepared("SELECT pg_current_xact_id()").await.unwrap();
    let (_, _, mut stream) = accepted_after_a_watch_start(&mut app).await;
    // The watch started while the horizon was held: now let the events through.
    held.rollback().await.unwrap();
    assert_eq!(
        next(&mut stream).await.event.unwrap().action,
        A::Accept as i32,
        "the creation, before the start time, is not replayed"
    );
}

#[tokio::test]
async fn a_watch_from_a_time_starts_there_not_at_the_beginning() {
    let mut app = spawn_app().await;
    let (accepted, since, mut stream) = accepted_after_a_watch_start(&mut app).await;
    let mut coordinator = app.client_as(RECIPIENT, &[Role::Coordinator]);
    let first = next(&mut stream).await;
    assert_eq!(
        first.event.as_ref().unwrap().action,
        A::Accept as i32,
        "the creation, before the start time, is not replayed"
    );
    // Live events follow as usual.
    app.act(&accepted, A::RecordFirstAppointmentAttended, R::Recipient).await.unwrap();
    assert_eq!(
        next(&mut stream).await.event.unwrap().action,
        A::RecordFirstAppointmentAttended as i32
    );
    // A start time from before everything is the beginning.
    let mut all = coordinator
        .watch_referrals(pb::WatchReferralsRequest {
            since: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }),
            ..watch_request("", "")
        })
        .await
        .unwrap()
        .into_inner();
    let created = next(&mut all).await;
    assert_eq!(created.referral_id, accepted.id);
    assert_eq!(created.event.unwrap().action, A::Unspecified as i32, "the creation");
    // A cursor and a start time together are refused, naming the field.
    let err = coordinator
        .watch_referrals(pb::WatchReferralsRequest {
            since: Some(since),
            ..watch_request("", &first.cursor)
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(bad_fields_of(&err).contains(&"since".to_owned()), "{err:?}");
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
    let mut resumed = coordinator
        .watch_referrals(watch_request(RECIPIENT, &created.cursor))
        .await
        .unwrap()
        .into_inner();
    let again: Vec<i32> =
        [next(&mut resumed).await, next(&mut resumed).await, next(&mut resumed).await]
            .iter()
            .map(|m| m.event.as_ref().unwrap().action)
            .collect();
    assert_eq!(
        again,
        vec![A::Accept as i32, A::RecordFirstAppointmentAttended as i32, A::NotifyReferrer as i32]
    );
}

#[tokio::test]
async fn another_organization_sees_only_its_own_referrals() {
    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    app.create("not-theirs", &p.id).await;
    let mut theirs = create_request("theirs", &p.id);
    theirs.referrer_organization_id = OTHER_ORG.into();
    theirs.client_id = uuid::Uuid::now_v7().to_string();
    own(OTHER_ORG, &theirs.client_id, INTAKE);
    let own = app
        .service_for(OTHER_ORG)
        .create_referral(theirs)
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    let mut other = app.client_as(OTHER_ORG, &[Role::Coordinator]);
    let mut stream = other.watch_referrals(watch_request("", "")).await.unwrap().into_inner();
    let first = next(&mut stream).await;
    assert_eq!(first.referral_id, own.id, "the other referral's events never show");
}

#[tokio::test]
async fn watching_is_for_coordinators_of_their_own_organization() {
    let app = spawn_app().await;
    let err = app
        .client_as(REFERRER, &[Role::Clinician])
        .watch_referrals(watch_request("", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app
        .client_as(REFERRER, &[Role::Coordinator])
        .watch_referrals(watch_request(RECIPIENT, ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app
        .client_as(REFERRER, &[Role::Coordinator])
        .watch_referrals(watch_request("", "nope"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["cursor".to_string()]);
    let err = app.anonymous_client().watch_referrals(watch_request("", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

/// An event another replica commits late — here one whose id (its creation time) is a minute older than
/// the events already sent, like a transaction that ran for a minute — is still delivered, once. On
/// PostgreSQL the transaction is really held open while a newer event commits: the watch holds the newer
/// one back until the older transaction ends, then sends both in commit-feed order.
#[tokio::test]
async fn an_event_committed_late_by_another_writer_is_delivered_not_skipped() {
    use referral::store::entities::referral_event;
    use sea_orm::{ActiveModelTrait, ActiveValue, DbBackend, TransactionTrait};

    let mut app = spawn_app().await;
    let p = app.provider(5).await;
    let r = app.create("late", &p.id).await;
    let mut coordinator = app.client_as(RECIPIENT, &[Role::Coordinator]);
    let mut stream = coordinator.watch_referrals(watch_request("", "")).await.unwrap().into_inner();
    assert_eq!(next(&mut stream).await.referral_id, r.id);

    let minute_ago = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        (chrono::Utc::now().timestamp() - 60) as u64,
        0,
    ));
    let late_id = minute_ago.to_string();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let row = |seq: ActiveValue<i64>| referral_event::ActiveModel {
        id: ActiveValue::Set(late_id.clone()),
        referral_id: ActiveValue::Set(r.id.clone()),
        client_id: ActiveValue::Set(r.client_id.clone()),
        action: ActiveValue::Set(Some("mark_received".into())),
        from_status: ActiveValue::Set(Some("requested".into())),
        to_status: ActiveValue::Set("requested".into()),
        actor_role: ActiveValue::Set("recipient".into()),
        actor_organization_id: ActiveValue::Set(RECIPIENT.into()),
        actor_user_id: ActiveValue::Set(None),
        rejection_reason: ActiveValue::Set(None),
        note: ActiveValue::Set(None),
        appointment_at_ms: ActiveValue::Set(None),
        occurred_at_ms: ActiveValue::Set(now_ms - 60_000),
        seq,
    };
    let db = app.store.connection().clone();
    if db.get_database_backend() == DbBackend::Postgres {
        // The other writer's transaction starts first and stays open while a newer event commits.
        let txn = db.begin().await.unwrap();
        row(ActiveValue::NotSet).insert(&txn).await.unwrap();
        app.act(&r, A::Accept, R::Recipient).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(1500), stream.message()).await;
        assert!(early.is_err(), "the newer event waits for the older transaction: {early:?}");
        txn.commit().await.unwrap();
    } else {
        // SQLite has one writer at a time: the late row simply commits after the newer event.
        app.act(&r, A::Accept, R::Recipient).await.unwrap();
        assert_eq!(next(&mut stream).await.event.unwrap().action, A::Accept as i32);
        row(ActiveValue::Set(i64::MAX / 2)).insert(&db).await.unwrap();
    }
    // Delivered, not skipped: on PostgreSQL first (its transaction began first), then the newer event.
    assert_eq!(next(&mut stream).await.cursor, late_id, "the late event was delivered");
    if db.get_database_backend() == DbBackend::Postgres {
        assert_eq!(next(&mut stream).await.event.unwrap().action, A::Accept as i32);
    }
    // Nothing is sent twice.
    let again = tokio::time::timeout(Duration::from_millis(1200), stream.message()).await;
    assert!(again.is_err(), "no duplicate: {again:?}");
}
