//! Migration: the placements become a leased queue (`continuum_outbox`): they take the shared lease columns,
//! so a replica's claim no longer moves the next check time. Named by hand: `DeriveMigrationName` names a
//! migration after its file.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Placements {
    Table,
    LeaseOwner,
    LeaseUntilMs,
}

/// Adds the lease columns to `placements`, one per statement (SQLite alters one column at a time).
#[derive(Debug)]
pub struct PlacementLeaseMigration;

impl MigrationName for PlacementLeaseMigration {
    fn name(&self) -> &str {
        "m_waitlist_placement_lease"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PlacementLeaseMigration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for mut column in continuum_outbox::lease_columns() {
            m.alter_table(
                Table::alter().table(Placements::Table).add_column(&mut column).to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Placements::LeaseUntilMs, Placements::LeaseOwner] {
            m.alter_table(Table::alter().table(Placements::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
