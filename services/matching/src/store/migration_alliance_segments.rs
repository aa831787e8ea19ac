//! Alliance learning from similar clients: `alliance_segments` holds, per provider and client segment
//! (age group, or age group and main concern; see `domain::alliance::ClientSegment`), the number of SRS
//! ratings and their sum, kept by atomic increments (`INSERT .. ON CONFLICT DO UPDATE`) with each
//! session feedback.
//!
//! Named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum AllianceSegments {
    Table,
    ProviderId,
    Segment,
    Ratings,
    SrsSum,
    UpdatedAtMs,
}

/// The `alliance_segments` table.
pub struct M0004AllianceSegments;

impl MigrationName for M0004AllianceSegments {
    fn name(&self) -> &str {
        "m0004_alliance_segments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004AllianceSegments {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AllianceSegments::Table)
                .if_not_exists()
                .col(string_len(AllianceSegments::ProviderId, 36))
                .col(string_len(AllianceSegments::Segment, 64))
                .col(big_integer(AllianceSegments::Ratings).default(0))
                .col(double(AllianceSegments::SrsSum).default(0.0))
                .col(big_integer(AllianceSegments::UpdatedAtMs))
                .primary_key(
                    Index::create()
                        .col(AllianceSegments::ProviderId)
                        .col(AllianceSegments::Segment),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AllianceSegments::Table).to_owned()).await
    }
}
