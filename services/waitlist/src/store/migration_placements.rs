//! Migration: `placements`, one row per accepted offer, following its referral until the second
//! appointment is attended (the hidden wait) or the referral ends. Its own file, named by hand
//! (`DeriveMigrationName` names a migration after its file).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum Placements {
    Table,
    OfferId,
    ReferralId,
    EntryId,
    OrganizationId,
    FirstAttendedAtMs,
    SecondAttendedAtMs,
    Closed,
    NextCheckAtMs,
    Checks,
    CreatedAtMs,
}

/// Creates `placements` with an index on what the follow-up worker polls.
#[derive(Debug)]
pub struct PlacementsMigration;

impl MigrationName for PlacementsMigration {
    fn name(&self) -> &str {
        "m_waitlist_placements"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PlacementsMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Placements::Table)
                .if_not_exists()
                .col(string_len(Placements::OfferId, 36).primary_key())
                .col(string_len(Placements::ReferralId, 36))
                .col(string_len(Placements::EntryId, 36))
                .col(string_len(Placements::OrganizationId, 36))
                .col(big_integer_null(Placements::FirstAttendedAtMs))
                .col(big_integer_null(Placements::SecondAttendedAtMs))
                .col(boolean(Placements::Closed).default(false))
                .col(big_integer(Placements::NextCheckAtMs))
                .col(integer(Placements::Checks).default(0))
                .col(big_integer(Placements::CreatedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_placements_due")
                .table(Placements::Table)
                .col(Placements::Closed)
                .col(Placements::NextCheckAtMs)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Placements::Table).to_owned()).await
    }
}
