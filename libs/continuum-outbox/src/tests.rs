//! The queue against a real database: SQLite by default, PostgreSQL when the test configuration names one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::*;
use continuum_db::Commit;

const JOBS: Queue = Queue {
    name: "jobs",
    table: "jobs",
    key: "id",
    pending: "state = 'pending'",
    due: "due_ms",
    lease_owner: "lease_owner",
    lease_until: "lease_until_ms",
};

async fn db_with_jobs(backing: &continuum_testkit::Backing, n: usize) -> DatabaseConnection {
    let db = continuum_db::connect("outbox", &backing.common().db()).await.unwrap();
    db.execute_unprepared(
        "CREATE TABLE jobs (id VARCHAR(36) PRIMARY KEY, state VARCHAR(16) NOT NULL, due_ms BIGINT NOT NULL, \
         lease_owner VARCHAR(64) NOT NULL DEFAULT '', lease_until_ms BIGINT NOT NULL DEFAULT 0, note VARCHAR(64))",
    )
    .await
    .unwrap();
    for i in 0..n {
        db.execute_unprepared(&format!(
            "INSERT INTO jobs (id, state, due_ms) VALUES ('job-{i:04}', 'pending', {i})"
        ))
        .await
        .unwrap();
    }
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_split_the_due_rows_and_leases_keep_others_off() {
    let backing = continuum_testkit::Backing::fresh().await;
    let db = db_with_jobs(&backing, 60).await;
    // Not due yet: nothing.
    assert!(JOBS.claim_due(&db, "a", -1, 1000, 10).await.unwrap().is_empty());
    // Four claimers at once, 20 each at most: every due row goes to exactly one of them.
    let claims = futures_join(&db).await;
    let mut seen = HashSet::new();
    for c in &claims {
        for k in c {
            assert!(seen.insert(k.clone()), "{k} claimed twice");
        }
    }
    assert_eq!(seen.len(), 60);
    // Leased rows stay off until their lease runs out.
    assert!(JOBS.claim_due(&db, "e", 100, 1000, 100).await.unwrap().is_empty());
    assert_eq!(
        JOBS.claim_due(&db, "e", 100_000, 1000, 100).await.unwrap().len(),
        60,
        "expired leases"
    );
    assert_eq!(JOBS.pending_count(&db).await.unwrap(), 60);
}

async fn futures_join(db: &DatabaseConnection) -> Vec<Vec<String>> {
    let (a, b, c, d) = tokio::join!(
        JOBS.claim_due(db, "a", 100, 1000, 20),
        JOBS.claim_due(db, "b", 100, 1000, 20),
        JOBS.claim_due(db, "c", 100, 1000, 20),
        JOBS.claim_due(db, "d", 100, 1000, 20),
    );
    vec![a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()]
}

#[tokio::test]
async fn only_the_lease_holder_releases_and_done_rows_are_never_claimed() {
    let backing = continuum_testkit::Backing::fresh().await;
    let db = db_with_jobs(&backing, 2).await;
    assert!(JOBS.claim_one(&db, "job-0000", "a", 10, 1000).await.unwrap());
    assert!(!JOBS.claim_one(&db, "job-0000", "b", 10, 1000).await.unwrap(), "held by a");
    assert!(
        JOBS.claim_one(&db, "job-0000", "a", 20, 1000).await.unwrap(),
        "a renews its own lease"
    );
    assert!(!JOBS.release(&db, "job-0000", "b", vec![("state", "done".into())]).await.unwrap());
    assert!(
        JOBS.release(&db, "job-0000", "a", vec![("state", "done".into()), ("note", "ok".into())])
            .await
            .unwrap()
    );
    assert!(
        !JOBS.claim_one(&db, "job-0000", "a", 10_000, 1000).await.unwrap(),
        "done is not pending"
    );
    assert_eq!(
        JOBS.claim_due(&db, "c", 10_000, 1000, 10).await.unwrap(),
        vec!["job-0001".to_owned()]
    );
    assert_eq!(JOBS.pending_count(&db).await.unwrap(), 1);
}

#[tokio::test]
async fn a_release_on_kept_connections_takes_only_for_the_lease_holder() {
    let backing = continuum_testkit::Backing::fresh().await;
    let db = db_with_jobs(&backing, 2).await;
    let state = |id: &'static str| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT state, lease_until_ms FROM jobs WHERE id = '{id}'"),
                ))
                .await
                .unwrap()
                .unwrap();
            (row.try_get_by_index::<String>(0).unwrap(), row.try_get_by_index::<i64>(1).unwrap())
        }
    };
    assert!(JOBS.claim_one(&db, "job-0000", "a", 10, 1000).await.unwrap());
    let writer = continuum_db::Writer::new(&db);
    let sets = || vec![("state", Value::from("done"))];
    // Another replica (its lease ran out) changes nothing.
    assert!(!JOBS.release_kept(&writer, "job-0000", "b", sets(), Commit::Unflushed).await.unwrap());
    assert_eq!(state("job-0000").await, ("pending".into(), 1010));
    // The holder's release ends the lease and records the outcome, on its own row only.
    assert!(JOBS.release_kept(&writer, "job-0000", "a", sets(), Commit::Unflushed).await.unwrap());
    assert_eq!(state("job-0000").await, ("done".into(), 0));
    assert_eq!(state("job-0001").await, ("pending".into(), 0));
    // A row nobody claimed is nobody's to release.
    assert!(!JOBS.release_kept(&writer, "job-0001", "a", sets(), Commit::Flushed).await.unwrap());
    assert_eq!(state("job-0001").await, ("pending".into(), 0));
}

#[test]
fn backoff_doubles_and_caps() {
    let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    assert_eq!(b.after(0), Duration::from_millis(500));
    assert_eq!(b.after(1), Duration::from_millis(500));
    assert_eq!(b.after(2), Duration::from_secs(1));
    assert_eq!(b.after(4), Duration::from_secs(4));
    assert_eq!(b.after(40), Duration::from_secs(60));
    assert_eq!(b.after_ms(3), 2000);
}
