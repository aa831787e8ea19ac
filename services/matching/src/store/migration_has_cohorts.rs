//! `providers.has_cohorts`: whether a provider's capacity is its cohorts' seats, on the provider's own row,
//! so that a take of a provider without cohorts is one conditional UPDATE that checks it on the row it
//! locks (`seats::Store::take_open_slots`, issue 12). Set from the cohort rows written before.
//!
//! Named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    HasCohorts,
}

#[derive(DeriveIden)]
enum Cohorts {
    Table,
    ProviderId,
}

/// The `providers.has_cohorts` column.
pub struct M0006HasCohorts;

impl MigrationName for M0006HasCohorts {
    fn name(&self) -> &str {
        "m0006_providers_has_cohorts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006HasCohorts {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Providers::Table)
                .add_column(boolean(Providers::HasCohorts).default(false))
                .to_owned(),
        )
        .await?;
        let with_cohorts =
            Query::select().column(Cohorts::ProviderId).from(Cohorts::Table).to_owned();
        m.exec_stmt(
            Query::update()
                .table(Providers::Table)
                .value(Providers::HasCohorts, true)
                .and_where(Expr::col(Providers::Id).in_subquery(with_cohorts))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Providers::Table).drop_column(Providers::HasCohorts).to_owned(),
        )
        .await
    }
}
