//! Program capacity as cohort seats over real gRPC: atomic takes of the last seat, give-backs to the
//! same cohort, hold-key idempotency, the upsert rule for seats, and the capacity events a rise writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_errors::reason_of;
use continuum_proto::matching::v1 as pb;
use tonic::Code;

use crate::helpers::*;

const DAY_S: i64 = 86_400;

fn ts(days_from_now: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + days_from_now * DAY_S,
        nanos: 0,
    }
}

fn cohort(code: &str, days_from_now: i64, seats: i32, open: i32) -> pb::Cohort {
    pb::Cohort { code: code.into(), start_date: Some(ts(days_from_now)), seats, open_seats: open }
}

/// An adult outpatient IOP of ORG_A with `cohorts`.
fn program(name: &str, cohorts: Vec<pb::Cohort>) -> pb::Provider {
    let mut p = clinician(name, 0);
    p.kind = pb::ProviderKind::Iop as i32;
    p.cohorts = cohorts;
    p
}

fn delta(provider_id: &str, d: i32, hold_key: &str) -> pb::UpdateCapacityRequest {
    pb::UpdateCapacityRequest {
        provider_id: provider_id.into(),
        change: Some(pb::update_capacity_request::Change::Delta(d)),
        hold_key: hold_key.into(),
        ..Default::default()
    }
}

