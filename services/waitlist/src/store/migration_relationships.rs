//! Migration: care relationships. Idempotency keys are scoped to the enqueuing organization (stored as
//! `<organization>:<key>`; PostgreSQL's column grows to hold the prefix, SQLite does not enforce lengths),
//! and a capacity event records the organization it acted for (the provider's), so the slots it took are
//! given back for that organization. Named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveIden)]
enum CapacityEventsSeen {
    Table,
    OrganizationId,
}

/// Scoped keys and the organization of capacity events.
#[derive(Debug)]
pub struct RelationshipsMigration;

impl MigrationName for RelationshipsMigration {
    fn name(&self) -> &str {
        "m_waitlist_care_relationships"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RelationshipsMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE waitlist_entries ALTER COLUMN idempotency_key TYPE varchar(200)",
                )
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(CapacityEventsSeen::Table)
                .add_column(string_len(CapacityEventsSeen::OrganizationId, 36).default(""))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(CapacityEventsSeen::Table)
                .drop_column(CapacityEventsSeen::OrganizationId)
                .to_owned(),
        )
        .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE waitlist_entries ALTER COLUMN idempotency_key TYPE varchar(128)",
                )
                .await?;
        }
        Ok(())
    }
}
