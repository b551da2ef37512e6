//! Retention: a tenant's rules (category and/or purpose → period), legal holds that suspend deletion, and the record
//! of each retention run (counts only, no values).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RetentionRules::Table)
                    .col(uuid(RetentionRules::TenantId))
                    .col(uuid(RetentionRules::Id))
                    // Empty string: any category / any purpose (NULLs would not make the rule unique).
                    .col(string_len(RetentionRules::Category, 64))
                    .col(string_len(RetentionRules::Purpose, 64))
                    .col(integer(RetentionRules::PeriodDays))
                    .col(string_len(RetentionRules::SetBy, 300))
                    .col(timestamp_with_time_zone(RetentionRules::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(RetentionRules::TenantId)
                            .col(RetentionRules::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("retention_rules_unique")
                    .table(RetentionRules::Table)
                    .col(RetentionRules::TenantId)
                    .col(RetentionRules::Category)
                    .col(RetentionRules::Purpose)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LegalHolds::Table)
                    .col(uuid(LegalHolds::TenantId))
                    .col(uuid(LegalHolds::Id))
                    // JSON array of subject ids; null: the whole tenant.
                    .col(text_null(LegalHolds::SubjectIds))
                    .col(text(LegalHolds::Reason))
                    .col(string_len(LegalHolds::PlacedBy, 300))
                    .col(timestamp_with_time_zone(LegalHolds::PlacedAt))
                    .col(string_len_null(LegalHolds::LiftedBy, 300))
                    .col(timestamp_with_time_zone_null(LegalHolds::LiftedAt))
                    .col(text_null(LegalHolds::LiftReason))
                    .primary_key(
                        Index::create()
                            .col(LegalHolds::TenantId)
                            .col(LegalHolds::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RetentionRuns::Table)
                    .col(uuid(RetentionRuns::TenantId))
                    .col(uuid(RetentionRuns::Id))
                    .col(timestamp_with_time_zone(RetentionRuns::RanAt))
                    .col(integer(RetentionRuns::ValuesDeleted))
                    .col(integer(RetentionRuns::Subjects))
                    // JSON object: category -> values deleted.
                    .col(text(RetentionRuns::Counts))
                    .col(integer(RetentionRuns::HeldSkipped))
                    .primary_key(
                        Index::create()
                            .col(RetentionRuns::TenantId)
                            .col(RetentionRuns::Id),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RetentionRuns::Table.into_iden(),
            LegalHolds::Table.into_iden(),
            RetentionRules::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum RetentionRules {
    Table,
    TenantId,
    Id,
    Category,
    Purpose,
    PeriodDays,
    SetBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LegalHolds {
    Table,
    TenantId,
    Id,
    SubjectIds,
    Reason,
    PlacedBy,
    PlacedAt,
    LiftedBy,
    LiftedAt,
    LiftReason,
}

#[derive(DeriveIden)]
enum RetentionRuns {
    Table,
    TenantId,
    Id,
    RanAt,
    ValuesDeleted,
    Subjects,
    Counts,
    HeldSkipped,
}
