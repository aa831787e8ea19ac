//! Capacity rising in matching makes waitlist offers without anyone calling OpenSlots: matching writes a
//! capacity event with the change, its worker delivers it (`OpenSlots` with the event id), the waitlist
//! takes each offered slot in matching first (so Recommend and new intakes no longer see it), passes it
//! on after a decline with the same hold key, gives it back when nobody is left, and an accepted offer
//! creates the referral without taking capacity again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_proto::matching::v1 as mpb;
use continuum_proto::waitlist::v1 as pb;
use continuum_runtime::Shutdown;

use crate::helpers::*;

/// The event worker of the test's matching service, delivering to this app's waitlist (the running
/// matching service has no waitlist address, so only this relay delivers, when the test says so).
async fn relay(app: &TestApp) -> matching::workers::capacity_events::Relay {
    let peer = app.matching.as_ref().expect("matching started");
    let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
        "matching",
        &peer.backing.common().db(),
    )
    .await
    .unwrap();
    let mut common = peer.backing.common();
    common.auth = app.backing.common().auth;
    matching::workers::capacity_events::Relay::new(
        matching::store::Store::new(db),
        Some(&app.addr.to_string()),
        &common,
        Duration::from_secs(3600),
    )
    .unwrap()
}

async fn open_slots(app: &TestApp, provider_id: &str) -> i32 {
    let mut m = app.matching_client(ORG_A);
    m.get_provider(mpb::GetProviderRequest { provider_id: provider_id.into() })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap()
        .open_slots
}

async fn give_back(app: &TestApp, provider_id: &str, key: &str) {
    let mut m = app.matching_client(ORG_A);
    m.update_capacity(mpb::UpdateCapacityRequest {
        provider_id: provider_id.into(),
        change: Some(mpb::update_capacity_request::Change::Delta(1)),
        hold_key: key.into(),
        ..Default::default()
    })
    .await
    .unwrap();
}

async fn pending_offer(app: &mut TestApp, entry_id: &str) -> Option<pb::Offer> {
    app.get(entry_id).await.offers.into_iter().find(|o| o.status == pb::OfferStatus::Pending as i32)
}

