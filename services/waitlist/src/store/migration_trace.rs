//! Migration: the W3C `traceparent` of the request that created an offer, so the offer sweeper's expiry
//! continues that request's trace. Kept in its own file and named by hand: `DeriveMigrationName` names a
//! migration after its file, and several migrations of this service already share `migration.rs`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum Offers {
    Table,
    TraceParent,
}

/// Adds `trace_parent` (empty when unknown) to `offers`.
#[derive(Debug)]
pub struct TraceParentMigration;

impl MigrationName for TraceParentMigration {
    fn name(&self) -> &str {
        "m_waitlist_offer_trace_parent"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for TraceParentMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Offers::Table)
                .add_column(string_len(Offers::TraceParent, 64).default(""))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Offers::Table).drop_column(Offers::TraceParent).to_owned(),
        )
        .await
    }
}
