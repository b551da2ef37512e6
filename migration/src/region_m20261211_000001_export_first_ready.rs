//! When a departing tenant's export was first ready to download. An export emptied and built again since (an erasure,
//! a rectification, a restriction started or lifted) no longer holds the tenant's deletion once the download window
//! of a complete copy has closed: the tenant could otherwise keep it rebuilding, and never deleted.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            TenantExports::Table,
            vec![timestamp_with_time_zone_null(TenantExports::FirstReadyAt).to_owned()],
        )
        .await?;
        // An export ready now was first ready at the latest when its window opened; the creation time is the earliest
        // bound known, and only whether it is set is read.
        manager
            .get_connection()
            .execute_unprepared("UPDATE tenant_exports SET first_ready_at = created_at WHERE ready")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            TenantExports::Table,
            vec![TenantExports::FirstReadyAt],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum TenantExports {
    Table,
    FirstReadyAt,
}
