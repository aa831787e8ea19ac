//! Migration: `referral_events.seq`, the position of an event in the commit-ordered feed that
//! `WatchReferrals` reads. On PostgreSQL it defaults to the writing transaction's id
//! (`pg_current_xact_id()`), and a watch reads only below the oldest transaction still running, so an event
//! committed late — however late — is never skipped. On SQLite (one writer at a time) the store sets it to
//! the next number inside the writing transaction, which is commit order. Existing rows get 0 (ordered by id
//! among themselves, before every new one). Its own file, named by hand.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum ReferralEvents {
    Table,
    Seq,
    Id,
}

/// Adds `seq` and its index.
#[derive(Debug)]
pub struct FeedSeqMigration;

impl MigrationName for FeedSeqMigration {
    fn name(&self) -> &str {
        "m_referral_event_feed_seq"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for FeedSeqMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ReferralEvents::Table)
                .add_column(big_integer(ReferralEvents::Seq).default(0))
                .to_owned(),
        )
        .await?;
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared("ALTER TABLE referral_events ALTER COLUMN seq SET DEFAULT (pg_current_xact_id()::text::bigint)")
                .await?;
        }
        m.create_index(
            Index::create()
                .name("idx_referral_events_feed")
                .table(ReferralEvents::Table)
                .col(ReferralEvents::Seq)
                .col(ReferralEvents::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop().name("idx_referral_events_feed").table(ReferralEvents::Table).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table(ReferralEvents::Table).drop_column(ReferralEvents::Seq).to_owned(),
        )
        .await
    }
}
