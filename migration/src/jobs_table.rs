//! The durable job queue's table, the same in the control database and in every region database. Shared by the two
//! migrations that create it; once landed, its shape changes only through new migrations.

use sea_orm_migration::{prelude::*, schema::*};

pub(crate) async fn create(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Jobs::Table)
                .col(uuid(Jobs::Id).primary_key())
                .col(string_len(Jobs::Kind, 64))
                .col(uuid_null(Jobs::TenantId))
                .col(text(Jobs::Payload))
                // Makes enqueueing idempotent: a second job with the same key is not created.
                .col(string_len_null(Jobs::DedupeKey, 200).unique_key())
                .col(string_len(Jobs::State, 12))
                .col(integer(Jobs::Attempts).default(0))
                .col(integer(Jobs::MaxAttempts))
                .col(timestamp_with_time_zone(Jobs::RunAt))
                .col(string_len_null(Jobs::LockedBy, 100))
                .col(timestamp_with_time_zone_null(Jobs::LockedUntil))
                .col(text_null(Jobs::LastError))
                .col(timestamp_with_time_zone(Jobs::CreatedAt))
                .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                .col(timestamp_with_time_zone_null(Jobs::FinishedAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("jobs_due")
                .table(Jobs::Table)
                .col(Jobs::State)
                .col(Jobs::RunAt)
                .to_owned(),
        )
        .await
}

pub(crate) async fn drop(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(Jobs::Table).to_owned())
        .await
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    Kind,
    TenantId,
    Payload,
    DedupeKey,
    State,
    Attempts,
    MaxAttempts,
    RunAt,
    LockedBy,
    LockedUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}
