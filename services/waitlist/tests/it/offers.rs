//! Slot offers: who gets them, decline and expiry passing the slot on, acceptance creating a referral
//! through the referral peer (a test double), and a peer that is down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use continuum_errors::reason_of;
use continuum_proto::common::v1 as common;
use continuum_proto::waitlist::v1 as pb;
use continuum_vocab::time;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn open_slots_offers_the_best_eligible_entries_only() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let q = app.provider().await;
    // Oldest first: `only_q` waited longest but does not wait for p. Everyone else wants p first, so the
    // batch of two follows the fair-aging order.
    let only_q = app.enqueue(pb::Band::Routine, &[&q]).await;
    app.advance(TimeDelta::days(1));
    let best = app.enqueue(pb::Band::Routine, &[&p, &q]).await;
    app.advance(TimeDelta::days(1));
    let second = app.enqueue(pb::Band::Routine, &[&p]).await;
    app.advance(TimeDelta::days(1));
    let third = app.enqueue(pb::Band::Routine, &[&p]).await;
    app.advance(TimeDelta::hours(1));

    let offers = app.open(&p, 2).await;
    let offered: Vec<_> = offers.iter().map(|o| o.entry_id.clone()).collect();
    assert_eq!(offered, vec![best.id.clone(), second.id.clone()]);
    for o in &offers {
        assert_eq!(offer_status(o), pb::OfferStatus::Pending);
        assert_eq!(o.provider_id, p);
        assert_eq!(o.expires_at, Some(time::to_proto(app.clock_now() + TimeDelta::hours(48))));
        // The hold is recorded in the cache too (the database stays the source of truth).
        assert_eq!(app.holds.holder(&o.id).await.unwrap().as_deref(), Some(o.entry_id.as_str()));
    }
    assert_eq!(status_of(&app.get(&best.id).await), pb::EntryStatus::Offered);
    assert_eq!(status_of(&app.get(&only_q.id).await), pb::EntryStatus::Waiting);
    assert_eq!(status_of(&app.get(&third.id).await), pb::EntryStatus::Waiting);

    // More slots than waiting entries: only the one still waiting gets an offer; nobody gets a second.
    let more = app.open(&p, 5).await;
    assert_eq!(more.iter().map(|o| o.entry_id.clone()).collect::<Vec<_>>(), vec![third.id.clone()]);
    assert!(app.open(&p, 5).await.is_empty());
    let listed = app.list(pb::ListWaitlistRequest::default()).await;
    assert_eq!(listed.entries.len(), 4, "offered entries stay on the list");
}

#[tokio::test]
async fn several_slots_at_once_weigh_each_clients_preference_with_the_batch_assigner() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let q = app.provider().await;
    // Same priority band of fair aging (a few days of a 42-day wait): p is `older`'s second choice but the
    // first choice of the two newer entries. Greedy "first two" would offer to `older` and `first`.
    let older = app.enqueue(pb::Band::Routine, &[&q, &p]).await;
    app.advance(TimeDelta::days(1));
    let first = app.enqueue(pb::Band::Routine, &[&p]).await;
    app.advance(TimeDelta::days(1));
    let also_first = app.enqueue(pb::Band::Routine, &[&p]).await;
    app.advance(TimeDelta::hours(1));

    let offers = app.open(&p, 2).await;
    let mut offered: Vec<_> = offers.iter().map(|o| o.entry_id.clone()).collect();
    offered.sort();
    let mut expected = vec![first.id.clone(), also_first.id.clone()];
    expected.sort();
    assert_eq!(offered, expected, "the batch gives p's slots to those who want p most");
    assert_eq!(status_of(&app.get(&older.id).await), pb::EntryStatus::Waiting);

    // One slot keeps the fair-aging order: `older` is next for p whatever its preference.
    let one = app.open(&p, 1).await;
    assert_eq!(one.iter().map(|o| o.entry_id.clone()).collect::<Vec<_>>(), vec![older.id.clone()]);
    // Nobody holds two offers.
    for e in [&older, &first, &also_first] {
        let pending = app
            .get(&e.id)
            .await
            .offers
            .iter()
            .filter(|o| offer_status(o) == pb::OfferStatus::Pending)
            .count();
        assert_eq!(pending, 1);
    }
}

