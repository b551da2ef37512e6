//! The erasure journal: every erasure of subjects and every retention deletion, recorded in the control database
//! before the region's transaction deletes, so that a region restored from a backup taken earlier can have them
//! applied again (`steward restore`). Ids only: no value, no category.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ErasureJournal::Table)
                    .if_not_exists()
                    .col(uuid(ErasureJournal::Id).primary_key())
                    .col(uuid(ErasureJournal::TenantId))
                    .col(string_len(ErasureJournal::Region, 32))
                    .col(string_len(ErasureJournal::Kind, 16))
                    .col(text(ErasureJournal::Ids))
                    .col(uuid_null(ErasureJournal::RequestId))
                    .col(timestamp_with_time_zone(ErasureJournal::RecordedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("erasure_journal_region_recorded")
                    .table(ErasureJournal::Table)
                    .col(ErasureJournal::Region)
                    .col(ErasureJournal::RecordedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ErasureJournal::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ErasureJournal {
    Table,
    Id,
    TenantId,
    Region,
    Kind,
    Ids,
    RequestId,
    RecordedAt,
}
