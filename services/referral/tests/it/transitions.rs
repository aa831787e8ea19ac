//! TransitionReferral: every allowed transition with its actor, a representative set of refusals with
//! their codes and reasons, optimistic concurrency, the audit trail, and slots given back to matching.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_errors::{bad_fields_of, reason_of};
use continuum_proto::referral::v1 as pb;
use pb::ActorRole as R;
use pb::ReferralAction as A;
use pb::ReferralStatus as S;
use tonic::Code;

use crate::helpers::*;

/// A fresh referral to `provider_id` moved along `path`.
async fn reach(app: &mut TestApp, key: &str, provider_id: &str, path: &[(A, R)]) -> pb::Referral {
    let mut r = app.create(key, provider_id).await;
    for (action, role) in path {
        r = app
            .act(&r, *action, *role)
            .await
            .unwrap_or_else(|e| panic!("{action:?} by {role:?}: {e:?}"));
    }
    r
}

const ACCEPTED: &[(A, R)] = &[(A::Accept, R::Recipient)];
const IN_PROGRESS: &[(A, R)] =
    &[(A::Accept, R::Recipient), (A::RecordFirstAppointmentAttended, R::Recipient)];
const ON_HOLD: &[(A, R)] = &[(A::Accept, R::Recipient), (A::Hold, R::Referrer)];
const ON_HOLD_IN_CARE: &[(A, R)] = &[
    (A::Accept, R::Recipient),
    (A::RecordFirstAppointmentAttended, R::Recipient),
    (A::Hold, R::Recipient),
];