#[tokio::test]
async fn a_declined_slot_goes_at_once_to_the_next_in_line() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let a = app.enqueue(pb::Band::Soon, &[&p]).await;
    app.advance(TimeDelta::days(1));
    let b = app.enqueue(pb::Band::Soon, &[&p]).await;
    app.advance(TimeDelta::days(1));
    let offer = app.open(&p, 1).await.remove(0);
    assert_eq!(offer.entry_id, a.id);

    app.advance(TimeDelta::hours(2));
    let r = app.respond(&offer.id, false).await.unwrap();
    assert_eq!(offer_status(r.offer.as_ref().unwrap()), pb::OfferStatus::Declined);
    let entry = r.entry.unwrap();
    assert_eq!(entry.id, a.id);
    assert_eq!(status_of(&entry), pb::EntryStatus::Waiting, "the one who declined waits again");
    let next = r.next_offer.expect("the slot moves on");
    assert_eq!(next.entry_id, b.id, "never back to the one who declined");
    assert_eq!(next.provider_id, p);
    assert_eq!(offer_status(&next), pb::OfferStatus::Pending);
    assert_eq!(status_of(&app.get(&b.id).await), pb::EntryStatus::Offered);
    assert!(app.holds.holder(&offer.id).await.unwrap().is_none());
    assert_eq!(app.holds.holder(&next.id).await.unwrap().as_deref(), Some(b.id.as_str()));

    // An answered offer cannot be answered again.
    let err = app.respond(&offer.id, true).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("OFFER_NOT_PENDING"));

    // b declines too; a is the only one left and gets the slot back.
    let r = app.respond(&next.id, false).await.unwrap();
    let back = r.next_offer.expect("a gets it");
    assert_eq!(back.entry_id, a.id);
    // GetEntry lists a's offers newest first.
    let a_now = app.get(&a.id).await;
    assert_eq!(
        a_now.offers.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
        vec![back.id.clone(), offer.id.clone()]
    );
    // Declining with nobody else waiting for the provider leaves the slot unoffered.
    let lone_provider = app.provider().await;
    let lone = app.enqueue(pb::Band::Routine, &[&lone_provider]).await;
    let lone_offer = app.open(&lone_provider, 1).await.remove(0);
    let r = app.respond(&lone_offer.id, false).await.unwrap();
    assert!(r.next_offer.is_none());
    assert_eq!(status_of(&app.get(&lone.id).await), pb::EntryStatus::Waiting);

    let missing = app.respond(&id(), false).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn an_expired_offer_goes_to_the_next_in_line_on_the_sweep() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let a = app.enqueue(pb::Band::Urgent, &[&p]).await;
    app.advance(TimeDelta::hours(1));
    let b = app.enqueue(pb::Band::Urgent, &[&p]).await;
    let offer = app.open(&p, 1).await.remove(0);
    assert_eq!(offer.entry_id, a.id);

    // Not yet expired: the sweep does nothing.
    app.advance(TimeDelta::hours(47));
    assert!(app.sweeper.sweep_expired(app.clock_now()).await.unwrap().is_empty());

    app.advance(TimeDelta::hours(1));
    // The hold has ended: the offer can no longer be answered, even before the sweep.
    let err = app.respond(&offer.id, true).await.unwrap_err();
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("OFFER_EXPIRED"));
    assert!(app.referral.calls().is_empty());

    let swept = app.sweeper.sweep_expired(app.clock_now()).await.unwrap();
    assert_eq!(swept.len(), 1);
    let next = swept[0].next_offer.clone().expect("the slot moves on");
    assert_eq!(next.entry_id, b.id);
    let a_now = app.get(&a.id).await;
    assert_eq!(status_of(&a_now), pb::EntryStatus::Waiting);
    assert_eq!(offer_status(&a_now.offers[0]), pb::OfferStatus::Expired);
    assert_eq!(status_of(&app.get(&b.id).await), pb::EntryStatus::Offered);
    // A second sweep finds nothing more; the answer to the expired offer still says so.
    assert!(app.sweeper.sweep_expired(app.clock_now()).await.unwrap().is_empty());
    let err = app.respond(&offer.id, false).await.unwrap_err();
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("OFFER_NOT_PENDING"));
}

