//! The one leased outbox of every Continuum service. Work that must happen after a transaction commits
//! (route an intake, deliver a capacity event, give a slot back, follow a placement) is a row written in
//! that transaction; a background worker on any replica claims due rows under a lease, does the work, and
//! ends the lease with the outcome. The rules every queue keeps, in one place:
//!
//! - [`Queue::claim_due`] claims a batch in one statement: `UPDATE ... WHERE key IN (SELECT ... FOR UPDATE
//!   SKIP LOCKED)` on PostgreSQL, so replicas claiming at once split the rows instead of queueing on them;
//!   SQLite has one writer and needs no lock clause. A row is due when its work is pending, its next
//!   attempt time has come and no lease holds it. A crashed replica's lease simply runs out.
//! - [`Queue::claim_one`] claims one row by key (the request that wrote it works on it at once).
//! - [`Queue::release`] ends a lease with the caller's outcome columns, only while the caller still holds
//!   it (a replica whose lease ran out changes nothing); [`Queue::release_kept`] does it on the hot path's
//!   kept connections ([`continuum_db::Writer`]).
//! - [`Queue::expedite`] makes every deferred row due now (the dependency it waited for answers again).
//! - [`Backoff`] is the one retry delay policy; [`run_every`] the one worker loop (stops on the shutdown
//!   token); [`continue_trace`] makes each item's span a child of the request that queued it.
//!
//! Each service keeps its own tables (it owns its schema) and describes each with a [`Queue`]; the SQL
//! here uses only the columns the description names. A table that becomes a queue takes its lease
//! columns from [`lease_columns`].

use std::future::Future;
use std::time::Duration;

use sea_orm::sea_query::{Alias, ColumnDef};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use tokio_util::sync::CancellationToken;

/// A table whose rows are work to do, leased by one replica at a time. Every name is a column of that
/// table, fixed in code (never from input).
#[derive(Clone, Copy, Debug)]
pub struct Queue {
    /// The queue's name in logs.
    pub name: &'static str,
    /// The table.
    pub table: &'static str,
    /// The primary key column (text).
    pub key: &'static str,
    /// SQL condition of the rows that still have work to do (`state = 'pending'`).
    pub pending: &'static str,
    /// When the next attempt is due (milliseconds since the epoch).
    pub due: &'static str,
    /// Who holds the lease.
    pub lease_owner: &'static str,
    /// Until when the lease holds (milliseconds since the epoch; 0 when none).
    pub lease_until: &'static str,
}

/// A statement with `?` placeholders, numbered for PostgreSQL.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

