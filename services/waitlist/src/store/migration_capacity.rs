//! Migration: offers of capacity taken in matching. `offers.slot_key` is the matching hold key of the
//! slot an offer holds (set when the slots came from a matching capacity event; successor offers carry
//! it on); `capacity_events_seen` makes each event's offers once; `slot_releases` is the outbox of
//! slots given back to matching when an offer chain ends with nobody eligible. Named by hand:
//! `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum Offers {
    Table,
    SlotKey,
}

#[derive(DeriveIden)]
enum CapacityEventsSeen {
    Table,
    EventId,
    ProviderId,
    Offers,
    ReceivedAtMs,
}

#[derive(DeriveIden)]
enum SlotReleases {
    Table,
    SlotKey,
    ProviderId,
    State,
    Attempts,
    NextAttemptAtMs,
    LeaseOwner,
    LeaseUntilMs,
    LastError,
    CreatedAtMs,
    FinishedAtMs,
    TraceParent,
}

/// `offers.slot_key`, `capacity_events_seen` and `slot_releases`.
#[derive(Debug)]
pub struct CapacitySlotsMigration;

impl MigrationName for CapacitySlotsMigration {
    fn name(&self) -> &str {
        "m_waitlist_capacity_slots"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CapacitySlotsMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Offers::Table)
                .add_column(string_len_null(Offers::SlotKey, 160))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CapacityEventsSeen::Table)
                .if_not_exists()
                .col(string_len(CapacityEventsSeen::EventId, 36).primary_key())
                .col(string_len(CapacityEventsSeen::ProviderId, 36))
                .col(integer(CapacityEventsSeen::Offers))
                .col(big_integer(CapacityEventsSeen::ReceivedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SlotReleases::Table)
                .if_not_exists()
                .col(string_len(SlotReleases::SlotKey, 160).primary_key())
                .col(string_len(SlotReleases::ProviderId, 36))
                .col(string_len(SlotReleases::State, 16))
                .col(integer(SlotReleases::Attempts))
                .col(big_integer(SlotReleases::NextAttemptAtMs))
                .col(string_len_null(SlotReleases::LeaseOwner, 64))
                .col(big_integer(SlotReleases::LeaseUntilMs))
                .col(string_len_null(SlotReleases::LastError, 200))
                .col(big_integer(SlotReleases::CreatedAtMs))
                .col(big_integer_null(SlotReleases::FinishedAtMs))
                .col(string_len(SlotReleases::TraceParent, 64).default(""))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SlotReleases::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(CapacityEventsSeen::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Offers::Table).drop_column(Offers::SlotKey).to_owned())
            .await
    }
}
