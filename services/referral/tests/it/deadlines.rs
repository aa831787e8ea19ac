//! Deadlines and re-routing on a controllable clock (the sweep takes "now"; no sleeps): a silent referral
//! is escalated, a second silence expires it and re-routes the client to the next alternative with a slot;
//! a rejection re-routes at once; no alternative left means a coordinator is alerted; system events cannot
//! be requested through the API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeDelta, Utc};
use continuum_proto::referral::v1 as pb;
use pb::ActorRole as R;
use pb::ReferralAction as A;
use pb::ReferralStatus as S;
use referral::workers::deadlines::NO_ALTERNATIVE;
use tonic::Code;

use crate::helpers::*;

fn actions(r: &pb::Referral) -> Vec<i32> {
    r.events.iter().map(|e| e.action).collect()
}

async fn create_with_alternatives(
    app: &mut TestApp,
    key: &str,
    provider: &str,
    alternatives: &[&str],
) -> pb::Referral {
    let mut req = create_request(key, provider);
    req.alternative_provider_ids = alternatives.iter().map(|s| (*s).to_owned()).collect();
    app.client.create_referral(req).await.unwrap().into_inner().referral.unwrap()
}

#[tokio::test]
async fn silence_escalates_then_expires_and_reroutes_to_the_next_alternative_with_a_slot() {
    let mut app = spawn_app().await;
    let first = app.provider(1).await;
    let full = app.provider(0).await;
    let next = app.provider(2).await;
    let r = create_with_alternatives(&mut app, "silent", &first.id, &[&full.id, &next.id]).await;
    assert_eq!(r.alternative_provider_ids, vec![full.id.clone(), next.id.clone()]);

    // Before the deadline nothing happens.
    let swept = app.deadlines.sweep(Utc::now() + TimeDelta::hours(1)).await.unwrap();
    assert_eq!(swept, Default::default());

    // First silence: escalated to a coordinator, still requested, visible as overdue.
    let t1 = Utc::now() + TimeDelta::days(5);
    let swept = app.deadlines.sweep(t1).await.unwrap();
    assert_eq!(swept.escalated, vec![r.id.clone()]);
    let escalated = app.get(&r.id).await;
    assert_eq!(status(&escalated), S::Requested);
    assert!(escalated.escalated_at.is_some());
    assert_eq!(actions(&escalated).last(), Some(&(A::Escalate as i32)));
    assert_eq!(escalated.events.last().unwrap().actor_role, R::System as i32);
    // Sweeping again at the same time does nothing more.
    assert_eq!(app.deadlines.sweep(t1).await.unwrap(), Default::default());

    // Second silence: expired (failed), slot given back, client re-routed past the full alternative.
    let t2 = t1 + TimeDelta::days(5);
    let swept = app.deadlines.sweep(t2).await.unwrap();
    assert_eq!(swept.expired, vec![r.id.clone()]);
    assert_eq!(swept.rerouted.len(), 1);
    let new_id = swept.rerouted[0].1.clone().expect("re-routed");
    let old = app.get(&r.id).await;
    assert_eq!(status(&old), S::Failed);
    assert_eq!(old.rerouted_to_referral_id, new_id);
    assert_eq!(&actions(&old)[old.events.len() - 2..], &[A::Expire as i32, A::Reroute as i32]);
    assert_eq!(app.open_slots(&first.id).await, 1, "the silent provider's slot went back");

    let new = app.get(&new_id).await;
    assert_eq!(status(&new), S::Requested);
    assert_eq!(new.provider_id, next.id);
    assert_eq!(new.rerouted_from_referral_id, r.id);
    assert_eq!((new.client_id.as_str(), new.referrer_organization_id.as_str()), (CLIENT, REFERRER));
    assert_eq!(
        new.alternative_provider_ids,
        vec![full.id.clone()],
        "what is left stays for the next no"
    );
    assert_eq!(app.open_slots(&next.id).await, 1);
    assert_eq!(app.open_slots(&full.id).await, 0);
    // Idempotent: nothing is owed any more.
    assert!(app.deadlines.sweep(t2).await.unwrap().rerouted.is_empty());
}

