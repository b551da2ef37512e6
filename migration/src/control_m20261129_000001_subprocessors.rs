//! The sub-processor registry with its revisions, transfer mechanisms (baseline from the shipped data file plus
//! invalidations recorded by legal), change notices per tenant and objections; and each tenant's notice period.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(integer(Tenants::NoticePeriodDays).default(30))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SubProcessors::Table)
                    .col(pk_uuid(SubProcessors::Id))
                    .col(string_len(SubProcessors::Name, 200))
                    .col(string_len_uniq(SubProcessors::NameKey, 200))
                    .col(string_len(SubProcessors::LegalEntity, 300))
                    .col(string_len(SubProcessors::Website, 500))
                    .col(text(SubProcessors::Purpose))
                    // JSON arrays: ISO 3166-1 alpha-2 countries, taxonomy categories, mechanism keys.
                    .col(text(SubProcessors::Countries))
                    .col(text(SubProcessors::Categories))
                    .col(text(SubProcessors::Mechanisms))
                    .col(boolean(SubProcessors::DpfCertified))
                    .col(date_null(SubProcessors::DpaSignedOn))
                    .col(string_len(SubProcessors::Status, 16))
                    .col(uuid_null(SubProcessors::Replaces))
                    .col(date_null(SubProcessors::EffectiveOn))
                    .col(timestamp_with_time_zone(SubProcessors::CreatedAt))
                    .col(timestamp_with_time_zone(SubProcessors::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SubProcessorRevisions::Table)
                    .col(pk_uuid(SubProcessorRevisions::Id))
                    .col(uuid(SubProcessorRevisions::SubProcessorId))
                    .col(string_len(SubProcessorRevisions::Actor, 300))
                    .col(timestamp_with_time_zone(SubProcessorRevisions::At))
                    .col(string_len(SubProcessorRevisions::Change, 32))
                    .col(text(SubProcessorRevisions::Reason))
                    .col(text_null(SubProcessorRevisions::Before))
                    .col(text(SubProcessorRevisions::After))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("subprocessor_revisions_by_subprocessor")
                    .table(SubProcessorRevisions::Table)
                    .col(SubProcessorRevisions::SubProcessorId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MechanismInvalidations::Table)
                    .col(pk_uuid(MechanismInvalidations::Id))
                    .col(string_len_uniq(MechanismInvalidations::Mechanism, 64))
                    .col(date(MechanismInvalidations::InvalidFrom))
                    .col(text(MechanismInvalidations::Reason))
                    .col(string_len(MechanismInvalidations::RecordedBy, 300))
                    .col(timestamp_with_time_zone(MechanismInvalidations::RecordedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChangeNotices::Table)
                    .col(pk_uuid(ChangeNotices::Id))
                    .col(uuid(ChangeNotices::SubProcessorId))
                    .col(uuid(ChangeNotices::TenantId))
                    .col(string_len(ChangeNotices::Kind, 16))
                    .col(date(ChangeNotices::EffectiveOn))
                    // pending → active, or blocked (an objection stands), or excluded (not used for this tenant).
                    .col(string_len(ChangeNotices::Status, 16))
                    .col(timestamp_with_time_zone(ChangeNotices::CreatedAt))
                    .col(timestamp_with_time_zone_null(ChangeNotices::ActivatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("change_notices_unique")
                    .table(ChangeNotices::Table)
                    .col(ChangeNotices::TenantId)
                    .col(ChangeNotices::SubProcessorId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Objections::Table)
                    .col(pk_uuid(Objections::Id))
                    .col(uuid(Objections::NoticeId))
                    .col(uuid(Objections::TenantId))
                    .col(uuid(Objections::SubProcessorId))
                    .col(text(Objections::Reason))
                    .col(string_len(Objections::RaisedBy, 300))
                    .col(timestamp_with_time_zone(Objections::RaisedAt))
                    .col(string_len_null(Objections::Resolution, 32))
                    .col(text_null(Objections::ResolutionNote))
                    .col(string_len_null(Objections::ResolvedBy, 300))
                    .col(timestamp_with_time_zone_null(Objections::ResolvedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("objections_one_per_notice")
                    .table(Objections::Table)
                    .col(Objections::NoticeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    NoticePeriodDays,
}

#[derive(DeriveIden)]
enum SubProcessors {
    #[sea_orm(iden = "subprocessors")]
    Table,
    Id,
    Name,
    NameKey,
    LegalEntity,
    Website,
    Purpose,
    Countries,
    Categories,
    Mechanisms,
    DpfCertified,
    DpaSignedOn,
    Status,
    Replaces,
    EffectiveOn,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SubProcessorRevisions {
    #[sea_orm(iden = "subprocessor_revisions")]
    Table,
    Id,
    SubProcessorId,
    Actor,
    At,
    Change,
    Reason,
    Before,
    After,
}

#[derive(DeriveIden)]
enum MechanismInvalidations {
    Table,
    Id,
    Mechanism,
    InvalidFrom,
    Reason,
    RecordedBy,
    RecordedAt,
}

#[derive(DeriveIden)]
enum ChangeNotices {
    Table,
    Id,
    SubProcessorId,
    TenantId,
    Kind,
    EffectiveOn,
    Status,
    CreatedAt,
    ActivatedAt,
}

#[derive(DeriveIden)]
enum Objections {
    Table,
    Id,
    NoticeId,
    TenantId,
    SubProcessorId,
    Reason,
    RaisedBy,
    RaisedAt,
    Resolution,
    ResolutionNote,
    ResolvedBy,
    ResolvedAt,
}
