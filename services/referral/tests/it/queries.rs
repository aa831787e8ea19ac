//! GetReferral, ListReferrals (filters, overdue, pagination) and GetCareTimeline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeDelta, Utc};
use continuum_errors::bad_fields_of;
use continuum_proto::common::v1 as common;
use continuum_proto::referral::v1 as pb;
use continuum_vocab::ids::{ClientId, IntakeId, OrganizationId, ProviderId};
use referral::domain::{Actor, ActorRole, NewReferral, Status};
use referral::store::{EventDraft, ReferralDraft};
use tonic::Code;

use crate::helpers::*;

fn list(org: &str) -> pb::ListReferralsRequest {
    pb::ListReferralsRequest { organization_id: org.into(), ..Default::default() }
}

/// The referrals `req` lists, asked by a peer service acting for the organization it names.
async fn ids(app: &mut TestApp, req: pb::ListReferralsRequest) -> Vec<String> {
    let mut client = app.service_for(&req.organization_id);
    client
        .list_referrals(req)
        .await
        .unwrap()
        .into_inner()
        .referrals
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn list_filters_by_organization_status_and_urgency() {
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    let a = app.create("a", &p.id).await;
    let b = app.create("b", &p.id).await;
    let mut urgent = create_request("c", &p.id);
    urgent.urgency = common::Urgency::Urgent as i32;
    let c = app.client.create_referral(urgent).await.unwrap().into_inner().referral.unwrap();
    app.act(&b, pb::ReferralAction::Accept, pb::ActorRole::Recipient).await.unwrap();

    // Both sides see them, newest first, without events; a third organization sees nothing.
    let all = app.client.list_referrals(list(REFERRER)).await.unwrap().into_inner();
    assert_eq!(
        all.referrals.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![c.id.clone(), b.id.clone(), a.id.clone()]
    );
    assert!(all.referrals.iter().all(|r| r.events.is_empty()));
    assert!(all.next_page_token.is_empty());
    assert_eq!(ids(&mut app, list(RECIPIENT)).await.len(), 3);
    assert!(ids(&mut app, list(OTHER_ORG)).await.is_empty());

    let accepted =
        pb::ListReferralsRequest { status: pb::ReferralStatus::Accepted as i32, ..list(RECIPIENT) };
    assert_eq!(ids(&mut app, accepted).await, vec![b.id.clone()]);
    let urgent =
        pb::ListReferralsRequest { urgency: common::Urgency::Urgent as i32, ..list(REFERRER) };
    assert_eq!(ids(&mut app, urgent).await, vec![c.id.clone()]);
    // Nothing created through the API is overdue yet.
    let overdue = pb::ListReferralsRequest { overdue_only: true, ..list(REFERRER) };
    assert!(ids(&mut app, overdue).await.is_empty());

    // By provider: one, or several (an organization unit's), an id listed twice counted once.
    let q = app.provider(10).await;
    let d = app.create("d", &q.id).await;
    let by = |providers: &[&str]| pb::ListReferralsRequest {
        provider_ids: providers.iter().map(|p| (*p).to_owned()).collect(),
        ..list(RECIPIENT)
    };
    assert_eq!(ids(&mut app, by(&[&q.id])).await, vec![d.id.clone()]);
    assert_eq!(ids(&mut app, by(&[&p.id])).await, vec![c.id.clone(), b.id.clone(), a.id.clone()]);
    assert_eq!(ids(&mut app, by(&[&p.id, &q.id, &q.id])).await.len(), 4);
    assert!(ids(&mut app, by(&["0190d5a0-0000-7000-8000-00000000dead"])).await.is_empty());
    let outsider =
        pb::ListReferralsRequest { organization_id: OTHER_ORG.into(), ..by(&[&p.id, &q.id]) };
    assert!(
        ids(&mut app, outsider).await.is_empty(),
        "another organization names the providers: nothing"
    );
    let accepted_at_p = pb::ListReferralsRequest {
        status: pb::ReferralStatus::Accepted as i32,
        ..by(&[&p.id, &q.id])
    };
    assert_eq!(ids(&mut app, accepted_at_p).await, vec![b.id.clone()], "filters combine");
}

#[tokio::test]
async fn overdue_means_still_requested_after_the_deadline() {
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    app.create("fresh", &p.id).await;
    // Referrals whose deadline passed cannot be made through the API without waiting; seed them in the store.
    let seed = |key: &str, status: Status| {
        let now = Utc::now() - TimeDelta::days(5);
        ReferralDraft {
            new: NewReferral {
                idempotency_key: key.into(),
                client_id: ClientId::parse(CLIENT).unwrap(),
                intake_id: IntakeId::parse(INTAKE).unwrap(),
                referrer_organization_id: OrganizationId::parse(REFERRER).unwrap(),
                provider_id: ProviderId::parse(&p.id).unwrap(),
                urgency: continuum_vocab::Urgency::Routine,
                allow_overbook: false,
                scheduled_at: None,
                alternative_provider_ids: vec![],
                first_open_alternative: false,
            },
            recipient_organization_id: OrganizationId::parse(RECIPIENT).unwrap(),
            overbooked: false,
            status,
            response_due_at: now + TimeDelta::days(2),
            now,
            events: vec![EventDraft {
                action: None,
                from_status: None,
                to_status: status,
                actor: Actor {
                    role: ActorRole::Referrer,
                    organization_id: REFERRER.into(),
                    user_id: None,
                },
                rejection_reason: None,
                note: None,
                appointment_at: None,
            }],
            rerouted_from: None,
        }
    };
    let late = app.store.create_referral(seed("late", Status::Requested)).await.unwrap();
    app.store.create_referral(seed("late-but-answered", Status::Accepted)).await.unwrap();
    let overdue = pb::ListReferralsRequest { overdue_only: true, ..list(RECIPIENT) };
    assert_eq!(ids(&mut app, overdue).await, vec![late.id]);
}

#[tokio::test]
async fn pages_cover_everything_once_newest_first() {
    let mut app = spawn_app().await;
    let p = app.provider(10).await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create(&format!("page-{i}"), &p.id).await.id);
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .client
            .list_referrals(pb::ListReferralsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..list(REFERRER)
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.referrals.len() <= 2);
        seen.extend(page.referrals.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
}

#[tokio::test]
async fn bad_list_requests_name_their_fields() {
    let mut app = spawn_app().await;
    let err = app
        .client
        .list_referrals(pb::ListReferralsRequest {
            organization_id: "nope".into(),
            status: 42,
            urgency: 42,
            page_size: 201,
            page_token: "garbage".into(),
            overdue_only: false,
            client_id: "nope".into(),
            provider_ids: vec![ProviderId::new_v7().as_str().to_owned(), "nope".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = bad_fields_of(&err);
    for f in [
        "organization_id",
        "status",
        "urgency",
        "page_size",
        "page_token",
        "client_id",
        "provider_ids[1]",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
    }
    let err = app
        .client
        .list_referrals(pb::ListReferralsRequest { page_token: "x".into(), ..list(REFERRER) })
        .await
        .unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["page_token".to_string()]);
    // Over the cap: one violation on the list, its items unread.
    let err = app
        .client
        .list_referrals(pb::ListReferralsRequest {
            provider_ids: vec!["nope".into(); 501],
            ..list(REFERRER)
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["provider_ids".to_string()]);
}

#[tokio::test]
async fn the_care_timeline_is_in_time_order_across_referrals() {
    let mut app = spawn_app().await;
    let first_provider = app.provider(5).await;
    let second_provider = app.provider(5).await;
    let first = app.create("t-1", &first_provider.id).await;
    let first =
        app.act(&first, pb::ReferralAction::Reject, pb::ActorRole::Recipient).await.unwrap();
    let second = app.create("t-2", &second_provider.id).await;
    let second =
        app.act(&second, pb::ReferralAction::Accept, pb::ActorRole::Recipient).await.unwrap();
    let second = app
        .act(&second, pb::ReferralAction::RecordFirstAppointmentAttended, pb::ActorRole::Recipient)
        .await
        .unwrap();
    // Another client's referral stays out of this timeline.
    let mut other = create_request("t-other", &first_provider.id);
    other.client_id = "0190a1b2-c3d4-7e5f-8a9b-0000000000c2".into();
    own(REFERRER, &other.client_id, INTAKE);
    app.client.create_referral(other).await.unwrap();

    let entries = app
        .client
        .get_care_timeline(pb::GetCareTimelineRequest { client_id: CLIENT.into() })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let got: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.referral_id.as_str(),
                e.organization_id.as_str(),
                e.provider_id.as_str(),
            )
        })
        .collect();
    let (f, s, fp, sp) = (
        first.id.as_str(),
        second.id.as_str(),
        first_provider.id.as_str(),
        second_provider.id.as_str(),
    );
    assert_eq!(
        got,
        vec![
            ("referral.created", f, REFERRER, fp),
            ("referral.rejected", f, RECIPIENT, fp),
            ("referral.created", s, REFERRER, sp),
            ("referral.accepted", s, RECIPIENT, sp),
            ("referral.first_appointment_attended", s, RECIPIENT, sp),
            // The loop closed: the referrer is told.
            ("referral.referrer_notified", s, REFERRER, sp),
        ]
    );
    let times: Vec<_> =
        entries.iter().map(|e| e.occurred_at.unwrap()).map(|t| (t.seconds, t.nanos)).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert!(entries.iter().all(|e| e.source == "referral" && !e.record_id.is_empty()));
    assert_eq!(
        entries[1].details.get("rejection_reason").map(String::as_str),
        Some("no_capacity"),
        "{:?}",
        entries[1].details
    );

    // Intake and waitlist are down here (their ports refuse): the timeline still answers, names them, and
    // matching (up) answered with nothing for this client.
    let answer = app
        .client
        .get_care_timeline(pb::GetCareTimelineRequest { client_id: CLIENT.into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.unavailable_sources, vec!["intake".to_string(), "waitlist".to_string()]);
    assert_eq!(answer.entries.len(), entries.len());

    let err = app
        .client
        .get_care_timeline(pb::GetCareTimelineRequest { client_id: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["client_id".to_string()]);
    let none = app
        .client
        .get_care_timeline(pb::GetCareTimelineRequest {
            client_id: "0190a1b2-c3d4-7e5f-8a9b-0000000000ff".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.entries.is_empty());
}

#[tokio::test]
async fn urgency_and_status_filters_hold_across_pages() {
    let mut app = spawn_app().await;
    let p = app.provider(20).await;
    let mut urgent = Vec::new();
    for i in 0..5 {
        let mut req = create_request(&format!("mix-{i}"), &p.id);
        if i % 2 == 0 {
            req.urgency = common::Urgency::Urgent as i32;
        }
        let r = app.client.create_referral(req).await.unwrap().into_inner().referral.unwrap();
        if i % 2 == 0 {
            urgent.push(r.id);
        }
    }
    urgent.reverse();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .client
            .list_referrals(pb::ListReferralsRequest {
                urgency: common::Urgency::Urgent as i32,
                status: pb::ReferralStatus::Requested as i32,
                page_size: 1,
                page_token: token.clone(),
                ..list(REFERRER)
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.referrals.iter().all(|r| r.urgency == common::Urgency::Urgent as i32));
        seen.extend(page.referrals.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, urgent, "every urgent referral once, newest first");
}
