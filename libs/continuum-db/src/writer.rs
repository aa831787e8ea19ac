//! Writes on the hot path over connections kept between uses (issue 12).
//!
//! sqlx tests every connection handed back to its pool with a round trip (a `Sync` and the server's
//! `ReadyForQuery`, in a task spawned per release), whatever the statement did: a `perf` of the process at
//! 32 routings in flight put 8 % of its CPU there, plus the server's side of one extra round trip per
//! statement. A [`Writer`] keeps a connection whose statement finished cleanly for the next write instead
//! of handing it back. What sqlx's test guards against is kept out: a connection whose statement failed,
//! or whose call was cancelled half-way (its future dropped), is never kept; it goes back to the pool,
//! which tests it and closes it if broken. A kept connection idle for [`KEEP_IDLE_FOR`] or more goes back
//! too, so the pool's own test before handing out an idle connection still covers a server restarted in
//! between.
//!
//! A writer runs at most [`KEPT_MAX`] writes at once, out of the pool's sixteen connections; a write
//! beyond them waits for one of those to finish and takes over its connection. So every connection that
//! finishes a write cleanly is kept (none is handed back, and tested, because too many were in use), and
//! the rest of the pool always serves reads. When writes came in faster than eight at a time and the
//! writer took more connections from the pool, the ninth and later went back after their write, each
//! with its test: 0.75 extra round trips per routed intake at 32 in flight; bounded, the benchmark's
//! process and PostgreSQL each spent a tenth to a sixth less CPU per intake. Writes beyond the bound
//! wait in the process instead of in PostgreSQL's run queue, where on a machine of a few cores they
//! would have waited anyway.
//!
//! Only PostgreSQL keeps connections; on SQLite (one in-process connection) a write goes through the pool.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, PgPool, Postgres};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Semaphore;

use crate::group::Groups;

/// How long a connection may sit kept and still be used without going back to the pool first.
pub const KEEP_IDLE_FOR: Duration = Duration::from_secs(1);
/// How many writes one writer runs at once, hence how many connections it keeps at most.
pub const KEPT_MAX: usize = 8;

/// How a one-statement write's commit waits for the database's log to reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// The commit answers once its log is on disk (PostgreSQL's `synchronous_commit` as configured): every
    /// write that records something new.
    Flushed,
    /// The commit answers before its log is flushed (`synchronous_commit = off` for that one transaction;
    /// PostgreSQL flushes it within three `wal_writer_delay`s). A crash of the database server in that
    /// window loses the write (never corrupts anything, never half of it); a clean restart does not. Only
    /// for a write that is redone when lost: a routing task's finish, whose loss leaves the task leased
    /// and pending, so the worker runs it again under the same idempotency keys and gets the same
    /// referral or entry back. It spares the statement's wait for the disk, and the disk one flush.
    Unflushed,
}

impl Commit {
    /// The `FROM` item that makes an `UPDATE` (its own transaction) commit this way on `backend`, if it
    /// needs one: `set_config(.., true)` is `SET LOCAL`, so the setting ends with the statement's
    /// transaction and never reaches the connection's next statement. SQLite has no per-transaction
    /// setting (its writes are in-process); there every commit is as configured.
    pub fn update_from(self, backend: DbBackend) -> Option<&'static str> {
        (self == Self::Unflushed && backend == DbBackend::Postgres)
            .then_some("(SELECT set_config('synchronous_commit', 'off', true)) AS unflushed_commit")
    }
}

/// Runs writes, keeping connections between them on PostgreSQL ([module docs](self)). Cloning shares the
/// kept connections.
#[derive(Clone, Debug)]
pub struct Writer {
    db: DatabaseConnection,
    kept: Option<Arc<Kept>>,
    /// PostgreSQL: the groups shared batches run in ([`crate::group`]).
    groups: Option<Arc<Groups>>,
}

