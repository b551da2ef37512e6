//! Audit events owed to a tenant's chain by a change committed in the control database. The change and its row here
//! commit in one transaction; the event is then appended in the tenant's region database under the row's id and the
//! row deleted. A process that dies in between leaves the row, and the next sweep appends the event (once: an event
//! with that id already in the chain means it was appended and only the row is left to delete).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditOutbox::Table)
                    .col(uuid(AuditOutbox::Id).primary_key())
                    .col(uuid(AuditOutbox::TenantId))
                    .col(text(AuditOutbox::Entry))
                    .col(timestamp_with_time_zone(AuditOutbox::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditOutbox {
    Table,
    Id,
    TenantId,
    Entry,
    CreatedAt,
}