/// (path to the start status, action, role, status after, whether the slot goes back)
type Case = (&'static [(A, R)], A, R, S, bool);

#[tokio::test]
async fn every_allowed_transition_and_its_slot() {
    let mut app = spawn_app().await;
    let p = app.provider(100).await;
    // Drafts cannot be made through the API (every referral is created requested or accepted), so SEND
    // and the draft rows of the table are covered by the domain's unit tests only.
    let cases: &[Case] = &[
        (&[], A::MarkReceived, R::Recipient, S::Requested, false),
        (&[], A::Accept, R::Recipient, S::Accepted, false),
        (&[], A::Reject, R::Recipient, S::Rejected, true),
        (&[], A::Cancel, R::Referrer, S::Cancelled, true),
        (&[], A::EnterInError, R::Recipient, S::EnteredInError, true),
        (&[], A::Accept, R::Coordinator, S::Accepted, false),
        (ACCEPTED, A::Schedule, R::Recipient, S::Accepted, false),
        (ACCEPTED, A::RecordNoShow, R::Recipient, S::Accepted, false),
        (ACCEPTED, A::CancelAppointment, R::Recipient, S::Accepted, false),
        (ACCEPTED, A::RecordFirstAppointmentAttended, R::Recipient, S::InProgress, false),
        (ACCEPTED, A::Fail, R::Recipient, S::Failed, true),
        (ACCEPTED, A::Hold, R::Referrer, S::OnHold, false),
        (ACCEPTED, A::Hold, R::Recipient, S::OnHold, false),
        (ACCEPTED, A::Cancel, R::Referrer, S::Cancelled, true),
        (ACCEPTED, A::EnterInError, R::Coordinator, S::EnteredInError, true),
        (IN_PROGRESS, A::Complete, R::Recipient, S::Completed, false),
        (IN_PROGRESS, A::Fail, R::Recipient, S::Failed, false),
        (IN_PROGRESS, A::Hold, R::Recipient, S::OnHold, false),
        (IN_PROGRESS, A::EnterInError, R::Referrer, S::EnteredInError, false),
        (ON_HOLD, A::Resume, R::Referrer, S::Accepted, false),
        (ON_HOLD, A::Resume, R::Recipient, S::Accepted, false),
        (ON_HOLD, A::Cancel, R::Referrer, S::Cancelled, true),
        (ON_HOLD, A::EnterInError, R::Recipient, S::EnteredInError, true),
        (ON_HOLD_IN_CARE, A::Resume, R::Recipient, S::InProgress, false),
        (ON_HOLD_IN_CARE, A::Cancel, R::Referrer, S::Cancelled, false),
    ];
    let mut open = 100;
    for (i, (path, action, role, to, releases)) in cases.iter().enumerate() {
        let r = reach(&mut app, &format!("case-{i}"), &p.id, path).await;
        let from = status(&r);
        let after = app
            .act(&r, *action, *role)
            .await
            .unwrap_or_else(|e| panic!("case {i}: {action:?} by {role:?}: {e:?}"));
        assert_eq!(status(&after), *to, "case {i}: {action:?} from {from:?}");
        assert_eq!(after.version, r.version + 1, "case {i}");
        // Closing the loop also records the referrer's notification, right after the action's own event.
        let own = if *action == A::RecordFirstAppointmentAttended { 2 } else { 1 };
        let last = &after.events[after.events.len() - own];
        assert_eq!(
            (last.action, last.from_status, last.to_status),
            (*action as i32, from as i32, *to as i32),
            "case {i}"
        );
        open -= 1;
        if *releases {
            open += 1;
        }
        assert_eq!(
            app.open_slots(&p.id).await,
            open,
            "case {i}: {action:?} from {from:?} (releases: {releases})"
        );
    }
}

#[tokio::test]
async fn the_loop_closes_and_every_step_is_an_event() {
    let mut app = spawn_app().await;
    let p = app.provider(2).await;
    let path = [
        (A::MarkReceived, R::Recipient),
        (A::Accept, R::Recipient),
        (A::Schedule, R::Recipient),
        (A::RecordNoShow, R::Recipient),
        (A::Schedule, R::Recipient),
        (A::RecordFirstAppointmentAttended, R::Recipient),
        (A::Complete, R::Recipient),
    ];
    let r = reach(&mut app, "loop", &p.id, &path).await;
    assert_eq!(status(&r), S::Completed);
    assert_eq!(r.version, 8);
    let actions: Vec<i32> = r.events.iter().map(|e| e.action).collect();
    let mut expected = vec![A::Unspecified as i32];
    expected.extend(path.iter().map(|(a, _)| *a as i32));
    // The loop closes at the first appointment attended, and the referrer is notified in the same change.
    expected.insert(7, A::NotifyReferrer as i32);
    assert_eq!(actions, expected, "events oldest first");
    let notified = &r.events[7];
    assert_eq!(
        (notified.actor_role, notified.actor_organization_id.as_str()),
        (R::System as i32, REFERRER)
    );
    let scheduled = &r.events[3];
    assert_eq!(scheduled.appointment_at.unwrap().seconds, 1_900_000_000);
    assert_eq!(scheduled.actor_role, R::Recipient as i32);
    assert_eq!(scheduled.actor_organization_id, RECIPIENT);
    // The actor is the caller (the user the recipient's service acted for), whatever the request says.
    assert_eq!(scheduled.actor_user_id, "test-user");
    // Care happened: the slot stays taken.
    assert_eq!(app.open_slots(&p.id).await, 1);
}

#[tokio::test]
async fn a_rejection_records_who_and_why() {
    let mut app = spawn_app().await;
    let p = app.provider(1).await;
    let r = app.create("why", &p.id).await;
    let mut req = action_request(&r, A::Reject);
    req.action = Some(pb::transition_referral_request::Action::Reject(
        pb::transition_referral_request::Reject {
            reason: pb::RejectionReason::LevelOfCareNotOffered as i32,
        },
    ));
    req.note = "needs a higher level of care".into();
    let after = app
        .service_for(RECIPIENT)
        .transition_referral(req)
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    let e = after.events.last().unwrap();
    assert_eq!(e.rejection_reason, pb::RejectionReason::LevelOfCareNotOffered as i32);
    assert_eq!(e.note, "needs a higher level of care");
    assert_eq!(
        (e.actor_role, e.actor_organization_id.as_str(), e.actor_user_id.as_str()),
        (R::Recipient as i32, RECIPIENT, "test-user")
    );
    assert!(e.occurred_at.is_some());
    // Read back from storage, not just from the response.
    assert_eq!(app.get(&r.id).await.events, after.events);
}

fn assert_refused(err: &tonic::Status, code: Code, reason: &str) {
    assert_eq!(err.code(), code, "{err:?}");
    assert_eq!(reason_of(err).map(continuum_errors::reason_code), Some(reason), "{err:?}");
}

#[tokio::test]
async fn transitions_not_in_the_table_are_refused() {
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    let requested = app.create("requested", &p.id).await;
    for action in [
        A::Complete,
        A::Schedule,
        A::Resume,
        A::Send,
        A::RecordFirstAppointmentAttended,
        A::Fail,
        A::Hold,
    ] {
        let err = app.act(&requested, action, R::Coordinator).await.unwrap_err();
        assert_refused(&err, Code::FailedPrecondition, "TRANSITION_NOT_ALLOWED");
    }
    let accepted = reach(&mut app, "accepted", &p.id, ACCEPTED).await;
    for (action, role) in [
        (A::Accept, R::Recipient),
        (A::Reject, R::Recipient),
        (A::MarkReceived, R::Recipient),
        (A::Complete, R::Recipient),
    ] {
        let err = app.act(&accepted, action, role).await.unwrap_err();
        assert_refused(&err, Code::FailedPrecondition, "TRANSITION_NOT_ALLOWED");
    }
    let rejected = reach(&mut app, "rejected", &p.id, &[(A::Reject, R::Recipient)]).await;
    for (action, role) in [
        (A::Accept, R::Recipient),
        (A::Cancel, R::Referrer),
        (A::EnterInError, R::Coordinator),
        (A::Resume, R::Referrer),
    ] {
        let err = app.act(&rejected, action, role).await.unwrap_err();
        assert_refused(&err, Code::FailedPrecondition, "TRANSITION_NOT_ALLOWED");
    }
    // Refusals change nothing.
    let again = app.get(&requested.id).await;
    assert_eq!((again.version, again.events.len()), (1, 1));
}

#[tokio::test]
async fn the_acting_side_comes_from_the_caller() {
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    let r = app.create("actors", &p.id).await;
    // The wrong side for the action (each side calling for itself, without the coordinator role).
    for (action, org) in [(A::Accept, REFERRER), (A::Reject, REFERRER), (A::Cancel, RECIPIENT)] {
        let err = app.service_for(org).transition_referral(action_request(&r, action)).await;
        assert_refused(&err.unwrap_err(), Code::FailedPrecondition, "ACTOR_NOT_ALLOWED");
        let mut clinician = app.client_as(org, &[Role::Clinician]);
        let err = clinician.transition_referral(action_request(&r, action)).await.unwrap_err();
        assert_refused(&err, Code::FailedPrecondition, "ACTOR_NOT_ALLOWED");
    }
    // A third organization does not even learn that the referral exists, whatever its roles (as for an
    // id that names nothing).
    for roles in [&[Role::Clinician][..], &[Role::Coordinator]] {
        let mut outsider = app.client_as(OTHER_ORG, roles);
        let mut req = action_request(&r, A::Accept);
        let err = outsider.transition_referral(req.clone()).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
        req.referral_id = uuid::Uuid::now_v7().to_string();
        assert_eq!(outsider.transition_referral(req).await.unwrap_err().code(), Code::NotFound);
    }
    assert_eq!(app.get(&r.id).await.version, 1, "refusals change nothing");
    // A coordinator of the recipient's organization may cancel for the referrer: recorded as the
    // coordinator, of their own organization, as themselves.
    let mut coordinator = app.client_as(RECIPIENT, &[Role::Coordinator]);
    let after = coordinator
        .transition_referral(action_request(&r, A::Cancel))
        .await
        .unwrap()
        .into_inner()
        .referral
        .unwrap();
    assert_eq!(status(&after), S::Cancelled);
    let e = after.events.last().unwrap();
    assert_eq!(
        (e.actor_role, e.actor_organization_id.as_str(), e.actor_user_id.as_str()),
        (R::Coordinator as i32, RECIPIENT, "test-user")
    );
}

#[tokio::test]
async fn bad_transition_requests_name_their_fields() {
    use pb::transition_referral_request::{Action, Reject, Schedule};
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    let r = app.create("fields", &p.id).await;
    let mut reject = action_request(&r, A::Reject);
    reject.action = Some(Action::Reject(Reject { reason: 0 }));
    let err = app.client.transition_referral(reject).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields_of(&err), vec!["reject.reason".to_string()]);

    let accepted = app.act(&r, A::Accept, R::Recipient).await.unwrap();
    let mut schedule = action_request(&accepted, A::Schedule);
    schedule.action = Some(Action::Schedule(Schedule { appointment_at: None }));
    let err = app.client.transition_referral(schedule).await.unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["schedule.appointment_at".to_string()]);

    let err = app
        .client
        .transition_referral(pb::TransitionReferralRequest {
            referral_id: "nope".into(),
            expected_version: -1,
            action: None,
            note: "x".repeat(501),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields_of(&err), vec!["referral_id", "expected_version", "note", "action"]);
}

