//! The full export of a departing tenant's personal data (RETURN_THEN_DELETE), sealed with a key of its own that the
//! tenant key wraps; deleted with everything else when the grace period ends.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantExports::Table)
                    .col(uuid(TenantExports::TenantId))
                    .col(uuid(TenantExports::Id))
                    .col(binary(TenantExports::WrappedKey))
                    .col(binary(TenantExports::Sealed))
                    .col(integer(TenantExports::Subjects))
                    .col(integer(TenantExports::ValuesExported))
                    .col(integer(TenantExports::Downloads).default(0))
                    .col(timestamp_with_time_zone(TenantExports::CreatedAt))
                    .col(timestamp_with_time_zone(TenantExports::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(TenantExports::TenantId)
                            .col(TenantExports::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TenantExports::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TenantExports {
    Table,
    TenantId,
    Id,
    WrappedKey,
    Sealed,
    Subjects,
    ValuesExported,
    Downloads,
    CreatedAt,
    ExpiresAt,
}
