//! While waiting: a bridge support for every entry at enqueue, a rise in risk on a check-in taking the
//! client off the list into the crisis interlock (never silently), and the waiting-time metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use continuum_auth::Role;
use continuum_errors::bad_fields_of;
use continuum_proto::common::v1 as common;
use continuum_proto::waitlist::v1 as pb;
use continuum_vocab::time;
use tonic::Code;

use crate::helpers::*;

async fn enqueue_as(
    app: &mut TestApp,
    band: pb::Band,
    age: common::AgeGroup,
    providers: &[&str],
) -> pb::WaitlistEntry {
    let mut req = enqueue_request(band, providers);
    req.age_group = age as i32;
    app.client.enqueue(req).await.unwrap().into_inner().entry.unwrap()
}

#[tokio::test]
async fn every_entry_gets_a_bridge_support_at_enqueue() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let cases = [
        (pb::Band::Routine, common::AgeGroup::Child, "parent_session"),
        (pb::Band::Routine, common::AgeGroup::Adolescent, "single_session"),
        (pb::Band::Urgent, common::AgeGroup::Adult, "single_session"),
        (pb::Band::Soon, common::AgeGroup::Adult, "skills_group"),
        (pb::Band::Routine, common::AgeGroup::OlderAdult, "peer_support"),
        (pb::Band::Routine, common::AgeGroup::Unspecified, "peer_support"),
    ];
    for (band, age, expected) in cases {
        let e = enqueue_as(&mut app, band, age, &[&p]).await;
        assert_eq!(e.bridge_support, expected, "{band:?} {age:?}");
        assert!(!e.interlock_required);
        assert_eq!(app.get(&e.id).await.bridge_support, expected, "stored");
    }
}

fn item9(score: i32) -> Vec<i32> {
    let mut v = vec![0; 9];
    v[8] = score;
    v
}

#[tokio::test]
async fn a_risk_rise_takes_the_client_off_the_list_into_the_interlock_and_passes_the_slot_on() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let first = app.enqueue(pb::Band::Soon, &[&p]).await;
    app.advance(TimeDelta::hours(1));
    let second = app.enqueue(pb::Band::Soon, &[&p]).await;
    let offer = app.open(&p, 1).await.remove(0);
    assert_eq!(offer.entry_id, first.id);

    app.advance(TimeDelta::days(1));
    let req = pb::RecordCheckInRequest {
        entry_id: first.id.clone(),
        answered: true,
        phq9_items: item9(1),
        ..Default::default()
    };
    let r = app.client.record_check_in(req).await.unwrap().into_inner();
    assert!(r.interlock_required, "never silent: the caller is told");
    let entry = r.entry.unwrap();
    assert_eq!(status_of(&entry), pb::EntryStatus::Removed);
    assert_eq!(entry.removal_reason, "risk_rise_interlock");
    assert!(entry.interlock_required);
    assert_eq!(offer_status(&entry.offers[0]), pb::OfferStatus::Declined, "its offer is withdrawn");
    // The held slot went at once to the next in line.
    let next = app.get(&second.id).await;
    assert_eq!(status_of(&next), pb::EntryStatus::Offered);
    assert!(app.holds.holder(&offer.id).await.unwrap().is_none());
    assert!(
        app.list(pb::ListWaitlistRequest::default()).await.entries.iter().all(|e| e.id != first.id)
    );
    // A removed entry takes no more check-ins.
    let again = pb::RecordCheckInRequest {
        entry_id: first.id.clone(),
        answered: true,
        ..Default::default()
    };
    assert_eq!(
        app.client.record_check_in(again).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
}

