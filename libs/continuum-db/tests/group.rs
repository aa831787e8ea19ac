//! [`continuum_db::Batch::run_shared`] against a real PostgreSQL (`CONTINUUM_TEST_DATABASE_URL`, which
//! `.ci/run` sets for the server-backed pass), and on SQLite, where each batch runs alone. Batches written
//! while a group runs share the next group's statement and each lands whole; one batch failing on its own
//! data (a repeated key) fails alone while the rest of its group lands; a group cut off from the server
//! fails every batch in it, and the next group writes again.
//!
//! A table locked by another transaction holds up a one-batch group in each of the
//! [`GROUPS_AT_ONCE`] places, so that the batches written meanwhile queue for the next group in a known
//! number.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_db::group::{GROUPS_AT_ONCE, MEMBERS_MAX};
use continuum_db::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, SqlErr, Statement, TransactionTrait, TryGetable,
};
use continuum_db::{Batch, DbSettings, Writer};

mod common;

use common::{child, child_row, parent, parent_row};

/// A parent and its child, as one batch.
fn family(db: &DatabaseConnection, name: &str) -> Batch {
    let mut batch = Batch::new(db);
    batch.push(&parent::Entity::insert(parent_row(name)));
    batch.push(&child::Entity::insert(child_row(&format!("child of {name}"), name)));
    batch
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Writes one family per name, all at once, in tasks of their own; their outcomes in order.
fn write_all(
    db: &DatabaseConnection,
    writer: &Writer,
    names: &[String],
) -> tokio::task::JoinHandle<Vec<Result<(), DbErr>>> {
    let runs: Vec<_> = names
        .iter()
        .map(|n| {
            let (batch, writer) = (family(db, n), writer.clone());
            tokio::spawn(async move { batch.run_shared(&writer).await })
        })
        .collect();
    tokio::spawn(async move {
        let mut out = Vec::new();
        for run in runs {
            out.push(run.await.unwrap());
        }
        out
    })
}

/// The server processes of the statements waiting on the lock `holder` (a server process) holds, other
/// than those in `not`, once there is one (other tests run beside, on their own tables).
async fn waiting_on_the_lock(db: &DatabaseConnection, holder: i32, not: &[i32]) -> Vec<i32> {
    let query =
        format!("SELECT pid FROM pg_stat_activity WHERE {holder} = ANY(pg_blocking_pids(pid))");
    for _ in 0..500 {
        let statement = Statement::from_string(DbBackend::Postgres, query.clone());
        let rows = db.query_all_raw(statement).await.unwrap();
        let pids: Vec<i32> = rows
            .iter()
            .map(|r| i32::try_get_by_index(r, 0).unwrap())
            .filter(|p| !not.contains(p))
            .collect();
        if !pids.is_empty() {
            return pids;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no write waited on the lock");
}

/// Every group's place taken by a one-batch group waiting on `parents`, locked by the transaction
/// returned: the batches written next queue. The waiting groups' outcomes and server processes.
struct Blocked {
    holder: DatabaseTransaction,
    holder_pid: i32,
    groups: Vec<tokio::task::JoinHandle<Vec<Result<(), DbErr>>>>,
    pids: Vec<i32>,
}

async fn block_every_group(db: &DatabaseConnection, writer: &Writer) -> Blocked {
    let holder = db.begin().await.unwrap();
    holder.execute_unprepared("LOCK TABLE parents IN EXCLUSIVE MODE").await.unwrap();
    let pid = holder
        .query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT pg_backend_pid()"))
        .await
        .unwrap()
        .unwrap();
    let holder_pid = i32::try_get_by_index(&pid, 0).unwrap();
    let (mut groups, mut pids) = (Vec::new(), Vec::new());
    for i in 0..GROUPS_AT_ONCE {
        groups.push(write_all(db, writer, &names(&format!("blocked{i}-"), 1)));
        pids.extend(waiting_on_the_lock(db, holder_pid, &pids).await);
    }
    assert_eq!(pids.len(), GROUPS_AT_ONCE);
    Blocked { holder, holder_pid, groups, pids }
}

/// Writes one family per name while every group's place is held up behind the lock, until all of them
/// have queued; then lets the lock go (the groups that held it up land) and answers their outcomes in order.
async fn write_queued(
    db: &DatabaseConnection,
    writer: &Writer,
    names: &[String],
) -> Vec<Result<(), DbErr>> {
    let blocked = block_every_group(db, writer).await;
    let queued = write_all(db, writer, names);
    until_queued(writer, names.len()).await;
    blocked.holder.commit().await.unwrap();
    for group in blocked.groups {
        assert!(group.await.unwrap()[0].is_ok());
    }
    queued.await.unwrap()
}

async fn until_queued(writer: &Writer, queued: usize) {
    for _ in 0..500 {
        if writer.queued_now() == queued {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{queued} batches never queued (now {})", writer.queued_now());
}

async fn families(db: &DatabaseConnection) -> (u64, u64) {
    (
        parent::Entity::find().count(db).await.unwrap(),
        child::Entity::find().count(db).await.unwrap(),
    )
}

fn repeated_key(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

#[tokio::test]
async fn batches_written_while_a_group_runs_share_the_next_statement_and_each_lands_whole() {
    let Some((db, schema)) = common::fresh_postgres("group").await else { return };
    common::create_family_tables(&db).await;
    let writer = Writer::new(&db);
    // One batch at a time: a group each, as a batch alone.
    for name in names("alone", 3) {
        family(&db, &name).run_shared(&writer).await.unwrap();
    }
    assert_eq!(writer.group_counts(), (3, 3));

    assert!(write_queued(&db, &writer, &names("q", 24)).await.iter().all(Result::is_ok));
    // The 24 went in two groups: 16 (the most one group carries) and 8.
    assert_eq!(MEMBERS_MAX, 16);
    let g = GROUPS_AT_ONCE as u64;
    assert_eq!(writer.group_counts(), (3 + g + 2, 3 + g + 24));
    assert_eq!(families(&db).await, (3 + g + 24, 3 + g + 24));
    common::drop_schema(&db, &schema).await;
}

#[tokio::test]
async fn a_batch_failing_on_its_own_data_fails_alone_and_the_rest_of_its_group_lands() {
    let Some((db, schema)) = common::fresh_postgres("group").await else { return };
    common::create_family_tables(&db).await;
    let writer = Writer::new(&db);
    family(&db, "taken").run_shared(&writer).await.unwrap();
    // Ten batches queue behind the lock; the sixth repeats a stored key.
    let mut batch_names = names("b", 10);
    batch_names[5] = "taken".to_owned();
    for (name, outcome) in batch_names.iter().zip(write_queued(&db, &writer, &batch_names).await) {
        match outcome {
            Err(e) if name == "taken" => assert!(repeated_key(&e), "{e}"),
            other => assert!(other.is_ok() && name != "taken", "{name}: {other:?}"),
        }
    }
    // The ten went as one group, whose statement failed; then each ran alone.
    let g = GROUPS_AT_ONCE as u64;
    assert_eq!(writer.group_counts(), (1 + g + 1, 1 + g + 10));
    assert_eq!(families(&db).await, (1 + g + 9, 1 + g + 9));
    common::drop_schema(&db, &schema).await;
}

#[tokio::test]
async fn a_group_cut_off_from_the_server_fails_every_batch_in_it_and_the_next_group_writes() {
    let Some((db, schema)) = common::fresh_postgres("group").await else { return };
    common::create_family_tables(&db).await;
    let writer = Writer::new(&db);
    let mut blocked = block_every_group(&db, &writer).await;
    let queued = write_all(&db, &writer, &names("cut", 6));
    until_queued(&writer, 6).await;
    // The first waiting group's server process ends: that write fails, and its task takes the six, as one
    // group that waits on the lock too, until its own process ends.
    let terminate = |pid: i32| {
        Statement::from_string(DbBackend::Postgres, format!("SELECT pg_terminate_backend({pid})"))
    };
    db.execute_raw(terminate(blocked.pids[0])).await.unwrap();
    assert!(blocked.groups.remove(0).await.unwrap()[0].is_err());
    let six = waiting_on_the_lock(&db, blocked.holder_pid, &blocked.pids).await;
    assert_eq!(six.len(), 1);
    db.execute_raw(terminate(six[0])).await.unwrap();
    let outcomes = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the six are answered without waiting for the lock")
        .unwrap();
    // Each of the six failed with the group's error: none was run again alone (it would have waited on
    // the lock, then landed).
    assert!(outcomes.iter().all(|o| o.as_ref().is_err_and(|e| !repeated_key(e))), "{outcomes:?}");
    let g = GROUPS_AT_ONCE as u64;
    assert_eq!(writer.group_counts(), (g + 1, g + 6));
    blocked.holder.commit().await.unwrap();
    for group in blocked.groups {
        assert!(group.await.unwrap()[0].is_ok());
    }
    assert_eq!(families(&db).await, (g - 1, g - 1));
    // The next group writes on a fresh connection.
    family(&db, "after").run_shared(&writer).await.unwrap();
    assert_eq!(families(&db).await, (g, g));
    common::drop_schema(&db, &schema).await;
}

#[tokio::test]
async fn on_sqlite_a_shared_batch_runs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = continuum_db::connect("group", &DbSettings::sqlite(dir.path())).await.unwrap();
    common::create_family_tables(&db).await;
    let writer = Writer::new(&db);
    assert!(write_all(&db, &writer, &names("s", 8)).await.unwrap().iter().all(Result::is_ok));
    let e = family(&db, "s3").run_shared(&writer).await.expect_err("a repeated key fails");
    assert!(repeated_key(&e), "{e}");
    assert_eq!(families(&db).await, (8, 8));
    assert_eq!(writer.group_counts(), (0, 0), "no group on SQLite");
}
