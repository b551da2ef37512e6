//! Breach notices with the content Art. 33(3) asks of a processor's notice to each controller:
//!
//! - on `breaches`: the likely consequences, the measures taken or proposed, and a contact point (`NULL` for breaches
//!   recorded before);
//! - on `breach_notifications`: the approximate number of the tenant's data subjects and records concerned, and when
//!   privacy officers were reminded that the tenant had not acknowledged within 24 hours;
//! - `breach_updates`: the follow-ups (`updateBreach`), each sent to the same tenants.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Breaches::Table,
            vec![
                text_null(Breaches::LikelyConsequences),
                text_null(Breaches::MeasuresTaken),
                text_null(Breaches::ContactPoint),
            ],
        )
        .await?;
        columns::add(
            manager,
            BreachNotifications::Table,
            vec![
                big_integer_null(BreachNotifications::SubjectsConcerned),
                big_integer_null(BreachNotifications::RecordsConcerned),
                timestamp_with_time_zone_null(BreachNotifications::RemindedAt),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(BreachUpdates::Table)
                    .col(uuid(BreachUpdates::Id).primary_key())
                    .col(uuid(BreachUpdates::BreachId))
                    .col(text(BreachUpdates::Update))
                    .col(string_len(BreachUpdates::RecordedBy, 300))
                    .col(timestamp_with_time_zone(BreachUpdates::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("breach_updates_by_breach")
                    .table(BreachUpdates::Table)
                    .col(BreachUpdates::BreachId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BreachUpdates::Table).to_owned())
            .await?;
        columns::drop(
            manager,
            BreachNotifications::Table,
            vec![
                BreachNotifications::SubjectsConcerned,
                BreachNotifications::RecordsConcerned,
                BreachNotifications::RemindedAt,
            ],
        )
        .await?;
        columns::drop(
            manager,
            Breaches::Table,
            vec![
                Breaches::LikelyConsequences,
                Breaches::MeasuresTaken,
                Breaches::ContactPoint,
            ],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum Breaches {
    Table,
    LikelyConsequences,
    MeasuresTaken,
    ContactPoint,
}

#[derive(DeriveIden, Clone)]
enum BreachNotifications {
    Table,
    SubjectsConcerned,
    RecordsConcerned,
    RemindedAt,
}

#[derive(DeriveIden)]
enum BreachUpdates {
    Table,
    Id,
    BreachId,
    Update,
    RecordedBy,
    CreatedAt,
}
