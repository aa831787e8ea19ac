//! The matching service's schema, as sea-orm migrations. Run at start-up and by `continuum migrate`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// All migrations of the matching service, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Directory),
            Box::new(M0002AllianceStats),
            Box::new(super::migration_capacity::M0003CohortSeats),
            Box::new(super::migration_alliance_segments::M0004AllianceSegments),
            Box::new(super::migration_import_keys::M0005ImportKeys),
            Box::new(super::migration_has_cohorts::M0006HasCohorts),
        ]
    }
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    OrganizationId,
    DisplayName,
    Kind,
    Profile,
    AcceptingNewClients,
    OpenSlots,
    Version,
    CreatedAtMs,
    UpdatedAtMs,
    FeedbackCount,
    SrsSum,
    StyleWeight,
    StyleDirSum,
    StyleIntSum,
    StylePastSum,
    StyleChalSum,
    StatsUpdatedAtMs,
}

#[derive(DeriveIden)]
enum CapacityHolds {
    Table,
    HoldKey,
    ProviderId,
    Delta,
    AppliedAtMs,
}

#[derive(DeriveIden)]
enum SessionFeedback {
    Table,
    Id,
    ProviderId,
    ClientId,
    SessionNumber,
    SrsTotal,
    OrsTotal,
    Items,
    RecordedAtMs,
}

/// Providers, capacity holds and session feedback.
#[derive(DeriveMigrationName)]
struct M0001Directory;

#[async_trait::async_trait]
impl MigrationTrait for M0001Directory {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Providers::Table)
                .if_not_exists()
                .col(string_len(Providers::Id, 36).primary_key())
                .col(string_len(Providers::OrganizationId, 36))
                .col(string_len(Providers::DisplayName, 200))
                .col(string_len(Providers::Kind, 32))
                .col(text(Providers::Profile))
                .col(boolean(Providers::AcceptingNewClients))
                .col(integer(Providers::OpenSlots))
                .col(big_integer(Providers::Version))
                .col(big_integer(Providers::CreatedAtMs))
                .col(big_integer(Providers::UpdatedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("providers_org")
                .table(Providers::Table)
                .col(Providers::OrganizationId)
                .col(Providers::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CapacityHolds::Table)
                .if_not_exists()
                .col(string_len(CapacityHolds::HoldKey, 160).primary_key())
                .col(string_len(CapacityHolds::ProviderId, 36))
                .col(integer(CapacityHolds::Delta))
                .col(big_integer(CapacityHolds::AppliedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SessionFeedback::Table)
                .if_not_exists()
                .col(string_len(SessionFeedback::Id, 36).primary_key())
                .col(string_len(SessionFeedback::ProviderId, 36))
                .col(string_len(SessionFeedback::ClientId, 36))
                .col(integer(SessionFeedback::SessionNumber))
                .col(double(SessionFeedback::SrsTotal))
                .col(double(SessionFeedback::OrsTotal))
                .col(text(SessionFeedback::Items))
                .col(big_integer(SessionFeedback::RecordedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("feedback_provider_client")
                .table(SessionFeedback::Table)
                .col(SessionFeedback::ProviderId)
                .col(SessionFeedback::ClientId)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SessionFeedback::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(CapacityHolds::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Providers::Table).to_owned()).await
    }
}

/// Alliance statistics on providers (kept by atomic increments with each feedback) and an index for
/// the delta refresh of the in-memory directory. One column per statement: SQLite alters one at a time.
struct M0002AllianceStats;

// Named by hand: `DeriveMigrationName` names a migration after its file, which M0001 already uses.
impl MigrationName for M0002AllianceStats {
    fn name(&self) -> &str {
        "m0002_alliance_stats"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002AllianceStats {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [Providers::FeedbackCount, Providers::StatsUpdatedAtMs] {
            m.alter_table(
                Table::alter()
                    .table(Providers::Table)
                    .add_column(big_integer(col).default(0))
                    .to_owned(),
            )
            .await?;
        }
        for col in [
            Providers::SrsSum,
            Providers::StyleWeight,
            Providers::StyleDirSum,
            Providers::StyleIntSum,
            Providers::StylePastSum,
            Providers::StyleChalSum,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Providers::Table)
                    .add_column(double(col).default(0.0))
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("providers_updated")
                .table(Providers::Table)
                .col(Providers::UpdatedAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("providers_stats_updated")
                .table(Providers::Table)
                .col(Providers::StatsUpdatedAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop().name("providers_stats_updated").table(Providers::Table).to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("providers_updated").table(Providers::Table).to_owned())
            .await?;
        for col in [
            Providers::FeedbackCount,
            Providers::StatsUpdatedAtMs,
            Providers::SrsSum,
            Providers::StyleWeight,
            Providers::StyleDirSum,
            Providers::StyleIntSum,
            Providers::StylePastSum,
            Providers::StyleChalSum,
        ] {
            m.alter_table(Table::alter().table(Providers::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
