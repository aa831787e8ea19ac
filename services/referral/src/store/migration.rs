//! The referral service's schema, as sea-orm migrations. Run at start-up and by `continuum migrate`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// All migrations of the referral service, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Referrals),
            Box::new(M0002Deadlines),
            Box::new(super::migration_trace::TraceParentMigration),
            Box::new(super::migration_feed::FeedSeqMigration),
            Box::new(super::migration_capacity::CapacityHoldsMigration),
            Box::new(super::migration_keys::ScopedKeysMigration),
        ]
    }
}

#[derive(DeriveIden)]
enum Referrals {
    Table,
    Id,
    IdempotencyKey,
    ClientId,
    IntakeId,
    ReferrerOrganizationId,
    RecipientOrganizationId,
    ProviderId,
    Status,
    Urgency,
    Overbooked,
    ResponseDueAtMs,
    CareStartedAtMs,
    Version,
    CreatedAtMs,
    UpdatedAtMs,
    EscalatedAtMs,
    AlternativeProviderIds,
    NeedsReroute,
    ReroutedToReferralId,
    ReroutedFromReferralId,
}

#[derive(DeriveIden)]
enum ReferralEvents {
    Table,
    Id,
    ReferralId,
    ClientId,
    Action,
    FromStatus,
    ToStatus,
    ActorRole,
    ActorOrganizationId,
    ActorUserId,
    RejectionReason,
    Note,
    AppointmentAtMs,
    OccurredAtMs,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Kind,
    ReferralId,
    ProviderId,
    Delta,
    HoldKey,
    State,
    Attempts,
    NextAttemptAtMs,
    LeaseOwner,
    LeaseUntilMs,
    LastError,
    CreatedAtMs,
    FinishedAtMs,
}

/// Referrals, their events and the outbox.
#[derive(DeriveMigrationName)]
struct M0001Referrals;

#[async_trait::async_trait]
impl MigrationTrait for M0001Referrals {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Referrals::Table)
                .if_not_exists()
                .col(string_len(Referrals::Id, 36).primary_key())
                .col(string_len_uniq(Referrals::IdempotencyKey, 128))
                .col(string_len(Referrals::ClientId, 36))
                .col(string_len(Referrals::IntakeId, 36))
                .col(string_len(Referrals::ReferrerOrganizationId, 36))
                .col(string_len(Referrals::RecipientOrganizationId, 36))
                .col(string_len(Referrals::ProviderId, 36))
                .col(string_len(Referrals::Status, 32))
                .col(string_len(Referrals::Urgency, 32))
                .col(boolean(Referrals::Overbooked))
                .col(big_integer(Referrals::ResponseDueAtMs))
                .col(big_integer_null(Referrals::CareStartedAtMs))
                .col(big_integer(Referrals::Version))
                .col(big_integer(Referrals::CreatedAtMs))
                .col(big_integer(Referrals::UpdatedAtMs))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("referrals_referrer", Referrals::ReferrerOrganizationId),
            ("referrals_recipient", Referrals::RecipientOrganizationId),
            ("referrals_client", Referrals::ClientId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Referrals::Table)
                    .col(col)
                    .col(Referrals::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("referrals_overdue")
                .table(Referrals::Table)
                .col(Referrals::Status)
                .col(Referrals::ResponseDueAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReferralEvents::Table)
                .if_not_exists()
                .col(string_len(ReferralEvents::Id, 36).primary_key())
                .col(string_len(ReferralEvents::ReferralId, 36))
                .col(string_len(ReferralEvents::ClientId, 36))
                .col(string_len_null(ReferralEvents::Action, 48))
                .col(string_len_null(ReferralEvents::FromStatus, 32))
                .col(string_len(ReferralEvents::ToStatus, 32))
                .col(string_len(ReferralEvents::ActorRole, 32))
                .col(string_len(ReferralEvents::ActorOrganizationId, 36))
                .col(string_len_null(ReferralEvents::ActorUserId, 128))
                .col(string_len_null(ReferralEvents::RejectionReason, 48))
                .col(text_null(ReferralEvents::Note))
                .col(big_integer_null(ReferralEvents::AppointmentAtMs))
                .col(big_integer(ReferralEvents::OccurredAtMs))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("referral_events_referral", ReferralEvents::ReferralId),
            ("referral_events_client", ReferralEvents::ClientId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(ReferralEvents::Table)
                    .col(col)
                    .col(ReferralEvents::OccurredAtMs)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .if_not_exists()
                .col(string_len(Outbox::Id, 36).primary_key())
                .col(string_len(Outbox::Kind, 32))
                .col(string_len(Outbox::ReferralId, 36))
                .col(string_len(Outbox::ProviderId, 36))
                .col(integer(Outbox::Delta))
                .col(string_len(Outbox::HoldKey, 160))
                .col(string_len(Outbox::State, 16))
                .col(integer(Outbox::Attempts))
                .col(big_integer(Outbox::NextAttemptAtMs))
                .col(string_len_null(Outbox::LeaseOwner, 36))
                .col(big_integer(Outbox::LeaseUntilMs))
                .col(string_len_null(Outbox::LastError, 64))
                .col(big_integer(Outbox::CreatedAtMs))
                .col(big_integer_null(Outbox::FinishedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("outbox_due")
                .table(Outbox::Table)
                .col(Outbox::State)
                .col(Outbox::NextAttemptAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Outbox::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(ReferralEvents::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Referrals::Table).to_owned()).await
    }
}

/// Deadlines and re-routing: when a silent referral was escalated, the ranked alternatives a "no"
/// re-routes to, whether a re-route is owed, and the links between a referral and its re-route. One column
/// per statement (SQLite alters one column at a time).
struct M0002Deadlines;

// Named by hand: `DeriveMigrationName` names a migration after its file, which M0001 already uses.
impl MigrationName for M0002Deadlines {
    fn name(&self) -> &str {
        "m0002_referral_deadlines"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Deadlines {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            big_integer_null(Referrals::EscalatedAtMs),
            text_null(Referrals::AlternativeProviderIds),
            boolean(Referrals::NeedsReroute).default(false).to_owned(),
            string_len_null(Referrals::ReroutedToReferralId, 36),
            string_len_null(Referrals::ReroutedFromReferralId, 36),
        ];
        for mut col in columns {
            m.alter_table(Table::alter().table(Referrals::Table).add_column(&mut col).to_owned())
                .await?;
        }
        m.create_index(
            Index::create()
                .name("referrals_needs_reroute")
                .table(Referrals::Table)
                .col(Referrals::NeedsReroute)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop().name("referrals_needs_reroute").table(Referrals::Table).to_owned(),
        )
        .await?;
        for col in [
            Referrals::ReroutedFromReferralId,
            Referrals::ReroutedToReferralId,
            Referrals::NeedsReroute,
            Referrals::AlternativeProviderIds,
            Referrals::EscalatedAtMs,
        ] {
            m.alter_table(Table::alter().table(Referrals::Table).drop_column(col).to_owned())
                .await?;
        }
        Ok(())
    }
}
