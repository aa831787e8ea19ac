//! Import keys: `provider_import_keys` remembers, per organization, each `ImportProviders` item's key, the
//! fingerprint of the item and the provider and version it wrote, so a re-sent stream is answered
//! "unchanged" instead of writing (or creating) again. Written in the import's own transaction; rows older
//! than the retention are deleted by the next import of the organization.
//!
//! Named by hand: `DeriveMigrationName` names a migration after its file.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveIden)]
enum ProviderImportKeys {
    Table,
    OrganizationId,
    ImportKey,
    Fingerprint,
    ProviderId,
    Version,
    ImportedAtMs,
}

/// The `provider_import_keys` table.
pub struct M0005ImportKeys;

impl MigrationName for M0005ImportKeys {
    fn name(&self) -> &str {
        "m0005_import_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005ImportKeys {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ProviderImportKeys::Table)
                .if_not_exists()
                .col(string_len(ProviderImportKeys::OrganizationId, 36))
                .col(string_len(ProviderImportKeys::ImportKey, 128))
                .col(string_len(ProviderImportKeys::Fingerprint, 64))
                .col(string_len(ProviderImportKeys::ProviderId, 36))
                .col(big_integer(ProviderImportKeys::Version))
                .col(big_integer(ProviderImportKeys::ImportedAtMs))
                .primary_key(
                    Index::create()
                        .col(ProviderImportKeys::OrganizationId)
                        .col(ProviderImportKeys::ImportKey),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_provider_import_keys_age")
                .table(ProviderImportKeys::Table)
                .col(ProviderImportKeys::OrganizationId)
                .col(ProviderImportKeys::ImportedAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ProviderImportKeys::Table).to_owned()).await
    }
}
