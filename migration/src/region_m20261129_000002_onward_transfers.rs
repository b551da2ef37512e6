//! Onward transfers: a tenant's personal data sent to a sub-processor, with the mechanism that made it lawful. The
//! subjects concerned are kept (by id) so that erasure can propagate to every recipient.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OnwardTransfers::Table)
                    .col(uuid(OnwardTransfers::TenantId))
                    .col(uuid(OnwardTransfers::Id))
                    .col(uuid(OnwardTransfers::SubProcessorId))
                    .col(text(OnwardTransfers::Categories))
                    .col(string_len(OnwardTransfers::Purpose, 64))
                    .col(integer(OnwardTransfers::SubjectCount))
                    .col(string_len_null(OnwardTransfers::Mechanism, 64))
                    .col(text(OnwardTransfers::Countries))
                    .col(date(OnwardTransfers::TransferredOn))
                    .col(string_len(OnwardTransfers::RecordedBy, 300))
                    .col(timestamp_with_time_zone(OnwardTransfers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(OnwardTransfers::TenantId)
                            .col(OnwardTransfers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("onward_transfers_by_subprocessor")
                    .table(OnwardTransfers::Table)
                    .col(OnwardTransfers::SubProcessorId)
                    .col(OnwardTransfers::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OnwardTransferSubjects::Table)
                    .col(uuid(OnwardTransferSubjects::TenantId))
                    .col(uuid(OnwardTransferSubjects::TransferId))
                    .col(uuid(OnwardTransferSubjects::SubjectId))
                    .primary_key(
                        Index::create()
                            .col(OnwardTransferSubjects::TenantId)
                            .col(OnwardTransferSubjects::TransferId)
                            .col(OnwardTransferSubjects::SubjectId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("onward_transfer_subjects_by_subject")
                    .table(OnwardTransferSubjects::Table)
                    .col(OnwardTransferSubjects::TenantId)
                    .col(OnwardTransferSubjects::SubjectId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum OnwardTransfers {
    Table,
    TenantId,
    Id,
    SubProcessorId,
    Categories,
    Purpose,
    SubjectCount,
    Mechanism,
    Countries,
    TransferredOn,
    RecordedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OnwardTransferSubjects {
    Table,
    TenantId,
    TransferId,
    SubjectId,
}
