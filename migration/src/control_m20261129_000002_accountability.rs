//! Accountability registers: legal disclosures (demands from authorities, their review, what was disclosed, and
//! non-disclosure orders) and personal-data breaches with their per-tenant notifications.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LegalDisclosures::Table)
                    .col(pk_uuid(LegalDisclosures::Id))
                    .col(uuid(LegalDisclosures::TenantId))
                    .col(string_len(LegalDisclosures::Kind, 32))
                    .col(string_len(LegalDisclosures::Authority, 300))
                    .col(string_len(LegalDisclosures::Reference, 200))
                    .col(date(LegalDisclosures::ReceivedOn))
                    .col(text(LegalDisclosures::Scope))
                    .col(boolean(LegalDisclosures::NondisclosureOrder))
                    .col(date_null(LegalDisclosures::NondisclosureUntil))
                    .col(date_null(LegalDisclosures::NondisclosureReviewedOn))
                    .col(string_len_null(LegalDisclosures::Decision, 16))
                    .col(text_null(LegalDisclosures::DecisionNote))
                    .col(string_len_null(LegalDisclosures::Reviewer, 300))
                    .col(timestamp_with_time_zone_null(LegalDisclosures::DecidedAt))
                    .col(text_null(LegalDisclosures::DisclosedCategories))
                    .col(text_null(LegalDisclosures::DisclosedSubjectIds))
                    .col(date_null(LegalDisclosures::DisclosedOn))
                    .col(timestamp_with_time_zone_null(
                        LegalDisclosures::NoticeSentAt,
                    ))
                    .col(string_len(LegalDisclosures::RecordedBy, 300))
                    .col(timestamp_with_time_zone(LegalDisclosures::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Breaches::Table)
                    .col(pk_uuid(Breaches::Id))
                    .col(timestamp_with_time_zone(Breaches::DetectedAt))
                    .col(text(Breaches::Description))
                    .col(text(Breaches::Systems))
                    .col(text(Breaches::Categories))
                    .col(string_len_null(Breaches::Region, 32))
                    .col(text(Breaches::SubProcessorIds))
                    .col(string_len(Breaches::RecordedBy, 300))
                    .col(timestamp_with_time_zone(Breaches::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BreachNotifications::Table)
                    .col(pk_uuid(BreachNotifications::Id))
                    .col(uuid(BreachNotifications::BreachId))
                    .col(uuid(BreachNotifications::TenantId))
                    .col(timestamp_with_time_zone(BreachNotifications::NotifiedAt))
                    .col(timestamp_with_time_zone_null(
                        BreachNotifications::AcknowledgedAt,
                    ))
                    .col(string_len_null(BreachNotifications::AcknowledgedBy, 300))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("breach_notifications_unique")
                    .table(BreachNotifications::Table)
                    .col(BreachNotifications::BreachId)
                    .col(BreachNotifications::TenantId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum LegalDisclosures {
    Table,
    Id,
    TenantId,
    Kind,
    Authority,
    Reference,
    ReceivedOn,
    Scope,
    NondisclosureOrder,
    NondisclosureUntil,
    NondisclosureReviewedOn,
    Decision,
    DecisionNote,
    Reviewer,
    DecidedAt,
    DisclosedCategories,
    DisclosedSubjectIds,
    DisclosedOn,
    NoticeSentAt,
    RecordedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Breaches {
    Table,
    Id,
    DetectedAt,
    Description,
    Systems,
    Categories,
    Region,
    SubProcessorIds,
    RecordedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BreachNotifications {
    Table,
    Id,
    BreachId,
    TenantId,
    NotifiedAt,
    AcknowledgedAt,
    AcknowledgedBy,
}