#[tokio::test]
async fn a_rejection_reroutes_at_once_and_never_back_to_the_start() {
    let mut app = spawn_app().await;
    let a = app.provider(1).await;
    let b = app.provider(1).await;
    let c = app.provider(1).await;
    let r = create_with_alternatives(&mut app, "no", &a.id, &[&b.id, &c.id]).await;
    let rejected = app.act(&r, A::Reject, R::Recipient).await.unwrap();
    assert_eq!(status(&rejected), S::Rejected);
    let second_id = rejected.rerouted_to_referral_id.clone();
    assert!(!second_id.is_empty(), "re-routed in the same call");
    let second = app.get(&second_id).await;
    assert_eq!(second.provider_id, b.id);
    assert_eq!(second.alternative_provider_ids, vec![c.id.clone()]);

    // The next provider says no too: on to the third, never back to the first.
    let rejected = app.act(&second, A::Reject, R::Recipient).await.unwrap();
    let third = app.get(&rejected.rerouted_to_referral_id).await;
    assert_eq!(third.provider_id, c.id);
    assert!(third.alternative_provider_ids.is_empty());

    // The third says no and nobody is left: a coordinator is alerted, nothing is created.
    let rejected = app.act(&third, A::Reject, R::Recipient).await.unwrap();
    assert!(rejected.rerouted_to_referral_id.is_empty());
    assert_eq!(app.referrers_referrals().await.len(), 3);
    // Timeline: one client's path across the three providers, in order.
    let timeline = app
        .client
        .get_care_timeline(pb::GetCareTimelineRequest { client_id: CLIENT.into() })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<&str> = timeline.entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "referral.rerouted").count(), 2);
}

#[tokio::test]
async fn no_alternative_with_a_slot_escalates_to_a_coordinator() {
    let mut app = spawn_app().await;
    let a = app.provider(1).await;
    let full = app.provider(0).await;
    let r = create_with_alternatives(&mut app, "stuck", &a.id, &[&full.id]).await;
    let rejected = app.act(&r, A::Reject, R::Recipient).await.unwrap();
    assert!(rejected.rerouted_to_referral_id.is_empty());
    let last = rejected.events.last().unwrap();
    assert_eq!((last.action, last.note.as_str()), (A::Escalate as i32, NO_ALTERNATIVE));
    // Settled once: later sweeps do not retry or duplicate it.
    assert!(app.deadlines.sweep(Utc::now()).await.unwrap().rerouted.is_empty());
    assert_eq!(app.get(&r.id).await.events.len(), rejected.events.len());
}

#[tokio::test]
async fn an_answered_referral_is_never_escalated_and_a_cancel_does_not_reroute() {
    let mut app = spawn_app().await;
    let a = app.provider(2).await;
    let b = app.provider(2).await;
    let r = create_with_alternatives(&mut app, "answered", &a.id, &[&b.id]).await;
    app.act(&r, A::Accept, R::Recipient).await.unwrap();
    let swept = app.deadlines.sweep(Utc::now() + TimeDelta::days(30)).await.unwrap();
    assert_eq!(swept, Default::default());

    let c = create_with_alternatives(&mut app, "cancelled", &a.id, &[&b.id]).await;
    let cancelled = app.act(&c, A::Cancel, R::Referrer).await.unwrap();
    assert!(cancelled.rerouted_to_referral_id.is_empty());
    assert_eq!(app.open_slots(&b.id).await, 2);
}

#[tokio::test]
async fn system_events_cannot_be_requested() {
    let mut app = spawn_app().await;
    let p = app.provider(2).await;
    let r = app.create("system", &p.id).await;
    // The request's action is a oneof without the system actions: asking for one sends no action.
    for action in [A::Escalate, A::Expire, A::Reroute, A::NotifyReferrer] {
        for role in [R::Coordinator, R::Recipient, R::Referrer] {
            let err = app.act(&r, action, role).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{action:?} by {role:?}");
            assert_eq!(continuum_errors::bad_fields_of(&err), vec!["action".to_string()]);
        }
    }
    assert_eq!(app.get(&r.id).await.version, 1);
}

