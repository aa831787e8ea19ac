//! Tenant scoping: a caller — a person, or a peer service acting for one — sees and changes only its own
//! organization's entries; another organization's entries and offers are NOT_FOUND; only the organization
//! that took a client's intake enqueues the client; only a provider's organization opens its slots.
//! Missing tokens are UNAUTHENTICATED; roles outside the policy are PERMISSION_DENIED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::waitlist::v1 as pb;
use tonic::Code;

use crate::helpers::*;

fn nf<T>(r: Result<T, tonic::Status>) -> Code {
    r.map(|_| ()).unwrap_err().code()
}

#[tokio::test]
async fn a_person_enqueues_and_lists_only_for_their_organization() {
    let app = spawn_app().await;
    let p = app.provider().await;
    let mut a = app.client_as(ORG_A, &[Role::Coordinator]);
    let mine = a
        .enqueue(enqueue_request(pb::Band::Soon, &[&p]))
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    let mut b = app.client_as(ORG_B, &[Role::Coordinator]);
    let err = b.enqueue(enqueue_request(pb::Band::Soon, &[&p])).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "naming another organization");
    // Naming itself but another organization's client: not found, as for a client that does not exist.
    let mut theirs = enqueue_request(pb::Band::Soon, &[&p]);
    theirs.organization_id = ORG_B.into();
    assert_eq!(nf(b.enqueue(theirs).await), Code::NotFound);
    let mut nobodys = enqueue_request(pb::Band::Soon, &[&p]);
    nobodys.organization_id = ORG_B.into();
    nobodys.client_id = id();
    assert_eq!(nf(b.enqueue(nobodys).await), Code::NotFound);

    let listed = a.list_waitlist(pb::ListWaitlistRequest::default()).await.unwrap().into_inner();
    assert_eq!(ids_of(&listed.entries), vec![mine.id.clone()]);
    let empty = b.list_waitlist(pb::ListWaitlistRequest::default()).await.unwrap().into_inner();
    assert!(empty.entries.is_empty(), "empty means the caller's own organization");
    let err = b
        .list_waitlist(pb::ListWaitlistRequest {
            organization_id: ORG_A.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

/// Issue 12: intake's own routing call is not asked back — intake is who decides, and it enqueues only
/// the intakes it took, for their organization — while every other caller's enqueue still is: a client
/// the intake double never recorded is NOT_FOUND for another service and for a person of the same
/// organization.
#[tokio::test]
async fn intakes_own_enqueue_is_not_asked_back_and_every_other_callers_still_is() {
    let app = spawn_app().await;
    let p = app.provider().await;
    let as_peer =
        |service: &str| app.client_with_token(&app.backing.service_token_of(service, ORG_A));
    let unrecorded = || {
        let mut r = enqueue_request(pb::Band::Soon, &[&p]);
        (r.client_id, r.intake_id) = (id(), id());
        r
    };
    let entry = as_peer("intake").enqueue(unrecorded()).await.unwrap().into_inner().entry.unwrap();
    assert_eq!(entry.organization_id, ORG_A);
    for service in ["gateway", "referral", "test"] {
        assert_eq!(nf(as_peer(service).enqueue(unrecorded()).await), Code::NotFound, "{service}");
    }
    let mut person = app.client_as(ORG_A, &[Role::Coordinator]);
    assert_eq!(nf(person.enqueue(unrecorded()).await), Code::NotFound);
}

#[tokio::test]
async fn another_organizations_entries_and_offers_are_not_found() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let e = app.enqueue(pb::Band::Soon, &[&p]).await;
    let mut b = app.client_as(ORG_B, &[Role::Coordinator, Role::Clinician]);
    assert_eq!(
        nf(b.get_entry(pb::GetEntryRequest { entry_id: e.id.clone() }).await),
        Code::NotFound
    );
    assert_eq!(
        nf(b.estimate_wait(pb::EstimateWaitRequest { entry_id: e.id.clone() }).await),
        Code::NotFound
    );
    let check_in =
        pb::RecordCheckInRequest { entry_id: e.id.clone(), answered: false, ..Default::default() };
    assert_eq!(nf(b.record_check_in(check_in).await), Code::NotFound);
    assert_eq!(
        nf(b.remove_entry(pb::RemoveEntryRequest {
            entry_id: e.id.clone(),
            reason: "x".into(),
            expected_version: None
        })
        .await),
        Code::NotFound
    );

    // Only the provider's own organization opens its slots: for another, the provider is not found and
    // nobody is offered anything.
    let mut admin = app.client_as(ORG_B, &[Role::ProviderAdmin]);
    assert_eq!(
        nf(admin
            .open_slots(pb::OpenSlotsRequest {
                provider_id: p.clone(),
                slots: 1,
                ..Default::default()
            })
            .await),
        Code::NotFound
    );
    let unknown = pb::OpenSlotsRequest { provider_id: id(), slots: 1, ..Default::default() };
    assert_eq!(nf(admin.open_slots(unknown).await), Code::NotFound);
    assert_eq!(status_of(&app.get(&e.id).await), pb::EntryStatus::Waiting);
    let mut owner = app.client_as(ORG_A, &[Role::ProviderAdmin]);
    let offers = owner
        .open_slots(pb::OpenSlotsRequest { provider_id: p.clone(), slots: 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .offers;
    assert_eq!(offers.len(), 1);
    for accept in [true, false] {
        let answer = pb::RespondToOfferRequest {
            offer_id: offers[0].id.clone(),
            answer: Some(if accept {
                pb::respond_to_offer_request::Answer::Accept(pb::respond_to_offer_request::Accept {
                    appointment_at: None,
                })
            } else {
                pb::respond_to_offer_request::Answer::Decline(
                    pb::respond_to_offer_request::Decline {},
                )
            }),
        };
        assert_eq!(nf(b.respond_to_offer(answer).await), Code::NotFound);
    }
    // Nothing changed; the owner still reads it and may answer.
    let mut a = app.client_as(ORG_A, &[Role::Coordinator]);
    let own = a
        .get_entry(pb::GetEntryRequest { entry_id: e.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(status_of(&own), pb::EntryStatus::Offered);
    assert!(app.referral.calls().is_empty());
    let answer = pb::RespondToOfferRequest {
        offer_id: offers[0].id.clone(),
        answer: Some(pb::respond_to_offer_request::Answer::Decline(
            pb::respond_to_offer_request::Decline {},
        )),
    };
    a.respond_to_offer(answer).await.unwrap();
}

#[tokio::test]
async fn no_token_is_unauthenticated_and_a_role_outside_the_policy_is_denied() {
    let app = spawn_app().await;
    let err =
        app.anonymous_client().list_waitlist(pb::ListWaitlistRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let err = app
        .client_as(ORG_A, &[Role::Ops])
        .list_waitlist(pb::ListWaitlistRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app
        .client_as(ORG_A, &[Role::Clinician])
        .enqueue(enqueue_request(pb::Band::Soon, &[&id()]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}
