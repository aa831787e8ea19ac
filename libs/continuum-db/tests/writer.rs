//! [`continuum_db::Writer`] against a real PostgreSQL (`CONTINUUM_TEST_DATABASE_URL`, which `.ci/run` sets
//! for the server-backed pass; on SQLite a writer keeps nothing and goes through the pool): a connection
//! that wrote cleanly is kept for the next write, one whose write failed is not, and a kept connection the
//! server has since closed fails one write when reused at once but none after a second's rest (it goes
//! back to the pool, whose test finds it dead). Writes beyond [`KEPT_MAX`] at once wait for a kept
//! connection, so none is handed back and the rest of the pool stays free for reads. An unflushed write
//! commits without waiting for the disk, and only that write does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_db::sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TryGetable,
};
use continuum_db::writer::KEPT_MAX;
use continuum_db::{Commit, Writer};

mod common;

fn sql(s: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, s)
}

/// The one value `query` answers, read through the pool.
async fn scalar<T: TryGetable>(db: &DatabaseConnection, query: &str) -> T {
    db.query_one_raw(sql(query)).await.unwrap().unwrap().try_get_by_index::<T>(0).unwrap()
}

/// The server process of the connection the writer's next write runs on, recorded by that write.
async fn writer_pid(writer: &Writer, db: &DatabaseConnection) -> i32 {
    writer.execute(sql("DELETE FROM pids")).await.unwrap();
    writer.execute(sql("INSERT INTO pids SELECT pg_backend_pid()")).await.unwrap();
    scalar(db, "SELECT pid FROM pids").await
}

async fn terminate(db: &DatabaseConnection, pid: i32) {
    db.execute_raw(sql(&format!("SELECT pg_terminate_backend({pid})"))).await.unwrap();
    // The server ends the process asynchronously; wait until it is gone.
    for _ in 0..100 {
        let query = format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}");
        let gone = scalar::<i64>(db, &query).await == 0;
        if gone {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("backend {pid} did not end");
}

#[tokio::test]
async fn connections_are_kept_after_clean_writes_only_and_a_dead_one_costs_at_most_one_write() {
    let Some((db, schema)) = common::fresh_postgres("writer").await else { return };
    db.execute_unprepared("CREATE TABLE pids (pid INTEGER NOT NULL)").await.unwrap();
    db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY)").await.unwrap();
    let writer = Writer::new(&db);
    assert_eq!(writer.kept_now(), 0);

    // A clean write keeps its connection, and the next write runs on the same one.
    assert_eq!(writer.execute(sql("INSERT INTO t VALUES (1)")).await.unwrap(), 1);
    assert_eq!(writer.kept_now(), 1);
    let pid = writer_pid(&writer, &db).await;
    assert_eq!(writer_pid(&writer, &db).await, pid, "the kept connection is reused");

    // A failed write (a duplicate key) is the driver's error, as through the pool, and keeps nothing.
    let err = writer.execute(sql("INSERT INTO t VALUES (1)")).await.unwrap_err();
    assert!(
        matches!(err.sql_err(), Some(continuum_db::sea_orm::SqlErr::UniqueConstraintViolation(_))),
        "{err}"
    );
    assert_eq!(writer.kept_now(), 0, "a connection whose write failed goes back to the pool");

    // The server closes the kept connection (a restart): reused at once, it fails that one write with a
    // connection error (the pool hands out a connection used within the second the same way), and is
    // not kept; the next write gets a working connection.
    let pid = writer_pid(&writer, &db).await;
    terminate(&db, pid).await;
    let err = writer.execute(sql("INSERT INTO t VALUES (2)")).await.unwrap_err();
    assert!(matches!(err, DbErr::Exec(_)) && err.sql_err().is_none(), "{err:?}");
    assert_eq!(writer.execute(sql("INSERT INTO t VALUES (2)")).await.unwrap(), 1);

    // After a second's rest a kept connection goes back to the pool before use: a dead one fails nothing.
    let pid = writer_pid(&writer, &db).await;
    terminate(&db, pid).await;
    tokio::time::sleep(continuum_db::writer::KEEP_IDLE_FOR + Duration::from_millis(100)).await;
    assert_eq!(writer.execute(sql("INSERT INTO t VALUES (3)")).await.unwrap(), 1);
    assert_ne!(writer_pid(&writer, &db).await, pid);

    common::drop_schema(&db, &schema).await;
}

/// Four times as many writes at once as a writer runs: they share [`KEPT_MAX`] connections, every one of
/// which is kept afterwards (none is handed back to the pool, which would test it with a round trip), and
/// a read meanwhile is served by the rest of the pool at once, before any of the writes has committed.
/// Without the bound the writes took all sixteen of the pool's connections, kept eight, handed eight back,
/// and the read waited behind them (it returned after 26 writes had committed).
#[tokio::test]
async fn writes_beyond_the_bound_wait_for_a_kept_connection_and_reads_do_not_wait() {
    let Some((db, schema)) = common::fresh_postgres("bound").await else { return };
    db.execute_unprepared("CREATE TABLE w (pid INTEGER NOT NULL)").await.unwrap();
    let writer = Writer::new(&db);
    let writes: Vec<_> = (0..4 * KEPT_MAX)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .execute(sql("INSERT INTO w SELECT pg_backend_pid() FROM pg_sleep(0.3)"))
                    .await
            })
        })
        .collect();
    // Let the first writes reach the server, then read through the pool.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let written: i64 = scalar(&db, "SELECT count(*) FROM w").await;
    assert_eq!(written, 0, "the read did not wait for a write to finish");
    for write in writes {
        assert_eq!(write.await.unwrap().unwrap(), 1);
    }
    let connections: i64 = scalar(&db, "SELECT count(DISTINCT pid) FROM w").await;
    assert_eq!(
        connections,
        i64::try_from(KEPT_MAX).unwrap(),
        "the writes shared the bound's connections"
    );
    assert_eq!(writer.kept_now(), KEPT_MAX, "every connection that wrote is kept");
    common::drop_schema(&db, &schema).await;
}