#[tokio::test]
async fn bad_alternatives_are_named() {
    let mut app = spawn_app().await;
    let mut req = create_request("alts", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    req.alternative_provider_ids = vec!["nope".into()];
    let err = app.client.create_referral(req).await.unwrap_err();
    assert_eq!(
        continuum_errors::bad_fields_of(&err),
        vec!["alternative_provider_ids[0]".to_string()]
    );
}

#[tokio::test]
async fn concurrent_sweeps_escalate_once_and_reroute_once() {
    let mut app = spawn_app().await;
    let a = app.provider(1).await;
    let b = app.provider(3).await;
    let r = create_with_alternatives(&mut app, "race", &a.id, &[&b.id]).await;
    let t1 = Utc::now() + TimeDelta::days(5);
    let (x, y) = (app.deadlines.clone(), app.deadlines.clone());
    let (sx, sy) = tokio::join!(x.sweep(t1), y.sweep(t1));
    assert_eq!(sx.unwrap().escalated.len() + sy.unwrap().escalated.len(), 1);
    let t2 = t1 + TimeDelta::days(5);
    let (sx, sy) = tokio::join!(x.sweep(t2), y.sweep(t2));
    let (sx, sy) = (sx.unwrap(), sy.unwrap());
    assert_eq!(sx.expired.len() + sy.expired.len(), 1);
    assert_eq!(sx.rerouted.len() + sy.rerouted.len(), 1);
    let old = app.get(&r.id).await;
    let escalations = old.events.iter().filter(|e| e.action == A::Escalate as i32).count();
    assert_eq!(escalations, 1);
    assert_eq!(app.open_slots(&b.id).await, 2, "one slot taken at the alternative");
}

#[tokio::test]
async fn a_crisis_referral_is_rerouted_even_when_the_alternative_is_full() {
    let mut app = spawn_app().await;
    let a = app.provider(1).await;
    let full = app.provider(0).await;
    let mut req = create_request("crisis-no", &a.id);
    req.urgency = continuum_proto::common::v1::Urgency::Emergency as i32;
    req.alternative_provider_ids = vec![full.id.clone()];
    let r = app.client.create_referral(req).await.unwrap().into_inner().referral.unwrap();
    let rejected = app.act(&r, A::Reject, R::Recipient).await.unwrap();
    let next = app.get(&rejected.rerouted_to_referral_id).await;
    assert_eq!(next.provider_id, full.id);
    assert!(next.overbooked);
}

#[tokio::test]
async fn a_rerouted_referrals_seat_goes_back_to_the_cohort_it_came_from() {
    use continuum_proto::matching::v1 as mpb;
    let mut app = spawn_app().await;
    let a = app.provider(1).await;
    // A program whose earlier cohort is full (someone else holds its seat) and whose later one has a seat.
    let start = |days: i64| prost_types::Timestamp {
        seconds: (Utc::now() + TimeDelta::days(days)).timestamp(),
        nanos: 0,
    };
    let mut program = clinician("IOP", 0);
    program.kind = mpb::ProviderKind::Iop as i32;
    program.cohorts = vec![
        mpb::Cohort { code: "early".into(), start_date: Some(start(3)), seats: 1, open_seats: 0 },
        mpb::Cohort { code: "late".into(), start_date: Some(start(20)), seats: 1, open_seats: 1 },
    ];
    let b = app
        .matching_client
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(program),
            expected_version: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    let seats = |p: &mpb::Provider| {
        p.cohorts.iter().map(|c| (c.code.clone(), c.open_seats)).collect::<Vec<_>>()
    };
    let r = create_with_alternatives(&mut app, "to-program", &a.id, &[&b.id]).await;
    let rejected = app.act(&r, A::Reject, R::Recipient).await.unwrap();
    let second = app.get(&rejected.rerouted_to_referral_id).await;
    assert_eq!(second.provider_id, b.id);
    let now_b = app
        .matching_client
        .get_provider(mpb::GetProviderRequest { provider_id: b.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!(
        seats(&now_b),
        vec![("early".to_string(), 0), ("late".to_string(), 0)],
        "the re-route took the late cohort's seat"
    );

    // The referrer cancels the re-routed referral: its seat goes back to the late cohort, not to the
    // earliest cohort with a seat taken.
    app.act(&second, A::Cancel, R::Referrer).await.unwrap();
    let mut back = Vec::new();
    for _ in 0..100 {
        let p = app
            .matching_client
            .get_provider(mpb::GetProviderRequest { provider_id: b.id.clone() })
            .await
            .unwrap()
            .into_inner()
            .provider
            .unwrap();
        back = seats(&p);
        if back.iter().any(|(_, open)| *open > 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(back, vec![("early".to_string(), 0), ("late".to_string(), 1)]);
}
