//! [`continuum_db::Writer`] against a real PostgreSQL (`CONTINUUM_TEST_DATABASE_URL`, which `.ci/run` sets
//! for the server-backed pass; on SQLite a writer keeps nothing and goes through the pool): a connection
//! that wrote cleanly is kept for the next write, one whose write failed is not, and a kept connection the
//! server has since closed fails one write when reused at once but none after a second's rest (it goes
//! back to the pool, whose test finds it dead).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use continuum_db::Writer;
use continuum_db::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

mod common;

fn sql(s: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, s)
}

/// The server process of the connection the writer's next write runs on, recorded by that write.
async fn writer_pid(writer: &Writer, db: &DatabaseConnection) -> i32 {
    writer.execute(sql("DELETE FROM pids")).await.unwrap();
    writer.execute(sql("INSERT INTO pids SELECT pg_backend_pid()")).await.unwrap();
    let row = db.query_one_raw(sql("SELECT pid FROM pids")).await.unwrap().unwrap();
    row.try_get_by_index::<i32>(0).unwrap()
}

async fn terminate(db: &DatabaseConnection, pid: i32) {
    db.execute_raw(sql(&format!("SELECT pg_terminate_backend({pid})"))).await.unwrap();
    // The server ends the process asynchronously; wait until it is gone.
    for _ in 0..100 {
        let gone = db
            .query_one_raw(sql(&format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
            == 0;
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
