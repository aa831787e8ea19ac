//! Two waitlist replicas on one database (and one Redis when configured): concurrent slot openings and
//! sweeps never give an entry two offers or offer a slot twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use chrono::TimeDelta;
use continuum_proto::waitlist::v1 as pb;

use crate::helpers::*;

/// Asserts that every entry holds at most one pending offer and returns how many pending offers exist.
async fn pending_offers(app: &mut TestApp, entry_ids: &[String]) -> usize {
    let mut total = 0;
    for id in entry_ids {
        let e = app.get(id).await;
        let pending =
            e.offers.iter().filter(|o| offer_status(o) == pb::OfferStatus::Pending).count();
        assert!(pending <= 1, "entry {id} holds {pending} offers");
        assert_eq!(
            pending == 1,
            status_of(&e) == pb::EntryStatus::Offered,
            "entry {id}: status and offers disagree"
        );
        total += pending;
    }
    total
}

#[tokio::test]
async fn concurrent_open_slots_on_two_replicas_never_double_offer() {
    let (mut a, mut b) = spawn_replicas().await;
    let p = a.provider().await;
    let mut entries = Vec::new();
    for _ in 0..6 {
        entries.push(a.enqueue(pb::Band::Routine, &[&p]).await.id);
        a.advance(TimeDelta::minutes(10));
    }

    // 4 + 4 slots opened at once on the two replicas, 6 eligible entries: exactly 6 offers.
    let (mut ca, mut cb) = (a.client.clone(), b.client.clone());
    let (ra, rb) = tokio::join!(
        ca.open_slots(pb::OpenSlotsRequest {
            provider_id: p.clone(),
            slots: 4,
            ..Default::default()
        }),
        cb.open_slots(pb::OpenSlotsRequest {
            provider_id: p.clone(),
            slots: 4,
            ..Default::default()
        }),
    );
    let offers: Vec<pb::Offer> = ra
        .unwrap()
        .into_inner()
        .offers
        .into_iter()
        .chain(rb.unwrap().into_inner().offers)
        .collect();
    assert_eq!(offers.len(), 6);
    let offered: HashSet<_> = offers.iter().map(|o| o.entry_id.clone()).collect();
    assert_eq!(offered.len(), 6, "no entry got two offers");
    assert_eq!(pending_offers(&mut b, &entries).await, 6);

    // Many single slots at once across both replicas, fewer entries than slots: min(slots, entries).
    let q = a.provider().await;
    let mut q_entries = Vec::new();
    for _ in 0..5 {
        q_entries.push(b.enqueue(pb::Band::Soon, &[&q]).await.id);
        b.advance(TimeDelta::minutes(1));
    }
    let mut tasks = Vec::new();
    for i in 0..12 {
        let mut c = if i % 2 == 0 { a.client.clone() } else { b.client.clone() };
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            c.open_slots(pb::OpenSlotsRequest { provider_id: q, slots: 1, ..Default::default() })
                .await
        }));
    }
    let mut made = Vec::new();
    for t in tasks {
        made.extend(t.await.unwrap().unwrap().into_inner().offers);
    }
    assert_eq!(made.len(), 5);
    assert_eq!(made.iter().map(|o| o.entry_id.clone()).collect::<HashSet<_>>().len(), 5);
    assert_eq!(pending_offers(&mut a, &q_entries).await, 5);
}

#[tokio::test]
async fn the_database_alone_prevents_double_offers_without_the_cache_lock() {
    // The stores of both replicas, called directly: no open-slots lock, only the conditional updates.
    let (mut a, b) = spawn_replicas().await;
    let p = a.provider().await;
    let mut entries = Vec::new();
    for _ in 0..7 {
        entries.push(a.enqueue(pb::Band::Urgent, &[&p]).await.id);
        a.advance(TimeDelta::minutes(3));
    }
    let now = a.clock_now();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { a.store.clone() } else { b.store.clone() };
        let p = p.clone();
        tasks.push(tokio::spawn(async move { store.open_slots(&p, 2, now).await }));
    }
    let mut made = Vec::new();
    for t in tasks {
        made.extend(t.await.unwrap().unwrap());
    }
    assert_eq!(made.len(), 7, "12 slots, 7 eligible entries");
    assert_eq!(made.iter().map(|o| o.entry_id.clone()).collect::<HashSet<_>>().len(), 7);
    assert_eq!(pending_offers(&mut a, &entries).await, 7);
}

#[tokio::test]
async fn sweeps_on_two_replicas_expire_each_offer_once() {
    let (mut a, mut b) = spawn_replicas().await;
    let p = a.provider().await;
    let mut entries = Vec::new();
    for _ in 0..5 {
        entries.push(a.enqueue(pb::Band::Soon, &[&p]).await.id);
        a.advance(TimeDelta::minutes(5));
    }
    let offers = a.open(&p, 3).await;
    assert_eq!(offers.len(), 3);
    a.advance(TimeDelta::hours(49));

    let now = a.clock_now();
    let (sa, sb) = tokio::join!(a.sweeper.sweep_expired(now), b.sweeper.sweep_expired(now));
    let freed: Vec<_> = sa.unwrap().into_iter().chain(sb.unwrap()).collect();
    assert_eq!(freed.len(), 3, "each expired offer is handled by exactly one sweep");
    let next: Vec<_> = freed.iter().filter_map(|f| f.next_offer.clone()).collect();
    // Two entries were waiting; the third freed slot goes to an entry whose offer just expired elsewhere.
    assert_eq!(next.len(), 3);
    for (f, n) in freed.iter().zip(&next) {
        assert_ne!(f.offer.entry_id, n.entry_id, "never back to the entry whose offer expired");
    }
    assert_eq!(pending_offers(&mut b, &entries).await, 3);
}
