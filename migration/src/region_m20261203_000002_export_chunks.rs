//! A departing tenant's export is built and served in chunks (a few hundred subjects each), so its size is bounded by
//! the disk, not by any instance's memory. Exports built before as one sealed document are deleted and their build job
//! queued again: they are copies of data still held (nothing is erased before the export exists), rebuilt in chunks.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantExportChunks::Table)
                    .col(uuid(TenantExportChunks::TenantId))
                    .col(uuid(TenantExportChunks::ExportId))
                    .col(integer(TenantExportChunks::Seq))
                    .col(integer(TenantExportChunks::Subjects))
                    .col(binary(TenantExportChunks::Sealed))
                    .primary_key(
                        Index::create()
                            .col(TenantExportChunks::TenantId)
                            .col(TenantExportChunks::ExportId)
                            .col(TenantExportChunks::Seq),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE jobs SET state = 'queued', attempts = 0, locked_by = NULL, locked_until = NULL, \
             last_error = NULL, finished_at = NULL \
             WHERE kind = 'offboarding.export' AND tenant_id IN (SELECT tenant_id FROM tenant_exports)",
        )
        .await?;
        db.execute_unprepared("DELETE FROM tenant_exports").await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TenantExports::Table)
                    .drop_column(TenantExports::Sealed)
                    .to_owned(),
            )
            .await?;
        for column in [
            boolean(TenantExports::Ready).default(false).to_owned(),
            uuid_null(TenantExports::Cursor),
            integer(TenantExports::Chunks).default(0).to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(TenantExports::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    /// Development only: the exports' rows stay, without their content (the chunks are dropped).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            TenantExports::Ready,
            TenantExports::Cursor,
            TenantExports::Chunks,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(TenantExports::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        let mut sealed = binary_null(TenantExports::Sealed);
        manager
            .alter_table(
                Table::alter()
                    .table(TenantExports::Table)
                    .add_column(&mut sealed)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(TenantExportChunks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum TenantExportChunks {
    Table,
    TenantId,
    ExportId,
    Seq,
    Subjects,
    Sealed,
}

#[derive(DeriveIden)]
enum TenantExports {
    Table,
    Sealed,
    Ready,
    Cursor,
    Chunks,
}
