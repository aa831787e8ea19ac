//! Migration: every stored idempotency key in its scoped form (`<organization>:<key>`). Entries written
//! before keys were scoped stored the caller's key as it came; once they are rewritten, the unique index on
//! the key alone decides whether an enqueue is new or a replay, so `Enqueue` needs no lookup before its
//! insert (issue 12). A key that already starts with its entry's organization and a colon is left as it is
//! (a key the caller chose in that form reads the same either way). Named by hand: `DeriveMigrationName`
//! names a migration after its file.

use sea_orm_migration::prelude::*;

/// The rewrite of unscoped keys.
#[derive(Debug)]
pub struct ScopedKeysMigration;

impl MigrationName for ScopedKeysMigration {
    fn name(&self) -> &str {
        "m_waitlist_scoped_idempotency_keys"
    }
}

/// The rewrite, the same SQL on PostgreSQL and SQLite (`||` concatenates on both; organization ids are
/// UUIDs, so they hold no `LIKE` wildcard).
pub const SCOPE_KEYS: &str = "UPDATE waitlist_entries \
     SET idempotency_key = organization_id || ':' || idempotency_key \
     WHERE idempotency_key NOT LIKE organization_id || ':%'";

#[async_trait::async_trait]
impl MigrationTrait for ScopedKeysMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared(SCOPE_KEYS).await.map(|_| ())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        // Scoped keys are what every version since the care-relationship change reads; nothing to undo.
        Ok(())
    }
}
