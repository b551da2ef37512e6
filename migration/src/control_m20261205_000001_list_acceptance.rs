//! Every tenant is bound to the sub-processor list, including tenants created after an announcement (GDPR Art.
//! 28(2)): a new tenant accepts the list in force when it is created, recorded on the tenant as the registry's
//! version then (the number of registry revisions so far, which only grows) and the time; each entry it accepted
//! gets a change notice of kind `onboarding`, active at once. Tenants created before this record have none (`NULL`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Tenants::Table,
            vec![
                big_integer_null(Tenants::SubprocessorsAcceptedVersion),
                timestamp_with_time_zone_null(Tenants::SubprocessorsAcceptedAt),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            Tenants::Table,
            vec![
                Tenants::SubprocessorsAcceptedVersion,
                Tenants::SubprocessorsAcceptedAt,
            ],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum Tenants {
    Table,
    SubprocessorsAcceptedVersion,
    SubprocessorsAcceptedAt,
}
