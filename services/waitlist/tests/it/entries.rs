//! Enqueue, the crisis interlock, validation, priority order, listing, wait estimates and removal over
//! real gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::TimeDelta;
use continuum_errors::{bad_fields_of, reason_of};
use continuum_proto::common::v1 as common;
use continuum_proto::waitlist::v1 as pb;
use continuum_vocab::time;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn enqueue_creates_a_waiting_entry_and_replays_on_the_same_key() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let req = enqueue_request(pb::Band::Soon, &[&p]);
    let first = app.client.enqueue(req.clone()).await.unwrap().into_inner();
    assert!(!first.replayed);
    let entry = first.entry.unwrap();
    assert_eq!(status_of(&entry), pb::EntryStatus::Waiting);
    assert_eq!(entry.band, pb::Band::Soon as i32);
    assert_eq!(entry.candidate_provider_ids, vec![p.clone()]);
    assert_eq!(entry.version, 1);
    assert_eq!(entry.next_check_in_at, Some(time::to_proto(start() + TimeDelta::days(14))));
    assert_eq!(entry.enqueued_at, Some(time::to_proto(start())));

    app.advance(TimeDelta::hours(1));
    let again = app.client.enqueue(req.clone()).await.unwrap().into_inner();
    assert!(again.replayed);
    assert_eq!(again.entry.unwrap().id, entry.id);
    let listed = app.list(pb::ListWaitlistRequest::default()).await;
    assert_eq!(listed.entries.len(), 1, "a replay stores nothing new");

    // The same key for another client is refused, never answered with someone else's entry.
    let mut other = req;
    other.client_id = id();
    own(ORG_A, &other.client_id, &other.intake_id);
    let err = app.client.enqueue(other).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("IDEMPOTENCY_KEY_REUSED"));
}

