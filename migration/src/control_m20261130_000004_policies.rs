//! Published versions of the privacy policy and terms, and recorded business transfers (changes of control).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PolicyVersions::Table)
                    .col(uuid(PolicyVersions::Id).primary_key())
                    .col(string_len(PolicyVersions::Document, 32))
                    .col(string_len(PolicyVersions::Version, 50))
                    .col(date(PolicyVersions::EffectiveOn))
                    .col(boolean(PolicyVersions::Material))
                    .col(text(PolicyVersions::Summary))
                    .col(string_len_null(PolicyVersions::Url, 500))
                    .col(string_len(PolicyVersions::PublishedBy, 300))
                    .col(timestamp_with_time_zone(PolicyVersions::PublishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("policy_versions_unique")
                    .table(PolicyVersions::Table)
                    .col(PolicyVersions::Document)
                    .col(PolicyVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BusinessTransfers::Table)
                    .col(uuid(BusinessTransfers::Id).primary_key())
                    .col(string_len(BusinessTransfers::Acquirer, 200))
                    .col(date(BusinessTransfers::EffectiveOn))
                    .col(text(BusinessTransfers::Changes))
                    .col(string_len(BusinessTransfers::RecordedBy, 300))
                    .col(timestamp_with_time_zone(BusinessTransfers::RecordedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BusinessTransfers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(PolicyVersions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PolicyVersions {
    Table,
    Id,
    Document,
    Version,
    EffectiveOn,
    Material,
    Summary,
    Url,
    PublishedBy,
    PublishedAt,
}

#[derive(DeriveIden)]
enum BusinessTransfers {
    Table,
    Id,
    Acquirer,
    EffectiveOn,
    Changes,
    RecordedBy,
    RecordedAt,
}
