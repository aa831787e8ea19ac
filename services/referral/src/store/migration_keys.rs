//! Migration: idempotency keys are scoped to the referring organization (stored as `<organization>:<key>`),
//! so one organization's key never collides with another's. PostgreSQL's column grows to hold the prefix;
//! SQLite does not enforce lengths. Rows written before keep their bare keys (found by key and referrer).
//! Named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Widens `referrals.idempotency_key` on PostgreSQL.
#[derive(Debug)]
pub struct ScopedKeysMigration;

impl MigrationName for ScopedKeysMigration {
    fn name(&self) -> &str {
        "m_referral_scoped_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ScopedKeysMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE referrals ALTER COLUMN idempotency_key TYPE varchar(200)",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE referrals ALTER COLUMN idempotency_key TYPE varchar(128)",
                )
                .await?;
        }
        Ok(())
    }
}