#[tokio::test]
async fn an_unflushed_update_commits_without_waiting_for_the_disk_and_only_that_update() {
    assert_eq!(Commit::Flushed.update_from(DbBackend::Postgres), None);
    assert_eq!(Commit::Unflushed.update_from(DbBackend::Sqlite), None, "no such setting on SQLite");
    let Some((db, schema)) = common::fresh_postgres("unflushed").await else { return };
    db.execute_unprepared(
        "CREATE TABLE s (id INTEGER PRIMARY KEY, setting TEXT NOT NULL, pid INTEGER NOT NULL)",
    )
    .await
    .unwrap();
    db.execute_unprepared("INSERT INTO s VALUES (1, '', 0), (2, '', 0)").await.unwrap();
    let configured: String = scalar(&db, "SHOW synchronous_commit").await;
    assert_ne!(
        configured, "off",
        "the server must commit synchronously for this test to mean anything"
    );
    let writer = Writer::new(&db);
    let record = "SET setting = current_setting('synchronous_commit'), pid = pg_backend_pid()";
    let from = Commit::Unflushed.update_from(DbBackend::Postgres).unwrap();
    let unflushed = format!("UPDATE s {record} FROM {from} WHERE id = 1");
    assert_eq!(writer.execute(sql(&unflushed)).await.unwrap(), 1, "the join changes no row count");
    assert_eq!(writer.execute(sql(&format!("UPDATE s {record} WHERE id = 2"))).await.unwrap(), 1);
    let rows = db.query_all_raw(sql("SELECT setting, pid FROM s ORDER BY id")).await.unwrap();
    let row = |i: usize| {
        (
            rows[i].try_get_by_index::<String>(0).unwrap(),
            rows[i].try_get_by_index::<i32>(1).unwrap(),
        )
    };
    let ((first, first_pid), (next, next_pid)) = (row(0), row(1));
    assert_eq!(first, "off", "the unflushed update's own transaction commits asynchronously");
    assert_eq!(next_pid, first_pid, "the next write ran on the same kept connection");
    assert_eq!(next, configured, "the setting ended with the unflushed update's transaction");
    common::drop_schema(&db, &schema).await;
}

/// A write that waits for its turn among the writes and then for a connection from the pool gives up when
/// the pool's acquire timeout has passed since it began, not after waiting that long for each. The pool
/// here has exactly [`KEPT_MAX`] connections and a 2.5 s acquire timeout. [`KEPT_MAX`] writes take every
/// connection and fail after 1.5 s (a division by zero once `pg_sleep` has returned, not at planning; a
/// failed write keeps nothing: its connection goes back to the pool); meanwhile other users of the pool
/// queue for connections, so they take those connections back, and one more write, begun at 0.5 s, waits
/// for its turn. It gets its turn at 1.5 s and finds no connection: it must give up at 3 s, 2.5 s after
/// it began. Waiting the pool's whole timeout again, as it did before, it gave up at 4 s.
#[tokio::test]
async fn a_write_waits_for_its_turn_and_a_connection_within_one_acquire_timeout() {
    let Ok(url) = std::env::var("CONTINUUM_TEST_DATABASE_URL") else { return };
    let timeout = Duration::from_millis(2500);
    let mut options = continuum_db::sea_orm::ConnectOptions::new(url);
    options
        .max_connections(u32::try_from(KEPT_MAX).unwrap())
        .min_connections(0)
        .acquire_timeout(timeout)
        .sqlx_logging(false);
    let db = continuum_db::sea_orm::Database::connect(options).await.unwrap();
    let writer = Writer::new(&db);
    let failing: Vec<_> = (0..KEPT_MAX)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer.execute(sql("SELECT 1 / (count(*) - 1)::int FROM pg_sleep(1.5)")).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pool = db.get_postgres_connection_pool().clone();
    let others: Vec<_> = (0..KEPT_MAX)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let conn = pool.acquire().await;
                tokio::time::sleep(Duration::from_secs(3)).await;
                conn.is_ok()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let err = writer.execute(sql("SELECT 1")).await.unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, DbErr::ConnectionAcquire(continuum_db::sea_orm::ConnAcquireErr::Timeout)),
        "{err:?}"
    );
    assert!(waited >= timeout - Duration::from_millis(100), "gave up early: {waited:?}");
    assert!(waited < timeout + Duration::from_millis(700), "waited twice: {waited:?}");
    for write in failing {
        let err = write.await.unwrap().unwrap_err();
        assert!(matches!(err, DbErr::Exec(_)), "each of those writes ran and failed: {err:?}");
    }
    for other in others {
        assert!(other.await.unwrap(), "the pool's other users got the connections back");
    }
}
