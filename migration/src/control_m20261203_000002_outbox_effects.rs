//! What else a control-database change owes its tenant's region besides the audit event: a notice to the tenant's
//! admins (JSON). It is filed in the same region transaction that appends the event, so the two arrive together, once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditOutbox::Table)
                    .add_column(text_null(AuditOutbox::Effect))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditOutbox::Table)
                    .drop_column(AuditOutbox::Effect)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AuditOutbox {
    Table,
    Effect,
}