#[tokio::test]
async fn a_high_risk_reassessment_also_requires_the_interlock() {
    let mut app = spawn_app().await;
    let e = app.enqueue(pb::Band::Routine, &[&id()]).await;
    let moderate = pb::RecordCheckInRequest {
        entry_id: e.id.clone(),
        answered: true,
        risk_level: common::RiskLevel::Moderate as i32,
        ..Default::default()
    };
    let r = app.client.record_check_in(moderate).await.unwrap().into_inner();
    assert!(!r.interlock_required);
    assert_eq!(status_of(r.entry.as_ref().unwrap()), pb::EntryStatus::Waiting);
    let high = pb::RecordCheckInRequest {
        entry_id: e.id.clone(),
        answered: true,
        risk_level: common::RiskLevel::High as i32,
        ..Default::default()
    };
    let r = app.client.record_check_in(high).await.unwrap().into_inner();
    assert!(r.interlock_required);
    assert_eq!(r.entry.unwrap().removal_reason, "risk_rise_interlock");

    // A risk level needs an answered check-in.
    let f = app.enqueue(pb::Band::Routine, &[&id()]).await;
    let bad = pb::RecordCheckInRequest {
        entry_id: f.id.clone(),
        answered: false,
        risk_level: common::RiskLevel::High as i32,
        ..Default::default()
    };
    assert_eq!(
        bad_fields_of(&app.client.record_check_in(bad).await.unwrap_err()),
        vec!["risk_level".to_string()]
    );
    let unknown = pb::RecordCheckInRequest {
        entry_id: f.id,
        answered: true,
        risk_level: 42,
        ..Default::default()
    };
    assert_eq!(
        bad_fields_of(&app.client.record_check_in(unknown).await.unwrap_err()),
        vec!["risk_level".to_string()]
    );
}

