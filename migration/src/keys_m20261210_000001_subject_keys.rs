//! The subject-key database of a region: each data subject's key, wrapped under its tenant's key, kept apart from the
//! region database that holds the values it opens. An erasure deletes the key here too, so a region database restored
//! from a backup taken before the erasure holds values nothing can open any more.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SubjectKeys::Table)
                    .if_not_exists()
                    .col(uuid(SubjectKeys::SubjectId).primary_key())
                    .col(uuid(SubjectKeys::TenantId))
                    .col(blob(SubjectKeys::WrappedKey))
                    .col(timestamp_with_time_zone(SubjectKeys::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("subject_keys_tenant")
                    .table(SubjectKeys::Table)
                    .col(SubjectKeys::TenantId)
                    .col(SubjectKeys::SubjectId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SubjectKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SubjectKeys {
    Table,
    SubjectId,
    TenantId,
    WrappedKey,
    CreatedAt,
}
