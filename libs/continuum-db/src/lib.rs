//! Database connections for Continuum services.
//!
//! The embedded default is one SQLite file per service under a data directory (nothing to install).
//! With a PostgreSQL URL, every service gets its own schema (named after the service) in that database, so
//! services never share tables even when they share a server. The same sea-orm migrations run on both.
//! [`Batch`] writes rows that land together in one round trip (one statement on PostgreSQL); a [`Writer`]
//! runs the hot path's writes over connections kept between uses, and batches written at the same moment
//! share one statement ([`group`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;

pub mod batch;
pub mod group;
pub mod writer;

pub use batch::Batch;
pub use sea_orm;
pub use sea_orm_migration;
use secrecy::{ExposeSecret, SecretString};
pub use writer::{Commit, Writer};

/// Where a service's data lives.
#[derive(Clone, Debug)]
pub struct DbSettings {
    /// A `postgres://` URL (it may carry a password: never printed). When absent, SQLite files under
    /// `data_dir` are used.
    pub database_url: Option<SecretString>,
    /// Folder for SQLite files (created when missing).
    pub data_dir: PathBuf,
}

impl DbSettings {
    /// SQLite under `data_dir`.
    pub fn sqlite(data_dir: impl Into<PathBuf>) -> Self {
        Self { database_url: None, data_dir: data_dir.into() }
    }

    /// Which engine these settings select, for logs and health output.
    pub fn engine(&self) -> &'static str {
        if self.database_url.is_some() { "postgres" } else { "sqlite" }
    }
}

/// Opens the connection pool for `service` (its own SQLite file, or its own PostgreSQL schema).
pub async fn connect(service: &str, settings: &DbSettings) -> anyhow::Result<DatabaseConnection> {
    match settings.database_url.as_ref().map(ExposeSecret::expose_secret) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            connect_postgres(service, url).await
        }
        Some(url) if url.starts_with("sqlite:") => connect_sqlite_url(url).await,
        Some(_) => {
            anyhow::bail!("database URL must start with postgres://, postgresql:// or sqlite:")
        }
        None => connect_sqlite(service, &settings.data_dir).await,
    }
}

async fn connect_sqlite(service: &str, data_dir: &Path) -> anyhow::Result<DatabaseConnection> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let file = data_dir.join(format!("{service}.db"));
    connect_sqlite_url(&format!("sqlite://{}?mode=rwc", file.display())).await
}

async fn connect_sqlite_url(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    // SQLite allows one writer; one connection keeps writes serialised and transactions honest.
    opts.max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    let db = Database::connect(opts).await.context("opening SQLite database")?;
    db.execute_unprepared(
        "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
    )
    .await
    .context("configuring SQLite")?;
    Ok(db)
}

/// The advisory-lock key that serialises schema creation and migrations of `service` across processes.
fn migration_lock_key(service: &str) -> i64 {
    // FNV-1a: stable across builds and platforms (unlike the std hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("continuum-migrate:{service}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

/// A single admin connection (no schema path) to `url`.
async fn admin_connection(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1).connect_timeout(Duration::from_secs(10)).sqlx_logging(false);
    Database::connect(opts).await.context("connecting to PostgreSQL")
}

/// Runs `work` while holding `service`'s migration lock on the admin connection `admin`: replicas that
/// start together (a first install with several replicas) create the schema and migrate one at a time
/// instead of racing on `CREATE SCHEMA` and on the migration table.
async fn with_migration_lock<T, F>(
    admin: &DatabaseConnection,
    service: &str,
    work: F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let key = migration_lock_key(service);
    admin
        .execute_unprepared(&format!("SELECT pg_advisory_lock({key})"))
        .await
        .context("taking the migration lock")?;
    let result = work.await;
    if let Err(e) = admin.execute_unprepared(&format!("SELECT pg_advisory_unlock({key})")).await {
        tracing::warn!(error = %e, "releasing the migration lock failed; it goes with the connection");
    }
    result
}

async fn connect_postgres(service: &str, url: &str) -> anyhow::Result<DatabaseConnection> {
    postgres_under_lock(service, url, async |_: &DatabaseConnection| Ok(())).await
}

/// Under `service`'s migration lock: creates the service schema, opens the pool on it and runs `then`
/// on the pool, on one admin connection that holds the lock throughout.
async fn postgres_under_lock(
    service: &str,
    url: &str,
    then: impl AsyncFnOnce(&DatabaseConnection) -> anyhow::Result<()>,
) -> anyhow::Result<DatabaseConnection> {
    anyhow::ensure!(
        service.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "service name must be a plain identifier"
    );
    let admin = admin_connection(url).await?;
    let result = with_migration_lock(&admin, service, async {
        admin
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {service}"))
            .await
            .context("creating the service schema")?;
        let db = pool_postgres(service, url).await?;
        then(&db).await?;
        Ok(db)
    })
    .await;
    admin.close().await.ok();
    result
}

/// How long a pooled PostgreSQL connection may have been idle and still be handed out without a ping.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

