//! Migration: `bridge_choices`, one row per waitlist entry recording the bridge program chosen for it
//! from matching's directory (or why none is, and when to ask matching again while it is pending). Kept
//! in its own file and named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum BridgeChoices {
    Table,
    EntryId,
    Status,
    Support,
    Needs,
    ProviderId,
    ProviderKind,
    Reason,
    Attempts,
    NextAttemptAtMs,
    UpdatedAtMs,
    TraceParent,
}

/// Creates `bridge_choices` and its index of pending choices by due time.
#[derive(Debug)]
pub struct BridgeChoicesMigration;

impl MigrationName for BridgeChoicesMigration {
    fn name(&self) -> &str {
        "m_waitlist_bridge_choices"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for BridgeChoicesMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(BridgeChoices::Table)
                .if_not_exists()
                .col(string_len(BridgeChoices::EntryId, 36).primary_key())
                .col(string_len(BridgeChoices::Status, 16))
                .col(string_len(BridgeChoices::Support, 32))
                .col(text_null(BridgeChoices::Needs))
                .col(string_len_null(BridgeChoices::ProviderId, 36))
                .col(string_len_null(BridgeChoices::ProviderKind, 32))
                .col(text(BridgeChoices::Reason))
                .col(integer(BridgeChoices::Attempts).default(0))
                .col(big_integer(BridgeChoices::NextAttemptAtMs))
                .col(big_integer(BridgeChoices::UpdatedAtMs))
                .col(string_len(BridgeChoices::TraceParent, 64).default(""))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("bridge_choices_due")
                .table(BridgeChoices::Table)
                .col(BridgeChoices::Status)
                .col(BridgeChoices::NextAttemptAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(BridgeChoices::Table).to_owned()).await
    }
}
