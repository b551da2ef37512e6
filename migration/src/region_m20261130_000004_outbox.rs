//! Notices become deliverable: a channel class (administrative or marketing) and an audience of client roles on each
//! notice, a delivery row per recipient and channel (email, webhook), each client user's communication preferences,
//! and each tenant's notice webhook.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            string_len(Notices::ChannelClass, 16)
                .default("administrative")
                .to_owned(),
            string_len(Notices::Audience, 100)
                .default("client_admin")
                .to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Notices::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(NoticeDeliveries::Table)
                    .col(uuid(NoticeDeliveries::TenantId))
                    .col(uuid(NoticeDeliveries::Id))
                    .col(uuid(NoticeDeliveries::NoticeId))
                    .col(string_len(NoticeDeliveries::Channel, 16))
                    .col(string_len(NoticeDeliveries::Recipient, 500))
                    .col(uuid_null(NoticeDeliveries::UserId))
                    .col(string_len(NoticeDeliveries::State, 16))
                    .col(integer(NoticeDeliveries::Attempts).default(0))
                    .col(text_null(NoticeDeliveries::LastError))
                    .col(timestamp_with_time_zone_null(NoticeDeliveries::SentAt))
                    .col(timestamp_with_time_zone(NoticeDeliveries::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(NoticeDeliveries::TenantId)
                            .col(NoticeDeliveries::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("notice_deliveries_unique")
                    .table(NoticeDeliveries::Table)
                    .col(NoticeDeliveries::TenantId)
                    .col(NoticeDeliveries::NoticeId)
                    .col(NoticeDeliveries::Channel)
                    .col(NoticeDeliveries::Recipient)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CommunicationPreferences::Table)
                    .col(uuid(CommunicationPreferences::TenantId))
                    .col(uuid(CommunicationPreferences::UserId))
                    .col(boolean(CommunicationPreferences::MarketingOptOut))
                    .col(string_len(CommunicationPreferences::UpdatedVia, 32))
                    .col(timestamp_with_time_zone(
                        CommunicationPreferences::UpdatedAt,
                    ))
                    .primary_key(
                        Index::create()
                            .col(CommunicationPreferences::TenantId)
                            .col(CommunicationPreferences::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantWebhooks::Table)
                    .col(uuid(TenantWebhooks::TenantId).primary_key())
                    .col(string_len(TenantWebhooks::Url, 500))
                    .col(string_len(TenantWebhooks::SetBy, 300))
                    .col(timestamp_with_time_zone(TenantWebhooks::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TenantWebhooks::Table.into_iden(),
            CommunicationPreferences::Table.into_iden(),
            NoticeDeliveries::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [Notices::Audience, Notices::ChannelClass] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notices::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Notices {
    Table,
    ChannelClass,
    Audience,
}

#[derive(DeriveIden)]
enum NoticeDeliveries {
    Table,
    TenantId,
    Id,
    NoticeId,
    Channel,
    Recipient,
    UserId,
    State,
    Attempts,
    LastError,
    SentAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CommunicationPreferences {
    Table,
    TenantId,
    UserId,
    MarketingOptOut,
    UpdatedVia,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantWebhooks {
    Table,
    TenantId,
    Url,
    SetBy,
    UpdatedAt,
}
