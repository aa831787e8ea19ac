//! Migration: the bridge-choice index holds only the pending choices (issue 12). Most choices are settled
//! when their entry is written (matching answered, or no bridge was asked for), and a settled choice is
//! never looked up by due time; before, every one of them entered `bridge_choices_due` (status, due time)
//! all the same. The retry's query names the predicate as a literal so a prepared statement's generic plan
//! can use the index too. Named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum BridgeChoices {
    Table,
    Status,
    NextAttemptAtMs,
}

/// The pending-only bridge index.
#[derive(Debug)]
pub struct BridgePendingIndexMigration;

impl MigrationName for BridgePendingIndexMigration {
    fn name(&self) -> &str {
        "m_waitlist_bridge_pending_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for BridgePendingIndexMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("bridge_choices_due")
                .table(BridgeChoices::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("bridge_choices_pending_due")
                .table(BridgeChoices::Table)
                .col(BridgeChoices::NextAttemptAtMs)
                .and_where(Expr::col(BridgeChoices::Status).eq("pending"))
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("bridge_choices_pending_due")
                .table(BridgeChoices::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("bridge_choices_due")
                .table(BridgeChoices::Table)
                .col(BridgeChoices::Status)
                .col(BridgeChoices::NextAttemptAtMs)
                .to_owned(),
        )
        .await
    }
}