impl Queue {
    /// Claims up to `limit` due rows for `owner` until `now_ms + lease_ms`, in one statement; returns
    /// their keys (the earliest due first, as far as the database tells). Rows another replica holds, or
    /// is claiming at this moment, are not returned.
    pub async fn claim_due<C: ConnectionTrait>(
        &self,
        db: &C,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<String>, DbErr> {
        let backend = db.get_database_backend();
        let lock = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let Queue { table, key, pending, due, lease_owner, lease_until, .. } = *self;
        let sql = format!(
            "UPDATE {table} SET {lease_owner} = ?, {lease_until} = ? \
             WHERE {key} IN (SELECT {key} FROM {table} WHERE {pending} AND {due} <= ? AND {lease_until} <= ? \
             ORDER BY {due} LIMIT ?{lock}) AND {lease_until} <= ? RETURNING {key}"
        );
        let values = vec![
            owner.into(),
            (now_ms + lease_ms).into(),
            now_ms.into(),
            now_ms.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
            now_ms.into(),
        ];
        let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
        rows.iter().map(|r| r.try_get_by_index::<String>(0)).collect()
    }

    /// Claims the row `key` for `owner` until `now_ms + lease_ms` when its work is pending and no other
    /// replica holds it (a lease `owner` holds already is renewed). Whether it is now `owner`'s.
    pub async fn claim_one<C: ConnectionTrait>(
        &self,
        db: &C,
        key_value: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, DbErr> {
        let backend = db.get_database_backend();
        let Queue { table, key, pending, lease_owner, lease_until, .. } = *self;
        let sql = format!(
            "UPDATE {table} SET {lease_owner} = ?, {lease_until} = ? \
             WHERE {key} = ? AND {pending} AND ({lease_until} <= ? OR {lease_owner} = ?)"
        );
        let values = vec![
            owner.into(),
            (now_ms + lease_ms).into(),
            key_value.into(),
            now_ms.into(),
            owner.into(),
        ];
        Ok(db.execute_raw(statement(backend, &sql, values)).await?.rows_affected() == 1)
    }

    /// Ends `owner`'s lease on row `key`, setting `sets` (the outcome: a new state, the next attempt time,
    /// an error) in the same statement. `false` when `owner` no longer holds it (its lease ran out and
    /// another replica took the row): then nothing changed.
    pub async fn release<C: ConnectionTrait>(
        &self,
        db: &C,
        key_value: &str,
        owner: &str,
        sets: Vec<(&'static str, Value)>,
    ) -> Result<bool, DbErr> {
        let backend = db.get_database_backend();
        let (sql, values) = self.release_update(key_value, owner, sets, None);
        Ok(db.execute_raw(statement(backend, &sql, values)).await?.rows_affected() == 1)
    }

    /// The `UPDATE` that ends `owner`'s lease on row `key_value` with `sets` (joined with `from`, an item
    /// that changes only how it commits), and its values in placeholder order.
    fn release_update(
        &self,
        key_value: &str,
        owner: &str,
        sets: Vec<(&'static str, Value)>,
        from: Option<&str>,
    ) -> (String, Vec<Value>) {
        let Queue { table, key, lease_owner, lease_until, .. } = *self;
        let mut assignments = vec![format!("{lease_until} = 0")];
        let mut values = Vec::with_capacity(sets.len() + 3);
        for (column, value) in sets {
            assignments.push(format!("{column} = ?"));
            values.push(value);
        }
        values.push(key_value.into());
        values.push(owner.into());
        let from = from.map(|item| format!(" FROM {item}")).unwrap_or_default();
        let sql = format!(
            "UPDATE {table} SET {}{from} WHERE {key} = ? AND {lease_owner} = ?",
            assignments.join(", ")
        );
        (sql, values)
    }

    /// [`Queue::release`] through `writer`: the same one statement, on a connection kept between writes
    /// (the routing hot path's finish, issue 12), committed as `commit` says.
    pub async fn release_kept(
        &self,
        writer: &continuum_db::Writer,
        key_value: &str,
        owner: &str,
        sets: Vec<(&'static str, Value)>,
        commit: continuum_db::Commit,
    ) -> Result<bool, DbErr> {
        let from = commit.update_from(writer.backend());
        let (sql, values) = self.release_update(key_value, owner, sets, from);
        Ok(writer.execute(statement(writer.backend(), &sql, values)).await? == 1)
    }

    /// Makes every row with work to do whose next attempt is later than `now_ms` due at `now_ms`, and
    /// answers how many: a dependency that failed answers again, so what waited for it need not wait out
    /// its back-off (a backlog drains at once instead of over the longest back-off). Leases are untouched.
    pub async fn expedite<C: ConnectionTrait>(&self, db: &C, now_ms: i64) -> Result<u64, DbErr> {
        let backend = db.get_database_backend();
        let Queue { table, pending, due, .. } = *self;
        let sql = format!("UPDATE {table} SET {due} = ? WHERE {pending} AND {due} > ?");
        let values = vec![now_ms.into(), now_ms.into()];
        Ok(db.execute_raw(statement(backend, &sql, values)).await?.rows_affected())
    }

    /// How many rows still have work to do (for the pending gauges).
    pub async fn pending_count<C: ConnectionTrait>(&self, db: &C) -> Result<u64, DbErr> {
        let backend = db.get_database_backend();
        let Queue { table, pending, .. } = *self;
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {pending}");
        let row = db.query_one_raw(statement(backend, &sql, Vec::new())).await?;
        let n: i64 = match row {
            Some(r) => r.try_get_by_index(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// The lease of a queue table as a migration fragment: `lease_owner` (text, empty when none) and
/// `lease_until_ms` (0 when none), to add to a table that becomes a queue.
pub fn lease_columns() -> [ColumnDef; 2] {
    [
        ColumnDef::new(Alias::new("lease_owner")).string_len(64).not_null().default("").to_owned(),
        ColumnDef::new(Alias::new("lease_until_ms")).big_integer().not_null().default(0).to_owned(),
    ]
}

/// The one retry delay policy: `first` after the first failure, doubling, never more than `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub first: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Backoff {
    /// A policy starting at `first`, doubling up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The delay before the attempt after `failures` failures (1 or more; 0 counts as 1).
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// [`Backoff::after`] in whole milliseconds.
    pub fn after_ms(&self, failures: u32) -> i64 {
        i64::try_from(self.after(failures).as_millis()).unwrap_or(i64::MAX)
    }
}

/// Runs `round` every `every` until `shutdown` is cancelled (a round in progress finishes first): the
/// one loop every background worker runs in. `name` goes into the start and stop log lines.
pub async fn run_every<F, Fut>(
    name: &'static str,
    every: Duration,
    shutdown: CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    tracing::info!(worker = name, "worker started");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(every) => {}
        }
        round().await;
    }
    tracing::info!(worker = name, "worker stopped");
}

/// Like [`run_every`] for a queue that can back up: `round` returns how many rows it claimed, and a round
/// that claimed a full batch (`batch` or more) is followed at once by the next, so a backlog drains as
/// fast as the work allows instead of one batch per `every`.
pub async fn drain_every<F, Fut>(
    name: &'static str,
    every: Duration,
    batch: usize,
    shutdown: CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    tracing::info!(worker = name, "worker started");
    let mut full = false;
    loop {
        if !full {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
        } else if shutdown.is_cancelled() {
            break;
        }
        full = round().await >= batch.max(1);
    }
    tracing::info!(worker = name, "worker stopped");
}

/// `span` as a child of the stored `traceparent` of the request that queued the work (empty: a root).
pub fn continue_trace(span: tracing::Span, traceparent: &str) -> tracing::Span {
    continuum_telemetry::continue_trace(&span, traceparent);
    span
}

#[cfg(test)]
mod tests;