#[tokio::test]
async fn accepting_creates_one_referral_and_places_the_entry() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let mut req = enqueue_request(pb::Band::Urgent, &[&p]);
    req.risk_level = common::RiskLevel::Moderate as i32;
    let entry = app.client.enqueue(req.clone()).await.unwrap().into_inner().entry.unwrap();
    app.advance(TimeDelta::days(2));
    let offer = app.open(&p, 1).await.remove(0);
    app.advance(TimeDelta::hours(3));

    let appointment = app.clock_now() + TimeDelta::days(3);
    let r = app
        .client
        .respond_to_offer(pb::RespondToOfferRequest {
            offer_id: offer.id.clone(),
            answer: Some(pb::respond_to_offer_request::Answer::Accept(
                pb::respond_to_offer_request::Accept {
                    appointment_at: Some(time::to_proto(appointment)),
                },
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let accepted = r.offer.unwrap();
    assert_eq!(offer_status(&accepted), pb::OfferStatus::Accepted);
    assert!(!accepted.referral_id.is_empty());
    let placed = r.entry.unwrap();
    assert_eq!(status_of(&placed), pb::EntryStatus::Placed);
    assert!(r.next_offer.is_none());

    let calls = app.referral.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.idempotency_key, format!("offer:{}", offer.id));
    assert_eq!(call.client_id, req.client_id);
    assert_eq!(call.intake_id, req.intake_id);
    assert_eq!(call.referrer_organization_id, ORG_A);
    assert_eq!(call.provider_id, p);
    assert_eq!(call.urgency, common::Urgency::Urgent as i32);
    assert!(call.allow_overbook);
    assert_eq!(call.scheduled_at, Some(time::to_proto(appointment)));

    // Answering again is refused and calls nobody.
    let err = app.respond(&offer.id, true).await.unwrap_err();
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("OFFER_NOT_PENDING"));
    assert_eq!(app.referral.calls().len(), 1);
    assert!(
        app.list(pb::ListWaitlistRequest::default()).await.entries.is_empty(),
        "placed entries leave the list"
    );
    assert_eq!(app.get(&entry.id).await.offers[0].referral_id, accepted.referral_id);
    assert!(app.holds.holder(&offer.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_referral_peer_that_is_down_changes_nothing_and_a_retry_succeeds() {
    let mut app = spawn_app_with(Options { referral_up: false, ..Options::default() }).await;
    let p = app.provider().await;
    let entry = app.enqueue(pb::Band::Soon, &[&p]).await;
    let offer = app.open(&p, 1).await.remove(0);

    let before = app.get(&entry.id).await;
    let err = app.respond(&offer.id, true).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let after = app.get(&entry.id).await;
    assert_eq!(after, before, "nothing changed");
    assert_eq!(status_of(&after), pb::EntryStatus::Offered);
    assert_eq!(offer_status(&after.offers[0]), pb::OfferStatus::Pending);
    assert!(after.offers[0].referral_id.is_empty());

    // The peer comes back; the client retries and the offer is accepted (defaulting the appointment).
    app.start_referral().await;
    let r = app.respond(&offer.id, true).await.unwrap();
    assert_eq!(status_of(r.entry.as_ref().unwrap()), pb::EntryStatus::Placed);
    let calls = app.referral.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].urgency, common::Urgency::Soon as i32);
    assert_eq!(calls[0].scheduled_at, Some(time::to_proto(app.clock_now() + TimeDelta::days(7))));
}

#[tokio::test]
async fn a_refused_referral_changes_nothing() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let entry = app.enqueue(pb::Band::Routine, &[&p]).await;
    let offer = app.open(&p, 1).await.remove(0);
    app.referral.refuse();
    let before = app.get(&entry.id).await;
    let err = app.respond(&offer.id, true).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("REFERRAL_REFUSED"));
    assert!(err.message().contains("PROVIDER_NOT_FOUND"));
    assert_eq!(app.get(&entry.id).await, before);
    // The client can still decline, and the slot is free for others.
    app.respond(&offer.id, false).await.unwrap();
}
