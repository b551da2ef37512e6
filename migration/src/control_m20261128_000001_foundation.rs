//! The control database's first shape: tenants directory, role assignments, platform audit chain.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(pk_uuid(Tenants::Id))
                    .col(string_len(Tenants::Name, 200))
                    // Lower-cased, whitespace-collapsed name: "Acme" and " acme " are the same client.
                    .col(string_len_uniq(Tenants::NameKey, 200))
                    .col(string_len(Tenants::Region, 32))
                    .col(string_len(Tenants::Status, 16))
                    .col(text_null(Tenants::StatusReason))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RoleAssignments::Table)
                    .col(pk_uuid(RoleAssignments::Id))
                    .col(string_len(RoleAssignments::ActorKind, 16))
                    .col(string_len(RoleAssignments::Subject, 255))
                    .col(string_len(RoleAssignments::Role, 32))
                    // A tenant id, or "*" for the platform domain.
                    .col(string_len(RoleAssignments::Domain, 64))
                    .col(string_len(RoleAssignments::AssignedBy, 300))
                    .col(timestamp_with_time_zone(RoleAssignments::AssignedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("role_assignments_unique")
                    .table(RoleAssignments::Table)
                    .col(RoleAssignments::Domain)
                    .col(RoleAssignments::ActorKind)
                    .col(RoleAssignments::Subject)
                    .col(RoleAssignments::Role)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PlatformAuditEvents::Table)
                    .col(big_integer(PlatformAuditEvents::Seq).primary_key())
                    .col(uuid_uniq(PlatformAuditEvents::Id))
                    .col(timestamp_with_time_zone(PlatformAuditEvents::OccurredAt))
                    .col(string_len(PlatformAuditEvents::ActorKind, 16))
                    .col(string_len(PlatformAuditEvents::ActorSubject, 255))
                    .col(string_len(PlatformAuditEvents::Action, 64))
                    .col(string_len(PlatformAuditEvents::ObjectType, 64))
                    .col(string_len(PlatformAuditEvents::ObjectId, 255))
                    .col(text(PlatformAuditEvents::Detail))
                    .col(string_len(PlatformAuditEvents::PrevHash, 64))
                    .col(string_len(PlatformAuditEvents::Hash, 64))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    NameKey,
    Region,
    Status,
    StatusReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RoleAssignments {
    Table,
    Id,
    ActorKind,
    Subject,
    Role,
    Domain,
    AssignedBy,
    AssignedAt,
}

#[derive(DeriveIden)]
enum PlatformAuditEvents {
    Table,
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
