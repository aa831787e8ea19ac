//! Migration: the W3C `traceparent` of the request that created a referral or an outbox row, so the
//! background workers (deadline sweeper, outbox relay) continue that request's trace. Kept in its own file
//! and named by hand: `DeriveMigrationName` names a migration after its file, and several migrations of
//! this service already share `migration.rs`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum Referrals {
    Table,
    TraceParent,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    TraceParent,
}

/// Adds `trace_parent` (empty when unknown) to `referrals` and `outbox`, one column per statement
/// (SQLite alters one column at a time).
#[derive(Debug)]
pub struct TraceParentMigration;

impl MigrationName for TraceParentMigration {
    fn name(&self) -> &str {
        "m_referral_trace_parent"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for TraceParentMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Referrals::Table)
                .add_column(string_len(Referrals::TraceParent, 64).default(""))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Outbox::Table)
                .add_column(string_len(Outbox::TraceParent, 64).default(""))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Outbox::Table).drop_column(Outbox::TraceParent).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Referrals::Table).drop_column(Referrals::TraceParent).to_owned(),
        )
        .await
    }
}
