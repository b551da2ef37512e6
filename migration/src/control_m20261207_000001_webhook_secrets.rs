//! Standard Webhooks secrets for erasure endpoints: random per endpoint, stored wrapped (never derived from the master
//! key), with the previous secret kept for an overlap window after a rotation. An endpoint set before keeps verifying
//! with the secret it was given (derived) until legal rotates it.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Subprocessors::Table,
            vec![
                binary_null(Subprocessors::WebhookSecretSealed),
                binary_null(Subprocessors::WebhookPreviousSecretSealed),
                timestamp_with_time_zone_null(Subprocessors::WebhookPreviousUntil),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            Subprocessors::Table,
            vec![
                Subprocessors::WebhookSecretSealed,
                Subprocessors::WebhookPreviousSecretSealed,
                Subprocessors::WebhookPreviousUntil,
            ],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum Subprocessors {
    Table,
    WebhookSecretSealed,
    WebhookPreviousSecretSealed,
    WebhookPreviousUntil,
}
