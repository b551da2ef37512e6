//! The control database's job queue (platform jobs: sub-processor activations, disclosure-notice releases), notices to
//! our own staff (request reminders for privacy officers, dead jobs), and where each sub-processor takes erasure
//! requests.

use sea_orm_migration::{prelude::*, schema::*};

use crate::jobs_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Null: erasure requests are sent by hand and confirmed by a named person.
        manager
            .alter_table(
                Table::alter()
                    .table(Subprocessors::Table)
                    .add_column(string_len_null(Subprocessors::ErasureEndpoint, 500))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StaffNotices::Table)
                    .col(uuid(StaffNotices::Id).primary_key())
                    .col(string_len(StaffNotices::Role, 32))
                    .col(string_len(StaffNotices::Kind, 48))
                    .col(uuid_null(StaffNotices::TenantId))
                    .col(string_len_null(StaffNotices::ObjectId, 64))
                    .col(string_len(StaffNotices::Title, 300))
                    .col(text(StaffNotices::Body))
                    .col(timestamp_with_time_zone(StaffNotices::CreatedAt))
                    .col(string_len_null(StaffNotices::AcknowledgedBy, 300))
                    .col(timestamp_with_time_zone_null(StaffNotices::AcknowledgedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("staff_notices_role")
                    .table(StaffNotices::Table)
                    .col(StaffNotices::Role)
                    .col(StaffNotices::CreatedAt)
                    .to_owned(),
            )
            .await?;
        jobs_table::create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        jobs_table::drop(manager).await?;
        manager
            .drop_table(Table::drop().table(StaffNotices::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Subprocessors::Table)
                    .drop_column(Subprocessors::ErasureEndpoint)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Subprocessors {
    Table,
    ErasureEndpoint,
}

#[derive(DeriveIden)]
enum StaffNotices {
    Table,
    Id,
    Role,
    Kind,
    TenantId,
    ObjectId,
    Title,
    Body,
    CreatedAt,
    AcknowledgedBy,
    AcknowledgedAt,
}