#[tokio::test]
async fn metrics_show_who_was_seen_in_time_and_what_happened_while_waiting() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    // Seen: enqueued, offered after 10 days, first appointment 3 days after accepting.
    let seen = app.enqueue(pb::Band::Routine, &[&p]).await;
    let worse = app.enqueue(pb::Band::Routine, &[&id()]).await;
    let crisis = app.enqueue(pb::Band::Routine, &[&id()]).await;
    app.advance(TimeDelta::days(10));
    let offer = app.open(&p, 1).await.remove(0);
    assert_eq!(offer.entry_id, seen.id);
    let appointment = app.clock_now() + TimeDelta::days(3);
    app.client
        .respond_to_offer(pb::RespondToOfferRequest {
            offer_id: offer.id,
            answer: Some(pb::respond_to_offer_request::Answer::Accept(
                pb::respond_to_offer_request::Accept {
                    appointment_at: Some(time::to_proto(appointment)),
                },
            )),
        })
        .await
        .unwrap();
    // Deterioration: a re-screen raises the band. Crisis: a risk rise.
    let phq9_severe = vec![3, 3, 3, 3, 3, 3, 3, 0, 0];
    let req = pb::RecordCheckInRequest {
        entry_id: worse.id.clone(),
        answered: true,
        phq9_items: phq9_severe,
        ..Default::default()
    };
    app.client.record_check_in(req).await.unwrap();
    let req = pb::RecordCheckInRequest {
        entry_id: crisis.id.clone(),
        answered: true,
        phq9_items: item9(2),
        ..Default::default()
    };
    app.client.record_check_in(req).await.unwrap();
    // Another organization's entry, waiting 50 days by the end.
    let mut other = enqueue_request(pb::Band::Routine, &[&id()]);
    other.organization_id = ORG_B.into();
    own(ORG_B, &other.client_id, &other.intake_id);
    app.client_as(ORG_B, &[Role::Coordinator]).enqueue(other).await.unwrap();
    app.advance(TimeDelta::days(50));

    let (entries, check_ins) = app.store.metrics_facts(Some(ORG_A)).await.unwrap();
    // The gauges' read: the placed entries only (of every organization), not the waiting list.
    let placed = app.store.placed_facts().await.unwrap();
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert!(placed[0].first_appointment_at.is_some() && placed[0].left_at.is_some());
    let m = waitlist::domain::wait_metrics(&entries, &check_ins, app.clock_now(), 9);
    assert_eq!(m.len(), 1);
    let a = &m[0];
    assert_eq!((a.placed, a.waiting), (1, 1));
    // The length series, week by week over the 60 days: nobody 9 weeks ago, the three routine entries
    // 8 weeks ago (day 4), and since day 10 only the re-banded one (placed and interlocked ones left).
    let counts: Vec<(i32, i32, i32)> =
        a.length_by_band.iter().map(|p| (p.urgent, p.soon, p.routine)).collect();
    assert_eq!(counts.len(), 10);
    assert_eq!(counts[0], (0, 0, 0), "{counts:?}");
    assert_eq!(counts[1], (0, 0, 3), "{counts:?}");
    let today = counts[9];
    assert_eq!((today.0 + today.1, today.2), (1, 0), "re-banded out of routine: {counts:?}");
    assert!(counts[2..].iter().all(|c| *c == today), "{counts:?}");
    // Seen within 6 weeks: the placed one (13 days); the one still waiting 60 days counts against.
    assert!((a.within_6_weeks - 0.5).abs() < 1e-9, "{a:?}");
    assert!((a.within_18_weeks - 1.0).abs() < 1e-9, "{a:?}");
    assert!((a.median_days_to_first - 13.0).abs() < 1e-9, "{a:?}");
    assert_eq!(
        (a.deterioration_events, a.crisis_events),
        (2, 1),
        "the crisis re-screen also raised the band"
    );

    // Over gRPC, once the role policy lists the method (libs/continuum-auth/src/policy.rs).
    let path = "/continuum.waitlist.v1.WaitlistService/GetWaitlistMetrics";
    let mut coordinator = app.client_as(ORG_A, &[Role::Coordinator]);
    let got = coordinator.get_waitlist_metrics(pb::GetWaitlistMetricsRequest::default()).await;
    if continuum_auth::policy::allowed(path).is_some() {
        let rows = got.unwrap().into_inner().organizations;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].length_by_band.is_empty(), "no series unless asked for");
        let series = coordinator
            .get_waitlist_metrics(pb::GetWaitlistMetricsRequest {
                length_weeks: 9,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .organizations
            .remove(0)
            .length_by_band;
        assert_eq!(
            series.iter().map(|p| (p.urgent, p.soon, p.routine)).collect::<Vec<_>>(),
            counts,
            "the same series over gRPC"
        );
        let err = coordinator
            .get_waitlist_metrics(pb::GetWaitlistMetricsRequest {
                length_weeks: 105,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("length_weeks"), "{}", err.message());
        assert_eq!(
            (rows[0].organization_id.as_str(), rows[0].placed, rows[0].crisis_events),
            (ORG_A, 1, 1)
        );
        let err = coordinator
            .get_waitlist_metrics(pb::GetWaitlistMetricsRequest {
                organization_id: ORG_B.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        // A peer service reads its user's organization only, as does ops.
        let own_only = app
            .client
            .get_waitlist_metrics(pb::GetWaitlistMetricsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            own_only.organizations.iter().map(|o| o.organization_id.as_str()).collect::<Vec<_>>(),
            vec![ORG_A]
        );
        let ops = app
            .client_as(ORG_B, &[Role::Ops])
            .get_waitlist_metrics(pb::GetWaitlistMetricsRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            ops.organizations
                .iter()
                .map(|o| (o.organization_id.as_str(), o.waiting))
                .collect::<Vec<_>>(),
            vec![(ORG_B, 1)]
        );
        let err = app
            .client_as(ORG_B, &[Role::Ops])
            .get_waitlist_metrics(pb::GetWaitlistMetricsRequest {
                organization_id: ORG_A.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    } else {
        assert_eq!(got.unwrap_err().code(), Code::PermissionDenied, "not in the role policy yet");
    }
}