async fn get(app: &mut TestApp, id: &str) -> pb::Provider {
    app.client
        .get_provider(pb::GetProviderRequest { provider_id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap()
}

fn open_of(p: &pb::Provider, code: &str) -> i32 {
    p.cohorts.iter().find(|c| c.code == code).unwrap().open_seats
}

#[tokio::test]
async fn concurrent_takes_of_the_last_cohort_seat_sell_it_once() {
    let mut app = spawn_app().await;
    // The past cohort (beyond the joining window) has seats but cannot be joined; "next" has the last
    // joinable seat; "full" has none.
    let p = create(
        &mut app,
        program(
            "Last seat IOP",
            vec![cohort("past", -30, 5, 5), cohort("next", 3, 10, 1), cohort("full", 20, 8, 0)],
        ),
    )
    .await;
    assert_eq!(p.open_slots, 1, "a program's capacity is its joinable cohorts' open seats");
    let before = app
        .client
        .recommend(pb::RecommendRequest { client: Some(adult_profile()), top_k: 5 })
        .await
        .unwrap()
        .into_inner();
    assert!(
        before.options.iter().any(|o| o.provider.as_ref().unwrap().id == p.id && o.has_capacity)
    );

    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut c = app.client.clone();
        let req = delta(&p.id, -1, &format!("take-{i}"));
        tasks.push(tokio::spawn(async move { c.update_capacity(req).await }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) => {
                assert_eq!(s.code(), Code::FailedPrecondition);
                assert_eq!(reason_of(&s).map(continuum_errors::reason_code), Some("NO_CAPACITY"));
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (1, 7));
    let after = get(&mut app, &p.id).await;
    assert_eq!(
        (open_of(&after, "past"), open_of(&after, "next"), open_of(&after, "full")),
        (5, 0, 0)
    );
    assert_eq!(after.open_slots, 0);
    // Recommend (the in-memory directory) sees the seat gone.
    let r = app
        .client
        .recommend(pb::RecommendRequest { client: Some(adult_profile()), top_k: 5 })
        .await
        .unwrap()
        .into_inner();
    let option = r.options.iter().find(|o| o.provider.as_ref().unwrap().id == p.id).unwrap();
    assert!(!option.has_capacity);
    assert_eq!(open_of(option.provider.as_ref().unwrap(), "next"), 0);

    // Overbooking is allowed only when asked for, and stops at 0.
    let mut crisis = delta(&p.id, -1, "crisis-1");
    crisis.allow_overbook = true;
    let resp = app.client.update_capacity(crisis).await.unwrap().into_inner();
    assert!(resp.applied);
    assert_eq!(open_of(resp.provider.as_ref().unwrap(), "next"), 0);
}

#[tokio::test]
async fn a_give_back_restores_the_cohort_its_take_used() {
    let mut app = spawn_app().await;
    let p =
        create(&mut app, program("Two cohorts", vec![cohort("a", 2, 1, 1), cohort("b", 9, 5, 5)]))
            .await;
    // The first take empties "a", the second comes from "b".
    app.client.update_capacity(delta(&p.id, -1, "t1")).await.unwrap();
    let second = app
        .client
        .update_capacity(delta(&p.id, -1, "t2"))
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!((open_of(&second, "a"), open_of(&second, "b")), (0, 4));
    // Giving back the second take refills "b", not the earliest cohort with a taken seat.
    let mut give = delta(&p.id, 1, "give-t2");
    give.gives_back_hold_key = "t2".into();
    let back = app.client.update_capacity(give.clone()).await.unwrap().into_inner();
    assert!(back.applied);
    let back = back.provider.unwrap();
    assert_eq!((open_of(&back, "a"), open_of(&back, "b")), (0, 5));
    assert_eq!(back.open_slots, 5);
    // The same give-back again changes nothing.
    let again = app.client.update_capacity(give).await.unwrap().into_inner();
    assert!(!again.applied);
    assert_eq!(open_of(again.provider.as_ref().unwrap(), "b"), 5);
    // A give-back without a known take goes to the earliest joinable cohort with a seat taken.
    let plain = app
        .client
        .update_capacity(delta(&p.id, 1, "give-t1"))
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!((open_of(&plain, "a"), open_of(&plain, "b")), (1, 5));
    // Nothing is taken any more: a further give-back is refused.
    let err = app.client.update_capacity(delta(&p.id, 1, "give-extra")).await.unwrap_err();
    assert_eq!(reason_of(&err).map(continuum_errors::reason_code), Some("CAPACITY_LIMIT"));
}

#[tokio::test]
async fn a_cohort_hold_key_applies_once_and_names_the_cohort() {
    let mut app = spawn_app().await;
    let p =
        create(&mut app, program("Keyed", vec![cohort("a", 2, 3, 3), cohort("b", 9, 5, 5)])).await;
    let mut req = delta(&p.id, -1, "referral:k1");
    req.cohort_code = "b".into();
    let first = app.client.update_capacity(req.clone()).await.unwrap().into_inner();
    let second = app.client.update_capacity(req).await.unwrap().into_inner();
    assert!(first.applied && !second.applied);
    let now = second.provider.unwrap();
    assert_eq!((open_of(&now, "a"), open_of(&now, "b")), (3, 4));
    // A cohort the program does not have, or a cohort for a clinician, is bad input naming the field.
    let mut bad = delta(&p.id, -1, "x");
    bad.cohort_code = "nope".into();
    let err = app.client.update_capacity(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("cohort_code")
            || format!("{:?}", err.details()).contains("cohort_code")
    );
    let c = create(&mut app, clinician("Solo", 1)).await;
    let mut bad = delta(&c.id, -1, "y");
    bad.cohort_code = "a".into();
    assert_eq!(app.client.update_capacity(bad).await.unwrap_err().code(), Code::InvalidArgument);
    // set_open_slots on a program needs the cohort, and stays within its seats.
    let set = |code: &str, n: i32| pb::UpdateCapacityRequest {
        provider_id: p.id.clone(),
        change: Some(pb::update_capacity_request::Change::SetOpenSlots(n)),
        cohort_code: code.into(),
        ..Default::default()
    };
    assert_eq!(
        app.client.update_capacity(set("", 1)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        app.client.update_capacity(set("a", 4)).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let set_a =
        app.client.update_capacity(set("a", 1)).await.unwrap().into_inner().provider.unwrap();
    assert_eq!(open_of(&set_a, "a"), 1);
}

#[tokio::test]
async fn an_upsert_moves_open_seats_by_the_change_in_seats() {
    let mut app = spawn_app().await;
    let p = create(&mut app, program("Reseated", vec![cohort("a", 2, 10, 3)])).await;
    app.client.update_capacity(delta(&p.id, -1, "t1")).await.unwrap();
    let cur = get(&mut app, &p.id).await;
    assert_eq!(open_of(&cur, "a"), 2);
    // The owner adds 2 seats and (stale) sends the open count it read before the take: the seat taken
    // stays taken, the 2 new seats are open, and a new cohort starts with the open seats given.
    let mut changed = cur.clone();
    changed.cohorts = vec![cohort("a", 2, 12, 3), cohort("new", 30, 6, 4)];
    let written = app
        .client
        .upsert_provider(pb::UpsertProviderRequest {
            provider: Some(changed.clone()),
            expected_version: cur.version,
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!((open_of(&written, "a"), open_of(&written, "new")), (4, 4));
    assert_eq!(written.open_slots, 8);
    // A take bumps the version, so an upsert built from an older read is refused, never applied.
    app.client.update_capacity(delta(&p.id, -1, "t2")).await.unwrap();
    let stale = app
        .client
        .upsert_provider(pb::UpsertProviderRequest {
            provider: Some(changed),
            expected_version: written.version,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    // Shrinking below the seats taken leaves none open; dropping a cohort removes it.
    let cur = get(&mut app, &p.id).await;
    let mut shrunk = cur.clone();
    shrunk.cohorts = vec![cohort("a", 2, 1, 1)];
    let written = app
        .client
        .upsert_provider(pb::UpsertProviderRequest {
            provider: Some(shrunk),
            expected_version: cur.version,
        })
        .await
        .unwrap()
        .into_inner()
        .provider
        .unwrap();
    assert_eq!(written.cohorts.len(), 1);
    assert_eq!(open_of(&written, "a"), 0);
}

#[tokio::test]
async fn every_rise_of_open_capacity_writes_one_capacity_event() {
    let mut app = spawn_app().await;
    let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
        "matching",
        &app.backing.common().db(),
    )
    .await
    .unwrap();
    let store = matching::store::Store::new(db);
    let c = create(&mut app, clinician("Events", 1)).await;
    let p = create(&mut app, program("Event IOP", vec![cohort("a", 2, 4, 1)])).await;
    assert_eq!(store.pending_events().await.unwrap(), 0, "creating a provider is not a rise");
    // Takes lower capacity: no event.
    app.client.update_capacity(delta(&c.id, -1, "t1")).await.unwrap();
    app.client.update_capacity(delta(&p.id, -1, "t2")).await.unwrap();
    assert_eq!(store.pending_events().await.unwrap(), 0);
    // A give-back, a count set higher, more seats by upsert: one event each.
    let mut give = delta(&p.id, 1, "g2");
    give.gives_back_hold_key = "t2".into();
    app.client.update_capacity(give.clone()).await.unwrap();
    assert_eq!(store.pending_events().await.unwrap(), 1);
    app.client.update_capacity(give).await.unwrap();
    assert_eq!(store.pending_events().await.unwrap(), 1, "a replayed give-back opens nothing");
    let set = pb::UpdateCapacityRequest {
        provider_id: c.id.clone(),
        change: Some(pb::update_capacity_request::Change::SetOpenSlots(3)),
        ..Default::default()
    };
    app.client.update_capacity(set.clone()).await.unwrap();
    app.client.update_capacity(set).await.unwrap();
    assert_eq!(
        store.pending_events().await.unwrap(),
        2,
        "setting the same count again opens nothing"
    );
    let cur = get(&mut app, &p.id).await;
    let mut more = cur.clone();
    more.cohorts = vec![cohort("a", 2, 6, 1)];
    app.client
        .upsert_provider(pb::UpsertProviderRequest {
            provider: Some(more),
            expected_version: cur.version,
        })
        .await
        .unwrap();
    assert_eq!(store.pending_events().await.unwrap(), 3);
    // Without a waitlist address the worker keeps them.
    let relay = matching::workers::capacity_events::Relay::new(
        store.clone(),
        None,
        &app.backing.common(),
        std::time::Duration::from_secs(3600),
    )
    .unwrap();
    assert_eq!(relay.deliver_due(&continuum_runtime::Shutdown::new()).await, 0);
    assert_eq!(store.pending_events().await.unwrap(), 3);
}

/// Issue 12: a take that the committed count cannot cover is refused without waiting for the provider's
/// row lock. Concurrent takers of a provider's last slot (clients ranked alike, routed at once) used to
/// queue behind each other's transactions only to be refused there; here another writer holds the row
/// of a clinician with no open slot, and the take is refused at once all the same.
#[tokio::test]
async fn a_take_of_a_full_clinician_is_refused_without_waiting_for_its_row_lock() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let mut app = spawn_app().await;
    let full = create(&mut app, clinician("Full", 0)).await;
    let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
        "matching",
        &app.backing.common().db(),
    )
    .await
    .unwrap();
    let writer = db.begin().await.unwrap();
    let lock = sea_orm::Statement::from_sql_and_values(
        writer.get_database_backend(),
        match writer.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "UPDATE providers SET version = version + 1 WHERE id = $1"
            }
            _ => "UPDATE providers SET version = version + 1 WHERE id = ?",
        },
        [full.id.clone().into()],
    );
    assert_eq!(writer.execute_raw(lock).await.unwrap().rows_affected(), 1);
    let take = app.client.update_capacity(delta(&full.id, -1, "take-while-locked"));
    let refused = tokio::time::timeout(std::time::Duration::from_secs(3), take)
        .await
        .expect("refused without waiting for the lock")
        .unwrap_err();
    assert_eq!(reason_of(&refused).map(continuum_errors::reason_code), Some("NO_CAPACITY"));
    writer.rollback().await.unwrap();
    assert_eq!(get(&mut app, &full.id).await.open_slots, 0);
}

/// A take that may fall back (`or_provider_ids`, issue 12) takes one slot from the first provider, in
/// the order given, that has one (a clinician's open slot, a program's joinable seat), answers which, and
/// applies once per hold key; when none has one it answers NO_CAPACITY and takes nothing.
#[tokio::test]
async fn a_take_falls_back_on_the_first_listed_provider_with_a_slot() {
    let mut app = spawn_app().await;
    let full = create(&mut app, clinician("Dr Full", 0)).await;
    let full_program = create(&mut app, program("Full IOP", vec![cohort("next", 3, 10, 0)])).await;
    let open = create(&mut app, clinician("Dr Open", 2)).await;
    let later = create(&mut app, clinician("Dr Later", 1)).await;
    let gone = uuid::Uuid::now_v7().to_string();
    let mut req = delta(&full.id, -1, "referral:first-open");
    req.or_provider_ids = vec![gone, full_program.id.clone(), open.id.clone(), later.id.clone()];

    let first = app.client.update_capacity(req.clone()).await.unwrap().into_inner();
    let taken = first.provider.unwrap();
    assert!(first.applied);
    assert_eq!((taken.id.as_str(), taken.open_slots), (open.id.as_str(), 1));
    // A replay answers the provider the key took from, and takes nothing more.
    let again = app.client.update_capacity(req).await.unwrap().into_inner();
    assert!(!again.applied);
    assert_eq!(again.provider.unwrap().id, open.id);
    assert_eq!(get(&mut app, &open.id).await.open_slots, 1);
    assert_eq!(get(&mut app, &later.id).await.open_slots, 1);

    // None of those listed has a slot: refused, and nothing taken (the key stays unused).
    let mut none = delta(&full.id, -1, "referral:none-open");
    none.or_provider_ids = vec![full_program.id.clone()];
    let err = app.client.update_capacity(none.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason_of(&err), Some(continuum_errors::ErrorReason::NoCapacity));
    assert_eq!(get(&mut app, &full.id).await.open_slots, 0);
    assert_eq!(open_of(&get(&mut app, &full_program.id).await, "next"), 0);
    // Once a listed provider has a slot again, the same key takes it.
    none.or_provider_ids.push(later.id.clone());
    let later_taken = app.client.update_capacity(none).await.unwrap().into_inner();
    assert_eq!(later_taken.provider.unwrap().id, later.id);
    assert_eq!(get(&mut app, &later.id).await.open_slots, 0);
    // A program's open slots are its joinable cohorts' seats: one with a seat is taken from, a seat of
    // its cohort, past a full clinician and a program whose only open seats are in a past cohort.
    let past = create(&mut app, program("Past IOP", vec![cohort("past", -30, 5, 5)])).await;
    let seated = create(&mut app, program("Seated IOP", vec![cohort("next", 3, 10, 1)])).await;
    let mut seat = delta(&full.id, -1, "referral:program-seat");
    seat.or_provider_ids = vec![past.id.clone(), seated.id.clone()];
    let seat_taken = app.client.update_capacity(seat).await.unwrap().into_inner();
    let program_taken = seat_taken.provider.unwrap();
    assert_eq!(program_taken.id, seated.id);
    assert_eq!(open_of(&program_taken, "next"), 0);
    assert_eq!(open_of(&get(&mut app, &past.id).await, "past"), 5);
}

/// Issue 12: a clinician's slot is taken by one conditional statement (with its hold row), not under a
/// lock held across a transaction. Concurrent routings ranked alike, each falling back along the same
/// list, still sell every slot exactly once, in the list's order; the rest are refused and take nothing;
/// a replay of a key that took answers the same provider and takes nothing more.
#[tokio::test]
async fn concurrent_takes_of_clinicians_last_slots_sell_each_once_in_list_order() {
    let mut app = spawn_app().await;
    let first = create(&mut app, clinician("Dr First", 2)).await;
    let second = create(&mut app, clinician("Dr Second", 1)).await;
    let full = create(&mut app, clinician("Dr Full", 0)).await;
    let take = |i: usize| {
        let mut req = delta(&first.id, -1, &format!("routing-{i}"));
        req.or_provider_ids = vec![second.id.clone(), full.id.clone()];
        req
    };
    let mut tasks = Vec::new();
    for i in 0..12 {
        let mut c = app.client.clone();
        let req = take(i);
        tasks.push(tokio::spawn(async move { (i, c.update_capacity(req).await) }));
    }
    let mut taken: Vec<(usize, String)> = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (i, Ok(r)) => {
                let r = r.into_inner();
                assert!(r.applied);
                taken.push((i, r.provider.unwrap().id));
            }
            (_, Err(s)) => {
                assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
                assert_eq!(reason_of(&s), Some(continuum_errors::ErrorReason::NoCapacity));
            }
        }
    }
    let at = |id: &str| taken.iter().filter(|(_, p)| p == id).count();
    assert_eq!((taken.len(), at(&first.id), at(&second.id)), (3, 2, 1), "{taken:?}");
    assert_eq!(get(&mut app, &first.id).await.open_slots, 0);
    assert_eq!(get(&mut app, &second.id).await.open_slots, 0);
    assert_eq!(get(&mut app, &full.id).await.open_slots, 0);
    // A winner's replay: the same provider, nothing more taken, even once a slot is free again.
    let (winner, provider) = taken[0].clone();
    app.client.update_capacity(delta(&provider, 1, "give-back")).await.unwrap();
    let again = app.client.update_capacity(take(winner)).await.unwrap().into_inner();
    assert!(!again.applied);
    assert_eq!(again.provider.unwrap().id, provider);
    assert_eq!(get(&mut app, &provider).await.open_slots, 1);
}

/// The migration that puts `has_cohorts` on the provider rows (the take's conditional UPDATE checks it)
/// sets it from the cohort rows already stored: rolled back and applied again over a program with
/// cohorts and a clinician, it marks the program only; a take of the program's seat still goes to its
/// cohort.
#[tokio::test]
async fn the_has_cohorts_migration_marks_the_programs_with_cohorts_stored_before_it() {
    use sea_orm::{ConnectionTrait, Statement};
    use sea_orm_migration::MigratorTrait;
    let mut app = spawn_app().await;
    let iop = create(&mut app, program("Cohort IOP", vec![cohort("next", 3, 10, 2)])).await;
    let dr = create(&mut app, clinician("Dr Plain", 2)).await;
    let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
        "matching",
        &app.backing.common().db(),
    )
    .await
    .unwrap();
    matching::store::Migrator::down(&db, Some(1)).await.unwrap();
    matching::store::Migrator::up(&db, None).await.unwrap();
    let marked = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT id FROM providers WHERE has_cohorts ORDER BY id",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "id").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(marked, vec![iop.id.clone()], "the clinician {} is not marked", dr.id);
    let taken = app.client.update_capacity(delta(&iop.id, -1, "seat")).await.unwrap().into_inner();
    assert_eq!(open_of(taken.provider.as_ref().unwrap(), "next"), 1);
}

/// Falling back is for a take of one slot under a hold key only; every bad part is named.
#[tokio::test]
async fn a_fall_back_outside_a_one_slot_take_is_refused_by_field() {
    let mut app = spawn_app().await;
    let p = create(&mut app, clinician("Dr Any", 3)).await;
    let mut two = delta(&p.id, -2, "");
    two.or_provider_ids = vec!["x".into(), p.id.clone()];
    let err = app.client.update_capacity(two).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        continuum_errors::bad_fields_of(&err),
        vec!["or_provider_ids", "or_provider_ids[0]", "or_provider_ids[1]"]
    );
    let mut many = delta(&p.id, -1, "k");
    many.or_provider_ids = vec![uuid::Uuid::now_v7().to_string(); 21];
    let err = app.client.update_capacity(many).await.unwrap_err();
    assert_eq!(continuum_errors::bad_fields_of(&err), vec!["or_provider_ids"]);
    assert_eq!(get(&mut app, &p.id).await.open_slots, 3);
}