async fn pool_postgres(service: &str, url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(16)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // A connection in use moments ago is handed out as it is; one idle for a while is pinged first.
        // Pinging on every acquire cost a round trip per statement (issue 12: 6 % of the process's CPU,
        // and PostgreSQL's share); a connection that died since its last use (a restart) fails its one
        // statement as UNAVAILABLE, which callers retry, and leaves the pool.
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        .sqlx_logging(false)
        .set_schema_search_path(service.to_owned());
    Database::connect(opts).await.context("connecting to PostgreSQL")
}

/// Connects and brings the schema up to date with `M`'s migrations. On PostgreSQL the schema creation and
/// the migrations run under a per-service advisory lock, so replicas starting together never race.
pub async fn connect_and_migrate<M: MigratorTrait>(
    service: &str,
    settings: &DbSettings,
) -> anyhow::Result<DatabaseConnection> {
    match settings.database_url.as_ref().map(ExposeSecret::expose_secret) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            postgres_under_lock(service, url, async |db: &DatabaseConnection| {
                migrate::<M>(db).await
            })
            .await
        }
        _ => {
            let db = connect(service, settings).await?;
            migrate::<M>(&db).await?;
            Ok(db)
        }
    }
}

/// Applies every pending migration of `M`.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection) -> anyhow::Result<()> {
    M::up(db, None).await.context("running migrations")
}

/// Whether the database answers (used by health reporting).
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

/// How many rows a table may change, beyond a share of its size, before its planner statistics count as
/// stale: PostgreSQL's own `autovacuum_analyze_threshold` default.
const ANALYZE_THRESHOLD: i64 = 50;

/// How long after a table was last analyzed a change of a tenth of its rows makes it due again:
/// PostgreSQL's own `autovacuum_naptime` default, the most often autovacuum would look at it.
pub const ANALYZE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Refreshes the planner statistics of this connection's own tables (its service schema) that have gone
/// stale, by autovacuum's own measure, and answers which tables it analyzed. A no-op on SQLite. A table
/// is stale when more than 50 of its rows changed since it was last analyzed (by autovacuum or an
/// earlier call) and either
///
/// - more rows changed than it had then (it has doubled, or was never analyzed): at once, whenever
///   called; or
/// - more than a tenth of its rows changed, and it was last analyzed [`ANALYZE_EVERY`] ago or more.
///
/// Why the services do this themselves: PostgreSQL caches a generic plan per prepared statement and
/// connection, made from the statistics of the moment. A plan made while a table was empty (every index
/// looks equally cheap, so `organization_id = $1 AND idempotency_key = $2` may walk an index that only
/// starts with the organization) stays until the table is analyzed again, and on a server with
/// autovacuum turned off, that is never: every lookup then reads the whole organization (issue 12: a
/// long-running process fell from 258 to 109 intakes/s). An `ANALYZE` invalidates those cached plans on
/// every connection. Where autovacuum runs, it usually analyzes first and this finds nothing to do.
///
/// Why not every tenth at once: a table growing at hundreds of rows a second from empty then crossed the
/// threshold every few seconds, and each `ANALYZE` reads up to 30,000 rows: `pg_stat_statements` over the
/// end-to-end benchmark's runs put `ANALYZE` at 28 % of PostgreSQL's statement time (issue 12). Growth by
/// doubling is what turns a plan; a tenth waits out autovacuum's own interval.
pub async fn refresh_statistics(db: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    refresh_statistics_every(db, ANALYZE_EVERY).await
}

/// [`refresh_statistics`] with `every` in place of [`ANALYZE_EVERY`].
pub async fn refresh_statistics_every(
    db: &DatabaseConnection,
    every: std::time::Duration,
) -> anyhow::Result<Vec<String>> {
    use sea_orm::Statement;
    if backend(db) != DbBackend::Postgres {
        return Ok(Vec::new());
    }
    let every_ms = every.as_millis();
    let stale = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            // `reltuples` is the row count the last analysis (or vacuum) saw: -1 when there was none.
            format!(
                "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
                 WHERE s.schemaname = current_schema() \
                   AND (s.n_mod_since_analyze > {ANALYZE_THRESHOLD} + GREATEST(c.reltuples, 0) \
                     OR (s.n_mod_since_analyze > {ANALYZE_THRESHOLD} + s.n_live_tup / 10 \
                       AND COALESCE(GREATEST(s.last_analyze, s.last_autoanalyze), 'epoch') \
                         <= now() - interval '{every_ms} milliseconds')) \
                 ORDER BY s.relname"
            ),
        ))
        .await
        .context("reading table statistics")?;
    let mut analyzed = Vec::with_capacity(stale.len());
    for row in stale {
        let table: String = row.try_get("", "relname").context("reading a table name")?;
        // A table name from the catalog, quoted as an identifier.
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        db.execute_unprepared(&format!("ANALYZE {quoted}"))
            .await
            .with_context(|| format!("analyzing {table}"))?;
        analyzed.push(table);
    }
    Ok(analyzed)
}

/// The backend of a connection (some queries differ between SQLite and PostgreSQL).
pub fn backend(db: &DatabaseConnection) -> DbBackend {
    db.get_database_backend()
}