#[tokio::test]
async fn an_entry_stored_under_an_unscoped_key_is_replayed_after_the_key_migration() {
    use continuum_db::sea_orm::ConnectionTrait;
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let req = enqueue_request(pb::Band::Soon, &[&p]);
    let first = app.client.enqueue(req.clone()).await.unwrap().into_inner().entry.unwrap();
    // As an entry written before keys were scoped stored it: the caller's key as it came.
    let db = app.store.connection().clone();
    db.execute_unprepared(&format!(
        "UPDATE waitlist_entries SET idempotency_key = '{}' WHERE id = '{}'",
        req.idempotency_key, first.id
    ))
    .await
    .unwrap();
    db.execute_unprepared(waitlist::store::migration_scoped_keys::SCOPE_KEYS).await.unwrap();
    // A second run changes nothing (the key is scoped once).
    db.execute_unprepared(waitlist::store::migration_scoped_keys::SCOPE_KEYS).await.unwrap();
    let stored = db
        .query_one_raw(continuum_db::sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT idempotency_key FROM waitlist_entries WHERE id = '{}'", first.id),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "idempotency_key")
        .unwrap();
    assert_eq!(stored, format!("{}:{}", req.organization_id, req.idempotency_key));

    // The insert of the replay meets the unique key and answers with the stored entry.
    let again = app.client.enqueue(req).await.unwrap().into_inner();
    assert!(again.replayed);
    let again = again.entry.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(app.list(pb::ListWaitlistRequest::default()).await.entries.len(), 1);
}

#[tokio::test]
async fn high_risk_clients_are_never_waitlisted() {
    let mut app = spawn_app().await;
    for risk in [common::RiskLevel::High, common::RiskLevel::Imminent] {
        let mut req = enqueue_request(pb::Band::Urgent, &[&id()]);
        req.risk_level = risk as i32;
        let err = app.client.enqueue(req).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert_eq!(
            reason_of(&err).map(continuum_errors::reason_code),
            Some("HIGH_RISK_NOT_WAITLISTED")
        );
    }
    assert!(app.list(pb::ListWaitlistRequest::default()).await.entries.is_empty());
    // Moderate risk waits (in the band the caller chose).
    let mut req = enqueue_request(pb::Band::Urgent, &[&id()]);
    req.risk_level = common::RiskLevel::Moderate as i32;
    app.client.enqueue(req).await.unwrap();
}

#[tokio::test]
async fn invalid_enqueue_names_every_bad_field() {
    let mut app = spawn_app().await;
    let good = id();
    let req = pb::EnqueueRequest {
        idempotency_key: String::new(),
        client_id: "client-7".into(),
        intake_id: String::new(),
        organization_id: "nope".into(),
        band: 0,
        risk_level: 99,
        candidate_provider_ids: vec!["not-a-uuid".into(), good.clone(), good],
        level_of_care: 42,
        age_group: 0,
        bridge_needs: Some(pb::BridgeNeeds {
            jurisdiction: "California".into(),
            language: String::new(),
            payment_option: 0,
            formats: vec![1, 77],
        }),
    };
    let err = app.client.enqueue(req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = bad_fields_of(&err);
    fields.sort();
    let mut expected = vec![
        "idempotency_key",
        "client_id",
        "intake_id",
        "organization_id",
        "band",
        "risk_level",
        "level_of_care",
        "candidate_provider_ids[0]",
        "candidate_provider_ids[2]",
        "bridge_needs.jurisdiction",
        "bridge_needs.language",
        "bridge_needs.payment_option",
        "bridge_needs.formats[1]",
    ];
    expected.sort();
    assert_eq!(fields, expected);

    let mut none = enqueue_request(pb::Band::Routine, &[]);
    none.idempotency_key = "k".repeat(129);
    let err = app.client.enqueue(none).await.unwrap_err();
    let fields = bad_fields_of(&err);
    assert_eq!(fields, vec!["idempotency_key".to_string(), "candidate_provider_ids".to_string()]);

    for (req, field) in [
        (pb::ListWaitlistRequest { page_token: "abc".into(), ..Default::default() }, "page_token"),
        (pb::ListWaitlistRequest { page_size: 201, ..Default::default() }, "page_size"),
        (pb::ListWaitlistRequest { page_size: -1, ..Default::default() }, "page_size"),
        (
            pb::ListWaitlistRequest { provider_id: "x".into(), band: 9, ..Default::default() },
            "band",
        ),
    ] {
        let err = app.client.list_waitlist(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(bad_fields_of(&err).iter().any(|f| f == field), "{field} missing");
    }
    let err = app.client.get_entry(pb::GetEntryRequest { entry_id: "7".into() }).await.unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["entry_id".to_string()]);
    let err = app.client.get_entry(pb::GetEntryRequest { entry_id: id() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = app
        .client
        .open_slots(pb::OpenSlotsRequest {
            provider_id: String::new(),
            slots: 1001,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["provider_id".to_string(), "slots".to_string()]);
    let err = app
        .client
        .open_slots(pb::OpenSlotsRequest { provider_id: id(), slots: 0, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["slots".to_string()]);
}

#[tokio::test]
async fn the_list_is_in_fair_aging_order_across_bands_and_ages() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let q = app.provider().await;
    // Routine at day 0, soon at day 2, urgent at day 5: at day 6 each has waited 1/7 of its band's maximum
    // (6/42, 4/28, 1/7), so the band decides: urgent, soon, routine.
    let routine = app.enqueue(pb::Band::Routine, &[&p]).await;
    app.advance(TimeDelta::days(2));
    let soon = app.enqueue(pb::Band::Soon, &[&p, &q]).await;
    app.advance(TimeDelta::days(3));
    let urgent = app.enqueue(pb::Band::Urgent, &[&q]).await;
    app.advance(TimeDelta::days(1));
    let all = app.list(pb::ListWaitlistRequest::default()).await;
    assert_eq!(ids_of(&all.entries), vec![urgent.id.clone(), soon.id.clone(), routine.id.clone()]);
    assert!((all.entries[0].wait_fraction - 1.0 / 7.0).abs() < 1e-9);

    // Two days later the urgent entry has waited 3/7, the routine 8/42 and the soon 6/28.
    app.advance(TimeDelta::days(2));
    let later = app.enqueue(pb::Band::Urgent, &[&p]).await;
    let all = app.list(pb::ListWaitlistRequest::default()).await;
    assert_eq!(
        ids_of(&all.entries),
        vec![urgent.id.clone(), soon.id.clone(), routine.id.clone(), later.id.clone()]
    );

    // Filters: by provider, band and organization.
    let for_p =
        app.list(pb::ListWaitlistRequest { provider_id: p.clone(), ..Default::default() }).await;
    assert_eq!(ids_of(&for_p.entries), vec![soon.id.clone(), routine.id.clone(), later.id.clone()]);
    let urgent_only = app
        .list(pb::ListWaitlistRequest { band: pb::Band::Urgent as i32, ..Default::default() })
        .await;
    assert_eq!(ids_of(&urgent_only.entries), vec![urgent.id.clone(), later.id.clone()]);
    // Another organization's list is not the caller's to read, for a peer service as for a person.
    let err = app
        .client
        .list_waitlist(pb::ListWaitlistRequest {
            organization_id: ORG_B.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Pages of two.
    let first = app.list(pb::ListWaitlistRequest { page_size: 2, ..Default::default() }).await;
    assert_eq!(ids_of(&first.entries), vec![urgent.id.clone(), soon.id.clone()]);
    assert!(!first.next_page_token.is_empty());
    let second = app
        .list(pb::ListWaitlistRequest {
            page_size: 2,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await;
    assert_eq!(ids_of(&second.entries), vec![routine.id, later.id]);
    assert!(second.next_page_token.is_empty());
}

#[tokio::test]
async fn estimate_counts_who_is_ahead_and_uses_recent_placements() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let q = app.provider().await;
    let r = app.provider().await;
    let first = app.enqueue(pb::Band::Routine, &[&p]).await;
    // Ahead of everyone but waiting for another provider: never counted.
    let _unrelated = app.enqueue(pb::Band::Urgent, &[&r]).await;
    app.advance(TimeDelta::days(1));
    let _elsewhere = app.enqueue(pb::Band::Routine, &[&q]).await;
    app.advance(TimeDelta::days(1));
    let me = app.enqueue(pb::Band::Routine, &[&p, &q]).await;
    app.advance(TimeDelta::days(2));

    // No placements yet: low 0, high = days left in the routine band (42 - 2).
    let est = app
        .client
        .estimate_wait(pb::EstimateWaitRequest { entry_id: me.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((est.position, est.low_days, est.high_days), (2, 0, 40));
    assert!(est.basis.contains("no placements"), "{}", est.basis);

    // Two placements at p: the first entry and a newcomer are placed.
    let offers = app.open(&p, 1).await;
    assert_eq!(offers[0].entry_id, first.id);
    app.respond(&offers[0].id, true).await.unwrap();
    let est = app
        .client
        .estimate_wait(pb::EstimateWaitRequest { entry_id: me.id.clone() })
        .await
        .unwrap()
        .into_inner();
    // One ahead now (the entry waiting for q); one placement in 90 days: rate 1/90 a day.
    let rate: f64 = 1.0 / 90.0;
    assert_eq!(est.position, 1);
    assert_eq!(est.low_days, (1.0 / (rate * 1.5)).floor() as i32);
    assert_eq!(est.high_days, (2.0 / (rate * 0.5)).ceil() as i32);
    assert!(est.basis.contains("1 placements"), "{}", est.basis);

    let err =
        app.client.estimate_wait(pb::EstimateWaitRequest { entry_id: first.id }).await.unwrap_err();
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("ENTRY_NOT_WAITING"));
}

#[tokio::test]
async fn remove_keeps_a_reason_and_passes_a_held_slot_on() {
    let mut app = spawn_app().await;
    let p = app.provider().await;
    let a = app.enqueue(pb::Band::Soon, &[&p]).await;
    app.advance(TimeDelta::hours(1));
    let b = app.enqueue(pb::Band::Soon, &[&p]).await;
    let offer = app.open(&p, 1).await.remove(0);
    assert_eq!(offer.entry_id, a.id);

    let err = app
        .client
        .remove_entry(pb::RemoveEntryRequest {
            entry_id: a.id.clone(),
            reason: "  ".into(),
            expected_version: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields_of(&err), vec!["reason".to_string()]);

    // The version precondition: a stale one changes nothing, the current one removes.
    let version = app.get(&a.id).await.version;
    let stale = app
        .client
        .remove_entry(pb::RemoveEntryRequest {
            entry_id: a.id.clone(),
            reason: "moved out of area".into(),
            expected_version: Some(version + 1),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(reason_of(&stale).map(continuum_errors::reason_code), Some("VERSION_MISMATCH"));
    assert_eq!(status_of(&app.get(&a.id).await), pb::EntryStatus::Offered);
    let removed = app
        .client
        .remove_entry(pb::RemoveEntryRequest {
            entry_id: a.id.clone(),
            reason: "moved out of area".into(),
            expected_version: Some(version),
        })
        .await
        .unwrap()
        .into_inner()
        .entry
        .unwrap();
    assert_eq!(status_of(&removed), pb::EntryStatus::Removed);
    assert_eq!(removed.removal_reason, "moved out of area");
    // Its pending offer is withdrawn (recorded as DECLINED) and the slot went to the next in line.
    assert_eq!(offer_status(&removed.offers[0]), pb::OfferStatus::Declined);
    let b = app.get(&b.id).await;
    assert_eq!(status_of(&b), pb::EntryStatus::Offered);
    assert_eq!(b.offers[0].provider_id, p);
    assert!(app.holds.holder(&offer.id).await.unwrap().is_none());

    let again = app
        .client
        .remove_entry(pb::RemoveEntryRequest {
            entry_id: a.id.clone(),
            reason: "twice".into(),
            expected_version: None,
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&again).map(continuum_errors::reason_code), Some("ENTRY_NOT_WAITING"));
    let listed = app.list(pb::ListWaitlistRequest::default()).await;
    assert_eq!(ids_of(&listed.entries), vec![b.id]);
    let missing = app
        .client
        .remove_entry(pb::RemoveEntryRequest {
            entry_id: id(),
            reason: "x".into(),
            expected_version: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}
