//! Planner statistics on PostgreSQL (issue 12): a point lookup whose cached plan was made while its table
//! was empty walks the wrong index for as long as the table is never analyzed (autovacuum off), reading
//! every row of the organization per lookup; [`continuum_db::refresh_statistics`] analyzes the table,
//! which replaces that plan. Runs against `CONTINUUM_TEST_DATABASE_URL` (skipped without it; `.ci/run`
//! sets it for the server-backed pass).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_db::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value,
};

const LOOKUP: &str = "SELECT id FROM lookups WHERE org = $1 AND key = $2 LIMIT $3";

/// Rows of `lookups` read so far (by sequential scans, and fetched through indexes), as this backend's
/// statistics show them once flushed.
async fn tuples_read(db: &DatabaseConnection) -> i64 {
    db.execute_unprepared("SELECT pg_stat_force_next_flush()").await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT (seq_tup_read + coalesce(idx_tup_fetch, 0))::bigint AS n \
             FROM pg_stat_user_tables WHERE relname = 'lookups'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

/// `times` lookups of a key that is not there, as prepared statements (the services' queries are).
async fn look_up(db: &DatabaseConnection, times: usize) {
    for _ in 0..times {
        let values: Vec<Value> = vec!["org-1".into(), "no-such-key".into(), 1_i64.into()];
        db.query_all_raw(Statement::from_sql_and_values(DbBackend::Postgres, LOOKUP, values))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_lookup_planned_on_an_empty_table_uses_its_unique_index_once_statistics_are_refreshed() {
    let Some(admin_url) =
        std::env::var("CONTINUUM_TEST_DATABASE_URL").ok().filter(|s| !s.is_empty())
    else {
        eprintln!(
            "CONTINUUM_TEST_DATABASE_URL is not set: this PostgreSQL test runs in the server pass"
        );
        return;
    };
    let name = format!("continuum_stats_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(admin_url.as_str()).await.expect("PostgreSQL must answer");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("a database URL names its database"),
    };
    // One connection, so that every lookup runs on the backend whose plan cache is in question.
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(1).sqlx_logging(false);
    let db = Database::connect(opts).await.unwrap();
    // Like intakes: the unique key, then an index that only starts with the organization (on an empty
    // table the two cost the same, and the later one wins the tie); no autovacuum on this table, whatever
    // the server's setting.
    db.execute_unprepared(
        "CREATE TABLE lookups (id bigserial PRIMARY KEY, org varchar(36) NOT NULL, \
           key varchar(128) NOT NULL, ext varchar(128) NOT NULL) WITH (autovacuum_enabled = false); \
         CREATE UNIQUE INDEX lookups_org_key ON lookups (org, key); \
         CREATE INDEX lookups_org_ext ON lookups (org, ext);",
    )
    .await
    .unwrap();
    look_up(&db, 10).await;
    db.execute_unprepared(
        "INSERT INTO lookups (org, ext, key) \
         SELECT 'org-1', '', 'key-' || g FROM generate_series(1, 5000) g",
    )
    .await
    .unwrap();

    let before = tuples_read(&db).await;
    look_up(&db, 20).await;
    let stale = tuples_read(&db).await - before;
    // The failure this guards against, shown first: the plan cached on the empty table reads the whole
    // organization per lookup.
    assert!(stale >= 20 * 1000, "the stale plan read {stale} rows in 20 lookups");

    let analyzed = continuum_db::refresh_statistics(&db).await.unwrap();
    assert!(analyzed.contains(&"lookups".to_owned()), "analyzed {analyzed:?}");
    let before = tuples_read(&db).await;
    look_up(&db, 20).await;
    let fresh = tuples_read(&db).await - before;
    assert!(fresh <= 20, "after the refresh, 20 lookups read {fresh} rows");
    // Nothing changed since: the next refresh has nothing to do.
    assert_eq!(continuum_db::refresh_statistics(&db).await.unwrap(), Vec::<String>::new());

    // A fifth more rows, moments after the analysis: stale by a tenth, but not yet due (autovacuum's own
    // interval) ...
    let insert = |from: i32, to: i32| {
        format!(
            "INSERT INTO lookups (org, ext, key) \
             SELECT 'org-1', '', 'key-' || g FROM generate_series({from}, {to}) g"
        )
    };
    db.execute_unprepared(&insert(5001, 6000)).await.unwrap();
    db.execute_unprepared("SELECT pg_stat_force_next_flush()").await.unwrap();
    assert_eq!(continuum_db::refresh_statistics(&db).await.unwrap(), Vec::<String>::new());
    // ... and due once that interval has passed.
    let due = continuum_db::refresh_statistics_every(&db, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(due, ["lookups"]);
    // More rows changed than the table had at its last analysis: at once.
    db.execute_unprepared(&insert(6001, 12100)).await.unwrap();
    db.execute_unprepared("SELECT pg_stat_force_next_flush()").await.unwrap();
    assert_eq!(continuum_db::refresh_statistics(&db).await.unwrap(), ["lookups"]);

    db.close().await.ok();
    admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.ok();
}

#[tokio::test]
async fn refreshing_statistics_is_a_no_op_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = continuum_db::connect("stats", &continuum_db::DbSettings::sqlite(dir.path()))
        .await
        .unwrap();
    db.execute_unprepared(
        "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);",
    )
    .await
    .unwrap();
    assert!(continuum_db::refresh_statistics(&db).await.unwrap().is_empty());
}