/// Waits (bounded) until matching shows `want` open slots for the provider.
async fn until_open(app: &TestApp, provider_id: &str, want: i32) {
    for _ in 0..100 {
        if open_slots(app, provider_id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("matching never showed {want} open slot(s)");
}

#[tokio::test]
async fn a_slot_given_back_in_matching_is_offered_held_and_given_back_when_declined() {
    let mut app = spawn_app().await;
    let relay = relay(&app).await;
    let stop = Shutdown::new();
    let pid = app.provider().await;
    let entry = app.enqueue(pb::Band::Routine, &[&pid]).await;

    // A referral elsewhere gave its slot back: matching's count rises and the worker tells the waitlist.
    give_back(&app, &pid, "referral-release:r1").await;
    assert_eq!(relay.deliver_due(&stop).await, 1);
    let offer = pending_offer(&mut app, &entry.id)
        .await
        .expect("an offer without anyone calling OpenSlots");
    // The offered slot is taken in matching: Recommend and new intakes do not see it.
    assert_eq!(open_slots(&app, &pid).await, 0);
    assert_eq!(relay.deliver_due(&stop).await, 0, "the taken slot opens nothing");

    // Declined with nobody else waiting: the slot goes back to matching, and the event that makes there
    // finds nobody eligible (the decliner is not offered the same provider again at once): no loop.
    app.respond(&offer.id, false).await.unwrap();
    until_open(&app, &pid, 1).await;
    assert_eq!(relay.deliver_due(&stop).await, 1);
    assert!(pending_offer(&mut app, &entry.id).await.is_none());
    assert_eq!(open_slots(&app, &pid).await, 1);
}

#[tokio::test]
async fn a_declined_event_slot_passes_on_with_its_key_and_an_accept_does_not_take_capacity_again() {
    let mut app = spawn_app().await;
    let relay = relay(&app).await;
    let stop = Shutdown::new();
    let pid = app.provider().await;
    let first = app.enqueue(pb::Band::Urgent, &[&pid]).await;
    let second = app.enqueue(pb::Band::Routine, &[&pid]).await;

    give_back(&app, &pid, "referral-release:r2").await;
    assert_eq!(relay.deliver_due(&stop).await, 1);
    let offer = pending_offer(&mut app, &first.id).await.expect("the urgent entry gets the slot");
    assert!(pending_offer(&mut app, &second.id).await.is_none());
    assert_eq!(open_slots(&app, &pid).await, 0);

    // Declined: the slot passes to the next in line at once, still held in matching.
    let declined = app.respond(&offer.id, false).await.unwrap();
    let next = declined.next_offer.expect("next in line");
    assert_eq!(next.entry_id, second.id);
    assert_eq!(open_slots(&app, &pid).await, 0);

    // Accepted: the referral is told the slot is already taken in matching under the event's key.
    app.respond(&next.id, true).await.unwrap();
    let calls = app.referral.calls();
    let call = calls.last().expect("a referral was created");
    assert!(
        call.capacity_hold_key.starts_with("waitlist-slot:"),
        "hold key {:?}",
        call.capacity_hold_key
    );
    assert_eq!(open_slots(&app, &pid).await, 0);
}

#[tokio::test]
async fn an_event_makes_its_offers_once() {
    let mut app = spawn_app().await;
    let pid = app.provider().await;
    let a = app.enqueue(pb::Band::Routine, &[&pid]).await;
    let b = app.enqueue(pb::Band::Routine, &[&pid]).await;
    give_back(&app, &pid, "referral-release:r3").await;
    give_back(&app, &pid, "referral-release:r4").await;
    let event = id();
    let req = pb::OpenSlotsRequest { provider_id: pid.clone(), slots: 2, event_id: event.clone() };
    let first = app.client.open_slots(req.clone()).await.unwrap().into_inner().offers;
    assert_eq!(first.len(), 2);
    let again = app.client.open_slots(req).await.unwrap().into_inner().offers;
    assert!(again.is_empty());
    assert!(
        pending_offer(&mut app, &a.id).await.is_some()
            && pending_offer(&mut app, &b.id).await.is_some()
    );
    assert_eq!(open_slots(&app, &pid).await, 0);
    // A bad event id is named.
    let err = app
        .client
        .open_slots(pb::OpenSlotsRequest { provider_id: pid, slots: 1, event_id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn two_replicas_handling_one_event_make_its_offers_once() {
    let mut app = spawn_app().await;
    let pid = id();
    let mut entries = Vec::new();
    for _ in 0..3 {
        entries.push(app.enqueue(pb::Band::Routine, &[&pid]).await.id);
    }
    // A second replica's store over the same database.
    let db = continuum_db::connect_and_migrate::<waitlist::store::Migrator>(
        "waitlist",
        &app.backing.common().db(),
    )
    .await
    .unwrap();
    let other = waitlist::store::Store::new(db, *app.store.policy());
    let event = id();
    let keys: Vec<String> =
        (0..2).map(|n| waitlist::peers::matching::slot_key(&event, n)).collect();
    let now = app.clock_now();
    let (a, b) = tokio::join!(
        app.store.open_event_slots(ORG_A, &pid, &event, &keys, now),
        other.open_event_slots(ORG_A, &pid, &event, &keys, now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_some() != b.is_some(), "exactly one replica handles the event");
    let offers = a.or(b).unwrap();
    assert_eq!(offers.len(), 2);
    let mut slot_keys: Vec<_> = offers.iter().map(|o| o.slot_key.clone().unwrap()).collect();
    slot_keys.sort();
    assert_eq!(slot_keys, keys, "each slot offered once");
    let mut pending = 0;
    for e in &entries {
        pending += usize::from(pending_offer(&mut app, e).await.is_some());
    }
    assert_eq!(pending, 2);
}

#[tokio::test]
async fn only_a_service_may_send_a_capacity_event() {
    let app = spawn_app().await;
    let mut coordinator = app.client_as(ORG_A, &[continuum_auth::Role::Coordinator]);
    let err = coordinator
        .open_slots(pb::OpenSlotsRequest { provider_id: id(), slots: 1, event_id: id() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
}

#[tokio::test]
async fn several_slots_of_one_event_go_through_the_batch_assigner() {
    use chrono::TimeDelta;
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let q = id();
    // As for a coordinator's OpenSlots: p is `older`'s second choice but the first choice of the two newer
    // entries, all in the same band; taking "the first two in line" would pass over a first choice.
    let older = app.enqueue(pb::Band::Routine, &[&q, &p]).await;
    app.advance(TimeDelta::days(1));
    let first = app.enqueue(pb::Band::Routine, &[&p]).await;
    app.advance(TimeDelta::days(1));
    let also_first = app.enqueue(pb::Band::Routine, &[&p]).await;
    app.advance(TimeDelta::hours(1));
    give_back(&app, &p, "referral-release:b1").await;
    give_back(&app, &p, "referral-release:b2").await;

    let req = pb::OpenSlotsRequest { provider_id: p.clone(), slots: 2, event_id: id() };
    let offers = app.client.open_slots(req).await.unwrap().into_inner().offers;
    let mut offered: Vec<_> = offers.iter().map(|o| o.entry_id.clone()).collect();
    offered.sort();
    let mut expected = vec![first.id.clone(), also_first.id.clone()];
    expected.sort();
    assert_eq!(offered, expected, "the batch gives p's slots to those who want p most");
    assert!(pending_offer(&mut app, &older.id).await.is_none());
    assert_eq!(open_slots(&app, &p).await, 0, "both slots held in matching");
}
