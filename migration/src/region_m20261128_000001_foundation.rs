//! A region database's first shape: the tenants' users and their audit chains. Every table leads with `tenant_id`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantUsers::Table)
                    .col(uuid(TenantUsers::TenantId))
                    .col(uuid(TenantUsers::Id))
                    .col(string_len(TenantUsers::Subject, 255))
                    .col(string_len(TenantUsers::Email, 320))
                    .col(string_len(TenantUsers::EmailKey, 320))
                    .col(string_len_null(TenantUsers::DisplayName, 200))
                    .col(string_len(TenantUsers::InvitedBy, 300))
                    .col(timestamp_with_time_zone(TenantUsers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(TenantUsers::TenantId)
                            .col(TenantUsers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tenant_users_subject_unique")
                    .table(TenantUsers::Table)
                    .col(TenantUsers::TenantId)
                    .col(TenantUsers::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tenant_users_email_unique")
                    .table(TenantUsers::Table)
                    .col(TenantUsers::TenantId)
                    .col(TenantUsers::EmailKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::TenantId))
                    .col(big_integer(AuditEvents::Seq))
                    .col(uuid(AuditEvents::Id))
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(string_len(AuditEvents::ActorKind, 16))
                    .col(string_len(AuditEvents::ActorSubject, 255))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_len(AuditEvents::ObjectType, 64))
                    .col(string_len(AuditEvents::ObjectId, 255))
                    .col(text(AuditEvents::Detail))
                    .col(string_len(AuditEvents::PrevHash, 64))
                    .col(string_len(AuditEvents::Hash, 64))
                    .primary_key(
                        Index::create()
                            .col(AuditEvents::TenantId)
                            .col(AuditEvents::Seq),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum TenantUsers {
    Table,
    TenantId,
    Id,
    Subject,
    Email,
    EmailKey,
    DisplayName,
    InvitedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    TenantId,
    Seq,
    Id,
    OccurredAt,
    ActorKind,
    ActorSubject,
    Action,
    ObjectType,
    ObjectId,
    Detail,
    PrevHash,
    Hash,
}
