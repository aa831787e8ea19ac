//! Care-relationship access in matching (docs/security.md): another organization — a person, or a peer
//! service acting for one — finds another organization's provider NOT_FOUND for every write, exactly like
//! a provider that does not exist, except the referral flow's one-slot take under a hold key and the
//! give-back of one slot taken on the same provider; session feedback is recorded only by the provider's
//! organization, about a client intake says it may act for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use continuum_testkit::Bearer;
use tonic::Code;

use crate::helpers::*;

fn as_org_b(
    app: &TestApp,
    service: bool,
) -> MatchingServiceClient<continuum_testkit::AuthedChannel> {
    let token = if service {
        app.backing.service_token(ORG_B)
    } else {
        app.backing.token(ORG_B, &[Role::ProviderAdmin, Role::Clinician])
    };
    MatchingServiceClient::with_interceptor(
        continuum_runtime::peer_channel(&app.addr.to_string()).unwrap(),
        Bearer::new(&token),
    )
}

fn delta(
    provider_id: &str,
    delta: i32,
    hold_key: &str,
    gives_back: &str,
) -> pb::UpdateCapacityRequest {
    pb::UpdateCapacityRequest {
        provider_id: provider_id.into(),
        change: Some(pb::update_capacity_request::Change::Delta(delta)),
        hold_key: hold_key.into(),
        gives_back_hold_key: gives_back.into(),
        ..Default::default()
    }
}

fn set(provider_id: &str, n: i32) -> pb::UpdateCapacityRequest {
    pb::UpdateCapacityRequest {
        provider_id: provider_id.into(),
        change: Some(pb::update_capacity_request::Change::SetOpenSlots(n)),
        ..Default::default()
    }
}

fn fresh() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn another_organization_writes_nothing_of_a_provider_but_the_referral_flows_one_slot() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr Own", 3)).await;
    for service in [false, true] {
        let mut b = as_org_b(&app, service);
        // Anything but a one-slot take under a key: NOT_FOUND, as for a provider that does not exist.
        for (req, what) in [
            (set(&p.id, 9), "set"),
            (delta(&p.id, 2, "", ""), "raise"),
            (delta(&p.id, -2, "k-two", ""), "take two"),
            (delta(&p.id, -1, "", ""), "take without a key"),
        ] {
            let mut unknown = req.clone();
            unknown.provider_id = fresh();
            let elsewhere = b.update_capacity(req).await.unwrap_err();
            let nowhere = b.update_capacity(unknown).await.unwrap_err();
            assert_eq!(
                (elsewhere.code(), elsewhere.message()),
                (Code::NotFound, nowhere.message()),
                "{what} (service: {service})"
            );
        }
        // A listing update naming the provider (provider administrators only): NOT_FOUND too.
        if !service {
            let mut listing = clinician("Dr Taken Over", 3);
            listing.id = p.id.clone();
            listing.organization_id = ORG_B.into();
            let err = b
                .upsert_provider(pb::UpsertProviderRequest {
                    provider: Some(listing),
                    expected_version: p.version,
                })
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::NotFound);
        }
    }
    assert_eq!(
        app.client
            .get_provider(pb::GetProviderRequest { provider_id: p.id.clone() })
            .await
            .unwrap()
            .into_inner()
            .provider
            .unwrap()
            .open_slots,
        3
    );

    // A person of another organization may not even take one slot; a peer service acting for it may (the
    // referral it makes), and may give back that slot, but not capacity no hold took.
    let err = as_org_b(&app, false)
        .update_capacity(delta(&p.id, -1, "referral:b-1", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let mut peer = as_org_b(&app, true);
    let taken = peer
        .update_capacity(delta(&p.id, -1, "referral:b-1", ""))
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!(taken.open_slots, 2);
    let err = peer
        .update_capacity(delta(&p.id, 1, "release:bogus", "referral:nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "a give-back naming no hold of this provider");
    let back = peer
        .update_capacity(delta(&p.id, 1, "release:b-1", "referral:b-1"))
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!(back.open_slots, 3);
}

#[tokio::test]
async fn feedback_is_recorded_by_the_providers_organization_about_a_client_it_may_act_for() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr Feedback", 1)).await;
    let feedback = |provider: &str, client: &str| pb::RecordSessionFeedbackRequest {
        provider_id: provider.into(),
        client_id: client.into(),
        session_number: 1,
        srs_items: vec![9.0; 4],
        ors_items: vec![5.0; 4],
        ..Default::default()
    };
    let mine = client_of_org_a(&fresh()).to_owned();
    app.client.record_session_feedback(feedback(&p.id, &mine)).await.unwrap();
    // A client the organization has no relationship with is not found, like one that does not exist.
    let theirs = fresh();
    own(ORG_B, &theirs, &fresh());
    let elsewhere = app.client.record_session_feedback(feedback(&p.id, &theirs)).await.unwrap_err();
    let nowhere = app.client.record_session_feedback(feedback(&p.id, &fresh())).await.unwrap_err();
    assert_eq!((elsewhere.code(), elsewhere.message()), (Code::NotFound, nowhere.message()));
    // Another organization's provider is not found either, even about its own client.
    let mut b = as_org_b(&app, false);
    assert_eq!(
        b.record_session_feedback(feedback(&p.id, &theirs)).await.unwrap_err().code(),
        Code::NotFound
    );
    // Nothing of it shows on the client's timeline in matching.
    let events = app
        .client
        .list_care_events(pb::ListCareEventsRequest { client_id: theirs.clone() })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(events.is_empty());
}

/// A take that falls back on other providers passes over every provider the caller may not take from:
/// a person of another organization takes nothing (answered as when no listed provider has a slot, so
/// the answer does not tell another organization's provider from a missing one); a peer service acting
/// for that organization takes the slot its referral needs.
#[tokio::test]
async fn a_fall_back_take_reaches_only_providers_the_caller_may_take_from() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr Elsewhere", 2)).await;
    let mut req = delta(&fresh(), -1, "referral:b-open", "");
    req.or_provider_ids = vec![p.id.clone()];
    let mut missing = req.clone();
    missing.or_provider_ids = vec![fresh()];
    let person = as_org_b(&app, false).update_capacity(req.clone()).await.unwrap_err();
    let nowhere = as_org_b(&app, false).update_capacity(missing).await.unwrap_err();
    assert_eq!((person.code(), person.message()), (nowhere.code(), nowhere.message()));
    assert_eq!(person.code(), Code::FailedPrecondition);
    let taken = as_org_b(&app, true).update_capacity(req).await.unwrap().into_inner();
    let taken = taken.provider.unwrap();
    assert_eq!((taken.id, taken.open_slots), (p.id, 1));
}
