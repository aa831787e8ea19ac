//! Capacity migrations of the matching service: program cohorts as rows with their own seat counts (so
//! a seat is taken with a conditional UPDATE, like a clinician's slot), the cohort a hold took from, and
//! the capacity-event outbox that tells the waitlist when a provider's capacity rises.
//!
//! Named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    Profile,
}

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    ProviderId,
    Code,
    StartMs,
    Seats,
    OpenSeats,
}

#[derive(DeriveIden)]
enum CapacityHolds {
    Table,
    CohortCode,
}

#[derive(DeriveIden)]
enum CapacityEvents {
    Table,
    Id,
    ProviderId,
    OrganizationId,
    Slots,
    Traceparent,
    State,
    Attempts,
    NextAttemptAtMs,
    LeaseOwner,
    LeaseUntilMs,
    LastError,
    CreatedAtMs,
    FinishedAtMs,
}

/// `cohorts` (seeded from the providers' stored profiles), `capacity_holds.cohort_code` and
/// `capacity_events`.
pub struct M0003CohortSeats;

impl MigrationName for M0003CohortSeats {
    fn name(&self) -> &str {
        "m0003_cohort_seats_capacity_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003CohortSeats {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Cohorts::Table)
                .if_not_exists()
                .col(string_len(Cohorts::ProviderId, 36))
                .col(string_len(Cohorts::Code, 64))
                .col(big_integer(Cohorts::StartMs))
                .col(integer(Cohorts::Seats))
                .col(integer(Cohorts::OpenSeats))
                .primary_key(Index::create().col(Cohorts::ProviderId).col(Cohorts::Code))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(CapacityHolds::Table)
                .add_column(string_len_null(CapacityHolds::CohortCode, 64))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CapacityEvents::Table)
                .if_not_exists()
                .col(string_len(CapacityEvents::Id, 36).primary_key())
                .col(string_len(CapacityEvents::ProviderId, 36))
                .col(string_len(CapacityEvents::OrganizationId, 36))
                .col(integer(CapacityEvents::Slots))
                .col(string_len_null(CapacityEvents::Traceparent, 128))
                .col(string_len(CapacityEvents::State, 16))
                .col(integer(CapacityEvents::Attempts))
                .col(big_integer(CapacityEvents::NextAttemptAtMs))
                .col(string_len_null(CapacityEvents::LeaseOwner, 64))
                .col(big_integer(CapacityEvents::LeaseUntilMs))
                .col(string_len_null(CapacityEvents::LastError, 200))
                .col(big_integer(CapacityEvents::CreatedAtMs))
                .col(big_integer_null(CapacityEvents::FinishedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("capacity_events_due")
                .table(CapacityEvents::Table)
                .col(CapacityEvents::State)
                .col(CapacityEvents::NextAttemptAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        // Seed the cohort rows from the profiles written before this migration.
        let db = m.get_connection();
        let rows = db
            .query_all(
                &Query::select()
                    .columns([Providers::Id, Providers::Profile])
                    .from(Providers::Table)
                    .to_owned(),
            )
            .await?;
        for row in rows {
            let id: String = row.try_get("", "id")?;
            let profile: String = row.try_get("", "profile")?;
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&profile) else { continue };
            for c in json.get("cohorts").and_then(|c| c.as_array()).into_iter().flatten() {
                let (Some(code), Some(start), Some(seats), Some(open)) = (
                    c.get("code").and_then(|v| v.as_str()),
                    c.get("start_ms").and_then(serde_json::Value::as_i64),
                    c.get("seats")
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|v| <i32 as std::convert::TryFrom<i64>>::try_from(v).ok()),
                    c.get("open_seats")
                        .and_then(serde_json::Value::as_i64)
                        .and_then(|v| <i32 as std::convert::TryFrom<i64>>::try_from(v).ok()),
                ) else {
                    continue;
                };
                m.exec_stmt(
                    Query::insert()
                        .into_table(Cohorts::Table)
                        .columns([
                            Cohorts::ProviderId,
                            Cohorts::Code,
                            Cohorts::StartMs,
                            Cohorts::Seats,
                            Cohorts::OpenSeats,
                        ])
                        .values_panic([
                            id.clone().into(),
                            code.to_owned().into(),
                            start.into(),
                            seats.into(),
                            open.into(),
                        ])
                        .to_owned(),
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop().name("capacity_events_due").table(CapacityEvents::Table).to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(CapacityEvents::Table).to_owned()).await?;
        m.alter_table(
            Table::alter()
                .table(CapacityHolds::Table)
                .drop_column(CapacityHolds::CohortCode)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Cohorts::Table).to_owned()).await
    }
}
