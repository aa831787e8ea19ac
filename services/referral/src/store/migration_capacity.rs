//! Migration: `referral_capacity_holds`, the matching hold key a referral's slot was taken under when
//! someone else took it (an accepted waitlist offer for a matching capacity event: `capacity_hold_key` of
//! CreateReferral). The capacity release names it, so a program's seat goes back to its cohort. Named by
//! hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum ReferralCapacityHolds {
    Table,
    ReferralId,
    HoldKey,
    CreatedAtMs,
}

/// Creates `referral_capacity_holds`.
#[derive(Debug)]
pub struct CapacityHoldsMigration;

impl MigrationName for CapacityHoldsMigration {
    fn name(&self) -> &str {
        "m_referral_capacity_holds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CapacityHoldsMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ReferralCapacityHolds::Table)
                .if_not_exists()
                .col(string_len(ReferralCapacityHolds::ReferralId, 36).primary_key())
                .col(string_len(ReferralCapacityHolds::HoldKey, 160))
                .col(big_integer(ReferralCapacityHolds::CreatedAtMs))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ReferralCapacityHolds::Table).to_owned()).await
    }
}
