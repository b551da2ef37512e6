//! Personal data under need-to-know: data subjects, their sealed values, access grants, the access-transparency log
//! and the tenant's notices. Every table leads with `tenant_id`; values are stored only sealed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataSubjects::Table)
                    .col(uuid(DataSubjects::TenantId))
                    .col(uuid(DataSubjects::Id))
                    .col(string_len(DataSubjects::ExternalId, 200))
                    // The subject's data key, wrapped by the tenant key; deleting it makes every value unreadable.
                    .col(binary(DataSubjects::WrappedKey))
                    .col(binary_null(DataSubjects::BirthDateSealed))
                    .col(timestamp_with_time_zone(DataSubjects::CreatedAt))
                    .col(timestamp_with_time_zone(DataSubjects::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(DataSubjects::TenantId)
                            .col(DataSubjects::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("data_subjects_external_id_unique")
                    .table(DataSubjects::Table)
                    .col(DataSubjects::TenantId)
                    .col(DataSubjects::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PersonalData::Table)
                    .col(uuid(PersonalData::TenantId))
                    .col(uuid(PersonalData::Id))
                    .col(uuid(PersonalData::SubjectId))
                    .col(string_len(PersonalData::Category, 64))
                    .col(string_len(PersonalData::Purpose, 64))
                    .col(string_len(PersonalData::Source, 200))
                    .col(timestamp_with_time_zone(PersonalData::CollectedAt))
                    .col(binary(PersonalData::SealedValue))
                    // HMAC of the normalised value, for categories looked up by value (email); never the value.
                    .col(string_len_null(PersonalData::BlindIndex, 64))
                    .col(timestamp_with_time_zone(PersonalData::CreatedAt))
                    .col(timestamp_with_time_zone(PersonalData::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PersonalData::TenantId)
                            .col(PersonalData::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("personal_data_subject", PersonalData::SubjectId),
            ("personal_data_blind_index", PersonalData::BlindIndex),
            ("personal_data_category", PersonalData::Category),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(PersonalData::Table)
                        .col(PersonalData::TenantId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(AccessGrants::Table)
                    .col(uuid(AccessGrants::TenantId))
                    .col(uuid(AccessGrants::Id))
                    .col(string_len(AccessGrants::Grantee, 255))
                    .col(text(AccessGrants::Justification))
                    .col(string_len(AccessGrants::Ticket, 100))
                    .col(integer(AccessGrants::DurationMinutes))
                    // JSON array of subject ids, or null for every subject of the tenant.
                    .col(text_null(AccessGrants::SubjectIds))
                    .col(boolean(AccessGrants::BreakGlass))
                    .col(string_len(AccessGrants::Status, 16))
                    .col(timestamp_with_time_zone(AccessGrants::RequestedAt))
                    .col(string_len_null(AccessGrants::DecidedBy, 300))
                    .col(timestamp_with_time_zone_null(AccessGrants::DecidedAt))
                    .col(text_null(AccessGrants::DecisionReason))
                    .col(timestamp_with_time_zone_null(AccessGrants::ExpiresAt))
                    .col(string_len_null(AccessGrants::RevokedBy, 300))
                    .col(timestamp_with_time_zone_null(AccessGrants::RevokedAt))
                    .primary_key(
                        Index::create()
                            .col(AccessGrants::TenantId)
                            .col(AccessGrants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("access_grants_grantee")
                    .table(AccessGrants::Table)
                    .col(AccessGrants::Grantee)
                    .col(AccessGrants::TenantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessLog::Table)
                    .col(uuid(AccessLog::TenantId))
                    .col(uuid(AccessLog::Id))
                    .col(timestamp_with_time_zone(AccessLog::OccurredAt))
                    .col(string_len(AccessLog::StaffSubject, 255))
                    .col(uuid(AccessLog::GrantId))
                    .col(text(AccessLog::Justification))
                    .col(string_len(AccessLog::Ticket, 100))
                    .col(text(AccessLog::SubjectIds))
                    .col(text(AccessLog::Categories))
                    .col(integer(AccessLog::ValuesRead))
                    .col(string_len_null(AccessLog::RequestId, 64))
                    .primary_key(Index::create().col(AccessLog::TenantId).col(AccessLog::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("access_log_time")
                    .table(AccessLog::Table)
                    .col(AccessLog::TenantId)
                    .col(AccessLog::OccurredAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notices::Table)
                    .col(uuid(Notices::TenantId))
                    .col(uuid(Notices::Id))
                    .col(string_len(Notices::Kind, 64))
                    .col(string_len(Notices::Title, 300))
                    .col(text(Notices::Body))
                    .col(timestamp_with_time_zone(Notices::CreatedAt))
                    .col(string_len_null(Notices::AcknowledgedBy, 300))
                    .col(timestamp_with_time_zone_null(Notices::AcknowledgedAt))
                    .primary_key(Index::create().col(Notices::TenantId).col(Notices::Id))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum DataSubjects {
    Table,
    TenantId,
    Id,
    ExternalId,
    WrappedKey,
    BirthDateSealed,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PersonalData {
    Table,
    TenantId,
    Id,
    SubjectId,
    Category,
    Purpose,
    Source,
    CollectedAt,
    SealedValue,
    BlindIndex,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AccessGrants {
    Table,
    TenantId,
    Id,
    Grantee,
    Justification,
    Ticket,
    DurationMinutes,
    SubjectIds,
    BreakGlass,
    Status,
    RequestedAt,
    DecidedBy,
    DecidedAt,
    DecisionReason,
    ExpiresAt,
    RevokedBy,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AccessLog {
    Table,
    TenantId,
    Id,
    OccurredAt,
    StaffSubject,
    GrantId,
    Justification,
    Ticket,
    SubjectIds,
    Categories,
    ValuesRead,
    RequestId,
}

#[derive(DeriveIden)]
enum Notices {
    Table,
    TenantId,
    Id,
    Kind,
    Title,
    Body,
    CreatedAt,
    AcknowledgedBy,
    AcknowledgedAt,
}