#[tokio::test]
async fn a_stale_version_is_aborted() {
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    let r = app.create("stale", &p.id).await;
    app.act(&r, A::MarkReceived, R::Recipient).await.unwrap();
    // `r` still says version 1.
    let err = app.act(&r, A::Accept, R::Recipient).await.unwrap_err();
    assert_refused(&err, Code::Aborted, "VERSION_MISMATCH");
    let current = app.get(&r.id).await;
    assert_eq!((status(&current), current.version), (S::Requested, 2));
}

#[tokio::test]
async fn concurrent_actions_on_one_version_apply_once() {
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    let r = app.create("race", &p.id).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let mut c = app.service_for(RECIPIENT);
        let action = if i % 2 == 0 { A::Accept } else { A::Reject };
        let req = action_request(&r, action);
        tasks.push(tokio::spawn(async move { c.transition_referral(req).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_refused(&e, Code::Aborted, "VERSION_MISMATCH"),
        }
    }
    assert_eq!(ok, 1);
    let current = app.get(&r.id).await;
    assert_eq!((current.version, current.events.len()), (2, 2));
}

#[tokio::test]
async fn an_unknown_referral_is_not_found() {
    let mut app = spawn_app().await;
    let missing = pb::Referral {
        id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        version: 1,
        ..Default::default()
    };
    let err = app.act(&missing, A::Accept, R::Recipient).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .client
        .get_referral(pb::GetReferralRequest { referral_id: missing.id.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}