struct Kept {
    pool: PgPool,
    /// One permit per write running now: at most [`KEPT_MAX`].
    running: Semaphore,
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("Kept").field("idle", &idle).finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer over `db`'s pool.
    pub fn new(db: &DatabaseConnection) -> Self {
        let kept = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            Arc::new(Kept {
                pool: db.get_postgres_connection_pool().clone(),
                running: Semaphore::new(KEPT_MAX),
                idle: Mutex::new(Vec::with_capacity(KEPT_MAX)),
            })
        });
        let groups = kept.is_some().then(Arc::default);
        Self { db: db.clone(), kept, groups }
    }

    /// The groups shared batches run in (PostgreSQL only).
    pub(crate) fn groups(&self) -> Option<&Arc<Groups>> {
        self.groups.as_ref()
    }

    /// The connection (pool) this writer writes to.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The database's backend.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Runs one statement (without `RETURNING`) and answers how many rows it changed. Errors are the
    /// pool's own (`DbErr::Exec` with the driver's error, `DbErr::ConnectionAcquire` when no connection
    /// could be had), so callers tell a unique violation or a lost connection exactly as before. Beyond
    /// [`KEPT_MAX`] writes at once it waits for one to finish; that wait and the pool's for a connection
    /// together last at most as long as the pool alone would wait.
    pub async fn execute(&self, statement: Statement) -> Result<u64, DbErr> {
        let Some(kept) = &self.kept else {
            return Ok(self.db.execute_raw(statement).await?.rows_affected());
        };
        // One deadline for both waits (a turn among the writes, then a connection from the pool): a
        // write waits at most as long as the pool alone would, never once for each.
        let deadline = tokio::time::Instant::now() + kept.pool.options().get_acquire_timeout();
        let _running = match tokio::time::timeout_at(deadline, kept.running.acquire()).await {
            Ok(Ok(permit)) => permit,
            // The semaphore is never closed; a closed one would mean the writer is going away.
            Ok(Err(_)) => return Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)),
            Err(_) => return Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
        };
        let mut conn = match kept.take() {
            Some(conn) => conn,
            // Past the deadline the acquire failed as the pool's own timeout does.
            None => tokio::time::timeout_at(deadline, kept.pool.acquire())
                .await
                .unwrap_or(Err(sqlx::Error::PoolTimedOut))
                .map_err(acquire_error)?,
        };
        let values = statement.values.unwrap_or(sea_orm::Values(Vec::new()));
        let query =
            sqlx::query_with(sqlx::AssertSqlSafe(statement.sql.as_str()), SqlxValues(values));
        match query.execute(&mut *conn).await {
            Ok(done) => {
                kept.keep(conn);
                Ok(done.rows_affected())
            }
            // Dropped, the connection goes back to the pool, which tests it (and closes it if broken).
            Err(e) => Err(DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))),
        }
    }

    /// How many groups of shared batches have run, and how many batches they carried (tests).
    #[doc(hidden)]
    pub fn group_counts(&self) -> (u64, u64) {
        self.groups.as_ref().map_or((0, 0), |g| g.counts())
    }

    /// How many shared batches wait for their group now (tests).
    #[doc(hidden)]
    pub fn queued_now(&self) -> usize {
        self.groups.as_ref().map_or(0, |g| g.queued())
    }

    /// How many connections are kept now (tests).
    #[doc(hidden)]
    pub fn kept_now(&self) -> usize {
        self.kept
            .as_ref()
            .map_or(0, |k| k.idle.lock().unwrap_or_else(PoisonError::into_inner).len())
    }
}

impl Kept {
    /// The most recently kept connection if it was used within [`KEEP_IDLE_FOR`]; older ones go back to
    /// the pool.
    fn take(&self) -> Option<PoolConnection<Postgres>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // The oldest come first: every one idle too long goes back (dropped outside the lock below).
        let stale =
            idle.iter().take_while(|(_, at)| now.duration_since(*at) >= KEEP_IDLE_FOR).count();
        let stale: Vec<_> = idle.drain(..stale).collect();
        let fresh = idle.pop().map(|(conn, _)| conn);
        drop(idle);
        drop(stale);
        fresh
    }

    /// Keeps `conn` for the next write (there is always room: no more writes run than may be kept).
    fn keep(&self, conn: PoolConnection<Postgres>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < KEPT_MAX {
            idle.push((conn, Instant::now()));
        }
    }
}

/// A failed acquire as sea-orm reports it.
fn acquire_error(e: sqlx::Error) -> DbErr {
    match e {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(Arc::new(other))),
    }
}
