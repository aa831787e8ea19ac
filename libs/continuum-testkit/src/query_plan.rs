//! The database's plan for a statement as a store ran it, for tests that a query reads the index meant for
//! it (issue 12: partial indexes that hold only the rows their readers look for).
//!
//! On PostgreSQL the plan is the *generic* one, the plan a prepared statement settles on after a few runs,
//! made without looking at the bound values: the statement is prepared by name, explained with
//! `plan_cache_mode = force_generic_plan` and `enable_seqscan = off` (so a usable index is chosen even on
//! a test's few rows), and deallocated; nothing is executed. A partial index serves a generic plan only
//! when the query names the index's predicate itself, never through a bound value. On SQLite it is
//! `EXPLAIN QUERY PLAN` with the statement's own values (SQLite plans with the values bound, but proves a
//! predicate only from terms that match it).

use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

/// Every line of `db`'s plan for `statement` (values as the store bound them), joined by newlines.
pub async fn plan_of(db: &DatabaseConnection, statement: &Statement) -> String {
    let lines: Vec<String> = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let explain = Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                values: statement.values.clone(),
                db_backend: statement.db_backend,
            };
            let rows = db.query_all_raw(explain).await.expect("explain");
            rows.iter().map(|r| r.try_get::<String>("", "detail").expect("detail")).collect()
        }
        _ => {
            let values = statement.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default();
            let args: Vec<String> =
                values.iter().map(|v| PostgresQueryBuilder.value_to_string(v)).collect();
            let execute = if args.is_empty() {
                "EXECUTE continuum_plan".to_owned()
            } else {
                format!("EXECUTE continuum_plan({})", args.join(", "))
            };
            let txn = db.begin().await.expect("begin");
            for setup in [
                "SET LOCAL plan_cache_mode = force_generic_plan",
                "SET LOCAL enable_seqscan = off",
                &format!("PREPARE continuum_plan AS {}", statement.sql),
            ] {
                txn.execute_unprepared(setup).await.expect("plan setup");
            }
            let rows = txn
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    format!("EXPLAIN {execute}"),
                ))
                .await
                .expect("explain");
            // A prepared statement outlives the transaction; the connection goes back to the pool.
            txn.execute_unprepared("DEALLOCATE continuum_plan").await.expect("deallocate");
            txn.rollback().await.expect("rollback");
            rows.iter().map(|r| r.try_get_by_index::<String>(0).expect("plan line")).collect()
        }
    };
    lines.join("\n")
}
