//! Standard Webhooks secrets for tenants' notice webhooks: random per endpoint, stored wrapped (never derived from the
//! master key), with the previous secret kept for an overlap window after a rotation. A webhook set before keeps
//! verifying with the secret it was given (derived) until its admin rotates it.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            TenantWebhooks::Table,
            vec![
                binary_null(TenantWebhooks::SecretSealed),
                binary_null(TenantWebhooks::PreviousSecretSealed),
                timestamp_with_time_zone_null(TenantWebhooks::PreviousUntil),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            TenantWebhooks::Table,
            vec![
                TenantWebhooks::SecretSealed,
                TenantWebhooks::PreviousSecretSealed,
                TenantWebhooks::PreviousUntil,
            ],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum TenantWebhooks {
    Table,
    SecretSealed,
    PreviousSecretSealed,
    PreviousUntil,
}
