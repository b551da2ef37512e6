//! How many times a departing tenant's export was emptied and started again (an erasure while it held the erased
//! data). Its build job stores a chunk only if this is what it was when the job read the export: a chunk built from
//! reads made before an erasure can no longer land after it, even as the first chunk of the rebuilt export.

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
            vec![integer(TenantExports::Rebuilds).default(0).to_owned()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(manager, TenantExports::Table, vec![TenantExports::Rebuilds]).await
    }
}

#[derive(DeriveIden, Clone)]
enum TenantExports {
    Table,
    Rebuilds,
}
