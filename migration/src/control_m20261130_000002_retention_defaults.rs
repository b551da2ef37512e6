//! The platform's default retention period per data category, applied where a tenant set no rule of its own.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RetentionDefaults::Table)
                    .col(string_len(RetentionDefaults::Category, 64).primary_key())
                    .col(integer(RetentionDefaults::PeriodDays))
                    .col(string_len(RetentionDefaults::SetBy, 300))
                    .col(timestamp_with_time_zone(RetentionDefaults::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RetentionDefaults::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RetentionDefaults {
    Table,
    Category,
    PeriodDays,
    SetBy,
    UpdatedAt,
}
