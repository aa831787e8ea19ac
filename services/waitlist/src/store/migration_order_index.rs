//! Migration: an index in each band's own order (organization, band, arrival, id), so a page of the list
//! reads the heads of the bands instead of every active entry (issue 12: a 100,000-entry waitlist). Named
//! by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum WaitlistEntries {
    Table,
    OrganizationId,
    Band,
    EnqueuedAtMs,
    Id,
}

/// The band-order index.
#[derive(Debug)]
pub struct OrderIndexMigration;

impl MigrationName for OrderIndexMigration {
    fn name(&self) -> &str {
        "m_waitlist_band_order_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OrderIndexMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("waitlist_entries_band_order")
                .table(WaitlistEntries::Table)
                .col(WaitlistEntries::OrganizationId)
                .col(WaitlistEntries::Band)
                .col(WaitlistEntries::EnqueuedAtMs)
                .col(WaitlistEntries::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("waitlist_entries_band_order")
                .table(WaitlistEntries::Table)
                .to_owned(),
        )
        .await
    }
}
