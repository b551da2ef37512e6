//! Data-subject requests with their deadlines, provable erasure (tombstones and propagations to sub-processors),
//! time-limited exports, guardian consents for minors, the restriction and under-13 marks on subjects, and the
//! region's durable job queue (jobs live beside the data they change, so a job's effect and its completion commit
//! together).

use sea_orm_migration::{prelude::*, schema::*};

use crate::jobs_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one change per ALTER TABLE.
        for column in [
            timestamp_with_time_zone_null(DataSubjects::RestrictedAt),
            uuid_null(DataSubjects::RestrictedByRequest),
            boolean(DataSubjects::KnownUnder13)
                .default(false)
                .to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(DataSubjects::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(DsrRequests::Table)
                    .col(uuid(DsrRequests::TenantId))
                    .col(uuid(DsrRequests::Id))
                    .col(uuid(DsrRequests::SubjectId))
                    .col(string_len(DsrRequests::Kind, 16))
                    .col(string_len(DsrRequests::Origin, 24))
                    .col(string_len(DsrRequests::State, 16))
                    .col(string_len_null(DsrRequests::IdempotencyKey, 100))
                    .col(string_len(DsrRequests::SubmittedBy, 300))
                    .col(text_null(DsrRequests::Note))
                    // Rectification: the requested changes (and, once applied, the previous values), sealed with the
                    // subject's key, so they vanish with it.
                    .col(binary_null(DsrRequests::PayloadSealed))
                    .col(timestamp_with_time_zone(DsrRequests::ReceivedAt))
                    .col(string_len(DsrRequests::ClockBasis, 12))
                    .col(date(DsrRequests::DueOn))
                    .col(timestamp_with_time_zone_null(DsrRequests::PausedAt))
                    .col(text_null(DsrRequests::PauseReason))
                    .col(integer(DsrRequests::PausedDays).default(0))
                    .col(timestamp_with_time_zone_null(DsrRequests::ExtendedAt))
                    .col(text_null(DsrRequests::ExtensionReason))
                    .col(text_null(DsrRequests::RejectionReason))
                    .col(timestamp_with_time_zone_null(DsrRequests::CompletedAt))
                    .col(string_len_null(DsrRequests::HandledBy, 300))
                    .col(date_null(DsrRequests::RemindedForDueOn))
                    .col(boolean(DsrRequests::OverdueNotified).default(false))
                    .col(integer(DsrRequests::Version).default(1))
                    .col(timestamp_with_time_zone(DsrRequests::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(DsrRequests::TenantId)
                            .col(DsrRequests::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("dsr_requests_idempotency")
                    .table(DsrRequests::Table)
                    .col(DsrRequests::TenantId)
                    .col(DsrRequests::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("dsr_requests_subject", DsrRequests::SubjectId),
            ("dsr_requests_due", DsrRequests::DueOn),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(DsrRequests::Table)
                        .col(DsrRequests::TenantId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ErasureTombstones::Table)
                    .col(uuid(ErasureTombstones::TenantId))
                    .col(uuid(ErasureTombstones::SubjectId))
                    .col(uuid(ErasureTombstones::RequestId))
                    .col(timestamp_with_time_zone(ErasureTombstones::ErasedAt))
                    // JSON object: category -> number of values erased. No values, no external id.
                    .col(text(ErasureTombstones::Counts))
                    .col(integer(ErasureTombstones::ValuesErased))
                    .col(string_len(ErasureTombstones::Origin, 24))
                    .primary_key(
                        Index::create()
                            .col(ErasureTombstones::TenantId)
                            .col(ErasureTombstones::SubjectId),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ErasurePropagations::Table)
                    .col(uuid(ErasurePropagations::TenantId))
                    .col(uuid(ErasurePropagations::Id))
                    .col(uuid(ErasurePropagations::RequestId))
                    .col(uuid(ErasurePropagations::SubjectId))
                    .col(uuid(ErasurePropagations::SubProcessorId))
                    .col(string_len(ErasurePropagations::SubProcessorName, 200))
                    .col(text(ErasurePropagations::Categories))
                    .col(string_len(ErasurePropagations::Method, 16))
                    .col(string_len_null(ErasurePropagations::Endpoint, 500))
                    .col(string_len(ErasurePropagations::State, 16))
                    .col(integer(ErasurePropagations::Attempts).default(0))
                    .col(text_null(ErasurePropagations::LastError))
                    .col(timestamp_with_time_zone(ErasurePropagations::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        ErasurePropagations::AcknowledgedAt,
                    ))
                    .col(string_len_null(ErasurePropagations::AckReference, 200))
                    .col(string_len_null(ErasurePropagations::ConfirmedBy, 300))
                    .col(string_len_null(ErasurePropagations::ConfirmedName, 200))
                    .col(text_null(ErasurePropagations::ConfirmationNote))
                    .primary_key(
                        Index::create()
                            .col(ErasurePropagations::TenantId)
                            .col(ErasurePropagations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("erasure_propagations_request")
                    .table(ErasurePropagations::Table)
                    .col(ErasurePropagations::TenantId)
                    .col(ErasurePropagations::RequestId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SubjectExports::Table)
                    .col(uuid(SubjectExports::TenantId))
                    .col(uuid(SubjectExports::Id))
                    .col(uuid(SubjectExports::RequestId))
                    .col(uuid(SubjectExports::SubjectId))
                    // The export document, sealed with the subject's key.
                    .col(binary(SubjectExports::Sealed))
                    .col(integer(SubjectExports::Downloads).default(0))
                    .col(timestamp_with_time_zone(SubjectExports::CreatedAt))
                    .col(timestamp_with_time_zone(SubjectExports::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(SubjectExports::TenantId)
                            .col(SubjectExports::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GuardianConsents::Table)
                    .col(uuid(GuardianConsents::TenantId))
                    .col(uuid(GuardianConsents::Id))
                    .col(uuid(GuardianConsents::SubjectId))
                    // Who consented is personal data too: sealed with the subject's key.
                    .col(binary(GuardianConsents::GuardianSealed))
                    .col(string_len(GuardianConsents::Method, 32))
                    .col(timestamp_with_time_zone(GuardianConsents::GivenAt))
                    .col(string_len(GuardianConsents::RecordedBy, 300))
                    .col(timestamp_with_time_zone(GuardianConsents::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(GuardianConsents::TenantId)
                            .col(GuardianConsents::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("guardian_consents_subject")
                    .table(GuardianConsents::Table)
                    .col(GuardianConsents::TenantId)
                    .col(GuardianConsents::SubjectId)
                    .to_owned(),
            )
            .await?;

        jobs_table::create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        jobs_table::drop(manager).await?;
        for table in [
            GuardianConsents::Table.into_iden(),
            SubjectExports::Table.into_iden(),
            ErasurePropagations::Table.into_iden(),
            ErasureTombstones::Table.into_iden(),
            DsrRequests::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for column in [
            DataSubjects::KnownUnder13,
            DataSubjects::RestrictedByRequest,
            DataSubjects::RestrictedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(DataSubjects::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum DataSubjects {
    Table,
    RestrictedAt,
    RestrictedByRequest,
    #[sea_orm(iden = "known_under_13")]
    KnownUnder13,
}

#[derive(DeriveIden)]
enum DsrRequests {
    Table,
    TenantId,
    Id,
    SubjectId,
    Kind,
    Origin,
    State,
    IdempotencyKey,
    SubmittedBy,
    Note,
    PayloadSealed,
    ReceivedAt,
    ClockBasis,
    DueOn,
    PausedAt,
    PauseReason,
    PausedDays,
    ExtendedAt,
    ExtensionReason,
    RejectionReason,
    CompletedAt,
    HandledBy,
    RemindedForDueOn,
    OverdueNotified,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ErasureTombstones {
    Table,
    TenantId,
    SubjectId,
    RequestId,
    ErasedAt,
    Counts,
    ValuesErased,
    Origin,
}

#[derive(DeriveIden)]
enum ErasurePropagations {
    Table,
    TenantId,
    Id,
    RequestId,
    SubjectId,
    SubProcessorId,
    SubProcessorName,
    Categories,
    Method,
    Endpoint,
    State,
    Attempts,
    LastError,
    CreatedAt,
    AcknowledgedAt,
    AckReference,
    ConfirmedBy,
    ConfirmedName,
    ConfirmationNote,
}

#[derive(DeriveIden)]
enum SubjectExports {
    Table,
    TenantId,
    Id,
    RequestId,
    SubjectId,
    Sealed,
    Downloads,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum GuardianConsents {
    Table,
    TenantId,
    Id,
    SubjectId,
    GuardianSealed,
    Method,
    GivenAt,
    RecordedBy,
    CreatedAt,
}
