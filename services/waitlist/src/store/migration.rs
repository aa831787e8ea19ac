//! The waitlist service's schema, as sea-orm migrations. Run at start-up and by `continuum migrate`.
//!
//! Besides the tables, a partial unique index allows at most one pending offer per entry, so even a bug
//! or a race between replicas cannot leave an entry holding two offers at once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// All migrations of the waitlist service, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Waitlist),
            Box::new(M0002BridgeAndInterlock),
            Box::new(super::migration_trace::TraceParentMigration),
            Box::new(super::migration_placements::PlacementsMigration),
            Box::new(super::migration_capacity::CapacitySlotsMigration),
            Box::new(super::migration_bridge_choices::BridgeChoicesMigration),
            Box::new(super::migration_relationships::RelationshipsMigration),
            Box::new(super::migration_placement_lease::PlacementLeaseMigration),
            Box::new(super::migration_order_index::OrderIndexMigration),
            Box::new(super::migration_scoped_keys::ScopedKeysMigration),
            Box::new(super::migration_bridge_pending::BridgePendingIndexMigration),
        ]
    }
}

#[derive(DeriveIden)]
enum WaitlistEntries {
    Table,
    Id,
    IdempotencyKey,
    ClientId,
    IntakeId,
    OrganizationId,
    Band,
    RiskLevel,
    CandidateProviderIds,
    Status,
    LevelOfCare,
    AgeGroup,
    RemovalReason,
    MissedCheckIns,
    OutreachOpen,
    NextCheckInAtMs,
    EnqueuedAtMs,
    UpdatedAtMs,
    Version,
    BridgeSupport,
    InterlockRequired,
}

#[derive(DeriveIden)]
enum Offers {
    Table,
    Id,
    EntryId,
    ProviderId,
    Status,
    OfferedAtMs,
    ExpiresAtMs,
    RespondedAtMs,
    ReferralId,
    AppointmentAtMs,
}

#[derive(DeriveIden)]
enum CheckIns {
    Table,
    Id,
    EntryId,
    Answered,
    Items,
    Phq9Total,
    Gad7Total,
    BandBefore,
    BandAfter,
    Rules,
    OutreachOpened,
    RecordedAtMs,
    Interlock,
}

/// Entries, offers and check-ins.
#[derive(DeriveMigrationName)]
struct M0001Waitlist;

#[async_trait::async_trait]
impl MigrationTrait for M0001Waitlist {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(WaitlistEntries::Table)
                .if_not_exists()
                .col(string_len(WaitlistEntries::Id, 36).primary_key())
                .col(string_len(WaitlistEntries::IdempotencyKey, 128).unique_key())
                .col(string_len(WaitlistEntries::ClientId, 36))
                .col(string_len(WaitlistEntries::IntakeId, 36))
                .col(string_len(WaitlistEntries::OrganizationId, 36))
                .col(string_len(WaitlistEntries::Band, 16))
                .col(string_len_null(WaitlistEntries::RiskLevel, 16))
                .col(text(WaitlistEntries::CandidateProviderIds))
                .col(string_len(WaitlistEntries::Status, 16))
                .col(string_len_null(WaitlistEntries::LevelOfCare, 32))
                .col(string_len_null(WaitlistEntries::AgeGroup, 16))
                .col(string_len_null(WaitlistEntries::RemovalReason, 200))
                .col(integer(WaitlistEntries::MissedCheckIns))
                .col(boolean(WaitlistEntries::OutreachOpen))
                .col(big_integer(WaitlistEntries::NextCheckInAtMs))
                .col(big_integer(WaitlistEntries::EnqueuedAtMs))
                .col(big_integer(WaitlistEntries::UpdatedAtMs))
                .col(big_integer(WaitlistEntries::Version))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("waitlist_entries_status")
                .table(WaitlistEntries::Table)
                .col(WaitlistEntries::Status)
                .col(WaitlistEntries::OrganizationId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Offers::Table)
                .if_not_exists()
                .col(string_len(Offers::Id, 36).primary_key())
                .col(string_len(Offers::EntryId, 36))
                .col(string_len(Offers::ProviderId, 36))
                .col(string_len(Offers::Status, 16))
                .col(big_integer(Offers::OfferedAtMs))
                .col(big_integer(Offers::ExpiresAtMs))
                .col(big_integer_null(Offers::RespondedAtMs))
                .col(string_len_null(Offers::ReferralId, 64))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("offers_entry")
                .table(Offers::Table)
                .col(Offers::EntryId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("offers_status_expiry")
                .table(Offers::Table)
                .col(Offers::Status)
                .col(Offers::ExpiresAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("offers_provider_status")
                .table(Offers::Table)
                .col(Offers::ProviderId)
                .col(Offers::Status)
                .col(Offers::RespondedAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // At most one pending offer per entry (the same partial-index syntax works on SQLite and PostgreSQL).
        m.get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS offers_one_pending_per_entry ON offers (entry_id) WHERE status = 'pending'",
            )
            .await?;
        m.create_table(
            Table::create()
                .table(CheckIns::Table)
                .if_not_exists()
                .col(string_len(CheckIns::Id, 36).primary_key())
                .col(string_len(CheckIns::EntryId, 36))
                .col(boolean(CheckIns::Answered))
                .col(text_null(CheckIns::Items))
                .col(integer_null(CheckIns::Phq9Total))
                .col(integer_null(CheckIns::Gad7Total))
                .col(string_len(CheckIns::BandBefore, 16))
                .col(string_len(CheckIns::BandAfter, 16))
                .col(text(CheckIns::Rules))
                .col(boolean(CheckIns::OutreachOpened))
                .col(big_integer(CheckIns::RecordedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("check_ins_entry")
                .table(CheckIns::Table)
                .col(CheckIns::EntryId)
                .col(CheckIns::RecordedAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(CheckIns::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Offers::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(WaitlistEntries::Table).to_owned()).await
    }
}

/// Bridge supports, the risk-rise interlock and first appointments (for the metrics). One column per
/// statement (SQLite alters one column at a time).
struct M0002BridgeAndInterlock;

// Named by hand: `DeriveMigrationName` names a migration after its file, which M0001 already uses.
impl MigrationName for M0002BridgeAndInterlock {
    fn name(&self) -> &str {
        "m0002_waitlist_bridge_and_interlock"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002BridgeAndInterlock {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(WaitlistEntries::Table)
                .add_column(string_len_null(WaitlistEntries::BridgeSupport, 32))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(WaitlistEntries::Table)
                .add_column(boolean(WaitlistEntries::InterlockRequired).default(false))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Offers::Table)
                .add_column(big_integer_null(Offers::AppointmentAtMs))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(CheckIns::Table)
                .add_column(boolean(CheckIns::Interlock).default(false))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(CheckIns::Table).drop_column(CheckIns::Interlock).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(Offers::Table).drop_column(Offers::AppointmentAtMs).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(WaitlistEntries::Table)
                .drop_column(WaitlistEntries::InterlockRequired)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(WaitlistEntries::Table)
                .drop_column(WaitlistEntries::BridgeSupport)
                .to_owned(),
        )
        .await
    }
}
